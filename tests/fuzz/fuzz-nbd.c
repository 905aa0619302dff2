// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz target: the NBD server's option haggling (nbd/handshake.c) and
 * request handling (nbd/transmission.c), fed a client's bytes over a
 * socketpair connection.
 *
 * The server is linked against a fake of the iser-attach API it uses
 * (isa_read(), isa_write(), ..., defined here): a 1 MiB LUN in memory whose
 * requests complete when the harness says so, as isa_session_service()
 * would complete them. Payload buffers are exact-size heap blocks, so a
 * server reading or writing past a request's buffer is caught by ASan, as
 * is one touching a request after its completion freed it.
 *
 * Input: one configuration byte, then the client's byte stream.
 *
 * Configuration byte: bit 0 the connection starts in the transmission
 * phase (as the kernel's nbd driver gets it), bit 1 read-only export,
 * bit 2 the LUN can unmap and reads zeroes after it, bit 3 4096-byte
 * blocks, bit 4 complete requests as soon as the server is serviced (else
 * after every second chunk), bit 5 every fourth request fails with -EIO,
 * bits 6-7 chunk size (chunk[]).
 */
#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>

#include "include/iser-attach.h"
#include "nbd/server.h"
#include "tests/fuzz/fuzz-common.h"

#define DISK_SIZE (1u << 20)
/* Bounds on a run: chunks written, then service rounds to drain. */
#define MAX_CHUNKS 512
#define MAX_DRAIN  64
/* A fake isa_buf_alloc() beyond this fails, as a real one may. */
#define MAX_BUF (64u << 20)

static const uint32_t chunk[4] = {1, 28, 512, 1u << 20};

/**
 * struct pending - one request the fake initiator holds.
 * @err: what it completes with
 * @done: isa_done_fn, or NULL for block status
 * @status: isa_status_fn for block status
 * @ext: the extent block status reports
 */
struct pending {
	int err;
	isa_done_fn done;
	isa_status_fn status;
	void *opaque;
	struct isa_extent ext;
};

/**
 * struct isa_session - the fake session: requests waiting to complete.
 * @pending: struct pending, oldest first
 * @bufs: live payload buffers, to catch a double free or a leak
 * @fail_every: every this many requests fail with -EIO (0: none)
 * @nreq: requests accepted so far
 */
struct isa_session {
	GQueue pending;
	GHashTable *bufs;
	unsigned fail_every;
	unsigned nreq;
};

/**
 * struct isa_lun - the fake LUN.
 * @disk: DISK_SIZE bytes of contents
 */
struct isa_lun {
	struct isa_session *s;
	struct isa_lun_info info;
	uint8_t *disk;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	/* A client's misbehaviour may be logged with g_warning(): that is no crash. */
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
	return 0;
}

GQuark isa_error_quark(void)
{
	return g_quark_from_static_string("isa-error-quark");
}

const struct isa_lun_info *isa_lun_get_info(const struct isa_lun *l)
{
	return &l->info;
}

void *isa_buf_alloc(struct isa_session *s, size_t len)
{
	void *p;

	if (len > MAX_BUF)
		return NULL;
	p = g_malloc(len ? len : 1);
	g_hash_table_add(s->bufs, p);
	return p;
}

void isa_buf_free(struct isa_session *s, void *buf, size_t len)
{
	(void)len;
	if (!buf)
		return;
	FUZZ_CHECK(g_hash_table_remove(s->bufs, buf), "isa_buf_free of a live buffer");
	g_free(buf);
}

/* What the real initiator refuses at once: unaligned or past the end. */
static int check_range(const struct isa_lun *l, uint64_t offset, uint64_t len)
{
	uint32_t bs = l->info.block_size;

	if (offset % bs || len % bs || len == 0)
		return -EINVAL;
	if (offset > DISK_SIZE || len > DISK_SIZE - offset)
		return -EINVAL;
	return 0;
}

static int queue(struct isa_lun *l, isa_done_fn done, isa_status_fn status, void *opaque,
		 struct isa_extent ext)
{
	struct isa_session *s = l->s;
	struct pending *p = g_new0(struct pending, 1);

	s->nreq++;
	p->err = s->fail_every && s->nreq % s->fail_every == 0 ? -EIO : 0;
	p->done = done;
	p->status = status;
	p->opaque = opaque;
	p->ext = ext;
	g_queue_push_tail(&s->pending, p);
	return 0;
}

int isa_read(struct isa_lun *l, uint64_t offset, uint32_t len, void *buf, isa_done_fn done,
	     void *opaque)
{
	int rc = check_range(l, offset, len);

	if (rc)
		return rc;
	memcpy(buf, l->disk + offset, len);
	return queue(l, done, NULL, opaque, (struct isa_extent){0});
}

int isa_write(struct isa_lun *l, uint64_t offset, uint32_t len, const void *buf, unsigned flags,
	      isa_done_fn done, void *opaque)
{
	int rc = check_range(l, offset, len);

	(void)flags;
	if (rc)
		return rc;
	if (l->info.read_only)
		return -EROFS;
	memcpy(l->disk + offset, buf, len);
	return queue(l, done, NULL, opaque, (struct isa_extent){0});
}

int isa_flush(struct isa_lun *l, isa_done_fn done, void *opaque)
{
	return queue(l, done, NULL, opaque, (struct isa_extent){0});
}

int isa_unmap(struct isa_lun *l, uint64_t offset, uint64_t len, isa_done_fn done, void *opaque)
{
	int rc = check_range(l, offset, len);

	if (rc)
		return rc;
	if (l->info.read_only || !l->info.can_unmap)
		return -EOPNOTSUPP;
	memset(l->disk + offset, 0, len);
	return queue(l, done, NULL, opaque, (struct isa_extent){0});
}

int isa_write_zeroes(struct isa_lun *l, uint64_t offset, uint64_t len, unsigned flags,
		     isa_done_fn done, void *opaque)
{
	int rc = check_range(l, offset, len);

	(void)flags;
	if (rc)
		return rc;
	if (l->info.read_only)
		return -EROFS;
	memset(l->disk + offset, 0, len);
	return queue(l, done, NULL, opaque, (struct isa_extent){0});
}

int isa_block_status(struct isa_lun *l, uint64_t offset, uint64_t len, isa_status_fn done,
		     void *opaque)
{
	int rc = check_range(l, offset, len);
	struct isa_extent ext;

	if (rc)
		return rc;
	/* A prefix of the range: the first half (at least a block), deallocated. */
	ext.offset = offset;
	ext.length = MAX(len / 2 / l->info.block_size, 1u) * l->info.block_size;
	ext.allocated = false;
	return queue(l, NULL, done, opaque, ext);
}

/* Completes every request held, as isa_session_service() would. */
static void complete_all(struct isa_session *s)
{
	struct pending *p;

	while ((p = g_queue_pop_head(&s->pending))) {
		if (p->done)
			p->done(p->opaque, p->err, p->err ? "fake I/O error" : NULL);
		else
			p->status(p->opaque, p->err, p->err ? "fake I/O error" : NULL,
				  p->err ? NULL : &p->ext, p->err ? 0 : 1);
		g_free(p);
	}
}

/* Reads away the server's replies; the client never looks at them. */
static void drain(int fd)
{
	uint8_t buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in_init(data, size);
	uint8_t cfg = fuzz_u8(&in);
	size_t step = chunk[cfg >> 6], off = 0;
	struct isa_session s = {.fail_every = (cfg & 0x20) ? 4 : 0};
	struct isa_lun l = {.s = &s};
	struct nbd_server_config scfg = {.export_name = "", .read_only = cfg & 0x02};
	struct nbd_server_stats st;
	struct nbd_server *srv;
	unsigned int chunks = 0, i;
	int sv[2];

	g_queue_init(&s.pending);
	s.bufs = g_hash_table_new(NULL, NULL);
	l.disk = g_malloc0(DISK_SIZE);
	l.info.block_size = (cfg & 0x08) ? 4096 : 512;
	l.info.physical_block_size = l.info.block_size;
	l.info.blocks = DISK_SIZE / l.info.block_size;
	l.info.can_unmap = cfg & 0x04;
	l.info.can_write_same_unmap = cfg & 0x04;
	l.info.zeroes_after_unmap = cfg & 0x04;
	l.info.max_transfer = 1u << 20;
	g_strlcpy(l.info.vendor, "FUZZ", sizeof(l.info.vendor));
	g_strlcpy(l.info.product, "MEMORY", sizeof(l.info.product));

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0,
		   "socketpair");
	srv = nbd_server_new(&s, &l, &scfg);
	FUZZ_CHECK(srv != NULL, "server created");
	FUZZ_CHECK(nbd_server_add_client(srv, sv[0], cfg & 0x01) == 0, "client added");
	drain(sv[1]);

	while (off < in.left) {
		size_t want = chunks < MAX_CHUNKS ? MIN(step, in.left - off) : in.left - off;
		ssize_t n = send(sv[1], in.p + off, want, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (n > 0)
			off += (size_t)n;
		nbd_server_service(srv);
		if ((cfg & 0x10) || chunks % 2)
			complete_all(&s);
		drain(sv[1]);
		chunks++;
		/* The server hung up (a fatal client error): nothing more goes in. */
		nbd_server_get_stats(srv, &st);
		if (st.connections == 0)
			break;
	}
	/* The client hangs up; what it asked for completes and is answered. */
	shutdown(sv[1], SHUT_WR);
	for (i = 0; i < MAX_DRAIN && !(nbd_server_drained(srv) && !s.pending.length); i++) {
		nbd_server_service(srv);
		complete_all(&s);
		drain(sv[1]);
	}
	nbd_server_shutdown(srv);
	for (i = 0; i < MAX_DRAIN && !nbd_server_drained(srv); i++) {
		complete_all(&s);
		nbd_server_service(srv);
		drain(sv[1]);
	}
	FUZZ_CHECK(nbd_server_drained(srv), "a server with a hung-up client drains");
	nbd_server_free(srv);
	complete_all(&s);
	FUZZ_CHECK(g_hash_table_size(s.bufs) == 0, "every payload buffer is freed");
	g_hash_table_unref(s.bufs);
	g_free(l.disk);
	close(sv[1]);
	return 0;
}
