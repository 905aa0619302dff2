// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests of the SCSI layer: byte-exact CDBs, parsers fed with responses
 * shaped like those of tgt and LIO, truncated buffers, and sense decoding.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "initiator/scsi.h"

/*
 * Copy a vector to a heap block of exactly @n bytes so that AddressSanitizer
 * flags any read past the length handed to a parser.
 */
static uint8_t *exact(const uint8_t *v, size_t n)
{
	return g_memdup2(v, n ? n : 1);
}

static void check_cdb(const uint8_t *cdb, size_t len, const uint8_t *want, size_t want_len)
{
	size_t i;

	ck_assert_uint_eq(len, want_len);
	for (i = 0; i < SCSI_CDB_MAX; i++) {
		uint8_t w = i < want_len ? want[i] : 0;

		ck_assert_msg(cdb[i] == w, "CDB byte %zu: got 0x%02x, want 0x%02x", i, cdb[i], w);
	}
}

#define CHECK_CDB(call, ...)                                                                       \
	do {                                                                                       \
		static const uint8_t want_[] = {__VA_ARGS__};                                      \
		uint8_t cdb_[SCSI_CDB_MAX];                                                        \
		size_t len_;                                                                       \
		memset(cdb_, 0xa5, sizeof(cdb_));                                                  \
		len_ = (call);                                                                     \
		check_cdb(cdb_, len_, want_, sizeof(want_));                                       \
	} while (0)

START_TEST(test_cdb_simple)
{
	CHECK_CDB(scsi_cdb_test_unit_ready(cdb_), 0x00, 0, 0, 0, 0, 0);
	CHECK_CDB(scsi_cdb_inquiry(cdb_, false, 0x83, 36), 0x12, 0x00, 0x00, 0x00, 0x24, 0x00);
	CHECK_CDB(scsi_cdb_inquiry(cdb_, true, 0xb0, 0x1000), 0x12, 0x01, 0xb0, 0x10, 0x00, 0x00);
	CHECK_CDB(scsi_cdb_read_capacity10(cdb_), 0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0);
	CHECK_CDB(scsi_cdb_read_capacity16(cdb_, 32), 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0x00,
		  0x00, 0x00, 0x20, 0x00, 0x00);
	CHECK_CDB(scsi_cdb_report_luns(cdb_, 0x01020304), 0xa0, 0, 0, 0, 0, 0, 0x01, 0x02, 0x03,
		  0x04, 0, 0);
	CHECK_CDB(scsi_cdb_mode_sense6(cdb_, 0x3f, 0x00, 0xff), 0x1a, 0x00, 0x3f, 0x00, 0xff, 0x00);
	CHECK_CDB(scsi_cdb_mode_sense6(cdb_, 0x08, 0x00, 0x14), 0x1a, 0x00, 0x08, 0x00, 0x14, 0x00);
	CHECK_CDB(scsi_cdb_mode_sense10(cdb_, 0x3f, 0xff, 0x0200), 0x5a, 0x00, 0x3f, 0xff, 0, 0, 0,
		  0x02, 0x00, 0x00);
	CHECK_CDB(scsi_cdb_unmap(cdb_, 40), 0x42, 0, 0, 0, 0, 0, 0, 0x00, 0x28, 0x00);
}
END_TEST

START_TEST(test_cdb_block)
{
	CHECK_CDB(scsi_cdb_read16(cdb_, 0x0102030405060708ull, 0x11223344, false), 0x88, 0x00, 0x01,
		  0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x11, 0x22, 0x33, 0x44, 0x00, 0x00);
	CHECK_CDB(scsi_cdb_read16(cdb_, 0, 8, true), 0x88, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		  0x08, 0, 0);
	CHECK_CDB(scsi_cdb_write16(cdb_, 0xfffffffffffffffeull, 0x80, false), 0x8a, 0x00, 0xff,
		  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00);
	CHECK_CDB(scsi_cdb_write16(cdb_, 0x800, 1, true), 0x8a, 0x08, 0, 0, 0, 0, 0, 0, 0x08, 0x00,
		  0, 0, 0, 0x01, 0, 0);
	CHECK_CDB(scsi_cdb_sync_cache16(cdb_, 0, 0), 0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		  0);
	CHECK_CDB(scsi_cdb_sync_cache16(cdb_, 0x12345678, 0x100), 0x91, 0, 0, 0, 0, 0, 0x12, 0x34,
		  0x56, 0x78, 0, 0, 0x01, 0x00, 0, 0);
	CHECK_CDB(scsi_cdb_write_same16(cdb_, 0x10, 0x20, true, false), 0x93, 0x08, 0, 0, 0, 0, 0,
		  0, 0, 0x10, 0, 0, 0, 0x20, 0, 0);
	CHECK_CDB(scsi_cdb_write_same16(cdb_, 0x10, 0x20, false, true), 0x93, 0x01, 0, 0, 0, 0, 0,
		  0, 0, 0x10, 0, 0, 0, 0x20, 0, 0);
	CHECK_CDB(scsi_cdb_write_same16(cdb_, 0x10, 0x20, true, true), 0x93, 0x09, 0, 0, 0, 0, 0, 0,
		  0, 0x10, 0, 0, 0, 0x20, 0, 0);
	CHECK_CDB(scsi_cdb_get_lba_status(cdb_, 0xabcdef, 4096), 0x9e, 0x12, 0, 0, 0, 0, 0, 0xab,
		  0xcd, 0xef, 0x00, 0x00, 0x10, 0x00, 0, 0);
}
END_TEST

