// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for initiator/session.c over a scripted fake datamover: a
 * target that logs in whoever asks (so that recovery reconnects for
 * real, through the state machine of fsm.c), records every SCSI Command PDU it is given, and
 * answers only what a test case tells it to, when it tells it to. A test case can also fail the
 * connection at any point, as a real datamover does: from inside service(), after counting a
 * protocol violation against a task if it likes. Everything runs through isa_session_service(),
 * synchronously: nothing waits for time to pass.
 *
 * Cases: a target that never answers (the command comes back to its
 * caller with -ETIMEDOUT and the session ends for good); the CmdSN window;
 * ITTs; resending after a new login; giving up on one command the target
 * keeps choking on while the others go on; the reconnect backoff of a
 * connection that dies right after its login. Failover mode, and the
 * multipath layer over two such sessions: commands spread over both, a
 * lost path's commands sent again on the other at once, held while no path
 * is up, failed once every path has been down past the replacement timeout.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/iscsi-proto.h"
#include "initiator/alua.h"
#include "initiator/mpath.h"
#include "initiator/scsi.h"
#include "initiator/session.h"

#define FAKE_TSIH 0x1234
/* Sessions here never ping and never time a command out on their own. */
#define QUIET_S 3600
/* Longer than the 5 s after its login within which a lost connection counts as flapping. */
#define SERVED_US (10 * G_USEC_PER_SEC)

/* One SCSI Command PDU as the fake target received it. */
struct fake_cmd {
	uint32_t itt;
	uint32_t cmdsn;
	uint8_t cdb[16];
	unsigned conn; /* which connection (1 = the first) it came on */
};

/* What the fake target does next, from inside service(). */
struct fake_event {
	GList link;
	uint8_t bhs[ISCSI_BHS_LEN];
	GByteArray *data;
	bool final_login; /* the Login Response that enters full feature phase */
	bool connect;	  /* instead of a PDU: the connect under way succeeds */
	bool fail;	  /* instead of a PDU: the connection fails */
	bool violation;	  /* ... after a violation counted against violation_itt */
	uint32_t violation_itt;
	char why[96];
};

/* The fake connection, and the target at its other end. */
struct dm_conn {
	struct dm_upcalls up;
	int fd; /* eventfd, readable while events wait */
	GQueue inbox;
	GArray *cmds; /* struct fake_cmd, in the order received */
	unsigned connects;
	unsigned resets;
	bool refuse;	      /* connects fail, as to a portal nothing listens on */
	bool mute_login;      /* Login Requests get no answer */
	unsigned answer_from; /* commands on this connection and later are answered GOOD */
	unsigned aborts_seen; /* ABORT TASK requests */
	unsigned resets_seen; /* LUN RESET requests */
	bool connected;
	bool full_feature;
	unsigned misplaced; /* commands sent while not logged in */
	unsigned logins;    /* Login Requests */
	unsigned forgotten;
	const struct dm_task *first_forgotten;

	/* The target's side of the sequence numbers. */
	uint32_t window; /* MaxCmdSN - ExpCmdSN + 1 at login */
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
};

static void event_free(struct fake_event *e)
{
	if (e->data)
		g_byte_array_unref(e->data);
	g_free(e);
}

static void inbox_clear(struct dm_conn *c)
{
	GList *l;
	uint64_t n;

	while ((l = g_queue_pop_head_link(&c->inbox)))
		event_free(l->data);
	if (read(c->fd, &n, sizeof(n)) < 0)
		ck_assert_int_eq(errno, EAGAIN);
}

static struct fake_event *inbox_push(struct dm_conn *c)
{
	struct fake_event *e = g_new0(struct fake_event, 1);
	uint64_t one = 1;

	e->link.data = e;
	g_queue_push_tail_link(&c->inbox, &e->link);
	ck_assert_int_eq(write(c->fd, &one, sizeof(one)), sizeof(one));
	return e;
}

static struct dm_conn *fake_create(const struct dm_upcalls *up)
{
	struct dm_conn *c = g_new0(struct dm_conn, 1);

	c->up = *up;
	c->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ck_assert_int_ge(c->fd, 0);
	g_queue_init(&c->inbox);
	c->cmds = g_array_new(FALSE, TRUE, sizeof(struct fake_cmd));
	c->window = 32;
	return c;
}

static int fake_connect(struct dm_conn *c, const char *host, uint16_t port, int timeout_ms,
			GError **err)
{
	(void)host;
	(void)port;
	(void)timeout_ms;
	(void)err;
	ck_assert(!c->connected);
	c->connects++;
	c->full_feature = false;
	c->statsn = 1000 * c->connects;
	/* Like a real one: the outcome comes later, from service(). */
	if (c->refuse) {
		struct fake_event *e = inbox_push(c);

		e->fail = true;
		g_strlcpy(e->why, "connect to 127.0.0.1:3260: Connection refused", sizeof(e->why));
	} else {
		inbox_push(c)->connect = true;
	}
	return 0;
}

static int fake_get_fd(struct dm_conn *c)
{
	return c->fd;
}

static uint32_t fake_which_events(struct dm_conn *c)
{
	(void)c;
	return EPOLLIN;
}

/* Deliver what the target has to say; stop at a failure, as a real datamover does. */
static int fake_service(struct dm_conn *c, uint32_t revents)
{
	GList *l;
	uint64_t n;

	(void)revents;
	if (read(c->fd, &n, sizeof(n)) < 0)
		ck_assert_int_eq(errno, EAGAIN);
	while ((l = g_queue_pop_head_link(&c->inbox))) {
		struct fake_event *e = l->data;
		int rc = 0;

		if (e->connect) {
			c->connected = true;
			c->up.connected(c->up.opaque);
		} else if (e->fail) {
			if (e->violation) {
				struct dm_task *t = c->up.find_task(c->up.opaque, e->violation_itt);

				ck_assert_ptr_nonnull(t);
				t->violations++;
			}
			c->up.failed(c->up.opaque, e->violation ? EPROTO : ECONNRESET, e->why);
			rc = -1;
		} else {
			if (e->final_login)
				c->full_feature = true;
			rc = c->up.pdu(c->up.opaque, e->bhs, NULL, 0,
				       e->data ? e->data->data : NULL, e->data ? e->data->len : 0);
			if (rc < 0)
				c->up.failed(c->up.opaque, EPROTO,
					     "PDU rejected by the iSCSI layer");
		}
		event_free(e);
		if (rc < 0) {
			/* Nothing more comes from a failed connection. */
			inbox_clear(c);
			return -1;
		}
	}
	return 0;
}

static const char sec_answer[] = "AuthMethod=None\0TargetPortalGroupTag=1\0";
static const char op_answer[] = "HeaderDigest=None\0DataDigest=None\0MaxConnections=1\0"
				"InitialR2T=No\0ImmediateData=Yes\0"
				"MaxRecvDataSegmentLength=65536\0MaxBurstLength=131072\0"
				"FirstBurstLength=131072\0DefaultTime2Wait=2\0"
				"DefaultTime2Retain=0\0MaxOutstandingR2T=1\0DataPDUInOrder=Yes\0"
				"DataSequenceInOrder=Yes\0ErrorRecoveryLevel=0\0";

/* Every stage the initiator asks to leave, it may: no authentication, all keys declared. */
static void answer_login(struct dm_conn *c, const uint8_t *bhs)
{
	const struct iscsi_login_req *q = (const void *)bhs;
	struct fake_event *e = inbox_push(c);
	struct iscsi_login_rsp *r = (void *)e->bhs;
	uint8_t csg = (q->flags & ISCSI_LOGIN_CSG_MASK) >> ISCSI_LOGIN_CSG_SHIFT;
	uint8_t nsg = q->flags & ISCSI_LOGIN_NSG_MASK;
	const char *text = csg == ISCSI_STAGE_SECURITY ? sec_answer : op_answer;
	size_t len = csg == ISCSI_STAGE_SECURITY ? sizeof(sec_answer) - 1 : sizeof(op_answer) - 1;

	ck_assert(q->flags & ISCSI_LOGIN_TRANSIT);
	c->logins++;
	c->exp_cmdsn = ntohl(q->cmdsn);
	c->max_cmdsn = c->exp_cmdsn + c->window - 1;
	e->data = g_byte_array_new();
	g_byte_array_append(e->data, (const guint8 *)text, (guint)len);
	e->final_login = nsg == ISCSI_STAGE_FULL_FEATURE;
	r->opcode = ISCSI_OP_LOGIN_RSP;
	r->flags = q->flags & (ISCSI_LOGIN_TRANSIT | ISCSI_LOGIN_CSG_MASK | ISCSI_LOGIN_NSG_MASK);
	iscsi_set_dlength(r->dlength, (uint32_t)len);
	memcpy(r->isid, q->isid, sizeof(r->isid));
	r->tsih = htons(FAKE_TSIH);
	r->itt = q->itt;
	r->statsn = htonl(c->statsn++);
	r->exp_cmdsn = htonl(c->exp_cmdsn);
	r->max_cmdsn = htonl(c->max_cmdsn);
}

static int fake_send_pdu(struct dm_conn *c, const uint8_t *bhs, const void *data, uint32_t dlen)
{
	(void)data;
	(void)dlen;
	ck_assert(c->connected);
	if ((bhs[0] & ISCSI_OPCODE_MASK) == ISCSI_OP_TMF_REQ) {
		c->aborts_seen += (bhs[1] & 0x7f) == ISCSI_TMF_ABORT_TASK;
		c->resets_seen += (bhs[1] & 0x7f) == ISCSI_TMF_LUN_RESET;
	}
	if ((bhs[0] & ISCSI_OPCODE_MASK) == ISCSI_OP_LOGIN_REQ) {
		c->logins += c->mute_login;
		if (!c->mute_login)
			answer_login(c, bhs);
	}
	return 0;
}

