/*
 * The policy compiler. Layout, after Calico's Felix:
 *
 *   INPUT   -> <p>INPUT   -i cali+ -> <p>from-wl-dispatch (egress toward the node)
 *   FORWARD -> <p>FORWARD -i cali+ -> <p>from-wl-dispatch
 *                         -o cali+ -> <p>to-wl-dispatch, then ACCEPT what both allowed
 *   OUTPUT  -> <p>OUTPUT  (the node may always reach its pods)
 *
 * A dispatch chain sends each local interface to its own chain with -g and
 * drops what comes from an interface it does not know (fail closed). The
 * interface chain (<p>tw-<if> for traffic to the pod, <p>fw-<if> from it)
 * accepts replies, drops INVALID and, when a policy isolates the pod in that
 * direction, calls each policy chain until one sets the accept mark; if none
 * does, the packet is dropped. A policy chain (<p>pi-/<p>po-<digest>) is
 * shared by every pod the policy selects; each allow rule jumps by -g to
 * <p>allow, which sets the mark and so returns straight to the interface
 * chain. An interface chain that allows returns to <p>FORWARD, so traffic
 * between two local pods must pass the sender's egress and the receiver's
 * ingress before it is accepted.
 *
 * Allowing is an act, never the absence of one: <p>INPUT and <p>FORWARD
 * clear the accept mark before each dispatch and drop what comes back
 * without it, and an interface chain no policy isolates sets the mark as
 * its last rule. So a chain someone flushed, a dispatch chain emptied or a
 * rule deleted from either (a return through -g lands in <p>FORWARD, whose
 * ACCEPT would otherwise take it) drops the packet instead of opening the pod.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "chains/rule.h"
#include "engine/compile.h"
#include "engine/endpoint.h"
#include "lib/hash.h"
#include "lib/strmap.h"
#include "lib/util.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

/* 16 base32 characters: 80 bits, and room for an 8-character prefix. */
#define DIGEST_CHARS 16

enum direction {
	INGRESS,
	EGRESS,
};

/* A set member with its address formatted once, not once a set. */
struct member_pod {
	const struct pw_pod *pod;
	char ip[PW_CIDR_STRLEN];
};

struct pod_list {
	const struct member_pod **pods;
	size_t count;
	size_t cap;
	const struct pw_labels *ns_labels;
	struct pw_labels *own_labels;	/* for a namespace we only know from its pods */
};

struct compiler {
	const struct pw_cluster *cluster;
	const struct pw_options *cfg;
	const struct pw_endpoints *endpoints;
	struct pw_dataplane *dp;
	int family;			/* the table being built: AF_INET or AF_INET6 */
	struct pw_table *table;
	struct pw_strmap *namespaces;	/* name -> struct pod_list */
	struct member_pod *members;	/* every pod a set may hold */
	size_t nmembers;
	struct pw_strmap *policies;	/* namespace -> struct policy_list */
	struct pw_buf name;		/* scratch for chain and set names */
	/* The policy rule and peer the allow rules being emitted come from. */
	const struct pw_policy *origin_policy;
	bool origin_ingress;
	size_t origin_rule;
	size_t origin_peer;
};

/* What a pod set was filled from, so that it can be filled again alone. */
struct set_source {
	char *set;
	int family;
	bool named_port;
	char *ns;
	struct pw_selector *nssel;
	struct pw_selector *podsel;
	struct pw_policy_port port;	/* named_port: name and protocol */
};

struct pw_set_sources {
	struct set_source *items;
	size_t count;
	size_t cap;
};

/* A peer of a rule, reduced to what a packet can be matched on. */
struct peer_match {
	const char *set;		/* NULL: any address */
	/* Where an egress named port is looked up: the peer's pods. */
	const char *scope_ns;
	const struct pw_selector *scope_nssel;
	const struct pw_selector *scope_podsel;
};

static uint8_t ipproto(enum pw_protocol p)
{
	switch (p) {
	case PW_PROTO_UDP:
		return IPPROTO_UDP;
	case PW_PROTO_SCTP:
		return IPPROTO_SCTP;
	case PW_PROTO_TCP:
	default:
		return IPPROTO_TCP;
	}
}

static const char *chain_name(struct compiler *cc, const char *suffix)
{
	pw_buf_reset(&cc->name);
	pw_buf_printf(&cc->name, "%s%s", cc->cfg->prefix, suffix);
	return cc->name.data;
}

/*
 * A set's kind in its name: "s", "b", "n" for IPv4 (as they always were),
 * "s6", "b6", "n6" for IPv6, so that the two families' sets never share a
 * name however alike their sources.
 */
static const char *set_kind(const struct compiler *cc, const char *kind)
{
	static const char *const v6[] = { "s6", "b6", "n6" };

	if (cc->family != AF_INET6)
		return kind;
	return v6[kind[0] == 's' ? 0 : kind[0] == 'b' ? 1 : 2];
}

static const char *digest_name(struct compiler *cc, const char *kind, const char *key)
{
	char digest[DIGEST_CHARS + 1];

	pw_digest_name(key, digest, DIGEST_CHARS);
	pw_buf_reset(&cc->name);
	pw_buf_printf(&cc->name, "%s%s-%s", cc->cfg->prefix, kind, digest);
	return cc->name.data;
}

static struct pw_chain *chain(struct compiler *cc, const char *name)
{
	/* Names are built to fit; a NULL here is a bug, not bad input. */
	struct pw_chain *c = pw_table_chain(cc->table, name);

	if (!c)
		abort();
	return c;
}

/* ------------------------------------------------------------------ pods */

static struct pod_list *namespace_pods(struct compiler *cc, const char *ns)
{
	struct pod_list *l = pw_strmap_get(cc->namespaces, ns);
	const struct pw_namespace *obj;

	if (l)
		return l;
	l = pw_xcalloc(1, sizeof(*l));
	obj = pw_cluster_namespace(cc->cluster, ns);
	if (obj) {
		l->ns_labels = obj->labels;
	} else {
		/* The API server would have labelled it; manifests may omit it. */
		l->own_labels = pw_labels_new();
		pw_labels_set(l->own_labels, "kubernetes.io/metadata.name", ns);
		l->ns_labels = l->own_labels;
	}
	pw_strmap_put(cc->namespaces, ns, l);
	return l;
}

static int index_pod(const struct pw_pod *pod, void *ctx)
{
	struct compiler *cc = ctx;
	struct member_pod *m = &cc->members[cc->nmembers];
	struct pod_list *l;

	if (!pw_pod_is_addressable(pod) || !pw_pod_address(pod, cc->family))
		return 0;
	m->pod = pod;
	pw_cidr_format(pw_pod_address(pod, cc->family), false, m->ip);
	cc->nmembers++;
	l = namespace_pods(cc, pod->namespace);
	PW_GROW(l->pods, l->cap, l->count + 1);
	l->pods[l->count++] = m;
	return 0;
}

/* Pods in any order: sets sort their members and endpoints their names. */
static void index_pods(struct compiler *cc)
{
	size_t i, n = pw_cluster_namespace_count(cc->cluster);

	for (i = 0; i < n; i++)
		namespace_pods(cc, pw_cluster_namespace_at(cc->cluster, i)->name);
	cc->members = pw_xcalloc(pw_cluster_pod_count(cc->cluster), sizeof(*cc->members));
	pw_cluster_foreach_pod(cc->cluster, index_pod, cc);
}

/* A namespace's policies in name order: a pod is only ever selected by those. */
struct policy_list {
	const struct pw_policy **policies;
	size_t count;
	size_t cap;
};

static void index_policies(struct compiler *cc)
{
	size_t i, n = pw_cluster_policy_count(cc->cluster);

	for (i = 0; i < n; i++) {
		const struct pw_policy *p = pw_cluster_policy_at(cc->cluster, i);
		struct policy_list *l = pw_strmap_get(cc->policies, p->namespace);

		if (!l) {
			l = pw_xcalloc(1, sizeof(*l));
			pw_strmap_put(cc->policies, p->namespace, l);
		}
		PW_GROW(l->policies, l->cap, l->count + 1);
		l->policies[l->count++] = p;
	}
}

