/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nbd-crash-client: NBD clients that die at the worst moment, for the
 * tests of what a server must survive and must not lose.
 *
 *   nbd-crash-client vanish URI OFFSET LENGTH
 *	A child connects and dies by SIGKILL (1) halfway through sending
 *	the payload of a LENGTH-byte write at OFFSET and (2) right after
 *	asking for a LENGTH-byte read. Another client, connected all along,
 *	must then still be served, must read the range as it was before
 *	(the half write landed nowhere), and a new client must connect.
 *
 *   nbd-crash-client writer URI BLOCK QD SEED
 *	Write the export from offset 0 up in BLOCK-byte blocks of a pattern
 *	derived from SEED, the pass and the offset, QD writes in flight,
 *	each with FUA, and start over at 0 with the next pass at the end:
 *	it writes until it is killed. Print "OFFSET PASS" for each write
 *	once the server has acknowledged it.
 *
 *   nbd-crash-client hold URI
 *	One client that stays connected while the test changes things
 *	under it: print "size N" (the size the handshake gave), then for
 *	each line "read OFFSET LENGTH" on stdin read that range and print
 *	"read OFFSET LENGTH: ok" or "read OFFSET LENGTH: error: ERRNO-NAME".
 *	Ends at end of input.
 *
 *   nbd-crash-client verify FILE BLOCK SEED < ACKS
 *	Check that FILE (the LUN's backing file) holds, at every offset read
 *	from stdin, the pattern of the last pass acknowledged there, or of
 *	the pass after it (a write in flight when the writer died may have
 *	landed; one acknowledged may not be lost).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <endian.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <glib.h>
#include <libnbd.h>

#define REQUEST_MAGIC 0x25609513u
#define CMD_READ      0
#define CMD_WRITE     1

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("nbd-crash-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		die("bad %s '%s'", what, s);
	return v;
}

static struct nbd_handle *open_export(const char *uri, bool structured)
{
	struct nbd_handle *h = nbd_create();

	if (!h || nbd_set_request_structured_replies(h, structured) == -1 ||
	    nbd_connect_uri(h, uri) == -1)
		die("connect %s: %s", uri, nbd_get_error());
	return h;
}

static void send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			die("send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

static void send_header(int fd, uint16_t type, uint64_t offset, uint32_t len)
{
	uint8_t hdr[28];
	uint32_t v32 = htobe32(REQUEST_MAGIC);
	uint16_t v16 = 0;
	uint64_t v64 = htobe64(UINT64_C(0xdead));

	memcpy(hdr, &v32, 4);
	memcpy(hdr + 4, &v16, 2);
	v16 = htobe16(type);
	memcpy(hdr + 6, &v16, 2);
	memcpy(hdr + 8, &v64, 8);
	v64 = htobe64(offset);
	memcpy(hdr + 16, &v64, 8);
	v32 = htobe32(len);
	memcpy(hdr + 24, &v32, 4);
	send_all(fd, hdr, sizeof(hdr));
}

/*
 * In a child: connect, take libnbd's socket over once the handshake is
 * done, send a @type request (and half of a write's payload), and die
 * without closing anything.
 */
static void crash_child(const char *uri, uint16_t type, uint64_t offset, uint32_t len)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		struct nbd_handle *h = open_export(uri, false);
		int fd = nbd_aio_get_fd(h);

		send_header(fd, type, offset, len);
		if (type == CMD_WRITE) {
			uint8_t *half = malloc(len / 2);

			if (!half)
				die("out of memory");
			memset(half, 0xa5, len / 2);
			send_all(fd, half, len / 2);
		}
		raise(SIGKILL);
	}
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid: %s", strerror(errno));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		die("the crashing child did not die by SIGKILL (status 0x%x)", status);
}

static void read_range(struct nbd_handle *h, void *buf, uint64_t offset, uint32_t len)
{
	if (nbd_pread(h, buf, len, offset, 0) == -1)
		die("read %" PRIu32 " bytes at %" PRIu64 ": %s", len, offset, nbd_get_error());
}

