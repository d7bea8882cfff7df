#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
/* Before the linux headers: <net/if.h> and <linux/if.h> clash otherwise. */
#include <net/if.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "engine/nodenet.h"
#include "lib/strmap.h"
#include "lib/util.h"

/*
 * Design notes.
 *
 * The view is a set of maps keyed by text, each entry saying "this now is
 * so": replaying an event the view already reflects changes nothing, which
 * is what makes a dump followed by the events queued during it safe.
 *
 * The kernel does not announce everything it removes: IPv4 routes through
 * a link that goes down or away vanish without an RTM_DELROUTE. So a link
 * taken down loses its routes here too, and a deleted link all it held.
 *
 * Events come in on one non-blocking socket bound to the groups below;
 * dumps go over a second, short-lived socket, so that a dump never
 * interleaves with notifications. When the event queue overflows the
 * kernel drops notifications and says ENOBUFS: what is still queued may
 * predate the drop, so it is drained, everything is dumped into a fresh
 * view, and the events queued after the drain apply on top of it.
 */

#define NODENET_GROUPS (RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | \
			RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE)
/* Big enough for any datagram rtnetlink sends (dump skbs stay near 32 KiB). */
#define NODENET_BUF_SIZE	65536
/* Neighbour and forwarding events of a busy bridge come in bursts. */
#define NODENET_RCVBUF		(4 << 20)
#define NODENET_DUMP_TIMEOUT_S	5
/* NLM_F_DUMP_INTR: the table changed under the dump; try again. */
#define NODENET_DUMP_ATTEMPTS	10
/* Datagrams per read, so that a storm cannot starve the event loop. */
#define NODENET_READ_MAX	4096
#define NODENET_DRAIN_MAX	65536

/* Linux 4.0; older uapi headers lack it, and older kernels never send it. */
#define PW_IFLA_LINK_NETNSID 37

#define MAC_LEN 6
#define MAC_TEXT 18

/* ------------------------------------------------------------ the view */

struct addr_entry {
	int ifindex;
	struct pw_cidr prefix;
};

struct neigh_entry {
	int ifindex;
	uint8_t mac[MAC_LEN];
};

/* Several links claiming one key: the routes to a host, the ports of a MAC. */
struct claim {
	int ifindex;
	uint32_t metric;
};

struct claims {
	struct pw_cidr host;	/* routes only */
	struct claim *items;
	size_t count;
	size_t cap;
};

struct pw_node_view {
	struct pw_strmap *links;	/* "ifindex" -> struct pw_node_link */
	struct pw_strmap *link_names;	/* name -> struct pw_node_link */
	struct pw_node_link **sorted;	/* by ifindex; NULL: to be rebuilt */
	struct pw_strmap *addrs;	/* "ifindex|prefix" -> struct addr_entry */
	struct pw_strmap *routes;	/* host -> struct claims */
	struct pw_strmap *neighbours;	/* "ifindex|ip" -> struct neigh_entry */
	struct pw_strmap *fdb;		/* mac -> struct claims (the ports) */
};

struct pw_node_view *pw_node_view_new(void)
{
	struct pw_node_view *v = pw_xcalloc(1, sizeof(*v));

	v->links = pw_strmap_new();
	v->link_names = pw_strmap_new();
	v->addrs = pw_strmap_new();
	v->routes = pw_strmap_new();
	v->neighbours = pw_strmap_new();
	v->fdb = pw_strmap_new();
	return v;
}

static int free_value(const char *key, void *value, void *ctx)
{
	free(value);
	return 0;
}

static int free_claims(const char *key, void *value, void *ctx)
{
	struct claims *c = value;

	free(c->items);
	free(c);
	return 0;
}

static void free_map(struct pw_strmap *m, int (*fn)(const char *, void *, void *))
{
	pw_strmap_foreach(m, fn, NULL);
	pw_strmap_free(m);
}

void pw_node_view_free(struct pw_node_view *v)
{
	if (!v)
		return;
	free_map(v->links, free_value);
	pw_strmap_free(v->link_names);
	free(v->sorted);
	free_map(v->addrs, free_value);
	free_map(v->routes, free_claims);
	free_map(v->neighbours, free_value);
	free_map(v->fdb, free_claims);
	free(v);
}

