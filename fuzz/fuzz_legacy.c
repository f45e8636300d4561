/* libFuzzer: the legacy (non-zip) torch.save format. The input follows the
 * magic-number pickle, which the harness writes itself so that every input
 * reaches the legacy reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "walk.h"

static const uint8_t legacy_magic[] = {
	0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
	0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(sizeof legacy_magic + size);

	if (buf == NULL)
		return 0;
	memcpy(buf, legacy_magic, sizeof legacy_magic);
	if (size)
		memcpy(buf + sizeof legacy_magic, data, size);
	fuzz_pt_one(buf, sizeof legacy_magic + size, 0);
	free(buf);
	return 0;
}
