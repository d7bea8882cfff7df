#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <unistd.h>
#include <yaml.h>

#include "k8s/compose.h"
#include "k8s/decode.h"
#include "k8s/manifest.h"
#include "k8s/yaml_map.h"
#include "lib/file.h"

/* Enough for a dump of a large cluster; /dev/zero must not exhaust memory. */
#define MANIFEST_MAX_BYTES (256u << 20)

/*
 * libyaml 0.1's loader recurses once per nesting level, so an attacker's
 * thousands of "[" would overflow the stack; real objects are far shallower.
 */
#define MANIFEST_MAX_DEPTH 1000

/*
 * Aliases make a small document a large tree ("billion laughs"); a List
 * of aliased items would be decoded once per alias. Honest documents use
 * few aliases, so the expanded tree may be this many times the document.
 */
#define MANIFEST_EXPANSION 8
#define MANIFEST_EXPANSION_EXTRA 4096

struct loader {
	pw_manifest_fn fn;
	void *ctx;
	struct pw_buf *errors;
	struct pw_buf *notices;
	const char *path;		/* of the file being read */
	int nerrors;
};

static void add_line(struct pw_buf *b, const char *where, const char *fmt, va_list ap)
{
	pw_buf_puts(b, where);
	pw_buf_puts(b, ": ");
	pw_buf_vprintf(b, fmt, ap);
	pw_buf_putc(b, '\n');
}

static void error_at(struct loader *l, const char *where, const char *fmt, ...)
	PW_PRINTF(3, 4);

static void error_at(struct loader *l, const char *where, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	add_line(l->errors, where, fmt, ap);
	va_end(ap);
	l->nerrors++;
}

static void notice_at(struct loader *l, const char *where, const char *text)
{
	pw_buf_printf(l->notices, "%s: %s\n", where, text);
}

/* ------------------------------------------------------------ objects */

static void hand_over(struct loader *l, struct pw_object *obj, const char *where)
{
	struct pw_buf what = PW_BUF_INIT;
	int ret;

	if (!l->fn) {
		pw_object_free(obj);
		return;
	}
	/* Named now: once handed over, obj may be gone. */
	pw_object_title(obj, &what);
	ret = l->fn(obj, where, l->ctx);
	if (ret)
		error_at(l, where, "%s: not accepted: %s", pw_buf_str(&what),
			 ret < 0 ? strerror(-ret) : "refused");
	pw_buf_free(&what);
}

/* What decoding one object gave, to be told now or, for an item, later. */
struct decoded {
	enum pw_decode_result result;
	struct pw_object obj;
	char *where;
	char *msg;
};

static void report(struct loader *l, struct decoded *d)
{
	switch (d->result) {
	case PW_DECODE_OK:
		hand_over(l, &d->obj, d->where);
		break;
	case PW_DECODE_SKIPPED:
		notice_at(l, d->where, d->msg);
		break;
	case PW_DECODE_ERROR:
		error_at(l, d->where, "%s", d->msg);
		break;
	}
}

static void decode_into(yaml_document_t *doc, yaml_node_t *node, const char *where,
			struct decoded *d)
{
	struct pw_buf msg = PW_BUF_INIT;

	memset(d, 0, sizeof(*d));
	d->result = pw_decode_object(doc, node, "default", &d->obj, &msg);
	d->where = pw_xstrdup(where);
	d->msg = pw_buf_steal(&msg);
}

static void decoded_free(struct decoded *d)
{
	if (d->result == PW_DECODE_OK)
		pw_object_free(&d->obj);
	free(d->where);
	free(d->msg);
}

static void decode_one(struct loader *l, yaml_document_t *doc, yaml_node_t *node,
		       const char *where)
{
	struct decoded d;

	decode_into(doc, node, where, &d);
	report(l, &d);
	d.result = PW_DECODE_SKIPPED;	/* handed over: no longer ours to free */
	decoded_free(&d);
}

/*
 * The items of a document's "items" list, decoded as they were read; told
 * only once the document has ended and turned out to be a List.
 */
struct item_queue {
	struct decoded *items;
	size_t count;
	size_t cap;
};

