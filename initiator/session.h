/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The iSCSI session in full feature phase: CmdSN window, task table,
 * keepalive, asynchronous events, logout. Internal to the library; the
 * public face is include/iser-attach.h.
 */
#ifndef ISA_SESSION_H
#define ISA_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "datamover/datamover.h"
#include "include/iser-attach.h"
#include "initiator/params.h"

#define ISA_SENSE_MAX 252
/* How long a connect or one login exchange may take, unless told. */
#define SESSION_DEFAULT_TIMEOUT_MS 15000

struct isa_task;
typedef void (*isa_task_done_fn)(struct isa_task *t);

/**
 * struct isa_task - one SCSI command on its way through the session.
 * @dm: what the datamover sees (ITT, buffers); first member
 * @link: node in the session's pending queue
 * @result: 0 or a negative errno once complete
 * @msg: why, when @result is not 0
 * @status: SCSI status byte of the response
 * @residual: Residual Count when the target moved less than asked
 * @retries: times this command was sent again (UNIT ATTENTION, BUSY)
 * @aborts: times task management tried to abort it for want of an answer
 * @conn_losses: connections that failed while it was in flight on them;
 *		 with dm.violations, what makes the session give up on it
 *		 alone (session_drop_connection)
 * @timer_us: when its command timeout started: when it was sent, or when
 *	      the target answered an ABORT TASK of it without aborting it
 * @not_before_us: a command the LUN was NOT READY for waits in the pending
 *		   queue until then (0: none)
 * @count_io: on success its bytes count as the session's bytes read or
 *	      written (multipath: each part on the path it took)
 * @done: called once, when the command is complete (never from inside the
 *	  datamover), after which the owner frees the task
 * @relay_done, @relay: a command sent on a path with an I/O thread of its
 *			own (mpath.c): @done is the path's, which hands the
 *			task back to the owner's thread, and @relay_done is
 *			the owner's, called there
 */
struct isa_task {
	struct dm_task dm;
	GList link;
	struct isa_session *s;
	uint8_t cdb[16];
	uint8_t cdb_len;
	bool read;
	bool write;
	uint32_t edtl;
	uint32_t cmdsn;
	bool in_flight;
	gint64 sent_us;
	gint64 timer_us;
	gint64 not_before_us;

	int result;
	char msg[192];
	uint8_t status;
	uint8_t sense[ISA_SENSE_MAX];
	uint32_t sense_len;
	uint32_t residual;
	bool underflow;
	unsigned retries;
	unsigned aborts;
	unsigned conn_losses;
	bool count_io;

	isa_task_done_fn done;
	void *opaque;
	isa_task_done_fn relay_done;
	void *relay;
};

/*
 * The session's states; fsm.c holds every transition between them.
 *
 *   CONNECTING      the transport connects (TCP connect, RDMA CM events)
 *   LOGGING_IN      login PDUs go back and forth (login.c's machine)
 *   FULL_FEATURE    commands flow
 *   DROPPED         the connection failed in full feature phase and will
 *                   be recovered: closed once the upcall that found it
 *                   has returned
 *   RECONNECT_WAIT  the backoff before the next connect
 *   LOGGING_OUT     the Logout Request is out
 *   FAILED          for good: every command fails with s->error
 *
 * CONNECTING and LOGGING_IN are also the steps of a recovery
 * (s->recovering): there a failed attempt leads to RECONNECT_WAIT, on the
 * first login to FAILED.
 */
enum session_state {
	SESSION_CONNECTING,
	SESSION_LOGGING_IN,
	SESSION_FULL_FEATURE,
	SESSION_DROPPED,
	SESSION_RECONNECT_WAIT,
	SESSION_LOGGING_OUT,
	SESSION_FAILED,
	SESSION_N_STATES,
};

