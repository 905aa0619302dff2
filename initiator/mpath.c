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
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "initiator/mpath.h"
#include "initiator/scsi.h"

/**
 * struct mpath_path - one path.
 * @s: its session
 * @down_us: since when it has not been in full feature phase; 0 while it is
 * @avoid_until_us: its target port refused a command (standby, unavailable):
 *		    other paths first until then
 * @alua_state: the asymmetric access state of its target port group
 *		(enum scsi_alua_state), or -1 without ALUA
 */
struct mpath_path {
	struct isa_session *s;
	gint64 down_us;
	gint64 avoid_until_us;
	int alua_state;
};

/* How long a path whose port refused a command (standby) is passed over. */
#define MPATH_AVOID_US (2 * G_USEC_PER_SEC)

/**
 * struct mpath - the paths of one LUN.
 * @held: commands waiting for a path to come up (their t->link)
 * @next: where round-robin, and the tie-break of least-outstanding, start
 * @timeout_us: how long every path may be down before the LUN fails
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
	gint64 held_since_us;
	bool failed;
	char *error;
	mpath_alua_fn alua_fn;
	void *alua_opaque;
	gint64 alua_poll_us;
};

static void mpath_failover(void *opaque, struct isa_session *s, GList *tasks);

struct mpath *mpath_new(struct isa_session *first, uint32_t replacement_timeout_s)
{
	struct mpath *m = g_new0(struct mpath, 1);

	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	m->timeout_us = (gint64)replacement_timeout_s * G_USEC_PER_SEC;
	g_queue_init(&m->held);
	mpath_add(m, first);
	return m;
}

void mpath_free(struct mpath *m)
{
	unsigned i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		session_set_failover(m->paths[i].s, NULL, NULL);
	if (m->epfd >= 0)
		close(m->epfd);
	g_free(m->error);
	g_free(m);
}

void mpath_add(struct mpath *m, struct isa_session *s)
{
	struct epoll_event ev = {.events = EPOLLIN};

	g_return_if_fail(m->n < MPATH_MAX_PATHS);
	ev.data.u32 = m->n;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, isa_session_get_fd(s), &ev) < 0)
		g_warning("multipath: cannot watch path %u: %s", m->n + 1, g_strerror(errno));
	m->paths[m->n].s = s;
	m->paths[m->n].down_us = session_live(s) ? 0 : g_get_monotonic_time();
	m->paths[m->n].alua_state = -1;
	m->n++;
	session_set_failover(s, mpath_failover, m);
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

unsigned mpath_live(const struct mpath *m, struct isa_session **out, unsigned max)
{
	unsigned i, k = 0;

	for (i = 0; i < m->n && k < max; i++)
		if (session_live(m->paths[i].s))
			out[k++] = m->paths[i].s;
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
		struct isa_session *s = m->paths[k].s;
		unsigned load;

		if (!session_live(s) || mpath_tier(&m->paths[k]) != tier ||
		    (!avoided && m->paths[k].avoid_until_us > now))
			continue;
		if (m->policy == ISA_PATH_ROUND_ROBIN) {
			best = (int)k;
			break;
		}
		load = session_outstanding(s);
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

void mpath_submit(struct mpath *m, struct isa_task *t)
{
	int i;

	if (m->failed) {
		session_task_fail(t->s, t, -ENOTCONN, m->error);
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
	t->s = m->paths[i].s;
	session_task_submit(t->s, t);
}

/* A path lost its connection: what it held goes to the others now. */
static void mpath_failover(void *opaque, struct isa_session *s, GList *tasks)
{
	struct mpath *m = opaque;
	struct isa_session_info si;
	GList *l, *next;

	isa_session_get_info(s, &si);
	if (session_live(s)) {
		/* Logged in, and its port refused these: standby or unavailable. */
		for (unsigned i = 0; i < m->n; i++) {
			struct mpath_path *p = &m->paths[i];

			if (p->s != s)
				continue;
			if (p->avoid_until_us < g_get_monotonic_time())
				g_message("path %u to %s: its target port refused %u commands "
					  "(standby or unavailable); other paths first for %d s",
					  i + 1, si.portal, g_list_length(tasks),
					  (int)(MPATH_AVOID_US / G_USEC_PER_SEC));
			p->avoid_until_us = g_get_monotonic_time() + MPATH_AVOID_US;
			/* The state we knew is stale. */
			if (m->alua_fn)
				m->alua_fn(m->alua_opaque, i);
		}
	} else {
		g_message("path to %s lost: %u commands sent again on the other paths", si.portal,
			  g_list_length(tasks));
	}
	for (l = tasks; l; l = next) {
		next = l->next;
		l->next = NULL;
		l->prev = NULL;
		mpath_submit(m, l->data);
	}
}

