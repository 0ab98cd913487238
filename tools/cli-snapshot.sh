#!/bin/bash
# cli-snapshot.sh DDIM OUT_DIR — every workflow of the ddim command on the
# test fixtures, its outputs and printed lines kept in OUT_DIR, so that two
# builds can be compared file by file (a refactoring must not change a bit):
#
#   tools/cli-snapshot.sh old-build/cli/ddim /tmp/old
#   tools/cli-snapshot.sh build/cli/ddim /tmp/new
#   diff -r /tmp/old /tmp/new && echo identical
set -euo pipefail
DDIM=${1:?usage: cli-snapshot.sh DDIM OUT_DIR}
OUT=${2:?usage: cli-snapshot.sh DDIM OUT_DIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
FIX=$HERE/tests/fixtures
MODEL=$FIX/google_f32
GRAY=$FIX/gray_pipeline
mkdir -p "$OUT"
cd "$OUT"
export LC_ALL=C
unset DDIM_MODEL

# run NAME ARGS...: the command's stdout and status go to NAME.log (stderr
# too, without the progress bar, which only a terminal sees).
run() {
  local name=$1
  shift
  local status=0
  "$DDIM" "$@" >"$name.log" 2>"$name.err" || status=$?
  echo "status $status" >>"$name.log"
}

run gen generate "$MODEL" -o gen.png --steps 4 --seed 5
run gen-count generate "$MODEL" -o gen-count.npy --count 5 --steps 3 --seed 2 --save-xt gen-xt.npy
run gen-xt generate "$MODEL" --xt gen-xt.npy -o gen-from-xt.npy --steps 3
run gen-eta generate "$MODEL" -o gen-eta.npy --count 3 --steps 4 --eta 1 --seed 9 --clip
run gen-small-memory generate "$MODEL" -o gen-mem.npy --count 6 --steps 2 --seed 3 --max-memory 3M
run gen-tiled generate "$MODEL" -o gen-tiled.npy --size 40x28 --steps 3 --seed 4
run gen-size generate "$MODEL" -o gen-size.png --size 8x12 --steps 3 --seed 4 --schedule quadratic
run gen-gray generate "$GRAY" -o gen-gray.npy --count 2 --steps 3 --seed 1
run gen-preview generate "$MODEL" -o gen-preview.png --steps 4 --seed 5 --preview-every 2 \
  --preview 'prev-%02d.png'
run encode encode "$MODEL" gen.png -o enc.npy --steps 5
run encode-batch encode "$MODEL" gen-count.npy -o enc-batch.npy --steps 4 --strength 0.6
run decode decode "$MODEL" enc.npy -o dec.npy --steps 5
run decode-strength decode "$MODEL" enc-batch.npy -o dec-batch.npy --steps 4 --strength 0.6
run reconstruct reconstruct "$MODEL" gen.png -o rec.png --steps 5
run reconstruct-batch reconstruct "$MODEL" gen-count.npy -o rec-batch.npy --steps 3
run reconstruct-tiled reconstruct "$MODEL" gen-tiled.npy -o rec-tiled.npy --steps 3
run vary vary "$MODEL" gen.png -o vary.png --strength 0.4 --steps 5 --seed 3 --eta 0.5
run vary-batch vary "$MODEL" gen-count.npy -o vary-batch.npy --strength 0.5 --steps 4 --seed 8
run interpolate interpolate "$MODEL" gen.png rec.png -o 'interp-%d.png' --frames 4 --steps 4
run interpolate-npy interpolate "$MODEL" gen.png vary.png -o interp.npy --frames 3 --steps 3
# Masks: a left/right split as a .npy (1, H, W).
"$DDIM" eps "$MODEL" "$FIX/google_f32/x.npy" --timestep 37 -o eps.npy >eps.log 2>&1 || true
python3 - <<'PY'
import struct
h = w = 16
values = [1.0 if x >= 8 else 0.0 for y in range(h) for x in range(w)]
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 16, 16), }"
header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
with open("mask.npy", "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<%df" % len(values), *values))
PY
run gen-mask generate "$MODEL" -o gen-mask.npy --count 3 --steps 4 --seed 6 --mask mask.npy \
  --image gen.png
run gen-mask-inversion generate "$MODEL" -o gen-mask-inv.npy --count 2 --steps 4 --seed 6 \
  --mask mask.npy --image gen.png --mask-keep inversion
run decode-mask decode "$MODEL" enc.npy -o dec-mask.npy --steps 5 --seed 4 --mask mask.npy \
  --image vary.png
run vary-mask vary "$MODEL" gen.png -o vary-mask.npy --strength 0.7 --steps 4 --seed 2 \
  --mask mask.npy --mask-keep inversion
run vary-mask-batch vary "$MODEL" gen-count.npy -o vary-mask-batch.npy --strength 0.7 --steps 4 \
  --seed 2 --mask mask.npy
run convert convert "$MODEL" -o converted
# Refusals (their messages are in the .err files).
run refuse-memory generate "$MODEL" -o never.png --steps 2 --max-memory 10K
run refuse-frames interpolate "$MODEL" gen.png rec.png -o never.npy --frames 1
echo "cli-snapshot: $(ls | wc -l) files in $OUT"
