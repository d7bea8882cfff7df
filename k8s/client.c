#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "k8s/client.h"

/* A Status body is a few hundred bytes; a proxy's HTML page can be huge. */
#define ERROR_BODY_MAX (64u << 10)
/* A projected token is about 1 KiB; this bounds a wrong tokenFile. */
#define TOKEN_MAX_BYTES (64u << 10)
/* client-go's cached token source: kubelet refreshes well before expiry. */
#define TOKEN_REFRESH_MS 60000

enum req_state {
	REQ_PENDING,		/* started in a libcurl callback: added after it */
	REQ_RUNNING,		/* in the multi handle */
	REQ_FAILED,		/* failed before it ran: on_done at the next perform */
	REQ_DONE,		/* finished; on_done still to call */
	REQ_DELIVERING,		/* in on_done; freed right after */
};

struct pw_k8s_request {
	struct pw_k8s_client *client;
	struct pw_k8s_request *prev, *next;
	enum req_state state;
	bool in_multi;
	bool cancelled;		/* in a libcurl callback: freed after perform */
	bool aborted;		/* on_data said stop */
	bool stalled;
	CURL *easy;
	struct curl_slist *headers;
	struct pw_k8s_request_ops ops;
	void *ctx;
	unsigned stall_s;
	int64_t last_byte_ms;
	long status;
	unsigned retry_after;
	int error;
	struct pw_buf body;
	struct pw_buf message;
	char errbuf[CURL_ERROR_SIZE];
};

struct pw_k8s_client {
	CURLM *multi;
	bool curl_global;
	struct pw_k8s_config cfg;
	/* Files libcurl reads; inline credentials are written under tmpdir. */
	char *tmpdir;
	char *ca_path;
	char *cert_path;
	char *key_path;
	char *user_agent;
	char *token;
	struct stat token_st;
	int64_t token_read_ms;
	bool token_stale;
	struct pw_k8s_request *head, *tail;
	/* libcurl forbids touching the multi handle from its callbacks. */
	unsigned in_curl;
};


/* ------------------------------------------------------------- token */

/* A token goes into a header: a newline in it would start another one. */
static bool has_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* 0, or -errno with the reason in why. */
static int token_read(struct pw_k8s_client *c, struct pw_buf *why)
{
	const char *path = c->cfg.token_file;
	size_t cap = 0, n = 0, start = 0;
	char *buf = NULL;
	struct stat st;
	ssize_t got;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		pw_buf_printf(why, "token file %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	for (;;) {
		PW_GROW(buf, cap, n + 4096);
		got = read(fd, buf + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got < 0)
				ret = -errno;
			break;
		}
		n += (size_t)got;
		if (n > TOKEN_MAX_BYTES) {
			ret = -EFBIG;
			break;
		}
	}
	close(fd);
	if (ret < 0) {
		pw_buf_printf(why, "token file %s: %s", path, strerror(-ret));
		free(buf);
		return ret;
	}
	/* As client-go: surrounding whitespace (a trailing newline) is not the token. */
	while (n && strchr(" \t\r\n", buf[n - 1]))
		n--;
	while (start < n && strchr(" \t\r\n", buf[start]))
		start++;
	buf[n] = '\0';
	if (has_control(buf + start, n - start)) {
		pw_buf_printf(why, "token file %s: control character in the token", path);
		free(buf);
		return -EINVAL;
	}
	if (start == n) {
		pw_buf_printf(why, "token file %s: empty", path);
		free(buf);
		return -EINVAL;
	}
	free(c->token);
	c->token = pw_xstrdup(buf + start);
	free(buf);
	c->token_st = st;
	c->token_read_ms = (int64_t)pw_monotonic_ms();
	c->token_stale = false;
	return 0;
}

/* True when path is no longer the file last read (kubelet swaps a symlink). */
static bool token_file_changed(const struct pw_k8s_client *c)
{
	const struct stat *old = &c->token_st;
	struct stat st;

	if (stat(c->cfg.token_file, &st) < 0)
		return true;
	return st.st_dev != old->st_dev || st.st_ino != old->st_ino ||
		st.st_size != old->st_size || st.st_mtime != old->st_mtime ||
		st.st_mtim.tv_nsec != old->st_mtim.tv_nsec;
}

