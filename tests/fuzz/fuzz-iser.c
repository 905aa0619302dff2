// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz target: what an iSER target sends, as datamover/iser.c checks it
 * before anything else looks at it (datamover/iser-msg.c), and then what
 * the session does with an accepted message: the iSCSI header checks of
 * initiator/pdu.c. Also the private data of the target's connection
 * accept.
 *
 * Input: one configuration byte, then the Send message (iSER header, BHS,
 * AHS, data segment), copied into a block of exactly its size so that
 * AddressSanitizer catches a read one byte past it.
 *
 * Configuration byte: bits 0-2 the data segment limit we declared
 * (limits[]), bit 3 in login, bits 4-5 how many bytes of the message are
 * also handed in as CM private data (0, 1, 4, all).
 */
#include "datamover/iser-msg.h"
#include "initiator/pdu.h"
#include "tests/fuzz/fuzz-common.h"

static const uint32_t limits[8] = {0, 512, 4096, 8192, 65536, 262144, 16777215, 0xffffffffu};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* Every byte of @p, so that ASan checks a part the parser handed out. */
static unsigned int touch(const uint8_t *p, uint32_t len)
{
	unsigned int sum = 0;
	uint32_t i;

	for (i = 0; i < len; i++)
		sum += p[i];
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t priv_len[4] = {0, 1, 4, SIZE_MAX};
	struct fuzz_in in = fuzz_in_init(data, size);
	uint8_t cfg = fuzz_u8(&in);
	uint32_t limit = limits[cfg & 7];
	bool in_login = cfg & 8;
	g_autofree uint8_t *msg = NULL;
	char why[160], pwhy[4 * PDU_WHY_LEN];
	struct iser_msg m;
	uint8_t flags;
	size_t len, plen;
	volatile unsigned int sum;

	msg = fuzz_take_rest(&in, &len);
	if (len > UINT32_MAX)
		return 0;

	plen = MIN(priv_len[(cfg >> 4) & 3], len);
	if (iser_cm_reply_flags(plen ? msg : NULL, plen, &flags) == 0)
		FUZZ_CHECK(plen >= sizeof(struct iser_cm_hdr) || flags == 0,
			   "no flags without a whole CM header");
	else
		FUZZ_CHECK(plen && plen < sizeof(struct iser_cm_hdr), "short CM data refused");

	memset(why, 0, sizeof(why));
	if (iser_msg_parse(msg, (uint32_t)len, limit, &m, why, sizeof(why)) < 0) {
		FUZZ_CHECK(why[0] != '\0', "a refused message comes with a reason");
		FUZZ_CHECK(strlen(why) < sizeof(why) - 1, "the reason was not cut short");
		return 0;
	}
	FUZZ_CHECK(m.bhs == msg + sizeof(struct iser_hdr), "the BHS follows the iSER header");
	FUZZ_CHECK(m.data + m.dlen <= msg + len, "the data segment lies inside the message");
	FUZZ_CHECK(m.dlen <= limit, "the data segment is within the limit");
	FUZZ_CHECK(m.op != ISCSI_OP_DATA_IN && m.op != ISCSI_OP_R2T, "no Data-In or R2T on iSER");
	sum = touch(m.bhs, ISCSI_BHS_LEN) + touch(m.data, m.dlen);
	if (m.ahs)
		sum += touch(m.ahs, m.ahs_len);
	(void)sum;

	/* What the session runs next on the PDU it is handed. */
	memset(pwhy, 0, sizeof(pwhy));
	if (pdu_check_rx(m.bhs, m.ahs, m.ahs_len, m.dlen, limit, in_login, pwhy, sizeof(pwhy)) < 0)
		FUZZ_CHECK(pwhy[0] != '\0', "a rejected PDU comes with a reason");
	return 0;
}
