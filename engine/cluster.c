#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cluster.h"
#include "k8s/manifest.h"
#include "lib/cidr.h"
#include "lib/strmap.h"
#include "lib/util.h"

/*
 * One index per kind, keyed "<namespace>/<name>" ("<name>" for Namespaces),
 * and a sorted view rebuilt only when the index changed since last asked.
 */
struct kind_store {
	struct pw_strmap *by_key;
	void **sorted;
	size_t nsorted;
	size_t cap;
	bool dirty;
};

struct address_pods {
	const struct pw_pod **pods;
	size_t count;
	size_t cap;
};

struct pw_cluster {
	struct kind_store stores[3];	/* by enum pw_kind */
	struct pw_strmap *by_address;	/* IPv4 text -> struct address_pods; NULL: off */
};

static void store_init(struct kind_store *s)
{
	memset(s, 0, sizeof(*s));
	s->by_key = pw_strmap_new();
}

static int free_value(const char *key, void *value, void *ctx)
{
	enum pw_kind kind = *(enum pw_kind *)ctx;
	struct pw_object obj = { .kind = kind };

	(void)key;
	switch (kind) {
	case PW_KIND_NAMESPACE:
		obj.u.ns = value;
		break;
	case PW_KIND_POD:
		obj.u.pod = value;
		break;
	case PW_KIND_POLICY:
		obj.u.policy = value;
		break;
	}
	pw_object_free(&obj);
	return 0;
}

static void store_fini(struct kind_store *s, enum pw_kind kind)
{
	pw_strmap_foreach(s->by_key, free_value, &kind);
	pw_strmap_free(s->by_key);
	free(s->sorted);
}

struct pw_cluster *pw_cluster_new(void)
{
	struct pw_cluster *c = pw_xcalloc(1, sizeof(*c));
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(c->stores); i++)
		store_init(&c->stores[i]);
	return c;
}

static int free_address_pods(const char *key, void *value, void *ctx)
{
	struct address_pods *a = value;

	(void)key;
	(void)ctx;
	free(a->pods);
	free(a);
	return 0;
}

void pw_cluster_free(struct pw_cluster *c)
{
	size_t i;

	if (!c)
		return;
	if (c->by_address) {
		pw_strmap_foreach(c->by_address, free_address_pods, NULL);
		pw_strmap_free(c->by_address);
	}
	for (i = 0; i < PW_ARRAY_SIZE(c->stores); i++)
		store_fini(&c->stores[i], (enum pw_kind)i);
	free(c);
}

static void object_key(enum pw_kind kind, const char *namespace, const char *name,
		       struct pw_buf *key)
{
	pw_object_key(kind == PW_KIND_NAMESPACE ? NULL : namespace, name, key);
}

static void *object_ptr(const struct pw_object *obj, struct pw_buf *key)
{
	const char *ns, *name, *uid;

	pw_object_names(obj, &ns, &name, &uid);
	pw_object_key(ns, name, key);
	switch (obj->kind) {
	case PW_KIND_NAMESPACE:
		return obj->u.ns;
	case PW_KIND_POD:
		return obj->u.pod;
	case PW_KIND_POLICY:
		return obj->u.policy;
	}
	return NULL;
}

/* A pod is found at each of its addresses, of either family. */
static void index_address(struct pw_cluster *c, const struct pw_pod *pod)
{
	char text[PW_CIDR_STRLEN];
	struct address_pods *a;
	size_t i;

	for (i = 0; c->by_address && i < pod->nips; i++) {
		pw_cidr_format(&pod->ips[i], false, text);
		a = pw_strmap_get(c->by_address, text);
		if (!a) {
			a = pw_xcalloc(1, sizeof(*a));
			pw_strmap_put(c->by_address, text, a);
		}
		PW_GROW(a->pods, a->cap, a->count + 1);
		a->pods[a->count++] = pod;
	}
}

static void unindex_address(struct pw_cluster *c, const struct pw_pod *pod)
{
	char text[PW_CIDR_STRLEN];
	struct address_pods *a;
	size_t i, k;

	for (k = 0; c->by_address && k < pod->nips; k++) {
		pw_cidr_format(&pod->ips[k], false, text);
		if (!(a = pw_strmap_get(c->by_address, text)))
			continue;
		for (i = 0; i < a->count; i++) {
			if (a->pods[i] == pod) {
				a->pods[i] = a->pods[--a->count];
				break;
			}
		}
		if (a->count == 0) {
			pw_strmap_del(c->by_address, text);
			free_address_pods(text, a, NULL);
		}
	}
}

