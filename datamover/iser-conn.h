/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of the iSER datamover share (see iser.c): its limits, the
 * connection object and the functions one file calls in another.
 *
 *   iser.c        the dm_ops: commands, their windows, service, reset
 *   iser-cm.c     the RDMA connection manager: connect, and the probe of
 *                 whether a portal is reachable by RDMA at all
 *   iser-verbs.c  PD, CQ, QP, control memory and receive buffers; teardown
 *   iser-tx.c     the send queue: descriptors, the chain posted per turn
 *   iser-rx.c     completions: receives held until windows are invalid
 *   iser-win.c    memory windows (or registrations) per command
 *   pool.c        registered buffers, the pinned-memory budget
 */
#ifndef ISA_ISER_CONN_H
#define ISA_ISER_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <netdb.h>
#include <glib.h>
#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "datamover/datamover.h"
#include "datamover/iser-msg.h"
#include "datamover/iser-proto.h"
#include "datamover/iser-share.h"
#include "datamover/iser-win.h"
#include "datamover/netutil.h"
#include "datamover/pool.h"

/* RFC 7143 12.12: 8192 bytes during login. */
#define ISER_LOGIN_DSL 8192u
/*
 * Most payload one Send carries. LIO agrees to any TargetRecvDataSegmentLength
 * but its receive buffers hold 8192 bytes (RFC 7145's default) and a larger
 * Send kills the connection; the kernel initiator never sends more either.
 * What immediate data does not fit, the target RDMA-Reads.
 */
#define ISER_SEND_DSL 8192u
#define ISER_MAX_AHS  (255u * 4u)
/* A send descriptor: iSER header, BHS and the largest AHS, cache aligned. */
#define ISER_TX_SLOT 1152u
_Static_assert(ISER_TX_SLOT >= ISER_HDRS_LEN + ISER_MAX_AHS, "send slot too small");
#define ISER_SQ_DEPTH 512u
#define ISER_RQ_DEPTH 512u
/* Receives kept beyond commands in flight: NOP-In, async messages, rejects. */
#define ISER_RX_SPARE 16u
/* Full-feature receives are added this many at a time, at least. */
#define ISER_RX_CHUNK 32u
/* Every so many sends one is signalled, to release send descriptors. */
#define ISER_SIGNAL_EVERY 32u
#define ISER_CQ_BATCH	  16
/* Completion events are acknowledged in batches (the ack takes a lock). */
#define ISER_ACK_EVERY 64u
/* tgt's iSER targets hold one pre-registered buffer of 512 KiB per command. */
#define ISER_MAX_TRANSFER (512u << 10)
/* How long destroy() waits for the flushed work requests, and
 * forget_task() for the invalidation of a command's windows. */
#define ISER_DRAIN_MS 2000
/* Pinned bytes per connection unless set_pinned_limit() says otherwise. */
#define ISER_MAX_PINNED_DEFAULT (64ull << 20)
/* Regions of the pool whose buffers have all been free this long go back. */
#define ISER_TRIM_IDLE_US (5 * G_USEC_PER_SEC)
/* How long the --transport auto probe may take to resolve a loopback address. */
#define ISER_PROBE_MS 2000
/*
 * Local ACK timeout of our QP, 4.096 us * 2^17 = 537 ms, and how often a
 * send is retried before it fails with IBV_WC_RETRY_EXC_ERR: a target
 * that stopped answering fails the connection after 7 * 537 ms = 3.8 s
 * with I/O outstanding, instead of when the NOP-Out ping times out.
 * Without the option rdma_cm derives the timeout from the path, on RoCE
 * from a packet life time built into the kernel (CMA_IBOE_PACKET_LIFETIME,
 * which has changed between versions). The retry count
 * is 6, not 7: rdma_rxe takes 7 for "retry forever" (rxe_comp.c, as the
 * IBTA defines only for the RNR retry count), so that on soft-RoCE a QP
 * whose peer has gone never fails at all.
 */
#define ISER_ACK_TIMEOUT 17
#define ISER_RETRY_COUNT 6

/*
 * Responder resources we grant: the target's RDMA Reads in flight, and
 * how many newer Reads end the replay of an old one (iser-win.h).
 */
#define ISER_READ_REPLAYS 8

/* wr_id: the kind of work request in the high half, its slot in the low. */
#define WR_TX		 1ull
#define WR_RX		 2ull
#define WR_ID(kind, idx) ((kind) << 32 | (uint32_t)(idx))

#define DM_ISER_ERROR (g_quark_from_static_string("dm-iser-error"))

/* What one send descriptor carries. */
enum tx_kind {
	TX_SEND,
	TX_BIND,
	TX_INV,
};

/**
 * struct tx_desc - one work request for the send queue.
 * @kind: a Send, a window bind or a local invalidation
 * @task: the task it belongs to, or NULL
 * @hdr: iSER header, BHS and AHS of a Send, @hdr_len bytes
 * @data: payload gathered after the header, or NULL
 * @dlen: its length
 * @lkey: its local key
 * @owned: a control-pool buffer of control-PDU data, freed once sent
 * @wr: the bind or invalidation (TX_BIND, TX_INV)
 * @inv_seq: of an invalidation: its number (see dm_conn.inv_done)
 */
