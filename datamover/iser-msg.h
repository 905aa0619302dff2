/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checks of what an iSER target sends, apart from the verbs that carry it:
 * the Send messages (iSER header, BHS, AHS, data segment) and the private
 * data of its connection accept. Pure functions of the bytes, so the fuzz
 * harness tests/fuzz/fuzz-iser.c runs them without an RDMA device.
 */
#ifndef ISA_ISER_MSG_H
#define ISA_ISER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "datamover/iser-proto.h"

/**
 * struct iser_msg - the parts of one received Send message.
 * @bhs: the iSCSI Basic Header Segment, right after the iSER header
 * @ahs: the AHS (NULL when there is none), @ahs_len bytes
 * @data: the data segment, @dlen bytes (its padding is not checked: an
 *	  RDMA Send has its own length, the target may leave it out)
 * @op: the PDU's opcode
 */
struct iser_msg {
	const uint8_t *bhs;
	const uint8_t *ahs;
	const uint8_t *data;
	uint32_t ahs_len;
	uint32_t dlen;
	uint8_t op;
};

/**
 * iser_msg_parse() - split a received Send message of @len bytes at @buf.
 * @limit: the largest data segment we declared we accept
 * @m: filled on success
 * @why: on failure, what was wrong, for the connection's error message
 *
 * Refuses a message shorter than the iSER header and BHS, one of another
 * type than an iSCSI control PDU (iSER Hello, unknown), AHS or data segment
 * lengths past the message, a data segment over @limit, and Data-In and
 * R2T, which have no place on iSER (RFC 7145 7.3: RDMA moves that data).
 *
 * Return: 0, or -1 with @why set.
 */
int iser_msg_parse(const uint8_t *buf, uint32_t len, uint32_t limit, struct iser_msg *m, char *why,
		   size_t why_len);

/**
 * iser_cm_reply_flags() - the flags of the target's iSER CM private data.
 * @priv: the private data of its connection accept, @len bytes (may be NULL)
 * @flags: set to the flags byte (ISER_CM_*), or 0 when there are none
 *
 * Return: 0 when @priv holds an iSER CM header (RFC 7145 5.1.3 leaves the
 * accept's private data to the target: a target that sends none uses
 * neither ZBVA nor Send with Invalidate), -1 when it is too short to.
 */
int iser_cm_reply_flags(const void *priv, size_t len, uint8_t *flags);

#endif
