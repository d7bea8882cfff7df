/*
 * The walker on hand-built tables (set types, nomatch, goto, a missing
 * chain), then engine/query.c on small clusters: isolation, the policy
 * rule and peer that allowed a flow, addresses outside the cluster, a
 * remote pod's side and a single podwall node.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "chains/ipset.h"
#include "chains/rule.h"
#include "chains/table.h"
#include "chains/walk.h"
#include "engine/cluster.h"
#include "engine/options.h"
#include "engine/query.h"
#include "tests/testlib.h"

static struct pw_packet tcp(const char *src, const char *dst, uint16_t dport)
{
	struct pw_packet p;

	memset(&p, 0, sizeof(p));
	p.in = "cali1";
	p.out = "eth0";
	p.src = pw_test_ip(src);
	p.dst = pw_test_ip(dst);
	p.protocol = IPPROTO_TCP;
	p.dport = dport;
	p.ctstate = PW_CT_NEW;
	return p;
}

/* ------------------------------------------------------------ walker */

/* FORWARD: accept what a set holds (the rule's match), else drop. */
static struct pw_table *table_matching(const char *set, enum pw_set_dir dir)
{
	struct pw_table *t = pw_table_new("filter", AF_INET);
	struct pw_chain *fwd = pw_table_find_chain(t, "FORWARD");
	struct pw_rule *r = pw_rule_new();

