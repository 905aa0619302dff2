/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Prometheus text exposition of the attachments. The names follow the
 * Prometheus conventions: prefix iser_attach_, base units (seconds,
 * bytes), counters ending in _total, one label set per attachment
 * (export, target, lun, portal), the data direction as a label.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/metrics.h"
#include "include/iser-attach.h"

static const char *const directions[ISA_DIR_COUNT] = {"read", "write", "none"};

void metrics_append_report(GString *out, const struct isa_stats *st)
{
	guint d, i;

	g_string_append(out, "latency_bounds_us=");
	for (i = 0; i < ISA_LATENCY_BOUNDS; i++)
		g_string_append_printf(out, "%s%u", i ? "," : "", ISA_LATENCY_MIN_US << i);
	g_string_append_c(out, '\n');
	for (d = 0; d < ISA_DIR_COUNT; d++) {
		const struct isa_dir_stats *ds = &st->dir[d];

		g_string_append_printf(out,
				       "%s_commands=%" PRIu64 "\n%s_latency_us_sum=%" PRIu64
				       "\n%s_latency_buckets=",
				       directions[d], ds->commands, directions[d],
				       ds->latency_us_total, directions[d]);
		for (i = 0; i <= ISA_LATENCY_BOUNDS; i++)
			g_string_append_printf(out, "%s%" PRIu64, i ? "," : "",
					       ds->latency_buckets[i]);
		g_string_append_c(out, '\n');
	}
}

GHashTable *metrics_parse_report(const char *text)
{
	GHashTable *kv = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
	guint i;

	for (i = 0; lines[i]; i++) {
		char *eq = strchr(lines[i], '=');

		if (eq)
			g_hash_table_insert(kv, g_strndup(lines[i], eq - lines[i]),
					    g_strdup(eq + 1));
	}
	return kv;
}

/* A label value: backslash, double quote and newline escaped. */
static void append_label_value(GString *out, const char *v)
{
	for (; v && *v; v++) {
		if (*v == '\\')
			g_string_append(out, "\\\\");
		else if (*v == '"')
			g_string_append(out, "\\\"");
		else if (*v == '\n')
			g_string_append(out, "\\n");
		else
			g_string_append_c(out, *v);
	}
}

static void append_label(GString *out, const char *name, const char *value)
{
	if (out->len)
		g_string_append_c(out, ',');
	g_string_append_printf(out, "%s=\"", name);
	append_label_value(out, value);
	g_string_append_c(out, '"');
}

/* The labels that tell one attachment from another. */
static char *attachment_labels(const struct attach_state *st)
{
	GString *out = g_string_new(NULL);
	char lun[16];

	snprintf(lun, sizeof(lun), "%u", st->lun);
	append_label(out, "export", st->export);
	append_label(out, "target", st->target);
	append_label(out, "lun", lun);
	append_label(out, "portal", st->portal);
	return g_string_free(out, FALSE);
}

/* @v as an unsigned integer, when it is exactly one. */
static bool parse_u64(const char *v, uint64_t *n)
{
	char *end;

	if (!v || !g_ascii_isdigit(*v))
		return false;
	errno = 0;
	*n = g_ascii_strtoull(v, &end, 10);
	return !*end && errno == 0;
}

static bool report_u64(GHashTable *kv, const char *key, uint64_t *n)
{
	return parse_u64(g_hash_table_lookup(kv, key), n);
}

/* Microseconds as seconds, exactly: 16 -> "0.000016". */
static void append_seconds(GString *out, uint64_t us)
{
	g_string_append_printf(out, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);
}

/* A comma-separated list of exactly @n integers. */
static bool parse_list(const char *v, uint64_t *vals, guint n)
{
	g_auto(GStrv) parts = NULL;
	guint i;

	if (!v)
		return false;
	parts = g_strsplit(v, ",", -1);
	if (g_strv_length(parts) != n)
		return false;
	for (i = 0; i < n; i++)
		if (!parse_u64(parts[i], &vals[i]))
			return false;
	return true;
}

/**
 * struct family - one metric family.
 * @key: the report key of its value; NULL for those built otherwise
 */
struct family {
	const char *name;
	const char *type;
	const char *help;
	const char *key;
};

enum family_id {
	F_UP,
	F_STATE,
	F_INFO,
	F_START,
	F_SIZE,
	F_BLOCK,
	F_COMMANDS,
	F_BYTES,
	F_LATENCY,
	F_RECONNECTS,
	F_CONN_LOST,
	F_ABORTS,
	F_RETRIES,
	F_ERRORS,
	F_COPIED,
	F_PINNED,
	F_CLIENTS,
	F_IN_FLIGHT,
	F_COUNT,
};

