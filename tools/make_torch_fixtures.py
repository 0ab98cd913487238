#!/usr/bin/python3
"""Write the PyTorch-checkpoint fixtures into tests/fixtures/torch/.

    /usr/bin/python3 tools/make_torch_fixtures.py

Every checkpoint is written by torch.save itself (PyTorch 1.13 from Debian):
the zip format and, with _use_new_zipfile_serialization=False, the legacy
one.  Hostile files are assembled byte by byte (or saved from objects whose
__reduce__ names os.system / eval: saving runs nothing).  The fuzz seed
corpus tests/fuzz/torch-checkpoint/ and tests/fuzz/pickle/ is refreshed
from them.  Reference outputs come from tools/reference/unet2d.py, and the
original-layout key mapping is checked against an independent forward pass
written on the original keys (ermongroup/ddim models/diffusion.py).

Legacy files name storages by C pointer values, so they differ from run to
run; everything else is deterministic.
"""
import collections
import io
import json
import math
import os
import shutil
import struct
import sys
import zipfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "reference"))
import io_st  # noqa: E402
from unet2d import UNet2DModel  # noqa: E402

ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, "tests", "fixtures", "torch")
FUZZ = os.path.join(ROOT, "tests", "fuzz")
MARKER = "/tmp/ddim-hostile-executed"

torch.set_num_threads(1)

EPS_T = (0, 37, 999)

# A tiny network in the google/ddpm style (original conventions), small
# enough that each copy of its weights is ~47 KB.
TINY_CONFIG = {
    "_class_name": "UNet2DModel",
    "act_fn": "silu",
    "attention_head_dim": None,
    "block_out_channels": [4, 8],
    "center_input_sample": False,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D"],
    "downsample_padding": 0,
    "flip_sin_to_cos": False,
    "freq_shift": 1,
    "in_channels": 2,
    "layers_per_block": 1,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-06,
    "norm_num_groups": 2,
    "out_channels": 2,
    "sample_size": 8,
    "time_embedding_type": "positional",
    "up_block_types": ["AttnUpBlock2D", "UpBlock2D"],
}

# What the C loader must infer for an original checkpoint without
# config.json: 32 groups, eps 1e-6, [sin|cos], shift 1, one head, size 16
# (attention at 16×16 on level 0).
INFERRED_CONFIG = {
    "_class_name": "UNet2DModel",
    "act_fn": "silu",
    "add_attention": True,
    "attention_head_dim": None,
    "block_out_channels": [32],
    "center_input_sample": False,
    "down_block_types": ["AttnDownBlock2D"],
    "downsample_padding": 0,
    "flip_sin_to_cos": False,
    "freq_shift": 1,
    "in_channels": 1,
    "layers_per_block": 1,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-06,
    "norm_num_groups": 32,
    "out_channels": 1,
    "sample_size": 16,
    "time_embedding_type": "positional",
    "up_block_types": ["AttnUpBlock2D"],
}


