// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The session thread's side of the FUSE front end: queued requests become
 * LUN commands here, and their completions become FUSE replies.
 *
 * Byte ranges need not be block aligned. A read fetches the whole blocks
 * covering the range and replies from the middle of that buffer (no copy).
 * A write-like request (write, zero range, punch hole) sends its aligned
 * middle straight to the LUN and read-modify-writes each partial edge
 * block. The read-modify-write would lose a neighbour's bytes if another
 * write touched the same block between its read and its write, so every
 * write-like request holds a lock on its blocks from start to reply, and
 * requests overlapping a held or earlier waiting range wait, in order.
 * Reads take no lock: a read racing a write may see either, as on a disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "fuse/internal.h"

/**
 * struct fx_rmw - read-modify-write of one partial block.
 * @r: the request it is part of
 * @block_off: byte offset of the block
 * @in_off: where in the block the new bytes go
 * @len: how many
 * @src: the new bytes, or NULL for zeroes
 * @blk: the block, from the buffer cache
 * @blk_class: its size class
 */
struct fx_rmw {
	struct fx_req *r;
	uint64_t block_off;
	uint32_t in_off;
	uint32_t len;
	const uint8_t *src;
	uint8_t *blk;
	unsigned blk_class;
};

/* Smaller read replies cost less than the hand-off to a replier thread. */
#define FX_ASYNC_REPLY_MIN (64u << 10)

static const char *const op_names[] = {
    [FX_READ] = "read",	       [FX_WRITE] = "write", [FX_ZERO] = "zero range",
    [FX_PUNCH] = "punch hole", [FX_FLUSH] = "flush", [FX_DESTROY] = "final flush",
};

static bool locks_range(const struct fx_req *r)
{
	return r->op == FX_WRITE || r->op == FX_ZERO || r->op == FX_PUNCH;
}

static bool overlap(const struct fx_req *a, const struct fx_req *b)
{
	return a->first_block <= b->last_block && b->first_block <= a->last_block;
}

/*
 * May @r start now? @self is its link in the blocked list, or NULL when it
 * has just arrived (then every blocked request is ahead of it).
 */
static bool can_start(const struct fuse_export *fx, const struct fx_req *r, const GList *self)
{
	const GList *it;

	if (r->op == FX_DESTROY)
		return fx->in_progress == 0 && fx->blocked.head == self;
	if (!locks_range(r))
		return true;
	for (it = fx->active.head; it; it = it->next)
		if (overlap(r, it->data))
			return false;
	for (it = fx->blocked.head; it && it != self; it = it->next) {
		const struct fx_req *b = it->data;

		if (b->op == FX_DESTROY || (locks_range(b) && overlap(r, b)))
			return false;
	}
	return true;
}

static void start(struct fuse_export *fx, struct fx_req *r);

/* Start what can start now, in order; finishing requests call it again. */
static void retry_blocked(struct fuse_export *fx)
{
	GList *it, *next;

	if (fx->retrying) {
		fx->retry_again = true;
		return;
	}
	fx->retrying = true;
	do {
		fx->retry_again = false;
		for (it = fx->blocked.head; it; it = next) {
			struct fx_req *r = it->data;

			next = it->next;
			if (!can_start(fx, r, it))
				continue;
			g_queue_delete_link(&fx->blocked, it);
			start(fx, r);
			if (fx->retry_again)
				break;
		}
	} while (fx->retry_again);
	fx->retrying = false;
}

void fx_reply(struct fuse_export *fx, struct fx_req *r)
{
	/*
	 * A session that failed for good answers ENOTCONN; on a FUSE file
	 * that reads as "the file system's process is gone", which it is
	 * not: the file stays, its I/O fails.
	 */
	int e = r->err == -ENOTCONN ? EIO : -r->err;

	if (r->err) {
		FX_COUNT(fx, errors, 1);
		g_message("fuse: %s: %s of %" PRIu64 " bytes at %" PRIu64 " failed: %s",
			  fx->file_name, op_names[r->op], r->len, r->off,
			  r->msg[0] ? r->msg : g_strerror(e));
	}
	switch (r->op) {
	case FX_READ:
		if (r->err) {
			fuse_reply_err(r->req, e);
		} else {
			uint64_t head = r->off % fx->block_size;

			FX_COUNT(fx, bytes_read, r->len);
			fuse_reply_buf(r->req, (const char *)r->buf + head, r->len);
		}
		break;
	case FX_WRITE:
		if (r->err) {
			fuse_reply_err(r->req, e);
		} else {
			FX_COUNT(fx, bytes_written, r->len);
			fuse_reply_write(r->req, r->len);
		}
		break;
	case FX_ZERO:
	case FX_PUNCH:
	case FX_FLUSH:
		fuse_reply_err(r->req, e);
		break;
	case FX_DESTROY:
		break;
	}
}

static void finish(struct fuse_export *fx, struct fx_req *r)
{
	fx->in_progress--;
	if (locks_range(r))
		g_queue_remove(&fx->active, r);
	if (r->op == FX_READ && !r->err && r->len >= FX_ASYNC_REPLY_MIN) {
		fx_reply_async(fx, r);
	} else {
		fx_reply(fx, r);
		fx_req_done(fx, r);
	}
	retry_blocked(fx);
}

static void part_failed(struct fx_req *r, int err, const char *msg)
{
	if (r->err)
		return;
	r->err = err;
	g_strlcpy(r->msg, msg ? msg : g_strerror(-err), sizeof(r->msg));
}

/* Completion of one LUN command of @opaque (a struct fx_req). */
static void part_done(void *opaque, int err, const char *msg)
{
	struct fx_req *r = opaque;

	if (err)
		part_failed(r, err, msg);
	if (--r->parts == 0)
		finish(r->fx, r);
}

