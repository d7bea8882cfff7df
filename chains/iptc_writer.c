#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
/* Before libiptc.h, which otherwise clashes with linux/if.h on some kernels. */
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libiptc/libiptc.h>
#include <libiptc/libip6tc.h>
#include <linux/netfilter/xt_comment.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_limit.h>
#include <linux/netfilter/xt_NFLOG.h>
#include <linux/netfilter/xt_mark.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_sctp.h>
#include <linux/netfilter/xt_set.h>
#include <linux/netfilter/xt_tcpudp.h>

#include "chains/compat.h"
#include "chains/iptc_writer.h"
#include "chains/xt_layout.h"
#include "chains/rule.h"
#include "chains/rule_internal.h"
#include "chains/setindex.h"
#include "chains/table.h"
#include "lib/strmap.h"
#include "lib/util.h"

/* Whole transactions tried before a commit that keeps racing gives up. */
#define PW_IPTC_MAX_ATTEMPTS 5

/* ------------------------------------------------------------ the family seam */

/*
 * Everything libip4tc and libip6tc do differently: the names of the same
 * calls, the handle and entry types, the entry's header (struct ipt_ip or
 * struct ip6t_ip6, and so where target_offset and next_offset sit), the
 * goto flag, and where revision probes are asked. The rest of this file is
 * written once against this table, chosen by the desired table's family.
 *
 * Handles and entries cross the seam as void *: iptables 1.4's headers
 * give the libraries distinct handle types (struct iptc_handle, struct
 * ip6tc_handle), newer ones #define both to struct xtc_handle; the
 * wrappers below spell them the old way, which both accept.
 */
struct family_ops {
	const struct pw_xt_layout *xt;	/* the family, its label and its entry's fields */
	int revision_match;		/* ..._SO_GET_REVISION_MATCH */
	/* Fills the header from the rule; the entry is zeroed. */
	int (*put_header)(const struct pw_rule *r, void *entry, struct pw_buf *err);

	void *(*init)(const char *table);
	void (*free)(void *h);
	int (*commit)(void *h);
	const char *(*first_chain)(void *h);
	const char *(*next_chain)(void *h);
	const void *(*first_rule)(const char *chain, void *h);
	const void *(*next_rule)(const void *e, void *h);
	const char *(*get_target)(const void *e, void *h);
	int (*is_chain)(const char *chain, void *h);
	int (*builtin)(const char *chain, void *h);
	int (*create_chain)(const char *chain, void *h);
	int (*flush_entries)(const char *chain, void *h);
	int (*delete_chain)(const char *chain, void *h);
	int (*append_entry)(const char *chain, const void *e, void *h);
	int (*insert_entry)(const char *chain, const void *e, unsigned n, void *h);
	int (*delete_num_entry)(const char *chain, unsigned n, void *h);
	const char *(*strerror)(int err);
};

/*
 * One set of thin wrappers per library: tc is the function prefix (iptc,
 * ip6tc), handle and entry its types. The libraries are built from one
 * source, so the calls line up one for one.
 */
