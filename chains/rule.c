#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "chains/rule.h"
#include "chains/rule_internal.h"
#include "lib/util.h"

struct pw_rule *pw_rule_new(void)
{
	return pw_xcalloc(1, sizeof(struct pw_rule));
}

static void match_clear(struct pw_match *m)
{
	if (m->kind == PW_MATCH_COMMENT) {
		free(m->u.comment);
	} else if (m->kind == PW_MATCH_SET) {
		free(m->u.set.name);
	} else if (m->kind == PW_MATCH_PHYSDEV) {
		free(m->u.physdev.in);
		free(m->u.physdev.out);
	}
}

void pw_rule_free(struct pw_rule *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nmatches; i++)
		match_clear(&r->matches[i]);
	free(r->matches);
	free(r->in.name);
	free(r->out.name);
	free(r->target.chain);
	free(r->target.nflog_prefix);
	free(r);
}

static char *strdup_or_null(const char *s)
{
	return s ? pw_xstrdup(s) : NULL;
}

static void match_copy(struct pw_match *dst, const struct pw_match *src)
{
	*dst = *src;
	if (src->kind == PW_MATCH_COMMENT) {
		dst->u.comment = pw_xstrdup(src->u.comment);
	} else if (src->kind == PW_MATCH_SET) {
		dst->u.set.name = pw_xstrdup(src->u.set.name);
	} else if (src->kind == PW_MATCH_PHYSDEV) {
		dst->u.physdev.in = strdup_or_null(src->u.physdev.in);
		dst->u.physdev.out = strdup_or_null(src->u.physdev.out);
	}
}

struct pw_rule *pw_rule_dup(const struct pw_rule *r)
{
	struct pw_rule *d;
	size_t i;

	if (!r)
		return NULL;
	d = pw_xmalloc(sizeof(*d));
	*d = *r;
	d->in.name = strdup_or_null(r->in.name);
	d->out.name = strdup_or_null(r->out.name);
	d->target.chain = strdup_or_null(r->target.chain);
	d->target.nflog_prefix = strdup_or_null(r->target.nflog_prefix);
	d->matches = NULL;
	d->matches_cap = 0;
	if (r->nmatches) {
		PW_GROW(d->matches, d->matches_cap, r->nmatches);
		for (i = 0; i < r->nmatches; i++)
			match_copy(&d->matches[i], &r->matches[i]);
	}
	return d;
}

/* ---------------------------------------------------------------- IP header */

static void set_addr(struct pw_rule_addr *a, const struct pw_cidr *cidr, bool invert)
{
	memset(a, 0, sizeof(*a));
	if (!cidr)
		return;
	a->present = true;
	a->invert = invert;
	a->cidr = *cidr;
	/* iptables masks the address on input, and -save prints the masked form. */
	pw_cidr_mask(&a->cidr);
}

void pw_rule_set_src(struct pw_rule *r, const struct pw_cidr *cidr, bool invert)
{
	set_addr(&r->src, cidr, invert);
}

void pw_rule_set_dst(struct pw_rule *r, const struct pw_cidr *cidr, bool invert)
{
	set_addr(&r->dst, cidr, invert);
}

static void set_iface(struct pw_rule_iface *f, const char *name, bool invert)
{
	free(f->name);
	f->name = NULL;
	f->invert = false;
	/* An empty name or a lone "+" matches every interface: no match at all. */
	if (!name || !*name || strcmp(name, "+") == 0)
		return;
	f->name = pw_xstrdup(name);
	f->invert = invert;
}

void pw_rule_set_in_iface(struct pw_rule *r, const char *name, bool invert)
{
	set_iface(&r->in, name, invert);
}

void pw_rule_set_out_iface(struct pw_rule *r, const char *name, bool invert)
{
	set_iface(&r->out, name, invert);
}

void pw_rule_set_protocol(struct pw_rule *r, uint8_t ipproto)
{
	r->protocol = ipproto;
}

