// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for the iSCSI PDU codec: byte-exact BHS vectors for every
 * builder (worked out by hand from the RFC 7143 section 11 layouts), one
 * good and one bad header for every receive-side rule, and a randomized
 * run of the receive checks on exactly-sized heap buffers so that ASan
 * catches any read past what a target could send.
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <glib.h>

#include "common/iscsi-proto.h"
#include "initiator/pdu.h"

static const uint8_t lun1[8] = {0x00, 0x01, 0, 0, 0, 0, 0, 0};
static const uint8_t lun2[8] = {0x00, 0x02, 0, 0, 0, 0, 0, 0};
static const uint8_t lun3[8] = {0x00, 0x03, 0, 0, 0, 0, 0, 0};

static void assert_bhs(const uint8_t *got, const uint8_t *want)
{
	for (int i = 0; i < ISCSI_BHS_LEN; i++)
		ck_assert_msg(got[i] == want[i], "byte %d: got 0x%02x, want 0x%02x", i, got[i],
			      want[i]);
}

START_TEST(test_opcode_names)
{
	ck_assert_str_eq(pdu_opcode_name(ISCSI_OP_SCSI_CMD), "SCSI Command");
	ck_assert_str_eq(pdu_opcode_name(ISCSI_OP_DATA_IN), "Data-In");
	ck_assert_str_eq(pdu_opcode_name(ISCSI_OP_R2T), "R2T");
	ck_assert_str_eq(pdu_opcode_name(ISCSI_OP_REJECT), "Reject");
	ck_assert_str_eq(pdu_opcode_name(ISCSI_OP_LOGIN_REQ | ISCSI_OP_IMMEDIATE), "Login Request");
	ck_assert_str_eq(pdu_opcode_name(0x1c), "unknown opcode");
	ck_assert_str_eq(pdu_reject_reason_name(ISCSI_REJECT_PROTOCOL_ERROR), "protocol error");
	ck_assert_str_eq(pdu_reject_reason_name(ISCSI_REJECT_DIGEST_ERROR), "data digest error");
	ck_assert_str_eq(pdu_reject_reason_name(0x01), "unknown reason");
	ck_assert_str_eq(pdu_reject_reason_name(0xee), "unknown reason");
}
END_TEST

