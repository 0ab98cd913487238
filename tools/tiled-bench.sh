#!/bin/bash
# tiled-bench.sh DDIM MODEL SIZE [STEPS] [THREADS] — times a tiled
# reconstruction of a SIZE×SIZE RGB picture (tools/tiling-measure.py image:
# held-out emoji scaled ×4 on white) at native resolution, as GIMP's
# Reconstruct runs it: wall time, peak memory (VmHWM via /usr/bin/time),
# the PSNR, the number of 32×32 tile evaluations and the load average, since
# the development machine is shared.  Example (docs/tiling.md):
#   tools/tiled-bench.sh build/cli/ddim /tmp/emoji32-now 1024 20 2
set -euo pipefail
DDIM=${1:?usage: tiled-bench.sh DDIM MODEL SIZE [STEPS] [THREADS]}
MODEL=${2:?model}
SIZE=${3:?size}
STEPS=${4:-20}
THREADS=${5:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
/usr/bin/python3 "$HERE/tiling-measure.py" image "$TMP/in.png" "$SIZE"
TILE=$("$DDIM" info "$MODEL" | sed -n 's/^resolution: *\([0-9]*\)x.*/\1/p')
STRIDE=$((TILE - TILE / 4))
PER_AXIS=$((SIZE <= TILE ? 1 : 1 + (SIZE - TILE + STRIDE - 1) / STRIDE))
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -v "$DDIM" reconstruct "$MODEL" "$TMP/in.png" -o "$TMP/out.png" --steps "$STEPS" \
  --threads "$THREADS" >"$TMP/stdout" 2>"$TMP/time"
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
WALL=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$TMP/time")
RSS=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/time")
echo "${SIZE}x${SIZE}, $STEPS steps, $THREADS threads: $((PER_AXIS * PER_AXIS)) tiles of ${TILE}x${TILE}" \
     "x $((2 * STEPS)) evaluations = $((PER_AXIS * PER_AXIS * 2 * STEPS)) tile evaluations"
echo "wall $WALL, peak memory $((RSS / 1024)) MiB, $(tail -1 "$TMP/stdout")"
