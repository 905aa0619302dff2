/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The NBD server front end: serves one LUN of an iser-attach session to
 * NBD clients (qemu, libnbd tools, fio, the kernel's nbd driver) over unix
 * sockets, TCP, or sockets handed to it already connected.
 *
 * It runs on the session's thread: the owner polls nbd_server_get_fd() and
 * isa_session_get_fd() and calls nbd_server_service() and
 * isa_session_service() when they are readable, or has the server watch
 * its other fds (nbd_server_watch()) and waits in nbd_server_wait(), one
 * epoll_wait() for everything. Payload moves zero copy:
 * write payload is received straight into a buffer from isa_buf_alloc()
 * that the SCSI WRITE then sends; read replies are sent from the buffer
 * Data-In landed in.
 */
#ifndef ISA_NBD_SERVER_H
#define ISA_NBD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "include/iser-attach.h"

/* The largest READ or WRITE payload a client may send (one buffer each). */
#define NBD_SERVER_MAX_PAYLOAD (32u << 20)

/**
 * struct nbd_server_config - what the server says about its export.
 * @export_name: the name clients ask for ("" is accepted as the default)
 * @description: NBD_INFO_DESCRIPTION text (vendor and product), or NULL
 * @read_only: serve read-only even if the LUN is writable
 * @max_connections: refuse connections beyond this many; 0 for 16
 */
struct nbd_server_config {
	const char *export_name;
	const char *description;
	bool read_only;
	unsigned max_connections;
};

/**
 * struct nbd_server_stats - counters of one server.
 * @connections: clients connected now
 * @in_flight: requests handed to the initiator and not answered yet, also
 *	       those of clients that are gone
 * @requests: requests completed
 * @bytes_read: payload bytes sent to clients
 * @bytes_written: payload bytes received from clients
 * @copied_bytes: payload bytes the server had to memcpy (zero copy: 0)
 * @errors: requests answered with an error
 */
struct nbd_server_stats {
	unsigned connections;
	uint64_t in_flight;
	uint64_t requests;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t copied_bytes;
	uint64_t errors;
	uint64_t held; /* requests held until a dropped kernel socket's had finished */
};

struct nbd_server;

typedef void (*nbd_lost_fn)(void *opaque, uint64_t requests, bool shut);

/*
 * A server for LUN @l of session @s, listening nowhere yet. Returns NULL
 * only when no epoll fd can be created (out of file descriptors).
 */
struct nbd_server *nbd_server_new(struct isa_session *s, struct isa_lun *l,
				  const struct nbd_server_config *cfg);

/* Listen on a unix socket created mode 0600 (an existing socket file is replaced). */
int nbd_server_listen_unix(struct nbd_server *srv, const char *path, GError **err);

/* Listen on TCP HOST:PORT (HOST may be an IPv6 literal without brackets). */
int nbd_server_listen_tcp(struct nbd_server *srv, const char *host, uint16_t port, GError **err);

/*
 * Serve a socket that is already connected. With @handshake_done the
 * connection starts in the transmission phase, as the kernel's nbd driver
 * expects of the sockets handed to it over netlink. The server owns @fd
 * from now on, also when it fails: 0, or -EBUSY when shutting down or at
 * max_connections, or a negative errno.
 */
int nbd_server_add_client(struct nbd_server *srv, int fd, bool handshake_done);

/*
 * nbd_server_on_lost() - @fn(@opaque, requests, shut) is called once when a
 * connection that began in the transmission phase (a socket handed to the
 * kernel's nbd driver) reaches end of file or closes, without
 * NBD_CMD_DISC and while the server is not shutting down: the driver shut
 * it (it drops a socket one of whose requests went unanswered past the
 * block layer's timeout, when it has more than one) or it failed; its
 * requests in flight are still answered where the socket lets them.
 * @requests: how many it carried; @shut: it reached end of file (the
 * driver shut it) rather than failed on our side. Called
 * from within nbd_server_service() and nbd_server_wait(): @fn only takes
 * note, the owner adds a new client after the turn.
 */
void nbd_server_on_lost(struct nbd_server *srv, nbd_lost_fn fn, void *opaque);

/*
 * The NBD transmission flags (NBD_FLAG_*) the export advertises, for
 * handing to the kernel's nbd driver together with sockets.
 */
uint16_t nbd_server_transmission_flags(const struct nbd_server *srv);

/* One fd that becomes readable when nbd_server_service() has work. */
int nbd_server_get_fd(struct nbd_server *srv);

/* Accept, read requests, send replies; never blocks. */
void nbd_server_service(struct nbd_server *srv);

/**
 * nbd_server_watch() - put one of the owner's fds into the server's epoll
 * set, so that one nbd_server_wait() waits for it and the clients alike.
 * @fd: watched for readability (level-triggered)
 * @bit: what nbd_server_wait() returns while @fd is readable
 *
 * Return: 0, or -1 with errno set (at most four fds).
 */
int nbd_server_watch(struct nbd_server *srv, int fd, unsigned bit);

/**
 * nbd_server_wait() - nbd_server_service() that waits first: up to
 * @timeout_ms (-1: no limit) for a client or a watched fd, then serves
 * the clients that are ready.
 *
 * Return: the bits of the watched fds found readable.
 */
unsigned nbd_server_wait(struct nbd_server *srv, int timeout_ms);

/*
 * Stop accepting and stop reading new requests; requests in flight finish
 * and their replies are sent, then the connections close.
 */
void nbd_server_shutdown(struct nbd_server *srv);

/* True when no request is in flight and no reply waits to be sent. */
bool nbd_server_drained(const struct nbd_server *srv);

/*
 * nbd_server_hold() - while on, replies are queued instead of sent; off
 * sends every client's queued replies, in one sendmsg each where the
 * socket takes them. The owner holds them for one turn of its loop, so
 * that the replies the session completed in that turn go out together.
 */
void nbd_server_hold(struct nbd_server *srv, bool on);

/* The LUN's capacity changed: new clients are told its new size. */
void nbd_server_resize(struct nbd_server *srv);

void nbd_server_get_stats(const struct nbd_server *srv, struct nbd_server_stats *st);

/*
 * Close every connection and listening socket (removing a unix socket
 * file). Call it before isa_lun_close() and isa_session_close(): requests
 * the initiator still has are left to free themselves when it completes
 * them, which it must still do (serve or close the session).
 */
void nbd_server_free(struct nbd_server *srv);

#endif
