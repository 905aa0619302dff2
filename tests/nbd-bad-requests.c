/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nbd-bad-requests: send an NBD server every request it must refuse and
 * check the error each one gets, and that the connection still serves
 * good requests afterwards (a read of the first 64 KiB returns what it
 * returned before, so a refused write also changed nothing):
 *
 *   nbd-bad-requests URI               a writable export
 *   nbd-bad-requests --read-only URI   an export served read-only
 *
 * libnbd's own checks are turned off (strict mode 0) so that the requests
 * reach the server. Requests libnbd cannot express (an unknown command, a
 * read longer than libnbd allows, a bad magic) are written on libnbd's
 * socket directly while libnbd has nothing in flight, with structured
 * replies off so that every reply is a simple one; so is a burst of good
 * requests sent at once, a WRITE and its payload among them. Each check
 * prints one "ok:" line; the exit status is 0 only if all passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <endian.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <libnbd.h>

#define REQUEST_MAGIC	   0x25609513u
#define SIMPLE_REPLY_MAGIC 0x67446698u
#define CMD_READ	   0
#define CMD_WRITE	   1
#define CMD_FLUSH	   3
#define CMD_UNKNOWN	   0x42
#define CMD_FLAG_DF	   (1u << 2)
#define NBD_EINVAL	   22u

/* What the checks compare against: the export's first REF_LEN bytes. */
#define REF_LEN (64 * 1024)

/* libnbd refuses to send read or write payloads above this. */
#define LIBNBD_MAX_PAYLOAD (64u * 1024 * 1024)

/* Longest wait for any reply before the server is declared hung. */
#define REPLY_TIMEOUT_MS 30000

/**
 * struct conn - one connection under test.
 * @h: the libnbd handle
 * @structured: structured replies were negotiated
 * @size: export size
 * @min_block: advertised minimum block size
 * @max_block: advertised maximum block size
 * @ref: the first REF_LEN bytes of the export, as read at the start
 * @raw_cookie: cookies of raw requests, far from libnbd's own
 */
struct conn {
	struct nbd_handle *h;
	bool structured;
	int64_t size;
	uint32_t min_block;
	uint32_t max_block;
	uint8_t *ref;
	uint64_t raw_cookie;
};

static const char *uri;
static int checks;

static void fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(const char *what, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nbd-bad-requests: FAIL: %s: ", what);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void ok(const struct conn *c, const char *what, const char *result)
{
	printf("ok: %s: %s (%s replies)\n", what, result, c->structured ? "structured" : "simple");
	fflush(stdout);
	checks++;
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0:
		return "success";
	case EPERM:
		return "EPERM";
	case EIO:
		return "EIO";
	case EINVAL:
		return "EINVAL";
	case ENOSPC:
		return "ENOSPC";
	case EOVERFLOW:
		return "EOVERFLOW";
	case ENOTSUP:
		return "ENOTSUP";
	case ENOTCONN:
		return "ENOTCONN";
	default:
		return strerror(e);
	}
}

/* Wait for libnbd command @cookie; its errno, 0 on success. */
static int wait_cmd(struct conn *c, const char *what, int64_t cookie)
{
	int r;

	if (cookie == -1)
		fail(what, "libnbd did not send it: %s", nbd_get_error());
	while ((r = nbd_aio_command_completed(c->h, cookie)) == 0) {
		int p = nbd_poll(c->h, REPLY_TIMEOUT_MS);

		if (p == -1)
			fail(what, "connection failed: %s", nbd_get_error());
		if (p == 0)
			fail(what, "no reply in %d ms", REPLY_TIMEOUT_MS);
	}
	return r == 1 ? 0 : nbd_get_errno();
}

/* The connection still serves: the first REF_LEN bytes read as before. */
static void check_alive(struct conn *c, const char *after)
{
	static uint8_t buf[REF_LEN];
	int e;

	e = wait_cmd(c, after, nbd_aio_pread(c->h, buf, sizeof(buf), 0, NBD_NULL_COMPLETION, 0));
	if (e)
		fail(after, "the next good read failed: %s", errno_name(e));
	if (memcmp(buf, c->ref, sizeof(buf)))
		fail(after, "the first %d bytes of the export changed", REF_LEN);
}

