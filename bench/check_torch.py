#!/usr/bin/python3
"""Checks that gen_dumps files load with torch.load and hold what the generator wrote.

usage: check_torch.py SET DIR [WIDE_DIR]   (SET: wide, wide-tp8, many or tui; DIR: gen_dumps' OUTDIR)

Replays the generator's PRNG (xoshiro256** seeded by splitmix64) in Python and compares against torch's view of a
few files: the baseline's first elements (all of them for small tensors), and for small tensors the whole target
(1-ulp noise or divergence noise). Also checks dtype, shape, meta tags, that the tensor bytes equal the zip entry,
and that the entry data is 64-byte aligned. Prints TAP.

wide-tp8 (WIDE_DIR: the wide set, default DIR/../wide) on a few pairs of every tensor kind, at layer 0, at the
divergence point (layer 17) and the last pair: the baseline is the wide baseline's file byte for byte and its first
values are the generator's; each of the 8 target shards loads, with its shape, tags, meta dims, world rank/size and
sglang_parallel_info; and unsharding as the comparator does (cat on dim 1 for `t h[tp]`; for `t h[tp:partial]` a
float32 sum in rank order rounded once to bf16, also torch.stack(...).sum(0); for `t h # tp:replicated` rank 0,
the other ranks bitwise equal to it) gives the wide target's tensor bit for bit.
"""
import os
import struct
import sys
import zipfile

import torch

M64 = (1 << 64) - 1
SETS = {  # npairs, rows, cols, nphases, tensors per layer, layers per step, diverge phase, diverge layer
    "wide": (24 * 6, 1024, 4096, 1, 6, 24, 0, 17),
    "many": (4000, 32, 256, 3, 8, 48, 2, 40),
    "tui": (8000, 8, 64, 3, 8, 48, 2, 40),
}
WIDE = ["input_layernorm_out", "attn_output", "post_attention_layernorm_out", "mlp_output", "residual", "layer_output"]
MANY = ["input_layernorm_out", "attn_q", "attn_k", "attn_v", "attn_output", "post_attention_layernorm_out",
        "mlp_output", "layer_output"]
PHASES = ["inference", "fwd_only", "fwd_bwd"]


class Rng:
    def __init__(self, seed):
        self.s = []
        for _ in range(4):
            seed = (seed + 0x9E3779B97F4A7C15) & M64
            z = seed
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def normal(self):
        x = self.next()
        total = (x & 0xFFFF) + ((x >> 16) & 0xFFFF) + ((x >> 32) & 0xFFFF) + (x >> 48)
        return f32((f32(total) - f32(2.0 * 65535.0)) * f32(1.7320508 / 65536.0))


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def to_bf16(f):
    u = struct.unpack("<I", struct.pack("<f", f))[0]
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFFFFFF
    return u >> 16


def from_bf16(h):
    return struct.unpack("<f", struct.pack("<I", h << 16))[0]


def expected(setname, i, nvals):
    npairs, rows, cols, nph, ntens, nlay, dph, dlayer = SETS[setname]
    phase = i * nph // npairs
    start = (phase * npairs + nph - 1) // nph
    within = i - start
    layer = within // ntens % nlay
    scale = f32(0.5 + f32(f32(0.05) * layer))
    r = Rng(0x5EED0000 ^ (i << 20) ^ npairs)
    n = rows * cols
    count = n if nvals is None else nvals
    base = [to_bf16(f32(scale * r.normal())) for _ in range(count)]
    targ = None
    if nvals is None:  # the target needs the whole base stream first
        diverged = phase == dph and layer >= dlayer
        amp = f32(f32(f32(0.1) * scale) * (layer - dlayer + 1))
        targ = []
        for b in base:
            x = r.next()
            if diverged:
                targ.append(to_bf16(f32(from_bf16(b) + f32(amp * r.normal()))))
            elif (x & 7) == 0 and (b & 0x7FFF) != 0 and (b & 0x7F80) != 0x7F80:
                targ.append((b + 1) & 0xFFFF if x & 8 else (b - 1) & 0xFFFF)
            else:
                targ.append(b)
    tags = {"step": within // (ntens * nlay), "rank": 0, "dump_index": within + 1,
            "name": (WIDE if setname == "wide" else MANY)[within % ntens], "recompute_status": "disabled",
            "layer_id": layer}
    return phase, tags, base, targ