/*
 * At each request start: re-read the token file when it changed, after a
 * 401, or at least every TOKEN_REFRESH_MS. A failed read keeps the token we
 * have (it may still be valid) and is tried again next time.
 */
static int token_refresh(struct pw_k8s_client *c, struct pw_buf *why)
{
	struct pw_buf ignored = PW_BUF_INIT;
	int ret;

	if (!c->cfg.token_file)
		return 0;
	if (c->token && !c->token_stale &&
	    (int64_t)pw_monotonic_ms() - c->token_read_ms < TOKEN_REFRESH_MS && !token_file_changed(c))
		return 0;
	if (!c->token)
		return token_read(c, why);
	ret = token_read(c, &ignored);
	if (ret < 0)
		c->token_stale = true;
	pw_buf_free(&ignored);
	return 0;
}

/* ------------------------------------------------------- credentials */

static int check_readable(const char *what, const char *path, struct pw_buf *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int ret = -errno;

		pw_buf_printf(err, "%s %s: %s", what, path, strerror(errno));
		return ret;
	}
	close(fd);
	return 0;
}

/*
 * libcurl reads credentials from files until 7.71/7.77 (blobs), and then
 * not with every TLS backend: inline ones go to a directory only we can read.
 */
static int write_private(struct pw_k8s_client *c, const char *what, const char *name,
			 const char *data, char **path, struct pw_buf *err)
{
	size_t len = strlen(data), done = 0;
	int fd, ret = 0;

	if (!c->tmpdir) {
		const char *tmp = getenv("TMPDIR");

		c->tmpdir = pw_xasprintf("%s/podwall-client.XXXXXX",
					 tmp && *tmp ? tmp : "/tmp");
		/* mkdtemp makes it 0700. */
		if (!mkdtemp(c->tmpdir)) {
			ret = -errno;
			pw_buf_printf(err, "%s: cannot make a private directory %s: %s",
				      what, c->tmpdir, strerror(errno));
			free(c->tmpdir);
			c->tmpdir = NULL;
			return ret;
		}
	}
	*path = pw_xasprintf("%s/%s", c->tmpdir, name);
	fd = open(*path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = -errno;
		pw_buf_printf(err, "%s: %s: %s", what, *path, strerror(errno));
		free(*path);
		*path = NULL;
		return ret;
	}
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (ret < 0)
		pw_buf_printf(err, "%s: %s: %s", what, *path, strerror(-ret));
	/* On failure *path stays set, so that the free removes the file. */
	return ret;
}

static int credential(struct pw_k8s_client *c, const char *what, const char *name,
		      const char *file, const char *data, char **path, struct pw_buf *err)
{
	if (data)
		return write_private(c, what, name, data, path, err);
	if (!file)
		return 0;
	*path = pw_xstrdup(file);
	return check_readable(what, file, err);
}

static char *dup_or_null(const char *s)
{
	return s ? pw_xstrdup(s) : NULL;
}

static void copy_config(struct pw_k8s_config *to, const struct pw_k8s_config *from)
{
	size_t len = strlen(from->server);

	/* Paths are appended with their leading slash. */
	while (len > 1 && from->server[len - 1] == '/')
		len--;
	to->server = pw_xstrndup(from->server, len);
	to->ca_file = dup_or_null(from->ca_file);
	to->ca_data = dup_or_null(from->ca_data);
	to->cert_file = dup_or_null(from->cert_file);
	to->cert_data = dup_or_null(from->cert_data);
	to->key_file = dup_or_null(from->key_file);
	to->key_data = dup_or_null(from->key_data);
	to->token = dup_or_null(from->token);
	to->token_file = dup_or_null(from->token_file);
	to->insecure_skip_tls_verify = from->insecure_skip_tls_verify;
}

