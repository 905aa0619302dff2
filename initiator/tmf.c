/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Task management for commands the target leaves unanswered (RFC 7143
 * sections 11.5 and 11.6, error recovery level 0).
 *
 * A command older than the command timeout is aborted with ABORT TASK.
 * When the target refuses that, or does not answer it within the NOP
 * timeout, LUN RESET aborts everything on the command's LUN. When that
 * fails too, the connection is failed, and the session recovery (session
 * reinstatement) or the final failure takes over. Whatever the target
 * aborted is sent again, so the owner still hears only of the target's
 * answer to the command: a write is reported done only once the target
 * acknowledged it. A command aborted TMF_ABORT_LIMIT times fails with
 * -ETIMEDOUT instead.
 *
 * One request is in flight at a time: a second slow command waits for the
 * first one's abort, which usually settles both (a LUN RESET does).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/iscsi-proto.h"
#include "initiator/pdu.h"
#include "initiator/session.h"

/* How often one command may be aborted and sent again before it fails. */
#define TMF_ABORT_LIMIT 3

static const char *tmf_function_name(uint8_t function)
{
	return function == ISCSI_TMF_ABORT_TASK ? "ABORT TASK" : "LUN RESET";
}

/* RFC 7143 11.6.1. */
static const char *tmf_response_name(int rsp)
{
	switch (rsp) {
	case ISCSI_TMF_RSP_COMPLETE:
		return "function complete";
	case ISCSI_TMF_RSP_NO_TASK:
		return "task does not exist";
	case ISCSI_TMF_RSP_NO_LUN:
		return "LUN does not exist";
	case ISCSI_TMF_RSP_TASK_ALLEGIANT:
		return "task still allegiant";
	case ISCSI_TMF_RSP_NO_FAILOVER:
		return "task allegiance reassignment not supported";
	case ISCSI_TMF_RSP_NOT_SUPPORTED:
		return "not supported";
	case ISCSI_TMF_RSP_AUTH_FAILED:
		return "authorization failed";
	case 255:
		return "function rejected";
	default:
		return "unknown response";
	}
}

static void tmf_send(struct isa_session *s, uint8_t function, const uint8_t lun[8],
		     const struct isa_task *ref)
{
	uint8_t bhs[ISCSI_BHS_LEN];

	s->tmf.function = function;
	s->tmf.itt = session_alloc_itt(s);
	s->tmf.ref_itt = ref ? ref->dm.itt : ISCSI_RESERVED_TAG;
	memcpy(s->tmf.lun, lun, sizeof(s->tmf.lun));
	s->tmf.cmdsn = s->cmdsn;
	s->tmf.sent_us = g_get_monotonic_time();
	/* Immediate: CmdSN is the next one and does not advance (RFC 7143 11.5). */
	pdu_build_tmf_req(bhs, function, lun, s->tmf.itt, s->tmf.ref_itt, s->cmdsn, s->exp_statsn,
			  ref ? ref->cmdsn : 0);
	if (s->dm->send_pdu(s->conn, bhs, NULL, 0) < 0)
		session_fail(s, "cannot queue a %s request", tmf_function_name(function));
}

/* The oldest command on the connection, if it has waited past the timeout. */
static struct isa_task *oldest_overdue(struct isa_session *s, gint64 now)
{
	gint64 limit = (gint64)s->command_timeout_s * G_USEC_PER_SEC;
	struct isa_task *oldest = NULL;
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, s->tasks);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct isa_task *t = v;

		if (now - t->timer_us > limit && (!oldest || t->timer_us < oldest->timer_us))
			oldest = t;
	}
	return oldest;
}

/* ABORT TASK went unanswered or was refused: reset the whole LUN. */
static void tmf_escalate(struct isa_session *s, const char *why)
{
	uint8_t lun[8];

	if (s->tmf.function == ISCSI_TMF_LUN_RESET) {
		uint32_t n = iscsi_decode_lun(s->tmf.lun);

		memset(&s->tmf, 0, sizeof(s->tmf));
		session_fail(s, "LUN RESET of LUN %u %s", n, why);
		return;
	}
	memcpy(lun, s->tmf.lun, sizeof(lun));
	g_warning("ABORT TASK of ITT 0x%08x %s; resetting LUN %u", s->tmf.ref_itt, why,
		  iscsi_decode_lun(lun));
	tmf_send(s, ISCSI_TMF_LUN_RESET, lun, NULL);
}

