/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iser-attach public C API: a userspace iSCSI initiator.
 *
 *   session = isa_session_open(portal, target, &opts, &err);   login (blocking)
 *   lun     = isa_lun_open(session, 1, &err);                   probe (blocking)
 *   buf     = isa_buf_alloc(session, len);
 *   isa_read(lun, offset, len, buf, done_cb, opaque);           asynchronous
 *   ...poll isa_session_get_fd() for POLLIN, then isa_session_service()...
 *   isa_lun_close(lun); isa_session_close(session);             logout
 *
 * Everything runs on the caller's thread: completion callbacks are called
 * from isa_session_service() (or from the blocking calls), never from
 * another thread. A session is not thread-safe; drive it from one thread.
 *
 * Payload buffers should come from isa_buf_alloc(): on iSER they must lie in
 * memory registered for RDMA; on TCP Data-In is received straight into them
 * and Data-Out is sent straight from them, without copying.
 */
#ifndef ISER_ATTACH_H
#define ISER_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error domain of every GError this API sets; codes are enum isa_error. */
#define ISA_ERROR (isa_error_quark())
GQuark isa_error_quark(void);

/**
 * enum isa_error - why an operation failed, stable for scripts.
 * @ISA_ERROR_USAGE: bad argument (portal syntax, unaligned offset, ...)
 * @ISA_ERROR_CONNECT: the portal could not be reached
 * @ISA_ERROR_AUTH: authentication failed (CHAP)
 * @ISA_ERROR_NOT_FOUND: no such target or LUN, or not allowed to see it
 * @ISA_ERROR_PROTOCOL: the target broke the protocol
 * @ISA_ERROR_TARGET: the target reported an error (login status, sense)
 * @ISA_ERROR_TIMEOUT: no answer in time
 * @ISA_ERROR_UNSUPPORTED: a transport or feature that is not available
 */
enum isa_error {
	ISA_ERROR_USAGE = 1,
	ISA_ERROR_CONNECT,
	ISA_ERROR_AUTH,
	ISA_ERROR_NOT_FOUND,
	ISA_ERROR_PROTOCOL,
	ISA_ERROR_TARGET,
	ISA_ERROR_TIMEOUT,
	ISA_ERROR_UNSUPPORTED,
};

enum isa_transport {
	ISA_TRANSPORT_AUTO = 0,
	ISA_TRANSPORT_TCP,
	ISA_TRANSPORT_ISER,
};

/**
 * struct isa_options - how to log in. Zero-initialise, then set what you need.
 * @initiator_name: our IQN; NULL for a name derived from the host name
 * @initiator_alias: InitiatorAlias, or NULL
 * @chap_user: CHAP name we present; NULL for no authentication
 * @chap_secret: its secret (at least 12 bytes is what RFC 7143 asks for)
 * @mutual_user: the name the target must present (mutual CHAP), or NULL
 * @mutual_secret: the target's secret for mutual CHAP
 * @header_digest: ask for CRC32C header digests
 * @data_digest: ask for CRC32C data digests
 * @transport: TCP, iSER or auto
 * @timeout_ms: connect and login timeout; 0 for 15 s
 * @queue_depth: most commands in flight; 0 for 128 (the target's CmdSN
 *		 window still applies)
 * @nop_interval_s: NOP-Out keepalive interval; 0 for 5 s
 * @nop_timeout_s: declare the connection dead when a NOP-Out is not
 *		   answered in this time; 0 for 15 s
 * @max_recv_segment: our MaxRecvDataSegmentLength; 0 for 256 KiB
 * @max_burst: MaxBurstLength to offer; 0 for 16 MiB - 1 KiB
 * @first_burst: FirstBurstLength to offer; 0 for 256 KiB
 * @command_timeout_s: a SCSI command the target leaves unanswered this
 *	long is aborted (ABORT TASK; LUN RESET when that fails; the
 *	connection is dropped when that fails too) and sent again, up to 3
 *	times before it fails with -ETIMEDOUT; 0 for 30 s
 * @replacement_timeout_s: when the connection is lost, log in again (same
 *	ISID: session reinstatement at error recovery level 0) with backoff
 *	for up to this long, then resend the commands that were in flight;
 *	requests wait meanwhile and fail with -ENOTCONN only after it.
 *	0: no recovery, the first connection failure fails the session.
 * @max_pinned: most bytes of memory iSER keeps registered (pinned) for
 *	RDMA: buffers past it wait for one to come back; 0 for 64 MiB
 */
