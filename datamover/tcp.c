// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The TCP datamover: iSCSI PDU framing over a non-blocking TCP socket.
 *
 * Receive: a state machine reads the BHS, the AHS and header digest, then the
 * data segment straight into its destination (the task's read buffer for
 * Data-In, an internal buffer for everything else), then padding and data
 * digest. While a data segment is read, the next BHS is read in the same
 * readv() so that a steady stream costs about one system call per PDU.
 * While no read on the connection can still receive Data-In (only writes,
 * flushes and the like are out: every byte the target has sent belongs to
 * responses, R2Ts, NOP-Ins, none of it payload), the socket is instead read
 * in chunks into a staging area and every PDU in a chunk is parsed from
 * there: a burst of SCSI Responses to writes costs one recv(), and no
 * payload is copied, since none can be in the chunk. With one command
 * open and that a read (queue depth 1), its Data-In is expected next: the
 * BHS, the whole payload straight into the read buffer and the next BHS
 * are asked of one readv(); if the PDU turns out to be another, what
 * landed in the buffer is moved to the staging area and parsed from there.
 *
 * Send: a FIFO of PDUs, each an iovec set pointing at the caller's payload,
 * written with sendmsg() as far as the socket takes it.
 *
 * Digests are CRC32C sent least significant byte first: RFC 7143 does not
 * spell out the byte order in words, but its CRC32C examples (RFC 3720 B.4:
 * 32 zero bytes give "aa 36 91 8a") and the Linux iscsi_tcp/iscsi-target
 * code (the crc32c crypto hash stores its result with put_unaligned_le32)
 * agree on little-endian, unlike every other field of the PDU.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <glib.h>

#include "datamover/crc32c.h"
#include "datamover/datamover.h"
#include "datamover/dm-common.h"
#include "datamover/netutil.h"
#include "datamover/pool.h"
#include "datamover/tcp-test.h"

/* RFC 7143 12.12: MaxRecvDataSegmentLength during login is 8192. */
#define DM_LOGIN_DSL 8192u
#define DM_MAX_AHS   (255u * 4u)
#define DM_HDR_MAX   (ISCSI_BHS_LEN + DM_MAX_AHS + ISCSI_DIGEST_LEN)
/* Bounds one sendmsg(); Linux IOV_MAX is 1024. */
#define DM_TX_IOV 64
/* Receive system calls per service() before giving the sender a turn. */
#define DM_RX_BUDGET 64
/* The staging area of chunked reads: 340 responses of 48 bytes. */
#define DM_STAGE_LEN 16384u

#define DM_TCP_ERROR (g_quark_from_static_string("dm-tcp-error"))

/**
 * struct tx_pdu - one PDU in the send queue.
 * @task: the task whose payload @iov points into, or NULL
 * @ends_r2t: last Data-Out answering an R2T of @task
 * @owned: a copy of the data segment this entry owns, or NULL
 * @iov: header, data, trailer; advanced in place as bytes go out
 * @iovcnt: entries used in @iov
 * @iov_cur: first entry of @iov not yet fully written
 * @sent: bytes of this PDU written so far (non-zero: it must be finished)
 * @trailer: padding then data digest
 * @hdr: BHS, AHS and header digest
 */
struct tx_pdu {
	struct dm_task *task;
	bool ends_r2t;
	void *owned;
	struct iovec iov[3];
	unsigned int iovcnt;
	unsigned int iov_cur;
	size_t sent;
	uint8_t trailer[3 + ISCSI_DIGEST_LEN];
	uint8_t hdr[];
};

/**
 * struct rx_state - where the receiver is within the current PDU.
 * @hdr: BHS, AHS and header digest of the current PDU
 * @hdr_got: bytes of @hdr received
 * @hdr_need: 48 until the BHS is in, then the whole header length
 * @in_data: header complete and validated; receiving data and trailer
 * @opcode: opcode of the current PDU
 * @ahs_len: AHS bytes in @hdr
 * @dst: where the data segment goes
 * @dlen: DataSegmentLength
 * @data_got: bytes of the data segment received
 * @trailer: padding and data digest
 * @trailer_need: their length (0 when the data segment is empty)
 * @trailer_got: bytes of @trailer received
 * @dcrc: running data digest over data and padding
 * @task: Data-In or R2T task, cleared by forget_task()
 * @orphaned: @task was forgotten while its PDU was being received
 * @next: the following PDU's BHS, read ahead with the data segment
 * @next_got: bytes of @next received
 */
struct rx_state {
	uint8_t hdr[DM_HDR_MAX];
	uint32_t hdr_got;
	uint32_t hdr_need;
	bool in_data;
	uint8_t opcode;
	uint32_t ahs_len;
	uint8_t *dst;
	uint32_t dlen;
	uint32_t data_got;
	uint8_t trailer[3 + ISCSI_DIGEST_LEN];
	uint32_t trailer_need;
	uint32_t trailer_got;
	uint32_t dcrc;
	struct dm_task *task;
	bool orphaned;
	uint8_t next[ISCSI_BHS_LEN];
	uint32_t next_got;
};

