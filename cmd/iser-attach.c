/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iser-attach PORTAL IQN: log in, open a LUN, export it (NBD socket, NBD
 * TCP port, FUSE file or /dev/nbdN), print what was attached once I/O can
 * flow, and keep serving in the background until iser-detach or SIGTERM.
 *
 * The process forks first: the child does all the work and tells the
 * parent through a pipe either the line to print or the error and exit
 * code. That way the parent's exit status says whether the export is
 * usable, and the serving process never forks after libfuse started its
 * threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "cmd/cli.h"
#include "cmd/control.h"
#include "cmd/memlock.h"
#include "cmd/metrics.h"
#include "cmd/state.h"
#include "fuse/export.h"
#include "nbd/kernel-socks.h"
#include "nbd/netlink.h"
#include "nbd/server.h"

/* Graceful stop: how long in-flight requests may take to finish. */
#define DRAIN_TIMEOUT_MS 30000
#define FLUSH_TIMEOUT_MS 60000
/* Kernel attach: one socket per queue, and the dead-connection timeout. */
/* Reconnect for this long after a lost connection unless configured. */
#define DEFAULT_REPLACEMENT_TIMEOUT_S 120
/* IOPS are averaged over this many one-second samples. */
#define IOPS_WINDOW 10
/* Paths whose IOPS are sampled: as many as plan_paths() allows. */
#define IOPS_PATHS 32
/* How often the metrics file is written again. */
#define METRICS_INTERVAL_S 5

static const char *prog = "iser-attach";

static gint opt_lun = -1;
static char *opt_socket;
static char *opt_tcp;
static char *opt_fuse;
static char *opt_file_name;
static gboolean opt_page_cache;
static char *opt_nbd;
static gboolean opt_nbd_flag;
static gint opt_connections;
static gboolean opt_read_only;
static char *opt_export_name;
static gboolean opt_foreground;
static char *opt_pid_file;
static gboolean opt_json;
static char *opt_resume;

enum export_kind {
	EXPORT_SOCKET,
	EXPORT_TCP,
	EXPORT_FUSE,
	EXPORT_NBD,
};

/**
 * struct attachment - everything the serving process owns.
 * @uri: the line printed once ready
 * @nbd_index: the /dev/nbdN attached, or -1
 */
struct attachment {
	enum export_kind kind;
	const char *portal;
	const char *target;
	/* The first path's session; @paths: every path's, the first one first. */
	struct isa_session *s;
	GPtrArray *paths;
	/* @portal split at its commas, then what --all-portals found. */
	GPtrArray *portals;
	/* The first @given of @portals are the command line's. */
	guint given;
	struct isa_lun *l;
	struct nbd_server *srv;
	struct fuse_export *fx;
	int nbd_index;
	char *export;
	char *uri;
	int sigfd;
	int ctlfd;
	/* srv->epfd watches the session, sigfd and (when this is set) ctlfd. */
	struct nbd_server *watching;
	bool watching_ctl;
	char *ctl_path;
	bool state_written;
	gint64 started;
	/* metrics_file with %p expanded; when to write it next; whether that failed. */
	char *metrics_path;
	gint64 metrics_next_us;
	bool metrics_failing;
	bool metrics_written;
	/* iser-detach's --timeout, sent with its SIGTERM (0: a plain signal). */
	int detach_wait_s;
	/* Why the session was ended without a logout, when it was. */
	char *abandoned;
	/* Command counts sampled once a second, for the IOPS iser-list shows. */
	gint64 sample_us[IOPS_WINDOW];
	uint64_t sample_cmds[IOPS_WINDOW];
	uint64_t sample_path_cmds[IOPS_WINDOW][IOPS_PATHS];
	unsigned samples;
	/*
	 * iser-attach --resume: the device's old server is gone and we take
	 * over its kernel device (@resumed_pid was that server); the portal
	 * and target come from its state, in @owned_portal and @owned_target.
	 */
	bool resume;
	pid_t resumed_pid;
	/* SIGUSR2: leave the kernel device (and our state) to a successor. */
	bool handover;
	char *owned_portal;
	char *owned_target;
	/* The kernel device's connections; how long it waits for a server. */
	unsigned connections;
	unsigned dead_timeout_s;
	/* Its sockets the driver dropped, replaced while we serve it. */
	struct ksocks ksocks;
	const char *initiator;
	/* How the paths were made, for --resume: the login's, as given. */
	const struct cli_login *login;
};

static gboolean parse_nbd_option(const gchar *name, const gchar *value, gpointer data, GError **err)
{
	(void)name;
	(void)data;
	(void)err;
	opt_nbd_flag = TRUE;
	g_free(opt_nbd);
	opt_nbd = value && *value ? g_strdup(value) : NULL;
	return TRUE;
}

/*
 * GLib gives an option with an optional argument the next word when that
 * word does not start with '-', so "--nbd PORTAL IQN" would take the
 * portal for a device. A bare --nbd not followed by /dev/... means "the
 * first free device": spell it "--nbd=" before parsing.
 */
static void bare_nbd_option(int argc, char **argv)
{
	static char empty_nbd[] = "--nbd=";
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return;
		if (!strcmp(argv[i], "--nbd") &&
		    (i + 1 == argc || strncmp(argv[i + 1], "/dev/", 5) != 0))
			argv[i] = empty_nbd;
	}
}

/* Split HOST:PORT or [V6]:PORT. */
static int parse_host_port(const char *text, char **host, uint16_t *port, GError **err)
{
	const char *colon = strrchr(text, ':');
	char *end;
	unsigned long v;

	if (!colon || colon == text)
		goto bad;
	v = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || v == 0 || v > 65535)
		goto bad;
	if (text[0] == '[') {
		if (colon[-1] != ']' || colon - text < 3)
			goto bad;
		*host = g_strndup(text + 1, colon - text - 2);
	} else {
		*host = g_strndup(text, colon - text);
	}
	*port = (uint16_t)v;
	return 0;
bad:
	g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
		    "invalid --tcp address '%s': expected HOST:PORT or [IPV6]:PORT", text);
	return -1;
}

/* Exactly one export; the kernel device when none is named and the driver is there. */
static int choose_export(enum export_kind *kind, GError **err)
{
	int n = !!opt_socket + !!opt_tcp + !!opt_fuse + !!opt_nbd_flag;

	if (n > 1) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "choose one export: --socket, --tcp, --fuse or --nbd");
		return -1;
	}
	if (opt_socket)
		*kind = EXPORT_SOCKET;
	else if (opt_tcp)
		*kind = EXPORT_TCP;
	else if (opt_fuse)
		*kind = EXPORT_FUSE;
	else
		*kind = EXPORT_NBD;
	if (*kind == EXPORT_NBD && !nbd_kernel_available()) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED,
			    "the nbd kernel driver is not loaded (modprobe nbd)%s",
			    n ? ""
			      : "; or export with --socket PATH, --tcp HOST:PORT or --fuse DIR");
		return -1;
	}
	return 0;
}

/* The LUN asked for, or the first disk among those the target reports. */
static struct isa_lun *open_lun(struct isa_session *s, const char *target, GError **err)
{
	g_autoptr(GArray) luns = NULL;
	guint i;

