/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Generic netlink client for the nbd driver, with plain sockets: resolve
 * the family, then CONNECT / DISCONNECT / STATUS. Messages are small and
 * built in a fixed buffer; every reply is length-checked before use.
 */
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "include/iser-attach.h"
#include "nbd/netlink.h"

#define MSG_BUF 8192

/**
 * struct nlmsg - a netlink request under construction.
 * @nest: offsets of open nested attributes
 */
struct nlmsg {
	uint8_t buf[MSG_BUF];
	size_t len;
	size_t nest[4];
	unsigned depth;
	bool overflow;
};

static struct nlmsghdr *msg_start(struct nlmsg *m, uint16_t type, uint8_t cmd, uint16_t flags)
{
	struct nlmsghdr *h = (struct nlmsghdr *)m->buf;
	struct genlmsghdr *g = (struct genlmsghdr *)NLMSG_DATA(h);

	memset(m, 0, sizeof(*m));
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	h->nlmsg_seq = 1;
	g->cmd = cmd;
	g->version = 1;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
	return h;
}

static void attr_put(struct nlmsg *m, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = (struct nlattr *)(m->buf + m->len);
	size_t total = NLA_ALIGN(NLA_HDRLEN + len);

	if (m->len + total > sizeof(m->buf)) {
		m->overflow = true;
		return;
	}
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	/* A nest opens with no payload (data NULL), which memcpy may not get. */
	if (len > 0)
		memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	m->len += total;
}

static void attr_u32(struct nlmsg *m, uint16_t type, uint32_t v)
{
	attr_put(m, type, &v, sizeof(v));
}

static void attr_u64(struct nlmsg *m, uint16_t type, uint64_t v)
{
	attr_put(m, type, &v, sizeof(v));
}

static void nest_start(struct nlmsg *m, uint16_t type)
{
	m->nest[m->depth++] = m->len;
	attr_put(m, type | NLA_F_NESTED, NULL, 0);
}

static void nest_end(struct nlmsg *m)
{
	struct nlattr *a = (struct nlattr *)(m->buf + m->nest[--m->depth]);

	a->nla_len = (uint16_t)(m->len - m->nest[m->depth]);
}

/* Walk the attributes of a generic netlink payload. */
static const struct nlattr *attr_find(const uint8_t *p, size_t len, uint16_t type)
{
	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const struct nlattr *)p;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return NULL;
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
		size_t step = (size_t)NLA_ALIGN(a->nla_len);

		if (step >= len)
			return NULL;
		len -= step;
		p += step;
	}
	return NULL;
}

/*
 * Send @m and read the reply. Returns the length of the genl payload
 * copied to @reply (0 for a bare ACK), or -errno with @err set.
 */
static int transact(struct nlmsg *m, uint8_t *reply, size_t cap, const char *what, GError **err)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct nlmsghdr *h = (struct nlmsghdr *)m->buf;
	uint8_t buf[MSG_BUF];
	int fd, rc = -EIO;
	ssize_t n;

	if (m->overflow) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "%s: request too large", what);
		return -EMSGSIZE;
	}
	h->nlmsg_len = (uint32_t)m->len;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0 || sendto(fd, m->buf, m->len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED, "%s: netlink: %s", what,
			    g_strerror(errno));
		goto out;
	}
	for (;;) {
		const struct nlmsghdr *r = (const struct nlmsghdr *)buf;

		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			rc = -errno;
			g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED, "%s: netlink: %s", what,
				    g_strerror(errno));
			goto out;
		}
		if ((size_t)n < NLMSG_HDRLEN || r->nlmsg_len > (size_t)n ||
		    r->nlmsg_len < NLMSG_HDRLEN)
			break;
		if (r->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(r);

			if (r->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				break;
			if (e->error == 0) {
				rc = 0;
				goto out;
			}
			rc = e->error;
			g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED, "%s: %s", what,
				    g_strerror(-e->error));
			goto out;
		}
		if (r->nlmsg_len >= NLMSG_HDRLEN + GENL_HDRLEN) {
			size_t plen = r->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;

			plen = MIN(plen, cap);
			memcpy(reply, (const uint8_t *)NLMSG_DATA(r) + GENL_HDRLEN, plen);
			rc = (int)plen;
			/* A data reply is followed by an ACK when we asked for one; done. */
			goto out;
		}
		break;
	}
	g_set_error(err, ISA_ERROR, ISA_ERROR_PROTOCOL, "%s: malformed netlink reply", what);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* The id of the "nbd" family, or -1 when the driver is not loaded. */
static int family_id(GError **err)
{
	struct nlmsg m;
	uint8_t reply[MSG_BUF];
	const struct nlattr *a;
	int n;

	msg_start(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
	attr_put(&m, CTRL_ATTR_FAMILY_NAME, NBD_GENL_FAMILY_NAME, sizeof(NBD_GENL_FAMILY_NAME));
	n = transact(&m, reply, sizeof(reply), "nbd", NULL);
	a = n > 0 ? attr_find(reply, (size_t)n, CTRL_ATTR_FAMILY_ID) : NULL;
	if (!a || a->nla_len < NLA_HDRLEN + sizeof(uint16_t)) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED,
			    "the nbd kernel driver is not loaded (modprobe nbd)");
		return -1;
	}
	return *(const uint16_t *)((const uint8_t *)a + NLA_HDRLEN);
}

bool nbd_kernel_available(void)
{
	return family_id(NULL) >= 0;
}

