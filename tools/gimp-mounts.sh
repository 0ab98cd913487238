# Sourced by tools/gimp-root.sh and tools/gimp-tests.sh: mounts inside the
# Debian 13 root at $ROOT, undone in reverse order when the script exits.
MOUNTED=()
cleanup() {
  local i
  for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTED[$i]}" 2>/dev/null || umount -l "${MOUNTED[$i]}" 2>/dev/null || true
  done
}
trap cleanup EXIT INT TERM

mount_in_root() { # TYPE SOURCE TARGET (where mounting is not allowed, go on without)
  mountpoint -q "$ROOT$3" && return 0
  mkdir -p "$ROOT$3"
  if mount -t "$1" "$2" "$ROOT$3"; then
    MOUNTED+=("$ROOT$3")
  else
    echo "gimp: could not mount $1 on $ROOT$3; going on without it" >&2
  fi
}