def path_of(setname, root, side, phase, tags):
    nph = SETS[setname][3]
    sub = "sglang_dump_1764130000.00" if nph == 1 else "%s/sglang_dump_17641300%02d.00" % (PHASES[phase], phase)
    stem = "step=%d___rank=0___dump_index=%d___name=%s___recompute_status=disabled___layer_id=%d" % (
        tags["step"], tags["dump_index"], tags["name"], tags["layer_id"])
    return os.path.join(root, side, sub, stem + ".pt"), stem


def tensor_checks(path, stem, what, checks):
    """torch.load + bytes = zip entry + 64-byte alignment; returns (value, meta)."""
    obj = torch.load(path, map_location="cpu")
    v = obj["value"]
    raw = v.contiguous().view(torch.int16).numpy().tobytes()
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(stem + "/data/0")
        with open(path, "rb") as f:
            f.seek(info.header_offset)
            name_len, extra_len = struct.unpack("<HH", f.read(30)[26:30])
        data_at = info.header_offset + 30 + name_len + extra_len
        checks.append((z.read(info) == raw and data_at % 64 == 0,
                       what + ": bytes equal the zip entry, 64-byte aligned"))
    return v, obj["meta"]


TP = 8
TP_DIMS = ["t h[tp]", "t h[tp]", "t h[tp]", "t h[tp:partial]", "t h # tp:replicated", "t h[tp]"]


def bits(t):
    return t.contiguous().view(torch.int16)


