// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The verbs resources of an iSER connection (see iser-conn.h): protection
 * domain, completion queue, queue pair, control memory and receive
 * buffers, and their teardown in the order verbs requires.
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

void iser_tx_pending_free(struct dm_conn *c, struct tx_pending *p)
{
	if (c->ctl)
		pool_free(c->ctl, p->d.owned);
	g_free(p);
}

void iser_tx_backlog_purge(struct dm_conn *c)
{
	struct tx_pending *p;

	while ((p = g_queue_pop_head(&c->tx_backlog)))
		iser_tx_pending_free(c, p);
}

/*
 * Puts the QP into the error state: no more RDMA to or from our memory,
 * and every work request posted comes back flushed. rdma_disconnect() also
 * tells the target; after it disconnected us the QP is moved directly.
 */
void iser_qp_stop(struct dm_conn *c)
{
	struct ibv_qp_attr attr = {.qp_state = IBV_QPS_ERR};

	if (c->connected)
		rdma_disconnect(c->id);
	else if (c->id && c->id->qp)
		ibv_modify_qp(c->id->qp, &attr, IBV_QP_STATE);
	c->connected = false;
}

/* Gives a payload buffer back to the pool, if there still is one. */
static void pool_put(struct dm_conn *c, void *buf)
{
	if (c->pool)
		pool_free(c->pool, buf);
}

/*
 * Frees what belongs to one connection, in the order verbs requires: QP
 * (its windows with it), CM id, CQ, completion channel, the control memory
 * and the bounces. The protection domain and the payload pool go too unless
 * @keep_pool: the iSCSI layer's payload buffers outlive a reset().
 */
void iser_teardown(struct dm_conn *c, bool keep_pool)
{
	GHashTableIter it;
	gpointer v;

	if (c->id && c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->id)
		rdma_destroy_id(c->id);
	c->id = NULL;
	iser_tx_backlog_purge(c);
	g_hash_table_iter_init(&it, c->cmds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct iser_cmd *cmd = v;

		pool_put(c, cmd->bounce_write);
		pool_put(c, cmd->bounce_read);
	}
	g_hash_table_remove_all(c->cmds);
	/* Bound or not, with the QP gone no window leads anywhere. */
	g_clear_pointer(&c->wins, wins_destroy);
	g_ptr_array_set_size(c->rx_chunks, 0);
	g_ptr_array_set_size(c->rx, 0);
	c->rx_posted = 0;
	c->rx_ffp = 0;
	g_clear_pointer(&c->held, g_free);
	c->held_head = 0;
	c->held_count = 0;
	g_clear_pointer(&c->tx_owned, g_free);
	g_clear_pointer(&c->tx_inv, g_free);
	g_clear_pointer(&c->wrs, g_free);
	g_clear_pointer(&c->sges, g_free);
	c->chain = NULL;
	c->chain_tail = &c->chain;
	c->chain_len = 0;
	c->tx_ring = NULL;
	c->tx_head = 0;
	c->tx_used = 0;
	c->tx_unsignaled = 0;
	c->inv_posted = 0;
	c->inv_done = 0;
	/* The send ring, receive buffers and control PDU copies. */
	g_clear_pointer(&c->ctl, pool_destroy);
	if (c->cq) {
		ibv_ack_cq_events(c->cq, c->cq_events);
		c->cq_events = 0;
		ibv_destroy_cq(c->cq);
		c->cq = NULL;
	}
	if (c->comp_ch) {
		ibv_destroy_comp_channel(c->comp_ch);
		c->comp_ch = NULL;
	}
	if (keep_pool)
		return;
	/* The device's: freed with its last connection. */
	c->pool = NULL;
	c->pd = NULL;
	g_clear_pointer(&c->share, iser_share_put);
}

int iser_rx_post(struct dm_conn *c, uint32_t idx)
{
	struct rx_slot *s = g_ptr_array_index(c->rx, idx);
	struct ibv_sge sge = {.addr = (uintptr_t)s->buf, .length = s->size, .lkey = s->lkey};
	struct ibv_recv_wr wr = {.wr_id = WR_ID(WR_RX, idx), .sg_list = &sge, .num_sge = 1};
	struct ibv_recv_wr *bad;
	int rc = ibv_post_recv(c->id->qp, &wr, &bad);

	if (rc) {
		errno = rc;
		return -1;
	}
	c->rx_posted++;
	return 0;
}

