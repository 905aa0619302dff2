/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attachments as Prometheus metrics (text exposition format 0.0.4): what
 * iser-list --metrics prints, and what a serving process writes to its
 * metrics_file for node_exporter's textfile collector. Both start from the
 * key=value lines the process answers on its control socket.
 */
#ifndef ISA_CMD_METRICS_H
#define ISA_CMD_METRICS_H

#include <sys/types.h>
#include <glib.h>

#include "cmd/state.h"
#include "include/iser-attach.h"

/*
 * The control socket's keys for the commands by data direction and their
 * latency histograms: DIR_commands, DIR_latency_us_sum and
 * DIR_latency_buckets (counts per bucket, not cumulative, the last one
 * past every bound) for DIR read, write and none, and latency_bounds_us
 * (the buckets' upper bounds).
 */
void metrics_append_report(GString *out, const struct isa_stats *st);

/* The key=value lines of a control socket answer as a table (key -> value). */
GHashTable *metrics_parse_report(const char *text);

/*
 * The metrics of every attachment in @list (struct attach_state *), each
 * with what its process reported (@reports[i]: "state" at least; a process
 * that did not answer has only that). One HELP and TYPE per family, the
 * samples of all attachments under it. Newly allocated.
 */
char *metrics_format(GPtrArray *list, GHashTable *const *reports);

/*
 * The path that the metrics_file setting @pattern names for the process
 * @pid: "%p" becomes the pid, "%%" a "%". NULL with @err set for another
 * "%" sequence or a path that does not name a file.
 */
char *metrics_path(const char *pattern, pid_t pid, GError **err);

/*
 * Replace @path by @text atomically: a temporary file in the same
 * directory (not ending in .prom), mode 0644, renamed over @path.
 */
int metrics_write_file(const char *path, const char *text, GError **err);

#endif
