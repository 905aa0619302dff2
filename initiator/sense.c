// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Sense data decoding (SPC-4 4.5), human-readable messages for sense and
 * status, and their translation into errno values for the front ends.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "initiator/scsi.h"

/* Fixed format: key at byte 2, ASC/ASCQ at 12/13, INFORMATION at 3..6. */
#define FIXED_MIN_LEN  3
#define FIXED_INFO_END 7
#define FIXED_ASCQ_END 14
/* Descriptor format: key, ASC and ASCQ at bytes 1..3, descriptors from 8. */
#define DESC_MIN_LEN   2
#define DESC_HDR_LEN   8
#define DESC_TYPE_INFO 0x00
#define DESC_INFO_LEN  12

/* Bytes the sense data claims to hold, clamped to what was received. */
static size_t sense_extent(const uint8_t *buf, size_t len)
{
	if (len < 8)
		return len;
	return MIN(len, 8 + (size_t)buf[7]);
}

static void parse_fixed(const uint8_t *buf, size_t len, struct scsi_sense *out)
{
	size_t n = sense_extent(buf, len);

	out->key = buf[2] & 0x0f;
	if (n >= FIXED_INFO_END && (buf[0] & 0x80)) {
		out->info_valid = true;
		out->information = scsi_get_be32(&buf[3]);
	}
	if (n >= FIXED_ASCQ_END) {
		out->asc = buf[12];
		out->ascq = buf[13];
	}
}

static void parse_descriptor(const uint8_t *buf, size_t len, struct scsi_sense *out)
{
	size_t n = sense_extent(buf, len);
	size_t off = DESC_HDR_LEN;

	out->key = buf[1] & 0x0f;
	if (n >= 4) {
		out->asc = buf[2];
		out->ascq = buf[3];
	}
	/* Walk the descriptors for INFORMATION; stop at the first one cut short. */
	while (off + 2 <= n && n - off - 2 >= buf[off + 1]) {
		const uint8_t *d = &buf[off];

		if (d[0] == DESC_TYPE_INFO && d[1] + 2 >= DESC_INFO_LEN && (d[2] & 0x80)) {
			out->info_valid = true;
			out->information = scsi_get_be64(&d[4]);
		}
		off += 2 + (size_t)d[1];
	}
}

int scsi_sense_parse(const uint8_t *buf, size_t len, struct scsi_sense *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 1)
		return -1;
	switch (buf[0] & 0x7f) {
	case 0x70:
	case 0x71:
		if (len < FIXED_MIN_LEN)
			return -1;
		parse_fixed(buf, len, out);
		break;
	case 0x72:
	case 0x73:
		if (len < DESC_MIN_LEN)
			return -1;
		parse_descriptor(buf, len, out);
		break;
	default:
		return -1;
	}
	out->response_code = buf[0] & 0x7f;
	out->valid = true;
	return 0;
}

const char *scsi_sense_key_name(uint8_t key)
{
	static const char *const names[16] = {
	    "NO SENSE",	       "RECOVERED ERROR", "NOT READY",	    "MEDIUM ERROR",
	    "HARDWARE ERROR",  "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
	    "BLANK CHECK",     "VENDOR SPECIFIC", "COPY ABORTED",   "ABORTED COMMAND",
	    "RESERVED KEY 0C", "VOLUME OVERFLOW", "MISCOMPARE",	    "COMPLETED",
	};

	if (key >= G_N_ELEMENTS(names))
		return "INVALID SENSE KEY";
	return names[key];
}

/* ASCQ value that makes an entry match every qualifier of its ASC. */
#define ANY_ASCQ 0x100

/**
 * struct asc_entry - one row of the additional sense code table
 * @asc: additional sense code
 * @ascq: qualifier, or ANY_ASCQ for the family's generic text
 * @text: SPC-4 Annex F wording, lower case
 */
struct asc_entry {
	uint8_t asc;
	uint16_t ascq;
	const char *text;
};