/* ---------------------------------------------------------------- matches */

static struct pw_match *add_match(struct pw_rule *r, enum pw_match_kind kind, bool invert)
{
	struct pw_match *m;

	PW_GROW(r->matches, r->matches_cap, r->nmatches + 1);
	m = &r->matches[r->nmatches++];
	memset(m, 0, sizeof(*m));
	m->kind = kind;
	m->invert = invert;
	return m;
}

/* xt_comment_info holds PW_COMMENT_MAX bytes and a NUL: longer text is cut. */
void pw_rule_add_comment(struct pw_rule *r, const char *text)
{
	struct pw_match *m = add_match(r, PW_MATCH_COMMENT, false);

	m->u.comment = pw_xstrndup(text, strnlen(text, PW_COMMENT_MAX));
}

#define PW_CT_ALL (PW_CT_INVALID | PW_CT_NEW | PW_CT_RELATED | PW_CT_ESTABLISHED)

void pw_rule_add_ctstate(struct pw_rule *r, unsigned states, bool invert)
{
	add_match(r, PW_MATCH_CONNTRACK, invert)->u.ctstates = states & PW_CT_ALL;
}

void pw_rule_add_set(struct pw_rule *r, const char *set_name, enum pw_set_dir dir,
		     bool invert)
{
	struct pw_match *m = add_match(r, PW_MATCH_SET, invert);

	m->u.set.name = pw_xstrdup(set_name);
	m->u.set.dir = dir;
}

static struct pw_port_range port_range(uint16_t first, uint16_t last)
{
	struct pw_port_range pr = { first, last > first ? last : first };

	return pr;
}

/* The match keeps the rule's protocol now: it names the match module (-m tcp). */
void pw_rule_add_dport(struct pw_rule *r, uint16_t first, uint16_t last)
{
	struct pw_match *m = add_match(r, PW_MATCH_PORT, false);

	m->u.port.proto = r->protocol;
	m->u.port.range = port_range(first, last);
}

size_t pw_multiport_slots(const struct pw_port_range *ranges, size_t nranges)
{
	size_t i, slots = 0;

	for (i = 0; i < nranges; i++)
		slots += ranges[i].last > ranges[i].first ? 2 : 1;
	return slots;
}

static bool proto_has_ports(uint8_t ipproto)
{
	return ipproto == IPPROTO_TCP || ipproto == IPPROTO_UDP ||
	       ipproto == IPPROTO_SCTP;
}

int pw_rule_add_multiport(struct pw_rule *r, const struct pw_port_range *ranges,
			  size_t nranges)
{
	struct pw_match *m;
	size_t i;

	/* The kernel's multiport checkentry refuses any other protocol. */
	if (!proto_has_ports(r->protocol))
		return -EINVAL;
	if (nranges == 0 || nranges > PW_MULTIPORT_SLOTS ||
	    pw_multiport_slots(ranges, nranges) > PW_MULTIPORT_SLOTS)
		return -EINVAL;
	m = add_match(r, PW_MATCH_MULTIPORT, false);
	m->u.multiport.proto = r->protocol;
	m->u.multiport.nranges = nranges;
	for (i = 0; i < nranges; i++)
		m->u.multiport.ranges[i] = port_range(ranges[i].first, ranges[i].last);
	return 0;
}

void pw_rule_add_mark(struct pw_rule *r, uint32_t value, uint32_t mask, bool invert)
{
	struct pw_match *m = add_match(r, PW_MATCH_MARK, invert);

	m->u.mark.value = value;
	m->u.mark.mask = mask;
}

void pw_rule_add_physdev(struct pw_rule *r, const char *in, const char *out)
{
	struct pw_match *m = add_match(r, PW_MATCH_PHYSDEV, false);

	m->u.physdev.in = strdup_or_null(in);
	m->u.physdev.out = strdup_or_null(out);
}

