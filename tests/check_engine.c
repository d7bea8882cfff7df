/*
 * The compiler, one NetworkPolicy feature at a time: manifests in, the
 * rendered filter table and sets out, checked for the rules and members
 * each feature must produce.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "chains/render.h"
#include "engine/cluster.h"
#include "engine/compile.h"
#include "engine/config_file.h"
#include "engine/endpoint.h"
#include "engine/options.h"
#include "k8s/manifest.h"
#include "tests/testlib.h"

/* x/a and x/b are local to node n1, y/a is local too, z/c is elsewhere. */
static const char cluster_yaml[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: red}}\n---\n"
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: 'y', labels: {team: blue}}\n---\n"
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: z}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {pod: a}}\n"
	"spec: {nodeName: n1, containers: [{name: c, ports: ["
	"{name: serve-80-tcp, containerPort: 80}, {name: serve-81-udp, containerPort: 81, protocol: UDP}]}]}\n"
	"status: {phase: Running, podIP: 198.18.0.1}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {pod: b}}\n"
	"spec: {nodeName: n1, containers: [{name: c, ports: [{name: serve-80-tcp, containerPort: 8080}]}]}\n"
	"status: {phase: Running, podIP: 198.18.0.2}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: 'y', labels: {pod: a}}\n"
	"spec: {nodeName: n1, containers: [{name: c}]}\n"
	"status: {phase: Running, podIP: 198.18.1.1}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: z, labels: {pod: c}}\n"
	"spec: {nodeName: n2, containers: [{name: c, ports: [{name: serve-80-tcp, containerPort: 80}]}]}\n"
	"status: {phase: Running, podIP: 198.18.2.3}\n";

struct result {
	struct pw_dataplane *dp;
	char *rules;
	char *sets;
};

static struct result compile_deny_log(const char *policies, const char *prefix,
				      enum pw_deny_log mode, const char *later)
{
	struct pw_cluster *c = pw_cluster_new();
	struct pw_buf out = PW_BUF_INIT;
	struct pw_options opt;
	struct result r;

	pw_options_init(&opt);
	opt.deny_log = mode;
	free(opt.node_name);
	opt.node_name = pw_xstrdup("n1");
	if (prefix) {
		free(opt.prefix);
		opt.prefix = pw_xstrdup(prefix);
	}
	pw_test_load_manifest(c, cluster_yaml);
	if (policies)
		pw_test_load_manifest(c, policies);
	/* Objects that replace some of the cluster's, as an update would. */
	if (later)
		pw_test_load_manifest(c, later);
	r.dp = pw_compile(c, NULL, &opt);
	pw_render_table(r.dp->filter, &out);
	r.rules = pw_buf_steal(&out);
	pw_render_sets(r.dp->sets, &out);
	r.sets = pw_buf_steal(&out);
	pw_cluster_free(c);
	pw_options_free(&opt);
	return r;
}

static struct result compile_with(const char *policies, const char *prefix)
{
	return compile_deny_log(policies, prefix, PW_DENY_LOG_NAMESPACES, NULL);
}

static struct result compile(const char *policies)
{
	return compile_with(policies, NULL);
}

static void result_free(struct result *r)
{
	pw_dataplane_free(r->dp);
	free(r->rules);
	free(r->sets);
}

#define assert_has(text, needle) \
	ck_assert_msg(strstr((text), (needle)) != NULL, "missing \"%s\" in:\n%s", (needle), (text))
#define assert_lacks(text, needle) \
	ck_assert_msg(strstr((text), (needle)) == NULL, "unexpected \"%s\" in:\n%s", (needle), (text))

/* The sets of one family. */
static size_t sets_of(const struct result *r, int family)
{
	size_t i, n = 0;

	for (i = 0; i < pw_setlist_count(r->dp->sets); i++)
		n += pw_set_family(pw_setlist_at(r->dp->sets, i)) == family;
	return n;
}

static size_t count(const char *text, const char *needle)
{
	size_t n = 0;

	while ((text = strstr(text, needle))) {
		n++;
		text++;
	}
	return n;
}

/* The members of the one set of this type whose members include member. */
static const struct pw_set *set_with(const struct result *r, enum pw_set_type type,
				     const char *member)
{
	size_t i, j;

	for (i = 0; i < pw_setlist_count(r->dp->sets); i++) {
		const struct pw_set *s = pw_setlist_at(r->dp->sets, i);

		if (pw_set_type(s) != type)
			continue;
		for (j = 0; j < pw_set_member_count(s); j++)
			if (strcmp(pw_set_member_at(s, j), member) == 0)
				return s;
	}
	return NULL;
}

static char *members(const struct pw_set *s)
{
	struct pw_buf b = PW_BUF_INIT;
	size_t i;

	for (i = 0; s && i < pw_set_member_count(s); i++)
		pw_buf_printf(&b, "%s%s%s", i ? " " : "", pw_set_member_at(s, i),
			      pw_set_member_nomatch(s, i) ? "!" : "");
	return pw_buf_steal(&b);
}

#define assert_members(set, expected) do { \
		char *m_ = members(set); \
		ck_assert_str_eq(m_, (expected)); \
		free(m_); \
	} while (0)

#define POLICY(ns, name, body) \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" \
	"metadata: {name: " name ", namespace: " ns "}\nspec:\n" body

/* ------------------------------------------------------------------ */

START_TEST(test_iface_names_follow_calico)
{
	char name[PW_IFACE_NAME_MAX + 1];

	pw_endpoint_iface_name("cali", "stars", "backend", name);
	ck_assert_str_eq(name, "cali4fad2c602cf");
	pw_endpoint_iface_name("cali", "x", "a", name);
	ck_assert_str_eq(name, "cali456b416f2bf");
	pw_endpoint_iface_name("tap", "x", "a", name);
	ck_assert_str_eq(name, "tap456b416f2bf");
}
END_TEST