#define PW_TC_CALLS(tc, handle, entry)						\
static void *tc##_call_init(const char *table)					\
{ return tc##_init(table); }							\
static void tc##_call_free(void *h)						\
{ tc##_free((handle *)h); }							\
static int tc##_call_commit(void *h)						\
{ return tc##_commit((handle *)h); }						\
static const char *tc##_call_first_chain(void *h)				\
{ return tc##_first_chain((handle *)h); }					\
static const char *tc##_call_next_chain(void *h)				\
{ return tc##_next_chain((handle *)h); }					\
static const void *tc##_call_first_rule(const char *chain, void *h)		\
{ return tc##_first_rule(chain, (handle *)h); }				\
static const void *tc##_call_next_rule(const void *e, void *h)		\
{ return tc##_next_rule((const entry *)e, (handle *)h); }			\
static const char *tc##_call_get_target(const void *e, void *h)		\
{ return tc##_get_target((const entry *)e, (handle *)h); }			\
static int tc##_call_is_chain(const char *chain, void *h)			\
{ return tc##_is_chain(chain, (handle *)h); }					\
static int tc##_call_builtin(const char *chain, void *h)			\
{ return tc##_builtin(chain, (handle *)h); }					\
static int tc##_call_create_chain(const char *chain, void *h)			\
{ return tc##_create_chain(chain, (handle *)h); }				\
static int tc##_call_flush_entries(const char *chain, void *h)		\
{ return tc##_flush_entries(chain, (handle *)h); }				\
static int tc##_call_delete_chain(const char *chain, void *h)			\
{ return tc##_delete_chain(chain, (handle *)h); }				\
static int tc##_call_append_entry(const char *chain, const void *e, void *h)	\
{ return tc##_append_entry(chain, (const entry *)e, (handle *)h); }		\
static int tc##_call_insert_entry(const char *chain, const void *e, unsigned n, \
				  void *h)					\
{ return tc##_insert_entry(chain, (const entry *)e, n, (handle *)h); }	\
static int tc##_call_delete_num_entry(const char *chain, unsigned n, void *h)	\
{ return tc##_delete_num_entry(chain, n, (handle *)h); }			\
static const char *tc##_call_strerror(int err)				\
{ return tc##_strerror(err); }

PW_TC_CALLS(iptc, struct iptc_handle, struct ipt_entry)
PW_TC_CALLS(ip6tc, struct ip6tc_handle, struct ip6t_entry)

#define PW_TC_OPS(tc)								\
	.init = tc##_call_init, .free = tc##_call_free,			\
	.commit = tc##_call_commit, .first_chain = tc##_call_first_chain,	\
	.next_chain = tc##_call_next_chain, .first_rule = tc##_call_first_rule,	\
	.next_rule = tc##_call_next_rule, .get_target = tc##_call_get_target,	\
	.is_chain = tc##_call_is_chain, .builtin = tc##_call_builtin,		\
	.create_chain = tc##_call_create_chain,					\
	.flush_entries = tc##_call_flush_entries,				\
	.delete_chain = tc##_call_delete_chain,					\
	.append_entry = tc##_call_append_entry,					\
	.insert_entry = tc##_call_insert_entry,					\
	.delete_num_entry = tc##_call_delete_num_entry,				\
	.strerror = tc##_call_strerror

static int put_header4(const struct pw_rule *r, void *entry, struct pw_buf *err);
static int put_header6(const struct pw_rule *r, void *entry, struct pw_buf *err);

static const struct family_ops ipv4_ops = {
	.xt = &pw_xt_ipv4,
	.revision_match = IPT_SO_GET_REVISION_MATCH,
	.put_header = put_header4,
	PW_TC_OPS(iptc),
};

static const struct family_ops ipv6_ops = {
	.xt = &pw_xt_ipv6,
	.revision_match = IP6T_SO_GET_REVISION_MATCH,
	.put_header = put_header6,
	PW_TC_OPS(ip6tc),
};

static const struct family_ops *family_ops(int family)
{
	switch (family) {
	case AF_INET:
		return &ipv4_ops;
	case AF_INET6:
		return &ipv6_ops;
	}
	return NULL;
}

/* The two header fields the generic code needs, wherever the family put them. */
static void set_offset(void *e, size_t at, size_t v)
{
	uint16_t u = (uint16_t)v;

	memcpy((char *)e + at, &u, sizeof(u));
}

static uint16_t target_offset(const struct family_ops *f, const void *e)
{
	return pw_xt_u16_at(e, f->xt->target_offset_at);
}

static uint16_t next_offset(const struct family_ops *f, const void *e)
{
	return pw_xt_u16_at(e, f->xt->next_offset_at);
}

/* A match or the target of e, at offset off. */
static const struct xt_entry_match *object_at(const void *e, size_t off)
{
	return (const void *)((const char *)e + off);
}

/*
 * Test seam: when a program defines it, it runs between the edits and the
 * commit of every attempt, so a test can play the concurrent writer that
 * makes the kernel answer EAGAIN. Weak, so the daemon pays one NULL test.
 */
extern void pw_iptc_test_before_commit(unsigned attempt) __attribute__((weak));

/* ------------------------------------------------------------ entry builder */

/*
 * One desired rule as its family's entry, and what libiptc will say about it
 * once it is in the kernel: standard targets come back as verdicts or
 * offsets, so they are compared by iptc_get_target()'s name instead.
 */
struct want_rule {
	void *e;		/* struct ipt_entry or struct ip6t_entry */
	const char *target;	/* "", "ACCEPT", "DROP", "RETURN", a chain, "MARK" */
	bool module_target;	/* its data is compared too (MARK) */
	const char *jump;	/* JUMP or GOTO: the chain, which must exist */
};

struct match_desc {
	const char *name;
	uint8_t revision;
	size_t size;		/* the info struct, before XT_ALIGN */
};

/*
 * xt_set_info_match_v3 and _v4, spelled out because the uapi headers of
 * older distributions lack v4 and give v3's counter struct another name
 * (the layout is kernel ABI). v3's counters are 4-byte aligned on i386,
 * which is why v4 exists.
 */
struct pw_set_counter_v3 {
	uint8_t op;
	uint64_t value;
};

struct pw_set_match_v3 {
	struct xt_set_info match_set;
	struct pw_set_counter_v3 packets;
	struct pw_set_counter_v3 bytes;
	uint32_t flags;
};

struct pw_set_counter_v4 {
	uint64_t value __attribute__((aligned(8)));
	uint8_t op;
};

struct pw_set_match_v4 {
	struct xt_set_info match_set;
	struct pw_set_counter_v4 packets;
	struct pw_set_counter_v4 bytes;
	uint32_t flags;
};

/*
 * xt_physdev_info, spelled out: <linux/netfilter/xt_physdev.h> pulls in
 * <linux/if.h>, which clashes with <net/if.h> on older distributions'
 * headers (the layout is kernel ABI).
 */
#define PW_PHYSDEV_OP_IN	0x01
#define PW_PHYSDEV_OP_OUT	0x02
#define PW_PHYSDEV_OP_BRIDGED	0x04

struct pw_physdev_info {
	char physindev[IFNAMSIZ];
	unsigned char in_mask[IFNAMSIZ];
	char physoutdev[IFNAMSIZ];
	unsigned char out_mask[IFNAMSIZ];
	uint8_t invert;
	uint8_t bitmask;
};

#define REV_UNKNOWN (-1)

struct builder {
	const struct family_ops *ops;
	struct pw_setindex *sets;	/* opened on the first set match */
	int probe_fd;			/* raw socket of the family for revision probes */
	int probe_errno;		/* why there is none */
	int set_rev;			/* REV_UNKNOWN until probed */
	int conntrack_rev;
};

/*
 * The probe socket is opened at once: for IPv6 it also tells whether the
 * kernel has the family at all, before anything else is tried.
 */
static void builder_init(struct builder *b, const struct family_ops *ops)
{
	b->ops = ops;
	b->sets = NULL;
	b->probe_fd = socket(ops->xt->family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	b->probe_errno = b->probe_fd < 0 ? errno : 0;
	b->set_rev = REV_UNKNOWN;
	b->conntrack_rev = REV_UNKNOWN;
}

static void builder_fini(struct builder *b)
{
	pw_setindex_close(b->sets);
	if (b->probe_fd >= 0)
		close(b->probe_fd);
}

/*
 * The newest of revs (newest first) that the kernel has, as iptables'
 * xtables_compatible_revision() asks; the last, oldest one when the kernel
 * cannot say. iptables-save prints a set or conntrack match only in the
 * revision iptables itself would choose ("[unsupported revision]"
 * otherwise), so podwall chooses the same way. ip6tables asks on an IPv6
 * socket; the kernel's extensions answer alike for both, but the family
 * written is the one asked.
 */
static int kernel_match_revision(struct builder *b, const char *name,
				 const uint8_t *revs, size_t n)
{
	struct xt_get_revision req;
	socklen_t len;
	size_t i;

	for (i = 0; b->probe_fd >= 0 && i + 1 < n; i++) {
		memset(&req, 0, sizeof(req));
		strncpy(req.name, name, sizeof(req.name) - 1);
		req.revision = revs[i];
		len = sizeof(req);
		if (getsockopt(b->probe_fd, b->ops->xt->level, b->ops->revision_match,
			       &req, &len) >= 0)
			return revs[i];
	}
	return revs[n - 1];
}

/* set 4 (3.19), 3, 2 (v1's layout), else 1; conntrack 3, 2, else 1. */
static int set_revision(struct builder *b)
{
	static const uint8_t revs[] = { 4, 3, 2, 1 };

	if (b->set_rev == REV_UNKNOWN)
		b->set_rev = kernel_match_revision(b, "set", revs, PW_ARRAY_SIZE(revs));
	return b->set_rev;
}

static int conntrack_revision(struct builder *b)
{
	static const uint8_t revs[] = { 3, 2, 1 };

	if (b->conntrack_rev == REV_UNKNOWN)
		b->conntrack_rev = kernel_match_revision(b, "conntrack", revs,
							 PW_ARRAY_SIZE(revs));
	return b->conntrack_rev;
}

static size_t set_info_size(int rev)
{
	switch (rev) {
	case 4:
		return sizeof(struct pw_set_match_v4);
	case 3:
		return sizeof(struct pw_set_match_v3);
	}
	return sizeof(struct xt_set_info_match_v1);
}

static size_t conntrack_info_size(int rev)
{
	switch (rev) {
	case 3:
		return sizeof(struct xt_conntrack_mtinfo3);
	case 2:
		return sizeof(struct xt_conntrack_mtinfo2);
	}
	return sizeof(struct xt_conntrack_mtinfo1);
}

static const char *port_match_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_SCTP:
		return "sctp";
	}
	return NULL;
}

static size_t port_info_size(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return sizeof(struct xt_tcp);
	case IPPROTO_UDP:
		return sizeof(struct xt_udp);
	}
	return sizeof(struct xt_sctp_info);
}

/*
 * Fixed revisions that every kernel >= 3.10 and every iptables >= 1.4.21
 * agree on: multiport 1, mark 1, comment/tcp/udp/sctp 0. Set and conntrack
 * follow the kernel, never below 1.
 */
static int describe_match(struct builder *b, const struct pw_match *m,
			  struct match_desc *d, struct pw_buf *err)
{
	int rev;

	switch (m->kind) {
	case PW_MATCH_COMMENT:
		*d = (struct match_desc){ "comment", 0, sizeof(struct xt_comment_info) };
		return 0;
	case PW_MATCH_CONNTRACK:
		rev = conntrack_revision(b);
		*d = (struct match_desc){ "conntrack", rev, conntrack_info_size(rev) };
		return 0;
	case PW_MATCH_SET:
		rev = set_revision(b);
		*d = (struct match_desc){ "set", rev, set_info_size(rev) };
		return 0;
	case PW_MATCH_PORT:
		if (!port_match_name(m->u.port.proto)) {
			pw_buf_printf(err, "a port match needs tcp, udp or sctp, not "
				      "protocol %u", m->u.port.proto);
			return -EINVAL;
		}
		*d = (struct match_desc){ port_match_name(m->u.port.proto), 0,
					  port_info_size(m->u.port.proto) };
		return 0;
	case PW_MATCH_MULTIPORT:
		*d = (struct match_desc){ "multiport", 1,
					  sizeof(struct xt_multiport_v1) };
		return 0;
	case PW_MATCH_MARK:
		*d = (struct match_desc){ "mark", 1, sizeof(struct xt_mark_mtinfo1) };
		return 0;
	case PW_MATCH_PHYSDEV:
		*d = (struct match_desc){ "physdev", 0, sizeof(struct pw_physdev_info) };
		return 0;
	case PW_MATCH_ICMP6:
		if (b->ops->xt->family != AF_INET6) {
			pw_buf_puts(err, "an icmp6 match needs an IPv6 table");
			return -EINVAL;
		}
		*d = (struct match_desc){ "icmp6", 0, sizeof(struct ip6t_icmp) };
		return 0;
	case PW_MATCH_LIMIT:
		*d = (struct match_desc){ "limit", 0, sizeof(struct xt_rateinfo) };
		return 0;
	}
	pw_buf_printf(err, "unknown match kind %d", (int)m->kind);
	return -EINVAL;
}

static size_t match_size(const struct match_desc *d)
{
	return XT_ALIGN(sizeof(struct xt_entry_match)) + XT_ALIGN(d->size);
}

/* Appends an empty match at target_offset; the buffer is sized and zeroed. */
static void *add_match(const struct family_ops *f, void *e, const struct match_desc *d)
{
	size_t off = target_offset(f, e);
	struct xt_entry_match *m = (void *)((char *)e + off);

	m->u.match_size = match_size(d);
	strncpy(m->u.user.name, d->name, sizeof(m->u.user.name) - 1);
	m->u.user.revision = d->revision;
	set_offset(e, f->xt->target_offset_at, off + m->u.match_size);
	return m->data;
}

static uint8_t ctstate_mask(unsigned states)
{
	uint8_t mask = 0;

	if (states & PW_CT_INVALID)
		mask |= XT_CONNTRACK_STATE_INVALID;
	if (states & PW_CT_NEW)
		mask |= XT_CONNTRACK_STATE_BIT(IP_CT_NEW);
	if (states & PW_CT_RELATED)
		mask |= XT_CONNTRACK_STATE_BIT(IP_CT_RELATED);
	if (states & PW_CT_ESTABLISHED)
		mask |= XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED);
	return mask;
}

/* Revisions 1 to 3 share the layout up to state_mask, which grew to 16 bits in 2. */
static void fill_conntrack(void *data, int rev, const struct pw_match *m)
{
	struct xt_conntrack_mtinfo1 *v1 = data;
	struct xt_conntrack_mtinfo2 *v2 = data;
	uint8_t states = ctstate_mask(m->u.ctstates);

	v1->match_flags = XT_CONNTRACK_STATE;
	if (m->invert)
		v1->invert_flags = XT_CONNTRACK_STATE;
	if (rev >= 2)
		v2->state_mask = states;
	else
		v1->state_mask = states;
}

static const char *family_name(int family)
{
	return family == AF_INET6 ? "inet6" : family == AF_INET ? "inet" : "unspec";
}

/*
 * Dimensions and source flags as libxt_set's parse_dirs() sets them. A set
 * of the other family would never match (and an inverted match always),
 * so it is refused as ip6tables refuses it; a family the kernel does not
 * tell (list:set, a kernel before 3.13) is taken on trust, as there.
 */
static int fill_set(struct builder *b, struct xt_set_info *s, const struct pw_match *m,
		    struct pw_buf *err)
{
	int family, ret;

	if (!b->sets) {
		ret = pw_setindex_open(&b->sets, err);
		if (ret < 0)
			return ret;
	}
	ret = pw_setindex_lookup(b->sets, m->u.set.name, &s->index, &family, err);
	if (ret < 0)
		return ret;
	if (family != AF_UNSPEC && family != b->ops->xt->family) {
		pw_buf_printf(err, "set %s is of family %s, which a rule of an %s "
			      "table cannot match", m->u.set.name, family_name(family),
			      family_name(b->ops->xt->family));
		return -EINVAL;
	}
	switch (m->u.set.dir) {
	case PW_SET_SRC:
		s->dim = 1;
		s->flags = IPSET_DIM_ONE_SRC;
		break;
	case PW_SET_DST:
		s->dim = 1;
		break;
	case PW_SET_DST_DST:
		s->dim = 2;
		break;
	case PW_SET_SRC_DST:
		s->dim = 2;
		s->flags = IPSET_DIM_ONE_SRC;
		break;
	}
	if (m->invert)
		s->flags |= IPSET_INV_MATCH;
	return 0;
}

/*
 * Host byte order, with what each extension's init() leaves: tcp and udp
 * an open source range 0:65535, sctp no source range at all (its flags
 * say which ranges count) and every chunk-flag slot unused (type 0xff).
 */
static void fill_port(void *data, const struct pw_match_port *p)
{
	struct xt_tcp *tcp = data;
	struct xt_udp *udp = data;
	struct xt_sctp_info *sctp = data;
	size_t i;

	switch (p->proto) {
	case IPPROTO_TCP:
		tcp->spts[1] = 0xffff;
		tcp->dpts[0] = p->range.first;
		tcp->dpts[1] = p->range.last;
		break;
	case IPPROTO_UDP:
		udp->spts[1] = 0xffff;
		udp->dpts[0] = p->range.first;
		udp->dpts[1] = p->range.last;
		break;
	default:
		sctp->dpts[0] = p->range.first;
		sctp->dpts[1] = p->range.last;
		sctp->flags = XT_SCTP_DEST_PORTS;
		for (i = 0; i < PW_ARRAY_SIZE(sctp->flag_info); i++)
			sctp->flag_info[i].chunktype = 0xff;
		break;
	}
}

/* A range takes two slots: the first flagged, the second its end. */
static void fill_multiport(struct xt_multiport_v1 *info,
			   const struct pw_match_multiport *mp)
{
	size_t i;

	info->flags = XT_MULTIPORT_DESTINATION;
	for (i = 0; i < mp->nranges; i++) {
		info->ports[info->count] = mp->ranges[i].first;
		if (mp->ranges[i].last > mp->ranges[i].first) {
			info->pflags[info->count++] = 1;
			info->ports[info->count] = mp->ranges[i].last;
		}
		info->count++;
	}
}

/*
 * As xtables_parse_interface(): the name is stored as given, '+' included,
 * and the mask covers the NUL for an exact name, only the prefix for "eth+".
 */
static int put_iface_name(const char *name, char out[IFNAMSIZ],
			  unsigned char mask[IFNAMSIZ], struct pw_buf *err)
{
	size_t len = strlen(name);

	if (len == 0 || len >= IFNAMSIZ) {
		pw_buf_printf(err, "interface name \"%s\" must be 1 to %d characters",
			      name, IFNAMSIZ - 1);
		return -EINVAL;
	}
	memcpy(out, name, len);
	memset(mask, 0xff, name[len - 1] == '+' ? len - 1 : len + 1);
	return 0;
}

static int fill_physdev(struct pw_physdev_info *info, const struct pw_match_physdev *p,
			struct pw_buf *err)
{
	int ret = 0;

	if (p->in) {
		ret = put_iface_name(p->in, info->physindev, info->in_mask, err);
		info->bitmask |= PW_PHYSDEV_OP_IN;
	}
	if (ret == 0 && p->out) {
		ret = put_iface_name(p->out, info->physoutdev, info->out_mask, err);
		info->bitmask |= PW_PHYSDEV_OP_OUT | PW_PHYSDEV_OP_BRIDGED;
	}
	return ret;
}

/* As libip6t_icmp6 parses "--icmpv6-type N": every code of the type. */
static void fill_icmp6(struct ip6t_icmp *info, uint8_t type)
{
	info->type = type;
	info->code[0] = 0;
	info->code[1] = 0xff;
}

static int fill_match(struct builder *b, void *data, const struct match_desc *d,
		      const struct pw_match *m, struct pw_buf *err)
{
	struct xt_comment_info *comment = data;
	struct xt_mark_mtinfo1 *mark = data;
	struct xt_rateinfo *limit = data;

	switch (m->kind) {
	case PW_MATCH_COMMENT:
		strncpy(comment->comment, m->u.comment, sizeof(comment->comment) - 1);
		break;
	case PW_MATCH_CONNTRACK:
		fill_conntrack(data, d->revision, m);
		break;
	case PW_MATCH_SET:
		/* Every revision starts with its struct xt_set_info. */
		return fill_set(b, data, m, err);
	case PW_MATCH_PORT:
		fill_port(data, &m->u.port);
		break;
	case PW_MATCH_MULTIPORT:
		fill_multiport(data, &m->u.multiport);
		break;
	case PW_MATCH_MARK:
		mark->mark = m->u.mark.value;
		mark->mask = m->u.mark.mask;
		mark->invert = m->invert;
		break;
	case PW_MATCH_PHYSDEV:
		return fill_physdev(data, &m->u.physdev, err);
	case PW_MATCH_ICMP6:
		fill_icmp6(data, m->u.icmp6_type);
		break;
	case PW_MATCH_LIMIT:
		/* The rest is the kernel's bucket, set up by its checkentry. */
		limit->avg = m->u.limit.avg;
		limit->burst = m->u.limit.burst;
		break;
	}
	return 0;
}

/* The first prefix bits of len bytes set, as iptables makes a mask of /N. */
static void prefix_mask(unsigned char *mask, size_t len, unsigned prefix)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned bits = prefix >= 8 ? 8 : prefix;

		mask[i] = bits ? (unsigned char)(0xff << (8 - bits)) : 0;
		prefix -= bits;
	}
}

/*
 * addr and mask are the header's in_addr or in6_addr for family; the
 * address is stored masked, as iptables parses it.
 */
static int put_addr(const struct pw_rule_addr *a, int family, void *addr, void *mask,
		    uint8_t inv_flag, uint8_t *invflags, struct pw_buf *err)
{
	const char *name = family == AF_INET6 ? "IPv6" : "IPv4";
	size_t i, len = family == AF_INET6 ? 16 : 4;
	unsigned char *ab = addr, *mb = mask;

	if (!a->present)
		return 0;
	/* Not -EAFNOSUPPORT: that says the kernel has no IPv6. */
	if (a->cidr.family != family || a->cidr.prefix > len * 8) {
		pw_buf_printf(err, "only %s addresses fit an %s table", name, name);
		return -EINVAL;
	}
	prefix_mask(mb, len, a->cidr.prefix);
	for (i = 0; i < len; i++)
		ab[i] = a->cidr.addr[i] & mb[i];
	if (a->invert)
		*invflags |= inv_flag;
	return 0;
}

static int put_iface(const struct pw_rule_iface *f, char name[IFNAMSIZ],
		     unsigned char mask[IFNAMSIZ], uint8_t inv_flag, uint8_t *invflags,
		     struct pw_buf *err)
{
	int ret;

	if (!f->name)
		return 0;
	ret = put_iface_name(f->name, name, mask, err);
	if (ret == 0 && f->invert)
		*invflags |= inv_flag;
	return ret;
}

static int put_header4(const struct pw_rule *r, void *entry, struct pw_buf *err)
{
	struct ipt_ip *ip = &((struct ipt_entry *)entry)->ip;
	int ret;

	ret = put_addr(&r->src, AF_INET, &ip->src, &ip->smsk, IPT_INV_SRCIP,
		       &ip->invflags, err);
	if (ret == 0)
		ret = put_addr(&r->dst, AF_INET, &ip->dst, &ip->dmsk, IPT_INV_DSTIP,
			       &ip->invflags, err);
	if (ret == 0)
		ret = put_iface(&r->in, ip->iniface, ip->iniface_mask, IPT_INV_VIA_IN,
				&ip->invflags, err);
	if (ret == 0)
		ret = put_iface(&r->out, ip->outiface, ip->outiface_mask,
				IPT_INV_VIA_OUT, &ip->invflags, err);
	ip->proto = r->protocol;
	if (r->target.kind == PW_TARGET_GOTO)
		ip->flags |= IPT_F_GOTO;
	return ret;
}

/*
 * As ip6tables fills struct ip6t_ip6: with -p, IP6T_F_PROTO too, which
 * makes the kernel look for the protocol past the extension headers.
 */
static int put_header6(const struct pw_rule *r, void *entry, struct pw_buf *err)
{
	struct ip6t_ip6 *ip = &((struct ip6t_entry *)entry)->ipv6;
	int ret;

	ret = put_addr(&r->src, AF_INET6, &ip->src, &ip->smsk, IP6T_INV_SRCIP,
		       &ip->invflags, err);
	if (ret == 0)
		ret = put_addr(&r->dst, AF_INET6, &ip->dst, &ip->dmsk, IP6T_INV_DSTIP,
			       &ip->invflags, err);
	if (ret == 0)
		ret = put_iface(&r->in, ip->iniface, ip->iniface_mask, IP6T_INV_VIA_IN,
				&ip->invflags, err);
	if (ret == 0)
		ret = put_iface(&r->out, ip->outiface, ip->outiface_mask,
				IP6T_INV_VIA_OUT, &ip->invflags, err);
	ip->proto = r->protocol;
	if (r->protocol)
		ip->flags |= IP6T_F_PROTO;
	if (r->target.kind == PW_TARGET_GOTO)
		ip->flags |= IP6T_F_GOTO;
	return ret;
}

static size_t target_size(const struct pw_rule_target *t)
{
	if (t->kind == PW_TARGET_MARK)
		return XT_ALIGN(sizeof(struct xt_entry_target)) +
		       XT_ALIGN(sizeof(struct xt_mark_tginfo2));
	if (t->kind == PW_TARGET_NFLOG)
		return XT_ALIGN(sizeof(struct xt_entry_target)) +
		       XT_ALIGN(sizeof(struct xt_nflog_info));
	/* libiptc refuses a verdict or jump of any other size (EINVAL). */
	return XT_ALIGN(sizeof(struct xt_standard_target));
}

/* The target's name, which libiptc maps to a verdict or a jump on insert. */
static int put_target(const struct pw_rule_target *t, struct xt_entry_target *xt,
		      struct want_rule *w, struct pw_buf *err)
{
	struct xt_mark_tginfo2 *mark = (void *)xt->data;
	struct xt_nflog_info *nflog = (void *)xt->data;
	const char *name = "";

	xt->u.target_size = target_size(t);
	switch (t->kind) {
	case PW_TARGET_NONE:
		break;
	case PW_TARGET_ACCEPT:
		name = IPTC_LABEL_ACCEPT;
		break;
	case PW_TARGET_DROP:
		name = IPTC_LABEL_DROP;
		break;
	case PW_TARGET_RETURN:
		name = IPTC_LABEL_RETURN;
		break;
	case PW_TARGET_JUMP:
	case PW_TARGET_GOTO:
		if (!t->chain || !*t->chain ||
		    strlen(t->chain) >= XT_EXTENSION_MAXNAMELEN) {
			pw_buf_printf(err, "bad chain name \"%s\" to jump to",
				      t->chain ? t->chain : "");
			return -EINVAL;
		}
		name = t->chain;
		w->jump = t->chain;
		break;
	case PW_TARGET_MARK:
		name = "MARK";
		xt->u.user.revision = 2;
		mark->mark = t->mark_value;
		mark->mask = t->mark_mask;
		w->module_target = true;
		break;
	case PW_TARGET_NFLOG:
		/*
		 * No XT_NFLOG_F_COPY_LEN (3.10 refuses the flag) and the
		 * header's default threshold, as libxt_NFLOG's init() leaves
		 * it: iptables-save prints neither then.
		 */
		name = "NFLOG";
		nflog->group = t->nflog_group;
		nflog->threshold = XT_NFLOG_DEFAULT_THRESHOLD;
		if (t->nflog_prefix)
			strncpy(nflog->prefix, t->nflog_prefix, sizeof(nflog->prefix) - 1);
		w->module_target = true;
		break;
	}
	strncpy(xt->u.user.name, name, sizeof(xt->u.user.name) - 1);
	w->target = name;
	return 0;
}

/*
 * The entry for r, laid out as iptables lays it out: the zeroed header
 * (ipt_entry or ip6t_entry), each match XT_ALIGNed in the rule's order,
 * then the target. The buffer is zeroed because the kernel hands padding
 * back and libiptc compares it.
 */
static int build_rule(struct builder *b, const struct pw_rule *r, struct want_rule *w,
		      struct pw_buf *err)
{
	const struct family_ops *f = b->ops;
	struct match_desc *descs = NULL;
	size_t i, size = f->xt->entry_size;
	void *e = NULL;
	int ret = 0;

	memset(w, 0, sizeof(*w));
	if (r->nmatches)
		descs = pw_xcalloc(r->nmatches, sizeof(*descs));
	for (i = 0; i < r->nmatches && ret == 0; i++) {
		ret = describe_match(b, &r->matches[i], &descs[i], err);
		size += match_size(&descs[i]);
	}
	if (ret < 0)
		goto out;
	e = pw_xcalloc(1, size + target_size(&r->target));
	set_offset(e, f->xt->target_offset_at, f->xt->entry_size);
	ret = f->put_header(r, e, err);
	for (i = 0; i < r->nmatches && ret == 0; i++)
		ret = fill_match(b, add_match(f, e, &descs[i]), &descs[i], &r->matches[i],
				 err);
	if (ret == 0)
		ret = put_target(&r->target,
				 (void *)((char *)e + target_offset(f, e)), w, err);
	if (ret < 0) {
		free(e);
		goto out;
	}
	set_offset(e, f->xt->next_offset_at, target_offset(f, e) + target_size(&r->target));
	w->e = e;
out:
	free(descs);
	return ret;
}

/* ------------------------------------------------------------ the plan */

struct want_chain {
	const char *name;	/* the desired table's */
	bool builtin;
	struct want_rule *rules;
	size_t nrules;
};

/* Every desired chain with its entries built, made once per call. */
struct plan {
	const struct family_ops *ops;
	const char *table;
	const char *prefix;
	size_t prefix_len;
	struct want_chain *chains;	/* iptables-save order */
	size_t nchains;
	struct pw_strmap *by_name;	/* name -> struct want_chain */
};

static void plan_init(struct plan *p, const struct family_ops *ops, const char *table,
		      const char *prefix)
{
	memset(p, 0, sizeof(*p));
	p->ops = ops;
	p->table = table;
	p->prefix = prefix;
	p->prefix_len = strlen(prefix);
	p->by_name = pw_strmap_new();
}

static void plan_free(struct plan *p)
{
	size_t i, j;

	for (i = 0; i < p->nchains; i++) {
		for (j = 0; j < p->chains[i].nrules; j++)
			free(p->chains[i].rules[j].e);
		free(p->chains[i].rules);
	}
	free(p->chains);
	pw_strmap_free(p->by_name);
}

static bool has_prefix(const struct plan *p, const char *name)
{
	return strncmp(name, p->prefix, p->prefix_len) == 0;
}

/*
 * Rules podwall puts into built-in chains are recognised later only by
 * their target, one of its own chains; anything else would be taken for
 * someone else's rule and added again on every run.
 */
static bool jumps_to_own_chain(const struct plan *p, const struct pw_rule *r)
{
	enum pw_target_kind k = pw_rule_target(r);

	return (k == PW_TARGET_JUMP || k == PW_TARGET_GOTO) &&
	       has_prefix(p, pw_rule_target_chain(r));
}

static int plan_chain(struct plan *p, struct builder *b, const struct pw_chain *c,
		      struct want_chain *wc, struct pw_buf *err)
{
	struct pw_buf why = PW_BUF_INIT;
	size_t i;
	int ret = 0;

	wc->name = pw_chain_name(c);
	wc->builtin = pw_chain_is_builtin(c);
	if (!wc->builtin && !has_prefix(p, wc->name)) {
		pw_buf_printf(err, "chain %s: does not start with podwall's prefix "
			      "\"%s\"", wc->name, p->prefix);
		return -EINVAL;
	}
	pw_strmap_put(p->by_name, wc->name, wc);
	wc->rules = pw_xcalloc(pw_chain_rule_count(c) + 1, sizeof(*wc->rules));
	for (i = 0; i < pw_chain_rule_count(c); i++) {
		const struct pw_rule *r = pw_chain_rule_at(c, i);

		if (wc->builtin && !jumps_to_own_chain(p, r)) {
			pw_buf_printf(&why, "a rule in a built-in chain must jump to a "
				      "chain starting with \"%s\"", p->prefix);
			ret = -EINVAL;
		} else {
			ret = build_rule(b, r, &wc->rules[i], &why);
		}
		if (ret < 0) {
			pw_buf_printf(err, "chain %s, rule %zu: %s", wc->name, i + 1,
				      pw_buf_str(&why));
			break;
		}
		wc->nrules++;
	}
	pw_buf_free(&why);
	return ret;
}

/*
 * "No IPv6 here" is told apart from a failure, so that a caller can leave
 * the family alone: the kernel without IPv6 (ipv6.disable=1, or built
 * without it), without ip6_tables, or without the table's module
 * (ip6table_filter). For IPv4 the same answers are plain failures.
 */
static bool missing_family(const struct plan *p, int saved)
{
	return p->ops->xt->family == AF_INET6 &&
	       (saved == EAFNOSUPPORT || saved == ENOENT || saved == ENOPROTOOPT);
}

static int no_family(const struct plan *p, int saved, const char *op, const char *why,
		     struct pw_buf *err)
{
	const char *what = saved == EAFNOSUPPORT ? "IPv6" :
			   saved == ENOPROTOOPT ? "ip6_tables" : "such ip6tables table";

	pw_buf_printf(err, "table %s: the kernel has no %s (%s: %s)", p->table, what,
		      op, why);
	return -EAFNOSUPPORT;
}

static int plan_build(struct plan *p, const struct pw_table *t, struct pw_buf *err)
{
	struct builder b;
	size_t i, n = t ? pw_table_chain_count(t) : 0;
	int ret = 0;

	builder_init(&b, p->ops);
	if (b.probe_fd < 0 && b.probe_errno == EAFNOSUPPORT && missing_family(p, EAFNOSUPPORT)) {
		builder_fini(&b);
		return no_family(p, EAFNOSUPPORT, "socket", strerror(EAFNOSUPPORT), err);
	}
	p->chains = pw_xcalloc(n + 1, sizeof(*p->chains));
	for (i = 0; i < n && ret == 0; i++) {
		ret = plan_chain(p, &b, pw_table_chain_at(t, i), &p->chains[i], err);
		p->nchains++;
	}
	builder_fini(&b);
	return ret;
}

/* ------------------------------------------------------------ comparing */

/* An open handle and the library it belongs to. */
struct tc {
	const struct family_ops *ops;
	void *h;
};

/*
 * The kernel copies a match's or target's name back only up to its NUL
 * (xt_obj_to_user), and libiptc's buffer is not zeroed, so the rest of the
 * name field is noise: names compare as strings, data as bytes, and only
 * the user's part of them (pw_xt_match_user_size()).
 */
static bool same_object(const struct xt_entry_match *a, const struct xt_entry_match *b)
{
	return a->u.match_size == b->u.match_size && a->u.match_size >= sizeof(*a) &&
	       a->u.user.revision == b->u.user.revision &&
	       strncmp(a->u.user.name, b->u.user.name, sizeof(a->u.user.name)) == 0 &&
	       memcmp(a->data, b->data, pw_xt_match_user_size(b)) == 0;
}

static bool same_matches(const struct family_ops *f, const void *k, const void *w)
{
	size_t off = f->xt->entry_size, end = target_offset(f, w);

	while (off < end) {
		const struct xt_entry_match *wm = object_at(w, off);

		if (!same_object(object_at(k, off), wm))
			return false;
		off += wm->u.match_size;
	}
	return true;
}

/* The counters, comefrom and nfcache are the kernel's own and not compared. */
static bool same_rule(const struct tc *t, const void *k, const struct want_rule *w)
{
	const struct family_ops *f = t->ops;
	const void *e = w->e;
	const char *target;

	if (memcmp(k, e, f->xt->ip_size) != 0 ||
	    target_offset(f, k) != target_offset(f, e) ||
	    next_offset(f, k) != next_offset(f, e) || !same_matches(f, k, e))
		return false;
	target = f->get_target(k, t->h);
	if (!target || strcmp(target, w->target) != 0)
		return false;
	if (!w->module_target)
		return true;
	return same_object(object_at(k, target_offset(f, k)),
			   object_at(e, target_offset(f, e)));
}

/* A chain whose rules are exactly the wanted ones, in order. */
static bool chain_holds(const struct tc *t, const struct want_chain *wc)
{
	const void *k;
	size_t i = 0;

	for (k = t->ops->first_rule(wc->name, t->h); k; k = t->ops->next_rule(k, t->h), i++)
		if (i >= wc->nrules || !same_rule(t, k, &wc->rules[i]))
			return false;
	return i == wc->nrules;
}

/* Ours: a jump to a user chain named with the prefix (not a target module). */
static bool rule_is_ours(const struct tc *t, const struct plan *p, const void *k)
{
	const char *target = t->ops->get_target(k, t->h);

	return target && has_prefix(p, target) && t->ops->is_chain(target, t->h);
}

/* Our rules in a built-in chain are the wanted ones, first, and no others. */
static bool builtin_in_place(const struct tc *t, const struct plan *p,
			     const char *chain, const struct want_chain *wc)
{
	size_t i = 0, n = wc ? wc->nrules : 0;
	const void *k;

	for (k = t->ops->first_rule(chain, t->h); k; k = t->ops->next_rule(k, t->h), i++) {
		if (i < n ? !same_rule(t, k, &wc->rules[i]) : rule_is_ours(t, p, k))
			return false;
	}
	return i >= n;
}

/* ------------------------------------------------------------ editing */

/*
 * iptc_strerror() and ip6tc_strerror() read which call failed from the
 * library's own state, so they must come before any other call into it;
 * saved is errno right after the failed one.
 */
static int tc_fail(const struct tc *t, struct pw_buf *err, int saved, const char *what,
		   const char *name, const char *op)
{
	pw_buf_printf(err, "%s %s: %s: %s", what, name, op, t->ops->strerror(saved));
	/* libiptc leaves errno 0 for a library/kernel version mismatch. */
	return saved > 0 ? -saved : -EPROTO;
}

static int check_jump(const struct tc *t, const char *chain, const struct want_rule *w,
		      size_t i, struct pw_buf *err)
{
	/* libiptc would take an unknown name for a target module; say what it is. */
	if (!w->jump || t->ops->is_chain(w->jump, t->h))
		return 0;
	pw_buf_printf(err, "chain %s, rule %zu: jumps to %s, which does not exist",
		      chain, i + 1, w->jump);
	return -ENOENT;
}

static int create_chains(const struct tc *t, const struct plan *p, bool *created,
			 struct pw_iptc_stats *st, bool *changed, struct pw_buf *err)
{
	size_t i;

	for (i = 0; i < p->nchains; i++) {
		const struct want_chain *wc = &p->chains[i];

		if (t->ops->is_chain(wc->name, t->h))
			continue;
		if (wc->builtin) {
			pw_buf_printf(err, "chain %s: not a built-in chain of table %s "
				      "in the kernel", wc->name, p->table);
			return -ENOENT;
		}
		if (!t->ops->create_chain(wc->name, t->h))
			return tc_fail(t, err, errno, "chain", wc->name, "create");
		created[i] = true;
		st->chains_created++;
		*changed = true;
	}
	return 0;
}

/*
 * Gives each wanted rule the counters of the old rule that is the same
 * rule, each old one used once: the next old rule after the last one
 * taken is tried first, so that a rule added or removed elsewhere costs
 * one look, and the whole chain only when rules moved. The rest start at
 * 0. Done before the flush, which frees the old entries.
 */
static void carry_counters(const struct tc *t, const struct want_chain *wc)
{
	size_t at = t->ops->xt->counters_at, nold = 0, cap = 0, i, j, next = 0;
	const struct xt_counters zero = { 0, 0 };
	const void **old = NULL;
	bool *used;
	const void *k;

	for (k = t->ops->first_rule(wc->name, t->h); k; k = t->ops->next_rule(k, t->h)) {
		PW_GROW(old, cap, nold + 1);
		old[nold++] = k;
	}
	used = pw_xcalloc(nold + 1, sizeof(*used));
	for (i = 0; i < wc->nrules; i++) {
		const struct want_rule *w = &wc->rules[i];
		size_t found = nold;

		if (next < nold && !used[next] && same_rule(t, old[next], w))
			found = next;
		for (j = 0; found == nold && j < nold; j++)
			if (!used[j] && same_rule(t, old[j], w))
				found = j;
		/* The plan's entry is reused by a retried attempt: always set. */
		if (found < nold) {
			memcpy((char *)w->e + at, (const char *)old[found] + at, sizeof(zero));
			used[found] = true;
			next = found + 1;
		} else {
			memcpy((char *)w->e + at, &zero, sizeof(zero));
		}
	}
	free(used);
	free(old);
}

/*
 * libiptc's append marks the new entry COUNTER_MAP_SET, and its commit
 * then hands the kernel the entry's own counters: those carry_counters()
 * put there, so a final drop's count survives a policy added beside it.
 */
static int fill_chain(const struct tc *t, const struct want_chain *wc, struct pw_buf *err)
{
	size_t i;
	int ret;

	carry_counters(t, wc);
	if (!t->ops->flush_entries(wc->name, t->h))
		return tc_fail(t, err, errno, "chain", wc->name, "flush");
	for (i = 0; i < wc->nrules; i++) {
		ret = check_jump(t, wc->name, &wc->rules[i], i, err);
		if (ret < 0)
			return ret;
		if (!t->ops->append_entry(wc->name, wc->rules[i].e, t->h))
			return tc_fail(t, err, errno, "chain", wc->name, "append");
	}
	return 0;
}

/* Untouched chains keep their counters: only differing ones are refilled. */
static int sync_user_chains(const struct tc *t, const struct plan *p,
			    const bool *created, struct pw_iptc_stats *st, bool *changed,
			    struct pw_buf *err)
{
	size_t i;
	int ret;

	for (i = 0; i < p->nchains; i++) {
		const struct want_chain *wc = &p->chains[i];

		if (wc->builtin || chain_holds(t, wc))
			continue;
		ret = fill_chain(t, wc, err);
		if (ret < 0)
			return ret;
		if (!created[i])
			st->chains_rewritten++;
		*changed = true;
	}
	return 0;
}

/*
 * Removes every rule of ours from a built-in chain and inserts the wanted
 * ones at the top: foreign rules keep their relative order and counters.
 */
static int fix_builtin(const struct tc *t, const struct plan *p, const char *chain,
		       const struct want_chain *wc, struct pw_buf *err)
{
	const void *k;
	unsigned *ours = NULL, i = 0;
	size_t nours = 0, cap = 0, n = wc ? wc->nrules : 0;
	int ret = 0;

	for (k = t->ops->first_rule(chain, t->h); k; k = t->ops->next_rule(k, t->h), i++) {
		if (rule_is_ours(t, p, k)) {
			PW_GROW(ours, cap, nours + 1);
			ours[nours++] = i;
		}
	}
	/* From the bottom up, so that the numbers left to delete stay valid. */
	while (nours > 0 && ret == 0) {
		if (!t->ops->delete_num_entry(chain, ours[--nours], t->h))
			ret = tc_fail(t, err, errno, "chain", chain, "delete rule");
	}
	free(ours);
	for (i = 0; i < n && ret == 0; i++) {
		ret = check_jump(t, chain, &wc->rules[i], i, err);
		if (ret == 0 && !t->ops->insert_entry(chain, wc->rules[i].e, i, t->h))
			ret = tc_fail(t, err, errno, "chain", chain, "insert");
	}
	return ret;
}

static int sync_builtins(const struct tc *t, const struct plan *p,
			 struct pw_iptc_stats *st, bool *changed, struct pw_buf *err)
{
	const char **builtins = NULL;
	size_t i, n = 0, cap = 0;
	const char *chain;
	int ret = 0;

	/* Collected first: the edits below must not run inside the chain walk. */
	for (chain = t->ops->first_chain(t->h); chain; chain = t->ops->next_chain(t->h)) {
		if (t->ops->builtin(chain, t->h)) {
			PW_GROW(builtins, cap, n + 1);
			builtins[n++] = chain;
		}
	}
	for (i = 0; i < n && ret == 0; i++) {
		const struct want_chain *wc = pw_strmap_get(p->by_name, builtins[i]);

		if (builtin_in_place(t, p, builtins[i], wc))
			continue;
		ret = fix_builtin(t, p, builtins[i], wc, err);
		st->jumps_fixed++;
		*changed = true;
	}
	free(builtins);
	return ret;
}

/* Our chains that are no longer wanted; runs after their jumps are gone. */
static int delete_stale_chains(const struct tc *t, const struct plan *p,
			       struct pw_iptc_stats *st, bool *changed,
			       struct pw_buf *err)
{
	char **stale = NULL;
	size_t i, n = 0, cap = 0;
	const char *chain;
	int ret = 0;

	for (chain = t->ops->first_chain(t->h); chain; chain = t->ops->next_chain(t->h)) {
		if (!has_prefix(p, chain) || t->ops->builtin(chain, t->h) ||
		    pw_strmap_get(p->by_name, chain))
			continue;
		PW_GROW(stale, cap, n + 1);
		stale[n++] = pw_xstrdup(chain);
	}
	/* All flushed before any is deleted: they may still jump to one another. */
	for (i = 0; i < n && ret == 0; i++)
		if (!t->ops->flush_entries(stale[i], t->h))
			ret = tc_fail(t, err, errno, "chain", stale[i], "flush");
	for (i = 0; i < n && ret == 0; i++) {
		/* EMLINK here: a rule podwall does not own still jumps to it. */
		if (!t->ops->delete_chain(stale[i], t->h))
			ret = tc_fail(t, err, errno, "chain", stale[i], "delete");
		else
			st->chains_deleted++;
	}
	if (n)
		*changed = true;
	for (i = 0; i < n; i++)
		free(stale[i]);
	free(stale);
	return ret;
}

/*
 * The edits of one attempt, in the order the kernel's references need:
 * chains exist before anything jumps to them, jumps go before their chains.
 */
static int edit_table(const struct tc *t, const struct plan *p,
		      struct pw_iptc_stats *st, bool *changed, struct pw_buf *err)
{
	bool *created = pw_xcalloc(p->nchains + 1, sizeof(*created));
	int ret;

	ret = create_chains(t, p, created, st, changed, err);
	if (ret == 0)
		ret = sync_user_chains(t, p, created, st, changed, err);
	if (ret == 0)
		ret = sync_builtins(t, p, st, changed, err);
	if (ret == 0)
		ret = delete_stale_chains(t, p, st, changed, err);
	free(created);
	return ret;
}

/* ------------------------------------------------------------ transaction */

static void pause_briefly(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * A commit is two setsockopt calls: SET_REPLACE puts the new table in,
 * SET_ADD_COUNTERS then gives its rules the old counters. A writer that
 * skips the xtables lock and replaces the table between the two makes the
 * second fail with EINVAL (the entry count no longer matches) although our
 * table went in. The kernel cannot tell us which call failed, so EINVAL is
 * taken as that race: the next attempt reads the table again and finds it
 * as wanted (nothing to commit), or, for a table the kernel really refuses,
 * fails the same way until the attempts run out.
 */
static bool commit_raced(int saved)
{
	return saved == EAGAIN || saved == EINVAL;
}

/*
 * init .. edit .. commit .. free, from the start again while the kernel
 * says someone else got in between: EAGAIN or EINVAL from the commit (it
 * only sees that when the entry count changed, hence the xtables lock
 * around us) or ENOENT from init while a table is still being set up.
 */
static int transact(const struct plan *p, struct pw_iptc_stats *stats,
		    struct pw_buf *err)
{
	struct pw_iptc_stats raced = { 0, 0, 0, 0, 0, false };
	bool counters_refused = false;
	unsigned attempt = 0;
	struct tc t = { p->ops, NULL };

	for (;;) {
		bool changed = false;
		int ret, saved;

		memset(stats, 0, sizeof(*stats));
		stats->attempts = ++attempt;
		t.h = p->ops->init(p->table);
		if (!t.h) {
			saved = errno;
			if (saved == ENOENT && attempt < PW_IPTC_MAX_ATTEMPTS) {
				pause_briefly();
				continue;
			}
			if (missing_family(p, saved))
				return no_family(p, saved, "init", p->ops->strerror(saved), err);
			return tc_fail(&t, err, saved, "table", p->table, "init");
		}
		ret = edit_table(&t, p, stats, &changed, err);
		if (ret == 0 && !changed && counters_refused) {
			/* The raced commit went in: report what it changed. */
			raced.attempts = attempt;
			raced.committed = true;
			*stats = raced;
		} else if (ret == 0 && changed) {
			if (pw_iptc_test_before_commit)
				pw_iptc_test_before_commit(attempt);
			if (p->ops->commit(t.h)) {
				stats->committed = true;
			} else {
				saved = errno;
				if (commit_raced(saved) && attempt < PW_IPTC_MAX_ATTEMPTS) {
					counters_refused = saved == EINVAL;
					raced = *stats;
					p->ops->free(t.h);
					continue;
				}
				ret = tc_fail(&t, err, saved, "table", p->table, "commit");
			}
		}
		p->ops->free(t.h);
		return ret;
	}
}

/* desired NULL: nothing wanted, so the same edits take all of ours away. */
static int run(const char *table, int family, const struct pw_table *desired,
	       const char *prefix, struct pw_iptc_stats *stats, struct pw_buf *err)
{
	const struct family_ops *ops = family_ops(family);
	struct pw_buf why = PW_BUF_INIT;
	struct pw_iptc_stats unused;
	struct plan p;
	int ret;

	if (!stats)
		stats = &unused;
	memset(stats, 0, sizeof(*stats));
	if (!ops) {
		pw_buf_printf(err, "table %s: address family %d is neither IPv4 nor IPv6",
			      table, family);
		return -EINVAL;
	}
	if (!prefix || !*prefix) {
		pw_buf_printf(err, "%spodwall's chain prefix must not be empty", ops->xt->label);
		return -EINVAL;
	}
	plan_init(&p, ops, table, prefix);
	ret = plan_build(&p, desired, &why);
	if (ret == 0)
		ret = transact(&p, stats, &why);
	plan_free(&p);
	/* Both tables are "filter": the family says which one an error is of. */
	if (ret < 0)
		pw_buf_printf(err, "%s%s", ops->xt->label, pw_buf_str(&why));
	pw_buf_free(&why);
	return ret;
}

int pw_iptc_apply(const struct pw_table *desired, const char *prefix,
		  struct pw_iptc_stats *stats, struct pw_buf *err)
{
	return run(pw_table_name(desired), pw_table_family(desired), desired, prefix,
		   stats, err);
}

int pw_iptc_remove_all(const char *table, int family, const char *prefix,
		       struct pw_iptc_stats *stats, struct pw_buf *err)
{
	return run(table, family, NULL, prefix, stats, err);
}

/* ------------------------------------------------------------ counters */

/* The text of e's first comment match, or NULL. */
static const char *entry_comment(const struct family_ops *f, const void *e,
				 char out[XT_MAX_COMMENT_LEN])
{
	size_t off = f->xt->entry_size, end = target_offset(f, e);

	while (off + sizeof(struct xt_entry_match) <= end) {
		const struct xt_entry_match *m = object_at(e, off);

		if (m->u.match_size < sizeof(*m))
			return NULL;
		if (strncmp(m->u.user.name, "comment", sizeof(m->u.user.name)) == 0 &&
		    m->u.match_size >= sizeof(*m) + sizeof(struct xt_comment_info)) {
			const struct xt_comment_info *c = (const void *)m->data;

			memcpy(out, c->comment, XT_MAX_COMMENT_LEN);
			out[XT_MAX_COMMENT_LEN - 1] = '\0';
			return out;
		}
		off += m->u.match_size;
	}
	return NULL;
}

int pw_iptc_read_counters(const char *table, int family, const char *prefix,
			  void (*cb)(void *ctx, const char *chain, const char *comment,
				     uint64_t packets, uint64_t bytes),
			  void *ctx, struct pw_buf *err)
{
	const struct family_ops *ops = family_ops(family);
	char comment[XT_MAX_COMMENT_LEN];
	struct pw_buf why = PW_BUF_INIT;
	size_t plen = prefix ? strlen(prefix) : 0;
	struct plan p;
	struct tc t;
	const char *chain;
	int saved, ret = 0;

	if (!ops) {
		pw_buf_printf(err, "table %s: address family %d is neither IPv4 nor IPv6",
			      table, family);
		return -EINVAL;
	}
	if (plen == 0) {
		pw_buf_printf(err, "%spodwall's chain prefix must not be empty", ops->xt->label);
		return -EINVAL;
	}
	/* Only for missing_family() and no_family(), which speak of a plan. */
	memset(&p, 0, sizeof(p));
	p.ops = ops;
	p.table = table;
	t.ops = ops;
	t.h = ops->init(table);
	if (!t.h) {
		saved = errno;
		if (missing_family(&p, saved))
			ret = no_family(&p, saved, "init", ops->strerror(saved), &why);
		else
			ret = tc_fail(&t, &why, saved, "table", table, "init");
		pw_buf_printf(err, "%s%s", ops->xt->label, pw_buf_str(&why));
		pw_buf_free(&why);
		return ret;
	}
	for (chain = ops->first_chain(t.h); chain; chain = ops->next_chain(t.h)) {
		const void *k;

		if (strncmp(chain, prefix, plen) != 0 || ops->builtin(chain, t.h))
			continue;
		for (k = ops->first_rule(chain, t.h); k; k = ops->next_rule(k, t.h)) {
			struct xt_counters c;

			if (!entry_comment(ops, k, comment))
				continue;
			memcpy(&c, (const char *)k + ops->xt->counters_at, sizeof(c));
			cb(ctx, chain, comment, c.pcnt, c.bcnt);
		}
	}
	ops->free(t.h);
	return 0;
}
