// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Parsers for the parameter data of INQUIRY (standard and VPD), READ
 * CAPACITY, REPORT LUNS, MODE SENSE and GET LBA STATUS. All input comes
 * from the target, so every offset is checked against the received length.
 */
#include <string.h>

#include "initiator/scsi.h"

G_DEFINE_QUARK(scsi - error - quark, scsi_error)

#define VPD_HDR_LEN 4

/*
 * Copy a fixed-width ASCII field into a C string: non-printable bytes become
 * '_' so log lines and sysfs-like names stay readable, and the padding
 * spaces SPC mandates are dropped (leading ones too when @trim_lead).
 */
static void copy_ascii(char *dst, const uint8_t *src, size_t n, bool trim_lead)
{
	size_t start = 0, end = n, i;

	if (trim_lead)
		while (start < end && src[start] == ' ')
			start++;
	while (end > start && (src[end - 1] == ' ' || src[end - 1] == '\0'))
		end--;
	for (i = start; i < end; i++)
		dst[i - start] = g_ascii_isprint(src[i]) ? (char)src[i] : '_';
	dst[end - start] = '\0';
}

static int short_data(GError **err, const char *what, size_t need, size_t got)
{
	g_set_error(err, SCSI_ERROR, SCSI_ERROR_SHORT, "%s: need %zu bytes, got %zu", what, need,
		    got);
	return -1;
}

int scsi_parse_inquiry_std(const uint8_t *buf, size_t len, struct scsi_inquiry_std *out,
			   GError **err)
{
	if (len < SCSI_INQUIRY_STD_LEN)
		return short_data(err, "standard INQUIRY data", SCSI_INQUIRY_STD_LEN, len);

	memset(out, 0, sizeof(*out));
	out->peripheral_qualifier = buf[0] >> 5;
	out->device_type = buf[0] & 0x1f;
	out->removable = buf[1] & 0x80;
	out->version = buf[2];
	out->normaca = buf[3] & 0x20;
	out->hisup = buf[3] & 0x10;
	out->response_data_format = buf[3] & 0x0f;
	out->sccs = buf[5] & 0x80;
	out->acc = buf[5] & 0x40;
	out->tpgs = (buf[5] >> 4) & 0x03;
	out->third_party_copy = buf[5] & 0x08;
	out->protect = buf[5] & 0x01;
	out->cmdque = buf[7] & 0x02;
	copy_ascii(out->vendor, &buf[8], 8, false);
	copy_ascii(out->product, &buf[16], 16, false);
	copy_ascii(out->revision, &buf[32], 4, false);
	return 0;
}

size_t scsi_vpd_total_len(const uint8_t *buf, size_t len)
{
	if (len < VPD_HDR_LEN)
		return 0;
	return VPD_HDR_LEN + scsi_get_be16(&buf[2]);
}

/*
 * Check the VPD header: right page, and the whole page received. Returns
 * the page's total length (header included), or 0 with @err set.
 */
static size_t vpd_check(const uint8_t *buf, size_t len, uint8_t page, size_t min_total,
			GError **err)
{
	size_t total = scsi_vpd_total_len(buf, len);

	if (total == 0) {
		g_set_error(err, SCSI_ERROR, SCSI_ERROR_SHORT,
			    "VPD page 0x%02x: %zu bytes, shorter than its header", page, len);
		return 0;
	}
	if (buf[1] != page) {
		g_set_error(err, SCSI_ERROR, SCSI_ERROR_MALFORMED,
			    "asked for VPD page 0x%02x, target returned page 0x%02x", page, buf[1]);
		return 0;
	}
	if (total > len) {
		g_set_error(err, SCSI_ERROR, SCSI_ERROR_SHORT,
			    "VPD page 0x%02x truncated: %zu bytes announced, %zu received", page,
			    total, len);
		return 0;
	}
	if (total < min_total) {
		g_set_error(err, SCSI_ERROR, SCSI_ERROR_MALFORMED,
			    "VPD page 0x%02x: page length %zu below the minimum %zu", page,
			    total - VPD_HDR_LEN, min_total - VPD_HDR_LEN);
		return 0;
	}
	return total;
}

int scsi_parse_vpd_pages(const uint8_t *buf, size_t len, struct scsi_vpd_pages *out, GError **err)
{
	size_t total = vpd_check(buf, len, SCSI_VPD_SUPPORTED_PAGES, VPD_HDR_LEN, err);
	size_t i;

	if (!total)
		return -1;
	memset(out, 0, sizeof(*out));
	for (i = VPD_HDR_LEN; i < total; i++)
		out->map[buf[i] / 8] |= (uint8_t)(1u << (buf[i] % 8));
	return 0;
}

