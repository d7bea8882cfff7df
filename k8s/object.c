#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "k8s/object.h"
#include "lib/intern.h"
#include "lib/util.h"

static const char *const api_names[PW_PROTO_COUNT] = {
	[PW_PROTO_TCP] = "TCP",
	[PW_PROTO_UDP] = "UDP",
	[PW_PROTO_SCTP] = "SCTP",
};

static const char *const kernel_names[PW_PROTO_COUNT] = {
	[PW_PROTO_TCP] = "tcp",
	[PW_PROTO_UDP] = "udp",
	[PW_PROTO_SCTP] = "sctp",
};

const char *pw_protocol_api_name(enum pw_protocol p)
{
	return (unsigned)p < PW_PROTO_COUNT ? api_names[p] : "?";
}

const char *pw_protocol_name(enum pw_protocol p)
{
	return (unsigned)p < PW_PROTO_COUNT ? kernel_names[p] : "?";
}

/* Case-sensitive: the API server refuses "tcp". */
int pw_protocol_parse(const char *text, enum pw_protocol *out)
{
	int i = pw_name_index(api_names, PW_PROTO_COUNT, text);

	if (i < 0)
		return -EINVAL;
	*out = (enum pw_protocol)i;
	return 0;
}

bool pw_pod_is_addressable(const struct pw_pod *pod)
{
	if (pod->nips == 0 || pod->host_network)
		return false;
	return pod->phase != PW_POD_PHASE_SUCCEEDED && pod->phase != PW_POD_PHASE_FAILED;
}

const struct pw_cidr *pw_pod_address(const struct pw_pod *pod, int family)
{
	size_t i;

	for (i = 0; i < pod->nips; i++)
		if (pod->ips[i].family == family)
			return &pod->ips[i];
	return NULL;
}

const struct pw_cidr *pw_pod_ipv4(const struct pw_pod *pod)
{
	return pw_pod_address(pod, AF_INET);
}

void pw_namespace_free(struct pw_namespace *ns)
{
	if (!ns)
		return;
	pw_intern_release(ns->name);
	free(ns->uid);
	pw_labels_free(ns->labels);
	free(ns);
}

void pw_pod_free(struct pw_pod *pod)
{
	size_t i;

	if (!pod)
		return;
	pw_intern_release(pod->namespace);
	pw_intern_release(pod->node_name);
	pw_labels_free(pod->labels);
	for (i = 0; i < pod->nports; i++)
		pw_intern_release(pod->ports[i].name);
	free(pod);
}

static void ipblock_free(struct pw_ipblock *b)
{
	if (!b)
		return;
	free(b->except);
	free(b);
}

static void rules_free(struct pw_policy_rule *rules, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		struct pw_policy_rule *r = &rules[i];

		for (j = 0; j < r->nports; j++)
			free(r->ports[j].name);
		free(r->ports);
		for (j = 0; j < r->npeers; j++) {
			pw_selector_free(r->peers[j].pod_selector);
			pw_selector_free(r->peers[j].namespace_selector);
			ipblock_free(r->peers[j].ipblock);
		}
		free(r->peers);
	}
	free(rules);
}

void pw_policy_free(struct pw_policy *policy)
{
	if (!policy)
		return;
	pw_intern_release(policy->namespace);
	free(policy->name);
	free(policy->uid);
	pw_selector_free(policy->pod_selector);
	rules_free(policy->ingress, policy->ningress);
	rules_free(policy->egress, policy->negress);
	free(policy);
}

void pw_object_free(struct pw_object *obj)
{
	if (!obj)
		return;
	switch (obj->kind) {
	case PW_KIND_NAMESPACE:
		pw_namespace_free(obj->u.ns);
		obj->u.ns = NULL;
		break;
	case PW_KIND_POD:
		pw_pod_free(obj->u.pod);
		obj->u.pod = NULL;
		break;
	case PW_KIND_POLICY:
		pw_policy_free(obj->u.policy);
		obj->u.policy = NULL;
		break;
	}
}

const char *pw_kind_name(enum pw_kind kind)
{
	switch (kind) {
	case PW_KIND_NAMESPACE:
		return "Namespace";
	case PW_KIND_POD:
		return "Pod";
	case PW_KIND_POLICY:
		return "NetworkPolicy";
	}
	return "?";
}

void pw_object_names(const struct pw_object *obj, const char **ns, const char **name,
		     const char **uid)
{
	switch (obj->kind) {
	case PW_KIND_NAMESPACE:
		*ns = NULL;
		*name = obj->u.ns->name;
		*uid = obj->u.ns->uid;
		return;
	case PW_KIND_POD:
		*ns = obj->u.pod->namespace;
		*name = obj->u.pod->name;
		*uid = obj->u.pod->uid;
		return;
	case PW_KIND_POLICY:
		*ns = obj->u.policy->namespace;
		*name = obj->u.policy->name;
		*uid = obj->u.policy->uid;
		return;
	}
	*ns = *name = *uid = NULL;
}

/* Keys and titles are made for every object read, so plain appends, not printf. */
void pw_object_key(const char *ns, const char *name, struct pw_buf *out)
{
	if (ns) {
		pw_buf_puts(out, ns);
		pw_buf_putc(out, '/');
	}
	pw_buf_puts(out, name);
}

void pw_object_title(const struct pw_object *obj, struct pw_buf *out)
{
	const char *ns, *name, *uid;

	pw_object_names(obj, &ns, &name, &uid);
	pw_buf_puts(out, pw_kind_name(obj->kind));
	pw_buf_putc(out, ' ');
	pw_object_key(ns, name, out);
}
