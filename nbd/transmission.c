/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transmission phase: each request header is validated, then turned
 * into one asynchronous call of the initiator; its callback builds the
 * reply and queues it. Replies go out in completion order.
 *
 * Payload is never copied: READ data lands in a buffer from
 * isa_buf_alloc() and the reply is sent from it (reply header and buffer
 * in one sendmsg); WRITE payload is received from the socket straight
 * into such a buffer, and the SCSI WRITE is issued only once all of it
 * arrived, so a client vanishing mid-payload causes no write.
 *
 * Choices where the spec leaves room (the same as nbdkit's):
 * - length 0 is NBD_EINVAL for every command that takes a range;
 * - past the end is NBD_ENOSPC for WRITE and WRITE_ZEROES (what the spec
 *   asks of writes), NBD_EINVAL for the others;
 * - a WRITE refused before its payload (bad range, read-only, over the
 *   32 MiB maximum) has its payload read and thrown away, unless it is
 *   over 64 MiB: then the connection is closed instead;
 * - FUA on TRIM and WRITE_ZEROES is honoured with a flush afterwards
 *   (WRITE SAME and UNMAP have no FUA bit).
 * With structured replies every error is an NBD_REPLY_TYPE_ERROR chunk
 * with a message; without, a simple reply.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nbd/internal.h"

#define KNOWN_FLAGS                                                                                \
	(NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_DF | NBD_CMD_FLAG_REQ_ONE |        \
	 NBD_CMD_FLAG_FAST_ZERO)

static uint32_t nbd_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case EPERM:
	case EROFS:
		return NBD_EPERM;
	case EIO:
		return NBD_EIO;
	case ENOMEM:
		return NBD_ENOMEM;
	case EINVAL:
		return NBD_EINVAL;
	case ENOSPC:
		return NBD_ENOSPC;
	case EOVERFLOW:
		return NBD_EOVERFLOW;
	case ENOTSUP:
		return NBD_ENOTSUP;
	case ESHUTDOWN:
		return NBD_ESHUTDOWN;
	/*
	 * ENOTCONN: the session failed for good (the replacement timeout
	 * ran out). That is an I/O error for the client, not the server
	 * shutting down, which NBD_ESHUTDOWN would tell it.
	 */
	default:
		return NBD_EIO;
	}
}

void nbd_tx_start(struct nbd_conn *c)
{
	c->eflags = nbd_export_flags(c->srv, c->structured);
	nbd_conn_expect(c, NBD_RX_REQ_HDR, sizeof(struct nbd_request));
}

void nbd_req_free(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;

	if (r->buf)
		isa_buf_free(r->s, r->buf, r->buf_len);
	g_free(r->bs);
	if (c) {
		c->nreqs--;
		c->nbytes -= r->buf_len;
	}
	g_free(r);
	if (c)
		nbd_conn_maybe_release(c);
}

/*
 * The server is going away before the initiator answers these requests:
 * they free themselves when their callback comes.
 */
void nbd_tx_orphan(struct nbd_conn *c)
{
	GList *l;

	while ((l = g_queue_pop_head_link(&c->inflight))) {
		struct nbd_req *r = l->data;

		r->conn = NULL;
		c->nreqs--;
		c->nbytes -= r->buf_len;
		c->ninflight--;
		c->srv->inflight--;
	}
}

/* Payload buffer of @len bytes for @r, counted against the connection's budget. */
static bool req_buf(struct nbd_req *r, size_t len)
{
	r->buf = isa_buf_alloc(r->s, len);
	if (!r->buf)
		return false;
	r->buf_len = len;
	r->conn->nbytes += len;
	return true;
}

static void *msg_hdr(struct nbd_req *r, size_t len)
{
	struct nbd_msg *m = &r->msg;

	m->req = r;
	m->iov[0].iov_base = m->hdr;
	m->iov[0].iov_len = len;
	m->niov = 1;
	return m->hdr;
}

static void msg_add(struct nbd_req *r, void *p, size_t len)
{
	struct nbd_msg *m = &r->msg;

	m->iov[m->niov].iov_base = p;
	m->iov[m->niov].iov_len = len;
	m->niov++;
}

