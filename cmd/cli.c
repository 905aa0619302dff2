/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared command-line plumbing: login options, secrets, logging, exit codes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cli.h"
#include "cmd/config.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

static const char *log_prog = "iser";
static gboolean log_verbose;
static gboolean log_quiet;

static void log_handler(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
	(void)domain;
	(void)data;
	if ((level & G_LOG_LEVEL_DEBUG) && !log_verbose)
		return;
	if ((level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO)) && log_quiet)
		return;
	if (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL))
		fprintf(stderr, "%s: warning: %s\n", log_prog, msg);
	else
		fprintf(stderr, "%s: %s\n", log_prog, msg);
}

void cli_log_init(const char *prog, gboolean verbose, gboolean quiet)
{
	log_prog = prog;
	log_verbose = verbose;
	log_quiet = quiet;
	g_log_set_default_handler(log_handler, NULL);
}

GOptionGroup *cli_login_group(struct cli_login *c)
{
	c->replacement_timeout_s = CLI_UNSET;
	const GOptionEntry entries[] = {
	    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &c->config_file,
	     "Configuration file (default " SYSCONFDIR "/iser-attach/iser.conf)", "FILE"},
	    {"initiator-name", 'I', 0, G_OPTION_ARG_STRING, &c->initiator_name,
	     "Our iSCSI name (default: from the configuration, else generated once)", "IQN"},
	    {"chap-user", 'u', 0, G_OPTION_ARG_STRING, &c->chap_user,
	     "Log in with CHAP as USER; the secret comes from --chap-secret-file or "
	     "$ISER_CHAP_SECRET",
	     "USER"},
	    {"chap-secret-file", 0, 0, G_OPTION_ARG_FILENAME, &c->secret_file,
	     "File holding the CHAP secret (first line)", "FILE"},
	    {"mutual-user", 0, 0, G_OPTION_ARG_STRING, &c->mutual_user,
	     "Require the target to authenticate as USER (mutual CHAP); its secret comes "
	     "from --mutual-secret-file or $ISER_MUTUAL_SECRET",
	     "USER"},
	    {"mutual-secret-file", 0, 0, G_OPTION_ARG_FILENAME, &c->mutual_secret_file,
	     "File holding the target's secret for mutual CHAP", "FILE"},
	    {"digest", 'd', 0, G_OPTION_ARG_NONE, &c->digest,
	     "Ask for CRC32C header and data digests", NULL},
	    {"transport", 't', 0, G_OPTION_ARG_STRING, &c->transport,
	     "tcp, iser or auto (default auto)", "KIND"},
	    {"timeout", 0, 0, G_OPTION_ARG_INT, &c->timeout_s,
	     "Timeout of the connect and of each login exchange, in seconds (default 15)", "S"},
	    {"replacement-timeout", 0, 0, G_OPTION_ARG_INT, &c->replacement_timeout_s,
	     "After a lost connection, keep reconnecting for S seconds before failing I/O "
	     "(iser-attach: 120; 0 for other commands)",
	     "S"},
	    {"command-timeout", 0, 0, G_OPTION_ARG_INT, &c->command_timeout_s,
	     "Abort a SCSI command the target leaves unanswered for S seconds (ABORT TASK, "
	     "then LUN RESET, then a new connection) and send it again (default 30)",
	     "S"},
	    {"max-pinned", 0, 0, G_OPTION_ARG_STRING, &c->max_pinned,
	     "iSER: keep at most SIZE bytes registered (pinned) for RDMA; requests wait for "
	     "a buffer beyond it (default 64M)",
	     "SIZE"},
	    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &c->verbose, "Log debug messages", NULL},
	    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &c->quiet, "Log errors only", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	GOptionGroup *g =
	    g_option_group_new("login", "Login options:", "Show login options", NULL, NULL);

	g_option_group_add_entries(g, entries);
	return g;
}

/* First line of @path; refuse a file others may read, as it holds a secret. */
static char *read_secret_file(const char *path, GError **err)
{
	g_autofree char *text = NULL;
	struct stat st;
	char *nl;

	if (stat(path, &st) < 0) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "secret file %s: %s", path,
			    g_strerror(errno));
		return NULL;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "secret file %s is readable by group or others (mode %04o); "
			    "chmod 600 it",
			    path, (unsigned)(st.st_mode & 07777));
		return NULL;
	}
	if (!g_file_get_contents(path, &text, NULL, err))
		return NULL;
	nl = strpbrk(text, "\r\n");
	if (nl)
		*nl = '\0';
	return g_steal_pointer(&text);
}

/* The secret for @user: its file, then the environment, then the config file. */
static int get_secret(const char *user, const char *file, const char *env, const char *from_conf,
		      char **out, GError **err)
{
	const char *v;

	if (!user)
		return 0;
	if (file) {
		*out = read_secret_file(file, err);
		return *out ? 0 : -1;
	}
	v = g_getenv(env);
	if (v && *v) {
		*out = g_strdup(v);
		return 0;
	}
	if (from_conf) {
		*out = g_strdup(from_conf);
		return 0;
	}
	g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
		    "CHAP user %s given without a secret: set $%s or pass a secret file", user,
		    env);
	return -1;
}

