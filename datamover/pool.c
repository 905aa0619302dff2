// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The registered buffer pool of the iSER datamover (see pool.h).
 *
 * Free buffers are kept on intrusive lists: the first word of a free buffer
 * points to the next one. Memory is mapped with mmap() so that regions are
 * page aligned and go straight back to the kernel when released.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <glib.h>

#include "datamover/pool.h"

/* Smallest class 4 KiB (page aligned buffers), largest 64 MiB. */
#define POOL_MIN_SHIFT 12
#define POOL_MAX_SHIFT 26
#define POOL_CLASSES   (POOL_MAX_SHIFT - POOL_MIN_SHIFT + 1)
/* Small classes are registered this many bytes at a time. */
#define POOL_REGION_BYTES (2u << 20)
/* Region class of a buffer larger than the largest class: its own region. */
#define POOL_HUGE (-1)

/**
 * struct pool_region - one mapping and its registration.
 * @base: start of the mapping
 * @len: its length
 * @mrs: its MRs: one, or one per buffer (@len / class size), or none
 * @nmrs: how many
 * @cls: size class of the buffers carved from it, or POOL_HUGE
 * @used: buffers handed out
 * @idle_since: monotonic time @used last dropped to 0
 */
struct pool_region {
	uint8_t *base;
	size_t len;
	struct ibv_mr **mrs;
	uint32_t nmrs;
	int cls;
	uint32_t used;
	int64_t idle_since;
};

/**
 * struct dm_pool - the pool.
 * @pd: where regions are registered, or NULL for memory that is only
 *	recycled (the TCP datamover: no registration, but no mmap/munmap and
 *	page faults per request either)
 * @access: access flags of the MRs
 * @per_buffer: one MR per buffer
 * @budget: pinned bytes allowed, shared with other pools, or NULL
 * @pinned: bytes registered by this pool
 * @regions: struct pool_region, sorted by @base
 * @free: per size class, the first free buffer or NULL
 * @lock: held by every call but pool_destroy(): connections of several
 *	  threads share a payload pool (iser-share.c), and the owner of a
 *	  LUN allocates from it while they look buffers up
 */
struct dm_pool {
	struct ibv_pd *pd;
	int access;
	bool per_buffer;
	struct pool_budget *budget;
	uint64_t pinned;
	GArray *regions;
	void *free[POOL_CLASSES];
	pthread_mutex_t lock;
};

uint64_t pool_pinned(const struct dm_pool *p)
{
	return p ? __atomic_load_n(&p->pinned, __ATOMIC_RELAXED) : 0;
}

struct dm_pool *pool_new(struct ibv_pd *pd)
{
	struct dm_pool *p = g_new0(struct dm_pool, 1);

	g_return_val_if_fail(pd == NULL, p);
	pthread_mutex_init(&p->lock, NULL);
	p->regions = g_array_new(FALSE, FALSE, sizeof(struct pool_region));
	return p;
}

struct dm_pool *pool_new_rdma(struct ibv_pd *pd, int access, bool per_buffer,
			      struct pool_budget *budget)
{
	struct dm_pool *p = pool_new(NULL);

	p->pd = pd;
	p->access = access;
	p->per_buffer = per_buffer;
	p->budget = budget;
	return p;
}

static size_t class_size(int cls)
{
	return (size_t)1 << (cls + POOL_MIN_SHIFT);
}

/* The smallest class holding @len bytes, or POOL_HUGE. */
static int class_of(size_t len)
{
	int cls = 0;

	if (len > class_size(POOL_CLASSES - 1))
		return POOL_HUGE;
	while (class_size(cls) < len)
		cls++;
	return cls;
}

/* Bytes of one buffer of region @r. */
static size_t buf_size(const struct pool_region *r)
{
	return r->cls == POOL_HUGE ? r->len : class_size(r->cls);
}

