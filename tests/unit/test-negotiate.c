// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for initiator/negotiate.c and initiator/params.c: our offers
 * and the handling of the target's answers and offers, with fixed texts.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "initiator/keys.h"
#include "initiator/negotiate.h"

#define T(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static GPtrArray *pairs_of(const uint8_t *data, size_t len)
{
	GError *err = NULL;
	GPtrArray *p = text_parse(data, len, &err);

	ck_assert_msg(p != NULL, "%s", err ? err->message : "");
	return p;
}

/* Feed @text; returns negotiation_handle()'s result, reply and error kept. */
static int feed(struct negotiation *n, const uint8_t *data, size_t len, GByteArray *reply,
		GError **err)
{
	GPtrArray *p = pairs_of(data, len);
	int rc = negotiation_handle(n, p, reply, err);

	g_ptr_array_unref(p);
	return rc;
}

static void start(struct negotiation *n, bool discovery, bool iser, GByteArray *offer)
{
	struct iscsi_params prop;

	iscsi_params_fast_proposal(&prop);
	negotiation_init(n, &prop, discovery, iser);
	negotiation_offer(n, offer);
}

/* The answers a cooperative target gives to the fast proposal over TCP. */
static const char full_answer[] = "HeaderDigest=None\0DataDigest=None\0MaxConnections=1\0"
				  "InitialR2T=No\0ImmediateData=Yes\0"
				  "MaxRecvDataSegmentLength=262144\0"
				  "DefaultTime2Wait=2\0DefaultTime2Retain=0\0"
				  "MaxOutstandingR2T=1\0DataPDUInOrder=Yes\0"
				  "DataSequenceInOrder=Yes\0ErrorRecoveryLevel=0\0";

START_TEST(defaults)
{
	struct iscsi_params p;

	iscsi_params_rfc_defaults(&p);
	ck_assert_int_eq(p.header_digest, ISCSI_DIGEST_NONE);
	ck_assert_uint_eq(p.max_connections, 1);
	ck_assert(p.initial_r2t);
	ck_assert(p.immediate_data);
	ck_assert_uint_eq(p.max_recv_dsl, 8192);
	ck_assert_uint_eq(p.max_xmit_dsl, 8192);
	ck_assert_uint_eq(p.max_burst, 262144);
	ck_assert_uint_eq(p.first_burst, 65536);
	ck_assert_uint_eq(p.default_time2wait, 2);
	ck_assert_uint_eq(p.default_time2retain, 20);
	ck_assert_uint_eq(p.max_outstanding_r2t, 1);
	ck_assert(p.data_pdu_in_order && p.data_sequence_in_order);
	ck_assert_uint_eq(p.error_recovery_level, 0);
	ck_assert(!p.rdma_extensions);
	ck_assert_uint_eq(p.initiator_recv_dsl, 8192);
	ck_assert_uint_eq(p.target_recv_dsl, 8192);
}
END_TEST

START_TEST(offer_normal)
{
	static const char want[] = "HeaderDigest=None\0DataDigest=None\0MaxConnections=1\0"
				   "InitialR2T=No\0ImmediateData=Yes\0"
				   "MaxRecvDataSegmentLength=262144\0MaxBurstLength=16776192\0"
				   "FirstBurstLength=262144\0DefaultTime2Wait=2\0"
				   "DefaultTime2Retain=0\0MaxOutstandingR2T=1\0"
				   "DataPDUInOrder=Yes\0DataSequenceInOrder=Yes\0"
				   "ErrorRecoveryLevel=0\0";
	struct negotiation n;
	GByteArray *out = g_byte_array_new();

	start(&n, false, false, out);
	ck_assert_uint_eq(out->len, sizeof(want) - 1);
	ck_assert_mem_eq(out->data, want, out->len);
	ck_assert(!negotiation_done(&n));
	g_byte_array_unref(out);
}
END_TEST

START_TEST(offer_digests_wanted)
{
	struct iscsi_params prop;
	struct negotiation n;
	GByteArray *out = g_byte_array_new();
	GPtrArray *p;

	iscsi_params_fast_proposal(&prop);
	prop.header_digest = ISCSI_DIGEST_CRC32C;
	negotiation_init(&n, &prop, true, false);
	negotiation_offer(&n, out);
	p = pairs_of(out->data, out->len);
	ck_assert_uint_eq(p->len, 3);
	ck_assert_str_eq(text_lookup(p, "HeaderDigest"), "CRC32C,None");
	ck_assert_str_eq(text_lookup(p, "DataDigest"), "None");
	ck_assert_str_eq(text_lookup(p, "MaxRecvDataSegmentLength"), "262144");
	g_ptr_array_unref(p);
	g_byte_array_unref(out);
}
END_TEST

