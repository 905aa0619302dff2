/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Opening and closing a session: portal syntax, choosing the datamover,
 * driving the login state machine over it (following redirects), the
 * SendTargets exchange of a discovery session, and logout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/iscsi-proto.h"
#include "initiator/chap.h"
#include "initiator/discovery.h"
#include "initiator/keys.h"
#include "initiator/login.h"
#include "initiator/pdu.h"
#include "initiator/session.h"

#define DEFAULT_TIMEOUT_MS  SESSION_DEFAULT_TIMEOUT_MS
#define DEFAULT_QUEUE_DEPTH 128
#define LOGOUT_TIMEOUT_MS   5000
#define DRAIN_TIMEOUT_MS    30000
/* A SendTargets answer larger than this is not a plausible target list. */
#define DISCOVERY_TEXT_LIMIT (1u << 20)

G_DEFINE_QUARK(isa - error - quark, isa_error)

/**
 * isa_parse_portal() - split "host", "host:port", "[v6]" or "[v6]:port".
 *
 * A bare IPv6 literal ("::1") is taken whole as the host. The port is 3260
 * unless given.
 */
static int parse_portal(const char *portal, char **host, uint16_t *port, GError **err)
{
	const char *p = portal, *colon;
	char *end;
	unsigned long v;

	*port = ISCSI_DEFAULT_PORT;
	if (!portal || !*portal)
		goto bad;
	if (*p == '[') {
		const char *close = strchr(p, ']');

		if (!close || close == p + 1)
			goto bad;
		*host = g_strndup(p + 1, close - p - 1);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (!colon && close[1])
			goto bad_free;
	} else {
		colon = strchr(p, ':');
		if (colon && strchr(colon + 1, ':')) {
			*host = g_strdup(p);
			return 0;
		}
		*host = colon ? g_strndup(p, colon - p) : g_strdup(p);
		if (!**host)
			goto bad_free;
	}
	if (colon) {
		errno = 0;
		v = strtoul(colon + 1, &end, 10);
		if (!colon[1] || *end || errno || v == 0 || v > 65535)
			goto bad_free;
		*port = (uint16_t)v;
	}
	return 0;

bad_free:
	g_free(*host);
	*host = NULL;
bad:
	g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
		    "invalid portal '%s': expected HOST, HOST:PORT, [IPV6] or [IPV6]:PORT",
		    portal ? portal : "");
	return -1;
}

/* iqn.2026-11.org.iser-attach:<hostname>, as open-iscsi derives a default name. */
static char *default_initiator_name(void)
{
	char host[256] = "localhost";
	g_autofree char *name = NULL;

	if (gethostname(host, sizeof(host) - 1) < 0)
		g_strlcpy(host, "localhost", sizeof(host));
	name = g_strdup_printf("iqn.2026-11.org.iser-attach:%s", host);
	return g_ascii_strdown(name, -1);
}

/*
 * iSER where asked for, or where auto finds an RDMA device routing to the
 * portal; TCP otherwise, and always for discovery: SendTargets needs no
 * RDMA and every target answers it on TCP.
 */
static const struct dm_ops *pick_datamover(enum isa_transport t, const char *host, uint16_t port,
					   bool discovery, GError **err)
{
	g_autoptr(GError) why = NULL;

	if (discovery || t == ISA_TRANSPORT_TCP)
		return &dm_tcp_ops;
	if (dm_iser_usable(host, port, &why))
		return &dm_iser_ops;
	if (t == ISA_TRANSPORT_AUTO) {
		/* The usual case on a host without RDMA: worth saying only with -v. */
		g_debug("%s; using TCP", why->message);
		return &dm_tcp_ops;
	}
	g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED, "%s", why->message);
	return NULL;
}

static struct isa_session *session_new(const struct isa_options *o, const char *target)
{
	struct isa_session *s = g_new0(struct isa_session, 1);

