/*
 * Endpoints found from the node, and the chains that dispatch to them:
 * routed (Calico's and ptp's veths), bridged (flannel's cni0) and by name,
 * on node views built by hand. The compiled table is then walked by
 * chains/walk.c, packet by packet, so that what is checked is where each
 * packet ends, not what the rules say.
 */
#include "config.h"

#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chains/walk.h"
#include "engine/cluster.h"
#include "engine/cni_cache.h"
#include "engine/compile.h"
#include "engine/endpoint.h"
#include "engine/nodenet.h"
#include "engine/options.h"
#include "k8s/manifest.h"
#include "lib/strmap.h"
#include "tests/testlib.h"

#define BRIDGE_IFINDEX 2
#define FLANNEL_IFINDEX 3
#define PORT_IFINDEX(i) (100 + (i))

/* ------------------------------------------------------------ clusters */

/* Pod i of namespace ns ("x"), address 198.18.1.<i+1>, on node n1 or n2. */
static void add_pod(struct pw_buf *y, const char *ns, unsigned i, const char *node)
{
	pw_buf_printf(y, "apiVersion: v1\nkind: Pod\n"
		      "metadata: {name: p%u, namespace: %s, uid: uid-%s-%u, labels: {pod: p%u}}\n"
		      "spec: {nodeName: %s}\n"
		      "status: {phase: Running, podIP: 198.18.%u.%u}\n---\n",
		      i, ns, ns, i, i, node, strcmp(node, "n1") == 0 ? 1 + i / 250 : 50, 1 + i % 250);
}

static struct pw_cluster *cluster_of(unsigned local, unsigned remote, const char *extra)
{
	struct pw_cluster *c = pw_cluster_new();
	struct pw_buf y = PW_BUF_INIT;
	unsigned i;

	pw_buf_puts(&y, "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n");
	for (i = 0; i < local; i++)
		add_pod(&y, "x", i, "n1");
	for (i = 0; i < remote; i++)
		add_pod(&y, "x", 1000 + i, "n2");
	if (extra)
		pw_buf_puts(&y, extra);
	pw_test_load_manifest(c, y.data);
	pw_buf_free(&y);
	return c;
}

static void options(struct pw_options *opt)
{
	pw_options_init(opt);
	free(opt->node_name);
	opt->node_name = pw_xstrdup("n1");
}

static void pod_ip(unsigned i, char out[32])
{
	snprintf(out, 32, "198.18.%u.%u", 1 + i / 250, 1 + i % 250);
}

/* ------------------------------------------------------------ views */

static void add_link(struct pw_node_view *v, int ifindex, const char *name,
		     enum pw_link_kind kind, int master)
{
	struct pw_node_link l;

	memset(&l, 0, sizeof(l));
	l.ifindex = ifindex;
	snprintf(l.name, sizeof(l.name), "%s", name);
	l.kind = kind;
	l.master = master;
	l.up = true;
	/* A pod's veth: its other end is in the pod's namespace. */
	l.peer_here = kind != PW_LINK_VETH;
	ck_assert(pw_node_view_set_link(v, &l));
}

static void port_name(unsigned i, char out[16])
{
	/* Random-looking as the bridge plugin's, spread over every first digit. */
	snprintf(out, 16, "veth%08x", (i * 2654435761u) ^ 0x5bd1e995u);
}

static void mac_of(unsigned i, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0x42;
	mac[2] = 0;
	mac[3] = (uint8_t)(i >> 16);
	mac[4] = (uint8_t)(i >> 8);
	mac[5] = (uint8_t)i;
}

/* cni0 with the pods' gateway, flannel.1, and a port for each of n pods. */
static struct pw_node_view *flannel_view(unsigned n)
{
	struct pw_node_view *v = pw_node_view_new();
	struct pw_cidr gw = pw_test_prefix("198.18.0.1/16");
	char name[16];
	unsigned i;

	add_link(v, 1, "lo", PW_LINK_OTHER, 0);
	add_link(v, BRIDGE_IFINDEX, "cni0", PW_LINK_BRIDGE, 0);
	add_link(v, FLANNEL_IFINDEX, "flannel.1", PW_LINK_OTHER, 0);
	ck_assert(pw_node_view_set_addr(v, BRIDGE_IFINDEX, &gw, true));
	for (i = 0; i < n; i++) {
		port_name(i, name);
		add_link(v, PORT_IFINDEX(i), name, PW_LINK_VETH, BRIDGE_IFINDEX);
	}
	return v;
}

/* What the bridge learns when pod i talks to the node. */
static void learn(struct pw_node_view *v, unsigned i, unsigned on_port)
{
	char text[32];
	struct pw_cidr a;
	uint8_t mac[6];

	pod_ip(i, text);
	a = pw_test_ip(text);
	mac_of(i, mac);
	pw_node_view_set_neighbour(v, BRIDGE_IFINDEX, &a, mac);
	pw_node_view_set_fdb(v, PORT_IFINDEX(on_port), mac, true);
}

