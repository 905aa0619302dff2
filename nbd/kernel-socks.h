/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sockets of a /dev/nbdN we serve: a new one for each the driver
 * drops while we live.
 *
 * With more than one socket, Linux's nbd driver (drivers/block/nbd.c,
 * nbd_xmit_timeout, 6.1) answers a request unanswered past the block
 * layer's timeout (30 s unless io_timeout or NBD_ATTR_TIMEOUT says
 * otherwise) by shutting the socket it went out on, marking it dead and
 * sending the request again on another. A target away for longer than
 * that (a reboot, a failover) thus kills one socket per timeout, and once
 * all are dead every request waits for a NBD_CMD_RECONFIGURE up to the
 * dead-connection timeout, then fails: the device would be lost although
 * we and the target are back. So each socket the driver shuts is replaced
 * at once by a new one through NBD_CMD_RECONFIGURE (nbd_reconnect_socket:
 * it takes the place of a dead one; requests waiting for a connection go
 * out on it).
 *
 * The driver shuts the socket before it marks it dead, and a reconfigure
 * in between finds no dead socket: it drops ours and still reports
 * success (-ENOSPC is turned into 0). That socket then closes having
 * carried nothing, and is tried again after a pause that doubles, 10 ms
 * up to 1 s, KSOCKS_TRIES times at most in a row.
 */
#ifndef ISA_NBD_KERNEL_SOCKS_H
#define ISA_NBD_KERNEL_SOCKS_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "nbd/server.h"

#define KSOCKS_TRIES 16

/**
 * struct ksocks - what is owed to the driver of one device.
 * @srv: the server whose clients the sockets are
 * @index: N of /dev/nbdN
 * @dead_timeout_s: its dead-connection timeout, given again with each
 * @owed: sockets dropped and not replaced yet
 * @idle: replacements in a row that closed having carried nothing
 * @due_us: when the next replacement may be made (monotonic)
 * @replaced: sockets handed over, all told
 * @failed: the driver refused a reconfigure: no more tries
 */
struct ksocks {
	struct nbd_server *srv;
	int index;
	unsigned dead_timeout_s;
	unsigned owed;
	unsigned idle;
	gint64 due_us;
	uint64_t replaced;
	bool failed;
};

/* Start watching @srv's kernel clients for device @index. */
void ksocks_init(struct ksocks *k, struct nbd_server *srv, int index, unsigned dead_timeout_s);

/* Milliseconds until ksocks_service() has something to do; -1: nothing owed. */
int ksocks_due_ms(const struct ksocks *k);

/* Hand the driver the sockets owed to it that are due; never blocks long. */
void ksocks_service(struct ksocks *k);

#endif
