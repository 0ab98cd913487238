#!/usr/bin/python3
"""Build emoji32.npz from the emoji-datasource-{twitter,google} npm tarballs.

Called by prepare_data.sh (which fetches and checks the pinned tarballs).

For every 64x64 PNG in package/img/<set>/64/ of each tarball:
  * PIL convert("RGBA") (the files are palette PNGs with transparency),
  * premultiply colour by alpha (in float, exact: c * a / 255),
  * box-downsample 2x2 -> 32x32 (average of the four premultiplied pixels),
    so fully transparent pixels contribute no colour to the edge pixels,
  * round to uint8.  The result is premultiplied RGBA: R,G,B <= A everywhere.

Held-out split: fixed, chosen from a hash of the image file name only
(e.g. "1f600.png"), so it does not depend on RNG state, on file order, or on
the package version, and the Twitter and Google renditions of one emoji are
always on the same side.  About 5 % of the names are held out.

Output arrays (np.savez_compressed):
  train, heldout                 uint8 [N, 32, 32, 4] premultiplied RGBA
  train_names, heldout_names     file names ("1f600.png")
  train_source, heldout_source   "twitter" or "google"
  train_category, heldout_category  emoji.json category ("Smileys & Emotion")
  meta                           JSON string: packages, versions, recipe
"""

import argparse
import hashlib
import io
import json
import sys
import tarfile

import numpy as np
from PIL import Image

SETS = ("twitter", "google")
SPLIT_SALT = "ddim-emoji-heldout-v1:"
HELDOUT_PERCENT = 5


def is_heldout(name):
    """Deterministic 5 % split from the file name."""
    h = hashlib.sha256((SPLIT_SALT + name).encode("utf-8")).digest()
    return int.from_bytes(h[:8], "little") % 100 < HELDOUT_PERCENT


def to_premultiplied_32(png_bytes, name):
    im = Image.open(io.BytesIO(png_bytes))
    im.load()
    im = im.convert("RGBA")
    a = np.asarray(im, dtype=np.float64)            # H, W, 4 in 0..255
    if a.shape[:2] != (64, 64):
        raise ValueError("%s: expected 64x64, got %r" % (name, a.shape[:2]))
    p = a.copy()
    p[..., :3] = a[..., :3] * (a[..., 3:4] / 255.0)  # premultiply
    p = p.reshape(32, 2, 32, 2, 4).mean(axis=(1, 3))  # 2x2 box filter
    out = np.clip(np.rint(p), 0, 255).astype(np.uint8)
    # Same rounding on colour and alpha keeps colour <= alpha; guard anyway.
    out[..., :3] = np.minimum(out[..., :3], out[..., 3:4])
    return out


def read_set(tgz_path, set_name):
    prefix = "package/img/%s/64/" % set_name
    images, names, categories = [], [], []
    with tarfile.open(tgz_path, "r:gz") as tf:
        cat_of = {}
        meta = tf.extractfile("package/emoji.json")
        for e in json.load(meta):
            cat_of[e["image"]] = e["category"]
            for v in (e.get("skin_variations") or {}).values():
                cat_of[v["image"]] = e["category"]
        members = [m for m in tf.getmembers()
                   if m.isfile() and m.name.startswith(prefix)
                   and m.name.endswith(".png") and "/" not in m.name[len(prefix):]]
        members.sort(key=lambda m: m.name)
        for m in members:
            name = m.name[len(prefix):]
            images.append(to_premultiplied_32(tf.extractfile(m).read(), name))
            names.append(name)
            categories.append(cat_of.get(name, ""))
    return images, names, categories


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--twitter", required=True, help="emoji-datasource-twitter .tgz")
    ap.add_argument("--google", required=True, help="emoji-datasource-google .tgz")
    ap.add_argument("--version", required=True, help="package version (recorded in meta)")
    ap.add_argument("--out", required=True, help="output .npz")
    args = ap.parse_args()

    split = {"train": ([], [], [], []), "heldout": ([], [], [], [])}
    for set_name, path in (("twitter", args.twitter), ("google", args.google)):
        imgs, names, cats = read_set(path, set_name)
        n_h = 0
        for img, name, cat in zip(imgs, names, cats):
            key = "heldout" if is_heldout(name) else "train"
            n_h += key == "heldout"
            for lst, v in zip(split[key], (img, name, set_name, cat)):
                lst.append(v)
        print("%-8s %5d images (%d train, %d held out)"
              % (set_name, len(imgs), len(imgs) - n_h, n_h))

    meta = {
        "packages": {"emoji-datasource-%s" % s: args.version for s in SETS},
        "licences": {"twitter": "Twemoji graphics, CC-BY 4.0",
                     "google": "Noto Emoji, Apache License 2.0"},
        "source_folder": "package/img/<set>/64/",
        "format": "uint8 RGBA, premultiplied alpha, 32x32, 2x2 box filter of "
                  "the 64x64 PNGs in premultiplied space",
        "split": "heldout iff sha256('%s' + file_name)[:8] as little-endian "
                 "uint64 %% 100 < %d" % (SPLIT_SALT, HELDOUT_PERCENT),
    }
    out = {}
    for key, (imgs, names, srcs, cats) in split.items():
        out[key] = np.stack(imgs) if imgs else np.zeros((0, 32, 32, 4), np.uint8)
        out[key + "_names"] = np.array(names, dtype=str)
        out[key + "_source"] = np.array(srcs, dtype=str)
        out[key + "_category"] = np.array(cats, dtype=str)
    out["meta"] = np.array(json.dumps(meta, sort_keys=True))

    tmp = args.out + ".tmp.npz"
    np.savez_compressed(tmp, **out)
    import os
    os.replace(tmp, args.out)
    n_t, n_h = len(out["train"]), len(out["heldout"])
    print("total    %5d images: %d train, %d held out (%.2f %%)"
          % (n_t + n_h, n_t, n_h, 100.0 * n_h / max(1, n_t + n_h)))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
