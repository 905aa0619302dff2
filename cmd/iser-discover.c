/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iser-discover PORTAL: SendTargets discovery, one target per line with
 * its portals indented below it, or JSON with --json.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cli.h"

static void print_text(GPtrArray *targets)
{
	guint i, j;

	for (i = 0; i < targets->len; i++) {
		const struct isa_target *t = targets->pdata[i];

		printf("%s\n", t->name);
		for (j = 0; j < t->portals->len; j++)
			printf("    %s\n", (const char *)t->portals->pdata[j]);
	}
}

static void print_json(GPtrArray *targets)
{
	guint i, j;

	printf("[");
	for (i = 0; i < targets->len; i++) {
		const struct isa_target *t = targets->pdata[i];
		g_autofree char *name = cli_json_string(t->name);

		printf("%s\n  {\"target\": %s, \"portals\": [", i ? "," : "", name);
		for (j = 0; j < t->portals->len; j++) {
			g_autofree char *p = cli_json_string(t->portals->pdata[j]);

			printf("%s%s", j ? ", " : "", p);
		}
		printf("]}");
	}
	printf("%s]\n", targets->len ? "\n" : "");
}

int main(int argc, char **argv)
{
	struct cli_login login = {0};
	gboolean json = FALSE;
	const GOptionEntry entries[] = {
	    {"json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("PORTAL");
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) targets = NULL;
	int rc;

	g_option_context_set_summary(ctx, "List the iSCSI targets at PORTAL (HOST[:PORT] or "
					  "[IPV6][:PORT], port 3260 by default)\n"
					  "with SendTargets discovery.");
	g_option_context_set_description(
	    ctx, "Exit status: 0 listed, 2 usage, 3 portal unreachable, 4 authentication "
		 "failed,\n6 protocol error, 7 target error, 8 timeout. See iser-discover(1).");
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_add_group(ctx, cli_login_group(&login));
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "iser-discover: %s\n", err->message);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	cli_log_init("iser-discover", login.verbose, login.quiet);
	if (argc != 2) {
		fprintf(stderr, "iser-discover: expected one PORTAL (try --help)\n");
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (cli_login_finish(&login, argv[1], NULL, &err) < 0) {
		rc = cli_fail("iser-discover", err);
		goto out;
	}
	targets = isa_discover(argv[1], &login.opts, &err);
	if (!targets) {
		rc = cli_fail("iser-discover", err);
		goto out;
	}
	if (json)
		print_json(targets);
	else
		print_text(targets);
	rc = CLI_EXIT_OK;
out:
	cli_login_clear(&login);
	return rc;
}