int cli_login_finish(struct cli_login *c, const char *portal, const char *target, GError **err)
{
	struct isa_options *o = &c->opts;

	memset(o, 0, sizeof(*o));
	if (config_apply(c, portal, target, err) < 0)
		return -1;
	if (c->mutual_user && !c->chap_user) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "--mutual-user needs --chap-user as well");
		return -1;
	}
	if (get_secret(c->chap_user, c->secret_file, "ISER_CHAP_SECRET", c->file_chap_secret,
		       &c->chap_secret, err) ||
	    get_secret(c->mutual_user, c->mutual_secret_file, "ISER_MUTUAL_SECRET",
		       c->file_mutual_secret, &c->mutual_secret, err))
		return -1;
	if (!c->transport || !strcmp(c->transport, "auto")) {
		o->transport = ISA_TRANSPORT_AUTO;
	} else if (!strcmp(c->transport, "tcp")) {
		o->transport = ISA_TRANSPORT_TCP;
	} else if (!strcmp(c->transport, "iser")) {
		o->transport = ISA_TRANSPORT_ISER;
	} else {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "unknown transport '%s': use tcp, iser or auto", c->transport);
		return -1;
	}
	if (c->timeout_s < 0 || c->timeout_s > 3600) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "--timeout must be between 1 and 3600 seconds");
		return -1;
	}
	if (c->replacement_timeout_s != CLI_UNSET &&
	    (c->replacement_timeout_s < 0 || c->replacement_timeout_s > 86400)) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "--replacement-timeout must be between 0 and 86400 seconds");
		return -1;
	}
	/* Unsigned: a negative value on the command line wraps past the limit. */
	if (c->command_timeout_s > 3600) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "--command-timeout must be between 1 and 3600 seconds");
		return -1;
	}
	o->initiator_name = c->initiator_name;
	o->chap_user = c->chap_user;
	o->chap_secret = c->chap_secret;
	o->mutual_user = c->mutual_user;
	o->mutual_secret = c->mutual_secret;
	o->header_digest = c->digest;
	o->data_digest = c->digest;
	o->timeout_ms = c->timeout_s * 1000;
	o->queue_depth = c->queue_depth;
	o->nop_interval_s = c->nop_interval_s;
	o->nop_timeout_s = c->nop_timeout_s;
	o->replacement_timeout_s =
	    c->replacement_timeout_s == CLI_UNSET ? 0 : (uint32_t)c->replacement_timeout_s;
	o->command_timeout_s = c->command_timeout_s;
	if (c->max_pinned && cli_parse_size(c->max_pinned, &o->max_pinned) < 0) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "max-pinned: '%s' is not a size (e.g. 64M, 1G)", c->max_pinned);
		return -1;
	}
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	const char *u;
	char *end;
	guint64 n;
	int shift = 0;

	if (!s || !g_ascii_isdigit(*s))
		return -1;
	n = g_ascii_strtoull(s, &end, 10);
	if (*end) {
		u = strchr(units, g_ascii_toupper(*end));
		if (!u)
			return -1;
		shift = 10 * (int)(u - units + 1);
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
		if (*end)
			return -1;
	}
	if (!n || n > (G_MAXUINT64 >> shift))
		return -1;
	*out = n << shift;
	return 0;
}

/* Overwrite a secret before freeing it. */
static void free_secret(char *secret)
{
	if (secret)
		memset(secret, 0, strlen(secret));
	g_free(secret);
}

void cli_login_clear(struct cli_login *c)
{
	g_free(c->config_file);
	g_free(c->initiator_name);
	g_free(c->chap_user);
	g_free(c->secret_file);
	g_free(c->mutual_user);
	g_free(c->mutual_secret_file);
	g_free(c->transport);
	g_free(c->metrics_file);
	g_free(c->path_policy);
	g_free(c->max_pinned);
	free_secret(c->chap_secret);
	free_secret(c->mutual_secret);
	free_secret(c->file_chap_secret);
	free_secret(c->file_mutual_secret);
}

int cli_fail_code(const GError *err)
{
	if (!err || err->domain != ISA_ERROR)
		return CLI_EXIT_FAILURE;
	switch (err->code) {
	case ISA_ERROR_USAGE:
		return CLI_EXIT_USAGE;
	case ISA_ERROR_CONNECT:
		return CLI_EXIT_CONNECT;
	case ISA_ERROR_AUTH:
		return CLI_EXIT_AUTH;
	case ISA_ERROR_NOT_FOUND:
		return CLI_EXIT_NOT_FOUND;
	case ISA_ERROR_PROTOCOL:
		return CLI_EXIT_PROTOCOL;
	case ISA_ERROR_TARGET:
		return CLI_EXIT_TARGET;
	case ISA_ERROR_TIMEOUT:
		return CLI_EXIT_TIMEOUT;
	case ISA_ERROR_UNSUPPORTED:
		return CLI_EXIT_UNSUPPORTED;
	default:
		return CLI_EXIT_FAILURE;
	}
}

int cli_fail(const char *prog, const GError *err)
{
	fprintf(stderr, "%s: %s\n", prog, err ? err->message : "unknown error");
	return cli_fail_code(err);
}

char *cli_json_string(const char *s)
{
	GString *out = g_string_new("\"");

	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			g_string_append_printf(out, "\\%c", ch);
		else if (ch < 0x20)
			g_string_append_printf(out, "\\u%04x", ch);
		else
			g_string_append_c(out, (char)ch);
	}
	g_string_append_c(out, '"');
	return g_string_free(out, FALSE);
}
