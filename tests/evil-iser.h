/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The iSER transport of tests/evil-target (--iser ADDR): an RDMA CM
 * listener, and per connection a reliable connected QP carrying iSCSI PDUs
 * in Send messages behind the iSER header, plus the RDMA Writes and Reads
 * that move SCSI data to and from the initiator's tagged buffers. Every
 * call is synchronous: it posts one work request and waits for its
 * completion, so the caller sees the outcome of each RDMA operation (a
 * hostile one included) before it goes on.
 */
#ifndef EVIL_ISER_H
#define EVIL_ISER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datamover/iser-proto.h"

/* What evil_iser_recv() returns: the values of evil-target's recv_pdu(). */
#define EVIL_ISER_TIMEOUT (-2)
#define EVIL_ISER_ERROR	  (-1)
#define EVIL_ISER_EOF	  0
#define EVIL_ISER_OK	  1

/* The largest Send message we receive: iSER header, BHS, the largest AHS, 8 KiB. */
#define EVIL_ISER_RX_SIZE (sizeof(struct iser_hdr) + 48u + 1020u + 8192u + 4u)

struct evil_iser_listener;
struct evil_iser;

/**
 * evil_iser_listen() - listen with rdma_cm on @addr.
 * @addr: a numeric IPv4 or IPv6 address an RDMA device has
 * @port: in: the port, 0 for one of the kernel's choice; out: the port
 *
 * Return: the listener, or NULL with errno set.
 */
struct evil_iser_listener *evil_iser_listen(const char *addr, uint16_t *port);

/**
 * evil_iser_accept() - accept the next initiator.
 * @l: the listener
 * @timeout_ms: how long to wait for a connection request, -1 for ever
 *
 * Sets the connection up (QP, receives posted before the accept, iSER CM
 * private data saying we use neither ZBVA nor Send with Invalidate) and
 * waits until it is established. A request that cannot be served is
 * rejected and the wait goes on.
 *
 * Return: the connection, or NULL on timeout, on a signal (errno EINTR)
 * or on an error of the listener.
 */
struct evil_iser *evil_iser_accept(struct evil_iser_listener *l, int timeout_ms);

/**
 * evil_iser_send() - send one iSCSI PDU in a Send message.
 * @c: the connection
 * @pdu: BHS, AHS and (padded) data segment, @len bytes in all
 * @timeout_ms: how long the Send may take to complete
 *
 * The iSER header in front is a control-type header advertising no STags.
 *
 * Return: 0 once the Send completed, -1 when it failed or the connection is
 * down.
 */
int evil_iser_send(struct evil_iser *c, const void *pdu, uint32_t len, int timeout_ms);

/**
 * evil_iser_recv() - the next Send message of the initiator.
 * @c: the connection
 * @buf: where to copy it, @size bytes (at least EVIL_ISER_RX_SIZE)
 * @len: set to its length, iSER header included
 * @timeout_ms: how long to wait
 *
 * Return: EVIL_ISER_OK, EVIL_ISER_EOF when the connection went down (the
 * initiator disconnected or the QP failed), EVIL_ISER_TIMEOUT.
 */
int evil_iser_recv(struct evil_iser *c, void *buf, uint32_t size, uint32_t *len, int timeout_ms);

/**
 * evil_iser_stage() - the registered buffer RDMA operations move data through.
 * @c: the connection
 * @len: set to its length
 */
uint8_t *evil_iser_stage(struct evil_iser *c, size_t *len);

/**
 * evil_iser_rdma() - one RDMA Write or Read against the initiator's memory.
 * @c: the connection
 * @write: RDMA Write from the stage buffer, else RDMA Read into it
 * @stag: the remote key to use
 * @va: the remote address
 * @len: bytes, at most the stage buffer's length
 * @status: set to the completion's status, when there was a completion
 * @why: on failure without a completion, what went wrong
 *
 * Return: 1 when the operation completed successfully, 0 when it completed
 * with an error (@status says which; a QP in error is down for good), -1
 * when there was no completion to report (not posted, timed out).
 */
int evil_iser_rdma(struct evil_iser *c, bool write, uint32_t stag, uint64_t va, uint32_t len,
		   int *status, char *why, size_t why_len);

/**
 * evil_iser_down() - whether the connection is gone (QP failed, disconnected).
 * @c: the connection
 */
bool evil_iser_down(const struct evil_iser *c);

/**
 * evil_iser_close() - disconnect and free the connection.
 * @c: the connection, or NULL
 */
void evil_iser_close(struct evil_iser *c);

/**
 * evil_iser_listener_close() - stop listening.
 * @l: the listener, or NULL
 */
void evil_iser_listener_close(struct evil_iser_listener *l);

#endif
