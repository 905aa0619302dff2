/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SCSI command layer (SPC-4, SBC-3/4): CDB builders, parsers for the data
 * the target returns, and sense decoding. Pure functions: no I/O, no state.
 * Every multi-byte field on the wire is big-endian.
 */
#ifndef ISA_SCSI_H
#define ISA_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

/* Longest CDB we build; callers pass a buffer of this size. */
#define SCSI_CDB_MAX 16

/* SAM-5 status codes, as carried in the iSCSI SCSI Response. */
#define SCSI_STATUS_GOOD		 0x00
#define SCSI_STATUS_CHECK_CONDITION	 0x02
#define SCSI_STATUS_CONDITION_MET	 0x04
#define SCSI_STATUS_BUSY		 0x08
#define SCSI_STATUS_RESERVATION_CONFLICT 0x18
#define SCSI_STATUS_TASK_SET_FULL	 0x28
#define SCSI_STATUS_ACA_ACTIVE		 0x30
#define SCSI_STATUS_TASK_ABORTED	 0x40

/* SPC-4 sense keys. */
#define SCSI_SENSE_NO_SENSE	   0x0
#define SCSI_SENSE_RECOVERED_ERROR 0x1
#define SCSI_SENSE_NOT_READY	   0x2
#define SCSI_SENSE_MEDIUM_ERROR	   0x3
#define SCSI_SENSE_HARDWARE_ERROR  0x4
#define SCSI_SENSE_ILLEGAL_REQUEST 0x5
#define SCSI_SENSE_UNIT_ATTENTION  0x6
#define SCSI_SENSE_DATA_PROTECT	   0x7
#define SCSI_SENSE_BLANK_CHECK	   0x8
#define SCSI_SENSE_VENDOR_SPECIFIC 0x9
#define SCSI_SENSE_COPY_ABORTED	   0xa
#define SCSI_SENSE_ABORTED_COMMAND 0xb
#define SCSI_SENSE_VOLUME_OVERFLOW 0xd
#define SCSI_SENSE_MISCOMPARE	   0xe
#define SCSI_SENSE_COMPLETED	   0xf

/* Operation codes of the commands we build. */
#define SCSI_OP_TEST_UNIT_READY	  0x00
#define SCSI_OP_INQUIRY		  0x12
#define SCSI_OP_MODE_SENSE6	  0x1a
#define SCSI_OP_READ_CAPACITY10	  0x25
#define SCSI_OP_UNMAP		  0x42
#define SCSI_OP_MODE_SENSE10	  0x5a
#define SCSI_OP_READ16		  0x88
#define SCSI_OP_WRITE16		  0x8a
#define SCSI_OP_SYNC_CACHE16	  0x91
#define SCSI_OP_WRITE_SAME16	  0x93
#define SCSI_OP_SERVICE_ACTION_IN 0x9e
#define SCSI_OP_REPORT_LUNS	  0xa0
#define SCSI_SA_READ_CAPACITY16	  0x10
#define SCSI_SA_GET_LBA_STATUS	  0x12

/* VPD page codes we parse. */
#define SCSI_VPD_SUPPORTED_PAGES 0x00
#define SCSI_VPD_UNIT_SERIAL	 0x80
#define SCSI_VPD_DEVICE_ID	 0x83
#define SCSI_VPD_BLOCK_LIMITS	 0xb0
#define SCSI_VPD_BLOCK_DEV_CHAR	 0xb1
#define SCSI_VPD_LB_PROVISIONING 0xb2

/* Mode page codes and the "all pages" wildcard for MODE SENSE. */
#define SCSI_MODE_PAGE_CACHING 0x08
#define SCSI_MODE_PAGE_ALL     0x3f

/* Standard INQUIRY data is 36 bytes; longer answers carry vendor extras. */
#define SCSI_INQUIRY_STD_LEN 36
/* READ CAPACITY(16) parameter data length (SBC-3). */
#define SCSI_READ_CAPACITY16_LEN 32
/* READ CAPACITY(10) returns this in the LBA field when (16) is needed. */
#define SCSI_READ_CAPACITY10_OVERFLOW 0xffffffffu

