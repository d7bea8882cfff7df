/*
 * What the compiled rules do with one flow between two pods (or a pod and
 * an address outside the cluster): each side walked through the rules its
 * own node would be given (chains/walk.c over pw_compile()'s tables), with
 * endpoints named as Calico's CNI names them, so that nothing is read from
 * the kernel. Pure: a function of the cluster and the options.
 */
#ifndef PW_QUERY_H
#define PW_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/cluster.h"
#include "engine/compile.h"
#include "engine/options.h"
#include "lib/cidr.h"
#include "lib/util.h"

struct pw_query;

/* One end of a flow: a pod, or (pod NULL) an address outside the cluster. */
struct pw_flow_end {
	const struct pw_pod *pod;
	struct pw_cidr addr;		/* the pod's address of the flow's family */
};

struct pw_flow {
	struct pw_flow_end from;
	struct pw_flow_end to;
	uint8_t protocol;		/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP */
	uint16_t port;			/* 0 for ICMP */
};

/* What one direction (the source's egress or the destination's ingress) said. */
struct pw_query_side {
	bool walked;			/* false: no node of ours enforces this side */
	bool isolated;
	char **policies;		/* "ns/name" of each policy isolating it, in rule order */
	size_t npolicies;
	bool allowed;
	char *allowed_by;		/* "ns/name", NULL unless a policy rule allowed it */
	bool allowed_ingress;		/* which list of that policy */
	size_t allowed_rule;		/* index in it */
	size_t allowed_peer;		/* PW_ORIGIN_ANY_PEER: the rule has no peers */
	char *denied_by;		/* the comment of the rule that dropped it, or NULL */
};

struct pw_query_answer {
	bool allowed;
	struct pw_query_side egress;
	struct pw_query_side ingress;
};

/*
 * only_node: evaluate the rules of that node alone, as if the other nodes
 * enforced nothing (a single podwall node); NULL: every pod's own node.
 * The options are used for the prefix, marks and families; cfg must stay
 * unchanged while the query lives.
 */
struct pw_query *pw_query_new(const struct pw_cluster *c, const struct pw_options *cfg,
			      const char *only_node);
void pw_query_free(struct pw_query *q);

/*
 * 0 with the answer in out (free it with pw_query_answer_free()), or
 * -EINVAL with why in err (a pod without an address of the flow's family,
 * the two ends of different families).
 */
int pw_query_flow(struct pw_query *q, const struct pw_flow *f, struct pw_query_answer *out,
		  struct pw_buf *err);
void pw_query_answer_free(struct pw_query_answer *a);

#endif