static void target_good(struct dm_conn *c, uint32_t itt);

static int fake_send_command(struct dm_conn *c, const uint8_t *bhs, struct dm_task *task)
{
	const struct iscsi_scsi_cmd *h = (const void *)bhs;
	struct fake_cmd rec = {
	    .itt = ntohl(h->itt),
	    .cmdsn = ntohl(h->cmdsn),
	    .conn = c->connects,
	};

	ck_assert_uint_eq(rec.itt, task->itt);
	memcpy(rec.cdb, h->cdb, sizeof(rec.cdb));
	if (!c->connected || !c->full_feature)
		c->misplaced++;
	if (iscsi_sn_le(c->exp_cmdsn, rec.cmdsn))
		c->exp_cmdsn = rec.cmdsn + 1;
	g_array_append_val(c->cmds, rec);
	if (c->answer_from && c->connects >= c->answer_from)
		target_good(c, rec.itt);
	return 0;
}

static void fake_forget_task(struct dm_conn *c, struct dm_task *task)
{
	c->forgotten++;
	if (!c->first_forgotten)
		c->first_forgotten = task;
}

static void fake_set_params(struct dm_conn *c, const struct dm_params *p)
{
	(void)c;
	(void)p;
}

static void fake_reset(struct dm_conn *c)
{
	c->resets++;
	c->connected = false;
	c->full_feature = false;
	inbox_clear(c);
}

static void fake_destroy(struct dm_conn *c)
{
	inbox_clear(c);
	close(c->fd);
	g_array_unref(c->cmds);
	g_free(c);
}

/* Payload buffers: plain memory, zeroed, as the TCP datamover's pool would do without zeroing. */
static void *fake_buf_alloc(struct dm_conn *c, size_t len)
{
	(void)c;
	return g_malloc0(len);
}

static void fake_buf_free(struct dm_conn *c, void *buf, size_t len)
{
	(void)c;
	(void)len;
	g_free(buf);
}

static const struct dm_ops fake_ops = {
    .name = "fake",
    .buf_alloc = fake_buf_alloc,
    .buf_free = fake_buf_free,
    .create = fake_create,
    .connect = fake_connect,
    .get_fd = fake_get_fd,
    .which_events = fake_which_events,
    .service = fake_service,
    .send_pdu = fake_send_pdu,
    .send_command = fake_send_command,
    .forget_task = fake_forget_task,
    .set_params = fake_set_params,
    .reset = fake_reset,
    .destroy = fake_destroy,
};

/* The target answers the command with @itt with @status and the window it has now. */
static struct fake_event *target_status(struct dm_conn *c, uint32_t itt, uint8_t status)
{
	struct fake_event *e = inbox_push(c);
	struct iscsi_scsi_rsp *r = (void *)e->bhs;

	r->opcode = ISCSI_OP_SCSI_RSP;
	r->flags = ISCSI_FLAG_FINAL;
	r->response = ISCSI_RESPONSE_COMPLETED;
	r->cmd_status = status;
	r->itt = htonl(itt);
	r->statsn = htonl(c->statsn++);
	r->exp_cmdsn = htonl(c->exp_cmdsn);
	r->max_cmdsn = htonl(c->max_cmdsn);
	return e;
}

static void target_good(struct dm_conn *c, uint32_t itt)
{
	target_status(c, itt, SCSI_STATUS_GOOD);
}

/*
 * CHECK CONDITION for @itt with a SenseLength (64) past its 4-byte data
 * segment: a violation the session finds itself, after which the
 * datamover fails the connection in its own words, as the TCP one does.
 */
static void target_bad_sense(struct dm_conn *c, uint32_t itt)
{
	static const uint8_t data[4] = {0x00, 0x40, 0x70, 0x00};
	struct fake_event *e = target_status(c, itt, SCSI_STATUS_CHECK_CONDITION);

	iscsi_set_dlength(((struct iscsi_scsi_rsp *)e->bhs)->dlength, sizeof(data));
	e->data = g_byte_array_new();
	g_byte_array_append(e->data, data, sizeof(data));
}

/* The connection fails, for the reason @why says. */
static void target_drop(struct dm_conn *c, const char *why)
{
	struct fake_event *e = inbox_push(c);

	e->fail = true;
	g_strlcpy(e->why, why, sizeof(e->why));
}

/* The target breaks the protocol on the command with @itt; the datamover notices. */
static void target_violation(struct dm_conn *c, uint32_t itt, const char *why)
{
	struct fake_event *e = inbox_push(c);

	e->fail = true;
	e->violation = true;
	e->violation_itt = itt;
	g_strlcpy(e->why, why, sizeof(e->why));
}

/*
 * Serve the session until the target has nothing more to say (or the
 * connection object is gone: a failed first login destroys it).
 */
static void pump(struct isa_session *s)
{
	int i = 0;

	do {
		isa_session_service(s);
	} while (s->conn && s->conn->inbox.length && ++i < 16);
	ck_assert(!s->conn || s->conn->inbox.length == 0);
}

/* A session with recovery on (replacement timeout 120 s), not yet logged in. */
static struct isa_session *session_fake(void)
{
	struct isa_session *s = g_new0(struct isa_session, 1);
	struct epoll_event ev = {.events = EPOLLIN};

	s->state = SESSION_CONNECTING;
	s->dm = &fake_ops;
	s->dm_fd = -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ev.data.fd = s->timerfd;
	ck_assert_int_eq(epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->timerfd, &ev), 0);
	s->defer_fd = -1;
	g_queue_init(&s->deferred);
	s->tasks = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_queue_init(&s->pending);
	g_queue_init(&s->completed);
	s->nop_replies = g_array_new(FALSE, FALSE, 12);
	s->ctl_rsp = g_byte_array_new();
	s->target_name = g_strdup("iqn.2026-11.org.iser-attach.test:unit");
	s->initiator_name = g_strdup("iqn.2026-11.org.iser-attach.test:initiator");
	s->host = g_strdup("127.0.0.1");
	s->port = 3260;
	s->queue_depth = 8;
	s->nop_interval_s = QUIET_S;
	s->nop_timeout_s = QUIET_S;
	s->command_timeout_s = QUIET_S;
	s->cmdsn = 1;
	s->next_itt = 1;
	s->replacement_timeout_s = 120;
	s->opts.timeout_ms = 5000;
	session_init_upcalls(s);
	s->conn = fake_ops.create(&s->up);
	return s;
}

/*
 * The first login, driven as isa_session_open() drives it: the state
 * machine started, then served until the target has nothing more to say.
 */
static void log_in(struct isa_session *s)
{
	session_attempt_start(s);
	ck_assert_str_eq(isa_session_state_name(s), "connecting");
	pump(s);
	ck_assert_msg(s->state == SESSION_FULL_FEATURE, "%s",
		      s->attempt.err ? s->attempt.err->message : "?");
	ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	ck_assert_uint_eq(s->tsih, FAKE_TSIH);
}

static void session_fake_free(struct isa_session *s)
{
	ck_assert_uint_eq(g_hash_table_size(s->tasks), 0);
	ck_assert_uint_eq(s->pending.length, 0);
	ck_assert_uint_eq(s->completed.length, 0);
	recovery_log_flush(s, true);
	session_attempt_clear(s);
	g_clear_error(&s->attempt.err);
	g_free(s->attempt.host);
	if (s->conn)
		fake_destroy(s->conn);
	close(s->epfd);
	close(s->timerfd);
	g_hash_table_unref(s->tasks);
	g_array_unref(s->nop_replies);
	g_byte_array_unref(s->ctl_rsp);
	g_free(s->error);
	g_free(s->target_name);
	g_free(s->initiator_name);
	g_free(s->host);
	g_free(s->portal);
	g_free(s);
}

/* The connection in use has served longer than a flapping one would have. */
static void served_a_while(struct isa_session *s)
{
	s->login_us = g_get_monotonic_time() - SERVED_US;
}

static struct isa_task *tur(struct isa_session *s, isa_task_done_fn done, void *opaque)
{
	uint8_t cdb[16];
	size_t cl = scsi_cdb_test_unit_ready(cdb);

	return session_task_new(s, 1, cdb, (uint8_t)cl, false, NULL, 0, done, opaque);
}

static void count_done(struct isa_task *t)
{
	int *result = t->opaque;

	*result = t->result;
	session_task_free(t);
}

/* How a command submitted by a test case ended. */
struct outcome {
	bool done;
	int result;
	char msg[192];
};

static void outcome_done(struct isa_task *t)
{
	struct outcome *o = t->opaque;

	ck_assert(!o->done);
	o->done = true;
	o->result = t->result;
	g_strlcpy(o->msg, t->msg, sizeof(o->msg));
	session_task_free(t);
}

/*
 * TEST UNIT READY with @tag in its reserved bytes 2-5, so that the fake
 * target tells the commands apart.
 */
