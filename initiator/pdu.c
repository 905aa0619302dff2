// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * iSCSI PDU codec: BHS builders and strict receive-side header checks.
 *
 * Headers are assembled in (and read from) a local copy of the packed
 * struct and moved with memcpy, so a uint8_t buffer is never accessed
 * through a struct pointer.
 */
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "common/iscsi-proto.h"
#include "datamover/dm-common.h"
#include "initiator/pdu.h"

/* Byte 1 of TMF and Logout requests is the F bit followed by a 7-bit code. */
#define PDU_CODE_MASK 0x7f

const char *pdu_opcode_name(uint8_t opcode)
{
	return iscsi_opcode_name(opcode);
}

const char *pdu_reject_reason_name(uint8_t reason)
{
	switch (reason) {
	case ISCSI_REJECT_DIGEST_ERROR:
		return "data digest error";
	case ISCSI_REJECT_SNACK_REJECT:
		return "SNACK reject";
	case ISCSI_REJECT_PROTOCOL_ERROR:
		return "protocol error";
	case ISCSI_REJECT_CMD_NOT_SUPPORTED:
		return "command not supported";
	case ISCSI_REJECT_IMM_CMD_REJECT:
		return "too many immediate commands";
	case ISCSI_REJECT_TASK_IN_PROGRESS:
		return "task in progress";
	case ISCSI_REJECT_INVALID_DATA_ACK:
		return "invalid data ack";
	case ISCSI_REJECT_INVALID_PDU_FIELD:
		return "invalid PDU field";
	case ISCSI_REJECT_LONG_OP_REJECT:
		return "out of resources for a target transfer tag";
	case ISCSI_REJECT_NEGOTIATION_RESET:
		return "negotiation reset";
	case ISCSI_REJECT_WAITING_FOR_LOGOUT:
		return "waiting for logout";
	default:
		return "unknown reason";
	}
}

uint8_t pdu_opcode(const uint8_t *bhs)
{
	return bhs[0] & ISCSI_OPCODE_MASK;
}

uint32_t pdu_itt(const uint8_t *bhs)
{
	struct iscsi_bhs h;

	memcpy(&h, bhs, sizeof(h));
	return be32toh(h.itt);
}

uint32_t pdu_dlength(const uint8_t *bhs)
{
	struct iscsi_bhs h;

	memcpy(&h, bhs, sizeof(h));
	return iscsi_dlength(h.dlength);
}

uint32_t pdu_ahs_length(const uint8_t *bhs)
{
	struct iscsi_bhs h;

	memcpy(&h, bhs, sizeof(h));
	return (uint32_t)h.ahs_len * 4;
}

/* Bytes of the Extended CDB AHS for a CDB of cdb_len (> 16) bytes. */
static size_t ext_cdb_ahs_size(size_t cdb_len)
{
	/* 2-byte AHSLength, type, reserved byte, then CDB bytes 16 and on. */
	return ISCSI_PAD(4 + cdb_len - 16);
}

static void copy_lun(uint8_t dst[8], const uint8_t *lun)
{
	if (lun)
		memcpy(dst, lun, 8);
}

void pdu_build_scsi_cmd(uint8_t *bhs, const uint8_t lun[8], uint32_t itt, uint32_t cmdsn,
			uint32_t exp_statsn, const uint8_t *cdb, size_t cdb_len, bool read,
			bool write, uint32_t edtl, uint8_t task_attr, bool final, uint32_t imm_len)
{
	struct iscsi_scsi_cmd h = {0};

	memset(bhs, 0, ISCSI_BHS_LEN);
	g_return_if_fail(cdb_len <= PDU_MAX_CDB_LEN);

	h.opcode = ISCSI_OP_SCSI_CMD;
	h.flags = task_attr & ISCSI_CMD_ATTR_MASK;
	if (final)
		h.flags |= ISCSI_FLAG_FINAL;
	if (read)
		h.flags |= ISCSI_CMD_READ;
	if (write)
		h.flags |= ISCSI_CMD_WRITE;
	if (cdb_len > sizeof(h.cdb))
		h.ahs_len = (uint8_t)(ext_cdb_ahs_size(cdb_len) / 4);
	iscsi_set_dlength(h.dlength, imm_len);
	copy_lun(h.lun, lun);
	h.itt = htobe32(itt);
	h.data_length = htobe32(edtl);
	h.cmdsn = htobe32(cmdsn);
	h.exp_statsn = htobe32(exp_statsn);
	if (cdb_len)
		memcpy(h.cdb, cdb, MIN(cdb_len, sizeof(h.cdb)));
	memcpy(bhs, &h, sizeof(h));
}

