/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iser-detach EXPORT|--all: ask the serving process of an attachment to
 * stop (SIGTERM: it finishes in-flight requests, flushes, unexports and
 * logs out) and wait until it is gone. State left by a process that died
 * is removed.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "cmd/cli.h"
#include "cmd/state.h"
#include "nbd/netlink.h"

static const char *prog = "iser-detach";

/*
 * What the process may take beyond the timeout once it gives up on a
 * recovering session: failing what is in flight, unexporting, exiting.
 */
#define TEARDOWN_S 15

/*
 * SIGTERM carrying @timeout_s, which bounds how long the process waits for
 * a recovering session and for the flush; then wait for it to go. Returns
 * 0 once it is gone after a clean logout.
 */
static int detach_one(const struct attach_state *st, int timeout_s, gboolean quiet)
{
	gint64 deadline =
	    g_get_monotonic_time() + (gint64)(timeout_s + TEARDOWN_S) * G_USEC_PER_SEC;
	g_autofree char *result = NULL;
	gint64 next_note = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
	int pidfd;

	if (!state_alive(st)) {
		/*
		 * The daemon died without cleaning up: its state is stale. A
		 * kernel device it served still waits for a server (for
		 * iser-attach --resume); detaching means it waits no longer.
		 */
		if (!strcmp(st->kind, "nbd")) {
			g_autoptr(GError) err = NULL;
			int index;

			if (sscanf(st->export, "/dev/nbd%d", &index) == 1 &&
			    nbd_kernel_disconnect(index, &err) < 0)
				fprintf(stderr, "%s: %s: %s\n", prog, st->export, err->message);
		}
		state_remove(st->pid);
		if (!quiet)
			printf("removed stale %s (process %ld is gone)\n", st->export,
			       (long)st->pid);
		return 0;
	}
	if (sigqueue(st->pid, SIGTERM, (union sigval){.sival_int = timeout_s}) < 0 &&
	    errno != ESRCH) {
		fprintf(stderr, "%s: cannot signal process %ld: %s\n", prog, (long)st->pid,
			g_strerror(errno));
		return CLI_EXIT_FAILURE;
	}
	pidfd = (int)syscall(SYS_pidfd_open, st->pid, 0);
	while (state_alive(st)) {
		if (g_get_monotonic_time() > deadline) {
			fprintf(stderr,
				"%s: %s (process %ld) did not finish within %d s; it is still "
				"draining or flushing\n",
				prog, st->export, (long)st->pid, timeout_s + TEARDOWN_S);
			return CLI_EXIT_TIMEOUT;
		}
		if (!quiet && g_get_monotonic_time() > next_note) {
			fprintf(stderr, "%s: waiting for %s to flush and log out...\n", prog,
				st->export);
			next_note = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
		}
		/* A pidfd becomes readable when the process exits: no polling delay. */
		if (pidfd >= 0) {
			struct pollfd p = {.fd = pidfd, .events = POLLIN};

			if (poll(&p, 1, 1000) < 0 && errno != EINTR)
				g_usleep(20000);
		} else {
			g_usleep(20000);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	state_remove(st->pid);
	result = state_result_take(st->pid);
	if (result) {
		/* Said even with --quiet: what was in flight failed. */
		fprintf(stderr,
			"%s: %s: detached, but could not log out: %s; requests in flight failed\n",
			prog, st->export, result);
		return CLI_EXIT_TIMEOUT;
	}
	if (!quiet)
		printf("detached %s\n", st->export);
	return 0;
}

int main(int argc, char **argv)
{
	gboolean all = FALSE, quiet = FALSE, json = FALSE;
	gint timeout_s = 10;
	const GOptionEntry entries[] = {
	    {"all", 'a', 0, G_OPTION_ARG_NONE, &all, "Detach every attachment", NULL},
	    {"timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
	     "Wait at most S seconds for a recovering session and the flush (default 10)", "S"},
	    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Print nothing on success", NULL},
	    {"json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print a JSON array of the exports detached",
	     NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("EXPORT|--all");
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GPtrArray) done = NULL;
	guint i, found = 0;
	int rc = 0;

	g_option_context_set_summary(
	    ctx, "Detach an attachment made by iser-attach: EXPORT is its socket path,\n"
		 "HOST:PORT, FUSE directory or file, or /dev/nbdN. The serving process\n"
		 "finishes what is in flight, flushes, unexports and logs out first.");
	g_option_context_set_description(ctx, "Exit status: 0 detached, 2 usage, 5 no such "
					      "attachment, 8 timed out. See iser-detach(1).");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "%s: %s\n", prog, err->message);
		return CLI_EXIT_USAGE;
	}
	if ((all && argc != 1) || (!all && argc != 2) || timeout_s < 1) {
		fprintf(stderr, "%s: expected one EXPORT or --all (try --help)\n", prog);
		return CLI_EXIT_USAGE;
	}
	list = state_list();
	done = g_ptr_array_new_with_free_func(g_free);
	for (i = 0; i < list->len; i++) {
		const struct attach_state *st = list->pdata[i];
		int r;

		if (!all && !state_matches(st, argv[1]))
			continue;
		found++;
		r = detach_one(st, timeout_s, quiet || json);
		if (r && !rc)
			rc = r;
		if (!r)
			g_ptr_array_add(done, cli_json_string(st->export));
	}
	if (json) {
		g_ptr_array_add(done, NULL);
		g_autofree char *items = g_strjoinv(", ", (char **)done->pdata);

		printf("[%s]\n", items);
	}
	if (!found && !all) {
		fprintf(stderr, "%s: nothing is attached as %s\n", prog, argv[1]);
		return CLI_EXIT_NOT_FOUND;
	}
	return rc;
}
