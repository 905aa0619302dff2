/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The iSCSI login phase (RFC 7143 sections 6.3, 11.12, 11.13) as a state
 * machine without I/O: the caller sends the Login Requests this builds and
 * feeds back the Login Responses it receives.
 *
 *   security negotiation --> operational negotiation --> full feature
 *          |                        |
 *          +--> redirected / failed <+
 *
 * Within security negotiation CHAP runs in steps (enum login_security_step).
 */
#ifndef ISA_LOGIN_H
#define ISA_LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#include "common/iscsi-proto.h"
#include "initiator/params.h"

#define LOGIN_ERROR login_error_quark()
GQuark login_error_quark(void);

/* Codes of LOGIN_ERROR: what the caller may do about a failure. */
enum login_error {
	LOGIN_ERROR_CONFIG,	 /* our configuration cannot work */
	LOGIN_ERROR_PROTOCOL,	 /* the target broke the protocol */
	LOGIN_ERROR_AUTH,	 /* authentication failed, either way */
	LOGIN_ERROR_REJECTED,	 /* status class 2: retrying will not help */
	LOGIN_ERROR_TARGET,	 /* status class 3: the target may recover */
	LOGIN_ERROR_UNSUPPORTED, /* the target refused something we need (iSER) */
};

enum login_state {
	LOGIN_SECURITY_NEGOTIATION,
	LOGIN_OPERATIONAL_NEGOTIATION,
	LOGIN_FULL_FEATURE,
	LOGIN_REDIRECTED,
	LOGIN_FAILED,
};

/* Steps of the security stage; each names what our last request did. */
enum login_security_step {
	SECURITY_AUTH_METHOD,	 /* offered AuthMethod with our names */
	SECURITY_CHAP_ALGORITHM, /* sent CHAP_A, awaiting CHAP_A/CHAP_I/CHAP_C */
	SECURITY_CHAP_RESPONSE,	 /* sent CHAP_N/CHAP_R (+ our challenge if mutual) */
	SECURITY_DONE,		 /* authenticated, asking to leave the stage */
};

/* What the caller does after login_handle_response(). */
enum login_step {
	LOGIN_STEP_SEND,     /* call login_next_request() and send it */
	LOGIN_STEP_DONE,     /* full feature phase reached */
	LOGIN_STEP_REDIRECT, /* connect to login_redirect() instead */
	LOGIN_STEP_FAILED,   /* give up; the error says why */
};

/* Most bytes of text we put in one Login Request (RFC 7143 12.12). */
#define LOGIN_MAX_PDU_DATA 8192

/**
 * struct login_config - everything one login needs; strings and secrets are
 * copied by login_new().
 * @initiator_name: our IQN
 * @initiator_alias: sent as InitiatorAlias when not NULL
 * @target_name: the target, NULL for a discovery session
 * @discovery: SessionType=Discovery
 * @isid: the session's ISID
 * @tsih: 0 for a new session, else the session we add a connection to
 * @cid: connection ID
 * @itt: Initiator Task Tag of all our Login Requests
 * @cmdsn: CmdSN of the Login Requests (the first command after login
 *	   carries it too, as login requests are immediate)
 * @exp_statsn: ExpStatSN before the first response
 * @chap_user: CHAP_N we send; NULL means no CHAP
 * @chap_secret: secret to answer the target's challenge
 * @mutual_user: name the target must give in mutual CHAP; NULL for one-way
 * @mutual_secret: secret the target proves it knows
 * @proposal: operational parameters we ask for
 * @iser: the connection is iSER (RFC 7145 keys)
 */
struct login_config {
	const char *initiator_name;
	const char *initiator_alias;
	const char *target_name;
	bool discovery;
	uint8_t isid[6];
	uint16_t tsih;
	uint16_t cid;
	uint32_t itt;
	uint32_t cmdsn;
	uint32_t exp_statsn;
	const char *chap_user;
	const uint8_t *chap_secret;
	size_t chap_secret_len;
	const char *mutual_user;
	const uint8_t *mutual_secret;
	size_t mutual_secret_len;
	struct iscsi_params proposal;
	bool iser;
};

struct login;

/* A login ready to send its first request. Never NULL. */
struct login *login_new(const struct login_config *cfg);
void login_free(struct login *l);

/*
 * Build the next Login Request: its BHS into @bhs and its text into @data
 * (which is emptied first). Returns 0, or -1 with @err set when no request
 * is due (a bad configuration, a finished or failed login).
 */
int login_next_request(struct login *l, uint8_t bhs[ISCSI_BHS_LEN], GByteArray *data, GError **err);

/*
 * Process one Login Response: its BHS, and its data segment of @dlen bytes
 * (without padding or digest). @err is set with LOGIN_STEP_FAILED.
 */
enum login_step login_handle_response(struct login *l, const uint8_t *bhs, const uint8_t *data,
				      uint32_t dlen, GError **err);

enum login_state login_state(const struct login *l);
enum login_security_step login_security_step(const struct login *l);

/* Human-readable current state, security step included. */
const char *login_state_name(const struct login *l);

/* The negotiated parameters (meaningful in LOGIN_FULL_FEATURE). */
void login_params(const struct login *l, struct iscsi_params *out);

uint16_t login_tsih(const struct login *l);

/* Status-Class << 8 | Status-Detail of the last response. */
uint16_t login_status(const struct login *l);

/*
 * Where a redirect points (host without brackets). False unless the login
 * is LOGIN_REDIRECTED. @permanent tells 0x0102 from 0x0101.
 */
bool login_redirect(const struct login *l, const char **host, uint16_t *port, bool *permanent);

/* Sequence numbers of the last response: the session continues from them. */
uint32_t login_statsn(const struct login *l);
uint32_t login_exp_cmdsn(const struct login *l);
uint32_t login_max_cmdsn(const struct login *l);

#endif
