// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The iSER datamover (RFC 7145) over rdma-core: iSCSI control PDUs travel in
 * RDMA Send messages behind a 28-byte iSER header, and SCSI payload moves by
 * RDMA: the target writes read data straight into the caller's buffer and
 * reads write data straight out of it, through the STag (rkey) and address
 * the command's iSER header advertises. Payload buffers come from a pool
 * registered once (pool.c), so no I/O registers memory and nothing is copied
 * unless a caller hands in memory the pool did not give out.
 *
 * One reliable connected QP per connection, one CQ with a completion channel.
 * The fd the session polls is an epoll fd of ours holding the completion
 * channel and the RDMA CM event channel. Sends are signalled selectively:
 * send descriptors form a ring used in order, and a signalled completion
 * releases every descriptor up to it. Receives are posted before the peer
 * can send: one login-sized buffer during login (requests and responses
 * alternate), then, in full feature phase, buffers as large as the
 * InitiatorRecvDataSegmentLength we declared, kept at least as many as
 * commands in flight plus a margin for NOP-In, asynchronous messages and
 * rejects.
 *
 * As the Linux initiator does, we send no iSER Hello: login runs over the
 * RDMA connection at once, and the CM private data tells the target that
 * our addresses are not zero based and that it must not invalidate STags.
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
#include <glib.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "datamover/datamover.h"
#include "datamover/iser-msg.h"
#include "datamover/iser-proto.h"
#include "datamover/netutil.h"
#include "datamover/pool.h"

/* RFC 7143 12.12: 8192 bytes during login. */
#define ISER_LOGIN_DSL 8192u
/*
 * Most payload one Send carries. LIO agrees to any TargetRecvDataSegmentLength
 * but its receive buffers hold 8192 bytes (RFC 7145's default) and a larger
 * Send kills the connection; the kernel initiator never sends more either.
 * What immediate data does not fit, the target RDMA-Reads.
 */
#define ISER_SEND_DSL 8192u
#define ISER_MAX_AHS  (255u * 4u)
/* A send descriptor: iSER header, BHS and the largest AHS, cache aligned. */
#define ISER_TX_SLOT 1152u
_Static_assert(ISER_TX_SLOT >= ISER_HDRS_LEN + ISER_MAX_AHS, "send slot too small");
#define ISER_SQ_DEPTH 512u
#define ISER_RQ_DEPTH 512u
/* Receives kept beyond commands in flight: NOP-In, async messages, rejects. */
#define ISER_RX_SPARE 16u
/* Full-feature receives are added this many at a time, at least. */
#define ISER_RX_CHUNK 32u
/* Every so many sends one is signalled, to release send descriptors. */
#define ISER_SIGNAL_EVERY 32u
#define ISER_CQ_BATCH	  16
/* Completion events are acknowledged in batches (the ack takes a lock). */
#define ISER_ACK_EVERY 64u
/* tgt's iSER targets hold one pre-registered buffer of 512 KiB per command. */
#define ISER_MAX_TRANSFER (512u << 10)
/* How long destroy() waits for the flushed work requests. */
#define ISER_DRAIN_MS 2000
/* How long the --transport auto probe may take to resolve a loopback address. */
#define ISER_PROBE_MS 2000
/*
 * Local ACK timeout of our QP, 4.096 us * 2^17 = 537 ms, and how often a
 * send is retried before it fails with IBV_WC_RETRY_EXC_ERR: a target
 * that stopped answering fails the connection after 7 * 537 ms = 3.8 s
 * with I/O outstanding, instead of when the NOP-Out ping times out.
 * Without the option rdma_cm derives the timeout from the path, on RoCE
 * from a packet life time built into the kernel (CMA_IBOE_PACKET_LIFETIME,
 * which has changed between versions). The retry count
 * is 6, not 7: rdma_rxe takes 7 for "retry forever" (rxe_comp.c, as the
 * IBTA defines only for the RNR retry count), so that on soft-RoCE a QP
 * whose peer has gone never fails at all.
 */
#define ISER_ACK_TIMEOUT 17
#define ISER_RETRY_COUNT 6

/* wr_id: the kind of work request in the high half, its slot in the low. */
#define WR_TX		 1ull
#define WR_RX		 2ull
#define WR_ID(kind, idx) ((kind) << 32 | (uint32_t)(idx))

#define DM_ISER_ERROR (g_quark_from_static_string("dm-iser-error"))

/**
 * struct tx_pending - a Send waiting for a free send descriptor.
 * @task: the task whose write buffer @data points into, or NULL
 * @data: payload gathered after the header, or NULL
 * @dlen: its length
 * @lkey: its local key
 * @owned: a pool buffer of control-PDU data, freed once sent
 * @hdr_len: bytes of @hdr
 * @hdr: iSER header, BHS and AHS
 */
struct tx_pending {
	struct dm_task *task;
	const void *data;
	uint32_t dlen;
	uint32_t lkey;
	void *owned;
	uint32_t hdr_len;
	uint8_t hdr[];
};

/**
 * struct rx_slot - one receive buffer.
 * @buf: the buffer, in the pool
 * @size: its length
 * @lkey: its local key
 * @login: the login buffer, retired after the final Login Response
 */
struct rx_slot {
	uint8_t *buf;
	uint32_t size;
	uint32_t lkey;
	bool login;
};

/**
 * struct iser_cmd - what we keep of a SCSI command until it is forgotten.
 * @bounce_write: pool copy of a write buffer that lies outside the pool
 * @bounce_read: pool buffer receiving read data for a read buffer outside
 *		 the pool, copied out when the SCSI Response arrives
 * @answered: the target answered (SCSI Response or Reject), so it no longer
 *	      touches the buffers it was given
 */
struct iser_cmd {
	void *bounce_write;
	void *bounce_read;
	bool answered;
};

/**
 * struct dm_conn - an iSER connection to one target portal.
 * @up: the iSCSI layer's upcalls
 * @epfd: what get_fd() returns: @cm_ch and @comp_ch
 * @cm_ch: RDMA CM event channel
 * @id: the connection's CM id; its QP is @id->qp
 * @pd: protection domain of the QP and the pool
 * @comp_ch: completion channel of @cq
 * @cq: send and receive completions
 * @cq_events: completion events not yet acknowledged
 * @connect_step: where a connect under way is (see iser_connect)
 * @connect_res: the addresses it tries, @connect_ai the one now tried
 * @connect_errs: why each address tried so far failed
 * @connect_ms: how long each resolution step may take
 * @connected: established and not yet disconnected by either side
 * @failed: failed() has been called, or destroy() runs; nothing more moves
 * @params: negotiated values (login defaults until set_params)
 * @params_set: set_params() has been called
 * @pool: registered payload buffers, the send ring and receive buffers
 * @pool_kept: @pool and @pd outlive the connection: once one came up, the
 *	       iSCSI layer may hold buffers from it across a reset()
 * @sq_depth: send descriptors (work requests the send queue holds)
 * @tx_ring: @sq_depth send descriptors of ISER_TX_SLOT bytes, in the pool
 * @tx_lkey: their local key
 * @tx_owned: per descriptor, control data to free once it is released
 * @tx_head: next descriptor to use
 * @tx_used: descriptors posted and not yet released
 * @tx_unsignaled: sends posted since the last signalled one
 * @tx_backlog: struct tx_pending, oldest first, while no descriptor is free
 * @rq_depth: most receives posted at once
 * @rx: struct rx_slot; the index is the wr_id
 * @rx_chunks: the pool buffers the receive buffers are carved from
 * @rx_posted: receives posted and not yet completed
 * @rx_ffp: full-feature receive buffers
 * @rx_error: errno of a failure to add receive buffers, reported by rx_check()
 * @cmds: struct dm_task * -> struct iser_cmd, commands sent and not forgotten
 * @copied: payload bytes bounced (see dm_ops.stats_copied)
 */
