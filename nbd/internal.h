/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the files of the NBD server share: the server, its connections,
 * requests and queued output, and the functions server.c (sockets and
 * connection I/O), handshake.c (option haggling) and transmission.c
 * (requests) call in each other.
 */
#ifndef ISA_NBD_INTERNAL_H
#define ISA_NBD_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <glib.h>

#include "include/iser-attach.h"
#include "nbd/nbd-proto.h"
#include "nbd/server.h"

/* Largest READ or WRITE payload, advertised as the maximum block size. */
#define NBD_MAX_PAYLOAD NBD_SERVER_MAX_PAYLOAD
/*
 * A WRITE with a larger payload than this is not worth reading and
 * discarding (nbdkit draws the same line): the connection is closed.
 */
#define NBD_MAX_DISCARD (64u << 20)
/* Per connection: stop reading requests while this many are not done... */
#define NBD_MAX_CONN_REQS 256
/* Request headers taken from the socket in one receive, at most. */
#define NBD_PEEK_HDRS 64
/* ...or while their payload buffers hold this many bytes. */
#define NBD_MAX_CONN_BYTES (256u << 20)
/* Handshake: a client needing more options than this is not serious. */
#define NBD_MAX_OPTIONS 32
/* Handshake: longest option data accepted. */
#define NBD_MAX_OPTION_LEN (64u << 10)
/* The id of base:allocation in NBD_REPLY_TYPE_BLOCK_STATUS. */
#define NBD_CONTEXT_BASE_ALLOCATION	 1
#define NBD_CONTEXT_BASE_ALLOCATION_NAME "base:allocation"

/* What an epoll event's data.ptr points to starts with one of these. */
enum nbd_ep_kind {
	NBD_EP_LISTENER,
	NBD_EP_CONN,
	NBD_EP_WATCH,
};

/* Most fds of the owner nbd_server_watch() takes. */
#define NBD_MAX_WATCH 4

/**
 * struct nbd_watch - an fd of the owner's in the server's epoll set.
 * @kind: NBD_EP_WATCH
 * @bit: what nbd_server_wait() reports for it
 */
struct nbd_watch {
	enum nbd_ep_kind kind;
	unsigned bit;
};

/**
 * struct nbd_listener - one listening socket.
 * @kind: NBD_EP_LISTENER
 * @unix_path: the socket file to remove at the end, or NULL for TCP
 */
struct nbd_listener {
	enum nbd_ep_kind kind;
	struct nbd_server *srv;
	int fd;
	char *unix_path;
};

/**
 * struct nbd_server - one export of one LUN, all its sockets.
 * @epfd: what the owner polls; listeners and connections are in it
 * @conns: live connections (socket open)
 * @zombies: connections whose socket is closed but whose requests are
 *	     still with the initiator; freed by the last completion
 * @reap: connections to free once nbd_server_service() is done with its
 *	  batch of events, which may still point to them
 * @in_service: inside nbd_server_service(): defer freeing connections
 * @inflight: requests handed to the initiator whose callback is pending
 * @queued: messages waiting in connections' output queues
 * @scratch: where refused WRITE payload is read to be thrown away
 * @watch: the owner's fds in @epfd (nbd_server_watch()), @nwatch of them
 */
struct nbd_server {
	struct isa_session *s;
	struct isa_lun *l;
	struct isa_lun_info info;
	char *export_name;
	char *description;
	bool read_only;
	unsigned max_connections;
	uint32_t pref_block;
	int epfd;
	GPtrArray *listeners;
	GQueue conns;
	GQueue zombies;
	GQueue reap;
	bool in_service;
	bool shutting_down;
	bool hold;	  /* replies wait for nbd_server_hold(false) (one sendmsg each client) */
	nbd_lost_fn lost; /* nbd_server_on_lost() */
	void *lost_opaque;
	GQueue orphans; /* fence.c: requests of dropped kernel sockets still in flight */
	GQueue held;	/* fence.c: requests waiting for them */
	bool releasing; /* fence.c: sending held requests now */
	uint64_t inflight;
	uint64_t queued;
	struct nbd_server_stats stats;
	uint8_t *scratch;
	struct nbd_watch watch[NBD_MAX_WATCH];
	unsigned nwatch;
};

/* Where a connection is in reading what the client sends. */
enum nbd_rx_state {
	NBD_RX_CLIENT_FLAGS, /* handshake: 32-bit client flags */
	NBD_RX_OPT_HDR,	     /* handshake: struct nbd_option */
	NBD_RX_OPT_DATA,     /* handshake: the option's data */
	NBD_RX_REQ_HDR,	     /* transmission: struct nbd_request */
	NBD_RX_PAYLOAD,	     /* transmission: WRITE payload into the request's buffer */
	NBD_RX_DISCARD,	     /* transmission: payload of a refused WRITE, thrown away */
};

/**
 * struct nbd_msg - something queued for sending on a connection.
 * @iov: what is left to send; advanced in place by partial writes
 * @hdr: storage for the fixed part (reply header and friends)
 * @heap: g_malloc()ed bytes to free once sent (or NULL)
 * @req: the request this replies to, freed once sent (or NULL)
 */
struct nbd_msg {
	GList link;
	struct iovec iov[3];
	unsigned niov;
	unsigned cur;
	uint8_t hdr[32];
	void *heap;
	struct nbd_req *req;
};

