/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Full feature phase of an iSCSI session (RFC 7143 sections 4.2, 11):
 * the CmdSN window, the ITT table, SCSI responses with status and sense,
 * NOP keepalive in both directions, asynchronous messages and rejects.
 *
 * The datamover calls us (upcalls) for every received PDU; we never call
 * a completion callback from inside an upcall: finished tasks wait on
 * s->completed until the upcall has returned, so that callbacks may submit
 * new commands without re-entering the datamover's receive path.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/iscsi-proto.h"
#include "initiator/pdu.h"
#include "initiator/scsi.h"
#include "initiator/session.h"

/* Commands that meet UNIT ATTENTION or BUSY are sent again this often. */
#define SESSION_MAX_RETRIES 8
/*
 * NOT READY that says the LUN is about to be (becoming ready, an ALUA
 * state transition): sent again after 50 ms, doubling to at most 1 s,
 * 10 times (6.55 s in all) before the command fails with the sense.
 */
#define SESSION_NOT_READY_RETRIES 10
#define NOT_READY_FIRST_US	  50000
#define NOT_READY_MAX_US	  1000000

static void session_vfail(struct isa_session *s, bool final, const char *fmt, va_list ap)
{
	g_autofree char *why = NULL;

	if (s->state == SESSION_FAILED)
		return;
	/*
	 * The first failure of a connection says why it failed; what follows
	 * from it (a send refused on the dead connection, the datamover's own
	 * words for a PDU the session refused) must not replace it in the log
	 * or in the clients' errors.
	 */
	if ((s->state == SESSION_DROPPED || s->state == SESSION_RECONNECT_WAIT) && !final)
		return;
	why = g_strdup_vprintf(fmt, ap);
	/* A connect or login that fails is handled by session_step(), outside the upcalls. */
	if (!final && (s->state == SESSION_CONNECTING || s->state == SESSION_LOGGING_IN)) {
		if (!s->attempt.err)
			s->attempt.err = g_error_new_literal(ISA_ERROR, ISA_ERROR_CONNECT, why);
		return;
	}
	g_free(s->error);
	s->error = g_steal_pointer(&why);
	/*
	 * A lost connection in full feature phase is recovered when the
	 * owner asked for it: the connection is dropped after this upcall
	 * returns (session_step), and commands wait instead of failing.
	 */
	if (!final && s->state == SESSION_FULL_FEATURE &&
	    (s->replacement_timeout_s || s->failover_fn) && s->dm->reset) {
		recovery_begin(s, s->error);
		return;
	}
	/* After a logout the target closing the connection is normal. */
	if (s->state == SESSION_LOGGING_OUT)
		g_debug("logout from %s: %s", s->target_name ? s->target_name : "?", s->error);
	else
		g_warning("session to %s: %s", s->target_name ? s->target_name : "?", s->error);
	session_set_state(s, SESSION_FAILED);
}

void session_fail(struct isa_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_vfail(s, false, fmt, ap);
	va_end(ap);
}

void session_end(struct isa_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	session_vfail(s, true, fmt, ap);
	va_end(ap);
}

bool session_failed(const struct isa_session *s)
{
	return s->state == SESSION_FAILED;
}

bool session_live(const struct isa_session *s)
{
	return s->state == SESSION_FULL_FEATURE;
}

unsigned session_outstanding(const struct isa_session *s)
{
	return g_hash_table_size(s->tasks) + s->pending.length + s->refused.length;
}

unsigned isa_session_outstanding(const struct isa_session *s)
{
	return session_outstanding(s);
}

void session_set_failover(struct isa_session *s, session_failover_fn fn, void *opaque)
{
	s->failover_fn = fn;
	s->failover_opaque = opaque;
}

const struct iscsi_params *session_params(const struct isa_session *s)
{
	return &s->params;
}

uint32_t session_alloc_itt(struct isa_session *s)
{
	uint32_t itt;

	/* 0xffffffff is reserved; skip tags still in use after a wrap. */
	do {
		itt = s->next_itt++;
	} while (itt == ISCSI_RESERVED_TAG ||
		 g_hash_table_contains(s->tasks, GUINT_TO_POINTER(itt)));
	return itt;
}

/*
 * Keep epfd watching the datamover's fd for what it wants. The fd changes
 * when a connect moves on to the next address, or after a reset; a closed
 * fd has left the epoll set by itself.
 */
void session_update_events(struct isa_session *s)
{
	struct epoll_event ev = {0};
	/*
	 * A failed session serves its connection no more: out of the set,
	 * or a socket in error would keep the set readable (EPOLLERR and
	 * EPOLLHUP are reported whatever the events) and its owner spinning.
	 */
	int fd = s->conn && s->state != SESSION_FAILED ? s->dm->get_fd(s->conn) : -1;

	if (fd != s->dm_fd) {
		if (s->dm_fd >= 0)
			epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->dm_fd, NULL);
		s->dm_fd = -1;
		s->dm_events = 0;
		if (fd < 0)
			return;
		ev.events = s->dm->which_events(s->conn);
		ev.data.fd = fd;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) == 0) {
			s->dm_fd = fd;
			s->dm_events = ev.events;
		}
		return;
	}
	if (fd < 0)
		return;
	ev.events = s->dm->which_events(s->conn);
	if (ev.events == s->dm_events)
		return;
	ev.data.fd = fd;
	if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
		s->dm_events = ev.events;
}

void session_count_io(struct isa_session *s, bool read, uint64_t bytes)
{
	if (read)
		s->stats.bytes_read += bytes;
	else
		s->stats.bytes_written += bytes;
}

void session_count_error(struct isa_session *s)
{
	s->stats.errors++;
}