int nbd_kernel_connect(int index, const int *fds, unsigned nfds, uint64_t size_bytes,
		       uint64_t block_size, uint64_t server_flags, unsigned timeout_s,
		       int *index_out, GError **err)
{
	int fam = family_id(err);
	uint8_t reply[MSG_BUF];
	const struct nlattr *a;
	struct nlmsg m;
	unsigned i;
	int n;

	if (fam < 0)
		return -1;
	msg_start(&m, (uint16_t)fam, NBD_CMD_CONNECT, NLM_F_ACK);
	if (index >= 0)
		attr_u32(&m, NBD_ATTR_INDEX, (uint32_t)index);
	attr_u64(&m, NBD_ATTR_SIZE_BYTES, size_bytes);
	attr_u64(&m, NBD_ATTR_BLOCK_SIZE_BYTES, block_size);
	attr_u64(&m, NBD_ATTR_SERVER_FLAGS, server_flags);
	attr_u64(&m, NBD_ATTR_DEAD_CONN_TIMEOUT, timeout_s);
	nest_start(&m, NBD_ATTR_SOCKETS);
	for (i = 0; i < nfds; i++) {
		nest_start(&m, NBD_SOCK_ITEM);
		attr_u32(&m, NBD_SOCK_FD, (uint32_t)fds[i]);
		nest_end(&m);
	}
	nest_end(&m);
	n = transact(&m, reply, sizeof(reply), "nbd connect", err);
	if (n < 0)
		return -1;
	a = attr_find(reply, (size_t)n, NBD_ATTR_INDEX);
	if (a && a->nla_len >= NLA_HDRLEN + sizeof(uint32_t))
		*index_out = (int)*(const uint32_t *)((const uint8_t *)a + NLA_HDRLEN);
	else if (index >= 0)
		*index_out = index;
	else {
		g_set_error(err, ISA_ERROR, ISA_ERROR_PROTOCOL,
			    "nbd connect: the driver did not say which device it used");
		return -1;
	}
	return 0;
}

int nbd_kernel_resize(int index, uint64_t size_bytes, uint64_t block_size, GError **err)
{
	int fam = family_id(err);
	struct nlmsg m;
	uint8_t reply[64];

	if (fam < 0)
		return -1;
	msg_start(&m, (uint16_t)fam, NBD_CMD_RECONFIGURE, NLM_F_ACK);
	attr_u32(&m, NBD_ATTR_INDEX, (uint32_t)index);
	attr_u64(&m, NBD_ATTR_SIZE_BYTES, size_bytes);
	attr_u64(&m, NBD_ATTR_BLOCK_SIZE_BYTES, block_size);
	return transact(&m, reply, sizeof(reply), "nbd reconfigure", err) < 0 ? -1 : 0;
}

int nbd_kernel_reconnect(int index, const int *fds, unsigned nfds, unsigned timeout_s, GError **err)
{
	int fam = family_id(err);
	uint8_t reply[MSG_BUF];
	struct nlmsg m;
	unsigned i;

	if (fam < 0)
		return -1;
	msg_start(&m, (uint16_t)fam, NBD_CMD_RECONFIGURE, NLM_F_ACK);
	attr_u32(&m, NBD_ATTR_INDEX, (uint32_t)index);
	attr_u64(&m, NBD_ATTR_DEAD_CONN_TIMEOUT, timeout_s);
	nest_start(&m, NBD_ATTR_SOCKETS);
	for (i = 0; i < nfds; i++) {
		nest_start(&m, NBD_SOCK_ITEM);
		attr_u32(&m, NBD_SOCK_FD, (uint32_t)fds[i]);
		nest_end(&m);
	}
	nest_end(&m);
	return transact(&m, reply, sizeof(reply), "nbd reconfigure", err) < 0 ? -1 : 0;
}

int nbd_kernel_disconnect(int index, GError **err)
{
	int fam = family_id(err);
	struct nlmsg m;
	uint8_t reply[64];

	if (fam < 0)
		return -1;
	msg_start(&m, (uint16_t)fam, NBD_CMD_DISCONNECT, NLM_F_ACK);
	attr_u32(&m, NBD_ATTR_INDEX, (uint32_t)index);
	return transact(&m, reply, sizeof(reply), "nbd disconnect", err) < 0 ? -1 : 0;
}

int nbd_kernel_status(int index, bool *connected, GError **err)
{
	int fam = family_id(err);
	uint8_t reply[MSG_BUF];
	const struct nlattr *list, *item, *c;
	struct nlmsg m;
	int n;

	if (fam < 0)
		return -1;
	msg_start(&m, (uint16_t)fam, NBD_CMD_STATUS, 0);
	attr_u32(&m, NBD_ATTR_INDEX, (uint32_t)index);
	n = transact(&m, reply, sizeof(reply), "nbd status", err);
	if (n < 0)
		return -1;
	list = attr_find(reply, (size_t)n, NBD_ATTR_DEVICE_LIST);
	item = list ? attr_find((const uint8_t *)list + NLA_HDRLEN, list->nla_len - NLA_HDRLEN,
				NBD_DEVICE_ITEM)
		    : NULL;
	c = item ? attr_find((const uint8_t *)item + NLA_HDRLEN, item->nla_len - NLA_HDRLEN,
			     NBD_DEVICE_CONNECTED)
		 : NULL;
	if (!c || c->nla_len < NLA_HDRLEN + sizeof(uint8_t)) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_PROTOCOL, "nbd status: no device %d", index);
		return -1;
	}
	*connected = *((const uint8_t *)c + NLA_HDRLEN) != 0;
	return 0;
}