bool scsi_vpd_page_supported(const struct scsi_vpd_pages *pages, uint8_t page)
{
	return pages->map[page / 8] & (1u << (page % 8));
}

int scsi_parse_vpd_serial(const uint8_t *buf, size_t len, char **serial, GError **err)
{
	size_t total = vpd_check(buf, len, SCSI_VPD_UNIT_SERIAL, VPD_HDR_LEN, err);
	char *s;

	if (!total)
		return -1;
	s = g_malloc(total - VPD_HDR_LEN + 1);
	copy_ascii(s, &buf[VPD_HDR_LEN], total - VPD_HDR_LEN, true);
	*serial = s;
	return 0;
}

int scsi_parse_vpd_devid(const uint8_t *buf, size_t len, GArray **out, GError **err)
{
	size_t total = vpd_check(buf, len, SCSI_VPD_DEVICE_ID, VPD_HDR_LEN, err);
	GArray *arr;
	size_t off;

	if (!total)
		return -1;
	arr = g_array_new(FALSE, TRUE, sizeof(struct scsi_designator));
	for (off = VPD_HDR_LEN; off < total;) {
		struct scsi_designator d = {0};
		const uint8_t *p = &buf[off];

		if (total - off < 4 || total - off - 4 < p[3]) {
			g_set_error(err, SCSI_ERROR, SCSI_ERROR_MALFORMED,
				    "VPD page 0x83: designator at offset %zu overruns the page",
				    off);
			goto fail;
		}
		d.protocol_id = p[0] >> 4;
		d.code_set = p[0] & 0x0f;
		d.piv = p[1] & 0x80;
		d.association = (p[1] >> 4) & 0x03;
		d.type = p[1] & 0x0f;
		d.len = p[3];
		memcpy(d.data, &p[4], d.len);
		g_array_append_val(arr, d);
		off += 4 + (size_t)d.len;
	}
	*out = arr;
	return 0;
fail:
	g_array_unref(arr);
	return -1;
}

/* Higher is better; 0 means the designator cannot name the LU. */
/* Whether a name string holds anything but NUL and space padding. */
static bool has_text(const uint8_t *data, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (data[i] != '\0' && data[i] != ' ')
			return true;
	return false;
}

static int devid_rank(const struct scsi_designator *d)
{
	if (d->association != SCSI_ASSOC_LU || d->len == 0)
		return 0;
	switch (d->type) {
	case SCSI_DESIG_NAA:
		if (d->code_set != SCSI_CODESET_BINARY)
			return 0;
		/* NAA 6 (IEEE registered extended) > 5 > 3 > 2. */
		return 10 + (d->data[0] >> 4);
	case SCSI_DESIG_EUI64:
		return d->code_set == SCSI_CODESET_BINARY ? 9 : 0;
	case SCSI_DESIG_NAME:
		/* A name of padding only (a fuzzer found one) names nothing. */
		return d->code_set == SCSI_CODESET_UTF8 && has_text(d->data, d->len) ? 8 : 0;
	case SCSI_DESIG_T10:
		return d->code_set == SCSI_CODESET_ASCII ? 7 : 0;
	default:
		return 0;
	}
}

static char *hex_id(const char *prefix, const uint8_t *data, size_t n)
{
	GString *s = g_string_new(prefix);
	size_t i;

	for (i = 0; i < n; i++)
		g_string_append_printf(s, "%02x", data[i]);
	return g_string_free(s, FALSE);
}

char *scsi_devid_best(const struct scsi_designator *d, unsigned n)
{
	const struct scsi_designator *best = NULL;
	int best_rank = 0;
	char text[256];
	unsigned i;

	for (i = 0; i < n; i++) {
		int r = devid_rank(&d[i]);

		if (r > best_rank) {
			best_rank = r;
			best = &d[i];
		}
	}
	if (!best)
		return NULL;

	switch (best->type) {
	case SCSI_DESIG_NAA:
		return hex_id("naa.", best->data, best->len);
	case SCSI_DESIG_EUI64:
		return hex_id("eui.", best->data, best->len);
	case SCSI_DESIG_NAME:
		/* Already "iqn.", "naa." or "eui." prefixed; NUL padded to 4 bytes. */
		copy_ascii(text, best->data, best->len, false);
		return g_strdup(text);
	default:
		copy_ascii(text, best->data, best->len, false);
		return g_strconcat("t10.", text, NULL);
	}
}

