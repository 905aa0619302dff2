// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for datamover/tcp.c against an in-process fake target: a
 * loopback listening socket whose accepted end the test reads and writes
 * byte by byte while poll() drives the datamover.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <glib.h>

#include "datamover/datamover.h"
#include "datamover/tcp-test.h"

#define PUMP_MS 30000

/**
 * struct got_pdu - one PDU the datamover passed up.
 * @bhs: its BHS
 * @ahs: its AHS (@ahs_len bytes)
 * @data_null: the upcall's data pointer was NULL
 * @data: copy of the data segment when it was not
 * @dlen: the upcall's dlen
 */
struct got_pdu {
	uint8_t bhs[ISCSI_BHS_LEN];
	uint8_t ahs[1020];
	uint32_t ahs_len;
	bool data_null;
	GByteArray *data;
	uint32_t dlen;
};

/**
 * struct fx - test fixture: the datamover, its upcall record and the target.
 * @c: connection under test
 * @up: upcalls pointing back at this fixture
 * @pdus: struct got_pdu received by the upcall
 * @tasks: tasks find_task() knows
 * @statsn: what exp_statsn() answers
 * @nfailed: failed() calls
 * @fail_msg: message of the first
 * @connected: connected() has been called
 * @lfd: listening socket
 * @tfd: target end of the connection
 * @tin: bytes the target received
 * @tout: bytes the target still has to send, from @tout_off
 */
struct fx {
	struct dm_conn *c;
	struct dm_upcalls up;
	GPtrArray *pdus;
	struct dm_task *tasks[4];
	uint32_t statsn;
	int nfailed;
	char *fail_msg;
	bool connected;
	int lfd, tfd;
	GByteArray *tin;
	GByteArray *tout;
	size_t tout_off;
};

static const struct dm_ops *ops = &dm_tcp_ops;

/* Bitwise CRC32C, independent of datamover/crc32c.c. */
static uint32_t ref_crc(const uint8_t *p, size_t len)
{
	uint32_t c = 0xffffffffu;

	while (len--) {
		c ^= *p++;
		for (int i = 0; i < 8; i++)
			c = (c >> 1) ^ ((c & 1) ? 0x82F63B78u : 0);
	}
	return ~c;
}