/* Index of the last region starting at or below @addr, or -1. */
static gssize region_index(const struct dm_pool *p, const void *addr)
{
	gssize lo = 0, hi = (gssize)p->regions->len - 1, found = -1;
	const uint8_t *a = addr;

	while (lo <= hi) {
		gssize mid = lo + (hi - lo) / 2;
		const struct pool_region *r = &g_array_index(p->regions, struct pool_region, mid);

		if (r->base <= a) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return found;
}

/* The region holding @addr, with its index in *@at, or NULL. */
static struct pool_region *region_of(const struct dm_pool *p, const void *addr, gssize *at)
{
	gssize i = region_index(p, addr);
	struct pool_region *r;

	if (i < 0)
		return NULL;
	r = &g_array_index(p->regions, struct pool_region, i);
	if ((size_t)((const uint8_t *)addr - r->base) >= r->len)
		return NULL;
	if (at)
		*at = i;
	return r;
}

static void region_release(struct dm_pool *p, struct pool_region *r)
{
	uint32_t i;

	for (i = 0; i < r->nmrs; i++)
		if (r->mrs[i])
			ibv_dereg_mr(r->mrs[i]);
	g_free(r->mrs);
	munmap(r->base, r->len);
	if (p->pd || p->budget) {
		__atomic_sub_fetch(&p->pinned, r->len, __ATOMIC_RELAXED);
		if (p->budget)
			__atomic_sub_fetch(&p->budget->used, r->len, __ATOMIC_RELAXED);
	}
}

/* Takes the free buffers of region @r off its class's free list. */
static void region_unlink_free(struct dm_pool *p, const struct pool_region *r)
{
	void **link = &p->free[r->cls];

	while (*link) {
		uint8_t *b = *link;

		if (b >= r->base && b < r->base + r->len)
			*link = *(void **)b;
		else
			link = (void **)b;
	}
}

/* Releases region @i; its buffers must all be free. */
static void region_drop(struct dm_pool *p, guint i)
{
	struct pool_region *r = &g_array_index(p->regions, struct pool_region, i);

	if (r->cls != POOL_HUGE)
		region_unlink_free(p, r);
	region_release(p, r);
	g_array_remove_index(p->regions, i);
}

/* Releases idle regions until @want more bytes fit the budget. */
static bool budget_make_room(struct dm_pool *p, size_t want)
{
	struct pool_budget *b = p->budget;
	guint i;

	for (i = p->regions->len; i-- > 0 && b->used + want > b->max;)
		if (!g_array_index(p->regions, struct pool_region, i).used)
			region_drop(p, i);
	return b->used + want <= b->max;
}

static int region_register(struct dm_pool *p, struct pool_region *r)
{
	size_t step = p->per_buffer ? buf_size(r) : r->len;
	uint32_t i;

	r->nmrs = (uint32_t)(r->len / step);
	r->mrs = g_new0(struct ibv_mr *, r->nmrs);
	for (i = 0; i < r->nmrs; i++) {
		r->mrs[i] = ibv_reg_mr(p->pd, r->base + (size_t)i * step, step, p->access);
		if (!r->mrs[i])
			return -1;
	}
	return 0;
}

/* Maps and registers a region of @len bytes for class @cls; NULL on failure. */
static struct pool_region *region_add(struct dm_pool *p, size_t len, int cls)
{
	struct pool_region r = {.len = len, .cls = cls};
	gssize at;
	int saved;

	if (p->budget && p->budget->max) {
		if (len > p->budget->max) {
			errno = E2BIG;
			return NULL;
		}
		if (!budget_make_room(p, len)) {
			errno = EAGAIN;
			return NULL;
		}
	}
	r.base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r.base == MAP_FAILED)
		return NULL;
	if (p->pd || p->budget) {
		__atomic_add_fetch(&p->pinned, len, __ATOMIC_RELAXED);
		if (p->budget)
			__atomic_add_fetch(&p->budget->used, len, __ATOMIC_RELAXED);
	}
	if (p->pd) {
		if (region_register(p, &r) < 0) {
			saved = errno ? errno : ENOMEM;
			region_release(p, &r);
			errno = saved;
			return NULL;
		}
	}
	at = region_index(p, r.base) + 1;
	g_array_insert_val(p->regions, (guint)at, r);
	return &g_array_index(p->regions, struct pool_region, at);
}

/* Carves a new region into free buffers of class @cls. */
static int class_grow(struct dm_pool *p, int cls)
{
	size_t size = class_size(cls);
	size_t len = MAX(size, (size_t)POOL_REGION_BYTES);
	struct pool_region *r = region_add(p, len, cls);
	size_t off;

	if (!r)
		return -1;
	for (off = len; off >= size; off -= size) {
		void **buf = (void **)(r->base + off - size);

		*buf = p->free[cls];
		p->free[cls] = buf;
	}
	return 0;
}

