// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for initiator/discovery.c: SendTargets requests and the
 * parsing of (continued) answers.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "initiator/discovery.h"

#define T(s) ((const uint8_t *)(s)), (sizeof(s) - 1)
#define ITT  0x11223344u

static const char answer[] = "TargetName=iqn.2003-01.org.example:disk1\0"
			     "TargetAddress=192.0.2.10:3260,1\0"
			     "TargetAddress=[2001:db8::10]:3261,2\0"
			     "TargetName=iqn.2003-01.org.example:disk2\0"
			     "TargetAlias=second\0"
			     "TargetAddress=storage.example.com,3\0"
			     "TargetAddress=[::1]\0";

static struct discovery_portal *portal(struct discovery_target *t, guint i)
{
	return g_ptr_array_index(t->portals, i);
}

static void check_answer(GPtrArray *targets)
{
	struct discovery_target *t;

	ck_assert_uint_eq(targets->len, 2);
	t = g_ptr_array_index(targets, 0);
	ck_assert_str_eq(t->name, "iqn.2003-01.org.example:disk1");
	ck_assert_uint_eq(t->portals->len, 2);
	ck_assert_str_eq(portal(t, 0)->host, "192.0.2.10");
	ck_assert_uint_eq(portal(t, 0)->port, 3260);
	ck_assert_uint_eq(portal(t, 0)->tpgt, 1);
	ck_assert_str_eq(portal(t, 1)->host, "2001:db8::10");
	ck_assert_uint_eq(portal(t, 1)->port, 3261);
	ck_assert_uint_eq(portal(t, 1)->tpgt, 2);
	t = g_ptr_array_index(targets, 1);
	ck_assert_str_eq(t->name, "iqn.2003-01.org.example:disk2");
	ck_assert_uint_eq(t->portals->len, 2);
	ck_assert_str_eq(portal(t, 0)->host, "storage.example.com");
	ck_assert_uint_eq(portal(t, 0)->port, 3260);
	ck_assert_uint_eq(portal(t, 0)->tpgt, 3);
	ck_assert_str_eq(portal(t, 1)->host, "::1");
	ck_assert_uint_eq(portal(t, 1)->port, 3260);
	ck_assert_uint_eq(portal(t, 1)->tpgt, 0);
}

START_TEST(parse_two_targets)
{
	GError *err = NULL;
	GPtrArray *targets = discovery_parse((const uint8_t *)answer, sizeof(answer) - 1, &err);

	ck_assert_ptr_nonnull(targets);
	check_answer(targets);
	g_ptr_array_unref(targets);
}
END_TEST

START_TEST(parse_errors)
{
	GError *err = NULL;

	ck_assert_ptr_null(discovery_parse(T("TargetAddress=1.2.3.4\0"), &err));
	ck_assert_str_eq(err->message, "bad SendTargets response: TargetAddress=1.2.3.4 before "
				       "any TargetName");
	g_clear_error(&err);
	ck_assert_ptr_null(discovery_parse(T("TargetName=a\0TargetAddress=[::1:3260\0"), &err));
	ck_assert_str_eq(err->message, "bad SendTargets response for a: TargetAddress [::1:3260: "
				       "unterminated or empty [IPv6] address");
	g_clear_error(&err);
	ck_assert_ptr_null(discovery_parse(T("SendTargets=Reject\0"), &err));
	ck_assert(g_error_matches(err, DISCOVERY_ERROR, DISCOVERY_ERROR_REFUSED));
	ck_assert_str_eq(err->message, "the target refused discovery: SendTargets=Reject");
	g_clear_error(&err);
	ck_assert_ptr_null(discovery_parse(T("TargetName=a"), &err));
	g_clear_error(&err);
}
END_TEST

START_TEST(parse_empty)
{
	GError *err = NULL;
	GPtrArray *targets = discovery_parse(NULL, 0, &err);

	ck_assert_ptr_nonnull(targets);
	ck_assert_uint_eq(targets->len, 0);
	g_ptr_array_unref(targets);
}
END_TEST

static void build_text_rsp(uint8_t *bhs, bool final, bool cont, uint32_t ttt, uint32_t dlen)
{
	struct iscsi_text_rsp *r = (struct iscsi_text_rsp *)bhs;

	memset(bhs, 0, ISCSI_BHS_LEN);
	r->opcode = ISCSI_OP_TEXT_RSP;
	r->flags = (uint8_t)((final ? ISCSI_FLAG_FINAL : 0) | (cont ? ISCSI_FLAG_CONTINUE : 0));
	iscsi_set_dlength(r->dlength, dlen);
	r->itt = g_htonl(ITT);
	r->ttt = g_htonl(ttt);
}