	if (opt_lun >= 0)
		return isa_lun_open(s, (uint32_t)opt_lun, err);
	luns = isa_report_luns(s, err);
	if (!luns)
		return NULL;
	for (i = 0; i < luns->len; i++) {
		g_autoptr(GError) e = NULL;
		struct isa_lun *l = isa_lun_open(s, g_array_index(luns, uint32_t, i), &e);

		if (l)
			return l;
		if (isa_session_error(s)) {
			g_propagate_error(err, g_steal_pointer(&e));
			return NULL;
		}
		g_debug("skipping LUN %u: %s", g_array_index(luns, uint32_t, i), e->message);
	}
	g_set_error(err, ISA_ERROR, ISA_ERROR_NOT_FOUND, "target %s has no disk LUN", target);
	return NULL;
}

static char *description(const struct isa_lun_info *info)
{
	return g_strdup_printf("%s %s (LUN %u)", info->vendor, info->product, info->lun);
}

static int start_nbd_listener(struct attachment *a, GError **err)
{
	const struct isa_lun_info *info = isa_lun_get_info(a->l);
	g_autofree char *desc = description(info);
	struct nbd_server_config cfg = {
	    .export_name = opt_export_name ? opt_export_name : "",
	    .description = desc,
	    .read_only = opt_read_only,
	};
	g_autofree char *host = NULL;
	uint16_t port;

	a->srv = nbd_server_new(a->s, a->l, &cfg);
	if (a->kind == EXPORT_SOCKET) {
		if (nbd_server_listen_unix(a->srv, opt_socket, err) < 0)
			return -1;
		a->export = g_strdup(opt_socket);
		a->uri = g_strdup_printf("nbd+unix:///%s?socket=%s", cfg.export_name, opt_socket);
		return 0;
	}
	if (parse_host_port(opt_tcp, &host, &port, err) < 0 ||
	    nbd_server_listen_tcp(a->srv, host, port, err) < 0)
		return -1;
	a->export = g_strdup(opt_tcp);
	a->uri = strchr(host, ':')
		     ? g_strdup_printf("nbd://[%s]:%u/%s", host, port, cfg.export_name)
		     : g_strdup_printf("nbd://%s:%u/%s", host, port, cfg.export_name);
	return 0;
}

static int start_fuse(struct attachment *a, GError **err)
{
	const struct isa_lun_info *info = isa_lun_get_info(a->l);
	g_autofree char *name =
	    opt_file_name ? g_strdup(opt_file_name) : g_strdup_printf("lun%u", info->lun);
	struct fuse_export_config cfg = {
	    .file_name = name,
	    .read_only = opt_read_only,
	    .page_cache = opt_page_cache,
	};

	a->fx = fuse_export_new(a->s, a->l, opt_fuse, &cfg, err);
	if (!a->fx)
		return -1;
	a->export = g_strdup(opt_fuse);
	a->uri = g_build_filename(opt_fuse, name, NULL);
	return 0;
}

/*
 * The kernel's connections to the device: --connections, else one per
 * path (a path down at attach counts: it is one once it joins), and at
 * least 2. The driver sends each request under its socket's lock, one
 * kernel thread per socket, and makes one blk-mq hardware queue per
 * socket (up to the CPU count, blk-mq's cap; a socket past it only
 * stands in for a dead one): with fewer sockets than paths, the sockets
 * would be the limit.
 *
 * Seen with Linux 6.1 in a loaded VM: the driver queues one receive work
 * per socket on its WQ_MEM_RECLAIM workqueue at connect; with no worker
 * at hand the rescuer thread runs the first, which loops until its socket
 * dies, and the rest wait behind it. Replies on the other sockets then
 * stay unread in the kernel until a request there times out (30 s) and
 * the driver drops that socket (and ksocks, kernel-socks.h, hands it a
 * new one). --connections=1 is free of it.
 */
static unsigned kernel_connections(const struct attachment *a)
{
	if (opt_connections > 0)
		return (unsigned)opt_connections;
	return MAX(2u, isa_lun_path_count(a->l));
}

/*
 * Hand the kernel one connected socket per queue; our ends are served by
 * the NBD server in the transmission phase, as the driver expects (each is
 * one NBD client; multi-conn is advertised, as the driver requires for
 * more than one).
 *
 * --resume: what Linux allows (drivers/block/nbd.c, nbd_genl_reconfigure
 * and nbd_reconnect_socket, as read in a 5.x tree): the number of
 * sockets is fixed at NBD_CMD_CONNECT (nbd_add_socket is not reachable
 * from NBD_CMD_RECONFIGURE; the hardware queues were made for that count
 * at start); a reconfigure's socket takes the place of one the driver
 * marked dead, and a socket with no dead one left is refused with
 * -ENOSPC, which ends the list quietly (reported as success). All N die
 * together with the process that served them (their peers close), so the
 * successor must hand exactly the device's count, the state's
 * connections: more would be dropped, fewer would leave dead sockets whose
 * requests wait for the dead-connection timeout and then fall back to a
 * live one.
 */
static int start_kernel_nbd(struct attachment *a, GError **err)
{
	const struct isa_lun_info *info = isa_lun_get_info(a->l);
	struct nbd_server_config cfg = {.export_name = "", .read_only = opt_read_only};
	unsigned n = kernel_connections(a), i;
	int index = -1, rc = -1;
	int *theirs = g_new0(int, n);

	if (opt_nbd && sscanf(opt_nbd, "/dev/nbd%d", &index) != 1) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "--nbd wants /dev/nbdN, not '%s'",
			    opt_nbd);
		goto out;
	}
	a->srv = nbd_server_new(a->s, a->l, &cfg);
	for (i = 0; i < n; i++) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			g_set_error(err, ISA_ERROR, ISA_ERROR_UNSUPPORTED, "socketpair: %s",
				    g_strerror(errno));
			n = i;
			goto out;
		}
		theirs[i] = sv[1];
		nbd_server_add_client(a->srv, sv[0], true);
	}
	a->connections = n;
	if (a->resume) {
		if (nbd_kernel_reconnect(index, theirs, n, a->dead_timeout_s, err) < 0) {
			g_prefix_error(err, "cannot take over %s from process %ld: ", opt_nbd,
				       (long)a->resumed_pid);
			if (err && *err && (*err)->domain != ISA_ERROR)
				(*err)->domain = ISA_ERROR, (*err)->code = ISA_ERROR_UNSUPPORTED;
			goto out;
		}
		a->nbd_index = index;
		g_message("took over %s from process %ld, which is gone", opt_nbd,
			  (long)a->resumed_pid);
	} else if (nbd_kernel_connect(index, theirs, n, info->blocks * info->block_size,
				      info->block_size, nbd_server_transmission_flags(a->srv),
				      a->dead_timeout_s, &a->nbd_index, err) < 0) {
		if (err && *err && (*err)->domain != ISA_ERROR)
			(*err)->domain = ISA_ERROR, (*err)->code = ISA_ERROR_UNSUPPORTED;
		goto out;
	}
	a->uri = g_strdup_printf("/dev/nbd%d", a->nbd_index);
	a->export = g_strdup(a->uri);
	ksocks_init(&a->ksocks, a->srv, a->nbd_index, a->dead_timeout_s);
	rc = 0;
out:
	/* The kernel holds its own references to the sockets it took. */
	for (i = 0; i < n; i++)
		close(theirs[i]);
	g_free(theirs);
	return rc;
}

/*
 * The LUN's capacity changed (the target said so): every front end
 * follows. New NBD clients see the new size, the FUSE file has it, and
 * /dev/nbdN is resized by the driver; iser-list reports it from the LUN.
 */
