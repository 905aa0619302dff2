/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Multipath: the paths of one LUN, which one a command takes, and what
 * happens when one fails.
 *
 * Every path is a session in failover mode (session_set_failover): when
 * its connection is lost, it hands back at once what it held, in flight
 * or waiting, and those commands are sent again on the live paths, none
 * of them having been answered; the session then reconnects on its own
 * with the usual backoff, for as long as it takes, and takes commands
 * again once it is in full feature phase. While no path is up commands
 * are held here, in submission order. The attachment fails only when every
 * path has been down for longer than the replacement timeout.
 *
 * One fd for all paths: an epoll set holding each session's own set, so
 * that the owner's loop is the one it has for a single session.
 *
 * Threads (mpath_set_threaded, what the LUN layer asks for): path 1 is
 * served by the owner's thread, with the front ends, and every further
 * path by an I/O thread of its own, the only thread that touches its
 * session while it runs. The owner's thread keeps the policy, the held
 * queue and every callback of the LUN layer; the two meet in queues under
 * m->lock, each with an eventfd written when the queue turns non-empty:
 *
 *   owner -> path   p->inbox: commands to send (t->done swapped for
 *                   path_task_done, the owner's in t->relay_done); an
 *                   abandon; stop
 *   path -> owner   m->done: those commands, complete; m->events: commands
 *                   handed back (path lost, port refused), UNIT ATTENTIONs,
 *                   a change of the path's state (p->live)
 *
 * The path thread holds p->lock while it works on its session, so that
 * the owner can read the session's counters and state under it. What the
 * owner decides from (p->live, p->queued) it reads without waiting: a
 * command that reaches a path gone down meanwhile is handed back by the
 * path thread like those of a lost connection.
 *
 * A path whose target port answers a command NOT READY, standby or
 * unavailable (ALUA, SPC-4 5.16: 04/0B, 04/0C) hands that command back
 * too, logged in as it is: it goes to another path, and the refusing path
 * takes new commands only when no other path is up, for MPATH_AVOID_US.
 *
 * ALUA states, where the target reports them (alua.c reads them with
 * REPORT TARGET PORT GROUPS and sets them here), order the paths: those
 * active/optimized first (and every path of a target without ALUA), then
 * active/non-optimized (and LBA dependent) only while no optimized one is
 * up, then transitioning (the session sends again what such a port
 * answers NOT READY 04/0A, for a while). Standby, unavailable and offline
 * paths never take a command: while every path that is up is in one of
 * those states, commands are held here, as while no path is up, the
 * states are read again once a second, and the held commands go out as
 * soon as a path is active again; they fail only once they have waited
 * longer than the replacement timeout. The 2 s avoidance after a refusal
 * stays on top of that: the state we read may be stale by then. The
 * states are read again (mpath_watch_alua) when a path logs in again and
 * when its port refuses a command.
 *
 * A path added before it could log in (mpath_add_joining: down at attach)
 * carries nothing until it is shown to reach the same LUN: each time it
 * reaches full feature phase unverified, the owner's check runs on it
 * (mpath_on_join; lun.c reads VPD 83 as an ordinary command) and
 * mpath_path_checked() says the outcome: it joins, or is refused for good.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "initiator/mpath.h"
#include "initiator/scsi.h"

struct mpath;

/**
 * struct mpath_path - one path.
 * @s: its session
 * @m: the set it belongs to
 * @index: its place in it
 * @portal: where it goes, for log lines (a copy: the session may be
 *	    another thread's)
 * @down_us: since when it has not been in full feature phase; 0 while it is
 * @avoid_until_us: its target port refused a command (standby, unavailable):
 *		    other paths first until then
 * @verified: shown to reach the LUN: only then may commands take it
 * @checking: the owner's check of an unverified path is under way
 * @refused: it reaches another LUN (@why): left out for good
 * @alua_state: the asymmetric access state of its target port group
 *		(enum scsi_alua_state), or -1 without ALUA
 *
 * With a thread of its own (@own_thread, set before @thread starts):
 * @live: 1 while its session is in full feature phase, as the path
 *	  thread last saw it (atomic)
 * @queued: commands given to it and not back yet (owner's thread)
 * @lock: held by the path thread while it works on @s
 * @wake: eventfd, written when @inbox, @abandon or @stop are set
 * @epfd: what the path thread waits on: @s's set and @wake
 * @inbox, @abandon, @close, @stop: for the path thread, under m->lock
 *	(@close: its connection is closed once abandoned)
 * @out: its commands complete this turn, handed over at its end
 */
struct mpath_path {
	struct isa_session *s;
	struct mpath *m;
	unsigned index;
	char *portal;
	gint64 down_us;
	gint64 avoid_until_us;
	bool verified;
	bool checking;
	bool refused;
	bool abandoned;
	char *why;
	int alua_state;

	bool own_thread;
	GThread *thread;
	gint live;
	unsigned queued;
	pthread_mutex_t lock;
	int wake;
	int epfd;
	GQueue inbox;
	char *abandon;
	bool close;
	bool stop;
	GQueue out;
};

/**
 * struct mpath_event - what a path thread tells the owner's thread.
 * @tasks: commands handed back (t->link list), or NULL
 * @refused: handed back by a logged-in path whose port refused them
 * @ua: a UNIT ATTENTION (@lun, @asc, @ascq), when @tasks is NULL
 */
struct mpath_event {
	GList link;
	struct mpath_path *p;
	GList *tasks;
	bool refused;
	bool ua;
	uint32_t lun;
	uint8_t asc, ascq;
};

/* How long a path whose port refused a command (standby) is passed over. */
#define MPATH_AVOID_US (2 * G_USEC_PER_SEC)

/**
 * struct mpath - the paths of one LUN.
 * @held: commands waiting for a path to come up (their t->link)
 * @next: where round-robin, and the tie-break of least-outstanding, start
 * @timeout_us: how long every path may be down before the LUN fails
 * @threaded: paths after the first get an I/O thread each
 * @lock: guards @done, @events and every path's inbox
 * @wake: eventfd in @epfd, written when @done or @events turn non-empty
 * @done: commands complete on path threads (t->link), for the owner
 * @events: struct mpath_event, in the order they happened
 * @ua_fn, @ua_opaque: who hears of UNIT ATTENTIONs on paths after the first
 * @join_fn: checks a path that logged in unverified (mpath_on_join)
 * @held_since_us: when the oldest command in @held began to wait (0: none)
 * @alua_fn, @alua_opaque: who reads the ALUA states again (mpath_watch_alua)
 * @alua_poll_us: the last time they were asked for because no path up was
 *		  active (standby, unavailable, offline) while commands waited
 */
struct mpath {
	struct mpath_path paths[MPATH_MAX_PATHS];
	unsigned n;
	enum isa_path_policy policy;
	unsigned next;
	GQueue held;
	int epfd;
	gint64 timeout_us;
	bool failed;
	char *error;

	bool threaded;
	pthread_mutex_t lock;
	int wake;
	GQueue done;
	GQueue events;
	session_ua_fn ua_fn;
	void *ua_opaque;
	mpath_join_fn join_fn;
	void *join_opaque;
	gint64 held_since_us;
	mpath_alua_fn alua_fn;
	void *alua_opaque;
	gint64 alua_poll_us;
};

static void mpath_failover(void *opaque, struct isa_session *s, GList *tasks);
static void mpath_ua_seen(void *opaque, uint32_t lun, uint8_t asc, uint8_t ascq);

static void wake_fd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		g_debug("eventfd write: %s", g_strerror(errno));
}

