"""Minimal safetensors reader/writer in numpy (no `safetensors` package).

File layout (safetensors "Format"):
  u64 little-endian N | N bytes of UTF-8 JSON header | byte buffer
The header maps tensor name -> {"dtype", "shape", "data_offsets": [begin, end]}
(offsets relative to the start of the buffer, end exclusive) and may hold a
"__metadata__" string->string map.  The writer pads the header with spaces so
that N is a multiple of 8 (the buffer then starts 8-aligned), sorts tensors by
name (all tensors of one file share a dtype here, so this is the safetensors
writer's order: alignment first, then name) and writes
{"format": "pt"} metadata like diffusers' save_pretrained.

Supported dtypes: F32, F16, BF16 (read and write); F64, I64, I32, I16, I8, U8,
BOOL (read only, plus F64 write).
"""
import json
import struct

import numpy as np

# Attention parameter names: current diffusers <-> old AttentionBlock names.
NEW_TO_OLD_ATTN = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
OLD_TO_NEW_ATTN = {v: k for k, v in NEW_TO_OLD_ATTN.items()}

_NP_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
    "BF16": np.dtype("<u2"),  # raw bits; converted on read
}


def f32_to_bf16_bits(a):
    """float32 array -> uint16 bfloat16 bits, round to nearest, ties to even.
    NaN stays NaN (quiet), infinities stay infinite."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    rounded = (u + np.uint64(0x7FFF) + ((u >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
    out = rounded.astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        out[nan] = ((u[nan] >> np.uint64(16)) | np.uint64(0x0040)).astype(np.uint16)
    return out


def bf16_bits_to_f32(b):
    b = np.ascontiguousarray(b, dtype=np.uint16)
    return (b.astype(np.uint32) << np.uint32(16)).view(np.float32)


def round_to_dtype(a, dtype):
    """The float32 values a tensor has after being stored as `dtype`
    ("F32", "F16" or "BF16") and read back."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "F32":
        return a.copy()
    if dtype == "F16":
        with np.errstate(over="ignore"):
            return a.astype(np.float16).astype(np.float32)
    if dtype == "BF16":
        return bf16_bits_to_f32(f32_to_bf16_bits(a))
    raise ValueError(f"unsupported dtype {dtype}")


def rename_attention_keys(state, to_old=True):
    """Rename attention parameters between the current names (to_q, to_k,
    to_v, to_out.0) and the old AttentionBlock names (query, key, value,
    proj_attn).  Only keys inside `.attentions.N.` are touched."""
    table = NEW_TO_OLD_ATTN if to_old else OLD_TO_NEW_ATTN
    out = {}
    for name, value in state.items():
        new_name = name
        if ".attentions." in name:
            prefix, _, leaf = name.rpartition(".")  # leaf = weight / bias
            for src, dst in table.items():
                tail = "." + src
                if prefix.endswith(tail):
                    new_name = prefix[: -len(tail)] + "." + dst + "." + leaf
                    break
        if new_name in out:
            raise ValueError(f"duplicate key after renaming: {new_name}")
        out[new_name] = value
    return out


def normalize_unet_state(state):
    """Old attention names -> current names; 1x1-conv attention weights
    [C, C, 1, 1] squeezed to Linear [C, C] (as the C loader is asked to)."""
    state = rename_attention_keys(state, to_old=False)
    out = {}
    for name, value in state.items():
        if ".attentions." in name and name.endswith(".weight") and value.ndim == 4 \
                and value.shape[2:] == (1, 1) and not name.endswith("group_norm.weight"):
            value = value.reshape(value.shape[0], value.shape[1])
        out[name] = value
    return out


def save_file(tensors, path, dtype="F32", metadata=None, old_attention_names=False):
    """Write a dict name -> array as safetensors, every tensor converted to
    `dtype` ("F32", "F16", "BF16" or "F64").  old_attention_names=True
    renames to_q/to_k/to_v/to_out.0 to query/key/value/proj_attn first."""
    if old_attention_names:
        tensors = rename_attention_keys(tensors, to_old=True)
    if metadata is None:
        metadata = {"format": "pt"}
    names = sorted(tensors)
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in names:
        a = np.asarray(tensors[name])
        if hasattr(tensors[name], "detach"):  # torch tensor
            a = tensors[name].detach().cpu().numpy()
        if dtype == "F32":
            raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        elif dtype == "F64":
            raw = np.ascontiguousarray(a, dtype="<f8").tobytes()
        elif dtype == "F16":
            with np.errstate(over="ignore"):
                raw = np.ascontiguousarray(np.asarray(a, dtype=np.float32).astype("<f2")).tobytes()
        elif dtype == "BF16":
            raw = f32_to_bf16_bits(a).astype("<u2").tobytes()
        else:
            raise ValueError(f"unsupported write dtype {dtype}")
        header[name] = {"dtype": dtype, "shape": [int(s) for s in a.shape],
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for raw in blobs:
            f.write(raw)


def read_header(path):
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > 100_000_000:
            raise ValueError(f"{path}: header length {n} too large")
        hbytes = f.read(n)
    if len(hbytes) != n:
        raise ValueError(f"{path}: truncated header")
    if not hbytes.startswith(b"{"):
        raise ValueError(f"{path}: header does not start with '{{'")
    return n, json.loads(hbytes.decode("utf-8"))


def load_file(path, with_dtypes=False):
    """Read a safetensors file.  Returns name -> numpy array (BF16 converted
    to float32, other dtypes as stored).  Validates the format rules: offsets
    contiguous from 0 without holes, sizes match shapes, file size matches."""
    n, header = read_header(path)
    metadata = header.pop("__metadata__", None)
    with open(path, "rb") as f:
        f.seek(8 + n)
        buf = f.read()
    spans = []
    for name, info in header.items():
        dt = info["dtype"]
        if dt not in _NP_DTYPES:
            raise ValueError(f"{path}: {name}: unsupported dtype {dt}")
        b, e = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64)) if info["shape"] else 1
        if e - b != count * _NP_DTYPES[dt].itemsize:
            raise ValueError(f"{path}: {name}: size mismatch")
        spans.append((b, e, name))
    spans.sort()
    pos = 0
    for b, e, name in spans:
        if b != pos:
            raise ValueError(f"{path}: {name}: hole or overlap at {pos}")
        pos = e
    if pos != len(buf):
        raise ValueError(f"{path}: buffer is {len(buf)} bytes, tensors need {pos}")
    out, dtypes = {}, {}
    for name, info in header.items():
        dt = info["dtype"]
        b, e = info["data_offsets"]
        a = np.frombuffer(buf[b:e], dtype=_NP_DTYPES[dt]).reshape(info["shape"])
        if dt == "BF16":
            a = bf16_bits_to_f32(a)
        out[name] = a.copy()
        dtypes[name] = dt
    if with_dtypes:
        return out, dtypes, metadata
    return out