static void lun_resized(void *opaque, struct isa_lun *l)
{
	struct attachment *a = opaque;
	const struct isa_lun_info *info = isa_lun_get_info(l);
	g_autoptr(GError) err = NULL;

	if (a->srv)
		nbd_server_resize(a->srv);
	if (a->fx)
		fuse_export_resize(a->fx);
	if (a->nbd_index >= 0 && nbd_kernel_resize(a->nbd_index, info->blocks * info->block_size,
						   info->block_size, &err) < 0)
		g_warning("/dev/nbd%d keeps its old size: %s", a->nbd_index, err->message);
}

static int start_export(struct attachment *a, GError **err)
{
	int rc = -1;

	switch (a->kind) {
	case EXPORT_SOCKET:
	case EXPORT_TCP:
		rc = start_nbd_listener(a, err);
		break;
	case EXPORT_FUSE:
		rc = start_fuse(a, err);
		break;
	case EXPORT_NBD:
		rc = start_kernel_nbd(a, err);
		break;
	}
	if (rc == 0)
		isa_lun_on_resize(a->l, lun_resized, a);
	return rc;
}

/* Payload bytes copied anywhere between the client and the wire. */
static uint64_t copied_total(const struct attachment *a, const struct isa_stats *st)
{
	uint64_t copied = st->copied_bytes;

	if (a->srv) {
		struct nbd_server_stats ns;

		nbd_server_get_stats(a->srv, &ns);
		copied += ns.copied_bytes;
	}
	if (a->fx) {
		struct fuse_export_stats fs;

		fuse_export_get_stats(a->fx, &fs);
		copied += fs.copied_bytes;
	}
	return copied;
}

static void sample_iops(struct attachment *a)
{
	gint64 now = g_get_monotonic_time();
	unsigned last = (a->samples + IOPS_WINDOW - 1) % IOPS_WINDOW;
	struct isa_stats st;

	if (a->samples && now - a->sample_us[last] < G_USEC_PER_SEC)
		return;
	isa_lun_get_stats(a->l, &st);
	a->sample_us[a->samples % IOPS_WINDOW] = now;
	a->sample_cmds[a->samples % IOPS_WINDOW] = st.commands;
	for (unsigned i = 0; i < MIN(isa_lun_path_count(a->l), IOPS_PATHS); i++) {
		struct isa_path_status ps;

		isa_lun_path_status(a->l, i, &ps);
		a->sample_path_cmds[a->samples % IOPS_WINDOW][i] = ps.stats.commands;
	}
	a->samples++;
}

/*
 * Commands per second over the samples kept, of path @path, or of the
 * whole attachment for @path < 0.
 */
static double iops_of(const struct attachment *a, int path)
{
	unsigned newest = (a->samples + IOPS_WINDOW - 1) % IOPS_WINDOW;
	unsigned oldest = a->samples > IOPS_WINDOW ? a->samples % IOPS_WINDOW : 0;
	uint64_t n;

	if (a->samples < 2 || a->sample_us[newest] <= a->sample_us[oldest])
		return 0;
	n = path < 0 ? a->sample_cmds[newest] - a->sample_cmds[oldest]
		     : a->sample_path_cmds[newest][path] - a->sample_path_cmds[oldest][path];
	return (double)n * G_USEC_PER_SEC / (double)(a->sample_us[newest] - a->sample_us[oldest]);
}

/* pathN_KEY lines, N from 0: what iser-list shows of each path. */
static void append_paths(GString *out, const struct attachment *a)
{
	unsigned n = isa_lun_path_count(a->l), i;

	g_string_append_printf(out, "paths=%u\n", n);
	for (i = 0; i < n; i++) {
		struct isa_path_status ps;
		const struct isa_stats *st = &ps.stats;

		isa_lun_path_status(a->l, i, &ps);
		g_string_append_printf(
		    out,
		    "path%u_portal=%s\npath%u_state=%s\npath%u_transport=%s\npath%u_alua=%s\n"
		    "path%u_outstanding=%u\n"
		    "path%u_commands=%" PRIu64 "\npath%u_bytes_read=%" PRIu64
		    "\npath%u_bytes_written=%" PRIu64 "\npath%u_reconnects=%" PRIu64
		    "\npath%u_connections_lost=%" PRIu64 "\npath%u_iops=%.0f\n",
		    i, ps.portal, i, ps.state, i, ps.transport ? ps.transport : "?", i,
		    isa_lun_path_alua(a->l, i), i, ps.outstanding, i, st->commands, i,
		    st->bytes_read, i, st->bytes_written, i, st->reconnects, i,
		    st->connections_lost, i, i < IOPS_PATHS ? iops_of(a, (int)i) : 0);
	}
}

/* The control socket's answer: key=value lines for iser-list. */
static char *report(void *opaque)
{
	struct attachment *a = opaque;
	const struct isa_lun_info *info = isa_lun_get_info(a->l);
	struct isa_session_info si;
	struct isa_stats st;
	g_autoptr(GString) more = g_string_new(NULL);
	double iops = iops_of(a, -1);

	isa_lun_get_stats(a->l, &st);
	metrics_append_report(more, &st);
	if (a->srv) {
		struct nbd_server_stats ns;

		nbd_server_get_stats(a->srv, &ns);
		g_string_append_printf(more, "clients=%u\nin_flight=%" PRIu64 "\n", ns.connections,
				       ns.in_flight);
		if (a->ksocks.srv)
			g_string_append_printf(
			    more, "sockets_replaced=%" PRIu64 "\nrequests_held=%" PRIu64 "\n",
			    a->ksocks.replaced, ns.held);
	}
	append_paths(more, a);
	isa_session_get_info(a->s, &si);
	return g_strdup_printf(
	    "state=%s\ntransport=%s\nsize=%" PRIu64 "\nblock_size=%u\n"
	    "commands=%" PRIu64 "\nbytes_read=%" PRIu64 "\nbytes_written=%" PRIu64
	    "\niops=%.0f\nlatency_us=%" PRIu64 "\nreconnects=%" PRIu64 "\nconnections_lost=%" PRIu64
	    "\npinned_bytes=%" PRIu64 "\nretries=%" PRIu64 "\naborts=%" PRIu64 "\nerrors=%" PRIu64
	    "\ncopied_bytes=%" PRIu64 "\n%s",
	    isa_lun_state_name(a->l), si.transport, info->blocks * info->block_size,
	    info->block_size, st.commands, st.bytes_read, st.bytes_written, iops,
	    st.commands ? st.latency_us_total / st.commands : 0, st.reconnects, st.connections_lost,
	    st.pinned_bytes, st.retries, st.aborts, st.errors, copied_total(a, &st), more->str);
}

static void fill_state(const struct attachment *a, struct attach_state *st)
{
	static const char *const kinds[] = {"socket", "tcp", "fuse", "nbd"};
	struct isa_session_info si;

	isa_session_get_info(a->s, &si);
	st->pid = getpid();
	st->kind = (char *)kinds[a->kind];
	st->export = a->export;
	st->uri = a->uri;
	st->portal = (char *)a->portal;
	st->target = (char *)a->target;
	st->lun = isa_lun_get_info(a->l)->lun;
	st->transport = (char *)si.transport;
	st->started = a->started;
	st->connections = a->connections;
	st->initiator = (char *)a->initiator;
	if (a->login) {
		st->paths_per_portal = a->login->paths_per_portal;
		st->path_policy = a->login->path_policy;
		st->all_portals = a->login->all_portals;
	}
}

/*
 * Every METRICS_INTERVAL_S, the metrics_file gets this attachment's
 * metrics, the same iser-list --metrics shows for it.
 */