int pdu_build_ext_cdb_ahs(uint8_t *out, size_t cap, const uint8_t *cdb, size_t cdb_len)
{
	size_t size;
	uint16_t ahs_len_be;

	if (cdb_len <= 16 || cdb_len > PDU_MAX_CDB_LEN)
		return -1;
	size = ext_cdb_ahs_size(cdb_len);
	if (cap < size)
		return -1;
	memset(out, 0, size);
	/* AHSLength counts the reserved byte and the CDB bytes (CDBLength - 15). */
	ahs_len_be = htobe16((uint16_t)(cdb_len - 15));
	memcpy(out, &ahs_len_be, 2);
	out[2] = ISCSI_AHS_EXTENDED_CDB;
	memcpy(out + 4, cdb + 16, cdb_len - 16);
	return (int)size;
}

void pdu_build_nop_out(uint8_t *bhs, uint32_t itt, uint32_t ttt, uint32_t cmdsn,
		       uint32_t exp_statsn, const uint8_t lun[8], uint32_t dlen, bool immediate)
{
	struct iscsi_nop_out h = {0};

	h.opcode = ISCSI_OP_NOOP_OUT | (immediate ? ISCSI_OP_IMMEDIATE : 0);
	h.flags = ISCSI_FLAG_FINAL;
	iscsi_set_dlength(h.dlength, dlen);
	copy_lun(h.lun, lun);
	h.itt = htobe32(itt);
	h.ttt = htobe32(ttt);
	h.cmdsn = htobe32(cmdsn);
	h.exp_statsn = htobe32(exp_statsn);
	memcpy(bhs, &h, sizeof(h));
}

void pdu_build_tmf_req(uint8_t *bhs, uint8_t function, const uint8_t lun[8], uint32_t itt,
		       uint32_t ref_itt, uint32_t cmdsn, uint32_t exp_statsn, uint32_t ref_cmdsn)
{
	struct iscsi_tmf_req h = {0};
	bool refers = function == ISCSI_TMF_ABORT_TASK || function == ISCSI_TMF_TASK_REASSIGN;

	h.opcode = ISCSI_OP_TMF_REQ | ISCSI_OP_IMMEDIATE;
	h.flags = ISCSI_FLAG_FINAL | (function & PDU_CODE_MASK);
	copy_lun(h.lun, lun);
	h.itt = htobe32(itt);
	h.rtt = htobe32(refers ? ref_itt : ISCSI_RESERVED_TAG);
	h.cmdsn = htobe32(cmdsn);
	h.exp_statsn = htobe32(exp_statsn);
	h.refcmdsn = htobe32(refers ? ref_cmdsn : 0);
	memcpy(bhs, &h, sizeof(h));
}

void pdu_build_login_req(uint8_t *bhs, const uint8_t isid[6], uint16_t tsih, uint32_t itt,
			 uint16_t cid, uint32_t cmdsn, uint32_t exp_statsn, uint8_t csg,
			 uint8_t nsg, bool transit, bool cont, uint32_t dlen)
{
	struct iscsi_login_req h = {0};

	h.opcode = ISCSI_OP_LOGIN_REQ | ISCSI_OP_IMMEDIATE;
	h.flags = (uint8_t)((csg << ISCSI_LOGIN_CSG_SHIFT) & ISCSI_LOGIN_CSG_MASK);
	if (transit)
		h.flags |= ISCSI_LOGIN_TRANSIT | (nsg & ISCSI_LOGIN_NSG_MASK);
	if (cont)
		h.flags |= ISCSI_LOGIN_CONTINUE;
	iscsi_set_dlength(h.dlength, dlen);
	memcpy(h.isid, isid, sizeof(h.isid));
	h.tsih = htobe16(tsih);
	h.itt = htobe32(itt);
	h.cid = htobe16(cid);
	h.cmdsn = htobe32(cmdsn);
	h.exp_statsn = htobe32(exp_statsn);
	memcpy(bhs, &h, sizeof(h));
}