static void mac_text(const uint8_t mac[MAC_LEN], char out[MAC_TEXT])
{
	snprintf(out, MAC_TEXT, "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* "ifindex|text": one link's addresses and neighbours share the prefix. */
static char *link_key(int ifindex, const char *text)
{
	return pw_xasprintf("%d|%s", ifindex, text);
}

static bool claims_set(struct pw_strmap *m, const char *key, const struct pw_cidr *host,
		       int ifindex, uint32_t metric, bool present)
{
	struct claims *c = pw_strmap_get(m, key);
	size_t i;

	for (i = 0; c && i < c->count; i++)
		if (c->items[i].ifindex == ifindex)
			break;
	if (!present) {
		if (!c || i == c->count)
			return false;
		c->items[i] = c->items[--c->count];
		if (c->count == 0)
			free_claims(key, pw_strmap_del(m, key), NULL);
		return true;
	}
	if (c && i < c->count) {
		if (c->items[i].metric == metric)
			return false;
		c->items[i].metric = metric;
		return true;
	}
	if (!c) {
		c = pw_xcalloc(1, sizeof(*c));
		if (host)
			c->host = *host;
		pw_strmap_put(m, key, c);
	}
	PW_GROW(c->items, c->cap, c->count + 1);
	c->items[c->count].ifindex = ifindex;
	c->items[c->count].metric = metric;
	c->count++;
	return true;
}

/* Removes ifindex from every claims of m (of family only, unless 0). */
struct unclaim_walk {
	int ifindex;
	int family;
	char **keys;
	size_t count;
	size_t cap;
};

static int collect_claimed(const char *key, void *value, void *ctx)
{
	struct unclaim_walk *w = ctx;
	const struct claims *c = value;
	size_t i;

	if (w->family && c->host.family != w->family)
		return 0;
	for (i = 0; i < c->count; i++) {
		if (c->items[i].ifindex == w->ifindex) {
			PW_GROW(w->keys, w->cap, w->count + 1);
			w->keys[w->count++] = pw_xstrdup(key);
			break;
		}
	}
	return 0;
}

static bool unclaim_all(struct pw_strmap *m, int ifindex, int family)
{
	struct unclaim_walk w = { ifindex, family, NULL, 0, 0 };
	size_t i;

	/* Keys first: the map must not change during its walk. */
	pw_strmap_foreach(m, collect_claimed, &w);
	for (i = 0; i < w.count; i++) {
		claims_set(m, w.keys[i], NULL, ifindex, 0, false);
		free(w.keys[i]);
	}
	free(w.keys);
	return w.count > 0;
}

static int collect_link_keys(const char *key, void *value, void *ctx)
{
	struct unclaim_walk *w = ctx;

	if (atoi(key) == w->ifindex) {
		PW_GROW(w->keys, w->cap, w->count + 1);
		w->keys[w->count++] = pw_xstrdup(key);
	}
	return 0;
}

/* Drops the "ifindex|..." entries of m. */
static bool drop_link_entries(struct pw_strmap *m, int ifindex)
{
	struct unclaim_walk w = { ifindex, 0, NULL, 0, 0 };
	size_t i;

	pw_strmap_foreach(m, collect_link_keys, &w);
	for (i = 0; i < w.count; i++) {
		free(pw_strmap_del(m, w.keys[i]));
		free(w.keys[i]);
	}
	free(w.keys);
	return w.count > 0;
}

static bool links_equal(const struct pw_node_link *a, const struct pw_node_link *b)
{
	return a->ifindex == b->ifindex && strcmp(a->name, b->name) == 0 &&
	       a->kind == b->kind && a->master == b->master && a->peer == b->peer &&
	       a->peer_here == b->peer_here && a->up == b->up;
}

static void forget_name(struct pw_node_view *v, const struct pw_node_link *l)
{
	if (pw_strmap_get(v->link_names, l->name) == l)
		pw_strmap_del(v->link_names, l->name);
}

bool pw_node_view_set_link(struct pw_node_view *v, const struct pw_node_link *link)
{
	struct pw_node_link *old, *copy;
	char key[16];
	bool went_down;

	snprintf(key, sizeof(key), "%d", link->ifindex);
	old = pw_strmap_get(v->links, key);
	if (old && links_equal(old, link))
		return false;
	went_down = old && old->up && !link->up;
	if (old)
		forget_name(v, old);
	copy = pw_xmalloc(sizeof(*copy));
	*copy = *link;
	copy->name[PW_LINK_NAME_MAX] = '\0';
	free(pw_strmap_put(v->links, key, copy));
	/* A name the kernel gave another ifindex before we heard of its end. */
	pw_strmap_put(v->link_names, copy->name, copy);
	free(v->sorted);
	v->sorted = NULL;
	if (went_down)
		unclaim_all(v->routes, link->ifindex, 0);
	return true;
}

bool pw_node_view_del_link(struct pw_node_view *v, int ifindex)
{
	struct pw_node_link *old;
	bool changed = false;
	char key[16];

	snprintf(key, sizeof(key), "%d", ifindex);
	old = pw_strmap_del(v->links, key);
	if (old) {
		forget_name(v, old);
		free(old);
		free(v->sorted);
		v->sorted = NULL;
		changed = true;
	}
	changed |= drop_link_entries(v->addrs, ifindex);
	changed |= drop_link_entries(v->neighbours, ifindex);
	changed |= unclaim_all(v->routes, ifindex, 0);
	changed |= unclaim_all(v->fdb, ifindex, 0);
	return changed;
}

bool pw_node_view_set_addr(struct pw_node_view *v, int ifindex, const struct pw_cidr *prefix,
			   bool present)
{
	char text[PW_CIDR_STRLEN];
	struct addr_entry *e;
	char *key;
	bool changed = false;

	pw_cidr_format(prefix, true, text);
	key = link_key(ifindex, text);
	if (!present) {
		e = pw_strmap_del(v->addrs, key);
		changed = e != NULL;
		free(e);
	} else if (!pw_strmap_get(v->addrs, key)) {
		e = pw_xmalloc(sizeof(*e));
		e->ifindex = ifindex;
		e->prefix = *prefix;
		pw_strmap_put(v->addrs, key, e);
		changed = true;
	}
	free(key);
	return changed;
}

bool pw_node_view_set_route(struct pw_node_view *v, const struct pw_cidr *host, int ifindex,
			    uint32_t metric, bool present)
{
	char text[PW_CIDR_STRLEN];

	pw_cidr_format(host, false, text);
	return claims_set(v->routes, text, host, ifindex, metric, present);
}

bool pw_node_view_set_neighbour(struct pw_node_view *v, int ifindex, const struct pw_cidr *ip,
				const uint8_t *mac)
{
	char text[PW_CIDR_STRLEN];
	struct neigh_entry *e;
	char *key;
	bool changed = false;

	pw_cidr_format(ip, false, text);
	key = link_key(ifindex, text);
	e = pw_strmap_get(v->neighbours, key);
	if (!mac) {
		changed = e != NULL;
		free(pw_strmap_del(v->neighbours, key));
	} else if (!e || memcmp(e->mac, mac, MAC_LEN) != 0) {
		if (!e) {
			e = pw_xmalloc(sizeof(*e));
			e->ifindex = ifindex;
			pw_strmap_put(v->neighbours, key, e);
		}
		memcpy(e->mac, mac, MAC_LEN);
		changed = true;
	}
	free(key);
	return changed;
}

bool pw_node_view_set_fdb(struct pw_node_view *v, int port, const uint8_t mac[6], bool present)
{
	char text[MAC_TEXT];

	mac_text(mac, text);
	return claims_set(v->fdb, text, NULL, port, 0, present);
}

const struct pw_node_link *pw_node_view_link(const struct pw_node_view *v, int ifindex)
{
	char key[16];

	snprintf(key, sizeof(key), "%d", ifindex);
	return pw_strmap_get(v->links, key);
}

const struct pw_node_link *pw_node_view_link_named(const struct pw_node_view *v,
						   const char *name)
{
	return pw_strmap_get(v->link_names, name);
}

size_t pw_node_view_link_count(const struct pw_node_view *v)
{
	return pw_strmap_count(v->links);
}

struct sort_walk {
	struct pw_node_link **out;
	size_t n;
};

static int collect_link(const char *key, void *value, void *ctx)
{
	struct sort_walk *w = ctx;

	w->out[w->n++] = value;
	return 0;
}

static int cmp_link(const void *a, const void *b)
{
	const struct pw_node_link *x = *(const struct pw_node_link *const *)a;
	const struct pw_node_link *y = *(const struct pw_node_link *const *)b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

const struct pw_node_link *pw_node_view_link_at(const struct pw_node_view *v, size_t i)
{
	struct pw_node_view *mv = (struct pw_node_view *)v;
	size_t n = pw_strmap_count(v->links);

	if (i >= n)
		return NULL;
	/* Built on first use after a change; the view is otherwise read-only. */
	if (!mv->sorted) {
		struct sort_walk w = { pw_xcalloc(n, sizeof(*w.out)), 0 };

		pw_strmap_foreach(v->links, collect_link, &w);
		qsort(w.out, w.n, sizeof(*w.out), cmp_link);
		mv->sorted = w.out;
	}
	return mv->sorted[i];
}

/* Of several routes to one host the kernel takes the lowest metric. */
static int best_claim(const struct claims *c)
{
	size_t i, best = 0;

	for (i = 1; i < c->count; i++)
		if (c->items[i].metric < c->items[best].metric)
			best = i;
	return c->items[best].ifindex;
}

int pw_node_view_route(const struct pw_node_view *v, const struct pw_cidr *host)
{
	char text[PW_CIDR_STRLEN];
	const struct claims *c;

	pw_cidr_format(host, false, text);
	c = pw_strmap_get(v->routes, text);
	return c ? best_claim(c) : 0;
}

struct route_walk {
	void (*fn)(const struct pw_cidr *host, int ifindex, void *ctx);
	void *ctx;
};

static int visit_route(const char *key, void *value, void *ctx)
{
	const struct route_walk *w = ctx;
	const struct claims *c = value;

	w->fn(&c->host, best_claim(c), w->ctx);
	return 0;
}

void pw_node_view_foreach_route(const struct pw_node_view *v,
				void (*fn)(const struct pw_cidr *host, int ifindex, void *ctx),
				void *ctx)
{
	struct route_walk w = { fn, ctx };

	pw_strmap_foreach(v->routes, visit_route, &w);
}

struct holding_walk {
	const struct pw_node_view *v;
	const struct pw_cidr *ip;
	int bridge;
	uint8_t best_prefix;
};

static int visit_addr(const char *key, void *value, void *ctx)
{
	struct holding_walk *w = ctx;
	const struct addr_entry *a = value;
	const struct pw_node_link *l;
	struct pw_cidr net = a->prefix;

	pw_cidr_mask(&net);
	if (!pw_cidr_contains(&net, w->ip))
		return 0;
	l = pw_node_view_link(w->v, a->ifindex);
	/* The most specific prefix wins, as the routes they make would. */
	if (l && l->kind == PW_LINK_BRIDGE && (!w->bridge || net.prefix > w->best_prefix)) {
		w->bridge = l->ifindex;
		w->best_prefix = net.prefix;
	}
	return 0;
}

bool pw_node_view_veth_pair_here(const struct pw_node_view *v, const struct pw_node_link *l)
{
	const struct pw_node_link *peer;

	if (l->kind != PW_LINK_VETH || !l->peer_here || !l->peer)
		return false;
	peer = pw_node_view_link(v, l->peer);
	return peer && peer->kind == PW_LINK_VETH && peer->peer == l->ifindex && peer->peer_here;
}

int pw_node_view_bridge_holding(const struct pw_node_view *v, const struct pw_cidr *ip)
{
	struct holding_walk w = { v, ip, 0, 0 };

	pw_strmap_foreach(v->addrs, visit_addr, &w);
	return w.bridge;
}

struct addr_walk {
	void (*fn)(int ifindex, const struct pw_cidr *prefix, void *ctx);
	void *ctx;
};

static int visit_any_addr(const char *key, void *value, void *ctx)
{
	const struct addr_entry *a = value;
	struct addr_walk *w = ctx;

	w->fn(a->ifindex, &a->prefix, w->ctx);
	return 0;
}

void pw_node_view_foreach_addr(const struct pw_node_view *v,
			       void (*fn)(int ifindex, const struct pw_cidr *prefix, void *ctx),
			       void *ctx)
{
	struct addr_walk w = { fn, ctx };

	pw_strmap_foreach(v->addrs, visit_any_addr, &w);
}

bool pw_node_view_neighbour(const struct pw_node_view *v, int ifindex, const struct pw_cidr *ip,
			    uint8_t mac[6])
{
	char text[PW_CIDR_STRLEN];
	const struct neigh_entry *e;
	char *key;

	pw_cidr_format(ip, false, text);
	key = link_key(ifindex, text);
	e = pw_strmap_get(v->neighbours, key);
	free(key);
	if (e)
		memcpy(mac, e->mac, MAC_LEN);
	return e != NULL;
}

int pw_node_view_fdb_port(const struct pw_node_view *v, int bridge, const uint8_t mac[6])
{
	char text[MAC_TEXT];
	const struct claims *c;
	int port = 0;
	size_t i;

	mac_text(mac, text);
	c = pw_strmap_get(v->fdb, text);
	for (i = 0; c && i < c->count; i++) {
		const struct pw_node_link *l = pw_node_view_link(v, c->items[i].ifindex);

		if (!l || l->master != bridge)
			continue;
		if (port)
			return -1;
		port = l->ifindex;
	}
	return port;
}

/* ------------------------------------------------------------ messages */

static bool attr_address(const struct nlattr *a, int family, struct pw_cidr *out)
{
	size_t len = family == AF_INET ? 4 : 16;

	if (mnl_attr_get_payload_len(a) != len)
		return false;
	memset(out, 0, sizeof(*out));
	out->family = family;
	out->prefix = (uint8_t)(len * 8);
	memcpy(out->addr, mnl_attr_get_payload(a), len);
	return true;
}

static enum pw_link_kind link_kind(const struct nlattr *linkinfo)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, linkinfo) {
		const char *kind;

		if (mnl_attr_get_type(a) != IFLA_INFO_KIND ||
		    mnl_attr_validate(a, MNL_TYPE_STRING) < 0)
			continue;
		kind = mnl_attr_get_payload(a);
		/* Not always NUL-terminated: compare the length too. */
		if (mnl_attr_get_payload_len(a) >= 4 && strncmp(kind, "veth", 4) == 0 &&
		    (mnl_attr_get_payload_len(a) == 4 || kind[4] == '\0'))
			return PW_LINK_VETH;
		if (mnl_attr_get_payload_len(a) >= 6 && strncmp(kind, "bridge", 6) == 0 &&
		    (mnl_attr_get_payload_len(a) == 6 || kind[6] == '\0'))
			return PW_LINK_BRIDGE;
	}
	return PW_LINK_OTHER;
}

static bool apply_link(struct pw_node_view *v, const struct nlmsghdr *nlh)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct pw_node_link link;
	const struct nlattr *a;
	bool named = false;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)) || ifi->ifi_index <= 0)
		return false;
	/* AF_BRIDGE messages speak of a port's bridge state, not the link. */
	if (ifi->ifi_family != AF_UNSPEC)
		return false;
	if (nlh->nlmsg_type == RTM_DELLINK)
		return pw_node_view_del_link(v, ifi->ifi_index);
	memset(&link, 0, sizeof(link));
	link.ifindex = ifi->ifi_index;
	link.up = (ifi->ifi_flags & IFF_UP) != 0;
	link.peer_here = true;
	mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
		switch (mnl_attr_get_type(a)) {
		case IFLA_IFNAME:
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
				return false;
			snprintf(link.name, sizeof(link.name), "%s", mnl_attr_get_str(a));
			named = true;
			break;
		case IFLA_MASTER:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				link.master = (int)mnl_attr_get_u32(a);
			break;
		case IFLA_LINKINFO:
			link.kind = link_kind(a);
			break;
		case IFLA_LINK:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				link.peer = (int)mnl_attr_get_u32(a);
			break;
		case PW_IFLA_LINK_NETNSID:
			link.peer_here = false;
			break;
		}
	}
	return named && pw_node_view_set_link(v, &link);
}