static int do_vanish(const char *uri, uint64_t offset, uint32_t len)
{
	struct nbd_handle *other = open_export(uri, true), *late;
	uint8_t *before = malloc(len), *after = malloc(len), probe[4096];

	if (!before || !after)
		die("out of memory");
	read_range(other, before, offset, len);

	crash_child(uri, CMD_WRITE, offset, len);
	/* The other client, connected all along, is served... */
	read_range(other, after, offset, len);
	if (memcmp(before, after, len))
		die("a client that died halfway through a write's payload changed the data");
	printf("ok: a client killed halfway through a write's payload: nothing landed\n");

	crash_child(uri, CMD_READ, offset, len);
	memset(probe, 0x3c, sizeof(probe));
	if (nbd_pwrite(other, probe, sizeof(probe), offset, LIBNBD_CMD_FLAG_FUA) == -1)
		die("write after the crashes: %s", nbd_get_error());
	read_range(other, after, offset, sizeof(probe));
	if (memcmp(probe, after, sizeof(probe)))
		die("the other client read back something else than it wrote");
	printf("ok: a client killed while its read was pending: the other client still works\n");

	/* ...and new clients still connect. */
	late = open_export(uri, true);
	read_range(late, after, offset, sizeof(probe));
	if (memcmp(probe, after, sizeof(probe)))
		die("a new client reads something else than was written");
	printf("ok: a new client connects after the crashes\n");
	nbd_close(late);
	if (nbd_shutdown(other, 0) == -1)
		die("shutdown: %s", nbd_get_error());
	nbd_close(other);
	free(before);
	free(after);
	return 0;
}

/* The writer's pattern: one 64-bit word per 8 bytes, from SEED, PASS and position. */
static void fill_pattern(uint64_t *words, size_t n, uint64_t seed, uint64_t pass, uint64_t offset)
{
	size_t i;

	seed += pass * UINT64_C(0x100000001b3);
	for (i = 0; i < n; i++) {
		uint64_t z = seed + offset + i * 8 + UINT64_C(0x9e3779b97f4a7c15);

		z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
		words[i] = z ^ (z >> 31);
	}
}

/**
 * struct slot - one write of the writer in flight.
 * @offset: where it writes
 * @pass: how many times the writer had been over the export before it
 * @buf: its pattern
 * @busy: in flight
 */
struct slot {
	uint64_t offset;
	uint64_t pass;
	uint64_t *buf;
	bool busy;
};

static int write_done(void *opaque, int *error)
{
	struct slot *s = opaque;

	if (*error)
		die("write at %" PRIu64 " failed: %s", s->offset, strerror(*error));
	/* Printed only now: the server said the block is on stable storage. */
	printf("%" PRIu64 " %" PRIu64 "\n", s->offset, s->pass);
	fflush(stdout);
	s->busy = false;
	return 1;
}

static int do_writer(const char *uri, uint32_t block, unsigned qd, uint64_t seed)
{
	struct nbd_handle *h = open_export(uri, true);
	int64_t size = nbd_get_size(h);
	struct slot *slots = calloc(qd, sizeof(*slots));
	uint64_t next = 0, pass = 0;
	unsigned i;

	if (!slots || size < 0)
		die("setup: %s", size < 0 ? nbd_get_error() : "out of memory");
	if (nbd_can_fua(h) != 1)
		die("the export does not advertise FUA");
	/* More blocks than writes in flight: a block's write of one pass is
	 * acknowledged before the next pass writes it again. */
	if ((uint64_t)size / block <= qd)
		die("the export holds %" PRId64 " bytes: too few blocks for %u writes in flight",
		    size, qd);
	for (i = 0; i < qd; i++) {
		slots[i].buf = malloc(block);
		if (!slots[i].buf)
			die("out of memory");
	}
	for (;;) {
		for (i = 0; i < qd; i++) {
			struct slot *s = &slots[i];

			if (s->busy)
				continue;
			if (next + block > (uint64_t)size) {
				next = 0;
				pass++;
			}
			s->offset = next;
			s->pass = pass;
			next += block;
			fill_pattern(s->buf, block / 8, seed, s->pass, s->offset);
			s->busy = true;
			if (nbd_aio_pwrite(
				h, s->buf, block, s->offset,
				(nbd_completion_callback){.callback = write_done, .user_data = s},
				LIBNBD_CMD_FLAG_FUA) == -1)
				die("write at %" PRIu64 ": %s", s->offset, nbd_get_error());
		}
		if (nbd_poll(h, -1) == -1)
			die("poll: %s", nbd_get_error());
	}
}

