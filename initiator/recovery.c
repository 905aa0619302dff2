/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Session recovery at error recovery level 0 (RFC 7143 7.1.4): a
 * connection lost in full feature phase is replaced by a new one (a new
 * login with the same ISID, which reinstates the session at the target),
 * and the commands it carried are sent again, for up to the replacement
 * timeout. The steps are states of fsm.c: DROPPED (close it, after the
 * upcall that found the loss), RECONNECT_WAIT (the backoff), then
 * CONNECTING and LOGGING_IN as for the first login.
 *
 * Bounded: a command in flight on SESSION_MAX_CONN_LOSSES failed
 * connections in a row, or on which the target broke the protocol
 * SESSION_MAX_VIOLATIONS times, fails alone with EIO instead of being sent
 * again, so that a target that chokes on one command every time cannot
 * keep the session logging in while the client waits. A connection that
 * dies within SESSION_STABLE_US of its login keeps the backoff growing.
 * Lines a failing target would have us repeat are collapsed
 * (recovery_log).
 */
#include <stdio.h>
#include <string.h>

#include "common/iscsi-proto.h"
#include "initiator/session.h"

#define SESSION_MAX_CONN_LOSSES 3
#define SESSION_MAX_VIOLATIONS	2
#define SESSION_STABLE_US	(5 * G_USEC_PER_SEC)
#define BACKOFF_MIN_MS		250u
#define BACKOFF_MAX_MS		8000u
/* The same line again within this long is counted, not printed. */
#define REPEAT_WINDOW_US (60 * G_USEC_PER_SEC)

static void backoff_grow(struct isa_session *s, gint64 now)
{
	s->backoff_ms = MIN(MAX(s->backoff_ms * 2, BACKOFF_MIN_MS), BACKOFF_MAX_MS);
	s->next_attempt_us = MIN(now + s->backoff_ms * 1000LL, s->recovery_deadline_us);
}

void recovery_begin(struct isa_session *s, const char *why)
{
	gint64 now = g_get_monotonic_time();

	s->recovering = true;
	s->stats.connections_lost++;
	session_set_state(s, SESSION_DROPPED);
	if (s->failover_fn) {
		/* One path of several: its owner decides when to give up. */
		recovery_log(s, G_LOG_LEVEL_WARNING,
			     "connection to %s lost: %s; its commands go to the other paths, "
			     "reconnecting in the background",
			     s->portal ? s->portal : "?", why);
		s->recovery_deadline_us = G_MAXINT64;
	} else {
		recovery_log(s, G_LOG_LEVEL_WARNING,
			     "connection to %s lost: %s; reconnecting for up to %u s",
			     s->portal ? s->portal : "?", why, s->replacement_timeout_s);
		s->recovery_deadline_us = now + (gint64)s->replacement_timeout_s * G_USEC_PER_SEC;
	}
	/*
	 * A connection that dies soon after its login (a target that fails
	 * every one) waits out a growing backoff, but not past the
	 * replacement timeout; one that served for a while is replaced at
	 * once.
	 */
	if (s->login_us && now - s->login_us < SESSION_STABLE_US) {
		backoff_grow(s, now);
	} else {
		s->backoff_ms = 0;
		s->next_attempt_us = now;
	}
}

/*
 * Failover mode: everything queued (what was in flight first, in CmdSN
 * order, as recovery_drop() put it) goes to the owner now, while the
 * session reconnects on its own.
 */
static void recovery_hand_back(struct isa_session *s)
{
	GList *tasks = NULL, *l;

	while ((l = g_queue_pop_tail_link(&s->pending)))
		tasks = g_list_concat(l, tasks);
	if (tasks)
		s->failover_fn(s->failover_opaque, s, tasks);
}

/*
 * Put the commands the lost connection carried back at the head of the
 * queue, oldest CmdSN first, and close it, keeping its buffer pool. None of
 * them was answered, so each is sent again after the new login and its
 * caller hears only of the final outcome; unless the bounds above say the
 * command is the trouble.
 */
void recovery_drop(struct isa_session *s)
{
	GList *in_flight = g_hash_table_get_values(s->tasks), *l, *resend = NULL;
	char msg[sizeof(((struct isa_task *)NULL)->msg)];

	for (l = in_flight; l; l = l->next) {
		struct isa_task *t = l->data;

		t->conn_losses++;
		if (t->conn_losses < SESSION_MAX_CONN_LOSSES &&
		    t->dm.violations < SESSION_MAX_VIOLATIONS) {
			resend = g_list_prepend(resend, t);
			continue;
		}
		if (t->dm.violations >= SESSION_MAX_VIOLATIONS)
			snprintf(msg, sizeof(msg),
				 "given up: the target broke the protocol on it %u times; last: %s",
				 t->dm.violations, s->error ? s->error : "?");
		else
			snprintf(msg, sizeof(msg),
				 "given up: in flight on %u failed connections in a row; last: %s",
				 t->conn_losses, s->error ? s->error : "?");
		g_warning("SCSI command 0x%02x (ITT 0x%08x) on LUN %u %s", t->cdb[0], t->dm.itt,
			  iscsi_decode_lun(t->dm.lun), msg);
		session_task_fail(s, t, -EIO, msg);
	}
	g_list_free(in_flight);
	session_resend_in_order(s, resend);
	session_tmf_forget(s);
	g_array_set_size(s->nop_replies, 0);
	s->nop_sent_us = 0;
	s->ctl_waiting = false;
	session_close_conn(s);
	session_set_state(s, SESSION_RECONNECT_WAIT);
	session_arm_timer(s, s->next_attempt_us);
	if (s->failover_fn)
		recovery_hand_back(s);
}

