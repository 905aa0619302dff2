// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for initiator/login.c: the login state machine driven with
 * hand-built Login Responses.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "initiator/chap.h"
#include "initiator/keys.h"
#include "initiator/login.h"

#define T(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

#define TARGET "iqn.2003-01.org.example:disk1"
#define ITT    0x0badcafeu

static const uint8_t isid[6] = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01};
static const uint8_t init_secret[] = "initiatorsecret";
static const uint8_t tgt_secret[] = "targetsecret99";

/*
 * MD5(0x2a || "initiatorsecret" || 00 01 .. 0f), computed with Python's
 * hashlib: our answer to CHAP_I=42 and the challenge 0x00..0x0f.
 */
static const char md5_resp[] = "0x8f200ae11d4b70649d2c59205efa04d2";

/* Deterministic random: the identifier is 0x11, a challenge a0, a1, ... */
static void fixed_random(uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = len == 1 ? 0x11 : (uint8_t)(0xa0 + i);
}

static void base_config(struct login_config *c)
{
	memset(c, 0, sizeof(*c));
	c->initiator_name = "iqn.2024-01.org.example:host";
	c->target_name = TARGET;
	memcpy(c->isid, isid, sizeof(isid));
	c->cid = 1;
	c->itt = ITT;
	c->cmdsn = 7;
	c->exp_statsn = 0;
	iscsi_params_fast_proposal(&c->proposal);
}

static void chap_config(struct login_config *c, bool mutual)
{
	base_config(c);
	c->chap_user = "alice";
	c->chap_secret = init_secret;
	c->chap_secret_len = sizeof(init_secret) - 1;
	if (mutual) {
		c->mutual_user = "tgtuser";
		c->mutual_secret = tgt_secret;
		c->mutual_secret_len = sizeof(tgt_secret) - 1;
	}
}

/* A Login Response echoing our ISID/ITT. */
static void build_rsp(uint8_t *bhs, uint8_t flags, uint16_t tsih, uint32_t statsn, uint16_t status,
		      uint32_t dlen)
{
	struct iscsi_login_rsp *r = (struct iscsi_login_rsp *)bhs;

	memset(bhs, 0, ISCSI_BHS_LEN);
	r->opcode = ISCSI_OP_LOGIN_RSP;
	r->flags = flags;
	iscsi_set_dlength(r->dlength, dlen);
	memcpy(r->isid, isid, sizeof(isid));
	r->tsih = g_htons(tsih);
	r->itt = g_htonl(ITT);
	r->statsn = g_htonl(statsn);
	r->exp_cmdsn = g_htonl(7);
	r->max_cmdsn = g_htonl(38);
	r->status_class = (uint8_t)(status >> 8);
	r->status_detail = (uint8_t)status;
}

/* Flags byte: T, C, CSG, NSG. */
#define FL(t, c, csg, nsg) ((uint8_t)(((t) ? 0x80 : 0) | ((c) ? 0x40 : 0) | ((csg) << 2) | (nsg)))

static enum login_step respond(struct login *l, uint8_t flags, uint16_t tsih, uint32_t statsn,
			       uint16_t status, const uint8_t *data, size_t len, GError **err)
{
	uint8_t bhs[ISCSI_BHS_LEN];

	build_rsp(bhs, flags, tsih, statsn, status, (uint32_t)len);
	return login_handle_response(l, bhs, data, (uint32_t)len, err);
}

/* Fetch the next request; check its fixed fields; return its keys. */
static GPtrArray *next_req(struct login *l, uint8_t want_flags, uint32_t want_exp_statsn)
{
	uint8_t bhs[ISCSI_BHS_LEN];
	const struct iscsi_login_req *r = (const struct iscsi_login_req *)bhs;
	GByteArray *data = g_byte_array_new();
	GError *err = NULL;
	GPtrArray *pairs;

	ck_assert_int_eq(login_next_request(l, bhs, data, &err), 0);
	ck_assert_uint_eq(r->opcode, 0x43);
	ck_assert_uint_eq(r->flags, want_flags);
	ck_assert_uint_eq(r->max_version, 0);
	ck_assert_uint_eq(r->min_version, 0);
	ck_assert_mem_eq(r->isid, isid, 6);
	ck_assert_uint_eq(g_ntohl(r->itt), ITT);
	ck_assert_uint_eq(g_ntohs(r->cid), 1);
	ck_assert_uint_eq(g_ntohl(r->cmdsn), 7);
	ck_assert_uint_eq(g_ntohl(r->exp_statsn), want_exp_statsn);
	ck_assert_uint_eq(iscsi_dlength(r->dlength), data->len);
	pairs = text_parse(data->data, data->len, &err);
	ck_assert_msg(pairs != NULL, "%s", err ? err->message : "");
	g_byte_array_unref(data);
	return pairs;
}

