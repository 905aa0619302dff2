// SPDX-License-Identifier: LGPL-2.1-or-later
/* What both datamovers build the same way (see dm-common.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "datamover/dm-common.h"

struct addrinfo *dm_resolve(const char *host, uint16_t port, GQuark domain, GError **err)
{
	const struct addrinfo hints = {
	    .ai_family = AF_UNSPEC,
	    .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV,
	};
	struct addrinfo *res = NULL;
	char serv[8];
	int rc;

	snprintf(serv, sizeof(serv), "%u", port);
	rc = getaddrinfo(host, serv, &hints, &res);
	if (rc) {
		g_set_error(err, domain, rc == EAI_SYSTEM ? errno : ENOENT, "cannot resolve %s: %s",
			    host, rc == EAI_SYSTEM ? g_strerror(errno) : gai_strerror(rc));
		return NULL;
	}
	return res;
}

void dm_params_login(struct dm_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_recv_dsl = 8192;
	p->max_xmit_dsl = 8192;
	p->first_burst = 65536;
	p->max_burst = 262144;
	p->max_outstanding_r2t = 1;
}

void dm_data_out_bhs(struct iscsi_data_out *h, const uint8_t lun[8], uint32_t itt, uint32_t ttt_net,
		     uint32_t exp_statsn, uint32_t datasn, uint32_t offset, bool final)
{
	memset(h, 0, sizeof(*h));
	h->opcode = ISCSI_OP_DATA_OUT;
	if (final)
		h->flags = ISCSI_FLAG_FINAL;
	memcpy(h->lun, lun, sizeof(h->lun));
	h->itt = htonl(itt);
	h->ttt = ttt_net;
	h->exp_statsn = htonl(exp_statsn);
	h->datasn = htonl(datasn);
	h->offset = htonl(offset);
}
