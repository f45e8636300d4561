/* Bytes that come from outside (file and folder names, tag values, strings in
 * a file) are escaped before they reach a terminal: a name may hold ESC
 * sequences that retitle, recolour or rewrite the user's terminal.
 *
 * Escaped: C0 controls (0x00-0x1f), DEL (0x7f) and every byte that is not
 * part of valid UTF-8 as "\xNN" (lower-case hex, e.g. ESC is "\x1b"); the
 * C1 controls U+0080-U+009F and the bidirectional overrides U+202A-U+202E,
 * U+2066-U+2069 (which reorder what the user reads) as "\uNNNN". Everything
 * else, including valid multi-byte UTF-8, passes unchanged. Backslash itself
 * is not escaped: the form is for reading, not for parsing back. */
#ifndef DUMPVIEW_ESCAPE_H
#define DUMPVIEW_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Length (1-4) of the valid UTF-8 sequence at s[0..len) and its code point
 * in *cp; 0 when the bytes there are not valid UTF-8 (overlong, surrogate,
 * above U+10FFFF, truncated). Reads no byte past the first that fails, so a
 * NUL-terminated string may be passed with len 4. */
size_t dv_utf8_decode(const char *s, size_t len, uint32_t *cp);

/* True when s[0..len) needs no escaping. */
bool dv_term_safe(const char *s, size_t len);

/* One step of the escaper: the unit at s[0..len) (len > 0). Sets *unit_len to
 * the bytes it takes from s; when it must be escaped, writes its escape
 * (NUL-terminated, at most 7 bytes) to esc and returns true; otherwise the
 * unit passes as is and it returns false. */
bool dv_term_unit(const char *s, size_t len, size_t *unit_len, char esc[8]);

/* snprintf-style: writes the escaped form of s[0..len) to out (always
 * NUL-terminated when size > 0) and returns the length it needs. */
size_t dv_term_escape(char *out, size_t size, const char *s, size_t len);

/* The escaped form of the C string s, malloc'd (NULL when out of memory). */
char *dv_term_escape_dup(const char *s);

/* Writes the escaped form of the C string s to f. */
void dv_term_fputs(const char *s, FILE *f);

/* fprintf to f with the whole formatted text escaped: for messages that quote
 * names (one line each; an embedded newline shows as "\x0a"). A trailing
 * newline in fmt's output is kept as a newline. */
void dv_term_fprintf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
