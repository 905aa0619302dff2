// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Default and proposed iSCSI operational parameters.
 */
#include <string.h>

#include "initiator/params.h"

/**
 * iscsi_params_rfc_defaults() - the values RFC 7143 section 13 (and RFC 7145
 * section 6 for iSER) puts in force for every key that is not negotiated.
 * @p: filled in full
 */
void iscsi_params_rfc_defaults(struct iscsi_params *p)
{
	memset(p, 0, sizeof(*p));
	p->header_digest = ISCSI_DIGEST_NONE;
	p->data_digest = ISCSI_DIGEST_NONE;
	p->max_connections = 1;
	p->initial_r2t = true;
	p->immediate_data = true;
	p->max_recv_dsl = 8192;
	p->max_xmit_dsl = 8192;
	p->max_burst = 262144;
	p->first_burst = 65536;
	p->default_time2wait = 2;
	p->default_time2retain = 20;
	p->max_outstanding_r2t = 1;
	p->data_pdu_in_order = true;
	p->data_sequence_in_order = true;
	p->error_recovery_level = 0;
	p->rdma_extensions = false;
	p->initiator_recv_dsl = 8192;
	p->target_recv_dsl = 8192;
}

/**
 * iscsi_params_fast_proposal() - what we ask a target for by default.
 * @p: filled in full
 *
 * Unsolicited and immediate data with large bursts save a round trip on
 * every write. MaxOutstandingR2T stays 1: tgt supports nothing else, and
 * with a 256 KiB first burst and 16 MiB bursts a write rarely needs more
 * than one R2T anyway. We run ErrorRecoveryLevel 0, where a lost
 * connection ends the session and its tasks cannot be reassigned, so
 * DefaultTime2Retain=0 lets the target free them at once.
 */
void iscsi_params_fast_proposal(struct iscsi_params *p)
{
	iscsi_params_rfc_defaults(p);
	p->initial_r2t = false;
	p->immediate_data = true;
	p->max_recv_dsl = 262144;
	p->max_burst = 16776192;
	p->first_burst = 262144;
	p->max_outstanding_r2t = 1;
	p->default_time2wait = 2;
	p->default_time2retain = 0;
	p->error_recovery_level = 0;
	/*
	 * On iSER, data moves by RDMA; only control PDUs and immediate data use
	 * Send buffers, and each declared byte is pinned in every posted
	 * receive. 8 KiB is what the Linux initiator uses, and LIO's receive
	 * buffers hold no more.
	 */
	p->initiator_recv_dsl = 8192;
	p->target_recv_dsl = 8192;
}
