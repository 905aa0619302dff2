/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iSCSI PDU codec (RFC 7143 section 11): builders for every Basic Header
 * Segment an initiator sends, and strict validation of every header a
 * target sends before the session acts on it.
 *
 * All functions work on raw 48-byte BHS buffers so that the transport can
 * hand over what it received without copying; the layouts come from the
 * packed structs of common/iscsi-proto.h.
 */
#ifndef ISA_PDU_H
#define ISA_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SAM-5: the longest CDB a SCSI command can have. */
#define PDU_MAX_CDB_LEN 260u
/* RFC 7143 12.12: MaxRecvDataSegmentLength in force during login. */
#define PDU_LOGIN_MAX_DSL 8192u
/* Room pdu_check_rx() needs for its longest message. */
#define PDU_WHY_LEN 160u

/**
 * pdu_opcode_name() - human name of an opcode, for log and error messages.
 * @opcode: opcode; the immediate and reserved bits are ignored, so the
 *          first byte of a BHS can be passed as is
 *
 * Return: a static string such as "SCSI Command" or "Data-In", or
 * "unknown opcode".
 */
const char *pdu_opcode_name(uint8_t opcode);

/**
 * pdu_reject_reason_name() - human name of a Reject PDU's reason code.
 * @reason: the Reason byte of a Reject
 *
 * Return: a static string, or "unknown reason".
 */
const char *pdu_reject_reason_name(uint8_t reason);

/**
 * pdu_opcode() - opcode of a BHS, without the immediate bit.
 * @bhs: 48-byte header
 */
uint8_t pdu_opcode(const uint8_t *bhs);

/**
 * pdu_itt() - Initiator Task Tag of a BHS, in host order.
 * @bhs: 48-byte header
 */
uint32_t pdu_itt(const uint8_t *bhs);

/**
 * pdu_dlength() - DataSegmentLength of a BHS (without padding).
 * @bhs: 48-byte header
 */
uint32_t pdu_dlength(const uint8_t *bhs);

/**
 * pdu_ahs_length() - bytes of AHS following a BHS (TotalAHSLength * 4).
 * @bhs: 48-byte header
 */
uint32_t pdu_ahs_length(const uint8_t *bhs);

/**
 * pdu_build_scsi_cmd() - SCSI Command (0x01).
 * @bhs: 48-byte buffer, zeroed and filled
 * @lun: 8-byte LUN field, or NULL for LUN 0
 * @itt: Initiator Task Tag
 * @cmdsn: CmdSN
 * @exp_statsn: ExpStatSN
 * @cdb: the CDB
 * @cdb_len: CDB length; up to 16 bytes go in the BHS. A longer CDB (up to
 *           PDU_MAX_CDB_LEN) puts its first 16 bytes in the BHS and sets
 *           TotalAHSLength for the Extended CDB AHS that the caller then
 *           builds with pdu_build_ext_cdb_ahs().
 * @read: R bit, data flows from the target
 * @write: W bit, data flows to the target
 * @edtl: Expected Data Transfer Length
 * @task_attr: ISCSI_ATTR_* task attribute
 * @final: F bit: no unsolicited Data-Out PDUs follow
 * @imm_len: DataSegmentLength (immediate data carried in this PDU)
 */
void pdu_build_scsi_cmd(uint8_t *bhs, const uint8_t lun[8], uint32_t itt, uint32_t cmdsn,
			uint32_t exp_statsn, const uint8_t *cdb, size_t cdb_len, bool read,
			bool write, uint32_t edtl, uint8_t task_attr, bool final, uint32_t imm_len);

/**
 * pdu_build_ext_cdb_ahs() - Extended CDB AHS for a CDB longer than 16 bytes.
 * @out: where to write the AHS
 * @cap: room at @out
 * @cdb: the whole CDB; bytes 16 and on go in the AHS
 * @cdb_len: 17 .. PDU_MAX_CDB_LEN
 *
 * Return: bytes written, padded to a multiple of 4 (the value that
 * pdu_build_scsi_cmd() put in TotalAHSLength, times 4), or -1 if @cdb_len
 * is out of range or @cap is too small.
 */
int pdu_build_ext_cdb_ahs(uint8_t *out, size_t cap, const uint8_t *cdb, size_t cdb_len);

