/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iSCSI wire format (RFC 7143): the 48-byte Basic Header Segment of every
 * PDU an initiator sends or receives, as packed big-endian structs.
 *
 * All multi-byte fields are big-endian on the wire; use the be*() helpers
 * below to read and write them. No code outside this header should use
 * magic offsets into a BHS.
 */
#ifndef ISA_ISCSI_PROTO_H
#define ISA_ISCSI_PROTO_H

#include <stdint.h>
#include <string.h>

#define ISCSI_BHS_LEN	   48
#define ISCSI_DIGEST_LEN   4
#define ISCSI_DEFAULT_PORT 3260
#define ISCSI_PAD(len)	   (((len) + 3u) & ~3u)
/* DataSegmentLength is a 24-bit field. */
#define ISCSI_MAX_DSL 0xffffffu
/* RFC 7143 12.12: MaxRecvDataSegmentLength is 512 .. 2^24-1. */
#define ISCSI_MIN_MRDSL	   512u
#define ISCSI_RESERVED_TAG 0xffffffffu

/* Opcodes, initiator to target. */
#define ISCSI_OP_NOOP_OUT   0x00
#define ISCSI_OP_SCSI_CMD   0x01
#define ISCSI_OP_TMF_REQ    0x02
#define ISCSI_OP_LOGIN_REQ  0x03
#define ISCSI_OP_TEXT_REQ   0x04
#define ISCSI_OP_DATA_OUT   0x05
#define ISCSI_OP_LOGOUT_REQ 0x06
#define ISCSI_OP_SNACK_REQ  0x10
/* Opcodes, target to initiator. */
#define ISCSI_OP_NOOP_IN    0x20
#define ISCSI_OP_SCSI_RSP   0x21
#define ISCSI_OP_TMF_RSP    0x22
#define ISCSI_OP_LOGIN_RSP  0x23
#define ISCSI_OP_TEXT_RSP   0x24
#define ISCSI_OP_DATA_IN    0x25
#define ISCSI_OP_LOGOUT_RSP 0x26
#define ISCSI_OP_R2T	    0x31
#define ISCSI_OP_ASYNC_MSG  0x32
#define ISCSI_OP_REJECT	    0x3f

#define ISCSI_OPCODE_MASK  0x3f
#define ISCSI_OP_IMMEDIATE 0x40

/* Byte 1 flags. */
#define ISCSI_FLAG_FINAL    0x80
#define ISCSI_FLAG_CONTINUE 0x40 /* text/login C bit */

/* SCSI Command flags (byte 1). */
#define ISCSI_CMD_READ	    0x40
#define ISCSI_CMD_WRITE	    0x20
#define ISCSI_CMD_ATTR_MASK 0x07
#define ISCSI_ATTR_UNTAGGED 0
#define ISCSI_ATTR_SIMPLE   1
#define ISCSI_ATTR_ORDERED  2
#define ISCSI_ATTR_HOQ	    3
#define ISCSI_ATTR_ACA	    4

/* SCSI Response flags (byte 1) and Data-In flags. */
#define ISCSI_RSP_BIDI_OVERFLOW	 0x10
#define ISCSI_RSP_BIDI_UNDERFLOW 0x08
#define ISCSI_RSP_OVERFLOW	 0x04
#define ISCSI_RSP_UNDERFLOW	 0x02
#define ISCSI_DATA_ACK		 0x40 /* Data-In A bit */
#define ISCSI_DATA_STATUS	 0x01 /* Data-In S bit */
#define ISCSI_DATA_OVERFLOW	 0x04
#define ISCSI_DATA_UNDERFLOW	 0x02

/* SCSI Response "response" byte. */
#define ISCSI_RESPONSE_COMPLETED 0x00
#define ISCSI_RESPONSE_FAILURE	 0x01

/* Login flags (byte 1): T C . . CSG(2) NSG(2). */
#define ISCSI_LOGIN_TRANSIT	 0x80
#define ISCSI_LOGIN_CONTINUE	 0x40
#define ISCSI_LOGIN_CSG_SHIFT	 2
#define ISCSI_LOGIN_CSG_MASK	 0x0c
#define ISCSI_LOGIN_NSG_MASK	 0x03
#define ISCSI_STAGE_SECURITY	 0
#define ISCSI_STAGE_OPERATIONAL	 1
#define ISCSI_STAGE_FULL_FEATURE 3