/* @cookie must fail with @want (or @alt if not 0); then the connection must work. */
static void expect_err(struct conn *c, const char *what, int64_t cookie, int want, int alt)
{
	int e = wait_cmd(c, what, cookie);

	if (e != want && (!alt || e != alt))
		fail(what, "got %s, expected %s%s%s", errno_name(e), errno_name(want),
		     alt ? " or " : "", alt ? errno_name(alt) : "");
	check_alive(c, what);
	ok(c, what, errno_name(e));
}

static void connect_export(struct conn *c, bool structured)
{
	memset(c, 0, sizeof(*c));
	c->structured = structured;
	c->raw_cookie = UINT64_C(0xbad0000000000000);
	c->h = nbd_create();
	if (!c->h)
		fail("nbd_create", "%s", nbd_get_error());
	if (nbd_set_strict_mode(c->h, 0) == -1 ||
	    nbd_set_request_structured_replies(c->h, structured) == -1 ||
	    nbd_connect_uri(c->h, uri) == -1)
		fail("connect", "%s: %s", uri, nbd_get_error());
	if (nbd_get_structured_replies_negotiated(c->h) != structured)
		fail("connect", "structured replies %s, asked %s",
		     structured ? "refused" : "negotiated", structured ? "for them" : "not to");
	c->size = nbd_get_size(c->h);
	c->min_block = (uint32_t)nbd_get_block_size(c->h, LIBNBD_SIZE_MINIMUM);
	c->max_block = (uint32_t)nbd_get_block_size(c->h, LIBNBD_SIZE_MAXIMUM);
	if (c->size < REF_LEN)
		fail("connect", "export of %" PRId64 " bytes is too small", c->size);
	if (c->min_block < 512)
		fail("connect",
		     "the server advertises a minimum block size of %" PRIu32 ", not the LUN's",
		     c->min_block);
	c->ref = malloc(REF_LEN);
	if (!c->ref)
		fail("connect", "out of memory");
	if (wait_cmd(c, "first read",
		     nbd_aio_pread(c->h, c->ref, REF_LEN, 0, NBD_NULL_COMPLETION, 0)))
		fail("first read", "failed: %s", nbd_get_error());
}

static void disconnect_export(struct conn *c)
{
	if (nbd_shutdown(c->h, 0) == -1)
		fail("shutdown", "%s", nbd_get_error());
	nbd_close(c->h);
	free(c->ref);
}

