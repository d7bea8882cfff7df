/*
 * Programs a compiled dataplane into the kernel, in the order the kernel
 * needs: sets before the rules that use them, the filter table in one
 * commit, stale sets only after the rules that used them are gone; all of
 * it under the xtables lock.
 */
#ifndef PW_APPLY_H
#define PW_APPLY_H

#include "chains/ipset_kernel.h"
#include "chains/iptc_writer.h"
#include "engine/compile.h"
#include "engine/options.h"
#include "lib/util.h"

struct pw_apply_stats {
	struct pw_ipset_stats sets;
	struct pw_iptc_stats rules;	/* the IPv4 table */
	struct pw_iptc_stats rules6;	/* the IPv6 table */
	/*
	 * The kernel has no IPv6 table to write (no ip6_tables, say): the
	 * IPv6 table was left out, with the kernel's words here. Whether
	 * that leaves pods unenforced is the caller's to say.
	 */
	bool ipv6_missing;
	char ipv6_why[160];
};

/*
 * Returns 0, or -errno with the step and the kernel's or library's words in
 * err. When the sets cannot be brought up to date the table is not touched,
 * so what was programmed before keeps enforcing.
 */
int pw_apply(const struct pw_dataplane *dp, const struct pw_options *opt,
	     struct pw_apply_stats *stats, struct pw_buf *err);

/*
 * Remembers what it programmed last, so that the next state is compared in
 * memory: a change of set members costs only the ipset additions and
 * deletions it needs, and the iptables table is read and committed only
 * when a chain's content really changed. A full apply (the first, after an
 * error, and each periodic resync) compares with the kernel instead and so
 * repairs whatever drifted.
 */
struct pw_applier;

struct pw_applier *pw_applier_new(void);
void pw_applier_free(struct pw_applier *a);

/*
 * Programs dp (taking ownership) for opt; full forces the comparison with
 * the kernel. Returns 0 or -errno with the reason in err; after an error
 * the next apply is a full one.
 */
int pw_applier_apply(struct pw_applier *a, struct pw_dataplane *dp,
		     const struct pw_options *opt, bool full,
		     struct pw_apply_stats *stats, struct pw_buf *err);

/*
 * Makes the member changes (pw_compile_member_changes) in the kernel and in
 * the state programmed, by ipset additions and deletions alone: no rule
 * changes, so no table is read or committed. Returns 0, -EAGAIN when
 * nothing is programmed yet (a full apply must come first), or -errno with
 * the reason in err, after which the next apply is a full one.
 */
int pw_applier_change_members(struct pw_applier *a, const struct pw_member_changes *changes,
			      struct pw_apply_stats *stats, struct pw_buf *err);

/* The state last programmed, or NULL. */
const struct pw_dataplane *pw_applier_current(const struct pw_applier *a);

/* One line for the log: what changed. */
void pw_apply_stats_format(const struct pw_apply_stats *stats, struct pw_buf *out);

#endif
