# tap.sh — sourced by the shell tests: TAP output ("ok N - name", "not ok N -
# name", then the plan "1..N") and a scratch folder.
#
#   . "$HERE/tap.sh"     sets TMP (removed on exit), count=0, failures=0
#   tap_ok NAME          counts and prints a passed check
#   fail MESSAGE         prints the current check (count) as failed, with the
#                        first lines of $TMP/stderr and $TMP/stdout if present
#   tap_check NAME CMD…  counts one check that passes when CMD succeeds
#   tap_done             prints the plan; the script's status (use last)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
count=0
failures=0

tap_ok() {
    echo "ok $count - $1"
}

fail() {
    echo "not ok $count - $1"
    [ -s "$TMP/stderr" ] && head -20 "$TMP/stderr" | sed 's/^/#   stderr: /'
    [ -s "$TMP/stdout" ] && head -20 "$TMP/stdout" | sed 's/^/#   stdout: /'
    failures=$((failures + 1))
}

tap_check() {
    name=$1
    shift
    count=$((count + 1))
    if "$@"; then tap_ok "$name"; else fail "$name"; fi
}

tap_done() {
    echo "1..$count"
    [ "$failures" -eq 0 ]
}