/* Errors of the parsers, in the SCSI_ERROR domain. */
#define SCSI_ERROR scsi_error_quark()
GQuark scsi_error_quark(void);

/**
 * enum scsi_error_code - why a parser rejected the target's data
 * @SCSI_ERROR_SHORT: fewer bytes than the format requires, or than the
 *	data's own length field announces (retry with a larger allocation)
 * @SCSI_ERROR_MALFORMED: bytes present but inconsistent (wrong page code,
 *	descriptor overrunning its page, zero block size...)
 */
enum scsi_error_code {
	SCSI_ERROR_SHORT,
	SCSI_ERROR_MALFORMED,
};

/* Big-endian accessors for CDBs and parameter data. */
static inline uint16_t scsi_get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t scsi_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t scsi_get_be64(const uint8_t *p)
{
	return ((uint64_t)scsi_get_be32(p) << 32) | scsi_get_be32(p + 4);
}

static inline void scsi_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void scsi_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void scsi_put_be64(uint8_t *p, uint64_t v)
{
	scsi_put_be32(p, (uint32_t)(v >> 32));
	scsi_put_be32(p + 4, (uint32_t)v);
}

/*
 * CDB builders. Each clears and fills @cdb (SCSI_CDB_MAX bytes) and returns
 * the CDB length. Control bytes are zero (no NACA, no linked commands).
 */
size_t scsi_cdb_test_unit_ready(uint8_t cdb[SCSI_CDB_MAX]);
/* @page is only sent with @evpd: SPC requires it zero for standard data. */
size_t scsi_cdb_inquiry(uint8_t cdb[SCSI_CDB_MAX], bool evpd, uint8_t page, uint16_t alloc_len);
size_t scsi_cdb_read_capacity10(uint8_t cdb[SCSI_CDB_MAX]);
size_t scsi_cdb_read_capacity16(uint8_t cdb[SCSI_CDB_MAX], uint32_t alloc_len);
/* SELECT REPORT 00h: all logical units addressed through this nexus. */
size_t scsi_cdb_report_luns(uint8_t cdb[SCSI_CDB_MAX], uint32_t alloc_len);
size_t scsi_cdb_read16(uint8_t cdb[SCSI_CDB_MAX], uint64_t lba, uint32_t blocks, bool fua);
size_t scsi_cdb_write16(uint8_t cdb[SCSI_CDB_MAX], uint64_t lba, uint32_t blocks, bool fua);
/* @blocks == 0 means from @lba to the end of the medium. */
size_t scsi_cdb_sync_cache16(uint8_t cdb[SCSI_CDB_MAX], uint64_t lba, uint32_t blocks);
/* @param_len is the length of the list built by scsi_unmap_param(). */
size_t scsi_cdb_unmap(uint8_t cdb[SCSI_CDB_MAX], uint16_t param_len);
/*
 * @unmap asks the target to deallocate when the written data is zero;
 * @ndob (no data-out buffer) means "write zeroes" without sending a block.
 */
size_t scsi_cdb_write_same16(uint8_t cdb[SCSI_CDB_MAX], uint64_t lba, uint32_t blocks, bool unmap,
			     bool ndob);
/* Current values (PC 00b), block descriptors allowed. */
size_t scsi_cdb_mode_sense6(uint8_t cdb[SCSI_CDB_MAX], uint8_t page, uint8_t subpage,
			    uint8_t alloc_len);
size_t scsi_cdb_mode_sense10(uint8_t cdb[SCSI_CDB_MAX], uint8_t page, uint8_t subpage,
			     uint16_t alloc_len);
size_t scsi_cdb_get_lba_status(uint8_t cdb[SCSI_CDB_MAX], uint64_t lba, uint32_t alloc_len);

/**
 * struct scsi_extent - one range for the UNMAP parameter list
 * @lba: first logical block
 * @blocks: number of blocks (0 is legal and does nothing)
 */
