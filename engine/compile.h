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

struct pw_dataplane {
	struct pw_table *filter;
	struct pw_setlist *sets;
};

struct pw_dataplane *pw_compile(const struct pw_cluster *c, const struct pw_options *cfg);
void pw_dataplane_free(struct pw_dataplane *dp);

#endif