static void submit(struct isa_session *s, uint32_t tag, struct outcome *o)
{
	uint8_t cdb[16] = {0};
	size_t cl = scsi_cdb_test_unit_ready(cdb);

	cdb[2] = (uint8_t)(tag >> 24);
	cdb[3] = (uint8_t)(tag >> 16);
	cdb[4] = (uint8_t)(tag >> 8);
	cdb[5] = (uint8_t)tag;
	memset(o, 0, sizeof(*o));
	session_task_submit(
	    s, session_task_new(s, 1, cdb, (uint8_t)cl, false, NULL, 0, outcome_done, o));
}

static uint32_t cmd_tag(const struct fake_cmd *r)
{
	return (uint32_t)r->cdb[2] << 24 | (uint32_t)r->cdb[3] << 16 | (uint32_t)r->cdb[4] << 8 |
	       r->cdb[5];
}

static const struct fake_cmd *cmd_at(const struct dm_conn *c, guint i)
{
	ck_assert_uint_lt(i, c->cmds->len);
	return &g_array_index(c->cmds, struct fake_cmd, i);
}

/* The last time the command with @tag was sent. */
static const struct fake_cmd *last_sent(const struct dm_conn *c, uint32_t tag)
{
	guint i;

	for (i = c->cmds->len; i-- > 0;) {
		if (cmd_tag(cmd_at(c, i)) == tag)
			return cmd_at(c, i);
	}
	ck_abort_msg("command %u was never sent", tag);
	return NULL;
}

static unsigned times_sent(const struct dm_conn *c, uint32_t tag)
{
	unsigned n = 0;
	guint i;

	for (i = 0; i < c->cmds->len; i++)
		n += cmd_tag(cmd_at(c, i)) == tag;
	return n;
}

/* Sent and never answered: taken off the connection, not left to recovery. */
START_TEST(unanswered_in_flight)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct isa_task *t;
	int other = 1;

	log_in(s);
	t = tur(s, NULL, NULL);
	/* Someone else's command, in flight beside it, fails with the session. */
	session_task_submit(s, tur(s, count_done, &other));
	ck_assert_int_eq(session_task_run(s, t, 200), -ETIMEDOUT);
	ck_assert_str_eq(t->msg, "no answer to SCSI command 0x00 within 200 ms");
	ck_assert_ptr_null(t->opaque);
	ck_assert(!t->in_flight);
	ck_assert_uint_eq(c->cmds->len, 2);
	/* Taken off the connection first, before the session failed the rest. */
	ck_assert_ptr_eq(c->first_forgotten, &t->dm);
	ck_assert_uint_eq(c->forgotten, 2);
	ck_assert(session_failed(s));
	ck_assert_str_eq(isa_session_error(s), "no answer to SCSI command 0x00 within 200 ms");
	ck_assert_int_eq(other, -ENOTCONN);
	session_task_free(t);
	/* Whatever runs the session next finds nothing of the task. */
	ck_assert_int_eq(isa_session_service(s), -1);
	session_fake_free(s);
}
END_TEST

/* Never sent (the window is closed): taken out of the queue. */
START_TEST(unanswered_pending)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct isa_task *t;

	log_in(s);
	t = tur(s, NULL, NULL);
	s->max_cmdsn = s->cmdsn - 1;
	ck_assert_int_eq(session_task_run(s, t, 1000), -ETIMEDOUT);
	ck_assert_str_eq(t->msg, "no answer to SCSI command 0x00 within 1 s");
	ck_assert_uint_eq(c->cmds->len, 0);
	ck_assert(session_failed(s));
	session_task_free(t);
	session_fake_free(s);
}
END_TEST

/*
 * The connection was lost already and recovery waits for its next attempt:
 * the command waits for a new login that the timeout must not outwait.
 */
START_TEST(unanswered_recovering)
{
	struct isa_session *s = session_fake();
	struct isa_task *t;

	log_in(s);
	t = tur(s, NULL, NULL);
	session_fail(s, "target did not answer a NOP-Out ping within 15 s");
	ck_assert_str_eq(isa_session_state_name(s), "recovering");
	pump(s);
	ck_assert_int_eq(s->state, SESSION_RECONNECT_WAIT);
	s->next_attempt_us = g_get_monotonic_time() + (gint64)3600 * G_USEC_PER_SEC;
	ck_assert_int_eq(session_task_run(s, t, 200), -ETIMEDOUT);
	ck_assert_str_eq(isa_session_state_name(s), "failed");
	ck_assert_str_eq(isa_session_error(s), "no answer to SCSI command 0x00 within 200 ms");
	session_task_free(t);
	session_fake_free(s);
}
END_TEST

/* A session failed for good beforehand fails the command at once, with its reason. */
START_TEST(already_failed)
{
	struct isa_session *s = session_fake();
	struct isa_task *t;

	log_in(s);
	t = tur(s, NULL, NULL);
	session_end(s, "LUN 1 closed with 1 requests in flight");
	ck_assert(session_failed(s));
	ck_assert_int_eq(session_task_run(s, t, 200), -ENOTCONN);
	ck_assert_str_eq(t->msg, "LUN 1 closed with 1 requests in flight");
	session_task_free(t);
	session_fake_free(s);
}
END_TEST

/*
 * MaxCmdSN allows two commands: two go, the others wait. An answer that
 * leaves MaxCmdSN where it was frees a task slot but no CmdSN, so nothing
 * more goes; each answer that moves MaxCmdSN on by one lets one more go,
 * with the next CmdSN.
 */
START_TEST(cmdsn_window)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct outcome o[4];
	uint32_t first;
	guint i;

	c->window = 2;
	log_in(s);
	first = s->cmdsn;
	for (i = 0; i < 4; i++)
		submit(s, i, &o[i]);
	ck_assert_uint_eq(c->cmds->len, 2);
	ck_assert_uint_eq(s->pending.length, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_uint_eq(cmd_tag(cmd_at(c, i)), i);
		ck_assert_uint_eq(cmd_at(c, i)->cmdsn, first + i);
	}

	target_good(c, cmd_at(c, 0)->itt);
	pump(s);
	ck_assert(o[0].done);
	ck_assert_int_eq(o[0].result, 0);
	ck_assert_uint_eq(c->cmds->len, 2);
	ck_assert_uint_eq(s->pending.length, 2);

	for (i = 1; i < 3; i++) {
		c->max_cmdsn++;
		target_good(c, cmd_at(c, i)->itt);
		pump(s);
		ck_assert(o[i].done);
		ck_assert_int_eq(o[i].result, 0);
		ck_assert_uint_eq(c->cmds->len, i + 2);
		ck_assert_uint_eq(cmd_tag(cmd_at(c, i + 1)), i + 1);
		ck_assert_uint_eq(cmd_at(c, i + 1)->cmdsn, first + i + 1);
	}
	ck_assert_uint_eq(s->pending.length, 0);

	target_good(c, cmd_at(c, 3)->itt);
	pump(s);
	ck_assert(o[3].done);
	ck_assert_int_eq(o[3].result, 0);
	ck_assert_uint_eq(c->cmds->len, 4);
	ck_assert_uint_eq(c->misplaced, 0);
	session_fake_free(s);
}
END_TEST

/*
 * After the tag counter wraps onto tags still in use, new commands get
 * other tags: every answer reaches the command it was for, and the
 * session never holds two commands under one tag.
 */
START_TEST(itt_not_reused_in_flight)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct outcome o[5];
	uint32_t itt[5];
	guint i, j;

	log_in(s);
	for (i = 0; i < 3; i++) {
		submit(s, i, &o[i]);
		itt[i] = last_sent(c, i)->itt;
	}
	ck_assert_uint_ne(itt[0], itt[1]);
	ck_assert_uint_ne(itt[1], itt[2]);
	ck_assert_uint_ne(itt[0], itt[2]);
	target_good(c, itt[1]);
	pump(s);
	ck_assert(o[1].done);

	/* The counter has come round to the first command's tag. */
	s->next_itt = itt[0];
	for (i = 3; i < 5; i++) {
		submit(s, i, &o[i]);
		itt[i] = last_sent(c, i)->itt;
		ck_assert_uint_ne(itt[i], itt[0]);
		ck_assert_uint_ne(itt[i], itt[2]);
		ck_assert_uint_ne(itt[i], ISCSI_RESERVED_TAG);
	}
	ck_assert_uint_ne(itt[3], itt[4]);
	ck_assert_uint_eq(g_hash_table_size(s->tasks), 4);

	/* Each answer completes its own command, and only that one. */
	for (i = 0; i < 5; i++) {
		if (i == 1)
			continue;
		target_good(c, itt[i]);
		pump(s);
		ck_assert(o[i].done);
		ck_assert_int_eq(o[i].result, 0);
		for (j = i + 1; j < 5; j++)
			ck_assert(j == 1 || !o[j].done);
	}
	ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	session_fake_free(s);
}
END_TEST

/*
 * The connection fails with commands in flight (their tags wrapped past
 * 0xffffffff, so tag order is not CmdSN order) and more waiting for the
 * window: after the new login, and not before it, those in flight go
 * again in their old CmdSN order, then the waiting ones, with fresh
 * CmdSNs counting up.
 */
