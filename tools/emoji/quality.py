#!/usr/bin/python3
"""Sample quality of the emoji model: sliced Wasserstein distance (SWD) on
Laplacian-pyramid patches against the held-out images, and the distance of
each sample to its nearest training image.  numpy only.

    quality.py swd SAMPLES.npy [--reference heldout|train|REF.npy] [--json]
    quality.py nearest SAMPLES.npy [--json]
    quality.py --selftest

SAMPLES.npy is what `ddim generate ... -o SAMPLES.npy --count K` writes:
float32 (N, 4, H, W) in model space [-1, 1], premultiplied RGBA.  Pixels are
p = (x + 1) / 2, clamped to [0, 1] (README: x = 2p - 1).  The data set is emoji32.npz
from tools/emoji/prepare_data.sh (uint8 premultiplied RGBA, p = v / 255).

SWD (Karras et al. 2018, "Progressive Growing of GANs", appendix D; the
published sliced_wasserstein.py of that paper):
  * Laplacian pyramid with the 5x5 binomial filter [1 4 6 4 1]^2 / 256
    (cv2.pyrDown/pyrUp, mirror borders), levels down to 16x16.  For our
    32x32 images that is two levels: 32 (the detail band G0 - up(G1)) and
    16 (the 16x16 Gaussian level G1 itself);
  * from each image and level, 128 random 7x7 neighbourhoods (all 4
    channels: a 196-component descriptor); patch centres at least 3 pixels
    from the border;
  * each set's descriptors normalised per channel (its own mean and
    standard deviation over all patches and positions, as in the paper);
  * 512 random unit directions in all, as 4 repeats of 128 (the paper's
    code: dir_repeats 4, dirs_per_repeat 128), the same directions for both
    sets; the 1-D Wasserstein-1 distance of the projections, averaged over
    directions and repeats;
  * reported x 10^3 per level, and the average of the levels.
  The paper compares sets of equal size.  Our sets may differ (N samples
  against 362 held-out images), so the 1-D distance is the exact W1 of the
  two empirical distributions (the integral of |F_A^-1(u) - F_B^-1(u)| over
  u); for equal sizes it is the paper's mean of |sorted A - sorted B|.
  SWD falls as N grows even between two sets from one distribution: compare
  numbers measured with the same N (the reference line "train images vs
  held-out" at that N is the floor).

Nearest training image: the Euclidean (L2) distance in [0, 1] pixel space
over all 4 x 32 x 32 premultiplied RGBA values, to the nearest of the 7210
training images or of their mirror images (training used random horizontal
flips, so a mirrored copy is still a copy).  The held-out images' distances
to the training set are the "not a copy" baseline: held-out emoji are other
emoji drawn in the same styles (skin-tone variants of a training emoji
included, since the split is by file name).
"""

import argparse
import json
import os
import sys

import numpy as np

DEFAULT_DATA = os.path.expanduser("~/.cache/ddim-emoji/emoji32.npz")

NHOOD = 7
PER_IMAGE = 128
DIRECTIONS = 128
REPEATS = 4
MIN_RESOLUTION = 16
SEED = 2018

BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


# ---------------------------------------------------------------- data

def load_dataset(path=DEFAULT_DATA):
    """emoji32.npz -> (train, heldout) as float32 (N, 4, 32, 32) in [0, 1]."""
    if not os.path.isfile(path):
        raise SystemExit("%s: no such file (run tools/emoji/prepare_data.sh)" % path)
    data = np.load(path)
    for key in ("train", "heldout"):
        if key not in data.files:
            raise SystemExit("%s: no array '%s'" % (path, key))

    def convert(a):
        if a.dtype != np.uint8 or a.ndim != 4 or a.shape[3] != 4:
            raise SystemExit("%s: expected uint8 (N, H, W, 4), got %s %r" % (path, a.dtype, a.shape))
        return (a.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)

    return convert(data["train"]), convert(data["heldout"])


