#!/bin/bash
# gimp-tests.sh — the GIMP plug-in's tests in real GIMP 3.
#
# Builds (or reuses) a Debian 13 root with GIMP 3 (tools/gimp-root.sh), copies
# this source tree into it, builds and installs the plug-in there with meson,
# and drives it with gimp-console-3.0 in Script-Fu batch mode, with named
# arguments (tests/gimp/run-in-root.sh and the .scm files beside it).  The
# dialog test runs under Xvfb and saves a screenshot of every dialog in
# English, German and French.
#
#   tools/gimp-tests.sh [--update-screenshots]
#
#   --update-screenshots   copy the dialog screenshots into docs/screenshots/
#   DDIM_GIMP_ROOT         the root (default /var/cache/ddim/trixie-root)
#   DDIM_GIMP_OUT          where logs and screenshots go (default build-gimp-tests/)
#   DDIM_GIMP_DIALOGS=0    skip the dialog test
#   DDIM_GIMP_STAGES="kill malformed"  run only these stages of run-in-root.sh
#
# Runs as root (re-runs itself with sudo).  Exit status 0 when every test passed.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD

UPDATE_SCREENSHOTS=0
for arg in "$@"; do
  case $arg in
    --update-screenshots) UPDATE_SCREENSHOTS=1 ;;
    *) echo "usage: tools/gimp-tests.sh [--update-screenshots]" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  exec sudo --preserve-env=DDIM_GIMP_ROOT,DDIM_MIRROR,DDIM_GIMP_OUT,DDIM_GIMP_DIALOGS,DDIM_GIMP_STAGES "$0" "$@"
fi

# One run at a time: runs share the root and its work folder.
exec 9>/var/lock/ddim-gimp-tests.lock
flock 9

start=$SECONDS
ROOT=$(tools/gimp-root.sh | tail -1)
root_seconds=$((SECONDS - start))
OUT=${DDIM_GIMP_OUT:-$SRC/build-gimp-tests}
WORK=/var/tmp/ddim-gimp-tests # inside the root

. tools/gimp-mounts.sh

# The source tree: tracked and new files (not what .gitignore leaves out),
# or everything but build folders outside a git checkout.
rm -rf "${ROOT:?}$WORK"
mkdir -p "$ROOT$WORK/src"
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$SRC" ls-files -co --exclude-standard -z |
    tar -C "$SRC" --null --ignore-failed-read -T - -cf - 2>/dev/null |
    tar -C "$ROOT$WORK/src" -xf -
else
  tar -C "$SRC" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$ROOT$WORK/src" -xf -
fi

# GIMP, Xvfb and GLib want /proc; Xvfb and GEGL want /dev/shm.
mount_in_root proc proc /proc
mount_in_root devpts devpts /dev/pts
mount_in_root tmpfs tmpfs /dev/shm

status=0
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  DDIM_GIMP_DIALOGS="${DDIM_GIMP_DIALOGS:-1}" DDIM_GIMP_STAGES="${DDIM_GIMP_STAGES:-}" \
  /bin/bash "$WORK/src/tests/gimp/run-in-root.sh" "$WORK" || status=$?

rm -rf "$OUT"
mkdir -p "$OUT"
cp -r "$ROOT$WORK/out/." "$OUT/" 2>/dev/null || true
if [ "$UPDATE_SCREENSHOTS" = 1 ] && compgen -G "$OUT/screenshots/*.png" >/dev/null; then
  mkdir -p docs/screenshots
  cp "$OUT"/screenshots/*.png docs/screenshots/
  echo "gimp-tests: screenshots copied to docs/screenshots/"
fi
# Run through sudo: give the results back to the user.
if [ -n "${SUDO_UID:-}" ]; then
  chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$OUT"
  [ "$UPDATE_SCREENSHOTS" = 1 ] && chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" docs/screenshots
fi
echo "gimp-tests: root $root_seconds s, total $((SECONDS - start)) s; logs in $OUT"
exit $status