START_TEST(test_no_policy_leaves_pods_open)
{
	struct result r = compile(NULL);

	/* Local pods get chains with conntrack rules only; remote pods none. */
	assert_has(r.rules, ":pw-tw-cali456b416f2bf - [0:0]");
	assert_has(r.rules, "-A pw-tw-cali456b416f2bf -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
		   "-A pw-tw-cali456b416f2bf -m conntrack --ctstate INVALID -j DROP\n");
	assert_lacks(r.rules, "no policy allowed");
	assert_lacks(r.rules, "pw-pi-");
	ck_assert_uint_eq(count(r.rules, ":pw-tw-"), 3);
	ck_assert_uint_eq(pw_setlist_count(r.dp->sets), 0);
	/* Hooks, dispatch and fail-closed ends. */
	assert_has(r.rules, "-A INPUT ! -i lo -j pw-INPUT\n");
	assert_has(r.rules, "-A FORWARD -j pw-FORWARD\n");
	assert_has(r.rules, "-A OUTPUT -j pw-OUTPUT\n");
	assert_has(r.rules, "-A pw-FORWARD -j MARK --set-xmark 0x0/0x30000\n"
		   "-A pw-FORWARD -j pw-from-wl-dispatch\n"
		   "-A pw-FORWARD -m mark --mark 0x0/0x30000 -m comment --comment "
		   "\"from a local pod: no endpoint chain allowed it\" -j DROP\n"
		   "-A pw-FORWARD -m mark --mark 0x10000/0x10000 -g pw-from-wl-forward\n"
		   "-A pw-FORWARD -j MARK --set-xmark 0x0/0x30000\n"
		   "-A pw-FORWARD -j pw-to-wl-dispatch\n");
	assert_has(r.rules, "-A pw-to-wl-dispatch -o cali456b416f2bf -g pw-tw-cali456b416f2bf\n");
	assert_has(r.rules, "-A pw-to-wl-dispatch -o cali+ -m comment --comment \"unknown interface\" -j DROP\n"
		   "-A pw-to-wl-dispatch -m comment --comment \"not to a local pod\" "
		   "-j MARK --set-xmark 0x20000/0x20000\n");
	assert_has(r.rules, "-A pw-from-wl-dispatch -i cali+ -m comment --comment \"unknown interface\" -j DROP\n");
	assert_has(r.rules, "-A pw-INPUT -j pw-from-wl-dispatch\n");
	/* A pod sends with its own address, checked before conntrack. */
	assert_has(r.rules, ":pw-fw-cali456b416f2bf - [0:0]");
	assert_has(r.rules, "-A pw-fw-cali456b416f2bf ! -s 198.18.0.1/32 -m comment --comment "
		   "\"a source address the pod does not own\" -j DROP\n"
		   "-A pw-fw-cali456b416f2bf -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
	assert_has(r.rules, "-A pw-allow -j MARK --set-xmark 0x10000/0x10000\n");
	result_free(&r);
}
END_TEST

START_TEST(test_default_deny_ingress_isolates)
{
	struct result r = compile(POLICY("x", "deny", "  podSelector: {}\n"));

	/*
	 * Both x pods isolated for ingress, not for egress; y/a untouched: an
	 * INVALID drop in each of the 6 interface chains, a forged source in
	 * each of the 3 from-pod chains, 2 for unknown interfaces, 2 for x/a
	 * and x/b, 4 after the dispatches of pw-INPUT, pw-FORWARD and
	 * pw-from-wl-forward for what no interface chain allowed.
	 */
	ck_assert_uint_eq(count(r.rules, "-j DROP\n"), 6 + 3 + 2 + 2 + 4);
	assert_has(r.rules, "-A pw-tw-cali456b416f2bf -j MARK --set-xmark 0x0/0x10000\n");
	assert_has(r.rules, "-A pw-tw-cali456b416f2bf -m comment --comment \"x/deny\" "
		   "-m mark --mark 0x0/0x10000 -j pw-pi-");
	assert_has(r.rules, "-A pw-tw-cali456b416f2bf -m comment --comment \"no policy allowed the packet\" "
		   "-m mark --mark 0x0/0x10000 -j DROP\n");
	assert_lacks(r.rules, "-A pw-fw-cali456b416f2bf -j MARK");
	/* The policy chain exists, empty, and is shared by both pods. */
	ck_assert_uint_eq(count(r.rules, ":pw-pi-"), 1);
	ck_assert_uint_eq(count(r.rules, "-A pw-pi-"), 0);
	result_free(&r);
}
END_TEST

START_TEST(test_default_deny_egress)
{
	struct result r = compile(POLICY("x", "deny-egress",
					 "  podSelector: {}\n  policyTypes: [Egress]\n"));

	assert_has(r.rules, "-A pw-fw-cali456b416f2bf -j MARK --set-xmark 0x0/0x10000\n");
	assert_has(r.rules, "-j pw-po-");
	assert_lacks(r.rules, "-j pw-pi-");
	assert_lacks(r.rules, "-A pw-tw-cali456b416f2bf -j MARK");
	result_free(&r);
}
END_TEST

START_TEST(test_pod_selector_peer_is_policy_namespace)
{
	struct result r = compile(POLICY("x", "from-a",
		"  podSelector: {matchLabels: {pod: b}}\n"
		"  ingress: [{from: [{podSelector: {matchLabels: {pod: a}}}]}]\n"));
	const struct pw_set *s = set_with(&r, PW_SET_HASH_IP, "198.18.0.1");

	/* y/a also has pod=a but lives in another namespace. */
	assert_members(s, "198.18.0.1");
	assert_has(r.rules, "-m set --match-set ");
	assert_has(r.rules, " src -g pw-allow\n");
	/* Only x/b is isolated. */
	ck_assert_uint_eq(count(r.rules, "no policy allowed"), 1);
	result_free(&r);
}
END_TEST

START_TEST(test_namespace_selector_peer)
{
	struct result r = compile(POLICY("x", "from-blue",
		"  podSelector: {}\n"
		"  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}]}]\n"));

	assert_members(set_with(&r, PW_SET_HASH_IP, "198.18.1.1"), "198.18.1.1");
	result_free(&r);
}
END_TEST

START_TEST(test_namespace_and_pod_selector_are_anded)
{
	struct result r = compile(POLICY("x", "and",
		"  podSelector: {}\n"
		"  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: a}}}]}]\n"));

	/* Every namespace, pods labelled a: x/a and y/a, not x/b or z/c. */
	assert_members(set_with(&r, PW_SET_HASH_IP, "198.18.0.1"), "198.18.0.1 198.18.1.1");
	ck_assert_uint_eq(sets_of(&r, AF_INET), 1);
	/* No pod of this cluster has IPv6: no IPv6 set is of use. */
	ck_assert_uint_eq(sets_of(&r, AF_INET6), 0);
	result_free(&r);
}
END_TEST

START_TEST(test_two_peers_are_ored)
{
	struct result r = compile(POLICY("x", "or",
		"  podSelector: {matchLabels: {pod: a}}\n"
		"  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}},"
		" {podSelector: {matchLabels: {pod: b}}}]}]\n"));

	ck_assert_uint_eq(sets_of(&r, AF_INET), 2);
	/* No pod of this cluster has IPv6: no IPv6 set is of use. */
	ck_assert_uint_eq(sets_of(&r, AF_INET6), 0);
	ck_assert_uint_eq(count(r.rules, " src -g pw-allow\n"), 2);
	assert_members(set_with(&r, PW_SET_HASH_IP, "198.18.1.1"), "198.18.1.1");
	assert_members(set_with(&r, PW_SET_HASH_IP, "198.18.0.2"), "198.18.0.2");
	result_free(&r);
}
END_TEST

START_TEST(test_empty_selectors_select_all)
{
	struct result r = compile(POLICY("x", "all-ns",
		"  podSelector: {}\n"
		"  ingress: [{from: [{namespaceSelector: {}}]}, {from: [{podSelector: {}}]}]\n"));

	assert_members(set_with(&r, PW_SET_HASH_IP, "198.18.2.3"),
		       "198.18.0.1 198.18.0.2 198.18.1.1 198.18.2.3");
	assert_members(set_with(&r, PW_SET_HASH_IP, "198.18.0.2"), "198.18.0.1 198.18.0.2");
	result_free(&r);
}
END_TEST

START_TEST(test_missing_from_allows_any_source)
{
	struct result r = compile(POLICY("x", "allow-all", "  podSelector: {}\n  ingress: [{}]\n"));

	/* No address match at all: external sources too. */
	ck_assert_uint_eq(count(r.rules, "-A pw-pi-"), 1);
	assert_has(r.rules, " -g pw-allow\n");
	assert_lacks(r.rules, "--match-set");
	ck_assert_uint_eq(pw_setlist_count(r.dp->sets), 0);
	result_free(&r);
}
END_TEST

START_TEST(test_empty_ingress_list_denies)
{
	struct result r = compile(POLICY("x", "none", "  podSelector: {}\n  ingress: []\n"));

	ck_assert_uint_eq(count(r.rules, "-A pw-pi-"), 0);
	ck_assert_uint_eq(count(r.rules, "no policy allowed"), 2);
	result_free(&r);
}
END_TEST

START_TEST(test_ports_all_of_a_protocol)
{
	struct result r = compile(POLICY("x", "ports",
		"  podSelector: {}\n"
		"  ingress: [{ports: [{}]}, {ports: [{protocol: UDP}]}]\n"));

	/* ports: [{}] is every TCP port, not every port. */
	assert_has(r.rules, " -p tcp -g pw-allow\n");
	assert_has(r.rules, " -p udp -g pw-allow\n");
	ck_assert_uint_eq(count(r.rules, "-A pw-pi-"), 2);
	result_free(&r);
}
END_TEST

START_TEST(test_numeric_ports_and_ranges)
{
	struct result r = compile(POLICY("x", "ports",
		"  podSelector: {}\n"
		"  ingress:\n"
		"  - ports: [{port: 80}]\n"
		"  - ports: [{port: 80}, {port: 443}, {port: 8000, endPort: 8080}, {protocol: UDP, port: 53}]\n"
		"  - ports: [{protocol: SCTP, port: 81}]\n"));

	assert_has(r.rules, " -p tcp -m tcp --dport 80 -g pw-allow\n");
	assert_has(r.rules, " -p tcp -m multiport --dports 80,443,8000:8080 -g pw-allow\n");
	assert_has(r.rules, " -p udp -m udp --dport 53 -g pw-allow\n");
	assert_has(r.rules, " -p sctp -m sctp --dport 81 -g pw-allow\n");
	result_free(&r);
}
END_TEST

START_TEST(test_many_ports_split_across_multiport_rules)
{
	struct pw_buf yaml = PW_BUF_INIT;
	struct result r;
	int i;

	pw_buf_puts(&yaml, POLICY("x", "many", "  podSelector: {}\n  ingress:\n  - ports:\n"));
	for (i = 0; i < 20; i++)
		pw_buf_printf(&yaml, "    - {port: %d}\n", 1000 + i);
	r = compile(yaml.data);
	/* 15 slots in the first rule, 5 in the second. */
	ck_assert_uint_eq(count(r.rules, "-m multiport --dports"), 2);
	assert_has(r.rules, "--dports 1015,1016,1017,1018,1019 -g");
	pw_buf_free(&yaml);
	result_free(&r);
}
END_TEST

START_TEST(test_named_port_ingress_resolves_per_pod)
{
	struct result r = compile(POLICY("x", "named",
		"  podSelector: {}\n"
		"  ingress: [{ports: [{port: serve-80-tcp}]}]\n"));
	const struct pw_set *s = set_with(&r, PW_SET_HASH_IP_PORT, "198.18.0.1,tcp:80");

	/* x/a serves it on 80, x/b on 8080: each pod's own number. */
	assert_members(s, "198.18.0.1,tcp:80 198.18.0.2,tcp:8080");
	assert_has(r.rules, " -p tcp -m set --match-set ");
	assert_has(r.rules, " dst,dst -g pw-allow\n");
	result_free(&r);
}
END_TEST

START_TEST(test_named_port_wrong_protocol_matches_nothing)
{
	struct result r = compile(POLICY("x", "named",
		"  podSelector: {}\n"
		"  ingress: [{ports: [{port: serve-81-udp}]}]\n"));

	/* serve-81-udp is UDP; the policy asks TCP: an empty set, isolation only. */
	ck_assert_uint_eq(sets_of(&r, AF_INET), 1);
	/* No pod of this cluster has IPv6: no IPv6 set is of use. */
	ck_assert_uint_eq(sets_of(&r, AF_INET6), 0);
	ck_assert_uint_eq(pw_set_member_count(pw_setlist_at(r.dp->sets, 0)), 0);
	result_free(&r);
}
END_TEST

START_TEST(test_named_port_egress_resolves_on_peers)
{
	struct result r = compile(POLICY("x", "named-egress",
		"  podSelector: {matchLabels: {pod: a}}\n"
		"  policyTypes: [Egress]\n"
		"  egress: [{ports: [{port: serve-80-tcp}]}]\n"));

	/* No "to": the port is looked up on every pod of the cluster. */
	assert_members(set_with(&r, PW_SET_HASH_IP_PORT, "198.18.2.3,tcp:80"),
		       "198.18.0.1,tcp:80 198.18.0.2,tcp:8080 198.18.2.3,tcp:80");
	assert_has(r.rules, " dst,dst -g pw-allow\n");
	result_free(&r);
}
END_TEST

START_TEST(test_ipblock_with_except)
{
	struct result r = compile(POLICY("x", "block",
		"  podSelector: {}\n"
		"  policyTypes: [Egress]\n"
		"  egress: [{to: [{ipBlock: {cidr: 198.18.0.0/15, except: [198.18.0.2/32, 198.18.1.0/24]}},"
		" {ipBlock: {cidr: 'fd00::/8'}}]}]\n"));
	const struct pw_set *s = set_with(&r, PW_SET_HASH_NET, "198.18.0.0/15");

	assert_members(s, "198.18.0.0/15 198.18.0.2! 198.18.1.0/24!");
	/* The IPv6 block adds nothing to the IPv4 table. */
	ck_assert_uint_eq(count(r.rules, "-A pw-po-"), 1);
	assert_has(r.rules, " dst -g pw-allow\n");
	result_free(&r);
}
END_TEST

START_TEST(test_ipblock_zero_prefix)
{
	struct result r = compile(POLICY("x", "world",
		"  podSelector: {}\n"
		"  ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0, except: [198.18.0.0/15]}}]}]\n"));

	assert_members(set_with(&r, PW_SET_HASH_NET, "0.0.0.0/1"),
		       "0.0.0.0/1 128.0.0.0/1 198.18.0.0/15!");
	result_free(&r);
}
END_TEST

START_TEST(test_selectors_share_one_set)
{
	struct result r = compile(
		POLICY("x", "p1", "  podSelector: {}\n"
		       "  ingress: [{from: [{podSelector: {matchLabels: {pod: a}}}]}]\n")
		"---\n"
		POLICY("x", "p2", "  podSelector: {}\n"
		       "  ingress: [{from: [{podSelector: {matchExpressions: "
		       "[{key: pod, operator: In, values: [a, a]}]}}]}]\n")
		"---\n"
		POLICY("'y'", "p3", "  podSelector: {}\n"
		       "  ingress: [{from: [{podSelector: {matchLabels: {pod: a}}}]}]\n"));

	/* p1 and p2 are one selector in one namespace; p3's namespace differs. */
	ck_assert_uint_eq(sets_of(&r, AF_INET), 2);
	/* No pod of this cluster has IPv6: no IPv6 set is of use. */
	ck_assert_uint_eq(sets_of(&r, AF_INET6), 0);
	result_free(&r);
}
END_TEST

START_TEST(test_not_in_matches_missing_label)
{
	struct result r = compile(POLICY("x", "notin",
		"  podSelector: {}\n"
		"  ingress: [{from: [{namespaceSelector: {matchExpressions: "
		"[{key: team, operator: NotIn, values: [red]}]}}]}]\n"));

	/* y is blue, z has no team label: both match; x is red. */
	assert_members(set_with(&r, PW_SET_HASH_IP, "198.18.1.1"), "198.18.1.1 198.18.2.3");
	result_free(&r);
}
END_TEST

START_TEST(test_default_namespace_label)
{
	struct result r = compile(POLICY("x", "by-name",
		"  podSelector: {}\n"
		"  ingress: [{from: [{namespaceSelector: {matchLabels: "
		"{kubernetes.io/metadata.name: z}}}]}]\n"));

	assert_members(set_with(&r, PW_SET_HASH_IP, "198.18.2.3"), "198.18.2.3");
	result_free(&r);
}
END_TEST

START_TEST(test_stacked_policies_all_called)
{
	struct result r = compile(
		POLICY("x", "p1", "  podSelector: {}\n  ingress: [{ports: [{port: 80}]}]\n")
		"---\n"
		POLICY("x", "p2", "  podSelector: {matchLabels: {pod: a}}\n"
		       "  ingress: [{ports: [{port: 81}]}]\n"));

	/* x/a is selected by both: both chains are called, in name order. */
	assert_has(r.rules, "-A pw-tw-cali456b416f2bf -m comment --comment \"x/p1\" ");
	assert_has(r.rules, "-A pw-tw-cali456b416f2bf -m comment --comment \"x/p2\" ");
	ck_assert_uint_eq(count(r.rules, ":pw-pi-"), 2);
	result_free(&r);
}
END_TEST

START_TEST(test_pod_lifecycle_and_host_network)
{
	struct result r = compile(
		"apiVersion: v1\nkind: Pod\nmetadata: {name: done, namespace: x, labels: {pod: a}}\n"
		"spec: {nodeName: n1, containers: [{name: c}]}\n"
		"status: {phase: Succeeded, podIP: 198.18.0.9}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: host, namespace: x, labels: {pod: a}}\n"
		"spec: {nodeName: n1, hostNetwork: true, containers: [{name: c}]}\n"
		"status: {phase: Running, podIP: 198.18.9.9}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: new, namespace: x, labels: {pod: a}}\n"
		"spec: {nodeName: n1, containers: [{name: c}]}\n"
		"status: {phase: Pending}\n---\n"
		POLICY("x", "p", "  podSelector: {}\n"
		       "  ingress: [{from: [{podSelector: {matchLabels: {pod: a}}}]}]\n"));
	char iface[PW_IFACE_NAME_MAX + 1];

	/* Only x/a is a member: finished, host-network and address-less pods are not. */
	assert_members(set_with(&r, PW_SET_HASH_IP, "198.18.0.1"), "198.18.0.1");
	/* The pending pod is guarded before its first packet; the others get nothing. */
	pw_endpoint_iface_name("cali", "x", "new", iface);
	assert_has(r.rules, iface);
	pw_endpoint_iface_name("cali", "x", "done", iface);
	assert_lacks(r.rules, iface);
	pw_endpoint_iface_name("cali", "x", "host", iface);
	assert_lacks(r.rules, iface);
	result_free(&r);
}
END_TEST

START_TEST(test_dispatch_bins_many_interfaces)
{
	struct pw_buf yaml = PW_BUF_INIT;
	struct result r;
	int i;

	for (i = 0; i < 40; i++)
		pw_buf_printf(&yaml, "apiVersion: v1\nkind: Pod\nmetadata: {name: p%d, namespace: 'y'}\n"
			      "spec: {nodeName: n1, containers: [{name: c}]}\n"
			      "status: {phase: Running, podIP: 198.18.5.%d}\n---\n", i, i + 1);
	r = compile(yaml.data);
	/* Every hex digit bin with more than one interface gets a child chain. */
	assert_has(r.rules, ":pw-to-wl-dispatch-");
	assert_has(r.rules, " -o cali0+ -g pw-to-wl-dispatch-0\n");
	ck_assert_uint_eq(count(r.rules, "unknown interface"),
			  2 * (1 + count(r.rules, ":pw-to-wl-dispatch-")));
	ck_assert_uint_eq(count(r.rules, " -g pw-tw-"), 43);
	pw_buf_free(&yaml);
	result_free(&r);
}
END_TEST

START_TEST(test_long_prefix_names_fit)
{
	struct result r = compile_with(
		POLICY("x", "a-very-long-policy-name-that-goes-on-and-on-and-on",
		       "  podSelector: {}\n"
		       "  ingress: [{from: [{podSelector: {matchLabels: {pod: a}}}],"
		       " ports: [{port: serve-80-tcp}]}]\n"), "podwall-");
	size_t i;

	for (i = 0; i < pw_table_chain_count(r.dp->filter); i++)
		ck_assert_uint_le(strlen(pw_chain_name(pw_table_chain_at(r.dp->filter, i))), 28);
	for (i = 0; i < pw_setlist_count(r.dp->sets); i++)
		ck_assert_uint_le(strlen(pw_set_name(pw_setlist_at(r.dp->sets, i))), 31);
	assert_has(r.rules, ":podwall-pi-");
	result_free(&r);
}
END_TEST

START_TEST(test_options_refuse_bad_names)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_options opt;

	pw_options_init(&opt);
	ck_assert_int_eq(pw_options_validate(&opt, &err), 0);
	free(opt.prefix);
	opt.prefix = pw_xstrdup("cali-");
	ck_assert_int_lt(pw_options_validate(&opt, &err), 0);
	free(opt.prefix);
	opt.prefix = pw_xstrdup("toolongprefix-");
	ck_assert_int_lt(pw_options_validate(&opt, &err), 0);
	free(opt.prefix);
	opt.prefix = pw_xstrdup("pw-");
	opt.accept_mark = 0x4000;
	ck_assert_int_lt(pw_options_validate(&opt, &err), 0);
	opt.accept_mark = 0x30000;
	ck_assert_int_lt(pw_options_validate(&opt, &err), 0);
	/* The pass mark: a bit of its own, not kube-proxy's, not the accept mark. */
	opt.accept_mark = 0x10000;
	opt.pass_mark = 0x10000;
	ck_assert_int_lt(pw_options_validate(&opt, &err), 0);
	opt.pass_mark = 0x8000;
	ck_assert_int_lt(pw_options_validate(&opt, &err), 0);
	opt.pass_mark = 0x40000;
	ck_assert_int_eq(pw_options_validate(&opt, &err), 0);
	pw_buf_free(&err);
	pw_options_free(&opt);
}
END_TEST

