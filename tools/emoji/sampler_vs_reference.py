#!/usr/bin/python3
"""Long-run check: `ddim generate` against the PyTorch reference sampler
(tools/reference/ddim_ref.py) on a model folder, from the same x_T and noise.

    /usr/bin/python3 tools/emoji/sampler_vs_reference.py [--model models/emoji32]
        [--steps 1000] [--count 2] [--etas 1 0]

Prints the largest absolute difference per eta (1 thread each side).
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
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import ddim_ref  # noqa: E402
from unet2d import load_unet  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "emoji32"))
    ap.add_argument("--ddim", default=os.path.join(ROOT, "build", "cli", "ddim"))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--count", type=int, default=2)
    ap.add_argument("--etas", type=float, nargs="+", default=[1.0, 0.0])
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_unet(args.model)[0]
    cfg = ddim_ref.load_scheduler_config(os.path.join(args.model, "scheduler_config.json"))
    sched = ddim_ref.Schedule(cfg)
    ts = ddim_ref.timesteps("uniform", cfg["num_train_timesteps"], args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        xt_path, out_path = os.path.join(tmp, "xt.npy"), os.path.join(tmp, "out.npy")
        for eta in args.etas:
            subprocess.run([args.ddim, "generate", args.model, "--count", str(args.count),
                            "--seed", "0", "--steps", str(args.steps), "--eta", str(eta),
                            "--threads", "1", "--save-xt", xt_path, "-o", out_path],
                           check=True, stdout=subprocess.DEVNULL)
            ours = np.load(out_path)
            ref = ddim_ref.ddim_sample(model, sched, np.load(xt_path), ts, eta=eta,
                                       clip=cfg["clip_sample"], clip_range=cfg["clip_sample_range"],
                                       prediction_type=cfg["prediction_type"], seed=0)
            print("eta %g, %d steps, %d images: max |ddim - reference| = %.2g"
                  % (eta, args.steps, args.count, float(np.abs(ours - ref).max())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