START_TEST(offer_iser)
{
	struct negotiation n;
	GByteArray *out = g_byte_array_new();
	GPtrArray *p;
	struct text_pair *first;

	start(&n, false, true, out);
	p = pairs_of(out->data, out->len);
	first = g_ptr_array_index(p, 0);
	ck_assert_str_eq(first->key, "RDMAExtensions");
	ck_assert_str_eq(first->value, "Yes");
	ck_assert_ptr_null(text_lookup(p, "MaxRecvDataSegmentLength"));
	ck_assert_str_eq(text_lookup(p, "InitiatorRecvDataSegmentLength"), "8192");
	ck_assert_str_eq(text_lookup(p, "TargetRecvDataSegmentLength"), "8192");
	ck_assert_str_eq(text_lookup(p, "HeaderDigest"), "None");
	g_ptr_array_unref(p);
	g_byte_array_unref(out);
}
END_TEST

START_TEST(target_lowers_max_burst)
{
	struct negotiation n;
	struct iscsi_params r;
	GByteArray *out = g_byte_array_new(), *reply = g_byte_array_new();
	GError *err = NULL;

	start(&n, false, false, out);
	ck_assert_int_eq(
	    feed(&n, (const uint8_t *)full_answer, sizeof(full_answer) - 1, reply, &err), 0);
	ck_assert(!negotiation_done(&n));
	ck_assert_int_eq(
	    feed(&n, T("MaxBurstLength=131072\0FirstBurstLength=262144\0"), reply, &err), 0);
	ck_assert(negotiation_done(&n));
	ck_assert_uint_eq(reply->len, 0);
	negotiation_result(&n, &r);
	ck_assert_uint_eq(r.max_burst, 131072);
	ck_assert_uint_eq(r.first_burst, 131072);
	ck_assert(!r.initial_r2t);
	ck_assert(r.immediate_data);
	ck_assert_uint_eq(r.max_recv_dsl, 262144);
	ck_assert_uint_eq(r.max_xmit_dsl, 262144);
	ck_assert_uint_eq(r.default_time2retain, 0);
	g_byte_array_unref(out);
	g_byte_array_unref(reply);
}
END_TEST

START_TEST(not_understood_keeps_default)
{
	struct negotiation n;
	struct iscsi_params r;
	GByteArray *out = g_byte_array_new(), *reply = g_byte_array_new();
	GError *err = NULL;

	start(&n, false, false, out);
	ck_assert_int_eq(feed(&n,
			      T("InitialR2T=NotUnderstood\0MaxBurstLength=Irrelevant\0"
				"DefaultTime2Retain=Reject\0"),
			      reply, &err),
			 0);
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(reply->len, 0);
	negotiation_result(&n, &r);
	ck_assert(r.initial_r2t);
	ck_assert_uint_eq(r.max_burst, 262144);
	ck_assert_uint_eq(r.default_time2retain, 20);
	g_byte_array_unref(out);
	g_byte_array_unref(reply);
}
END_TEST

START_TEST(tiny_max_recv_dsl)
{
	struct negotiation n;
	struct iscsi_params r;
	GByteArray *out = g_byte_array_new(), *reply = g_byte_array_new();
	GError *err = NULL;

	start(&n, false, false, out);
	ck_assert_int_eq(feed(&n, T("MaxRecvDataSegmentLength=512\0"), reply, &err), 0);
	ck_assert_uint_eq(reply->len, 0);
	negotiation_result(&n, &r);
	ck_assert_uint_eq(r.max_xmit_dsl, 512);
	ck_assert_uint_eq(r.max_recv_dsl, 262144);

	ck_assert_int_eq(feed(&n, T("MaxRecvDataSegmentLength=511\0"), reply, &err), -1);
	ck_assert(g_error_matches(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_PROTOCOL));
	ck_assert_str_eq(err->message, "target sent an invalid value: MaxRecvDataSegmentLength=511:"
				       " not a number in the range 512..16777215");
	g_clear_error(&err);
	g_byte_array_unref(out);
	g_byte_array_unref(reply);
}
END_TEST