static int free_policy_list(const char *key, void *value, void *ctx)
{
	struct policy_list *l = value;

	(void)key;
	(void)ctx;
	free(l->policies);
	free(l);
	return 0;
}

static int free_pod_list(const char *key, void *value, void *ctx)
{
	struct pod_list *l = value;

	(void)key;
	(void)ctx;
	free(l->pods);
	pw_labels_free(l->own_labels);
	free(l);
	return 0;
}

/*
 * Pods of a peer or subject: those of namespace ns, or of every namespace
 * nssel selects, that podsel (NULL: all) selects.
 */
struct scope_walk {
	const struct pw_selector *nssel;
	const struct pw_selector *podsel;
	void (*fn)(const struct member_pod *m, void *ctx);
	void *ctx;
};

static void walk_namespace(const struct pod_list *l, const struct scope_walk *w)
{
	size_t i;

	for (i = 0; i < l->count; i++) {
		if (!w->podsel || pw_selector_matches(w->podsel, l->pods[i]->pod->labels))
			w->fn(l->pods[i], w->ctx);
	}
}

static int walk_if_selected(const char *key, void *value, void *ctx)
{
	const struct scope_walk *w = ctx;
	const struct pod_list *l = value;

	(void)key;
	if (pw_selector_matches(w->nssel, l->ns_labels))
		walk_namespace(l, w);
	return 0;
}

static void for_each_pod(struct compiler *cc, const char *ns,
			 const struct pw_selector *nssel, const struct pw_selector *podsel,
			 void (*fn)(const struct member_pod *m, void *ctx), void *ctx)
{
	struct scope_walk w = { nssel, podsel, fn, ctx };

	if (nssel)
		pw_strmap_foreach(cc->namespaces, walk_if_selected, &w);
	else
		walk_namespace(namespace_pods(cc, ns), &w);
}

/* ------------------------------------------------------------------ sets */

static void scope_key(struct pw_buf *key, const char *ns, const struct pw_selector *nssel,
		      const struct pw_selector *podsel)
{
	if (nssel)
		pw_buf_printf(key, "nssel=%s", pw_selector_canonical(nssel));
	else
		pw_buf_printf(key, "ns=%s", ns);
	pw_buf_printf(key, "|pods=%s", podsel ? pw_selector_canonical(podsel) : "");
}

/* Returns the set called name, or creates it and lets fill populate it. */
static const char *ensure_set(struct compiler *cc, const char *name, enum pw_set_type type,
			      void (*fill)(struct compiler *cc, struct pw_set *s, void *ctx),
			      void *ctx)
{
	struct pw_set *s = pw_setlist_find(cc->dp->sets, name);

	if (!s) {
		s = pw_set_new(name, type, cc->family);
		if (!s)
			abort();
		fill(cc, s, ctx);
		pw_setlist_add(cc->dp->sets, s);
	}
	return pw_set_name(s);
}

struct scope_ctx {
	const char *ns;
	const struct pw_selector *nssel;
	const struct pw_selector *podsel;
	/* named ports only */
	const char *port_name;
	enum pw_protocol protocol;
	struct pw_set *set;
};

static void record_source(struct compiler *cc, const struct pw_set *s,
			  const struct scope_ctx *sc, bool named_port)
{
	struct pw_set_sources *l = cc->dp->sources;
	struct set_source *src;

	if (!l)
		return;
	PW_GROW(l->items, l->cap, l->count + 1);
	src = &l->items[l->count++];
	memset(src, 0, sizeof(*src));
	src->set = pw_xstrdup(pw_set_name(s));
	src->family = cc->family;
	src->named_port = named_port;
	src->ns = sc->ns ? pw_xstrdup(sc->ns) : NULL;
	src->nssel = sc->nssel ? pw_selector_dup(sc->nssel) : NULL;
	src->podsel = sc->podsel ? pw_selector_dup(sc->podsel) : NULL;
	if (named_port) {
		src->port.kind = PW_PORT_NAMED;
		src->port.protocol = sc->protocol;
		src->port.name = pw_xstrdup(sc->port_name);
	}
}

static void free_sources(struct pw_set_sources *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->count; i++) {
		free(l->items[i].set);
		free(l->items[i].ns);
		pw_selector_free(l->items[i].nssel);
		pw_selector_free(l->items[i].podsel);
		free(l->items[i].port.name);
	}
	free(l->items);
	free(l);
}

static void add_pod_ip(const struct member_pod *m, void *ctx)
{
	struct scope_ctx *sc = ctx;

	pw_set_add_ip_text(sc->set, m->ip);
}

static void fill_selector_set(struct compiler *cc, struct pw_set *s, void *ctx)
{
	struct scope_ctx *sc = ctx;

	sc->set = s;
	record_source(cc, s, sc, false);
	for_each_pod(cc, sc->ns, sc->nssel, sc->podsel, add_pod_ip, sc);
}

static const char *selector_set(struct compiler *cc, const char *ns,
				const struct pw_selector *nssel,
				const struct pw_selector *podsel)
{
	struct scope_ctx sc = { ns, nssel, podsel, NULL, PW_PROTO_TCP, NULL };
	struct pw_buf key = PW_BUF_INIT;
	const char *name;

	scope_key(&key, ns, nssel, podsel);
	name = ensure_set(cc, digest_name(cc, set_kind(cc, "s"), key.data), PW_SET_HASH_IP,
			  fill_selector_set, &sc);
	pw_buf_free(&key);
	return name;
}

static void add_named_port(const struct member_pod *m, void *ctx)
{
	const struct pw_pod *pod = m->pod;
	struct scope_ctx *sc = ctx;
	size_t i;

	for (i = 0; i < pod->nports; i++) {
		const struct pw_container_port *p = &pod->ports[i];

		if (p->name && p->protocol == sc->protocol && strcmp(p->name, sc->port_name) == 0)
			pw_set_add_ip_port(sc->set, pw_pod_address(pod, pw_set_family(sc->set)),
					   pw_protocol_name(p->protocol), p->number);
	}
}

static void fill_named_port_set(struct compiler *cc, struct pw_set *s, void *ctx)
{
	struct scope_ctx *sc = ctx;

	sc->set = s;
	record_source(cc, s, sc, true);
	for_each_pod(cc, sc->ns, sc->nssel, sc->podsel, add_named_port, sc);
}

/*
 * A named port means a different number on each pod that declares it, so
 * it becomes the set of (pod address, protocol:number) it resolves to on
 * the destination pods, matched on destination address and port at once.
 */
static const char *named_port_set(struct compiler *cc, const char *ns,
				  const struct pw_selector *nssel,
				  const struct pw_selector *podsel,
				  const struct pw_policy_port *port)
{
	struct scope_ctx sc = { ns, nssel, podsel, port->name, port->protocol, NULL };
	struct pw_buf key = PW_BUF_INIT;
	const char *name;

	scope_key(&key, ns, nssel, podsel);
	pw_buf_printf(&key, "|port=%s/%s", port->name, pw_protocol_name(port->protocol));
	name = ensure_set(cc, digest_name(cc, set_kind(cc, "n"), key.data), PW_SET_HASH_IP_PORT,
			  fill_named_port_set, &sc);
	pw_buf_free(&key);
	return name;
}

static void fill_ipblock_set(struct compiler *cc, struct pw_set *s, void *ctx)
{
	const struct pw_ipblock *b = ctx;
	size_t i;

	(void)cc;
	pw_set_add_net(s, &b->cidr, false);
	/* The longest prefix wins in hash:net, so a nomatch except carves a hole. */
	for (i = 0; i < b->nexcept; i++)
		pw_set_add_net(s, &b->except[i], true);
}

static int cmp_cidr(const void *a, const void *b)
{
	return pw_cidr_cmp(a, b);
}

