/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NBD server's sockets: listening on unix and TCP sockets, accepting,
 * non-blocking reads of what clients send (handed to handshake.c and
 * transmission.c once complete), queued output written with sendmsg()
 * and resumed on EPOLLOUT, closing, shutdown and statistics.
 *
 * Everything is in one epoll fd the owner polls. Completions of the
 * initiator arrive from isa_session_service(), outside
 * nbd_server_service(): they queue their reply and write it at once, so
 * EPOLLOUT is only asked for when a socket does not take everything.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "nbd/internal.h"

/* Events handled per nbd_server_service() call; the rest wait for the next. */
#define SERVICE_EVENTS 64
/* Reads per connection per nbd_server_service() call, so no client starves the others. */
#define READS_PER_TURN 64
/* Request headers taken in one receive. */
#define PEEK_HDRS NBD_PEEK_HDRS
/* Messages gathered into one sendmsg(). */
#define SEND_IOVS 64
/* Size of the buffer refused WRITE payload is thrown into. */
#define SCRATCH_LEN (64u << 10)

/* Round up to a power of two (NBD wants one for the preferred block size). */
static uint32_t pow2_ceil(uint32_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 31))
		p <<= 1;
	return p;
}

struct nbd_server *nbd_server_new(struct isa_session *s, struct isa_lun *l,
				  const struct nbd_server_config *cfg)
{
	struct nbd_server *srv = g_new0(struct nbd_server, 1);
	const struct isa_lun_info *info = isa_lun_get_info(l);
	uint32_t pref;

	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0) {
		g_free(srv);
		return NULL;
	}
	srv->s = s;
	srv->l = l;
	srv->info = *info;
	srv->export_name = g_strdup(cfg && cfg->export_name ? cfg->export_name : "");
	if (cfg && cfg->description)
		srv->description = g_strdup(cfg->description);
	else
		srv->description =
		    g_strstrip(g_strdup_printf("%s %s", info->vendor, info->product));
	srv->read_only = (cfg && cfg->read_only) || info->read_only;
	srv->max_connections = cfg && cfg->max_connections ? cfg->max_connections : 16;
	/* The physical block (READ CAPACITY's exponent) is what avoids read-modify-write. */
	pref =
	    MAX(MAX(info->opt_transfer, 4096u), MAX(info->block_size, info->physical_block_size));
	srv->pref_block = MIN(pow2_ceil(pref), NBD_MAX_PAYLOAD);
	srv->listeners = g_ptr_array_new();
	srv->scratch = g_malloc(SCRATCH_LEN);
	return srv;
}

static void listener_add(struct nbd_server *srv, int fd, const char *unix_path)
{
	struct nbd_listener *li = g_new0(struct nbd_listener, 1);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = li};

	li->kind = NBD_EP_LISTENER;
	li->srv = srv;
	li->fd = fd;
	li->unix_path = g_strdup(unix_path);
	g_ptr_array_add(srv->listeners, li);
	epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void listener_free(struct nbd_server *srv, struct nbd_listener *li)
{
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, li->fd, NULL);
	close(li->fd);
	if (li->unix_path)
		unlink(li->unix_path);
	g_free(li->unix_path);
	g_free(li);
}

static void listeners_close(struct nbd_server *srv)
{
	guint i;

	for (i = 0; i < srv->listeners->len; i++)
		listener_free(srv, srv->listeners->pdata[i]);
	g_ptr_array_set_size(srv->listeners, 0);
}

int nbd_server_listen_unix(struct nbd_server *srv, const char *path, GError **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "unix socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0) {
		/* Replace a stale socket, but never another kind of file. */
		if (!S_ISSOCK(st.st_mode)) {
			g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
				    "%s exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_CONNECT, "socket: %s", g_strerror(errno));
		return -1;
	}
	/* The socket file is created 0600 by bind(): no window where others may connect. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, SOMAXCONN) < 0) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_CONNECT, "cannot listen on %s: %s", path,
			    g_strerror(errno));
		if (rc == 0)
			unlink(path);
		close(fd);
		return -1;
	}
	listener_add(srv, fd, path);
	return 0;
}

static int listen_one(const struct addrinfo *ai, GError **err, const char *host, uint16_t port)
{
	int one = 1;
	int fd =
	    socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);

	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* Each address family gets its own socket when a name resolves to both. */
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)
		goto fail;
	return fd;

