// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for initiator/session.c: session_task_run() against a target
 * that never answers, over a fake datamover that swallows every command.
 * With recovery asked for or not, the task must come back to its caller
 * with -ETIMEDOUT, held nowhere in the session, and the session must end
 * for good.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "initiator/scsi.h"
#include "initiator/session.h"

/* The fake connection: what the session asked of it. */
struct dm_conn {
	unsigned sent;
	unsigned forgotten;
	const struct dm_task *first_forgotten;
};

static int fake_get_fd(struct dm_conn *c)
{
	(void)c;
	return -1;
}

static uint32_t fake_which_events(struct dm_conn *c)
{
	(void)c;
	return 0;
}

static int fake_send_command(struct dm_conn *c, const uint8_t *bhs, struct dm_task *task)
{
	(void)bhs;
	(void)task;
	c->sent++;
	return 0;
}

static int fake_send_pdu(struct dm_conn *c, const uint8_t *bhs, const void *data, uint32_t dlen)
{
	(void)c;
	(void)bhs;
	(void)data;
	(void)dlen;
	return 0;
}

static void fake_forget_task(struct dm_conn *c, struct dm_task *task)
{
	c->forgotten++;
	if (!c->first_forgotten)
		c->first_forgotten = task;
}

static void fake_reset(struct dm_conn *c)
{
	(void)c;
}

static const struct dm_ops fake_ops = {
    .name = "fake",
    .get_fd = fake_get_fd,
    .which_events = fake_which_events,
    .send_pdu = fake_send_pdu,
    .send_command = fake_send_command,
    .forget_task = fake_forget_task,
    .reset = fake_reset,
};

static struct dm_conn conn;

/* A session in full feature phase, recovering lost connections for 120 s. */
static struct isa_session *session_fake(void)
{
	struct isa_session *s = g_new0(struct isa_session, 1);

	memset(&conn, 0, sizeof(conn));
	s->state = SESSION_FULL_FEATURE;
	s->dm = &fake_ops;
	s->conn = &conn;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->timerfd = -1;
	s->defer_fd = -1;
	g_queue_init(&s->deferred);
	s->tasks = g_hash_table_new(g_direct_hash, g_direct_equal);
	g_queue_init(&s->pending);
	g_queue_init(&s->completed);
	s->nop_replies = g_array_new(FALSE, FALSE, 12);
	s->target_name = g_strdup("iqn.2026-11.org.iser-attach.test:unit");
	s->portal = g_strdup("127.0.0.1:3260");
	s->queue_depth = 8;
	s->cmdsn = 1;
	s->exp_cmdsn = 1;
	s->max_cmdsn = 32;
	s->next_itt = 1;
	s->replacement_timeout_s = 120;
	session_init_upcalls(s);
	return s;
}

static void session_fake_free(struct isa_session *s)
{
	ck_assert_uint_eq(g_hash_table_size(s->tasks), 0);
	ck_assert_uint_eq(s->pending.length, 0);
	ck_assert_uint_eq(s->completed.length, 0);
	close(s->epfd);
	g_hash_table_unref(s->tasks);
	g_array_unref(s->nop_replies);
	g_free(s->error);
	g_free(s->target_name);
	g_free(s->portal);
	g_free(s);
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

/* Sent and never answered: taken off the connection, not left to recovery. */
START_TEST(unanswered_in_flight)
{
	struct isa_session *s = session_fake();
	struct isa_task *t = tur(s, NULL, NULL);
	int other = 1;

	/* Someone else's command, in flight beside it, fails with the session. */
	session_task_submit(s, tur(s, count_done, &other));
	ck_assert_int_eq(session_task_run(s, t, 200), -ETIMEDOUT);
	ck_assert_str_eq(t->msg, "no answer to SCSI command 0x00 within 200 ms");
	ck_assert_ptr_null(t->opaque);
	ck_assert(!t->in_flight);
	ck_assert_uint_eq(conn.sent, 2);
	/* Taken off the connection first, before the session failed the rest. */
	ck_assert_ptr_eq(conn.first_forgotten, &t->dm);
	ck_assert_uint_eq(conn.forgotten, 2);
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
	struct isa_task *t = tur(s, NULL, NULL);

	s->max_cmdsn = s->cmdsn - 1;
	ck_assert_int_eq(session_task_run(s, t, 1000), -ETIMEDOUT);
	ck_assert_str_eq(t->msg, "no answer to SCSI command 0x00 within 1 s");
	ck_assert_uint_eq(conn.sent, 0);
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
	struct isa_task *t = tur(s, NULL, NULL);

	session_fail(s, "target did not answer a NOP-Out ping within 15 s");
	ck_assert_str_eq(isa_session_state_name(s), "recovering");
	s->conn_dropped = true;
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
	struct isa_task *t = tur(s, NULL, NULL);

	session_end(s, "LUN 1 closed with 1 requests in flight");
	ck_assert(session_failed(s));
	ck_assert_int_eq(session_task_run(s, t, 200), -ENOTCONN);
	ck_assert_str_eq(t->msg, "LUN 1 closed with 1 requests in flight");
	session_task_free(t);
	session_fake_free(s);
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
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