def load_samples(path):
    """A `ddim` .npy (N, C, H, W) float32 in [-1, 1] -> float32 [0, 1] (N, 4, H, W)."""
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise SystemExit("%s: not a readable .npy file (%s)" % (path, e))
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 4:
        raise SystemExit("%s: expected (N, 4, H, W) premultiplied RGBA, got shape %r" % (path, x.shape))
    if not np.isfinite(x).all():
        raise SystemExit("%s: holds NaN or infinite values" % path)
    # clamped to [0, 1] as an image is (the official code's inverse_data_transform)
    return np.clip((x.astype(np.float32) + 1.0) / 2.0, 0.0, 1.0)


# ---------------------------------------------------------------- pyramid

def _filter_axis(x, axis, kernel):
    """Convolve along one axis with the 5-tap kernel, mirror borders
    (scipy.ndimage 'mirror' == numpy 'reflect': d c b | a b c d | c b a)."""
    pad = [(0, 0)] * x.ndim
    pad[axis] = (2, 2)
    p = np.pad(x, pad, mode="reflect")
    n = x.shape[axis]
    out = np.zeros_like(x)
    for k, w in enumerate(kernel):
        out += w * np.take(p, np.arange(k, k + n), axis=axis)
    return out


def pyr_down(x):
    """Blur with the binomial filter, keep every second pixel (cv2.pyrDown)."""
    x = _filter_axis(_filter_axis(x, 2, BINOMIAL), 3, BINOMIAL)
    return x[:, :, ::2, ::2]


def pyr_up(x):
    """Zero-insert to twice the size, blur with 4x the filter (cv2.pyrUp)."""
    n, c, h, w = x.shape
    up = np.zeros((n, c, 2 * h, 2 * w), x.dtype)
    up[:, :, ::2, ::2] = x
    return _filter_axis(_filter_axis(up, 2, 2 * BINOMIAL), 3, 2 * BINOMIAL)


def resolutions(size):
    out = []
    while size >= MIN_RESOLUTION:
        out.append(size)
        size //= 2
    return out