START_TEST(answer_above_offer)
{
	struct negotiation n;
	GByteArray *out = g_byte_array_new(), *reply = g_byte_array_new();
	GError *err = NULL;

	start(&n, false, false, out);
	ck_assert_int_eq(feed(&n, T("MaxBurstLength=16777215\0"), reply, &err), -1);
	ck_assert_str_eq(err->message, "target answered MaxBurstLength=16777215, more than the "
				       "16776192 we offered (result function Minimum)");
	g_clear_error(&err);

	start(&n, false, false, out);
	ck_assert_int_eq(feed(&n, T("ErrorRecoveryLevel=3\0"), reply, &err), -1);
	ck_assert_str_eq(err->message, "target sent an invalid value: ErrorRecoveryLevel=3: "
				       "not a number in the range 0..2");
	g_clear_error(&err);

	start(&n, false, false, out);
	ck_assert_int_eq(feed(&n, T("DefaultTime2Wait=1\0"), reply, &err), -1);
	ck_assert_str_eq(err->message, "target answered DefaultTime2Wait=1, less than the 2 we "
				       "offered (result function Maximum)");
	g_clear_error(&err);

	start(&n, false, false, out);
	ck_assert_int_eq(feed(&n, T("HeaderDigest=CRC32C\0"), reply, &err), -1);
	ck_assert_str_eq(err->message, "target answered HeaderDigest=CRC32C, which is not one of "
				       "the values we offered (None)");
	g_clear_error(&err);

	start(&n, false, false, out);
	ck_assert_int_eq(feed(&n, T("DataSequenceInOrder=No\0"), reply, &err), -1);
	ck_assert_str_eq(err->message,
			 "target answered DataSequenceInOrder=No to our Yes (result function OR)");
	g_clear_error(&err);

	start(&n, false, false, out);
	ck_assert_int_eq(feed(&n, T("MaxConnections=many\0"), reply, &err), -1);
	ck_assert_str_eq(err->message, "target sent an invalid value: MaxConnections=many: not a "
				       "number in the range 1..65535");
	g_clear_error(&err);
	g_byte_array_unref(out);
	g_byte_array_unref(reply);
}
END_TEST

START_TEST(and_violation)
{
	struct iscsi_params prop;
	struct negotiation n;
	GByteArray *out = g_byte_array_new(), *reply = g_byte_array_new();
	GError *err = NULL;

	iscsi_params_fast_proposal(&prop);
	prop.immediate_data = false;
	negotiation_init(&n, &prop, false, false);
	negotiation_offer(&n, out);
	ck_assert_int_eq(feed(&n, T("ImmediateData=Yes\0"), reply, &err), -1);
	ck_assert_str_eq(err->message,
			 "target answered ImmediateData=Yes to our No (result function AND)");
	g_clear_error(&err);
	g_byte_array_unref(out);
	g_byte_array_unref(reply);
}
END_TEST

START_TEST(unknown_key_not_understood)
{
	struct negotiation n;
	GByteArray *out = g_byte_array_new(), *reply = g_byte_array_new();
	GError *err = NULL;

	start(&n, false, false, out);
	ck_assert_int_eq(feed(&n, T("X-com.example.Foo=Bar\0IFMarker=No\0"), reply, &err), 0);
	ck_assert_uint_eq(reply->len, sizeof("X-com.example.Foo=NotUnderstood\0IFMarker="
					     "NotUnderstood"));
	ck_assert_mem_eq(reply->data, "X-com.example.Foo=NotUnderstood\0IFMarker=NotUnderstood\0",
			 reply->len);
	g_byte_array_unref(out);
	g_byte_array_unref(reply);
}
END_TEST

