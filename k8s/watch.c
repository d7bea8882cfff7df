#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "k8s/compose.h"
#include "k8s/decode.h"
#include "k8s/watch.h"
#include "k8s/yaml_map.h"

/*
 * libyaml builds documents recursively; a hostile server could nest a
 * line deep enough to exhaust the stack. API objects stay far below this.
 * It counts the object's own levels (as the manifest loader does), so the
 * levels of the event or list around it come on top.
 */
#define JSON_MAX_DEPTH 1000
#define EVENT_LEVELS 1		/* {"object": */
#define LIST_LEVELS 2		/* {"items":[ */

/* Of a line too long, this much is kept: the object's name comes early. */
#define REFUSED_HEAD_MAX 4096

/* ------------------------------------------------------------ framer */

struct pw_line_framer {
	size_t max_line;
	struct pw_buf partial;		/* an unfinished line */
	struct pw_buf refused_head;	/* the start of the last line too long */
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
	pw_buf_free(&f->refused_head);
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

const char *pw_line_framer_refused_head(const struct pw_line_framer *f, size_t *len)
{
	*len = f->refused_head.len;
	return pw_buf_str(&f->refused_head);
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

/* Keeps the start of the line refused: the partial bytes, then data. */
static void keep_refused_head(struct pw_line_framer *f, const char *data, size_t n)
{
	size_t room = REFUSED_HEAD_MAX;

	pw_buf_reset(&f->refused_head);
	if (f->partial.len)
		pw_buf_add(&f->refused_head, f->partial.data,
			   f->partial.len < room ? f->partial.len : room);
	room -= f->refused_head.len;
	if (room && n)
		pw_buf_add(&f->refused_head, data, n < room ? n : room);
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
			keep_refused_head(f, data, n);
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
 * A line is rewritten, only where needed, so that what reads it (yajl
 * now; libyaml, which reads JSON as YAML, when this was written) takes it
 * as Go's decoder does, and so that each bad object can be refused alone:
 *  - inside strings, invalid UTF-8 becomes U+FFFD (as Go decodes it);
 *    characters libyaml refuses or reads as line breaks (DEL, C0 and C1
 *    controls, U+2028, U+2029, U+FFFE, U+FFFF) become \u escapes; a lone
 *    UTF-16 surrogate becomes U+FFFD; "\/" becomes "/";
 *  - outside strings a tab becomes a space;
 *  - a key longer than libyaml's 1024-character limit for implicit keys
 *    is replaced by a short one no field or label key can equal, and
 *    space between a key and its colon goes (libyaml drops a key whose
 *    colon is on the next line);
 *  - a value nested deeper than JSON_MAX_DEPTH is replaced by TOO_DEEP,
 *    so that libyaml 0.1, whose loader recurses once per level, keeps its
 *    stack, and the object holding it can still be named and refused.
 * One bad object is then refused alone, where a line or a list libyaml
 * cannot read at all would be lost whole.
 */
#define JSON_MAX_KEY 1000
/* The string TOO_DEEP reads as; it has a NUL, which no valid string has. */
#define TOO_DEEP_VALUE "\0podwall: nested too deep"
#define TOO_DEEP "\"\\u0000podwall: nested too deep\""

struct json_text {
	const char *in;
	size_t len;
	struct pw_buf out;	/* the rewritten text, when anything needed it */
	size_t done;		/* bytes of in before this are in out */
	unsigned too_deep;	/* values replaced by TOO_DEEP */
	bool unterminated;	/* the text ends inside one of them */
};

/* Replaces in[from, to) with repl (len bytes). */
static void json_replace(struct json_text *t, size_t from, size_t to, const char *repl,
			 size_t len)
{
	pw_buf_add(&t->out, t->in + t->done, from - t->done);
	pw_buf_add(&t->out, repl, len);
	t->done = to;
}

static void json_escape(struct json_text *t, size_t from, size_t to, unsigned long cp)
{
	char esc[16];

	if (cp > 0xffff)	/* JSON spells it as a surrogate pair */
		json_replace(t, from, to, esc, (size_t)snprintf(esc, sizeof(esc),
				"\\u%04lx\\u%04lx", 0xd800 + ((cp - 0x10000) >> 10),
				0xdc00 + ((cp - 0x10000) & 0x3ff)));
	else
		json_replace(t, from, to, esc, (size_t)snprintf(esc, sizeof(esc),
				"\\u%04lx", cp));
}

static int hex_value(const char *s, size_t n, unsigned long *out)
{
	size_t i;

	*out = 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		if (v < 0)
			return -1;
		*out = *out * 16 + (unsigned long)v;
	}
	return 0;
}

/*
 * The code point of the UTF-8 sequence at s (n bytes available) and its
 * length in *width; -1 (width 1) when it is not valid UTF-8: overlong,
 * a surrogate, past U+10FFFF or cut short.
 */
static long utf8_decode(const unsigned char *s, size_t n, size_t *width)
{
	static const unsigned long min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	unsigned long cp;
	size_t len, i;

	*width = 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return -1;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (len > n)
		return -1;
	cp = s[0] & (0x7f >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*width = len;
	return (long)cp;
}

/* What libyaml refuses in a scalar, or reads as a line break. */
static bool yaml_needs_escape(unsigned long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
		cp == 0xfffe || cp == 0xffff;
}

/* A \u escape at i (after the backslash): surrogates need rewriting. */
static size_t json_unicode_escape(struct json_text *t, size_t i)
{
	const char *in = t->in;
	unsigned long hi, lo;

	if (i + 5 > t->len || hex_value(in + i + 1, 4, &hi) < 0)
		return i + 1;	/* libyaml reports it */
	if (hi < 0xd800 || hi > 0xdfff)
		return i + 5;
	if (hi < 0xdc00 && i + 11 <= t->len && in[i + 5] == '\\' && in[i + 6] == 'u' &&
	    hex_value(in + i + 7, 4, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
		json_escape(t, i - 1, i + 11, 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00));
		return i + 11;
	}
	json_escape(t, i - 1, i + 5, 0xfffd);
	return i + 5;
}

/* The index after the string that opens at i (its closing quote). */
static size_t json_string_end(const char *in, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (in[i] == '\\')
			i++;
		else if (in[i] == '"')
			return i + 1;
	}
	return len;
}

/* Rewrites the string in[start, end) where libyaml would misread it. */
static void json_string(struct json_text *t, size_t start, size_t end)
{
	const unsigned char *in = (const unsigned char *)t->in;
	size_t i = start + 1, width;
	long cp;

	while (i < end) {
		unsigned char c = in[i];

		if (c == '"') {
			break;
		} else if (c == '\\') {
			if (i + 1 < end && in[i + 1] == '/') {
				json_replace(t, i, i + 2, "/", 1);
				i += 2;
			} else if (i + 1 < end && in[i + 1] == 'u') {
				i = json_unicode_escape(t, i + 1);
			} else {
				i += 2;
			}
		} else if (c < 0x20 || c == 0x7f) {
			json_escape(t, i, i + 1, c);
			i++;
		} else if (c < 0x80) {
			i++;
		} else {
			cp = utf8_decode(in + i, end - i, &width);
			if (cp < 0)
				json_escape(t, i, i + 1, 0xfffd);
			else if (yaml_needs_escape((unsigned long)cp))
				json_escape(t, i, i + width, (unsigned long)cp);
			i += width;
		}
	}
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/*
 * A key at in[start, end): rewritten as any string, then replaced if it
 * grew too long for libyaml, and glued to its colon (libyaml also drops a
 * key whose colon is on another line). Returns where to go on.
 */
static size_t json_key(struct json_text *t, size_t start, size_t end)
{
	size_t out_len = t->out.len, done = t->done, after = end;
	char repl[64];

	json_string(t, start, end);
	if (t->out.len + (end - t->done) - (out_len + (start - done)) > JSON_MAX_KEY) {
		t->out.len = out_len;
		t->done = done;
		json_replace(t, start, end, repl, (size_t)snprintf(repl, sizeof(repl),
			     "\"podwall: a key of %zu bytes at byte %zu\"", end - start,
			     start));
	}
	while (after < t->len && is_json_space(t->in[after]))
		after++;
	if (after == end || after == t->len || t->in[after] != ':')
		return end;
	json_replace(t, end, after, "", 0);
	return after;
}

/* The index after the value that opens with the bracket at i; 0 if it never ends. */
static size_t json_value_end(const char *in, size_t len, size_t i)
{
	size_t depth = 0;

	while (i < len) {
		char c = in[i];

		if (c == '"') {
			i = json_string_end(in, len, i);
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if ((c == '}' || c == ']') && --depth == 0)
			return i + 1;
		i++;
	}
	return 0;
}

/*
 * Readies text for libyaml as described above, cutting values deeper than
 * max_depth; t->out is the caller's to free.
 */
static void json_prepare(const char *text, size_t len, size_t max_depth,
			 struct json_text *t)
{
	char open[JSON_MAX_DEPTH + LIST_LEVELS];	/* '{' or '[' of each level */
	size_t depth = 0, i = 0, end;
	bool want_key = false;

	memset(t, 0, sizeof(*t));
	t->in = text;
	t->len = len;
	while (i < len) {
		char c = text[i];

		switch (c) {
		case '"':
			end = json_string_end(text, len, i);
			if (want_key)
				end = json_key(t, i, end);
			else
				json_string(t, i, end);
			want_key = false;
			i = end;
			continue;
		case '{':
		case '[':
			if (depth == max_depth) {
				end = json_value_end(text, len, i);
				if (!end) {
					t->unterminated = true;
					end = len;
				}
				json_replace(t, i, end, TOO_DEEP, sizeof(TOO_DEEP) - 1);
				t->too_deep++;
				want_key = false;
				i = end;
				continue;
			}
			open[depth++] = c;
			want_key = c == '{';
			break;
		case '}':
		case ']':
			depth -= depth > 0;
			want_key = false;
			break;
		case ',':
			want_key = depth > 0 && open[depth - 1] == '{';
			break;
		case ':':
			want_key = false;
			break;
		case '\t':
			json_replace(t, i, i + 1, " ", 1);
			break;
		default:
			break;
		}
		i++;
	}
	if (t->out.len || t->done) {
		pw_buf_add(&t->out, text + t->done, len - t->done);
		t->in = pw_buf_str(&t->out);
		t->len = t->out.len;
	}
}

static bool is_too_deep(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE &&
		n->data.scalar.length == sizeof(TOO_DEEP_VALUE) - 1 &&
		memcmp(n->data.scalar.value, TOO_DEEP_VALUE, sizeof(TOO_DEEP_VALUE) - 1) == 0;
}

/*
 * True when json_prepare() could change what yajl reads: a byte it may
 * rewrite (an escape, a control, DEL, any non-ASCII), a string long enough
 * to be a key it replaces, or nesting it cuts. Objects from the API server
 * are almost always plain ASCII, and one compare or two a byte here spares
 * them the rewrite's walk of every string.
 */
static bool needs_prepare(const char *text, size_t len, size_t depth, size_t max_depth)
{
	const unsigned char *p = (const unsigned char *)text, *end = p + len, *open = NULL;

	if (depth > max_depth)
		return true;
	for (; p < end; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '\\')
			return true;
		if (*p != '"')
			continue;
		if (!open)
			open = p;
		else if ((size_t)(p - open) > JSON_MAX_KEY)
			return true;
		else
			open = NULL;
	}
	return false;
}

/*
 * Parses one JSON text into doc, objects at around levels inside it; 0 or
 * -EINVAL with the reason in err. *too_deep counts the values cut for
 * being nested too deep.
 */
static int json_load(const char *text, size_t len, size_t around, const char *what,
		     yaml_document_t *doc, unsigned *too_deep, struct pw_buf *err)
{
	struct pw_buf why = PW_BUF_INIT;
	struct pw_composer *composer;
	enum pw_compose_unit unit;
	yaml_document_t extra;
	struct json_text t;
	size_t plain, depth, items;
	int ret = 0;

	/* Only in plain JSON does json_prepare() see every level libyaml will. */
	plain = pw_json_plain_length(text, len, &depth);
	if (plain < len) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: not valid JSON: unexpected byte at %zu", what, plain);
		return -EINVAL;
	}
	if (needs_prepare(text, len, depth, JSON_MAX_DEPTH + around)) {
		json_prepare(text, len, JSON_MAX_DEPTH + around, &t);
	} else {
		memset(&t, 0, sizeof(t));
		t.in = text;
		t.len = len;
	}
	*too_deep = t.too_deep;
	if (t.unterminated) {
		/* Nothing to read the object's name from: say why, not where. */
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: nested deeper than %d levels", what, JSON_MAX_DEPTH);
		pw_buf_free(&t.out);
		return -EINVAL;
	}
	/* yajl, several times faster than libyaml; the depth is bounded above. */
	composer = pw_composer_new_json((const unsigned char *)t.in, t.len, SIZE_MAX);
	pw_composer_keep_items(composer);
	unit = pw_composer_next(composer, doc, &items, &why);
	if (unit == PW_COMPOSE_DOCUMENT &&
	    pw_composer_next(composer, &extra, &items, &why) != PW_COMPOSE_END) {
		if (!why.len)
			pw_buf_puts(&why, "more than one value");
		yaml_document_delete(&extra);
		yaml_document_delete(doc);
		unit = PW_COMPOSE_ERROR;
	}
	if (unit == PW_COMPOSE_ERROR) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: not valid JSON: %s", what, pw_buf_str(&why));
		ret = -EINVAL;
	} else if (unit != PW_COMPOSE_DOCUMENT) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: empty", what);
		ret = -EINVAL;
	}
	pw_composer_free(composer);
	pw_buf_free(&why);
	pw_buf_free(&t.out);
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

/*
 * A key of the envelope given twice: libyaml keeps both, Go the last one,
 * and whichever we picked could be the wrong one.
 */
static int check_single(yaml_document_t *doc, const yaml_node_t *map,
			const char *const *keys, const char *what, struct pw_buf *err)
{
	yaml_node_pair_t *pair;

	for (; *keys; keys++) {
		size_t len = strlen(*keys);
		unsigned seen = 0;

		for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
		     pair++) {
			yaml_node_t *k = yaml_document_get_node(doc, pair->key);

			if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == len &&
			    memcmp(k->data.scalar.value, *keys, len) == 0 && ++seen > 1) {
				pw_buf_reset(err);
				pw_buf_printf(err, "%s: duplicate key \"%s\"", what, *keys);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* A string of metadata fit to be part of a key: no NUL, no '/'. */
static const char *key_part(yaml_document_t *doc, yaml_node_t *md, const char *key)
{
	yaml_node_t *n = pw_yaml_lookup(doc, md, key);
	const char *text;

	if (!is_json_string(n))
		return NULL;
	text = (const char *)n->data.scalar.value;
	return *text && !strchr(text, '/') ? text : NULL;
}

/*
 * "namespace/name" (a Namespace's name alone) of object, read from its
 * metadata however invalid the rest; NULL when they cannot be read.
 */
static char *object_key(yaml_document_t *doc, yaml_node_t *object, enum pw_kind kind)
{
	yaml_node_t *md = pw_yaml_lookup(doc, object, "metadata");
	const char *name = key_part(doc, md, "name"), *ns;

	if (kind == PW_KIND_NAMESPACE)
		return name ? pw_xstrdup(name) : NULL;
	ns = key_part(doc, md, "namespace");
	return name && ns ? pw_xasprintf("%s/%s", ns, name) : NULL;
}

/* Server text in a one-line message: control characters become '?'. */
static void put_printable(struct pw_buf *b, const char *text, size_t max)
{
	size_t i;

	for (i = 0; text[i] && i < max; i++)
		pw_buf_putc(b, (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? '?' : text[i]);
	if (text[i])
		pw_buf_puts(b, "...");
}

/* "<Kind> <key>: ", the key made printable, to start a message. */
static void object_error(enum pw_kind kind, const char *key, struct pw_buf *err)
{
	pw_buf_reset(err);
	pw_buf_printf(err, "%s ", pw_kind_name(kind));
	put_printable(err, key ? key : "<unnamed>", 600);
	pw_buf_puts(err, ": ");
}

static void too_deep_error(enum pw_kind kind, const char *key, struct pw_buf *err)
{
	object_error(kind, key, err);
	pw_buf_printf(err, "nested deeper than %d levels", JSON_MAX_DEPTH);
}

static bool token_is(const char *s, size_t len, const char *word)
{
	return s && len == strlen(word) && memcmp(s, word, len) == 0;
}

/*
 * The key of the object at the start of an event line cut anywhere, from a
 * plain scan: for a line too long to parse. NULL when not found.
 */
char *pw_watch_event_peek_key(const char *text, size_t len, enum pw_kind kind)
{
	/* The path event (1), object (2), metadata (3) is open down to "at". */
	size_t i = 0, depth = 0, at = 0, key_len = 0, name_len = 0, ns_len = 0, end;
	const char *key = NULL, *name = NULL, *ns = NULL, *str;
	bool want_key = false;

	while (i < len) {
		char c = text[i];

		if (c == '"') {
			end = json_string_end(text, len, i);
			if (end - i < 2 || text[end - 1] != '"')
				break;	/* cut inside the string */
			str = text + i + 1;
			if (want_key) {
				key = str;
				key_len = end - i - 2;
			} else if (depth == 3 && at == 3 && !memchr(str, '\\', end - i - 2)) {
				if (token_is(key, key_len, "name")) {
					name = str;
					name_len = end - i - 2;
				} else if (token_is(key, key_len, "namespace")) {
					ns = str;
					ns_len = end - i - 2;
				}
			}
			want_key = false;
			i = end;
			continue;
		}
		if (c == '{' || c == '[') {
			if (c == '{' && depth == at &&
			    (depth == 0 || (depth == 1 && token_is(key, key_len, "object")) ||
			     (depth == 2 && token_is(key, key_len, "metadata"))))
				at = depth + 1;
			depth++;
			want_key = c == '{';
			key = NULL;
		} else if (c == '}' || c == ']') {
			if (depth == 3 && at == 3)
				break;	/* the end of metadata */
			if (depth == at && at)
				at--;
			depth -= depth > 0;
		} else if (c == ',') {
			want_key = true;
		} else if (c == ':') {
			want_key = false;
		}
		i++;
	}
	if (!name_len || memchr(name, '/', name_len))
		return NULL;
	if (kind == PW_KIND_NAMESPACE)
		return pw_xstrndup(name, name_len);
	if (!ns_len || memchr(ns, '/', ns_len))
		return NULL;
	return pw_xasprintf("%.*s/%.*s", (int)ns_len, ns, (int)name_len, name);
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
	if (!text) {
		pw_buf_puts(err, "watch event: type: required");
	} else {
		pw_buf_puts(err, "watch event: unknown type \"");
		put_printable(err, text, 40);
		pw_buf_putc(err, '"');
	}
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

/*
 * Whether a BOOKMARK ends a watch-list's initial events: its annotation
 * k8s.io/initial-events-end is "true". Anything else, malformed included,
 * is an ordinary bookmark, which moves the resourceVersion on and no more.
 */
static bool initial_events_end(yaml_document_t *doc, yaml_node_t *object)
{
	yaml_node_t *md = pw_yaml_lookup(doc, object, "metadata");
	yaml_node_t *notes = md && md->type == YAML_MAPPING_NODE ?
		pw_yaml_lookup(doc, md, "annotations") : NULL;
	yaml_node_t *end = notes && notes->type == YAML_MAPPING_NODE ?
		pw_yaml_lookup(doc, notes, "k8s.io/initial-events-end") : NULL;

	return is_json_string(end) && strcmp((const char *)end->data.scalar.value, "true") == 0;
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
 * On -EINVAL for an object that did not decode, type, resource_version and
 * key are still filled in when they could be read: the caller may move its
 * resourceVersion past the object it skips, and knows which one it was.
 */
int pw_watch_event_decode(const char *line, size_t len, enum pw_kind kind,
			  struct pw_watch_event *ev, struct pw_buf *err)
{
	static const char *const single[] = { "type", "object", NULL };
	yaml_node_t *root, *object;
	yaml_document_t doc;
	unsigned too_deep;
	int ret = -EINVAL;

	memset(ev, 0, sizeof(*ev));
	if (json_load(line, len, EVENT_LEVELS, "watch event", &doc, &too_deep, err) < 0)
		return -EINVAL;
	root = yaml_document_get_root_node(&doc);
	if (root->type != YAML_MAPPING_NODE) {
		pw_buf_reset(err);
		pw_buf_puts(err, "watch event: expected a JSON object");
		goto out;
	}
	if (check_single(&doc, root, single, "watch event", err) < 0 ||
	    event_type(&doc, root, &ev->type, err) < 0)
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
		ev->initial_events_end = initial_events_end(&doc, object);
		ret = 0;
		break;
	default:
		/* A malformed resourceVersion fails the decode below anyway. */
		if (object_rv(&doc, object, pw_kind_name(kind), &ev->resource_version,
			      err) < 0)
			pw_buf_reset(err);
		if (too_deep)
			too_deep_error(kind, ev->key = object_key(&doc, object, kind), err);
		else
			ret = pw_decode_typed_object(&doc, object, kind, &ev->object, err);
		if (ret < 0) {
			memset(&ev->object, 0, sizeof(ev->object));
			if (!ev->key)
				ev->key = object_key(&doc, object, kind);
			if (kind == PW_KIND_POLICY && ev->type != PW_WATCH_DELETED &&
			    pw_decode_policy_isolation(&doc, object, &ev->isolation) < 0)
				memset(&ev->isolation, 0, sizeof(ev->isolation));
		}
		break;
	}
out:
	yaml_document_delete(&doc);
	if (ret < 0) {
		enum pw_watch_type type = ev->type;
		char *rv = ev->resource_version, *key = ev->key;
		struct pw_object isolation = ev->isolation;

		ev->resource_version = ev->key = NULL;
		memset(&ev->isolation, 0, sizeof(ev->isolation));
		pw_watch_event_clear(ev);
		ev->type = type;
		ev->key = key;
		ev->isolation = isolation;
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
	pw_object_free(&ev->isolation);
	free(ev->resource_version);
	free(ev->key);
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
	static const char *const single[] = { "resourceVersion", "continue", NULL };
	yaml_node_t *md = pw_yaml_lookup(doc, root, "metadata");

	*rv = *cont = NULL;
	if (is_json_null(md))
		return 0;
	if (md->type != YAML_MAPPING_NODE) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: metadata: expected a mapping", what);
		return -EINVAL;
	}
	if (check_single(doc, md, single, what, err) < 0 ||
	    get_string(doc, md, "resourceVersion", what, rv, err) < 0 ||
	    get_string(doc, md, "continue", what, cont, err) < 0)
		return -EINVAL;
	return 0;
}

/*
 * Node ids are handed out in document order, so without aliases the nodes
 * of one item are those from its id to the next item's: an item holds a
 * TOO_DEEP value when one of the (ascending) ids in deep falls in there.
 */
struct deep_items {
	int *ids;		/* of the TOO_DEEP values */
	size_t n, cap, next;
	int end;		/* the first id after the last item */
};

static void find_too_deep(yaml_document_t *doc, const yaml_node_t *root, int items_id,
			  struct deep_items *deep)
{
	int count = (int)(doc->nodes.top - doc->nodes.start), id;
	yaml_node_pair_t *pair;

	for (id = 1; id <= count; id++) {
		if (is_too_deep(yaml_document_get_node(doc, id))) {
			PW_GROW(deep->ids, deep->cap, deep->n + 1);
			deep->ids[deep->n++] = id;
		}
	}
	deep->end = count + 1;
	for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++)
		if (pair->key > items_id && pair->key < deep->end)
			deep->end = pair->key;
}

static bool item_too_deep(struct deep_items *deep, int id, int next_id)
{
	int end = next_id > id ? next_id : deep->end;
	size_t i;

	for (i = 0; i < deep->n; i++)
		if (deep->ids[i] >= id && deep->ids[i] < end)
			return true;
	return false;
}

/* pw_list_decode's callbacks, for pw_list_decode_keyed. */
struct unkeyed {
	void (*fn)(struct pw_object *obj, void *ctx);
	void (*bad)(const char *why, void *ctx);
	void *ctx;
};

static void pass_item(struct pw_object *obj, void *ctx)
{
	struct unkeyed *u = ctx;

	u->fn(obj, u->ctx);
}

static void drop_key(const char *key, const char *why, struct pw_object *isolation,
		     void *ctx)
{
	struct unkeyed *u = ctx;

	if (isolation)
		pw_object_free(isolation);
	u->bad(why, u->ctx);
}

int pw_list_decode(const char *body, size_t len, enum pw_kind kind,
		   void (*fn)(struct pw_object *obj, void *ctx),
		   void (*bad)(const char *why, void *ctx), void *ctx,
		   char **resource_version, char **continue_token, struct pw_buf *err)
{
	struct unkeyed u = { fn, bad, ctx };

	return pw_list_decode_keyed(body, len, kind, pass_item, drop_key, &u,
				    resource_version, continue_token, err);
}

int pw_list_decode_keyed(const char *body, size_t len, enum pw_kind kind,
			 void (*fn)(struct pw_object *obj, void *ctx),
			 void (*refused)(const char *key, const char *why,
					 struct pw_object *isolation, void *ctx),
			 void *ctx, char **resource_version, char **continue_token,
			 struct pw_buf *err)
{
	static const char *const single[] = { "kind", "metadata", "items", NULL };
	const char *what = list_kinds[kind], *list_kind, *rv, *cont;
	struct deep_items deep = { NULL, 0, 0, 0, 0 };
	struct pw_buf why = PW_BUF_INIT;
	yaml_node_t *root, *items;
	yaml_node_item_t *item;
	yaml_document_t doc;
	unsigned too_deep;
	int ret = -EINVAL;

	*resource_version = *continue_token = NULL;
	if (json_load(body, len, LIST_LEVELS, what, &doc, &too_deep, err) < 0)
		return -EINVAL;
	root = yaml_document_get_root_node(&doc);
	if (root->type != YAML_MAPPING_NODE) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: expected a JSON object", what);
		goto out;
	}
	if (check_single(&doc, root, single, what, err) < 0 ||
	    get_string(&doc, root, "kind", what, &list_kind, err) < 0)
		goto out;
	if (list_kind && strcmp(list_kind, what) != 0) {
		pw_buf_reset(err);
		pw_buf_printf(err, "%s: kind: found \"", what);
		put_printable(err, list_kind, 40);
		pw_buf_putc(err, '"');
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
	if (too_deep && !is_json_null(items))
		find_too_deep(&doc, root, (int)(items - doc.nodes.start) + 1, &deep);
	for (item = is_json_null(items) ? NULL : items->data.sequence.items.start;
	     item && item < items->data.sequence.items.top; item++) {
		yaml_node_t *n = yaml_document_get_node(&doc, *item);
		int next = item + 1 < items->data.sequence.items.top ? item[1] : 0;
		struct pw_object obj, isolation;
		char *key;

		if (deep.n && item_too_deep(&deep, *item, next)) {
			key = object_key(&doc, n, kind);
			too_deep_error(kind, key, &why);
		} else if (pw_decode_typed_object(&doc, n, kind, &obj, &why) < 0) {
			key = object_key(&doc, n, kind);
		} else {
			fn(&obj, ctx);
			continue;
		}
		if (kind != PW_KIND_POLICY ||
		    pw_decode_policy_isolation(&doc, n, &isolation) < 0)
			memset(&isolation, 0, sizeof(isolation));
		refused(key, pw_buf_str(&why), isolation.u.policy ? &isolation : NULL, ctx);
		free(key);
	}
	*resource_version = rv ? pw_xstrdup(rv) : NULL;
	/* An empty token means the last page, as an absent one does. */
	*continue_token = cont && *cont ? pw_xstrdup(cont) : NULL;
	ret = 0;
out:
	free(deep.ids);
	pw_buf_free(&why);
	yaml_document_delete(&doc);
	return ret;
}
