# fuzz harnesses (included by the top Makefile.am).
