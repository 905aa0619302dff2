/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ALUA for multipath: the states of the target port groups, read again
 * when they may have changed.
 *
 * At attach time lun.c reads each path's port (VPD 83 types 4 and 5) and
 * the states (REPORT TARGET PORT GROUPS) with its blocking probes. Later
 * reads must not block the owner's loop: a read is an ordinary task on
 * one path's session, whose done callback parses the answer and sets
 * every path's state in the multipath layer. One REPORT TARGET PORT
 * GROUPS answers for every group, whichever port it went to, so one read
 * serves all paths. It is due when
 *   - a command meets UNIT ATTENTION 2A/06 (asymmetric access state
 *     changed) or 2A/07 (implicit asymmetric access state transition
 *     failed), or NOT READY 04/0A (in transition), on any path;
 *   - a path logs in again (its group may have changed while it was down);
 *   - a path's port refuses a command (NOT READY 04/0B standby, 04/0C
 *     unavailable) that we thought active;
 *   - once a second, while every path up is in a state that takes no
 *     commands and commands wait (mpath.c).
 * A read asked for while one is in flight is done once more after it:
 * the states may have changed after the target answered.
 */
#include <errno.h>
#include <string.h>

#include "initiator/alua.h"
#include "initiator/session.h"

/**
 * struct alua - the ALUA side of one LUN's paths.
 * @m: the paths
 * @ports: where each path's port sits
 * @busy: a REPORT TARGET PORT GROUPS is due or in flight
 * @again: asked for again meanwhile, on path @again_path
 * @buf: its answer (from the session it went on, @buf_s)
 * @outstanding: the LUN's count of what its close waits for
 */
struct alua {
	struct mpath *m;
	uint32_t lun;
	struct alua_port ports[MPATH_MAX_PATHS];
	bool watched[MPATH_MAX_PATHS];
	bool busy;
	bool again;
	unsigned again_path;
	unsigned path;
	uint8_t *buf;
	struct isa_session *buf_s;
	unsigned *outstanding;
	bool warned;
};

static void alua_path_event(void *opaque, unsigned i)
{
	alua_reread(opaque, i);
}

struct alua *alua_new(struct mpath *m, uint32_t lun, unsigned *outstanding)
{
	struct alua *a = g_new0(struct alua, 1);

	a->m = m;
	a->lun = lun;
	a->outstanding = outstanding;
	mpath_watch_alua(m, alua_path_event, a);
	return a;
}

void alua_free(struct alua *a)
{
	unsigned i;

	if (!a)
		return;
	g_warn_if_fail(!a->busy);
	mpath_watch_alua(a->m, NULL, NULL);
	for (i = 0; i < mpath_count(a->m); i++)
		if (a->watched[i])
			session_unwatch_ua(mpath_path(a->m, i), a);
	g_free(a);
}

int alua_state_of(const struct scsi_tpg_list *groups, const struct alua_port *port)
{
	const struct scsi_tpg *g =
	    scsi_tpg_find(groups, port->have_tpg, port->tpg, port->have_rel, port->rel_port);

	return g ? g->state : -1;
}

void alua_apply(struct alua *a, const struct scsi_tpg_list *groups)
{
	unsigned i;

	for (i = 0; i < mpath_count(a->m); i++) {
		int st = alua_state_of(groups, &a->ports[i]);

		/* A port no group names keeps what we knew (its designators say nothing). */
		if (st >= 0)
			mpath_set_alua(a->m, i, st);
	}
}

static void alua_start(void *opaque);

