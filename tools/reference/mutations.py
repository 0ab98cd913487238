"""Sensitivity check of the fixtures (run after tools/make_fixtures.py):

    /usr/bin/python3 tools/reference/mutations.py

Re-evaluates the committed fixture cases with deliberately WRONG variants of
one convention at a time (the mistakes a port could make) and prints how far
each variant lands from the fixture, as max|diff| / max|fixture| over the
affected files.  Every variant must be far above the 1e-4 tolerance of the
C tests; "n/a" means the mutation does not apply to that model.
"""
import contextlib
import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ddim_ref as R  # noqa: E402
import unet2d as U  # noqa: E402
from io_st import load_file, normalize_unet_state  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "fixtures")
torch.set_num_threads(1)


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b)))


def build(folder, raw_edit=None):
    unet = U.find_unet_folder(folder)
    with open(os.path.join(unet, "config.json")) as f:
        raw = json.load(f)
    if raw_edit:
        raw = raw_edit(copy.deepcopy(raw))
    model = U.UNet2DModel(raw)
    state = normalize_unet_state(load_file(os.path.join(unet, "diffusion_pytorch_model.safetensors")))
    model.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in state.items()})
    return model.eval()


def eps_cases(info):
    return [c for c in info["cases"] if c["kind"] == "eps"]


def eval_eps(model, info):
    worst = 0.0
    for c in eps_cases(info):
        x = torch.from_numpy(np.load(os.path.join(FIX, c["input"])))
        with torch.no_grad():
            y = model(x, torch.tensor(c["timesteps"], dtype=torch.float32)).numpy()
        worst = max(worst, rel(y, np.load(os.path.join(FIX, c["output"]))))
    return worst


@contextlib.contextmanager
def patch(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


# ---- model mutations: (label, applies(raw_cfg, model) -> bool, runner(folder, info) -> rel)

def cfg_mut(edit):
    def run(folder, info):
        return eval_eps(build(folder, edit), info)
    return run


def code_mut(obj, name, value):
    def run(folder, info):
        with patch(obj, name, value):
            return eval_eps(build(folder), info)
    return run


def up_forward_skip_first(self, h, skips, temb):
    skips = list(skips)
    for j, resnet in enumerate(self.resnets):
        skip = skips.pop()
        h = resnet(torch.cat([skip, h], dim=1), temb)
        if self.attentions is not None:
            h = self.attentions[j](h)
    if self.upsamplers is not None:
        h = self.upsamplers[0](h)
    return h


def up_forward_fifo(self, h, skips, temb):
    skips = list(skips)
    for j, resnet in enumerate(self.resnets):
        skip = skips.pop(0)
        h = resnet(torch.cat([h, skip], dim=1), temb)
        if self.attentions is not None:
            h = self.attentions[j](h)
    if self.upsamplers is not None:
        h = self.upsamplers[0](h)
    return h


def resnet_forward(variant):
    def fwd(self, x, temb):
        h = self.conv1(self.nonlinearity(self.norm1(x)))
        t = self.time_emb_proj(temb if variant == "no_temb_act" else self.nonlinearity(temb))[:, :, None, None]
        if self.time_scale_shift == "default":
            h = self.norm2(h + t)
        else:
            scale, shift = torch.chunk(t, 2, dim=1)
            if variant == "swap_scale_shift":
                scale, shift = shift, scale
            if variant == "scale_no_one":
                h = self.norm2(h) * scale + shift
            else:
                h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.nonlinearity(h))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        if variant == "no_output_scale":
            return x + h
        return (x + h) / self.output_scale_factor
    return fwd


