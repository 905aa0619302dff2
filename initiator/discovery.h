/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SendTargets discovery (RFC 7143 section 4.3 and appendix C) without I/O:
 * builds the Text Requests of a discovery session and turns the target's
 * Text Responses, possibly continued over several PDUs, into a target list.
 */
#ifndef ISA_DISCOVERY_H
#define ISA_DISCOVERY_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "common/iscsi-proto.h"
#include "initiator/keys.h"

#define DISCOVERY_ERROR discovery_error_quark()
GQuark discovery_error_quark(void);

/* Codes of DISCOVERY_ERROR. */
enum discovery_error {
	DISCOVERY_ERROR_PROTOCOL, /* malformed or out-of-sequence response */
	DISCOVERY_ERROR_REFUSED,  /* the target answered SendTargets=Reject or the like */
};

/**
 * struct discovery_portal - one address a target is reachable at.
 * @host: DNS name or address, IPv6 without brackets
 * @port: TCP port (3260 when the target gave none)
 * @tpgt: portal group tag (0 when the target gave none)
 */
struct discovery_portal {
	char *host;
	uint16_t port;
	uint16_t tpgt;
};

/**
 * struct discovery_target - one target of a SendTargets answer.
 * @name: its iSCSI name
 * @portals: struct discovery_portal *, freed with the array; empty when
 *	     the target is reachable only at the portal we asked
 */
struct discovery_target {
	char *name;
	GPtrArray *portals;
};

/* Parse a complete SendTargets answer into struct discovery_target *. */
GPtrArray *discovery_parse(const uint8_t *data, size_t len, GError **err);

/**
 * struct discovery - one SendTargets exchange in progress.
 * @itt: Initiator Task Tag of our Text Requests
 * @ttt: Target Transfer Tag the next continuation request carries
 * @started: the SendTargets request went out
 * @done: the final response arrived
 * @responses: Text Responses received so far
 * @acc: text of the responses so far
 * @targets: the result once @done
 */
struct discovery {
	uint32_t itt;
	uint32_t ttt;
	bool started;
	bool done;
	unsigned int responses;
	struct text_accum acc;
	GPtrArray *targets;
};

void discovery_init(struct discovery *d, uint32_t itt);
void discovery_clear(struct discovery *d);

/*
 * The next Text Request: "SendTargets=All" the first time, then an empty
 * request carrying the target's TTT to fetch the rest of a continued
 * answer. The requests are immediate, so CmdSN does not advance; the
 * caller tracks StatSN of the responses as for any PDU of the session.
 */
void discovery_next_request(struct discovery *d, uint32_t cmdsn, uint32_t exp_statsn,
			    uint8_t bhs[ISCSI_BHS_LEN], GByteArray *data);

enum discovery_step {
	DISCOVERY_STEP_CONTINUE, /* send discovery_next_request() again */
	DISCOVERY_STEP_DONE,	 /* discovery_targets() holds the answer */
	DISCOVERY_STEP_FAILED,
};

/* Process one Text Response (its data segment is @dlen bytes, no padding). */
enum discovery_step discovery_handle_response(struct discovery *d, const uint8_t *bhs,
					      const uint8_t *data, uint32_t dlen, GError **err);

/* The targets found (struct discovery_target *), owned by @d. */
GPtrArray *discovery_targets(const struct discovery *d);

#endif
