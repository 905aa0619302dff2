/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A pool of buffers registered for RDMA once, not per I/O.
 *
 * Buffers come in power-of-two size classes. When a class runs dry, a new
 * region holding several buffers of that class is mapped and registered;
 * freed buffers go back to their class's free list and are handed out
 * again, so registration cost is paid only while the pool grows. A pointer
 * inside a region maps back to its memory region (MR) through a table of
 * regions sorted by address.
 *
 * How a region is registered is the pool's kind:
 *
 *   one MR per region   the iSER control memory (send ring, receive
 *                       buffers): local access only, the target never
 *                       reaches it
 *   one MR per buffer   payload buffers: local write and memory-window
 *                       binding only. The target reaches a buffer only
 *                       through a window bound for one command (iser-win.h);
 *                       the MR of the buffer alone bounds what a window over
 *                       it can reach, on providers that check the window's
 *                       range against its MR only (rdma_rxe in Linux 6.1)
 *
 * Pinned memory is bounded: the pools of one connection share a budget. A
 * region that would pass it is not mapped; idle regions (every buffer free)
 * are released first, then pool_alloc() fails with EAGAIN so that the
 * caller waits for a buffer to come back. Regions idle for a while are
 * released by pool_trim().
 */
#ifndef ISA_POOL_H
#define ISA_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

struct dm_pool;

/**
 * struct pool_budget - pinned bytes the pools sharing it may hold.
 * @max: the bound; 0 for none
 * @used: bytes registered now, over every pool sharing the budget
 */
struct pool_budget {
	uint64_t max;
	uint64_t used;
};

/**
 * pool_new() - an empty pool that only recycles memory (no registration).
 * @pd: must be NULL (the TCP datamover)
 *
 * Return: the pool; no memory is mapped until the first pool_alloc().
 */
struct dm_pool *pool_new(struct ibv_pd *pd);

/**
 * pool_new_rdma() - an empty pool whose regions are registered on @pd.
 * @pd: protection domain of the connection's queue pair (NULL: nothing is
 *	registered, but the budget is kept all the same, as for tests)
 * @access: ibv_access_flags of every MR
 * @per_buffer: one MR per buffer (payload) instead of one per region
 * @budget: the pinned-memory budget to count against, or NULL for none
 *
 * Return: the pool.
 */
struct dm_pool *pool_new_rdma(struct ibv_pd *pd, int access, bool per_buffer,
			      struct pool_budget *budget);

/**
 * pool_alloc() - a page-aligned buffer of at least @len bytes.
 * @p: the pool
 * @len: bytes wanted; 0 is treated as 1
 *
 * Return: the buffer, or NULL with errno EAGAIN when the budget is spent
 * (a buffer given back may make room), E2BIG when @len alone is over the
 * budget, or what mapping or registering failed with (ENOMEM from
 * registration usually means RLIMIT_MEMLOCK).
 */
void *pool_alloc(struct dm_pool *p, size_t len);

/**
 * pool_usable() - how many bytes pool_alloc(@len) really reserves.
 * @len: bytes asked for
 *
 * Return: the size of @len's class (a page multiple above the largest).
 */
size_t pool_usable(size_t len);

/**
 * pool_free() - give back a buffer of pool_alloc().
 * @p: the pool
 * @buf: the buffer, or NULL
 *
 * Its size class is known from the region it lies in, so no length is
 * needed. A pointer the pool never handed out is reported and ignored.
 */
void pool_free(struct dm_pool *p, void *buf);

/**
 * pool_find() - the memory region through which [@buf, @buf + @len) is
 * reached.
 * @p: the pool
 * @buf: start of the range
 * @len: its length
 *
 * Return: the MR, or NULL when the range is not wholly inside one region
 * (in a pool of one MR per buffer: inside one buffer).
 */
struct ibv_mr *pool_find(const struct dm_pool *p, const void *buf, size_t len);

/**
 * pool_trim() - release the regions that have been idle for @idle_us.
 * @p: the pool
 * @now_us: g_get_monotonic_time() now
 * @idle_us: how long every buffer of a region must have been free
 *
 * Return: bytes released.
 */
uint64_t pool_trim(struct dm_pool *p, int64_t now_us, int64_t idle_us);

/**
 * pool_destroy() - deregister and unmap every region.
 * @p: the pool, or NULL
 *
 * Buffers still handed out become invalid.
 */
void pool_destroy(struct dm_pool *p);

/* Bytes this pool has registered (pinned) now; 0 for pool_new(NULL). */
uint64_t pool_pinned(const struct dm_pool *p);

#endif