START_TEST(test_same_input_same_output)
{
	const char *p = POLICY("x", "p", "  podSelector: {}\n"
			       "  ingress: [{from: [{namespaceSelector: {}}]}]\n");
	struct result a = compile(p), b = compile(p);

	ck_assert_str_eq(a.rules, b.rules);
	ck_assert_str_eq(a.sets, b.sets);
	result_free(&a);
	result_free(&b);
}
END_TEST

/* Renders both and compares: the sets, then the chains. */
static void assert_same_dataplane(const struct pw_dataplane *got, const struct pw_dataplane *want)
{
	struct pw_buf a = PW_BUF_INIT, b = PW_BUF_INIT;

	pw_render_sets(got->sets, &a);
	pw_render_sets(want->sets, &b);
	ck_assert_str_eq(a.data, b.data);
	pw_buf_reset(&a);
	pw_buf_reset(&b);
	pw_render_table(got->filter, &a);
	pw_render_table(want->filter, &b);
	ck_assert_str_eq(a.data, b.data);
	pw_buf_reset(&a);
	pw_buf_reset(&b);
	pw_render_table(got->filter6, &a);
	pw_render_table(want->filter6, &b);
	ck_assert_str_eq(a.data, b.data);
	pw_buf_free(&a);
	pw_buf_free(&b);
}

