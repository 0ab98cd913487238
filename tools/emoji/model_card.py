#!/usr/bin/python3
"""Write a model's README.md (the model card) and loss.png from its training run.

    /usr/bin/python3 tools/emoji/model_card.py --run /work/train/emoji32 \\
        [--out models/emoji32] [--name emoji32] [--ddim build/cli/ddim]

Reads RUN/checkpoint.pt (tools/emoji/train.py's: model config, hyper-
parameters, step, images seen, cumulative wall time, loss and eval logs),
RUN/train.log when present (resumes), and the data set's metadata
(emoji32.npz `meta`).  Writes OUT/README.md and OUT/loss.png (training loss
against images seen, drawn with numpy: tools/emoji/sheets.py).  When OUT holds
an exported model (config.json), `ddim info` gives its identity hash and the
card checks that the export's config is the run's.
"""

import argparse
import csv
import datetime
import json
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import sheets  # noqa: E402

# train.py's defaults: flags equal to these are left out of the command line.
TRAIN_DEFAULTS = {"batch": 64, "lr": 3e-4, "warmup": 200, "ema": 0.9995, "grad_clip": 1.0, "seed": 0,
                  "loss_weight": "uniform", "weight_cap": 1000.0, "prediction": "epsilon"}


def read_csv(path):
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return [{k: float(v) for k, v in r.items()} for r in rows]


