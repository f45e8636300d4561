# src/metrics: sources and tests of this area (included by the top Makefile.am).