/* An isa_* call's immediate result: a refusal completes the part now. */
static void part_issued(struct fx_req *r, int ret)
{
	if (ret < 0)
		part_done(r, ret, NULL);
}

static void rmw_end(struct fx_rmw *m, int err, const char *msg)
{
	struct fx_req *r = m->r;

	fx_buf_put(r->fx, m->blk, m->blk_class);
	g_free(m);
	part_done(r, err, msg);
}

static void rmw_written(void *opaque, int err, const char *msg)
{
	rmw_end(opaque, err, msg);
}

static void rmw_read(void *opaque, int err, const char *msg)
{
	struct fx_rmw *m = opaque;
	struct fuse_export *fx = m->r->fx;
	int ret;

	if (err) {
		rmw_end(m, err, msg);
		return;
	}
	if (m->src) {
		memcpy(m->blk + m->in_off, m->src, m->len);
		FX_COUNT(fx, copied_bytes, m->len);
	} else {
		memset(m->blk + m->in_off, 0, m->len);
	}
	ret = isa_write(fx->l, m->block_off, fx->block_size, m->blk, 0, rmw_written, m);
	if (ret < 0)
		rmw_end(m, ret, NULL);
}

/* Put @len bytes of @src (NULL: zeroes) at @off, inside one block. */
static void rmw_start(struct fx_req *r, uint64_t off, uint32_t len, const uint8_t *src)
{
	struct fuse_export *fx = r->fx;
	struct fx_rmw *m = g_new0(struct fx_rmw, 1);
	int ret;

	r->parts++;
	m->r = r;
	m->block_off = off - off % fx->block_size;
	m->in_off = (uint32_t)(off % fx->block_size);
	m->len = len;
	m->src = src;
	m->blk = fx_buf_get(fx, fx->block_size, &m->blk_class);
	if (!m->blk) {
		g_free(m);
		part_done(r, -ENOMEM, "out of payload buffer memory");
		return;
	}
	ret = isa_read(fx->l, m->block_off, fx->block_size, m->blk, rmw_read, m);
	if (ret < 0)
		rmw_end(m, ret, NULL);
}

/* The aligned middle [@off, @off + @len) of a write-like request. */
static int middle_start(struct fx_req *r, uint64_t off, uint64_t len)
{
	struct fuse_export *fx = r->fx;

	switch (r->op) {
	case FX_WRITE:
		return isa_write(fx->l, off, (uint32_t)len, r->buf + (off - r->off), 0, part_done,
				 r);
	case FX_ZERO:
		return isa_write_zeroes(fx->l, off, len, 0, part_done, r);
	default:
		/*
		 * A punched hole must read back as zeroes: UNMAP gives that
		 * only on a LUN with LBPRZ, WRITE SAME with UNMAP always.
		 */
		if (fx->info.zeroes_after_unmap)
			return isa_unmap(fx->l, off, len, part_done, r);
		return isa_write_zeroes(fx->l, off, len, ISA_REQ_MAY_UNMAP, part_done, r);
	}
}

/* Split a write-like request into partial head, aligned middle, partial tail. */
static void start_write(struct fuse_export *fx, struct fx_req *r)
{
	const uint32_t bs = fx->block_size;
	const uint8_t *src = r->op == FX_WRITE ? r->buf : NULL;
	uint64_t end = r->off + r->len;
	uint64_t mid = r->off, mid_end = end;

	if (r->first_block == r->last_block && (r->off % bs || end % bs)) {
		rmw_start(r, r->off, (uint32_t)r->len, src);
		return;
	}
	if (r->off % bs) {
		mid = r->off + (bs - r->off % bs);
		rmw_start(r, r->off, (uint32_t)(mid - r->off), src);
	}
	if (end % bs) {
		mid_end = end - end % bs;
		rmw_start(r, mid_end, (uint32_t)(end - mid_end),
			  src ? src + (mid_end - r->off) : NULL);
	}
	if (mid_end > mid) {
		r->parts++;
		part_issued(r, middle_start(r, mid, mid_end - mid));
	}
}

static void start_read(struct fuse_export *fx, struct fx_req *r)
{
	const uint32_t bs = fx->block_size;
	uint64_t first = r->off - r->off % bs;
	uint64_t end = r->off + r->len;
	uint64_t span = end - first + (end % bs ? bs - end % bs : 0);

	r->buf = fx_buf_get(fx, span, &r->buf_class);
	r->parts++;
	if (!r->buf) {
		part_done(r, -ENOMEM, "out of payload buffer memory");
		return;
	}
	part_issued(r, isa_read(fx->l, first, (uint32_t)span, r->buf, part_done, r));
}

/*
 * Issue @r's commands. @parts starts at one, held while issuing, so that a
 * part completing at once cannot finish @r before every part is issued.
 */
static void start(struct fuse_export *fx, struct fx_req *r)
{
	fx->in_progress++;
	if (locks_range(r))
		g_queue_push_tail(&fx->active, r);
	r->parts = 1;
	if (!r->err) {
		switch (r->op) {
		case FX_READ:
			start_read(fx, r);
			break;
		case FX_WRITE:
		case FX_ZERO:
		case FX_PUNCH:
			start_write(fx, r);
			break;
		case FX_FLUSH:
		case FX_DESTROY:
			/* Nothing to make durable on a read-only export. */
			if (fx->read_only)
				break;
			r->parts++;
			part_issued(r, isa_flush(fx->l, part_done, r));
			break;
		}
	}
	part_done(r, 0, NULL);
}

void fx_submit(struct fuse_export *fx, struct fx_req *r)
{
	if (can_start(fx, r, NULL))
		start(fx, r);
	else
		g_queue_push_tail(&fx->blocked, r);
}
