/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A logical unit: probing it (INQUIRY, VPD, READ CAPACITY, MODE SENSE) and
 * turning byte-range requests into SCSI commands no larger than the target
 * takes, joined back into one completion.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "initiator/alua.h"
#include "initiator/mpath.h"
#include "initiator/scsi.h"
#include "initiator/session.h"

/* Blocking commands during probing wait at most this long. */
#define LUN_PROBE_TIMEOUT_MS 30000
/* Our own cap on one command when the target sets none (VPD B0 says 0). */
#define LUN_DEFAULT_MAX_TRANSFER (8u << 20)
/* WRITE SAME without a stated limit: zero this much per command. */
#define LUN_DEFAULT_WRITE_SAME (32u << 20)
/* Zeroes written with WRITE (no WRITE SAME) go from a buffer of this size. */
#define LUN_ZERO_BUF (1u << 20)
/* isa_lun_close waits this long for requests in flight. */
#define LUN_CLOSE_DRAIN_MS 30000

struct isa_lun {
	/* The first path's session: probes, buffers, deferred work. */
	struct isa_session *s;
	/* The paths when there are more than one (isa_lun_add_path), else NULL. */
	struct mpath *mp;
	/*
	 * ALUA: INQUIRY TPGS (0: none), this session's target port (VPD 83),
	 * its group's state as read at open (-1: unknown), and with several
	 * paths what reads the states again (alua.c).
	 */
	uint8_t tpgs;
	struct alua_port port;
	int alua_state;
	struct alua *alua;
	struct isa_lun_info info;
	uint32_t max_blocks;	   /* per READ/WRITE */
	uint32_t max_unmap_blocks; /* per UNMAP descriptor */
	uint32_t max_unmap_descs;  /* per UNMAP command */
	/*
	 * Unmap granules: @unmap_gran blocks each, their boundaries at the
	 * LBAs equal to @unmap_gran_off modulo @unmap_gran (Block Limits
	 * OPTIMAL UNMAP GRANULARITY and UNMAP GRANULARITY ALIGNMENT). Only
	 * whole granules are unmapped: a target may ignore the rest, or
	 * refuse it.
	 */
	uint32_t unmap_gran;
	uint32_t unmap_gran_off;
	uint32_t max_ws_blocks; /* per WRITE SAME */
	void *zero_block;
	/*
	 * The target refused WRITE SAME (INVALID COMMAND OPERATION CODE):
	 * zeroes are written with WRITE from @zero_buf (@zero_buf_len bytes,
	 * allocated on the first need) from then on.
	 */
	bool no_write_same;
	void *zero_buf;
	uint32_t zero_buf_len;
	/*
	 * MODE SENSE did not set DPOFUA: the target may refuse WRITE with FUA
	 * (LIO's ramdisk answers INVALID FIELD IN CDB), so a FUA write is a
	 * plain WRITE followed by SYNCHRONIZE CACHE of its range.
	 */
	bool no_fua;
	bool thin; /* READ CAPACITY(16) LBPME: GET LBA STATUS means something */
	/* Capacity changes: a READ CAPACITY is due or under way (@recheck, @again). */
	bool recheck;
	bool recheck_again;
	uint8_t *cap_buf;
	isa_resize_fn resize_fn;
	void *resize_opaque;
	unsigned outstanding; /* caller requests not yet completed */
	int lost;	      /* ISA_ERROR_* of the probe command the session ended with */
};

/**
 * struct lun_req - one caller request, split into SCSI commands.
 * @parts: commands not yet complete
 * @submitting: still creating parts; the request cannot finish before
 * @err: the first error of any part
 * @param: UNMAP parameter lists, freed with the request
 * @sync_blocks: when not 0, the blocks from @sync_lba to SYNCHRONIZE once
 *		 every part is done (FUA on a target without it)
 */
struct lun_req {
	struct isa_lun *l;
	unsigned parts;
	bool submitting;
	uint64_t sync_lba;
	uint32_t sync_blocks;
	int err;
	char msg[192];
	bool read;
	uint64_t bytes;
	GPtrArray *param;
	isa_done_fn done;
	void *opaque;
};

static void req_add(struct lun_req *r, const uint8_t *cdb, uint8_t cdb_len, bool read, void *buf,
		    uint32_t len);

static void req_maybe_finish(struct lun_req *r)
{
	if (r->parts || r->submitting)
		return;
	if (r->sync_blocks && !r->err) {
		uint8_t cdb[16];
		size_t cl = scsi_cdb_sync_cache16(cdb, r->sync_lba, r->sync_blocks);

		/* The write is acknowledged only once it is on stable storage. */
		r->sync_blocks = 0;
		req_add(r, cdb, (uint8_t)cl, false, NULL, 0);
		return;
	}
	/* With several paths each part counts on the path it took (req_add). */
	if (!r->err && r->bytes && !r->l->mp)
		session_count_io(r->l->s, r->read, r->bytes);
	r->l->outstanding--;
	r->done(r->opaque, r->err, r->err ? r->msg : NULL);
	if (r->param)
		g_ptr_array_unref(r->param);
	g_free(r);
}

static void zero_by_write(struct lun_req *r, uint64_t lba, uint64_t blocks);
static void zero_by_write_same(struct lun_req *r, uint64_t lba, uint64_t blocks, bool unmap);

/*
 * A WRITE SAME the target refused: the range is zeroed another way and
 * what was learnt is kept for later requests. INVALID COMMAND OPERATION
 * CODE: no WRITE SAME at all, WRITE from now on. INVALID FIELD IN CDB: too
 * many blocks for the target. LIO enforces its max_write_same_len (4096
 * blocks for fileio, 0 for a ramdisk) but reports MAXIMUM WRITE SAME
 * LENGTH only in the long Block Limits page it sends when thin
 * provisioning is on: halve the limit and try again, down to WRITE.
 */
static bool write_same_refused(struct lun_req *r, const struct isa_task *t)
{
	struct isa_lun *l = r->l;
	uint64_t lba = scsi_get_be64(&t->cdb[2]);
	uint32_t n = scsi_get_be32(&t->cdb[10]);
	bool unmap = t->cdb[1] & 0x08;

	if (t->cdb[0] != SCSI_OP_WRITE_SAME16 || r->err ||
	    (t->result != -EOPNOTSUPP && t->result != -EINVAL))
		return false;
	if (t->result == -EINVAL && n > 1 && !l->no_write_same) {
		if (n / 2 < l->max_ws_blocks) {
			l->max_ws_blocks = n / 2;
			g_message("LUN %u: the target refused a WRITE SAME of %u blocks (%s); "
				  "trying at most %u",
				  l->info.lun, n, t->msg, l->max_ws_blocks);
		}
		zero_by_write_same(r, lba, n, unmap);
		return true;
	}
	if (!l->no_write_same)
		g_message("LUN %u: the target refuses WRITE SAME (%s); writing zeroes with WRITE",
			  l->info.lun, t->msg);
	l->no_write_same = true;
	l->info.can_write_same_unmap = false;
	zero_by_write(r, lba, n);
	return true;
}

