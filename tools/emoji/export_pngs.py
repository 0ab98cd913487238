#!/usr/bin/python3
"""Write emoji of the prepared data set as 32x32 RGBA PNGs (straight alpha),
for `ddim reconstruct` and the result tables.

    /usr/bin/python3 tools/emoji/export_pngs.py [--data NPZ] [--split heldout|train]
                                                 [--count N] OUT_DIR

The first N images of the split in file-name order (the split is fixed by a
hash of the file name, see prepare_data.py), so the selection is reproducible.
"""
import argparse
import os

import numpy as np
from PIL import Image


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.expanduser("~/.cache/ddim-emoji/emoji32.npz"))
    parser.add_argument("--split", default="heldout", choices=["heldout", "train"])
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("out_dir")
    args = parser.parse_args()
    data = np.load(args.data)
    images, names = data[args.split], data[args.split + "_names"]
    order = np.argsort(names)[: args.count]
    os.makedirs(args.out_dir, exist_ok=True)
    for index in order:
        premultiplied = images[index].astype(np.float64) / 255.0
        alpha = premultiplied[..., 3:4]
        rgb = np.where(alpha > 0, premultiplied[..., :3] / np.maximum(alpha, 1e-12), 0.0)
        rgba = np.concatenate([np.clip(rgb, 0, 1), alpha], axis=-1)
        name = os.path.splitext(os.path.basename(str(names[index])))[0]
        Image.fromarray(np.round(rgba * 255).astype(np.uint8), "RGBA").save(
            os.path.join(args.out_dir, f"{name}.png"))
    print(f"wrote {len(order)} images to {args.out_dir}")


if __name__ == "__main__":
    main()