/* Fail what is held: there is no path to send it on. */
static void mpath_fail_held(struct mpath *m)
{
	GList *l;

	while ((l = g_queue_pop_head_link(&m->held))) {
		struct isa_task *t = l->data;

		session_task_fail(t->s, t, -ENOTCONN, m->error);
	}
	m->held_since_us = 0;
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
		isa_session_abandon(m->paths[i].s, why);
}

/* Every path has been down past the timeout, the first for @down_us. */
static void mpath_give_up(struct mpath *m, gint64 down_us)
{
	const struct mpath_path *last = &m->paths[0];
	g_autofree char *why = NULL;
	unsigned i;

	/* The path that went down last says why. */
	for (i = 1; i < m->n; i++)
		if (m->paths[i].down_us > last->down_us)
			last = &m->paths[i];
	why = g_strdup_printf("every path has been down for more than %" G_GINT64_FORMAT
			      " s (the first for %" G_GINT64_FORMAT " s); last error: %s",
			      m->timeout_us / G_USEC_PER_SEC, down_us / G_USEC_PER_SEC,
			      last->s->error ? last->s->error : "?");
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
		if (!session_live(m->paths[i].s))
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
		up += session_live(m->paths[i].s);
	for (i = 0; i < m->n; i++) {
		struct mpath_path *p = &m->paths[i];
		struct isa_session_info si;
		bool live = session_live(p->s);

		if (live == !p->down_us)
			continue;
		isa_session_get_info(p->s, &si);
		if (live) {
			p->down_us = 0;
			g_message("path %u to %s rejoined: %u of %u paths up", i + 1, si.portal, up,
				  m->n);
			/* Its group's state may have changed while it was down. */
			if (m->alua_fn)
				m->alua_fn(m->alua_opaque, i);
		} else {
			p->down_us = now;
			g_warning("path %u to %s is down: %u of %u paths up", i + 1, si.portal, up,
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
	struct epoll_event ev[MPATH_MAX_PATHS];
	unsigned i;
	int n = 0, k;

	if (poll_paths)
		n = epoll_wait(m->epfd, ev, (int)m->n, 0);
	for (k = 0; k < n; k++)
		if (ev[k].data.u32 < m->n)
			ready[ev[k].data.u32] = true;
	for (i = 0; i < m->n; i++) {
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

void mpath_cork(struct mpath *m, bool on)
{
	unsigned i;

	for (i = 0; i < m->n; i++)
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
		if (session_live(m->paths[i].s))
			return "logged-in";
	return "recovering";
}

void mpath_abandon(struct mpath *m, const char *why)
{
	mpath_end(m, why);
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
		struct isa_stats p;

		isa_session_get_stats(m->paths[i].s, &p);
		st->commands += p.commands;
		st->bytes_read += p.bytes_read;
		st->bytes_written += p.bytes_written;
		st->copied_bytes += p.copied_bytes;
		st->retries += p.retries;
		st->errors += p.errors;
		st->latency_us_total += p.latency_us_total;
		st->reconnects += p.reconnects;
		st->connections_lost += p.connections_lost;
		st->pinned_bytes += p.pinned_bytes;
		st->aborts += p.aborts;
		for (d = 0; d < ISA_DIR_COUNT; d++)
			add_dir(&st->dir[d], &p.dir[d]);
	}
}

void mpath_set_alua(struct mpath *m, unsigned i, int state)
{
	struct mpath_path *p;
	struct isa_session_info si;
	const char *was;

	g_return_if_fail(i < m->n);
	p = &m->paths[i];
	if (p->alua_state == state)
		return;
	was = mpath_alua_name(m, i);
	p->alua_state = state;
	isa_session_get_info(p->s, &si);
	g_message("path %u to %s: ALUA %s -> %s", i + 1, si.portal, was, mpath_alua_name(m, i));
	/* A path may have become active: what waited goes now. */
	if (m->held.length && mpath_tier(p) < MPATH_TIER_NEVER && session_live(p->s))
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