static void req_part_done(struct isa_task *t)
{
	struct lun_req *r = t->opaque;

	if (write_same_refused(r, t)) {
		/* The range is being zeroed again. */
	} else if (t->result && !r->err) {
		r->err = t->result;
		g_strlcpy(r->msg, t->msg, sizeof(r->msg));
	} else if (!t->result && t->read && t->underflow && t->residual && !r->err) {
		/* A short read would hand the client stale bytes: an error, not data. */
		r->err = -EIO;
		snprintf(r->msg, sizeof(r->msg), "target returned %u bytes less than asked",
			 t->residual);
	}
	session_task_free(t);
	r->parts--;
	req_maybe_finish(r);
}

static struct lun_req *req_new(struct isa_lun *l, bool read, uint64_t bytes, isa_done_fn done,
			       void *opaque)
{
	struct lun_req *r = g_new0(struct lun_req, 1);

	r->l = l;
	r->read = read;
	r->bytes = bytes;
	r->done = done;
	r->opaque = opaque;
	r->submitting = true;
	l->outstanding++;
	return r;
}

/* Send @t on the LUN's session, or on the path the policy picks. */
static void lun_submit(struct isa_lun *l, struct isa_task *t)
{
	if (l->mp)
		mpath_submit(l->mp, t);
	else
		session_task_submit(l->s, t);
}

static bool lun_failed(const struct isa_lun *l)
{
	return l->mp ? mpath_failed(l->mp) : session_failed(l->s);
}

static void req_add(struct lun_req *r, const uint8_t *cdb, uint8_t cdb_len, bool read, void *buf,
		    uint32_t len)
{
	struct isa_task *t = session_task_new(r->l->s, r->l->info.lun, cdb, cdb_len, read, buf, len,
					      req_part_done, r);

	/* With several paths each part counts on the path it took. */
	t->count_io = r->bytes && r->l->mp;
	r->parts++;
	lun_submit(r->l, t);
}

static void req_submitted(struct lun_req *r)
{
	r->submitting = false;
	req_maybe_finish(r);
}

static int check_range(const struct isa_lun *l, uint64_t offset, uint64_t len)
{
	uint64_t size = l->info.blocks * l->info.block_size;

	if (offset % l->info.block_size || len % l->info.block_size)
		return -EINVAL;
	if (offset > size || len > size - offset)
		return -EINVAL;
	if (lun_failed(l))
		return -ENOTCONN;
	return 0;
}

static int lun_rw(struct isa_lun *l, bool read, uint64_t offset, uint32_t len, void *buf,
		  unsigned flags, isa_done_fn done, void *opaque)
{
	uint32_t bs = l->info.block_size;
	uint64_t lba = offset / bs;
	uint32_t blocks = len / bs;
	struct lun_req *r;
	int rc = check_range(l, offset, len);

	if (rc)
		return rc;
	if (!read && l->info.read_only)
		return -EROFS;
	r = req_new(l, read, len, done, opaque);
	if (!read && (flags & ISA_REQ_FUA) && l->no_fua) {
		r->sync_lba = lba;
		r->sync_blocks = blocks;
		flags &= ~ISA_REQ_FUA;
	}
	while (blocks) {
		uint32_t n = MIN(blocks, l->max_blocks);
		uint8_t cdb[16];
		size_t cl = read ? scsi_cdb_read16(cdb, lba, n, false)
				 : scsi_cdb_write16(cdb, lba, n, flags & ISA_REQ_FUA);

		req_add(r, cdb, cl, read, buf, n * bs);
		buf = (uint8_t *)buf + (size_t)n * bs;
		lba += n;
		blocks -= n;
	}
	req_submitted(r);
	return 0;
}

int isa_read(struct isa_lun *l, uint64_t offset, uint32_t len, void *buf, isa_done_fn done,
	     void *opaque)
{
	return lun_rw(l, true, offset, len, buf, 0, done, opaque);
}

int isa_write(struct isa_lun *l, uint64_t offset, uint32_t len, const void *buf, unsigned flags,
	      isa_done_fn done, void *opaque)
{
	return lun_rw(l, false, offset, len, (void *)buf, flags, done, opaque);
}

/*
 * With several paths, a write completed on any of them must be covered:
 * SYNCHRONIZE CACHE goes to every path up now, and the flush completes
 * once each has. A write that completed on a path down now was answered
 * by the target: the other paths' caches are the same LUN's. One whose
 * path went down before the answer is sent again on a live path, and the
 * flush of that path follows it or waits for it there.
 */
int isa_flush(struct isa_lun *l, isa_done_fn done, void *opaque)
{
	unsigned live[MPATH_MAX_PATHS];
	uint8_t cdb[16];
	size_t cl = scsi_cdb_sync_cache16(cdb, 0, 0);
	struct lun_req *r;
	unsigned n, i;

	if (lun_failed(l))
		return -ENOTCONN;
	r = req_new(l, false, 0, done, opaque);
	n = l->mp ? mpath_live(l->mp, live, MPATH_MAX_PATHS) : 0;
	if (n < 2) {
		req_add(r, cdb, cl, false, NULL, 0);
	} else {
		for (i = 0; i < n; i++) {
			struct isa_task *t = session_task_new(l->s, l->info.lun, cdb, (uint8_t)cl,
							      false, NULL, 0, req_part_done, r);

			r->parts++;
			mpath_submit_to(l->mp, live[i], t);
		}
	}
	req_submitted(r);
	return 0;
}

/* The first granule boundary at or after @lba. */
static uint64_t granule_up(const struct isa_lun *l, uint64_t lba)
{
	uint64_t g = l->unmap_gran, off = l->unmap_gran_off;

	if (lba <= off)
		return off;
	return off + (lba - off + g - 1) / g * g;
}

/* The last granule boundary at or before @lba, or 0 when there is none. */
static uint64_t granule_down(const struct isa_lun *l, uint64_t lba)
{
	uint64_t g = l->unmap_gran, off = l->unmap_gran_off;

	if (lba < off)
		return 0;
	return off + (lba - off) / g * g;
}

/*
 * At most @max blocks, and whole granules when @max holds one: starting
 * on a boundary, the piece then ends on one.
 */
static uint32_t granule_piece(const struct isa_lun *l, uint64_t blocks, uint32_t max)
{
	uint64_t n = MIN(blocks, (uint64_t)max);

	if (n < blocks && max >= l->unmap_gran)
		n = n / l->unmap_gran * l->unmap_gran;
	return (uint32_t)n;
}

/* Nothing to send: the request completes later all the same, as the API promises. */
static void req_finish_later(void *opaque)
{
	req_maybe_finish(opaque);
}

