// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The send queue of an iSER connection (see iser-conn.h).
 */
#include <endian.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <glib.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "datamover/iser-conn.h"

/*
 * Work requests are taken into send descriptors as they come and posted
 * together by iser_tx_flush(): one ibv_post_send() for a command's window bind
 * and Send, for the invalidations of a batch of responses, for everything
 * queued while corked.
 */

/* Takes free descriptor @c->tx_head for @d and links it into the chain. */
void iser_tx_take(struct dm_conn *c, const struct tx_desc *d)
{
	uint32_t idx = c->tx_head;
	struct ibv_send_wr *wr = &c->wrs[idx];
	struct ibv_sge *sge = &c->sges[2 * (size_t)idx];

	if (d->kind == TX_SEND) {
		uint8_t *slot = c->tx_ring + (size_t)idx * ISER_TX_SLOT;

		memcpy(slot, d->hdr, d->hdr_len);
		memset(wr, 0, sizeof(*wr));
		sge[0] = (struct ibv_sge){
		    .addr = (uintptr_t)slot, .length = d->hdr_len, .lkey = c->tx_lkey};
		sge[1] = (struct ibv_sge){
		    .addr = (uintptr_t)d->data, .length = d->dlen, .lkey = d->lkey};
		wr->sg_list = sge;
		wr->num_sge = d->dlen ? 2 : 1;
		wr->opcode = IBV_WR_SEND;
	} else {
		*wr = d->wr;
	}
	wr->wr_id = WR_ID(WR_TX, idx);
	wr->next = NULL;
	/*
	 * Descriptors are released only by a signalled completion: signal
	 * regularly, always when this takes the last free one, and every
	 * invalidation, whose completion a response waits for.
	 */
	if (++c->tx_unsignaled >= ISER_SIGNAL_EVERY || c->tx_used + 1 == c->sq_depth ||
	    d->kind == TX_INV) {
		wr->send_flags |= IBV_SEND_SIGNALED;
		c->tx_unsignaled = 0;
	}
	c->tx_owned[idx] = d->owned;
	c->tx_inv[idx] = d->inv_seq;
	c->tx_head = (idx + 1) % c->sq_depth;
	c->tx_used++;
	*c->chain_tail = wr;
	c->chain_tail = &wr->next;
	c->chain_len++;
}

/* Gives back the last @n descriptors taken, which were not posted. */
static void tx_untake(struct dm_conn *c, uint32_t n)
{
	while (n--) {
		c->tx_head = (c->tx_head + c->sq_depth - 1) % c->sq_depth;
		c->tx_used--;
		pool_free(c->ctl, c->tx_owned[c->tx_head]);
		c->tx_owned[c->tx_head] = NULL;
		c->tx_inv[c->tx_head] = 0;
	}
}

/* Drops the chain without posting it (the connection is going away). */
void iser_tx_chain_drop(struct dm_conn *c)
{
	tx_untake(c, c->chain_len);
	c->chain = NULL;
	c->chain_tail = &c->chain;
	c->chain_len = 0;
}

/* Posts the chain. On failure what was not posted is given back. */
int iser_tx_flush(struct dm_conn *c)
{
	struct ibv_send_wr *bad = NULL, *wr;
	uint32_t n = 0;
	int rc;

	if (!c->chain)
		return c->failed ? -1 : 0;
	/* Nothing more reaches a QP in the error state, invalidations included. */
	if (c->failed) {
		iser_tx_chain_drop(c);
		return -1;
	}
	rc = ibv_post_send(c->id->qp, c->chain, &bad);
	for (wr = c->chain; wr && wr != bad; wr = wr->next)
		if (wr->opcode == IBV_WR_BIND_MW)
			win_posted(wr);
	if (rc) {
		for (wr = bad; wr; wr = wr->next)
			n++;
		tx_untake(c, n);
	}
	c->chain = NULL;
	c->chain_tail = &c->chain;
	c->chain_len = 0;
	if (rc) {
		iser_fail(c, rc, "cannot post a send: %s", g_strerror(rc));
		return -1;
	}
	return 0;
}

/* Posts now unless corked. */
int iser_tx_kick(struct dm_conn *c)
{
	return c->corked ? (c->failed ? -1 : 0) : iser_tx_flush(c);
}

/*
 * Queues @d: into a descriptor now or, while every descriptor is in use,
 * once one is released. A Send's @d->owned is freed once sent.
 */
int iser_tx_queue(struct dm_conn *c, const struct tx_desc *d)
{
	struct tx_pending *p;

	if (c->failed) {
		pool_free(c->ctl, d->owned);
		return -1;
	}
	if (g_queue_is_empty(&c->tx_backlog) && c->tx_used < c->sq_depth) {
		iser_tx_take(c, d);
		return 0;
	}
	p = g_malloc(sizeof(*p) + d->hdr_len);
	p->d = *d;
	if (d->hdr_len)
		memcpy(p->hdr, d->hdr, d->hdr_len);
	p->d.hdr = p->hdr;
	g_queue_push_tail(&c->tx_backlog, p);
	return 0;
}

int iser_tx_send(struct dm_conn *c, const uint8_t *hdr, uint32_t hdr_len, const void *data,
		 uint32_t dlen, uint32_t lkey, void *owned, struct dm_task *task)
{
	const struct tx_desc d = {
	    .kind = TX_SEND,
	    .task = task,
	    .hdr = hdr,
	    .hdr_len = hdr_len,
	    .data = data,
	    .dlen = dlen,
	    .lkey = lkey,
	    .owned = owned,
	};

	return iser_tx_queue(c, &d);
}

void iser_tx_backlog_flush(struct dm_conn *c)
{
	while (!c->failed && c->tx_used < c->sq_depth && !g_queue_is_empty(&c->tx_backlog)) {
		struct tx_pending *p = g_queue_pop_head(&c->tx_backlog);

		iser_tx_take(c, &p->d);
		g_free(p);
	}
	iser_tx_kick(c);
}

/* A completion for descriptor @idx: it and every older one are done. */
void iser_tx_release(struct dm_conn *c, uint32_t idx)
{
	uint32_t tail = (c->tx_head + c->sq_depth - c->tx_used) % c->sq_depth;
	uint32_t n = (idx + c->sq_depth - tail) % c->sq_depth + 1;

	if (idx >= c->sq_depth || n > c->tx_used)
		return;
	while (n--) {
		pool_free(c->ctl, c->tx_owned[tail]);
		c->tx_owned[tail] = NULL;
		/*
		 * A flushed invalidation counts too: a QP in the error state
		 * lets no RDMA through any more.
		 */
		if (c->tx_inv[tail] > c->inv_done)
			c->inv_done = c->tx_inv[tail];
		c->tx_inv[tail] = 0;
		tail = (tail + 1) % c->sq_depth;
		c->tx_used--;
	}
}

/* Builds the iSER header and BHS (+ AHS) of a PDU to send into @out. */
uint32_t iser_tx_hdr(uint8_t *out, const struct iser_hdr *ih, const uint8_t *bhs, uint32_t dlen)
{
	uint32_t blen = ISCSI_BHS_LEN + ((const struct iscsi_bhs *)bhs)->ahs_len * 4u;

	memcpy(out, ih, sizeof(*ih));
	memcpy(out + sizeof(*ih), bhs, blen);
	iscsi_set_dlength(((struct iscsi_bhs *)(out + sizeof(*ih)))->dlength, dlen);
	return (uint32_t)sizeof(*ih) + blen;
}
