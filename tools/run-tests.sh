#!/bin/bash
# The project's test command: install what is missing, build with warnings as
# errors, and run every test (unit tests per module, whole-pipeline tests
# against the PyTorch reference fixtures, CLI tests).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
BUILD=${BUILD:-build}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" -Dwerror=true
fi
meson compile -C "$BUILD"
meson test -C "$BUILD" --print-errorlogs "$@"