static int setup_credentials(struct pw_k8s_client *c, struct pw_buf *err)
{
	const struct pw_k8s_config *k = &c->cfg;
	struct pw_buf why = PW_BUF_INIT;
	int ret;

	ret = credential(c, "certificate authority", "ca.crt", k->ca_file, k->ca_data,
			 &c->ca_path, err);
	if (!ret)
		ret = credential(c, "client certificate", "client.crt", k->cert_file,
				 k->cert_data, &c->cert_path, err);
	if (!ret)
		ret = credential(c, "client key", "client.key", k->key_file, k->key_data,
				 &c->key_path, err);
	if (ret < 0)
		return ret;
	if (k->token && has_control(k->token, strlen(k->token))) {
		pw_buf_puts(err, "token: control character in the token");
		return -EINVAL;
	}
	if (!k->token_file) {
		if (k->token)
			c->token = pw_xstrdup(k->token);
		return 0;
	}
	ret = token_read(c, &why);
	/* As client-go: a static token given with the file carries on until it reads. */
	if (ret < 0 && k->token) {
		c->token = pw_xstrdup(k->token);
		c->token_stale = true;
		ret = 0;
	}
	if (ret < 0)
		pw_buf_puts(err, pw_buf_str(&why));
	pw_buf_free(&why);
	return ret;
}

/* ------------------------------------------------------------ client */

static void remove_private(struct pw_k8s_client *c)
{
	char **paths[] = { &c->ca_path, &c->cert_path, &c->key_path };
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(paths); i++) {
		if (c->tmpdir && *paths[i] &&
		    strncmp(*paths[i], c->tmpdir, strlen(c->tmpdir)) == 0)
			unlink(*paths[i]);
		free(*paths[i]);
		*paths[i] = NULL;
	}
	if (c->tmpdir)
		rmdir(c->tmpdir);
	free(c->tmpdir);
	c->tmpdir = NULL;
}

/*
 * As client-go's: "podwall/0.1.0 (linux/x86_64)", and the node's name, with
 * which an API server's audit log tells apart thousands of agents that
 * share one service account. Only token characters go into the header.
 */
static char *make_user_agent(const char *node_name)
{
	struct pw_buf ua = PW_BUF_INIT;
	struct utsname u;
	size_t i;

	pw_buf_puts(&ua, "podwall/" PACKAGE_VERSION);
	if (uname(&u) == 0)
		pw_buf_printf(&ua, " (linux/%s)", u.machine);
	if (node_name && *node_name) {
		pw_buf_puts(&ua, " node/");
		for (i = 0; node_name[i] && i < 253; i++) {
			char ch = node_name[i];

			if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_')
				pw_buf_putc(&ua, ch);
			else
				pw_buf_putc(&ua, '_');
		}
	}
	return pw_buf_steal(&ua);
}

void pw_k8s_client_set_node(struct pw_k8s_client *c, const char *node_name)
{
	free(c->user_agent);
	c->user_agent = make_user_agent(node_name);
}

const char *pw_k8s_client_user_agent(const struct pw_k8s_client *c)
{
	return c->user_agent;
}

struct pw_k8s_client *pw_k8s_client_new(const struct pw_k8s_config *cfg,
					struct pw_buf *err)
{
	struct pw_k8s_client *c;

	if (!cfg->server || !*cfg->server) {
		pw_buf_puts(err, "no API server address");
		return NULL;
	}
	c = pw_xcalloc(1, sizeof(*c));
	copy_config(&c->cfg, cfg);
	c->user_agent = make_user_agent(NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		pw_buf_puts(err, "cannot initialise libcurl");
		goto fail;
	}
	c->curl_global = true;
	if (setup_credentials(c, err) < 0)
		goto fail;
	c->multi = curl_multi_init();
	if (!c->multi) {
		pw_buf_puts(err, "cannot initialise libcurl (curl_multi_init)");
		goto fail;
	}
#if LIBCURL_VERSION_NUM >= 0x072b00
	/* HTTP/2: every list and watch as a stream of one connection. */
	curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
#endif
	return c;
fail:
	pw_k8s_client_free(c);
	return NULL;
}

/* ----------------------------------------------------------- requests */

static void link_request(struct pw_k8s_client *c, struct pw_k8s_request *r)
{
	r->prev = c->tail;
	r->next = NULL;
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
}

