// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * iSCSI text key=value pairs: parsing, building, accumulation.
 */
#include <string.h>

#include "common/iscsi-proto.h"
#include "initiator/keys.h"

G_DEFINE_QUARK(isa - text - error - quark, text_error)

static void text_pair_free(gpointer p)
{
	struct text_pair *tp = p;

	g_free(tp->key);
	g_free(tp->value);
	g_free(tp);
}

/* RFC 7143 6.1: letters, digits and . - + @ _ only. */
static bool key_char_ok(char c)
{
	return g_ascii_isalnum(c) || c == '.' || c == '-' || c == '+' || c == '@' || c == '_';
}

static bool check_key(const char *key, size_t klen, GError **err)
{
	size_t i;

	if (klen == 0) {
		g_set_error(err, TEXT_ERROR, TEXT_ERROR_MALFORMED, "text key with an empty name");
		return false;
	}
	if (klen > TEXT_KEY_MAX) {
		g_set_error(err, TEXT_ERROR, TEXT_ERROR_TOO_LONG,
			    "text key name longer than %d bytes", TEXT_KEY_MAX);
		return false;
	}
	for (i = 0; i < klen; i++) {
		if (!key_char_ok(key[i])) {
			g_set_error(err, TEXT_ERROR, TEXT_ERROR_MALFORMED,
				    "text key \"%.*s\" has an invalid character (0x%02x)",
				    (int)klen, key, (unsigned char)key[i]);
			return false;
		}
	}
	return true;
}

/*
 * Every pair must end with a NUL inside @len; that also guarantees no
 * read ever goes past the segment.
 */
static GPtrArray *parse_pairs(const uint8_t *data, size_t len, bool unique, GError **err)
{
	g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func(text_pair_free);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	size_t off = 0;

	while (off < len) {
		const char *start = (const char *)data + off;
		const char *nul = memchr(start, '\0', len - off);
		const char *eq;
		size_t plen, klen, vlen;
		struct text_pair *tp;

		if (!nul) {
			g_set_error(err, TEXT_ERROR, TEXT_ERROR_MALFORMED,
				    "text data ends without a NUL after \"%.*s\"",
				    (int)MIN(len - off, 64), start);
			return NULL;
		}
		plen = (size_t)(nul - start);
		eq = memchr(start, '=', plen);
		if (!eq) {
			g_set_error(err, TEXT_ERROR, TEXT_ERROR_MALFORMED,
				    "text pair \"%.*s\" has no '='", (int)MIN(plen, 64), start);
			return NULL;
		}
		klen = (size_t)(eq - start);
		vlen = plen - klen - 1;
		if (!check_key(start, klen, err))
			return NULL;
		if (vlen > TEXT_VALUE_MAX) {
			g_set_error(err, TEXT_ERROR, TEXT_ERROR_TOO_LONG,
				    "value of text key %.*s is %zu bytes, more than %d", (int)klen,
				    start, vlen, TEXT_VALUE_MAX);
			return NULL;
		}
		tp = g_new(struct text_pair, 1);
		tp->key = g_strndup(start, klen);
		tp->value = g_strndup(eq + 1, vlen);
		if (unique && !g_hash_table_add(seen, tp->key)) {
			g_set_error(err, TEXT_ERROR, TEXT_ERROR_MALFORMED,
				    "text key %s appears twice", tp->key);
			text_pair_free(tp);
			return NULL;
		}
		g_ptr_array_add(pairs, tp);
		off += plen + 1;
	}
	return g_steal_pointer(&pairs);
}

/**
 * text_parse() - split a text data segment into key/value pairs.
 * @data: the data segment (without padding)
 * @len: its length
 * @err: set on failure, a repeated key included
 *
 * Return: array of struct text_pair *, or NULL with @err set.
 */
GPtrArray *text_parse(const uint8_t *data, size_t len, GError **err)
{
	return parse_pairs(data, len, true, err);
}

GPtrArray *text_parse_list(const uint8_t *data, size_t len, GError **err)
{
	return parse_pairs(data, len, false, err);
}

const char *text_lookup(const GPtrArray *pairs, const char *key)
{
	guint i;

	for (i = 0; i < pairs->len; i++) {
		const struct text_pair *tp = g_ptr_array_index(pairs, i);

		if (strcmp(tp->key, key) == 0)
			return tp->value;
	}
	return NULL;
}

void text_append(GByteArray *out, const char *key, const char *value)
{
	g_byte_array_append(out, (const guint8 *)key, (guint)strlen(key));
	g_byte_array_append(out, (const guint8 *)"=", 1);
	g_byte_array_append(out, (const guint8 *)value, (guint)strlen(value) + 1);
}