def attn_forward(variant):
    def fwd(self, x):
        res = x
        b, c, hh, ww = x.shape
        h = self.group_norm(x) if (self.group_norm is not None and variant != "no_group_norm") else x
        tok = h.reshape(b, c, hh * ww).transpose(1, 2)
        q, k, v = self.to_q(tok), self.to_k(tok), self.to_v(tok)
        if variant == "interleaved_heads":
            def split(t):
                return t.reshape(b, hh * ww, self.dim_head, self.heads).permute(0, 3, 1, 2)
        else:
            def split(t):
                return t.reshape(b, hh * ww, self.heads, self.dim_head).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        d = self.heads * self.dim_head if variant == "scale_by_C" else self.dim_head
        p = F.softmax(torch.matmul(q, k.transpose(-1, -2)) * d ** -0.5, dim=-1)
        o = torch.matmul(p, v)
        if variant == "interleaved_heads":
            o = o.permute(0, 2, 3, 1).reshape(b, hh * ww, -1)
        else:
            o = o.transpose(1, 2).reshape(b, hh * ww, -1)
        o = self.to_out[0](o).transpose(1, 2).reshape(b, c, hh, ww)
        if variant == "no_rescale":
            return o + res
        return (o + res) / self.rescale_output_factor
    return fwd


def down_pad_left_top(self, x):
    if self.padding == 0:
        x = F.pad(x, (1, 0, 1, 0))
    return self.conv(x)


def down_pad_sym(self, x):
    if self.padding == 0:
        return F.conv2d(x, self.conv.weight, self.conv.bias, stride=2, padding=1)
    return self.conv(x)


def up_bilinear(self, x):
    return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))


def temb_variant(variant):
    orig = U.timestep_embedding

    def f(t, dim, flip, shift, scale=1.0, max_period=10000):
        if variant == "t_scaled":
            t = t / 1000.0
        if variant == "freq_half":
            half = dim // 2
            ex = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
            emb = t[:, None].float() * ex[None]
            emb = torch.cat([torch.sin(emb), torch.cos(emb)], -1)
            return torch.cat([emb[:, half:], emb[:, :half]], -1) if flip else emb
        return orig(t, dim, flip, shift, scale, max_period)
    return f


def set_key(k, v):
    def e(raw):
        raw[k] = v
        if k in raw.get("_use_default_values", []):
            raw["_use_default_values"] = [u for u in raw["_use_default_values"] if u != k]
        return raw
    return e


def drop_use_defaults(raw):
    raw.pop("_use_default_values", None)
    return raw


def model_mutations(info):
    cfg = info["resolved_config"]
    ahd = cfg["attention_head_dim"]
    has_attn = any(info["attention_heads"].values()) if info["attention_heads"] else False
    multi_head = any(h > 1 for h in info["attention_heads"].values())
    muts = [
        ("flip_sin_to_cos toggled", True, cfg_mut(set_key("flip_sin_to_cos", not cfg["flip_sin_to_cos"]))),
        ("freq_shift toggled 0<->1", True, cfg_mut(set_key("freq_shift", 1 - cfg["freq_shift"]))),
        ("timestep scaled /1000", True, code_mut(U, "timestep_embedding", temb_variant("t_scaled"))),
        ("downsample_padding toggled", True,
         cfg_mut(set_key("downsample_padding", 1 - cfg["downsample_padding"]))),
        ("padding 0: pad left/top", cfg["downsample_padding"] == 0,
         code_mut(U.Downsample2D, "forward", down_pad_left_top)),
        ("norm_eps 1e-5 <-> 1e-6", True,
         cfg_mut(set_key("norm_eps", 1e-5 if cfg["norm_eps"] != 1e-5 else 1e-6))),
        ("skip concat [skip, h]", True, code_mut(U.UpBlock, "forward", up_forward_skip_first)),
        ("skips popped FIFO", True, code_mut(U.UpBlock, "forward", up_forward_fifo)),
        ("no act on temb before time_emb_proj", True,
         code_mut(U.ResnetBlock2D, "forward", resnet_forward("no_temb_act"))),
        ("upsample bilinear", True, code_mut(U.Upsample2D, "forward", up_bilinear)),
        ("center_input_sample toggled", True,
         cfg_mut(set_key("center_input_sample", not cfg["center_input_sample"]))),
    ]
    if has_attn:
        muts += [
            ("attention: no group_norm", True, code_mut(U.Attention, "forward", attn_forward("no_group_norm"))),
            ("attention heads: null<->8", True,
             cfg_mut(set_key("attention_head_dim", 8 if ahd is None else None))),
            ("attention scale 1/sqrt(C) not 1/sqrt(d_head)", multi_head,
             code_mut(U.Attention, "forward", attn_forward("scale_by_C"))),
            ("attention heads interleaved", multi_head,
             code_mut(U.Attention, "forward", attn_forward("interleaved_heads"))),
        ]
    if cfg["resnet_time_scale_shift"] == "scale_shift":
        muts += [
            ("scale_shift: chunks swapped", True,
             code_mut(U.ResnetBlock2D, "forward", resnet_forward("swap_scale_shift"))),
            ("scale_shift: * scale (no 1 +)", True,
             code_mut(U.ResnetBlock2D, "forward", resnet_forward("scale_no_one"))),
        ]
    if cfg["mid_block_scale_factor"] != 1:
        muts += [
            ("mid_block_scale_factor ignored in resnets", True,
             code_mut(U.ResnetBlock2D, "forward", resnet_forward("no_output_scale"))),
            ("mid_block_scale_factor ignored in attention", True,
             code_mut(U.Attention, "forward", attn_forward("no_rescale"))),
        ]
    if "_use_default_values" in json.load(open(os.path.join(FIX, info["config"]))):
        muts.append(("_use_default_values ignored", True, cfg_mut(drop_use_defaults)))
    if info["resolved_config"].get("time_embedding_dim"):
        muts.append(("(time_embedding_dim ignored: shape error)", False, None))
    return muts