static void unlink_request(struct pw_k8s_request *r)
{
	struct pw_k8s_client *c = r->client;

	if (r->prev)
		r->prev->next = r->next;
	else
		c->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		c->tail = r->prev;
	r->prev = r->next = NULL;
}

/* Frees an unlinked request. */
static void destroy_request(struct pw_k8s_request *r)
{
	if (r->easy) {
		if (r->in_multi)
			curl_multi_remove_handle(r->client->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	curl_slist_free_all(r->headers);
	pw_buf_free(&r->body);
	pw_buf_free(&r->message);
	free(r);
}

static void fail_early(struct pw_k8s_request *r, int error)
{
	r->state = REQ_FAILED;
	r->error = error;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata);
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata);
#if LIBCURL_VERSION_NUM >= 0x072000
static int on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow);
#else
static int on_progress(void *p, double dltotal, double dlnow, double ultotal,
		       double ulnow);
#endif

static int add_header(struct pw_k8s_request *r, const char *line)
{
	struct curl_slist *l = curl_slist_append(r->headers, line);

	if (!l)
		return -ENOMEM;
	r->headers = l;
	return 0;
}

static int setup_easy(struct pw_k8s_request *r, const char *url,
		      const struct pw_k8s_request_options *opt)
{
	struct pw_k8s_client *c = r->client;
	bool verify = !c->cfg.insecure_skip_tls_verify;
	CURL *e = r->easy;
	char *auth;
	int ret;

	ret = add_header(r, "Accept: application/json");
	if (!ret && c->token) {
		auth = pw_xasprintf("Authorization: Bearer %s", c->token);
		ret = add_header(r, auth);
		free(auth);
	}
	if (ret < 0)
		return ret;
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK)
		return -ENOMEM;
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	/* No SIGALRM for name lookups: the daemon owns its signals. */
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	/* The progress callback is our stall watchdog; libcurl's lags by seconds. */
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
#if LIBCURL_VERSION_NUM >= 0x072000
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, r);
#else
	curl_easy_setopt(e, CURLOPT_PROGRESSFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_PROGRESSDATA, r);
#endif
	if (opt && opt->stall_timeout_s) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)opt->stall_timeout_s);
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)opt->stall_timeout_s);
	}
	if (opt && opt->total_timeout_s)
		curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)opt->total_timeout_s);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	if (c->ca_path)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_path);
	if (c->cert_path)
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_path);
	if (c->key_path)
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_path);
#if LIBCURL_VERSION_NUM >= 0x072f00
	/* Refused (CURLE_UNSUPPORTED_PROTOCOL) without nghttp2: then HTTP/1.1. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
#endif
#if LIBCURL_VERSION_NUM >= 0x071900
	/* A watch may be quiet for minutes: find a dead peer sooner than that. */
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
#endif
	return 0;
}

static void add_to_multi(struct pw_k8s_request *r)
{
	if (curl_multi_add_handle(r->client->multi, r->easy) != CURLM_OK) {
		pw_buf_puts(&r->message, "cannot add the transfer to libcurl");
		fail_early(r, -EIO);
		return;
	}
	r->in_multi = true;
	r->state = REQ_RUNNING;
}

struct pw_k8s_request *pw_k8s_request_start(struct pw_k8s_client *c,
					    const char *path_and_query,
					    const struct pw_k8s_request_options *opt,
					    const struct pw_k8s_request_ops *ops, void *ctx)
{
	struct pw_k8s_request *r = pw_xcalloc(1, sizeof(*r));
	char *url;
	int ret;

	r->client = c;
	r->ops = *ops;
	r->ctx = ctx;
	r->stall_s = opt ? opt->stall_timeout_s : 0;
	r->last_byte_ms = (int64_t)pw_monotonic_ms();
	link_request(c, r);
	ret = token_refresh(c, &r->message);
	if (ret < 0) {
		fail_early(r, ret);
		return r;
	}
	r->easy = curl_easy_init();
	if (!r->easy) {
		pw_buf_puts(&r->message, "cannot initialise libcurl (curl_easy_init)");
		fail_early(r, -ENOMEM);
		return r;
	}
	url = pw_xasprintf("%s%s%s", c->cfg.server, path_and_query[0] == '/' ? "" : "/",
			   path_and_query);
	ret = setup_easy(r, url, opt);
	free(url);
	if (ret < 0) {
		pw_buf_puts(&r->message, "cannot set up the transfer: out of memory");
		fail_early(r, ret);
		return r;
	}
	if (c->in_curl)
		r->state = REQ_PENDING;
	else
		add_to_multi(r);
	return r;
}