/**
 * struct dm_conn - a TCP connection to one target portal.
 * @up: the iSCSI layer's upcalls
 * @fd: the socket, -1 before connect
 * @connecting: a connect is under way on @fd (see tcp_connect)
 * @corked: sends only queue until uncorked (dm_ops.cork)
 * @connect_res: the addresses it tries, @connect_ai the one now tried
 * @connect_errs: why each address tried so far failed
 * @failed: failed() has been called; nothing more moves
 * @params: negotiated values (login defaults until set_params)
 * @params_set: set_params() has been called
 * @txq: struct tx_pdu entries, oldest first
 * @rx: receive state
 * @rxbuf: data segments of PDUs other than Data-In
 * @rxbuf_size: its size
 * @copied: payload bytes memcpy'd (see dm_ops.stats_copied)
 * @gen: this connection's number, new at each reset (dm_task.open_on)
 * @tasks_open: commands sent on it and not yet forgotten
 * @reads_open: those of them that are reads (may still receive Data-In)
 * @stage: a chunk read from the socket while @reads_open was 0, or NULL
 * @stage_size: its size
 * @stage_off: bytes of @stage parsed; @stage_len: bytes in it
 * @rx_calls: receive system calls made (dm_tcp_rx_calls)
 * @last_read: the read sent last, while it is open (forget_task clears it)
 */
struct dm_conn {
	struct dm_upcalls up;
	struct dm_pool *pool;
	int fd;
	bool connecting;
	bool corked;
	struct addrinfo *connect_res;
	struct addrinfo *connect_ai;
	GString *connect_errs;
	bool failed;
	struct dm_params params;
	bool params_set;
	GQueue txq;
	struct rx_state rx;
	uint8_t *rxbuf;
	uint32_t rxbuf_size;
	uint64_t copied;
	uint64_t gen;
	uint32_t tasks_open;
	uint32_t reads_open;
	uint8_t *stage;
	uint32_t stage_size;
	uint32_t stage_off;
	uint32_t stage_len;
	uint64_t rx_calls;
	struct dm_task *last_read;
};

/* Connection numbers for dm_task.open_on; 0 is none. */
static uint64_t next_gen(void)
{
	static uint64_t gen;

	return __atomic_add_fetch(&gen, 1, __ATOMIC_RELAXED);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void tx_pdu_free(struct tx_pdu *t)
{
	g_free(t->owned);
	g_free(t);
}

/* Drops every queued PDU; the connection is failing or going away. */
static void tx_purge(struct dm_conn *c)
{
	struct tx_pdu *t;

	while ((t = g_queue_pop_head(&c->txq))) {
		if (t->task) {
			t->task->queued--;
			if (t->ends_r2t)
				t->task->r2t_outstanding--;
		}
		tx_pdu_free(t);
	}
}

/* Marks the connection dead and tells the iSCSI layer, once. */
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
	tx_purge(c);
	c->rx.task = NULL;
	c->up.failed(c->up.opaque, err, msg);
}

/*
 * The target broke the protocol on @task: count it against the task (the
 * initiator gives up on a task the target keeps breaking) and fail the
 * connection.
 */
#define dm_task_violation(c, task, ...)                                                            \
	do {                                                                                       \
		(task)->violations++;                                                              \
		dm_fail(c, EPROTO, __VA_ARGS__);                                                   \
	} while (0)

static struct dm_conn *tcp_create(const struct dm_upcalls *up)
{
	struct dm_conn *c = g_new0(struct dm_conn, 1);

	c->up = *up;
	c->pool = pool_new(NULL);
	c->fd = -1;
	c->connect_errs = g_string_new(NULL);
	dm_params_login(&c->params);
	g_queue_init(&c->txq);
	c->rx.hdr_need = ISCSI_BHS_LEN;
	c->gen = next_gen();
	return c;
}

/*
 * Connecting never blocks (name resolution aside: getaddrinfo() of a
 * literal does not, of a name it may). connect() starts a non-blocking
 * connect to the first address; service() sees the socket writable, takes
 * the outcome from SO_ERROR and either calls connected() or moves on to the
 * next address; when none is left, failed() carries every address's reason.
 * The session times the attempt out by resetting the connection.
 *
 * The next address's socket is opened before the last one is closed, so
 * that its number differs and the owner's epoll sees a new fd (a closed fd
 * leaves an epoll set by itself; a reused number would look unchanged).
 */
static void connect_note(struct dm_conn *c, const struct addrinfo *ai, int err)
{
	g_autofree char *where = dm_addr_str(ai->ai_addr, ai->ai_addrlen);

	if (c->connect_errs->len)
		g_string_append(c->connect_errs, "; ");
	g_string_append_printf(c->connect_errs, "connect to %s: %s", where, g_strerror(err));
}

/*
 * Starts connecting to the addresses from @ai on, replacing c->fd. Returns
 * 0 while one is under way, -1 when every one failed at once.
 */
static int connect_from(struct dm_conn *c, struct addrinfo *ai)
{
	for (; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				ai->ai_protocol);

		if (fd < 0) {
			connect_note(c, ai, errno);
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			connect_note(c, ai, errno);
			close(fd);
			continue;
		}
		/* Done at once or not: service() finds out from SO_ERROR. */
		if (c->fd >= 0)
			close(c->fd);
		c->fd = fd;
		c->connect_ai = ai;
		return 0;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->connect_ai = NULL;
	return -1;
}

static void connect_end(struct dm_conn *c)
{
	if (c->connect_res)
		freeaddrinfo(c->connect_res);
	c->connect_res = NULL;
	c->connect_ai = NULL;
	c->connecting = false;
}

/*
 * Socket buffers are left to the kernel's autotuning: setting SO_RCVBUF or
 * SO_SNDBUF turns autotuning off for the socket and caps the buffer at
 * net.core.[rw]mem_max (often 208 KiB), which is smaller than what autotuning
 * reaches (tcp_rmem/tcp_wmem, 6 MiB and 4 MiB by default) on a fast link
 * carrying 1 MiB transfers.
 */
