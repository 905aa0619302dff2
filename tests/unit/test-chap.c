// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of CHAP (initiator/chap.c) and SHA3-256 (initiator/sha3.c).
 * Expected digests are FIPS 202 examples or were computed independently
 * with Python's hashlib, never with this code.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "initiator/chap.h"
#include "initiator/sha3.h"

/* Parse @hex (no prefix) into @out; the test's own decoder, not chap_decode. */
static size_t unhex(const char *hex, uint8_t *out)
{
	size_t i, n = strlen(hex) / 2;

	for (i = 0; i < n; i++) {
		unsigned int v;

		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void ck_assert_digest(const uint8_t *got, size_t len, const char *want_hex)
{
	uint8_t want[64];

	ck_assert_uint_eq(unhex(want_hex, want), len);
	ck_assert_mem_eq(got, want, len);
}

/* --- SHA3-256 --- */

START_TEST(test_sha3_fips_short)
{
	uint8_t d[SHA3_256_DIGEST_LEN];

	sha3_256("", 0, d);
	ck_assert_digest(d, 32, "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
	sha3_256("abc", 3, d);
	ck_assert_digest(d, 32, "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
}
END_TEST

START_TEST(test_sha3_million_a)
{
	const char *want = "5c8875ae474a3634ba4fd55ec85bffd661f32aca75c6d699d0cdcb6c115891c1";
	uint8_t d[SHA3_256_DIGEST_LEN];
	struct sha3_ctx ctx;
	char chunk[1000];
	char *all;
	int i;

	memset(chunk, 'a', sizeof(chunk));
	sha3_256_init(&ctx);
	for (i = 0; i < 1000; i++)
		sha3_256_update(&ctx, chunk, sizeof(chunk));
	sha3_256_final(&ctx, d);
	ck_assert_digest(d, 32, want);

	all = malloc(1000000);
	ck_assert_ptr_nonnull(all);
	memset(all, 'a', 1000000);
	sha3_256(all, 1000000, d);
	free(all);
	ck_assert_digest(d, 32, want);
}
END_TEST

/* FIPS 202 example: 200 bytes of 0xa3 (1600 bits), split at every point. */
START_TEST(test_sha3_a3_200_splits)
{
	const char *want = "79f38adec5c20307a98ef76e8324afbfd46cfd81b22e3973c65fa1bd9de31787";
	uint8_t msg[200], d[SHA3_256_DIGEST_LEN];
	struct sha3_ctx ctx;
	size_t cut;

	memset(msg, 0xa3, sizeof(msg));
	sha3_256(msg, sizeof(msg), d);
	ck_assert_digest(d, 32, want);

	for (cut = 0; cut <= sizeof(msg); cut++) {
		sha3_256_init(&ctx);
		sha3_256_update(&ctx, msg, cut);
		sha3_256_update(&ctx, msg + cut, sizeof(msg) - cut);
		sha3_256_final(&ctx, d);
		ck_assert_digest(d, 32, want);
	}
}
END_TEST

/*
 * Messages of bytes 0, 1, 2, ... whose lengths sit on and around the
 * 136-byte rate: 135 puts both padding bits in one byte (0x86), 136 needs a
 * whole padding block. Each is also fed in chunks of several sizes.
 */
START_TEST(test_sha3_rate_boundary)
{
	static const struct {
		size_t len;
		const char *want;
	} v[] = {
	    {135, "fded8fd9d6551c601eeb3b7c6bc5e5cfd8aad1d015b7e9aaa9c9b9475231d5e2"},
	    {136, "cf3ccff92480a29160c2d38317c430e14749bfee1788106957dfe73f8c4930e5"},
	    {137, "ce9d7dc90913ee5d92745019479a5352c6d6279bef18ed07dc0a83ee8084daca"},
	    {272, "0b21ec4a8eff6d179e09ba9fe0ab08515b24e0923fbf419f5c30a38e64577db5"},
	};
	static const size_t chunks[] = {1, 7, 135, 136, 137};
	uint8_t msg[272], d[SHA3_256_DIGEST_LEN];
	struct sha3_ctx ctx;
	size_t i, c, off, n;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	for (i = 0; i < G_N_ELEMENTS(v); i++) {
		sha3_256(msg, v[i].len, d);
		ck_assert_digest(d, 32, v[i].want);
		for (c = 0; c < G_N_ELEMENTS(chunks); c++) {
			sha3_256_init(&ctx);
			for (off = 0; off < v[i].len; off += n) {
				n = MIN(chunks[c], v[i].len - off);
				sha3_256_update(&ctx, msg + off, n);
			}
			sha3_256_final(&ctx, d);
			ck_assert_digest(d, 32, v[i].want);
		}
	}
}
END_TEST

/* --- Algorithms and responses --- */

START_TEST(test_digest_len)
{
	ck_assert_uint_eq(chap_digest_len(CHAP_ALG_MD5), 16);
	ck_assert_uint_eq(chap_digest_len(CHAP_ALG_SHA1), 20);
	ck_assert_uint_eq(chap_digest_len(CHAP_ALG_SHA256), 32);
	ck_assert_uint_eq(chap_digest_len(CHAP_ALG_SHA3_256), 32);
	ck_assert_uint_eq(chap_digest_len((enum chap_alg)0), 0);
	ck_assert_uint_eq(chap_digest_len((enum chap_alg)4), 0);
	ck_assert_uint_eq(chap_digest_len((enum chap_alg)9), 0);
	ck_assert_uint_eq(chap_digest_len((enum chap_alg)0x81), 0);
}
END_TEST

START_TEST(test_offer_list)
{
	g_auto(GStrv) algs = g_strsplit(chap_offer_list(), ",", -1);
	guint i;

	ck_assert_str_eq(chap_offer_list(), "8,6,5,7");
	ck_assert_uint_eq(g_strv_length(algs), 4);
	for (i = 0; algs[i]; i++) {
		size_t len = chap_digest_len((enum chap_alg)atoi(algs[i]));

		ck_assert_uint_gt(len, 0);
		ck_assert_uint_le(len, CHAP_MAX_DIGEST);
	}
	/* MD5 must come before 7, which tgt 1.0.85 takes for SHA-1. */
	ck_assert_str_eq(algs[2], "5");
	ck_assert_str_eq(algs[3], "7");
}
END_TEST

/* id 1, secret "secret", challenge 0x10 0x11 ... 0x1f. */
static const uint8_t secret[] = "secret";
static const size_t secret_len = 6;
static const uint8_t challenge[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
				      0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f};

static const struct {
	enum chap_alg alg;
	const char *want;
} response_vectors[] = {
    {CHAP_ALG_MD5, "aacca27f54fb91502be69929e1f76133"},
    {CHAP_ALG_SHA1, "f22a27e13ae15759daa0c1a20889b40a5e04ccd5"},
    {CHAP_ALG_SHA256, "1cd624e828384aa33ebec0a83437de3e056eb9faf5ef85b80bec9644c097f5b5"},
    {CHAP_ALG_SHA3_256, "30e4391fbc935caaac710ed4344df991dc02c05ba406e95ea55d4900cf998275"},
};

START_TEST(test_response_vectors)
{
	uint8_t out[CHAP_MAX_DIGEST + 1];
	size_t len, want_len = strlen(response_vectors[_i].want) / 2;

	memset(out, 0xee, sizeof(out));
	len = chap_response(response_vectors[_i].alg, 1, secret, secret_len, challenge,
			    sizeof(challenge), out);
	ck_assert_uint_eq(len, want_len);
	ck_assert_uint_eq(len, chap_digest_len(response_vectors[_i].alg));
	ck_assert_digest(out, len, response_vectors[_i].want);
	/* Nothing written past the digest. */
	ck_assert_uint_eq(out[len], 0xee);
}
END_TEST

START_TEST(test_response_empty_inputs)
{
	uint8_t out[CHAP_MAX_DIGEST];

	ck_assert_uint_eq(chap_response(CHAP_ALG_MD5, 1, NULL, 0, NULL, 0, out), 16);
	ck_assert_digest(out, 16, "55a54008ad1ba589aa210d2629c1df41");
	ck_assert_uint_eq(chap_response(CHAP_ALG_SHA3_256, 7, NULL, 0, NULL, 0, out), 32);
	ck_assert_digest(out, 32,
			 "5223f7670b3b9ba04f57d477478ae77a58190d89f21da0b0be774735e23f9c96");
}
END_TEST

START_TEST(test_response_unknown_alg)
{
	uint8_t out[CHAP_MAX_DIGEST], untouched[CHAP_MAX_DIGEST];

	memset(out, 0x5a, sizeof(out));
	memset(untouched, 0x5a, sizeof(untouched));
	ck_assert_uint_eq(chap_response((enum chap_alg)4, 1, secret, secret_len, challenge,
					sizeof(challenge), out),
			  0);
	ck_assert_mem_eq(out, untouched, sizeof(out));
}
END_TEST

START_TEST(test_verify)
{
	uint8_t resp[CHAP_MAX_DIGEST];
	enum chap_alg alg = response_vectors[_i].alg;
	size_t len, i;

	len = unhex(response_vectors[_i].want, resp);
	ck_assert(chap_verify(alg, 1, secret, secret_len, challenge, sizeof(challenge), resp, len));
	/* Wrong identifier, secret, challenge or length. */
	ck_assert(
	    !chap_verify(alg, 2, secret, secret_len, challenge, sizeof(challenge), resp, len));
	ck_assert(
	    !chap_verify(alg, 1, secret, secret_len - 1, challenge, sizeof(challenge), resp, len));
	ck_assert(
	    !chap_verify(alg, 1, secret, secret_len, challenge, sizeof(challenge) - 1, resp, len));
	ck_assert(
	    !chap_verify(alg, 1, secret, secret_len, challenge, sizeof(challenge), resp, len - 1));
	ck_assert(!chap_verify(alg, 1, secret, secret_len, challenge, sizeof(challenge), resp, 0));
	/* A single flipped bit anywhere is caught. */
	for (i = 0; i < len; i++) {
		resp[i] ^= 0x01;
		ck_assert(!chap_verify(alg, 1, secret, secret_len, challenge, sizeof(challenge),
				       resp, len));
		resp[i] ^= 0x01;
	}
}
END_TEST

/* Mutual CHAP: target secret, our 32-byte challenge 0x00..0x1f, id 0xa5. */
START_TEST(test_verify_mutual)
{
	static const uint8_t tsecret[] = "tgtsecret12345";
	uint8_t chal[32], resp[CHAP_MAX_DIGEST];
	size_t i, len;

	for (i = 0; i < sizeof(chal); i++)
		chal[i] = (uint8_t)i;
	len = unhex("6ea7d669723ae17644813a5b1f5daa49aafe96dfb8b0b28a1866ff7ed8595cb8", resp);
	ck_assert(chap_verify(CHAP_ALG_SHA256, 0xa5, tsecret, 14, chal, sizeof(chal), resp, len));
	ck_assert(
	    !chap_verify(CHAP_ALG_SHA3_256, 0xa5, tsecret, 14, chal, sizeof(chal), resp, len));
	len = unhex("6cb5d96f254476a75af3cde01f1e87c4", resp);
	ck_assert(chap_verify(CHAP_ALG_MD5, 0xa5, tsecret, 14, chal, sizeof(chal), resp, len));
	ck_assert(!chap_verify((enum chap_alg)4, 0xa5, tsecret, 14, chal, sizeof(chal), resp, len));
}
END_TEST

/* --- Binary value encoding --- */

static void check_decodes(const char *value, size_t max, const uint8_t *want, size_t want_len)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GByteArray) got = chap_decode(value, max, &err);

	ck_assert_msg(got, "%s: %s", value, err ? err->message : "?");
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(got->len, want_len);
	ck_assert_mem_eq(got->data, want, want_len);
}

static void check_rejects(const char *value, size_t max, int code, const char *msg)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GByteArray) got = chap_decode(value, max, &err);

	ck_assert_msg(!got, "%s was accepted", value ? value : "NULL");
	ck_assert_ptr_nonnull(err);
	ck_assert_str_eq(g_quark_to_string(err->domain), "chap-error-quark");
	ck_assert_msg(g_error_matches(err, CHAP_ERROR, code), "%s: code %d, message %s",
		      value ? value : "NULL", err->code, err->message);
	ck_assert_str_eq(err->message, msg);
}