static void req_submitted_maybe_empty(struct lun_req *r)
{
	r->submitting = false;
	if (r->parts)
		return;
	session_defer(r->l->s, req_finish_later, r);
}

/*
 * UNMAP the whole granules of [offset, offset+len): the edges that cover
 * part of a granule are left alone (a discard promises nothing about
 * them), descriptors of at most MAXIMUM UNMAP LBA COUNT blocks, at most
 * MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT of them per command.
 */
int isa_unmap(struct isa_lun *l, uint64_t offset, uint64_t len, isa_done_fn done, void *opaque)
{
	uint32_t bs = l->info.block_size;
	uint64_t lba, end;
	struct lun_req *r;
	int rc = check_range(l, offset, len);

	if (rc)
		return rc;
	if (l->info.read_only)
		return -EROFS;
	if (!l->info.can_unmap)
		return -EOPNOTSUPP;
	lba = granule_up(l, offset / bs);
	end = granule_down(l, (offset + len) / bs);
	r = req_new(l, false, 0, done, opaque);
	r->param = g_ptr_array_new_with_free_func(g_free);
	while (lba < end) {
		struct scsi_extent ext[SCSI_UNMAP_MAX_DESCS];
		uint8_t *param =
		    g_malloc(SCSI_UNMAP_HDR_LEN + SCSI_UNMAP_DESC_LEN * l->max_unmap_descs);
		uint8_t cdb[16];
		size_t plen, cl;
		unsigned n = 0;

		while (lba < end && n < l->max_unmap_descs) {
			ext[n].lba = lba;
			ext[n].blocks = granule_piece(l, end - lba, l->max_unmap_blocks);
			lba += ext[n++].blocks;
		}
		plen =
		    scsi_unmap_param(param, SCSI_UNMAP_HDR_LEN + SCSI_UNMAP_DESC_LEN * n, ext, n);
		cl = scsi_cdb_unmap(cdb, (uint16_t)plen);
		g_ptr_array_add(r->param, param);
		req_add(r, cdb, cl, false, param, (uint32_t)plen);
	}
	req_submitted_maybe_empty(r);
	return 0;
}

/*
 * Zero [lba, lba+blocks) of @r's request with WRITE commands from a zeroed
 * buffer, for a target without WRITE SAME. Parts that cannot get the
 * buffer fail the request.
 */
static void zero_by_write(struct lun_req *r, uint64_t lba, uint64_t blocks)
{
	struct isa_lun *l = r->l;
	uint32_t bs = l->info.block_size;

	if (!l->zero_buf) {
		uint32_t len = MIN(l->max_blocks, LUN_ZERO_BUF / bs) * bs;

		l->zero_buf = isa_buf_alloc(l->s, len);
		if (!l->zero_buf) {
			r->err = -ENOMEM;
			g_strlcpy(r->msg, "out of buffer memory for writing zeroes",
				  sizeof(r->msg));
			return;
		}
		memset(l->zero_buf, 0, len);
		l->zero_buf_len = len;
	}
	while (blocks) {
		uint32_t n = (uint32_t)MIN(blocks, l->zero_buf_len / bs);
		uint8_t cdb[16];
		size_t cl = scsi_cdb_write16(cdb, lba, n, false);

		req_add(r, cdb, cl, false, l->zero_buf, n * bs);
		lba += n;
		blocks -= n;
	}
}

/*
 * Zero [lba, lba+blocks) of @r's request with WRITE SAME, at the limits
 * known now. With @unmap, only the whole granules are written with the
 * UNMAP bit, in pieces that keep to granule boundaries; the edges are
 * written without it.
 */
static void zero_by_write_same(struct lun_req *r, uint64_t lba, uint64_t blocks, bool unmap)
{
	struct isa_lun *l = r->l;
	uint64_t end = lba + blocks, a = lba, b = lba;

	if (unmap) {
		a = MIN(granule_up(l, lba), end);
		b = MAX(granule_down(l, end), a);
	}
	while (lba < end) {
		bool in = lba >= a && lba < b;
		uint64_t stop = in ? b : lba < a ? a : end;
		uint32_t n = in ? granule_piece(l, stop - lba, l->max_ws_blocks)
				: (uint32_t)MIN(stop - lba, (uint64_t)l->max_ws_blocks);
		uint8_t cdb[16];
		size_t cl = scsi_cdb_write_same16(cdb, lba, n, in, false);

		req_add(r, cdb, cl, false, l->zero_block, l->info.block_size);
		lba += n;
	}
}

int isa_write_zeroes(struct isa_lun *l, uint64_t offset, uint64_t len, unsigned flags,
		     isa_done_fn done, void *opaque)
{
	uint32_t bs = l->info.block_size;
	uint64_t lba = offset / bs, blocks = len / bs;
	bool unmap = (flags & ISA_REQ_MAY_UNMAP) && l->info.can_write_same_unmap;
	struct lun_req *r;
	int rc = check_range(l, offset, len);

	if (rc)
		return rc;
	if (l->info.read_only)
		return -EROFS;
	/* Fast only when the target deallocates and reads the holes back as zeroes. */
	if ((flags & ISA_REQ_FAST_ZERO) &&
	    (l->no_write_same || !unmap || !l->info.zeroes_after_unmap))
		return -ENOTSUP;
	r = req_new(l, false, 0, done, opaque);
	if (l->no_write_same) {
		zero_by_write(r, lba, blocks);
		req_submitted(r);
		return 0;
	}
	zero_by_write_same(r, lba, blocks, unmap);
	req_submitted(r);
	return 0;
}

/* GET LBA STATUS answers at most this many descriptors per command. */
#define LBA_STATUS_ALLOC (8 + 16 * 256)

struct status_req {
	struct isa_lun *l;
	uint64_t offset;
	uint64_t len;
	uint8_t *buf;
	isa_status_fn done;
	void *opaque;
};

static void status_req_free(struct status_req *r)
{
	r->l->outstanding--;
	if (r->buf)
		isa_buf_free(r->l->s, r->buf, LBA_STATUS_ALLOC);
	g_free(r);
}

/* Without thin provisioning every block is mapped: one extent, no command. */
static void status_all_allocated(void *opaque)
{
	struct status_req *r = opaque;
	struct isa_extent e = {r->offset, r->len, true};

	r->done(r->opaque, 0, NULL, &e, 1);
	status_req_free(r);
}

