/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attachment state files: write on attach, remove on exit, list for
 * iser-detach and iser-list. A file whose process is gone is stale; the
 * readers clean it up.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/state.h"

#define STATE_SUFFIX ".state"

const char *state_dir(void)
{
	const char *dir = g_getenv("ISER_ATTACH_RUNDIR");

	if (!dir || !*dir)
		dir = "/run/iser-attach";
	g_mkdir_with_parents(dir, 0755);
	return dir;
}

static char *state_path(pid_t pid)
{
	return g_strdup_printf("%s/%ld" STATE_SUFFIX, state_dir(), (long)pid);
}

int state_write(const struct attach_state *st, GError **err)
{
	g_autofree char *path = state_path(st->pid);
	g_autofree char *text = g_strdup_printf(
	    "pid=%ld\nkind=%s\nexport=%s\nuri=%s\nportal=%s\ntarget=%s\nlun=%u\n"
	    "transport=%s\nstarted=%" G_GINT64_FORMAT "\nconnections=%u\n"
	    "initiator=%s\npaths_per_portal=%u\npath_policy=%s\nall_portals=%d\n",
	    (long)st->pid, st->kind, st->export, st->uri, st->portal, st->target, st->lun,
	    st->transport, st->started, st->connections, st->initiator ? st->initiator : "",
	    st->paths_per_portal, st->path_policy ? st->path_policy : "", st->all_portals);

	/* g_file_set_contents writes a temporary and renames: readers never see half. */
	return g_file_set_contents(path, text, -1, err) ? 0 : -1;
}

void state_remove(pid_t pid)
{
	g_autofree char *path = state_path(pid);

	unlink(path);
}

static char *result_path(pid_t pid)
{
	return g_strdup_printf("%s/%ld.result", state_dir(), (long)pid);
}

int state_result_write(pid_t pid, const char *text, GError **err)
{
	g_autofree char *path = result_path(pid);

	return g_file_set_contents(path, text, -1, err) ? 0 : -1;
}

char *state_result_take(pid_t pid)
{
	g_autofree char *path = result_path(pid);
	char *text = NULL;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	unlink(path);
	return g_strchomp(text);
}

void attach_state_free(struct attach_state *st)
{
	if (!st)
		return;
	g_free(st->kind);
	g_free(st->export);
	g_free(st->uri);
	g_free(st->portal);
	g_free(st->target);
	g_free(st->transport);
	g_free(st->initiator);
	g_free(st->path_policy);
	g_free(st);
}

static struct attach_state *state_read(const char *path)
{
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	struct attach_state *st;
	guint i;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return NULL;
	st = g_new0(struct attach_state, 1);
	lines = g_strsplit(text, "\n", -1);
	for (i = 0; lines[i]; i++) {
		char *eq = strchr(lines[i], '=');
		const char *v;

		if (!eq)
			continue;
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(lines[i], "pid"))
			st->pid = (pid_t)g_ascii_strtoll(v, NULL, 10);
		else if (!strcmp(lines[i], "kind"))
			st->kind = g_strdup(v);
		else if (!strcmp(lines[i], "export"))
			st->export = g_strdup(v);
		else if (!strcmp(lines[i], "uri"))
			st->uri = g_strdup(v);
		else if (!strcmp(lines[i], "portal"))
			st->portal = g_strdup(v);
		else if (!strcmp(lines[i], "target"))
			st->target = g_strdup(v);
		else if (!strcmp(lines[i], "lun"))
			st->lun = (uint32_t)g_ascii_strtoull(v, NULL, 10);
		else if (!strcmp(lines[i], "transport"))
			st->transport = g_strdup(v);
		else if (!strcmp(lines[i], "started"))
			st->started = g_ascii_strtoll(v, NULL, 10);
		else if (!strcmp(lines[i], "connections"))
			st->connections = (unsigned)g_ascii_strtoull(v, NULL, 10);
		else if (!strcmp(lines[i], "initiator") && *v)
			st->initiator = g_strdup(v);
		else if (!strcmp(lines[i], "paths_per_portal"))
			st->paths_per_portal = (unsigned)g_ascii_strtoull(v, NULL, 10);
		else if (!strcmp(lines[i], "path_policy") && *v)
			st->path_policy = g_strdup(v);
		else if (!strcmp(lines[i], "all_portals"))
			st->all_portals = !strcmp(v, "1");
	}
	if (st->pid <= 0 || !st->export || !st->kind) {
		attach_state_free(st);
		return NULL;
	}
	return st;
}

static gint by_start(gconstpointer a, gconstpointer b)
{
	const struct attach_state *x = *(struct attach_state *const *)a;
	const struct attach_state *y = *(struct attach_state *const *)b;

	return x->started < y->started ? -1 : x->started > y->started;
}

GPtrArray *state_list(void)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)attach_state_free);
	const char *dir = state_dir();
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	if (!d)
		return out;
	while ((name = g_dir_read_name(d))) {
		g_autofree char *path = NULL;
		struct attach_state *st;

		if (!g_str_has_suffix(name, STATE_SUFFIX))
			continue;
		path = g_build_filename(dir, name, NULL);
		st = state_read(path);
		if (st)
			g_ptr_array_add(out, st);
	}
	g_ptr_array_sort(out, by_start);
	return out;
}

/* A zombie has exited: only its parent has not collected it yet. */
static bool is_zombie(pid_t pid)
{
	g_autofree char *path = g_strdup_printf("/proc/%ld/stat", (long)pid);
	g_autofree char *text = NULL;
	const char *close;

	if (!g_file_get_contents(path, &text, NULL, NULL))
		return false;
	/* "pid (comm) S ...": the state follows the last ')'. */
	close = strrchr(text, ')');
	return close && close[1] == ' ' && close[2] == 'Z';
}

bool state_alive(const struct attach_state *st)
{
	if (kill(st->pid, 0) < 0 && errno != EPERM)
		return false;
	return !is_zombie(st->pid);
}

/* @path made absolute and free of symlinks where it exists. */
static char *canonical(const char *path)
{
	char buf[PATH_MAX];

	if (realpath(path, buf))
		return g_strdup(buf);
	return g_strdup(path);
}

bool state_matches(const struct attach_state *st, const char *what)
{
	g_autofree char *c = NULL;
	g_autofree char *e = NULL;

	if (!strcmp(st->export, what) || (st->uri && !strcmp(st->uri, what)))
		return true;
	c = canonical(what);
	e = canonical(st->export);
	if (!strcmp(c, e))
		return true;
	if (st->uri && !strcmp(st->kind, "fuse")) {
		g_autofree char *u = canonical(st->uri);

		return !strcmp(c, u);
	}
	return false;
}