	pw_rule_add_set(r, set, dir, false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
	pw_chain_append(fwd, r);
	r = pw_rule_new();
	pw_rule_add_comment(r, "the end");
	pw_rule_set_verdict(r, PW_TARGET_DROP);
	pw_chain_append(fwd, r);
	return t;
}

static enum pw_verdict verdict_of(const struct pw_table *t, const struct pw_setlist *sets,
				  const struct pw_packet *p)
{
	struct pw_walk w;
	enum pw_verdict v;

	ck_assert_int_eq(pw_walk_table(t, sets, "FORWARD", p, &w), 0);
	v = w.verdict;
	pw_walk_free(&w);
	return v;
}

START_TEST(test_walk_net_set_nomatch)
{
	struct pw_setlist *sets = pw_setlist_new();
	struct pw_set *s = pw_set_new("pw-n", PW_SET_HASH_NET, AF_INET);
	struct pw_table *t = table_matching("pw-n", PW_SET_SRC);
	struct pw_cidr outer = pw_test_prefix("10.0.0.0/8"), hole = pw_test_prefix("10.1.0.0/16");
	struct pw_cidr inner = pw_test_prefix("10.1.2.0/24");
	struct pw_packet p;

	pw_set_add_net(s, &outer, false);
	pw_set_add_net(s, &hole, true);
	pw_set_add_net(s, &inner, false);
	ck_assert_int_eq(pw_setlist_add(sets, s), 0);
	p = tcp("10.9.9.9", "198.18.0.1", 80);
	ck_assert_int_eq(verdict_of(t, sets, &p), PW_VERDICT_ACCEPT);
	/* The most specific entry decides: the nomatch hole, and the block inside it. */
	p.src = pw_test_ip("10.1.9.9");
	ck_assert_int_eq(verdict_of(t, sets, &p), PW_VERDICT_DROP);
	p.src = pw_test_ip("10.1.2.3");
	ck_assert_int_eq(verdict_of(t, sets, &p), PW_VERDICT_ACCEPT);
	p.src = pw_test_ip("192.0.2.1");
	ck_assert_int_eq(verdict_of(t, sets, &p), PW_VERDICT_DROP);
	pw_table_free(t);
	pw_setlist_free(sets);
}
END_TEST

START_TEST(test_walk_ip_port_set)
{
	struct pw_setlist *sets = pw_setlist_new();
	struct pw_set *s = pw_set_new("pw-p", PW_SET_HASH_IP_PORT, AF_INET);
	struct pw_table *t = table_matching("pw-p", PW_SET_DST_DST);
	struct pw_cidr a = pw_test_ip("198.18.0.1");
	struct pw_packet p;

	pw_set_add_ip_port(s, &a, "tcp", 8080);
	ck_assert_int_eq(pw_setlist_add(sets, s), 0);
	p = tcp("198.18.0.2", "198.18.0.1", 8080);
	ck_assert_int_eq(verdict_of(t, sets, &p), PW_VERDICT_ACCEPT);
	p.dport = 8081;
	ck_assert_int_eq(verdict_of(t, sets, &p), PW_VERDICT_DROP);
	p.dport = 8080;
	p.protocol = IPPROTO_UDP;
	ck_assert_int_eq(verdict_of(t, sets, &p), PW_VERDICT_DROP);
	pw_table_free(t);
	pw_setlist_free(sets);
}
END_TEST

START_TEST(test_walk_goto_returns_to_caller_and_traces)
{
	struct pw_table *t = pw_table_new("filter", AF_INET);
	struct pw_setlist *sets = pw_setlist_new();
	struct pw_chain *fwd = pw_table_find_chain(t, "FORWARD");
	struct pw_chain *a = pw_table_chain(t, "a"), *b = pw_table_chain(t, "b");
	struct pw_packet p = tcp("198.18.0.2", "198.18.0.1", 80);
	struct pw_rule *r;
	struct pw_walk w;

	r = pw_rule_new();
	pw_rule_set_jump(r, "a");
	pw_chain_append(fwd, r);
	r = pw_rule_new();
	pw_rule_add_mark(r, 0x10, 0x10, false);
	pw_rule_add_comment(r, "marked");
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
	pw_chain_append(fwd, r);
	r = pw_rule_new();
	pw_rule_set_goto(r, "b");
	pw_chain_append(a, r);
	r = pw_rule_new();
	pw_rule_set_verdict(r, PW_TARGET_DROP);	/* never reached: b returns past it */
	pw_chain_append(a, r);
	r = pw_rule_new();
	pw_rule_set_mark_target(r, 0x10, 0x10);
	pw_chain_append(b, r);

	ck_assert_int_eq(pw_walk_table(t, sets, "FORWARD", &p, &w), 0);
	ck_assert_int_eq(w.verdict, PW_VERDICT_ACCEPT);
	ck_assert_uint_eq(w.mark, 0x10);
	ck_assert_uint_eq(w.nsteps, 4);
	ck_assert_str_eq(w.steps[2].chain, "b");
	ck_assert_str_eq(w.steps[3].chain, "FORWARD");
	ck_assert_uint_eq(w.steps[3].rule, 1);
	ck_assert_str_eq(w.steps[3].comment, "marked");
	ck_assert(pw_walk_entered(&w, "b"));
	pw_walk_free(&w);

	/* A rule naming a chain that is not there: said, not walked past. */
	r = pw_rule_new();
	pw_rule_set_jump(r, "gone");
	pw_chain_append(b, r);
	ck_assert_int_eq(pw_walk_table(t, sets, "FORWARD", &p, &w), -ENOENT);
	pw_walk_free(&w);
	pw_table_free(t);
	pw_setlist_free(sets);
}
END_TEST

/* ------------------------------------------------------------- query */

static const char cluster_yaml[] =
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {ns: x}}\n---\n"
	"apiVersion: v1\nkind: Namespace\nmetadata: {name: w, labels: {ns: w}}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {pod: a}}\n"
	"spec: {nodeName: n1}\nstatus: {phase: Running, podIP: 198.18.1.1}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {pod: b}}\n"
	"spec: {nodeName: n1}\nstatus: {phase: Running, podIP: 198.18.1.2}\n---\n"
	"apiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: w, labels: {pod: c}}\n"
	"spec: {nodeName: n2}\nstatus: {phase: Running, podIP: 198.18.2.1}\n---\n"
	/* x/a: ingress from x/b on 80 (rule 0), or from 10.0.0.0/8 but 10.1/16 (rule 1). */
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: a-in, namespace: x}\n"
	"spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n"
	"  - from: [{podSelector: {matchLabels: {pod: b}}}]\n    ports: [{port: 80}]\n"
	"  - from: [{podSelector: {matchLabels: {pod: zz}}}, "
	"{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n---\n"
	/* w/c may send nothing but to x's pods on 53/UDP. */
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
	"metadata: {name: c-out, namespace: w}\n"
	"spec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n"
	"  - to: [{namespaceSelector: {matchLabels: {ns: x}}}]\n"
	"    ports: [{port: 53, protocol: UDP}]\n";