struct family_walk {
	int ifindex;
	int family;
};

static int addr_of_family(const char *key, void *value, void *ctx)
{
	const struct family_walk *w = ctx;
	const struct addr_entry *a = value;

	return a->ifindex == w->ifindex && a->prefix.family == w->family;
}

static bool apply_addr(struct pw_node_view *v, const struct nlmsghdr *nlh)
{
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct pw_cidr local, address;
	bool has_local = false, has_address = false, changed;
	struct family_walk w;
	const struct nlattr *a;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifa)) ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return false;
	mnl_attr_for_each(a, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_type(a) == IFA_LOCAL)
			has_local = attr_address(a, ifa->ifa_family, &local);
		else if (mnl_attr_get_type(a) == IFA_ADDRESS)
			has_address = attr_address(a, ifa->ifa_family, &address);
	}
	/* IPv4 puts the peer in IFA_ADDRESS on point-to-point links. */
	if (has_local)
		address = local;
	else if (!has_address)
		return false;
	if (ifa->ifa_prefixlen > pw_cidr_max_prefix(&address))
		return false;
	address.prefix = ifa->ifa_prefixlen;
	changed = pw_node_view_set_addr(v, (int)ifa->ifa_index, &address,
					nlh->nlmsg_type == RTM_NEWADDR);
	/*
	 * A link's last IPv4 address takes the link's IPv4 routes with it
	 * (fib_disable_ip), and the kernel announces none of them.
	 */
	w.ifindex = (int)ifa->ifa_index;
	w.family = AF_INET;
	if (nlh->nlmsg_type == RTM_DELADDR && ifa->ifa_family == AF_INET &&
	    !pw_strmap_foreach(v->addrs, addr_of_family, &w))
		changed |= unclaim_all(v->routes, w.ifindex, AF_INET);
	return changed;
}