def laplacian_pyramid(images, levels):
    """[G0 - up(G1), G1 - up(G2), ..., G_{levels-1}] (finest first)."""
    pyramid = [np.asarray(images, np.float64)]
    for _ in range(1, levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - pyr_up(pyramid[-1])
    return pyramid


# ---------------------------------------------------------------- SWD

def descriptors(level, rng, nhood=NHOOD, per_image=PER_IMAGE):
    """per_image random nhood x nhood patches of every image: (N*per_image, C, nhood, nhood)."""
    n, c, h, w = level.shape
    half = nhood // 2
    count = n * per_image
    image = np.repeat(np.arange(n), per_image)
    y = rng.integers(half, h - half, size=count)
    x = rng.integers(half, w - half, size=count)
    offsets = np.arange(-half, half + 1)
    ys = y[:, None] + offsets[None, :]  # (count, nhood)
    xs = x[:, None] + offsets[None, :]
    patches = level[image[:, None, None, None], np.arange(c)[None, :, None, None],
                    ys[:, None, :, None], xs[:, None, None, :]]
    return patches.astype(np.float32)


def normalise(desc):
    """Per-channel zero mean, unit variance over patches and positions; flattened."""
    desc = desc - desc.mean(axis=(0, 2, 3), keepdims=True)
    std = desc.std(axis=(0, 2, 3), keepdims=True)
    desc = desc / np.maximum(std, 1e-8)
    return desc.reshape(desc.shape[0], -1).astype(np.float32)


def w1_sorted(a, b):
    """Exact 1-D Wasserstein-1 between the empirical distributions of the rows
    of a (d, n) and b (d, m), both sorted along axis 1: the integral over u in
    (0, 1) of |a[floor(u n)] - b[floor(u m)]|.  Returns (d,)."""
    n, m = a.shape[1], b.shape[1]
    if n == m:
        return np.abs(a - b).mean(axis=1)
    # Breakpoints of both quantile functions; each interval between two
    # consecutive ones has constant quantiles on both sides.
    edges = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    lower = np.concatenate([[0.0], edges[:-1]])
    widths = (edges - lower).astype(np.float32)
    middle = (edges + lower) / 2
    ia = np.minimum((middle * n).astype(np.int64), n - 1)
    ib = np.minimum((middle * m).astype(np.int64), m - 1)
    return (np.abs(a[:, ia] - b[:, ib]) * widths[None, :]).sum(axis=1)


def projection_sets(dim, seed=SEED, directions=DIRECTIONS, repeats=REPEATS):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(repeats):
        d = rng.standard_normal((directions, dim))
        d /= np.sqrt((d * d).sum(axis=1, keepdims=True))
        out.append(d.astype(np.float32))
    return out


def sorted_projections(desc, projections):
    """Each repeat's directions (d, dim) applied to the descriptors (n, dim),
    sorted along the patches: list of (d, n)."""
    return [np.sort(dirs @ desc.T, axis=1) for dirs in projections]


class SetDescriptors:
    """The sorted projections of one image set's pyramid patches, per level.
    Computed once for a reference set and compared with many sample sets."""

    def __init__(self, images, stream, seed=SEED, directions=DIRECTIONS, repeats=REPEATS):
        self.shape = images.shape[1:]
        self.count = len(images)
        self.resolutions = resolutions(images.shape[2])
        if not self.resolutions:
            raise ValueError("swd: images smaller than %d pixels" % MIN_RESOLUTION)
        rng = np.random.default_rng([seed, stream])
        self.levels = []
        for index, level in enumerate(laplacian_pyramid(images, len(self.resolutions))):
            desc = normalise(descriptors(level, rng))
            # the same directions for every set, per level
            projections = projection_sets(desc.shape[1], seed=seed + 1000 * index,
                                          directions=directions, repeats=repeats)
            self.levels.append(sorted_projections(desc, projections))


def swd_between(a, b):
    """SWD x 10^3 between two SetDescriptors: {"levels": {res: v}, "mean": v}."""
    if a.shape != b.shape:
        raise ValueError("swd: image shapes differ: %r vs %r" % (a.shape, b.shape))
    levels = {}
    for res, pa, pb in zip(a.resolutions, a.levels, b.levels):
        # mean over directions, then over repeats (the paper's order)
        levels[res] = 1e3 * float(np.mean([w1_sorted(x, y).mean() for x, y in zip(pa, pb)]))
    return {"levels": levels, "mean": float(np.mean(list(levels.values())))}


def swd(images_a, images_b, seed=SEED):
    """SWD x 10^3 between two image sets ((N, C, H, W) in [0, 1]).  Patch
    positions come from independent streams for the two sets (so swapping the
    arguments changes them); the directions are shared."""
    return swd_between(SetDescriptors(images_a, 1, seed), SetDescriptors(images_b, 2, seed))


# ---------------------------------------------------------------- nearest neighbour

class Nearest:
    """The reference images (and their mirror images) prepared once for
    nearest-neighbour queries: flattened float32 rows and squared norms."""

    def __init__(self, references, mirror=True):
        refs = np.asarray(references, np.float32)
        self.count = len(refs)
        if mirror:
            refs = np.concatenate([refs, refs[..., ::-1]], axis=0)
        self.rows = np.ascontiguousarray(refs.reshape(len(refs), -1))
        self.norms = np.einsum("ij,ij->i", self.rows, self.rows, dtype=np.float64)

    def query(self, samples, chunk=256):
        """For each sample, the L2 distance (over all C*H*W values in [0, 1]) to
        the nearest reference or mirrored reference.  Returns (distances (N,),
        index into the references (N,), mirrored (N,) bool)."""
        s = np.asarray(samples, np.float32).reshape(len(samples), -1)
        if s.shape[1] != self.rows.shape[1]:
            raise ValueError("nearest: samples have %d values, references %d"
                             % (s.shape[1], self.rows.shape[1]))
        best = np.empty(len(s), np.int64)
        for start in range(0, len(s), chunk):
            block = s[start:start + chunk]
            # |s - r|^2 = |s|^2 + |r|^2 - 2 s.r; |s|^2 is constant per row
            d2 = self.norms[None, :] - 2.0 * (block @ self.rows.T)
            best[start:start + chunk] = np.argmin(d2, axis=1)
        # exact distances of the winners, in float64
        diff = s.astype(np.float64) - self.rows[best].astype(np.float64)
        dist = np.sqrt((diff * diff).sum(axis=1))
        return dist, best % self.count, best >= self.count


def nearest(samples, references, mirror=True):
    """Nearest(references, mirror).query(samples), for one-off use."""
    return Nearest(references, mirror).query(samples)


def nearest_summary(sample_dist, heldout_dist):
    """Mean/median nearest distance and the fraction of samples closer to the
    training set than the 5 % quantile and the minimum of the held-out images'."""
    q05 = float(np.quantile(heldout_dist, 0.05))
    return {
        "mean": float(sample_dist.mean()),
        "median": float(np.median(sample_dist)),
        "min": float(sample_dist.min()),
        "frac_below_heldout_q05": float((sample_dist < q05).mean()),
        "frac_below_heldout_min": float((sample_dist < heldout_dist.min()).mean()),
        "heldout_q05": q05,
    }


def heldout_baseline(train, heldout):
    dist, _, _ = nearest(heldout, train)
    return dist


# ---------------------------------------------------------------- self-test

def check(condition, text):
    print("%-4s %s" % ("ok" if condition else "FAIL", text))
    if not condition:
        raise SystemExit(1)


def selftest(data_path):
    # 1-D W1, exact for unequal sizes
    a = np.array([[0.0, 1.0]], np.float32)
    b = np.array([[0.0, 0.0, 1.0, 1.0]], np.float32)
    check(abs(w1_sorted(a, b)[0]) < 1e-7, "W1({0,1}, {0,0,1,1}) = 0")
    c = np.array([[0.0, 1.0]], np.float32)
    d = np.array([[0.0]], np.float32)
    check(abs(w1_sorted(c, d)[0] - 0.5) < 1e-7, "W1({0,1}, {0}) = 0.5")
    e = np.sort(np.random.default_rng(0).standard_normal((3, 30)).astype(np.float32), axis=1)
    check(np.allclose(w1_sorted(e, e[:, ::3]), w1_sorted(e[:, ::3], e)), "W1 symmetric for unequal sizes")
    f = np.sort(np.random.default_rng(5).standard_normal((2, 12)).astype(np.float32), axis=1)
    g = np.sort(np.random.default_rng(6).standard_normal((2, 8)).astype(np.float32), axis=1)
    # unequal sizes 12 and 8 == equal sizes 24 after repeating each point 2 and 3 times
    check(np.allclose(w1_sorted(f, g), w1_sorted(np.repeat(f, 2, axis=1), np.repeat(g, 3, axis=1))),
          "W1 for sizes 12 and 8 == W1 of the same sets repeated to size 24")

    # pyramid: G0 = L0 + up(G1) exactly; two levels for 32x32
    rng = np.random.default_rng(1)
    img = rng.random((3, 4, 32, 32))
    pyr = laplacian_pyramid(img, 2)
    check(resolutions(32) == [32, 16] and [p.shape[2] for p in pyr] == [32, 16],
          "32x32 images: levels 32 and 16")
    check(np.allclose(pyr[0] + pyr_up(pyr[1]), img), "Laplacian pyramid reconstructs the image")
    flat = np.full((1, 1, 32, 32), 0.3)
    check(np.allclose(pyr_down(flat), 0.3) and np.allclose(pyr_up(pyr_down(flat)), 0.3),
          "binomial filter keeps a flat image flat (mirror borders)")

    train, held = load_dataset(data_path)
    half_a, half_b = held[0::2], held[1::2]
    split = swd(half_a, half_b)["mean"]
    split_rev = swd(half_b, half_a)["mean"]
    train_subset = swd(train[np.random.default_rng(3).choice(len(train), len(held), replace=False)],
                       held)["mean"]
    noise = np.random.default_rng(4).random(held.shape).astype(np.float32)
    noise[:, :3] *= noise[:, 3:4]  # valid premultiplied RGBA
    against_noise = swd(held, noise)["mean"]
    blurred = pyr_up(pyr_down(held)).astype(np.float32)
    against_blur = swd(held, blurred)
    print("     SWD x1e3: held-out halves %.2f (swapped %.2f), %d train vs held-out %.2f, "
          "blurred held-out %.2f (level 32: %.2f), noise %.2f"
          % (split, split_rev, len(held), train_subset, against_blur["mean"],
             against_blur["levels"][32], against_noise))
    check(against_noise > 5 * split, "noise is far from the held-out set (> 5x the split)")
    check(abs(split - split_rev) < 0.25 * split, "SWD nearly symmetric (within 25 %)")
    check(train_subset < 2 * split, "train images are about as close as the other held-out half")
    check(against_blur["levels"][32] > 2 * split, "blurring is seen at the 32 level")

    # nearest neighbour: an exact and a mirrored training copy are found
    picks = np.array([5, 77, 4000])
    fake = np.concatenate([train[picks[:2]], train[picks[2:]][..., ::-1], noise[:2]])
    dist, index, mirrored = nearest(fake, train)
    check(np.all(dist[:3] < 1e-5) and list(index[:2]) == [5, 77] and mirrored[2]
          and index[2] == 4000, "copies (and a mirrored copy) of training images: distance 0")
    base = heldout_baseline(train, held)
    check(dist[3:].min() > np.median(base), "noise is farther from the training set than held-out images")
    print("     held-out -> train nearest L2: mean %.3f, median %.3f, min %.3f"
          % (base.mean(), np.median(base), base.min()))
    print("selftest passed")


# ---------------------------------------------------------------- command line

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--selftest", action="store_true", help="check the measures on the data set")
    ap.add_argument("--data", default=DEFAULT_DATA, help="emoji32.npz (default %(default)s)")
    ap.add_argument("--json", action="store_true", help="print a JSON object")
    ap.add_argument("what", nargs="?", choices=["swd", "nearest"])
    ap.add_argument("samples", nargs="?", help="SAMPLES.npy from `ddim generate`")
    ap.add_argument("--reference", default="heldout",
                    help="swd: heldout (default), train, or a .npy in model space")
    args = ap.parse_args()
    if args.selftest:
        selftest(args.data)
        return 0
    if not args.what or not args.samples:
        ap.error("give swd|nearest and SAMPLES.npy, or --selftest")
    samples = load_samples(args.samples)
    train, held = load_dataset(args.data)
    if args.what == "swd":
        if args.reference == "heldout":
            ref = held
        elif args.reference == "train":
            ref = train
        else:
            ref = load_samples(args.reference)
        result = swd(samples, ref)
        result["n_samples"], result["n_reference"] = len(samples), len(ref)
        if args.json:
            print(json.dumps(result))
        else:
            print("SWD x1e3 (%d samples vs %d %s): %s; mean %.3f"
                  % (len(samples), len(ref), args.reference,
                     ", ".join("%d: %.3f" % (k, v) for k, v in result["levels"].items()),
                     result["mean"]))
    else:
        dist, _, _ = nearest(samples, train)
        result = nearest_summary(dist, heldout_baseline(train, held))
        result["n_samples"] = len(samples)
        if args.json:
            print(json.dumps(result))
        else:
            print("nearest training image, L2 on [0,1] RGBA (%d samples): mean %.3f, median %.3f, "
                  "min %.3f; below the held-out 5 %% quantile (%.3f): %.1f %%"
                  % (len(samples), result["mean"], result["median"], result["min"],
                     result["heldout_q05"], 100 * result["frac_below_heldout_q05"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