static void status_done(struct isa_task *t)
{
	struct status_req *r = t->opaque;
	uint32_t bs = r->l->info.block_size;
	uint64_t pos = r->offset, end = r->offset + r->len;
	g_autoptr(GArray) descs = NULL;
	g_autoptr(GArray) ext = g_array_new(FALSE, FALSE, sizeof(struct isa_extent));
	g_autoptr(GError) err = NULL;
	uint32_t got = t->edtl - (t->underflow ? MIN(t->residual, t->edtl) : 0);
	guint i;

	if (t->result == -EOPNOTSUPP || t->result == -EINVAL) {
		/* The LUN has no GET LBA STATUS after all: report data. */
		session_task_free(t);
		status_all_allocated(r);
		return;
	}
	if (t->result) {
		r->done(r->opaque, t->result, t->msg, NULL, 0);
		goto out;
	}
	if (scsi_parse_get_lba_status(r->buf, got, &descs, &err) < 0) {
		r->done(r->opaque, -EIO, err->message, NULL, 0);
		goto out;
	}
	for (i = 0; i < descs->len && pos < end; i++) {
		const struct scsi_lba_status *d = &g_array_index(descs, struct scsi_lba_status, i);
		uint64_t d_start = d->lba * bs, d_end = d_start + (uint64_t)d->blocks * bs;
		struct isa_extent e;

		/* Descriptors must continue where we are; anything else ends the answer. */
		if (d_start > pos || d_end <= pos)
			break;
		e.offset = pos;
		e.length = MIN(d_end, end) - pos;
		e.allocated = d->status != SCSI_LBA_DEALLOCATED && d->status != SCSI_LBA_ANCHORED;
		g_array_append_val(ext, e);
		pos += e.length;
	}
	if (!ext->len) {
		struct isa_extent e = {r->offset, MIN(r->len, (uint64_t)bs), true};

		g_array_append_val(ext, e);
	}
	r->done(r->opaque, 0, NULL, (const struct isa_extent *)(void *)ext->data, ext->len);
out:
	session_task_free(t);
	status_req_free(r);
}

int isa_block_status(struct isa_lun *l, uint64_t offset, uint64_t len, isa_status_fn done,
		     void *opaque)
{
	struct status_req *r;
	struct isa_task *t;
	uint8_t cdb[16];
	size_t cl;
	int rc = check_range(l, offset, len);

	if (rc)
		return rc;
	if (!len)
		return -EINVAL;
	r = g_new0(struct status_req, 1);
	r->l = l;
	l->outstanding++;
	r->offset = offset;
	r->len = len;
	r->done = done;
	r->opaque = opaque;
	if (!l->thin) {
		session_defer(l->s, status_all_allocated, r);
		return 0;
	}
	r->buf = isa_buf_alloc(l->s, LBA_STATUS_ALLOC);
	if (!r->buf) {
		status_req_free(r);
		return -ENOMEM;
	}
	cl = scsi_cdb_get_lba_status(cdb, offset / l->info.block_size, LBA_STATUS_ALLOC);
	t = session_task_new(l->s, l->info.lun, cdb, (uint8_t)cl, true, r->buf, LBA_STATUS_ALLOC,
			     status_done, r);
	lun_submit(l, t);
	return 0;
}

/*
 * Capacity changes (SBC-4 4.6): the target says so with UNIT ATTENTION
 * CAPACITY DATA HAS CHANGED on the next command of each I_T nexus; the
 * session sends that command again, and we read the capacity again from
 * outside the upcall, once, then tell the owner. tgt and LIO raise it
 * when a LUN's backing store is resized; a changed block size is not
 * followed (the front ends cannot change theirs under their clients).
 */
static void capacity_recheck(void *opaque);

static void capacity_done(struct isa_task *t)
{
	struct isa_lun *l = t->opaque;
	struct scsi_capacity cap = {0};
	g_autoptr(GError) err = NULL;
	uint32_t got = t->edtl - (t->underflow ? MIN(t->residual, t->edtl) : 0);
	uint64_t old = l->info.blocks * l->info.block_size;

	if (t->result) {
		g_warning("LUN %u: reading the changed capacity failed: %s; keeping %" PRIu64
			  " bytes",
			  l->info.lun, t->msg, old);
	} else if (scsi_parse_read_capacity16(l->cap_buf, got, &cap, &err)) {
		g_warning("LUN %u: reading the changed capacity: %s", l->info.lun, err->message);
	} else if (cap.block_size != l->info.block_size) {
		g_warning("LUN %u: the target changed the block size from %u to %u bytes; "
			  "keeping %u",
			  l->info.lun, l->info.block_size, cap.block_size, l->info.block_size);
	} else if (cap.last_lba + 1 != l->info.blocks) {
		l->info.blocks = cap.last_lba + 1;
		g_message("LUN %u: capacity changed from %" PRIu64 " to %" PRIu64 " bytes",
			  l->info.lun, old, l->info.blocks * l->info.block_size);
		if (l->resize_fn)
			l->resize_fn(l->resize_opaque, l);
	}
	session_task_free(t);
	isa_buf_free(l->s, l->cap_buf, 32);
	l->cap_buf = NULL;
	if (l->recheck_again) {
		/* It changed again while we read it. */
		l->recheck_again = false;
		capacity_recheck(l);
		return;
	}
	l->recheck = false;
	l->outstanding--;
}

/* Runs with l->recheck set and counted in l->outstanding, so that close waits for it. */
static void capacity_recheck(void *opaque)
{
	struct isa_lun *l = opaque;
	uint8_t cdb[16];
	size_t cl = scsi_cdb_read_capacity16(cdb, 32);
	struct isa_task *t;

	l->cap_buf = isa_buf_alloc(l->s, 32);
	if (!l->cap_buf) {
		g_warning("LUN %u: no buffer to read the changed capacity into", l->info.lun);
		l->recheck = false;
		l->outstanding--;
		return;
	}
	t = session_task_new(l->s, l->info.lun, cdb, (uint8_t)cl, true, l->cap_buf, 32,
			     capacity_done, l);
	lun_submit(l, t);
}

/* From inside the upcall: take note, read the capacity later. */
static void lun_unit_attention(void *opaque, uint32_t lun, uint8_t asc, uint8_t ascq)
{
	struct isa_lun *l = opaque;

	if (lun != l->info.lun || !((asc == 0x2a && ascq == 0x09) || (asc == 0x3f && ascq == 0x0e)))
		return;
	if (l->recheck) {
		l->recheck_again = true;
		return;
	}
	l->recheck = true;
	l->outstanding++;
	session_defer(l->s, capacity_recheck, l);
}

void isa_lun_on_resize(struct isa_lun *l, isa_resize_fn fn, void *opaque)
{
	l->resize_fn = fn;
	l->resize_opaque = opaque;
}

/* Run one command that reads into @buf; *@got is what arrived. */
static int lun_cmd_in(struct isa_lun *l, const uint8_t *cdb, size_t cdb_len, void *buf,
		      uint32_t len, uint32_t *got, GError **err)
{
	struct isa_task *t =
	    session_task_new(l->s, l->info.lun, cdb, (uint8_t)cdb_len, true, buf, len, NULL, NULL);
	int rc = session_task_run(l->s, t, LUN_PROBE_TIMEOUT_MS);

	if (rc) {
		int code = rc == -ETIMEDOUT	  ? ISA_ERROR_TIMEOUT
			   : session_failed(l->s) ? ISA_ERROR_CONNECT
			   : rc == -ENXIO	  ? ISA_ERROR_NOT_FOUND
						  : ISA_ERROR_TARGET;

		if (session_failed(l->s) && !l->lost)
			l->lost = code;
		g_set_error(err, ISA_ERROR, code, "%s", t->msg);
	} else if (got) {
		*got = t->residual && t->underflow ? len - MIN(t->residual, len) : len;
	}
	session_task_free(t);
	return rc;
}

