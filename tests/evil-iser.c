// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The iSER transport of evil-target (see evil-iser.h): rdma_cm and verbs,
 * nothing of iSCSI but the iSER header and CM private data.
 *
 * Each connection has its own event channel (the listener's only carries
 * connection requests), its own protection domain, one CQ with a
 * completion channel, and three registrations with local access only: the
 * receive buffers, the send buffer and the stage buffer that RDMA Writes
 * and Reads move data through. Nothing of ours is remotely accessible.
 * Receives complete into a queue of messages while we wait for something
 * else, so a Send or RDMA operation can wait for its own completion
 * without losing what the initiator sends meanwhile.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "tests/evil-iser.h"

/* Receives posted: commands in flight (our window is 32), NOP-Outs, margin. */
#define RX_COUNT 128u
#define SQ_DEPTH 16u
#define CQ_DEPTH (RX_COUNT + SQ_DEPTH)
/* Past-length writes a READ's length and 4 KiB more: room for 4 MiB reads. */
#define STAGE_LEN ((4u << 20) + (64u << 10))
#define TX_LEN	  (sizeof(struct iser_hdr) + 48u + 1020u + 65536u)
/* How long the connection's establishment may take after the request. */
#define ESTABLISH_MS 30000

/* wr_id: receives carry their slot, everything else a sequence number. */
#define WR_RX_BIT (1ull << 63)

struct evil_iser_listener {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
};

/**
 * struct rx_msg - one received Send message, queued until asked for.
 * @len: its length
 * @buf: its bytes
 */
struct rx_msg {
	uint32_t len;
	uint8_t buf[];
};

/**
 * struct evil_iser - one connection.
 * @ch: its event channel; @id: its CM id (owns the QP)
 * @rx, @tx, @stage: the buffers and their registrations
 * @received: struct rx_msg not yet asked for
 * @next_wr: wr_id of the next send-side work request
 * @down: the QP failed or the initiator disconnected
 */
struct evil_iser {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	uint8_t *rx;
	struct ibv_mr *rx_mr;
	uint8_t *tx;
	struct ibv_mr *tx_mr;
	uint8_t *stage;
	struct ibv_mr *stage_mr;
	GQueue received;
	uint64_t next_wr;
	bool qp_made;
	bool connected;
	bool down;
};

static void G_GNUC_PRINTF(1, 2) say(const char *fmt, ...)
{
	va_list ap;

	fputs("evil-target: iSER: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

struct evil_iser_listener *evil_iser_listen(const char *addr, uint16_t *port)
{
	struct evil_iser_listener *l = g_new0(struct evil_iser_listener, 1);
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	int saved;

	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(*port);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(*port);
	} else {
		g_free(l);
		errno = EINVAL;
		return NULL;
	}
	l->ch = rdma_create_event_channel();
	if (!l->ch || set_nonblock(l->ch->fd) < 0 ||
	    rdma_create_id(l->ch, &l->id, NULL, RDMA_PS_TCP) ||
	    rdma_bind_addr(l->id, (struct sockaddr *)&ss) || rdma_listen(l->id, 4))
		goto fail;
	*port = ntohs(rdma_get_src_port(l->id));
	return l;

fail:
	saved = errno;
	evil_iser_listener_close(l);
	errno = saved;
	return NULL;
}

void evil_iser_listener_close(struct evil_iser_listener *l)
{
	if (!l)
		return;
	if (l->id)
		rdma_destroy_id(l->id);
	if (l->ch)
		rdma_destroy_event_channel(l->ch);
	g_free(l);
}

void evil_iser_close(struct evil_iser *c)
{
	if (!c)
		return;
	if (c->connected)
		rdma_disconnect(c->id);
	if (c->qp_made)
		rdma_destroy_qp(c->id);
	if (c->rx_mr)
		ibv_dereg_mr(c->rx_mr);
	if (c->tx_mr)
		ibv_dereg_mr(c->tx_mr);
	if (c->stage_mr)
		ibv_dereg_mr(c->stage_mr);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->cc)
		ibv_destroy_comp_channel(c->cc);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	if (c->id)
		rdma_destroy_id(c->id);
	if (c->ch)
		rdma_destroy_event_channel(c->ch);
	g_free(c->rx);
	g_free(c->tx);
	g_free(c->stage);
	g_queue_clear_full(&c->received, g_free);
	g_free(c);
}

bool evil_iser_down(const struct evil_iser *c)
{
	return c->down;
}

uint8_t *evil_iser_stage(struct evil_iser *c, size_t *len)
{
	*len = STAGE_LEN;
	return c->stage;
}