struct scsi_extent {
	uint64_t lba;
	uint32_t blocks;
};

/* UNMAP parameter list: 8-byte header plus 16 bytes per descriptor. */
#define SCSI_UNMAP_HDR_LEN  8
#define SCSI_UNMAP_DESC_LEN 16
/* Descriptors we put in one UNMAP, whatever the target allows. */
#define SCSI_UNMAP_MAX_DESCS 64

/*
 * Build the UNMAP parameter list for @n extents into @buf (@cap bytes).
 * Returns its length, or 0 when it does not fit in @cap or in the 16-bit
 * length fields of the CDB and header.
 */
size_t scsi_unmap_param(uint8_t *buf, size_t cap, const struct scsi_extent *ext, unsigned n);

/*
 * Parsers. @buf/@len are the bytes actually received (transfer length
 * minus residual). Each returns 0, or -1 with @err set in SCSI_ERROR.
 * Nothing is read past @len.
 */

/**
 * struct scsi_inquiry_std - standard INQUIRY data (SPC-4 6.6.2)
 * @peripheral_qualifier: 0 = LU present, 1 = supported but absent, 3 = none
 * @device_type: peripheral device type (0 = direct access block device)
 * @removable: RMB, removable medium
 * @version: claimed standard (5 = SPC-3, 6 = SPC-4)
 * @response_data_format: 2 for every modern target
 * @normaca: NACA bit supported
 * @hisup: hierarchical LUN addressing used in REPORT LUNS
 * @sccs: embedded storage array controller
 * @acc: access controls coordinator
 * @tpgs: target port group support (ALUA): 0 none, 1 implicit, 2 explicit, 3 both
 * @third_party_copy: 3PC, EXTENDED COPY supported
 * @protect: protection information supported
 * @cmdque: full task management model
 * @vendor: T10 vendor identification, trailing spaces trimmed
 * @product: product identification, trailing spaces trimmed
 * @revision: product revision level, trailing spaces trimmed
 *
 * Strings are NUL-terminated; non-printable bytes are replaced by '_'.
 */
struct scsi_inquiry_std {
	uint8_t peripheral_qualifier;
	uint8_t device_type;
	bool removable;
	uint8_t version;
	uint8_t response_data_format;
	bool normaca;
	bool hisup;
	bool sccs;
	bool acc;
	uint8_t tpgs;
	bool third_party_copy;
	bool protect;
	bool cmdque;
	char vendor[9];
	char product[17];
	char revision[5];
};

int scsi_parse_inquiry_std(const uint8_t *buf, size_t len, struct scsi_inquiry_std *out,
			   GError **err);

/*
 * Total length of the VPD page whose first bytes are in @buf (header plus
 * PAGE LENGTH), or 0 if @len cannot hold the 4-byte header. Lets the caller
 * repeat INQUIRY with a large enough allocation length.
 */
size_t scsi_vpd_total_len(const uint8_t *buf, size_t len);

/**
 * struct scsi_vpd_pages - Supported VPD Pages (0x00) as a bitmap
 * @map: bit (page % 8) of map[page / 8] is set when @page is listed
 */
struct scsi_vpd_pages {
	uint8_t map[32];
};

int scsi_parse_vpd_pages(const uint8_t *buf, size_t len, struct scsi_vpd_pages *out, GError **err);
bool scsi_vpd_page_supported(const struct scsi_vpd_pages *pages, uint8_t page);

/*
 * Unit Serial Number (0x80). On success *@serial is a newly allocated
 * string (g_free()) with leading and trailing spaces trimmed and
 * non-printable bytes replaced by '_'; it may be empty.
 */
int scsi_parse_vpd_serial(const uint8_t *buf, size_t len, char **serial, GError **err);

/* Designator code sets, associations and types (SPC-4 7.8.6). */
#define SCSI_CODESET_BINARY 1
#define SCSI_CODESET_ASCII  2
#define SCSI_CODESET_UTF8   3

#define SCSI_ASSOC_LU	      0
#define SCSI_ASSOC_PORT	      1
#define SCSI_ASSOC_TARGET_DEV 2

