// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Completions of an iSER connection (see iser-conn.h): receives, which a
 * response waits in until its command's windows are invalid, and sends.
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

/* Final Login Response: transit to full feature phase, status success. */
static bool is_final_login(const uint8_t *bhs)
{
	const struct iscsi_login_rsp *r = (const void *)bhs;

	return (r->opcode & ISCSI_OPCODE_MASK) == ISCSI_OP_LOGIN_RSP &&
	       (r->flags & ISCSI_LOGIN_TRANSIT) &&
	       (r->flags & ISCSI_LOGIN_NSG_MASK) == ISCSI_STAGE_FULL_FEATURE &&
	       r->status_class == ISCSI_LOGIN_CLASS_SUCCESS;
}

/* The task a SCSI Response or the Reject of a SCSI Command answers, or NULL. */
static struct dm_task *answered_task(struct dm_conn *c, const struct iser_msg *m)
{
	const struct iscsi_bhs *h = (const void *)m->bhs;

	if (m->op == ISCSI_OP_REJECT) {
		if (m->dlen < ISCSI_BHS_LEN ||
		    (m->data[0] & ISCSI_OPCODE_MASK) != ISCSI_OP_SCSI_CMD)
			return NULL;
		h = (const void *)m->data;
	} else if (m->op != ISCSI_OP_SCSI_RSP) {
		return NULL;
	}
	return c->up.find_task(c->up.opaque, ntohl(h->itt));
}

/*
 * On arrival of PDU @m (with @wc's invalidation, if any): the command it
 * answers is answered, and its windows are ended. Returns the invalidation
 * the PDU must wait for before the iSCSI layer sees it (0: none), or -1
 * with the connection failed.
 */
static int64_t rx_end_windows(struct dm_conn *c, const struct iser_msg *m, const struct ibv_wc *wc,
			      struct dm_task **task_out)
{
	struct dm_task *task = answered_task(c, m);
	struct iser_cmd *cmd = task ? g_hash_table_lookup(c->cmds, task) : NULL;

	*task_out = task;
	/*
	 * We asked the target not to invalidate our STags (CM flags), and
	 * invalidate every window ourselves. A target that does anyway is
	 * cut off before any LOCAL_INV of ours meets a window it already
	 * freed: rdma_rxe in Linux 6.1 dereferences the window's QP, NULL
	 * once it is free, when it is invalidated a second time (a kernel
	 * crash in rxe_do_invalidate_mw(), met with LIO's Send with
	 * Invalidate). rxe also writes the kernel's IB_WC_WITH_INVALIDATE
	 * (1 << 2) into user completions, which libibverbs reads as
	 * IBV_WC_IP_CSUM_OK, meaningless on an RC receive: both count.
	 */
	if (wc->wc_flags & (IBV_WC_WITH_INV | IBV_WC_IP_CSUM_OK)) {
		iser_fail(
		    c, EPROTO,
		    "the target invalidated STag 0x%08x with its %s, which we asked it not to",
		    wc->invalidated_rkey, iscsi_opcode_name(m->op));
		return -1;
	}
	if (!cmd)
		return 0;
	cmd->answered = true;
	iser_cmd_invalidate(c, cmd);
	return cmd->inv_seq > c->inv_done ? (int64_t)cmd->inv_seq : 0;
}

/*
 * Before the iSCSI layer sees an answer to a command, whose windows are
 * invalid now: bring bounced read data home and count what was placed.
 */
static void rx_answered(struct dm_conn *c, struct dm_task *task, const struct iser_msg *m)
{
	const struct iscsi_scsi_rsp *r = (const void *)m->bhs;
	struct iser_cmd *cmd = task ? g_hash_table_lookup(c->cmds, task) : NULL;
	uint32_t n;

	if (!cmd || m->op != ISCSI_OP_SCSI_RSP)
		return;
	n = task->read_len;
	if (r->flags & ISCSI_RSP_UNDERFLOW)
		n -= MIN(ntohl(r->residual_count), n);
	if (cmd->bounce_read) {
		memcpy(task->read_buf, cmd->bounce_read, n);
		c->copied += n;
	}
	task->read_placed = n;
}

/* Hands PDU @m of receive slot @idx to the iSCSI layer and re-posts the slot. */
static void rx_deliver(struct dm_conn *c, uint32_t idx, const struct iser_msg *m,
		       struct dm_task *task, bool final, bool dropped)
{
	if (!dropped) {
		rx_answered(c, task, m);
		if (c->up.pdu(c->up.opaque, m->bhs, m->ahs, m->ahs_len, m->data, m->dlen) < 0)
			iser_fail(c, EPROTO, "%s rejected by the iSCSI layer",
				  iscsi_opcode_name(m->op));
	}
	if (c->failed)
		return;
	/*
	 * Login requests and responses alternate, so one login receive is
	 * enough; after the last one the full-feature receives take over.
	 */
	if (final)
		return;
	if (iser_rx_post(c, idx) < 0)
		iser_fail(c, errno, "cannot post a receive: %s", g_strerror(errno));
}

