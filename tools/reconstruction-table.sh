#!/bin/bash
# DDIM Table 2 on our own model: per-dimension reconstruction MSE on [0, 1]
# (encode with S steps, decode with S steps, eta 0) for each S, averaged over
# the given images, printed as a Markdown table with the command that made it.
#   usage: tools/reconstruction-table.sh MODEL IMAGE... [-- STEPS...]
#   env:   DDIM (default build/cli/ddim), SCHEDULE (default uniform)
set -euo pipefail
DDIM=${DDIM:-build/cli/ddim}
SCHEDULE=${SCHEDULE:-uniform}
model=$1
shift
images=()
while (($#)) && [ "$1" != "--" ]; do images+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
steps=("$@")
((${#steps[@]})) || steps=(10 20 50 100 200)
((${#images[@]})) || { echo "usage: $0 MODEL IMAGE... [-- STEPS...]" >&2; exit 1; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
header="| S |"
rule="|---|"
mse_row="| MSE |"
psnr_row="| PSNR (dB) |"
seconds_row="| seconds per image |"
for s in "${steps[@]}"; do
  total=0
  start=$(date +%s.%N)
  for image in "${images[@]}"; do
    line=$("$DDIM" reconstruct "$model" "$image" -o "$scratch/out.npy" --steps "$s" \
             --schedule "$SCHEDULE" | tail -n 1)
    mse=${line#mse=}
    mse=${mse%% *}
    total=$(awk -v a="$total" -v b="$mse" 'BEGIN { printf "%.10g", a + b }')
  done
  end=$(date +%s.%N)
  mean=$(awk -v t="$total" -v n="${#images[@]}" 'BEGIN { printf "%.6f", t / n }')
  psnr=$(awk -v m="$mean" 'BEGIN { printf "%.2f", 10 * log(1 / m) / log(10) }')
  secs=$(awk -v a="$start" -v b="$end" -v n="${#images[@]}" 'BEGIN { printf "%.2f", (b - a) / n }')
  header+=" $s |"
  rule+="---|"
  mse_row+=" $mean |"
  psnr_row+=" $psnr |"
  seconds_row+=" $secs |"
done
echo "$header"
echo "$rule"
echo "$mse_row"
echo "$psnr_row"
echo "$seconds_row"
echo
echo "${#images[@]} input file(s), schedule $SCHEDULE, eta 0, no clipping (reconstruct never clips unless --clip is given); command:"
echo "\`tools/reconstruction-table.sh $model ${images[*]} -- ${steps[*]}\`"
