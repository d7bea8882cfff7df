#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "k8s/compose.h"

/*
 * Nodes go straight into the document's public node stack, with the
 * scalars' text taken over from the events: libyaml's own loader copies
 * a default tag into every node, which nothing here reads. Memory comes
 * from malloc(), which is what yaml_document_delete() frees with.
 */

struct anchor {
	char *name;
	int id;
};

struct anchors {
	struct anchor *items;
	size_t count;
	size_t cap;
};

struct open_node {
	yaml_document_t *doc;
	int id;
	int key;		/* a mapping's key still waiting for its value */
};

/*
 * JSON goes through yajl, several times faster than libyaml on the same
 * text; its callbacks turn into the events libyaml would give for JSON
 * read as YAML (strings double-quoted, numbers, true, false and null
 * plain), queued a chunk of input at a time.
 */
#define JSON_CHUNK 16384

struct json_source {
	yajl_handle yajl;
	const unsigned char *data;
	size_t len;
	size_t fed;		/* bytes handed to yajl so far */
	size_t chunk_start;	/* where the chunk being parsed began */
	bool completed;		/* yajl_complete_parse() done */
	bool ended;		/* STREAM_END queued */
	size_t depth;
	size_t max_depth;
	bool too_deep;
	yaml_event_t *queue;
	size_t head;
	size_t count;
	size_t cap;
	struct pw_buf error;
};

struct pw_composer {
	yaml_parser_t *parser;		/* YAML, or */
	struct json_source *json;	/* JSON */
	yaml_document_t root;
	bool in_document;
	struct anchors root_anchors;
	yaml_document_t item;
	bool in_item;
	struct anchors item_anchors;
	struct open_node *stack;
	size_t depth;
	size_t cap;
	size_t items_depth;	/* depth of the emptied "items" list; 0: none open */
	size_t items_given;
	bool keep_items;
	bool failed;
};

struct pw_composer *pw_composer_new(yaml_parser_t *parser)
{
	struct pw_composer *c = pw_xcalloc(1, sizeof(*c));

	c->parser = parser;
	return c;
}

static void anchors_clear(struct anchors *a)
{
	size_t i;

	for (i = 0; i < a->count; i++)
		free(a->items[i].name);
	a->count = 0;
}

static void json_free(struct json_source *j);

void pw_composer_free(struct pw_composer *c)
{
	if (!c)
		return;
	json_free(c->json);
	if (c->in_document)
		yaml_document_delete(&c->root);
	if (c->in_item)
		yaml_document_delete(&c->item);
	anchors_clear(&c->root_anchors);
	anchors_clear(&c->item_anchors);
	free(c->root_anchors.items);
	free(c->item_anchors.items);
	free(c->stack);
	free(c);
}

static yaml_node_t *node_of(yaml_document_t *doc, int id)
{
	return doc->nodes.start + id - 1;
}

static int add_node(yaml_document_t *doc, const yaml_node_t *node)
{
	if (doc->nodes.top == doc->nodes.end) {
		size_t used = (size_t)(doc->nodes.top - doc->nodes.start);
		size_t cap = used ? used * 2 : 16;
		yaml_node_t *grown = realloc(doc->nodes.start, cap * sizeof(*grown));

		if (!grown)
			abort();
		doc->nodes.start = grown;
		doc->nodes.top = grown + used;
		doc->nodes.end = grown + cap;
	}
	*doc->nodes.top++ = *node;
	return (int)(doc->nodes.top - doc->nodes.start);
}

/* Grows a libyaml stack (start, top, end) of elements of size elem. */
static void *grow(void *start, void **top, void **end, size_t elem)
{
	size_t used = ((char *)*top - (char *)start) / elem;
	size_t cap = used ? used * 2 : 4;
	char *grown = realloc(start, cap * elem);

	if (!grown)
		abort();
	*top = grown + used * elem;
	*end = grown + cap * elem;
	return grown;
}

