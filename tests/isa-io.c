/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * isa-io: a client of the public API for tests and the demo. It logs in,
 * opens a LUN and moves real data through the initiator:
 *
 *   isa-io [OPTIONS] PORTAL IQN info
 *   isa-io [OPTIONS] PORTAL IQN luns
 *   isa-io [OPTIONS] PORTAL IQN verify    random data, mixed sizes, queue depth,
 *                                         read back and compared; with
 *                                         --until FILE written over and over
 *                                         until FILE exists
 *   isa-io [OPTIONS] PORTAL IQN write --in FILE [--offset N]
 *   isa-io [OPTIONS] PORTAL IQN read --out FILE [--offset N] [--length N]
 *   isa-io [OPTIONS] PORTAL IQN zero|unmap [--offset N] [--length N]
 *   isa-io [OPTIONS] PORTAL IQN perf [--rw KIND] [--bs N] [--seconds S]
 *                                         timed reads or writes of one size
 *                                         at the queue depth, for benchmarks
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cli.h"

static gint opt_lun = 1;
static gint opt_qd = 32;
static char *opt_size = NULL;
static char *opt_min = NULL;
static char *opt_max = NULL;
static char *opt_offset = NULL;
static char *opt_length = NULL;
static char *opt_in = NULL;
static char *opt_out = NULL;
static char *opt_expect_out = NULL;
static char *opt_until = NULL;
static gint64 opt_seed = 1;
static gboolean opt_fua = FALSE;
static gint opt_nop_interval;
static gint opt_nop_timeout;
static char *opt_rw = NULL;
static char *opt_bs = NULL;
static gdouble opt_seconds = 5;

struct io {
	uint64_t offset;
	uint32_t len;
	uint8_t *buf;
};

struct runner {
	struct isa_session *s;
	struct isa_lun *l;
	GArray *ios;
	guint next;
	guint inflight;
	guint done;
	int err;
	char msg[256];
	bool read;
	unsigned flags;
};

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t v;

	if (!s)
		return -1;
	errno = 0;
	v = g_ascii_strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static void run_one(struct runner *r);

static void io_done(void *opaque, int err, const char *msg)
{
	struct runner *r = opaque;

	r->inflight--;
	r->done++;
	if (err && !r->err) {
		r->err = err;
		snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : g_strerror(-err));
	}
	run_one(r);
}

static void run_one(struct runner *r)
{
	while (!r->err && r->inflight < (guint)opt_qd && r->next < r->ios->len) {
		struct io *io = &g_array_index(r->ios, struct io, r->next);
		int rc = r->read
			     ? isa_read(r->l, io->offset, io->len, io->buf, io_done, r)
			     : isa_write(r->l, io->offset, io->len, io->buf, r->flags, io_done, r);

		if (rc) {
			r->err = rc;
			snprintf(r->msg, sizeof(r->msg), "request refused: %s", g_strerror(-rc));
			return;
		}
		r->next++;
		r->inflight++;
	}
}

/* Run every I/O of @ios at the queue depth; returns 0 or a negative errno. */
static int run_ios(struct isa_session *s, struct isa_lun *l, GArray *ios, bool read, unsigned flags,
		   char *msg, size_t msglen)
{
	struct runner r = {.s = s, .l = l, .ios = ios, .read = read, .flags = flags};

	run_one(&r);
	while (r.inflight || (!r.err && r.next < ios->len)) {
		struct pollfd p = {.fd = isa_session_get_fd(s), .events = POLLIN};

		if (isa_session_service(s) < 0 && r.inflight == 0 && r.next < ios->len) {
			snprintf(r.msg, sizeof(r.msg), "%s", isa_session_error(s));
			r.err = -ENOTCONN;
			break;
		}
		if (r.inflight)
			poll(&p, 1, 1000);
	}
	if (r.err)
		snprintf(msg, msglen, "%s", r.msg);
	return r.err;
}

