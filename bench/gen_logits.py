#!/usr/bin/env python3
"""Writes one large logits-like pair per dtype with torch.save, for the
one-big-pair figures of run.sh (`-L`):
  OUTDIR/logits-float32/{baseline,target}/sglang_dump_1764130000.00/<name>.pt  [1765, 152064] float32
  OUTDIR/logits-bfloat16/{baseline,target}/...                                  [3530, 152064] bfloat16
about 1.07 GB a file, 2.1 GB a pair. Deterministic (torch.manual_seed). The
target perturbs 1/8 of the elements by 1e-3 of the scale (passes at 1e-3).
With --small: logits-small-{float32,bfloat16} of 48 and 96 rows (29 MB a file),
for the element-wise export (a full export of the big pair is 16 GB of CSV).
With --dense: logits-dense-{float32,bfloat16}, the big pair's shapes with
every element of the target moved (by 2 % of itself: also in bfloat16), the
detail pane's worst case (no |t-b| of zero to skip).
usage: /usr/bin/python3 gen_logits.py [--small|--dense] OUTDIR   (needs torch)"""
import os, sys

import torch

VOCAB = 152064
NAME = "step=0___rank=0___dump_index=1___name=logits___recompute_status=disabled___layer_id=0.pt"


def meta():
    return {"step": 0, "rank": 0, "dump_index": 1, "name": "logits", "recompute_status": "disabled",
            "layer_id": 0, "world_rank": 0, "world_size": 1, "dims": "t h",
            "sglang_parallel_info": {"tp_rank": 0, "tp_size": 1}}


def main():
    small = sys.argv[1] == "--small"
    dense = sys.argv[1] == "--dense"
    out = sys.argv[-1]
    for dtype, rows in ((torch.float32, 1765), (torch.bfloat16, 3530)):
        if small:
            rows //= 36.77
            rows = int(rows)
        top = os.path.join(out, ("logits-small-" if small else "logits-dense-" if dense else "logits-") +
                           str(dtype).split(".")[1])
        paths = [os.path.join(top, side, "sglang_dump_1764130000.00", NAME) for side in ("baseline", "target")]
        if all(os.path.exists(p) for p in paths):
            continue
        torch.manual_seed(1234)
        base = torch.randn(rows, VOCAB) * 3.0
        if dense:
            targ = base * (1 + torch.randn(rows, VOCAB) * 2e-2)
        else:
            mask = torch.rand(rows, VOCAB) < 0.125
            targ = base + mask * torch.randn(rows, VOCAB) * 3e-3
            del mask
        for p, v in zip(paths, (base, targ)):
            os.makedirs(os.path.dirname(p), exist_ok=True)
            torch.save({"value": v.to(dtype), "meta": meta()}, p + ".tmp")
            os.rename(p + ".tmp", p)
        del base, targ
        print("%s: [%d, %d] %s" % (top, rows, VOCAB, dtype))


if __name__ == "__main__":
    main()
