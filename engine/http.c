#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <microhttpd.h>

#include "engine/http.h"
#include "lib/log.h"

/*
 * libmicrohttpd's differences, kept here and probed by configure: 0.9.53
 * renamed the epoll and error-log flags (the old names still work, but
 * deprecated), and 0.9.70 made the callbacks return enum MHD_Result.
 */
#if HAVE_DECL_MHD_USE_EPOLL
#define PW_MHD_EPOLL MHD_USE_EPOLL
#else
#define PW_MHD_EPOLL MHD_USE_EPOLL_LINUX_ONLY
#endif
#if HAVE_DECL_MHD_DAEMON_INFO_EPOLL_FD
#define PW_MHD_EPOLL_FD MHD_DAEMON_INFO_EPOLL_FD
#else
#define PW_MHD_EPOLL_FD MHD_DAEMON_INFO_EPOLL_FD_LINUX_ONLY
#endif
#if HAVE_DECL_MHD_USE_ERROR_LOG
#define PW_MHD_ERROR_LOG MHD_USE_ERROR_LOG
#else
#define PW_MHD_ERROR_LOG MHD_USE_DEBUG
#endif
#ifdef HAVE_ENUM_MHD_RESULT
typedef enum MHD_Result pw_mhd_result;
#else
typedef int pw_mhd_result;
#endif

struct pw_http {
	struct MHD_Daemon *daemon;
	pw_http_handler handler;
	void *ctx;
	int fd;
	int port;
};

static PW_PRINTF(2, 0) void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char text[512];
	size_t len;

	vsnprintf(text, sizeof(text), fmt, ap);
	len = strlen(text);
	while (len && text[len - 1] == '\n')
		text[--len] = '\0';
	pw_debug("http: %s", text);
}

static pw_mhd_result respond(struct MHD_Connection *conn, unsigned status,
			     struct pw_buf *body, const char *content_type, bool allow)
{
	struct MHD_Response *resp;
	pw_mhd_result ret;

	if (body->len) {
		size_t len = body->len;

		resp = MHD_create_response_from_buffer(len, pw_buf_steal(body),
						       MHD_RESPMEM_MUST_FREE);
	} else {
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				content_type ? content_type : "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	/*
	 * Every answer is the node's state of this moment, and none may be
	 * taken for another type or run anything but the page's own script.
	 */
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'none'; script-src 'self'; connect-src 'self'; "
				"style-src 'unsafe-inline'; frame-ancestors 'none'");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static bool has_body(struct MHD_Connection *conn)
{
	const char *length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_TRANSFER_ENCODING))
		return true;
	return length && strspn(length, "0") != strlen(length);
}

static pw_mhd_result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				const char *method, const char *version,
				const char *upload_data, size_t *upload_data_size,
				void **con_cls)
{
	struct pw_http *h = cls;
	struct pw_buf body = PW_BUF_INIT;
	const char *content_type = NULL;
	unsigned status;
	pw_mhd_result ret;

	/*
	 * Refusals are answered on the first call, with the headers alone:
	 * nothing of a body is read, and libmicrohttpd closes the connection
	 * after the answer. A GET or HEAD is answered on the second call, once
	 * the request is whole, which keeps the connection alive for the next.
	 */
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		pw_buf_puts(&body, "only GET and HEAD are served\n");
		ret = respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, &body, NULL, true);
	} else if (has_body(conn)) {
		pw_buf_puts(&body, "request bodies are not accepted\n");
		ret = respond(conn, 413 /* its name changed in 0.9.74 */, &body, NULL, false);
	} else if (!*con_cls) {
		*con_cls = h;
		return MHD_YES;
	} else if (*upload_data_size) {
		/* A body after all (no length given): refused with the above. */
		return MHD_NO;
	} else {
		status = h->handler(h->ctx, url, &body, &content_type);
		ret = respond(conn, status, &body, content_type, false);
	}
	pw_buf_free(&body);
	return ret;
}

/* ------------------------------------------------------------- address */

static int parse_port(const char *text, uint16_t *port)
{
	char *end;
	unsigned long n;

	if (!*text || strspn(text, "0123456789") != strlen(text))
		return -EINVAL;
	errno = 0;
	n = strtoul(text, &end, 10);
	if (errno || n > 65535)
		return -EINVAL;
	*port = (uint16_t)n;
	return 0;
}

