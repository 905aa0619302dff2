/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fixed newstyle handshake: greeting, client flags, then options
 * until NBD_OPT_EXPORT_NAME or NBD_OPT_GO moves the connection to the
 * transmission phase. Option data is bounded (NBD_MAX_OPTION_LEN) and so
 * is the number of options (NBD_MAX_OPTIONS); every length inside an
 * option is checked against what was received before it is used.
 */
#include <endian.h>
#include <string.h>

#include "nbd/internal.h"

/* Reads big-endian fields out of received option data without overrunning it. */
struct opt_cursor {
	const uint8_t *p;
	size_t left;
};

static bool get_u32(struct opt_cursor *cur, uint32_t *v)
{
	if (cur->left < 4)
		return false;
	memcpy(v, cur->p, 4);
	*v = be32toh(*v);
	cur->p += 4;
	cur->left -= 4;
	return true;
}

static bool get_u16(struct opt_cursor *cur, uint16_t *v)
{
	if (cur->left < 2)
		return false;
	memcpy(v, cur->p, 2);
	*v = be16toh(*v);
	cur->p += 2;
	cur->left -= 2;
	return true;
}

/* A string of @len bytes; false if it is not all there or too long for NBD. */
static bool get_str(struct opt_cursor *cur, uint32_t len, const char **s)
{
	if (len > cur->left || len > NBD_MAX_STRING)
		return false;
	*s = (const char *)cur->p;
	cur->p += len;
	cur->left -= len;
	return true;
}

uint16_t nbd_export_flags(const struct nbd_server *srv, bool structured)
{
	/*
	 * CAN_MULTI_CONN holds because every connection goes through the one
	 * iSCSI session and LUN of this server, with no cache of our own: a
	 * write is acknowledged only once the target has it, and FLUSH is
	 * SYNCHRONIZE CACHE of the whole LUN, so it covers writes completed
	 * on any connection.
	 */
	uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN;

	if (srv->read_only) {
		f |= NBD_FLAG_READ_ONLY;
	} else {
		f |= NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
		if (srv->info.can_unmap)
			f |= NBD_FLAG_SEND_TRIM;
	}
	if (srv->info.rotational)
		f |= NBD_FLAG_ROTATIONAL;
	/* Reads are always answered in one chunk, so DF is free to honour. */
	if (structured)
		f |= NBD_FLAG_SEND_DF;
	return f;
}

static uint64_t export_size(const struct nbd_server *srv)
{
	return srv->info.blocks * srv->info.block_size;
}

/* The default export "" is the configured one under another name. */
static bool name_matches(const struct nbd_server *srv, const char *name, uint32_t len)
{
	return len == 0 ||
	       (len == strlen(srv->export_name) && !memcmp(name, srv->export_name, len));
}

static void reply(struct nbd_conn *c, uint32_t type, const void *data, size_t len)
{
	struct nbd_option_reply h = {
	    .magic = htobe64(NBD_OPT_REPLY_MAGIC),
	    .option = htobe32(c->opt.option),
	    .type = htobe32(type),
	    .len = htobe32((uint32_t)len),
	};

	nbd_conn_queue(c, nbd_msg_new_bytes(&h, sizeof(h), data, len));
}

/* An error reply with a message the client can show. */
static void reply_err(struct nbd_conn *c, uint32_t type, const char *text)
{
	reply(c, type, text, strlen(text));
}

void nbd_hs_start(struct nbd_conn *c)
{
	struct nbd_greeting g = {
	    .nbdmagic = htobe64(NBD_MAGIC),
	    .ihaveopt = htobe64(NBD_IHAVEOPT),
	    .flags = htobe16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES),
	};

	nbd_conn_queue(c, nbd_msg_new_bytes(&g, sizeof(g), NULL, 0));
	nbd_conn_expect(c, NBD_RX_CLIENT_FLAGS, 4);
}

static void opt_export_name(struct nbd_conn *c, const uint8_t *data, uint32_t len)
{
	static const uint8_t zeroes[NBD_EXPORT_NAME_PAD];
	struct nbd_server *srv = c->srv;
	struct nbd_export_name_reply r;

	/* This option has no error reply: an unknown export ends the session. */
	if (!name_matches(srv, (const char *)data, len)) {
		nbd_conn_close(c);
		return;
	}
	nbd_tx_start(c);
	c->size_told = export_size(srv);
	r.size = htobe64(c->size_told);
	r.flags = htobe16(c->eflags);
	nbd_conn_queue(c,
		       nbd_msg_new_bytes(&r, sizeof(r), zeroes, c->no_zeroes ? 0 : sizeof(zeroes)));
}