fail:
	g_set_error(err, ISA_ERROR, ISA_ERROR_CONNECT, "cannot listen on %s port %u: %s", host,
		    port, g_strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

int nbd_server_listen_tcp(struct nbd_server *srv, const char *host, uint16_t port, GError **err)
{
	struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	struct addrinfo *res, *ai;
	char portstr[8];
	g_autoptr(GError) first = NULL;
	int rc, bound = 0;

	if (host && !*host)
		host = NULL;
	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "cannot resolve %s: %s",
			    host ? host : "*", gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = listen_one(ai, first ? NULL : &first, host ? host : "*", port);

		if (fd >= 0) {
			listener_add(srv, fd, NULL);
			bound++;
		}
	}
	freeaddrinfo(res);
	if (!bound) {
		g_propagate_error(err, g_steal_pointer(&first));
		return -1;
	}
	return 0;
}

/* Decide the epoll events of a connection from what it can do now. */
static bool conn_can_read(const struct nbd_conn *c)
{
	if (c->fd < 0 || c->stop_reading || c->waiting || c->stash_i < c->stash_n)
		return false;
	/* Backpressure is applied between requests only. */
	if (c->rx_state == NBD_RX_REQ_HDR && c->rx_have == 0)
		return c->nreqs < NBD_MAX_CONN_REQS && c->nbytes < NBD_MAX_CONN_BYTES;
	return true;
}

void nbd_conn_update(struct nbd_conn *c)
{
	uint32_t ev = 0;
	struct epoll_event e;

	if (c->fd < 0)
		return;
	if (conn_can_read(c))
		ev |= EPOLLIN;
	if (c->out.length)
		ev |= EPOLLOUT;
	if (ev == c->events)
		return;
	e.events = ev;
	e.data.ptr = c;
	epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &e);
	c->events = ev;
}

void nbd_conn_expect(struct nbd_conn *c, enum nbd_rx_state st, size_t want)
{
	c->rx_state = st;
	c->rx_have = 0;
	c->rx_want = want;
}

static void msg_free(struct nbd_msg *m)
{
	if (m->req) {
		nbd_req_free(m->req);
		return;
	}
	g_free(m->heap);
	g_free(m);
}

struct nbd_msg *nbd_msg_new_bytes(const void *hdr, size_t hdr_len, const void *data,
				  size_t data_len)
{
	struct nbd_msg *m = g_new0(struct nbd_msg, 1);

	g_assert(hdr_len <= sizeof(m->hdr));
	memcpy(m->hdr, hdr, hdr_len);
	m->iov[0].iov_base = m->hdr;
	m->iov[0].iov_len = hdr_len;
	m->niov = 1;
	if (data_len) {
		m->heap = g_memdup2(data, data_len);
		m->iov[1].iov_base = m->heap;
		m->iov[1].iov_len = data_len;
		m->niov = 2;
	}
	return m;
}

void nbd_conn_queue(struct nbd_conn *c, struct nbd_msg *m)
{
	/* A connection whose socket is gone drops what it would have said. */
	if (c->fd < 0) {
		msg_free(m);
		return;
	}
	m->link.data = m;
	g_queue_push_tail_link(&c->out, &m->link);
	c->srv->queued++;
}

static void conn_release(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;

	g_queue_unlink(&srv->zombies, &c->link);
	if (srv->in_service)
		g_queue_push_tail_link(&srv->reap, &c->link);
	else
		g_free(c);
}

/* Free a connection whose socket is closed once no request refers to it any more. */
void nbd_conn_maybe_release(struct nbd_conn *c)
{
	if (c->fd < 0 && c->nreqs == 0)
		conn_release(c);
}

/*
 * A socket of the kernel's driver that it shut (or that failed) is told
 * to the owner once, at once: its requests may still be with the target
 * (a stall is why the driver drops sockets), and the driver needs the new
 * socket before they finish.
 */
static void conn_lost(struct nbd_conn *c, bool shut)
{
	struct nbd_server *srv = c->srv;

	if (!c->kernel || c->lost_told || c->said_disc || srv->shutting_down)
		return;
	c->lost_told = true;
	nbd_fence_lost(c);
	if (srv->lost)
		srv->lost(srv->lost_opaque, c->taken, shut);
}