struct isa_options {
	const char *initiator_name;
	const char *initiator_alias;
	const char *chap_user;
	const char *chap_secret;
	const char *mutual_user;
	const char *mutual_secret;
	bool header_digest;
	bool data_digest;
	enum isa_transport transport;
	int timeout_ms;
	uint32_t queue_depth;
	uint32_t nop_interval_s;
	uint32_t nop_timeout_s;
	uint32_t max_recv_segment;
	uint32_t max_burst;
	uint32_t first_burst;
	uint32_t replacement_timeout_s;
	uint32_t command_timeout_s;
	uint64_t max_pinned;
};

struct isa_session;
struct isa_lun;

/**
 * isa_session_open() - connect and log in to @target at @portal.
 * @portal: "host", "host:port", "[v6addr]" or "[v6addr]:port"; port 3260
 * @target: the target's IQN
 *
 * Blocks until the session is in full feature phase or has failed. Login
 * redirects are followed. Returns NULL with @err set on failure.
 */
struct isa_session *isa_session_open(const char *portal, const char *target,
				     const struct isa_options *opts, GError **err);

/*
 * isa_session_open_later() - a session to @target at @portal that logs in
 * in the background, for a path that is down now: no connect is made
 * here; serving the session (its fd, isa_session_service()) makes
 * attempts, backing off from 250 ms to 8 s, until one logs in. An
 * authentication failure (or a usage error) ends it for good, at once; a
 * target not found at the portal (login status 0x0203, 0x0204) is retried
 * for the replacement timeout, then ends it; anything else (no connection,
 * a timeout, a target error) is retried for as long as it takes. Meant for
 * isa_lun_add_path_later(). Returns NULL with @err set only for a bad
 * portal or transport.
 */
struct isa_session *isa_session_open_later(const char *portal, const char *target,
					   const struct isa_options *opts, GError **err);

/* Log out (bounded wait), fail what is still in flight, free. */
void isa_session_close(struct isa_session *s);

/*
 * isa_session_cork() - batch what is sent: between cork(true) and
 * cork(false) (nestable) the commands submitted are queued, and the
 * uncork sends them together, in one system call where the transport can.
 * For an owner that submits many requests in one turn of its loop.
 */
void isa_session_cork(struct isa_session *s, bool on);

/* An fd that becomes readable when isa_session_service() has work. */
int isa_session_get_fd(struct isa_session *s);

/*
 * Do whatever is ready without blocking: receive, send, complete
 * callbacks, keepalive. Returns 0, or -1 once the session has failed
 * (every outstanding request has then been completed with an error).
 */
int isa_session_service(struct isa_session *s);

/*
 * isa_session_complete() - the part of isa_session_service() that needs
 * no system call: send what the window allows of the requests submitted,
 * run the callbacks of those complete. For a loop that polled the fd and
 * found it quiet, or that submitted requests after isa_session_service()
 * in the same turn. Returns as isa_session_service() does.
 */
int isa_session_complete(struct isa_session *s);

/*
 * Serve the session until @done becomes true, the session fails or
 * @timeout_ms passes (-1: no limit). Returns 0 when @done, -1 otherwise.
 */
int isa_session_run(struct isa_session *s, const bool *done, int timeout_ms);

