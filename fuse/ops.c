// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libfuse low-level operations of the FUSE front end. They run on
 * libfuse's worker threads and never touch the iSCSI session: metadata is
 * answered from what the LUN said at open, and I/O is queued for the
 * session thread, which replies from its completion callbacks. A worker is
 * therefore never held for the duration of a command, and write payload is
 * copied once, from libfuse's receive buffer straight into the buffer the
 * SCSI WRITE is sent from.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "fuse/internal.h"

/* The LUN's size never changes under us: let the kernel cache for long. */
#define FX_ATTR_TIMEOUT 3600.0

/*
 * Async direct I/O and readahead count against max_background: the
 * kernel's default of 12 would cap a queue depth of 32 at 12.
 */
#define FX_MAX_BACKGROUND 128

static struct fuse_export *fx_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fill_attr(const struct fuse_export *fx, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atim = fx->mtime;
	st->st_mtim = fx->mtime;
	st->st_ctim = fx->mtime;
	if (ino == FX_ROOT_INO) {
		st->st_mode = S_IFDIR | (fx->read_only ? 0500 : 0700);
		st->st_nlink = 2;
		return;
	}
	st->st_mode = S_IFREG | (fx->read_only ? 0400 : 0600);
	st->st_nlink = 1;
	st->st_size = (off_t)fx->capacity;
	st->st_blocks = (blkcnt_t)(fx->capacity / 512);
	st->st_blksize = (blksize_t)MAX(MAX(fx->block_size, fx->info.physical_block_size), 4096u);
}

static void fx_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_background = FX_MAX_BACKGROUND;
	conn->congestion_threshold = FX_MAX_BACKGROUND * 3 / 4;
}

/*
 * Unmount (fuse_session_destroy(), or FUSE_DESTROY from the kernel): the
 * last SYNCHRONIZE CACHE, issued by the session thread once everything else
 * has finished. Never called on the session thread (see export.c).
 */
static void fx_destroy(void *userdata)
{
	struct fuse_export *fx = userdata;
	struct fx_req r = {.fx = fx, .op = FX_DESTROY};

	g_cond_init(&r.cond);
	fx_enqueue(fx, &r);
	g_mutex_lock(&fx->lock);
	while (!r.finished)
		g_cond_wait(&r.cond, &fx->lock);
	g_mutex_unlock(&fx->lock);
	g_cond_clear(&r.cond);
}