int scsi_parse_vpd_block_limits(const uint8_t *buf, size_t len, struct scsi_vpd_block_limits *out,
				GError **err)
{
	/* SBC-2 targets send only up to OPTIMAL TRANSFER LENGTH. */
	size_t total = vpd_check(buf, len, SCSI_VPD_BLOCK_LIMITS, 16, err);

	if (!total)
		return -1;
	memset(out, 0, sizeof(*out));
	out->wsnz = buf[4] & 0x01;
	out->max_compare_write_len = buf[5];
	out->opt_xfer_len_granularity = scsi_get_be16(&buf[6]);
	out->max_xfer_len = scsi_get_be32(&buf[8]);
	out->opt_xfer_len = scsi_get_be32(&buf[12]);
	if (total >= 20)
		out->max_prefetch_len = scsi_get_be32(&buf[16]);
	if (total >= 36) {
		out->max_unmap_lba_count = scsi_get_be32(&buf[20]);
		out->max_unmap_desc_count = scsi_get_be32(&buf[24]);
		out->opt_unmap_granularity = scsi_get_be32(&buf[28]);
		out->ugavalid = buf[32] & 0x80;
		out->unmap_granularity_alignment = scsi_get_be32(&buf[32]) & 0x7fffffffu;
	}
	if (total >= 44)
		out->max_write_same_len = scsi_get_be64(&buf[36]);
	return 0;
}

int scsi_parse_vpd_bdc(const uint8_t *buf, size_t len, struct scsi_vpd_bdc *out, GError **err)
{
	size_t total = vpd_check(buf, len, SCSI_VPD_BLOCK_DEV_CHAR, 8, err);

	if (!total)
		return -1;
	out->rotation_rate = scsi_get_be16(&buf[4]);
	out->form_factor = buf[7] & 0x0f;
	return 0;
}

int scsi_parse_vpd_lbp(const uint8_t *buf, size_t len, struct scsi_vpd_lbp *out, GError **err)
{
	size_t total = vpd_check(buf, len, SCSI_VPD_LB_PROVISIONING, 8, err);

	if (!total)
		return -1;
	out->threshold_exponent = buf[4];
	out->lbpu = buf[5] & 0x80;
	out->lbpws = buf[5] & 0x40;
	out->lbpws10 = buf[5] & 0x20;
	out->lbprz = (buf[5] >> 2) & 0x07;
	out->anc_sup = buf[5] & 0x02;
	out->dp = buf[5] & 0x01;
	out->min_percentage = buf[6] >> 3;
	out->prov_type = buf[6] & 0x07;
	return 0;
}

static int check_block_size(uint32_t block_size, GError **err)
{
	if (block_size == 0) {
		g_set_error(err, SCSI_ERROR, SCSI_ERROR_MALFORMED,
			    "READ CAPACITY: logical block length is 0");
		return -1;
	}
	return 0;
}

int scsi_parse_read_capacity10(const uint8_t *buf, size_t len, struct scsi_capacity *out,
			       GError **err)
{
	if (len < 8)
		return short_data(err, "READ CAPACITY(10) data", 8, len);
	if (check_block_size(scsi_get_be32(&buf[4]), err))
		return -1;
	memset(out, 0, sizeof(*out));
	out->last_lba = scsi_get_be32(&buf[0]);
	out->block_size = scsi_get_be32(&buf[4]);
	return 0;
}

int scsi_parse_read_capacity16(const uint8_t *buf, size_t len, struct scsi_capacity *out,
			       GError **err)
{
	if (len < 16)
		return short_data(err, "READ CAPACITY(16) data", 16, len);
	if (check_block_size(scsi_get_be32(&buf[8]), err))
		return -1;
	out->last_lba = scsi_get_be64(&buf[0]);
	out->block_size = scsi_get_be32(&buf[8]);
	out->p_type = (buf[12] >> 1) & 0x07;
	out->prot_en = buf[12] & 0x01;
	out->p_i_exponent = buf[13] >> 4;
	out->lbppbe = buf[13] & 0x0f;
	out->lbpme = buf[14] & 0x80;
	out->lbprz = buf[14] & 0x40;
	out->lowest_aligned_lba = scsi_get_be16(&buf[14]) & 0x3fff;
	return 0;
}

/*
 * Single-level LUNs only: peripheral device addressing with bus 0, or flat
 * space addressing, and nothing in the lower levels.
 */
