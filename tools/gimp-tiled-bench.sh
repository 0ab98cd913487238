#!/bin/bash
# gimp-tiled-bench.sh [SIZE] [STEPS] — times Filters ▸ DDIM ▸ Reconstruct on a
# SIZE×SIZE RGB layer (default 1024, 20 steps) in GIMP 3 headless, at the
# layer's native resolution with the default model, as issue 7 asks: the
# procedure call's wall time, the peak memory of the plug-in process and of
# GIMP, and the new layer's name (steps and PSNR).
#
# The picture is tools/tiling-measure.py's (held-out emoji ×4 on white; needs
# /usr/bin/python3 with numpy and Pillow and ~/.cache/ddim-emoji).  The plug-in
# is built from this tree and installed into the Debian 13 root first
# (tools/gimp-tests.sh with no test stage).  It uses both cores: pause other
# work while it runs.
#
#   sudo tools/gimp-tiled-bench.sh 1024 20
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1024}
STEPS=${2:-20}
[ "$(id -u)" -eq 0 ] || exec sudo "$0" "$@"

DDIM_GIMP_STAGES=none DDIM_GIMP_DIALOGS=0 tools/gimp-tests.sh >/dev/null
ROOT=$(tools/gimp-root.sh | tail -1)
WORK=/var/tmp/ddim-gimp-bench
rm -rf "${ROOT:?}$WORK"
mkdir -p "$ROOT$WORK"
/usr/bin/python3 tools/tiling-measure.py image "$ROOT$WORK/in.png" "$SIZE"

. tools/gimp-mounts.sh
mount_in_root proc proc /proc
mount_in_root tmpfs tmpfs /dev/shm

cat >"$ROOT$WORK/bench.scm" <<SCHEME
(script-fu-use-v3)
(let* ((image (gimp-file-load RUN-NONINTERACTIVE "$WORK/in.png"))
       (layer (vector-ref (gimp-image-get-layers image) 0))
       (start (realtime))
       (result (plug-in-ddim-reconstruct #:image image #:drawables (vector layer)
                                         #:steps $STEPS))
       (seconds (- (realtime) start))
       (new (car result)))
  (gimp-message (string-append "bench: " (number->string (gimp-drawable-get-width new)) "x"
                               (number->string (gimp-drawable-get-height new))
                               " layer \"" (gimp-item-get-name new) "\", procedure call "
                               (number->string seconds) " s")))
SCHEME

# Peak resident memory (VmHWM) of the plug-in process and of GIMP, polled.
peak_of() { # PATTERN
  local best=0 kb pid
  for pid in $(pgrep -f "$1" || true); do
    kb=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status" 2>/dev/null || true)
    if [ -n "$kb" ] && [ "$kb" -gt "$best" ]; then best=$kb; fi
  done
  echo "$best"
}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
(
  plugin=0 gimp=0
  while sleep 0.5; do
    p=$(peak_of "plug-ins/ddim/ddim")
    g=$(peak_of "gimp-console-3.0")
    if [ "$p" -gt "$plugin" ]; then plugin=$p; fi
    if [ "$g" -gt "$gimp" ]; then gimp=$g; fi
    echo "$plugin $gimp" >"$ROOT$WORK/peak"
  done
) &
poller=$!
start=$(date +%s.%N)
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  GIMP3_DIRECTORY="$WORK/config" gimp-console-3.0 -i --quit \
  --batch-interpreter=plug-in-script-fu-eval -b "(load \"$WORK/bench.scm\")" \
  >"$ROOT$WORK/gimp.log" 2>&1 || echo "gimp-console failed (see $ROOT$WORK/gimp.log)"
end=$(date +%s.%N)
kill "$poller" 2>/dev/null || true
read -r plugin_kb gimp_kb <"$ROOT$WORK/peak" || true
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
grep -o 'bench:.*' "$ROOT$WORK/gimp.log" || tail -5 "$ROOT$WORK/gimp.log"
awk -v s="$start" -v e="$end" -v p="${plugin_kb:-0}" -v g="${gimp_kb:-0}" 'BEGIN {
  printf "gimp-console from start to exit: %.1f s; peak memory: plug-in %d MiB, GIMP %d MiB\n",
         e - s, p / 1024, g / 1024 }'