static int inquiry_vpd(struct isa_lun *l, uint8_t page, uint8_t *buf, uint32_t len, uint32_t *got,
		       GError **err)
{
	uint8_t cdb[16];
	size_t cl = scsi_cdb_inquiry(cdb, true, page, (uint16_t)len);

	return lun_cmd_in(l, cdb, cl, buf, len, got, err);
}

static int probe_ready(struct isa_lun *l, GError **err)
{
	uint8_t cdb[16];
	size_t cl = scsi_cdb_test_unit_ready(cdb);

	/* UNIT ATTENTION after login is retried inside the session. */
	return lun_cmd_in(l, cdb, cl, NULL, 0, NULL, err);
}

static int probe_inquiry(struct isa_lun *l, uint8_t *buf, GError **err)
{
	struct scsi_inquiry_std inq;
	uint8_t cdb[16];
	size_t cl = scsi_cdb_inquiry(cdb, false, 0, 96);
	uint32_t got;

	if (lun_cmd_in(l, cdb, cl, buf, 96, &got, err) ||
	    scsi_parse_inquiry_std(buf, got, &inq, err))
		return -1;
	if (inq.peripheral_qualifier != 0 || inq.device_type != 0) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_NOT_FOUND,
			    "LUN %u is not a disk (peripheral qualifier %u, device type 0x%02x)",
			    l->info.lun, inq.peripheral_qualifier, inq.device_type);
		return -1;
	}
	memcpy(l->info.vendor, inq.vendor, sizeof(l->info.vendor));
	l->tpgs = inq.tpgs;
	memcpy(l->info.product, inq.product, sizeof(l->info.product));
	memcpy(l->info.revision, inq.revision, sizeof(l->info.revision));
	return 0;
}

static int probe_capacity(struct isa_lun *l, uint8_t *buf, GError **err)
{
	struct scsi_capacity cap = {0};
	uint8_t cdb[16];
	size_t cl = scsi_cdb_read_capacity16(cdb, 32);
	uint32_t got;
	g_autoptr(GError) e16 = NULL;

	if (lun_cmd_in(l, cdb, cl, buf, 32, &got, &e16) ||
	    scsi_parse_read_capacity16(buf, got, &cap, &e16)) {
		/* Targets without SERVICE ACTION IN(16) answer the (10) form. */
		if (session_failed(l->s)) {
			g_propagate_error(err, g_steal_pointer(&e16));
			return -1;
		}
		cl = scsi_cdb_read_capacity10(cdb);
		if (lun_cmd_in(l, cdb, cl, buf, 8, &got, err) ||
		    scsi_parse_read_capacity10(buf, got, &cap, err))
			return -1;
	}
	if (cap.block_size < 512 || cap.block_size > 65536 ||
	    (cap.block_size & (cap.block_size - 1))) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_PROTOCOL,
			    "LUN %u reports an unusable block size of %u bytes", l->info.lun,
			    cap.block_size);
		return -1;
	}
	l->info.block_size = cap.block_size;
	l->info.blocks = cap.last_lba + 1;
	l->info.physical_block_size = cap.block_size << MIN(cap.lbppbe, 8);
	l->info.zeroes_after_unmap = cap.lbprz;
	l->thin = cap.lbpme;
	return 0;
}

/* Optional pages: a target without them keeps our defaults. */
static void probe_vpd(struct isa_lun *l, uint8_t *buf, uint32_t buflen)
{
	struct scsi_vpd_pages pages;
	uint32_t got;
	uint32_t bs = l->info.block_size;

	if (inquiry_vpd(l, SCSI_VPD_SUPPORTED_PAGES, buf, 255, &got, NULL) ||
	    scsi_parse_vpd_pages(buf, got, &pages, NULL))
		return;
	if (scsi_vpd_page_supported(&pages, 0x80) && !inquiry_vpd(l, 0x80, buf, 255, &got, NULL)) {
		g_autofree char *serial = NULL;

		if (!scsi_parse_vpd_serial(buf, got, &serial, NULL))
			g_strlcpy(l->info.serial, serial, sizeof(l->info.serial));
	}
	if (scsi_vpd_page_supported(&pages, 0x83) &&
	    !inquiry_vpd(l, 0x83, buf, buflen, &got, NULL)) {
		g_autoptr(GArray) ids = NULL;

		if (!scsi_parse_vpd_devid(buf, got, &ids, NULL)) {
			g_autofree char *id = scsi_devid_best(
			    (const struct scsi_designator *)(void *)ids->data, ids->len);

			if (id)
				g_strlcpy(l->info.id, id, sizeof(l->info.id));
			scsi_devid_port((const struct scsi_designator *)(void *)ids->data, ids->len,
					&l->port.have_rel, &l->port.rel_port, &l->port.have_tpg,
					&l->port.tpg);
		}
	}
	if (scsi_vpd_page_supported(&pages, 0xb0) && !inquiry_vpd(l, 0xb0, buf, 64, &got, NULL)) {
		struct scsi_vpd_block_limits bl;

		if (!scsi_parse_vpd_block_limits(buf, got, &bl, NULL)) {
			if (bl.max_xfer_len)
				l->max_blocks = MIN(l->max_blocks, bl.max_xfer_len);
			l->info.opt_transfer = bl.opt_xfer_len_granularity * bs;
			if (bl.max_unmap_lba_count)
				l->max_unmap_blocks = bl.max_unmap_lba_count;
			if (bl.max_unmap_desc_count)
				l->max_unmap_descs =
				    MIN(bl.max_unmap_desc_count, (uint32_t)SCSI_UNMAP_MAX_DESCS);
			if (bl.opt_unmap_granularity) {
				l->unmap_gran = bl.opt_unmap_granularity;
				l->info.unmap_granularity = bl.opt_unmap_granularity * bs;
				if (bl.ugavalid)
					l->unmap_gran_off = bl.unmap_granularity_alignment %
							    bl.opt_unmap_granularity;
			}
			if (bl.max_write_same_len)
				l->max_ws_blocks =
				    (uint32_t)MIN(bl.max_write_same_len, (uint64_t)UINT32_MAX);
		}
	}
	if (scsi_vpd_page_supported(&pages, 0xb1) && !inquiry_vpd(l, 0xb1, buf, 64, &got, NULL)) {
		struct scsi_vpd_bdc bdc;

		if (!scsi_parse_vpd_bdc(buf, got, &bdc, NULL))
			l->info.rotational = bdc.rotation_rate != SCSI_ROTATION_NON_ROTATING;
	}
	if (scsi_vpd_page_supported(&pages, 0xb2) && !inquiry_vpd(l, 0xb2, buf, 64, &got, NULL)) {
		struct scsi_vpd_lbp lbp;

		if (!scsi_parse_vpd_lbp(buf, got, &lbp, NULL)) {
			l->info.can_unmap = lbp.lbpu;
			l->info.can_write_same_unmap = lbp.lbpws;
			/* LBPRZ 001b: unmapped blocks read as zeroes (SBC-4 6.6.7). */
			if (lbp.lbprz == 1)
				l->info.zeroes_after_unmap = true;
		}
	}
}

