/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Small socket helpers the datamovers share (see netutil.h). */
#include <fcntl.h>
#include <netdb.h>
#include <glib.h>

#include "datamover/netutil.h"

char *dm_addr_str(const struct sockaddr *sa, socklen_t len)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV))
		return g_strdup("?");
	if (sa->sa_family == AF_INET6)
		return g_strdup_printf("[%s]:%s", host, serv);
	return g_strdup_printf("%s:%s", host, serv);
}

int dm_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}
