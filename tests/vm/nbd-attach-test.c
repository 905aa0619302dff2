// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * nbd-attach-test: drives nbd/netlink.c against the kernel's nbd driver,
 * for tests/vm/test-vm-smoke.sh.
 *
 *   nbd-attach-test SIZE_MIB IMAGE_FILE
 *
 * Serves a zeroed in-memory disk of SIZE_MIB on one end of a socketpair
 * (the NBD transmission phase only: the kernel skips the handshake) and
 * attaches the other end as a /dev/nbdN with nbd_kernel_connect().  It
 * prints the device path on stdout once NBD_CMD_STATUS reports it
 * connected, then waits for end of input on stdin, disconnects, checks
 * that the device is no longer connected and writes the disk's content to
 * IMAGE_FILE, where the test finds what the kernel wrote.
 *
 * The server is test scaffolding: READ, WRITE, FLUSH and DISC with simple
 * replies, one request at a time, which is all the kernel sends when only
 * those are advertised.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <glib.h>

#include "nbd/nbd-proto.h"
#include "nbd/netlink.h"

#define BLOCK_SIZE 512
/* Seconds without replies before the kernel gives up on the socket. */
#define DEAD_TIMEOUT 30
/* Seconds to wait for the device to read as disconnected. */
#define DISCONNECT_WAIT 10

/**
 * struct disk - the in-memory export and the server's end of the socket.
 * @data: @size bytes of disk content
 * @fd: the server's end of the socketpair
 * @error: why serving stopped early, or NULL after NBD_CMD_DISC or EOF
 */
struct disk {
	uint8_t *data;
	uint64_t size;
	int fd;
	const char *error;
};

static bool read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool send_reply(struct disk *d, uint64_t cookie, uint32_t error, const void *data,
		       size_t len)
{
	struct nbd_simple_reply r = {
	    .magic = htobe32(NBD_SIMPLE_REPLY_MAGIC),
	    .error = htobe32(error),
	    .cookie = cookie,
	};

	return write_full(d->fd, &r, sizeof(r)) && write_full(d->fd, data, len);
}

/*
 * serve_request: one request.  Returns false when serving ends, with
 * d->error set unless the kernel disconnected.
 */
static bool serve_request(struct disk *d)
{
	struct nbd_request rq;
	uint64_t offset;
	uint32_t len;
	bool in_range;

	if (!read_full(d->fd, &rq, sizeof(rq)))
		return false;
	if (be32toh(rq.magic) != NBD_REQUEST_MAGIC) {
		d->error = "bad request magic";
		return false;
	}
	offset = be64toh(rq.offset);
	len = be32toh(rq.len);
	in_range = offset <= d->size && len <= d->size - offset;

	switch (be16toh(rq.type)) {
	case NBD_CMD_READ:
		if (!in_range)
			return send_reply(d, rq.cookie, NBD_EINVAL, NULL, 0);
		return send_reply(d, rq.cookie, 0, d->data + offset, len);
	case NBD_CMD_WRITE:
		if (!in_range) {
			d->error = "write beyond the end of the disk";
			return false;
		}
		if (!read_full(d->fd, d->data + offset, len)) {
			d->error = "short write payload";
			return false;
		}
		return send_reply(d, rq.cookie, 0, NULL, 0);
	case NBD_CMD_FLUSH:
		return send_reply(d, rq.cookie, 0, NULL, 0);
	case NBD_CMD_DISC:
		return false;
	default:
		return send_reply(d, rq.cookie, NBD_EINVAL, NULL, 0);
	}
}

static gpointer serve(gpointer data)
{
	struct disk *d = data;

	while (serve_request(d))
		;
	return NULL;
}

/* wait_disconnected: the driver drops the device asynchronously. */
static bool wait_disconnected(int index, GError **err)
{
	bool connected = true;
	int i;

	for (i = 0; i < DISCONNECT_WAIT * 10; i++) {
		if (nbd_kernel_status(index, &connected, err) < 0)
			return false;
		if (!connected)
			return true;
		g_usleep(G_USEC_PER_SEC / 10);
	}
	g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
		    "/dev/nbd%d still connected %d s after the disconnect", index, DISCONNECT_WAIT);
	return false;
}

/* wait_for_eof: the test closes our stdin when it is done with the device. */
static void wait_for_eof(void)
{
	char buf[64];

	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
}

static int attach_and_serve(struct disk *d, const char *image, GError **err)
{
	uint64_t flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH;
	bool connected = false;
	GThread *server;
	int sv[2], index = -1, rc = -1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno), "socketpair: %s",
			    g_strerror(errno));
		return -1;
	}
	d->fd = sv[0];
	server = g_thread_new("nbd-serve", serve, d);

	if (nbd_kernel_connect(-1, &sv[1], 1, d->size, BLOCK_SIZE, flags, DEAD_TIMEOUT, &index,
			       err) < 0)
		goto out_stop;
	if (nbd_kernel_status(index, &connected, err) < 0)
		goto out_disconnect;
	if (!connected) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
			    "/dev/nbd%d not connected after NBD_CMD_CONNECT", index);
		goto out_disconnect;
	}
	printf("/dev/nbd%d\n", index);
	fflush(stdout);
	wait_for_eof();
	rc = 0;

out_disconnect:
	if (nbd_kernel_disconnect(index, rc < 0 ? NULL : err) < 0 ||
	    !wait_disconnected(index, rc < 0 ? NULL : err))
		rc = -1;
out_stop:
	/* Ends the server if the kernel never took the socket. */
	close(sv[1]);
	g_thread_join(server);
	close(sv[0]);
	if (rc == 0 && d->error) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED, "server: %s", d->error);
		rc = -1;
	}
	if (rc == 0 && !g_file_set_contents(image, (const char *)d->data, (gssize)d->size, err))
		rc = -1;
	return rc;
}

int main(int argc, char **argv)
{
	struct disk d = {.fd = -1};
	GError *err = NULL;
	guint64 mib;

	if (argc != 3 || !g_ascii_string_to_unsigned(argv[1], 10, 1, 4096, &mib, NULL)) {
		fprintf(stderr, "usage: %s SIZE_MIB IMAGE_FILE\n", argv[0]);
		return 2;
	}
	d.size = mib << 20;
	d.data = g_malloc0(d.size);
	if (attach_and_serve(&d, argv[2], &err) < 0) {
		fprintf(stderr, "nbd-attach-test: %s\n", err->message);
		g_error_free(err);
		g_free(d.data);
		return 1;
	}
	g_free(d.data);
	return 0;
}