long pw_k8s_request_status(const struct pw_k8s_request *r)
{
	return r->status;
}

void pw_k8s_request_cancel(struct pw_k8s_request *r)
{
	if (!r || r->cancelled || r->state == REQ_DELIVERING)
		return;
	if (r->in_multi && r->client->in_curl) {
		r->cancelled = true;
		return;
	}
	unlink_request(r);
	destroy_request(r);
}

/* ----------------------------------------------------------- callbacks */

/* "Retry-After: 120" (seconds); the HTTP-date form counts as absent. */
static unsigned parse_retry_after(const char *p, size_t len)
{
	unsigned long long v = 0;
	size_t i = 0;
	bool digits = false;

	while (i < len && (p[i] == ' ' || p[i] == '\t'))
		i++;
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		digits = true;
		if (v < UINT_MAX)
			v = v * 10 + (unsigned)(p[i] - '0');
	}
	for (; i < len; i++)
		if (!strchr(" \t\r\n", p[i]))
			return 0;
	if (!digits)
		return 0;
	return v > UINT_MAX ? UINT_MAX : (unsigned)v;
}

static long parse_status_line(const char *p, size_t len)
{
	long v = 0;
	size_t i = 0;

	while (i < len && p[i] != ' ')
		i++;
	while (i < len && p[i] == ' ')
		i++;
	for (; i < len && p[i] >= '0' && p[i] <= '9' && v < 1000; i++)
		v = v * 10 + (p[i] - '0');
	return v;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct pw_k8s_request *r = userdata;
	size_t len = size * nmemb;

	if (r->cancelled)
		return 0;
	r->last_byte_ms = (int64_t)pw_monotonic_ms();
	/* A new status line (after a 100 Continue, say) starts a new response. */
	if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
		r->status = parse_status_line(ptr, len);
		r->retry_after = 0;
	} else if (len > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0) {
		r->retry_after = parse_retry_after(ptr + 12, len - 12);
	}
	return len;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct pw_k8s_request *r = userdata;
	size_t len = size * nmemb;

	if (r->cancelled)
		return 0;
	r->last_byte_ms = (int64_t)pw_monotonic_ms();
	if (r->status == 200) {
		if (r->ops.on_data && !r->ops.on_data(r->ctx, ptr, len)) {
			r->aborted = true;
			return 0;
		}
		/* on_data may have cancelled its own request. */
		return r->cancelled ? 0 : len;
	}
	if (r->body.len < ERROR_BODY_MAX)
		pw_buf_add(&r->body, ptr, len < ERROR_BODY_MAX - r->body.len ?
			   len : ERROR_BODY_MAX - r->body.len);
	return len;
}

static int check_stall(struct pw_k8s_request *r)
{
	if (r->cancelled)
		return 1;
	if (r->stall_s && (int64_t)pw_monotonic_ms() - r->last_byte_ms >= (int64_t)r->stall_s * 1000) {
		r->stalled = true;
		return 1;
	}
	return 0;
}

#if LIBCURL_VERSION_NUM >= 0x072000
static int on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	return check_stall(p);
}
#else
static int on_progress(void *p, double dltotal, double dlnow, double ultotal,
		       double ulnow)
{
	return check_stall(p);
}
#endif

/* ------------------------------------------------------------ results */