static const char *ipblock_set(struct compiler *cc, const struct pw_ipblock *b)
{
	struct pw_buf key = PW_BUF_INIT;
	char text[PW_CIDR_STRLEN];
	struct pw_cidr *sorted;
	const char *name;
	size_t i;

	sorted = pw_xcalloc(b->nexcept, sizeof(*sorted));
	if (b->nexcept) {
		memcpy(sorted, b->except, b->nexcept * sizeof(*sorted));
		qsort(sorted, b->nexcept, sizeof(*sorted), cmp_cidr);
	}
	pw_cidr_format(&b->cidr, true, text);
	pw_buf_printf(&key, "cidr=%s|except=", text);
	for (i = 0; i < b->nexcept; i++) {
		pw_cidr_format(&sorted[i], true, text);
		pw_buf_printf(&key, "%s%s", i ? "," : "", text);
	}
	free(sorted);
	name = ensure_set(cc, digest_name(cc, set_kind(cc, "b"), key.data), PW_SET_HASH_NET,
			  fill_ipblock_set, (void *)b);
	pw_buf_free(&key);
	return name;
}

/* -------------------------------------------------------- policy chains */

static const char *allow_chain(struct compiler *cc)
{
	return chain_name(cc, "allow");
}

static struct pw_rule *allow_rule(struct compiler *cc)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_goto(r, allow_chain(cc));
	return r;
}

static void origin_key(struct pw_buf *key, int family, const char *chain, size_t index)
{
	pw_buf_reset(key);
	pw_buf_printf(key, "%d %s %zu", family, chain, index);
}

/* Appends an allow rule, remembering the policy rule it comes from. */
static void append_allow(struct compiler *cc, struct pw_chain *c, struct pw_rule *r)
{
	struct pw_rule_origin *o = pw_xcalloc(1, sizeof(*o));
	struct pw_buf key = PW_BUF_INIT;

	o->policy = pw_xasprintf("%s/%s", cc->origin_policy->namespace, cc->origin_policy->name);
	o->ingress = cc->origin_ingress;
	o->rule = cc->origin_rule;
	o->peer = cc->origin_peer;
	origin_key(&key, cc->family, pw_chain_name(c), pw_chain_rule_count(c));
	pw_chain_append(c, r);
	pw_strmap_put(cc->dp->origins, key.data, o);
	pw_buf_free(&key);
}

const struct pw_rule_origin *pw_dataplane_rule_origin(const struct pw_dataplane *dp, int family,
						      const char *chain, size_t index)
{
	struct pw_buf key = PW_BUF_INIT;
	const struct pw_rule_origin *o;

	origin_key(&key, family, chain, index);
	o = pw_strmap_get(dp->origins, key.data);
	pw_buf_free(&key);
	return o;
}

static int free_origin(const char *key, void *value, void *ctx)
{
	struct pw_rule_origin *o = value;

	(void)key;
	(void)ctx;
	free(o->policy);
	free(o);
	return 0;
}

/* One allow rule: peer and one port alternative. */
static void emit_numeric_ports(struct compiler *cc, struct pw_chain *c,
			       const struct peer_match *peer, enum direction dir,
			       const struct pw_policy_rule *rule)
{
	enum pw_protocol proto;
	size_t i;

	for (proto = PW_PROTO_TCP; proto < PW_PROTO_COUNT; proto++) {
		struct pw_port_range ranges[PW_MULTIPORT_SLOTS];
		size_t n = 0, slots = 0;

		for (i = 0; i <= rule->nports; i++) {
			const struct pw_policy_port *p = i < rule->nports ? &rule->ports[i] : NULL;
			size_t need = p && p->end_port > p->port ? 2 : 1;
			struct pw_rule *r;

			if (p && (p->kind != PW_PORT_NUMBER || p->protocol != proto))
				continue;
			if (p && slots + need <= PW_MULTIPORT_SLOTS) {
				ranges[n].first = p->port;
				ranges[n++].last = p->end_port;
				slots += need;
				continue;
			}
			/* The list is full, or this was the last port: flush it. */
			if (n) {
				r = allow_rule(cc);
				pw_rule_set_protocol(r, ipproto(proto));
				if (peer->set)
					pw_rule_add_set(r, peer->set,
							dir == INGRESS ? PW_SET_SRC : PW_SET_DST,
							false);
				if (n == 1)
					pw_rule_add_dport(r, ranges[0].first, ranges[0].last);
				else
					pw_rule_add_multiport(r, ranges, n);
				append_allow(cc, c, r);
			}
			n = slots = 0;
			if (p) {
				ranges[n].first = p->port;
				ranges[n++].last = p->end_port;
				slots = need;
			}
		}
	}
}

static void emit_rule_for_peer(struct compiler *cc, struct pw_chain *c,
			       const struct pw_policy *policy, enum direction dir,
			       const struct pw_policy_rule *rule,
			       const struct peer_match *peer)
{
	enum pw_set_dir peer_dir = dir == INGRESS ? PW_SET_SRC : PW_SET_DST;
	bool proto_done[PW_PROTO_COUNT] = { false, false, false };
	struct pw_rule *r;
	size_t i;

	if (rule->nports == 0) {
		r = allow_rule(cc);
		if (peer->set)
			pw_rule_add_set(r, peer->set, peer_dir, false);
		append_allow(cc, c, r);
		return;
	}
	for (i = 0; i < rule->nports; i++) {
		const struct pw_policy_port *p = &rule->ports[i];
		const char *named;

		if (p->kind == PW_PORT_NUMBER)
			continue;
		if (p->kind == PW_PORT_ALL) {
			if (proto_done[p->protocol])
				continue;
			proto_done[p->protocol] = true;
		}
		r = allow_rule(cc);
		pw_rule_set_protocol(r, ipproto(p->protocol));
		if (peer->set)
			pw_rule_add_set(r, peer->set, peer_dir, false);
		if (p->kind == PW_PORT_NAMED) {
			/* Ingress: the port of the pod the policy protects; egress: the peer's. */
			if (dir == INGRESS)
				named = named_port_set(cc, policy->namespace, NULL,
						       policy->pod_selector, p);
			else
				named = named_port_set(cc, peer->scope_ns, peer->scope_nssel,
						       peer->scope_podsel, p);
			pw_rule_add_set(r, named, PW_SET_DST_DST, false);
		}
		append_allow(cc, c, r);
	}
	emit_numeric_ports(cc, c, peer, dir, rule);
}

static bool peer_to_match(struct compiler *cc, const struct pw_policy *policy,
			  const struct pw_policy_peer *peer,
			  const struct pw_selector *everything, struct peer_match *m)
{
	memset(m, 0, sizeof(*m));
	if (peer->ipblock) {
		/* A block of the other family says nothing about this one's packets. */
		if (peer->ipblock->cidr.family != cc->family)
			return false;
		m->set = ipblock_set(cc, peer->ipblock);
		/* Pods inside the block may be anywhere: so may their named ports. */
		m->scope_nssel = everything;
	} else if (peer->namespace_selector) {
		m->scope_nssel = peer->namespace_selector;
		m->scope_podsel = peer->pod_selector;
		m->set = selector_set(cc, NULL, m->scope_nssel, m->scope_podsel);
	} else {
		m->scope_ns = policy->namespace;
		m->scope_podsel = peer->pod_selector;
		m->set = selector_set(cc, m->scope_ns, NULL, m->scope_podsel);
	}
	return true;
}

static void emit_policy_rule(struct compiler *cc, struct pw_chain *c,
			     const struct pw_policy *policy, enum direction dir,
			     const struct pw_policy_rule *rule, const struct pw_selector *everything)
{
	struct peer_match m;
	size_t i;

	if (rule->npeers == 0) {
		/* Any address; an egress named port may then be on any pod. */
		memset(&m, 0, sizeof(m));
		m.scope_nssel = everything;
		cc->origin_peer = PW_ORIGIN_ANY_PEER;
		emit_rule_for_peer(cc, c, policy, dir, rule, &m);
		return;
	}
	for (i = 0; i < rule->npeers; i++) {
		cc->origin_peer = i;
		if (peer_to_match(cc, policy, &rule->peers[i], everything, &m))
			emit_rule_for_peer(cc, c, policy, dir, rule, &m);
	}
}