static void drain_fd(int fd)
{
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		g_debug("eventfd read: %s", g_strerror(errno));
}

static bool path_threaded(const struct mpath_path *p)
{
	return p->own_thread;
}

static bool path_live(const struct mpath_path *p)
{
	return path_threaded(p) ? g_atomic_int_get(&p->live) != 0 : session_live(p->s);
}

/* Commands may take it: up, and known to reach the LUN. */
static bool usable(const struct mpath_path *p)
{
	return p->verified && path_live(p);
}

/* Commands the path holds: those given to its thread count until they are back. */
static unsigned path_load(const struct mpath_path *p)
{
	return path_threaded(p) ? p->queued : session_outstanding(p->s);
}

struct mpath *mpath_new(struct isa_session *first, uint32_t replacement_timeout_s)
{
	struct mpath *m = g_new0(struct mpath, 1);
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = MPATH_MAX_PATHS};

	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	m->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->wake < 0 || epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->wake, &ev) < 0)
		g_warning("multipath: no eventfd for the path threads: %s", g_strerror(errno));
	m->timeout_us = (gint64)replacement_timeout_s * G_USEC_PER_SEC;
	pthread_mutex_init(&m->lock, NULL);
	g_queue_init(&m->held);
	g_queue_init(&m->done);
	g_queue_init(&m->events);
	mpath_add(m, first);
	return m;
}

static void path_stop(struct mpath_path *p)
{
	struct mpath *m = p->m;

	if (!path_threaded(p))
		return;
	pthread_mutex_lock(&m->lock);
	p->stop = true;
	pthread_mutex_unlock(&m->lock);
	wake_fd(p->wake);
	g_thread_join(p->thread);
	p->thread = NULL;
	p->own_thread = false;
	close(p->wake);
	close(p->epfd);
	pthread_mutex_destroy(&p->lock);
	g_free(p->abandon);
}

void mpath_stop_threads(struct mpath *m)
{
	for (unsigned i = 0; i < m->n; i++)
		path_stop(&m->paths[i]);
}

