/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every command shares: login options, secrets from the environment
 * or a file, log output, and the stable exit codes.
 */
#ifndef ISA_CLI_H
#define ISA_CLI_H

#include <glib.h>

#include "include/iser-attach.h"

/*
 * Exit codes, documented in the man pages. Every enum isa_error maps to
 * its own code so that scripts can tell a refused login from a dead portal.
 */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILURE = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_CONNECT = 3,
	CLI_EXIT_AUTH = 4,
	CLI_EXIT_NOT_FOUND = 5,
	CLI_EXIT_PROTOCOL = 6,
	CLI_EXIT_TARGET = 7,
	CLI_EXIT_TIMEOUT = 8,
	CLI_EXIT_UNSUPPORTED = 9,
	/* iser-attach: SIGUSR2 handed /dev/nbdN over to the next process. */
	CLI_EXIT_HANDED_OVER = 10,
};

/**
 * struct cli_login - login options as given on the command line.
 * @config_file: --config, or NULL for the default file
 * @secret_file, @mutual_secret_file: files holding the secrets; secrets
 *	are never taken from the command line itself (it is world-readable
 *	through /proc), only from these files, from ISER_CHAP_SECRET and
 *	ISER_MUTUAL_SECRET in the environment, or from a configuration file
 *	only root can read (@file_chap_secret, @file_mutual_secret)
 */
/* replacement_timeout_s when neither the command line nor a file gave it. */
#define CLI_UNSET G_MININT

struct cli_login {
	char *config_file;
	char *initiator_name;
	char *chap_user;
	char *secret_file;
	char *mutual_user;
	char *mutual_secret_file;
	char *transport;
	gboolean digest;
	gint timeout_s;
	gboolean verbose;
	gboolean quiet;
	guint queue_depth;
	guint nop_interval_s;
	guint nop_timeout_s;
	/* 0 disables recovery, so "not given" needs its own value. */
	gint replacement_timeout_s;
	guint command_timeout_s;
	/* --max-pinned as given (a size: 64M, 1G, bytes). */
	char *max_pinned;
	/* iser-attach: where to keep its metrics (iser.conf only). */
	char *metrics_file;
	/* iser-attach: sessions per portal, and how requests choose a path. */
	guint paths_per_portal;
	char *path_policy;
	/* iser-attach: add every portal SendTargets reports for the target. */
	gboolean all_portals;
	char *file_chap_secret;
	char *file_mutual_secret;
	struct isa_options opts;
	char *chap_secret;
	char *mutual_secret;
};

/*
 * A byte count as "N", "NK", "NM", "NG" or "NT" (powers of 1024, "KiB" and
 * "KB" alike). Returns 0, or -1 when @s is not one or is 0.
 */
int cli_parse_size(const char *s, uint64_t *out);

/* Option entries for struct cli_login, to add to a GOptionContext. */
GOptionGroup *cli_login_group(struct cli_login *c);

/*
 * Complete the parsed options from the configuration file for @portal and
 * @target (NULL when discovering) and turn them into c->opts. Returns 0,
 * or -1 with @err set.
 */
int cli_login_finish(struct cli_login *c, const char *portal, const char *target, GError **err);
void cli_login_clear(struct cli_login *c);

/* Messages as "PROG: text" on stderr; debug only with -v, nothing but errors with -q. */
void cli_log_init(const char *prog, gboolean verbose, gboolean quiet);

/* The exit code @err maps to. */
int cli_fail_code(const GError *err);

/* Print "PROG: message" for @err and return the exit code it maps to. */
int cli_fail(const char *prog, const GError *err);

/* The JSON string literal of @s (quotes and escapes), newly allocated. */
char *cli_json_string(const char *s);

#endif
