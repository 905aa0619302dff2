/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attachment state under /run/iser-attach/ (or $ISER_ATTACH_RUNDIR): one
 * key=value file per serving process, so that iser-detach and iser-list
 * find attachments without asking the daemons.
 */
#ifndef ISA_CMD_STATE_H
#define ISA_CMD_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>

/**
 * struct attach_state - what is recorded of one attachment.
 * @pid: the serving process
 * @kind: "socket", "tcp", "fuse" or "nbd"
 * @export: what the user names it by: socket path, HOST:PORT, FUSE dir,
 *	    /dev/nbdN
 * @uri: the line iser-attach printed (NBD URI, file path or device)
 * @started: seconds since the epoch
 */
struct attach_state {
	pid_t pid;
	char *kind;
	char *export;
	char *uri;
	char *portal;
	char *target;
	uint32_t lun;
	char *transport;
	gint64 started;
	/* What iser-attach --resume needs: the kernel's connections, our name. */
	unsigned connections;
	char *initiator;
	/* And how its paths were made (0, NULL, false: not given). */
	unsigned paths_per_portal;
	char *path_policy;
	bool all_portals;
};

/* The directory, created mode 0755 if missing. */
const char *state_dir(void);

int state_write(const struct attach_state *st, GError **err);
void state_remove(pid_t pid);

/*
 * How a serving process that ended without a clean logout says why, for
 * the iser-detach that waits for it: written before it exits, read (and
 * removed) once it is gone. NULL when there is none.
 */
int state_result_write(pid_t pid, const char *text, GError **err);
char *state_result_take(pid_t pid);

/* Every recorded attachment (struct attach_state *), oldest first. */
GPtrArray *state_list(void);

void attach_state_free(struct attach_state *st);

/* True when @st names @what (its export, URI, or for FUSE the file inside). */
bool state_matches(const struct attach_state *st, const char *what);

/* True while the process of @st exists. */
bool state_alive(const struct attach_state *st);

#endif