static int do_verify(const char *file, uint32_t block, uint64_t seed)
{
	uint64_t *want = malloc(block), *got = malloc(block), offset, pass, n = 0;
	g_autoptr(GHashTable) last =
	    g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, g_free);
	GHashTableIter it;
	gpointer key, value;
	char line[64];
	int fd = open(file, O_RDONLY);

	if (fd < 0)
		die("open %s: %s", file, strerror(errno));
	if (!want || !got)
		die("out of memory");
	while (fgets(line, sizeof(line), stdin)) {
		char *sp;
		uint64_t *have;

		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		sp = strchr(line, ' ');
		if (!sp)
			die("'%s' is not OFFSET PASS", line);
		*sp = '\0';
		offset = parse_u64(line, "offset");
		pass = parse_u64(sp + 1, "pass");
		have = g_hash_table_lookup(last, &offset);
		if (!have)
			g_hash_table_insert(last, g_memdup2(&offset, sizeof(offset)),
					    g_memdup2(&pass, sizeof(pass)));
		else if (pass > *have)
			*have = pass;
		n++;
	}
	if (!n)
		die("no acknowledged writes to verify");
	g_hash_table_iter_init(&it, last);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		offset = *(uint64_t *)key;
		pass = *(uint64_t *)value;
		if (pread(fd, got, block, (off_t)offset) != (ssize_t)block)
			die("read %s at %" PRIu64 ": short read", file, offset);
		fill_pattern(want, block / 8, seed, pass, offset);
		if (!memcmp(want, got, block))
			continue;
		fill_pattern(want, block / 8, seed, pass + 1, offset);
		if (memcmp(want, got, block))
			die("the block at %" PRIu64 " was acknowledged in pass %" PRIu64
			    " but is not on the target",
			    offset, pass);
	}
	printf("verified %" PRIu64 " acknowledged writes to %u blocks\n", n,
	       g_hash_table_size(last));
	close(fd);
	free(want);
	free(got);
	return 0;
}

static int do_hold(const char *uri)
{
	struct nbd_handle *h = open_export(uri, true);
	char line[128];

	printf("size %" PRId64 "\n", nbd_get_size(h));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		uint64_t off, len;
		void *buf;

		if (sscanf(line, "read %" SCNu64 " %" SCNu64, &off, &len) != 2 || !len ||
		    len > 32 * 1024 * 1024)
			die("bad command '%s'", line);
		buf = g_malloc(len);
		if (nbd_pread(h, buf, len, off, 0) == -1)
			printf("read %" PRIu64 " %" PRIu64 ": error: %s\n", off, len,
			       nbd_get_errno() == EIO	   ? "EIO"
			       : nbd_get_errno() == EINVAL ? "EINVAL"
							   : g_strerror(nbd_get_errno()));
		else
			printf("read %" PRIu64 " %" PRIu64 ": ok\n", off, len);
		fflush(stdout);
		g_free(buf);
	}
	nbd_shutdown(h, 0);
	nbd_close(h);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "hold"))
		return do_hold(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "vanish")) {
		uint64_t len = parse_u64(argv[4], "length");

		if (len < 8192 || len % 1024 || len > 32 * 1024 * 1024)
			die("length must be a multiple of 1 KiB from 8 KiB to 32 MiB");
		return do_vanish(argv[2], parse_u64(argv[3], "offset"), (uint32_t)len);
	}
	if (argc == 6 && !strcmp(argv[1], "writer")) {
		uint64_t block = parse_u64(argv[3], "block size");
		uint64_t qd = parse_u64(argv[4], "queue depth");

		if (!block || block % 512 || block > 16 * 1024 * 1024)
			die("block size must be a multiple of 512 up to 16 MiB");
		if (!qd || qd > 1024)
			die("queue depth must be 1 to 1024");
		return do_writer(argv[2], (uint32_t)block, (unsigned)qd,
				 parse_u64(argv[5], "seed"));
	}
	if (argc == 5 && !strcmp(argv[1], "verify")) {
		uint64_t block = parse_u64(argv[3], "block size");

		if (!block || block % 512 || block > 16 * 1024 * 1024)
			die("block size must be a multiple of 512 up to 16 MiB");
		return do_verify(argv[2], (uint32_t)block, parse_u64(argv[4], "seed"));
	}
	fprintf(stderr, "usage: nbd-crash-client vanish URI OFFSET LENGTH\n"
			"       nbd-crash-client writer URI BLOCK QD SEED\n"
			"       nbd-crash-client hold URI\n"
			"       nbd-crash-client verify FILE BLOCK SEED < ACKS\n");
	return 2;
}
