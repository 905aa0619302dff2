// SPDX-License-Identifier: LGPL-2.1-or-later
/* The pinned-memory check of iser-attach (see memlock.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <glib.h>

#include "cmd/memlock.h"
#include "include/iser-attach.h"

/* CAP_IPC_LOCK in the effective set (bit 14 of CapEff). */
static bool has_ipc_lock(void)
{
	g_autofree char *status = NULL;
	const char *p;
	guint64 caps;

	if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL))
		return false;
	p = strstr(status, "\nCapEff:");
	if (!p)
		return false;
	caps = g_ascii_strtoull(p + 8, NULL, 16);
	return caps & (1ull << 14);
}

static char *mib(uint64_t n)
{
	return g_strdup_printf("%.1f MiB", (double)n / (1 << 20));
}

int memlock_check(uint64_t pinned, uint64_t max_pinned, uint64_t largest, GError **err)
{
	uint64_t need = pinned + largest;
	g_autofree char *need_s = mib(need);
	g_autofree char *ctl_s = mib(pinned);
	g_autofree char *big_s = mib(largest);
	struct rlimit rl;

	if (max_pinned && need > max_pinned) {
		g_autofree char *max_s = mib(max_pinned);

		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED,
			    "--max-pinned is %s, but iSER needs at least %s pinned: %s of control "
			    "memory and one %s request",
			    max_s, need_s, ctl_s, big_s);
		return -1;
	}
	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || has_ipc_lock())
		return 0;
	if (need > rl.rlim_cur) {
		g_autofree char *lim_s = mib(rl.rlim_cur);

		g_set_error(
		    err, ISA_ERROR, ISA_ERROR_UNSUPPORTED,
		    "RLIMIT_MEMLOCK is %s, but iSER needs at least %s pinned: %s of control "
		    "memory and one %s request; raise it (ulimit -l %" PRIu64
		    ", LimitMEMLOCK= in a systemd unit) or use --transport tcp",
		    lim_s, need_s, ctl_s, big_s, (need + 1023) >> 10);
		return -1;
	}
	return 0;
}