START_TEST(resend_order_after_relogin)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct outcome o[6];
	static const uint32_t order[] = {0, 2, 3, 4, 5};
	guint i, base;

	c->window = 4;
	log_in(s);
	s->next_itt = ISCSI_RESERVED_TAG - 2;
	for (i = 0; i < 6; i++)
		submit(s, i, &o[i]);
	ck_assert_uint_eq(c->cmds->len, 4);
	ck_assert_uint_eq(cmd_at(c, 3)->itt, 1);
	/* One of them is answered; two wait. */
	target_good(c, cmd_at(c, 1)->itt);
	pump(s);
	ck_assert(o[1].done);
	ck_assert_uint_eq(s->pending.length, 2);

	c->window = 32;
	served_a_while(s);
	target_drop(c, "connection reset by peer");
	base = c->cmds->len;
	pump(s);
	ck_assert_uint_eq(c->resets, 1);
	ck_assert_uint_eq(c->connects, 2);
	ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	ck_assert_uint_eq(c->misplaced, 0);
	ck_assert_uint_eq(c->cmds->len, base + G_N_ELEMENTS(order));
	for (i = 0; i < G_N_ELEMENTS(order); i++) {
		const struct fake_cmd *r = cmd_at(c, base + i);

		ck_assert_uint_eq(cmd_tag(r), order[i]);
		ck_assert_uint_eq(r->conn, 2);
		if (i)
			ck_assert(iscsi_sn_lt(cmd_at(c, base + i - 1)->cmdsn, r->cmdsn));
	}
	for (i = 0; i < 6; i++) {
		if (i != 1)
			ck_assert(!o[i].done);
	}

	for (i = 0; i < G_N_ELEMENTS(order); i++)
		target_good(c, cmd_at(c, base + i)->itt);
	pump(s);
	for (i = 0; i < 6; i++) {
		ck_assert(o[i].done);
		ck_assert_int_eq(o[i].result, 0);
	}
	session_fake_free(s);
}
END_TEST

/*
 * A command is in flight on three connections that fail in turn: it
 * fails alone with EIO and says why. Another, in flight beside it on the
 * first two, succeeds on the third; the session stays logged in, sends
 * the given-up command no more, and serves new commands.
 */
START_TEST(poison_command_fails_alone_conn_losses)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct outcome poison, other, later;
	int loss;

	log_in(s);
	submit(s, 1, &poison);
	submit(s, 2, &other);
	for (loss = 1; loss <= 3; loss++) {
		if (loss == 3) {
			/* The other command is answered on the third connection. */
			target_good(c, last_sent(c, 2)->itt);
			pump(s);
			ck_assert(other.done);
			ck_assert_int_eq(other.result, 0);
		}
		served_a_while(s);
		target_drop(c, "connection reset by peer");
		pump(s);
		ck_assert_uint_eq(c->connects, loss + 1);
		ck_assert_str_eq(isa_session_state_name(s), "logged-in");
		ck_assert_msg(poison.done == (loss == 3), "given up after %d losses", loss);
	}
	ck_assert_int_eq(poison.result, -EIO);
	ck_assert_msg(g_str_has_prefix(poison.msg, "given up: "), "%s", poison.msg);
	ck_assert_msg(strstr(poison.msg, "3 failed connections"), "%s", poison.msg);
	ck_assert_msg(strstr(poison.msg, "connection reset by peer"), "%s", poison.msg);
	ck_assert_uint_eq(times_sent(c, 1), 3);
	ck_assert_uint_eq(times_sent(c, 2), 3);
	ck_assert_uint_eq(c->misplaced, 0);

	submit(s, 3, &later);
	ck_assert_uint_eq(last_sent(c, 3)->conn, 4);
	target_good(c, last_sent(c, 3)->itt);
	pump(s);
	ck_assert(later.done);
	ck_assert_int_eq(later.result, 0);
	session_fake_free(s);
}
END_TEST

/*
 * The target breaks the protocol on one command twice (the datamover
 * counts each violation against it before failing the connection): it
 * fails alone with EIO after the second, two connection losses before
 * the loss count alone would give up on it. Another command, in flight
 * through both failures, succeeds on the third connection.
 */
START_TEST(poison_command_fails_alone_violations)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct outcome poison, other;
	int n;

	log_in(s);
	submit(s, 1, &poison);
	submit(s, 2, &other);
	for (n = 1; n <= 2; n++) {
		served_a_while(s);
		target_violation(c, last_sent(c, 1)->itt, "Data-In beyond the expected length");
		pump(s);
		ck_assert_uint_eq(c->connects, n + 1);
		ck_assert_str_eq(isa_session_state_name(s), "logged-in");
		ck_assert_msg(poison.done == (n == 2), "given up after %d violations", n);
		ck_assert(!other.done);
	}
	ck_assert_int_eq(poison.result, -EIO);
	ck_assert_msg(g_str_has_prefix(poison.msg, "given up: "), "%s", poison.msg);
	ck_assert_msg(strstr(poison.msg, "broke the protocol on it 2 times"), "%s", poison.msg);
	ck_assert_msg(strstr(poison.msg, "Data-In beyond the expected length"), "%s", poison.msg);
	ck_assert_uint_eq(times_sent(c, 1), 2);
	ck_assert_uint_eq(times_sent(c, 2), 3);

	ck_assert_uint_eq(last_sent(c, 2)->conn, 3);
	target_good(c, last_sent(c, 2)->itt);
	pump(s);
	ck_assert(other.done);
	ck_assert_int_eq(other.result, 0);
	ck_assert_uint_eq(c->misplaced, 0);
	session_fake_free(s);
}
END_TEST

/* The session waits @ms before its next login, counted from between @before and @after. */
static void assert_backoff(const struct isa_session *s, unsigned ms, gint64 before, gint64 after)
{
	ck_assert_uint_eq(s->backoff_ms, ms);
	ck_assert_int_ge(s->next_attempt_us, before + ms * 1000LL);
	ck_assert_int_le(s->next_attempt_us, after + ms * 1000LL);
}

/*
 * Each connection fails right after its login: the wait before the next
 * login doubles (250, 500, 1000 ms) and the session does not log in again
 * before it is over. A connection that served a while is replaced at once.
 * The test does not wait out the backoff: it moves the next attempt to now.
 * No command is in flight on these connections, or the session would give
 * up on it at the third failure.
 */
START_TEST(flapping_login_keeps_backoff)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct outcome o;
	unsigned ms, n;

	log_in(s);
	for (ms = 250, n = 1; ms <= 1000; ms *= 2, n++) {
		gint64 before = g_get_monotonic_time(), after;

		target_drop(c, "connection reset by peer");
		pump(s);
		after = g_get_monotonic_time();
		ck_assert_str_eq(isa_session_state_name(s), "recovering");
		assert_backoff(s, ms, before, after);
		/* Served again before the time has come: no login. */
		pump(s);
		ck_assert_uint_eq(c->connects, n);
		ck_assert_str_eq(isa_session_state_name(s), "recovering");

		s->next_attempt_us = g_get_monotonic_time();
		pump(s);
		ck_assert_uint_eq(c->connects, n + 1);
		ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	}

	served_a_while(s);
	target_drop(c, "connection reset by peer");
	pump(s);
	ck_assert_uint_eq(s->backoff_ms, 0);
	ck_assert_uint_eq(c->connects, n + 1);
	ck_assert_str_eq(isa_session_state_name(s), "logged-in");

	submit(s, 1, &o);
	target_good(c, last_sent(c, 1)->itt);
	pump(s);
	ck_assert(o.done);
	ck_assert_int_eq(o.result, 0);
	session_fake_free(s);
}
END_TEST

/*
 * The violation is one the session finds (a SenseLength past the data
 * segment), not the datamover: the command given up on says what it was,
 * not what the datamover said when the session refused the PDU.
 */
START_TEST(poison_command_names_the_violation)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct outcome poison;
	int n;

	log_in(s);
	submit(s, 1, &poison);
	for (n = 1; n <= 2; n++) {
		served_a_while(s);
		target_bad_sense(c, last_sent(c, 1)->itt);
		pump(s);
		ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	}
	ck_assert(poison.done);
	ck_assert_int_eq(poison.result, -EIO);
	ck_assert_str_eq(poison.msg,
			 "given up: the target broke the protocol on it 2 times; "
			 "last: SCSI Response with a SenseLength past its data segment");
	session_fake_free(s);
}
END_TEST

/*
 * However long the backoff has grown, the next login is not put off past
 * the replacement timeout: commands wait for a new connection that long
 * and no longer.
 */
START_TEST(flapping_backoff_within_replacement_timeout)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	unsigned n;

	s->replacement_timeout_s = 1;
	log_in(s);
	for (n = 1; n <= 4; n++) {
		if (n > 1) {
			s->next_attempt_us = g_get_monotonic_time();
			pump(s);
			ck_assert_str_eq(isa_session_state_name(s), "logged-in");
		}
		target_drop(c, "connection reset by peer");
		pump(s);
		ck_assert_str_eq(isa_session_state_name(s), "recovering");
		ck_assert_int_le(s->next_attempt_us, s->recovery_deadline_us);
	}
	ck_assert_uint_eq(s->backoff_ms, 2000);
	session_end(s, "closed");
	pump(s);
	session_fake_free(s);
}
END_TEST

/*
 * Recovery against a portal that refuses every connect: each refusal,
 * reported later from service() as a real datamover reports it, makes
 * the wait before the next attempt grow; no Login Request goes out; a
 * command submitted meanwhile waits and is sent once the target is back.
 */