/* Why the session failed, or NULL while it is healthy. */
const char *isa_session_error(const struct isa_session *s);

/* "logged-in", "recovering" (reconnecting after a lost connection) or "failed". */
const char *isa_session_state_name(const struct isa_session *s);

/*
 * End the session for good, without logging out, whatever its state: every
 * command it holds completes with an error (-ENOTCONN) carrying @why, and
 * so does every later one. For an owner that cannot wait for a recovery any
 * longer.
 */
void isa_session_abandon(struct isa_session *s, const char *why);

/**
 * struct isa_session_info - what login settled.
 */
struct isa_session_info {
	const char *target_name;
	const char *target_alias;
	const char *portal;
	const char *transport;
	uint16_t tsih;
	uint32_t max_recv_segment;
	uint32_t max_xmit_segment;
	uint32_t first_burst;
	uint32_t max_burst;
	bool initial_r2t;
	bool immediate_data;
	bool header_digest;
	bool data_digest;
	uint32_t max_outstanding_r2t;
};
void isa_session_get_info(const struct isa_session *s, struct isa_session_info *info);

/*
 * Command latency histogram: fixed log2 buckets. Bucket i counts the
 * commands that took at most ISA_LATENCY_MIN_US << i microseconds (and
 * more than the bound before it): 16 us, 32 us, ... 16.777216 s; bucket
 * ISA_LATENCY_BOUNDS those that took longer than every bound.
 */
#define ISA_LATENCY_MIN_US 16
#define ISA_LATENCY_BOUNDS 21

enum isa_dir {
	ISA_DIR_READ,
	ISA_DIR_WRITE,
	ISA_DIR_NONE,
	ISA_DIR_COUNT,
};

/**
 * struct isa_dir_stats - the commands of one data direction.
 * @commands: commands completed after being sent (also those that failed)
 * @latency_us_total: time from the last send to completion, summed
 * @latency_buckets: @commands by that time, not cumulative (see above)
 */
struct isa_dir_stats {
	uint64_t commands;
	uint64_t latency_us_total;
	uint64_t latency_buckets[ISA_LATENCY_BOUNDS + 1];
};

/**
 * struct isa_stats - counters of one session.
 * @commands: SCSI commands completed
 * @bytes_read: payload bytes read from the target
 * @bytes_written: payload bytes written to the target
 * @copied_bytes: payload bytes the data path had to memcpy (zero copy: 0)
 * @retries: commands retried after UNIT ATTENTION or BUSY
 * @errors: requests completed with an error
 * @latency_us_total: time from sending to completion, summed over the
 *		      completed commands (divide by @commands for the mean)
 * @reconnects: successful logins after a lost connection
 * @pinned_bytes: memory registered for RDMA now (iSER; 0 over TCP)
 * @connections_lost: connections lost in full feature phase (each one
 *		      starts a recovery when recovery is on)
 * @aborts: commands the target aborted at our request (ABORT TASK or LUN
 *	    RESET, after the command timeout) and that were sent again
 * @dir: the commands that were sent, by the direction of their data
 *	 (ISA_DIR_READ: Data-In, ISA_DIR_WRITE: Data-Out, ISA_DIR_NONE: no
 *	 data, such as SYNCHRONIZE CACHE), with their latency
 */
struct isa_stats {
	uint64_t commands;
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t copied_bytes;
	uint64_t retries;
	uint64_t errors;
	uint64_t latency_us_total;
	uint64_t reconnects;
	uint64_t connections_lost;
	uint64_t pinned_bytes;
	uint64_t aborts;
	struct isa_dir_stats dir[ISA_DIR_COUNT];
};
void isa_session_get_stats(const struct isa_session *s, struct isa_stats *st);

/* Payload buffers from the datamover's pool (page aligned). */
void *isa_buf_alloc(struct isa_session *s, size_t len);
void isa_buf_free(struct isa_session *s, void *buf, size_t len);