void pdu_build_text_req(uint8_t *bhs, uint32_t itt, uint32_t ttt, uint32_t cmdsn,
			uint32_t exp_statsn, bool final, bool cont, uint32_t dlen)
{
	struct iscsi_text_req h = {0};

	h.opcode = ISCSI_OP_TEXT_REQ | ISCSI_OP_IMMEDIATE;
	if (final)
		h.flags |= ISCSI_FLAG_FINAL;
	if (cont)
		h.flags |= ISCSI_FLAG_CONTINUE;
	iscsi_set_dlength(h.dlength, dlen);
	h.itt = htobe32(itt);
	h.ttt = htobe32(ttt);
	h.cmdsn = htobe32(cmdsn);
	h.exp_statsn = htobe32(exp_statsn);
	memcpy(bhs, &h, sizeof(h));
}

void pdu_build_logout_req(uint8_t *bhs, uint8_t reason, uint32_t itt, uint16_t cid, uint32_t cmdsn,
			  uint32_t exp_statsn)
{
	struct iscsi_logout_req h = {0};

	h.opcode = ISCSI_OP_LOGOUT_REQ | ISCSI_OP_IMMEDIATE;
	h.flags = ISCSI_FLAG_FINAL | (reason & PDU_CODE_MASK);
	h.itt = htobe32(itt);
	if (reason != ISCSI_LOGOUT_CLOSE_SESSION)
		h.cid = htobe16(cid);
	h.cmdsn = htobe32(cmdsn);
	h.exp_statsn = htobe32(exp_statsn);
	memcpy(bhs, &h, sizeof(h));
}

void pdu_build_data_out(uint8_t *bhs, const uint8_t lun[8], uint32_t itt, uint32_t ttt,
			uint32_t exp_statsn, uint32_t datasn, uint32_t offset, uint32_t dlen,
			bool final)
{
	struct iscsi_data_out h;

	dm_data_out_bhs(&h, lun, itt, htobe32(ttt), exp_statsn, datasn, offset, final);
	iscsi_set_dlength(h.dlength, dlen);
	memcpy(bhs, &h, sizeof(h));
}

int pdu_ahs_foreach(const uint8_t *ahs, uint32_t ahs_len,
		    int (*fn)(void *opaque, uint8_t type, const uint8_t *val, uint16_t len),
		    void *opaque)
{
	uint32_t off = 0;

	if (ahs_len % 4 || (ahs_len && !ahs))
		return -1;
	while (off < ahs_len) {
		uint16_t len_be, len;
		uint32_t size;
		int ret;

		/* ahs_len is a multiple of 4, so the 3-byte AHS header is there. */
		memcpy(&len_be, ahs + off, 2);
		len = be16toh(len_be);
		size = ISCSI_PAD(3u + len);
		if (size > ahs_len - off)
			return -1;
		if (fn) {
			ret = fn(opaque, ahs[off + 2], ahs + off + 3, len);
			if (ret)
				return ret;
		}
		off += size;
	}
	return 0;
}

int pdu_scsi_rsp_sense(const uint8_t *data, uint32_t dlen, const uint8_t **sense,
		       uint32_t *sense_len)
{
	uint16_t len_be;
	uint32_t len;

	*sense = NULL;
	*sense_len = 0;
	if (dlen == 0)
		return 0;
	if (dlen < 2 || !data)
		return -1;
	memcpy(&len_be, data, 2);
	len = be16toh(len_be);
	if (len > dlen - 2)
		return -1;
	if (len) {
		*sense = data + 2;
		*sense_len = len;
	}
	return 0;
}

bool pdu_is_response_to_task(uint8_t opcode)
{
	switch (opcode & ISCSI_OPCODE_MASK) {
	case ISCSI_OP_SCSI_RSP:
	case ISCSI_OP_DATA_IN:
	case ISCSI_OP_R2T:
	case ISCSI_OP_TMF_RSP:
	case ISCSI_OP_NOOP_IN:
	case ISCSI_OP_TEXT_RSP:
	case ISCSI_OP_LOGOUT_RSP:
		return true;
	default:
		return false;
	}
}

bool pdu_carries_task_itt(const uint8_t *bhs)
{
	if (!pdu_is_response_to_task(bhs[0]))
		return false;
	if (pdu_opcode(bhs) == ISCSI_OP_NOOP_IN)
		return pdu_itt(bhs) != ISCSI_RESERVED_TAG;
	return true;
}

