"""Contact sheets and plots as PNG files, with numpy and zlib only (no PIL).

Images are premultiplied RGBA in [0, 1], shape (N, 4, H, W) -- the layout of
the `ddim` command's .npy files after p = (x + 1) / 2.  A sheet composites
them over a light checkerboard, so transparency stays visible:
out = c + (1 - a) * background (the "over" operator on premultiplied colour).

    write_png(path, rgb_uint8)            # (H, W, 3) or (H, W, 4) uint8
    sheet(groups, columns, scale=2)       # -> (H, W, 3) uint8
"""

import struct
import zlib

import numpy as np


def _filter_rows(pixels):
    """PNG filtering: per row the one of None (0), Sub (1) and Up (2) with the
    smallest sum of absolute signed differences (the PNG spec's heuristic);
    rows repeated by upscaling become zeros under Up and compress well."""
    height, width, channels = pixels.shape
    rows = pixels.reshape(height, -1).astype(np.int16)
    left = np.zeros_like(rows)
    left[:, channels:] = rows[:, :-channels]
    above = np.zeros_like(rows)
    above[1:] = rows[:-1]
    candidates = np.stack([rows, rows - left, rows - above]) & 0xFF  # (3, H, W*C)
    signed = np.where(candidates > 127, 256 - candidates, candidates).sum(axis=2)
    choice = np.argmin(signed, axis=0)
    chosen = candidates[choice, np.arange(height)].astype(np.uint8)
    return np.concatenate([choice[:, None].astype(np.uint8), chosen], axis=1)


def write_png(path, pixels):
    """8-bit RGB or RGBA PNG."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4):
        raise ValueError("write_png: expected (H, W, 3|4) uint8, got %r" % (pixels.shape,))
    height, width, channels = pixels.shape
    colour_type = 2 if channels == 3 else 6
    plain = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, -1)], axis=1)
    # whichever compresses smaller: no filtering, or the per-row heuristic
    data = min((zlib.compress(raw.tobytes(), 9) for raw in (plain, _filter_rows(pixels))), key=len)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", header))
        f.write(chunk(b"IDAT", data))
        f.write(chunk(b"IEND", b""))


def checkerboard(height, width, cell=4, light=0.94, dark=0.82):
    y, x = np.mgrid[0:height, 0:width]
    board = np.where(((y // cell) + (x // cell)) % 2 == 0, light, dark)
    return np.repeat(board[None], 3, axis=0)  # (3, H, W)


def over_checkerboard(images):
    """(N, 4, H, W) premultiplied RGBA in [0, 1] -> (N, 3, H, W) composited, clipped."""
    images = np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0)
    board = checkerboard(images.shape[2], images.shape[3])
    return np.clip(images[:, :3] + (1.0 - images[:, 3:4]) * board[None], 0.0, 1.0)


def model_space_to_unit(x):
    """The `ddim` command's model space [-1, 1] -> pixels p = (x + 1) / 2 (README: x = 2p - 1)."""
    return (np.asarray(x, dtype=np.float64) + 1.0) / 2.0


def sheet(groups, columns, scale=2, gap=2, group_gap=6, background=1.0):
    """Grid of groups of images, `columns` groups per row.

    groups: list of lists of (4, H, W) premultiplied images in [0, 1]; images of a
    group are drawn side by side with `gap` pixels between them, groups with
    `group_gap`.  Every image is upscaled x`scale` (nearest neighbour).
    """
    if not groups:
        raise ValueError("sheet: no images")
    per_group = max(len(g) for g in groups)
    h, w = np.asarray(groups[0][0]).shape[1:]
    cell_h, cell_w = h * scale, w * scale
    group_w = per_group * cell_w + (per_group - 1) * gap
    rows = (len(groups) + columns - 1) // columns
    width = columns * group_w + (columns + 1) * group_gap
    height = rows * cell_h + (rows + 1) * group_gap
    canvas = np.full((3, height, width), background)
    for index, group in enumerate(groups):
        row, col = divmod(index, columns)
        top = group_gap + row * (cell_h + group_gap)
        left = group_gap + col * (group_w + group_gap)
        tiles = over_checkerboard(np.stack([np.asarray(g) for g in group]))
        for k, tile in enumerate(tiles):
            big = tile.repeat(scale, axis=1).repeat(scale, axis=2)
            x0 = left + k * (cell_w + gap)
            canvas[:, top:top + cell_h, x0:x0 + cell_w] = big
    return np.round(canvas.transpose(1, 2, 0) * 255.0).astype(np.uint8)