static int rx_post(struct evil_iser *c, uint32_t slot)
{
	struct ibv_sge sge = {
	    .addr = (uintptr_t)(c->rx + (size_t)slot * EVIL_ISER_RX_SIZE),
	    .length = (uint32_t)EVIL_ISER_RX_SIZE,
	    .lkey = c->rx_mr->lkey,
	};
	struct ibv_recv_wr wr = {.wr_id = WR_RX_BIT | slot, .sg_list = &sge, .num_sge = 1}, *bad;

	return ibv_post_recv(c->id->qp, &wr, &bad) ? -1 : 0;
}

/* The QP is of no more use: flush what is outstanding. */
static void go_down(struct evil_iser *c)
{
	struct ibv_qp_attr a = {.qp_state = IBV_QPS_ERR};

	if (c->down)
		return;
	c->down = true;
	if (c->qp_made)
		ibv_modify_qp(c->id->qp, &a, IBV_QP_STATE);
}

/* One completion: receives are queued (and re-posted), others returned. */
static bool wc_take(struct evil_iser *c, const struct ibv_wc *wc)
{
	uint32_t slot;
	struct rx_msg *m;

	if (!(wc->wr_id & WR_RX_BIT))
		return true;
	if (wc->status != IBV_WC_SUCCESS) {
		if (!c->down)
			say("receive completion failed: %s", ibv_wc_status_str(wc->status));
		go_down(c);
		return false;
	}
	slot = (uint32_t)(wc->wr_id & ~WR_RX_BIT);
	m = g_malloc(sizeof(*m) + wc->byte_len);
	m->len = wc->byte_len;
	memcpy(m->buf, c->rx + (size_t)slot * EVIL_ISER_RX_SIZE, wc->byte_len);
	g_queue_push_tail(&c->received, m);
	if (!c->down && rx_post(c, slot) < 0) {
		say("cannot post a receive: %s", g_strerror(errno));
		go_down(c);
	}
	return false;
}

/* A CM event of the connection: a disconnect takes it down. */
static void cm_take(struct evil_iser *c)
{
	struct rdma_cm_event *ev;

	while (rdma_get_cm_event(c->ch, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;

		rdma_ack_cm_event(ev);
		if (type == RDMA_CM_EVENT_DISCONNECTED || type == RDMA_CM_EVENT_DEVICE_REMOVAL ||
		    type == RDMA_CM_EVENT_TIMEWAIT_EXIT) {
			if (!c->down)
				say("%s", rdma_event_str(type));
			c->connected = false;
			go_down(c);
		}
	}
}

/*
 * Wait until the send-side work request @wr_id completes (into *@out), or,
 * for @wr_id 0, until a message was received or the connection went down.
 * Returns 1, 0 on timeout, -1 when polling failed.
 */
static int wait_for(struct evil_iser *c, uint64_t wr_id, struct ibv_wc *out, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		struct pollfd pfd[2] = {{.fd = c->cc->fd, .events = POLLIN},
					{.fd = c->ch->fd, .events = POLLIN}};
		struct ibv_wc wc;
		struct ibv_cq *cq;
		gint64 left;
		void *ctx;
		int n, armed;

		for (armed = 0; armed < 2; armed++) {
			while ((n = ibv_poll_cq(c->cq, 1, &wc)) > 0) {
				if (wc_take(c, &wc) && wc.wr_id == wr_id) {
					*out = wc;
					return 1;
				}
			}
			if (n < 0)
				return -1;
			if (!wr_id && (!g_queue_is_empty(&c->received) || c->down))
				return 1;
			/* Armed, then polled again: nothing completes unnoticed. */
			if (!armed && ibv_req_notify_cq(c->cq, 0))
				return -1;
		}
		left = deadline - g_get_monotonic_time();
		if (timeout_ms >= 0 && left <= 0)
			return 0;
		n = poll(pfd, 2, timeout_ms < 0 ? -1 : (int)(left / 1000) + 1);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n <= 0)
			continue;
		if ((pfd[0].revents & POLLIN) && ibv_get_cq_event(c->cc, &cq, &ctx) == 0)
			ibv_ack_cq_events(cq, 1);
		if (pfd[1].revents & POLLIN)
			cm_take(c);
	}
}

