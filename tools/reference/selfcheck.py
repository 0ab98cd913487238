"""Self-checks of the reference (run: /usr/bin/python3 tools/reference/selfcheck.py).

Timestep tables, alphas_cumprod values, Philox known-answer vectors,
parameter counts of the google/ddpm configs, safetensors round trips.
"""
import math
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ddim_ref as R  # noqa: E402
import io_st  # noqa: E402
from unet2d import UNet2DModel  # noqa: E402

FAILS = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + (("  " + detail) if detail else ""))
    if not ok:
        FAILS.append(name)


def official_ddpm_forward(sd, cfg, x, t):
    """The network of ermongroup/ddim models/diffusion.py (= the DDPM TF
    U-Net), written functionally over a diffusers state dict: up level L is
    diffusers up_blocks.{n-1-L}; group count from the config (the original
    hard-codes 32); eps from the config (original 1e-6)."""
    import torch.nn.functional as F
    G, eps = cfg["norm_num_groups"], cfg["norm_eps"]
    boc, nrb = cfg["block_out_channels"], cfg["layers_per_block"]
    nres = len(boc)
    ch = boc[0]

    def gn(h, p):
        return F.group_norm(h, G, sd[p + ".weight"], sd[p + ".bias"], eps)

    def conv(h, p, stride=1, pad=1):
        return F.conv2d(h, sd[p + ".weight"], sd[p + ".bias"], stride=stride, padding=pad)

    def lin(h, p):
        return h @ sd[p + ".weight"].T + sd[p + ".bias"]

    def swish(h):
        return h * torch.sigmoid(h)

    def block(h, p, temb):
        y = conv(swish(gn(h, p + ".norm1")), p + ".conv1")
        y = y + lin(swish(temb), p + ".time_emb_proj")[:, :, None, None]
        y = conv(swish(gn(y, p + ".norm2")), p + ".conv2")
        if p + ".conv_shortcut.weight" in sd:
            h = conv(h, p + ".conv_shortcut", pad=0)
        return h + y

    def attn(h, p):
        B, C, H, W = h.shape
        n = gn(h, p + ".group_norm").reshape(B, C, H * W)
        q = torch.einsum("oc,bcn->bon", sd[p + ".to_q.weight"], n) + sd[p + ".to_q.bias"][None, :, None]
        k = torch.einsum("oc,bcn->bon", sd[p + ".to_k.weight"], n) + sd[p + ".to_k.bias"][None, :, None]
        v = torch.einsum("oc,bcn->bon", sd[p + ".to_v.weight"], n) + sd[p + ".to_v.bias"][None, :, None]
        w = torch.einsum("bci,bcj->bij", q, k) * (int(C) ** (-0.5))
        w = torch.softmax(w, dim=2)
        o = torch.einsum("bcj,bij->bci", v, w)
        o = torch.einsum("oc,bcn->bon", sd[p + ".to_out.0.weight"], o) + sd[p + ".to_out.0.bias"][None, :, None]
        return h + o.reshape(B, C, H, W)

    half = ch // 2
    f = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000) / (half - 1)))
    emb = t.float()[:, None] * f[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    temb = lin(swish(lin(emb, "time_embedding.linear_1")), "time_embedding.linear_2")
    hs = [conv(x, "conv_in")]
    for L in range(nres):
        for b in range(nrb):
            h = block(hs[-1], f"down_blocks.{L}.resnets.{b}", temb)
            if cfg["down_block_types"][L].startswith("Attn"):
                h = attn(h, f"down_blocks.{L}.attentions.{b}")
            hs.append(h)
        if L != nres - 1:
            hs.append(conv(F.pad(hs[-1], (0, 1, 0, 1)), f"down_blocks.{L}.downsamplers.0.conv", stride=2, pad=0))
    h = block(hs[-1], "mid_block.resnets.0", temb)
    h = attn(h, "mid_block.attentions.0")
    h = block(h, "mid_block.resnets.1", temb)
    for L in reversed(range(nres)):
        u = nres - 1 - L
        for b in range(nrb + 1):
            h = block(torch.cat([h, hs.pop()], dim=1), f"up_blocks.{u}.resnets.{b}", temb)
            if cfg["up_block_types"][u].startswith("Attn"):
                h = attn(h, f"up_blocks.{u}.attentions.{b}")
        if L != 0:
            h = conv(F.interpolate(h, scale_factor=2.0, mode="nearest"), f"up_blocks.{u}.upsamplers.0.conv")
    assert not hs
    return conv(swish(gn(h, "conv_norm_out")), "conv_out")


def main():
    # --- timestep lists
    q10 = R.timesteps("quadratic", 1000, 10)
    check("quad S=10", q10 == [0, 9, 39, 88, 158, 246, 355, 483, 632, 800], str(q10))
    q20 = R.timesteps("quadratic", 1000, 20)
    check("quad S=20", q20 == [0, 2, 8, 19, 35, 55, 79, 108, 141, 179, 221, 268, 319, 374, 434, 498,
                               567, 640, 718, 800], str(q20))
    q50 = R.timesteps("quadratic", 1000, 50)
    check("quad S=50 49 unique, starts 0,1,2,5,8,11,16 ends 736,767,800",
          len(q50) == 49 and q50[:7] == [0, 1, 2, 5, 8, 11, 16] and q50[-3:] == [736, 767, 800])
    for s, n in ((100, 96), (200, 187), (1000, 688)):
        check(f"quad S={s} unique count {n}", len(R.timesteps("quadratic", 1000, s)) == n)
    le = R.timesteps("uniform", 1000, 50)
    check("leading S=50 = 0..980 step 20", le == list(range(0, 1000, 20)))
    check("uniform S=20", R.timesteps("uniform", 1000, 20) == list(range(0, 1000, 50)))
    check("uniform S=10 offset 1", R.timesteps("uniform", 1000, 10, 1) == list(range(1, 1000, 100)))
    tr = R.timesteps("trailing", 1000, 50)
    check("trailing S=50 = 19..999 step 20", tr == list(range(19, 1000, 20)), str(tr[-3:]))
    ls = R.timesteps("linspace", 1000, 50)
    check("linspace S=50 desc starts 999, 979, 958; ends 20, 0",
          ls[::-1][:3] == [999, 979, 958] and ls[:2] == [0, 20] and len(ls) == 50)
    check("linspace S=3 = 0, 500, 999 (half to even)", R.timesteps("linspace", 1000, 3) == [0, 500, 999])
    tr13 = R.timesteps("trailing", 1000, 13)
    check("trailing S=13 len 13, top 999", len(tr13) == 13 and tr13[-1] == 999, str(tr13))
    tr61 = R.timesteps("trailing", 1000, 61)
    check("trailing S=61: -1 dropped, 61 entries", len(tr61) == 61 and tr61[0] >= 0, str(tr61[:3]))
    check("linspace S=10", R.timesteps("linspace", 1000, 10) == [0, 111, 222, 333, 444, 555, 666, 777, 888, 999])
    check("trailing S=10", R.timesteps("trailing", 1000, 10) == list(range(99, 1000, 100)))

    # --- alphas_cumprod
    cfg = R.resolve_scheduler_config({})
    ab = R.alphas_cumprod_for(cfg)
    exp = {0: 0.99989998, 19: 0.99423087, 499: 0.07858725, 980: 5.9037528e-05, 999: 4.0358307e-05}
    for i, v in exp.items():
        check(f"abar[{i}] = {v}", abs(ab[i] - v) <= 5e-8 * max(1.0, 0) + abs(v) * 2e-7,
              f"{ab[i]:.8e}")
    betas = R.betas_for(cfg).numpy()
    d = np.cumprod((1.0 - betas).astype(np.float32).astype(np.float64)).astype(np.float32)
    check("torch cumprod == double-accumulated cumprod of float32 factors", np.array_equal(d, ab))
    check("beta[0], beta[999]", betas[0] == np.float32(9.9999997e-05) and betas[999] == np.float32(0.02),
          f"{betas[0]!r} {betas[999]!r}")
    # official DDIM numbers (float64 linspace -> float32), for the record
    b64 = np.linspace(0.0001, 0.02, 1000).astype(np.float32)
    ab_off = np.cumprod((1.0 - b64).astype(np.float64)).astype(np.float32)
    check("official-code abar[999] = 4.03582997e-05", abs(ab_off[999] - 4.03582997e-05) < 1e-12,
          f"{ab_off[999]:.9e}")
    # coefficients t = 900 -> 800 from the DDIM doc (official-code alphas)
    at, an = float(ab_off[900]), float(ab_off[800])
    for eta, c1e, c2e in ((0.0, 0.0, 0.999245955), (0.2, 0.181076787, 0.982702232),
                          (1.0, 0.905383936, 0.422814862)):
        c1 = eta * np.sqrt((1 - at / an) * (1 - an) / (1 - at))
        c2 = np.sqrt(1 - an - c1 * c1)
        check(f"c1/c2 eta={eta}", abs(c1 - c1e) < 2e-8 and abs(c2 - c2e) < 2e-8, f"{c1:.9f} {c2:.9f}")
    # other schedules: sanity
    sc = R.alphas_cumprod_for(R.resolve_scheduler_config({"beta_schedule": "squaredcos_cap_v2"}))
    sl = R.alphas_cumprod_for(R.resolve_scheduler_config(
        {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}))
    print(f"     squaredcos abar[0]={sc[0]:.9g} abar[999]={sc[999]:.9g}; "
          f"scaled_linear(0.00085,0.012) abar[0]={sl[0]:.9g} abar[999]={sl[999]:.9g}")

    # --- Philox KATs (Random123 kat_vectors, philox4x32_10)
    kats = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
            ((0xFFFFFFFF,) * 4, (0xFFFFFFFF, 0xFFFFFFFF), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
            ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
             (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]
    for ctr, key, want in kats:
        got = tuple(int(v) for v in R.philox4x32_10(ctr, key))
        check(f"philox KAT ctr={ctr[0]:08x}..", got == want, " ".join(f"{v:08x}" for v in got))
    z = R.philox_normal(1234, 0, 1 << 20)
    check("philox normals: mean ~0, var ~1", abs(z.mean()) < 5e-3 and abs(z.var() - 1) < 5e-3,
          f"mean {z.mean():.5f} var {z.var():.5f}")

    # --- parameter counts
    cifar = {"block_out_channels": [128, 256, 256, 256], "attention_head_dim": None,
             "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
             "up_block_types": ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
             "downsample_padding": 0, "flip_sin_to_cos": False, "freq_shift": 1, "norm_eps": 1e-6,
             "layers_per_block": 2, "norm_num_groups": 32, "sample_size": 32}
    lsun = dict(cifar, block_out_channels=[128, 128, 256, 256, 512, 512],
                down_block_types=["DownBlock2D"] * 4 + ["AttnDownBlock2D", "DownBlock2D"],
                up_block_types=["UpBlock2D", "AttnUpBlock2D"] + ["UpBlock2D"] * 4, sample_size=256)
    for name, c, np_, nt in (("cifar10-32", cifar, 35746307, 328), ("lsun-256", lsun, 113673219, 450)):
        m = UNet2DModel(c)
        sd = m.state_dict()
        n = sum(v.numel() for v in sd.values())
        check(f"{name} params {np_} tensors {nt}", n == np_ and len(sd) == nt, f"{n} / {len(sd)}")
    m = UNet2DModel(cifar)
    sd = m.state_dict()
    shapes = {"down_blocks.1.resnets.0.conv1.weight": (256, 128, 3, 3),
              "down_blocks.1.resnets.0.conv_shortcut.weight": (256, 128, 1, 1),
              "down_blocks.1.attentions.0.to_q.weight": (256, 256),
              "up_blocks.3.resnets.0.conv1.weight": (128, 384, 3, 3),
              "up_blocks.3.resnets.2.conv1.weight": (128, 256, 3, 3),
              "up_blocks.0.resnets.0.conv1.weight": (256, 512, 3, 3),
              "time_embedding.linear_1.weight": (512, 128)}
    for k, s in shapes.items():
        check(f"shape {k}", tuple(sd[k].shape) == s, str(tuple(sd[k].shape)))
    check("cifar attention: one head of 256", m.down_blocks[1].attentions[0].heads == 1
          and m.mid_block.attentions[0].heads == 1)
    check("absent attention_head_dim -> 8", UNet2DModel(
        {k: v for k, v in cifar.items() if k != "attention_head_dim"}).mid_block.attentions[0].heads == 32)
    # a 32x32 forward pass runs
    with torch.no_grad():
        y = m(torch.zeros(1, 3, 32, 32), torch.tensor([10.0]))
    check("cifar forward shape", tuple(y.shape) == (1, 3, 32, 32))

    # --- safetensors round trips
    rng = np.random.default_rng(0)
    t = {"b.weight": rng.standard_normal((3, 5)).astype(np.float32),
         "a.bias": rng.standard_normal(7).astype(np.float32),
         "c.scalar": np.array(1.5, dtype=np.float32),
         "z.edge": np.array([1.0, -0.0, np.inf, -np.inf, 1e-8, 65504.0, 3.4e38, 1.00390625,
                             1.01171875], dtype=np.float32)}
    with tempfile.TemporaryDirectory() as d:
        for dt in ("F32", "F16", "BF16"):
            p = os.path.join(d, f"t_{dt}.safetensors")
            io_st.save_file(t, p, dtype=dt)
            back, dts, meta = io_st.load_file(p, with_dtypes=True)
            n, hdr = io_st.read_header(p)
            ok = set(back) == set(t) and all(dts[k] == dt for k in back) and meta == {"format": "pt"}
            ok = ok and all(np.array_equal(back[k], io_st.round_to_dtype(t[k], dt), equal_nan=True)
                            for k in t) and n % 8 == 0
            order = [k for k in hdr if k != "__metadata__"]
            offs = [hdr[k]["data_offsets"][0] for k in order]
            ok = ok and order == sorted(order) and offs == sorted(offs)
            check(f"safetensors round trip {dt} (header {n} bytes)", ok)
        # bf16 rounding: ties to even
        bits = io_st.f32_to_bf16_bits(np.array([1.00390625, 1.01171875, 1.0 + 2 ** -8 + 2 ** -20],
                                               dtype=np.float32))
        check("bf16 RNE", list(bits) == [0x3F80, 0x3F82, 0x3F81], " ".join(hex(b) for b in bits))
        # old names
        st = {"down_blocks.1.attentions.0.to_q.weight": 1, "down_blocks.1.attentions.0.to_out.0.bias": 2,
              "mid_block.attentions.0.group_norm.weight": 3, "down_blocks.1.resnets.0.conv1.weight": 4}
        old = io_st.rename_attention_keys(st, to_old=True)
        check("rename to old", sorted(old) == sorted([
            "down_blocks.1.attentions.0.query.weight", "down_blocks.1.attentions.0.proj_attn.bias",
            "mid_block.attentions.0.group_norm.weight", "down_blocks.1.resnets.0.conv1.weight"]))
        check("rename back", io_st.rename_attention_keys(old, to_old=False) == st)

    # --- slerp
    a = rng.standard_normal(100)
    b = rng.standard_normal(100)
    check("slerp endpoints", np.allclose(R.slerp(a, b, 0.0), a, atol=1e-6)
          and np.allclose(R.slerp(a, b, 1.0), b, atol=1e-6))

    # --- second, independent formulation: the original DDPM / official DDIM
    # network (functional, level loop, hs.pop()), run on the google_f32
    # fixture weights through the converter's key mapping
    fix = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "tests", "fixtures", "google_f32")
    if os.path.isdir(fix):
        import json
        from unet2d import load_unet
        model, raw = load_unet(fix)
        sd = {k: v for k, v in model.state_dict().items()}
        x = torch.from_numpy(np.load(os.path.join(fix, "x.npy")))
        for tval in (0, 37, 999):
            tt = torch.full((x.shape[0],), float(tval))
            with torch.no_grad():
                a = model(x, tt).numpy()
                b = official_ddpm_forward(sd, raw, x, tt).numpy()
            ref = np.load(os.path.join(fix, f"eps_t{tval}.npy"))
            d1 = np.abs(a - b).max() / np.abs(b).max()
            d2 = np.abs(ref - b).max() / np.abs(b).max()
            check(f"google_f32 eps t={tval}: UNet2DModel vs original-DDPM formulation", d1 < 1e-5 and d2 < 1e-5,
                  f"{d1:.1e} (fixture {d2:.1e})")

        # diffusers-style DDIMScheduler.step / DDIMInverseScheduler.step
        # (float32 0-d tensors, prev = t -/+ T//N, leading spacing) against
        # the float64 list-based reference
        sch = R.Schedule(R.load_scheduler_config(os.path.join(fix, "scheduler_config.json")))
        ac = torch.from_numpy(sch.abar)
        T, N = 1000, 20
        xt = torch.from_numpy(np.load(os.path.join(fix, "xt.npy")))
        x = xt.clone()
        with torch.no_grad():
            for t in (np.arange(N) * (T // N))[::-1]:
                eps_ = model(x, torch.full((x.shape[0],), float(t)))
                pt = t - T // N
                a_t = ac[t]
                a_p = ac[pt] if pt >= 0 else torch.tensor(1.0)
                x0 = ((x - (1 - a_t) ** 0.5 * eps_) / a_t ** 0.5).clamp(-1, 1)
                x = a_p ** 0.5 * x0 + (1 - a_p) ** 0.5 * eps_
        ref = np.load(os.path.join(fix, "sample_uniform_20_eta0.npy"))
        d = np.abs(x.numpy() - ref).max() / np.abs(ref).max()
        check("diffusers-style DDIMScheduler.step loop (f32) vs sample_uniform_20_eta0", d < 1e-4, f"{d:.1e}")
        x = torch.from_numpy(np.load(os.path.join(fix, "x0.npy")))
        N = 10
        with torch.no_grad():
            for t in np.arange(N) * (T // N):
                eps_ = model(x, torch.full((x.shape[0],), float(t)))
                cur = min(t - T // N, T - 1)
                a_c = ac[cur] if cur >= 0 else torch.tensor(1.0)
                a_n = ac[t]
                x0 = (x - (1 - a_c) ** 0.5 * eps_) / a_c ** 0.5
                x = a_n ** 0.5 * x0 + (1 - a_n) ** 0.5 * eps_
        ref = np.load(os.path.join(fix, "encode_uniform_10.npy"))
        d = np.abs(x.numpy() - ref).max() / np.abs(ref).max()
        check("diffusers-style DDIMInverseScheduler loop (f32, no clip) vs encode_uniform_10", d < 1e-4, f"{d:.1e}")
        # official generalized_steps with eta (noise injected from Philox)
        x = torch.from_numpy(np.load(os.path.join(fix, "xt_seed7.npy")))
        seq = list(range(0, 1000, 100))
        seq_next = [-1] + seq[:-1]

        def comp_a(t):
            return torch.tensor(1.0) if t < 0 else ac[t]
        with torch.no_grad():
            for i, j in zip(reversed(seq), reversed(seq_next)):
                at, an = comp_a(i), comp_a(j)
                et = model(x, torch.full((x.shape[0],), float(i)))
                x0 = ((x - et * (1 - at).sqrt()) / at.sqrt()).clamp(-1, 1)  # + diffusers clip_sample
                c1 = 0.5 * ((1 - at / an) * (1 - an) / (1 - at)).sqrt()
                c2 = ((1 - an) - c1 ** 2).sqrt()
                z = torch.from_numpy(R.noise(7, R.stream_step(i), tuple(x.shape)))
                x = an.sqrt() * x0 + c1 * z + c2 * et
        ref = np.load(os.path.join(fix, "sample_uniform_10_eta0.5_seed7.npy"))
        d = np.abs(x.numpy() - ref).max() / np.abs(ref).max()
        check("official generalized_steps (eta 0.5, + clip, Philox z) vs sample_uniform_10_eta0.5_seed7", d < 1e-4,
              f"{d:.1e}")

    print("\n%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