START_TEST(test_unmap_param)
{
	static const struct scsi_extent ext[] = {
	    {.lba = 0x1000, .blocks = 0x800},
	    {.lba = 0x0000000100000000ull, .blocks = 0xffffffff},
	};
	static const uint8_t want[] = {
	    0x00, 0x26, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, /* header */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, /* lba */
	    0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, /* blocks, reserved */
	    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* lba */
	    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, /* blocks, reserved */
	};
	uint8_t buf[64];

	memset(buf, 0xa5, sizeof(buf));
	ck_assert_uint_eq(scsi_unmap_param(buf, sizeof(buf), ext, 2), sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
	ck_assert_uint_eq(buf[sizeof(want)], 0xa5);

	ck_assert_uint_eq(scsi_unmap_param(buf, sizeof(buf), ext, 0), 8);
	ck_assert_mem_eq(buf, ((uint8_t[]){0, 6, 0, 0, 0, 0, 0, 0}), 8);

	/* One byte short, and more descriptors than the 16-bit lengths allow. */
	ck_assert_uint_eq(scsi_unmap_param(buf, sizeof(want) - 1, ext, 2), 0);
	ck_assert_uint_eq(scsi_unmap_param(NULL, SIZE_MAX, ext, 4096), 0);
}
END_TEST

/* tgt: "IET     " "VIRTUAL-DISK    " "0001", SPC-3, HiSup, CmdQue. */
static const uint8_t inq_tgt[] = {
    0x00, 0x00, 0x05, 0x12, 0x3b, 0x00, 0x00, 0x02, 'I',  'E',	'T',  ' ',  ' ',  ' ',	' ',  ' ',
    'V',  'I',	'R',  'T',  'U',  'A',	'L',  '-',  'D',  'I',	'S',  'K',  ' ',  ' ',	' ',  ' ',
    '0',  '0',	'0',  '1',  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x20, 0x00, 0x60, 0x01, 0x60,
};

START_TEST(test_inquiry_tgt)
{
	struct scsi_inquiry_std inq;
	GError *err = NULL;

	ck_assert_int_eq(scsi_parse_inquiry_std(inq_tgt, sizeof(inq_tgt), &inq, &err), 0);
	ck_assert_ptr_null(err);
	ck_assert_uint_eq(inq.peripheral_qualifier, 0);
	ck_assert_uint_eq(inq.device_type, 0);
	ck_assert(!inq.removable);
	ck_assert_uint_eq(inq.version, 5);
	ck_assert_uint_eq(inq.response_data_format, 2);
	ck_assert(inq.hisup);
	ck_assert(!inq.normaca);
	ck_assert_uint_eq(inq.tpgs, 0);
	ck_assert(inq.cmdque);
	ck_assert(!inq.protect);
	ck_assert_str_eq(inq.vendor, "IET");
	ck_assert_str_eq(inq.product, "VIRTUAL-DISK");
	ck_assert_str_eq(inq.revision, "0001");
}
END_TEST

START_TEST(test_inquiry_lio)
{
	/* LIO: ALUA implicit+explicit, 3PC, PROTECT; a control byte in the product. */
	static const uint8_t v[36] = {
	    0x00, 0x00, 0x06, 0x02, 0x1f, 0x39, 0x00, 0x02, 'L',  'I', 'O', '-',
	    'O',  'R',	'G',  ' ',  'd',  'i',	's',  'k',  0x01, '0', ' ', ' ',
	    ' ',  ' ',	' ',  ' ',  ' ',  ' ',	' ',  ' ',  '4',  '.', '0', ' ',
	};
	struct scsi_inquiry_std inq;
	GError *err = NULL;

	ck_assert_int_eq(scsi_parse_inquiry_std(v, sizeof(v), &inq, &err), 0);
	ck_assert_uint_eq(inq.version, 6);
	ck_assert(!inq.hisup);
	ck_assert_uint_eq(inq.tpgs, 3);
	ck_assert(inq.third_party_copy);
	ck_assert(inq.protect);
	ck_assert_str_eq(inq.vendor, "LIO-ORG");
	ck_assert_str_eq(inq.product, "disk_0");
	ck_assert_str_eq(inq.revision, "4.0");

	/* Qualifier 3, type 0x1f: what a target answers for a LUN it lacks. */
	{
		uint8_t absent[36];

		memcpy(absent, v, sizeof(absent));
		absent[0] = 0x7f;
		ck_assert_int_eq(scsi_parse_inquiry_std(absent, sizeof(absent), &inq, NULL), 0);
		ck_assert_uint_eq(inq.peripheral_qualifier, 3);
		ck_assert_uint_eq(inq.device_type, 0x1f);
	}

	ck_assert_int_eq(scsi_parse_inquiry_std(v, 35, &inq, &err), -1);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_SHORT));
	g_clear_error(&err);
}
END_TEST

static const uint8_t vpd_pages[] = {0x00, 0x00, 0x00, 0x07, 0x00, 0x80,
				    0x83, 0x86, 0xb0, 0xb1, 0xb2};

START_TEST(test_vpd_pages)
{
	struct scsi_vpd_pages p;
	uint8_t wrong[sizeof(vpd_pages)];
	GError *err = NULL;

	ck_assert_int_eq(scsi_parse_vpd_pages(vpd_pages, sizeof(vpd_pages), &p, &err), 0);
	ck_assert(scsi_vpd_page_supported(&p, 0x00));
	ck_assert(scsi_vpd_page_supported(&p, 0x80));
	ck_assert(scsi_vpd_page_supported(&p, 0x83));
	ck_assert(scsi_vpd_page_supported(&p, 0xb0));
	ck_assert(scsi_vpd_page_supported(&p, 0xb2));
	ck_assert(!scsi_vpd_page_supported(&p, 0xb3));
	ck_assert(!scsi_vpd_page_supported(&p, 0x01));
	ck_assert(!scsi_vpd_page_supported(&p, 0xff));
	ck_assert_uint_eq(scsi_vpd_total_len(vpd_pages, sizeof(vpd_pages)), 11);
	ck_assert_uint_eq(scsi_vpd_total_len(vpd_pages, 3), 0);

	/* Cut by the allocation length: the caller must retry with 11 bytes. */
	ck_assert_int_eq(scsi_parse_vpd_pages(vpd_pages, 10, &p, &err), -1);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_SHORT));
	ck_assert_str_eq(err->message, "VPD page 0x00 truncated: 11 bytes announced, 10 received");
	g_clear_error(&err);

	memcpy(wrong, vpd_pages, sizeof(wrong));
	wrong[1] = 0x80;
	ck_assert_int_eq(scsi_parse_vpd_pages(wrong, sizeof(wrong), &p, &err), -1);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_MALFORMED));
	g_clear_error(&err);
}
END_TEST

START_TEST(test_vpd_serial)
{
	static const uint8_t v[] = {0x00, 0x80, 0x00, 0x0c, ' ',  ' ', 'b', 'e',
				    'a',  'f',	'1',  '1',  0x07, 'x', ' ', ' '};
	static const uint8_t empty[] = {0x00, 0x80, 0x00, 0x00};
	char *s = NULL;
	GError *err = NULL;

	ck_assert_int_eq(scsi_parse_vpd_serial(v, sizeof(v), &s, &err), 0);
	ck_assert_str_eq(s, "beaf11_x");
	g_free(s);
	ck_assert_int_eq(scsi_parse_vpd_serial(empty, sizeof(empty), &s, &err), 0);
	ck_assert_str_eq(s, "");
	g_free(s);
	ck_assert_int_eq(scsi_parse_vpd_serial(v, sizeof(v) - 1, &s, &err), -1);
	g_clear_error(&err);
}
END_TEST

/* LIO-like page 0x83: NAA 6, T10 vendor ID, relative port, SCSI name string. */
static const uint8_t vpd_devid_lio[] = {
    0x00,
    0x83,
    0x00,
    0x58,
    /* NAA, binary, LU */
    0x01,
    0x03,
    0x00,
    0x10,
    0x60,
    0x01,
    0x40,
    0x5a,
    0xbc,
    0xde,
    0xf0,
    0x12,
    0x34,
    0x56,
    0x78,
    0x9a,
    0xbc,
    0xde,
    0xf0,
    0x12,
    /* T10 vendor ID, ASCII, LU */
    0x02,
    0x01,
    0x00,
    0x18,
    'L',
    'I',
    'O',
    '-',
    'O',
    'R',
    'G',
    ' ',
    'a',
    'b',
    'c',
    'd',
    'e',
    'f',
    '0',
    '1',
    '2',
    '-',
    '3',
    '4',
    '5',
    '6',
    '7',
    '8',
    /* Relative target port 1, iSCSI, port association, PIV */
    0x51,
    0x94,
    0x00,
    0x04,
    0x00,
    0x00,
    0x00,
    0x01,
    /* SCSI name string of the target port, UTF-8, NUL padded */
    0x53,
    0x98,
    0x00,
    0x1c,
    'i',
    'q',
    'n',
    '.',
    '2',
    '0',
    '0',
    '3',
    '-',
    '0',
    '1',
    '.',
    'o',
    'r',
    'g',
    ':',
    't',
    ',',
    't',
    ',',
    '0',
    'x',
    '0',
    '0',
    '0',
    '1',
    0x00,
    0x00,
};