/**
 * struct session_tmf - the one task management request in flight.
 * @function: ISCSI_TMF_ABORT_TASK or ISCSI_TMF_LUN_RESET; 0 when none
 * @itt: the request's own ITT
 * @ref_itt: ABORT TASK: ITT of the command it aborts
 * @lun: the LUN it addresses
 * @cmdsn: its CmdSN: the commands a LUN RESET aborts came before it
 * @sent_us: when it was sent (monotonic)
 */
struct session_tmf {
	uint8_t function;
	uint32_t itt;
	uint32_t cmdsn;
	uint32_t ref_itt;
	uint8_t lun[8];
	gint64 sent_us;
};

struct login;

/**
 * struct session_attempt - one connect and login (fsm.c).
 * @login: the login machine, once connected
 * @host, @port: where this attempt connects: the session's portal, or
 *		 where a temporary redirect sent it
 * @hops: redirects followed in this attempt
 * @deadline_us: when the step under way (the connect, one login
 *		 exchange) times out; @timeout_ms: how long it was given
 * @send: the next Login Request is due (sent outside the upcalls)
 * @err: why the attempt failed, once it has; the first reason is kept
 */
struct session_attempt {
	struct login *login;
	char *host;
	uint16_t port;
	unsigned hops;
	gint64 deadline_us;
	int timeout_ms;
	bool send;
	GError *err;
};

/**
 * struct session_log_repeat - a log line said recently (recovery.c).
 * @text: the line; NULL when the slot is free
 * @first_us: when it was printed
 * @count: times it came again since, not printed
 */
struct session_log_repeat {
	char *text;
	gint64 first_us;
	unsigned count;
};

/*
 * A session in failover mode hands the commands of a lost connection to
 * its owner instead of keeping them for its own recovery: @tasks (struct
 * isa_task *) are off the session, in flight ones oldest CmdSN first,
 * then those that waited; the owner sends them elsewhere. The list is made
 * of the tasks' own links (t->link): take each off it before queueing it
 * again. Called from isa_session_service(), outside the upcalls.
 */
typedef void (*session_failover_fn)(void *opaque, struct isa_session *s, GList *tasks);

/**
 * struct isa_session - one iSCSI session over one connection.
 * @cmdsn: CmdSN of the next non-immediate command
 * @exp_cmdsn, @max_cmdsn: the target's command window
 * @exp_statsn: the StatSN we expect next (ExpStatSN we send)
 * @tasks: ITT -> struct isa_task * for commands sent and not complete
 * @pending: tasks waiting for the window, in submission order
 * @completed: tasks complete but whose done() has not been called yet;
 *	       done() runs outside datamover upcalls so that callbacks may
 *	       submit new work freely
 * @ctl_rsp: the last Login/Text/Logout response a blocking call waits
 *	     for (BHS followed by its data segment)
 * @command_timeout_s: a command unanswered this long is aborted (tmf.c)
 * @tmf: the task management request in flight, if any
 * @timer_due_us: when @timerfd next expires (it is periodic, 1 s, from the
 *		  time last armed), on the timerfd's clock
 */
struct isa_session {
	enum session_state state;
	const struct dm_ops *dm;
	struct dm_upcalls up;
	struct dm_conn *conn;
	int epfd;
	int timerfd;
	gint64 timer_due_us;
	int defer_fd;
	GQueue deferred;
	/* Failover mode: commands this path's port refused (standby), for the owner. */
	GQueue refused;
	uint32_t dm_events;
	char *error;

	char *target_name;
	char *portal;
	char *initiator_name;
	uint8_t isid[6];
	uint16_t tsih;
	struct iscsi_params params;
	uint32_t queue_depth;
	uint32_t nop_interval_s;
	uint32_t nop_timeout_s;
	uint32_t command_timeout_s;
	struct session_tmf tmf;

	uint32_t cmdsn;
	uint32_t exp_cmdsn;
	uint32_t max_cmdsn;
	uint32_t exp_statsn;
	uint32_t next_itt;

	GHashTable *tasks;
	GQueue pending;
	GQueue completed;
	GArray *nop_replies;