/* Login status classes (Status-Class byte). */
#define ISCSI_LOGIN_CLASS_SUCCESS   0x00
#define ISCSI_LOGIN_CLASS_REDIRECT  0x01
#define ISCSI_LOGIN_CLASS_INITIATOR 0x02
#define ISCSI_LOGIN_CLASS_TARGET    0x03
/* Status details. */
#define ISCSI_LOGIN_REDIRECT_TEMP    0x01
#define ISCSI_LOGIN_REDIRECT_PERM    0x02
#define ISCSI_LOGIN_INIT_ERROR	     0x00
#define ISCSI_LOGIN_AUTH_FAILED	     0x01
#define ISCSI_LOGIN_FORBIDDEN	     0x02
#define ISCSI_LOGIN_NOT_FOUND	     0x03
#define ISCSI_LOGIN_TARGET_REMOVED   0x04
#define ISCSI_LOGIN_UNSUPPORTED_VER  0x05
#define ISCSI_LOGIN_TOO_MANY_CONNS   0x06
#define ISCSI_LOGIN_MISSING_PARAM    0x07
#define ISCSI_LOGIN_NO_SESSION_SPAN  0x08
#define ISCSI_LOGIN_NO_SESSION_TYPE  0x09
#define ISCSI_LOGIN_NO_SESSION	     0x0a
#define ISCSI_LOGIN_INVALID_REQ	     0x0b
#define ISCSI_LOGIN_TARGET_ERROR     0x00
#define ISCSI_LOGIN_SERVICE_UNAVAIL  0x01
#define ISCSI_LOGIN_OUT_OF_RESOURCES 0x02

/* Logout reason codes (byte 1 low 7 bits, F bit set). */
#define ISCSI_LOGOUT_CLOSE_SESSION    0x00
#define ISCSI_LOGOUT_CLOSE_CONNECTION 0x01
#define ISCSI_LOGOUT_REMOVE_RECOVERY  0x02

/* Task management functions. */
#define ISCSI_TMF_ABORT_TASK	    1
#define ISCSI_TMF_ABORT_TASK_SET    2
#define ISCSI_TMF_CLEAR_ACA	    3
#define ISCSI_TMF_CLEAR_TASK_SET    4
#define ISCSI_TMF_LUN_RESET	    5
#define ISCSI_TMF_TARGET_WARM_RESET 6
#define ISCSI_TMF_TARGET_COLD_RESET 7
#define ISCSI_TMF_TASK_REASSIGN	    8
/* TMF responses. */
#define ISCSI_TMF_RSP_COMPLETE	     0
#define ISCSI_TMF_RSP_NO_TASK	     1
#define ISCSI_TMF_RSP_NO_LUN	     2
#define ISCSI_TMF_RSP_TASK_ALLEGIANT 3
#define ISCSI_TMF_RSP_NO_FAILOVER    4
#define ISCSI_TMF_RSP_NOT_SUPPORTED  5
#define ISCSI_TMF_RSP_AUTH_FAILED    6
#define ISCSI_TMF_RSP_REJECTED	     255

/* Async message events. */
#define ISCSI_ASYNC_SCSI_EVENT	    0
#define ISCSI_ASYNC_LOGOUT_REQUEST  1
#define ISCSI_ASYNC_DROP_CONNECTION 2
#define ISCSI_ASYNC_DROP_ALL	    3
#define ISCSI_ASYNC_NEGOTIATE	    4
#define ISCSI_ASYNC_VENDOR	    255

/* Reject reasons. */
#define ISCSI_REJECT_DIGEST_ERROR	0x02
#define ISCSI_REJECT_SNACK_REJECT	0x03
#define ISCSI_REJECT_PROTOCOL_ERROR	0x04
#define ISCSI_REJECT_CMD_NOT_SUPPORTED	0x05
#define ISCSI_REJECT_IMM_CMD_REJECT	0x06
#define ISCSI_REJECT_TASK_IN_PROGRESS	0x07
#define ISCSI_REJECT_INVALID_DATA_ACK	0x08
#define ISCSI_REJECT_INVALID_PDU_FIELD	0x09
#define ISCSI_REJECT_LONG_OP_REJECT	0x0a
#define ISCSI_REJECT_NEGOTIATION_RESET	0x0b
#define ISCSI_REJECT_WAITING_FOR_LOGOUT 0x0c

/* AHS types. */
#define ISCSI_AHS_EXTENDED_CDB	1
#define ISCSI_AHS_BIDI_READ_LEN 2

/**
 * struct iscsi_bhs - the fields every BHS shares.
 * @opcode: opcode, with ISCSI_OP_IMMEDIATE on requests sent immediately
 * @flags: opcode-specific flags (F bit and others)
 * @ahs_len: TotalAHSLength in 4-byte words
 * @dlength: DataSegmentLength, 24 bits
 */