#define SCSI_DESIG_VENDOR  0
#define SCSI_DESIG_T10	   1
#define SCSI_DESIG_EUI64   2
#define SCSI_DESIG_NAA	   3
#define SCSI_DESIG_REL_TPG 4
#define SCSI_DESIG_TPG	   5
#define SCSI_DESIG_LU_GRP  6
#define SCSI_DESIG_MD5	   7
#define SCSI_DESIG_NAME	   8

/**
 * struct scsi_designator - one Device Identification designator
 * @protocol_id: protocol identifier (5 = iSCSI), meaningful when @piv
 * @code_set: SCSI_CODESET_*
 * @piv: @protocol_id is valid
 * @association: SCSI_ASSOC_*
 * @type: SCSI_DESIG_*
 * @len: number of bytes in @data
 * @data: designator bytes as sent
 */
struct scsi_designator {
	uint8_t protocol_id;
	uint8_t code_set;
	bool piv;
	uint8_t association;
	uint8_t type;
	uint8_t len;
	uint8_t data[255];
};

/*
 * Device Identification (0x83). On success *@out is a new array of struct
 * scsi_designator in page order (g_array_unref()).
 */
int scsi_parse_vpd_devid(const uint8_t *buf, size_t len, GArray **out, GError **err);

/*
 * Best identifier of the logical unit among @n designators: NAA (higher
 * NAA formats first), then EUI-64, then SCSI name string, then T10 vendor
 * ID. Rendered as "naa.<hex>", "eui.<hex>", the name string itself, or
 * "t10.<ascii>". Newly allocated (g_free()), or NULL if none qualifies.
 */
char *scsi_devid_best(const struct scsi_designator *d, unsigned n);

/*
 * ALUA (SPC-4 5.16): target port groups and their asymmetric access states.
 */
#define SCSI_OP_MAINTENANCE_IN 0xa3
#define SCSI_SA_REPORT_TPGS    0x0a

enum scsi_alua_state {
	SCSI_ALUA_ACTIVE_OPTIMIZED = 0x0,
	SCSI_ALUA_ACTIVE_NON_OPTIMIZED = 0x1,
	SCSI_ALUA_STANDBY = 0x2,
	SCSI_ALUA_UNAVAILABLE = 0x3,
	SCSI_ALUA_LBA_DEPENDENT = 0x4,
	SCSI_ALUA_OFFLINE = 0xe,
	SCSI_ALUA_TRANSITIONING = 0xf,
};

/* "active/optimized", "standby", ...; "state 0x5" style text for reserved values. */
const char *scsi_alua_state_name(uint8_t state);

/* REPORT TARGET PORT GROUPS (MAINTENANCE IN 0Ah), length-only format; 12-byte CDB. */
size_t scsi_cdb_report_tpgs(uint8_t cdb[SCSI_CDB_MAX], uint32_t alloc_len);

/**
 * struct scsi_tpg - one target port group descriptor of REPORT TARGET PORT GROUPS
 * @id: target port group identifier
 * @state: asymmetric access state (enum scsi_alua_state)
 * @pref: PREF: the group is preferred for access
 * @ports: relative target port identifiers of the group (uint16_t)
 */
struct scsi_tpg {
	uint16_t id;
	uint8_t state;
	bool pref;
	GArray *ports;
};

/**
 * struct scsi_tpg_list - the parsed REPORT TARGET PORT GROUPS data
 * @groups: struct scsi_tpg, in the target's order (g_array_unref() frees
 *	    each group's @ports as well)
 * @needed: bytes the whole answer takes (4 + RETURN DATA LENGTH): more than
 *	    were given means the list was cut off, and should be asked again
 */
struct scsi_tpg_list {
	GArray *groups;
	size_t needed;
};

/*
 * Parse @len bytes of REPORT TARGET PORT GROUPS data. Descriptors cut off
 * by the allocation length are left out (out->needed says how much to ask
 * for); a descriptor that runs past RETURN DATA LENGTH is an error.
 * Never reads past @len.
 */
