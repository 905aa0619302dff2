// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Unit tests for cmd/metrics.c: the report keys of the histograms read
 * back as cumulative buckets, label values escaped, one HELP and TYPE per
 * family over several attachments, a silent process reduced to its state,
 * and the metrics_file pattern.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

#include "cmd/metrics.h"

static struct attach_state state_of(char *export)
{
	struct attach_state st = {
	    .pid = 42,
	    .kind = "socket",
	    .export = export,
	    .uri = "nbd+unix:///?socket=x",
	    .portal = "192.0.2.1",
	    .target = "iqn.2026-11.org.example:t",
	    .lun = 3,
	    .transport = "tcp",
	    .started = 1700000000,
	};

	return st;
}

static char *format_one(struct attach_state *st, const char *report)
{
	g_autoptr(GPtrArray) list = g_ptr_array_new();
	g_autoptr(GHashTable) kv = metrics_parse_report(report);

	g_ptr_array_add(list, st);
	return metrics_format(list, &kv);
}

static unsigned count(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

START_TEST(test_histogram)
{
	struct isa_stats stats = {0};
	struct attach_state st = state_of("/run/a.sock");
	g_autoptr(GString) rep = g_string_new("state=logged-in\nbytes_read=4096\n");
	g_autofree char *text = NULL;
	const char *lbl = "export=\"/run/a.sock\",target=\"iqn.2026-11.org.example:t\",lun=\"3\","
			  "portal=\"192.0.2.1\"";
	g_autofree char *b16 = g_strdup_printf("iser_attach_command_latency_seconds_bucket{%s,"
					       "direction=\"write\",le=\"0.000016\"} 2\n",
					       lbl);
	g_autofree char *b32 = g_strdup_printf("iser_attach_command_latency_seconds_bucket{%s,"
					       "direction=\"write\",le=\"0.000032\"} 2\n",
					       lbl);
	g_autofree char *b64 = g_strdup_printf("iser_attach_command_latency_seconds_bucket{%s,"
					       "direction=\"write\",le=\"0.000064\"} 5\n",
					       lbl);
	g_autofree char *top = g_strdup_printf("iser_attach_command_latency_seconds_bucket{%s,"
					       "direction=\"write\",le=\"16.777216\"} 5\n",
					       lbl);
	g_autofree char *inf = g_strdup_printf(
	    "iser_attach_command_latency_seconds_bucket{%s,direction=\"write\",le=\"+Inf\"} 6\n",
	    lbl);
	g_autofree char *sum = g_strdup_printf(
	    "iser_attach_command_latency_seconds_sum{%s,direction=\"write\"} 20.000123\n", lbl);
	g_autofree char *cnt = g_strdup_printf(
	    "iser_attach_command_latency_seconds_count{%s,direction=\"write\"} 6\n", lbl);
	g_autofree char *cmds =
	    g_strdup_printf("iser_attach_commands_total{%s,direction=\"write\"} 6\n", lbl);
	g_autofree char *bytes =
	    g_strdup_printf("iser_attach_bytes_total{%s,direction=\"read\"} 4096\n", lbl);

	stats.dir[ISA_DIR_WRITE].commands = 6;
	stats.dir[ISA_DIR_WRITE].latency_us_total = 20000123;
	stats.dir[ISA_DIR_WRITE].latency_buckets[0] = 2;
	stats.dir[ISA_DIR_WRITE].latency_buckets[2] = 3;
	stats.dir[ISA_DIR_WRITE].latency_buckets[ISA_LATENCY_BOUNDS] = 1;
	metrics_append_report(rep, &stats);
	text = format_one(&st, rep->str);
	ck_assert_ptr_nonnull(strstr(text, b16));
	ck_assert_ptr_nonnull(strstr(text, b32));
	ck_assert_ptr_nonnull(strstr(text, b64));
	ck_assert_ptr_nonnull(strstr(text, top));
	ck_assert_ptr_nonnull(strstr(text, inf));
	ck_assert_ptr_nonnull(strstr(text, sum));
	ck_assert_ptr_nonnull(strstr(text, cnt));
	ck_assert_ptr_nonnull(strstr(text, cmds));
	ck_assert_ptr_nonnull(strstr(text, bytes));
	/* No bytes_written in the report: no sample for it. */
	ck_assert_uint_eq(count(text, "\niser_attach_bytes_total{"), 1);
	ck_assert_uint_eq(count(text, "_bucket{"), 3 * (ISA_LATENCY_BOUNDS + 1));
	ck_assert_uint_eq(count(text, "# TYPE iser_attach_command_latency_seconds histogram\n"), 1);
}
END_TEST

START_TEST(test_escaping_and_grouping)
{
	struct attach_state st[2] = {state_of("/run/a\"b\\c\nd"), state_of("/run/plain")};
	g_autoptr(GPtrArray) list = g_ptr_array_new();
	GHashTable *kv[2] = {metrics_parse_report("state=logged-in\nerrors=1\n"),
			     metrics_parse_report("state=dead")};
	g_autofree char *text = NULL;

	g_ptr_array_add(list, &st[0]);
	g_ptr_array_add(list, &st[1]);
	text = metrics_format(list, kv);
	ck_assert_ptr_nonnull(strstr(text, "export=\"/run/a\\\"b\\\\c\\nd\""));
	ck_assert_uint_eq(count(text, "# HELP iser_attach_up "), 1);
	ck_assert_uint_eq(count(text, "# TYPE iser_attach_up gauge\n"), 1);
	ck_assert_uint_eq(count(text, "\niser_attach_up{"), 2);
	ck_assert_ptr_nonnull(strstr(text, "export=\"/run/plain\",target=\"iqn.2026-11.org.example:"
					   "t\",lun=\"3\",portal=\"192.0.2.1\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "portal=\"192.0.2.1\",state=\"dead\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "portal=\"192.0.2.1\",state=\"logged-in\"} 0\n"));
	/* Only the process that answered has counters. */
	ck_assert_uint_eq(count(text, "\niser_attach_errors_total{"), 1);
	ck_assert_ptr_null(strstr(text, "iser_attach_size_bytes"));
	g_hash_table_unref(kv[0]);
	g_hash_table_unref(kv[1]);
}
END_TEST

START_TEST(test_garbage_values)
{
	struct attach_state st = state_of("/run/a.sock");
	g_autofree char *text =
	    format_one(&st, "state=logged-in\nerrors=-1\nretries=1x\nreconnects=\n"
			    "latency_bounds_us=32,16\nread_latency_buckets=1,2,3\n"
			    "read_latency_us_sum=5\n");

	ck_assert_ptr_null(strstr(text, "errors_total"));
	ck_assert_ptr_null(strstr(text, "retries_total"));
	ck_assert_ptr_null(strstr(text, "reconnects_total"));
	ck_assert_ptr_null(strstr(text, "latency"));
}
END_TEST

START_TEST(test_path)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *a = metrics_path("/var/lib/x/iser-%p.prom", 1234, NULL);
	g_autofree char *b = metrics_path("/x/100%%-%p-%p", 7, NULL);
	g_autofree char *c = metrics_path("/x/%d.prom", 7, &err);
	g_autofree char *d = metrics_path("/x/", 7, NULL);

	ck_assert_str_eq(a, "/var/lib/x/iser-1234.prom");
	ck_assert_str_eq(b, "/x/100%-7-7");
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(err->message, "only %p"));
	ck_assert_ptr_null(d);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_escaping_and_grouping);
	tcase_add_test(tc, test_garbage_values);
	tcase_add_test(tc, test_path);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