struct dm_conn {
	struct dm_upcalls up;
	int epfd;
	struct rdma_event_channel *cm_ch;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *comp_ch;
	struct ibv_cq *cq;
	unsigned int cq_events;
	int connect_step;
	struct addrinfo *connect_res;
	struct addrinfo *connect_ai;
	GString *connect_errs;
	int connect_ms;
	bool connected;
	bool failed;
	struct dm_params params;
	bool params_set;
	struct dm_pool *pool;
	bool pool_kept;
	uint32_t sq_depth;
	uint8_t *tx_ring;
	uint32_t tx_lkey;
	void **tx_owned;
	uint32_t tx_head;
	uint32_t tx_used;
	uint32_t tx_unsignaled;
	GQueue tx_backlog;
	uint32_t rq_depth;
	GPtrArray *rx;
	GPtrArray *rx_chunks;
	uint32_t rx_posted;
	uint32_t rx_ffp;
	int rx_error;
	GHashTable *cmds;
	uint64_t copied;
};

static void tx_pending_free(struct dm_conn *c, struct tx_pending *p)
{
	pool_free(c->pool, p->owned);
	g_free(p);
}

static void tx_backlog_purge(struct dm_conn *c)
{
	struct tx_pending *p;

	while ((p = g_queue_pop_head(&c->tx_backlog)))
		tx_pending_free(c, p);
}

/*
 * Puts the QP into the error state: no more RDMA to or from our memory,
 * and every work request posted comes back flushed. rdma_disconnect() also
 * tells the target; after it disconnected us the QP is moved directly.
 */
static void qp_stop(struct dm_conn *c)
{
	struct ibv_qp_attr attr = {.qp_state = IBV_QPS_ERR};

	if (c->connected)
		rdma_disconnect(c->id);
	else if (c->id && c->id->qp)
		ibv_modify_qp(c->id->qp, &attr, IBV_QP_STATE);
	c->connected = false;
}

/*
 * Marks the connection dead and tells the iSCSI layer, once. The QP goes to
 * the error state at once (rdma_disconnect), so that the target can no
 * longer reach buffers the iSCSI layer is about to give back.
 */
static void G_GNUC_PRINTF(3, 4) dm_fail(struct dm_conn *c, int err, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	if (c->failed)
		return;
	c->failed = true;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	qp_stop(c);
	tx_backlog_purge(c);
	c->up.failed(c->up.opaque, err, msg);
}

/* The values in force during login, before set_params(). */
static void params_login(struct dm_conn *c)
{
	memset(&c->params, 0, sizeof(c->params));
	c->params.max_recv_dsl = ISER_LOGIN_DSL;
	c->params.max_xmit_dsl = ISER_LOGIN_DSL;
	c->params.first_burst = 65536;
	c->params.max_burst = 262144;
	c->params.max_outstanding_r2t = 1;
	c->params_set = false;
}

static struct dm_conn *iser_create(const struct dm_upcalls *up)
{
	struct dm_conn *c = g_new0(struct dm_conn, 1);

	c->up = *up;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (c->epfd < 0) {
		g_free(c);
		return NULL;
	}
	params_login(c);
	c->connect_errs = g_string_new(NULL);
	g_queue_init(&c->tx_backlog);
	c->rx = g_ptr_array_new_with_free_func(g_free);
	c->rx_chunks = g_ptr_array_new();
	c->cmds = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	return c;
}

/* Names a CM event that is not the one we waited for, for messages. */
static char *cm_what(enum rdma_cm_event_type type, int status)
{
	switch (type) {
	case RDMA_CM_EVENT_REJECTED:
		/* IB CM reject reason 8: invalid service ID, i.e. no listener. */
		return g_strdup_printf("connection refused by the target%s (RDMA CM reject, "
				       "status %d)",
				       status == 8 ? ": nothing listens for iSER there" : "",
				       status);
	case RDMA_CM_EVENT_UNREACHABLE:
		return g_strdup_printf("target unreachable (%s)",
				       g_strerror(status < 0 ? -status : ETIMEDOUT));
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		return g_strdup_printf("%s (%s)", rdma_event_str(type),
				       g_strerror(status < 0 ? -status : EIO));
	default:
		return g_strdup_printf("unexpected %s", rdma_event_str(type));
	}
}

/* Gives a buffer back to the pool, if there still is one. */
static void pool_put(struct dm_conn *c, void *buf)
{
	if (c->pool)
		pool_free(c->pool, buf);
}

/*
 * Frees what belongs to one connection, in the order verbs requires: QP,
 * CM id, CQ, completion channel, and the buffers of the send ring, the
 * receives and bounces. The protection domain and the pool go too unless
 * @keep_pool: the iSCSI layer's payload buffers outlive a reset().
 */
static void conn_teardown(struct dm_conn *c, bool keep_pool)
{
	GHashTableIter it;
	gpointer v;
	guint i;

	if (c->id && c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->id)
		rdma_destroy_id(c->id);
	c->id = NULL;
	tx_backlog_purge(c);
	g_hash_table_iter_init(&it, c->cmds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct iser_cmd *cmd = v;

		pool_put(c, cmd->bounce_write);
		pool_put(c, cmd->bounce_read);
	}
	g_hash_table_remove_all(c->cmds);
	for (i = 0; i < c->rx_chunks->len; i++)
		pool_put(c, g_ptr_array_index(c->rx_chunks, i));
	g_ptr_array_set_size(c->rx_chunks, 0);
	g_ptr_array_set_size(c->rx, 0);
	c->rx_posted = 0;
	c->rx_ffp = 0;
	for (i = 0; c->tx_owned && i < c->sq_depth; i++)
		pool_put(c, c->tx_owned[i]);
	g_clear_pointer(&c->tx_owned, g_free);
	pool_put(c, c->tx_ring);
	c->tx_ring = NULL;
	c->tx_head = 0;
	c->tx_used = 0;
	c->tx_unsignaled = 0;
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
	g_clear_pointer(&c->pool, pool_destroy);
	if (c->pd) {
		ibv_dealloc_pd(c->pd);
		c->pd = NULL;
	}
}

