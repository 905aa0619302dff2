/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The session's state machine: every state change goes through
 * session_set_state(), checked against the one table below, and
 * everything that moves a session from one state to the next outside full
 * feature phase lives here: connecting, the login exchange, redirects,
 * and the timeouts of each step.
 *
 *   from            to               when
 *   CONNECTING      LOGGING_IN       the datamover's connected() upcall
 *                   RECONNECT_WAIT   connect failed or timed out, recovering
 *                   FAILED           connect failed or timed out, first login
 *   LOGGING_IN      FULL_FEATURE     the final Login Response
 *                   CONNECTING       redirected (RFC 7143 11.13.5)
 *                   RECONNECT_WAIT   login failed or timed out, recovering
 *                   FAILED           login failed or timed out, first login
 *   FULL_FEATURE    DROPPED          connection lost, recovery on (recovery.c)
 *                   LOGGING_OUT      logout (open.c)
 *                   FAILED           connection lost, recovery off
 *   DROPPED         RECONNECT_WAIT   connection closed after the upcall
 *   RECONNECT_WAIT  CONNECTING       the backoff is over
 *   any             FAILED           session_end(): detach, giving up
 *
 * Nothing here blocks or runs an event loop: the datamover reports
 * progress through its upcalls from inside isa_session_service(), which
 * then calls session_step() for what must happen outside them (send the
 * next Login Request, act on a response, close a failed connection), and
 * the timerfd, armed for the deadline of the step under way, brings
 * session_tick(). Whoever polls the session's fd (the daemon's one loop,
 * or a blocking helper such as isa_session_open()) drives it all.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "common/iscsi-proto.h"
#include "initiator/chap.h"
#include "initiator/login.h"
#include "initiator/pdu.h"
#include "initiator/session.h"

#define MAX_REDIRECTS 4

#define S(x) (1u << SESSION_##x)
static const unsigned allowed[SESSION_N_STATES] = {
    [SESSION_CONNECTING] = S(LOGGING_IN) | S(RECONNECT_WAIT) | S(FAILED),
    [SESSION_LOGGING_IN] = S(FULL_FEATURE) | S(CONNECTING) | S(RECONNECT_WAIT) | S(FAILED),
    [SESSION_FULL_FEATURE] = S(DROPPED) | S(LOGGING_OUT) | S(FAILED),
    [SESSION_DROPPED] = S(RECONNECT_WAIT) | S(FAILED),
    [SESSION_RECONNECT_WAIT] = S(CONNECTING) | S(FAILED),
    [SESSION_LOGGING_OUT] = S(FAILED),
    [SESSION_FAILED] = 0,
};
#undef S

static const char *const state_names[SESSION_N_STATES] = {
    [SESSION_CONNECTING] = "connecting",
    [SESSION_LOGGING_IN] = "logging-in",
    [SESSION_FULL_FEATURE] = "logged-in",
    [SESSION_DROPPED] = "recovering",
    [SESSION_RECONNECT_WAIT] = "recovering",
    /* Still logged in until the target answers. */
    [SESSION_LOGGING_OUT] = "logged-in",
    [SESSION_FAILED] = "failed",
};

const char *session_state_str(enum session_state st)
{
	return st < SESSION_N_STATES ? state_names[st] : "?";
}

void session_set_state(struct isa_session *s, enum session_state to)
{
	if (s->state == to)
		return;
	if (!(allowed[s->state] & (1u << to)))
		g_critical("session: no transition from state %u to %u", s->state, to);
	g_debug("session to %s: state %u -> %u", s->target_name ? s->target_name : "?", s->state,
		to);
	s->state = to;
}

