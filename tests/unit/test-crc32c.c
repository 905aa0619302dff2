// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for datamover/crc32c.c: published vectors on both code paths, and
 * the hardware path against the table path on many lengths and alignments.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "datamover/crc32c.h"

/* Runs @fn once with the software path and once with the automatic choice. */
static void both_paths(void (*fn)(void))
{
	crc32c_force_software(true);
	fn();
	crc32c_force_software(false);
	fn();
}

static void vectors(void)
{
	uint8_t buf[32];

	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u);
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	/* RFC 3720 B.4, 32 bytes descending. */
	ck_assert_uint_eq(crc32c(0, buf, sizeof(buf)), 0x113FDB5Cu);
	ck_assert_uint_eq(crc32c(0, buf, 0), 0u);
}

START_TEST(test_vectors)
{
	both_paths(vectors);
}
END_TEST

static void chaining(void)
{
	const char *s = "123456789";

	for (size_t k = 0; k <= 9; k++)
		ck_assert_uint_eq(crc32c(crc32c(0, s, k), s + k, 9 - k), 0xE3069283u);
}

START_TEST(test_chaining)
{
	both_paths(chaining);
}
END_TEST

/* A bitwise reference, independent of both optimised paths. */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffffu;

	while (len--) {
		c ^= *p++;
		for (int i = 0; i < 8; i++)
			c = (c >> 1) ^ ((c & 1) ? 0x82F63B78u : 0);
	}
	return ~c;
}

START_TEST(test_hw_vs_sw_random)
{
	GRand *rnd = g_rand_new_with_seed(0x1234);
	size_t size = 8192 + 16;
	uint8_t *buf = g_malloc(size);

	for (size_t i = 0; i < size; i++)
		buf[i] = (uint8_t)g_rand_int(rnd);
	for (size_t len = 0; len < 300; len++) {
		for (size_t align = 0; align < 16; align++) {
			uint32_t ref = crc32c_bitwise(buf + align, len);

			crc32c_force_software(true);
			ck_assert_uint_eq(crc32c(0, buf + align, len), ref);
			crc32c_force_software(false);
			ck_assert_uint_eq(crc32c(0, buf + align, len), ref);
		}
	}
	for (int i = 0; i < 200; i++) {
		size_t align = g_rand_int_range(rnd, 0, 16);
		size_t len = g_rand_int_range(rnd, 0, 8192);
		uint32_t ref = crc32c_bitwise(buf + align, len);

		crc32c_force_software(true);
		ck_assert_uint_eq(crc32c(0, buf + align, len), ref);
		crc32c_force_software(false);
		ck_assert_uint_eq(crc32c(0, buf + align, len), ref);
	}
	g_free(buf);
	g_rand_free(rnd);
}
END_TEST

START_TEST(test_force_software)
{
	crc32c_force_software(true);
	ck_assert(!crc32c_hw_active());
	crc32c_force_software(false);
#if defined(__x86_64__)
	ck_assert(crc32c_hw_active() == (bool)__builtin_cpu_supports("sse4.2"));
#endif
}
END_TEST

static Suite *crc32c_suite(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_chaining);
	tcase_add_test(tc, test_hw_vs_sw_random);
	tcase_add_test(tc, test_force_software);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(crc32c_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
