#!/bin/sh
# test-determinism.sh DDIM — same seed, same bits: the ddim command's outputs
# are bit-identical across runs and across --threads 1 and 2, for sampling
# with η > 0 (noise at every step), a batch, a size other than the model's,
# and inversion.  (test-sampler checks the same property in the library on
# its tiny model; this one uses the fixture with attention.)
set -u

DDIM=${1:?usage: test-determinism.sh PATH-TO-ddim}
HERE=$(cd "$(dirname "$0")" && pwd)
FIXTURES=${DDIM_TEST_FIXTURES:-$HERE/fixtures}
MODEL=$FIXTURES/google_f32
unset DDIM_MODEL OMP_NUM_THREADS
. "$HERE/tap.sh"

run() { # NAME ARGS...: runs ddim, which must succeed
    name=$1
    shift
    if ! "$DDIM" "$@" >"$TMP/stdout" 2>"$TMP/stderr"; then
        count=$((count + 1))
        fail "$name: ddim failed"
        return 1
    fi
}

common="--steps 8 --eta 0.5 --seed 1234 --count 3 --size 32x24"
for threads in 1 2; do
    for attempt in a b; do
        # shellcheck disable=SC2086
        run "generate, $threads thread(s), run $attempt" generate "$MODEL" \
            -o "$TMP/gen-$threads$attempt.npy" $common --threads "$threads"
    done
    run "encode, $threads thread(s)" encode "$MODEL" "$FIXTURES/google_f32/x0.npy" \
        -o "$TMP/enc-$threads.npy" --steps 8 --threads "$threads"
done
same "generate: two runs on 1 thread give the same bits" "$TMP/gen-1a.npy" "$TMP/gen-1b.npy"
same "generate: two runs on 2 threads give the same bits" "$TMP/gen-2a.npy" "$TMP/gen-2b.npy"
same "generate: 1 and 2 threads give the same bits" "$TMP/gen-1a.npy" "$TMP/gen-2a.npy"
same "encode: 1 and 2 threads give the same bits" "$TMP/enc-1.npy" "$TMP/enc-2.npy"
# The property is not vacuous: another seed changes the result.
run "generate, another seed" generate "$MODEL" -o "$TMP/other.npy" --steps 8 --eta 0.5 \
    --seed 1235 --count 3 --size 32x24 --threads 2
tap_check "another seed gives another result" \
    sh -c '! cmp -s "$1" "$2"' sh "$TMP/gen-1a.npy" "$TMP/other.npy"
tap_done
