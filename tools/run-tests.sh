#!/bin/bash
# The project's test command: install what is missing, build with warnings as
# errors, and run every test (unit tests per module, whole-pipeline tests
# against the PyTorch reference fixtures, CLI tests); then the same suite
# again in an AddressSanitizer + UndefinedBehaviorSanitizer build.
#   BUILD=dir       build folder (default build)
#   SANITIZE=0      skip the sanitizer pass
#   DDIM_SKIP_GIMP=1  skip the GIMP 3 plug-in tests (tools/gimp-tests.sh: a
#                   Debian 13 root with GIMP 3, built once, then reused)
#   FUZZ_SECONDS=N  run every libFuzzer target (fuzz/*.c) for N seconds, two
#                   at a time (default 60 when CI=true, else 0: skipped)
#   extra arguments go to `meson test`
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
BUILD=${BUILD:-build}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Dwerror=true
fi
meson compile -C "$BUILD"
meson test -C "$BUILD" --print-errorlogs "$@"

if [ "${SANITIZE:-1}" != 0 ]; then
  SAN_BUILD="$BUILD-asan"
  if [ ! -f "$SAN_BUILD/build.ninja" ]; then
    # OpenMP's runtime keeps its thread pool alive at exit; LeakSanitizer
    # reports are about our code only with the pool out of the picture.
    meson setup "$SAN_BUILD" -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
      -Dbuildtype=debugoptimized
  fi
  meson compile -C "$SAN_BUILD"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C "$SAN_BUILD" --print-errorlogs --timeout-multiplier 4 "$@"
fi

# Every libFuzzer target from its seed corpus (tools/fuzz.sh), two at a time
# on the two cores; a crash, leak, timeout or UB report fails the run.
FUZZ_SECONDS=${FUZZ_SECONDS:-$([ "${CI:-}" = true ] && echo 60 || echo 0)}
if [ "$FUZZ_SECONDS" -gt 0 ]; then
  fuzz_dir=$BUILD-fuzz
  mkdir -p "$fuzz_dir"
  targets=$(cd fuzz && ls -- *.c | sed 's/\.c$//')
  # Build the shared core objects once, before the parallel runs.
  first=$(echo "$targets" | head -1)
  FUZZ_BUILD_DIR=$PWD/$fuzz_dir tools/fuzz.sh "$first" 0 -runs=0 >"$fuzz_dir/build.log" 2>&1 ||
    { tail -30 "$fuzz_dir/build.log"; echo "fuzz: the targets do not build"; exit 1; }
  fuzz_failed=0
  run_target() {
    FUZZ_BUILD_DIR=$PWD/$fuzz_dir tools/fuzz.sh "$1" "$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
      >"$fuzz_dir/$1.log" 2>&1
  }
  set -- $targets
  while [ $# -gt 0 ]; do
    run_target "$1" & first_pid=$!
    second=""
    if [ $# -gt 1 ]; then run_target "$2" & second_pid=$!; second=$2; fi
    for pair in "$1:$first_pid" ${second:+"$second:$second_pid"}; do
      target=${pair%%:*}
      if wait "${pair##*:}"; then
        echo "fuzz $target: ok, $(grep -m1 -o 'Done [0-9]* runs in [0-9]* second(s)' "$fuzz_dir/$target.log")"
      else
        echo "fuzz $target: FAILED (log: $fuzz_dir/$target.log)"
        grep -E 'ERROR|SUMMARY|Test unit written' "$fuzz_dir/$target.log" | head -20
        fuzz_failed=1
      fi
    done
    shift $(( $# > 1 ? 2 : 1 ))
  done
  [ "$fuzz_failed" = 0 ] || exit 1
fi

# The GIMP plug-in in real GIMP 3 (a Debian 13 root; needs root or sudo).
if [ "${DDIM_SKIP_GIMP:-0}" != 1 ]; then
  case $BUILD in /*) gimp_out=$BUILD-gimp-tests ;; *) gimp_out=$PWD/$BUILD-gimp-tests ;; esac
  DDIM_GIMP_OUT=$gimp_out tools/gimp-tests.sh
fi