README = """# PyTorch checkpoint fixtures (generated — do not edit by hand)

Written by `/usr/bin/python3 tools/make_torch_fixtures.py` (PyTorch 1.13 from Debian, numpy),
which also refreshes the fuzz seed corpora `tests/fuzz/torch-checkpoint/` and
`tests/fuzz/pickle/`. Every checkpoint here is written by `torch.save` itself: the zip format,
and with `_use_new_zipfile_serialization=False` the legacy one. Legacy files name storages by
C pointer values, so they change from run to run; the rest is deterministic.
`manifest.json` lists the cases for `tests/test-torch-checkpoint.c`; `hostile.tsv` lists the
hostile files and the expected part of their message for `tests/test-torch-cli.sh`.

## One tiny network, every container

Config (`config.json`, google/ddpm style): block_out [4, 8], GroupNorm 2 groups, one residual
block per level, attention at the lower level and in the middle, 2 channels, 8×8, random
weights (11 694 parameters, ~47 KB in F32).

| file | what |
|---|---|
| `diffusers_st/` | the reference copy: safetensors (F32), `x.npy`, `eps_t{0,37,999}.npy` from the PyTorch reference `tools/reference/unet2d.py` |
| `diffusers_bin/diffusion_pytorch_model.bin` | zip, saved by path (archive folder `diffusion_pytorch_model/`), an `OrderedDict` with `_metadata` (pickled with BUILD) like `module.state_dict()`, old attention names `query/key/value/proj_attn` |
| `diffusers_sharded/` | two shards (plain dicts; the first zip, the second legacy) + `diffusion_pytorch_model.bin.index.json` |
| `diffusers_files/legacy.bin` | legacy format, plain dict |
| `diffusers_files/strided.pt` | zip saved to a file object (folder `archive/`): 2-D and 4-D weights as non-contiguous views, every bias a view into one shared storage at an offset |
| `diffusers_files/f16.pt` | the weights in float16; `eps_f16_t*.npy` are the PyTorch outputs of the rounded weights |
| `original/config.json` | the same config, beside original-layout checkpoints |
| `original/model.ckpt` | zip, original DDPM keys (`temb.dense.*`, `down.L.block.j.*`, `up.L.*` numbered from full resolution, attention q/k/v/proj_out as 1×1 convolutions, `nin_shortcut`), OrderedDict with `_metadata` |
| `original/legacy.ckpt` | the same, legacy format, plain dict |
| `original/training.pth` | an ermongroup/ddim training checkpoint (legacy): `[model with "module." keys and weights × 0.5, Adam state, 7, 1234, EMA = the weights]`; the EMA must be chosen |
| `original/training_noema.pth` | `[model with "module." keys, Adam state, 7, 1234]` (zip): the model is chosen |

All of these must give ε bit-identical to `diffusers_st/`. The original-layout key mapping is
checked by the generator against a forward pass written on the original keys
(ermongroup/ddim `models/diffusion.py`).

## An original checkpoint without config.json

`inferred/model.ckpt` (legacy, float16): original keys of a network with 32 channels, one level
with attention, 1 channel in and out, 32 GroupNorm groups. The loader must infer the config
(`manifest.json` `inferred.config`: 16×16 from attention at 16×16, original conventions) and
match `eps_t*.npy`.

## Hostile files (`hostile/`)

Each must be refused with the message part listed in `manifest.json` / `hostile.tsv`, exit
status 1 from `ddim`, and nothing run (the payloads would `touch /tmp/ddim-hostile-executed`):

"""


# ---------------------------------------------------------------------------
# Weights and reference outputs


def random_state(model, seed):
    """conv/linear ~ N(0, 1/fan_in), biases 0.1 N, GroupNorm 1 + 0.25 N / 0.2 N;
    q/k scaled up so attention is far from uniform."""
    rng = np.random.default_rng(seed)
    state = collections.OrderedDict()
    for name, p in model.state_dict().items():
        mod, leaf = name.rsplit(".", 1)
        last = mod.rsplit(".", 1)[-1]
        shape = tuple(p.shape)
        if last in ("norm1", "norm2", "group_norm", "conv_norm_out"):
            v = 1.0 + 0.25 * rng.standard_normal(shape) if leaf == "weight" else 0.2 * rng.standard_normal(shape)
        elif leaf == "bias":
            v = 0.1 * rng.standard_normal(shape)
        else:
            g = 1.6 if last in ("to_q", "to_k") else 1.0
            v = g / math.sqrt(int(np.prod(shape[1:]))) * rng.standard_normal(shape)
        state[name] = torch.from_numpy(v.astype(np.float32))
    return state


def reference_eps(config, state, x, t):
    model = UNet2DModel(config)
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        return model(torch.from_numpy(x), torch.full((x.shape[0],), float(t))).numpy()


# ---------------------------------------------------------------------------
# The original DDPM layout


def to_original(state, levels):
    """diffusers keys -> ermongroup/ddim keys (up_blocks.i is up.{n-1-i});
    attention projections become 1x1 convolutions."""
    out = collections.OrderedDict()
    resnet = {"time_emb_proj": "temb_proj", "conv_shortcut": "nin_shortcut"}
    attention = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
    for name, value in state.items():
        module, leaf = name.rsplit(".", 1)
        parts = module.split(".")
        if module == "time_embedding.linear_1":
            new = "temb.dense.0"
        elif module == "time_embedding.linear_2":
            new = "temb.dense.1"
        elif module == "conv_norm_out":
            new = "norm_out"
        elif module in ("conv_in", "conv_out"):
            new = module
        elif parts[0] in ("down_blocks", "up_blocks"):
            down = parts[0] == "down_blocks"
            level = int(parts[1]) if down else levels - 1 - int(parts[1])
            prefix = f"{'down' if down else 'up'}.{level}"
            if parts[2] == "resnets":
                new = f"{prefix}.block.{parts[3]}.{resnet.get(parts[4], parts[4])}"
            elif parts[2] == "attentions":
                new = f"{prefix}.attn.{parts[3]}.{attention['.'.join(parts[4:])]}"
            elif parts[2] in ("downsamplers", "upsamplers"):
                new = f"{prefix}.{'downsample' if down else 'upsample'}.conv"
            else:
                raise ValueError(name)
        elif parts[0] == "mid_block":
            if parts[1] == "resnets":
                new = f"mid.block_{int(parts[2]) + 1}.{resnet.get(parts[3], parts[3])}"
            else:
                new = f"mid.attn_1.{attention['.'.join(parts[3:])]}"
        else:
            raise ValueError(name)
        if leaf == "weight" and value.ndim == 2 and ".attn" in new:
            value = value[:, :, None, None]
        out[f"{new}.{leaf}"] = value.clone()
    return out