/* The member changes for what changed, made in old's sets. */
static size_t change_members(const struct pw_cluster *c, struct pw_dataplane *old,
			     const char *const *addresses, const char *const *namespaces)
{
	struct pw_strmap *a = pw_strmap_new(), *n = pw_strmap_new();
	struct pw_member_changes changes = { NULL, 0, 0 };
	size_t count;

	for (; *addresses; addresses++)
		pw_strmap_put(a, *addresses, a);
	for (; *namespaces; namespaces++)
		pw_strmap_put(n, *namespaces, n);
	pw_compile_member_changes(c, old, a, n, &changes);
	pw_setlist_apply_changes(old->sets, &changes);
	count = changes.count;
	pw_member_changes_free(&changes);
	pw_strmap_free(a);
	pw_strmap_free(n);
	return count;
}

/*
 * Pods of other nodes change only set members: the changes worked out from
 * the addresses and namespaces they touched, made in the old sets, must
 * give what a full compile of the changed cluster gives, chains included;
 * also when a finished pod and a new one share an address.
 */
START_TEST(test_member_changes_follow_remote_pods)
{
	const char *policies =
		POLICY("x", "from-c", "  podSelector: {}\n"
		       "  ingress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]\n")
		"---\n"
		POLICY("x", "from-blue", "  podSelector: {matchLabels: {pod: a}}\n"
		       "  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}},"
		       " podSelector: {matchExpressions: [{key: pod, operator: Exists}]}}]}]\n")
		"---\n"
		POLICY("x", "to-named", "  podSelector: {}\n  policyTypes: [Egress]\n"
		       "  egress: [{to: [{namespaceSelector: {}}], ports: [{port: serve-80-tcp}]}]\n")
		"---\n"
		POLICY("z", "local-z", "  podSelector: {}\n"
		       "  ingress: [{from: [{podSelector: {matchLabels: {pod: d}}}]}]\n")
		"---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: done, namespace: z, labels: {pod: c}}\n"
		"spec: {nodeName: n3, containers: [{name: c}]}\n"
		"status: {phase: Succeeded, podIP: 198.18.2.5}\n";
	const char *changes =
		"apiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: z, labels: {pod: d}}\n"
		"spec: {nodeName: n2, containers: [{name: c, ports: [{name: serve-80-tcp, containerPort: 80}]}]}\n"
		"status: {phase: Running, podIP: 198.18.2.3}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: e, namespace: z, labels: {pod: c}}\n"
		"spec: {nodeName: n3, containers: [{name: c, ports: [{name: serve-80-tcp, containerPort: 8080}]}]}\n"
		"status: {phase: Running, podIP: 198.18.2.5}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: f, namespace: w, labels: {pod: f}}\n"
		"spec: {nodeName: n3, containers: [{name: c, ports: [{name: serve-80-tcp, containerPort: 81}]}]}\n"
		"status: {phase: Running, podIP: 198.18.3.6}\n";
	const char *first_addresses[] = { "198.18.2.3", "198.18.2.5", "198.18.3.6", NULL };
	const char *first_namespaces[] = { "z", "w", NULL };
	const char *gone_addresses[] = { "198.18.2.5", NULL };
	const char *gone_namespaces[] = { "z", NULL };
	const char *nobody[] = { "198.18.9.9", NULL };
	const char *nowhere[] = { "nowhere", NULL };
	struct pw_cluster *c = pw_cluster_new();
	struct pw_dataplane *old, *full;
	struct pw_options opt;

	pw_options_init(&opt);
	free(opt.node_name);
	opt.node_name = pw_xstrdup("n1");
	pw_test_load_manifest(c, cluster_yaml);
	pw_test_load_manifest(c, policies);
	pw_cluster_index_addresses(c);
	old = pw_compile(c, NULL, &opt);

	pw_test_load_manifest(c, changes);
	ck_assert_uint_gt(change_members(c, old, first_addresses, first_namespaces), 0);
	full = pw_compile(c, NULL, &opt);
	assert_same_dataplane(old, full);
	pw_dataplane_free(full);

	/* The new pod goes; the finished one at its address must not come back. */
	ck_assert_int_eq(pw_cluster_delete(c, PW_KIND_POD, "z", "e"), 0);
	ck_assert_uint_gt(change_members(c, old, gone_addresses, gone_namespaces), 0);
	full = pw_compile(c, NULL, &opt);
	assert_same_dataplane(old, full);

	/* Nothing at an address no pod holds: no change. */
	ck_assert_uint_eq(change_members(c, old, nobody, nowhere), 0);

	pw_dataplane_free(old);
	pw_dataplane_free(full);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

/*
 * The same over both families: other nodes' dual-stack pods change the
 * IPv6 sets as the IPv4 ones, each address only its own family's, and an
 * IPv6 address no pod holds changes nothing.
 */
START_TEST(test_member_changes_follow_remote_pods_dual_stack)
{
	const char *policies =
		POLICY("x", "from-c", "  podSelector: {}\n"
		       "  ingress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]\n")
		"---\n"
		POLICY("x", "to-named", "  podSelector: {}\n  policyTypes: [Egress]\n"
		       "  egress: [{to: [{namespaceSelector: {}}], ports: [{port: serve-80-tcp}]}]\n")
		"---\n"
		/* A local pod with an IPv6 address: its IPv6 chains call the policies. */
		"apiVersion: v1\nkind: Pod\nmetadata: {name: dual, namespace: x, labels: {pod: dual}}\n"
		"spec: {nodeName: n1, containers: [{name: c}]}\n"
		"status: {phase: Running, podIP: 198.18.0.9, podIPs: [{ip: 198.18.0.9}, {ip: 'fd00:18::9'}]}\n";
	const char *changes =
		"apiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: z, labels: {pod: c}}\n"
		"spec: {nodeName: n2, containers: [{name: c, ports: [{name: serve-80-tcp, containerPort: 80}]}]}\n"
		"status: {phase: Running, podIP: 198.18.2.3, podIPs: [{ip: 198.18.2.3}, {ip: 'fd00:18::2:3'}]}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: six, namespace: z, labels: {pod: c}}\n"
		"spec: {nodeName: n3, containers: [{name: c, ports: [{name: serve-80-tcp, containerPort: 8080}]}]}\n"
		"status: {phase: Running, podIP: 'fd00:18::2:6', podIPs: [{ip: 'fd00:18::2:6'}]}\n";
	const char *addresses[] = { "198.18.2.3", "fd00:18::2:3", "fd00:18::2:6", NULL };
	const char *namespaces[] = { "z", NULL };
	const char *nobody[] = { "fd00:18::9:9", NULL };
	struct pw_cluster *c = pw_cluster_new();
	struct pw_dataplane *old, *full;
	struct pw_options opt;

	pw_options_init(&opt);
	free(opt.node_name);
	opt.node_name = pw_xstrdup("n1");
	pw_test_load_manifest(c, cluster_yaml);
	pw_test_load_manifest(c, policies);
	pw_cluster_index_addresses(c);
	old = pw_compile(c, NULL, &opt);
	pw_test_load_manifest(c, changes);
	ck_assert_uint_gt(change_members(c, old, addresses, namespaces), 0);
	full = pw_compile(c, NULL, &opt);
	assert_same_dataplane(old, full);
	ck_assert_uint_eq(change_members(c, old, nobody, namespaces), 0);
	pw_dataplane_free(old);
	pw_dataplane_free(full);
	pw_cluster_free(c);
	pw_options_free(&opt);
}
END_TEST

static int load_config_text(const char *text, struct pw_options *opt, struct pw_buf *err);

/* Namespace x, annotated as --deny-log=namespaces wants it (value), or not. */
#define ANNOTATED_X(value) \
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {team: red}, " \
	"annotations: {podwall.io/deny-log: " value "}}\n"

