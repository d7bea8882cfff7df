#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/endpoint.h"
#include "lib/hash.h"
#include "lib/strmap.h"
#include "lib/util.h"

/* Calico's CNI (VethNameForWorkload) always takes 11 hex digits. */
#define IFACE_HASH_DIGITS 11

static void pod_digest(const char *namespace, const char *pod, char hex[41])
{
	struct pw_buf key = PW_BUF_INIT;

	pw_buf_printf(&key, "%s.%s", namespace, pod);
	pw_sha1_hex(key.data, key.len, hex);
	pw_buf_free(&key);
}

void pw_endpoint_iface_name(const char *prefix, const char *namespace,
			    const char *pod, char out[PW_IFACE_NAME_MAX + 1])
{
	char hex[41];

	pod_digest(namespace, pod, hex);
	snprintf(out, PW_IFACE_NAME_MAX + 1, "%.*s%.*s",
		 PW_IFACE_NAME_MAX - IFACE_HASH_DIGITS, prefix, IFACE_HASH_DIGITS, hex);
}

bool pw_endpoint_is_local(const struct pw_pod *pod, const struct pw_options *opt)
{
	/* A finished pod's veth is gone; a pending one gets its chains first. */
	return pod->node_name && strcmp(pod->node_name, opt->node_name) == 0 &&
	       !pod->host_network && pod->phase != PW_POD_PHASE_SUCCEEDED &&
	       pod->phase != PW_POD_PHASE_FAILED;
}

/*
 * How much a port binding is worth when two pods claim one port: the
 * runtime's record beats what the bridge learned, and a port learned
 * earlier beats one learned now (the first claim is the pod's own; a later
 * one may be another pod answering for its address).
 */
enum claim_rank {
	RANK_NONE,
	RANK_NEIGHBOUR,
	RANK_KEPT,
	RANK_CNI,
};

struct resolver {
	const struct pw_options *opt;
	const struct pw_node_view *view;
	const struct pw_cni_cache *cni;
	const struct pw_endpoints *previous;
	struct pw_endpoints *out;
	enum claim_rank *ranks;		/* parallel to out->items */
	size_t cap;
	size_t ranks_cap;
};

static bool discovers(const struct resolver *r, enum pw_endpoint_discovery d)
{
	return r->opt->endpoint_discovery == PW_DISCOVER_AUTO || r->opt->endpoint_discovery == d;
}

static void copy_name(char dst[PW_IFACE_NAME_MAX + 1], const char *src)
{
	snprintf(dst, PW_IFACE_NAME_MAX + 1, "%s", src);
}

static const struct pw_node_link *bridge_of(const struct resolver *r,
					    const struct pw_node_link *port)
{
	const struct pw_node_link *br;

	if (!port || !port->master)
		return NULL;
	br = pw_node_view_link(r->view, port->master);
	return br && br->kind == PW_LINK_BRIDGE ? br : NULL;
}

static bool pod_has_ip(const struct pw_pod *pod, const struct pw_cidr *ip)
{
	size_t i;

	for (i = 0; i < pod->nips; i++)
		if (pw_cidr_equal(&pod->ips[i], ip))
			return true;
	return false;
}

static bool names_pod(const struct pw_cni_attachment *a, const struct pw_pod *pod)
{
	size_t i;

	/* A file that names a pod must name this one: a reused address is not enough. */
	if ((a->pod_namespace && strcmp(a->pod_namespace, pod->namespace) != 0) ||
	    (a->pod_name && strcmp(a->pod_name, pod->name) != 0))
		return false;
	for (i = 0; i < a->nips; i++)
		if (pod_has_ip(pod, &a->ips[i]))
			return true;
	return false;
}

/* The bridge port the runtime recorded for pod, if it is one in the kernel. */
static const struct pw_node_link *cni_port(const struct resolver *r, const struct pw_pod *pod,
					   bool *ambiguous)
{
	const struct pw_node_link *found = NULL;
	size_t i, j;

	for (i = 0; r->cni && i < r->cni->count; i++) {
		const struct pw_cni_attachment *a = &r->cni->items[i];

		if (!names_pod(a, pod))
			continue;
		for (j = 0; j < a->nhost_ifaces; j++) {
			const struct pw_node_link *l =
				pw_node_view_link_named(r->view, a->host_ifaces[j]);

			if (!bridge_of(r, l))
				continue;
			if (found && found != l)
				*ambiguous = true;
			found = l;
		}
	}
	return *ambiguous ? NULL : found;
}

