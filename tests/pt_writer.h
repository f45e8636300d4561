/* Writing small .pt files for the tests: torch.save's pickle of one tensor
 * (_rebuild_tensor_v2 over storage '0') and a zip holding it, by libzip.
 * Include after <cmocka.h> (asserts); little-endian hosts, as the suite. */
#ifndef DV_TESTS_PT_WRITER_H
#define DV_TESTS_PT_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zip.h>

static inline size_t pt_writer_str(uint8_t *p, const char *s)
{
	size_t n = strlen(s);

	p[0] = 'X';
	p[1] = (uint8_t)n, p[2] = p[3] = p[4] = 0;
	memcpy(p + 5, s, n);
	return 5 + n;
}

static inline size_t pt_writer_int(uint8_t *p, uint32_t v)
{
	p[0] = 'J';
	memcpy(p + 1, &v, 4);
	return 5;
}

/* The pickle of a 2-d tensor over storage cls ("FloatStorage",
 * "BFloat16Storage") of numel elements: offset off, shape (s0, s1),
 * strides (st0, st1). */
static inline size_t pt_writer_pickle(uint8_t *p, const char *cls, uint32_t numel, uint32_t off, uint32_t s0,
				      uint32_t s1, uint32_t st0, uint32_t st1)
{
	size_t n = 0;
	char g2[64];
	static const char g1[] = "ctorch._utils\n_rebuild_tensor_v2\n", g3[] = "ccollections\nOrderedDict\n";

	snprintf(g2, sizeof(g2), "ctorch\n%s\n", cls);
	p[n++] = 0x80, p[n++] = 2;
	memcpy(p + n, g1, sizeof(g1) - 1), n += sizeof(g1) - 1;
	p[n++] = '(', p[n++] = '(';
	n += pt_writer_str(p + n, "storage");
	memcpy(p + n, g2, strlen(g2)), n += strlen(g2);
	n += pt_writer_str(p + n, "0");
	n += pt_writer_str(p + n, "cpu");
	n += pt_writer_int(p + n, numel);
	p[n++] = 't', p[n++] = 'Q';
	n += pt_writer_int(p + n, off);
	n += pt_writer_int(p + n, s0), n += pt_writer_int(p + n, s1), p[n++] = 0x86;
	n += pt_writer_int(p + n, st0), n += pt_writer_int(p + n, st1), p[n++] = 0x86;
	p[n++] = 0x89;
	memcpy(p + n, g3, sizeof(g3) - 1), n += sizeof(g3) - 1;
	p[n++] = ')', p[n++] = 'R', p[n++] = 't', p[n++] = 'R', p[n++] = '.';
	return n;
}

/* A zip at path of the pickle and the storage's bytes (stored, or deflated). */
static inline void pt_writer_zip(const char *path, const uint8_t *pkl, size_t pkl_len, const void *data,
				 size_t nbytes, bool deflate)
{
	int zerr;
	zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);

	assert_non_null(z);
	zip_source_t *s1 = zip_source_buffer(z, pkl, pkl_len, 0);
	zip_source_t *s2 = zip_source_buffer(z, data, nbytes, 0);
	zip_int64_t i1 = zip_file_add(z, "x/data.pkl", s1, 0), i2 = zip_file_add(z, "x/data/0", s2, 0);

	assert_true(i1 >= 0 && i2 >= 0);
	zip_set_file_compression(z, i1, ZIP_CM_STORE, 0);
	zip_set_file_compression(z, i2, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
	assert_int_equal(zip_close(z), 0);
}

#endif