static void structured_hdr(struct nbd_structured_reply *h, const struct nbd_req *r, uint16_t type,
			   uint32_t len)
{
	h->magic = htobe32(NBD_STRUCTURED_REPLY_MAGIC);
	h->flags = htobe16(NBD_REPLY_FLAG_DONE);
	h->type = htobe16(type);
	h->cookie = r->cookie;
	h->len = htobe32(len);
}

/* Queue the reply of @r and send what the socket takes. */
static void send_reply(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;

	c->srv->stats.requests++;
	/* Nobody to answer: this may free the connection too. */
	if (c->fd < 0) {
		nbd_req_free(r);
		return;
	}
	nbd_conn_queue(c, &r->msg);
	if (!c->srv->hold)
		nbd_conn_flush(c);
}

static void reply_error(struct nbd_req *r, int err, const char *text)
{
	struct nbd_server *srv = r->conn->srv;
	uint32_t e = nbd_errno(err);

	srv->stats.errors++;
	if (r->conn->structured) {
		struct {
			struct nbd_structured_reply h;
			struct nbd_chunk_error ce;
		} __attribute__((packed)) *p = msg_hdr(r, sizeof(*p));
		size_t len;

		g_strlcpy(r->errmsg, text ? text : g_strerror(err < 0 ? -err : err),
			  sizeof(r->errmsg));
		len = strlen(r->errmsg);
		structured_hdr(&p->h, r, NBD_REPLY_TYPE_ERROR, (uint32_t)(sizeof(p->ce) + len));
		p->ce.error = htobe32(e);
		p->ce.msg_len = htobe16((uint16_t)len);
		if (len)
			msg_add(r, r->errmsg, len);
	} else {
		struct nbd_simple_reply *h = msg_hdr(r, sizeof(*h));

		h->magic = htobe32(NBD_SIMPLE_REPLY_MAGIC);
		h->error = htobe32(e);
		h->cookie = r->cookie;
	}
	send_reply(r);
}

static void reply_ok(struct nbd_req *r)
{
	struct nbd_server *srv = r->conn->srv;

	if (r->type == NBD_CMD_READ && r->conn->structured) {
		struct {
			struct nbd_structured_reply h;
			uint64_t offset;
		} __attribute__((packed)) *p = msg_hdr(r, sizeof(*p));

		structured_hdr(&p->h, r, NBD_REPLY_TYPE_OFFSET_DATA, 8 + r->len);
		p->offset = htobe64(r->offset);
		msg_add(r, r->buf, r->len);
	} else {
		struct nbd_simple_reply *h = msg_hdr(r, sizeof(*h));

		h->magic = htobe32(NBD_SIMPLE_REPLY_MAGIC);
		h->error = 0;
		h->cookie = r->cookie;
		if (r->type == NBD_CMD_READ)
			msg_add(r, r->buf, r->len);
	}
	if (r->type == NBD_CMD_READ)
		srv->stats.bytes_read += r->len;
	else if (r->type == NBD_CMD_WRITE)
		srv->stats.bytes_written += r->len;
	send_reply(r);
}

static void inflight_add(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;

	r->link.data = r;
	g_queue_push_tail_link(&c->inflight, &r->link);
	c->ninflight++;
	c->srv->inflight++;
}

/* Take @r back from the initiator; false if it was orphaned (and is now freed). */
static bool inflight_done(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;

	if (!c) {
		nbd_req_free(r);
		return false;
	}
	g_queue_unlink(&c->inflight, &r->link);
	c->ninflight--;
	c->srv->inflight--;
	if (r->orphan)
		nbd_fence_done(r);
	return true;
}

static void req_done(void *opaque, int err, const char *msg)
{
	struct nbd_req *r = opaque;

	if (!inflight_done(r))
		return;
	if (!err && r->flush_after) {
		r->flush_after = false;
		inflight_add(r);
		err = isa_flush(r->conn->srv->l, req_done, r);
		if (!err)
			return;
		inflight_done(r);
		msg = "cannot flush after the request";
	}
	if (err)
		reply_error(r, err, msg);
	else
		reply_ok(r);
}