/* The link a host route to one of the pod's addresses goes out of. */
static const struct pw_node_link *route_link(const struct resolver *r, const struct pw_pod *pod)
{
	size_t i;

	for (i = 0; i < pod->nips; i++) {
		const struct pw_node_link *l =
			pw_node_view_link(r->view, pw_node_view_route(r->view, &pod->ips[i]));

		if (l && l->up)
			return l;
	}
	return NULL;
}

static const struct pw_node_link *bridge_holding(const struct resolver *r,
						 const struct pw_pod *pod)
{
	size_t i;

	for (i = 0; i < pod->nips; i++) {
		const struct pw_node_link *br =
			pw_node_view_link(r->view, pw_node_view_bridge_holding(r->view,
									       &pod->ips[i]));

		if (br)
			return br;
	}
	return NULL;
}

static const struct pw_endpoint *previous_of(const struct resolver *r,
					     const struct pw_endpoint *ep)
{
	size_t i;

	for (i = 0; r->previous && i < r->previous->count; i++) {
		const struct pw_endpoint *p = &r->previous->items[i];

		if (strcmp(p->pod_key, ep->pod_key) == 0 &&
		    (!p->pod_uid || !ep->pod_uid || strcmp(p->pod_uid, ep->pod_uid) == 0))
			return p;
	}
	return NULL;
}

/* A port learned before, still there on the same bridge: kept. */
static const struct pw_node_link *kept_port(const struct resolver *r,
					    const struct pw_endpoint *ep,
					    const struct pw_node_link *br)
{
	const struct pw_endpoint *p = previous_of(r, ep);
	const struct pw_node_link *l;

	if (!p || p->source != PW_FOUND_BY_NEIGHBOUR)
		return NULL;
	l = pw_node_view_link(r->view, p->port_ifindex);
	if (!l || strcmp(l->name, p->port) != 0 || l->master != br->ifindex)
		return NULL;
	return l;
}

/*
 * What the bridge learned: the node's neighbour entry for an address of
 * the pod gives its MAC, the bridge's forwarding entry for that MAC its
 * port. Every address must agree on one port.
 */
static const struct pw_node_link *neighbour_port(const struct resolver *r,
						 const struct pw_pod *pod,
						 const struct pw_node_link *br)
{
	const struct pw_node_link *found = NULL;
	uint8_t mac[6];
	size_t i;

	for (i = 0; i < pod->nips; i++) {
		const struct pw_node_link *l;
		int port;

		if (!pw_node_view_neighbour(r->view, br->ifindex, &pod->ips[i], mac))
			continue;
		port = pw_node_view_fdb_port(r->view, br->ifindex, mac);
		l = port > 0 ? pw_node_view_link(r->view, port) : NULL;
		if (!l)
			continue;
		if (found && found != l)
			return NULL;
		found = l;
	}
	return found;
}

static void set_bridged(struct pw_endpoint *ep, const struct pw_node_link *br,
			const struct pw_node_link *port, enum pw_endpoint_source source)
{
	char hex[41];

	ep->kind = PW_ENDPOINT_BRIDGED;
	ep->source = port ? source : PW_FOUND_ON_BRIDGE;
	pod_digest(ep->pod->namespace, ep->pod->name, hex);
	snprintf(ep->id, sizeof(ep->id), "%.*s", IFACE_HASH_DIGITS, hex);
	copy_name(ep->bridge, br->name);
	if (port) {
		copy_name(ep->port, port->name);
		ep->port_ifindex = port->ifindex;
	}
}

static void set_routed(struct pw_endpoint *ep, const char *iface,
		       enum pw_endpoint_source source)
{
	ep->kind = PW_ENDPOINT_ROUTED;
	ep->source = source;
	copy_name(ep->iface, iface);
	copy_name(ep->id, iface);
}