void pw_rule_add_icmp6_type(struct pw_rule *r, uint8_t type)
{
	add_match(r, PW_MATCH_ICMP6, false)->u.icmp6_type = type;
}

/*
 * iptables' own table of periods (libxt_limit.c), longest first: its
 * --limit parse and its save() both walk it, so the printer does too.
 */
static const struct {
	enum pw_limit_unit unit;
	const char *name;
	const char *long_name;
	uint32_t mult;		/* XT_LIMIT_SCALE * seconds */
} limit_units[] = {
	{ PW_LIMIT_DAY, "day", "day", PW_LIMIT_SCALE * 24 * 60 * 60 },
	{ PW_LIMIT_HOUR, "hour", "hour", PW_LIMIT_SCALE * 60 * 60 },
	{ PW_LIMIT_MIN, "min", "minute", PW_LIMIT_SCALE * 60 },
	{ PW_LIMIT_SEC, "sec", "second", PW_LIMIT_SCALE },
};

static uint32_t limit_mult(enum pw_limit_unit unit)
{
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(limit_units); i++)
		if (limit_units[i].unit == unit)
			return limit_units[i].mult;
	return 0;
}

const char *pw_limit_unit_name(enum pw_limit_unit unit)
{
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(limit_units); i++)
		if (limit_units[i].unit == unit)
			return limit_units[i].name;
	return "?";
}

/* As iptables' parse_rate(): the division rounds down, and 0 is "too fast". */
uint32_t pw_limit_avg(unsigned count, enum pw_limit_unit unit)
{
	uint32_t mult = limit_mult(unit);

	return count && count <= mult ? mult / count : 0;
}

int pw_limit_check(unsigned count, enum pw_limit_unit unit, unsigned burst,
		   struct pw_buf *err)
{
	uint32_t avg = pw_limit_avg(count, unit);

	if (avg == 0) {
		if (err)
			pw_buf_printf(err, "%u/%s: must be from 1/day to %u/sec", count,
				      pw_limit_unit_name(unit), PW_LIMIT_SCALE);
		return -EINVAL;
	}
	if (burst == 0) {
		if (err)
			pw_buf_puts(err, "a burst of 0 lets nothing through");
		return -EINVAL;
	}
	/* limit_mt_check() multiplies the two in 32 bits and refuses a wrap. */
	if ((uint64_t)avg * burst > UINT32_MAX) {
		if (err)
			pw_buf_printf(err, "%u/%s with a burst of %u: the kernel's "
				      "credits overflow; lower the burst or raise the rate",
				      count, pw_limit_unit_name(unit), burst);
		return -ERANGE;
	}
	return 0;
}

int pw_limit_parse(const char *text, unsigned *count, enum pw_limit_unit *unit)
{
	const char *slash = strchr(text, '/');
	unsigned long v;
	char *end;
	size_t i;

	if (!slash || text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end != slash || v == 0 || v > UINT32_MAX)
		return -EINVAL;
	for (i = 0; i < PW_ARRAY_SIZE(limit_units); i++) {
		if (strcmp(slash + 1, limit_units[i].name) == 0 ||
		    strcmp(slash + 1, limit_units[i].long_name) == 0) {
			*count = (unsigned)v;
			*unit = limit_units[i].unit;
			return 0;
		}
	}
	return -EINVAL;
}

int pw_rule_add_limit(struct pw_rule *r, unsigned count, enum pw_limit_unit unit,
		      unsigned burst)
{
	struct pw_match *m;

	if (pw_limit_check(count, unit, burst, NULL) < 0)
		return -EINVAL;
	m = add_match(r, PW_MATCH_LIMIT, false);
	m->u.limit.avg = pw_limit_avg(count, unit);
	m->u.limit.burst = burst;
	return 0;
}

/* ---------------------------------------------------------------- target */

