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
 * for the first.
 *
 * Replayed RDMA Reads. An RC responder keeps its last RDMA Read requests
 * (as many as the responder resources we grant, ISER_READ_REPLAYS) and
 * answers a duplicate of one again, through the STag it named: on
 * rdma_rxe it looks the key up again and, the registration gone, moves
 * our QP to the error state (rxe_resp.c, rxe_recheck_mr()). The target
 * ignores the NAK, the PSN being old. rdma_rxe's requester sends such
 * duplicates often under load: 2,533 duplicate requests on our side
 * (`rdma statistic`, duplicate_request) in one tgtd restart of
 * test-fault-iser.sh, and after a reconnect the QP failed that way in 2 of
 * 3 runs (tgt once even matched the replayed data to a newer Read and
 * failed it with a local protection error). So in mr mode the window of a
 * WRITE (remote read only) is not dropped at its response but retired:
 * the target may still read it, never write it, until ISER_READ_REPLAYS
 * WRITEs sent after that response have been answered, each with an RDMA
 * Read of its own, newer in the responder's list, which pushes the old
 * one out: a duplicate of it is then dropped unanswered. Windows of READs
 * (remote write) are dropped at the response: a duplicate RDMA Write is
 * acknowledged, not executed. mw mode invalidates both at the response,
 * which explains the stalls it met on rxe (the same failures).
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
 * @seq: for a remote-read window, its number among those of the set
 * @retired_at: when retired, how many remote-read windows had been opened
 * @later: remote-read windows opened after @retired_at and answered since
 */
struct iser_win {
	struct ibv_mw *mw;
	struct ibv_mr *mr;
	uint32_t rkey;
	uint64_t seq;
	uint64_t retired_at;
	uint32_t later;
};

/**
 * wins_new() - the windows of one connection.
 * @pd: protection domain of the QP and the buffers
 * @replays: RDMA Read requests the responder keeps (responder resources)
 * @why: set to a line saying which kind is used and why
 *
 * Return: the set, in mw mode when the device has type 2 windows.
 */
struct iser_wins *wins_new(struct ibv_pd *pd, uint32_t replays, char **why);

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

/**
 * win_answered() - the command of @win, a remote-read window, is answered.
 * @w: the set
 * @win: the window (still open)
 *
 * Counts it as a newer RDMA Read for the windows retired before it was
 * opened, and drops those the target can no longer replay (see above).
 */
void win_answered(struct iser_wins *w, const struct iser_win *win);

/**
 * win_retire() - like win_close(), but in mr mode a remote-read window
 * stays registered until its RDMA Read can no longer be replayed.
 * @w: the set
 * @win: the window, or NULL
 */
void win_retire(struct iser_wins *w, struct iser_win *win);

/* Remote-read windows retired and still registered (mr mode). */
unsigned int wins_retiring(const struct iser_wins *w);

/* Destroys every window, bound or not (the QP is gone or in error). */
void wins_destroy(struct iser_wins *w);

#endif
