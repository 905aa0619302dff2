// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzz target: the receive path of the TCP datamover (datamover/tcp.c).
 *
 * A dm_tcp_ops connection adopts one end of a socketpair; the harness plays
 * the target on the other end, writing the fuzzed bytes in chunks and
 * calling service() in between, and reads away whatever the datamover
 * sends (commands, Data-Out answering R2Ts). The upcalls act like the
 * session: every PDU goes through pdu_check_rx() (a bad one drops the
 * connection), a SCSI Response or a Data-In with status ends its task,
 * which is then forgotten and freed, so a datamover that kept a pointer to
 * it is caught by ASan.
 *
 * The task table (tasks[]) has five commands with read and write buffers
 * of exactly their transfer length; their ITTs are 1 to 5, in the order
 * they are sent at the start.
 *
 * Input: two configuration bytes, then the target's byte stream.
 *
 * Byte 0: bit 0 header digest, bit 1 data digest, bit 2 full feature phase
 * from the start (set_params() before any byte), bits 3-4 our
 * MaxRecvDataSegmentLength (mrdsl[]), bit 5 framed mode, bit 6 forget task
 * 2 after the third chunk (a timeout while its Data-In is arriving), bit 7
 * enter full feature phase when a final Login Response arrives.
 *
 * Byte 1: bits 0-2 chunk size (chunk[]), bits 3-4 MaxOutstandingR2T
 * (1 << value), bits 5-6 MaxBurstLength (burst[]), bit 7 immediate and
 * unsolicited data for the write commands.
 *
 * In framed mode the stream is built PDU by PDU from the input: a BHS, its
 * AHS, then the data segment, whose length in the BHS is cut to what the
 * input holds; the harness adds padding and, when the run starts in full
 * feature phase, correct digests. That lets the fuzzer reach Data-In
 * placement and R2T handling with digests on, and every PDU passed up is
 * checked against the one framed (Data-In against the bytes placed in the
 * read buffer). Without it the bytes go out as they are (framing and digest
 * errors).
 *
 * What the datamover sends is checked too (unless its digests change midway
 * through): digests, and the payload of the commands' immediate data and of
 * every Data-Out, which must be the task's own bytes at the offset it names.
 */
#include <errno.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "common/iscsi-proto.h"
#include "datamover/crc32c.h"
#include "datamover/datamover.h"
#include "datamover/tcp-test.h"
#include "initiator/pdu.h"
#include "tests/fuzz/fuzz-common.h"

#define NTASKS 5
/* service() calls per chunk: each reads at most 64 times. */
#define MAX_SERVICE 64
#define MAX_CHUNKS  256

/**
 * struct task_desc - one command of the fake task table.
 * @read_len: bytes the target may send as Data-In
 * @write_len: bytes we write (Data-Out answers R2Ts within them)
 */
struct task_desc {
	uint32_t read_len;
	uint32_t write_len;
};

/* INQUIRY, READ 16 KiB, WRITE 16 KiB, READ 1 block, TEST UNIT READY. */
static const struct task_desc tasks[NTASKS] = {
    {36, 0}, {16384, 0}, {0, 16384}, {512, 0}, {0, 0},
};

static const uint32_t mrdsl[4] = {512, 8192, 65536, 262144};
static const uint32_t chunk[8] = {1, 3, 47, 48, 52, 509, 4096, 1u << 20};
static const uint32_t burst[4] = {512, 8192, 262144, 16776192};

/**
 * struct harness - one run: the connection, its tasks and what the
 * upcalls saw.
 * @c: the connection under test
 * @task: the tasks, NULL once completed and freed
 * @params: what set_params() gets
 * @in_login: no full feature phase yet (the login limit applies)
 * @enter_ffp_on_login: bit 7 of byte 0
 * @failures: failed() calls, at most one
 * @sent: what the datamover sent and was not checked yet, or NULL when the
 *	  digests of its stream change midway (set_params() from an upcall)
 * @tx_digests: digests on what the datamover sends
 * @framed: in framed mode, each PDU the harness framed (its BHS, then its
 *	    data segment), else NULL
 * @next_framed: index in @framed of the PDU the next upcall must be
 */