static void set_target(struct pw_rule *r, enum pw_target_kind kind, const char *chain)
{
	/* Copy first: chain may be the rule's own pw_rule_target_chain(). */
	char *copy = strdup_or_null(chain);

	free(r->target.chain);
	free(r->target.nflog_prefix);
	memset(&r->target, 0, sizeof(r->target));
	r->target.kind = kind;
	r->target.chain = copy;
}

/* Only the verdicts that need no argument; anything else leaves the target alone. */
void pw_rule_set_verdict(struct pw_rule *r, enum pw_target_kind verdict)
{
	switch (verdict) {
	case PW_TARGET_NONE:
	case PW_TARGET_ACCEPT:
	case PW_TARGET_DROP:
	case PW_TARGET_RETURN:
		set_target(r, verdict, NULL);
		break;
	default:
		break;
	}
}

void pw_rule_set_jump(struct pw_rule *r, const char *chain)
{
	set_target(r, PW_TARGET_JUMP, chain);
}

void pw_rule_set_goto(struct pw_rule *r, const char *chain)
{
	set_target(r, PW_TARGET_GOTO, chain);
}

void pw_rule_set_mark_target(struct pw_rule *r, uint32_t value, uint32_t mask)
{
	set_target(r, PW_TARGET_MARK, NULL);
	r->target.mark_value = value;
	r->target.mark_mask = mask;
}

void pw_rule_set_nflog(struct pw_rule *r, uint16_t group, const char *prefix)
{
	set_target(r, PW_TARGET_NFLOG, NULL);
	r->target.nflog_group = group;
	if (prefix && *prefix)
		r->target.nflog_prefix = pw_xstrndup(prefix,
						     strnlen(prefix, PW_NFLOG_PREFIX_MAX));
}

enum pw_target_kind pw_rule_target(const struct pw_rule *r)
{
	return r->target.kind;
}

const char *pw_rule_target_chain(const struct pw_rule *r)
{
	return r->target.chain;
}

const char *pw_rule_comment(const struct pw_rule *r)
{
	size_t i;

	for (i = 0; i < r->nmatches; i++)
		if (r->matches[i].kind == PW_MATCH_COMMENT)
			return r->matches[i].u.comment;
	return NULL;
}

/* ---------------------------------------------------------------- format */

/*
 * iptables-save names protocols from /etc/protocols. A fixed table keeps the
 * dry run the same on every host; it holds the netbase names of the protocols
 * a policy can reasonably carry, and anything else prints as a number.
 */
const char *pw_proto_name(uint8_t ipproto)
{
	static const struct {
		uint8_t num;
		const char *name;
	} names[] = {
		{ IPPROTO_ICMP, "icmp" }, { IPPROTO_TCP, "tcp" }, { IPPROTO_UDP, "udp" },
		{ IPPROTO_GRE, "gre" }, { IPPROTO_ESP, "esp" }, { IPPROTO_AH, "ah" },
		{ IPPROTO_ICMPV6, "ipv6-icmp" }, { IPPROTO_SCTP, "sctp" },
		{ 136, "udplite" },
	};
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(names); i++)
		if (names[i].num == ipproto)
			return names[i].name;
	return NULL;
}

static void put_proto(struct pw_buf *out, uint8_t ipproto)
{
	const char *name = pw_proto_name(ipproto);

	if (name)
		pw_buf_puts(out, name);
	else
		pw_buf_printf(out, "%u", ipproto);
}

static const char *bang(bool invert)
{
	return invert ? " !" : "";
}

/* print_ip() omits an all-zero, non-inverted address: that is "any". */
static void format_addr(struct pw_buf *out, const char *opt, const struct pw_rule_addr *a)
{
	char text[PW_CIDR_STRLEN];

	if (!a->present || (a->cidr.prefix == 0 && !a->invert))
		return;
	pw_cidr_format(&a->cidr, true, text);
	pw_buf_printf(out, "%s %s %s", bang(a->invert), opt, text);
}