static void queue_clear(struct item_queue *q)
{
	size_t i;

	for (i = 0; i < q->count; i++)
		decoded_free(&q->items[i]);
	q->count = 0;
}

/* ---------------------------------------------------------- documents */

static bool is_null_scalar(const yaml_node_t *n)
{
	static const char *const words[] = { "", "~", "null", "Null", "NULL" };
	size_t i;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (i = 0; i < PW_ARRAY_SIZE(words); i++)
		if (strcmp((const char *)n->data.scalar.value, words[i]) == 0)
			return true;
	return false;
}

static bool scalar_is(const yaml_node_t *n, const char *text)
{
	return n && n->type == YAML_SCALAR_NODE &&
		strcmp((const char *)n->data.scalar.value, text) == 0;
}

/* kubectl's "kind: List": each item is an object of its own. */
static void load_list(struct loader *l, yaml_document_t *doc, yaml_node_t *root,
		      const char *where, struct item_queue *streamed)
{
	yaml_node_t *items = pw_yaml_lookup(doc, root, "items");
	struct pw_buf item_where = PW_BUF_INIT;
	yaml_node_item_t *item;
	size_t i = 0;

	if (!scalar_is(pw_yaml_lookup(doc, root, "apiVersion"), "v1")) {
		error_at(l, where, "List: apiVersion: must be \"v1\"");
		return;
	}
	for (i = 0; i < streamed->count; i++) {
		report(l, &streamed->items[i]);
		streamed->items[i].result = PW_DECODE_SKIPPED;	/* handed over */
	}
	i = 0;
	if (!items || is_null_scalar(items))
		return;
	if (items->type != YAML_SEQUENCE_NODE) {
		error_at(l, where, "List: items: expected a list");
		return;
	}
	for (item = items->data.sequence.items.start;
	     item < items->data.sequence.items.top; item++, i++) {
		pw_buf_reset(&item_where);
		pw_buf_printf(&item_where, "%s: item %zu", where, i);
		decode_one(l, doc, yaml_document_get_node(doc, *item),
			   pw_buf_str(&item_where));
	}
	pw_buf_free(&item_where);
}

static void push_node(int **stack, size_t *cap, size_t *top, int id)
{
	PW_GROW(*stack, *cap, *top + 1);
	(*stack)[(*top)++] = id;
}

static void push_children(int **stack, size_t *cap, size_t *top, const yaml_node_t *n)
{
	yaml_node_item_t *item;
	yaml_node_pair_t *pair;

	if (n->type == YAML_SEQUENCE_NODE) {
		for (item = n->data.sequence.items.start;
		     item < n->data.sequence.items.top; item++)
			push_node(stack, cap, top, *item);
	} else if (n->type == YAML_MAPPING_NODE) {
		for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
		     pair++) {
			push_node(stack, cap, top, pair->key);
			push_node(stack, cap, top, pair->value);
		}
	}
}

/*
 * True when the tree, aliases expanded, has more than limit nodes. Walks
 * with a stack of its own and stops at the limit, so that neither depth
 * nor cycles (an alias inside its own anchor) matter.
 */
static bool expands_beyond(yaml_document_t *doc, size_t limit)
{
	size_t cap = 0, top = 0, count = 0;
	int *stack = NULL;

	push_node(&stack, &cap, &top, 1);
	while (top && count <= limit) {
		yaml_node_t *n = yaml_document_get_node(doc, stack[--top]);

		count++;
		if (n)
			push_children(&stack, &cap, &top, n);
	}
	free(stack);
	return count > limit;
}

static void load_document(struct loader *l, yaml_document_t *doc, size_t n,
			  bool anchors, struct item_queue *streamed)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	size_t nodes = (size_t)(doc->nodes.top - doc->nodes.start);
	size_t limit = MANIFEST_EXPANSION * nodes + MANIFEST_EXPANSION_EXTRA;
	struct pw_buf where = PW_BUF_INIT;

	/* A trailing "---" or a document of comments only. */
	if (is_null_scalar(root))
		return;
	pw_buf_printf(&where, "%s: document %zu", l->path, n);
	if (anchors && expands_beyond(doc, limit))
		error_at(l, pw_buf_str(&where), "aliases expand to more than %zu nodes",
			 limit);
	else if (scalar_is(pw_yaml_lookup(doc, root, "kind"), "List"))
		load_list(l, doc, root, pw_buf_str(&where), streamed);
	else
		decode_one(l, doc, root, pw_buf_str(&where));
	pw_buf_free(&where);
}

