#!/bin/sh
# test-cli.sh DDIM — exit statuses, messages and outputs of the ddim command.
#
# DDIM is the built ddim executable.  Model runs use the tiny fixture model
# in tests/fixtures/google_f32 (or $DDIM_TEST_FIXTURES/google_f32); when it
# is missing, only the tests that need no model run.
set -u

DDIM=${1:?usage: test-cli.sh PATH-TO-ddim}
HERE=$(cd "$(dirname "$0")" && pwd)
FIXTURES=${DDIM_TEST_FIXTURES:-$HERE/fixtures}
MODEL=$FIXTURES/google_f32
unset DDIM_MODEL
# Keep messages ASCII-comparable and the runs small.
LC_ALL=C
export LC_ALL
. "$HERE/tap.sh"

# expect_failure NAME PATTERN ARGS...: status 1 and exactly one line on
# stderr, "ddim: ..." matching PATTERN (grep -E).
expect_failure() {
    name=$1 pattern=$2
    shift 2
    count=$((count + 1))
    "$DDIM" "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    problem=$(refusal_problem $? "$pattern")
    if [ -n "$problem" ]; then
        fail "$name: $problem"
    else
        echo "ok $count - $name: $(cat "$TMP/stderr")"
    fi
}

# expect_success NAME ARGS...: status 0.
expect_success() {
    name=$1
    shift
    count=$((count + 1))
    "$DDIM" "$@" >"$TMP/stdout" 2>"$TMP/stderr"
    status=$?
    if [ "$status" -ne 0 ]; then
        fail "$name: exit status $status, expected 0"
        return 1
    fi
    echo "ok $count - $name"
}

# check NAME COMMAND...: a shell condition on the last run's results.
check() {
    tap_check "$@"
}

# files_exist FILE...: all of them exist.
files_exist() {
    for file in "$@"; do [ -f "$file" ] || return 1; done
}

# The width and height in a PNG's IHDR, as "WxH".
png_size() {
    od -An -tu1 -j16 -N8 "$1" |
        awk '{ printf "%dx%d", $1*16777216 + $2*65536 + $3*256 + $4, $5*16777216 + $6*65536 + $7*256 + $8 }'
}

# ---- Without a model ------------------------------------------------------

expect_failure "no subcommand" "subcommand"
expect_failure "unknown subcommand" "unknown subcommand 'frobnicate'" frobnicate
expect_success "ddim --help" --help &&
    check "--help lists the subcommands" grep -q "interpolate" "$TMP/stdout"
expect_success "ddim --version" --version &&
    check "--version prints a version" grep -Eq "^ddim [0-9]" "$TMP/stdout"
expect_success "ddim generate --help" generate --help &&
    check "generate --help lists --count" grep -q -- "--count" "$TMP/stdout"
expect_success "ddim vary --help" vary --help &&
    check "vary --help describes --preview-every and where the preview goes" \
        sh -c "grep -q -- '--preview-every' '$TMP/stdout' && grep -q -- 'out-preview.png' '$TMP/stdout'"
expect_success "ddim help encode" help encode &&
    check "help encode lists --strength" grep -q -- "--strength" "$TMP/stdout"
expect_failure "unknown option" "Unknown option" info --frobnicate
expect_failure "missing model folder" "no-such-model" info "$TMP/no-such-model"
DDIM_MODEL=$TMP/no-such-model
export DDIM_MODEL
expect_failure "missing default model from DDIM_MODEL" "no-such-model" info
unset DDIM_MODEL
expect_failure "too many arguments" "takes MODEL IN" encode a b c -o x.npy
expect_failure "bad --schedule" "schedule" generate "$TMP/no-such-model" -o "$TMP/x.png" \
    --schedule bogus
expect_failure "bad --steps" "steps" generate "$TMP/no-such-model" -o "$TMP/x.png" --steps 0
expect_failure "bad --eta" "eta" generate "$TMP/no-such-model" -o "$TMP/x.png" --eta lots
expect_failure "bad --seed" "seed" generate "$TMP/no-such-model" -o "$TMP/x.png" --seed -3
expect_failure "bad --threads" "threads" info "$TMP/no-such-model" --threads many
expect_failure "bad --max-memory" "max-memory" info "$TMP/no-such-model" --max-memory 2Q
expect_failure "bad --strength" "strength" vary "$TMP/no-such-model" in.png -o "$TMP/x.png" \
    --strength 1.5