struct iscsi_bhs {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt;
	uint8_t other[28];
} __attribute__((packed));

/** struct iscsi_scsi_cmd - SCSI Command (0x01). */
struct iscsi_scsi_cmd {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t data_length; /* Expected Data Transfer Length */
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint8_t cdb[16];
} __attribute__((packed));

/** struct iscsi_scsi_rsp - SCSI Response (0x21). */
struct iscsi_scsi_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t response;
	uint8_t cmd_status;
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t rsvd[8];
	uint32_t itt;
	uint32_t snack_tag;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t exp_datasn;
	uint32_t bi_residual_count;
	uint32_t residual_count;
} __attribute__((packed));

/** struct iscsi_data_out - SCSI Data-Out (0x05). */
struct iscsi_data_out {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t rsvd4;
	uint32_t exp_statsn;
	uint32_t rsvd5;
	uint32_t datasn;
	uint32_t offset;
	uint32_t rsvd6;
} __attribute__((packed));

/** struct iscsi_data_in - SCSI Data-In (0x25). */
struct iscsi_data_in {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2;
	uint8_t cmd_status;
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t datasn;
	uint32_t offset;
	uint32_t residual_count;
} __attribute__((packed));

/** struct iscsi_r2t - Ready To Transfer (0x31). */
struct iscsi_r2t {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t r2tsn;
	uint32_t data_offset;
	uint32_t data_length;
} __attribute__((packed));

/** struct iscsi_nop_out - NOP-Out (0x00). */
struct iscsi_nop_out {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint8_t rsvd4[16];
} __attribute__((packed));

/** struct iscsi_nop_in - NOP-In (0x20). */
struct iscsi_nop_in {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint8_t rsvd4[12];
} __attribute__((packed));

/** struct iscsi_tmf_req - Task Management Function Request (0x02). */
struct iscsi_tmf_req {
	uint8_t opcode;
	uint8_t flags; /* F | function */
	uint8_t rsvd2[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t rtt; /* Referenced Task Tag */
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint32_t refcmdsn;
	uint32_t exp_datasn;
	uint8_t rsvd4[8];
} __attribute__((packed));

/** struct iscsi_tmf_rsp - Task Management Function Response (0x22). */
struct iscsi_tmf_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t response;
	uint8_t rsvd3;
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t rsvd4[8];
	uint32_t itt;
	uint32_t rsvd5;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint8_t rsvd6[12];
} __attribute__((packed));

/** struct iscsi_login_req - Login Request (0x03). */
struct iscsi_login_req {
	uint8_t opcode;
	uint8_t flags; /* T C . . CSG NSG */
	uint8_t max_version;
	uint8_t min_version;
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t isid[6];
	uint16_t tsih;
	uint32_t itt;
	uint16_t cid;
	uint16_t rsvd3;
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint8_t rsvd5[16];
} __attribute__((packed));

/** struct iscsi_login_rsp - Login Response (0x23). */
struct iscsi_login_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t max_version;
	uint8_t active_version;
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t isid[6];
	uint16_t tsih;
	uint32_t itt;
	uint32_t rsvd3;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint8_t status_class;
	uint8_t status_detail;
	uint8_t rsvd5[10];
} __attribute__((packed));

/** struct iscsi_text_req - Text Request (0x04). */
struct iscsi_text_req {
	uint8_t opcode;
	uint8_t flags; /* F C */
	uint8_t rsvd2[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint8_t rsvd4[16];
} __attribute__((packed));

/** struct iscsi_text_rsp - Text Response (0x24). */
struct iscsi_text_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt;
	uint32_t ttt;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint8_t rsvd4[12];
} __attribute__((packed));