START_TEST(test_decode_hex)
{
	static const uint8_t b1[] = {0x00, 0xff, 0x10};
	static const uint8_t b2[] = {0xab, 0xcd, 0xef, 0x01};

	check_decodes("0x00ff10", 16, b1, sizeof(b1));
	check_decodes("0X00FF10", 3, b1, sizeof(b1));
	check_decodes("0xAbCdeF01", 4, b2, sizeof(b2));
}
END_TEST

START_TEST(test_decode_hex_errors)
{
	check_rejects("0x", 16, CHAP_ERROR_EMPTY, "CHAP value \"0x\" is empty");
	check_rejects("0x123", 16, CHAP_ERROR_SYNTAX,
		      "CHAP hex value has an odd number of digits (3)");
	check_rejects("0x0g", 16, CHAP_ERROR_SYNTAX,
		      "CHAP hex value has a non-hex character at digit 2");
	check_rejects("0x00 1", 16, CHAP_ERROR_SYNTAX,
		      "CHAP hex value has a non-hex character at digit 3");
	check_rejects("0x0x00", 16, CHAP_ERROR_SYNTAX,
		      "CHAP hex value has a non-hex character at digit 2");
	check_rejects("0x010203", 2, CHAP_ERROR_TOO_LONG,
		      "CHAP value of 3 bytes is longer than the maximum of 2");
}
END_TEST

