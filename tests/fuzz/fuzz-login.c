// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz target: the login state machine of initiator/login.c driven by a
 * sequence of Login Responses, with no authentication, one-way CHAP or
 * mutual CHAP configured, for a normal or discovery session over TCP or
 * iSER.
 *
 * Input: one configuration byte, then the target's PDUs, each a 48-byte BHS
 * followed by as many data bytes as its DataSegmentLength says (no padding,
 * no digests); the input ends where a PDU is cut short. Unless bit 4 of the
 * configuration is set, each PDU goes through pdu_check_rx() first and
 * only Login Responses reach the login, as in the session.
 *
 * Configuration byte: bits 0-1 authentication (FUZZ_AUTH_*), bit 2
 * discovery, bit 3 iSER, bit 4 feed every PDU to the login unchecked, bit 5
 * add a connection to an existing session (TSIH FUZZ_LOGIN_TSIH).
 *
 * The CHAP random source is fixed (FUZZ_LOGIN_RANDOM), so our mutual CHAP
 * challenge is always the same and a seed can carry the target's valid
 * answer to it: the fuzzer then gets past mutual authentication too.
 */
#include "common/iscsi-proto.h"
#include "initiator/chap.h"
#include "initiator/keys.h"
#include "initiator/login.h"
#include "initiator/params.h"
#include "initiator/pdu.h"
#include "tests/fuzz/fuzz-common.h"

enum fuzz_auth {
	FUZZ_AUTH_NONE,
	FUZZ_AUTH_CHAP,
	FUZZ_AUTH_MUTUAL,
	/* Mutual CHAP with the same secret both ways: a configuration error. */
	FUZZ_AUTH_SAME_SECRET,
};

#define FUZZ_LOGIN_ITT	   0x00000010u
#define FUZZ_LOGIN_TSIH	   0x0101u
#define FUZZ_LOGIN_INAME   "iqn.2024-01.org.example:fuzz-initiator"
#define FUZZ_LOGIN_TARGET  "iqn.2024-01.org.example:fuzz-target"
#define FUZZ_LOGIN_USER	   "fuzzuser"
#define FUZZ_LOGIN_SECRET  "fuzzsecret12"
#define FUZZ_LOGIN_MUSER   "fuzztarget"
#define FUZZ_LOGIN_MSECRET "targetsecret34"
/* A bound on round trips above the login's own, in case it had none. */
#define FUZZ_LOGIN_MAX_STEPS 256

static const uint8_t fuzz_login_isid[6] = {0x80, 0x12, 0x34, 0x56, 0x78, 0x9a};

/* The fixed "random" bytes: 0x5a, 0x5b, ... from the start of each draw. */
static void fixed_random(uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(0x5a + i);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	chap_set_random_source(fixed_random);
	return 0;
}

/* The login configuration a configuration byte selects. */
static void fuzz_login_config(uint8_t cfg_byte, struct login_config *cfg)
{
	enum fuzz_auth auth = cfg_byte & 3;

	memset(cfg, 0, sizeof(*cfg));
	cfg->initiator_name = FUZZ_LOGIN_INAME;
	cfg->initiator_alias = "fuzz";
	cfg->discovery = cfg_byte & 0x04;
	cfg->target_name = cfg->discovery ? NULL : FUZZ_LOGIN_TARGET;
	memcpy(cfg->isid, fuzz_login_isid, sizeof(cfg->isid));
	cfg->tsih = (cfg_byte & 0x20) ? FUZZ_LOGIN_TSIH : 0;
	cfg->itt = FUZZ_LOGIN_ITT;
	cfg->cmdsn = 1;
	if (auth != FUZZ_AUTH_NONE) {
		cfg->chap_user = FUZZ_LOGIN_USER;
		cfg->chap_secret = (const uint8_t *)FUZZ_LOGIN_SECRET;
		cfg->chap_secret_len = strlen(FUZZ_LOGIN_SECRET);
	}
	if (auth == FUZZ_AUTH_MUTUAL || auth == FUZZ_AUTH_SAME_SECRET) {
		cfg->mutual_user = FUZZ_LOGIN_MUSER;
		cfg->mutual_secret =
		    (const uint8_t *)(auth == FUZZ_AUTH_MUTUAL ? FUZZ_LOGIN_MSECRET
							       : FUZZ_LOGIN_SECRET);
		cfg->mutual_secret_len = strlen((const char *)cfg->mutual_secret);
	}
	iscsi_params_fast_proposal(&cfg->proposal);
	cfg->iser = cfg_byte & 0x08;
}