void nbd_conn_close(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;
	GList *l;

	if (c->fd < 0)
		return;
	while ((l = g_queue_pop_head_link(&c->out))) {
		srv->queued--;
		msg_free(l->data);
	}
	/* A WRITE whose payload did not arrive in full is never issued. */
	if (c->cur) {
		nbd_req_free(c->cur);
		c->cur = NULL;
	}
	/* Nor one that waited for a buffer, nor the headers behind it. */
	if (c->waiting) {
		nbd_req_free(c->waiting);
		c->waiting = NULL;
	}
	c->stash_i = c->stash_n = 0;
	g_clear_pointer(&c->opt_data, g_free);
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	g_queue_unlink(&srv->conns, &c->link);
	srv->stats.connections = srv->conns.length;
	conn_lost(c, false);
	/* Requests still with the initiator keep it until their callbacks. */
	g_queue_push_tail_link(&srv->zombies, &c->link);
	nbd_conn_maybe_release(c);
}

static void conn_input(struct nbd_conn *c);

/*
 * The request that waited for a buffer tries again; if it has one, the
 * headers read behind it go on in order, until one of them waits too.
 */
static void conn_resume(struct nbd_conn *c)
{
	nbd_tx_retry_waiting(c);
	while (!c->waiting && c->fd >= 0 && !c->stop_reading && c->stash_i < c->stash_n) {
		memcpy(c->rx, &c->stash[c->stash_i++], sizeof(struct nbd_request));
		c->rx_have = sizeof(struct nbd_request);
		conn_input(c);
	}
	if (c->stash_i == c->stash_n)
		c->stash_i = c->stash_n = 0;
	if (c->fd >= 0)
		nbd_conn_update(c);
}

/* Close a connection that will read nothing more once everything is answered. */
static bool conn_finish_if_done(struct nbd_conn *c)
{
	if (c->fd >= 0 && c->stop_reading && !c->ninflight && !c->out.length && !c->cur &&
	    !c->waiting && c->stash_i == c->stash_n) {
		nbd_conn_close(c);
		return true;
	}
	return false;
}

void nbd_conn_stop_reading(struct nbd_conn *c)
{
	c->stop_reading = true;
	if (c->cur) {
		nbd_req_free(c->cur);
		c->cur = NULL;
	}
	if (!conn_finish_if_done(c))
		nbd_conn_update(c);
}

/* Consume @n sent bytes from the head of the output queue. */
static void out_advance(struct nbd_conn *c, size_t n)
{
	while (n) {
		struct nbd_msg *m = c->out.head->data;
		struct iovec *v = &m->iov[m->cur];
		size_t k = MIN(n, v->iov_len);

		v->iov_base = (uint8_t *)v->iov_base + k;
		v->iov_len -= k;
		n -= k;
		while (m->cur < m->niov && !m->iov[m->cur].iov_len)
			m->cur++;
		if (m->cur == m->niov) {
			g_queue_pop_head_link(&c->out);
			c->srv->queued--;
			msg_free(m);
		}
	}
}

void nbd_conn_flush(struct nbd_conn *c)
{
	while (c->fd >= 0 && c->out.length) {
		struct iovec iov[SEND_IOVS];
		struct msghdr mh = {.msg_iov = iov};
		GList *l;
		ssize_t r;

		for (l = c->out.head; l && mh.msg_iovlen < SEND_IOVS; l = l->next) {
			struct nbd_msg *m = l->data;
			unsigned i;

			if (mh.msg_iovlen + (m->niov - m->cur) > SEND_IOVS)
				break;
			for (i = m->cur; i < m->niov; i++)
				if (m->iov[i].iov_len)
					iov[mh.msg_iovlen++] = m->iov[i];
		}
		r = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			nbd_conn_close(c);
			return;
		}
		out_advance(c, (size_t)r);
	}
	if (!conn_finish_if_done(c))
		nbd_conn_update(c);
}

/* The client closed its side: answer what is in flight, then close. */
static void conn_eof(struct nbd_conn *c)
{
	conn_lost(c, true);
	nbd_conn_stop_reading(c);
}

/* A complete unit (header, option data, payload) has arrived. */
static void conn_input(struct nbd_conn *c)
{
	switch (c->rx_state) {
	case NBD_RX_CLIENT_FLAGS:
	case NBD_RX_OPT_HDR:
	case NBD_RX_OPT_DATA:
		nbd_hs_input(c);
		break;
	case NBD_RX_REQ_HDR:
		nbd_tx_request(c);
		break;
	case NBD_RX_PAYLOAD:
	case NBD_RX_DISCARD:
		nbd_tx_payload_done(c);
		break;
	}
}