void mpath_free(struct mpath *m)
{
	GList *l;
	unsigned i;

	if (!m)
		return;
	mpath_stop_threads(m);
	for (i = 0; i < m->n; i++) {
		session_set_failover(m->paths[i].s, NULL, NULL);
		session_unwatch_ua(m->paths[i].s, &m->paths[i]);
		g_free(m->paths[i].portal);
		g_free(m->paths[i].why);
	}
	/* Nothing is outstanding when the LUN closes: what is left is news only. */
	while ((l = g_queue_pop_head_link(&m->events))) {
		struct mpath_event *e = l->data;

		g_list_free(e->tasks);
		g_free(e);
	}
	if (m->epfd >= 0)
		close(m->epfd);
	if (m->wake >= 0)
		close(m->wake);
	pthread_mutex_destroy(&m->lock);
	g_free(m->error);
	g_free(m);
}

void mpath_set_threaded(struct mpath *m, bool on)
{
	g_return_if_fail(m->n <= 1);
	m->threaded = on;
}

void mpath_on_ua(struct mpath *m, session_ua_fn fn, void *opaque)
{
	m->ua_fn = fn;
	m->ua_opaque = opaque;
}

/* Hand what the path thread completed this turn to the owner, at once. */
static void path_hand_over(struct mpath_path *p)
{
	struct mpath *m = p->m;
	bool was_empty;

	if (!p->out.length)
		return;
	pthread_mutex_lock(&m->lock);
	was_empty = !m->done.length && !m->events.length;
	while (p->out.length)
		g_queue_push_tail_link(&m->done, g_queue_pop_head_link(&p->out));
	pthread_mutex_unlock(&m->lock);
	if (was_empty)
		wake_fd(m->wake);
}

static void post_event(struct mpath *m, struct mpath_event *e)
{
	bool was_empty;

	e->link.data = e;
	pthread_mutex_lock(&m->lock);
	was_empty = !m->done.length && !m->events.length;
	g_queue_push_tail_link(&m->events, &e->link);
	pthread_mutex_unlock(&m->lock);
	if (was_empty)
		wake_fd(m->wake);
}

/* On the path thread: a command given to it is complete. */
static void path_task_done(struct isa_task *t)
{
	struct mpath_path *p = t->relay;

	g_queue_push_tail_link(&p->out, &t->link);
}

/* On the path thread: commands that reached the path while it was down go back. */
static void path_hand_back(struct mpath_path *p, GQueue *q)
{
	struct mpath_event *e;
	GList *tasks = NULL, *l;

	while ((l = g_queue_pop_tail_link(q)))
		tasks = g_list_concat(l, tasks);
	e = g_new0(struct mpath_event, 1);
	e->p = p;
	e->tasks = tasks;
	post_event(p->m, e);
}

/*
 * A path's I/O thread: what the owner gave it, sent; its session served;
 * what completed, handed over; then wait for the connection, the
 * session's timer or the owner.
 */
static gpointer path_thread(gpointer data)
{
	struct mpath_path *p = data;
	struct mpath *m = p->m;

	for (;;) {
		struct epoll_event ev[2];
		GQueue in;
		char *why;
		bool stop, live, close_conn;
		GList *l;

		drain_fd(p->wake);
		pthread_mutex_lock(&m->lock);
		in = p->inbox;
		g_queue_init(&p->inbox);
		why = p->abandon;
		p->abandon = NULL;
		close_conn = p->close;
		p->close = false;
		stop = p->stop;
		pthread_mutex_unlock(&m->lock);
		if (stop) {
			/* The owner stops a path only with nothing outstanding. */
			g_warn_if_fail(!in.length);
			g_free(why);
			break;
		}
		pthread_mutex_lock(&p->lock);
		if (why) {
			isa_session_abandon(p->s, why);
			g_free(why);
		}
		/* Closed, so that the target ends its session too. */
		if (close_conn)
			session_close_conn(p->s);
		isa_session_cork(p->s, true);
		if (in.length && !session_live(p->s) && !session_failed(p->s))
			path_hand_back(p, &in);
		while ((l = g_queue_pop_head_link(&in)))
			session_task_submit(p->s, l->data);
		isa_session_service(p->s);
		isa_session_cork(p->s, false);
		live = session_live(p->s);
		pthread_mutex_unlock(&p->lock);
		path_hand_over(p);
		if (live != (g_atomic_int_get(&p->live) != 0)) {
			g_atomic_int_set(&p->live, live);
			wake_fd(m->wake);
		}
		if (epoll_wait(p->epfd, ev, G_N_ELEMENTS(ev), -1) < 0 && errno != EINTR)
			g_warning("path %u: epoll_wait: %s", p->index + 1, g_strerror(errno));
	}
	return NULL;
}

