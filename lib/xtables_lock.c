#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "lib/util.h"
#include "lib/xtables_lock.h"

/* iptables >= 1.6 (XT_LOCK_NAME); $XTABLES_LOCKFILE overrides it since 1.8.5. */
#define XT_LOCK_FILE "/run/xtables.lock"
/* iptables 1.4.20/1.4.21 bind this abstract name ("@xtables"). */
#define XT_LOCK_SOCKET "xtables"

#define POLL_FIRST_MS 10
#define POLL_MAX_MS 50

struct pw_xtables_lock {
	int fd;			/* flock()ed lock file */
	int sock;		/* bound to @xtables */
};

struct deadline {
	struct timespec end;
	unsigned poll_ms;
};

static void deadline_start(struct deadline *d, unsigned wait_ms)
{
	clock_gettime(CLOCK_MONOTONIC, &d->end);
	d->end.tv_sec += wait_ms / 1000;
	d->end.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (d->end.tv_nsec >= 1000000000L) {
		d->end.tv_sec++;
		d->end.tv_nsec -= 1000000000L;
	}
	d->poll_ms = POLL_FIRST_MS;
}

/*
 * Sleeps until the next poll, never past the deadline; false once the
 * deadline has passed. The interval grows from 10 to 50 ms: a lock that is
 * free again quickly is taken quickly, a long wait costs few wakeups.
 */
static bool deadline_wait(struct deadline *d)
{
	struct timespec now, nap;
	long left_ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left_ms = (d->end.tv_sec - now.tv_sec) * 1000L +
		  (d->end.tv_nsec - now.tv_nsec) / 1000000L;
	if (left_ms <= 0)
		return false;
	if (left_ms > (long)d->poll_ms)
		left_ms = d->poll_ms;
	nap.tv_sec = left_ms / 1000;
	nap.tv_nsec = (left_ms % 1000) * 1000000L;
	nanosleep(&nap, NULL);
	if (d->poll_ms < POLL_MAX_MS)
		d->poll_ms += POLL_FIRST_MS;
	return true;
}

/* Same choice as iptables' xtables_lock(): an empty variable means unset. */
static const char *lock_file_path(void)
{
	const char *path = getenv("XTABLES_LOCKFILE");

	return path && *path ? path : XT_LOCK_FILE;
}

static int lock_file(struct deadline *d, int *out, struct pw_buf *err)
{
	const char *path = lock_file_path();
	int fd, ret;

	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		pw_buf_printf(err, "xtables lock %s: open: %s", path, strerror(-ret));
		return ret;
	}
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			*out = fd;
			return 0;
		}
		ret = -errno;
		if (ret == -EINTR)
			continue;
		if (ret != -EWOULDBLOCK) {
			pw_buf_printf(err, "xtables lock %s: flock: %s", path,
				      strerror(-ret));
			break;
		}
		if (!deadline_wait(d)) {
			pw_buf_printf(err, "xtables lock %s: still held by another "
				      "process", path);
			break;
		}
	}
	close(fd);
	return ret;
}

static int lock_socket(struct deadline *d, int *out, struct pw_buf *err)
{
	struct sockaddr_un addr;
	/* Abstract names compare by length: exactly "\0xtables", no NUL after. */
	socklen_t len = offsetof(struct sockaddr_un, sun_path) + 1 +
			strlen(XT_LOCK_SOCKET);
	int sock, ret;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path + 1, XT_LOCK_SOCKET, strlen(XT_LOCK_SOCKET));
	/* SOCK_STREAM as iptables 1.4 uses: the kernel keys the name by type too. */
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		ret = -errno;
		pw_buf_printf(err, "xtables lock @%s: socket: %s", XT_LOCK_SOCKET,
			      strerror(-ret));
		return ret;
	}
	for (;;) {
		if (bind(sock, (struct sockaddr *)&addr, len) == 0) {
			*out = sock;
			return 0;
		}
		ret = -errno;
		if (ret != -EADDRINUSE) {
			pw_buf_printf(err, "xtables lock @%s: bind: %s", XT_LOCK_SOCKET,
				      strerror(-ret));
			break;
		}
		if (!deadline_wait(d)) {
			pw_buf_printf(err, "xtables lock @%s: still held by another "
				      "process", XT_LOCK_SOCKET);
			ret = -EWOULDBLOCK;
			break;
		}
	}
	close(sock);
	return ret;
}

int pw_xtables_lock_acquire(unsigned wait_ms, struct pw_xtables_lock **out,
			    struct pw_buf *err)
{
	struct deadline d;
	int fd = -1, sock = -1, ret;

	*out = NULL;
	/* One deadline for both: the caller's wait bounds the whole acquire. */
	deadline_start(&d, wait_ms);
	ret = lock_file(&d, &fd, err);
	if (ret < 0)
		return ret;
	ret = lock_socket(&d, &sock, err);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	*out = pw_xmalloc(sizeof(**out));
	(*out)->fd = fd;
	(*out)->sock = sock;
	return 0;
}

/* Closing is releasing: flock() ends with the file, the name with the socket. */
void pw_xtables_lock_release(struct pw_xtables_lock *lock)
{
	if (!lock)
		return;
	close(lock->sock);
	close(lock->fd);
	free(lock);
}