static void write_metrics(struct attachment *a)
{
	gint64 now = g_get_monotonic_time();
	struct attach_state st = {0};
	g_autoptr(GPtrArray) list = g_ptr_array_new();
	g_autoptr(GHashTable) kv = NULL;
	g_autofree char *text = NULL;
	g_autofree char *rep = NULL;
	g_autoptr(GError) err = NULL;

	if (!a->metrics_path || now < a->metrics_next_us)
		return;
	a->metrics_next_us = now + METRICS_INTERVAL_S * G_USEC_PER_SEC;
	fill_state(a, &st);
	g_ptr_array_add(list, &st);
	rep = report(a);
	kv = metrics_parse_report(rep);
	text = metrics_format(list, &kv);
	if (metrics_write_file(a->metrics_path, text, &err) < 0) {
		if (!a->metrics_failing)
			g_warning("%s; trying again every %d s", err->message, METRICS_INTERVAL_S);
		a->metrics_failing = true;
		return;
	}
	if (a->metrics_failing)
		g_message("wrote %s again", a->metrics_path);
	a->metrics_failing = false;
	a->metrics_written = true;
}

static void log_stats(struct attachment *a)
{
	struct isa_stats st;
	uint64_t copied;

	isa_lun_get_stats(a->l, &st);
	copied = copied_total(a, &st);
	g_message("stats: commands %" PRIu64 ", read %" PRIu64 ", written %" PRIu64
		  ", copied payload %" PRIu64 ", retries %" PRIu64 ", errors %" PRIu64
		  ", reconnects %" PRIu64 ", aborts %" PRIu64,
		  st.commands, st.bytes_read, st.bytes_written, copied, st.retries, st.errors,
		  st.reconnects, st.aborts);
}

static bool frontend_drained(const struct attachment *a)
{
	if (a->srv && !nbd_server_drained(a->srv))
		return false;
	if (a->fx && !fuse_export_drained(a->fx))
		return false;
	return true;
}

/* Readiness nbd_server_wait() reports for the fds it watches for us. */
enum {
	READY_SESSION = 1,
	READY_SIGNAL = 2,
	READY_CONTROL = 4,
};

/*
 * The NBD server's epoll set also watches the session, the signalfd and
 * the control socket, so that one epoll_wait() per turn waits for all.
 */
static void watch_fds(struct attachment *a)
{
	if (a->watching != a->srv) {
		a->watching = a->srv;
		a->watching_ctl = false;
		if (nbd_server_watch(a->srv, isa_lun_get_fd(a->l), READY_SESSION) < 0 ||
		    nbd_server_watch(a->srv, a->sigfd, READY_SIGNAL) < 0)
			g_error("cannot watch the session: %s", g_strerror(errno));
	}
	if (a->ctlfd >= 0 && !a->watching_ctl) {
		if (nbd_server_watch(a->srv, a->ctlfd, READY_CONTROL) < 0)
			g_error("cannot watch the control socket: %s", g_strerror(errno));
		a->watching_ctl = true;
	}
}

/*
 * One turn, batched: the commands submitted go to the target in one
 * send, the replies completed go to each NBD client in one send; what
 * was found quiet costs no epoll_wait().
 */
static unsigned service_turn(struct attachment *a, int timeout_ms)
{
	unsigned ready;

	isa_lun_cork(a->l, true);
	if (a->srv) {
		watch_fds(a);
		nbd_server_hold(a->srv, true);
		/* Clients first: what they submit goes out with this turn's send. */
		ready = nbd_server_wait(a->srv, timeout_ms);
	} else {
		struct pollfd p[4] = {
		    {.fd = isa_lun_get_fd(a->l), .events = POLLIN},
		    {.fd = fuse_export_get_fd(a->fx), .events = POLLIN},
		    {.fd = a->sigfd, .events = POLLIN},
		    {.fd = a->ctlfd, .events = POLLIN},
		};

		if (poll(p, 4, timeout_ms) < 0 && errno != EINTR)
			g_warning("poll: %s", g_strerror(errno));
		ready = (p[0].revents ? READY_SESSION : 0) | (p[2].revents ? READY_SIGNAL : 0) |
			(p[3].revents ? READY_CONTROL : 0);
		if (ready & READY_SESSION)
			isa_lun_service(a->l);
		fuse_export_service(a->fx);
		ready &= ~READY_SESSION;
	}
	if (ready & READY_SESSION)
		isa_lun_service(a->l);
	else
		isa_lun_complete(a->l);
	if (a->srv)
		nbd_server_hold(a->srv, false);
	isa_lun_cork(a->l, false);
	return ready;
}

/* One turn of the loop; true when a signal waits on the signalfd. */
static bool service_all(struct attachment *a, int timeout_ms)
{
	int due = a->ksocks.srv ? ksocks_due_ms(&a->ksocks) : -1;
	unsigned ready = service_turn(a, due >= 0 ? MIN(due, timeout_ms) : timeout_ms);

	if (a->ctlfd >= 0 && (ready & READY_CONTROL))
		control_serve(a->ctlfd, report, a);
	if (a->ksocks.srv)
		ksocks_service(&a->ksocks);
	sample_iops(a);
	return ready & READY_SIGNAL;
}

static void flush_done(void *opaque, int err, const char *msg)
{
	int *result = opaque;

	*result = err;
	if (err)
		g_warning("flush before detach failed: %s", msg);
}

static bool session_recovering(const struct attachment *a)
{
	return !strcmp(isa_lun_state_name(a->l), "recovering");
}

/*
 * iser-detach gave us its --timeout and the session has not come back
 * (or not flushed) within it: end the session without a logout. What is
 * still in flight fails with an error to its client (none of it was
 * acknowledged, so nothing acknowledged is lost), and iser-detach hears
 * why from the result file.
 */
static void abandon_session(struct attachment *a, const char *doing)
{
	gint64 deadline = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;
	g_autofree char *why = NULL;

	a->abandoned =
	    session_recovering(a)
		? g_strdup_printf("the session was still recovering after %d s", a->detach_wait_s)
		: g_strdup_printf("%s took longer than %d s", doing, a->detach_wait_s);
	why = g_strdup_printf("detached without a logout: %s", a->abandoned);
	g_warning("%s", why);
	isa_lun_abandon(a->l, why);
	/* The front ends answer the failed requests. */
	while (!frontend_drained(a) && g_get_monotonic_time() < deadline)
		service_all(a, 100);
}

/*
 * Stop serving without losing a block: no new requests, finish those in
 * flight, SYNCHRONIZE CACHE, then unexport and log out. Sent by
 * iser-detach, the signal bounds the whole by its --timeout: a session that
 * is recovering (or flushing) past it is ended without a logout.
 */
