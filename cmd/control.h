/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control socket of a serving iser-attach process: a unix socket next
 * to its state file, answering one request per connection ("stats") with
 * key=value lines. iser-list reads live counters through it.
 */
#ifndef ISA_CMD_CONTROL_H
#define ISA_CMD_CONTROL_H

#include <sys/types.h>
#include <glib.h>

/* The socket path for the process @pid. */
char *control_path(pid_t pid);

/* Listen on @path (mode 0600, non-blocking). Returns the fd or -1. */
int control_listen(const char *path, GError **err);

/*
 * Accept pending connections on @lfd and answer each "stats" request with
 * @report(@opaque) (a newly allocated string). Never blocks for long: a
 * client has 200 ms to send its request.
 */
void control_serve(int lfd, char *(*report)(void *opaque), void *opaque);

/* Send @request to the process behind @path; the answer, or NULL with @err. */
char *control_query(const char *path, const char *request, int timeout_ms, GError **err);

#endif
