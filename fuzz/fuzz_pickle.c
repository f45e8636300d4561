/* libFuzzer: the bare pickle machine (pt_open_pickle): every opcode, the
 * stack, marks, memo, limits; tensors come out without data. */
#include <stddef.h>
#include <stdint.h>

#include "walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_pt_one(data, size, 1);
	return 0;
}