static int tcp_connect(struct dm_conn *c, const char *host, uint16_t port, int timeout_ms,
		       GError **error)
{
	(void)timeout_ms;
	if (c->fd >= 0 || c->failed || c->connecting) {
		g_set_error(error, DM_TCP_ERROR, EISCONN, "connect to %s:%u: already used", host,
			    port);
		return -1;
	}
	c->connect_res = dm_resolve(host, port, DM_TCP_ERROR, error);
	if (!c->connect_res)
		return -1;
	g_string_truncate(c->connect_errs, 0);
	if (connect_from(c, c->connect_res) < 0) {
		g_set_error_literal(error, DM_TCP_ERROR, ECONNREFUSED, c->connect_errs->str);
		connect_end(c);
		return -1;
	}
	c->connecting = true;
	return 0;
}

/* The socket of a connect under way became writable (or failed). */
static void connect_progress(struct dm_conn *c)
{
	int err = 0, one = 1;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (!err) {
		/* PDUs are complete messages; Nagle would delay every small command. */
		if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
		    setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0) {
			err = errno;
		} else {
			connect_end(c);
			c->up.connected(c->up.opaque);
			return;
		}
	}
	connect_note(c, c->connect_ai, err);
	if (connect_from(c, c->connect_ai->ai_next) == 0)
		return;
	connect_end(c);
	dm_fail(c, err, "%s", c->connect_errs->str);
}

int dm_tcp_adopt_fd(struct dm_conn *c, int fd)
{
	if (c->fd >= 0 || c->failed || fd < 0 || dm_set_nonblock(fd) < 0)
		return -1;
	c->fd = fd;
	return 0;
}

static int tx_flush(struct dm_conn *c);

static void tcp_cork(struct dm_conn *c, bool on)
{
	c->corked = on;
	if (!on && c->fd >= 0 && !c->connecting)
		tx_flush(c);
}

static int tcp_get_fd(struct dm_conn *c)
{
	return c->fd;
}

static uint32_t tcp_which_events(struct dm_conn *c)
{
	if (c->failed || c->fd < 0)
		return 0;
	if (c->connecting)
		return EPOLLOUT;
	/* Corked, the queue goes out at the uncork: no need to wait for room. */
	return EPOLLIN | (g_queue_is_empty(&c->txq) || c->corked ? 0 : EPOLLOUT);
}

/* Consumes @n written bytes from the head of the queue. */
static void tx_advance(struct dm_conn *c, size_t n)
{
	while (n) {
		struct tx_pdu *t = g_queue_peek_head(&c->txq);
		struct iovec *v = &t->iov[t->iov_cur];
		size_t k = MIN(n, v->iov_len);

		v->iov_base = (uint8_t *)v->iov_base + k;
		v->iov_len -= k;
		t->sent += k;
		n -= k;
		while (t->iov_cur < t->iovcnt && t->iov[t->iov_cur].iov_len == 0)
			t->iov_cur++;
		if (t->iov_cur < t->iovcnt)
			continue;
		g_queue_pop_head(&c->txq);
		if (t->task) {
			t->task->queued--;
			if (t->ends_r2t)
				t->task->r2t_outstanding--;
		}
		tx_pdu_free(t);
	}
}

/* Writes as much of the queue as the socket takes; 0, or -1 once failed. */
static int tx_flush(struct dm_conn *c)
{
	while (!c->failed && !g_queue_is_empty(&c->txq)) {
		struct iovec iov[DM_TX_IOV];
		struct msghdr msg = {.msg_iov = iov};
		size_t want = 0;
		ssize_t n;

		for (GList *l = c->txq.head; l && msg.msg_iovlen < DM_TX_IOV; l = l->next) {
			struct tx_pdu *t = l->data;

			for (unsigned int i = t->iov_cur; i < t->iovcnt; i++) {
				if (msg.msg_iovlen == DM_TX_IOV)
					break;
				if (!t->iov[i].iov_len)
					continue;
				iov[msg.msg_iovlen++] = t->iov[i];
				want += t->iov[i].iov_len;
			}
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			dm_fail(c, errno, "send: %s", g_strerror(errno));
			break;
		}
		tx_advance(c, (size_t)n);
		if ((size_t)n < want)
			break;
	}
	return c->failed ? -1 : 0;
}

/*
 * Builds a queue entry around a header of @hdr_len bytes (BHS and AHS) and a
 * data segment at @data: DataSegmentLength, padding and both digests are
 * filled in here, so the framing is always consistent.
 */
static struct tx_pdu *tx_pdu_new(struct dm_conn *c, const uint8_t *hdr, uint32_t hdr_len,
				 const void *data, uint32_t dlen)
{
	uint32_t hd = c->params.header_digest ? ISCSI_DIGEST_LEN : 0;
	uint32_t pad = ISCSI_PAD(dlen) - dlen;
	struct tx_pdu *t = g_malloc0(sizeof(*t) + hdr_len + hd);

	memcpy(t->hdr, hdr, hdr_len);
	iscsi_set_dlength(((struct iscsi_bhs *)t->hdr)->dlength, dlen);
	if (hd)
		put_le32(t->hdr + hdr_len, crc32c(0, t->hdr, hdr_len));
	t->iov[0] = (struct iovec){.iov_base = t->hdr, .iov_len = hdr_len + hd};
	t->iovcnt = 1;
	if (dlen) {
		uint32_t tlen = pad;

		t->iov[1] = (struct iovec){.iov_base = (void *)data, .iov_len = dlen};
		if (c->params.data_digest) {
			uint32_t crc = crc32c(0, data, dlen);

			put_le32(t->trailer + pad, crc32c(crc, t->trailer, pad));
			tlen += ISCSI_DIGEST_LEN;
		}
		t->iov[2] = (struct iovec){.iov_base = t->trailer, .iov_len = tlen};
		t->iovcnt = 3;
	}
	return t;
}