static void alua_done(struct isa_task *t)
{
	struct alua *a = t->opaque;
	struct scsi_tpg_list groups = {0};
	g_autoptr(GError) err = NULL;
	uint32_t got = t->edtl - (t->underflow ? MIN(t->residual, t->edtl) : 0);

	if (t->result) {
		if (!a->warned)
			g_warning("LUN %u: REPORT TARGET PORT GROUPS failed: %s; keeping the "
				  "ALUA states we had",
				  a->lun, t->msg);
		a->warned = true;
	} else if (scsi_parse_report_tpgs(a->buf, got, &groups, &err)) {
		g_warning("LUN %u: REPORT TARGET PORT GROUPS: %s", a->lun, err->message);
	} else {
		a->warned = false;
		alua_apply(a, &groups);
		g_array_unref(groups.groups);
	}
	session_task_free(t);
	isa_buf_free(a->buf_s, a->buf, ALUA_RTPG_LEN);
	a->buf = NULL;
	if (a->again) {
		a->again = false;
		a->path = a->again_path;
		alua_start(a);
		return;
	}
	a->busy = false;
	(*a->outstanding)--;
}

/* The path to ask: @i when up, else the first that is, else @i (it holds the task). */
static unsigned alua_pick(const struct alua *a, unsigned i)
{
	unsigned k, n = mpath_count(a->m);

	if (i < n && mpath_session_live(a->m, mpath_path(a->m, i)))
		return i;
	for (k = 0; k < n; k++)
		if (mpath_session_live(a->m, mpath_path(a->m, k)))
			return k;
	return i < n ? i : 0;
}

/* Runs with a->busy set and counted in *a->outstanding. */
static void alua_start(void *opaque)
{
	struct alua *a = opaque;
	uint8_t cdb[SCSI_CDB_MAX];
	size_t cl = scsi_cdb_report_tpgs(cdb, ALUA_RTPG_LEN);
	unsigned i = alua_pick(a, a->path);
	/* Buffers come from the first path's session, the owner's thread's. */
	struct isa_session *s = mpath_path(a->m, 0);
	struct isa_task *t;

	a->buf = isa_buf_alloc(s, ALUA_RTPG_LEN);
	if (!a->buf) {
		g_warning("LUN %u: no buffer to read the ALUA states into", a->lun);
		a->busy = a->again = false;
		(*a->outstanding)--;
		return;
	}
	a->buf_s = s;
	t = session_task_new(s, a->lun, cdb, (uint8_t)cl, true, a->buf, ALUA_RTPG_LEN, alua_done,
			     a);
	/*
	 * On that path itself, not by the multipath policy: a standby port
	 * answers REPORT TARGET PORT GROUPS (SPC-4 5.16.2.4.4), and it may be
	 * the only port up. Should its connection be lost, the command goes to
	 * another path like any other.
	 */
	mpath_submit_to(a->m, i, t);
}

void alua_reread(struct alua *a, unsigned i)
{
	if (a->busy) {
		a->again = true;
		a->again_path = i;
		return;
	}
	a->busy = true;
	a->path = i;
	(*a->outstanding)++;
	/* Never from inside an upcall: the first path's session runs it next turn. */
	session_defer(mpath_path(a->m, 0), alua_start, a);
}

/*
 * From inside the upcall (path 1), or relayed by the multipath layer (the
 * other paths, lun.c): take note, read the states later.
 */
void alua_unit_attention(void *opaque, uint32_t lun, uint8_t asc, uint8_t ascq)
{
	struct alua *a = opaque;

	if (lun != a->lun ||
	    !((asc == 0x2a && (ascq == 0x06 || ascq == 0x07)) || (asc == 0x04 && ascq == 0x0a)))
		return;
	/* Which path it came on the upcall does not say; any path's answer covers all. */
	alua_reread(a, 0);
}

void alua_add_path(struct alua *a, unsigned i, const struct alua_port *port, int state)
{
	g_return_if_fail(i < mpath_count(a->m));
	a->ports[i] = *port;
	/* The other paths' reach us through lun.c: they may run on threads of their own. */
	if (i == 0 && !a->watched[i]) {
		session_watch_ua(mpath_path(a->m, i), alua_unit_attention, a);
		a->watched[i] = true;
	}
	if (state >= 0)
		mpath_set_alua(a->m, i, state);
}