struct harness {
	struct dm_conn *c;
	struct dm_task *task[NTASKS];
	struct dm_params params;
	bool in_login;
	bool enter_ffp_on_login;
	unsigned int failures;
	GByteArray *sent;
	bool tx_digests;
	GPtrArray *framed;
	guint next_framed;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_setup();
	return 0;
}

static struct dm_task *task_new(uint32_t itt, const struct task_desc *d, bool unsol)
{
	struct dm_task *t = g_new0(struct dm_task, 1);
	uint8_t *wbuf;
	uint32_t i;

	t->itt = itt;
	t->lun[1] = 1;
	t->read_len = d->read_len;
	t->read_buf = d->read_len ? g_malloc(d->read_len) : NULL;
	t->write_len = d->write_len;
	if (d->write_len) {
		wbuf = g_malloc(d->write_len);
		for (i = 0; i < d->write_len; i++)
			wbuf[i] = (uint8_t)(i * 7 + itt);
		t->write_buf = wbuf;
	}
	if (unsol) {
		t->imm_len = MIN(d->write_len, 512u);
		t->unsol_len = MIN(d->write_len, 8192u);
	}
	return t;
}

/* The session completes a task: the datamover forgets it, then it is freed. */
static void task_end(struct harness *h, unsigned int i)
{
	struct dm_task *t = h->task[i];

	if (!t)
		return;
	dm_tcp_ops.forget_task(h->c, t);
	FUZZ_CHECK(t->queued == 0 && t->r2t_outstanding == 0, "forget_task clears the task");
	g_free(t->read_buf);
	g_free((void *)t->write_buf);
	g_free(t);
	h->task[i] = NULL;
}

static struct dm_task *up_find_task(void *opaque, uint32_t itt)
{
	struct harness *h = opaque;

	if (itt < 1 || itt > NTASKS)
		return NULL;
	return h->task[itt - 1];
}

