// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz target: every parser of SCSI data a target returns, in
 * initiator/vpd.c (INQUIRY, VPD pages, READ CAPACITY, REPORT LUNS, MODE
 * SENSE, GET LBA STATUS) and initiator/sense.c (sense data and its
 * description).
 *
 * Input: the parameter data or sense data itself, as a Data-In or a SCSI
 * Response would carry it; every parser sees it, and the sense decoder
 * also sees each of its prefixes up to 64 bytes (sense cut short by the
 * target's SenseLength).
 */
#include "initiator/scsi.h"
#include "tests/fuzz/fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

/* A parser either fills its output or sets its error, never both. */
#define EXPECT_ERR(rc, err)                                                                        \
	do {                                                                                       \
		FUZZ_CHECK((rc) == 0 || (rc) == -1, "parsers return 0 or -1");                     \
		FUZZ_CHECK(((rc) < 0) == ((err) != NULL), "error set exactly on failure");         \
		g_clear_error(&(err));                                                             \
	} while (0)

static void check_string(const char *s, size_t room)
{
	size_t i, n = strnlen(s, room);

	FUZZ_CHECK(n < room, "string terminated within its field");
	for (i = 0; i < n; i++)
		FUZZ_CHECK(g_ascii_isprint(s[i]), "printable string");
}

static void parse_inquiry(const uint8_t *buf, size_t len)
{
	struct scsi_inquiry_std inq;
	struct scsi_vpd_pages pages;
	g_autofree char *serial = NULL;
	GError *err = NULL;
	int rc, page;

	rc = scsi_parse_inquiry_std(buf, len, &inq, &err);
	EXPECT_ERR(rc, err);
	if (rc == 0) {
		check_string(inq.vendor, sizeof(inq.vendor));
		check_string(inq.product, sizeof(inq.product));
		check_string(inq.revision, sizeof(inq.revision));
	}
	(void)scsi_vpd_total_len(buf, len);
	rc = scsi_parse_vpd_pages(buf, len, &pages, &err);
	EXPECT_ERR(rc, err);
	if (rc == 0)
		for (page = 0; page < 256; page++)
			(void)scsi_vpd_page_supported(&pages, (uint8_t)page);
	rc = scsi_parse_vpd_serial(buf, len, &serial, &err);
	EXPECT_ERR(rc, err);
	if (rc == 0)
		check_string(serial, len + 1);
}

static void parse_devid(const uint8_t *buf, size_t len)
{
	GArray *ids = NULL;
	GError *err = NULL;
	g_autofree char *best = NULL;
	int rc;

	rc = scsi_parse_vpd_devid(buf, len, &ids, &err);
	EXPECT_ERR(rc, err);
	if (rc < 0)
		return;
	best = scsi_devid_best((const struct scsi_designator *)(void *)ids->data, ids->len);
	if (best)
		FUZZ_CHECK(best[0] != '\0', "a best designator is not empty");
	g_array_unref(ids);
}

static void parse_block_pages(const uint8_t *buf, size_t len)
{
	struct scsi_vpd_block_limits bl;
	struct scsi_vpd_bdc bdc;
	struct scsi_vpd_lbp lbp;
	GError *err = NULL;
	int rc;

	rc = scsi_parse_vpd_block_limits(buf, len, &bl, &err);
	EXPECT_ERR(rc, err);
	rc = scsi_parse_vpd_bdc(buf, len, &bdc, &err);
	EXPECT_ERR(rc, err);
	rc = scsi_parse_vpd_lbp(buf, len, &lbp, &err);
	EXPECT_ERR(rc, err);
}

static void parse_other(const uint8_t *buf, size_t len)
{
	struct scsi_capacity cap;
	struct scsi_lun_list luns;
	struct scsi_mode_header mh;
	GArray *st = NULL;
	GError *err = NULL;
	int rc;

	rc = scsi_parse_read_capacity10(buf, len, &cap, &err);
	EXPECT_ERR(rc, err);
	if (rc == 0)
		FUZZ_CHECK(cap.block_size != 0, "block size not 0");
	rc = scsi_parse_read_capacity16(buf, len, &cap, &err);
	EXPECT_ERR(rc, err);
	rc = scsi_parse_report_luns(buf, len, &luns, &err);
	EXPECT_ERR(rc, err);
	if (rc == 0) {
		FUZZ_CHECK((size_t)luns.luns->len * 8 + 8 <= MAX(len, (size_t)8),
			   "only complete LUN entries");
		g_array_unref(luns.luns);
	}
	rc = scsi_parse_mode_sense6(buf, len, &mh, &err);
	EXPECT_ERR(rc, err);
	rc = scsi_parse_mode_sense10(buf, len, &mh, &err);
	EXPECT_ERR(rc, err);
	rc = scsi_parse_get_lba_status(buf, len, &st, &err);
	EXPECT_ERR(rc, err);
	if (rc == 0) {
		FUZZ_CHECK((size_t)st->len * 16 + 8 <= len, "only complete LBA status descriptors");
		g_array_unref(st);
	}
}

static void parse_sense(const uint8_t *buf, size_t len)
{
	struct scsi_sense s;
	char msg[160], tiny[8];

	if (scsi_sense_parse(buf, len, &s) < 0) {
		FUZZ_CHECK(!s.valid, "rejected sense is not valid");
	} else {
		FUZZ_CHECK(s.valid && s.key <= 0x0f, "sense key is 4 bits");
		(void)scsi_sense_is_unit_attention(&s);
		(void)scsi_sense_is_retryable(&s);
		(void)scsi_status_errno(0x02, &s);
	}
	scsi_sense_describe(&s, msg, sizeof(msg));
	FUZZ_CHECK(strnlen(msg, sizeof(msg)) < sizeof(msg), "description terminated");
	scsi_sense_describe(&s, tiny, sizeof(tiny));
	FUZZ_CHECK(strnlen(tiny, sizeof(tiny)) < sizeof(tiny), "short description terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	size_t len, i;
	g_autofree uint8_t *buf = fuzz_take_rest(&in, &len);

	parse_inquiry(buf, len);
	parse_devid(buf, len);
	parse_block_pages(buf, len);
	parse_other(buf, len);
	parse_sense(buf, len);
	for (i = 0; i < MIN(len, (size_t)64); i++) {
		g_autofree uint8_t *prefix = g_memdup2(buf, i);

		parse_sense(prefix, i);
	}
	return 0;
}