/* Exact entries come before their family's ANY_ASCQ fallback. */
static const struct asc_entry asc_table[] = {
    {0x00, 0x00, "no additional sense information"},
    {0x04, 0x00, "logical unit not ready, cause not reportable"},
    {0x04, 0x01, "logical unit is in process of becoming ready"},
    {0x04, 0x02, "logical unit not ready, initializing command required"},
    {0x04, 0x03, "logical unit not ready, manual intervention required"},
    {0x04, 0x04, "logical unit not ready, format in progress"},
    {0x04, 0x07, "logical unit not ready, operation in progress"},
    {0x04, 0x09, "logical unit not ready, self-test in progress"},
    {0x04, 0x0a, "logical unit not accessible, asymmetric access state transition"},
    {0x04, 0x0b, "logical unit not accessible, target port in standby state"},
    {0x04, 0x0c, "logical unit not accessible, target port in unavailable state"},
    {0x04, 0x12, "logical unit not ready, offline"},
    {0x04, ANY_ASCQ, "logical unit not ready"},
    {0x05, 0x00, "logical unit does not respond to selection"},
    {0x08, 0x00, "logical unit communication failure"},
    {0x0c, 0x00, "write error"},
    {0x0c, ANY_ASCQ, "write error"},
    {0x10, 0x01, "logical block guard check failed"},
    {0x10, 0x02, "logical block application tag check failed"},
    {0x10, 0x03, "logical block reference tag check failed"},
    {0x11, 0x00, "unrecovered read error"},
    {0x11, ANY_ASCQ, "unrecovered read error"},
    {0x1a, 0x00, "parameter list length error"},
    {0x1d, 0x00, "miscompare during verify operation"},
    {0x20, 0x00, "invalid command operation code"},
    {0x21, 0x00, "logical block address out of range"},
    {0x24, 0x00, "invalid field in cdb"},
    {0x25, 0x00, "logical unit not supported"},
    {0x26, 0x00, "invalid field in parameter list"},
    {0x26, ANY_ASCQ, "invalid parameter list"},
    {0x27, 0x00, "write protected"},
    {0x27, 0x01, "hardware write protected"},
    {0x27, 0x02, "logical unit software write protected"},
    {0x27, 0x07, "space allocation failed write protect"},
    {0x27, ANY_ASCQ, "write protected"},
    {0x28, 0x00, "not ready to ready change, medium may have changed"},
    {0x29, 0x00, "power on, reset, or bus device reset occurred"},
    {0x29, 0x01, "power on occurred"},
    {0x29, 0x02, "scsi bus reset occurred"},
    {0x29, 0x03, "bus device reset function occurred"},
    {0x29, 0x04, "device internal reset"},
    {0x29, 0x05, "transceiver mode changed to single-ended"},
    {0x29, 0x06, "transceiver mode changed to lvd"},
    {0x29, 0x07, "i_t nexus loss occurred"},
    {0x2a, 0x01, "mode parameters changed"},
    {0x2a, 0x02, "log parameters changed"},
    {0x2a, 0x03, "reservations preempted"},
    {0x2a, 0x04, "reservations released"},
    {0x2a, 0x05, "registrations preempted"},
    {0x2a, 0x06, "asymmetric access state changed"},
    {0x2a, 0x09, "capacity data has changed"},
    {0x2a, ANY_ASCQ, "parameters changed"},
    {0x2c, 0x00, "command sequence error"},
    {0x2f, 0x00, "commands cleared by another initiator"},
    {0x38, 0x07, "thin provisioning soft threshold reached"},
    {0x3a, 0x00, "medium not present"},
    {0x3f, 0x03, "inquiry data has changed"},
    {0x3f, 0x0e, "reported luns data has changed"},
    {0x44, 0x00, "internal target failure"},
    {0x55, 0x00, "system resource failure"},
    {0x55, 0x03, "insufficient resources"},
    {0x55, 0x04, "insufficient registration resources"},
    {0x55, ANY_ASCQ, "system resource failure"},
};

const char *scsi_asc_text(uint8_t asc, uint8_t ascq)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(asc_table); i++) {
		const struct asc_entry *e = &asc_table[i];

		if (e->asc == asc && (e->ascq == ascq || e->ascq == ANY_ASCQ))
			return e->text;
	}
	return NULL;
}