/* The runtime's record that pod i got port on_port. */
static void cni_record(struct pw_cni_cache *c, unsigned i, unsigned on_port, const char *ns)
{
	struct pw_cni_attachment *a;
	char text[32], name[16];

	c->items = realloc(c->items, (c->count + 1) * sizeof(*c->items));
	a = &c->items[c->count++];
	memset(a, 0, sizeof(*a));
	a->path = pw_xasprintf("/var/lib/cni/results/cbr0-%u-eth0", i);
	a->pod_namespace = pw_xstrdup(ns);
	a->pod_name = pw_xasprintf("p%u", i);
	a->host_ifaces = pw_xcalloc(2, sizeof(char *));
	a->host_ifaces[0] = pw_xstrdup("cni0");
	port_name(on_port, name);
	a->host_ifaces[1] = pw_xstrdup(name);
	a->nhost_ifaces = 2;
	a->ips = pw_xcalloc(1, sizeof(*a->ips));
	pod_ip(i, text);
	a->ips[0] = pw_test_ip(text);
	a->nips = 1;
}

static const struct pw_endpoint *endpoint_of(const struct pw_endpoints *e, unsigned i)
{
	char key[32];
	size_t k;

	snprintf(key, sizeof(key), "x/p%u", i);
	for (k = 0; k < e->count; k++)
		if (strcmp(e->items[k].pod_key, key) == 0)
			return &e->items[k];
	return NULL;
}

/* ------------------------------------------------------------ the walker */

/* A compiled table and the sets its rules name, walked by chains/walk.c. */
struct table {
	const struct pw_table *t;
	const struct pw_setlist *sets;
	struct pw_dataplane *owned;	/* NULL: the caller keeps the dataplane */
	struct pw_table *edited;	/* restore_without()'s copy, which t is then */
};

static void table_free(struct table *t)
{
	pw_dataplane_free(t->owned);
	pw_table_free(t->edited);
}

struct packet {
	const char *in, *out;		/* interfaces; NULL: none (INPUT has no out) */
	const char *physin, *physout;	/* bridge ports; physout only when bridged */
	const char *src, *dst;
	uint32_t mark;
	const char *proto;		/* NULL: tcp */
	int icmp6_type;
};

enum verdict { V_ACCEPT, V_DROP, V_PASS };

struct walk {
	unsigned evaluated;		/* rules looked at */
	char trace[4096];		/* the chains entered, space-separated */
};

static uint8_t proto_of(const char *name)
{
	if (!name || strcmp(name, "tcp") == 0)
		return IPPROTO_TCP;
	if (strcmp(name, "udp") == 0)
		return IPPROTO_UDP;
	if (strcmp(name, "sctp") == 0)
		return IPPROTO_SCTP;
	ck_assert_str_eq(name, "ipv6-icmp");
	return IPPROTO_ICMPV6;
}

static void trace_chain(struct walk *w, const char *name)
{
	if (strlen(w->trace) + strlen(name) + 2 < sizeof(w->trace)) {
		strcat(w->trace, name);
		strcat(w->trace, " ");
	}
}

/* Every packet here is the first of its flow. */
static enum verdict walk(struct table *t, const char *hook, const struct packet *p,
			 struct walk *w)
{
	struct pw_packet pkt;
	struct pw_walk pw;
	enum verdict v;
	size_t i;
	int err;

	memset(&pkt, 0, sizeof(pkt));
	pkt.in = p->in;
	pkt.out = p->out;
	pkt.physin = p->physin;
	pkt.physout = p->physout;
	pkt.src = pw_test_ip(p->src);
	pkt.dst = pw_test_ip(p->dst);
	pkt.protocol = proto_of(p->proto);
	pkt.icmp6_type = (uint8_t)p->icmp6_type;
	pkt.ctstate = PW_CT_NEW;
	pkt.mark = p->mark;
	err = pw_walk_table(t->t, t->sets, hook, &pkt, &pw);
	ck_assert_msg(err == 0, "walk from %s: %s", hook, strerror(-err));
	memset(w, 0, sizeof(*w));
	w->evaluated = pw.evaluated;
	trace_chain(w, hook);
	for (i = 0; i < pw.nsteps; i++)
		if (pw.steps[i].target_chain)
			trace_chain(w, pw.steps[i].target_chain);
	v = pw.verdict == PW_VERDICT_ACCEPT ? V_ACCEPT :
	    pw.verdict == PW_VERDICT_DROP ? V_DROP : V_PASS;
	pw_walk_free(&pw);
	return v;
}

static struct table compiled_family(const struct pw_cluster *c, const struct pw_endpoints *e,
				    const struct pw_options *opt, struct pw_dataplane **dp_out,
				    int family)
{
	struct pw_dataplane *dp = pw_compile(c, e, opt);
	struct table t;

	memset(&t, 0, sizeof(t));
	t.t = family == AF_INET6 ? dp->filter6 : dp->filter;
	t.sets = dp->sets;
	if (dp_out)
		*dp_out = dp;
	else
		t.owned = dp;
	return t;
}

static struct table compiled(const struct pw_cluster *c, const struct pw_endpoints *e,
			     const struct pw_options *opt, struct pw_dataplane **dp_out)
{
	return compiled_family(c, e, opt, dp_out, AF_INET);
}

static bool entered(const struct walk *w, const char *chain)
{
	char needle[80];

	snprintf(needle, sizeof(needle), "%s ", chain);
	return strstr(w->trace, needle) != NULL;
}

