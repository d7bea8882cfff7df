/*
 * Flows walked through compiled tables. A side is walked alone, through
 * the rules of its pod's node: the egress of the source with the packet
 * leaving by an uplink, the ingress of the destination with the packet
 * arriving by one. The chains of a pod depend only on the interface of
 * that pod (and on addresses), so a side walked alone ends as it would in
 * the walk of the whole path; for two pods of one node the whole path is
 * walked too, and its verdict is the answer.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "chains/walk.h"
#include "engine/compile.h"
#include "engine/endpoint.h"
#include "engine/query.h"
#include "lib/strmap.h"

/* A name no pod interface has: the way to and from other nodes and the world. */
#define UPLINK "pw-uplink0"

/* One node's rules, compiled once however many flows cross it. */
struct node_plan {
	struct pw_endpoints *endpoints;
	struct pw_dataplane *dp;
};

struct pw_query {
	const struct pw_cluster *cluster;
	const struct pw_options *cfg;
	char *only_node;
	struct pw_strmap *plans;	/* node name -> struct node_plan */
};

struct pw_query *pw_query_new(const struct pw_cluster *c, const struct pw_options *cfg,
			      const char *only_node)
{
	struct pw_query *q = pw_xcalloc(1, sizeof(*q));

	q->cluster = c;
	q->cfg = cfg;
	q->only_node = only_node ? pw_xstrdup(only_node) : NULL;
	q->plans = pw_strmap_new();
	return q;
}

static int free_plan(const char *key, void *value, void *ctx)
{
	struct node_plan *p = value;

	(void)key;
	(void)ctx;
	pw_dataplane_free(p->dp);
	pw_endpoints_free(p->endpoints);
	free(p);
	return 0;
}

void pw_query_free(struct pw_query *q)
{
	if (!q)
		return;
	pw_strmap_foreach(q->plans, free_plan, NULL);
	pw_strmap_free(q->plans);
	free(q->only_node);
	free(q);
}

static struct node_plan *plan_of(struct pw_query *q, const char *node)
{
	struct node_plan *p = pw_strmap_get(q->plans, node);
	struct pw_options cfg;

	if (p)
		return p;
	/*
	 * A shallow copy, never freed: the node, Calico's names, and both
	 * families whatever this host's kernel has, as the node is not this host.
	 */
	cfg = *q->cfg;
	cfg.node_name = (char *)node;
	cfg.endpoint_discovery = PW_DISCOVER_CALICO;
	cfg.ipv6 = true;
	p = pw_xcalloc(1, sizeof(*p));
	p->endpoints = pw_endpoints_resolve(q->cluster, &cfg, NULL, NULL, NULL);
	p->dp = pw_compile(q->cluster, p->endpoints, &cfg);
	pw_strmap_put(q->plans, node, p);
	return p;
}

static const struct pw_endpoint *endpoint_of(const struct node_plan *p, const struct pw_pod *pod)
{
	size_t i;

	for (i = 0; i < p->endpoints->count; i++)
		if (p->endpoints->items[i].pod == pod)
			return &p->endpoints->items[i];
	return NULL;
}

/* The node whose rules guard pod, or NULL when none of ours does. */
static struct node_plan *guarding_plan(struct pw_query *q, const struct pw_pod *pod,
				       const struct pw_endpoint **ep)
{
	struct node_plan *p;

	*ep = NULL;
	if (!pod || !pod->node_name || pod->host_network)
		return NULL;
	if (q->only_node && strcmp(q->only_node, pod->node_name) != 0)
		return NULL;
	p = plan_of(q, pod->node_name);
	*ep = endpoint_of(p, pod);
	return *ep ? p : NULL;
}

static void packet_of(const struct pw_flow *f, struct pw_packet *pkt)
{
	memset(pkt, 0, sizeof(*pkt));
	pkt->src = f->from.addr;
	pkt->dst = f->to.addr;
	pkt->protocol = f->protocol;
	if (f->protocol == IPPROTO_ICMP && f->from.addr.family == AF_INET6)
		pkt->protocol = IPPROTO_ICMPV6;
	pkt->icmp6_type = 128;		/* an echo request, never neighbour discovery */
	pkt->dport = f->port;
	pkt->ctstate = PW_CT_NEW;
}

static const struct pw_table *table_of(const struct node_plan *p, int family)
{
	return family == AF_INET6 ? p->dp->filter6 : p->dp->filter;
}

static void add_policy(struct pw_query_side *s, const char *name)
{
	s->policies = pw_xrealloc(s->policies, (s->npolicies + 1) * sizeof(*s->policies));
	s->policies[s->npolicies++] = pw_xstrdup(name);
}

/* The policies a pod's chain calls: its jumps, each commented with the policy's name. */
static void read_isolation(const struct pw_table *t, const char *chain, struct pw_query_side *s)
{
	const struct pw_chain *c = pw_table_find_chain(t, chain);
	size_t i;

	for (i = 0; c && i < pw_chain_rule_count(c); i++) {
		const struct pw_rule *r = pw_chain_rule_at(c, i);

		if (pw_rule_target(r) == PW_TARGET_JUMP && pw_rule_comment(r))
			add_policy(s, pw_rule_comment(r));
	}
	s->isolated = s->npolicies > 0;
}

