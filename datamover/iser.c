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
 * What the target can reach (the memory model):
 *   - control memory (send ring, receive buffers, control PDU data) is in
 *     MRs of local access only: no STag of it ever leaves us;
 *   - payload buffers are in MRs of local access too (one per buffer);
 *     the STag a command advertises is that of a window over exactly its
 *     buffer, in exactly the direction it needs (remote write for a read,
 *     remote read for a write): by default a registration of its own,
 *     dropped when the response arrives, before it is handed on
 *     (iser-win.h);
 *   - with type 2 memory windows instead (ISA_ISER_WINDOWS=mw), bound in
 *     the post that sends the command, a SCSI Response is handed on only
 *     once our IBV_WR_LOCAL_INV of its windows has completed, and every
 *     PDU after it waits too, so that the order in which the target sent
 *     them is kept; targets are asked not to invalidate our STags (see
 *     rx_end_windows());
 *   - a command given up unanswered (ABORT TASK, LUN RESET, timeout) has
 *     its windows closed before forget_task() returns, and the connection
 *     stays up;
 *   - the payload pool and the control memory of every connection on one
 *     device (iser-share.c) share a budget of pinned bytes (default
 *     64 MiB, set_pinned_limit of the first): a buffer past it is refused with EAGAIN
 *     for the caller to wait, and regions idle for ISER_TRIM_IDLE_US are
 *     returned to the kernel.
 * An access outside the windows fails the target's RDMA operation; rdma_rxe
 * then moves our QP to the error state too, the connection fails, and
 * recovery sends the commands again with new windows.
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
#include <sys/eventfd.h>
#include <glib.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "datamover/dm-common.h"
#include "datamover/iser-conn.h"

