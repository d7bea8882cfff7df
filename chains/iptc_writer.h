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
 * One transaction on desired's table: init, bring podwall's chains and
 * jumps to desired, commit; repeated from the start (at most a few times)
 * when the kernel answers EAGAIN (or EINVAL from the counters) because someone
 * else committed in between.
 * Chains that already hold exactly the desired rules are not touched, so
 * their counters survive, and nothing is committed when nothing differs.
 * Sets the rules name must exist. The caller holds the xtables lock.
 * Returns 0 or -errno, with iptc_strerror()'s text and the chain in err.
 */
int pw_iptc_apply(const struct pw_table *desired, const char *prefix,
		  struct pw_iptc_stats *stats, struct pw_buf *err);

/* Removes every chain and jump podwall owns in table (for --cleanup). */
int pw_iptc_remove_all(const char *table, const char *prefix,
		       struct pw_iptc_stats *stats, struct pw_buf *err);

#endif