#define DENY_X_INGRESS POLICY("x", "deny", "  podSelector: {matchLabels: {pod: a}}\n")

static const char deny_log_x_a[] =
	"-A pw-tw-cali456b416f2bf -m mark --mark 0x0/0x10000 -m limit --limit 1/sec "
	"-j NFLOG --nflog-prefix \"pw-deny ingress x/a\" --nflog-group 42\n"
	"-A pw-tw-cali456b416f2bf -m comment --comment \"no policy allowed the packet\" "
	"-m mark --mark 0x0/0x10000 -j DROP\n";

START_TEST(test_deny_log_modes)
{
	struct result plain = compile(DENY_X_INGRESS), r;

	/* No annotation: exactly what there was before deny logging. */
	assert_lacks(plain.rules, "NFLOG");
	r = compile_deny_log(DENY_X_INGRESS, NULL, PW_DENY_LOG_OFF, NULL);
	ck_assert_str_eq(r.rules, plain.rules);
	result_free(&r);

	/* Annotated "true": the isolated pod's ingress only, before its drop. */
	r = compile_deny_log(DENY_X_INGRESS, NULL, PW_DENY_LOG_NAMESPACES,
			     ANNOTATED_X("\"true\""));
	assert_has(r.rules, deny_log_x_a);
	ck_assert_uint_eq(count(r.rules, "-j NFLOG"), 1);
	/* Nothing else moved: without the one line, the rules are as before. */
	{
		char *at = strstr(r.rules, deny_log_x_a);
		size_t len = strchr(deny_log_x_a, '\n') + 1 - deny_log_x_a;

		memmove(at, at + len, strlen(at + len) + 1);
		ck_assert_str_eq(r.rules, plain.rules);
	}
	result_free(&r);

	/* Any other value is off; so is the annotation under --deny-log=off. */
	r = compile_deny_log(DENY_X_INGRESS, NULL, PW_DENY_LOG_NAMESPACES,
			     ANNOTATED_X("\"True\""));
	ck_assert_str_eq(r.rules, plain.rules);
	result_free(&r);
	r = compile_deny_log(DENY_X_INGRESS, NULL, PW_DENY_LOG_OFF, ANNOTATED_X("\"true\""));
	ck_assert_str_eq(r.rules, plain.rules);
	result_free(&r);

	/* all: every isolated pod and direction, annotation or not; no other. */
	r = compile_deny_log(POLICY("'y'", "deny", "  podSelector: {}\n"
				    "  policyTypes: [Ingress, Egress]\n") "---\n" DENY_X_INGRESS,
			     NULL, PW_DENY_LOG_ALL, NULL);
	assert_has(r.rules, deny_log_x_a);
	assert_has(r.rules, "--nflog-prefix \"pw-deny ingress y/a\" --nflog-group 42\n");
	assert_has(r.rules, "--nflog-prefix \"pw-deny egress y/a\" --nflog-group 42\n");
	ck_assert_uint_eq(count(r.rules, "-j NFLOG"), 3);
	result_free(&r);
	result_free(&plain);
}
END_TEST

