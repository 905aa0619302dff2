// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz target: the receive-side header checks of initiator/pdu.c, as the
 * session runs them on every PDU a target sends.
 *
 * Input: one configuration byte, the 48-byte BHS, then the AHS (as many
 * bytes as TotalAHSLength says, or as the next byte says when bit 4 of the
 * configuration is set, so a header that lies about its AHS is tried too),
 * then the data segment (the rest).
 *
 * Configuration byte: bit 0 in login, bits 1-3 our MaxRecvDataSegmentLength
 * (see mrdsl[]), bit 4 AHS length from the input.
 */
#include "common/iscsi-proto.h"
#include "initiator/pdu.h"
#include "initiator/scsi.h"
#include "tests/fuzz/fuzz-common.h"

static const uint32_t mrdsl[8] = {0, 512, 4096, 8192, 65536, 262144, 16777215, 0xffffffffu};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* Reads every byte pdu_ahs_foreach() hands out, so ASan checks the bounds. */
static int touch_ahs(void *opaque, uint8_t type, const uint8_t *val, uint16_t len)
{
	unsigned int *sum = opaque;
	uint16_t i;

	*sum += type;
	for (i = 0; i < len; i++)
		*sum += val[i];
	return 0;
}

/* A SCSI Response's data segment: SenseLength, sense, then what session.c does. */
static void check_scsi_rsp(const uint8_t *data, uint32_t dlen)
{
	const uint8_t *sense;
	uint32_t sense_len;
	struct scsi_sense s;
	char msg[160];
	uint8_t *copy;

	if (pdu_scsi_rsp_sense(data, dlen, &sense, &sense_len) < 0)
		return;
	FUZZ_CHECK(!sense || (sense >= data + 2 && sense + sense_len <= data + dlen),
		   "sense data inside the data segment");
	if (!sense)
		return;
	copy = g_memdup2(sense, sense_len);
	if (scsi_sense_parse(copy, sense_len, &s) == 0) {
		scsi_sense_describe(&s, msg, sizeof(msg));
		FUZZ_CHECK(strlen(msg) < sizeof(msg), "sense description terminated");
		(void)scsi_sense_errno(&s);
		(void)scsi_sense_is_retryable(&s);
	}
	g_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	uint8_t cfg = fuzz_u8(&in);
	bool in_login = cfg & 1;
	uint32_t max_recv_dsl = mrdsl[(cfg >> 1) & 7];
	g_autofree uint8_t *bhs = NULL, *ahs = NULL, *seg = NULL;
	size_t bhs_len, ahs_len, dlen;
	unsigned int sum = 0;
	char why[4 * PDU_WHY_LEN];
	int rc;

	if (in.left < ISCSI_BHS_LEN)
		return 0;
	bhs = fuzz_take(&in, ISCSI_BHS_LEN, &bhs_len);
	ahs = fuzz_take(&in, (cfg & 0x10) ? fuzz_u8(&in) : pdu_ahs_length(bhs), &ahs_len);
	seg = fuzz_take_rest(&in, &dlen);

	(void)pdu_opcode_name(bhs[0]);
	(void)pdu_reject_reason_name(bhs[2]);
	rc = pdu_ahs_foreach(ahs_len ? ahs : NULL, (uint32_t)ahs_len, touch_ahs, &sum);
	FUZZ_CHECK(rc == 0 || rc == -1, "pdu_ahs_foreach returns 0 or -1 with this callback");

	memset(why, 0, sizeof(why));
	rc = pdu_check_rx(bhs, ahs_len ? ahs : NULL, (uint32_t)ahs_len, (uint32_t)dlen,
			  max_recv_dsl, in_login, why, sizeof(why));
	if (rc < 0) {
		FUZZ_CHECK(why[0] != '\0', "a rejected PDU comes with a reason");
		/* pdu.h promises PDU_WHY_LEN is room enough for any reason. */
		FUZZ_CHECK(strlen(why) < PDU_WHY_LEN, "reason fits PDU_WHY_LEN");
		return 0;
	}
	FUZZ_CHECK(rc == 0, "pdu_check_rx returns 0 or -1");
	FUZZ_CHECK(pdu_ahs_length(bhs) == ahs_len && pdu_dlength(bhs) == dlen,
		   "an accepted PDU has the lengths its header says");
	(void)pdu_carries_task_itt(bhs);
	(void)pdu_itt(bhs);
	if (pdu_opcode(bhs) == ISCSI_OP_SCSI_RSP)
		check_scsi_rsp(dlen ? seg : NULL, (uint32_t)dlen);
	return 0;
}