struct isa_task *session_task_new(struct isa_session *s, uint32_t lun, const uint8_t *cdb,
				  uint8_t cdb_len, bool read, void *buf, uint32_t len,
				  isa_task_done_fn done, void *opaque)
{
	struct isa_task *t = g_new0(struct isa_task, 1);

	t->s = s;
	memcpy(t->cdb, cdb, cdb_len);
	t->cdb_len = cdb_len;
	iscsi_encode_lun(t->dm.lun, lun);
	t->edtl = len;
	if (len) {
		t->read = read;
		t->write = !read;
	}
	if (t->read) {
		t->dm.read_buf = buf;
		t->dm.read_len = len;
	} else if (t->write) {
		t->dm.write_buf = buf;
		t->dm.write_len = len;
	}
	t->done = done;
	t->opaque = opaque;
	t->link.data = t;
	return t;
}

void session_task_free(struct isa_task *t)
{
	g_free(t);
}

/* The latency histogram bucket of @us (see ISA_LATENCY_MIN_US). */
static unsigned latency_bucket(uint64_t us)
{
	unsigned log2_up;

	if (us <= ISA_LATENCY_MIN_US)
		return 0;
	/* The smallest n with 2^n >= us; ISA_LATENCY_MIN_US is 2^4. */
	log2_up = 64 - (unsigned)__builtin_clzll(us - 1);
	return MIN(log2_up - 4, (unsigned)ISA_LATENCY_BOUNDS);
}

/* Count @t, complete now, by its data direction and the time since its last send. */
void session_count_command(struct isa_session *s, const struct isa_task *t)
{
	struct isa_dir_stats *d;
	uint64_t us;

	if (!t->sent_us)
		return;
	us = (uint64_t)MAX(g_get_monotonic_time() - t->sent_us, 0);
	d = &s->stats.dir[t->read ? ISA_DIR_READ : t->write ? ISA_DIR_WRITE : ISA_DIR_NONE];
	d->commands++;
	d->latency_us_total += us;
	d->latency_buckets[latency_bucket(us)]++;
	s->stats.latency_us_total += us;
}

/* Move @t to the completed queue with @result; its done() runs later. */
static void task_finish(struct isa_session *s, struct isa_task *t, int result, const char *msg)
{
	if (t->in_flight) {
		g_hash_table_remove(s->tasks, GUINT_TO_POINTER(t->dm.itt));
		t->in_flight = false;
	}
	if (s->conn)
		s->dm->forget_task(s->conn, &t->dm);
	session_count_command(s, t);
	t->result = result;
	if (msg)
		g_strlcpy(t->msg, msg, sizeof(t->msg));
	if (result)
		s->stats.errors++;
	else if (t->count_io && !(t->read && t->underflow && t->residual))
		session_count_io(s, t->read, t->edtl);
	s->stats.commands++;
	g_queue_push_tail_link(&s->completed, &t->link);
}

void session_task_fail(struct isa_session *s, struct isa_task *t, int result, const char *msg)
{
	task_finish(s, t, result, msg);
}

/* @t did not execute: off the wire and out of the task table, to go again. */
static void task_unsend(struct isa_session *s, struct isa_task *t)
{
	if (t->in_flight) {
		g_hash_table_remove(s->tasks, GUINT_TO_POINTER(t->dm.itt));
		t->in_flight = false;
	}
	if (s->conn)
		s->dm->forget_task(s->conn, &t->dm);
	t->sense_len = 0;
}

void session_task_resend(struct isa_session *s, struct isa_task *t, bool first)
{
	task_unsend(s, t);
	if (first)
		g_queue_push_head_link(&s->pending, &t->link);
	else
		g_queue_push_tail_link(&s->pending, &t->link);
}

static gint cmp_cmdsn(gconstpointer a, gconstpointer b)
{
	const struct isa_task *x = a, *y = b;

	return iscsi_sn_lt(x->cmdsn, y->cmdsn) ? -1 : x->cmdsn != y->cmdsn;
}

void session_resend_in_order(struct isa_session *s, GList *tasks)
{
	GList *l;

	tasks = g_list_sort(tasks, cmp_cmdsn);
	for (l = g_list_last(tasks); l; l = l->prev)
		session_task_resend(s, l->data, true);
	g_list_free(tasks);
}

/* Decide how much of a write goes as immediate and unsolicited data. */
static void task_plan_unsolicited(const struct iscsi_params *p, struct isa_task *t)
{
	uint32_t len = t->dm.write_len;
	uint32_t burst = MIN(len, p->first_burst);

	t->dm.imm_len = 0;
	t->dm.unsol_len = 0;
	if (!t->write)
		return;
	if (p->immediate_data)
		t->dm.imm_len = MIN(burst, p->max_xmit_dsl);
	t->dm.unsol_len = p->initial_r2t ? t->dm.imm_len : burst;
}

static bool window_open(const struct isa_session *s)
{
	return iscsi_sn_le(s->cmdsn, s->max_cmdsn) && g_hash_table_size(s->tasks) < s->queue_depth;
}

static void task_send(struct isa_session *s, struct isa_task *t)
{
	uint8_t bhs[ISCSI_BHS_LEN];

	t->dm.itt = session_alloc_itt(s);
	t->dm.read_placed = 0;
	t->dm.next_datasn = 0;
	t->dm.r2t_outstanding = 0;
	t->cmdsn = s->cmdsn++;
	t->sent_us = g_get_monotonic_time();
	t->timer_us = t->sent_us;
	task_plan_unsolicited(&s->params, t);
	pdu_build_scsi_cmd(bhs, t->dm.lun, t->dm.itt, t->cmdsn, s->exp_statsn, t->cdb, t->cdb_len,
			   t->read, t->write, t->edtl, ISCSI_ATTR_SIMPLE,
			   t->dm.unsol_len == t->dm.imm_len, t->dm.imm_len);
	g_hash_table_insert(s->tasks, GUINT_TO_POINTER(t->dm.itt), t);
	t->in_flight = true;
	if (s->dm->send_command(s->conn, bhs, &t->dm) < 0)
		session_fail(s, "cannot queue a SCSI command");
}

