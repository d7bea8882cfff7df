#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k8s/decode.h"
#include "k8s/watch.h"
#include "k8s/yaml_map.h"

/*
 * libyaml builds documents recursively; a hostile server could nest a
 * line deep enough to exhaust the stack. API objects stay far below this.
 */
#define JSON_MAX_DEPTH 1000

/* ------------------------------------------------------------ framer */

struct pw_line_framer {
	size_t max_line;
	struct pw_buf partial;		/* an unfinished line */
};

struct pw_line_framer *pw_line_framer_new(size_t max_line)
{
	struct pw_line_framer *f = pw_xcalloc(1, sizeof(*f));

	f->max_line = max_line;
	return f;
}

void pw_line_framer_free(struct pw_line_framer *f)
{
	if (!f)
		return;
	pw_buf_free(&f->partial);
	free(f);
}

size_t pw_line_framer_pending(const struct pw_line_framer *f)
{
	return f->partial.len;
}

void pw_line_framer_reset(struct pw_line_framer *f)
{
	pw_buf_reset(&f->partial);
}

static bool is_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static int emit(const char *line, size_t len,
		int (*fn)(const char *line, size_t len, void *ctx), void *ctx)
{
	/* A CRLF writer is as welcome as Go's LF. */
	if (len && line[len - 1] == '\r')
		len--;
	if (is_blank(line, len))
		return 0;
	return fn(line, len, ctx);
}

/*
 * The limit counts every byte before the newline, so that whether a line
 * is refused never depends on where the network cut the stream.
 */
int pw_line_framer_feed(struct pw_line_framer *f, const char *data, size_t len,
			int (*fn)(const char *line, size_t len, void *ctx), void *ctx)
{
	const char *end = data + len;
	int ret;

	while (data < end) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		size_t n = (size_t)((nl ? nl : end) - data);

		if (f->partial.len + n > f->max_line) {
			pw_buf_reset(&f->partial);
			return -EMSGSIZE;
		}
		if (!nl) {
			pw_buf_add(&f->partial, data, n);
			return 0;
		}
		if (f->partial.len) {
			pw_buf_add(&f->partial, data, n);
			ret = emit(f->partial.data, f->partial.len, fn, ctx);
			pw_buf_reset(&f->partial);
		} else {
			/* The common case: a whole line in one piece, no copy. */
			ret = emit(data, n, fn, ctx);
		}
		if (ret)
			return ret;
		data = nl + 1;
	}
	return 0;
}

/* -------------------------------------------------------------- JSON */

/*
 * Readies JSON text for libyaml: refuses nesting beyond JSON_MAX_DEPTH,
 * and rewrites the two things JSON allows that libyaml 0.1 does not (a tab
 * between tokens, "\/" in a string). Returns text itself when nothing needs
 * rewriting, else a copy in *copy; NULL when too deep.
 */
static const char *json_prepare(const char *text, size_t *len, char **copy)
{
	bool in_string = false, escaped = false, rewrite = false;
	size_t depth = 0, i, n = 0;
	char *out;

	*copy = NULL;
	for (i = 0; i < *len; i++) {
		char c = text[i];

		if (in_string) {
			if (escaped) {
				escaped = false;
				rewrite |= c == '/';
			} else if (c == '\\') {
				escaped = true;
			} else if (c == '"') {
				in_string = false;
			}
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > JSON_MAX_DEPTH)
				return NULL;
		} else if (c == '}' || c == ']') {
			depth -= depth > 0;
		} else if (c == '\t') {
			rewrite = true;
		}
	}
	if (!rewrite)
		return text;
	out = pw_xmalloc(*len + 1);
	in_string = escaped = false;
	for (i = 0; i < *len; i++) {
		char c = text[i];

		if (in_string) {
			if (escaped) {
				escaped = false;
				if (c == '/')
					n--;	/* drop the backslash */
			} else if (c == '\\') {
				escaped = true;
			} else if (c == '"') {
				in_string = false;
			}
		} else if (c == '"') {
			in_string = true;
		} else if (c == '\t') {
			c = ' ';
		}
		out[n++] = c;
	}
	out[n] = '\0';
	*len = n;
	*copy = out;
	return out;
}

/* Parses one JSON text into doc; 0 or -EINVAL with the reason in err. */
static int json_load(const char *text, size_t len, const char *what,
		     yaml_document_t *doc, struct pw_buf *err)
{
	yaml_parser_t parser;
	const char *input;
	char *copy;
	int ret = 0;

	input = json_prepare(text, &len, &copy);
	if (!input) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: nested deeper than %d levels", what,
			      JSON_MAX_DEPTH);
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&parser))
		abort();	/* only fails to allocate */
	yaml_parser_set_input_string(&parser, (const unsigned char *)input, len);
	if (!yaml_parser_load(&parser, doc)) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: not valid JSON: %s at byte %zu", what,
			      parser.problem ? parser.problem : "cannot parse",
			      parser.error == YAML_READER_ERROR ? parser.problem_offset :
			      parser.problem_mark.index);
		ret = -EINVAL;
	} else if (!yaml_document_get_root_node(doc)) {
		yaml_document_delete(doc);
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: empty", what);
		ret = -EINVAL;
	}
	yaml_parser_delete(&parser);
	free(copy);
	return ret;
}