static void format_iface(struct pw_buf *out, const char *opt,
			 const struct pw_rule_iface *f)
{
	if (f->name)
		pw_buf_printf(out, "%s %s %s", bang(f->invert), opt, f->name);
}

/* xtables_save_string(): bare when only [A-Za-z0-9_-], else quoted with escapes. */
static void format_string(struct pw_buf *out, const char *s)
{
	static const char bare[] = "_-0123456789abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	size_t n = strspn(s, bare);

	pw_buf_putc(out, ' ');
	if (n > 0 && s[n] == '\0') {
		pw_buf_puts(out, s);
		return;
	}
	pw_buf_putc(out, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\' || *s == '\'')
			pw_buf_putc(out, '\\');
		pw_buf_putc(out, *s);
	}
	pw_buf_putc(out, '"');
}

static void format_ctstates(struct pw_buf *out, unsigned states)
{
	static const struct {
		unsigned bit;
		const char *name;
	} order[] = {
		{ PW_CT_INVALID, "INVALID" }, { PW_CT_NEW, "NEW" },
		{ PW_CT_RELATED, "RELATED" }, { PW_CT_ESTABLISHED, "ESTABLISHED" },
	};
	const char *sep = " ";
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(order); i++) {
		if (states & order[i].bit) {
			pw_buf_printf(out, "%s%s", sep, order[i].name);
			sep = ",";
		}
	}
}

static const char *set_dir_text(enum pw_set_dir dir)
{
	switch (dir) {
	case PW_SET_SRC:
		return "src";
	case PW_SET_DST:
		return "dst";
	case PW_SET_DST_DST:
		return "dst,dst";
	case PW_SET_SRC_DST:
		return "src,dst";
	}
	return "?";
}

static void format_range(struct pw_buf *out, const struct pw_port_range *pr)
{
	if (pr->last > pr->first)
		pw_buf_printf(out, "%u:%u", pr->first, pr->last);
	else
		pw_buf_printf(out, "%u", pr->first);
}

/* tcp and udp save() skip a full 0:65535 range; sctp prints whatever is set. */
static void format_port(struct pw_buf *out, const struct pw_match_port *p)
{
	pw_buf_puts(out, " -m ");
	put_proto(out, p->proto);
	if (p->proto != IPPROTO_SCTP && p->range.first == 0 && p->range.last == 65535)
		return;
	pw_buf_puts(out, " --dport ");
	format_range(out, &p->range);
}

static void format_multiport(struct pw_buf *out, const struct pw_match_multiport *mp)
{
	size_t i;

	pw_buf_puts(out, " -m multiport --dports ");
	for (i = 0; i < mp->nranges; i++) {
		if (i)
			pw_buf_putc(out, ',');
		format_range(out, &mp->ranges[i]);
	}
}

/* xtables_print_mark_mask(): the mask only when it is not all ones. */
static void format_mark_value(struct pw_buf *out, uint32_t value, uint32_t mask)
{
	if (mask == 0xffffffffu)
		pw_buf_printf(out, " 0x%x", value);
	else
		pw_buf_printf(out, " 0x%x/0x%x", value, mask);
}

/*
 * libxt_limit's print_rate(): the longest period whose count is still a
 * fair whole number, i.e. the first one after which the remainder would
 * outweigh the quotient.
 */
static void format_rate(struct pw_buf *out, uint32_t avg)
{
	size_t i;

	if (avg == 0) {
		pw_buf_puts(out, " inf");
		return;
	}
	for (i = 1; i < PW_ARRAY_SIZE(limit_units); i++)
		if (avg > limit_units[i].mult ||
		    limit_units[i].mult / avg < limit_units[i].mult % avg)
			break;
	pw_buf_printf(out, " %u/%s", limit_units[i - 1].mult / avg, limit_units[i - 1].name);
}