/* Cut [0, size) into pieces of random block multiples in [min, max], shuffled. */
static GArray *random_pieces(GRand *rnd, uint64_t base, uint64_t size, uint32_t bs, uint64_t min,
			     uint64_t max, uint8_t *mem)
{
	GArray *ios = g_array_new(FALSE, FALSE, sizeof(struct io));
	uint64_t off = 0;
	guint i;

	while (off < size) {
		uint64_t lo = MAX(min / bs, 1), hi = MAX(max / bs, lo);
		uint64_t n = (uint64_t)g_rand_int_range(rnd, (gint32)lo, (gint32)hi + 1) * bs;
		struct io io;

		n = MIN(n, size - off);
		io.offset = base + off;
		io.len = (uint32_t)n;
		io.buf = mem + off;
		g_array_append_val(ios, io);
		off += n;
	}
	for (i = ios->len; i > 1; i--) {
		guint j = (guint)g_rand_int_range(rnd, 0, (gint32)i);
		struct io t = g_array_index(ios, struct io, i - 1);

		g_array_index(ios, struct io, i - 1) = g_array_index(ios, struct io, j);
		g_array_index(ios, struct io, j) = t;
	}
	return ios;
}

/* A payload buffer of the session, or NULL with the reason on stderr. */
static uint8_t *io_buf(struct isa_session *s, size_t len)
{
	uint8_t *buf = isa_buf_alloc(s, len);

	if (!buf)
		fprintf(
		    stderr,
		    "isa-io: no buffer of %zu bytes: %s (over iSER, --max-pinned bounds them)\n",
		    len, g_strerror(errno));
	return buf;
}

static int cmd_verify(struct isa_session *s, struct isa_lun *l)
{
	const struct isa_lun_info *info = isa_lun_get_info(l);
	uint64_t size = 64u << 20, min = 512, max = 1u << 20, base = 0, i;
	g_autoptr(GRand) rnd = g_rand_new_with_seed((guint32)opt_seed);
	g_autoptr(GArray) wios = NULL;
	g_autoptr(GArray) rios = NULL;
	uint8_t *wmem, *rmem;
	struct isa_stats st;
	char msg[256];
	gint64 t0, t1, t2;
	unsigned pass;
	int rc = 1;

	if ((opt_size && parse_size(opt_size, &size)) || (opt_min && parse_size(opt_min, &min)) ||
	    (opt_max && parse_size(opt_max, &max)) ||
	    (opt_offset && parse_size(opt_offset, &base))) {
		fprintf(stderr, "isa-io: bad size option\n");
		return CLI_EXIT_USAGE;
	}
	if (base + size > info->blocks * info->block_size) {
		fprintf(stderr, "isa-io: %" PRIu64 " bytes at %" PRIu64 " do not fit the LUN\n",
			size, base);
		return CLI_EXIT_USAGE;
	}
	wmem = io_buf(s, size);
	rmem = wmem ? io_buf(s, size) : NULL;
	if (!rmem) {
		if (wmem)
			isa_buf_free(s, wmem, size);
		return CLI_EXIT_FAILURE;
	}
	for (i = 0; i < size; i += 4) {
		uint32_t v = g_rand_int(rnd);

		memcpy(wmem + i, &v, MIN(4, size - i));
	}
	wios = random_pieces(rnd, base, size, info->block_size, min, max, wmem);
	rios = random_pieces(rnd, base, size, info->block_size, min, max, rmem);
	memset(rmem, 0xa5, size);

	t0 = g_get_monotonic_time();
	/*
	 * With --until the same data is written again, pass after pass, so
	 * that a test can inject a fault at a point it has seen (a "write pass"
	 * line) into I/O that goes on however fast the machine is, and stop
	 * it when it is done.
	 */
	for (pass = 1;; pass++) {
		if (run_ios(s, l, wios, false, opt_fua ? ISA_REQ_FUA : 0, msg, sizeof(msg))) {
			fprintf(stderr, "isa-io: write failed: %s\n", msg);
			goto out;
		}
		if (!opt_until)
			break;
		fprintf(stderr, "isa-io: write pass %u done\n", pass);
		if (g_file_test(opt_until, G_FILE_TEST_EXISTS))
			break;
	}
	t1 = g_get_monotonic_time();
	if (run_ios(s, l, rios, true, 0, msg, sizeof(msg))) {
		fprintf(stderr, "isa-io: read failed: %s\n", msg);
		goto out;
	}
	t2 = g_get_monotonic_time();
	if (opt_expect_out && !g_file_set_contents(opt_expect_out, (char *)wmem, size, NULL)) {
		fprintf(stderr, "isa-io: cannot write %s\n", opt_expect_out);
		goto out;
	}
	for (i = 0; i < size; i++) {
		if (wmem[i] != rmem[i]) {
			fprintf(stderr,
				"isa-io: MISMATCH at byte %" PRIu64 ": wrote 0x%02x, read 0x%02x\n",
				base + i, wmem[i], rmem[i]);
			goto out;
		}
	}
	isa_session_get_stats(s, &st);
	printf("verify: wrote %" PRIu64 " bytes in %u commands of %" PRIu64 "..%" PRIu64
	       " bytes at queue depth %d (%.1f MiB/s)\n",
	       size * pass, wios->len * pass, min, max, opt_qd,
	       size * pass / 1048576.0 / ((t1 - t0) / 1e6));
	printf("verify: read back in %u commands (%.1f MiB/s) and compared: OK\n", rios->len,
	       size / 1048576.0 / ((t2 - t1) / 1e6));
	printf("stats: commands %" PRIu64 ", read %" PRIu64 ", written %" PRIu64
	       ", copied payload %" PRIu64 ", retries %" PRIu64 ", aborts %" PRIu64
	       ", errors %" PRIu64 "\n",
	       st.commands, st.bytes_read, st.bytes_written, st.copied_bytes, st.retries, st.aborts,
	       st.errors);
	rc = 0;
out:
	isa_buf_free(s, wmem, size);
	isa_buf_free(s, rmem, size);
	return rc;
}

