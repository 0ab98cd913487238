#!/bin/sh
# test-malformed.sh DDIM — the malformed-input corpus (tests/malformed/,
# written by tools/make_malformed.py) against the ddim command.
#
# First the valid base model must load and sample, so each case fails for
# its own reason.  Then for every case in tests/malformed/cases.tsv,
# `ddim info CASE` and `ddim generate CASE -o OUT.png --steps 2 --seed 1
# [ARGS]` must each exit with status 1 (no signal, no hang: each run has a
# time limit), print exactly one line on stderr, "ddim: ...", that matches
# the case's pattern and names the file or folder at fault, and write no
# output file.  Cases with generate arguments (latents, sizes, memory) run
# generate only.  Every refusal must also stay under 1 GB of peak memory
# (/usr/bin/time's maximum resident size, where it is installed): the
# decompression bombs among the cases (PNG input and mask, a 1 GiB .npy
# latent) are refused from their headers, before anything is decoded or read.
set -u

DDIM=${1:?usage: test-malformed.sh PATH-TO-ddim}
case $DDIM in /*) ;; *) DDIM=$PWD/$DDIM ;; esac # runs happen inside the corpus
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS=$HERE/malformed
LIMIT=${DDIM_MALFORMED_TIMEOUT:-60}
unset DDIM_MODEL
LC_ALL=C
export LC_ALL
# Tiny models: one thread is the fastest, and runs stay small under sanitizers.
OMP_NUM_THREADS=1
export OMP_NUM_THREADS
. "$HERE/tap.sh"
# Peak memory of each refused run, in KB (GNU time's %M).
MAX_PEAK_KB=1048576
measure=
[ -x /usr/bin/time ] && measure="/usr/bin/time -f %M -o $TMP/peak"

# refused NAME NAMED PATTERN ARGS...: status 1, one line "ddim: ..." on
# stderr matching PATTERN and containing NAMED (the file at fault).
refused() {
    name=$1 named=$2 pattern=$3
    shift 3
    count=$((count + 1))
    rm -f "$TMP/out.png" "$TMP/peak"
    # shellcheck disable=SC2086  # measure is a command's words, or nothing
    (cd "$CORPUS" && timeout -s KILL "$LIMIT" $measure "$DDIM" "$@") >"$TMP/stdout" 2>"$TMP/stderr"
    status=$?
    # GNU time writes "Command exited with non-zero status 1" before %M.
    peak=$( [ -s "$TMP/peak" ] && tail -n 1 "$TMP/peak")
    problem=$(refusal_problem "$status" "$pattern")
    if [ "$status" -eq 137 ]; then
        fail "$name: killed after ${LIMIT} s (hang?)"
    elif [ "$status" -gt 128 ]; then
        fail "$name: killed by signal $((status - 128))"
    elif [ -n "$problem" ]; then
        fail "$name: $problem"
    elif [ -n "$named" ] && ! grep -qF "$named" "$TMP/stderr"; then
        fail "$name: message does not name $named"
    elif [ -e "$TMP/out.png" ]; then
        fail "$name: an output file was written"
    elif [ -n "$peak" ] && [ "$peak" -ge "$MAX_PEAK_KB" ]; then
        fail "$name: refused, but its peak memory was $peak KB (the limit is $MAX_PEAK_KB)"
    else
        echo "ok $count - $name: $(cut -c1-160 "$TMP/stderr")"
    fi
}

# The base model is valid: info and a 2-step generate succeed.
count=$((count + 1))
if (cd "$CORPUS" && timeout -s KILL "$LIMIT" "$DDIM" info base >"$TMP/stdout" 2>"$TMP/stderr" &&
    timeout -s KILL "$LIMIT" "$DDIM" generate base -o "$TMP/base.png" --steps 2 --seed 1 \
        >>"$TMP/stdout" 2>>"$TMP/stderr") && [ -s "$TMP/base.png" ]; then
    echo "ok $count - the base model loads and samples"
else
    fail "the base model does not load or sample"
fi

tab=$(printf '\t')
cases=0
while IFS=$tab read -r case_name model args pattern; do
    case $case_name in '#'* | '') continue ;; esac
    cases=$((cases + 1))
    if [ -z "$pattern" ]; then
        count=$((count + 1))
        fail "$case_name: no pattern in cases.tsv"
    elif [ "$args" != - ]; then
        # shellcheck disable=SC2086  # args is a list of words
        refused "$case_name: generate $args" "" "$pattern" \
            generate "$model" -o "$TMP/out.png" --steps 2 --seed 1 $args
    else
        refused "$case_name: info" "$model" "$pattern" info "$model"
        refused "$case_name: generate" "$model" "$pattern" \
            generate "$model" -o "$TMP/out.png" --steps 2 --seed 1
    fi
done <"$CORPUS/cases.tsv"

# A symlink to a device and a FIFO named like model files: refused, not read.
mkdir -p "$TMP/devices"
cp "$CORPUS/base/config.json" "$TMP/devices/"
ln -s /dev/zero "$TMP/devices/diffusion_pytorch_model.safetensors"
refused "weights linked to /dev/zero: info" "$TMP/devices" "no diffusion_pytorch_model|regular" \
    info "$TMP/devices"
rm "$TMP/devices/diffusion_pytorch_model.safetensors"
cp "$CORPUS/base/diffusion_pytorch_model.safetensors" "$TMP/devices/"
ln -s /dev/zero "$TMP/devices/scheduler_config.json"
refused "scheduler_config.json linked to /dev/zero: generate" "" "regular|scheduler" \
    generate "$TMP/devices" -o "$TMP/out.png" --steps 2 --seed 1
rm "$TMP/devices/scheduler_config.json"
if mkfifo "$TMP/devices/fifo.npy" 2>/dev/null; then
    refused "a FIFO as --xt: generate" "fifo.npy" "regular" \
        generate "$TMP/devices" -o "$TMP/out.png" --steps 2 --seed 1 --xt "$TMP/devices/fifo.npy"
fi

# A 1 GiB .npy latent (a sparse copy of the corpus's header) that the model
# cannot take: its shape is refused from the header, before the data is read.
cp "$CORPUS/inputs/latent-bomb-header.npy" "$TMP/latent-bomb.npy"
if truncate -s $((128 + 1073741824)) "$TMP/latent-bomb.npy" 2>/dev/null; then
    refused "a 1 GiB .npy latent: generate" "latent-bomb.npy" "16384" \
        generate base -o "$TMP/out.png" --steps 2 --seed 1 --xt "$TMP/latent-bomb.npy"
fi
rm -f "$TMP/latent-bomb.npy"

if [ "$cases" -lt 20 ]; then
    count=$((count + 1))
    fail "only $cases cases in $CORPUS/cases.tsv"
fi
tap_done