/*
 * "ip route replace" (NLM_F_REPLACE): the kernel announces the new route
 * and drops the one of the same metric it replaced without a word. keep is
 * the link of the new route when the view takes it, else 0.
 */
static bool drop_replaced_routes(struct pw_node_view *v, const struct pw_cidr *host, int keep,
				 uint32_t metric)
{
	char text[PW_CIDR_STRLEN];
	const struct claims *c;
	bool changed = false;
	size_t i;

	pw_cidr_format(host, false, text);
	/* Looked up again after each removal, which may free the claims. */
	for (;;) {
		c = pw_strmap_get(v->routes, text);
		for (i = 0; c && i < c->count; i++)
			if (c->items[i].ifindex != keep && c->items[i].metric == metric)
				break;
		if (!c || i == c->count)
			return changed;
		claims_set(v->routes, text, NULL, c->items[i].ifindex, 0, false);
		changed = true;
	}
}

/*
 * Only what a CNI makes for a pod: a unicast route of the main table to one
 * full-length address, out of one link, through no gateway.
 */
static bool link_down(const struct pw_node_view *v, int ifindex)
{
	const struct pw_node_link *l = pw_node_view_link(v, ifindex);

	return l && !l->up;
}

static bool apply_route(struct pw_node_view *v, const struct nlmsghdr *nlh)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	uint32_t table, metric = 0;
	struct pw_cidr host;
	bool has_dst = false, direct = true, taken, changed = false;
	const struct nlattr *a;
	int oif = 0;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*rtm)) ||
	    (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) ||
	    rtm->rtm_dst_len != (rtm->rtm_family == AF_INET ? 32 : 128))
		return false;
	table = rtm->rtm_table;
	mnl_attr_for_each(a, nlh, sizeof(*rtm)) {
		switch (mnl_attr_get_type(a)) {
		case RTA_DST:
			has_dst = attr_address(a, rtm->rtm_family, &host);
			break;
		case RTA_OIF:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				oif = (int)mnl_attr_get_u32(a);
			break;
		case RTA_TABLE:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				table = mnl_attr_get_u32(a);
			break;
		case RTA_PRIORITY:
			if (mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				metric = mnl_attr_get_u32(a);
			break;
		case RTA_GATEWAY:
		case RTA_MULTIPATH:
			direct = false;
			break;
		}
	}
	if (!has_dst || table != RT_TABLE_MAIN)
		return false;
	/*
	 * Not the kernel's own (an IPv6 /128 address makes one to itself),
	 * and not through a link known to be down: the kernel refuses those,
	 * so such an event can only be a replay older than what we know.
	 */
	taken = rtm->rtm_type == RTN_UNICAST && direct && oif > 0 &&
		rtm->rtm_protocol != RTPROT_KERNEL &&
		!(nlh->nlmsg_type == RTM_NEWROUTE && link_down(v, oif));
	/* Whatever the new route is, it took the old one's place. */
	if (nlh->nlmsg_type == RTM_NEWROUTE && (nlh->nlmsg_flags & NLM_F_REPLACE))
		changed = drop_replaced_routes(v, &host, taken ? oif : 0, metric);
	if (taken)
		changed |= pw_node_view_set_route(v, &host, oif, metric,
						  nlh->nlmsg_type == RTM_NEWROUTE);
	return changed;
}

