#!/bin/sh
# dumpview compare's pass rules, exit status and sglang-jsonl report: see test_compare_rules.py.
: "${DUMPVIEW:?}" "${EXAMPLES:?}" "${FIXTURES:?}" "${TESTS_SRCDIR:?}"
# python finds dvtest.py beside the script; -B keeps __pycache__ out of the source tree.
exec python3 -B "$TESTS_SRCDIR/test_compare_rules.py" "$@"
