// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for initiator/keys.c: text pair parsing, building,
 * accumulation and TargetAddress parsing.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "initiator/keys.h"

#define T(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static struct text_pair *pair(GPtrArray *a, guint i)
{
	return g_ptr_array_index(a, i);
}

START_TEST(parse_basic)
{
	GError *err = NULL;
	GPtrArray *a =
	    text_parse(T("HeaderDigest=None\0TargetAlias=\0X-com.ex_1.a@b+c=v=w\0"), &err);

	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, 3);
	ck_assert_str_eq(pair(a, 0)->key, "HeaderDigest");
	ck_assert_str_eq(pair(a, 0)->value, "None");
	ck_assert_str_eq(pair(a, 1)->key, "TargetAlias");
	ck_assert_str_eq(pair(a, 1)->value, "");
	ck_assert_str_eq(pair(a, 2)->key, "X-com.ex_1.a@b+c");
	ck_assert_str_eq(pair(a, 2)->value, "v=w");
	ck_assert_str_eq(text_lookup(a, "TargetAlias"), "");
	ck_assert_ptr_null(text_lookup(a, "Nope"));
	g_ptr_array_unref(a);
}
END_TEST

START_TEST(parse_empty)
{
	GError *err = NULL;
	GPtrArray *a = text_parse((const uint8_t *)"", 0, &err);

	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, 0);
	g_ptr_array_unref(a);
}
END_TEST

static void expect_error(const uint8_t *data, size_t len, const char *msg)
{
	GError *err = NULL;
	GPtrArray *a = text_parse(data, len, &err);

	ck_assert_ptr_null(a);
	ck_assert_ptr_nonnull(err);
	ck_assert_str_eq(err->message, msg);
	g_error_free(err);
}

START_TEST(parse_errors)
{
	char key[80], buf[9000];
	size_t n;

	expect_error(T("A=1\0B=2"), "text data ends without a NUL after \"B=2\"");
	expect_error(T("A=1\0B\0"), "text pair \"B\" has no '='");
	expect_error(T("=1\0"), "text key with an empty name");
	expect_error(T("A B=1\0"), "text key \"A B\" has an invalid character (0x20)");
	expect_error(T("A=1\0A=2\0"), "text key A appears twice");
	expect_error(T("\0"), "text pair \"\" has no '='");

	memset(key, 'K', 64);
	key[64] = '=';
	key[65] = '\0';
	expect_error((const uint8_t *)key, 66, "text key name longer than 63 bytes");

	n = (size_t)g_snprintf(buf, sizeof(buf), "K=");
	memset(buf + n, 'v', 8193);
	buf[n + 8193] = '\0';
	expect_error((const uint8_t *)buf, n + 8194,
		     "value of text key K is 8193 bytes, more than 8192");
	/* 8192 is still fine. */
	buf[n + 8192] = '\0';
	{
		GError *err = NULL;
		GPtrArray *a = text_parse((const uint8_t *)buf, n + 8193, &err);

		ck_assert_ptr_nonnull(a);
		ck_assert_uint_eq(strlen(pair(a, 0)->value), 8192);
		g_ptr_array_unref(a);
	}
}
END_TEST

START_TEST(parse_list_allows_repeats)
{
	GError *err = NULL;
	GPtrArray *a = text_parse_list(T("TargetName=a\0TargetName=b\0"), &err);

	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, 2);
	ck_assert_str_eq(pair(a, 1)->value, "b");
	g_ptr_array_unref(a);
}
END_TEST

START_TEST(append)
{
	GByteArray *out = g_byte_array_new();

	text_append(out, "SendTargets", "All");
	text_append_uint(out, "MaxBurstLength", 262144);
	ck_assert_uint_eq(out->len, sizeof("SendTargets=All\0MaxBurstLength=262144"));
	ck_assert_mem_eq(out->data, "SendTargets=All\0MaxBurstLength=262144\0", out->len);
	g_byte_array_unref(out);
}
END_TEST

