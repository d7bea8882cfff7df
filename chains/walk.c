/*
 * The walker: the rules of struct pw_rule read as the kernel's x_tables
 * reads them, for the matches and targets podwall writes and no others.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chains/rule_internal.h"
#include "chains/walk.h"
#include "lib/util.h"

/* XT_MAX_CHAIN_DEPTH is not in old headers; the kernel stops at this many. */
#define WALK_MAX_DEPTH 51

enum step {
	STEP_ACCEPT,
	STEP_DROP,
	STEP_RETURN,
};

struct walker {
	const struct pw_table *table;
	const struct pw_setlist *sets;
	struct pw_packet p;
	struct pw_walk *w;
};

static bool iface_matches(const struct pw_rule_iface *rule, const char *name)
{
	size_t n;
	bool same;

	if (!rule->name)
		return true;
	n = strlen(rule->name);
	if (!name)
		same = false;
	else if (n && rule->name[n - 1] == '+')
		same = strncmp(rule->name, name, n - 1) == 0;
	else
		same = strcmp(rule->name, name) == 0;
	return same != rule->invert;
}

static bool physdev_matches(const char *pattern, const char *name)
{
	struct pw_rule_iface iface = { (char *)pattern, false };

	return !pattern || (name && iface_matches(&iface, name));
}

static bool addr_matches(const struct pw_rule_addr *rule, const struct pw_cidr *a)
{
	if (!rule->present)
		return true;
	return pw_cidr_contains(&rule->cidr, a) != rule->invert;
}

static bool in_ranges(const struct pw_port_range *r, size_t n, uint16_t port)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (port >= r[i].first && port <= r[i].last)
			return true;
	return false;
}

/* hash:net answers for the most specific entry holding the address. */
static bool net_set_holds(const struct pw_set *s, const struct pw_cidr *a)
{
	size_t i, n = pw_set_member_count(s);
	int best = -1;
	bool nomatch = false;

	for (i = 0; i < n; i++) {
		const char *text = pw_set_member_at(s, i);
		struct pw_cidr net;

		if (pw_cidr_parse(text, &net) != 0 && pw_ip_parse(text, &net) != 0)
			continue;
		if (!pw_cidr_contains(&net, a) || (int)net.prefix <= best)
			continue;
		best = net.prefix;
		nomatch = pw_set_member_nomatch(s, i);
	}
	return best >= 0 && !nomatch;
}

bool pw_set_matches_packet(const struct pw_set *s, enum pw_set_dir dir, const struct pw_packet *p)
{
	const struct pw_cidr *a = dir == PW_SET_DST || dir == PW_SET_DST_DST ? &p->dst : &p->src;
	char text[PW_CIDR_STRLEN];
	const char *proto;
	char *element;
	bool held;

	if (pw_set_family(s) != a->family)
		return false;
	switch (pw_set_type(s)) {
	case PW_SET_HASH_NET:
		return net_set_holds(s, a);
	case PW_SET_HASH_IP_PORT:
		proto = pw_proto_name(p->protocol);
		if (!proto || (dir != PW_SET_DST_DST && dir != PW_SET_SRC_DST))
			return false;
		element = pw_set_ip_port_text(a, proto, p->dport);
		held = pw_set_has_member(s, element);
		free(element);
		return held;
	case PW_SET_HASH_IP:
	default:
		pw_cidr_format(a, false, text);
		return pw_set_has_member(s, text);
	}
}

static bool match_holds(const struct walker *wk, const struct pw_rule *r, const struct pw_match *m)
{
	const struct pw_packet *p = &wk->p;
	const struct pw_set *s;
	bool held;

	switch (m->kind) {
	case PW_MATCH_CONNTRACK:
		held = (m->u.ctstates & p->ctstate) != 0;
		break;
	case PW_MATCH_SET:
		s = pw_setlist_find(wk->sets, m->u.set.name);
		held = s && pw_set_matches_packet(s, m->u.set.dir, p);
		break;
	case PW_MATCH_PORT:
		held = p->protocol == m->u.port.proto && in_ranges(&m->u.port.range, 1, p->dport);
		break;
	case PW_MATCH_MULTIPORT:
		held = p->protocol == m->u.multiport.proto &&
		       in_ranges(m->u.multiport.ranges, m->u.multiport.nranges, p->dport);
		break;
	case PW_MATCH_MARK:
		held = (p->mark & m->u.mark.mask) == m->u.mark.value;
		break;
	case PW_MATCH_PHYSDEV:
		held = physdev_matches(m->u.physdev.in, p->physin) &&
		       physdev_matches(m->u.physdev.out, p->physout);
		break;
	case PW_MATCH_ICMP6:
		held = r->protocol == p->protocol && p->icmp6_type == m->u.icmp6_type;
		break;
	case PW_MATCH_COMMENT:
	case PW_MATCH_LIMIT:
	default:
		held = true;
		break;
	}
	return held != m->invert;
}

