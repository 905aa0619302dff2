/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A new socket for each the kernel's nbd driver drops (see kernel-socks.h). */
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "include/iser-attach.h"
#include "nbd/kernel-socks.h"
#include "nbd/netlink.h"

/* The first pause after a replacement the driver did not keep. */
#define KSOCKS_PAUSE_US	    10000
#define KSOCKS_PAUSE_MAX_US 1000000

static void lost(void *opaque, uint64_t requests, bool shut)
{
	struct ksocks *k = opaque;
	gint64 pause = KSOCKS_PAUSE_US;

	if (k->failed)
		return;
	k->owed++;
	if (requests) {
		g_message("/dev/nbd%d: %s; handing it a new one", k->index,
			  shut ? "the driver dropped a socket (as it does when a request on it "
				 "times out)"
			       : "a socket of the driver failed on our side");
		k->idle = 0;
		k->due_us = 0;
		return;
	}
	/* Closed having carried nothing: the driver did not keep it. */
	if (++k->idle > KSOCKS_TRIES) {
		g_warning("/dev/nbd%d: the driver kept none of %u new sockets; it goes on with "
			  "%u fewer",
			  k->index, KSOCKS_TRIES, k->owed);
		k->failed = true;
		return;
	}
	for (unsigned i = 1; i < k->idle && pause < KSOCKS_PAUSE_MAX_US; i++)
		pause *= 2;
	k->due_us = g_get_monotonic_time() + MIN(pause, KSOCKS_PAUSE_MAX_US);
	g_debug("/dev/nbd%d: a new socket was not kept; again in %" G_GINT64_FORMAT " ms", k->index,
		MIN(pause, KSOCKS_PAUSE_MAX_US) / 1000);
}

void ksocks_init(struct ksocks *k, struct nbd_server *srv, int index, unsigned dead_timeout_s)
{
	*k = (struct ksocks){.srv = srv, .index = index, .dead_timeout_s = dead_timeout_s};
	nbd_server_on_lost(srv, lost, k);
}

int ksocks_due_ms(const struct ksocks *k)
{
	gint64 now;

	if (!k->owed || k->failed)
		return -1;
	now = g_get_monotonic_time();
	return k->due_us <= now ? 0 : (int)((k->due_us - now + 999) / 1000);
}

void ksocks_service(struct ksocks *k)
{
	g_autoptr(GError) err = NULL;
	int sv[2], rc;

	if (ksocks_due_ms(k) != 0)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		g_warning("/dev/nbd%d: no socket to replace a dropped one: %s", k->index,
			  g_strerror(errno));
		k->due_us = g_get_monotonic_time() + KSOCKS_PAUSE_MAX_US;
		return;
	}
	/* Served before the driver has it, so that nothing it sends waits. */
	rc = nbd_server_add_client(k->srv, sv[0], true);
	if (rc < 0) {
		/* Shutting down (or out of clients): nothing more is owed. */
		close(sv[1]);
		k->owed = 0;
		return;
	}
	k->owed--;
	rc = nbd_kernel_reconnect(k->index, &sv[1], 1, k->dead_timeout_s, &err);
	/* The driver holds its own reference to a socket it keeps. */
	close(sv[1]);
	if (rc < 0) {
		g_warning("/dev/nbd%d: cannot replace a dropped socket: %s", k->index,
			  err->message);
		k->failed = true;
		return;
	}
	k->replaced++;
}
