/* libFuzzer: bytes -> pt_open_buffer (zip, legacy or anything else) ->
 * the object tree -> every tensor's extent check -> element reads. */
#include <stddef.h>
#include <stdint.h>

#include "walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_pt_one(data, size, 0);
	return 0;
}