/*
 * A bridge holds one entry per MAC (and VLAN) and moves it from port to
 * port announcing only the new port, so the view may have the MAC on
 * several ports. When the entry goes, or turns permanent, no port of that
 * bridge has it any more.
 */
static bool forget_fdb(struct pw_node_view *v, int port, const uint8_t *mac)
{
	const struct pw_node_link *l = pw_node_view_link(v, port);
	int bridge = l ? l->master : 0;
	bool changed = pw_node_view_set_fdb(v, port, mac, false);
	char text[MAC_TEXT];
	const struct claims *c;
	size_t i;

	if (!bridge)
		return changed;
	mac_text(mac, text);
	/* Looked up again after each removal, which may free the claims. */
	for (;;) {
		c = pw_strmap_get(v->fdb, text);
		for (i = 0; c && i < c->count; i++) {
			l = pw_node_view_link(v, c->items[i].ifindex);
			if (l && l->master == bridge)
				break;
		}
		if (!c || i == c->count)
			return changed;
		claims_set(v->fdb, text, NULL, c->items[i].ifindex, 0, false);
		changed = true;
	}
}

#define NUD_USABLE (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | \
		    NUD_PERMANENT | NUD_NOARP)

static bool apply_neigh(struct pw_node_view *v, const struct nlmsghdr *nlh)
{
	const struct ndmsg *ndm = mnl_nlmsg_get_payload(nlh);
	const uint8_t *mac = NULL;
	struct pw_cidr ip;
	bool has_ip = false;
	const struct nlattr *a;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ndm)) || ndm->ndm_ifindex <= 0)
		return false;
	mnl_attr_for_each(a, nlh, sizeof(*ndm)) {
		if (mnl_attr_get_type(a) == NDA_LLADDR && mnl_attr_get_payload_len(a) == MAC_LEN)
			mac = mnl_attr_get_payload(a);
		else if (mnl_attr_get_type(a) == NDA_DST && ndm->ndm_family != AF_BRIDGE)
			has_ip = attr_address(a, ndm->ndm_family, &ip);
	}
	if (ndm->ndm_family == AF_BRIDGE) {
		/*
		 * A device's own entries (NTF_SELF: a VXLAN device's remote
		 * ends, the addresses a driver filters on) say nothing of
		 * what a bridge learned, neither that it did nor that it
		 * forgot.
		 */
		if (!mac || (ndm->ndm_flags & NTF_SELF))
			return false;
		/* What the bridge learned from frames: not its ports' own addresses. */
		if (nlh->nlmsg_type == RTM_NEWNEIGH && !(ndm->ndm_state & NUD_PERMANENT))
			return pw_node_view_set_fdb(v, ndm->ndm_ifindex, mac, true);
		return forget_fdb(v, ndm->ndm_ifindex, mac);
	}
	if ((ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6) || !has_ip)
		return false;
	if (nlh->nlmsg_type != RTM_NEWNEIGH || !(ndm->ndm_state & NUD_USABLE))
		mac = NULL;
	return pw_node_view_set_neighbour(v, ndm->ndm_ifindex, &ip, mac);
}

