#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <libiptc/libiptc.h>
#include <libiptc/libip6tc.h>
#include <linux/netfilter/xt_comment.h>

#include "chains/iptc_read.h"

static void to_cidr(struct in_addr addr, struct in_addr mask, struct pw_cidr *out)
{
	uint32_t m = ntohl(mask.s_addr);

	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	memcpy(out->addr, &addr.s_addr, 4);
	while (m & 0x80000000u) {
		out->prefix++;
		m <<= 1;
	}
}

static const char *comment_of(const struct ipt_entry *e)
{
	unsigned off = sizeof(*e);

	while (off < e->target_offset) {
		const struct xt_entry_match *m = (const void *)((const char *)e + off);

		if (m->u.match_size == 0)
			break;
		if (strcmp(m->u.user.name, "comment") == 0) {
			const struct xt_comment_info *c = (const void *)m->data;

			return c->comment;
		}
		off += m->u.match_size;
	}
	return NULL;
}

int pw_iptc_foreach_rule(const char *table,
			 void (*cb)(const struct pw_iptc_rule_view *rule, void *ctx),
			 void *ctx, struct pw_buf *err)
{
	struct xtc_handle *h = iptc_init(table);
	const char *chain;
	int saved;

	if (!h) {
		saved = errno;
		pw_buf_printf(err, "%s: %s", table, iptc_strerror(saved));
		return saved ? -saved : -EIO;
	}
	for (chain = iptc_first_chain(h); chain; chain = iptc_next_chain(h)) {
		const struct ipt_entry *e;

		for (e = iptc_first_rule(chain, h); e; e = iptc_next_rule(e, h)) {
			struct pw_iptc_rule_view v;

			memset(&v, 0, sizeof(v));
			v.chain = chain;
			v.target = iptc_get_target(e, h);
			to_cidr(e->ip.src, e->ip.smsk, &v.src);
			to_cidr(e->ip.dst, e->ip.dmsk, &v.dst);
			v.src_inverted = (e->ip.invflags & IPT_INV_SRCIP) != 0;
			v.dst_inverted = (e->ip.invflags & IPT_INV_DSTIP) != 0;
			v.comment = comment_of(e);
			cb(&v, ctx);
		}
	}
	iptc_free(h);
	return 0;
}

static void count_one(const struct pw_iptc_rule_view *rule, void *ctx)
{
	(*(int *)ctx)++;
}

int pw_iptc_count_rules(const char *table, struct pw_buf *err)
{
	int n = 0, ret = pw_iptc_foreach_rule(table, count_one, &n, err);

	return ret < 0 ? ret : n;
}

int pw_iptc_kernel_has(const char *name, bool target, int family)
{
	bool v6 = family == AF_INET6;
	struct xt_get_revision req;
	socklen_t len = sizeof(req);
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW, IPPROTO_RAW), ret, opt;

	if (fd < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	strncpy(req.name, name, sizeof(req.name) - 1);
	req.revision = 0;
	if (v6)
		opt = target ? IP6T_SO_GET_REVISION_TARGET : IP6T_SO_GET_REVISION_MATCH;
	else
		opt = target ? IPT_SO_GET_REVISION_TARGET : IPT_SO_GET_REVISION_MATCH;
	ret = getsockopt(fd, v6 ? SOL_IPV6 : SOL_IP, opt, &req, &len);
	/* EPROTONOSUPPORT: known, only not in revision 0. */
	if (ret == 0 || errno == EPROTONOSUPPORT)
		ret = 1;
	else if (errno == ENOENT)
		ret = 0;
	else
		ret = -errno;
	close(fd);
	return ret;
}