/*
 * A session that never logged in (a path down at attach) and that the
 * target turned away in a way no retry mends: refused authentication (the
 * secrets are the same next time), a login we cannot make; a target not
 * at that portal, once it has been absent for the replacement timeout
 * (a controller may come up before its targets do). NULL to go on.
 */
static const char *join_hopeless(const struct isa_session *s, const GError *err, gint64 now)
{
	if (!s->joining || err->domain != ISA_ERROR)
		return NULL;
	switch (err->code) {
	case ISA_ERROR_AUTH:
		return "authentication failures are not retried";
	case ISA_ERROR_USAGE:
	case ISA_ERROR_UNSUPPORTED:
		return "not retried";
	case ISA_ERROR_NOT_FOUND:
		return now >= s->join_deadline_us ? "the target was not there for the "
						    "replacement timeout"
						  : NULL;
	}
	return NULL;
}

void recovery_attempt_failed(struct isa_session *s, const GError *err)
{
	gint64 now = g_get_monotonic_time();
	const char *hopeless = join_hopeless(s, err, now);

	if (hopeless) {
		g_free(s->error);
		s->error = g_strdup_printf("gave up logging in to %s: %s (%s)", s->portal,
					   err->message, hopeless);
		recovery_log_flush(s, true);
		g_warning("session to %s: %s", s->target_name, s->error);
		s->recovering = false;
		session_set_state(s, SESSION_FAILED);
		return;
	}
	if (now >= s->recovery_deadline_us) {
		g_free(s->error);
		s->error = g_strdup_printf("could not reconnect to %s within %u s: %s", s->portal,
					   s->replacement_timeout_s, err->message);
		recovery_log_flush(s, true);
		g_warning("session to %s: %s", s->target_name, s->error);
		s->recovering = false;
		session_set_state(s, SESSION_FAILED);
		return;
	}
	backoff_grow(s, now);
	session_set_state(s, SESSION_RECONNECT_WAIT);
	session_arm_timer(s, s->next_attempt_us);
	recovery_log(s, G_LOG_LEVEL_MESSAGE, "reconnect to %s failed: %s; next attempt in %u ms",
		     s->portal, err->message, s->backoff_ms);
}

void recovery_done(struct isa_session *s)
{
	s->recovering = false;
	if (s->joining) {
		/* Its first login: not a reconnect. */
		s->joining = false;
		g_message("logged in to %s, a path that was down at attach", s->portal);
		return;
	}
	s->stats.reconnects++;
	if (s->failover_fn)
		recovery_log(s, G_LOG_LEVEL_MESSAGE, "reconnected to %s; the path is back",
			     s->portal);
	else
		recovery_log(s, G_LOG_LEVEL_MESSAGE, "reconnected to %s; resending %u commands",
			     s->portal, s->pending.length);
}

static void repeat_flush(struct session_log_repeat *r, gint64 now)
{
	if (r->count == 1)
		g_message("%s (repeated once in %" G_GINT64_FORMAT " s)", r->text,
			  (now - r->first_us + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC);
	else if (r->count)
		g_message("%s (repeated %u times in %" G_GINT64_FORMAT " s)", r->text, r->count,
			  (now - r->first_us + G_USEC_PER_SEC / 2) / G_USEC_PER_SEC);
	g_clear_pointer(&r->text, g_free);
	r->count = 0;
}

void recovery_log(struct isa_session *s, GLogLevelFlags level, const char *fmt, ...)
{
	gint64 now = g_get_monotonic_time();
	struct session_log_repeat *r, *slot = NULL;
	g_autofree char *text = NULL;
	va_list ap;
	guint i;

	va_start(ap, fmt);
	text = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	for (i = 0; i < G_N_ELEMENTS(s->repeats); i++) {
		r = &s->repeats[i];
		if (r->text && !strcmp(r->text, text)) {
			if (now - r->first_us < REPEAT_WINDOW_US) {
				r->count++;
				return;
			}
			slot = r;
			break;
		}
		if (!slot || (slot->text && (!r->text || r->first_us < slot->first_us)))
			slot = r;
	}
	if (slot->text)
		repeat_flush(slot, now);
	g_log(G_LOG_DOMAIN, level, "%s", text);
	slot->text = g_steal_pointer(&text);
	slot->first_us = now;
	slot->count = 0;
}

void recovery_log_flush(struct isa_session *s, bool all)
{
	gint64 now = g_get_monotonic_time();
	guint i;

	for (i = 0; i < G_N_ELEMENTS(s->repeats); i++) {
		struct session_log_repeat *r = &s->repeats[i];

		if (r->text && (all || now - r->first_us >= REPEAT_WINDOW_US))
			repeat_flush(r, now);
	}
}