static bool apply_msg(struct pw_node_view *v, const struct nlmsghdr *nlh)
{
	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return apply_link(v, nlh);
	case RTM_NEWADDR:
	case RTM_DELADDR:
		return apply_addr(v, nlh);
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		return apply_route(v, nlh);
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		return apply_neigh(v, nlh);
	}
	return false;
}

/* ------------------------------------------------------------ the reader */

struct pw_nodenet {
	struct mnl_socket *nl;		/* notifications; NULL when not following */
	struct pw_node_view *view;
	bool resync;			/* events were lost: dump before going on */
	unsigned int seq;
	char *buf;
};

static int set_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int nlmsg_error(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EBADMSG;
	/* Subsystems disagree on the sign; 0 is an ack. */
	return e->error < 0 ? e->error : -e->error;
}

struct dump_request {
	uint16_t type;
	uint8_t family;
	size_t header;		/* the family-specific header after nlmsghdr */
	const char *what;
	bool optional;		/* a kernel without it (no IPv6) is no error */
};

static const struct dump_request dumps[] = {
	{ RTM_GETLINK, AF_UNSPEC, sizeof(struct ifinfomsg), "links", false },
	{ RTM_GETADDR, AF_INET, sizeof(struct ifaddrmsg), "IPv4 addresses", false },
	{ RTM_GETADDR, AF_INET6, sizeof(struct ifaddrmsg), "IPv6 addresses", true },
	{ RTM_GETROUTE, AF_INET, sizeof(struct rtmsg), "IPv4 routes", false },
	{ RTM_GETROUTE, AF_INET6, sizeof(struct rtmsg), "IPv6 routes", true },
	{ RTM_GETNEIGH, AF_INET, sizeof(struct ndmsg), "IPv4 neighbours", false },
	{ RTM_GETNEIGH, AF_INET6, sizeof(struct ndmsg), "IPv6 neighbours", true },
	{ RTM_GETNEIGH, AF_BRIDGE, sizeof(struct ndmsg), "bridge forwarding entries", true },
};

