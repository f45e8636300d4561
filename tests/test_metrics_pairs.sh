#!/bin/sh
# The metrics layer on pairs written by torch.save (fp32 vs bf16, shape unify
# and mismatch, int64 beyond 2^24, NaN/Inf, a transposed view, fp16, the bf16
# histogram path, 0-dim, int32 ids) against the values torch computes
# (tests/fixtures/metrics/gen_pairs.py made both).
exec python3 "${TESTS_SRCDIR:-$(dirname "$0")}/metrics_pairs.py" "./tests/metrics_dump" "${FIXTURES:?}"