START_TEST(test_vpd_devid)
{
	GArray *arr = NULL;
	GError *err = NULL;
	struct scsi_designator *d;
	char *best;

	ck_assert_int_eq(scsi_parse_vpd_devid(vpd_devid_lio, sizeof(vpd_devid_lio), &arr, &err), 0);
	ck_assert_uint_eq(arr->len, 4);
	d = &g_array_index(arr, struct scsi_designator, 0);
	ck_assert_uint_eq(d->code_set, SCSI_CODESET_BINARY);
	ck_assert_uint_eq(d->association, SCSI_ASSOC_LU);
	ck_assert_uint_eq(d->type, SCSI_DESIG_NAA);
	ck_assert_uint_eq(d->len, 16);
	ck_assert_uint_eq(d->data[15], 0x12);
	d = &g_array_index(arr, struct scsi_designator, 1);
	ck_assert_uint_eq(d->type, SCSI_DESIG_T10);
	ck_assert_uint_eq(d->code_set, SCSI_CODESET_ASCII);
	ck_assert_uint_eq(d->len, 24);
	d = &g_array_index(arr, struct scsi_designator, 2);
	ck_assert_uint_eq(d->protocol_id, 5);
	ck_assert(d->piv);
	ck_assert_uint_eq(d->association, SCSI_ASSOC_PORT);
	ck_assert_uint_eq(d->type, SCSI_DESIG_REL_TPG);
	d = &g_array_index(arr, struct scsi_designator, 3);
	ck_assert_uint_eq(d->type, SCSI_DESIG_NAME);
	ck_assert_uint_eq(d->code_set, SCSI_CODESET_UTF8);

	best = scsi_devid_best((struct scsi_designator *)arr->data, arr->len);
	ck_assert_str_eq(best, "naa.6001405abcdef0123456789abcdef012");
	g_free(best);

	/* Without the NAA, the T10 ID wins; the port's name string never names the LU. */
	best = scsi_devid_best((struct scsi_designator *)arr->data + 1, arr->len - 1);
	ck_assert_str_eq(best, "t10.LIO-ORG abcdef012-345678");
	g_free(best);
	best = scsi_devid_best((struct scsi_designator *)arr->data + 2, arr->len - 2);
	ck_assert_ptr_null(best);
	g_array_unref(arr);
}
END_TEST

START_TEST(test_vpd_devid_eui_and_bad)
{
	/* tgt-like: T10 ID, then an EUI-64 that outranks it. */
	static const uint8_t v[] = {
	    0x00, 0x83, 0x00, 0x24, 0x02, 0x01, 0x00, 0x14, 'I',  'E',	'T',  ' ',  ' ', ' ',
	    ' ',  ' ',	'b',  'e',  'a',  'f',	'1',  '1',  ' ',  ' ',	' ',  ' ',  ' ', ' ',
	    0x01, 0x02, 0x00, 0x08, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	};
	static const uint8_t overrun[] = {0x00, 0x83, 0x00, 0x08, 0x01, 0x03,
					  0x00, 0x08, 0x60, 0x01, 0x40, 0x5a};
	GArray *arr = NULL;
	GError *err = NULL;
	char *best;

	ck_assert_int_eq(scsi_parse_vpd_devid(v, sizeof(v), &arr, &err), 0);
	ck_assert_uint_eq(arr->len, 2);
	best = scsi_devid_best((struct scsi_designator *)arr->data, arr->len);
	ck_assert_str_eq(best, "eui.0011223344556677");
	g_free(best);
	best = scsi_devid_best((struct scsi_designator *)arr->data, 1);
	ck_assert_str_eq(best, "t10.IET     beaf11");
	g_free(best);
	g_array_unref(arr);

	arr = NULL;
	ck_assert_int_eq(scsi_parse_vpd_devid(overrun, sizeof(overrun), &arr, &err), -1);
	ck_assert_ptr_null(arr);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_MALFORMED));
	g_clear_error(&err);
}
END_TEST