static void path_start(struct mpath_path *p)
{
	struct epoll_event ev = {.events = EPOLLIN};
	g_autofree char *name = g_strdup_printf("path-%u", p->index + 1);

	pthread_mutex_init(&p->lock, NULL);
	g_queue_init(&p->inbox);
	g_queue_init(&p->out);
	p->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	ev.data.u32 = 0;
	epoll_ctl(p->epfd, EPOLL_CTL_ADD, isa_session_get_fd(p->s), &ev);
	ev.data.u32 = 1;
	epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wake, &ev);
	p->live = session_live(p->s);
	p->own_thread = true;
	p->thread = g_thread_new(name, path_thread, p);
}

void mpath_add(struct mpath *m, struct isa_session *s)
{
	struct mpath_path *p = &m->paths[m->n];
	struct isa_session_info si;

	g_return_if_fail(m->n < MPATH_MAX_PATHS);
	isa_session_get_info(s, &si);
	p->s = s;
	p->m = m;
	p->index = m->n;
	p->portal = g_strdup(si.portal);
	p->down_us = session_live(s) ? 0 : g_get_monotonic_time();
	p->verified = true;
	p->alua_state = -1;
	session_set_failover(s, mpath_failover, p);
	if (m->n)
		session_watch_ua(s, mpath_ua_seen, p);
	if (m->threaded && m->n) {
		path_start(p);
	} else {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = m->n};

		if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, isa_session_get_fd(s), &ev) < 0)
			g_warning("multipath: cannot watch path %u: %s", m->n + 1,
				  g_strerror(errno));
	}
	m->n++;
}

void mpath_add_joining(struct mpath *m, struct isa_session *s)
{
	/* Before its thread could look at it: nothing reads these there. */
	m->paths[m->n].verified = false;
	mpath_add(m, s);
	m->paths[m->n - 1].verified = false;
	m->paths[m->n - 1].down_us = g_get_monotonic_time();
}

void mpath_on_join(struct mpath *m, mpath_join_fn fn, void *opaque)
{
	m->join_fn = fn;
	m->join_opaque = opaque;
}

static struct mpath_path *path_of(struct mpath *m, const struct isa_session *s)
{
	for (unsigned i = 0; i < m->n; i++)
		if (m->paths[i].s == s)
			return &m->paths[i];
	return NULL;
}

int mpath_index_of(const struct mpath *m, const struct isa_session *s)
{
	for (unsigned i = 0; i < m->n; i++)
		if (m->paths[i].s == s)
			return (int)i;
	return -1;
}

bool mpath_session_live(const struct mpath *m, const struct isa_session *s)
{
	int i = mpath_index_of(m, s);

	return i >= 0 && path_live(&m->paths[i]);
}

void mpath_path_checked(struct mpath *m, struct isa_session *s, int result, const char *why)
{
	struct mpath_path *p = path_of(m, s);
	unsigned i, up = 0;

	if (!p)
		return;
	p->checking = false;
	if (result == -EAGAIN)
		return; /* Lost its connection meanwhile: again at its next login. */
	if (result) {
		/* Abandoned from mpath_check(), outside the callback that tells us. */
		p->refused = true;
		p->why = g_strdup(why);
		g_warning("path %u at %s refused: %s; it is left out", p->index + 1, p->portal,
			  why);
		return;
	}
	p->verified = true;
	for (i = 0; i < m->n; i++)
		up += usable(&m->paths[i]);
	if (path_live(p))
		p->down_us = 0;
	g_message("path %u to %s joined (%s): %u of %u paths up", p->index + 1, p->portal,
		  why ? why : "same LUN", up, m->n);
}

bool mpath_path_refused(const struct mpath *m, unsigned i)
{
	return i < m->n && m->paths[i].refused;
}

bool mpath_path_verified(const struct mpath *m, unsigned i)
{
	return i < m->n && m->paths[i].verified;
}

void mpath_set_policy(struct mpath *m, enum isa_path_policy policy)
{
	m->policy = policy;
}

unsigned mpath_count(const struct mpath *m)
{
	return m->n;
}

struct isa_session *mpath_path(const struct mpath *m, unsigned i)
{
	return i < m->n ? m->paths[i].s : NULL;
}

unsigned mpath_live(const struct mpath *m, unsigned *out, unsigned max)
{
	unsigned i, k = 0;

	for (i = 0; i < m->n && k < max; i++)
		if (usable(&m->paths[i]))
			out[k++] = i;
	return k;
}

/* Paths of a lower tier go first; MPATH_TIER_NEVER ones take no command. */
#define MPATH_TIERS	 3
#define MPATH_TIER_NEVER MPATH_TIERS

