/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Datamover Interface (after RFC 5047): what the iSCSI layer needs from a
 * transport, as one small vtable. A datamover frames PDUs, moves SCSI payload
 * between the wire and the caller's buffers, answers R2Ts with Data-Out (TCP)
 * or lets the target RDMA the data (iSER). It knows iSCSI PDU framing but
 * nothing of SCSI: CDBs, sense and status are the initiator's business.
 *
 * Contract, in the style of libiscsi's get_fd / which_events / service:
 * the owner polls dm_ops.get_fd() for dm_ops.which_events() and calls
 * dm_ops.service() with what fired. All upcalls happen inside service() or
 * inside a send call; none happens after destroy().
 */
#ifndef ISA_DATAMOVER_H
#define ISA_DATAMOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#include "common/iscsi-proto.h"

/**
 * struct dm_params - negotiated values a datamover must honour.
 * @max_recv_dsl: largest DataSegmentLength we declared we accept (ours)
 * @max_xmit_dsl: largest DataSegmentLength the target accepts (theirs)
 * @first_burst: FirstBurstLength
 * @max_burst: MaxBurstLength
 * @max_outstanding_r2t: MaxOutstandingR2T
 * @header_digest: CRC32C on headers
 * @data_digest: CRC32C on data segments
 */
struct dm_params {
	uint32_t max_recv_dsl;
	uint32_t max_xmit_dsl;
	uint32_t first_burst;
	uint32_t max_burst;
	uint32_t max_outstanding_r2t;
	bool header_digest;
	bool data_digest;
};

/**
 * struct dm_task - the part of a SCSI task a datamover sees.
 * @itt: Initiator Task Tag, as in the command BHS (host byte order)
 * @lun: LUN field, copied into Data-Out headers
 * @read_buf: where Data-In payload lands (NULL when @read_len is 0)
 * @read_len: Expected Data Transfer Length of the read direction
 * @write_buf: where Data-Out payload comes from
 * @write_len: Expected Data Transfer Length of the write direction
 * @imm_len: bytes of @write_buf sent as immediate data in the command PDU
 * @unsol_len: bytes sent unsolicited (immediate + Data-Out without R2T);
 *	       @imm_len <= @unsol_len <= @write_len. Set by the initiator
 *	       from ImmediateData/InitialR2T/FirstBurstLength.
 * @read_placed: bytes of Data-In placed so far (datamover-owned)
 * @next_datasn: DataSN expected of the next Data-In (datamover-owned)
 * @r2t_outstanding: R2Ts received and not yet fully answered
 * @queued: Data-Out or command PDUs of this task still in the send queue
 * @violations: protocol violations the target committed on this task
 *		(counted by whichever layer finds them, before it fails the
 *		connection), over all the connections it was sent on: the
 *		initiator gives up on a task the target keeps breaking
 * @open_on: datamover-owned: which connection (a datamover's own number)
 *	     this command was sent on and is open on (for a read: may still
 *	     receive Data-In from), 0 when none; forget_task() clears it
 */
struct dm_task {
	uint32_t itt;
	uint8_t lun[8];
	void *read_buf;
	uint32_t read_len;
	const void *write_buf;
	uint32_t write_len;
	uint32_t imm_len;
	uint32_t unsol_len;

	uint32_t read_placed;
	uint32_t next_datasn;
	uint32_t r2t_outstanding;
	uint32_t queued;
	uint32_t violations;
	uint64_t open_on;
};

/**
 * struct dm_upcalls - how a datamover reaches the iSCSI layer.
 * @find_task: the task for an ITT (host byte order) carried by Data-In or
 *	       R2T, or NULL
 * @exp_statsn: ExpStatSN to put into Data-Out headers
 * @pdu: every received PDU, header first, with its AHS (@ahs_len bytes,
 *	 already length-checked against TotalAHSLength). For Data-In the
 *	 payload has already been placed into the task's read buffer and @data
 *	 is NULL; for every other PDU @data holds the whole data segment
 *	 (@dlen bytes). Both are valid only during the call. Returns 0, or -1
 *	 to drop the connection (the datamover then calls @failed).
 * @failed: the connection is gone (peer closed, malformed PDU, digest
 *	    error, I/O error), or it never came up (every address refused
 *	    it); @msg says why in words for a log line.
 * @connected: the connect() under way has succeeded: PDUs may be sent.
 */
struct dm_upcalls {
	void *opaque;
	struct dm_task *(*find_task)(void *opaque, uint32_t itt);
	uint32_t (*exp_statsn)(void *opaque);
	int (*pdu)(void *opaque, const uint8_t *bhs, const uint8_t *ahs, uint32_t ahs_len,
		   const uint8_t *data, uint32_t dlen);
	void (*failed)(void *opaque, int err, const char *msg);
	void (*connected)(void *opaque);
};

struct dm_conn;