/*
 * One dump over nl into v. *again is set when the kernel flags it as
 * inconsistent (the table changed while it ran, which can make the walk
 * skip an entry that was there all along).
 */
static int dump_one(struct pw_nodenet *n, struct mnl_socket *nl, struct pw_node_view *v,
		    const struct dump_request *req, bool *again, struct pw_buf *err)
{
	unsigned int seq = ++n->seq, portid = mnl_socket_get_portid(nl);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(n->buf);
	char *extra;

	nlh->nlmsg_type = req->type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	extra = mnl_nlmsg_put_extra_header(nlh, req->header);
	/* Every one of these headers starts with its family byte. */
	extra[0] = (char)req->family;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		pw_buf_printf(err, "node network: asking for the %s: %s", req->what,
			      strerror(errno));
		return -errno;
	}
	for (;;) {
		ssize_t got = mnl_socket_recvfrom(nl, n->buf, NODENET_BUF_SIZE);
		int len, ret;

		if (got < 0) {
			if (errno == EINTR)
				continue;
			ret = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			pw_buf_printf(err, "node network: reading the %s: %s", req->what,
				      strerror(-ret));
			return ret;
		}
		len = (int)got;
		for (nlh = (struct nlmsghdr *)n->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != portid)
				continue;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				*again = true;
			if (nlh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				ret = nlmsg_error(nlh);
				if (ret == 0 || req->optional)
					return 0;
				pw_buf_printf(err, "node network: the %s: %s", req->what,
					      strerror(-ret));
				return ret;
			}
			apply_msg(v, nlh);
		}
	}
}

static int dump_all(struct pw_nodenet *n, struct pw_node_view *v, bool *again,
		    struct pw_buf *err)
{
	struct timeval tv = { NODENET_DUMP_TIMEOUT_S, 0 };
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	size_t i;
	int ret = 0;

	if (!nl) {
		ret = -errno;
		pw_buf_printf(err, "node network: netlink socket: %s", strerror(-ret));
		return ret;
	}
	ret = set_cloexec(mnl_socket_get_fd(nl));
	if (ret == 0 && setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO,
				   &tv, sizeof(tv)) < 0)
		ret = -errno;
	if (ret == 0 && mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		ret = -errno;
	if (ret < 0)
		pw_buf_printf(err, "node network: netlink socket: %s", strerror(-ret));
	/* Links first, so that what comes later finds its link's kind. */
	for (i = 0; ret == 0 && i < PW_ARRAY_SIZE(dumps); i++)
		ret = dump_one(n, nl, v, &dumps[i], again, err);
	mnl_socket_close(nl);
	return ret;
}