static unsigned mpath_tier(const struct mpath_path *p)
{
	switch (p->alua_state) {
	case -1:
	case SCSI_ALUA_ACTIVE_OPTIMIZED:
		return 0;
	case SCSI_ALUA_ACTIVE_NON_OPTIMIZED:
	case SCSI_ALUA_LBA_DEPENDENT:
		return 1;
	case SCSI_ALUA_TRANSITIONING:
		return 2;
	default:
		/* Standby, unavailable, offline, and what SPC does not define. */
		return MPATH_TIER_NEVER;
	}
}

/* The path of @tier for the next command, or -1 when none is up. */
static int mpath_pick_among(struct mpath *m, unsigned tier, bool avoided, gint64 now)
{
	unsigned i, best_load = 0;
	int best = -1;

	for (i = 0; i < m->n; i++) {
		unsigned k = (m->next + i) % m->n;
		const struct mpath_path *p = &m->paths[k];
		unsigned load;

		if (!usable(p) || mpath_tier(p) != tier || (!avoided && p->avoid_until_us > now))
			continue;
		if (m->policy == ISA_PATH_ROUND_ROBIN) {
			best = (int)k;
			break;
		}
		load = path_load(p);
		if (best < 0 || load < best_load) {
			best = (int)k;
			best_load = load;
		}
	}
	/* Ties go round, so that a light load still uses every path. */
	if (best >= 0)
		m->next = ((unsigned)best + 1) % m->n;
	return best;
}

/*
 * The best ALUA tier first; within the tiers, a path that refused lately
 * serves only when no other is up.
 */
static int mpath_pick(struct mpath *m)
{
	gint64 now = 0;
	unsigned i, tier;
	int best = -1, pass;

	for (i = 0; i < m->n && !now; i++)
		if (m->paths[i].avoid_until_us)
			now = g_get_monotonic_time();
	for (pass = 0; pass < 2 && best < 0; pass++)
		for (tier = 0; tier < MPATH_TIERS && best < 0; tier++)
			best = mpath_pick_among(m, tier, pass, now);
	return best;
}

/* A path is up: send what waited for one, in its order. */
static void mpath_release_held(struct mpath *m)
{
	GQueue q = m->held;
	GList *l;

	g_queue_init(&m->held);
	while ((l = g_queue_pop_head_link(&q)))
		mpath_submit(m, l->data);
}

/* Complete @t with @result and @why on the owner's thread: path 1's session is its. */
static void mpath_task_fail(struct mpath *m, struct isa_task *t, int result, const char *why)
{
	t->s = m->paths[0].s;
	session_task_fail(t->s, t, result, why);
}

void mpath_submit_to(struct mpath *m, unsigned i, struct isa_task *t)
{
	struct mpath_path *p = &m->paths[i];
	bool was_empty;

	t->s = p->s;
	if (!path_threaded(p)) {
		session_task_submit(p->s, t);
		return;
	}
	t->relay_done = t->done;
	t->relay = p;
	t->done = path_task_done;
	p->queued++;
	pthread_mutex_lock(&m->lock);
	was_empty = !p->inbox.length;
	g_queue_push_tail_link(&p->inbox, &t->link);
	pthread_mutex_unlock(&m->lock);
	if (was_empty)
		wake_fd(p->wake);
}

void mpath_submit(struct mpath *m, struct isa_task *t)
{
	int i;

	if (m->failed) {
		mpath_task_fail(m, t, -ENOTCONN, m->error);
		return;
	}
	i = mpath_pick(m);
	if (i < 0) {
		if (!m->held_since_us)
			m->held_since_us = g_get_monotonic_time();
		g_queue_push_tail_link(&m->held, &t->link);
		return;
	}
	/* What waited for a path goes first. */
	if (m->held.length) {
		g_queue_push_tail_link(&m->held, &t->link);
		mpath_release_held(m);
		return;
	}
	mpath_submit_to(m, (unsigned)i, t);
}

/* A task back from a path thread is the owner's again. */
static void task_back(struct isa_task *t)
{
	struct mpath_path *p = t->relay;

	if (!p)
		return;
	t->done = t->relay_done;
	t->relay_done = NULL;
	t->relay = NULL;
	p->queued--;
}

/*
 * Commands @p handed back go to the others now: it lost its connection,
 * or, when @refused, its target port refused them (standby, unavailable).
 */
