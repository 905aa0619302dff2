/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What both datamovers (tcp.c, iser.c) do the same way: the values in
 * force during login, the header of a Data-Out PDU, and resolving the
 * portal they connect to.
 */
#ifndef ISA_DM_COMMON_H
#define ISA_DM_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <netdb.h>
#include <glib.h>

#include "common/iscsi-proto.h"
#include "datamover/datamover.h"

/*
 * dm_params_login() - @p as RFC 7143 has it before set_params(): 8192-byte
 * data segments (12.12), FirstBurstLength 65536, MaxBurstLength 262144,
 * MaxOutstandingR2T 1, no digests.
 */
void dm_params_login(struct dm_params *p);

/**
 * dm_data_out_bhs() - the BHS of a Data-Out PDU (DataSegmentLength 0: the
 * datamover sets it as it sends).
 * @h: filled
 * @lun: the task's LUN field
 * @itt: its Initiator Task Tag (host order)
 * @ttt_net: the Target Transfer Tag, in network order as an R2T carried it
 *	     (0xffffffff for unsolicited data)
 * @exp_statsn: ExpStatSN
 * @datasn: DataSN of this PDU within its burst
 * @offset: Buffer Offset
 * @final: the last PDU of the burst (F bit)
 */
void dm_data_out_bhs(struct iscsi_data_out *h, const uint8_t lun[8], uint32_t itt, uint32_t ttt_net,
		     uint32_t exp_statsn, uint32_t datasn, uint32_t offset, bool final);

/**
 * dm_resolve() - the addresses to try for @host, port @port, in order.
 * @host: a name, IPv4 or IPv6 literal (a name may block in getaddrinfo())
 * @port: the portal's port
 * @domain: the error domain of the datamover asking
 * @err: "cannot resolve HOST: why" on failure
 *
 * Return: the list (freeaddrinfo() it), or NULL with @err set.
 */
struct addrinfo *dm_resolve(const char *host, uint16_t port, GQuark domain, GError **err);

#endif
