"""DDIM reference: noise schedules, timestep lists, the DDIM sampler (eq. 12 /
16), deterministic inversion, the Philox4x32-10 noise source and slerp.

Conventions (the C engine's, see include/ddim.h):
  * betas / alphas_cumprod exactly as diffusers builds them (float32 torch
    linspace, float32 cumprod accumulated in double on the CPU); every
    sampler coefficient is then computed in float64 from those float32
    values.  The network runs in float32; the sample state is kept in
    float64 between steps and cast to float32 for each network call.
  * timestep lists are unique, ascending, without negatives; sampling walks
    them from the largest down, prev(t) = next smaller entry, prev of the
    smallest = -1 with alpha_bar(-1) = 1 (or alphas_cumprod[0] when
    set_alpha_to_one is false).
"""
import json
import math

import numpy as np
import torch

# DDIMScheduler.__init__ defaults (scheduling_ddim.py).
SCHEDULER_DEFAULTS = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "trained_betas": None,
    "clip_sample": True,
    "set_alpha_to_one": True,
    "steps_offset": 0,
    "prediction_type": "epsilon",
    "thresholding": False,
    "dynamic_thresholding_ratio": 0.995,
    "clip_sample_range": 1.0,
    "sample_max_value": 1.0,
    "timestep_spacing": "leading",
    "rescale_betas_zero_snr": False,
}


def resolve_scheduler_config(raw):
    """scheduler_config.json dict (any scheduler class) -> DDIM config with
    diffusers' from_config rules.  raw None (no file) gives the DDIM
    defaults with clip_sample OFF (the engine's choice when no scheduler
    config exists)."""
    cfg = dict(SCHEDULER_DEFAULTS)
    if raw is None:
        cfg["clip_sample"] = False
        return cfg
    used_defaults = set(raw.get("_use_default_values", []) or [])
    for k, v in raw.items():
        if k.startswith("_") or k in used_defaults or k not in SCHEDULER_DEFAULTS:
            continue
        cfg[k] = v
    if cfg["thresholding"]:
        raise ValueError("thresholding is not supported")
    if cfg["rescale_betas_zero_snr"]:
        raise ValueError("rescale_betas_zero_snr is not supported")
    if cfg["prediction_type"] not in ("epsilon", "sample", "v_prediction"):
        raise ValueError(f"unsupported prediction_type {cfg['prediction_type']}")
    return cfg


def load_scheduler_config(path):
    if path is None:
        return resolve_scheduler_config(None)
    with open(path) as f:
        return resolve_scheduler_config(json.load(f))


def betas_for(cfg):
    """float32 torch tensor of betas, as diffusers builds them."""
    T = cfg["num_train_timesteps"]
    if cfg["trained_betas"] is not None:
        return torch.tensor(cfg["trained_betas"], dtype=torch.float32)
    sched = cfg["beta_schedule"]
    if sched == "linear":
        return torch.linspace(cfg["beta_start"], cfg["beta_end"], T, dtype=torch.float32)
    if sched == "scaled_linear":
        return torch.linspace(cfg["beta_start"] ** 0.5, cfg["beta_end"] ** 0.5, T, dtype=torch.float32) ** 2
    if sched == "squaredcos_cap_v2":
        def abar(t):
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = []
        for i in range(T):
            t1, t2 = i / T, (i + 1) / T
            betas.append(min(1 - abar(t2) / abar(t1), 0.999))
        return torch.tensor(betas, dtype=torch.float32)
    raise ValueError(f"unsupported beta_schedule {sched}")


def alphas_cumprod_for(cfg):
    """float32 numpy array (torch.cumprod of float32 1 - betas)."""
    betas = betas_for(cfg)
    alphas = 1.0 - betas
    return torch.cumprod(alphas, dim=0).numpy().astype(np.float32)


class Schedule:
    def __init__(self, cfg):
        self.cfg = cfg
        self.T = cfg["num_train_timesteps"]
        self.abar = alphas_cumprod_for(cfg)
        self.final = 1.0 if cfg["set_alpha_to_one"] else float(self.abar[0])

    def alpha_bar(self, t):
        """float64 value of alphas_cumprod[t]; t = -1 gives 1.0 (or
        alphas_cumprod[0] when set_alpha_to_one is false)."""
        if t < 0:
            return self.final
        return float(self.abar[t])