static void decode_lun(struct scsi_lun *l)
{
	static const uint8_t zero[6];
	uint8_t method = l->raw[0] >> 6;

	l->decoded = false;
	l->lun = 0;
	if (memcmp(&l->raw[2], zero, sizeof(zero)))
		return;
	if (method == 0 && (l->raw[0] & 0x3f) == 0) {
		l->lun = l->raw[1];
		l->decoded = true;
	} else if (method == 1) {
		l->lun = (uint16_t)(((l->raw[0] & 0x3f) << 8) | l->raw[1]);
		l->decoded = true;
	}
}

int scsi_parse_report_luns(const uint8_t *buf, size_t len, struct scsi_lun_list *out, GError **err)
{
	uint32_t list_len;
	size_t avail, i;

	if (len < 8)
		return short_data(err, "REPORT LUNS header", 8, len);
	list_len = scsi_get_be32(&buf[0]);
	if (list_len % 8) {
		g_set_error(err, SCSI_ERROR, SCSI_ERROR_MALFORMED,
			    "REPORT LUNS: LUN list length %u is not a multiple of 8", list_len);
		return -1;
	}
	avail = MIN((size_t)list_len, len - 8) / 8;
	out->needed = 8 + (size_t)list_len;
	out->luns = g_array_sized_new(FALSE, TRUE, sizeof(struct scsi_lun), (guint)avail);
	for (i = 0; i < avail; i++) {
		struct scsi_lun l;

		memcpy(l.raw, &buf[8 + i * 8], 8);
		decode_lun(&l);
		g_array_append_val(out->luns, l);
	}
	return 0;
}

int scsi_parse_mode_sense6(const uint8_t *buf, size_t len, struct scsi_mode_header *out,
			   GError **err)
{
	if (len < 4)
		return short_data(err, "MODE SENSE(6) header", 4, len);
	memset(out, 0, sizeof(*out));
	out->mode_data_len = buf[0];
	out->medium_type = buf[1];
	out->wp = buf[2] & 0x80;
	out->dpofua = buf[2] & 0x10;
	out->hdr_len = 4;
	out->bd_len = buf[3];
	return 0;
}

int scsi_parse_mode_sense10(const uint8_t *buf, size_t len, struct scsi_mode_header *out,
			    GError **err)
{
	if (len < 8)
		return short_data(err, "MODE SENSE(10) header", 8, len);
	memset(out, 0, sizeof(*out));
	out->mode_data_len = scsi_get_be16(&buf[0]);
	out->medium_type = buf[2];
	out->wp = buf[3] & 0x80;
	out->dpofua = buf[3] & 0x10;
	out->longlba = buf[4] & 0x01;
	out->hdr_len = 8;
	out->bd_len = scsi_get_be16(&buf[6]);
	return 0;
}

int scsi_parse_get_lba_status(const uint8_t *buf, size_t len, GArray **out, GError **err)
{
	uint32_t param_len;
	size_t avail, i;
	GArray *arr;

	if (len < 8)
		return short_data(err, "GET LBA STATUS header", 8, len);
	/* PARAMETER DATA LENGTH counts from byte 4: 4 reserved bytes, then descriptors. */
	param_len = scsi_get_be32(&buf[0]);
	if (param_len < 4) {
		g_set_error(err, SCSI_ERROR, SCSI_ERROR_MALFORMED,
			    "GET LBA STATUS: parameter data length %u below 4", param_len);
		return -1;
	}
	avail = MIN((size_t)param_len - 4, len - 8) / 16;
	arr = g_array_sized_new(FALSE, TRUE, sizeof(struct scsi_lba_status), (guint)avail);
	for (i = 0; i < avail; i++) {
		const uint8_t *d = &buf[8 + i * 16];
		struct scsi_lba_status st = {
		    .lba = scsi_get_be64(&d[0]),
		    .blocks = scsi_get_be32(&d[8]),
		    .status = d[12] & 0x0f,
		};

		g_array_append_val(arr, st);
	}
	*out = arr;
	return 0;
}

const char *scsi_alua_state_name(uint8_t state)
{
	switch (state) {
	case SCSI_ALUA_ACTIVE_OPTIMIZED:
		return "active/optimized";
	case SCSI_ALUA_ACTIVE_NON_OPTIMIZED:
		return "active/non-optimized";
	case SCSI_ALUA_STANDBY:
		return "standby";
	case SCSI_ALUA_UNAVAILABLE:
		return "unavailable";
	case SCSI_ALUA_LBA_DEPENDENT:
		return "lba-dependent";
	case SCSI_ALUA_OFFLINE:
		return "offline";
	case SCSI_ALUA_TRANSITIONING:
		return "transitioning";
	default:
		return "reserved";
	}
}

