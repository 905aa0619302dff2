/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A pool of payload buffers registered for RDMA once, not per I/O.
 *
 * Buffers come in power-of-two size classes. When a class runs dry, a new
 * region holding several buffers of that class is mapped and registered
 * with one ibv_reg_mr(); freed buffers go back to their class's free list
 * and are handed out again, so registration cost is paid only while the
 * pool grows. Any pointer inside a region maps back to its memory region
 * (for the lkey of a local gather entry, the rkey advertised to the target)
 * through a table of regions sorted by address.
 */
#ifndef ISA_POOL_H
#define ISA_POOL_H

#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

struct dm_pool;

/**
 * pool_new() - an empty pool whose regions are registered on @pd.
 * @pd: protection domain of the connection's queue pair, or NULL for a
 *	pool that only recycles buffers (pool_find then finds no MR)
 *
 * Return: the pool; no memory is mapped until the first pool_alloc().
 */
struct dm_pool *pool_new(struct ibv_pd *pd);

/**
 * pool_alloc() - a page-aligned registered buffer of at least @len bytes.
 * @p: the pool
 * @len: bytes wanted; 0 is treated as 1
 *
 * Return: the buffer, or NULL when memory cannot be mapped or registered
 * (errno says why; ENOMEM from registration usually means RLIMIT_MEMLOCK).
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
 * pool_find() - the memory region holding [@buf, @buf + @len).
 * @p: the pool
 * @buf: start of the range
 * @len: its length
 *
 * Return: the MR, or NULL when the range is not wholly inside one region.
 */
struct ibv_mr *pool_find(const struct dm_pool *p, const void *buf, size_t len);

/**
 * pool_destroy() - deregister and unmap every region.
 * @p: the pool, or NULL
 *
 * Buffers still handed out become invalid.
 */
void pool_destroy(struct dm_pool *p);

/* Bytes registered for RDMA (pinned) right now; 0 for a pool without a PD. */
uint64_t pool_pinned(const struct dm_pool *p);

#endif
