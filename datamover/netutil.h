/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small socket helpers the datamovers share. */
#ifndef ISA_NETUTIL_H
#define ISA_NETUTIL_H

#include <sys/socket.h>

/* "192.0.2.1:3260" or "[2001:db8::1]:3260" (g_free it), for messages. */
char *dm_addr_str(const struct sockaddr *sa, socklen_t len);

/* Make @fd non-blocking. Returns 0, or -1 with errno. */
int dm_set_nonblock(int fd);

#endif