static void append_item(yaml_node_t *seq, int id)
{
	if (seq->data.sequence.items.top == seq->data.sequence.items.end)
		seq->data.sequence.items.start =
			grow(seq->data.sequence.items.start,
			     (void **)&seq->data.sequence.items.top,
			     (void **)&seq->data.sequence.items.end, sizeof(yaml_node_item_t));
	*seq->data.sequence.items.top++ = id;
}

static void append_pair(yaml_node_t *map, int key, int value)
{
	if (map->data.mapping.pairs.top == map->data.mapping.pairs.end)
		map->data.mapping.pairs.start =
			grow(map->data.mapping.pairs.start,
			     (void **)&map->data.mapping.pairs.top,
			     (void **)&map->data.mapping.pairs.end, sizeof(yaml_node_pair_t));
	map->data.mapping.pairs.top->key = key;
	map->data.mapping.pairs.top->value = value;
	map->data.mapping.pairs.top++;
}

static yaml_document_t *target(struct pw_composer *c)
{
	return c->in_item ? &c->item : &c->root;
}

static struct anchors *target_anchors(struct pw_composer *c)
{
	return c->in_item ? &c->item_anchors : &c->root_anchors;
}

/* Takes the anchor's name over from the event. */
static void remember_anchor(struct pw_composer *c, yaml_char_t **name, int id)
{
	struct anchors *a = target_anchors(c);

	if (!*name)
		return;
	PW_GROW(a->items, a->cap, a->count + 1);
	a->items[a->count].name = (char *)*name;
	a->items[a->count].id = id;
	a->count++;
	*name = NULL;
}

static int find_anchor(struct pw_composer *c, const char *name)
{
	const struct anchors *a = target_anchors(c);
	size_t i;

	/* The latest definition of a name wins, as in libyaml. */
	for (i = a->count; i > 0; i--)
		if (strcmp(a->items[i - 1].name, name) == 0)
			return a->items[i - 1].id;
	return 0;
}

/* Hangs node id under the innermost open node of the same document. */
static void attach(struct pw_composer *c, int id)
{
	struct open_node *parent;
	yaml_node_t *n;

	if (!c->depth)
		return;
	parent = &c->stack[c->depth - 1];
	if (parent->doc != target(c))
		return;		/* an item's own root: it leaves as a unit */
	n = node_of(parent->doc, parent->id);
	if (n->type == YAML_SEQUENCE_NODE) {
		append_item(n, id);
	} else if (!parent->key) {
		parent->key = id;
	} else {
		append_pair(n, parent->key, id);
		parent->key = 0;
	}
}

static void push(struct pw_composer *c, int id)
{
	PW_GROW(c->stack, c->cap, c->depth + 1);
	c->stack[c->depth].doc = target(c);
	c->stack[c->depth].id = id;
	c->stack[c->depth].key = 0;
	c->depth++;
}

/* The value about to start belongs to the key "items" of the top-level mapping. */
static bool at_root_items(struct pw_composer *c)
{
	const struct open_node *root = c->depth == 1 ? &c->stack[0] : NULL;
	const yaml_node_t *key;

	if (!root || c->in_item || c->keep_items || !root->key ||
	    node_of(&c->root, root->id)->type != YAML_MAPPING_NODE)
		return false;
	key = node_of(&c->root, root->key);
	return key->type == YAML_SCALAR_NODE &&
	       strcmp((const char *)key->data.scalar.value, "items") == 0;
}

/* A node starting right inside the emptied "items" list starts an item. */
static bool starts_item(struct pw_composer *c)
{
	if (!c->items_depth || c->depth != c->items_depth)
		return false;
	if (yaml_document_initialize(&c->item, NULL, NULL, NULL, 1, 1) == 0)
		abort();
	c->in_item = true;
	anchors_clear(&c->item_anchors);
	return true;
}

static enum pw_compose_unit give_item(struct pw_composer *c, yaml_document_t *doc,
				      size_t *items)
{
	*doc = c->item;
	memset(&c->item, 0, sizeof(c->item));
	c->in_item = false;
	*items = c->items_given++;
	return PW_COMPOSE_ITEM;
}