static bool is_tls_verify_error(CURLcode code)
{
	/* 7.62 folded CURLE_SSL_CACERT into CURLE_PEER_FAILED_VERIFICATION: no switch. */
	if (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT ||
	    code == CURLE_SSL_ISSUER_ERROR)
		return true;
#if LIBCURL_VERSION_NUM >= 0x072700
	if (code == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
		return true;
#endif
#if LIBCURL_VERSION_NUM >= 0x074d00
	/* The server refused our client certificate. */
	if (code == CURLE_SSL_CLIENTCERT)
		return true;
#endif
	return false;
}

static bool is_tls_error(CURLcode code)
{
	switch (code) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_USE_SSL_FAILED:
		return true;
	default:
		return false;
	}
}

static int map_curl_error(const struct pw_k8s_request *r, CURLcode code)
{
	long os_errno = 0;

	if (code == CURLE_OPERATION_TIMEDOUT || r->stalled)
		return -ETIMEDOUT;
	if (r->aborted)
		return -ECANCELED;
	if (code == CURLE_OUT_OF_MEMORY)
		return -ENOMEM;
	if (is_tls_verify_error(code))
		return -EACCES;
	if (is_tls_error(code))
		return -EPROTO;
	/*
	 * TLS 1.3 sends a refused client certificate as an alert after the
	 * handshake, so libcurl sees it as a failed read.
	 */
	if ((code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR) &&
	    strstr(r->errbuf, " alert "))
		return -EPROTO;
	if (code == CURLE_COULDNT_CONNECT) {
		curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
		switch (os_errno) {
		case ECONNREFUSED:
		case EHOSTUNREACH:
		case ENETUNREACH:
		case ETIMEDOUT:
			return -(int)os_errno;
		default:
			return -ECONNREFUSED;
		}
	}
	return -EIO;
}

static void complete(struct pw_k8s_request *r, CURLcode code)
{
	struct pw_k8s_client *c = r->client;
	long status = 0;

	r->state = REQ_DONE;
	if (code != CURLE_OK) {
		r->error = map_curl_error(r, code);
		r->status = 0;
		if (r->stalled)
			pw_buf_printf(&r->message, "no data for %u s", r->stall_s);
		else if (r->aborted)
			pw_buf_puts(&r->message, "stopped by the receiver");
		else
			pw_buf_puts(&r->message, r->errbuf[0] ? r->errbuf :
				    curl_easy_strerror(code));
		return;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	/* The token may have expired: read it again before the next request. */
	if (status == 401 && c->cfg.token_file)
		c->token_stale = true;
}

/* Takes finished transfers out of the multi handle. */
static void collect(struct pw_k8s_client *c)
{
	struct pw_k8s_request *r;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(c->multi, &left))) {
		CURLcode code = msg->data.result;
		char *p = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &p);
		r = (struct pw_k8s_request *)p;
		curl_multi_remove_handle(c->multi, r->easy);
		r->in_multi = false;
		if (r->cancelled) {
			unlink_request(r);
			destroy_request(r);
		} else {
			complete(r, code);
		}
	}
}

/* Frees what was cancelled from inside a libcurl callback. */
static void reap_cancelled(struct pw_k8s_client *c)
{
	struct pw_k8s_request *r = c->head, *next;

	for (; r; r = next) {
		next = r->next;
		if (r->cancelled) {
			unlink_request(r);
			destroy_request(r);
		}
	}
}

static void add_pending(struct pw_k8s_client *c)
{
	struct pw_k8s_request *r;

	for (r = c->head; r; r = r->next)
		if (r->state == REQ_PENDING)
			add_to_multi(r);
}

/*
 * on_done may start or cancel requests, this one's neighbours included, so
 * the list is searched again after each call.
 */
static void deliver(struct pw_k8s_client *c)
{
	struct pw_k8s_response resp;
	struct pw_k8s_request *r;

	for (;;) {
		for (r = c->head; r && r->state != REQ_DONE; r = r->next)
			;
		if (!r)
			return;
		unlink_request(r);
		r->state = REQ_DELIVERING;
		resp.error = r->error;
		resp.status = r->error ? 0 : r->status;
		resp.retry_after = r->retry_after;
		resp.body = !r->error && r->status != 200 ? pw_buf_str(&r->body) : "";
		resp.message = pw_buf_str(&r->message);
		if (r->ops.on_done)
			r->ops.on_done(r->ctx, &resp);
		destroy_request(r);
	}
}