/* The port a bridged pod is behind, and what that is worth. */
static void bind_port(const struct resolver *r, struct pw_endpoint *ep,
		      const struct pw_node_link *br, enum claim_rank *rank)
{
	const struct pw_node_link *port = kept_port(r, ep, br);

	if (port) {
		*rank = RANK_KEPT;
		set_bridged(ep, br, port, PW_FOUND_BY_NEIGHBOUR);
		return;
	}
	port = neighbour_port(r, ep->pod, br);
	*rank = port ? RANK_NEIGHBOUR : RANK_NONE;
	set_bridged(ep, br, port, PW_FOUND_BY_NEIGHBOUR);
}

/* false: the pod was found nowhere and the options allow no name either. */
static bool resolve_pod(struct resolver *r, struct pw_endpoint *ep, enum claim_rank *rank)
{
	const struct pw_node_link *l, *br;
	bool ambiguous = false;

	*rank = RANK_NONE;
	if (r->view && r->opt->endpoint_discovery != PW_DISCOVER_CALICO) {
		if (discovers(r, PW_DISCOVER_BRIDGE) &&
		    (l = cni_port(r, ep->pod, &ambiguous)) != NULL) {
			*rank = RANK_CNI;
			set_bridged(ep, bridge_of(r, l), l, PW_FOUND_BY_CNI);
			return true;
		}
		if (ambiguous)
			r->out->conflicts++;
		l = discovers(r, PW_DISCOVER_ROUTES) ? route_link(r, ep->pod) : NULL;
		if (l && l->kind != PW_LINK_BRIDGE) {
			set_routed(ep, l->name, PW_FOUND_BY_ROUTE);
			return true;
		}
		/* A host route into a bridge: the pod is on it, port unknown. */
		br = l ? l : discovers(r, PW_DISCOVER_BRIDGE) ? bridge_holding(r, ep->pod) : NULL;
		if (br) {
			bind_port(r, ep, br, rank);
			return true;
		}
		if (r->opt->endpoint_discovery != PW_DISCOVER_AUTO)
			return false;
		r->out->by_name++;
	}
	ep->kind = PW_ENDPOINT_ROUTED;
	ep->source = PW_FOUND_BY_NAME;
	pw_endpoint_iface_name(r->opt->iface_prefix, ep->pod->namespace, ep->pod->name,
			       ep->iface);
	copy_name(ep->id, ep->iface);
	return true;
}

static int collect_pod(const struct pw_pod *pod, void *ctx)
{
	struct resolver *r = ctx;
	struct pw_endpoints *out = r->out;
	struct pw_endpoint *ep;

	if (!pw_endpoint_is_local(pod, r->opt))
		return 0;
	PW_GROW(out->items, r->cap, out->count + 1);
	PW_GROW(r->ranks, r->ranks_cap, out->count + 1);
	ep = &out->items[out->count];
	memset(ep, 0, sizeof(*ep));
	ep->pod = pod;
	ep->pod_key = pw_xasprintf("%s/%s", pod->namespace, pod->name);
	ep->pod_uid = pod->uid ? pw_xstrdup(pod->uid) : NULL;
	if (resolve_pod(r, ep, &r->ranks[out->count])) {
		out->count++;
	} else {
		free(ep->pod_key);
		free(ep->pod_uid);
	}
	return 0;
}

static void endpoint_clear(struct pw_endpoint *ep)
{
	free(ep->pod_key);
	free(ep->pod_uid);
}

/*
 * Two pods on one bridge port: the better claim keeps it; of equal claims
 * neither does, since one of them is answering for the other.
 */
static void settle_ports(struct resolver *r)
{
	struct pw_endpoints *out = r->out;
	bool *lost = pw_xcalloc(out->count + 1, sizeof(*lost));
	size_t i, j;

	/* Decided on the claims as they were, before any is withdrawn. */
	for (i = 0; i < out->count; i++) {
		const struct pw_endpoint *a = &out->items[i];

		if (a->kind != PW_ENDPOINT_BRIDGED || !a->port_ifindex)
			continue;
		for (j = 0; j < out->count && !lost[i]; j++) {
			const struct pw_endpoint *b = &out->items[j];

			lost[i] = j != i && b->kind == PW_ENDPOINT_BRIDGED &&
				  b->port_ifindex == a->port_ifindex && r->ranks[j] >= r->ranks[i];
		}
	}
	for (i = 0; i < out->count; i++) {
		struct pw_endpoint *ep = &out->items[i];

		if (!lost[i])
			continue;
		ep->port[0] = '\0';
		ep->port_ifindex = 0;
		ep->source = PW_FOUND_ON_BRIDGE;
		out->conflicts++;
	}
	free(lost);
}

