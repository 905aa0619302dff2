// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The per-device protection domain and payload pool of the process's iSER
 * connections (see iser-share.h).
 */
#include <errno.h>
#include <pthread.h>
#include <glib.h>

#include "datamover/iser-share.h"

/* Connections connect on the threads of their paths. */
static pthread_mutex_t shares_lock = PTHREAD_MUTEX_INITIALIZER;
static GSList *shares;

struct iser_share *iser_share_get(struct ibv_context *ctx, uint64_t max_pinned)
{
	struct iser_share *sh = NULL;
	GSList *l;

	pthread_mutex_lock(&shares_lock);
	for (l = shares; l; l = l->next)
		if (((struct iser_share *)l->data)->ctx == ctx)
			sh = l->data;
	if (!sh) {
		struct ibv_pd *pd = ibv_alloc_pd(ctx);

		if (pd) {
			sh = g_new0(struct iser_share, 1);
			sh->ctx = ctx;
			sh->pd = pd;
			sh->budget.max = max_pinned;
			shares = g_slist_prepend(shares, sh);
		}
	}
	if (sh)
		sh->refs++;
	pthread_mutex_unlock(&shares_lock);
	if (!sh && !errno)
		errno = ENOMEM;
	return sh;
}

struct dm_pool *iser_share_pool(struct iser_share *sh, int access)
{
	struct dm_pool *p;

	pthread_mutex_lock(&shares_lock);
	if (!sh->pool)
		sh->pool = pool_new_rdma(sh->pd, access, true, &sh->budget);
	p = sh->pool;
	pthread_mutex_unlock(&shares_lock);
	return p;
}

void iser_share_put(struct iser_share *sh)
{
	if (!sh)
		return;
	pthread_mutex_lock(&shares_lock);
	if (--sh->refs) {
		pthread_mutex_unlock(&shares_lock);
		return;
	}
	shares = g_slist_remove(shares, sh);
	pthread_mutex_unlock(&shares_lock);
	pool_destroy(sh->pool);
	ibv_dealloc_pd(sh->pd);
	g_free(sh);
}
