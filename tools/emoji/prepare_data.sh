#!/bin/sh
# Fetch the emoji-datasource image packages (pinned) and build emoji32.npz.
#
# Usage: tools/emoji/prepare_data.sh [CACHE_DIR]
#   CACHE_DIR defaults to $DDIM_EMOJI_CACHE, else $HOME/.cache/ddim-emoji.
#   Needs npm (only for "npm pack") and /usr/bin/python3 with numpy and PIL.
#
# The data never goes into git: everything is written under CACHE_DIR:
#   CACHE_DIR/npm/emoji-datasource-{twitter,google}-VERSION.tgz   (npm tarballs)
#   CACHE_DIR/emoji32.npz                                          (training data)
# Licences of the images: see models/README.md.
set -eu

VERSION=16.0.0
# dist.integrity of the two tarballs on the npm registry (sha512, base64).
SHA512_TWITTER='7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ=='
SHA512_GOOGLE='ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A=='

CACHE=${1:-${DDIM_EMOJI_CACHE:-$HOME/.cache/ddim-emoji}}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-/usr/bin/python3}

mkdir -p "$CACHE/npm"

check() { # file expected-sha512-base64
    got=$(openssl dgst -sha512 -binary "$1" | base64 -w0)
    [ "$got" = "$2" ]
}

for set in twitter google; do
    tgz="$CACHE/npm/emoji-datasource-$set-$VERSION.tgz"
    if [ "$set" = twitter ]; then want=$SHA512_TWITTER; else want=$SHA512_GOOGLE; fi
    if [ -f "$tgz" ] && check "$tgz" "$want"; then
        echo "have $tgz"
    else
        echo "npm pack emoji-datasource-$set@$VERSION"
        (cd "$CACHE/npm" && npm pack --silent "emoji-datasource-$set@$VERSION" >/dev/null)
        if ! check "$tgz" "$want"; then
            echo "error: $tgz does not match the pinned sha512" >&2
            exit 1
        fi
    fi
done

exec "$PY" "$HERE/prepare_data.py" \
    --twitter "$CACHE/npm/emoji-datasource-twitter-$VERSION.tgz" \
    --google "$CACHE/npm/emoji-datasource-google-$VERSION.tgz" \
    --version "$VERSION" \
    --out "$CACHE/emoji32.npz"
