#!/bin/sh
# dumpview compare end to end against torch's answers: see test_compare.py.
: "${DUMPVIEW:?}" "${EXAMPLES:?}" "${FIXTURES:?}" "${TESTS_SRCDIR:?}"
# python finds dvtest.py beside the script; -B keeps __pycache__ out of the source tree.
exec python3 -B "$TESTS_SRCDIR/test_compare.py" "$@"
