#!/usr/bin/env python3
"""make_malformed.py — writes the malformed-input corpus and the fuzz seeds.

  python3 tools/make_malformed.py        (standard library only; deterministic)

tests/malformed/
  base/            a small valid UNet2DModel folder (1 channel, 8x8, 2 levels,
                   block_out_channels [2, 4], random float32 weights); the
                   test first checks that it loads and samples
  CASE/            one model folder (or file) per way of being broken, each a
                   copy of base/ with one thing wrong
  inputs/          latents (.npy) that `ddim generate base --xt` must refuse
  cases.tsv        case <TAB> model <TAB> extra generate arguments <TAB>
                   expected message (grep -E) — read by tests/test-malformed.sh

tests/fuzz/{safetensors,unet-config,noise-schedule,npy,png,latent}/
                   small seeds for the libFuzzer targets in fuzz/

Every file is small (the largest is the base weights, about 10 KB).
"""
import json
import os
import random
import shutil
import struct
import sys
import zipfile
import io
import zlib

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "malformed")
FUZZ = os.path.join(ROOT, "tests", "fuzz")
TEMPLATE = os.path.join(ROOT, "tests", "fixtures", "tiny_sample",
                        "diffusion_pytorch_model.safetensors")

BASE_CONFIG = {
    "_class_name": "UNet2DModel",
    "act_fn": "silu",
    "add_attention": False,
    "block_out_channels": [2, 4],
    "down_block_types": ["DownBlock2D", "DownBlock2D"],
    "in_channels": 1,
    "layers_per_block": 1,
    "norm_num_groups": 2,
    "out_channels": 1,
    "sample_size": 8,
    "up_block_types": ["UpBlock2D", "UpBlock2D"],
}
BASE_SCHEDULER = {
    "_class_name": "DDIMScheduler",
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "beta_start": 0.0001,
    "clip_sample": True,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "set_alpha_to_one": True,
    "steps_offset": 0,
}
WEIGHTS = "diffusion_pytorch_model.safetensors"


# ---- safetensors ------------------------------------------------------------

def base_tensors():
    """Names and shapes of the tiny_sample fixture (block_out_channels [8, 16])
    scaled to [2, 4]: every channel-like dimension (8, 16, 24, 32) divided by 4."""
    data = open(TEMPLATE, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    tensors = []
    for name in sorted(header):
        if name == "__metadata__":
            continue
        shape = [d // 4 if d in (8, 16, 24, 32) else d for d in header[name]["shape"]]
        tensors.append((name, shape))
    return tensors


def tensor_bytes(shape, rng, dtype="F32"):
    count = 1
    for d in shape:
        count *= d
    values = [rng.gauss(0.0, 0.2) for _ in range(count)]
    if dtype == "F16":
        return struct.pack("<%de" % count, *values)
    return struct.pack("<%df" % count, *values)


def safetensors(entries, pad=True):
    """entries: (name, dtype, shape, bytes).  Offsets tile the buffer."""
    header, buffer, offset = {}, b"", 0
    for name, dtype, shape, payload in entries:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(payload)]}
        buffer += payload
        offset += len(payload)
    return raw_safetensors(json.dumps(header, separators=(",", ":")).encode(), buffer, pad)


def raw_safetensors(header_bytes, buffer, pad=True):
    if pad:
        header_bytes += b" " * (-len(header_bytes) % 8)
    return struct.pack("<Q", len(header_bytes)) + header_bytes + buffer


def base_entries(dtype="F32"):
    rng = random.Random(6)
    return [(name, dtype, shape, tensor_bytes(shape, rng, dtype)) for name, shape in base_tensors()]


# ---- npy, latent, png ---------------------------------------------------------

def npy(shape, values=None, descr="<f4", version=1, fortran=False):
    count = 1
    for d in shape:
        count *= d
    if values is None:
        rng = random.Random(count)
        values = [rng.gauss(0.0, 1.0) for _ in range(count)]
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, "True" if fortran else "False", shape_text)
    prefix = 10 if version == 1 else 12
    header += " " * (-(prefix + len(header) + 1) % 64) + "\n"
    length = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    fmt = "<%d%s" % (len(values), "d" if descr == "<f8" else "f")
    return b"\x93NUMPY" + bytes([version, 0]) + length + header.encode() + struct.pack(fmt, *values)


