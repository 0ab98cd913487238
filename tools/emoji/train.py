#!/usr/bin/python3
"""Train the default emoji DDPM (diffusers UNet2DModel layout) on the CPU or a GPU.

Data: emoji32.npz from tools/emoji/prepare_data.sh -- uint8 premultiplied
RGBA, 32x32, arrays `train` and `heldout`.  Pixels are scaled to [-1, 1]
(x / 127.5 - 1) on all four channels.

Diffusion: DDPM, T = 1000, linear betas 1e-4 .. 0.02, epsilon objective
(MSE between predicted and true noise), t uniform in [0, 999], passed to the
network as the raw integer timestep (as a float tensor).  --prediction
v_prediction trains v = sqrt(abar) eps - sqrt(1-abar) x0 instead (Salimans &
Ho 2022; exported as the scheduler's prediction_type, which diffusers and
`ddim` follow): near t = T its implied epsilon tends to the trivial
x_t / sqrt(1-abar) by construction, where an epsilon network has to learn it
(tools/emoji/training-notes.md).  Logged losses and held-out numbers are
epsilon-MSEs either way.

Optimisation: Adam (lr 3e-4, betas 0.9/0.999), 200 steps linear warm-up, gradient-norm
clipping at 1, EMA of the weights (decay min(0.9995, (1+s)/(10+s))), random
horizontal flips, batch 64 drawn from per-epoch random permutations.

Architecture (why): the default model must be cheap to run, not only to
train.  The tiled sampler (any layer size) evaluates it on ~1,850 overlapping
32x32 tiles per step for a 1024x1024 layer, and a 20-step reconstruction (40
evaluations) has to finish in minutes on 2 cores: that allows about 0.4 GFLOP
per 32x32 evaluation.  Measured on this project's build machine (AMD EPYC,
AVX2, 2 threads, PyTorch 1.13, batch 64; conv + linear FLOPs per image):

  block_out_channels  layers  params   GFLOP/eval  s/step (train)
  [64, 128, 128]      2       6.47 M   2.89        5.4   (first run, 443 steps)
  [32, 64, 128]       2       3.94 M   1.07        2.75
  [32, 64, 128]       1       2.74 M   0.76        1.72
  [16, 32, 64, 128]   2       3.88 M   0.35        1.26   <- this model
  [16, 32, 64, 128]   2 + attention at 8x8 too     1.58

So four levels, 32x32 -> 16x16 -> 8x8 -> 4x4, with the capacity where
convolutions are cheap (128 channels at 4x4, 64 at 8x8), thin at full
resolution where emoji are flat colour and outlines:

  block_out_channels  [16, 32, 64, 128]
  layers_per_block    2
  down_block_types    DownBlock2D x3, AttnDownBlock2D (4x4)
  up_block_types      AttnUpBlock2D (4x4), UpBlock2D x3
  mid block           UNetMidBlock2D with attention (4x4: global context for
                      symmetric shapes -- faces, discs, flags -- at 16 tokens)
  attention_head_dim  32 (4 heads at 128 channels)
  norm_num_groups     8
  diffusers defaults otherwise (positional embedding, flip_sin_to_cos true,
  freq_shift 0, downsample_padding 1, norm_eps 1e-5, SiLU, conv up/down).

3,878,596 parameters (< 8 M).  Attention at 8x8 as well costs 25 % more per
training step (table above), hence attention only at 4x4.  What limits the
samples at this size: tools/emoji/training-notes.md.

Run states and files in --out:
  checkpoint.pt      model, EMA, optimizer, step, images seen, epoch order and
                     position, RNG states, loss log, cumulative wall time;
                     written atomically every --ckpt-minutes and on exit
                     (end of budget, SIGTERM, SIGINT).
  loss_log.csv       step, images_seen, wall_s, loss, loss_ema
  eval_log.csv       EMA-model epsilon-MSE on the held-out images and on a
                     fixed train subset of the same size (fixed noise and t),
                     at a checkpoint at most every --eval-minutes, and at exit

Usage:
  train.py --data ~/.cache/ddim-emoji/emoji32.npz --out RUN [--threads 2]
  train.py --data ... --out RUN --resume          # continue exactly
  train.py --data ... --out RUN --resume --anneal-steps N
                                                  # finish: lr cosine to 0 over N steps
  train.py --data ... --out RUN --init-from models/emoji32
                     # continue from an exported model on a machine without the
                     # checkpoint: its EMA weights start both the model and the
                     # EMA, its loss_log/eval_log continue (steps, images, wall
                     # time); Adam's moments start afresh, with a new warm-up
  train.py --data ... --out RUN --init-from models/emoji32 --prediction v_prediction
                     # the same, switching an epsilon model to v (the EMA restarts)
  train.py --out RUN --export DIR                 # EMA weights -> diffusers folder
"""

