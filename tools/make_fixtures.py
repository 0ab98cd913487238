#!/usr/bin/python3
"""Write the C engine's test fixtures into tests/fixtures/ (deterministic).

    /usr/bin/python3 tools/make_fixtures.py            # (re)write everything
    /usr/bin/python3 tools/make_fixtures.py --check    # recompute, compare with the files

Tiny random-weight diffusers UNet2DModel folders (several config styles and
weight dtypes), network outputs, DDIM samples, inversions and Philox noise,
all computed with the independent PyTorch reference in tools/reference/.
tests/fixtures/manifest.json lists every case with its parameters.
Needs PyTorch (1.13) and numpy; no diffusers / safetensors packages.
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))
import ddim_ref as R  # noqa: E402
import io_st  # noqa: E402
from unet2d import UNet2DModel, load_unet, resolve_config, find_unet_folder, find_scheduler_config  # noqa: E402

ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "fixtures")

torch.set_num_threads(1)  # deterministic reduction order

EPS_T = (0, 37, 999)

# ---------------------------------------------------------------------------
# Model definitions.  "config" is written verbatim to config.json (keys not
# listed there take diffusers' defaults when loaded).

MODELS = {
    # Google DDPM style (as google/ddpm-cifar10-32): every key explicit,
    # flip_sin_to_cos false, freq_shift 1, downsample_padding 0 (right/bottom
    # pad), norm_eps 1e-6, attention_head_dim null (one head), old attention
    # key names (query/key/value/proj_attn), F32.
    "google_f32": {
        "layout": "flat",
        "dtype": "F32",
        "old_attention_names": True,
        "seed": 101,
        "config": {
            "_class_name": "UNet2DModel",
            "_diffusers_version": "0.0.4",
            "act_fn": "silu",
            "attention_head_dim": None,
            "block_out_channels": [16, 24, 24],
            "center_input_sample": False,
            "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
            "downsample_padding": 0,
            "flip_sin_to_cos": False,
            "freq_shift": 1,
            "in_channels": 3,
            "layers_per_block": 2,
            "mid_block_scale_factor": 1,
            "norm_eps": 1e-06,
            "norm_num_groups": 8,
            "out_channels": 3,
            "sample_size": 16,
            "time_embedding_type": "positional",
            "up_block_types": ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
        },
        "scheduler": {
            "_class_name": "DDPMScheduler",
            "_diffusers_version": "0.1.1",
            "beta_end": 0.02,
            "beta_schedule": "linear",
            "beta_start": 0.0001,
            "clip_sample": True,
            "num_train_timesteps": 1000,
            "trained_betas": None,
            "variance_type": "fixed_large",
        },
    },
    # diffusers-default style: nearly every key ABSENT, so the __init__
    # defaults apply: 4 blocks (DownBlock2D, AttnDownBlock2D x3 /
    # AttnUpBlock2D x3, UpBlock2D), layers_per_block 2, attention_head_dim 8,
    # flip_sin_to_cos true, freq_shift 0, downsample_padding 1, norm_eps 1e-5.
    # F16 weights, current key names, no scheduler config.
    "diffusers_f16": {
        "layout": "flat",
        "dtype": "F16",
        "old_attention_names": False,
        "seed": 202,
        "config": {
            "_class_name": "UNet2DModel",
            "_diffusers_version": "0.21.4",
            "block_out_channels": [16, 16, 24, 32],
            "in_channels": 4,
            "norm_num_groups": 8,
            "out_channels": 4,
            "sample_size": 16,
        },
        "scheduler": None,
    },
    # resnet_time_scale_shift "scale_shift" (time_emb_proj -> 2*C; the mid
    # attention then has NO group_norm because attn_norm_num_groups is null),
    # mid_block_scale_factor sqrt(2), attention_head_dim 16, attention in the
    # full-resolution down block and in up_blocks.1 (a different level),
    # time_embedding_dim 48 (not 4*C0), flip true with freq_shift 1.  BF16.
    "scaleshift_bf16": {
        "layout": "flat",
        "dtype": "BF16",
        "old_attention_names": False,
        "seed": 303,
        "config": {
            "_class_name": "UNet2DModel",
            "_diffusers_version": "0.30.0",
            "act_fn": "silu",
            "add_attention": True,
            "attention_head_dim": 16,
            "attn_norm_num_groups": None,
            "block_out_channels": [16, 32, 32],
            "center_input_sample": False,
            "class_embed_type": None,
            "down_block_types": ["AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
            "downsample_padding": 1,
            "downsample_type": "conv",
            "dropout": 0.0,
            "flip_sin_to_cos": True,
            "freq_shift": 1,
            "in_channels": 3,
            "layers_per_block": 2,
            "mid_block_scale_factor": 1.41421356,
            "norm_eps": 1e-06,
            "norm_num_groups": 8,
            "num_class_embeds": None,
            "num_train_timesteps": None,
            "out_channels": 3,
            "resnet_time_scale_shift": "scale_shift",
            "sample_size": 16,
            "time_embedding_dim": 48,
            "time_embedding_type": "positional",
            "up_block_types": ["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
            "upsample_type": "conv",
        },
        "scheduler": {
            "_class_name": "DDIMScheduler",
            "_diffusers_version": "0.30.0",
            "beta_end": 0.02,
            "beta_schedule": "squaredcos_cap_v2",
            "beta_start": 0.0001,
            "clip_sample": False,
            "num_train_timesteps": 1000,
            "prediction_type": "epsilon",
            "set_alpha_to_one": True,
            "steps_offset": 0,
            "timestep_spacing": "leading",
        },
    },
    # diffusers pipeline folder (unet/, scheduler/, model_index.json), one
    # channel, layers_per_block 1, center_input_sample true, 3 heads of 8,
    # `_use_default_values` naming flip_sin_to_cos and norm_eps (their values
    # in the file, false and 0.01, must be IGNORED: true and 1e-5 apply).
    # Scheduler like Stable Diffusion 2: scaled_linear, set_alpha_to_one
    # false, steps_offset 1, v_prediction, clip_sample false.  F32.
    "gray_pipeline": {
        "layout": "pipeline",
        "dtype": "F32",
        "old_attention_names": False,
        "seed": 404,
        "config": {
            "_class_name": "UNet2DModel",
            "_diffusers_version": "0.25.0",
            "_use_default_values": ["flip_sin_to_cos", "norm_eps"],
            "act_fn": "silu",
            "attention_head_dim": 8,
            "block_out_channels": [16, 24],
            "center_input_sample": True,
            "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
            "downsample_padding": 1,
            "flip_sin_to_cos": False,
            "freq_shift": 0,
            "in_channels": 1,
            "layers_per_block": 1,
            "mid_block_scale_factor": 1,
            "norm_eps": 0.01,
            "norm_num_groups": 8,
            "out_channels": 1,
            "sample_size": 16,
            "time_embedding_type": "positional",
            "up_block_types": ["AttnUpBlock2D", "UpBlock2D"],
        },
        "scheduler": {
            "_class_name": "DDIMScheduler",
            "_diffusers_version": "0.25.0",
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "beta_start": 0.00085,
            "clip_sample": False,
            "num_train_timesteps": 1000,
            "prediction_type": "v_prediction",
            "set_alpha_to_one": False,
            "steps_offset": 1,
            "timestep_spacing": "leading",
        },
    },
    # Smallest model: no attention anywhere (add_attention false), 4 groups,
    # 8x8.  Scheduler with T = 500, trained_betas, prediction_type "sample",
    # clip_sample true with clip_sample_range 0.75.  F32.
    "tiny_sample": {
        "layout": "flat",
        "dtype": "F32",
        "old_attention_names": False,
        "seed": 505,
        "config": {
            "_class_name": "UNet2DModel",
            "_diffusers_version": "0.25.0",
            "add_attention": False,
            "block_out_channels": [8, 16],
            "down_block_types": ["DownBlock2D", "DownBlock2D"],
            "in_channels": 1,
            "layers_per_block": 1,
            "norm_num_groups": 4,
            "out_channels": 1,
            "sample_size": 8,
            "up_block_types": ["UpBlock2D", "UpBlock2D"],
        },
        "scheduler": "tiny",  # filled in below (trained_betas)
    },
}


def _tiny_scheduler():
    T = 500
    # a smooth schedule that is neither linear nor cosine, rounded to 8 digits
    betas = [round(1e-4 + (0.03 - 1e-4) * (i / (T - 1)) ** 1.5, 8) for i in range(T)]
    return {
        "_class_name": "DDIMScheduler",
        "_diffusers_version": "0.25.0",
        "beta_end": 0.02,
        "beta_schedule": "linear",
        "beta_start": 0.0001,
        "clip_sample": True,
        "clip_sample_range": 0.75,
        "num_train_timesteps": T,
        "prediction_type": "sample",
        "set_alpha_to_one": True,
        "steps_offset": 0,
        "trained_betas": betas,
    }


MODELS["tiny_sample"]["scheduler"] = _tiny_scheduler()


# ---------------------------------------------------------------------------
# Weights


def init_weights(model, seed):
    """Random weights with O(1) activations: conv/linear ~ N(0, g^2/fan_in),
    non-zero biases, GroupNorm affine 1 + 0.25 N / 0.2 N.  Attention q/k get
    a larger gain so the softmax is far from uniform.  The conv_in channels
    of GroupNorm group 0 are scaled by 0.01: their variance (~1e-4) makes
    norm_eps matter (1e-6 vs 1e-5 changes the result by a few percent)."""
    rng = np.random.default_rng(seed)
    state = {}
    groups = model.config["norm_num_groups"]
    for name, p in model.state_dict().items():
        mod, leaf = name.rsplit(".", 1)
        shape = tuple(p.shape)
        last = mod.rsplit(".", 1)[-1]
        is_norm = last in ("norm1", "norm2", "group_norm", "conv_norm_out")
        if is_norm:
            v = 1.0 + 0.25 * rng.standard_normal(shape) if leaf == "weight" else 0.2 * rng.standard_normal(shape)
        elif leaf == "bias":
            v = 0.1 * rng.standard_normal(shape)
            if last == "time_emb_proj":
                v = 0.2 * rng.standard_normal(shape)
        else:
            fan_in = int(np.prod(shape[1:]))
            g = 1.0
            if last in ("to_q", "to_k"):
                g = 1.6
            elif mod.startswith("time_embedding"):
                g = 1.5
            elif last == "conv_out":
                g = 1.5
            v = g / math.sqrt(fan_in) * rng.standard_normal(shape)
        state[name] = v.astype(np.float32)
    c0 = model.config["block_out_channels"][0]
    per = c0 // groups
    state["conv_in.weight"][:per] *= 0.01
    state["conv_in.bias"][:per] *= 0.01
    return state


TRAIN_STEPS = 300
TRAIN_BATCH = 32
TRAIN_LR = 2e-3


def synthetic_images(n, c, size, gen):
    """Smooth random images in [-1, 1] (three random plane waves per image
    plus a per-channel offset): the toy data set the fixture models are
    briefly trained on."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    out = torch.zeros(n, c, size, size)
    for _ in range(3):
        f = torch.rand(n, 1, 1, 1, generator=gen) * 3
        phase = torch.rand(n, c, 1, 1, generator=gen) * 2 * math.pi
        ang = torch.rand(n, 1, 1, 1, generator=gen) * 2 * math.pi
        amp = torch.rand(n, c, 1, 1, generator=gen) * 0.6
        out += amp * torch.sin(2 * math.pi * f * (torch.cos(ang) * xx + torch.sin(ang) * yy) + phase)
    out += torch.rand(n, c, 1, 1, generator=gen) - 0.5
    return out.clamp(-1, 1)


