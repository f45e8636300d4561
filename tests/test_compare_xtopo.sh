#!/bin/sh
# dumpview compare across parallel layouts (logical tensors): see test_compare_xtopo.py.
: "${DUMPVIEW:?}" "${FIXTURES:?}" "${TESTS_SRCDIR:?}"
exec python3 -B "$TESTS_SRCDIR/test_compare_xtopo.py" "$@"
