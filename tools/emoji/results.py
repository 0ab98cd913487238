#!/usr/bin/python3
"""Reproduce the DDIM paper's Tables 1 and 2 on the emoji model with our own
`ddim` command, and write docs/results.md with contact sheets.

%(estimate)s
Resumable: stop it at any time and run the same command again.

    /usr/bin/python3 tools/emoji/results.py [--model models/emoji32] [--samples N]
        [--recon-images K] [--parts table1,table2,sheets] [--max-minutes M] [--note TEXT]

Table 1 (sample quality): for eta in {0, 0.2, 0.5, 1} and S in {10, 20, 50,
100}, plus S = 1000 for eta = 1 (DDPM) and eta = 0, N samples per cell from
`ddim generate --count`, for two seeds (sample k of seed s uses noise seed
s + k; every cell of one seed starts from the same x_T), scored by SWD
against the 362 held-out images (tools/emoji/quality.py).  The table gives
the mean of the two seeds and half their difference (the spread).  A
reference row scores N training images against the held-out set (two random
draws): the floor that a perfect model would reach at this N.

Table 2 (reconstruction): K held-out images (a fixed shuffle, first K) are
encoded to x_T with S steps and decoded with S steps (`ddim reconstruct`,
eta 0, no clipping) for S in {10, 20, 50, 100, 200, 500, 1000};
per-dimension MSE on [0, 1].  A check compares `reconstruct` with `encode`
then `decode --no-clip`, and shows what clipping the decode does.

Nearest neighbours: the L2 distance of every sample to its nearest training
image (or mirror image), against the held-out images' distances.

Everything is cached per cell and per chunk of --batch images in --work
(keyed by the model's identity hash), so the run can be stopped (Ctrl-C,
SIGTERM, --max-minutes) and started again with the same arguments: finished
chunks are reused.  The doc is written at the end of a complete run and holds
the parts given with --parts: compute the parts separately if you like, then
run once without --parts (everything cached: minutes) to write the whole doc.

Cost: one network evaluation of emoji32 at 32x32 is ~0.35 GFLOP; at
~60 GFLOP/s (2 cores) that is ~5.8 ms per image and step.  Evaluations:
  Table 1: 2 seeds x N x (4 x (10+20+50+100) + 2 x 1000) = 5,440 N
  Table 2: K x 2 x (10+20+50+100+200+500+1000)           = 3,760 K
  sheets:  64 x 2 x 50 (reconstructions; samples come from Table 1)
The 1000-step cells are 74 %% of Table 1.  --estimate prints the plan for
the given arguments without running anything.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import quality  # noqa: E402
import sheets  # noqa: E402

ETAS = [0.0, 0.2, 0.5, 1.0]
STEPS = [10, 20, 50, 100]
LONG_STEPS = 1000
LONG_ETAS = [1.0, 0.0]
RECON_STEPS = [10, 20, 50, 100, 200, 500, 1000]
SEEDS = [0, 1000000]
SHEET_COUNT = 64
SHEET_STEPS = 50
GFLOP_PER_EVAL = 0.35
GFLOPS = 60.0
DEFAULT_SAMPLES = 500
DEFAULT_RECON = 100
HELDOUT_SHUFFLE_SEED = 1
DIVERGED_MSE = 0.01  # Table 2: a round trip this far off lost the image


def estimate_text(samples, recon, gflops=GFLOPS, gflop=GFLOP_PER_EVAL, etas=ETAS, steps=STEPS,
                  long_steps=LONG_STEPS, recon_steps=RECON_STEPS):
    t1 = len(SEEDS) * samples * (len(etas) * sum(steps) + len(LONG_ETAS) * long_steps)
    t2 = recon * 2 * sum(recon_steps)
    sh = SHEET_COUNT * 2 * SHEET_STEPS
    seconds = (t1 + t2 + sh) * gflop / gflops
    return ("Total time with the defaults (--samples %d, --recon-images %d): %.2f M network\n"
            "evaluations, about %.1f hours at %g GFLOP/s (Table 1: %.1f h, Table 2: %.1f h)."
            % (samples, recon, (t1 + t2 + sh) / 1e6, seconds / 3600, gflops,
               t1 * gflop / gflops / 3600, t2 * gflop / gflops / 3600))


# ---------------------------------------------------------------- running ddim

class Budget(Exception):
    pass


class Runner:
    """Calls the `ddim` command; records the wall time of every call."""

    def __init__(self, ddim, model, threads, deadline):
        self.ddim = ddim
        self.model = model
        self.threads = threads
        self.deadline = deadline

    def run(self, args, budgeted=True):
        if budgeted and self.deadline and time.time() > self.deadline:
            raise Budget()
        cmd = [self.ddim] + args
        if self.threads:
            cmd += ["--threads", str(self.threads)]
        start = time.time()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seconds = time.time() - start
        if r.returncode != 0:
            raise SystemExit("failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stderr.strip()))
        return r.stdout, seconds

    def run_to(self, args, path):
        """ddim ARGS -o PATH, the file written atomically (a stopped run leaves no
        half-written PATH for the cache to reuse); returns what run() does."""
        part = path + ".part.npy"
        result = self.run(args + ["-o", part])
        os.replace(part, path)
        return result

    def info(self):
        out, _ = self.run(["info", self.model], budgeted=False)
        fields = {}
        for line in out.splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                fields[key.strip()] = value.strip()
        return fields


def save_atomic(path, array):
    tmp = path + ".tmp.npy"
    np.save(tmp, array)
    os.replace(tmp, path)


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


class Cells:
    """Cached chunks of generated / reconstructed images in the work folder.

    A chunk holds --batch images; chunk i of a cell covers images
    [i*batch, (i+1)*batch), so cells of different sizes share their chunks."""

    def __init__(self, work, runner, batch):
        self.work = work
        self.runner = runner
        self.batch = batch

    def _chunks(self, count):
        return [(start, min(self.batch, count - start)) for start in range(0, count, self.batch)]

    def samples(self, eta, steps, seed, count):
        """(count, 4, 32, 32) model-space samples and the seconds they took."""
        folder = os.path.join(self.work, "generate", "eta%g-S%d-seed%d" % (eta, steps, seed))
        os.makedirs(folder, exist_ok=True)
        parts, seconds = [], 0.0
        for start, _ in self._chunks(count):
            path = os.path.join(folder, "b%d-%06d.npy" % (self.batch, start))
            meta = path[:-4] + ".json"
            if not (os.path.exists(path) and os.path.exists(meta)):
                args = ["generate", self.runner.model, "--count", str(self.batch),
                        "--steps", str(steps), "--eta", "%g" % eta, "--seed", str(seed + start)]
                _, took = self.runner.run_to(args, path)
                write_json(meta, {"seconds": took, "command": "ddim " + " ".join(args)})
                print("  generate eta=%g S=%d seeds %d..%d: %.1f s"
                      % (eta, steps, seed + start, seed + start + self.batch - 1, took), flush=True)
            parts.append(np.load(path))
            seconds += read_json(meta)["seconds"]
        x = np.concatenate(parts)[:count]
        return x, seconds * count / (len(parts) * self.batch)

    def reconstructions(self, originals, steps):
        """ddim reconstruct of the model-space originals, chunk by chunk."""
        folder = os.path.join(self.work, "reconstruct-shuffle%d" % HELDOUT_SHUFFLE_SEED,
                              "S%d" % steps)
        os.makedirs(folder, exist_ok=True)
        parts, seconds, printed = [], 0.0, []
        for start, n in self._chunks(len(originals)):
            path = os.path.join(folder, "b%d-%06d.npy" % (self.batch, start))
            meta = path[:-4] + ".json"
            if not (os.path.exists(path) and os.path.exists(meta)):
                source = os.path.join(heldout_dir(self.work), "b%d-%06d.npy" % (self.batch, start))
                args = ["reconstruct", self.runner.model, source, "--steps", str(steps)]
                stdout, took = self.runner.run_to(args, path)
                write_json(meta, {"seconds": took, "command": "ddim " + " ".join(args),
                                  "printed": stdout.strip().splitlines()[-1]})
                print("  reconstruct S=%d images %d..%d: %.1f s"
                      % (steps, start, start + n - 1, took), flush=True)
            parts.append(np.load(path))
            m = read_json(meta)
            seconds += m["seconds"]
            # ddim's own mse= over the whole chunk, to cross-check ours
            source = np.load(os.path.join(heldout_dir(self.work), "b%d-%06d.npy" % (self.batch, start)))
            ours = float(per_dim_mse(parts[-1], source).mean())
            theirs = float(re.match(r"mse=(\S+)", m["printed"]).group(1))
            printed.append(abs(ours - theirs) / max(theirs, 1e-12))
        return np.concatenate(parts)[:len(originals)], seconds, printed


def heldout_order(data_path):
    """Table 2's fixed order of the held-out images: file-name order shuffled, so that
    the first K mix the categories (file-name order starts with flags and keycaps)."""
    order = np.argsort(np.load(data_path)["heldout_names"])
    return order[np.random.default_rng(HELDOUT_SHUFFLE_SEED).permutation(len(order))]


def heldout_dir(work):
    return os.path.join(work, "heldout-shuffle%d" % HELDOUT_SHUFFLE_SEED)


def heldout_chunks(work, heldout_model_space, batch):
    """The held-out originals as .npy chunks for `ddim reconstruct`."""
    folder = heldout_dir(work)
    os.makedirs(folder, exist_ok=True)
    for start in range(0, len(heldout_model_space), batch):
        path = os.path.join(folder, "b%d-%06d.npy" % (batch, start))
        if not os.path.exists(path):
            save_atomic(path, heldout_model_space[start:start + batch])


def unit(x):
    """Model space -> image pixels in [0, 1], clamped as an image is (and as the
    official code's inverse_data_transform and `ddim reconstruct`'s mse= do)."""
    return np.clip(sheets.model_space_to_unit(x), 0.0, 1.0)


def per_dim_mse(a_model_space, b_model_space):
    """Per-dimension MSE on [0, 1] pixels (DDIM Table 2), per image; both
    clamped to [0, 1] first (core/sampling/metrics.c does the same)."""
    d = unit(a_model_space) - unit(b_model_space)
    return (d * d).reshape(len(d), -1).mean(axis=1)


# ---------------------------------------------------------------- the parts

def fmt(v, digits=2):
    return ("%%.%df" % digits) % v


def table1(cells, args, reference, train_index, held_dist):
    """SWD and nearest-neighbour distance for every cell, both seeds."""
    grid = [(eta, s) for eta in args.etas for s in args.table1_steps]
    if args.long_steps:
        grid += [(eta, args.long_steps) for eta in LONG_ETAS]
    results = {}
    for eta, steps in grid:
        for seed in args.seeds:
            x, seconds = cells.samples(eta, steps, seed, args.samples)
            key = (eta, steps, seed)
            score_path = os.path.join(cells.work, "scores", "eta%g-S%d-seed%d-n%d.json"
                                      % (eta, steps, seed, args.samples))
            if os.path.exists(score_path):
                score = read_json(score_path)
            else:
                samples = unit(x).astype(np.float32)
                s = quality.swd_between(quality.SetDescriptors(samples, 1), reference)
                dist, _, _ = train_index.query(samples)
                score = {"swd": s["mean"], "levels": {str(k): v for k, v in s["levels"].items()},
                         "nearest": quality.nearest_summary(dist, held_dist)}
                os.makedirs(os.path.dirname(score_path), exist_ok=True)
                write_json(score_path, score)
            score["seconds"] = seconds
            results[key] = score
            print("  eta=%g S=%d seed=%d: SWD %.2f (%s), nearest mean %.3f"
                  % (eta, steps, seed, score["swd"],
                     ", ".join("%s: %.2f" % kv for kv in score["levels"].items()),
                     score["nearest"]["mean"]), flush=True)
    return results


def floor_rows(args, train, reference):
    """SWD of N training images against the held-out set, two random draws."""
    out = []
    for draw in range(2):
        pick = np.random.default_rng(100 + draw).choice(len(train), args.samples, replace=False)
        out.append(quality.swd_between(quality.SetDescriptors(train[pick], 1), reference)["mean"])
    return out


def mean_spread(values):
    return float(np.mean(values)), float((max(values) - min(values)) / 2)


def render_table1(results, args, floor):
    lines = []
    cols = args.table1_steps + ([args.long_steps] if args.long_steps else [])
    lines.append("| η \\ S | " + " | ".join(str(s) for s in cols) + " |")
    lines.append("|---|" + "---|" * len(cols))
    for eta in sorted(set(args.etas) | set(LONG_ETAS if args.long_steps else [])):
        row = ["η = %g%s" % (eta, " (DDPM)" if eta == 1 else "")]
        for s in cols:
            vals = [results[(eta, s, seed)]["swd"] for seed in args.seeds
                    if (eta, s, seed) in results]
            if len(vals) == len(args.seeds):
                m, sp = mean_spread(vals)
                row.append("%s ± %s" % (fmt(m), fmt(sp)))
            else:
                row.append("–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def render_levels(results, args):
    lines = ["| η | S | seed | SWD 32 | SWD 16 | mean | nearest L2 (mean) | s per image |",
             "|---|---|---|---|---|---|---|---|"]
    for (eta, s, seed), r in sorted(results.items()):
        lines.append("| %g | %d | %d | %s | %s | %s | %.3f | %.3f |"
                     % (eta, s, seed, fmt(r["levels"]["32"]), fmt(r["levels"]["16"]),
                        fmt(r["swd"]), r["nearest"]["mean"], r["seconds"] / args.samples))
    return "\n".join(lines)


def table2(cells, args, held_model):
    originals = held_model[:args.recon_images]
    rows = []
    for steps in args.recon_steps:
        recon, seconds, printed = cells.reconstructions(originals, steps)
        mse = per_dim_mse(recon, originals)
        rows.append({"steps": steps, "mse": float(mse.mean()), "mse_images": mse,
                     "seconds": seconds, "relative_diff_to_printed": max(printed)})
        print("  reconstruct S=%d: MSE %.6f (%d images)" % (steps, mse.mean(), len(mse)), flush=True)
    return rows


def render_table2(rows, count):
    lines = ["| S | " + " | ".join(str(r["steps"]) for r in rows) + " |",
             "|---|" + "---|" * len(rows),
             "| MSE | " + " | ".join("%.6f" % r["mse"] for r in rows) + " |",
             "| PSNR (dB) | " + " | ".join("%.2f" % (10 * np.log10(1 / r["mse"])) for r in rows) + " |",
             "| spread (std. error over images) | " + " | ".join(
                 "%.6f" % (r["mse_images"].std(ddof=1) / np.sqrt(count) if count > 1 else 0)
                 for r in rows) + " |",
             "| median over images | " + " | ".join("%.6f" % np.median(r["mse_images"])
                                                     for r in rows) + " |",
             "| images with MSE > %g | " % DIVERGED_MSE + " | ".join(
                 str(int((r["mse_images"] > DIVERGED_MSE).sum()))
                                                        for r in rows) + " |",
             "| largest (one image) | " + " | ".join("%.4f" % r["mse_images"].max()
                                                      for r in rows) + " |",
             "| s per image | " + " | ".join("%.2f" % (r["seconds"] / count) for r in rows) + " |"]
    return "\n".join(lines)


def diverged_check(runner, work, rows, originals, fine_steps=1000):
    """For each image whose S-step round trip is off by more than DIVERGED_MSE,
    which half of it loses the image: its S-step latent decoded with `fine_steps`
    (is the latent right?), and its `fine_steps` latent decoded with S steps (does
    the S-step decoder follow the ODE from the right latent?).  Per image and S,
    cached in work/diverged."""
    folder = os.path.join(work, "diverged")
    os.makedirs(folder, exist_ok=True)

    entries = []
    for row in rows:
        steps = row["steps"]
        if steps == fine_steps:
            continue
        for image in np.where(row["mse_images"] > DIVERGED_MSE)[0]:
            image = int(image)
            source = os.path.join(folder, "image%03d.npy" % image)
            if not os.path.exists(source):
                save_atomic(source, originals[image:image + 1])
            paths = {}
            for s in (steps, fine_steps):
                paths[s] = os.path.join(folder, "image%03d-xt-S%d.npy" % (image, s))
                if not os.path.exists(paths[s]):
                    runner.run_to(["encode", runner.model, source, "--steps", str(s)], paths[s])
            decodes = {"latent_S_decoded_fine": (paths[steps], fine_steps),
                       "latent_fine_decoded_S": (paths[fine_steps], steps)}
            entry = {"steps": steps, "image": image, "round_trip": float(row["mse_images"][image])}
            for name, (latent, s) in decodes.items():
                out = os.path.join(folder, "image%03d-%s-S%d.npy" % (image, name, steps))
                if not os.path.exists(out):
                    runner.run_to(["decode", runner.model, latent, "--steps", str(s), "--no-clip"],
                                  out)
                entry[name] = float(per_dim_mse(np.load(out), originals[image:image + 1])[0])
            entries.append(entry)
            print("  diverged S=%d image %d: round trip %.4f, S-step latent decoded with %d "
                  "steps %.4f, %d-step latent decoded with S steps %.4f"
                  % (steps, image, entry["round_trip"], fine_steps,
                     entry["latent_S_decoded_fine"], fine_steps, entry["latent_fine_decoded_S"]),
                  flush=True)
    return entries


def clipping_check(runner, work, batch, steps):
    """reconstruct == encode + decode --no-clip; and what decode with clipping gives."""
    source = os.path.join(heldout_dir(work), "b%d-%06d.npy" % (batch, 0))
    folder = os.path.join(work, "check")
    os.makedirs(folder, exist_ok=True)
    xt = os.path.join(folder, "xt-S%d.npy" % steps)
    outs = {name: os.path.join(folder, "%s-S%d.npy" % (name, steps))
            for name in ("reconstruct", "noclip", "clip")}
    runner.run(["reconstruct", runner.model, source, "-o", outs["reconstruct"], "--steps", str(steps)])
    runner.run(["encode", runner.model, source, "-o", xt, "--steps", str(steps)])
    runner.run(["decode", runner.model, xt, "-o", outs["noclip"], "--steps", str(steps), "--no-clip"])
    runner.run(["decode", runner.model, xt, "-o", outs["clip"], "--steps", str(steps), "--clip"])
    original = np.load(source)
    r, n, c = (np.load(outs[k]) for k in ("reconstruct", "noclip", "clip"))
    return {"steps": steps, "images": len(original),
            "max_diff_reconstruct_vs_noclip": float(np.abs(r - n).max()),
            "mse_reconstruct": float(per_dim_mse(r, original).mean()),
            "mse_noclip": float(per_dim_mse(n, original).mean()),
            "mse_clip": float(per_dim_mse(c, original).mean())}


# ---------------------------------------------------------------- main

def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores visible (os.cpu_count), %s %s" % (cpu, os.cpu_count(), platform.system(),
                                                          platform.release())


def main():
    ap = argparse.ArgumentParser(
        description=__doc__ % {"estimate": estimate_text(DEFAULT_SAMPLES, DEFAULT_RECON)},
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "emoji32"))
    ap.add_argument("--ddim", default=os.path.join(ROOT, "build", "cli", "ddim"),
                    help="the ddim command (default %(default)s)")
    ap.add_argument("--data", default=quality.DEFAULT_DATA)
    ap.add_argument("--work", default=os.path.expanduser("~/.cache/ddim-emoji/results"),
                    help="cache folder (default %(default)s)")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "results.md"))
    ap.add_argument("--images-dir", default=None,
                    help="where the PNG sheets go (default: the doc's folder)")
    ap.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="N per cell and seed")
    ap.add_argument("--seeds", type=int, nargs=2, default=SEEDS)
    ap.add_argument("--etas", type=float, nargs="+", default=ETAS, help="Table 1 rows")
    ap.add_argument("--table1-steps", type=int, nargs="+", default=STEPS, help="Table 1 columns")
    ap.add_argument("--long-steps", type=int, default=LONG_STEPS,
                    help="the long column, for eta 1 and 0 only (0: none)")
    ap.add_argument("--recon-images", type=int, default=DEFAULT_RECON, help="K held-out images")
    ap.add_argument("--recon-steps", type=int, nargs="+", default=RECON_STEPS)
    ap.add_argument("--batch", type=int, default=64, help="images per ddim call")
    ap.add_argument("--threads", type=int, default=0, help="ddim --threads (0: its default)")
    ap.add_argument("--parts", default="table1,table2,sheets",
                    help="comma-separated: table1, table2, sheets")
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="stop starting new ddim calls after this long (resume later)")
    ap.add_argument("--note", default="", help="a line put at the top of the doc")
    ap.add_argument("--estimate", action="store_true", help="print the plan's cost and exit")
    ap.add_argument("--gflops", type=float, default=GFLOPS, help="throughput for --estimate")
    args = ap.parse_args()
    parts = set(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = parts - {"table1", "table2", "sheets"}
    if unknown:
        ap.error("--parts: unknown %s" % ", ".join(sorted(unknown)))
    if args.samples < 2 or args.recon_images < 1 or args.batch < 1:
        ap.error("--samples >= 2, --recon-images >= 1, --batch >= 1")
    if args.seeds[0] == args.seeds[1] or abs(args.seeds[0] - args.seeds[1]) < max(args.samples, 64):
        ap.error("--seeds must be at least --samples apart (sample k uses seed + k)")

    if args.estimate:
        print(estimate_text(args.samples, args.recon_images, args.gflops, etas=args.etas,
                            steps=args.table1_steps, long_steps=args.long_steps,
                            recon_steps=args.recon_steps)
              .replace("with the defaults", "of this plan"))
        return 0

    if not os.path.exists(args.ddim):
        raise SystemExit("%s: no ddim command (meson compile -C build, or --ddim)" % args.ddim)
    started = time.time()
    deadline = started + args.max_minutes * 60 if args.max_minutes else 0
    runner = Runner(args.ddim, args.model, args.threads, deadline)
    info = runner.info()
    identity = info.get("identity", "")
    if not identity:
        raise SystemExit("%s: `ddim info` printed no identity" % args.model)
    work = os.path.join(args.work, identity)
    os.makedirs(work, exist_ok=True)
    cells = Cells(work, runner, args.batch)

    train, held = quality.load_dataset(args.data)
    held_sorted = held[heldout_order(args.data)]
    held_model = (held_sorted * 2.0 - 1.0).astype(np.float32)  # x = 2p - 1
    heldout_chunks(work, held_model, args.batch)

    print("model %s (identity %s), work folder %s" % (args.model, identity, work), flush=True)
    train_index = quality.Nearest(train)
    held_dist, _, _ = train_index.query(held)
    doc_dir = os.path.dirname(os.path.abspath(args.doc))
    images_dir = args.images_dir or doc_dir
    os.makedirs(images_dir, exist_ok=True)
    sections = {}
    stopped = False
    try:
        if "table1" in parts:
            print("Table 1", flush=True)
            reference = quality.SetDescriptors(held, 2)
            results = table1(cells, args, reference, train_index, held_dist)
            floor = floor_rows(args, train, reference)
            sections["table1"] = (results, floor)
        if "table2" in parts:
            print("Table 2", flush=True)
            rows = table2(cells, args, held_model)
            check = clipping_check(runner, work, args.batch, min(args.recon_steps))
            diverged = diverged_check(runner, work, rows, held_model[:args.recon_images],
                                      max(args.recon_steps))
            sections["table2"] = (rows, check, diverged)
        if "sheets" in parts:
            print("sheets", flush=True)
            x, _ = cells.samples(0.0, SHEET_STEPS, args.seeds[0], SHEET_COUNT)
            samples = unit(x)
            sheets.write_png(os.path.join(images_dir, "emoji-samples.png"),
                             sheets.sheet([[im] for im in samples], columns=8))
            recon_steps = SHEET_STEPS
            recon, _, _ = cells.reconstructions(held_model[:SHEET_COUNT], recon_steps)
            pairs = [[o, r] for o, r in zip(held_sorted[:SHEET_COUNT], unit(recon))]
            sheets.write_png(os.path.join(images_dir, "emoji-reconstructions.png"),
                             sheets.sheet(pairs, columns=8))
            # nearest training images of the DDIM S=50 samples: the closest ones first
            nx, _ = cells.samples(0.0, SHEET_STEPS, args.seeds[0], max(args.samples, SHEET_COUNT))
            pool = unit(nx).astype(np.float32)
            dist, index, mirrored = train_index.query(pool)
            closest = np.argsort(dist)[:SHEET_COUNT]
            groups = []
            for i in closest:
                match = train[index[i]][..., ::-1] if mirrored[i] else train[index[i]]
                groups.append([pool[i], match])
            sheets.write_png(os.path.join(images_dir, "emoji-nearest.png"),
                             sheets.sheet(groups, columns=8))
            sections["sheets"] = {"recon_steps": recon_steps, "pool": len(pool),
                                  "closest": [float(dist[i]) for i in closest],
                                  "nearest": quality.nearest_summary(dist, held_dist)}
    except (Budget, KeyboardInterrupt):  # SIGTERM ends the process; the cache is atomic
        stopped = True
        print("stopped; run the same command again to continue", flush=True)
    if stopped:
        return 3

    write_doc(args, info, identity, held_dist, sections, time.time() - started, parts, images_dir)
    print("wrote %s" % args.doc)
    return 0


def write_doc(args, info, identity, held_dist, sections, wall, parts, images_dir):
    rel = os.path.relpath
    command = "/usr/bin/python3 tools/emoji/results.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:])
    doc_dir = os.path.dirname(os.path.abspath(args.doc))
    out = []
    w = out.append
    w("# Results: the DDIM paper's Tables 1 and 2 on the emoji model\n")
    if args.note:
        w("> **%s**\n" % args.note)
    w("Measured with this repository's `ddim` command (sampling, inversion) and "
      "`tools/emoji/quality.py` (scores), written by `tools/emoji/results.py`.\n")
    w("| | |\n|---|---|")
    w("| model | `%s` |" % rel(os.path.abspath(args.model), ROOT))
    w("| identity (`ddim info`) | `%s` |" % identity)
    w("| parameters | %s |" % info.get("parameters", "?"))
    w("| weights | %s |" % info.get("weights", "?"))
    w("| schedule | %s; clip default: %s |" % (info.get("schedule", "?"), info.get("clip default", "?")))
    w("| data | `%s`: %d held-out images (reference), 7210 training images |"
      % (os.path.basename(args.data), len(held_dist)))
    w("| samples per cell (N) | %d per seed; seeds %d and %d (sample k uses seed + k) |"
      % (args.samples, args.seeds[0], args.seeds[1]))
    w("| reconstruction images (K) | %d: the first K of the held-out images in file-name order "
      "shuffled with numpy's default_rng(%d) |" % (args.recon_images, HELDOUT_SHUFFLE_SEED))
    w("| machine | %s |" % machine())
    w("| date | %s |" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    w("| wall time of this invocation | %.1f min (cached cells reused; each table's own "
      "sampling time is below) |\n" % (wall / 60))
    w("Command (from the repository root, after `meson compile -C build`):\n")
    w("```sh\n%s\n```\n" % command)
    w("It caches every chunk of `--batch` images in `--work` under the model's identity, so it "
      "can be stopped and run again; `--parts table1`, `--parts table2` or `--parts sheets` "
      "compute one part (a final run without `--parts` then writes the whole doc from the "
      "cache).\n")

    if "table1" in sections:
        results, floor = sections["table1"]
        sampling = sum(r["seconds"] for r in results.values())
        w("## Table 1: sample quality (SWD ×10³, lower is better)\n")
        w("SWD on Laplacian-pyramid patches (Karras et al. 2018) between N = %d samples and the "
          "%d held-out images: levels 32 and 16 (for 32×32 images the pyramid stops at 16×16), "
          "128 random 7×7×4 patches per image and level, per-channel normalised, 4 × 128 random "
          "directions; the average of the two levels. Each cell: mean of the two seeds ± half "
          "their difference. S = 1000 is computed for η = 1 (DDPM) and η = 0 only, as in the "
          "paper. Uniform timesteps (tᵢ = i·⌊1000/S⌋), x̂₀ clipped to [−1, 1] as the model's "
          "scheduler config says (`ddim generate` default).\n" % (args.samples, len(held_dist)))
        w(render_table1(results, args, floor) + "\n")
        fm, fs = mean_spread(floor)
        w("**Floor:** %d randomly drawn training images score %.2f ± %.2f against the held-out "
          "set (two draws): what a model reproducing the data distribution would get at this N. "
          "SWD falls as N grows, so compare only numbers with the same N.\n"
          % (args.samples, fm, fs))
        a = [results[(0.0, 50, s)]["swd"] for s in args.seeds if (0.0, 50, s) in results]
        b = [results[(1.0, args.long_steps, s)]["swd"] for s in args.seeds
             if (1.0, args.long_steps, s) in results]
        if len(a) == 2 and len(b) == 2:
            ma, sa = mean_spread(a)
            mb, sb = mean_spread(b)
            within = abs(ma - mb) <= max(sa, sb) + min(sa, sb)
            w("**DDIM (η = 0, S = 50) vs DDPM (η = 1, S = 1000):** %.2f ± %.2f vs %.2f ± %.2f: "
              "the difference %.2f is %s the two seeds' spreads (%.2f + %.2f).\n"
              % (ma, sa, mb, sb, abs(ma - mb), "within" if within else "**not** within", sa, sb))
        w("Per cell and seed (both pyramid levels, mean nearest-training-image distance, "
          "`ddim generate` wall time per image):\n")
        w(render_levels(results, args) + "\n")
        w("Sampling time of Table 1: %.1f min of `ddim` wall time.\n" % (sampling / 60))

        w("## Nearest training images: not copies\n")
        w("L2 distance over the 4×32×32 premultiplied RGBA values on [0, 1] from each image "
          "to the nearest of the 7210 training images or their mirror images (training used "
          "random horizontal flips). The held-out images are the baseline for new emoji "
          "in the same styles; %d of the %d held-out files have the same artwork as a training "
          "file under another name (distance below 10⁻⁶), hence their minimum of %.3f.\n"
          % (int((held_dist < 1e-6).sum()), len(held_dist), held_dist.min()))
        q05 = float(np.quantile(held_dist, 0.05))
        w("| images | mean | median | min | below the held-out 5 %% quantile (%.3f) |" % q05)
        w("|---|---|---|---|---|")
        w("| %d held-out images | %.3f | %.3f | %.3f | 5 %% (by definition) |"
          % (len(held_dist), held_dist.mean(), np.median(held_dist), held_dist.min()))
        keys = []
        for key in [(0.0, 50), (0.0, 10), (0.0, args.long_steps), (1.0, args.long_steps)]:
            if key not in keys:
                keys.append(key)
        for key in keys:
            for seed in args.seeds:
                r = results.get(key + (seed,))
                if r:
                    n = r["nearest"]
                    w("| %d samples η = %g, S = %d, seed %d | %.3f | %.3f | %.3f | %.1f %% |"
                      % (args.samples, key[0], key[1], seed, n["mean"], n["median"], n["min"],
                         100 * n["frac_below_heldout_q05"]))
        w("")
    if "sheets" in sections:
        sh = sections["sheets"]
        img = rel(os.path.join(images_dir, "emoji-nearest.png"), doc_dir)
        w("The %d samples (of %d, η = 0, S = %d, seed %d) closest to the training set, each "
          "beside its nearest training image (mirrored when the mirror image was nearer); "
          "distances %.3f … %.3f:\n"
          % (len(sh["closest"]), sh["pool"], SHEET_STEPS, args.seeds[0], sh["closest"][0],
             sh["closest"][-1]))
        w("![nearest training images](%s)\n" % img)
        w("## Contact sheets\n")
        w("64 samples, DDIM η = 0, S = %d, seeds %d…%d (composited over a checkerboard, ×2):\n"
          % (SHEET_STEPS, args.seeds[0], args.seeds[0] + SHEET_COUNT - 1))
        w("![samples](%s)\n" % rel(os.path.join(images_dir, "emoji-samples.png"), doc_dir))
        w("64 held-out images (left of each pair) and their reconstructions (right): encoded "
          "to x_T and decoded with S = %d, η = 0, no clipping:\n" % sh["recon_steps"])
        w("![reconstructions](%s)\n" % rel(os.path.join(images_dir, "emoji-reconstructions.png"),
                                             doc_dir))
    if "table2" in sections:
        rows, check, diverged = sections["table2"]
        w("## Table 2: reconstruction error (per-dimension MSE on [0, 1])\n")
        w("%d held-out images encoded to x_T with S steps (deterministic DDIM inversion) and "
          "decoded with S steps, η = 0, no clipping (`ddim reconstruct`); the error is the mean "
          "over images of the per-dimension MSE of the 4×32×32 premultiplied RGBA values on [0, 1], "
          "computed here from the .npy output (clamped to [0, 1] as an image is, before 8-bit "
          "quantisation).\n" % args.recon_images)
        w(render_table2(rows, args.recon_images) + "\n")
        w("The MSE computed here agrees with the `mse=` that `ddim reconstruct` prints for each "
          "chunk of images to a relative %.1g at most.\n"
          % max(r["relative_diff_to_printed"] for r in rows))
        w("The paper's Table 2 (CIFAR-10, S = 10 … 1000): 0.014, 0.0065, 0.0023, 0.0009, "
          "0.0004, 0.0001, 0.0001.\n")
        if diverged:
            fine = max(args.recon_steps)
            w("**The images that diverge.** For each image whose round trip is off by more than "
              "%g, the same two halves with %d steps in one of them: its S-step latent decoded "
              "with %d steps (is the latent right?), and its %d-step latent decoded with S steps "
              "(does the S-step decoder follow the ODE from the right latent?). Both cross "
              "decodes start at their own schedule's last timestep (%d steps: t = 999, S "
              "steps: t = 1000 − 1000/S), so neither is an exact round trip.\n"
              % (DIVERGED_MSE, fine, fine, fine, fine))
            w("| S | image | round trip (S, S) | S-step latent, %d-step decode | %d-step latent, "
              "S-step decode |" % (fine, fine))
            w("|---|---|---|---|---|")
            for e in diverged:
                w("| %d | %d | %.4f | %.4f | %.4f |"
                  % (e["steps"], e["image"], e["round_trip"], e["latent_S_decoded_fine"],
                     e["latent_fine_decoded_S"]))
            w("")
        w("Check at S = %d on %d images: `ddim reconstruct` equals `ddim encode` then "
          "`ddim decode --no-clip` (largest difference %.3g); decoding with `--clip` (the "
          "scheduler config's default for `decode`) gives MSE %.6f instead of %.6f.\n"
          % (check["steps"], check["images"], check["max_diff_reconstruct_vs_noclip"],
             check["mse_clip"], check["mse_noclip"]))
    with open(args.doc, "w") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