void session_arm_timer(struct isa_session *s, gint64 at_us)
{
	struct itimerspec its = {.it_interval = {1, 0}};

	at_us = MAX(at_us, 1);
	its.it_value.tv_sec = at_us / G_USEC_PER_SEC;
	its.it_value.tv_nsec = (at_us % G_USEC_PER_SEC) * 1000;
	if (timerfd_settime(s->timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		g_warning("timerfd: %s", g_strerror(errno));
	/* Same clock (CLOCK_MONOTONIC): isa_session_service() reckons with it. */
	s->timer_due_us = at_us;
}

/* How long one step (the connect, one login exchange) may take. */
static int step_timeout_ms(const struct isa_session *s)
{
	int ms = s->opts.timeout_ms > 0 ? s->opts.timeout_ms : SESSION_DEFAULT_TIMEOUT_MS;

	/* A recovery's attempt must not outlast the replacement timeout. */
	if (s->recovering) {
		gint64 left_ms = (s->recovery_deadline_us - g_get_monotonic_time()) / 1000;

		ms = (int)MIN((gint64)ms, MAX(left_ms, 100));
	}
	return ms;
}

static void step_deadline(struct isa_session *s)
{
	s->attempt.timeout_ms = step_timeout_ms(s);
	s->attempt.deadline_us = g_get_monotonic_time() + s->attempt.timeout_ms * 1000LL;
	session_arm_timer(s, s->attempt.deadline_us);
}

/* The attempt failed with @e (taken); the first reason stands. */
static void attempt_fail(struct isa_session *s, GError *e)
{
	if (s->attempt.err)
		g_error_free(e);
	else
		s->attempt.err = e;
}

/*
 * The target's Login Response says why the attempt ends: that is the
 * reason, even when the connection closed (as targets close it after a
 * refusal or a redirect) before we got to read the response.
 */
static void attempt_fail_answered(struct isa_session *s, GError *e)
{
	g_clear_error(&s->attempt.err);
	s->attempt.err = e;
}

void session_attempt_clear(struct isa_session *s)
{
	g_clear_pointer(&s->attempt.login, login_free);
	s->attempt.send = false;
	s->ctl_waiting = false;
	s->ctl_ready = false;
}

void session_close_conn(struct isa_session *s)
{
	if (!s->conn)
		return;
	if (s->dm_fd >= 0)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->dm_fd, NULL);
	s->dm_fd = -1;
	s->dm_events = 0;
	/* Recovering, the commands hold buffers from the connection's pool. */
	if (s->recovering) {
		s->dm->reset(s->conn);
		return;
	}
	s->dm->destroy(s->conn);
	s->conn = NULL;
}

/* Connect to where this attempt goes now. */
static void attempt_connect(struct isa_session *s)
{
	const char *host = s->attempt.host;
	GError *e = NULL;

	session_set_state(s, SESSION_CONNECTING);
	g_free(s->portal);
	s->portal = strchr(host, ':') ? g_strdup_printf("[%s]:%u", host, s->attempt.port)
				      : g_strdup_printf("%s:%u", host, s->attempt.port);
	if (!s->conn) {
		s->conn = s->dm->create(&s->up);
		if (s->conn && s->dm->set_pinned_limit && s->opts.max_pinned)
			s->dm->set_pinned_limit(s->conn, s->opts.max_pinned);
	}
	if (!s->conn) {
		attempt_fail(s, g_error_new(ISA_ERROR, ISA_ERROR_CONNECT,
					    "cannot create a %s connection", s->dm->name));
		return;
	}
	step_deadline(s);
	if (s->dm->connect(s->conn, host, s->attempt.port, s->attempt.timeout_ms, &e) < 0) {
		e->domain = ISA_ERROR;
		e->code = ISA_ERROR_CONNECT;
		attempt_fail(s, e);
		return;
	}
	session_update_events(s);
}

void session_attempt_start(struct isa_session *s)
{
	g_free(s->attempt.host);
	s->attempt.host = g_strdup(s->host);
	s->attempt.port = s->port;
	s->attempt.hops = 0;
	g_clear_error(&s->attempt.err);
	attempt_connect(s);
}

static void fill_proposal(const struct isa_options *o, struct iscsi_params *p)
{
	iscsi_params_fast_proposal(p);
	if (o->header_digest)
		p->header_digest = ISCSI_DIGEST_CRC32C;
	if (o->data_digest)
		p->data_digest = ISCSI_DIGEST_CRC32C;
	if (o->max_recv_segment)
		p->max_recv_dsl = o->max_recv_segment;
	if (o->max_burst)
		p->max_burst = o->max_burst;
	if (o->first_burst)
		p->first_burst = o->first_burst;
	if (p->first_burst > p->max_burst)
		p->first_burst = p->max_burst;
}

void session_connected(struct isa_session *s)
{
	const struct isa_options *o = &s->opts;
	struct login_config cfg = {
	    .initiator_name = s->initiator_name,
	    .initiator_alias = o->initiator_alias,
	    .target_name = s->discovery ? NULL : s->target_name,
	    .discovery = s->discovery,
	    .cmdsn = s->cmdsn,
	    .chap_user = o->chap_user,
	    .chap_secret = (const uint8_t *)o->chap_secret,
	    .chap_secret_len = o->chap_secret ? strlen(o->chap_secret) : 0,
	    .mutual_user = o->mutual_user,
	    .mutual_secret = (const uint8_t *)o->mutual_secret,
	    .mutual_secret_len = o->mutual_secret ? strlen(o->mutual_secret) : 0,
	    .iser = s->dm->caps.rdma,
	};

	if (s->state != SESSION_CONNECTING)
		return;
	memcpy(cfg.isid, s->isid, sizeof(cfg.isid));
	cfg.itt = session_alloc_itt(s);
	fill_proposal(o, &cfg.proposal);
	session_set_state(s, SESSION_LOGGING_IN);
	s->attempt.login = login_new(&cfg);
	/* Sent from session_step(), outside the datamover. */
	s->attempt.send = true;
}

/* Give a login failure the code scripts act on; the message stays. */
static void map_login_error(const struct login *l, GError *e)
{
	int code = ISA_ERROR_PROTOCOL;

	if (e->domain != LOGIN_ERROR)
		return;
	switch (e->code) {
	case LOGIN_ERROR_CONFIG:
		code = ISA_ERROR_USAGE;
		break;
	case LOGIN_ERROR_AUTH:
		code = ISA_ERROR_AUTH;
		break;
	case LOGIN_ERROR_REJECTED:
		switch (login_status(l)) {
		case 0x0201:
		case 0x0202:
			code = ISA_ERROR_AUTH;
			break;
		case 0x0203:
		case 0x0204:
			code = ISA_ERROR_NOT_FOUND;
			break;
		default:
			code = ISA_ERROR_TARGET;
			break;
		}
		break;
	case LOGIN_ERROR_TARGET:
		code = ISA_ERROR_TARGET;
		break;
	case LOGIN_ERROR_UNSUPPORTED:
		code = ISA_ERROR_UNSUPPORTED;
		break;
	}
	e->domain = ISA_ERROR;
	e->code = code;
}

/*
 * The target closed the connection in answer to our CHAP response. LIO
 * sends a Login Response "authentication failure" and disconnects at
 * once; over iSER its disconnect (a CM message) can overtake that Send,
 * which is then flushed unsent (seen on soft-RoCE, Linux 6.1), so all we
 * see is the close. A target that accepted the response would have
 * answered: report the refusal as what it most likely is.
 */
static void closed_after_chap_response(const struct login *l, GError **e)
{
	if (!l || (*e)->domain != ISA_ERROR || (*e)->code != ISA_ERROR_CONNECT ||
	    login_state(l) != LOGIN_SECURITY_NEGOTIATION ||
	    login_security_step(l) != SECURITY_CHAP_RESPONSE)
		return;
	g_prefix_error(e, "authentication failed: the target closed the connection in "
			  "answer to our CHAP response: ");
	(*e)->code = ISA_ERROR_AUTH;
}

static void login_send(struct isa_session *s)
{
	g_autoptr(GByteArray) data = g_byte_array_new();
	uint8_t bhs[ISCSI_BHS_LEN];
	GError *e = NULL;

	s->attempt.send = false;
	if (login_next_request(s->attempt.login, bhs, data, &e) < 0) {
		map_login_error(s->attempt.login, e);
		attempt_fail(s, e);
		return;
	}
	s->ctl_waiting = true;
	s->ctl_ready = false;
	s->ctl_itt = ntohl(((const struct iscsi_bhs *)bhs)->itt);
	if (s->dm->send_pdu(s->conn, bhs, data->data, data->len) < 0) {
		attempt_fail(s, g_error_new_literal(ISA_ERROR, ISA_ERROR_CONNECT,
						    "cannot queue a Login Request"));
		return;
	}
	step_deadline(s);
}

/*
 * A redirect: log where to, and remember a permanent one as the portal
 * to log in to from now on (RFC 7143 11.13.5); a temporary one holds for
 * this attempt only, so the next starts at the portal we were given.
 */
static void login_redirected(struct isa_session *s, const char *to, uint16_t port, bool permanent)
{
	g_message("login redirected %s to %s port %u", permanent ? "permanently" : "temporarily",
		  to, port);
	if (++s->attempt.hops > MAX_REDIRECTS) {
		attempt_fail(s, g_error_new(ISA_ERROR, ISA_ERROR_PROTOCOL,
					    "login redirected more than %d times; giving up",
					    MAX_REDIRECTS));
		return;
	}
	to = g_strdup(to);
	g_free(s->attempt.host);
	s->attempt.host = (char *)to;
	s->attempt.port = port;
	if (permanent) {
		g_free(s->host);
		s->host = g_strdup(to);
		s->port = port;
	}
	session_attempt_clear(s);
	session_close_conn(s);
	attempt_connect(s);
}

static void login_response(struct isa_session *s)
{
	struct login *l = s->attempt.login;
	const uint8_t *rsp = s->ctl_rsp->data;
	enum login_step step;
	GError *e = NULL;

	s->ctl_ready = false;
	s->ctl_waiting = false;
	step = login_handle_response(l, rsp, rsp + ISCSI_BHS_LEN,
				     iscsi_dlength(((const struct iscsi_bhs *)rsp)->dlength), &e);
	switch (step) {
	case LOGIN_STEP_SEND:
		login_send(s);
		return;
	case LOGIN_STEP_DONE:
		/* The connection died right after the final response: the attempt failed. */
		if (s->attempt.err)
			return;
		login_params(l, &s->params);
		s->tsih = login_tsih(l);
		s->exp_statsn = login_statsn(l) + 1;
		s->exp_cmdsn = login_exp_cmdsn(l);
		s->max_cmdsn = login_max_cmdsn(l);
		session_attempt_clear(s);
		g_clear_error(&s->attempt.err);
		session_enter_full_feature(s, NULL);
		if (s->recovering)
			recovery_done(s);
		return;
	case LOGIN_STEP_REDIRECT: {
		const char *to = NULL;
		uint16_t port;
		bool permanent = false;

		if (!login_redirect(l, &to, &port, &permanent)) {
			attempt_fail_answered(
			    s,
			    g_error_new_literal(ISA_ERROR, ISA_ERROR_PROTOCOL,
						"login redirected without a usable TargetAddress"));
			return;
		}
		/* The target may close the connection it redirected at once. */
		g_clear_error(&s->attempt.err);
		login_redirected(s, to, port, permanent);
		return;
	}
	default:
		if (!e)
			e = g_error_new_literal(ISA_ERROR, ISA_ERROR_PROTOCOL, "login failed");
		map_login_error(l, e);
		attempt_fail_answered(s, e);
		return;
	}
}

/* Outside the upcalls: the attempt failed; close it and decide what next. */
static void attempt_failed(struct isa_session *s)
{
	GError *e = g_steal_pointer(&s->attempt.err);

	if (s->state == SESSION_LOGGING_IN)
		closed_after_chap_response(s->attempt.login, &e);
	session_attempt_clear(s);
	session_close_conn(s);
	if (s->recovering) {
		recovery_attempt_failed(s, e);
		g_error_free(e);
		return;
	}
	/* The first login: the caller of isa_session_open() says why, with more context. */
	g_free(s->error);
	s->error = g_strdup(e->message);
	g_debug("login to %s: %s", s->target_name ? s->target_name : "?", s->error);
	s->attempt.err = e;
	session_set_state(s, SESSION_FAILED);
}

void session_step(struct isa_session *s)
{
	for (;;) {
		switch (s->state) {
		case SESSION_CONNECTING:
		case SESSION_LOGGING_IN:
			/* A response that came before the connection failed is read first. */
			if (s->state == SESSION_LOGGING_IN && s->ctl_ready)
				login_response(s);
			else if (s->attempt.err)
				attempt_failed(s);
			else if (s->state == SESSION_LOGGING_IN && s->attempt.send)
				login_send(s);
			else
				return;
			break;
		case SESSION_DROPPED:
			recovery_drop(s);
			break;
		case SESSION_RECONNECT_WAIT:
			if (g_get_monotonic_time() < s->next_attempt_us)
				return;
			session_attempt_start(s);
			break;
		default:
			return;
		}
	}
}

void session_tick(struct isa_session *s)
{
	recovery_log_flush(s, false);
	if ((s->state != SESSION_CONNECTING && s->state != SESSION_LOGGING_IN) ||
	    g_get_monotonic_time() < s->attempt.deadline_us || s->attempt.err)
		return;
	if (s->state == SESSION_CONNECTING)
		attempt_fail(s, g_error_new(ISA_ERROR, ISA_ERROR_CONNECT,
					    "connect to %s: timed out after %d ms", s->portal,
					    s->attempt.timeout_ms));
	else
		attempt_fail(s,
			     g_error_new(ISA_ERROR, ISA_ERROR_TIMEOUT,
					 "no Login Response within %d ms", s->attempt.timeout_ms));
}