static int cmd_transfer(struct isa_session *s, struct isa_lun *l, bool read)
{
	const struct isa_lun_info *info = isa_lun_get_info(l);
	uint64_t base = 0, len = 0, max = 1u << 20, off;
	g_autofree char *data = NULL;
	g_autoptr(GArray) ios = g_array_new(FALSE, FALSE, sizeof(struct io));
	g_autoptr(GError) err = NULL;
	gsize flen = 0;
	uint8_t *mem;
	char msg[256];
	int rc = 1;

	if ((opt_offset && parse_size(opt_offset, &base)) ||
	    (opt_length && parse_size(opt_length, &len)) ||
	    (opt_max && parse_size(opt_max, &max))) {
		fprintf(stderr, "isa-io: bad size option\n");
		return CLI_EXIT_USAGE;
	}
	if (!read) {
		if (!opt_in || !g_file_get_contents(opt_in, &data, &flen, &err)) {
			fprintf(stderr, "isa-io: write needs --in FILE%s%s\n", err ? ": " : "",
				err ? err->message : "");
			return CLI_EXIT_USAGE;
		}
		len = flen;
	} else if (!opt_out) {
		fprintf(stderr, "isa-io: read needs --out FILE\n");
		return CLI_EXIT_USAGE;
	} else if (!opt_length) {
		len = info->blocks * info->block_size - base;
	}
	mem = io_buf(s, MAX(len, 1));
	if (!mem)
		return CLI_EXIT_FAILURE;
	if (!read)
		memcpy(mem, data, len);
	for (off = 0; off < len; off += max) {
		struct io io = {base + off, (uint32_t)MIN(max, len - off), mem + off};

		g_array_append_val(ios, io);
	}
	if (run_ios(s, l, ios, read, opt_fua ? ISA_REQ_FUA : 0, msg, sizeof(msg))) {
		fprintf(stderr, "isa-io: %s failed: %s\n", read ? "read" : "write", msg);
		goto out;
	}
	if (read && !g_file_set_contents(opt_out, (char *)mem, len, &err)) {
		fprintf(stderr, "isa-io: %s\n", err->message);
		goto out;
	}
	printf("%s %" PRIu64 " bytes at offset %" PRIu64 "\n", read ? "read" : "wrote", len, base);
	rc = 0;
out:
	isa_buf_free(s, mem, MAX(len, 1));
	return rc;
}

static void flag_done(void *opaque, int err, const char *msg)
{
	int *rc = opaque;

	*rc = err;
	if (err)
		fprintf(stderr, "isa-io: %s\n", msg ? msg : g_strerror(-err));
}

static int cmd_discard(struct isa_session *s, struct isa_lun *l, bool unmap)
{
	const struct isa_lun_info *info = isa_lun_get_info(l);
	uint64_t base = 0, len = info->blocks * info->block_size;
	int result = 1, rc;
	bool done = false;

	if ((opt_offset && parse_size(opt_offset, &base)) ||
	    (opt_length && parse_size(opt_length, &len))) {
		fprintf(stderr, "isa-io: bad size option\n");
		return CLI_EXIT_USAGE;
	}
	if (!opt_length)
		len -= base;
	rc = unmap ? isa_unmap(l, base, len, flag_done, &result)
		   : isa_write_zeroes(l, base, len, 0, flag_done, &result);
	if (rc) {
		fprintf(stderr, "isa-io: refused: %s\n", g_strerror(-rc));
		return 1;
	}
	while (result == 1 && !done) {
		if (isa_session_run(s, &done, 100) < 0 && isa_session_error(s))
			break;
	}
	if (result == 0)
		printf("%s %" PRIu64 " bytes at offset %" PRIu64 "\n",
		       unmap ? "unmapped" : "zeroed", len, base);
	return result == 0 ? 0 : 1;
}