/* Makes service() run soon, for work no completion will announce. */
static void kick(struct dm_conn *c)
{
	uint64_t one = 1;

	if (write(c->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		g_debug("iSER: eventfd write: %s", g_strerror(errno));
}

/*
 * Marks the connection dead and tells the iSCSI layer, once. The QP goes to
 * the error state at once (rdma_disconnect), so that the target can no
 * longer reach buffers the iSCSI layer is about to give back.
 */
void G_GNUC_PRINTF(3, 4) iser_fail(struct dm_conn *c, int err, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	if (c->failed)
		return;
	c->failed = true;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	iser_qp_stop(c);
	iser_tx_backlog_purge(c);
	/* No upcall inside forget_task(): service() reports it. */
	if (c->in_sync) {
		c->fail_err = err;
		c->fail_msg = g_steal_pointer(&msg);
		kick(c);
		return;
	}
	c->up.failed(c->up.opaque, err, msg);
}

int iser_epoll_add(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* The values in force during login, before set_params(). */
static void params_login(struct dm_conn *c)
{
	dm_params_login(&c->params);
	c->params_set = false;
}

static struct dm_conn *iser_create(const struct dm_upcalls *up)
{
	struct dm_conn *c = g_new0(struct dm_conn, 1);

	c->up = *up;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->epfd < 0 || c->kick_fd < 0 || iser_epoll_add(c->epfd, c->kick_fd) < 0) {
		if (c->epfd >= 0)
			close(c->epfd);
		if (c->kick_fd >= 0)
			close(c->kick_fd);
		g_free(c);
		return NULL;
	}
	c->budget.max = ISER_MAX_PINNED_DEFAULT;
	c->chain_tail = &c->chain;
	params_login(c);
	c->connect_errs = g_string_new(NULL);
	g_queue_init(&c->tx_backlog);
	c->rx = g_ptr_array_new_with_free_func(g_free);
	c->rx_chunks = g_ptr_array_new();
	c->cmds = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	return c;
}

static int iser_get_fd(struct dm_conn *c)
{
	return c->epfd;
}

static uint32_t iser_which_events(struct dm_conn *c)
{
	/* A failure met inside forget_task() waits for service() to report it. */
	if (c->fail_msg)
		return EPOLLIN;
	return c->failed || !c->cm_ch ? 0 : EPOLLIN;
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
		copy = pool_alloc(c->ctl, dlen);
		if (!copy) {
			iser_fail(c, ENOMEM, "out of registered memory for a %u-byte PDU: %s", dlen,
				  g_strerror(errno));
			return -1;
		}
		memcpy(copy, data, dlen);
		lkey = pool_find(c->ctl, copy, dlen)->lkey;
	}
	hlen = iser_tx_hdr(hdr, &ih, bhs, dlen);
	if (iser_tx_send(c, hdr, hlen, copy, dlen, lkey, copy, NULL) < 0)
		return -1;
	return iser_tx_kick(c);
}

/*
 * The payload MR through which @buf is reached, or, when the caller's
 * buffer lies outside the pool, a bounce buffer from the pool in its place
 * (@copy_in: with the caller's bytes). *@use is what to advertise.
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
		struct iscsi_data_out h;
		uint32_t hlen;

		dm_data_out_bhs(&h, task->lun, task->itt, htonl(ISCSI_RESERVED_TAG),
				c->up.exp_statsn(c->up.opaque), datasn++, off, off + len == end);
		hlen = iser_tx_hdr(hdr, &ih, (const uint8_t *)&h, len);
		if (iser_tx_send(c, hdr, hlen, wbuf + off, len, lkey, NULL, task) < 0)
			return -1;
		off += len;
	}
	return 0;
}

/*
 * A window of @cmd (slot @which) over [@buf, @buf + @len) of @mr, with
 * @access; in mw mode its bind is queued, ahead of the command's Send.
 * Returns its STag, or 0 with the connection failed.
 */
static uint32_t cmd_window(struct dm_conn *c, struct dm_task *task, struct iser_cmd *cmd, int which,
			   struct ibv_mr *mr, const uint8_t *buf, uint32_t len, int access)
{
	struct tx_desc d = {.kind = TX_BIND, .task = task};
	struct iser_win *win = win_open(c->wins, mr, buf, len, access, &d.wr);

	if (!win) {
		iser_fail(c, errno, "cannot open a window of %u bytes for the target: %s", len,
			  g_strerror(errno));
		return 0;
	}
	cmd->win[which] = win;
	cmd->live[which] = true;
	if (wins_are_mw(c->wins) && iser_tx_queue(c, &d) < 0)
		return 0;
	return win->rkey;
}

/*
 * The command goes out as one Send with its immediate data gathered from
 * the write buffer; the header advertises a window over the read buffer
 * (RSV) and one over the part of the write buffer after the unsolicited
 * data (WSV), which the target then RDMA-Writes and RDMA-Reads without
 * asking (no R2T on iSER). Immediate data beyond ISER_SEND_DSL is left to
 * the RDMA Read when no Data-Out follows it: how much of the first burst
 * goes immediate is ours to choose.
 */
static int iser_send_command(struct dm_conn *c, const uint8_t *bhs, struct dm_task *task)
{
	struct iser_hdr ih = {.flags = ISER_TYPE_CONTROL};
	uint8_t hdr[ISER_TX_SLOT];
	const uint8_t *wbuf = NULL, *rbuf = NULL;
	struct ibv_mr *wmr = NULL, *rmr;
	struct iser_cmd *cmd;
	uint32_t hlen, imm, unsol, stag;

	if (c->failed || !c->connected || iser_rx_check(c) < 0)
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
			stag = cmd_window(c, task, cmd, 1, wmr, wbuf + unsol,
					  task->write_len - unsol, IBV_ACCESS_REMOTE_READ);
			if (!stag)
				return -1;
			ih.flags |= ISER_WSV;
			ih.write_stag = htonl(stag);
			ih.write_va = htobe64((uintptr_t)(wbuf + unsol));
		}
	}
	if (task->read_len) {
		rmr = place(c, task->read_buf, task->read_len, false, &cmd->bounce_read, &rbuf);
		if (!rmr)
			goto nomem;
		stag =
		    cmd_window(c, task, cmd, 0, rmr, rbuf, task->read_len, IBV_ACCESS_REMOTE_WRITE);
		if (!stag)
			return -1;
		ih.flags |= ISER_RSV;
		ih.read_stag = htonl(stag);
		ih.read_va = htobe64((uintptr_t)rbuf);
	}
	hlen = iser_tx_hdr(hdr, &ih, bhs, imm);
	if (iser_tx_send(c, hdr, hlen, wbuf, imm, wmr ? wmr->lkey : 0, NULL, task) < 0 ||
	    tx_data_out(c, task, wbuf, wmr ? wmr->lkey : 0, imm, unsol) < 0 || iser_tx_kick(c) < 0)
		return -1;
	iser_rx_provision(c, g_hash_table_size(c->cmds) + ISER_RX_SPARE);
	return iser_rx_check(c);

nomem:
	iser_fail(c, ENOMEM, "out of registered memory for a %u-byte bounce buffer: %s",
		  MAX(task->read_len, task->write_len), g_strerror(errno));
	return -1;
}

/*
 * Queues the invalidation of every window of @cmd the target may still
 * use (mw mode); in mr mode drops their registrations now. Afterwards
 * @cmd->inv_seq is what to wait for.
 */