/* Who allowed or dropped the packet in chain, from the walk's steps. */
static void read_steps(const struct pw_query *q, const struct node_plan *p, int family,
		       const struct pw_walk *w, const char *chain, struct pw_query_side *s)
{
	char allow[PW_CHAIN_NAME_MAX + 1];
	const struct pw_walk_step *last = w->nsteps ? &w->steps[w->nsteps - 1] : NULL;
	size_t i;

	snprintf(allow, sizeof(allow), "%sallow", q->cfg->prefix);
	s->allowed = !(w->verdict == PW_VERDICT_DROP && last && strcmp(last->chain, chain) == 0);
	if (!s->allowed && last->comment)
		s->denied_by = pw_xstrdup(last->comment);
	for (i = 0; i < w->nsteps && s->allowed && s->isolated; i++) {
		const struct pw_walk_step *st = &w->steps[i];
		const struct pw_rule_origin *o;

		if (!st->target_chain || strcmp(st->target_chain, allow) != 0)
			continue;
		o = pw_dataplane_rule_origin(p->dp, family, st->chain, st->rule);
		if (!o)
			continue;
		s->allowed_by = pw_xstrdup(o->policy);
		s->allowed_ingress = o->ingress;
		s->allowed_rule = o->rule;
		s->allowed_peer = o->peer;
		break;
	}
}

static int walk_side(struct pw_query *q, struct node_plan *p, const struct pw_endpoint *ep,
		     bool ingress, const struct pw_packet *pkt, struct pw_query_side *s,
		     struct pw_buf *err)
{
	int family = pkt->src.family;
	const struct pw_table *t = table_of(p, family);
	struct pw_buf chain = PW_BUF_INIT;
	struct pw_walk w;
	int ret;

	pw_endpoint_chain_name(q->cfg->prefix, ep, ingress, &chain);
	ret = pw_walk_table(t, p->dp->sets, "FORWARD", pkt, &w);
	if (ret < 0) {
		pw_buf_printf(err, "walking the rules of node %s: %s", ep->pod->node_name,
			      strerror(-ret));
	} else {
		s->walked = true;
		read_isolation(t, chain.data, s);
		read_steps(q, p, family, &w, chain.data, s);
	}
	pw_walk_free(&w);
	pw_buf_free(&chain);
	return ret;
}

static int check_end(const struct pw_flow_end *e, int family, struct pw_buf *err)
{
	if (e->addr.family != family) {
		pw_buf_printf(err, "the two ends are of different address families");
		return -EINVAL;
	}
	if (e->pod && !pw_pod_address(e->pod, family)) {
		pw_buf_printf(err, "pod %s/%s has no IPv%d address", e->pod->namespace,
			      e->pod->name, family == AF_INET6 ? 6 : 4);
		return -EINVAL;
	}
	return 0;
}

int pw_query_flow(struct pw_query *q, const struct pw_flow *f, struct pw_query_answer *out,
		  struct pw_buf *err)
{
	const struct pw_endpoint *src_ep, *dst_ep;
	struct node_plan *src, *dst;
	struct pw_packet pkt;
	struct pw_walk w;
	int ret;

	memset(out, 0, sizeof(*out));
	if (check_end(&f->from, f->from.addr.family, err) < 0 ||
	    check_end(&f->to, f->from.addr.family, err) < 0)
		return -EINVAL;
	src = guarding_plan(q, f->from.pod, &src_ep);
	dst = guarding_plan(q, f->to.pod, &dst_ep);
	packet_of(f, &pkt);
	if (src) {
		pkt.in = src_ep->iface;
		pkt.out = UPLINK;
		ret = walk_side(q, src, src_ep, false, &pkt, &out->egress, err);
		if (ret < 0)
			return ret;
	}
	if (dst) {
		pkt.in = UPLINK;
		pkt.out = dst_ep->iface;
		ret = walk_side(q, dst, dst_ep, true, &pkt, &out->ingress, err);
		if (ret < 0)
			return ret;
	}
	out->allowed = (!src || out->egress.allowed) && (!dst || out->ingress.allowed);
	if (src && src == dst) {
		/* Both on one node: the whole path, as the node's kernel would walk it. */
		pkt.in = src_ep->iface;
		ret = pw_walk_table(table_of(src, pkt.src.family), src->dp->sets, "FORWARD", &pkt,
				    &w);
		if (ret == 0)
			out->allowed = w.verdict != PW_VERDICT_DROP;
		pw_walk_free(&w);
	}
	return 0;
}

static void free_side(struct pw_query_side *s)
{
	size_t i;

	for (i = 0; i < s->npolicies; i++)
		free(s->policies[i]);
	free(s->policies);
	free(s->allowed_by);
	free(s->denied_by);
}

void pw_query_answer_free(struct pw_query_answer *a)
{
	if (!a)
		return;
	free_side(&a->egress);
	free_side(&a->ingress);
	memset(a, 0, sizeof(*a));
}