/* tgt's Block Limits: no transfer limit, nothing about UNMAP. */
static const uint8_t vpd_b0_tgt[] = {
    0x00, 0xb0, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* LIO with emulate_tpu: 8 MiB transfers of 512-byte blocks, UNMAP limits. */
static const uint8_t vpd_b0_lio[] = {
    0x00, 0xb0, 0x00, 0x3c, 0x01, 0x01, 0x00, 0x08, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x20, 0x00,
    0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x08,
    0x80, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/*
 * REPORT TARGET PORT GROUPS as LIO answers it for a LUN in two groups:
 * group 1 (PREF) active/optimized with relative port 1, group 2 standby
 * with ports 2 and 3.
 */
static const uint8_t rtpg_two[] = {
    0x00, 0x00, 0x00, 0x1c,			    /* RETURN DATA LENGTH 28 */
    0x80, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, /* PREF, AO, TPG 1, 1 port */
    0x00, 0x00, 0x00, 0x01,			    /* rel port 1 */
    0x02, 0x0f, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, /* standby, TPG 2, 2 ports */
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03,
};

START_TEST(test_report_tpgs)
{
	struct scsi_tpg_list l = {0};
	const struct scsi_tpg *g;
	GError *err = NULL;
	uint8_t cdb[SCSI_CDB_MAX];
	static const uint8_t want[12] = {0xa3, 0x0a, 0, 0, 0, 0, 0x00, 0x00, 0x04, 0x00, 0, 0};

	ck_assert_uint_eq(scsi_cdb_report_tpgs(cdb, 1024), 12);
	ck_assert_mem_eq(cdb, want, 12);

	ck_assert_int_eq(scsi_parse_report_tpgs(rtpg_two, sizeof(rtpg_two), &l, &err), 0);
	ck_assert_uint_eq(l.needed, sizeof(rtpg_two));
	ck_assert_uint_eq(l.groups->len, 2);
	g = &g_array_index(l.groups, struct scsi_tpg, 0);
	ck_assert(g->pref);
	ck_assert_uint_eq(g->state, SCSI_ALUA_ACTIVE_OPTIMIZED);
	ck_assert_uint_eq(g->id, 1);
	ck_assert_uint_eq(g->ports->len, 1);
	ck_assert_uint_eq(g_array_index(g->ports, uint16_t, 0), 1);
	g = &g_array_index(l.groups, struct scsi_tpg, 1);
	ck_assert(!g->pref);
	ck_assert_str_eq(scsi_alua_state_name(g->state), "standby");
	ck_assert_uint_eq(g->id, 2);
	ck_assert_uint_eq(g->ports->len, 2);
	ck_assert_uint_eq(g_array_index(g->ports, uint16_t, 1), 3);

	/* By group id when VPD 83 gave one, else by the relative port. */
	ck_assert_ptr_eq(scsi_tpg_find(&l, true, 2, false, 0), g);
	ck_assert_ptr_eq(scsi_tpg_find(&l, false, 0, true, 3), g);
	ck_assert_uint_eq(scsi_tpg_find(&l, false, 0, true, 1)->id, 1);
	ck_assert_ptr_null(scsi_tpg_find(&l, true, 9, true, 1));
	ck_assert_ptr_null(scsi_tpg_find(&l, false, 0, true, 7));
	ck_assert_ptr_null(scsi_tpg_find(&l, false, 0, false, 0));
	g_array_unref(l.groups);

	ck_assert_str_eq(scsi_alua_state_name(SCSI_ALUA_ACTIVE_NON_OPTIMIZED),
			 "active/non-optimized");
	ck_assert_str_eq(scsi_alua_state_name(SCSI_ALUA_UNAVAILABLE), "unavailable");
	ck_assert_str_eq(scsi_alua_state_name(SCSI_ALUA_OFFLINE), "offline");
	ck_assert_str_eq(scsi_alua_state_name(SCSI_ALUA_TRANSITIONING), "transitioning");
	ck_assert_str_eq(scsi_alua_state_name(0x7), "reserved");
}
END_TEST

START_TEST(test_report_tpgs_short_and_bad)
{
	struct scsi_tpg_list l = {0};
	GError *err = NULL;
	uint8_t b[sizeof(rtpg_two)];
	size_t n;

	/* Cut by the allocation length anywhere: whole descriptors only, never past @len. */
	for (n = 4; n < sizeof(rtpg_two); n++) {
		uint8_t *copy = g_memdup2(rtpg_two, n);

		ck_assert_int_eq(scsi_parse_report_tpgs(copy, n, &l, &err), 0);
		ck_assert_uint_eq(l.needed, sizeof(rtpg_two));
		ck_assert_uint_eq(l.groups->len, n < 16 ? 0 : n < sizeof(rtpg_two) ? 1 : 2);
		g_array_unref(l.groups);
		g_free(copy);
	}
	/* Not even the header. */
	ck_assert_int_eq(scsi_parse_report_tpgs(rtpg_two, 3, &l, &err), -1);
	ck_assert_ptr_nonnull(strstr(err->message, "REPORT TARGET PORT GROUPS header"));
	g_clear_error(&err);

	/* The second group says 3 ports, past RETURN DATA LENGTH. */
	memcpy(b, rtpg_two, sizeof(b));
	b[16 + 7] = 3;
	ck_assert_int_eq(scsi_parse_report_tpgs(b, sizeof(b), &l, &err), -1);
	ck_assert_int_eq(err->code, SCSI_ERROR_MALFORMED);
	ck_assert_ptr_nonnull(strstr(err->message, "past the return data length of 28"));
	g_clear_error(&err);

	/* A port count of 255 with a few bytes given: cut off, not a read past them. */
	memcpy(b, rtpg_two, sizeof(b));
	b[2] = 0x04;
	b[3] = 0xff;
	b[4 + 7] = 0xff;
	ck_assert_int_eq(scsi_parse_report_tpgs(b, sizeof(b), &l, &err), 0);
	ck_assert_uint_eq(l.groups->len, 0);
	ck_assert_uint_eq(l.needed, 4 + 0x4ff);
	g_array_unref(l.groups);

	/* Shorter than one descriptor. */
	memcpy(b, rtpg_two, sizeof(b));
	b[3] = 4;
	ck_assert_int_eq(scsi_parse_report_tpgs(b, sizeof(b), &l, &err), -1);
	ck_assert_ptr_nonnull(strstr(err->message, "shorter than one descriptor"));
	g_clear_error(&err);

	/* No groups at all: fine, nothing found. */
	memset(b, 0, sizeof(b));
	ck_assert_int_eq(scsi_parse_report_tpgs(b, 4, &l, &err), 0);
	ck_assert_uint_eq(l.groups->len, 0);
	ck_assert_ptr_null(scsi_tpg_find(&l, true, 1, true, 1));
	g_array_unref(l.groups);
}
END_TEST

/* The target port designators of VPD 83: LIO's relative port, and a group of our own. */
START_TEST(test_vpd_devid_port)
{
	static const uint8_t tpg5[] = {0x00, 0x83, 0x00, 0x0e, 0x51, 0x95, 0x00, 0x04, 0x00,
				       0x00, 0x00, 0x07, 0x51, 0x94, 0x00, 0x02, 0x00, 0x09};
	GArray *arr = NULL;
	GError *err = NULL;
	bool have_rel, have_tpg;
	uint16_t rel = 0, tpg = 0;

	ck_assert_int_eq(scsi_parse_vpd_devid(vpd_devid_lio, sizeof(vpd_devid_lio), &arr, &err), 0);
	scsi_devid_port((struct scsi_designator *)arr->data, arr->len, &have_rel, &rel, &have_tpg,
			&tpg);
	ck_assert(have_rel);
	ck_assert_uint_eq(rel, 1);
	ck_assert(!have_tpg);
	g_array_unref(arr);

	/* Type 5, group 7; a type 4 of 2 bytes is too short to hold a port and is passed over. */
	ck_assert_int_eq(scsi_parse_vpd_devid(tpg5, sizeof(tpg5), &arr, &err), 0);
	scsi_devid_port((struct scsi_designator *)arr->data, arr->len, &have_rel, &rel, &have_tpg,
			&tpg);
	ck_assert(have_tpg);
	ck_assert_uint_eq(tpg, 7);
	ck_assert(!have_rel);
	g_array_unref(arr);
}
END_TEST

START_TEST(test_vpd_block_limits)
{
	struct scsi_vpd_block_limits bl;
	GError *err = NULL;
	uint8_t sbc2[16];

	ck_assert_int_eq(scsi_parse_vpd_block_limits(vpd_b0_tgt, sizeof(vpd_b0_tgt), &bl, &err), 0);
	ck_assert_uint_eq(bl.max_xfer_len, 0);
	ck_assert_uint_eq(bl.opt_xfer_len_granularity, 1);
	ck_assert_uint_eq(bl.max_unmap_lba_count, 0);
	ck_assert(!bl.ugavalid);

	ck_assert_int_eq(scsi_parse_vpd_block_limits(vpd_b0_lio, sizeof(vpd_b0_lio), &bl, &err), 0);
	ck_assert(bl.wsnz);
	ck_assert_uint_eq(bl.max_compare_write_len, 1);
	ck_assert_uint_eq(bl.opt_xfer_len_granularity, 8);
	ck_assert_uint_eq(bl.max_xfer_len, 0x4000);
	ck_assert_uint_eq(bl.opt_xfer_len, 0x2000);
	ck_assert_uint_eq(bl.max_prefetch_len, 0);
	ck_assert_uint_eq(bl.max_unmap_lba_count, 0xffffffff);
	ck_assert_uint_eq(bl.max_unmap_desc_count, 1);
	ck_assert_uint_eq(bl.opt_unmap_granularity, 8);
	ck_assert(bl.ugavalid);
	ck_assert_uint_eq(bl.unmap_granularity_alignment, 2);
	ck_assert_uint_eq(bl.max_write_same_len, 0x1000000);

	/* SBC-2 page, 12 bytes long: later fields stay "not reported". */
	memcpy(sbc2, vpd_b0_lio, sizeof(sbc2));
	sbc2[3] = 0x0c;
	ck_assert_int_eq(scsi_parse_vpd_block_limits(sbc2, sizeof(sbc2), &bl, &err), 0);
	ck_assert_uint_eq(bl.max_xfer_len, 0x4000);
	ck_assert_uint_eq(bl.max_unmap_lba_count, 0);
	ck_assert_uint_eq(bl.max_write_same_len, 0);

	sbc2[3] = 0x08;
	ck_assert_int_eq(scsi_parse_vpd_block_limits(sbc2, 12, &bl, &err), -1);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_MALFORMED));
	g_clear_error(&err);
}
END_TEST