START_TEST(test_decode_prefix_errors)
{
	static const char *const bad[] = {"",	  "0",	  "00",	  "x00",   "1x00",
					  "0y00", "0c00", "abcd", " 0x00", "0 x00"};
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(bad); i++)
		check_rejects(bad[i], 16, CHAP_ERROR_PREFIX, "CHAP value must start with 0x or 0b");
	check_rejects(NULL, 16, CHAP_ERROR_PREFIX, "CHAP value must start with 0x or 0b");
}
END_TEST

START_TEST(test_decode_base64)
{
	static const uint8_t b16[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	static const uint8_t hi[] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7,
				     0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff};

	check_decodes("0bAA==", 1, b16, 1);
	check_decodes("0bAAE=", 2, b16, 2);
	check_decodes("0BAAEC", 3, b16, 3);
	check_decodes("0bAAECAwQFBgcICQoLDA0ODw==", 16, b16, 16);
	check_decodes("0b8PHy8/T19vf4+fr7/P3+/w==", 16, hi, 16);
}
END_TEST

START_TEST(test_decode_base64_errors)
{
	check_rejects("0b", 16, CHAP_ERROR_EMPTY, "CHAP value \"0b\" is empty");
	check_rejects("0bAA=", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has 3 characters, not a multiple of 4");
	check_rejects("0bAAECA", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has 5 characters, not a multiple of 4");
	check_rejects("0bA===", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has an invalid character at position 2");
	check_rejects("0b====", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has an invalid character at position 1");
	check_rejects("0bAA=A", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has an invalid character at position 3");
	check_rejects("0bAA==AAAA", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has an invalid character at position 3");
	check_rejects("0bAA*A", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has an invalid character at position 3");
	check_rejects("0bAA-_", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has an invalid character at position 3");
	check_rejects("0bAAEC AAE", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has an invalid character at position 5");
	/* Non-canonical: the bits after the last byte must be zero. */
	check_rejects("0bAB==", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has non-zero bits after its last byte");
	check_rejects("0bAAF=", 16, CHAP_ERROR_SYNTAX,
		      "CHAP base64 value has non-zero bits after its last byte");
	check_rejects("0bAAEC", 2, CHAP_ERROR_TOO_LONG,
		      "CHAP value of 3 bytes is longer than the maximum of 2");
	check_rejects("0bAAE=", 1, CHAP_ERROR_TOO_LONG,
		      "CHAP value of 2 bytes is longer than the maximum of 1");
}
END_TEST

START_TEST(test_decode_max_challenge)
{
	g_autofree uint8_t *zeros = g_malloc0(CHAP_MAX_CHALLENGE + 1);
	g_autofree char *at_max = chap_encode_hex(zeros, CHAP_MAX_CHALLENGE);
	g_autofree char *over = chap_encode_hex(zeros, CHAP_MAX_CHALLENGE + 1);

	check_decodes(at_max, CHAP_MAX_CHALLENGE, zeros, CHAP_MAX_CHALLENGE);
	check_rejects(over, CHAP_MAX_CHALLENGE, CHAP_ERROR_TOO_LONG,
		      "CHAP value of 1025 bytes is longer than the maximum of 1024");
}
END_TEST

START_TEST(test_encode_hex)
{
	static const uint8_t b[] = {0x00, 0x0f, 0xa5, 0xff};
	g_autofree char *s = chap_encode_hex(b, sizeof(b));
	g_autofree char *e = chap_encode_hex(NULL, 0);

	ck_assert_str_eq(s, "0x000fa5ff");
	ck_assert_str_eq(e, "0x");
}
END_TEST

START_TEST(test_encode_decode_roundtrip)
{
	uint8_t all[256];
	size_t i;

	for (i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)(255 - i);
	g_autofree char *s = chap_encode_hex(all, sizeof(all));

	ck_assert_uint_eq(strlen(s), 2 + 2 * sizeof(all));
	check_decodes(s, sizeof(all), all, sizeof(all));
}
END_TEST

/* --- Randomness --- */

static void counting_source(uint8_t *buf, size_t len)
{
	static uint8_t next;
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = next++;
}

START_TEST(test_random_source)
{
	static const uint8_t want1[] = {0, 1, 2, 3, 4};
	static const uint8_t want2[] = {5, 6, 7};
	uint8_t a[32], b[32], zero[32] = {0};

	chap_set_random_source(counting_source);
	chap_random(a, 5);
	ck_assert_mem_eq(a, want1, 5);
	chap_random(a, 3);
	ck_assert_mem_eq(a, want2, 3);

	chap_set_random_source(NULL);
	chap_random(a, sizeof(a));
	chap_random(b, sizeof(b));
	/* 2^-256 odds of a false failure each. */
	ck_assert_mem_ne(a, b, sizeof(a));
	ck_assert_mem_ne(a, zero, sizeof(a));
	ck_assert_mem_ne(a, want1, sizeof(want1));
}
END_TEST

static Suite *chap_suite(void)
{
	Suite *s = suite_create("chap");
	TCase *tc;

	tc = tcase_create("sha3");
	tcase_add_test(tc, test_sha3_fips_short);
	tcase_add_test(tc, test_sha3_million_a);
	tcase_add_test(tc, test_sha3_a3_200_splits);
	tcase_add_test(tc, test_sha3_rate_boundary);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("response");
	tcase_add_test(tc, test_digest_len);
	tcase_add_test(tc, test_offer_list);
	tcase_add_loop_test(tc, test_response_vectors, 0, G_N_ELEMENTS(response_vectors));
	tcase_add_test(tc, test_response_empty_inputs);
	tcase_add_test(tc, test_response_unknown_alg);
	tcase_add_loop_test(tc, test_verify, 0, G_N_ELEMENTS(response_vectors));
	tcase_add_test(tc, test_verify_mutual);
	suite_add_tcase(s, tc);

	tc = tcase_create("encoding");
	tcase_add_test(tc, test_decode_hex);
	tcase_add_test(tc, test_decode_hex_errors);
	tcase_add_test(tc, test_decode_prefix_errors);
	tcase_add_test(tc, test_decode_base64);
	tcase_add_test(tc, test_decode_base64_errors);
	tcase_add_test(tc, test_decode_max_challenge);
	tcase_add_test(tc, test_encode_hex);
	tcase_add_test(tc, test_encode_decode_roundtrip);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_test(tc, test_random_source);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