int scsi_parse_report_tpgs(const uint8_t *buf, size_t len, struct scsi_tpg_list *out, GError **err);

/*
 * The group that serves the port a path reaches: the one whose id is
 * @tpg when @have_tpg (VPD 83 type 5), else the one listing relative port
 * @rel_port when @have_rel (type 4); NULL when none matches.
 */
const struct scsi_tpg *scsi_tpg_find(const struct scsi_tpg_list *l, bool have_tpg, uint16_t tpg,
				     bool have_rel, uint16_t rel_port);

/*
 * The target port designators of a VPD 83 page (association target port):
 * relative target port identifier (type 4) and target port group (type 5).
 * Each of @have_* says whether it was there.
 */
void scsi_devid_port(const struct scsi_designator *d, unsigned n, bool *have_rel,
		     uint16_t *rel_port, bool *have_tpg, uint16_t *tpg);

/**
 * struct scsi_vpd_block_limits - Block Limits (0xB0), SBC-4 6.6.4
 * @wsnz: WRITE SAME with zero blocks is rejected
 * @max_compare_write_len: blocks, 0 = COMPARE AND WRITE unsupported
 * @opt_xfer_len_granularity: blocks
 * @max_xfer_len: blocks, 0 = no limit reported
 * @opt_xfer_len: blocks, 0 = not reported
 * @max_prefetch_len: blocks
 * @max_unmap_lba_count: blocks per UNMAP command, 0 = UNMAP unsupported
 * @max_unmap_desc_count: descriptors per UNMAP command
 * @opt_unmap_granularity: blocks
 * @ugavalid: @unmap_granularity_alignment is valid
 * @unmap_granularity_alignment: first LBA of the first aligned unmap unit
 * @max_write_same_len: blocks, 0 = not reported
 *
 * Fields beyond the page length the target sent (older SBC-2 pages are
 * only 16 bytes long) are left zero, i.e. "not reported".
 */
struct scsi_vpd_block_limits {
	bool wsnz;
	uint8_t max_compare_write_len;
	uint16_t opt_xfer_len_granularity;
	uint32_t max_xfer_len;
	uint32_t opt_xfer_len;
	uint32_t max_prefetch_len;
	uint32_t max_unmap_lba_count;
	uint32_t max_unmap_desc_count;
	uint32_t opt_unmap_granularity;
	bool ugavalid;
	uint32_t unmap_granularity_alignment;
	uint64_t max_write_same_len;
};

int scsi_parse_vpd_block_limits(const uint8_t *buf, size_t len, struct scsi_vpd_block_limits *out,
				GError **err);

/* Medium rotation rate values of the Block Device Characteristics page. */
#define SCSI_ROTATION_NOT_REPORTED 0x0000
#define SCSI_ROTATION_NON_ROTATING 0x0001

/**
 * struct scsi_vpd_bdc - Block Device Characteristics (0xB1)
 * @rotation_rate: rpm, or SCSI_ROTATION_NOT_REPORTED / _NON_ROTATING (SSD)
 * @form_factor: nominal form factor code (0 = not reported)
 */
struct scsi_vpd_bdc {
	uint16_t rotation_rate;
	uint8_t form_factor;
};

int scsi_parse_vpd_bdc(const uint8_t *buf, size_t len, struct scsi_vpd_bdc *out, GError **err);

/**
 * enum scsi_prov_type - provisioning type of the Logical Block Provisioning page
 * @SCSI_PROV_FULL: fully provisioned (or not reported)
 * @SCSI_PROV_RESOURCE: resource provisioned
 * @SCSI_PROV_THIN: thin provisioned
 */
enum scsi_prov_type {
	SCSI_PROV_FULL = 0,
	SCSI_PROV_RESOURCE = 1,
	SCSI_PROV_THIN = 2,
};

