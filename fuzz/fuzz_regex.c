/* libFuzzer: the regex path (dv_regex_compile, dv_regex_test,
 * dv_layer_from_name) with a fuzzed pattern (--layer-regex / filter) against
 * a fuzzed subject. Input: one flag byte (bit 0: smart case), the pattern up
 * to the first NUL, then the subject. Both are capped so that backtracking
 * stays within pcre2's match limit in reasonable time. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dump.h"

#define MAX_PATTERN 128
#define MAX_SUBJECT 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char pattern[MAX_PATTERN + 1], subject[MAX_SUBJECT + 1];
	const uint8_t *nul;
	size_t plen, slen;
	pcre2_code *re;
	dv_error err;
	int layer;

	if (size < 1)
		return 0;
	nul = memchr(data + 1, '\0', size - 1);
	plen = nul ? (size_t)(nul - (data + 1)) : size - 1;
	if (plen > MAX_PATTERN)
		return 0;
	memcpy(pattern, data + 1, plen);
	pattern[plen] = '\0';
	slen = nul ? size - 1 - plen - 1 : 0;
	if (slen > MAX_SUBJECT)
		slen = MAX_SUBJECT;
	if (slen)
		memcpy(subject, nul + 1, slen);
	subject[slen] = '\0';

	err.msg[0] = '\0';
	re = dv_regex_compile(pattern, data[0] & 1, &err);
	if (re == NULL) {
		assert(err.msg[0] != '\0');
		assert(memchr(err.msg, '\0', sizeof err.msg) != NULL);
		return 0;
	}
	(void)dv_regex_test(re, subject);
	(void)dv_regex_test(re, pattern);
	layer = dv_layer_from_name(re, subject);
	assert(layer >= -1);
	pcre2_code_free(re);
	return 0;
}
