// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz target: operational negotiation (initiator/negotiate.c) fed the
 * target's keys of one or more login responses, for a normal or discovery
 * session over TCP or iSER, with what we offered or without.
 *
 * Input: one configuration byte, then the text of each response; a 0xff
 * byte (never valid in a key) starts the next response.
 *
 * Configuration byte: bit 0 discovery, bit 1 iSER, bit 2 our keys are not
 * offered first (the target speaks first), bit 3 RFC defaults instead of
 * the fast proposal, bits 4-5 CRC32C proposed for the header and data
 * digests.
 */
#include "common/iscsi-proto.h"
#include "initiator/keys.h"
#include "initiator/negotiate.h"
#include "tests/fuzz/fuzz-common.h"

#define ROUND_SEP 0xff

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* Our answers are what the target parses next: they must be well formed. */
static void check_reply(const GByteArray *reply)
{
	g_autoptr(GPtrArray) pairs = NULL;
	GError *err = NULL;

	pairs = text_parse(reply->data, reply->len, &err);
	if (!pairs)
		g_printerr("fuzz: our reply does not parse: %s\n", err->message);
	FUZZ_CHECK(pairs != NULL, "our answers are well-formed unique key=value pairs");
}

/* Whatever the target said, the values in force are ones we can run with. */
static void check_result(const struct negotiation *n)
{
	struct iscsi_params p;

	negotiation_result(n, &p);
	FUZZ_CHECK(p.max_burst >= 512 && p.max_burst <= ISCSI_MAX_DSL, "MaxBurstLength range");
	FUZZ_CHECK(p.first_burst >= 512 && p.first_burst <= p.max_burst, "FirstBurstLength range");
	FUZZ_CHECK(p.max_xmit_dsl >= ISCSI_MIN_MRDSL && p.max_xmit_dsl <= ISCSI_MAX_DSL,
		   "target's MaxRecvDataSegmentLength range");
	FUZZ_CHECK(p.max_recv_dsl >= ISCSI_MIN_MRDSL && p.max_recv_dsl <= ISCSI_MAX_DSL,
		   "our MaxRecvDataSegmentLength range");
	FUZZ_CHECK(p.max_outstanding_r2t >= 1, "MaxOutstandingR2T at least 1");
	FUZZ_CHECK(p.max_connections >= 1, "MaxConnections at least 1");
	FUZZ_CHECK(p.error_recovery_level <= 2, "ErrorRecoveryLevel range");
	FUZZ_CHECK(p.header_digest == ISCSI_DIGEST_NONE || p.header_digest == ISCSI_DIGEST_CRC32C,
		   "HeaderDigest value");
	FUZZ_CHECK(p.data_digest == ISCSI_DIGEST_NONE || p.data_digest == ISCSI_DIGEST_CRC32C,
		   "DataDigest value");
	FUZZ_CHECK(!n->iser ||
		       (p.header_digest == ISCSI_DIGEST_NONE && p.data_digest == ISCSI_DIGEST_NONE),
		   "no iSCSI digests on iSER");
	FUZZ_CHECK(memchr(p.target_alias, '\0', sizeof(p.target_alias)) != NULL,
		   "TargetAlias terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	uint8_t cfg = fuzz_u8(&in);
	g_autoptr(GByteArray) offer = g_byte_array_new();
	g_autoptr(GByteArray) reply = g_byte_array_new();
	struct iscsi_params proposal;
	struct negotiation n;
	size_t len, off = 0;
	g_autofree uint8_t *rest = fuzz_take_rest(&in, &len);

	if (cfg & 0x08)
		iscsi_params_rfc_defaults(&proposal);
	else
		iscsi_params_fast_proposal(&proposal);
	proposal.header_digest = (cfg & 0x10) ? ISCSI_DIGEST_CRC32C : ISCSI_DIGEST_NONE;
	proposal.data_digest = (cfg & 0x20) ? ISCSI_DIGEST_CRC32C : ISCSI_DIGEST_NONE;
	negotiation_init(&n, &proposal, cfg & 0x01, cfg & 0x02);
	if (!(cfg & 0x04)) {
		negotiation_offer(&n, offer);
		check_reply(offer);
	}

	while (off <= len) {
		const uint8_t *sep = memchr(rest + off, ROUND_SEP, len - off);
		size_t rlen = sep ? (size_t)(sep - (rest + off)) : len - off;
		g_autofree uint8_t *round = g_memdup2(rest + off, rlen);
		g_autoptr(GPtrArray) pairs = NULL;
		GError *err = NULL;
		int rc;

		off += rlen + 1;
		pairs = text_parse(round, rlen, &err);
		if (!pairs) {
			g_clear_error(&err);
			break;
		}
		g_byte_array_set_size(reply, 0);
		rc = negotiation_handle(&n, pairs, reply, &err);
		if (rc < 0) {
			FUZZ_CHECK(err != NULL, "negotiation_handle sets its error");
			g_clear_error(&err);
			break;
		}
		FUZZ_CHECK(rc == 0 && err == NULL, "negotiation_handle returns 0 or -1");
		check_reply(reply);
		check_result(&n);
	}
	(void)negotiation_done(&n);
	check_result(&n);
	return 0;
}
