/*
 * Builds YAML documents from libyaml's events, as yaml_parser_load() does,
 * with one difference that matters for `kubectl get -o yaml` output: the
 * items of a document's top-level "items" list come out one at a time, as
 * documents of their own, and are not kept in the document itself, which
 * gets an empty list in their place. A List of ten thousand objects then
 * never stands in memory as one tree.
 *
 * Whether the document is a List is known only at its end (kubectl writes
 * "kind" after "items"), so the caller decides then what the items were.
 * An alias inside an item must name an anchor of that same item.
 */
#ifndef PW_COMPOSE_H
#define PW_COMPOSE_H

#include <stddef.h>
#include <yaml.h>

#include "lib/util.h"

enum pw_compose_unit {
	PW_COMPOSE_END,		/* no more documents */
	PW_COMPOSE_ITEM,	/* one item of the current document's "items" */
	PW_COMPOSE_DOCUMENT,	/* a whole document, its streamed items left out */
	PW_COMPOSE_ERROR,	/* the parser's error fields, or err, say why */
};

struct pw_composer;

/* Reads from parser, which must outlive the composer. */
struct pw_composer *pw_composer_new(yaml_parser_t *parser);
/*
 * Reads JSON (one value, or several one after the other) from data,
 * which must outlive the composer, into the documents libyaml would make
 * of it; nesting beyond max_depth is an error. Errors name the line and
 * column.
 */
struct pw_composer *pw_composer_new_json(const unsigned char *data, size_t len,
					 size_t max_depth);
/* Keeps "items" in their document, for a caller that wants it whole. */
void pw_composer_keep_items(struct pw_composer *c);
void pw_composer_free(struct pw_composer *c);

/*
 * The next item or document into *doc, which the caller then owns and
 * deletes with yaml_document_delete(); *items is how many items the
 * document gave out before it (for PW_COMPOSE_DOCUMENT) or the item's
 * index (for PW_COMPOSE_ITEM). After PW_COMPOSE_ERROR nothing more can be
 * read: a libyaml error is in the parser, any other in err.
 */
enum pw_compose_unit pw_composer_next(struct pw_composer *c, yaml_document_t *doc,
				      size_t *items, struct pw_buf *err);

/*
 * Whether the unit pw_composer_next() gave last (a document or an item)
 * defined an anchor. Without one it holds no alias, so its tree is as
 * large as its nodes and needs no expansion bound.
 */
bool pw_composer_gave_anchors(const struct pw_composer *c, enum pw_compose_unit unit);

#endif
