#!/usr/bin/env python3
"""Regenerates the seed corpora fuzz/corpus/<harness>/ from tests/fixtures and
examples/ (small files only). Run from anywhere: python3 fuzz/make_seeds.py"""
import io
import os
import shutil
import zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(ROOT, "fuzz", "corpus")
LEGACY_MAGIC_LEN = 15
MAX_PT = 8192        # bytes: a seed bigger than this slows every mutation
MAX_PICKLE = 16384


def pt_files():
    for sub in ("pt-corpus", "pt-corpus/bad", "hostile", "hostile/valid"):
        d = os.path.join(FIX, sub)
        for n in sorted(os.listdir(d)):
            p = os.path.join(d, n)
            if n.endswith(".pt") and os.path.isfile(p):
                yield sub.replace("/", "-") + "-" + n, p


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    for name, path in pt_files():
        with open(path, "rb") as f:
            data = f.read()
        if len(data) <= MAX_PT:
            put("fuzz_pt", name, data)
        if data.startswith(b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e"):
            put("fuzz_legacy", name, data[LEGACY_MAGIC_LEN:])
            continue
        try:
            z = zipfile.ZipFile(io.BytesIO(data))
            pkls = [i for i in z.infolist() if i.filename.endswith("data.pkl")]
            if pkls and pkls[0].file_size <= MAX_PICKLE:
                put("fuzz_pickle", name[:-3] + ".pkl", z.read(pkls[0]))
        except Exception:
            pass
    names = set()
    for root, _, files in os.walk(os.path.join(ROOT, "examples")):
        names.update(n for n in files if n.endswith(".pt"))
    names = sorted(names)[:40] + [
        "forward_pass_id=1___rank=0___name=model.layers.3.mlp___dump_index=5.pt",
        "step=0___rank=0___dump_index=7___name=attn_output___layer_id=3.pt",
        "name=a=b___=x___y=___noequals___k=v=w.pt",
        "name=model.layers.99999999999.mlp.pt", "layer_12.pt", "x.layers_4_y.pt",
    ]
    for k, n in enumerate(names):
        put("fuzz_tags", "name%03d" % k, n.encode())
    patterns = [b"(?:^|[._])layers?[._](\\d+)(?:[._]|$)", b"attn", b"(\\d+)", b"(?i)MLP|moe",
                b"layer_id=(\\d+)", b"(a+)+$", b"[", b"(?<n>x)\\k<n>"]
    for k, p in enumerate(patterns):
        for j, n in enumerate(names[:3] + names[-3:]):
            put("fuzz_regex", "re%02d_%d" % (k, j), bytes([k & 1]) + p + b"\0" + n.encode())
    # fuzz_rules: mode byte (0 predicate, 1 --rule, 2 rules file), then text
    predicates = [b"rel <= 0", b"rel <= 0.0085", b"rel <= 0.0085 or max_abs <= 1e-3",
                  b"1e-6 < rel <= 1e-3", b"not identical or rel < 1 and max_abs < 1",
                  b"identical or (nan == 0 and mean_abs != .5)", b"-inf < rel < 0x1p-10",
                  b"((rel >= 5.))", b"rel <= 1e-3f", b"rel = 1 && identical", b"(((rel < 1)"]
    for k, p in enumerate(predicates):
        put("fuzz_rules", "pred%02d" % k, b"\0" + p)
    specs = [b"attn.*=rel <= 0", b"k=v=rel<1", b"(?=moe)moe\\..*=rel <= 0.0085 or max_abs <= 1e-3",
             b"x<=rel<=1", b"layer.*=rel<=", b"a(=rel < 1", b"=identical"]
    for k, p in enumerate(specs):
        put("fuzz_rules", "spec%02d" % k, b"\1" + p)
    files = [b"# rules\n\nmoe\\..*\trel <= 0.0085 or max_abs <= 1e-3  # grads\r\n.* rel <= 0.0085\n",
             b"attn.* rel <= 0\nmlp.* rel <= 1 and\n", b"x.*=rel<1\n"]
    for k, p in enumerate(files):
        put("fuzz_rules", "file%02d" % k, b"\2" + p)
    # fuzz_dims: mode byte (0 dims, 1 --override-dims argument, 2 pickled meta), then text
    dims = [b"t h", b"t h[tp]", b"t[cp:zigzag,sp] 1 (num_heads*head_dim)[tp] # ep:replicated",
            b"t h # tp:replicated dp:=attn_dp", b"t h[attn_tp:partial] # tp:replicated",
            b"s[cp:zigzag+partial,sp:natural] b h[tp:sharded]#recompute_pseudo:replicated",
            b"t h[tp,]", b"(a*a) 1[tp]", b"h[tp] # tp:replicated dp:=a dp:=b", b"t (a * b)"]
    for k, p in enumerate(dims):
        put("fuzz_dims", "dims%02d" % k, b"\0" + p)
    args = [b"attn:t h[tp]", b" ^mlp\\.: t[cp:zigzag] h ", b"a(:t", b"x:t h[xp]", b".*:1 (a*b)"]
    for k, p in enumerate(args):
        put("fuzz_dims", "arg%02d" % k, bytes([1 + 3 * k]) + p)
    for n in sorted(os.listdir(os.path.join(FIX, "dims"))):
        if n.endswith(".pkl"):
            with open(os.path.join(FIX, "dims", n), "rb") as f:
                put("fuzz_dims", "meta-" + n[:-4], b"\2" + f.read())
    # fuzz_unshard: shards, dims, sizes, then length-prefixed pickled meta dicts
    import pickle
    def shard_meta(dims, **axes):
        info = {}
        for a, (r, n) in axes.items():
            info[a + "_rank"], info[a + "_size"] = r, n
        return pickle.dumps({"dims": dims, "sglang_parallel_info": info}, protocol=2)

    def unshard(n, ndim, sizes, metas):
        out = bytes([n - 1, ndim - 1]) + bytes(x - 1 for x in sizes)
        for m in metas:
            out += bytes([len(m) & 0xff, len(m) >> 8]) + m
        return out

    put("fuzz_unshard", "concat", unshard(2, 2, [2, 2, 2, 2], [shard_meta("t h[tp]", tp=(r, 2)) for r in range(2)]))
    put("fuzz_unshard", "partial", unshard(2, 2, [2, 3, 2, 3], [shard_meta("t h[tp:partial]", tp=(r, 2))
                                                                for r in range(2)]))
    put("fuzz_unshard", "replicated", unshard(2, 2, [2, 2, 2, 2], [shard_meta("t h # tp:replicated", tp=(r, 2))
                                                                   for r in range(2)]))
    put("fuzz_unshard", "zigzag", unshard(2, 3, [1, 4, 2, 1, 4, 2], [shard_meta("b s[cp:zigzag] h", cp=(r, 2))
                                                                     for r in range(2)]))
    put("fuzz_unshard", "tpcp", unshard(4, 2, [2, 2] * 4, [shard_meta("s[cp] h[tp]", tp=(r % 2, 2), cp=(r // 2, 2))
                                                          for r in range(4)]))
    put("fuzz_unshard", "fused", unshard(2, 2, [2, 4, 2, 4], [shard_meta("t (a*b)[tp]", tp=(r, 2)) for r in range(2)]))
    # fuzz_token_align: two sides of steps (step byte, field mask, fields)
    def ints(v, rows=None):
        return (bytes([rows]) if rows is not None else b"") + bytes([len(v)]) + bytes(x & 0xff for x in v)

    def sglang(steps, rids=True):
        out = bytes([len(steps), 1])
        for n, (ids, pos, lens, names) in enumerate(steps):
            out += bytes([n, 1 | 2 | 4 | (32 if rids else 0)]) + ints(ids, 0) + ints(pos) + ints(lens)
            if rids:
                out += bytes([len(names)]) + bytes(names)
        return out

    def megatron(ids, rows, cu=None, qkv=0):
        mask = 1 | 64 | (16 if cu is not None else 0)
        out = bytes([1, 0, 0, mask]) + ints(ids, rows)
        if cu is not None:
            out += ints(cu)
        return out + bytes([qkv])

    inference = [([10, 11, 12, 20, 21], [0, 1, 2, 0, 1], [3, 2], [0, 1]),
                 ([13, 22], [3, 2], [1, 1], [0, 1]), ([14, 23], [4, 3], [1, 1], [0, 1])]
    put("fuzz_token_align", "thd", sglang(inference) +
        megatron([20, 21, 22, 23, 24, 10, 11, 12, 13, 14, 30, 0, 0], 1, [0, 5, 10, 11, 13], 0))
    put("fuzz_token_align", "bshd", sglang(inference) +
        megatron([10, 11, 12, 13, 14, 0, 20, 21, 22, 23, 0, 0], 2, None, 1))
    put("fuzz_token_align", "rids", sglang(inference) + sglang(inference[:1]))
    put("fuzz_token_align", "norids", sglang(inference, False) +
        megatron([10, 11, 12, 20, 21, 0], 1, [0, 3, 5, 6], 0))
    # finding 6: a [3, 0] input_ids holding 1 id with cu_seqlens_q on a BSHD side
    put("fuzz_token_align", "crash-bshd-zero-columns",
        b"\x01\x00\x00Q\x03\x01\xb9\x02\x00\x01\x01'\x00\x02\r\x16\x02\x03\x02\x02\x01\x01\x02\x02"
        b"\x0e\x02\x00\x01\x01'?\x02\r\x16\x02\x03\x02\r\x16\x02\x03\x02\x02\x01\x01\x02\x00\x01\x02"
        b"\x02\x01\x01\x02\x00\x01\x02\x1e\x00\x00:\x01\r\x14\x15\x16\x17\x18\n\x0b\x0c\r\x0e\x1e"
        b"\xf5\xfe\r\x00")
    # fuzz_name_map: mode byte (0 one rule, 1 rule file), then text
    maps = [b"^decoder\\.=", b"self_attention\\.linear_proj=self_attn.o_proj", b"_=.", b"a(b)=$2",
            b"^layers\\.(\\d+)\\.(?<part>\\w+)$=blk${1}_${part}", b"(\\w+)=\\U$1\\E", b"a(?=b)=A",
            b"[=]=eq", b"\\Qa=b\\E=lit", b"(a+)+$=x", b"noequals", b"=x", b"^(a)?b=${1:+A:none}", b"x=\\q"]
    for k, p in enumerate(maps):
        put("fuzz_name_map", "rule%02d" % k, b"\0" + p)
    with open(os.path.join(FIX, "namemap", "rules.map"), "rb") as f:
        put("fuzz_name_map", "file-namemap", b"\1" + f.read())
    mapfiles = [b"# c\n\n  a=b  \r\nb=c\n", b"a=b\n  x(y=z\n", b"a=b\nc\0d=e\n"]
    for k, p in enumerate(mapfiles):
        put("fuzz_name_map", "file%02d" % k, b"\1" + p)
    # finding 7: rules matching the empty string, chained, grew a name geometrically
    put("fuzz_name_map", "timeout-geometric-growth",
        b"\x01# c\n\n  c*=\x07\x07\x07=\n\n  c*=\x07\x07\x07=\x07\x07\x07\n  c*=\x07\x07\x07\n  c*=\x07\x07\x07="
        b"\x07\x07\x07\x07\x07\x07\x07\x07  \x07\x07\x07 \r\nb=  \r\x01# \n\nc0_|=c_")
    # fuzz_report: mode byte (even: one JSON value, odd: a report), then text
    import json

    def rel(phase, name, idx, layer=0, rank=0):
        return "%s/step=0___rank=%d___dump_index=%d___name=%s___layer_id=%d.pt" % (phase, rank, idx, name, layer)

    def stats(v):
        s = {"mean": v, "std": 0.5, "min": -1.0, "max": 1.0}
        s.update({q: v for q in ("p1", "p5", "p50", "p95", "p99")})
        s.update({"nan": 0, "inf": 0})
        return s

    def pair(phase, name, idx, rel_diff, passed, **extra):
        b, t = rel(phase, name, idx), rel(phase, name, idx)
        r = {"type": "pair", "phase": phase, "layer": 0, "name": name, "rank": 0, "step": 0,
             "baseline": b, "target": t, "baseline_files": [b], "target_files": [t],
             "baseline_dtype": "bfloat16", "target_dtype": "bfloat16",
             "baseline_shape": [4, 8], "target_shape": [4, 8], "rel_diff": rel_diff,
             "max_abs_diff": 0.25, "mean_abs_diff": 0.01, "passed": passed,
             "rule": {"regex": ".*", "predicate": "rel <= 0.001", "origin": "catch-all"},
             "baseline_stats": stats(0.1), "target_stats": stats(0.2), "max_abs_diff_coord": [1, 2],
             "max_abs_diff_baseline": 0.5, "max_abs_diff_target": 0.75, "numel": 32, "identical": 3,
             "baseline_dims": None, "target_dims": None, "plan": None, "aligned_shape": [4, 8],
             "replicated_checks": [], "max_abs_diff_shard": None, "replica_mismatch": False,
             "token_aligner": "none", "per_sequence": None}
        r.update(extra)
        return r

    def summary(records, warnings=()):
        c = {"passed": 0, "failed": 0, "skipped": 0, "errored": 0}
        first = None
        for r in records:
            if r["type"] == "pair" and "error" in r and r.get("_err"):
                c["errored"] += 1
            elif r["type"] == "pair" and "error" in r:
                c["failed"] += 1
            elif r["type"] == "pair":
                c["passed" if r["passed"] else "failed"] += 1
            elif r["type"] in ("unmatched", "non_tensor", "skip"):
                c["skipped"] += 1
            if r["type"] == "pair" and ("error" in r or not r["passed"]) and first is None:
                first = {"phase": r["phase"], "layer": r["layer"], "name": r["name"], "rank": 0, "step": 0,
                         "target": r["target"], "rel_diff": r["rel_diff"]}
        s = {"type": "summary"}
        s.update(c)
        s.update({"total": sum(c.values()), "first_divergence": first, "replica_mismatches": 0,
                  "first_replica_mismatch": None, "token_alignment": None,
                  "diagnosis": "First divergence: \u00e9", "warnings": list(warnings)})
        return s

    def report(records, warnings=()):
        lines = []
        for r in records:
            r = dict(r)
            err = r.pop("_err", False)
            lines.append(json.dumps(r, separators=(",", ":")))
            if err:
                lines.append(json.dumps({"type": "error", "phase": r["phase"], "file": r["target"],
                                         "message": r["error"]}, separators=(",", ":")))
        lines.append(json.dumps(summary(records, warnings), separators=(",", ":")))
        return ("\n".join(lines) + "\n").encode()

    ok = [pair("inference", "attn", 1, 0.0, True), pair("inference", "mlp", 2, 0.03, False)]
    mixed = ok + [
        pair("inference", "bad", 3, None, False, error="inference/x.pt: cannot read", _err=True,
             baseline_stats=None, target_stats=None, max_abs_diff_coord=None),
        pair("inference", "shape", 4, None, False, error="shape mismatch: [4, 8] vs [8, 4]",
             target_shape=[8, 4], max_abs_diff_coord=None),
        {"type": "unmatched", "phase": "fwd_bwd", "side": "target", "file": rel("fwd_bwd", "extra", 9),
         "name": "extra", "files": [rel("fwd_bwd", "extra", 9)]},
        {"type": "non_tensor", "phase": "fwd_bwd", "name": "cfg", "equal": True, "layer": None, "rank": 0,
         "step": 0, "baseline": rel("fwd_bwd", "cfg", 5), "target": rel("fwd_bwd", "cfg", 5),
         "baseline_files": [rel("fwd_bwd", "cfg", 5)], "target_files": [rel("fwd_bwd", "cfg", 5)]},
    ]
    tp = rel("fwd_bwd", "w", 6, rank=1)
    logical = [pair("fwd_bwd", "w", 6, "nan", False, baseline_dims="t h", target_dims="t h[tp]",
                    plan="target: tp: 2x[4, 4] -> [4, 8] (concat h)",
                    target_files=[rel("fwd_bwd", "w", 6), tp],
                    replicated_checks=[{"side": "target", "axis": "tp", "passed": False, "max_abs_diff": "inf",
                                        "ranks": [0, None]}],
                    max_abs_diff_shard={"file": tp, "rank": 1, "coord": [1, 0], "ranks": [0, 1]},
                    replica_mismatch=True, token_aligner="smart",
                    per_sequence=[{"id": "rid\udcff", "tokens": 4, "rel_diff": 0.5, "max_abs_diff": 1,
                                   "mean_abs_diff": 0.1, "passed": False}])]
    put("fuzz_report", "ok", b"\1" + report(ok))
    put("fuzz_report", "mixed", b"\1" + report(mixed, ["target: 1 of 3 files have no partner"]))
    put("fuzz_report", "logical", b"\1" + report(logical))
    put("fuzz_report", "truncated", b"\1" + report(ok)[:300])
    for k, v in enumerate([b'{"a":[1,-2.5e3,true,false,null],"b":"x\\u00e9\\ud83d\\ude00\\udcff"}',
                           b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                           b'"\\ud800\\u0041"', b"1e999", b'{"k":"\xf0\x9f\x98\x80"}']):
        put("fuzz_report", "json%02d" % k, b"\0" + v)
    for h in sorted(os.listdir(OUT)):
        print(h, len(os.listdir(os.path.join(OUT, h))))


main()
