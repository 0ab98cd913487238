#!/bin/bash
# Install the build and test dependencies of the core library and the `ddim`
# command from Debian's archive (Debian 12 or later).  Idempotent.
set -euo pipefail

# clang + libclang-rt-dev (libclang-rt-14-dev on Debian 12: the runtime of
# the default clang): the libFuzzer targets (tools/fuzz.sh);
# valgrind: the memcheck test (tests/test-valgrind.sh);
# clang-format: the formatting test (tests/test-format.sh).
packages=(gcc meson ninja-build pkg-config libglib2.0-dev libjson-glib-dev libopenblas-dev libopenblas-openmp-dev
          libpng-dev clang libclang-rt-dev valgrind clang-format)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
