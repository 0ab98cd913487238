"""Independent PyTorch re-implementation of diffusers' UNet2DModel
(positional time embedding, DownBlock2D / AttnDownBlock2D / UpBlock2D /
AttnUpBlock2D, UNetMidBlock2D), written from the semantics in
/work/shared/reference/diffusers-unet-ddim-safetensors.md.

Module and parameter names are diffusers' current ones, so `state_dict()`
has exactly the keys of a diffusers UNet2DModel:
  conv_in, time_embedding.linear_{1,2}, down_blocks.i.resnets.j.*,
  down_blocks.i.attentions.j.{group_norm,to_q,to_k,to_v,to_out.0},
  down_blocks.i.downsamplers.0.conv, mid_block.{resnets.0,attentions.0,resnets.1},
  up_blocks.i.{resnets,attentions,upsamplers.0.conv}, conv_norm_out, conv_out.

Everything runs in the dtype of the parameters (float32 for the fixtures;
`.double()` gives a float64 model used to estimate rounding noise).
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

# diffusers UNet2DModel.__init__ defaults (unet_2d.py).
UNET_DEFAULTS = {
    "sample_size": None,
    "in_channels": 3,
    "out_channels": 3,
    "center_input_sample": False,
    "time_embedding_type": "positional",
    "time_embedding_dim": None,
    "freq_shift": 0,
    "flip_sin_to_cos": True,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"],
    "mid_block_type": "UNetMidBlock2D",
    "up_block_types": ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
    "block_out_channels": [224, 448, 672, 896],
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "downsample_padding": 1,
    "downsample_type": "conv",
    "upsample_type": "conv",
    "dropout": 0.0,
    "act_fn": "silu",
    "attention_head_dim": 8,
    "norm_num_groups": 32,
    "attn_norm_num_groups": None,
    "norm_eps": 1e-5,
    "resnet_time_scale_shift": "default",
    "add_attention": True,
    "class_embed_type": None,
    "num_class_embeds": None,
    "num_train_timesteps": None,
}


def resolve_config(raw):
    """config.json dict -> complete config with diffusers' loading rules:
    keys listed in `_use_default_values` are dropped, keys starting with `_`
    and unknown keys are ignored, missing keys take the __init__ default."""
    used_defaults = set(raw.get("_use_default_values", []) or [])
    cfg = dict(UNET_DEFAULTS)
    for k, v in raw.items():
        if k.startswith("_") or k in used_defaults or k not in UNET_DEFAULTS:
            continue
        cfg[k] = v
    cfg["down_block_types"] = list(cfg["down_block_types"])
    cfg["up_block_types"] = list(cfg["up_block_types"])
    cfg["block_out_channels"] = list(cfg["block_out_channels"])
    return cfg


def _activation(name):
    name = name.lower()
    if name in ("silu", "swish"):
        return nn.SiLU()
    if name == "mish":
        return nn.Mish()
    if name == "gelu":
        return nn.GELU()
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"unsupported activation function: {name}")


def timestep_embedding(timesteps, dim, flip_sin_to_cos, downscale_freq_shift,
                       scale=1.0, max_period=10000):
    """diffusers get_timestep_embedding, op for op (float32 frequencies)."""
    assert timesteps.ndim == 1
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(0, half, dtype=torch.float32)
    exponent = exponent / (half - downscale_freq_shift)
    freqs = torch.exp(exponent)
    emb = timesteps[:, None].float() * freqs[None, :]
    emb = scale * emb
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    if dim % 2 == 1:
        emb = F.pad(emb, (0, 1, 0, 0))
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, in_dim, temb_dim):
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, temb_dim)
        self.act = nn.SiLU()  # always SiLU, whatever act_fn says
        self.linear_2 = nn.Linear(temb_dim, temb_dim)

    def forward(self, x):
        return self.linear_2(self.act(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb_dim, groups, eps, act_fn, time_scale_shift,
                 output_scale_factor=1.0):
        super().__init__()
        self.time_scale_shift = time_scale_shift
        self.output_scale_factor = output_scale_factor
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps, affine=True)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=1, padding=1)
        if time_scale_shift == "default":
            self.time_emb_proj = nn.Linear(temb_dim, cout)
        elif time_scale_shift == "scale_shift":
            self.time_emb_proj = nn.Linear(temb_dim, 2 * cout)
        else:
            raise ValueError(f"unsupported resnet_time_scale_shift: {time_scale_shift}")
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps, affine=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1)
        self.nonlinearity = _activation(act_fn)
        if cin != cout:
            self.conv_shortcut = nn.Conv2d(cin, cout, 1, stride=1, padding=0, bias=True)
        else:
            self.conv_shortcut = None

    def forward(self, x, temb):
        h = self.conv1(self.nonlinearity(self.norm1(x)))
        t = self.time_emb_proj(self.nonlinearity(temb))[:, :, None, None]
        if self.time_scale_shift == "default":
            h = self.norm2(h + t)
        else:
            scale, shift = torch.chunk(t, 2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.nonlinearity(h))  # dropout: identity at inference
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return (x + h) / self.output_scale_factor


class Attention(nn.Module):
    """diffusers Attention as built for UNet2D blocks
    (_from_deprecated_attn_block, residual, bias, spatial input)."""

    def __init__(self, channels, heads, dim_head, norm_groups, eps, rescale_output_factor=1.0):
        super().__init__()
        if heads < 1:
            raise ValueError(f"attention: {channels} channels with head dim {dim_head} gives {heads} heads")
        inner = heads * dim_head
        self.heads = heads
        self.dim_head = dim_head
        self.rescale_output_factor = rescale_output_factor
        if norm_groups is not None:
            self.group_norm = nn.GroupNorm(norm_groups, channels, eps=eps, affine=True)
        else:
            self.group_norm = None
        self.to_q = nn.Linear(channels, inner, bias=True)
        self.to_k = nn.Linear(channels, inner, bias=True)
        self.to_v = nn.Linear(channels, inner, bias=True)
        self.to_out = nn.ModuleList([nn.Linear(inner, channels, bias=True), nn.Dropout(0.0)])

    def forward(self, x):
        res = x
        b, c, hh, ww = x.shape
        h = x
        if self.group_norm is not None:
            h = self.group_norm(h)
        tokens = h.reshape(b, c, hh * ww).transpose(1, 2)  # (B, HW, C), token = y*W + x
        q = self.to_q(tokens)
        k = self.to_k(tokens)
        v = self.to_v(tokens)

        def split(t):
            return t.reshape(b, hh * ww, self.heads, self.dim_head).transpose(1, 2)  # (B, h, N, d)

        q, k, v = split(q), split(k), split(v)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (self.dim_head ** -0.5)
        probs = F.softmax(scores, dim=-1)
        o = torch.matmul(probs, v)  # (B, h, N, d)
        o = o.transpose(1, 2).reshape(b, hh * ww, self.heads * self.dim_head)
        o = self.to_out[0](o)
        o = o.transpose(1, 2).reshape(b, c, hh, ww)
        return (o + res) / self.rescale_output_factor


class Downsample2D(nn.Module):
    def __init__(self, channels, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1), mode="constant", value=0)  # right column, bottom row
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return self.conv(x)


class DownBlock(nn.Module):
    """DownBlock2D (attn=False) / AttnDownBlock2D (attn=True)."""

    def __init__(self, cin, cout, temb_dim, layers, attn, add_downsample, groups, eps, act_fn,
                 time_scale_shift, head_dim, downsample_padding):
        super().__init__()
        self.resnets = nn.ModuleList()
        self.attentions = nn.ModuleList() if attn else None
        for j in range(layers):
            self.resnets.append(ResnetBlock2D(cin if j == 0 else cout, cout, temb_dim, groups, eps,
                                              act_fn, time_scale_shift))
            if attn:
                self.attentions.append(Attention(cout, cout // head_dim, head_dim, groups, eps))
        if add_downsample:
            self.downsamplers = nn.ModuleList([Downsample2D(cout, downsample_padding)])
        else:
            self.downsamplers = None

    def forward(self, h, temb):
        outputs = []
        for j, resnet in enumerate(self.resnets):
            h = resnet(h, temb)
            if self.attentions is not None:
                h = self.attentions[j](h)
            outputs.append(h)
        if self.downsamplers is not None:
            h = self.downsamplers[0](h)
            outputs.append(h)
        return h, outputs


class UpBlock(nn.Module):
    """UpBlock2D (attn=False) / AttnUpBlock2D (attn=True); `layers` = L + 1."""

    def __init__(self, cin, prev_cout, cout, temb_dim, layers, attn, add_upsample, groups, eps,
                 act_fn, time_scale_shift, head_dim):
        super().__init__()
        self.resnets = nn.ModuleList()
        self.attentions = nn.ModuleList() if attn else None
        for j in range(layers):
            skip_ch = cin if j == layers - 1 else cout
            res_in = prev_cout if j == 0 else cout
            self.resnets.append(ResnetBlock2D(res_in + skip_ch, cout, temb_dim, groups, eps, act_fn,
                                              time_scale_shift))
            if attn:
                self.attentions.append(Attention(cout, cout // head_dim, head_dim, groups, eps))
        if add_upsample:
            self.upsamplers = nn.ModuleList([Upsample2D(cout)])
        else:
            self.upsamplers = None

    def forward(self, h, skips, temb):
        skips = list(skips)
        for j, resnet in enumerate(self.resnets):
            skip = skips.pop()  # last remaining entry (LIFO)
            h = torch.cat([h, skip], dim=1)  # h first, skip second
            h = resnet(h, temb)
            if self.attentions is not None:
                h = self.attentions[j](h)
        if self.upsamplers is not None:
            h = self.upsamplers[0](h)
        return h


class UNetMidBlock2D(nn.Module):
    def __init__(self, channels, temb_dim, groups, attn_groups, eps, act_fn, time_scale_shift,
                 head_dim, output_scale_factor, add_attention):
        super().__init__()
        if attn_groups is None:
            attn_groups = groups if time_scale_shift == "default" else None
        kw = dict(output_scale_factor=output_scale_factor)
        self.resnets = nn.ModuleList([
            ResnetBlock2D(channels, channels, temb_dim, groups, eps, act_fn, time_scale_shift, **kw),
            ResnetBlock2D(channels, channels, temb_dim, groups, eps, act_fn, time_scale_shift, **kw),
        ])
        if add_attention:
            self.attentions = nn.ModuleList([
                Attention(channels, channels // head_dim, head_dim, attn_groups, eps,
                          rescale_output_factor=output_scale_factor)])
        else:
            self.attentions = None

    def forward(self, h, temb):
        h = self.resnets[0](h, temb)
        if self.attentions is not None:
            h = self.attentions[0](h)
        return self.resnets[1](h, temb)


def _block_type(name):
    return name[7:] if name.startswith("UNetRes") else name


class UNet2DModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        cfg = resolve_config(config)
        self.config = cfg
        if cfg["time_embedding_type"] != "positional":
            raise ValueError(f"unsupported time_embedding_type: {cfg['time_embedding_type']}")
        if cfg["class_embed_type"] is not None or cfg["num_class_embeds"] is not None:
            raise ValueError("class embeddings are not supported")
        if cfg["downsample_type"] != "conv" or cfg["upsample_type"] != "conv":
            raise ValueError("only conv down/upsamplers are supported")
        if cfg["resnet_time_scale_shift"] not in ("default", "scale_shift"):
            raise ValueError(f"unsupported resnet_time_scale_shift: {cfg['resnet_time_scale_shift']}")
        if cfg["norm_num_groups"] is None:
            raise ValueError("norm_num_groups null is not supported")
        if cfg["mid_block_type"] not in ("UNetMidBlock2D", None):
            raise ValueError(f"unsupported mid_block_type: {cfg['mid_block_type']}")
        boc = cfg["block_out_channels"]
        n = len(boc)
        downs = [_block_type(t) for t in cfg["down_block_types"]]
        ups = [_block_type(t) for t in cfg["up_block_types"]]
        if len(downs) != n or len(ups) != n:
            raise ValueError("down_block_types, up_block_types and block_out_channels differ in length")
        for t in downs:
            if t not in ("DownBlock2D", "AttnDownBlock2D"):
                raise ValueError(f"unsupported down block type: {t}")
        for t in ups:
            if t not in ("UpBlock2D", "AttnUpBlock2D"):
                raise ValueError(f"unsupported up block type: {t}")
        groups = cfg["norm_num_groups"]
        eps = cfg["norm_eps"]
        act = cfg["act_fn"]
        tss = cfg["resnet_time_scale_shift"]
        L = cfg["layers_per_block"]
        ahd = cfg["attention_head_dim"]
        c0 = boc[0]
        temb_dim = cfg["time_embedding_dim"] or c0 * 4

        self.conv_in = nn.Conv2d(cfg["in_channels"], c0, 3, padding=1)
        self.time_embedding = TimestepEmbedding(c0, temb_dim)

        self.down_blocks = nn.ModuleList()
        cout = c0
        for i, t in enumerate(downs):
            cin, cout = cout, boc[i]
            self.down_blocks.append(DownBlock(
                cin, cout, temb_dim, L, t == "AttnDownBlock2D", i != n - 1, groups, eps, act, tss,
                ahd if ahd is not None else cout, cfg["downsample_padding"]))

        if cfg["mid_block_type"] is None:
            self.mid_block = None
        else:
            self.mid_block = UNetMidBlock2D(
                boc[-1], temb_dim, groups, cfg["attn_norm_num_groups"], eps, act, tss,
                ahd if ahd is not None else boc[-1], cfg["mid_block_scale_factor"],
                cfg["add_attention"])

        self.up_blocks = nn.ModuleList()
        rev = list(reversed(boc))
        cout = rev[0]
        for i, t in enumerate(ups):
            prev, cout = cout, rev[i]
            cin = rev[min(i + 1, n - 1)]
            self.up_blocks.append(UpBlock(
                cin, prev, cout, temb_dim, L + 1, t == "AttnUpBlock2D", i != n - 1, groups, eps,
                act, tss, ahd if ahd is not None else cout))

        self.conv_norm_out = nn.GroupNorm(groups, c0, eps=eps, affine=True)
        self.conv_act = nn.SiLU()  # always SiLU
        self.conv_out = nn.Conv2d(c0, cfg["out_channels"], 3, padding=1)

    @property
    def size_multiple(self):
        return 2 ** (len(self.config["block_out_channels"]) - 1)

    def forward(self, x, timesteps):
        cfg = self.config
        dtype = self.conv_in.weight.dtype
        x = x.to(dtype)
        if not torch.is_tensor(timesteps):
            timesteps = torch.tensor([timesteps], dtype=torch.float32)
        if timesteps.ndim == 0:
            timesteps = timesteps[None]
        timesteps = timesteps * torch.ones(x.shape[0], dtype=timesteps.dtype)
        m = self.size_multiple
        if x.shape[2] % m or x.shape[3] % m:
            raise ValueError(f"H and W must be multiples of {m}, got {tuple(x.shape[2:])}")
        if cfg["center_input_sample"]:
            x = 2 * x - 1.0
        c0 = cfg["block_out_channels"][0]
        t_emb = timestep_embedding(timesteps, c0, cfg["flip_sin_to_cos"], cfg["freq_shift"])
        emb = self.time_embedding(t_emb.to(dtype))

        h = self.conv_in(x)
        skips = [h]
        for block in self.down_blocks:
            h, outs = block(h, emb)
            skips.extend(outs)
        if self.mid_block is not None:
            h = self.mid_block(h, emb)
        for block in self.up_blocks:
            k = len(block.resnets)
            mine, skips = skips[-k:], skips[:-k]
            h = block(h, mine, emb)
        h = self.conv_out(self.conv_act(self.conv_norm_out(h)))
        return h


# ---------------------------------------------------------------------------
# Loading a model folder


def find_unet_folder(path):
    """A UNet folder (config.json + weights) or a pipeline folder with unet/."""
    if os.path.isfile(os.path.join(path, "unet", "config.json")):
        return os.path.join(path, "unet")
    return path


def find_scheduler_config(path):
    """scheduler_config.json beside the UNet config, or ../scheduler/, or
    <pipeline>/scheduler/.  None when absent."""
    unet = find_unet_folder(path)
    for cand in (os.path.join(unet, "scheduler_config.json"),
                 os.path.join(os.path.dirname(os.path.abspath(unet)), "scheduler", "scheduler_config.json"),
                 os.path.join(path, "scheduler", "scheduler_config.json")):
        if os.path.isfile(cand):
            return cand
    return None


def load_unet(path, dtype=torch.float32):
    """Build a UNet2DModel from a folder; weights read with io_st (old or new
    attention names accepted), loaded strictly (every key must match)."""
    from io_st import load_file, normalize_unet_state  # noqa: E402  (same folder)

    folder = find_unet_folder(path)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = UNet2DModel(config)
    state = normalize_unet_state(load_file(os.path.join(folder, "diffusion_pytorch_model.safetensors")))
    tstate = {k: torch.from_numpy(v.astype("float32")) for k, v in state.items()}
    missing = set(model.state_dict()) - set(tstate)
    unexpected = set(tstate) - set(model.state_dict())
    if missing or unexpected:
        raise ValueError(f"state dict mismatch: missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}")
    model.load_state_dict(tstate, strict=True)
    model = model.to(dtype).eval()
    return model, config