/* Adds @count receive buffers of @size bytes, carved from one pool buffer. */
static int rx_add(struct dm_conn *c, uint32_t count, uint32_t size, bool login)
{
	uint8_t *chunk = pool_alloc(c->ctl, (size_t)count * size);
	struct ibv_mr *mr;
	uint32_t i;

	if (!chunk)
		return -1;
	g_ptr_array_add(c->rx_chunks, chunk);
	mr = pool_find(c->ctl, chunk, (size_t)count * size);
	for (i = 0; i < count; i++) {
		struct rx_slot *s = g_new0(struct rx_slot, 1);

		s->buf = chunk + (size_t)i * size;
		s->size = size;
		s->lkey = mr->lkey;
		s->login = login;
		g_ptr_array_add(c->rx, s);
		if (iser_rx_post(c, c->rx->len - 1) < 0)
			return -1;
	}
	return 0;
}

/*
 * Keeps at least @want full-feature receives posted: one per command in
 * flight and a margin. Each is as large as the InitiatorRecvDataSegmentLength
 * we declared, never smaller, or a large PDU would break the connection.
 */
int iser_rx_provision(struct dm_conn *c, uint32_t want)
{
	uint32_t size = (uint32_t)ISER_HDRS_LEN + MAX(c->params.max_recv_dsl, ISER_LOGIN_DSL);
	uint32_t count;

	want = MIN(want, c->rq_depth);
	if (c->rx_ffp >= want)
		return 0;
	size = (size + 63u) & ~63u;
	count = MAX(want - c->rx_ffp, ISER_RX_CHUNK);
	/* Fill the pool buffer: its size class may hold more than asked for. */
	count = (uint32_t)MIN(pool_usable((size_t)count * size) / size, c->rq_depth - c->rx_ffp);
	if (rx_add(c, count, size, false) < 0) {
		c->rx_error = errno ? errno : ENOMEM;
		return -1;
	}
	c->rx_ffp += count;
	return 0;
}

/* Reports a failure of iser_rx_provision() outside set_params(), which has no upcalls. */
int iser_rx_check(struct dm_conn *c)
{
	if (c->rx_error)
		iser_fail(c, c->rx_error, "cannot post receive buffers: %s",
			  g_strerror(c->rx_error));
	return c->failed ? -1 : 0;
}