def timesteps(kind, T, S, steps_offset=0):
    """Unique ascending timestep list (negatives dropped)."""
    if S < 1 or S > T:
        raise ValueError(f"steps must be in [1, {T}], got {S}")
    if kind == "uniform":
        ts = [i * (T // S) + steps_offset for i in range(S)]
    elif kind == "quadratic":
        ts = [int(v) for v in np.linspace(0, np.sqrt(T * 0.8), S) ** 2]
    elif kind == "trailing":
        ts = [int(v) for v in np.round(np.arange(T, 0, -T / S)).astype(np.int64) - 1]
    elif kind == "linspace":
        ts = [int(v) for v in np.linspace(0, T - 1, S).round().astype(np.int64)]
    else:
        raise ValueError(f"unknown schedule {kind}")
    ts = sorted(set(t for t in ts if t >= 0))
    if ts and ts[-1] >= T:
        raise ValueError(f"timestep {ts[-1]} out of range for T={T}")
    return ts


# ---------------------------------------------------------------------------
# Philox4x32-10 + Box-Muller

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(ctr, key):
    """ctr: 4 uint64 arrays (values < 2^32, broadcastable); key: 2 ints /
    arrays.  Returns 4 uint64 arrays (values < 2^32)."""
    c0, c1, c2, c3 = [np.asarray(c, dtype=np.uint64) & MASK32 for c in ctr]
    k0 = np.asarray(key[0], dtype=np.uint64) & MASK32
    k1 = np.asarray(key[1], dtype=np.uint64) & MASK32
    for r in range(10):
        if r:
            k0 = (k0 + W0) & MASK32
            k1 = (k1 + W1) & MASK32
        p0 = M0 * c0  # < 2^64, exact in uint64
        p1 = M1 * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & MASK32
        hi1, lo1 = p1 >> np.uint64(32), p1 & MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def philox_normal(seed, stream, count):
    """`count` float32 standard normals for (seed, stream), element i =
    n[i & 3] of block i >> 2 (see the module doc of make_fixtures)."""
    seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    stream = int(stream) & 0xFFFFFFFFFFFFFFFF
    key = (seed & 0xFFFFFFFF, seed >> 32)
    nblocks = (count + 3) // 4
    block = np.arange(nblocks, dtype=np.uint64)
    ctr = (block & MASK32, block >> np.uint64(32),
           np.full(nblocks, stream & 0xFFFFFFFF, dtype=np.uint64),
           np.full(nblocks, stream >> 32, dtype=np.uint64))
    r0, r1, r2, r3 = philox4x32_10(ctr, key)
    two32 = 4294967296.0
    out = np.empty((nblocks, 4), dtype=np.float64)
    for (a, b), cols in (((r0, r1), (0, 1)), ((r2, r3), (2, 3))):
        u1 = (a.astype(np.float64) + 1.0) / two32
        u2 = b.astype(np.float64) / two32
        rad = np.sqrt(-2.0 * np.log(u1))
        out[:, cols[0]] = rad * np.cos(2.0 * np.pi * u2)
        out[:, cols[1]] = rad * np.sin(2.0 * np.pi * u2)
    return out.reshape(-1)[:count].astype(np.float32)


STREAM_INITIAL = 0
STREAM_FORWARD = 1 << 32


def stream_step(t):
    return (2 << 32) | (int(t) & 0xFFFFFFFF)


def noise(seed, stream, shape):
    """(N, C, H, W) float32; image k uses seed + k."""
    n = shape[0]
    per = int(np.prod(shape[1:]))
    return np.stack([philox_normal(seed + k, stream, per).reshape(shape[1:]) for k in range(n)])


# ---------------------------------------------------------------------------
# Sampler


def _model_eps_x0(model_out, x, a_t, prediction_type):
    """model output -> (x0, eps) in float64 (before any clipping)."""
    sa, sb = math.sqrt(a_t), math.sqrt(1.0 - a_t)
    if sb == 0.0 and prediction_type == "sample":
        raise ValueError("prediction_type 'sample' at alpha_bar = 1: eps undefined")
    if prediction_type == "epsilon":
        eps = model_out
        x0 = (x - sb * eps) / sa
    elif prediction_type == "sample":
        x0 = model_out
        eps = (x - sa * x0) / sb
    elif prediction_type == "v_prediction":
        x0 = sa * x - sb * model_out
        eps = sa * model_out + sb * x
    else:
        raise ValueError(prediction_type)
    return x0, eps


def _run_model(model, x64, t):
    x32 = torch.from_numpy(x64.astype(np.float32))
    tt = torch.full((x32.shape[0],), float(t), dtype=torch.float32)
    with torch.no_grad():
        out = model(x32, tt)
    return out.double().numpy()


def ddim_sample(model, sched, x_T, ts, eta=0.0, clip=False, clip_range=1.0,
                prediction_type="epsilon", seed=None, model_dtype=torch.float32, trace=None,
                x0_trace=None):
    """Decode x_T (numpy (N,C,H,W)) along ascending list `ts`, from ts[-1]
    down to -1.  eta > 0 needs `seed`: the noise of the step leaving t is
    stream (2<<32)|t, image k seed + k.  x0_trace, a list, receives (t, x0)
    for every step (x0 before clipping).  Returns float32."""
    x = np.asarray(x_T, dtype=np.float64)
    for idx in range(len(ts) - 1, -1, -1):
        t = ts[idx]
        t_prev = ts[idx - 1] if idx > 0 else -1
        a_t, a_prev = sched.alpha_bar(t), sched.alpha_bar(t_prev)
        out = _run_model_dtype(model, x, t, model_dtype)
        x0, eps = _model_eps_x0(out, x, a_t, prediction_type)
        if x0_trace is not None:
            x0_trace.append((t, x0.copy()))
        if clip:
            x0 = np.clip(x0, -clip_range, clip_range)
        sigma = eta * math.sqrt((1.0 - a_prev) / (1.0 - a_t)) * math.sqrt(1.0 - a_t / a_prev)
        x = math.sqrt(a_prev) * x0 + math.sqrt(max(0.0, 1.0 - a_prev - sigma * sigma)) * eps
        if sigma > 0:
            if seed is None:
                raise ValueError("eta > 0 needs a seed")
            z = noise(seed, stream_step(t), x.shape).astype(np.float64)
            x = x + sigma * z
        if trace is not None:
            trace.append((t, t_prev, a_t, a_prev, sigma))
    return x.astype(np.float32)


def ddim_invert(model, sched, x0_img, ts, prediction_type="epsilon", model_dtype=torch.float32,
                trace=None):
    """Deterministic DDIM inversion (encode), ascending over `ts`: eps is
    evaluated at the target timestep t on the current sample (a v or x0
    output is converted to eps with alpha_bar(t)); the current level is
    prev(t) (alpha_bar(-1) for the first).  No clipping."""
    x = np.asarray(x0_img, dtype=np.float64)
    for idx, t in enumerate(ts):
        t_cur = ts[idx - 1] if idx > 0 else -1
        a_cur, a_t = sched.alpha_bar(t_cur), sched.alpha_bar(t)
        out = _run_model_dtype(model, x, t, model_dtype)
        # the eps the output means at t (where the network was told x is), then x0 at the
        # current level; for epsilon models this is diffusers' DDIMInverseScheduler exactly
        _, eps = _model_eps_x0(out, x, a_t, prediction_type)
        x0 = (x - math.sqrt(1.0 - a_cur) * eps) / math.sqrt(a_cur)
        x = math.sqrt(a_t) * x0 + math.sqrt(1.0 - a_t) * eps
        if trace is not None:
            trace.append((t_cur, t, a_cur, a_t))
    return x.astype(np.float32)


def _run_model_dtype(model, x64, t, model_dtype):
    if model_dtype == torch.float32:
        return _run_model(model, x64, t)
    xx = torch.from_numpy(np.asarray(x64, dtype=np.float64))
    tt = torch.full((xx.shape[0],), float(t), dtype=torch.float32)
    with torch.no_grad():
        return model(xx, tt).double().numpy()


def strength_timesteps(ts, strength):
    """Partial run (SDEdit / img2img), diffusers img2img convention: of the
    n entries of the ascending list, run the lowest floor(n * strength)
    (at least 1; + 1e-9 so that e.g. 0.29 * 100 counts as 29, as the C
    engine does).  The run starts at the level of the largest kept entry."""
    if not 0 < strength <= 1:
        raise ValueError("strength must be in (0, 1]")
    n = min(max(int(math.floor(len(ts) * strength + 1e-9)), 1), len(ts))
    return list(ts[:n])


def ddim_vary(model, sched, x0_img, ts_run, seed, eta=0.0, clip=False, clip_range=1.0,
              prediction_type="epsilon", model_dtype=torch.float32):
    """SDEdit: x_t = sqrt(a) x0 + sqrt(1 - a) z at t = ts_run[-1] (DDIM eq. 4,
    z from stream 1<<32, image k seed + k), then DDIM decode along ts_run."""
    x0 = np.asarray(x0_img, dtype=np.float64)
    a = sched.alpha_bar(ts_run[-1])
    z = noise(seed, STREAM_FORWARD, x0.shape).astype(np.float64)
    x = math.sqrt(a) * x0 + math.sqrt(1.0 - a) * z
    return ddim_sample(model, sched, x, ts_run, eta=eta, clip=clip, clip_range=clip_range,
                       prediction_type=prediction_type, seed=seed, model_dtype=model_dtype)


def slerp(z0, z1, alpha):
    """DDIM paper eq. 67, theta over the whole tensor, float64 maths."""
    a = np.asarray(z0, dtype=np.float64)
    b = np.asarray(z1, dtype=np.float64)
    cos = float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    theta = math.acos(max(-1.0, min(1.0, cos)))
    if theta < 1e-12:
        return ((1 - alpha) * a + alpha * b).astype(np.float32)
    s = math.sin(theta)
    return (math.sin((1 - alpha) * theta) / s * a + math.sin(alpha * theta) / s * b).astype(np.float32)