/**
 * struct isa_target - one SendTargets entry.
 * @name: target IQN
 * @portals: strings "host:port,tpgt" ("[v6]:port,tpgt" for IPv6)
 */
struct isa_target {
	char *name;
	GPtrArray *portals;
};

/*
 * SendTargets discovery at @portal. Returns an array of struct isa_target *
 * (free with g_ptr_array_unref), or NULL with @err set.
 */
GPtrArray *isa_discover(const char *portal, const struct isa_options *opts, GError **err);

/* LUNs the target reports (REPORT LUNS), blocking. */
GArray *isa_report_luns(struct isa_session *s, GError **err);

/**
 * struct isa_lun_info - what the LUN told us at open.
 * @lun: LUN number
 * @blocks: number of logical blocks
 * @block_size: logical block size in bytes
 * @physical_block_size: physical block size in bytes
 * @read_only: write protected (MODE SENSE WP bit)
 * @rotational: VPD B1 says it spins (or does not say)
 * @can_unmap: UNMAP works (VPD B2 LBPU)
 * @can_write_same_unmap: WRITE SAME(16) with UNMAP works (VPD B2 LBPWS)
 * @zeroes_after_unmap: unmapped blocks read back as zeroes (LBPRZ)
 * @max_transfer: largest single command we send, bytes (VPD B0 or ours)
 * @opt_transfer: optimal transfer granularity in bytes (0: not given)
 * @unmap_granularity: optimal unmap granularity in bytes (0: not given)
 * @vendor, @product, @revision: from standard INQUIRY
 * @serial: VPD 80
 * @id: best designator of VPD 83 ("naa.…", "eui.…", "t10.…") or ""
 */
struct isa_lun_info {
	uint32_t lun;
	uint64_t blocks;
	uint32_t block_size;
	uint32_t physical_block_size;
	bool read_only;
	bool rotational;
	bool can_unmap;
	bool can_write_same_unmap;
	bool zeroes_after_unmap;
	uint32_t max_transfer;
	uint32_t opt_transfer;
	uint32_t unmap_granularity;
	char vendor[9];
	char product[17];
	char revision[5];
	char serial[256];
	char id[256];
};

/*
 * Probe LUN @lun (TEST UNIT READY with UNIT ATTENTION retry, INQUIRY and
 * its VPD pages, READ CAPACITY, MODE SENSE). Blocking.
 */
struct isa_lun *isa_lun_open(struct isa_session *s, uint32_t lun, GError **err);

/*
 * Close a LUN before its session. Requests still in flight are completed
 * first (their callbacks run): up to 30 s, after which the session is
 * failed so that they complete with -ENOTCONN.
 */
void isa_lun_close(struct isa_lun *l);
const struct isa_lun_info *isa_lun_get_info(const struct isa_lun *l);

/*
 * isa_lun_on_resize() - call @fn(@opaque, @l) whenever the LUN's capacity
 * changed: the target reported UNIT ATTENTION CAPACITY DATA HAS CHANGED
 * (or REPORTED LUNS DATA HAS CHANGED), the LUN read its capacity again,
 * and isa_lun_get_info() now says the new size. Called from
 * isa_session_service(). Requests past a new, smaller end fail.
 */
typedef void (*isa_resize_fn)(void *opaque, struct isa_lun *l);
void isa_lun_on_resize(struct isa_lun *l, isa_resize_fn fn, void *opaque);

