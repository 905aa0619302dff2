/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Control socket: the daemon side answers, iser-list asks. One request per
 * connection keeps both sides trivial and stateless.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cmd/control.h"
#include "cmd/state.h"
#include "include/iser-attach.h"

#define REQUEST_MAX 64

char *control_path(pid_t pid)
{
	return g_strdup_printf("%s/%ld.ctl", state_dir(), (long)pid);
}

static int fill_addr(struct sockaddr_un *sa, const char *path, GError **err)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "socket path too long: %s", path);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

int control_listen(const char *path, GError **err)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, rc;

	if (fill_addr(&sa, path, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	unlink(path);
	old = umask(0077);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 8) < 0)
		goto fail;
	return fd;
fail:
	g_set_error(err, ISA_ERROR, ISA_ERROR_USAGE, "control socket %s: %s", path,
		    g_strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static void answer(int fd, char *(*report)(void *opaque), void *opaque)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char req[REQUEST_MAX + 1];
	g_autofree char *text = NULL;
	size_t off = 0, len;
	ssize_t n;

	if (poll(&p, 1, 200) <= 0)
		return;
	n = recv(fd, req, REQUEST_MAX, MSG_DONTWAIT);
	if (n <= 0)
		return;
	req[n] = '\0';
	if (strncmp(req, "stats", 5) != 0) {
		text = g_strdup("error=unknown request\n");
	} else {
		text = report(opaque);
	}
	len = strlen(text);
	while (off < len) {
		p.events = POLLOUT;
		if (poll(&p, 1, 200) <= 0)
			return;
		n = send(fd, text + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

void control_serve(int lfd, char *(*report)(void *opaque), void *opaque)
{
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		answer(fd, report, opaque);
		close(fd);
	}
}

char *control_query(const char *path, const char *request, int timeout_ms, GError **err)
{
	g_autoptr(GString) out = g_string_new(NULL);
	struct pollfd p;
	struct sockaddr_un sa;
	char buf[4096];
	ssize_t n;
	int fd;

	if (fill_addr(&sa, path, err) < 0)
		return NULL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
		g_set_error(err, ISA_ERROR, ISA_ERROR_CONNECT, "%s: %s", path, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	p.fd = fd;
	p.events = POLLIN;
	for (;;) {
		if (poll(&p, 1, timeout_ms) <= 0) {
			g_set_error(err, ISA_ERROR, ISA_ERROR_TIMEOUT, "%s did not answer", path);
			close(fd);
			return NULL;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		g_string_append_len(out, buf, n);
	}
	close(fd);
	return g_string_free(g_steal_pointer(&out), FALSE);
}