static void probe_write_protect(struct isa_lun *l, uint8_t *buf)
{
	struct scsi_mode_header mh;
	uint8_t cdb[16];
	size_t cl = scsi_cdb_mode_sense6(cdb, 0x3f, 0, 255);
	uint32_t got;

	if (!lun_cmd_in(l, cdb, cl, buf, 255, &got, NULL) &&
	    !scsi_parse_mode_sense6(buf, got, &mh, NULL)) {
		l->info.read_only = mh.wp;
		l->no_fua = !mh.dpofua;
		return;
	}
	cl = scsi_cdb_mode_sense10(cdb, 0x3f, 0, 255);
	if (!lun_cmd_in(l, cdb, cl, buf, 255, &got, NULL) &&
	    !scsi_parse_mode_sense10(buf, got, &mh, NULL)) {
		l->info.read_only = mh.wp;
		l->no_fua = !mh.dpofua;
	}
}

/*
 * ALUA: the state of this session's target port group, when INQUIRY says
 * the target has groups. A target that refuses the command keeps every
 * path active/optimized, as without ALUA.
 */
static void probe_alua(struct isa_lun *l, uint8_t *buf, uint32_t buflen)
{
	struct scsi_tpg_list groups = {0};
	g_autoptr(GError) err = NULL;
	uint8_t cdb[16];
	size_t cl = scsi_cdb_report_tpgs(cdb, buflen);
	uint32_t got;

	if (!l->tpgs)
		return;
	if (lun_cmd_in(l, cdb, cl, buf, buflen, &got, &err) ||
	    scsi_parse_report_tpgs(buf, got, &groups, &err)) {
		g_message("LUN %u: INQUIRY reports ALUA (TPGS %u), but REPORT TARGET PORT GROUPS "
			  "failed: %s",
			  l->info.lun, l->tpgs, err ? err->message : "?");
		return;
	}
	l->alua_state = alua_state_of(&groups, &l->port);
	g_array_unref(groups.groups);
}

struct isa_lun *isa_lun_open(struct isa_session *s, uint32_t lun, GError **err)
{
	struct isa_lun *l = g_new0(struct isa_lun, 1);
	uint8_t *buf = isa_buf_alloc(s, 4096);

	l->s = s;
	l->info.lun = lun;
	l->info.rotational = true;
	l->max_unmap_blocks = UINT32_MAX;
	l->max_unmap_descs = 1;
	l->unmap_gran = 1;
	l->alua_state = -1;
	if (!buf) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED, "out of buffer memory");
		goto fail;
	}
	if (probe_ready(l, err) || probe_inquiry(l, buf, err) || probe_capacity(l, buf, err)) {
		g_prefix_error(err, "LUN %u: ", lun);
		goto fail;
	}
	l->max_blocks = LUN_DEFAULT_MAX_TRANSFER / l->info.block_size;
	/* Some transports carry less per command (tgt's iSER: 512 KiB). */
	if (s->dm->caps.max_transfer)
		l->max_blocks = MIN(l->max_blocks, s->dm->caps.max_transfer / l->info.block_size);
	l->max_ws_blocks = LUN_DEFAULT_WRITE_SAME / l->info.block_size;
	probe_vpd(l, buf, 4096);
	probe_write_protect(l, buf);
	probe_alua(l, buf, ALUA_RTPG_LEN);
	if (session_failed(s)) {
		g_set_error(err, ISA_ERROR, l->lost ? l->lost : ISA_ERROR_CONNECT, "%s",
			    isa_session_error(s));
		goto fail;
	}
	l->info.max_transfer = l->max_blocks * l->info.block_size;
	l->zero_block = isa_buf_alloc(s, l->info.block_size);
	if (!l->zero_block) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED, "out of buffer memory");
		goto fail;
	}
	memset(l->zero_block, 0, l->info.block_size);
	isa_buf_free(s, buf, 4096);
	session_watch_ua(s, lun_unit_attention, l);
	return l;

fail:
	if (buf)
		isa_buf_free(s, buf, 4096);
	g_free(l);
	return NULL;
}

/*
 * Requests hold the LUN: let them finish before it goes, and past a
 * bound fail the session, which completes every one of them with an error.
 */
static void lun_drain(struct isa_lun *l)
{
	gint64 deadline = g_get_monotonic_time() + LUN_CLOSE_DRAIN_MS * 1000LL;
	bool never = false;

	while (l->outstanding) {
		gint64 now = g_get_monotonic_time();

		if (now > deadline && !lun_failed(l)) {
			g_autofree char *why =
			    g_strdup_printf("LUN %u closed with %u requests in flight", l->info.lun,
					    l->outstanding);

			if (l->mp)
				mpath_abandon(l->mp, why);
			else
				session_end(l->s, "%s", why);
		}
		if (now > deadline + 5 * G_USEC_PER_SEC) {
			g_critical("LUN %u: %u requests never completed", l->info.lun,
				   l->outstanding);
			break;
		}
		isa_lun_run(l, &never, 100);
	}
}

void isa_lun_close(struct isa_lun *l)
{
	if (!l)
		return;
	lun_drain(l);
	/*
	 * Requests that never completed still point here: keep it rather than
	 * corrupt, but with no path thread left, for the sessions' owner to
	 * close them.
	 */
	if (l->outstanding) {
		if (l->mp)
			mpath_stop_threads(l->mp);
		return;
	}
	alua_free(l->alua);
	mpath_free(l->mp);
	session_unwatch_ua(l->s, l);
	if (l->zero_block)
		isa_buf_free(l->s, l->zero_block, l->info.block_size);
	if (l->zero_buf)
		isa_buf_free(l->s, l->zero_buf, l->zero_buf_len);
	g_free(l);
}

const struct isa_lun_info *isa_lun_get_info(const struct isa_lun *l)
{
	return &l->info;
}