/**
 * struct scsi_vpd_lbp - Logical Block Provisioning (0xB2), SBC-4 6.6.6
 * @threshold_exponent: thresholds are in units of 2^exponent blocks
 * @lbpu: UNMAP supported
 * @lbpws: WRITE SAME(16) with UNMAP supported
 * @lbpws10: WRITE SAME(10) with UNMAP supported
 * @lbprz: 0 = unmapped blocks read unspecified data, 1 = zeros,
 *	2 = the provisioning initialization pattern (SBC-4 3-bit field)
 * @anc_sup: ANCHOR supported
 * @dp: a Provisioning Group Descriptor follows
 * @min_percentage: minimum percentage for threshold notifications
 * @prov_type: enum scsi_prov_type value as sent (other values reserved)
 */
struct scsi_vpd_lbp {
	uint8_t threshold_exponent;
	bool lbpu;
	bool lbpws;
	bool lbpws10;
	uint8_t lbprz;
	bool anc_sup;
	bool dp;
	uint8_t min_percentage;
	uint8_t prov_type;
};

int scsi_parse_vpd_lbp(const uint8_t *buf, size_t len, struct scsi_vpd_lbp *out, GError **err);

/**
 * struct scsi_capacity - READ CAPACITY(10) or (16) result
 * @last_lba: address of the last logical block (capacity = last_lba + 1);
 *	SCSI_READ_CAPACITY10_OVERFLOW from (10) means "ask (16)"
 * @block_size: logical block length in bytes
 * @prot_en: protection information enabled (16 only)
 * @p_type: protection type field (16 only)
 * @p_i_exponent: protection information intervals exponent (16 only)
 * @lbppbe: logical blocks per physical block = 2^lbppbe (16 only)
 * @lbpme: logical block provisioning (thin) enabled (16 only)
 * @lbprz: unmapped blocks read as zeros (16 only)
 * @lowest_aligned_lba: first LBA aligned to a physical block (16 only)
 */
struct scsi_capacity {
	uint64_t last_lba;
	uint32_t block_size;
	bool prot_en;
	uint8_t p_type;
	uint8_t p_i_exponent;
	uint8_t lbppbe;
	bool lbpme;
	bool lbprz;
	uint16_t lowest_aligned_lba;
};

int scsi_parse_read_capacity10(const uint8_t *buf, size_t len, struct scsi_capacity *out,
			       GError **err);
/* Needs the first 16 bytes; the rest of the 32 are reserved. */
int scsi_parse_read_capacity16(const uint8_t *buf, size_t len, struct scsi_capacity *out,
			       GError **err);

/**
 * struct scsi_lun - one entry of the REPORT LUNS list
 * @raw: the 8-byte LUN as sent, to be copied into iSCSI headers
 * @decoded: @lun is valid (single-level peripheral or flat addressing)
 * @lun: LUN number, 0..16383, when @decoded
 */
struct scsi_lun {
	uint8_t raw[8];
	bool decoded;
	uint16_t lun;
};

/**
 * struct scsi_lun_list - REPORT LUNS result
 * @needed: bytes the full answer takes (8 + LUN LIST LENGTH); more than
 *	were received means the list was cut by the allocation length
 * @luns: array of struct scsi_lun for the complete entries received
 */
struct scsi_lun_list {
	size_t needed;
	GArray *luns;
};

/* On success @out->luns is new (g_array_unref()). */
int scsi_parse_report_luns(const uint8_t *buf, size_t len, struct scsi_lun_list *out, GError **err);

/**
 * struct scsi_mode_header - MODE SENSE(6)/(10) parameter header
 * @mode_data_len: MODE DATA LENGTH as sent (excludes itself)
 * @medium_type: medium type
 * @wp: medium is write protected (device-specific parameter bit 7)
 * @dpofua: DPO and FUA bits supported (device-specific parameter bit 4)
 * @longlba: block descriptors are 16 bytes (10 only)
 * @hdr_len: 4 for MODE SENSE(6), 8 for (10)
 * @bd_len: length of the block descriptors after the header
 */
struct scsi_mode_header {
	uint16_t mode_data_len;
	uint8_t medium_type;
	bool wp;
	bool dpofua;
	bool longlba;
	uint8_t hdr_len;
	uint16_t bd_len;
};