/* Our own request must be one a target can parse. */
static void check_request(const uint8_t *bhs, const GByteArray *data)
{
	g_autoptr(GPtrArray) pairs = NULL;
	bool cont = bhs[1] & ISCSI_LOGIN_CONTINUE;
	GError *err = NULL;

	FUZZ_CHECK(pdu_opcode(bhs) == ISCSI_OP_LOGIN_REQ, "we send Login Requests");
	FUZZ_CHECK(pdu_dlength(bhs) == data->len && data->len <= LOGIN_MAX_PDU_DATA,
		   "request DataSegmentLength");
	FUZZ_CHECK(!(cont && (bhs[1] & ISCSI_LOGIN_TRANSIT)), "never both T and C");
	if (cont)
		return;
	/* A continued text is only whole in its last piece. */
	pairs = text_parse(data->data, data->len, &err);
	if (!pairs && data->len == LOGIN_MAX_PDU_DATA) {
		g_clear_error(&err);
		return;
	}
	FUZZ_CHECK(pairs != NULL, "our login text parses");
}

/* Where the login ended: the state, the error and the outputs agree. */
static void check_end(struct login *l, enum login_step step, GError *err)
{
	struct iscsi_params p;
	const char *host;
	uint16_t port;
	bool permanent;

	(void)login_state_name(l);
	switch (step) {
	case LOGIN_STEP_DONE:
		FUZZ_CHECK(login_state(l) == LOGIN_FULL_FEATURE && !err, "done means full feature");
		FUZZ_CHECK(login_tsih(l) != 0, "a session has a TSIH");
		login_params(l, &p);
		FUZZ_CHECK(p.first_burst <= p.max_burst, "FirstBurstLength within MaxBurstLength");
		break;
	case LOGIN_STEP_REDIRECT:
		FUZZ_CHECK(login_redirect(l, &host, &port, &permanent), "redirect has an address");
		FUZZ_CHECK(host && host[0] && port, "redirect address complete");
		break;
	case LOGIN_STEP_FAILED:
		FUZZ_CHECK(err && err->message[0], "a failure says why");
		FUZZ_CHECK(login_state(l) != LOGIN_FULL_FEATURE, "no full feature after failure");
		break;
	case LOGIN_STEP_SEND:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	uint8_t cfg_byte = fuzz_u8(&in);
	bool unchecked = cfg_byte & 0x10;
	g_autoptr(GByteArray) req = g_byte_array_new();
	enum login_step step = LOGIN_STEP_SEND;
	struct login_config cfg;
	bool need_request = true;
	GError *err = NULL;
	struct login *l;
	int steps;

	fuzz_login_config(cfg_byte, &cfg);
	l = login_new(&cfg);
	for (steps = 0; steps < FUZZ_LOGIN_MAX_STEPS && step == LOGIN_STEP_SEND; steps++) {
		uint8_t req_bhs[ISCSI_BHS_LEN];
		g_autofree uint8_t *bhs = NULL, *seg = NULL;
		size_t got, dlen;
		char why[PDU_WHY_LEN];

		if (need_request) {
			if (login_next_request(l, req_bhs, req, &err) < 0) {
				FUZZ_CHECK(err != NULL, "no request says why");
				g_clear_error(&err);
				break;
			}
			check_request(req_bhs, req);
		}
		if (in.left < ISCSI_BHS_LEN)
			break;
		bhs = fuzz_take(&in, ISCSI_BHS_LEN, &got);
		if (in.left < pdu_dlength(bhs))
			break;
		seg = fuzz_take(&in, pdu_dlength(bhs), &dlen);
		if (!unchecked) {
			if (pdu_check_rx(bhs, NULL, 0, (uint32_t)dlen, PDU_LOGIN_MAX_DSL, true, why,
					 sizeof(why)) < 0)
				break;
			/* The session ignores a Reject here and waits on. */
			need_request = pdu_opcode(bhs) == ISCSI_OP_LOGIN_RSP;
			if (!need_request)
				continue;
		}
		step = login_handle_response(l, bhs, seg, (uint32_t)dlen, &err);
		check_end(l, step, err);
		g_clear_error(&err);
	}
	login_free(l);
	return 0;
}