/**
 * pdu_build_nop_out() - NOP-Out (0x00).
 * @bhs: 48-byte buffer, zeroed and filled
 * @itt: for a ping, our tag; for a reply to a NOP-In, 0xffffffff
 * @ttt: for a ping, 0xffffffff; for a reply, the TTT of the NOP-In
 * @cmdsn: CmdSN
 * @exp_statsn: ExpStatSN
 * @lun: LUN field (for a reply, the NOP-In's), or NULL for LUN 0
 * @dlen: DataSegmentLength (ping data)
 * @immediate: set the immediate bit (always for a reply to a NOP-In)
 */
void pdu_build_nop_out(uint8_t *bhs, uint32_t itt, uint32_t ttt, uint32_t cmdsn,
		       uint32_t exp_statsn, const uint8_t lun[8], uint32_t dlen, bool immediate);

/**
 * pdu_build_tmf_req() - Task Management Function Request (0x02), immediate.
 * @bhs: 48-byte buffer, zeroed and filled
 * @function: ISCSI_TMF_* function
 * @lun: LUN field, or NULL for LUN 0
 * @itt: tag of this request
 * @ref_itt: tag of the task to abort or reassign
 * @cmdsn: CmdSN
 * @exp_statsn: ExpStatSN
 * @ref_cmdsn: CmdSN of the referenced task
 *
 * RFC 7143 11.5.4 reserves @ref_itt (0xffffffff) and @ref_cmdsn (0) for
 * every function other than ABORT TASK and TASK REASSIGN, so they are
 * ignored for those.
 */
void pdu_build_tmf_req(uint8_t *bhs, uint8_t function, const uint8_t lun[8], uint32_t itt,
		       uint32_t ref_itt, uint32_t cmdsn, uint32_t exp_statsn, uint32_t ref_cmdsn);

/**
 * pdu_build_login_req() - Login Request (0x03), immediate, version 0.
 * @bhs: 48-byte buffer, zeroed and filled
 * @isid: 6-byte ISID
 * @tsih: TSIH (0 for a new session)
 * @itt: Initiator Task Tag
 * @cid: Connection ID
 * @cmdsn: CmdSN
 * @exp_statsn: ExpStatSN
 * @csg: current stage, ISCSI_STAGE_*
 * @nsg: next stage, only written when @transit is set (reserved otherwise)
 * @transit: T bit
 * @cont: C bit: the text continues in the next PDU; never with @transit
 * @dlen: DataSegmentLength
 */
void pdu_build_login_req(uint8_t *bhs, const uint8_t isid[6], uint16_t tsih, uint32_t itt,
			 uint16_t cid, uint32_t cmdsn, uint32_t exp_statsn, uint8_t csg,
			 uint8_t nsg, bool transit, bool cont, uint32_t dlen);

/**
 * pdu_build_text_req() - Text Request (0x04), immediate.
 * @bhs: 48-byte buffer, zeroed and filled
 * @itt: Initiator Task Tag
 * @ttt: 0xffffffff to start, else the TTT of the Text Response we continue
 * @cmdsn: CmdSN
 * @exp_statsn: ExpStatSN
 * @final: F bit
 * @cont: C bit: the text continues in the next PDU; never with @final
 * @dlen: DataSegmentLength
 */
void pdu_build_text_req(uint8_t *bhs, uint32_t itt, uint32_t ttt, uint32_t cmdsn,
			uint32_t exp_statsn, bool final, bool cont, uint32_t dlen);

/**
 * pdu_build_logout_req() - Logout Request (0x06), immediate.
 * @bhs: 48-byte buffer, zeroed and filled
 * @reason: ISCSI_LOGOUT_* reason code
 * @itt: Initiator Task Tag
 * @cid: connection to close; reserved (written as 0) when closing the session
 * @cmdsn: CmdSN
 * @exp_statsn: ExpStatSN
 */
void pdu_build_logout_req(uint8_t *bhs, uint8_t reason, uint32_t itt, uint16_t cid, uint32_t cmdsn,
			  uint32_t exp_statsn);