static const char op_answer[] = "HeaderDigest=None\0DataDigest=None\0MaxConnections=1\0"
				"InitialR2T=No\0ImmediateData=Yes\0"
				"MaxRecvDataSegmentLength=65536\0MaxBurstLength=131072\0"
				"FirstBurstLength=262144\0DefaultTime2Wait=2\0"
				"DefaultTime2Retain=0\0MaxOutstandingR2T=1\0DataPDUInOrder=Yes\0"
				"DataSequenceInOrder=Yes\0ErrorRecoveryLevel=0\0";

/* Operational stage from its first request to full feature phase. */
static void finish_operational(struct login *l, uint32_t statsn)
{
	GPtrArray *req = next_req(l, FL(1, 0, 1, 3), statsn);
	GError *err = NULL;
	struct iscsi_params p;

	ck_assert_str_eq(text_lookup(req, "MaxBurstLength"), "16776192");
	ck_assert_str_eq(text_lookup(req, "InitialR2T"), "No");
	ck_assert_ptr_null(text_lookup(req, "InitiatorName"));
	g_ptr_array_unref(req);
	ck_assert_int_eq(respond(l, FL(1, 0, 1, 3), 0x1234, statsn, 0, (const uint8_t *)op_answer,
				 sizeof(op_answer) - 1, &err),
			 LOGIN_STEP_DONE);
	ck_assert_int_eq(login_state(l), LOGIN_FULL_FEATURE);
	ck_assert_uint_eq(login_tsih(l), 0x1234);
	ck_assert_uint_eq(login_statsn(l), statsn);
	ck_assert_uint_eq(login_exp_cmdsn(l), 7);
	ck_assert_uint_eq(login_max_cmdsn(l), 38);
	login_params(l, &p);
	ck_assert_uint_eq(p.max_burst, 131072);
	ck_assert_uint_eq(p.first_burst, 131072);
	ck_assert_uint_eq(p.max_xmit_dsl, 65536);
	ck_assert_uint_eq(p.max_recv_dsl, 262144);
	ck_assert(!p.initial_r2t);
}

START_TEST(no_auth)
{
	struct login_config c;
	struct login *l;
	GPtrArray *req;
	GError *err = NULL;
	struct iscsi_params p;

	base_config(&c);
	c.initiator_alias = "host-a";
	l = login_new(&c);
	ck_assert_int_eq(login_state(l), LOGIN_SECURITY_NEGOTIATION);
	req = next_req(l, FL(1, 0, 0, 1), 0);
	ck_assert_uint_eq(req->len, 5);
	ck_assert_str_eq(text_lookup(req, "InitiatorName"), "iqn.2024-01.org.example:host");
	ck_assert_str_eq(text_lookup(req, "InitiatorAlias"), "host-a");
	ck_assert_str_eq(text_lookup(req, "SessionType"), "Normal");
	ck_assert_str_eq(text_lookup(req, "TargetName"), TARGET);
	ck_assert_str_eq(text_lookup(req, "AuthMethod"), "None");
	g_ptr_array_unref(req);

	ck_assert_int_eq(respond(l, FL(1, 0, 0, 1), 0, 100, 0,
				 T("AuthMethod=None\0TargetPortalGroupTag=1\0TargetAlias=d1\0"),
				 &err),
			 LOGIN_STEP_SEND);
	ck_assert_int_eq(login_state(l), LOGIN_OPERATIONAL_NEGOTIATION);
	ck_assert_str_eq(login_state_name(l), "operational negotiation");
	finish_operational(l, 101);
	login_params(l, &p);
	ck_assert_uint_eq(p.target_portal_group_tag, 1);
	ck_assert_str_eq(p.target_alias, "d1");
	ck_assert_str_eq(login_state_name(l), "full feature phase");
	login_free(l);
}
END_TEST