static void stop_serving(struct attachment *a)
{
	gint64 now = g_get_monotonic_time();
	gint64 limit = a->detach_wait_s ? now + a->detach_wait_s * G_USEC_PER_SEC : 0;
	gint64 deadline = limit ? limit : now + DRAIN_TIMEOUT_MS * 1000LL;
	int result = 1;
	g_autoptr(GError) err = NULL;

	if (a->srv)
		nbd_server_shutdown(a->srv);
	while (!frontend_drained(a) && g_get_monotonic_time() < deadline)
		service_all(a, 100);
	if (limit && !isa_lun_error(a->l) && (!frontend_drained(a) || session_recovering(a)))
		abandon_session(a, "draining the requests in flight");
	if (!frontend_drained(a))
		g_warning("requests still in flight after %d s; detaching anyway",
			  (int)((g_get_monotonic_time() - now) / G_USEC_PER_SEC));
	if (!isa_lun_error(a->l) && !isa_lun_get_info(a->l)->read_only &&
	    isa_flush(a->l, flush_done, &result) == 0) {
		deadline = limit ? limit : g_get_monotonic_time() + FLUSH_TIMEOUT_MS * 1000LL;
		while (result == 1 && !isa_lun_error(a->l) && g_get_monotonic_time() < deadline)
			service_all(a, 100);
		if (limit && result == 1 && !isa_lun_error(a->l))
			abandon_session(a, "the flush");
	}
	/*
	 * The kernel's sockets closed when they went idle above, before this
	 * disconnect, so the kernel logs "Receive control failed (-32)". The
	 * other order deadlocks: the genetlink disconnect runs in our own
	 * system call and sends NBD_CMD_DISC under the socket's transmit lock,
	 * which a kernel thread may hold while it blocks writing a request into
	 * a socket we no longer read.
	 */
	if (a->handover)
		g_message("%s waits for the next iser-attach (--resume) for up to %u s", a->export,
			  a->dead_timeout_s);
	else if (a->nbd_index >= 0 && nbd_kernel_disconnect(a->nbd_index, &err) < 0)
		g_warning("%s", err->message);
	log_stats(a);
}

static int serve(struct attachment *a)
{
	for (;;) {
		struct signalfd_siginfo si;

		bool signalled = service_all(a, 1000);

		write_metrics(a);
		if (signalled && read(a->sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGUSR2 && a->nbd_index < 0) {
				g_warning("SIGUSR2: only a /dev/nbdN export can be handed over; "
					  "going on");
				continue;
			}
			/*
			 * SIGUSR2 (the service unit's reload): finish what is in
			 * flight, flush, log out and exit, but leave the device
			 * bound and our state, for the successor to resume.
			 */
			a->handover = si.ssi_signo == SIGUSR2;
			if (a->handover) {
				g_message("SIGUSR2: handing %s over to the next iser-attach",
					  a->export);
				break;
			}
			/* iser-detach queues its --timeout with the signal. */
			if (si.ssi_code == SI_QUEUE && si.ssi_int > 0)
				a->detach_wait_s = si.ssi_int;
			g_message("%s: detaching", strsignal((int)si.ssi_signo));
			break;
		}
		if (a->fx && fuse_export_unmounted(a->fx)) {
			g_message("%s was unmounted: detaching", a->export);
			break;
		}
	}
	stop_serving(a);
	if (a->handover) {
		/* Our state says what the successor resumes. */
		a->state_written = false;
		return CLI_EXIT_HANDED_OVER;
	}
	if (a->abandoned) {
		g_autoptr(GError) err = NULL;

		if (state_result_write(getpid(), a->abandoned, &err) < 0)
			g_warning("%s", err->message);
		return CLI_EXIT_TIMEOUT;
	}
	return 0;
}

static int block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void syslog_handler(const gchar *domain, GLogLevelFlags level, const gchar *msg,
			   gpointer data)
{
	int prio = LOG_INFO;

	(void)domain;
	(void)data;
	if (level & G_LOG_LEVEL_DEBUG)
		return;
	if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
		prio = LOG_ERR;
	else if (level & G_LOG_LEVEL_WARNING)
		prio = LOG_WARNING;
	syslog(prio, "%s", msg);
}

/* Child of the fork: stdio to /dev/null, logs to syslog, own session. */
static void become_daemon(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	setsid();
	if (chdir("/") < 0)
		g_debug("chdir /: %s", g_strerror(errno));
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	openlog(prog, LOG_PID, LOG_DAEMON);
	g_log_set_default_handler(syslog_handler, NULL);
}

static char *ready_line(const struct attachment *a)
{
	const struct isa_lun_info *info = isa_lun_get_info(a->l);
	g_autofree char *u = NULL, *e = NULL, *t = NULL;

	if (!opt_json)
		return g_strdup(a->uri);
	u = cli_json_string(a->uri);
	e = cli_json_string(a->export);
	t = cli_json_string(a->target);
	return g_strdup_printf("{\"uri\": %s, \"export\": %s, \"target\": %s, \"lun\": %u, "
			       "\"size\": %" PRIu64 ", \"block_size\": %u, \"read_only\": %s, "
			       "\"pid\": %ld}",
			       u, e, t, info->lun, info->blocks * info->block_size,
			       info->block_size,
			       info->read_only || opt_read_only ? "true" : "false", (long)getpid());
}

static void record_state(struct attachment *a)
{
	struct attach_state st = {0};
	g_autoptr(GError) err = NULL;

	a->started = g_get_real_time() / G_USEC_PER_SEC;
	fill_state(a, &st);
	if (state_write(&st, &err) < 0) {
		g_warning("cannot record the attachment: %s", err->message);
		return;
	}
	a->state_written = true;
	a->ctl_path = control_path(st.pid);
	a->ctlfd = control_listen(a->ctl_path, &err);
	if (a->ctlfd < 0)
		g_warning("%s; iser-list will not show live counters", err->message);
}

/*
 * Over iSER, one request of NBD_SERVER_MAX_PAYLOAD (the largest an NBD client may
 * send; FUSE's are smaller) must fit what may be pinned, or it would wait
 * for ever.
 */
static int check_pinned(struct isa_session *s, const struct isa_options *o, GError **err)
{
	struct isa_session_info si;
	struct isa_stats st;

	isa_session_get_info(s, &si);
	if (strcmp(si.transport, "iser") != 0)
		return 0;
	isa_session_get_stats(s, &st);
	return memlock_check(st.pinned_bytes, o->max_pinned ? o->max_pinned : 64ull << 20,
			     NBD_SERVER_MAX_PAYLOAD, err);
}

/*
 * "host", "host:port", "[v6]", "[v6]:port", a bare IPv6 literal, or a
 * SendTargets address "host:port,tpgt", as "host:port" ("[v6]:port") with
 * port 3260 when absent: one spelling per portal, to compare.
 */
static char *portal_key(const char *portal)
{
	g_autofree char *p = g_strdup(portal);
	char *comma = strchr(p, ','), *colon;

	if (comma)
		*comma = 0;
	if (p[0] == '[') {
		char *end = strchr(p, ']');

		if (end && end[1] == ':')
			return g_strdup(p);
		return end ? g_strdup_printf("%.*s:3260", (int)(end - p + 1), p) : g_strdup(p);
	}
	colon = strchr(p, ':');
	if (colon && strchr(colon + 1, ':'))
		return g_strdup_printf("[%s]:3260", p);
	return colon ? g_strdup(p) : g_strdup_printf("%s:3260", p);
}

/*
 * --all-portals: SendTargets at the first portal, and every portal it
 * reports for our target that is not given already, after the given ones.
 */
static int add_discovered_portals(struct attachment *a, const struct cli_login *login, GError **err)
{
	g_autoptr(GPtrArray) targets = NULL;
	const struct isa_target *t = NULL;
	guint i, k;

	targets = isa_discover(g_ptr_array_index(a->portals, 0), &login->opts, err);
	if (!targets) {
		g_prefix_error(err, "--all-portals: ");
		return -1;
	}
	for (i = 0; i < targets->len && !t; i++) {
		const struct isa_target *c = g_ptr_array_index(targets, i);

		if (!strcmp(c->name, a->target))
			t = c;
	}
	if (!t) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_NOT_FOUND,
			    "--all-portals: SendTargets at %s does not list %s",
			    (const char *)g_ptr_array_index(a->portals, 0), a->target);
		return -1;
	}
	for (i = 0; i < t->portals->len; i++) {
		g_autofree char *key = portal_key(g_ptr_array_index(t->portals, i));
		bool known = false;

		for (k = 0; k < a->portals->len && !known; k++) {
			g_autofree char *have = portal_key(g_ptr_array_index(a->portals, k));

			known = !strcmp(have, key);
		}
		if (!known) {
			g_message("--all-portals: SendTargets reports %s", key);
			g_ptr_array_add(a->portals, g_steal_pointer(&key));
		}
	}
	return 0;
}

