/*
 * Follows the node's network interfaces through rtnetlink (libmnl), so that
 * a pod's veth appearing or going away reaches the engine at once.
 */
#ifndef PW_LINKS_H
#define PW_LINKS_H

#include <stdbool.h>

#include "lib/util.h"

struct pw_links;

/*
 * Opens a NETLINK_ROUTE socket subscribed to RTNLGRP_LINK and dumps the
 * current links. Only names starting with iface_prefix are tracked. NULL
 * with the reason in err.
 */
struct pw_links *pw_links_open(const char *iface_prefix, struct pw_buf *err);
void pw_links_close(struct pw_links *l);

/* The socket to poll for input. */
int pw_links_fd(const struct pw_links *l);

/*
 * Reads what is pending without blocking and calls fn for every tracked
 * interface that appeared (up true) or went away (up false). Returns the
 * number of changes, or -errno. On ENOBUFS (events lost) it dumps again and
 * reports the differences, so nothing is missed.
 */
int pw_links_read(struct pw_links *l, void (*fn)(const char *name, bool up, void *ctx),
		  void *ctx);

/* Whether the interface is present now. */
bool pw_links_present(const struct pw_links *l, const char *name);
unsigned pw_links_count(const struct pw_links *l);

#endif