START_TEST(test_build_scsi_cmd_read10)
{
	static const uint8_t cdb[10] = {0x28, 0, 0, 0, 0x10, 0, 0, 0, 0x08, 0};
	static const uint8_t want[48] = {
	    0x01, 0xc1, 0x00, 0x00, /* opcode, F|R|SIMPLE */
	    0x00, 0x00, 0x00, 0x00, /* no AHS, no data */
	    0x00, 0x01, 0x00, 0x00, /* LUN 1 */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x11, 0x22, 0x33, 0x44, /* ITT */
	    0x00, 0x00, 0x10, 0x00, /* EDTL 4096 */
	    0x00, 0x00, 0x00, 0x10, /* CmdSN */
	    0x00, 0x00, 0x00, 0x20, /* ExpStatSN */
	    0x28, 0x00, 0x00, 0x00, /* CDB */
	    0x10, 0x00, 0x00, 0x00, /* */
	    0x08, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	uint8_t bhs[48];
	struct iscsi_scsi_cmd h;

	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_scsi_cmd(bhs, lun1, 0x11223344, 0x10, 0x20, cdb, sizeof(cdb), true, false, 4096,
			   ISCSI_ATTR_SIMPLE, true, 0);
	assert_bhs(bhs, want);

	memcpy(&h, bhs, sizeof(h));
	ck_assert_uint_eq(be32toh(h.itt), 0x11223344);
	ck_assert_uint_eq(be32toh(h.data_length), 4096);
	ck_assert_uint_eq(be32toh(h.cmdsn), 0x10);
	ck_assert_uint_eq(be32toh(h.exp_statsn), 0x20);
	ck_assert_uint_eq(iscsi_dlength(h.dlength), 0);
	ck_assert_mem_eq(h.cdb, cdb, sizeof(cdb));
	ck_assert_uint_eq(pdu_opcode(bhs), ISCSI_OP_SCSI_CMD);
	ck_assert_uint_eq(pdu_itt(bhs), 0x11223344);
}
END_TEST

START_TEST(test_build_scsi_cmd_ext_cdb)
{
	static const uint8_t want[48] = {
	    0x01, 0x22, 0x00, 0x00, /* opcode, W|ORDERED, not final */
	    0x05, 0x01, 0x23, 0x45, /* 5 AHS words, 0x012345 immediate bytes */
	    0x00, 0x00, 0x00, 0x00, /* LUN 0 */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0xde, 0xad, 0xbe, 0xef, /* ITT */
	    0x00, 0x10, 0x00, 0x00, /* EDTL 1 MiB */
	    0xff, 0xff, 0xff, 0xfe, /* CmdSN */
	    0x00, 0x00, 0x00, 0x01, /* ExpStatSN */
	    0xa0, 0xa1, 0xa2, 0xa3, /* first 16 CDB bytes */
	    0xa4, 0xa5, 0xa6, 0xa7, /* */
	    0xa8, 0xa9, 0xaa, 0xab, /* */
	    0xac, 0xad, 0xae, 0xaf, /* */
	};
	static const uint8_t want_ahs[20] = {
	    0x00, 0x11, 0x01, 0x00, /* AHSLength 17, Extended CDB, reserved */
	    0xb0, 0xb1, 0xb2, 0xb3, /* CDB bytes 16 .. 31 */
	    0xb4, 0xb5, 0xb6, 0xb7, /* */
	    0xb8, 0xb9, 0xba, 0xbb, /* */
	    0xbc, 0xbd, 0xbe, 0xbf, /* */
	};
	uint8_t cdb[32], bhs[48], ahs[64];

	for (int i = 0; i < 32; i++)
		cdb[i] = (uint8_t)(0xa0 + i);
	pdu_build_scsi_cmd(bhs, NULL, 0xdeadbeef, 0xfffffffe, 1, cdb, sizeof(cdb), false, true,
			   0x100000, ISCSI_ATTR_ORDERED, false, 0x012345);
	assert_bhs(bhs, want);
	ck_assert_uint_eq(pdu_ahs_length(bhs), 20);
	ck_assert_uint_eq(pdu_dlength(bhs), 0x012345);

	memset(ahs, 0xee, sizeof(ahs));
	ck_assert_int_eq(pdu_build_ext_cdb_ahs(ahs, sizeof(ahs), cdb, sizeof(cdb)), 20);
	ck_assert_mem_eq(ahs, want_ahs, sizeof(want_ahs));
	ck_assert_uint_eq(ahs[20], 0xee);
}
END_TEST

START_TEST(test_build_ext_cdb_ahs_limits)
{
	uint8_t cdb[PDU_MAX_CDB_LEN + 1], ahs[300];
	static const uint8_t want17[8] = {0x00, 0x02, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00};

	for (unsigned int i = 0; i < sizeof(cdb); i++)
		cdb[i] = (uint8_t)i;
	ck_assert_int_eq(pdu_build_ext_cdb_ahs(ahs, sizeof(ahs), cdb, 16), -1);
	ck_assert_int_eq(pdu_build_ext_cdb_ahs(ahs, sizeof(ahs), cdb, PDU_MAX_CDB_LEN + 1), -1);
	ck_assert_int_eq(pdu_build_ext_cdb_ahs(ahs, 7, cdb, 17), -1);

	memset(ahs, 0xee, sizeof(ahs));
	ck_assert_int_eq(pdu_build_ext_cdb_ahs(ahs, 8, cdb, 17), 8);
	ck_assert_mem_eq(ahs, want17, sizeof(want17));

	/* 260 bytes: AHSLength 245, 3 + 245 = 248 bytes, no padding. */
	ck_assert_int_eq(pdu_build_ext_cdb_ahs(ahs, sizeof(ahs), cdb, PDU_MAX_CDB_LEN), 248);
	ck_assert_uint_eq(ahs[0], 0x00);
	ck_assert_uint_eq(ahs[1], 245);
	ck_assert_uint_eq(ahs[247], 259 & 0xff);
	ck_assert_int_eq(pdu_ahs_foreach(ahs, 248, NULL, NULL), 0);
}
END_TEST

START_TEST(test_build_nop_out)
{
	static const uint8_t want_ping[48] = {
	    0x00, 0x80, 0x00, 0x00, /* NOP-Out, F */
	    0x00, 0x00, 0x00, 0x04, /* 4 bytes of ping data */
	    0x00, 0x00, 0x00, 0x00, /* LUN 0 */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x05, /* ITT */
	    0xff, 0xff, 0xff, 0xff, /* TTT */
	    0x00, 0x00, 0x00, 0x07, /* CmdSN */
	    0x00, 0x00, 0x00, 0x09, /* ExpStatSN */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	static const uint8_t want_reply[48] = {
	    0x40, 0x80, 0x00, 0x00, /* immediate NOP-Out, F */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x02, 0x00, 0x00, /* LUN 2, from the NOP-In */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0xff, 0xff, 0xff, 0xff, /* ITT */
	    0x0a, 0x0b, 0x0c, 0x0d, /* TTT of the NOP-In */
	    0x00, 0x00, 0x00, 0x07, /* CmdSN */
	    0x00, 0x00, 0x00, 0x10, /* ExpStatSN */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	uint8_t bhs[48];
	struct iscsi_nop_out h;

	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_nop_out(bhs, 5, ISCSI_RESERVED_TAG, 7, 9, NULL, 4, false);
	assert_bhs(bhs, want_ping);

	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_nop_out(bhs, ISCSI_RESERVED_TAG, 0x0a0b0c0d, 7, 0x10, lun2, 0, true);
	assert_bhs(bhs, want_reply);

	memcpy(&h, bhs, sizeof(h));
	ck_assert_uint_eq(h.opcode, ISCSI_OP_NOOP_OUT | ISCSI_OP_IMMEDIATE);
	ck_assert_uint_eq(be32toh(h.ttt), 0x0a0b0c0d);
	ck_assert_mem_eq(h.lun, lun2, 8);
}
END_TEST

START_TEST(test_build_tmf_req)
{
	static const uint8_t want_abort[48] = {
	    0x42, 0x81, 0x00, 0x00, /* immediate TMF, F|ABORT TASK */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x03, 0x00, 0x00, /* LUN 3 */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x01, 0x00, /* ITT */
	    0x00, 0x00, 0x00, 0x55, /* Referenced Task Tag */
	    0x00, 0x00, 0x00, 0x20, /* CmdSN */
	    0x00, 0x00, 0x00, 0x30, /* ExpStatSN */
	    0x00, 0x00, 0x00, 0x1f, /* RefCmdSN */
	    0x00, 0x00, 0x00, 0x00, /* ExpDataSN */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	static const uint8_t want_reset[48] = {
	    0x42, 0x85, 0x00, 0x00, /* immediate TMF, F|LUN RESET */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x03, 0x00, 0x00, /* LUN 3 */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x01, 0x00, /* ITT */
	    0xff, 0xff, 0xff, 0xff, /* RTT reserved for this function */
	    0x00, 0x00, 0x00, 0x20, /* CmdSN */
	    0x00, 0x00, 0x00, 0x30, /* ExpStatSN */
	    0x00, 0x00, 0x00, 0x00, /* RefCmdSN reserved */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	uint8_t bhs[48];
	struct iscsi_tmf_req h;

	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_tmf_req(bhs, ISCSI_TMF_ABORT_TASK, lun3, 0x100, 0x55, 0x20, 0x30, 0x1f);
	assert_bhs(bhs, want_abort);
	memcpy(&h, bhs, sizeof(h));
	ck_assert_uint_eq(be32toh(h.rtt), 0x55);
	ck_assert_uint_eq(be32toh(h.refcmdsn), 0x1f);

	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_tmf_req(bhs, ISCSI_TMF_LUN_RESET, lun3, 0x100, 0x55, 0x20, 0x30, 0x1f);
	assert_bhs(bhs, want_reset);
}
END_TEST

START_TEST(test_build_login_req)
{
	static const uint8_t isid[6] = {0x80, 0x12, 0x34, 0x56, 0x78, 0x9a};
	static const uint8_t want_sec[48] = {
	    0x43, 0x81, 0x00, 0x00, /* immediate Login, T, CSG 0, NSG 1, versions 0 */
	    0x00, 0x00, 0x01, 0xff, /* 511 bytes of text */
	    0x80, 0x12, 0x34, 0x56, /* ISID */
	    0x78, 0x9a, 0x00, 0x00, /* ISID, TSIH 0 */
	    0x00, 0x00, 0x00, 0x00, /* ITT */
	    0x00, 0x01, 0x00, 0x00, /* CID 1 */
	    0x00, 0x00, 0x00, 0x11, /* CmdSN */
	    0x00, 0x00, 0x00, 0x00, /* ExpStatSN */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	static const uint8_t want_cont[48] = {
	    0x43, 0x44, 0x00, 0x00, /* immediate Login, C, CSG 1, NSG reserved */
	    0x00, 0x00, 0x20, 0x00, /* 8192 bytes of text */
	    0x80, 0x12, 0x34, 0x56, /* ISID */
	    0x78, 0x9a, 0x12, 0x34, /* ISID, TSIH */
	    0x00, 0x00, 0x00, 0x02, /* ITT */
	    0xab, 0xcd, 0x00, 0x00, /* CID */
	    0x00, 0x00, 0x00, 0x11, /* CmdSN */
	    0x00, 0x00, 0x00, 0x33, /* ExpStatSN */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	uint8_t bhs[48];
	struct iscsi_login_req h;

	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_login_req(bhs, isid, 0, 0, 1, 0x11, 0, ISCSI_STAGE_SECURITY,
			    ISCSI_STAGE_OPERATIONAL, true, false, 511);
	assert_bhs(bhs, want_sec);

	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_login_req(bhs, isid, 0x1234, 2, 0xabcd, 0x11, 0x33, ISCSI_STAGE_OPERATIONAL,
			    ISCSI_STAGE_FULL_FEATURE, false, true, 8192);
	assert_bhs(bhs, want_cont);

	pdu_build_login_req(bhs, isid, 0x1234, 2, 0xabcd, 0x11, 0x33, ISCSI_STAGE_OPERATIONAL,
			    ISCSI_STAGE_FULL_FEATURE, true, false, 0);
	memcpy(&h, bhs, sizeof(h));
	ck_assert_uint_eq(h.flags, 0x87);
	ck_assert_uint_eq(be16toh(h.tsih), 0x1234);
	ck_assert_uint_eq(be16toh(h.cid), 0xabcd);
	ck_assert_uint_eq(h.max_version, 0);
	ck_assert_uint_eq(h.min_version, 0);
	ck_assert_mem_eq(h.isid, isid, 6);
}
END_TEST

START_TEST(test_build_text_req)
{
	static const uint8_t want[48] = {
	    0x44, 0x80, 0x00, 0x00, /* immediate Text, F */
	    0x00, 0x00, 0x00, 0x10, /* "SendTargets=All" plus NUL */
	    0x00, 0x00, 0x00, 0x00, /* LUN */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x21, /* ITT */
	    0xff, 0xff, 0xff, 0xff, /* TTT */
	    0x00, 0x00, 0x00, 0x40, /* CmdSN */
	    0x00, 0x00, 0x00, 0x41, /* ExpStatSN */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	uint8_t bhs[48];
	struct iscsi_text_req h;

	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_text_req(bhs, 0x21, ISCSI_RESERVED_TAG, 0x40, 0x41, true, false, 16);
	assert_bhs(bhs, want);

	pdu_build_text_req(bhs, 0x21, 0x99, 0x40, 0x41, false, true, 0);
	memcpy(&h, bhs, sizeof(h));
	ck_assert_uint_eq(h.opcode, 0x44);
	ck_assert_uint_eq(h.flags, ISCSI_FLAG_CONTINUE);
	ck_assert_uint_eq(be32toh(h.ttt), 0x99);
}
END_TEST

START_TEST(test_build_logout_req)
{
	static const uint8_t want_session[48] = {
	    0x46, 0x80, 0x00, 0x00, /* immediate Logout, F|close session */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x77, /* ITT */
	    0x00, 0x00, 0x00, 0x00, /* CID reserved when closing the session */
	    0x00, 0x00, 0x00, 0x50, /* CmdSN */
	    0x00, 0x00, 0x00, 0x51, /* ExpStatSN */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	static const uint8_t want_conn[48] = {
	    0x46, 0x81, 0x00, 0x00, /* immediate Logout, F|close connection */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x77, /* ITT */
	    0x01, 0x05, 0x00, 0x00, /* CID */
	    0x00, 0x00, 0x00, 0x50, /* CmdSN */
	    0x00, 0x00, 0x00, 0x51, /* ExpStatSN */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	uint8_t bhs[48];

	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_logout_req(bhs, ISCSI_LOGOUT_CLOSE_SESSION, 0x77, 5, 0x50, 0x51);
	assert_bhs(bhs, want_session);
	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_logout_req(bhs, ISCSI_LOGOUT_CLOSE_CONNECTION, 0x77, 0x0105, 0x50, 0x51);
	assert_bhs(bhs, want_conn);
}
END_TEST

START_TEST(test_build_data_out)
{
	static const uint8_t want[48] = {
	    0x05, 0x80, 0x00, 0x00, /* Data-Out, F */
	    0x00, 0x00, 0x20, 0x00, /* 8192 bytes */
	    0x00, 0x01, 0x00, 0x00, /* LUN 1 */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x11, 0x22, 0x33, 0x44, /* ITT */
	    0x00, 0x00, 0x00, 0x99, /* TTT */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x20, /* ExpStatSN */
	    0x00, 0x00, 0x00, 0x00, /* */
	    0x00, 0x00, 0x00, 0x02, /* DataSN */
	    0x00, 0x01, 0x00, 0x00, /* Buffer Offset */
	    0x00, 0x00, 0x00, 0x00, /* */
	};
	uint8_t bhs[48];
	struct iscsi_data_out h;

	memset(bhs, 0xaa, sizeof(bhs));
	pdu_build_data_out(bhs, lun1, 0x11223344, 0x99, 0x20, 2, 0x10000, 0x2000, true);
	assert_bhs(bhs, want);

	pdu_build_data_out(bhs, lun1, 0x11223344, ISCSI_RESERVED_TAG, 0x20, 0, 0, 512, false);
	memcpy(&h, bhs, sizeof(h));
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_uint_eq(be32toh(h.ttt), ISCSI_RESERVED_TAG);
	ck_assert_uint_eq(iscsi_dlength(h.dlength), 512);
}
END_TEST

/* A well-formed target header of the given opcode, tweaked by the tests. */
static void rx_hdr(uint8_t *bhs, uint8_t op, uint32_t dlen)
{
	struct iscsi_bhs h = {0};

	memset(bhs, 0, ISCSI_BHS_LEN);
	h.opcode = op;
	h.flags = ISCSI_FLAG_FINAL;
	iscsi_set_dlength(h.dlength, dlen);
	h.itt = htobe32(0x10);
	memcpy(bhs, &h, sizeof(h));
	switch (op) {
	case ISCSI_OP_R2T: {
		struct iscsi_r2t r;

		memcpy(&r, bhs, sizeof(r));
		r.ttt = htobe32(0x1000);
		r.data_length = htobe32(65536);
		memcpy(bhs, &r, sizeof(r));
		break;
	}
	case ISCSI_OP_NOOP_IN:
	case ISCSI_OP_TEXT_RSP: {
		struct iscsi_nop_in n;

		memcpy(&n, bhs, sizeof(n));
		n.ttt = htobe32(ISCSI_RESERVED_TAG);
		memcpy(bhs, &n, sizeof(n));
		break;
	}
	case ISCSI_OP_ASYNC_MSG:
	case ISCSI_OP_REJECT:
		memset(bhs + 16, 0xff, 4);
		break;
	case ISCSI_OP_LOGIN_RSP:
		bhs[1] = ISCSI_LOGIN_TRANSIT | ISCSI_STAGE_OPERATIONAL;
		break;
	default:
		break;
	}
}

static void set_be32(uint8_t *bhs, size_t off, uint32_t v)
{
	uint32_t be = htobe32(v);

	memcpy(bhs + off, &be, 4);
}

#define MRDSL 8192u

static void expect_ok(const uint8_t *bhs, const uint8_t *ahs, uint32_t ahs_len, uint32_t dlen,
		      bool in_login)
{
	char why[PDU_WHY_LEN] = "";

	ck_assert_msg(pdu_check_rx(bhs, ahs, ahs_len, dlen, MRDSL, in_login, why, sizeof(why)) == 0,
		      "unexpected rejection: %s", why);
}

static void expect_bad(const uint8_t *bhs, const uint8_t *ahs, uint32_t ahs_len, uint32_t dlen,
		       bool in_login, const char *msg)
{
	char why[PDU_WHY_LEN] = "";

	ck_assert_int_eq(pdu_check_rx(bhs, ahs, ahs_len, dlen, MRDSL, in_login, why, sizeof(why)),
			 -1);
	ck_assert_msg(strstr(why, msg), "message \"%s\" lacks \"%s\"", why, msg);
}

START_TEST(test_rx_opcode)
{
	uint8_t bhs[48];

	for (uint8_t op = 0; op < 0x40; op++) {
		bool target = (op >= 0x20 && op <= 0x26) || op == 0x31 || op == 0x32 || op == 0x3f;

		if (op == ISCSI_OP_LOGIN_RSP)
			continue;
		rx_hdr(bhs, op, op == ISCSI_OP_REJECT ? 48 : 0);
		if (target)
			expect_ok(bhs, NULL, 0, op == ISCSI_OP_REJECT ? 48 : 0, false);
		else
			expect_bad(bhs, NULL, 0, 0, false, "not one a target may send");
	}
	rx_hdr(bhs, ISCSI_OP_SCSI_CMD, 0);
	expect_bad(bhs, NULL, 0, 0, false, "opcode 0x01 is not one a target may send");

	rx_hdr(bhs, ISCSI_OP_SCSI_RSP | ISCSI_OP_IMMEDIATE, 0);
	expect_bad(bhs, NULL, 0, 0, false, "SCSI Response with the immediate bit set");
}
END_TEST

START_TEST(test_rx_ahs)
{
	static const uint8_t one[8] = {0x00, 0x05, 0x02, 0x00, 0x00, 0x00, 0x10, 0x00};
	static const uint8_t two[12] = {0x00, 0x01, 0x01, 0x00, 0x00, 0x05,
					0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
	static const uint8_t overrun[4] = {0x00, 0x05, 0x02, 0x00};
	static const uint8_t short_tail[8] = {0x00, 0x01, 0x01, 0x00, 0x00, 0x05, 0x02, 0x00};
	uint8_t bhs[48];

	rx_hdr(bhs, ISCSI_OP_SCSI_RSP, 0);
	bhs[4] = 2;
	expect_ok(bhs, one, sizeof(one), 0, false);
	bhs[4] = 3;
	expect_ok(bhs, two, sizeof(two), 0, false);

	expect_bad(bhs, two, 8, 0, false,
		   "SCSI Response with TotalAHSLength 12 bytes but 8 bytes of AHS received");
	bhs[4] = 0;
	expect_bad(bhs, one, sizeof(one), 0, false, "TotalAHSLength 0 bytes but 8");
	bhs[4] = 1;
	expect_bad(bhs, overrun, sizeof(overrun), 0, false, "SCSI Response with a malformed AHS");
	bhs[4] = 2;
	expect_bad(bhs, short_tail, sizeof(short_tail), 0, false, "malformed AHS");
	expect_bad(bhs, NULL, 8, 0, false, "malformed AHS");
}
END_TEST

START_TEST(test_rx_dlen)
{
	uint8_t bhs[48];

	rx_hdr(bhs, ISCSI_OP_DATA_IN, 100);
	expect_ok(bhs, NULL, 0, 100, false);
	expect_bad(bhs, NULL, 0, 99, false,
		   "Data-In with DataSegmentLength 100 but 99 bytes of data received");

	rx_hdr(bhs, ISCSI_OP_DATA_IN, 8192);
	expect_ok(bhs, NULL, 0, 8192, false);
	rx_hdr(bhs, ISCSI_OP_DATA_IN, 9000);
	expect_bad(bhs, NULL, 0, 9000, false,
		   "Data-In with DataSegmentLength 9000 over our MaxRecvDataSegmentLength 8192");
	ck_assert_int_eq(pdu_check_rx(bhs, NULL, 0, 9000, 262144, false, NULL, 0), 0);

	/* During login the limit is 8192 whatever we will declare. */
	rx_hdr(bhs, ISCSI_OP_LOGIN_RSP, 8192);
	ck_assert_int_eq(pdu_check_rx(bhs, NULL, 0, 8192, 512, true, NULL, 0), 0);
	rx_hdr(bhs, ISCSI_OP_LOGIN_RSP, 9000);
	{
		char why[PDU_WHY_LEN];

		ck_assert_int_eq(pdu_check_rx(bhs, NULL, 0, 9000, 262144, true, why, sizeof(why)),
				 -1);
		ck_assert_str_eq(why,
				 "Login Response with DataSegmentLength 9000 over the login limit "
				 "8192");
	}
}
END_TEST

START_TEST(test_rx_no_data)
{
	static const uint8_t ops[] = {ISCSI_OP_R2T, ISCSI_OP_LOGOUT_RSP, ISCSI_OP_TMF_RSP};
	uint8_t bhs[48];
	char msg[64];

	for (size_t i = 0; i < sizeof(ops); i++) {
		rx_hdr(bhs, ops[i], 0);
		expect_ok(bhs, NULL, 0, 0, false);
		rx_hdr(bhs, ops[i], 4);
		snprintf(msg, sizeof(msg), "%s with a 4-byte data segment",
			 pdu_opcode_name(ops[i]));
		expect_bad(bhs, NULL, 0, 4, false, msg);
	}
}
END_TEST

START_TEST(test_rx_r2t)
{
	uint8_t bhs[48];

	rx_hdr(bhs, ISCSI_OP_R2T, 0);
	set_be32(bhs, 44, 1);
	expect_ok(bhs, NULL, 0, 0, false);
	set_be32(bhs, 44, 0);
	expect_bad(bhs, NULL, 0, 0, false, "R2T with DesiredDataTransferLength 0");

	rx_hdr(bhs, ISCSI_OP_R2T, 0);
	set_be32(bhs, 20, ISCSI_RESERVED_TAG);
	expect_bad(bhs, NULL, 0, 0, false, "R2T with the reserved Target Transfer Tag");
}
END_TEST

START_TEST(test_rx_data_in)
{
	uint8_t bhs[48];

	rx_hdr(bhs, ISCSI_OP_DATA_IN, 0);
	bhs[1] = ISCSI_FLAG_FINAL | ISCSI_DATA_STATUS | ISCSI_DATA_UNDERFLOW;
	expect_ok(bhs, NULL, 0, 0, false);
	bhs[1] = 0;
	expect_ok(bhs, NULL, 0, 0, false);

	bhs[1] = ISCSI_DATA_STATUS;
	expect_bad(bhs, NULL, 0, 0, false, "Data-In with the S bit but not the F bit");
	bhs[1] = ISCSI_FLAG_FINAL | ISCSI_DATA_UNDERFLOW;
	expect_bad(bhs, NULL, 0, 0, false, "Data-In with a residual flag but not the S bit");
	bhs[1] = ISCSI_FLAG_FINAL | ISCSI_DATA_OVERFLOW;
	expect_bad(bhs, NULL, 0, 0, false, "Data-In with a residual flag but not the S bit");
	bhs[1] = ISCSI_FLAG_FINAL | ISCSI_DATA_STATUS | ISCSI_DATA_OVERFLOW | ISCSI_DATA_UNDERFLOW;
	expect_bad(bhs, NULL, 0, 0, false, "both residual overflow and underflow");
}
END_TEST

START_TEST(test_rx_scsi_rsp)
{
	uint8_t bhs[48];

	rx_hdr(bhs, ISCSI_OP_SCSI_RSP, 20);
	bhs[3] = 0x02;
	expect_ok(bhs, NULL, 0, 20, false);
	rx_hdr(bhs, ISCSI_OP_SCSI_RSP, 2);
	bhs[3] = 0x02;
	expect_ok(bhs, NULL, 0, 2, false);
	rx_hdr(bhs, ISCSI_OP_SCSI_RSP, 1);
	bhs[3] = 0x02;
	expect_bad(bhs, NULL, 0, 1, false,
		   "SCSI Response (status 0x02) with a 1-byte data segment, too short for its "
		   "2-byte SenseLength");

	rx_hdr(bhs, ISCSI_OP_SCSI_RSP, 0);
	bhs[1] = ISCSI_FLAG_FINAL | ISCSI_RSP_UNDERFLOW;
	expect_ok(bhs, NULL, 0, 0, false);
	bhs[1] |= ISCSI_RSP_OVERFLOW;
	expect_bad(bhs, NULL, 0, 0, false, "both residual overflow and underflow");
	bhs[1] = ISCSI_FLAG_FINAL | ISCSI_RSP_BIDI_OVERFLOW | ISCSI_RSP_BIDI_UNDERFLOW;
	expect_bad(bhs, NULL, 0, 0, false, "both bidirectional overflow and underflow");
}
END_TEST

START_TEST(test_rx_async)
{
	uint8_t bhs[48];

	rx_hdr(bhs, ISCSI_OP_ASYNC_MSG, 18);
	expect_ok(bhs, NULL, 0, 18, false);
	set_be32(bhs, 16, 0x10);
	expect_bad(bhs, NULL, 0, 18, false, "Async Message with ITT 0x00000010, not 0xffffffff");
}
END_TEST

START_TEST(test_rx_nop_in)
{
	uint8_t bhs[48];

	/* A reply to our ping. */
	rx_hdr(bhs, ISCSI_OP_NOOP_IN, 4);
	expect_ok(bhs, NULL, 0, 4, false);
	ck_assert(pdu_carries_task_itt(bhs));
	set_be32(bhs, 20, 0x1234);
	expect_bad(bhs, NULL, 0, 4, false,
		   "NOP-In reply to ITT 0x00000010 with TTT 0x00001234 instead of 0xffffffff");

	/* The target's ping. */
	set_be32(bhs, 16, ISCSI_RESERVED_TAG);
	expect_ok(bhs, NULL, 0, 4, false);
	ck_assert(!pdu_carries_task_itt(bhs));
	/* A ping that wants no answer (RFC 7143 11.19; tgt's iSER driver). */
	set_be32(bhs, 20, ISCSI_RESERVED_TAG);
	expect_ok(bhs, NULL, 0, 4, false);
}
END_TEST

START_TEST(test_rx_reject)
{
	uint8_t bhs[48];

	rx_hdr(bhs, ISCSI_OP_REJECT, 48);
	bhs[2] = ISCSI_REJECT_PROTOCOL_ERROR;
	expect_ok(bhs, NULL, 0, 48, false);
	rx_hdr(bhs, ISCSI_OP_REJECT, 47);
	expect_bad(bhs, NULL, 0, 47, false,
		   "Reject with a 47-byte data segment, too short for the rejected 48-byte "
		   "header");
	rx_hdr(bhs, ISCSI_OP_REJECT, 0);
	expect_bad(bhs, NULL, 0, 0, false, "Reject with a 0-byte data segment");
	rx_hdr(bhs, ISCSI_OP_REJECT, 48);
	set_be32(bhs, 16, 7);
	expect_bad(bhs, NULL, 0, 48, false, "Reject with ITT 0x00000007, not 0xffffffff");
}
END_TEST

START_TEST(test_rx_login_phase)
{
	static const uint8_t ops[] = {ISCSI_OP_SCSI_RSP, ISCSI_OP_DATA_IN, ISCSI_OP_R2T,
				      ISCSI_OP_NOOP_IN, ISCSI_OP_ASYNC_MSG};
	uint8_t bhs[48];
	char msg[64];

	rx_hdr(bhs, ISCSI_OP_LOGIN_RSP, 100);
	expect_ok(bhs, NULL, 0, 100, true);
	expect_bad(bhs, NULL, 0, 100, false, "Login Response outside login");
	bhs[1] |= ISCSI_LOGIN_CONTINUE;
	expect_bad(bhs, NULL, 0, 100, true, "Login Response with both the T and C bits");

	rx_hdr(bhs, ISCSI_OP_REJECT, 48);
	expect_ok(bhs, NULL, 0, 48, true);

	for (size_t i = 0; i < sizeof(ops); i++) {
		rx_hdr(bhs, ops[i], 0);
		expect_ok(bhs, NULL, 0, 0, false);
		snprintf(msg, sizeof(msg), "%s during login", pdu_opcode_name(ops[i]));
		expect_bad(bhs, NULL, 0, 0, true, msg);
	}
}
END_TEST

START_TEST(test_rx_text_rsp)
{
	uint8_t bhs[48];

	rx_hdr(bhs, ISCSI_OP_TEXT_RSP, 30);
	expect_ok(bhs, NULL, 0, 30, false);
	bhs[1] = ISCSI_FLAG_FINAL | ISCSI_FLAG_CONTINUE;
	expect_bad(bhs, NULL, 0, 30, false, "Text Response with both the F and C bits");
	bhs[1] = ISCSI_FLAG_FINAL;
	set_be32(bhs, 20, 0x44);
	expect_bad(bhs, NULL, 0, 30, false, "final Text Response with TTT 0x00000044");
	bhs[1] = ISCSI_FLAG_CONTINUE;
	expect_ok(bhs, NULL, 0, 30, false);
	set_be32(bhs, 20, ISCSI_RESERVED_TAG);
	expect_bad(bhs, NULL, 0, 30, false, "non-final Text Response with TTT 0xffffffff");
}
END_TEST

START_TEST(test_rx_why_truncated)
{
	uint8_t bhs[48];
	char why[8];

	rx_hdr(bhs, ISCSI_OP_R2T, 0);
	set_be32(bhs, 44, 0);
	ck_assert_int_eq(pdu_check_rx(bhs, NULL, 0, 0, MRDSL, false, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "R2T wit");
}
END_TEST

START_TEST(test_scsi_rsp_sense)
{
	static const uint8_t good[7] = {0x00, 0x03, 0x70, 0x00, 0x05, 0xaa, 0xbb};
	static const uint8_t too_long[5] = {0x00, 0x04, 0x70, 0x00, 0x05};
	static const uint8_t none[2] = {0x00, 0x00};
	const uint8_t *sense = good;
	uint32_t len = 99;

	ck_assert_int_eq(pdu_scsi_rsp_sense(NULL, 0, &sense, &len), 0);
	ck_assert_ptr_null(sense);
	ck_assert_uint_eq(len, 0);

	ck_assert_int_eq(pdu_scsi_rsp_sense(good, sizeof(good), &sense, &len), 0);
	ck_assert_ptr_eq(sense, good + 2);
	ck_assert_uint_eq(len, 3);
	ck_assert_uint_eq(sense[0], 0x70);
	ck_assert_uint_eq(sense[2], 0x05);

	ck_assert_int_eq(pdu_scsi_rsp_sense(too_long, 5, &sense, &len), -1);
	ck_assert_int_eq(pdu_scsi_rsp_sense(too_long, 1, &sense, &len), -1);
	ck_assert_int_eq(pdu_scsi_rsp_sense(none, 2, &sense, &len), 0);
	ck_assert_ptr_null(sense);
	ck_assert_uint_eq(len, 0);
}
END_TEST

struct ahs_seen {
	int count;
	uint8_t types[4];
	uint16_t lens[4];
	const uint8_t *vals[4];
	int stop_after;
};

static int record_ahs(void *opaque, uint8_t type, const uint8_t *val, uint16_t len)
{
	struct ahs_seen *s = opaque;

	s->types[s->count] = type;
	s->lens[s->count] = len;
	s->vals[s->count] = val;
	s->count++;
	return s->count == s->stop_after ? 7 : 0;
}

START_TEST(test_ahs_foreach)
{
	static const uint8_t ahs[16] = {0x00, 0x01, 0x01, 0x00,	 /* AHSLength 1 */
					0x00, 0x05, 0x02, 0x00,	 /* Bidi read length */
					0x00, 0x01, 0x00, 0x00,	 /* */
					0x00, 0x00, 0x3c, 0x00}; /* AHSLength 0 */
	struct ahs_seen s = {0};

	ck_assert_int_eq(pdu_ahs_foreach(ahs, sizeof(ahs), record_ahs, &s), 0);
	ck_assert_int_eq(s.count, 3);
	ck_assert_uint_eq(s.types[0], ISCSI_AHS_EXTENDED_CDB);
	ck_assert_uint_eq(s.lens[0], 1);
	ck_assert_ptr_eq(s.vals[0], ahs + 3);
	ck_assert_uint_eq(s.types[1], ISCSI_AHS_BIDI_READ_LEN);
	ck_assert_uint_eq(s.lens[1], 5);
	ck_assert_ptr_eq(s.vals[1], ahs + 7);
	ck_assert_uint_eq(s.vals[1][1], 0x00);
	ck_assert_uint_eq(s.vals[1][2], 0x01);
	ck_assert_uint_eq(s.types[2], 0x3c);
	ck_assert_uint_eq(s.lens[2], 0);

	memset(&s, 0, sizeof(s));
	s.stop_after = 2;
	ck_assert_int_eq(pdu_ahs_foreach(ahs, sizeof(ahs), record_ahs, &s), 7);
	ck_assert_int_eq(s.count, 2);

	ck_assert_int_eq(pdu_ahs_foreach(NULL, 0, record_ahs, &s), 0);
	ck_assert_int_eq(pdu_ahs_foreach(ahs, 6, NULL, NULL), -1);
	ck_assert_int_eq(pdu_ahs_foreach(ahs, 8, NULL, NULL), -1);
	ck_assert_int_eq(pdu_ahs_foreach(ahs, 12, NULL, NULL), 0);
}
END_TEST

START_TEST(test_response_to_task)
{
	static const uint8_t yes[] = {ISCSI_OP_SCSI_RSP,  ISCSI_OP_DATA_IN, ISCSI_OP_R2T,
				      ISCSI_OP_TMF_RSP,	  ISCSI_OP_NOOP_IN, ISCSI_OP_TEXT_RSP,
				      ISCSI_OP_LOGOUT_RSP};
	static const uint8_t no[] = {ISCSI_OP_LOGIN_RSP, ISCSI_OP_ASYNC_MSG, ISCSI_OP_REJECT,
				     ISCSI_OP_SCSI_CMD, ISCSI_OP_NOOP_OUT};
	uint8_t bhs[48];

	for (size_t i = 0; i < sizeof(yes); i++)
		ck_assert_msg(pdu_is_response_to_task(yes[i]), "opcode 0x%02x", yes[i]);
	for (size_t i = 0; i < sizeof(no); i++)
		ck_assert_msg(!pdu_is_response_to_task(no[i]), "opcode 0x%02x", no[i]);

	rx_hdr(bhs, ISCSI_OP_DATA_IN, 0);
	ck_assert(pdu_carries_task_itt(bhs));
	rx_hdr(bhs, ISCSI_OP_ASYNC_MSG, 0);
	ck_assert(!pdu_carries_task_itt(bhs));
}
END_TEST

/* Reads every byte the walker hands out, for ASan to check. */
static int touch_ahs(void *opaque, uint8_t type, const uint8_t *val, uint16_t len)
{
	unsigned int *sum = opaque;

	*sum += type;
	for (uint16_t i = 0; i < len; i++)
		*sum += val[i];
	return 0;
}

/*
 * Random and mutated headers, with AHS, data and message buffers allocated
 * at exactly the size given, so that ASan flags any out-of-bounds access.
 */
START_TEST(test_rx_fuzz)
{
	static const uint8_t seeds[] = {ISCSI_OP_NOOP_IN,    ISCSI_OP_SCSI_RSP, ISCSI_OP_TMF_RSP,
					ISCSI_OP_LOGIN_RSP,  ISCSI_OP_TEXT_RSP, ISCSI_OP_DATA_IN,
					ISCSI_OP_LOGOUT_RSP, ISCSI_OP_R2T,	ISCSI_OP_ASYNC_MSG,
					ISCSI_OP_REJECT};
	GRand *rnd = g_rand_new_with_seed(0x15c51);
	int accepted = 0, rejected = 0;
	unsigned int sum = 0;

	for (int iter = 0; iter < 200000; iter++) {
		uint8_t *bhs = g_malloc(ISCSI_BHS_LEN);
		uint8_t *ahs = NULL;
		uint32_t ahs_len, dlen;
		size_t whylen = (size_t)g_rand_int_range(rnd, 0, PDU_WHY_LEN + 1);
		char *why = whylen ? g_malloc(whylen) : NULL;
		bool in_login = g_rand_boolean(rnd);

		if (iter % 2) {
			for (int i = 0; i < ISCSI_BHS_LEN; i++)
				bhs[i] = (uint8_t)g_rand_int(rnd);
		} else {
			int flips = g_rand_int_range(rnd, 0, 4);

			rx_hdr(bhs, seeds[g_rand_int_range(rnd, 0, sizeof(seeds))],
			       (uint32_t)g_rand_int_range(rnd, 0, 64));
			for (int i = 0; i < flips; i++)
				bhs[g_rand_int_range(rnd, 0, ISCSI_BHS_LEN)] ^=
				    (uint8_t)(1u << g_rand_int_range(rnd, 0, 8));
			/* Mostly small AHS so the walker gets exercised. */
			if (g_rand_int_range(rnd, 0, 4) == 0)
				bhs[4] = (uint8_t)g_rand_int_range(rnd, 0, 8);
		}
		ahs_len = g_rand_int_range(rnd, 0, 4) ? pdu_ahs_length(bhs)
						      : (uint32_t)g_rand_int_range(rnd, 0, 64);
		if (ahs_len) {
			ahs = g_malloc(ahs_len);
			for (uint32_t i = 0; i < ahs_len; i++)
				ahs[i] =
				    (uint8_t)(g_rand_int_range(rnd, 0, 3) ? 0 : g_rand_int(rnd));
		}
		pdu_ahs_foreach(ahs, ahs_len, touch_ahs, &sum);
		dlen = g_rand_int_range(rnd, 0, 4) ? pdu_dlength(bhs) : g_rand_int(rnd) & 0xffffff;

		if (pdu_check_rx(bhs, ahs, ahs_len, dlen, MRDSL, in_login, why, whylen) == 0) {
			accepted++;
			ck_assert_int_eq(pdu_ahs_foreach(ahs, ahs_len, touch_ahs, &sum), 0);
		} else {
			rejected++;
			if (whylen > 1)
				ck_assert_uint_gt(strlen(why), 0);
			if (whylen)
				ck_assert_uint_lt(strlen(why), whylen);
		}

		if (dlen <= 1024) {
			uint8_t *data = dlen ? g_malloc(dlen) : NULL;
			const uint8_t *sense;
			uint32_t sense_len;

			for (uint32_t i = 0; i < dlen; i++)
				data[i] =
				    (uint8_t)(i < 2 ? (uint32_t)g_rand_int_range(rnd, 0, 3) : i);
			if (pdu_scsi_rsp_sense(data, dlen, &sense, &sense_len) == 0 && sense)
				ck_assert_uint_le(sense + sense_len - data, dlen);
			g_free(data);
		}
		g_free(ahs);
		g_free(why);
		g_free(bhs);
	}
	/* Both outcomes must have been exercised for the run to mean anything. */
	ck_assert_int_gt(accepted, 1000);
	ck_assert_int_gt(rejected, 1000);
	g_rand_free(rnd);
}
END_TEST

static Suite *pdu_suite(void)
{
	Suite *s = suite_create("pdu");
	TCase *build = tcase_create("build");
	TCase *rx = tcase_create("rx");
	TCase *fuzz = tcase_create("fuzz");

	tcase_add_test(build, test_opcode_names);
	tcase_add_test(build, test_build_scsi_cmd_read10);
	tcase_add_test(build, test_build_scsi_cmd_ext_cdb);
	tcase_add_test(build, test_build_ext_cdb_ahs_limits);
	tcase_add_test(build, test_build_nop_out);
	tcase_add_test(build, test_build_tmf_req);
	tcase_add_test(build, test_build_login_req);
	tcase_add_test(build, test_build_text_req);
	tcase_add_test(build, test_build_logout_req);
	tcase_add_test(build, test_build_data_out);
	suite_add_tcase(s, build);

	tcase_add_test(rx, test_rx_opcode);
	tcase_add_test(rx, test_rx_ahs);
	tcase_add_test(rx, test_rx_dlen);
	tcase_add_test(rx, test_rx_no_data);
	tcase_add_test(rx, test_rx_r2t);
	tcase_add_test(rx, test_rx_data_in);
	tcase_add_test(rx, test_rx_scsi_rsp);
	tcase_add_test(rx, test_rx_async);
	tcase_add_test(rx, test_rx_nop_in);
	tcase_add_test(rx, test_rx_reject);
	tcase_add_test(rx, test_rx_login_phase);
	tcase_add_test(rx, test_rx_text_rsp);
	tcase_add_test(rx, test_rx_why_truncated);
	tcase_add_test(rx, test_scsi_rsp_sense);
	tcase_add_test(rx, test_ahs_foreach);
	tcase_add_test(rx, test_response_to_task);
	suite_add_tcase(s, rx);

	tcase_set_timeout(fuzz, 120);
	tcase_add_test(fuzz, test_rx_fuzz);
	suite_add_tcase(s, fuzz);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pdu_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