static int rx_post(struct dm_conn *c, uint32_t idx)
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
	uint8_t *chunk = pool_alloc(c->pool, (size_t)count * size);
	struct ibv_mr *mr;
	uint32_t i;

	if (!chunk)
		return -1;
	g_ptr_array_add(c->rx_chunks, chunk);
	mr = pool_find(c->pool, chunk, (size_t)count * size);
	for (i = 0; i < count; i++) {
		struct rx_slot *s = g_new0(struct rx_slot, 1);

		s->buf = chunk + (size_t)i * size;
		s->size = size;
		s->lkey = mr->lkey;
		s->login = login;
		g_ptr_array_add(c->rx, s);
		if (rx_post(c, c->rx->len - 1) < 0)
			return -1;
	}
	return 0;
}

/*
 * Keeps at least @want full-feature receives posted: one per command in
 * flight and a margin. Each is as large as the InitiatorRecvDataSegmentLength
 * we declared, never smaller, or a large PDU would break the connection.
 */
static int rx_provision(struct dm_conn *c, uint32_t want)
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

/* Reports a failure of rx_provision() outside set_params(), which has no upcalls. */
static int rx_check(struct dm_conn *c)
{
	if (c->rx_error)
		dm_fail(c, c->rx_error, "cannot post receive buffers: %s", g_strerror(c->rx_error));
	return c->failed ? -1 : 0;
}

/* Creates PD, CQ, QP, the pool, the send ring and the login receive. */
static int verbs_setup(struct dm_conn *c, char **why)
{
	struct ibv_device_attr da;
	struct ibv_qp_init_attr qa = {0};
	struct ibv_mr *mr;
	int cqe;

	if (ibv_query_device(c->id->verbs, &da)) {
		*why = g_strdup_printf("cannot query the RDMA device: %s", g_strerror(errno));
		return -1;
	}
	c->sq_depth = MIN(ISER_SQ_DEPTH, (uint32_t)da.max_qp_wr);
	c->rq_depth = MIN(ISER_RQ_DEPTH, (uint32_t)da.max_qp_wr);
	cqe = (int)MIN(c->sq_depth + c->rq_depth, (uint32_t)da.max_cqe);
	if (c->pd && c->pd->context != c->id->verbs) {
		*why = g_strdup_printf("the portal now routes to RDMA device %s, not to %s where "
				       "our buffers are registered",
				       ibv_get_device_name(c->id->verbs->device),
				       ibv_get_device_name(c->pd->context->device));
		return -1;
	}
	if (!c->pd) {
		c->pd = ibv_alloc_pd(c->id->verbs);
		if (!c->pd) {
			*why = g_strdup_printf("cannot allocate a protection domain: %s",
					       g_strerror(errno));
			return -1;
		}
		c->pool = pool_new(c->pd);
	}
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
	c->tx_ring = pool_alloc(c->pool, (size_t)c->sq_depth * ISER_TX_SLOT);
	if (!c->tx_ring) {
		*why = g_strdup_printf("cannot register the send ring: %s", g_strerror(errno));
		return -1;
	}
	g_debug("iSER: send ring at 0x%016lx, %zu bytes", (unsigned long)(uintptr_t)c->tx_ring,
		(size_t)c->sq_depth * ISER_TX_SLOT);
	mr = pool_find(c->pool, c->tx_ring, (size_t)c->sq_depth * ISER_TX_SLOT);
	c->tx_lkey = mr->lkey;
	c->tx_owned = g_new0(void *, c->sq_depth);
	if (rx_add(c, 1, (uint32_t)ISER_HDRS_LEN + ISER_LOGIN_DSL, true) < 0) {
		*why = g_strdup_printf("cannot post the login receive: %s", g_strerror(errno));
		return -1;
	}
	return 0;
}

/* What the QP got from rdma_cm: how long a dead peer takes to notice. */
static void qp_log_timers(struct dm_conn *c)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;

	if (ibv_query_qp(c->id->qp, &a, IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY, &ia))
		return;
	g_debug("iSER: QP %u: ACK timeout %u (%.0f ms), retry count %u, RNR retry count %u",
		c->id->qp->qp_num, a.timeout,
		a.timeout ? 4.096e-3 * (double)(1ull << a.timeout) : 0.0, a.retry_cnt, a.rnr_retry);
}

/*
 * Connecting never blocks (name resolution aside). connect() resolves the
 * name and starts on the first address: an RDMA CM id, then address
 * resolution; everything after is driven by CM events in cm_service():
 *
 *   ADDR_RESOLVED  -> route resolution
 *   ROUTE_RESOLVED -> PD (first time), CQ, QP, login receive; rdma_connect
 *   ESTABLISHED    -> the target's CM reply checked; connected()
 *   anything else  -> this address failed: next address, or failed()
 *
 * The session times the attempt out by resetting the connection.
 */
enum connect_step {
	CONNECT_NONE,
	CONNECT_ADDR,
	CONNECT_ROUTE,
	CONNECT_ESTABLISH,
};

static void connect_note(struct dm_conn *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void connect_note(struct dm_conn *c, const char *fmt, ...)
{
	const struct addrinfo *ai = c->connect_ai;
	g_autofree char *where = dm_addr_str(ai->ai_addr, ai->ai_addrlen);
	g_autofree char *why = NULL;
	va_list ap;

	va_start(ap, fmt);
	why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (c->connect_errs->len)
		g_string_append(c->connect_errs, "; ");
	g_string_append_printf(c->connect_errs, "connect to %s over iSER: %s", where, why);
}

/* Milliseconds rdma_resolve_*() may take. */
static int step_ms(const struct dm_conn *c)
{
	return c->connect_ms > 0 ? c->connect_ms : 2000;
}

/*
 * Starts on the addresses from @ai on, undoing what an earlier one left.
 * Returns 0 while one is under way, -1 when every one failed at once.
 */
static int connect_from(struct dm_conn *c, struct addrinfo *ai)
{
	uint8_t ack_timeout = ISER_ACK_TIMEOUT;

	for (; ai; ai = ai->ai_next) {
		conn_teardown(c, c->pool_kept);
		c->connect_ai = ai;
		if (rdma_create_id(c->cm_ch, &c->id, c, RDMA_PS_TCP)) {
			c->id = NULL;
			connect_note(c, "cannot create an RDMA CM id: %s", g_strerror(errno));
			continue;
		}
		/* Before route resolution: on RoCE it also sets the path's life time. */
		if (rdma_set_option(c->id, RDMA_OPTION_ID, RDMA_OPTION_ID_ACK_TIMEOUT, &ack_timeout,
				    sizeof(ack_timeout))) {
			connect_note(c, "cannot set the ACK timeout: %s", g_strerror(errno));
			continue;
		}
		if (rdma_resolve_addr(c->id, NULL, ai->ai_addr, step_ms(c))) {
			connect_note(c, "address resolution: %s", g_strerror(errno));
			continue;
		}
		c->connect_step = CONNECT_ADDR;
		return 0;
	}
	conn_teardown(c, c->pool_kept);
	c->connect_step = CONNECT_NONE;
	return -1;
}

static void connect_end(struct dm_conn *c)
{
	if (c->connect_res)
		freeaddrinfo(c->connect_res);
	c->connect_res = NULL;
	c->connect_ai = NULL;
	c->connect_step = CONNECT_NONE;
}

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int iser_connect(struct dm_conn *c, const char *host, uint16_t port, int timeout_ms,
			GError **error)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV,
	};
	char serv[8];
	int rc;

	if (c->id || c->failed || c->cm_ch) {
		g_set_error(error, DM_ISER_ERROR, EISCONN, "connect to %s:%u: already used", host,
			    port);
		return -1;
	}
	snprintf(serv, sizeof(serv), "%u", port);
	rc = getaddrinfo(host, serv, &hints, &c->connect_res);
	if (rc) {
		c->connect_res = NULL;
		g_set_error(error, DM_ISER_ERROR, rc == EAI_SYSTEM ? errno : ENOENT,
			    "cannot resolve %s: %s", host,
			    rc == EAI_SYSTEM ? g_strerror(errno) : gai_strerror(rc));
		return -1;
	}
	c->cm_ch = rdma_create_event_channel();
	if (!c->cm_ch || dm_set_nonblock(c->cm_ch->fd) < 0 ||
	    epoll_add(c->epfd, c->cm_ch->fd) < 0) {
		g_set_error(error, DM_ISER_ERROR, errno, "connect to %s:%u over iSER: %s", host,
			    port, g_strerror(errno));
		goto fail;
	}
	c->connect_ms = timeout_ms;
	g_string_truncate(c->connect_errs, 0);
	if (connect_from(c, c->connect_res) < 0) {
		g_set_error_literal(error, DM_ISER_ERROR, ECONNREFUSED, c->connect_errs->str);
		goto fail;
	}
	return 0;