static void format_match(struct pw_buf *out, const struct pw_match *m)
{
	switch (m->kind) {
	case PW_MATCH_COMMENT:
		pw_buf_puts(out, " -m comment --comment");
		format_string(out, m->u.comment);
		break;
	case PW_MATCH_CONNTRACK:
		pw_buf_printf(out, " -m conntrack%s --ctstate", bang(m->invert));
		format_ctstates(out, m->u.ctstates);
		break;
	case PW_MATCH_SET:
		pw_buf_printf(out, " -m set%s --match-set %s %s", bang(m->invert),
			      m->u.set.name, set_dir_text(m->u.set.dir));
		break;
	case PW_MATCH_PORT:
		format_port(out, &m->u.port);
		break;
	case PW_MATCH_MULTIPORT:
		format_multiport(out, &m->u.multiport);
		break;
	case PW_MATCH_MARK:
		pw_buf_printf(out, " -m mark%s --mark", bang(m->invert));
		format_mark_value(out, m->u.mark.value, m->u.mark.mask);
		break;
	case PW_MATCH_ICMP6:
		/* libip6t_icmp6's save(): the type alone when every code matches. */
		pw_buf_printf(out, " -m icmp6 --icmpv6-type %u", m->u.icmp6_type);
		break;
	case PW_MATCH_PHYSDEV:
		/* libxt_physdev's save(): in, then out, then is-bridged. */
		pw_buf_puts(out, " -m physdev");
		if (m->u.physdev.in)
			pw_buf_printf(out, " --physdev-in %s", m->u.physdev.in);
		if (m->u.physdev.out)
			pw_buf_printf(out, " --physdev-out %s --physdev-is-bridged",
				      m->u.physdev.out);
		break;
	case PW_MATCH_LIMIT:
		pw_buf_puts(out, " -m limit --limit");
		format_rate(out, m->u.limit.avg);
		if (m->u.limit.burst != PW_LIMIT_DEFAULT_BURST)
			pw_buf_printf(out, " --limit-burst %u", m->u.limit.burst);
		break;
	}
}

static void format_target(struct pw_buf *out, const struct pw_rule_target *t)
{
	switch (t->kind) {
	case PW_TARGET_NONE:
		break;
	case PW_TARGET_ACCEPT:
		pw_buf_puts(out, " -j ACCEPT");
		break;
	case PW_TARGET_DROP:
		pw_buf_puts(out, " -j DROP");
		break;
	case PW_TARGET_RETURN:
		pw_buf_puts(out, " -j RETURN");
		break;
	case PW_TARGET_JUMP:
		pw_buf_printf(out, " -j %s", t->chain);
		break;
	case PW_TARGET_GOTO:
		pw_buf_printf(out, " -g %s", t->chain);
		break;
	case PW_TARGET_MARK:
		/* MARK v2 save() always prints both halves. */
		pw_buf_printf(out, " -j MARK --set-xmark 0x%x/0x%x", t->mark_value,
			      t->mark_mask);
		break;
	case PW_TARGET_NFLOG:
		/* libxt_NFLOG's save(): prefix, then the group unless it is 0. */
		pw_buf_puts(out, " -j NFLOG");
		if (t->nflog_prefix) {
			pw_buf_puts(out, " --nflog-prefix");
			format_string(out, t->nflog_prefix);
		}
		if (t->nflog_group)
			pw_buf_printf(out, " --nflog-group %u", t->nflog_group);
		break;
	}
}

/*
 * print_rule4() writes each part with a leading space after "-A CHAIN"; we
 * build the same string and drop that first space, since the caller adds
 * "-A CHAIN " itself.
 */
void pw_rule_format(const struct pw_rule *r, struct pw_buf *out)
{
	struct pw_buf line = PW_BUF_INIT;
	size_t i;

	format_addr(&line, "-s", &r->src);
	format_addr(&line, "-d", &r->dst);
	format_iface(&line, "-i", &r->in);
	format_iface(&line, "-o", &r->out);
	if (r->protocol) {
		pw_buf_puts(&line, " -p ");
		put_proto(&line, r->protocol);
	}
	for (i = 0; i < r->nmatches; i++)
		format_match(&line, &r->matches[i]);
	format_target(&line, &r->target);
	if (line.len)
		pw_buf_puts(out, pw_buf_str(&line) + 1);
	pw_buf_free(&line);
}

