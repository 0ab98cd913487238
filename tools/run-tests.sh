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
  # G_SLICE=always-malloc: GLib before 2.76 hands out small blocks (JsonNodes
  # among them) from a slice allocator that hides a use-after-free from ASan;
  # with plain malloc the whole suite, the malformed corpus included, is
  # checked as GLib 2.76 and later would allocate.
  G_SLICE=always-malloc ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C "$SAN_BUILD" --print-errorlogs --timeout-multiplier 4 "$@"
fi

# Every libFuzzer target from its seed corpus (tools/fuzz-all.sh), two at a
# time on the two cores; a crash, leak, timeout or UB report fails the run.
FUZZ_SECONDS=${FUZZ_SECONDS:-$([ "${CI:-}" = true ] && echo 60 || echo 0)}
if [ "$FUZZ_SECONDS" -gt 0 ]; then
  FUZZ_BUILD_DIR=$BUILD-fuzz tools/fuzz-all.sh "$FUZZ_SECONDS" 2
fi

# The GIMP plug-in in real GIMP 3 (a Debian 13 root; needs root or sudo).
if [ "${DDIM_SKIP_GIMP:-0}" != 1 ]; then
  case $BUILD in /*) gimp_out=$BUILD-gimp-tests ;; *) gimp_out=$PWD/$BUILD-gimp-tests ;; esac
  DDIM_GIMP_OUT=$gimp_out tools/gimp-tests.sh
fi