static char *policy_chain_name(struct compiler *cc, const struct pw_policy *policy,
			       enum direction dir)
{
	struct pw_buf key = PW_BUF_INIT;
	char *name;

	pw_buf_printf(&key, "%s/%s", policy->namespace, policy->name);
	name = pw_xstrdup(digest_name(cc, dir == INGRESS ? "pi" : "po", key.data));
	pw_buf_free(&key);
	return name;
}

/* Builds the policy's chain once, however many local pods it selects. */
static char *ensure_policy_chain(struct compiler *cc, const struct pw_policy *policy,
				 enum direction dir)
{
	char *name = policy_chain_name(cc, policy, dir);
	const struct pw_policy_rule *rules = dir == INGRESS ? policy->ingress : policy->egress;
	size_t nrules = dir == INGRESS ? policy->ningress : policy->negress;
	struct pw_selector *everything;
	struct pw_chain *c;
	size_t i;

	if (pw_table_find_chain(cc->table, name))
		return name;
	/* A policy without rules still gets its (empty) chain: it only isolates. */
	c = chain(cc, name);
	everything = pw_selector_new();
	cc->origin_policy = policy;
	cc->origin_ingress = dir == INGRESS;
	for (i = 0; i < nrules; i++) {
		cc->origin_rule = i;
		emit_policy_rule(cc, c, policy, dir, &rules[i], everything);
	}
	pw_selector_free(everything);
	return name;
}

/* ------------------------------------------------------ endpoint chains */

static bool policy_applies(const struct pw_policy *policy, const struct pw_pod *pod,
			   enum direction dir)
{
	unsigned type = dir == INGRESS ? PW_POLICY_INGRESS : PW_POLICY_EGRESS;

	return (policy->types & type) && strcmp(policy->namespace, pod->namespace) == 0 &&
	       pw_selector_matches(policy->pod_selector, pod->labels);
}

void pw_endpoint_chain_name(const char *prefix, const struct pw_endpoint *ep, bool ingress,
			    struct pw_buf *out)
{
	pw_buf_reset(out);
	pw_buf_printf(out, "%s%s-%s", prefix, ingress ? "tw" : "fw", ep->id);
}

static const char *endpoint_chain_name(struct compiler *cc, const struct pw_endpoint *ep,
				       enum direction dir)
{
	pw_endpoint_chain_name(cc->cfg->prefix, ep, dir == INGRESS, &cc->name);
	return cc->name.data;
}

/* "~" and this many digest characters end a prefix that had to be cut. */
#define DENY_LOG_DIGEST_CHARS 8

void pw_deny_log_prefix(const char *prefix, const char *ns, const char *pod, bool ingress,
			char out[PW_DENY_LOG_PREFIX_SIZE])
{
	struct pw_buf key = PW_BUF_INIT, text = PW_BUF_INIT;
	char digest[DENY_LOG_DIGEST_CHARS + 1];
	size_t head = PW_DENY_LOG_PREFIX_SIZE - 1 - 1 - DENY_LOG_DIGEST_CHARS;

	pw_buf_printf(&key, "%s/%s", ns, pod);
	pw_buf_printf(&text, "%sdeny %s %s", prefix, ingress ? "ingress" : "egress", key.data);
	if (text.len < PW_DENY_LOG_PREFIX_SIZE) {
		memcpy(out, text.data, text.len + 1);
	} else {
		pw_digest_name(key.data, digest, DENY_LOG_DIGEST_CHARS);
		memcpy(out, text.data, head);
		out[head] = '~';
		memcpy(out + head + 1, digest, DENY_LOG_DIGEST_CHARS + 1);
	}
	pw_buf_free(&text);
	pw_buf_free(&key);
}

/* --deny-log=all, or =namespaces and the pod's namespace asks for it. */
static bool deny_logged(const struct compiler *cc, const struct pw_pod *pod)
{
	const struct pw_namespace *ns;

	switch (cc->cfg->deny_log) {
	case PW_DENY_LOG_ALL:
		return true;
	case PW_DENY_LOG_NAMESPACES:
		ns = pw_cluster_namespace(cc->cluster, pod->namespace);
		return ns && ns->deny_log;
	case PW_DENY_LOG_OFF:
		break;
	}
	return false;
}

/*
 * A copy of what the final drop is about to take, to the NFLOG group,
 * rate-limited per pod and direction. Only here: NetworkPolicy is a union
 * of allows, so no earlier rule knows that a packet is denied.
 */
static void append_deny_log(struct compiler *cc, struct pw_chain *c, const struct pw_pod *pod,
			    enum direction dir)
{
	char prefix[PW_DENY_LOG_PREFIX_SIZE];
	struct pw_rule *r = pw_rule_new();

	pw_deny_log_prefix(cc->cfg->prefix, pod->namespace, pod->name, dir == INGRESS, prefix);
	pw_rule_add_mark(r, 0, cc->cfg->accept_mark, false);
	/* The options were validated against the same check: this cannot fail. */
	if (pw_rule_add_limit(r, cc->cfg->deny_log_rate, cc->cfg->deny_log_rate_unit,
			      cc->cfg->deny_log_burst) < 0)
		abort();
	pw_rule_set_nflog(r, (uint16_t)cc->cfg->deny_log_group, prefix);
	pw_chain_append(c, r);
}

/*
 * A pod sends with its own address only: anything else from its interface
 * or port would be judged as some other pod, or as no pod at all. Before
 * conntrack's ESTABLISHED, which would otherwise take a forged packet that
 * fits another pod's connection.
 */
static void append_source_guard(struct pw_chain *c, const struct pw_pod *pod, int family)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_src(r, pw_pod_address(pod, family), true);
	pw_rule_add_comment(r, "a source address the pod does not own");
	pw_rule_set_verdict(r, PW_TARGET_DROP);
	pw_chain_append(c, r);
}

static void emit_endpoint_chain(struct compiler *cc, const struct pw_endpoint *ep,
				enum direction dir)
{
	uint32_t mark = cc->cfg->accept_mark;
	const struct policy_list *policies = pw_strmap_get(cc->policies, ep->pod->namespace);
	size_t i, n = policies ? policies->count : 0;
	bool isolated = false;
	struct pw_chain *c;
	struct pw_rule *r;

