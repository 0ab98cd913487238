#!/usr/bin/python3
"""Side-by-side benchmark: our engine (tools/bench/ddim-bench) and PyTorch
running the same UNet2DModel graph (tools/reference/unet2d.py, a faithful
re-implementation of diffusers' UNet2DModel) with the same weights, inputs and
thread count, in one invocation.  Writes docs/performance.md.

    /usr/bin/python3 tools/bench.py [--threads 2] [--quick] [--out docs/performance.md]

Cases (issue 5): the CIFAR-10 DDPM architecture (35.7 M parameters, 32x32) at
batch 1 and 8 with 20 DDIM steps; the 256x256 LSUN/CelebA-HQ architecture
(113.7 M) for 2 network evaluations; the default emoji model for 50 steps.
Random weights where no checkpoint is at hand (the FLOPs and times do not
depend on them).  When OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set in the
environment, every case is run twice: as set, and with both unset.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
from unet2d import UNet2DModel, load_unet  # noqa: E402
import io_st  # noqa: E402

GOOGLE_STYLE = {"flip_sin_to_cos": False, "freq_shift": 1, "downsample_padding": 0,
                "norm_eps": 1e-6, "attention_head_dim": None, "norm_num_groups": 32,
                "act_fn": "silu", "mid_block_scale_factor": 1, "layers_per_block": 2,
                "in_channels": 3, "out_channels": 3, "_class_name": "UNet2DModel"}
CIFAR10 = dict(GOOGLE_STYLE, sample_size=32, block_out_channels=[128, 256, 256, 256],
               down_block_types=["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
               up_block_types=["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"])
LSUN256 = dict(GOOGLE_STYLE, sample_size=256, block_out_channels=[128, 128, 256, 256, 512, 512],
               down_block_types=["DownBlock2D"] * 4 + ["AttnDownBlock2D", "DownBlock2D"],
               up_block_types=["UpBlock2D", "AttnUpBlock2D"] + ["UpBlock2D"] * 4)


def make_random_model(folder, config, seed=0):
    if os.path.exists(os.path.join(folder, "diffusion_pytorch_model.safetensors")):
        return folder
    os.makedirs(folder, exist_ok=True)
    torch.manual_seed(seed)
    model = UNet2DModel(config)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    io_st.save_file({k: v.detach().numpy() for k, v in model.state_dict().items()},
                    os.path.join(folder, "diffusion_pytorch_model.safetensors"))
    return folder


def torch_case(model_dir, batch, evals, steps, threads, x):
    torch.set_num_threads(threads)
    model, config = load_unet(model_dir)
    xt = torch.from_numpy(x)
    t = torch.full((batch,), 500.0)
    times = []
    with torch.no_grad():
        eps = model(xt, t).numpy()  # warm-up, and the agreement check
        for _ in range(evals):
            t0 = time.perf_counter()
            model(xt, t)
            times.append(time.perf_counter() - t0)
        run = 0.0
        if steps:
            T = 1000
            abar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, T, dtype=torch.float32), 0).double()
            seq = [i * (T // steps) for i in range(steps)]
            sample = xt.clone()
            t0 = time.perf_counter()
            for i in reversed(range(len(seq))):
                a_t = abar[seq[i]]
                a_prev = abar[seq[i - 1]] if i > 0 else torch.tensor(1.0, dtype=torch.float64)
                e = model(sample, torch.full((batch,), float(seq[i])))
                x0 = (sample - (1 - a_t).sqrt().float() * e) / a_t.sqrt().float()
                sample = a_prev.sqrt().float() * x0 + (1 - a_prev).sqrt().float() * e
            run = time.perf_counter() - t0
    return statistics.median(times), run, eps


def ours_case(model_dir, batch, evals, steps, threads, x_path, eps_path, env, convolutions="default"):
    command = [os.path.join(ROOT, "build", "tools", "ddim-bench"), model_dir, "--batch", str(batch),
               "--evals", str(evals), "--steps", str(steps), "--threads", str(threads),
               "--input", x_path, "--output", eps_path] + ["--convolutions", convolutions]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def reconstruction_psnr(model_dir, image, steps, threads, env, tmp, convolutions):
    """PSNR between `ddim reconstruct` of the same image with the default
    convolutions (Winograd F(2x2,3x3) on large layers) and with
    --convolutions CONVOLUTIONS: how far apart the two are after a whole
    inversion round trip."""
    ddim = os.path.join(ROOT, "build", "cli", "ddim")
    np.save(os.path.join(tmp, "image.npy"), image)
    outputs = []
    for flag in ([], ["--convolutions", convolutions]):
        out = os.path.join(tmp, "recon%s.npy" % ("-other" if flag else ""))
        subprocess.run([ddim, "reconstruct", model_dir, os.path.join(tmp, "image.npy"), "-o", out,
                        "--steps", str(steps), "--threads", str(threads)] + flag,
                       env=env, capture_output=True, text=True, check=True)
        outputs.append(np.load(out).astype(np.float64))
    mse = np.mean(((outputs[0] - outputs[1]) / 2.0) ** 2)  # on [0, 1]
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def machine_description():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    flags = open("/proc/cpuinfo").read()
    isa = ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "fma") if f" {f}" in flags)
    return f"{model}, {os.cpu_count()} cores ({isa}), Linux {platform.release()}, torch {torch.__version__}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/ddim-bench"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "performance.md"))
    args = parser.parse_args()
    evals = 2 if args.quick else 5
    emoji = os.path.join(ROOT, "models", "emoji32")
    lsun = make_random_model(os.path.join(args.cache, "lsun256"), LSUN256)
    cases = [
        ("CIFAR-10 DDPM 32x32, batch 1, 20 steps", make_random_model(os.path.join(args.cache, "cifar10"), CIFAR10), 1, evals, 20, "default"),
        ("CIFAR-10 DDPM 32x32, batch 8, 20 steps", os.path.join(args.cache, "cifar10"), 8, evals, 20, "default"),
        # The fast mode changes the 32x32 and 16x16 levels of a batch of 8
        # (Winograd there needs batches of 4+); at batch 1 it is the default.
        ("CIFAR-10 DDPM 32x32, batch 8, 20 steps, fast mode (--convolutions fast)", os.path.join(args.cache, "cifar10"), 8, evals, 20, "fast"),
        ("LSUN/CelebA-HQ 256x256, batch 1, 2 evaluations", lsun, 1, 2, 0, "default"),
        # --convolutions changes only 3x3 convolutions of 64x64 and larger:
        # of these cases, the 256x256 one, also run all-direct and fast.
        ("LSUN/CelebA-HQ 256x256, every convolution direct (--convolutions direct)", lsun, 1, 2, 0, "direct"),
        ("LSUN/CelebA-HQ 256x256, fast mode (--convolutions fast)", lsun, 1, 2, 0, "fast"),
    ]
    if os.path.exists(os.path.join(emoji, "config.json")):
        cases.append(("default emoji model 32x32, batch 1, 50 steps", emoji, 1, evals, 50, "default"))

    env_set = dict(os.environ)
    modes = [("as the machine is set", env_set)]
    if any(k in env_set for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")):
        unset = {k: v for k, v in env_set.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
        modes.append(("OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset", unset))

    rows = []
    for mode_name, env in modes:
        float32_eps = {}
        for name, model_dir, batch, n_evals, steps, convolutions in cases:
            config = json.load(open(os.path.join(model_dir, "config.json")))
            size = config["sample_size"]
            channels = config.get("in_channels", 3)
            rng = np.random.default_rng(0)
            x = rng.standard_normal((batch, channels, size, size)).astype(np.float32)
            x_path = os.path.join(args.cache, "x.npy")
            eps_path = os.path.join(args.cache, "eps.npy")
            np.save(x_path, x)
            ours = ours_case(model_dir, batch, n_evals, steps, args.threads, x_path, eps_path, env, convolutions)
            # torch sees the same environment for its own OpenBLAS calls.
            saved = dict(os.environ)
            os.environ.clear()
            os.environ.update(env)
            try:
                torch_eval, torch_run, torch_eps = torch_case(model_dir, batch, n_evals, steps, args.threads, x)
            finally:
                os.environ.clear()
                os.environ.update(saved)
            our_eps = np.load(eps_path)
            agreement = float(np.abs(our_eps - torch_eps).max() / np.abs(torch_eps).max())
            row = dict(mode=mode_name, case=name, ours=ours, torch_eval=torch_eval, torch_run=torch_run,
                       agreement=agreement, convolutions=convolutions)
            if convolutions != "default":
                default = float32_eps[model_dir]
                row["eps_difference"] = float(np.abs(our_eps - default).max() / np.abs(default).max())
                image = np.clip(rng.standard_normal((batch, channels, size, size)) * 0.5, -1, 1).astype(np.float32)
                row["psnr_difference"] = reconstruction_psnr(model_dir, image, 5, args.threads, env,
                                                             args.cache, convolutions)
            else:
                float32_eps[model_dir] = our_eps
            rows.append(row)
            print(json.dumps(row), flush=True)

    # The OpenBLAS variables as the command saw them (build machines set them).
    env_prefix = "".join(f"{k}={os.environ[k]} " for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                         if k in os.environ)
    lines = ["# Performance", "",
             f"Machine: {machine_description()}.", "",
             f"Command: `{env_prefix}/usr/bin/python3 tools/bench.py --threads {args.threads}{' --quick' if args.quick else ''}` "
             "(after `meson compile -C build`); both engines use the same thread count, weights and inputs, in one run.",
             "Times are medians of repeated network evaluations after a warm-up; a run is a full DDIM sampling loop (η = 0).",
             "GFLOP/s counts the convolutions, linears and attention of the graph (`ddim_model_flops`); "
             "the sgemm peak is measured in the same process on 2048² matrices. "
             "'agreement' is max|ε_ours − ε_torch| / max|ε_torch| on the same input. "
             "The arena holds every activation of the evaluation (skips, temporaries, kernel scratch), planned "
             "once; the weights are mapped or converted once. Peak RSS is read before the sgemm-peak "
             "measurement; the baseline is the process's RSS before the engine starts (libraries), and the "
             "last memory column compares what the engine added with weights + arena.",
             "Everything is float32. By default 3×3 convolutions run by Winograd F(2×2, 3×3) (2.25× fewer "
             "multiplications, as accurate as the direct sum) on 64×64+ layers with 32+ input channels and on "
             "16×16+ layers with 128+ input channels in batches of 4+, by direct AVX2 kernels otherwise. "
             "Extra rows: every convolution direct (`--convolutions direct`), and the fast mode "
             "(`--convolutions fast`: Winograd F(4×4, 3×3) on the same layers, 4× fewer multiplications, "
             "less precise). "
             "Below each table, their error against the default: ε relative difference on the same input, and "
             "the PSNR between their `ddim reconstruct` (5 steps) and the default's, of the same images (a batch as large as the row's).", ""]
    for mode_name, _ in modes:
        lines += [f"## {mode_name}", "",
                  "| case | params | GFLOP/eval | ours s/eval | PyTorch s/eval | PyTorch/ours | ours s/run | PyTorch s/run | ours GFLOP/s | sgemm peak GFLOP/s | % of peak | peak RSS MB | baseline RSS MB | weights MB | arena MB | (peak − baseline) / (weights + arena) | OpenBLAS core | agreement |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in rows:
            if row["mode"] != mode_name:
                continue
            o = row["ours"]
            ratio = row["torch_eval"] / o["eval_seconds"]
            run_ours = f"{o['run_seconds']:.2f}" if o["run_steps"] else "–"
            run_torch = f"{row['torch_run']:.2f}" if o["run_steps"] else "–"
            lines.append(
                f"| {row['case']} | {o['parameters'] / 1e6:.1f} M | {o['flops_per_eval'] / 1e9:.1f} | "
                f"{o['eval_seconds']:.3f} | {row['torch_eval']:.3f} | {ratio:.2f} | {run_ours} | {run_torch} | "
                f"{o['gflops']:.0f} | {o['sgemm_peak_gflops']:.0f} | {100 * o['gflops'] / o['sgemm_peak_gflops']:.0f} % | "
                f"{o['peak_rss_bytes'] / 1e6:.0f} | {o['baseline_rss_bytes'] / 1e6:.0f} | "
                f"{o['weight_bytes'] / 1e6:.0f} | {o['arena_bytes'] / 1e6:.0f} | "
                f"{(o['peak_rss_bytes'] - o['baseline_rss_bytes']) / (o['weight_bytes'] + o['arena_bytes']):.2f} | "
                f"{o['openblas_core']} | {row['agreement']:.1e} |")
        lines.append("")
        for row in rows:
            if row["mode"] == mode_name and row.get("convolutions", "default") != "default":
                lines += [f"`--convolutions {row['convolutions']}` against the default: ε relative "
                          f"difference {row['eps_difference']:.1e}, PSNR between the two reconstructions "
                          f"{row['psnr_difference']:.1f} dB.", ""]
    # The hand-written part of the doc (from "## Status" on) is kept.
    try:
        with open(args.out) as f:
            previous = f.read()
        if "\n## Status" in previous:
            lines += [previous[previous.index("\n## Status") + 1:].rstrip("\n")]
    except OSError:
        pass
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