START_TEST(discovery_session)
{
	struct login_config c;
	struct login *l;
	GPtrArray *req;
	GError *err = NULL;

	base_config(&c);
	c.discovery = true;
	c.target_name = NULL;
	l = login_new(&c);
	req = next_req(l, FL(1, 0, 0, 1), 0);
	ck_assert_str_eq(text_lookup(req, "SessionType"), "Discovery");
	ck_assert_ptr_null(text_lookup(req, "TargetName"));
	g_ptr_array_unref(req);
	ck_assert_int_eq(respond(l, FL(1, 0, 0, 1), 0, 5, 0, T("AuthMethod=None\0"), &err),
			 LOGIN_STEP_SEND);
	req = next_req(l, FL(1, 0, 1, 3), 6);
	ck_assert_uint_eq(req->len, 3);
	ck_assert_ptr_null(text_lookup(req, "MaxBurstLength"));
	g_ptr_array_unref(req);
	ck_assert_int_eq(
	    respond(l, FL(1, 0, 1, 3), 9, 6, 0, T("HeaderDigest=None\0DataDigest=None\0"), &err),
	    LOGIN_STEP_DONE);
	login_free(l);
}
END_TEST

/* Drive a CHAP login up to our CHAP_N/CHAP_R; returns that request's keys. */
static GPtrArray *chap_until_response(struct login *l, const char *auth_offer)
{
	GPtrArray *req;
	GError *err = NULL;

	req = next_req(l, FL(0, 0, 0, 0), 0);
	ck_assert_str_eq(text_lookup(req, "AuthMethod"), auth_offer);
	g_ptr_array_unref(req);
	ck_assert_int_eq(respond(l, FL(0, 0, 0, 0), 0, 50, 0, T("AuthMethod=CHAP\0"), &err),
			 LOGIN_STEP_SEND);
	ck_assert_int_eq(login_security_step(l), SECURITY_CHAP_ALGORITHM);
	req = next_req(l, FL(0, 0, 0, 0), 51);
	ck_assert_uint_eq(req->len, 1);
	ck_assert_str_eq(text_lookup(req, "CHAP_A"), "8,6,5,7");
	g_ptr_array_unref(req);
	ck_assert_int_eq(
	    respond(l, FL(0, 0, 0, 0), 0, 51, 0,
		    T("CHAP_A=5\0CHAP_I=42\0CHAP_C=0x000102030405060708090a0b0c0d0e0f\0"), &err),
	    LOGIN_STEP_SEND);
	ck_assert_int_eq(login_security_step(l), SECURITY_CHAP_RESPONSE);
	req = next_req(l, FL(1, 0, 0, 1), 52);
	ck_assert_str_eq(text_lookup(req, "CHAP_N"), "alice");
	ck_assert_str_eq(text_lookup(req, "CHAP_R"), md5_resp);
	return req;
}

START_TEST(chap_md5)
{
	struct login_config c;
	struct login *l;
	GPtrArray *req;
	GError *err = NULL;

	chap_config(&c, false);
	l = login_new(&c);
	req = chap_until_response(l, "CHAP,None");
	ck_assert_uint_eq(req->len, 2);
	g_ptr_array_unref(req);
	ck_assert_int_eq(respond(l, FL(1, 0, 0, 1), 0, 52, 0, NULL, 0, &err), LOGIN_STEP_SEND);
	ck_assert_int_eq(login_state(l), LOGIN_OPERATIONAL_NEGOTIATION);
	finish_operational(l, 53);
	login_free(l);
}
END_TEST