static void tx_push(struct dm_conn *c, struct tx_pdu *t, struct dm_task *task)
{
	t->task = task;
	if (task)
		task->queued++;
	g_queue_push_tail(&c->txq, t);
}

/* Queues Data-Out for [@off, @end) of @task's write buffer, DataSN from 0. */
static void tx_data_out(struct dm_conn *c, struct dm_task *task, const uint8_t ttt[4], uint32_t off,
			uint32_t end, bool r2t)
{
	uint32_t datasn = 0;

	while (off < end) {
		uint32_t len = MIN(end - off, c->params.max_xmit_dsl);
		struct iscsi_data_out h;
		uint32_t ttt_net;
		struct tx_pdu *t;

		memcpy(&ttt_net, ttt, 4);
		dm_data_out_bhs(&h, task->lun, task->itt, ttt_net, c->up.exp_statsn(c->up.opaque),
				datasn++, off, off + len == end);
		t = tx_pdu_new(c, (const uint8_t *)&h, sizeof(h),
			       (const uint8_t *)task->write_buf + off, len);
		t->ends_r2t = r2t && off + len == end;
		tx_push(c, t, task);
		off += len;
	}
}

/* Header length of a PDU to send: its BHS and the AHS that follows it. */
static uint32_t tx_hdr_len(const uint8_t *bhs)
{
	return ISCSI_BHS_LEN + ((const struct iscsi_bhs *)bhs)->ahs_len * 4u;
}

static int tcp_send_pdu(struct dm_conn *c, const uint8_t *bhs, const void *data, uint32_t dlen)
{
	struct tx_pdu *t;
	void *copy;

	if (c->failed || c->fd < 0 || c->connecting)
		return -1;
	/* A caller bug, not a connection failure: refuse the PDU. */
	if (dlen > c->params.max_xmit_dsl || (dlen && !data))
		return -1;
	copy = dlen ? g_memdup2(data, dlen) : NULL;
	t = tx_pdu_new(c, bhs, tx_hdr_len(bhs), copy, dlen);
	t->owned = copy;
	tx_push(c, t, NULL);
	return c->corked ? 0 : tx_flush(c);
}

static int tcp_send_command(struct dm_conn *c, const uint8_t *bhs, struct dm_task *task)
{
	static const uint8_t no_ttt[4] = {0xff, 0xff, 0xff, 0xff};

	if (c->failed || c->fd < 0 || c->connecting)
		return -1;
	if (task->imm_len > task->unsol_len || task->unsol_len > task->write_len ||
	    task->imm_len > c->params.max_xmit_dsl || (task->write_len && !task->write_buf))
		return -1;
	tx_push(c, tx_pdu_new(c, bhs, tx_hdr_len(bhs), task->write_buf, task->imm_len), task);
	tx_data_out(c, task, no_ttt, task->imm_len, task->unsol_len, false);
	/* From here on the target may send Data-In: no more chunked reads. */
	if (task->open_on != c->gen) {
		task->open_on = c->gen;
		c->tasks_open++;
		if (task->read_len) {
			c->reads_open++;
			c->last_read = task;
		}
	}
	return c->corked ? 0 : tx_flush(c);
}

/*
 * The head PDU of @task is partly written: the stream must carry it whole,
 * but @task->write_buf is about to go away, so its unsent rest is copied.
 */
static void tx_detach_partial(struct dm_conn *c, struct tx_pdu *t)
{
	size_t left = 0, data_left;
	uint8_t *copy, *p;

	for (unsigned int i = t->iov_cur; i < t->iovcnt; i++)
		left += t->iov[i].iov_len;
	data_left = t->iovcnt > 1 ? t->iov[1].iov_len : 0;
	copy = g_malloc(left);
	p = copy;
	for (unsigned int i = t->iov_cur; i < t->iovcnt; i++) {
		memcpy(p, t->iov[i].iov_base, t->iov[i].iov_len);
		p += t->iov[i].iov_len;
	}
	g_free(t->owned);
	t->owned = copy;
	t->iov[0] = (struct iovec){.iov_base = copy, .iov_len = left};
	t->iovcnt = 1;
	t->iov_cur = 0;
	t->task = NULL;
	c->copied += data_left;
}

static void tcp_forget_task(struct dm_conn *c, struct dm_task *task)
{
	GList *l = c->txq.head;

	while (l) {
		GList *next = l->next;
		struct tx_pdu *t = l->data;

		if (t->task == task) {
			if (t->sent) {
				tx_detach_partial(c, t);
			} else {
				g_queue_delete_link(&c->txq, l);
				tx_pdu_free(t);
			}
		}
		l = next;
	}
	task->queued = 0;
	task->r2t_outstanding = 0;
	if (task->open_on == c->gen) {
		c->tasks_open--;
		if (task->read_len)
			c->reads_open--;
	}
	task->open_on = 0;
	if (c->last_read == task)
		c->last_read = NULL;
	if (c->rx.task == task) {
		c->rx.task = NULL;
		c->rx.orphaned = true;
		/* The rest of a Data-In payload is read and thrown away. */
		if (c->rx.opcode == ISCSI_OP_DATA_IN)
			c->rx.dst = c->rxbuf;
	}
}