/* Creates PD, CQ, QP, the pool, the send ring and the login receive. */
int iser_verbs_setup(struct dm_conn *c, char **why)
{
	struct ibv_device_attr da;
	struct ibv_qp_init_attr qa = {0};
	g_autofree char *how = NULL;
	struct ibv_mr *mr;
	int cqe;

	if (ibv_query_device(c->id->verbs, &da)) {
		*why = g_strdup_printf("cannot query the RDMA device: %s", g_strerror(errno));
		return -1;
	}
	c->sq_depth = MIN(ISER_SQ_DEPTH, (uint32_t)da.max_qp_wr);
	c->rq_depth = MIN(ISER_RQ_DEPTH, (uint32_t)da.max_qp_wr);
	cqe = (int)MIN(c->sq_depth + c->rq_depth, (uint32_t)da.max_cqe);
	if (c->share && c->share->ctx != c->id->verbs) {
		*why = g_strdup_printf("the portal now routes to RDMA device %s, not to %s where "
				       "our buffers are registered",
				       ibv_get_device_name(c->id->verbs->device),
				       ibv_get_device_name(c->share->ctx->device));
		return -1;
	}
	if (!c->share) {
		errno = 0;
		c->share = iser_share_get(c->id->verbs, c->budget.max);
		if (!c->share) {
			*why = g_strdup_printf("cannot allocate a protection domain: %s",
					       g_strerror(errno));
			return -1;
		}
	}
	c->pd = c->share->pd;
	c->wins = wins_new(c->pd, ISER_READ_REPLAYS, &how);
	if (!c->pool) {
		/* Payload: reached only through windows (mr mode: per-command MRs). */
		g_debug("iSER: the target reaches each payload buffer through %s", how);
		c->pool =
		    iser_share_pool(c->share, IBV_ACCESS_LOCAL_WRITE |
						  (wins_are_mw(c->wins) ? IBV_ACCESS_MW_BIND : 0));
	}
	c->ctl = pool_new_rdma(c->pd, IBV_ACCESS_LOCAL_WRITE, false, &c->share->budget);
	c->comp_ch = ibv_create_comp_channel(c->id->verbs);
	if (!c->comp_ch || dm_set_nonblock(c->comp_ch->fd) < 0) {
		*why = g_strdup_printf("cannot create a completion channel: %s", g_strerror(errno));
		return -1;
	}
	c->cq = ibv_create_cq(c->id->verbs, cqe, c, c->comp_ch, 0);
	if (!c->cq || ibv_req_notify_cq(c->cq, 0)) {
		*why = g_strdup_printf("cannot create a completion queue of %d entries: %s", cqe,
				       g_strerror(errno));
		return -1;
	}
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = c->sq_depth;
	qa.cap.max_recv_wr = c->rq_depth;
	qa.cap.max_send_sge = 2;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(c->id, c->pd, &qa)) {
		*why = g_strdup_printf("cannot create a queue pair: %s", g_strerror(errno));
		return -1;
	}
	c->tx_ring = pool_alloc(c->ctl, (size_t)c->sq_depth * ISER_TX_SLOT);
	if (!c->tx_ring) {
		*why = g_strdup_printf("cannot register the send ring: %s", g_strerror(errno));
		return -1;
	}
	g_debug("iSER: send ring at 0x%016lx, %zu bytes", (unsigned long)(uintptr_t)c->tx_ring,
		(size_t)c->sq_depth * ISER_TX_SLOT);
	mr = pool_find(c->ctl, c->tx_ring, (size_t)c->sq_depth * ISER_TX_SLOT);
	c->tx_lkey = mr->lkey;
	c->tx_owned = g_new0(void *, c->sq_depth);
	c->tx_inv = g_new0(uint64_t, c->sq_depth);
	c->wrs = g_new0(struct ibv_send_wr, c->sq_depth);
	c->sges = g_new0(struct ibv_sge, 2 * (size_t)c->sq_depth);
	c->held = g_new0(struct rx_held, c->rq_depth);
	if (rx_add(c, 1, (uint32_t)ISER_HDRS_LEN + ISER_LOGIN_DSL, true) < 0) {
		*why = g_strdup_printf("cannot post the login receive: %s", g_strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Sends that completed unsignalled leave no completion behind, so the QP,
 * now in the error state, gets one more send, signalled: its flush
 * completion releases every descriptor before it. When the ring is full
 * its last send is signalled already.
 */
static void drain_mark_sends(struct dm_conn *c)
{
	struct ibv_send_wr wr = {
	    .wr_id = WR_ID(WR_TX, c->tx_head),
	    .opcode = IBV_WR_SEND,
	    .send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad;

	if (!c->tx_used || c->tx_used == c->sq_depth || ibv_post_send(c->id->qp, &wr, &bad))
		return;
	c->tx_head = (c->tx_head + 1) % c->sq_depth;
	c->tx_used++;
}

/*
 * Waits, at most ISER_DRAIN_MS, until every posted work request has come
 * back flushed from the QP in the error state, so that none is in flight
 * while the memory behind it goes away.
 */
static void drain(struct dm_conn *c)
{
	gint64 deadline = g_get_monotonic_time() + ISER_DRAIN_MS * 1000LL;

	drain_mark_sends(c);
	for (;;) {
		struct pollfd pfd = {.fd = c->comp_ch->fd, .events = POLLIN};
		gint64 left;
		struct ibv_cq *cq;
		void *ctx;

		iser_cq_drain(c);
		if (!c->rx_posted && !c->tx_used)
			return;
		if (ibv_req_notify_cq(c->cq, 0))
			return;
		if (iser_cq_drain(c))
			continue;
		left = deadline - g_get_monotonic_time();
		if (left <= 0) {
			g_debug("iSER: %u receives and %u sends not flushed after %d ms",
				c->rx_posted, c->tx_used, ISER_DRAIN_MS);
			return;
		}
		if (poll(&pfd, 1, (int)((left + 999) / 1000)) < 0 && errno != EINTR)
			return;
		while (ibv_get_cq_event(c->comp_ch, &cq, &ctx) == 0)
			c->cq_events++;
	}
}

/* Closes the connection; from here on no upcall. */
void iser_shutdown(struct dm_conn *c, bool keep_pool)
{
	c->failed = true;
	iser_connect_end(c);
	iser_qp_stop(c);
	iser_tx_chain_drop(c);
	if (c->cq && c->id && c->id->qp)
		drain(c);
	iser_teardown(c, keep_pool);
	if (c->cm_ch) {
		rdma_destroy_event_channel(c->cm_ch);
		c->cm_ch = NULL;
	}
}
