// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * evil-target: a scripted hostile iSCSI target for the tests.
 *
 *   evil-target --misbehave MODE [--iqn IQN] [--persistent]
 *               [--block-size N] [--blocks N] [--limits SPEC] [--resize-to N]
 *               [--not-ready N]
 *
 * It listens on 127.0.0.1 on a port of the kernel's choice, prints that port
 * on stdout, serves one connection and exits; with --persistent it serves
 * connection after connection, misbehaving on each as a broken target does
 * whenever the initiator logs in again, until SIGTERM. Until its trigger it is a
 * correct target: a login without authentication, then a 4 MiB in-memory
 * disk (TEST UNIT READY, INQUIRY with VPD page 0x00 only, READ CAPACITY,
 * MODE SENSE, REPORT LUNS, READ, WRITE through R2T) or SendTargets in a
 * discovery session. Then it breaks the protocol the one way MODE says
 * (--list shows them all) and watches what the initiator does next.
 *
 * With --limits (and --misbehave none) it is a target with odd limits
 * instead: a Block Limits VPD page declaring SPEC's small numbers (see
 * parse_limits), a Logical Block Provisioning page with UNMAP and WRITE
 * SAME with UNMAP (unless SPEC says nows: then WRITE SAME is refused as an
 * unknown opcode), thin provisioning with zeroes read back from what was
 * unmapped, and every UNMAP and WRITE SAME checked against what it
 * declared: a command past a limit, or an UNMAP descriptor that does not
 * cover whole granules, is a violation. --block-size and --blocks shape
 * the disk; --resize-to N makes SIGUSR1 change its size to N blocks, the
 * next SCSI command then meeting UNIT ATTENTION CAPACITY DATA HAS CHANGED.
 * --not-ready N answers the first N READs and WRITEs (over all connections;
 * -1: every one) with NOT READY, ASYMMETRIC ACCESS STATE TRANSITION, as
 * LIO does while an ALUA group changes state.
 *
 * Every PDU it receives is checked and logged on stderr, so a test can see
 * what reached the target. Exit status: 0 the initiator behaved (it hung up,
 * or carried on correctly), 1 it did something it must not (answered a bad
 * R2T with data, sent a wrong NOP-Out, broke the framing; over iSER: let a
 * hostile RDMA access land), 2 usage or setup error (the trigger never
 * came, a hostile access could not even be attempted), 3 it neither hung
 * up nor went on within EVIL_WAIT_MS.
 *
 *   evil-target --iser ADDR --misbehave MODE [--persistent]
 *               [--strike-lba N] [--send-ring-from FILE] [...]
 *
 * With --iser it serves iSER (RFC 7145) instead, over rdma_cm on ADDR (an
 * address of an RDMA device, soft-RoCE in the VM tests), printing the port
 * of the kernel's choice: login over RDMA Sends, then the same disk, read
 * data RDMA-Written to the read STag and address of each command's iSER
 * header, write data RDMA-Read from its write STag and address (tests/
 * evil-iser.c is the transport). It serves connection after connection
 * until SIGTERM, since the initiator must be able to recover, and its modes
 * attack the initiator's memory once, on the READ (or WRITE) starting at
 * LBA N (--strike-lba, 4096), then behave; with --persistent on that
 * command of every connection:
 *
 *   stale-stag           after the READ was answered, RDMA-Write its
 *                        STag and address just before serving the next
 *                        READ or WRITE
 *   past-length          RDMA-Write the READ's length + 4096 bytes to its
 *                        buffer
 *   send-ring            RDMA-Write 4096 bytes to the initiator's send
 *                        ring with the READ's STag; the address is the last
 *                        "iSER: send ring at 0x..." line of FILE (the
 *                        initiator's -v log)
 *   read-after-response  after the WRITE was answered, RDMA-Read its
 *                        buffer with its STag just before serving the next
 *                        READ or WRITE
 *
 * Each hostile access logs one line: "evil-target: hostile MODE: landed
 * (N bytes)" (read-after-response: "landed (N bytes, the write's data)" or
 * "landed (N bytes, not the write's data: M of them equal)"; a freed buffer
 * may have had its first bytes reused), "evil-target: hostile MODE:
 * refused (STATUS)" with ibv_wc_status_str() of the completion when the
 * initiator's side refused it (the QP then fails; the next connection is
 * served), or "evil-target: hostile MODE: not sent (WHY)". Written bytes
 * are 0xe5; past-length writes the READ's real data first. --wrong-stag
 * flips the low byte of every STag a hostile access uses, so that even an
 * initiator that confines nothing refuses it: the tests check their own
 * recovery path with it.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>
#include <infiniband/verbs.h>

#include "common/iscsi-proto.h"
#include "datamover/crc32c.h"
#include "datamover/iser-proto.h"
#include "tests/evil-iser.h"

/* The MaxRecvDataSegmentLength we declare, in login and after. */
#define EVIL_MRDSL	 8192u
#define EVIL_MAX_BURST	 262144u
#define EVIL_FIRST_BURST 65536u
#define EVIL_BLOCK	 512u
#define EVIL_BLOCKS	 8192u
#define EVIL_TSIH	 0x0e71
#define EVIL_WINDOW	 32u
/* How long the initiator may stay silent before we call it stuck. */
#define EVIL_WAIT_MS 30000
/* A hang guard for the whole run, whatever the initiator does. */
#define EVIL_LIFETIME_S 120
/* Rounds of an endless exchange before we give up on the initiator. */
#define EVIL_ENDLESS_ROUNDS 100000u
#define EVIL_PINGS	    100u
#define EVIL_REJECTS	    200u
/* What a hostile RDMA Write puts into the initiator's memory. */
#define EVIL_ISER_BYTE 0xe5
/* How far past-length writes beyond a READ, and send-ring into the ring. */
#define EVIL_ISER_PAST 4096u

#define EXIT_BEHAVED   0
#define EXIT_VIOLATION 1
#define EXIT_SETUP     2
#define EXIT_STUCK     3

/**
 * struct disk - the LUN every connection serves (--block-size, --blocks).
 * @data: its bytes, room for the larger of @blocks and @resize_to
 * @limits: serve the Block Limits and Logical Block Provisioning pages
 * @ws_max, @unmap_max, @desc_max, @gran, @align: what they declare
 * @no_ws: WRITE SAME is refused as an unknown opcode
 * @resize_to: the size SIGUSR1 gives it, 0 for none
 * @resize_armed: SIGUSR1 came; @ua_pending: the next command gets the UA
 */
struct disk {
	uint8_t *data;
	uint32_t block;
	uint64_t blocks;
	uint8_t phys_exp;
	bool limits;
	uint32_t ws_max;
	uint32_t unmap_max;
	uint32_t desc_max;
	uint32_t gran;
	uint32_t align;
	bool no_ws;
	uint64_t resize_to;
	volatile sig_atomic_t resize_armed;
	bool ua_pending;
	int64_t not_ready;
};

static struct disk disk = {.block = 512, .blocks = 8192};

#define SCSI_GOOD	      0x00
#define SCSI_CHECK_CONDITION  0x02
#define SENSE_ILLEGAL_REQUEST 0x05

/* Flags of send_pdu(). */
#define TX_BAD_HDIGEST 0x1
#define TX_BAD_DDIGEST 0x2

/* What recv_pdu() returns. */
enum rx_result {
	RX_TIMEOUT = -2,
	RX_ERROR = -1,
	RX_EOF = 0,
	RX_OK = 1,
};

/**
 * struct pdu - one PDU received from the initiator.
 * @bhs: its Basic Header Segment
 * @ahs_len: bytes of AHS (skipped; initiators send none but for long CDBs)
 * @dlen: DataSegmentLength
 * @data: the data segment, @dlen bytes (never more than EVIL_MRDSL)
 * @ih: over iSER, the iSER header it came with
 */
struct pdu {
	struct iser_hdr ih;
	uint8_t bhs[ISCSI_BHS_LEN];
	uint32_t ahs_len;
	uint32_t dlen;
	uint8_t data[EVIL_MRDSL];
};

struct target;

/* When a mode strikes. */
enum trigger {
	ON_READ,  /* first READ: the Data-In modes */
	ON_WRITE, /* first WRITE: the R2T modes */
	ON_IO,	  /* first READ or WRITE */
	ON_LOGIN, /* first Login Request */
	ON_TEXT,  /* first Text Request of a discovery session */
	ON_CMD,	  /* first SCSI Command of any kind: the initiator's probe */
};

/**
 * struct mode - one way of breaking the protocol.
 * @name: the --misbehave value
 * @trigger: when it strikes
 * @digest: needs header and data digests negotiated (isa-io --digest)
 * @fn: does it; @p is the triggering PDU. Sets t->misbehaved when the
 *	connection is past saving; otherwise normal service resumes.
 * @help: one line for --list
 */
struct mode {
	const char *name;
	enum trigger trigger;
	bool digest;
	void (*fn)(struct target *t, const struct pdu *p);
	const char *help;
};

/**
 * struct target - the one connection we serve and what we saw on it.
 * @mode: the misbehaviour, or NULL for a correct target
 * @hdigest, @ddigest: CRC32C digests in force (full feature phase only)
 * @want_hdigest, @want_ddigest: agreed in login, in force after it
 * @statsn: StatSN of our next status-bearing PDU
 * @exp_cmdsn: CmdSN we expect of the next non-immediate command
 * @init_mrdsl: the initiator's MaxRecvDataSegmentLength, bounds our PDUs
 * @max_burst: MaxBurstLength in force, bounds our R2Ts
 * @struck: the mode's trigger has fired, at @struck_us (monotonic)
 * @misbehaved: we broke the protocol; from now on we only watch
 * @bad_ttt: TTT of a bad R2T we sent, that no Data-Out may answer
 * @next_ttt: TTT of our next R2T or NOP-In ping
 * @pings_sent, @pings_answered: NOP-In pings and their NOP-Out replies
 * @ping_ttt: TTT of the first ping; replies must come in order
 * @ping_lun: LUN field the pings carried, echoed in the replies
 * @mute: answer nothing any more, NOP-Out pings included
 * @nop_outs_ignored: NOP-Out pings of the initiator we left unanswered
 * @backlog: SCSI Commands that arrived while a write waited for its data
 * @violations: things the initiator did wrong
 * @swallow: the command that triggered the mode gets no answer
 * @stalled: a command is left unanswered: @stalled_itt, @stalled_cmdsn
 * @abort_answer, @reset_answer: TMF Response to ABORT TASK and LUN RESET,
 *	or TMF_IGNORE to leave the request unanswered, TMF_UNEXPECTED when the
 *	initiator has no business sending it
 * @aborts_seen, @resets_seen: ABORT TASK and LUN RESET requests received
 * @late_data: late-write: the data of the WRITE held, of @late_blocks at
 *	@late_lba (ITT @late_itt), written and answered once @late_after
 *	more WRITEs to its blocks have been; NULL when none is held
 * @lun: the disk
 * @iser: the iSER connection, or NULL on TCP (@fd)
 * @iser_mode: @mode is one of the iSER modes
 * @wrong_stag: hostile accesses use a key the initiator never advertised
 * @strike_lba: the LBA of the command an iSER mode strikes on
 * @ring_file: the initiator's log, where send-ring finds the send ring
 * @later: an iSER mode's access waits for the next SCSI Command: with the
 *	@later_write (read) STag @later_stag at @later_va, @later_len bytes,
 *	of the command at @later_lba
 * @unsent: an iSER mode could not even attempt its access
 */
struct target {
	int fd;
	struct evil_iser *iser;
	bool iser_mode;
	bool wrong_stag;
	uint64_t strike_lba;
	const char *ring_file;
	bool later;
	bool later_write;
	uint32_t later_stag;
	uint64_t later_va;
	uint32_t later_len;
	uint64_t later_lba;
	uint32_t later_wait;
	uint32_t later_after;
	bool unsent;
	const struct mode *mode;
	const char *iqn;
	uint16_t port;
	bool discovery;
	bool hdigest;
	bool ddigest;
	bool want_hdigest;
	bool want_ddigest;
	uint32_t statsn;
	uint32_t exp_cmdsn;
	uint32_t init_mrdsl;
	uint32_t max_burst;
	bool struck;
	gint64 struck_us;
	bool misbehaved;
	bool bad_ttt_set;
	uint32_t bad_ttt;
	uint32_t next_ttt;
	unsigned int pings_sent;
	unsigned int pings_answered;
	uint32_t ping_ttt;
	uint8_t ping_lun[8];
	bool mute;
	unsigned int nop_outs_ignored;
	GQueue backlog;
	unsigned int violations;
	bool swallow;
	bool stalled;
	uint32_t stalled_itt;
	uint32_t stalled_cmdsn;
	uint8_t stalled_lun[8];
	int abort_answer;
	int reset_answer;
	unsigned int aborts_seen;
	unsigned int resets_seen;
	uint8_t *lun;
	uint8_t *late_data;
	uint64_t late_lba;
	uint32_t late_blocks;
	uint32_t late_itt;
	unsigned int late_after;
};

