// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for datamover/pool.c without an RDMA device: the pinned-memory
 * budget (EAGAIN at the bound, room made from idle regions of any class,
 * E2BIG past it), buffers recycled, and idle regions trimmed only after
 * their idle time.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "datamover/pool.h"

#define MIB (1ull << 20)

START_TEST(test_budget_eagain)
{
	struct pool_budget b = {.max = 8 * MIB};
	struct dm_pool *p = pool_new_rdma(NULL, 0, true, &b);
	void *big[4];
	void *more;
	int i;

	/* 2 MiB buffers: a region each; four fill the budget. */
	for (i = 0; i < 4; i++) {
		big[i] = pool_alloc(p, 2 * MIB);
		ck_assert_ptr_nonnull(big[i]);
		memset(big[i], i, 2 * MIB);
	}
	ck_assert_uint_eq(b.used, 8 * MIB);
	ck_assert_uint_eq(pool_pinned(p), 8 * MIB);
	errno = 0;
	more = pool_alloc(p, 2 * MIB);
	ck_assert_ptr_null(more);
	ck_assert_int_eq(errno, EAGAIN);
	/* A buffer given back is handed out again, within the bound. */
	pool_free(p, big[2]);
	more = pool_alloc(p, 2 * MIB);
	ck_assert_ptr_eq(more, big[2]);
	ck_assert_uint_eq(b.used, 8 * MIB);
	/* Over the whole budget: never. */
	errno = 0;
	ck_assert_ptr_null(pool_alloc(p, 9 * MIB));
	ck_assert_int_eq(errno, E2BIG);
	for (i = 0; i < 4; i++)
		pool_free(p, i == 2 ? more : big[i]);
	pool_destroy(p);
}
END_TEST

START_TEST(test_room_from_idle_class)
{
	struct pool_budget b = {.max = 4 * MIB};
	struct dm_pool *p = pool_new_rdma(NULL, 0, true, &b);
	void *small[2 * 512];
	void *big;
	int i;

	/* Two regions of 4 KiB buffers take the whole budget... */
	for (i = 0; i < 2 * 512; i++)
		ck_assert_ptr_nonnull(small[i] = pool_alloc(p, 4096));
	ck_assert_uint_eq(b.used, 4 * MIB);
	ck_assert_ptr_null(pool_alloc(p, MIB));
	ck_assert_int_eq(errno, EAGAIN);
	/* ...one of them all free again makes room for 1 MiB buffers. */
	for (i = 0; i < 512; i++)
		pool_free(p, small[i]);
	big = pool_alloc(p, MIB);
	ck_assert_ptr_nonnull(big);
	ck_assert_uint_eq(b.used, 4 * MIB);
	/* The 4 KiB buffers of the dropped region are not handed out again. */
	for (i = 0; i < 512; i++) {
		void *q = pool_alloc(p, 4096);

		if (q) {
			ck_assert(q < big || (char *)q >= (char *)big + 2 * MIB);
			pool_free(p, q);
		}
	}
	pool_free(p, big);
	for (i = 512; i < 2 * 512; i++)
		pool_free(p, small[i]);
	pool_destroy(p);
}
END_TEST

START_TEST(test_trim_after_idle)
{
	struct pool_budget b = {0};
	struct dm_pool *p = pool_new_rdma(NULL, 0, true, &b);
	void *a = pool_alloc(p, 64 * 1024);
	void *c = pool_alloc(p, 80 * MIB);
	int64_t now = g_get_monotonic_time();

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(c);
	/* An oversized-class buffer goes back at once; a region in use stays. */
	ck_assert_uint_eq(b.used, 2 * MIB + 80 * MIB);
	pool_free(p, c);
	ck_assert_uint_eq(b.used, 2 * MIB);
	ck_assert_uint_eq(pool_trim(p, now + 10 * G_USEC_PER_SEC, G_USEC_PER_SEC), 0);
	pool_free(p, a);
	/* Idle, but not for long enough yet. */
	ck_assert_uint_eq(pool_trim(p, g_get_monotonic_time(), 5 * G_USEC_PER_SEC), 0);
	ck_assert_uint_eq(b.used, 2 * MIB);
	ck_assert_uint_eq(
	    pool_trim(p, g_get_monotonic_time() + 6 * G_USEC_PER_SEC, 5 * G_USEC_PER_SEC), 2 * MIB);
	ck_assert_uint_eq(b.used, 0);
	/* And it grows again on demand. */
	a = pool_alloc(p, 64 * 1024);
	ck_assert_ptr_nonnull(a);
	pool_free(p, a);
	pool_destroy(p);
}
END_TEST

START_TEST(test_foreign_pointer)
{
	struct dm_pool *p = pool_new(NULL);
	char *a = pool_alloc(p, 4096);
	char other[64];

	ck_assert_ptr_nonnull(a);
	/* Not handed out (inside a buffer, or not the pool's): ignored. */
	pool_free(p, a + 8);
	pool_free(p, other);
	pool_free(p, a);
	ck_assert_ptr_eq(pool_alloc(p, 100), a);
	pool_free(p, a);
	pool_destroy(p);
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_budget_eagain);
	tcase_add_test(tc, test_room_from_idle_class);
	tcase_add_test(tc, test_trim_after_idle);
	tcase_add_test(tc, test_foreign_pointer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