/* ------------------------------------------------------------ streams */

static void offset_to_mark(const unsigned char *data, size_t len, size_t offset,
			   size_t *line, size_t *column)
{
	size_t i, start = 0;

	*line = 1;
	for (i = 0; i < offset && i < len; i++) {
		if (data[i] == '\n') {
			(*line)++;
			start = i + 1;
		}
	}
	*column = i - start + 1;
}

static void syntax_error(struct loader *l, const yaml_parser_t *p,
			 const unsigned char *data, size_t len)
{
	const char *problem = p->problem ? p->problem : "cannot parse";
	struct pw_buf msg = PW_BUF_INIT;
	size_t line, column;

	if (p->error == YAML_MEMORY_ERROR)
		problem = "out of memory";
	if (p->error == YAML_READER_ERROR) {
		/* The reader knows a byte offset, not a mark. */
		offset_to_mark(data, len, p->problem_offset, &line, &column);
		pw_buf_printf(&msg, "line %zu column %zu: %s", line, column, problem);
		if (p->problem_value != -1)
			pw_buf_printf(&msg, " (#%X)", (unsigned)p->problem_value);
	} else {
		pw_buf_printf(&msg, "line %zu column %zu: %s", p->problem_mark.line + 1,
			      p->problem_mark.column + 1, problem);
		if (p->context)
			pw_buf_printf(&msg, " (%s at line %zu column %zu)",
				      p->context, p->context_mark.line + 1,
				      p->context_mark.column + 1);
	}
	error_at(l, l->path, "%s", pw_buf_str(&msg));
	pw_buf_free(&msg);
}

struct too_deep {
	size_t document;		/* 1-based; 0 when nothing is too deep */
	yaml_mark_t mark;
};

/* Finds the first document nested beyond MANIFEST_MAX_DEPTH with events only. */
static void find_too_deep(const unsigned char *data, size_t len, struct too_deep *out)
{
	size_t depth = 0, document = 0;
	yaml_parser_t parser;
	yaml_event_t event;
	bool done = false;

	memset(out, 0, sizeof(*out));
	if (!yaml_parser_initialize(&parser))
		return;
	yaml_parser_set_input_string(&parser, data, len);
	/* A syntax error ends the scan; the loader reports it in its turn. */
	while (!done && yaml_parser_parse(&parser, &event)) {
		switch (event.type) {
		case YAML_DOCUMENT_START_EVENT:
			document++;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++depth > MANIFEST_MAX_DEPTH) {
				out->document = document;
				out->mark = event.start_mark;
				done = true;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&event);
	}
	yaml_parser_delete(&parser);
}

