#!/usr/bin/python3
"""Where a DDIM round trip loses an image: encode one held-out image with
`ddim encode` (S steps), then decode that latent with the PyTorch reference
sampler twice, with S steps and with --fine steps, and print, at every
timestep of the S-step schedule, how far each decode's x̂₀ is from the image
and from the other.  Images are numbered as in docs/results.md, Table 2 (the
held-out set in results.py's fixed shuffle).

    /usr/bin/python3 tools/emoji/divergence_trace.py --image 32 [--steps 50]
        [--fine 200] [--model models/emoji32]

MSEs are per dimension on [0, 1] (x̂₀ not clipped; pixels as (x + 1) / 2).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import ddim_ref  # noqa: E402
import quality  # noqa: E402
from results import heldout_order, per_dim_mse  # noqa: E402
from unet2d import load_unet  # noqa: E402


def mse01(a, b):
    """Per-dimension MSE on [0, 1] of two model-space arrays, not clamped (x̂₀ may leave
    [−1, 1]; results.per_dim_mse clamps as an image is)."""
    return float((((a - b) / 2.0) ** 2).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "emoji32"))
    ap.add_argument("--ddim", default=os.path.join(ROOT, "build", "cli", "ddim"))
    ap.add_argument("--data", default=quality.DEFAULT_DATA)
    ap.add_argument("--image", type=int, required=True, help="index in Table 2's order")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--fine", type=int, default=200,
                    help="steps of the second decode (a multiple of --steps, so that its "
                         "timesteps include the S-step ones)")
    args = ap.parse_args()
    if args.fine % args.steps or 1000 % args.fine:
        ap.error("--fine must be a multiple of --steps and divide 1000")
    torch.set_num_threads(1)
    _, held = quality.load_dataset(args.data)
    order = heldout_order(args.data)
    if not 0 <= args.image < len(order):
        ap.error("--image must be in [0, %d)" % len(order))
    image = (held[order[args.image]][None] * 2.0 - 1.0).astype(np.float32)

    model = load_unet(args.model)[0]
    cfg = ddim_ref.load_scheduler_config(os.path.join(args.model, "scheduler_config.json"))
    sched = ddim_ref.Schedule(cfg)
    T = cfg["num_train_timesteps"]
    with tempfile.TemporaryDirectory() as tmp:
        source, latent = os.path.join(tmp, "image.npy"), os.path.join(tmp, "xt.npy")
        np.save(source, image)
        subprocess.run([args.ddim, "encode", args.model, source, "-o", latent, "--steps",
                        str(args.steps), "--threads", "1"], check=True, stdout=subprocess.DEVNULL)
        x_T = np.load(latent)

    decodes = {}
    for steps in (args.steps, args.fine):
        x0s = []
        out = ddim_ref.ddim_sample(model, sched, x_T, ddim_ref.timesteps("uniform", T, steps),
                                   prediction_type=cfg["prediction_type"], x0_trace=x0s)
        decodes[steps] = (out, dict(x0s))
    coarse, fine = decodes[args.steps], decodes[args.fine]
    print("image %d, latent from `ddim encode --steps %d` (starts at t = %d); the %d-step "
          "decode starts at t = %d" % (args.image, args.steps, T - T // args.steps, args.fine,
                                       T - T // args.fine))
    print("%5s  %14s  %14s  %16s" % ("t", "x0 err, S=%d" % args.steps,
                                      "x0 err, S=%d" % args.fine, "between the two"))
    for t in sorted(coarse[1], reverse=True):
        print("%5d  %14.4f  %14.4f  %16.4f" % (t, mse01(coarse[1][t], image),
                                                mse01(fine[1][t], image),
                                                mse01(coarse[1][t], fine[1][t])))
    print("round trip MSE: %d-step decode %.4f, %d-step decode %.4f (clamped to [0, 1]: "
          "%.4f, %.4f)" % (args.steps, mse01(coarse[0], image), args.fine, mse01(fine[0], image),
                           per_dim_mse(coarse[0], image)[0], per_dim_mse(fine[0], image)[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
