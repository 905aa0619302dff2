/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test-only entry point of the TCP datamover: tests and fuzz harnesses
 * drive a connection over a socketpair instead of a real TCP connect.
 */
#ifndef ISA_TCP_TEST_H
#define ISA_TCP_TEST_H

#include "datamover/datamover.h"

/**
 * dm_tcp_adopt_fd() - use an already connected stream socket.
 * @c: a connection from dm_tcp_ops.create(), not yet connected
 * @fd: a connected stream socket (a socketpair end will do); it is made
 *	non-blocking, and @c owns it from then on (destroy() closes it)
 *
 * Return: 0, or -1 when @c is already connected or failed or @fd cannot be
 * made non-blocking (@fd is then still the caller's).
 */
int dm_tcp_adopt_fd(struct dm_conn *c, int fd);

/* Receive system calls @c has made (readv and recv), for tests to bound. */
uint64_t dm_tcp_rx_calls(const struct dm_conn *c);

#endif