/*
 * A given path that cannot log in at attach joins later, unless we were
 * refused: authentication (or a login we cannot make) would fail the same
 * way every time, and is better seen now.
 */
static bool may_come_up(const GError *e)
{
	return e->domain == ISA_ERROR && e->code != ISA_ERROR_AUTH && e->code != ISA_ERROR_USAGE &&
	       e->code != ISA_ERROR_UNSUPPORTED;
}

/*
 * The first path that logs in: the LUN is opened (probed) on it, and it
 * is path 1 whatever its portal.
 */
static int open_first(struct attachment *a, struct cli_login *login, struct isa_session *s,
		      GError **err)
{
	a->s = s;
	g_ptr_array_add(a->paths, s);
	if (check_pinned(a->s, &login->opts, err) < 0)
		return -1;
	a->l = open_lun(a->s, a->target, err);
	return a->l ? 0 : -1;
}

/* Every given path is down: @err (the first path's) says why for each, keeping its code. */
static void all_down(GPtrArray *late, GPtrArray *why, GError *err)
{
	GString *msg = g_string_new("no path is up");
	guint i;

	for (i = 0; i < late->len; i++)
		g_string_append_printf(msg, "%s path %u at %s: %s", i ? ";" : ":", i + 1,
				       (const char *)late->pdata[i], (const char *)why->pdata[i]);
	g_free(err->message);
	err->message = g_string_free(msg, FALSE);
}

/*
 * The paths: --paths-per-portal sessions on each portal. Each must reach
 * the same LUN. A given path that is down at attach (no connection, no
 * such target yet, a timeout) does not fail the attach while another is
 * up: it logs in in the background and joins once its LUN is shown to be
 * the same (isa_lun_add_path_later), after the paths up now.
 */
static int open_paths(struct attachment *a, struct cli_login *login, GError **err)
{
	unsigned per = login->paths_per_portal ? login->paths_per_portal : 1, i, k, planned = 0;
	g_autoptr(GPtrArray) late = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) why = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) first_err = NULL;

	if (login->all_portals && add_discovered_portals(a, login, err) < 0)
		return -1;
	for (i = 0; i < a->portals->len; i++) {
		const char *portal = g_ptr_array_index(a->portals, i);
		bool down = false;

		for (k = 0; k < per; k++) {
			g_autoptr(GError) e = NULL;
			struct isa_session *s = NULL;

			planned++;
			if (i < a->given && down) {
				/* Its portal was down a moment ago: no need to wait for it again.
				 */
				g_ptr_array_add(late, g_strdup(portal));
				g_ptr_array_add(why, g_strdup(why->pdata[why->len - 1]));
				continue;
			}
			s = isa_session_open(portal, a->target, &login->opts, &e);
			if (!s && i >= a->given) {
				/* Reported, not asked for: it may be out of our reach. */
				g_warning("path %u at %s: %s (from SendTargets): left out",
					  a->paths->len + 1, portal, e->message);
				break;
			}
			if (!s && !may_come_up(e)) {
				/* One path: its own error, as a single-portal attach always said.
				 */
				if (a->portals->len * per > 1)
					g_prefix_error(&e, "path %u at %s: ", planned, portal);
				g_propagate_error(err, g_steal_pointer(&e));
				return -1;
			}
			if (!s) {
				down = true;
				g_ptr_array_add(late, g_strdup(portal));
				g_ptr_array_add(why, g_strdup(e->message));
				if (!first_err)
					first_err = g_steal_pointer(&e);
				continue;
			}
			if (!a->s) {
				if (open_first(a, login, s, err) < 0)
					return -1;
				continue;
			}
			g_ptr_array_add(a->paths, s);
			if (isa_lun_add_path(a->l, s, err) < 0) {
				if (i < a->given)
					return -1;
				g_warning("%s (from SendTargets): left out", (*err)->message);
				g_clear_error(err);
				isa_session_close(
				    g_ptr_array_steal_index(a->paths, a->paths->len - 1));
				break;
			}
		}
	}
	if (!a->s) {
		/* One path: its own error, as a single-portal attach always said. */
		if (planned > 1)
			all_down(late, why, first_err);
		g_propagate_error(err, g_steal_pointer(&first_err));
		return -1;
	}
	for (i = 0; i < late->len; i++) {
		const char *portal = late->pdata[i];
		struct isa_session *s =
		    isa_session_open_later(portal, a->target, &login->opts, err);

		if (!s)
			return -1;
		g_ptr_array_add(a->paths, s);
		if (isa_lun_add_path_later(a->l, s, err) < 0)
			return -1;
		g_warning("path %u at %s is down at attach: %s; it logs in in the background and "
			  "joins once its LUN is shown to be the same",
			  a->paths->len, portal, (const char *)why->pdata[i]);
	}
	isa_lun_set_path_policy(a->l,
				login->path_policy && !strcmp(login->path_policy, "round-robin")
				    ? ISA_PATH_ROUND_ROBIN
				    : ISA_PATH_LEAST_OUTSTANDING);
	return 0;
}

/*
 * Everything up to "ready". Returns 0 with a->uri set, or an exit code
 * with @err set.
 */
static int attach(struct attachment *a, struct cli_login *login, GError **err)
{
	if (choose_export(&a->kind, err) < 0)
		return cli_fail_code(*err);
	a->login = login;
	if (login->metrics_file) {
		g_autofree char *path = metrics_path(login->metrics_file, getpid(), err);

		if (!path)
			return cli_fail_code(*err);
		/* The serving process works from /. */
		a->metrics_path = g_canonicalize_filename(path, NULL);
	}
	/*
	 * A kernel device waits this long for a server that went away (a
	 * crash, an upgrade), so that --resume can take it over with no
	 * request failed: as long as a session waits for a lost target.
	 */
	a->dead_timeout_s = login->opts.replacement_timeout_s;
	a->initiator = login->opts.initiator_name;
	a->paths = g_ptr_array_new();
	if (open_paths(a, login, err) < 0)
		return cli_fail_code(*err);
	if (start_export(a, err) < 0)
		return cli_fail_code(*err);
	if (opt_pid_file) {
		g_autofree char *pid = g_strdup_printf("%ld\n", (long)getpid());

		if (!g_file_set_contents(opt_pid_file, pid, -1, err))
			return CLI_EXIT_USAGE;
	}
	record_state(a);
	return 0;
}

static void detach_all(struct attachment *a)
{
	if (a->fx)
		fuse_export_free(a->fx);
	if (a->srv)
		nbd_server_free(a->srv);
	isa_lun_close(a->l);
	while (a->paths && a->paths->len)
		isa_session_close(g_ptr_array_steal_index(a->paths, a->paths->len - 1));
	g_clear_pointer(&a->paths, g_ptr_array_unref);
	if (a->ctlfd >= 0) {
		close(a->ctlfd);
		unlink(a->ctl_path);
	}
	g_free(a->ctl_path);
	/* An attachment that is gone has no metrics: a stale file would say it serves. */
	if (a->metrics_written)
		unlink(a->metrics_path);
	g_free(a->metrics_path);
	if (a->state_written)
		state_remove(getpid());
	if (opt_pid_file)
		unlink(opt_pid_file);
	g_free(a->export);
	g_free(a->uri);
	g_free(a->abandoned);
	g_clear_pointer(&a->owned_portal, g_free);
	g_clear_pointer(&a->owned_target, g_free);
}

