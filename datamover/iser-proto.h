/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iSER wire formats (RFC 7145 sections 5.1, 9.1): the header in front of
 * every iSCSI PDU carried in an RDMA Send message, and the private data of
 * the RDMA CM connection request. Both are big-endian and packed, as the
 * Linux initiator and targets (ib_iser, ib_isert, tgt) lay them out.
 */
#ifndef ISA_ISER_PROTO_H
#define ISA_ISER_PROTO_H

#include <stdint.h>

#include "common/iscsi-proto.h"

/* High nibble of iser_hdr.flags: the message type. */
#define ISER_TYPE_MASK	   0xf0
#define ISER_TYPE_CONTROL  0x10 /* an iSCSI control-type PDU follows */
#define ISER_TYPE_HELLO	   0x20
#define ISER_TYPE_HELLORPL 0x30
/* Low bits: which tagged buffers the header advertises. */
#define ISER_WSV 0x08 /* write_stag/write_va: the target RDMA-Reads Data-Out */
#define ISER_RSV 0x04 /* read_stag/read_va: the target RDMA-Writes Data-In */

/**
 * struct iser_hdr - the iSER header before each iSCSI PDU (28 bytes).
 * @flags: ISER_TYPE_* | ISER_WSV | ISER_RSV
 * @rsvd: zero
 * @write_stag: rkey of the buffer the target reads write data from
 * @write_va: its address, already past the unsolicited data
 * @read_stag: rkey of the buffer the target writes read data to
 * @read_va: its address
 */
struct iser_hdr {
	uint8_t flags;
	uint8_t rsvd[3];
	uint32_t write_stag;
	uint64_t write_va;
	uint32_t read_stag;
	uint64_t read_va;
} __attribute__((packed));

_Static_assert(sizeof(struct iser_hdr) == 28, "iSER header is 28 bytes");

/* iSER header and BHS, the least a Send message carries. */
#define ISER_HDRS_LEN (sizeof(struct iser_hdr) + ISCSI_BHS_LEN)

/* Flags of struct iser_cm_hdr. */
#define ISER_CM_ZBVA_NOT_SUP	   0x80 /* virtual addresses are real addresses */
#define ISER_CM_SEND_W_INV_NOT_SUP 0x40 /* do not invalidate our STags */

/**
 * struct iser_cm_hdr - private data of our RDMA CM connection request.
 * @flags: ISER_CM_*
 * @rsvd: zero
 */
struct iser_cm_hdr {
	uint8_t flags;
	uint8_t rsvd[3];
} __attribute__((packed));

#endif
