#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/apply.h"
#include "lib/xtables_lock.h"

/* The IPv6 table; a kernel without one is not an error here (see apply.h). */
static int apply_ipv6(const struct pw_dataplane *dp, const struct pw_options *opt,
		      struct pw_apply_stats *stats, struct pw_buf *err)
{
	struct pw_buf why = PW_BUF_INIT;
	int ret = pw_iptc_apply(dp->filter6, opt->prefix, &stats->rules6, &why);

	if (ret == -EAFNOSUPPORT) {
		stats->ipv6_missing = true;
		snprintf(stats->ipv6_why, sizeof(stats->ipv6_why), "%s", pw_buf_str(&why));
		ret = 0;
	} else if (ret < 0) {
		pw_buf_puts(err, pw_buf_str(&why));
	}
	pw_buf_free(&why);
	return ret;
}

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
	if (ret == 0 && dp->filter6)
		ret = apply_ipv6(dp, opt, stats, err);
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
	const struct pw_iptc_stats *r = &stats->rules, *r6 = &stats->rules6;

	/* One line for both tables: the IPv6 table's work added in. */
	pw_buf_printf(out, "sets: %u created, %u swapped, %u destroyed, "
		      "%u members added, %u deleted; chains: %u created, %u rewritten, "
		      "%u deleted, %u hooks fixed; %s",
		      s->created, s->swapped, s->destroyed, s->added, s->deleted,
		      r->chains_created + r6->chains_created,
		      r->chains_rewritten + r6->chains_rewritten,
		      r->chains_deleted + r6->chains_deleted, r->jumps_fixed + r6->jumps_fixed,
		      r->committed || r6->committed ? "committed" : "no commit needed");
}

struct pw_applier {
	struct pw_dataplane *programmed;	/* NULL: the kernel is unknown */
	struct pw_ipset_kernel *ipsets;		/* one long-lived libipset session */
};

struct pw_applier *pw_applier_new(void)
{
	return pw_xcalloc(1, sizeof(struct pw_applier));
}

void pw_applier_free(struct pw_applier *a)
{
	if (!a)
		return;
	pw_dataplane_free(a->programmed);
	pw_ipset_kernel_close(a->ipsets);
	free(a);
}

const struct pw_dataplane *pw_applier_current(const struct pw_applier *a)
{
	return a->programmed;
}

static bool tables_equal(const struct pw_table *a, const struct pw_table *b)
{
	size_t i, n;

	if (!a || !b)
		return a == b;
	n = pw_table_chain_count(a);
	if (n != pw_table_chain_count(b))
		return false;
	for (i = 0; i < n; i++) {
		const struct pw_chain *x = pw_table_chain_at(a, i);
		const struct pw_chain *y = pw_table_chain_at(b, i);

		if (strcmp(pw_chain_name(x), pw_chain_name(y)) != 0 || !pw_chain_equal(x, y))
			return false;
	}
	return true;
}

/* Against what was programmed last: only what differs reaches the kernel. */
static int apply_difference(struct pw_applier *a, const struct pw_dataplane *dp,
			    const struct pw_options *opt, struct pw_apply_stats *stats,
			    struct pw_buf *err)
{
	const struct pw_dataplane *old = a->programmed;
	struct pw_xtables_lock *lock = NULL;
	bool same4, same6;
	int ret;

	if (!a->ipsets && !(a->ipsets = pw_ipset_kernel_open(err)))
		return -EPERM;
	ret = pw_ipset_kernel_sync(a->ipsets, old->sets, dp->sets, opt->prefix,
				   &stats->sets, err);
	same4 = tables_equal(old->filter, dp->filter);
	same6 = tables_equal(old->filter6, dp->filter6);
	if (ret < 0 || (same4 && same6))
		return ret;
	/* A set can only vanish with the rules that named it: both under the lock. */
	ret = pw_xtables_lock_acquire(opt->lock_wait_ms, &lock, err);
	if (ret < 0)
		return ret;
	if (!same4)
		ret = pw_iptc_apply(dp->filter, opt->prefix, &stats->rules, err);
	if (ret == 0 && !same6 && dp->filter6)
		ret = apply_ipv6(dp, opt, stats, err);
	if (ret == 0)
		ret = pw_ipset_kernel_destroy_stale(a->ipsets, old->sets, dp->sets,
						    &stats->sets, err);
	pw_xtables_lock_release(lock);
	return ret;
}

int pw_applier_apply(struct pw_applier *a, struct pw_dataplane *dp,
		     const struct pw_options *opt, bool full,
		     struct pw_apply_stats *stats, struct pw_buf *err)
{
	int ret;

	memset(stats, 0, sizeof(*stats));
	if (full || !a->programmed)
		ret = pw_apply(dp, opt, stats, err);
	else
		ret = apply_difference(a, dp, opt, stats, err);
	pw_dataplane_free(a->programmed);
	/* After a failure nobody knows what the kernel holds: compare it next time. */
	a->programmed = ret == 0 ? dp : NULL;
	if (ret < 0)
		pw_dataplane_free(dp);
	return ret;
}

int pw_applier_change_members(struct pw_applier *a, const struct pw_member_changes *changes,
			      struct pw_apply_stats *stats, struct pw_buf *err)
{
	int ret;

	memset(stats, 0, sizeof(*stats));
	if (!a->programmed)
		return -EAGAIN;
	if (!a->ipsets && !(a->ipsets = pw_ipset_kernel_open(err)))
		ret = -EPERM;
	else
		ret = pw_ipset_kernel_apply_changes(a->ipsets, changes, &stats->sets, err);
	if (ret < 0) {
		/* Some changes may have gone in: the kernel is unknown now. */
		pw_dataplane_free(a->programmed);
		a->programmed = NULL;
		return ret;
	}
	pw_setlist_apply_changes(a->programmed->sets, changes);
	return 0;
}