static void status_done(void *opaque, int err, const char *msg, const struct isa_extent *ext,
			size_t n)
{
	struct nbd_req *r = opaque;
	struct nbd_server *srv;
	struct nbd_block_descriptor *d;
	uint64_t pos, end;
	uint32_t hole;
	size_t i, nd = 0;

	if (!inflight_done(r))
		return;
	srv = r->conn->srv;
	if (err) {
		reply_error(r, err, msg);
		return;
	}
	hole = NBD_STATE_HOLE | (srv->info.zeroes_after_unmap ? NBD_STATE_ZERO : 0);
	pos = r->offset;
	end = r->offset + r->len;
	r->bs = g_malloc(4 + sizeof(*d) * MAX(n, 1));
	d = (struct nbd_block_descriptor *)(void *)(r->bs + 4);
	for (i = 0; i < n && pos < end; i++) {
		uint64_t len;
		uint32_t flags = ext[i].allocated ? 0 : hole;

		/* Extents must continue where the last one ended; stop at anything else. */
		if (ext[i].offset != pos || !ext[i].length)
			break;
		len = MIN(ext[i].length, end - pos);
		if (nd && d[nd - 1].flags == flags) {
			d[nd - 1].len += (uint32_t)len;
		} else {
			d[nd].len = (uint32_t)len;
			d[nd].flags = flags;
			nd++;
		}
		pos += len;
		if (r->flags & NBD_CMD_FLAG_REQ_ONE)
			break;
	}
	if (!nd) {
		reply_error(r, -EIO, "the target reported no extent at the offset asked");
		return;
	}
	for (i = 0; i < nd; i++) {
		d[i].len = htobe32(d[i].len);
		d[i].flags = htobe32(d[i].flags);
	}
	{
		uint32_t id = htobe32(NBD_CONTEXT_BASE_ALLOCATION);
		size_t plen = 4 + nd * sizeof(*d);
		struct nbd_structured_reply *h = msg_hdr(r, sizeof(*h));

		memcpy(r->bs, &id, 4);
		structured_hdr(h, r, NBD_REPLY_TYPE_BLOCK_STATUS, (uint32_t)plen);
		msg_add(r, r->bs, plen);
	}
	send_reply(r);
}

/*
 * Check a request against the protocol and the export; 0 or a positive
 * errno with *@why saying what is wrong.
 */
