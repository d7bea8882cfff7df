/*
 * Reading, not writing, a legacy table: every rule of every chain as plain
 * data, for whoever wants to know what others (kube-proxy) programmed, and
 * whether the kernel knows a match or target at all.
 */
#ifndef PW_IPTC_READ_H
#define PW_IPTC_READ_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "lib/util.h"

struct pw_iptc_rule_view {
	const char *chain;
	const char *target;	/* a chain's name, ACCEPT, DROP, RETURN, an extension's */
	struct pw_cidr src, dst;	/* prefix 0 when the rule does not match on it */
	bool src_inverted, dst_inverted;
	const char *comment;	/* the comment match's text, or NULL */
};

/*
 * One read of table ("filter", "nat"...) of the IPv4 legacy tables, without
 * the xtables lock: cb for each rule in the kernel's order. Returns 0, or
 * -errno with libiptc's text in err (-ENOENT: no such table here).
 */
int pw_iptc_foreach_rule(const char *table,
			 void (*cb)(const struct pw_iptc_rule_view *rule, void *ctx),
			 void *ctx, struct pw_buf *err);

/* How many rules table holds, built-in chains and user chains alike (or -errno). */
int pw_iptc_count_rules(const char *table, struct pw_buf *err);

/*
 * Whether the kernel has the match (or, with target, target) name for
 * family (AF_INET: ip_tables, AF_INET6: ip6_tables), in any revision:
 * asking loads its module, as iptables' own probe does. 1, 0, or -errno
 * when it cannot be asked (-EAFNOSUPPORT: no IPv6 here).
 */
int pw_iptc_kernel_has(const char *name, bool target, int family);

#endif