static int cmp_endpoint(const void *a, const void *b)
{
	const struct pw_endpoint *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c ? c : strcmp(x->pod_key, y->pod_key);
}

/* Two pods with one interface cannot both be dispatched: the first keeps it. */
static void drop_shared_ids(struct pw_endpoints *out)
{
	size_t i, n = 0;

	for (i = 0; i < out->count; i++) {
		if (n && strcmp(out->items[n - 1].id, out->items[i].id) == 0) {
			endpoint_clear(&out->items[i]);
			out->conflicts++;
			continue;
		}
		out->items[n++] = out->items[i];
	}
	out->count = n;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Appends name to a sorted-later list unless it is there already. */
static void add_name(char (**list)[PW_IFACE_NAME_MAX + 1], size_t *count, size_t *cap,
		     const char *name)
{
	size_t i;

	for (i = 0; i < *count; i++)
		if (strcmp((*list)[i], name) == 0)
			return;
	PW_GROW(*list, *cap, *count + 1);
	copy_name((*list)[(*count)++], name);
}

struct foreign_walk {
	struct resolver *r;
	const struct pw_cluster *cluster;
	struct pw_strmap *elsewhere;	/* addresses of other nodes' pods; built when needed */
	size_t cap;
};

static bool is_endpoint_iface(const struct pw_endpoints *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->count; i++)
		if (e->items[i].kind == PW_ENDPOINT_ROUTED && strcmp(e->items[i].iface, name) == 0)
			return true;
	return false;
}

static int note_elsewhere(const struct pw_pod *pod, void *ctx)
{
	struct foreign_walk *w = ctx;
	char text[PW_CIDR_STRLEN];
	size_t i;

	if (pw_endpoint_is_local(pod, w->r->opt) || !pw_pod_is_addressable(pod))
		return 0;
	for (i = 0; i < pod->nips; i++) {
		pw_cidr_format(&pod->ips[i], false, text);
		pw_strmap_put(w->elsewhere, text, w);
	}
	return 0;
}

static bool pod_elsewhere(struct foreign_walk *w, const struct pw_cidr *host)
{
	char text[PW_CIDR_STRLEN];

	if (!w->elsewhere) {
		w->elsewhere = pw_strmap_new();
		pw_cluster_foreach_pod(w->cluster, note_elsewhere, w);
	}
	pw_cidr_format(host, false, text);
	return pw_strmap_get(w->elsewhere, text) != NULL;
}

/*
 * A veth a host route goes out of is a pod's, known or not, as CNIs make
 * them: its other end in the pod's namespace. Not a link of the node's
 * own, nor one to where another node's pods are.
 */
static void note_foreign(const struct pw_cidr *host, int ifindex, void *ctx)
{
	struct foreign_walk *w = ctx;
	const struct pw_node_link *l = pw_node_view_link(w->r->view, ifindex);

	if (!l || l->kind != PW_LINK_VETH || l->master ||
	    pw_node_view_veth_pair_here(w->r->view, l) || is_endpoint_iface(w->r->out, l->name) ||
	    pod_elsewhere(w, host))
		return;
	/* The Calico prefix is dropped as a whole already. */
	if (strncmp(l->name, w->r->opt->iface_prefix, strlen(w->r->opt->iface_prefix)) == 0)
		return;
	add_name(&w->r->out->foreign, &w->r->out->nforeign, &w->cap, l->name);
}

