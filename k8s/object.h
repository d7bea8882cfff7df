/*
 * The fields of Namespaces, Pods and NetworkPolicies that podwall enforces
 * with, after the API server's defaulting and validation, and no others: a
 * large cluster keeps one of these per object. Plain data: every pointer is
 * owned by the object and released by its _free(). Strings marked interned
 * are shared (lib/intern.h) and only read.
 */
#ifndef PW_OBJECT_H
#define PW_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "selectors/labels.h"
#include "selectors/selector.h"

enum pw_protocol {
	PW_PROTO_TCP,
	PW_PROTO_UDP,
	PW_PROTO_SCTP,
};
#define PW_PROTO_COUNT 3

/* "TCP", "UDP", "SCTP" as the API spells them. */
const char *pw_protocol_api_name(enum pw_protocol p);
/* "tcp", "udp", "sctp" as iptables and ipset spell them. */
const char *pw_protocol_name(enum pw_protocol p);
/* Parses the API spelling; 0 or -EINVAL. */
int pw_protocol_parse(const char *text, enum pw_protocol *out);

/*
 * The namespace annotation that asks for its pods' denied packets to be
 * logged (--deny-log=namespaces): only the value "true" does.
 */
#define PW_DENY_LOG_ANNOTATION "podwall.io/deny-log"

struct pw_namespace {
	const char *name;		/* interned */
	char *uid;			/* may be NULL in manifests */
	struct pw_labels *labels;	/* always has kubernetes.io/metadata.name */
	bool deny_log;			/* PW_DENY_LOG_ANNOTATION is "true" */
};

enum pw_pod_phase {
	PW_POD_PHASE_UNKNOWN,		/* absent or "Unknown" */
	PW_POD_PHASE_PENDING,
	PW_POD_PHASE_RUNNING,
	PW_POD_PHASE_SUCCEEDED,
	PW_POD_PHASE_FAILED,
};

struct pw_container_port {
	const char *name;		/* interned; NULL when the port has no name */
	uint16_t number;		/* 1..65535 */
	enum pw_protocol protocol;	/* TCP when absent */
};

/*
 * One allocation holds the pod, its ports' and addresses' arrays, its name
 * and its uid, which never change once decoded.
 */
struct pw_pod {
	const char *namespace;		/* interned */
	char *name;
	char *uid;
	const char *node_name;		/* interned; spec.nodeName; NULL when unscheduled */
	struct pw_cidr *ips;		/* status.podIPs (or podIP), full-length */
	struct pw_labels *labels;
	struct pw_container_port *ports; /* all containers' and init containers' */
	uint32_t nips;
	uint32_t nports;
	enum pw_pod_phase phase;
	bool host_network;
};

/*
 * True when the pod may stand in a selector's set: it has an address, is
 * not finished (its IP may already be someone else's) and does not share
 * the node's network.
 */
bool pw_pod_is_addressable(const struct pw_pod *pod);
/* The pod's address of family (AF_INET, AF_INET6), or NULL. */
const struct pw_cidr *pw_pod_address(const struct pw_pod *pod, int family);
/* The first IPv4 address of the pod, or NULL. */
const struct pw_cidr *pw_pod_ipv4(const struct pw_pod *pod);

enum pw_port_kind {
	PW_PORT_ALL,			/* protocol given, port absent */
	PW_PORT_NUMBER,			/* port, or port..end_port */
	PW_PORT_NAMED,			/* a container port name */
};

struct pw_policy_port {
	enum pw_protocol protocol;	/* TCP when absent */
	enum pw_port_kind kind;
	uint16_t port;			/* PW_PORT_NUMBER */
	uint16_t end_port;		/* PW_PORT_NUMBER: == port without endPort */
	char *name;			/* PW_PORT_NAMED */
};

struct pw_ipblock {
	struct pw_cidr cidr;		/* host bits cleared */
	struct pw_cidr *except;		/* each strictly inside cidr, masked */
	size_t nexcept;
};

/*
 * One element of from/to. Exactly one of the forms is present:
 * ipblock, or one or both selectors. A NULL selector is an absent one; an
 * empty (non-NULL) selector selects everything.
 */
struct pw_policy_peer {
	struct pw_selector *pod_selector;
	struct pw_selector *namespace_selector;
	struct pw_ipblock *ipblock;
};

/*
 * One ingress or egress rule. Missing and empty lists mean the same thing
 * to the API: nports == 0 allows every port and protocol, npeers == 0 every
 * source or destination, inside or outside the cluster.
 */
struct pw_policy_rule {
	struct pw_policy_port *ports;
	size_t nports;
	struct pw_policy_peer *peers;
	size_t npeers;
};

enum {
	PW_POLICY_INGRESS = 1 << 0,
	PW_POLICY_EGRESS = 1 << 1,
};

struct pw_policy {
	const char *namespace;		/* interned */
	char *name;
	char *uid;
	struct pw_selector *pod_selector;	/* never NULL */
	unsigned types;			/* PW_POLICY_INGRESS | PW_POLICY_EGRESS, defaulted */
	struct pw_policy_rule *ingress;
	size_t ningress;
	struct pw_policy_rule *egress;
	size_t negress;
};

void pw_namespace_free(struct pw_namespace *ns);
void pw_pod_free(struct pw_pod *pod);
void pw_policy_free(struct pw_policy *policy);

enum pw_kind {
	PW_KIND_NAMESPACE,
	PW_KIND_POD,
	PW_KIND_POLICY,
};

/* One decoded object; whoever holds it frees it with pw_object_free(). */
struct pw_object {
	enum pw_kind kind;
	union {
		struct pw_namespace *ns;
		struct pw_pod *pod;
		struct pw_policy *policy;
	} u;
};

void pw_object_free(struct pw_object *obj);	/* frees the member, not obj */
const char *pw_kind_name(enum pw_kind kind);	/* "Namespace", "Pod", "NetworkPolicy" */

struct pw_buf;
/* The namespace (NULL for a Namespace), name and uid (NULL when absent) of obj. */
void pw_object_names(const struct pw_object *obj, const char **ns, const char **name,
		     const char **uid);
/*
 * Appends "ns/name", or "name" when ns is NULL: how the caches key objects.
 * Names contain no '/', so a key splits back without doubt.
 */
void pw_object_key(const char *ns, const char *name, struct pw_buf *out);
/* Appends "Pod shop/web-1", "Namespace shop": how messages name an object. */
void pw_object_title(const struct pw_object *obj, struct pw_buf *out);

#endif