/* "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" into *sa; 0 or -EINVAL. */
static int parse_address(const char *address, struct sockaddr_storage *sa, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
	const char *colon = strrchr(address, ':');
	char host[INET6_ADDRSTRLEN + 2];
	size_t hlen = colon ? (size_t)(colon - address) : 0;
	uint16_t port;

	memset(sa, 0, sizeof(*sa));
	if (parse_port(colon ? colon + 1 : address, &port) < 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, address, hlen);
	host[hlen] = '\0';
	if (hlen && host[0] == '[') {
		if (hlen < 3 || host[hlen - 1] != ']')
			return -EINVAL;
		host[hlen - 1] = '\0';
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof(*in6);
		return 0;
	}
	in4->sin_family = AF_INET;
	in4->sin_port = htons(port);
	*len = sizeof(*in4);
	if (!hlen) {
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return 0;
	}
	return inet_pton(AF_INET, host, &in4->sin_addr) == 1 ? 0 : -EINVAL;
}

/* ------------------------------------------------------------ listener */

struct pw_http *pw_http_open(const char *address, const struct pw_http_limits *limits,
			     pw_http_handler handler, void *ctx, struct pw_buf *err)
{
	static const struct pw_http_limits defaults = PW_HTTP_LIMITS_DEFAULT;
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage sa, bound;
	socklen_t sa_len = 0, bound_len = sizeof(bound);
	unsigned flags = PW_MHD_EPOLL | PW_MHD_ERROR_LOG;
	struct pw_http *h;

	if (!limits)
		limits = &defaults;
	if (parse_address(address, &sa, &sa_len) < 0) {
		pw_buf_printf(err, "http: bad listen address \"%s\" (want HOST:PORT, "
			      "[IPV6]:PORT or :PORT, numeric)", address);
		errno = EINVAL;
		return NULL;
	}
	if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h = pw_xcalloc(1, sizeof(*h));
	h->handler = handler;
	h->ctx = ctx;
	errno = 0;
	h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)limits->connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)limits->per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)limits->timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)limits->memory,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, (void *)NULL,
		MHD_OPTION_END);
	if (!h->daemon) {
		int e = errno ? errno : EADDRNOTAVAIL;

		pw_buf_printf(err, "http: cannot listen on %s: %s", address, strerror(e));
		free(h);
		errno = e;
		return NULL;
	}
	info = MHD_get_daemon_info(h->daemon, PW_MHD_EPOLL_FD);
	h->fd = info ? info->epoll_fd : -1;
	info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_LISTEN_FD);
	if (info && getsockname(info->listen_fd, (struct sockaddr *)&bound, &bound_len) == 0)
		h->port = ntohs(bound.ss_family == AF_INET6 ?
				((struct sockaddr_in6 *)&bound)->sin6_port :
				((struct sockaddr_in *)&bound)->sin_port);
	if (h->fd < 0) {
		pw_buf_printf(err, "http: %s: libmicrohttpd has no epoll here", address);
		pw_http_close(h);
		errno = ENOSYS;
		return NULL;
	}
	return h;
}

void pw_http_close(struct pw_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon);
	free(h);
}

int pw_http_fd(const struct pw_http *h)
{
	return h->fd;
}

int pw_http_port(const struct pw_http *h)
{
	return h->port;
}

int pw_http_timeout_ms(const struct pw_http *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(h->daemon, &ms) != MHD_YES)
		return -1;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/*
 * libmicrohttpd sends with MSG_NOSIGNAL where it can, but a write to a
 * peer that went away must never kill the daemon: SIGPIPE is blocked
 * around the run, and one raised in it is taken before the old mask is
 * back (as libcurl does).
 */
void pw_http_run(struct pw_http *h)
{
	static const struct timespec now = { 0, 0 };
	sigset_t pipe_set, old, pending;
	bool was_pending;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	MHD_run(h->daemon);
	if (!was_pending) {
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE) == 1)
			sigtimedwait(&pipe_set, NULL, &now);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}