static void opt_list(struct nbd_conn *c, uint32_t len)
{
	struct nbd_server *srv = c->srv;
	size_t nlen = strlen(srv->export_name);
	size_t dlen = strlen(srv->description);
	g_autofree uint8_t *buf = NULL;
	uint32_t be;

	if (len) {
		reply_err(c, NBD_REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
		return;
	}
	/* Name, then the human-readable description the spec allows after it. */
	buf = g_malloc(4 + nlen + dlen);
	be = htobe32((uint32_t)nlen);
	memcpy(buf, &be, 4);
	memcpy(buf + 4, srv->export_name, nlen);
	memcpy(buf + 4 + nlen, srv->description, dlen);
	reply(c, NBD_REP_SERVER, buf, 4 + nlen + dlen);
	reply(c, NBD_REP_ACK, NULL, 0);
}

static void info_string(struct nbd_conn *c, uint16_t type, const char *s)
{
	size_t len = strlen(s);
	g_autofree uint8_t *buf = g_malloc(2 + len);
	uint16_t be = htobe16(type);

	memcpy(buf, &be, 2);
	memcpy(buf + 2, s, len);
	reply(c, NBD_REP_INFO, buf, 2 + len);
}

static void opt_info_go(struct nbd_conn *c, const uint8_t *data, uint32_t len)
{
	struct nbd_server *srv = c->srv;
	struct opt_cursor cur = {data, len};
	bool want_name = false, want_desc = false;
	bool go = c->opt.option == NBD_OPT_GO;
	struct nbd_info_export ie;
	struct nbd_info_block_size ib;
	const char *name;
	uint32_t nlen;
	uint16_t nreq, i;

	if (!get_u32(&cur, &nlen) || !get_str(&cur, nlen, &name) || !get_u16(&cur, &nreq) ||
	    cur.left != (size_t)nreq * 2) {
		reply_err(c, NBD_REP_ERR_INVALID, "malformed NBD_OPT_INFO/NBD_OPT_GO");
		return;
	}
	if (!name_matches(srv, name, nlen)) {
		reply_err(c, NBD_REP_ERR_UNKNOWN, "no export of that name");
		return;
	}
	for (i = 0; i < nreq; i++) {
		uint16_t t = 0;

		get_u16(&cur, &t);
		want_name |= t == NBD_INFO_NAME;
		want_desc |= t == NBD_INFO_DESCRIPTION;
	}
	/* SEND_DF depends on structured replies, known by now. */
	ie.info = htobe16(NBD_INFO_EXPORT);
	c->size_told = export_size(srv);
	ie.size = htobe64(c->size_told);
	ie.flags = htobe16(nbd_export_flags(srv, c->structured));
	reply(c, NBD_REP_INFO, &ie, sizeof(ie));
	if (want_name)
		info_string(c, NBD_INFO_NAME, srv->export_name);
	if (want_desc && *srv->description)
		info_string(c, NBD_INFO_DESCRIPTION, srv->description);
	/*
	 * Always sent: the minimum is a real constraint (the LUN takes whole
	 * blocks only). The maximum is ours; the initiator splits requests
	 * larger than the target's maximum transfer.
	 */
	ib.info = htobe16(NBD_INFO_BLOCK_SIZE);
	ib.minimum = htobe32(srv->info.block_size);
	ib.preferred = htobe32(srv->pref_block);
	ib.maximum = htobe32(NBD_MAX_PAYLOAD);
	reply(c, NBD_REP_INFO, &ib, sizeof(ib));
	reply(c, NBD_REP_ACK, NULL, 0);
	if (go)
		nbd_tx_start(c);
}

static void reply_context(struct nbd_conn *c, uint32_t id)
{
	uint8_t buf[4 + sizeof(NBD_CONTEXT_BASE_ALLOCATION_NAME) - 1];
	uint32_t be = htobe32(id);

	memcpy(buf, &be, 4);
	memcpy(buf + 4, NBD_CONTEXT_BASE_ALLOCATION_NAME, sizeof(buf) - 4);
	reply(c, NBD_REP_META_CONTEXT, buf, sizeof(buf));
}

/* Does @q (of @len bytes) select base:allocation? For LIST, "base:" does too. */
static bool query_matches(const char *q, uint32_t len, bool list)
{
	const char *full = NBD_CONTEXT_BASE_ALLOCATION_NAME;

	if (len == strlen(full) && !memcmp(q, full, len))
		return true;
	return list && len == 5 && !memcmp(q, "base:", 5);
}

static void opt_meta_context(struct nbd_conn *c, const uint8_t *data, uint32_t len)
{
	struct nbd_server *srv = c->srv;
	bool list = c->opt.option == NBD_OPT_LIST_META_CONTEXT;
	struct opt_cursor cur = {data, len};
	bool match = false;
	const char *name;
	uint32_t nlen, nq, i;

	if (!c->structured) {
		reply_err(c, NBD_REP_ERR_INVALID, "structured replies must be negotiated first");
		return;
	}
	if (!get_u32(&cur, &nlen) || !get_str(&cur, nlen, &name) || !get_u32(&cur, &nq)) {
		reply_err(c, NBD_REP_ERR_INVALID, "malformed meta context option");
		return;
	}
	for (i = 0; i < nq; i++) {
		const char *q;
		uint32_t qlen;

		if (!get_u32(&cur, &qlen) || !get_str(&cur, qlen, &q)) {
			reply_err(c, NBD_REP_ERR_INVALID, "malformed meta context query");
			return;
		}
		match |= query_matches(q, qlen, list);
	}
	if (cur.left) {
		reply_err(c, NBD_REP_ERR_INVALID, "trailing bytes after meta context queries");
		return;
	}
	if (!name_matches(srv, name, nlen)) {
		reply_err(c, NBD_REP_ERR_UNKNOWN, "no export of that name");
		return;
	}
	/* Listing with no query lists everything; setting with none selects nothing. */
	if (list && nq == 0)
		match = true;
	if (!list)
		c->base_allocation = match;
	if (match)
		reply_context(c, list ? 0 : NBD_CONTEXT_BASE_ALLOCATION);
	reply(c, NBD_REP_ACK, NULL, 0);
}

static void option(struct nbd_conn *c, const uint8_t *data, uint32_t len)
{
	switch (c->opt.option) {
	case NBD_OPT_EXPORT_NAME:
		opt_export_name(c, data, len);
		break;
	case NBD_OPT_ABORT:
		reply(c, NBD_REP_ACK, NULL, 0);
		nbd_conn_stop_reading(c);
		break;
	case NBD_OPT_LIST:
		opt_list(c, len);
		break;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		opt_info_go(c, data, len);
		break;
	case NBD_OPT_STRUCTURED_REPLY:
		if (len) {
			reply_err(c, NBD_REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data");
			break;
		}
		c->structured = true;
		reply(c, NBD_REP_ACK, NULL, 0);
		break;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		opt_meta_context(c, data, len);
		break;
	default:
		reply_err(c, NBD_REP_ERR_UNSUP, "option not supported");
		break;
	}
}

static void option_header(struct nbd_conn *c)
{
	memcpy(&c->opt, c->rx, sizeof(c->opt));
	if (be64toh(c->opt.magic) != NBD_IHAVEOPT) {
		nbd_conn_close(c);
		return;
	}
	c->opt.option = be32toh(c->opt.option);
	c->opt.len = be32toh(c->opt.len);
	if (++c->nopts > NBD_MAX_OPTIONS || c->opt.len > NBD_MAX_OPTION_LEN) {
		/* EXPORT_NAME cannot be answered with an error: just close. */
		if (c->opt.option == NBD_OPT_EXPORT_NAME) {
			nbd_conn_close(c);
			return;
		}
		if (c->opt.len > NBD_MAX_OPTION_LEN)
			reply_err(c, NBD_REP_ERR_TOO_BIG, "option data too long");
		else
			reply_err(c, NBD_REP_ERR_POLICY, "too many options");
		nbd_conn_stop_reading(c);
		return;
	}
	if (!c->opt.len) {
		nbd_conn_expect(c, NBD_RX_OPT_HDR, sizeof(struct nbd_option));
		option(c, NULL, 0);
		return;
	}
	c->opt_data = g_malloc(c->opt.len);
	nbd_conn_expect(c, NBD_RX_OPT_DATA, c->opt.len);
}

void nbd_hs_input(struct nbd_conn *c)
{
	uint8_t *data;
	uint32_t flags;

	switch (c->rx_state) {
	case NBD_RX_CLIENT_FLAGS:
		memcpy(&flags, c->rx, 4);
		flags = be32toh(flags);
		if (flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
			nbd_conn_close(c);
			return;
		}
		c->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
		nbd_conn_expect(c, NBD_RX_OPT_HDR, sizeof(struct nbd_option));
		break;
	case NBD_RX_OPT_HDR:
		option_header(c);
		break;
	case NBD_RX_OPT_DATA:
		data = g_steal_pointer(&c->opt_data);
		nbd_conn_expect(c, NBD_RX_OPT_HDR, sizeof(struct nbd_option));
		option(c, data, c->opt.len);
		g_free(data);
		break;
	default:
		g_assert_not_reached();
	}
}