/**
 * pdu_build_data_out() - SCSI Data-Out (0x05).
 * @bhs: 48-byte buffer, zeroed and filled
 * @lun: LUN field of the command, or NULL for LUN 0
 * @itt: tag of the command
 * @ttt: TTT of the R2T answered, 0xffffffff for unsolicited data
 * @exp_statsn: ExpStatSN
 * @datasn: DataSN within this sequence
 * @offset: Buffer Offset
 * @dlen: DataSegmentLength
 * @final: F bit: last PDU of the sequence
 */
void pdu_build_data_out(uint8_t *bhs, const uint8_t lun[8], uint32_t itt, uint32_t ttt,
			uint32_t exp_statsn, uint32_t datasn, uint32_t offset, uint32_t dlen,
			bool final);

/**
 * pdu_check_rx() - validate a header received from a target.
 * @bhs: 48-byte header
 * @ahs: the AHS bytes that followed it (may be NULL when @ahs_len is 0)
 * @ahs_len: bytes at @ahs
 * @dlen: bytes of data segment received (without padding and digest)
 * @max_recv_dsl: our declared MaxRecvDataSegmentLength
 * @in_login: the connection is in the login phase; the data segment limit
 *            is then PDU_LOGIN_MAX_DSL, and only Login Response and Reject
 *            are acceptable
 * @why: on failure, a one-line message saying what is wrong (may be NULL)
 * @whylen: room at @why; PDU_WHY_LEN is enough for any message
 *
 * Checks only what the header itself can prove; whether the ITT was ever
 * issued is left to the session. The content of a SCSI Response's sense
 * data is checked by pdu_scsi_rsp_sense().
 *
 * Return: 0 if the PDU is well formed, -1 otherwise.
 */
int pdu_check_rx(const uint8_t *bhs, const uint8_t *ahs, uint32_t ahs_len, uint32_t dlen,
		 uint32_t max_recv_dsl, bool in_login, char *why, size_t whylen);

/**
 * pdu_scsi_rsp_sense() - locate the sense data in a SCSI Response's data segment.
 * @data: the data segment
 * @dlen: its DataSegmentLength
 * @sense: set to the sense bytes, or NULL if there are none
 * @sense_len: set to the number of sense bytes
 *
 * Return: 0 (with NULL, 0 when there is no data segment or SenseLength is
 * 0), or -1 if the segment is too short for its 2-byte SenseLength or the
 * SenseLength does not fit in it.
 */
int pdu_scsi_rsp_sense(const uint8_t *data, uint32_t dlen, const uint8_t **sense,
		       uint32_t *sense_len);

/**
 * pdu_ahs_foreach() - walk the Additional Header Segments of a PDU.
 * @ahs: the AHS bytes (may be NULL when @ahs_len is 0)
 * @ahs_len: bytes at @ahs, a multiple of 4
 * @fn: called for each AHS with its AHSType and its AHS-Specific field
 *      (@val, @len = AHSLength); for the types RFC 7143 defines, @val[0]
 *      is the reserved byte. May be NULL to only check the structure.
 * @opaque: passed to @fn
 *
 * Every AHS is checked to fit before @fn sees it. A non-zero return from
 * @fn stops the walk and is returned.
 *
 * Return: 0 after the last AHS, -1 if the AHS area is malformed, or what
 * @fn returned.
 */
int pdu_ahs_foreach(const uint8_t *ahs, uint32_t ahs_len,
		    int (*fn)(void *opaque, uint8_t type, const uint8_t *val, uint16_t len),
		    void *opaque);

/**
 * pdu_is_response_to_task() - whether a target PDU carries an ITT we issued.
 * @opcode: opcode (immediate and reserved bits ignored)
 *
 * True for SCSI Response, Data-In, R2T, TMF Response, NOP-In, Text Response
 * and Logout Response. A NOP-In is a reply only when its ITT is not
 * 0xffffffff (otherwise it is the target's ping); pdu_carries_task_itt()
 * looks at that too.
 */
bool pdu_is_response_to_task(uint8_t opcode);

/**
 * pdu_carries_task_itt() - whether a received header refers to a task of ours.
 * @bhs: 48-byte header, already accepted by pdu_check_rx()
 *
 * Like pdu_is_response_to_task() but tells a NOP-In reply from a NOP-In ping.
 */
bool pdu_carries_task_itt(const uint8_t *bhs);

#endif
