#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "k8s/reflector.h"
#include "k8s/watch.h"
#include "lib/log.h"
#include "lib/strmap.h"

/* Room for the largest objects (1.5 MB in etcd) written out as JSON. */
#define DEFAULT_MAX_EVENT_BYTES (4u << 20)
/* A list page (or an unpaged list) larger than this is refused. */
#define LIST_BODY_MAX ((size_t)1 << 30)
/* client-go's VeryShortWatchError: a watch gone this fast with no event. */
#define SHORT_WATCH_MS 1000
/* A watch-list's initial events paused this long: a server that ignored it. */
#define DEFAULT_WATCH_LIST_QUIET_MS 10000

/*
 * What runs next. Callbacks only record it: every request is started from
 * pw_reflector_tick(), which knows the time, and never from inside one of
 * the client's callbacks.
 */
enum action {
	ACT_NONE,
	ACT_LIST,		/* a list from the beginning, at relist_rv() */
	ACT_LIST_UNPAGED,	/* one consistent list without limit (expired continue) */
	ACT_PAGE,		/* the next page, or the same one again */
	ACT_WATCH,
	ACT_WATCH_LIST,		/* a watch that streams the state first */
};

enum delay {
	DELAY_NONE,
	DELAY_BACKOFF,		/* a failure: wait the next backoff step */
	DELAY_REWATCH,		/* none, unless the watch was over at once */
};

/* Why on_data asked the client to drop the watch. */
enum abort_reason {
	ABORT_NONE,
	ABORT_EXPIRED,		/* ERROR 410: relist */
	ABORT_ERROR,		/* another ERROR: back off, watch again */
	ABORT_TOO_LONG,		/* a line over max_event_bytes */
	ABORT_TOO_BIG,		/* a list body over LIST_BODY_MAX */
	ABORT_NO_WATCH_LIST,	/* a watch-list's server sent a live event first */
};

/* An item of a list the decoder refused. */
struct refused_item {
	char *key;			/* NULL when unreadable */
	struct pw_object isolation;	/* a policy's; u.policy NULL if none */
};

struct pw_reflector {
	struct pw_k8s_client *client;
	enum pw_kind kind;
	const char *path;
	struct pw_reflector_options opt;
	char *field_selector;
	struct pw_reflector_ops ops;
	void *ctx;

	struct pw_k8s_request *req;	/* the one request in flight, or NULL */
	enum action next;
	enum delay delay;
	unsigned retry_after_s;
	bool due_set;
	uint64_t due_ms;

	char *rv;			/* the last resourceVersion seen */
	/* A list refused rv (410, 504 too large): the next one reads etcd. */
	bool rv_unusable;
	/* The server refused or ignored a watch-list: lists from now on. */
	bool no_watch_list;
	bool synced;
	/* What upsert() has been given and remove() not yet: "ns/name" -> uid. */
	struct pw_strmap *delivered;

	/*
	 * The list in progress, or a watch-list's initial events: one
	 * snapshot, delivered at its end.
	 */
	bool list_paged;
	char *list_rv;			/* its first page's resourceVersion; NULL: "" */
	char *continue_token;
	struct pw_buf body;
	struct pw_object *items;
	size_t nitems, items_cap;
	struct refused_item *refused;	/* the items the decoder refused */
	size_t nrefused, refused_cap;

	/* The watch in progress. */
	struct pw_line_framer *framer;
	bool initial;			/* a watch-list before its closing bookmark */
	bool initial_progress;		/* an initial event came since the last tick */
	uint64_t initial_quiet_since_ms;
	enum abort_reason abort;
	unsigned watch_events;
	unsigned watch_changes;		/* of them, ADDED, MODIFIED or DELETED */
	uint64_t watch_started_ms;
	char *too_long_rv;		/* where the last over-long line was met */

	/* Backoff, as client-go's: jittered doubling, reset after health. */
	unsigned backoff_ms;
	unsigned failures;		/* in a row */
	bool watch_got_data;		/* the current watch has sent bytes */
	bool data_seen;			/* bytes came since the last tick */
	bool healthy;
	uint64_t healthy_since_ms;
	uint64_t rand_state;

	struct pw_reflector_stats stats;
};

static const char *const resource_paths[] = {
	[PW_KIND_NAMESPACE] = "/api/v1/namespaces",
	[PW_KIND_POD] = "/api/v1/pods",
	[PW_KIND_POLICY] = "/apis/networking.k8s.io/v1/networkpolicies",
};

static const char *const resource_names[] = {
	[PW_KIND_NAMESPACE] = "namespaces",
	[PW_KIND_POD] = "pods",
	[PW_KIND_POLICY] = "networkpolicies",
};

static const char *const initial_list_names[] = {
	[PW_INITIAL_LIST_WATCH_LIST] = "watch-list",
	[PW_INITIAL_LIST_CACHE] = "cache",
	[PW_INITIAL_LIST_CONSISTENT] = "consistent",
};

int pw_initial_list_parse(const char *text, enum pw_initial_list *out)
{
	int i = pw_name_index(initial_list_names, PW_ARRAY_SIZE(initial_list_names), text);

	if (i < 0)
		return -EINVAL;
	*out = (enum pw_initial_list)i;
	return 0;
}

void pw_reflector_options_default(struct pw_reflector_options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->initial_list = PW_INITIAL_LIST_WATCH_LIST;
	opt->watch_list_quiet_ms = DEFAULT_WATCH_LIST_QUIET_MS;
	opt->page_size = 500;
	opt->watch_min_s = 300;
	opt->watch_max_s = 600;
	opt->stall_timeout_s = 0;
	opt->backoff_initial_ms = 800;
	opt->backoff_max_ms = 30000;
	opt->healthy_reset_s = 120;
	opt->max_event_bytes = DEFAULT_MAX_EVENT_BYTES;
	opt->field_selector = NULL;
}

