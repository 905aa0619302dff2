/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attaching connected sockets to the kernel's nbd driver through its
 * generic netlink family "nbd" (NBD project doc/netlink-proto.md), so that
 * /dev/nbdN is served by our NBD server without nbd-client.
 */
#ifndef ISA_NBD_NETLINK_H
#define ISA_NBD_NETLINK_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

/* True when the "nbd" generic netlink family resolves (driver loaded). */
bool nbd_kernel_available(void);

/*
 * NBD_CMD_CONNECT: hand @nfds connected sockets (one per kernel queue) to
 * the driver for device @index, or the first free one when @index is -1.
 * @server_flags are the NBD transmission flags of the export; @timeout_s
 * is the dead-connection timeout. On success *@index_out is the device.
 */
int nbd_kernel_connect(int index, const int *fds, unsigned nfds, uint64_t size_bytes,
		       uint64_t block_size, uint64_t server_flags, unsigned timeout_s,
		       int *index_out, GError **err);

/*
 * NBD_CMD_RECONFIGURE of device @index with a new size (the driver has
 * taken NBD_ATTR_SIZE_BYTES there since Linux 5.3: nbd_genl_reconfigure
 * calls nbd_genl_size_set, which sets the capacity and tells the block
 * layer).
 */
int nbd_kernel_resize(int index, uint64_t size_bytes, uint64_t block_size, GError **err);

/*
 * NBD_CMD_RECONFIGURE of device @index with @nfds new sockets: a server
 * taking over a device whose server died (iser-attach --resume). Linux's
 * nbd_genl_reconfigure needs the device still bound (NBD_RT_BOUND) with
 * its pid set, as it stays after the serving process is gone; each socket
 * replaces one the driver marked dead (nbd_reconnect_socket; a socket
 * with no dead one left to replace is ignored). Requests waiting for a
 * connection (up to the dead-connection timeout) then go out on the new
 * ones; those that were in flight on the dead ones are sent again once
 * they time out.
 */
int nbd_kernel_reconnect(int index, const int *fds, unsigned nfds, unsigned timeout_s,
			 GError **err);

/* NBD_CMD_DISCONNECT of device @index. */
int nbd_kernel_disconnect(int index, GError **err);

/* NBD_CMD_STATUS: whether device @index is connected. */
int nbd_kernel_status(int index, bool *connected, GError **err);

#endif
