/* libFuzzer: the --name-map rule parser and the substitution. Input: one
 * mode byte, then text. Mode % 2 == 0: one rule (dv_name_map_add); 1: a
 * rule file (dv_name_map_add_text). Checked: an error has a message with a
 * column within the text (+1 for the end) and adds no rule; the rules then
 * rename a set of names and the first bytes of the input, deterministically,
 * with "unchanged" meaning no new string and a change a different one. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpview/name_map.h"

#define MAX_TEXT 2048
#define MAX_NAME 64

static const char *const probes[] = {
	"decoder.layers.3.self_attention.linear_proj",
	"layers.3.self_attn.o_proj",
	"",
	"a=b",
	"\xff\xfe not utf-8",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
};

static void check_apply(const dv_name_map *m, const char *name)
{
	dv_error err = { "" };
	char *a = NULL, *b = NULL;
	int ra = dv_name_map_apply(m, name, &a, &err), rb;

	if (ra < 0) {
		assert(a == NULL && err.msg[0] != '\0');
		return;
	}
	if (ra == 0)
		assert(a == NULL);
	else
		assert(a != NULL && strcmp(a, name) != 0);
	rb = dv_name_map_apply(m, name, &b, &err);
	assert(rb == ra);
	assert((a == NULL) == (b == NULL) && (!a || !strcmp(a, b)));
	free(a);
	free(b);
}

/* "column N: ..." with 1 <= N <= limit */
static void check_column(const char *msg, size_t limit)
{
	size_t col = 0;

	assert(sscanf(msg, "column %zu: ", &col) == 1);
	assert(col >= 1 && col <= limit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[MAX_TEXT + 1], name[MAX_NAME + 1];
	size_t len, nlen;
	dv_name_map *m;
	dv_error err = { "" };

	if (size < 1 || size - 1 > MAX_TEXT)
		return 0;
	len = size - 1;
	memcpy(text, data + 1, len);
	text[len] = '\0';
	nlen = strnlen(text, len < MAX_NAME ? len : MAX_NAME);
	memcpy(name, text, nlen);
	name[nlen] = '\0';
	if (!(m = dv_name_map_new()))
		return 0;
	if (data[0] % 2 == 0) {
		size_t col = 0;

		if (dv_name_map_add(m, text, NULL, &col, &err) < 0) {
			assert(err.msg[0] != '\0' && dv_name_map_count(m) == 0);
			check_column(err.msg, strlen(text) + 1);
			assert(col >= 1 && col <= strlen(text) + 1);
		} else {
			assert(dv_name_map_count(m) == 1 && !strcmp(dv_name_map_rule(m, 0), text));
		}
	} else {
		size_t line = 0;

		if (dv_name_map_add_text(m, (const char *)data + 1, len, "fuzz", &line, &err) < 0) {
			char prefix[32];
			const char *rest;

			snprintf(prefix, sizeof(prefix), "fuzz:%zu: ", line);
			assert(!strncmp(err.msg, prefix, strlen(prefix)));
			rest = err.msg + strlen(prefix);
			if (strncmp(rest, "out of memory", 13))
				check_column(rest, len + 1);
		}
		for (size_t i = 0; i < dv_name_map_count(m); i++)
			assert(dv_name_map_rule(m, i) && !strncmp(dv_name_map_origin(m, i), "fuzz:", 5));
	}
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		check_apply(m, probes[i]);
	check_apply(m, name);
	dv_name_map_free(m);
	return 0;
}
