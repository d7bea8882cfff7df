/*
 * The watch stream: newline-delimited JSON events, cut into lines whatever
 * the chunk boundaries, and decoded into podwall objects.
 */
#ifndef PW_WATCH_H
#define PW_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "k8s/object.h"
#include "lib/util.h"

struct pw_line_framer;

/* Lines longer than max_line are refused (a hostile or broken server). */
struct pw_line_framer *pw_line_framer_new(size_t max_line);
void pw_line_framer_free(struct pw_line_framer *f);
/*
 * Feeds bytes; calls fn for each complete line (without the newline; blank
 * lines are skipped). A non-zero return from fn stops and is returned;
 * -EMSGSIZE when a line grows past max_line.
 */
int pw_line_framer_feed(struct pw_line_framer *f, const char *data, size_t len,
			int (*fn)(const char *line, size_t len, void *ctx), void *ctx);
/* Bytes of an unfinished line held back. */
size_t pw_line_framer_pending(const struct pw_line_framer *f);
/* The first bytes (at most 4 KiB) of the last line refused for its length. */
const char *pw_line_framer_refused_head(const struct pw_line_framer *f, size_t *len);
void pw_line_framer_reset(struct pw_line_framer *f);

enum pw_watch_type {
	PW_WATCH_ADDED,
	PW_WATCH_MODIFIED,
	PW_WATCH_DELETED,
	PW_WATCH_BOOKMARK,
	PW_WATCH_ERROR,
};

struct pw_watch_event {
	enum pw_watch_type type;
	struct pw_object object;	/* ADDED, MODIFIED, DELETED: owned by the event */
	char *resource_version;		/* the object's or the bookmark's; may be NULL */
	/* BOOKMARK: annotated k8s.io/initial-events-end, a watch-list's state is all sent. */
	bool initial_events_end;
	/* An object refused: "namespace/name" (a Namespace's name) when readable. */
	char *key;
	/*
	 * A NetworkPolicy refused (ADDED, MODIFIED): what it surely does, its
	 * pods isolated with nothing allowed (pw_decode_policy_isolation());
	 * u.policy NULL when unreadable. The caller may enforce it in place of
	 * a policy it never had a valid version of.
	 */
	struct pw_object isolation;
	/* ERROR: the Status */
	long code;
	char *reason;
	char *message;
};

/*
 * Decodes one event line for a watch of kind. Returns 0; or -EINVAL with
 * err naming the object and field when the line or the object is invalid
 * (the caller logs it and goes on: one bad object must not stop the watch).
 */
int pw_watch_event_decode(const char *line, size_t len, enum pw_kind kind,
			  struct pw_watch_event *ev, struct pw_buf *err);
void pw_watch_event_clear(struct pw_watch_event *ev);

/*
 * The key ("namespace/name", a Namespace's name) of the object in the first
 * len bytes of an event line, which may be cut anywhere (a line too long
 * to decode); NULL when they do not name one. The caller frees it.
 */
char *pw_watch_event_peek_key(const char *text, size_t len, enum pw_kind kind);

/*
 * Decodes a list response body (PodList...): each valid item goes to fn
 * (which owns it after), each invalid one to bad (with the reason), and
 * metadata.resourceVersion and metadata.continue are returned (NULL when
 * absent). Returns 0, or -EINVAL when the body itself is not a list.
 */
int pw_list_decode(const char *body, size_t len, enum pw_kind kind,
		   void (*fn)(struct pw_object *obj, void *ctx),
		   void (*bad)(const char *why, void *ctx), void *ctx,
		   char **resource_version, char **continue_token, struct pw_buf *err);

/*
 * The same, with refused given, for each invalid item, its key
 * ("namespace/name", a Namespace's name; NULL when unreadable), the reason,
 * and for a NetworkPolicy its isolation as for a watch event (NULL when
 * unreadable; refused owns it).
 */
int pw_list_decode_keyed(const char *body, size_t len, enum pw_kind kind,
			 void (*fn)(struct pw_object *obj, void *ctx),
			 void (*refused)(const char *key, const char *why,
					 struct pw_object *isolation, void *ctx),
			 void *ctx, char **resource_version, char **continue_token,
			 struct pw_buf *err);

#endif