static const struct family families[F_COUNT] = {
    [F_UP] = {"iser_attach_up", "gauge",
	      "1 when the serving process answers and its session is logged in, else 0", NULL},
    [F_STATE] = {"iser_attach_state", "gauge",
		 "1 for the state the attachment is in (logged-in, recovering, failed, "
		 "unresponsive, dead)",
		 NULL},
    [F_INFO] = {"iser_attach_info", "gauge", "Export kind, transport and URI of the attachment",
		NULL},
    [F_START] = {"iser_attach_start_time_seconds", "gauge",
		 "When the attachment was made, seconds since the epoch", NULL},
    [F_SIZE] = {"iser_attach_size_bytes", "gauge", "Size of the LUN", "size"},
    [F_BLOCK] = {"iser_attach_block_size_bytes", "gauge", "Logical block size of the LUN",
		 "block_size"},
    [F_COMMANDS] = {"iser_attach_commands_total", "counter",
		    "SCSI commands completed after being sent, by data direction (none: no data, "
		    "such as SYNCHRONIZE CACHE)",
		    NULL},
    [F_BYTES] = {"iser_attach_bytes_total", "counter",
		 "Payload bytes of completed read and write requests, by direction", NULL},
    [F_LATENCY] = {"iser_attach_command_latency_seconds", "histogram",
		   "Time from sending a SCSI command to its completion, by data direction", NULL},
    [F_RECONNECTS] = {"iser_attach_reconnects_total", "counter",
		      "Successful logins after a lost connection", "reconnects"},
    [F_CONN_LOST] = {"iser_attach_connections_lost_total", "counter",
		     "Connections lost in full feature phase", "connections_lost"},
    [F_ABORTS] = {"iser_attach_aborts_total", "counter",
		  "Commands aborted after the command timeout and sent again", "aborts"},
    [F_RETRIES] = {"iser_attach_retries_total", "counter",
		   "Commands sent again after UNIT ATTENTION or BUSY", "retries"},
    [F_ERRORS] = {"iser_attach_errors_total", "counter", "Requests completed with an error",
		  "errors"},
    [F_COPIED] = {"iser_attach_copied_bytes_total", "counter",
		  "Payload bytes the data path had to copy (0 while zero copy holds)",
		  "copied_bytes"},
    [F_PINNED] = {"iser_attach_pinned_bytes", "gauge",
		  "Memory registered for RDMA (iSER), pinned in RAM", "pinned_bytes"},
    [F_CLIENTS] = {"iser_attach_nbd_clients", "gauge", "NBD connections open now", "clients"},
    [F_IN_FLIGHT] = {"iser_attach_in_flight_requests", "gauge",
		     "NBD requests the initiator still holds", "in_flight"},
};

static const char *const states[] = {"logged-in", "recovering", "failed", "unresponsive", "dead"};

/* "NAME{LABELS[,EXTRA]} " */
static void append_series(GString *out, const char *name, const char *suffix, const char *labels,
			  const char *extra)
{
	g_string_append_printf(out, "%s%s{%s%s%s} ", name, suffix, labels, extra ? "," : "",
			       extra ? extra : "");
}

static void append_u64_sample(GString *out, const char *name, const char *labels, const char *extra,
			      uint64_t v)
{
	append_series(out, name, "", labels, extra);
	g_string_append_printf(out, "%" PRIu64 "\n", v);
}

static void append_histogram(GString *out, const char *labels, const char *dir, GHashTable *kv,
			     const uint64_t *bounds, guint nbounds)
{
	const char *name = families[F_LATENCY].name;
	g_autofree char *key = g_strdup_printf("%s_latency_buckets", dir);
	g_autofree char *sum_key = g_strdup_printf("%s_latency_us_sum", dir);
	g_autofree uint64_t *counts = g_new0(uint64_t, nbounds + 1);
	g_autofree char *d = g_strdup_printf("direction=\"%s\"", dir);
	uint64_t sum_us, cum = 0;
	guint i;

	if (!parse_list(g_hash_table_lookup(kv, key), counts, nbounds + 1) ||
	    !report_u64(kv, sum_key, &sum_us))
		return;
	for (i = 0; i <= nbounds; i++) {
		g_autoptr(GString) le = g_string_new(NULL);

		cum += counts[i];
		g_string_append_printf(le, "%s,le=\"", d);
		if (i < nbounds)
			append_seconds(le, bounds[i]);
		else
			g_string_append(le, "+Inf");
		g_string_append_c(le, '"');
		append_series(out, name, "_bucket", labels, le->str);
		g_string_append_printf(out, "%" PRIu64 "\n", cum);
	}
	append_series(out, name, "_sum", labels, d);
	append_seconds(out, sum_us);
	g_string_append_c(out, '\n');
	append_series(out, name, "_count", labels, d);
	g_string_append_printf(out, "%" PRIu64 "\n", cum);
}