static void mpath_take_back(struct mpath *m, struct mpath_path *p, GList *tasks, bool refused)
{
	GList *l, *next;

	if (!p->verified) {
		/* Only its check ran there: it must not go to another path. */
		for (l = tasks; l; l = next) {
			next = l->next;
			l->next = NULL;
			l->prev = NULL;
			task_back(l->data);
			mpath_task_fail(m, l->data, -EAGAIN, "the path went down");
		}
		return;
	}
	if (refused) {
		if (p->avoid_until_us < g_get_monotonic_time())
			g_message("path %u to %s: its target port refused %u commands "
				  "(standby or unavailable); other paths first for %d s",
				  p->index + 1, p->portal, g_list_length(tasks),
				  (int)(MPATH_AVOID_US / G_USEC_PER_SEC));
		p->avoid_until_us = g_get_monotonic_time() + MPATH_AVOID_US;
		/* The state we knew is stale. */
		if (m->alua_fn)
			m->alua_fn(m->alua_opaque, p->index);
	} else if (tasks) {
		g_message("path to %s lost: %u commands sent again on the other paths", p->portal,
			  g_list_length(tasks));
	}
	for (l = tasks; l; l = next) {
		next = l->next;
		l->next = NULL;
		l->prev = NULL;
		task_back(l->data);
		mpath_submit(m, l->data);
	}
}

/*
 * A path lost its connection, or its port refused: what it held goes to
 * the others. On the path's own thread when it has one: @opaque is the
 * path, so that nothing of the set is read there.
 */
static void mpath_failover(void *opaque, struct isa_session *s, GList *tasks)
{
	struct mpath_path *p = opaque;
	/* Logged in, and its port refused these: standby or unavailable. */
	bool refused = session_live(s);

	if (path_threaded(p)) {
		struct mpath_event *e = g_new0(struct mpath_event, 1);

		e->p = p;
		e->tasks = tasks;
		e->refused = refused;
		post_event(p->m, e);
		return;
	}
	mpath_take_back(p->m, p, tasks, refused);
}

/* A UNIT ATTENTION on a path after the first: the LUN layer hears of it. */
static void mpath_ua_seen(void *opaque, uint32_t lun, uint8_t asc, uint8_t ascq)
{
	struct mpath_path *p = opaque;
	struct mpath *m = p->m;
	struct mpath_event *e;

	if (!path_threaded(p)) {
		if (m->ua_fn)
			m->ua_fn(m->ua_opaque, lun, asc, ascq);
		return;
	}
	e = g_new0(struct mpath_event, 1);
	e->p = p;
	e->ua = true;
	e->lun = lun;
	e->asc = asc;
	e->ascq = ascq;
	post_event(m, e);
}

/* On the owner's thread: what the path threads completed and told. */
static void mpath_take_over(struct mpath *m)
{
	GQueue done, events;
	GList *l;

	if (!m->threaded)
		return;
	drain_fd(m->wake);
	pthread_mutex_lock(&m->lock);
	done = m->done;
	events = m->events;
	g_queue_init(&m->done);
	g_queue_init(&m->events);
	pthread_mutex_unlock(&m->lock);
	while ((l = g_queue_pop_head_link(&events))) {
		struct mpath_event *e = l->data;

		if (e->ua) {
			if (m->ua_fn)
				m->ua_fn(m->ua_opaque, e->lun, e->asc, e->ascq);
		} else {
			mpath_take_back(m, e->p, e->tasks, e->refused);
		}
		g_free(e);
	}
	while ((l = g_queue_pop_head_link(&done))) {
		struct isa_task *t = l->data;

		task_back(t);
		t->done(t);
	}
}

/* Fail what is held: there is no path to send it on. */
static void mpath_fail_held(struct mpath *m)
{
	GList *l;

	while ((l = g_queue_pop_head_link(&m->held)))
		mpath_task_fail(m, l->data, -ENOTCONN, m->error);
	m->held_since_us = 0;
}

/* End @p's session for good (and close its connection, when @close). */
static void path_abandon(struct mpath_path *p, const char *why, bool close)
{
	struct mpath *m = p->m;

	if (!path_threaded(p)) {
		isa_session_abandon(p->s, why);
		if (close)
			session_close_conn(p->s);
		return;
	}
	pthread_mutex_lock(&m->lock);
	g_free(p->abandon);
	p->abandon = g_strdup(why);
	p->close |= close;
	pthread_mutex_unlock(&m->lock);
	wake_fd(p->wake);
}

static void mpath_end(struct mpath *m, const char *why)
{
	unsigned i;

	if (m->failed)
		return;
	m->failed = true;
	m->error = g_strdup(why);
	mpath_fail_held(m);
	for (i = 0; i < m->n; i++)
		path_abandon(&m->paths[i], why, false);
}

/* The session's last error, read under its thread's lock. */
static char *path_error(struct mpath_path *p)
{
	char *e;

	if (path_threaded(p))
		pthread_mutex_lock(&p->lock);
	e = g_strdup(p->s->error ? p->s->error : "?");
	if (path_threaded(p))
		pthread_mutex_unlock(&p->lock);
	return e;
}

