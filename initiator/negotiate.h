/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Operational parameter negotiation (RFC 7143 sections 6.2 and 13, RFC
 * 7145 section 6): builds the keys we offer, checks the target's answers
 * against the result function of each key, and answers the keys the target
 * offers on its own.
 */
#ifndef ISA_NEGOTIATE_H
#define ISA_NEGOTIATE_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "initiator/params.h"

#define NEGOTIATION_ERROR negotiation_error_quark()
GQuark negotiation_error_quark(void);

/* Codes of NEGOTIATION_ERROR. */
enum negotiation_error {
	/* The target broke the negotiation rules or sent a bad value. */
	NEGOTIATION_ERROR_PROTOCOL,
	/* A legal outcome we cannot work with (iSER refused). */
	NEGOTIATION_ERROR_UNSUPPORTED,
};

/**
 * struct negotiation - state of one connection's operational negotiation.
 * @proposal: what we ask for
 * @result: the values in force so far (RFC defaults until negotiated)
 * @discovery: a discovery session, where only a few keys apply
 * @iser: an iSER connection (RDMAExtensions and the iSER lengths apply,
 *	  MaxRecvDataSegmentLength does not)
 * @offered: bit per key we offered and the target has not answered yet
 * @settled: bit per key whose value is agreed
 */
struct negotiation {
	struct iscsi_params proposal;
	struct iscsi_params result;
	bool discovery;
	bool iser;
	uint32_t offered;
	uint32_t settled;
};

void negotiation_init(struct negotiation *n, const struct iscsi_params *proposal, bool discovery,
		      bool iser);

/* Append every key we propose for this kind of session to @out. */
void negotiation_offer(struct negotiation *n, GByteArray *out);

/*
 * Digest the target's keys (struct text_pair * in @pairs; keys that are not
 * operational are the caller's and must not be passed). Our answers to the
 * target's own offers are appended to @reply. Returns 0, or -1 with @err
 * set when the target broke the rules.
 */
int negotiation_handle(struct negotiation *n, GPtrArray *pairs, GByteArray *reply, GError **err);

/* True once the target answered every key we offered. */
bool negotiation_done(const struct negotiation *n);

/*
 * The negotiated parameters; keys never answered keep their RFC default,
 * FirstBurstLength is clamped to MaxBurstLength.
 */
void negotiation_result(const struct negotiation *n, struct iscsi_params *out);

#endif