	s->state = SESSION_CONNECTING;
	s->dm_fd = -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	s->defer_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->defer_fd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = s->defer_fd};

		epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->defer_fd, &ev);
	}
	if (s->timerfd >= 0) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = s->timerfd};

		epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->timerfd, &ev);
	}
	g_queue_init(&s->deferred);
	g_queue_init(&s->refused);
	s->tasks = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_queue_init(&s->pending);
	g_queue_init(&s->completed);
	s->nop_replies = g_array_new(FALSE, FALSE, 12);
	s->ctl_rsp = g_byte_array_new();
	s->target_name = g_strdup(target);
	s->initiator_name =
	    o->initiator_name ? g_strdup(o->initiator_name) : default_initiator_name();
	s->queue_depth = o->queue_depth ? o->queue_depth : DEFAULT_QUEUE_DEPTH;
	s->nop_interval_s = o->nop_interval_s ? o->nop_interval_s : 5;
	s->nop_timeout_s = o->nop_timeout_s ? o->nop_timeout_s : 15;
	s->command_timeout_s = o->command_timeout_s ? o->command_timeout_s : 30;
	/* ISID type 0x80 "random" (RFC 7143 11.12.5): 6 random bytes under that prefix. */
	chap_random(s->isid, sizeof(s->isid));
	s->isid[0] = 0x80 | (s->isid[0] & 0x3f);
	s->next_itt = 1;
	session_init_upcalls(s);
	return s;
}

static void session_free(struct isa_session *s)
{
	recovery_log_flush(s, true);
	session_attempt_clear(s);
	g_clear_error(&s->attempt.err);
	g_free(s->attempt.host);
	if (s->conn)
		s->dm->destroy(s->conn);
	s->conn = NULL;
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->timerfd >= 0)
		close(s->timerfd);
	if (s->defer_fd >= 0)
		close(s->defer_fd);
	g_hash_table_unref(s->tasks);
	g_list_free_full(s->ua_watchers, g_free);
	g_array_unref(s->nop_replies);
	g_byte_array_unref(s->ctl_rsp);
	g_free(s->error);
	g_free(s->target_name);
	g_free(s->portal);
	g_free(s->initiator_name);
	g_free(s->host);
	g_free((char *)s->opts.initiator_alias);
	g_free((char *)s->opts.chap_user);
	g_free((char *)s->opts.chap_secret);
	g_free((char *)s->opts.mutual_user);
	g_free((char *)s->opts.mutual_secret);
	g_free(s);
}

/* What a later re-login needs, owned by the session (secrets included). */
static void keep_options(struct isa_session *s, const struct isa_options *o)
{
	s->opts = *o;
	s->opts.initiator_name = NULL;
	s->opts.initiator_alias = g_strdup(o->initiator_alias);
	s->opts.chap_user = g_strdup(o->chap_user);
	s->opts.chap_secret = g_strdup(o->chap_secret);
	s->opts.mutual_user = g_strdup(o->mutual_user);
	s->opts.mutual_secret = g_strdup(o->mutual_secret);
}

/*
 * Connect and log in: start the state machine (fsm.c) and serve the
 * session until it is in full feature phase or has failed; every step has
 * its own deadline there.
 */
static struct isa_session *open_common(const char *portal, const char *target, bool discovery,
				       const struct isa_options *o, GError **err)
{
	struct isa_options none = {0};
	g_autofree char *host = NULL;
	struct isa_session *s;
	uint16_t port;

	if (!o)
		o = &none;
	if (!discovery && (!target || !*target)) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "no target name given");
		return NULL;
	}
	if (parse_portal(portal, &host, &port, err) < 0)
		return NULL;
	s = session_new(o, target);
	keep_options(s, o);
	s->discovery = discovery;
	s->host = g_strdup(host);
	s->port = port;
	s->dm = pick_datamover(o->transport, host, port, discovery, err);
	if (!s->dm)
		goto fail;
	session_attempt_start(s);
	while (s->state != SESSION_FULL_FEATURE && s->state != SESSION_FAILED) {
		struct epoll_event ev;

		isa_session_service(s);
		if (s->state == SESSION_FULL_FEATURE || s->state == SESSION_FAILED)
			break;
		if (epoll_wait(s->epfd, &ev, 1, 1000) < 0 && errno != EINTR) {
			g_set_error(err, ISA_ERROR, ISA_ERROR_CONNECT, "epoll: %s",
				    g_strerror(errno));
			goto fail;
		}
	}
	if (s->state == SESSION_FAILED) {
		if (s->attempt.err)
			g_propagate_error(err, g_steal_pointer(&s->attempt.err));
		else
			g_set_error(err, ISA_ERROR, ISA_ERROR_CONNECT, "%s",
				    s->error ? s->error : "login failed");
		goto fail;
	}
	s->replacement_timeout_s = discovery ? 0 : o->replacement_timeout_s;
	return s;

