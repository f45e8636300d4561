/* libFuzzer: file-name tags (dv_parse_tags) and the default layer regex on
 * the same name (dv_layer_from_name), as the dump model applies them to
 * every file of a run. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/dump.h"

/* A layer number the regex found must be written in the name: no silent
 * truncation of "layers.99999999999" to some other int. Only checked when
 * every digit run is short enough to be an int. */
static int digits_fit_int(const char *s)
{
	size_t run = 0;

	for (; *s; s++) {
		run = (*s >= '0' && *s <= '9') ? run + 1 : 0;
		if (run > 9)
			return 0;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static pcre2_code *layer_re;
	dv_tag *tags = NULL;
	dv_error err;
	char *name, num[24];
	size_t n, k;
	int layer;

	if (layer_re == NULL) {
		layer_re = dv_regex_compile(DV_DEFAULT_LAYER_REGEX, false, &err);
		assert(layer_re != NULL);
	}
	name = malloc(size + 1);
	if (name == NULL)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';

	n = dv_parse_tags(name, &tags);
	assert(n == 0 || tags != NULL);
	for (k = 0; k < n; k++) {
		assert(tags[k].key != NULL && tags[k].value != NULL);
		/* parts are split on "___" and on their first '=' */
		assert(strstr(tags[k].key, "___") == NULL);
		assert(strstr(tags[k].value, "___") == NULL);
		assert(strchr(tags[k].key, '=') == NULL);
		assert(strlen(tags[k].key) + strlen(tags[k].value) < size);
	}
	dv_free_tags(tags, n);

	layer = dv_layer_from_name(layer_re, name);
	assert(layer >= -1);
	if (layer >= 0 && digits_fit_int(name)) {
		snprintf(num, sizeof num, "%d", layer);
		assert(strstr(name, num) != NULL);
	}
	free(name);
	return 0;
}
