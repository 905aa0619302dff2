// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CDB builders for the commands the initiator issues (SPC-4, SBC-4).
 */
#include <string.h>

#include "initiator/scsi.h"

/* Byte 1 bits of READ(16)/WRITE(16) and WRITE SAME(16). */
#define CDB16_FUA  0x08
#define WS16_UNMAP 0x08
#define WS16_NDOB  0x01
#define INQ_EVPD   0x01

size_t scsi_cdb_test_unit_ready(uint8_t cdb[SCSI_CDB_MAX])
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = SCSI_OP_TEST_UNIT_READY;
	return 6;
}

size_t scsi_cdb_inquiry(uint8_t cdb[SCSI_CDB_MAX], bool evpd, uint8_t page, uint16_t alloc_len)
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = SCSI_OP_INQUIRY;
	if (evpd) {
		cdb[1] = INQ_EVPD;
		cdb[2] = page;
	}
	scsi_put_be16(&cdb[3], alloc_len);
	return 6;
}

size_t scsi_cdb_read_capacity10(uint8_t cdb[SCSI_CDB_MAX])
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = SCSI_OP_READ_CAPACITY10;
	return 10;
}

size_t scsi_cdb_read_capacity16(uint8_t cdb[SCSI_CDB_MAX], uint32_t alloc_len)
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = SCSI_OP_SERVICE_ACTION_IN;
	cdb[1] = SCSI_SA_READ_CAPACITY16;
	scsi_put_be32(&cdb[10], alloc_len);
	return 16;
}

size_t scsi_cdb_report_luns(uint8_t cdb[SCSI_CDB_MAX], uint32_t alloc_len)
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = SCSI_OP_REPORT_LUNS;
	scsi_put_be32(&cdb[6], alloc_len);
	return 12;
}

/* Shared layout of the 16-byte block commands: LBA at 2..9, count at 10..13. */
static size_t cdb_rw16(uint8_t cdb[SCSI_CDB_MAX], uint8_t op, uint8_t flags, uint64_t lba,
		       uint32_t blocks)
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = op;
	cdb[1] = flags;
	scsi_put_be64(&cdb[2], lba);
	scsi_put_be32(&cdb[10], blocks);
	return 16;
}

size_t scsi_cdb_read16(uint8_t cdb[SCSI_CDB_MAX], uint64_t lba, uint32_t blocks, bool fua)
{
	return cdb_rw16(cdb, SCSI_OP_READ16, fua ? CDB16_FUA : 0, lba, blocks);
}

size_t scsi_cdb_write16(uint8_t cdb[SCSI_CDB_MAX], uint64_t lba, uint32_t blocks, bool fua)
{
	return cdb_rw16(cdb, SCSI_OP_WRITE16, fua ? CDB16_FUA : 0, lba, blocks);
}

size_t scsi_cdb_sync_cache16(uint8_t cdb[SCSI_CDB_MAX], uint64_t lba, uint32_t blocks)
{
	return cdb_rw16(cdb, SCSI_OP_SYNC_CACHE16, 0, lba, blocks);
}

size_t scsi_cdb_write_same16(uint8_t cdb[SCSI_CDB_MAX], uint64_t lba, uint32_t blocks, bool unmap,
			     bool ndob)
{
	uint8_t flags = (unmap ? WS16_UNMAP : 0) | (ndob ? WS16_NDOB : 0);

	return cdb_rw16(cdb, SCSI_OP_WRITE_SAME16, flags, lba, blocks);
}

size_t scsi_cdb_unmap(uint8_t cdb[SCSI_CDB_MAX], uint16_t param_len)
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = SCSI_OP_UNMAP;
	scsi_put_be16(&cdb[7], param_len);
	return 10;
}

size_t scsi_unmap_param(uint8_t *buf, size_t cap, const struct scsi_extent *ext, unsigned n)
{
	size_t total = SCSI_UNMAP_HDR_LEN + (size_t)n * SCSI_UNMAP_DESC_LEN;
	unsigned i;

	if (total > cap || total > UINT16_MAX)
		return 0;

	memset(buf, 0, total);
	/* UNMAP DATA LENGTH excludes itself; the descriptor length excludes the header. */
	scsi_put_be16(&buf[0], (uint16_t)(total - 2));
	scsi_put_be16(&buf[2], (uint16_t)(total - SCSI_UNMAP_HDR_LEN));
	for (i = 0; i < n; i++) {
		uint8_t *d = buf + SCSI_UNMAP_HDR_LEN + (size_t)i * SCSI_UNMAP_DESC_LEN;

		scsi_put_be64(&d[0], ext[i].lba);
		scsi_put_be32(&d[8], ext[i].blocks);
	}
	return total;
}

size_t scsi_cdb_mode_sense6(uint8_t cdb[SCSI_CDB_MAX], uint8_t page, uint8_t subpage,
			    uint8_t alloc_len)
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = SCSI_OP_MODE_SENSE6;
	cdb[2] = page & 0x3f;
	cdb[3] = subpage;
	cdb[4] = alloc_len;
	return 6;
}

size_t scsi_cdb_mode_sense10(uint8_t cdb[SCSI_CDB_MAX], uint8_t page, uint8_t subpage,
			     uint16_t alloc_len)
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = SCSI_OP_MODE_SENSE10;
	cdb[2] = page & 0x3f;
	cdb[3] = subpage;
	scsi_put_be16(&cdb[7], alloc_len);
	return 10;
}

size_t scsi_cdb_get_lba_status(uint8_t cdb[SCSI_CDB_MAX], uint64_t lba, uint32_t alloc_len)
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = SCSI_OP_SERVICE_ACTION_IN;
	cdb[1] = SCSI_SA_GET_LBA_STATUS;
	scsi_put_be64(&cdb[2], lba);
	scsi_put_be32(&cdb[10], alloc_len);
	return 16;
}

size_t scsi_cdb_report_tpgs(uint8_t cdb[SCSI_CDB_MAX], uint32_t alloc_len)
{
	memset(cdb, 0, SCSI_CDB_MAX);
	cdb[0] = SCSI_OP_MAINTENANCE_IN;
	/* PARAMETER DATA FORMAT 000b (length only): what every target answers. */
	cdb[1] = SCSI_SA_REPORT_TPGS;
	scsi_put_be32(&cdb[6], alloc_len);
	return 12;
}