import argparse
import copy
import csv
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import reference.unet2d as unet2d  # noqa: E402  (tools/reference)
from reference.unet2d import UNet2DModel  # noqa: E402
from reference import io_st  # noqa: E402

CKPT_NAME = "checkpoint.pt"
CKPT_VERSION = 1

# Full, explicit diffusers UNet2DModel config (every __init__ field).
MODEL_CONFIG = {
    "_class_name": "UNet2DModel",
    "_diffusers_version": "0.30.0",
    "sample_size": 32,
    "in_channels": 4,
    "out_channels": 4,
    "center_input_sample": False,
    "time_embedding_type": "positional",
    "time_embedding_dim": None,
    "freq_shift": 0,
    "flip_sin_to_cos": True,
    "down_block_types": ["DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
    "mid_block_type": "UNetMidBlock2D",
    "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"],
    "block_out_channels": [16, 32, 64, 128],
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "downsample_padding": 1,
    "downsample_type": "conv",
    "upsample_type": "conv",
    "dropout": 0.0,
    "act_fn": "silu",
    "attention_head_dim": 32,
    "norm_num_groups": 8,
    "attn_norm_num_groups": None,
    "norm_eps": 1e-05,
    "resnet_time_scale_shift": "default",
    "add_attention": True,
    "class_embed_type": None,
    "num_class_embeds": None,
    "num_train_timesteps": None,
}

SCHEDULER_CONFIG = {
    "_class_name": "DDPMScheduler",
    "_diffusers_version": "0.30.0",
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "trained_betas": None,
    "variance_type": "fixed_small",
    "clip_sample": True,
    "clip_sample_range": 1.0,
    "prediction_type": "epsilon",
    "thresholding": False,
    "timestep_spacing": "leading",
    "steps_offset": 0,
    "rescale_betas_zero_snr": False,
}

T = 1000


def alphas_cumprod():
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def eps_from_prediction(pred, xt, alpha_bar, prediction):
    """The network's output as an epsilon prediction: for v, eps = sqrt(abar) v + sqrt(1-abar) x_t
    (Salimans & Ho 2022, eq. in the v-parameterisation's appendix; diffusers' DDIMScheduler)."""
    if prediction == "epsilon":
        return pred
    return alpha_bar.sqrt() * pred + (1 - alpha_bar).sqrt() * xt


# --------------------------------------------------------------------------
# small helpers