/*
 * A receive returned @r <= 0: end of file, an error, or nothing there.
 * Returns true when reading may go on (interrupted), false otherwise.
 */
static bool conn_read_failed(struct nbd_conn *c, ssize_t r)
{
	if (r == 0) {
		conn_eof(c);
		return false;
	}
	if (errno == EINTR)
		return true;
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		nbd_conn_close(c);
	return false;
}

/*
 * Request headers from one look at the socket: recv(MSG_PEEK) shows what
 * has arrived, and every whole header up to and including the first
 * WRITE is then taken in one recv(). A WRITE's payload stays in the
 * socket, to be read straight into its buffer; peeking copies at most
 * PEEK_HDRS headers' worth of it, into a scratch area, never into a
 * request. Returns false when nothing more is to be read this turn.
 */
static bool conn_read_headers(struct nbd_conn *c, int *calls)
{
	struct nbd_request h[PEEK_HDRS];
	size_t room = MIN(PEEK_HDRS, NBD_MAX_CONN_REQS - c->nreqs), n = 0, peeked, take, i;
	uint64_t bytes = c->nbytes;
	ssize_t r;

	/*
	 * Nothing in flight: the client waited for its last reply (queue
	 * depth 1), so one request is what it sent. That one header is taken
	 * without a peek, a system call saved; a WRITE's payload is read on,
	 * anything behind it is left to epoll to report. A client that sent
	 * more at once is read with a peek from its next turn on.
	 */
	if (c->nreqs == 0) {
		r = recv(c->fd, c->rx, sizeof(*h), 0);
		(*calls)++;
		if (r <= 0)
			return conn_read_failed(c, r);
		c->rx_have = (size_t)r;
		if (c->rx_have < sizeof(*h))
			return false;
		conn_input(c);
		return c->fd >= 0 && c->rx_state == NBD_RX_PAYLOAD;
	}
	r = recv(c->fd, h, room * sizeof(*h), MSG_PEEK);
	(*calls)++;
	if (r <= 0)
		return conn_read_failed(c, r);
	peeked = (size_t)r;
	/* The budget conn_can_read() applies, for the whole batch. */
	while (n < peeked / sizeof(*h) && bytes < NBD_MAX_CONN_BYTES) {
		const struct nbd_request *q = &h[n++];
		uint16_t type = be16toh(q->type);

		bytes += type == NBD_CMD_READ || type == NBD_CMD_WRITE ? be32toh(q->len) : 0;
		/* A bad magic is handled (the connection closed) on its turn. */
		if (type == NBD_CMD_WRITE || be32toh(q->magic) != NBD_REQUEST_MAGIC)
			break;
	}
	/* Not even one whole header: read the part that is there. */
	take = n ? n * sizeof(*h) : (size_t)r;
	r = recv(c->fd, n ? (void *)h : (void *)c->rx, take, 0);
	(*calls)++;
	if (r <= 0)
		return conn_read_failed(c, r);
	if (!n) {
		c->rx_have = (size_t)r;
		return false;
	}
	/* Peeked bytes are there to take: anything else is a broken socket. */
	if ((size_t)r != take) {
		nbd_conn_close(c);
		return false;
	}
	for (i = 0; i < n && c->fd >= 0 && !c->stop_reading; i++) {
		/* One waits for a buffer: the rest of the batch waits behind it. */
		if (c->waiting) {
			memcpy(c->stash, &h[i], (n - i) * sizeof(*h));
			c->stash_i = 0;
			c->stash_n = (unsigned)(n - i);
			return false;
		}
		memcpy(c->rx, &h[i], sizeof(*h));
		c->rx_have = sizeof(*h);
		conn_input(c);
	}
	/*
	 * Go on when a WRITE's payload or part of a header is left of what
	 * the peek saw, or when the peek was full; a peek short of the room
	 * it had saw the socket empty.
	 */
	return c->fd >= 0 && (peeked > take || peeked == room * sizeof(*h));
}

/*
 * The rest of a WRITE payload, straight into the request's buffer, and
 * in the same readv() the next request header as far as it has arrived.
 */