def latent(shape, identity="0123456789abcdef0123456789abcdef", steps=10, schedule=0,
           strength=1.0, values=None):
    n, c, h, w = shape
    count = n * c * h * w
    if values is None:
        rng = random.Random(count)
        values = [rng.gauss(0.0, 1.0) for _ in range(count)]
    ident = identity.encode()[:32].ljust(32, b"\0")
    return (b"DDIMLAT\0" + struct.pack("<I", 1) + ident + struct.pack("<II", steps, schedule) +
            struct.pack("<d", strength) + struct.pack("<IIII", n, c, h, w) +
            struct.pack("<%df" % count, *values))


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def png(width, height, color_type, bit_depth, rows, interlace=0, extra=()):
    """rows: the raw scanlines without filter bytes (filter 0 is added)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    raw = b"".join(b"\0" + row for row in rows)
    chunks = [png_chunk(b"IHDR", ihdr)] + [png_chunk(k, d) for k, d in extra]
    chunks.append(png_chunk(b"IDAT", zlib.compress(raw, 9)))
    chunks.append(png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def torch_zip(pickle_bytes):
    """A torch.save zip archive holding only data.pkl (fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in (("archive/data.pkl", pickle_bytes), ("archive/version", b"3\n")):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


# ---- writing ------------------------------------------------------------------

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def write_json(path, value):
    write(path, json.dumps(value, indent=1, sort_keys=True) + "\n")


CASES = []  # (name, model, generate arguments, pattern)


def case(name, pattern, config=BASE_CONFIG, scheduler=BASE_SCHEDULER, weights=None,
         files=None, model=None, args=""):
    """A model folder tests/malformed/NAME with the base files, some replaced.
    config/scheduler: a dict, raw bytes/str, or None (no file); weights: bytes
    or None (no file); files: more {relative name: bytes}."""
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    for file_name, value in (("config.json", config), ("scheduler_config.json", scheduler)):
        if isinstance(value, dict):
            write_json(os.path.join(folder, file_name), value)
        elif value is not None:
            write(os.path.join(folder, file_name), value)
    if weights is not None:
        write(os.path.join(folder, WEIGHTS), weights)
    for file_name, data in (files or {}).items():
        write(os.path.join(folder, file_name), data)
    CASES.append((name, model or name, args, pattern))


def with_config(**changes):
    config = dict(BASE_CONFIG)
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def with_scheduler(**changes):
    scheduler = dict(BASE_SCHEDULER)
    scheduler.update(changes)
    return scheduler


def json_text(value, **raw):
    """value as json.dumps writes it (indent 1, sorted keys), then each string
    "@NAME@" replaced by raw text NAME=... (what json.dumps cannot write:
    -0, 1e400, integers past 64 bits, escapes)."""
    text = json.dumps(value, indent=1, sort_keys=True) + "\n"
    for name, replacement in raw.items():
        marker = '"@%s@"' % name
        assert marker in text, marker
        text = text.replace(marker, replacement)
    return text


def edited(text, old, new):
    """text with the first `old` replaced by `new` (which must be there)."""
    assert old in text, old
    return text.replace(old, new, 1)


def json_class_cases(entries, good):
    """The classes of the strict JSON reader (core/formats/json-util.c) in
    config.json, scheduler_config.json and safetensors headers: what
    json-glib accepted and Python's json or the safetensors crate refuse,
    duplicate keys (an object replaced by a later one: json-glib freed it
    while the old duplicate check still read it), \\u0000 in keys and
    strings, integers past 64 bits (json-glib wrapped them into small valid
    numbers), -0 and 1.0 where an integer is needed, 1e400."""
    config = json_text(BASE_CONFIG)
    for name, pattern, text in [
            ("config-comment", "not valid JSON: a comment",
             edited(config, "{\n", "{\n // written by hand\n")),
            ("config-single-quotes", "a single-quoted string",
             edited(config, '"act_fn": "silu"', "'act_fn': 'silu'")),
            ("config-hex-number", "a hexadecimal number",
             edited(config, '"in_channels": 1', '"in_channels": 0x1')),
            ("config-leading-zero", "a number with a leading zero",
             edited(config, '"sample_size": 8', '"sample_size": 08')),
            ("config-byte-order-mark", "a byte-order mark", "\ufeff" + config),
            ("config-trailing-comma", "a comma before '}'", edited(config, "\n}", ",\n}")),
            ("config-duplicate-object", "\"a\" appears twice in one object",
             edited(config, "{\n", '{\n "x": {"a": {"b": 1}, "a": {"c": 2}},\n')),
            ("config-duplicate-depth-3", "\"k\" appears twice in one object",
             edited(config, "{\n", '{\n "x": [{"y": {"k": {}, "k": []}}],\n')),
            ("config-nul-in-value", "\"act_fn\" holds an escaped NUL",
             edited(config, '"act_fn": "silu"', '"act_fn": "silu\\u0000x"')),
            ("config-nul-in-key", "a key holds an escaped NUL",
             edited(config, '"in_channels": 1', '"in_channels\\u0000x": 1')),
            ("config-sample-size-wrapped", "\"sample_size\" is -18446744073709551608, outside",
             json_text(with_config(sample_size="@V@"), V="-18446744073709551608")),
            ("config-sample-size-2e64", "\"sample_size\" is 18446744073709551616, outside",
             json_text(with_config(sample_size="@V@"), V="18446744073709551616")),
            ("config-channels-wrapped",
             "an entry of \"block_out_channels\" is 18446744073709551620, outside",
             json_text(with_config(block_out_channels=[2, "@V@"]), V="18446744073709551620")),
            ("config-in-channels-minus-zero", "\"in_channels\" must be an integer, not -0.0",
             json_text(with_config(in_channels="@V@"), V="-0")),
            ("config-in-channels-one-point-zero", "\"in_channels\" must be an integer, not 1.0",
             json_text(with_config(in_channels="@V@"), V="1.0")),
            ("config-norm-eps-1e400", "\"norm_eps\" is 1e400, too large",
             json_text(with_config(norm_eps="@V@"), V="1e400")),
    ]:
        case(name, pattern, config=text, weights=good)

    scheduler = json_text(BASE_SCHEDULER)
    # 2**64 - 18446744073709550616 = 1000: json-glib read the default back.
    for name, pattern, text in [
            ("scheduler-comment", "not valid JSON: a comment",
             edited(scheduler, '"clip_sample": true', '"clip_sample": true /* why not */')),
            ("scheduler-trailing-comma", "a comma before '}'", edited(scheduler, "\n}", ",\n}")),
            ("scheduler-nan", "NaN \\(JSON numbers are finite\\)",
             json_text(with_scheduler(beta_end="@V@"), V="NaN")),
            ("scheduler-timesteps-wrapped",
             "\"num_train_timesteps\" is -18446744073709550616, outside",
             json_text(with_scheduler(num_train_timesteps="@V@"), V="-18446744073709550616")),
            ("scheduler-timesteps-2e64", "\"num_train_timesteps\" is 18446744073709552616, outside",
             json_text(with_scheduler(num_train_timesteps="@V@"), V="18446744073709552616")),
            ("scheduler-steps-offset-minus-zero", "\"steps_offset\" must be an integer, not -0.0",
             json_text(with_scheduler(steps_offset="@V@"), V="-0")),
            ("scheduler-duplicate-object", "\"a\" appears twice in one object",
             edited(scheduler, "{\n", '{\n "x": {"a": {"b": 1}, "a": {"c": 2}},\n')),
            ("scheduler-prediction-nul", "\"prediction_type\" holds an escaped NUL",
             edited(scheduler, '"epsilon"', '"epsilon\\u0000x"')),
    ]:
        case(name, pattern, scheduler=text, weights=good)

    # Headers: the base weights' header, as text, with one thing changed.
    header, offset = {}, 0
    for name, dtype, shape, payload in entries:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + len(payload)]}
        offset += len(payload)
    buffer = b"".join(e[3] for e in entries)
    first, _, first_shape, first_payload = entries[0]

    def weights(text):
        return raw_safetensors(text.encode(), buffer)

    def with_first(field, value):
        h = json.loads(json.dumps(header))
        h[first][field] = value
        return h
    text = json.dumps(header)
    wrapped_dim = "-%d" % (2**64 - first_shape[0])           # read as first_shape[0]
    wrapped_end = "%d" % (2**64 + len(first_payload))        # read as the right end
    for name, pattern, data in [
            ("weights-dtype-nul", "\"dtype\" holds an escaped NUL",
             weights(edited(text, '"dtype": "F32"', '"dtype": "F32\\u0000"'))),
            ("weights-name-nul", "a key holds an escaped NUL",
             weights(edited(text, '"%s"' % first, '"%s\\u0000.copy"' % first))),
            ("weights-shape-wrapped", "an entry of \"shape\" is %s, outside" % wrapped_dim,
             weights(json.dumps(with_first("shape", ["@V@"] + first_shape[1:]))
                     .replace('"@V@"', wrapped_dim))),
            ("weights-offsets-wrapped", "an entry of \"data_offsets\" is %s, outside" % wrapped_end,
             weights(json.dumps(with_first("data_offsets", [0, "@V@"]))
                     .replace('"@V@"', wrapped_end))),
            ("weights-shape-minus-zero", "not a count",
             weights(json.dumps(with_first("shape", ["@V@"] + first_shape[1:]))
                     .replace('"@V@"', "-0"))),
            ("weights-duplicate-dtype", "\"dtype\" appears twice",
             weights(edited(text, '"dtype": "F32"', '"dtype": "F32", "dtype": "F16"'))),
            ("weights-duplicate-metadata-depth-3", "\"k\" appears twice",
             weights(edited(text, "{", '{"__metadata__": {"x": {"k": "1", "k": "2"}}, '))),
            ("weights-header-comment", "not valid JSON: a comment",
             weights(edited(text, "{", "{/* weights */"))),
            ("weights-header-single-quotes", "a single-quoted string",
             weights(edited(text, '"dtype": "F32"', "'dtype': 'F32'"))),
            ("weights-header-hex", "a hexadecimal number",
             weights(json.dumps(with_first("shape", ["@V@"] + first_shape[1:]))
                     .replace('"@V@"', hex(first_shape[0])))),
            ("weights-header-leading-zero", "a number with a leading zero",
             weights(json.dumps(with_first("shape", ["@V@"] + first_shape[1:]))
                     .replace('"@V@"', "0%d" % first_shape[0]))),
            ("weights-header-trailing-comma", "a comma before '}'",
             weights(text[:-1] + ", }")),
            ("weights-header-nan", "NaN \\(JSON numbers are finite\\)",
             weights(json.dumps(with_first("shape", ["@V@"] + first_shape[1:]))
                     .replace('"@V@"', "NaN"))),
    ]:
        case(name, pattern, weights=data)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    entries = base_entries()
    good = safetensors(entries)

    # The valid model every case is a broken copy of.
    folder = os.path.join(OUT, "base")
    write_json(os.path.join(folder, "config.json"), BASE_CONFIG)
    write_json(os.path.join(folder, "scheduler_config.json"), BASE_SCHEDULER)
    write(os.path.join(folder, WEIGHTS), good)

    # -- the safetensors file --
    case("weights-empty", "the file is empty", weights=b"")
    case("weights-truncated-data", "truncated|ends at byte", weights=good[:len(good) * 2 // 3])
    case("weights-truncated-header", "larger than the rest of the file", weights=good[:200])
    case("weights-header-length-zero", "header length is zero", weights=b"\0" * 8 + good[8:])
    case("weights-header-length-100mb", "the limit is 16777216 bytes",
         weights=struct.pack("<Q", 100_000_001) + good[8:])
    case("weights-header-length-2e64", "the limit is 16777216 bytes",
         weights=b"\xff" * 8 + good[8:])
    case("weights-header-not-json", "header: not valid JSON|does not start with",
         weights=raw_safetensors(b"{this is not json}", b""))
    case("weights-header-not-utf8", "not UTF-8",
         weights=raw_safetensors(b'{"\xff\xfe":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                                 b"\0" * 4))
    case("weights-header-array", "neither safetensors nor a PyTorch checkpoint",
         weights=raw_safetensors(b"[1, 2, 3]", b""))
    case("weights-header-deep", "nested more than",
         weights=raw_safetensors(b'{"a":' + b"[" * 1000 + b"]" * 1000 + b"}", b""))
    case("weights-header-trailing", "text follows the JSON value",
         weights=raw_safetensors(b'{} {"x": 1}', b""))
    # Offsets: overlapping, outside the file, reversed, a gap.
    header = {n: {"dtype": d, "shape": s, "data_offsets": [0, 0]} for n, d, s, _ in entries}
    offset = 0
    for name, _, _, payload in entries:
        header[name]["data_offsets"] = [offset, offset + len(payload)]
        offset += len(payload)
    buffer = b"".join(e[3] for e in entries)
    first, second = entries[0][0], entries[1][0]

    def retiled(change):
        h = json.loads(json.dumps(header))
        change(h)
        return raw_safetensors(json.dumps(h).encode(), buffer)

    def overlap(h):
        h[second]["data_offsets"] = [h[second]["data_offsets"][0] - 4,
                                     h[second]["data_offsets"][1] - 4]
    case("weights-offsets-overlap", "overlaps|holds", weights=retiled(overlap))

    def outside(h):
        last = entries[-1][0]
        h[last]["data_offsets"] = [h[last]["data_offsets"][0] + 1 << 40,
                                   (h[last]["data_offsets"][0] + 1 << 40) + len(entries[-1][3])]
    case("weights-offsets-outside", "ends at byte|gap", weights=retiled(outside))

    def reversed_offsets(h):
        h[first]["data_offsets"] = h[first]["data_offsets"][::-1]
    case("weights-offsets-reversed", "invalid data_offsets", weights=retiled(reversed_offsets))

    def negative_offsets(h):
        h[first]["data_offsets"] = [-4, h[first]["data_offsets"][1] - 4]
    case("weights-offsets-negative", "invalid data_offsets", weights=retiled(negative_offsets))

    def gap(h):
        h[first]["data_offsets"] = [4, h[first]["data_offsets"][1] + 4]
    case("weights-offsets-gap", "gap|overlaps|holds", weights=retiled(gap))

    def unknown_dtype(h):
        h[first]["dtype"] = "F12"
    case("weights-unknown-dtype", "unknown dtype", weights=retiled(unknown_dtype))

    def int_dtype(h):
        h[first]["dtype"] = "I32"
    case("weights-int32-dtype", "only F32, F16 and BF16", weights=retiled(int_dtype))

    def byte_count(h):
        h[first]["shape"] = h[first]["shape"] + [2]
    case("weights-bytes-not-matching-shape", "holds [0-9]+ bytes but", weights=retiled(byte_count))

    def huge_shape(h):
        h[first]["shape"] = [2**62, 2**62]
    case("weights-shape-overflow", "overflows|too large", weights=retiled(huge_shape))

    def negative_shape(h):
        h[first]["shape"] = [-2] + h[first]["shape"][1:]
    case("weights-shape-negative", "not a count", weights=retiled(negative_shape))

    def zero_dim(h):
        h[first]["shape"] = [0]
    case("weights-zero-sized-dim", "holds [0-9]+ bytes but|has shape", weights=retiled(zero_dim))

    def shape_string(h):
        h[first]["shape"] = "2"
    case("weights-shape-not-list", "no shape array", weights=retiled(shape_string))

    dup = (b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
           b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}')
    case("weights-duplicate-name", "appears twice", weights=raw_safetensors(dup, b"\0" * 8))
    case("weights-name-newline", "extra.*x0a.*not part of the network",
         weights=safetensors(entries + [("extra\nweight\x1b[2J", "F32", [1], b"\0" * 4)]))
    case("weights-tensor-missing", "is missing",
         weights=safetensors([e for e in entries if e[0] != "conv_out.weight"]))
    case("weights-tensor-wrong-shape", "has shape .* the config needs",
         weights=safetensors([(n, d, [s[0] * 2] + s[1:] if n == "conv_in.weight" else s,
                               p * 2 if n == "conv_in.weight" else p) for n, d, s, p in entries]))
    case("weights-unexpected-tensor", "not part of the network",
         weights=safetensors(entries + [("extra.weight", "F32", [1], b"\0" * 4)]))
    nan = [(n, d, s, (struct.pack("<f", float("nan")) + p[4:]) if n == "conv_in.weight" else p)
           for n, d, s, p in entries]
    case("weights-nan", "NaN or infinite", weights=safetensors(nan))
    half = base_entries("F16")
    half_inf = [(n, d, s, (b"\x00\x7c" + p[2:]) if n == "conv_out.weight" else p)
                for n, d, s, p in half]
    case("weights-f16-inf", "NaN or infinite", weights=safetensors(half_inf))
    case("weights-not-safetensors", "neither safetensors nor a PyTorch checkpoint",
         weights=b"GIF89a" + b"\0" * 100)
    case("weights-missing", "no diffusion_pytorch_model", weights=None)
    # PyTorch .bin (pickle) files whose objects contain themselves, and a
    # pickle that pushes more than the unpickler's stack allows.
    memo0 = struct.pack("<I", 0)
    case("weights-bin-list-contains-itself", "holds no state dict", weights=None,
         files={"diffusion_pytorch_model.bin": torch_zip(b"\x80\x02]r" + memo0 + b"j" + memo0 +
                                                         b"a.")})
    case("weights-bin-dict-contains-itself", "holds no state dict", weights=None,
         files={"diffusion_pytorch_model.bin": torch_zip(b"\x80\x02}r" + memo0 +
                                                         b"X\x05\x00\x00\x00modelj" + memo0 +
                                                         b"s.")})
    case("weights-bin-stack-overflow", "stack grows past", weights=None,
         files={"diffusion_pytorch_model.bin": torch_zip(b"\x80\x02" + b"]" * 70000 + b".")})

    # -- config.json --
    case("config-missing", "not a model folder", config=None, weights=good)
    case("config-empty", "not valid JSON|not an object|empty", config="", weights=good)
    case("config-not-json", "not valid JSON", config="{\"in_channels\": 1,,}", weights=good)
    case("config-not-object", "not an object", config="[1, 2]", weights=good)
    case("config-not-utf8", "not a text file", config=b'{"_class_name": "UNet\xff"}',
         weights=good)
    case("config-nul-byte", "not a text file", config=b'{"in_channels": 1}\0{"x": 2}',
         weights=good)
    case("config-trailing", "text follows", config='{"in_channels": 1} {"in_channels": 3}',
         weights=good)
    case("config-deep", "nested more than",
         config='{"a": ' + "[" * 1000 + "]" * 1000 + "}", weights=good)
    case("config-duplicate-key", "appears twice",
         config='{"in_channels": 1, "in_channels": 3}', weights=good)
    case("config-unknown-block", "DownBlock3D.*not supported",
         config=with_config(down_block_types=["DownBlock2D", "DownBlock3D"]), weights=good)
    case("config-cross-attention-block", "not supported",
         config=with_config(down_block_types=["DownBlock2D", "CrossAttnDownBlock2D"]),
         weights=good)
    case("config-block-not-string", "must be a list of block names",
         config=with_config(down_block_types=["DownBlock2D", 7]), weights=good)
    case("config-channels-1e9", "out of the supported range",
         config=with_config(block_out_channels=[2, 1_000_000_000]), weights=good)
    case("config-channels-negative", "out of the supported range",
         config=with_config(block_out_channels=[-2, 4]), weights=good)
    case("config-channels-float", "must be a list of integers",
         config=with_config(block_out_channels=[2.5, 4]), weights=good)
    case("config-layers-1000", "layers_per_block.*supported values",
         config=with_config(layers_per_block=1000), weights=good)
    case("config-layers-negative", "layers_per_block.*supported values",
         config=with_config(layers_per_block=-1), weights=good)
    case("config-sample-size-1e9", "sample_size.*supported values",
         config=with_config(sample_size=1_000_000_000), weights=good)
    case("config-in-channels-1e9", "in_channels.*supported values",
         config=with_config(in_channels=1_000_000_000), weights=good)
    case("config-in-channels-string", "in_channels.*must be an integer",
         config=with_config(in_channels="one"), weights=good)
    case("config-in-channels-huge-number", "in_channels.*too large for a 64-bit float",
         config='{"in_channels": 1e999}', weights=good)
    case("config-nan-literal", "not valid JSON", config='{"norm_eps": NaN}', weights=good)
    case("config-norm-eps-zero", "norm_eps", config=with_config(norm_eps=0), weights=good)
    case("config-block-count-mismatch", "same length",
         config=with_config(block_out_channels=[2, 4, 4]), weights=good)
    case("config-too-many-blocks", "entries; 1 to",
         config=with_config(block_out_channels=[2] * 9, down_block_types=["DownBlock2D"] * 9,
                            up_block_types=["UpBlock2D"] * 9), weights=good)
    case("config-no-blocks", "entries; 1 to",
         config=with_config(block_out_channels=[], down_block_types=[], up_block_types=[]),
         weights=good)
    case("config-groups-not-dividing", "groups do not divide",
         config=with_config(norm_num_groups=3), weights=good)
    case("config-wrong-class", "_class_name.*not supported",
         config=with_config(_class_name="UNet2DConditionModel"), weights=good)
    # Text quoted into the message must not break it into lines or drive the terminal.
    case("config-control-characters", "act_fn.*x0a",
         config=with_config(act_fn="evil\n\x1b[31mred" + "x" * 5000), weights=good)
    case("config-is-directory", "not a model folder", config=None, weights=good,
         files={"config.json/README": b"a folder named config.json\n"})

    # -- scheduler_config.json --
    case("scheduler-not-json", "not valid JSON", scheduler="{num_train_timesteps: 1000}",
         weights=good)
    case("scheduler-timesteps-0", "num_train_timesteps.*supported values",
         scheduler=with_scheduler(num_train_timesteps=0), weights=good)
    case("scheduler-timesteps-1e9", "num_train_timesteps.*supported values",
         scheduler=with_scheduler(num_train_timesteps=1_000_000_000), weights=good)
    case("scheduler-beta-end-below-start", "beta_end.*smaller than",
         scheduler=with_scheduler(beta_start=0.02, beta_end=0.0001), weights=good)
    case("scheduler-beta-negative", "beta_start.*supported values",
         scheduler=with_scheduler(beta_start=-0.1), weights=good)
    case("scheduler-beta-zero", "outside \\(0, 1\\)",
         scheduler=with_scheduler(beta_start=0.0), weights=good)
    case("scheduler-alpha-bar-underflow", "alpha_bar reaches 0",
         scheduler=with_scheduler(num_train_timesteps=100000, beta_end=0.5), weights=good)
    case("scheduler-trained-betas-wrong-length", "trained_betas.*num_train_timesteps",
         scheduler=with_scheduler(trained_betas=[0.001] * 10), weights=good)
    case("scheduler-trained-betas-one", "outside \\(0, 1\\)",
         scheduler=with_scheduler(num_train_timesteps=3, trained_betas=[0.1, 0.5, 1.0]),
         weights=good)
    case("scheduler-trained-betas-strings", "must hold numbers",
         scheduler=with_scheduler(num_train_timesteps=2, trained_betas=["a", "b"]), weights=good)
    case("scheduler-unknown-schedule", "beta_schedule.*not supported",
         scheduler=with_scheduler(beta_schedule="exponential"), weights=good)
    case("scheduler-unknown-prediction", "prediction_type.*not supported",
         scheduler=with_scheduler(prediction_type="noise"), weights=good)
    case("scheduler-clip-not-bool", "clip_sample.*true or false",
         scheduler=with_scheduler(clip_sample="yes"), weights=good)

    json_class_cases(entries, good)

    # -- the folder itself --
    os.makedirs(os.path.join(OUT, "directory-empty"), exist_ok=True)
    write(os.path.join(OUT, "directory-empty", ".keep"), b"")
    CASES.append(("directory-empty", "directory-empty", "", "not a model folder"))
    write(os.path.join(OUT, "file-empty.safetensors"), b"")
    CASES.append(("file-empty", "file-empty.safetensors", "", "the file is empty"))

    # -- latents and arguments against the valid base model (generate only) --
    inputs = os.path.join(OUT, "inputs")
    write(os.path.join(inputs, "latent-3-channels.npy"), npy((1, 3, 8, 8)))
    write(os.path.join(inputs, "latent-odd-size.npy"), npy((1, 1, 7, 7)))
    write(os.path.join(inputs, "latent-other-model.npy"), npy((1, 3, 32, 32)))
    write(os.path.join(inputs, "latent-rank-2.npy"), npy((8, 8)))
    write(os.path.join(inputs, "latent-nan.npy"),
          npy((1, 1, 8, 8), [float("nan")] + [0.0] * 63))
    write(os.path.join(inputs, "latent-truncated.npy"), npy((1, 1, 8, 8))[:-10])
    write(os.path.join(inputs, "latent-int64.npy"),
          npy((1, 1, 8, 8), descr="<i8", values=[0.0] * 64))
    write(os.path.join(inputs, "latent-huge-shape.npy"),
          npy((1, 1, 8, 8)).replace(b"(1, 1, 8, 8)", b"(9999999999, 1, 8, 8)"))
    generate_only = [
        ("latent-wrong-channels", "latent-3-channels.npy", "takes 1 channels"),
        ("latent-wrong-size", "latent-odd-size.npy", "multiples of 2"),
        ("latent-from-another-model", "latent-other-model.npy", "takes 1 channels"),
        ("latent-wrong-rank", "latent-rank-2.npy", "rank 2"),
        ("latent-nan", "latent-nan.npy", "NaN"),
        ("latent-truncated", "latent-truncated.npy", "truncated"),
        ("latent-int64", "latent-int64.npy", "unsupported dtype"),
        ("latent-huge-shape", "latent-huge-shape.npy", "too large|needs"),
    ]
    for name, file_name, pattern in generate_only:
        CASES.append((name, "base", "--xt inputs/" + file_name, pattern))
    # Decompression bombs, refused from their headers before anything is
    # decoded (tests/test-malformed.sh also checks the peak memory of these
    # runs): 16384x16384 1-bit palette pixels, 33 KB, 3 GiB as float RGB.
    write(os.path.join(inputs, "png-bomb.png"),
          png(16384, 16384, 3, 1, [bytes(2048)] * 16384, extra=[(b"PLTE", bytes(6))]))
    write(os.path.join(inputs, "mask-8x8.png"), png(8, 8, 0, 8, [bytes(8)] * 8))
    CASES.append(("png-mask-bomb", "base", "--mask inputs/png-bomb.png",
                  "png-bomb.png: 16384x16384 pixels of 3 channels would take 3 GiB"))
    CASES.append(("png-image-bomb", "base", "--mask inputs/mask-8x8.png --image inputs/png-bomb.png",
                  "png-bomb.png: 16384x16384 pixels of 3 channels would take 3 GiB"))
    # Its header only: test-malformed.sh extends a copy to its 1 GiB of
    # data (a sparse file), which the run must refuse without reading.
    write(os.path.join(inputs, "latent-bomb-header.npy"), npy((1, 1, 16384, 16384), []))
    CASES.append(("steps-above-timesteps", "base", "--steps 5000", "steps must be between 1 and 1000"))
    CASES.append(("size-too-large", "base", "--size 1000000x1000000", "too large"))
    # Larger images run in tiles of the native size, whatever their size;
    # one smaller than the native size runs whole, so its sides must fit.
    CASES.append(("size-not-multiple", "base", "--size 7x7", "multiples of 2"))
    CASES.append(("count-memory", "base", "--count 1000000000 --size 512x512",
                  "more memory|too large|out of range|memory"))
    # A tiled run needs at least one tile and the weights (2 MB here).
    CASES.append(("max-memory-1M", "../fixtures/google_f32", "--max-memory 1M --size 256x256",
                  "MB limit"))
    # Attention over 8192x8192 pixels in one tile: about 10^15 bytes of
    # activations, more than any machine has; refused before x_T is drawn.
    CASES.append(("size-exceeds-available-memory", "../fixtures/google_f32",
                  "--size 8192x8192 --tile 8192", "memory is available"))

    with open(os.path.join(OUT, "cases.tsv"), "w") as f:
        f.write("# case\tmodel (under tests/malformed)\textra generate arguments (- for none)\t"
                "expected message (grep -E)\n")
        f.write("# Written by tools/make_malformed.py; run by tests/test-malformed.sh.\n")
        for name, model, args, pattern in CASES:
            f.write("%s\t%s\t%s\t%s\n" % (name, model, args or "-", pattern))

    write_fuzz_seeds(good, entries)
    print("%d cases in %s" % (len(CASES), OUT))


def write_fuzz_seeds(good, entries):
    def seed(target, name, data):
        write(os.path.join(FUZZ, target, name), data)

    small = safetensors(entries[:3])
    seed("safetensors", "three-tensors.safetensors", small)
    seed("safetensors", "f16.safetensors", safetensors(
        [("a", "F16", [2, 3], struct.pack("<6e", 1, -2, 0.5, 65504, 1e-7, 0)),
         ("b", "BF16", [2], b"\x80\x3f\x00\xc0")]))
    seed("safetensors", "metadata.safetensors", raw_safetensors(
        b'{"__metadata__":{"format":"pt"},"x":{"dtype":"I8","shape":[3],"data_offsets":[0,3]}}',
        b"\1\2\3"))
    seed("safetensors", "empty-table.safetensors", raw_safetensors(b"{}", b""))
    seed("safetensors", "scalar.safetensors", safetensors([("s", "F32", [], b"\0\0\x80\x3f")]))
    seed("safetensors", "regression-deep-header.safetensors",
         raw_safetensors(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}", b""))

    # The strict JSON reader's classes (json-util.c): a valid header with
    # every escape, then one seed per class it refuses.
    seed("safetensors", "escapes.safetensors", raw_safetensors(
        b'{"\\u0061\\ud83d\\ude00\\n":{"dtype":"F\\u0033\\u0032","shape":[1],'
        b'"data_offsets":[0,4]},"__metadata__":{"k":"\\"\\\\\\/\\b\\f\\r\\t"}}',
        b"\0\0\x80\x3f"))
    seed("safetensors", "regression-duplicate-object.safetensors", raw_safetensors(
        b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4))
    seed("safetensors", "regression-dtype-nul.safetensors", raw_safetensors(
        b'{"a":{"dtype":"F32\\u0000","shape":[1],"data_offsets":[0,4]}}', b"\0" * 4))
    seed("safetensors", "regression-wrapped-integers.safetensors", raw_safetensors(
        b'{"a":{"dtype":"F32","shape":[-18446744073709551615],'
        b'"data_offsets":[0,18446744073709551620]}}', b"\0" * 4))
    seed("safetensors", "regression-not-strict.safetensors", raw_safetensors(
        b"{/* c */'a':{\"dtype\":\"F32\",\"shape\":[0x1,-0,01,1e400,NaN,],"
        b'"data_offsets":[0,4],}}', b"\0" * 4))

    seed("unet-config", "base.json", json.dumps(BASE_CONFIG))
    seed("unet-config", "regression-duplicate-object.json",
         '{"in_channels": 1, "x": [{"a": {"b": 1}, "a": {"c": 2}}], "in_channels": 1}')
    seed("unet-config", "regression-escaped-nul.json",
         '{"act_fn": "silu\\u0000x", "in\\u0000": 1, "down_block_types": ["\\ud800"]}')
    seed("unet-config", "regression-wrapped-integers.json",
         '{"sample_size": -18446744073709551608, "in_channels": 18446744073709551617, '
         '"block_out_channels": [9223372036854775807, -9223372036854775808, -0, 3.0]}')
    seed("unet-config", "regression-not-strict.json",
         "\ufeff{// c\n'in_channels': 0x1, \"sample_size\": 08, \"norm_eps\": 1e400,}")
    for name in ("google_f32", "diffusers_f16", "scaleshift_bf16", "tiny_sample"):
        path = os.path.join(ROOT, "tests", "fixtures", name, "config.json")
        if os.path.exists(path):
            seed("unet-config", name + ".json", open(path, "rb").read())
    seed("unet-config", "defaults.json", "{}")
    seed("unet-config", "use-default-values.json",
         '{"_use_default_values": ["sample_size"], "sample_size": [16, 8], '
         '"attention_head_dim": null, "mid_block_type": null}')
    seed("unet-config", "regression-deep.json", '{"a": ' + "[" * 5000 + "]" * 5000 + "}")

    seed("noise-schedule", "base.json", json.dumps(BASE_SCHEDULER))
    seed("noise-schedule", "cosine.json",
         '{"beta_schedule": "squaredcos_cap_v2", "num_train_timesteps": 50, "steps_offset": 1}')
    seed("noise-schedule", "scaled.json",
         '{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, '
         '"prediction_type": "v_prediction", "set_alpha_to_one": false}')
    seed("noise-schedule", "trained.json",
         '{"trained_betas": [0.1, 0.2, 0.3, 0.4], "num_train_timesteps": 4}')
    seed("noise-schedule", "regression-alpha-underflow.json",
         '{"num_train_timesteps": 100000, "beta_end": 0.5}')
    seed("noise-schedule", "regression-wrapped-timesteps.json",
         '{"num_train_timesteps": -18446744073709550616, "steps_offset": -0, '
         '"prediction_type": "epsilon\\u0000", "x": {"a": {}, "a": {}}}')

    seed("npy", "f32-chw.npy", npy((1, 4, 4)))
    seed("npy", "f64-nchw.npy", npy((2, 1, 2, 3), descr="<f8"))
    seed("npy", "v2.npy", npy((1, 1, 2, 2), version=2))
    seed("npy", "fortran.npy", npy((1, 2, 2), fortran=True))
    seed("npy", "rank1.npy", npy((4,)))

    seed("latent", "one.lat", latent((1, 1, 4, 4)))
    seed("latent", "batch.lat", latent((2, 3, 2, 2), steps=50, schedule=2, strength=0.5))
    seed("latent", "no-identity.lat", latent((1, 1, 1, 1), identity=""))

    seed("png", "grey8.png", png(4, 3, 0, 8, [bytes([10 * y + x for x in range(4)])
                                               for y in range(3)]))
    seed("png", "grey1.png", png(8, 2, 0, 1, [b"\xa5", b"\x5a"]))
    seed("png", "rgb16.png", png(2, 2, 2, 16, [b"\x01\x02" * 6, b"\xff\xee" * 6]))
    seed("png", "rgba8.png", png(2, 1, 6, 8, [b"\x10\x20\x30\x40\x50\x60\x70\x80"]))
    seed("png", "palette-trns.png", png(3, 1, 3, 8, [b"\x00\x01\x02"], extra=[
        (b"PLTE", b"\xff\x00\x00\x00\xff\x00\x00\x00\xff"), (b"tRNS", b"\x80")]))
    seed("png", "grey-alpha-interlaced.png", png(1, 1, 4, 8, [b"\x7f\xff"], interlace=1))
    seed("png", "regression-huge-dimensions.png", png(16384, 16384, 2, 16, [b""]))


if __name__ == "__main__":
    sys.exit(main())