static void tcp_set_params(struct dm_conn *c, const struct dm_params *p)
{
	c->params = *p;
	/* Below the RFC minimum is a caller bug; 0 would never finish a burst. */
	c->params.max_xmit_dsl = MAX(p->max_xmit_dsl, ISCSI_MIN_MRDSL);
	c->params_set = true;
	/* Not grown here: rxbuf may be the data of the PDU being delivered. */
}

/* Makes rxbuf hold any data segment the current limit allows. */
static void rx_reserve(struct dm_conn *c)
{
	uint32_t want = MAX(c->params.max_recv_dsl, DM_LOGIN_DSL);

	if (c->rxbuf_size >= want)
		return;
	g_free(c->rxbuf);
	c->rxbuf = g_malloc(want);
	c->rxbuf_size = want;
}

/*
 * The Data-In with status ends the data: every byte the command expected
 * must have come, but for the residual underflow it reports (RFC 7143
 * 11.7.5). Otherwise part of the buffer would pass for data it never got.
 */
static int rx_check_data_in_total(struct dm_conn *c, const struct iscsi_data_in *h,
				  struct dm_task *task)
{
	uint32_t residual = ntohl(h->residual_count), want = task->read_len;

	if (h->flags & ISCSI_DATA_UNDERFLOW) {
		if (residual > task->read_len) {
			dm_task_violation(c, task,
					  "Data-In with an underflow of %u bytes in a %u-byte read",
					  residual, task->read_len);
			return -1;
		}
		want -= residual;
	}
	if ((uint64_t)task->read_placed + c->rx.dlen != want) {
		dm_task_violation(
		    c, task,
		    "Data-In with status for ITT 0x%08x after %u bytes; %u were expected "
		    "(residual underflow %u)",
		    task->itt, task->read_placed + c->rx.dlen, want,
		    h->flags & ISCSI_DATA_UNDERFLOW ? residual : 0);
		return -1;
	}
	return 0;
}

/* Data-In header checks; sets where the payload goes. */
static int rx_plan_data_in(struct dm_conn *c)
{
	struct rx_state *rx = &c->rx;
	const struct iscsi_data_in *h = (const struct iscsi_data_in *)rx->hdr;
	uint32_t itt = ntohl(h->itt), off = ntohl(h->offset), sn = ntohl(h->datasn);
	struct dm_task *task = c->up.find_task(c->up.opaque, itt);

	if (!task) {
		dm_fail(c, EPROTO, "Data-In for ITT 0x%08x we never issued", itt);
		return -1;
	}
	if ((uint64_t)off + rx->dlen > task->read_len || (rx->dlen && !task->read_buf)) {
		dm_task_violation(c, task,
				  "Data-In past the end of the buffer: offset %u + %u > %u", off,
				  rx->dlen, task->read_len);
		return -1;
	}
	if (sn != task->next_datasn) {
		dm_task_violation(c, task, "Data-In for ITT 0x%08x has DataSN %u, expected %u", itt,
				  sn, task->next_datasn);
		return -1;
	}
	/*
	 * We offer DataPDUInOrder=Yes and DataSequenceInOrder=Yes, whose result
	 * function is OR: data comes in order, without overlays, so bytes
	 * placed so far is also where the next payload starts.
	 */
	if (rx->dlen && off != task->read_placed) {
		dm_task_violation(c, task,
				  "Data-In for ITT 0x%08x at offset %u, expected %u (in order)",
				  itt, off, task->read_placed);
		return -1;
	}
	if ((h->flags & ISCSI_DATA_STATUS) && rx_check_data_in_total(c, h, task) < 0)
		return -1;
	rx->task = task;
	rx->dst = rx->dlen ? (uint8_t *)task->read_buf + off : NULL;
	return 0;
}

/* R2T header checks, before any Data-Out is queued for it. */
static int rx_plan_r2t(struct dm_conn *c)
{
	struct rx_state *rx = &c->rx;
	const struct iscsi_r2t *h = (const struct iscsi_r2t *)rx->hdr;
	uint32_t itt = ntohl(h->itt), off = ntohl(h->data_offset), len = ntohl(h->data_length);
	struct dm_task *task = c->up.find_task(c->up.opaque, itt);

	if (!task) {
		dm_fail(c, EPROTO, "R2T for ITT 0x%08x we never issued", itt);
		return -1;
	}
	if (!len) {
		dm_task_violation(c, task, "R2T for ITT 0x%08x with DesiredDataTransferLength 0",
				  itt);
		return -1;
	}
	if ((uint64_t)off + len > task->write_len) {
		dm_task_violation(c, task, "R2T past the end of the buffer: offset %u + %u > %u",
				  off, len, task->write_len);
		return -1;
	}
	if (len > c->params.max_burst) {
		dm_task_violation(c, task, "R2T for %u bytes exceeds MaxBurstLength %u", len,
				  c->params.max_burst);
		return -1;
	}
	if (task->r2t_outstanding >= c->params.max_outstanding_r2t) {
		dm_task_violation(c, task, "R2T for ITT 0x%08x exceeds MaxOutstandingR2T %u", itt,
				  c->params.max_outstanding_r2t);
		return -1;
	}
	rx->task = task;
	return 0;
}

