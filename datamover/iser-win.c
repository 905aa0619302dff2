// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Per-command windows of the iSER datamover (see iser-win.h).
 *
 * Free memory windows wait in a queue and are reused oldest first, so that
 * the 8-bit key of a window's STag, which each bind advances, comes round
 * again only after every window has been bound 256 times: an STag a target
 * kept from an old command does not match a new window by chance soon.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "datamover/iser-win.h"

/**
 * struct iser_wins - the windows of one connection.
 * @pd: where windows are allocated and buffers registered
 * @mw: type 2 memory windows, else a registration per command
 * @free: struct iser_win, oldest first (mw mode)
 * @all: every window allocated (mw mode) or open (mr mode), for wins_destroy()
 * @retiring: remote-read windows answered but still registered, oldest
 *	      first (mr mode; see iser-win.h)
 * @reads_opened: remote-read windows opened so far
 * @replays: how many newer RDMA Reads push one out of the responder's list
 */
struct iser_wins {
	struct ibv_pd *pd;
	bool mw;
	GQueue free;
	GPtrArray *all;
	GQueue retiring;
	uint64_t reads_opened;
	uint32_t replays;
};

static bool device_has_mw2(struct ibv_context *ctx)
{
	struct ibv_device_attr da;

	if (ibv_query_device(ctx, &da))
		return false;
	return (da.device_cap_flags & IBV_DEVICE_MEM_WINDOW_TYPE_2B) && da.max_mw > 0;
}

struct iser_wins *wins_new(struct ibv_pd *pd, uint32_t replays, char **why)
{
	struct iser_wins *w = g_new0(struct iser_wins, 1);
	const char *force = getenv("ISA_ISER_WINDOWS");

	w->pd = pd;
	w->all = g_ptr_array_new();
	w->replays = replays ? replays : 1;
	g_queue_init(&w->free);
	g_queue_init(&w->retiring);
	if (!force || strcmp(force, "mw") != 0) {
		*why = g_strdup("a memory registration per command");
	} else if (!device_has_mw2(pd->context)) {
		*why =
		    g_strdup_printf("a memory registration per command (ISA_ISER_WINDOWS=mw, but "
				    "%s has no type 2B memory windows)",
				    ibv_get_device_name(pd->context->device));
	} else {
		w->mw = true;
		*why = g_strdup("a type 2 memory window per command (ISA_ISER_WINDOWS=mw)");
	}
	return w;
}

bool wins_are_mw(const struct iser_wins *w)
{
	return w->mw;
}

static struct iser_win *mw_get(struct iser_wins *w)
{
	struct iser_win *win = g_queue_pop_head(&w->free);

	if (win)
		return win;
	win = g_new0(struct iser_win, 1);
	win->mw = ibv_alloc_mw(w->pd, IBV_MW_TYPE_2);
	if (!win->mw) {
		int saved = errno ? errno : ENOMEM;

		g_free(win);
		errno = saved;
		return NULL;
	}
	g_ptr_array_add(w->all, win);
	return win;
}

struct iser_win *win_open(struct iser_wins *w, struct ibv_mr *mr, const void *addr, uint32_t len,
			  int access, struct ibv_send_wr *bind)
{
	struct iser_win *win;

	if (!w->mw) {
		win = g_new0(struct iser_win, 1);
		/* Remote write needs local write (IB spec C10-74). */
		if (access & IBV_ACCESS_REMOTE_WRITE)
			access |= IBV_ACCESS_LOCAL_WRITE;
		win->mr = ibv_reg_mr(w->pd, (void *)addr, len, access);
		if (!win->mr) {
			int saved = errno ? errno : ENOMEM;

			g_free(win);
			errno = saved;
			return NULL;
		}
		win->rkey = win->mr->rkey;
		if (!(access & IBV_ACCESS_REMOTE_WRITE))
			win->seq = ++w->reads_opened;
		g_ptr_array_add(w->all, win);
		return win;
	}
	win = mw_get(w);
	if (!win)
		return NULL;
	win->rkey = ibv_inc_rkey(win->mw->rkey);
	memset(bind, 0, sizeof(*bind));
	bind->opcode = IBV_WR_BIND_MW;
	bind->bind_mw.mw = win->mw;
	bind->bind_mw.rkey = win->rkey;
	bind->bind_mw.bind_info.mr = mr;
	bind->bind_mw.bind_info.addr = (uintptr_t)addr;
	bind->bind_mw.bind_info.length = len;
	bind->bind_mw.bind_info.mw_access_flags = (unsigned int)access;
	return win;
}

void win_posted(const struct ibv_send_wr *wr)
{
	/*
	 * The provider names the window by the STag it has now (rxe checks
	 * it), so the new one is recorded only once the bind is posted.
	 */
	wr->bind_mw.mw->rkey = wr->bind_mw.rkey;
}

void win_inv_wr(const struct iser_win *win, struct ibv_send_wr *wr)
{
	memset(wr, 0, sizeof(*wr));
	wr->opcode = IBV_WR_LOCAL_INV;
	wr->invalidate_rkey = win->rkey;
}

void win_close(struct iser_wins *w, struct iser_win *win)
{
	if (!win)
		return;
	if (!w->mw) {
		ibv_dereg_mr(win->mr);
		g_ptr_array_remove_fast(w->all, win);
		g_free(win);
		return;
	}
	g_queue_push_tail(&w->free, win);
}

void win_answered(struct iser_wins *w, const struct iser_win *win)
{
	GList *l;

	if (w->mw || !win || !win->seq)
		return;
	/* Retired in order, so those retired before @win was opened lead. */
	for (l = w->retiring.head; l; l = l->next) {
		struct iser_win *old = l->data;

		if (old->retired_at >= win->seq)
			break;
		old->later++;
	}
	while (!g_queue_is_empty(&w->retiring)) {
		struct iser_win *old = g_queue_peek_head(&w->retiring);

		if (old->later < w->replays)
			break;
		g_queue_pop_head(&w->retiring);
		win_close(w, old);
	}
}

void win_retire(struct iser_wins *w, struct iser_win *win)
{
	if (!win)
		return;
	if (w->mw || !win->seq) {
		win_close(w, win);
		return;
	}
	win->retired_at = w->reads_opened;
	win->later = 0;
	g_queue_push_tail(&w->retiring, win);
}

unsigned int wins_retiring(const struct iser_wins *w)
{
	return w ? w->retiring.length : 0;
}

void wins_destroy(struct iser_wins *w)
{
	guint i;

	if (!w)
		return;
	for (i = 0; i < w->all->len; i++) {
		struct iser_win *win = g_ptr_array_index(w->all, i);

		if (win->mw)
			ibv_dealloc_mw(win->mw);
		if (win->mr)
			ibv_dereg_mr(win->mr);
		g_free(win);
	}
	g_ptr_array_unref(w->all);
	g_queue_clear(&w->free);
	g_queue_clear(&w->retiring);
	g_free(w);
}