mkdir "$TMP/not-json"
printf 'this is { not JSON\n' >"$TMP/not-json/config.json"
# Real weights beside it when there are any, so only the config is wrong.
if [ -f "$MODEL/diffusion_pytorch_model.safetensors" ]; then
    cp "$MODEL/diffusion_pytorch_model.safetensors" "$TMP/not-json/"
else
    : >"$TMP/not-json/diffusion_pytorch_model.safetensors"
fi
expect_failure "config that is not JSON" "config.json" info "$TMP/not-json"

# ---- With the fixture model -----------------------------------------------

if [ ! -f "$MODEL/config.json" ] || [ ! -f "$MODEL/diffusion_pytorch_model.safetensors" ]; then
    echo "# $MODEL is missing: skipping the tests that run a model"
    echo "1..$count"
    [ "$failures" -eq 0 ]
    exit
fi

expect_success "info on the fixture model" info "$MODEL" &&
    check "info shows the resolution" grep -q "16x16" "$TMP/stdout"
DDIM_MODEL=$MODEL
export DDIM_MODEL
expect_success "info with the default model from DDIM_MODEL" info
unset DDIM_MODEL

# A truncated PNG (signature and half an IHDR) and a file that is no PNG.
printf '\211PNG\r\n\032\n\000\000\000\rIHDR\000\000' >"$TMP/truncated.png"
printf 'GIF89a, not a PNG at all' >"$TMP/not-a.png"
# A valid 10x10 grey PNG: not a multiple of the model's size multiple (4).
printf '\211\120\116\107\015\012\032\012\000\000\000\015\111\110\104\122\000\000\000\012\000\000\000\012\010\000\000\000\000\250\131\220\141\000\000\000\133\111\104\101\124\170\332\143\140\220\064\362\116\251\235\266\376\304\103\006\056\145\233\320\274\366\005\073\057\275\146\020\321\165\213\257\230\270\352\360\235\257\014\162\346\001\231\115\263\267\234\175\366\237\101\303\061\252\270\147\351\276\353\037\070\031\140\232\176\011\063\300\064\261\310\062\300\064\361\251\063\300\064\111\030\062\300\064\051\131\003\000\215\277\062\207\346\033\106\357\000\000\000\000\111\105\116\104\256\102\140\202' >"$TMP/odd.png"

expect_failure "missing input file" "missing.png" encode "$MODEL" "$TMP/missing.png" \
    -o "$TMP/z.npy"
expect_failure "truncated PNG" "truncated.png" encode "$MODEL" "$TMP/truncated.png" \
    -o "$TMP/z.npy"
expect_failure "not a PNG" "not a PNG" encode "$MODEL" "$TMP/not-a.png" -o "$TMP/z.npy"
expect_failure "bad --schedule with a model" "unknown schedule" generate "$MODEL" \
    -o "$TMP/x.png" --schedule bogus --seed 1
expect_failure "unknown output type" "unknown file type" generate "$MODEL" -o "$TMP/x.jpg" \
    --seed 1
expect_failure "bad --convolutions" "not default, direct or fast" generate "$MODEL" \
    -o "$TMP/x.png" --convolutions winograd --seed 1
# --convolutions only changes large 3×3 convolutions (64×64+ with 32+ channels): a 64×64
# untiled image of the 16×16 fixture has them (how close the three are is
# tests/test-unet-batch.c's and tests/test-kernels.c's business).
for how in default direct fast; do
    expect_success "generate 64x64 --convolutions $how" generate "$MODEL" -o "$TMP/conv-$how.png" \
        --size 64x64 --tile 64 --steps 5 --seed 3 --convolutions "$how" &&
        check "--convolutions $how: a 64x64 image" test "$(png_size "$TMP/conv-$how.png")" = 64x64
done
expect_failure "encode to a PNG" "npy" encode "$MODEL" "$TMP/odd.png" -o "$TMP/z.png"
expect_failure "no -o" "output" generate "$MODEL" --seed 1
expect_failure "size the model cannot run" "multiples of 4" generate "$MODEL" \
    -o "$TMP/x.png" --size 13x13 --seed 1
