/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Internals of the FUSE front end, shared by its three parts:
 *
 *   ops.c    libfuse's low-level operations, run on libfuse's worker
 *            threads: they check arguments, copy write payload into a
 *            payload buffer and queue a struct fx_req; they never call isa_*.
 *   export.c mount, the libfuse thread, the queue and its eventfd, the
 *            payload buffer cache, and the calls of the public header.
 *   rmw.c    the session thread's side: range locks, splitting a request
 *            into aligned I/O and read-modify-write of partial edge blocks,
 *            and the replies sent from the completion callbacks.
 */
#ifndef ISA_FUSE_INTERNAL_H
#define ISA_FUSE_INTERNAL_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <stdint.h>
#include <time.h>

#include "fuse/export.h"

/* Inode numbers: the mount's root directory and the LUN's file. */
#define FX_ROOT_INO FUSE_ROOT_ID
#define FX_FILE_INO 2

/* Payload buffers are cached in power-of-two size classes 4 KiB .. 16 MiB. */
#define FX_BUF_MIN_SHIFT 12
#define FX_BUF_CLASSES	 13

/**
 * enum fx_op - what a queued request asks of the LUN.
 * @FX_READ: read @off/@len and reply with the data
 * @FX_WRITE: write the payload in @buf at @off
 * @FX_ZERO: FALLOC_FL_ZERO_RANGE: write zeroes
 * @FX_PUNCH: FALLOC_FL_PUNCH_HOLE: deallocate, reading back as zeroes
 * @FX_FLUSH: flush/fsync: SYNCHRONIZE CACHE
 * @FX_DESTROY: the final SYNCHRONIZE CACHE at unmount, issued once every
 *		other request has finished; a thread waits for it on @cond
 */
enum fx_op {
	FX_READ,
	FX_WRITE,
	FX_ZERO,
	FX_PUNCH,
	FX_FLUSH,
	FX_DESTROY,
};

/**
 * struct fx_req - one FUSE request handed to the session thread.
 * @fx: the export it belongs to
 * @op: what to do
 * @req: libfuse's request to reply to (NULL for FX_DESTROY)
 * @off: byte offset in the LUN
 * @len: byte length, already clipped to the LUN's capacity
 * @buf: payload buffer from the cache (FX_WRITE: the data; FX_READ: the
 *	 whole blocks covering the range), or NULL
 * @buf_class: size class of @buf
 * @first_block: first block a write-like request locks
 * @last_block: last block it locks (inclusive)
 * @parts: LUN commands still outstanding
 * @err: first error of a part (negative errno), 0 if none; a worker sets
 *	 it before queueing when the request failed on its side
 * @msg: message of that error, for the log
 * @finished: FX_DESTROY done, under &fuse_export.lock
 * @cond: signalled when @finished is set
 */
struct fx_req {
	struct fuse_export *fx;
	enum fx_op op;
	fuse_req_t req;
	uint64_t off;
	uint64_t len;
	uint8_t *buf;
	unsigned buf_class;
	uint64_t first_block;
	uint64_t last_block;
	unsigned parts;
	int err;
	char msg[160];
	bool finished;
	GCond cond;
};

/**
 * struct fx_buf_cache - payload buffers of one size class, ready for use.
 * @free: buffers (void *) not in use
 * @wanted: worker threads waiting for a buffer of this class
 */
struct fx_buf_cache {
	GPtrArray *free;
	unsigned wanted;
};