static const uint8_t vpd_b1[] = {
    0x00, 0xb1, 0x00, 0x3c, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static const uint8_t vpd_b2[] = {0x00, 0xb2, 0x00, 0x04, 0x0c, 0xe6, 0x52, 0x00};

START_TEST(test_vpd_bdc_lbp)
{
	static const uint8_t b1_hdd[] = {0x00, 0xb1, 0x00, 0x04, 0x1c, 0x20, 0x00, 0x02};
	static const uint8_t b1_short[] = {0x00, 0xb1, 0x00, 0x02, 0x00, 0x01};
	struct scsi_vpd_bdc bdc;
	struct scsi_vpd_lbp lbp;
	GError *err = NULL;

	ck_assert_int_eq(scsi_parse_vpd_bdc(vpd_b1, sizeof(vpd_b1), &bdc, &err), 0);
	ck_assert_uint_eq(bdc.rotation_rate, SCSI_ROTATION_NON_ROTATING);
	ck_assert_uint_eq(bdc.form_factor, 3);
	ck_assert_int_eq(scsi_parse_vpd_bdc(b1_hdd, sizeof(b1_hdd), &bdc, &err), 0);
	ck_assert_uint_eq(bdc.rotation_rate, 7200);
	ck_assert_int_eq(scsi_parse_vpd_bdc(b1_short, sizeof(b1_short), &bdc, &err), -1);
	g_clear_error(&err);

	ck_assert_int_eq(scsi_parse_vpd_lbp(vpd_b2, sizeof(vpd_b2), &lbp, &err), 0);
	ck_assert_uint_eq(lbp.threshold_exponent, 12);
	ck_assert(lbp.lbpu);
	ck_assert(lbp.lbpws);
	ck_assert(lbp.lbpws10);
	ck_assert_uint_eq(lbp.lbprz, 1);
	ck_assert(lbp.anc_sup);
	ck_assert(!lbp.dp);
	ck_assert_uint_eq(lbp.min_percentage, 10);
	ck_assert_uint_eq(lbp.prov_type, SCSI_PROV_THIN);
	ck_assert_int_eq(scsi_parse_vpd_lbp(vpd_b2, 7, &lbp, &err), -1);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_SHORT));
	g_clear_error(&err);
}
END_TEST

static const uint8_t rc10[] = {0x00, 0x1f, 0xff, 0xff, 0x00, 0x00, 0x02, 0x00};
static const uint8_t rc16[] = {
    0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x10, 0x00, 0x05, 0x13, 0xc0, 0x07,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

START_TEST(test_read_capacity)
{
	static const uint8_t zero_bs[] = {0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00};
	struct scsi_capacity cap;
	GError *err = NULL;

	ck_assert_int_eq(scsi_parse_read_capacity10(rc10, sizeof(rc10), &cap, &err), 0);
	ck_assert_uint_eq(cap.last_lba, 0x1fffff);
	ck_assert_uint_eq(cap.block_size, 512);
	ck_assert(!cap.lbpme);
	ck_assert_int_eq(scsi_parse_read_capacity10(rc10, 7, &cap, &err), -1);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_SHORT));
	g_clear_error(&err);
	ck_assert_int_eq(scsi_parse_read_capacity10(zero_bs, sizeof(zero_bs), &cap, &err), -1);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_MALFORMED));
	g_clear_error(&err);

	ck_assert_int_eq(scsi_parse_read_capacity16(rc16, sizeof(rc16), &cap, &err), 0);
	ck_assert_uint_eq(cap.last_lba, 0x1ffffffffull);
	ck_assert_uint_eq(cap.block_size, 4096);
	ck_assert(cap.prot_en);
	ck_assert_uint_eq(cap.p_type, 2);
	ck_assert_uint_eq(cap.p_i_exponent, 1);
	ck_assert_uint_eq(cap.lbppbe, 3);
	ck_assert(cap.lbpme);
	ck_assert(cap.lbprz);
	ck_assert_uint_eq(cap.lowest_aligned_lba, 7);
	ck_assert_int_eq(scsi_parse_read_capacity16(rc16, 16, &cap, &err), 0);
	ck_assert_int_eq(scsi_parse_read_capacity16(rc16, 15, &cap, &err), -1);
	g_clear_error(&err);
}
END_TEST

static const uint8_t luns[] = {
    0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, /* 4 entries */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* LUN 0, peripheral */
    0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* LUN 7, peripheral */
    0x41, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* LUN 300, flat */
    0x00, 0x01, 0x40, 0x02, 0x00, 0x00, 0x00, 0x00, /* two levels */
};

START_TEST(test_report_luns)
{
	static const uint8_t odd[] = {0x00, 0x00, 0x00, 0x0c, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	struct scsi_lun_list list;
	struct scsi_lun *l;
	GError *err = NULL;

	ck_assert_int_eq(scsi_parse_report_luns(luns, sizeof(luns), &list, &err), 0);
	ck_assert_uint_eq(list.needed, sizeof(luns));
	ck_assert_uint_eq(list.luns->len, 4);
	l = (struct scsi_lun *)list.luns->data;
	ck_assert(l[0].decoded);
	ck_assert_uint_eq(l[0].lun, 0);
	ck_assert(l[1].decoded);
	ck_assert_uint_eq(l[1].lun, 7);
	ck_assert(l[2].decoded);
	ck_assert_uint_eq(l[2].lun, 300);
	ck_assert_mem_eq(l[2].raw, ((uint8_t[]){0x41, 0x2c, 0, 0, 0, 0, 0, 0}), 8);
	ck_assert(!l[3].decoded);
	ck_assert_mem_eq(l[3].raw, &luns[32], 8);
	g_array_unref(list.luns);

	/* Cut after two and a half entries: two kept, full size reported. */
	ck_assert_int_eq(scsi_parse_report_luns(luns, 8 + 20, &list, &err), 0);
	ck_assert_uint_eq(list.luns->len, 2);
	ck_assert_uint_eq(list.needed, 40);
	g_array_unref(list.luns);

	ck_assert_int_eq(scsi_parse_report_luns(odd, sizeof(odd), &list, &err), -1);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_MALFORMED));
	g_clear_error(&err);
	ck_assert_int_eq(scsi_parse_report_luns(luns, 7, &list, &err), -1);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_SHORT));
	g_clear_error(&err);
}
END_TEST

