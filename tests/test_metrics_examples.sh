#!/bin/sh
# The metrics layer on the bundled example dumps against torch's numbers
# (examples/expected.json): rel_diff within 1e-9 relative or 1e-15 absolute,
# max_abs_diff exact, mean_abs_diff within 1e-6 relative, mean/std within
# 1e-9 relative, min/max and the max |t-b| coordinate exact, passed; and the
# quantiles exactly as torch 2.11 computes them (tests/fixtures/metrics/).
: "${EXAMPLES:?}"
exec python3 "${TESTS_SRCDIR:-$(dirname "$0")}/metrics_examples.py" "$EXAMPLES" "./tests/metrics_dump" "${FIXTURES:?}"