fail:
	session_free(s);
	return NULL;
}

struct isa_session *isa_session_open(const char *portal, const char *target,
				     const struct isa_options *opts, GError **err)
{
	return open_common(portal, target, false, opts, err);
}

/*
 * A path that is down at attach: the session starts as a recovery does
 * (RECONNECT_WAIT after each failed attempt, backing off from 250 ms to
 * 8 s, no deadline of its own), so that it logs in whenever its owner's
 * loop serves it and the target is there. What it must not retry for
 * ever is recovery_attempt_failed()'s to say (s->joining).
 */
struct isa_session *isa_session_open_later(const char *portal, const char *target,
					   const struct isa_options *opts, GError **err)
{
	struct isa_options none = {0};
	const struct isa_options *o = opts ? opts : &none;
	g_autofree char *host = NULL;
	struct isa_session *s;
	uint16_t port;

	if (!target || !*target) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "no target name given");
		return NULL;
	}
	if (parse_portal(portal, &host, &port, err) < 0)
		return NULL;
	s = session_new(o, target);
	keep_options(s, o);
	s->host = g_strdup(host);
	s->port = port;
	s->dm = pick_datamover(o->transport, host, port, false, err);
	if (!s->dm) {
		session_free(s);
		return NULL;
	}
	s->replacement_timeout_s = o->replacement_timeout_s;
	s->joining = true;
	s->recovering = true;
	s->recovery_deadline_us = G_MAXINT64;
	s->join_deadline_us =
	    g_get_monotonic_time() + (gint64)s->replacement_timeout_s * G_USEC_PER_SEC;
	s->portal = strchr(host, ':') ? g_strdup_printf("[%s]:%u", host, port)
				      : g_strdup_printf("%s:%u", host, port);
	/* Its first attempt failed a moment ago (isa_session_open): back off first. */
	s->backoff_ms = 250;
	s->next_attempt_us = g_get_monotonic_time() + s->backoff_ms * 1000LL;
	session_set_state(s, SESSION_RECONNECT_WAIT);
	session_arm_timer(s, s->next_attempt_us);
	return s;
}

static void session_logout(struct isa_session *s)
{
	uint8_t bhs[ISCSI_BHS_LEN];
	g_autoptr(GError) err = NULL;
	bool idle = false;

	if (s->state != SESSION_FULL_FEATURE)
		return;
	/* Let commands in flight finish: a logout would abort them. */
	if (g_hash_table_size(s->tasks) || s->pending.length) {
		gint64 deadline = g_get_monotonic_time() + DRAIN_TIMEOUT_MS * 1000LL;

		while (!session_failed(s) && g_get_monotonic_time() < deadline &&
		       (g_hash_table_size(s->tasks) || s->pending.length)) {
			idle = false;
			isa_session_run(s, &idle, 100);
		}
	}
	if (s->state != SESSION_FULL_FEATURE)
		return;
	session_set_state(s, SESSION_LOGGING_OUT);
	pdu_build_logout_req(bhs, ISCSI_LOGOUT_CLOSE_SESSION, session_alloc_itt(s), 0, s->cmdsn,
			     s->exp_statsn);
	if (session_control_exchange(s, bhs, NULL, 0, LOGOUT_TIMEOUT_MS, &err) < 0)
		g_debug("logout: %s", err->message);
}