static void fx_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_export *fx = fx_of(req);
	struct fuse_entry_param e = {0};

	if (parent != FX_ROOT_INO || strcmp(name, fx->file_name) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.ino = FX_FILE_INO;
	e.generation = 1;
	e.attr_timeout = FX_ATTR_TIMEOUT;
	e.entry_timeout = FX_ATTR_TIMEOUT;
	fill_attr(fx, FX_FILE_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void fx_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != FX_ROOT_INO && ino != FX_FILE_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(fx_of(req), ino, &st);
	fuse_reply_attr(req, &st, FX_ATTR_TIMEOUT);
}

/*
 * The file is a disk: its size is the LUN's and cannot change, and its
 * owner and mode follow from the export. Time stamps are accepted and
 * ignored so that tools touching the file work.
 */
static void fx_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fuse_export *fx = fx_of(req);
	struct stat st;

	(void)fi;
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((to_set & FUSE_SET_ATTR_SIZE) &&
	    (ino != FX_FILE_INO || (uint64_t)attr->st_size != fx->capacity)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fill_attr(fx, ino, &st);
	fuse_reply_attr(req, &st, FX_ATTR_TIMEOUT);
}

static void fx_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fuse_export *fx = fx_of(req);
	const char *names[] = {".", "..", fx->file_name};
	const fuse_ino_t inos[] = {FX_ROOT_INO, FX_ROOT_INO, FX_FILE_INO};
	char buf[1024];
	size_t used = 0;
	off_t i;

	(void)fi;
	if (ino != FX_ROOT_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	for (i = MAX(off, 0); i < (off_t)G_N_ELEMENTS(names); i++) {
		struct stat st;
		size_t need;

		fill_attr(fx, inos[i], &st);
		need = fuse_add_direntry(req, NULL, 0, names[i], NULL, 0);
		if (used + need > MIN(size, sizeof(buf)))
			break;
		fuse_add_direntry(req, buf + used, sizeof(buf) - used, names[i], &st, i + 1);
		used += need;
	}
	fuse_reply_buf(req, buf, used);
}

static void fx_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_export *fx = fx_of(req);

	if (ino != FX_FILE_INO) {
		fuse_reply_err(req, ino == FX_ROOT_INO ? EISDIR : ENOENT);
		return;
	}
	if (fx->read_only && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	/* O_TRUNC is ignored, as a block device ignores it. */
	fi->direct_io = !fx->page_cache;
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

static void fx_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static struct fx_req *new_req(struct fuse_export *fx, fuse_req_t req, enum fx_op op, uint64_t off,
			      uint64_t len)
{
	struct fx_req *r = g_new0(struct fx_req, 1);

	r->fx = fx;
	r->req = req;
	r->op = op;
	r->off = off;
	r->len = len;
	if (len) {
		r->first_block = off / fx->block_size;
		r->last_block = (off + len - 1) / fx->block_size;
	}
	return r;
}

static void fx_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_export *fx = fx_of(req);

	(void)ino;
	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= fx->capacity || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size = MIN(size, fx->capacity - (uint64_t)off);
	fx_enqueue(fx, new_req(fx, req, FX_READ, (uint64_t)off, size));
}

/*
 * The payload is copied from libfuse's buffer into a payload buffer of the
 * session's pool: by memcpy when libfuse read the request into memory, by
 * read(2) from the pipe when it spliced it. Only the memcpy is counted in
 * copied_bytes; either way it is the one copy this side makes.
 */
static void fx_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_export *fx = fx_of(req);
	size_t size = fuse_buf_size(bufv);
	bool spliced = bufv->buf[bufv->idx].flags & FUSE_BUF_IS_FD;
	struct fuse_bufvec dst;
	struct fx_req *r;
	ssize_t got;

	(void)ino;
	(void)fi;
	if (fx->read_only) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size == 0) {
		fuse_reply_write(req, 0);
		return;
	}
	if ((uint64_t)off >= fx->capacity) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	size = MIN(size, fx->capacity - (uint64_t)off);
	r = new_req(fx, req, FX_WRITE, (uint64_t)off, size);
	r->buf = fx_buf_get_wait(fx, size, &r->buf_class);
	if (!r->buf) {
		r->err = -ENOMEM;
		g_strlcpy(r->msg, "out of payload buffer memory", sizeof(r->msg));
	} else {
		dst = (struct fuse_bufvec)FUSE_BUFVEC_INIT(size);
		dst.buf[0].mem = r->buf;
		got = fuse_buf_copy(&dst, bufv, 0);
		if (got != (ssize_t)size) {
			r->err = got < 0 ? (int)got : -EIO;
			g_strlcpy(r->msg, "short copy of the write payload", sizeof(r->msg));
		} else if (!spliced) {
			FX_COUNT(fx, copied_bytes, size);
		}
	}
	fx_enqueue(fx, r);
}

/* Every close and fsync is a SYNCHRONIZE CACHE: data is on the target when they return. */
static void queue_flush(fuse_req_t req)
{
	struct fuse_export *fx = fx_of(req);

	if (fx->read_only) {
		fuse_reply_err(req, 0);
		return;
	}
	fx_enqueue(fx, new_req(fx, req, FX_FLUSH, 0, 0));
}

static void fx_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	queue_flush(req);
}

static void fx_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	queue_flush(req);
}

/*
 * Plain allocation inside the file is a no-op (every block exists);
 * growing the file is refused. PUNCH_HOLE needs a LUN that can unmap.
 */
static void fx_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct fuse_export *fx = fx_of(req);
	const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
	uint64_t end;

	(void)ino;
	(void)fi;
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (mode & ~known) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (fx->read_only) {
		fuse_reply_err(req, EROFS);
		return;
	}
	end = (uint64_t)off + (uint64_t)len;
	if (end > fx->capacity && !(mode & FALLOC_FL_KEEP_SIZE)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	end = MIN(end, fx->capacity);
	if (!(mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) || (uint64_t)off >= end) {
		fuse_reply_err(req, 0);
		return;
	}
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !fx->info.can_unmap) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	fx_enqueue(fx, new_req(fx, req, (mode & FALLOC_FL_PUNCH_HOLE) ? FX_PUNCH : FX_ZERO,
			       (uint64_t)off, end - (uint64_t)off));
}

static void fx_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_export *fx = fx_of(req);
	struct statvfs sv = {0};

	(void)ino;
	sv.f_bsize = fx->block_size;
	sv.f_frsize = fx->block_size;
	sv.f_blocks = fx->capacity / fx->block_size;
	sv.f_files = 2;
	sv.f_namemax = 255;
	if (fx->read_only)
		sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops fx_ops = {
    .init = fx_init,
    .destroy = fx_destroy,
    .lookup = fx_lookup,
    .getattr = fx_getattr,
    .setattr = fx_setattr,
    .readdir = fx_readdir,
    .open = fx_open,
    .release = fx_release,
    .read = fx_read,
    .write_buf = fx_write_buf,
    .flush = fx_flush,
    .fsync = fx_fsync,
    .fallocate = fx_fallocate,
    .statfs = fx_statfs,
};