START_TEST(recovery_connect_refused_backoff)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct outcome o;
	unsigned logins;

	log_in(s);
	logins = c->logins;
	c->refuse = true;
	served_a_while(s);
	target_drop(c, "connection reset by peer");
	pump(s);
	ck_assert_uint_eq(s->stats.connections_lost, 1);
	ck_assert_int_eq(s->state, SESSION_RECONNECT_WAIT);
	ck_assert_str_eq(isa_session_state_name(s), "recovering");
	ck_assert_uint_eq(c->connects, 2);
	ck_assert_uint_eq(s->backoff_ms, 250);
	submit(s, 1, &o);
	s->next_attempt_us = g_get_monotonic_time();
	pump(s);
	ck_assert_uint_eq(c->connects, 3);
	ck_assert_uint_eq(s->backoff_ms, 500);
	ck_assert_uint_eq(c->logins, logins);
	ck_assert_uint_eq(c->cmds->len, 0);

	c->refuse = false;
	s->next_attempt_us = g_get_monotonic_time();
	pump(s);
	ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	ck_assert_uint_eq(s->stats.reconnects, 1);
	ck_assert_uint_eq(c->misplaced, 0);
	ck_assert_uint_eq(last_sent(c, 1)->conn, 4);
	target_good(c, last_sent(c, 1)->itt);
	pump(s);
	ck_assert(o.done);
	ck_assert_int_eq(o.result, 0);
	session_fake_free(s);
}
END_TEST

/*
 * A target that takes the connection and never answers the login: the
 * attempt waits in LOGGING_IN (still "recovering") until its deadline,
 * which the timer tick enforces, then the next attempt follows the
 * backoff. The test moves the deadline instead of waiting for it.
 */
START_TEST(recovery_login_timeout)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	unsigned logins;

	log_in(s);
	c->mute_login = true;
	served_a_while(s);
	target_drop(c, "connection reset by peer");
	logins = c->logins;
	pump(s);
	ck_assert_int_eq(s->state, SESSION_LOGGING_IN);
	ck_assert_str_eq(isa_session_state_name(s), "recovering");
	ck_assert_uint_eq(c->logins, logins + 1);
	/* Before its deadline the tick changes nothing. */
	session_tick(s);
	pump(s);
	ck_assert_int_eq(s->state, SESSION_LOGGING_IN);
	s->attempt.deadline_us = g_get_monotonic_time();
	session_tick(s);
	pump(s);
	ck_assert_int_eq(s->state, SESSION_RECONNECT_WAIT);
	ck_assert_uint_eq(s->backoff_ms, 250);
	ck_assert_uint_eq(c->resets, 2);

	c->mute_login = false;
	s->next_attempt_us = g_get_monotonic_time();
	pump(s);
	ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	session_fake_free(s);
}
END_TEST

/* The first login has no recovery: a refused connect fails it, with the reason and its code. */
START_TEST(first_login_refused)
{
	struct isa_session *s = session_fake();

	s->conn->refuse = true;
	session_attempt_start(s);
	pump(s);
	ck_assert(session_failed(s));
	ck_assert_ptr_nonnull(s->attempt.err);
	ck_assert_int_eq(s->attempt.err->code, ISA_ERROR_CONNECT);
	ck_assert_str_eq(s->attempt.err->message, "connect to 127.0.0.1:3260: Connection refused");
	ck_assert_ptr_null(s->conn);
	session_fake_free(s);
}
END_TEST

/*
 * A blocking helper (the attach-time probe, session_task_run) whose
 * command is in flight when the connection fails: the helper's loop
 * drives the recovery, the command goes again on the new connection and
 * its answer there is what the helper returns.
 */
START_TEST(recovery_during_probe)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct isa_task *t;

	log_in(s);
	served_a_while(s);
	target_drop(c, "connection reset by peer");
	c->answer_from = 2;
	t = tur(s, NULL, NULL);
	ck_assert_int_eq(session_task_run(s, t, 5000), 0);
	ck_assert_uint_eq(c->connects, 2);
	ck_assert_uint_eq(c->cmds->len, 2);
	ck_assert_uint_eq(cmd_at(c, 0)->conn, 1);
	ck_assert_uint_eq(cmd_at(c, 1)->conn, 2);
	ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	session_task_free(t);
	session_fake_free(s);
}
END_TEST

/*
 * Task management escalates to the connection: an ABORT TASK left
 * unanswered brings a LUN RESET, a LUN RESET left unanswered drops the
 * connection, and recovery sends the command again on the new one. The
 * test moves the timers back instead of waiting for them.
 */
START_TEST(tmf_escalation_reconnects)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct isa_task *t;
	struct outcome o;

	log_in(s);
	submit(s, 1, &o);
	served_a_while(s);
	t = session_lookup(s, last_sent(c, 1)->itt);
	ck_assert_ptr_nonnull(t);
	t->timer_us -= (gint64)(s->command_timeout_s + 1) * G_USEC_PER_SEC;
	session_check_timeouts(s);
	ck_assert_uint_eq(c->aborts_seen, 1);
	s->tmf.sent_us -= (gint64)(s->nop_timeout_s + 1) * G_USEC_PER_SEC;
	session_check_timeouts(s);
	ck_assert_uint_eq(c->resets_seen, 1);
	ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	s->tmf.sent_us -= (gint64)(s->nop_timeout_s + 1) * G_USEC_PER_SEC;
	session_check_timeouts(s);
	ck_assert_str_eq(isa_session_state_name(s), "recovering");
	ck_assert_msg(strstr(s->error, "LUN RESET of LUN 1 not answered"), "%s", s->error);
	pump(s);
	ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	ck_assert_uint_eq(times_sent(c, 1), 2);
	ck_assert_uint_eq(last_sent(c, 1)->conn, 2);
	target_good(c, last_sent(c, 1)->itt);
	pump(s);
	ck_assert(o.done);
	ck_assert_int_eq(o.result, 0);
	session_fake_free(s);
}
END_TEST

/*
 * Closing the session while it waits to reconnect: no logout (there is
 * no connection), and the command waiting for the new one fails with the
 * reason.
 */
START_TEST(close_during_recovery)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct outcome o;

	log_in(s);
	c->refuse = true;
	served_a_while(s);
	target_drop(c, "connection reset by peer");
	pump(s);
	submit(s, 1, &o);
	ck_assert_int_eq(s->state, SESSION_RECONNECT_WAIT);
	isa_session_close(s);
	ck_assert(o.done);
	ck_assert_int_eq(o.result, -ENOTCONN);
	ck_assert_str_eq(o.msg, "session closed");
}
END_TEST

static void capture_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer p)
{
	(void)domain;
	(void)level;
	g_ptr_array_add(p, g_strdup(msg));
}

/*
 * A line said again within a minute is counted, not printed; the count
 * comes out once the minute is over (or when the session goes).
 */
START_TEST(repeated_lines_collapsed)
{
	struct isa_session *s = session_fake();
	g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
	GLogFunc old = g_log_set_default_handler(capture_log, lines);
	int i;

	for (i = 0; i < 3; i++) {
		recovery_log(s, G_LOG_LEVEL_MESSAGE, "reconnect to %s failed", "A");
		recovery_log(s, G_LOG_LEVEL_MESSAGE, "reconnected to %s", "A");
	}
	recovery_log(s, G_LOG_LEVEL_MESSAGE, "something else");
	ck_assert_uint_eq(lines->len, 3);
	ck_assert_str_eq(lines->pdata[0], "reconnect to A failed");
	ck_assert_str_eq(lines->pdata[1], "reconnected to A");
	ck_assert_str_eq(lines->pdata[2], "something else");
	recovery_log_flush(s, false);
	ck_assert_uint_eq(lines->len, 3);
	/* A minute later the same line is printed again, after the count. */
	s->repeats[0].first_us -= 61 * G_USEC_PER_SEC;
	recovery_log(s, G_LOG_LEVEL_MESSAGE, "reconnect to %s failed", "A");
	ck_assert_uint_eq(lines->len, 5);
	ck_assert_str_eq(lines->pdata[3], "reconnect to A failed (repeated 2 times in 61 s)");
	ck_assert_str_eq(lines->pdata[4], "reconnect to A failed");
	recovery_log_flush(s, true);
	g_log_set_default_handler(old, NULL);
	ck_assert_uint_eq(lines->len, 6);
	ck_assert_str_eq(lines->pdata[5], "reconnected to A (repeated 2 times in 0 s)");
	fake_destroy(s->conn);
	s->conn = NULL;
	s->state = SESSION_FAILED;
	session_fake_free(s);
}
END_TEST

/* What a session in failover mode handed back. */
struct handed {
	GPtrArray *tasks;
	unsigned calls;
};

static void collect_failover(void *opaque, struct isa_session *s, GList *tasks)
{
	struct handed *h = opaque;
	GList *l, *next;

	ck_assert_uint_eq(s->state, SESSION_RECONNECT_WAIT);
	h->calls++;
	for (l = tasks; l; l = next) {
		next = l->next;
		l->next = l->prev = NULL;
		g_ptr_array_add(h->tasks, l->data);
	}
}

static uint32_t task_tag(const struct isa_task *t)
{
	return (uint32_t)t->cdb[2] << 24 | (uint32_t)t->cdb[3] << 16 | (uint32_t)t->cdb[4] << 8 |
	       t->cdb[5];
}

/*
 * Failover mode: the connection is lost with two commands in flight and
 * one waiting for the window. All three come back to the owner at once,
 * in flight ones in CmdSN order first, none kept or sent again by the
 * session, which logs in again on its own and serves new commands.
 */
