// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The FUSE front end's frame: the mount, the thread running libfuse's
 * multi-threaded loop, the queue on which its workers hand requests to the
 * session thread (signalled through an eventfd), the cache of payload
 * buffers, and the orderly end at unmount: wait for the requests in
 * progress, then a last SYNCHRONIZE CACHE, then report the export gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fuse/internal.h"

/* Payload buffers kept for reuse beyond this are given back to the session. */
#define FX_CACHE_MAX (64u << 20)

/* Where the kernel lets a FUSE connection be aborted. */
#define FUSECTL_DIR "/sys/fs/fuse/connections"

/* Threads sending large read replies (see fx_reply_async()). */
#define FX_REPLIERS 2

/* libfuse worker threads; they only queue, so a few keep up. */
#define FX_MAX_THREADS 4

/*
 * Wakes the session thread, with one eventfd write until it has looked:
 * fuse_export_service() reads the eventfd before it clears @kicked and
 * then takes the queue, so a request queued in between is taken too, and
 * one queued after the clear writes again.
 */
static void kick(struct fuse_export *fx)
{
	uint64_t one = 1;

	if (__atomic_exchange_n(&fx->kicked, true, __ATOMIC_SEQ_CST))
		return;
	if (write(fx->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		g_debug("fuse: eventfd write: %s", g_strerror(errno));
}

void fx_enqueue(struct fuse_export *fx, struct fx_req *r)
{
	g_mutex_lock(&fx->lock);
	g_queue_push_tail(&fx->queue, r);
	__atomic_add_fetch(&fx->outstanding, 1, __ATOMIC_RELAXED);
	g_mutex_unlock(&fx->lock);
	kick(fx);
}

/* Size class of a buffer for @len bytes, or FX_BUF_CLASSES if too large. */
static unsigned buf_class(size_t len)
{
	unsigned cls = 0;

	while (cls < FX_BUF_CLASSES && ((size_t)1 << (cls + FX_BUF_MIN_SHIFT)) < len)
		cls++;
	return cls;
}

static size_t class_size(unsigned cls)
{
	return (size_t)1 << (cls + FX_BUF_MIN_SHIFT);
}

static uint8_t *cache_pop(struct fuse_export *fx, unsigned cls)
{
	struct fx_buf_cache *c = &fx->caches[cls];

	if (!c->free->len)
		return NULL;
	fx->cached_bytes -= class_size(cls);
	return g_ptr_array_steal_index_fast(c->free, c->free->len - 1);
}

uint8_t *fx_buf_get_wait(struct fuse_export *fx, size_t len, unsigned *cls)
{
	struct fx_buf_cache *c;
	uint8_t *buf;
	unsigned failures;

	*cls = buf_class(len);
	if (*cls >= FX_BUF_CLASSES)
		return NULL;
	c = &fx->caches[*cls];
	g_mutex_lock(&fx->lock);
	failures = fx->alloc_failures;
	while (!(buf = cache_pop(fx, *cls)) && failures == fx->alloc_failures) {
		c->wanted++;
		kick(fx);
		g_cond_wait(&fx->buf_cond, &fx->lock);
		c->wanted--;
	}
	g_mutex_unlock(&fx->lock);
	return buf;
}

uint8_t *fx_buf_get(struct fuse_export *fx, size_t len, unsigned *cls)
{
	uint8_t *buf;

	*cls = buf_class(len);
	if (*cls >= FX_BUF_CLASSES)
		return NULL;
	g_mutex_lock(&fx->lock);
	buf = cache_pop(fx, *cls);
	g_mutex_unlock(&fx->lock);
	return buf ? buf : isa_buf_alloc(fx->s, class_size(*cls));
}

void fx_buf_put(struct fuse_export *fx, uint8_t *buf, unsigned cls)
{
	g_mutex_lock(&fx->lock);
	g_ptr_array_add(fx->caches[cls].free, buf);
	fx->cached_bytes += class_size(cls);
	if (fx->caches[cls].wanted)
		g_cond_broadcast(&fx->buf_cond);
	g_mutex_unlock(&fx->lock);
}

/* Give buffers beyond FX_CACHE_MAX back to the session, largest first. */
static void trim_cache(struct fuse_export *fx)
{
	unsigned cls = FX_BUF_CLASSES;

	g_mutex_lock(&fx->lock);
	while (fx->cached_bytes > FX_CACHE_MAX && cls-- > 0) {
		struct fx_buf_cache *c = &fx->caches[cls];

		while (fx->cached_bytes > FX_CACHE_MAX && c->free->len > c->wanted)
			isa_buf_free(fx->s, cache_pop(fx, cls), class_size(cls));
	}
	g_mutex_unlock(&fx->lock);
}

/* Allocate the buffers workers are waiting for (isa_buf_alloc is ours only). */
static void feed_waiters(struct fuse_export *fx)
{
	unsigned cls;

	g_mutex_lock(&fx->lock);
	for (cls = 0; cls < FX_BUF_CLASSES; cls++) {
		struct fx_buf_cache *c = &fx->caches[cls];

		while (c->wanted > c->free->len) {
			uint8_t *buf = isa_buf_alloc(fx->s, class_size(cls));

			if (!buf) {
				fx->alloc_failures++;
				break;
			}
			g_ptr_array_add(c->free, buf);
			fx->cached_bytes += class_size(cls);
		}
		if (c->wanted)
			g_cond_broadcast(&fx->buf_cond);
	}
	g_mutex_unlock(&fx->lock);
}

void fx_req_done(struct fuse_export *fx, struct fx_req *r)
{
	if (r->buf)
		fx_buf_put(fx, r->buf, r->buf_class);
	r->buf = NULL;
	FX_COUNT(fx, requests, 1);
	g_mutex_lock(&fx->lock);
	if (__atomic_sub_fetch(&fx->outstanding, 1, __ATOMIC_RELAXED) == 0)
		g_cond_broadcast(&fx->idle_cond);
	if (r->op == FX_DESTROY) {
		/* The waiting thread owns @r. */
		r->finished = true;
		g_cond_broadcast(&r->cond);
	}
	g_mutex_unlock(&fx->lock);
	if (r->op != FX_DESTROY)
		g_free(r);
}

static void reply_task(gpointer data, gpointer user_data)
{
	struct fuse_export *fx = user_data;
	struct fx_req *r = data;

	fx_reply(fx, r);
	fx_req_done(fx, r);
}

void fx_reply_async(struct fuse_export *fx, struct fx_req *r)
{
	g_thread_pool_push(fx->repliers, r, NULL);
}

/*
 * libfuse's side. When the loop ends (unmount), requests still in progress
 * will reply on the session's fd, so the fd is closed (by unmount) only
 * when they are done. fuse_session_destroy() then calls the destroy
 * operation unless the kernel sent FUSE_DESTROY already; either way the
 * final SYNCHRONIZE CACHE has completed before @loop_done is set.
 */
static gpointer fuse_thread(gpointer data)
{
	struct fuse_export *fx = data;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();

	fuse_loop_cfg_set_max_threads(cfg, FX_MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(cfg, FX_MAX_THREADS);
	if (fuse_session_loop_mt(fx->se, cfg) < 0)
		g_message("fuse: %s: the FUSE loop ended with an error", fx->mountpoint);
	fuse_loop_cfg_destroy(cfg);

	g_mutex_lock(&fx->lock);
	while (__atomic_load_n(&fx->outstanding, __ATOMIC_RELAXED))
		g_cond_wait(&fx->idle_cond, &fx->lock);
	g_mutex_unlock(&fx->lock);

	fuse_session_unmount(fx->se);
	fuse_session_destroy(fx->se);
	fx->se = NULL;
	__atomic_store_n(&fx->loop_done, 1, __ATOMIC_RELEASE);
	kick(fx);
	return NULL;
}

static bool check_file_name(const char *name, GError **err)
{
	if (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..") ||
	    strlen(name) > 255) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "invalid FUSE file name '%s'", name);
		return false;
	}
	return true;
}

struct fuse_export *fuse_export_new(struct isa_session *s, struct isa_lun *l,
				    const char *mountpoint, const struct fuse_export_config *cfg,
				    GError **err)
{
	struct fuse_export *fx = g_new0(struct fuse_export, 1);
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	g_autofree char *opts = NULL;
	struct stat st;
	unsigned cls;

	fx->s = s;
	fx->l = l;
	fx->info = *isa_lun_get_info(l);
	fx->block_size = fx->info.block_size;
	fx->capacity = fx->info.blocks * fx->info.block_size;
	fx->read_only = cfg->read_only || fx->info.read_only;
	fx->page_cache = cfg->page_cache;
	fx->file_name =
	    cfg->file_name ? g_strdup(cfg->file_name) : g_strdup_printf("lun%u", fx->info.lun);
	fx->mountpoint = g_strdup(mountpoint);
	fx->efd = -1;
	clock_gettime(CLOCK_REALTIME, &fx->mtime);
	g_mutex_init(&fx->lock);
	g_cond_init(&fx->buf_cond);
	g_cond_init(&fx->idle_cond);
	g_queue_init(&fx->queue);
	g_queue_init(&fx->blocked);
	g_queue_init(&fx->active);
	for (cls = 0; cls < FX_BUF_CLASSES; cls++)
		fx->caches[cls].free = g_ptr_array_new();

	if (!check_file_name(fx->file_name, err))
		goto fail;
	if (stat(mountpoint, &st) < 0) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "FUSE mount point %s: %s", mountpoint,
			    g_strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "FUSE mount point %s: not a directory",
			    mountpoint);
		goto fail;
	}
	fx->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fx->efd < 0) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED, "eventfd: %s",
			    g_strerror(errno));
		goto fail;
	}

	opts = g_strdup_printf("fsname=iser-attach,subtype=iser-attach,default_permissions%s",
			       fx->read_only ? ",ro" : "");
	if (fuse_opt_add_arg(&args, "iser-attach") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, opts)) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED, "out of memory");
		goto fail;
	}
	fx->se = fuse_session_new(&args, &fx_ops, sizeof(fx_ops), fx);
	fuse_opt_free_args(&args);
	if (!fx->se) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED,
			    "cannot start a FUSE session (libfuse says why above)");
		goto fail;
	}
	if (fuse_session_mount(fx->se, mountpoint) != 0) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED,
			    "cannot mount FUSE at %s (is /dev/fuse there, fusermount3 installed?)",
			    mountpoint);
		goto fail;
	}
	fx->repliers = g_thread_pool_new(reply_task, fx, FX_REPLIERS, FALSE, NULL);
	fx->thread = g_thread_new("fuse-loop", fuse_thread, fx);
	return fx;