/* ------------------------------------------------------------- helpers */

static void say(struct pw_reflector *r, int level, const char *fmt, ...) PW_PRINTF(3, 4);

static void say(struct pw_reflector *r, int level, const char *fmt, ...)
{
	struct pw_buf msg = PW_BUF_INIT;
	va_list ap;

	if (!r->ops.log)
		return;
	pw_buf_printf(&msg, "%s: ", resource_names[r->kind]);
	va_start(ap, fmt);
	pw_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	r->ops.log(r->ctx, level, pw_buf_str(&msg));
	pw_buf_free(&msg);
}

/* xorshift64*: jitter needs spread between agents, not secrecy. */
static uint64_t next_random(struct pw_reflector *r)
{
	uint64_t x = r->rand_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->rand_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static void seed_random(struct pw_reflector *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	r->rand_state = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
		((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)r;
	if (!r->rand_state)
		r->rand_state = 0x9E3779B97F4A7C15ULL;
	next_random(r);
}

static void replace_str(char **slot, const char *value)
{
	char *copy = value ? pw_xstrdup(value) : NULL;

	free(*slot);
	*slot = copy;
}

/* Query values are opaque to us: escape all but RFC 3986 unreserved bytes. */
static void put_query_value(struct pw_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			pw_buf_putc(b, (char)c);
		} else {
			pw_buf_putc(b, '%');
			pw_buf_putc(b, hex[c >> 4]);
			pw_buf_putc(b, hex[c & 15]);
		}
	}
}

static void put_param(struct pw_buf *b, const char *name, const char *value)
{
	pw_buf_putc(b, b->len && strchr(pw_buf_str(b), '?') ? '&' : '?');
	pw_buf_puts(b, name);
	pw_buf_putc(b, '=');
	put_query_value(b, value);
}

/* ------------------------------------------------------ what we handed out */

/* The names of obj; a missing uid is "", which no real one equals. */
static void object_names(const struct pw_object *obj, const char **ns,
			 const char **name, const char **uid)
{
	pw_object_names(obj, ns, name, uid);
	if (!*uid)
		*uid = "";
}

static char *make_key(const char *ns, const char *name)
{
	struct pw_buf key = PW_BUF_INIT;

	pw_object_key(ns, name, &key);
	return pw_buf_steal(&key);
}

static void call_remove(struct pw_reflector *r, const char *key, const char *uid)
{
	const char *slash = strchr(key, '/');
	char *ns = slash ? pw_xstrndup(key, (size_t)(slash - key)) : NULL;

	if (r->ops.remove)
		r->ops.remove(r->ctx, r->kind, ns, slash ? slash + 1 : key,
			      *uid ? uid : NULL);
	free(ns);
}

/* Forgets key and tells the user, if it was handed out. */
static void forget(struct pw_reflector *r, const char *key)
{
	char *uid = pw_strmap_del(r->delivered, key);

	if (!uid)
		return;
	call_remove(r, key, uid);
	free(uid);
}

/*
 * Hands obj over. A new uid under a known name is another object (deleted
 * and recreated while we were not looking): the old one goes first.
 */
static void deliver(struct pw_reflector *r, struct pw_object *obj)
{
	const char *ns, *name, *uid;
	char *key, *old;

	object_names(obj, &ns, &name, &uid);
	key = make_key(ns, name);
	old = pw_strmap_get(r->delivered, key);
	if (old && strcmp(old, uid) != 0)
		forget(r, key);
	old = pw_strmap_put(r->delivered, key, pw_xstrdup(uid));
	free(old);
	free(key);
	if (r->ops.upsert)
		r->ops.upsert(r->ctx, obj);
	else
		pw_object_free(obj);
}

/*
 * What an object refused now leaves in force if an earlier version of it
 * was handed out. A pod is withdrawn: its interface is then unknown, which
 * the dispatch chains drop, and its address leaves every set, so nothing
 * opens. A namespace or a policy keeps its last valid version: withdrawn,
 * a policy would stop isolating its pods, and a namespace would lose the
 * labels a NotIn or DoesNotExist namespaceSelector keeps out. Deletions
 * are believed however malformed: the object is gone either way. A policy
 * with no valid version at all is enforced as its isolation: the pods it
 * selects allow nothing it would allow (see pw_decode_policy_isolation()).
 */
static bool keeps_last_valid(enum pw_kind kind)
{
	return kind != PW_KIND_POD;
}

/* An object of key (NULL: unknown) was refused: see keeps_last_valid(). */
static void refused(struct pw_reflector *r, const char *key, bool deletion)
{
	if (!key || !pw_strmap_get(r->delivered, key))
		return;
	if (!deletion && keeps_last_valid(r->kind)) {
		say(r, PW_LOG_WARNING, "keeping %s as it was: its new version is invalid",
		    key);
		return;
	}
	say(r, PW_LOG_WARNING, "withdrawing %s: its new version is invalid", key);
	forget(r, key);
}

/* A refused policy never seen valid: its isolation stands in for it. */
static bool isolate(struct pw_reflector *r, const char *key, struct pw_object *isolation,
		    bool deletion)
{
	if (deletion || !key || !isolation->u.policy || pw_strmap_get(r->delivered, key))
		return false;
	say(r, PW_LOG_WARNING, "%s has no valid version: the pods it selects are isolated "
	    "and it allows nothing", key);
	return true;
}

static int free_value(const char *key, void *value, void *ctx)
{
	free(value);
	return 0;
}

struct vanished {
	struct pw_strmap *listed;
	char **keys;
	size_t n, cap;
};

static int find_vanished(const char *key, void *value, void *ctx)
{
	struct vanished *v = ctx;
	const char *uid = pw_strmap_get(v->listed, key);

	if (!uid || strcmp(uid, value) != 0) {
		PW_GROW(v->keys, v->cap, v->n + 1);
		v->keys[v->n++] = pw_xstrdup(key);
	}
	return 0;
}