int evil_iser_send(struct evil_iser *c, const void *pdu, uint32_t len, int timeout_ms)
{
	struct iser_hdr ih = {.flags = ISER_TYPE_CONTROL};
	struct ibv_sge sge = {.addr = (uintptr_t)c->tx, .lkey = c->tx_mr->lkey};
	struct ibv_send_wr wr = {.sg_list = &sge,
				 .num_sge = 1,
				 .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_SIGNALED},
			   *bad;
	struct ibv_wc wc;

	if (c->down || len > TX_LEN - sizeof(ih))
		return -1;
	memcpy(c->tx, &ih, sizeof(ih));
	memcpy(c->tx + sizeof(ih), pdu, len);
	sge.length = (uint32_t)sizeof(ih) + len;
	wr.wr_id = ++c->next_wr;
	if (ibv_post_send(c->id->qp, &wr, &bad)) {
		go_down(c);
		return -1;
	}
	if (wait_for(c, wr.wr_id, &wc, timeout_ms) != 1) {
		say("a Send did not complete within %d ms", timeout_ms);
		go_down(c);
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS) {
		if (!c->down)
			say("send completion failed: %s", ibv_wc_status_str(wc.status));
		go_down(c);
		return -1;
	}
	return 0;
}

int evil_iser_recv(struct evil_iser *c, void *buf, uint32_t size, uint32_t *len, int timeout_ms)
{
	struct rx_msg *m;
	struct ibv_wc unused;
	int rc;

	if (g_queue_is_empty(&c->received) && !c->down) {
		rc = wait_for(c, 0, &unused, timeout_ms);
		if (rc < 0)
			return EVIL_ISER_ERROR;
		if (rc == 0)
			return EVIL_ISER_TIMEOUT;
	}
	m = g_queue_pop_head(&c->received);
	if (!m)
		return EVIL_ISER_EOF;
	if (m->len > size) {
		g_free(m);
		return EVIL_ISER_ERROR;
	}
	memcpy(buf, m->buf, m->len);
	*len = m->len;
	g_free(m);
	return EVIL_ISER_OK;
}

int evil_iser_rdma(struct evil_iser *c, bool write, uint32_t stag, uint64_t va, uint32_t len,
		   int *status, char *why, size_t why_len)
{
	struct ibv_sge sge = {
	    .addr = (uintptr_t)c->stage, .length = len, .lkey = c->stage_mr->lkey};
	struct ibv_send_wr wr = {.sg_list = &sge,
				 .num_sge = 1,
				 .opcode = write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ,
				 .send_flags = IBV_SEND_SIGNALED},
			   *bad;
	struct ibv_wc wc;
	int rc;

	if (c->down) {
		snprintf(why, why_len, "the connection is down");
		return -1;
	}
	if (len > STAGE_LEN) {
		snprintf(why, why_len, "%u bytes exceed our %u-byte stage buffer", len, STAGE_LEN);
		return -1;
	}
	wr.wr.rdma.remote_addr = va;
	wr.wr.rdma.rkey = stag;
	wr.wr_id = ++c->next_wr;
	rc = ibv_post_send(c->id->qp, &wr, &bad);
	if (rc) {
		snprintf(why, why_len, "not posted: %s", g_strerror(rc));
		go_down(c);
		return -1;
	}
	rc = wait_for(c, wr.wr_id, &wc, 30000);
	if (rc != 1) {
		snprintf(why, why_len, rc ? "polling the CQ failed" : "no completion in 30 s");
		go_down(c);
		return -1;
	}
	*status = wc.status;
	if (wc.status != IBV_WC_SUCCESS) {
		go_down(c);
		return 0;
	}
	return 1;
}

/* PD, CQ, QP, buffers and the receives of the connection on @c->id. */
static int conn_setup(struct evil_iser *c)
{
	struct ibv_qp_init_attr qa = {0};
	uint32_t i;

	c->pd = ibv_alloc_pd(c->id->verbs);
	c->cc = c->pd ? ibv_create_comp_channel(c->id->verbs) : NULL;
	if (!c->cc || set_nonblock(c->cc->fd) < 0)
		return -1;
	c->cq = ibv_create_cq(c->id->verbs, (int)CQ_DEPTH, c, c->cc, 0);
	if (!c->cq || ibv_req_notify_cq(c->cq, 0))
		return -1;
	c->rx = g_malloc0((size_t)RX_COUNT * EVIL_ISER_RX_SIZE);
	c->tx = g_malloc0(TX_LEN);
	c->stage = g_malloc0(STAGE_LEN);
	c->rx_mr =
	    ibv_reg_mr(c->pd, c->rx, (size_t)RX_COUNT * EVIL_ISER_RX_SIZE, IBV_ACCESS_LOCAL_WRITE);
	c->tx_mr = ibv_reg_mr(c->pd, c->tx, TX_LEN, 0);
	c->stage_mr = ibv_reg_mr(c->pd, c->stage, STAGE_LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!c->rx_mr || !c->tx_mr || !c->stage_mr)
		return -1;
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = SQ_DEPTH;
	qa.cap.max_recv_wr = RX_COUNT;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(c->id, c->pd, &qa))
		return -1;
	c->qp_made = true;
	for (i = 0; i < RX_COUNT; i++)
		if (rx_post(c, i) < 0)
			return -1;
	return 0;
}

