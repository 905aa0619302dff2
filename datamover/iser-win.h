/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the target may reach of our memory: one window per command and
 * direction, over exactly that command's buffer, from when the command is
 * sent until it is answered.
 *
 *   mw  a type 2 memory window (IBV_WR_BIND_MW), bound in the same post as
 *       the command's Send and invalidated by IBV_WR_LOCAL_INV when the
 *       SCSI Response arrives (targets are asked not to invalidate).
 *       Costs no system call of its own: the bind rides in the command's
 *       post, the invalidations of a batch of responses share one.
 *   mr  a memory region registered for the command (ibv_reg_mr) and
 *       deregistered when it is answered: two system calls and a page
 *       table walk per command, for devices without type 2 windows.
 *
 * The second is the default; ISA_ISER_WINDOWS=mw in the environment asks
 * for the first. On rdma_rxe (Linux 6.1) windows held up: under load with
 * retransmissions (tgtd killed and restarted under fio, 200 ms of netem
 * delay; tests/vm/test-fault-iser.sh) connections stalled until the
 * NOP-Out ping timed out, and the QP went to the error state with none of
 * our requests failed, which registrations per command never did; not
 * understood yet, so windows are not the default.
 * Windows bound to a connection's QP die with it: after a reconnect every
 * command is sent again with a new one.
 */
#ifndef ISA_ISER_WIN_H
#define ISA_ISER_WIN_H

#include <stdbool.h>
#include <stdint.h>
#include <infiniband/verbs.h>

struct iser_wins;

/**
 * struct iser_win - one window.
 * @mw: the memory window (mw mode)
 * @mr: the registration (mr mode)
 * @rkey: the STag the target is given
 */
struct iser_win {
	struct ibv_mw *mw;
	struct ibv_mr *mr;
	uint32_t rkey;
};

/**
 * wins_new() - the windows of one connection.
 * @pd: protection domain of the QP and the buffers
 * @why: set to a line saying which kind is used and why
 *
 * Return: the set, in mw mode when the device has type 2 windows.
 */
struct iser_wins *wins_new(struct ibv_pd *pd, char **why);

/* True in mw mode (binds and invalidations are work requests). */
bool wins_are_mw(const struct iser_wins *w);

/**
 * win_open() - a window over [@addr, @addr + @len) of @mr.
 * @w: the set
 * @mr: the MR the buffer lies in
 * @addr: start of the buffer
 * @len: its length
 * @access: IBV_ACCESS_REMOTE_WRITE (a read command) or _REMOTE_READ
 * @bind: in mw mode, filled with the bind work request to post before the
 *	  command's Send (its rkey is given to the window at win_posted())
 *
 * Return: the window, or NULL with errno.
 */
struct iser_win *win_open(struct iser_wins *w, struct ibv_mr *mr, const void *addr, uint32_t len,
			  int access, struct ibv_send_wr *bind);

/* The bind work request @wr has been posted: its STag is the window's now. */
void win_posted(const struct ibv_send_wr *wr);

/* Fills @wr with the local invalidation of @win (mw mode). */
void win_inv_wr(const struct iser_win *win, struct ibv_send_wr *wr);

/**
 * win_close() - give back a window the target can no longer use.
 * @w: the set
 * @win: the window, or NULL
 *
 * mw mode: @win must have been invalidated. mr mode: the registration is
 * dropped here, synchronously.
 */
void win_close(struct iser_wins *w, struct iser_win *win);

/* Destroys every window, bound or not (the QP is gone or in error). */
void wins_destroy(struct iser_wins *w);

#endif