GArray *isa_report_luns(struct isa_session *s, GError **err)
{
	struct isa_lun probe = {.s = s};
	struct scsi_lun_list list = {0};
	uint32_t len = 4096, got;
	GArray *out = NULL;
	uint8_t *buf;
	uint8_t cdb[16];
	size_t cl;
	guint i;

	for (;;) {
		buf = isa_buf_alloc(s, len);
		cl = scsi_cdb_report_luns(cdb, len);
		if (lun_cmd_in(&probe, cdb, cl, buf, len, &got, err) ||
		    scsi_parse_report_luns(buf, got, &list, err)) {
			isa_buf_free(s, buf, len);
			return NULL;
		}
		isa_buf_free(s, buf, len);
		if (list.needed <= len || len >= (1u << 20))
			break;
		len = (uint32_t)MIN(list.needed, (size_t)1 << 20);
		g_array_unref(list.luns);
	}
	out = g_array_new(FALSE, FALSE, sizeof(uint32_t));
	for (i = 0; i < list.luns->len; i++) {
		struct scsi_lun *e = &g_array_index(list.luns, struct scsi_lun, i);
		uint32_t n = e->lun;

		if (e->decoded)
			g_array_append_val(out, n);
	}
	g_array_unref(list.luns);
	return out;
}

/*
 * What another path to a LUN needs to know: that it is a disk, its VPD 83
 * identifiers, its target port and that port's ALUA state. A bare
 * struct isa_lun (g_free()), or NULL.
 */
static struct isa_lun *lun_probe_path(struct isa_session *s, uint32_t lun, GError **err)
{
	struct isa_lun *p = g_new0(struct isa_lun, 1);
	uint8_t *buf = isa_buf_alloc(s, ALUA_RTPG_LEN);
	g_autoptr(GArray) ids = NULL;
	uint32_t got;

	p->s = s;
	p->info.lun = lun;
	p->alua_state = -1;
	if (!buf) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED, "out of buffer memory");
		g_free(p);
		return NULL;
	}
	if (probe_inquiry(p, buf, err) ||
	    inquiry_vpd(p, SCSI_VPD_DEVICE_ID, buf, ALUA_RTPG_LEN, &got, err) ||
	    scsi_parse_vpd_devid(buf, got, &ids, err)) {
		g_prefix_error(err, "LUN %u: ", lun);
		isa_buf_free(s, buf, ALUA_RTPG_LEN);
		g_free(p);
		return NULL;
	}
	{
		const struct scsi_designator *d = (const void *)ids->data;
		g_autofree char *id = scsi_devid_best(d, ids->len);

		if (id)
			g_strlcpy(p->info.id, id, sizeof(p->info.id));
		scsi_devid_port(d, ids->len, &p->port.have_rel, &p->port.rel_port,
				&p->port.have_tpg, &p->port.tpg);
	}
	probe_alua(p, buf, ALUA_RTPG_LEN);
	isa_buf_free(s, buf, ALUA_RTPG_LEN);
	return p;
}

/* A UNIT ATTENTION on a path after the first, on our thread. */
static void lun_path_unit_attention(void *opaque, uint32_t lun, uint8_t asc, uint8_t ascq)
{
	struct isa_lun *l = opaque;

	lun_unit_attention(l, lun, asc, ascq);
	if (l->alua)
		alua_unit_attention(l->alua, lun, asc, ascq);
}

/*
 * The path set, made at the second path: paths after the first get a
 * thread each (unless ISER_ATTACH_PATH_THREADS=0), and their UNIT
 * ATTENTIONs reach lun_unit_attention() on ours.
 */
static void lun_mpath(struct isa_lun *l)
{
	if (l->mp)
		return;
	l->mp = mpath_new(l->s, l->s->replacement_timeout_s);
	mpath_set_threaded(l->mp, g_strcmp0(g_getenv("ISER_ATTACH_PATH_THREADS"), "0"));
	mpath_on_ua(l->mp, lun_path_unit_attention, l);
}

/*
 * Any transport may be any path: payload buffers come from the first
 * path's pool, and iSER connections on one device share their pool and
 * protection domain (datamover/iser-share.c), so that the buffer of a
 * request is registered for whichever of them carries it. An iSER path on
 * another device than the first path's (or after a TCP first path) bounces
 * its payload through a buffer of its own pool, counted as copied.
 */
int isa_lun_add_path(struct isa_lun *l, struct isa_session *s, GError **err)
{
	struct isa_session_info first, si;
	struct isa_lun *other;
	unsigned n = l->mp ? mpath_count(l->mp) : 1;
	struct alua_port port;
	uint8_t tpgs;
	int state;

	isa_session_get_info(l->s, &first);
	isa_session_get_info(s, &si);
	if (n >= MPATH_MAX_PATHS) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "at most %d paths", MPATH_MAX_PATHS);
		return -1;
	}
	if (!*l->info.id) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_NOT_FOUND,
			    "path %u at %s refused: LUN %u at %s reports no VPD page 83 "
			    "designator, so no other path can be shown to reach the same LUN",
			    n + 1, si.portal, l->info.lun, first.portal);
		return -1;
	}
	/*
	 * Not a full open: a port in standby answers only a few commands
	 * (INQUIRY, REPORT TARGET PORT GROUPS; SPC-4 5.16.2.4.4), and
	 * what it is and where it sits is all we need of another path.
	 */
	other = lun_probe_path(s, l->info.lun, err);
	if (!other) {
		g_prefix_error(err, "path %u at %s: ", n + 1, si.portal);
		return -1;
	}
	if (strcmp(other->info.id, l->info.id)) {
		g_set_error(
		    err, ISA_ERROR, ISA_ERROR_NOT_FOUND,
		    "path %u at %s refused: its LUN %u has VPD 83 designator %s, but path 1 "
		    "at %s has %s: not the same LUN",
		    n + 1, si.portal, l->info.lun, *other->info.id ? other->info.id : "(none)",
		    first.portal, l->info.id);
		g_free(other);
		return -1;
	}
	port = other->port;
	tpgs = other->tpgs;
	state = other->alua_state;
	g_free(other);
	lun_mpath(l);
	mpath_add(l->mp, s);
	if (!l->alua && (l->tpgs || tpgs)) {
		l->alua = alua_new(l->mp, l->info.lun, &l->outstanding);
		alua_add_path(l->alua, 0, &l->port, l->alua_state);
	}
	if (l->alua)
		alua_add_path(l->alua, n, &port, state);
	g_message("path %u at %s to LUN %u (%s) added", n + 1, si.portal, l->info.lun, l->info.id);
	return 0;
}

/**
 * struct join_check - INQUIRY VPD 83 of a path that logged in unverified.
 * @l: the LUN it should reach
 * @s: the path's session, which carries the command
 * @buf: the page, from @l's first session (payload buffers come from there)
 */
struct join_check {
	struct isa_lun *l;
	struct isa_session *s;
	uint8_t *buf;
};

#define JOIN_VPD_LEN 4096

