#!/bin/bash
# One command from a fresh Debian machine to a first image: install the
# dependencies, build, install (the `ddim` command, the default model, and
# the GIMP plug-in where GIMP 3 is present), then generate an image with the
# default model.
#   PREFIX   install prefix (default /usr/local)
#   OUT      the first image (default ./first-image.png)
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
OUT=${OUT:-$PWD/first-image.png}
tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
  meson setup build --prefix="$PREFIX"
fi
meson compile -C build
# sudo only for a user who cannot write PREFIX (root installs directly,
# also where sudo is not installed).
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  mkdir -p "$PREFIX" 2>/dev/null || true
  [ -w "$PREFIX" ] || SUDO="sudo"
fi
$SUDO meson install -C build --quiet
DDIM="$PREFIX/bin/ddim"
if ! "$DDIM" info >/dev/null 2>&1; then
  echo "setup: no default model is installed yet; using the test model tests/fixtures/google_f32" >&2
  export DDIM_MODEL="$PWD/tests/fixtures/google_f32"
fi
"$DDIM" generate -o "$OUT" --seed 1
echo "setup: installed $DDIM; first image: $OUT"
