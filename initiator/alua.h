/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ALUA (SPC-4 5.16) for multipath: which target port group each path's
 * port is in, and reading the groups' asymmetric access states again,
 * without blocking, when they may have changed. Internal to the library;
 * the LUN layer (lun.c) sets it up, the multipath layer (mpath.c) holds
 * the states and chooses by them.
 */
#ifndef ISA_ALUA_H
#define ISA_ALUA_H

#include <stdbool.h>
#include <stdint.h>

#include "initiator/mpath.h"
#include "initiator/scsi.h"

/**
 * struct alua_port - where a path's target port sits, from VPD page 83
 * @have_rel: @rel_port holds the relative target port identifier (type 4)
 * @have_tpg: @tpg holds the target port group (type 5)
 */
struct alua_port {
	bool have_rel;
	bool have_tpg;
	uint16_t rel_port;
	uint16_t tpg;
};

struct alua;

/* Bytes asked for by REPORT TARGET PORT GROUPS: room for 8 groups of 120 ports. */
#define ALUA_RTPG_LEN 4096

/*
 * ALUA for the paths of @m to LUN @lun. A re-read in flight counts in
 * *@outstanding, so that the LUN's close waits for it.
 */
struct alua *alua_new(struct mpath *m, uint32_t lun, unsigned *outstanding);
/* Stop hearing the paths' UNIT ATTENTIONs; nothing may be in flight (the LUN drained). */
void alua_free(struct alua *a);
/*
 * Path @i's port is @port; its group's state is @state (-1 unknown). From
 * now on its UNIT ATTENTIONs 2A/06, 2A/07 and NOT READY 04/0A make the
 * states be read again.
 */
void alua_add_path(struct alua *a, unsigned i, const struct alua_port *port, int state);
/* The state @groups give path @i's port, or -1 when no group names it. */
int alua_state_of(const struct scsi_tpg_list *groups, const struct alua_port *port);
/* Set every path's state from @groups (mpath_set_alua, which logs changes). */
void alua_apply(struct alua *a, const struct scsi_tpg_list *groups);
/*
 * Read the states again with REPORT TARGET PORT GROUPS, on path @i when it
 * is up, else on another that is: an ordinary task whose completion sets
 * them. One at a time; asked again meanwhile, one more follows it.
 */
void alua_reread(struct alua *a, unsigned i);

/*
 * A UNIT ATTENTION (or NOT READY) on one of the paths: the states are read
 * again when it says they changed (2A/06, 2A/07, 04/0A). Path 1's are
 * watched here; the multipath layer relays the others' (lun.c).
 */
void alua_unit_attention(void *opaque, uint32_t lun, uint8_t asc, uint8_t ascq);

#endif