expect_failure "PNG size the model cannot run" "--resize" encode "$MODEL" "$TMP/odd.png" \
    -o "$TMP/z.npy"
expect_failure "two %d in a pattern" "only one" generate "$MODEL" -o "$TMP/%d-%d.png" \
    --count 2 --seed 1
expect_failure "interpolate without --frames" "frames" interpolate "$MODEL" "$TMP/odd.png" \
    "$TMP/odd.png" -o "$TMP/f.png"
expect_failure "--timestep out of range" "timestep" eps "$MODEL" "$MODEL/x.npy" \
    --timestep 5000 -o "$TMP/e.npy"
expect_failure "unwritable output" "no-such-dir" generate "$MODEL" \
    -o "$TMP/no-such-dir/x.png" --steps 2 --seed 1

# Sampling.
expect_success "generate one PNG" generate "$MODEL" -o "$TMP/one.png" --steps 3 --seed 5 &&
    check "generate wrote a 16x16 PNG" [ "$(png_size "$TMP/one.png")" = 16x16 ]
expect_success "generate without --seed" generate "$MODEL" -o "$TMP/random.png" --steps 2 &&
    check "a random seed is printed" grep -Eq "^seed=[0-9]+$" "$TMP/stderr"
expect_success "generate --count 3" generate "$MODEL" -o "$TMP/series.png" --count 3 \
    --steps 3 --seed 5 &&
    check "--count names the files -000 to -002" \
        files_exist "$TMP/series-000.png" "$TMP/series-001.png" "$TMP/series-002.png"
expect_success "generate with a %02d pattern" generate "$MODEL" -o "$TMP/pat%02d.png" \
    --count 2 --steps 2 --seed 1 &&
    check "the pattern names the files" files_exist "$TMP/pat00.png" "$TMP/pat01.png"
expect_success "generate --size 8x12" generate "$MODEL" -o "$TMP/small.png" --size 8x12 \
    --steps 2 --seed 1 &&
    check "--size sets width and height" [ "$(png_size "$TMP/small.png")" = 8x12 ]
expect_success "generate to .npy with --save-xt" generate "$MODEL" -o "$TMP/batch.npy" \
    --count 2 --steps 3 --seed 9 --save-xt "$TMP/xt.npy"
expect_success "decode the saved x_T" decode "$MODEL" "$TMP/xt.npy" -o "$TMP/decoded.npy" \
    --steps 3 &&
    check "decode of --save-xt reproduces generate" cmp -s "$TMP/batch.npy" "$TMP/decoded.npy"
expect_success "generate from --xt" generate "$MODEL" --xt "$TMP/xt.npy" -o "$TMP/again.npy" \
    --steps 3 &&
    check "--xt reproduces generate" cmp -s "$TMP/batch.npy" "$TMP/again.npy"
expect_failure "--count that disagrees with --xt" "does not match" generate "$MODEL" \
    --xt "$TMP/xt.npy" --count 3 -o "$TMP/x.png"
expect_success "generate with --eta and --max-memory" generate "$MODEL" -o "$TMP/eta.png" \
    --steps 3 --eta 0.5 --seed 2 --max-memory 1G --threads 1 --schedule trailing --clip

# Inversion, reconstruction, variation, interpolation.
expect_success "encode a PNG" encode "$MODEL" "$TMP/one.png" -o "$TMP/z.npy" --steps 5
expect_success "decode a latent to PNG" decode "$MODEL" "$TMP/z.npy" -o "$TMP/back.png" --steps 5
expect_success "reconstruct" reconstruct "$MODEL" "$TMP/one.png" -o "$TMP/rec.png" --steps 5 &&
    check "reconstruct ends with mse= psnr=" \
        sh -c "tail -n 1 '$TMP/stdout' | grep -Eq '^mse=[0-9.e+-]+ psnr=([0-9.+-]+|inf)$'"
expect_success "reconstruct with --resize" reconstruct "$MODEL" "$TMP/odd.png" \
    -o "$TMP/odd-rec.png" --steps 3 --resize &&
    check "--resize writes the original size back" [ "$(png_size "$TMP/odd-rec.png")" = 10x10 ]
expect_success "vary" vary "$MODEL" "$TMP/one.png" -o "$TMP/vary.png" --strength 0.3 \
    --steps 5 --seed 4