static bool conn_read_payload(struct nbd_conn *c, int *calls)
{
	struct iovec iov[2] = {
	    {(uint8_t *)c->cur->buf + c->rx_have, c->rx_want - c->rx_have},
	    {c->rx, sizeof(struct nbd_request)},
	};
	size_t ahead;
	ssize_t r;

	r = readv(c->fd, iov, 2);
	(*calls)++;
	if (r <= 0)
		return conn_read_failed(c, r);
	if ((size_t)r < iov[0].iov_len) {
		c->rx_have += (size_t)r;
		return false;
	}
	ahead = (size_t)r - iov[0].iov_len;
	c->rx_have = c->rx_want;
	conn_input(c);
	if (c->fd < 0 || c->stop_reading || c->rx_state != NBD_RX_REQ_HDR)
		return false;
	c->rx_have = ahead;
	if (ahead == c->rx_want)
		conn_input(c);
	/* Short of the header it had room for: the socket is empty. */
	return ahead == sizeof(struct nbd_request);
}

static void conn_read(struct nbd_conn *c)
{
	int calls = 0;

	while (calls < READS_PER_TURN && conn_can_read(c)) {
		void *p;
		size_t want;
		ssize_t r;

		if (c->rx_state == NBD_RX_REQ_HDR && c->rx_have == 0) {
			if (!conn_read_headers(c, &calls))
				return;
			continue;
		}
		if (c->rx_state == NBD_RX_PAYLOAD) {
			if (!conn_read_payload(c, &calls))
				return;
			continue;
		}
		switch (c->rx_state) {
		case NBD_RX_DISCARD:
			p = c->srv->scratch;
			break;
		case NBD_RX_OPT_DATA:
			p = c->opt_data + c->rx_have;
			break;
		default:
			p = c->rx + c->rx_have;
			break;
		}
		want = c->rx_want - c->rx_have;
		if (c->rx_state == NBD_RX_DISCARD)
			want = MIN(want, SCRATCH_LEN);
		r = recv(c->fd, p, want, 0);
		calls++;
		if (r <= 0) {
			if (!conn_read_failed(c, r))
				return;
			continue;
		}
		c->rx_have += (size_t)r;
		if (c->rx_have == c->rx_want)
			conn_input(c);
		/* A short read emptied the socket; epoll reports what comes next. */
		if ((size_t)r < want)
			return;
	}
}

static struct nbd_conn *conn_new(struct nbd_server *srv, int fd)
{
	struct nbd_conn *c = g_new0(struct nbd_conn, 1);
	struct epoll_event ev = {.events = 0, .data.ptr = c};

	c->kind = NBD_EP_CONN;
	c->link.data = c;
	c->srv = srv;
	c->fd = fd;
	g_queue_push_tail_link(&srv->conns, &c->link);
	srv->stats.connections = srv->conns.length;
	epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev);
	return c;
}

/*
 * A unix socket's send buffer (net.core.wmem_default, 208 KiB on Debian)
 * holds a fifth of a 1 MiB READ reply, so the reply goes out in pieces,
 * a sendmsg() and a wakeup each. Asked for NBD_UNIX_SNDBUF (the kernel
 * caps it at net.core.wmem_max), replies of a turn go out whole. TCP
 * sockets keep the kernel's autotuning, which setting SO_SNDBUF ends.
 */
#define NBD_UNIX_SNDBUF (4 << 20)

static void unix_send_room(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int want = NBD_UNIX_SNDBUF;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
}

int nbd_server_add_client(struct nbd_server *srv, int fd, bool handshake_done)
{
	struct nbd_conn *c;
	int fl = fcntl(fd, F_GETFL);

	if (srv->shutting_down || srv->conns.length >= srv->max_connections) {
		close(fd);
		return -EBUSY;
	}
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	unix_send_room(fd);
	c = conn_new(srv, fd);
	c->size_told = srv->info.blocks * srv->info.block_size;
	c->kernel = handshake_done;
	if (handshake_done)
		nbd_tx_start(c);
	else
		nbd_hs_start(c);
	nbd_conn_flush(c);
	return 0;
}

