#!/bin/sh
# fuzz.sh TARGET SECONDS — build and run one libFuzzer target.
#
# A target is fuzz/TARGET.c (it defines LLVMFuzzerTestOneInput); its seed
# corpus is tests/fuzz/TARGET/.  The target is compiled with clang
# -fsanitize=fuzzer,address,undefined together with the core sources that
# core/meson.build lists (this is not part of the meson build), then run
# for SECONDS seconds.  New inputs go to build-fuzz/TARGET-corpus/ (the
# committed seeds are only read); a crash is written to
# build-fuzz/TARGET-artifacts/ and makes the script fail.  Extra arguments
# after SECONDS go to libFuzzer (e.g. -jobs=2, -max_len=65536).
#
#   tools/fuzz.sh torch-checkpoint 600
#   build-fuzz/torch-checkpoint build-fuzz/torch-checkpoint-artifacts/crash-…   # replay
set -eu

if [ $# -lt 2 ]; then
    echo "usage: tools/fuzz.sh TARGET SECONDS [libFuzzer options]" >&2
    exit 2
fi
TARGET=$1
SECONDS_TO_RUN=$2
shift 2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
SOURCE=$ROOT/fuzz/$TARGET.c
SEEDS=$ROOT/tests/fuzz/$TARGET
if [ ! -f "$SOURCE" ]; then
    echo "fuzz.sh: no target $SOURCE" >&2
    exit 2
fi
CC=${CC:-clang}
case $CC in *clang*) ;; *) echo "fuzz.sh: libFuzzer needs clang (CC=$CC)" >&2; exit 2 ;; esac

# The core sources, as core/meson.build lists them.
CORE=$(sed -n "s/^ *'\([a-z]*\/[a-z0-9_-]*\.c\)',*$/\1/p" "$ROOT/core/meson.build" | sed "s|^|$ROOT/core/|")
PACKAGES="glib-2.0 json-glib-1.0 libpng"
if pkg-config --exists openblas; then PACKAGES="$PACKAGES openblas"; else PACKAGES="$PACKAGES cblas"; fi

mkdir -p "$OUT/$TARGET-corpus" "$OUT/$TARGET-artifacts" "$OUT/core"
FLAGS="-std=c11 -g -O1 -D_GNU_SOURCE -fno-sanitize-recover=undefined"
# shellcheck disable=SC2086
# Every layer folder of core/ (see docs/architecture.md), as core/meson.build has them.
CORE_DIRS=$(for dir in "$ROOT"/core/*/; do printf -- '-I%s ' "${dir%/}"; done)
INCLUDES="-I$ROOT/include $CORE_DIRS $(pkg-config --cflags $PACKAGES)"
# The core is compiled once (-fsanitize=fuzzer-no-link: instrumented for
# coverage, no main) and shared by every target; a source or header newer
# than its object is compiled again.  Targets may be built in parallel, so
# each object is written under a temporary name and renamed.
OBJECTS=""
for source in $CORE; do
    object=$OUT/core/$(basename "$source" .c).o
    if [ ! -f "$object" ] || [ -n "$(find "$source" "$ROOT/core" "$ROOT/include" -newer "$object" \
            \( -name '*.c' -o -name '*.h' \) 2>/dev/null | head -1)" ]; then
        # shellcheck disable=SC2086
        "$CC" $FLAGS -fsanitize=fuzzer-no-link,address,undefined $INCLUDES -c "$source" \
            -o "$object.$$"
        mv "$object.$$" "$object"
    fi
    OBJECTS="$OBJECTS $object"
done
# shellcheck disable=SC2046,SC2086
"$CC" $FLAGS -fsanitize=fuzzer,address,undefined $INCLUDES "$SOURCE" $OBJECTS \
    $(pkg-config --libs $PACKAGES) -lm -lpthread -o "$OUT/$TARGET.$$"
mv "$OUT/$TARGET.$$" "$OUT/$TARGET"

ARGS="-max_total_time=$SECONDS_TO_RUN -artifact_prefix=$OUT/$TARGET-artifacts/ -print_final_stats=1"
[ -d "$SEEDS" ] || SEEDS=
# shellcheck disable=SC2086
exec "$OUT/$TARGET" $ARGS "$@" "$OUT/$TARGET-corpus" $SEEDS