START_TEST(failover_hands_back)
{
	struct isa_session *s = session_fake();
	struct dm_conn *c = s->conn;
	struct handed h = {.tasks = g_ptr_array_new()};
	struct outcome o[4];
	guint i;

	c->window = 2;
	log_in(s);
	session_set_failover(s, collect_failover, &h);
	for (i = 0; i < 3; i++)
		submit(s, i, &o[i]);
	ck_assert_uint_eq(c->cmds->len, 2);
	ck_assert_uint_eq(s->pending.length, 1);
	served_a_while(s);
	target_drop(c, "connection reset by peer");
	pump(s);
	ck_assert_uint_eq(h.calls, 1);
	ck_assert_uint_eq(h.tasks->len, 3);
	for (i = 0; i < 3; i++) {
		struct isa_task *t = h.tasks->pdata[i];

		ck_assert_uint_eq(task_tag(t), i);
		ck_assert(!t->in_flight);
		ck_assert_uint_eq(t->conn_losses, i < 2 ? 1 : 0);
		ck_assert(!o[i].done);
	}
	ck_assert_uint_eq(session_outstanding(s), 0);
	/* Back in full feature phase, with nothing of the old connection resent. */
	ck_assert_str_eq(isa_session_state_name(s), "logged-in");
	ck_assert_uint_eq(c->connects, 2);
	ck_assert_uint_eq(c->cmds->len, 2);
	ck_assert_uint_eq(s->stats.reconnects, 1);
	submit(s, 3, &o[3]);
	ck_assert_uint_eq(last_sent(c, 3)->conn, 2);
	target_good(c, last_sent(c, 3)->itt);
	pump(s);
	ck_assert(o[3].done);
	ck_assert_int_eq(o[3].result, 0);
	for (i = 0; i < h.tasks->len; i++)
		session_task_free(h.tasks->pdata[i]);
	g_ptr_array_unref(h.tasks);
	session_set_failover(s, NULL, NULL);
	session_fake_free(s);
}
END_TEST

/* Serve every path until their targets have nothing more to say. */
static void mpump(struct mpath *m)
{
	unsigned round, i;
	bool busy = true;

	for (round = 0; busy && round < 16; round++) {
		mpath_service(m);
		busy = false;
		for (i = 0; i < mpath_count(m); i++) {
			struct isa_session *p = mpath_path(m, i);

			/* A failed session reads its connection no more. */
			busy |= p->conn && p->state != SESSION_FAILED && p->conn->inbox.length;
			/* Work deferred on a path served earlier in the round (no eventfd here). */
			busy |= p->deferred.length > 0;
		}
	}
	ck_assert(!busy);
}

/* TEST UNIT READY tagged @tag, through the multipath layer. */
static void msubmit(struct mpath *m, uint32_t tag, struct outcome *o)
{
	uint8_t cdb[16] = {0};
	size_t cl = scsi_cdb_test_unit_ready(cdb);

	cdb[2] = (uint8_t)(tag >> 24);
	cdb[3] = (uint8_t)(tag >> 16);
	cdb[4] = (uint8_t)(tag >> 8);
	cdb[5] = (uint8_t)tag;
	memset(o, 0, sizeof(*o));
	mpath_submit(m, session_task_new(mpath_path(m, 0), 1, cdb, (uint8_t)cl, false, NULL, 0,
					 outcome_done, o));
}

/* Answer GOOD every command on @c from the @from-th it received. */
static void answer_all(struct dm_conn *c, guint from)
{
	guint i;

	for (i = from; i < c->cmds->len; i++)
		target_good(c, cmd_at(c, i)->itt);
}

/*
 * Two paths: least-outstanding puts two of four commands on each; the
 * first path is lost and its two go to the second at once, before the
 * first has logged in again; all four succeed; the first path rejoins and
 * takes commands again. Round robin alternates.
 */
START_TEST(mpath_spread_and_failover)
{
	struct isa_session *a = session_fake(), *b = session_fake();
	struct dm_conn *ca = a->conn, *cb = b->conn;
	struct outcome o[8];
	struct mpath *m;
	guint i;

	log_in(a);
	log_in(b);
	m = mpath_new(a, 120);
	mpath_add(m, b);
	ck_assert_ptr_eq(a->failover_fn, b->failover_fn);
	for (i = 0; i < 4; i++)
		msubmit(m, i, &o[i]);
	ck_assert_uint_eq(ca->cmds->len, 2);
	ck_assert_uint_eq(cb->cmds->len, 2);
	/* The first path's connection is refused for now: it stays down. */
	ca->refuse = true;
	served_a_while(a);
	target_drop(ca, "connection reset by peer");
	mpump(m);
	ck_assert_str_eq(isa_session_state_name(a), "recovering");
	ck_assert_uint_eq(cb->cmds->len, 4);
	ck_assert_uint_eq(session_outstanding(a), 0);
	ck_assert_str_eq(mpath_state_name(m), "logged-in");
	answer_all(cb, 0);
	mpump(m);
	for (i = 0; i < 4; i++) {
		ck_assert(o[i].done);
		ck_assert_int_eq(o[i].result, 0);
	}
	/* New commands take the live path only. */
	msubmit(m, 4, &o[4]);
	ck_assert_uint_eq(cb->cmds->len, 5);
	answer_all(cb, 4);
	/* The first path comes back. */
	ca->refuse = false;
	a->next_attempt_us = 0;
	mpump(m);
	ck_assert_str_eq(isa_session_state_name(a), "logged-in");
	ck_assert(o[4].done);
	mpath_set_policy(m, ISA_PATH_ROUND_ROBIN);
	for (i = 5; i < 8; i++)
		msubmit(m, i, &o[i]);
	/* Two of them on the first path before its loss, five on the second. */
	ck_assert_uint_eq(ca->cmds->len + cb->cmds->len, 10);
	ck_assert_uint_ge(ca->cmds->len, 3);
	ck_assert_uint_ge(cb->cmds->len, 6);
	answer_all(ca, 2);
	answer_all(cb, 5);
	mpump(m);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(o[i].result, 0);
	mpath_free(m);
	ck_assert_ptr_null(a->failover_fn);
	session_fake_free(a);
	session_fake_free(b);
}
END_TEST

/* The join check of mpath_joining_path_checked_first: who was asked, how often. */
struct join_asked {
	struct isa_session *s;
	unsigned calls;
};

static void record_join(void *opaque, struct isa_session *s)
{
	struct join_asked *j = opaque;

	j->s = s;
	j->calls++;
}

/*
 * A path added before it is known to reach the LUN (down at attach)
 * carries nothing, logged in as it is, until its check says it does: the
 * check is asked for once, and only then do commands spread to it. A
 * third path whose check refuses it stays out for good, its session ended.
 */
START_TEST(mpath_joining_path_checked_first)
{
	struct isa_session *a = session_fake(), *b = session_fake(), *c = session_fake();
	struct dm_conn *ca = a->conn, *cb = b->conn, *cc = c->conn;
	struct join_asked j = {0};
	struct outcome o[8];
	struct mpath *m;
	guint i;

	log_in(a);
	log_in(b);
	log_in(c);
	m = mpath_new(a, 120);
	mpath_on_join(m, record_join, &j);
	mpath_add_joining(m, b);
	for (i = 0; i < 4; i++)
		msubmit(m, i, &o[i]);
	ck_assert_uint_eq(ca->cmds->len, 4);
	ck_assert_uint_eq(cb->cmds->len, 0);
	mpump(m);
	ck_assert_ptr_eq(j.s, b);
	ck_assert_uint_eq(j.calls, 1);
	/* Still unchecked: the check is asked for once, and b carries nothing. */
	mpump(m);
	ck_assert_uint_eq(j.calls, 1);
	ck_assert(!mpath_path_verified(m, 1));
	answer_all(ca, 0);
	mpump(m);
	mpath_path_checked(m, b, 0, "same LUN");
	ck_assert(mpath_path_verified(m, 1));
	for (i = 4; i < 8; i++)
		msubmit(m, i, &o[i]);
	ck_assert_uint_eq(ca->cmds->len, 6);
	ck_assert_uint_eq(cb->cmds->len, 2);
	answer_all(ca, 4);
	answer_all(cb, 0);
	mpump(m);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(o[i].result, 0);
	/* Another LUN behind the third path: refused, ended, never used. */
	mpath_add_joining(m, c);
	mpump(m);
	ck_assert_ptr_eq(j.s, c);
	mpath_path_checked(m, c, -ENXIO, "another LUN");
	ck_assert_uint_eq(cc->cmds->len, 0);
	mpump(m);
	ck_assert(mpath_path_refused(m, 2));
	ck_assert(session_failed(c));
	/* Its connection closed, so that the target ends its session too. */
	ck_assert_ptr_null(c->conn);
	for (i = 0; i < 4; i++)
		msubmit(m, i, &o[i]);
	answer_all(ca, 6);
	answer_all(cb, 2);
	mpump(m);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(o[i].result, 0);
	mpath_free(m);
	session_fake_free(a);
	session_fake_free(b);
	session_fake_free(c);
}
END_TEST

/* CHECK CONDITION for @itt: NOT READY, ASC 04h with @ascq (fixed sense). */
static void target_not_ready(struct dm_conn *c, uint32_t itt, uint8_t ascq)
{
	uint8_t data[2 + 18] = {0, 18, 0x70, 0, SCSI_SENSE_NOT_READY};
	struct fake_event *e = target_status(c, itt, SCSI_STATUS_CHECK_CONDITION);

	data[2 + 7] = 10;
	data[2 + 12] = 0x04;
	data[2 + 13] = ascq;
	iscsi_set_dlength(((struct iscsi_scsi_rsp *)e->bhs)->dlength, sizeof(data));
	e->data = g_byte_array_new();
	g_byte_array_append(e->data, data, sizeof(data));
}

