/*
 * A small HTTP listener (libmicrohttpd) for /metrics and the like, driven
 * from the daemon's own poll loop: no thread of its own. libmicrohttpd
 * runs in external-select mode with epoll, so the loop polls one fd:
 *
 *	struct pollfd p = { pw_http_fd(h), POLLIN, 0 };
 *	poll(&p, 1, pw_http_timeout_ms(h));     (or the loop's own shorter timeout)
 *	pw_http_run(h);                         (after any wake-up: cheap)
 *
 * It answers GET and HEAD only (405 with "Allow: GET, HEAD" otherwise) and
 * takes no request bodies (413). Each connection is bounded in memory
 * (headers that do not fit get an error status), in time (a client that
 * stalls is cut off without holding up the others) and in number, overall
 * and from one address.
 */
#ifndef PW_HTTP_H
#define PW_HTTP_H

#include <stddef.h>

#include "lib/util.h"

struct pw_http;

/*
 * Fills body (empty on entry) and *content_type (a static string; NULL
 * means "text/plain; charset=utf-8") for a request of path (the part of
 * the URL before any '?', %-decoded), and returns the HTTP status: 200,
 * or 404 for a path it does not serve. For HEAD the body is computed and
 * then left out.
 */
typedef unsigned (*pw_http_handler)(void *ctx, const char *path, struct pw_buf *body,
				    const char **content_type);

struct pw_http_limits {
	unsigned connections;	/* at once, from all clients */
	unsigned per_ip;	/* at once, from one address */
	unsigned timeout_s;	/* a connection idle this long is closed */
	size_t memory;		/* per connection: request line, headers and buffers */
};

/* 32 connections, 16 from one address, 10 s, 32 KiB. */
#define PW_HTTP_LIMITS_DEFAULT { 32, 16, 10, 32 * 1024 }

/*
 * Listens on address, one of
 *   "HOST:PORT"   an IPv4 address, "127.0.0.1:9436"
 *   "[V6]:PORT"   an IPv6 address, "[::1]:9436"
 *   ":PORT", "PORT"   127.0.0.1: loopback unless an address is given
 * with numeric addresses only (no name lookups) and exactly that address
 * bound; PORT 0 takes a free port (pw_http_port() says which). limits may
 * be NULL for PW_HTTP_LIMITS_DEFAULT. handler(ctx, ...) answers each
 * request. NULL with the reason in err on a bad address or when the
 * address cannot be bound.
 */
struct pw_http *pw_http_open(const char *address, const struct pw_http_limits *limits,
			     pw_http_handler handler, void *ctx, struct pw_buf *err);
/* Closes the listener and every connection; NULL is a no-op. */
void pw_http_close(struct pw_http *h);

/* The one fd to poll for input. */
int pw_http_fd(const struct pw_http *h);
/* Milliseconds until pw_http_run() has work even without input (a
 * connection to time out), or -1 for none. */
int pw_http_timeout_ms(const struct pw_http *h);
/* Accepts, reads, answers and times out what is ready; never blocks. */
void pw_http_run(struct pw_http *h);
/* The port listened on. */
int pw_http_port(const struct pw_http *h);

#endif