static void drop_items(struct pw_reflector *r);

/*
 * A full list is the truth: what was handed out and is not in it (or is
 * there under another uid) has been deleted meanwhile; what it holds in a
 * version the decoder refused stays or goes as refused() says.
 */
static void replace_all(struct pw_reflector *r)
{
	struct vanished v = { NULL, NULL, 0, 0 };
	const char *ns, *name, *uid;
	size_t i;

	for (i = 0; i < r->nrefused; i++) {
		struct refused_item *item = &r->refused[i];

		if (!isolate(r, item->key, &item->isolation, false)) {
			refused(r, item->key, false);
			continue;
		}
		PW_GROW(r->items, r->items_cap, r->nitems + 1);
		r->items[r->nitems++] = item->isolation;
		memset(&item->isolation, 0, sizeof(item->isolation));
	}
	/* The first state read: nothing held can have vanished from it. */
	if (pw_strmap_count(r->delivered) == 0)
		goto deliver_all;
	v.listed = pw_strmap_new();
	for (i = 0; i < r->nitems; i++) {
		char *key;

		object_names(&r->items[i], &ns, &name, &uid);
		key = make_key(ns, name);
		pw_strmap_put(v.listed, key, (void *)uid);
		free(key);
	}
	for (i = 0; i < r->nrefused; i++) {
		const char *key = r->refused[i].key, *kept;

		kept = pw_strmap_get(r->delivered, key);
		if (kept && !pw_strmap_get(v.listed, key))
			pw_strmap_put(v.listed, key, (void *)kept);
	}
	/* Removals are collected first: the map must not change during a walk. */
	pw_strmap_foreach(r->delivered, find_vanished, &v);
	for (i = 0; i < v.n; i++) {
		forget(r, v.keys[i]);
		free(v.keys[i]);
	}
	free(v.keys);
	pw_strmap_free(v.listed);
deliver_all:
	for (i = 0; i < r->nitems; i++)
		deliver(r, &r->items[i]);
	r->nitems = 0;
	drop_items(r);
}

static void drop_items(struct pw_reflector *r)
{
	size_t i;

	for (i = 0; i < r->nitems; i++)
		pw_object_free(&r->items[i]);
	r->nitems = 0;
	for (i = 0; i < r->nrefused; i++) {
		free(r->refused[i].key);
		pw_object_free(&r->refused[i].isolation);
	}
	r->nrefused = 0;
}

/* ----------------------------------------------------------- scheduling */

static void schedule(struct pw_reflector *r, enum action next, enum delay delay,
		     unsigned retry_after_s)
{
	r->next = next;
	r->delay = delay;
	r->retry_after_s = retry_after_s;
	r->due_set = false;
	if (delay == DELAY_BACKOFF) {
		r->failures++;
		r->stats.retries++;
	}
}

static bool use_watch_list(const struct pw_reflector *r)
{
	return r->opt.initial_list == PW_INITIAL_LIST_WATCH_LIST && !r->no_watch_list;
}

/* The state again: by a watch-list where the server has them, else a list. */
static void schedule_relist(struct pw_reflector *r, enum delay delay,
			    unsigned retry_after_s)
{
	schedule(r, use_watch_list(r) ? ACT_WATCH_LIST : ACT_LIST, delay, retry_after_s);
}

/*
 * client-go's exponential backoff manager: the wait is d plus up to d of
 * jitter, d doubles up to the cap; after healthy_reset_s of health the next
 * failure starts again from the initial step.
 */
static uint64_t backoff_step(struct pw_reflector *r, uint64_t now)
{
	uint64_t d, wait;

	if (r->healthy && now - r->healthy_since_ms >=
	    (uint64_t)r->opt.healthy_reset_s * 1000)
		r->backoff_ms = 0;
	r->healthy = false;
	if (!r->backoff_ms)
		r->backoff_ms = r->opt.backoff_initial_ms;
	d = r->backoff_ms;
	wait = d + next_random(r) % d;
	r->backoff_ms = d * 2 > r->opt.backoff_max_ms ? r->opt.backoff_max_ms :
		(unsigned)(d * 2);
	if ((uint64_t)r->retry_after_s * 1000 > wait)
		wait = (uint64_t)r->retry_after_s * 1000;
	return wait;
}

static uint64_t delay_ms(struct pw_reflector *r, uint64_t now)
{
	switch (r->delay) {
	case DELAY_BACKOFF:
		return backoff_step(r, now);
	case DELAY_REWATCH:
		if (r->watch_events == 0 && now - r->watch_started_ms < SHORT_WATCH_MS) {
			say(r, PW_LOG_WARNING, "watch ended at once with no event");
			r->failures++;
			r->stats.retries++;
			return backoff_step(r, now);
		}
		return 0;
	case DELAY_NONE:
		break;
	}
	return 0;
}

/* --------------------------------------------------------------- status */