static int index_one(const struct pw_pod *pod, void *ctx)
{
	index_address(ctx, pod);
	return 0;
}

void pw_cluster_index_addresses(struct pw_cluster *c)
{
	if (c->by_address)
		return;
	c->by_address = pw_strmap_new();
	pw_cluster_foreach_pod(c, index_one, c);
}

size_t pw_cluster_pods_at(const struct pw_cluster *c, const char *ip,
			  const struct pw_pod *const **pods)
{
	const struct address_pods *a = c->by_address ? pw_strmap_get(c->by_address, ip) : NULL;

	*pods = a ? a->pods : NULL;
	return a ? a->count : 0;
}

void pw_cluster_upsert(struct pw_cluster *c, struct pw_object *obj)
{
	struct kind_store *s = &c->stores[obj->kind];
	struct pw_buf key = PW_BUF_INIT;
	void *value = object_ptr(obj, &key);
	void *old = pw_strmap_put(s->by_key, key.data, value);

	if (obj->kind == PW_KIND_POD) {
		if (old)
			unindex_address(c, old);
		index_address(c, value);
	}
	if (old)
		free_value(key.data, old, &obj->kind);
	s->dirty = true;
	pw_buf_free(&key);
}

int pw_cluster_delete(struct pw_cluster *c, enum pw_kind kind,
		      const char *namespace, const char *name)
{
	struct kind_store *s = &c->stores[kind];
	struct pw_buf key = PW_BUF_INIT;
	void *old;

	object_key(kind, namespace, name, &key);
	old = pw_strmap_del(s->by_key, key.data);
	if (old && kind == PW_KIND_POD)
		unindex_address(c, old);
	if (old) {
		free_value(key.data, old, &kind);
		s->dirty = true;
	}
	pw_buf_free(&key);
	return old ? 0 : -ENOENT;
}

const char *pw_cluster_uid(const struct pw_cluster *c, enum pw_kind kind,
			   const char *namespace, const char *name)
{
	struct pw_buf key = PW_BUF_INIT;
	void *value;

	object_key(kind, namespace, name, &key);
	value = pw_strmap_get(c->stores[kind].by_key, key.data);
	pw_buf_free(&key);
	if (!value)
		return NULL;
	switch (kind) {
	case PW_KIND_NAMESPACE:
		return ((const struct pw_namespace *)value)->uid;
	case PW_KIND_POD:
		return ((const struct pw_pod *)value)->uid;
	case PW_KIND_POLICY:
		return ((const struct pw_policy *)value)->uid;
	}
	return NULL;
}

const struct pw_namespace *pw_cluster_namespace(const struct pw_cluster *c,
						const char *name)
{
	return pw_strmap_get(c->stores[PW_KIND_NAMESPACE].by_key, name);
}

const struct pw_pod *pw_cluster_pod(const struct pw_cluster *c, const char *namespace,
				    const char *name)
{
	struct pw_buf key = PW_BUF_INIT;
	const struct pw_pod *pod;

	object_key(PW_KIND_POD, namespace, name, &key);
	pod = pw_strmap_get(c->stores[PW_KIND_POD].by_key, key.data);
	pw_buf_free(&key);
	return pod;
}

static int collect(const char *key, void *value, void *ctx)
{
	struct kind_store *s = ctx;

	(void)key;
	s->sorted[s->nsorted++] = value;
	return 0;
}

static int cmp_namespace(const void *a, const void *b)
{
	const struct pw_namespace *x = *(const struct pw_namespace *const *)a;
	const struct pw_namespace *y = *(const struct pw_namespace *const *)b;

	return strcmp(x->name, y->name);
}

static int cmp_ns_name(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
	int r = strcmp(ns1, ns2);

	return r ? r : strcmp(n1, n2);
}

static int cmp_pod(const void *a, const void *b)
{
	const struct pw_pod *x = *(const struct pw_pod *const *)a;
	const struct pw_pod *y = *(const struct pw_pod *const *)b;

	return cmp_ns_name(x->namespace, x->name, y->namespace, y->name);
}

static int cmp_policy(const void *a, const void *b)
{
	const struct pw_policy *x = *(const struct pw_policy *const *)a;
	const struct pw_policy *y = *(const struct pw_policy *const *)b;

	return cmp_ns_name(x->namespace, x->name, y->namespace, y->name);
}

static int (*const comparators[])(const void *, const void *) = {
	[PW_KIND_NAMESPACE] = cmp_namespace,
	[PW_KIND_POD] = cmp_pod,
	[PW_KIND_POLICY] = cmp_policy,
};