/**
 * struct fuse_export - one LUN exported as a file in a libfuse mount.
 * @s: the session; only the session thread calls isa_* on it
 * @l: the LUN
 * @info: the LUN's geometry and abilities, read once at creation
 * @capacity: the file's size in bytes
 * @block_size: the LUN's logical block size
 * @read_only: refuse writes (write-protected LUN or asked for)
 * @page_cache: open the file without direct_io
 * @file_name: the file's name in the mount
 * @mountpoint: where it is mounted
 * @mtime: time stamps the file and root directory show
 * @se: libfuse's session
 * @thread: runs fuse_session_loop_mt(), then the orderly end
 * @repliers: threads sending large read replies off the session thread
 * @efd: eventfd: worker threads and @thread ask the session thread to look
 *	 at @queue, the buffer wants and @loop_done
 * @kicked: @efd was written and not yet read: kick() writes it only
 *	    then, fuse_export_service() reads it only then
 * @lock: protects @queue, @caches, @alloc_failures and the @finished
 *	  flags of requests
 * @buf_cond: signalled when buffers were added to @caches
 * @idle_cond: signalled when @outstanding drops to 0
 * @queue: struct fx_req handed over and not yet looked at
 * @caches: payload buffers per size class
 * @cached_bytes: bytes held in @caches (trimmed to FX_CACHE_MAX by the
 *		  session thread)
 * @alloc_failures: times the session thread could not allocate a buffer a
 *		    worker waits for (the waiters then give up)
 * @outstanding: requests queued or in progress (atomic)
 * @loop_done: libfuse's loop ended, its requests finished, the final
 *	       SYNCHRONIZE CACHE done and the mount is gone (atomic)
 * @blocked: requests of the session thread waiting for a range lock or,
 *	     for FX_DESTROY, for every other request to finish (FIFO)
 * @active: write-like requests holding their range lock
 * @in_progress: requests started on the LUN and not yet replied to
 * @retrying: the blocked list is being walked (a finish during the walk
 *	      sets @retry_again instead of walking it again itself)
 * @retry_again: walk the blocked list once more
 * @stats: counters (updated atomically: workers count too)
 */
struct fuse_export {
	struct isa_session *s;
	struct isa_lun *l;
	struct isa_lun_info info;
	uint64_t capacity;
	uint32_t block_size;
	bool read_only;
	bool page_cache;
	char *file_name;
	char *mountpoint;
	struct timespec mtime;

	struct fuse_session *se;
	GThread *thread;
	GThreadPool *repliers;
	int efd;
	bool kicked;

	GMutex lock;
	GCond buf_cond;
	GCond idle_cond;
	GQueue queue;
	struct fx_buf_cache caches[FX_BUF_CLASSES];
	size_t cached_bytes;
	unsigned alloc_failures;
	int outstanding;
	int loop_done;

	GQueue blocked;
	GQueue active;
	unsigned in_progress;
	bool retrying;
	bool retry_again;

	struct fuse_export_stats stats;
};

/* Counters are bumped from several threads. */
#define FX_COUNT(fx, field, n) __atomic_add_fetch(&(fx)->stats.field, (n), __ATOMIC_RELAXED)

/* The libfuse operations (ops.c). */
extern const struct fuse_lowlevel_ops fx_ops;

/* Worker side (export.c): hand @r to the session thread. */
void fx_enqueue(struct fuse_export *fx, struct fx_req *r);

/*
 * A payload buffer of at least @len bytes for a worker thread: taken from
 * the cache, or allocated by the session thread while the caller waits
 * (isa_buf_alloc is the session's and runs on its thread only). Sets
 * *@cls to the size class to give back. NULL if @len is too large.
 */
uint8_t *fx_buf_get_wait(struct fuse_export *fx, size_t len, unsigned *cls);

/* Session thread: a buffer of at least @len bytes, NULL without memory. */
uint8_t *fx_buf_get(struct fuse_export *fx, size_t len, unsigned *cls);

/* Any thread: give a buffer back to the cache. */
void fx_buf_put(struct fuse_export *fx, uint8_t *buf, unsigned cls);

/* Any thread: account for a request that was replied to, and free it. */
void fx_req_done(struct fuse_export *fx, struct fx_req *r);

/* Any thread (rmw.c): send @r's reply to the kernel. */
void fx_reply(struct fuse_export *fx, struct fx_req *r);

/*
 * Session thread: have a replier thread send @r's reply and finish it.
 * A read reply copies its payload into the reader's pages inside the
 * writev() to /dev/fuse; done on the session thread, that copy would
 * compete with receiving the next Data-In.
 */
void fx_reply_async(struct fuse_export *fx, struct fx_req *r);

/* Session thread (rmw.c): start @r, or park it until its range is free. */
void fx_submit(struct fuse_export *fx, struct fx_req *r);

#endif