def check_wide_tp8(root, wide_root):
    npairs, rows, cols = SETS["wide"][:3]
    picks = [0, 1, 2, 3, 4, 5, 102, 103, 104, 105, 106, 107, npairs - 1]
    checks = []
    for i in picks:
        phase, tags, base, _ = expected("wide", i, 4096)
        what = "wide-tp8 pair %d %s layer %d" % (i, tags["name"], tags["layer_id"])
        dims = TP_DIMS[i % 6]
        # baseline: wide's file, TP=1 meta with dims
        path, stem = path_of("wide", root, "baseline", phase, tags)
        v, meta = tensor_checks(path, stem, what + " baseline", checks)
        checks.append((v.dtype == torch.bfloat16 and list(v.shape) == [rows, cols]
                       and all(meta.get(k) == tags[k] for k in tags) and meta.get("dims") == "t h"
                       and meta.get("world_size") == 1
                       and meta.get("sglang_parallel_info") == {"tp_rank": 0, "tp_size": 1},
                       what + " baseline: dtype/shape, tags, dims 't h', TP=1 parallel info"))
        got = [b & 0xFFFF for b in bits(v).flatten()[:len(base)].tolist()]
        checks.append((got == base, what + " baseline: %d values equal the generator's" % len(base)))
        wpath, _ = path_of("wide", wide_root, "baseline", phase, tags)
        with open(path, "rb") as a, open(wpath, "rb") as b:
            checks.append((a.read() == b.read(), what + " baseline: the wide baseline's file byte for byte"))
        # target: 8 shards
        shards, ok_meta, ok_shape = [], True, True
        want_shape = [rows, cols // TP] if dims == "t h[tp]" else [rows, cols]
        for r in range(TP):
            rt = dict(tags, rank=r)
            path, stem = path_of("wide", root, "target", phase, tags)
            path = path.replace("___rank=0___", "___rank=%d___" % r)
            stem = stem.replace("___rank=0___", "___rank=%d___" % r)
            v, meta = tensor_checks(path, stem, what + " target rank %d" % r, checks)
            shards.append(v)
            ok_shape &= v.dtype == torch.bfloat16 and list(v.shape) == want_shape
            pi = meta.get("sglang_parallel_info") or {}
            ok_meta &= (all(meta.get(k) == rt[k] for k in rt) and meta.get("dims") == dims
                        and meta.get("world_rank") == r and meta.get("world_size") == TP
                        and pi.get("tp_rank") == r and pi.get("tp_size") == TP
                        and pi.get("attn_tp_rank") == r and pi.get("attn_tp_size") == TP
                        and pi.get("moe_tp_rank") == r and pi.get("moe_tp_size") == TP
                        and pi.get("pp_size") == 1 and pi.get("attn_dp_size") == 1
                        and pi.get("enable_dp_attention") is False
                        and not any(k.endswith("_error") for k in pi))
        checks.append((ok_shape, what + " target: 8 shards of %s bf16" % want_shape))
        checks.append((ok_meta, what + " target: tags, dims '%s', world rank/size, sglang_parallel_info tp r/8" % dims))
        # unshard and compare with wide's target
        if dims == "t h[tp]":
            full, how = torch.cat(shards, dim=1), "cat on dim 1"
        elif dims == "t h[tp:partial]":
            acc = shards[0].float()
            for t in shards[1:]:
                acc = acc + t.float()
            acc64 = sum(t.double() for t in shards)
            checks.append((torch.equal(acc.double(), acc64),
                           what + " target: float32 rank-order sum of the shares is exact (= float64 sum)"))
            full, how = acc.to(torch.bfloat16), "float32 sum in rank order, rounded once to bf16"
            stacked = torch.stack(shards).sum(dim=0)
            same = [float((bits(a) == bits(b)).double().mean()) for a, b in zip(shards, shards[1:])]
            holds = [float((bits(t) == bits(full)).double().mean()) for t in shards]
            checks.append((max(same) < 0.5 and max(holds) < 0.5,
                           what + " target: realistic shares (neighbours equal on <= %.3f, a share equals the "
                           "sum on <= %.3f of the elements)" % (max(same), max(holds))))
        else:
            checks.append((all(torch.equal(bits(t), bits(shards[0])) for t in shards[1:]),
                           what + " target: ranks 1..7 bitwise equal to rank 0"))
            full, how = shards[0], "rank 0"
        wpath, _ = path_of("wide", wide_root, "target", phase, tags)
        wt = torch.load(wpath, map_location="cpu")["value"]
        checks.append((full.dtype == wt.dtype and full.shape == wt.shape and torch.equal(bits(full), bits(wt)),
                       what + " target unsharded (%s) = wide's target bit for bit" % how))
        if dims == "t h[tp:partial]":
            checks.append((torch.equal(bits(stacked), bits(wt)),
                           what + " target: torch.stack(shards).sum(0) in bf16 = wide's target bit for bit"))
    return checks


def report(checks):
    print("1..%d" % len(checks))
    bad = 0
    for n, (ok, what) in enumerate(checks, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", n, what))
        bad += not ok
    return 1 if bad else 0


def main(argv):
    if argv and argv[0] == "wide-tp8":
        root = argv[1]
        wide_root = argv[2] if len(argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(root)), "wide")
        return report(check_wide_tp8(root, wide_root))
    setname, root = argv
    npairs, rows, cols = SETS[setname][:3]
    small = rows * cols <= 1 << 16
    picks = sorted({0, 1, npairs // 2, npairs - 1, npairs * 3 // 4 + 5})
    checks = []
    for i in picks:
        phase, tags, base, targ = expected(setname, i, None if small else 4096)
        for side, want in (("baseline", base), ("target", targ)):
            path, stem = path_of(setname, root, side, phase, tags)
            what = "%s pair %d %s" % (setname, i, side)
            obj = torch.load(path, map_location="cpu")
            v = obj["value"]
            checks.append((v.dtype == torch.bfloat16 and list(v.shape) == [rows, cols], what + ": dtype/shape"))
            meta = obj["meta"]
            checks.append((all(meta.get(k) == tags[k] for k in tags), what + ": meta tags"))
            bits = v.contiguous().view(torch.int16).flatten()
            raw = bits.numpy().tobytes()
            with zipfile.ZipFile(path) as z:
                info = z.getinfo(stem + "/data/0")
                with open(path, "rb") as f:  # the local header's extra field holds the padding
                    f.seek(info.header_offset)
                    name_len, extra_len = struct.unpack("<HH", f.read(30)[26:30])
                data_at = info.header_offset + 30 + name_len + extra_len
                checks.append((z.read(info) == raw and data_at % 64 == 0,
                               what + ": bytes equal the zip entry, 64-byte aligned"))
            if want is not None:
                got = [b & 0xFFFF for b in bits[: len(want)].tolist()]
                checks.append((got == want, what + ": %d values equal the generator's" % len(want)))
    return report(checks)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