def original_forward(sd, groups, x, t, levels, blocks, attention_levels):
    """ermongroup/ddim models/diffusion.py Model.forward on the original keys
    (GroupNorm eps 1e-6; `groups` instead of the hard-coded 32)."""
    def norm(h, p):
        return F.group_norm(h, groups, sd[p + ".weight"], sd[p + ".bias"], 1e-6)

    def conv(h, p, stride=1, pad=1):
        return F.conv2d(h, sd[p + ".weight"], sd[p + ".bias"], stride=stride, padding=pad)

    def swish(h):
        return h * torch.sigmoid(h)

    def resblock(h, p, temb):
        y = conv(swish(norm(h, p + ".norm1")), p + ".conv1")
        y = y + F.linear(swish(temb), sd[p + ".temb_proj.weight"], sd[p + ".temb_proj.bias"])[:, :, None, None]
        y = conv(swish(norm(y, p + ".norm2")), p + ".conv2")
        if p + ".nin_shortcut.weight" in sd:
            h = conv(h, p + ".nin_shortcut", pad=0)
        return h + y

    def attn(h, p):
        b, c, hh, ww = h.shape
        n = norm(h, p + ".norm")
        q, k, v = conv(n, p + ".q", pad=0), conv(n, p + ".k", pad=0), conv(n, p + ".v", pad=0)
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)
        w = torch.softmax(torch.bmm(q, k.reshape(b, c, hh * ww)) * (int(c) ** -0.5), dim=2)
        o = torch.bmm(v.reshape(b, c, hh * ww), w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return h + conv(o, p + ".proj_out", pad=0)

    ch = sd["conv_in.weight"].shape[0]
    half = ch // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000) / (half - 1)))
    emb = torch.full((x.shape[0],), float(t))[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    temb = F.linear(emb, sd["temb.dense.0.weight"], sd["temb.dense.0.bias"])
    temb = F.linear(swish(temb), sd["temb.dense.1.weight"], sd["temb.dense.1.bias"])
    hs = [conv(x, "conv_in")]
    for level in range(levels):
        for b in range(blocks):
            h = resblock(hs[-1], f"down.{level}.block.{b}", temb)
            if level in attention_levels:
                h = attn(h, f"down.{level}.attn.{b}")
            hs.append(h)
        if level != levels - 1:
            hs.append(conv(F.pad(hs[-1], (0, 1, 0, 1)), f"down.{level}.downsample.conv", stride=2, pad=0))
    h = resblock(hs[-1], "mid.block_1", temb)
    h = attn(h, "mid.attn_1")
    h = resblock(h, "mid.block_2", temb)
    for level in reversed(range(levels)):
        for b in range(blocks + 1):
            h = resblock(torch.cat([h, hs.pop()], dim=1), f"up.{level}.block.{b}", temb)
            if level in attention_levels:
                h = attn(h, f"up.{level}.attn.{b}")
        if level != 0:
            h = conv(F.interpolate(h, scale_factor=2.0, mode="nearest"), f"up.{level}.upsample.conv")
    return conv(swish(norm(h, "norm_out")), "conv_out")


def check_original(config, state, original, x, groups, levels, blocks, attention_levels):
    with torch.no_grad():
        for t in EPS_T:
            a = reference_eps(config, state, x, t)
            b = original_forward(original, groups, torch.from_numpy(x), t, levels, blocks,
                                 attention_levels).numpy()
            err = float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
            assert err < 1e-5, f"original layout mapping disagrees at t={t}: {err}"


# ---------------------------------------------------------------------------
# Writing


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def save_npy(path, array):
    np.save(path, np.ascontiguousarray(array, dtype="<f4"))


def with_metadata(state):
    """An OrderedDict like module.state_dict(): _metadata pickled by BUILD."""
    out = collections.OrderedDict(state)
    out._metadata = collections.OrderedDict([("", {"version": 1}), ("conv_in", {"version": 1})])
    return out


def save_legacy(obj, path):
    torch.save(obj, path, _use_new_zipfile_serialization=False)


def save_buffer(obj, path):
    """Saved through a file object: the archive folder is "archive"."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def strided_copy(state):
    """The same values, stored as strided views and views into one shared
    storage at offsets (torch.save keeps views as they are)."""
    out = collections.OrderedDict()
    biases = [name for name in state if name.endswith(".bias")]
    flat = torch.cat([state[name].flatten() for name in biases])
    offset = 0
    for name, value in state.items():
        if name in biases:
            n = value.numel()
            out[name] = flat[offset:offset + n].view(value.shape)
            offset += n
        elif value.ndim == 2:
            out[name] = value.t().contiguous().t()
        elif value.ndim == 4:
            out[name] = value.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
        else:
            out[name] = value.clone()
    assert any(not v.is_contiguous() for v in out.values())
    return out


def adam_state():
    """A real Adam state dict (int keys, floats, tuples, tensors)."""
    module = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(module.parameters(), lr=2e-4)
    module(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    return optimizer.state_dict()


def write_models(manifest):
    config = TINY_CONFIG
    state = random_state(UNet2DModel(config), 808)
    x = np.random.default_rng(5).standard_normal((2, 2, 8, 8)).astype(np.float32)

    st = os.path.join(OUT, "diffusers_st")
    os.makedirs(st)
    write_json(os.path.join(st, "config.json"), config)
    io_st.save_file({k: v.numpy() for k, v in state.items()},
                    os.path.join(st, "diffusion_pytorch_model.safetensors"), dtype="F32")
    save_npy(os.path.join(st, "x.npy"), x)
    eps_cases = []
    for t in EPS_T:
        save_npy(os.path.join(st, f"eps_t{t}.npy"), reference_eps(config, state, x, t))
        eps_cases.append({"timestep": t, "output": f"diffusers_st/eps_t{t}.npy"})

    # diffusers 0.1-era .bin: model.state_dict() (OrderedDict with
    # _metadata), old attention names, saved by path (root folder
    # "diffusion_pytorch_model").
    folder = os.path.join(OUT, "diffusers_bin")
    os.makedirs(folder)
    write_json(os.path.join(folder, "config.json"), config)
    old = io_st.rename_attention_keys(state, to_old=True)
    torch.save(with_metadata(old), os.path.join(folder, "diffusion_pytorch_model.bin"))

    # Sharded like current diffusers: plain dicts, one zip and one legacy shard.
    folder = os.path.join(OUT, "diffusers_sharded")
    os.makedirs(folder)
    write_json(os.path.join(folder, "config.json"), config)
    names = list(state)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, part in enumerate(shards):
        shard_name = f"diffusion_pytorch_model-{i + 1:05d}-of-{len(shards):05d}.bin"
        shard = {name: state[name].contiguous() for name in part}
        path = os.path.join(folder, shard_name)
        (torch.save if i == 0 else save_legacy)(shard, path)
        weight_map.update({name: shard_name for name in part})
    write_json(os.path.join(folder, "diffusion_pytorch_model.bin.index.json"),
               {"metadata": {"total_size": sum(v.numel() * 4 for v in state.values())},
                "weight_map": weight_map})

    # Single files beside one config.json.
    folder = os.path.join(OUT, "diffusers_files")
    os.makedirs(folder)
    write_json(os.path.join(folder, "config.json"), config)
    save_legacy(dict(state), os.path.join(folder, "legacy.bin"))
    save_buffer({k: v.half() for k, v in state.items()}, os.path.join(folder, "f16.pt"))
    save_buffer(strided_copy(state), os.path.join(folder, "strided.pt"))
    half_state = collections.OrderedDict((k, v.half().float()) for k, v in state.items())
    for t in EPS_T:
        save_npy(os.path.join(folder, f"eps_f16_t{t}.npy"), reference_eps(config, half_state, x, t))

    # The original DDPM layout of the same weights, config.json beside.
    levels = len(config["block_out_channels"])
    original = to_original(state, levels)
    check_original(config, state, original, x, config["norm_num_groups"], levels,
                   config["layers_per_block"], attention_levels={1})
    folder = os.path.join(OUT, "original")
    os.makedirs(folder)
    write_json(os.path.join(folder, "config.json"), config)
    torch.save(with_metadata(original), os.path.join(folder, "model.ckpt"))
    save_legacy(original, os.path.join(folder, "legacy.ckpt"))
    # ermongroup/ddim training checkpoint: [model (DataParallel: "module."),
    # optimizer, epoch, step, ema]; the model weights differ from the EMA
    # weights, which must be the ones used.
    damped = collections.OrderedDict(("module." + k, v * 0.5) for k, v in original.items())
    save_legacy([damped, adam_state(), 7, 1234, dict(original)], os.path.join(folder, "training.pth"))
    # Without EMA: [model, optimizer, epoch, step] gives the model weights.
    torch.save([collections.OrderedDict(("module." + k, v) for k, v in original.items()),
                adam_state(), 7, 1234], os.path.join(folder, "training_noema.pth"))

    # An original checkpoint with no config.json: the config is inferred.
    iconfig = INFERRED_CONFIG
    istate = random_state(UNet2DModel(iconfig), 909)
    istate = collections.OrderedDict((k, v.half().float()) for k, v in istate.items())
    ix = np.random.default_rng(6).standard_normal((2, 1, 16, 16)).astype(np.float32)
    ioriginal = to_original(istate, 1)
    check_original(iconfig, istate, ioriginal, ix, 32, 1, 1, attention_levels={0})
    folder = os.path.join(OUT, "inferred")
    os.makedirs(folder)
    save_legacy(collections.OrderedDict((k, v.half()) for k, v in ioriginal.items()),
                os.path.join(folder, "model.ckpt"))
    save_npy(os.path.join(folder, "x.npy"), ix)
    icases = []
    for t in EPS_T:
        save_npy(os.path.join(folder, f"eps_t{t}.npy"), reference_eps(iconfig, istate, ix, t))
        icases.append({"timestep": t, "output": f"inferred/eps_t{t}.npy"})

    manifest["tiny"] = {
        "config": config,
        "safetensors": "diffusers_st",
        "input": "diffusers_st/x.npy",
        "eps": eps_cases,
        "f16_eps": [{"timestep": t, "output": f"diffusers_files/eps_f16_t{t}.npy"} for t in EPS_T],
        "same_weights": [
            "diffusers_bin",
            "diffusers_sharded",
            "diffusers_sharded/diffusion_pytorch_model.bin.index.json",
            "diffusers_files/legacy.bin",
            "diffusers_files/strided.pt",
            "original/model.ckpt",
            "original/legacy.ckpt",
            "original/training.pth",
            "original/training_noema.pth",
        ],
        "f16": "diffusers_files/f16.pt",
    }
    manifest["inferred"] = {
        "model": "inferred/model.ckpt",
        "config": iconfig,
        "input": "inferred/x.npy",
        "eps": icases,
    }


# ---------------------------------------------------------------------------
# Hostile files


def pk_global(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def pk_str(text):
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def pk_int(value):
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)
    return b"J" + struct.pack("<i", value)


def pk_tuple(items):
    return b"(" + b"".join(items) + b"t"


PROTO2 = b"\x80\x02"
EMPTY_ODICT = pk_global("collections", "OrderedDict") + b")R"


def pk_tensor(key, numel, size, stride, offset=0, storage="FloatStorage"):
    pid = pk_tuple([pk_str("storage"), pk_global("torch", storage), pk_str(key), pk_str("cpu"),
                    pk_int(numel)])
    args = pk_tuple([pid + b"Q", pk_int(offset), pk_tuple([pk_int(s) for s in size]),
                     pk_tuple([pk_int(s) for s in stride]), b"\x89", EMPTY_ODICT])
    return pk_global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def state_pickle(entries):
    """{name: tensor pickle} as a plain dict."""
    body = b"".join(pk_str(name) + value for name, value in entries)
    return PROTO2 + b"}(" + body + b"u."


def zwrite(z, name, data, compression=zipfile.ZIP_STORED):
    """An entry with a fixed date, so the fixtures do not change per run."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = compression
    z.writestr(info, data)


def torch_zip(pickle_bytes, records=None, root="archive", compression=zipfile.ZIP_STORED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        zwrite(z, f"{root}/data.pkl", pickle_bytes, compression)
        for name, data in (records or {}).items():
            zwrite(z, f"{root}/{name}", data, compression)
        zwrite(z, f"{root}/version", b"3\n", compression)
    return buf.getvalue()


class Call:
    """An object whose pickle is a REDUCE of `func(*args)` (nothing runs)."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def legacy_with(obj_pickle, keys, storages):
    """Legacy layout around a hand-made object pickle."""
    out = io.BytesIO()
    import pickle
    pickle.dump(0x1950a86a20f9469cfc6c, out, protocol=2)
    pickle.dump(1001, out, protocol=2)
    pickle.dump({"protocol_version": 1001, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 8}}, out, protocol=2)
    out.write(obj_pickle)
    pickle.dump(keys, out, protocol=2)
    for numel, data in storages:
        out.write(struct.pack("<Q", numel) + data)
    return out.getvalue()


def patch_central_sizes(data, entry_suffix, new_size):
    """Set the central directory sizes of the entry whose name ends with
    entry_suffix (a zip bomb-like declaration)."""
    data = bytearray(data)
    at = data.rfind(b"PK\x05\x06")
    cd = struct.unpack_from("<I", data, at + 16)[0]
    p = cd
    while data[p:p + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<HHH", data, p + 28)
        name = bytes(data[p + 46:p + 46 + n])
        if name.endswith(entry_suffix.encode()):
            struct.pack_into("<II", data, p + 20, new_size, new_size)
        p += 46 + n + m + k
    return bytes(data)


def write_hostile(manifest):
    folder = os.path.join(OUT, "hostile")
    os.makedirs(folder)
    cases = []

    def add(name, data, expect, note):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        cases.append({"file": f"hostile/{name}", "expect": expect, "note": note})

    good = state_pickle([("w", pk_tensor("0", 4, [2, 2], [2, 1]))])
    good_records = {"data/0": struct.pack("<4f", 1, 2, 3, 4)}

    buf = io.BytesIO()
    torch.save(Call(os.system, (f"touch {MARKER}",)), buf)
    add("os_system.bin", buf.getvalue(), "imports posix.system",
        "torch.save of an object reducing to os.system (zip)")
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2), "x": Call(eval, (f"__import__('os').system('touch {MARKER}')",))}, buf)
    add("builtins_eval.bin", buf.getvalue(), "imports __builtin__.eval",
        "a state dict with one value reducing to builtins.eval (zip)")
    buf = io.BytesIO()
    torch.save(Call(os.system, (f"touch {MARKER}",)), buf, _use_new_zipfile_serialization=False)
    add("legacy_os_system.pt", buf.getvalue(), "imports posix.system",
        "legacy torch.save of an object reducing to os.system")
    add("stack_global.bin", torch_zip(b"\x80\x04" + b"\x8c\x02os\x8c\x06system\x93" + pk_tuple([pk_str("true")]) + b"R."),
        "imports os.system", "STACK_GLOBAL (protocol 4) of os.system")
    add("reduce_storage.bin",
        torch_zip(PROTO2 + pk_global("torch", "FloatStorage") + pk_tuple([pk_int(4)]) + b"R."),
        "REDUCE calls torch.FloatStorage", "REDUCE of an allowed global that is not callable")
    add("reduce_string.bin", torch_zip(PROTO2 + pk_str("os.system") + b")R."), "REDUCE calls a string",
        "REDUCE of a non-global")
    add("reduce_odict_args.bin",
        torch_zip(PROTO2 + pk_global("collections", "OrderedDict") + pk_tuple([b"]"]) + b"R."),
        "OrderedDict called with arguments", "OrderedDict(iterable)")
    add("inst.bin", torch_zip(PROTO2 + b"(" + b"ios\nsystem\n" + b"."), "opcode INST", "INST")
    add("obj.bin", torch_zip(PROTO2 + b"(" + pk_global("collections", "OrderedDict") + b"o."),
        "opcode OBJ", "OBJ on an allowed class")
    add("newobj.bin", torch_zip(PROTO2 + pk_global("collections", "OrderedDict") + b")\x81."),
        "opcode NEWOBJ", "NEWOBJ on an allowed class")
    add("ext1.bin", torch_zip(PROTO2 + b"\x82\x01."), "opcode EXT1", "EXT1 (copyreg registry)")
    add("proto6.bin", torch_zip(b"\x80\x06}."), "protocol 6", "PROTO 6")
    add("long4.bin", torch_zip(PROTO2 + b"\x8b\x04\x00\x00\x00\x01\x02\x03\x04."), "opcode LONG4",
        "LONG4")
    add("build_plain_dict.bin", torch_zip(PROTO2 + b"}}b."), "BUILD sets the state of a plain dict",
        "BUILD on a dict that is not an OrderedDict")
    add("build_global.bin",
        torch_zip(PROTO2 + pk_global("collections", "OrderedDict") + b"}" + pk_str("x") + pk_str("y") + b"sb."),
        "BUILD sets the state of a global", "BUILD patching an allowed global (modelscan #330)")
    add("setitem_list.bin", torch_zip(PROTO2 + b"]" + pk_str("a") + pk_str("b") + b"s."),
        "SETITEM on a list", "SETITEM on a list (CVE-2026-24747)")
    add("persid_module.bin",
        torch_zip(PROTO2 + pk_tuple([pk_str("module"), pk_str("x"), pk_str("y"), pk_str("z"),
                                     pk_int(1)]) + b"Q."),
        "not a ('storage', ...) tuple", "a persistent id other than a storage")
    add("rebuild_arity.bin",
        torch_zip(PROTO2 + pk_global("torch._utils", "_rebuild_tensor_v2") + pk_tuple([pk_int(1), pk_int(2)]) + b"R."),
        "_rebuild_tensor_v2 with 2 arguments", "_rebuild_tensor_v2 with the wrong arguments")
    add("storage_bigger_than_record.bin",
        torch_zip(state_pickle([("w", pk_tensor("0", 1000, [10, 100], [100, 1]))]), good_records),
        "declares 1000 F32 elements", "a storage declaring more elements than its record holds")
    add("tensor_past_storage.bin",
        torch_zip(state_pickle([("w", pk_tensor("0", 4, [2, 2], [2, 1], offset=2))]), good_records),
        "reaches element 5", "a tensor extending past its storage")
    add("tensor_overflow.bin",
        torch_zip(state_pickle([("w", pk_global("torch._utils", "_rebuild_tensor_v2")
                                 + pk_tuple([pk_tuple([pk_str("storage"), pk_global("torch", "FloatStorage"),
                                                       pk_str("0"), pk_str("cpu"), pk_int(4)]) + b"Q",
                                             pk_int(0),
                                             pk_tuple([b"\x8a\x08" + struct.pack("<q", 1 << 62)] * 2),
                                             pk_tuple([pk_int(1), pk_int(1)]), b"\x89", EMPTY_ODICT]) + b"R")]),
                  good_records),
        "size overflows", "a tensor whose element count overflows")
    add("memo_undefined.bin", torch_zip(PROTO2 + b"]r\xff\xff\xff\xff" + b"j\xfe\xff\xff\xff."),
        "memo entry 4294967294 is not defined", "a huge memo index, then an undefined one")
    add("deep_marks.bin", torch_zip(PROTO2 + b"(" * 70000 + b"."), "nested MARKs",
        "70000 nested MARKs")
    deep = PROTO2 + b"]q\x000" + b"]h\x00aq\x000" * 10000 + b"h\x00."
    add("deep_list.bin", torch_zip(deep), "holds no state dict",
        "a list nested 10000 deep (no recursion may follow it)")
    add("stack_underflow.bin", torch_zip(PROTO2 + b"(R."), "stack underflow", "REDUCE across a MARK")
    add("no_stop.bin", torch_zip(PROTO2 + b"}"), "without STOP", "a pickle with no STOP")
    valid = torch_zip(good, good_records)
    add("truncated.bin", valid[: len(valid) // 2], "end-of-central-directory", "a zip cut in half")
    add("zip_bomb_size.bin", patch_central_sizes(valid, "data/0", 0x7FFFFFF0), "past the end",
        "a central directory entry declaring 2 GiB")
    add("zip_overlap.bin", patch_central_sizes(valid, "data.pkl", len(good) + 10), "overlap",
        "an entry declared to run into the next one")
    add("deflated.bin", torch_zip(good, good_records, compression=zipfile.ZIP_DEFLATED), "compressed",
        "deflated entries")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        zwrite(z, "archive/data.pkl", good)
        zwrite(z, "other/data/0", good_records["data/0"])
    add("outside_root.bin", buf.getvalue(), "outside the archive folder", "an entry outside the root folder")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        zwrite(z, "archive/../../etc/data.pkl", good)
    add("dotdot.bin", buf.getvalue(), "unsafe name", "a name with ..")
    add("torchscript.pt", torch_zip(good, dict(good_records, **{"constants.pkl": PROTO2 + b").", "code/x.py": b""})),
        "TorchScript", "a torch.jit.save archive")
    add("byteorder_big.bin", torch_zip(good, dict(good_records, byteorder=b"big")), "big-endian",
        "big-endian tensor data")
    # The legacy persistent id has a sixth item, the view metadata (None).
    legacy_pid_state = PROTO2 + b"}(" + pk_str("w") + pk_global("torch._utils", "_rebuild_tensor_v2") + pk_tuple([
        pk_tuple([pk_str("storage"), pk_global("torch", "FloatStorage"), pk_str("0"), pk_str("cpu"), pk_int(4), b"N"]) + b"Q",
        pk_int(0), pk_tuple([pk_int(2), pk_int(2)]), pk_tuple([pk_int(2), pk_int(1)]), b"\x89", EMPTY_ODICT]) + b"Ru."
    add("legacy_storage_mismatch.pt",
        legacy_with(legacy_pid_state, ["0"], [(5, struct.pack("<5f", 1, 2, 3, 4, 5))]),
        "declares 4 elements but its record holds 5", "a legacy storage whose header disagrees")
    good_legacy = legacy_with(legacy_pid_state, ["0"], [(4, struct.pack("<4f", 1, 2, 3, 4))])
    add("legacy_truncated.pt", good_legacy[:-6], "truncated", "a legacy file cut short")
    add("legacy_view.pt",
        legacy_with(legacy_pid_state.replace(pk_int(4) + b"N", pk_int(4) + pk_tuple([pk_str("0"), pk_int(0), pk_int(4)])),
                    ["0"], [(4, struct.pack("<4f", 1, 2, 3, 4))]),
        "storage view", "a legacy storage view")
    add("empty.bin", b"", "neither safetensors nor a PyTorch checkpoint", "an empty file")
    add("garbage_zip.bin", b"PK\x03\x04" + bytes(range(256)) * 4, "end-of-central-directory",
        "zip magic followed by garbage")
    write_json(os.path.join(folder, "escape.bin.index.json"),
               {"weight_map": {"w": "../diffusers_files/legacy.bin"}})
    cases.append({"file": "hostile/escape.bin.index.json", "expect": "something other than a file name",
                  "note": "a shard index naming a file outside its folder"})
    manifest["hostile"] = cases
    manifest["marker"] = MARKER
    # The same list for shell tests: file, tab, expected part of the message.
    with open(os.path.join(OUT, "hostile.tsv"), "w") as f:
        for c in cases:
            f.write(f"{c['file']}\t{c['expect']}\n")
    return [os.path.join(OUT, c["file"]) for c in cases]


def small_checkpoints():
    """Valid checkpoints of a few small tensors, one per container shape,
    for the fuzz seed corpus (the model fixtures are too large to mutate
    efficiently)."""
    rng = np.random.default_rng(3)

    def t(*shape):
        return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))

    flat = t(10)
    state = with_metadata(collections.OrderedDict(
        [("conv_in.weight", t(2, 1, 3, 3)), ("conv_in.bias", flat[2:4]), ("norm.weight", t(2).half()),
         ("t.weight", t(3, 2).t()), ("scalar", torch.tensor(1.5))]))
    original = collections.OrderedDict([("temb.dense.0.weight", t(4, 2)), ("down.0.block.0.conv1.bias", t(2)),
                                        ("mid.attn_1.q.weight", t(2, 2, 1, 1))])
    seeds = {}
    for name, obj in (("state", state), ("original", original),
                      ("training", [collections.OrderedDict(("module." + k, v) for k, v in original.items()),
                                    adam_state(), 1, 2, dict(original)]),
                      ("lightning", {"epoch": 1, "state_dict": dict(original)}),
                      ("parameter", {"p": torch.nn.Parameter(t(2))})):
        buf = io.BytesIO()
        torch.save(obj, buf)
        seeds[name + ".zip"] = buf.getvalue()
        buf = io.BytesIO()
        torch.save(obj, buf, _use_new_zipfile_serialization=False)
        seeds[name + ".legacy"] = buf.getvalue()
        buf = io.BytesIO()
        torch.save(obj, buf, pickle_protocol=4)
        seeds[name + ".proto4.zip"] = buf.getvalue()
    return seeds


def write_fuzz_seeds(hostile_files):
    """Seeds: small valid checkpoints and the hostile files; their data.pkl
    pickles for the pickle target."""
    for target in ("torch-checkpoint", "pickle"):
        path = os.path.join(FUZZ, target)
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if not name.startswith("regression-"):  # inputs that once crashed stay
                os.unlink(os.path.join(path, name))
    seeds = small_checkpoints()
    for path in hostile_files:
        with open(path, "rb") as f:
            data = f.read()
        if len(data) <= 16384 and not path.endswith(".json"):
            seeds["hostile_" + os.path.basename(path)] = data
    for name, data in sorted(seeds.items()):
        with open(os.path.join(FUZZ, "torch-checkpoint", name), "wb") as f:
            f.write(data)
        if data[:4] != b"PK\x03\x04":
            continue
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for info in z.infolist():
                    if info.filename.endswith("data.pkl"):
                        with open(os.path.join(FUZZ, "pickle", name + ".pkl"), "wb") as f:
                            f.write(z.read(info))
        except (zipfile.BadZipFile, NotImplementedError, OSError, zlib_error()):
            pass


def zlib_error():
    import zlib
    return zlib.error


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    if os.path.exists(MARKER):
        os.unlink(MARKER)
    manifest = {}
    write_models(manifest)
    hostile = write_hostile(manifest)
    write_json(os.path.join(OUT, "manifest.json"), manifest)
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(README)
        f.write("| file | expected message | what |\n|---|---|---|\n")
        for c in manifest["hostile"]:
            f.write(f"| `{c['file']}` | {c['expect']} | {c['note']} |\n")
    write_fuzz_seeds(hostile)
    assert not os.path.exists(MARKER), "writing the fixtures ran a payload"
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"wrote {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
