#include "config.h"

#include <errno.h>
#include <string.h>

#include "engine/apply.h"
#include "lib/xtables_lock.h"

static int sync_sets_and_rules(const struct pw_dataplane *dp, const struct pw_options *opt,
			       struct pw_apply_stats *stats, struct pw_buf *err)
{
	struct pw_ipset_kernel *k = pw_ipset_kernel_open(err);
	struct pw_setlist *current = NULL;
	int ret;

	if (!k)
		return -EPERM;
	ret = pw_ipset_kernel_list(k, opt->prefix, &current, err);
	if (ret == 0)
		ret = pw_ipset_kernel_sync(k, current, dp->sets, opt->prefix,
					   &stats->sets, err);
	if (ret == 0)
		ret = pw_iptc_apply(dp->filter, opt->prefix, &stats->rules, err);
	/* Only now is no rule left that could refer to a set about to go. */
	if (ret == 0)
		ret = pw_ipset_kernel_destroy_stale(k, current, dp->sets, &stats->sets, err);
	pw_setlist_free(current);
	pw_ipset_kernel_close(k);
	return ret;
}

int pw_apply(const struct pw_dataplane *dp, const struct pw_options *opt,
	     struct pw_apply_stats *stats, struct pw_buf *err)
{
	struct pw_xtables_lock *lock = NULL;
	int ret;

	memset(stats, 0, sizeof(*stats));
	/*
	 * Held from before the sets are listed until after the commit: an
	 * iptables-restore in between would otherwise be silently undone by a
	 * commit of the same rule count, which the kernel cannot detect.
	 */
	ret = pw_xtables_lock_acquire(opt->lock_wait_ms, &lock, err);
	if (ret < 0)
		return ret;
	ret = sync_sets_and_rules(dp, opt, stats, err);
	pw_xtables_lock_release(lock);
	return ret;
}

void pw_apply_stats_format(const struct pw_apply_stats *stats, struct pw_buf *out)
{
	const struct pw_ipset_stats *s = &stats->sets;
	const struct pw_iptc_stats *r = &stats->rules;

	pw_buf_printf(out, "sets: %u created, %u swapped, %u destroyed, "
		      "%u members added, %u deleted; chains: %u created, %u rewritten, "
		      "%u deleted, %u hooks fixed; %s",
		      s->created, s->swapped, s->destroyed, s->added, s->deleted,
		      r->chains_created, r->chains_rewritten, r->chains_deleted,
		      r->jumps_fixed, r->committed ? "committed" : "no commit needed");
}
