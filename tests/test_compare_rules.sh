#!/bin/sh
# dumpview compare's pass rules, exit status and sglang-jsonl report: see test_compare_rules.py.
: "${DUMPVIEW:?}" "${EXAMPLES:?}" "${FIXTURES:?}" "${TESTS_SRCDIR:?}"
exec python3 "$TESTS_SRCDIR/test_compare_rules.py" "$@"