expect_success "interpolate" interpolate "$MODEL" "$TMP/series-000.png" "$TMP/series-001.png" \
    -o "$TMP/frame%d.png" --frames 3 --steps 3 &&
    check "interpolate writes K frames" \
        files_exist "$TMP/frame0.png" "$TMP/frame1.png" "$TMP/frame2.png"

# Tiles and masks.
expect_success "generate --size 40x28 (tiled)" generate "$MODEL" -o "$TMP/wide.png" --size 40x28 \
    --steps 3 --seed 2 &&
    check "a tiled generate writes 40x28" [ "$(png_size "$TMP/wide.png")" = 40x28 ]
expect_success "--tile and --overlap" generate "$MODEL" -o "$TMP/wide2.png" --size 40x28 \
    --steps 3 --seed 2 --tile 16 --overlap 8
expect_failure "a tile the network cannot take" "multiples of 4" generate "$MODEL" \
    -o "$TMP/x.png" --size 40x28 --tile 18 --seed 1
expect_failure "an overlap as large as the tile" "overlap" generate "$MODEL" \
    -o "$TMP/x.png" --size 40x28 --overlap 16 --seed 1
expect_success "reconstruct a 40x28 PNG at its own size" reconstruct "$MODEL" "$TMP/wide.png" \
    -o "$TMP/wide-rec.png" --steps 3 &&
    check "reconstruct keeps 40x28" [ "$(png_size "$TMP/wide-rec.png")" = 40x28 ]
expect_success "vary --mask" vary "$MODEL" "$TMP/one.png" -o "$TMP/masked.png" --strength 0.5 \
    --steps 4 --seed 4 --mask "$TMP/series-000.png"
expect_success "vary --mask-keep forward" vary "$MODEL" "$TMP/one.png" -o "$TMP/masked2.png" \
    --strength 0.5 --steps 4 --seed 4 --mask "$TMP/series-000.png" --mask-keep forward
# A .npy mask as (H, W), as --help says, or (1, H, W): the same run.
write_mask() { # FILE SHAPE: the left half 0 (kept), the right half 1
    python3 - "$1" "$2" <<'PY'
import struct, sys
shape = sys.argv[2]
header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % shape
header += " " * (63 - (10 + len(header)) % 64) + "\n"
values = [1.0 if x >= 8 else 0.0 for y in range(16) for x in range(16)]
if shape.startswith("(2,"):
    values *= 2
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<%df" % len(values), *values))
PY
}
write_mask "$TMP/mask-hw.npy" "(16, 16)"
write_mask "$TMP/mask-1hw.npy" "(1, 16, 16)"
write_mask "$TMP/mask-2hw.npy" "(2, 16, 16)"
expect_success "vary --mask an (H, W) .npy" vary "$MODEL" "$TMP/one.png" -o "$TMP/mask-hw.npy.out.npy" \
    --strength 0.5 --steps 3 --seed 4 --mask "$TMP/mask-hw.npy" &&
    expect_success "vary --mask a (1, H, W) .npy" vary "$MODEL" "$TMP/one.png" \
        -o "$TMP/mask-1hw.npy.out.npy" --strength 0.5 --steps 3 --seed 4 --mask "$TMP/mask-1hw.npy" &&
    check "an (H, W) mask is the same mask as (1, H, W)" \
        cmp -s "$TMP/mask-hw.npy.out.npy" "$TMP/mask-1hw.npy.out.npy"
expect_failure "a mask of two planes" "one value per pixel" vary "$MODEL" "$TMP/one.png" \
    -o "$TMP/x.png" --mask "$TMP/mask-2hw.npy" --seed 1
expect_failure "a mask of the wrong size" "the mask is 10x10 but the image is 16x16" vary "$MODEL" \
    "$TMP/one.png" -o "$TMP/x.png" --mask "$TMP/odd.png" --seed 1
expect_failure "an unknown --mask-keep" "mask-keep" vary "$MODEL" "$TMP/one.png" -o "$TMP/x.png" \
    --mask "$TMP/one.png" --mask-keep sideways --seed 1
expect_failure "generate --mask without --image" "--image" generate "$MODEL" -o "$TMP/x.png" \
    --mask "$TMP/one.png" --seed 1