/*
 * Multipath: a LUN reached through several sessions (paths), each logged
 * in on its own (its own ISID), on one portal or several.
 *
 *   s1 = isa_session_open(portal1, ...); l = isa_lun_open(s1, 1, &err);
 *   s2 = isa_session_open(portal2, ...); isa_lun_add_path(l, s2, &err);
 *   ...poll isa_lun_get_fd(l), then isa_lun_service(l)...
 *   isa_lun_close(l); isa_session_close(s2); isa_session_close(s1);
 *
 * Requests go to one live path each (@policy); a FLUSH goes to every live
 * path and completes once all have. When a path loses its connection, the
 * commands it held are sent again at once on the others, and the path
 * reconnects in the background (backoff from 250 ms to 8 s) and rejoins.
 * While no path is up requests wait; once every path has been down for
 * the replacement timeout (of the first session) the LUN fails: every
 * request then completes with -ENOTCONN. Payload buffers come from the
 * first session (isa_buf_alloc()) whatever the path: iSER connections on
 * one device share their registered pool, so any path may be iSER or TCP.
 * With one path, the isa_lun_* loop calls below are those of its session.
 * With more, the first path is served by the thread that calls them and
 * every further path by an I/O thread of its own, started when it is
 * added (set ISER_ATTACH_PATH_THREADS=0 to serve every path from the
 * caller's thread); every callback still runs on the caller's thread.
 */
enum isa_path_policy {
	ISA_PATH_LEAST_OUTSTANDING = 0, /* the live path with the fewest commands held */
	ISA_PATH_ROUND_ROBIN,		/* each live path in turn */
};

/*
 * isa_lun_add_path() - reach @l through @s as well. Opens the same LUN
 * number on @s and compares its VPD 83 designator with @l's: a LUN that is
 * not the same one (or that names none) is refused with ISA_ERROR_NOT_FOUND. @s stays the caller's, to
 * close after isa_lun_close(). Blocking.
 */
int isa_lun_add_path(struct isa_lun *l, struct isa_session *s, GError **err);
/*
 * isa_lun_add_path_later() - @s (from isa_session_open_later(), or any
 * session not logged in) joins @l once it is: every time it reaches full
 * feature phase before it is shown to reach the same LUN, INQUIRY VPD
 * page 83 goes to it as an ordinary command, and only a designator equal
 * to @l's lets requests take the path ("joined" in the log). Another
 * designator, or none, leaves the path out for good ("refused": the
 * session is abandoned). Until then the path carries nothing. Not
 * blocking; fails (ISA_ERROR_UNSUPPORTED, ISA_ERROR_NOT_FOUND) as
 * isa_lun_add_path() does for what it can tell now.
 */
int isa_lun_add_path_later(struct isa_lun *l, struct isa_session *s, GError **err);
/*
 * Path @i's state: its session's (isa_session_state_name()), but
 * "joining" for a path not yet shown to reach the LUN and "refused" for
 * one shown to reach another.
 */
const char *isa_lun_path_state_name(const struct isa_lun *l, unsigned i);
void isa_lun_set_path_policy(struct isa_lun *l, enum isa_path_policy policy);
/* The paths: 1 for a LUN opened on one session; path 0 is that session. */
unsigned isa_lun_path_count(const struct isa_lun *l);
struct isa_session *isa_lun_path(const struct isa_lun *l, unsigned i);
/*
 * The ALUA state of path @i's target port group: "active/optimized",
 * "active/non-optimized", "standby", "unavailable", "offline",
 * "transitioning" (or "lba-dependent", "reserved"), or "-" for a target
 * without ALUA. Paths are chosen by it: optimized first, non-optimized
 * only while no optimized path is up, then transitioning; standby,
 * unavailable and offline never while commands can wait for another
 * (they wait at most the replacement timeout). With several paths it is
 * read again when it may have changed (UNIT ATTENTION 2A/06, a path back,
 * a refusal); with one, it is what the target said at open.
 */
const char *isa_lun_path_alua(const struct isa_lun *l, unsigned i);
/* Commands a session holds: sent and unanswered, or waiting to be sent. */
unsigned isa_session_outstanding(const struct isa_session *s);

/**
 * struct isa_path_status - one path of a LUN, as it is now.
 * @portal, @transport: where and how it goes (valid while the LUN is open)
 * @state: its session's state (isa_session_state_name())
 * @outstanding: commands its session holds
 * @stats: its session's counters
 */
