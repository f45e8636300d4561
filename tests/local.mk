# tests shared by several areas (included by the top Makefile.am).