/*
 * perf: one buffer per queue slot, each resubmitted as soon as it completes
 * until the time is up, so the queue stays full; random offsets are
 * multiples of the request size, sequential ones wrap at the end of the
 * LUN. Writes send the byte 0x5a, so that what they did can be checked.
 */
struct perf {
	struct isa_lun *l;
	GRand *rnd;
	bool read;
	bool random;
	uint32_t bs;
	uint64_t slots; /* requests of bs bytes that fit the LUN */
	uint64_t next;
	gint64 end_us;
	guint inflight;
	uint64_t done;
	int err;
	char msg[256];
};

struct perf_slot {
	struct perf *p;
	uint8_t *buf;
};

static void perf_submit(struct perf_slot *slot);

static void perf_done(void *opaque, int err, const char *msg)
{
	struct perf_slot *slot = opaque;
	struct perf *p = slot->p;

	p->inflight--;
	if (err && !p->err) {
		p->err = err;
		snprintf(p->msg, sizeof(p->msg), "%s", msg ? msg : g_strerror(-err));
	}
	if (!err)
		p->done++;
	if (!p->err && g_get_monotonic_time() < p->end_us)
		perf_submit(slot);
}

static void perf_submit(struct perf_slot *slot)
{
	struct perf *p = slot->p;
	uint64_t n = p->random ? (uint64_t)g_rand_double_range(p->rnd, 0, (gdouble)p->slots)
			       : p->next++ % p->slots;
	int rc = p->read ? isa_read(p->l, n * p->bs, p->bs, slot->buf, perf_done, slot)
			 : isa_write(p->l, n * p->bs, p->bs, slot->buf, 0, perf_done, slot);

	if (rc) {
		p->err = rc;
		snprintf(p->msg, sizeof(p->msg), "request refused: %s", g_strerror(-rc));
		return;
	}
	p->inflight++;
}

static int cmd_perf(struct isa_session *s, struct isa_lun *l)
{
	const struct isa_lun_info *info = isa_lun_get_info(l);
	const char *rw = opt_rw ? opt_rw : "read";
	g_autoptr(GRand) rnd = g_rand_new_with_seed((guint32)opt_seed);
	struct perf p = {.l = l, .rnd = rnd};
	struct perf_slot *slots;
	uint64_t bs = 4096;
	struct isa_stats st0, st;
	gint64 t0, t1;
	double secs;
	int i;

	if (opt_bs && parse_size(opt_bs, &bs)) {
		fprintf(stderr, "isa-io: bad --bs\n");
		return CLI_EXIT_USAGE;
	}
	if (!bs || bs % info->block_size || bs > UINT32_MAX ||
	    bs > info->blocks * info->block_size) {
		fprintf(stderr,
			"isa-io: --bs must be a multiple of the block size (%u) within the LUN\n",
			info->block_size);
		return CLI_EXIT_USAGE;
	}
	if (!(opt_seconds > 0 && opt_seconds <= 86400)) {
		fprintf(stderr, "isa-io: --seconds must be in (0, 86400]\n");
		return CLI_EXIT_USAGE;
	}
	p.read = !strcmp(rw, "read") || !strcmp(rw, "randread");
	p.random = !strcmp(rw, "randread") || !strcmp(rw, "randwrite");
	if (!p.read && strcmp(rw, "write") && strcmp(rw, "randwrite")) {
		fprintf(stderr, "isa-io: --rw must be read, randread, write or randwrite\n");
		return CLI_EXIT_USAGE;
	}
	p.bs = (uint32_t)bs;
	p.slots = info->blocks * info->block_size / bs;
	slots = g_new0(struct perf_slot, opt_qd);
	for (i = 0; i < opt_qd; i++) {
		slots[i].p = &p;
		slots[i].buf = io_buf(s, bs);
		if (!slots[i].buf) {
			while (i-- > 0)
				isa_buf_free(s, slots[i].buf, bs);
			g_free(slots);
			return CLI_EXIT_FAILURE;
		}
		memset(slots[i].buf, 0x5a, bs);
	}
	isa_session_get_stats(s, &st0);
	t0 = g_get_monotonic_time();
	p.end_us = t0 + (gint64)(opt_seconds * G_USEC_PER_SEC);
	for (i = 0; i < opt_qd && !p.err; i++)
		perf_submit(&slots[i]);
	/* A failed session completes what it holds with an error. */
	while (p.inflight) {
		struct pollfd pfd = {.fd = isa_session_get_fd(s), .events = POLLIN};

		isa_session_service(s);
		if (p.inflight)
			poll(&pfd, 1, 1000);
	}
	t1 = g_get_monotonic_time();
	for (i = 0; i < opt_qd; i++)
		isa_buf_free(s, slots[i].buf, bs);
	g_free(slots);
	if (p.err) {
		fprintf(stderr, "isa-io: %s failed: %s\n", rw, p.msg);
		return 1;
	}
	isa_session_get_stats(s, &st);
	secs = (double)(t1 - t0) / G_USEC_PER_SEC;
	printf("perf: %s of %" PRIu64 " bytes at queue depth %d: %" PRIu64
	       " requests in %.3f s, %.1f MiB/s, %.0f IOPS\n",
	       rw, bs, opt_qd, p.done, secs, (double)(p.done * bs) / 1048576.0 / secs,
	       (double)p.done / secs);
	printf("stats: commands %" PRIu64 ", read %" PRIu64 ", written %" PRIu64
	       ", copied payload %" PRIu64 "\n",
	       st.commands - st0.commands, st.bytes_read - st0.bytes_read,
	       st.bytes_written - st0.bytes_written, st.copied_bytes - st0.copied_bytes);
	return 0;
}