	c = chain(cc, endpoint_chain_name(cc, ep, dir));
	/*
	 * A pod without an address of this family has no traffic of it but
	 * neighbour discovery, which passes before any dispatch: its chains
	 * drop, and call no policy (whose sets would then be of no use).
	 */
	if (!pw_pod_address(ep->pod, cc->family)) {
		r = pw_rule_new();
		pw_rule_add_comment(r, "the pod has no address of this family");
		pw_rule_set_verdict(r, PW_TARGET_DROP);
		pw_chain_append(c, r);
		return;
	}
	if (dir == EGRESS)
		append_source_guard(c, ep->pod, cc->family);
	r = pw_rule_new();
	pw_rule_add_ctstate(r, PW_CT_RELATED | PW_CT_ESTABLISHED, false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
	pw_chain_append(c, r);
	r = pw_rule_new();
	pw_rule_add_ctstate(r, PW_CT_INVALID, false);
	pw_rule_set_verdict(r, PW_TARGET_DROP);
	pw_chain_append(c, r);

	for (i = 0; i < n; i++) {
		const struct pw_policy *policy = policies->policies[i];
		struct pw_buf comment = PW_BUF_INIT;
		char *policy_chain;

		if (!policy_applies(policy, ep->pod, dir))
			continue;
		if (!isolated) {
			/* Clear the bit so that only this pod's policies can set it. */
			r = pw_rule_new();
			pw_rule_set_mark_target(r, 0, mark);
			pw_chain_append(c, r);
			isolated = true;
		}
		policy_chain = ensure_policy_chain(cc, policy, dir);
		pw_buf_printf(&comment, "%s/%s", policy->namespace, policy->name);
		r = pw_rule_new();
		pw_rule_add_comment(r, comment.data);
		pw_rule_add_mark(r, 0, mark, false);
		pw_rule_set_jump(r, policy_chain);
		pw_chain_append(c, r);
		pw_buf_free(&comment);
		free(policy_chain);
	}
	if (isolated && deny_logged(cc, ep->pod))
		append_deny_log(cc, c, ep->pod, dir);
	r = pw_rule_new();
	if (isolated) {
		/* What gets past this comes back with the mark a policy set. */
		pw_rule_add_comment(r, PW_FINAL_DROP_COMMENT);
		pw_rule_add_mark(r, 0, mark, false);
		pw_rule_set_verdict(r, PW_TARGET_DROP);
	} else {
		pw_rule_add_comment(r, "no policy isolates the pod");
		pw_rule_set_mark_target(r, mark, mark);
	}
	pw_chain_append(c, r);
}

/* ----------------------------------------------------- dispatch chains */

/*
 * A dispatch chain holds at most this many choices: past it, its entries
 * are split into child chains by the next character of their names, or
 * the next four bits of their addresses, so that a packet is matched
 * against a few dozen rules whatever the number of pods.
 */
#define DISPATCH_FLAT_MAX 16

/*
 * A name for a chain under base: "<base>-<suffix>" when it fits the
 * kernel's 28 characters, else the prefix and a digest of both.
 */
static char *sub_chain_name(struct compiler *cc, const char *base, const char *suffix)
{
	struct pw_buf key = PW_BUF_INIT;
	char *name;

	pw_buf_printf(&key, "%s-%s", base, suffix);
	if (key.len <= PW_CHAIN_NAME_MAX)
		return pw_buf_steal(&key);
	name = pw_xstrdup(digest_name(cc, "d", key.data));
	pw_buf_free(&key);
	return name;
}

static void append_drop(struct pw_chain *c, const char *why)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_add_comment(r, why);
	pw_rule_set_verdict(r, PW_TARGET_DROP);
	pw_chain_append(c, r);
}

static void append_goto(struct pw_chain *c, const char *target)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_goto(r, target);
	pw_chain_append(c, r);
}

/* The mark that tells the hooks: not a local pod's traffic, not ours. */
static void append_pass(struct compiler *cc, struct pw_chain *c, enum direction dir)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_add_comment(r, dir == INGRESS ? "not to a local pod" : "not from a local pod");
	pw_rule_set_mark_target(r, cc->cfg->pass_mark, cc->cfg->pass_mark);
	pw_chain_append(c, r);
}

/* One choice of a dispatch chain, by interface or bridge-port name. */
struct name_entry {
	const char *name;
	const char *target;	/* goto this chain; NULL: drop */
	const char *why;	/* the drop's comment */
};

struct name_tree {
	struct compiler *cc;
	enum direction dir;
	bool ports;		/* --physdev-in/out rather than -i/-o */
	const char *base;	/* children are named after it */
	/* Names with this prefix are pods' by Calico's convention, known or
	 * not (NULL: none); how a chain with no more choices ends. */
	const char *wildcard;
	void (*end)(struct name_tree *t, struct pw_chain *c, const char *prefix);
	void *ctx;
};

static void match_name(const struct name_tree *t, struct pw_rule *r, const char *name)
{
	if (t->ports)
		pw_rule_add_physdev(r, t->dir == EGRESS ? name : NULL,
				    t->dir == INGRESS ? name : NULL);
	else if (t->dir == INGRESS)
		pw_rule_set_out_iface(r, name, false);
	else
		pw_rule_set_in_iface(r, name, false);
}

static void append_entry(const struct name_tree *t, struct pw_chain *c,
			 const char *name, const char *target, const char *why)
{
	struct pw_rule *r = pw_rule_new();

	match_name(t, r, name);
	if (target) {
		pw_rule_set_goto(r, target);
	} else {
		pw_rule_add_comment(r, why);
		pw_rule_set_verdict(r, PW_TARGET_DROP);
	}
	pw_chain_append(c, r);
}