START_TEST(chap_mutual)
{
	struct login_config c;
	struct login *l;
	GPtrArray *req;
	GError *err = NULL;

	chap_set_random_source(fixed_random);
	chap_config(&c, true);
	l = login_new(&c);
	req = chap_until_response(l, "CHAP");
	ck_assert_str_eq(text_lookup(req, "CHAP_I"), "17");
	ck_assert_str_eq(text_lookup(req, "CHAP_C"), "0xa0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
	g_ptr_array_unref(req);
	/* CHAP_R is MD5(0x11 || "targetsecret99" || a0..af), from hashlib. */
	ck_assert_int_eq(respond(l, FL(1, 0, 0, 1), 0, 52, 0,
				 T("CHAP_N=tgtuser\0CHAP_R=0x0b967774824994912126dbb51fcadac9\0"),
				 &err),
			 LOGIN_STEP_SEND);
	ck_assert_ptr_null(err);
	finish_operational(l, 53);
	login_free(l);
}
END_TEST

static void mutual_failure(const uint8_t *data, size_t len, const char *msg)
{
	struct login_config c;
	struct login *l;
	GError *err = NULL;

	chap_set_random_source(fixed_random);
	chap_config(&c, true);
	l = login_new(&c);
	g_ptr_array_unref(chap_until_response(l, "CHAP"));
	ck_assert_int_eq(respond(l, FL(1, 0, 0, 1), 0, 52, 0, data, len, &err), LOGIN_STEP_FAILED);
	ck_assert(g_error_matches(err, LOGIN_ERROR, LOGIN_ERROR_AUTH));
	ck_assert_str_eq(err->message, msg);
	ck_assert_int_eq(login_state(l), LOGIN_FAILED);
	g_error_free(err);
	login_free(l);
}

START_TEST(chap_mutual_failures)
{
	mutual_failure(T("CHAP_N=tgtuser\0CHAP_R=0x0b967774824994912126dbb51fcadac8\0"),
		       "mutual CHAP failed: " TARGET " does not know the secret we share with it");
	mutual_failure(T("CHAP_N=mallory\0CHAP_R=0x0b967774824994912126dbb51fcadac9\0"),
		       "mutual CHAP failed: " TARGET
		       " identified itself as \"mallory\", expected \"tgtuser\"");
	mutual_failure(NULL, 0, TARGET " did not answer our mutual CHAP challenge (no CHAP_N)");
}
END_TEST

START_TEST(mutual_refuses_no_auth)
{
	struct login_config c;
	struct login *l;
	GError *err = NULL;

	chap_config(&c, true);
	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(0, 0, 0, 0), 0));
	ck_assert_int_eq(respond(l, FL(0, 0, 0, 0), 0, 50, 0, T("AuthMethod=None\0"), &err),
			 LOGIN_STEP_FAILED);
	ck_assert_str_eq(err->message,
			 TARGET " does not authenticate itself, but mutual CHAP is configured");
	g_error_free(err);
	login_free(l);
}
END_TEST

START_TEST(reflected_challenge)
{
	struct login_config c;
	struct login *a, *b;
	GError *err = NULL;

	/* Login A has sent its challenge a0..af and waits for the answer. */
	chap_set_random_source(fixed_random);
	chap_config(&c, true);
	a = login_new(&c);
	g_ptr_array_unref(chap_until_response(a, "CHAP"));

	/* The target hands that very challenge to login B. */
	chap_config(&c, false);
	b = login_new(&c);
	g_ptr_array_unref(next_req(b, FL(0, 0, 0, 0), 0));
	ck_assert_int_eq(respond(b, FL(0, 0, 0, 0), 0, 50, 0, T("AuthMethod=CHAP\0"), &err),
			 LOGIN_STEP_SEND);
	g_ptr_array_unref(next_req(b, FL(0, 0, 0, 0), 51));
	ck_assert_int_eq(
	    respond(b, FL(0, 0, 0, 0), 0, 51, 0,
		    T("CHAP_A=5\0CHAP_I=17\0CHAP_C=0xa0a1a2a3a4a5a6a7a8a9aaabacadaeaf\0"), &err),
	    LOGIN_STEP_FAILED);
	ck_assert(g_error_matches(err, LOGIN_ERROR, LOGIN_ERROR_AUTH));
	ck_assert_str_eq(err->message, TARGET " sent back a CHAP challenge we issued ourselves: "
					      "refusing a reflection attack");
	g_clear_error(&err);
	login_free(b);

	/* Once A is gone, the same challenge is an ordinary one. */
	login_free(a);
	b = login_new(&c);
	g_ptr_array_unref(next_req(b, FL(0, 0, 0, 0), 0));
	respond(b, FL(0, 0, 0, 0), 0, 50, 0, T("AuthMethod=CHAP\0"), &err);
	g_ptr_array_unref(next_req(b, FL(0, 0, 0, 0), 51));
	ck_assert_int_eq(
	    respond(b, FL(0, 0, 0, 0), 0, 51, 0,
		    T("CHAP_A=5\0CHAP_I=17\0CHAP_C=0xa0a1a2a3a4a5a6a7a8a9aaabacadaeaf\0"), &err),
	    LOGIN_STEP_SEND);
	login_free(b);
}
END_TEST

