#!/usr/bin/python3
"""Where in t a DDPM's epsilon prediction is good or bad, on held-out images.

For each timestep t: noise the held-out images to x_t (fixed seed), evaluate
the network, and print

  eps-MSE            mean (eps_pred - eps)^2, what training minimises
  trivial eps-MSE    the same for eps_pred = x_t / sqrt(1 - alpha_bar_t),
                     i.e. "x0 = 0": a network that cannot beat this at
                     large t wastes the first sampling steps
  x0-MSE             the error that eps error becomes in the predicted x0
                     (DDIM eq. 12's first term): eps-MSE * (1 - alpha_bar) / alpha_bar
  x0-MSE of x0 = 0   mean x0^2: what predicting nothing scores in x0
  offset share       the part of eps-MSE that is a constant per image and
                     channel (the squared mean of the error over pixels)

    /usr/bin/python3 tools/emoji/eps_by_t.py models/emoji32
    /usr/bin/python3 tools/emoji/eps_by_t.py RUN/checkpoint.pt [--weights model]

MODEL is an exported folder (config.json, diffusion_pytorch_model.safetensors)
or a train.py checkpoint (its EMA weights, or --weights model for the raw ones).
A v-prediction model (scheduler_config.json's prediction_type, or the checkpoint's
--prediction) is scored on the epsilon its output implies,
eps = sqrt(abar) v + sqrt(1 - abar) x_t, so that the columns compare across objectives.
Runs in PyTorch (tools/reference/unet2d.py), so it needs python3-torch.
"""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "reference"))

import train  # noqa: E402
from unet2d import UNet2DModel, load_unet  # noqa: E402

TIMESTEPS = [0, 10, 50, 100, 200, 400, 600, 700, 800, 900, 950, 999]


def load_model(path, weights):
    """(network, prediction type) of an exported folder or a train.py checkpoint."""
    if os.path.isdir(path):
        with open(os.path.join(path, "scheduler_config.json")) as f:
            prediction = json.load(f).get("prediction_type", "epsilon")
        return load_unet(path)[0], prediction
    ckpt = torch.load(path, map_location="cpu")
    model = UNet2DModel(ckpt["model_config"])
    model.load_state_dict(ckpt[weights])
    return model.eval(), ckpt["hparams"].get("prediction", "epsilon")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="exported model folder or train.py checkpoint")
    ap.add_argument("--weights", choices=["ema", "model"], default="ema",
                    help="which weights of a checkpoint (default ema)")
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/ddim-emoji/emoji32.npz"))
    ap.add_argument("--timesteps", type=int, nargs="+", default=TIMESTEPS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    model, prediction = load_model(args.model, args.weights)
    _, held = train.load_data(args.data)
    alpha_bar = train.alphas_cumprod()
    x0_power = float(held.pow(2).mean())

    print("%d held-out images, seed %d, model %s%s, %s"
          % (len(held), args.seed, args.model,
             "" if os.path.isdir(args.model) else " (%s weights)" % args.weights, prediction))
    print()
    print("| t | ᾱ_t | ε-MSE | trivial ε-MSE | x̂₀-MSE | x̂₀-MSE of x̂₀ = 0 | offset share |")
    print("|---|---|---|---|---|---|---|")
    with torch.no_grad():
        for t in args.timesteps:
            a = alpha_bar[t].float()
            # noise drawn per t, so a row does not depend on which other rows are asked for
            gen = torch.Generator().manual_seed(args.seed * 1000 + t)
            eps = torch.randn(held.shape, generator=gen)
            x_t = a.sqrt() * held + (1 - a).sqrt() * eps
            output = model(x_t, torch.full((len(held),), float(t)))
            eps_pred = train.eps_from_prediction(output, x_t, a, prediction)
            error = eps_pred - eps
            mse = float(error.pow(2).mean())
            offset = float(error.mean(dim=(2, 3)).pow(2).mean())
            trivial = float((x_t / (1 - a).sqrt() - eps).pow(2).mean())
            print("| %d | %.3g | %.5f | %.5f | %.4g | %.3f | %.0f %% |"
                  % (t, float(a), mse, trivial, mse * float((1 - a) / a), x0_power,
                     100 * offset / mse))
    return 0


if __name__ == "__main__":
    sys.exit(main())