/*
 * ALUA without REPORT TARGET PORT GROUPS: the first path's port answers
 * NOT READY, target port in standby state. The command goes to the second
 * path at once and succeeds there; new commands pass the first path over
 * while the second is up. Without another path (the second lost), the
 * first takes commands again.
 */
START_TEST(mpath_standby_path_passed_over)
{
	struct isa_session *a = session_fake(), *b = session_fake();
	struct dm_conn *ca = a->conn, *cb = b->conn;
	struct outcome o[6];
	struct mpath *m;
	guint i;

	log_in(a);
	log_in(b);
	m = mpath_new(a, 120);
	mpath_add(m, b);
	msubmit(m, 0, &o[0]);
	msubmit(m, 1, &o[1]);
	ck_assert_uint_eq(ca->cmds->len, 1);
	ck_assert_uint_eq(cb->cmds->len, 1);
	target_not_ready(ca, cmd_at(ca, 0)->itt, 0x0b);
	mpump(m);
	ck_assert(!o[0].done);
	ck_assert_str_eq(isa_session_state_name(a), "logged-in");
	ck_assert_uint_eq(session_outstanding(a), 0);
	ck_assert_uint_eq(cb->cmds->len, 2);
	ck_assert_uint_eq(cmd_tag(cmd_at(cb, 1)), 0);
	/* Least-outstanding would pick the idle first path: it is passed over. */
	for (i = 2; i < 4; i++)
		msubmit(m, i, &o[i]);
	ck_assert_uint_eq(ca->cmds->len, 1);
	ck_assert_uint_eq(cb->cmds->len, 4);
	answer_all(cb, 0);
	mpump(m);
	for (i = 0; i < 4; i++) {
		ck_assert(o[i].done);
		ck_assert_int_eq(o[i].result, 0);
	}
	/* The second path lost for good: the first serves again. */
	cb->refuse = true;
	served_a_while(b);
	target_drop(cb, "connection reset by peer");
	mpump(m);
	msubmit(m, 4, &o[4]);
	ck_assert_uint_eq(ca->cmds->len, 2);
	target_good(ca, cmd_at(ca, 1)->itt);
	mpump(m);
	ck_assert(o[4].done);
	ck_assert_int_eq(o[4].result, 0);
	mpath_free(m);
	session_fake_free(a);
	session_fake_free(b);
}
END_TEST

/* The commands of @c with opcode @op. */
static unsigned count_op(const struct dm_conn *c, uint8_t op)
{
	unsigned i, n = 0;

	for (i = 0; i < c->cmds->len; i++)
		n += cmd_at(c, i)->cdb[0] == op;
	return n;
}

/* The last command of @c with opcode @op. */
static const struct fake_cmd *last_op(const struct dm_conn *c, uint8_t op)
{
	guint i;

	for (i = c->cmds->len; i-- > 0;)
		if (cmd_at(c, i)->cdb[0] == op)
			return cmd_at(c, i);
	ck_abort_msg("no command 0x%02x", op);
	return NULL;
}

/* The target's Data-In for @itt (placed in the task's buffer, as a datamover does), then GOOD. */
static void target_data(struct dm_conn *c, uint32_t itt, const void *data, uint32_t len)
{
	struct dm_task *t = c->up.find_task(c->up.opaque, itt);

	ck_assert_ptr_nonnull(t);
	ck_assert_uint_ge(t->read_len, len);
	memcpy(t->read_buf, data, len);
	t->read_placed = len;
	target_good(c, itt);
}

/* CHECK CONDITION for @itt: UNIT ATTENTION with @asc/@ascq (fixed sense). */
static void target_ua(struct dm_conn *c, uint32_t itt, uint8_t asc, uint8_t ascq)
{
	uint8_t data[2 + 18] = {0, 18, 0x70, 0, SCSI_SENSE_UNIT_ATTENTION};
	struct fake_event *e = target_status(c, itt, SCSI_STATUS_CHECK_CONDITION);

	data[2 + 7] = 10;
	data[2 + 12] = asc;
	data[2 + 13] = ascq;
	iscsi_set_dlength(((struct iscsi_scsi_rsp *)e->bhs)->dlength, sizeof(data));
	e->data = g_byte_array_new();
	g_byte_array_append(e->data, data, sizeof(data));
}

/* REPORT TARGET PORT GROUPS data: group 1 (relative port 1) in @s1, group 2 (port 2) in @s2. */
static void rtpg_answer(uint8_t out[28], uint8_t s1, uint8_t s2)
{
	static const uint8_t tmpl[28] = {
	    0x00, 0x00, 0x00, 0x18, 0x00, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
	    0x00, 0x01, 0x00, 0x0f, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
	};

	memcpy(out, tmpl, sizeof(tmpl));
	out[4] |= s1;
	out[16] |= s2;
}

/*
 * ALUA: an active/optimized path takes every command while it is up,
 * however loaded (least-outstanding would spread them); the non-optimized
 * path serves once the optimized one is lost, and the optimized one takes
 * them again once it is back.
 */
START_TEST(mpath_alua_optimized_first)
{
	struct isa_session *a = session_fake(), *b = session_fake();
	struct dm_conn *ca = a->conn, *cb = b->conn;
	struct outcome o[7];
	struct mpath *m;
	guint i;

	log_in(a);
	log_in(b);
	m = mpath_new(a, 120);
	mpath_add(m, b);
	ck_assert_str_eq(mpath_alua_name(m, 0), "-");
	mpath_set_alua(m, 0, SCSI_ALUA_ACTIVE_NON_OPTIMIZED);
	mpath_set_alua(m, 1, SCSI_ALUA_ACTIVE_OPTIMIZED);
	ck_assert_str_eq(mpath_alua_name(m, 0), "active/non-optimized");
	ck_assert_str_eq(mpath_alua_name(m, 1), "active/optimized");
	for (i = 0; i < 4; i++)
		msubmit(m, i, &o[i]);
	ck_assert_uint_eq(ca->cmds->len, 0);
	ck_assert_uint_eq(cb->cmds->len, 4);
	/* Round robin too keeps to the optimized path. */
	mpath_set_policy(m, ISA_PATH_ROUND_ROBIN);
	msubmit(m, 4, &o[4]);
	ck_assert_uint_eq(cb->cmds->len, 5);
	/* The optimized path lost: its five go to the non-optimized one at once. */
	cb->refuse = true;
	served_a_while(b);
	target_drop(cb, "connection reset by peer");
	mpump(m);
	ck_assert_uint_eq(ca->cmds->len, 5);
	msubmit(m, 5, &o[5]);
	ck_assert_uint_eq(ca->cmds->len, 6);
	answer_all(ca, 0);
	mpump(m);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(o[i].result, 0);
	/* Back: the optimized path serves again, the other not. */
	cb->refuse = false;
	b->next_attempt_us = 0;
	mpump(m);
	ck_assert_str_eq(isa_session_state_name(b), "logged-in");
	msubmit(m, 6, &o[6]);
	ck_assert_uint_eq(ca->cmds->len, 6);
	ck_assert_uint_eq(cmd_tag(cmd_at(cb, cb->cmds->len - 1)), 6);
	answer_all(cb, cb->cmds->len - 1);
	mpump(m);
	ck_assert_int_eq(o[6].result, 0);
	mpath_free(m);
	session_fake_free(a);
	session_fake_free(b);
}
END_TEST

static void note_alua(void *opaque, unsigned i)
{
	unsigned *asked = opaque;

	asked[i]++;
}

/*
 * A standby path takes no command while another is up; with only the
 * standby path up, commands wait (the states asked for again), and go out
 * once it is active. Without time allowed (replacement timeout 0), what
 * waits with every path up in standby fails at once, and says why.
 */
START_TEST(mpath_alua_standby_never)
{
	struct isa_session *a = session_fake(), *b = session_fake();
	struct dm_conn *ca = a->conn, *cb = b->conn;
	struct outcome o[5];
	unsigned asked[2] = {0, 0};
	struct mpath *m;
	guint i;

	log_in(a);
	log_in(b);
	m = mpath_new(a, 120);
	mpath_add(m, b);
	mpath_watch_alua(m, note_alua, asked);
	mpath_set_alua(m, 0, SCSI_ALUA_STANDBY);
	mpath_set_alua(m, 1, SCSI_ALUA_ACTIVE_OPTIMIZED);
	for (i = 0; i < 3; i++)
		msubmit(m, i, &o[i]);
	ck_assert_uint_eq(ca->cmds->len, 0);
	ck_assert_uint_eq(cb->cmds->len, 3);
	/* The active path lost: its commands wait rather than go to standby. */
	cb->refuse = true;
	served_a_while(b);
	target_drop(cb, "connection reset by peer");
	mpump(m);
	ck_assert_uint_eq(ca->cmds->len, 0);
	ck_assert(!o[0].done);
	ck_assert_str_eq(mpath_state_name(m), "logged-in");
	/* The states are asked for again, on the path that is up. */
	ck_assert_uint_ge(asked[0], 1);
	ck_assert_uint_eq(asked[1], 0);
	msubmit(m, 3, &o[3]);
	ck_assert_uint_eq(ca->cmds->len, 0);
	/* The target made the standby group active: what waited goes, in its order. */
	mpath_set_alua(m, 0, SCSI_ALUA_ACTIVE_NON_OPTIMIZED);
	ck_assert_uint_eq(ca->cmds->len, 4);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(cmd_tag(cmd_at(ca, i)), i);
	answer_all(ca, 0);
	mpump(m);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(o[i].result, 0);
	mpath_free(m);

	/* Again with no time allowed: standby alone fails what waits. */
	m = mpath_new(a, 0);
	mpath_add(m, b);
	mpath_set_alua(m, 0, SCSI_ALUA_STANDBY);
	msubmit(m, 4, &o[4]);
	mpump(m);
	ck_assert(o[4].done);
	ck_assert_int_eq(o[4].result, -ENOTCONN);
	ck_assert_ptr_nonnull(strstr(o[4].msg, "no path has been in an active ALUA state"));
	ck_assert_ptr_nonnull(strstr(o[4].msg, "path 1 standby"));
	ck_assert_uint_eq(ca->cmds->len, 4);
	mpath_free(m);
	session_fake_free(a);
	session_fake_free(b);
}
END_TEST