def atomic_torch_save(obj, path):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_text(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_csv(path, header, rows):
    import io
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


LOSS_HEADER = ["step", "images_seen", "wall_s", "loss", "loss_ema"]
EVAL_HEADER = ["step", "images_seen", "wall_s", "heldout_mse", "train_subset_mse"]


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def load_data(path):
    d = np.load(path)
    train = torch.from_numpy(d["train"]).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    held = torch.from_numpy(d["heldout"]).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return train.contiguous(), held.contiguous()


# --------------------------------------------------------------------------
# evaluation: fixed noise / timesteps, so numbers are comparable over a run

@torch.no_grad()
def eval_mse(model, images, device, acp, prediction="epsilon", seed=1234, batch=128):
    """Held-out epsilon-MSE, whatever the network predicts (so runs compare)."""
    g = torch.Generator().manual_seed(seed)
    n = images.shape[0]
    t = torch.randint(0, T, (n,), generator=g)
    noise = torch.randn(images.shape, generator=g)
    total = 0.0
    for i in range(0, n, batch):
        x0 = images[i:i + batch]
        tt = t[i:i + batch]
        e = noise[i:i + batch]
        a = acp[tt].float().view(-1, 1, 1, 1)
        xt = (a.sqrt() * x0 + (1 - a).sqrt() * e).to(device)
        pred = model(xt, tt.float())  # timesteps stay on the CPU
        eps_pred = eps_from_prediction(pred.float(), xt, a.to(device), prediction)
        total += F.mse_loss(eps_pred, e.to(device), reduction="sum").item()
    return total / images.numel()


# --------------------------------------------------------------------------
# export

def read_csv(path):
    """Rows of a log written by write_csv, numbers as floats (header dropped)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return [[int(v) if v.lstrip("-").isdigit() else float(v) for v in row] for row in rows[1:] if row]


def export(ckpt, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    scheduler_config = dict(SCHEDULER_CONFIG)
    scheduler_config["prediction_type"] = ckpt["hparams"].get("prediction", "epsilon")
    config = ckpt["model_config"]
    ema = ckpt["ema"]
    tensors = {k: v.detach().to("cpu", torch.float32).numpy() for k, v in ema.items()}
    for k, v in tensors.items():
        if not np.isfinite(io_st.round_to_dtype(v, "F16")).all():
            raise RuntimeError("tensor %s overflows fp16" % k)
    st_path = os.path.join(out_dir, "diffusion_pytorch_model.safetensors")
    io_st.save_file(tensors, st_path + ".tmp", dtype="F16", metadata={"format": "pt"})
    os.replace(st_path + ".tmp", st_path)
    atomic_write_text(os.path.join(out_dir, "config.json"),
                      json.dumps(config, indent=2) + "\n")
    atomic_write_text(os.path.join(out_dir, "scheduler_config.json"),
                      json.dumps(scheduler_config, indent=2) + "\n")
    write_csv(os.path.join(out_dir, "loss_log.csv"), LOSS_HEADER, ckpt["loss_log"])
    if ckpt.get("eval_log"):
        write_csv(os.path.join(out_dir, "eval_log.csv"), EVAL_HEADER, ckpt["eval_log"])
    return st_path


# --------------------------------------------------------------------------

def new_run_hparams(args, n_train):
    """The hyper-parameters a new run (or --init-from) records; --resume reads them back."""
    return {"batch": args.batch, "lr": args.lr, "warmup": args.warmup, "ema": args.ema,
            "grad_clip": args.grad_clip, "seed": args.seed, "n_train": n_train,
            "data": os.path.abspath(args.data),
            "loss_weight": args.loss_weight, "weight_cap": args.weight_cap,
            "prediction": args.prediction}


class Stop:
    requested = None


def on_signal(signum, frame):
    Stop.requested = signal.Signals(signum).name


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="emoji32.npz")
    ap.add_argument("--out", required=True, help="run folder (checkpoint, logs)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    ap.add_argument("--anneal-steps", type=int, default=0, metavar="N",
                    help="end the run with a cosine decay of the learning rate to 0 over the "
                         "next N steps (counted from the step where the option is first given; "
                         "recorded in the checkpoint, so --resume keeps it); the run stops "
                         "when it ends")
    ap.add_argument("--loss-weight", default="uniform", choices=["uniform", "truncated-snr"],
                    help="uniform: the plain MSE of the prediction (epsilon: DDPM L_simple; v with "
                         "--prediction v_prediction); truncated-snr (epsilon only): epsilon-MSE "
                         "times min(cap, max(1, 1/SNR(t))), i.e. max(SNR, 1) times the x0-MSE "
                         "(Salimans & Ho 2022, sec. 4), capped at --weight-cap")
    ap.add_argument("--weight-cap", type=float, default=1000.0,
                    help="largest truncated-snr weight (1/SNR reaches 2.5e4 at t = 999)")
    ap.add_argument("--prediction", default="epsilon", choices=["epsilon", "v_prediction"],
                    help="what the network predicts (a new run's or --init-from's choice; "
                         "exported as the scheduler's prediction_type): epsilon (DDPM), or "
                         "v = sqrt(abar) eps - sqrt(1-abar) x0 (Salimans & Ho 2022)")
    ap.add_argument("--ema", type=float, default=0.9995, help="EMA decay")
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", metavar="JSON",
                    help="new runs only: JSON object (or file) of UNet2DModel config fields "
                         "overriding the built-in architecture (e.g. for tests)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop at this step (0: no limit)")
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="stop after this much cumulative training wall time (0: no limit)")
    ap.add_argument("--ckpt-minutes", type=float, default=10.0)
    ap.add_argument("--log-every", type=int, default=10, help="steps between loss-log rows")
    ap.add_argument("--eval-minutes", type=float, default=60.0,
                    help="held-out eval at a checkpoint when this long since the last one "
                         "(and always at exit); 0: at every checkpoint")
    ap.add_argument("--no-eval", action="store_true", help="skip held-out eval at checkpoints")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    ap.add_argument("--init-from", metavar="DIR",
                    help="new run starting from an exported model folder (e.g. models/emoji32): "
                         "weights, step count and logs; a fresh optimizer with a new warm-up")
    ap.add_argument("--export", metavar="DIR",
                    help="only export the EMA weights of OUT/checkpoint.pt as a diffusers folder")
    args = ap.parse_args()
    if args.loss_weight == "truncated-snr" and args.prediction == "v_prediction" and not args.resume:
        # the v-MSE is already the ε-MSE over ᾱ = (1 + 1/SNR) times it: the x̂₀ error is in
        # charge at large t by construction, and the truncated-SNR weight would count it twice
        ap.error("--loss-weight truncated-snr weights an ε-MSE; with --prediction v_prediction "
                 "the v-MSE already weights large t (it is the ε-MSE times 1 + 1/SNR)")

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass

    ckpt_path = os.path.join(args.out, CKPT_NAME)

    if args.export:
        ckpt = torch.load(ckpt_path, map_location="cpu")
        path = export(ckpt, args.export)
        print("exported EMA weights at step %d (%d images seen) to %s"
              % (ckpt["step"], ckpt["images_seen"], path))
        return 0

    if not args.data:
        ap.error("--data is required for training")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device")
    device = torch.device(args.device)
    if args.device == "cuda":
        # tools/reference/unet2d.py builds its timestep tensors on the CPU; keep
        # the timesteps on the CPU and move only the embedding to the GPU.
        cpu_embedding = unet2d.timestep_embedding

        def embedding_on_device(ts, *a, **k):
            return cpu_embedding(ts.cpu(), *a, **k).to(device)
        unet2d.timestep_embedding = embedding_on_device
    os.makedirs(args.out, exist_ok=True)

    train_x, held_x = load_data(args.data)
    n_train = train_x.shape[0]
    acp = alphas_cumprod()
    acp_dev = acp.float().to(device)

    if args.resume:
        ckpt = torch.load(ckpt_path, map_location="cpu")
        if ckpt["version"] != CKPT_VERSION:
            raise SystemExit("checkpoint version %r not supported" % ckpt["version"])
        config = ckpt["model_config"]
        hp = ckpt["hparams"]
        if hp["n_train"] != n_train:
            raise SystemExit("data has %d training images, checkpoint was trained on %d"
                             % (n_train, hp["n_train"]))
        # the hyper-parameters that define the run come from the checkpoint
        hp.setdefault("loss_weight", "uniform")  # runs from before the option
        hp.setdefault("weight_cap", ap.get_default("weight_cap"))
        hp.setdefault("prediction", "epsilon")
        for k in ("batch", "lr", "warmup", "ema", "grad_clip", "loss_weight", "weight_cap",
                  "prediction"):
            if getattr(args, k) != hp[k] and ap.get_default(k) != getattr(args, k):
                print("note: --%s %r ignored, the run uses %r" % (k, getattr(args, k), hp[k]))
            setattr(args, k, hp[k])
        if "anneal_from" in hp and args.anneal_steps and args.anneal_steps != hp["anneal_steps"]:
            print("note: --anneal-steps %d ignored, the run anneals over %d steps from step %d"
                  % (args.anneal_steps, hp["anneal_steps"], hp["anneal_from"]))
    elif args.init_from:
        if os.path.exists(ckpt_path):
            raise SystemExit("%s exists: use --resume, or another --out" % ckpt_path)
        for name in ("config.json", "scheduler_config.json", "diffusion_pytorch_model.safetensors",
                     "loss_log.csv"):
            if not os.path.isfile(os.path.join(args.init_from, name)):
                raise SystemExit("--init-from %s: no %s (an exported model folder, e.g. "
                                 "models/emoji32)" % (args.init_from, name))
        with open(os.path.join(args.init_from, "config.json")) as f:
            config = json.load(f)
        torch.manual_seed(args.seed)
        hp = new_run_hparams(args, n_train)
        hp["init_from"] = os.path.abspath(args.init_from)
    else:
        if os.path.exists(ckpt_path):
            raise SystemExit("%s exists: use --resume, or another --out" % ckpt_path)
        config = dict(MODEL_CONFIG)
        if args.config:
            text = args.config
            if os.path.isfile(text):
                with open(text) as f:
                    text = f.read()
            config.update(json.loads(text))
        torch.manual_seed(args.seed)
        hp = new_run_hparams(args, n_train)

    model = UNet2DModel(config).to(device)
    ema_model = copy.deepcopy(model).eval()
    for p in ema_model.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    gen = torch.Generator()  # all training randomness (order, flips, t, noise)

    if args.resume:
        model.load_state_dict(ckpt["model"])
        ema_model.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["optimizer"])
        gen.set_state(ckpt["rng"]["generator"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if args.device == "cuda" and ckpt["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"])
        np.random.set_state(ckpt["rng"]["numpy"])
        step = ckpt["step"]
        images_seen = ckpt["images_seen"]
        perm = ckpt["perm"]
        perm_pos = ckpt["perm_pos"]
        epoch = ckpt["epoch"]
        loss_log = ckpt["loss_log"]
        eval_log = ckpt.get("eval_log", [])
        loss_ema = ckpt["loss_ema"]
        wall_before = ckpt["wall_s"]
        del ckpt
        print("resumed at step %d, %d images seen, %.1f min trained"
              % (step, images_seen, wall_before / 60))
    else:
        gen.manual_seed(args.seed)
        step = images_seen = epoch = perm_pos = 0
        perm = torch.randperm(n_train, generator=gen)
        loss_log, eval_log = [], []
        loss_ema = None
        wall_before = 0.0
        if args.init_from:
            weights = io_st.load_file(os.path.join(args.init_from,
                                                   "diffusion_pytorch_model.safetensors"))
            state = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in weights.items()}
            model.load_state_dict(state)
            ema_model.load_state_dict(state)
            loss_log = read_csv(os.path.join(args.init_from, "loss_log.csv"))
            eval_path = os.path.join(args.init_from, "eval_log.csv")
            eval_log = read_csv(eval_path) if os.path.exists(eval_path) else []
            if loss_log:
                step, images_seen, wall_before = (int(loss_log[-1][0]), int(loss_log[-1][1]),
                                                  float(loss_log[-1][2]))
                loss_ema = float(loss_log[-1][4])
            hp["warmup_from"] = step
            with open(os.path.join(args.init_from, "scheduler_config.json")) as f:
                init_prediction = json.load(f).get("prediction_type", "epsilon")
            if init_prediction != hp["prediction"]:
                # A new objective: the EMA must forget the old one's weights, so its
                # (1+s)/(10+s) warm-up counts from here.
                hp["ema_from"] = step
                hp["init_prediction"] = init_prediction
            print("initialised from %s at step %d, %d images seen, %.1f min trained "
                  "(fresh optimizer, warm-up from step %d)"
                  % (args.init_from, step, images_seen, wall_before / 60, step))

    # truncated-snr weights per timestep (see the training step)
    inverse_snr = (1 - acp) / acp
    loss_weights = inverse_snr.clamp(1.0, hp["weight_cap"])
    loss_weights = (loss_weights / loss_weights.mean()).float().to(device)
    # --anneal-steps counts from the step where it is first given (a new run's 0, a resume's)
    if args.anneal_steps and "anneal_from" not in hp:
        hp["anneal_from"], hp["anneal_steps"] = step, args.anneal_steps
    anneal_end = hp["anneal_from"] + hp["anneal_steps"] if "anneal_from" in hp else None

    nparams = count_params(model)
    print("model: %s, %d parameters; data: %d train, %d held out; batch %d, lr %g, "
          "warm-up %d, EMA %g, loss weight %s, prediction %s, device %s, %d threads"
          % (config["block_out_channels"], nparams, n_train, held_x.shape[0], args.batch,
             args.lr, args.warmup, args.ema,
             hp["loss_weight"] + (" (cap %g)" % hp["weight_cap"]
                                  if hp["loss_weight"] != "uniform" else ""),
             hp["prediction"], args.device, torch.get_num_threads()),
          flush=True)

    eval_sub = train_x[torch.arange(0, n_train, max(1, n_train // held_x.shape[0]))[:held_x.shape[0]]]

    def save(reason):
        nonlocal eval_log
        wall = wall_before + (time.monotonic() - t_start)
        due = (reason != "periodic" or not eval_log
               or wall - eval_log[-1][2] >= args.eval_minutes * 60)
        if not args.no_eval and due and (not eval_log or eval_log[-1][0] != step):
            hm = eval_mse(ema_model, held_x, device, acp, hp["prediction"])
            tm = eval_mse(ema_model, eval_sub, device, acp, hp["prediction"])
            eval_log.append([step, images_seen, round(wall, 1), hm, tm])
            write_csv(os.path.join(args.out, "eval_log.csv"), EVAL_HEADER, eval_log)
            ev = " heldout %.5f train-subset %.5f" % (hm, tm)
        else:
            ev = ""
        state = {
            "version": CKPT_VERSION,
            "model_config": config,
            "hparams": hp,
            "model": model.state_dict(),
            "ema": ema_model.state_dict(),
            "optimizer": opt.state_dict(),
            "step": step,
            "images_seen": images_seen,
            "epoch": epoch,
            "perm": perm,
            "perm_pos": perm_pos,
            "rng": {"generator": gen.get_state(), "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state() if args.device == "cuda" else None,
                    "numpy": np.random.get_state()},
            "loss_log": loss_log,
            "eval_log": eval_log,
            "loss_ema": loss_ema,
            "wall_s": wall,
        }
        atomic_torch_save(state, ckpt_path)
        write_csv(os.path.join(args.out, "loss_log.csv"), LOSS_HEADER, loss_log)
        print("checkpoint (%s) step %d images %d wall %.1f min%s"
              % (reason, step, images_seen, wall / 60, ev), flush=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    model.train()
    t_start = time.monotonic()
    t_ckpt = t_start
    t_report = t_start
    step_at_report = step
    reason = "end"
    while True:
        if Stop.requested:
            reason = Stop.requested
            break
        if args.max_steps and step >= args.max_steps:
            reason = "max-steps"
            break
        if anneal_end is not None and step >= anneal_end:
            reason = "annealed"
            break
        if args.max_minutes and wall_before + time.monotonic() - t_start >= args.max_minutes * 60:
            reason = "max-minutes"
            break

        # batch indices from the epoch permutation
        idx, have = [], 0
        while have < args.batch:
            if perm_pos >= n_train:
                perm = torch.randperm(n_train, generator=gen)
                perm_pos = 0
                epoch += 1
            take = min(args.batch - have, n_train - perm_pos)
            idx.append(perm[perm_pos:perm_pos + take])
            perm_pos += take
            have += take
        idx = torch.cat(idx) if len(idx) > 1 else idx[0]
        x0 = train_x[idx]
        flip = torch.rand(args.batch, generator=gen) < 0.5
        x0 = torch.where(flip.view(-1, 1, 1, 1), x0.flip(3), x0)
        t = torch.randint(0, T, (args.batch,), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)

        x0, noise = x0.to(device), noise.to(device)
        a = acp_dev[t.to(device)].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise

        # Warm-up from the run's start (or from --init-from's step: fresh Adam moments).
        lr = args.lr * min(1.0, (step - hp.get("warmup_from", 0) + 1) / max(1, args.warmup))
        if anneal_end is not None:
            # Cosine decay to 0 at the end of the run (SGDR-style half cosine): the weights
            # settle into the basin that constant-lr noise keeps them circling.
            done = (step - hp["anneal_from"]) / max(1, hp["anneal_steps"])
            lr *= 0.5 * (1 + math.cos(math.pi * min(1.0, done)))
        for g_ in opt.param_groups:
            g_["lr"] = lr
        pred = model(xt, t.float())  # timesteps stay on the CPU (see above)
        if hp["prediction"] == "v_prediction":
            # v = sqrt(abar) eps - sqrt(1-abar) x0: near t = T the target is -x0, so the
            # implied eps (see eps_from_prediction) tends to x_t / sqrt(1-abar) by construction
            # instead of having to be learnt (tools/emoji/training-notes.md, section 1).
            target = a.sqrt() * noise - (1 - a).sqrt() * x0
            per_image = (pred - target).pow(2).mean(dim=(1, 2, 3))
            with torch.no_grad():
                eps_mse = (eps_from_prediction(pred, xt, a, "v_prediction") - noise).pow(2).mean()
            loss = eps_mse  # logged: the epsilon-MSE, comparable with epsilon runs
            train_loss = per_image.mean()
        else:
            per_image = (pred - noise).pow(2).mean(dim=(1, 2, 3))
            loss = per_image.mean()  # the epsilon-MSE, logged whatever the weighting
            train_loss = loss
        if hp["loss_weight"] == "truncated-snr":
            # ε error e costs e·√((1−ᾱ)/ᾱ) in x̂₀: at t near T the uniform loss barely sees an
            # error that wrecks x̂₀ (and with it the first DDIM steps). max(1, 1/SNR) puts the
            # x̂₀ error in charge there; divided by its mean over t so the step size stays put.
            train_loss = (per_image * loss_weights[t.to(device)]).mean()
        opt.zero_grad(set_to_none=True)
        train_loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()

        ema_step = step - hp.get("ema_from", 0)
        decay = min(args.ema, (1 + ema_step) / (10 + ema_step))
        with torch.no_grad():
            for pe, pm in zip(ema_model.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
            for be, bm in zip(ema_model.buffers(), model.buffers()):
                be.copy_(bm)

        step += 1
        images_seen += args.batch
        lv = loss.item()
        if not math.isfinite(lv):
            raise SystemExit("loss is %r at step %d; not saving" % (lv, step))
        loss_ema = lv if loss_ema is None else 0.99 * loss_ema + 0.01 * lv
        now = time.monotonic()
        if step % args.log_every == 0:
            loss_log.append([step, images_seen, round(wall_before + now - t_start, 1),
                             round(lv, 6), round(loss_ema, 6)])
        if now - t_report >= 60 or step - step_at_report == 1 and step_at_report == 0:
            sps = (now - t_report) / max(1, step - step_at_report)
            print("step %d images %d epoch %d loss %.5f ema %.5f lr %.2e %.2f s/step"
                  % (step, images_seen, epoch, lv, loss_ema, lr, sps), flush=True)
            t_report, step_at_report = now, step
        if now - t_ckpt >= args.ckpt_minutes * 60:
            save("periodic")
            t_ckpt = time.monotonic()

    save(reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())
