/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iser-list: every attachment with its live state and counters, read from
 * the state files and each serving process's control socket: a table,
 * JSON, or Prometheus metrics.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cmd/cli.h"
#include "cmd/control.h"
#include "cmd/metrics.h"
#include "cmd/state.h"

static const char *prog = "iser-list";

/* Counters a daemon reports, by name; "?" when it did not answer. */
struct live {
	GHashTable *kv;
};

static struct live query(const struct attach_state *st)
{
	g_autofree char *path = control_path(st->pid);
	g_autofree char *text = NULL;
	struct live lv;

	if (!state_alive(st)) {
		lv.kv = metrics_parse_report("state=dead");
		return lv;
	}
	text = control_query(path, "stats\n", 2000, NULL);
	lv.kv = metrics_parse_report(text ? text : "state=unresponsive");
	/* A process that answered nonsense is as good as silent. */
	if (!g_hash_table_contains(lv.kv, "state"))
		g_hash_table_insert(lv.kv, g_strdup("state"), g_strdup("unresponsive"));
	return lv;
}

static const char *get(const struct live *lv, const char *key)
{
	const char *v = g_hash_table_lookup(lv->kv, key);

	return v ? v : "-";
}

/* The keys of each path, "path<N>_<key>" in a report. */
static const char *const path_keys[] = {
    "portal",	"state",      "transport",     "alua",	     "outstanding",
    "commands", "bytes_read", "bytes_written", "reconnects", "connections_lost",
    "iops"};
/* The first path_keys that are strings whatever they look like. */
#define PATH_STRING_KEYS 4

/* How many paths a report describes (0 from a process that did not say). */
static unsigned path_count(const struct live *lv)
{
	const char *v = g_hash_table_lookup(lv->kv, "paths");

	return v ? (unsigned)MIN(g_ascii_strtoull(v, NULL, 10), 64) : 0;
}

static const char *path_get(const struct live *lv, unsigned i, const char *key)
{
	g_autofree char *k = g_strdup_printf("path%u_%s", i, key);

	return get(lv, k);
}

static void print_table(GPtrArray *list, struct live *lives)
{
	int w = (int)strlen("EXPORT");
	guint i;

	/* The export column is as wide as its longest path: the columns stay aligned. */
	for (i = 0; i < list->len; i++)
		w = MAX(w, (int)strlen(((const struct attach_state *)list->pdata[i])->export));
	printf("%-*s %-6s %-5s %-9s %-13s %10s %8s %10s %10s %8s %7s %6s %10s\n", w, "EXPORT",
	       "KIND", "LUN", "TRANSPORT", "STATE", "SIZE", "IOPS", "READ", "WRITTEN", "LAT_US",
	       "RECONN", "COPIED", "PINNED");
	for (i = 0; i < list->len; i++) {
		const struct attach_state *st = list->pdata[i];
		const struct live *lv = &lives[i];

		printf("%-*s %-6s %-5u %-9s %-13s %10s %8s %10s %10s %8s %7s %6s %10s\n", w,
		       st->export, st->kind, st->lun, st->transport ? st->transport : "-",
		       get(lv, "state"), get(lv, "size"), get(lv, "iops"), get(lv, "bytes_read"),
		       get(lv, "bytes_written"), get(lv, "latency_us"), get(lv, "reconnects"),
		       get(lv, "copied_bytes"), get(lv, "pinned_bytes"));
		/* A line per path under an attachment that has several. */
		if (path_count(lv) > 1) {
			unsigned p;

			for (p = 0; p < path_count(lv); p++)
				printf("  path %u %s %s outstanding %s iops %s reconnects %s "
				       "read %s written %s alua %s\n",
				       p + 1, path_get(lv, p, "portal"), path_get(lv, p, "state"),
				       path_get(lv, p, "outstanding"), path_get(lv, p, "iops"),
				       path_get(lv, p, "reconnects"), path_get(lv, p, "bytes_read"),
				       path_get(lv, p, "bytes_written"), path_get(lv, p, "alua"));
		}
	}
}

/* Numbers stay numbers in JSON; everything else is a string. */
static void json_value(const char *v)
{
	char *end;

	g_ascii_strtod(v, &end);
	if (*v && !*end && strcmp(v, "-")) {
		printf("%s", v);
	} else {
		g_autofree char *s = cli_json_string(v);

		printf("%s", s);
	}
}