fail:
	connect_end(c);
	if (c->cm_ch)
		rdma_destroy_event_channel(c->cm_ch);
	c->cm_ch = NULL;
	return -1;
}

/* Route resolved: the verbs objects, then the connect request. */
static int connect_request(struct dm_conn *c)
{
	struct iser_cm_hdr priv = {.flags = ISER_CM_ZBVA_NOT_SUP | ISER_CM_SEND_W_INV_NOT_SUP};
	struct rdma_conn_param cp = {0};
	struct ibv_device_attr da;
	g_autofree char *why = NULL;

	if (verbs_setup(c, &why) < 0) {
		connect_note(c, "%s", why);
		return -1;
	}
	if (epoll_add(c->epfd, c->comp_ch->fd) < 0) {
		connect_note(c, "epoll: %s", g_strerror(errno));
		return -1;
	}
	if (ibv_query_device(c->id->verbs, &da)) {
		connect_note(c, "cannot query the RDMA device: %s", g_strerror(errno));
		return -1;
	}
	/*
	 * The target sizes its outstanding RDMA Reads (our Data-Out) by what
	 * we accept as responder; 0 would leave it none.
	 */
	cp.responder_resources = (uint8_t)CLAMP(da.max_qp_rd_atom, 1, 255);
	cp.initiator_depth = (uint8_t)CLAMP(da.max_qp_init_rd_atom, 1, 255);
	cp.retry_count = ISER_RETRY_COUNT;
	cp.rnr_retry_count = 6;
	cp.private_data = &priv;
	cp.private_data_len = sizeof(priv);
	if (rdma_connect(c->id, &cp)) {
		connect_note(c, "rdma_connect: %s", g_strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * One CM event of a connect under way. Returns 1 once connected, 0 while
 * under way, -1 when this address failed.
 */
static int connect_event(struct dm_conn *c, const struct rdma_cm_event *ev)
{
	uint8_t flags;
	int reply;

	switch (c->connect_step) {
	case CONNECT_ADDR:
		if (ev->event != RDMA_CM_EVENT_ADDR_RESOLVED) {
			connect_note(c, "address resolution: %s",
				     g_strerror(ev->status < 0 ? -ev->status : EIO));
			return -1;
		}
		if (rdma_resolve_route(c->id, step_ms(c))) {
			connect_note(c, "route resolution: %s", g_strerror(errno));
			return -1;
		}
		c->connect_step = CONNECT_ROUTE;
		return 0;
	case CONNECT_ROUTE:
		if (ev->event != RDMA_CM_EVENT_ROUTE_RESOLVED) {
			connect_note(c, "route resolution: %s",
				     g_strerror(ev->status < 0 ? -ev->status : EIO));
			return -1;
		}
		if (connect_request(c) < 0)
			return -1;
		c->connect_step = CONNECT_ESTABLISH;
		return 0;
	case CONNECT_ESTABLISH:
		if (ev->event != RDMA_CM_EVENT_ESTABLISHED) {
			g_autofree char *what = cm_what(ev->event, ev->status);

			connect_note(c, "%s", what);
			return -1;
		}
		reply = iser_cm_reply_flags(ev->param.conn.private_data,
					    ev->param.conn.private_data_len, &flags) < 0
			    ? -1
			    : flags;
		if (reply < 0) {
			connect_note(c, "the target's iSER connection data is shorter than its "
					"header");
			return -1;
		}
		/*
		 * LIO answers with the flags of what it will not use; tgt sends
		 * no data (no flags). Either way our STags must not be
		 * invalidated, as we asked; a Send with Invalidate would still
		 * be caught at completion.
		 */
		g_debug("iSER: the target %s ZBVA and %s Send with Invalidate",
			reply & ISER_CM_ZBVA_NOT_SUP ? "does not use" : "did not rule out",
			reply & ISER_CM_SEND_W_INV_NOT_SUP ? "does not use" : "did not rule out");
		c->connected = true;
		c->pool_kept = true;
		qp_log_timers(c);
		return 1;
	case CONNECT_NONE:
		break;
	}
	return 0;
}

static int iser_get_fd(struct dm_conn *c)
{
	return c->epfd;
}

static uint32_t iser_which_events(struct dm_conn *c)
{
	return c->failed || !c->cm_ch ? 0 : EPOLLIN;
}

/* Posts one Send from free descriptor @c->tx_head. */
static int tx_post(struct dm_conn *c, const uint8_t *hdr, uint32_t hdr_len, const void *data,
		   uint32_t dlen, uint32_t lkey, void *owned)
{
	uint32_t idx = c->tx_head;
	uint8_t *slot = c->tx_ring + (size_t)idx * ISER_TX_SLOT;
	struct ibv_sge sge[2] = {
	    {.addr = (uintptr_t)slot, .length = hdr_len, .lkey = c->tx_lkey},
	    {.addr = (uintptr_t)data, .length = dlen, .lkey = lkey},
	};
	struct ibv_send_wr wr = {
	    .wr_id = WR_ID(WR_TX, idx),
	    .sg_list = sge,
	    .num_sge = dlen ? 2 : 1,
	    .opcode = IBV_WR_SEND,
	};
	struct ibv_send_wr *bad;
	int rc;

	memcpy(slot, hdr, hdr_len);
	/*
	 * Descriptors are released only by a signalled completion: signal
	 * regularly, and always when this send takes the last free one.
	 */
	if (++c->tx_unsignaled >= ISER_SIGNAL_EVERY || c->tx_used + 1 == c->sq_depth) {
		wr.send_flags = IBV_SEND_SIGNALED;
		c->tx_unsignaled = 0;
	}
	rc = ibv_post_send(c->id->qp, &wr, &bad);
	if (rc) {
		pool_free(c->pool, owned);
		dm_fail(c, rc, "cannot post a send: %s", g_strerror(rc));
		return -1;
	}
	c->tx_owned[idx] = owned;
	c->tx_head = (idx + 1) % c->sq_depth;
	c->tx_used++;
	return 0;
}

/*
 * Sends @hdr (iSER header, BHS, AHS) followed by @data, now or, while every
 * descriptor is in use, once one is released. @owned is freed once sent.
 */
static int tx_send(struct dm_conn *c, const uint8_t *hdr, uint32_t hdr_len, const void *data,
		   uint32_t dlen, uint32_t lkey, void *owned, struct dm_task *task)
{
	struct tx_pending *p;

	if (c->failed) {
		pool_free(c->pool, owned);
		return -1;
	}
	if (g_queue_is_empty(&c->tx_backlog) && c->tx_used < c->sq_depth)
		return tx_post(c, hdr, hdr_len, data, dlen, lkey, owned);
	p = g_malloc(sizeof(*p) + hdr_len);
	p->task = task;
	p->data = data;
	p->dlen = dlen;
	p->lkey = lkey;
	p->owned = owned;
	p->hdr_len = hdr_len;
	memcpy(p->hdr, hdr, hdr_len);
	g_queue_push_tail(&c->tx_backlog, p);
	return 0;
}

static void tx_backlog_flush(struct dm_conn *c)
{
	while (!c->failed && c->tx_used < c->sq_depth && !g_queue_is_empty(&c->tx_backlog)) {
		struct tx_pending *p = g_queue_pop_head(&c->tx_backlog);

		tx_post(c, p->hdr, p->hdr_len, p->data, p->dlen, p->lkey, p->owned);
		g_free(p);
	}
}

/* A completion for descriptor @idx: it and every older one are done. */
static void tx_release(struct dm_conn *c, uint32_t idx)
{
	uint32_t tail = (c->tx_head + c->sq_depth - c->tx_used) % c->sq_depth;
	uint32_t n = (idx + c->sq_depth - tail) % c->sq_depth + 1;

	if (idx >= c->sq_depth || n > c->tx_used)
		return;
	while (n--) {
		pool_free(c->pool, c->tx_owned[tail]);
		c->tx_owned[tail] = NULL;
		tail = (tail + 1) % c->sq_depth;
		c->tx_used--;
	}
}

/* Builds the iSER header and BHS (+ AHS) of a PDU to send into @out. */
static uint32_t tx_hdr(uint8_t *out, const struct iser_hdr *ih, const uint8_t *bhs, uint32_t dlen)
{
	uint32_t blen = ISCSI_BHS_LEN + ((const struct iscsi_bhs *)bhs)->ahs_len * 4u;

	memcpy(out, ih, sizeof(*ih));
	memcpy(out + sizeof(*ih), bhs, blen);
	iscsi_set_dlength(((struct iscsi_bhs *)(out + sizeof(*ih)))->dlength, dlen);
	return (uint32_t)sizeof(*ih) + blen;
}

static int iser_send_pdu(struct dm_conn *c, const uint8_t *bhs, const void *data, uint32_t dlen)
{
	struct iser_hdr ih = {.flags = ISER_TYPE_CONTROL};
	uint8_t hdr[ISER_TX_SLOT];
	uint32_t hlen, lkey = 0;
	void *copy = NULL;

	if (c->failed || !c->connected)
		return -1;
	if (dlen > c->params.max_xmit_dsl || (dlen && !data))
		return -1;
	if (dlen) {
		copy = pool_alloc(c->pool, dlen);
		if (!copy) {
			dm_fail(c, ENOMEM, "out of registered memory for a %u-byte PDU", dlen);
			return -1;
		}
		memcpy(copy, data, dlen);
		lkey = pool_find(c->pool, copy, dlen)->lkey;
	}
	hlen = tx_hdr(hdr, &ih, bhs, dlen);
	return tx_send(c, hdr, hlen, copy, dlen, lkey, copy, NULL);
}

/*
 * The memory region through which the target reaches @buf, or, when the
 * caller's buffer lies outside the pool, a bounce buffer from the pool in
 * its place (@copy_in: with the caller's bytes). *@use is what to advertise.
 */
static struct ibv_mr *place(struct dm_conn *c, const void *buf, uint32_t len, bool copy_in,
			    void **bounce, const uint8_t **use)
{
	struct ibv_mr *mr = pool_find(c->pool, buf, len);

	if (mr) {
		*use = buf;
		return mr;
	}
	*bounce = pool_alloc(c->pool, len);
	if (!*bounce)
		return NULL;
	if (copy_in) {
		memcpy(*bounce, buf, len);
		c->copied += len;
	}
	*use = *bounce;
	return pool_find(c->pool, *bounce, len);
}

/* Unsolicited Data-Out for [@off, @end) of the write buffer at @wbuf, as Sends. */
static int tx_data_out(struct dm_conn *c, struct dm_task *task, const uint8_t *wbuf, uint32_t lkey,
		       uint32_t off, uint32_t end)
{
	const struct iser_hdr ih = {.flags = ISER_TYPE_CONTROL};
	uint8_t hdr[ISER_TX_SLOT];
	uint32_t datasn = 0;

	while (off < end) {
		uint32_t len = MIN(end - off, MIN(c->params.max_xmit_dsl, ISER_SEND_DSL));
		struct iscsi_data_out h = {.opcode = ISCSI_OP_DATA_OUT};
		uint32_t hlen;

		if (off + len == end)
			h.flags = ISCSI_FLAG_FINAL;
		memcpy(h.lun, task->lun, sizeof(h.lun));
		h.itt = htonl(task->itt);
		h.ttt = htonl(ISCSI_RESERVED_TAG);
		h.exp_statsn = htonl(c->up.exp_statsn(c->up.opaque));
		h.datasn = htonl(datasn++);
		h.offset = htonl(off);
		hlen = tx_hdr(hdr, &ih, (const uint8_t *)&h, len);
		if (tx_send(c, hdr, hlen, wbuf + off, len, lkey, NULL, task) < 0)
			return -1;
		off += len;
	}
	return 0;
}

/*
 * The command goes out as one Send with its immediate data gathered from
 * the write buffer; the header advertises the read buffer (RSV) and the
 * part of the write buffer after the unsolicited data (WSV), which the
 * target then RDMA-Writes and RDMA-Reads without asking (no R2T on iSER).
 * Immediate data beyond ISER_SEND_DSL is left to the RDMA Read when no
 * Data-Out follows it: how much of the first burst goes immediate is ours
 * to choose.
 */
static int iser_send_command(struct dm_conn *c, const uint8_t *bhs, struct dm_task *task)
{
	struct iser_hdr ih = {.flags = ISER_TYPE_CONTROL};
	uint8_t hdr[ISER_TX_SLOT];
	const uint8_t *wbuf = NULL, *rbuf = NULL;
	struct ibv_mr *wmr = NULL, *rmr;
	struct iser_cmd *cmd;
	uint32_t hlen, imm, unsol;

	if (c->failed || !c->connected || rx_check(c) < 0)
		return -1;
	if (task->imm_len > task->unsol_len || task->unsol_len > task->write_len ||
	    task->imm_len > c->params.max_xmit_dsl || (task->write_len && !task->write_buf) ||
	    (task->read_len && !task->read_buf) || g_hash_table_contains(c->cmds, task))
		return -1;
	imm = MIN(task->imm_len, ISER_SEND_DSL);
	unsol = task->unsol_len == task->imm_len ? imm : task->unsol_len;
	cmd = g_new0(struct iser_cmd, 1);
	g_hash_table_insert(c->cmds, task, cmd);
	if (task->write_len) {
		wmr = place(c, task->write_buf, task->write_len, true, &cmd->bounce_write, &wbuf);
		if (!wmr)
			goto nomem;
		if (task->write_len > unsol) {
			ih.flags |= ISER_WSV;
			ih.write_stag = htonl(wmr->rkey);
			ih.write_va = htobe64((uintptr_t)(wbuf + unsol));
		}
	}
	if (task->read_len) {
		rmr = place(c, task->read_buf, task->read_len, false, &cmd->bounce_read, &rbuf);
		if (!rmr)
			goto nomem;
		ih.flags |= ISER_RSV;
		ih.read_stag = htonl(rmr->rkey);
		ih.read_va = htobe64((uintptr_t)rbuf);
	}
	hlen = tx_hdr(hdr, &ih, bhs, imm);
	if (tx_send(c, hdr, hlen, wbuf, imm, wmr ? wmr->lkey : 0, NULL, task) < 0 ||
	    tx_data_out(c, task, wbuf, wmr ? wmr->lkey : 0, imm, unsol) < 0)
		return -1;
	rx_provision(c, g_hash_table_size(c->cmds) + ISER_RX_SPARE);
	return rx_check(c);

nomem:
	dm_fail(c, ENOMEM, "out of registered memory for a %u-byte bounce buffer: %s",
		MAX(task->read_len, task->write_len), g_strerror(errno));
	return -1;
}

static void iser_forget_task(struct dm_conn *c, struct dm_task *task)
{
	GList *l = c->tx_backlog.head;
	struct iser_cmd *cmd;

	while (l) {
		GList *next = l->next;
		struct tx_pending *p = l->data;

		if (p->task == task) {
			g_queue_delete_link(&c->tx_backlog, l);
			tx_pending_free(c, p);
		}
		l = next;
	}
	cmd = g_hash_table_lookup(c->cmds, task);
	if (!cmd)
		return;
	/*
	 * The target may still RDMA into or out of buffers the caller is about
	 * to reuse: only a dead QP stops it.
	 */
	if (!cmd->answered)
		dm_fail(c, ECANCELED, "a SCSI command was given up before the target answered it");
	pool_free(c->pool, cmd->bounce_write);
	pool_free(c->pool, cmd->bounce_read);
	g_hash_table_remove(c->cmds, task);
}

/*
 * Called with no upcall allowed (see rx_check()). The full-feature
 * receives are posted here, before any command can provoke a response.
 */
static void iser_set_params(struct dm_conn *c, const struct dm_params *p)
{
	c->params = *p;
	/* Below the RFC minimum is a caller bug; 0 would never finish a burst. */
	c->params.max_xmit_dsl = MAX(p->max_xmit_dsl, ISCSI_MIN_MRDSL);
	c->params_set = true;
	if (!c->failed && c->connected)
		rx_provision(c, ISER_RX_CHUNK + ISER_RX_SPARE);
}

/* Final Login Response: transit to full feature phase, status success. */
static bool is_final_login(const uint8_t *bhs)
{
	const struct iscsi_login_rsp *r = (const void *)bhs;

	return (r->opcode & ISCSI_OPCODE_MASK) == ISCSI_OP_LOGIN_RSP &&
	       (r->flags & ISCSI_LOGIN_TRANSIT) &&
	       (r->flags & ISCSI_LOGIN_NSG_MASK) == ISCSI_STAGE_FULL_FEATURE &&
	       r->status_class == ISCSI_LOGIN_CLASS_SUCCESS;
}

/*
 * Before the iSCSI layer sees an answer to a command: note that the target
 * is done with the command's buffers and bring bounced read data home.
 */
static void rx_answered(struct dm_conn *c, const uint8_t *bhs, const uint8_t *data, uint32_t dlen)
{
	uint8_t op = bhs[0] & ISCSI_OPCODE_MASK;
	const struct iscsi_bhs *h = (const void *)bhs;
	struct dm_task *task;
	struct iser_cmd *cmd;

	if (op == ISCSI_OP_REJECT) {
		if (dlen < ISCSI_BHS_LEN || (data[0] & ISCSI_OPCODE_MASK) != ISCSI_OP_SCSI_CMD)
			return;
		h = (const void *)data;
	} else if (op != ISCSI_OP_SCSI_RSP) {
		return;
	}
	task = c->up.find_task(c->up.opaque, ntohl(h->itt));
	cmd = task ? g_hash_table_lookup(c->cmds, task) : NULL;
	if (!cmd)
		return;
	cmd->answered = true;
	if (op == ISCSI_OP_SCSI_RSP && cmd->bounce_read) {
		const struct iscsi_scsi_rsp *r = (const void *)bhs;
		uint32_t n = task->read_len;

		if (r->flags & ISCSI_RSP_UNDERFLOW)
			n -= MIN(ntohl(r->residual_count), n);
		memcpy(task->read_buf, cmd->bounce_read, n);
		c->copied += n;
		task->read_placed = n;
	} else if (op == ISCSI_OP_SCSI_RSP) {
		const struct iscsi_scsi_rsp *r = (const void *)bhs;

		task->read_placed = task->read_len;
		if (r->flags & ISCSI_RSP_UNDERFLOW)
			task->read_placed -= MIN(ntohl(r->residual_count), task->read_len);
	}
}

/* A receive completed with @len bytes in slot @idx: check, deliver, re-post. */
static void rx_complete(struct dm_conn *c, uint32_t idx, uint32_t len)
{
	struct rx_slot *s;
	struct iser_msg m;
	char why[160];
	bool final;

	if (idx >= c->rx->len) {
		dm_fail(c, EPROTO, "receive completion for an unknown buffer");
		return;
	}
	s = g_ptr_array_index(c->rx, idx);
	if (len > s->size) {
		dm_fail(c, EPROTO, "iSER message of %u bytes in a %u-byte receive buffer", len,
			s->size);
		return;
	}
	if (iser_msg_parse(s->buf, len, c->params_set ? c->params.max_recv_dsl : ISER_LOGIN_DSL, &m,
			   why, sizeof(why)) < 0) {
		dm_fail(c, EPROTO, "%s", why);
		return;
	}
	final = s->login && is_final_login(m.bhs);
	rx_answered(c, m.bhs, m.data, m.dlen);
	if (c->up.pdu(c->up.opaque, m.bhs, m.ahs, m.ahs_len, m.data, m.dlen) < 0)
		dm_fail(c, EPROTO, "%s rejected by the iSCSI layer", iscsi_opcode_name(m.op));
	if (c->failed)
		return;
	/*
	 * Login requests and responses alternate, so one login receive is
	 * enough; after the last one the full-feature receives take over.
	 */
	if (final)
		return;
	if (rx_post(c, idx) < 0)
		dm_fail(c, errno, "cannot post a receive: %s", g_strerror(errno));
}

static const char *wr_kind(uint64_t wr_id)
{
	return wr_id >> 32 == WR_RX ? "receive" : "send";
}

/* Acts on one completion; after a failure only the accounting. */
static void cq_handle(struct dm_conn *c, const struct ibv_wc *wc)
{
	uint32_t idx = (uint32_t)wc->wr_id;
	bool rx = wc->wr_id >> 32 == WR_RX;

	if (rx)
		c->rx_posted--;
	else
		tx_release(c, idx);
	if (wc->status != IBV_WC_SUCCESS) {
		dm_fail(c, EIO, "%s completion failed: %s (vendor error 0x%x)", wr_kind(wc->wr_id),
			ibv_wc_status_str(wc->status), wc->vendor_err);
		return;
	}
	/*
	 * Our STags belong to a pool registered once for the connection's
	 * life: we asked the target never to invalidate them (CM flags).
	 */
	if (rx && (wc->wc_flags & IBV_WC_WITH_INV)) {
		dm_fail(c, EPROTO,
			"the target invalidated STag 0x%08x with a Send, which we asked it not to",
			wc->invalidated_rkey);
		return;
	}
	if (rx && !c->failed)
		rx_complete(c, idx, wc->byte_len);
}

/* Polls the CQ until it is empty; returns how many completions there were. */
static unsigned int cq_drain(struct dm_conn *c)
{
	struct ibv_wc wc[ISER_CQ_BATCH];
	unsigned int total = 0;
	int n, i;

	do {
		n = ibv_poll_cq(c->cq, ISER_CQ_BATCH, wc);
		if (n < 0) {
			dm_fail(c, EIO, "polling the completion queue failed");
			return total;
		}
		for (i = 0; i < n; i++)
			cq_handle(c, &wc[i]);
		total += (unsigned int)n;
	} while (n == ISER_CQ_BATCH);
	return total;
}

/*
 * Consumes the completion event, then polls, re-arms and polls again. The
 * CQ is armed and empty whenever this returns, so every later completion
 * raises an event: without one there is nothing to poll.
 */
static void cq_service(struct dm_conn *c)
{
	struct ibv_cq *cq;
	void *ctx;

	/* One arm, one event; another one left keeps the fd readable. */
	if (ibv_get_cq_event(c->comp_ch, &cq, &ctx) == 0)
		c->cq_events++;
	if (c->cq_events >= ISER_ACK_EVERY) {
		ibv_ack_cq_events(c->cq, c->cq_events);
		c->cq_events = 0;
	}
	cq_drain(c);
	if (ibv_req_notify_cq(c->cq, 0)) {
		dm_fail(c, EIO, "cannot arm the completion queue");
		return;
	}
	/* What completed between the last poll and the re-arm raised no event. */
	cq_drain(c);
	tx_backlog_flush(c);
}

static void cm_service(struct dm_conn *c)
{
	struct rdma_cm_event *ev;

	while (!c->failed && rdma_get_cm_event(c->cm_ch, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;

		if (c->connect_step != CONNECT_NONE) {
			int rc = connect_event(c, ev);

			rdma_ack_cm_event(ev);
			if (rc == 1) {
				connect_end(c);
				c->up.connected(c->up.opaque);
			} else if (rc < 0 && connect_from(c, c->connect_ai->ai_next) < 0) {
				connect_end(c);
				dm_fail(c, ECONNREFUSED, "%s", c->connect_errs->str);
			}
			continue;
		}
		rdma_ack_cm_event(ev);
		switch (type) {
		case RDMA_CM_EVENT_DISCONNECTED:
			/*
			 * The target's last Send (say, a Login Response that
			 * refuses us) may sit in the CQ with no completion
			 * event seen yet: take it before calling the link dead.
			 */
			cq_drain(c);
			c->connected = false;
			if (!c->failed)
				dm_fail(c, ECONNRESET, "connection closed by target");
			break;
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			dm_fail(c, ENODEV, "the RDMA device was removed");
			break;
		default:
			g_debug("iSER: RDMA CM event %s ignored", rdma_event_str(type));
			break;
		}
	}
}

/*
 * Asks our epoll fd which channel is ready: one system call instead of a
 * failing read on each.
 */
static int iser_service(struct dm_conn *c, uint32_t revents)
{
	struct epoll_event ev[2];
	bool cq_ready = false, cm_ready = false;
	int n, i;

	(void)revents;
	if (c->failed || !c->cm_ch)
		return -1;
	n = epoll_wait(c->epfd, ev, G_N_ELEMENTS(ev), 0);
	for (i = 0; i < n; i++) {
		if (c->comp_ch && ev[i].data.fd == c->comp_ch->fd)
			cq_ready = true;
		else
			cm_ready = true;
	}
	/* Completions first: responses that came before a disconnect count. */
	if (cq_ready)
		cq_service(c);
	if (cm_ready)
		cm_service(c);
	rx_check(c);
	return c->failed ? -1 : 0;
}

static void *iser_buf_alloc(struct dm_conn *c, size_t len)
{
	return c && c->pool ? pool_alloc(c->pool, len) : NULL;
}

static void iser_buf_free(struct dm_conn *c, void *buf, size_t len)
{
	(void)len;
	if (c && c->pool)
		pool_free(c->pool, buf);
}

static uint64_t iser_stats_pinned(struct dm_conn *c)
{
	return pool_pinned(c->pool);
}

static uint64_t iser_stats_copied(struct dm_conn *c)
{
	return c->copied;
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

		cq_drain(c);
		if (!c->rx_posted && !c->tx_used)
			return;
		if (ibv_req_notify_cq(c->cq, 0))
			return;
		if (cq_drain(c))
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
static void conn_shutdown(struct dm_conn *c, bool keep_pool)
{
	c->failed = true;
	connect_end(c);
	qp_stop(c);
	if (c->cq && c->id && c->id->qp)
		drain(c);
	conn_teardown(c, keep_pool);
	if (c->cm_ch) {
		rdma_destroy_event_channel(c->cm_ch);
		c->cm_ch = NULL;
	}
}

/*
 * Back to a fresh connection object for session recovery. The protection
 * domain and the pool stay, so the payload buffers the iSCSI layer holds
 * keep their registration; the next connect() must reach the same device.
 */
static void iser_reset(struct dm_conn *c)
{
	conn_shutdown(c, true);
	c->failed = false;
	c->rx_error = 0;
	params_login(c);
}

static void iser_destroy(struct dm_conn *c)
{
	if (!c)
		return;
	conn_shutdown(c, false);
	close(c->epfd);
	g_string_free(c->connect_errs, TRUE);
	g_ptr_array_unref(c->rx);
	g_ptr_array_unref(c->rx_chunks);
	g_hash_table_unref(c->cmds);
	g_free(c);
}

const struct dm_ops dm_iser_ops = {
    .name = "iser",
    .create = iser_create,
    .connect = iser_connect,
    .get_fd = iser_get_fd,
    .which_events = iser_which_events,
    .service = iser_service,
    .send_pdu = iser_send_pdu,
    .send_command = iser_send_command,
    .forget_task = iser_forget_task,
    .set_params = iser_set_params,
    .buf_alloc = iser_buf_alloc,
    .buf_free = iser_buf_free,
    .stats_copied = iser_stats_copied,
    .stats_pinned = iser_stats_pinned,
    .reset = iser_reset,
    .destroy = iser_destroy,
    .max_transfer = ISER_MAX_TRANSFER,
};

/*
 * The local address the kernel would send to @sa from, found by connecting
 * a UDP socket (which sends nothing): a route lookup, no ARP.
 */
static int local_source(const struct sockaddr *sa, socklen_t len, struct sockaddr_storage *src,
			char **why)
{
	socklen_t slen = sizeof(*src);
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, sa, len) < 0 || getsockname(fd, (struct sockaddr *)src, &slen)) {
		*why = g_strdup_printf("no route: %s", g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * The probe's blocking helpers: --transport auto decides before the
 * session starts, so waiting here holds up nothing but the attach itself.
 */
/*
 * Waits for the next event of @ch until @deadline (monotonic, us) and
 * acknowledges it at once: rdma_destroy_id() waits for every event of its
 * id to be acknowledged, so none is ever kept. Returns 0 with *@type and
 * *@status, or -1 with errno (ETIMEDOUT at the deadline). When @reply is
 * not NULL and the event is ESTABLISHED, the target's iSER CM flags go to
 * *@reply (-1 when its private data is too short to hold them).
 */
static int cm_wait(struct rdma_event_channel *ch, gint64 deadline, enum rdma_cm_event_type *type,
		   int *status, int *reply)
{
	for (;;) {
		struct pollfd pfd = {.fd = ch->fd, .events = POLLIN};
		gint64 left = deadline - g_get_monotonic_time();
		struct rdma_cm_event *ev;
		int n;

		if (rdma_get_cm_event(ch, &ev) == 0) {
			uint8_t flags;

			*type = ev->event;
			*status = ev->status;
			if (reply && ev->event == RDMA_CM_EVENT_ESTABLISHED)
				*reply =
				    iser_cm_reply_flags(ev->param.conn.private_data,
							ev->param.conn.private_data_len, &flags) < 0
					? -1
					: flags;
			rdma_ack_cm_event(ev);
			return 0;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&pfd, 1, (int)((left + 999) / 1000));
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Milliseconds left until @deadline, at least 1, for rdma_resolve_*(). */
static int ms_left(gint64 deadline)
{
	gint64 left = (deadline - g_get_monotonic_time()) / 1000;

	return (int)CLAMP(left, 1, G_MAXINT);
}

/*
 * Resolves @sa to an RDMA device and a route on @id, waiting on @ch until
 * @deadline. Returns 0, or -1 with *@why allocated.
 */
static int resolve(struct rdma_event_channel *ch, struct rdma_cm_id *id, struct sockaddr *sa,
		   gint64 deadline, char **why)
{
	enum rdma_cm_event_type type;
	int status;

	if (rdma_resolve_addr(id, NULL, sa, ms_left(deadline))) {
		*why = g_strdup_printf("address resolution: %s", g_strerror(errno));
		return -1;
	}
	if (cm_wait(ch, deadline, &type, &status, NULL) < 0) {
		*why = g_strdup_printf("address resolution: %s", g_strerror(errno));
		return -1;
	}
	if (type != RDMA_CM_EVENT_ADDR_RESOLVED) {
		*why = g_strdup_printf("address resolution: %s",
				       g_strerror(status < 0 ? -status : EIO));
		return -1;
	}
	if (rdma_resolve_route(id, ms_left(deadline))) {
		*why = g_strdup_printf("route resolution: %s", g_strerror(errno));
		return -1;
	}
	if (cm_wait(ch, deadline, &type, &status, NULL) < 0) {
		*why = g_strdup_printf("route resolution: %s", g_strerror(errno));
		return -1;
	}
	if (type != RDMA_CM_EVENT_ROUTE_RESOLVED) {
		*why =
		    g_strdup_printf("route resolution: %s", g_strerror(status < 0 ? -status : EIO));
		return -1;
	}
	return 0;
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	return sa->sa_family == AF_INET6 &&
	       IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/*
 * Whether one address routes to an RDMA device: the device that owns the
 * local address the route leaves from. Binding an RDMA CM id to that
 * address asks no one on the network, unlike resolving the peer, which
 * waits for ARP (seconds on a slow or emulated host, where a probe with a
 * deadline would wrongly fall back to TCP). The RDMA CM serves loopback
 * with any device it has, so a loopback portal is resolved as a connect
 * would resolve it.
 */
static bool probe_one(struct rdma_event_channel *ch, const struct addrinfo *ai, char **why)
{
	struct sockaddr_storage src;
	struct rdma_cm_id *id;
	bool ok;

	if (rdma_create_id(ch, &id, NULL, RDMA_PS_TCP)) {
		*why = g_strdup_printf("cannot create an RDMA CM id: %s", g_strerror(errno));
		return false;
	}
	if (is_loopback(ai->ai_addr)) {
		ok = resolve(ch, id, ai->ai_addr, g_get_monotonic_time() + ISER_PROBE_MS * 1000LL,
			     why) == 0;
	} else if (local_source(ai->ai_addr, ai->ai_addrlen, &src, why) < 0) {
		ok = false;
	} else if (rdma_bind_addr(id, (struct sockaddr *)&src)) {
		*why = g_strdup_printf("address resolution: %s", g_strerror(errno));
		ok = false;
	} else {
		ok = id->verbs != NULL;
		if (!ok)
			*why = g_strdup("its interface has no RDMA device");
	}
	rdma_destroy_id(id);
	return ok;
}

bool dm_iser_usable(const char *host, uint16_t port, GError **err)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo *res = NULL, *ai;
	struct rdma_event_channel *ch;
	g_autofree char *why = NULL;
	char serv[8];
	bool ok = false;
	int rc;

	snprintf(serv, sizeof(serv), "%u", port);
	rc = getaddrinfo(host, serv, &hints, &res);
	if (rc) {
		g_set_error(err, DM_ISER_ERROR, ENOENT, "cannot resolve %s: %s", host,
			    rc == EAI_SYSTEM ? g_strerror(errno) : gai_strerror(rc));
		return false;
	}
	ch = rdma_create_event_channel();
	if (!ch || dm_set_nonblock(ch->fd) < 0) {
		why = g_strdup_printf("no RDMA devices (%s)", g_strerror(errno));
		goto out;
	}
	for (ai = res; ai && !ok; ai = ai->ai_next) {
		g_clear_pointer(&why, g_free);
		ok = probe_one(ch, ai, &why);
	}
out:
	if (!ok)
		g_set_error(err, DM_ISER_ERROR, ENODEV, "no RDMA device routes to %s: %s", host,
			    why);
	if (ch)
		rdma_destroy_event_channel(ch);
	freeaddrinfo(res);
	return ok;
}