static void status_failure(uint16_t status, int code, const char *msg)
{
	struct login_config c;
	struct login *l;
	GError *err = NULL;

	base_config(&c);
	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	ck_assert_int_eq(respond(l, FL(0, 0, 0, 0), 0, 0, status, NULL, 0, &err),
			 LOGIN_STEP_FAILED);
	ck_assert(g_error_matches(err, LOGIN_ERROR, code));
	ck_assert_str_eq(err->message, msg);
	ck_assert_uint_eq(login_status(l), status);
	ck_assert_int_eq(login_state(l), LOGIN_FAILED);
	g_error_free(err);
	login_free(l);
}

START_TEST(status_messages)
{
	status_failure(0x0201, LOGIN_ERROR_AUTH,
		       "authentication failed: the target rejected our CHAP credentials");
	status_failure(0x0202, LOGIN_ERROR_REJECTED,
		       "authorization failure: this initiator is not allowed to log in to " TARGET);
	status_failure(0x0203, LOGIN_ERROR_REJECTED, "target not found: " TARGET);
	status_failure(0x0206, LOGIN_ERROR_REJECTED,
		       TARGET " refuses another connection: too many connections");
	status_failure(0x0301, LOGIN_ERROR_TARGET, TARGET ": service unavailable, try again later");
	status_failure(0x0302, LOGIN_ERROR_TARGET, TARGET " is out of resources");
	status_failure(0x02ff, LOGIN_ERROR_REJECTED,
		       "login to " TARGET " failed with status 0x02ff");
}
END_TEST

START_TEST(no_credentials)
{
	struct login_config c;
	struct login *l;
	GError *err = NULL;

	base_config(&c);
	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	ck_assert_int_eq(respond(l, FL(0, 0, 0, 0), 0, 0, 0, T("AuthMethod=Reject\0"), &err),
			 LOGIN_STEP_FAILED);
	ck_assert(g_error_matches(err, LOGIN_ERROR, LOGIN_ERROR_AUTH));
	ck_assert_str_eq(err->message, TARGET " requires authentication (answered "
					      "AuthMethod=Reject), but no CHAP credentials are "
					      "configured");
	g_error_free(err);
	login_free(l);
}
END_TEST

START_TEST(redirect)
{
	struct login_config c;
	struct login *l;
	GError *err = NULL;
	const char *host;
	uint16_t port;
	bool perm;

	base_config(&c);
	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	ck_assert(!login_redirect(l, &host, &port, &perm));
	ck_assert_int_eq(
	    respond(l, FL(0, 0, 0, 0), 0, 0, 0x0101, T("TargetAddress=[fd00::5]:3261,1\0"), &err),
	    LOGIN_STEP_REDIRECT);
	ck_assert_int_eq(login_state(l), LOGIN_REDIRECTED);
	ck_assert(login_redirect(l, &host, &port, &perm));
	ck_assert_str_eq(host, "fd00::5");
	ck_assert_uint_eq(port, 3261);
	ck_assert(!perm);
	login_free(l);

	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	ck_assert_int_eq(
	    respond(l, FL(0, 0, 0, 0), 0, 0, 0x0102, T("TargetAddress=192.0.2.9\0"), &err),
	    LOGIN_STEP_REDIRECT);
	ck_assert(login_redirect(l, &host, &port, &perm));
	ck_assert_str_eq(host, "192.0.2.9");
	ck_assert_uint_eq(port, 3260);
	ck_assert(perm);
	login_free(l);

	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	ck_assert_int_eq(respond(l, FL(0, 0, 0, 0), 0, 0, 0x0101, NULL, 0, &err),
			 LOGIN_STEP_FAILED);
	ck_assert_str_eq(err->message, TARGET " redirected the login without a TargetAddress");
	g_clear_error(&err);
	login_free(l);
}
END_TEST

