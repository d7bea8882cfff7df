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
	struct pw_iptc_stats rules;
};

/*
 * Returns 0, or -errno with the step and the kernel's or library's words in
 * err. When the sets cannot be brought up to date the table is not touched,
 * so what was programmed before keeps enforcing.
 */
int pw_apply(const struct pw_dataplane *dp, const struct pw_options *opt,
	     struct pw_apply_stats *stats, struct pw_buf *err);

/* One line for the log: what changed. */
void pw_apply_stats_format(const struct pw_apply_stats *stats, struct pw_buf *out);

#endif