static void G_GNUC_PRINTF(1, 2) note(const char *fmt, ...)
{
	va_list ap;

	fputs("evil-target: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The initiator did something it must not: remember it for the exit status. */
static void G_GNUC_PRINTF(2, 3) violation(struct target *t, const char *fmt, ...)
{
	va_list ap;

	t->violations++;
	fputs("evil-target: VIOLATION: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint32_t pdu_itt(const struct pdu *p)
{
	return get_be32(p->bhs + 16);
}

static uint8_t pdu_op(const struct pdu *p)
{
	return p->bhs[0] & ISCSI_OPCODE_MASK;
}

/*
 * Read @len bytes by @deadline (monotonic us). Returns RX_OK, RX_EOF when
 * the peer closed before the first byte, RX_ERROR (a close after it, or an
 * error) or RX_TIMEOUT.
 */
static int read_full(int fd, void *buf, size_t len, gint64 deadline)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		gint64 left = deadline - g_get_monotonic_time();
		ssize_t n;

		if (left <= 0)
			return RX_TIMEOUT;
		n = poll(&pfd, 1, (int)(left / 1000 + 1));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return RX_ERROR;
		if (n == 0)
			continue;
		n = read(fd, (uint8_t *)buf + got, len - got);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return got ? RX_ERROR : RX_EOF;
		if (n == 0)
			return got ? RX_ERROR : RX_EOF;
		got += (size_t)n;
	}
	return RX_OK;
}

/* Write all of @buf; -1 once the initiator is gone or stops reading. */
static int write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		ssize_t n;

		n = poll(&pfd, 1, EVIL_WAIT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		n = send(fd, (const uint8_t *)buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/*
 * Frame and send one PDU: DataSegmentLength, padding and the digests in
 * force are filled in here; @flags spoils a digest on purpose.
 */
static int send_pdu_ahs(struct target *t, const void *bhs, const uint8_t *ahs, uint32_t ahs_len,
			const void *data, uint32_t dlen, unsigned int flags)
{
	uint32_t hd = t->hdigest ? ISCSI_DIGEST_LEN : 0, dd = t->ddigest && dlen ? 4 : 0;
	size_t hlen = ISCSI_BHS_LEN + ahs_len, total = hlen + hd + ISCSI_PAD(dlen) + dd;
	g_autofree uint8_t *buf = g_malloc0(total);

	memcpy(buf, bhs, ISCSI_BHS_LEN);
	iscsi_set_dlength(((struct iscsi_bhs *)(void *)buf)->dlength, dlen);
	if (ahs_len)
		memcpy(buf + ISCSI_BHS_LEN, ahs, ahs_len);
	if (hd)
		put_le32(buf + hlen, crc32c(0, buf, hlen) ^ (flags & TX_BAD_HDIGEST ? 1u : 0u));
	if (dlen)
		memcpy(buf + hlen + hd, data, dlen);
	if (dd)
		put_le32(buf + hlen + hd + ISCSI_PAD(dlen),
			 crc32c(0, buf + hlen + hd, ISCSI_PAD(dlen)) ^
			     (flags & TX_BAD_DDIGEST ? 1u : 0u));
	if (t->iser)
		return evil_iser_send(t->iser, buf, (uint32_t)total, EVIL_WAIT_MS);
	return write_full(t->fd, buf, total);
}

static int send_pdu(struct target *t, const void *bhs, const void *data, uint32_t dlen)
{
	return send_pdu_ahs(t, bhs, NULL, 0, data, dlen, 0);
}

/* recv_pdu() over iSER: one Send message, its iSER header kept in @p->ih. */
static int iser_recv_pdu(struct target *t, struct pdu *p, int timeout_ms)
{
	static uint8_t msg[EVIL_ISER_RX_SIZE];
	uint32_t len;
	int rc = evil_iser_recv(t->iser, msg, sizeof(msg), &len, timeout_ms);

	if (rc != EVIL_ISER_OK)
		return rc;
	if (len < ISER_HDRS_LEN) {
		violation(t, "iSER message of %u bytes, shorter than its headers", len);
		return RX_ERROR;
	}
	memcpy(&p->ih, msg, sizeof(p->ih));
	memcpy(p->bhs, msg + sizeof(p->ih), ISCSI_BHS_LEN);
	if ((p->ih.flags & ISER_TYPE_MASK) != ISER_TYPE_CONTROL) {
		violation(t, "iSER message of type 0x%02x, not an iSCSI control PDU",
			  p->ih.flags & ISER_TYPE_MASK);
		return RX_ERROR;
	}
	p->ahs_len = p->bhs[4] * 4u;
	p->dlen = iscsi_dlength(p->bhs + 5);
	if (p->dlen > EVIL_MRDSL) {
		violation(t, "opcode 0x%02x with DataSegmentLength %u over our %u", pdu_op(p),
			  p->dlen, EVIL_MRDSL);
		return RX_ERROR;
	}
	if (p->ahs_len + p->dlen > len - ISER_HDRS_LEN) {
		violation(t, "opcode 0x%02x longer than the %u-byte iSER message carrying it",
			  pdu_op(p), len);
		return RX_ERROR;
	}
	memcpy(p->data, msg + ISER_HDRS_LEN + p->ahs_len, p->dlen);
	return RX_OK;
}

/*
 * Receive one PDU, checking its framing against what was negotiated. A
 * framing error of the initiator is a violation and ends the connection.
 */
static int recv_pdu(struct target *t, struct pdu *p, int timeout_ms)
{
	gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	uint8_t ahs[255 * 4], trailer[3 + ISCSI_DIGEST_LEN], digest[ISCSI_DIGEST_LEN];
	uint32_t pad;
	int rc;

	if (t->iser)
		return iser_recv_pdu(t, p, timeout_ms);
	rc = read_full(t->fd, p->bhs, ISCSI_BHS_LEN, deadline);
	if (rc != RX_OK)
		return rc;
	p->ahs_len = p->bhs[4] * 4u;
	p->dlen = iscsi_dlength(p->bhs + 5);
	if (p->ahs_len && read_full(t->fd, ahs, p->ahs_len, deadline) != RX_OK)
		return RX_ERROR;
	if (t->hdigest) {
		uint32_t crc = crc32c(crc32c(0, p->bhs, ISCSI_BHS_LEN), ahs, p->ahs_len);

		if (read_full(t->fd, digest, sizeof(digest), deadline) != RX_OK)
			return RX_ERROR;
		if (crc != get_le32(digest)) {
			violation(t, "header digest mismatch on opcode 0x%02x", pdu_op(p));
			return RX_ERROR;
		}
	}
	if (p->dlen > EVIL_MRDSL) {
		violation(t, "opcode 0x%02x with DataSegmentLength %u over our %u", pdu_op(p),
			  p->dlen, EVIL_MRDSL);
		return RX_ERROR;
	}
	if (!p->dlen)
		return RX_OK;
	pad = ISCSI_PAD(p->dlen) - p->dlen;
	if (read_full(t->fd, p->data, p->dlen, deadline) != RX_OK ||
	    read_full(t->fd, trailer, pad + (t->ddigest ? 4 : 0), deadline) != RX_OK)
		return RX_ERROR;
	if (t->ddigest &&
	    crc32c(crc32c(0, p->data, p->dlen), trailer, pad) != get_le32(trailer + pad)) {
		violation(t, "data digest mismatch on opcode 0x%02x", pdu_op(p));
		return RX_ERROR;
	}
	return RX_OK;
}

/* Fill StatSN, ExpCmdSN and MaxCmdSN, at the same place in every PDU we send. */
static void set_sn(struct target *t, void *bhs, bool advance)
{
	uint8_t *b = bhs;

	put_be32(b + 24, advance ? t->statsn++ : t->statsn);
	put_be32(b + 28, t->exp_cmdsn);
	put_be32(b + 32, t->exp_cmdsn + EVIL_WINDOW - 1);
}

/* The mode's moment has come: @p is the PDU that triggered it. */
static void strike(struct target *t, const struct pdu *p)
{
	t->struck = true;
	t->struck_us = g_get_monotonic_time();
	if (t->mode->digest && !(t->hdigest && t->ddigest)) {
		note("%s needs digests: run the initiator with --digest", t->mode->name);
		shutdown(t->fd, SHUT_RDWR);
		t->misbehaved = true;
		return;
	}
	note("misbehaving: %s", t->mode->name);
	t->mode->fn(t, p);
}

/* --- login --- */

/* The value of @key in NUL-separated key=value @text, or NULL. */
static const char *text_get(const uint8_t *text, size_t len, const char *key)
{
	size_t klen = strlen(key), off = 0;

	while (off < len) {
		const char *kv = (const char *)text + off;
		size_t n = strnlen(kv, len - off);

		if (n > klen && kv[klen] == '=' && !memcmp(kv, key, klen) && off + n < len)
			return kv + klen + 1;
		off += n + 1;
	}
	return NULL;
}

static void text_add(GByteArray *out, const char *key, const char *value)
{
	g_autofree char *kv = g_strdup_printf("%s=%s", key, value);

	g_byte_array_append(out, (const uint8_t *)kv, (guint)strlen(kv) + 1);
}

static bool list_has(const char *list, const char *v)
{
	g_auto(GStrv) items = g_strsplit(list, ",", -1);

	return g_strv_contains((const char *const *)items, v);
}

/* Answer one key the initiator offered, as a plain correct target would. */
static void answer_key(struct target *t, const char *key, const char *value, GByteArray *out)
{
	static const char *const silent[] = {"InitiatorName", "InitiatorAlias", "SessionType",
					     "TargetName", NULL};
	guint64 v = g_ascii_strtoull(value, NULL, 10);
	g_autofree char *num = NULL;

	if (g_strv_contains(silent, key))
		return;
	if (!strcmp(key, "AuthMethod")) {
		text_add(out, key, list_has(value, "None") ? "None" : "Reject");
	} else if (!strcmp(key, "HeaderDigest") || !strcmp(key, "DataDigest")) {
		bool crc = list_has(value, "CRC32C");

		if (key[0] == 'H')
			t->want_hdigest = crc;
		else
			t->want_ddigest = crc;
		text_add(out, key, crc ? "CRC32C" : "None");
	} else if (!strcmp(key, "MaxRecvDataSegmentLength")) {
		t->init_mrdsl = (uint32_t)CLAMP(v, ISCSI_MIN_MRDSL, ISCSI_MAX_DSL);
		num = g_strdup_printf("%u", EVIL_MRDSL);
		text_add(out, key, num);
	} else if (!strcmp(key, "MaxBurstLength") || !strcmp(key, "FirstBurstLength")) {
		uint32_t lim = key[0] == 'M' ? EVIL_MAX_BURST : EVIL_FIRST_BURST;

		v = MIN(v, lim);
		if (key[0] == 'M')
			t->max_burst = (uint32_t)v;
		num = g_strdup_printf("%u", (uint32_t)v);
		text_add(out, key, num);
	} else if (!strcmp(key, "InitialR2T") || !strcmp(key, "DataPDUInOrder") ||
		   !strcmp(key, "DataSequenceInOrder")) {
		/* Every write moves on R2T: the R2T modes need it, and it keeps us simple. */
		text_add(out, key, "Yes");
	} else if (!strcmp(key, "ImmediateData") || !strcmp(key, "IFMarker") ||
		   !strcmp(key, "OFMarker")) {
		text_add(out, key, "No");
	} else if (!strcmp(key, "MaxConnections") || !strcmp(key, "MaxOutstandingR2T")) {
		text_add(out, key, "1");
	} else if (!strcmp(key, "ErrorRecoveryLevel")) {
		text_add(out, key, "0");
	} else if (!strcmp(key, "DefaultTime2Wait") || !strcmp(key, "DefaultTime2Retain")) {
		text_add(out, key, value);
	} else if (!strcmp(key, "RDMAExtensions")) {
		text_add(out, key, t->iser && !strcmp(value, "Yes") ? "Yes" : "No");
	} else if (!strcmp(key, "InitiatorRecvDataSegmentLength")) {
		/* Ours to accept as the initiator declares it: it bounds our Sends. */
		t->init_mrdsl = (uint32_t)CLAMP(v, ISCSI_MIN_MRDSL, ISCSI_MAX_DSL);
		num = g_strdup_printf("%u", t->init_mrdsl);
		text_add(out, key, num);
	} else if (!strcmp(key, "TargetRecvDataSegmentLength")) {
		num = g_strdup_printf("%u", (uint32_t)MIN(v, EVIL_MRDSL));
		text_add(out, key, num);
	} else {
		text_add(out, key, "NotUnderstood");
	}
}

static void build_login_rsp(struct target *t, const struct pdu *req, struct iscsi_login_rsp *r,
			    uint8_t flags)
{
	memset(r, 0, sizeof(*r));
	r->opcode = ISCSI_OP_LOGIN_RSP;
	r->flags = flags;
	memcpy(r->isid, req->bhs + 8, sizeof(r->isid));
	r->tsih = htons(EVIL_TSIH);
	r->itt = htonl(pdu_itt(req));
	t->exp_cmdsn = get_be32(req->bhs + 24);
	set_sn(t, r, true);
}

/*
 * Serve the login phase. Returns 0 in full feature phase, 1 when a mode
 * took the connection over, -1 when the connection ended.
 */
static int serve_login(struct target *t, struct pdu *p)
{
	g_autoptr(GByteArray) text = g_byte_array_new();
	g_autoptr(GByteArray) out = g_byte_array_new();
	bool first = true;

	for (;;) {
		struct iscsi_login_rsp r;
		uint8_t flags, csg, nsg;
		bool transit;
		size_t off;
		int rc = recv_pdu(t, p, EVIL_WAIT_MS);

		if (rc != RX_OK) {
			note("connection ended during login");
			return -1;
		}
		if (pdu_op(p) != ISCSI_OP_LOGIN_REQ) {
			violation(t, "opcode 0x%02x during login", pdu_op(p));
			return -1;
		}
		if (t->mode && t->mode->trigger == ON_LOGIN) {
			strike(t, p);
			return 1;
		}
		flags = p->bhs[1];
		transit = flags & ISCSI_LOGIN_TRANSIT;
		csg = (flags & ISCSI_LOGIN_CSG_MASK) >> ISCSI_LOGIN_CSG_SHIFT;
		nsg = flags & ISCSI_LOGIN_NSG_MASK;
		g_byte_array_append(text, p->data, p->dlen);
		if (flags & ISCSI_LOGIN_CONTINUE) {
			build_login_rsp(t, p, &r, (uint8_t)(csg << ISCSI_LOGIN_CSG_SHIFT));
			if (send_pdu(t, &r, NULL, 0))
				return -1;
			continue;
		}
		if (first) {
			const char *type = text_get(text->data, text->len, "SessionType");
			const char *name = text_get(text->data, text->len, "TargetName");

			t->discovery = type && !strcmp(type, "Discovery");
			if (!t->discovery && (!name || strcmp(name, t->iqn))) {
				note("login for target %s, we are %s", name ? name : "(none)",
				     t->iqn);
				return -1;
			}
		}
		g_byte_array_set_size(out, 0);
		for (off = 0; off < text->len;) {
			const char *kv = (const char *)text->data + off;
			size_t n = strnlen(kv, text->len - off);
			g_autofree char *pair = g_strndup(kv, n);
			char *eq = strchr(pair, '=');

			if (eq) {
				*eq = '\0';
				answer_key(t, pair, eq + 1, out);
			}
			off += n + 1;
		}
		if (first && !t->discovery)
			text_add(out, "TargetPortalGroupTag", "1");
		first = false;
		g_byte_array_set_size(text, 0);
		build_login_rsp(t, p, &r,
				(uint8_t)((csg << ISCSI_LOGIN_CSG_SHIFT) |
					  (transit ? ISCSI_LOGIN_TRANSIT | nsg : 0)));
		if (send_pdu(t, &r, out->data, out->len))
			return -1;
		if (transit && nsg == ISCSI_STAGE_FULL_FEATURE) {
			t->hdigest = t->want_hdigest;
			t->ddigest = t->want_ddigest;
			note("full feature phase (%s session, digests %s, initiator "
			     "MaxRecvDataSegmentLength %u)",
			     t->discovery ? "discovery" : "normal", t->hdigest ? "on" : "off",
			     t->init_mrdsl);
			return 0;
		}
	}
}

/* --- SCSI --- */

static int send_scsi_rsp(struct target *t, uint32_t itt, uint8_t status, const uint8_t *sense,
			 uint32_t sense_len)
{
	struct iscsi_scsi_rsp r = {.opcode = ISCSI_OP_SCSI_RSP, .flags = ISCSI_FLAG_FINAL};
	uint8_t data[2 + 18];

	r.cmd_status = status;
	r.itt = htonl(itt);
	set_sn(t, &r, true);
	if (!sense_len)
		return send_pdu(t, &r, NULL, 0);
	data[0] = 0;
	data[1] = (uint8_t)sense_len;
	memcpy(data + 2, sense, sense_len);
	return send_pdu(t, &r, data, 2 + sense_len);
}

/* CHECK CONDITION with fixed-format sense: @key, @asc and @ascq. */
static int send_sense(struct target *t, uint32_t itt, uint8_t key, uint8_t asc, uint8_t ascq)
{
	uint8_t sense[18] = {0x70, 0, key};

	sense[7] = 10;
	sense[12] = asc;
	sense[13] = ascq;
	return send_scsi_rsp(t, itt, SCSI_CHECK_CONDITION, sense, sizeof(sense));
}

/* ILLEGAL REQUEST and @asc. */
static int send_illegal(struct target *t, uint32_t itt, uint8_t asc)
{
	return send_sense(t, itt, SENSE_ILLEGAL_REQUEST, asc, 0);
}

/* --- iSER: SCSI data moved by RDMA --- */

/* SCSI Response GOOD, with an underflow of the @residual bytes not moved. */
static int send_good_residual(struct target *t, uint32_t itt, uint32_t residual)
{
	struct iscsi_scsi_rsp r = {.opcode = ISCSI_OP_SCSI_RSP, .flags = ISCSI_FLAG_FINAL};

	r.cmd_status = SCSI_GOOD;
	r.itt = htonl(itt);
	if (residual) {
		r.flags |= ISCSI_RSP_UNDERFLOW;
		r.residual_count = htonl(residual);
	}
	set_sn(t, &r, true);
	return send_pdu(t, &r, NULL, 0);
}

/*
 * RDMA through the stage buffer between our memory and the initiator's
 * buffer at @stag/@va for the command @cmd: @src RDMA-Written, or @dst
 * filled by RDMA Reads, @len bytes.
 */
static int iser_move(struct target *t, const struct pdu *cmd, const uint8_t *src, uint8_t *dst,
		     uint32_t stag, uint64_t va, uint32_t len)
{
	size_t room;
	uint8_t *stage = evil_iser_stage(t->iser, &room);
	uint32_t off, n;
	char why[128];
	int st = 0, rc;

	for (off = 0; off < len; off += n) {
		n = (uint32_t)MIN(len - off, room);
		if (src)
			memcpy(stage, src + off, n);
		rc = evil_iser_rdma(t->iser, src != NULL, stag, va + off, n, &st, why, sizeof(why));
		if (rc != 1) {
			note("RDMA %s of %u bytes for ITT 0x%08x failed: %s",
			     src ? "Write" : "Read", n, pdu_itt(cmd),
			     rc ? why : ibv_wc_status_str((enum ibv_wc_status)st));
			return -1;
		}
		if (dst)
			memcpy(dst + off, stage, n);
	}
	return 0;
}

/* send_data_in() over iSER: RDMA Write to the read buffer, then the status. */
static int iser_data_in(struct target *t, const struct pdu *cmd, const uint8_t *buf, uint32_t len)
{
	uint32_t edtl = get_be32(cmd->bhs + 20);

	len = MIN(len, edtl);
	if (len && !(cmd->ih.flags & ISER_RSV)) {
		violation(t,
			  "command ITT 0x%08x expects %u bytes of data but advertises no read STag",
			  pdu_itt(cmd), edtl);
		return -1;
	}
	if (len && iser_move(t, cmd, buf, NULL, ntohl(cmd->ih.read_stag), be64toh(cmd->ih.read_va),
			     len) < 0)
		return -1;
	return send_good_residual(t, pdu_itt(cmd), edtl - len);
}

/* receive_data() over iSER: the immediate data, the rest by RDMA Read. */
static int iser_data_out(struct target *t, const struct pdu *cmd, uint8_t *dst, uint32_t len)
{
	uint32_t imm = MIN(cmd->dlen, len);

	memcpy(dst, cmd->data, imm);
	if (imm == len)
		return 0;
	if (!(cmd->ih.flags & ISER_WSV)) {
		violation(t, "write ITT 0x%08x of %u bytes, %u immediate, advertises no write STag",
			  pdu_itt(cmd), len, imm);
		return -1;
	}
	return iser_move(t, cmd, NULL, dst + imm, ntohl(cmd->ih.write_stag),
			 be64toh(cmd->ih.write_va), len - imm);
}

/*
 * Data-In for [@buf, @buf + @len) of a command expecting @edtl bytes, cut at
 * the initiator's MaxRecvDataSegmentLength, status in the last PDU.
 */
static int send_data_in(struct target *t, const struct pdu *cmd, const uint8_t *buf, uint32_t len)
{
	uint32_t edtl = get_be32(cmd->bhs + 20), off = 0, datasn = 0;
	uint32_t chunk = MIN(t->init_mrdsl, 65536u);

	if (t->iser)
		return iser_data_in(t, cmd, buf, len);
	len = MIN(len, edtl);
	if (!len)
		return send_scsi_rsp(t, pdu_itt(cmd), SCSI_GOOD, NULL, 0);
	while (off < len) {
		struct iscsi_data_in d = {.opcode = ISCSI_OP_DATA_IN};
		uint32_t n = MIN(chunk, len - off);
		bool last = off + n == len;

		memcpy(d.lun, cmd->bhs + 8, sizeof(d.lun));
		d.itt = htonl(pdu_itt(cmd));
		d.ttt = htonl(ISCSI_RESERVED_TAG);
		d.datasn = htonl(datasn++);
		d.offset = htonl(off);
		if (last) {
			d.flags = ISCSI_FLAG_FINAL | ISCSI_DATA_STATUS;
			d.cmd_status = SCSI_GOOD;
			if (len < edtl) {
				d.flags |= ISCSI_DATA_UNDERFLOW;
				d.residual_count = htonl(edtl - len);
			}
		}
		set_sn(t, &d, last);
		if (send_pdu(t, &d, buf + off, n))
			return -1;
		off += n;
	}
	return 0;
}

/* The VPD pages of a target with limits: 0x00, Block Limits, Logical Block Provisioning. */
static int scsi_vpd_limits(struct target *t, const struct pdu *cmd, uint8_t page)
{
	uint8_t buf[64] = {0};

	buf[1] = page;
	switch (page) {
	case 0x00:
		buf[3] = 3;
		buf[5] = 0xb0;
		buf[6] = 0xb2;
		return send_data_in(t, cmd, buf, 7);
	case 0xb0:
		buf[3] = 0x3c;
		put_be32(buf + 20, disk.unmap_max);
		put_be32(buf + 24, disk.desc_max);
		put_be32(buf + 28, disk.gran);
		put_be32(buf + 32, disk.align | 0x80000000u);
		put_be64(buf + 36, disk.ws_max);
		return send_data_in(t, cmd, buf, 0x40);
	case 0xb2:
		buf[3] = 4;
		/* LBPU, LBPWS unless WRITE SAME is refused, LBPRZ 001b; thin. */
		buf[5] = 0x80 | (disk.no_ws ? 0 : 0x40) | 0x04;
		buf[6] = 0x02;
		return send_data_in(t, cmd, buf, 8);
	default:
		return send_illegal(t, pdu_itt(cmd), 0x24);
	}
}

static int scsi_inquiry(struct target *t, const struct pdu *cmd, const uint8_t *cdb)
{
	uint8_t buf[36] = {0};

	if (cdb[1] & 0x01) {
		if (disk.limits)
			return scsi_vpd_limits(t, cmd, cdb[2]);
		if (cdb[2] != 0x00)
			return send_illegal(t, pdu_itt(cmd), 0x24);
		/* Page 0x00 listing only itself. */
		buf[3] = 1;
		return send_data_in(t, cmd, buf, 5);
	}
	buf[2] = 0x05;
	buf[3] = 0x02;
	buf[4] = sizeof(buf) - 5;
	buf[7] = 0x02;
	memcpy(buf + 8, "EVIL    ", 8);
	memcpy(buf + 16, "hostile target  ", 16);
	memcpy(buf + 32, "0001", 4);
	return send_data_in(t, cmd, buf, sizeof(buf));
}

static int scsi_capacity(struct target *t, const struct pdu *cmd, bool sixteen)
{
	uint8_t buf[32] = {0};

	if (sixteen) {
		put_be64(buf, disk.blocks - 1);
		put_be32(buf + 8, disk.block);
		/* LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT */
		buf[13] = disk.phys_exp;
		/* Thin provisioned (LBPME), reading zeroes where unmapped (LBPRZ). */
		if (disk.limits)
			buf[14] = 0xc0;
		return send_data_in(t, cmd, buf, 32);
	}
	put_be32(buf, (uint32_t)MIN(disk.blocks - 1, 0xffffffffu));
	put_be32(buf + 4, disk.block);
	return send_data_in(t, cmd, buf, 8);
}

static int scsi_report_luns(struct target *t, const struct pdu *cmd)
{
	uint8_t buf[16] = {0};

	put_be32(buf, 8);
	buf[9] = 1;
	return send_data_in(t, cmd, buf, sizeof(buf));
}

static int scsi_read(struct target *t, const struct pdu *cmd, uint64_t lba, uint32_t blocks)
{
	if (lba > disk.blocks || blocks > disk.blocks - lba)
		return send_illegal(t, pdu_itt(cmd), 0x21);
	return send_data_in(t, cmd, disk.data + lba * disk.block, blocks * disk.block);
}

static int handle_pdu(struct target *t, struct pdu *p);

/*
 * Wait for the Data-Out of one R2T of the write @cmd: [@off, @off + @len)
 * in order, under @ttt, into @dst + @off. Commands arriving meanwhile wait
 * in the backlog.
 */
static int collect_data_out(struct target *t, const struct pdu *cmd, uint8_t *dst, uint32_t ttt,
			    uint32_t off, uint32_t len)
{
	uint32_t itt = pdu_itt(cmd), want = off, datasn = 0;
	struct pdu *p = g_new(struct pdu, 1);
	int rc = -1;

	while (want < off + len) {
		uint32_t doff;

		if (recv_pdu(t, p, EVIL_WAIT_MS) != RX_OK) {
			note("connection ended while waiting for Data-Out");
			goto out;
		}
		if (pdu_op(p) == ISCSI_OP_SCSI_CMD) {
			g_queue_push_tail(&t->backlog, g_memdup2(p, sizeof(*p)));
			continue;
		}
		if (pdu_op(p) != ISCSI_OP_DATA_OUT) {
			if (handle_pdu(t, p) < 0)
				goto out;
			continue;
		}
		doff = get_be32(p->bhs + 40);
		if (pdu_itt(p) != itt || get_be32(p->bhs + 20) != ttt ||
		    get_be32(p->bhs + 36) != datasn || doff != want || p->dlen > off + len - want) {
			violation(t,
				  "Data-Out ITT 0x%08x TTT 0x%08x DataSN %u offset %u length %u; "
				  "expected ITT 0x%08x TTT 0x%08x DataSN %u offset %u, at most "
				  "%u bytes",
				  pdu_itt(p), get_be32(p->bhs + 20), get_be32(p->bhs + 36), doff,
				  p->dlen, itt, ttt, datasn, want, off + len - want);
			goto out;
		}
		if (!!(p->bhs[1] & ISCSI_FLAG_FINAL) != (doff + p->dlen == off + len)) {
			violation(t, "Data-Out at offset %u: F bit %s the end of the R2T", doff,
				  p->bhs[1] & ISCSI_FLAG_FINAL ? "before" : "missing at");
			goto out;
		}
		memcpy(dst + doff, p->data, p->dlen);
		want += p->dlen;
		datasn++;
	}
	rc = 0;
out:
	g_free(p);
	return rc;
}

/*
 * The @len bytes of data of @cmd into @dst, through R2Ts of at most
 * MaxBurstLength, one outstanding at a time.
 */
static int receive_data(struct target *t, const struct pdu *cmd, uint8_t *dst, uint32_t len)
{
	uint32_t off, r2tsn = 0;

	if (t->iser)
		return iser_data_out(t, cmd, dst, len);
	for (off = 0; off < len;) {
		struct iscsi_r2t r = {.opcode = ISCSI_OP_R2T, .flags = ISCSI_FLAG_FINAL};
		uint32_t n = MIN(len - off, t->max_burst);
		uint32_t ttt = t->next_ttt++;

		memcpy(r.lun, cmd->bhs + 8, sizeof(r.lun));
		r.itt = htonl(pdu_itt(cmd));
		r.ttt = htonl(ttt);
		set_sn(t, &r, false);
		r.r2tsn = htonl(r2tsn++);
		r.data_offset = htonl(off);
		r.data_length = htonl(n);
		if (send_pdu(t, &r, NULL, 0) || collect_data_out(t, cmd, dst, ttt, off, n))
			return -1;
		off += n;
	}
	return 0;
}

/* A write: its data through R2Ts (we asked for InitialR2T=Yes, ImmediateData=No). */
static int scsi_write(struct target *t, const struct pdu *cmd, uint64_t lba, uint32_t blocks)
{
	uint32_t len = blocks * disk.block;

	if (lba > disk.blocks || blocks > disk.blocks - lba)
		return send_illegal(t, pdu_itt(cmd), 0x21);
	if (cmd->dlen || !(cmd->bhs[1] & ISCSI_FLAG_FINAL)) {
		violation(t, "unsolicited data for a write though we asked for InitialR2T=Yes "
			     "and ImmediateData=No");
		return -1;
	}
	if (get_be32(cmd->bhs + 20) != len) {
		violation(t, "write of %u blocks with Expected Data Transfer Length %u", blocks,
			  get_be32(cmd->bhs + 20));
		return -1;
	}
	if (receive_data(t, cmd, disk.data + lba * disk.block, len))
		return -1;
	return send_scsi_rsp(t, pdu_itt(cmd), SCSI_GOOD, NULL, 0);
}

/* Whether @lba is on a boundary of the unmap granules the target declared. */
static bool on_granule(uint64_t lba)
{
	return lba >= disk.align && (lba - disk.align) % disk.gran == 0;
}

/*
 * UNMAP, checked against the declared limits: at most desc_max
 * descriptors, each of at most unmap_max blocks covering whole granules.
 * What is unmapped reads back as zeroes.
 */
static int scsi_unmap(struct target *t, const struct pdu *cmd, const uint8_t *cdb)
{
	uint32_t len = (uint32_t)cdb[7] << 8 | cdb[8], n, i;
	g_autofree uint8_t *param = g_malloc0(MAX(len, 8u));

	if (!disk.limits) {
		note("SCSI Command 0x42 not supported: INVALID COMMAND OPERATION CODE");
		return send_illegal(t, pdu_itt(cmd), 0x20);
	}
	if (len && receive_data(t, cmd, param, len))
		return -1;
	n = len >= 8 ? ((uint32_t)param[2] << 8 | param[3]) / 16 : 0;
	if (8 + n * 16 > len)
		n = len >= 8 ? (len - 8) / 16 : 0;
	note("UNMAP ITT 0x%08x: %u descriptors", pdu_itt(cmd), n);
	if (n > disk.desc_max)
		violation(t, "UNMAP with %u descriptors; we declared at most %u", n, disk.desc_max);
	for (i = 0; i < n; i++) {
		uint64_t lba = get_be64(param + 8 + 16 * i);
		uint32_t count = get_be32(param + 16 + 16 * i);

		note("UNMAP LBA %" G_GUINT64_FORMAT " blocks %u", lba, count);
		if (lba > disk.blocks || count > disk.blocks - lba)
			return send_illegal(t, pdu_itt(cmd), 0x21);
		if (count > disk.unmap_max)
			violation(t, "UNMAP of %u blocks; we declared at most %u", count,
				  disk.unmap_max);
		if (count && (!on_granule(lba) || !on_granule(lba + count)))
			violation(t,
				  "UNMAP of LBA %" G_GUINT64_FORMAT
				  " blocks %u: not whole granules "
				  "of %u blocks aligned at %u",
				  lba, count, disk.gran, disk.align);
		memset(disk.data + lba * disk.block, 0, (size_t)count * disk.block);
	}
	return send_scsi_rsp(t, pdu_itt(cmd), SCSI_GOOD, NULL, 0);
}

/* WRITE SAME (16): at most ws_max blocks; with UNMAP a zero block unmaps. */
static int scsi_write_same(struct target *t, const struct pdu *cmd, const uint8_t *cdb)
{
	uint64_t lba = get_be64(cdb + 2), i;
	uint32_t count = get_be32(cdb + 10);
	g_autofree uint8_t *block = g_malloc0(disk.block);

	if (!disk.limits || disk.no_ws) {
		note("SCSI Command 0x93 not supported: INVALID COMMAND OPERATION CODE");
		return send_illegal(t, pdu_itt(cmd), 0x20);
	}
	note("WRITE SAME ITT 0x%08x LBA %" G_GUINT64_FORMAT " blocks %u%s", pdu_itt(cmd), lba,
	     count, cdb[1] & 0x08 ? " UNMAP" : "");
	if (lba > disk.blocks || count > disk.blocks - lba)
		return send_illegal(t, pdu_itt(cmd), 0x21);
	if (!count || count > disk.ws_max) {
		violation(t, "WRITE SAME of %u blocks; we declared at most %u", count, disk.ws_max);
		return send_illegal(t, pdu_itt(cmd), 0x24);
	}
	if (!(cdb[1] & 0x01) && receive_data(t, cmd, block, disk.block))
		return -1;
	for (i = 0; i < count; i++)
		memcpy(disk.data + (lba + i) * disk.block, block, disk.block);
	return send_scsi_rsp(t, pdu_itt(cmd), SCSI_GOOD, NULL, 0);
}

/* NOT READY: ASYMMETRIC ACCESS STATE TRANSITION. */
static int send_not_ready(struct target *t, uint32_t itt)
{
	return send_sense(t, itt, 0x02, 0x04, 0x0a);
}

/* UNIT ATTENTION: CAPACITY DATA HAS CHANGED. */
static int send_capacity_changed(struct target *t, uint32_t itt)
{
	return send_sense(t, itt, 0x06, 0x2a, 0x09);
}

/* Decode READ/WRITE (10) and (16); false for any other CDB. */
static bool rw_cdb(const uint8_t *cdb, bool *write, uint64_t *lba, uint32_t *blocks)
{
	switch (cdb[0]) {
	case 0x28:
	case 0x2a:
		*write = cdb[0] == 0x2a;
		*lba = get_be32(cdb + 2);
		*blocks = (uint32_t)cdb[7] << 8 | cdb[8];
		return true;
	case 0x88:
	case 0x8a:
		*write = cdb[0] == 0x8a;
		*lba = get_be64(cdb + 2);
		*blocks = get_be32(cdb + 10);
		return true;
	default:
		return false;
	}
}

static bool mode_strikes(struct target *t, bool write, uint64_t lba)
{
	enum trigger tr;

	if (!t->mode || t->struck || (t->iser_mode && lba != t->strike_lba))
		return false;
	tr = t->mode->trigger;
	return tr == ON_IO || (tr == ON_READ && !write) || (tr == ON_WRITE && write);
}

static int iser_later(struct target *t);
static int late_write_after(struct target *t, uint64_t lba, uint32_t blocks);

static int handle_scsi_cmd(struct target *t, const struct pdu *p)
{
	const uint8_t *cdb = p->bhs + 32;
	uint32_t cmdsn = get_be32(p->bhs + 24), itt = pdu_itt(p), blocks;
	uint64_t lba;
	bool write;

	if (!(p->bhs[0] & ISCSI_OP_IMMEDIATE)) {
		if (cmdsn != t->exp_cmdsn)
			violation(t, "SCSI Command ITT 0x%08x with CmdSN %u, expected %u", itt,
				  cmdsn, t->exp_cmdsn);
		t->exp_cmdsn = cmdsn + 1;
	}
	if (disk.resize_armed) {
		disk.resize_armed = 0;
		note("capacity changed from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT " blocks",
		     disk.blocks, disk.resize_to);
		disk.blocks = disk.resize_to;
		disk.ua_pending = true;
	}
	if (disk.ua_pending && cdb[0] != 0x12 && cdb[0] != 0xa0) {
		disk.ua_pending = false;
		note("SCSI Command 0x%02x ITT 0x%08x: UNIT ATTENTION CAPACITY DATA HAS CHANGED",
		     cdb[0], itt);
		return send_capacity_changed(t, itt);
	}
	if (t->mode && t->mode->trigger == ON_CMD && !t->struck) {
		note("SCSI Command 0x%02x ITT 0x%08x", cdb[0], itt);
		strike(t, p);
		return 0;
	}
	if (rw_cdb(cdb, &write, &lba, &blocks) && disk.not_ready) {
		if (disk.not_ready > 0)
			disk.not_ready--;
		note("%s ITT 0x%08x: NOT READY, ASYMMETRIC ACCESS STATE TRANSITION",
		     write ? "WRITE" : "READ", itt);
		return send_not_ready(t, itt);
	}
	if (rw_cdb(cdb, &write, &lba, &blocks)) {
		/* Data of the next command could land where the last one's was. */
		if (t->later && t->later_wait) {
			if (write)
				t->later_wait--;
		} else if (t->later && iser_later(t) < 0) {
			return -1;
		}
		if (t->iser)
			note("%s ITT 0x%08x LBA %" G_GUINT64_FORMAT " blocks %u, %s STag 0x%08x at "
			     "0x%016" PRIx64,
			     write ? "WRITE" : "READ", itt, lba, blocks, write ? "write" : "read",
			     ntohl(write ? p->ih.write_stag : p->ih.read_stag),
			     (uint64_t)be64toh(write ? p->ih.write_va : p->ih.read_va));
		else
			note("%s ITT 0x%08x LBA %" G_GUINT64_FORMAT " blocks %u",
			     write ? "WRITE" : "READ", itt, lba, blocks);
		if (mode_strikes(t, write, lba)) {
			strike(t, p);
			if (t->misbehaved)
				return 0;
			if (t->iser && evil_iser_down(t->iser))
				return -1;
			if (t->swallow) {
				t->swallow = false;
				return 0;
			}
		}
		if (!write)
			return scsi_read(t, p, lba, blocks);
		if (scsi_write(t, p, lba, blocks))
			return -1;
		return late_write_after(t, lba, blocks);
	}
	switch (cdb[0]) {
	case 0x00: /* TEST UNIT READY */
	case 0x35: /* SYNCHRONIZE CACHE (10) */
	case 0x91: /* SYNCHRONIZE CACHE (16) */
		return send_scsi_rsp(t, itt, SCSI_GOOD, NULL, 0);
	case 0x12:
		return scsi_inquiry(t, p, cdb);
	case 0x25:
		return scsi_capacity(t, p, false);
	case 0x9e:
		if ((cdb[1] & 0x1f) == 0x10)
			return scsi_capacity(t, p, true);
		return send_illegal(t, itt, 0x24);
	case 0x1a: { /* MODE SENSE (6): a header, no pages, not write protected */
		static const uint8_t hdr6[4] = {3, 0, 0, 0};

		return send_data_in(t, p, hdr6, sizeof(hdr6));
	}
	case 0x5a: {
		static const uint8_t hdr10[8] = {0, 6};

		return send_data_in(t, p, hdr10, sizeof(hdr10));
	}
	case 0xa0:
		return scsi_report_luns(t, p);
	case 0x42:
		return scsi_unmap(t, p, cdb);
	case 0x93:
		return scsi_write_same(t, p, cdb);
	default:
		note("SCSI Command 0x%02x not supported: INVALID COMMAND OPERATION CODE", cdb[0]);
		return send_illegal(t, itt, 0x20);
	}
}

/* --- other PDUs --- */

static int handle_nop_out(struct target *t, const struct pdu *p)
{
	uint32_t itt = pdu_itt(p), ttt = get_be32(p->bhs + 20);
	struct iscsi_nop_in n = {.opcode = ISCSI_OP_NOOP_IN, .flags = ISCSI_FLAG_FINAL};

	if (itt == ISCSI_RESERVED_TAG) {
		uint32_t want = t->ping_ttt + t->pings_answered;

		if (t->pings_answered >= t->pings_sent) {
			violation(t, "NOP-Out reply with TTT 0x%08x to no ping of ours", ttt);
			return 0;
		}
		/* Counted all the same, so that one bad reply is reported once. */
		if (ttt != want)
			violation(t,
				  "NOP-Out reply with TTT 0x%08x; the oldest ping not answered "
				  "had 0x%08x",
				  ttt, want);
		if (!(p->bhs[0] & ISCSI_OP_IMMEDIATE) || memcmp(p->bhs + 8, t->ping_lun, 8))
			violation(t, "NOP-Out reply to TTT 0x%08x %s", ttt,
				  p->bhs[0] & ISCSI_OP_IMMEDIATE ? "without the ping's LUN"
								 : "without the I bit");
		t->pings_answered++;
		return 0;
	}
	if (!(p->bhs[0] & ISCSI_OP_IMMEDIATE))
		t->exp_cmdsn++;
	if (t->mute) {
		note("ignoring NOP-Out ping ITT 0x%08x", itt);
		t->nop_outs_ignored++;
		return 0;
	}
	memcpy(n.lun, p->bhs + 8, sizeof(n.lun));
	n.itt = htonl(itt);
	n.ttt = htonl(ISCSI_RESERVED_TAG);
	set_sn(t, &n, true);
	return send_pdu(t, &n, p->data, p->dlen);
}

static int handle_text(struct target *t, const struct pdu *p)
{
	struct iscsi_text_rsp r = {.opcode = ISCSI_OP_TEXT_RSP, .flags = ISCSI_FLAG_FINAL};
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree char *addr = g_strdup_printf("127.0.0.1:%u,1", t->port);
	const char *st = text_get(p->data, p->dlen, "SendTargets");

	if (!(p->bhs[0] & ISCSI_OP_IMMEDIATE))
		t->exp_cmdsn++;
	if (t->mode && t->mode->trigger == ON_TEXT && !t->struck) {
		strike(t, p);
		return 0;
	}
	if (st) {
		text_add(out, "TargetName", t->iqn);
		text_add(out, "TargetAddress", addr);
	}
	r.itt = htonl(pdu_itt(p));
	r.ttt = htonl(ISCSI_RESERVED_TAG);
	set_sn(t, &r, true);
	return send_pdu(t, &r, out->data, out->len);
}

#define TMF_IGNORE     (-1)
#define TMF_UNEXPECTED (-2)

/*
 * ABORT TASK and LUN RESET, for the stall modes: the request must name the
 * command we left unanswered, come as an immediate PDU with the next CmdSN,
 * and after "function complete" the command counts as aborted (no answer
 * will ever come for it).
 */
static int handle_tmf(struct target *t, const struct pdu *p)
{
	const struct iscsi_tmf_req *r = (const void *)p->bhs;
	struct iscsi_tmf_rsp a = {.opcode = ISCSI_OP_TMF_RSP, .flags = ISCSI_FLAG_FINAL};
	uint8_t function = r->flags & 0x7f;
	const char *name = function == ISCSI_TMF_ABORT_TASK ? "ABORT TASK" : "LUN RESET";
	int answer;

	if (function != ISCSI_TMF_ABORT_TASK && function != ISCSI_TMF_LUN_RESET) {
		violation(t, "task management function %u, not one the initiator needs", function);
		return -1;
	}
	note("%s ITT 0x%08x for ITT 0x%08x RefCmdSN %u", name, pdu_itt(p), ntohl(r->rtt),
	     ntohl(r->refcmdsn));
	if (!(r->opcode & ISCSI_OP_IMMEDIATE) || !(r->flags & ISCSI_FLAG_FINAL))
		violation(t, "%s without the I and F bits", name);
	if (ntohl(r->cmdsn) != t->exp_cmdsn)
		violation(t, "%s with CmdSN %u, expected %u", name, ntohl(r->cmdsn), t->exp_cmdsn);
	if (!t->stalled) {
		violation(t, "%s with no command left unanswered", name);
		return 0;
	}
	if (memcmp(r->lun, t->stalled_lun, 8))
		violation(t, "%s for another LUN than the stalled command's", name);
	if (function == ISCSI_TMF_ABORT_TASK) {
		t->aborts_seen++;
		answer = t->abort_answer;
		if (ntohl(r->rtt) != t->stalled_itt || ntohl(r->refcmdsn) != t->stalled_cmdsn)
			violation(t,
				  "ABORT TASK for ITT 0x%08x CmdSN %u; the stalled one is "
				  "ITT 0x%08x CmdSN %u",
				  ntohl(r->rtt), ntohl(r->refcmdsn), t->stalled_itt,
				  t->stalled_cmdsn);
	} else {
		t->resets_seen++;
		answer = t->reset_answer;
		if (ntohl(r->rtt) != ISCSI_RESERVED_TAG)
			violation(t, "LUN RESET with a Referenced Task Tag");
	}
	if (answer == TMF_UNEXPECTED) {
		violation(t, "%s after the command was already dealt with", name);
		return 0;
	}
	if (answer == TMF_IGNORE) {
		note("leaving %s unanswered", name);
		return 0;
	}
	a.response = (uint8_t)answer;
	a.itt = htonl(pdu_itt(p));
	set_sn(t, &a, true);
	note("answering %s: response %d", name, answer);
	if (answer == ISCSI_TMF_RSP_COMPLETE)
		t->stalled = false;
	if (answer == ISCSI_TMF_RSP_COMPLETE && t->late_data) {
		note("held WRITE ITT 0x%08x aborted: its data is thrown away", t->late_itt);
		g_clear_pointer(&t->late_data, g_free);
	}
	return send_pdu(t, &a, NULL, 0);
}

static int handle_logout(struct target *t, const struct pdu *p)
{
	struct iscsi_logout_rsp r = {.opcode = ISCSI_OP_LOGOUT_RSP, .flags = ISCSI_FLAG_FINAL};

	if (!(p->bhs[0] & ISCSI_OP_IMMEDIATE))
		t->exp_cmdsn++;
	r.itt = htonl(pdu_itt(p));
	set_sn(t, &r, true);
	note("logout");
	send_pdu(t, &r, NULL, 0);
	return -1;
}

/* One PDU in full feature phase. Returns -1 when the session ends. */
static int handle_pdu(struct target *t, struct pdu *p)
{
	switch (pdu_op(p)) {
	case ISCSI_OP_SCSI_CMD:
		return handle_scsi_cmd(t, p);
	case ISCSI_OP_NOOP_OUT:
		return handle_nop_out(t, p);
	case ISCSI_OP_TEXT_REQ:
		return handle_text(t, p);
	case ISCSI_OP_LOGOUT_REQ:
		return handle_logout(t, p);
	case ISCSI_OP_TMF_REQ:
		return handle_tmf(t, p);
	case ISCSI_OP_DATA_OUT:
		violation(t, "Data-Out ITT 0x%08x TTT 0x%08x that no R2T of ours asked for",
			  pdu_itt(p), get_be32(p->bhs + 20));
		return -1;
	default:
		violation(t, "unexpected opcode 0x%02x in full feature phase", pdu_op(p));
		return -1;
	}
}

/*
 * After the misbehaviour: the initiator must hang up within EVIL_WAIT_MS,
 * without sending anything it was not asked for. Every PDU it still sends
 * is logged; its NOP-Out pings are answered (unless we are mute), so it is
 * the misbehaviour itself it must act on.
 */
static int watch_after(struct target *t)
{
	gint64 deadline = t->struck_us + (gint64)EVIL_WAIT_MS * 1000;
	struct pdu *p = g_new(struct pdu, 1);
	int rc;

	for (;;) {
		gint64 left = deadline - g_get_monotonic_time();

		rc = left > 0 ? recv_pdu(t, p, (int)(left / 1000) + 1) : RX_TIMEOUT;
		if (rc != RX_OK)
			break;
		note("after the misbehaviour: opcode 0x%02x ITT 0x%08x, %u data bytes", pdu_op(p),
		     pdu_itt(p), p->dlen);
		if (pdu_op(p) == ISCSI_OP_DATA_OUT) {
			if (t->bad_ttt_set && get_be32(p->bhs + 20) == t->bad_ttt)
				violation(t, "Data-Out answering our bad R2T (TTT 0x%08x)",
					  t->bad_ttt);
			else
				violation(t, "Data-Out that no R2T of ours asked for");
		} else if (pdu_op(p) == ISCSI_OP_NOOP_OUT) {
			handle_nop_out(t, p);
		}
	}
	g_free(p);
	if (rc == RX_TIMEOUT) {
		note("the initiator kept the connection open for %d ms after the misbehaviour",
		     EVIL_WAIT_MS);
		return EXIT_STUCK;
	}
	note("the initiator closed the connection %.1f s after the misbehaviour",
	     (g_get_monotonic_time() - t->struck_us) / 1e6);
	return EXIT_BEHAVED;
}

/* Full feature phase until logout, the connection's end or the misbehaviour. */
static int serve(struct target *t, struct pdu *p)
{
	for (;;) {
		struct pdu *b = g_queue_pop_head(&t->backlog);
		int rc;

		if (b) {
			rc = handle_pdu(t, b);
			g_free(b);
		} else {
			rc = recv_pdu(t, p, EVIL_WAIT_MS);
			if (rc == RX_TIMEOUT) {
				note("the initiator went silent for %d ms", EVIL_WAIT_MS);
				return EXIT_STUCK;
			}
			if (rc != RX_OK) {
				note("connection closed");
				return EXIT_BEHAVED;
			}
			rc = handle_pdu(t, p);
		}
		if (t->misbehaved)
			return watch_after(t);
		if (rc < 0)
			return EXIT_BEHAVED;
	}
}

/* --- the misbehaviours, one function each --- */

static void data_in_hdr(struct target *t, const struct pdu *cmd, struct iscsi_data_in *d,
			uint32_t datasn, uint32_t off, bool last)
{
	memset(d, 0, sizeof(*d));
	d->opcode = ISCSI_OP_DATA_IN;
	if (last)
		d->flags = ISCSI_FLAG_FINAL | ISCSI_DATA_STATUS;
	memcpy(d->lun, cmd->bhs + 8, sizeof(d->lun));
	d->itt = htonl(pdu_itt(cmd));
	d->ttt = htonl(ISCSI_RESERVED_TAG);
	d->datasn = htonl(datasn);
	d->offset = htonl(off);
	set_sn(t, d, last);
}

/* A Data-In header whose DataSegmentLength exceeds the initiator's limit. */
static void misbehave_bad_dsl(struct target *t, const struct pdu *cmd)
{
	struct iscsi_data_in d;
	uint32_t dlen = MIN(t->init_mrdsl + 4096, ISCSI_MAX_DSL);
	uint8_t buf[ISCSI_BHS_LEN + ISCSI_DIGEST_LEN];

	data_in_hdr(t, cmd, &d, 0, 0, false);
	iscsi_set_dlength(d.dlength, dlen);
	memcpy(buf, &d, sizeof(d));
	put_le32(buf + ISCSI_BHS_LEN, crc32c(0, buf, ISCSI_BHS_LEN));
	note("Data-In with DataSegmentLength %u, the initiator declared %u", dlen, t->init_mrdsl);
	write_full(t->fd, buf, ISCSI_BHS_LEN + (t->hdigest ? ISCSI_DIGEST_LEN : 0));
	t->misbehaved = true;
}

#define EVIL_FOREIGN_ITT 0x0badc0deu

/* Data-In with status for a task the initiator never issued. */
static void misbehave_unknown_itt(struct target *t, const struct pdu *cmd)
{
	static const uint8_t block[EVIL_BLOCK];
	struct iscsi_data_in d;

	data_in_hdr(t, cmd, &d, 0, 0, true);
	d.itt = htonl(EVIL_FOREIGN_ITT);
	send_pdu(t, &d, block, sizeof(block));
	t->misbehaved = true;
}

/* A SCSI Response for a task the initiator never issued. */
static void misbehave_unknown_itt_rsp(struct target *t, const struct pdu *cmd)
{
	(void)cmd;
	send_scsi_rsp(t, EVIL_FOREIGN_ITT, SCSI_GOOD, NULL, 0);
	t->misbehaved = true;
}

/* Data-In DataSN 0, then DataSN 2. */
static void misbehave_datasn_gap(struct target *t, const struct pdu *cmd)
{
	struct iscsi_data_in d;

	data_in_hdr(t, cmd, &d, 0, 0, false);
	send_pdu(t, &d, t->lun, EVIL_BLOCK);
	data_in_hdr(t, cmd, &d, 2, EVIL_BLOCK, false);
	send_pdu(t, &d, t->lun + EVIL_BLOCK, EVIL_BLOCK);
	t->misbehaved = true;
}

/* Data-In whose BufferOffset + length runs past the command's buffer. */
static void misbehave_past_buffer(struct target *t, const struct pdu *cmd)
{
	uint32_t edtl = get_be32(cmd->bhs + 20);
	struct iscsi_data_in d;

	data_in_hdr(t, cmd, &d, 0, edtl - EVIL_BLOCK, true);
	send_pdu(t, &d, t->lun, 2 * EVIL_BLOCK);
	t->misbehaved = true;
}

/* Data-In at offset 0 twice: as many bytes as asked, but half of them never sent. */
static void misbehave_overlap(struct target *t, const struct pdu *cmd)
{
	uint32_t half = get_be32(cmd->bhs + 20) / 2;
	struct iscsi_data_in d;

	data_in_hdr(t, cmd, &d, 0, 0, false);
	send_pdu(t, &d, t->lun, half);
	data_in_hdr(t, cmd, &d, 1, 0, true);
	send_pdu(t, &d, t->lun, half);
	t->misbehaved = true;
}

/* Status GOOD after one block of data, without reporting an underflow. */
static void misbehave_short_read(struct target *t, const struct pdu *cmd)
{
	struct iscsi_data_in d;

	data_in_hdr(t, cmd, &d, 0, 0, true);
	send_pdu(t, &d, t->lun, EVIL_BLOCK);
	t->misbehaved = true;
}

/* One block of Data-In, then a SCSI Response GOOD without an underflow. */
static void misbehave_short_read_rsp(struct target *t, const struct pdu *cmd)
{
	struct iscsi_data_in d;

	data_in_hdr(t, cmd, &d, 0, 0, false);
	send_pdu(t, &d, t->lun, EVIL_BLOCK);
	send_scsi_rsp(t, pdu_itt(cmd), SCSI_GOOD, NULL, 0);
	t->misbehaved = true;
}

static void send_bad_r2t(struct target *t, const struct pdu *cmd, uint32_t off, uint32_t len)
{
	struct iscsi_r2t r = {.opcode = ISCSI_OP_R2T, .flags = ISCSI_FLAG_FINAL};

	memcpy(r.lun, cmd->bhs + 8, sizeof(r.lun));
	r.itt = htonl(pdu_itt(cmd));
	t->bad_ttt = t->next_ttt++;
	t->bad_ttt_set = true;
	r.ttt = htonl(t->bad_ttt);
	set_sn(t, &r, false);
	r.data_offset = htonl(off);
	r.data_length = htonl(len);
	note("R2T TTT 0x%08x for offset %u length %u of a %u-byte write", t->bad_ttt, off, len,
	     get_be32(cmd->bhs + 20));
	send_pdu(t, &r, NULL, 0);
	t->misbehaved = true;
}

/* An R2T asking for bytes past the end of the write. */
static void misbehave_r2t_past(struct target *t, const struct pdu *cmd)
{
	uint32_t edtl = get_be32(cmd->bhs + 20);

	send_bad_r2t(t, cmd, edtl - EVIL_BLOCK, 2 * EVIL_BLOCK);
}

/* An R2T with DesiredDataTransferLength 0. */
static void misbehave_r2t_zero(struct target *t, const struct pdu *cmd)
{
	send_bad_r2t(t, cmd, 0, 0);
}

/* Login Responses with the C bit, forever: the text never ends. */
static void misbehave_endless_login(struct target *t, const struct pdu *req)
{
	struct pdu *p = g_new(struct pdu, 1);
	char chunk[1000];
	unsigned int round;

	memset(chunk, 'a', sizeof(chunk));
	memcpy(chunk, "X-Evil=", 7);
	memcpy(p, req, sizeof(*p));
	for (round = 0; round < EVIL_ENDLESS_ROUNDS; round++) {
		struct iscsi_login_rsp r;

		build_login_rsp(t, p, &r, ISCSI_LOGIN_CONTINUE);
		if (send_pdu(t, &r, chunk, sizeof(chunk)) || recv_pdu(t, p, EVIL_WAIT_MS) != RX_OK)
			break;
		memset(chunk, 'a', sizeof(chunk));
		if (pdu_op(p) != ISCSI_OP_LOGIN_REQ || p->dlen) {
			violation(t,
				  "opcode 0x%02x with %u data bytes in reply to a continued "
				  "Login Response",
				  pdu_op(p), p->dlen);
			break;
		}
	}
	note("the initiator went along with %u continued Login Responses", round);
	if (round == EVIL_ENDLESS_ROUNDS)
		violation(t, "the initiator never gave up on an endless login");
	g_free(p);
	t->misbehaved = true;
}

/* The next PDU that is not a NOP-Out ping, which is answered on the way. */
static int recv_reply(struct target *t, struct pdu *p)
{
	int rc;

	while ((rc = recv_pdu(t, p, EVIL_WAIT_MS)) == RX_OK && pdu_op(p) == ISCSI_OP_NOOP_OUT)
		handle_nop_out(t, p);
	return rc;
}

/* SendTargets answered with Text Responses that always promise more. */
static void misbehave_endless_text(struct target *t, const struct pdu *req)
{
	struct pdu *p = g_new(struct pdu, 1);
	uint32_t itt = pdu_itt(req), ttt = 0;
	unsigned int round;

	for (round = 0; round < EVIL_ENDLESS_ROUNDS; round++) {
		struct iscsi_text_rsp r = {.opcode = ISCSI_OP_TEXT_RSP,
					   .flags = ISCSI_FLAG_CONTINUE};

		ttt = t->next_ttt++;
		r.itt = htonl(itt);
		r.ttt = htonl(ttt);
		set_sn(t, &r, true);
		if (send_pdu(t, &r, NULL, 0) || recv_reply(t, p) != RX_OK)
			break;
		if (pdu_op(p) == ISCSI_OP_LOGOUT_REQ) {
			note("the initiator gave up and logged out");
			handle_logout(t, p);
			break;
		}
		if (pdu_op(p) != ISCSI_OP_TEXT_REQ || get_be32(p->bhs + 20) != ttt) {
			violation(t,
				  "opcode 0x%02x TTT 0x%08x in reply to a Text Response with "
				  "TTT 0x%08x",
				  pdu_op(p), get_be32(p->bhs + 20), ttt);
			break;
		}
	}
	note("the initiator went along with %u continued Text Responses", round);
	if (round == EVIL_ENDLESS_ROUNDS)
		violation(t, "the initiator never gave up on an endless SendTargets answer");
	g_free(p);
	t->misbehaved = true;
}

/* A SCSI Command PDU, an initiator's opcode, sent to the initiator. */
static void misbehave_bad_opcode(struct target *t, const struct pdu *cmd)
{
	uint8_t bhs[ISCSI_BHS_LEN];

	memcpy(bhs, cmd->bhs, sizeof(bhs));
	bhs[0] = ISCSI_OP_SCSI_CMD;
	send_pdu(t, bhs, NULL, 0);
	t->misbehaved = true;
}

/* CHECK CONDITION whose SenseLength is larger than the data segment. */
static void misbehave_short_sense(struct target *t, const struct pdu *cmd)
{
	struct iscsi_scsi_rsp r = {.opcode = ISCSI_OP_SCSI_RSP, .flags = ISCSI_FLAG_FINAL};
	uint8_t data[2 + 18] = {0, 200, 0x70, 0, SENSE_ILLEGAL_REQUEST};

	r.cmd_status = SCSI_CHECK_CONDITION;
	r.itt = htonl(pdu_itt(cmd));
	set_sn(t, &r, true);
	send_pdu(t, &r, data, sizeof(data));
	t->misbehaved = true;
}

/* An AHS whose AHSLength runs far past TotalAHSLength. */
static void misbehave_huge_ahs(struct target *t, const struct pdu *cmd)
{
	struct iscsi_scsi_rsp r = {.opcode = ISCSI_OP_SCSI_RSP, .flags = ISCSI_FLAG_FINAL};
	static const uint8_t ahs[8] = {0x04, 0x00, 0x7f};

	r.ahs_len = sizeof(ahs) / 4;
	r.itt = htonl(pdu_itt(cmd));
	set_sn(t, &r, true);
	send_pdu_ahs(t, &r, ahs, sizeof(ahs), NULL, 0, 0);
	t->misbehaved = true;
}

/* A first Data-In whose header digest is wrong. */
static void misbehave_header_digest(struct target *t, const struct pdu *cmd)
{
	struct iscsi_data_in d;

	data_in_hdr(t, cmd, &d, 0, 0, false);
	send_pdu_ahs(t, &d, NULL, 0, t->lun, EVIL_BLOCK, TX_BAD_HDIGEST);
	t->misbehaved = true;
}

/* A first Data-In whose data digest is wrong. */
static void misbehave_data_digest(struct target *t, const struct pdu *cmd)
{
	struct iscsi_data_in d;

	data_in_hdr(t, cmd, &d, 0, 0, false);
	send_pdu_ahs(t, &d, NULL, 0, t->lun, EVIL_BLOCK, TX_BAD_DDIGEST);
	t->misbehaved = true;
}

/* Async Message: the target drops the connection. */
static void misbehave_async_drop(struct target *t, const struct pdu *cmd)
{
	struct iscsi_async_msg a = {.opcode = ISCSI_OP_ASYNC_MSG, .flags = ISCSI_FLAG_FINAL};

	memcpy(a.lun, cmd->bhs + 8, sizeof(a.lun));
	a.itt = htonl(ISCSI_RESERVED_TAG);
	set_sn(t, &a, true);
	a.async_event = ISCSI_ASYNC_DROP_CONNECTION;
	a.param2 = htons(2);
	send_pdu(t, &a, NULL, 0);
	t->misbehaved = true;
}

/* The command rejected, then a storm of Rejects of it. */
static void misbehave_reject_storm(struct target *t, const struct pdu *cmd)
{
	unsigned int i;

	for (i = 0; i < EVIL_REJECTS; i++) {
		struct iscsi_reject r = {.opcode = ISCSI_OP_REJECT, .flags = ISCSI_FLAG_FINAL};

		r.reason = ISCSI_REJECT_PROTOCOL_ERROR;
		r.ffffffff = htonl(ISCSI_RESERVED_TAG);
		set_sn(t, &r, true);
		if (send_pdu(t, &r, cmd->bhs, ISCSI_BHS_LEN))
			break;
	}
	note("sent %u Rejects", i);
	t->misbehaved = true;
}

/* Hang up in the middle of a Data-In payload. */
static void misbehave_close_mid_pdu(struct target *t, const struct pdu *cmd)
{
	uint32_t edtl = get_be32(cmd->bhs + 20);
	uint32_t n = MIN(MIN(edtl, t->init_mrdsl), EVIL_MRDSL);
	struct iscsi_data_in d;
	uint8_t buf[ISCSI_BHS_LEN + ISCSI_DIGEST_LEN + EVIL_MRDSL];
	uint32_t hlen = ISCSI_BHS_LEN + (t->hdigest ? ISCSI_DIGEST_LEN : 0);

	data_in_hdr(t, cmd, &d, 0, 0, n == edtl);
	iscsi_set_dlength(d.dlength, n);
	memcpy(buf, &d, sizeof(d));
	put_le32(buf + ISCSI_BHS_LEN, crc32c(0, buf, ISCSI_BHS_LEN));
	memcpy(buf + hlen, t->lun, n / 2);
	write_full(t->fd, buf, hlen + n / 2);
	note("closing after %u of %u payload bytes", n / 2, n);
	shutdown(t->fd, SHUT_WR);
	t->misbehaved = true;
}

/* A burst of NOP-In pings; the initiator must answer each, then I/O goes on. */
static void misbehave_nop_flood(struct target *t, const struct pdu *cmd)
{
	unsigned int i;

	t->ping_ttt = t->next_ttt;
	memcpy(t->ping_lun, cmd->bhs + 8, sizeof(t->ping_lun));
	for (i = 0; i < EVIL_PINGS; i++) {
		struct iscsi_nop_in n = {.opcode = ISCSI_OP_NOOP_IN, .flags = ISCSI_FLAG_FINAL};

		memcpy(n.lun, t->ping_lun, sizeof(n.lun));
		n.itt = htonl(ISCSI_RESERVED_TAG);
		n.ttt = htonl(t->next_ttt++);
		set_sn(t, &n, false);
		if (send_pdu(t, &n, NULL, 0))
			break;
		t->pings_sent++;
	}
	note("sent %u NOP-In pings", t->pings_sent);
}

/* Leave @cmd unanswered; TMF requests get the answers given. */
static void stall(struct target *t, const struct pdu *cmd, int abort_answer, int reset_answer)
{
	t->swallow = true;
	t->stalled = true;
	t->stalled_itt = pdu_itt(cmd);
	t->stalled_cmdsn = get_be32(cmd->bhs + 24);
	memcpy(t->stalled_lun, cmd->bhs + 8, 8);
	t->abort_answer = abort_answer;
	t->reset_answer = reset_answer;
	note("leaving ITT 0x%08x CmdSN %u unanswered", t->stalled_itt, t->stalled_cmdsn);
}

/*
 * late-write: take the WRITE's data but neither write it nor answer; once
 * two more WRITEs to its blocks have been written and answered, write it
 * over them and answer it, as a target that reorders commands may. An
 * ABORT TASK for it first throws it away, as it must.
 */
static void misbehave_late_write(struct target *t, const struct pdu *cmd)
{
	uint64_t lba;
	uint32_t blocks;
	bool write;

	stall(t, cmd, ISCSI_TMF_RSP_COMPLETE, TMF_UNEXPECTED);
	if (!rw_cdb(cmd->bhs + 32, &write, &lba, &blocks) || lba > disk.blocks ||
	    blocks > disk.blocks - lba) {
		t->misbehaved = true;
		return;
	}
	t->late_data = g_malloc((size_t)blocks * disk.block);
	t->late_lba = lba;
	t->late_blocks = blocks;
	t->late_itt = pdu_itt(cmd);
	t->late_after = 2;
	if (receive_data(t, cmd, t->late_data, blocks * disk.block)) {
		t->misbehaved = true;
		return;
	}
	note("holding WRITE ITT 0x%08x LBA %" G_GUINT64_FORMAT " blocks %u", t->late_itt, lba,
	     blocks);
}

static int late_write_after(struct target *t, uint64_t lba, uint32_t blocks)
{
	if (!t->late_data || lba >= t->late_lba + t->late_blocks || t->late_lba >= lba + blocks ||
	    --t->late_after)
		return 0;
	memcpy(disk.data + t->late_lba * disk.block, t->late_data,
	       (size_t)t->late_blocks * disk.block);
	g_clear_pointer(&t->late_data, g_free);
	t->stalled = false;
	note("held WRITE ITT 0x%08x written late, over two newer WRITEs to its blocks",
	     t->late_itt);
	return send_scsi_rsp(t, t->late_itt, SCSI_GOOD, NULL, 0);
}

static void misbehave_stall_abort(struct target *t, const struct pdu *cmd)
{
	stall(t, cmd, ISCSI_TMF_RSP_COMPLETE, TMF_UNEXPECTED);
}

static void misbehave_stall_reset(struct target *t, const struct pdu *cmd)
{
	stall(t, cmd, TMF_IGNORE, ISCSI_TMF_RSP_COMPLETE);
}

static void misbehave_stall_refuse(struct target *t, const struct pdu *cmd)
{
	stall(t, cmd, 255, ISCSI_TMF_RSP_NOT_SUPPORTED);
}

/*
 * Never answer again, NOP-Out pings included: the initiator must notice.
 * As "silent", from the first command on: the initiator's probe after login.
 */
static void misbehave_slow_nop(struct target *t, const struct pdu *cmd)
{
	(void)cmd;
	t->mute = true;
	t->misbehaved = true;
}

/* --- the iSER modes: RDMA accesses the initiator must not allow --- */

/*
 * One hostile RDMA access of @len bytes at @va with @stag (a Write sends
 * what the caller put in the stage buffer), its outcome logged in the
 * fixed form the tests look for. For a Read, @expect (when not NULL) is
 * the data of the write the buffer held.
 */
static void hostile(struct target *t, bool write, uint32_t stag, uint64_t va, uint32_t len,
		    const uint8_t *expect)
{
	const char *name = t->mode->name;
	size_t room;
	uint8_t *stage = evil_iser_stage(t->iser, &room);
	char why[128];
	int st = 0, rc;

	/* The self-check of the tests: a key the initiator never gave out. */
	if (t->wrong_stag)
		stag ^= 0xffu;
	note("hostile %s: RDMA %s of %u bytes at 0x%016" PRIx64 " with STag 0x%08x%s", name,
	     write ? "Write" : "Read", len, va, stag, t->wrong_stag ? " (--wrong-stag)" : "");
	rc = evil_iser_rdma(t->iser, write, stag, va, len, &st, why, sizeof(why));
	if (rc < 0) {
		note("hostile %s: not sent (%s)", name, why);
		t->unsent = true;
		return;
	}
	if (!rc) {
		note("hostile %s: refused (%s)", name, ibv_wc_status_str((enum ibv_wc_status)st));
		return;
	}
	if (expect) {
		uint32_t i, same = 0;

		for (i = 0; i < len; i++)
			same += stage[i] == expect[i];
		if (same == len)
			note("hostile %s: landed (%u bytes, the write's data)", name, len);
		else
			note(
			    "hostile %s: landed (%u bytes, not the write's data: %u of them equal)",
			    name, len, same);
	} else
		note("hostile %s: landed (%u bytes)", name, len);
	violation(t, "the initiator let a hostile RDMA %s of %u bytes land (%s)",
		  write ? "Write" : "Read", len, name);
}

/* An iSER mode cannot go ahead with the command @cmd: say why. */
static void G_GNUC_PRINTF(2, 3) hostile_unsent(struct target *t, const char *fmt, ...)
{
	g_autofree char *why = NULL;
	va_list ap;

	va_start(ap, fmt);
	why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	note("hostile %s: not sent (%s)", t->mode->name, why);
	t->unsent = true;
}

/*
 * The READ or WRITE @cmd: its LBA range within the disk, its length and
 * (the buffer the mode attacks) its read STag, or with @write its write
 * STag, advertised. False, said, when not.
 */
static bool hostile_target(struct target *t, const struct pdu *cmd, bool write, uint64_t *lba,
			   uint32_t *len, size_t room)
{
	uint32_t blocks;
	bool is_write;

	if (!rw_cdb(cmd->bhs + 32, &is_write, lba, &blocks) || *lba > disk.blocks ||
	    blocks > disk.blocks - *lba) {
		hostile_unsent(t, "ITT 0x%08x is out of the disk's range", pdu_itt(cmd));
		return false;
	}
	*len = blocks * disk.block;
	if (!(cmd->ih.flags & (write ? ISER_WSV : ISER_RSV))) {
		hostile_unsent(t, "ITT 0x%08x advertises no %s STag", pdu_itt(cmd),
			       write ? "write" : "read");
		return false;
	}
	if (!*len || *len + EVIL_ISER_PAST > room) {
		hostile_unsent(t, "ITT 0x%08x moves %u bytes; we attack up to %zu", pdu_itt(cmd),
			       *len, room - EVIL_ISER_PAST);
		return false;
	}
	return true;
}

/* Remember the buffer of @cmd, for an access once the command is answered. */
static void arm_later(struct target *t, const struct pdu *cmd, bool write)
{
	size_t room;
	uint64_t lba;
	uint32_t len;

	evil_iser_stage(t->iser, &room);
	if (!hostile_target(t, cmd, write, &lba, &len, room))
		return;
	t->later = true;
	t->later_write = write;
	t->later_stag = ntohl(write ? cmd->ih.write_stag : cmd->ih.read_stag);
	t->later_va = be64toh(write ? cmd->ih.write_va : cmd->ih.read_va);
	t->later_len = len;
	t->later_lba = lba;
	t->later_wait = t->later_after;
	note("hostile %s: ITT 0x%08x (STag 0x%08x at 0x%016" PRIx64 ") is attacked once answered, "
	     "before the next command after %u more WRITEs",
	     t->mode->name, pdu_itt(cmd), t->later_stag, t->later_va, t->later_after);
}

/*
 * The next READ or WRITE has come, so the initiator has completed the one
 * armed: its buffer, which a correct initiator no longer exposes, is
 * attacked before the new command is served (its buffer may be the same
 * memory again: a WRITE's data is in it already). -1 when that took the
 * connection down.
 */
static int iser_later(struct target *t)
{
	size_t room;
	uint8_t *stage = evil_iser_stage(t->iser, &room);

	t->later = false;
	if (!t->later_write)
		memset(stage, EVIL_ISER_BYTE, t->later_len);
	hostile(t, !t->later_write, t->later_stag, t->later_va, t->later_len,
		t->later_write ? disk.data + t->later_lba * disk.block : NULL);
	return evil_iser_down(t->iser) ? -1 : 0;
}

/* After the READ is answered, RDMA-Write with its STag: see iser_later(). */
static void misbehave_stale_stag(struct target *t, const struct pdu *cmd)
{
	arm_later(t, cmd, false);
}

/* After the WRITE is answered, RDMA-Read its buffer: see iser_later(). */
static void misbehave_read_after_response(struct target *t, const struct pdu *cmd)
{
	arm_later(t, cmd, true);
}

/* The READ's data, and 4096 bytes more, in one RDMA Write to its buffer. */
static void misbehave_past_length(struct target *t, const struct pdu *cmd)
{
	size_t room;
	uint8_t *stage = evil_iser_stage(t->iser, &room);
	uint64_t lba;
	uint32_t len;

	if (!hostile_target(t, cmd, false, &lba, &len, room))
		return;
	memcpy(stage, disk.data + lba * disk.block, len);
	memset(stage + len, EVIL_ISER_BYTE, EVIL_ISER_PAST);
	hostile(t, true, ntohl(cmd->ih.read_stag), be64toh(cmd->ih.read_va), len + EVIL_ISER_PAST,
		NULL);
}

/* The address of the last "iSER: send ring at 0x..." line of @file. */
static bool ring_address(const char *file, uint64_t *va)
{
	static const char key[] = "iSER: send ring at 0x";
	g_autofree char *text = NULL;
	const char *at, *last = NULL;

	if (!file || !g_file_get_contents(file, &text, NULL, NULL))
		return false;
	for (at = strstr(text, key); at; at = strstr(at + 1, key))
		last = at;
	if (!last)
		return false;
	*va = g_ascii_strtoull(last + sizeof(key) - 1, NULL, 16);
	return *va != 0;
}

/* 4096 bytes into the initiator's send ring, with the READ's STag. */
static void misbehave_send_ring(struct target *t, const struct pdu *cmd)
{
	size_t room;
	uint8_t *stage = evil_iser_stage(t->iser, &room);
	uint64_t lba, va;
	uint32_t len;

	if (!hostile_target(t, cmd, false, &lba, &len, room))
		return;
	if (!ring_address(t->ring_file, &va)) {
		hostile_unsent(t, "no \"iSER: send ring at 0x...\" line in %s",
			       t->ring_file ? t->ring_file
					    : "the --send-ring-from file (none given)");
		return;
	}
	memset(stage, EVIL_ISER_BYTE, EVIL_ISER_PAST);
	hostile(t, true, ntohl(cmd->ih.read_stag), va, EVIL_ISER_PAST, NULL);
}

static const struct mode modes[] = {
    {"bad-dsl", ON_READ, false, misbehave_bad_dsl,
     "Data-In with a DataSegmentLength over the initiator's MaxRecvDataSegmentLength"},
    {"unknown-itt", ON_READ, false, misbehave_unknown_itt,
     "Data-In with status for an ITT the initiator never issued"},
    {"unknown-itt-rsp", ON_IO, false, misbehave_unknown_itt_rsp,
     "SCSI Response for an ITT the initiator never issued"},
    {"datasn-gap", ON_READ, false, misbehave_datasn_gap, "Data-In DataSN 0, then 2"},
    {"past-buffer", ON_READ, false, misbehave_past_buffer,
     "Data-In with BufferOffset + length past the command's buffer"},
    {"overlap", ON_READ, false, misbehave_overlap,
     "Data-In at offset 0 twice, adding up to the whole buffer"},
    {"short-read", ON_READ, false, misbehave_short_read,
     "status GOOD after one block of data, no underflow reported"},
    {"short-read-rsp", ON_READ, false, misbehave_short_read_rsp,
     "one block of Data-In, then a SCSI Response GOOD, no underflow reported"},
    {"r2t-past", ON_WRITE, false, misbehave_r2t_past, "R2T for bytes past the end of the write"},
    {"r2t-zero", ON_WRITE, false, misbehave_r2t_zero, "R2T with DesiredDataTransferLength 0"},
    {"endless-login", ON_LOGIN, false, misbehave_endless_login,
     "Login Responses with the C bit, forever"},
    {"endless-text", ON_TEXT, false, misbehave_endless_text,
     "SendTargets answered with continued Text Responses (C bit, new TTT), forever"},
    {"bad-opcode", ON_IO, false, misbehave_bad_opcode, "a SCSI Command PDU sent to the initiator"},
    {"short-sense", ON_IO, false, misbehave_short_sense,
     "CHECK CONDITION with a SenseLength past the data segment"},
    {"huge-ahs", ON_IO, false, misbehave_huge_ahs, "an AHS longer than TotalAHSLength"},
    {"header-digest", ON_READ, true, misbehave_header_digest, "Data-In with a wrong header digest"},
    {"data-digest", ON_READ, true, misbehave_data_digest, "Data-In with a wrong data digest"},
    {"async-drop", ON_IO, false, misbehave_async_drop, "Async Message: dropping the connection"},
    {"reject-storm", ON_IO, false, misbehave_reject_storm,
     "the command rejected, then a storm of Rejects of it"},
    {"close-mid-pdu", ON_READ, false, misbehave_close_mid_pdu,
     "hang up in the middle of a Data-In payload"},
    {"nop-flood", ON_IO, false, misbehave_nop_flood,
     "a burst of NOP-In pings, each to be answered; I/O then goes on"},
    {"slow-nop", ON_IO, false, misbehave_slow_nop,
     "never answer again, the initiator's NOP-Out pings included"},
    {"silent", ON_CMD, false, misbehave_slow_nop,
     "log in, then answer nothing at all: no SCSI Response to the first command (the "
     "probe), no NOP-In"},
    {"late-write", ON_WRITE, false, misbehave_late_write,
     "hold the first WRITE unanswered; write and answer it after two newer WRITEs to its blocks"},
    {"stall-abort", ON_READ, false, misbehave_stall_abort,
     "leave a READ unanswered; ABORT TASK of it succeeds"},
    {"stall-reset", ON_READ, false, misbehave_stall_reset,
     "leave a READ unanswered, and ABORT TASK too; LUN RESET succeeds"},
    {"stall-refuse", ON_READ, false, misbehave_stall_refuse,
     "leave a READ unanswered; refuse ABORT TASK, LUN RESET not supported"},
};

/* The iSER modes (--iser), apart: they strike on the command at --strike-lba. */
static const struct mode iser_modes[] = {
    {"stale-stag", ON_READ, false, misbehave_stale_stag,
     "after the READ was answered, RDMA-Write to its buffer with its STag"},
    {"past-length", ON_READ, false, misbehave_past_length,
     "RDMA-Write the READ's length + 4096 bytes to its buffer"},
    {"send-ring", ON_READ, false, misbehave_send_ring,
     "RDMA-Write 4096 bytes to the initiator's send ring with the READ's STag"},
    {"read-after-response", ON_WRITE, false, misbehave_read_after_response,
     "after the WRITE was answered, RDMA-Read its buffer with its STag"},
};

static const struct mode *find_mode(const char *name)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(modes); i++)
		if (!strcmp(modes[i].name, name))
			return &modes[i];
	for (i = 0; i < G_N_ELEMENTS(iser_modes); i++)
		if (!strcmp(iser_modes[i].name, name))
			return &iser_modes[i];
	return NULL;
}

static bool is_iser_mode(const struct mode *m)
{
	size_t i;

	for (i = 0; i < G_N_ELEMENTS(iser_modes); i++)
		if (m == &iser_modes[i])
			return true;
	return false;
}

/* Listen on 127.0.0.1, port chosen by the kernel. */
static int listen_loopback(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Serve one connection: the login, then full feature phase. */
static int run(struct target *t)
{
	struct pdu *p = g_new0(struct pdu, 1);
	int rc = serve_login(t, p);

	if (rc < 0)
		rc = t->violations ? EXIT_VIOLATION : EXIT_SETUP;
	else if (rc > 0)
		rc = watch_after(t);
	else
		rc = serve(t, p);
	g_free(p);
	if (t->mute)
		note("left %u NOP-Out pings unanswered", t->nop_outs_ignored);
	if (t->pings_sent)
		note("%u of %u NOP-In pings answered", t->pings_answered, t->pings_sent);
	if (t->pings_sent && t->pings_answered != t->pings_sent)
		violation(t, "%u of %u NOP-In pings answered", t->pings_answered, t->pings_sent);
	if (t->stalled && !t->aborts_seen)
		violation(t, "the command left unanswered was never aborted");
	if (t->stalled && t->abort_answer == TMF_IGNORE && !t->resets_seen)
		violation(t, "ABORT TASK went unanswered and no LUN RESET followed");
	if (t->mode && !t->struck) {
		note("the trigger of %s never came", t->mode->name);
		return EXIT_SETUP;
	}
	if (t->unsent && !t->violations)
		return EXIT_SETUP;
	return t->violations ? EXIT_VIOLATION : rc;
}

static volatile sig_atomic_t stop_serving;

static void on_sigterm(int sig)
{
	(void)sig;
	stop_serving = 1;
}

/*
 * Wait for the next initiator: EVIL_WAIT_MS for the first, and with
 * --persistent for as long as no SIGTERM came. Returns the connection, or
 * -1 when there is none to serve.
 */
static int next_connection(int lfd, bool first, bool persistent)
{
	struct pollfd pfd = {.fd = lfd, .events = POLLIN};
	int n;

	do {
		if (stop_serving)
			return -1;
		n = poll(&pfd, 1, persistent && !first ? -1 : EVIL_WAIT_MS);
	} while (n < 0 && errno == EINTR);
	if (n != 1) {
		if (first)
			note("no initiator connected");
		return -1;
	}
	return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

/*
 * The next iSER initiator, as next_connection(): EVIL_WAIT_MS for the
 * first, then for as long as no SIGTERM came.
 */
static struct evil_iser *next_iser(struct evil_iser_listener *l, bool first)
{
	struct evil_iser *c;

	do {
		if (stop_serving)
			return NULL;
		errno = 0;
		c = evil_iser_accept(l, first ? EVIL_WAIT_MS : -1);
	} while (!c && errno == EINTR);
	if (!c && first)
		note("no initiator connected");
	return c;
}

static void on_sigusr1(int sig)
{
	(void)sig;
	disk.resize_armed = 1;
}

/* --limits ws=N,unmap=N,desc=N,gran=N,align=N[,nows]: each at least 1 (align 0 too). */
static int parse_limits(const char *spec)
{
	g_auto(GStrv) parts = g_strsplit(spec, ",", -1);
	guint i;

	disk.limits = true;
	disk.ws_max = disk.unmap_max = disk.desc_max = disk.gran = 1;
	for (i = 0; parts[i]; i++) {
		char *eq = strchr(parts[i], '='), *end;
		unsigned long v;

		if (!strcmp(parts[i], "nows")) {
			disk.no_ws = true;
			continue;
		}
		if (!eq)
			return -1;
		*eq = 0;
		v = strtoul(eq + 1, &end, 10);
		if (*end || v > 65535)
			return -1;
		if (!strcmp(parts[i], "ws"))
			disk.ws_max = (uint32_t)v;
		else if (!strcmp(parts[i], "unmap"))
			disk.unmap_max = (uint32_t)v;
		else if (!strcmp(parts[i], "desc"))
			disk.desc_max = (uint32_t)v;
		else if (!strcmp(parts[i], "gran"))
			disk.gran = (uint32_t)v;
		else if (!strcmp(parts[i], "align"))
			disk.align = (uint32_t)v;
		else
			return -1;
	}
	return disk.ws_max && disk.unmap_max && disk.desc_max && disk.gran ? 0 : -1;
}

int main(int argc, char **argv)
{
	g_autofree char *opt_mode = NULL;
	g_autofree char *opt_iqn = NULL;
	gboolean opt_list = FALSE;
	gboolean opt_persistent = FALSE;
	g_autofree char *opt_limits = NULL;
	g_autofree char *opt_iser = NULL;
	g_autofree char *opt_ring = NULL;
	gint64 opt_strike_lba = 4096;
	gint opt_later_after = 0;
	gboolean opt_wrong_stag = FALSE;
	gint64 opt_block = 512, opt_blocks = 8192, opt_resize = 0, opt_lifetime = EVIL_LIFETIME_S;
	gint64 opt_not_ready = 0;
	gint64 opt_phys_exp = 0;
	const GOptionEntry entries[] = {
	    {"misbehave", 'm', 0, G_OPTION_ARG_STRING, &opt_mode,
	     "How to break the protocol (none: a correct target)", "MODE"},
	    {"iqn", 0, 0, G_OPTION_ARG_STRING, &opt_iqn, "Our target name", "IQN"},
	    {"list", 0, 0, G_OPTION_ARG_NONE, &opt_list, "List the modes", NULL},
	    {"persistent", 0, 0, G_OPTION_ARG_NONE, &opt_persistent,
	     "Serve connection after connection, misbehaving on each, until SIGTERM", NULL},
	    {"block-size", 0, 0, G_OPTION_ARG_INT64, &opt_block, "Logical block size (512)", "N"},
	    {"blocks", 0, 0, G_OPTION_ARG_INT64, &opt_blocks, "Size in blocks (8192)", "N"},
	    {"physical-exponent", 0, 0, G_OPTION_ARG_INT64, &opt_phys_exp,
	     "Logical blocks per physical block, as a power of 2 (0)", "N"},
	    {"limits", 0, 0, G_OPTION_ARG_STRING, &opt_limits,
	     "Declare and enforce block limits: ws=N,unmap=N,desc=N,gran=N,align=N[,nows]", "SPEC"},
	    {"lifetime", 0, 0, G_OPTION_ARG_INT64, &opt_lifetime,
	     "Give up after S seconds whatever happens (a hang guard; 120)", "S"},
	    {"resize-to", 0, 0, G_OPTION_ARG_INT64, &opt_resize,
	     "On SIGUSR1, change the size to N blocks (the next command gets UNIT ATTENTION)", "N"},
	    {"not-ready", 0, 0, G_OPTION_ARG_INT64, &opt_not_ready,
	     "Answer the first N READs and WRITEs NOT READY, ALUA transition (-1: all)", "N"},
	    {"iser", 0, 0, G_OPTION_ARG_STRING, &opt_iser,
	     "Serve iSER over rdma_cm on ADDR, connection after connection", "ADDR"},
	    {"strike-lba", 0, 0, G_OPTION_ARG_INT64, &opt_strike_lba,
	     "An iSER mode strikes on the READ or WRITE starting at LBA N (4096)", "N"},
	    {"later-after-writes", 0, 0, G_OPTION_ARG_INT, &opt_later_after,
	     "stale-stag, read-after-response: strike only after N more WRITEs were served (0)",
	     "N"},
	    {"send-ring-from", 0, 0, G_OPTION_ARG_FILENAME, &opt_ring,
	     "send-ring: the initiator's -v log, naming its send ring", "FILE"},
	    {"wrong-stag", 0, 0, G_OPTION_ARG_NONE, &opt_wrong_stag,
	     "Hostile accesses with an STag never advertised (any initiator refuses them: "
	     "a check of the test itself)",
	     NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- a hostile iSCSI target");
	g_autoptr(GError) err = NULL;
	struct sigaction sa = {.sa_handler = on_sigterm};
	struct target t = {.fd = -1}, proto;
	struct evil_iser_listener *il = NULL;
	unsigned conns = 0, struck = 0;
	int lfd = -1, fd = -1, rc = EXIT_BEHAVED, conn_rc;
	size_t i;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		note("%s", err->message);
		return EXIT_SETUP;
	}
	if (opt_list) {
		for (i = 0; i < G_N_ELEMENTS(modes); i++)
			printf("%-19s %s%s\n", modes[i].name, modes[i].help,
			       modes[i].digest ? " (needs digests)" : "");
		for (i = 0; i < G_N_ELEMENTS(iser_modes); i++)
			printf("%-19s %s (--iser)\n", iser_modes[i].name, iser_modes[i].help);
		return 0;
	}
	if (!opt_mode || (strcmp(opt_mode, "none") && !(t.mode = find_mode(opt_mode)))) {
		note("--misbehave MODE is required: none or one of --list");
		return EXIT_SETUP;
	}
	t.iser_mode = t.mode && is_iser_mode(t.mode);
	/*
	 * Leaving a READ unanswered until ABORT TASK or LUN RESET ends it
	 * takes no transport of its own: over iSER it checks that the
	 * initiator keeps the connection and ends the command's STag.
	 */
	if (t.mode && t.iser_mode != !!opt_iser &&
	    !(opt_iser &&
	      (t.mode->fn == misbehave_stall_abort || t.mode->fn == misbehave_stall_reset))) {
		note("%s %s", t.mode->name,
		     opt_iser ? "is a TCP mode: over iSER only the iSER modes of --list"
			      : "is an iSER mode: it needs --iser ADDR");
		return EXIT_SETUP;
	}
	if ((opt_block != 512 && opt_block != 4096) || opt_blocks < 16 || opt_blocks > (1 << 20) ||
	    opt_resize < 0 || opt_resize > (1 << 20) || opt_lifetime < 1 || opt_lifetime > 3600 ||
	    opt_phys_exp < 0 || opt_phys_exp > 8 || opt_strike_lba < 0 ||
	    (opt_limits && parse_limits(opt_limits) < 0)) {
		note("bad --block-size (512 or 4096), --blocks, --resize-to (16 to 1048576) or "
		     "--limits (ws=N,unmap=N,desc=N,gran=N,align=N[,nows])");
		return EXIT_SETUP;
	}
	disk.block = (uint32_t)opt_block;
	disk.phys_exp = (uint8_t)opt_phys_exp;
	disk.blocks = (uint64_t)opt_blocks;
	disk.resize_to = (uint64_t)opt_resize;
	disk.not_ready = opt_not_ready < 0 ? -1 : opt_not_ready;
	t.iqn = opt_iqn ? opt_iqn : "iqn.2026-11.org.iser-attach.test:evil";
	t.statsn = 0x1000;
	t.next_ttt = 0x7e000000;
	t.init_mrdsl = 8192;
	t.max_burst = EVIL_MAX_BURST;
	t.strike_lba = (uint64_t)opt_strike_lba;
	t.later_after = opt_later_after > 0 ? (uint32_t)opt_later_after : 0;
	t.ring_file = opt_ring;
	t.wrong_stag = opt_wrong_stag;
	g_queue_init(&t.backlog);
	alarm((unsigned)opt_lifetime);

	if (opt_iser) {
		il = evil_iser_listen(opt_iser, &t.port);
		if (!il) {
			note("cannot listen with rdma_cm on %s: %s", opt_iser, g_strerror(errno));
			return EXIT_SETUP;
		}
		note("listening for iSER on %s port %u", opt_iser, t.port);
	} else {
		lfd = listen_loopback(&t.port);
		if (lfd < 0) {
			note("cannot listen on 127.0.0.1: %s", g_strerror(errno));
			return EXIT_SETUP;
		}
	}
	printf("%u\n", t.port);
	fflush(stdout);
	/* No SA_RESTART: SIGTERM ends the wait for the next connection. */
	sigaction(SIGTERM, &sa, NULL);
	if (disk.resize_to) {
		struct sigaction su = {.sa_handler = on_sigusr1, .sa_flags = SA_RESTART};

		sigaction(SIGUSR1, &su, NULL);
	}
	/* Room for the hostile modes' fixed offsets, and for a resize. */
	disk.data = g_malloc0(MAX((size_t)MAX(disk.blocks, disk.resize_to) * disk.block,
				  (size_t)EVIL_BLOCKS * EVIL_BLOCK));
	for (i = 0; i < (size_t)disk.blocks * disk.block; i++)
		disk.data[i] = (uint8_t)(i * 7 + (i >> 9));
	t.lun = disk.data;
	proto = t;

	for (;;) {
		struct evil_iser *ic = NULL;

		if (il) {
			ic = next_iser(il, conns == 0);
			if (!ic)
				break;
		} else if ((fd = next_connection(lfd, conns == 0, opt_persistent)) < 0) {
			break;
		}
		/* Each connection meets the target afresh, as after a restart. */
		t = proto;
		g_queue_init(&t.backlog);
		t.fd = fd;
		t.iser = ic;
		/* Over iSER the initiator recovers on correct connections. */
		if (il && !opt_persistent && struck)
			t.mode = NULL;
		conns++;
		conn_rc = run(&t);
		if (t.mode && t.mode->digest && !(t.hdigest && t.ddigest))
			conn_rc = EXIT_SETUP;
		struck += t.struck;
		/* A later connection that only logs in and out never meets the trigger. */
		if ((opt_persistent || il) && conns > 1 && conn_rc == EXIT_SETUP && !t.struck &&
		    !t.violations && !t.unsent)
			conn_rc = EXIT_BEHAVED;
		if (opt_persistent || il)
			note("connection %u: exit %d", conns, conn_rc);
		if (conn_rc != EXIT_BEHAVED && (rc == EXIT_BEHAVED || conn_rc == EXIT_VIOLATION))
			rc = conn_rc;
		if (t.fd >= 0)
			close(t.fd);
		evil_iser_close(t.iser);
		g_queue_clear_full(&t.backlog, g_free);
		g_clear_pointer(&t.late_data, g_free);
		if (!opt_persistent && !il)
			break;
	}
	if (lfd >= 0)
		close(lfd);
	evil_iser_listener_close(il);
	if (!conns)
		rc = EXIT_SETUP;
	if (proto.mode && !struck)
		rc = rc == EXIT_VIOLATION ? rc : EXIT_SETUP;
	if (opt_persistent || il)
		note("served %u connections, misbehaved on %u", conns, struck);
	note("exit %d: %s", rc,
	     rc == EXIT_BEHAVED	    ? "the initiator behaved"
	     : rc == EXIT_VIOLATION ? (il ? "the initiator broke the protocol or let a hostile "
					    "RDMA access land"
					  : "the initiator broke the protocol")
	     : rc == EXIT_STUCK	    ? "the initiator got stuck"
				    : "setup error");
	g_free(disk.data);
	return rc;
}