START_TEST(test_deny_log_prefix)
{
	char out[PW_DENY_LOG_PREFIX_SIZE], other[PW_DENY_LOG_PREFIX_SIZE];
	char pod[254];
	struct pw_buf name = PW_BUF_INIT;
	struct pw_endpoint ep;

	pw_deny_log_prefix("pw-", "x", "a", true, out);
	ck_assert_str_eq(out, "pw-deny ingress x/a");
	pw_deny_log_prefix("pwx-", "x", "a", false, out);
	ck_assert_str_eq(out, "pwx-deny egress x/a");

	/* 63 bytes fit as they are; one more and the tail becomes a digest. */
	memset(pod, 'p', sizeof(pod) - 1);
	pod[sizeof(pod) - 1] = '\0';
	pod[63 - strlen("pw-deny ingress x/")] = '\0';
	pw_deny_log_prefix("pw-", "x", pod, true, out);
	ck_assert_uint_eq(strlen(out), 63);
	ck_assert(strchr(out, '~') == NULL);
	pod[63 - strlen("pw-deny ingress x/")] = 'p';
	pod[64 - strlen("pw-deny ingress x/")] = '\0';
	pw_deny_log_prefix("pw-", "x", pod, true, out);
	ck_assert_uint_eq(strlen(out), 63);
	ck_assert_int_eq(out[54], '~');
	ck_assert_int_eq(strncmp(out, "pw-deny ingress x/ppp", 21), 0);

	/* Two long names alike in their first 54 bytes stay apart. */
	pod[64 - strlen("pw-deny ingress x/")] = 'p';
	pw_deny_log_prefix("pw-", "x", pod, true, out);
	pod[200] = 'q';
	pw_deny_log_prefix("pw-", "x", pod, true, other);
	ck_assert_uint_eq(strlen(other), 63);
	ck_assert_int_eq(memcmp(out, other, 55), 0);
	ck_assert_str_ne(out, other);

	memset(&ep, 0, sizeof(ep));
	strcpy(ep.id, "cali456b416f2bf");
	pw_endpoint_chain_name("pw-", &ep, true, &name);
	ck_assert_str_eq(pw_buf_str(&name), "pw-tw-cali456b416f2bf");
	pw_endpoint_chain_name("pw-", &ep, false, &name);
	ck_assert_str_eq(pw_buf_str(&name), "pw-fw-cali456b416f2bf");
	pw_buf_free(&name);
}
END_TEST