static void print_info(struct isa_session *s, struct isa_lun *l)
{
	const struct isa_lun_info *i = isa_lun_get_info(l);
	struct isa_session_info si;

	isa_session_get_info(s, &si);
	printf("target: %s\nportal: %s\ntransport: %s\n", si.target_name, si.portal, si.transport);
	printf("max_recv_segment: %u\nmax_xmit_segment: %u\nfirst_burst: %u\nmax_burst: %u\n",
	       si.max_recv_segment, si.max_xmit_segment, si.first_burst, si.max_burst);
	printf("initial_r2t: %s\nimmediate_data: %s\nheader_digest: %s\ndata_digest: %s\n",
	       si.initial_r2t ? "yes" : "no", si.immediate_data ? "yes" : "no",
	       si.header_digest ? "crc32c" : "none", si.data_digest ? "crc32c" : "none");
	printf("lun: %u\nvendor: %s\nproduct: %s\nrevision: %s\nserial: %s\nid: %s\n", i->lun,
	       i->vendor, i->product, i->revision, i->serial, i->id);
	printf("size: %" PRIu64 "\nblock_size: %u\nread_only: %s\nrotational: %s\n",
	       i->blocks * i->block_size, i->block_size, i->read_only ? "yes" : "no",
	       i->rotational ? "yes" : "no");
	printf("can_unmap: %s\nmax_transfer: %u\n", i->can_unmap ? "yes" : "no", i->max_transfer);
}

