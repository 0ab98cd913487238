#!/bin/sh
# test-torch-cli.sh DDIM — the ddim command on PyTorch checkpoints.
#
# ddim info / eps / generate on .bin and .ckpt files (zip and legacy,
# diffusers and original layouts) must give byte-identical output files to
# the safetensors copy of the same weights; ddim convert must produce a
# folder that does too; --config must force a config; every hostile file of
# tests/fixtures/torch/hostile.tsv must fail with status 1 and one message
# line, and run nothing.
set -u

DDIM=${1:?usage: test-torch-cli.sh PATH-TO-ddim}
HERE=$(cd "$(dirname "$0")" && pwd)
TORCH=${DDIM_TEST_FIXTURES:-$HERE/fixtures}/torch
MARKER=/tmp/ddim-hostile-executed
unset DDIM_MODEL
LC_ALL=C
export LC_ALL
. "$HERE/tap.sh"

# run NAME ARGS...: status 0 expected.
run() {
    name=$1
    shift
    count=$((count + 1))
    if "$DDIM" "$@" >"$TMP/stdout" 2>"$TMP/stderr"; then
        echo "ok $count - $name"
        return 0
    fi
    fail "$name: exit status $?, expected 0"
    return 1
}

# refused NAME PATTERN ARGS...: status 1, one line "ddim: ..." containing PATTERN.
refused() {
    name=$1 pattern=$2
    shift 2
    count=$((count + 1))
    "$DDIM" "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    status=$?
    if [ "$status" -ne 1 ]; then
        fail "$name: exit status $status, expected 1"
    elif [ "$(wc -l <"$TMP/stderr")" -ne 1 ]; then
        fail "$name: $(wc -l <"$TMP/stderr") lines on stderr, expected 1"
    elif ! grep -q '^ddim: ' "$TMP/stderr" || ! grep -qF -- "$pattern" "$TMP/stderr"; then
        fail "$name: message lacks '$pattern'"
    else
        echo "ok $count - $name: $(cat "$TMP/stderr")"
    fi
}

cd "$TORCH" || exit 1
X=diffusers_st/x.npy

# The safetensors copy is the reference.
run "eps on safetensors" eps diffusers_st "$X" --timestep 37 -o "$TMP/eps-st.npy"
run "generate on safetensors" generate diffusers_st --steps 6 --seed 11 --count 2 \
    -o "$TMP/gen-st.npy"

i=0
for model in diffusers_bin diffusers_sharded diffusers_files/legacy.bin \
    diffusers_files/strided.pt original/model.ckpt original/legacy.ckpt \
    original/training.pth original/training_noema.pth; do
    i=$((i + 1))
    if run "info $model" info "$model"; then
        count=$((count + 1))
        if grep -q '^source: *PyTorch\|^source: *2 shards' "$TMP/stdout"; then
            echo "ok $count - info $model names the source"
        else
            fail "info $model: no PyTorch source line"
        fi
    fi
    run "eps $model" eps "$model" "$X" --timestep 37 -o "$TMP/eps-$i.npy" &&
        same "eps $model = safetensors" "$TMP/eps-st.npy" "$TMP/eps-$i.npy"
    run "generate $model" generate "$model" --steps 6 --seed 11 --count 2 -o "$TMP/gen-$i.npy" &&
        same "generate $model = safetensors" "$TMP/gen-st.npy" "$TMP/gen-$i.npy"
done

# An original checkpoint without config.json: config inferred.
run "info inferred" info inferred/model.ckpt
count=$((count + 1))
if grep -q '^config: *(built in' "$TMP/stdout" && grep -q 'inferred from the tensor shapes' "$TMP/stdout"; then
    echo "ok $count - info inferred says where the config came from"
else
    fail "info inferred: config line"
fi
run "generate inferred" generate inferred/model.ckpt --steps 4 --seed 2 -o "$TMP/gen-inf.npy"

# Conversion, then the converted folder gives the same results.
run "convert original training checkpoint" convert original/training.pth -o "$TMP/converted"
run "eps on converted" eps "$TMP/converted" "$X" --timestep 37 -o "$TMP/eps-conv.npy" &&
    same "eps converted = safetensors" "$TMP/eps-st.npy" "$TMP/eps-conv.npy"
run "generate on converted" generate "$TMP/converted" --steps 6 --seed 11 --count 2 \
    -o "$TMP/gen-conv.npy" &&
    same "generate converted = safetensors" "$TMP/gen-st.npy" "$TMP/gen-conv.npy"
refused "convert into a model folder" "already holds a model" convert original/training.pth \
    -o "$TMP/converted"
run "convert inferred keeping F16" convert inferred/model.ckpt --dtype source -o "$TMP/inf16"
run "generate on converted inferred" generate "$TMP/inf16" --steps 4 --seed 2 -o "$TMP/gen-inf16.npy" &&
    same "generate converted inferred = checkpoint" "$TMP/gen-inf.npy" "$TMP/gen-inf16.npy"
refused "convert without -o" "-o OUT_DIR" convert original/model.ckpt
refused "convert --dtype" "--dtype" convert original/model.ckpt --dtype f8 -o "$TMP/f8"

# A convert whose write fails (ulimit -f: EFBIG; ddim ignores SIGXFSZ) leaves
# no file, and no folder when it made the folder.
printf '#!/bin/sh\nulimit -f 1\nexec "%s" "$@"\n' "$DDIM" >"$TMP/ddim-limited"
chmod +x "$TMP/ddim-limited"
REAL_DDIM=$DDIM
DDIM=$TMP/ddim-limited
refused "convert past ulimit -f" "safetensors: cannot write: File too large" \
    convert original/training.pth -o "$TMP/limited/a/b"
mkdir "$TMP/limited-existing"
refused "convert past ulimit -f into a folder" "cannot write: File too large" \
    convert original/training.pth -o "$TMP/limited-existing"
DDIM=$REAL_DDIM
count=$((count + 1))
if [ -e "$TMP/limited" ]; then
    fail "convert past ulimit -f left $(find "$TMP/limited" | tr '\n' ' ')"
else
    echo "ok $count - convert past ulimit -f leaves no folder it made"
fi
count=$((count + 1))
if [ ! -d "$TMP/limited-existing" ] || [ -n "$(ls -A "$TMP/limited-existing")" ]; then
    fail "convert past ulimit -f into a folder: the folder is gone or holds files"
else
    echo "ok $count - convert past ulimit -f keeps an existing folder, empty"
fi

# --config.
mkdir "$TMP/bare"
cp original/model.ckpt "$TMP/bare/"
refused "original checkpoint of a non-official shape" "--config" info "$TMP/bare/model.ckpt"
run "--config FILE" eps "$TMP/bare/model.ckpt" "$X" --timestep 37 \
    --config original/config.json -o "$TMP/eps-forced.npy" &&
    same "eps --config FILE = safetensors" "$TMP/eps-st.npy" "$TMP/eps-forced.npy"
refused "--config NAME of another shape" "model.ckpt" info inferred/model.ckpt --config cifar10
refused "--config unknown NAME" "imagenet" info inferred/model.ckpt --config imagenet

# Hostile files: refused, one line, nothing run.
rm -f "$MARKER"
tab=$(printf '\t')
while IFS="$tab" read -r file expect; do
    [ -n "$file" ] || continue
    refused "hostile $file" "$expect" info "$file"
done <hostile.tsv
count=$((count + 1))
if [ -e "$MARKER" ]; then fail "a hostile payload ran ($MARKER exists)"; else echo "ok $count - no payload ran"; fi

tap_done
