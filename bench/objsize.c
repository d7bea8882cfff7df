/*
 * What a Namespace, a Pod and a NetworkPolicy cost in the informer cache:
 * the manifests of a generated cluster (bench/gen-cluster.py --out DIR) are
 * read into one cluster kind by kind, in the order the reflectors fill it,
 * and the heap in use is taken before and after each kind. A kind's figure
 * is what it adds to a cache that already holds the kinds before it (pods
 * share the namespaces' names), with the cache's index and every malloc
 * chunk header counted: what the daemon's RSS pays, not sizeof.
 *
 *   bench/objsize DIR
 */
#include "config.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/cluster.h"
#include "k8s/manifest.h"
#include "lib/util.h"

static const struct {
	const char *file;
	enum pw_kind kind;
} kinds[] = {
	{ "00-namespaces.yaml", PW_KIND_NAMESPACE },
	{ "01-pods.yaml", PW_KIND_POD },
	{ "02-policies.yaml", PW_KIND_POLICY },
};

/* mallinfo's int fields wrap past 2 GiB; glibc 2.33 added mallinfo2. */
static size_t heap_in_use(void)
{
#ifdef HAVE_MALLINFO2
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
#else
	struct mallinfo mi = mallinfo();

	return (size_t)(unsigned)mi.uordblks + (size_t)(unsigned)mi.hblkhd;
#endif
}

static int keep(struct pw_object *obj, const char *where, void *ctx)
{
	(void)where;
	pw_cluster_upsert(ctx, obj);
	return 0;
}

static size_t count_of(const struct pw_cluster *c, enum pw_kind kind)
{
	switch (kind) {
	case PW_KIND_NAMESPACE:
		return pw_cluster_namespace_count(c);
	case PW_KIND_POD:
		return pw_cluster_pod_count(c);
	case PW_KIND_POLICY:
		return pw_cluster_policy_count(c);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pw_buf errors = PW_BUF_INIT, notices = PW_BUF_INIT;
	struct pw_cluster *cluster;
	size_t i;
	int status = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR (the --out of bench/gen-cluster.py)\n", argv[0]);
		return 2;
	}
	cluster = pw_cluster_new();
	printf("%-14s %8s %14s\n", "kind", "objects", "bytes/object");
	for (i = 0; i < PW_ARRAY_SIZE(kinds); i++) {
		char *path = pw_xasprintf("%s/%s", argv[1], kinds[i].file);
		size_t before, after, n;

		/* The loader's buffers are freed by now; only what the cache keeps stays. */
		before = heap_in_use();
		if (pw_manifest_load(path, keep, cluster, &errors, &notices) > 0) {
			fprintf(stderr, "%s", pw_buf_str(&errors));
			status = 1;
		}
		after = heap_in_use();
		n = count_of(cluster, kinds[i].kind);
		printf("%-14s %8zu %14.0f\n", pw_kind_name(kinds[i].kind), n,
		       n ? (double)(after - before) / (double)n : 0.0);
		free(path);
	}
	pw_cluster_free(cluster);
	pw_buf_free(&errors);
	pw_buf_free(&notices);
	return status;
}
