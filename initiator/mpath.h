/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Multipath: one LUN reached through several paths, each path an iSCSI
 * session of its own (its own ISID) on one portal. Internal to the
 * library; the LUN layer (lun.c) routes its commands through it and the
 * public face is the isa_lun_* calls of include/iser-attach.h.
 */
#ifndef ISA_MPATH_H
#define ISA_MPATH_H

#include <stdbool.h>
#include <glib.h>

#include "include/iser-attach.h"
#include "initiator/session.h"

/* Portals times paths per portal. */
#define MPATH_MAX_PATHS 32

struct mpath;

/*
 * A path set whose first path is @first; the attachment fails once every
 * path has been down for longer than @replacement_timeout_s.
 */
struct mpath *mpath_new(struct isa_session *first, uint32_t replacement_timeout_s);
/* Free the set; the sessions stay their owner's. */
void mpath_free(struct mpath *m);
/*
 * End the path threads: from here on only the caller touches the
 * sessions (which it may close), served or not. mpath_free() does it.
 */
void mpath_stop_threads(struct mpath *m);
/* Add @s (put in failover mode, as the first path is) as the next path. */
void mpath_add(struct mpath *m, struct isa_session *s);
/*
 * Add @s, not shown yet to reach the LUN (down at attach), as the next
 * path: it carries nothing until mpath_path_checked() says it does.
 */
void mpath_add_joining(struct mpath *m, struct isa_session *s);
/*
 * @fn(@opaque, s): path @s logged in unverified; check it without
 * blocking and tell mpath_path_checked(): 0 it joins, -EAGAIN it lost its
 * connection meanwhile (checked again at its next login), anything else it
 * is refused for good, @why saying why (on success, what was shown).
 */
typedef void (*mpath_join_fn)(void *opaque, struct isa_session *s);
void mpath_on_join(struct mpath *m, mpath_join_fn fn, void *opaque);
void mpath_path_checked(struct mpath *m, struct isa_session *s, int result, const char *why);
bool mpath_path_refused(const struct mpath *m, unsigned i);
bool mpath_path_verified(const struct mpath *m, unsigned i);
/* The index of the path whose session is @s, or -1. */
int mpath_index_of(const struct mpath *m, const struct isa_session *s);
/* @s's path is in full feature phase (as its thread last saw it). */
bool mpath_session_live(const struct mpath *m, const struct isa_session *s);
void mpath_set_policy(struct mpath *m, enum isa_path_policy policy);
/*
 * Give every path after the first an I/O thread of its own (call before
 * adding them); the caller's thread keeps the first path and every
 * callback. Off by default.
 */
void mpath_set_threaded(struct mpath *m, bool on);
/*
 * @fn hears of the UNIT ATTENTIONs of the paths after the first, on the
 * owner's thread (the first path's session tells its own watchers).
 */
void mpath_on_ua(struct mpath *m, session_ua_fn fn, void *opaque);
unsigned mpath_count(const struct mpath *m);
struct isa_session *mpath_path(const struct mpath *m, unsigned i);

/*
 * Send @t on the path the policy picks among those in full feature phase
 * (t->s becomes that session), or keep it until a path is up again.
 */
void mpath_submit(struct mpath *m, struct isa_task *t);
/* Send @t on path @i, whatever its state (t->s becomes its session). */
void mpath_submit_to(struct mpath *m, unsigned i, struct isa_task *t);
/*
 * The indices of the paths up now, at most @max of them, in @out;
 * returns how many.
 */
unsigned mpath_live(const struct mpath *m, unsigned *out, unsigned max);
/* Path @i as it is now: what iser-list shows (the strings are the set's). */
void mpath_path_status(const struct mpath *m, unsigned i, struct isa_path_status *ps);

/* The loop contract of a session, for all paths at once (see isa_session_*). */
int mpath_get_fd(struct mpath *m);
int mpath_service(struct mpath *m);
int mpath_complete(struct mpath *m);
void mpath_cork(struct mpath *m, bool on);
int mpath_run(struct mpath *m, const bool *done, int timeout_ms);

bool mpath_failed(const struct mpath *m);
const char *mpath_error(const struct mpath *m);
/* "logged-in" while a path is up, "recovering" while none is, "failed". */
const char *mpath_state_name(const struct mpath *m);
/* End every path for good: whatever is held or in flight fails with @why. */
void mpath_abandon(struct mpath *m, const char *why);
/* The counters of all paths, summed. */
void mpath_get_stats(const struct mpath *m, struct isa_stats *st);

/*
 * ALUA: the asymmetric access state (enum scsi_alua_state) of path @i's
 * target port group, as last read, or -1 (every path's at first) for a
 * target without ALUA; it orders the paths (see mpath.c). A change is
 * logged; commands held for want of an active path go out once one is.
 */
void mpath_set_alua(struct mpath *m, unsigned i, int state);
int mpath_alua(const struct mpath *m, unsigned i);
/* "active/optimized" ... or "-" without ALUA. */
const char *mpath_alua_name(const struct mpath *m, unsigned i);
/*
 * @fn(@opaque, @i): the ALUA states should be read again, on path @i if
 * it is up: it logged in again, its port refused a command, or (once a
 * second) every path up is in a state that takes no commands while some
 * wait. Called outside the datamover upcalls; it must not block.
 */
typedef void (*mpath_alua_fn)(void *opaque, unsigned i);
void mpath_watch_alua(struct mpath *m, mpath_alua_fn fn, void *opaque);

#endif
