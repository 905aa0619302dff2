/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The FUSE front end: one regular file per attached LUN in a libfuse3
 * mount. FUSE requests arrive on libfuse's worker threads; they are handed
 * to the session's thread through an eventfd, because an isa_session is
 * driven from one thread only.
 */
#ifndef ISA_FUSE_EXPORT_H
#define ISA_FUSE_EXPORT_H

#include <stdbool.h>
#include <glib.h>

#include "include/iser-attach.h"

/**
 * struct fuse_export_config - how the file is presented.
 * @file_name: name of the file in the mount ("lun1" style default when NULL)
 * @read_only: present it read-only even if the LUN is writable
 * @page_cache: go through the kernel page cache instead of direct I/O
 */
struct fuse_export_config {
	const char *file_name;
	bool read_only;
	bool page_cache;
};

struct fuse_export_stats {
	uint64_t requests;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t copied_bytes;
	uint64_t errors;
};

struct fuse_export;

/* Mount at @mountpoint and start serving (libfuse threads start here). */
struct fuse_export *fuse_export_new(struct isa_session *s, struct isa_lun *l,
				    const char *mountpoint, const struct fuse_export_config *cfg,
				    GError **err);

/* Readable when fuse_export_service() has requests to hand to the session. */
int fuse_export_get_fd(struct fuse_export *fx);

/* Issue queued requests on the session; run on the session's thread. */
void fuse_export_service(struct fuse_export *fx);

/* True once the file system was unmounted (fusermount3 -u, umount). */
bool fuse_export_unmounted(const struct fuse_export *fx);

/* True when no request is in flight. */
bool fuse_export_drained(const struct fuse_export *fx);

/* The LUN's capacity changed: the file's size follows. */
void fuse_export_resize(struct fuse_export *fx);

void fuse_export_get_stats(const struct fuse_export *fx, struct fuse_export_stats *st);

/* Unmount if still mounted, stop the threads, free. */
void fuse_export_free(struct fuse_export *fx);

#endif
