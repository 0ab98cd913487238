#!/bin/bash
# gimp-root.sh — build (or reuse) a Debian 13 "trixie" root that has GIMP 3,
# its plug-in development files and what the plug-in tests need.
#
# Debian 12 ships only GIMP 2.10, and GIMP 3 cannot be installed on it (it
# needs a newer libc), so the GIMP tests run inside a trixie root made with
# debootstrap.  Run as root (or it re-runs itself with sudo).
#
#   DDIM_GIMP_ROOT   where the root lives (default /var/cache/ddim/trixie-root)
#   DDIM_MIRROR      Debian archive URI (default: the one apt uses on this host)
#
# The root is reused when it is complete (a stamp file records the package
# list); otherwise what is missing is installed.  /proc and /dev/pts are
# mounted only while apt runs and unmounted on exit.  Prints the root's path
# as its last line.
set -euo pipefail

ROOT=${DDIM_GIMP_ROOT:-/var/cache/ddim/trixie-root}
PACKAGES=(gimp libgimp-3.0-dev meson ninja-build gcc libc6-dev pkg-config gettext
          libglib2.0-dev libjson-glib-dev libopenblas-dev libopenblas-openmp-dev libpng-dev
          xvfb xauth xdotool imagemagick locales)
# Locales the translation tests switch to.
LOCALES=(en_US.UTF-8 de_DE.UTF-8 fr_FR.UTF-8)
STAMP_VERSION=2

log() { echo "gimp-root: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  exec sudo --preserve-env=DDIM_GIMP_ROOT,DDIM_MIRROR "$0" "$@"
fi

# The archive apt already uses here: deb822 sources first, then sources.list.
find_mirror() {
  local uri=""
  if [ -n "${DDIM_MIRROR:-}" ]; then
    echo "$DDIM_MIRROR"
    return
  fi
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
          "$file")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
          /etc/apt/sources.list)
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

STAMP="$ROOT/.ddim-gimp-root"
WANT="version=$STAMP_VERSION packages=${PACKAGES[*]} locales=${LOCALES[*]}"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$ROOT/usr/bin/gimp-console-3.0" ]; then
  log "reusing $ROOT"
  echo "$ROOT"
  exit 0
fi

mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
flock 9

. "$(cd "$(dirname "$0")" && pwd)/gimp-mounts.sh"

MIRROR=$(find_mirror)
if [ ! -f "$ROOT/.ddim-debootstrap-done" ]; then
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
  }
  case $ROOT in /|/*/) log "refusing to replace $ROOT"; exit 1 ;; esac
  # Left over from an interrupted run: nothing may stay mounted inside.
  awk -v root="$ROOT/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r point; do umount -l "$point"; done
  rm -rf "$ROOT"
  log "debootstrap --variant=minbase trixie $ROOT $MIRROR"
  start=$SECONDS
  debootstrap --variant=minbase trixie "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 || {
    tail -20 "$ROOT.debootstrap.log" >&2
    exit 1
  }
  touch "$ROOT/.ddim-debootstrap-done"
  log "debootstrap took $((SECONDS - start)) s"
fi

mount_in_root proc proc /proc
mount_in_root devpts devpts /dev/pts

# apt inside the root; no daemons may start.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod +x "$ROOT/usr/sbin/policy-rc.d"
echo "deb $MIRROR trixie main" >"$ROOT/etc/apt/sources.list"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true

start=$SECONDS
log "installing ${PACKAGES[*]}"
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" >/dev/null' \
  apt-install "${PACKAGES[@]}"
log "apt-get install took $((SECONDS - start)) s"

: >"$ROOT/etc/locale.gen"
for locale in "${LOCALES[@]}"; do echo "$locale UTF-8" >>"$ROOT/etc/locale.gen"; done
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin locale-gen >/dev/null
chroot "$ROOT" apt-get clean

echo "$WANT" >"$STAMP"
log "ready: $(chroot "$ROOT" gimp-console-3.0 --version 2>/dev/null | head -1)"
echo "$ROOT"