/*
 * Send what the window allows, in order; a command waiting out a NOT
 * READY (not_before_us) is passed over until its time.
 */
static void session_issue_pending(struct isa_session *s)
{
	GList *l = s->pending.head;
	gint64 now = 0;

	while (l && s->state == SESSION_FULL_FEATURE && window_open(s)) {
		struct isa_task *t = l->data;
		GList *next = l->next;

		if (t->not_before_us) {
			if (!now)
				now = g_get_monotonic_time();
			if (t->not_before_us > now) {
				l = next;
				continue;
			}
			t->not_before_us = 0;
		}
		g_queue_unlink(&s->pending, l);
		task_send(s, t);
		l = next;
	}
}

/* The LUN will be ready again: how long @t waits before its next try. */
static gint64 not_ready_delay_us(const struct isa_task *t)
{
	gint64 d = NOT_READY_FIRST_US;

	for (unsigned i = 0; i < t->retries && d < NOT_READY_MAX_US; i++)
		d *= 2;
	return MIN(d, NOT_READY_MAX_US);
}

void session_task_submit(struct isa_session *s, struct isa_task *t)
{
	if (s->state != SESSION_FULL_FEATURE) {
		g_queue_push_tail_link(&s->pending, &t->link);
		if (s->state == SESSION_FAILED) {
			g_queue_unlink(&s->pending, &t->link);
			task_finish(s, t, -ENOTCONN,
				    s->error ? s->error : "session is not logged in");
		}
		return;
	}
	g_queue_push_tail_link(&s->pending, &t->link);
	session_issue_pending(s);
	session_update_events(s);
}

/* Fail every task, in flight or waiting: the connection is gone. */
void session_fail_all(struct isa_session *s)
{
	GHashTableIter it;
	gpointer v;
	GList *l;
	const char *why = s->error ? s->error : "connection lost";

	g_hash_table_iter_init(&it, s->tasks);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct isa_task *t = v;

		t->in_flight = false;
		g_hash_table_iter_remove(&it);
		task_finish(s, t, -ENOTCONN, why);
	}
	while ((l = g_queue_pop_head_link(&s->pending)))
		task_finish(s, l->data, -ENOTCONN, why);
	while ((l = g_queue_pop_head_link(&s->refused)))
		task_finish(s, l->data, -ENOTCONN, why);
}

struct deferred {
	GList link;
	void (*fn)(void *opaque);
	void *opaque;
};

