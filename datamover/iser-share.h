/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the iSER connections of one process share per RDMA device: one
 * protection domain and one payload pool registered on it, so that a
 * buffer from the pool is reachable (through the window or MR of one
 * command) on every queue pair of that device, whichever path a command
 * takes. Multipath needs this: the LUN layer allocates a request's buffer
 * before it picks the path. Connections to another device have a share
 * of their own; a buffer of one device's pool sent on another device's
 * path is bounced (counted as copied), as any unregistered buffer is.
 *
 * The pinned budget is the share's too: the payload pool and the control
 * memory of every connection on the device count against one bound, the
 * first connection's. Shares are counted; the last connection to let go
 * frees the pool and the PD.
 */
#ifndef ISA_ISER_SHARE_H
#define ISA_ISER_SHARE_H

#include <infiniband/verbs.h>

#include "datamover/pool.h"

/**
 * struct iser_share - one device's PD, payload pool and budget.
 * @ctx: the device context (librdmacm opens each device once per process)
 * @pd: the protection domain of every queue pair on @ctx
 * @pool: payload buffers, once iser_share_pool() made it
 * @budget: pinned bytes of @pool and of every connection's control memory
 * @refs: connections holding it
 */
struct iser_share {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct dm_pool *pool;
	struct pool_budget budget;
	unsigned refs;
};

/*
 * The share of @ctx, made with a bound of @max_pinned bytes when there is
 * none yet (a later connection's bound is not taken); NULL with errno set
 * when no PD could be allocated.
 */
struct iser_share *iser_share_get(struct ibv_context *ctx, uint64_t max_pinned);
/* The payload pool of @sh, made with @access on the first call. */
struct dm_pool *iser_share_pool(struct iser_share *sh, int access);
/* Let go of @sh; the last one frees it. */
void iser_share_put(struct iser_share *sh);

#endif