START_TEST(test_deny_log_options)
{
	static const struct {
		const char *text;
		const char *error;
	} bad[] = {
		{ "denyLog: some\n", "denyLog: invalid value \"some\"" },
		{ "denyLogGroup: 65536\n", "denyLogGroup: invalid value \"65536\"" },
		{ "denyLogRate: 0/sec\n", "denyLogRate: invalid value \"0/sec\"" },
		{ "denyLogRate: fast\n", "denyLogRate: invalid value \"fast\"" },
		{ "denyLogRate: 1/week\n", "denyLogRate: invalid value \"1/week\"" },
		{ "denyLogBurst: 10001\n", "denyLogBurst: invalid value \"10001\"" },
		{ "denyLogReader: perhaps\n", "denyLogReader: invalid value \"perhaps\"" },
	};
	struct pw_buf err = PW_BUF_INIT;
	struct pw_options opt;
	size_t i;

	pw_options_init(&opt);
	ck_assert_int_eq(opt.deny_log, PW_DENY_LOG_NAMESPACES);
	ck_assert_uint_eq(opt.deny_log_group, 42);
	ck_assert_uint_eq(opt.deny_log_rate, 1);
	ck_assert_int_eq(opt.deny_log_rate_unit, PW_LIMIT_SEC);
	ck_assert_uint_eq(opt.deny_log_burst, 5);
	ck_assert(!opt.deny_log_reader);
	ck_assert_int_eq(load_config_text("denyLog: all\ndenyLogGroup: 0\n"
					  "denyLogRate: 30/minute\ndenyLogBurst: 10000\n"
					  "denyLogReader: true\n", &opt, &err), 0);
	ck_assert_int_eq(opt.deny_log, PW_DENY_LOG_ALL);
	ck_assert_uint_eq(opt.deny_log_group, 0);
	ck_assert_uint_eq(opt.deny_log_rate, 30);
	ck_assert_int_eq(opt.deny_log_rate_unit, PW_LIMIT_MIN);
	ck_assert_uint_eq(opt.deny_log_burst, 10000);
	ck_assert(opt.deny_log_reader);
	ck_assert_int_eq(pw_options_validate(&opt, &err), 0);

	/* What the limit match cannot hold is refused by name. */
	opt.deny_log_rate = 10001;
	opt.deny_log_rate_unit = PW_LIMIT_SEC;
	ck_assert_int_eq(pw_options_validate(&opt, &err), -EINVAL);
	assert_has(pw_buf_str(&err), "--deny-log-rate 10001/sec");
	pw_buf_reset(&err);
	opt.deny_log_rate = 1;
	opt.deny_log_rate_unit = PW_LIMIT_DAY;
	opt.deny_log_burst = 5;
	ck_assert_int_eq(pw_options_validate(&opt, &err), -EINVAL);
	assert_has(pw_buf_str(&err), "--deny-log-rate 1/day with a burst of 5");
	pw_buf_reset(&err);
	opt.deny_log_burst = 4;
	ck_assert_int_eq(pw_options_validate(&opt, &err), 0);
	opt.deny_log_burst = 0;
	ck_assert_int_eq(pw_options_validate(&opt, &err), -EINVAL);
	assert_has(pw_buf_str(&err), "--deny-log-burst 0");
	pw_buf_reset(&err);
	opt.deny_log_burst = 5;
	opt.deny_log_rate_unit = PW_LIMIT_SEC;
	opt.deny_log_group = 65536;
	ck_assert_int_eq(pw_options_validate(&opt, &err), -EINVAL);
	assert_has(pw_buf_str(&err), "--deny-log-group 65536");
	pw_options_free(&opt);

	for (i = 0; i < PW_ARRAY_SIZE(bad); i++) {
		pw_options_init(&opt);
		pw_buf_reset(&err);
		ck_assert_msg(load_config_text(bad[i].text, &opt, &err) == -EINVAL, "accepted: %s",
			      bad[i].text);
		assert_has(pw_buf_str(&err), bad[i].error);
		pw_options_free(&opt);
	}
	pw_buf_free(&err);
}
END_TEST