fail:
	fuse_export_free(fx);
	return NULL;
}

int fuse_export_get_fd(struct fuse_export *fx)
{
	return fx->efd;
}

void fuse_export_service(struct fuse_export *fx)
{
	GQueue q = G_QUEUE_INIT;
	struct fx_req *r;
	uint64_t n;

	if (__atomic_load_n(&fx->kicked, __ATOMIC_SEQ_CST)) {
		if (read(fx->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			g_debug("fuse: eventfd read: %s", g_strerror(errno));
		__atomic_store_n(&fx->kicked, false, __ATOMIC_SEQ_CST);
	}
	feed_waiters(fx);
	trim_cache(fx);
	g_mutex_lock(&fx->lock);
	q = fx->queue;
	g_queue_init(&fx->queue);
	g_mutex_unlock(&fx->lock);
	while ((r = g_queue_pop_head(&q)))
		fx_submit(fx, r);
}

bool fuse_export_unmounted(const struct fuse_export *fx)
{
	return __atomic_load_n(&fx->loop_done, __ATOMIC_ACQUIRE);
}

void fuse_export_resize(struct fuse_export *fx)
{
	const struct isa_lun_info *info = isa_lun_get_info(fx->l);

	fx->info.blocks = info->blocks;
	__atomic_store_n(&fx->capacity, info->blocks * info->block_size, __ATOMIC_RELAXED);
	/* The kernel caches the file's attributes: have it ask again. */
	if (fx->se)
		fuse_lowlevel_notify_inval_inode(fx->se, FX_FILE_INO, 0, 0);
}

bool fuse_export_drained(const struct fuse_export *fx)
{
	return __atomic_load_n(&fx->outstanding, __ATOMIC_RELAXED) == 0;
}

void fuse_export_get_stats(const struct fuse_export *fx, struct fuse_export_stats *st)
{
	st->requests = __atomic_load_n(&fx->stats.requests, __ATOMIC_RELAXED);
	st->bytes_read = __atomic_load_n(&fx->stats.bytes_read, __ATOMIC_RELAXED);
	st->bytes_written = __atomic_load_n(&fx->stats.bytes_written, __ATOMIC_RELAXED);
	st->copied_bytes = __atomic_load_n(&fx->stats.copied_bytes, __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&fx->stats.errors, __ATOMIC_RELAXED);
}

/*
 * Unmount from a helper thread: unmounting may make the kernel send
 * FUSE_DESTROY and wait for its reply, which needs the session thread
 * (the final SYNCHRONIZE CACHE) that is meanwhile serving in
 * fuse_export_free(). A file still open keeps a plain unmount from
 * working; then the mount is detached and its connection aborted, so the
 * loop ends.
 */
static gpointer unmount_thread(gpointer data)
{
	struct fuse_export *fx = data;
	struct stat st;
	bool have_dev = stat(fx->mountpoint, &st) == 0;
	g_autofree char *abort_path = NULL;
	int fd;

	if (umount2(fx->mountpoint, 0) == 0)
		return NULL;
	if (errno == EPERM) {
		const char *argv[] = {"fusermount3", "-u", "-q", "-z", fx->mountpoint, NULL};
		g_autoptr(GError) err = NULL;

		if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
				  NULL, NULL, &err))
			g_message("fuse: cannot unmount %s: %s", fx->mountpoint, err->message);
		return NULL;
	}
	g_message("fuse: %s busy (%s): detaching it and aborting its connection", fx->mountpoint,
		  g_strerror(errno));
	if (umount2(fx->mountpoint, MNT_DETACH) < 0)
		g_message("fuse: cannot detach %s: %s", fx->mountpoint, g_strerror(errno));
	if (!have_dev)
		return NULL;
	abort_path = g_strdup_printf("%s/%u/abort", FUSECTL_DIR, minor(st.st_dev));
	fd = open(abort_path, O_WRONLY | O_CLOEXEC);
	/* The control file system is usually mounted at boot; not always. */
	if (fd < 0 && errno == ENOENT && mount("fusectl", FUSECTL_DIR, "fusectl", 0, NULL) == 0)
		fd = open(abort_path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1)
		g_message("fuse: cannot abort the connection of %s: %s", fx->mountpoint,
			  g_strerror(errno));
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Serve the session and our queue until the libfuse thread is done. */
static void serve_until_unmounted(struct fuse_export *fx)
{
	while (!fuse_export_unmounted(fx)) {
		struct pollfd p[2] = {
		    {.fd = isa_lun_get_fd(fx->l), .events = POLLIN},
		    {.fd = fx->efd, .events = POLLIN},
		};

		if (poll(p, 2, 100) < 0 && errno != EINTR)
			g_debug("fuse: poll: %s", g_strerror(errno));
		isa_lun_service(fx->l);
		fuse_export_service(fx);
	}
}

void fuse_export_free(struct fuse_export *fx)
{
	unsigned cls;

	if (!fx)
		return;
	if (fx->thread) {
		GThread *unmounter = NULL;

		if (!fuse_export_unmounted(fx))
			unmounter = g_thread_new("fuse-unmount", unmount_thread, fx);
		serve_until_unmounted(fx);
		if (unmounter)
			g_thread_join(unmounter);
		g_thread_join(fx->thread);
	} else if (fx->se) {
		fuse_session_unmount(fx->se);
		fuse_session_destroy(fx->se);
	}
	/* Idle by now: the loop's thread waited for every reply. */
	if (fx->repliers)
		g_thread_pool_free(fx->repliers, FALSE, TRUE);
	for (cls = 0; cls < FX_BUF_CLASSES; cls++) {
		GPtrArray *free_bufs = fx->caches[cls].free;
		guint i;

		for (i = 0; i < free_bufs->len; i++)
			isa_buf_free(fx->s, free_bufs->pdata[i], class_size(cls));
		g_ptr_array_unref(free_bufs);
	}
	if (fx->efd >= 0)
		close(fx->efd);
	g_cond_clear(&fx->idle_cond);
	g_cond_clear(&fx->buf_cond);
	g_mutex_clear(&fx->lock);
	g_free(fx->file_name);
	g_free(fx->mountpoint);
	g_free(fx);
}