/* The length of the line break libyaml sees at s (n bytes), or 0. */
static size_t line_break(const unsigned char *s, size_t n)
{
	if (s[0] == '\n' || s[0] == '\r')
		return 1;
	if (s[0] == 0xc2 && n >= 2 && s[1] == 0x85)		/* NEL */
		return 2;
	if (s[0] == 0xe2 && n >= 3 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
		return 3;					/* LS, PS */
	return 0;
}

/*
 * The bytes depth_bound() must look at past a line's indentation; every
 * other byte leaves its counts alone, and manifests are mostly such bytes,
 * so it skips them at a table look-up each (a 90 MB stream was a quarter
 * of a second of one core before).
 */
static const unsigned char depth_byte[256] = {
	['\n'] = 1, ['\r'] = 1, [0xc2] = 1, [0xe2] = 1,
	['"'] = 1, ['\''] = 1, ['#'] = 1, ['!'] = 1,
	['['] = 1, ['{'] = 1, [']'] = 1, ['}'] = 1,
	['-'] = 1, [':'] = 1, ['?'] = 1,
};

/*
 * An upper bound on how deep data can nest, from its bytes alone. Block
 * nesting needs more indentation or another "- " or ": " on the line, flow
 * nesting a bracket; so indentation plus indicators, plus open brackets,
 * bounds the depth. Cheap next to a parse, it lets ordinary manifests skip
 * the exact (event by event) scan.
 *
 * No byte may be taken for text on a guess: a quote inside a plain scalar
 * ("it's") opens nothing, and skipping from it would hide real brackets.
 * So everything is counted, and a closing bracket takes back only an open
 * one with no quote, '#' or '!' since: with none of those, either both are
 * text or both are structure. A flow key or quoted key may end a line's
 * indicators, so the first bracket of a line counts one more level. Lines
 * end at every break libyaml knows; UTF-16 (a BOM) gets the exact scan.
 * Plain JSON, where every quote is sure to open a string, is measured
 * exactly instead.
 */
static size_t depth_bound(const unsigned char *data, size_t len)
{
	size_t i, brk, flow = 0, flow_max = 0, closable = 0, block = 0, block_max = 0;
	bool line_start = true, in_block = true;

	if (pw_json_plain_length((const char *)data, len, &i) == len)
		return i;
	if (len >= 2 && ((data[0] == 0xff && data[1] == 0xfe) ||
			 (data[0] == 0xfe && data[1] == 0xff)))
		return SIZE_MAX;
	for (i = 0; i < len; i++) {
		unsigned char c;

		if (line_start) {
			size_t from = i;

			while (i < len && (data[i] == ' ' || data[i] == '\t'))
				i++;
			block += i - from;
			if (block > block_max)
				block_max = block;
		} else {
			while (i < len && !depth_byte[data[i]])
				i++;
		}
		if (i == len)
			break;
		c = data[i];
		brk = line_break(data + i, len - i);
		if (brk) {
			i += brk - 1;
			line_start = in_block = true;
			block = 0;
			continue;
		}
		line_start = false;
		if (c == '"' || c == '\'' || c == '#' || c == '!') {
			closable = 0;
		} else if (c == '[' || c == '{') {
			block += in_block;
			in_block = false;
			closable++;
			if (++flow > flow_max)
				flow_max = flow;
		} else if ((c == ']' || c == '}') && closable) {
			closable--;
			flow--;
		} else if (in_block && (c == '-' || c == ':' || c == '?')) {
			block++;
		}
		if (block > block_max)
			block_max = block;
	}
	return block_max + flow_max + 1;
}

/* An item of document n, decoded now and kept until the document ends. */
static void queue_item(struct item_queue *q, yaml_document_t *doc, const char *path,
		       size_t n, size_t index, bool anchors)
{
	size_t nodes = (size_t)(doc->nodes.top - doc->nodes.start);
	size_t limit = MANIFEST_EXPANSION * nodes + MANIFEST_EXPANSION_EXTRA;
	struct pw_buf where = PW_BUF_INIT;
	struct decoded *d;

	PW_GROW(q->items, q->cap, q->count + 1);
	d = &q->items[q->count++];
	pw_buf_printf(&where, "%s: document %zu: item %zu", path, n, index);
	if (anchors && expands_beyond(doc, limit)) {
		memset(d, 0, sizeof(*d));
		d->result = PW_DECODE_ERROR;
		d->where = pw_buf_steal(&where);
		d->msg = pw_xasprintf("aliases expand to more than %zu nodes", limit);
	} else {
		decode_into(doc, yaml_document_get_root_node(doc), pw_buf_str(&where), d);
	}
	pw_buf_free(&where);
}

/*
 * Reads data as a stream of documents; *documents is how many there were.
 * False when it stopped early, as libyaml does at a syntax error.
 */
static bool read_stream(struct loader *l, const unsigned char *data, size_t len,
			size_t *documents)
{
	struct item_queue streamed = { NULL, 0, 0 };
	bool complete = false;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_composer *composer;
	enum pw_compose_unit unit;
	yaml_parser_t parser;
	yaml_document_t doc;
	struct too_deep deep;
	size_t n, index;
	/* JSON is read by yajl, which also bounds the depth as it goes. */
	bool json = l->path && pw_str_has_suffix(l->path, ".json");

	memset(&deep, 0, sizeof(deep));
	if (!json && depth_bound(data, len) > MANIFEST_MAX_DEPTH)
		find_too_deep(data, len, &deep);
	*documents = 0;
	if (!yaml_parser_initialize(&parser)) {
		error_at(l, l->path, "cannot initialise the YAML parser");
		return false;
	}
	yaml_parser_set_input_string(&parser, data, len);
	composer = json ? pw_composer_new_json(data, len, MANIFEST_MAX_DEPTH) :
			  pw_composer_new(&parser);
	for (n = 1;;) {
		if (n == deep.document) {
			error_at(l, l->path,
				 "line %zu column %zu: nested deeper than %d levels",
				 deep.mark.line + 1, deep.mark.column + 1,
				 MANIFEST_MAX_DEPTH);
			break;
		}
		unit = pw_composer_next(composer, &doc, &index, &err);
		if (unit == PW_COMPOSE_END) {
			complete = true;
			break;
		}
		/* libyaml cannot go on after an error: the rest of the file is lost. */
		if (unit == PW_COMPOSE_ERROR) {
			if (err.len)
				error_at(l, l->path, "%s", pw_buf_str(&err));
			else
				syntax_error(l, &parser, data, len);
			break;
		}
		if (unit == PW_COMPOSE_ITEM) {
			queue_item(&streamed, &doc, l->path, n, index,
				   pw_composer_gave_anchors(composer, unit));
		} else {
			load_document(l, &doc, n, pw_composer_gave_anchors(composer, unit),
				      &streamed);
			queue_clear(&streamed);
			n++;
		}
		yaml_document_delete(&doc);
	}
	queue_clear(&streamed);
	free(streamed.items);
	pw_composer_free(composer);
	pw_buf_free(&err);
	yaml_parser_delete(&parser);
	*documents = n - 1;
	return complete;
}

/*
 * libyaml reads some 15 MB/s on one core. A large stream of documents is
 * cut into pieces at document starts, and the pieces are read by as many
 * threads as there are processors, this one among them, each piece's
 * objects and messages held. This thread tells them in the stream's order
 * as soon as each piece is read, their document and line numbers moved on
 * by the pieces before, and drops what follows a piece that stopped at an
 * error, as one reader would have stopped there. With many more pieces
 * than threads, the thread that also hands every object over simply reads
 * fewer pieces, and none waits long for another's last one.
 */
#define SPLIT_MIN_BYTES (256 * 1024)
#define PIECE_MIN_BYTES (32 * 1024)
#define PIECES_PER_READER 8
#define MAX_READERS 4

struct held_object {
	struct pw_object obj;
	char *where;
};

struct piece {
	struct loader l;
	const unsigned char *data;
	size_t len;
	struct pw_buf errors;
	struct pw_buf notices;
	struct held_object *objs;
	size_t nobjs;
	size_t cap;
	size_t documents;
	bool complete;
	bool read;
};

struct pieces {
	pthread_mutex_t lock;
	pthread_cond_t one_read;
	struct piece *piece;
	size_t count;
	size_t next;			/* the first piece no reader has taken */
	bool stopped;			/* a piece ended at an error: no more are needed */
};

static int hold_object(struct pw_object *obj, const char *where, void *ctx)
{
	struct piece *p = ctx;

	PW_GROW(p->objs, p->cap, p->nobjs + 1);
	p->objs[p->nobjs].obj = *obj;
	p->objs[p->nobjs].where = pw_xstrdup(where);
	p->nobjs++;
	return 0;
}

/* The next piece to read, or SIZE_MAX; ps->lock held. */
static size_t claim(struct pieces *ps)
{
	if (ps->stopped || ps->next == ps->count)
		return SIZE_MAX;
	return ps->next++;
}

/* Reads piece i; ps->lock not held. */
static void read_piece(struct pieces *ps, size_t i)
{
	struct piece *p = &ps->piece[i];
	bool complete = read_stream(&p->l, p->data, p->len, &p->documents);

	pthread_mutex_lock(&ps->lock);
	p->complete = complete;
	p->read = true;
	/* Pieces are taken in order, so those not taken yet all come after. */
	if (!complete)
		ps->stopped = true;
	pthread_cond_broadcast(&ps->one_read);
	pthread_mutex_unlock(&ps->lock);
}

static void *reader(void *arg)
{
	struct pieces *ps = arg;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&ps->lock);
		i = claim(ps);
		pthread_mutex_unlock(&ps->lock);
		if (i == SIZE_MAX)
			return NULL;
		read_piece(ps, i);
	}
}

