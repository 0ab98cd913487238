#!/bin/bash
# Every C source and header is formatted as .clang-format says.  Formatting
# differs between clang-format releases; the check runs with the one that
# tools/install-deps.sh installs on Debian 12 (14) and is skipped (77) with
# any other, so that a newer machine does not fail on layout alone.
#   test-format.sh SOURCE_ROOT
set -euo pipefail
root=$1
command -v clang-format >/dev/null || { echo "no clang-format: skipped"; exit 77; }
version=$(clang-format --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p')
if [ "$version" != 14 ]; then
  echo "clang-format $version, not 14: skipped"
  exit 77
fi
cd "$root"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.h')
else
  mapfile -t files < <(find core include cli plugin ui tests tools fuzz -name '*.[ch]' 2>/dev/null)
fi
echo "${#files[@]} files"
clang-format --dry-run --Werror "${files[@]}"