void scsi_sense_describe(const struct scsi_sense *s, char *buf, size_t len)
{
	const char *text;
	int n;

	if (len == 0)
		return;
	if (!s->valid) {
		snprintf(buf, len, "unrecognized sense data");
		return;
	}
	text = scsi_asc_text(s->asc, s->ascq);
	n = snprintf(buf, len, "%s: %s (%02x/%02x)", scsi_sense_key_name(s->key),
		     text ? text : "unknown additional sense", s->asc, s->ascq);
	if (s->info_valid && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ", information 0x%" PRIx64, s->information);
}

const char *scsi_status_name(uint8_t status)
{
	switch (status) {
	case SCSI_STATUS_GOOD:
		return "GOOD";
	case SCSI_STATUS_CHECK_CONDITION:
		return "CHECK CONDITION";
	case SCSI_STATUS_CONDITION_MET:
		return "CONDITION MET";
	case SCSI_STATUS_BUSY:
		return "BUSY";
	case SCSI_STATUS_RESERVATION_CONFLICT:
		return "RESERVATION CONFLICT";
	case SCSI_STATUS_TASK_SET_FULL:
		return "TASK SET FULL";
	case SCSI_STATUS_ACA_ACTIVE:
		return "ACA ACTIVE";
	case SCSI_STATUS_TASK_ABORTED:
		return "TASK ABORTED";
	default:
		return "UNKNOWN STATUS";
	}
}

bool scsi_sense_is_unit_attention(const struct scsi_sense *s)
{
	return s->valid && s->key == SCSI_SENSE_UNIT_ATTENTION;
}

bool scsi_sense_is_retryable(const struct scsi_sense *s)
{
	if (!s->valid)
		return false;
	switch (s->key) {
	case SCSI_SENSE_UNIT_ATTENTION:
		return true;
	case SCSI_SENSE_NOT_READY:
		return s->asc == 0x04 && (s->ascq == 0x01 || s->ascq == 0x0a);
	case SCSI_SENSE_ABORTED_COMMAND:
		/* A protection check failure would fail again the same way. */
		return s->asc != 0x10;
	default:
		return false;
	}
}

static int illegal_request_errno(const struct scsi_sense *s)
{
	switch (s->asc) {
	case 0x20:
		return EOPNOTSUPP;
	case 0x21:
	case 0x24:
	case 0x26:
		return EINVAL;
	case 0x25:
		return ENXIO;
	default:
		return EIO;
	}
}

int scsi_sense_errno(const struct scsi_sense *s)
{
	if (!s->valid)
		return EIO;
	if (s->key == SCSI_SENSE_RECOVERED_ERROR)
		return 0;
	/* Resource shortage and protection checks mean the same under any key. */
	if (s->asc == 0x55)
		return ENOMEM;
	if (s->asc == 0x10)
		return EILSEQ;
	switch (s->key) {
	case SCSI_SENSE_NOT_READY:
		if (s->asc == 0x3a)
			return ENOMEDIUM;
		if (s->asc == 0x04 && (s->ascq == 0x01 || s->ascq == 0x0a))
			return EAGAIN;
		return EIO;
	case SCSI_SENSE_ILLEGAL_REQUEST:
		return illegal_request_errno(s);
	case SCSI_SENSE_UNIT_ATTENTION:
		return EAGAIN;
	case SCSI_SENSE_DATA_PROTECT:
		if (s->asc == 0x27 && s->ascq == 0x07)
			return ENOSPC;
		return EROFS;
	case SCSI_SENSE_MISCOMPARE:
		return EILSEQ;
	default:
		return EIO;
	}
}

int scsi_status_errno(uint8_t status, const struct scsi_sense *s)
{
	switch (status) {
	case SCSI_STATUS_GOOD:
	case SCSI_STATUS_CONDITION_MET:
		return 0;
	case SCSI_STATUS_CHECK_CONDITION:
		return s ? scsi_sense_errno(s) : EIO;
	case SCSI_STATUS_BUSY:
	case SCSI_STATUS_TASK_SET_FULL:
		return EAGAIN;
	case SCSI_STATUS_RESERVATION_CONFLICT:
		return EBUSY;
	case SCSI_STATUS_TASK_ABORTED:
		return ECANCELED;
	default:
		return EIO;
	}
}