/* The header is complete: check it and set up the data segment. */
static int rx_header_done(struct dm_conn *c)
{
	struct rx_state *rx = &c->rx;
	uint32_t hlen = ISCSI_BHS_LEN + rx->ahs_len;
	uint32_t limit = c->params_set ? c->params.max_recv_dsl : DM_LOGIN_DSL;

	if (c->params.header_digest && crc32c(0, rx->hdr, hlen) != get_le32(rx->hdr + hlen)) {
		dm_fail(c, EPROTO, "header digest mismatch on %s", iscsi_opcode_name(rx->opcode));
		return -1;
	}
	rx->dlen = iscsi_dlength(((const struct iscsi_bhs *)rx->hdr)->dlength);
	if (rx->dlen > limit) {
		dm_fail(c, EPROTO,
			"%s with a %u-byte data segment exceeds MaxRecvDataSegmentLength %u",
			iscsi_opcode_name(rx->opcode), rx->dlen, limit);
		return -1;
	}
	rx_reserve(c);
	rx->task = NULL;
	rx->orphaned = false;
	rx->dst = c->rxbuf;
	if (rx->opcode == ISCSI_OP_DATA_IN && rx_plan_data_in(c) < 0)
		return -1;
	if (rx->opcode == ISCSI_OP_R2T && rx_plan_r2t(c) < 0)
		return -1;
	rx->data_got = 0;
	rx->trailer_got = 0;
	rx->trailer_need = 0;
	if (rx->dlen)
		rx->trailer_need =
		    ISCSI_PAD(rx->dlen) - rx->dlen + (c->params.data_digest ? ISCSI_DIGEST_LEN : 0);
	rx->dcrc = 0;
	rx->in_data = true;
	return 0;
}

/* A whole PDU is in: check the data digest, act on it, pass it up. */
static int rx_pdu_done(struct dm_conn *c)
{
	struct rx_state *rx = &c->rx;
	struct dm_task *task = rx->task;
	const uint8_t *ahs = rx->ahs_len ? rx->hdr + ISCSI_BHS_LEN : NULL;
	uint32_t pad = ISCSI_PAD(rx->dlen) - rx->dlen;
	int rc = 0;

	if (rx->dlen && c->params.data_digest &&
	    crc32c(rx->dcrc, rx->trailer, pad) != get_le32(rx->trailer + pad)) {
		dm_fail(c, EPROTO, "data digest mismatch on %s", iscsi_opcode_name(rx->opcode));
		return -1;
	}
	rx->in_data = false;
	rx->task = NULL;
	/* The iSCSI layer dropped this task mid-PDU: it must not hear of it. */
	if (!rx->orphaned) {
		if (rx->opcode == ISCSI_OP_DATA_IN) {
			task->read_placed += rx->dlen;
			task->next_datasn++;
			rc = c->up.pdu(c->up.opaque, rx->hdr, ahs, rx->ahs_len, NULL, rx->dlen);
		} else if (rx->opcode == ISCSI_OP_R2T) {
			const struct iscsi_r2t *h = (const struct iscsi_r2t *)rx->hdr;
			uint32_t off = ntohl(h->data_offset);

			task->r2t_outstanding++;
			tx_data_out(c, task, (const uint8_t *)&h->ttt, off,
				    off + ntohl(h->data_length), true);
			rc = c->up.pdu(c->up.opaque, rx->hdr, ahs, rx->ahs_len, c->rxbuf, rx->dlen);
		} else {
			rc = c->up.pdu(c->up.opaque, rx->hdr, ahs, rx->ahs_len, c->rxbuf, rx->dlen);
		}
	}
	if (rc < 0)
		dm_fail(c, EPROTO, "%s rejected by the iSCSI layer", iscsi_opcode_name(rx->opcode));
	if (c->failed)
		return -1;
	/* Start the next PDU with whatever of its BHS was read ahead. */
	memcpy(rx->hdr, rx->next, rx->next_got);
	rx->hdr_got = rx->next_got;
	rx->hdr_need = ISCSI_BHS_LEN;
	rx->next_got = 0;
	return 0;
}

/* Header bytes arrived: parse the BHS once it is whole. */
static int rx_header_progress(struct dm_conn *c)
{
	struct rx_state *rx = &c->rx;

	if (rx->hdr_got == ISCSI_BHS_LEN && rx->hdr_need == ISCSI_BHS_LEN) {
		rx->opcode = rx->hdr[0] & ISCSI_OPCODE_MASK;
		rx->ahs_len = ((const struct iscsi_bhs *)rx->hdr)->ahs_len * 4u;
		rx->hdr_need =
		    ISCSI_BHS_LEN + rx->ahs_len + (c->params.header_digest ? ISCSI_DIGEST_LEN : 0);
	}
	if (rx->hdr_got == rx->hdr_need)
		return rx_header_done(c);
	return 0;
}

/* Spreads @n bytes read by the data-stage readv() over its three parts. */
static void rx_data_progress(struct dm_conn *c, size_t n)
{
	struct rx_state *rx = &c->rx;
	size_t k = MIN(n, (size_t)(rx->dlen - rx->data_got));

	if (k && c->params.data_digest)
		rx->dcrc = crc32c(rx->dcrc, rx->dst + rx->data_got, k);
	rx->data_got += k;
	n -= k;
	k = MIN(n, (size_t)(rx->trailer_need - rx->trailer_got));
	rx->trailer_got += k;
	n -= k;
	rx->next_got += n;
}

/*
 * Fills @iov from the staging area as a readv() of the socket would;
 * returns the bytes it gave. Only Data-In payload counts as copied: it
 * lands in the staging area only when the target sent Data-In for a read
 * that was not open when the chunk was read, a violation about to fail.
 */