static bool rule_matches(const struct walker *wk, const struct pw_rule *r)
{
	size_t i;

	if (!addr_matches(&r->src, &wk->p.src) || !addr_matches(&r->dst, &wk->p.dst) ||
	    !iface_matches(&r->in, wk->p.in) || !iface_matches(&r->out, wk->p.out))
		return false;
	if (r->protocol && r->protocol != wk->p.protocol)
		return false;
	for (i = 0; i < r->nmatches; i++)
		if (!match_holds(wk, r, &r->matches[i]))
			return false;
	return true;
}

static void record(struct walker *wk, const char *chain, size_t i, const struct pw_rule *r)
{
	struct pw_walk *w = wk->w;
	struct pw_walk_step *s;

	PW_GROW(w->steps, w->steps_cap, w->nsteps + 1);
	s = &w->steps[w->nsteps++];
	s->chain = chain;
	s->rule = i;
	s->comment = pw_rule_comment(r);
	s->target = r->target.kind;
	s->target_chain = r->target.chain;
}

static int run_chain(struct walker *wk, const char *name, int depth, enum step *out)
{
	const struct pw_chain *c = pw_table_find_chain(wk->table, name);
	size_t i, n;

	if (!c)
		return -ENOENT;
	if (depth > WALK_MAX_DEPTH)
		return -ELOOP;
	name = pw_chain_name(c);
	n = pw_chain_rule_count(c);
	for (i = 0; i < n; i++) {
		const struct pw_rule *r = pw_chain_rule_at(c, i);
		enum step s;
		int err;

		wk->w->evaluated++;
		if (!rule_matches(wk, r))
			continue;
		record(wk, name, i, r);
		switch (r->target.kind) {
		case PW_TARGET_ACCEPT:
			*out = STEP_ACCEPT;
			return 0;
		case PW_TARGET_DROP:
			*out = STEP_DROP;
			return 0;
		case PW_TARGET_RETURN:
			*out = STEP_RETURN;
			return 0;
		case PW_TARGET_MARK:
			wk->p.mark = (wk->p.mark & ~r->target.mark_mask) ^ r->target.mark_value;
			continue;
		case PW_TARGET_JUMP:
		case PW_TARGET_GOTO:
			err = run_chain(wk, r->target.chain, depth + 1, &s);
			if (err)
				return err;
			if (s != STEP_RETURN) {
				*out = s;
				return 0;
			}
			/* A goto returns to whoever called this chain. */
			if (r->target.kind == PW_TARGET_GOTO) {
				*out = STEP_RETURN;
				return 0;
			}
			continue;
		case PW_TARGET_NONE:
		case PW_TARGET_NFLOG:
		default:
			continue;
		}
	}
	*out = STEP_RETURN;
	return 0;
}

int pw_walk_table(const struct pw_table *t, const struct pw_setlist *sets, const char *hook,
		  const struct pw_packet *p, struct pw_walk *w)
{
	struct walker wk = { t, sets, *p, w };
	enum step s;
	int err;

	memset(w, 0, sizeof(*w));
	err = run_chain(&wk, hook, 0, &s);
	w->mark = wk.p.mark;
	if (err)
		return err;
	w->verdict = s == STEP_ACCEPT ? PW_VERDICT_ACCEPT :
		     s == STEP_DROP ? PW_VERDICT_DROP : PW_VERDICT_NONE;
	return 0;
}

void pw_walk_free(struct pw_walk *w)
{
	if (!w)
		return;
	free(w->steps);
	w->steps = NULL;
	w->nsteps = w->steps_cap = 0;
}

bool pw_walk_entered(const struct pw_walk *w, const char *chain)
{
	size_t i;

	if (w->nsteps && strcmp(w->steps[0].chain, chain) == 0)
		return true;
	for (i = 0; i < w->nsteps; i++)
		if (w->steps[i].target_chain && strcmp(w->steps[i].target_chain, chain) == 0)
			return true;
	return false;
}
