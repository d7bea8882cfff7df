/*
 * A reflector keeps one resource (Pods, Namespaces or NetworkPolicies) in
 * step with the API server, as client-go's does. The state comes first,
 * by default from a watch-list (a watch with sendInitialEvents that streams
 * every object from the watch cache, then a bookmark annotated
 * k8s.io/initial-events-end, then live events on the same connection);
 * where the server refuses or ignores that, from a paged list (limit 500)
 * at resourceVersion 0, the watch cache's copy, then a watch from the
 * list's resourceVersion with bookmarks and a random 5-10 minute timeout.
 * A watch that ends is reopened from the last resourceVersion; "410
 * Gone/Expired" means the state again, listed "not older than" the last
 * resourceVersion (the cache again, not etcd), and diffed against what
 * was delivered so that what vanished is deleted. A consistent read from
 * etcd (resourceVersion "") only follows a list refused 410 or 504 "too
 * large resource version". Failures back off exponentially with jitter
 * from 0.8 s to 30 s (reset after 2 healthy minutes), honouring
 * Retry-After.
 */
#ifndef PW_REFLECTOR_H
#define PW_REFLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "k8s/client.h"
#include "k8s/object.h"

struct pw_reflector;

struct pw_reflector_ops {
	/* An object was added or changed; the callee owns obj's member. */
	void (*upsert)(void *ctx, struct pw_object *obj);
	/* An object is gone (namespace NULL for Namespaces). */
	void (*remove)(void *ctx, enum pw_kind kind, const char *namespace,
		       const char *name, const char *uid);
	/* A full list has been delivered (the first one, and each relist). */
	void (*synced)(void *ctx, enum pw_kind kind);
	/* A one-line account of a problem worth logging (bad object, error). */
	void (*log)(void *ctx, int level, const char *message);
};

/* Where the first state comes from (--initial-list). */
enum pw_initial_list {
	PW_INITIAL_LIST_WATCH_LIST,	/* a watch-list; lists where not offered */
	PW_INITIAL_LIST_CACHE,		/* lists at resourceVersion 0 */
	PW_INITIAL_LIST_CONSISTENT,	/* every list a consistent read from etcd */
};

/* "watch-list", "cache", "consistent": 0, or -EINVAL. */
int pw_initial_list_parse(const char *text, enum pw_initial_list *out);

struct pw_reflector_options {
	enum pw_initial_list initial_list;	/* watch-list */
	/*
	 * A watch-list whose initial events pause this long without the
	 * closing bookmark is taken for a server that ignored the request.
	 */
	unsigned watch_list_quiet_ms;	/* 10000 */
	unsigned page_size;		/* 500 */
	unsigned watch_min_s;		/* 300 */
	unsigned watch_max_s;		/* 600 */
	unsigned stall_timeout_s;	/* 0: no stall detection */
	unsigned backoff_initial_ms;	/* 800 */
	unsigned backoff_max_ms;	/* 30000 */
	unsigned healthy_reset_s;	/* 120 */
	size_t max_event_bytes;		/* longest accepted event line */
	const char *field_selector;	/* e.g. for Pods; NULL: none */
};

void pw_reflector_options_default(struct pw_reflector_options *opt);

struct pw_reflector *pw_reflector_new(struct pw_k8s_client *client, enum pw_kind kind,
				      const struct pw_reflector_options *opt,
				      const struct pw_reflector_ops *ops, void *ctx);
void pw_reflector_free(struct pw_reflector *r);

/* Starts the first list. */
void pw_reflector_start(struct pw_reflector *r);
/*
 * Runs what is due (a backoff that expired); now_ms from a monotonic clock.
 * Returns how many ms until it next needs a tick (-1: none pending).
 */
int pw_reflector_tick(struct pw_reflector *r, uint64_t now_ms);

bool pw_reflector_synced(const struct pw_reflector *r);
/* Whether the server refused or ignored a watch-list: lists from now on. */
bool pw_reflector_watch_list_refused(const struct pw_reflector *r);
/* The last resourceVersion seen (an opaque string), or NULL. */
const char *pw_reflector_resource_version(const struct pw_reflector *r);

/* Counters for tests and the status line. */
struct pw_reflector_stats {
	unsigned lists;		/* full lists started */
	unsigned pages;
	unsigned watches;	/* watches opened */
	unsigned watch_lists;	/* watch-lists opened */
	unsigned snapshots;	/* whole states delivered, by list or watch-list */
	unsigned consistent_lists;	/* of the lists, read from etcd */
	unsigned events;
	unsigned bad_objects;
	unsigned relists_410;
	unsigned retries;
};
void pw_reflector_get_stats(const struct pw_reflector *r, struct pw_reflector_stats *out);

#endif