static bool is_json_null(const yaml_node_t *n)
{
	return !n || (n->type == YAML_SCALAR_NODE &&
		      n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		      strcmp((const char *)n->data.scalar.value, "null") == 0);
}

/* A JSON string is a quoted scalar; a number or true is plain. */
static bool is_json_string(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE &&
		n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
		!memchr(n->data.scalar.value, '\0', n->data.scalar.length);
}

/*
 * The string under key (*out NULL when absent or null); -EINVAL when it is
 * something else, with "<what>: <key>: ..." in err.
 */
static int get_string(yaml_document_t *doc, yaml_node_t *map, const char *key,
		      const char *what, const char **out, struct pw_buf *err)
{
	yaml_node_t *n = pw_yaml_lookup(doc, map, key);

	*out = NULL;
	if (is_json_null(n))
		return 0;
	if (!is_json_string(n)) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: %s: expected a string", what, key);
		return -EINVAL;
	}
	*out = (const char *)n->data.scalar.value;
	return 0;
}

/* -------------------------------------------------------------- events */

static const char *const event_types[] = {
	[PW_WATCH_ADDED] = "ADDED",
	[PW_WATCH_MODIFIED] = "MODIFIED",
	[PW_WATCH_DELETED] = "DELETED",
	[PW_WATCH_BOOKMARK] = "BOOKMARK",
	[PW_WATCH_ERROR] = "ERROR",
};

static int event_type(yaml_document_t *doc, yaml_node_t *root,
		      enum pw_watch_type *out, struct pw_buf *err)
{
	const char *text;
	size_t i;

	if (get_string(doc, root, "type", "watch event", &text, err) < 0)
		return -EINVAL;
	for (i = 0; text && i < PW_ARRAY_SIZE(event_types); i++) {
		if (strcmp(text, event_types[i]) == 0) {
			*out = (enum pw_watch_type)i;
			return 0;
		}
	}
	pw_buf_reset(err);
	if (!text)
		pw_buf_puts(err, "watch event: type: required");
	else
		pw_buf_printf(err, "watch event: unknown type \"%.40s\"", text);
	return -EINVAL;
}

/* metadata.resourceVersion, copied; an object without one has NULL. */
static int object_rv(yaml_document_t *doc, yaml_node_t *object, const char *what,
		     char **out, struct pw_buf *err)
{
	yaml_node_t *md = pw_yaml_lookup(doc, object, "metadata");
	const char *rv;

	if (!is_json_null(md) && md->type != YAML_MAPPING_NODE) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: metadata: expected a mapping", what);
		return -EINVAL;
	}
	if (get_string(doc, md, "resourceVersion", what, &rv, err) < 0)
		return -EINVAL;
	*out = rv ? pw_xstrdup(rv) : NULL;
	return 0;
}

/* The Status of an ERROR event: code, reason, message. */
static int decode_status(yaml_document_t *doc, yaml_node_t *status,
			 struct pw_watch_event *ev, struct pw_buf *err)
{
	const char *reason, *message, *text;
	yaml_node_t *code = pw_yaml_lookup(doc, status, "code");
	char *end;

	if (get_string(doc, status, "reason", "Status", &reason, err) < 0 ||
	    get_string(doc, status, "message", "Status", &message, err) < 0)
		return -EINVAL;
	if (!is_json_null(code)) {
		text = code->type == YAML_SCALAR_NODE ?
			(const char *)code->data.scalar.value : "";
		errno = 0;
		ev->code = strtol(text, &end, 10);
		if (code->type != YAML_SCALAR_NODE ||
		    code->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
		    !*text || *end || errno) {
			ev->code = 0;
			pw_buf_reset(err);
			pw_buf_puts(err, "Status: code: expected an integer");
			return -EINVAL;
		}
	}
	ev->reason = reason ? pw_xstrdup(reason) : NULL;
	ev->message = message ? pw_xstrdup(message) : NULL;
	return 0;
}

/*
 * On -EINVAL for an object that did not decode, type and resource_version
 * are still filled in when they could be read: the caller may move its
 * resourceVersion past the object it skips.
 */
int pw_watch_event_decode(const char *line, size_t len, enum pw_kind kind,
			  struct pw_watch_event *ev, struct pw_buf *err)
{
	yaml_node_t *root, *object;
	yaml_document_t doc;
	int ret = -EINVAL;