void session_check_timeouts(struct isa_session *s)
{
	gint64 now = g_get_monotonic_time();
	struct isa_task *t;
	char why[64];

	if (s->tmf.function) {
		if (now - s->tmf.sent_us <= (gint64)s->nop_timeout_s * G_USEC_PER_SEC)
			return;
		snprintf(why, sizeof(why), "not answered within %u s", s->nop_timeout_s);
		tmf_escalate(s, why);
		return;
	}
	t = oldest_overdue(s, now);
	if (!t)
		return;
	g_warning("no answer to SCSI command 0x%02x (ITT 0x%08x, CmdSN %u) on LUN %u within "
		  "%u s; aborting it",
		  t->cdb[0], t->dm.itt, t->cmdsn, iscsi_decode_lun(t->dm.lun),
		  s->command_timeout_s);
	tmf_send(s, ISCSI_TMF_ABORT_TASK, t->dm.lun, t);
}

/* The target aborted @t: send it again, or give up on it. */
static void tmf_requeue(struct isa_session *s, struct isa_task *t)
{
	char msg[128];

	s->stats.aborts++;
	if (t->aborts >= TMF_ABORT_LIMIT) {
		snprintf(msg, sizeof(msg),
			 "no answer from the target within %u s, %u times; command aborted",
			 s->command_timeout_s, t->aborts);
		session_task_fail(s, t, -ETIMEDOUT, msg);
		return;
	}
	session_task_resend(s, t, true);
}

/*
 * Everything on @lun that was sent before the LUN RESET was aborted by it.
 * What was sent after it reached the target after the reset (one
 * connection keeps order) and will be answered.
 */
static void tmf_requeue_lun(struct isa_session *s, const uint8_t lun[8])
{
	GList *all = g_hash_table_get_values(s->tasks), *on_lun = NULL, *l;

	for (l = all; l; l = l->next) {
		struct isa_task *t = l->data;

		if (!memcmp(t->dm.lun, lun, 8) && iscsi_sn_lt(t->cmdsn, s->tmf.cmdsn))
			on_lun = g_list_prepend(on_lun, t);
	}
	g_list_free(all);
	g_message("LUN RESET of LUN %u done; sending %u commands again", iscsi_decode_lun(lun),
		  g_list_length(on_lun));
	s->stats.aborts += g_list_length(on_lun);
	session_resend_in_order(s, on_lun);
}

int session_tmf_answered(struct isa_session *s, int rsp, const char *why)
{
	struct isa_task *t;
	char text[200];

	t = s->tmf.function == ISCSI_TMF_ABORT_TASK ? session_lookup(s, s->tmf.ref_itt) : NULL;
	if (t && rsp == ISCSI_TMF_RSP_NO_TASK && !t->aborts) {
		/*
		 * RFC 7143 11.6.1 says "task does not exist" only for a command
		 * that is finished and answered, yet we hold no answer. tgt
		 * 1.0.85 says it for a write still collecting its Data-Out (its
		 * ABORT TASK searches only commands handed to the SCSI layer),
		 * then executes and answers the write. So the command stays as
		 * it is, with a new timeout; the next time it runs out, a LUN
		 * RESET settles the matter.
		 */
		g_message("ABORT TASK of ITT 0x%08x: the target does not know the task; "
			  "waiting %u s more for its answer",
			  s->tmf.ref_itt, s->command_timeout_s);
		t->aborts++;
		t->timer_us = g_get_monotonic_time();
		memset(&s->tmf, 0, sizeof(s->tmf));
		return 0;
	}
	if (t && rsp == ISCSI_TMF_RSP_NO_TASK) {
		tmf_escalate(s, "answered again: task does not exist");
		return session_failed(s) || s->state == SESSION_DROPPED ? -1 : 0;
	}
	if (rsp < 0 || (rsp != ISCSI_TMF_RSP_COMPLETE && rsp != ISCSI_TMF_RSP_NO_TASK) ||
	    (rsp == ISCSI_TMF_RSP_NO_TASK && s->tmf.function == ISCSI_TMF_LUN_RESET)) {
		if (!why) {
			snprintf(text, sizeof(text), "refused by the target: %s",
				 tmf_response_name(rsp));
			why = text;
		}
		tmf_escalate(s, why);
		return session_failed(s) || s->state == SESSION_DROPPED ? -1 : 0;
	}
	if (s->tmf.function == ISCSI_TMF_LUN_RESET) {
		tmf_requeue_lun(s, s->tmf.lun);
		memset(&s->tmf, 0, sizeof(s->tmf));
		return 0;
	}
	/*
	 * Without @t, its answer came before the TMF Response (a target that
	 * was only slow answers both, in that order): nothing to send again.
	 */
	if (t) {
		g_message("ABORT TASK of ITT 0x%08x: %s; sending the command again", s->tmf.ref_itt,
			  tmf_response_name(rsp));
		t->aborts++;
		tmf_requeue(s, t);
	} else {
		g_message("ABORT TASK of ITT 0x%08x: %s; the command was answered before it",
			  s->tmf.ref_itt, tmf_response_name(rsp));
	}
	memset(&s->tmf, 0, sizeof(s->tmf));
	return 0;
}

void session_tmf_forget(struct isa_session *s)
{
	memset(&s->tmf, 0, sizeof(s->tmf));
}