static uint32_t up_exp_statsn(void *opaque)
{
	(void)opaque;
	return 1;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Byte @off of the write buffer of the task with @itt (task_new()'s pattern). */
static uint8_t write_byte(uint32_t itt, uint32_t off)
{
	return (uint8_t)(off * 7 + itt);
}

/*
 * Framed mode: the upcall's PDU is the next one framed, except that
 * Data-In of a forgotten task is never passed up. Its data segment is the
 * one framed, passed up or (Data-In) placed at its Buffer Offset.
 */
static void check_framed(struct harness *h, const uint8_t *bhs, const uint8_t *data, uint32_t dlen)
{
	GBytes *pdu = NULL;
	const uint8_t *want;
	gsize len;

	while (h->next_framed < h->framed->len) {
		pdu = g_ptr_array_index(h->framed, h->next_framed++);
		want = g_bytes_get_data(pdu, &len);
		if (memcmp(want, bhs, ISCSI_BHS_LEN) == 0)
			break;
		FUZZ_CHECK(pdu_opcode(want) == ISCSI_OP_DATA_IN,
			   "only orphaned Data-In is skipped");
		pdu = NULL;
	}
	FUZZ_CHECK(pdu != NULL, "every PDU passed up was sent");
	want += ISCSI_BHS_LEN + pdu_ahs_length(bhs);
	FUZZ_CHECK(len == ISCSI_BHS_LEN + pdu_ahs_length(bhs) + dlen, "data segment length");
	/* An empty Data-In may belong to a task without a read buffer. */
	if (pdu_opcode(bhs) == ISCSI_OP_DATA_IN && dlen) {
		const struct dm_task *t = h->task[pdu_itt(bhs) - 1];

		data = (const uint8_t *)t->read_buf + get_be32(bhs + 40);
	}
	FUZZ_CHECK(dlen == 0 || memcmp(data, want, dlen) == 0, "data segment arrives intact");
}

static int up_pdu(void *opaque, const uint8_t *bhs, const uint8_t *ahs, uint32_t ahs_len,
		  const uint8_t *data, uint32_t dlen)
{
	struct harness *h = opaque;
	uint8_t op = pdu_opcode(bhs);
	uint32_t itt = pdu_itt(bhs), i;
	unsigned int sum = 0;
	char why[PDU_WHY_LEN];

	FUZZ_CHECK(ahs_len == pdu_ahs_length(bhs) && (ahs_len == 0) == (ahs == NULL),
		   "AHS as the header says");
	FUZZ_CHECK(dlen == pdu_dlength(bhs), "data segment as the header says");
	FUZZ_CHECK(op == ISCSI_OP_DATA_IN ? data == NULL : (dlen == 0 || data != NULL),
		   "Data-In payload is placed, others are passed up");
	/* ASan checks that every byte handed up is there. */
	for (i = 0; i < ahs_len; i++)
		sum += ahs[i];
	for (i = 0; data && i < dlen; i++)
		sum += data[i];
	(void)sum;
	if (h->framed)
		check_framed(h, bhs, data, dlen);

	if (pdu_check_rx(bhs, ahs, ahs_len, dlen, h->in_login ? 8192 : h->params.max_recv_dsl,
			 h->in_login, why, sizeof(why)) < 0)
		return -1;
	if (op == ISCSI_OP_LOGIN_RSP && (bhs[1] & ISCSI_LOGIN_TRANSIT) &&
	    (bhs[1] & ISCSI_LOGIN_NSG_MASK) == ISCSI_STAGE_FULL_FEATURE && h->enter_ffp_on_login) {
		dm_tcp_ops.set_params(h->c, &h->params);
		h->in_login = false;
		/* The next PDU queued gets digests, one being sent may not. */
		if (h->params.header_digest || h->params.data_digest)
			g_clear_pointer(&h->sent, g_byte_array_unref);
	}
	if (itt >= 1 && itt <= NTASKS &&
	    (op == ISCSI_OP_SCSI_RSP || (op == ISCSI_OP_DATA_IN && (bhs[1] & ISCSI_DATA_STATUS))))
		task_end(h, itt - 1);
	return 0;
}

static void up_failed(void *opaque, int err, const char *msg)
{
	struct harness *h = opaque;

	FUZZ_CHECK(err != 0 && msg && msg[0], "a failure says why");
	h->failures++;
	FUZZ_CHECK(h->failures == 1, "failed() is called once");
}

/* A PDU the datamover sent: commands and Data-Out carry the right payload. */
static void check_sent_pdu(const struct harness *h, const uint8_t *bhs, const uint8_t *data,
			   uint32_t dlen)
{
	uint32_t itt = pdu_itt(bhs), off, i;

	FUZZ_CHECK(itt >= 1 && itt <= NTASKS, "we send only for our tasks");
	FUZZ_CHECK(dlen <= h->params.max_xmit_dsl, "within the target's MaxRecvDataSegmentLength");
	switch (pdu_opcode(bhs)) {
	case ISCSI_OP_SCSI_CMD:
		off = 0;
		break;
	case ISCSI_OP_DATA_OUT:
		FUZZ_CHECK(dlen > 0, "no empty Data-Out");
		off = get_be32(bhs + 40);
		break;
	default:
		FUZZ_CHECK(false, "the datamover sends commands and Data-Out");
		return;
	}
	FUZZ_CHECK((uint64_t)off + dlen <= tasks[itt - 1].write_len,
		   "Data-Out within the write buffer");
	for (i = 0; i < dlen; i++)
		FUZZ_CHECK(data[i] == write_byte(itt, off + i), "Data-Out carries the task's data");
}

/* Cuts what the datamover sent into PDUs and checks digests and payload. */
static void check_sent(struct harness *h)
{
	uint32_t hd = h->tx_digests && h->params.header_digest ? ISCSI_DIGEST_LEN : 0;
	uint32_t dd = h->tx_digests && h->params.data_digest ? ISCSI_DIGEST_LEN : 0;
	size_t off = 0;

	while (h->sent->len - off >= ISCSI_BHS_LEN) {
		const uint8_t *p = h->sent->data + off;
		uint32_t hlen = ISCSI_BHS_LEN + pdu_ahs_length(p), dlen = pdu_dlength(p);
		uint32_t pad = ISCSI_PAD(dlen) - dlen;
		size_t total = hlen + hd + (dlen ? dlen + pad + dd : 0);
		const uint8_t *d = p + hlen + hd;

		if (h->sent->len - off < total)
			break;
		if (hd)
			FUZZ_CHECK(crc32c(0, p, hlen) == get_le32(p + hlen), "our header digest");
		if (dlen && dd)
			FUZZ_CHECK(crc32c(0, d, dlen + pad) == get_le32(d + dlen + pad),
				   "our data digest");
		check_sent_pdu(h, p, d, dlen);
		off += total;
	}
	g_byte_array_remove_range(h->sent, 0, (guint)off);
}

/* Reads what the datamover sent; only the checks above look at it. */
static void drain(struct harness *h, int fd)
{
	uint8_t buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (h->sent) {
			g_byte_array_append(h->sent, buf, (guint)n);
			check_sent(h);
		}
	}
}

/* Lets the datamover read what is waiting, as the session's poll loop would. */
static void service(struct harness *h, int peer)
{
	int pending, n;

	for (n = 0; n < MAX_SERVICE && !h->failures; n++) {
		uint32_t ev = dm_tcp_ops.which_events(h->c);

		FUZZ_CHECK(ev & EPOLLIN, "a live connection always reads");
		if (dm_tcp_ops.service(h->c, ev) < 0)
			FUZZ_CHECK(h->failures == 1, "service() fails only after failed()");
		drain(h, peer);
		if (ioctl(dm_tcp_ops.get_fd(h->c), FIONREAD, &pending) < 0 || pending == 0)
			break;
	}
}

/*
 * Writes @len bytes to the datamover in chunks of @size, serviced in
 * between. After MAX_CHUNKS small chunks the rest goes in one piece: a
 * 64 KiB input cut into single bytes would cost a second per run.
 */
static void feed(struct harness *h, int peer, const uint8_t *buf, size_t len, size_t size,
		 bool forget)
{
	size_t off = 0;
	unsigned int chunks = 0;

	while (off < len && !h->failures) {
		size_t want = chunks < MAX_CHUNKS ? MIN(size, len - off) : len - off;
		ssize_t n = send(peer, buf + off, want, MSG_NOSIGNAL);

		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
		if (n > 0)
			off += (size_t)n;
		service(h, peer);
		if (++chunks == 3 && forget)
			task_end(h, 1);
	}
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * Framed mode: PDUs from the input with their lengths fixed up, digests
 * added; each is also kept in @framed (header without digest, then data).
 */
static GByteArray *frame(struct fuzz_in *in, bool hd, bool dd, GPtrArray *framed)
{
	GByteArray *out = g_byte_array_new();

	while (in->left >= ISCSI_BHS_LEN) {
		uint8_t hdr[ISCSI_BHS_LEN + 255 * 4 + ISCSI_DIGEST_LEN];
		uint8_t trailer[3 + ISCSI_DIGEST_LEN] = {0};
		uint32_t hlen, dlen, pad;
		size_t got;
		g_autofree uint8_t *bhs = fuzz_take(in, ISCSI_BHS_LEN, &got);
		/* Whole AHS words only, so that TotalAHSLength can say what is there. */
		g_autofree uint8_t *ahs =
		    fuzz_take(in, MIN(pdu_ahs_length(bhs), in->left & ~(size_t)3), &got);
		g_autofree uint8_t *seg = NULL;
		GByteArray *pdu;

		hlen = ISCSI_BHS_LEN + (uint32_t)got;
		bhs[4] = (uint8_t)(got / 4);
		seg = fuzz_take(in, pdu_dlength(bhs), &got);
		dlen = (uint32_t)got;
		iscsi_set_dlength(bhs + 5, dlen);
		memcpy(hdr, bhs, ISCSI_BHS_LEN);
		memcpy(hdr + ISCSI_BHS_LEN, ahs, hlen - ISCSI_BHS_LEN);
		if (hd) {
			put_le32(hdr + hlen, crc32c(0, hdr, hlen));
			hlen += ISCSI_DIGEST_LEN;
		}
		g_byte_array_append(out, hdr, hlen);
		pdu = g_byte_array_new();
		g_byte_array_append(pdu, hdr, hlen - (hd ? ISCSI_DIGEST_LEN : 0));
		g_byte_array_append(pdu, seg, dlen);
		g_ptr_array_add(framed, g_byte_array_free_to_bytes(pdu));
		if (!dlen)
			continue;
		pad = ISCSI_PAD(dlen) - dlen;
		g_byte_array_append(out, seg, dlen);
		if (dd)
			put_le32(trailer + pad, crc32c(crc32c(0, seg, dlen), trailer, pad));
		g_byte_array_append(out, trailer, pad + (dd ? ISCSI_DIGEST_LEN : 0));
	}
	return out;
}

/* The commands of the task table go out first, as the session sends them. */
static void send_commands(struct harness *h)
{
	unsigned int i;

	for (i = 0; i < NTASKS; i++) {
		const struct dm_task *t = h->task[i];
		uint8_t bhs[ISCSI_BHS_LEN];
		uint8_t cdb[16] = {0};

		pdu_build_scsi_cmd(bhs, t->lun, t->itt, 1 + i, 1, cdb, sizeof(cdb),
				   t->read_len != 0, t->write_len != 0,
				   MAX(t->read_len, t->write_len), ISCSI_ATTR_SIMPLE,
				   t->unsol_len == t->write_len, t->imm_len);
		FUZZ_CHECK(dm_tcp_ops.send_command(h->c, bhs, h->task[i]) == 0,
			   "a command is queued");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dm_upcalls up_template = {
	    .find_task = up_find_task,
	    .exp_statsn = up_exp_statsn,
	    .pdu = up_pdu,
	    .failed = up_failed,
	};
	struct fuzz_in in = fuzz_in_init(data, size);
	uint8_t c0 = fuzz_u8(&in), c1 = fuzz_u8(&in);
	struct dm_upcalls up = up_template;
	struct harness h = {0};
	g_autoptr(GByteArray) stream = NULL;
	unsigned int i;
	int sv[2];

	h.params = (struct dm_params){
	    .max_recv_dsl = mrdsl[(c0 >> 3) & 3],
	    .max_xmit_dsl = 8192,
	    .first_burst = 65536,
	    .max_burst = burst[(c1 >> 5) & 3],
	    .max_outstanding_r2t = 1u << ((c1 >> 3) & 3),
	    .header_digest = c0 & 0x01,
	    .data_digest = c0 & 0x02,
	};
	h.in_login = !(c0 & 0x04);
	h.enter_ffp_on_login = c0 & 0x80;
	h.tx_digests = !h.in_login;
	h.sent = g_byte_array_new();
	if (c0 & 0x20) {
		h.framed = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
		/* Digests start with the full feature phase. */
		stream = frame(&in, !h.in_login && h.params.header_digest,
			       !h.in_login && h.params.data_digest, h.framed);
	} else {
		stream = g_byte_array_new();
		g_byte_array_append(stream, in.p, (guint)in.left);
	}

	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0,
		   "socketpair");
	up.opaque = &h;
	h.c = dm_tcp_ops.create(&up);
	FUZZ_CHECK(dm_tcp_adopt_fd(h.c, sv[0]) == 0, "adopt the socket");
	FUZZ_CHECK(dm_tcp_adopt_fd(h.c, sv[1]) < 0, "a connection adopts one socket");
	if (!h.in_login)
		dm_tcp_ops.set_params(h.c, &h.params);
	for (i = 0; i < NTASKS; i++)
		h.task[i] = task_new(i + 1, &tasks[i], c1 & 0x80);
	send_commands(&h);
	drain(&h, sv[1]);

	feed(&h, sv[1], stream->data, stream->len, chunk[c1 & 7], c0 & 0x40);
	/* The target hangs up: a live connection must notice. */
	shutdown(sv[1], SHUT_WR);
	service(&h, sv[1]);
	FUZZ_CHECK(h.failures == 1, "a closed connection fails");
	FUZZ_CHECK(dm_tcp_ops.which_events(h.c) == 0, "a failed connection waits for nothing");
	FUZZ_CHECK(dm_tcp_ops.service(h.c, EPOLLIN) < 0, "a failed connection stays failed");

	for (i = 0; i < NTASKS; i++)
		task_end(&h, i);
	dm_tcp_ops.destroy(h.c);
	close(sv[1]);
	if (h.sent)
		g_byte_array_unref(h.sent);
	if (h.framed)
		g_ptr_array_unref(h.framed);
	return 0;
}