/* Every path has been down past the timeout, the first for @down_us. */
static void mpath_give_up(struct mpath *m, gint64 down_us)
{
	struct mpath_path *last = &m->paths[0];
	g_autofree char *why = NULL, *err = NULL;
	unsigned i;

	/* The path that went down last says why. */
	for (i = 1; i < m->n; i++)
		if (m->paths[i].down_us > last->down_us)
			last = &m->paths[i];
	err = path_error(last);
	why = g_strdup_printf("every path has been down for more than %" G_GINT64_FORMAT
			      " s (the first for %" G_GINT64_FORMAT " s); last error: %s",
			      m->timeout_us / G_USEC_PER_SEC, down_us / G_USEC_PER_SEC, err);
	g_warning("%s", why);
	mpath_end(m, why);
}

/*
 * Paths are up, yet commands wait: every path up is standby, unavailable
 * or offline. Ask for the states once a second; past the replacement
 * timeout, what waits fails.
 */
static void mpath_check_blocked(struct mpath *m, gint64 now)
{
	g_autofree char *why = NULL;
	g_autoptr(GString) states = g_string_new(NULL);
	unsigned i;

	for (i = 0; i < m->n; i++) {
		if (!usable(&m->paths[i]))
			continue;
		if (m->alua_fn && now - m->alua_poll_us >= G_USEC_PER_SEC) {
			m->alua_poll_us = now;
			m->alua_fn(m->alua_opaque, i);
		}
		g_string_append_printf(states, "%spath %u %s", states->len ? ", " : "", i + 1,
				       mpath_alua_name(m, i));
	}
	if (now - m->held_since_us < m->timeout_us)
		return;
	why = g_strdup_printf(
	    "no path has been in an active ALUA state for more than %" G_GINT64_FORMAT
	    " s while commands waited (%s)",
	    m->timeout_us / G_USEC_PER_SEC, states->str);
	g_warning("%s", why);
	mpath_end(m, why);
}

/*
 * Note paths going down and coming back, send what was held once one is
 * up, and give up once every path has been down past the timeout.
 */
static void mpath_check(struct mpath *m)
{
	gint64 now = g_get_monotonic_time(), oldest_down = now;
	unsigned i, up = 0;

	if (m->failed)
		return;
	for (i = 0; i < m->n; i++)
		up += usable(&m->paths[i]);
	for (i = 0; i < m->n; i++) {
		struct mpath_path *p = &m->paths[i];
		bool live = usable(p);

		if (p->refused && !p->abandoned) {
			p->abandoned = true;
			path_abandon(p, p->why, true);
		}
		if (!p->verified && !p->refused && !p->checking && path_live(p) && m->join_fn) {
			p->checking = true;
			m->join_fn(m->join_opaque, p->s);
		}

		if (live == !p->down_us)
			continue;
		if (live) {
			p->down_us = 0;
			g_message("path %u to %s rejoined: %u of %u paths up", i + 1, p->portal, up,
				  m->n);
			/* Its group's state may have changed while it was down. */
			if (m->alua_fn)
				m->alua_fn(m->alua_opaque, i);
		} else {
			p->down_us = now;
			g_warning("path %u to %s is down: %u of %u paths up", i + 1, p->portal, up,
				  m->n);
		}
	}
	if (up) {
		mpath_release_held(m);
		if (!m->held.length)
			m->held_since_us = 0;
		else
			mpath_check_blocked(m, now);
		return;
	}
	for (i = 0; i < m->n; i++)
		oldest_down = MIN(oldest_down, m->paths[i].down_us);
	/* The newest failure decides: every path must have been down this long. */
	for (i = 0; i < m->n; i++)
		if (now - m->paths[i].down_us < m->timeout_us)
			return;
	mpath_give_up(m, now - oldest_down);
}

int mpath_get_fd(struct mpath *m)
{
	return m->epfd;
}

static int mpath_turn(struct mpath *m, bool poll_paths)
{
	bool ready[MPATH_MAX_PATHS] = {false};
	struct epoll_event ev[MPATH_MAX_PATHS + 1];
	unsigned i;
	int n = 0, k;

	if (poll_paths)
		n = epoll_wait(m->epfd, ev, (int)m->n + 1, 0);
	for (k = 0; k < n; k++)
		if (ev[k].data.u32 < m->n)
			ready[ev[k].data.u32] = true;
	mpath_take_over(m);
	for (i = 0; i < m->n; i++) {
		if (path_threaded(&m->paths[i]))
			continue;
		if (ready[i])
			isa_session_service(m->paths[i].s);
		else
			isa_session_complete(m->paths[i].s);
	}
	mpath_check(m);
	return m->failed ? -1 : 0;
}

int mpath_service(struct mpath *m)
{
	return mpath_turn(m, true);
}

int mpath_complete(struct mpath *m)
{
	return mpath_turn(m, false);
}