struct fixture {
	struct pw_cluster *cluster;
	struct pw_options opt;
	struct pw_query *q;
};

static void fixture_up(struct fixture *f, const char *only_node)
{
	f->cluster = pw_cluster_new();
	pw_test_load_manifest(f->cluster, cluster_yaml);
	pw_options_init(&f->opt);
	f->q = pw_query_new(f->cluster, &f->opt, only_node);
}

static void fixture_down(struct fixture *f)
{
	pw_query_free(f->q);
	pw_options_free(&f->opt);
	pw_cluster_free(f->cluster);
}

static struct pw_flow_end pod_end(const struct fixture *f, const char *ns, const char *name)
{
	struct pw_flow_end e;

	memset(&e, 0, sizeof(e));
	e.pod = pw_cluster_pod(f->cluster, ns, name);
	ck_assert(e.pod != NULL);
	e.addr = *pw_pod_ipv4(e.pod);
	return e;
}

static struct pw_flow_end outside(const char *addr)
{
	struct pw_flow_end e;

	memset(&e, 0, sizeof(e));
	e.addr = pw_test_ip(addr);
	return e;
}

static void ask(struct fixture *f, struct pw_flow_end from, struct pw_flow_end to,
		uint8_t protocol, uint16_t port, struct pw_query_answer *ans)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_flow flow;

	flow.from = from;
	flow.to = to;
	flow.protocol = protocol;
	flow.port = port;
	ck_assert_msg(pw_query_flow(f->q, &flow, ans, &err) == 0, "%s", pw_buf_str(&err));
	pw_buf_free(&err);
}

START_TEST(test_query_allowed_by_rule_and_peer)
{
	struct fixture f;
	struct pw_query_answer ans;

	fixture_up(&f, NULL);
	ask(&f, pod_end(&f, "x", "b"), pod_end(&f, "x", "a"), IPPROTO_TCP, 80, &ans);
	ck_assert(ans.allowed);
	ck_assert(ans.egress.walked && !ans.egress.isolated && ans.egress.allowed);
	ck_assert(ans.ingress.walked && ans.ingress.isolated);
	ck_assert_uint_eq(ans.ingress.npolicies, 1);
	ck_assert_str_eq(ans.ingress.policies[0], "x/a-in");
	ck_assert_str_eq(ans.ingress.allowed_by, "x/a-in");
	ck_assert(ans.ingress.allowed_ingress);
	ck_assert_uint_eq(ans.ingress.allowed_rule, 0);
	ck_assert_uint_eq(ans.ingress.allowed_peer, 0);
	pw_query_answer_free(&ans);

	/* Another port: the isolated pod's final drop says so. */
	ask(&f, pod_end(&f, "x", "b"), pod_end(&f, "x", "a"), IPPROTO_TCP, 81, &ans);
	ck_assert(!ans.allowed && !ans.ingress.allowed);
	ck_assert(ans.ingress.allowed_by == NULL);
	ck_assert_str_eq(ans.ingress.denied_by, "no policy allowed the packet");
	pw_query_answer_free(&ans);
	fixture_down(&f);
}
END_TEST