static void chain_of(const struct pw_endpoint *ep, const char *kind, char out[64])
{
	snprintf(out, 64, "pw-%.2s-%.15s", kind, ep->id);
}

/* ------------------------------------------------------------ resolving */

START_TEST(test_no_view_names_like_calico)
{
	struct pw_cluster *c = cluster_of(3, 2, NULL);
	struct pw_options opt;
	struct pw_endpoints *e;
	char name[PW_IFACE_NAME_MAX + 1];

	options(&opt);
	e = pw_endpoints_resolve(c, &opt, NULL, NULL, NULL);
	ck_assert_uint_eq(e->count, 3);
	ck_assert(!e->looked);
	ck_assert_uint_eq(e->by_name, 0);
	pw_endpoint_iface_name("cali", "x", "p0", name);
	ck_assert_str_eq(endpoint_of(e, 0)->iface, name);
	ck_assert_str_eq(endpoint_of(e, 0)->id, name);
	ck_assert_int_eq(endpoint_of(e, 0)->source, PW_FOUND_BY_NAME);
	ck_assert_uint_eq(e->nbridges, 0);
	pw_endpoints_free(e);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

START_TEST(test_routes_find_random_names)
{
	struct pw_cluster *c = cluster_of(3, 1, NULL);
	struct pw_node_view *v = pw_node_view_new();
	struct pw_options opt;
	struct pw_endpoints *e;
	struct pw_cidr a = pw_test_ip("198.18.1.1"), b = pw_test_ip("198.18.1.2"), stray = pw_test_ip("198.18.9.9");
	struct pw_cidr remote = pw_test_ip("198.18.50.1"), mine = pw_test_ip("198.19.253.1");

	options(&opt);
	add_link(v, 1, "lo", PW_LINK_OTHER, 0);
	add_link(v, 10, "veth1a2b3c4d", PW_LINK_VETH, 0);
	add_link(v, 11, "vethdeadbeef", PW_LINK_VETH, 0);
	add_link(v, 12, "veth00c0ffee", PW_LINK_VETH, 0);	/* no pod known for it yet */
	add_link(v, 13, "pwremote", PW_LINK_VETH, 0);		/* where another node's pods are */
	add_link(v, 14, "pwnode0", PW_LINK_VETH, 0);		/* both ends here: the node's */
	add_link(v, 15, "pwnode1", PW_LINK_VETH, 0);
	{
		struct pw_node_link l = *pw_node_view_link(v, 14);

		l.peer = 15;
		l.peer_here = true;
		pw_node_view_set_link(v, &l);
		l = *pw_node_view_link(v, 15);
		l.peer = 14;
		l.peer_here = true;
		pw_node_view_set_link(v, &l);
	}
	pw_node_view_set_route(v, &a, 10, 0, true);
	pw_node_view_set_route(v, &b, 11, 0, true);
	pw_node_view_set_route(v, &stray, 12, 0, true);
	pw_node_view_set_route(v, &remote, 13, 0, true);
	pw_node_view_set_route(v, &mine, 14, 0, true);
	e = pw_endpoints_resolve(c, &opt, v, NULL, NULL);
	ck_assert_uint_eq(e->count, 3);
	ck_assert_str_eq(endpoint_of(e, 0)->iface, "veth1a2b3c4d");
	ck_assert_int_eq(endpoint_of(e, 0)->source, PW_FOUND_BY_ROUTE);
	ck_assert_str_eq(endpoint_of(e, 1)->iface, "vethdeadbeef");
	/* p2's route is not there yet: the naming rule keeps working. */
	ck_assert_int_eq(endpoint_of(e, 2)->source, PW_FOUND_BY_NAME);
	ck_assert_uint_eq(e->by_name, 1);
	ck_assert_uint_eq(e->nforeign, 1);
	ck_assert_str_eq(e->foreign[0], "veth00c0ffee");
	pw_endpoints_free(e);

	/* Forced to routes: p2 has no endpoint at all. */
	opt.endpoint_discovery = PW_DISCOVER_ROUTES;
	e = pw_endpoints_resolve(c, &opt, v, NULL, NULL);
	ck_assert_uint_eq(e->count, 2);
	pw_endpoints_free(e);
	/* Forced to Calico's names: the kernel is not read. */
	opt.endpoint_discovery = PW_DISCOVER_CALICO;
	e = pw_endpoints_resolve(c, &opt, v, NULL, NULL);
	ck_assert_uint_eq(e->count, 3);
	ck_assert(!e->looked);
	ck_assert_uint_eq(e->nforeign, 0);
	pw_endpoints_free(e);
	pw_node_view_free(v);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

START_TEST(test_bridge_binds_by_cni_then_neighbour)
{
	struct pw_cluster *c = cluster_of(4, 1, NULL);
	struct pw_node_view *v = flannel_view(4);
	struct pw_cni_cache cni = { NULL, 0 };
	struct pw_options opt;
	struct pw_endpoints *e;
	char name[16];

	options(&opt);
	cni_record(&cni, 0, 0, "x");
	learn(v, 1, 1);
	/* p2: the bridge learned it on p0's port, which the runtime says is p0's. */
	learn(v, 2, 0);
	e = pw_endpoints_resolve(c, &opt, v, &cni, NULL);
	ck_assert_uint_eq(e->count, 4);
	ck_assert_uint_eq(e->nbridges, 1);
	ck_assert_str_eq(e->bridges[0], "cni0");
	port_name(0, name);
	ck_assert_int_eq(endpoint_of(e, 0)->kind, PW_ENDPOINT_BRIDGED);
	ck_assert_int_eq(endpoint_of(e, 0)->source, PW_FOUND_BY_CNI);
	ck_assert_str_eq(endpoint_of(e, 0)->port, name);
	port_name(1, name);
	ck_assert_int_eq(endpoint_of(e, 1)->source, PW_FOUND_BY_NEIGHBOUR);
	ck_assert_str_eq(endpoint_of(e, 1)->port, name);
	ck_assert_int_eq(endpoint_of(e, 2)->source, PW_FOUND_ON_BRIDGE);
	ck_assert_str_eq(endpoint_of(e, 2)->port, "");
	ck_assert_int_eq(endpoint_of(e, 3)->source, PW_FOUND_ON_BRIDGE);
	ck_assert_uint_eq(e->conflicts, 1);
	/* The chain id is the pod's digest, not a port that may change. */
	ck_assert_uint_eq(strlen(endpoint_of(e, 2)->id), 11);
	pw_endpoints_free(e);
	pw_cni_cache_free(&cni);
	pw_node_view_free(v);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

START_TEST(test_cni_record_of_another_pod_is_ignored)
{
	struct pw_cluster *c = cluster_of(2, 0, NULL);
	struct pw_node_view *v = flannel_view(2);
	struct pw_cni_cache cni = { NULL, 0 };
	struct pw_options opt;
	struct pw_endpoints *e;

	options(&opt);
	/* A stale record: p0's address, but another pod's name. */
	cni_record(&cni, 0, 1, "y");
	/* A record whose port is gone. */
	cni_record(&cni, 1, 9, "x");
	e = pw_endpoints_resolve(c, &opt, v, &cni, NULL);
	ck_assert_int_eq(endpoint_of(e, 0)->source, PW_FOUND_ON_BRIDGE);
	ck_assert_int_eq(endpoint_of(e, 1)->source, PW_FOUND_ON_BRIDGE);
	pw_endpoints_free(e);
	pw_cni_cache_free(&cni);
	pw_node_view_free(v);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

START_TEST(test_two_pods_on_one_learned_port_bind_neither)
{
	struct pw_cluster *c = cluster_of(3, 0, NULL);
	struct pw_node_view *v = flannel_view(3);
	struct pw_options opt;
	struct pw_endpoints *e, *later;

	options(&opt);
	/* p1 answers for p0's address too: the bridge sees both on port 1. */
	learn(v, 0, 1);
	learn(v, 1, 1);
	e = pw_endpoints_resolve(c, &opt, v, NULL, NULL);
	ck_assert_str_eq(endpoint_of(e, 0)->port, "");
	ck_assert_str_eq(endpoint_of(e, 1)->port, "");
	ck_assert_uint_eq(e->conflicts, 2);
	pw_endpoints_free(e);

	/* p2 learned first keeps its port when p1 later claims p2's address. */
	pw_node_view_del_link(v, PORT_IFINDEX(0));
	learn(v, 2, 2);
	e = pw_endpoints_resolve(c, &opt, v, NULL, NULL);
	ck_assert_str_ne(endpoint_of(e, 2)->port, "");
	{
		struct pw_cidr a = pw_test_ip("198.18.1.3");
		uint8_t mac[6];

		mac_of(1, mac);
		pw_node_view_set_neighbour(v, BRIDGE_IFINDEX, &a, mac);
	}
	later = pw_endpoints_resolve(c, &opt, v, NULL, e);
	ck_assert_str_eq(endpoint_of(later, 2)->port, endpoint_of(e, 2)->port);
	ck_assert(pw_endpoints_equal(e, later));
	pw_endpoints_free(later);
	/* Without the earlier binding to keep, the claim is believed. */
	later = pw_endpoints_resolve(c, &opt, v, NULL, NULL);
	ck_assert(!pw_endpoints_equal(e, later));
	pw_endpoints_free(later);
	pw_endpoints_free(e);
	pw_node_view_free(v);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

START_TEST(test_describe)
{
	struct pw_cluster *c = cluster_of(2, 0, NULL);
	struct pw_node_view *v = flannel_view(2);
	struct pw_options opt;
	struct pw_endpoints *e;
	struct pw_buf b = PW_BUF_INIT;
	char name[16];

	options(&opt);
	learn(v, 0, 0);
	e = pw_endpoints_resolve(c, &opt, v, NULL, NULL);
	pw_endpoint_describe(endpoint_of(e, 0), &b);
	port_name(0, name);
	ck_assert_contains(b.data, "x/p0: bridged on cni0 port ");
	ck_assert_contains(b.data, name);
	pw_buf_reset(&b);
	pw_endpoint_describe(endpoint_of(e, 1), &b);
	ck_assert_str_eq(b.data, "x/p1: bridged on cni0 (address on the bridge, port not known yet)");
	pw_buf_free(&b);
	pw_endpoints_free(e);
	pw_node_view_free(v);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

/* ------------------------------------------------------------ walking */

/*
 * A flannel node: pods bound by the runtime's record, by what the bridge
 * learned, and not at all; every packet lands where it should and costs a
 * bounded number of rules, however many pods.
 */
static void flannel_walks(unsigned n)
{
	struct pw_cluster *c = cluster_of(n, 3, NULL);
	struct pw_node_view *v = flannel_view(n);
	struct pw_cni_cache cni = { NULL, 0 };
	struct pw_options opt;
	struct pw_endpoints *e;
	struct table t;
	struct walk w;
	unsigned i, worst = 0;

	options(&opt);
	/* A third by the runtime, a third learned, a third not known yet. */
	for (i = 0; i < n; i++) {
		if (i % 3 == 0)
			cni_record(&cni, i, i, "x");
		else if (i % 3 == 1)
			learn(v, i, i);
	}
	e = pw_endpoints_resolve(c, &opt, v, &cni, NULL);
	ck_assert_uint_eq(e->count, n);
	t = compiled(c, e, &opt, NULL);

	for (i = 0; i < n; i++) {
		const struct pw_endpoint *ep = endpoint_of(e, i), *peer = endpoint_of(e, (i + 1) % n);
		char me[32], other[32], port[16], peer_port[16], fw[64], tw[64];
		struct packet p;

		pod_ip(i, me);
		pod_ip((i + 1) % n, other);
		port_name(i, port);
		port_name((i + 1) % n, peer_port);
		chain_of(ep, "fw", fw);
		chain_of(peer, "tw", tw);
		ck_assert_int_eq(ep->kind, PW_ENDPOINT_BRIDGED);
		ck_assert_int_eq(ep->port[0] != '\0', i % 3 != 2);

		/* Pod to pod over the bridge: both chains, then accepted. */
		p = (struct packet){ "cni0", "cni0", port, peer_port, me, other, 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
		ck_assert_msg(entered(&w, fw) && entered(&w, tw), "pod %u: %s", i, w.trace);
		if (w.evaluated > worst)
			worst = w.evaluated;

		/* With another pod's source address: dropped, from a known port. */
		p.src = other;
		if (ep->port[0])
			ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
		/* With an address no pod has: dropped wherever it comes from. */
		p.src = "198.18.200.200";
		ck_assert_msg(walk(&t, "FORWARD", &p, &w) == V_DROP, "pod %u: %s", i, w.trace);

		/* From another node over flannel.1, routed into the bridge. */
		p = (struct packet){ "flannel.1", "cni0", NULL, NULL, "198.18.50.1", me, 0, NULL, 0 };
		chain_of(ep, "tw", tw);
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
		ck_assert_msg(entered(&w, tw), "pod %u: %s", i, w.trace);
		if (w.evaluated > worst)
			worst = w.evaluated;

		/* To another node: the pod's egress, then accepted. */
		p = (struct packet){ "cni0", "flannel.1", port, NULL, me, "198.18.50.1", 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
		ck_assert_msg(entered(&w, fw), "pod %u: %s", i, w.trace);

		/* To the node: its egress, then the node's own firewall. */
		p = (struct packet){ "cni0", NULL, port, NULL, me, "198.18.0.1", 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "INPUT", &p, &w), V_PASS);
		ck_assert_msg(entered(&w, fw), "pod %u: %s", i, w.trace);
	}
	{
		struct packet p = { "eth0", "eth1", NULL, NULL, "192.0.2.1", "192.0.2.2", 0, NULL, 0 };

		/* Neither end is a local pod: not podwall's to decide. */
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_PASS);
		p = (struct packet){ "lo", NULL, NULL, NULL, "127.0.0.1", "127.0.0.1", 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "INPUT", &p, &w), V_PASS);
		ck_assert_uint_eq(w.evaluated, 1);
		/*
		 * A port of the pods' bridge no known pod is behind: with the
		 * address of a pod whose port is known, dropped; with that of
		 * p2, whose port is not known yet, it passes as p2 (the
		 * window README describes); with any other, dropped.
		 */
		p = (struct packet){ "cni0", "cni0", "vethffffffff", NULL, "198.18.1.1",
				     "198.18.1.2", 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
		p.src = "198.18.1.3";
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
		p.src = "198.18.77.77";
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
		/* To an address on the bridge no pod has. */
		p = (struct packet){ "flannel.1", "cni0", NULL, NULL, "198.18.50.1",
				     "198.18.99.99", 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	}
	/* Split dispatch: a few dozen rules per packet, not one per pod. */
	printf("%u pods on a bridge: at most %u rules looked at per pod-to-pod packet\n", n,
	       worst);
	ck_assert_uint_le(worst, 80);
	table_free(&t);
	pw_endpoints_free(e);
	pw_cni_cache_free(&cni);
	pw_node_view_free(v);
	pw_cluster_free(c);
	pw_options_free(&opt);
}

START_TEST(test_flannel_few_pods)
{
	flannel_walks(6);
}
END_TEST

START_TEST(test_flannel_110_pods)
{
	flannel_walks(110);
}
END_TEST

START_TEST(test_flannel_policy_holds)
{
	struct pw_cluster *c = cluster_of(3, 0,
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: deny, namespace: x}\n"
		"spec: {podSelector: {matchLabels: {pod: p1}}, policyTypes: [Ingress]}\n");
	struct pw_node_view *v = flannel_view(3);
	struct pw_options opt;
	struct pw_endpoints *e;
	struct table t;
	struct walk w;
	char p0[16], p1[16];
	struct packet p;

	options(&opt);
	learn(v, 0, 0);
	learn(v, 1, 1);
	e = pw_endpoints_resolve(c, &opt, v, NULL, NULL);
	t = compiled(c, e, &opt, NULL);
	port_name(0, p0);
	port_name(1, p1);
	p = (struct packet){ "cni0", "cni0", p0, p1, "198.18.1.1", "198.18.1.2", 0, NULL, 0 };
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	p = (struct packet){ "cni0", "cni0", p1, p0, "198.18.1.2", "198.18.1.1", 0, NULL, 0 };
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
	/* Routed in, the receiver's policy still holds. */
	p = (struct packet){ "flannel.1", "cni0", NULL, NULL, "198.18.50.1", "198.18.1.2", 0, NULL, 0 };
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	/* The node itself never passes FORWARD: nothing to stop kubelet. */
	table_free(&t);
	pw_endpoints_free(e);
	pw_node_view_free(v);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

/*
 * t with chain name emptied (flushed), or gone with every rule naming it
 * (what an edited restore leaves).
 */
static void edit_table(struct table *t, const char *name, bool remove)
{
	struct pw_table *copy = pw_table_new(pw_table_name(t->t), pw_table_family(t->t));
	size_t i, j;

	ck_assert_msg(pw_table_find_chain(t->t, name) != NULL, "no chain %s", name);
	for (i = 0; i < pw_table_chain_count(t->t); i++) {
		const struct pw_chain *c = pw_table_chain_at(t->t, i);
		struct pw_chain *kept;
		bool flushed = strcmp(pw_chain_name(c), name) == 0;

		if (flushed && remove)
			continue;
		kept = pw_table_chain(copy, pw_chain_name(c));
		for (j = 0; j < pw_chain_rule_count(c) && !flushed; j++) {
			const struct pw_rule *r = pw_chain_rule_at(c, j);
			const char *target = pw_rule_target_chain(r);

			if (!remove || !target || strcmp(target, name) != 0)
				pw_chain_append(kept, pw_rule_dup(r));
		}
	}
	pw_table_free(t->edited);
	t->edited = copy;
	t->t = copy;
}

static void restore_without(struct table *t, const char *name)
{
	edit_table(t, name, true);
}

static void routed_walks(unsigned n)
{
	struct pw_cluster *c = cluster_of(n, 2, NULL);
	struct pw_node_view *v = pw_node_view_new();
	struct pw_cidr stray = pw_test_ip("198.18.9.9");
	struct pw_options opt;
	struct pw_endpoints *e;
	struct table t;
	struct walk w;
	unsigned i, worst = 0;

	options(&opt);
	add_link(v, 1, "lo", PW_LINK_OTHER, 0);
	add_link(v, 2, "eth0", PW_LINK_OTHER, 0);
	for (i = 0; i < n; i++) {
		char name[16], text[32];
		struct pw_cidr a;

		port_name(i, name);
		pod_ip(i, text);
		a = pw_test_ip(text);
		add_link(v, PORT_IFINDEX(i), name, PW_LINK_VETH, 0);
		pw_node_view_set_route(v, &a, PORT_IFINDEX(i), 0, true);
	}
	add_link(v, 9999, "vethbad00bad", PW_LINK_VETH, 0);
	pw_node_view_set_route(v, &stray, 9999, 0, true);
	e = pw_endpoints_resolve(c, &opt, v, NULL, NULL);
	ck_assert_uint_eq(e->count, n);
	t = compiled(c, e, &opt, NULL);
	for (i = 0; i < n; i++) {
		char me[32], other[32], dev[16], peer_dev[16];
		struct packet p;

		pod_ip(i, me);
		pod_ip((i + 1) % n, other);
		port_name(i, dev);
		port_name((i + 1) % n, peer_dev);
		p = (struct packet){ dev, peer_dev, NULL, NULL, me, other, 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
		if (w.evaluated > worst)
			worst = w.evaluated;
		p.src = other;
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
		p = (struct packet){ "eth0", dev, NULL, NULL, "192.0.2.1", me, 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
	}
	{
		struct packet p = { "vethbad00bad", "eth0", NULL, NULL, "198.18.9.9", "192.0.2.1", 0, NULL, 0 };

		/* A pod's veth with no known pod behind it. */
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
		ck_assert_int_eq(walk(&t, "INPUT", &p, &w), V_DROP);
		p = (struct packet){ "eth0", "vethbad00bad", NULL, NULL, "192.0.2.1", "198.18.9.9", 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
		/* Docker's veth, say: no route, not a pod's. */
		p = (struct packet){ "veth7f00d0d", "eth0", NULL, NULL, "172.17.0.2", "192.0.2.1", 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_PASS);
		/* An unknown cali interface stays dropped. */
		p = (struct packet){ "cali0123456789a", "eth0", NULL, NULL, "198.18.1.1", "192.0.2.1", 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	}
	{
		/* The node's own traffic pays the dispatches and the guards. */
		struct packet p = { "eth0", NULL, NULL, NULL, "192.0.2.1", "192.0.2.2", 0, NULL, 0 };

		ck_assert_int_eq(walk(&t, "INPUT", &p, &w), V_PASS);
		printf("%u routed pods: at most %u rules looked at per pod-to-pod packet, "
		       "%u per packet to the node from elsewhere\n", n, worst, w.evaluated);
		ck_assert_uint_le(w.evaluated, 60);
	}
	ck_assert_uint_le(worst, 80);
	{
		char dev[16], name[64], me[32];
		struct packet p;

		/* An edited restore without pod 1's chains: its traffic drops. */
		port_name(1, dev);
		pod_ip(1, me);
		chain_of(endpoint_of(e, 1), "tw", name);
		restore_without(&t, name);
		chain_of(endpoint_of(e, 1), "fw", name);
		restore_without(&t, name);
		p = (struct packet){ "eth0", dev, NULL, NULL, "192.0.2.1", me, 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
		p = (struct packet){ dev, "eth0", NULL, NULL, me, "192.0.2.1", 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
		ck_assert_int_eq(walk(&t, "INPUT", &p, &w), V_DROP);
		/* Without a whole dispatch child, its pods' traffic drops too. */
		if (n > 16) {
			char child[64], other[16];
			unsigned j;

			snprintf(child, sizeof(child), "pw-to-wl-dispatch-%c", dev[4]);
			restore_without(&t, child);
			for (j = 2; j < n; j++) {
				port_name(j, other);
				if (other[4] == dev[4])
					break;
			}
			ck_assert_uint_lt(j, n);
			pod_ip(j, me);
			p = (struct packet){ "eth0", other, NULL, NULL, "192.0.2.1", me, 0, NULL, 0 };
			ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
		}
	}
	table_free(&t);
	pw_endpoints_free(e);
	pw_node_view_free(v);
	pw_cluster_free(c);
	pw_options_free(&opt);
}

START_TEST(test_routed_few_pods)
{
	routed_walks(5);
}
END_TEST

START_TEST(test_routed_110_pods)
{
	routed_walks(110);
}
END_TEST

START_TEST(test_calico_names_walk)
{
	struct pw_cluster *c = cluster_of(40, 1, NULL);
	struct pw_options opt;
	struct table t;
	struct walk w;
	unsigned i;

	options(&opt);
	t = compiled(c, NULL, &opt, NULL);
	for (i = 0; i < 40; i++) {
		char me[32], name[PW_IFACE_NAME_MAX + 1], pod[8];
		struct packet p;

		snprintf(pod, sizeof(pod), "p%u", i);
		pw_endpoint_iface_name("cali", "x", pod, name);
		pod_ip(i, me);
		p = (struct packet){ name, "eth0", NULL, NULL, me, "192.0.2.1", 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
		p = (struct packet){ "eth0", name, NULL, NULL, "192.0.2.1", me, 0, NULL, 0 };
		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
	}
	{
		struct packet p = { "calizzzzzzzzzzz", "eth0", NULL, NULL, "198.18.1.1", "192.0.2.1", 0, NULL, 0 };

		ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	}
	table_free(&t);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

START_TEST(test_flushed_chain_fails_closed)
{
	struct pw_cluster *c = cluster_of(2, 0, NULL);
	struct pw_node_view *v = flannel_view(2);
	struct pw_options opt;
	struct pw_endpoints *e;
	struct table t;
	struct walk w;
	char port0[16], port1[16], name[64];
	struct packet p;

	options(&opt);
	learn(v, 0, 0);
	learn(v, 1, 1);
	e = pw_endpoints_resolve(c, &opt, v, NULL, NULL);
	t = compiled(c, e, &opt, NULL);
	port_name(0, port0);
	port_name(1, port1);
	chain_of(endpoint_of(e, 1), "tw", name);
	edit_table(&t, name, false);
	p = (struct packet){ "cni0", "cni0", port0, port1, "198.18.1.1", "198.18.1.2", 0, NULL, 0 };
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	/* Even an emptied bridge chain drops what it would have judged. */
	edit_table(&t, "pw-from-cni0", false);
	p = (struct packet){ "cni0", "flannel.1", port0, NULL, "198.18.1.1", "198.18.50.1", 0, NULL, 0 };
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	table_free(&t);
	pw_endpoints_free(e);
	pw_node_view_free(v);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

/*
 * A dual-stack flannel node: the IPv6 table holds the same policy for the
 * pods' IPv6 addresses, an IPv4-only pod sends no IPv6 of its own, and
 * neighbour discovery passes whatever isolates whom.
 */
START_TEST(test_dual_stack_flannel)
{
	static const char pods[] =
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p0, namespace: x, labels: {pod: p0}}\n"
		"spec: {nodeName: n1}\nstatus: {phase: Running, podIP: 198.18.1.1,"
		" podIPs: [{ip: 198.18.1.1}, {ip: 'fd00:18::1:1'}]}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p1, namespace: x, labels: {pod: p1}}\n"
		"spec: {nodeName: n1}\nstatus: {phase: Running, podIP: 198.18.1.2,"
		" podIPs: [{ip: 198.18.1.2}, {ip: 'fd00:18::1:2'}]}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p2, namespace: x, labels: {pod: p2}}\n"
		"spec: {nodeName: n1}\nstatus: {phase: Running, podIP: 198.18.1.3}\n---\n"
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: p1-from-p0, namespace: x}\n"
		"spec: {podSelector: {matchLabels: {pod: p1}}, ingress: [{from: [{podSelector:"
		" {matchLabels: {pod: p0}}}], ports: [{port: 80}]}]}\n";
	struct pw_cluster *c = pw_cluster_new();
	struct pw_node_view *v = flannel_view(3);
	struct pw_cni_cache cni = { NULL, 0 };
	struct pw_cidr gw6 = pw_test_prefix("fd00:18::ffff/64");
	struct pw_options opt;
	struct pw_endpoints *e;
	struct pw_dataplane *dp;
	struct table t;
	struct walk w;
	char p0[16], p1[16], p2[16];
	struct packet p;
	unsigned i;

	options(&opt);
	pw_test_load_manifest(c, pods);
	ck_assert(pw_node_view_set_addr(v, BRIDGE_IFINDEX, &gw6, true));
	for (i = 0; i < 3; i++)
		cni_record(&cni, i, i, "x");
	e = pw_endpoints_resolve(c, &opt, v, &cni, NULL);
	t = compiled_family(c, e, &opt, &dp, AF_INET6);
	ck_assert(dp->filter6 != NULL);
	port_name(0, p0);
	port_name(1, p1);
	port_name(2, p2);

	/* Echo to the isolated p1: only a rule with no ports would allow it. */
	p = (struct packet){ "cni0", "cni0", p0, p1, "fd00:18::1:1", "fd00:18::1:2", 0,
			     "ipv6-icmp", 128 };
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	/* Neighbour solicitation to it, from anyone, even from link-local. */
	p = (struct packet){ "cni0", "cni0", p2, p1, "fe80::2", "ff02::1:ff01:2", 0,
			     "ipv6-icmp", 135 };
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
	p.icmp6_type = 143;
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
	p = (struct packet){ "cni0", NULL, p1, NULL, "fe80::1", "fe80::ffff", 0, "ipv6-icmp", 133 };
	ck_assert_int_eq(walk(&t, "INPUT", &p, &w), V_PASS);
	/* The open p0 over IPv6, from p1; the IPv4-only p2 sends no IPv6 of its own. */
	p = (struct packet){ "cni0", "cni0", p1, p0, "fd00:18::1:2", "fd00:18::1:1", 0, "udp", 0 };
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
	p = (struct packet){ "cni0", "cni0", p2, p0, "fd00:18::1:3", "fd00:18::1:1", 0, "udp", 0 };
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	p.src = "fe80::3";
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	/* Another pod's IPv6 address from p0's port: dropped. */
	p = (struct packet){ "cni0", "flannel-v6.1", p0, NULL, "fd00:18::1:2", "fd00:19::1", 0,
			     "udp", 0 };
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_DROP);
	p.src = "fd00:18::1:1";
	ck_assert_int_eq(walk(&t, "FORWARD", &p, &w), V_ACCEPT);
	/* The sets: p0's IPv6 address in p1's peer set of the IPv6 family. */
	{
		size_t k;
		bool found = false;

		for (k = 0; k < pw_setlist_count(dp->sets); k++) {
			const struct pw_set *set = pw_setlist_at(dp->sets, k);

			if (pw_set_family(set) == AF_INET6 && pw_set_has_member(set, "fd00:18::1:1"))
				found = !pw_set_has_member(set, "198.18.1.1");
		}
		ck_assert(found);
	}
	table_free(&t);
	pw_dataplane_free(dp);
	pw_endpoints_free(e);
	pw_cni_cache_free(&cni);
	pw_node_view_free(v);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

static Suite *endpoints_suite(void)
{
	Suite *s = suite_create("endpoints");
	TCase *resolve = tcase_create("resolve");
	TCase *walks = tcase_create("walks");

	tcase_add_test(resolve, test_no_view_names_like_calico);
	tcase_add_test(resolve, test_routes_find_random_names);
	tcase_add_test(resolve, test_bridge_binds_by_cni_then_neighbour);
	tcase_add_test(resolve, test_cni_record_of_another_pod_is_ignored);
	tcase_add_test(resolve, test_two_pods_on_one_learned_port_bind_neither);
	tcase_add_test(resolve, test_describe);
	suite_add_tcase(s, resolve);
	tcase_set_timeout(walks, 60);
	tcase_add_test(walks, test_flannel_few_pods);
	tcase_add_test(walks, test_flannel_110_pods);
	tcase_add_test(walks, test_flannel_policy_holds);
	tcase_add_test(walks, test_routed_few_pods);
	tcase_add_test(walks, test_routed_110_pods);
	tcase_add_test(walks, test_calico_names_walk);
	tcase_add_test(walks, test_flushed_chain_fails_closed);
	tcase_add_test(walks, test_dual_stack_flannel);
	suite_add_tcase(s, walks);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(endpoints_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