static int validate(struct nbd_conn *c, const struct nbd_req *r, const char **why)
{
	const struct nbd_server *srv = c->srv;
	uint64_t size = srv->info.blocks * srv->info.block_size;
	uint32_t bs = srv->info.block_size;
	uint16_t f = r->flags;
	bool write =
	    r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM || r->type == NBD_CMD_WRITE_ZEROES;

	switch (r->type) {
	case NBD_CMD_READ:
	case NBD_CMD_WRITE:
	case NBD_CMD_FLUSH:
	case NBD_CMD_TRIM:
	case NBD_CMD_WRITE_ZEROES:
	case NBD_CMD_BLOCK_STATUS:
		break;
	default:
		*why = "unknown or unsupported command";
		return EINVAL;
	}
	if (f & ~KNOWN_FLAGS) {
		*why = "unknown command flags";
		return EINVAL;
	}
	if ((f & NBD_CMD_FLAG_FUA) && !(c->eflags & NBD_FLAG_SEND_FUA)) {
		*why = "FUA was not negotiated";
		return EINVAL;
	}
	if ((f & (NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO)) &&
	    r->type != NBD_CMD_WRITE_ZEROES) {
		*why = "NO_HOLE and FAST_ZERO are for WRITE_ZEROES only";
		return EINVAL;
	}
	if ((f & NBD_CMD_FLAG_DF) && (r->type != NBD_CMD_READ || !(c->eflags & NBD_FLAG_SEND_DF))) {
		*why = "DF is for READ with structured replies only";
		return EINVAL;
	}
	if ((f & NBD_CMD_FLAG_REQ_ONE) && r->type != NBD_CMD_BLOCK_STATUS) {
		*why = "REQ_ONE is for BLOCK_STATUS only";
		return EINVAL;
	}
	if (write && (c->eflags & NBD_FLAG_READ_ONLY)) {
		*why = "the export is read-only";
		return EPERM;
	}
	if ((r->type == NBD_CMD_TRIM && !(c->eflags & NBD_FLAG_SEND_TRIM)) ||
	    (r->type == NBD_CMD_WRITE_ZEROES && !(c->eflags & NBD_FLAG_SEND_WRITE_ZEROES)) ||
	    ((f & NBD_CMD_FLAG_FAST_ZERO) && !(c->eflags & NBD_FLAG_SEND_FAST_ZERO))) {
		*why = "command not offered by this export";
		return EINVAL;
	}
	if (r->type == NBD_CMD_BLOCK_STATUS && !(c->structured && c->base_allocation)) {
		*why = "base:allocation was not negotiated";
		return EINVAL;
	}
	if (r->type == NBD_CMD_FLUSH) {
		if (r->offset || r->len) {
			*why = "FLUSH takes neither offset nor length";
			return EINVAL;
		}
		return 0;
	}
	if (!r->len) {
		*why = "zero length";
		return EINVAL;
	}
	if (r->offset % bs || r->len % bs) {
		*why = "offset or length not a multiple of the minimum block size";
		return EINVAL;
	}
	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) && r->len > NBD_MAX_PAYLOAD) {
		*why = "length over the maximum block size";
		return EINVAL;
	}
	if ((r->offset > size || r->len > size - r->offset) && r->offset <= c->size_told &&
	    r->len <= c->size_told - r->offset) {
		/* The LUN shrank under a client told the old size: an I/O error for it. */
		*why = "beyond the end of the LUN, which shrank since this client connected";
		return EIO;
	}
	if (r->offset > size || r->len > size - r->offset) {
		*why = "beyond the end of the export";
		return r->type == NBD_CMD_WRITE || r->type == NBD_CMD_WRITE_ZEROES ? ENOSPC
										   : EINVAL;
	}
	/* A zero is fast only when the target deallocates and reads back zeroes. */
	if ((f & NBD_CMD_FLAG_FAST_ZERO) &&
	    ((f & NBD_CMD_FLAG_NO_HOLE) || !srv->info.can_write_same_unmap ||
	     !srv->info.zeroes_after_unmap)) {
		*why = "zeroing would not be fast";
		return ENOTSUP;
	}
	return 0;
}

/* Hand @r, counted in flight, to the initiator; a refusal is answered at once. */
static void issue(struct nbd_req *r)
{
	struct nbd_server *srv = r->conn->srv;
	unsigned zf = (r->flags & NBD_CMD_FLAG_NO_HOLE ? 0 : ISA_REQ_MAY_UNMAP) |
		      (r->flags & NBD_CMD_FLAG_FAST_ZERO ? ISA_REQ_FAST_ZERO : 0);
	int rc;

	switch (r->type) {
	case NBD_CMD_READ:
		rc = isa_read(srv->l, r->offset, r->len, r->buf, req_done, r);
		break;
	case NBD_CMD_WRITE:
		rc = isa_write(srv->l, r->offset, r->len, r->buf,
			       r->flags & NBD_CMD_FLAG_FUA ? ISA_REQ_FUA : 0, req_done, r);
		break;
	case NBD_CMD_FLUSH:
		rc = isa_flush(srv->l, req_done, r);
		break;
	case NBD_CMD_TRIM:
		r->flush_after = r->flags & NBD_CMD_FLAG_FUA;
		rc = isa_unmap(srv->l, r->offset, r->len, req_done, r);
		break;
	case NBD_CMD_WRITE_ZEROES:
		r->flush_after = r->flags & NBD_CMD_FLAG_FUA;
		rc = isa_write_zeroes(srv->l, r->offset, r->len, zf, req_done, r);
		break;
	default:
		rc = isa_block_status(srv->l, r->offset, r->len, status_done, r);
		break;
	}
	if (rc < 0) {
		inflight_done(r);
		reply_error(r, rc, "the initiator refused the request");
	}
}