# ---- sampler mutations


def sampler_cases(info):
    return [c for c in info["cases"] + info.get("vary_cases", [])
            if c["kind"] in ("sample", "encode", "reconstruct", "vary")]


def run_case(model, sch, c, **over):
    x = np.load(os.path.join(FIX, c["input"]))
    ts = over.get("ts", c["timesteps"])
    pred = over.get("pred", c["prediction_type"])
    if c["kind"] == "sample":
        return R.ddim_sample(model, sch, x, ts, eta=c["eta"], clip=over.get("clip", c["clip"]),
                             clip_range=over.get("clip_range", c["clip_range"]), prediction_type=pred,
                             seed=c["seed"])
    if c["kind"] == "encode":
        return R.ddim_invert(model, sch, x, ts, prediction_type=pred)
    if c["kind"] == "vary":
        return R.ddim_vary(model, sch, x, ts, c["seed"], eta=c["eta"], clip=over.get("clip", c["clip"]),
                           clip_range=c["clip_range"], prediction_type=pred)
    z = R.ddim_invert(model, sch, x, ts, prediction_type=pred)
    return R.ddim_sample(model, sch, z, ts, clip=False, prediction_type=pred)


def main():
    man = json.load(open(os.path.join(FIX, "manifest.json")))
    lowest = []
    for name, info in man["models"].items():
        folder = os.path.join(FIX, info["path"])
        print(f"== {name}")
        base = eval_eps(build(folder), info)
        print(f"   {'reference itself (must be 0)':48s} {base:.2e}")
        for label, applies, runner in model_mutations(info):
            if not applies or runner is None:
                continue
            try:
                r = runner(folder, info)
                txt = f"{r:.2e}"
                lowest.append((r, name, label))
            except Exception as e:  # shape errors are detectable mistakes too
                txt = f"error ({type(e).__name__})"
            print(f"   eps  {label:43s} {txt}")
        # sampler mutations
        model = build(folder)
        sched_path = None if info["scheduler_config"] is None else os.path.join(FIX, info["scheduler_config"])
        scfg = R.load_scheduler_config(sched_path)
        sch = R.Schedule(scfg)
        for c in sampler_cases(info):
            ref = np.load(os.path.join(FIX, c["output"]))
            own = run_case(model, sch, c)
            variants = []
            T = sch.T
            S = c["steps"]
            if c["kind"] in ("sample", "vary"):
                variants.append(("clip toggled", dict(clip=not c["clip"])))
                if c["clip"] and c["clip_range"] != 1.0:
                    variants.append(("clip_range 1.0", dict(clip_range=1.0)))
            if c["schedule"] == "uniform" and scfg["steps_offset"]:
                variants.append(("steps_offset ignored", dict(ts=R.timesteps("uniform", T, S, 0))))
            if c["prediction_type"] != "epsilon":
                variants.append(("prediction_type as epsilon", dict(pred="epsilon")))
            print(f"   {c['kind']:5s}{c['output'].split('/')[-1]:40s} reference {rel(own, ref):.1e}")
            for label, over in variants:
                r = rel(run_case(model, sch, c, **over), ref)
                lowest.append((r, name, c["output"] + ": " + label))
                print(f"        {label:38s} {r:.2e}")
            # special variants needing a different Schedule
            if c["kind"] in ("sample", "reconstruct"):
                s2 = R.Schedule(dict(scfg, set_alpha_to_one=not scfg["set_alpha_to_one"]))
                r = rel(run_case(model, s2, c), ref)
                lowest.append((r, name, c["output"] + ": set_alpha_to_one toggled"))
                print(f"        {'set_alpha_to_one toggled':38s} {r:.2e}")
            if c["kind"] == "sample" and c["schedule"] in ("trailing", "linspace", "quadratic"):
                r = rel(sample_prev_stride(model, sch, c, T // S), ref)
                lowest.append((r, name, c["output"] + ": prev = t - T//S"))
                print(f"        {'prev = t - T//S (diffusers step)':38s} {r:.2e}")
            if c["kind"] == "sample" and c["eta"] > 0:
                with patch(R, "stream_step", lambda t: (2 << 32) | (t - T // S if t >= T // S else 0)):
                    r = rel(run_case(model, sch, c), ref)
                lowest.append((r, name, c["output"] + ": noise stream of prev t"))
                print(f"        {'noise stream keyed by prev t':38s} {r:.2e}")
            if c["kind"] == "vary":
                with patch(R, "STREAM_FORWARD", 0):
                    r = rel(run_case(model, sch, c), ref)
                lowest.append((r, name, c["output"] + ": forward noise stream 0"))
                print(f"        {'forward noise from stream 0':38s} {r:.2e}")
            if c["kind"] == "encode":
                with patch(R, "_run_model_dtype", shift_eval(c["timesteps"])):
                    r = rel(run_case(model, sch, c), ref)
                lowest.append((r, name, c["output"] + ": inversion eps at current t"))
                print(f"        {'inversion: eps at the current level':38s} {r:.2e}")
    lowest.sort()
    print("\nsmallest effects:")
    for r, n, l in lowest[:8]:
        print(f"   {r:.2e}  {n}: {l}")


def sample_prev_stride(model, sch, c, stride):
    """ddim_sample with diffusers' step() rule prev = t - T//S instead of the
    list's next smaller entry."""
    x = np.load(os.path.join(FIX, c["input"])).astype(np.float64)
    ts = c["timesteps"]
    for t in reversed(ts):
        tp = t - stride
        a_t, a_p = sch.alpha_bar(t), sch.alpha_bar(tp)
        out = R._run_model(model, x, t)
        x0, eps = R._model_eps_x0(out, x, a_t, c["prediction_type"])
        if c["clip"]:
            x0 = np.clip(x0, -c["clip_range"], c["clip_range"])
        sig = c["eta"] * math.sqrt((1 - a_p) / (1 - a_t)) * math.sqrt(1 - a_t / a_p)
        x = math.sqrt(a_p) * x0 + math.sqrt(max(0.0, 1 - a_p - sig * sig)) * eps
        if sig > 0:
            x = x + sig * R.noise(c["seed"], R.stream_step(t), x.shape)
    return x.astype(np.float32)


def shift_eval(ts):
    orig = R._run_model_dtype
    ts = list(ts)

    def f(model, x, t, dt):
        i = ts.index(t)
        return orig(model, x, ts[i - 1] if i > 0 else 0, dt)
    return f


if __name__ == "__main__":
    main()