/* Delivers the held PDUs whose invalidations have completed, in order. */
static void rx_deliver_held(struct dm_conn *c)
{
	while (c->held_count && !c->in_sync && !c->failed) {
		struct rx_held h = c->held[c->held_head];

		if (h.seq > c->inv_done)
			return;
		c->held_head = (c->held_head + 1) % c->rq_depth;
		c->held_count--;
		rx_deliver(c, h.idx, &h.m, h.task, h.final, h.dropped);
	}
}

/* A receive completed (@wc) in slot @idx: check, end windows, deliver or hold. */
static void rx_complete(struct dm_conn *c, uint32_t idx, const struct ibv_wc *wc)
{
	struct dm_task *task;
	struct rx_slot *s;
	struct rx_held *h;
	struct iser_msg m;
	char why[160];
	int64_t seq;
	bool final;

	if (idx >= c->rx->len) {
		iser_fail(c, EPROTO, "receive completion for an unknown buffer");
		return;
	}
	s = g_ptr_array_index(c->rx, idx);
	if (wc->byte_len > s->size) {
		iser_fail(c, EPROTO, "iSER message of %u bytes in a %u-byte receive buffer",
			  wc->byte_len, s->size);
		return;
	}
	if (iser_msg_parse(s->buf, wc->byte_len,
			   c->params_set ? c->params.max_recv_dsl : ISER_LOGIN_DSL, &m, why,
			   sizeof(why)) < 0) {
		iser_fail(c, EPROTO, "%s", why);
		return;
	}
	final = s->login && is_final_login(m.bhs);
	seq = rx_end_windows(c, &m, wc, &task);
	if (seq < 0)
		return;
	if (!seq && !c->held_count && !c->in_sync) {
		rx_deliver(c, idx, &m, task, final, false);
		return;
	}
	if (c->held_count == c->rq_depth) {
		iser_fail(c, EPROTO, "more PDUs held than receives posted");
		return;
	}
	h = &c->held[(c->held_head + c->held_count++) % c->rq_depth];
	*h = (struct rx_held){
	    .idx = idx, .m = m, .task = task, .seq = (uint64_t)seq, .final = final};
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
		iser_tx_release(c, idx);
	if (wc->status == IBV_WC_WR_FLUSH_ERR && !c->failed) {
		/*
		 * The first failure is a flush: none of our requests failed,
		 * the QP was moved to the error state under us. rdma_rxe does
		 * that when the target's RDMA Write or Read was refused (an
		 * STag, address or length outside what its commands were given).
		 */
		iser_fail(c, EIO,
			  "the RDMA queue pair went into the error state with no request of ours "
			  "failed: the target broke the RDMA protocol, e.g. an RDMA access outside "
			  "the buffers of the commands in flight");
		return;
	}
	if (wc->status != IBV_WC_SUCCESS) {
		iser_fail(c, EIO, "%s completion failed: %s (vendor error 0x%x)",
			  wr_kind(wc->wr_id), ibv_wc_status_str(wc->status), wc->vendor_err);
		return;
	}
	if (rx && !c->failed)
		rx_complete(c, idx, wc);
}

/* Polls the CQ until it is empty; returns how many completions there were. */
unsigned int iser_cq_drain(struct dm_conn *c)
{
	struct ibv_wc wc[ISER_CQ_BATCH];
	unsigned int total = 0;
	int n, i;

	do {
		n = ibv_poll_cq(c->cq, ISER_CQ_BATCH, wc);
		if (n < 0) {
			iser_fail(c, EIO, "polling the completion queue failed");
			return total;
		}
		for (i = 0; i < n; i++)
			cq_handle(c, &wc[i]);
		total += (unsigned int)n;
	} while (n == ISER_CQ_BATCH);
	return total;
}

/* iser_cq_drain() for iser_cmd_quiesce(): posts what it queued, whatever the cork. */
void iser_cq_drain_quiet(struct dm_conn *c)
{
	iser_cq_drain(c);
	while (!c->failed && c->tx_used < c->sq_depth && !g_queue_is_empty(&c->tx_backlog)) {
		struct tx_pending *p = g_queue_pop_head(&c->tx_backlog);

		iser_tx_take(c, &p->d);
		g_free(p);
	}
	iser_tx_flush(c);
}

/*
 * Consumes the completion event, then polls, re-arms and polls again. The
 * CQ is armed and empty whenever this returns, so every later completion
 * raises an event: without one there is nothing to poll. The invalidations
 * the responses queued are posted after each poll, and the responses
 * delivered once they are complete (on rdma_rxe mostly by the second poll).
 */
void iser_cq_service(struct dm_conn *c)
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
	iser_cq_drain(c);
	iser_tx_flush(c);
	if (ibv_req_notify_cq(c->cq, 0)) {
		iser_fail(c, EIO, "cannot arm the completion queue");
		return;
	}
	/* What completed between the last poll and the re-arm raised no event. */
	iser_cq_drain(c);
	iser_tx_flush(c);
	rx_deliver_held(c);
	iser_tx_backlog_flush(c);
}