/* Path threads cork their own sessions, each turn. */
void mpath_cork(struct mpath *m, bool on)
{
	unsigned i;

	for (i = 0; i < m->n; i++)
		if (!path_threaded(&m->paths[i]))
			isa_session_cork(m->paths[i].s, on);
}

int mpath_run(struct mpath *m, const bool *done, int timeout_ms)
{
	gint64 deadline = timeout_ms < 0 ? -1 : g_get_monotonic_time() + timeout_ms * 1000LL;

	for (;;) {
		struct epoll_event ev;
		int wait_ms = 1000;

		if (mpath_service(m) < 0)
			return *done ? 0 : -1;
		if (*done)
			return 0;
		if (deadline >= 0) {
			gint64 left = deadline - g_get_monotonic_time();

			if (left <= 0)
				return -1;
			wait_ms = (int)MIN(left / 1000 + 1, 1000);
		}
		if (epoll_wait(m->epfd, &ev, 1, wait_ms) < 0 && errno != EINTR)
			return -1;
	}
}

bool mpath_failed(const struct mpath *m)
{
	return m->failed;
}

const char *mpath_error(const struct mpath *m)
{
	return m->failed ? m->error : NULL;
}

const char *mpath_state_name(const struct mpath *m)
{
	unsigned i;

	if (m->failed)
		return "failed";
	for (i = 0; i < m->n; i++)
		if (usable(&m->paths[i]))
			return "logged-in";
	return "recovering";
}

void mpath_abandon(struct mpath *m, const char *why)
{
	mpath_end(m, why);
}

void mpath_path_status(const struct mpath *m, unsigned i, struct isa_path_status *ps)
{
	struct mpath_path *p = (struct mpath_path *)&m->paths[i];
	struct isa_session_info si;

	memset(ps, 0, sizeof(*ps));
	if (i >= m->n)
		return;
	if (path_threaded(p))
		pthread_mutex_lock(&p->lock);
	isa_session_get_info(p->s, &si);
	ps->portal = p->portal;
	ps->transport = si.transport;
	ps->state = isa_session_state_name(p->s);
	if (p->refused)
		ps->state = "refused";
	else if (!p->verified && !session_failed(p->s))
		ps->state = "joining";
	ps->outstanding = session_outstanding(p->s);
	isa_session_get_stats(p->s, &ps->stats);
	if (path_threaded(p))
		pthread_mutex_unlock(&p->lock);
}

static void add_dir(struct isa_dir_stats *to, const struct isa_dir_stats *from)
{
	unsigned b;

	to->commands += from->commands;
	to->latency_us_total += from->latency_us_total;
	for (b = 0; b <= ISA_LATENCY_BOUNDS; b++)
		to->latency_buckets[b] += from->latency_buckets[b];
}

void mpath_get_stats(const struct mpath *m, struct isa_stats *st)
{
	unsigned i, d;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < m->n; i++) {
		struct isa_path_status ps;
		const struct isa_stats *p = &ps.stats;

		mpath_path_status(m, i, &ps);
		st->commands += p->commands;
		st->bytes_read += p->bytes_read;
		st->bytes_written += p->bytes_written;
		st->copied_bytes += p->copied_bytes;
		st->retries += p->retries;
		st->errors += p->errors;
		st->latency_us_total += p->latency_us_total;
		st->reconnects += p->reconnects;
		st->connections_lost += p->connections_lost;
		/* iSER paths on one device pin one pool, counted by each. */
		st->pinned_bytes = MAX(st->pinned_bytes, p->pinned_bytes);
		st->aborts += p->aborts;
		for (d = 0; d < ISA_DIR_COUNT; d++)
			add_dir(&st->dir[d], &p->dir[d]);
	}
}

void mpath_set_alua(struct mpath *m, unsigned i, int state)
{
	struct mpath_path *p;
	const char *was;

	g_return_if_fail(i < m->n);
	p = &m->paths[i];
	if (p->alua_state == state)
		return;
	was = mpath_alua_name(m, i);
	p->alua_state = state;
	g_message("path %u to %s: ALUA %s -> %s", i + 1, p->portal, was, mpath_alua_name(m, i));
	/* A path may have become active: what waited goes now. */
	if (m->held.length && mpath_tier(p) < MPATH_TIER_NEVER && usable(p))
		mpath_release_held(m);
	if (!m->held.length)
		m->held_since_us = 0;
}

int mpath_alua(const struct mpath *m, unsigned i)
{
	return i < m->n ? m->paths[i].alua_state : -1;
}

const char *mpath_alua_name(const struct mpath *m, unsigned i)
{
	int st = mpath_alua(m, i);

	return st < 0 ? "-" : scsi_alua_state_name((uint8_t)st);
}

void mpath_watch_alua(struct mpath *m, mpath_alua_fn fn, void *opaque)
{
	m->alua_fn = fn;
	m->alua_opaque = opaque;
}