struct isa_path_status {
	const char *portal;
	const char *transport;
	const char *state;
	unsigned outstanding;
	struct isa_stats stats;
};
/*
 * Path @i of @l. Paths after the first may run on I/O threads of their
 * own: read them with this, not with isa_session_* calls on
 * isa_lun_path(), while the LUN is open.
 */
void isa_lun_path_status(const struct isa_lun *l, unsigned i, struct isa_path_status *ps);

/* The isa_session_* loop calls, over every path of @l. */
int isa_lun_get_fd(struct isa_lun *l);
int isa_lun_service(struct isa_lun *l);
int isa_lun_complete(struct isa_lun *l);
void isa_lun_cork(struct isa_lun *l, bool on);
int isa_lun_run(struct isa_lun *l, const bool *done, int timeout_ms);
/* "logged-in" while a path is up, "recovering" while none is, "failed". */
const char *isa_lun_state_name(const struct isa_lun *l);
/* Why the LUN failed (every path), or NULL. */
const char *isa_lun_error(const struct isa_lun *l);
void isa_lun_abandon(struct isa_lun *l, const char *why);
/* Counters summed over the paths. */
void isa_lun_get_stats(const struct isa_lun *l, struct isa_stats *st);

/*
 * Completion of an asynchronous request: @err is 0 or a negative errno
 * (-EIO, -EROFS, -ENOSPC, -EINVAL, -ENOTCONN, ...), @msg a message for a
 * log line when @err is not 0 (valid only during the call).
 */
typedef void (*isa_done_fn)(void *opaque, int err, const char *msg);

#define ISA_REQ_FUA	  0x1 /* write: force unit access */
#define ISA_REQ_MAY_UNMAP 0x2 /* write-zeroes: may deallocate */
#define ISA_REQ_FAST_ZERO 0x4 /* write-zeroes: only if it is fast, else -ENOTSUP */

/*
 * Asynchronous I/O. Offsets and lengths are bytes, multiples of the block
 * size. Requests larger than the LUN's maximum transfer are split and
 * completed once, when every part is done. Requests beyond the command
 * window wait in order. Return 0 when queued (@done will be called), or a
 * negative errno when refused at once (@done is not called).
 */
int isa_read(struct isa_lun *l, uint64_t offset, uint32_t len, void *buf, isa_done_fn done,
	     void *opaque);
int isa_write(struct isa_lun *l, uint64_t offset, uint32_t len, const void *buf, unsigned flags,
	      isa_done_fn done, void *opaque);
int isa_flush(struct isa_lun *l, isa_done_fn done, void *opaque);
int isa_unmap(struct isa_lun *l, uint64_t offset, uint64_t len, isa_done_fn done, void *opaque);
int isa_write_zeroes(struct isa_lun *l, uint64_t offset, uint64_t len, unsigned flags,
		     isa_done_fn done, void *opaque);

/**
 * struct isa_extent - one run of blocks with the same provisioning state.
 * @offset: first byte
 * @length: bytes
 * @allocated: false when the target reports the blocks deallocated
 *	       (they then read as zeroes if the LUN has zeroes_after_unmap)
 */
struct isa_extent {
	uint64_t offset;
	uint64_t length;
	bool allocated;
};

typedef void (*isa_status_fn)(void *opaque, int err, const char *msg, const struct isa_extent *ext,
			      size_t n);

/*
 * Provisioning status of [@offset, @offset + @len) with GET LBA STATUS.
 * The extents cover a prefix of the range (at least one block); a LUN
 * without the command reports the whole range allocated. Same queueing
 * and return rules as isa_read().
 */
int isa_block_status(struct isa_lun *l, uint64_t offset, uint64_t len, isa_status_fn done,
		     void *opaque);

#ifdef __cplusplus
}
#endif

#endif