/*
 * The states read again on UNIT ATTENTION 2A/06: path 1 optimized takes
 * the commands; its port answers ASYMMETRIC ACCESS STATE CHANGED; a REPORT
 * TARGET PORT GROUPS goes out as an ordinary command on a path, and its
 * answer (group 1 standby, group 2 optimized) moves new commands to path 2.
 * A refusal (04/0B) asks for the states too.
 */
START_TEST(mpath_alua_reread_on_ua)
{
	struct isa_session *a = session_fake(), *b = session_fake();
	struct dm_conn *ca = a->conn, *cb = b->conn;
	struct alua_port pa = {.have_rel = true, .rel_port = 1};
	struct alua_port pb = {.have_tpg = true, .tpg = 2};
	unsigned outstanding = 0;
	uint8_t rtpg[28];
	struct outcome o[4];
	struct alua *al;
	struct mpath *m;
	guint i;

	log_in(a);
	log_in(b);
	m = mpath_new(a, 120);
	mpath_add(m, b);
	al = alua_new(m, 1, &outstanding);
	alua_add_path(al, 0, &pa, SCSI_ALUA_ACTIVE_OPTIMIZED);
	alua_add_path(al, 1, &pb, SCSI_ALUA_STANDBY);
	msubmit(m, 10, &o[0]);
	ck_assert_uint_eq(ca->cmds->len, 1);
	target_ua(ca, cmd_at(ca, 0)->itt, 0x2a, 0x06);
	mpump(m);
	/* The command sent again, and the states asked for, on the first path (up). */
	ck_assert_uint_eq(outstanding, 1);
	ck_assert_uint_eq(count_op(ca, SCSI_OP_MAINTENANCE_IN), 1);
	ck_assert_uint_eq(last_op(ca, SCSI_OP_MAINTENANCE_IN)->cdb[1], SCSI_SA_REPORT_TPGS);
	ck_assert_uint_eq(times_sent(ca, 10), 2);
	rtpg_answer(rtpg, SCSI_ALUA_STANDBY, SCSI_ALUA_ACTIVE_OPTIMIZED);
	target_data(ca, last_op(ca, SCSI_OP_MAINTENANCE_IN)->itt, rtpg, sizeof(rtpg));
	target_good(ca, last_sent(ca, 10)->itt);
	mpump(m);
	ck_assert(o[0].done);
	ck_assert_int_eq(o[0].result, 0);
	ck_assert_uint_eq(outstanding, 0);
	ck_assert_str_eq(mpath_alua_name(m, 0), "standby");
	ck_assert_str_eq(mpath_alua_name(m, 1), "active/optimized");
	/* New commands take the newly optimized path. */
	for (i = 1; i < 3; i++)
		msubmit(m, 10 + i, &o[i]);
	ck_assert_uint_eq(cb->cmds->len, 2);
	ck_assert_uint_eq(cmd_tag(cmd_at(cb, 0)), 11);
	/* Its port now refuses (04/0B): handed back, and the states read again. */
	target_not_ready(cb, cmd_at(cb, 0)->itt, 0x0b);
	target_good(cb, cmd_at(cb, 1)->itt);
	mpump(m);
	ck_assert_uint_eq(outstanding, 1);
	ck_assert_uint_eq(count_op(cb, SCSI_OP_MAINTENANCE_IN), 1);
	/* Both groups back the other way round. */
	rtpg_answer(rtpg, SCSI_ALUA_ACTIVE_OPTIMIZED, SCSI_ALUA_STANDBY);
	target_data(cb, last_op(cb, SCSI_OP_MAINTENANCE_IN)->itt, rtpg, sizeof(rtpg));
	mpump(m);
	ck_assert_str_eq(mpath_alua_name(m, 0), "active/optimized");
	ck_assert_str_eq(mpath_alua_name(m, 1), "standby");
	ck_assert_uint_eq(outstanding, 0);
	msubmit(m, 13, &o[3]);
	ck_assert_uint_eq(cmd_tag(cmd_at(ca, ca->cmds->len - 1)), 13);
	/* Handed back while path 1 was still standby, it went to path 2 again (avoided, but the one
	 * active). */
	ck_assert_uint_eq(times_sent(cb, 11), 2);
	target_good(cb, last_sent(cb, 11)->itt);
	target_good(ca, last_sent(ca, 13)->itt);
	mpump(m);
	for (i = 0; i < 4; i++) {
		ck_assert(o[i].done);
		ck_assert_int_eq(o[i].result, 0);
	}
	alua_free(al);
	mpath_free(m);
	session_fake_free(a);
	session_fake_free(b);
}
END_TEST

/*
 * No path up: a command waits in the multipath layer and goes out once a
 * path has logged in again. With a replacement timeout of 0, every path
 * down fails the LUN at once: what waits fails with -ENOTCONN and says why.
 */
START_TEST(mpath_held_then_failed)
{
	struct isa_session *a = session_fake(), *b = session_fake();
	struct dm_conn *ca = a->conn, *cb = b->conn;
	struct outcome o[3];
	struct mpath *m;

	log_in(a);
	log_in(b);
	m = mpath_new(a, 120);
	mpath_add(m, b);
	ca->refuse = cb->refuse = true;
	served_a_while(a);
	served_a_while(b);
	target_drop(ca, "connection reset by peer");
	target_drop(cb, "connection reset by peer");
	mpump(m);
	ck_assert_str_eq(mpath_state_name(m), "recovering");
	msubmit(m, 0, &o[0]);
	ck_assert_uint_eq(ca->cmds->len + cb->cmds->len, 0);
	cb->refuse = false;
	b->next_attempt_us = 0;
	mpump(m);
	ck_assert_str_eq(isa_session_state_name(b), "logged-in");
	ck_assert_uint_eq(cb->cmds->len, 1);
	answer_all(cb, 0);
	mpump(m);
	ck_assert(o[0].done);
	ck_assert_int_eq(o[0].result, 0);
	mpath_free(m);

	/* Again, with no time allowed down. */
	m = mpath_new(a, 0);
	mpath_add(m, b);
	msubmit(m, 1, &o[1]);
	ck_assert_uint_eq(cb->cmds->len, 2);
	served_a_while(b);
	cb->refuse = true;
	target_drop(cb, "connection reset by peer");
	mpump(m);
	ck_assert(mpath_failed(m));
	ck_assert_str_eq(mpath_state_name(m), "failed");
	ck_assert(o[1].done);
	ck_assert_int_eq(o[1].result, -ENOTCONN);
	ck_assert_ptr_nonnull(strstr(o[1].msg, "every path has been down"));
	msubmit(m, 2, &o[2]);
	mpump(m);
	ck_assert(o[2].done);
	ck_assert_int_eq(o[2].result, -ENOTCONN);
	ck_assert_uint_eq(ca->cmds->len, 0);
	mpath_free(m);
	session_fake_free(a);
	session_fake_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, unanswered_in_flight);
	tcase_add_test(tc, unanswered_pending);
	tcase_add_test(tc, unanswered_recovering);
	tcase_add_test(tc, already_failed);
	tcase_add_test(tc, cmdsn_window);
	tcase_add_test(tc, itt_not_reused_in_flight);
	tcase_add_test(tc, resend_order_after_relogin);
	tcase_add_test(tc, poison_command_fails_alone_conn_losses);
	tcase_add_test(tc, poison_command_fails_alone_violations);
	tcase_add_test(tc, flapping_login_keeps_backoff);
	tcase_add_test(tc, poison_command_names_the_violation);
	tcase_add_test(tc, flapping_backoff_within_replacement_timeout);
	tcase_add_test(tc, recovery_connect_refused_backoff);
	tcase_add_test(tc, recovery_login_timeout);
	tcase_add_test(tc, first_login_refused);
	tcase_add_test(tc, recovery_during_probe);
	tcase_add_test(tc, tmf_escalation_reconnects);
	tcase_add_test(tc, close_during_recovery);
	tcase_add_test(tc, repeated_lines_collapsed);
	tcase_add_test(tc, failover_hands_back);
	tcase_add_test(tc, mpath_spread_and_failover);
	tcase_add_test(tc, mpath_held_then_failed);
	tcase_add_test(tc, mpath_standby_path_passed_over);
	tcase_add_test(tc, mpath_joining_path_checked_first);
	tcase_add_test(tc, mpath_alua_optimized_first);
	tcase_add_test(tc, mpath_alua_standby_never);
	tcase_add_test(tc, mpath_alua_reread_on_ua);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