struct pw_endpoints *pw_endpoints_resolve(const struct pw_cluster *cluster,
					  const struct pw_options *opt,
					  const struct pw_node_view *view,
					  const struct pw_cni_cache *cni,
					  const struct pw_endpoints *previous)
{
	struct resolver r = { opt, NULL, cni, previous, NULL, NULL, 0, 0 };
	struct foreign_walk fw = { &r, cluster, NULL, 0 };
	size_t i, bridges_cap = 0;

	if (opt->endpoint_discovery != PW_DISCOVER_CALICO)
		r.view = view;
	r.out = pw_xcalloc(1, sizeof(*r.out));
	r.out->looked = r.view != NULL;
	pw_cluster_foreach_pod(cluster, collect_pod, &r);
	if (r.view)
		settle_ports(&r);
	free(r.ranks);
	if (r.out->count > 1)
		qsort(r.out->items, r.out->count, sizeof(*r.out->items), cmp_endpoint);
	drop_shared_ids(r.out);

	for (i = 0; i < r.out->count; i++)
		if (r.out->items[i].kind == PW_ENDPOINT_BRIDGED)
			add_name(&r.out->bridges, &r.out->nbridges, &bridges_cap,
				 r.out->items[i].bridge);
	if (r.out->nbridges > 1)
		qsort(r.out->bridges, r.out->nbridges, sizeof(*r.out->bridges), cmp_name);
	if (r.view && discovers(&r, PW_DISCOVER_ROUTES))
		pw_node_view_foreach_route(r.view, note_foreign, &fw);
	pw_strmap_free(fw.elsewhere);
	if (r.out->nforeign > 1)
		qsort(r.out->foreign, r.out->nforeign, sizeof(*r.out->foreign), cmp_name);
	return r.out;
}

void pw_endpoints_free(struct pw_endpoints *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->count; i++)
		endpoint_clear(&e->items[i]);
	free(e->items);
	free(e->bridges);
	free(e->foreign);
	free(e);
}

bool pw_endpoints_have_ipv6(const struct pw_endpoints *e)
{
	size_t i;

	for (i = 0; e && i < e->count; i++)
		if (pw_pod_address(e->items[i].pod, AF_INET6))
			return true;
	return false;
}

static bool names_equal(const char (*a)[PW_IFACE_NAME_MAX + 1],
			const char (*b)[PW_IFACE_NAME_MAX + 1], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

bool pw_endpoints_equal(const struct pw_endpoints *a, const struct pw_endpoints *b)
{
	size_t i;

	if (!a || !b)
		return a == b;
	if (a->count != b->count || a->nbridges != b->nbridges || a->nforeign != b->nforeign ||
	    !names_equal(a->bridges, b->bridges, a->nbridges) ||
	    !names_equal(a->foreign, b->foreign, a->nforeign))
		return false;
	for (i = 0; i < a->count; i++) {
		const struct pw_endpoint *x = &a->items[i], *y = &b->items[i];

		if (x->kind != y->kind || strcmp(x->id, y->id) != 0 ||
		    strcmp(x->pod_key, y->pod_key) != 0 || strcmp(x->iface, y->iface) != 0 ||
		    strcmp(x->bridge, y->bridge) != 0 || strcmp(x->port, y->port) != 0)
			return false;
	}
	return true;
}

void pw_endpoint_describe(const struct pw_endpoint *ep, struct pw_buf *out)
{
	static const char *const how[] = {
		[PW_FOUND_BY_ROUTE] = "host route",
		[PW_FOUND_BY_CNI] = "CNI result",
		[PW_FOUND_BY_NEIGHBOUR] = "learned by the bridge",
		[PW_FOUND_ON_BRIDGE] = "address on the bridge, port not known yet",
		[PW_FOUND_BY_NAME] = "Calico's interface name; not seen in the kernel",
	};

	if (ep->kind == PW_ENDPOINT_ROUTED)
		pw_buf_printf(out, "%s: routed on %s (%s)", ep->pod_key, ep->iface,
			      how[ep->source]);
	else if (ep->port[0])
		pw_buf_printf(out, "%s: bridged on %s port %s (%s)", ep->pod_key, ep->bridge,
			      ep->port, how[ep->source]);
	else
		pw_buf_printf(out, "%s: bridged on %s (%s)", ep->pod_key, ep->bridge,
			      how[ep->source]);
}