/* Wait on @c's channel for the connection to be established. */
static int wait_established(struct evil_iser *c)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)ESTABLISH_MS * 1000;

	for (;;) {
		struct pollfd pfd = {.fd = c->ch->fd, .events = POLLIN};
		struct rdma_cm_event *ev;
		gint64 left = deadline - g_get_monotonic_time();
		int n;

		if (left <= 0) {
			say("the connection was not established within %d ms", ESTABLISH_MS);
			return -1;
		}
		n = poll(&pfd, 1, (int)(left / 1000) + 1);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n <= 0)
			continue;
		while (rdma_get_cm_event(c->ch, &ev) == 0) {
			enum rdma_cm_event_type type = ev->event;
			int status = ev->status;

			rdma_ack_cm_event(ev);
			if (type == RDMA_CM_EVENT_ESTABLISHED)
				return 0;
			say("while establishing: %s (status %d)", rdma_event_str(type), status);
			return -1;
		}
	}
}

/*
 * Serve the connection request on @id (its event already acknowledged):
 * @req are the parameters the initiator asked for.
 */
static struct evil_iser *conn_accept(struct rdma_cm_id *id, const struct rdma_conn_param *req,
				     uint8_t ini_flags)
{
	struct iser_cm_hdr priv = {.flags = ISER_CM_ZBVA_NOT_SUP | ISER_CM_SEND_W_INV_NOT_SUP};
	struct evil_iser *c = g_new0(struct evil_iser, 1);
	struct rdma_conn_param cp = {0};
	struct ibv_device_attr da;

	g_queue_init(&c->received);
	c->id = id;
	c->ch = rdma_create_event_channel();
	if (!c->ch || set_nonblock(c->ch->fd) < 0 || rdma_migrate_id(id, c->ch)) {
		say("cannot give the connection its own event channel: %s", g_strerror(errno));
		goto reject;
	}
	if (ibv_query_device(id->verbs, &da) || conn_setup(c) < 0) {
		say("cannot set the connection up: %s", g_strerror(errno));
		goto reject;
	}
	/* We RDMA-Read write data: as many outstanding as the initiator lets us. */
	cp.initiator_depth =
	    (uint8_t)MIN(req->responder_resources, (unsigned)da.max_qp_init_rd_atom);
	cp.responder_resources = (uint8_t)MIN(req->initiator_depth, (unsigned)da.max_qp_rd_atom);
	if (!cp.initiator_depth)
		cp.initiator_depth = 1;
	cp.rnr_retry_count = 6;
	cp.private_data = &priv;
	cp.private_data_len = sizeof(priv);
	say("connection request: initiator flags 0x%02x (%s ZBVA), responder resources %u, "
	    "initiator depth %u; we take initiator depth %u, responder resources %u",
	    ini_flags, ini_flags & ISER_CM_ZBVA_NOT_SUP ? "no" : "maybe", req->responder_resources,
	    req->initiator_depth, cp.initiator_depth, cp.responder_resources);
	if (rdma_accept(id, &cp)) {
		say("rdma_accept: %s", g_strerror(errno));
		goto fail;
	}
	c->connected = true;
	if (wait_established(c) < 0)
		goto fail;
	return c;

reject:
	rdma_reject(id, NULL, 0);
fail:
	c->connected = false;
	evil_iser_close(c);
	return NULL;
}

struct evil_iser *evil_iser_accept(struct evil_iser_listener *l, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;

	for (;;) {
		struct pollfd pfd = {.fd = l->ch->fd, .events = POLLIN};
		struct rdma_cm_event *ev;
		gint64 left = deadline - g_get_monotonic_time();
		int n;

		if (timeout_ms >= 0 && left <= 0)
			return NULL;
		n = poll(&pfd, 1, timeout_ms < 0 ? -1 : (int)(left / 1000) + 1);
		if (n < 0)
			return NULL;
		if (n == 0)
			continue;
		while (rdma_get_cm_event(l->ch, &ev) == 0) {
			struct rdma_conn_param req;
			struct rdma_cm_id *id = ev->id;
			struct evil_iser *c;
			uint8_t flags = 0;

			if (ev->event != RDMA_CM_EVENT_CONNECT_REQUEST) {
				say("listener: %s ignored", rdma_event_str(ev->event));
				rdma_ack_cm_event(ev);
				continue;
			}
			req = ev->param.conn;
			if (req.private_data_len >= sizeof(struct iser_cm_hdr))
				flags = ((const struct iser_cm_hdr *)req.private_data)->flags;
			else
				say("connection request without iSER private data");
			req.private_data = NULL;
			rdma_ack_cm_event(ev);
			c = conn_accept(id, &req, flags);
			if (c)
				return c;
		}
	}
}