static void accept_all(struct nbd_listener *li)
{
	struct nbd_server *srv = li->srv;

	for (;;) {
		int one = 1;
		int fd = accept4(li->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				g_warning("nbd: accept: %s", g_strerror(errno));
			return;
		}
		if (srv->conns.length >= srv->max_connections) {
			g_message("nbd: refusing a connection: %u clients already connected",
				  srv->max_connections);
			close(fd);
			continue;
		}
		/* Replies are sent whole: do not let Nagle hold back their tails. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		nbd_server_add_client(srv, fd, false);
	}
}

uint16_t nbd_server_transmission_flags(const struct nbd_server *srv)
{
	/* Connections added with the handshake done get simple replies only. */
	return nbd_export_flags(srv, false);
}

int nbd_server_get_fd(struct nbd_server *srv)
{
	return srv->epfd;
}

int nbd_server_watch(struct nbd_server *srv, int fd, unsigned bit)
{
	struct nbd_watch *w;
	struct epoll_event ev = {.events = EPOLLIN};

	if (srv->nwatch == NBD_MAX_WATCH) {
		errno = ENOSPC;
		return -1;
	}
	w = &srv->watch[srv->nwatch];
	w->kind = NBD_EP_WATCH;
	w->bit = bit;
	ev.data.ptr = w;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -1;
	srv->nwatch++;
	return 0;
}

unsigned nbd_server_wait(struct nbd_server *srv, int timeout_ms)
{
	struct epoll_event ev[SERVICE_EVENTS];
	unsigned ready = 0;
	GList *l;
	int n, i;

	srv->in_service = true;
	n = epoll_wait(srv->epfd, ev, SERVICE_EVENTS, timeout_ms);
	for (i = 0; i < n; i++) {
		enum nbd_ep_kind *kind = ev[i].data.ptr;
		struct nbd_conn *c;

		if (*kind == NBD_EP_WATCH) {
			ready |= ((struct nbd_watch *)ev[i].data.ptr)->bit;
			continue;
		}
		if (*kind == NBD_EP_LISTENER) {
			accept_all(ev[i].data.ptr);
			continue;
		}
		c = ev[i].data.ptr;
		if (c->fd < 0)
			continue;
		if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			conn_read(c);
		/* The peer is gone for good: nothing more can be sent either. */
		if (c->fd >= 0 && (ev[i].events & (EPOLLHUP | EPOLLERR)))
			nbd_conn_close(c);
		if (c->fd >= 0)
			nbd_conn_flush(c);
	}
	srv->in_service = false;
	while ((l = g_queue_pop_head_link(&srv->reap)))
		g_free(l->data);
	return ready;
}

void nbd_server_service(struct nbd_server *srv)
{
	nbd_server_wait(srv, 0);
}

void nbd_server_on_lost(struct nbd_server *srv, nbd_lost_fn fn, void *opaque)
{
	srv->lost = fn;
	srv->lost_opaque = opaque;
}

void nbd_server_shutdown(struct nbd_server *srv)
{
	GList *l, *next;

	srv->shutting_down = true;
	listeners_close(srv);
	for (l = srv->conns.head; l; l = next) {
		next = l->next;
		nbd_conn_stop_reading(l->data);
	}
}

void nbd_server_hold(struct nbd_server *srv, bool on)
{
	GList *l, *next;

	srv->hold = on;
	if (on)
		return;
	for (l = srv->conns.head; l; l = next) {
		struct nbd_conn *c = l->data;

		next = l->next;
		/* Buffers given back this turn may let a waiting request go on. */
		if (c->fd >= 0 && c->waiting)
			conn_resume(c);
		if (c->fd >= 0 && c->out.length)
			nbd_conn_flush(c);
	}
}

void nbd_server_resize(struct nbd_server *srv)
{
	srv->info.blocks = isa_lun_get_info(srv->l)->blocks;
}

bool nbd_server_drained(const struct nbd_server *srv)
{
	return !srv->inflight && !srv->queued;
}

void nbd_server_get_stats(const struct nbd_server *srv, struct nbd_server_stats *st)
{
	/* copied_bytes stays 0: no path copies payload (see transmission.c). */
	*st = srv->stats;
	st->connections = srv->conns.length;
	st->in_flight = srv->inflight;
}

void nbd_server_free(struct nbd_server *srv)
{
	GList *l;

	if (!srv)
		return;
	srv->shutting_down = true;
	listeners_close(srv);
	g_ptr_array_unref(srv->listeners);
	nbd_fence_forget(srv);
	/* Requests the initiator still has are left to free themselves. */
	while ((l = srv->conns.head)) {
		nbd_tx_orphan(l->data);
		nbd_conn_close(l->data);
	}
	while ((l = g_queue_pop_head_link(&srv->zombies))) {
		nbd_tx_orphan(l->data);
		g_free(l->data);
	}
	while ((l = g_queue_pop_head_link(&srv->reap)))
		g_free(l->data);
	close(srv->epfd);
	g_free(srv->export_name);
	g_free(srv->description);
	g_free(srv->scratch);
	g_free(srv);
}