static size_t rx_from_stage(struct dm_conn *c, const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt && c->stage_off < c->stage_len; i++) {
		size_t k = MIN(iov[i].iov_len, (size_t)(c->stage_len - c->stage_off));

		memcpy(iov[i].iov_base, c->stage + c->stage_off, k);
		if (c->rx.in_data && c->rx.opcode == ISCSI_OP_DATA_IN &&
		    iov[i].iov_base == c->rx.dst + c->rx.data_got)
			c->copied += k;
		c->stage_off += (uint32_t)k;
		n += k;
		if (k < iov[i].iov_len)
			break;
	}
	return n;
}

/*
 * Chunked reading is safe while no read can receive Data-In, and while the
 * PDU under way is not a Data-In (one of a read just forgotten).
 */
static bool rx_may_stage(const struct dm_conn *c)
{
	return c->reads_open == 0 && !(c->rx.in_data && c->rx.opcode == ISCSI_OP_DATA_IN);
}

/*
 * The read whose Data-In is expected next, in one PDU that needs no
 * padding or digest, or NULL: only when it is the one command open and
 * nothing of it has come yet, and the receiver is at a PDU boundary. Then
 * only a PDU the target sends unasked (NOP-In, Async Message, Reject) can
 * come first; that costs a copy of the payload read behind it (counted).
 */
static struct dm_task *rx_predict(const struct dm_conn *c)
{
	const struct dm_task *t = c->last_read;

	if (c->tasks_open != 1 || c->reads_open != 1 || !t || c->rx.in_data || c->rx.hdr_got ||
	    !c->params_set || c->params.header_digest || c->params.data_digest)
		return NULL;
	if (t->read_placed || t->next_datasn || !t->read_buf || t->read_len % 4 ||
	    t->read_len > c->params.max_recv_dsl)
		return NULL;
	return c->last_read;
}

/*
 * Is the BHS in rx.hdr a Data-In of @t at offset 0 (the payload then went
 * where it belongs)? Its length is checked by the caller: it may be less
 * than the read's (a short transfer, as INQUIRY answers are).
 */
static bool rx_predicted(const struct dm_conn *c, const struct dm_task *t)
{
	const struct iscsi_data_in *h = (const struct iscsi_data_in *)c->rx.hdr;

	return (h->opcode & ISCSI_OPCODE_MASK) == ISCSI_OP_DATA_IN && !h->ahs_len &&
	       ntohl(h->itt) == t->itt && h->offset == 0;
}

/* Bytes read past where they belong, @a then @b, to be parsed again. */
static void rx_restage(struct dm_conn *c, const uint8_t *a, size_t alen, const uint8_t *b,
		       size_t blen)
{
	size_t len = alen + blen;

	if (!c->stage || c->stage_size < len) {
		g_free(c->stage);
		c->stage_size = MAX(DM_STAGE_LEN, (uint32_t)len);
		c->stage = g_malloc(c->stage_size);
	}
	memcpy(c->stage, a, alen);
	memcpy(c->stage + alen, b, blen);
	c->stage_off = 0;
	c->stage_len = (uint32_t)len;
}

/*
 * One readv() of a BHS, @t's whole payload in place and the next BHS.
 * Returns what readv() did, or -2 once failed. When the BHS is not a
 * Data-In of @t's whole length, the bytes that landed behind where they
 * belong are moved to the staging area, where the receiver parses them
 * as if they had just been read.
 */
static ssize_t rx_read_predicted(struct dm_conn *c, struct dm_task *t, size_t *asked)
{
	struct rx_state *rx = &c->rx;
	uint8_t *buf = t->read_buf;
	struct iovec iov[3] = {
	    {rx->hdr, ISCSI_BHS_LEN},
	    {buf, t->read_len},
	    {rx->next, ISCSI_BHS_LEN},
	};
	size_t after, in_buf, dlen;
	ssize_t n;

	*asked = 2 * ISCSI_BHS_LEN + t->read_len;
	n = readv(c->fd, iov, 3);
	c->rx_calls++;
	if (n <= ISCSI_BHS_LEN)
		return n;
	rx->hdr_got = ISCSI_BHS_LEN;
	after = (size_t)n - ISCSI_BHS_LEN;
	in_buf = MIN(after, (size_t)t->read_len);
	dlen = iscsi_dlength(((const struct iscsi_bhs *)rx->hdr)->dlength);
	if (!rx_predicted(c, t) || dlen > t->read_len) {
		rx_restage(c, buf, in_buf, rx->next, after - in_buf);
		return rx_header_progress(c) < 0 ? -2 : n;
	}
	if (rx_header_progress(c) < 0)
		return -2;
	if (dlen == t->read_len) {
		/* The guess was right: data, then the next BHS. */
		rx_data_progress(c, after);
		return n;
	}
	/* A short transfer: its data is in place, what follows it is not. */
	rx->data_got = (uint32_t)MIN(in_buf, dlen);
	if (in_buf > dlen)
		rx_restage(c, buf + dlen, in_buf - dlen, rx->next, after - in_buf);
	return n;
}