static size_t common_prefix(const struct name_entry *e, size_t n)
{
	size_t len = strlen(e[0].name), i, k;

	for (i = 1; i < n; i++) {
		for (k = 0; k < len && e[i].name[k] == e[0].name[k]; k++)
			;
		len = k;
	}
	return len;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * entries (sorted by name, all starting with prefix) into chain c: each
 * name, or, past DISPATCH_FLAT_MAX, each group sharing one more character
 * through a child chain; then the wildcard if no child holds it, then the
 * tree's end.
 */
static void emit_names(struct name_tree *t, struct pw_chain *c, const char *prefix,
		       const char *label, const struct name_entry *e, size_t n)
{
	size_t plen = n ? common_prefix(e, n) : 0, i = 0;
	/* Children are labelled by what their names add past the root's. */
	size_t skip = *prefix ? strlen(prefix) : plen;
	bool wildcard_here = t->wildcard && starts_with(t->wildcard, prefix) &&
			     strcmp(t->wildcard, prefix) != 0;
	struct pw_buf match = PW_BUF_INIT, sub = PW_BUF_INIT;

	while (i < n) {
		size_t j = i + 1;
		char *child_name, *child_prefix;

		if (n <= DISPATCH_FLAT_MAX || e[i].name[plen] == '\0') {
			append_entry(t, c, e[i].name, e[i].target, e[i].why);
			i++;
			continue;
		}
		while (j < n && e[j].name[plen] == e[i].name[plen])
			j++;
		if (j - i == 1) {
			append_entry(t, c, e[i].name, e[i].target, e[i].why);
			i++;
			continue;
		}
		child_prefix = pw_xstrndup(e[i].name, plen + 1);
		/* The wildcard then lives in the child, which every such name enters. */
		if (t->wildcard && starts_with(t->wildcard, child_prefix))
			wildcard_here = false;
		pw_buf_reset(&sub);
		pw_buf_printf(&sub, "%s%s", label, child_prefix + skip);
		child_name = sub_chain_name(t->cc, t->base, sub.data);
		pw_buf_reset(&match);
		pw_buf_printf(&match, "%s+", child_prefix);
		append_entry(t, c, match.data, child_name, NULL);
		emit_names(t, chain(t->cc, child_name), child_prefix, sub.data, &e[i], j - i);
		free(child_name);
		free(child_prefix);
		i = j;
	}
	if (wildcard_here) {
		pw_buf_reset(&match);
		pw_buf_printf(&match, "%s+", t->wildcard);
		append_entry(t, c, match.data, NULL, "unknown interface");
	}
	t->end(t, c, prefix);
	pw_buf_free(&match);
	pw_buf_free(&sub);
}

static int cmp_name_entry(const void *a, const void *b)
{
	return strcmp(((const struct name_entry *)a)->name, ((const struct name_entry *)b)->name);
}

/* One choice by address: an unbound bridged pod's source, any bridged pod's destination. */
struct addr_entry {
	const struct pw_cidr *addr;
	const char *target;
};

struct addr_tree {
	struct compiler *cc;
	enum direction dir;
	const char *base;
	const char *why;	/* the end's drop */
};

static int cmp_addr_entry(const void *a, const void *b)
{
	return pw_cidr_cmp(((const struct addr_entry *)a)->addr,
			   ((const struct addr_entry *)b)->addr);
}

static unsigned addr_bit(const struct pw_cidr *a, unsigned bit)
{
	return (a->addr[bit / 8] >> (7 - bit % 8)) & 1;
}

/* Bits all entries share, from the first. */
static unsigned common_bits(const struct addr_entry *e, size_t n)
{
	unsigned max = pw_cidr_max_prefix(e[0].addr), len = max, i, b;

	for (i = 1; i < n; i++) {
		for (b = 0; b < len && addr_bit(e[i].addr, b) == addr_bit(e[0].addr, b); b++)
			;
		len = b;
	}
	return len;
}

static unsigned addr_nibble(const struct pw_cidr *a, unsigned from, unsigned bits)
{
	unsigned v = 0, b;

	for (b = from; b < from + bits; b++)
		v = (v << 1) | addr_bit(a, b);
	return v;
}

static void match_addr(const struct addr_tree *t, struct pw_rule *r, const struct pw_cidr *a)
{
	if (t->dir == INGRESS)
		pw_rule_set_dst(r, a, false);
	else
		pw_rule_set_src(r, a, false);
}

static void emit_addrs(struct addr_tree *t, struct pw_chain *c, const char *label,
		       const struct addr_entry *e, size_t n)
{
	unsigned from = n ? common_bits(e, n) : 0, bits;
	size_t i = 0;

	bits = n ? pw_cidr_max_prefix(e[0].addr) - from : 0;
	if (bits > 4)
		bits = 4;
	while (i < n) {
		size_t j = i + 1;
		struct pw_rule *r;
		unsigned group = 0;

		if (n > DISPATCH_FLAT_MAX && bits) {
			group = addr_nibble(e[i].addr, from, bits);
			while (j < n && addr_nibble(e[j].addr, from, bits) == group)
				j++;
		}
		r = pw_rule_new();
		if (j - i == 1) {
			match_addr(t, r, e[i].addr);
			pw_rule_set_goto(r, e[i].target);
			pw_chain_append(c, r);
		} else {
			struct pw_cidr net = *e[i].addr;
			struct pw_buf sub = PW_BUF_INIT;
			char *child;

			net.prefix = (uint8_t)(from + bits);
			pw_cidr_mask(&net);
			pw_buf_printf(&sub, "%s%x", label, group);
			child = sub_chain_name(t->cc, t->base, sub.data);
			match_addr(t, r, &net);
			pw_rule_set_goto(r, child);
			pw_chain_append(c, r);
			emit_addrs(t, chain(t->cc, child), sub.data, &e[i], j - i);
			free(child);
			pw_buf_free(&sub);
		}
		i = j;
	}
	append_drop(c, t->why);
}

/* ------------------------------------------------------ bridges */

struct bridge_stage {
	struct addr_tree addrs;
	struct addr_entry *entries;
	size_t n;
	char *chain;		/* where the address choices are; NULL: inline */
};

static void end_port_chain(struct name_tree *t, struct pw_chain *c, const char *prefix)
{
	struct bridge_stage *s = t->ctx;

	(void)prefix;
	if (s->chain)
		append_goto(c, s->chain);
	else
		emit_addrs(&s->addrs, c, "a", s->entries, s->n);
}

static struct pw_strmap *endpoint_targets(struct compiler *cc, enum direction dir);

/*
 * <p>from-<bridge> / <p>to-<bridge>: first the pods whose port is known,
 * by that port (every frame of a known port is its pod's, whatever address
 * it carries), then by address: on the way out, the pods whose port is not
 * known yet; on the way in, every pod (a packet routed into the bridge has
 * no output port yet). What is left is no known pod's: dropped.
 */
static void emit_bridge(struct compiler *cc, const char *bridge, enum direction dir,
			struct pw_strmap *targets, char **root_target)
{
	const struct pw_endpoints *eps = cc->endpoints;
	struct name_entry *ports = pw_xcalloc(eps->count + 1, sizeof(*ports));
	struct bridge_stage stage;
	struct name_tree tree;
	struct pw_buf base = PW_BUF_INIT, why = PW_BUF_INIT;
	size_t i, nports = 0;

	memset(&stage, 0, sizeof(stage));
	stage.entries = pw_xcalloc(eps->count + 1, sizeof(*stage.entries));
	for (i = 0; i < eps->count; i++) {
		const struct pw_endpoint *ep = &eps->items[i];
		const char *target = pw_strmap_get(targets, ep->id);
		const struct pw_cidr *addr = pw_pod_address(ep->pod, cc->family);

		if (ep->kind != PW_ENDPOINT_BRIDGED || strcmp(ep->bridge, bridge) != 0)
			continue;
		if (ep->port[0]) {
			ports[nports].name = ep->port;
			ports[nports++].target = target;
		}
		if (addr && (dir == INGRESS || !ep->port[0])) {
			stage.entries[stage.n].addr = addr;
			stage.entries[stage.n++].target = target;
		}
	}
	qsort(ports, nports, sizeof(*ports), cmp_name_entry);
	qsort(stage.entries, stage.n, sizeof(*stage.entries), cmp_addr_entry);

	pw_buf_printf(&base, "%s%s-%s", cc->cfg->prefix, dir == INGRESS ? "to" : "from", bridge);
	if (base.len > PW_CHAIN_NAME_MAX) {
		char *d = pw_xstrdup(digest_name(cc, "b", base.data));

		pw_buf_reset(&base);
		pw_buf_puts(&base, d);
		free(d);
	}
	pw_buf_printf(&why, "%s on bridge %s that is no known pod's",
		      dir == INGRESS ? "a destination" : "a source", bridge);
	stage.addrs = (struct addr_tree){ cc, dir, NULL, why.data };
	stage.addrs.base = base.data;
	/* The ports' children all end by going on to the addresses. */
	if (nports > DISPATCH_FLAT_MAX || stage.n > DISPATCH_FLAT_MAX)
		stage.chain = sub_chain_name(cc, base.data, "a");
	if (stage.chain)
		emit_addrs(&stage.addrs, chain(cc, stage.chain), "a", stage.entries, stage.n);
	tree = (struct name_tree){ cc, dir, true, base.data, NULL, end_port_chain, &stage };
	emit_names(&tree, chain(cc, base.data), "", "p", ports, nports);
	*root_target = pw_xstrdup(base.data);

	free(stage.chain);
	free(stage.entries);
	free(ports);
	pw_buf_free(&base);
	pw_buf_free(&why);
}

/* ------------------------------------------------------ the root */

static void end_root_chain(struct name_tree *t, struct pw_chain *c, const char *prefix)
{
	const char *guard = t->ctx;
	struct pw_rule *r;

	/* Everything here carries the Calico prefix: all of it is pods'. */
	if (t->wildcard && starts_with(prefix, t->wildcard) && *prefix) {
		append_drop(c, "unknown interface");
		return;
	}
	if (guard) {
		r = pw_rule_new();
		pw_rule_set_jump(r, guard);
		pw_chain_append(c, r);
	}
	append_pass(t->cc, c, t->dir);
}

/* A guard chain that found nothing: back to the dispatch, which passes it. */
static void end_guard_chain(struct name_tree *t, struct pw_chain *c, const char *prefix)
{
	(void)t;
	(void)c;
	(void)prefix;
}

static const char *dispatch_name(struct compiler *cc, enum direction dir)
{
	return chain_name(cc, dir == INGRESS ? "to-wl-dispatch" : "from-wl-dispatch");
}

static int free_target(const char *key, void *value, void *ctx)
{
	(void)key;
	(void)ctx;
	free(value);
	return 0;
}

static struct pw_strmap *endpoint_targets(struct compiler *cc, enum direction dir)
{
	struct pw_strmap *m = pw_strmap_new();
	size_t i;

	for (i = 0; i < cc->endpoints->count; i++) {
		const struct pw_endpoint *ep = &cc->endpoints->items[i];

		pw_strmap_put(m, ep->id, pw_xstrdup(endpoint_chain_name(cc, ep, dir)));
	}
	return m;
}

/*
 * <p>from-wl-guard / <p>to-wl-guard: the pod-facing interfaces no wildcard
 * covers (a routed pod's veth with a name of its CNI's choosing, a bridge),
 * dropped. The dispatch asks it before it passes anything as no local
 * pod's, so that a pod's entry or a dispatch chain removed by someone's
 * edited restore leaves that pod's traffic dropped, not unfiltered. NULL
 * when there is no such interface.
 */
static char *emit_guard(struct compiler *cc, enum direction dir, const struct name_entry *all,
			size_t n)
{
	struct name_entry *e = pw_xcalloc(n + 1, sizeof(*e));
	const char *wildcard = cc->cfg->iface_prefix;
	struct name_tree tree;
	size_t i, k = 0;
	char *root = NULL;

	for (i = 0; i < n; i++) {
		if (!all[i].target || starts_with(all[i].name, wildcard))
			continue;
		e[k].name = all[i].name;
		e[k++].why = "a pod's interface whose chain is gone";
	}
	if (k) {
		root = pw_xstrdup(chain_name(cc, dir == INGRESS ? "to-wl-guard" : "from-wl-guard"));
		tree = (struct name_tree){ cc, dir, false, root, NULL, end_guard_chain, NULL };
		emit_names(&tree, chain(cc, root), "", "", e, k);
	}
	free(e);
	return root;
}

/*
 * <p>from-wl-dispatch / <p>to-wl-dispatch: a routed pod by its interface,
 * a bridge by its name (and then its own chain), an interface a host route
 * leads to but no known pod is behind dropped, as is any other with the
 * Calico prefix; what is left is no local pod's, which the pass mark says.
 */
static void emit_dispatch(struct compiler *cc, enum direction dir)
{
	const struct pw_endpoints *eps = cc->endpoints;
	size_t cap = eps->count + eps->nbridges + eps->nforeign + 1, n = 0, i;
	struct name_entry *e = pw_xcalloc(cap, sizeof(*e));
	struct pw_strmap *targets = endpoint_targets(cc, dir);
	char **bridge_chains = pw_xcalloc(eps->nbridges + 1, sizeof(char *));
	struct name_tree tree;
	char *root, *guard;

	for (i = 0; i < eps->count; i++) {
		const struct pw_endpoint *ep = &eps->items[i];

		if (ep->kind != PW_ENDPOINT_ROUTED)
			continue;
		e[n].name = ep->iface;
		e[n++].target = pw_strmap_get(targets, ep->id);
	}
	for (i = 0; i < eps->nforeign; i++) {
		e[n].name = eps->foreign[i];
		e[n++].why = "no known pod behind this interface";
	}
	for (i = 0; i < eps->nbridges; i++) {
		emit_bridge(cc, eps->bridges[i], dir, targets, &bridge_chains[i]);
		e[n].name = eps->bridges[i];
		e[n++].target = bridge_chains[i];
	}
	qsort(e, n, sizeof(*e), cmp_name_entry);
	root = pw_xstrdup(dispatch_name(cc, dir));
	guard = emit_guard(cc, dir, e, n);
	tree = (struct name_tree){ cc, dir, false, root, cc->cfg->iface_prefix, end_root_chain,
				   guard };
	emit_names(&tree, chain(cc, root), "", "", e, n);
	free(guard);

	for (i = 0; i < eps->nbridges; i++)
		free(bridge_chains[i]);
	free(bridge_chains);
	free(root);
	free(e);
	pw_strmap_foreach(targets, free_target, NULL);
	pw_strmap_free(targets);
}

/* ------------------------------------------------------------ top level */

/*
 * Both marks cleared, a dispatch, and what came back: the accept mark
 * (a pod's chain allowed it), the pass mark (no local pod's), or neither
 * (a pod's traffic that nothing allowed, or a chain that was flushed):
 * dropped. Allowing is an act, so tampering fails closed.
 */
static void append_dispatch(struct compiler *cc, struct pw_chain *c, enum direction dir)
{
	uint32_t both = cc->cfg->accept_mark | cc->cfg->pass_mark;
	struct pw_rule *r;

	r = pw_rule_new();
	pw_rule_set_mark_target(r, 0, both);
	pw_chain_append(c, r);
	r = pw_rule_new();
	pw_rule_set_jump(r, dispatch_name(cc, dir));
	pw_chain_append(c, r);
	r = pw_rule_new();
	pw_rule_add_mark(r, 0, both, false);
	pw_rule_add_comment(r, dir == INGRESS ? "to a local pod: no endpoint chain allowed it"
					      : "from a local pod: no endpoint chain allowed it");
	pw_rule_set_verdict(r, PW_TARGET_DROP);
	pw_chain_append(c, r);
}

static void append_accept(struct pw_chain *c, uint32_t mark)
{
	struct pw_rule *r = pw_rule_new();

	if (mark)
		pw_rule_add_mark(r, mark, mark, false);
	pw_rule_add_comment(r, "allowed by policy");
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
	pw_chain_append(c, r);
}

/*
 * ICMPv6 that conntrack never tracks and without which a pod is cut off:
 * MLD query, report and done (130-132), router solicitation and
 * advertisement (133, 134), neighbour solicitation and advertisement (135,
 * 136), redirect (137), MLDv2 report (143). Isolated or not, in both
 * directions: accepted through the node (pod to pod over a bridge, or a
 * router's), left to the node's own firewall on the way to it. Echo and
 * the rest follow policy as ICMP does for IPv4.
 */
static void append_neighbour_discovery(struct pw_chain *c, enum pw_target_kind verdict)
{
	static const uint8_t types[] = { 130, 131, 132, 133, 134, 135, 136, 137, 143 };
	struct pw_rule *r;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(types); i++) {
		r = pw_rule_new();
		pw_rule_set_protocol(r, IPPROTO_ICMPV6);
		pw_rule_add_icmp6_type(r, types[i]);
		pw_rule_set_verdict(r, verdict);
		pw_chain_append(c, r);
	}
}