struct tx_desc {
	enum tx_kind kind;
	struct dm_task *task;
	const uint8_t *hdr;
	uint32_t hdr_len;
	const void *data;
	uint32_t dlen;
	uint32_t lkey;
	void *owned;
	struct ibv_send_wr wr;
	uint64_t inv_seq;
};

/**
 * struct tx_pending - a work request waiting for a free send descriptor.
 * @d: what it is (@d.hdr points to @hdr)
 * @hdr: a copy of the Send's headers
 */
struct tx_pending {
	struct tx_desc d;
	uint8_t hdr[];
};

/**
 * struct rx_slot - one receive buffer.
 * @buf: the buffer, in the pool
 * @size: its length
 * @lkey: its local key
 * @login: the login buffer, retired after the final Login Response
 */
struct rx_slot {
	uint8_t *buf;
	uint32_t size;
	uint32_t lkey;
	bool login;
};

/**
 * struct iser_cmd - what we keep of a SCSI command until it is forgotten.
 * @bounce_write: pool copy of a write buffer that lies outside the pool
 * @bounce_read: pool buffer receiving read data for a read buffer outside
 *		 the pool, copied out when the SCSI Response arrives
 * @win: its windows: [0] over the read buffer (remote write), [1] over
 *	 the write buffer past the unsolicited data (remote read), or NULL
 * @live: which of @win the target may still use (no invalidation posted)
 * @inv_seq: number of the last invalidation posted for @win, or 0
 * @answered: the target answered (SCSI Response or Reject)
 */
struct iser_cmd {
	void *bounce_write;
	void *bounce_read;
	struct iser_win *win[2];
	bool live[2];
	uint64_t inv_seq;
	bool answered;
};

/**
 * struct rx_held - a received PDU waiting for invalidations to complete.
 * @idx: its receive slot (not re-posted meanwhile)
 * @m: the parsed message, pointing into the slot
 * @task: the command it answers, or NULL
 * @seq: the invalidation it waits for (deliverable once inv_done >= @seq)
 * @final: the final Login Response
 * @dropped: its command was forgotten meanwhile: not delivered
 */
struct rx_held {
	uint32_t idx;
	struct iser_msg m;
	struct dm_task *task;
	uint64_t seq;
	bool final;
	bool dropped;
};

/**
 * struct dm_conn - an iSER connection to one target portal.
 * @up: the iSCSI layer's upcalls
 * @epfd: what get_fd() returns: @cm_ch and @comp_ch
 * @cm_ch: RDMA CM event channel
 * @id: the connection's CM id; its QP is @id->qp
 * @pd: protection domain of the QP and the pool
 * @comp_ch: completion channel of @cq
 * @cq: send and receive completions
 * @cq_events: completion events not yet acknowledged
 * @connect_step: where a connect under way is (see iser_connect)
 * @connect_res: the addresses it tries, @connect_ai the one now tried
 * @connect_errs: why each address tried so far failed
 * @connect_ms: how long each resolution step may take
 * @connected: established and not yet disconnected by either side
 * @failed: failed() has been called, or destroy() runs; nothing more moves
 * @params: negotiated values (login defaults until set_params)
 * @params_set: set_params() has been called
 * @budget: pinned bytes of @pool and @ctl together, and their bound
 * @bound_met: a buffer had to wait for the bound once (logged once)
 * @pool: registered payload buffers (one MR per buffer, window binding)
 * @share: @pd and @pool are the device's, shared with every connection of
 *	   the process on it (iser-share.c), and so is the pinned budget
 * @pool_kept: @pool and @pd outlive the connection: once one came up, the
 *	       iSCSI layer may hold buffers from it across a reset()
 * @ctl: this connection's control memory: send ring, receive buffers,
 *	 control PDU data (local access only)
 * @wins: the windows of this connection's commands
 * @last_trim: when idle pool regions were last looked for
 * @kick_fd: eventfd in @epfd: work for service() that no completion announces
 * @in_sync: forget_task() waits for an invalidation: completions are only
 *	     accounted and received PDUs held; upcalls wait too
 * @fail_err: a failure to report from service() (see @in_sync)
 * @fail_msg: its message, or NULL
 * @sq_depth: send descriptors (work requests the send queue holds)
 * @tx_ring: @sq_depth send descriptors of ISER_TX_SLOT bytes, in @ctl
 * @tx_lkey: their local key
 * @tx_owned: per descriptor, control data to free once it is released
 * @tx_inv: per descriptor, the number of the invalidation it carries, or 0
 * @wrs: per descriptor, its work request
 * @sges: per descriptor, two gather entries
 * @chain: work requests taken and not yet posted, in order (@chain_tail:
 *	   where the next is linked, @chain_len: how many)
 * @corked: cork(): post only when uncorked
 * @tx_head: next descriptor to use
 * @tx_used: descriptors taken and not yet released
 * @tx_unsignaled: work requests since the last signalled one
 * @tx_backlog: struct tx_pending, oldest first, while no descriptor is free
 * @inv_posted: number of the last invalidation queued
 * @inv_done: every invalidation up to this number has completed
 * @rq_depth: most receives posted at once
 * @rx: struct rx_slot; the index is the wr_id
 * @rx_chunks: the @ctl buffers the receive buffers are carved from
 * @rx_posted: receives posted and not yet completed
 * @rx_ffp: full-feature receive buffers
 * @rx_error: errno of a failure to add receive buffers, reported by rx_check()
 * @held: ring of @rq_depth received PDUs held back, oldest at @held_head
 * @held_count: how many
 * @cmds: struct dm_task * -> struct iser_cmd, commands sent and not forgotten
 * @copied: payload bytes bounced (see dm_ops.stats_copied)
 */