static void tpg_clear(void *p)
{
	struct scsi_tpg *g = p;

	if (g->ports)
		g_array_unref(g->ports);
}

/* REPORT TARGET PORT GROUPS data (SPC-4 6.36), length-only format. */
#define RTPG_HDR_LEN  4
#define RTPG_DESC_LEN 8
#define RTPG_PORT_LEN 4

int scsi_parse_report_tpgs(const uint8_t *buf, size_t len, struct scsi_tpg_list *out, GError **err)
{
	uint32_t rdl;
	size_t end, off;
	GArray *arr;

	if (len < RTPG_HDR_LEN)
		return short_data(err, "REPORT TARGET PORT GROUPS header", RTPG_HDR_LEN, len);
	rdl = scsi_get_be32(buf);
	out->needed = RTPG_HDR_LEN + (size_t)rdl;
	if (rdl && rdl < RTPG_DESC_LEN) {
		g_set_error(err, SCSI_ERROR, SCSI_ERROR_MALFORMED,
			    "REPORT TARGET PORT GROUPS: return data length %u is shorter than "
			    "one descriptor (%u bytes)",
			    rdl, RTPG_DESC_LEN);
		return -1;
	}
	/* What arrived and what the target says it has, whichever is less. */
	end = MIN(len, out->needed);
	arr = g_array_new(FALSE, TRUE, sizeof(struct scsi_tpg));
	g_array_set_clear_func(arr, tpg_clear);
	for (off = RTPG_HDR_LEN; off < end;) {
		const uint8_t *p = &buf[off];
		struct scsi_tpg g = {0};
		size_t dlen;
		unsigned i;

		if (end - off < RTPG_DESC_LEN)
			break;
		dlen = RTPG_DESC_LEN + (size_t)p[7] * RTPG_PORT_LEN;
		if (off + dlen > out->needed) {
			g_set_error(err, SCSI_ERROR, SCSI_ERROR_MALFORMED,
				    "REPORT TARGET PORT GROUPS: descriptor at offset %zu lists %u "
				    "ports (%zu bytes), past the return data length of %u",
				    off, p[7], dlen, rdl);
			g_array_unref(arr);
			return -1;
		}
		/* Cut off by the allocation length: out->needed says how much to ask. */
		if (off + dlen > end)
			break;
		g.pref = p[0] & 0x80;
		g.state = p[0] & 0x0f;
		g.id = scsi_get_be16(&p[2]);
		g.ports = g_array_sized_new(FALSE, FALSE, sizeof(uint16_t), p[7]);
		for (i = 0; i < p[7]; i++) {
			uint16_t rp = scsi_get_be16(&p[RTPG_DESC_LEN + i * RTPG_PORT_LEN + 2]);

			g_array_append_val(g.ports, rp);
		}
		g_array_append_val(arr, g);
		off += dlen;
	}
	out->groups = arr;
	return 0;
}

const struct scsi_tpg *scsi_tpg_find(const struct scsi_tpg_list *l, bool have_tpg, uint16_t tpg,
				     bool have_rel, uint16_t rel_port)
{
	guint i, k;

	for (i = 0; l->groups && i < l->groups->len; i++) {
		const struct scsi_tpg *g = &g_array_index(l->groups, struct scsi_tpg, i);

		if (have_tpg) {
			if (g->id == tpg)
				return g;
			continue;
		}
		for (k = 0; have_rel && k < g->ports->len; k++)
			if (g_array_index(g->ports, uint16_t, k) == rel_port)
				return g;
	}
	return NULL;
}

void scsi_devid_port(const struct scsi_designator *d, unsigned n, bool *have_rel,
		     uint16_t *rel_port, bool *have_tpg, uint16_t *tpg)
{
	unsigned i;

	*have_rel = *have_tpg = false;
	for (i = 0; i < n; i++) {
		/* Both are 4 bytes, the identifier in the last two (SPC-4 7.8.6.6, 7.8.6.7). */
		if (d[i].association != SCSI_ASSOC_PORT || d[i].len < 4)
			continue;
		if (d[i].type == SCSI_DESIG_REL_TPG) {
			*have_rel = true;
			*rel_port = scsi_get_be16(&d[i].data[2]);
		} else if (d[i].type == SCSI_DESIG_TPG) {
			*have_tpg = true;
			*tpg = scsi_get_be16(&d[i].data[2]);
		}
	}
}