static const uint8_t ms6[] = {0x0b, 0x00, 0x80, 0x08, 0x00, 0x00,
			      0x00, 0x00, 0x00, 0x00, 0x02, 0x00};
static const uint8_t ms10[] = {0x00, 0x1a, 0x00, 0x10, 0x01, 0x00, 0x00, 0x10};

START_TEST(test_mode_sense)
{
	struct scsi_mode_header h;
	GError *err = NULL;

	ck_assert_int_eq(scsi_parse_mode_sense6(ms6, sizeof(ms6), &h, &err), 0);
	ck_assert(h.wp);
	ck_assert(!h.dpofua);
	ck_assert_uint_eq(h.mode_data_len, 11);
	ck_assert_uint_eq(h.bd_len, 8);
	ck_assert_uint_eq(h.hdr_len, 4);
	ck_assert_int_eq(scsi_parse_mode_sense6(ms6, 3, &h, &err), -1);
	g_clear_error(&err);

	ck_assert_int_eq(scsi_parse_mode_sense10(ms10, sizeof(ms10), &h, &err), 0);
	ck_assert(!h.wp);
	ck_assert(h.dpofua);
	ck_assert(h.longlba);
	ck_assert_uint_eq(h.mode_data_len, 26);
	ck_assert_uint_eq(h.bd_len, 16);
	ck_assert_uint_eq(h.hdr_len, 8);
	ck_assert_int_eq(scsi_parse_mode_sense10(ms10, 7, &h, &err), -1);
	g_clear_error(&err);
}
END_TEST

static const uint8_t lba_status[] = {
    0x00, 0x00, 0x00, 0x24, 0x00, 0x00, 0x00, 0x00, /* 2 descriptors */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
    0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, /* mapped */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* deallocated */
};

START_TEST(test_get_lba_status)
{
	static const uint8_t bad[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00};
	struct scsi_lba_status *st;
	GArray *arr = NULL;
	GError *err = NULL;

	ck_assert_int_eq(scsi_parse_get_lba_status(lba_status, sizeof(lba_status), &arr, &err), 0);
	ck_assert_uint_eq(arr->len, 2);
	st = (struct scsi_lba_status *)arr->data;
	ck_assert_uint_eq(st[0].lba, 0x1000);
	ck_assert_uint_eq(st[0].blocks, 0x800);
	ck_assert_uint_eq(st[0].status, SCSI_LBA_MAPPED);
	ck_assert_uint_eq(st[1].lba, 0x1800);
	ck_assert_uint_eq(st[1].blocks, 0x10000);
	ck_assert_uint_eq(st[1].status, SCSI_LBA_DEALLOCATED);
	g_array_unref(arr);

	ck_assert_int_eq(scsi_parse_get_lba_status(lba_status, sizeof(lba_status) - 1, &arr, &err),
			 0);
	ck_assert_uint_eq(arr->len, 1);
	g_array_unref(arr);

	ck_assert_int_eq(scsi_parse_get_lba_status(bad, sizeof(bad), &arr, &err), -1);
	ck_assert(g_error_matches(err, SCSI_ERROR, SCSI_ERROR_MALFORMED));
	g_clear_error(&err);
}
END_TEST

/*
 * Every parser on every prefix of every vector, each in an exact-size heap
 * block: ASan catches any read past the length, and a failure must set err.
 */
START_TEST(test_truncation)
{
	static const struct {
		const uint8_t *v;
		size_t n;
	} vecs[] = {
	    {inq_tgt, sizeof(inq_tgt)},
	    {vpd_pages, sizeof(vpd_pages)},
	    {vpd_devid_lio, sizeof(vpd_devid_lio)},
	    {vpd_b0_lio, sizeof(vpd_b0_lio)},
	    {vpd_b1, sizeof(vpd_b1)},
	    {vpd_b2, sizeof(vpd_b2)},
	    {rc10, sizeof(rc10)},
	    {rc16, sizeof(rc16)},
	    {luns, sizeof(luns)},
	    {ms6, sizeof(ms6)},
	    {ms10, sizeof(ms10)},
	    {lba_status, sizeof(lba_status)},
	};
	size_t i, n;

	for (i = 0; i < G_N_ELEMENTS(vecs); i++) {
		for (n = 0; n <= vecs[i].n; n++) {
			uint8_t *b = exact(vecs[i].v, n);
			struct scsi_inquiry_std inq;
			struct scsi_vpd_pages pages;
			struct scsi_vpd_block_limits bl;
			struct scsi_vpd_bdc bdc;
			struct scsi_vpd_lbp lbp;
			struct scsi_capacity cap;
			struct scsi_lun_list list;
			struct scsi_mode_header mh;
			struct scsi_sense sense;
			GArray *arr = NULL;
			char *s = NULL;
			GError *err = NULL;

#define TRY(call)                                                                                  \
	do {                                                                                       \
		if ((call) < 0) {                                                                  \
			ck_assert_ptr_nonnull(err);                                                \
			g_clear_error(&err);                                                       \
		}                                                                                  \
	} while (0)
			TRY(scsi_parse_inquiry_std(b, n, &inq, &err));
			TRY(scsi_parse_vpd_pages(b, n, &pages, &err));
			if (scsi_parse_vpd_serial(b, n, &s, &err) == 0)
				g_free(s);
			g_clear_error(&err);
			if (scsi_parse_vpd_devid(b, n, &arr, &err) == 0) {
				g_free(
				    scsi_devid_best((struct scsi_designator *)arr->data, arr->len));
				g_array_unref(arr);
			}
			g_clear_error(&err);
			TRY(scsi_parse_vpd_block_limits(b, n, &bl, &err));
			TRY(scsi_parse_vpd_bdc(b, n, &bdc, &err));
			TRY(scsi_parse_vpd_lbp(b, n, &lbp, &err));
			TRY(scsi_parse_read_capacity10(b, n, &cap, &err));
			TRY(scsi_parse_read_capacity16(b, n, &cap, &err));
			if (scsi_parse_report_luns(b, n, &list, &err) == 0)
				g_array_unref(list.luns);
			g_clear_error(&err);
			TRY(scsi_parse_mode_sense6(b, n, &mh, &err));
			TRY(scsi_parse_mode_sense10(b, n, &mh, &err));
			if (scsi_parse_get_lba_status(b, n, &arr, &err) == 0)
				g_array_unref(arr);
			g_clear_error(&err);
			scsi_sense_parse(b, n, &sense);
#undef TRY
			g_free(b);
		}
	}
}
END_TEST

static void describe(const uint8_t *v, size_t n, struct scsi_sense *s, char *out, size_t cap)
{
	uint8_t *b = exact(v, n);

	scsi_sense_parse(b, n, s);
	scsi_sense_describe(s, out, cap);
	g_free(b);
}