	gint64 last_rx_us;
	uint32_t nop_itt;
	gint64 nop_sent_us;

	bool ctl_waiting;
	bool ctl_ready;
	uint32_t ctl_itt;
	GByteArray *ctl_rsp;

	struct isa_stats stats;

	/* How to log in, again after a lost connection (fsm.c, recovery.c). */
	struct isa_options opts;
	bool discovery;
	char *host;
	uint16_t port;
	int dm_fd; /* the datamover fd registered in epfd, or -1 */
	struct session_attempt attempt;
	uint32_t replacement_timeout_s;
	bool recovering;
	gint64 login_us; /* when the connection now (or last) in use logged in */
	gint64 recovery_deadline_us;
	/*
	 * Never logged in yet: a path that was down at attach
	 * (isa_session_open_later); a "target not found" refusal is retried
	 * until @join_deadline_us, an authentication failure not at all.
	 */
	bool joining;
	gint64 join_deadline_us;
	gint64 next_attempt_us;
	unsigned backoff_ms;
	struct session_log_repeat repeats[8];

	unsigned corked; /* isa_session_cork() nesting */

	/* Failover mode (session_set_failover): who takes the commands of a lost connection. */
	session_failover_fn failover_fn;
	void *failover_opaque;

	/* Who hears of UNIT ATTENTION conditions (session_watch_ua). */
	GList *ua_watchers;
};

/* Send an immediate control PDU and wait for the response with the same ITT. */
int session_control_exchange(struct isa_session *s, const uint8_t *bhs, const void *data,
			     uint32_t dlen, int timeout_ms, GError **err);

/*
 * The connection failed for the reason @fmt says: recover it when the
 * owner asked for recovery, else fail the session.
 */