/* In flight from now; to the initiator unless it must wait (fence.c). */
static void submit(struct nbd_req *r)
{
	inflight_add(r);
	if (!nbd_fence_hold(r))
		issue(r);
}

void nbd_tx_drop_held(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;
	bool open = c->fd >= 0;

	inflight_done(r);
	nbd_req_free(r);
	/*
	 * No reply goes out for it: a connection at EOF that waited only for
	 * this request closes now (the flush finds nothing left to answer).
	 */
	if (open)
		nbd_conn_flush(c);
}

void nbd_tx_submit_held(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;

	/* Its socket was dropped meanwhile: the driver sends it again. */
	if (c->fd < 0 || c->lost_told) {
		nbd_tx_drop_held(r);
		return;
	}
	issue(r);
}

static void req_start(struct nbd_req *r);
static void req_go(struct nbd_req *r, int err, const char *why);

void nbd_tx_request(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;
	struct nbd_request h;
	struct nbd_req *r;
	const char *why = NULL;
	int err;

	memcpy(&h, c->rx, sizeof(h));
	nbd_conn_expect(c, NBD_RX_REQ_HDR, sizeof(struct nbd_request));
	/* Without the magic nothing after it can be trusted: hard disconnect. */
	if (be32toh(h.magic) != NBD_REQUEST_MAGIC) {
		nbd_conn_close(c);
		return;
	}
	r = g_new0(struct nbd_req, 1);
	r->conn = c;
	r->s = srv->s;
	r->cookie = h.cookie;
	r->offset = be64toh(h.offset);
	r->len = be32toh(h.len);
	r->type = be16toh(h.type);
	r->flags = be16toh(h.flags);
	c->nreqs++;
	c->taken++;
	if (r->type == NBD_CMD_DISC) {
		c->said_disc = true;
		nbd_req_free(r);
		nbd_conn_stop_reading(c);
		return;
	}
	if (r->type == NBD_CMD_WRITE && r->len > NBD_MAX_DISCARD) {
		nbd_req_free(r);
		nbd_conn_close(c);
		return;
	}
	err = validate(c, r, &why);
	if (err) {
		req_go(r, err, why);
		return;
	}
	req_start(r);
}

/*
 * Gives @r its payload buffer and goes on with it. When the pinned-memory
 * bound keeps it from having one now (EAGAIN), the connection stops reading
 * and waits: nbd_tx_retry_waiting() tries again once buffers came back.
 */
static void req_start(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;

	if ((r->type == NBD_CMD_READ || r->type == NBD_CMD_WRITE) && !req_buf(r, r->len)) {
		if (errno == EAGAIN) {
			c->waiting = r;
			nbd_conn_update(c);
			return;
		}
		req_go(r, ENOMEM, "out of buffer memory");
		return;
	}
	req_go(r, 0, NULL);
}

void nbd_tx_retry_waiting(struct nbd_conn *c)
{
	struct nbd_req *r = c->waiting;

	c->waiting = NULL;
	req_start(r);
	if (!c->waiting)
		nbd_conn_update(c);
}

/* Goes on with @r, refused with @err (and @why) unless @err is 0. */
static void req_go(struct nbd_req *r, int err, const char *why)
{
	struct nbd_conn *c = r->conn;

	if (err && r->type == NBD_CMD_WRITE && r->len) {
		/* Clients take no reply before they sent the whole request. */
		r->err = err;
		r->why = why;
		c->cur = r;
		nbd_conn_expect(c, NBD_RX_DISCARD, r->len);
		return;
	}
	if (err) {
		reply_error(r, err, why);
		return;
	}
	if (r->type == NBD_CMD_WRITE) {
		c->cur = r;
		nbd_conn_expect(c, NBD_RX_PAYLOAD, r->len);
		return;
	}
	submit(r);
}

void nbd_tx_payload_done(struct nbd_conn *c)
{
	struct nbd_req *r = c->cur;
	bool refused = c->rx_state == NBD_RX_DISCARD;

	c->cur = NULL;
	nbd_conn_expect(c, NBD_RX_REQ_HDR, sizeof(struct nbd_request));
	if (refused)
		reply_error(r, r->err, r->why);
	else
		submit(r);
}