static void new_node(yaml_node_t *n, yaml_node_type_t type, const yaml_event_t *ev)
{
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->start_mark = ev->start_mark;
	n->end_mark = ev->end_mark;
}

static enum pw_compose_unit fail(struct pw_composer *c, struct pw_buf *err,
				 const yaml_event_t *ev, const char *what, const char *name)
{
	pw_buf_printf(err, "line %zu column %zu: %s *%s", ev->start_mark.line + 1,
		      ev->start_mark.column + 1, what, name);
	c->failed = true;
	return PW_COMPOSE_ERROR;
}

/* ------------------------------------------------------------ JSON */

static yaml_event_t *json_push(struct json_source *j, yaml_event_type_t type)
{
	yaml_event_t *ev;

	PW_GROW(j->queue, j->cap, j->count + 1);
	ev = &j->queue[j->count++];
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	return ev;
}

/* A value at the top starts a document of its own. */
static void json_value_starts(struct json_source *j)
{
	if (j->depth == 0)
		json_push(j, YAML_DOCUMENT_START_EVENT)->data.document_start.implicit = 1;
}

static void json_value_ends(struct json_source *j)
{
	if (j->depth == 0)
		json_push(j, YAML_DOCUMENT_END_EVENT)->data.document_end.implicit = 1;
}

static int json_scalar(struct json_source *j, const void *text, size_t len,
		       yaml_scalar_style_t style)
{
	yaml_event_t *ev;
	yaml_char_t *value = pw_xmalloc(len + 1);

	memcpy(value, text, len);
	value[len] = '\0';
	json_value_starts(j);
	ev = json_push(j, YAML_SCALAR_EVENT);
	ev->data.scalar.value = value;
	ev->data.scalar.length = len;
	ev->data.scalar.style = style;
	ev->data.scalar.plain_implicit = style == YAML_PLAIN_SCALAR_STYLE;
	ev->data.scalar.quoted_implicit = style != YAML_PLAIN_SCALAR_STYLE;
	json_value_ends(j);
	return 1;
}

static int on_null(void *ctx)
{
	return json_scalar(ctx, "null", 4, YAML_PLAIN_SCALAR_STYLE);
}

static int on_boolean(void *ctx, int value)
{
	return json_scalar(ctx, value ? "true" : "false", value ? 4 : 5,
			   YAML_PLAIN_SCALAR_STYLE);
}

static int on_number(void *ctx, const char *text, size_t len)
{
	return json_scalar(ctx, text, len, YAML_PLAIN_SCALAR_STYLE);
}