/** struct iscsi_logout_req - Logout Request (0x06). */
struct iscsi_logout_req {
	uint8_t opcode;
	uint8_t flags; /* F | reason */
	uint8_t rsvd1[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t rsvd2[8];
	uint32_t itt;
	uint16_t cid;
	uint8_t rsvd3[2];
	uint32_t cmdsn;
	uint32_t exp_statsn;
	uint8_t rsvd4[16];
} __attribute__((packed));

/** struct iscsi_logout_rsp - Logout Response (0x26). */
struct iscsi_logout_rsp {
	uint8_t opcode;
	uint8_t flags;
	uint8_t response;
	uint8_t rsvd3;
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t rsvd4[8];
	uint32_t itt;
	uint32_t rsvd5;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t rsvd6;
	uint16_t time2wait;
	uint16_t time2retain;
	uint32_t rsvd7;
} __attribute__((packed));

/** struct iscsi_async_msg - Asynchronous Message (0x32). */
struct iscsi_async_msg {
	uint8_t opcode;
	uint8_t flags;
	uint8_t rsvd2[2];
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t lun[8];
	uint32_t itt; /* always 0xffffffff */
	uint32_t rsvd4;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint8_t async_event;
	uint8_t async_vcode;
	uint16_t param1;
	uint16_t param2;
	uint16_t param3;
	uint8_t rsvd5[4];
} __attribute__((packed));

/** struct iscsi_reject - Reject (0x3f); its data segment is the rejected BHS. */
struct iscsi_reject {
	uint8_t opcode;
	uint8_t flags;
	uint8_t reason;
	uint8_t rsvd2;
	uint8_t ahs_len;
	uint8_t dlength[3];
	uint8_t rsvd3[8];
	uint32_t ffffffff;
	uint8_t rsvd4[4];
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t datasn;
	uint8_t rsvd5[8];
} __attribute__((packed));

_Static_assert(sizeof(struct iscsi_bhs) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_scsi_cmd) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_scsi_rsp) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_data_out) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_data_in) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_r2t) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_nop_out) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_nop_in) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_tmf_req) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_tmf_rsp) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_login_req) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_login_rsp) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_text_req) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_text_rsp) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_logout_req) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_logout_rsp) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_async_msg) == ISCSI_BHS_LEN, "BHS size");
_Static_assert(sizeof(struct iscsi_reject) == ISCSI_BHS_LEN, "BHS size");

/* 24-bit DataSegmentLength. */
static inline uint32_t iscsi_dlength(const uint8_t d[3])
{
	return ((uint32_t)d[0] << 16) | ((uint32_t)d[1] << 8) | d[2];
}

static inline void iscsi_set_dlength(uint8_t d[3], uint32_t len)
{
	d[0] = (uint8_t)(len >> 16);
	d[1] = (uint8_t)(len >> 8);
	d[2] = (uint8_t)len;
}

/* Name of an opcode for log lines (the immediate bit is ignored). */
static inline const char *iscsi_opcode_name(uint8_t opcode)
{
	switch (opcode & ISCSI_OPCODE_MASK) {
	case ISCSI_OP_NOOP_OUT:
		return "NOP-Out";
	case ISCSI_OP_SCSI_CMD:
		return "SCSI Command";
	case ISCSI_OP_TMF_REQ:
		return "Task Management Request";
	case ISCSI_OP_LOGIN_REQ:
		return "Login Request";
	case ISCSI_OP_TEXT_REQ:
		return "Text Request";
	case ISCSI_OP_DATA_OUT:
		return "Data-Out";
	case ISCSI_OP_LOGOUT_REQ:
		return "Logout Request";
	case ISCSI_OP_SNACK_REQ:
		return "SNACK Request";
	case ISCSI_OP_NOOP_IN:
		return "NOP-In";
	case ISCSI_OP_SCSI_RSP:
		return "SCSI Response";
	case ISCSI_OP_TMF_RSP:
		return "Task Management Response";
	case ISCSI_OP_LOGIN_RSP:
		return "Login Response";
	case ISCSI_OP_TEXT_RSP:
		return "Text Response";
	case ISCSI_OP_DATA_IN:
		return "Data-In";
	case ISCSI_OP_LOGOUT_RSP:
		return "Logout Response";
	case ISCSI_OP_R2T:
		return "R2T";
	case ISCSI_OP_ASYNC_MSG:
		return "Async Message";
	case ISCSI_OP_REJECT:
		return "Reject";
	default:
		return "unknown opcode";
	}
}

/* Serial number arithmetic (RFC 1982, 32 bits) for CmdSN / StatSN. */
static inline int iscsi_sn_lt(uint32_t a, uint32_t b)
{
	return a != b && (uint32_t)(b - a) < 0x80000000u;
}

static inline int iscsi_sn_le(uint32_t a, uint32_t b)
{
	return a == b || iscsi_sn_lt(a, b);
}

/* Fill an 8-byte LUN field with a single-level LUN (SAM-2 peripheral or flat). */
static inline void iscsi_encode_lun(uint8_t out[8], uint32_t lun)
{
	memset(out, 0, 8);
	if (lun < 256) {
		out[1] = (uint8_t)lun;
	} else {
		out[0] = (uint8_t)(0x40 | ((lun >> 8) & 0x3f));
		out[1] = (uint8_t)lun;
	}
}

/* The LUN number of an 8-byte LUN field as iscsi_encode_lun() writes it. */
static inline uint32_t iscsi_decode_lun(const uint8_t lun[8])
{
	return (uint32_t)(lun[0] & 0x3f) << 8 | lun[1];
}

#endif
