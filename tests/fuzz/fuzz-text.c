// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz target: the text key parsers of initiator/keys.c (text_parse,
 * text_parse_list, the continued-text accumulator, numbers and
 * TargetAddress values) and the CHAP binary values of initiator/chap.c,
 * all of which take text straight from a target's Login or Text Response.
 *
 * Input: one byte choosing the accumulator's limit and how the rest is cut
 * into PDU-sized pieces, then the text.
 */
#include "common/iscsi-proto.h"
#include "initiator/chap.h"
#include "initiator/keys.h"
#include "tests/fuzz/fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* Every value parser on one value; each either succeeds or sets its error. */
static void parse_value(const char *key, const char *value)
{
	static const uint32_t ranges[][2] = {
	    {0, 0xffffffffu}, {0, 1}, {512, ISCSI_MAX_DSL}, {1, 65535}, {0, 3600},
	};
	g_autofree char *host = NULL;
	GByteArray *bin;
	GError *err = NULL;
	uint16_t port, tpgt;
	bool has_tpgt;
	uint32_t v;
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(ranges); i++) {
		if (text_parse_uint(key, value, ranges[i][0], ranges[i][1], &v, &err)) {
			FUZZ_CHECK(v >= ranges[i][0] && v <= ranges[i][1], "number in range");
		} else {
			FUZZ_CHECK(err != NULL, "text_parse_uint sets its error");
			g_clear_error(&err);
		}
	}
	if (text_parse_address(value, &host, &port, &tpgt, &has_tpgt, &err)) {
		FUZZ_CHECK(host && host[0] && port != 0, "an address has a host and a port");
		FUZZ_CHECK(has_tpgt || tpgt == 0, "no tag means tag 0");
	} else {
		FUZZ_CHECK(err != NULL, "text_parse_address sets its error");
		g_clear_error(&err);
	}
	bin = chap_decode(value, CHAP_MAX_CHALLENGE, &err);
	if (bin) {
		FUZZ_CHECK(bin->len <= CHAP_MAX_CHALLENGE, "CHAP value within its maximum");
		g_byte_array_unref(bin);
	} else {
		FUZZ_CHECK(err != NULL, "chap_decode sets its error");
		g_clear_error(&err);
	}
}

/* Parsed pairs: keys are valid names, values were NUL-terminated in the text. */
static void check_pairs(GPtrArray *pairs, size_t len)
{
	guint i;

	for (i = 0; i < pairs->len; i++) {
		const struct text_pair *tp = g_ptr_array_index(pairs, i);
		size_t klen = strlen(tp->key);

		FUZZ_CHECK(klen > 0 && klen <= TEXT_KEY_MAX, "key length");
		FUZZ_CHECK(strlen(tp->value) <= TEXT_VALUE_MAX, "value length");
		FUZZ_CHECK(klen + strlen(tp->value) + 2 <= len, "pair inside the text");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	uint8_t cfg = fuzz_u8(&in);
	size_t limit = 16u << (cfg & 0x0f), piece = 1 + (cfg >> 4) * 37, len, off;
	g_autofree uint8_t *text = fuzz_take_rest(&in, &len);
	g_autoptr(GPtrArray) pairs = NULL;
	g_autoptr(GPtrArray) list = NULL;
	struct text_accum acc;
	GError *err = NULL;
	guint i;

	pairs = text_parse(text, len, &err);
	if (pairs) {
		check_pairs(pairs, len);
		for (i = 0; i < pairs->len; i++) {
			const struct text_pair *tp = g_ptr_array_index(pairs, i);

			FUZZ_CHECK(text_lookup(pairs, tp->key) == tp->value,
				   "text_parse keys are unique");
		}
	} else {
		FUZZ_CHECK(err != NULL, "text_parse sets its error");
		g_clear_error(&err);
	}

	list = text_parse_list(text, len, &err);
	if (list) {
		FUZZ_CHECK(!pairs || pairs->len == list->len, "both parsers see the same pairs");
		check_pairs(list, len);
		for (i = 0; i < list->len; i++) {
			const struct text_pair *tp = g_ptr_array_index(list, i);

			parse_value(tp->key, tp->value);
		}
	} else {
		FUZZ_CHECK(!pairs, "a text_parse success is a text_parse_list success");
		FUZZ_CHECK(err != NULL, "text_parse_list sets its error");
		g_clear_error(&err);
	}

	/* The same text split over PDUs, the way a target continues a response. */
	text_accum_init(&acc, limit);
	for (off = 0; off < len; off += piece) {
		size_t n = MIN(piece, len - off);

		if (text_accum_add(&acc, text + off, n, &err) < 0) {
			FUZZ_CHECK(err != NULL && off + n > limit,
				   "accumulator fails only at its limit");
			g_clear_error(&err);
			break;
		}
		FUZZ_CHECK(acc.buf->len == off + n && acc.buf->len <= limit, "accumulated length");
	}
	if (off >= len) {
		FUZZ_CHECK(acc.buf->len == len &&
			       (len == 0 || memcmp(acc.buf->data, text, len) == 0),
			   "accumulated text equals the input");
	}
	text_accum_clear(&acc);
	FUZZ_CHECK(acc.buf->len == 0, "clear empties the accumulator");
	text_accum_free(&acc);
	return 0;
}
