/*
 * The policy compiler: from the cluster as the cache holds it to the sets
 * and chains this node needs. Pure: no I/O, same input, same output.
 */
#ifndef PW_COMPILE_H
#define PW_COMPILE_H

#include "chains/ipset.h"
#include "chains/table.h"
#include "engine/cluster.h"
#include "engine/endpoint.h"
#include "engine/options.h"
#include "lib/strmap.h"

struct pw_set_sources;

/* The comment of an endpoint chain's final drop: the one place a packet is denied. */
#define PW_FINAL_DROP_COMMENT "no policy allowed the packet"

/* The bytes of an NFLOG prefix, with its NUL (xt_nflog_info). */
#define PW_DENY_LOG_PREFIX_SIZE 64

/*
 * The chain of ep's traffic in one direction: "<prefix>tw-<id>" for
 * ingress (to the pod), "<prefix>fw-<id>" for egress. Replaces out's text.
 */
void pw_endpoint_chain_name(const char *prefix, const struct pw_endpoint *ep, bool ingress,
			    struct pw_buf *out);

/*
 * The NFLOG prefix of a pod's denied packets: "<prefix>deny ingress
 * <ns>/<pod>" (or egress). Past 63 bytes, its head and "~" with 8
 * characters of a digest of "<ns>/<pod>", so that it still tells pods
 * apart.
 */
void pw_deny_log_prefix(const char *prefix, const char *ns, const char *pod, bool ingress,
			char out[PW_DENY_LOG_PREFIX_SIZE]);

struct pw_dataplane {
	struct pw_table *filter;	/* IPv4: iptables */
	struct pw_table *filter6;	/* IPv6: ip6tables, beside it; NULL without IPv6 */
	struct pw_setlist *sets;
	struct pw_set_sources *sources;	/* how pw_compile filled the pod sets */
	struct pw_strmap *origins;	/* see pw_dataplane_rule_origin() */
};

/*
 * Which part of which policy an allow rule of a policy chain was compiled
 * from: kept beside the rules, not in their comments, so that what the
 * kernel holds stays as it was and explain can still name the rule.
 */
struct pw_rule_origin {
	char *policy;		/* "<ns>/<name>" */
	bool ingress;
	size_t rule;		/* index in the policy's ingress or egress rules */
	size_t peer;		/* index in the rule's peers; PW_ORIGIN_ANY_PEER: it has none */
};

#define PW_ORIGIN_ANY_PEER ((size_t)-1)

/* The origin of rule index of chain in dp's table of family, or NULL. */
const struct pw_rule_origin *pw_dataplane_rule_origin(const struct pw_dataplane *dp, int family,
						      const char *chain, size_t index);

/*
 * endpoints: this node's pods as resolved from the node (engine/endpoint.c);
 * NULL: every local pod as Calico's CNI would name its interface.
 */
struct pw_dataplane *pw_compile(const struct pw_cluster *c, const struct pw_endpoints *endpoints,
				const struct pw_options *cfg);
void pw_dataplane_free(struct pw_dataplane *dp);

/*
 * Pods that are not this node's endpoints appear only in set members:
 * chains name sets, never pods. After such pods changed, pushes onto out
 * the member additions and deletions that give current's pod sets (as
 * pw_compile filled them from the cluster as it was) the members
 * pw_compile would give them now. addresses holds, as keys, every address
 * of either family the changed pods held before or hold now, namespaces their
 * namespaces. The cluster must index addresses (pw_cluster_index_addresses).
 */
void pw_compile_member_changes(const struct pw_cluster *cluster,
			       const struct pw_dataplane *current,
			       const struct pw_strmap *addresses,
			       const struct pw_strmap *namespaces,
			       struct pw_member_changes *out);

#endif