/* The kind and export string this command line asks for, as recorded. */
static void requested_export(const char **kind, const char **export)
{
	*kind = opt_socket ? "socket" : opt_tcp ? "tcp" : opt_fuse ? "fuse" : "nbd";
	*export = opt_socket ? opt_socket : opt_tcp ? opt_tcp : opt_fuse ? opt_fuse : opt_nbd;
}

/*
 * Attaching what is already attached is not an error for a script: print
 * the existing export and succeed. The same target and LUN exported the
 * same way (same socket, address, directory or device when named) counts.
 */
static bool already_attached(const char *portal, const char *target, int *rc)
{
	g_autoptr(GPtrArray) list = state_list();
	const char *kind, *export;
	guint i;

	requested_export(&kind, &export);
	for (i = 0; i < list->len; i++) {
		const struct attach_state *st = list->pdata[i];

		if (strcmp(st->kind, kind) || strcmp(st->target, target) ||
		    strcmp(st->portal, portal) || (opt_lun >= 0 && st->lun != (uint32_t)opt_lun) ||
		    (export && !state_matches(st, export)) || !state_alive(st))
			continue;
		if (opt_json) {
			g_autofree char *u = cli_json_string(st->uri);
			g_autofree char *e = cli_json_string(st->export);
			g_autofree char *t = cli_json_string(st->target);

			printf("{\"uri\": %s, \"export\": %s, \"target\": %s, \"lun\": %u, "
			       "\"pid\": %ld, \"already_attached\": true}\n",
			       u, e, t, st->lun, (long)st->pid);
		} else {
			printf("%s\n", st->uri);
		}
		g_message("%s is already attached as %s (process %ld)", target, st->export,
			  (long)st->pid);
		*rc = CLI_EXIT_OK;
		return true;
	}
	return false;
}

/*
 * iser-attach --resume DEVICE: the attachment recorded for DEVICE, whose
 * process is gone, is taken over. Its portal, target, LUN, transport,
 * connection count and initiator name come from its state; the login
 * options (CHAP, iser.conf) are given again, as the service unit does.
 */
static int resume_prepare(struct attachment *a, struct cli_login *login, GError **err)
{
	g_autoptr(GPtrArray) list = state_list();
	const struct attach_state *st = NULL;
	guint i;

	for (i = 0; i < list->len; i++) {
		const struct attach_state *c = list->pdata[i];

		if (!strcmp(c->kind, "nbd") && state_matches(c, opt_resume))
			st = c;
	}
	if (!st) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_NOT_FOUND,
			    "nothing was attached as %s: there is no state to resume from",
			    opt_resume);
		return -1;
	}
	if (state_alive(st)) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "%s is still served by process %ld: nothing to resume", st->export,
			    (long)st->pid);
		return -1;
	}
	a->resume = true;
	a->resumed_pid = st->pid;
	a->owned_portal = g_strdup(st->portal);
	a->owned_target = g_strdup(st->target);
	a->portal = a->owned_portal;
	a->target = a->owned_target;
	opt_lun = (gint)st->lun;
	g_free(opt_nbd);
	opt_nbd = g_strdup(st->export);
	opt_nbd_flag = TRUE;
	/* The device's count is fixed (start_kernel_nbd): ours must be the same. */
	if (opt_connections > 0 && st->connections && (unsigned)opt_connections != st->connections)
		g_warning("%s was connected with %u sockets, which a resume cannot change: "
			  "--connections %d is not taken",
			  st->export, st->connections, opt_connections);
	if (st->connections)
		opt_connections = (gint)st->connections;
	if (!login->transport && st->transport)
		login->transport = g_strdup(st->transport);
	if (!login->initiator_name && st->initiator)
		login->initiator_name = g_strdup(st->initiator);
	/* The same paths as before, unless told otherwise now. */
	if (!login->paths_per_portal)
		login->paths_per_portal = st->paths_per_portal;
	if (!login->path_policy && st->path_policy)
		login->path_policy = g_strdup(st->path_policy);
	login->all_portals |= st->all_portals;
	/* Its state says what it was; from here on ours says what it is. */
	state_remove(st->pid);
	return 0;
}

/*
 * Attaching PORTAL IQN --nbd /dev/nbdN again where an iser-attach of the
 * same LUN on that device died (the service unit restarting it after a
 * crash): resume instead of failing on a busy device.
 */
static bool left_by_dead_process(const char *portal, const char *target)
{
	g_autoptr(GPtrArray) list = state_list();
	guint i;

	if (!opt_nbd)
		return false;
	for (i = 0; i < list->len; i++) {
		const struct attach_state *st = list->pdata[i];

		if (!strcmp(st->kind, "nbd") && state_matches(st, opt_nbd) &&
		    !strcmp(st->portal, portal) && !strcmp(st->target, target) &&
		    (opt_lun < 0 || st->lun == (uint32_t)opt_lun) && !state_alive(st))
			return true;
	}
	return false;
}

/*
 * PORTAL[,PORTAL...] into a->portals, and the path options checked: how
 * many sessions on each, and the policy that spreads requests over them.
 */
static int plan_paths(struct attachment *a, const struct cli_login *login, GError **err)
{
	g_auto(GStrv) parts = g_strsplit(a->portal, ",", -1);
	unsigned per = login->paths_per_portal ? login->paths_per_portal : 1;
	guint i;

	a->portals = g_ptr_array_new_with_free_func(g_free);
	for (i = 0; parts[i]; i++) {
		if (!*parts[i]) {
			g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
				    "empty portal in '%s': expected PORTAL[,PORTAL...]", a->portal);
			return -1;
		}
		g_ptr_array_add(a->portals, g_strdup(parts[i]));
	}
	if (!a->portals->len) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "no portal given");
		return -1;
	}
	a->given = a->portals->len;
	if (per > 16) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "--paths-per-portal must be between 1 and 16");
		return -1;
	}
	if (a->portals->len * per > 32) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "%u portals with %u paths each make more than 32 paths",
			    a->portals->len, per);
		return -1;
	}
	if (login->path_policy && strcmp(login->path_policy, "least-outstanding") &&
	    strcmp(login->path_policy, "round-robin")) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE,
			    "unknown path policy '%s': use least-outstanding or round-robin",
			    login->path_policy);
		return -1;
	}
	return 0;
}

/* Parent side of the fork: relay the child's verdict. */
static int wait_for_child(int rfd)
{
	g_autoptr(GString) msg = g_string_new(NULL);
	char buf[4096];
	ssize_t n;
	int code;

	while ((n = read(rfd, buf, sizeof(buf))) > 0)
		g_string_append_len(msg, buf, n);
	if (msg->len < 2) {
		fprintf(stderr, "%s: the serving process died before it was ready\n", prog);
		return CLI_EXIT_FAILURE;
	}
	/* "<code>\n<line>": code 0 means the line goes to stdout. */
	code = atoi(msg->str);
	if (code == 0)
		printf("%s\n", strchr(msg->str, '\n') + 1);
	else
		fprintf(stderr, "%s: %s\n", prog, strchr(msg->str, '\n') + 1);
	return code;
}

