// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The iSER datamover's RDMA connection manager (see iser-conn.h): a
 * connect driven by CM events, and dm_iser_usable().
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
 * resolution; everything after is driven by CM events in iser_cm_service():
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
		iser_teardown(c, c->pool_kept);
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
	iser_teardown(c, c->pool_kept);
	c->connect_step = CONNECT_NONE;
	return -1;
}

void iser_connect_end(struct dm_conn *c)
{
	if (c->connect_res)
		freeaddrinfo(c->connect_res);
	c->connect_res = NULL;
	c->connect_ai = NULL;
	c->connect_step = CONNECT_NONE;
}

int iser_connect(struct dm_conn *c, const char *host, uint16_t port, int timeout_ms, GError **error)
{
	if (c->id || c->failed || c->cm_ch) {
		g_set_error(error, DM_ISER_ERROR, EISCONN, "connect to %s:%u: already used", host,
			    port);
		return -1;
	}
	c->connect_res = dm_resolve(host, port, DM_ISER_ERROR, error);
	if (!c->connect_res)
		return -1;
	c->cm_ch = rdma_create_event_channel();
	if (!c->cm_ch || dm_set_nonblock(c->cm_ch->fd) < 0 ||
	    iser_epoll_add(c->epfd, c->cm_ch->fd) < 0) {
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
	iser_connect_end(c);
	if (c->cm_ch)
		rdma_destroy_event_channel(c->cm_ch);
	c->cm_ch = NULL;
	return -1;
}

/* Route resolved: the verbs objects, then the connect request. */
static int connect_request(struct dm_conn *c)
{
	/* We invalidate our windows ourselves: see rx_end_windows(). */
	struct iser_cm_hdr priv = {.flags = ISER_CM_ZBVA_NOT_SUP | ISER_CM_SEND_W_INV_NOT_SUP};
	struct rdma_conn_param cp = {0};
	struct ibv_device_attr da;
	g_autofree char *why = NULL;

	if (iser_verbs_setup(c, &why) < 0) {
		connect_note(c, "%s", why);
		return -1;
	}
	if (iser_epoll_add(c->epfd, c->comp_ch->fd) < 0) {
		connect_note(c, "epoll: %s", g_strerror(errno));
		return -1;
	}
	if (ibv_query_device(c->id->verbs, &da)) {
		connect_note(c, "cannot query the RDMA device: %s", g_strerror(errno));
		return -1;
	}
	/*
	 * The target sizes its outstanding RDMA Reads (our Data-Out) by what
	 * we accept as responder; 0 would leave it none. No more than
	 * ISER_READ_REPLAYS: that many newer Reads end the replay of an old
	 * one, which retired windows wait for (iser-win.h).
	 */
	cp.responder_resources = (uint8_t)CLAMP(da.max_qp_rd_atom, 1, ISER_READ_REPLAYS);
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

void iser_cm_service(struct dm_conn *c)
{
	struct rdma_cm_event *ev;

	while (!c->failed && rdma_get_cm_event(c->cm_ch, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;

		if (c->connect_step != CONNECT_NONE) {
			int rc = connect_event(c, ev);

			rdma_ack_cm_event(ev);
			if (rc == 1) {
				iser_connect_end(c);
				c->up.connected(c->up.opaque);
			} else if (rc < 0 && connect_from(c, c->connect_ai->ai_next) < 0) {
				iser_connect_end(c);
				iser_fail(c, ECONNREFUSED, "%s", c->connect_errs->str);
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
			iser_cq_drain(c);
			c->connected = false;
			if (!c->failed)
				iser_fail(c, ECONNRESET, "connection closed by target");
			break;
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			iser_fail(c, ENODEV, "the RDMA device was removed");
			break;
		default:
			g_debug("iSER: RDMA CM event %s ignored", rdma_event_str(type));
			break;
		}
	}
}

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
	struct addrinfo *res, *ai;
	struct rdma_event_channel *ch;
	g_autofree char *why = NULL;
	bool ok = false;

	res = dm_resolve(host, port, DM_ISER_ERROR, err);
	if (!res)
		return false;
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