START_TEST(continued_response)
{
	struct login_config c;
	struct login *l;
	GError *err = NULL;
	GPtrArray *req;
	struct iscsi_params p;
	const size_t split = 100;

	base_config(&c);
	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	respond(l, FL(1, 0, 0, 1), 0, 10, 0, T("AuthMethod=None\0"), &err);
	g_ptr_array_unref(next_req(l, FL(1, 0, 1, 3), 11));

	/* The answer arrives in two pieces, split inside a value. */
	ck_assert_int_eq(
	    respond(l, FL(0, 1, 1, 0), 0, 11, 0, (const uint8_t *)op_answer, split, &err),
	    LOGIN_STEP_SEND);
	req = next_req(l, FL(0, 0, 1, 0), 12);
	ck_assert_uint_eq(req->len, 0);
	g_ptr_array_unref(req);
	ck_assert_int_eq(respond(l, FL(0, 0, 1, 0), 0, 12, 0, (const uint8_t *)op_answer + split,
				 sizeof(op_answer) - 1 - split, &err),
			 LOGIN_STEP_SEND);
	/* Everything answered; we ask again to go to full feature phase. */
	req = next_req(l, FL(1, 0, 1, 3), 13);
	ck_assert_uint_eq(req->len, 0);
	g_ptr_array_unref(req);
	ck_assert_int_eq(respond(l, FL(1, 0, 1, 3), 0x99, 13, 0, NULL, 0, &err), LOGIN_STEP_DONE);
	login_params(l, &p);
	ck_assert_uint_eq(p.max_burst, 131072);
	ck_assert_uint_eq(p.max_xmit_dsl, 65536);
	login_free(l);
}
END_TEST

START_TEST(long_request_split)
{
	struct login_config c;
	struct login *l;
	GError *err = NULL;
	char *alias = g_strnfill(8150, 'a');
	uint8_t bhs[ISCSI_BHS_LEN];
	GByteArray *d1 = g_byte_array_new(), *d2 = g_byte_array_new();
	GPtrArray *pairs;

	base_config(&c);
	c.initiator_alias = alias;
	l = login_new(&c);
	ck_assert_int_eq(login_next_request(l, bhs, d1, &err), 0);
	ck_assert_uint_eq(d1->len, 8192);
	ck_assert_uint_eq(bhs[1], FL(0, 1, 0, 0));
	ck_assert_int_eq(respond(l, FL(0, 0, 0, 0), 0, 1, 0, NULL, 0, &err), LOGIN_STEP_SEND);
	ck_assert_int_eq(login_next_request(l, bhs, d2, &err), 0);
	ck_assert_uint_eq(bhs[1], FL(1, 0, 0, 1));
	ck_assert_uint_eq(iscsi_dlength(((struct iscsi_login_req *)bhs)->dlength), d2->len);
	g_byte_array_append(d1, d2->data, d2->len);
	pairs = text_parse(d1->data, d1->len, &err);
	ck_assert_ptr_nonnull(pairs);
	ck_assert_uint_eq(strlen(text_lookup(pairs, "InitiatorAlias")), 8150);
	ck_assert_str_eq(text_lookup(pairs, "AuthMethod"), "None");
	g_ptr_array_unref(pairs);
	/* A non-empty answer to a partial request is wrong. */
	login_free(l);
	l = login_new(&c);
	ck_assert_int_eq(login_next_request(l, bhs, d1, &err), 0);
	ck_assert_int_eq(respond(l, FL(0, 0, 0, 0), 0, 1, 0, T("AuthMethod=None\0"), &err),
			 LOGIN_STEP_FAILED);
	ck_assert_str_eq(err->message, TARGET " answered a continued login request with other "
					      "than an empty response");
	g_clear_error(&err);
	login_free(l);
	g_free(alias);
	g_byte_array_unref(d1);
	g_byte_array_unref(d2);
}
END_TEST