def human(seconds):
    h, rest = divmod(int(round(seconds)), 3600)
    return "%d h %02d min" % (h, rest // 60)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def anneal_given_at_start(hp):
    """--anneal-steps came with the command that started the run (not with a --resume)."""
    return "anneal_from" in hp and hp["anneal_from"] == hp.get("warmup_from", 0)


def training_command(run, hp, config, default_config):
    data = hp.get("data", "~/.cache/ddim-emoji/emoji32.npz")
    home = os.path.expanduser("~")
    if data.startswith(home + os.sep):
        data = "~" + data[len(home):]
    cmd = ["/usr/bin/python3", "tools/emoji/train.py", "--data", data, "--out", run]
    if "init_from" in hp:
        source = hp["init_from"]
        if source.startswith(os.getcwd() + os.sep):
            source = os.path.relpath(source)
        cmd += ["--init-from", source]
    flags = {"batch": "--batch", "lr": "--lr", "warmup": "--warmup", "ema": "--ema",
             "grad_clip": "--grad-clip", "seed": "--seed", "loss_weight": "--loss-weight",
             "weight_cap": "--weight-cap", "prediction": "--prediction"}
    for key, flag in flags.items():
        if key in hp and hp[key] != TRAIN_DEFAULTS[key]:
            cmd += [flag, hp[key] if isinstance(hp[key], str) else "%g" % hp[key]]
    if anneal_given_at_start(hp):
        # given when the run started (a --resume that adds it is described in the text)
        cmd += ["--anneal-steps", "%d" % hp["anneal_steps"]]
    if default_config is not None:
        changed = {k: v for k, v in config.items() if default_config.get(k) != v}
        if changed:
            cmd += ["--config", "'%s'" % json.dumps(changed, separators=(",", ":"))]
    return " ".join(cmd)


def default_model_config():
    """train.py's MODEL_CONFIG, read from its source without importing torch code paths."""
    try:
        sys.path.insert(0, os.path.dirname(HERE))
        import importlib.util
        spec = importlib.util.spec_from_file_location("train", os.path.join(HERE, "train.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return dict(module.MODEL_CONFIG)
    except Exception:  # noqa: BLE001 -- the card still works without it
        return None


def ddim_info(ddim, folder):
    if not (ddim and os.path.exists(ddim) and os.path.isfile(os.path.join(folder, "config.json"))):
        return {}
    r = subprocess.run([ddim, "info", folder], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        raise SystemExit("ddim info %s failed: %s" % (folder, r.stderr.strip()))
    out = {}
    for line in r.stdout.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def loss_table(loss_log, rows=12):
    if not loss_log:
        return "(no loss log)"
    picks = sorted(set(np.linspace(0, len(loss_log) - 1, rows).round().astype(int)))
    lines = ["| step | images seen | wall time | loss (batch) | loss (running mean, 0.99) |",
             "|---|---|---|---|---|"]
    for i in picks:
        r = loss_log[i]
        lines.append("| %d | %d | %s | %.4f | %.4f |"
                     % (r["step"], r["images_seen"], human(r["wall_s"]), r["loss"], r["loss_ema"]))
    return "\n".join(lines)


def eval_table(eval_log):
    if not eval_log:
        return "(no held-out evaluation yet)"
    lines = ["| step | images seen | wall time | held-out ε-MSE | train-subset ε-MSE |",
             "|---|---|---|---|---|"]
    for r in eval_log:
        lines.append("| %d | %d | %s | %.5f | %.5f |"
                     % (r["step"], r["images_seen"], human(r["wall_s"]), r["heldout_mse"],
                        r["train_subset_mse"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="train.py's --out folder")
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "emoji32"),
                    help="where README.md and loss.png go (default %(default)s)")
    ap.add_argument("--name", default="emoji32")
    ap.add_argument("--ddim", default=os.path.join(ROOT, "build", "cli", "ddim"))
    ap.add_argument("--data", default=None, help="emoji32.npz (default: the run's)")
    ap.add_argument("--hardware", default=None,
                    help="what the run trained on (default: this machine's CPU, 2 threads)")
    ap.add_argument("--status", default=None,
                    help="a paragraph (or a file holding it) shown as a quoted note under the "
                         "title, e.g. how far the run has got")
    args = ap.parse_args()

    import torch  # Debian's python3-torch; only for reading the checkpoint
    ckpt_path = os.path.join(args.run, "checkpoint.pt")
    if not os.path.isfile(ckpt_path):
        raise SystemExit("%s: no checkpoint (has train.py run for 10 minutes?)" % ckpt_path)
    ckpt = torch.load(ckpt_path, map_location="cpu")
    for key in ("model_config", "hparams", "step", "images_seen", "wall_s", "ema"):
        if key not in ckpt:
            raise SystemExit("%s: not a train.py checkpoint (no '%s')" % (ckpt_path, key))
    config, hp = ckpt["model_config"], ckpt["hparams"]
    params = int(sum(v.numel() for v in ckpt["ema"].values()))
    loss_log = read_csv(os.path.join(args.run, "loss_log.csv")) or [
        dict(zip(["step", "images_seen", "wall_s", "loss", "loss_ema"], map(float, r)))
        for r in ckpt.get("loss_log", [])]
    eval_log = read_csv(os.path.join(args.run, "eval_log.csv")) or [
        dict(zip(["step", "images_seen", "wall_s", "heldout_mse", "train_subset_mse"], map(float, r)))
        for r in ckpt.get("eval_log", [])]
    resumes = 0
    log_path = os.path.join(args.run, "train.log")
    threads = None
    if os.path.isfile(log_path):
        with open(log_path) as f:
            text = f.read()
        resumes = len(re.findall(r"^resumed at step", text, re.M))
        m = re.search(r"device (\w+), (\d+) threads", text)
        if m:
            threads = "%s, %s threads" % (m.group(1), m.group(2))

    data_path = args.data or hp.get("data")
    meta, n_held = {}, None
    if data_path and os.path.isfile(data_path):
        d = np.load(data_path)
        meta = json.loads(str(d["meta"])) if "meta" in d.files else {}
        n_held = len(d["heldout"])

    default_config = default_model_config()
    os.makedirs(args.out, exist_ok=True)
    info = ddim_info(args.ddim, args.out)
    export_note = ""
    if os.path.isfile(os.path.join(args.out, "config.json")):
        with open(os.path.join(args.out, "config.json")) as f:
            exported = json.load(f)
        if exported != config:
            raise SystemExit("%s/config.json is not the config of %s: wrong run for this folder?"
                             % (args.out, args.run))
        export_note = "exported"
        # train.py --export writes the checkpoint's loss log beside the weights:
        # the same length means the weights are this checkpoint's EMA weights.
        exported_log = read_csv(os.path.join(args.out, "loss_log.csv"))
        if exported_log and len(exported_log) != len(ckpt.get("loss_log", [])):
            raise SystemExit("%s holds an export whose loss log ends at step %d, but %s is "
                             "at step %d: export again (train.py --out RUN --export %s) or use "
                             "the matching run"
                             % (args.out, int(exported_log[-1]["step"]), ckpt_path, ckpt["step"],
                                args.out))

    # the loss curve
    png = os.path.join(args.out, "loss.png")
    series = []
    if loss_log:
        x = [r["images_seen"] for r in loss_log]
        series.append((x, [r["loss"] for r in loss_log], (170, 200, 235)))
        series.append((x, [r["loss_ema"] for r in loss_log], (20, 80, 180)))
    if eval_log:
        series.append(([r["images_seen"] for r in eval_log], [r["heldout_mse"] for r in eval_log],
                       (210, 60, 30)))
    axes = None
    if series:
        image, axes = sheets.line_plot(series)
        sheets.write_png(png, image)

    steps, seen = ckpt["step"], ckpt["images_seen"]
    n_train = hp.get("n_train", 0)
    wall = ckpt["wall_s"]
    hardware = args.hardware or "%s (%s)" % (cpu_name(), threads or "cpu")
    card = []
    w = card.append
    is_default = default_config is not None and default_config == config and args.name == "emoji32"
    w("# %s%s\n" % (args.name, ": the default emoji model" if is_default else ""))
    if args.status:
        status = args.status
        if os.path.isfile(status):
            with open(status) as f:
                status = f.read()
        w("\n".join("> " + line if line else ">" for line in status.strip().split("\n")) + "\n")
    v_prediction = hp.get("prediction", "epsilon") == "v_prediction"
    w("A diffusers `UNet2DModel` DDPM trained from scratch on emoji artwork: 32×32, 4 channels "
      "(premultiplied RGBA, so samples come out on a transparent layer), %s parameters, "
      "%s, linear βs 1e-4…0.02, T = 1000.\n"
      % (format(params, ","),
         "v-prediction (`prediction_type` `v_prediction`: v = √ᾱ ε − √(1−ᾱ) x₀)"
         if v_prediction else "ε-prediction"))
    w("This card is written by `tools/emoji/model_card.py --run %s --out %s` from the training "
      "run's checkpoint and logs (%s).\n"
      % (args.run, os.path.relpath(args.out, ROOT) if args.out.startswith(ROOT) else args.out,
         datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")))
    if info.get("identity"):
        w("`ddim info %s` identity: `%s` (weights: %s).\n"
          % (os.path.relpath(args.out, ROOT) if args.out.startswith(ROOT) else args.out,
             info["identity"], info.get("weights", "?")))
    w("## Data\n")
    packages = meta.get("packages", {})
    w("- %s training images, %s held out (a fixed ~5 %% split by a hash of the file name: %s)."
      % (format(n_train, ","), n_held if n_held is not None else "?",
         meta.get("split", "see prepare_data.py")))
    if packages:
        w("- npm packages: %s; the 64×64 PNGs of `%s`."
          % (", ".join("`%s@%s`" % kv for kv in sorted(packages.items())),
             meta.get("source_folder", "package/img/<set>/64/")))
    w("- Preparation: %s." % meta.get("format", "premultiplied RGBA 32×32, uint8"))
    w("- Licences and attribution: [../README.md](../README.md) (Twemoji CC-BY 4.0, Noto Emoji "
      "Apache 2.0).\n")
    w("```sh\ntools/emoji/prepare_data.sh     # npm pack, sha512 check, writes "
      "~/.cache/ddim-emoji/emoji32.npz\n```\n")
    w("## Training\n")
    w("```sh\n%s\n```\n" % training_command(args.run, hp, config, default_config))
    if resumes:
        w("The run was stopped and continued %d time(s) with the same command plus `--resume` "
          "(train.py restores model, EMA, optimizer, data order and RNG states exactly).\n" % resumes)
    if "init_from" in hp:
        w("The run started from the exported weights in `%s` (their EMA weights for both the "
          "model and the EMA; steps, images seen and logs continue from that export's; a fresh "
          "Adam state with a new warm-up from step %s).\n"
          % (hp["init_from"], format(hp.get("warmup_from", 0), ",")))
        if "ema_from" in hp:
            w("Those weights predicted %s; this run trains them to predict %s, so its EMA "
              "restarts there: the (1+s)/(10+s) warm-up of the EMA decay counts s from step %s.\n"
              % ("ε" if hp.get("init_prediction") == "epsilon" else hp.get("init_prediction"),
                 "v" if v_prediction else "ε", format(hp["ema_from"], ",")))
    if "anneal_from" in hp:
        end = hp["anneal_from"] + hp["anneal_steps"]
        w("`--anneal-steps %d` was given at step %s%s: the learning rate falls from %g "
          "to 0 along a half cosine over steps %s to %s%s.\n"
          % (hp["anneal_steps"], format(hp["anneal_from"], ","),
             " (in the command above)" if anneal_given_at_start(hp)
             else " with `--resume`", hp.get("lr", 0),
             format(hp["anneal_from"], ","), format(end, ","),
             "" if steps >= end else
             " (these weights are from step %s, where it was %.2g)"
             % (format(steps, ","), ckpt["optimizer"]["param_groups"][0]["lr"])))
    w("| | |\n|---|---|")
    w("| steps | %s |" % format(steps, ","))
    w("| images seen | %s (%.1f epochs of %s images; random horizontal flips) |"
      % (format(seen, ","), seen / max(1, n_train), format(n_train, ",")))
    w("| training wall time | %s (%.2f s per step) |" % (human(wall), wall / max(1, steps)))
    w("| hardware | %s |" % hardware)
    w("| batch | %d |" % hp.get("batch", 0))
    anneal = ""
    if "anneal_from" in hp:
        anneal = ", then a cosine decay to 0 over steps %s to %s" % (
            format(hp["anneal_from"], ","), format(hp["anneal_from"] + hp["anneal_steps"], ","))
    w("| optimiser | Adam, lr %g (linear warm-up over %d steps%s), betas 0.9/0.999, "
      "gradient-norm clipping at %g |"
      % (hp.get("lr", 0), hp.get("warmup", 0), anneal, hp.get("grad_clip", 0)))
    w("| EMA | decay min(%g, (1+s)/(10+s))%s; the exported weights are the EMA weights |"
      % (hp.get("ema", 0),
         ", s counted from step %s" % format(hp["ema_from"], ",") if "ema_from" in hp else ""))
    weighting = ""
    if hp.get("loss_weight", "uniform") == "truncated-snr":
        weighting = (" weighted by min(%g, max(1, 1/SNR(t))) (truncated SNR, Salimans & Ho 2022)"
                     % hp.get("weight_cap", TRAIN_DEFAULTS["weight_cap"]))
    if v_prediction:
        w("| objective | v-MSE%s with v = √ᾱ_t ε − √(1−ᾱ_t) x₀ (Salimans & Ho 2022), t uniform "
          "in [0, 999], x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε (DDPM); the logged loss and the held-out "
          "numbers are the ε-MSE of the implied ε̂ = √ᾱ_t v̂ + √(1−ᾱ_t) x_t, comparable with "
          "ε-prediction runs |" % weighting)
    else:
        w("| objective | ε-MSE%s, t uniform in [0, 999], x_t = √ᾱ_t x₀ + √(1−ᾱ_t) ε (DDPM) |"
          % weighting)
    w("| seed | %d |" % hp.get("seed", 0))
    if loss_log:
        w("| final loss | %.4f (running mean) |" % loss_log[-1]["loss_ema"])
    if eval_log:
        w("| final held-out ε-MSE | %.5f (train subset: %.5f) |"
          % (eval_log[-1]["heldout_mse"], eval_log[-1]["train_subset_mse"]))
    w("")
    w("## Architecture\n")
    w("| field | value |\n|---|---|")
    for key in ("sample_size", "in_channels", "out_channels", "block_out_channels",
                "layers_per_block", "down_block_types", "mid_block_type", "up_block_types",
                "attention_head_dim", "norm_num_groups", "norm_eps", "act_fn",
                "time_embedding_type", "flip_sin_to_cos", "freq_shift", "downsample_padding",
                "resnet_time_scale_shift"):
        if key in config:
            v = config[key]
            w("| %s | %s |" % (key, ", ".join(map(str, v)) if isinstance(v, list) else v))
    w("| parameters | %s |" % format(params, ","))
    if default_config is not None and any(default_config.get(k) != v for k, v in config.items()):
        w("\n**Note:** this run's architecture differs from `tools/emoji/train.py`'s built-in "
          "one (see the `--config` flag above).")
    w("")
    w("## Loss\n")
    if axes:
        w("![training loss](loss.png)\n")
        w("Pale blue: batch loss; dark blue: its running mean (0.99); red: held-out ε-MSE of the "
          "EMA weights (fixed noise and t). x: images seen, 0 to %s (grid: tenths); y: "
          "logarithmic, %g to %g (dark lines at powers of ten).\n"
          % (format(int(axes[1]), ","), axes[2], axes[3]))
    w(loss_table(loss_log) + "\n")
    w("Held-out ε-MSE of the EMA weights over the run:\n")
    w(eval_table(eval_log) + "\n")
    w("## Export\n")
    w("```sh\n/usr/bin/python3 tools/emoji/train.py --out %s --export models/%s\n```\n"
      % (args.run, args.name))
    w("writes `config.json`, `diffusion_pytorch_model.safetensors` (fp16 EMA weights) and "
      "`scheduler_config.json` (DDPMScheduler, linear βs, `clip_sample` true, "
      "`prediction_type` `%s`), loadable "
      "unchanged by diffusers' `UNet2DModel.from_pretrained` and by `ddim`.%s\n"
      % (hp.get("prediction", "epsilon"),
         "" if export_note else " (Not exported into this folder yet.)"))
    w("Sample quality, reconstruction error and nearest-neighbour checks: "
      "[docs/results.md](../../docs/results.md).\n")
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write("\n".join(card))
    print("wrote %s%s" % (os.path.join(args.out, "README.md"), " and " + png if axes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