static void append_le32(GByteArray *a, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	g_byte_array_append(a, b, 4);
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static void wr32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static void got_pdu_free(gpointer p)
{
	struct got_pdu *g = p;

	if (g->data)
		g_byte_array_unref(g->data);
	g_free(g);
}

static struct dm_task *up_find_task(void *opaque, uint32_t itt)
{
	struct fx *f = opaque;

	for (unsigned int i = 0; i < G_N_ELEMENTS(f->tasks); i++)
		if (f->tasks[i] && f->tasks[i]->itt == itt)
			return f->tasks[i];
	return NULL;
}

static uint32_t up_exp_statsn(void *opaque)
{
	return ((struct fx *)opaque)->statsn;
}

static int up_pdu(void *opaque, const uint8_t *bhs, const uint8_t *ahs, uint32_t ahs_len,
		  const uint8_t *data, uint32_t dlen)
{
	struct fx *f = opaque;
	struct got_pdu *g = g_new0(struct got_pdu, 1);

	ck_assert_uint_le(ahs_len, sizeof(g->ahs));
	memcpy(g->bhs, bhs, ISCSI_BHS_LEN);
	if (ahs_len)
		memcpy(g->ahs, ahs, ahs_len);
	g->ahs_len = ahs_len;
	g->data_null = !data;
	if (data) {
		g->data = g_byte_array_new();
		g_byte_array_append(g->data, data, dlen);
	}
	g->dlen = dlen;
	g_ptr_array_add(f->pdus, g);
	return 0;
}

static void up_failed(void *opaque, int err, const char *msg)
{
	struct fx *f = opaque;

	(void)err;
	if (!f->nfailed++)
		f->fail_msg = g_strdup(msg);
}

static void up_connected(void *opaque)
{
	((struct fx *)opaque)->connected = true;
}

/*
 * Start a connect and serve the datamover until it says how it went, as
 * the session does. Returns 0 once connected, -1 once failed.
 */
static int fx_connect(struct fx *f, struct dm_conn *c, const char *host, uint16_t port,
		      GError **err)
{
	if (ops->connect(c, host, port, 2000, err) < 0)
		return -1;
	ck_assert(!f->connected && !f->nfailed);
	while (!f->connected && !f->nfailed) {
		struct pollfd p = {.fd = ops->get_fd(c), .events = (short)ops->which_events(c)};

		ck_assert_int_eq(ops->which_events(c), EPOLLOUT);
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		ops->service(c, p.revents);
	}
	return f->connected ? 0 : -1;
}

/* Listening socket on the loopback of @family, port 0; -1 if unsupported. */
static int listen_loopback(int family, uint16_t *port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					 : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* Connects a fresh datamover to a fresh fake target; false if @family is missing. */
static bool fx_open(struct fx *f, int family, const char *host)
{
	g_autoptr(GError) err = NULL;
	uint16_t port;

	memset(f, 0, sizeof(*f));
	f->lfd = listen_loopback(family, &port);
	if (f->lfd < 0)
		return false;
	f->up =
	    (struct dm_upcalls){f, up_find_task, up_exp_statsn, up_pdu, up_failed, up_connected};
	f->pdus = g_ptr_array_new_with_free_func(got_pdu_free);
	f->tin = g_byte_array_new();
	f->tout = g_byte_array_new();
	f->statsn = 0x11223344;
	f->c = ops->create(&f->up);
	ck_assert_ptr_nonnull(f->c);
	if (fx_connect(f, f->c, host, port, &err) < 0)
		ck_abort_msg("connect: %s", err ? err->message : f->fail_msg);
	f->tfd = accept(f->lfd, NULL, NULL);
	ck_assert_int_ge(f->tfd, 0);
	ck_assert_int_eq(fcntl(f->tfd, F_SETFL, O_NONBLOCK), 0);
	ck_assert(fcntl(ops->get_fd(f->c), F_GETFL) & O_NONBLOCK);
	return true;
}

static void fx_close(struct fx *f)
{
	ops->destroy(f->c);
	if (f->tfd >= 0)
		close(f->tfd);
	close(f->lfd);
	g_ptr_array_unref(f->pdus);
	g_byte_array_unref(f->tin);
	g_byte_array_unref(f->tout);
	g_free(f->fail_msg);
}

/* One round: poll both ends, service the datamover, move the target's bytes. */
static void pump_once(struct fx *f)
{
	struct pollfd p[2] = {
	    {.fd = ops->get_fd(f->c), .events = (short)ops->which_events(f->c)},
	    {.fd = f->tfd, .events = POLLIN},
	};
	uint8_t buf[65536];
	ssize_t n;

	if (f->tout_off < f->tout->len)
		p[1].events |= POLLOUT;
	if (f->tfd < 0)
		p[1].fd = -1;
	ck_assert_int_ge(poll(p, 2, 10), 0);
	if (p[0].revents)
		ops->service(f->c, p[0].revents);
	if (p[1].revents & POLLIN) {
		n = read(f->tfd, buf, sizeof(buf));
		if (n > 0)
			g_byte_array_append(f->tin, buf, (guint)n);
	}
	if (p[1].revents & POLLOUT) {
		n = write(f->tfd, f->tout->data + f->tout_off, f->tout->len - f->tout_off);
		if (n > 0)
			f->tout_off += (size_t)n;
	}
}

/* Pumps until the target received @tin_len bytes and has sent everything. */
static void pump_until(struct fx *f, size_t tin_len)
{
	gint64 end = g_get_monotonic_time() + PUMP_MS * 1000;

	while (f->tin->len < tin_len || f->tout_off < f->tout->len ||
	       ops->which_events(f->c) & POLLOUT) {
		ck_assert_msg(g_get_monotonic_time() < end, "timed out: target got %u of %zu bytes",
			      f->tin->len, tin_len);
		if (f->nfailed)
			break;
		pump_once(f);
	}
	/* Let each side drain what the other sent last. */
	for (int quiet = 0; quiet < 5;) {
		guint before = f->tin->len;

		pump_once(f);
		quiet = f->tin->len == before ? quiet + 1 : 0;
	}
}

static void pump_until_failed(struct fx *f)
{
	gint64 end = g_get_monotonic_time() + PUMP_MS * 1000;

	while (!f->nfailed) {
		ck_assert_msg(g_get_monotonic_time() < end, "timed out waiting for failure");
		pump_once(f);
	}
}

/* Target side: queue a PDU for the initiator with the given framing. */
static void target_send(struct fx *f, const uint8_t *bhs_in, const void *data, uint32_t dlen,
			bool hd, bool dd)
{
	uint8_t bhs[ISCSI_BHS_LEN];
	static const uint8_t zero[3];
	uint32_t pad = ISCSI_PAD(dlen) - dlen;
	guint start;

	memcpy(bhs, bhs_in, sizeof(bhs));
	iscsi_set_dlength(((struct iscsi_bhs *)bhs)->dlength, dlen);
	g_byte_array_append(f->tout, bhs, sizeof(bhs));
	if (hd)
		append_le32(f->tout, ref_crc(bhs, sizeof(bhs)));
	if (!dlen)
		return;
	start = f->tout->len;
	g_byte_array_append(f->tout, data, dlen);
	g_byte_array_append(f->tout, zero, pad);
	if (dd)
		append_le32(f->tout, ref_crc(f->tout->data + start, dlen + pad));
}

static void make_data_in(uint8_t *bhs, uint32_t itt, uint32_t datasn, uint32_t off, uint8_t flags)
{
	memset(bhs, 0, ISCSI_BHS_LEN);
	bhs[0] = ISCSI_OP_DATA_IN;
	bhs[1] = flags;
	wr32(bhs + 16, itt);
	wr32(bhs + 20, ISCSI_RESERVED_TAG);
	wr32(bhs + 36, datasn);
	wr32(bhs + 40, off);
}

static void make_r2t(uint8_t *bhs, uint32_t itt, uint32_t ttt, uint32_t r2tsn, uint32_t off,
		     uint32_t len)
{
	memset(bhs, 0, ISCSI_BHS_LEN);
	bhs[0] = ISCSI_OP_R2T;
	bhs[1] = ISCSI_FLAG_FINAL;
	wr32(bhs + 16, itt);
	wr32(bhs + 20, ttt);
	wr32(bhs + 36, r2tsn);
	wr32(bhs + 40, off);
	wr32(bhs + 44, len);
}

static void set_params(struct fx *f, uint32_t recv, uint32_t xmit, uint32_t first, uint32_t r2t,
		       bool digests)
{
	struct dm_params p = {
	    .max_recv_dsl = recv,
	    .max_xmit_dsl = xmit,
	    .first_burst = first,
	    .max_burst = 262144,
	    .max_outstanding_r2t = r2t,
	    .header_digest = digests,
	    .data_digest = digests,
	};

	ops->set_params(f->c, &p);
}

/*
 * Parses the PDU at *off of what the target received, checking padding and
 * digests; returns its BHS and points *data at its data segment.
 */
static const uint8_t *take_pdu(struct fx *f, size_t *off, bool hd, bool dd, const uint8_t **data,
			       uint32_t *dlen)
{
	const uint8_t *p = f->tin->data + *off;
	uint32_t pad;
	size_t need;

	ck_assert_uint_ge(f->tin->len, *off + ISCSI_BHS_LEN);
	*dlen = iscsi_dlength(((const struct iscsi_bhs *)p)->dlength);
	pad = ISCSI_PAD(*dlen) - *dlen;
	need = ISCSI_BHS_LEN + (hd ? 4 : 0) + (*dlen ? *dlen + pad + (dd ? 4 : 0) : 0);
	ck_assert_uint_ge(f->tin->len, *off + need);
	if (hd) {
		uint32_t want = ref_crc(p, ISCSI_BHS_LEN);
		const uint8_t *d = p + ISCSI_BHS_LEN;

		ck_assert_uint_eq(d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24, want);
	}
	*data = p + ISCSI_BHS_LEN + (hd ? 4 : 0);
	for (uint32_t i = 0; i < pad; i++)
		ck_assert_uint_eq((*data)[*dlen + i], 0);
	if (*dlen && dd) {
		const uint8_t *d = *data + *dlen + pad;

		ck_assert_uint_eq(d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24,
				  ref_crc(*data, *dlen + pad));
	}
	*off += need;
	return p;
}

/* Checks one Data-Out against what it must carry. */
static void check_data_out(struct fx *f, size_t *off, bool digests, const struct dm_task *t,
			   uint32_t ttt, uint32_t datasn, uint32_t boff, uint32_t len, bool final)
{
	const uint8_t *data;
	uint32_t dlen;
	const uint8_t *h = take_pdu(f, off, digests, digests, &data, &dlen);

	ck_assert_uint_eq(h[0], ISCSI_OP_DATA_OUT);
	ck_assert_uint_eq(h[1], final ? ISCSI_FLAG_FINAL : 0);
	ck_assert_uint_eq(dlen, len);
	ck_assert_mem_eq(h + 8, t->lun, 8);
	ck_assert_uint_eq(rd32(h + 16), t->itt);
	ck_assert_uint_eq(rd32(h + 20), ttt);
	ck_assert_uint_eq(rd32(h + 28), f->statsn);
	ck_assert_uint_eq(rd32(h + 36), datasn);
	ck_assert_uint_eq(rd32(h + 40), boff);
	ck_assert_mem_eq(data, (const uint8_t *)t->write_buf + boff, len);
}

static void fill_random(void *buf, size_t len, uint32_t seed)
{
	GRand *r = g_rand_new_with_seed(seed);
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)g_rand_int(r);
	g_rand_free(r);
}

/* (1) A control PDU goes out byte-exact: BHS, data, zero padding, digests. */
static void control_pdu(bool digests)
{
	struct fx f;
	uint8_t bhs[ISCSI_BHS_LEN] = {ISCSI_OP_TEXT_REQ | ISCSI_OP_IMMEDIATE, ISCSI_FLAG_FINAL};
	g_autoptr(GByteArray) want = g_byte_array_new();
	static const uint8_t pad[3];

	fx_open(&f, AF_INET, "127.0.0.1");
	if (digests)
		set_params(&f, 8192, 8192, 65536, 1, true);
	wr32(bhs + 16, 0x01020304);
	ck_assert_int_eq(ops->send_pdu(f.c, bhs, "SendTargets=All", 15), 0);
	/* The datamover fills in DataSegmentLength. */
	bhs[7] = 15;
	g_byte_array_append(want, bhs, sizeof(bhs));
	if (digests)
		append_le32(want, ref_crc(bhs, sizeof(bhs)));
	g_byte_array_append(want, (const uint8_t *)"SendTargets=All", 15);
	g_byte_array_append(want, pad, 1);
	if (digests)
		append_le32(want, ref_crc((const uint8_t *)"SendTargets=All\0", 16));
	pump_until(&f, want->len);
	ck_assert_uint_eq(f.tin->len, want->len);
	ck_assert_mem_eq(f.tin->data, want->data, want->len);
	ck_assert_uint_eq(ops->stats_copied(f.c), 0);
	ck_assert_int_eq(f.nfailed, 0);
	fx_close(&f);
}

START_TEST(test_control_pdu_plain)
{
	control_pdu(false);
}
END_TEST

START_TEST(test_control_pdu_digests)
{
	control_pdu(true);
}
END_TEST

/* A fixed vector for the header digest: an all-zero BHS. */
START_TEST(test_header_digest_vector)
{
	struct fx f;
	uint8_t bhs[ISCSI_BHS_LEN] = {0};
	static const uint8_t want[4] = {0xb9, 0x3a, 0x8c, 0x28};

	ck_assert_uint_eq(ref_crc(bhs, sizeof(bhs)), 0x288c3ab9u);
	fx_open(&f, AF_INET, "127.0.0.1");
	set_params(&f, 8192, 8192, 65536, 1, true);
	ck_assert_int_eq(ops->send_pdu(f.c, bhs, NULL, 0), 0);
	pump_until(&f, ISCSI_BHS_LEN + 4);
	ck_assert_uint_eq(f.tin->len, ISCSI_BHS_LEN + 4);
	ck_assert_mem_eq(f.tin->data + ISCSI_BHS_LEN, want, 4);
	fx_close(&f);
}
END_TEST

/* Received control PDUs: data, padding, AHS and digests are stripped correctly. */
static void control_rx(bool digests)
{
	struct fx f;
	uint8_t bhs[ISCSI_BHS_LEN] = {ISCSI_OP_TEXT_RSP, ISCSI_FLAG_FINAL};
	uint8_t nop[ISCSI_BHS_LEN] = {ISCSI_OP_NOOP_IN, ISCSI_FLAG_FINAL};
	struct got_pdu *g;

	fx_open(&f, AF_INET, "127.0.0.1");
	if (digests)
		set_params(&f, 8192, 8192, 65536, 1, true);
	wr32(bhs + 16, 7);
	target_send(&f, bhs, "TargetName=iqn.x", 16, digests, digests);
	target_send(&f, nop, NULL, 0, digests, digests);
	target_send(&f, bhs, "abcdefg", 7, digests, digests);
	pump_until(&f, 0);
	ck_assert_int_eq(f.nfailed, 0);
	ck_assert_uint_eq(f.pdus->len, 3);
	g = f.pdus->pdata[0];
	ck_assert_uint_eq(g->bhs[0], ISCSI_OP_TEXT_RSP);
	ck_assert_uint_eq(g->dlen, 16);
	ck_assert_mem_eq(g->data->data, "TargetName=iqn.x", 16);
	g = f.pdus->pdata[1];
	ck_assert_uint_eq(g->bhs[0], ISCSI_OP_NOOP_IN);
	ck_assert_uint_eq(g->dlen, 0);
	g = f.pdus->pdata[2];
	ck_assert_uint_eq(g->dlen, 7);
	ck_assert_mem_eq(g->data->data, "abcdefg", 7);
	fx_close(&f);
}

START_TEST(test_control_rx_plain)
{
	control_rx(false);
}
END_TEST

START_TEST(test_control_rx_digests)
{
	control_rx(true);
}
END_TEST

START_TEST(test_ahs_rx)
{
	struct fx f;
	uint8_t pdu[ISCSI_BHS_LEN + 8] = {ISCSI_OP_SCSI_RSP, ISCSI_FLAG_FINAL};
	struct got_pdu *g;

	fx_open(&f, AF_INET, "127.0.0.1");
	set_params(&f, 8192, 8192, 65536, 1, true);
	pdu[4] = 2;
	iscsi_set_dlength(pdu + 5, 2);
	memcpy(pdu + ISCSI_BHS_LEN, "AHS-AHS!", 8);
	g_byte_array_append(f.tout, pdu, sizeof(pdu));
	append_le32(f.tout, ref_crc(pdu, sizeof(pdu)));
	g_byte_array_append(f.tout, (const uint8_t *)"\x70\x00\x00\x00", 4);
	append_le32(f.tout, ref_crc((const uint8_t *)"\x70\x00\x00\x00", 4));
	pump_until(&f, 0);
	ck_assert_int_eq(f.nfailed, 0);
	ck_assert_uint_eq(f.pdus->len, 1);
	g = f.pdus->pdata[0];
	ck_assert_uint_eq(g->ahs_len, 8);
	ck_assert_mem_eq(g->ahs, "AHS-AHS!", 8);
	ck_assert_uint_eq(g->dlen, 2);
	ck_assert_mem_eq(g->data->data, "\x70\x00", 2);
	fx_close(&f);
}
END_TEST

/* (2) Immediate + unsolicited data, then an R2T for the rest. */
START_TEST(test_write_unsolicited)
{
	struct fx f;
	struct dm_task t = {.itt = 0x42, .write_len = 20001, .imm_len = 4096, .unsol_len = 16384};
	uint8_t cmd[ISCSI_BHS_LEN] = {ISCSI_OP_SCSI_CMD, ISCSI_CMD_WRITE | ISCSI_ATTR_SIMPLE};
	uint8_t r2t[ISCSI_BHS_LEN];
	const uint8_t *h, *data;
	uint32_t dlen;
	size_t off = 0;
	void *wbuf;

	fx_open(&f, AF_INET, "127.0.0.1");
	set_params(&f, 8192, 4096, 16384, 1, false);
	wbuf = ops->buf_alloc(f.c, t.write_len);
	ck_assert_uint_eq((uintptr_t)wbuf % 4096, 0);
	fill_random(wbuf, t.write_len, 1);
	t.write_buf = wbuf;
	iscsi_encode_lun(t.lun, 3);
	memcpy(cmd + 8, t.lun, 8);
	wr32(cmd + 16, t.itt);
	wr32(cmd + 20, t.write_len);
	f.tasks[0] = &t;
	ck_assert_int_eq(ops->send_command(f.c, cmd, &t), 0);
	pump_until(&f, 4 * ISCSI_BHS_LEN + 16384);
	ck_assert_uint_eq(f.tin->len, 4 * ISCSI_BHS_LEN + 16384);
	h = take_pdu(&f, &off, false, false, &data, &dlen);
	ck_assert_uint_eq(h[0], ISCSI_OP_SCSI_CMD);
	ck_assert_uint_eq(dlen, 4096);
	ck_assert_mem_eq(h + 8, cmd + 8, ISCSI_BHS_LEN - 8);
	ck_assert_mem_eq(data, wbuf, 4096);
	check_data_out(&f, &off, false, &t, ISCSI_RESERVED_TAG, 0, 4096, 4096, false);
	check_data_out(&f, &off, false, &t, ISCSI_RESERVED_TAG, 1, 8192, 4096, false);
	check_data_out(&f, &off, false, &t, ISCSI_RESERVED_TAG, 2, 12288, 4096, true);
	ck_assert_uint_eq(t.queued, 0);

	f.statsn = 0x55;
	make_r2t(r2t, t.itt, 0xabcd, 0, 16384, 3617);
	target_send(&f, r2t, NULL, 0, false, false);
	pump_until(&f, off + ISCSI_BHS_LEN + 3620);
	ck_assert_uint_eq(f.tin->len, off + ISCSI_BHS_LEN + 3620);
	check_data_out(&f, &off, false, &t, 0xabcd, 0, 16384, 3617, true);
	ck_assert_uint_eq(f.pdus->len, 1);
	ck_assert_uint_eq(((struct got_pdu *)f.pdus->pdata[0])->bhs[0], ISCSI_OP_R2T);
	ck_assert_uint_eq(t.queued, 0);
	ck_assert_uint_eq(t.r2t_outstanding, 0);
	ck_assert_uint_eq(ops->stats_copied(f.c), 0);
	ck_assert_int_eq(f.nfailed, 0);
	ops->buf_free(f.c, wbuf, t.write_len);
	fx_close(&f);
}
END_TEST

/* (3) Two outstanding R2Ts, with digests: TTTs, offsets, DataSN per sequence. */
START_TEST(test_r2t)
{
	struct fx f;
	struct dm_task t = {.itt = 9, .write_len = 10000};
	uint8_t cmd[ISCSI_BHS_LEN] = {ISCSI_OP_SCSI_CMD, ISCSI_FLAG_FINAL | ISCSI_CMD_WRITE};
	uint8_t r2t[ISCSI_BHS_LEN];
	g_autofree uint8_t *wbuf = g_malloc(t.write_len);
	const uint8_t *h, *data;
	uint32_t dlen;
	size_t off = 0;

	fx_open(&f, AF_INET, "127.0.0.1");
	set_params(&f, 8192, 4096, 65536, 2, true);
	fill_random(wbuf, t.write_len, 2);
	t.write_buf = wbuf;
	wr32(cmd + 16, t.itt);
	f.tasks[1] = &t;
	ck_assert_int_eq(ops->send_command(f.c, cmd, &t), 0);
	make_r2t(r2t, t.itt, 0x1001, 0, 0, 5000);
	target_send(&f, r2t, NULL, 0, true, true);
	make_r2t(r2t, t.itt, 0x1002, 1, 5000, 5000);
	target_send(&f, r2t, NULL, 0, true, true);
	/* Command, then 4 Data-Out with 52-byte headers and digests. */
	pump_until(&f, 52 + 4 * 52 + 4096 + 4 + 904 + 4 + 4096 + 4 + 904 + 4);
	h = take_pdu(&f, &off, true, true, &data, &dlen);
	ck_assert_uint_eq(h[0], ISCSI_OP_SCSI_CMD);
	ck_assert_uint_eq(dlen, 0);
	check_data_out(&f, &off, true, &t, 0x1001, 0, 0, 4096, false);
	check_data_out(&f, &off, true, &t, 0x1001, 1, 4096, 904, true);
	check_data_out(&f, &off, true, &t, 0x1002, 0, 5000, 4096, false);
	check_data_out(&f, &off, true, &t, 0x1002, 1, 9096, 904, true);
	ck_assert_uint_eq(off, f.tin->len);
	ck_assert_uint_eq(t.r2t_outstanding, 0);
	ck_assert_uint_eq(f.pdus->len, 2);
	ck_assert_int_eq(f.nfailed, 0);
	fx_close(&f);
}
END_TEST

/* (4) Data-In over several PDUs lands in place, without a copy. */
static void data_in(bool digests, uint32_t mrdsl, uint32_t len)
{
	struct fx f;
	struct dm_task t = {.itt = 0x77, .read_len = len};
	uint8_t cmd[ISCSI_BHS_LEN] = {ISCSI_OP_SCSI_CMD, ISCSI_FLAG_FINAL | ISCSI_CMD_READ};
	g_autofree uint8_t *src = g_malloc(len);
	uint8_t bhs[ISCSI_BHS_LEN];
	uint32_t sn = 0;
	struct got_pdu *g;

	fx_open(&f, AF_INET, "127.0.0.1");
	set_params(&f, mrdsl, 8192, 65536, 1, digests);
	t.read_buf = ops->buf_alloc(f.c, len);
	memset(t.read_buf, 0xee, len);
	fill_random(src, len, len);
	f.tasks[2] = &t;
	/* Sent first, as always: Data-In is then read straight into place. */
	wr32(cmd + 16, t.itt);
	ck_assert_int_eq(ops->send_command(f.c, cmd, &t), 0);
	for (uint32_t off = 0; off < len; off += mrdsl, sn++) {
		uint32_t n = MIN(mrdsl, len - off);
		bool last = off + n == len;

		make_data_in(bhs, t.itt, sn, off, last ? ISCSI_FLAG_FINAL | ISCSI_DATA_STATUS : 0);
		target_send(&f, bhs, src + off, n, digests, digests);
	}
	pump_until(&f, 0);
	ck_assert_int_eq(f.nfailed, 0);
	ck_assert_mem_eq(t.read_buf, src, len);
	ck_assert_uint_eq(t.read_placed, len);
	ck_assert_uint_eq(t.next_datasn, sn);
	ck_assert_uint_eq(f.pdus->len, sn);
	for (uint32_t i = 0; i < sn; i++) {
		g = f.pdus->pdata[i];
		ck_assert(g->data_null);
		ck_assert_uint_eq(g->bhs[0], ISCSI_OP_DATA_IN);
		ck_assert_uint_eq(rd32(g->bhs + 36), i);
		ck_assert_uint_eq(g->dlen, MIN(mrdsl, len - i * mrdsl));
	}
	ck_assert_uint_eq(ops->stats_copied(f.c), 0);
	ops->buf_free(f.c, t.read_buf, len);
	fx_close(&f);
}

/*
 * (4a) The one read open: its Data-In is read with the BHS around it in
 * one call. Then the same with another PDU first (a NOP-In with data) and
 * with the Data-In split in two, where the guess is wrong and what landed
 * in the buffer is parsed again: the data still ends up right.
 */
enum predict_case { PREDICT_HIT, PREDICT_NOP_FIRST, PREDICT_SPLIT, PREDICT_SHORT };

static void predict(enum predict_case which)
{
	struct fx f;
	struct dm_task t = {.itt = 0x31, .read_len = 8192};
	uint8_t cmd[ISCSI_BHS_LEN] = {ISCSI_OP_SCSI_CMD, ISCSI_FLAG_FINAL | ISCSI_CMD_READ};
	uint8_t nop[ISCSI_BHS_LEN] = {ISCSI_OP_NOOP_IN, ISCSI_FLAG_FINAL};
	uint8_t bhs[ISCSI_BHS_LEN];
	g_autofree uint8_t *src = g_malloc(t.read_len);
	const uint8_t status = ISCSI_FLAG_FINAL | ISCSI_DATA_STATUS;
	unsigned want_pdus = 1;

	fx_open(&f, AF_INET, "127.0.0.1");
	set_params(&f, 65536, 8192, 65536, 1, false);
	t.read_buf = ops->buf_alloc(f.c, t.read_len);
	memset(t.read_buf, 0xee, t.read_len);
	fill_random(src, t.read_len, 11);
	f.tasks[2] = &t;
	wr32(cmd + 16, t.itt);
	ck_assert_int_eq(ops->send_command(f.c, cmd, &t), 0);
	pump_until(&f, ISCSI_BHS_LEN);
	if (which == PREDICT_NOP_FIRST) {
		target_send(&f, nop, "are you there", 13, false, false);
		want_pdus++;
	}
	if (which == PREDICT_SHORT) {
		/* 4002 of 8192 bytes (and 2 of padding), then a NOP-In behind. */
		make_data_in(bhs, t.itt, 0, 0, status | ISCSI_DATA_UNDERFLOW);
		wr32(bhs + 44, t.read_len - 4002);
		target_send(&f, bhs, src, 4002, false, false);
		target_send(&f, nop, "behind", 6, false, false);
		want_pdus++;
	} else if (which == PREDICT_SPLIT) {
		make_data_in(bhs, t.itt, 0, 0, 0);
		target_send(&f, bhs, src, 4096, false, false);
		make_data_in(bhs, t.itt, 1, 4096, status);
		target_send(&f, bhs, src + 4096, 4096, false, false);
		want_pdus++;
	} else {
		make_data_in(bhs, t.itt, 0, 0, status);
		target_send(&f, bhs, src, t.read_len, false, false);
	}
	pump_until(&f, 0);
	ck_assert_int_eq(f.nfailed, 0);
	ck_assert_uint_eq(f.pdus->len, want_pdus);
	if (which == PREDICT_SHORT) {
		struct got_pdu *g = f.pdus->pdata[1];

		ck_assert_mem_eq(t.read_buf, src, 4002);
		ck_assert_uint_eq(t.read_placed, 4002);
		ck_assert_uint_eq(g->bhs[0], ISCSI_OP_NOOP_IN);
		ck_assert_mem_eq(g->data->data, "behind", 6);
		ck_assert_uint_eq(dm_tcp_rx_calls(f.c), 1);
		ck_assert_uint_eq(ops->stats_copied(f.c), 0);
	} else {
		ck_assert_mem_eq(t.read_buf, src, t.read_len);
		ck_assert_uint_eq(t.read_placed, t.read_len);
	}
	if (which == PREDICT_NOP_FIRST) {
		struct got_pdu *g = f.pdus->pdata[0];

		ck_assert_uint_eq(g->bhs[0], ISCSI_OP_NOOP_IN);
		ck_assert_mem_eq(g->data->data, "are you there", 13);
	}
	if (which == PREDICT_HIT) {
		ck_assert_uint_eq(dm_tcp_rx_calls(f.c), 1);
		ck_assert_uint_eq(ops->stats_copied(f.c), 0);
	}
	/* The payload read behind an unasked PDU is copied, and counted. */
	if (which == PREDICT_NOP_FIRST)
		ck_assert_uint_gt(ops->stats_copied(f.c), 0);
	ops->forget_task(f.c, &t);
	ops->buf_free(f.c, t.read_buf, t.read_len);
	fx_close(&f);
}

START_TEST(test_predict_hit)
{
	predict(PREDICT_HIT);
}
END_TEST

START_TEST(test_predict_nop_first)
{
	predict(PREDICT_NOP_FIRST);
}
END_TEST

START_TEST(test_predict_split)
{
	predict(PREDICT_SPLIT);
}
END_TEST

START_TEST(test_predict_short)
{
	predict(PREDICT_SHORT);
}
END_TEST

/*
 * (4b) With only writes out, the responses are read in chunks: a burst of
 * them, with sense data and a NOP-In among them, all parsed; then a read
 * sent while part of a PDU is staged still gets its Data-In in place.
 */
START_TEST(test_staged_responses)
{
	struct fx f;
	struct dm_task w = {.itt = 5, .write_len = 512}, r = {.itt = 6, .read_len = 4096};
	uint8_t wcmd[ISCSI_BHS_LEN] = {ISCSI_OP_SCSI_CMD, ISCSI_FLAG_FINAL | ISCSI_CMD_WRITE};
	uint8_t rcmd[ISCSI_BHS_LEN] = {ISCSI_OP_SCSI_CMD, ISCSI_FLAG_FINAL | ISCSI_CMD_READ};
	uint8_t rsp[ISCSI_BHS_LEN] = {ISCSI_OP_SCSI_RSP, ISCSI_FLAG_FINAL};
	uint8_t nop[ISCSI_BHS_LEN] = {ISCSI_OP_NOOP_IN, ISCSI_FLAG_FINAL};
	uint8_t bhs[ISCSI_BHS_LEN];
	uint8_t wbuf[512] = {0}, src[4096];
	const unsigned burst = 200;

	fx_open(&f, AF_INET, "127.0.0.1");
	set_params(&f, 8192, 8192, 65536, 1, false);
	w.write_buf = wbuf;
	w.imm_len = w.unsol_len = 512;
	wr32(wcmd + 16, w.itt);
	f.tasks[1] = &w;
	ck_assert_int_eq(ops->send_command(f.c, wcmd, &w), 0);
	wr32(rsp + 16, w.itt);
	for (unsigned i = 0; i < burst; i++)
		target_send(&f, rsp, i == 7 ? "\x00\x04sens" : NULL, i == 7 ? 6 : 0, false, false);
	target_send(&f, nop, "ping", 4, false, false);
	/* Half of a Data-In header: the read is sent after it was staged. */
	r.read_buf = ops->buf_alloc(f.c, r.read_len);
	fill_random(src, sizeof(src), 3);
	make_data_in(bhs, r.itt, 0, 0, ISCSI_FLAG_FINAL | ISCSI_DATA_STATUS);
	iscsi_set_dlength(((struct iscsi_bhs *)bhs)->dlength, sizeof(src));
	g_byte_array_append(f.tout, bhs, 20);
	pump_until(&f, 0);
	ck_assert_int_eq(f.nfailed, 0);
	ck_assert_uint_eq(f.pdus->len, burst + 1);
	/* 9.7 KB of PDUs, read in one chunk (or a few), not a call each. */
	ck_assert_uint_le(dm_tcp_rx_calls(f.c), 4);
	ck_assert_uint_eq(((struct got_pdu *)f.pdus->pdata[7])->dlen, 6);
	ck_assert_mem_eq(((struct got_pdu *)f.pdus->pdata[7])->data->data, "\x00\x04sens", 6);
	ck_assert_uint_eq(((struct got_pdu *)f.pdus->pdata[burst])->bhs[0], ISCSI_OP_NOOP_IN);
	ck_assert_mem_eq(((struct got_pdu *)f.pdus->pdata[burst])->data->data, "ping", 4);
	wr32(rcmd + 16, r.itt);
	f.tasks[2] = &r;
	ck_assert_int_eq(ops->send_command(f.c, rcmd, &r), 0);
	g_byte_array_append(f.tout, bhs + 20, ISCSI_BHS_LEN - 20);
	g_byte_array_append(f.tout, src, sizeof(src));
	pump_until(&f, 0);
	ck_assert_int_eq(f.nfailed, 0);
	ck_assert_uint_eq(f.pdus->len, burst + 2);
	ck_assert_mem_eq(r.read_buf, src, sizeof(src));
	ck_assert_uint_eq(ops->stats_copied(f.c), 0);
	ops->forget_task(f.c, &r);
	ops->forget_task(f.c, &w);
	ops->buf_free(f.c, r.read_buf, r.read_len);
	fx_close(&f);
}
END_TEST

START_TEST(test_data_in_plain)
{
	data_in(false, 8192, 3 * 8192 + 101);
}
END_TEST

START_TEST(test_data_in_digests)
{
	data_in(true, 8192, 3 * 8192 + 101);
}
END_TEST

START_TEST(test_data_in_1mib)
{
	data_in(false, 262144, 1 << 20);
	data_in(true, 262144, 1 << 20);
}
END_TEST

/* (5) Malformed or unexpected input fails the connection with a clear reason. */
static void expect_failure(struct fx *f, const char *msg)
{
	uint8_t nop[ISCSI_BHS_LEN] = {ISCSI_OP_NOOP_OUT | ISCSI_OP_IMMEDIATE, ISCSI_FLAG_FINAL};

	pump_until_failed(f);
	ck_assert_str_eq(f->fail_msg, msg);
	for (int i = 0; i < 3; i++)
		pump_once(f);
	ck_assert_int_eq(f->nfailed, 1);
	ck_assert_int_eq(ops->service(f->c, POLLIN), -1);
	ck_assert_uint_eq(ops->which_events(f->c), 0);
	ck_assert_int_eq(ops->send_pdu(f->c, nop, NULL, 0), -1);
}

START_TEST(test_fail_unknown_itt)
{
	struct fx f;
	uint8_t bhs[ISCSI_BHS_LEN];

	fx_open(&f, AF_INET, "127.0.0.1");
	make_data_in(bhs, 0x99, 0, 0, 0);
	target_send(&f, bhs, "data", 4, false, false);
	expect_failure(&f, "Data-In for ITT 0x00000099 we never issued");
	fx_close(&f);
}
END_TEST

START_TEST(test_fail_past_end)
{
	struct fx f;
	struct dm_task t = {.itt = 1, .read_len = 8192};
	g_autofree uint8_t *buf = g_malloc(8192);
	g_autofree uint8_t *src = g_malloc0(8192);
	uint8_t bhs[ISCSI_BHS_LEN];

	fx_open(&f, AF_INET, "127.0.0.1");
	t.read_buf = buf;
	f.tasks[0] = &t;
	make_data_in(bhs, 1, 0, 4096, 0);
	target_send(&f, bhs, src, 8192, false, false);
	expect_failure(&f, "Data-In past the end of the buffer: offset 4096 + 8192 > 8192");
	ck_assert_uint_eq(t.read_placed, 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_fail_datasn_gap)
{
	struct fx f;
	struct dm_task t = {.itt = 1, .read_len = 8192};
	g_autofree uint8_t *buf = g_malloc(8192);
	uint8_t bhs[ISCSI_BHS_LEN];

	fx_open(&f, AF_INET, "127.0.0.1");
	t.read_buf = buf;
	f.tasks[0] = &t;
	make_data_in(bhs, 1, 0, 0, 0);
	target_send(&f, bhs, "abcd", 4, false, false);
	make_data_in(bhs, 1, 2, 4, 0);
	target_send(&f, bhs, "efgh", 4, false, false);
	expect_failure(&f, "Data-In for ITT 0x00000001 has DataSN 2, expected 1");
	ck_assert_mem_eq(buf, "abcd", 4);
	ck_assert_uint_eq(f.pdus->len, 1);
	fx_close(&f);
}
END_TEST

START_TEST(test_fail_dsl_over_limit)
{
	struct fx f;
	struct dm_task t = {.itt = 1, .read_len = 65536};
	g_autofree uint8_t *buf = g_malloc(65536);
	g_autofree uint8_t *src = g_malloc0(16384);
	uint8_t bhs[ISCSI_BHS_LEN];

	fx_open(&f, AF_INET, "127.0.0.1");
	t.read_buf = buf;
	f.tasks[0] = &t;
	set_params(&f, 8192, 8192, 65536, 1, false);
	make_data_in(bhs, 1, 0, 0, 0);
	target_send(&f, bhs, src, 8196, false, false);
	expect_failure(&f, "Data-In with a 8196-byte data segment exceeds "
			   "MaxRecvDataSegmentLength 8192");
	fx_close(&f);
}
END_TEST

START_TEST(test_fail_login_dsl)
{
	struct fx f;
	uint8_t bhs[ISCSI_BHS_LEN] = {ISCSI_OP_LOGIN_RSP};
	g_autofree uint8_t *src = g_malloc0(9000);

	fx_open(&f, AF_INET, "127.0.0.1");
	target_send(&f, bhs, src, 9000, false, false);
	expect_failure(&f, "Login Response with a 9000-byte data segment exceeds "
			   "MaxRecvDataSegmentLength 8192");
	fx_close(&f);
}
END_TEST

START_TEST(test_fail_header_digest)
{
	struct fx f;
	struct dm_task t = {.itt = 1, .read_len = 8192};
	g_autofree uint8_t *buf = g_malloc(8192);
	uint8_t bhs[ISCSI_BHS_LEN];

	fx_open(&f, AF_INET, "127.0.0.1");
	t.read_buf = buf;
	f.tasks[0] = &t;
	set_params(&f, 8192, 8192, 65536, 1, true);
	make_data_in(bhs, 1, 0, 0, 0);
	target_send(&f, bhs, "abcd", 4, true, true);
	f.tout->data[ISCSI_BHS_LEN] ^= 1;
	expect_failure(&f, "header digest mismatch on Data-In");
	ck_assert_uint_eq(f.pdus->len, 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_fail_data_digest)
{
	struct fx f;
	struct dm_task t = {.itt = 1, .read_len = 8192};
	g_autofree uint8_t *buf = g_malloc(8192);
	uint8_t bhs[ISCSI_BHS_LEN];

	fx_open(&f, AF_INET, "127.0.0.1");
	t.read_buf = buf;
	f.tasks[0] = &t;
	set_params(&f, 8192, 8192, 65536, 1, true);
	make_data_in(bhs, 1, 0, 0, 0);
	target_send(&f, bhs, "abcdef", 6, true, true);
	f.tout->data[f.tout->len - 1] ^= 0x80;
	expect_failure(&f, "data digest mismatch on Data-In");
	ck_assert_uint_eq(f.pdus->len, 0);
	fx_close(&f);
}
END_TEST

START_TEST(test_fail_r2t)
{
	struct fx f;
	struct dm_task t = {.itt = 5, .write_len = 4096};
	g_autofree uint8_t *wbuf = g_malloc0(4096);
	uint8_t bhs[ISCSI_BHS_LEN];

	fx_open(&f, AF_INET, "127.0.0.1");
	t.write_buf = wbuf;
	f.tasks[0] = &t;
	make_r2t(bhs, 5, 1, 0, 2048, 4096);
	target_send(&f, bhs, NULL, 0, false, false);
	expect_failure(&f, "R2T past the end of the buffer: offset 2048 + 4096 > 4096");
	fx_close(&f);

	fx_open(&f, AF_INET, "127.0.0.1");
	f.tasks[0] = &t;
	make_r2t(bhs, 6, 1, 0, 0, 4096);
	target_send(&f, bhs, NULL, 0, false, false);
	expect_failure(&f, "R2T for ITT 0x00000006 we never issued");
	fx_close(&f);
}
END_TEST

START_TEST(test_fail_closed)
{
	struct fx f;

	fx_open(&f, AF_INET, "127.0.0.1");
	g_byte_array_append(f.tout, (const uint8_t *)"\x21\x80", 2);
	pump_until(&f, 0);
	close(f.tfd);
	f.tfd = -1;
	expect_failure(&f, "connection closed by target");
	fx_close(&f);
}
END_TEST

/* forget_task() drops queued Data-Out but finishes a half-written PDU. */
START_TEST(test_forget_task)
{
	struct fx f;
	uint32_t len = 8 << 20;
	struct dm_task t = {.itt = 3, .write_len = len, .unsol_len = len};
	uint8_t cmd[ISCSI_BHS_LEN] = {ISCSI_OP_SCSI_CMD, ISCSI_CMD_WRITE};
	uint8_t *wbuf = g_malloc0(len);
	const uint8_t *h, *data;
	uint32_t dlen, nout = 0;
	size_t off = 0;

	fx_open(&f, AF_INET, "127.0.0.1");
	set_params(&f, 8192, 65536, len, 1, false);
	t.write_buf = wbuf;
	ck_assert_int_eq(ops->send_command(f.c, cmd, &t), 0);
	ck_assert_uint_gt(t.queued, 0);
	ops->forget_task(f.c, &t);
	ck_assert_uint_eq(t.queued, 0);
	/* The buffer is gone: nothing may read it any more. */
	g_free(wbuf);
	pump_until(&f, 0);
	ck_assert_int_eq(f.nfailed, 0);
	while (off < f.tin->len) {
		h = take_pdu(&f, &off, false, false, &data, &dlen);
		ck_assert_uint_eq(h[0], nout ? ISCSI_OP_DATA_OUT : ISCSI_OP_SCSI_CMD);
		nout++;
	}
	ck_assert_uint_eq(off, f.tin->len);
	ck_assert_uint_lt(nout, len / 65536 + 1);
	/* At most the unsent rest of one PDU was copied. */
	ck_assert_uint_le(ops->stats_copied(f.c), 65536);
	fx_close(&f);
}
END_TEST

/* A task forgotten while its Data-In payload arrives: the rest is discarded. */
START_TEST(test_forget_during_data_in)
{
	struct fx f;
	struct dm_task t = {.itt = 4, .read_len = 8192};
	uint8_t bhs[ISCSI_BHS_LEN];
	uint8_t nop[ISCSI_BHS_LEN] = {ISCSI_OP_NOOP_IN, ISCSI_FLAG_FINAL};
	g_autofree uint8_t *src = g_malloc(8192);
	struct got_pdu *g;

	fx_open(&f, AF_INET, "127.0.0.1");
	set_params(&f, 8192, 8192, 65536, 1, true);
	fill_random(src, 8192, 4);
	t.read_buf = g_malloc(8192);
	f.tasks[0] = &t;
	make_data_in(bhs, t.itt, 0, 0, ISCSI_FLAG_FINAL);
	target_send(&f, bhs, src, 8192, true, true);
	g_byte_array_set_size(f.tout, ISCSI_BHS_LEN + 4 + 3000);
	pump_until(&f, 0);
	ck_assert_mem_eq(t.read_buf, src, 3000 - 48);
	ops->forget_task(f.c, &t);
	f.tasks[0] = NULL;
	g_free(t.read_buf);
	g_byte_array_set_size(f.tout, 0);
	f.tout_off = 0;
	target_send(&f, bhs, src, 8192, true, true);
	g_byte_array_remove_range(f.tout, 0, ISCSI_BHS_LEN + 4 + 3000);
	target_send(&f, nop, "x", 1, true, true);
	pump_until(&f, 0);
	ck_assert_int_eq(f.nfailed, 0);
	ck_assert_uint_eq(f.pdus->len, 1);
	g = f.pdus->pdata[0];
	ck_assert_uint_eq(g->bhs[0], ISCSI_OP_NOOP_IN);
	ck_assert_mem_eq(g->data->data, "x", 1);
	fx_close(&f);
}
END_TEST

/* (6) A closed port is refused, with the address in the message. */
START_TEST(test_connect_refused)
{
	g_autoptr(GError) err = NULL;
	struct fx f = {0};
	struct dm_conn *c;
	g_autofree char *want = NULL;
	uint16_t port;
	int fd = listen_loopback(AF_INET, &port);

	ck_assert_int_ge(fd, 0);
	close(fd);
	f.up =
	    (struct dm_upcalls){&f, up_find_task, up_exp_statsn, up_pdu, up_failed, up_connected};
	c = ops->create(&f.up);
	/* Refused after the connect started: failed(), with every address's reason. */
	ck_assert_int_eq(fx_connect(&f, c, "127.0.0.1", port, &err), -1);
	ck_assert_ptr_null(err);
	want = g_strdup_printf("connect to 127.0.0.1:%u: Connection refused", port);
	ck_assert_str_eq(f.fail_msg, want);
	ck_assert_int_eq(f.nfailed, 1);
	ops->destroy(c);
	g_free(f.fail_msg);
}
END_TEST

/* (7) IPv6 loopback literal. */
START_TEST(test_ipv6)
{
	struct fx f;
	uint8_t bhs[ISCSI_BHS_LEN] = {ISCSI_OP_NOOP_OUT | ISCSI_OP_IMMEDIATE, ISCSI_FLAG_FINAL};

	if (!fx_open(&f, AF_INET6, "::1")) {
		fprintf(stderr, "test_ipv6: no IPv6 loopback, skipped\n");
		return;
	}
	ck_assert_int_eq(ops->send_pdu(f.c, bhs, "ping", 4), 0);
	pump_until(&f, ISCSI_BHS_LEN + 4);
	ck_assert_mem_eq(f.tin->data + ISCSI_BHS_LEN, "ping", 4);
	fx_close(&f);
}
END_TEST

START_TEST(test_localhost_name)
{
	struct fx f;
	uint8_t bhs[ISCSI_BHS_LEN] = {ISCSI_OP_NOOP_OUT | ISCSI_OP_IMMEDIATE, ISCSI_FLAG_FINAL};

	fx_open(&f, AF_INET, "localhost");
	ck_assert_int_eq(ops->send_pdu(f.c, bhs, NULL, 0), 0);
	pump_until(&f, ISCSI_BHS_LEN);
	ck_assert_mem_eq(f.tin->data, bhs, ISCSI_BHS_LEN);
	fx_close(&f);
}
END_TEST

static Suite *tcp_suite(void)
{
	Suite *s = suite_create("datamover-tcp");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_control_pdu_plain);
	tcase_add_test(tc, test_control_pdu_digests);
	tcase_add_test(tc, test_header_digest_vector);
	tcase_add_test(tc, test_control_rx_plain);
	tcase_add_test(tc, test_control_rx_digests);
	tcase_add_test(tc, test_ahs_rx);
	tcase_add_test(tc, test_write_unsolicited);
	tcase_add_test(tc, test_r2t);
	tcase_add_test(tc, test_data_in_plain);
	tcase_add_test(tc, test_data_in_digests);
	tcase_add_test(tc, test_data_in_1mib);
	tcase_add_test(tc, test_staged_responses);
	tcase_add_test(tc, test_predict_hit);
	tcase_add_test(tc, test_predict_nop_first);
	tcase_add_test(tc, test_predict_split);
	tcase_add_test(tc, test_predict_short);
	tcase_add_test(tc, test_fail_unknown_itt);
	tcase_add_test(tc, test_fail_past_end);
	tcase_add_test(tc, test_fail_datasn_gap);
	tcase_add_test(tc, test_fail_dsl_over_limit);
	tcase_add_test(tc, test_fail_login_dsl);
	tcase_add_test(tc, test_fail_header_digest);
	tcase_add_test(tc, test_fail_data_digest);
	tcase_add_test(tc, test_fail_r2t);
	tcase_add_test(tc, test_fail_closed);
	tcase_add_test(tc, test_forget_task);
	tcase_add_test(tc, test_forget_during_data_in);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_ipv6);
	tcase_add_test(tc, test_localhost_name);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tcp_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