/*
 * A line break libyaml counts that '\n' does not (CR alone, NEL, LS, PS), or
 * a directive. Each is looked for with memchr(), which skips ordinary text
 * many bytes at a time.
 */
static bool odd_line_or_directive(const unsigned char *data, size_t len)
{
	const unsigned char *end = data + len, *p;

	for (p = data; (p = memchr(p, '\r', (size_t)(end - p))) != NULL; p++)
		if (p + 1 == end || p[1] != '\n')
			return true;
	for (p = data; (p = memchr(p, 0xc2, (size_t)(end - p))) != NULL; p++)
		if (p + 1 < end && p[1] == 0x85)
			return true;
	for (p = data; (p = memchr(p, 0xe2, (size_t)(end - p))) != NULL; p++)
		if (p + 2 < end && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
			return true;
	for (p = data; (p = memchr(p, '%', (size_t)(end - p))) != NULL; p++)
		if (p == data || p[-1] == '\n')
			return true;
	return false;
}

static size_t count_lines(const unsigned char *data, size_t len)
{
	const unsigned char *end = data + len, *p;
	size_t lines = 0;

	for (p = data; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
		lines++;
	return lines;
}

static bool document_start(const unsigned char *p, const unsigned char *end)
{
	return end - p >= 3 && memcmp(p, "---", 3) == 0 &&
	       (end - p == 3 || p[3] == ' ' || p[3] == '\t' || p[3] == '\n' || p[3] == '\r');
}

/*
 * Cuts data into at most max pieces, each starting at a "---" at the start
 * of a line, the first one at or past where an even cut would fall, and
 * stores their starts in at[]. Returns how many pieces (1: read it whole,
 * as for data that is small, UTF-16, with directives, which belong to the
 * document after them, or with line breaks that would make line numbers
 * hard to move on).
 */
static size_t cut_pieces(const unsigned char *data, size_t len, size_t max, size_t *at)
{
	const unsigned char *end = data + len, *p;
	size_t n = 1, k;

	at[0] = 0;
	if (max < 2 || len < SPLIT_MIN_BYTES || data[0] == 0xfe || data[0] == 0xff ||
	    data[0] == 0 || odd_line_or_directive(data, len))
		return 1;
	for (k = 1; k < max; k++) {
		p = data + (len / max) * k;
		if (p <= data + at[n - 1])
			continue;
		for (; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
			if (document_start(p + 1, end))
				break;
		if (!p)
			break;
		if ((size_t)(p + 1 - data) > at[n - 1])
			at[n++] = (size_t)(p + 1 - data);
	}
	return n;
}

static void put_number(struct pw_buf *b, unsigned long long v)
{
	char text[24];
	size_t i = sizeof(text);

	do
		text[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	pw_buf_add(b, text + i, sizeof(text) - i);
}

/* A "<path>: document N" or "<path>: line L" of a later piece, moved on. */
static void move_on(struct pw_buf *out, const char *path, const char *text,
		    size_t documents, size_t lines)
{
	size_t plen = strlen(path);
	const char *p = text + plen;
	bool line;
	char *end;

	if (strncmp(text, path, plen) != 0 ||
	    (strncmp(p, ": document ", 11) != 0 && strncmp(p, ": line ", 7) != 0)) {
		pw_buf_puts(out, text);
		return;
	}
	line = p[2] == 'l';
	p += line ? 7 : 11;
	pw_buf_add(out, text, (size_t)(p - text));
	put_number(out, strtoull(p, &end, 10) + (line ? lines : documents));
	/* libyaml's context: "(while parsing ... at line L column C)". */
	while (line && (p = strstr(end, " at line ")) != NULL) {
		p += 9;
		pw_buf_add(out, end, (size_t)(p - end));
		put_number(out, strtoull(p, &end, 10) + lines);
	}
	pw_buf_puts(out, end);
}

static void move_on_lines(struct pw_buf *out, const char *path, char *text,
			  size_t documents, size_t lines)
{
	char *line, *next;

	for (line = text; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		move_on(out, path, line, documents, lines);
		pw_buf_putc(out, '\n');
	}
}

static size_t readers(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return cpus <= 1 ? 1 : cpus >= MAX_READERS ? MAX_READERS : (size_t)cpus;
}

/* Tells piece k, whose documents and lines come after those given. */
static void tell_piece(struct loader *l, struct piece *p, size_t documents, size_t lines,
		       struct pw_buf *where)
{
	size_t i;

	for (i = 0; i < p->nobjs; i++) {
		pw_buf_reset(where);
		move_on(where, l->path, p->objs[i].where, documents, lines);
		hand_over(l, &p->objs[i].obj, pw_buf_str(where));
		free(p->objs[i].where);
	}
	p->nobjs = 0;
	move_on_lines(l->errors, l->path, p->errors.data, documents, lines);
	move_on_lines(l->notices, l->path, p->notices.data, documents, lines);
	l->nerrors += p->l.nerrors;
}

static void drop_piece(struct piece *p)
{
	size_t i;

	for (i = 0; i < p->nobjs; i++) {
		pw_object_free(&p->objs[i].obj);
		free(p->objs[i].where);
	}
	free(p->objs);
	pw_buf_free(&p->errors);
	pw_buf_free(&p->notices);
}

static void load_stream(struct loader *l, const unsigned char *data, size_t len)
{
	/* JSON is read by yajl, whole. */
	bool whole = !l->path || pw_str_has_suffix(l->path, ".json");
	size_t nreaders = whole ? 1 : readers();
	size_t most = nreaders * PIECES_PER_READER;
	size_t at[MAX_READERS * PIECES_PER_READER];
	size_t count, documents = 0, lines = 0, counted = 0, started = 0, i, k;
	struct pw_buf where = PW_BUF_INIT;
	pthread_t threads[MAX_READERS];
	struct pieces ps;

	if (most > len / PIECE_MIN_BYTES)
		most = len / PIECE_MIN_BYTES;
	count = cut_pieces(data, len, most, at);
	if (count == 1) {
		read_stream(l, data, len, &documents);
		return;
	}
	memset(&ps, 0, sizeof(ps));
	pthread_mutex_init(&ps.lock, NULL);
	pthread_cond_init(&ps.one_read, NULL);
	ps.piece = pw_xcalloc(count, sizeof(*ps.piece));
	ps.count = count;
	for (k = 0; k < count; k++) {
		struct piece *p = &ps.piece[k];

		p->l.fn = hold_object;
		p->l.ctx = p;
		p->l.errors = &p->errors;
		p->l.notices = &p->notices;
		p->l.path = l->path;
		p->data = data + at[k];
		p->len = (k + 1 < count ? at[k + 1] : len) - at[k];
	}
	/* Without threads this one reads every piece, in order. */
	while (started + 1 < nreaders &&
	       pthread_create(&threads[started], NULL, reader, &ps) == 0)
		started++;
	for (k = 0; k < count; k++) {
		struct piece *p = &ps.piece[k];

		pthread_mutex_lock(&ps.lock);
		while (!p->read) {
			/* Rather than wait, read a piece nobody has taken yet. */
			i = claim(&ps);
			if (i != SIZE_MAX) {
				pthread_mutex_unlock(&ps.lock);
				read_piece(&ps, i);
				pthread_mutex_lock(&ps.lock);
			} else if (k < ps.next) {	/* another reader has it */
				pthread_cond_wait(&ps.one_read, &ps.lock);
			} else {
				break;		/* stopped before it */
			}
		}
		pthread_mutex_unlock(&ps.lock);
		if (!p->read)
			break;
		/* Only messages name lines; an object's place is its document. */
		if (p->errors.len || p->notices.len) {
			for (; counted < k; counted++)
				lines += count_lines(ps.piece[counted].data, ps.piece[counted].len);
		}
		tell_piece(l, p, documents, lines, &where);
		documents += p->documents;
		if (!p->complete)
			break;
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	for (k = 0; k < count; k++)
		drop_piece(&ps.piece[k]);
	free(ps.piece);
	pthread_cond_destroy(&ps.one_read);
	pthread_mutex_destroy(&ps.lock);
	pw_buf_free(&where);
}

/* ------------------------------------------------------------- files */

/* Loads the text of the file path (JSON when it ends in ".json"). */
static void load_text(struct loader *l, const char *path, const char *data, size_t len)
{
	l->path = path;
	load_stream(l, (const unsigned char *)data, len);
	l->path = NULL;
}

static void load_file(struct loader *l, const char *path)
{
	char *data = NULL;
	size_t len = 0;
	int ret;

	ret = pw_read_file(path, MANIFEST_MAX_BYTES, &data, &len);
	if (ret == -EFBIG) {
		error_at(l, path, "larger than %u MiB", MANIFEST_MAX_BYTES >> 20);
		return;
	}
	if (ret < 0) {
		error_at(l, path, "%s", strerror(-ret));
		return;
	}
	load_text(l, path, data, len);
	free(data);
}

static bool is_manifest_name(const char *name)
{
	return pw_str_has_suffix(name, ".yaml") || pw_str_has_suffix(name, ".yml") ||
		pw_str_has_suffix(name, ".json");
}

/* The manifest names in dir, sorted; NULL (and an error) when unreadable. */
static char **list_dir(struct loader *l, const char *dir, size_t *count)
{
	size_t cap = 0;
	char **names = NULL;
	struct dirent *e;
	DIR *d;

	*count = 0;
	d = opendir(dir);
	if (!d) {
		error_at(l, dir, "%s", strerror(errno));
		return NULL;
	}
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (!e)
			break;
		if (!is_manifest_name(e->d_name))
			continue;
		PW_GROW(names, cap, *count + 1);
		names[(*count)++] = pw_xstrdup(e->d_name);
	}
	if (errno)
		error_at(l, dir, "%s", strerror(errno));
	closedir(d);
	if (*count)
		qsort(names, *count, sizeof(*names), pw_strcmp_ptr);
	return names;
}

static void load_dir(struct loader *l, const char *dir)
{
	const char *sep = pw_str_has_suffix(dir, "/") ? "" : "/";
	size_t count, i;
	char **names;

	names = list_dir(l, dir, &count);
	for (i = 0; i < count; i++) {
		char *path = pw_xasprintf("%s%s%s", dir, sep, names[i]);
		struct stat st;

		if (stat(path, &st) < 0)
			error_at(l, path, "%s", strerror(errno));
		else if (!S_ISDIR(st.st_mode))	/* not recursive */
			load_file(l, path);
		free(path);
		free(names[i]);
	}
	free(names);
}

int pw_manifest_load(const char *path, pw_manifest_fn fn, void *ctx,
		     struct pw_buf *errors, struct pw_buf *notices)
{
	struct loader l = { fn, ctx, errors, notices, NULL, 0 };
	struct stat st;

	if (stat(path, &st) < 0)
		error_at(&l, path, "%s", strerror(errno));
	else if (S_ISDIR(st.st_mode))
		load_dir(&l, path);
	else
		load_file(&l, path);
	return l.nerrors;
}

int pw_manifest_load_buffer(const char *name, const char *data, size_t len,
			    pw_manifest_fn fn, void *ctx,
			    struct pw_buf *errors, struct pw_buf *notices)
{
	struct loader l = { fn, ctx, errors, notices, NULL, 0 };

	load_text(&l, name, data, len);
	return l.nerrors;
}