START_TEST(numbers)
{
	GError *err = NULL;
	uint32_t v = 0;

	ck_assert(text_parse_uint("K", "8192", 512, 16777215, &v, &err));
	ck_assert_uint_eq(v, 8192);
	ck_assert(text_parse_uint("K", "0x2000", 512, 16777215, &v, &err));
	ck_assert_uint_eq(v, 8192);
	ck_assert(!text_parse_uint("K", "511", 512, 16777215, &v, &err));
	ck_assert_str_eq(err->message, "K=511: not a number in the range 512..16777215");
	g_clear_error(&err);
	ck_assert(!text_parse_uint("K", "-1", 0, 10, &v, &err));
	g_clear_error(&err);
	ck_assert(!text_parse_uint("K", "12abc", 0, 100000, &v, &err));
	g_clear_error(&err);
	ck_assert(!text_parse_uint("K", "", 0, 10, &v, &err));
	g_clear_error(&err);
}
END_TEST

START_TEST(address)
{
	GError *err = NULL;
	char *host = NULL;
	uint16_t port, tpgt;
	bool has;

	ck_assert(text_parse_address("10.0.0.1:3261,2", &host, &port, &tpgt, &has, &err));
	ck_assert_str_eq(host, "10.0.0.1");
	ck_assert_uint_eq(port, 3261);
	ck_assert_uint_eq(tpgt, 2);
	ck_assert(has);
	g_free(host);

	ck_assert(text_parse_address("[fe80::1]:860,7", &host, &port, &tpgt, &has, &err));
	ck_assert_str_eq(host, "fe80::1");
	ck_assert_uint_eq(port, 860);
	ck_assert_uint_eq(tpgt, 7);
	g_free(host);

	ck_assert(text_parse_address("[::1]", &host, &port, &tpgt, &has, &err));
	ck_assert_str_eq(host, "::1");
	ck_assert_uint_eq(port, 3260);
	ck_assert(!has);
	g_free(host);

	ck_assert(text_parse_address("storage.example.com", &host, &port, &tpgt, &has, &err));
	ck_assert_str_eq(host, "storage.example.com");
	ck_assert_uint_eq(port, 3260);
	ck_assert_uint_eq(tpgt, 0);
	g_free(host);

	ck_assert(!text_parse_address("::1", &host, &port, &tpgt, &has, &err));
	ck_assert_str_eq(err->message, "TargetAddress ::1: an IPv6 address must be in [brackets]");
	g_clear_error(&err);
	ck_assert(!text_parse_address("[::1", &host, &port, &tpgt, &has, &err));
	g_clear_error(&err);
	ck_assert(!text_parse_address("h:70000", &host, &port, &tpgt, &has, &err));
	ck_assert_str_eq(err->message,
			 "TargetAddress port=70000: not a number in the range 1..65535");
	g_clear_error(&err);
	ck_assert(!text_parse_address(":3260", &host, &port, &tpgt, &has, &err));
	g_clear_error(&err);
}
END_TEST

START_TEST(accum)
{
	struct text_accum a;
	GError *err = NULL;
	GPtrArray *pairs;

	text_accum_init(&a, 20);
	/* A pair split in the middle of its value. */
	ck_assert_int_eq(text_accum_add(&a, T("Key=va"), &err), 0);
	ck_assert_int_eq(text_accum_add(&a, T("lue\0B=1\0"), &err), 0);
	pairs = text_parse(a.buf->data, a.buf->len, &err);
	ck_assert_ptr_nonnull(pairs);
	ck_assert_str_eq(text_lookup(pairs, "Key"), "value");
	ck_assert_str_eq(text_lookup(pairs, "B"), "1");
	g_ptr_array_unref(pairs);

	ck_assert_int_eq(text_accum_add(&a, T("123456"), &err), 0);
	ck_assert_uint_eq(a.buf->len, 20);
	ck_assert_int_eq(text_accum_add(&a, T("x"), &err), -1);
	ck_assert_str_eq(err->message, "the target's continued text response exceeds 20 bytes");
	g_clear_error(&err);

	text_accum_clear(&a);
	ck_assert_uint_eq(a.buf->len, 0);
	ck_assert_int_eq(text_accum_add(&a, NULL, 0, &err), 0);
	text_accum_free(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keys");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, parse_basic);
	tcase_add_test(tc, parse_empty);
	tcase_add_test(tc, parse_errors);
	tcase_add_test(tc, parse_list_allows_repeats);
	tcase_add_test(tc, append);
	tcase_add_test(tc, numbers);
	tcase_add_test(tc, address);
	tcase_add_test(tc, accum);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
