/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Requests the kernel's nbd driver sends again wait for their first copy.
 *
 * When the driver drops a socket (a request on it timed out), it sends
 * that socket's requests again on another, while the first copies are
 * still with the initiator: held by a recovering session, or at a slow
 * target. Both copies of a write carry the same data, but nothing orders
 * them: the second may complete, the driver complete the request, the
 * file system write the same blocks anew, and then the first copy land
 * over it with the old data. So the requests of a dropped kernel socket
 * that the initiator has become orphans (their replies have nowhere to
 * go), and until they have finished:
 *
 * - a WRITE, TRIM or WRITE_ZEROES from the kernel overlapping an orphan
 *   that changes data (or a request held before it that it overlaps)
 *   is held;
 * - a FLUSH from the kernel is held while any orphan changes data, since
 *   the driver takes its completion to cover every write acknowledged
 *   before it, the second copies included;
 * - reads, and clients other than the kernel's, are not held.
 *
 * Held requests go to the initiator in the order they came as soon as
 * nothing they overlap is left; those whose socket was dropped meanwhile
 * are dropped too, never sent (the driver sends them again). Orphans are
 * few and finish when the target answers again (or fail at the
 * replacement timeout), so holding costs nothing while all is well.
 */
#include "nbd/internal.h"

static bool changes_data(const struct nbd_req *r)
{
	return r->type == NBD_CMD_WRITE || r->type == NBD_CMD_TRIM ||
	       r->type == NBD_CMD_WRITE_ZEROES;
}

static bool overlap(const struct nbd_req *a, const struct nbd_req *b)
{
	return a->offset < b->offset + b->len && b->offset < a->offset + a->len;
}

/* Whether @r must wait for an orphan, or for a held request in @held up to @upto. */
static bool must_wait(const struct nbd_server *srv, const struct nbd_req *r, const GList *upto)
{
	const GList *l;

	if (r->type != NBD_CMD_FLUSH && !changes_data(r))
		return false;
	for (l = srv->orphans.head; l; l = l->next) {
		const struct nbd_req *o = l->data;

		if (changes_data(o) && (r->type == NBD_CMD_FLUSH || overlap(r, o)))
			return true;
	}
	for (l = srv->held.head; l && l != upto; l = l->next) {
		const struct nbd_req *h = l->data;

		if (r->type == NBD_CMD_FLUSH || h->type == NBD_CMD_FLUSH || overlap(r, h))
			return true;
	}
	return false;
}

void nbd_fence_lost(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;
	GList *l;

	for (l = c->inflight.head; l; l = l->next) {
		struct nbd_req *r = l->data;

		if (r->held || r->orphan)
			continue;
		r->orphan = true;
		r->fence_link.data = r;
		g_queue_push_tail_link(&srv->orphans, &r->fence_link);
	}
}

bool nbd_fence_hold(struct nbd_req *r)
{
	struct nbd_server *srv = r->conn->srv;

	if (!r->conn->kernel || !must_wait(srv, r, NULL))
		return false;
	r->held = true;
	r->fence_link.data = r;
	g_queue_push_tail_link(&srv->held, &r->fence_link);
	srv->stats.held++;
	return true;
}

/*
 * Send the held requests that have nothing left to wait for, in order, in
 * one pass: a request waits only for orphans and for requests held before
 * it, so those released earlier in the pass are already gone when it is
 * looked at, and sending one changes no orphan.
 */
static void release(struct nbd_server *srv)
{
	GList *l, *next;

	if (srv->releasing)
		return;
	srv->releasing = true;
	for (l = srv->held.head; l; l = next) {
		struct nbd_req *r = l->data;

		next = l->next;
		if (r->conn->fd >= 0 && !r->conn->lost_told && must_wait(srv, r, l))
			continue;
		g_queue_unlink(&srv->held, l);
		r->held = false;
		nbd_tx_submit_held(r);
	}
	srv->releasing = false;
}

void nbd_fence_done(struct nbd_req *r)
{
	struct nbd_server *srv = r->conn->srv;

	g_queue_unlink(&srv->orphans, &r->fence_link);
	r->orphan = false;
	release(srv);
}

void nbd_fence_forget(struct nbd_server *srv)
{
	GList *l;

	while ((l = g_queue_pop_head_link(&srv->orphans)))
		((struct nbd_req *)l->data)->orphan = false;
	/* Never sent, so no callback would free them. */
	while ((l = g_queue_pop_head_link(&srv->held))) {
		struct nbd_req *r = l->data;

		r->held = false;
		nbd_tx_drop_held(r);
	}
}
