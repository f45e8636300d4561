/* Shared by the .pt harnesses: walks a parsed file the way `dumpview show`
 * does (every node, every tensor's extent check, element reads) and asserts
 * the invariants the reader promises in include/dumpview/pt.h. */
#ifndef DUMPVIEW_FUZZ_WALK_H
#define DUMPVIEW_FUZZ_WALK_H

#include <stddef.h>
#include <stdint.h>

/* Opens data with pt_open_buffer (or pt_open_pickle when bare_pickle),
 * walks it, closes it. */
void fuzz_pt_one(const uint8_t *data, size_t size, int bare_pickle);

#endif