def train_briefly(model, state, spec, sched_cfg, steps=TRAIN_STEPS):
    """A few hundred Adam steps of ordinary diffusion training (target =
    the scheduler's prediction_type) on synthetic smooth images, starting
    from the random init.  A purely random network makes DDIM sampling
    chaotic (its eps has no relation to the noise in x, so the iteration
    amplifies float rounding: float32 vs float64 differ by O(1) after 50
    clipped steps); a briefly trained one is a rough denoiser, and the
    sampler fixtures become well conditioned (float32 vs float64 ~1e-6).
    The conv_in channels of GroupNorm group 0 stay frozen at their small
    values.  Single-threaded CPU training: deterministic on one machine
    (other CPUs / torch builds may differ in the last bits)."""
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    model.train()
    gen = torch.Generator().manual_seed(spec["seed"])
    sch = R.Schedule(sched_cfg)
    abar = torch.from_numpy(sch.abar.astype(np.float32))
    pred = sched_cfg["prediction_type"]
    c = model.config["in_channels"]
    size = model.config["sample_size"]
    per = model.config["block_out_channels"][0] // model.config["norm_num_groups"]
    mask_w = torch.ones_like(model.conv_in.weight)
    mask_w[:per] = 0
    mask_b = torch.ones_like(model.conv_in.bias)
    mask_b[:per] = 0
    hooks = [model.conv_in.weight.register_hook(lambda g: g * mask_w),
             model.conv_in.bias.register_hook(lambda g: g * mask_b)]
    opt = torch.optim.Adam(model.parameters(), lr=TRAIN_LR)
    loss = None
    for _ in range(steps):
        x0 = synthetic_images(TRAIN_BATCH, c, size, gen)
        t = torch.randint(0, sch.T, (TRAIN_BATCH,), generator=gen)
        e = torch.randn(x0.shape, generator=gen)
        a = abar[t][:, None, None, None]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * e
        if pred == "epsilon":
            target = e
        elif pred == "sample":
            target = x0
        else:
            target = a.sqrt() * e - (1 - a).sqrt() * x0
        loss = ((model(xt, t.float()) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for h in hooks:
        h.remove()
    model.eval()
    print(f"  trained {steps} steps, final loss {float(loss):.4f}", flush=True)
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------
# Inputs


def smooth_image(n, c, h, w):
    """Smooth deterministic images in [-1, 1]."""
    yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    out = np.empty((n, c, h, w), dtype=np.float32)
    for k in range(n):
        for ch in range(c):
            f = 1.0 + 0.5 * ch + 0.7 * k
            v = 0.8 * np.sin(2 * np.pi * (f * xx + 0.3 * ch)) * np.cos(np.pi * (f * 0.7 * yy + 0.2 * k)) \
                + 0.15 * (xx - yy)
            out[k, ch] = np.clip(v, -1, 1)
    return out


# ---------------------------------------------------------------------------


class Writer:
    def __init__(self, out):
        self.out = out

    def npy(self, rel, arr):
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        path = os.path.join(self.out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(path, arr)
        return rel


def rel_diff(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def write_model_folder(name, spec, out):
    """Write config / weights / scheduler config; return (model_path, unet_dir)."""
    base = os.path.join(out, name)
    if os.path.isdir(base):
        shutil.rmtree(base)
    if spec["layout"] == "pipeline":
        unet_dir = os.path.join(base, "unet")
        sched_path = os.path.join(base, "scheduler", "scheduler_config.json")
        os.makedirs(os.path.join(base, "scheduler"))
        with open(os.path.join(base, "model_index.json"), "w") as f:
            json.dump({"_class_name": "DDIMPipeline", "_diffusers_version": spec["config"]["_diffusers_version"],
                       "scheduler": ["diffusers", "DDIMScheduler"], "unet": ["diffusers", "UNet2DModel"]},
                      f, indent=2)
            f.write("\n")
    else:
        unet_dir = base
        sched_path = os.path.join(base, "scheduler_config.json")
    os.makedirs(unet_dir, exist_ok=True)
    with open(os.path.join(unet_dir, "config.json"), "w") as f:
        json.dump(spec["config"], f, indent=2)
        f.write("\n")
    if spec["scheduler"] is not None:
        with open(sched_path, "w") as f:
            json.dump(spec["scheduler"], f, indent=2)
            f.write("\n")
    model = UNet2DModel(spec["config"])
    state = init_weights(model, spec["seed"])
    state = train_briefly(model, state, spec, R.resolve_scheduler_config(spec["scheduler"]))
    if spec["old_attention_names"]:
        state = io_st.rename_attention_keys(state, to_old=True)
    io_st.save_file(state, os.path.join(unet_dir, "diffusion_pytorch_model.safetensors"), dtype=spec["dtype"])
    return base


def model_case_list(name, spec):
    """The cases written for a model: list of dicts (without outputs)."""
    cfg = resolve_config(spec["config"])
    C = cfg["in_channels"]
    S = cfg["sample_size"]
    sch = R.resolve_scheduler_config(spec["scheduler"])
    T = sch["num_train_timesteps"]
    eps_t = EPS_T if T == 1000 else (0, 37, T - 1)
    cases = []
    shape = [2, C, S, S]
    cases.append({"kind": "input", "name": "x", "shape": shape, "rng": "normal"})
    for t in eps_t:
        cases.append({"kind": "eps", "input": "x", "output": f"eps_t{t}", "timesteps": [t, t]})
    cases.append({"kind": "input", "name": "xt", "shape": shape, "rng": "normal"})
    cases.append({"kind": "sample", "input": "xt", "output": "sample_uniform_20_eta0",
                  "schedule": "uniform", "steps": 20, "eta": 0.0, "clip_param": -1, "seed": None})
    if name == "google_f32":
        # non-square, mixed timesteps, other schedules, eta, inversion
        cases.append({"kind": "input", "name": "x_16x8", "shape": [2, C, 16, 8], "rng": "normal"})
        for t in EPS_T:
            cases.append({"kind": "eps", "input": "x_16x8", "output": f"eps_16x8_t{t}", "timesteps": [t, t]})
        cases.append({"kind": "eps", "input": "x", "output": "eps_tmixed", "timesteps": [37, 999]})
        for sk in ("quadratic", "trailing", "linspace"):
            cases.append({"kind": "sample", "input": "xt", "output": f"sample_{sk}_10_eta0",
                          "schedule": sk, "steps": 10, "eta": 0.0, "clip_param": -1, "seed": None})
        cases.append({"kind": "sample", "input": "xt", "output": "sample_uniform_10_eta0_noclip",
                      "schedule": "uniform", "steps": 10, "eta": 0.0, "clip_param": 0, "seed": None})
        cases.append({"kind": "noise", "name": "xt_seed7", "seed": 7, "stream": R.STREAM_INITIAL, "shape": shape})
        cases.append({"kind": "sample", "input": "xt_seed7", "output": "sample_uniform_10_eta0.5_seed7",
                      "schedule": "uniform", "steps": 10, "eta": 0.5, "clip_param": -1, "seed": 7})
        cases.append({"kind": "input", "name": "x0", "shape": shape, "rng": "smooth"})
        cases.append({"kind": "encode", "input": "x0", "output": "encode_uniform_10",
                      "schedule": "uniform", "steps": 10, "eta": 0.0, "clip_param": 0, "seed": None})
        cases.append({"kind": "reconstruct", "input": "x0", "output": "reconstruct_uniform_10",
                      "schedule": "uniform", "steps": 10, "eta": 0.0, "clip_param": 0, "seed": None})
        cases.append({"kind": "vary", "input": "x0", "output": "vary_uniform_10_s0.5_eta0_seed5",
                      "schedule": "uniform", "steps": 10, "eta": 0.0, "clip_param": -1, "seed": 5,
                      "strength": 0.5})
    if name == "diffusers_f16":
        cases.append({"kind": "input", "name": "x_8x16", "shape": [2, C, 8, 16], "rng": "normal"})
        cases.append({"kind": "eps", "input": "x_8x16", "output": "eps_8x16_t37", "timesteps": [37, 37]})
        # 13 does not divide 1000: the list's gaps (77, one 76) differ from T//S = 76
        cases.append({"kind": "sample", "input": "xt", "output": "sample_trailing_13_eta0",
                      "schedule": "trailing", "steps": 13, "eta": 0.0, "clip_param": -1, "seed": None})
    if name == "gray_pipeline":
        # eta 1 with set_alpha_to_one false: the last step adds noise too
        cases.append({"kind": "sample", "input": "xt", "output": "sample_uniform_10_eta1_seed3",
                      "schedule": "uniform", "steps": 10, "eta": 1.0, "clip_param": -1, "seed": 3})
        cases.append({"kind": "input", "name": "x0", "shape": shape, "rng": "smooth"})
        cases.append({"kind": "encode", "input": "x0", "output": "encode_uniform_10",
                      "schedule": "uniform", "steps": 10, "eta": 0.0, "clip_param": 0, "seed": None})
        cases.append({"kind": "vary", "input": "x0", "output": "vary_uniform_10_s0.3_eta1_seed3",
                      "schedule": "uniform", "steps": 10, "eta": 1.0, "clip_param": -1, "seed": 3,
                      "strength": 0.3})
    if name == "tiny_sample":
        cases.append({"kind": "sample", "input": "xt", "output": "sample_linspace_10_eta0",
                      "schedule": "linspace", "steps": 10, "eta": 0.0, "clip_param": -1, "seed": None})
        cases.append({"kind": "sample", "input": "xt", "output": "sample_uniform_10_eta0_noclip",
                      "schedule": "uniform", "steps": 10, "eta": 0.0, "clip_param": 0, "seed": None})
    return cases


def run_model(name, spec, writer, out, model_rel_path):
    folder = os.path.join(out, model_rel_path)
    model, raw_cfg = load_unet(folder)
    model64 = model.double()
    model, _ = load_unet(folder)  # fresh float32 copy (.double() converts in place)
    cfg = model.config
    sched_cfg = R.load_scheduler_config(find_scheduler_config(folder))
    sch = R.Schedule(sched_cfg)
    T = sch.T
    pred = sched_cfg["prediction_type"]
    rng = np.random.default_rng(spec["seed"] + 1)
    arrays = {}
    manifest_cases = []
    vary_cases = []

    def path_of(n):
        return f"{name}/{n}.npy"

    for case in model_case_list(name, spec):
        kind = case["kind"]
        entry = dict(case)
        if kind == "input":
            if case["rng"] == "normal":
                a = rng.standard_normal(case["shape"]).astype(np.float32)
            else:
                a = smooth_image(*case["shape"])
            arrays[case["name"]] = a
            writer.npy(path_of(case["name"]), a)
            entry = {"kind": "input", "file": path_of(case["name"]), "shape": case["shape"],
                     "what": "standard normal (numpy default_rng)" if case["rng"] == "normal"
                     else "smooth image in [-1, 1]"}
        elif kind == "noise":
            a = R.noise(case["seed"], case["stream"], case["shape"])
            arrays[case["name"]] = a
            writer.npy(path_of(case["name"]), a)
            entry = {"kind": "noise", "file": path_of(case["name"]), "seed": case["seed"],
                     "stream": case["stream"], "shape": case["shape"]}
        elif kind == "eps":
            x = arrays[case["input"]]
            tt = torch.tensor(case["timesteps"], dtype=torch.float32)
            with torch.no_grad():
                y = model(torch.from_numpy(x), tt).numpy()
                y64 = model64(torch.from_numpy(x).double(), tt).numpy()
            writer.npy(path_of(case["output"]), y)
            entry = {"kind": "eps", "input": path_of(case["input"]), "output": path_of(case["output"]),
                     "timesteps": case["timesteps"], "f32_vs_f64_max_rel": rel_diff(y, y64)}
        else:
            ts = R.timesteps(case["schedule"], T, case["steps"],
                             sched_cfg["steps_offset"] if case["schedule"] == "uniform" else 0)
            if kind == "vary":
                ts = R.timesteps(case["schedule"], T, case["steps"],
                                 sched_cfg["steps_offset"] if case["schedule"] == "uniform" else 0)
                ts = R.strength_timesteps(ts, case["strength"])
            clip = sched_cfg["clip_sample"] if case["clip_param"] == -1 else bool(case["clip_param"])
            crange = sched_cfg["clip_sample_range"]
            x = arrays[case["input"]]

            def run(m, dt):
                if kind == "sample":
                    return R.ddim_sample(m, sch, x, ts, eta=case["eta"], clip=clip, clip_range=crange,
                                         prediction_type=pred, seed=case["seed"], model_dtype=dt)
                if kind == "encode":
                    return R.ddim_invert(m, sch, x, ts, prediction_type=pred, model_dtype=dt)
                if kind == "vary":
                    return R.ddim_vary(m, sch, x, ts, case["seed"], eta=case["eta"], clip=clip,
                                       clip_range=crange, prediction_type=pred, model_dtype=dt)
                if kind == "reconstruct":
                    z = R.ddim_invert(m, sch, x, ts, prediction_type=pred, model_dtype=dt)
                    return R.ddim_sample(m, sch, z, ts, eta=0.0, clip=False, prediction_type=pred,
                                         model_dtype=dt)
                raise ValueError(kind)

            y = run(model, torch.float32)
            y64 = run(model64, torch.float64)
            writer.npy(path_of(case["output"]), y)
            entry = {"kind": kind, "input": path_of(case["input"]), "output": path_of(case["output"]),
                     "schedule": case["schedule"], "steps": case["steps"], "eta": case["eta"],
                     "clip_param": case["clip_param"], "clip": clip, "clip_range": crange,
                     "seed": case["seed"], "prediction_type": pred,
                     "set_alpha_to_one": sched_cfg["set_alpha_to_one"],
                     "timesteps": ts, "f32_vs_f64_max_rel": rel_diff(y, y64)}
            if kind == "vary":
                entry["strength"] = case["strength"]
                entry["start_timestep"] = ts[-1]
            if kind == "reconstruct":
                entry["mse_01_vs_input"] = float(np.mean(((y - x) / 2.0) ** 2))
        (vary_cases if kind == "vary" else manifest_cases).append(entry)

    sd = model.state_dict()
    nparams = int(sum(v.numel() for v in sd.values()))
    unet_dir = find_unet_folder(folder)
    wpath = os.path.join(unet_dir, "diffusion_pytorch_model.safetensors")
    with open(wpath, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    info = {
        "path": model_rel_path,
        "config": os.path.relpath(os.path.join(unet_dir, "config.json"), out),
        "weights": os.path.relpath(wpath, out),
        "weights_sha256": digest,
        "scheduler_config": (os.path.relpath(find_scheduler_config(folder), out)
                             if find_scheduler_config(folder) else None),
        "weights_dtype": spec["dtype"],
        "attention_key_names": "old (query/key/value/proj_attn)" if spec["old_attention_names"]
        else "current (to_q/to_k/to_v/to_out.0)",
        "parameter_count": nparams,
        "tensor_count": len(sd),
        "size_multiple": model.size_multiple,
        "resolved_config": cfg,
        "attention_heads": {k: v.heads for k, v in model.named_modules()
                            if type(v).__name__ == "Attention"},
        "attention_group_norm": {k: v.group_norm is not None for k, v in model.named_modules()
                                 if type(v).__name__ == "Attention"},
        "scheduler": {k: sched_cfg[k] for k in ("num_train_timesteps", "beta_schedule", "beta_start", "beta_end",
                                                "clip_sample", "clip_sample_range", "set_alpha_to_one",
                                                "steps_offset", "prediction_type")},
        "beta_schedule_kind": "trained" if sched_cfg["trained_betas"] is not None else sched_cfg["beta_schedule"],
        "alphas_cumprod_probe": {str(i): float(sch.abar[i]) for i in sorted({0, 1, T // 2, T - 1})},
        "cases": manifest_cases,
        "vary_cases": vary_cases,
    }
    return info


def philox_cases(writer):
    specs = [(1234, 0, (3, 8, 8)), ((1 << 40) + 5, 0, (1, 4, 4)), (1234, R.STREAM_FORWARD, (1, 4, 4)),
             (7, R.stream_step(999), (1, 3, 3)), (0xFFFFFFFFFFFFFFFF, R.stream_step(0), (2, 5, 3))]
    out = []
    for seed, stream, shape in specs:
        fname = f"philox_seed{seed}_stream{stream}_{'x'.join(map(str, shape))}.npy"
        if stream == 0:
            fname = f"philox_seed{seed}_{'x'.join(map(str, shape))}.npy"
        a = R.philox_normal(seed, stream, int(np.prod(shape))).reshape(shape)
        writer.npy(fname, a)
        out.append({"file": fname, "seed": seed, "stream": stream, "shape": list(shape),
                    "note": "one image (C,H,W); element i = c*H*W + y*W + x"})
    # raw Philox4x32-10 outputs (counter, key) -> 4 words, for a C unit test
    raw = []
    for ctr, key in (((0, 0, 0, 0), (0, 0)), ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF)),
                     ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)),
                     ((5, 1, 0, 2), (1234, 0)), ((0, 0, 999, 2), (7, 0))):
        r = [int(v) for v in R.philox4x32_10(ctr, key)]
        raw.append({"counter": [f"{c:08x}" for c in ctr], "key": [f"{k:08x}" for k in key],
                    "output": [f"{v:08x}" for v in r]})
    return out, raw


def slerp_cases(writer):
    z0 = R.noise(11, 0, (1, 3, 8, 8))
    z1 = R.noise(12, 0, (1, 3, 8, 8))
    writer.npy("slerp_z0.npy", z0)
    writer.npy("slerp_z1.npy", z1)
    out = []
    for alpha in (0.0, 0.3, 1.0):
        o = R.slerp(z0, z1, alpha)
        f = f"slerp_alpha{alpha}.npy"
        writer.npy(f, o)
        out.append({"z0": "slerp_z0.npy", "z1": "slerp_z1.npy", "alpha": alpha, "output": f})
    return out


def tree_files(root, subdirs=None):
    """Relative paths of the files under root (optionally only under the
    given top-level entries)."""
    out = set()
    for top in (subdirs if subdirs is not None else [""]):
        base = os.path.join(root, top)
        if os.path.isfile(base):
            out.add(top)
            continue
        for r, _, files in os.walk(base):
            for fn in files:
                out.add(os.path.relpath(os.path.join(r, fn), root))
    return out


def same_file(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--check", action="store_true",
                    help="recompute into a temporary folder and compare with --out (every byte)")
    ap.add_argument("--only", help="comma-separated model names (default all)")
    args = ap.parse_args()
    out = args.out
    names = args.only.split(",") if args.only else list(MODELS)
    for name in names:
        if name not in MODELS:
            ap.error(f"unknown model {name}; known: {', '.join(MODELS)}")
    old_models = {}
    if args.only and os.path.isfile(os.path.join(out, "manifest.json")):
        with open(os.path.join(out, "manifest.json")) as f:
            old_models = json.load(f).get("models", {})
    # Everything is generated in a scratch folder first, then compared with
    # or copied into `out` file by file (no moment where a model folder is
    # missing from the tree).
    work = tempfile.mkdtemp(prefix="ddim-fixtures-")
    writer = Writer(work)
    manifest = {
        "format": 1,
        "generator": "/usr/bin/python3 tools/make_fixtures.py",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "conventions": {
            "eps": "raw network output for (input, timesteps), float32 (N,C,H,W)",
            "sample": "DDIM decode of input along `timesteps` (ascending list; walked from the largest "
                      "down, prev of the smallest = -1), eta/clip/prediction_type as given",
            "encode": "deterministic DDIM inversion of input along `timesteps` (ascending), eps at the target t",
            "reconstruct": "encode then decode (eta 0, no clip) over the same timesteps",
            "vary": "in `vary_cases` of a model (kept out of `cases`): SDEdit, x = sqrt(a) x0 + sqrt(1-a) z at "
                    "t = start_timestep = max(timesteps) (z: stream 1<<32, seed + k), then DDIM decode along "
                    "`timesteps` = the lowest floor(n*strength + 1e-9) (at least 1) entries of the full list",
            "clip_param": "DdimParams.clip: -1 model default, 0 off, 1 on; `clip` is the resolved value",
            "noise": "image k of a batch uses seed + k; streams: 0 x_T, 1<<32 SDEdit, (2<<32)|t eta noise leaving t",
            "f32_vs_f64_max_rel": "max|f32 - f64| / max|f64| of the same computation with the model in "
                                  "float64: the rounding noise floor of the fixture",
        },
        "models": {},
    }
    try:
        for name in names:
            spec = MODELS[name]
            print(f"[{name}]", flush=True)
            write_model_folder(name, spec, work)
            manifest["models"][name] = run_model(name, spec, writer, work, name)
        if args.only:  # keep the other models' entries, in the usual order
            merged = {}
            for name in MODELS:
                if name in manifest["models"]:
                    merged[name] = manifest["models"][name]
                elif name in old_models:
                    merged[name] = old_models[name]
            manifest["models"] = merged
        manifest["philox"], manifest["philox_raw"] = philox_cases(writer)
        manifest["slerp"] = slerp_cases(writer)
        with open(os.path.join(work, "manifest.json"), "w") as f:
            f.write(json.dumps(manifest, indent=1, sort_keys=False) + "\n")

        # scope: the regenerated model folders plus the top-level files
        top = sorted(fn for fn in os.listdir(work) if os.path.isfile(os.path.join(work, fn)))
        new = tree_files(work, names + top)
        if args.only:
            old = tree_files(out, [n for n in names if os.path.isdir(os.path.join(out, n))])
            old |= {fn for fn in top if os.path.isfile(os.path.join(out, fn))}
        else:
            old = tree_files(out) if os.path.isdir(out) else set()
            old.discard("README.md")  # written by hand
            # torch/ is written by tools/make_torch_fixtures.py
            old = {r for r in old if not r.startswith("torch" + os.sep)}
        missing = sorted(r for r in new if r not in old)
        stale = sorted(r for r in old if r not in new)
        changed = sorted(r for r in new & old if not same_file(os.path.join(work, r), os.path.join(out, r)))
        if args.check:
            problems = [f"{r} (differs)" for r in changed] + [f"{r} (missing)" for r in missing] + \
                       [f"{r} (stale: not produced by the generator)" for r in stale]
            if problems:
                print("MISMATCH:", *problems, sep="\n  ")
                return 1
            print(f"all {len(new)} fixture files reproduce bit-exactly")
            return 0
        for r in missing + changed:
            dst = os.path.join(out, r)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            tmp = dst + ".tmp-make-fixtures"
            shutil.copyfile(os.path.join(work, r), tmp)
            os.replace(tmp, dst)
        for r in stale:
            os.remove(os.path.join(out, r))
        for r, dirs, files in os.walk(out, topdown=False):
            if r != out and not os.listdir(r):
                os.rmdir(r)
        total = sum(os.path.getsize(os.path.join(out, r)) for r in tree_files(out))
        print(f"{out}: {len(changed)} changed, {len(missing)} new, {len(stale)} removed; "
              f"{total / 1e6:.2f} MB in all")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
