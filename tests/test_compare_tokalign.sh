#!/bin/sh
# dumpview compare --token-aligner: see test_compare_tokalign.py.
: "${DUMPVIEW:?}" "${FIXTURES:?}" "${TESTS_SRCDIR:?}"
exec python3 -B "$TESTS_SRCDIR/test_compare_tokalign.py" "$@"