void session_defer(struct isa_session *s, void (*fn)(void *opaque), void *opaque)
{
	struct deferred *d = g_new0(struct deferred, 1);
	uint64_t one = 1;

	d->fn = fn;
	d->opaque = opaque;
	d->link.data = d;
	g_queue_push_tail_link(&s->deferred, &d->link);
	if (write(s->defer_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		g_debug("eventfd write: %s", g_strerror(errno));
}

static void session_run_deferred(struct isa_session *s)
{
	GList *l;
	uint64_t n;

	if (read(s->defer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		g_debug("eventfd read: %s", g_strerror(errno));
	while ((l = g_queue_pop_head_link(&s->deferred))) {
		struct deferred *d = l->data;

		d->fn(d->opaque);
		g_free(d);
	}
}

static void session_run_completions(struct isa_session *s)
{
	GList *l;

	while ((l = g_queue_pop_head_link(&s->completed))) {
		struct isa_task *t = l->data;

		t->done(t);
	}
}

/*
 * ExpCmdSN/MaxCmdSN arrive in most target PDUs. RFC 7143 4.2.2.1: ignore
 * values where MaxCmdSN < ExpCmdSN - 1, and never move the window back.
 */
static void update_window(struct isa_session *s, uint32_t exp_cmdsn, uint32_t max_cmdsn)
{
	if (iscsi_sn_lt(max_cmdsn, exp_cmdsn - 1))
		return;
	if (iscsi_sn_lt(s->exp_cmdsn, exp_cmdsn))
		s->exp_cmdsn = exp_cmdsn;
	if (iscsi_sn_lt(s->max_cmdsn, max_cmdsn))
		s->max_cmdsn = max_cmdsn;
}

static void update_statsn(struct isa_session *s, uint32_t statsn)
{
	if (iscsi_sn_le(s->exp_statsn, statsn))
		s->exp_statsn = statsn + 1;
}

struct ua_watcher {
	session_ua_fn fn;
	void *opaque;
};

void session_watch_ua(struct isa_session *s, session_ua_fn fn, void *opaque)
{
	struct ua_watcher *w = g_new0(struct ua_watcher, 1);

	w->fn = fn;
	w->opaque = opaque;
	s->ua_watchers = g_list_append(s->ua_watchers, w);
}

void session_unwatch_ua(struct isa_session *s, void *opaque)
{
	GList *l, *next;

	for (l = s->ua_watchers; l; l = next) {
		struct ua_watcher *w = l->data;

		next = l->next;
		if (w->opaque == opaque) {
			g_free(w);
			s->ua_watchers = g_list_delete_link(s->ua_watchers, l);
		}
	}
}

static void session_ua_notify(struct isa_session *s, uint32_t lun, const struct scsi_sense *sense)
{
	GList *l;

	for (l = s->ua_watchers; l; l = l->next) {
		struct ua_watcher *w = l->data;

		w->fn(w->opaque, lun, sense->asc, sense->ascq);
	}
}

/* The commands this path's port refused go to the owner, outside the upcall. */
static void session_hand_back_refused(void *opaque)
{
	struct isa_session *s = opaque;
	GList *tasks = NULL, *l;

	while ((l = g_queue_pop_tail_link(&s->refused)))
		tasks = g_list_concat(l, tasks);
	if (!tasks)
		return;
	if (s->failover_fn) {
		s->failover_fn(s->failover_opaque, s, tasks);
		return;
	}
	/* Out of failover mode since: this path it is. */
	while (tasks) {
		l = tasks;
		tasks = g_list_remove_link(tasks, l);
		session_task_resend(s, l->data, false);
	}
}

/*
 * One path of several, whose target port is in standby or unavailable
 * (ALUA, SPC-4 5.16): the command did not execute; another path may take
 * it, and the owner hears that this one refused it.
 */
static void session_task_refused(struct isa_session *s, struct isa_task *t)
{
	task_unsend(s, t);
	if (!s->refused.length)
		session_defer(s, session_hand_back_refused, s);
	g_queue_push_tail_link(&s->refused, &t->link);
}

/* Turn status and sense into the task's result; retry what may be retried. */
static void task_complete_status(struct isa_session *s, struct isa_task *t, uint8_t status)
{
	struct scsi_sense sense = {0};
	char msg[160];

	t->status = status;
	if (status == SCSI_STATUS_GOOD) {
		task_finish(s, t, 0, NULL);
		return;
	}
	if (status == SCSI_STATUS_CHECK_CONDITION && t->sense_len &&
	    scsi_sense_parse(t->sense, t->sense_len, &sense) == 0) {
		if (scsi_sense_is_unit_attention(&sense)) {
			session_ua_notify(s, iscsi_decode_lun(t->dm.lun), &sense);
			if (t->retries < SESSION_MAX_RETRIES)
				goto retry;
		} else if (s->failover_fn && sense.key == SCSI_SENSE_NOT_READY &&
			   sense.asc == 0x04 && (sense.ascq == 0x0b || sense.ascq == 0x0c) &&
			   t->retries < SESSION_MAX_RETRIES) {
			t->retries++;
			s->stats.retries++;
			session_task_refused(s, t);
			return;
		} else if (scsi_sense_is_retryable(&sense) && sense.key == SCSI_SENSE_NOT_READY) {
			/* In ALUA transition: whoever follows the states reads them again. */
			if (sense.asc == 0x04 && sense.ascq == 0x0a)
				session_ua_notify(s, iscsi_decode_lun(t->dm.lun), &sense);
			if (t->retries < SESSION_NOT_READY_RETRIES) {
				t->not_before_us = g_get_monotonic_time() + not_ready_delay_us(t);
				/* Woken then, not at the next tick of the 1 s timer. */
				if (t->not_before_us < s->timer_due_us)
					session_arm_timer(s, t->not_before_us);
				g_debug("LUN not ready (ASC/ASCQ %02x/%02x): command 0x%02x sent "
					"again in %" G_GINT64_FORMAT " ms",
					sense.asc, sense.ascq, t->cdb[0],
					(t->not_before_us - g_get_monotonic_time()) / 1000);
				goto retry;
			}
		} else if (scsi_sense_is_retryable(&sense) && t->retries < SESSION_MAX_RETRIES) {
			/* ABORTED COMMAND: the target did not execute it. */
			goto retry;
		}
		scsi_sense_describe(&sense, msg, sizeof(msg));
		task_finish(s, t, -scsi_sense_errno(&sense), msg);
		return;
	}
	if ((status == SCSI_STATUS_BUSY || status == SCSI_STATUS_TASK_SET_FULL) &&
	    t->retries < SESSION_MAX_RETRIES)
		goto retry;
	snprintf(msg, sizeof(msg), "SCSI status %s (0x%02x)", scsi_status_name(status), status);
	task_finish(s, t, -scsi_status_errno(status, NULL), msg);
	return;

retry:
	/* The command did not execute: send it again, behind what waits. */
	t->retries++;
	s->stats.retries++;
	session_task_resend(s, t, false);
}

struct isa_task *session_lookup(struct isa_session *s, uint32_t itt)
{
	return g_hash_table_lookup(s->tasks, GUINT_TO_POINTER(itt));
}

static int handle_scsi_rsp(struct isa_session *s, const uint8_t *bhs, const uint8_t *data,
			   uint32_t dlen)
{
	const struct iscsi_scsi_rsp *r = (const void *)bhs;
	uint32_t itt = ntohl(r->itt);
	struct isa_task *t = session_lookup(s, itt);
	const uint8_t *sense;
	uint32_t sense_len;

	if (!t) {
		session_fail(s, "SCSI Response for ITT 0x%08x that we never issued", itt);
		return -1;
	}
	if (r->response != ISCSI_RESPONSE_COMPLETED) {
		task_finish(s, t, -EIO, "target failure (iSCSI response 0x01)");
		return 0;
	}
	if (pdu_scsi_rsp_sense(data, dlen, &sense, &sense_len) < 0) {
		t->dm.violations++;
		session_fail(s, "SCSI Response with a SenseLength past its data segment");
		return -1;
	}
	t->sense_len = MIN(sense_len, sizeof(t->sense));
	if (t->sense_len)
		memcpy(t->sense, sense, t->sense_len);
	t->underflow = r->flags & ISCSI_RSP_UNDERFLOW;
	t->residual =
	    (r->flags & (ISCSI_RSP_UNDERFLOW | ISCSI_RSP_OVERFLOW)) ? ntohl(r->residual_count) : 0;
	/*
	 * GOOD must mean the whole read arrived: what the Data-In PDUs placed
	 * has to match the expected length less any underflow the target
	 * admits, or the client would be handed bytes nobody sent.
	 */
	if (t->read && r->cmd_status == SCSI_STATUS_GOOD && s->dm->caps.counts_data_in) {
		uint32_t want = t->edtl - (t->underflow ? MIN(t->residual, t->edtl) : 0);

		if ((t->underflow && t->residual > t->edtl) || t->dm.read_placed != want) {
			t->dm.violations++;
			session_fail(s, "SCSI Response GOOD for ITT 0x%08x after %u of %u bytes",
				     itt, t->dm.read_placed, want);
			return -1;
		}
	}
	task_complete_status(s, t, r->cmd_status);
	return 0;
}

static int handle_data_in(struct isa_session *s, const uint8_t *bhs)
{
	const struct iscsi_data_in *d = (const void *)bhs;
	uint32_t itt = ntohl(d->itt);
	struct isa_task *t = session_lookup(s, itt);

	if (!t) {
		session_fail(s, "Data-In for ITT 0x%08x that we never issued", itt);
		return -1;
	}
	if (!(d->flags & ISCSI_DATA_STATUS))
		return 0;
	t->underflow = d->flags & ISCSI_DATA_UNDERFLOW;
	t->residual = (d->flags & (ISCSI_DATA_UNDERFLOW | ISCSI_DATA_OVERFLOW))
			  ? ntohl(d->residual_count)
			  : 0;
	task_complete_status(s, t, d->cmd_status);
	return 0;
}

static int handle_nop_in(struct isa_session *s, const uint8_t *bhs)
{
	const struct iscsi_nop_in *n = (const void *)bhs;
	uint32_t itt = ntohl(n->itt);
	uint32_t ttt = ntohl(n->ttt);

	if (itt != ISCSI_RESERVED_TAG) {
		if (itt == s->nop_itt && s->nop_sent_us) {
			s->nop_sent_us = 0;
		} else if (s->ctl_waiting && itt == s->ctl_itt) {
			s->ctl_ready = true;
		}
		return 0;
	}
	/* The target pings us: answer with its TTT, later, outside the upcall. */
	if (ttt != ISCSI_RESERVED_TAG) {
		struct {
			uint32_t ttt;
			uint8_t lun[8];
		} rep;

		rep.ttt = ttt;
		memcpy(rep.lun, n->lun, 8);
		g_array_append_val(s->nop_replies, rep);
	}
	return 0;
}

static int handle_async(struct isa_session *s, const uint8_t *bhs, const uint8_t *data,
			uint32_t dlen)
{
	const struct iscsi_async_msg *a = (const void *)bhs;
	struct scsi_sense sense;
	char msg[160];

	switch (a->async_event) {
	case ISCSI_ASYNC_SCSI_EVENT:
		if (dlen >= 2 && scsi_sense_parse(data + 2, dlen - 2, &sense) == 0) {
			scsi_sense_describe(&sense, msg, sizeof(msg));
			g_message("target reports: %s", msg);
		}
		return 0;
	case ISCSI_ASYNC_LOGOUT_REQUEST:
		session_fail(s, "target asked us to log out within %u s",
			     (unsigned)ntohs(a->param3));
		return -1;
	case ISCSI_ASYNC_DROP_CONNECTION:
	case ISCSI_ASYNC_DROP_ALL:
		session_fail(s, "target is dropping the connection (reconnect after %u s)",
			     (unsigned)ntohs(a->param2));
		return -1;
	case ISCSI_ASYNC_NEGOTIATE:
		/* Renegotiation is optional for initiators; the target then keeps the values. */
		g_message("target asked for parameter renegotiation; keeping the current values");
		return 0;
	default:
		g_debug("asynchronous message, event %u, ignored", a->async_event);
		return 0;
	}
}

static int handle_reject(struct isa_session *s, const uint8_t *bhs, const uint8_t *data,
			 uint32_t dlen)
{
	const struct iscsi_reject *r = (const void *)bhs;
	const struct iscsi_bhs *rej;
	struct isa_task *t;
	char msg[160];

	if (dlen < ISCSI_BHS_LEN) {
		session_fail(s, "Reject without the rejected header");
		return -1;
	}
	rej = (const void *)data;
	snprintf(msg, sizeof(msg), "target rejected a %s PDU: %s",
		 pdu_opcode_name(rej->opcode & ISCSI_OPCODE_MASK),
		 pdu_reject_reason_name(r->reason));
	t = session_lookup(s, ntohl(rej->itt));
	if (t && (rej->opcode & ISCSI_OPCODE_MASK) == ISCSI_OP_SCSI_CMD) {
		task_finish(s, t, -EIO, msg);
		return 0;
	}
	if ((rej->opcode & ISCSI_OPCODE_MASK) == ISCSI_OP_TMF_REQ && s->tmf.function &&
	    ntohl(rej->itt) == s->tmf.itt)
		return session_tmf_answered(s, -1, msg);
	if (s->ctl_waiting && ntohl(rej->itt) == s->ctl_itt) {
		session_fail(s, "%s", msg);
		return -1;
	}
	/* A rejected Data-Out or NOP is a protocol disagreement we cannot repair at ERL 0. */
	session_fail(s, "%s", msg);
	return -1;
}

/* The response a blocking control exchange waits for. */
static int handle_control_rsp(struct isa_session *s, const uint8_t *bhs, const uint8_t *data,
			      uint32_t dlen)
{
	const struct iscsi_bhs *h = (const void *)bhs;

	if (!s->ctl_waiting || ntohl(h->itt) != s->ctl_itt) {
		session_fail(s, "%s for ITT 0x%08x that we never issued",
			     pdu_opcode_name(h->opcode & ISCSI_OPCODE_MASK), ntohl(h->itt));
		return -1;
	}
	g_byte_array_set_size(s->ctl_rsp, 0);
	g_byte_array_append(s->ctl_rsp, bhs, ISCSI_BHS_LEN);
	if (dlen)
		g_byte_array_append(s->ctl_rsp, data, dlen);
	s->ctl_ready = true;
	return 0;
}

/* Status-bearing PDUs advance ExpStatSN; most carry the command window. */
static void track_sequence(struct isa_session *s, const uint8_t *bhs)
{
	uint8_t op = bhs[0] & ISCSI_OPCODE_MASK;
	const struct iscsi_scsi_rsp *r = (const void *)bhs;

	/* Every target PDU but Data-In without status puts StatSN at 24. */
	switch (op) {
	case ISCSI_OP_DATA_IN:
		if (bhs[1] & ISCSI_DATA_STATUS)
			update_statsn(s, ntohl(r->statsn));
		break;
	case ISCSI_OP_R2T:
		break;
	case ISCSI_OP_NOOP_IN:
		/* An unsolicited NOP-In does not advance StatSN (RFC 7143 11.19.2). */
		if (ntohl(r->itt) != ISCSI_RESERVED_TAG)
			update_statsn(s, ntohl(r->statsn));
		break;
	default:
		update_statsn(s, ntohl(r->statsn));
		break;
	}
	update_window(s, ntohl(r->exp_cmdsn), ntohl(r->max_cmdsn));
}

static int upcall_pdu(void *opaque, const uint8_t *bhs, const uint8_t *ahs, uint32_t ahs_len,
		      const uint8_t *data, uint32_t dlen)
{
	struct isa_session *s = opaque;
	bool in_login = s->state == SESSION_CONNECTING || s->state == SESSION_LOGGING_IN;
	char why[256];
	uint8_t op = bhs[0] & ISCSI_OPCODE_MASK;

	if (pdu_check_rx(bhs, ahs, ahs_len, dlen, in_login ? 8192 : s->params.max_recv_dsl,
			 in_login, why, sizeof(why)) < 0) {
		struct isa_task *t =
		    in_login ? NULL
			     : session_lookup(s, ntohl(((const struct iscsi_bhs *)bhs)->itt));

		if (t)
			t->dm.violations++;
		session_fail(s, "malformed PDU from the target: %s", why);
		return -1;
	}
	s->last_rx_us = g_get_monotonic_time();
	if (in_login) {
		if (op != ISCSI_OP_LOGIN_RSP)
			return 0;
		return handle_control_rsp(s, bhs, data, dlen);
	}
	track_sequence(s, bhs);

	switch (op) {
	case ISCSI_OP_SCSI_RSP:
		return handle_scsi_rsp(s, bhs, data, dlen);
	case ISCSI_OP_DATA_IN:
		return handle_data_in(s, bhs);
	case ISCSI_OP_R2T:
		/* The datamover has answered it; only the window mattered here. */
		return 0;
	case ISCSI_OP_NOOP_IN:
		return handle_nop_in(s, bhs);
	case ISCSI_OP_ASYNC_MSG:
		return handle_async(s, bhs, data, dlen);
	case ISCSI_OP_REJECT:
		return handle_reject(s, bhs, data, dlen);
	case ISCSI_OP_TMF_RSP:
		if (s->tmf.function &&
		    ntohl(((const struct iscsi_tmf_rsp *)bhs)->itt) == s->tmf.itt)
			return session_tmf_answered(
			    s, ((const struct iscsi_tmf_rsp *)bhs)->response, NULL);
		return handle_control_rsp(s, bhs, data, dlen);
	case ISCSI_OP_TEXT_RSP:
	case ISCSI_OP_LOGOUT_RSP:
		return handle_control_rsp(s, bhs, data, dlen);
	default:
		session_fail(s, "unexpected %s in full feature phase", pdu_opcode_name(op));
		return -1;
	}
}

static struct dm_task *upcall_find_task(void *opaque, uint32_t itt)
{
	struct isa_task *t = session_lookup(opaque, itt);

	return t ? &t->dm : NULL;
}

static uint32_t upcall_exp_statsn(void *opaque)
{
	struct isa_session *s = opaque;

	return s->exp_statsn;
}

static void upcall_failed(void *opaque, int err, const char *msg)
{
	struct isa_session *s = opaque;

	(void)err;
	session_fail(s, "%s", msg);
}

static void upcall_connected(void *opaque)
{
	session_connected(opaque);
}

void session_init_upcalls(struct isa_session *s)
{
	s->up.opaque = s;
	s->up.find_task = upcall_find_task;
	s->up.exp_statsn = upcall_exp_statsn;
	s->up.pdu = upcall_pdu;
	s->up.failed = upcall_failed;
	s->up.connected = upcall_connected;
}

static void send_nop_replies(struct isa_session *s)
{
	uint8_t bhs[ISCSI_BHS_LEN];
	guint i;

	for (i = 0; i < s->nop_replies->len; i++) {
		struct {
			uint32_t ttt;
			uint8_t lun[8];
		} *rep = &g_array_index(s->nop_replies, typeof(*rep), i);

		pdu_build_nop_out(bhs, ISCSI_RESERVED_TAG, rep->ttt, s->cmdsn, s->exp_statsn,
				  rep->lun, 0, true);
		if (s->dm->send_pdu(s->conn, bhs, NULL, 0) < 0)
			session_fail(s, "cannot queue a NOP-Out reply");
	}
	g_array_set_size(s->nop_replies, 0);
}

/* Keepalive: ping after a quiet interval; a ping left unanswered kills the connection. */
static void session_keepalive(struct isa_session *s)
{
	gint64 now = g_get_monotonic_time();
	uint8_t bhs[ISCSI_BHS_LEN];
	uint8_t lun[8] = {0};

	if (s->state != SESSION_FULL_FEATURE)
		return;
	session_check_timeouts(s);
	if (s->nop_sent_us) {
		if (now - s->nop_sent_us > (gint64)s->nop_timeout_s * G_USEC_PER_SEC)
			session_fail(s, "target did not answer a NOP-Out ping within %u s",
				     s->nop_timeout_s);
		return;
	}
	if (now - s->last_rx_us < (gint64)s->nop_interval_s * G_USEC_PER_SEC)
		return;
	s->nop_itt = session_alloc_itt(s);
	pdu_build_nop_out(bhs, s->nop_itt, ISCSI_RESERVED_TAG, s->cmdsn, s->exp_statsn, lun, 0,
			  true);
	if (s->dm->send_pdu(s->conn, bhs, NULL, 0) < 0)
		session_fail(s, "cannot queue a NOP-Out ping");
	s->nop_sent_us = now;
}

static void session_after_io(struct isa_session *s)
{
	session_step(s);
	if (s->state == SESSION_FAILED) {
		session_fail_all(s);
	} else if (s->state == SESSION_FULL_FEATURE) {
		if (s->nop_replies->len)
			send_nop_replies(s);
		session_issue_pending(s);
	}
	session_run_completions(s);
	if (s->deferred.length)
		session_run_deferred(s);
	/* Callbacks may have submitted more. */
	if (s->state == SESSION_FULL_FEATURE)
		session_issue_pending(s);
	session_update_events(s);
}

/* The timer fired (or is about to): take its expirations and act on them. */
static void session_timer(struct isa_session *s)
{
	uint64_t ticks = 0;

	if (read(s->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		g_debug("timerfd read: %s", g_strerror(errno));
	if (!ticks)
		return;
	s->timer_due_us += (gint64)ticks * G_USEC_PER_SEC;
	if (s->state != SESSION_FAILED) {
		session_keepalive(s);
		session_tick(s);
	}
}

/*
 * How far ahead of its reckoned expiry the timerfd is read anyway: the
 * kernel may fire a little late (timer slack), never early, so reading
 * early costs at worst an EAGAIN.
 */
#define TIMER_MARGIN_US 1000

int isa_session_service(struct isa_session *s)
{
	struct epoll_event ev[4];
	int n, i;

	/*
	 * The common case without asking epoll which fd fired, a system call
	 * per turn saved: logged in on a datamover that may be serviced
	 * unprompted, the session's own fds are the timer, whose expiry the
	 * clock tells, the defer eventfd, which session_after_io() reads when
	 * something was deferred, and the connection, given what it waits for.
	 */
	if (s->state == SESSION_FULL_FEATURE && s->conn && s->dm->caps.service_unprompted &&
	    s->dm_fd >= 0) {
		if (g_get_monotonic_time() + TIMER_MARGIN_US >= s->timer_due_us)
			session_timer(s);
		if (s->conn && s->state != SESSION_FAILED)
			s->dm->service(s->conn, s->dm_events);
		session_after_io(s);
		return s->state == SESSION_FAILED ? -1 : 0;
	}
	/*
	 * A failed session still drains its set (the timer), so that whoever
	 * polls it does not find it readable for ever.
	 */
	n = epoll_wait(s->epfd, ev, G_N_ELEMENTS(ev), 0);
	for (i = 0; i < n; i++) {
		if (ev[i].data.fd == s->defer_fd)
			continue;
		else if (ev[i].data.fd == s->timerfd)
			session_timer(s);
		else if (s->conn && s->state != SESSION_FAILED)
			s->dm->service(s->conn, ev[i].events);
	}
	session_after_io(s);
	return s->state == SESSION_FAILED ? -1 : 0;
}

int isa_session_complete(struct isa_session *s)
{
	session_after_io(s);
	return s->state == SESSION_FAILED ? -1 : 0;
}

int isa_session_run(struct isa_session *s, const bool *done, int timeout_ms)
{
	gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + timeout_ms * 1000LL;

	for (;;) {
		struct epoll_event ev;
		int wait_ms = -1;

		if (isa_session_service(s) < 0)
			return *done ? 0 : -1;
		if (*done)
			return 0;
		if (deadline >= 0) {
			gint64 left = deadline - g_get_monotonic_time();

			if (left <= 0)
				return -1;
			wait_ms = (int)MIN(left / 1000 + 1, 1000);
		}
		if (epoll_wait(s->epfd, &ev, 1, wait_ms) < 0 && errno != EINTR)
			return -1;
	}
}

static void run_done(struct isa_task *t)
{
	*(bool *)t->opaque = true;
}

/*
 * Take @t back from the session, wherever it is, so that nothing the
 * session does later touches it: sent and unanswered, waiting to be sent
 * (again), or complete with its done() not called yet. Returns true in
 * the last case: its result stands.
 */
static bool task_take_back(struct isa_session *s, struct isa_task *t)
{
	if (t->in_flight) {
		g_hash_table_remove(s->tasks, GUINT_TO_POINTER(t->dm.itt));
		t->in_flight = false;
	} else if (g_queue_link_index(&s->completed, &t->link) >= 0) {
		g_queue_unlink(&s->completed, &t->link);
		return true;
	} else if (g_queue_link_index(&s->pending, &t->link) >= 0) {
		g_queue_unlink(&s->pending, &t->link);
	} else if (g_queue_link_index(&s->refused, &t->link) >= 0) {
		g_queue_unlink(&s->refused, &t->link);
	}
	if (s->conn)
		s->dm->forget_task(s->conn, &t->dm);
	return false;
}

/*
 * session_task_run() waited for @t in vain. The caller frees @t and its
 * done flag when we return, so the session must let go of it. A target
 * that leaves a command of ours unanswered this long ends the session:
 * recovering would only send it again to a target that does not answer,
 * and whoever waits for it waits no longer.
 */
static void task_give_up(struct isa_session *s, struct isa_task *t, int timeout_ms)
{
	bool whole_s = timeout_ms % 1000 == 0;

	if (task_take_back(s, t))
		return;
	if (s->state == SESSION_FAILED) {
		t->result = -ENOTCONN;
		g_strlcpy(t->msg, s->error ? s->error : "session failed", sizeof(t->msg));
	} else {
		t->result = -ETIMEDOUT;
		snprintf(t->msg, sizeof(t->msg), "no answer to SCSI command 0x%02x within %d %s",
			 t->cdb[0], whole_s ? timeout_ms / 1000 : timeout_ms, whole_s ? "s" : "ms");
		session_end(s, "%s", t->msg);
	}
	session_count_command(s, t);
	s->stats.errors++;
	s->stats.commands++;
	/* Everything else the session held fails the usual way. */
	session_after_io(s);
}

int session_task_run(struct isa_session *s, struct isa_task *t, int timeout_ms)
{
	bool done = false;

	t->done = run_done;
	t->opaque = &done;
	session_task_submit(s, t);
	if (isa_session_run(s, &done, timeout_ms) < 0 && !done)
		task_give_up(s, t, timeout_ms);
	t->done = NULL;
	t->opaque = NULL;
	return t->result;
}

int session_control_exchange(struct isa_session *s, const uint8_t *bhs, const void *data,
			     uint32_t dlen, int timeout_ms, GError **err)
{
	const struct iscsi_bhs *h = (const void *)bhs;
	int rc;

	s->ctl_waiting = true;
	s->ctl_ready = false;
	s->ctl_itt = ntohl(h->itt);
	if (s->dm->send_pdu(s->conn, bhs, data, dlen) < 0) {
		session_fail(s, "cannot queue a %s",
			     pdu_opcode_name(h->opcode & ISCSI_OPCODE_MASK));
		s->ctl_waiting = false;
		g_set_error(err, ISA_ERROR, ISA_ERROR_CONNECT, "%s", s->error);
		return -1;
	}
	session_update_events(s);
	rc = isa_session_run(s, &s->ctl_ready, timeout_ms);
	s->ctl_waiting = false;
	if (rc < 0) {
		if (s->state == SESSION_FAILED)
			g_set_error(err, ISA_ERROR, ISA_ERROR_CONNECT, "%s", s->error);
		else
			g_set_error(err, ISA_ERROR, ISA_ERROR_TIMEOUT,
				    "no %s response within %d ms",
				    pdu_opcode_name(h->opcode & ISCSI_OPCODE_MASK), timeout_ms);
		return -1;
	}
	return 0;
}

int session_enter_full_feature(struct isa_session *s, GError **err)
{
	struct dm_params dp = {
	    .max_recv_dsl = s->params.max_recv_dsl,
	    .max_xmit_dsl = s->params.max_xmit_dsl,
	    .first_burst = s->params.first_burst,
	    .max_burst = s->params.max_burst,
	    .max_outstanding_r2t = s->params.max_outstanding_r2t,
	    .header_digest = s->params.header_digest == ISCSI_DIGEST_CRC32C,
	    .data_digest = s->params.data_digest == ISCSI_DIGEST_CRC32C,
	};

	(void)err;
	s->dm->set_params(s->conn, &dp);
	session_set_state(s, SESSION_FULL_FEATURE);
	s->last_rx_us = g_get_monotonic_time();
	s->login_us = s->last_rx_us;
	/* Keepalive and command timeouts: every second from now. */
	session_arm_timer(s, s->login_us + G_USEC_PER_SEC);
	return 0;
}

void isa_session_cork(struct isa_session *s, bool on)
{
	if (on) {
		if (s->corked++ == 0 && s->conn && s->dm->cork)
			s->dm->cork(s->conn, true);
		return;
	}
	if (!s->corked || --s->corked)
		return;
	if (s->conn && s->dm->cork) {
		s->dm->cork(s->conn, false);
		session_update_events(s);
	}
}

int isa_session_get_fd(struct isa_session *s)
{
	return s->epfd;
}

const char *isa_session_error(const struct isa_session *s)
{
	return s->state == SESSION_FAILED ? s->error : NULL;
}

const char *isa_session_state_name(const struct isa_session *s)
{
	/* A new connect and login after a lost connection are part of the recovery. */
	if (s->recovering && s->state != SESSION_FAILED)
		return "recovering";
	return session_state_str(s->state);
}

void isa_session_abandon(struct isa_session *s, const char *why)
{
	session_end(s, "%s", why);
	session_after_io(s);
}

void isa_session_get_stats(const struct isa_session *s, struct isa_stats *st)
{
	*st = s->stats;
	if (s->conn)
		st->copied_bytes = s->dm->stats_copied(s->conn);
	if (s->conn && s->dm->stats_pinned)
		st->pinned_bytes = s->dm->stats_pinned(s->conn);
}

void *isa_buf_alloc(struct isa_session *s, size_t len)
{
	return s->dm->buf_alloc(s->conn, len);
}

void isa_buf_free(struct isa_session *s, void *buf, size_t len)
{
	s->dm->buf_free(s->conn, buf, len);
}