def line_plot(series, width=640, height=320, log_y=True, margin=24):
    """A bare line plot: series = [(x, y, (r, g, b)), ...]; light grid at the
    decades of y (log) and at 10 divisions of x.  Returns ((H, W, 3) uint8,
    (x_min, x_max, y_min, y_max)) so that the caller can state the axes in text
    (there is no font here)."""
    xs = np.concatenate([np.asarray(s[0], float) for s in series])
    ys = np.concatenate([np.asarray(s[1], float) for s in series])
    keep = np.isfinite(ys) & ((ys > 0) if log_y else True)
    x_min, x_max = float(xs.min()), float(xs.max())
    if log_y:
        y_min = 10.0 ** np.floor(np.log10(ys[keep].min()))
        y_max = 10.0 ** np.ceil(np.log10(ys[keep].max()))
    else:
        y_min, y_max = float(ys[keep].min()), float(ys[keep].max())
    if x_max == x_min:
        x_max = x_min + 1
    if y_max == y_min:
        y_max = y_min + 1

    def to_px(x, y):
        u = (np.asarray(x, float) - x_min) / (x_max - x_min)
        if log_y:
            v = (np.log10(y) - np.log10(y_min)) / (np.log10(y_max) - np.log10(y_min))
        else:
            v = (np.asarray(y, float) - y_min) / (y_max - y_min)
        return (margin + u * (width - 2 * margin),
                height - margin - v * (height - 2 * margin))

    img = np.full((height, width, 3), 255, np.uint8)
    grid = (225, 225, 225)
    for i in range(11):
        px = int(round(margin + i * (width - 2 * margin) / 10))
        img[margin:height - margin + 1, px] = grid
    if log_y:
        for e in range(int(round(np.log10(y_min))), int(round(np.log10(y_max))) + 1):
            for m in ((1,) if e == int(round(np.log10(y_max))) else range(1, 10)):
                _, py = to_px(x_min, m * 10.0 ** e)
                py = int(round(float(py)))
                img[py, margin:width - margin + 1] = (190, 190, 190) if m == 1 else (240, 240, 240)
    # axes
    img[height - margin, margin:width - margin + 1] = 0
    img[margin:height - margin + 1, margin] = 0
    for x, y, colour in series:
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        ok = np.isfinite(y) & ((y > 0) if log_y else True)
        px, py = to_px(x[ok], y[ok])
        # draw segments by dense interpolation
        for i in range(len(px) - 1):
            n = int(max(abs(px[i + 1] - px[i]), abs(py[i + 1] - py[i]))) + 2
            lx = np.linspace(px[i], px[i + 1], n)
            ly = np.linspace(py[i], py[i + 1], n)
            for dx in (0, 1):
                cx = np.clip(np.round(lx).astype(int) + dx, 0, width - 1)
                cy = np.clip(np.round(ly).astype(int), 0, height - 1)
                img[cy, cx] = colour
        if len(px) == 1:
            img[int(py[0]), int(px[0])] = colour
    return img, (x_min, x_max, y_min, y_max)


def main():
    """sheets.py IN.npy OUT.png [--columns 8] [--scale 3]: a contact sheet of
    the `ddim` command's (N, 4, H, W) model-space output, over a checkerboard."""
    import argparse
    ap = argparse.ArgumentParser(description=main.__doc__.split(":")[0])
    ap.add_argument("images", help="a .npy of shape (N, 4, H, W) in [-1, 1] (ddim generate -o X.npy)")
    ap.add_argument("out", help="the PNG to write")
    ap.add_argument("--columns", type=int, default=8)
    ap.add_argument("--scale", type=int, default=3)
    args = ap.parse_args()
    images = model_space_to_unit(np.load(args.images))
    if images.ndim != 4 or images.shape[1] != 4:
        raise SystemExit("%s: expected (N, 4, H, W), got %r" % (args.images, images.shape))
    write_png(args.out, sheet([[im] for im in images], args.columns, scale=args.scale))


if __name__ == "__main__":
    main()