static void send_all(int fd, const void *buf, size_t len, const char *what)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail(what, "sending: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Receive exactly @len bytes; false at end of stream. */
static bool recv_all(int fd, void *buf, size_t len, const char *what)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			fail(what, "no reply in %d ms", REPLY_TIMEOUT_MS);
		if (n < 0 && errno == ECONNRESET)
			return false;
		if (n < 0)
			fail(what, "receiving: %s", strerror(errno));
		if (n == 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Put libnbd's socket in blocking mode with a receive timeout for raw
 * requests; returns the old file status flags to restore.
 */
static int raw_begin(struct conn *c, int *fd)
{
	struct timeval tv = {.tv_sec = REPLY_TIMEOUT_MS / 1000};
	int flags;

	if (nbd_aio_in_flight(c->h) != 0)
		fail("raw request", "libnbd has commands in flight");
	*fd = nbd_aio_get_fd(c->h);
	if (*fd < 0)
		fail("raw request", "%s", nbd_get_error());
	flags = fcntl(*fd, F_GETFL);
	if (flags < 0 || fcntl(*fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		fail("raw request", "socket setup: %s", strerror(errno));
	return flags;
}

static void raw_end(int fd, int flags)
{
	struct timeval tv = {0};

	if (fcntl(fd, F_SETFL, flags) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		fail("raw request", "socket restore: %s", strerror(errno));
}

/**
 * raw_request() - send one request libnbd would not send, wait for its reply.
 * @c: a connection with simple replies
 * @what: for messages
 * @flags, @type, @offset, @len: the request header
 * @payload_len: bytes of payload to send after the header (zeroes)
 * @error: set to the reply's NBD error number
 *
 * Returns false if the server closed the connection instead of replying.
 * A successful read's payload is received and dropped.
 */
static bool raw_request(struct conn *c, const char *what, uint16_t flags, uint16_t type,
			uint64_t offset, uint32_t len, size_t payload_len, uint32_t *error)
{
	uint8_t hdr[28], reply[16];
	uint64_t cookie = c->raw_cookie++, got_cookie;
	uint32_t v32;
	uint16_t v16;
	uint64_t v64;
	int fd, fl;

	if (c->structured)
		fail(what, "raw requests need simple replies");
	fl = raw_begin(c, &fd);
	v32 = htobe32(REQUEST_MAGIC);
	memcpy(hdr, &v32, 4);
	v16 = htobe16(flags);
	memcpy(hdr + 4, &v16, 2);
	v16 = htobe16(type);
	memcpy(hdr + 6, &v16, 2);
	v64 = htobe64(cookie);
	memcpy(hdr + 8, &v64, 8);
	v64 = htobe64(offset);
	memcpy(hdr + 16, &v64, 8);
	v32 = htobe32(len);
	memcpy(hdr + 24, &v32, 4);
	send_all(fd, hdr, sizeof(hdr), what);
	if (payload_len) {
		static const uint8_t zero[65536];

		while (payload_len) {
			size_t n = payload_len < sizeof(zero) ? payload_len : sizeof(zero);
			ssize_t w = send(fd, zero, n, MSG_NOSIGNAL);

			if (w < 0 && errno == EINTR)
				continue;
			/* A server that refuses an oversize payload may hang up. */
			if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
				break;
			if (w <= 0)
				fail(what, "sending payload: %s", strerror(errno));
			payload_len -= (size_t)w;
		}
	}
	if (!recv_all(fd, reply, sizeof(reply), what)) {
		raw_end(fd, fl);
		return false;
	}
	memcpy(&v32, reply, 4);
	if (be32toh(v32) != SIMPLE_REPLY_MAGIC)
		fail(what, "reply magic 0x%08" PRIx32 ", expected a simple reply", be32toh(v32));
	memcpy(&v32, reply + 4, 4);
	*error = be32toh(v32);
	memcpy(&got_cookie, reply + 8, 8);
	if (be64toh(got_cookie) != cookie)
		fail(what, "reply for cookie 0x%" PRIx64 ", expected 0x%" PRIx64,
		     be64toh(got_cookie), cookie);
	if (!*error && type == CMD_READ) {
		static uint8_t sink[65536];
		uint64_t left = len;

		while (left) {
			size_t n = left < sizeof(sink) ? left : sizeof(sink);

			if (!recv_all(fd, sink, n, what))
				fail(what, "connection closed inside a read reply");
			left -= n;
		}
	}
	raw_end(fd, fl);
	return true;
}

/* A raw request must be answered with NBD_EINVAL; the connection then works. */
static void expect_raw_einval(struct conn *c, const char *what, uint16_t flags, uint16_t type,
			      uint64_t offset, uint32_t len, size_t payload_len)
{
	uint32_t e;

	if (!raw_request(c, what, flags, type, offset, len, payload_len, &e))
		fail(what, "the server closed the connection instead of replying");
	if (e != NBD_EINVAL)
		fail(what, "got NBD error %" PRIu32 ", expected NBD_EINVAL", e);
	check_alive(c, what);
	ok(c, what, "EINVAL");
}

static int extent_cb(void *opaque, const char *ctx, uint64_t offset, uint32_t *entries, size_t n,
		     int *error)
{
	(void)opaque;
	(void)ctx;
	(void)offset;
	(void)entries;
	(void)n;
	(void)error;
	return 0;
}

/* Requests whose offset or length break the advertised alignment. */
static void check_alignment(struct conn *c)
{
	static uint8_t buf[1024];
	uint32_t bs = c->min_block;

	memset(buf, 0xee, sizeof(buf));
	expect_err(c, "read at an unaligned offset",
		   nbd_aio_pread(c->h, buf, 512, 1, NBD_NULL_COMPLETION, 0), EINVAL, 0);
	expect_err(c, "read of an unaligned length",
		   nbd_aio_pread(c->h, buf, bs - 1, 0, NBD_NULL_COMPLETION, 0), EINVAL, 0);
	expect_err(c, "write at an unaligned offset",
		   nbd_aio_pwrite(c->h, buf, 512, 256, NBD_NULL_COMPLETION, 0), EINVAL, 0);
	expect_err(c, "write of an unaligned length",
		   nbd_aio_pwrite(c->h, buf, 100, 0, NBD_NULL_COMPLETION, 0), EINVAL, 0);
	expect_err(c, "write zeroes of an unaligned length",
		   nbd_aio_zero(c->h, 100, 0, NBD_NULL_COMPLETION, 0), EINVAL, 0);
}

/* Requests of length 0, and a FLUSH with a range: the server refuses both. */
static void check_lengths(struct conn *c)
{
	static uint8_t buf[512];

	expect_err(c, "read of length 0", nbd_aio_pread(c->h, buf, 0, 0, NBD_NULL_COMPLETION, 0),
		   EINVAL, 0);
	expect_err(c, "write of length 0", nbd_aio_pwrite(c->h, buf, 0, 0, NBD_NULL_COMPLETION, 0),
		   EINVAL, 0);
	expect_err(c, "write zeroes of length 0", nbd_aio_zero(c->h, 0, 0, NBD_NULL_COMPLETION, 0),
		   EINVAL, 0);
	if (!c->structured)
		expect_raw_einval(c, "flush with an offset and a length", 0, CMD_FLUSH, 512, 512,
				  0);
}

/* Requests that reach beyond the end of the export, or wrap around. */
static void check_bounds(struct conn *c)
{
	static uint8_t buf[1024], tail[512], after[512];
	uint64_t end = (uint64_t)c->size;

	if (wait_cmd(c, "read the last block",
		     nbd_aio_pread(c->h, tail, sizeof(tail), end - 512, NBD_NULL_COMPLETION, 0)))
		fail("read the last block", "%s", nbd_get_error());
	memset(buf, 0xee, sizeof(buf));
	expect_err(c, "read past the end",
		   nbd_aio_pread(c->h, buf, 512, end, NBD_NULL_COMPLETION, 0), EINVAL, 0);
	expect_err(c, "read across the end",
		   nbd_aio_pread(c->h, buf, 1024, end - 512, NBD_NULL_COMPLETION, 0), EINVAL, 0);
	expect_err(c, "read whose end wraps around 2^64",
		   nbd_aio_pread(c->h, buf, 1024, UINT64_MAX - 511, NBD_NULL_COMPLETION, 0), EINVAL,
		   0);
	/* The NBD spec asks for ENOSPC on writes beyond the end. */
	expect_err(c, "write past the end",
		   nbd_aio_pwrite(c->h, buf, 512, end, NBD_NULL_COMPLETION, 0), ENOSPC, 0);
	expect_err(c, "write across the end",
		   nbd_aio_pwrite(c->h, buf, 1024, end - 512, NBD_NULL_COMPLETION, 0), ENOSPC, 0);
	expect_err(c, "write whose end wraps around 2^64",
		   nbd_aio_pwrite(c->h, buf, 1024, UINT64_MAX - 511, NBD_NULL_COMPLETION, 0),
		   ENOSPC, 0);
	expect_err(c, "write zeroes across the end",
		   nbd_aio_zero(c->h, 1024, end - 512, NBD_NULL_COMPLETION, 0), ENOSPC, 0);
	if (wait_cmd(c, "read the last block again",
		     nbd_aio_pread(c->h, after, sizeof(after), end - 512, NBD_NULL_COMPLETION, 0)))
		fail("read the last block again", "%s", nbd_get_error());
	if (memcmp(tail, after, sizeof(tail)))
		fail("write across the end", "the last block changed");
	ok(c, "refused writes across the end left the last block as it was", "unchanged");
}

/*
 * Reads and writes longer than the advertised maximum block size. The
 * server documents that it reads and drops the payload of an oversize
 * write up to 64 MiB and closes the connection beyond.
 */
static void check_oversize(struct conn *c)
{
	uint64_t len = (uint64_t)c->max_block + c->min_block;

	if (c->max_block < 32u * 1024 * 1024)
		fail("oversize",
		     "the server advertises a maximum block size of %" PRIu32 ", less than 32 MiB",
		     c->max_block);
	if (!c->structured) {
		expect_raw_einval(c, "read over the maximum block size", 0, CMD_READ, 0,
				  (uint32_t)len, 0);
		if (len <= LIBNBD_MAX_PAYLOAD)
			expect_raw_einval(c, "write over the maximum block size", 0, CMD_WRITE, 0,
					  (uint32_t)len, len);
		return;
	}
	if (len <= LIBNBD_MAX_PAYLOAD) {
		uint8_t *buf = malloc(len);

		if (!buf)
			fail("oversize", "out of memory");
		expect_err(c, "read over the maximum block size",
			   nbd_aio_pread(c->h, buf, len, 0, NBD_NULL_COMPLETION, 0), EINVAL, 0);
		free(buf);
	}
}

/* Flags the protocol does not define or the server did not advertise. */
static void check_flags(struct conn *c)
{
	static uint8_t buf[512];
	uint32_t unknown = LIBNBD_CMD_FLAG_MASK + 1;

	memset(buf, 0xee, sizeof(buf));
	expect_err(c, "read with an unknown flag",
		   nbd_aio_pread(c->h, buf, 512, 0, NBD_NULL_COMPLETION, unknown), EINVAL, 0);
	/* The server must still consume the payload it refuses. */
	expect_err(c, "write with an unknown flag",
		   nbd_aio_pwrite(c->h, buf, 512, 0, NBD_NULL_COMPLETION, unknown), EINVAL, 0);
	expect_err(c, "write with NO_HOLE, a flag of write zeroes",
		   nbd_aio_pwrite(c->h, buf, 512, 0, NBD_NULL_COMPLETION, LIBNBD_CMD_FLAG_NO_HOLE),
		   EINVAL, 0);
	expect_err(c, "read with REQ_ONE, a flag of block status",
		   nbd_aio_pread(c->h, buf, 512, 0, NBD_NULL_COMPLETION, LIBNBD_CMD_FLAG_REQ_ONE),
		   EINVAL, 0);
	if (!nbd_can_fast_zero(c->h))
		expect_err(
		    c, "write zeroes with an unadvertised FAST_ZERO",
		    nbd_aio_zero(c->h, 512, 0, NBD_NULL_COMPLETION, LIBNBD_CMD_FLAG_FAST_ZERO),
		    EINVAL, 0);
	if (!c->structured)
		expect_raw_einval(c, "read with DF without structured replies", CMD_FLAG_DF,
				  CMD_READ, 0, 512, 0);
}

/* Commands the server did not advertise, or does not know at all. */
static void check_commands(struct conn *c)
{
	if (!nbd_can_trim(c->h))
		expect_err(c, "trim, not advertised",
			   nbd_aio_trim(c->h, 512, 0, NBD_NULL_COMPLETION, 0), EINVAL, 0);
	if (!nbd_can_cache(c->h))
		expect_err(c, "cache, not advertised",
			   nbd_aio_cache(c->h, 512, 0, NBD_NULL_COMPLETION, 0), EINVAL, 0);
	/* No metadata context was negotiated on this connection. */
	expect_err(c, "block status without a negotiated context",
		   nbd_aio_block_status(c->h, 512, 0, (nbd_extent_callback){.callback = extent_cb},
					NBD_NULL_COMPLETION, 0),
		   EINVAL, 0);
	if (!c->structured)
		expect_raw_einval(c, "unknown command", 0, CMD_UNKNOWN, 0, 512, 0);
}

/* Every write-type command on a read-only export. */
static void check_read_only(struct conn *c)
{
	static uint8_t buf[512];

	if (nbd_is_read_only(c->h) != 1)
		fail("read-only", "the export is not advertised read-only");
	memset(buf, 0xee, sizeof(buf));
	expect_err(c, "write to a read-only export",
		   nbd_aio_pwrite(c->h, buf, 512, 0, NBD_NULL_COMPLETION, 0), EPERM, 0);
	/* FUA may not even be advertised on a read-only export: then EINVAL. */
	expect_err(c, "write with FUA to a read-only export",
		   nbd_aio_pwrite(c->h, buf, 512, 0, NBD_NULL_COMPLETION, LIBNBD_CMD_FLAG_FUA),
		   nbd_can_fua(c->h) == 1 ? EPERM : EINVAL, 0);
	expect_err(c, "write zeroes to a read-only export",
		   nbd_aio_zero(c->h, 512, 0, NBD_NULL_COMPLETION, 0), EPERM, 0);
	expect_err(c, "trim on a read-only export",
		   nbd_aio_trim(c->h, 512, 0, NBD_NULL_COMPLETION, 0), EPERM, 0);
}

/* A write with a payload over 64 MiB: the server hangs up; others are unaffected. */
static void check_huge_write(void)
{
	struct conn c, other;
	uint32_t e;
	uint32_t len = LIBNBD_MAX_PAYLOAD + 512;

	connect_export(&other, true);
	connect_export(&c, false);
	if (raw_request(&c, "write over 64 MiB", 0, CMD_WRITE, 0, len, len, &e))
		fail("write over 64 MiB",
		     "answered with NBD error %" PRIu32 " instead of hanging up", e);
	nbd_close(c.h);
	free(c.ref);
	check_alive(&other, "write over 64 MiB on another connection");
	ok(&other, "write over 64 MiB", "disconnected, other connections unaffected");
	disconnect_export(&other);
}

/* A request with a bad magic: the server must hang up; others are unaffected. */
static void put_request(uint8_t *p, uint16_t type, uint64_t cookie, uint64_t offset, uint32_t len)
{
	uint32_t v32 = htobe32(REQUEST_MAGIC);
	uint16_t v16 = 0;
	uint64_t v64;

	memcpy(p, &v32, 4);
	memcpy(p + 4, &v16, 2);
	v16 = htobe16(type);
	memcpy(p + 6, &v16, 2);
	v64 = htobe64(cookie);
	memcpy(p + 8, &v64, 8);
	v64 = htobe64(offset);
	memcpy(p + 16, &v64, 8);
	v32 = htobe32(len);
	memcpy(p + 24, &v32, 4);
}

/*
 * Good requests in one send: reads, then a WRITE whose payload follows
 * its header, then more reads and a flush behind the payload, so that the
 * server finds several headers and the start of a payload in what it
 * receives at once. Every request gets its reply (in any order), each
 * read returns what the export holds, and the write landed.
 */
static void check_pipelined(struct conn *c)
{
	enum { N = 8, LEN = 4096, WRITE_AT = 1 << 20 };
	static const uint16_t types[N] = {CMD_READ, CMD_READ, CMD_READ,	 CMD_WRITE,
					  CMD_READ, CMD_READ, CMD_FLUSH, CMD_READ};
	static uint8_t burst[N * 28 + LEN], data[LEN], back[LEN];
	uint64_t cookie0 = c->raw_cookie, v64;
	bool seen[N] = {false};
	uint8_t *p = burst;
	unsigned i, nread = 0;
	uint32_t v32;
	int fd, fl, e;

	if (c->structured)
		return;
	for (i = 0; i < LEN; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (i = 0; i < N; i++) {
		uint64_t off = types[i] == CMD_READ ? (uint64_t)(nread++ % 16) * LEN : WRITE_AT;

		/* FLUSH takes neither offset nor length. */
		if (types[i] == CMD_FLUSH)
			put_request(p, types[i], cookie0 + i, 0, 0);
		else
			put_request(p, types[i], cookie0 + i, off, LEN);
		p += 28;
		if (types[i] == CMD_WRITE) {
			memcpy(p, data, LEN);
			p += LEN;
		}
	}
	c->raw_cookie += N;
	fl = raw_begin(c, &fd);
	send_all(fd, burst, (size_t)(p - burst), "pipelined requests");
	for (i = 0; i < N; i++) {
		uint8_t reply[16];
		uint64_t k;

		if (!recv_all(fd, reply, sizeof(reply), "pipelined requests"))
			fail("pipelined requests", "connection closed after %u replies", i);
		memcpy(&v32, reply + 4, 4);
		memcpy(&v64, reply + 8, 8);
		k = be64toh(v64) - cookie0;
		if (k >= N || seen[k])
			fail("pipelined requests",
			     "reply for cookie 0x%" PRIx64 " not asked for, or twice",
			     be64toh(v64));
		seen[k] = true;
		if (be32toh(v32))
			fail("pipelined requests", "request %" PRIu64 " failed: error %" PRIu32, k,
			     be32toh(v32));
		if (types[k] == CMD_READ) {
			unsigned nth = 0, j;

			for (j = 0; j < k; j++)
				nth += types[j] == CMD_READ;
			if (!recv_all(fd, back, LEN, "pipelined requests"))
				fail("pipelined requests", "connection closed inside a read reply");
			if (memcmp(back, c->ref + (nth % 16) * LEN, LEN))
				fail("pipelined requests", "read %u returned other data", nth);
		}
	}
	raw_end(fd, fl);
	e = wait_cmd(c, "pipelined requests",
		     nbd_aio_pread(c->h, back, LEN, WRITE_AT, NBD_NULL_COMPLETION, 0));
	if (e || memcmp(back, data, LEN))
		fail("pipelined requests", "the write in the burst did not land");
	check_alive(c, "pipelined requests");
	ok(c, "pipelined requests", "all answered, data right");
}

static void check_bad_magic(void)
{
	struct conn c, other;
	uint8_t hdr[28] = {0xde, 0xad, 0xbe, 0xef}, byte;
	int fd, fl;

	connect_export(&other, true);
	connect_export(&c, false);
	fl = raw_begin(&c, &fd);
	send_all(fd, hdr, sizeof(hdr), "bad magic");
	if (recv_all(fd, &byte, 1, "bad magic"))
		fail("bad magic", "the server answered a request with a bad magic");
	raw_end(fd, fl);
	nbd_close(c.h);
	free(c.ref);
	check_alive(&other, "bad magic on another connection");
	ok(&other, "request with a bad magic", "disconnected, other connections unaffected");
	disconnect_export(&other);
}

static void prepare_reference(bool read_only)
{
	struct conn c;
	uint8_t *data;
	size_t i;
	int e;

	if (read_only)
		return;
	connect_export(&c, true);
	data = malloc(REF_LEN);
	if (!data)
		fail("prepare", "out of memory");
	srandom((unsigned)getpid());
	for (i = 0; i < REF_LEN; i++)
		data[i] = (uint8_t)random();
	e = wait_cmd(&c, "prepare", nbd_aio_pwrite(c.h, data, REF_LEN, 0, NBD_NULL_COMPLETION, 0));
	if (e)
		fail("prepare", "writing the reference data: %s", errno_name(e));
	free(data);
	disconnect_export(&c);
}

int main(int argc, char **argv)
{
	bool read_only = false;
	int structured;

	if (argc == 3 && !strcmp(argv[1], "--read-only")) {
		read_only = true;
		uri = argv[2];
	} else if (argc == 2 && argv[1][0] != '-') {
		uri = argv[1];
	} else {
		fprintf(stderr, "usage: nbd-bad-requests [--read-only] URI\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	prepare_reference(read_only);
	for (structured = 0; structured <= 1; structured++) {
		struct conn c;

		connect_export(&c, structured);
		if (read_only) {
			check_read_only(&c);
		} else {
			check_lengths(&c);
			check_alignment(&c);
			check_bounds(&c);
			check_oversize(&c);
			check_flags(&c);
			check_commands(&c);
			check_pipelined(&c);
		}
		disconnect_export(&c);
	}
	check_bad_magic();
	if (!read_only)
		check_huge_write();
	printf("all %d checks passed\n", checks);
	return 0;
}
