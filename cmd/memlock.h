/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Whether iSER can pin what one attachment needs: the control memory it
 * holds once logged in, plus one largest request of the front end, under
 * both RLIMIT_MEMLOCK (unless the process has CAP_IPC_LOCK, which lifts
 * it for RDMA registration) and --max-pinned.
 */
#ifndef ISA_CMD_MEMLOCK_H
#define ISA_CMD_MEMLOCK_H

#include <stdint.h>
#include <glib.h>

/**
 * memlock_check() - fail when one largest request cannot be pinned.
 * @pinned: bytes pinned now (the control memory of a logged-in session)
 * @max_pinned: the --max-pinned bound in force
 * @largest: the largest buffer the front end asks for
 * @err: set with ISA_ERROR_UNSUPPORTED (exit 9), naming the limit
 *
 * Return: 0, or -1 with @err set.
 */
int memlock_check(uint64_t pinned, uint64_t max_pinned, uint64_t largest, GError **err);

#endif
