/*
 * Writes a desired table into the kernel through libiptc, touching only
 * what podwall owns: chains whose names start with its prefix, and, in the
 * built-in chains, the rules that jump to those chains, which it keeps
 * first. Everything else (kube-proxy's KUBE-* chains, other rules) is left
 * exactly as it was.
 */
#ifndef PW_IPTC_WRITER_H
#define PW_IPTC_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>	/* AF_INET, AF_INET6 */

#include "chains/table.h"
#include "lib/util.h"

struct pw_iptc_stats {
	unsigned chains_created;
	unsigned chains_rewritten;	/* existed with other rules: flushed and refilled */
	unsigned chains_deleted;
	unsigned jumps_fixed;		/* built-in chains whose podwall jumps were redone */
	unsigned attempts;		/* init..commit transactions tried */
	bool committed;			/* false when nothing had to change */
};

/*
 * One transaction on desired's table, in desired's family: IPv4 through
 * libip4tc, IPv6 through libip6tc (pw_table_family()). Init, bring
 * podwall's chains and jumps to desired, commit; repeated from the start
 * (at most a few times) when the kernel answers EAGAIN (or EINVAL from the
 * counters) because someone else committed in between.
 * Chains that already hold exactly the desired rules are not touched, so
 * their counters survive, and nothing is committed when nothing differs.
 * The two families are two tables: each call touches only its own.
 * Sets the rules name must exist, and be of the table's family. The caller
 * holds the xtables lock.
 *
 * Returns 0 or -errno, with libiptc's text and the chain in err (an IPv6
 * table's errors start with "IPv6 "). -EAFNOSUPPORT, for an IPv6 table
 * only, says that this kernel has no IPv6 to write to (no IPv6 at all, no
 * ip6_tables, no such table): not a failure of podwall's, and the same
 * next time, so a caller may stop asking. Rules that do not fit the
 * table's family (an address or set of the other one) are -EINVAL.
 */
int pw_iptc_apply(const struct pw_table *desired, const char *prefix,
		  struct pw_iptc_stats *stats, struct pw_buf *err);

/*
 * Removes every chain and jump podwall owns in table of family (AF_INET or
 * AF_INET6), for --cleanup; the same returns as pw_iptc_apply().
 */
int pw_iptc_remove_all(const char *table, int family, const char *prefix,
		       struct pw_iptc_stats *stats, struct pw_buf *err);

/*
 * What each commented rule of podwall's has counted: for every rule of a
 * user chain of table (family AF_INET or AF_INET6) whose name starts with
 * prefix and that carries a comment match, cb with the chain, the comment
 * and its counters, in the kernel's order. One read, without the xtables
 * lock (nothing is written). Returns 0 or -errno with libiptc's text in
 * err; -EAFNOSUPPORT as pw_iptc_apply() for a kernel without IPv6.
 */
int pw_iptc_read_counters(const char *table, int family, const char *prefix,
			  void (*cb)(void *ctx, const char *chain, const char *comment,
				     uint64_t packets, uint64_t bytes),
			  void *ctx, struct pw_buf *err);

#endif