struct dm_conn {
	struct dm_upcalls up;
	int epfd;
	struct rdma_event_channel *cm_ch;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *comp_ch;
	struct ibv_cq *cq;
	unsigned int cq_events;
	int connect_step;
	struct addrinfo *connect_res;
	struct addrinfo *connect_ai;
	GString *connect_errs;
	int connect_ms;
	bool connected;
	bool failed;
	struct dm_params params;
	bool params_set;
	struct pool_budget budget;
	bool bound_met;
	struct dm_pool *pool;
	struct iser_share *share;
	bool pool_kept;
	struct dm_pool *ctl;
	struct iser_wins *wins;
	gint64 last_trim;
	int kick_fd;
	bool in_sync;
	int fail_err;
	char *fail_msg;
	uint32_t sq_depth;
	uint8_t *tx_ring;
	uint32_t tx_lkey;
	void **tx_owned;
	uint64_t *tx_inv;
	struct ibv_send_wr *wrs;
	struct ibv_sge *sges;
	struct ibv_send_wr *chain;
	struct ibv_send_wr **chain_tail;
	uint32_t chain_len;
	bool corked;
	uint32_t tx_head;
	uint32_t tx_used;
	uint32_t tx_unsignaled;
	GQueue tx_backlog;
	uint64_t inv_posted;
	uint64_t inv_done;
	uint32_t rq_depth;
	GPtrArray *rx;
	GPtrArray *rx_chunks;
	uint32_t rx_posted;
	uint32_t rx_ffp;
	int rx_error;
	struct rx_held *held;
	uint32_t held_head;
	uint32_t held_count;
	GHashTable *cmds;
	uint64_t copied;
};

/* iser.c: the dm_ops */
void G_GNUC_PRINTF(3, 4) iser_fail(struct dm_conn *c, int err, const char *fmt, ...);
int iser_epoll_add(int epfd, int fd);
void iser_cmd_invalidate(struct dm_conn *c, struct iser_cmd *cmd);
void iser_cmd_quiesce(struct dm_conn *c, struct iser_cmd *cmd);

/* iser-cm.c: the connection manager */
void iser_connect_end(struct dm_conn *c);
int iser_connect(struct dm_conn *c, const char *host, uint16_t port, int timeout_ms,
		 GError **error);
void iser_cm_service(struct dm_conn *c);

/* iser-verbs.c: verbs resources */
void iser_tx_pending_free(struct dm_conn *c, struct tx_pending *p);
void iser_tx_backlog_purge(struct dm_conn *c);
void iser_qp_stop(struct dm_conn *c);
void iser_teardown(struct dm_conn *c, bool keep_pool);
int iser_rx_post(struct dm_conn *c, uint32_t idx);
int iser_rx_provision(struct dm_conn *c, uint32_t want);
int iser_rx_check(struct dm_conn *c);
int iser_verbs_setup(struct dm_conn *c, char **why);
void iser_shutdown(struct dm_conn *c, bool keep_pool);

/* iser-tx.c: the send queue */
void iser_tx_take(struct dm_conn *c, const struct tx_desc *d);
void iser_tx_chain_drop(struct dm_conn *c);
int iser_tx_flush(struct dm_conn *c);
int iser_tx_kick(struct dm_conn *c);
int iser_tx_queue(struct dm_conn *c, const struct tx_desc *d);
int iser_tx_send(struct dm_conn *c, const uint8_t *hdr, uint32_t hdr_len, const void *data,
		 uint32_t dlen, uint32_t lkey, void *owned, struct dm_task *task);
void iser_tx_backlog_flush(struct dm_conn *c);
void iser_tx_release(struct dm_conn *c, uint32_t idx);
uint32_t iser_tx_hdr(uint8_t *out, const struct iser_hdr *ih, const uint8_t *bhs, uint32_t dlen);

/* iser-rx.c: receives and completions */
unsigned int iser_cq_drain(struct dm_conn *c);
void iser_cq_drain_quiet(struct dm_conn *c);
void iser_cq_service(struct dm_conn *c);

#endif