int scsi_parse_mode_sense6(const uint8_t *buf, size_t len, struct scsi_mode_header *out,
			   GError **err);
int scsi_parse_mode_sense10(const uint8_t *buf, size_t len, struct scsi_mode_header *out,
			    GError **err);

/* Provisioning status of a GET LBA STATUS descriptor. */
#define SCSI_LBA_MAPPED	     0
#define SCSI_LBA_DEALLOCATED 1
#define SCSI_LBA_ANCHORED    2

/**
 * struct scsi_lba_status - one GET LBA STATUS descriptor
 * @lba: first LBA of the extent
 * @blocks: length of the extent
 * @status: SCSI_LBA_* (SBC-4 adds 3 = mapped or unknown)
 */
struct scsi_lba_status {
	uint64_t lba;
	uint32_t blocks;
	uint8_t status;
};

/*
 * GET LBA STATUS. On success *@out is a new array of struct
 * scsi_lba_status (g_array_unref()) holding every complete descriptor
 * received; it may be empty.
 */
int scsi_parse_get_lba_status(const uint8_t *buf, size_t len, GArray **out, GError **err);

/**
 * struct scsi_sense - the decoded essentials of sense data
 * @valid: the buffer held fixed or descriptor format sense
 * @response_code: 0x70/0x71 fixed, 0x72/0x73 descriptor (current/deferred)
 * @key: sense key (SCSI_SENSE_*)
 * @asc: additional sense code (0 if not sent)
 * @ascq: additional sense code qualifier (0 if not sent)
 * @info_valid: @information holds the INFORMATION field
 * @information: usually the first failing LBA
 */
struct scsi_sense {
	bool valid;
	uint8_t response_code;
	uint8_t key;
	uint8_t asc;
	uint8_t ascq;
	bool info_valid;
	uint64_t information;
};

/*
 * Decode sense data (without the 2-byte SenseLength of the iSCSI data
 * segment). Short but well-formed data leaves the missing fields zero.
 * Returns 0, or -1 with @out->valid false for unknown formats.
 */
int scsi_sense_parse(const uint8_t *buf, size_t len, struct scsi_sense *out);
/* "ILLEGAL REQUEST" etc.; never NULL. */
const char *scsi_sense_key_name(uint8_t key);
/* Lower-case SPC text for ASC/ASCQ, or NULL if not in our table. */
const char *scsi_asc_text(uint8_t asc, uint8_t ascq);
/* "DATA PROTECT: write protected (27/00)" into @buf, always terminated. */
void scsi_sense_describe(const struct scsi_sense *s, char *buf, size_t len);
/* "CHECK CONDITION" etc.; never NULL. */
const char *scsi_status_name(uint8_t status);

bool scsi_sense_is_unit_attention(const struct scsi_sense *s);
/*
 * Worth reissuing as is: UNIT ATTENTION, NOT READY "becoming ready" or
 * "asymmetric access state transition", ABORTED COMMAND other than a
 * protection information check failure.
 */
bool scsi_sense_is_retryable(const struct scsi_sense *s);
/*
 * errno for a failed command: EROFS write protected, ENOSPC space
 * allocation failed, EOPNOTSUPP invalid opcode, EINVAL bad LBA or field,
 * ENXIO LUN not supported, ENOMEDIUM, EAGAIN transient, EILSEQ miscompare
 * or protection check, ENOMEM resource shortage, 0 RECOVERED ERROR, else EIO.
 */
int scsi_sense_errno(const struct scsi_sense *s);
/*
 * errno for a SCSI status: 0 GOOD/CONDITION MET, EAGAIN BUSY/TASK SET FULL,
 * EBUSY RESERVATION CONFLICT, ECANCELED TASK ABORTED, for CHECK CONDITION
 * scsi_sense_errno(@s) (EIO without sense), else EIO.
 */
int scsi_status_errno(uint8_t status, const struct scsi_sense *s);

#endif
