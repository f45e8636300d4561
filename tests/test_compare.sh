#!/bin/sh
# dumpview compare end to end against torch's answers: see test_compare.py.
: "${DUMPVIEW:?}" "${EXAMPLES:?}" "${FIXTURES:?}" "${TESTS_SRCDIR:?}"
exec python3 "$TESTS_SRCDIR/test_compare.py" "$@"
