/*
 * Endpoints: how the traffic of each pod on this node is recognised, found
 * from the node itself whatever the CNI named its interfaces.
 *
 *   routed   the pod is behind an interface of its own, which a host route
 *            to its address goes out of (Calico, ptp): -i/-o that interface;
 *   bridged  the pod is behind a port of a bridge one of whose prefixes
 *            holds its address (flannel's cni0, the bridge plugin): -o the
 *            bridge with its address, and, once the port is known (the
 *            runtime's CNI result, else what the bridge learned from the
 *            pod), --physdev-in/--physdev-out that port;
 *   by name  nothing of the pod is in the kernel (yet, or podwall is not on
 *            the node): its interface as Calico's CNI would name it.
 *
 * Resolving is a pure function of the cluster, the options, the node's
 * network as a view, the CNI results and the previous resolution (a port
 * learned from the bridge stays the pod's while both exist, so that another
 * pod cannot take it over later by answering for the address).
 */
#ifndef PW_ENDPOINT_H
#define PW_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/cluster.h"
#include "engine/cni_cache.h"
#include "engine/nodenet.h"
#include "engine/options.h"
#include "lib/util.h"

/* IFNAMSIZ is 16 including the NUL. */
#define PW_IFACE_NAME_MAX 15

/*
 * prefix + the first 11 hex digits of sha1("<namespace>.<pod>"), e.g.
 * "cali92d634f8f03". The prefix must be at most 4 characters.
 */
void pw_endpoint_iface_name(const char *prefix, const char *namespace,
			    const char *pod, char out[PW_IFACE_NAME_MAX + 1]);

/* The pod is this node's to enforce: scheduled here, running, not hostNetwork. */
bool pw_endpoint_is_local(const struct pw_pod *pod, const struct pw_options *opt);

enum pw_endpoint_kind {
	PW_ENDPOINT_ROUTED,
	PW_ENDPOINT_BRIDGED,
};

/* Where the binding came from, weakest last. */
enum pw_endpoint_source {
	PW_FOUND_BY_ROUTE,	/* a host route to one of its addresses */
	PW_FOUND_BY_CNI,	/* the runtime's CNI result names its bridge port */
	PW_FOUND_BY_NEIGHBOUR,	/* the bridge learned its address's MAC on a port */
	PW_FOUND_ON_BRIDGE,	/* its address is on a bridge; the port is not known */
	PW_FOUND_BY_NAME,	/* Calico's naming rule: nothing seen in the kernel */
};

struct pw_endpoint {
	/* Valid while the cluster it was resolved from is unchanged. */
	const struct pw_pod *pod;
	char *pod_key;		/* "namespace/name", kept for the next resolution */
	char *pod_uid;		/* NULL when unknown */
	enum pw_endpoint_kind kind;
	enum pw_endpoint_source source;
	/* What the pod's chains are named after: the interface when routed,
	 * 11 hex digits of sha1("<namespace>.<pod>") when bridged, so that
	 * they stay when the port becomes known. */
	char id[PW_IFACE_NAME_MAX + 1];
	char iface[PW_IFACE_NAME_MAX + 1];	/* routed */
	char bridge[PW_IFACE_NAME_MAX + 1];	/* bridged */
	char port[PW_IFACE_NAME_MAX + 1];	/* bridged; "" while not known */
	int port_ifindex;			/* bridged and known */
};

struct pw_endpoints {
	struct pw_endpoint *items;	/* sorted by id */
	size_t count;
	/* Bridges holding local pods, sorted: every port of one is pod-facing. */
	char (*bridges)[PW_IFACE_NAME_MAX + 1];
	size_t nbridges;
	/*
	 * veths a host route goes out of for an address no local pod has (a
	 * pod podwall does not know yet, or one that is gone): pod-facing, and
	 * so dropped. Sorted.
	 */
	char (*foreign)[PW_IFACE_NAME_MAX + 1];
	size_t nforeign;
	bool looked;		/* the kernel was read */
	size_t by_name;		/* local pods found nowhere in it: named by the rule */
	size_t conflicts;	/* ports or interfaces two pods claimed: neither got it */
};

/*
 * view NULL (or discovery calico): every local pod by name. cni and
 * previous may be NULL.
 */
struct pw_endpoints *pw_endpoints_resolve(const struct pw_cluster *cluster,
					  const struct pw_options *opt,
					  const struct pw_node_view *view,
					  const struct pw_cni_cache *cni,
					  const struct pw_endpoints *previous);
void pw_endpoints_free(struct pw_endpoints *e);

/* Whether some pod of these has an IPv6 address (its IPv6 needs enforcing). */
bool pw_endpoints_have_ipv6(const struct pw_endpoints *e);

/* The same bindings, bridges and foreign interfaces: the same chains. */
bool pw_endpoints_equal(const struct pw_endpoints *a, const struct pw_endpoints *b);

/* "routed on caliX (route)", "bridged on cni0 port vethX (CNI result)". */
void pw_endpoint_describe(const struct pw_endpoint *ep, struct pw_buf *out);

#endif
