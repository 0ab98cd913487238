#!/usr/bin/python3
"""Measurements of tiled and masked DDIM with the `ddim` command (docs/tiling.md).

  tools/tiling-measure.py image OUT.png SIZE [--rgba]
      a SIZE×SIZE opaque test picture: held-out emoji of the training set
      (~/.cache/ddim-emoji/emoji32.npz), each scaled ×4 (bicubic), on white
  tools/tiling-measure.py crops DDIM MODEL IMAGE.png --steps S [--tile T]
      reconstruction PSNR of the whole image, tiled, and of its T×T crops,
      each reconstructed untiled (one batch)
  tools/tiling-measure.py closed DDIM MODEL IMAGE.png --steps S [--size N] [--offset K]
      on the N×N square at (K, K) of the picture (default 128, 0): the PSNR of
      the engine's tiled reconstruction (MultiDiffusion), of its untiled T×T
      crops, and of two closed-tile round trips over the engine's tile layout
      (¼ overlap): every tile inverted and decoded on its own, the decodes
      blended with the engine's weights; and the same tiles decoded from the
      blend of their latents.  Also the mean squared error of the tiled and
      crop reconstructions where one tile covers a pixel and where tiles overlap.
  tools/tiling-measure.py mask DDIM MODEL IMAGE.png --steps S --strength F
      masked vary with --mask-keep inversion and forward: the gradient step
      at the mask border (mean |∇| in the feather band / away from it) and the
      PSNR of the regenerated region against the original, next to the naive
      composite of an unmasked variation

Needs numpy and Pillow (/usr/bin/python3 on the development machine).
Images are opaque, so model space is x = 2p − 1 for every channel.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image


def to_model(path, channels):
    rgba = np.asarray(Image.open(path).convert("RGBA"), dtype=np.float32) / 255.0
    planes = rgba[..., :channels] if channels != 1 else rgba[..., :3].mean(-1, keepdims=True)
    return (2.0 * planes - 1.0).transpose(2, 0, 1).copy()


def model_channels(ddim, model):
    info = subprocess.run([ddim, "info", model], capture_output=True, text=True, check=True).stdout
    channels = int(re.search(r"channels:\s+(\d+) in", info).group(1))
    size = int(re.search(r"resolution:\s+(\d+)x", info).group(1))
    return channels, size


THREADS = []


def save_png(path, x):
    """Writes a model-space (C, H, W) image as an 8-bit RGB PNG (opaque images)."""
    rgb = x[:3] if x.shape[0] >= 3 else np.repeat(x[:1], 3, 0)
    pixels = np.clip((rgb.transpose(1, 2, 0) + 1.0) / 2.0, 0.0, 1.0)
    Image.fromarray((pixels * 255.0 + 0.5).astype(np.uint8)).save(path)


def run(ddim, *args):
    result = subprocess.run([ddim, *args, *THREADS], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"ddim {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def psnr(a, b):
    mse = np.mean(((a - b) / 2.0) ** 2)
    return 10 * np.log10(1.0 / mse)


def make_image(out, size):
    data = np.load(os.path.expanduser("~/.cache/ddim-emoji/emoji32.npz"))
    emoji = data["heldout"]
    canvas = Image.new("RGB", (size, size), "white")
    cell = 128
    k = 0
    for y in range(0, size, cell):
        for x in range(0, size, cell):
            tile = Image.fromarray(emoji[(7 * k) % len(emoji)]).resize((cell, cell), Image.BICUBIC)
            canvas.paste(tile, (x, y), tile)
            k += 1
    canvas.save(out)


def crops(args):
    channels, native = model_channels(args.ddim, args.model)
    tile = args.tile or native
    x = to_model(args.image, channels)
    c, h, w = x.shape
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/full.npy", x[None])
        out = run(args.ddim, "reconstruct", args.model, f"{tmp}/full.npy", "-o", f"{tmp}/full-out.npy",
                  "--steps", str(args.steps))
        tiled = float(re.search(r"psnr=([\d.]+)", out).group(1))
        if args.save:
            save_png(f"{args.save}-tiled.png", np.load(f"{tmp}/full-out.npy")[0])
        pieces = [x[:, i:i + tile, j:j + tile] for i in range(0, h - tile + 1, tile)
                  for j in range(0, w - tile + 1, tile)]
        np.save(f"{tmp}/crops.npy", np.stack(pieces))
        out = run(args.ddim, "reconstruct", args.model, f"{tmp}/crops.npy", "-o", f"{tmp}/crops-out.npy",
                  "--steps", str(args.steps))
        cropped = float(re.search(r"psnr=([\d.]+)", out).group(1))
        if args.save:
            back = np.load(f"{tmp}/crops-out.npy")
            whole = x.copy()
            k = 0
            for i in range(0, h - tile + 1, tile):
                for j in range(0, w - tile + 1, tile):
                    whole[:, i:i + tile, j:j + tile] = back[k]
                    k += 1
            save_png(f"{args.save}-crops.png", whole)
    print(f"{w}x{h}, {args.steps} steps: tiled PSNR {tiled:.2f} dB; {len(pieces)} untiled "
          f"{tile}x{tile} crops {cropped:.2f} dB")


def tile_layout(length, tile):
    """core/sampling/tiles.c's layout on one axis: n = 1 + ceil((L - T) / (T - o)) tiles,
    o = T / 4, spread evenly; and each tile's weight profile (sin² ramps over
    the strip it shares with a neighbour, at most half a tile)."""
    overlap = tile // 4
    n = 1 if length <= tile else 1 + (length - tile + (tile - overlap) - 1) // (tile - overlap)
    origins = [0] * n if n == 1 else [(2 * i * (length - tile) + (n - 1)) // (2 * (n - 1)) for i in range(n)]

    def ramp(d, width):
        return 1.0 if width <= 0 or d >= width else np.sin(np.pi / 2 * (d + 0.5) / width) ** 2

    weights = []
    for i in range(n):
        before = min(origins[i - 1] + tile - origins[i], tile // 2) if i > 0 else 0
        after = min(origins[i] + tile - origins[i + 1], tile // 2) if i < n - 1 else 0
        weights.append(np.array([ramp(d, before) * ramp(tile - 1 - d, after) for d in range(tile)]))
    return origins, weights


def closed_tiles(args):
    channels, native = model_channels(args.ddim, args.model)
    tile = args.tile or native
    full = to_model(args.image, channels)
    k, n = args.offset, args.size
    x = full[:, k:k + n, k:k + n].copy()
    origins, weights = tile_layout(n, tile)
    boxes = [(oy, ox, np.outer(wy, wx)) for oy, wy in zip(origins, weights)
             for ox, wx in zip(origins, weights)]

    def cut(image):
        return np.stack([image[:, oy:oy + tile, ox:ox + tile] for oy, ox, _ in boxes])

    def blend(stack):
        total, norm = np.zeros_like(x), np.zeros(x.shape[1:])
        for (oy, ox, w), t in zip(boxes, stack):
            total[:, oy:oy + tile, ox:ox + tile] += w * t
            norm[oy:oy + tile, ox:ox + tile] += w
        return total / norm

    steps = ["--steps", str(args.steps)]
    with tempfile.TemporaryDirectory() as tmp:
        def file(name):
            return os.path.join(tmp, name)
        np.save(file("x.npy"), x[None])
        run(args.ddim, "reconstruct", args.model, file("x.npy"), "-o", file("tiled.npy"), *steps)
        tiled = np.load(file("tiled.npy"))[0]
        crops = [x[:, i:i + tile, j:j + tile] for i in range(0, n - tile + 1, tile)
                 for j in range(0, n - tile + 1, tile)]
        np.save(file("crops.npy"), np.stack(crops))
        run(args.ddim, "reconstruct", args.model, file("crops.npy"), "-o", file("crops-out.npy"), *steps)
        back, cropped, index = np.load(file("crops-out.npy")), x.copy(), 0
        for i in range(0, n - tile + 1, tile):
            for j in range(0, n - tile + 1, tile):
                cropped[:, i:i + tile, j:j + tile] = back[index]
                index += 1
        # Closed tiles: encode/decode without clipping, as reconstruct does.
        np.save(file("tiles.npy"), cut(x))
        run(args.ddim, "encode", args.model, file("tiles.npy"), "-o", file("z.npy"), *steps)
        run(args.ddim, "decode", args.model, file("z.npy"), "-o", file("own.npy"), "--no-clip", *steps)
        own = blend(np.load(file("own.npy")))
        np.save(file("zb.npy"), cut(blend(np.load(file("z.npy")))))
        run(args.ddim, "decode", args.model, file("zb.npy"), "-o", file("shared.npy"), "--no-clip", *steps)
        shared = blend(np.load(file("shared.npy")))
    coverage = np.zeros(x.shape[1:])
    for oy, ox, _ in boxes:
        coverage[oy:oy + tile, ox:ox + tile] += 1

    def region_mse(image, where):
        return float(np.mean((((image - x) / 2.0) ** 2).mean(0)[where]))

    print(f"{n}x{n} at ({k}, {k}), {args.steps} steps, {len(boxes)} tiles of {tile}x{tile}: "
          f"tiled {psnr(tiled, x):.2f} dB; {len(crops)} crops {psnr(cropped, x):.2f} dB; "
          f"closed tiles {psnr(own, x):.2f} dB; closed tiles from the blended latent "
          f"{psnr(shared, x):.2f} dB")
    print(f"MSE where one tile covers / where tiles overlap: tiled "
          f"{region_mse(tiled, coverage == 1):.4f} / {region_mse(tiled, coverage > 1):.4f}; "
          f"crops {region_mse(cropped, coverage == 1):.4f} / {region_mse(cropped, coverage > 1):.4f}")


def band_ratio(x, mask):
    """Mean |∇| over neighbour pairs in the feather band (or where the mask
    jumps) divided by the mean over all other pairs."""
    band, away = [], []
    for axis in (1, 2):
        g = np.abs(np.diff(x, axis=axis))
        m0 = mask[:-1, :] if axis == 1 else mask[:, :-1]
        m1 = mask[1:, :] if axis == 1 else mask[:, 1:]
        in_band = (m0 != m1) | ((m0 > 0) & (m0 < 1))
        band.append(g[:, in_band])
        away.append(g[:, ~in_band])
    return np.concatenate(band, 1).mean() / np.concatenate(away, 1).mean()


def mask_compare(args):
    channels, native = model_channels(args.ddim, args.model)
    x = to_model(args.image, channels)
    c, h, w = x.shape
    yy, xx = np.mgrid[0:h, 0:w]
    # A disc over the middle third, feathered over 8 pixels.
    r = np.hypot(yy - h / 2, xx - w / 2)
    mask = np.clip((h / 6 - r) / 8.0, 0.0, 1.0).astype(np.float32)
    inside = mask == 1.0
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/x.npy", x[None])
        np.save(f"{tmp}/mask.npy", mask[None])
        common = ["--steps", str(args.steps), "--strength", str(args.strength), "--seed",
                  str(args.seed)]
        rows = []
        for keep in ("inversion", "forward"):
            run(args.ddim, "vary", args.model, f"{tmp}/x.npy", "-o", f"{tmp}/{keep}.npy",
                "--mask", f"{tmp}/mask.npy", "--mask-keep", keep, *common)
            y = np.load(f"{tmp}/{keep}.npy")[0]
            assert np.array_equal(y[:, mask == 0], x[:, mask == 0])
            rows.append((f"--mask-keep {keep}", band_ratio(y, mask), psnr(y[:, inside], x[:, inside])))
            if args.save:
                save_png(f"{args.save}-{keep}.png", y)
        run(args.ddim, "vary", args.model, f"{tmp}/x.npy", "-o", f"{tmp}/plain.npy", *common)
        y = np.load(f"{tmp}/plain.npy")[0]
        naive = mask * y + (1 - mask) * x
        rows.append(("naive composite", band_ratio(naive, mask), psnr(naive[:, inside], x[:, inside])))
        if args.save:
            save_png(f"{args.save}-naive.png", naive)
            save_png(f"{args.save}-mask.png", np.repeat(2.0 * mask[None] - 1.0, 3, 0))
    print(f"{w}x{h}, {args.steps} steps, strength {args.strength}, seed {args.seed}; "
          f"the original's own band ratio {band_ratio(x, mask):.3f}")
    print("| run | band / away gradient | PSNR inside the mask vs original (dB) |")
    print("|---|---|---|")
    for name, ratio, p in rows:
        print(f"| {name} | {ratio:.3f} | {p:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("image")
    p.add_argument("out")
    p.add_argument("size", type=int)
    for name in ("crops", "mask", "closed"):
        p = sub.add_parser(name)
        p.add_argument("ddim")
        p.add_argument("model")
        p.add_argument("image")
        p.add_argument("--steps", type=int, default=20)
        p.add_argument("--tile", type=int, default=0)
        p.add_argument("--strength", type=float, default=0.6)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--save", default=None, help="PREFIX of PNGs of the results")
        p.add_argument("--threads", type=int, default=0)
        p.add_argument("--size", type=int, default=128, help="closed: the square's side")
        p.add_argument("--offset", type=int, default=0, help="closed: the square's corner")
    args = parser.parse_args()
    if getattr(args, "threads", 0):
        THREADS.extend(["--threads", str(args.threads)])
    if args.command == "image":
        make_image(args.out, args.size)
    elif args.command == "crops":
        crops(args)
    elif args.command == "closed":
        closed_tiles(args)
    else:
        mask_compare(args)


if __name__ == "__main__":
    main()