void isa_session_close(struct isa_session *s)
{
	if (!s)
		return;
	session_logout(s);
	if (s->state != SESSION_FAILED) {
		/* Quietly: closing is not a failure worth a warning. */
		g_free(s->error);
		s->error = g_strdup("session closed");
		s->recovering = false;
		session_set_state(s, SESSION_FAILED);
	}
	isa_session_service(s);
	session_free(s);
}

void isa_session_get_info(const struct isa_session *s, struct isa_session_info *info)
{
	const struct iscsi_params *p = &s->params;

	memset(info, 0, sizeof(*info));
	info->target_name = s->target_name;
	info->target_alias = p->target_alias[0] ? p->target_alias : NULL;
	info->portal = s->portal;
	info->transport = s->dm->name;
	info->tsih = s->tsih;
	info->max_recv_segment = p->max_recv_dsl;
	info->max_xmit_segment = p->max_xmit_dsl;
	info->first_burst = p->first_burst;
	info->max_burst = p->max_burst;
	info->initial_r2t = p->initial_r2t;
	info->immediate_data = p->immediate_data;
	info->header_digest = p->header_digest == ISCSI_DIGEST_CRC32C;
	info->data_digest = p->data_digest == ISCSI_DIGEST_CRC32C;
	info->max_outstanding_r2t = p->max_outstanding_r2t;
}

static void isa_target_free(gpointer p)
{
	struct isa_target *t = p;

	g_free(t->name);
	g_ptr_array_unref(t->portals);
	g_free(t);
}

/* The SendTargets exchange, over a session already in full feature phase. */
static GPtrArray *send_targets(struct isa_session *s, int timeout_ms, GError **err)
{
	g_autoptr(GByteArray) data = g_byte_array_new();
	struct discovery d;
	GPtrArray *out = NULL, *found;
	guint i, j;

	discovery_init(&d, session_alloc_itt(s));
	for (;;) {
		uint8_t bhs[ISCSI_BHS_LEN];
		const struct iscsi_bhs *rsp;
		enum discovery_step step;

		g_byte_array_set_size(data, 0);
		discovery_next_request(&d, s->cmdsn, s->exp_statsn, bhs, data);
		if (session_control_exchange(s, bhs, data->data, data->len, timeout_ms, err) < 0)
			goto out;
		rsp = (const void *)s->ctl_rsp->data;
		step = discovery_handle_response(&d, s->ctl_rsp->data,
						 s->ctl_rsp->data + ISCSI_BHS_LEN,
						 iscsi_dlength(rsp->dlength), err);
		if (step == DISCOVERY_STEP_DONE)
			break;
		if (step == DISCOVERY_STEP_FAILED) {
			if (err && *err)
				(*err)->domain = ISA_ERROR, (*err)->code = ISA_ERROR_PROTOCOL;
			goto out;
		}
	}
	found = discovery_targets(&d);
	out = g_ptr_array_new_with_free_func(isa_target_free);
	for (i = 0; i < found->len; i++) {
		const struct discovery_target *dt = found->pdata[i];
		struct isa_target *t = g_new0(struct isa_target, 1);

		t->name = g_strdup(dt->name);
		t->portals = g_ptr_array_new_with_free_func(g_free);
		for (j = 0; j < dt->portals->len; j++) {
			const struct discovery_portal *p = dt->portals->pdata[j];
			char *text = strchr(p->host, ':')
					 ? g_strdup_printf("[%s]:%u,%u", p->host, p->port, p->tpgt)
					 : g_strdup_printf("%s:%u,%u", p->host, p->port, p->tpgt);

			g_ptr_array_add(t->portals, text);
		}
		g_ptr_array_add(out, t);
	}
out:
	discovery_clear(&d);
	return out;
}

GPtrArray *isa_discover(const char *portal, const struct isa_options *opts, GError **err)
{
	struct isa_session *s = open_common(portal, NULL, true, opts, err);
	GPtrArray *targets;

	if (!s)
		return NULL;
	targets = send_targets(
	    s, opts && opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS, err);
	isa_session_close(s);
	return targets;
}
