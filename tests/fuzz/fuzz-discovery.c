// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz target: SendTargets discovery (initiator/discovery.c), both the
 * parser of a complete answer and the exchange of continued Text Responses.
 *
 * Input: one configuration byte. With bit 0 set the rest is one SendTargets
 * answer for discovery_parse(). Otherwise it is the target's PDUs, each a
 * 48-byte BHS followed by as many data bytes as its DataSegmentLength says
 * (the input ends where a PDU is cut short); each goes through
 * pdu_check_rx() with our MaxRecvDataSegmentLength (8192 << bits 1-2) and,
 * if it is a Text Response, to discovery_handle_response(), as in the
 * session. Bit 3 feeds every PDU to the exchange unchecked.
 */
#include "common/iscsi-proto.h"
#include "initiator/discovery.h"
#include "initiator/pdu.h"
#include "tests/fuzz/fuzz-common.h"

#define FUZZ_DISCOVERY_ITT 0x00000020u
/* Above the exchange's own bound of 4 MiB / 8 KiB per PDU. */
#define FUZZ_DISCOVERY_MAX_STEPS 1024

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* What open.c makes of a target list: names and every portal in text. */
static void check_targets(GPtrArray *targets)
{
	guint i, j;

	for (i = 0; i < targets->len; i++) {
		const struct discovery_target *t = g_ptr_array_index(targets, i);

		FUZZ_CHECK(t->name && t->name[0], "a target has a name");
		for (j = 0; j < t->portals->len; j++) {
			const struct discovery_portal *p = g_ptr_array_index(t->portals, j);
			g_autofree char *text =
			    g_strdup_printf("%s:%u,%u", p->host, p->port, p->tpgt);

			FUZZ_CHECK(p->host[0] && p->port, "a portal has a host and a port");
			FUZZ_CHECK(strlen(text) > 4, "portal text");
		}
	}
}

static void parse_only(struct fuzz_in *in)
{
	size_t len;
	g_autofree uint8_t *text = fuzz_take_rest(in, &len);
	g_autoptr(GPtrArray) targets = NULL;
	GError *err = NULL;

	targets = discovery_parse(text, len, &err);
	if (!targets) {
		FUZZ_CHECK(err && err->message[0], "a failure says why");
		g_clear_error(&err);
		return;
	}
	check_targets(targets);
}

static void exchange(struct fuzz_in *in, uint32_t max_recv_dsl, bool unchecked)
{
	g_autoptr(GByteArray) req = g_byte_array_new();
	enum discovery_step step = DISCOVERY_STEP_CONTINUE;
	bool need_request = true;
	struct discovery d;
	GError *err = NULL;
	int steps;

	discovery_init(&d, FUZZ_DISCOVERY_ITT);
	for (steps = 0; steps < FUZZ_DISCOVERY_MAX_STEPS && step == DISCOVERY_STEP_CONTINUE;
	     steps++) {
		uint8_t req_bhs[ISCSI_BHS_LEN];
		g_autofree uint8_t *bhs = NULL, *seg = NULL;
		size_t got, dlen;
		char why[PDU_WHY_LEN];

		if (need_request) {
			discovery_next_request(&d, 2, 1, req_bhs, req);
			FUZZ_CHECK(pdu_opcode(req_bhs) == ISCSI_OP_TEXT_REQ &&
				       pdu_dlength(req_bhs) == req->len,
				   "we send Text Requests");
		}
		if (in->left < ISCSI_BHS_LEN)
			break;
		bhs = fuzz_take(in, ISCSI_BHS_LEN, &got);
		if (in->left < pdu_dlength(bhs))
			break;
		seg = fuzz_take(in, pdu_dlength(bhs), &dlen);
		if (!unchecked) {
			if (pdu_check_rx(bhs, NULL, 0, (uint32_t)dlen, max_recv_dsl, false, why,
					 sizeof(why)) < 0)
				break;
			/* Other PDUs go elsewhere in the session; the exchange waits on. */
			need_request = pdu_opcode(bhs) == ISCSI_OP_TEXT_RSP;
			if (!need_request)
				continue;
		}
		step = discovery_handle_response(&d, bhs, seg, (uint32_t)dlen, &err);
		if (step == DISCOVERY_STEP_FAILED) {
			FUZZ_CHECK(err && err->message[0], "a failure says why");
			g_clear_error(&err);
		} else if (step == DISCOVERY_STEP_DONE) {
			FUZZ_CHECK(!err && discovery_targets(&d), "done means a target list");
			check_targets(discovery_targets(&d));
		}
	}
	discovery_clear(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	uint8_t cfg = fuzz_u8(&in);

	if (cfg & 1)
		parse_only(&in);
	else
		exchange(&in, 8192u << ((cfg >> 1) & 3), cfg & 0x08);
	return 0;
}