/**
 * struct nbd_conn - one client connection.
 * @kind: NBD_EP_CONN
 * @link: in the server's conns, zombies or reap queue
 * @fd: the socket, -1 once closed
 * @events: the epoll events registered now
 * @rx: header being received; @rx_have of @rx_want bytes are there
 * @opt: the option being received (handshake)
 * @opt_data: its data
 * @nopts: options received so far
 * @no_zeroes: the client asked for NBD_FLAG_C_NO_ZEROES
 * @structured: structured replies negotiated
 * @base_allocation: base:allocation selected
 * @eflags: transmission flags this connection was given
 * @cur: the WRITE whose payload is being received or thrown away
 *	 (@rx_have bytes of it so far)
 * @stop_reading: read nothing more (DISC, end of file, shutdown, fatal
 *		  handshake error): close once everything is answered
 * @nreqs: requests received and not yet freed (reply sent)
 * @nbytes: payload buffer bytes those requests hold
 * @ninflight: of them, those the initiator still has
 * @inflight: those requests, to orphan them if the server goes first
 * @waiting: a request waiting for a payload buffer (pinned-memory bound);
 *	     nothing more is read meanwhile
 * @stash: request headers read in the same batch behind @waiting, from
 *	   @stash_i to @stash_n, to go on with in order once it does
 * @out: struct nbd_msg waiting to be sent, in order
 */
struct nbd_conn {
	enum nbd_ep_kind kind;
	GList link;
	struct nbd_server *srv;
	int fd;
	uint32_t events;
	enum nbd_rx_state rx_state;
	uint8_t rx[32];
	size_t rx_have;
	size_t rx_want;
	struct nbd_option opt;
	uint8_t *opt_data;
	unsigned nopts;
	bool no_zeroes;
	bool structured;
	bool base_allocation;
	uint16_t eflags;
	uint64_t size_told; /* the export size this client was given */
	struct nbd_req *cur;
	bool stop_reading;
	unsigned nreqs;
	uint64_t nbytes;
	unsigned ninflight;
	GQueue inflight;
	struct nbd_req *waiting;
	struct nbd_request stash[NBD_PEEK_HDRS];
	unsigned stash_i;
	unsigned stash_n;
	GQueue out;
	bool kernel;	/* began in transmission (a socket of the kernel's driver) */
	bool said_disc; /* the client sent NBD_CMD_DISC */
	bool lost_told; /* nbd_server_on_lost()'s callback had it */
	uint64_t taken; /* requests read from it, all told */
};

/**
 * struct nbd_req - one transmission request, from its header to the
 * moment its reply has been sent.
 * @conn: its connection; NULL once orphaned by nbd_server_free()
 * @s: the session, to free @buf also when orphaned
 * @buf: payload buffer from isa_buf_alloc(), @buf_len bytes
 * @bs: block status reply payload (context id and descriptors)
 * @flush_after: a FUA TRIM or WRITE_ZEROES: flush before replying
 * @err: why a WRITE whose payload is being thrown away was refused
 * @why: its message (a static string)
 * @link: in the connection's inflight queue while the initiator has it
 * @msg: the reply
 * @errmsg: text of a structured error reply
 */
struct nbd_req {
	struct nbd_conn *conn;
	struct isa_session *s;
	uint64_t cookie;
	uint64_t offset;
	uint32_t len;
	uint16_t type;
	uint16_t flags;
	void *buf;
	size_t buf_len;
	uint8_t *bs;
	bool flush_after;
	int err;
	const char *why;
	GList link;
	bool orphan;	  /* fence.c: its kernel socket was dropped */
	bool held;	  /* fence.c: waits for an orphan */
	GList fence_link; /* in srv->orphans or srv->held */
	struct nbd_msg msg;
	char errmsg[160];
};

/* fence.c */
void nbd_fence_lost(struct nbd_conn *c);
bool nbd_fence_hold(struct nbd_req *r);
void nbd_fence_done(struct nbd_req *r);
void nbd_fence_forget(struct nbd_server *srv);

/* server.c */
void nbd_conn_queue(struct nbd_conn *c, struct nbd_msg *m);
struct nbd_msg *nbd_msg_new_bytes(const void *hdr, size_t hdr_len, const void *data,
				  size_t data_len);
void nbd_conn_flush(struct nbd_conn *c);
void nbd_conn_close(struct nbd_conn *c);
void nbd_conn_maybe_release(struct nbd_conn *c);
void nbd_conn_update(struct nbd_conn *c);
void nbd_conn_stop_reading(struct nbd_conn *c);
void nbd_conn_expect(struct nbd_conn *c, enum nbd_rx_state st, size_t want);

/* handshake.c */
void nbd_hs_start(struct nbd_conn *c);
void nbd_hs_input(struct nbd_conn *c);
uint16_t nbd_export_flags(const struct nbd_server *srv, bool structured);

/* transmission.c */
void nbd_tx_start(struct nbd_conn *c);
void nbd_tx_request(struct nbd_conn *c);
void nbd_tx_payload_done(struct nbd_conn *c);
void nbd_req_free(struct nbd_req *r);
void nbd_tx_orphan(struct nbd_conn *c);
void nbd_tx_retry_waiting(struct nbd_conn *c);
/* A held request goes to the initiator, or is dropped if its socket was. */
void nbd_tx_submit_held(struct nbd_req *r);
void nbd_tx_drop_held(struct nbd_req *r);

#endif
