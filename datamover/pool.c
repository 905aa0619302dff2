// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The registered buffer pool of the iSER datamover (see pool.h).
 *
 * Free buffers are kept on intrusive lists: the first word of a free buffer
 * points to the next one. Memory is mapped with mmap() so that regions are
 * page aligned and go straight back to the kernel when the pool is destroyed.
 */
#include <errno.h>
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
 * struct pool_region - one mapping registered with one ibv_reg_mr().
 * @base: start of the mapping
 * @len: its length
 * @mr: its registration
 * @cls: size class of the buffers carved from it, or POOL_HUGE
 */
struct pool_region {
	uint8_t *base;
	size_t len;
	struct ibv_mr *mr;
	int cls;
};

/**
 * struct dm_pool - the pool.
 * @pd: where regions are registered, or NULL for memory that is only
 *	recycled (the TCP datamover: no registration, but no mmap/munmap and
 *	page faults per request either)
 * @regions: struct pool_region, sorted by @base
 * @free: per size class, the first free buffer or NULL
 */
struct dm_pool {
	struct ibv_pd *pd;
	GArray *regions;
	void *free[POOL_CLASSES];
};

uint64_t pool_pinned(const struct dm_pool *p)
{
	uint64_t n = 0;
	guint i;

	if (!p || !p->pd)
		return 0;
	for (i = 0; i < p->regions->len; i++)
		n += g_array_index(p->regions, struct pool_region, i).len;
	return n;
}

struct dm_pool *pool_new(struct ibv_pd *pd)
{
	struct dm_pool *p = g_new0(struct dm_pool, 1);

	p->pd = pd;
	p->regions = g_array_new(FALSE, FALSE, sizeof(struct pool_region));
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

/* Maps and registers a region of @len bytes for class @cls; NULL on failure. */
static struct pool_region *region_add(struct dm_pool *p, size_t len, int cls)
{
	const int access =
	    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
	struct pool_region r = {.len = len, .cls = cls};
	gssize at;
	int saved;

	r.base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r.base == MAP_FAILED)
		return NULL;
	/* Without a protection domain (TCP) the pool only recycles memory. */
	r.mr = p->pd ? ibv_reg_mr(p->pd, r.base, len, access) : NULL;
	if (p->pd && !r.mr) {
		saved = errno;
		munmap(r.base, len);
		errno = saved;
		return NULL;
	}
	at = region_index(p, r.base) + 1;
	g_array_insert_val(p->regions, (guint)at, r);
	return &g_array_index(p->regions, struct pool_region, at);
}

static void region_release(struct pool_region *r)
{
	if (r->mr)
		ibv_dereg_mr(r->mr);
	munmap(r->base, r->len);
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

void *pool_alloc(struct dm_pool *p, size_t len)
{
	int cls = class_of(len ? len : 1);
	void **buf;

	if (cls == POOL_HUGE) {
		struct pool_region *r = region_add(p, page_round(len), POOL_HUGE);

		return r ? r->base : NULL;
	}
	if (!p->free[cls] && class_grow(p, cls) < 0)
		return NULL;
	buf = p->free[cls];
	p->free[cls] = *buf;
	return buf;
}

void pool_free(struct dm_pool *p, void *buf)
{
	gssize i;
	struct pool_region *r;
	size_t off;

	if (!buf)
		return;
	i = region_index(p, buf);
	r = i < 0 ? NULL : &g_array_index(p->regions, struct pool_region, i);
	off = r ? (size_t)((uint8_t *)buf - r->base) : 0;
	if (!r || off >= r->len ||
	    (r->cls == POOL_HUGE ? off != 0 : off % class_size(r->cls) != 0)) {
		g_warning("iSER buffer pool: %p was not handed out by the pool; not freed", buf);
		return;
	}
	if (r->cls == POOL_HUGE) {
		region_release(r);
		g_array_remove_index(p->regions, (guint)i);
		return;
	}
	*(void **)buf = p->free[r->cls];
	p->free[r->cls] = buf;
}

struct ibv_mr *pool_find(const struct dm_pool *p, const void *buf, size_t len)
{
	gssize i = region_index(p, buf);
	const struct pool_region *r;
	size_t off;

	if (i < 0)
		return NULL;
	r = &g_array_index(p->regions, struct pool_region, i);
	off = (size_t)((const uint8_t *)buf - r->base);
	if (off >= r->len || len > r->len - off)
		return NULL;
	return r->mr;
}

void pool_destroy(struct dm_pool *p)
{
	guint i;

	if (!p)
		return;
	for (i = 0; i < p->regions->len; i++)
		region_release(&g_array_index(p->regions, struct pool_region, i));
	g_array_unref(p->regions);
	g_free(p);
}
