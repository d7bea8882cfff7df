/*
 * The read-only page the daemon's listener serves at /ui: this node's pods
 * by namespace, the policies that isolate each, and who may reach whom
 * among them, drawn as the stars demo's UI draws its services but from
 * the policies podwall enforces. The page is static; its script fetches
 * /ui/state.json and builds the drawing with DOM calls alone (text nodes
 * and attributes, never markup), so nothing from the cluster is ever
 * parsed as HTML.
 */
#ifndef PW_UI_H
#define PW_UI_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/observe.h"
#include "k8s/object.h"
#include "lib/util.h"

/* The page and its script, and their content types. */
extern const char pw_ui_page[];
extern const char pw_ui_script[];
#define PW_UI_PAGE_TYPE "text/html; charset=utf-8"
#define PW_UI_SCRIPT_TYPE "text/javascript; charset=utf-8"
#define PW_UI_STATE_TYPE "application/json"

/* Whether src may open a connection to dst's port: the daemon's verdict. */
typedef bool (*pw_ui_allowed)(void *ctx, const struct pw_pod *src, const struct pw_pod *dst,
			      uint16_t port, enum pw_protocol protocol);

/*
 * The node's state as JSON: its pods by namespace, each with its addresses
 * and isolating policies, and an edge from each pod to each other for the
 * declared ports of the destination that allowed says are open.
 */
void pw_ui_state(const struct pw_observed *st, pw_ui_allowed allowed, void *ctx,
		 struct pw_buf *out);

#endif