/* Server text goes into one-line log messages, where control bytes must not. */
static void put_clean(struct pw_buf *b, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		pw_buf_putc(b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
	if (s[i])
		pw_buf_puts(b, "...");
}

/* ": <reason>: <message>" of the Status in an error body, and its reason. */
static void read_status(const char *body, struct pw_buf *out, char **reason)
{
	struct pw_buf line = PW_BUF_INIT, err = PW_BUF_INIT;
	struct pw_watch_event ev;

	*reason = NULL;
	if (!body || !*body)
		return;
	/* A Status is what an ERROR event carries: let its decoder read it. */
	pw_buf_printf(&line, "{\"type\":\"ERROR\",\"object\":%s}", body);
	if (!pw_watch_event_decode(line.data, line.len, PW_KIND_NAMESPACE, &ev, &err)) {
		if (ev.reason) {
			pw_buf_puts(out, ": ");
			put_clean(out, ev.reason, 100);
		}
		if (ev.message) {
			pw_buf_puts(out, ": ");
			put_clean(out, ev.message, 300);
		}
		*reason = ev.reason;
		ev.reason = NULL;
	} else {
		pw_buf_puts(out, ": ");
		put_clean(out, body, 100);
	}
	pw_watch_event_clear(&ev);
	pw_buf_free(&line);
	pw_buf_free(&err);
}

/* "HTTP 503: ServiceUnavailable: ..." or the transport failure, for logs. */
static char *describe_failure(const struct pw_k8s_response *resp, char **reason)
{
	struct pw_buf b = PW_BUF_INIT;

	*reason = NULL;
	if (resp->error) {
		pw_buf_puts(&b, strerror(-resp->error));
		if (resp->message && *resp->message) {
			pw_buf_puts(&b, ": ");
			put_clean(&b, resp->message, 300);
		}
	} else {
		pw_buf_printf(&b, "HTTP %ld", resp->status);
		read_status(resp->body, &b, reason);
	}
	if (resp->retry_after)
		pw_buf_printf(&b, " (retry after %u s)", resp->retry_after);
	return pw_buf_steal(&b);
}

/* 504 "Too large resource version": newer than this server has seen. */
static bool too_large_rv(const struct pw_k8s_response *resp, const char *reason)
{
	return resp->status == 504 && reason && strcmp(reason, "Timeout") == 0 &&
		resp->body && strstr(resp->body, "Too large resource version");
}

/* ---------------------------------------------------------------- list */

static bool list_on_data(void *ctx, const char *data, size_t len)
{
	struct pw_reflector *r = ctx;

	if (r->body.len + len > LIST_BODY_MAX) {
		r->abort = ABORT_TOO_BIG;
		return false;
	}
	pw_buf_add(&r->body, data, len);
	return true;
}

static void collect_item(struct pw_object *obj, void *ctx)
{
	struct pw_reflector *r = ctx;

	PW_GROW(r->items, r->items_cap, r->nitems + 1);
	r->items[r->nitems++] = *obj;
}

static void bad_item(const char *key, const char *why, struct pw_object *isolation,
		     void *ctx)
{
	struct pw_reflector *r = ctx;
	struct refused_item *item;

	r->stats.bad_objects++;
	say(r, PW_LOG_WARNING, "skipping %s", why);
	if (!key) {
		if (isolation)
			pw_object_free(isolation);
		return;
	}
	PW_GROW(r->refused, r->refused_cap, r->nrefused + 1);
	item = &r->refused[r->nrefused++];
	item->key = pw_xstrdup(key);
	if (isolation)
		item->isolation = *isolation;
	else
		memset(&item->isolation, 0, sizeof(item->isolation));
}

/* A whole snapshot is in, from a list or a watch-list's initial events. */
static void snapshot_done(struct pw_reflector *r, const char *rv)
{
	replace_all(r);
	replace_str(&r->rv, rv);
	r->stats.snapshots++;
	r->rv_unusable = false;
	r->synced = true;
	if (r->ops.synced)
		r->ops.synced(r->ctx, r->kind);
}

static void list_done(struct pw_reflector *r, const char *rv)
{
	snapshot_done(r, rv);
	schedule(r, ACT_WATCH, DELAY_NONE, 0);
}

static void list_page_ok(struct pw_reflector *r)
{
	struct pw_buf err = PW_BUF_INIT;
	char *rv, *cont;

	if (pw_list_decode_keyed(r->body.data ? r->body.data : "", r->body.len, r->kind,
				 collect_item, bad_item, r, &rv, &cont, &err) < 0) {
		say(r, PW_LOG_WARNING, "list: %s", pw_buf_str(&err));
		drop_items(r);
		schedule(r, ACT_LIST, DELAY_BACKOFF, 0);
		goto out;
	}
	r->stats.pages++;
	free(r->continue_token);
	r->continue_token = cont;
	if (cont)
		schedule(r, ACT_PAGE, DELAY_NONE, 0);
	else
		list_done(r, rv);
	free(rv);
out:
	pw_buf_free(&err);
}

static void list_on_done(void *ctx, const struct pw_k8s_response *resp)
{
	struct pw_reflector *r = ctx;
	char *why, *reason;

	r->req = NULL;
	if (!resp->error && resp->status == 200) {
		list_page_ok(r);
		pw_buf_free(&r->body);
		return;
	}
	pw_buf_free(&r->body);
	if (r->abort == ABORT_TOO_BIG) {
		say(r, PW_LOG_WARNING, "list: response larger than %zu bytes",
		    LIST_BODY_MAX);
		drop_items(r);
		schedule(r, ACT_LIST, DELAY_BACKOFF, 0);
		return;
	}
	why = describe_failure(resp, &reason);
	if (resp->status == 410 && r->continue_token) {
		/*
		 * The snapshot is compacted away. The token in the Status would
		 * give an inconsistent list; like client-go's pager, start over
		 * with one list that needs no token.
		 */
		say(r, PW_LOG_NOTICE, "list: continue token expired (%s); listing again "
		    "in one request", why);
		r->stats.relists_410++;
		drop_items(r);
		schedule(r, ACT_LIST_UNPAGED, DELAY_NONE, 0);
	} else if (!r->continue_token && r->list_rv &&
		   (resp->status == 410 || too_large_rv(resp, reason))) {
		/*
		 * The resourceVersion asked for is compacted away, or newer
		 * than this server has seen (another one, restored from a
		 * backup): as client-go, read it from etcd, at once.
		 */
		say(r, PW_LOG_NOTICE, "list: %s; reading it from etcd", why);
		r->rv_unusable = true;
		if (resp->status == 410)
			r->stats.relists_410++;
		drop_items(r);
		schedule(r, ACT_LIST, DELAY_NONE, 0);
	} else {
		/* Same page again: its token stays good until it expires. */
		say(r, PW_LOG_WARNING, "list: %s", why);
		schedule(r, ACT_PAGE, DELAY_BACKOFF, resp->retry_after);
	}
	free(reason);
	free(why);
}

static const struct pw_k8s_request_ops list_ops = {
	.on_data = list_on_data,
	.on_done = list_on_done,
};

static bool request_page(struct pw_reflector *r)
{
	struct pw_k8s_request_options ro = { r->opt.stall_timeout_s, 0 };
	struct pw_buf url = PW_BUF_INIT;

	pw_buf_puts(&url, r->path);
	if (r->list_paged && r->opt.page_size) {
		char limit[16];

		snprintf(limit, sizeof(limit), "%u", r->opt.page_size);
		put_param(&url, "limit", limit);
	}
	/* A token holds its snapshot's resourceVersion and must not carry one. */
	if (r->continue_token)
		put_param(&url, "continue", r->continue_token);
	else if (r->list_rv)
		put_param(&url, "resourceVersion", r->list_rv);
	if (r->field_selector)
		put_param(&url, "fieldSelector", r->field_selector);
	pw_buf_reset(&r->body);
	r->abort = ABORT_NONE;
	r->req = pw_k8s_request_start(r->client, pw_buf_str(&url), &ro, &list_ops, r);
	pw_buf_free(&url);
	return r->req != NULL;
}

/*
 * client-go's relistResourceVersion(): "0" (whatever the watch cache has)
 * first; then the last one seen, for a state not older than what was
 * delivered, which the cache serves too; NULL ("", a consistent read from
 * etcd) only when asked to, or after a list was refused the last one.
 */
static const char *relist_rv(const struct pw_reflector *r)
{
	if (r->opt.initial_list == PW_INITIAL_LIST_CONSISTENT || r->rv_unusable)
		return NULL;
	return r->rv ? r->rv : "0";
}

/*
 * consistent: a consistent read without limit, after an expired continue
 * token (as client-go's pager). Otherwise at relist_rv(), paged only at ""
 * or "0": with a limit, any other resourceVersion is an exact read, which
 * the watch cache leaves to etcd; at "0" the cache ignores the limit.
 */
static bool start_list(struct pw_reflector *r, bool consistent)
{
	const char *rv = consistent ? NULL : relist_rv(r);

	r->stats.lists++;
	if (!rv)
		r->stats.consistent_lists++;
	replace_str(&r->list_rv, rv);
	r->list_paged = !consistent && (!rv || strcmp(rv, "0") == 0);
	replace_str(&r->continue_token, NULL);
	drop_items(r);
	return request_page(r);
}

/* --------------------------------------------------------------- watch */

static void set_rv(struct pw_reflector *r, const char *rv)
{
	if (rv && (!r->rv || strcmp(r->rv, rv) != 0))
		replace_str(&r->rv, rv);
}

/*
 * An object the decoder refuses is skipped. The one handed out before under
 * its name stays or goes as refused() says; a relist does the same, so
 * that the two paths agree.
 */
static void skip_bad_event(struct pw_reflector *r, struct pw_watch_event *ev,
			   const char *why)
{
	bool deletion = ev->type == PW_WATCH_DELETED;

	r->stats.bad_objects++;
	say(r, PW_LOG_WARNING, "skipping %s", why);
	set_rv(r, ev->resource_version);
	if (isolate(r, ev->key, &ev->isolation, deletion)) {
		deliver(r, &ev->isolation);
		memset(&ev->isolation, 0, sizeof(ev->isolation));
	} else {
		refused(r, ev->key, deletion);
	}
}

static void deleted(struct pw_reflector *r, struct pw_object *obj)
{
	const char *ns, *name, *uid, *have;
	char *key;

	object_names(obj, &ns, &name, &uid);
	key = make_key(ns, name);
	have = pw_strmap_get(r->delivered, key);
	/* Another uid is a newer object under the same name: keep it. */
	if (have && (!*have || !*uid || strcmp(have, uid) == 0))
		forget(r, key);
	free(key);
}

/*
 * A line that did not even parse names no object; a plain scan of it may,
 * for the log (only: what is not parsed is not acted on).
 */
static void name_object(struct pw_reflector *r, const char *line, size_t len,
			struct pw_buf *why)
{
	char *key = pw_watch_event_peek_key(line, len, r->kind);

	if (!key)
		return;
	pw_buf_printf(why, " (%s ", pw_kind_name(r->kind));
	put_clean(why, key, 300);
	pw_buf_putc(why, ')');
	free(key);
}

/*
 * An event of a watch-list's initial state. Its ADDEDs are gathered as a
 * list's pages are, and delivered as one snapshot at the closing bookmark.
 * A live event before that bookmark means a server that ignored
 * sendInitialEvents (one from before resourceVersionMatch on watches): its
 * state would never be known complete.
 */
static int initial_event(struct pw_reflector *r, struct pw_watch_event *ev, bool ok,
			 const char *why)
{
	switch (ev->type) {
	case PW_WATCH_ADDED:
		r->initial_progress = true;
		if (!ok) {
			bad_item(ev->key, why, ev->isolation.u.policy ? &ev->isolation : NULL,
				 r);
			memset(&ev->isolation, 0, sizeof(ev->isolation));
			return 0;
		}
		collect_item(&ev->object, r);
		memset(&ev->object, 0, sizeof(ev->object));
		return 0;
	case PW_WATCH_BOOKMARK:
		/* Any other bookmark says no more than the one to come. */
		if (ok && ev->initial_events_end) {
			r->initial = false;
			snapshot_done(r, ev->resource_version);
		}
		return 0;
	case PW_WATCH_ERROR:	/* the caller's, as on any watch */
		return 0;
	case PW_WATCH_MODIFIED:
	case PW_WATCH_DELETED:
		break;
	}
	r->abort = ABORT_NO_WATCH_LIST;
	return 1;
}

static int handle_line(const char *line, size_t len, void *ctx)
{
	struct pw_reflector *r = ctx;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_watch_event ev;
	bool ok;
	int ret = 0;

	ok = pw_watch_event_decode(line, len, r->kind, &ev, &err) == 0;
	if (!ok && !ev.key)
		name_object(r, line, len, &err);
	if (ok) {
		r->stats.events++;
		r->watch_events++;
	}
	/* An ERROR ends a watch-list as it ends a watch. */
	if (r->initial && ev.type != PW_WATCH_ERROR) {
		ret = initial_event(r, &ev, ok, pw_buf_str(&err));
		goto out;
	}
	if (!ok) {
		if (ev.type == PW_WATCH_ADDED || ev.type == PW_WATCH_MODIFIED ||
		    ev.type == PW_WATCH_DELETED)
			skip_bad_event(r, &ev, pw_buf_str(&err));
		else
			say(r, PW_LOG_WARNING, "watch: skipping an event: %s",
			    pw_buf_str(&err));
		goto out;
	}
	switch (ev.type) {
	case PW_WATCH_ADDED:
	case PW_WATCH_MODIFIED:
		r->watch_changes++;
		deliver(r, &ev.object);
		memset(&ev.object, 0, sizeof(ev.object));
		set_rv(r, ev.resource_version);
		break;
	case PW_WATCH_DELETED:
		r->watch_changes++;
		deleted(r, &ev.object);
		set_rv(r, ev.resource_version);
		break;
	case PW_WATCH_BOOKMARK:
		set_rv(r, ev.resource_version);
		break;
	case PW_WATCH_ERROR:
		/* Servers before 1.18 say Gone; both mean the RV is compacted. */
		if (ev.code == 410 || (ev.reason && (strcmp(ev.reason, "Expired") == 0 ||
						     strcmp(ev.reason, "Gone") == 0))) {
			say(r, PW_LOG_NOTICE, "watch: %s; listing again",
			    ev.message ? ev.message : "resourceVersion expired");
			r->abort = ABORT_EXPIRED;
		} else {
			say(r, PW_LOG_WARNING, "watch: error %ld: %s: %s", ev.code,
			    ev.reason ? ev.reason : "", ev.message ? ev.message : "");
			r->abort = ABORT_ERROR;
		}
		ret = 1;
		break;
	}
out:
	pw_watch_event_clear(&ev);
	pw_buf_free(&err);
	return ret;
}

static bool watch_on_data(void *ctx, const char *data, size_t len)
{
	struct pw_reflector *r = ctx;
	int ret;

	r->watch_got_data = true;
	r->data_seen = true;
	ret = pw_line_framer_feed(r->framer, data, len, handle_line, r);
	if (ret == -EMSGSIZE)
		r->abort = ABORT_TOO_LONG;
	return ret == 0;
}

/* Names the object of the line too long, if its start says which it was. */
static void say_too_long(struct pw_reflector *r)
{
	struct pw_buf what = PW_BUF_INIT;
	const char *head;
	size_t len;
	char *key;

	head = pw_line_framer_refused_head(r->framer, &len);
	key = pw_watch_event_peek_key(head, len, r->kind);
	if (key) {
		pw_buf_printf(&what, " (%s ", pw_kind_name(r->kind));
		put_clean(&what, key, 300);
		pw_buf_putc(&what, ')');
	}
	say(r, PW_LOG_WARNING, "watch: an event longer than %zu bytes%s",
	    r->opt.max_event_bytes, pw_buf_str(&what));
	free(key);
	pw_buf_free(&what);
}

/* The server refused or ignored a watch-list: lists from now on. */
static void give_up_watch_list(struct pw_reflector *r, const char *why)
{
	say(r, PW_LOG_NOTICE, "watch-list: %s; listing instead", why);
	r->no_watch_list = true;
	r->initial = false;
	drop_items(r);
	schedule(r, ACT_LIST, DELAY_NONE, 0);
}

/* A watch-list that ended before its closing bookmark: nothing is delivered. */
static void initial_on_done(struct pw_reflector *r, const struct pw_k8s_response *resp)
{
	char *why, *reason;

	r->initial = false;
	drop_items(r);
	switch (r->abort) {
	case ABORT_NO_WATCH_LIST:
		give_up_watch_list(r, "a live event came before the initial state's end: "
				   "the server ignores sendInitialEvents");
		return;
	case ABORT_EXPIRED:
		/* Not from a server that reads "not older than": read it afresh. */
		r->rv_unusable = true;
		r->stats.relists_410++;
		schedule(r, ACT_WATCH_LIST, DELAY_NONE, 0);
		return;
	case ABORT_ERROR:
		schedule(r, ACT_WATCH_LIST, DELAY_BACKOFF, 0);
		return;
	case ABORT_TOO_LONG:
		/* A list steps over the line; the next relist tries again. */
		say_too_long(r);
		schedule(r, ACT_LIST, DELAY_BACKOFF, 0);
		return;
	default:
		break;
	}
	if (!resp->error && resp->status == 200) {
		say(r, PW_LOG_WARNING, "watch-list: ended before the initial state was complete");
		schedule(r, ACT_WATCH_LIST, DELAY_BACKOFF, 0);
		return;
	}
	why = describe_failure(resp, &reason);
	if (resp->status == 400 || resp->status == 422) {
		/* A server without WatchList, or older than resourceVersionMatch. */
		give_up_watch_list(r, why);
	} else if (resp->status == 410 || too_large_rv(resp, reason)) {
		say(r, PW_LOG_NOTICE, "watch-list: %s; streaming the current state", why);
		r->rv_unusable = true;
		schedule(r, ACT_WATCH_LIST, resp->status == 410 ? DELAY_NONE : DELAY_BACKOFF,
			 resp->retry_after);
	} else {
		say(r, PW_LOG_WARNING, "watch-list: %s", why);
		schedule(r, ACT_WATCH_LIST, DELAY_BACKOFF, resp->retry_after);
	}
	free(reason);
	free(why);
}

static void watch_on_done(void *ctx, const struct pw_k8s_response *resp)
{
	struct pw_reflector *r = ctx;
	char *why, *reason;

	r->req = NULL;
	if (r->watch_got_data)
		r->failures = 0;
	if (r->initial) {
		initial_on_done(r, resp);
		return;
	}
	switch (r->abort) {
	case ABORT_EXPIRED:
		/*
		 * Not etcd's: a list "not older than" the last resourceVersion
		 * has all that was missed, and the watch cache serves it.
		 */
		r->stats.relists_410++;
		schedule_relist(r, DELAY_NONE, 0);
		return;
	case ABORT_ERROR:
		schedule(r, ACT_WATCH, DELAY_BACKOFF, 0);
		return;
	case ABORT_TOO_LONG:
		/*
		 * Watching again from the same resourceVersion meets the same
		 * line; the second time, a list steps over it.
		 */
		say_too_long(r);
		if (r->too_long_rv && r->rv && strcmp(r->too_long_rv, r->rv) == 0) {
			schedule(r, ACT_LIST, DELAY_BACKOFF, 0);
		} else {
			replace_str(&r->too_long_rv, r->rv);
			schedule(r, ACT_WATCH, DELAY_BACKOFF, 0);
		}
		return;
	default:
		break;
	}
	if (!resp->error && resp->status == 200) {
		/* timeoutSeconds ran out or the server closed: carry on from rv. */
		if (pw_line_framer_pending(r->framer))
			say(r, PW_LOG_INFO, "watch: ended inside an event");
		schedule(r, ACT_WATCH, DELAY_REWATCH, 0);
		return;
	}
	why = describe_failure(resp, &reason);
	if (resp->status == 410 || too_large_rv(resp, reason)) {
		/* Too old, or newer than this server has: only a list helps. */
		say(r, PW_LOG_NOTICE, "watch: %s; listing again", why);
		if (resp->status == 410) {
			r->stats.relists_410++;
			schedule_relist(r, DELAY_NONE, 0);
		} else {
			schedule_relist(r, DELAY_BACKOFF, resp->retry_after);
		}
	} else if (resp->error == -ETIMEDOUT && r->failures == 0) {
		/* A stalled stream: reopen at once, unless it keeps happening. */
		say(r, PW_LOG_NOTICE, "watch: %s; watching again", why);
		r->failures++;
		schedule(r, ACT_WATCH, DELAY_NONE, 0);
	} else if (r->watch_changes && !resp->retry_after) {
		/*
		 * A watch that delivered changes and then broke (a reset, a
		 * truncated chunk) is reopened at once, as client-go does:
		 * backing off here would leave a flapping link's changes
		 * unseen for up to a minute. Bookmarks alone do not count, or
		 * a server could keep podwall reconnecting in a loop; and a
		 * reopened watch that ends at once with nothing backs off.
		 */
		say(r, PW_LOG_NOTICE, "watch: %s; watching again", why);
		r->backoff_ms = 0;
		schedule(r, ACT_WATCH, DELAY_REWATCH, 0);
	} else {
		say(r, PW_LOG_WARNING, "watch: %s", why);
		schedule(r, ACT_WATCH, DELAY_BACKOFF, resp->retry_after);
	}
	free(reason);
	free(why);
}

static const struct pw_k8s_request_ops watch_ops = {
	.on_data = watch_on_data,
	.on_done = watch_on_done,
};

/*
 * A watch from the last resourceVersion; or a watch-list, which streams the
 * state first: at the last resourceVersion or newer, as client-go's, and
 * without one (the server's latest, a consistent read of it) at first or
 * once a list was refused the last one.
 */
static bool start_watch(struct pw_reflector *r, uint64_t now, bool watch_list)
{
	const char *rv = watch_list && r->rv_unusable ? NULL : r->rv;
	struct pw_k8s_request_options ro = { r->opt.stall_timeout_s, 0 };
	unsigned lo = r->opt.watch_min_s, hi = r->opt.watch_max_s, timeout;
	struct pw_buf url = PW_BUF_INIT;
	char text[16];

	if (hi < lo)
		hi = lo;
	/* Random, so that agents restarted together do not reconnect together. */
	timeout = lo + (unsigned)(next_random(r) % ((uint64_t)hi - lo + 1));
	/* A server that ignores timeoutSeconds must not hold us for ever. */
	if (timeout)
		ro.total_timeout_s = timeout + 60;
	pw_buf_puts(&url, r->path);
	put_param(&url, "watch", "1");
	if (watch_list) {
		put_param(&url, "sendInitialEvents", "true");
		put_param(&url, "resourceVersionMatch", "NotOlderThan");
	}
	if (rv)
		put_param(&url, "resourceVersion", rv);
	put_param(&url, "allowWatchBookmarks", "true");
	snprintf(text, sizeof(text), "%u", timeout);
	put_param(&url, "timeoutSeconds", text);
	if (r->field_selector)
		put_param(&url, "fieldSelector", r->field_selector);
	pw_line_framer_reset(r->framer);
	r->abort = ABORT_NONE;
	r->watch_events = 0;
	r->watch_changes = 0;
	r->watch_started_ms = now;
	r->watch_got_data = false;
	r->initial = watch_list;
	r->initial_progress = false;
	r->initial_quiet_since_ms = now;
	if (watch_list) {
		drop_items(r);
		r->stats.watch_lists++;
	} else {
		r->stats.watches++;
	}
	r->req = pw_k8s_request_start(r->client, pw_buf_str(&url), &ro, &watch_ops, r);
	pw_buf_free(&url);
	return r->req != NULL;
}

/* ---------------------------------------------------------------- public */

struct pw_reflector *pw_reflector_new(struct pw_k8s_client *client, enum pw_kind kind,
				      const struct pw_reflector_options *opt,
				      const struct pw_reflector_ops *ops, void *ctx)
{
	struct pw_reflector *r = pw_xcalloc(1, sizeof(*r));

	r->client = client;
	r->kind = kind;
	r->path = resource_paths[kind];
	if (opt)
		r->opt = *opt;
	else
		pw_reflector_options_default(&r->opt);
	if (!r->opt.max_event_bytes)
		r->opt.max_event_bytes = DEFAULT_MAX_EVENT_BYTES;
	if (!r->opt.watch_list_quiet_ms)
		r->opt.watch_list_quiet_ms = DEFAULT_WATCH_LIST_QUIET_MS;
	if (!r->opt.backoff_initial_ms)
		r->opt.backoff_initial_ms = 800;
	if (r->opt.backoff_max_ms < r->opt.backoff_initial_ms)
		r->opt.backoff_max_ms = r->opt.backoff_initial_ms;
	r->field_selector = r->opt.field_selector && *r->opt.field_selector ?
		pw_xstrdup(r->opt.field_selector) : NULL;
	r->opt.field_selector = r->field_selector;
	r->ops = *ops;
	r->ctx = ctx;
	r->delivered = pw_strmap_new();
	r->framer = pw_line_framer_new(r->opt.max_event_bytes);
	seed_random(r);
	return r;
}

void pw_reflector_free(struct pw_reflector *r)
{
	if (!r)
		return;
	if (r->req)
		pw_k8s_request_cancel(r->req);
	pw_strmap_foreach(r->delivered, free_value, NULL);
	pw_strmap_free(r->delivered);
	drop_items(r);
	free(r->items);
	free(r->refused);
	pw_buf_free(&r->body);
	pw_line_framer_free(r->framer);
	free(r->continue_token);
	free(r->list_rv);
	free(r->too_long_rv);
	free(r->rv);
	free(r->field_selector);
	free(r);
}


static bool run(struct pw_reflector *r, enum action a, uint64_t now)
{
	switch (a) {
	case ACT_LIST:
		return start_list(r, false);
	case ACT_LIST_UNPAGED:
		return start_list(r, true);
	case ACT_PAGE:
		return request_page(r);
	case ACT_WATCH:
		return start_watch(r, now, false);
	case ACT_WATCH_LIST:
		return start_watch(r, now, true);
	case ACT_NONE:
		break;
	}
	return true;
}

void pw_reflector_start(struct pw_reflector *r)
{
	enum action a = use_watch_list(r) ? ACT_WATCH_LIST : ACT_LIST;

	if (r->req || r->next != ACT_NONE)
		return;
	if (!run(r, a, pw_monotonic_ms())) {
		say(r, PW_LOG_ERR, "cannot start a request");
		schedule(r, a, DELAY_BACKOFF, 0);
	}
}

/*
 * A watch-list's initial events that stop before the closing bookmark, for
 * watch_list_quiet_ms, come from a server that ignored sendInitialEvents
 * and sent what a plain watch sends (nothing, or every object and then no
 * more): lists from then on. Until the server answers at all, its silence
 * is load, not a verdict. Returns the ms left, or -1 once it gave up.
 */
static int initial_wait(struct pw_reflector *r, uint64_t now)
{
	uint64_t quiet = r->opt.watch_list_quiet_ms, left;
	char why[96];

	if (r->initial_progress || !pw_k8s_request_status(r->req)) {
		r->initial_progress = false;
		r->initial_quiet_since_ms = now;
	}
	if (now - r->initial_quiet_since_ms < quiet) {
		left = r->initial_quiet_since_ms + quiet - now;
		return left > INT_MAX ? INT_MAX : (int)left;
	}
	pw_k8s_request_cancel(r->req);
	r->req = NULL;
	snprintf(why, sizeof(why), "no initial-events-end bookmark after %u ms of quiet",
		 r->opt.watch_list_quiet_ms);
	give_up_watch_list(r, why);
	return -1;
}

int pw_reflector_tick(struct pw_reflector *r, uint64_t now_ms)
{
	enum action a;

	/* Callbacks have no clock: health is dated at the tick that follows. */
	if (r->data_seen && !r->healthy) {
		r->healthy = true;
		r->healthy_since_ms = now_ms;
	}
	r->data_seen = false;
	if (r->req && r->initial) {
		int left = initial_wait(r, now_ms);

		if (left >= 0)
			return left;
	}
	if (r->req || r->next == ACT_NONE)
		return -1;
	if (!r->due_set) {
		r->due_ms = now_ms + delay_ms(r, now_ms);
		r->due_set = true;
	}
	if (now_ms < r->due_ms)
		return r->due_ms - now_ms > INT_MAX ? INT_MAX : (int)(r->due_ms - now_ms);
	a = r->next;
	r->next = ACT_NONE;
	if (run(r, a, now_ms))
		return -1;
	say(r, PW_LOG_ERR, "cannot start a request");
	/* A failed list page restarts with its token; anything else is redone. */
	schedule(r, a, DELAY_BACKOFF, 0);
	return 0;
}

bool pw_reflector_synced(const struct pw_reflector *r)
{
	return r->synced;
}

bool pw_reflector_watch_list_refused(const struct pw_reflector *r)
{
	return r->no_watch_list;
}

const char *pw_reflector_resource_version(const struct pw_reflector *r)
{
	return r->rv;
}

void pw_reflector_get_stats(const struct pw_reflector *r, struct pw_reflector_stats *out)
{
	*out = r->stats;
}
