#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/sdnotify.h"
#include "lib/util.h"

/*
 * The protocol is one datagram per message to the socket systemd names in
 * $NOTIFY_SOCKET; systemd learns the sender's pid from SO_PASSCRED on its
 * side, so nothing but the text needs sending. A socket per message, as
 * libsystemd does: notifications are rare and this keeps no state around
 * a fork or a restart of systemd.
 */

static int notify_addr(const char *path, struct sockaddr_un *sa, socklen_t *salen)
{
	size_t len = strlen(path);

	/* Newer systemd may also hand out "vsock:..." for VMs; not our case. */
	if (path[0] != '/' && path[0] != '@')
		return -EAFNOSUPPORT;
	if (len < 2 || len > sizeof(sa->sun_path))
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, path, len);
	if (path[0] == '@') {
		/*
		 * Abstract names are compared over the whole address length,
		 * so the length must be exact and carry no trailing NUL.
		 */
		sa->sun_path[0] = '\0';
		*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		if (len == sizeof(sa->sun_path))
			return -EINVAL;		/* no room for the NUL */
		*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	return 0;
}

int pw_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	struct msghdr mh;
	struct iovec iov;
	socklen_t salen;
	int fd, ret;

	if (!state || !*state)
		return -EINVAL;
	/* Not started by systemd (or by a unit that is not Type=notify). */
	if (!path || !*path)
		return 0;
	ret = notify_addr(path, &sa, &salen);
	if (ret < 0)
		return ret;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)state;
	iov.iov_len = strlen(state);
	mh.msg_name = &sa;
	mh.msg_namelen = salen;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	/* MSG_NOSIGNAL: a manager gone away must not kill us with SIGPIPE. */
	ret = sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

int pw_sd_notifyf(const char *fmt, ...)
{
	struct pw_buf b = PW_BUF_INIT;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	pw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	ret = pw_sd_notify(pw_buf_str(&b));
	pw_buf_free(&b);
	return ret;
}

/* A whole decimal number, or false. */
static bool parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

uint64_t pw_sd_watchdog_interval_ms(void)
{
	const char *pid = getenv("WATCHDOG_PID");
	uint64_t usec, p;

	if (!parse_u64(getenv("WATCHDOG_USEC"), &usec) || usec == 0)
		return 0;
	/*
	 * The variables pass to children too; systemd sets WATCHDOG_PID so
	 * that only the process it watches answers.
	 */
	if (pid && (!parse_u64(pid, &p) || p != (uint64_t)getpid()))
		return 0;
	/* Round up: a sub-millisecond interval must not read as "none". */
	return (usec + 999) / 1000;
}