static int on_string(void *ctx, const unsigned char *text, size_t len)
{
	return json_scalar(ctx, text, len, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static int json_open(struct json_source *j, yaml_event_type_t type)
{
	yaml_event_t *ev;

	if (j->depth >= j->max_depth) {
		j->too_deep = true;
		return 0;
	}
	json_value_starts(j);
	ev = json_push(j, type);
	if (type == YAML_MAPPING_START_EVENT) {
		ev->data.mapping_start.implicit = 1;
		ev->data.mapping_start.style = YAML_FLOW_MAPPING_STYLE;
	} else {
		ev->data.sequence_start.implicit = 1;
		ev->data.sequence_start.style = YAML_FLOW_SEQUENCE_STYLE;
	}
	j->depth++;
	return 1;
}

static int json_close(struct json_source *j, yaml_event_type_t type)
{
	json_push(j, type);
	j->depth--;
	json_value_ends(j);
	return 1;
}

static int on_start_map(void *ctx)
{
	return json_open(ctx, YAML_MAPPING_START_EVENT);
}

static int on_end_map(void *ctx)
{
	return json_close(ctx, YAML_MAPPING_END_EVENT);
}

static int on_start_array(void *ctx)
{
	return json_open(ctx, YAML_SEQUENCE_START_EVENT);
}

static int on_end_array(void *ctx)
{
	return json_close(ctx, YAML_SEQUENCE_END_EVENT);
}

static int on_key(void *ctx, const unsigned char *text, size_t len)
{
	struct json_source *j = ctx;
	yaml_event_t *ev;
	yaml_char_t *value = pw_xmalloc(len + 1);

	memcpy(value, text, len);
	value[len] = '\0';
	ev = json_push(j, YAML_SCALAR_EVENT);
	ev->data.scalar.value = value;
	ev->data.scalar.length = len;
	ev->data.scalar.style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	ev->data.scalar.quoted_implicit = 1;
	return 1;
}

static const yajl_callbacks json_callbacks = {
	on_null, on_boolean, NULL, NULL, on_number, on_string,
	on_start_map, on_key, on_end_map, on_start_array, on_end_array,
};

/* Line and column (from 1) of byte offset in data. */
static void json_where(const struct json_source *j, size_t offset, size_t *line,
		       size_t *column)
{
	size_t i, start = 0;

	*line = 1;
	for (i = 0; i < offset && i < j->len; i++) {
		if (j->data[i] == '\n') {
			(*line)++;
			start = i + 1;
		}
	}
	*column = i - start + 1;
}

static int json_fail(struct json_source *j)
{
	size_t offset = j->chunk_start + yajl_get_bytes_consumed(j->yajl), line, column;
	unsigned char *text;
	size_t len;

	json_where(j, offset ? offset - 1 : 0, &line, &column);
	pw_buf_printf(&j->error, "line %zu column %zu: ", line, column);
	if (j->too_deep) {
		pw_buf_printf(&j->error, "nested deeper than %zu levels", j->max_depth);
		return 0;
	}
	text = yajl_get_error(j->yajl, 0, j->data, j->len);
	len = strlen((const char *)text);
	/* yajl ends its message with a period and a newline. */
	while (len && (text[len - 1] == '\n' || text[len - 1] == '.' || text[len - 1] == ' '))
		len--;
	pw_buf_add(&j->error, text, len);
	yajl_free_error(j->yajl, text);
	return 0;
}

/* The next event, parsing another chunk when the queue has run dry. */
static int json_next_event(struct json_source *j, yaml_event_t *ev)
{
	while (j->head == j->count) {
		yajl_status st;

		j->head = j->count = 0;
		if (j->ended)
			return 0;
		if (j->completed) {
			json_push(j, YAML_STREAM_END_EVENT);
			j->ended = true;
			break;
		}
		if (j->fed < j->len) {
			size_t n = j->len - j->fed < JSON_CHUNK ? j->len - j->fed : JSON_CHUNK;

			j->chunk_start = j->fed;
			st = yajl_parse(j->yajl, j->data + j->fed, n);
			j->fed += n;
		} else {
			j->chunk_start = j->len;
			st = yajl_complete_parse(j->yajl);
			j->completed = true;
		}
		if (st != yajl_status_ok)
			return json_fail(j);
	}
	*ev = j->queue[j->head++];
	return 1;
}

static void json_free(struct json_source *j)
{
	size_t i;

	if (!j)
		return;
	for (i = j->head; i < j->count; i++)
		yaml_event_delete(&j->queue[i]);
	free(j->queue);
	if (j->yajl)
		yajl_free(j->yajl);
	pw_buf_free(&j->error);
	free(j);
}

struct pw_composer *pw_composer_new_json(const unsigned char *data, size_t len,
					 size_t max_depth)
{
	struct pw_composer *c = pw_xcalloc(1, sizeof(*c));
	struct json_source *j = pw_xcalloc(1, sizeof(*j));

	j->data = data;
	j->len = len;
	j->max_depth = max_depth;
	pw_buf_init(&j->error);
	j->yajl = yajl_alloc(&json_callbacks, NULL, j);
	if (!j->yajl)
		abort();
	/* Several objects one after the other, as YAML's "---" would separate them. */
	yajl_config(j->yajl, yajl_allow_multiple_values, 1);
	c->json = j;
	return c;
}

void pw_composer_keep_items(struct pw_composer *c)
{
	c->keep_items = true;
}

bool pw_composer_gave_anchors(const struct pw_composer *c, enum pw_compose_unit unit)
{
	return (unit == PW_COMPOSE_ITEM ? c->item_anchors.count : c->root_anchors.count) > 0;
}

enum pw_compose_unit pw_composer_next(struct pw_composer *c, yaml_document_t *doc,
				      size_t *items, struct pw_buf *err)
{
	enum pw_compose_unit unit;
	yaml_event_t ev;
	yaml_node_t n;
	bool item;
	int id;

	*items = 0;
	if (c->failed)
		return PW_COMPOSE_ERROR;
	for (;;) {
		if (c->json ? !json_next_event(c->json, &ev) : !yaml_parser_parse(c->parser, &ev)) {
			if (c->json)
				pw_buf_puts(err, pw_buf_str(&c->json->error));
			c->failed = true;
			return PW_COMPOSE_ERROR;
		}
		/* Stays END while an event completes no unit: read on. */
		unit = PW_COMPOSE_END;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			return PW_COMPOSE_END;
		case YAML_DOCUMENT_START_EVENT:
			if (yaml_document_initialize(&c->root, NULL, NULL, NULL,
						     ev.data.document_start.implicit, 1) == 0)
				abort();
			c->in_document = true;
			c->items_given = 0;
			c->items_depth = 0;
			anchors_clear(&c->root_anchors);
			break;
		case YAML_DOCUMENT_END_EVENT:
			*doc = c->root;
			memset(&c->root, 0, sizeof(c->root));
			c->in_document = false;
			*items = c->items_given;
			unit = PW_COMPOSE_DOCUMENT;
			break;
		case YAML_ALIAS_EVENT:
			/* An alias cannot be an item: it would name another item. */
			id = c->items_depth && c->depth == c->items_depth ? 0 :
			     find_anchor(c, (const char *)ev.data.alias.anchor);
			if (!id) {
				unit = fail(c, err, &ev, c->items_depth ?
					    "an item of a list of items may only name anchors "
					    "of its own: alias" : "found undefined alias",
					    (const char *)ev.data.alias.anchor);
				break;
			}
			attach(c, id);
			break;
		case YAML_SCALAR_EVENT:
			item = starts_item(c);
			new_node(&n, YAML_SCALAR_NODE, &ev);
			n.data.scalar.value = ev.data.scalar.value;
			n.data.scalar.length = ev.data.scalar.length;
			n.data.scalar.style = ev.data.scalar.style;
			ev.data.scalar.value = NULL;
			id = add_node(target(c), &n);
			remember_anchor(c, &ev.data.scalar.anchor, id);
			attach(c, id);
			if (item)
				unit = give_item(c, doc, items);
			break;
		case YAML_SEQUENCE_START_EVENT:
			if (at_root_items(c)) {
				/* The items leave one by one; the document keeps an empty list. */
				new_node(&n, YAML_SEQUENCE_NODE, &ev);
				n.data.sequence.style = ev.data.sequence_start.style;
				id = add_node(&c->root, &n);
				attach(c, id);
				push(c, id);
				c->items_depth = c->depth;
				break;
			}
			starts_item(c);
			new_node(&n, YAML_SEQUENCE_NODE, &ev);
			n.data.sequence.style = ev.data.sequence_start.style;
			id = add_node(target(c), &n);
			remember_anchor(c, &ev.data.sequence_start.anchor, id);
			attach(c, id);
			push(c, id);
			break;
		case YAML_MAPPING_START_EVENT:
			starts_item(c);
			new_node(&n, YAML_MAPPING_NODE, &ev);
			n.data.mapping.style = ev.data.mapping_start.style;
			id = add_node(target(c), &n);
			remember_anchor(c, &ev.data.mapping_start.anchor, id);
			attach(c, id);
			push(c, id);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			c->depth--;
			if (c->items_depth && c->depth == c->items_depth - 1)
				c->items_depth = 0;
			else if (c->in_item && c->depth == c->items_depth)
				unit = give_item(c, doc, items);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (unit != PW_COMPOSE_END)
			return unit;
	}
}