START_TEST(test_sense_fixed)
{
	static const uint8_t wp[] = {0x70, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00,
				     0x00, 0x00, 0x00, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t medium[] = {0xf0, 0x00, 0x03, 0x00, 0x00, 0x12, 0x34, 0x0a, 0x00,
					 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00};
	/* Additional length 5 stops before ASC: the bytes after are not sense. */
	static const uint8_t cut[] = {0x70, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00,
				      0x00, 0x00, 0x00, 0x29, 0x07, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t tiny[] = {0x70, 0x00, 0x06};
	struct scsi_sense s;
	char msg[128];

	describe(wp, sizeof(wp), &s, msg, sizeof(msg));
	ck_assert(s.valid);
	ck_assert_uint_eq(s.response_code, 0x70);
	ck_assert_uint_eq(s.key, SCSI_SENSE_DATA_PROTECT);
	ck_assert(!s.info_valid);
	ck_assert_str_eq(msg, "DATA PROTECT: write protected (27/00)");
	ck_assert_int_eq(scsi_sense_errno(&s), EROFS);

	describe(medium, sizeof(medium), &s, msg, sizeof(msg));
	ck_assert(s.info_valid);
	ck_assert_uint_eq(s.information, 0x1234);
	ck_assert_str_eq(msg, "MEDIUM ERROR: unrecovered read error (11/00), information 0x1234");
	ck_assert_int_eq(scsi_sense_errno(&s), EIO);

	describe(cut, sizeof(cut), &s, msg, sizeof(msg));
	ck_assert(s.valid);
	ck_assert_uint_eq(s.asc, 0);
	ck_assert_str_eq(msg, "UNIT ATTENTION: no additional sense information (00/00)");

	describe(tiny, sizeof(tiny), &s, msg, sizeof(msg));
	ck_assert(s.valid);
	ck_assert_uint_eq(s.key, SCSI_SENSE_UNIT_ATTENTION);
	ck_assert(scsi_sense_is_unit_attention(&s));
	ck_assert(scsi_sense_is_retryable(&s));

	ck_assert_int_eq(scsi_sense_parse(tiny, 2, &s), -1);
	ck_assert(!s.valid);
	ck_assert_int_eq(scsi_sense_parse(tiny, 0, &s), -1);
	scsi_sense_describe(&s, msg, sizeof(msg));
	ck_assert_str_eq(msg, "unrecognized sense data");

	/* Truncated output buffer: still terminated. */
	describe(wp, sizeof(wp), &s, msg, 13);
	ck_assert_str_eq(msg, "DATA PROTECT");
}
END_TEST

START_TEST(test_sense_descriptor)
{
	static const uint8_t inval[] = {0x72, 0x05, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00};
	static const uint8_t info[] = {0x72, 0x03, 0x11, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a,
				       0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x10};
	/* A vendor descriptor first, then the information descriptor. */
	static const uint8_t two[] = {0x73, 0x0b, 0x10, 0x01, 0x00, 0x00, 0x00, 0x10,
				      0x80, 0x02, 0xaa, 0xbb, 0x00, 0x0a, 0x80, 0x00,
				      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x42};
	static const uint8_t vendor[] = {0x72, 0x09, 0x80, 0x01};
	struct scsi_sense s;
	char msg[128];
	size_t n;

	describe(inval, sizeof(inval), &s, msg, sizeof(msg));
	ck_assert_uint_eq(s.response_code, 0x72);
	ck_assert_str_eq(msg, "ILLEGAL REQUEST: invalid field in cdb (24/00)");
	ck_assert_int_eq(scsi_sense_errno(&s), EINVAL);

	describe(info, sizeof(info), &s, msg, sizeof(msg));
	ck_assert(s.info_valid);
	ck_assert_uint_eq(s.information, 0x100000010ull);
	ck_assert_str_eq(msg, "MEDIUM ERROR: unrecovered read error (11/00), information "
			      "0x100000010");

	describe(two, sizeof(two), &s, msg, sizeof(msg));
	ck_assert_uint_eq(s.response_code, 0x73);
	ck_assert(s.info_valid);
	ck_assert_uint_eq(s.information, 0x42);
	ck_assert_str_eq(msg, "ABORTED COMMAND: logical block guard check failed (10/01), "
			      "information 0x42");
	ck_assert(!scsi_sense_is_retryable(&s));
	ck_assert_int_eq(scsi_sense_errno(&s), EILSEQ);

	describe(vendor, sizeof(vendor), &s, msg, sizeof(msg));
	ck_assert_str_eq(msg, "VENDOR SPECIFIC: unknown additional sense (80/01)");

	/* Every prefix of the information descriptor: no OOB, INFO only when complete. */
	for (n = 0; n <= sizeof(info); n++) {
		uint8_t *b = exact(info, n);

		ck_assert_int_eq(scsi_sense_parse(b, n, &s), n >= 2 ? 0 : -1);
		ck_assert(s.info_valid == (n == sizeof(info)));
		ck_assert_uint_eq(s.asc, n >= 4 ? 0x11 : 0);
		g_free(b);
	}
}
END_TEST

START_TEST(test_sense_errno)
{
	static const struct {
		uint8_t key, asc, ascq;
		int err;
		bool retry;
	} cases[] = {
	    {SCSI_SENSE_ILLEGAL_REQUEST, 0x20, 0x00, EOPNOTSUPP, false},
	    {SCSI_SENSE_ILLEGAL_REQUEST, 0x21, 0x00, EINVAL, false},
	    {SCSI_SENSE_ILLEGAL_REQUEST, 0x25, 0x00, ENXIO, false},
	    {SCSI_SENSE_ILLEGAL_REQUEST, 0x26, 0x00, EINVAL, false},
	    {SCSI_SENSE_DATA_PROTECT, 0x27, 0x07, ENOSPC, false},
	    {SCSI_SENSE_DATA_PROTECT, 0x27, 0x02, EROFS, false},
	    {SCSI_SENSE_NOT_READY, 0x04, 0x01, EAGAIN, true},
	    {SCSI_SENSE_NOT_READY, 0x04, 0x0a, EAGAIN, true},
	    {SCSI_SENSE_NOT_READY, 0x04, 0x03, EIO, false},
	    {SCSI_SENSE_NOT_READY, 0x3a, 0x00, ENOMEDIUM, false},
	    {SCSI_SENSE_UNIT_ATTENTION, 0x29, 0x07, EAGAIN, true},
	    {SCSI_SENSE_UNIT_ATTENTION, 0x2a, 0x09, EAGAIN, true},
	    {SCSI_SENSE_MEDIUM_ERROR, 0x11, 0x00, EIO, false},
	    {SCSI_SENSE_MEDIUM_ERROR, 0x0c, 0x00, EIO, false},
	    {SCSI_SENSE_HARDWARE_ERROR, 0x44, 0x00, EIO, false},
	    {SCSI_SENSE_ABORTED_COMMAND, 0x47, 0x03, EIO, true},
	    {SCSI_SENSE_ILLEGAL_REQUEST, 0x55, 0x03, ENOMEM, false},
	    {SCSI_SENSE_MISCOMPARE, 0x1d, 0x00, EILSEQ, false},
	    {SCSI_SENSE_RECOVERED_ERROR, 0x00, 0x00, 0, false},
	};
	struct scsi_sense s = {.valid = true, .response_code = 0x70};
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(cases); i++) {
		s.key = cases[i].key;
		s.asc = cases[i].asc;
		s.ascq = cases[i].ascq;
		ck_assert_msg(scsi_sense_errno(&s) == cases[i].err, "case %zu: errno %d", i,
			      scsi_sense_errno(&s));
		ck_assert_msg(scsi_sense_is_retryable(&s) == cases[i].retry, "case %zu retry", i);
		ck_assert(scsi_sense_is_unit_attention(&s) ==
			  (cases[i].key == SCSI_SENSE_UNIT_ATTENTION));
	}
	s.valid = false;
	ck_assert_int_eq(scsi_sense_errno(&s), EIO);
	ck_assert(!scsi_sense_is_retryable(&s));

	s = (struct scsi_sense){.valid = true, .key = 7, .asc = 0x27};
	ck_assert_int_eq(scsi_status_errno(SCSI_STATUS_GOOD, NULL), 0);
	ck_assert_int_eq(scsi_status_errno(SCSI_STATUS_CONDITION_MET, NULL), 0);
	ck_assert_int_eq(scsi_status_errno(SCSI_STATUS_CHECK_CONDITION, &s), EROFS);
	ck_assert_int_eq(scsi_status_errno(SCSI_STATUS_CHECK_CONDITION, NULL), EIO);
	ck_assert_int_eq(scsi_status_errno(SCSI_STATUS_BUSY, NULL), EAGAIN);
	ck_assert_int_eq(scsi_status_errno(SCSI_STATUS_TASK_SET_FULL, NULL), EAGAIN);
	ck_assert_int_eq(scsi_status_errno(SCSI_STATUS_RESERVATION_CONFLICT, NULL), EBUSY);
	ck_assert_int_eq(scsi_status_errno(SCSI_STATUS_TASK_ABORTED, NULL), ECANCELED);
	ck_assert_int_eq(scsi_status_errno(SCSI_STATUS_ACA_ACTIVE, NULL), EIO);
	ck_assert_int_eq(scsi_status_errno(0x7e, NULL), EIO);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(scsi_status_name(0x00), "GOOD");
	ck_assert_str_eq(scsi_status_name(0x02), "CHECK CONDITION");
	ck_assert_str_eq(scsi_status_name(0x08), "BUSY");
	ck_assert_str_eq(scsi_status_name(0x18), "RESERVATION CONFLICT");
	ck_assert_str_eq(scsi_status_name(0x28), "TASK SET FULL");
	ck_assert_str_eq(scsi_status_name(0x30), "ACA ACTIVE");
	ck_assert_str_eq(scsi_status_name(0x40), "TASK ABORTED");
	ck_assert_str_eq(scsi_status_name(0x7e), "UNKNOWN STATUS");

	ck_assert_str_eq(scsi_sense_key_name(0x0), "NO SENSE");
	ck_assert_str_eq(scsi_sense_key_name(0x5), "ILLEGAL REQUEST");
	ck_assert_str_eq(scsi_sense_key_name(0x6), "UNIT ATTENTION");
	ck_assert_str_eq(scsi_sense_key_name(0xb), "ABORTED COMMAND");
	ck_assert_str_eq(scsi_sense_key_name(0xf), "COMPLETED");
	ck_assert_str_eq(scsi_sense_key_name(0x10), "INVALID SENSE KEY");

	ck_assert_str_eq(scsi_asc_text(0x04, 0x01), "logical unit is in process of becoming ready");
	ck_assert_str_eq(scsi_asc_text(0x04, 0x7f), "logical unit not ready");
	ck_assert_str_eq(scsi_asc_text(0x20, 0x00), "invalid command operation code");
	ck_assert_str_eq(scsi_asc_text(0x21, 0x00), "logical block address out of range");
	ck_assert_str_eq(scsi_asc_text(0x24, 0x00), "invalid field in cdb");
	ck_assert_str_eq(scsi_asc_text(0x25, 0x00), "logical unit not supported");
	ck_assert_str_eq(scsi_asc_text(0x26, 0x00), "invalid field in parameter list");
	ck_assert_str_eq(scsi_asc_text(0x27, 0x00), "write protected");
	ck_assert_str_eq(scsi_asc_text(0x27, 0x07), "space allocation failed write protect");
	ck_assert_str_eq(scsi_asc_text(0x28, 0x00),
			 "not ready to ready change, medium may have changed");
	ck_assert_str_eq(scsi_asc_text(0x29, 0x00),
			 "power on, reset, or bus device reset occurred");
	ck_assert_str_eq(scsi_asc_text(0x29, 0x07), "i_t nexus loss occurred");
	ck_assert_str_eq(scsi_asc_text(0x2a, 0x01), "mode parameters changed");
	ck_assert_str_eq(scsi_asc_text(0x2a, 0x09), "capacity data has changed");
	ck_assert_str_eq(scsi_asc_text(0x3f, 0x0e), "reported luns data has changed");
	ck_assert_str_eq(scsi_asc_text(0x3a, 0x00), "medium not present");
	ck_assert_str_eq(scsi_asc_text(0x11, 0x00), "unrecovered read error");
	ck_assert_str_eq(scsi_asc_text(0x0c, 0x00), "write error");
	ck_assert_str_eq(scsi_asc_text(0x44, 0x00), "internal target failure");
	ck_assert_str_eq(scsi_asc_text(0x55, 0x03), "insufficient resources");
	ck_assert_str_eq(scsi_asc_text(0x55, 0x0b), "system resource failure");
	ck_assert_str_eq(scsi_asc_text(0x10, 0x01), "logical block guard check failed");
	ck_assert_ptr_null(scsi_asc_text(0x80, 0x00));
	ck_assert_ptr_null(scsi_asc_text(0x3f, 0x7f));
}
END_TEST

static Suite *scsi_suite(void)
{
	Suite *s = suite_create("scsi");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_cdb_simple);
	tcase_add_test(tc, test_cdb_block);
	tcase_add_test(tc, test_unmap_param);
	tcase_add_test(tc, test_inquiry_tgt);
	tcase_add_test(tc, test_inquiry_lio);
	tcase_add_test(tc, test_vpd_pages);
	tcase_add_test(tc, test_vpd_serial);
	tcase_add_test(tc, test_vpd_devid);
	tcase_add_test(tc, test_vpd_devid_eui_and_bad);
	tcase_add_test(tc, test_vpd_devid_port);
	tcase_add_test(tc, test_report_tpgs);
	tcase_add_test(tc, test_report_tpgs_short_and_bad);
	tcase_add_test(tc, test_vpd_block_limits);
	tcase_add_test(tc, test_vpd_bdc_lbp);
	tcase_add_test(tc, test_read_capacity);
	tcase_add_test(tc, test_report_luns);
	tcase_add_test(tc, test_mode_sense);
	tcase_add_test(tc, test_get_lba_status);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_sense_fixed);
	tcase_add_test(tc, test_sense_descriptor);
	tcase_add_test(tc, test_sense_errno);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(scsi_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
