/*
 * podwall's ipsets in the kernel, through libipset (never the ipset
 * binary). Sets are created or updated before the rules that use them and
 * destroyed only after those rules are gone, so the caller runs
 * pw_ipset_kernel_sync(), then the iptables commit, then
 * pw_ipset_kernel_destroy_stale().
 */
#ifndef PW_IPSET_KERNEL_H
#define PW_IPSET_KERNEL_H

#include "chains/ipset.h"
#include "lib/util.h"

struct pw_ipset_kernel;

struct pw_ipset_stats {
	unsigned created;	/* sets that did not exist */
	unsigned swapped;	/* sets replaced by create-temp and swap */
	unsigned destroyed;
	unsigned added;		/* members */
	unsigned deleted;	/* members */
};

/* NULL with the reason in err (no ip_set module, no permission...). */
struct pw_ipset_kernel *pw_ipset_kernel_open(struct pw_buf *err);
void pw_ipset_kernel_close(struct pw_ipset_kernel *k);

/* Whether the kernel has the set type ("hash:ip,port") for family (AF_INET, AF_INET6). */
int pw_ipset_kernel_has_type(struct pw_ipset_kernel *k, const char *type, int family);

/*
 * Reads every set whose name starts with prefix, with its members, as the
 * kernel holds them. 0 or -errno, with libipset's message in err.
 */
int pw_ipset_kernel_list(struct pw_ipset_kernel *k, const char *prefix,
			 struct pw_setlist **out, struct pw_buf *err);

/*
 * Brings the kernel from current (as listed) to desired, except for
 * destroying sets: creates the missing ones, adds and deletes members by
 * difference (never flushing what stays), and replaces a set whose type,
 * family or sizing changed through a temporary set and a swap, so that
 * rules referring to it never see it missing. Stops at the first error.
 */
int pw_ipset_kernel_sync(struct pw_ipset_kernel *k, const struct pw_setlist *current,
			 const struct pw_setlist *desired, const char *prefix,
			 struct pw_ipset_stats *stats, struct pw_buf *err);

/*
 * Adds and deletes the members changes names, in sets that exist already
 * (an event's few changes, with no listing and no comparison). Stops at
 * the first refusal.
 */
int pw_ipset_kernel_apply_changes(struct pw_ipset_kernel *k,
				  const struct pw_member_changes *changes,
				  struct pw_ipset_stats *stats, struct pw_buf *err);

/* Destroys the sets of current that desired no longer has. */
int pw_ipset_kernel_destroy_stale(struct pw_ipset_kernel *k,
				  const struct pw_setlist *current,
				  const struct pw_setlist *desired,
				  struct pw_ipset_stats *stats, struct pw_buf *err);

#endif