static void tell_parent(int wfd, int code, const char *line)
{
	g_autofree char *msg = g_strdup_printf("%d\n%s", code, line ? line : "");
	size_t off = 0, len = strlen(msg);

	while (off < len) {
		ssize_t n = write(wfd, msg + off, len - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(wfd);
}

int main(int argc, char **argv)
{
	struct cli_login login = {0};
	const GOptionEntry entries[] = {
	    {"lun", 'l', 0, G_OPTION_ARG_INT, &opt_lun,
	     "LUN to export (default: the first disk LUN)", "N"},
	    {"socket", 0, 0, G_OPTION_ARG_FILENAME, &opt_socket,
	     "Serve NBD on a unix socket (mode 0600)", "PATH"},
	    {"tcp", 0, 0, G_OPTION_ARG_STRING, &opt_tcp, "Serve NBD on TCP", "HOST:PORT"},
	    {"fuse", 0, 0, G_OPTION_ARG_FILENAME, &opt_fuse,
	     "Mount a FUSE file system at DIR with one file for the LUN", "DIR"},
	    {"file-name", 0, 0, G_OPTION_ARG_STRING, &opt_file_name,
	     "FUSE: the file's name (default lunN)", "NAME"},
	    {"page-cache", 0, 0, G_OPTION_ARG_NONE, &opt_page_cache,
	     "FUSE: use the kernel page cache (default: direct I/O)", NULL},
	    {"nbd", 0, G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK, parse_nbd_option,
	     "Attach to the kernel nbd driver (default when it is loaded)", "/dev/nbdN"},
	    {"connections", 0, 0, G_OPTION_ARG_INT, &opt_connections,
	     "--nbd: sockets handed to the kernel (default: one per path, at least 2)", "N"},
	    {"read-only", 'r', 0, G_OPTION_ARG_NONE, &opt_read_only, "Export read-only", NULL},
	    {"export-name", 0, 0, G_OPTION_ARG_STRING, &opt_export_name,
	     "NBD export name (default \"\")", "NAME"},
	    {"foreground", 'f', 0, G_OPTION_ARG_NONE, &opt_foreground,
	     "Keep serving in the foreground", NULL},
	    {"pid-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_pid_file,
	     "Write the serving process's pid to FILE", "FILE"},
	    {"json", 'j', 0, G_OPTION_ARG_NONE, &opt_json, "Print JSON", NULL},
	    {"resume", 0, 0, G_OPTION_ARG_FILENAME, &opt_resume,
	     "Take over /dev/nbdN from its iser-attach that died (no PORTAL and IQN)", "DEVICE"},
	    {"paths-per-portal", 0, 0, G_OPTION_ARG_INT, &login.paths_per_portal,
	     "Sessions (paths) to open on each portal (default 1)", "N"},
	    {"path-policy", 0, 0, G_OPTION_ARG_STRING, &login.path_policy,
	     "How requests choose a path: least-outstanding (default) or round-robin", "POLICY"},
	    {"all-portals", 0, 0, G_OPTION_ARG_NONE, &login.all_portals,
	     "Also a path to every portal SendTargets reports for IQN", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("PORTAL[,PORTAL...] IQN");
	g_autoptr(GError) err = NULL;
	struct attachment a = {.nbd_index = -1, .sigfd = -1, .ctlfd = -1};
	int pipefd[2] = {-1, -1};
	int rc;

	g_option_context_set_summary(
	    ctx, "Log in to the iSCSI target IQN at PORTAL and export one of its LUNs as an\n"
		 "NBD socket, an NBD TCP port, a FUSE file or /dev/nbdN. With several portals\n"
		 "(or --paths-per-portal), each path is a session of its own to the same LUN\n"
		 "(checked by its VPD 83 designator): requests are spread over the paths up,\n"
		 "and those of a path that fails are sent again on the others (TCP or iSER). A\n"
		 "path down at attach logs in in the background and joins once checked.");
	g_option_context_set_description(
	    ctx, "Prints the export (NBD URI, file or device) once I/O can flow, then serves\n"
		 "in the background until iser-detach or SIGTERM. Exit status: 0 attached,\n"
		 "2 usage, 3 portal unreachable, 4 authentication failed, 5 no such target\n"
		 "or LUN, 6 protocol error, 7 target error, 8 timeout, 9 unsupported (no nbd\n"
		 "driver, no FUSE, no RDMA device), 10 /dev/nbdN handed over (SIGUSR2). See\n"
		 "iser-attach(1).");
	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_add_group(ctx, cli_login_group(&login));
	bare_nbd_option(argc, argv);
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "%s: %s\n", prog, err->message);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	cli_log_init(prog, login.verbose, login.quiet);
	if (opt_resume) {
		if (argc != 1 || opt_socket || opt_tcp || opt_fuse || opt_nbd_flag) {
			fprintf(stderr,
				"%s: --resume takes no PORTAL, IQN or export: they are in the "
				"state of the attachment it resumes\n",
				prog);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
		if (resume_prepare(&a, &login, &err) < 0) {
			rc = cli_fail(prog, err);
			goto out;
		}
	} else if (argc != 3) {
		fprintf(stderr, "%s: expected PORTAL and IQN (try --help)\n", prog);
		rc = CLI_EXIT_USAGE;
		goto out;
	} else {
		a.portal = argv[1];
		a.target = argv[2];
		if (left_by_dead_process(a.portal, a.target)) {
			opt_resume = g_strdup(opt_nbd);
			if (resume_prepare(&a, &login, &err) < 0) {
				rc = cli_fail(prog, err);
				goto out;
			}
		}
	}
	if (a.portal) {
		/* The [portal] section of iser.conf that applies is the first portal's. */
		g_autofree char *first = g_strndup(a.portal, strcspn(a.portal, ","));

		if (cli_login_finish(&login, first, a.target, &err) < 0 ||
		    plan_paths(&a, &login, &err) < 0) {
			rc = cli_fail(prog, err);
			goto out;
		}
	} else if (cli_login_finish(&login, a.portal, a.target, &err) < 0) {
		rc = cli_fail(prog, err);
		goto out;
	}
	/* An attachment outlives target restarts and link flaps by default. */
	if (login.replacement_timeout_s == CLI_UNSET)
		login.opts.replacement_timeout_s = DEFAULT_REPLACEMENT_TIMEOUT_S;
	if (!a.resume && already_attached(a.portal, a.target, &rc))
		goto out;
	a.sigfd = block_signals();
	if (!opt_foreground) {
		pid_t pid;

		if (pipe2(pipefd, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
			fprintf(stderr, "%s: cannot start the serving process: %s\n", prog,
				g_strerror(errno));
			rc = CLI_EXIT_FAILURE;
			goto out;
		}
		if (pid > 0) {
			close(pipefd[1]);
			rc = wait_for_child(pipefd[0]);
			close(pipefd[0]);
			goto out;
		}
		close(pipefd[0]);
	}
	rc = attach(&a, &login, &err);
	if (rc) {
		if (opt_foreground)
			fprintf(stderr, "%s: %s\n", prog, err->message);
		else
			tell_parent(pipefd[1], rc, err->message);
		detach_all(&a);
		goto out;
	}
	if (opt_foreground) {
		g_autofree char *line = ready_line(&a);

		printf("%s\n", line);
		fflush(stdout);
	} else {
		g_autofree char *line = ready_line(&a);

		become_daemon();
		tell_parent(pipefd[1], 0, line);
	}
	rc = serve(&a);
	detach_all(&a);
out:
	if (a.sigfd >= 0)
		close(a.sigfd);
	cli_login_clear(&login);
	if (a.portals)
		g_ptr_array_unref(a.portals);
	g_free(a.owned_portal);
	g_free(a.owned_target);
	return rc;
}