/**
 * struct dm_caps - what the layers above need to know of a transport, so
 * that none of them asks which one it is.
 * @rdma: payload moves by RDMA (iSER): login negotiates RDMAExtensions and
 *	  the iSER keys (RFC 7145 6.3)
 * @counts_data_in: read data arrives in Data-In PDUs whose bytes the
 *		    datamover counts in dm_task.read_placed (TCP), so the
 *		    initiator can check a GOOD status against them; false
 *		    when the target places data by RDMA (iSER)
 * @max_transfer: largest Expected Data Transfer Length of one command the
 *		  transport carries, or 0 for no limit of its own; the
 *		  initiator splits larger requests (iSER targets such as tgt
 *		  hold one pre-registered buffer of at most 512 KiB per command)
 * @service_unprompted: once connected, service() may be given the events
 *			the datamover asked for instead of those that fired:
 *			what did not fire then costs one system call that
 *			meets EAGAIN, and nothing is misread (TCP: a read and
 *			a send that find nothing to do). The owner can then
 *			skip asking which of its fds fired.
 */
struct dm_caps {
	bool rdma;
	bool counts_data_in;
	uint32_t max_transfer;
	bool service_unprompted;
};

/**
 * struct dm_ops - one transport.
 * @name: "tcp" or "iser"
 * @create: a connection object, not yet connected
 * @connect: resolve @host (a name, IPv4 or IPv6 literal) and start
 *	     connecting to @port, trying each address in turn; it never
 *	     waits (but for getaddrinfo() of a name). service() carries the
 *	     connect on and calls connected() or failed(). Returns -1 with
 *	     @err only when no address could even be tried. @timeout_ms
 *	     bounds the steps the transport times itself (RDMA address and
 *	     route resolution); the owner times the whole attempt out by
 *	     calling reset() or destroy().
 * @get_fd: the fd to poll
 * @which_events: EPOLLIN, plus EPOLLOUT while output is pending
 * @service: make progress after poll; returns 0, or -1 once the connection
 *	     failed (failed() has then been called)
 * @send_pdu: queue a control PDU; the BHS and data are copied. In both send
 *	      calls a BHS with a non-zero TotalAHSLength is followed by its AHS
 *	      in the same buffer, and the datamover sets DataSegmentLength.
 * @send_command: queue a SCSI Command PDU with @task's immediate data and
 *		  unsolicited Data-Out; payload is sent from @task->write_buf
 *		  without copying, so @task must live until it completes
 * @forget_task: drop anything still queued for @task (before it is freed)
 * @set_params: enter full feature phase with the negotiated values
 * @buf_alloc: payload buffer from the datamover's pool (registered for RDMA
 *	       on iSER); @buf_free gives it back. NULL with errno EAGAIN when
 *	       the pinned-memory bound is reached: a buffer given back makes
 *	       room, so the caller waits (E2BIG: @len alone is over it)
 * @set_pinned_limit: bound the bytes the datamover keeps registered for
 *		      RDMA (NULL when it registers none)
 * @stats_copied: payload bytes this datamover had to memcpy
 * @cork: while on, send_pdu() and send_command() only queue; turning it
 *	  off sends everything queued, in as few system calls as it can (NULL
 *	  when the transport gains nothing from it)
 * @stats_pinned: bytes of memory it has registered for RDMA now (NULL or 0
 *		  when it registers none)
 * @reset: close the connection and drop what is queued, keeping the
 *	   object and its buffer pool, so that connect() can be called again
 *	   (session recovery); NULL when the transport cannot
 * @destroy: close and free; no upcall after it
 * @caps: what the transport is and can do, for the layers above
 */
struct dm_ops {
	const char *name;
	struct dm_caps caps;
	struct dm_conn *(*create)(const struct dm_upcalls *up);
	int (*connect)(struct dm_conn *c, const char *host, uint16_t port, int timeout_ms,
		       GError **err);
	int (*get_fd)(struct dm_conn *c);
	uint32_t (*which_events)(struct dm_conn *c);
	int (*service)(struct dm_conn *c, uint32_t revents);
	int (*send_pdu)(struct dm_conn *c, const uint8_t *bhs, const void *data, uint32_t dlen);
	int (*send_command)(struct dm_conn *c, const uint8_t *bhs, struct dm_task *task);
	void (*forget_task)(struct dm_conn *c, struct dm_task *task);
	void (*set_params)(struct dm_conn *c, const struct dm_params *p);
	void *(*buf_alloc)(struct dm_conn *c, size_t len);
	void (*buf_free)(struct dm_conn *c, void *buf, size_t len);
	uint64_t (*stats_copied)(struct dm_conn *c);
	uint64_t (*stats_pinned)(struct dm_conn *c);
	void (*set_pinned_limit)(struct dm_conn *c, uint64_t max);
	void (*cork)(struct dm_conn *c, bool on);
	void (*reset)(struct dm_conn *c);
	void (*destroy)(struct dm_conn *c);
};

extern const struct dm_ops dm_tcp_ops;
extern const struct dm_ops dm_iser_ops;

/**
 * dm_iser_usable() - whether @host resolves and routes to an RDMA device.
 * @host: name, IPv4 or IPv6 literal
 * @port: the portal's port
 * @err: why not, when it does not
 *
 * Finds the local address the route to @host leaves from and whether an
 * RDMA device owns it (loopback: whether the RDMA connection manager
 * resolves it), without sending anything; quick on hosts without any
 * RDMA device.
 */
bool dm_iser_usable(const char *host, uint16_t port, GError **err);

#endif