static void join_check_done(struct isa_task *t)
{
	struct join_check *c = t->opaque;
	struct isa_lun *l = c->l;
	struct isa_session_info first;
	g_autofree char *id = NULL, *why = NULL;
	g_autoptr(GArray) ids = NULL;
	g_autoptr(GError) e = NULL;
	uint32_t got = t->residual && t->underflow ? JOIN_VPD_LEN - MIN(t->residual, JOIN_VPD_LEN)
						   : JOIN_VPD_LEN;
	int rc = 0;

	isa_session_get_info(l->s, &first);
	if (t->result && (t->result == -EAGAIN || !mpath_session_live(l->mp, c->s))) {
		/* The connection went: the check is made again at the next login. */
		rc = -EAGAIN;
	} else if (t->result) {
		rc = -ENXIO;
		why = g_strdup_printf("INQUIRY VPD page 83 of its LUN %u failed (%s), so it "
				      "cannot be shown to reach the same LUN as path 1 at %s",
				      l->info.lun, t->msg, first.portal);
	} else if (!scsi_parse_vpd_devid(c->buf, got, &ids, &e) &&
		   (id = scsi_devid_best((const struct scsi_designator *)(void *)ids->data,
					 ids->len)) &&
		   !strcmp(id, l->info.id)) {
		why = g_strdup_printf("its LUN %u has VPD 83 designator %s, as path 1 at %s",
				      l->info.lun, id, first.portal);
	} else {
		rc = -ENXIO;
		why = g_strdup_printf("its LUN %u has VPD 83 designator %s, but path 1 at %s has "
				      "%s: not the same LUN",
				      l->info.lun,
				      id  ? id
				      : e ? e->message
					  : "(none)",
				      first.portal, l->info.id);
	}
	session_task_free(t);
	isa_buf_free(l->s, c->buf, JOIN_VPD_LEN);
	mpath_path_checked(l->mp, c->s, rc, why);
	g_free(c);
	l->outstanding--;
}

/*
 * From mpath_check(): path @s logged in, not known to reach @l yet. The
 * check is an ordinary command on that path, so the loop never blocks on
 * it; counted in l->outstanding, so that close waits for it.
 */
static void join_check_start(void *opaque, struct isa_session *s)
{
	struct isa_lun *l = opaque;
	struct join_check *c = g_new0(struct join_check, 1);
	uint8_t cdb[16];
	size_t cl = scsi_cdb_inquiry(cdb, true, 0x83, JOIN_VPD_LEN);
	struct isa_task *t;

	c->l = l;
	c->s = s;
	c->buf = isa_buf_alloc(l->s, JOIN_VPD_LEN);
	if (!c->buf) {
		g_free(c);
		g_warning("LUN %u: no buffer to check a path that logged in; checked at its "
			  "next login",
			  l->info.lun);
		mpath_path_checked(l->mp, s, -EAGAIN, NULL);
		return;
	}
	l->outstanding++;
	t = session_task_new(s, l->info.lun, cdb, (uint8_t)cl, true, c->buf, JOIN_VPD_LEN,
			     join_check_done, c);
	mpath_submit_to(l->mp, (unsigned)mpath_index_of(l->mp, s), t);
}

int isa_lun_add_path_later(struct isa_lun *l, struct isa_session *s, GError **err)
{
	struct isa_session_info first, si;
	unsigned n = l->mp ? mpath_count(l->mp) : 1;

	isa_session_get_info(l->s, &first);
	isa_session_get_info(s, &si);
	if (n >= MPATH_MAX_PATHS) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "at most %d paths", MPATH_MAX_PATHS);
		return -1;
	}
	if (!*l->info.id) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_NOT_FOUND,
			    "path %u at %s refused: LUN %u at %s reports no VPD page 83 "
			    "designator, so no other path can be shown to reach the same LUN",
			    n + 1, si.portal, l->info.lun, first.portal);
		return -1;
	}
	lun_mpath(l);
	mpath_on_join(l->mp, join_check_start, l);
	mpath_add_joining(l->mp, s);
	return 0;
}

const char *isa_lun_path_state_name(const struct isa_lun *l, unsigned i)
{
	struct isa_path_status ps;

	if (i >= isa_lun_path_count(l))
		return "?";
	isa_lun_path_status(l, i, &ps);
	return ps.state;
}

void isa_lun_set_path_policy(struct isa_lun *l, enum isa_path_policy policy)
{
	if (l->mp)
		mpath_set_policy(l->mp, policy);
}

unsigned isa_lun_path_count(const struct isa_lun *l)
{
	return l->mp ? mpath_count(l->mp) : 1;
}

void isa_lun_path_status(const struct isa_lun *l, unsigned i, struct isa_path_status *ps)
{
	struct isa_session_info si;

	if (l->mp) {
		mpath_path_status(l->mp, i, ps);
		return;
	}
	memset(ps, 0, sizeof(*ps));
	if (i)
		return;
	isa_session_get_info(l->s, &si);
	ps->portal = si.portal;
	ps->transport = si.transport;
	ps->state = isa_session_state_name(l->s);
	ps->outstanding = session_outstanding(l->s);
	isa_session_get_stats(l->s, &ps->stats);
}

struct isa_session *isa_lun_path(const struct isa_lun *l, unsigned i)
{
	if (l->mp)
		return mpath_path(l->mp, i);
	return i == 0 ? l->s : NULL;
}

int isa_lun_get_fd(struct isa_lun *l)
{
	return l->mp ? mpath_get_fd(l->mp) : isa_session_get_fd(l->s);
}

int isa_lun_service(struct isa_lun *l)
{
	return l->mp ? mpath_service(l->mp) : isa_session_service(l->s);
}

int isa_lun_complete(struct isa_lun *l)
{
	return l->mp ? mpath_complete(l->mp) : isa_session_complete(l->s);
}

void isa_lun_cork(struct isa_lun *l, bool on)
{
	if (l->mp)
		mpath_cork(l->mp, on);
	else
		isa_session_cork(l->s, on);
}

int isa_lun_run(struct isa_lun *l, const bool *done, int timeout_ms)
{
	return l->mp ? mpath_run(l->mp, done, timeout_ms) : isa_session_run(l->s, done, timeout_ms);
}

const char *isa_lun_state_name(const struct isa_lun *l)
{
	return l->mp ? mpath_state_name(l->mp) : isa_session_state_name(l->s);
}

const char *isa_lun_error(const struct isa_lun *l)
{
	return l->mp ? mpath_error(l->mp) : isa_session_error(l->s);
}

void isa_lun_abandon(struct isa_lun *l, const char *why)
{
	if (l->mp)
		mpath_abandon(l->mp, why);
	else
		isa_session_abandon(l->s, why);
}

void isa_lun_get_stats(const struct isa_lun *l, struct isa_stats *st)
{
	if (l->mp)
		mpath_get_stats(l->mp, st);
	else
		isa_session_get_stats(l->s, st);
}

const char *isa_lun_path_alua(const struct isa_lun *l, unsigned i)
{
	if (l->mp)
		return mpath_alua_name(l->mp, i);
	if (i || l->alua_state < 0)
		return "-";
	return scsi_alua_state_name((uint8_t)l->alua_state);
}