void session_fail(struct isa_session *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/*
 * Fail the session for good, recovery or not: every command it holds
 * fails with the reason @fmt says.
 */
void session_end(struct isa_session *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* The state machine (fsm.c). */
void session_set_state(struct isa_session *s, enum session_state to);
const char *session_state_str(enum session_state st);
/* Start a connect and login to s->host (the first, or a recovery's). */
void session_attempt_start(struct isa_session *s);
/* Make the progress due outside the upcalls; called by isa_session_service(). */
void session_step(struct isa_session *s);
/* The 1 s timer, and the deadlines of the state in force. */
void session_tick(struct isa_session *s);
void session_arm_timer(struct isa_session *s, gint64 at_us);
/* The connect under way came up (datamover upcall). */
void session_connected(struct isa_session *s);
/* Close the connection: reset (its pool kept) while recovering, else destroyed. */
void session_close_conn(struct isa_session *s);
void session_attempt_clear(struct isa_session *s);

/* Recovery (recovery.c). */
/* The connection in full feature phase failed for @why: DROPPED. */
void recovery_begin(struct isa_session *s, const char *why);
/* After the upcall: close it, keep or give up on its commands, wait. */
void recovery_drop(struct isa_session *s);
/* An attempt failed: wait and try again, or fail past the deadline. */
void recovery_attempt_failed(struct isa_session *s, const GError *err);
/* An attempt logged in. */
void recovery_done(struct isa_session *s);
/* Log at @level, collapsing lines said again within a minute. */
void recovery_log(struct isa_session *s, GLogLevelFlags level, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Print the counts of collapsed lines whose minute is over (or all). */
void recovery_log_flush(struct isa_session *s, bool all);

/*
 * @fn(@opaque, lun, asc, ascq) for every UNIT ATTENTION a command meets,
 * from inside the datamover's upcall: it may only take note (and
 * session_defer() what it will do about it). The command itself is sent
 * again, as for any UNIT ATTENTION. NOT READY 04/0A (asymmetric access
 * state transition, sent again after a while) is told the same way, with
 * @asc 04h: the ALUA states are changing.
 */
typedef void (*session_ua_fn)(void *opaque, uint32_t lun, uint8_t asc, uint8_t ascq);
void session_watch_ua(struct isa_session *s, session_ua_fn fn, void *opaque);
void session_unwatch_ua(struct isa_session *s, void *opaque);

/*
 * Failover mode, for a session that is one path of several: when its
 * connection is lost, the commands it held go to @fn at once, and the
 * session reconnects in the background with the usual backoff, with no
 * deadline of its own (its owner decides when to give up, with
 * isa_session_abandon()); recovery is on whatever the replacement timeout.
 */
void session_set_failover(struct isa_session *s, session_failover_fn fn, void *opaque);
/* Commands sent and not answered plus those waiting to be sent. */
unsigned session_outstanding(const struct isa_session *s);
/* In full feature phase: new commands are sent now. */
bool session_live(const struct isa_session *s);

/* Full feature phase begins with the negotiated values (session.c). */
int session_enter_full_feature(struct isa_session *s, GError **err);
/* Fail every command held, with s->error. */
void session_fail_all(struct isa_session *s);

/*
 * Run @fn(@opaque) from the next isa_session_service(), so that a request
 * answered without the target still completes the way the API promises:
 * later, never inside the call that submitted it.
 */
void session_defer(struct isa_session *s, void (*fn)(void *opaque), void *opaque);
uint32_t session_alloc_itt(struct isa_session *s);
void session_update_events(struct isa_session *s);
void session_init_upcalls(struct isa_session *s);

/*
 * A task for @cdb on @lun. @buf/@len is the read destination when @read,
 * else the write source (or NULL/0 for no data).
 */
struct isa_task *session_task_new(struct isa_session *s, uint32_t lun, const uint8_t *cdb,
				  uint8_t cdb_len, bool read, void *buf, uint32_t len,
				  isa_task_done_fn done, void *opaque);
void session_task_free(struct isa_task *t);

/*
 * Take @t off the connection (the target will not answer it) and queue it
 * to be sent again: at the head of the queue when @first, so that it keeps
 * its place, else behind what waits.
 */
void session_task_resend(struct isa_session *s, struct isa_task *t, bool first);

/*
 * Send every task of @tasks (consumed) again, ahead of what waits, oldest
 * CmdSN first.
 */
void session_resend_in_order(struct isa_session *s, GList *tasks);

/* Complete @t with @result (a negative errno) and @msg. */
void session_task_fail(struct isa_session *s, struct isa_task *t, int result, const char *msg);

/* The task with @itt on the connection, or NULL. */
struct isa_task *session_lookup(struct isa_session *s, uint32_t itt);

/* Task management (tmf.c): abort what exceeded the command timeout. */
void session_check_timeouts(struct isa_session *s);
/* A TMF Response, or a Reject of our TMF request (@rsp < 0, @why says why). */
int session_tmf_answered(struct isa_session *s, int rsp, const char *why);
/* The connection is gone: whatever TMF was in flight is moot. */
void session_tmf_forget(struct isa_session *s);

/* Queue @t; it is sent as soon as the CmdSN window and queue depth allow. */
void session_task_submit(struct isa_session *s, struct isa_task *t);

/*
 * Submit @t and serve the session until it completes. Returns t->result.
 * Without an answer within @timeout_ms the session ends for good (state
 * failed) and @t fails with -ETIMEDOUT; either way the session holds
 * nothing of @t afterwards, which its caller may free.
 */
int session_task_run(struct isa_session *s, struct isa_task *t, int timeout_ms);

/* Logical block size and the like are the LUN layer's; these are shared. */
void session_count_io(struct isa_session *s, bool read, uint64_t bytes);
void session_count_error(struct isa_session *s);
const struct iscsi_params *session_params(const struct isa_session *s);
bool session_failed(const struct isa_session *s);
/* Count @t as a finished command (latency histogram). */
void session_count_command(struct isa_session *s, const struct isa_task *t);

#endif