static void emit_hooks(struct compiler *cc)
{
	static const char *const hooks[] = { "INPUT", "FORWARD", "OUTPUT" };
	uint32_t accept = cc->cfg->accept_mark;
	struct pw_chain *c;
	struct pw_rule *r;
	char *from_pod;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(hooks); i++) {
		r = pw_rule_new();
		/* The node talking to itself never came from a pod. */
		if (strcmp(hooks[i], "INPUT") == 0)
			pw_rule_set_in_iface(r, "lo", true);
		pw_rule_set_jump(r, chain_name(cc, hooks[i]));
		pw_chain_append(chain(cc, hooks[i]), r);
		chain(cc, chain_name(cc, hooks[i]));
	}

	/* Pod to node: the pod's egress policy applies, then the node's firewall. */
	c = chain(cc, chain_name(cc, "INPUT"));
	if (cc->family == AF_INET6)
		append_neighbour_discovery(c, PW_TARGET_RETURN);
	append_dispatch(cc, c, EGRESS);

	/*
	 * Through the node: the sender's egress, then the receiver's ingress.
	 * What a local pod sent and may send goes on to <p>from-wl-forward,
	 * which accepts it once the receiver (if local) allowed it too.
	 */
	from_pod = pw_xstrdup(chain_name(cc, "from-wl-forward"));
	c = chain(cc, chain_name(cc, "FORWARD"));
	if (cc->family == AF_INET6)
		append_neighbour_discovery(c, PW_TARGET_ACCEPT);
	append_dispatch(cc, c, EGRESS);
	r = pw_rule_new();
	pw_rule_add_mark(r, accept, accept, false);
	pw_rule_set_goto(r, from_pod);
	pw_chain_append(c, r);
	append_dispatch(cc, c, INGRESS);
	append_accept(c, accept);
	c = chain(cc, from_pod);
	append_dispatch(cc, c, INGRESS);
	append_accept(c, 0);
	free(from_pod);

	/*
	 * <p>OUTPUT holds nothing: kubelet probes and everything else the
	 * node sends to its pods are never subject to policy.
	 */

	r = pw_rule_new();
	pw_rule_set_mark_target(r, cc->cfg->accept_mark, cc->cfg->accept_mark);
	pw_chain_append(chain(cc, allow_chain(cc)), r);
}