/* Reads and handles PDUs until the socket is empty; 0, or -1 once failed. */
static int rx_service(struct dm_conn *c)
{
	struct rx_state *rx = &c->rx;
	/*
	 * A read that got less than it asked for emptied the socket: what it
	 * completed is processed, but reading again would only meet EAGAIN,
	 * a system call for nothing. Level-triggered epoll reports what
	 * arrives after it.
	 */
	bool drained = false;
	int budget = DM_RX_BUDGET;

	/*
	 * Only a read ends the loop: a PDU completed by the last one, or bytes
	 * staged (no longer in the socket, so epoll would not report them),
	 * are handled first.
	 */
	while (!c->failed) {
		struct iovec iov[3];
		struct dm_task *predicted;
		size_t asked = 0;
		int cnt = 0;
		ssize_t n;

		if (rx->in_data && rx->data_got == rx->dlen &&
		    rx->trailer_got == rx->trailer_need) {
			if (rx_pdu_done(c) < 0)
				return -1;
			if (rx_header_progress(c) < 0)
				return -1;
			continue;
		}
		if (rx->in_data) {
			if (rx->data_got < rx->dlen)
				iov[cnt++] =
				    (struct iovec){rx->dst + rx->data_got, rx->dlen - rx->data_got};
			if (rx->trailer_got < rx->trailer_need)
				iov[cnt++] = (struct iovec){rx->trailer + rx->trailer_got,
							    rx->trailer_need - rx->trailer_got};
			iov[cnt++] = (struct iovec){rx->next, ISCSI_BHS_LEN};
		} else {
			iov[cnt++] =
			    (struct iovec){rx->hdr + rx->hdr_got, rx->hdr_need - rx->hdr_got};
		}
		if (c->stage_off < c->stage_len) {
			n = (ssize_t)rx_from_stage(c, iov, cnt);
		} else if (drained || budget == 0) {
			return 0;
		} else if ((predicted = rx_predict(c))) {
			n = rx_read_predicted(c, predicted, &asked);
			if (n == -2)
				return -1;
			if (n > ISCSI_BHS_LEN) {
				budget--;
				drained = (size_t)n < asked;
				continue;
			}
			if (n > 0) {
				budget--;
				drained = true;
			}
		} else if (rx_may_stage(c)) {
			if (!c->stage) {
				c->stage_size = DM_STAGE_LEN;
				c->stage = g_malloc(DM_STAGE_LEN);
			}
			n = recv(c->fd, c->stage, DM_STAGE_LEN, 0);
			c->rx_calls++;
			if (n > 0) {
				budget--;
				drained = (size_t)n < DM_STAGE_LEN;
				c->stage_off = 0;
				c->stage_len = (uint32_t)n;
				continue;
			}
		} else {
			for (int i = 0; i < cnt; i++)
				asked += iov[i].iov_len;
			n = readv(c->fd, iov, cnt);
			c->rx_calls++;
			if (n > 0) {
				budget--;
				drained = (size_t)n < asked;
			}
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			dm_fail(c, errno, "receive: %s", g_strerror(errno));
			return -1;
		}
		if (n == 0) {
			dm_fail(c, ECONNRESET, "connection closed by target");
			return -1;
		}
		if (rx->in_data) {
			rx_data_progress(c, (size_t)n);
		} else {
			rx->hdr_got += (uint32_t)n;
			if (rx_header_progress(c) < 0)
				return -1;
		}
	}
	return c->failed ? -1 : 0;
}

uint64_t dm_tcp_rx_calls(const struct dm_conn *c)
{
	return c->rx_calls;
}

static int tcp_service(struct dm_conn *c, uint32_t revents)
{
	if (c->failed || c->fd < 0)
		return -1;
	if (c->connecting) {
		if (revents & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			connect_progress(c);
		return c->failed ? -1 : 0;
	}
	if (revents & EPOLLOUT)
		tx_flush(c);
	if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		rx_service(c);
	/* Data-Out answering an R2T goes out at once. */
	if (!g_queue_is_empty(&c->txq))
		tx_flush(c);
	return c->failed ? -1 : 0;
}

/*
 * Payload buffers are recycled by size class: a front end takes one per
 * request, and fresh mappings would cost an mmap, page faults and munmap
 * each time a megabyte moves.
 */
static void *tcp_buf_alloc(struct dm_conn *c, size_t len)
{
	return pool_alloc(c->pool, len);
}

static void tcp_buf_free(struct dm_conn *c, void *buf, size_t len)
{
	(void)len;
	pool_free(c->pool, buf);
}

static uint64_t tcp_stats_copied(struct dm_conn *c)
{
	return c->copied;
}

/*
 * Back to the state of a fresh connection object, keeping the buffer pool:
 * payload buffers the iSCSI layer holds stay valid across a reconnect.
 */
static void tcp_reset(struct dm_conn *c)
{
	tx_purge(c);
	connect_end(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->failed = false;
	memset(&c->rx, 0, sizeof(c->rx));
	c->rx.hdr_need = ISCSI_BHS_LEN;
	c->gen = next_gen();
	c->tasks_open = c->reads_open = 0;
	c->last_read = NULL;
	c->stage_off = c->stage_len = 0;
	c->params_set = false;
	dm_params_login(&c->params);
}

static void tcp_destroy(struct dm_conn *c)
{
	if (!c)
		return;
	c->failed = true;
	tx_purge(c);
	connect_end(c);
	if (c->fd >= 0)
		close(c->fd);
	g_string_free(c->connect_errs, TRUE);
	g_free(c->rxbuf);
	g_free(c->stage);
	pool_destroy(c->pool);
	g_free(c);
}

const struct dm_ops dm_tcp_ops = {
    .name = "tcp",
    .caps = {.counts_data_in = true, .service_unprompted = true},
    .create = tcp_create,
    .connect = tcp_connect,
    .get_fd = tcp_get_fd,
    .which_events = tcp_which_events,
    .service = tcp_service,
    .send_pdu = tcp_send_pdu,
    .send_command = tcp_send_command,
    .forget_task = tcp_forget_task,
    .set_params = tcp_set_params,
    .buf_alloc = tcp_buf_alloc,
    .buf_free = tcp_buf_free,
    .stats_copied = tcp_stats_copied,
    .reset = tcp_reset,
    .cork = tcp_cork,
    .destroy = tcp_destroy,
};
