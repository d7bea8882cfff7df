/*
 * The API server's JSON: one watch event line, or one list body, decoded
 * for a watch of one kind. The first byte chooses: (byte % 3) the kind
 * (Namespace, Pod, NetworkPolicy), (byte / 3 % 2) an event or a list; so a
 * seed "1{...}" is a Pod event and "5{...}" a NetworkPolicyList.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/watch.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_zero_object(const struct pw_object *obj)
{
	static const struct pw_object zero;

	return memcmp(obj, &zero, sizeof(zero)) == 0;
}

static void check_event(const char *line, size_t len, enum pw_kind kind)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_watch_event ev;
	int ret;

	ret = pw_watch_event_decode(line, len, kind, &ev, &err);
	FUZZ_ASSERT(ret == 0 || ret == -EINVAL);
	FUZZ_ASSERT((unsigned)ev.type <= PW_WATCH_ERROR);
	if (ret < 0) {
		/* Logged as one line, and nothing half-decoded is left. */
		FUZZ_ASSERT(err.len > 0 && fuzz_is_one_line(pw_buf_str(&err)));
		FUZZ_ASSERT(is_zero_object(&ev.object));
		FUZZ_ASSERT(!ev.reason && !ev.message);
	} else {
		switch (ev.type) {
		case PW_WATCH_ADDED:
		case PW_WATCH_MODIFIED:
		case PW_WATCH_DELETED:
			FUZZ_ASSERT(ev.object.kind == kind);
			fuzz_check_object(&ev.object);
			break;
		case PW_WATCH_BOOKMARK:
			FUZZ_ASSERT(ev.resource_version != NULL);
			FUZZ_ASSERT(is_zero_object(&ev.object));
			break;
		case PW_WATCH_ERROR:
			FUZZ_ASSERT(!ev.resource_version);
			FUZZ_ASSERT(is_zero_object(&ev.object));
			break;
		}
	}
	pw_watch_event_clear(&ev);
	FUZZ_ASSERT(!ev.resource_version && !ev.reason && !ev.message);
	pw_watch_event_clear(&ev);
	pw_buf_free(&err);
}

struct list_seen {
	enum pw_kind kind;
	size_t good, bad;
};

static void list_item(struct pw_object *obj, void *ctx)
{
	struct list_seen *seen = ctx;

	FUZZ_ASSERT(obj->kind == seen->kind);
	fuzz_check_object(obj);
	pw_object_free(obj);
	seen->good++;
}

static void list_bad(const char *why, void *ctx)
{
	struct list_seen *seen = ctx;

	FUZZ_ASSERT(why[0] != '\0' && fuzz_is_one_line(why));
	seen->bad++;
}

static void check_list(const char *body, size_t len, enum pw_kind kind)
{
	struct list_seen seen = { kind, 0, 0 };
	struct pw_buf err = PW_BUF_INIT;
	char *rv = NULL, *cont = NULL;
	int ret;

	ret = pw_list_decode(body, len, kind, list_item, list_bad, &seen, &rv, &cont, &err);
	FUZZ_ASSERT(ret == 0 || ret == -EINVAL);
	if (ret < 0) {
		FUZZ_ASSERT(err.len > 0 && fuzz_is_one_line(pw_buf_str(&err)));
		FUZZ_ASSERT(!rv && !cont);
	}
	/* An empty continue token is the last page, as an absent one. */
	FUZZ_ASSERT(!cont || cont[0] != '\0');
	free(rv);
	free(cont);
	pw_buf_free(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum pw_kind kind;

	if (size < 1)
		return 0;
	kind = (enum pw_kind)(data[0] % 3);
	if (data[0] / 3 % 2)
		check_list((const char *)data + 1, size - 1, kind);
	else
		check_event((const char *)data + 1, size - 1, kind);
	return 0;
}