START_TEST(target_offers)
{
	struct iscsi_params prop, r;
	struct negotiation n;
	GByteArray *reply = g_byte_array_new();
	GError *err = NULL;
	static const char want[] = "MaxBurstLength=65536\0InitialR2T=Yes\0ImmediateData=No\0"
				   "HeaderDigest=CRC32C\0DefaultTime2Wait=5\0"
				   "DataPDUInOrder=Yes\0";

	/* Nothing offered by us yet: every key is the target's offer. */
	iscsi_params_fast_proposal(&prop);
	negotiation_init(&n, &prop, false, false);
	ck_assert_int_eq(feed(&n,
			      T("MaxBurstLength=65536\0InitialR2T=Yes\0ImmediateData=No\0"
				"HeaderDigest=CRC32C,None\0DefaultTime2Wait=5\0"
				"DataPDUInOrder=No\0TargetAlias=disk1\0TargetPortalGroupTag=3\0"),
			      reply, &err),
			 0);
	ck_assert_uint_eq(reply->len, sizeof(want) - 1);
	ck_assert_mem_eq(reply->data, want, reply->len);
	negotiation_result(&n, &r);
	ck_assert_uint_eq(r.max_burst, 65536);
	ck_assert(r.initial_r2t);
	ck_assert(!r.immediate_data);
	ck_assert_int_eq(r.header_digest, ISCSI_DIGEST_CRC32C);
	ck_assert_uint_eq(r.default_time2wait, 5);
	ck_assert_str_eq(r.target_alias, "disk1");
	ck_assert_uint_eq(r.target_portal_group_tag, 3);
	/* FirstBurstLength keeps its default 65536 <= 65536. */
	ck_assert_uint_eq(r.first_burst, 65536);

	ck_assert_int_eq(feed(&n, T("MaxBurstLength=4096\0"), reply, &err), -1);
	ck_assert_str_eq(err->message,
			 "target negotiated MaxBurstLength a second time (MaxBurstLength=4096)");
	g_clear_error(&err);
	g_byte_array_unref(reply);
}
END_TEST

START_TEST(discovery_irrelevant)
{
	struct negotiation n;
	GByteArray *out = g_byte_array_new(), *reply = g_byte_array_new();
	GError *err = NULL;

	start(&n, true, false, out);
	ck_assert_int_eq(
	    feed(&n, T("HeaderDigest=None\0DataDigest=None\0MaxBurstLength=8192\0"), reply, &err),
	    0);
	ck_assert(negotiation_done(&n));
	ck_assert_mem_eq(reply->data, "MaxBurstLength=Irrelevant\0", reply->len);
	g_byte_array_unref(out);
	g_byte_array_unref(reply);
}
END_TEST

START_TEST(iser_result)
{
	struct negotiation n;
	struct iscsi_params r;
	GByteArray *out = g_byte_array_new(), *reply = g_byte_array_new();
	GError *err = NULL;

	start(&n, false, true, out);
	ck_assert_int_eq(feed(&n,
			      T("RDMAExtensions=Yes\0InitiatorRecvDataSegmentLength=8192\0"
				"TargetRecvDataSegmentLength=4096\0InitialR2T=Yes\0"
				"ImmediateData=No\0"),
			      reply, &err),
			 0);
	negotiation_result(&n, &r);
	ck_assert(r.rdma_extensions);
	ck_assert_uint_eq(r.target_recv_dsl, 4096);
	ck_assert_uint_eq(r.max_xmit_dsl, 4096);
	ck_assert_uint_eq(r.max_recv_dsl, 8192);
	ck_assert(r.initial_r2t);
	ck_assert(!r.immediate_data);

	start(&n, false, true, out);
	ck_assert_int_eq(feed(&n, T("RDMAExtensions=No\0"), reply, &err), -1);
	ck_assert(g_error_matches(err, NEGOTIATION_ERROR, NEGOTIATION_ERROR_UNSUPPORTED));
	ck_assert_str_eq(err->message,
			 "the target does not accept iSER (RDMAExtensions=Yes refused)");
	g_clear_error(&err);
	g_byte_array_unref(out);
	g_byte_array_unref(reply);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("negotiate");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, offer_normal);
	tcase_add_test(tc, offer_digests_wanted);
	tcase_add_test(tc, offer_iser);
	tcase_add_test(tc, target_lowers_max_burst);
	tcase_add_test(tc, not_understood_keeps_default);
	tcase_add_test(tc, tiny_max_recv_dsl);
	tcase_add_test(tc, answer_above_offer);
	tcase_add_test(tc, and_violation);
	tcase_add_test(tc, unknown_key_not_understood);
	tcase_add_test(tc, target_offers);
	tcase_add_test(tc, discovery_irrelevant);
	tcase_add_test(tc, iser_result);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