static int load_config_text(const char *text, struct pw_options *opt, struct pw_buf *err)
{
	char path[] = "/tmp/pw-check-config-XXXXXX";
	int fd = mkstemp(path), ret;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	ret = pw_config_file_load(path, opt, err);
	unlink(path);
	return ret;
}

START_TEST(test_config_file_sets_options)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_options opt;

	pw_options_init(&opt);
	ck_assert_int_eq(load_config_text(
		"# every key\n"
		"nodeName: edge-7\nkubeconfig: /etc/podwall/kubeconfig\nprefix: pwx-\n"
		"ifacePrefix: tap\nacceptMark: 0x20000\nlockWait: 2.5\nlogLevel: debug\n"
		"resyncInterval: 30\nbatchWindow: 0.02\nwatchStallTimeout: 90\n"
		"driftCheckInterval: 0.5\npassMark: 0x40000\nendpointDiscovery: bridge\n"
		"cniCacheDir: /run/cni/a:/run/cni/b\nkeepSysctls: yes\n",
		&opt, &err), 0);
	ck_assert_uint_eq(opt.pass_mark, 0x40000);
	ck_assert_int_eq(opt.endpoint_discovery, PW_DISCOVER_BRIDGE);
	ck_assert_str_eq(opt.cni_cache_dirs, "/run/cni/a:/run/cni/b");
	ck_assert(opt.keep_sysctls);
	ck_assert_str_eq(opt.node_name, "edge-7");
	ck_assert_str_eq(opt.kubeconfig, "/etc/podwall/kubeconfig");
	ck_assert_str_eq(opt.prefix, "pwx-");
	ck_assert_str_eq(opt.iface_prefix, "tap");
	ck_assert_uint_eq(opt.accept_mark, 0x20000);
	ck_assert_uint_eq(opt.lock_wait_ms, 2500);
	ck_assert_int_eq(opt.log_level, PW_LOG_DEBUG);
	ck_assert_uint_eq(opt.resync_interval_s, 30);
	ck_assert_uint_eq(opt.batch_window_ms, 20);
	ck_assert_uint_eq(opt.watch_stall_s, 90);
	ck_assert_uint_eq(opt.drift_check_ms, 500);
	pw_options_free(&opt);
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_config_file_refuses_bad_input)
{
	static const char *const bad[] = {
		"nodename: edge-1\n",		/* keys are case-sensitive */
		"acceptMark: lots\n",
		"resyncInterval: -5\n",
		"logLevel: loud\n",
		"prefix: [a, b]\n",
		"- a list\n",
		"nodeName: [unclosed\n",
		"lockWait: 99999\n",
		"driftCheckInterval: 7200\n",
		"endpointDiscovery: magic\n",
		"keepSysctls: maybe\n",
	};
	struct pw_buf err = PW_BUF_INIT;
	struct pw_options opt;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(bad); i++) {
		pw_options_init(&opt);
		pw_buf_reset(&err);
		ck_assert_msg(load_config_text(bad[i], &opt, &err) == -EINVAL, "accepted: %s", bad[i]);
		ck_assert_msg(strstr(pw_buf_str(&err), "line ") != NULL, "no line in: %s",
			      pw_buf_str(&err));
		pw_options_free(&opt);
	}
	pw_options_init(&opt);
	ck_assert_int_eq(load_config_text("", &opt, &err), 0);
	ck_assert_int_eq(pw_config_file_load("/nonexistent/podwall.yaml", &opt, &err), -ENOENT);
	pw_options_free(&opt);
	pw_buf_free(&err);
}
END_TEST

static Suite *engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *names = tcase_create("names");
	TCase *compiler = tcase_create("compiler");

	tcase_add_test(names, test_iface_names_follow_calico);
	tcase_add_test(names, test_long_prefix_names_fit);
	tcase_add_test(names, test_options_refuse_bad_names);
	tcase_add_test(names, test_config_file_sets_options);
	tcase_add_test(names, test_config_file_refuses_bad_input);
	tcase_add_test(names, test_deny_log_prefix);
	tcase_add_test(names, test_deny_log_options);
	suite_add_tcase(s, names);

	tcase_add_test(compiler, test_no_policy_leaves_pods_open);
	tcase_add_test(compiler, test_member_changes_follow_remote_pods);
	tcase_add_test(compiler, test_member_changes_follow_remote_pods_dual_stack);
	tcase_add_test(compiler, test_default_deny_ingress_isolates);
	tcase_add_test(compiler, test_default_deny_egress);
	tcase_add_test(compiler, test_deny_log_modes);
	tcase_add_test(compiler, test_pod_selector_peer_is_policy_namespace);
	tcase_add_test(compiler, test_namespace_selector_peer);
	tcase_add_test(compiler, test_namespace_and_pod_selector_are_anded);
	tcase_add_test(compiler, test_two_peers_are_ored);
	tcase_add_test(compiler, test_empty_selectors_select_all);
	tcase_add_test(compiler, test_missing_from_allows_any_source);
	tcase_add_test(compiler, test_empty_ingress_list_denies);
	tcase_add_test(compiler, test_ports_all_of_a_protocol);
	tcase_add_test(compiler, test_numeric_ports_and_ranges);
	tcase_add_test(compiler, test_many_ports_split_across_multiport_rules);
	tcase_add_test(compiler, test_named_port_ingress_resolves_per_pod);
	tcase_add_test(compiler, test_named_port_wrong_protocol_matches_nothing);
	tcase_add_test(compiler, test_named_port_egress_resolves_on_peers);
	tcase_add_test(compiler, test_ipblock_with_except);
	tcase_add_test(compiler, test_ipblock_zero_prefix);
	tcase_add_test(compiler, test_selectors_share_one_set);
	tcase_add_test(compiler, test_not_in_matches_missing_label);
	tcase_add_test(compiler, test_default_namespace_label);
	tcase_add_test(compiler, test_stacked_policies_all_called);
	tcase_add_test(compiler, test_pod_lifecycle_and_host_network);
	tcase_add_test(compiler, test_dispatch_bins_many_interfaces);
	tcase_add_test(compiler, test_same_input_same_output);
	suite_add_tcase(s, compiler);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