/* "paths": one object per path, last in the attachment's object. */
static void print_json_paths(const struct live *lv)
{
	unsigned n = path_count(lv), p, k;

	printf(", \"paths\": [");
	for (p = 0; p < n; p++) {
		printf("%s{", p ? ", " : "");
		for (k = 0; k < G_N_ELEMENTS(path_keys); k++) {
			const char *v = path_get(lv, p, path_keys[k]);

			printf("%s\"%s\": ", k ? ", " : "", path_keys[k]);
			/* A portal is a string even when it looks like a number. */
			if (k < PATH_STRING_KEYS) {
				g_autofree char *str = cli_json_string(v);

				printf("%s", str);
			} else {
				json_value(v);
			}
		}
		printf("}");
	}
	printf("]");
}

static void print_json(GPtrArray *list, struct live *lives)
{
	static const char *const keys[] = {"state",
					   "size",
					   "block_size",
					   "iops",
					   "bytes_read",
					   "bytes_written",
					   "commands",
					   "latency_us",
					   "reconnects",
					   "connections_lost",
					   "pinned_bytes",
					   "retries",
					   "aborts",
					   "errors",
					   "copied_bytes",
					   "clients",
					   "in_flight",
					   "read_commands",
					   "write_commands",
					   "none_commands",
					   "sockets_replaced",
					   "requests_held"};
	guint i, k;

	printf("[");
	for (i = 0; i < list->len; i++) {
		const struct attach_state *st = list->pdata[i];
		g_autofree char *e = cli_json_string(st->export);
		g_autofree char *kind = cli_json_string(st->kind);
		g_autofree char *u = cli_json_string(st->uri);
		g_autofree char *p = cli_json_string(st->portal);
		g_autofree char *t = cli_json_string(st->target);
		g_autofree char *tr = cli_json_string(st->transport);

		printf("%s\n  {\"export\": %s, \"kind\": %s, \"uri\": %s, \"portal\": %s, "
		       "\"target\": %s, \"lun\": %u, \"transport\": %s, \"pid\": %ld, "
		       "\"started\": %" G_GINT64_FORMAT,
		       i ? "," : "", e, kind, u, p, t, st->lun, tr, (long)st->pid, st->started);
		for (k = 0; k < G_N_ELEMENTS(keys); k++) {
			printf(", \"%s\": ", keys[k]);
			json_value(get(&lives[i], keys[k]));
		}
		print_json_paths(&lives[i]);
		printf("}");
	}
	printf("%s]\n", list->len ? "\n" : "");
}

static void print_metrics(GPtrArray *list, struct live *lives)
{
	g_autofree GHashTable **kvs = g_new0(GHashTable *, list->len ? list->len : 1);
	g_autofree char *text = NULL;
	guint i;

	for (i = 0; i < list->len; i++)
		kvs[i] = lives[i].kv;
	text = metrics_format(list, kvs);
	fputs(text, stdout);
}

int main(int argc, char **argv)
{
	gboolean json = FALSE, metrics = FALSE;
	const GOptionEntry entries[] = {
	    {"json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
	    {"metrics", 'm', 0, G_OPTION_ARG_NONE, &metrics,
	     "Print Prometheus metrics (text exposition format)", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("");
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) list = NULL;
	struct live *lives;
	guint i;

	g_option_context_set_summary(ctx, "List the attachments made by iser-attach, with their "
					  "live state and counters.");
	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 1) {
		fprintf(stderr, "%s: %s\n", prog, err ? err->message : "no arguments expected");
		return CLI_EXIT_USAGE;
	}
	if (json && metrics) {
		fprintf(stderr, "%s: choose one of --json and --metrics\n", prog);
		return CLI_EXIT_USAGE;
	}
	list = state_list();
	lives = g_new0(struct live, list->len ? list->len : 1);
	for (i = 0; i < list->len; i++)
		lives[i] = query(list->pdata[i]);
	if (json)
		print_json(list, lives);
	else if (metrics)
		print_metrics(list, lives);
	else
		print_table(list, lives);
	for (i = 0; i < list->len; i++)
		g_hash_table_unref(lives[i].kv);
	g_free(lives);
	return CLI_EXIT_OK;
}
