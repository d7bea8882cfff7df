/*
 * The API client: HTTP GETs to the API server over libcurl's multi
 * interface, so that every list and watch of the daemon shares one
 * single-threaded loop. TLS is verified unless the config says otherwise;
 * connections are kept alive and HTTP/2 is used where libcurl has it.
 */
#ifndef PW_K8S_CLIENT_H
#define PW_K8S_CLIENT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "k8s/kubeconfig.h"
#include "lib/util.h"

struct pw_k8s_client;
struct pw_k8s_request;

struct pw_k8s_response {
	int error;		/* 0, or -errno for a transport failure (then status is 0) */
	long status;		/* HTTP status */
	unsigned retry_after;	/* seconds from Retry-After, 0 when absent */
	const char *body;	/* for status != 200: the (Status) body, "" if none */
	const char *message;	/* transport failure text, or "" */
};

struct pw_k8s_request_ops {
	/*
	 * Body bytes of a 200 response, as they arrive, in whatever pieces the
	 * network delivers. Return false to abort the request (on_done then
	 * reports -ECANCELED).
	 */
	bool (*on_data)(void *ctx, const char *data, size_t len);
	/* Called exactly once, last; the request is freed right after. */
	void (*on_done)(void *ctx, const struct pw_k8s_response *resp);
};

struct pw_k8s_request_options {
	/* Abort when fewer than 1 byte/s arrive for this long (0: never). */
	unsigned stall_timeout_s;
	/* Abort after this long in all (0: never). */
	unsigned total_timeout_s;
};

/* NULL with the reason in err (unreadable CA, key...). The config is copied. */
struct pw_k8s_client *pw_k8s_client_new(const struct pw_k8s_config *cfg, struct pw_buf *err);
/*
 * The User-Agent: "podwall/VERSION (linux/ARCH)", then " node/NAME" once
 * the node is set (before the first request; later ones carry it too).
 */
void pw_k8s_client_set_node(struct pw_k8s_client *c, const char *node_name);
const char *pw_k8s_client_user_agent(const struct pw_k8s_client *c);
/* Cancels every request still running (their on_done is not called). */
void pw_k8s_client_free(struct pw_k8s_client *c);

/*
 * Starts GET <server><path_and_query>. The request belongs to the client;
 * keep the pointer only to cancel it before on_done.
 */
struct pw_k8s_request *pw_k8s_request_start(struct pw_k8s_client *c,
					    const char *path_and_query,
					    const struct pw_k8s_request_options *opt,
					    const struct pw_k8s_request_ops *ops, void *ctx);
/* The response's HTTP status so far: 0 until its status line has come. */
long pw_k8s_request_status(const struct pw_k8s_request *r);
/* Stops a request; its on_done is not called. */
void pw_k8s_request_cancel(struct pw_k8s_request *r);

/*
 * The loop's two halves: wait for network activity or one of the caller's
 * own descriptors (curl_multi_wait's extra fds, revents filled in) for at
 * most timeout_ms, then perform: move the transfers on and call their
 * callbacks. Return 0 or -errno.
 */
int pw_k8s_client_wait(struct pw_k8s_client *c, struct curl_waitfd *extra,
		       unsigned nextra, int timeout_ms);
int pw_k8s_client_perform(struct pw_k8s_client *c);

/* Requests still running (for tests and shutdown). */
unsigned pw_k8s_client_active(const struct pw_k8s_client *c);

#endif