/*
 * The sorted view is a cache: refreshing it through a const pointer is
 * fine because nothing observable about the cluster changes.
 */
static struct kind_store *sorted_store(const struct pw_cluster *c, enum pw_kind kind)
{
	struct kind_store *s = (struct kind_store *)&c->stores[kind];

	if (s->dirty || (!s->sorted && pw_strmap_count(s->by_key))) {
		PW_GROW(s->sorted, s->cap, pw_strmap_count(s->by_key));
		s->nsorted = 0;
		pw_strmap_foreach(s->by_key, collect, s);
		if (s->nsorted > 1)
			qsort(s->sorted, s->nsorted, sizeof(*s->sorted), comparators[kind]);
		s->dirty = false;
	}
	return s;
}

size_t pw_cluster_namespace_count(const struct pw_cluster *c)
{
	return pw_strmap_count(c->stores[PW_KIND_NAMESPACE].by_key);
}

const struct pw_namespace *pw_cluster_namespace_at(const struct pw_cluster *c, size_t i)
{
	return sorted_store(c, PW_KIND_NAMESPACE)->sorted[i];
}

size_t pw_cluster_pod_count(const struct pw_cluster *c)
{
	return pw_strmap_count(c->stores[PW_KIND_POD].by_key);
}

const struct pw_pod *pw_cluster_pod_at(const struct pw_cluster *c, size_t i)
{
	return sorted_store(c, PW_KIND_POD)->sorted[i];
}

size_t pw_cluster_policy_count(const struct pw_cluster *c)
{
	return pw_strmap_count(c->stores[PW_KIND_POLICY].by_key);
}

const struct pw_policy *pw_cluster_policy_at(const struct pw_cluster *c, size_t i)
{
	return sorted_store(c, PW_KIND_POLICY)->sorted[i];
}

struct pod_walk {
	int (*fn)(const struct pw_pod *pod, void *ctx);
	void *ctx;
};

static int walk_pod(const char *key, void *value, void *ctx)
{
	struct pod_walk *w = ctx;

	(void)key;
	return w->fn(value, w->ctx);
}

int pw_cluster_foreach_pod(const struct pw_cluster *c,
			   int (*fn)(const struct pw_pod *pod, void *ctx), void *ctx)
{
	struct pod_walk w = { fn, ctx };

	return pw_strmap_foreach(c->stores[PW_KIND_POD].by_key, walk_pod, &w);
}

/* ------------------------------------------------------------ manifests */

/*
 * Where each object was read is kept until the last manifest is, for the
 * message about a second definition: the places one after another in one
 * buffer, since a malloc'd string each would add a sixth to the peak.
 */
struct load_ctx {
	struct pw_cluster *cluster;
	struct pw_strmap *seen;		/* "<Kind> <ns>/<name>" -> 1 + offset in wheres */
	struct pw_buf wheres;		/* NUL-terminated places */
	struct pw_buf title;
	struct pw_buf *errors;
	int duplicates;
};

static int store_object(struct pw_object *obj, const char *where, void *ctx)
{
	struct load_ctx *lc = ctx;
	void **first;

	pw_buf_reset(&lc->title);
	pw_object_title(obj, &lc->title);
	pw_strmap_entry(lc->seen, pw_buf_str(&lc->title), &first);
	if (*first) {
		pw_buf_printf(lc->errors, "%s: %s: already defined at %s\n", where,
			      pw_buf_str(&lc->title),
			      lc->wheres.data + ((uintptr_t)*first - 1));
		lc->duplicates++;
		pw_object_free(obj);
	} else {
		*first = (void *)(uintptr_t)(lc->wheres.len + 1);
		pw_buf_add(&lc->wheres, where, strlen(where) + 1);
		pw_cluster_upsert(lc->cluster, obj);
	}
	return 0;
}

int pw_cluster_load_manifests(char *const *paths, size_t n, struct pw_cluster **out,
			      struct pw_buf *errors, struct pw_buf *notices)
{
	struct load_ctx lc;
	int nerrors = 0;
	size_t i;

	lc.cluster = pw_cluster_new();
	lc.seen = pw_strmap_new();
	pw_buf_init(&lc.wheres);
	pw_buf_init(&lc.title);
	lc.errors = errors;
	lc.duplicates = 0;
	for (i = 0; i < n; i++)
		nerrors += pw_manifest_load(paths[i], store_object, &lc, errors, notices);
	pw_strmap_free(lc.seen);
	pw_buf_free(&lc.wheres);
	pw_buf_free(&lc.title);
	*out = lc.cluster;
	return nerrors + lc.duplicates;
}
