/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session and connection parameters: what we propose at login and what was
 * negotiated (RFC 7143 section 13, RFC 7145 section 6 for the iSER keys).
 */
#ifndef ISA_PARAMS_H
#define ISA_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

enum iscsi_digest {
	ISCSI_DIGEST_NONE = 0,
	ISCSI_DIGEST_CRC32C = 1,
};

/**
 * struct iscsi_params - operational parameters of one session/connection.
 *
 * Used both as the proposal (what we ask for) and as the outcome of
 * negotiation. Lengths are bytes.
 * @max_recv_dsl: our MaxRecvDataSegmentLength (what we declare we accept)
 * @max_xmit_dsl: the target's MaxRecvDataSegmentLength (default 8192)
 */
struct iscsi_params {
	enum iscsi_digest header_digest;
	enum iscsi_digest data_digest;
	uint32_t max_connections;
	bool initial_r2t;
	bool immediate_data;
	uint32_t max_recv_dsl;
	uint32_t max_xmit_dsl;
	uint32_t max_burst;
	uint32_t first_burst;
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t max_outstanding_r2t;
	bool data_pdu_in_order;
	bool data_sequence_in_order;
	uint32_t error_recovery_level;
	/* iSER (RFC 7145): valid when rdma_extensions is true. */
	bool rdma_extensions;
	uint32_t initiator_recv_dsl;
	uint32_t target_recv_dsl;
	/* Declarative values the target told us. */
	char target_alias[256];
	uint16_t target_portal_group_tag;
};

/* RFC 7143 defaults, the values in force when a key is not negotiated. */
void iscsi_params_rfc_defaults(struct iscsi_params *p);

/*
 * What we ask for by default: values that make transfers fast (large
 * segments and bursts, immediate and unsolicited data).
 */
void iscsi_params_fast_proposal(struct iscsi_params *p);

#endif