static int G_GNUC_PRINTF(3, 4) reject(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Only Login Response and Reject belong in the login phase (RFC 7143 6.3). */
static bool allowed_in_phase(uint8_t op, bool in_login)
{
	if (in_login)
		return op == ISCSI_OP_LOGIN_RSP || op == ISCSI_OP_REJECT;
	return op != ISCSI_OP_LOGIN_RSP;
}

static bool target_opcode(uint8_t op)
{
	switch (op) {
	case ISCSI_OP_NOOP_IN:
	case ISCSI_OP_SCSI_RSP:
	case ISCSI_OP_TMF_RSP:
	case ISCSI_OP_LOGIN_RSP:
	case ISCSI_OP_TEXT_RSP:
	case ISCSI_OP_DATA_IN:
	case ISCSI_OP_LOGOUT_RSP:
	case ISCSI_OP_R2T:
	case ISCSI_OP_ASYNC_MSG:
	case ISCSI_OP_REJECT:
		return true;
	default:
		return false;
	}
}

static int check_scsi_rsp(const uint8_t *bhs, uint32_t dlen, char *why, size_t whylen)
{
	struct iscsi_scsi_rsp h;

	memcpy(&h, bhs, sizeof(h));
	if ((h.flags & ISCSI_RSP_OVERFLOW) && (h.flags & ISCSI_RSP_UNDERFLOW))
		return reject(why, whylen,
			      "SCSI Response with both residual overflow and underflow");
	if ((h.flags & ISCSI_RSP_BIDI_OVERFLOW) && (h.flags & ISCSI_RSP_BIDI_UNDERFLOW))
		return reject(why, whylen,
			      "SCSI Response with both bidirectional overflow and underflow");
	/* Sense and response data always start with SenseLength (RFC 7143 11.4.7). */
	if (dlen == 1)
		return reject(why, whylen,
			      "SCSI Response (status 0x%02x) with a 1-byte data segment, too short "
			      "for its 2-byte SenseLength",
			      h.cmd_status);
	return 0;
}

static int check_data_in(const uint8_t *bhs, char *why, size_t whylen)
{
	struct iscsi_data_in h;

	memcpy(&h, bhs, sizeof(h));
	if ((h.flags & ISCSI_DATA_STATUS) && !(h.flags & ISCSI_FLAG_FINAL))
		return reject(why, whylen, "Data-In with the S bit but not the F bit");
	if ((h.flags & (ISCSI_DATA_OVERFLOW | ISCSI_DATA_UNDERFLOW)) &&
	    !(h.flags & ISCSI_DATA_STATUS))
		return reject(why, whylen, "Data-In with a residual flag but not the S bit");
	if ((h.flags & ISCSI_DATA_OVERFLOW) && (h.flags & ISCSI_DATA_UNDERFLOW))
		return reject(why, whylen, "Data-In with both residual overflow and underflow");
	return 0;
}

static int check_r2t(const uint8_t *bhs, char *why, size_t whylen)
{
	struct iscsi_r2t h;

	memcpy(&h, bhs, sizeof(h));
	if (h.data_length == 0)
		return reject(why, whylen, "R2T with DesiredDataTransferLength 0");
	if (be32toh(h.ttt) == ISCSI_RESERVED_TAG)
		return reject(why, whylen, "R2T with the reserved Target Transfer Tag 0xffffffff");
	return 0;
}

static int check_nop_in(const uint8_t *bhs, char *why, size_t whylen)
{
	struct iscsi_nop_in h;
	uint32_t itt, ttt;

	memcpy(&h, bhs, sizeof(h));
	itt = be32toh(h.itt);
	ttt = be32toh(h.ttt);
	/*
	 * ITT and TTT both 0xffffffff is a target ping that wants no answer
	 * (RFC 7143 11.19); tgt's iSER driver sends one every 5 s.
	 */
	if (itt != ISCSI_RESERVED_TAG && ttt != ISCSI_RESERVED_TAG)
		return reject(why, whylen,
			      "NOP-In reply to ITT 0x%08x with TTT 0x%08x instead of 0xffffffff",
			      itt, ttt);
	return 0;
}

static int check_text_rsp(const uint8_t *bhs, char *why, size_t whylen)
{
	struct iscsi_text_rsp h;
	bool final;
	uint32_t ttt;

	memcpy(&h, bhs, sizeof(h));
	final = h.flags & ISCSI_FLAG_FINAL;
	ttt = be32toh(h.ttt);
	if (final && (h.flags & ISCSI_FLAG_CONTINUE))
		return reject(why, whylen, "Text Response with both the F and C bits");
	/* RFC 7143 11.11.4: the TTT says whether more text follows. */
	if (final && ttt != ISCSI_RESERVED_TAG)
		return reject(why, whylen, "final Text Response with TTT 0x%08x, not 0xffffffff",
			      ttt);
	if (!final && ttt == ISCSI_RESERVED_TAG)
		return reject(why, whylen, "non-final Text Response with TTT 0xffffffff");
	return 0;
}

static int check_login_rsp(const uint8_t *bhs, char *why, size_t whylen)
{
	struct iscsi_login_rsp h;

	memcpy(&h, bhs, sizeof(h));
	if ((h.flags & ISCSI_LOGIN_TRANSIT) && (h.flags & ISCSI_LOGIN_CONTINUE))
		return reject(why, whylen, "Login Response with both the T and C bits");
	return 0;
}

static int check_async(const uint8_t *bhs, char *why, size_t whylen)
{
	uint32_t itt = pdu_itt(bhs);

	if (itt != ISCSI_RESERVED_TAG)
		return reject(why, whylen, "Async Message with ITT 0x%08x, not 0xffffffff", itt);
	return 0;
}

static int check_reject(const uint8_t *bhs, uint32_t dlen, char *why, size_t whylen)
{
	uint32_t itt = pdu_itt(bhs);

	if (dlen < ISCSI_BHS_LEN)
		return reject(why, whylen,
			      "Reject with a %u-byte data segment, too short for the rejected "
			      "48-byte header",
			      dlen);
	if (itt != ISCSI_RESERVED_TAG)
		return reject(why, whylen, "Reject with ITT 0x%08x, not 0xffffffff", itt);
	return 0;
}

int pdu_check_rx(const uint8_t *bhs, const uint8_t *ahs, uint32_t ahs_len, uint32_t dlen,
		 uint32_t max_recv_dsl, bool in_login, char *why, size_t whylen)
{
	uint8_t op = pdu_opcode(bhs);
	const char *name = pdu_opcode_name(op);
	uint32_t hdr_ahs = pdu_ahs_length(bhs);
	uint32_t hdr_dlen = pdu_dlength(bhs);
	uint32_t limit = in_login ? PDU_LOGIN_MAX_DSL : max_recv_dsl;

	if (!target_opcode(op))
		return reject(why, whylen, "opcode 0x%02x is not one a target may send", op);
	if (bhs[0] & ISCSI_OP_IMMEDIATE)
		return reject(why, whylen, "%s with the immediate bit set", name);
	if (!allowed_in_phase(op, in_login))
		return reject(why, whylen, "%s %s", name,
			      in_login ? "during login" : "outside login");
	if (hdr_ahs != ahs_len)
		return reject(why, whylen,
			      "%s with TotalAHSLength %u bytes but %u bytes of AHS received", name,
			      hdr_ahs, ahs_len);
	if (pdu_ahs_foreach(ahs, ahs_len, NULL, NULL))
		return reject(why, whylen, "%s with a malformed AHS", name);
	if (hdr_dlen != dlen)
		return reject(why, whylen,
			      "%s with DataSegmentLength %u but %u bytes of data received", name,
			      hdr_dlen, dlen);
	if (dlen > limit)
		return reject(why, whylen, "%s with DataSegmentLength %u over %s %u", name, dlen,
			      in_login ? "the login limit" : "our MaxRecvDataSegmentLength", limit);

	switch (op) {
	case ISCSI_OP_R2T:
	case ISCSI_OP_LOGOUT_RSP:
	case ISCSI_OP_TMF_RSP:
		if (dlen)
			return reject(why, whylen, "%s with a %u-byte data segment", name, dlen);
		return op == ISCSI_OP_R2T ? check_r2t(bhs, why, whylen) : 0;
	case ISCSI_OP_SCSI_RSP:
		return check_scsi_rsp(bhs, dlen, why, whylen);
	case ISCSI_OP_DATA_IN:
		return check_data_in(bhs, why, whylen);
	case ISCSI_OP_NOOP_IN:
		return check_nop_in(bhs, why, whylen);
	case ISCSI_OP_TEXT_RSP:
		return check_text_rsp(bhs, why, whylen);
	case ISCSI_OP_LOGIN_RSP:
		return check_login_rsp(bhs, why, whylen);
	case ISCSI_OP_ASYNC_MSG:
		return check_async(bhs, why, whylen);
	case ISCSI_OP_REJECT:
		return check_reject(bhs, dlen, why, whylen);
	default:
		return 0;
	}
}