/* Throws away what the event socket holds: older than the dump that follows. */
static int drain(struct pw_nodenet *n)
{
	unsigned i;

	for (i = 0; i < NODENET_DRAIN_MAX; i++) {
		if (mnl_socket_recvfrom(n->nl, n->buf, NODENET_BUF_SIZE) >= 0)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno != EINTR && errno != ENOBUFS && errno != ENOSPC)
			return -errno;
	}
	return -EBUSY;
}

/* Replaces the view by a fresh dump. */
static int resync(struct pw_nodenet *n, struct pw_buf *err)
{
	struct pw_node_view *fresh = NULL;
	unsigned attempt;
	bool again = true;
	int ret;

	if (n->nl) {
		ret = drain(n);
		if (ret < 0) {
			pw_buf_printf(err, "node network: draining the event queue: %s",
				      strerror(-ret));
			return ret;
		}
	}
	for (attempt = 0; again && attempt < NODENET_DUMP_ATTEMPTS; attempt++) {
		again = false;
		pw_node_view_free(fresh);
		fresh = pw_node_view_new();
		ret = dump_all(n, fresh, &again, err);
		if (ret < 0) {
			pw_node_view_free(fresh);
			return ret;
		}
	}
	if (again) {
		pw_node_view_free(fresh);
		pw_buf_printf(err, "node network: it kept changing during %d dumps",
			      NODENET_DUMP_ATTEMPTS);
		return -EAGAIN;
	}
	pw_node_view_free(n->view);
	n->view = fresh;
	n->resync = false;
	return 0;
}

static int open_events(struct pw_nodenet *n, struct pw_buf *err)
{
	int rcvbuf = NODENET_RCVBUF;
	int fd, flags, ret;

	/* libmnl 1.0.3 has no mnl_socket_open2(): flags go on afterwards. */
	n->nl = mnl_socket_open(NETLINK_ROUTE);
	if (!n->nl) {
		ret = -errno;
		pw_buf_printf(err, "node network: netlink socket: %s", strerror(-ret));
		return ret;
	}
	fd = mnl_socket_get_fd(n->nl);
	ret = set_cloexec(fd);
	if (ret == 0) {
		flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
			ret = -errno;
	}
	if (ret < 0) {
		pw_buf_printf(err, "node network: fcntl: %s", strerror(-ret));
		return ret;
	}
	/*
	 * Past net.core.rmem_max only with CAP_NET_ADMIN (FORCE); without it
	 * the default queue will do, and the ENOBUFS recovery covers the rest.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_bind(n->nl, NODENET_GROUPS, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		pw_buf_printf(err, "node network: subscribing to rtnetlink: %s",
			      strerror(-ret));
		return ret;
	}
	return 0;
}

struct pw_nodenet *pw_nodenet_open(bool follow, struct pw_buf *err)
{
	struct pw_nodenet *n = pw_xcalloc(1, sizeof(*n));

	n->buf = pw_xmalloc(NODENET_BUF_SIZE);
	/* Subscribe before the dump, so that nothing between the two is lost. */
	if ((follow && open_events(n, err) < 0) || resync(n, err) < 0) {
		pw_nodenet_close(n);
		return NULL;
	}
	return n;
}

void pw_nodenet_close(struct pw_nodenet *n)
{
	if (!n)
		return;
	if (n->nl)
		mnl_socket_close(n->nl);
	pw_node_view_free(n->view);
	free(n->buf);
	free(n);
}

int pw_nodenet_fd(const struct pw_nodenet *n)
{
	return n->nl ? mnl_socket_get_fd(n->nl) : -1;
}

const struct pw_node_view *pw_nodenet_view(const struct pw_nodenet *n)
{
	return n->view;
}

int pw_nodenet_read(struct pw_nodenet *n)
{
	struct pw_buf err = PW_BUF_INIT;
	int changes = 0, ret;
	unsigned i;

	if (!n->nl)
		return 0;
	for (i = 0; i < NODENET_READ_MAX; i++) {
		const struct nlmsghdr *nlh;
		ssize_t got;
		int len;

		if (n->resync) {
			/* The contract has no room for text; errno says enough. */
			ret = resync(n, &err);
			pw_buf_free(&err);
			if (ret < 0)
				return ret;
			changes++;
			continue;
		}
		got = mnl_socket_recvfrom(n->nl, n->buf, NODENET_BUF_SIZE);
		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			/*
			 * ENOBUFS: the queue overflowed and notifications were
			 * dropped. ENOSPC: libmnl's word for a datagram cut
			 * short. The view can no longer be trusted either way.
			 */
			if (errno == ENOBUFS || errno == ENOSPC) {
				n->resync = true;
				continue;
			}
			return -errno;
		}
		len = (int)got;
		for (nlh = (const struct nlmsghdr *)n->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			if (apply_msg(n->view, nlh))
				changes++;
	}
	return changes;
}