/* ---------------------------------------------------------------- equality */

static bool str_equal(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool addr_equal(const struct pw_rule_addr *a, const struct pw_rule_addr *b)
{
	if (a->present != b->present)
		return false;
	return !a->present ||
	       (a->invert == b->invert && pw_cidr_equal(&a->cidr, &b->cidr));
}

static bool iface_equal(const struct pw_rule_iface *a, const struct pw_rule_iface *b)
{
	return str_equal(a->name, b->name) && a->invert == b->invert;
}

static bool range_equal(const struct pw_port_range *a, const struct pw_port_range *b)
{
	return a->first == b->first && a->last == b->last;
}

static bool multiport_equal(const struct pw_match_multiport *a,
			    const struct pw_match_multiport *b)
{
	size_t i;

	if (a->proto != b->proto || a->nranges != b->nranges)
		return false;
	for (i = 0; i < a->nranges; i++)
		if (!range_equal(&a->ranges[i], &b->ranges[i]))
			return false;
	return true;
}

static bool match_equal(const struct pw_match *a, const struct pw_match *b)
{
	if (a->kind != b->kind || a->invert != b->invert)
		return false;
	switch (a->kind) {
	case PW_MATCH_COMMENT:
		return strcmp(a->u.comment, b->u.comment) == 0;
	case PW_MATCH_CONNTRACK:
		return a->u.ctstates == b->u.ctstates;
	case PW_MATCH_SET:
		return a->u.set.dir == b->u.set.dir &&
		       strcmp(a->u.set.name, b->u.set.name) == 0;
	case PW_MATCH_PORT:
		return a->u.port.proto == b->u.port.proto &&
		       range_equal(&a->u.port.range, &b->u.port.range);
	case PW_MATCH_MULTIPORT:
		return multiport_equal(&a->u.multiport, &b->u.multiport);
	case PW_MATCH_MARK:
		return a->u.mark.value == b->u.mark.value &&
		       a->u.mark.mask == b->u.mark.mask;
	case PW_MATCH_PHYSDEV:
		return str_equal(a->u.physdev.in, b->u.physdev.in) &&
		       str_equal(a->u.physdev.out, b->u.physdev.out);
	case PW_MATCH_ICMP6:
		return a->u.icmp6_type == b->u.icmp6_type;
	case PW_MATCH_LIMIT:
		return a->u.limit.avg == b->u.limit.avg &&
		       a->u.limit.burst == b->u.limit.burst;
	}
	return false;
}

static bool target_equal(const struct pw_rule_target *a, const struct pw_rule_target *b)
{
	return a->kind == b->kind && str_equal(a->chain, b->chain) &&
	       a->mark_value == b->mark_value && a->mark_mask == b->mark_mask &&
	       a->nflog_group == b->nflog_group &&
	       str_equal(a->nflog_prefix, b->nflog_prefix);
}

bool pw_rule_equal(const struct pw_rule *a, const struct pw_rule *b)
{
	size_t i;

	if (a == b)
		return true;
	if (!a || !b)
		return false;
	if (!addr_equal(&a->src, &b->src) || !addr_equal(&a->dst, &b->dst) ||
	    !iface_equal(&a->in, &b->in) || !iface_equal(&a->out, &b->out) ||
	    a->protocol != b->protocol || a->nmatches != b->nmatches ||
	    !target_equal(&a->target, &b->target))
		return false;
	for (i = 0; i < a->nmatches; i++)
		if (!match_equal(&a->matches[i], &b->matches[i]))
			return false;
	return true;
}