START_TEST(protocol_errors)
{
	struct login_config c;
	struct login *l;
	GError *err = NULL;
	uint8_t bhs[ISCSI_BHS_LEN];

	base_config(&c);

	/* Wrong ITT. */
	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	build_rsp(bhs, FL(1, 0, 0, 1), 0, 1, 0, 0);
	((struct iscsi_login_rsp *)bhs)->itt = g_htonl(1);
	ck_assert_int_eq(login_handle_response(l, bhs, NULL, 0, &err), LOGIN_STEP_FAILED);
	ck_assert_str_eq(err->message,
			 "Login Response has ITT 0x00000001, our request had 0x0badcafe");
	g_clear_error(&err);
	login_free(l);

	/* StatSN out of sequence. */
	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	respond(l, FL(1, 0, 0, 1), 0, 10, 0, T("AuthMethod=None\0"), &err);
	g_ptr_array_unref(next_req(l, FL(1, 0, 1, 3), 11));
	ck_assert_int_eq(respond(l, FL(1, 0, 1, 3), 5, 13, 0, NULL, 0, &err), LOGIN_STEP_FAILED);
	ck_assert_str_eq(err->message, "Login Response has StatSN 13, expected 11");
	g_clear_error(&err);
	login_free(l);

	/* Wrong CSG, then transit without a TSIH. */
	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	ck_assert_int_eq(respond(l, FL(1, 0, 1, 3), 0, 10, 0, NULL, 0, &err), LOGIN_STEP_FAILED);
	ck_assert_str_eq(err->message, "Login Response is for stage 1, our request was in stage 0");
	g_clear_error(&err);
	login_free(l);

	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	respond(l, FL(1, 0, 0, 1), 0, 10, 0, T("AuthMethod=None\0"), &err);
	g_ptr_array_unref(next_req(l, FL(1, 0, 1, 3), 11));
	ck_assert_int_eq(respond(l, FL(1, 0, 1, 3), 0, 11, 0, NULL, 0, &err), LOGIN_STEP_FAILED);
	ck_assert_str_eq(err->message, TARGET " completed the login without assigning a TSIH");
	g_clear_error(&err);
	{
		GByteArray *d = g_byte_array_new();

		ck_assert_int_eq(login_next_request(l, bhs, d, &err), -1);
		ck_assert_str_eq(err->message, "no login request is due in state failed");
		g_clear_error(&err);
		g_byte_array_unref(d);
	}
	login_free(l);

	/* Negotiation errors come through with their message. */
	l = login_new(&c);
	g_ptr_array_unref(next_req(l, FL(1, 0, 0, 1), 0));
	respond(l, FL(1, 0, 0, 1), 0, 10, 0, T("AuthMethod=None\0"), &err);
	g_ptr_array_unref(next_req(l, FL(1, 0, 1, 3), 11));
	ck_assert_int_eq(respond(l, FL(1, 0, 1, 3), 5, 11, 0, T("MaxConnections=2\0"), &err),
			 LOGIN_STEP_FAILED);
	ck_assert(g_error_matches(err, LOGIN_ERROR, LOGIN_ERROR_PROTOCOL));
	ck_assert_str_eq(err->message, "target answered MaxConnections=2, more than the 1 we "
				       "offered (result function Minimum)");
	g_clear_error(&err);
	login_free(l);
}
END_TEST

START_TEST(bad_config)
{
	struct login_config c;
	struct login *l;
	GError *err = NULL;
	uint8_t bhs[ISCSI_BHS_LEN];
	GByteArray *d = g_byte_array_new();

	chap_config(&c, true);
	c.mutual_secret = init_secret;
	c.mutual_secret_len = sizeof(init_secret) - 1;
	l = login_new(&c);
	ck_assert_int_eq(login_state(l), LOGIN_FAILED);
	ck_assert_int_eq(login_next_request(l, bhs, d, &err), -1);
	ck_assert(g_error_matches(err, LOGIN_ERROR, LOGIN_ERROR_CONFIG));
	ck_assert_str_eq(err->message,
			 "the mutual CHAP secret must differ from the initiator's CHAP secret");
	g_clear_error(&err);
	login_free(l);

	base_config(&c);
	c.target_name = NULL;
	l = login_new(&c);
	ck_assert_int_eq(login_next_request(l, bhs, d, &err), -1);
	ck_assert_str_eq(err->message, "no target name given for a normal session");
	g_clear_error(&err);
	login_free(l);
	g_byte_array_unref(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("login");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, no_auth);
	tcase_add_test(tc, discovery_session);
	tcase_add_test(tc, chap_md5);
	tcase_add_test(tc, chap_mutual);
	tcase_add_test(tc, chap_mutual_failures);
	tcase_add_test(tc, mutual_refuses_no_auth);
	tcase_add_test(tc, reflected_challenge);
	tcase_add_test(tc, status_messages);
	tcase_add_test(tc, no_credentials);
	tcase_add_test(tc, redirect);
	tcase_add_test(tc, continued_response);
	tcase_add_test(tc, long_request_split);
	tcase_add_test(tc, protocol_errors);
	tcase_add_test(tc, bad_config);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