START_TEST(continued_exchange)
{
	struct discovery d;
	uint8_t bhs[ISCSI_BHS_LEN];
	const struct iscsi_text_req *q = (const struct iscsi_text_req *)bhs;
	GByteArray *data = g_byte_array_new();
	GError *err = NULL;
	const size_t split = 57;

	discovery_init(&d, ITT);
	discovery_next_request(&d, 3, 9, bhs, data);
	ck_assert_uint_eq(q->opcode, ISCSI_OP_TEXT_REQ | ISCSI_OP_IMMEDIATE);
	ck_assert_uint_eq(q->flags, ISCSI_FLAG_FINAL);
	ck_assert_uint_eq(g_ntohl(q->itt), ITT);
	ck_assert_uint_eq(g_ntohl(q->ttt), 0xffffffffu);
	ck_assert_uint_eq(g_ntohl(q->cmdsn), 3);
	ck_assert_uint_eq(g_ntohl(q->exp_statsn), 9);
	ck_assert_uint_eq(iscsi_dlength(q->dlength), 16);
	ck_assert_mem_eq(data->data, "SendTargets=All\0", 16);

	/* First part, cut inside a TargetAddress. */
	build_text_rsp(bhs, false, true, 0x77, split);
	ck_assert_int_eq(discovery_handle_response(&d, bhs, (const uint8_t *)answer, split, &err),
			 DISCOVERY_STEP_CONTINUE);
	discovery_next_request(&d, 4, 10, bhs, data);
	ck_assert_uint_eq(data->len, 0);
	ck_assert_uint_eq(iscsi_dlength(q->dlength), 0);
	ck_assert_uint_eq(g_ntohl(q->ttt), 0x77);
	ck_assert_uint_eq(g_ntohl(q->cmdsn), 4);

	build_text_rsp(bhs, true, false, 0xffffffffu, sizeof(answer) - 1 - split);
	ck_assert_int_eq(discovery_handle_response(&d, bhs, (const uint8_t *)answer + split,
						   sizeof(answer) - 1 - split, &err),
			 DISCOVERY_STEP_DONE);
	check_answer(discovery_targets(&d));
	discovery_clear(&d);
	g_byte_array_unref(data);
}
END_TEST

START_TEST(response_errors)
{
	struct discovery d;
	uint8_t bhs[ISCSI_BHS_LEN];
	GByteArray *data = g_byte_array_new();
	GError *err = NULL;

	discovery_init(&d, ITT);
	build_text_rsp(bhs, true, false, 0xffffffffu, 0);
	ck_assert_int_eq(discovery_handle_response(&d, bhs, NULL, 0, &err), DISCOVERY_STEP_FAILED);
	ck_assert_str_eq(err->message,
			 "unexpected Text Response: no SendTargets request outstanding");
	g_clear_error(&err);

	discovery_next_request(&d, 1, 1, bhs, data);
	build_text_rsp(bhs, true, true, 0xffffffffu, 0);
	ck_assert_int_eq(discovery_handle_response(&d, bhs, NULL, 0, &err), DISCOVERY_STEP_FAILED);
	ck_assert_str_eq(err->message, "Text Response has both the F and the C bit set");
	g_clear_error(&err);

	build_text_rsp(bhs, false, true, 0xffffffffu, 0);
	ck_assert_int_eq(discovery_handle_response(&d, bhs, NULL, 0, &err), DISCOVERY_STEP_FAILED);
	ck_assert_str_eq(err->message, "continued Text Response has no Target Transfer Tag");
	g_clear_error(&err);

	build_text_rsp(bhs, true, false, 0xffffffffu, 4);
	ck_assert_int_eq(discovery_handle_response(&d, bhs, T("ab\0"), &err),
			 DISCOVERY_STEP_FAILED);
	ck_assert_str_eq(err->message, "Text Response data length mismatch (header says 4, got 3)");
	g_clear_error(&err);

	build_text_rsp(bhs, true, false, 0xffffffffu, 0);
	((struct iscsi_text_rsp *)bhs)->itt = g_htonl(5);
	ck_assert_int_eq(discovery_handle_response(&d, bhs, NULL, 0, &err), DISCOVERY_STEP_FAILED);
	ck_assert_str_eq(err->message,
			 "Text Response has ITT 0x00000005, our request had 0x11223344");
	g_clear_error(&err);
	discovery_clear(&d);
	g_byte_array_unref(data);
}
END_TEST

START_TEST(endless_continuation)
{
	struct discovery d;
	uint8_t bhs[ISCSI_BHS_LEN];
	GByteArray *data = g_byte_array_new();
	static uint8_t chunk[65536];
	GError *err = NULL;
	enum discovery_step st = DISCOVERY_STEP_CONTINUE;
	unsigned int n = 0;

	memset(chunk, 'x', sizeof(chunk));
	discovery_init(&d, ITT);
	discovery_next_request(&d, 1, 1, bhs, data);
	while (st == DISCOVERY_STEP_CONTINUE && n < 1000) {
		build_text_rsp(bhs, false, true, 0x10, sizeof(chunk));
		st = discovery_handle_response(&d, bhs, chunk, sizeof(chunk), &err);
		n++;
	}
	ck_assert_int_eq(st, DISCOVERY_STEP_FAILED);
	ck_assert_uint_eq(n, 65);
	ck_assert_str_eq(err->message,
			 "the target's continued text response exceeds 4194304 bytes");
	g_clear_error(&err);
	discovery_clear(&d);
	g_byte_array_unref(data);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("discovery");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, parse_two_targets);
	tcase_add_test(tc, parse_errors);
	tcase_add_test(tc, parse_empty);
	tcase_add_test(tc, continued_exchange);
	tcase_add_test(tc, response_errors);
	tcase_add_test(tc, endless_continuation);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
