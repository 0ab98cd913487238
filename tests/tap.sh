# tap.sh — sourced by the shell tests: TAP output ("ok N - name", "not ok N -
# name", then the plan "1..N") and a scratch folder.
#
#   . "$HERE/tap.sh"     sets TMP (removed on exit), count=0, failures=0
#   tap_ok NAME          counts and prints a passed check
#   fail MESSAGE         prints the current check (count) as failed, with the
#                        first lines of $TMP/stderr and $TMP/stdout if present
#   tap_check NAME CMD…  counts one check that passes when CMD succeeds
#   same NAME A B        counts one check: files A and B have identical bytes
#   refusal_problem STATUS PATTERN
#                        prints why a run did not refuse as the ddim command
#                        must (status 1, one stderr line "ddim: …" matching
#                        PATTERN, grep -E); prints nothing when it did
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

same() {
    count=$((count + 1))
    if cmp -s "$2" "$3"; then tap_ok "$1"; else fail "$1: $2 and $3 differ"; fi
}

refusal_problem() {
    lines=$(wc -l <"$TMP/stderr")
    if [ "$1" -ne 1 ]; then
        echo "exit status $1, expected 1"
    elif [ "$lines" -ne 1 ]; then
        echo "$lines lines on stderr, expected 1"
    elif ! grep -Eq "^ddim: .*($2)" "$TMP/stderr"; then
        echo "message does not match '$2'"
    fi
}

tap_done() {
    echo "1..$count"
    [ "$failures" -eq 0 ]
}
