/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Checks of the bytes an iSER target sends (see iser-msg.h). Nothing here
 * touches verbs: iser.c hands in what a receive completion delivered.
 */
#include <stdio.h>
#include <string.h>

#include "datamover/iser-msg.h"

int iser_msg_parse(const uint8_t *buf, uint32_t len, uint32_t limit, struct iser_msg *m, char *why,
		   size_t why_len)
{
	const struct iser_hdr *ih = (const void *)buf;
	const struct iscsi_bhs *h;

	if (len < ISER_HDRS_LEN) {
		snprintf(why, why_len, "iSER message of %u bytes, shorter than its headers", len);
		return -1;
	}
	if ((ih->flags & ISER_TYPE_MASK) != ISER_TYPE_CONTROL) {
		snprintf(why, why_len,
			 "unexpected iSER message type 0x%02x (only iSCSI control PDUs are "
			 "expected)",
			 ih->flags & ISER_TYPE_MASK);
		return -1;
	}
	m->bhs = buf + sizeof(*ih);
	h = (const void *)m->bhs;
	m->op = m->bhs[0] & ISCSI_OPCODE_MASK;
	m->ahs_len = h->ahs_len * 4u;
	m->dlen = iscsi_dlength(h->dlength);
	if (m->ahs_len > len - ISER_HDRS_LEN || m->dlen > len - ISER_HDRS_LEN - m->ahs_len) {
		snprintf(why, why_len, "%s longer than the %u-byte iSER message carrying it",
			 iscsi_opcode_name(m->op), len);
		return -1;
	}
	if (m->dlen > limit) {
		snprintf(why, why_len,
			 "%s with a %u-byte data segment exceeds the %u bytes we accept",
			 iscsi_opcode_name(m->op), m->dlen, limit);
		return -1;
	}
	if (m->op == ISCSI_OP_DATA_IN || m->op == ISCSI_OP_R2T) {
		snprintf(why, why_len, "unexpected %s on an iSER connection",
			 iscsi_opcode_name(m->op));
		return -1;
	}
	m->ahs = m->ahs_len ? m->bhs + ISCSI_BHS_LEN : NULL;
	m->data = m->bhs + ISCSI_BHS_LEN + m->ahs_len;
	return 0;
}

int iser_cm_reply_flags(const void *priv, size_t len, uint8_t *flags)
{
	*flags = 0;
	if (!priv || !len)
		return 0;
	if (len < sizeof(struct iser_cm_hdr))
		return -1;
	*flags = ((const struct iser_cm_hdr *)priv)->flags;
	return 0;
}
