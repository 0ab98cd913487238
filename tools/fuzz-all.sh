#!/bin/bash
# fuzz-all.sh SECONDS [PARALLEL] — every libFuzzer target (fuzz/*.c) for
# SECONDS seconds each, PARALLEL at a time (default 2: CI has two cores), via
# tools/fuzz.sh.  Logs go to $FUZZ_BUILD_DIR (default build-fuzz/)/TARGET.log;
# one line per target is printed.  Exit status 1 when any target reported a
# crash, leak, timeout (-timeout=10 s per input), out-of-memory (2 GB) or
# UBSan error; the input is then in build-fuzz/TARGET-artifacts/.
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:?usage: tools/fuzz-all.sh SECONDS [PARALLEL]}
PARALLEL=${2:-2}
OUT=${FUZZ_BUILD_DIR:-$PWD/build-fuzz}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
export FUZZ_BUILD_DIR=$OUT
mkdir -p "$OUT"
mapfile -t targets < <(cd fuzz && ls -- *.c | sed 's/\.c$//')

# Build the shared core objects once, before the parallel runs.
if ! tools/fuzz.sh "${targets[0]}" 1 -runs=0 >"$OUT/build.log" 2>&1; then
  tail -30 "$OUT/build.log"
  echo "fuzz: the targets do not build (see $OUT/build.log)"
  exit 1
fi

failed=0
report() { # TARGET STATUS
  if [ "$2" -eq 0 ]; then
    echo "fuzz $1: ok, $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$OUT/$1.log")"
  else
    echo "fuzz $1: FAILED (status $2; log $OUT/$1.log)"
    grep -E 'ERROR|SUMMARY|Test unit written' "$OUT/$1.log" | head -20
    failed=1
  fi
}
declare -A running=()
for target in "${targets[@]}"; do
  while [ "${#running[@]}" -ge "$PARALLEL" ]; do
    wait -n -p done_pid
    status=$?
    report "${running[$done_pid]}" "$status"
    unset "running[$done_pid]"
  done
  tools/fuzz.sh "$target" "$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 >"$OUT/$target.log" 2>&1 &
  running[$!]=$target
done
for pid in "${!running[@]}"; do
  wait "$pid"
  report "${running[$pid]}" $?
done
exit $failed