/* One family's table, into cc->table; the sets go to the shared list. */
static void compile_family(struct compiler *cc, int family, struct pw_table *table)
{
	size_t i;

	cc->family = family;
	cc->table = table;
	cc->namespaces = pw_strmap_new();
	cc->policies = pw_strmap_new();
	index_pods(cc);
	index_policies(cc);

	emit_hooks(cc);
	for (i = 0; i < cc->endpoints->count; i++) {
		emit_endpoint_chain(cc, &cc->endpoints->items[i], INGRESS);
		emit_endpoint_chain(cc, &cc->endpoints->items[i], EGRESS);
	}
	emit_dispatch(cc, INGRESS);
	emit_dispatch(cc, EGRESS);

	pw_strmap_foreach(cc->namespaces, free_pod_list, NULL);
	pw_strmap_free(cc->namespaces);
	pw_strmap_foreach(cc->policies, free_policy_list, NULL);
	pw_strmap_free(cc->policies);
	free(cc->members);
	cc->members = NULL;
	cc->nmembers = 0;
}

struct pw_dataplane *pw_compile(const struct pw_cluster *cluster,
				const struct pw_endpoints *endpoints,
				const struct pw_options *cfg)
{
	struct compiler cc;
	struct pw_endpoints *by_name = NULL;

	memset(&cc, 0, sizeof(cc));
	cc.cluster = cluster;
	cc.cfg = cfg;
	if (!endpoints)
		endpoints = by_name = pw_endpoints_resolve(cluster, cfg, NULL, NULL, NULL);
	cc.endpoints = endpoints;
	cc.dp = pw_xcalloc(1, sizeof(*cc.dp));
	cc.dp->filter = pw_table_new("filter", AF_INET);
	cc.dp->sets = pw_setlist_new();
	cc.dp->sources = pw_xcalloc(1, sizeof(*cc.dp->sources));
	cc.dp->origins = pw_strmap_new();
	compile_family(&cc, AF_INET, cc.dp->filter);
	if (cfg->ipv6) {
		cc.dp->filter6 = pw_table_new("filter", AF_INET6);
		compile_family(&cc, AF_INET6, cc.dp->filter6);
	}
	pw_endpoints_free(by_name);
	pw_buf_free(&cc.name);
	return cc.dp;
}

void pw_dataplane_free(struct pw_dataplane *dp)
{
	if (!dp)
		return;
	pw_table_free(dp->filter);
	pw_table_free(dp->filter6);
	pw_setlist_free(dp->sets);
	free_sources(dp->sources);
	if (dp->origins) {
		pw_strmap_foreach(dp->origins, free_origin, NULL);
		pw_strmap_free(dp->origins);
	}
	free(dp);
}

/* ------------------------------------------- members of other nodes' pods */

static bool in_scope(const struct pw_cluster *cluster, const struct set_source *src,
		     const char *ns)
{
	const struct pw_namespace *obj;
	struct pw_labels *own;
	bool selected;

	if (!src->nssel)
		return strcmp(src->ns, ns) == 0;
	obj = pw_cluster_namespace(cluster, ns);
	if (obj)
		return pw_selector_matches(src->nssel, obj->labels);
	/* As namespace_pods labels a namespace only its pods name. */
	own = pw_labels_new();
	pw_labels_set(own, "kubernetes.io/metadata.name", ns);
	selected = pw_selector_matches(src->nssel, own);
	pw_labels_free(own);
	return selected;
}

struct scope_test {
	const struct pw_cluster *cluster;
	const struct set_source *src;
};

static int namespace_in_scope(const char *ns, void *value, void *ctx)
{
	const struct scope_test *t = ctx;

	(void)value;
	return in_scope(t->cluster, t->src, ns);
}

/* The elements pw_compile would give pod in src's set, into want. */
static void pod_elements(const struct set_source *src, const struct pw_pod *pod,
			 const char *ip, struct pw_strmap *want)
{
	size_t i;

	if (!pw_pod_is_addressable(pod) || !pw_pod_address(pod, src->family))
		return;
	if (src->podsel && !pw_selector_matches(src->podsel, pod->labels))
		return;
	if (!src->named_port) {
		pw_strmap_put(want, ip, want);
		return;
	}
	for (i = 0; i < pod->nports; i++) {
		const struct pw_container_port *p = &pod->ports[i];
		char *text;

		if (!p->name || p->protocol != src->port.protocol ||
		    strcmp(p->name, src->port.name) != 0)
			continue;
		text = pw_set_ip_port_text(pw_pod_address(pod, src->family),
					   pw_protocol_name(p->protocol), p->number);
		pw_strmap_put(want, text, want);
		free(text);
	}
}

/* A member stands for ip when it is ip, or ip followed by ",proto:port". */
static bool member_of_address(const char *member, const char *ip, size_t iplen)
{
	return strncmp(member, ip, iplen) == 0 && (member[iplen] == '\0' || member[iplen] == ',');
}

struct address_diff {
	const struct pw_cluster *cluster;
	const struct set_source *src;
	const struct pw_set *set;
	struct pw_member_changes *out;
	struct pw_strmap *want;
};

static int push_missing(const char *member, void *value, void *ctx)
{
	struct address_diff *w = ctx;

	(void)value;
	if (!pw_set_has_member(w->set, member))
		pw_member_changes_push(w->out, pw_set_name(w->set), member, true);
	return 0;
}

static int diff_address(const char *ip, void *value, void *ctx)
{
	struct address_diff *w = ctx;
	const struct pw_pod *const *pods;
	size_t i, n = pw_cluster_pods_at(w->cluster, ip, &pods), iplen = strlen(ip);

	(void)value;
	/* An address is only ever a member of its own family's sets. */
	if ((strchr(ip, ':') ? AF_INET6 : AF_INET) != w->src->family)
		return 0;
	w->want = pw_strmap_new();
	for (i = 0; i < n; i++)
		if (in_scope(w->cluster, w->src, pods[i]->namespace))
			pod_elements(w->src, pods[i], ip, w->want);
	/* Members sort by text, so an address's members sit together. */
	for (i = pw_set_lower_bound(w->set, ip); i < pw_set_member_count(w->set); i++) {
		const char *member = pw_set_member_at(w->set, i);

		if (!member_of_address(member, ip, iplen))
			break;
		if (!pw_strmap_get(w->want, member))
			pw_member_changes_push(w->out, pw_set_name(w->set), member, false);
	}
	pw_strmap_foreach(w->want, push_missing, w);
	pw_strmap_free(w->want);
	return 0;
}

static int add_pod_namespaces(const char *ip, void *value, void *ctx)
{
	struct address_diff *w = ctx;
	const struct pw_pod *const *pods;
	size_t i, n = pw_cluster_pods_at(w->cluster, ip, &pods);

	(void)value;
	for (i = 0; i < n; i++)
		pw_strmap_put(w->want, pods[i]->namespace, w->want);
	return 0;
}

static int copy_key(const char *key, void *value, void *ctx)
{
	(void)value;
	pw_strmap_put(ctx, key, ctx);
	return 0;
}

void pw_compile_member_changes(const struct pw_cluster *cluster,
			       const struct pw_dataplane *current,
			       const struct pw_strmap *addresses,
			       const struct pw_strmap *namespaces,
			       struct pw_member_changes *out)
{
	const struct pw_set_sources *sources = current->sources;
	struct address_diff w = { cluster, NULL, NULL, out, NULL };
	struct pw_strmap *touched = pw_strmap_new();
	size_t i;

	/* A set may change if it reads a namespace a changed pod was in or any
	 * pod now at one of the addresses is in (an address can move). */
	pw_strmap_foreach(namespaces, copy_key, touched);
	w.want = touched;
	pw_strmap_foreach(addresses, add_pod_namespaces, &w);
	for (i = 0; sources && i < sources->count; i++) {
		struct scope_test t = { cluster, &sources->items[i] };

		if (!pw_strmap_foreach(touched, namespace_in_scope, &t))
			continue;
		w.src = &sources->items[i];
		w.set = pw_setlist_find(current->sets, w.src->set);
		if (w.set)
			pw_strmap_foreach(addresses, diff_address, &w);
	}
	pw_strmap_free(touched);
}
