/*
 * The node's network as rtnetlink shows it: what podwall needs to find its
 * pods whatever their CNI named their interfaces. Links (name, kind,
 * bridge), their addresses, host routes (/32 and /128 in the main table),
 * neighbours, and what bridges learned on which port.
 *
 * A struct pw_node_view is plain data: the reader below fills it from the
 * kernel and follows its changes; tests build one by hand, so that whatever
 * reads it (engine/endpoint.c) stays a pure function.
 */
#ifndef PW_NODENET_H
#define PW_NODENET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "lib/util.h"

#define PW_LINK_NAME_MAX 15	/* IFNAMSIZ - 1 */

enum pw_link_kind {
	PW_LINK_OTHER,
	PW_LINK_VETH,
	PW_LINK_BRIDGE,
};

struct pw_node_link {
	int ifindex;
	char name[PW_LINK_NAME_MAX + 1];
	enum pw_link_kind kind;
	int master;		/* the bridge it is a port of; 0: none */
	/* A veth's other end (IFLA_LINK): its ifindex here, when peer_here. */
	int peer;
	bool peer_here;		/* no IFLA_LINK_NETNSID: the other end is in this namespace */
	bool up;
};

struct pw_node_view;

struct pw_node_view *pw_node_view_new(void);
void pw_node_view_free(struct pw_node_view *v);

/*
 * Each setter returns true when the view changed, so that a reader can
 * tell a real change from the kernel repeating itself (a neighbour that
 * goes from REACHABLE to STALE, a refreshed forwarding entry).
 */
bool pw_node_view_set_link(struct pw_node_view *v, const struct pw_node_link *link);
/* The link and everything on it: addresses, routes, neighbours, entries. */
bool pw_node_view_del_link(struct pw_node_view *v, int ifindex);
bool pw_node_view_set_addr(struct pw_node_view *v, int ifindex, const struct pw_cidr *prefix,
			   bool present);
/* host is a full-length address; of several routes the lowest metric wins. */
bool pw_node_view_set_route(struct pw_node_view *v, const struct pw_cidr *host, int ifindex,
			    uint32_t metric, bool present);
/* mac NULL removes the entry. */
bool pw_node_view_set_neighbour(struct pw_node_view *v, int ifindex, const struct pw_cidr *ip,
				const uint8_t *mac);
/* A forwarding entry a bridge learned: mac seen on port. */
bool pw_node_view_set_fdb(struct pw_node_view *v, int port, const uint8_t mac[6],
			  bool present);

const struct pw_node_link *pw_node_view_link(const struct pw_node_view *v, int ifindex);
const struct pw_node_link *pw_node_view_link_named(const struct pw_node_view *v,
						   const char *name);
size_t pw_node_view_link_count(const struct pw_node_view *v);
/* Links in ifindex order. */
const struct pw_node_link *pw_node_view_link_at(const struct pw_node_view *v, size_t i);

/*
 * Both ends of a veth in this namespace (a link of the node's own, not a
 * pod's): each names the other. Kernels before 4.0 say nothing of the
 * peer's namespace, so the mutual naming is what counts.
 */
bool pw_node_view_veth_pair_here(const struct pw_node_view *v, const struct pw_node_link *l);

/* The link a host route to host (full length) goes out of, or 0. */
int pw_node_view_route(const struct pw_node_view *v, const struct pw_cidr *host);
/* Calls fn for every host route; in no particular order. */
void pw_node_view_foreach_route(const struct pw_node_view *v,
				void (*fn)(const struct pw_cidr *host, int ifindex, void *ctx),
				void *ctx);

/* The bridge one of whose own address prefixes holds ip, or 0. */
int pw_node_view_bridge_holding(const struct pw_node_view *v, const struct pw_cidr *ip);
/* Calls fn for every address (with its prefix length); in no particular order. */
void pw_node_view_foreach_addr(const struct pw_node_view *v,
			       void (*fn)(int ifindex, const struct pw_cidr *prefix, void *ctx),
			       void *ctx);
/* The hardware address the node has for ip on link ifindex. */
bool pw_node_view_neighbour(const struct pw_node_view *v, int ifindex, const struct pw_cidr *ip,
			    uint8_t mac[6]);
/*
 * The port of bridge that learned mac: its ifindex, 0 when none did, -1
 * when more than one did (a pod answering for another, or a moved MAC).
 */
int pw_node_view_fdb_port(const struct pw_node_view *v, int bridge, const uint8_t mac[6]);

/* ------------------------------------------------------------ the reader */

struct pw_nodenet;

/*
 * Dumps links, addresses, routes, neighbours and bridge forwarding entries
 * into a view. With follow, it also subscribes to their changes first, so
 * that nothing between the subscription and the dump is lost. NULL with
 * the reason in err.
 */
struct pw_nodenet *pw_nodenet_open(bool follow, struct pw_buf *err);
void pw_nodenet_close(struct pw_nodenet *n);

/* The event socket to poll (follow only). */
int pw_nodenet_fd(const struct pw_nodenet *n);

/*
 * Applies what is pending without blocking. Returns how many changes the
 * view took (0: the kernel only repeated itself), or -errno. When events
 * were lost (ENOBUFS) it dumps everything again and counts that as one
 * change, so nothing is missed.
 */
int pw_nodenet_read(struct pw_nodenet *n);

const struct pw_node_view *pw_nodenet_view(const struct pw_nodenet *n);

#endif