expect_success "generate --mask --image (inpainting)" generate "$MODEL" -o "$TMP/fill.png" \
    --mask "$TMP/series-000.png" --image "$TMP/one.png" --steps 3 --seed 1
expect_success "eps" eps "$MODEL" "$MODEL/x.npy" --timestep 37 -o "$TMP/eps.npy"
expect_success "options before, between and after positionals" encode -o "$TMP/z2.npy" \
    "$MODEL" --steps 2 "$TMP/one.png" --threads 1

# --preview-every N: x0 (DDIM eq. 9) of the first image as a PNG during a run.
expect_success "generate --preview-every 3 --preview 'pv-%02d.png'" generate "$MODEL" \
    -o "$TMP/pv.png" --steps 10 --seed 3 --preview-every 3 --preview "$TMP/pv-%02d.png" &&
    check "previews after evaluations 3, 6 and 9 and after the last (10)" \
        files_exist "$TMP/pv-03.png" "$TMP/pv-06.png" "$TMP/pv-09.png" "$TMP/pv-10.png" &&
    check "and no others" [ "$(ls "$TMP" | grep -c '^pv-')" -eq 4 ] &&
    check "the last preview is the result (x0 when alpha_bar_prev = 1)" \
        cmp -s "$TMP/pv-10.png" "$TMP/pv.png" &&
    check "an early preview is not the result" sh -c "! cmp -s '$TMP/pv-03.png' '$TMP/pv.png'" &&
    check "a preview has the image's size" [ "$(png_size "$TMP/pv-03.png")" = 16x16 ]
expect_success "reconstruct --preview-every 2 (default name)" reconstruct "$MODEL" \
    "$TMP/one.png" -o "$TMP/rc.png" --steps 4 --preview-every 2 &&
    check "the preview goes to OUT-preview.png and ends as the result" \
        cmp -s "$TMP/rc-preview.png" "$TMP/rc.png"
expect_success "reconstruct numbered previews" reconstruct "$MODEL" "$TMP/one.png" \
    -o "$TMP/rc2.png" --steps 4 --preview-every 2 --preview "$TMP/rp-%d.png" &&
    check "encode and decode previews are numbered over the whole run" \
        files_exist "$TMP/rp-2.png" "$TMP/rp-4.png" "$TMP/rp-6.png" "$TMP/rp-8.png"
expect_success "no --preview-every, no preview" generate "$MODEL" -o "$TMP/np.png" --steps 2 &&
    check "no preview file" [ ! -e "$TMP/np-preview.png" ]
expect_failure "--preview is a PNG" "previews are PNG files" generate "$MODEL" \
    -o "$TMP/x.png" --steps 2 --preview "$TMP/x.jpg"
expect_failure "--preview-every takes a count" "--preview-every" generate "$MODEL" \
    -o "$TMP/x.png" --steps 2 --preview-every often
expect_failure "an unwritable preview stops the run, naming the file" "no-such-dir/p.png" \
    generate "$MODEL" -o "$TMP/x.png" --steps 2 --seed 1 --preview-every 1 \
    --preview "$TMP/no-such-dir/p.png"

# ---- What a failed or interrupted run leaves ------------------------------
# Outputs are complete or absent; the temporary files (.ddim-XXXXXX in the
# output's folder) never stay.

# no_temporaries DIR: no temporary file left in DIR.
no_temporaries() {
    ! ls -A "$1" | grep -q '^\.ddim-'
}