int main(int argc, char **argv)
{
	struct cli_login login = {0};
	const GOptionEntry entries[] = {
	    {"lun", 'l', 0, G_OPTION_ARG_INT, &opt_lun, "LUN (default 1)", "N"},
	    {"qd", 0, 0, G_OPTION_ARG_INT, &opt_qd, "Queue depth (default 32)", "N"},
	    {"size", 0, 0, G_OPTION_ARG_STRING, &opt_size, "verify: bytes (64M)", "N"},
	    {"min-io", 0, 0, G_OPTION_ARG_STRING, &opt_min, "verify: smallest I/O", "N"},
	    {"max-io", 0, 0, G_OPTION_ARG_STRING, &opt_max, "largest I/O (1M)", "N"},
	    {"offset", 0, 0, G_OPTION_ARG_STRING, &opt_offset, "first byte", "N"},
	    {"length", 0, 0, G_OPTION_ARG_STRING, &opt_length, "bytes", "N"},
	    {"in", 0, 0, G_OPTION_ARG_FILENAME, &opt_in, "write: data from FILE", "FILE"},
	    {"out", 0, 0, G_OPTION_ARG_FILENAME, &opt_out, "read: data to FILE", "FILE"},
	    {"expect-out", 0, 0, G_OPTION_ARG_FILENAME, &opt_expect_out,
	     "verify: also save the data written to FILE", "FILE"},
	    {"seed", 0, 0, G_OPTION_ARG_INT64, &opt_seed, "verify: random seed", "N"},
	    {"until", 0, 0, G_OPTION_ARG_FILENAME, &opt_until,
	     "verify: write again and again until FILE exists, then read back", "FILE"},
	    {"fua", 0, 0, G_OPTION_ARG_NONE, &opt_fua, "write with FUA", NULL},
	    {"rw", 0, 0, G_OPTION_ARG_STRING, &opt_rw,
	     "perf: read, randread, write or randwrite (default read)", "KIND"},
	    {"bs", 0, 0, G_OPTION_ARG_STRING, &opt_bs, "perf: bytes per request (4K)", "N"},
	    {"seconds", 0, 0, G_OPTION_ARG_DOUBLE, &opt_seconds, "perf: run time (default 5)", "S"},
	    {"nop-interval", 0, 0, G_OPTION_ARG_INT, &opt_nop_interval,
	     "NOP-Out ping after S quiet seconds (default 5)", "S"},
	    {"nop-timeout", 0, 0, G_OPTION_ARG_INT, &opt_nop_timeout,
	     "Drop the connection when a ping is not answered in S seconds (default 15)", "S"},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	g_autoptr(GOptionContext) ctx =
	    g_option_context_new("PORTAL IQN info|luns|verify|read|write|zero|unmap|perf");
	g_autoptr(GError) err = NULL;
	struct isa_session *s = NULL;
	struct isa_lun *l = NULL;
	const char *cmd;
	int rc;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_add_group(ctx, cli_login_group(&login));
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "isa-io: %s\n", err->message);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	cli_log_init("isa-io", login.verbose, login.quiet);
	if (argc != 4 || opt_qd < 1 || opt_lun < 0 || opt_nop_interval < 0 ||
	    opt_nop_interval > 3600 || opt_nop_timeout < 0 || opt_nop_timeout > 3600) {
		fprintf(stderr,
			"isa-io: usage: isa-io [OPTIONS] PORTAL IQN COMMAND (try --help)\n");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	cmd = argv[3];
	/* Set before the configuration file is read: the command line wins. */
	login.nop_interval_s = (guint)opt_nop_interval;
	login.nop_timeout_s = (guint)opt_nop_timeout;
	if (cli_login_finish(&login, argv[1], argv[2], &err) < 0) {
		rc = cli_fail("isa-io", err);
		goto out;
	}
	login.opts.queue_depth = (uint32_t)opt_qd;
	s = isa_session_open(argv[1], argv[2], &login.opts, &err);
	if (!s) {
		rc = cli_fail("isa-io", err);
		goto out;
	}
	if (!strcmp(cmd, "luns")) {
		g_autoptr(GArray) luns = isa_report_luns(s, &err);
		guint i;

		if (!luns) {
			rc = cli_fail("isa-io", err);
			goto out;
		}
		for (i = 0; i < luns->len; i++)
			printf("%u\n", g_array_index(luns, uint32_t, i));
		rc = 0;
		goto out;
	}
	l = isa_lun_open(s, (uint32_t)opt_lun, &err);
	if (!l) {
		rc = cli_fail("isa-io", err);
		goto out;
	}
	if (!strcmp(cmd, "info")) {
		print_info(s, l);
		rc = 0;
	} else if (!strcmp(cmd, "verify")) {
		rc = cmd_verify(s, l);
	} else if (!strcmp(cmd, "read") || !strcmp(cmd, "write")) {
		rc = cmd_transfer(s, l, cmd[0] == 'r');
	} else if (!strcmp(cmd, "zero") || !strcmp(cmd, "unmap")) {
		rc = cmd_discard(s, l, cmd[0] == 'u');
	} else if (!strcmp(cmd, "perf")) {
		rc = cmd_perf(s, l);
	} else {
		fprintf(stderr, "isa-io: unknown command '%s'\n", cmd);
		rc = CLI_EXIT_USAGE;
	}
out:
	isa_lun_close(l);
	isa_session_close(s);
	cli_login_clear(&login);
	return rc;
}