void text_append_uint(GByteArray *out, const char *key, uint32_t value)
{
	char buf[16];

	g_snprintf(buf, sizeof(buf), "%u", value);
	text_append(out, key, buf);
}

bool text_parse_uint(const char *key, const char *value, uint32_t min, uint32_t max, uint32_t *out,
		     GError **err)
{
	guint64 v;
	const char *digits = value;
	guint base = 10;

	if (g_str_has_prefix(value, "0x") || g_str_has_prefix(value, "0X")) {
		digits = value + 2;
		base = 16;
	}
	/* g_ascii_string_to_unsigned() accepts a sign; RFC numbers have none. */
	if (!g_ascii_isxdigit(digits[0]) ||
	    !g_ascii_string_to_unsigned(digits, base, min, max, &v, NULL)) {
		g_set_error(err, TEXT_ERROR, TEXT_ERROR_MALFORMED,
			    "%s=%s: not a number in the range %u..%u", key, value, min, max);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

/**
 * text_parse_address() - split a TargetAddress value.
 * @value: "host[:port][,tpgt]"; host is a DNS name, IPv4 address or a
 *	   bracketed IPv6 address
 * @host: newly allocated host without brackets
 * @port: the port, 3260 when absent
 * @tpgt: the portal group tag, 0 when absent
 * @has_tpgt: whether the tag was present
 * @err: set on failure
 *
 * Return: true on success.
 */
bool text_parse_address(const char *value, char **host, uint16_t *port, uint16_t *tpgt,
			bool *has_tpgt, GError **err)
{
	const char *comma = strrchr(value, ',');
	g_autofree char *hostport =
	    comma ? g_strndup(value, (gsize)(comma - value)) : g_strdup(value);
	g_autofree char *h = NULL;
	const char *port_str = NULL;
	uint32_t v;

	*has_tpgt = false;
	*tpgt = 0;
	*port = ISCSI_DEFAULT_PORT;
	if (hostport[0] == '[') {
		char *close = strchr(hostport, ']');

		if (!close || close == hostport + 1) {
			g_set_error(err, TEXT_ERROR, TEXT_ERROR_MALFORMED,
				    "TargetAddress %s: unterminated or empty [IPv6] address",
				    value);
			return false;
		}
		h = g_strndup(hostport + 1, (gsize)(close - hostport - 1));
		if (close[1] == ':') {
			port_str = close + 2;
		} else if (close[1] != '\0') {
			g_set_error(err, TEXT_ERROR, TEXT_ERROR_MALFORMED,
				    "TargetAddress %s: unexpected text after ']'", value);
			return false;
		}
	} else {
		char *colon = strchr(hostport, ':');

		if (colon && strchr(colon + 1, ':')) {
			g_set_error(err, TEXT_ERROR, TEXT_ERROR_MALFORMED,
				    "TargetAddress %s: an IPv6 address must be in [brackets]",
				    value);
			return false;
		}
		h = colon ? g_strndup(hostport, (gsize)(colon - hostport)) : g_strdup(hostport);
		if (colon)
			port_str = colon + 1;
	}
	if (h[0] == '\0') {
		g_set_error(err, TEXT_ERROR, TEXT_ERROR_MALFORMED, "TargetAddress %s: no host",
			    value);
		return false;
	}
	if (port_str) {
		if (!text_parse_uint("TargetAddress port", port_str, 1, 65535, &v, err))
			return false;
		*port = (uint16_t)v;
	}
	if (comma) {
		if (!text_parse_uint("TargetAddress portal group tag", comma + 1, 0, 65535, &v,
				     err))
			return false;
		*tpgt = (uint16_t)v;
		*has_tpgt = true;
	}
	*host = g_steal_pointer(&h);
	return true;
}

void text_accum_init(struct text_accum *a, size_t limit)
{
	a->buf = g_byte_array_new();
	a->limit = limit;
}

/**
 * text_accum_add() - append one PDU's text to a continued response.
 * @a: the accumulator
 * @data: the PDU's data segment
 * @len: its length
 * @err: set when the total would pass @a->limit
 *
 * Return: 0, or -1 with @err set.
 */
int text_accum_add(struct text_accum *a, const uint8_t *data, size_t len, GError **err)
{
	if (len > a->limit || a->buf->len > a->limit - len) {
		g_set_error(err, TEXT_ERROR, TEXT_ERROR_TOO_LONG,
			    "the target's continued text response exceeds %zu bytes", a->limit);
		return -1;
	}
	g_byte_array_append(a->buf, data, (guint)len);
	return 0;
}

void text_accum_clear(struct text_accum *a)
{
	g_byte_array_set_size(a->buf, 0);
}

void text_accum_free(struct text_accum *a)
{
	if (a->buf)
		g_byte_array_unref(a->buf);
	a->buf = NULL;
}
