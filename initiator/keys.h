/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iSCSI text keys (RFC 7143 section 6): the "key=value\0" pairs carried in
 * Login and Text PDUs, their accumulation across PDUs with the C bit, and
 * the values shared by several users (numbers, TargetAddress).
 */
#ifndef ISA_KEYS_H
#define ISA_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

/* RFC 7143 6.1: key names are at most 63 bytes, values at most 8192. */
#define TEXT_KEY_MAX   63
#define TEXT_VALUE_MAX 8192

#define TEXT_ERROR text_error_quark()
GQuark text_error_quark(void);

/* Codes of TEXT_ERROR. */
enum text_error {
	TEXT_ERROR_MALFORMED,
	TEXT_ERROR_TOO_LONG,
};

/**
 * struct text_pair - one key=value pair received from the peer.
 * @key: the key name, NUL-terminated
 * @value: the value, NUL-terminated, possibly empty
 */
struct text_pair {
	char *key;
	char *value;
};

/*
 * Parse a complete text data segment into a GPtrArray of struct text_pair *
 * (freed with the array). An empty segment gives an empty array. Returns
 * NULL with @err set for a malformed segment or a duplicated key.
 */
GPtrArray *text_parse(const uint8_t *data, size_t len, GError **err);

/*
 * Like text_parse(), but a key may repeat, as TargetName and TargetAddress
 * do in a SendTargets response.
 */
GPtrArray *text_parse_list(const uint8_t *data, size_t len, GError **err);

/* The value of @key in @pairs, or NULL. */
const char *text_lookup(const GPtrArray *pairs, const char *key);

/* Append "key=value\0" to @out. */
void text_append(GByteArray *out, const char *key, const char *value);

/* Append "key=number\0" to @out. */
void text_append_uint(GByteArray *out, const char *key, uint32_t value);

/*
 * Parse a numerical value (RFC 7143 6.1: decimal, or hex with a 0x prefix)
 * within @min..@max. On error @err names @key and the range.
 */
bool text_parse_uint(const char *key, const char *value, uint32_t min, uint32_t max, uint32_t *out,
		     GError **err);

/*
 * Parse a TargetAddress value "host[:port][,tpgt]" where host may be a
 * bracketed IPv6 literal ("[::1]:3260,1"). @port defaults to 3260 and
 * @tpgt to 0 (with @has_tpgt false when absent). @host is newly allocated,
 * without brackets.
 */
bool text_parse_address(const char *value, char **host, uint16_t *port, uint16_t *tpgt,
			bool *has_tpgt, GError **err);

/**
 * struct text_accum - text of one logical Login/Text response that the
 * target may split over several PDUs (C bit), even in the middle of a pair.
 * @buf: bytes received so far
 * @limit: most bytes we accept in total; the bound against a target that
 *	   never stops continuing
 */
struct text_accum {
	GByteArray *buf;
	size_t limit;
};

void text_accum_init(struct text_accum *a, size_t limit);

/* Add one PDU's data segment. Fails when the total would exceed the limit. */
int text_accum_add(struct text_accum *a, const uint8_t *data, size_t len, GError **err);

/* Forget the accumulated text, keeping the limit. */
void text_accum_clear(struct text_accum *a);

/* Release the buffer. */
void text_accum_free(struct text_accum *a);

#endif
