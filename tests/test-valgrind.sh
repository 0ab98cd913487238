#!/bin/sh
# test-valgrind.sh DDIM — valgrind memcheck on the ddim command: one small
# model run (generate, 2 steps, 2 images, on the fixture model with
# attention), a reconstruction (encode then decode), a few refused inputs (error
# paths free what they allocated too), and every case of the malformed corpus
# that the strict JSON reader refuses (config.json, scheduler_config.json,
# safetensors headers).  Every run must have no memcheck error and no
# definitely or indirectly lost block.  Skipped (status 77) when valgrind is
# not installed; tools/install-deps.sh installs it.
set -u

# GLib before 2.76 hands out JsonNodes from its slice allocator, whose freed
# blocks valgrind cannot tell from live ones: a use-after-free of a node (the
# old duplicate-key check read objects json-glib had freed) shows only with
# plain malloc.
G_SLICE=always-malloc
export G_SLICE

DDIM=${1:?usage: test-valgrind.sh PATH-TO-ddim}
HERE=$(cd "$(dirname "$0")" && pwd)
FIXTURES=${DDIM_TEST_FIXTURES:-$HERE/fixtures}
if ! command -v valgrind >/dev/null 2>&1; then
    echo "SKIP: valgrind is not installed (tools/install-deps.sh installs it)"
    exit 77
fi
unset DDIM_MODEL
. "$HERE/tap.sh"

# memcheck NAME EXPECTED-STATUS ARGS...
memcheck() {
    name=$1 expected=$2
    shift 2
    count=$((count + 1))
    valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
        --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
        --track-origins=yes --suppressions="$HERE/valgrind.supp" \
        "$DDIM" "$@" >"$TMP/stdout" 2>"$TMP/valgrind.log"
    status=$?
    if [ "$status" -ne "$expected" ]; then
        echo "not ok $count - $name: exit status $status, expected $expected"
        grep -E '^==[0-9]+==' "$TMP/valgrind.log" | head -60 | sed 's/^/#   /'
        grep -v '^==' "$TMP/valgrind.log" | head -5 | sed 's/^/#   /'
        failures=$((failures + 1))
    else
        lost=$(grep -E 'definitely lost:' "$TMP/valgrind.log" | sed 's/^==[0-9]*== *//')
        echo "ok $count - $name: $(grep -E 'ERROR SUMMARY' "$TMP/valgrind.log" |
            sed 's/^==[0-9]*== //; s/ (suppressed.*//')${lost:+; $lost}"
    fi
}

MODEL=$FIXTURES/google_f32
memcheck "generate (2 steps, 2 images, eta 0.5)" 0 generate "$MODEL" -o "$TMP/out.png" \
    --steps 2 --count 2 --eta 0.5 --seed 3 --threads 2
memcheck "reconstruct (encode + decode)" 0 reconstruct "$MODEL" "$FIXTURES/google_f32/x0.npy" \
    -o "$TMP/x0.npy" --steps 2 --threads 2
memcheck "info" 0 info "$MODEL"
MALFORMED=$HERE/malformed
memcheck "refused: tensor missing" 1 info "$MALFORMED/weights-tensor-missing"
memcheck "refused: overlapping offsets" 1 info "$MALFORMED/weights-offsets-overlap"
memcheck "refused: config not JSON" 1 info "$MALFORMED/config-not-json"
memcheck "refused: scheduler alpha_bar underflow" 1 info "$MALFORMED/scheduler-alpha-bar-underflow"
memcheck "refused: latent NaN" 1 generate "$MALFORMED/base" -o "$TMP/out.png" --seed 1 \
    --xt "$MALFORMED/inputs/latent-nan.npy"
# The whole malformed corpus (tests/malformed/cases.tsv, as test-malformed.sh
# runs it): a model case with `ddim info`, a case with generate arguments
# (latents, masks, sizes) with that generate.  The JSON classes among them
# (config-duplicate-key, weights-duplicate-name: objects that used to be read
# after json-glib freed them) are why G_SLICE is plain malloc above.
tab=$(printf '\t')
corpus_cases=0
# Model paths in cases.tsv are relative to the corpus.
cd "$MALFORMED" || exit 1
while IFS=$tab read -r case_name model args pattern; do
    case $case_name in '#'* | '') continue ;; esac
    corpus_cases=$((corpus_cases + 1))
    if [ "$args" != - ]; then
        # shellcheck disable=SC2086  # args is a list of words
        memcheck "refused: $case_name (generate)" 1 generate "$model" \
            -o "$TMP/out.png" --steps 2 --seed 1 $args
    else
        memcheck "refused: $case_name" 1 info "$model"
    fi
done <"$MALFORMED/cases.tsv"
cd "$HERE" || exit 1
# One tile and the weights (2 MB) do not fit in 1 MB.
memcheck "refused: --max-memory" 1 generate "$MODEL" -o "$TMP/out.png" --seed 1 \
    --max-memory 1M --size 256x256
tap_done