void iser_cmd_invalidate(struct dm_conn *c, struct iser_cmd *cmd)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct tx_desc d = {.kind = TX_INV};

		if (!cmd->live[i])
			continue;
		cmd->live[i] = false;
		if (!wins_are_mw(c->wins)) {
			/* Answered: a WRITE's window waits out replays (iser-win.h). */
			if (cmd->answered) {
				win_answered(c->wins, cmd->win[i]);
				win_retire(c->wins, cmd->win[i]);
			} else {
				win_close(c->wins, cmd->win[i]);
			}
			cmd->win[i] = NULL;
			continue;
		}
		win_inv_wr(cmd->win[i], &d.wr);
		d.inv_seq = ++c->inv_posted;
		cmd->inv_seq = d.inv_seq;
		iser_tx_queue(c, &d);
	}
}

static bool cmd_quiet(const struct dm_conn *c, const struct iser_cmd *cmd)
{
	return !cmd->live[0] && !cmd->live[1] && cmd->inv_seq <= c->inv_done;
}

/*
 * Waits until the target can no longer reach @cmd's buffers: its windows
 * invalidated, or the connection failed (a QP in the error state lets no
 * RDMA through). Received PDUs are held meanwhile and delivered from the
 * next service(), which kick() brings about.
 */
void iser_cmd_quiesce(struct dm_conn *c, struct iser_cmd *cmd)
{
	gint64 deadline = g_get_monotonic_time() + ISER_DRAIN_MS * 1000LL;

	iser_cmd_invalidate(c, cmd);
	iser_tx_flush(c);
	if (c->failed || cmd_quiet(c, cmd))
		return;
	c->in_sync = true;
	while (!c->failed && !cmd_quiet(c, cmd)) {
		struct pollfd pfd = {.fd = c->comp_ch->fd, .events = POLLIN};
		struct ibv_cq *cq;
		gint64 left;
		void *ctx;

		iser_cq_drain_quiet(c);
		if (c->failed || cmd_quiet(c, cmd) || ibv_req_notify_cq(c->cq, 0))
			break;
		iser_cq_drain_quiet(c);
		if (c->failed || cmd_quiet(c, cmd))
			break;
		left = deadline - g_get_monotonic_time();
		if (left <= 0) {
			iser_fail(
			    c, ETIMEDOUT,
			    "the invalidation of a given-up command's windows did not complete "
			    "within %d ms",
			    ISER_DRAIN_MS);
			break;
		}
		if (poll(&pfd, 1, (int)((left + 999) / 1000)) < 0 && errno != EINTR)
			break;
		while (ibv_get_cq_event(c->comp_ch, &cq, &ctx) == 0)
			c->cq_events++;
	}
	c->in_sync = false;
	/* Armed again for service(), which delivers what was held. */
	if (!c->failed && ibv_req_notify_cq(c->cq, 0))
		iser_fail(c, EIO, "cannot arm the completion queue");
	kick(c);
}

static void iser_forget_task(struct dm_conn *c, struct dm_task *task)
{
	GList *l = c->tx_backlog.head;
	struct iser_cmd *cmd;
	uint32_t i;

	while (l) {
		GList *next = l->next;
		struct tx_pending *p = l->data;

		/* Invalidations stay: the windows they end are still bound. */
		if (p->d.task == task && p->d.kind != TX_INV) {
			g_queue_delete_link(&c->tx_backlog, l);
			iser_tx_pending_free(c, p);
		}
		l = next;
	}
	for (i = 0; i < c->held_count; i++) {
		struct rx_held *h = &c->held[(c->held_head + i) % c->rq_depth];

		if (h->task == task)
			h->dropped = true;
	}
	cmd = g_hash_table_lookup(c->cmds, task);
	if (!cmd)
		return;
	/*
	 * The target may still RDMA into or out of buffers the caller is about
	 * to reuse, unless it answered and the windows were invalidated: make
	 * sure. The connection stays (ABORT TASK, LUN RESET).
	 */
	if (c->wins && !c->failed && !cmd_quiet(c, cmd))
		iser_cmd_quiesce(c, cmd);
	if (c->wins) {
		win_close(c->wins, cmd->win[0]);
		win_close(c->wins, cmd->win[1]);
	}
	pool_free(c->pool, cmd->bounce_write);
	pool_free(c->pool, cmd->bounce_read);
	g_hash_table_remove(c->cmds, task);
}

/*
 * Called with no upcall allowed (see iser_rx_check()). The full-feature
 * receives are posted here, before any command can provoke a response.
 */
static void iser_set_params(struct dm_conn *c, const struct dm_params *p)
{
	c->params = *p;
	/* Below the RFC minimum is a caller bug; 0 would never finish a burst. */
	c->params.max_xmit_dsl = MAX(p->max_xmit_dsl, ISCSI_MIN_MRDSL);
	c->params_set = true;
	if (!c->failed && c->connected)
		iser_rx_provision(c, ISER_RX_CHUNK + ISER_RX_SPARE);
}