static size_t page_round(size_t len)
{
	return (len + 4095) & ~(size_t)4095;
}

size_t pool_usable(size_t len)
{
	int cls = class_of(len ? len : 1);

	return cls == POOL_HUGE ? page_round(len) : class_size(cls);
}

static void *pool_alloc_locked(struct dm_pool *p, size_t len)
{
	int cls = class_of(len ? len : 1);
	struct pool_region *r;
	void **buf;

	if (cls == POOL_HUGE) {
		r = region_add(p, page_round(len), POOL_HUGE);
		if (r)
			r->used = 1;
		return r ? r->base : NULL;
	}
	if (!p->free[cls] && class_grow(p, cls) < 0)
		return NULL;
	buf = p->free[cls];
	p->free[cls] = *buf;
	r = region_of(p, buf, NULL);
	r->used++;
	return buf;
}

static void pool_free_locked(struct dm_pool *p, void *buf)
{
	gssize i;
	struct pool_region *r;
	size_t off;

	r = region_of(p, buf, &i);
	off = r ? (size_t)((uint8_t *)buf - r->base) : 0;
	if (!r || off % buf_size(r) != 0 || !r->used) {
		g_warning("iSER buffer pool: %p was not handed out by the pool; not freed", buf);
		return;
	}
	if (r->cls == POOL_HUGE) {
		r->used = 0;
		region_drop(p, (guint)i);
		return;
	}
	*(void **)buf = p->free[r->cls];
	p->free[r->cls] = buf;
	if (--r->used == 0)
		r->idle_since = g_get_monotonic_time();
}

static struct ibv_mr *pool_find_locked(const struct dm_pool *p, const void *buf, size_t len)
{
	const struct pool_region *r = region_of(p, buf, NULL);
	size_t off, step, i;

	if (!r || !r->nmrs)
		return NULL;
	off = (size_t)((const uint8_t *)buf - r->base);
	step = r->len / r->nmrs;
	i = off / step;
	if (len > step - off % step)
		return NULL;
	return r->mrs[i];
}

static uint64_t pool_trim_locked(struct dm_pool *p, int64_t now_us, int64_t idle_us)
{
	uint64_t n = 0;
	guint i;

	for (i = p->regions->len; i-- > 0;) {
		const struct pool_region *r = &g_array_index(p->regions, struct pool_region, i);

		if (r->used || now_us - r->idle_since < idle_us)
			continue;
		n += r->len;
		region_drop(p, i);
	}
	return n;
}

void *pool_alloc(struct dm_pool *p, size_t len)
{
	void *buf;
	int err;

	pthread_mutex_lock(&p->lock);
	buf = pool_alloc_locked(p, len);
	err = errno;
	pthread_mutex_unlock(&p->lock);
	errno = err;
	return buf;
}

void pool_free(struct dm_pool *p, void *buf)
{
	if (!buf)
		return;
	pthread_mutex_lock(&p->lock);
	pool_free_locked(p, buf);
	pthread_mutex_unlock(&p->lock);
}

struct ibv_mr *pool_find(const struct dm_pool *p, const void *buf, size_t len)
{
	pthread_mutex_t *lock = (pthread_mutex_t *)&p->lock;
	struct ibv_mr *mr;

	pthread_mutex_lock(lock);
	mr = pool_find_locked(p, buf, len);
	pthread_mutex_unlock(lock);
	return mr;
}

uint64_t pool_trim(struct dm_pool *p, int64_t now_us, int64_t idle_us)
{
	uint64_t n;

	pthread_mutex_lock(&p->lock);
	n = pool_trim_locked(p, now_us, idle_us);
	pthread_mutex_unlock(&p->lock);
	return n;
}

void pool_destroy(struct dm_pool *p)
{
	guint i;

	if (!p)
		return;
	for (i = 0; i < p->regions->len; i++)
		region_release(p, &g_array_index(p->regions, struct pool_region, i));
	g_array_unref(p->regions);
	pthread_mutex_destroy(&p->lock);
	g_free(p);
}