	memset(ev, 0, sizeof(*ev));
	if (json_load(line, len, "watch event", &doc, err) < 0)
		return -EINVAL;
	root = yaml_document_get_root_node(&doc);
	if (root->type != YAML_MAPPING_NODE) {
		pw_buf_reset(err);
		pw_buf_puts(err, "watch event: expected a JSON object");
		goto out;
	}
	if (event_type(&doc, root, &ev->type, err) < 0)
		goto out;
	object = pw_yaml_lookup(&doc, root, "object");
	if (!object || object->type != YAML_MAPPING_NODE) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s event: object: expected a JSON object",
			      event_types[ev->type]);
		goto out;
	}
	switch (ev->type) {
	case PW_WATCH_ERROR:
		ret = decode_status(&doc, object, ev, err);
		break;
	case PW_WATCH_BOOKMARK:
		/* The rest is a zero-valued object: nothing to validate. */
		if (object_rv(&doc, object, "BOOKMARK", &ev->resource_version, err) < 0)
			break;
		if (!ev->resource_version) {
			pw_buf_reset(err);
			pw_buf_puts(err, "BOOKMARK: metadata.resourceVersion: required");
			break;
		}
		ret = 0;
		break;
	default:
		/* A malformed resourceVersion fails the decode below anyway. */
		if (object_rv(&doc, object, pw_kind_name(kind), &ev->resource_version,
			      err) < 0)
			pw_buf_reset(err);
		ret = pw_decode_typed_object(&doc, object, kind, &ev->object, err);
		if (ret < 0)
			memset(&ev->object, 0, sizeof(ev->object));
		break;
	}
out:
	yaml_document_delete(&doc);
	if (ret < 0) {
		enum pw_watch_type type = ev->type;
		char *rv = ev->resource_version;

		ev->resource_version = NULL;
		pw_watch_event_clear(ev);
		ev->type = type;
		if (type != PW_WATCH_ERROR)
			ev->resource_version = rv;
		else
			free(rv);
	}
	return ret;
}

void pw_watch_event_clear(struct pw_watch_event *ev)
{
	if (!ev)
		return;
	pw_object_free(&ev->object);
	free(ev->resource_version);
	free(ev->reason);
	free(ev->message);
	memset(ev, 0, sizeof(*ev));
}

/* --------------------------------------------------------------- lists */

static const char *const list_kinds[] = {
	[PW_KIND_NAMESPACE] = "NamespaceList",
	[PW_KIND_POD] = "PodList",
	[PW_KIND_POLICY] = "NetworkPolicyList",
};

static int list_meta(yaml_document_t *doc, yaml_node_t *root, const char *what,
		     const char **rv, const char **cont, struct pw_buf *err)
{
	yaml_node_t *md = pw_yaml_lookup(doc, root, "metadata");

	*rv = *cont = NULL;
	if (is_json_null(md))
		return 0;
	if (md->type != YAML_MAPPING_NODE) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: metadata: expected a mapping", what);
		return -EINVAL;
	}
	if (get_string(doc, md, "resourceVersion", what, rv, err) < 0 ||
	    get_string(doc, md, "continue", what, cont, err) < 0)
		return -EINVAL;
	return 0;
}

int pw_list_decode(const char *body, size_t len, enum pw_kind kind,
		   void (*fn)(struct pw_object *obj, void *ctx),
		   void (*bad)(const char *why, void *ctx), void *ctx,
		   char **resource_version, char **continue_token, struct pw_buf *err)
{
	const char *what = list_kinds[kind], *list_kind, *rv, *cont;
	struct pw_buf why = PW_BUF_INIT;
	yaml_node_t *root, *items;
	yaml_node_item_t *item;
	yaml_document_t doc;
	int ret = -EINVAL;

	*resource_version = *continue_token = NULL;
	if (json_load(body, len, what, &doc, err) < 0)
		return -EINVAL;
	root = yaml_document_get_root_node(&doc);
	if (root->type != YAML_MAPPING_NODE) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: expected a JSON object", what);
		goto out;
	}
	if (get_string(&doc, root, "kind", what, &list_kind, err) < 0)
		goto out;
	if (list_kind && strcmp(list_kind, what) != 0) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: kind: found \"%.40s\"", what, list_kind);
		goto out;
	}
	if (list_meta(&doc, root, what, &rv, &cont, err) < 0)
		goto out;
	items = pw_yaml_lookup(&doc, root, "items");
	/* Go writes a nil slice as null. */
	if (!is_json_null(items) && items->type != YAML_SEQUENCE_NODE) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: items: expected a list", what);
		goto out;
	}
	for (item = is_json_null(items) ? NULL : items->data.sequence.items.start;
	     item && item < items->data.sequence.items.top; item++) {
		yaml_node_t *n = yaml_document_get_node(&doc, *item);
		struct pw_object obj;

		if (pw_decode_typed_object(&doc, n, kind, &obj, &why) < 0)
			bad(pw_buf_str(&why), ctx);
		else
			fn(&obj, ctx);
	}
	*resource_version = rv ? pw_xstrdup(rv) : NULL;
	/* An empty token means the last page, as an absent one does. */
	*continue_token = cont && *cont ? pw_xstrdup(cont) : NULL;
	ret = 0;
out:
	pw_buf_free(&why);
	yaml_document_delete(&doc);
	return ret;
}