/*
 * Asks our epoll fd which channel is ready: one system call instead of a
 * failing read on each.
 */
/* Returns idle pool regions, looking at most once a second. */
/* Pinned now by the connections on @c's device (their budget is one). */
static uint64_t iser_pinned(const struct dm_conn *c)
{
	return c->share ? __atomic_load_n(&c->share->budget.used, __ATOMIC_RELAXED) : 0;
}

static void pool_maybe_trim(struct dm_conn *c)
{
	gint64 now = g_get_monotonic_time();
	uint64_t n;

	if (!c->pool || now - c->last_trim < G_USEC_PER_SEC)
		return;
	c->last_trim = now;
	n = pool_trim(c->pool, now, ISER_TRIM_IDLE_US);
	if (n)
		g_debug("iSER: %" G_GUINT64_FORMAT
			" KiB of idle buffers unpinned, %" G_GUINT64_FORMAT " KiB still pinned",
			n >> 10, iser_pinned(c) >> 10);
}

static int iser_service(struct dm_conn *c, uint32_t revents)
{
	struct epoll_event ev[3];
	bool cq_ready = false, cm_ready = false;
	int n, i;

	(void)revents;
	if (c->fail_msg) {
		g_autofree char *msg = g_steal_pointer(&c->fail_msg);

		c->up.failed(c->up.opaque, c->fail_err, msg);
		return -1;
	}
	if (c->failed || !c->cm_ch)
		return -1;
	n = epoll_wait(c->epfd, ev, G_N_ELEMENTS(ev), 0);
	for (i = 0; i < n; i++) {
		if (c->comp_ch && ev[i].data.fd == c->comp_ch->fd) {
			cq_ready = true;
		} else if (ev[i].data.fd == c->kick_fd) {
			uint64_t v;

			if (read(c->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				g_debug("iSER: eventfd read: %s", g_strerror(errno));
			cq_ready = c->cq != NULL;
		} else {
			cm_ready = true;
		}
	}
	/* Completions first: responses that came before a disconnect count. */
	if (cq_ready)
		iser_cq_service(c);
	if (cm_ready)
		iser_cm_service(c);
	iser_rx_check(c);
	pool_maybe_trim(c);
	return c->failed ? -1 : 0;
}

static void *iser_buf_alloc(struct dm_conn *c, size_t len)
{
	void *buf;

	if (!c || !c->pool) {
		errno = ENOTCONN;
		return NULL;
	}
	buf = pool_alloc(c->pool, len);
	if (!buf && errno == EAGAIN && !c->bound_met) {
		c->bound_met = true;
		g_debug("iSER: %" G_GUINT64_FORMAT " KiB pinned, the bound: requests wait for "
			"buffers",
			iser_pinned(c) >> 10);
		errno = EAGAIN;
	}
	return buf;
}

static void iser_buf_free(struct dm_conn *c, void *buf, size_t len)
{
	(void)len;
	if (c && c->pool)
		pool_free(c->pool, buf);
}

static uint64_t iser_stats_pinned(struct dm_conn *c)
{
	return iser_pinned(c);
}

static void iser_cork(struct dm_conn *c, bool on)
{
	c->corked = on;
	if (!on && !c->failed && c->id && c->id->qp)
		iser_tx_flush(c);
}

static void iser_set_pinned_limit(struct dm_conn *c, uint64_t max)
{
	c->budget.max = max;
}

static uint64_t iser_stats_copied(struct dm_conn *c)
{
	return c->copied;
}

/*
 * Back to a fresh connection object for session recovery. The protection
 * domain and the pool stay, so the payload buffers the iSCSI layer holds
 * keep their registration; the next connect() must reach the same device.
 */
static void iser_reset(struct dm_conn *c)
{
	iser_shutdown(c, true);
	c->failed = false;
	c->rx_error = 0;
	g_clear_pointer(&c->fail_msg, g_free);
	params_login(c);
}

static void iser_destroy(struct dm_conn *c)
{
	if (!c)
		return;
	iser_shutdown(c, false);
	g_free(c->fail_msg);
	close(c->kick_fd);
	close(c->epfd);
	g_string_free(c->connect_errs, TRUE);
	g_ptr_array_unref(c->rx);
	g_ptr_array_unref(c->rx_chunks);
	g_hash_table_unref(c->cmds);
	g_free(c);
}

const struct dm_ops dm_iser_ops = {
    .name = "iser",
    .caps = {.rdma = true, .max_transfer = ISER_MAX_TRANSFER},
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
    .cork = iser_cork,
    .set_pinned_limit = iser_set_pinned_limit,
    .reset = iser_reset,
    .destroy = iser_destroy,
};
