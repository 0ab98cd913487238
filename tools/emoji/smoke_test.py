#!/usr/bin/python3
"""Quick test of train.py: exact resume, SIGTERM checkpointing, export.

Uses a tiny network (--config) and a 20-image subset of emoji32.npz (so the
epoch boundary is crossed), batch 8, a few steps; about a minute on 2 cores.

  tools/emoji/smoke_test.py [--data ~/.cache/ddim-emoji/emoji32.npz] [--keep]

Checks:
  1. 7 steps straight == 3 steps, then --resume to 7 (model, EMA, optimizer
     bitwise; step, images seen, epoch position; loss log rows continue);
  2. SIGTERM during training writes a checkpoint and exits 0; --resume goes on;
  3. --export writes config.json, scheduler_config.json, fp16 safetensors
     whose tensors are exactly the fp16 rounding of the EMA weights (read back
     with tools/reference/io_st.py), loadable by tools/reference/unet2d.py;
  4. --anneal-steps given at a resume ends the run where it says, with the
     half-cosine learning rate, and a later --resume keeps the first value;
  5. --loss-weight truncated-snr trains differently but logs the plain
     epsilon-MSE (the first step's loss equals the uniform run's), and is
     refused with --prediction v_prediction;
  6. --prediction v_prediction from an epsilon export: the objective is
     recorded and kept by --resume, the EMA restarts (first update is
     0.1 * init + 0.9 * model), the export says prediction_type v_prediction,
     and v -> epsilon conversion inverts the v target exactly.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
sys.path.insert(0, TOOLS)
sys.path.insert(0, os.path.join(TOOLS, "reference"))
from reference import io_st  # noqa: E402
from reference.unet2d import UNet2DModel, load_unet  # noqa: E402

TINY = '{"block_out_channels":[16,16,32,32],"norm_num_groups":8,"attention_head_dim":16}'


def train_cmd(data, out, *extra):
    return [sys.executable, os.path.join(HERE, "train.py"), "--data", data, "--out", out,
            "--batch", "8", "--warmup", "2", "--log-every", "1", "--threads", "2",
            "--config", TINY] + list(extra)


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print(r.stdout)
        raise SystemExit("FAILED: %s" % " ".join(cmd))
    return r.stdout


def check(cond, what):
    print("%-4s %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        raise SystemExit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/ddim-emoji/emoji32.npz"))
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="emoji-smoke-")
    try:
        d = np.load(args.data)
        tiny = os.path.join(tmp, "tiny.npz")
        np.savez(tiny, train=d["train"][:20], heldout=d["heldout"][:5])

        # 1. exact resume
        a, b = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        run(train_cmd(tiny, a, "--max-steps", "7"))
        run(train_cmd(tiny, b, "--max-steps", "3"))
        run(train_cmd(tiny, b, "--max-steps", "7", "--resume"))
        ca = torch.load(os.path.join(a, "checkpoint.pt"))
        cb = torch.load(os.path.join(b, "checkpoint.pt"))
        for key in ("model", "ema"):
            check(all(torch.equal(ca[key][k], cb[key][k]) for k in ca[key]),
                  "%s weights: straight == resumed (bitwise)" % key)
        check(all(torch.equal(ca["optimizer"]["state"][i][s], cb["optimizer"]["state"][i][s])
                  for i in ca["optimizer"]["state"] for s in ("exp_avg", "exp_avg_sq")),
              "optimizer state: straight == resumed")
        check((ca["step"], ca["images_seen"], ca["epoch"], ca["perm_pos"])
              == (cb["step"], cb["images_seen"], cb["epoch"], cb["perm_pos"]) == (7, 56, 2, 16),
              "step 7, 56 images, epoch 2 position 16 in both")
        rows = [r[:2] + r[3:] for r in cb["loss_log"]]
        check(rows == [r[:2] + r[3:] for r in ca["loss_log"]]
              and [r[0] for r in rows] == list(range(1, 8)),
              "loss log continues across the resume (steps 1..7, same losses)")
        with open(os.path.join(b, "loss_log.csv")) as f:
            check(len(f.read().splitlines()) == 8, "loss_log.csv has 7 rows")

        # 2. SIGTERM
        s = os.path.join(tmp, "sig")
        p = subprocess.Popen(train_cmd(tiny, s, "--ckpt-minutes", "100"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            line = p.stdout.readline()
            if line.startswith("step "):
                break
        time.sleep(2)
        p.send_signal(signal.SIGTERM)
        out = p.stdout.read()
        check(p.wait() == 0 and "checkpoint (SIGTERM)" in out, "SIGTERM: checkpoint written, exit 0")
        n = torch.load(os.path.join(s, "checkpoint.pt"))["step"]
        run(train_cmd(tiny, s, "--resume", "--max-steps", str(n + 2)))
        cs = torch.load(os.path.join(s, "checkpoint.pt"))
        check(cs["step"] == n + 2 and cs["loss_log"][-1][0] == n + 2,
              "resume after SIGTERM: step %d -> %d" % (n, n + 2))

        # 3. export
        e = os.path.join(tmp, "export")
        run([sys.executable, os.path.join(HERE, "train.py"), "--out", b, "--export", e])
        for name in ("config.json", "scheduler_config.json",
                     "diffusion_pytorch_model.safetensors", "loss_log.csv"):
            check(os.path.isfile(os.path.join(e, name)), "export has %s" % name)
        with open(os.path.join(e, "config.json")) as f:
            cfg = json.load(f)
        check(cfg["_class_name"] == "UNet2DModel" and cfg["in_channels"] == 4
              and cfg["block_out_channels"] == [16, 16, 32, 32], "config.json")
        with open(os.path.join(e, "scheduler_config.json")) as f:
            sch = json.load(f)
        check(sch["_class_name"] == "DDPMScheduler" and sch["beta_schedule"] == "linear"
              and sch["num_train_timesteps"] == 1000 and sch["clip_sample"] is True
              and sch["beta_start"] == 1e-4 and sch["beta_end"] == 0.02, "scheduler_config.json")
        st, dt, meta = io_st.load_file(os.path.join(e, "diffusion_pytorch_model.safetensors"),
                                       with_dtypes=True)
        ema = cb["ema"]
        check(set(st) == set(ema) and set(dt.values()) == {"F16"},
              "safetensors: %d tensors, all F16, same keys as the EMA state" % len(st))
        check(all(np.array_equal(st[k].astype(np.float32),
                                 io_st.round_to_dtype(ema[k].numpy(), "F16")) for k in st),
              "safetensors tensors == fp16 rounding of the EMA weights")
        m, _ = load_unet(e)
        ref = UNet2DModel(cb["model_config"])
        ref.load_state_dict(ema)
        ref.eval()
        x = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(0))
        t = torch.tensor([10.0, 900.0])
        with torch.no_grad():
            diff = (m(x, t) - ref(x, t)).abs().max().item()
        check(diff < 0.05, "exported model loads; output vs fp32 EMA max diff %.2g" % diff)
        # 4. annealing: from step 3 over 3 steps -> ends at 6; last lr at step 5 = lr/4
        n = os.path.join(tmp, "anneal")
        run(train_cmd(tiny, n, "--max-steps", "3"))
        out = run(train_cmd(tiny, n, "--resume", "--anneal-steps", "3"))
        cn = torch.load(os.path.join(n, "checkpoint.pt"))
        check("checkpoint (annealed)" in out and cn["step"] == 6
              and (cn["hparams"]["anneal_from"], cn["hparams"]["anneal_steps"]) == (3, 3),
              "--anneal-steps 3 at step 3: the run ends at step 6")
        lr = cn["optimizer"]["param_groups"][0]["lr"]
        check(abs(lr - 3e-4 * 0.25) < 1e-12, "last step's lr is lr * (1 + cos(2pi/3)) / 2 (%g)" % lr)
        out = run(train_cmd(tiny, n, "--resume", "--anneal-steps", "10"))
        check("ignored" in out and torch.load(os.path.join(n, "checkpoint.pt"))["step"] == 6,
              "a later --resume keeps the first --anneal-steps")

        # 5. loss weighting
        w = os.path.join(tmp, "weighted")
        run(train_cmd(tiny, w, "--max-steps", "7", "--loss-weight", "truncated-snr"))
        cw = torch.load(os.path.join(w, "checkpoint.pt"))
        check(cw["hparams"]["loss_weight"] == "truncated-snr"
              and cw["loss_log"][0][3] == ca["loss_log"][0][3],
              "truncated-snr logs the plain epsilon-MSE (step 1: %g)" % cw["loss_log"][0][3])
        check(not all(torch.equal(cw["model"][k], ca["model"][k]) for k in ca["model"]),
              "truncated-snr changes the updates")
        r = subprocess.run(train_cmd(tiny, os.path.join(tmp, "weighted-v"), "--max-steps", "1",
                                     "--loss-weight", "truncated-snr", "--prediction", "v_prediction"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        check(r.returncode == 2 and "already weights large t" in r.stdout
              and not os.path.exists(os.path.join(tmp, "weighted-v")),
              "truncated-snr with v_prediction is refused (it would weight large t twice)")

        # 6. v-prediction from an epsilon export
        v = os.path.join(tmp, "v")
        out = run(train_cmd(tiny, v, "--init-from", e, "--prediction", "v_prediction",
                            "--max-steps", str(cb["step"] + 1)))
        cv = torch.load(os.path.join(v, "checkpoint.pt"))
        hp = cv["hparams"]
        check(hp["prediction"] == "v_prediction" and hp["init_prediction"] == "epsilon"
              and hp["ema_from"] == cb["step"] and cv["step"] == cb["step"] + 1,
              "--prediction v_prediction from an epsilon export: recorded, EMA restarts at %d"
              % hp["ema_from"])
        init = {k: torch.from_numpy(st[k].astype(np.float32)) for k in st}
        check(all(torch.allclose(cv["ema"][k], 0.1 * init[k] + 0.9 * cv["model"][k], atol=1e-6)
                  for k in init), "first EMA update after the restart: 0.1 * init + 0.9 * model")
        run(train_cmd(tiny, v, "--resume", "--max-steps", str(cb["step"] + 2)))
        check(torch.load(os.path.join(v, "checkpoint.pt"))["hparams"]["prediction"]
              == "v_prediction", "--resume keeps v_prediction")
        ve = os.path.join(tmp, "v-export")
        run([sys.executable, os.path.join(HERE, "train.py"), "--out", v, "--export", ve])
        with open(os.path.join(ve, "scheduler_config.json")) as f:
            check(json.load(f)["prediction_type"] == "v_prediction",
                  "export: scheduler_config.json prediction_type v_prediction")
        sys.path.insert(0, HERE)
        import train  # noqa: E402
        g = torch.Generator().manual_seed(1)
        x0, noise = torch.rand(3, 4, 8, 8, generator=g) * 2 - 1, torch.randn(3, 4, 8, 8, generator=g)
        abar = train.alphas_cumprod()[torch.tensor([0, 500, 999])].float().view(-1, 1, 1, 1)
        x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        v_target = abar.sqrt() * noise - (1 - abar).sqrt() * x0
        err = (train.eps_from_prediction(v_target, x_t, abar, "v_prediction") - noise).abs().max()
        check(err < 1e-5, "eps_from_prediction(v target) == eps (max error %.1g)" % err)
        print("smoke test passed")
    finally:
        if args.keep:
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