int pw_k8s_client_perform(struct pw_k8s_client *c)
{
	struct pw_k8s_request *r;
	CURLMcode mc;
	int running;

	/* Failures from the last round's on_done: reported now, never in a loop. */
	for (r = c->head; r; r = r->next)
		if (r->state == REQ_FAILED)
			r->state = REQ_DONE;
	c->in_curl++;
	do
		mc = curl_multi_perform(c->multi, &running);
	while (mc == CURLM_CALL_MULTI_PERFORM);
	c->in_curl--;
	collect(c);
	reap_cancelled(c);
	add_pending(c);
	deliver(c);
	if (mc == CURLM_OUT_OF_MEMORY)
		return -ENOMEM;
	return mc == CURLM_OK ? 0 : -EIO;
}

/* ---------------------------------------------------------------- loop */

static short to_poll_events(short curl_events)
{
	return (short)(((curl_events & CURL_WAIT_POLLIN) ? POLLIN : 0) |
		       ((curl_events & CURL_WAIT_POLLPRI) ? POLLPRI : 0) |
		       ((curl_events & CURL_WAIT_POLLOUT) ? POLLOUT : 0));
}

static short to_curl_events(short poll_events)
{
	return (short)(((poll_events & POLLIN) ? CURL_WAIT_POLLIN : 0) |
		       ((poll_events & POLLPRI) ? CURL_WAIT_POLLPRI : 0) |
		       ((poll_events & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
}

/*
 * With no transfer, curl_multi_wait before 7.66 returns at once: poll the
 * caller's descriptors ourselves, so an idle loop does not spin.
 */
static int poll_extra(struct curl_waitfd *extra, unsigned nextra, int timeout_ms)
{
	struct pollfd *pfds = pw_xcalloc(nextra ? nextra : 1, sizeof(*pfds));
	unsigned i;
	int n, ret = 0;

	for (i = 0; i < nextra; i++) {
		pfds[i].fd = extra[i].fd;
		pfds[i].events = to_poll_events(extra[i].events);
		extra[i].revents = 0;
	}
	n = poll(pfds, nextra, timeout_ms);
	if (n < 0 && errno != EINTR)
		ret = -errno;
	for (i = 0; n > 0 && i < nextra; i++)
		extra[i].revents = to_curl_events(pfds[i].revents);
	free(pfds);
	return ret;
}

int pw_k8s_client_wait(struct pw_k8s_client *c, struct curl_waitfd *extra,
		       unsigned nextra, int timeout_ms)
{
	struct pw_k8s_request *r;
	bool running = false;
	unsigned i;
	CURLMcode mc;

	if (timeout_ms < 0)
		timeout_ms = 0;
	for (r = c->head; r; r = r->next) {
		if (r->state == REQ_FAILED || r->state == REQ_DONE)
			timeout_ms = 0;	/* an on_done is due */
		if (r->in_multi)
			running = true;
	}
	if (!running)
		return poll_extra(extra, nextra, timeout_ms);
	for (i = 0; i < nextra; i++)
		extra[i].revents = 0;
#if LIBCURL_VERSION_NUM >= 0x074200
	mc = curl_multi_poll(c->multi, extra, nextra, timeout_ms, NULL);
#else
	mc = curl_multi_wait(c->multi, extra, nextra, timeout_ms, NULL);
#endif
	if (mc == CURLM_OK)
		return 0;
	return mc == CURLM_OUT_OF_MEMORY ? -ENOMEM : -EIO;
}

unsigned pw_k8s_client_active(const struct pw_k8s_client *c)
{
	const struct pw_k8s_request *r;
	unsigned n = 0;

	for (r = c->head; r; r = r->next)
		if (!r->cancelled)
			n++;
	return n;
}

void pw_k8s_client_free(struct pw_k8s_client *c)
{
	struct pw_k8s_request *r;

	if (!c)
		return;
	while ((r = c->head)) {
		unlink_request(r);
		destroy_request(r);
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	remove_private(c);
	free(c->token);
	free(c->user_agent);
	pw_k8s_config_free(&c->cfg);
	if (c->curl_global)
		curl_global_cleanup();
	free(c);
}
