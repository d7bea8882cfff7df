/*
 * The informer cache: every Namespace, Pod and NetworkPolicy podwall knows,
 * keyed by kind, namespace and name.
 */
#ifndef PW_CLUSTER_H
#define PW_CLUSTER_H

#include <stddef.h>

#include "k8s/object.h"
#include "lib/util.h"

struct pw_cluster;

struct pw_cluster *pw_cluster_new(void);
void pw_cluster_free(struct pw_cluster *c);

/*
 * Stores the object, replacing the one of the same kind, namespace and
 * name; takes ownership of obj's member.
 */
void pw_cluster_upsert(struct pw_cluster *c, struct pw_object *obj);
/* 0, or -ENOENT. namespace is NULL for a Namespace. */
int pw_cluster_delete(struct pw_cluster *c, enum pw_kind kind,
		      const char *namespace, const char *name);

/* The uid of the stored object (NULL when absent or unknown). */
const char *pw_cluster_uid(const struct pw_cluster *c, enum pw_kind kind,
			   const char *namespace, const char *name);

const struct pw_namespace *pw_cluster_namespace(const struct pw_cluster *c,
						const char *name);
const struct pw_pod *pw_cluster_pod(const struct pw_cluster *c, const char *namespace,
				    const char *name);

/*
 * From the first call on, the cluster keeps its pods indexed by each of
 * their addresses, of either family (as ipset prints it), so that what an
 * address stands for is found without a walk; one-shot users never pay for it.
 */
void pw_cluster_index_addresses(struct pw_cluster *c);
/* The pods holding address ip (a finished pod may share it with a new
 * one); pw_cluster_index_addresses must have been called. */
size_t pw_cluster_pods_at(const struct pw_cluster *c, const char *ip,
			  const struct pw_pod *const **pods);

/*
 * Every pod in no particular order, without the cost of sorting them: for
 * callers whose result does not depend on the order. fn returning non-zero
 * stops the walk.
 */
int pw_cluster_foreach_pod(const struct pw_cluster *c,
			   int (*fn)(const struct pw_pod *pod, void *ctx), void *ctx);

/*
 * Reads the manifests at paths (files or directories, in order) into a new
 * cluster in *out, which the caller frees. Returns how many errors there
 * were, each a line in errors naming the file, document and field; an
 * object defined twice (one kind, namespace and name) is one, naming both
 * places, since keeping either would make the result depend on file order.
 * notices gets what is worth saying but no error.
 */
int pw_cluster_load_manifests(char *const *paths, size_t n, struct pw_cluster **out,
			      struct pw_buf *errors, struct pw_buf *notices);

/* Objects sorted by namespace, then name (so output is deterministic). */
size_t pw_cluster_namespace_count(const struct pw_cluster *c);
const struct pw_namespace *pw_cluster_namespace_at(const struct pw_cluster *c, size_t i);
size_t pw_cluster_pod_count(const struct pw_cluster *c);
const struct pw_pod *pw_cluster_pod_at(const struct pw_cluster *c, size_t i);
size_t pw_cluster_policy_count(const struct pw_cluster *c);
const struct pw_policy *pw_cluster_policy_at(const struct pw_cluster *c, size_t i);

#endif