# complete_pngs DIR: every PNG in DIR ends with its IEND chunk.
complete_pngs() {
    for file in "$1"/*.png; do
        [ -e "$file" ] || continue
        [ "$(tail -c 8 "$file" | od -An -tx1 | tr -d ' \n')" = 49454e44ae426082 ] || return 1
    done
}

# wait_for COMMAND...: polls (up to 20 s) until COMMAND succeeds.
wait_for() {
    tries=0
    until "$@"; do
        tries=$((tries + 1))
        [ "$tries" -ge 400 ] && return 1
        sleep 0.05
    done
}

# with_ddim LINE: DDIM becomes a script that runs LINE, then the real ddim
# (for expect_failure, which runs $DDIM), until restore_ddim.
REAL_DDIM=$DDIM
with_ddim() {
    printf '#!/bin/sh\n%s\nexec "%s" "$@"\n' "$1" "$REAL_DDIM" >"$TMP/wrapped-ddim"
    chmod +x "$TMP/wrapped-ddim"
    DDIM=$TMP/wrapped-ddim
}
restore_ddim() {
    DDIM=$REAL_DDIM
}

# expect_stdout_failure NAME PATTERN ARGS...: as expect_failure, with
# standard output on /dev/full.
expect_stdout_failure() {
    name=$1 pattern=$2
    shift 2
    count=$((count + 1))
    "$DDIM" "$@" >/dev/full 2>"$TMP/stderr"
    problem=$(refusal_problem $? "$pattern")
    if [ -n "$problem" ]; then fail "$name: $problem"; else tap_ok "$name: $(cat "$TMP/stderr")"; fi
}

# Standard output that cannot be written is a failure, with one message.
if [ -w /dev/full ]; then
    expect_stdout_failure "info > /dev/full" "standard output: No space left on device$" \
        info "$MODEL"
    expect_stdout_failure "reconstruct > /dev/full" "standard output: No space" \
        reconstruct "$MODEL" "$TMP/one.png" -o "$TMP/full-rec.png" --steps 2
    expect_stdout_failure "generate --help > /dev/full" "standard output: No space" \
        generate --help
    expect_stdout_failure "ddim --help > /dev/full" "standard output: No space" --help
else
    echo "# /dev/full is missing: standard output errors not tested"
fi
with_ddim 'exec >&-'
expect_success "generate with standard output closed (nothing printed)" generate "$MODEL" \
    -o "$TMP/closed.png" --steps 2 --seed 1
restore_ddim

# --size 16×16 (the Unicode sign) in the C locale: taken as 16x16, and a
# value GOption cannot convert is never "Invalid byte sequence".
expect_success "--size 16×16 under LC_ALL=C" generate "$MODEL" -o "$TMP/times.png" \
    --size 16×16 --steps 2 --seed 1 &&
    check "--size 16×16 is 16x16" [ "$(png_size "$TMP/times.png")" = 16x16 ]
expect_failure "--size 12×é under LC_ALL=C names the option" "--size: '12.*' is not a size" \
    generate "$MODEL" -o "$TMP/x.png" --size 12×é --steps 2 --seed 1

# The longest name a filesystem takes works (the temporary name is short);
# one byte more is refused before the run (--steps 200 --count 64 would take
# long), naming it.
mkdir "$TMP/names"
name255=$(printf '%0251d.png' 0)
expect_success "a 255-byte output name" generate "$MODEL" -o "$TMP/names/$name255" \
    --steps 2 --seed 1 &&
    check "the 255-byte file is written, and nothing else" \
        [ "$(ls -A "$TMP/names")" = "$name255" ]
expect_failure "a 256-byte output name is refused, named" "0$name255: the file name is 256 bytes" \
    generate "$MODEL" -o "$TMP/names/0$name255" --steps 200 --count 64 --seed 1
expect_failure "a series whose names pass 255 bytes is refused before the run" \
    "${name255%.png}-000.png: the file name is 259 bytes" \
    generate "$MODEL" -o "$TMP/names/$name255" --steps 200 --count 64 --seed 1
expect_failure "an output in a missing folder is refused before the run" \
    "no-such-dir/x.npy: cannot write in the folder" \
    encode "$MODEL" "$TMP/one.png" -o "$TMP/no-such-dir/x.npy" --steps 200

# A file-size limit (ulimit -f): EFBIG, the ordinary error, no partial file.
mkdir "$TMP/limited"
with_ddim 'ulimit -f 1'
expect_failure "a PNG past ulimit -f" "big.png: cannot write: File too large" generate "$MODEL" \
    -o "$TMP/limited/big.png" --size 64x64 --steps 1 --seed 1
expect_failure "a .npy past ulimit -f" "big.npy: cannot write: File too large" generate "$MODEL" \
    -o "$TMP/limited/big.npy" --size 64x64 --steps 1 --seed 1
restore_ddim
check "nothing is left after ulimit -f" [ -z "$(ls -A "$TMP/limited")" ]

# A full disk and slow writes, by a shim built here: fwrite (which every
# output goes through) fails with ENOSPC past SHIM_LIMIT bytes, and sleeps
# SHIM_DELAY_US first; the standard streams are left alone.  A launcher
# resets SIGINT, which a non-interactive shell ignores in background jobs.
CC=${CC:-cc}
cat >"$TMP/shim.c" <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static size_t total;
size_t fwrite(const void *data, size_t size, size_t n, FILE *file) {
    static size_t (*real)(const void *, size_t, size_t, FILE *);
    if (!real) real = (size_t (*)(const void *, size_t, size_t, FILE *))dlsym(RTLD_NEXT, "fwrite");
    if (file != stdout && file != stderr) {
        const char *delay = getenv("SHIM_DELAY_US"), *limit = getenv("SHIM_LIMIT");
        if (delay) usleep((useconds_t)atol(delay));
        if (limit && total + size * n > (size_t)atol(limit)) {
            errno = ENOSPC;
            return 0;
        }
        total += size * n;
    }
    return real(data, size, n, file);
}
EOF
cat >"$TMP/launcher.c" <<'EOF'
#include <signal.h>
#include <unistd.h>
int main(int argc, char **argv) {
    (void)argc;
    signal(SIGINT, SIG_DFL);
    execv(argv[1], argv + 1);
    return 127;
}
EOF
if "$CC" -shared -fPIC -o "$TMP/shim.so" "$TMP/shim.c" -ldl 2>"$TMP/cc-errors" &&
    "$CC" -o "$TMP/launcher" "$TMP/launcher.c" 2>>"$TMP/cc-errors"; then
    # A sanitizer runtime wants to be first among the libraries; the shim is.
    SHIM_ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"

    mkdir "$TMP/full"
    with_ddim "export SHIM_LIMIT=1500 LD_PRELOAD='$TMP/shim.so' ASAN_OPTIONS='$SHIM_ASAN_OPTIONS'"
    expect_failure "a PNG series on a full disk" \
        "full/s-00[0-9].png: cannot write: No space left on device; none of the 3 images was written" \
        generate "$MODEL" -o "$TMP/full/s.png" --count 3 --steps 2 --seed 1
    check "nothing of the series is left" [ -z "$(ls -A "$TMP/full")" ]
    expect_failure "a .npy on a full disk" "full/x.npy: cannot write: No space left on device" \
        generate "$MODEL" -o "$TMP/full/x.npy" --count 3 --steps 2 --seed 1
    check "nothing of the .npy is left" [ -z "$(ls -A "$TMP/full")" ]
    restore_ddim

    # signal_case NAME SIGNAL STATUS WHEN: sends SIGNAL while a run computes
    # (WHEN=run: after its first preview) or writes its files (WHEN=write:
    # once a temporary file exists; fwrite is slowed down), then checks that
    # the process died of it and left no temporary file, no partial PNG and
    # (while writing) nothing of the series.
    signal_case() {
        dir=$TMP/signal-$2-$4
        mkdir -p "$dir/out" "$dir/preview"
        if [ "$4" = run ]; then
            "$TMP/launcher" "$REAL_DDIM" generate "$MODEL" -o "$dir/out/s.png" --count 40 \
                --size 64x64 --steps 5 --seed 1 --preview-every 1 \
                --preview "$dir/preview/p.png" 2>"$dir/stderr" &
            pid=$!
            wait_for test -e "$dir/preview/p.png"
        else
            env SHIM_DELAY_US=50000 LD_PRELOAD="$TMP/shim.so" ASAN_OPTIONS="$SHIM_ASAN_OPTIONS" \
                "$TMP/launcher" "$REAL_DDIM" generate "$MODEL" -o "$dir/out/s.png" --count 40 \
                --steps 2 --seed 1 2>"$dir/stderr" &
            pid=$!
            wait_for no_temporaries_not "$dir/out"
        fi
        kill -"$2" "$pid"
        wait "$pid" 2>/dev/null
        status=$?
        count=$((count + 1))
        if [ "$status" -ne "$3" ]; then
            fail "$1: exit status $status, expected $3"
        elif ! no_temporaries "$dir/out" || ! no_temporaries "$dir/preview"; then
            fail "$1: temporary files left: $(ls -A "$dir/out" "$dir/preview" | tr '\n' ' ')"
        elif ! complete_pngs "$dir/out" || ! complete_pngs "$dir/preview"; then
            fail "$1: a partial PNG is left"
        elif [ "$4" = write ] && [ -n "$(ls -A "$dir/out")" ]; then
            fail "$1: files of the series are left: $(ls -A "$dir/out" | head -3 | tr '\n' ' ')"
        else
            tap_ok "$1"
        fi
    }
    no_temporaries_not() {
        ! no_temporaries "$1"
    }
    signal_case "SIGINT while computing" INT 130 run
    signal_case "SIGTERM while computing" TERM 143 run
    signal_case "SIGINT while writing" INT 130 write
    signal_case "SIGTERM while writing" TERM 143 write
    signal_case "SIGHUP while writing" HUP 129 write
else
    echo "# no C compiler ($CC): full-disk and signal tests skipped"
    sed 's/^/#   /' "$TMP/cc-errors"
fi

# A signal while ddim convert writes (fwrite slowed down by the shim): its
# files are temporary ones of the registry, so the handlers remove them and
# the folders the convert made; nothing is left.
if [ -x "$TMP/launcher" ] && [ -e "$TMP/shim.so" ]; then
    temporaries_in() {
        ls -A "$1" 2>/dev/null | grep -q '^\.ddim-'
    }
    convert_signal_case() {
        dir=$TMP/convert-$1
        mkdir "$dir"
        env SHIM_DELAY_US=20000 LD_PRELOAD="$TMP/shim.so" ASAN_OPTIONS="$SHIM_ASAN_OPTIONS" \
            "$TMP/launcher" "$REAL_DDIM" convert "$MODEL" -o "$dir/made/out" 2>"$TMP/stderr" &
        pid=$!
        wait_for temporaries_in "$dir/made/out"
        kill -"$1" "$pid"
        wait "$pid" 2>/dev/null
        status=$?
        count=$((count + 1))
        if [ "$status" -ne "$2" ]; then
            fail "SIG$1 during convert: exit status $status, expected $2"
        elif [ -n "$(ls -A "$dir")" ]; then
            fail "SIG$1 during convert left: $(find "$dir" | tr '\n' ' ')"
        else
            tap_ok "SIG$1 during convert leaves no file and no folder it made"
        fi
    }
    convert_signal_case INT 130
    convert_signal_case TERM 143
fi

# An address-space limit (ulimit -v): a run whose activations cannot be
# mapped is refused before it starts, naming the limit, instead of hanging
# in OpenBLAS's allocator.  Tested where a small run works under the limit
# (a sanitizer runtime reserves more than it; so may many threads' stacks).
AS_LIMIT=2000000
if command -v timeout >/dev/null &&
    (ulimit -v "$AS_LIMIT" && timeout 60 "$REAL_DDIM" generate "$MODEL" -o "$TMP/as-small.png" \
        --steps 2 --seed 1) >/dev/null 2>&1; then
    with_ddim "ulimit -v $AS_LIMIT || exit 99
exec timeout 60 \"$REAL_DDIM\" \"\$@\""
    expect_failure "a run past ulimit -v is refused up front" \
        "384.384 needs [0-9]+ MB of address space .*more than the [0-9]+ MB the process may still map \(ulimit -v: 2048 MB\)" \
        generate "$MODEL" -o "$TMP/as.png" --size 384x384 --tile 384 --steps 1 --seed 1
    check "nothing is written when refused under ulimit -v" [ ! -e "$TMP/as.png" ]
    restore_ddim
else
    echo "# a small run fails under ulimit -v $AS_LIMIT (sanitizers, many threads): address-space test skipped"
fi

# A size past a limit is refused naming that limit and its value (the side
# cap, or the pixel cap), tiled or not.
expect_failure "a 20000-pixel width names the side cap" \
    "20000x16: a 20000.16 image is too large: its width, 20000 pixels, is more than the 16384 pixels a side allowed$" \
    generate "$MODEL" -o "$TMP/big.png" --size 20000x16
expect_failure "16384x16384 tiled names the pixel cap" \
    "its 268435456 pixels are more than the 67108864 .8192.8192. allowed in all$" \
    generate "$MODEL" -o "$TMP/big.png" --size 16384x16384 --tile 16

tap_done