START_TEST(test_query_ipblock_outside_the_cluster)
{
	struct fixture f;
	struct pw_query_answer ans;

	fixture_up(&f, NULL);
	ask(&f, outside("10.9.0.1"), pod_end(&f, "x", "a"), IPPROTO_UDP, 5000, &ans);
	ck_assert(ans.allowed);
	ck_assert(!ans.egress.walked);
	ck_assert_str_eq(ans.ingress.allowed_by, "x/a-in");
	ck_assert_uint_eq(ans.ingress.allowed_rule, 1);
	ck_assert_uint_eq(ans.ingress.allowed_peer, 1);
	pw_query_answer_free(&ans);
	ask(&f, outside("10.1.0.1"), pod_end(&f, "x", "a"), IPPROTO_UDP, 5000, &ans);
	ck_assert(!ans.allowed);
	pw_query_answer_free(&ans);
	/* To the outside: x/b is guarded by nothing on its way out. */
	ask(&f, pod_end(&f, "x", "b"), outside("192.0.2.1"), IPPROTO_TCP, 443, &ans);
	ck_assert(ans.allowed && ans.egress.walked && !ans.ingress.walked);
	pw_query_answer_free(&ans);
	fixture_down(&f);
}
END_TEST

START_TEST(test_query_egress_of_a_pod_of_another_node)
{
	struct fixture f;
	struct pw_query_answer ans;

	fixture_up(&f, NULL);
	/* w/c on n2: its egress allows x on 53/UDP only. */
	ask(&f, pod_end(&f, "w", "c"), pod_end(&f, "x", "b"), IPPROTO_UDP, 53, &ans);
	ck_assert(ans.allowed);
	ck_assert_str_eq(ans.egress.allowed_by, "w/c-out");
	ck_assert(!ans.egress.allowed_ingress);
	pw_query_answer_free(&ans);
	ask(&f, pod_end(&f, "w", "c"), pod_end(&f, "x", "b"), IPPROTO_TCP, 53, &ans);
	ck_assert(!ans.allowed && !ans.egress.allowed && ans.ingress.allowed);
	pw_query_answer_free(&ans);
	fixture_down(&f);

	/* With n1 the only podwall node, nothing guards w/c's egress. */
	fixture_up(&f, "n1");
	ask(&f, pod_end(&f, "w", "c"), pod_end(&f, "x", "b"), IPPROTO_TCP, 53, &ans);
	ck_assert(ans.allowed && !ans.egress.walked && ans.ingress.walked);
	pw_query_answer_free(&ans);
	ask(&f, pod_end(&f, "w", "c"), pod_end(&f, "x", "a"), IPPROTO_TCP, 80, &ans);
	ck_assert(!ans.allowed);
	pw_query_answer_free(&ans);
	fixture_down(&f);
}
END_TEST

START_TEST(test_query_family_mismatch_is_refused)
{
	struct fixture f;
	struct pw_query_answer ans;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_flow flow;

	fixture_up(&f, NULL);
	memset(&flow, 0, sizeof(flow));
	flow.from = pod_end(&f, "x", "a");
	flow.to = outside("fd00::1");
	flow.protocol = IPPROTO_TCP;
	flow.port = 80;
	ck_assert_int_eq(pw_query_flow(f.q, &flow, &ans, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "families");
	pw_buf_free(&err);
	fixture_down(&f);
}
END_TEST

static Suite *explain_suite(void)
{
	Suite *s = suite_create("explain");
	TCase *walk = tcase_create("walk");
	TCase *query = tcase_create("query");

	tcase_add_test(walk, test_walk_net_set_nomatch);
	tcase_add_test(walk, test_walk_ip_port_set);
	tcase_add_test(walk, test_walk_goto_returns_to_caller_and_traces);
	suite_add_tcase(s, walk);
	tcase_add_test(query, test_query_allowed_by_rule_and_peer);
	tcase_add_test(query, test_query_ipblock_outside_the_cluster);
	tcase_add_test(query, test_query_egress_of_a_pod_of_another_node);
	tcase_add_test(query, test_query_family_mismatch_is_refused);
	suite_add_tcase(s, query);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(explain_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
