/*
 * The policy compiler: from the cluster as the cache holds it to the sets
 * and chains this node needs. Pure: no I/O, same input, same output.
 */
#ifndef PW_COMPILE_H
#define PW_COMPILE_H

#include "chains/ipset.h"
#include "chains/table.h"
#include "engine/cluster.h"
#include "engine/options.h"
#include "lib/strmap.h"

struct pw_set_sources;

struct pw_dataplane {
	struct pw_table *filter;
	struct pw_setlist *sets;
	struct pw_set_sources *sources;	/* how pw_compile filled the pod sets */
};

struct pw_dataplane *pw_compile(const struct pw_cluster *c, const struct pw_options *cfg);
void pw_dataplane_free(struct pw_dataplane *dp);

/* True when pod is one of this node's endpoints, with chains of its own. */
bool pw_compile_is_local_endpoint(const struct pw_pod *pod, const struct pw_options *cfg);

/*
 * After pods changed that are not this node's endpoints, only the members
 * of sets can differ from current (compiled by pw_compile from the cluster
 * as it was): chains name sets, never pods. Returns those of current's pod
 * sets whose pods may come from one of the namespaces in the keys of
 * changed, compiled afresh from cluster, under the same names; the other
 * sets and the chains are still what pw_compile would give.
 */
struct pw_setlist *pw_compile_pod_sets(const struct pw_cluster *cluster,
				       const struct pw_options *cfg,
				       const struct pw_dataplane *current,
				       const struct pw_strmap *changed);

#endif