/* The samples of family @f for one attachment. */
static void append_family(GString *out, enum family_id f, const struct attach_state *st,
			  const char *labels, GHashTable *kv)
{
	const struct family *fam = &families[f];
	const char *state = g_hash_table_lookup(kv, "state");
	uint64_t v, bounds[64];
	guint i, nbounds;

	switch (f) {
	case F_UP:
		append_u64_sample(out, fam->name, labels, NULL,
				  state && !strcmp(state, "logged-in"));
		return;
	case F_STATE: {
		const char *now = state ? state : "unresponsive";
		g_autoptr(GString) extra = g_string_new("state=\"");

		append_label_value(extra, now);
		g_string_append_c(extra, '"');
		append_u64_sample(out, fam->name, labels, extra->str, 1);
		for (i = 0; i < G_N_ELEMENTS(states); i++)
			if (strcmp(now, states[i])) {
				g_autofree char *other = g_strdup_printf("state=\"%s\"", states[i]);

				append_u64_sample(out, fam->name, labels, other, 0);
			}
		return;
	}
	case F_INFO: {
		g_autoptr(GString) extra = g_string_new(NULL);

		append_label(extra, "kind", st->kind);
		append_label(extra, "transport", st->transport ? st->transport : "");
		append_label(extra, "uri", st->uri);
		append_u64_sample(out, fam->name, labels, extra->str, 1);
		return;
	}
	case F_START:
		if (st->started > 0)
			append_u64_sample(out, fam->name, labels, NULL, (uint64_t)st->started);
		return;
	case F_COMMANDS:
		for (i = 0; i < ISA_DIR_COUNT; i++) {
			g_autofree char *key = g_strconcat(directions[i], "_commands", NULL);
			g_autofree char *d = g_strdup_printf("direction=\"%s\"", directions[i]);

			if (report_u64(kv, key, &v))
				append_u64_sample(out, fam->name, labels, d, v);
		}
		return;
	case F_BYTES:
		if (report_u64(kv, "bytes_read", &v))
			append_u64_sample(out, fam->name, labels, "direction=\"read\"", v);
		if (report_u64(kv, "bytes_written", &v))
			append_u64_sample(out, fam->name, labels, "direction=\"write\"", v);
		return;
	case F_LATENCY: {
		const char *b = g_hash_table_lookup(kv, "latency_bounds_us");
		g_auto(GStrv) parts = b ? g_strsplit(b, ",", -1) : NULL;

		nbounds = parts ? g_strv_length(parts) : 0;
		if (!nbounds || nbounds > G_N_ELEMENTS(bounds) || !parse_list(b, bounds, nbounds))
			return;
		/* le must grow: a report that says otherwise is not exposed. */
		for (i = 1; i < nbounds; i++)
			if (bounds[i] <= bounds[i - 1])
				return;
		for (i = 0; i < ISA_DIR_COUNT; i++)
			append_histogram(out, labels, directions[i], kv, bounds, nbounds);
		return;
	}
	default:
		if (report_u64(kv, fam->key, &v))
			append_u64_sample(out, fam->name, labels, NULL, v);
		return;
	}
}

char *metrics_format(GPtrArray *list, GHashTable *const *reports)
{
	GString *out = g_string_new(NULL);
	g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func(g_free);
	guint f, i;

	for (i = 0; i < list->len; i++)
		g_ptr_array_add(labels, attachment_labels(list->pdata[i]));
	for (f = 0; f < F_COUNT; f++) {
		g_autoptr(GString) samples = g_string_new(NULL);

		for (i = 0; i < list->len; i++)
			append_family(samples, f, list->pdata[i], labels->pdata[i], reports[i]);
		if (!samples->len)
			continue;
		g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s", families[f].name,
				       families[f].help, families[f].name, families[f].type,
				       samples->str);
	}
	return g_string_free(out, FALSE);
}

char *metrics_path(const char *pattern, pid_t pid, GError **err)
{
	g_autoptr(GString) out = g_string_new(NULL);
	const char *p;

	for (p = pattern; *p; p++) {
		if (*p != '%') {
			g_string_append_c(out, *p);
		} else if (p[1] == 'p') {
			g_string_append_printf(out, "%ld", (long)pid);
			p++;
		} else if (p[1] == '%') {
			g_string_append_c(out, '%');
			p++;
		} else {
			g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
				    "metrics_file '%s': only %%p (the pid) and %%%% may follow %%",
				    pattern);
			return NULL;
		}
	}
	if (!out->len || out->str[out->len - 1] == '/') {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "metrics_file '%s' names no file",
			    pattern);
		return NULL;
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

int metrics_write_file(const char *path, const char *text, GError **err)
{
	/* node_exporter reads *.prom only: the temporary never looks like one. */
	g_autofree char *tmp = g_strdup_printf("%s.XXXXXX", path);
	size_t off = 0, len = strlen(text);
	int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0644);
	int saved;

	if (fd < 0) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "cannot write %s: %s", path,
			    g_strerror(errno));
		return -1;
	}
	/* Readable by a collector running as another user, whatever the umask. */
	if (fchmod(fd, 0644) < 0)
		goto fail;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "cannot write %s: %s", path,
		    g_strerror(saved ? saved : EIO));
	return -1;
}
