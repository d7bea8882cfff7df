#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "k8s/decode.h"
#include "k8s/manifest.h"
#include "k8s/object.h"
#include "k8s/validate.h"
#include "lib/cidr.h"
#include "lib/intern.h"
#include "lib/util.h"
#include "selectors/labels.h"
#include "selectors/selector.h"
#include "tests/testlib.h"

/* A string literal and its length, NULs included. */
#define LITERAL(s) (s), sizeof(s) - 1

/* ------------------------------------------------------------ fixture */

static char workdir[64];

static void setup(void)
{
	pw_test_make_workdir(workdir, "check_k8s");
}

static void teardown(void)
{
	pw_test_remove_tree(workdir, 2);
}

/* Writes data to name under the work directory and returns its path. */
static char *write_file(const char *name, const void *data, size_t len)
{
	char *path = pw_xasprintf("%s/%s", workdir, name);
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* ---------------------------------------------------------- loading */

#define MAX_OBJECTS 32

struct result {
	struct pw_object objs[MAX_OBJECTS];
	char *wheres[MAX_OBJECTS];
	size_t n;
	int nerrors;
	struct pw_buf errors;
	struct pw_buf notices;
};

static int collect(struct pw_object *obj, const char *where, void *ctx)
{
	struct result *r = ctx;

	ck_assert_msg(r->n < MAX_OBJECTS, "too many objects");
	r->objs[r->n] = *obj;
	r->wheres[r->n] = pw_xstrdup(where);
	r->n++;
	return 0;
}

static void load_path(struct result *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->nerrors = pw_manifest_load(path, collect, r, &r->errors, &r->notices);
}

static void load_bytes(struct result *r, const char *name, const void *data, size_t len)
{
	char *path = write_file(name, data, len);

	load_path(r, path);
	unlink(path);
	free(path);
}

static void load_named(struct result *r, const char *name, const char *text)
{
	load_bytes(r, name, text, strlen(text));
}

static void load(struct result *r, const char *text)
{
	load_named(r, "test.yaml", text);
}

static void result_free(struct result *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		pw_object_free(&r->objs[i]);
		free(r->wheres[i]);
	}
	pw_buf_free(&r->errors);
	pw_buf_free(&r->notices);
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Loads text that holds exactly one object of kind, without error. */
static void load_ok(struct result *r, const char *text, enum pw_kind kind)
{
	load(r, text);
	ck_assert_msg(r->nerrors == 0, "unexpected errors:\n%s", pw_buf_str(&r->errors));
	ck_assert_int_eq(r->n, 1);
	ck_assert_int_eq(r->objs[0].kind, kind);
}

#define NS_X \
	"apiVersion: v1\n" \
	"kind: Namespace\n" \
	"metadata:\n" \
	"  name: x\n" \
	"---\n"

#define NP_HEAD \
	"apiVersion: networking.k8s.io/v1\n" \
	"kind: NetworkPolicy\n" \
	"metadata:\n" \
	"  name: np\n" \
	"  namespace: x\n" \
	"spec:\n"

#define NP_SPEC(body) NP_HEAD "  podSelector: {}\n" body

/* A policy from the lines of its spec after podSelector: {}. */
static const struct pw_policy *load_policy(struct result *r, const char *spec_body)
{
	char *text = pw_xasprintf(NP_SPEC("%s"), spec_body);

	load_ok(r, text, PW_KIND_POLICY);
	free(text);
	return r->objs[0].u.policy;
}

/*
 * Loads name holding text and expects exactly one error line holding each
 * of the needles that follow (NULL-terminated).
 */
static void expect_error_in(const char *name, const char *text, size_t len, ...)
{
	struct result r;
	const char *needle;
	va_list ap;

	load_bytes(&r, name, text, len);
	ck_assert_msg(r.nerrors == 1, "%d errors:\n%s", r.nerrors, pw_buf_str(&r.errors));
	ck_assert_int_eq(count_lines(pw_buf_str(&r.errors)), 1);
	ck_assert_contains(pw_buf_str(&r.errors), name);
	va_start(ap, len);
	while ((needle = va_arg(ap, const char *)))
		ck_assert_contains(pw_buf_str(&r.errors), needle);
	va_end(ap);
	result_free(&r);
}

/*
 * A stream of Namespace x and a NetworkPolicy x/np whose spec continues
 * with spec_body: the policy alone fails, with message (field: problem),
 * and the namespace still loads.
 */
static void expect_policy_error(const char *spec_body, const char *message)
{
	char *text = pw_xasprintf(NS_X NP_HEAD "%s", spec_body);
	char *line = pw_xasprintf("bad.yaml: document 2: NetworkPolicy x/np: %s", message);
	struct result r;

	load_named(&r, "bad.yaml", text);
	ck_assert_msg(r.nerrors == 1, "%d errors:\n%s", r.nerrors, pw_buf_str(&r.errors));
	ck_assert_contains(pw_buf_str(&r.errors), line);
	ck_assert_int_eq(count_lines(pw_buf_str(&r.errors)), 1);
	ck_assert_int_eq(r.n, 1);
	ck_assert_int_eq(r.objs[0].kind, PW_KIND_NAMESPACE);
	result_free(&r);
	free(line);
	free(text);
}

static struct pw_labels *labels_of(const char *key, ...)
{
	struct pw_labels *l = pw_labels_new();
	va_list ap;

	va_start(ap, key);
	while (key) {
		pw_labels_set(l, key, va_arg(ap, const char *));
		key = va_arg(ap, const char *);
	}
	va_end(ap);
	return l;
}

static bool selects(const struct pw_selector *s, struct pw_labels *labels)
{
	bool r = pw_selector_matches(s, labels);

	pw_labels_free(labels);
	return r;
}

static void format_cidr(const struct pw_cidr *c, char out[PW_CIDR_STRLEN])
{
	pw_cidr_format(c, true, out);
}

#define ck_assert_cidr(c, text) do { \
	char buf_[PW_CIDR_STRLEN]; \
	format_cidr((c), buf_); \
	ck_assert_str_eq(buf_, (text)); \
} while (0)

/* ------------------------------------------------------------ object */

START_TEST(test_protocol_names)
{
	enum pw_protocol p;

	ck_assert_str_eq(pw_protocol_api_name(PW_PROTO_TCP), "TCP");
	ck_assert_str_eq(pw_protocol_api_name(PW_PROTO_UDP), "UDP");
	ck_assert_str_eq(pw_protocol_api_name(PW_PROTO_SCTP), "SCTP");
	ck_assert_str_eq(pw_protocol_name(PW_PROTO_TCP), "tcp");
	ck_assert_str_eq(pw_protocol_name(PW_PROTO_UDP), "udp");
	ck_assert_str_eq(pw_protocol_name(PW_PROTO_SCTP), "sctp");
	ck_assert_int_eq(pw_protocol_parse("SCTP", &p), 0);
	ck_assert_int_eq(p, PW_PROTO_SCTP);
	ck_assert_int_eq(pw_protocol_parse("UDP", &p), 0);
	ck_assert_int_eq(p, PW_PROTO_UDP);
	ck_assert_int_eq(pw_protocol_parse("tcp", &p), -EINVAL);
	ck_assert_int_eq(pw_protocol_parse("ICMP", &p), -EINVAL);
	ck_assert_int_eq(pw_protocol_parse("", &p), -EINVAL);
}
END_TEST

START_TEST(test_kind_names)
{
	ck_assert_str_eq(pw_kind_name(PW_KIND_NAMESPACE), "Namespace");
	ck_assert_str_eq(pw_kind_name(PW_KIND_POD), "Pod");
	ck_assert_str_eq(pw_kind_name(PW_KIND_POLICY), "NetworkPolicy");
	/* Freeing nothing is allowed. */
	pw_object_free(NULL);
	pw_namespace_free(NULL);
	pw_pod_free(NULL);
	pw_policy_free(NULL);
}
END_TEST

START_TEST(test_pod_addressable)
{
	struct pw_cidr ips[2];
	struct pw_pod pod;

	memset(&pod, 0, sizeof(pod));
	ck_assert(!pw_pod_is_addressable(&pod));
	ck_assert(pw_pod_ipv4(&pod) == NULL);
	ck_assert_int_eq(pw_ip_parse("fd00::1", &ips[0]), 0);
	ck_assert_int_eq(pw_ip_parse("10.1.2.3", &ips[1]), 0);
	pod.ips = ips;
	pod.nips = 2;
	pod.phase = PW_POD_PHASE_RUNNING;
	ck_assert(pw_pod_is_addressable(&pod));
	ck_assert(pw_pod_ipv4(&pod) == &ips[1]);
	pod.phase = PW_POD_PHASE_PENDING;
	ck_assert(pw_pod_is_addressable(&pod));
	pod.phase = PW_POD_PHASE_UNKNOWN;
	ck_assert(pw_pod_is_addressable(&pod));
	pod.phase = PW_POD_PHASE_SUCCEEDED;
	ck_assert(!pw_pod_is_addressable(&pod));
	pod.phase = PW_POD_PHASE_FAILED;
	ck_assert(!pw_pod_is_addressable(&pod));
	pod.phase = PW_POD_PHASE_RUNNING;
	pod.host_network = true;
	ck_assert(!pw_pod_is_addressable(&pod));
	pod.host_network = false;
	pod.nips = 1;
	ck_assert(pw_pod_ipv4(&pod) == NULL);
}
END_TEST

/* ---------------------------------------------------------- validate */

static char *repeat(char c, size_t n)
{
	char *s = pw_xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(test_validate_dns)
{
	struct pw_buf why = PW_BUF_INIT;
	char *s63 = repeat('a', 63), *s64 = repeat('a', 64);
	char *s253 = repeat('a', 253), *s254 = repeat('a', 254);

	ck_assert_int_eq(pw_validate_dns_label("x", NULL), 0);
	ck_assert_int_eq(pw_validate_dns_label("kube-system", NULL), 0);
	ck_assert_int_eq(pw_validate_dns_label("0abc9", NULL), 0);
	ck_assert_int_eq(pw_validate_dns_label(s63, NULL), 0);
	ck_assert_int_eq(pw_validate_dns_label(s64, &why), -EINVAL);
	ck_assert_contains(pw_buf_str(&why), "no more than 63");
	ck_assert_int_eq(pw_validate_dns_label("", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_label("-a", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_label("a-", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_label("A", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_label("a.b", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_label("a_b", NULL), -EINVAL);

	ck_assert_int_eq(pw_validate_dns_subdomain("a.b-c.d", NULL), 0);
	ck_assert_int_eq(pw_validate_dns_subdomain(s253, NULL), 0);
	ck_assert_int_eq(pw_validate_dns_subdomain(s254, NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_subdomain("a..b", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_subdomain(".a", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_subdomain("a.", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_subdomain("a.-b", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_subdomain("Web", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_dns_subdomain("", NULL), -EINVAL);
	pw_buf_free(&why);
	free(s63);
	free(s64);
	free(s253);
	free(s254);
}
END_TEST

START_TEST(test_validate_labels)
{
	struct pw_buf why = PW_BUF_INIT;
	char *s63 = repeat('a', 63), *s64 = repeat('a', 64);
	char *long_prefix = repeat('p', 254), *key;

	ck_assert_int_eq(pw_validate_label_key("app", NULL), 0);
	ck_assert_int_eq(pw_validate_label_key("App_1.x-Y", NULL), 0);
	ck_assert_int_eq(pw_validate_label_key("kubernetes.io/metadata.name", NULL), 0);
	ck_assert_int_eq(pw_validate_label_key(s63, NULL), 0);
	ck_assert_int_eq(pw_validate_label_key(s64, NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_key("", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_key("/app", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_key("example.com/", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_key("a/b/c", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_key("Example.com/app", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_key("-app", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_key("app.", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_key("bad key", &why), -EINVAL);
	ck_assert_contains(pw_buf_str(&why), "name part");
	key = pw_xasprintf("%s/app", long_prefix);
	pw_buf_reset(&why);
	ck_assert_int_eq(pw_validate_label_key(key, &why), -EINVAL);
	ck_assert_contains(pw_buf_str(&why), "prefix part");
	free(key);

	ck_assert_int_eq(pw_validate_label_value("", NULL), 0);
	ck_assert_int_eq(pw_validate_label_value("v1.2_3-x", NULL), 0);
	ck_assert_int_eq(pw_validate_label_value("A", NULL), 0);
	ck_assert_int_eq(pw_validate_label_value(s63, NULL), 0);
	ck_assert_int_eq(pw_validate_label_value(s64, NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_value("a b", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_value("a/b", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_value("_a", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_label_value("a.", NULL), -EINVAL);
	pw_buf_free(&why);
	free(s63);
	free(s64);
	free(long_prefix);
}
END_TEST

START_TEST(test_validate_port_name)
{
	ck_assert_int_eq(pw_validate_port_name("http", NULL), 0);
	ck_assert_int_eq(pw_validate_port_name("http-alt2", NULL), 0);
	ck_assert_int_eq(pw_validate_port_name("a23456789012345", NULL), 0);
	ck_assert_int_eq(pw_validate_port_name("a234567890123456", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_port_name("", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_port_name("80", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_port_name("8-0", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_port_name("HTTP", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_port_name("-http", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_port_name("http-", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_port_name("ht--tp", NULL), -EINVAL);
	ck_assert_int_eq(pw_validate_port_name("ht_tp", NULL), -EINVAL);
}
END_TEST

/* ---------------------------------------------------------- namespace */

START_TEST(test_namespace_label_default)
{
	struct result r;
	const struct pw_namespace *ns;

	load_ok(&r, "apiVersion: v1\nkind: Namespace\nmetadata:\n"
		"  name: prod\n  uid: 1234-abcd\n  resourceVersion: \"42\"\n"
		"  labels:\n    team: a\n    kubernetes.io/metadata.name: liar\n",
		PW_KIND_NAMESPACE);
	ns = r.objs[0].u.ns;
	ck_assert_str_eq(ns->name, "prod");
	ck_assert_str_eq(ns->uid, "1234-abcd");
	ck_assert_int_eq(pw_labels_count(ns->labels), 2);
	ck_assert_str_eq(pw_labels_get(ns->labels, "kubernetes.io/metadata.name"), "prod");
	ck_assert_str_eq(pw_labels_get(ns->labels, "team"), "a");
	ck_assert_contains(r.wheres[0], "test.yaml: document 1");
	result_free(&r);

	load_ok(&r, "apiVersion: v1\nkind: Namespace\nmetadata: {name: bare}\n",
		PW_KIND_NAMESPACE);
	ns = r.objs[0].u.ns;
	ck_assert(ns->uid == NULL);
	ck_assert_int_eq(pw_labels_count(ns->labels), 1);
	ck_assert_str_eq(pw_labels_get(ns->labels, "kubernetes.io/metadata.name"), "bare");
	result_free(&r);
}
END_TEST

/* -------------------------------------------------------------- pod */

START_TEST(test_pod_fields)
{
	struct result r;
	const struct pw_pod *pod;

	load_ok(&r,
		"apiVersion: v1\n"
		"kind: Pod\n"
		"metadata:\n"
		"  name: web-0\n"
		"  namespace: shop\n"
		"  uid: u-1\n"
		"  labels: {app: web, tier: \"\"}\n"
		"spec:\n"
		"  nodeName: node-1\n"
		"  hostNetwork: false\n"
		"  initContainers:\n"
		"  - name: init\n"
		"    ports: [{containerPort: 9000, name: init-port}]\n"
		"  containers:\n"
		"  - name: web\n"
		"    image: nginx\n"
		"    ports:\n"
		"    - containerPort: 80\n"
		"      name: http\n"
		"    - containerPort: 53\n"
		"      protocol: UDP\n"
		"  - name: side\n"
		"status:\n"
		"  phase: Running\n"
		"  podIP: 10.0.0.5\n"
		"  podIPs:\n"
		"  - ip: 10.0.0.5\n"
		"  - ip: fd00::5\n"
		"  - ip: 10.0.0.5\n",
		PW_KIND_POD);
	pod = r.objs[0].u.pod;
	ck_assert_str_eq(pod->name, "web-0");
	ck_assert_str_eq(pod->namespace, "shop");
	ck_assert_str_eq(pod->uid, "u-1");
	ck_assert_str_eq(pod->node_name, "node-1");
	ck_assert(!pod->host_network);
	ck_assert_int_eq(pod->phase, PW_POD_PHASE_RUNNING);
	ck_assert_int_eq(pod->nips, 2);
	ck_assert_cidr(&pod->ips[0], "10.0.0.5/32");
	ck_assert_cidr(&pod->ips[1], "fd00::5/128");
	ck_assert_str_eq(pw_labels_get(pod->labels, "app"), "web");
	ck_assert_str_eq(pw_labels_get(pod->labels, "tier"), "");
	ck_assert_int_eq(pod->nports, 3);
	ck_assert_str_eq(pod->ports[0].name, "init-port");
	ck_assert_int_eq(pod->ports[0].number, 9000);
	ck_assert_str_eq(pod->ports[1].name, "http");
	ck_assert_int_eq(pod->ports[1].number, 80);
	ck_assert_int_eq(pod->ports[1].protocol, PW_PROTO_TCP);
	ck_assert(pod->ports[2].name == NULL);
	ck_assert_int_eq(pod->ports[2].number, 53);
	ck_assert_int_eq(pod->ports[2].protocol, PW_PROTO_UDP);
	ck_assert(pw_pod_is_addressable(pod));
	ck_assert(pw_pod_ipv4(pod) == &pod->ips[0]);
	/* Freed, a pod holds none of the strings it shared. */
	ck_assert_uint_gt(pw_intern_count(), 0);
	result_free(&r);
	ck_assert_uint_eq(pw_intern_count(), 0);
}
END_TEST

START_TEST(test_pod_defaults)
{
	struct result r;
	const struct pw_pod *pod;

	/* No namespace, spec or status: kubectl's "default" and no address. */
	load_ok(&r, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n", PW_KIND_POD);
	pod = r.objs[0].u.pod;
	ck_assert_str_eq(pod->namespace, "default");
	ck_assert(pod->node_name == NULL);
	ck_assert_int_eq(pod->phase, PW_POD_PHASE_UNKNOWN);
	ck_assert_int_eq(pod->nips, 0);
	ck_assert_int_eq(pod->nports, 0);
	ck_assert(!pw_pod_is_addressable(pod));
	result_free(&r);
}
END_TEST

START_TEST(test_pod_status_variants)
{
	struct result r;
	const struct pw_pod *pod;

	load_ok(&r, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
		"spec: {hostNetwork: true}\n"
		"status: {phase: Succeeded, podIP: \"fd00::1\"}\n", PW_KIND_POD);
	pod = r.objs[0].u.pod;
	ck_assert(pod->host_network);
	ck_assert_int_eq(pod->phase, PW_POD_PHASE_SUCCEEDED);
	ck_assert_int_eq(pod->nips, 1);
	ck_assert_cidr(&pod->ips[0], "fd00::1/128");
	ck_assert(pw_pod_ipv4(pod) == NULL);
	ck_assert(!pw_pod_is_addressable(pod));
	result_free(&r);

	/* podIPs wins over podIP. */
	load_ok(&r, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
		"status: {phase: Pending, podIP: 10.9.9.9, podIPs: [{ip: 10.0.0.1}]}\n",
		PW_KIND_POD);
	pod = r.objs[0].u.pod;
	ck_assert_int_eq(pod->phase, PW_POD_PHASE_PENDING);
	ck_assert_int_eq(pod->nips, 1);
	ck_assert_cidr(&pod->ips[0], "10.0.0.1/32");
	result_free(&r);

	load_ok(&r, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
		"status: {phase: Failed}\n", PW_KIND_POD);
	ck_assert_int_eq(r.objs[0].u.pod->phase, PW_POD_PHASE_FAILED);
	result_free(&r);
	load_ok(&r, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
		"status: {phase: Unknown}\n", PW_KIND_POD);
	ck_assert_int_eq(r.objs[0].u.pod->phase, PW_POD_PHASE_UNKNOWN);
	result_free(&r);
}
END_TEST

/* ----------------------------------------------------------- policy */

START_TEST(test_policy_types_default)
{
	struct result r;
	const struct pw_policy *p;

	p = load_policy(&r, "");
	ck_assert_str_eq(p->namespace, "x");
	ck_assert_str_eq(p->name, "np");
	ck_assert(pw_selector_is_empty(p->pod_selector));
	ck_assert_int_eq(p->types, PW_POLICY_INGRESS);
	ck_assert_int_eq(p->ningress, 0);
	ck_assert_int_eq(p->negress, 0);
	result_free(&r);

	p = load_policy(&r, "  egress: []\n");
	ck_assert_int_eq(p->types, PW_POLICY_INGRESS);
	ck_assert_int_eq(p->negress, 0);
	result_free(&r);

	p = load_policy(&r, "  egress: [{}]\n");
	ck_assert_int_eq(p->types, PW_POLICY_INGRESS | PW_POLICY_EGRESS);
	ck_assert_int_eq(p->negress, 1);
	ck_assert_int_eq(p->egress[0].nports, 0);
	ck_assert_int_eq(p->egress[0].npeers, 0);
	result_free(&r);

	p = load_policy(&r, "  policyTypes: [Egress]\n");
	ck_assert_int_eq(p->types, PW_POLICY_EGRESS);
	result_free(&r);

	p = load_policy(&r, "  policyTypes: []\n  egress: [{}]\n");
	ck_assert_int_eq(p->types, PW_POLICY_INGRESS | PW_POLICY_EGRESS);
	result_free(&r);

	p = load_policy(&r, "  policyTypes: [Ingress, Egress]\n");
	ck_assert_int_eq(p->types, PW_POLICY_INGRESS | PW_POLICY_EGRESS);
	result_free(&r);

	p = load_policy(&r, "  policyTypes: [Ingress]\n  egress: [{}]\n");
	ck_assert_int_eq(p->types, PW_POLICY_INGRESS);
	ck_assert_int_eq(p->negress, 1);
	result_free(&r);
}
END_TEST

START_TEST(test_policy_default_namespace)
{
	struct result r;

	load_ok(&r, "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata: {name: deny}\nspec: {podSelector: {}}\n", PW_KIND_POLICY);
	ck_assert_str_eq(r.objs[0].u.policy->namespace, "default");
	result_free(&r);
}
END_TEST

START_TEST(test_rules_missing_and_empty)
{
	struct result r;
	const struct pw_policy *p;
	size_t i;

	p = load_policy(&r, "  ingress: null\n");
	ck_assert_int_eq(p->ningress, 0);
	result_free(&r);

	p = load_policy(&r, "  ingress:\n");
	ck_assert_int_eq(p->ningress, 0);
	result_free(&r);

	p = load_policy(&r, "  ingress: []\n");
	ck_assert_int_eq(p->ningress, 0);
	result_free(&r);

	/* Missing, null and empty from and ports all mean "everything". */
	p = load_policy(&r, "  ingress:\n  - {}\n  - from: []\n    ports: []\n"
			"  - from: null\n    ports: null\n  -\n");
	ck_assert_int_eq(p->ningress, 4);
	for (i = 0; i < p->ningress; i++) {
		ck_assert_int_eq(p->ingress[i].nports, 0);
		ck_assert_int_eq(p->ingress[i].npeers, 0);
	}
	result_free(&r);
}
END_TEST

START_TEST(test_ports)
{
	struct result r;
	const struct pw_policy *p;
	const struct pw_policy_port *ports;

	p = load_policy(&r, "  ingress:\n  - ports:\n"
			"    - {}\n"
			"    - protocol: UDP\n"
			"    - port: 80\n"
			"    - port: 443\n"
			"    - port: http\n"
			"      protocol: SCTP\n"
			"    - port: 32000\n"
			"      endPort: 32768\n"
			"    - {port: 65535, endPort: 65535}\n");
	ck_assert_int_eq(p->ningress, 1);
	ck_assert_int_eq(p->ingress[0].nports, 7);
	ports = p->ingress[0].ports;
	ck_assert_int_eq(ports[0].kind, PW_PORT_ALL);
	ck_assert_int_eq(ports[0].protocol, PW_PROTO_TCP);
	ck_assert_int_eq(ports[1].kind, PW_PORT_ALL);
	ck_assert_int_eq(ports[1].protocol, PW_PROTO_UDP);
	ck_assert_int_eq(ports[2].kind, PW_PORT_NUMBER);
	ck_assert_int_eq(ports[2].protocol, PW_PROTO_TCP);
	ck_assert_int_eq(ports[2].port, 80);
	ck_assert_int_eq(ports[2].end_port, 80);
	ck_assert_int_eq(ports[3].kind, PW_PORT_NUMBER);
	ck_assert_int_eq(ports[3].port, 443);
	ck_assert_int_eq(ports[3].end_port, 443);
	ck_assert_int_eq(ports[4].kind, PW_PORT_NAMED);
	ck_assert_str_eq(ports[4].name, "http");
	ck_assert_int_eq(ports[4].protocol, PW_PROTO_SCTP);
	ck_assert_int_eq(ports[5].kind, PW_PORT_NUMBER);
	ck_assert_int_eq(ports[5].port, 32000);
	ck_assert_int_eq(ports[5].end_port, 32768);
	ck_assert_int_eq(ports[6].port, 65535);
	ck_assert_int_eq(ports[6].end_port, 65535);
	ck_assert_int_eq(p->ingress[0].npeers, 0);
	result_free(&r);

	/* A null entry is the zero port: all of TCP. */
	p = load_policy(&r, "  egress:\n  - ports:\n    -\n");
	ck_assert_int_eq(p->egress[0].nports, 1);
	ck_assert_int_eq(p->egress[0].ports[0].kind, PW_PORT_ALL);
	ck_assert_int_eq(p->egress[0].ports[0].protocol, PW_PROTO_TCP);
	result_free(&r);
}
END_TEST

START_TEST(test_peers)
{
	struct result r;
	const struct pw_policy *p;
	const struct pw_policy_peer *peers;

	p = load_policy(&r, "  ingress:\n  - from:\n"
			"    - podSelector: {matchLabels: {app: web}}\n"
			"      namespaceSelector:\n"
			"        matchExpressions:\n"
			"        - {key: team, operator: In, values: [a, b]}\n"
			"        - {key: env, operator: NotIn, values: [dev]}\n"
			"        - {key: tier, operator: Exists}\n"
			"        - {key: legacy, operator: DoesNotExist, values: []}\n"
			"    - namespaceSelector: {}\n"
			"    - podSelector: {matchLabels: null, matchExpressions: null}\n"
			"      namespaceSelector: null\n"
			"    - ipBlock: {cidr: 10.0.0.0/8}\n");
	ck_assert_int_eq(p->ingress[0].npeers, 4);
	peers = p->ingress[0].peers;

	ck_assert(peers[0].pod_selector != NULL);
	ck_assert(peers[0].namespace_selector != NULL);
	ck_assert(peers[0].ipblock == NULL);
	ck_assert(selects(peers[0].pod_selector, labels_of("app", "web", NULL)));
	ck_assert(!selects(peers[0].pod_selector, labels_of("app", "db", NULL)));
	ck_assert(selects(peers[0].namespace_selector,
			  labels_of("team", "b", "tier", "1", NULL)));
	ck_assert(!selects(peers[0].namespace_selector,
			   labels_of("team", "b", "tier", "1", "env", "dev", NULL)));
	ck_assert(!selects(peers[0].namespace_selector,
			   labels_of("team", "b", "tier", "1", "legacy", "", NULL)));
	ck_assert(!selects(peers[0].namespace_selector, labels_of("team", "b", NULL)));

	ck_assert(peers[1].pod_selector == NULL);
	ck_assert(peers[1].namespace_selector != NULL);
	ck_assert(pw_selector_is_empty(peers[1].namespace_selector));

	ck_assert(peers[2].pod_selector != NULL);
	ck_assert(pw_selector_is_empty(peers[2].pod_selector));
	ck_assert(peers[2].namespace_selector == NULL);

	ck_assert(peers[3].pod_selector == NULL);
	ck_assert(peers[3].namespace_selector == NULL);
	ck_assert(peers[3].ipblock != NULL);
	result_free(&r);
}
END_TEST

START_TEST(test_ipblock)
{
	struct result r;
	const struct pw_policy *p;
	const struct pw_ipblock *b;

	p = load_policy(&r, "  egress:\n  - to:\n"
			"    - ipBlock:\n"
			"        cidr: 10.1.2.3/16\n"
			"        except: [10.1.128.0/17, 10.1.0.9/24, 10.1.5.5/32]\n"
			"    - ipBlock: {cidr: \"fd00::/8\", except: [\"fd12::/16\"]}\n"
			"    - ipBlock: {cidr: 0.0.0.0/0, except: []}\n");
	ck_assert_int_eq(p->types, PW_POLICY_INGRESS | PW_POLICY_EGRESS);
	ck_assert_int_eq(p->egress[0].npeers, 3);
	b = p->egress[0].peers[0].ipblock;
	ck_assert(b != NULL);
	ck_assert_cidr(&b->cidr, "10.1.0.0/16");
	ck_assert_int_eq(b->nexcept, 3);
	ck_assert_cidr(&b->except[0], "10.1.128.0/17");
	ck_assert_cidr(&b->except[1], "10.1.0.0/24");
	ck_assert_cidr(&b->except[2], "10.1.5.5/32");
	b = p->egress[0].peers[1].ipblock;
	ck_assert_int_eq(b->cidr.family, AF_INET6);
	ck_assert_cidr(&b->cidr, "fd00::/8");
	ck_assert_int_eq(b->nexcept, 1);
	ck_assert_cidr(&b->except[0], "fd12::/16");
	b = p->egress[0].peers[2].ipblock;
	ck_assert_cidr(&b->cidr, "0.0.0.0/0");
	ck_assert_int_eq(b->nexcept, 0);
	result_free(&r);
}
END_TEST

START_TEST(test_aliases)
{
	struct result r;
	const struct pw_policy *p;

	/* Anchors and aliases are YAML; kubectl takes them too. */
	p = load_policy(&r, "  ingress:\n"
			"  - from: [{podSelector: &web {matchLabels: {app: web}}}]\n"
			"  - from: [{podSelector: *web}]\n");
	ck_assert_int_eq(p->ningress, 2);
	ck_assert(selects(p->ingress[1].peers[0].pod_selector,
			  labels_of("app", "web", NULL)));
	result_free(&r);
}
END_TEST

START_TEST(test_json_file)
{
	static const char json[] =
		"{\n"
		"\t\"apiVersion\": \"networking.k8s.io/v1\",\n"
		"\t\"kind\": \"NetworkPolicy\",\n"
		"\t\"metadata\": {\"name\": \"j\", \"namespace\": \"x\",\n"
		"\t\t\"labels\": {\"tab\": \"a\"}},\n"
		"\t\"spec\": {\n"
		"\t\t\"podSelector\": {\"matchLabels\": {\"app\": \"web\"}},\n"
		"\t\t\"ingress\": [{\"ports\": [{\"port\": 80, \"protocol\": \"TCP\"},\n"
		"\t\t\t{\"port\": \"dns\", \"protocol\": \"UDP\"}]}]\n"
		"\t}\n"
		"}\n";
	struct result r;
	const struct pw_policy *p;

	load_named(&r, "policy.json", json);
	ck_assert_msg(r.nerrors == 0, "%s", pw_buf_str(&r.errors));
	ck_assert_int_eq(r.n, 1);
	p = r.objs[0].u.policy;
	ck_assert_str_eq(p->name, "j");
	ck_assert_int_eq(p->ingress[0].nports, 2);
	ck_assert_int_eq(p->ingress[0].ports[0].kind, PW_PORT_NUMBER);
	ck_assert_int_eq(p->ingress[0].ports[0].port, 80);
	ck_assert_int_eq(p->ingress[0].ports[1].kind, PW_PORT_NAMED);
	ck_assert_str_eq(p->ingress[0].ports[1].name, "dns");
	ck_assert_int_eq(p->ingress[0].ports[1].protocol, PW_PROTO_UDP);
	result_free(&r);
}
END_TEST

/*
 * JSON is read by yajl: several objects may follow one another, a List's
 * items come one by one, and a syntax error or too deep a nesting is told
 * with its line and column, nothing of the file taken.
 */
START_TEST(test_json_stream_and_errors)
{
	struct pw_buf deep = PW_BUF_INIT;
	struct result r;
	size_t i;

	load_named(&r, "two.json",
		   "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"a\"}}\n"
		   "{\"apiVersion\": \"v1\", \"items\": [\n"
		   " {\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"b\"}},\n"
		   " {\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": 7}}],\n"
		   " \"kind\": \"List\"}\n");
	ck_assert_int_eq(r.n, 2);
	ck_assert_contains(r.wheres[1], "two.json: document 2: item 0");
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_contains(pw_buf_str(&r.errors), "two.json: document 2: item 1: ");
	ck_assert_contains(pw_buf_str(&r.errors), "metadata.name: ");
	result_free(&r);

	load_named(&r, "bad.json", "{\"apiVersion\": \"v1\",\n \"kind\": Namespace}\n");
	ck_assert_int_eq(r.n, 0);
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_contains(pw_buf_str(&r.errors), "bad.json: line 2 column ");
	ck_assert_contains(pw_buf_str(&r.errors), "invalid");
	result_free(&r);

	for (i = 0; i < 1001; i++)
		pw_buf_putc(&deep, '[');
	load_named(&r, "deep.json", pw_buf_str(&deep));
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_contains(pw_buf_str(&r.errors), "deep.json: line 1 column 1001: "
			   "nested deeper than 1000 levels");
	result_free(&r);
	pw_buf_free(&deep);
}
END_TEST

/*
 * A large stream is read in pieces at once: what the later pieces give
 * must come out as one reader would give it, in order, with its document
 * and line numbers (libyaml's context line included), and nothing after a
 * syntax error.
 */
struct counted {
	size_t n;
	char *where_4000;	/* of the 4000th object */
	struct pw_buf errors;
	struct pw_buf notices;
};

static int count_object(struct pw_object *obj, const char *where, void *ctx)
{
	struct counted *c = ctx;

	if (++c->n == 4000)
		c->where_4000 = pw_xstrdup(where);
	pw_object_free(obj);
	return 0;
}

/* Loads text, larger than a piece, as the file name; the errors. */
static int load_large(const char *name, const struct pw_buf *text, struct counted *c)
{
	char *path;
	int nerrors;

	memset(c, 0, sizeof(*c));
	ck_assert_uint_gt(text->len, 256 * 1024);
	path = write_file(name, text->data, text->len);
	nerrors = pw_manifest_load(path, count_object, c, &c->errors, &c->notices);
	unlink(path);
	free(path);
	return nerrors;
}

static void counted_free(struct counted *c)
{
	free(c->where_4000);
	pw_buf_free(&c->errors);
	pw_buf_free(&c->notices);
}

START_TEST(test_large_stream_in_pieces)
{
	struct pw_buf text = PW_BUF_INIT;
	struct counted c;
	int i, nerrors;

	for (i = 1; i <= 5000; i++) {
		if (i == 3500)
			pw_buf_puts(&text, "---\napiVersion: apps/v1\nkind: Deployment\n"
				    "metadata: {name: d, namespace: x}\n");
		else if (i == 4500)
			pw_buf_puts(&text, "---\napiVersion: v1\nkind: Namespace\n"
				    "metadata: {name: [}\n");
		else
			pw_buf_printf(&text, "---\napiVersion: v1\nkind: Namespace\n"
				      "metadata: {name: %s%d}\n",
				      i == 10 || i == 4000 ? "Bad_Name_" : "ns-", i);
	}
	nerrors = load_large("big.yaml", &text, &c);
	/* Documents 1-4499 but the two bad ones and the Deployment. */
	ck_assert_uint_eq(c.n, 4499 - 3);
	ck_assert_contains(c.where_4000, "big.yaml: document 4003");
	ck_assert_int_eq(nerrors, 3);
	ck_assert_contains(pw_buf_str(&c.errors), "big.yaml: document 10: Namespace Bad_Name_10: ");
	ck_assert_contains(pw_buf_str(&c.errors),
			   "big.yaml: document 4000: Namespace Bad_Name_4000: ");
	ck_assert_contains(pw_buf_str(&c.errors), "big.yaml: line 18000 column ");
	ck_assert_contains(pw_buf_str(&c.errors), " at line 18000 column ");
	ck_assert_contains(pw_buf_str(&c.notices), "big.yaml: document 3500: skipping Deployment");
	counted_free(&c);
	pw_buf_free(&text);
}
END_TEST

/*
 * Each piece bounds its own nesting: a document nested too deep in a later
 * piece is told at its own line, what comes before it is taken and nothing
 * after it.
 */
START_TEST(test_large_stream_too_deep_in_a_later_piece)
{
	struct pw_buf text = PW_BUF_INIT;
	struct counted c;
	int i, k, nerrors;

	for (i = 1; i <= 5000; i++) {
		pw_buf_printf(&text, "---\napiVersion: v1\nkind: Namespace\n"
			      "metadata: {name: ns-%d}\n", i);
		if (i == 4200) {
			pw_buf_puts(&text, "---\napiVersion: v1\nkind: Namespace\n"
				    "metadata: {name: deep, labels: {a: ");
			for (k = 0; k < 1001; k++)
				pw_buf_putc(&text, '[');
			for (k = 0; k < 1001; k++)
				pw_buf_putc(&text, ']');
			pw_buf_puts(&text, "}}\n");
		}
	}
	nerrors = load_large("deep-half.yaml", &text, &c);
	ck_assert_uint_eq(c.n, 4200);
	ck_assert_int_eq(nerrors, 1);
	/* Document 4201 starts at line 4 * 4200 + 1; its metadata is line 4. */
	ck_assert_contains(pw_buf_str(&c.errors), "deep-half.yaml: line 16804 column ");
	ck_assert_contains(pw_buf_str(&c.errors), "nested deeper than 1000 levels");
	counted_free(&c);
	pw_buf_free(&text);
}
END_TEST

/* ---------------------------------------------------------- streams */

START_TEST(test_multi_document)
{
	struct result r;

	load(&r, "---\n" NS_X "# only a comment\n---\n"
	     "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\n"
	     "---\n" NP_SPEC("") "---\n");
	ck_assert_msg(r.nerrors == 0, "%s", pw_buf_str(&r.errors));
	ck_assert_int_eq(r.n, 3);
	ck_assert_int_eq(r.objs[0].kind, PW_KIND_NAMESPACE);
	ck_assert_int_eq(r.objs[1].kind, PW_KIND_POD);
	ck_assert_int_eq(r.objs[2].kind, PW_KIND_POLICY);
	ck_assert_contains(r.wheres[0], "test.yaml: document 1");
	/* The comment-only document still counts, as a reader counts them. */
	ck_assert_contains(r.wheres[1], "test.yaml: document 3");
	ck_assert_contains(r.wheres[2], "test.yaml: document 4");
	ck_assert_str_eq(pw_buf_str(&r.notices), "");
	result_free(&r);

	load(&r, "");
	ck_assert_int_eq(r.nerrors, 0);
	ck_assert_int_eq(r.n, 0);
	result_free(&r);

	load(&r, "---\n---\n...\n");
	ck_assert_int_eq(r.nerrors, 0);
	ck_assert_int_eq(r.n, 0);
	result_free(&r);
}
END_TEST

START_TEST(test_errors_do_not_stop_loading)
{
	struct result r;

	load(&r, NS_X NP_SPEC("  ingress: [{ports: [{port: 0}]}]\n") "---\n"
	     "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\n"
	     "---\napiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\n");
	ck_assert_int_eq(r.nerrors, 2);
	ck_assert_int_eq(r.n, 2);
	ck_assert_int_eq(count_lines(pw_buf_str(&r.errors)), 2);
	ck_assert_contains(pw_buf_str(&r.errors),
			   "test.yaml: document 2: NetworkPolicy x/np: "
			   "spec.ingress[0].ports[0].port: must be between 1 and 65535, "
			   "not 0\n");
	ck_assert_contains(pw_buf_str(&r.errors),
			   "test.yaml: document 4: Pod default/Bad_Name: "
			   "metadata.name: invalid name \"Bad_Name\": ");
	result_free(&r);
}
END_TEST

START_TEST(test_list)
{
	struct result r;

	load(&r, "apiVersion: v1\nkind: List\nmetadata: {}\nitems:\n"
	     "- apiVersion: v1\n  kind: Namespace\n  metadata: {name: x}\n"
	     "- apiVersion: apps/v1\n  kind: Deployment\n  "
	     "metadata: {name: d, namespace: x}\n"
	     "- apiVersion: v1\n  kind: Pod\n  metadata: {name: p, namespace: x}\n"
	     "  status: {podIP: 999.1.1.1}\n"
	     "- apiVersion: networking.k8s.io/v1\n  kind: NetworkPolicy\n"
	     "  metadata: {name: np, namespace: x}\n  spec: {podSelector: {}}\n"
	     "---\napiVersion: v1\nkind: List\nitems: []\n");
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_int_eq(r.n, 2);
	ck_assert_int_eq(r.objs[0].kind, PW_KIND_NAMESPACE);
	ck_assert_int_eq(r.objs[1].kind, PW_KIND_POLICY);
	ck_assert_contains(r.wheres[0], "test.yaml: document 1: item 0");
	ck_assert_contains(r.wheres[1], "test.yaml: document 1: item 3");
	ck_assert_contains(pw_buf_str(&r.errors), "test.yaml: document 1: item 2: Pod x/p: "
			   "status.podIP: invalid IP address \"999.1.1.1\"\n");
	ck_assert_contains(pw_buf_str(&r.notices), "test.yaml: document 1: item 1: "
			   "skipping Deployment x/d: kind not used by podwall\n");
	result_free(&r);
}
END_TEST

/*
 * Items are read one by one, before the document's kind is known (kubectl
 * writes it after them): they count only if the document is a List, keep
 * their anchors, and a List's second document numbers on.
 */
START_TEST(test_list_items_streamed)
{
	struct result r;

	load(&r, "apiVersion: v1\nitems:\n"
	     "- {apiVersion: v1, kind: Namespace, metadata: &m {name: x, labels: {a: b}}}\n"
	     "- {apiVersion: v1, kind: Namespace, metadata: {name: 'y'}}\n"
	     "kind: List\nmetadata: {}\n"
	     "---\n"
	     "apiVersion: v1\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: z}}\n"
	     "kind: Namespace\nmetadata: {name: w}\n"
	     "---\n"
	     "apiVersion: v2\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: v}}\n"
	     "kind: List\n");
	ck_assert_int_eq(r.n, 3);
	ck_assert_str_eq(r.objs[0].u.ns->name, "x");
	ck_assert_str_eq(r.objs[1].u.ns->name, "y");
	ck_assert_str_eq(r.objs[2].u.ns->name, "w");
	ck_assert_contains(r.wheres[1], "test.yaml: document 1: item 1");
	ck_assert_contains(r.wheres[2], "test.yaml: document 2");
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_contains(pw_buf_str(&r.errors),
			   "test.yaml: document 3: List: apiVersion: must be \"v1\"");
	result_free(&r);
}
END_TEST

START_TEST(test_skipped_kinds)
{
	struct result r;

	load(&r, "apiVersion: apps/v1\nkind: Deployment\n"
	     "metadata: {name: backend, namespace: stars}\nspec: {replicas: 3}\n"
	     "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
	     "spec: {ports: [{port: 80}]}\n");
	ck_assert_int_eq(r.nerrors, 0);
	ck_assert_int_eq(r.n, 0);
	ck_assert_str_eq(pw_buf_str(&r.errors), "");
	ck_assert_int_eq(count_lines(pw_buf_str(&r.notices)), 2);
	ck_assert_contains(pw_buf_str(&r.notices), "/test.yaml: document 1: skipping "
			   "Deployment stars/backend: kind not used by podwall\n");
	ck_assert_contains(pw_buf_str(&r.notices), "/test.yaml: document 2: skipping "
			   "Service default/web: kind not used by podwall\n");
	result_free(&r);
}
END_TEST

static char *record_where(const char *where)
{
	const char *slash = strrchr(where, '/');

	return pw_xstrdup(slash ? slash + 1 : where);
}

START_TEST(test_directory)
{
	char *dir = pw_xasprintf("%s/manifests", workdir), *sub;
	char *paths[5];
	struct result r;
	size_t i;

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	paths[0] = write_file("manifests/b.yaml", LITERAL(NP_SPEC("")));
	paths[1] = write_file("manifests/a.yml", LITERAL(NS_X));
	paths[2] = write_file("manifests/c.json",
			      LITERAL("{\"apiVersion\": \"v1\", \"kind\": \"Pod\", "
				      "\"metadata\": {\"name\": \"p\"}}"));
	paths[3] = write_file("manifests/README.md", LITERAL("# not yaml: ["));
	paths[4] = write_file("manifests/B.yaml", LITERAL("apiVersion: v1\nkind: Namespace\n"
							  "metadata: {name: b}\n"));
	sub = pw_xasprintf("%s/nested.yaml", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);

	load_path(&r, dir);
	ck_assert_msg(r.nerrors == 0, "%s", pw_buf_str(&r.errors));
	ck_assert_int_eq(r.n, 4);
	for (i = 0; i < r.n; i++) {
		char *name = record_where(r.wheres[i]);

		free(r.wheres[i]);
		r.wheres[i] = name;
	}
	/* strcmp order: upper case first. */
	ck_assert_str_eq(r.wheres[0], "B.yaml: document 1");
	ck_assert_str_eq(r.wheres[1], "a.yml: document 1");
	ck_assert_str_eq(r.wheres[2], "b.yaml: document 1");
	ck_assert_str_eq(r.wheres[3], "c.json: document 1");
	ck_assert_int_eq(r.objs[3].kind, PW_KIND_POD);
	result_free(&r);

	/* A trailing slash does not double. */
	free(dir);
	dir = pw_xasprintf("%s/manifests/", workdir);
	load_path(&r, dir);
	ck_assert_int_eq(r.n, 4);
	ck_assert_contains(r.wheres[0], "/manifests/B.yaml: document 1");
	ck_assert(strstr(r.wheres[0], "//") == NULL);
	result_free(&r);

	for (i = 0; i < PW_ARRAY_SIZE(paths); i++) {
		unlink(paths[i]);
		free(paths[i]);
	}
	rmdir(sub);
	free(sub);
	free(dir);
}
END_TEST

static int refuse(struct pw_object *obj, const char *where, void *ctx)
{
	(void)where;
	(void)ctx;
	pw_object_free(obj);
	return -EEXIST;
}

START_TEST(test_callback_refusal)
{
	struct pw_buf errors = PW_BUF_INIT, notices = PW_BUF_INIT;
	char *path = write_file("one.yaml", LITERAL(NS_X NP_SPEC("")));
	char *line;
	int n;

	/* Without a callback objects are checked and dropped. */
	n = pw_manifest_load(path, NULL, NULL, &errors, &notices);
	ck_assert_int_eq(n, 0);
	ck_assert_str_eq(pw_buf_str(&errors), "");

	n = pw_manifest_load(path, refuse, NULL, &errors, &notices);
	ck_assert_int_eq(n, 2);
	line = pw_xasprintf("%s: document 1: Namespace x: not accepted: %s\n"
			    "%s: document 2: NetworkPolicy x/np: not accepted: %s\n",
			    path, strerror(EEXIST), path, strerror(EEXIST));
	ck_assert_str_eq(pw_buf_str(&errors), line);
	free(line);
	unlink(path);
	free(path);
	pw_buf_free(&errors);
	pw_buf_free(&notices);
}
END_TEST

/* ------------------------------------------------- decoder directly */

static int parse_one(yaml_parser_t *parser, yaml_document_t *doc, const char *text)
{
	ck_assert(yaml_parser_initialize(parser));
	yaml_parser_set_input_string(parser, (const unsigned char *)text, strlen(text));
	return yaml_parser_load(parser, doc);
}

/* Decodes the first document of text directly and expects an error. */
static void expect_decode_error(const char *text, const char *needle1, const char *needle2)
{
	struct pw_buf err = PW_BUF_INIT;
	yaml_parser_t parser;
	yaml_document_t doc;
	struct pw_object out;

	ck_assert(parse_one(&parser, &doc, text));
	ck_assert_int_eq(pw_decode_object(&doc, yaml_document_get_root_node(&doc), "default",
					  &out, &err), PW_DECODE_ERROR);
	ck_assert_contains(pw_buf_str(&err), needle1);
	ck_assert_contains(pw_buf_str(&err), needle2);
	ck_assert(strchr(pw_buf_str(&err), '\n') == NULL);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	pw_buf_free(&err);
}

START_TEST(test_decode_untouched_on_error)
{
	static const char text[] = NP_SPEC("  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8,"
					   " except: [10.0.0.0/8]}}]}]\n");
	struct pw_buf err = PW_BUF_INIT;
	yaml_parser_t parser;
	yaml_document_t doc;
	struct pw_object out;

	memset(&out, 0xa5, sizeof(out));
	ck_assert(parse_one(&parser, &doc, text));
	ck_assert_int_eq(pw_decode_object(&doc, yaml_document_get_root_node(&doc), "default",
					  &out, &err), PW_DECODE_ERROR);
	ck_assert_str_eq(pw_buf_str(&err), "NetworkPolicy x/np: spec.egress[0].to[0].ipBlock."
			 "except[0]: \"10.0.0.0/8\" is not strictly inside cidr "
			 "\"10.0.0.0/8\""
			 "");
	ck_assert_int_eq(((unsigned char *)&out)[0], 0xa5);
	ck_assert_int_eq(((unsigned char *)&out)[sizeof(out) - 1], 0xa5);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_decode_default_namespace)
{
	static const char text[] = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n";
	struct pw_buf err = PW_BUF_INIT;
	yaml_parser_t parser;
	yaml_document_t doc;
	struct pw_object out;

	ck_assert(parse_one(&parser, &doc, text));
	ck_assert_int_eq(pw_decode_object(&doc, yaml_document_get_root_node(&doc),
					  "kube-system",
					  &out, &err), PW_DECODE_OK);
	ck_assert_int_eq(out.kind, PW_KIND_POD);
	ck_assert_str_eq(out.u.pod->namespace, "kube-system");
	pw_object_free(&out);
	ck_assert(out.u.pod == NULL);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	pw_buf_free(&err);
}
END_TEST

/* --------------------------------------------------------- bad input */

START_TEST(test_bad_malformed)
{
	static const char text[] = NS_X NP_SPEC("  ingress: [{from: [{podSelector: {}}]\n");

	expect_error_in("bad.yaml", text, strlen(text), "bad.yaml: line ", " column ",
			"did not find expected", NULL);
}
END_TEST

START_TEST(test_bad_binary)
{
	unsigned char data[4096];
	uint32_t x = 2463534242u;
	size_t i;

	/* xorshift: the same garbage every run, NULs included. */
	for (i = 0; i < sizeof(data); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)(i % 97 == 0 ? 0 : x);
	}
	expect_error_in("garbage.yaml", (const char *)data, sizeof(data),
			"garbage.yaml: line 1 column ", NULL);
}
END_TEST

START_TEST(test_bad_nul_bytes)
{
	static const char text[] = "apiVersion: v1\nkind: Namespace\n\0metadata: {name: x}\n";

	expect_error_in("nul.yaml", text, sizeof(text) - 1,
			"nul.yaml: line 3 column 1: control characters are not "
			"allowed", NULL);
}
END_TEST

START_TEST(test_bad_utf8)
{
	static const char text[] = NS_X NP_SPEC("  ingress: [{from: [{podSelector: "
						"{matchLabels: {app: \"w\xff\xfe\"}}}]}]\n");

	expect_error_in("utf8.yaml", text, strlen(text), "utf8.yaml: line 13 column ",
			"invalid", "UTF-8", NULL);
}
END_TEST

START_TEST(test_bad_cidr)
{
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n"
			    "    - ipBlock: {cidr: 10.0.0.0/8}\n"
			    "    - ipBlock: {cidr: 10.0.0.0/33}\n",
			    "spec.ingress[0].from[1].ipBlock.cidr: invalid CIDR "
			    "\"10.0.0.0/33\"");
	expect_policy_error("  podSelector: {}\n  egress:\n  - to:\n"
			    "    - ipBlock: {cidr: banana}\n",
			    "spec.egress[0].to[0].ipBlock.cidr: invalid CIDR \"banana\"");
	expect_policy_error("  podSelector: {}\n  egress:\n  - to:\n"
			    "    - ipBlock: {cidr: 10.0.0.1}\n",
			    "spec.egress[0].to[0].ipBlock.cidr: invalid CIDR \"10.0.0.1\"");
	expect_policy_error("  podSelector: {}\n  egress:\n  - to:\n"
			    "    - ipBlock: {except: [10.0.0.0/9]}\n",
			    "spec.egress[0].to[0].ipBlock.cidr: required");
}
END_TEST

START_TEST(test_bad_except)
{
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n"
			    "    - ipBlock:\n        cidr: 10.2.0.0/16\n"
			    "        except: [10.1.0.0/16]\n",
			    "spec.ingress[0].from[0].ipBlock.except[0]: \"10.1.0.0/16\" "
			    "is not inside cidr \"10.2.0.0/16\"");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n"
			    "    - ipBlock:\n        cidr: 10.2.0.0/16\n"
			    "        except: [10.2.1.0/24, 10.2.0.0/16]\n",
			    "spec.ingress[0].from[0].ipBlock.except[1]: \"10.2.0.0/16\" "
			    "is not strictly inside cidr \"10.2.0.0/16\"");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n"
			    "    - ipBlock:\n        cidr: 10.2.0.0/16\n"
			    "        except: [10.0.0.0/8]\n",
			    "spec.ingress[0].from[0].ipBlock.except[0]: \"10.0.0.0/8\" "
			    "is not inside cidr \"10.2.0.0/16\"");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n"
			    "    - ipBlock:\n        cidr: 10.2.0.0/16\n"
			    "        except: [\"fd00::/64\"]\n",
			    "spec.ingress[0].from[0].ipBlock.except[0]: \"fd00::/64\" is not "
			    "inside cidr \"10.2.0.0/16\"");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n"
			    "    - ipBlock:\n        cidr: 10.2.0.0/16\n"
			    "        except: [10.2.0.0/40]\n",
			    "spec.ingress[0].from[0].ipBlock.except[0]: invalid CIDR "
			    "\"10.2.0.0/40\"");
}
END_TEST

START_TEST(test_bad_selectors)
{
	expect_policy_error("  podSelector:\n    matchExpressions:\n"
			    "    - {key: app, operator: Equals, values: [a]}\n",
			    "spec.podSelector.matchExpressions[0].operator: unknown operator "
			    "\"Equals\"");
	expect_policy_error("  podSelector:\n    matchExpressions:\n"
			    "    - {key: app, operator: In, values: [a]}\n"
			    "    - {key: app, operator: In}\n",
			    "spec.podSelector.matchExpressions[1].values: must be non-empty "
			    "when operator is In");
	expect_policy_error("  podSelector:\n    matchExpressions:\n"
			    "    - {key: app, operator: NotIn, values: []}\n",
			    "spec.podSelector.matchExpressions[0].values: must be non-empty "
			    "when operator is NotIn");
	expect_policy_error("  podSelector:\n    matchExpressions:\n"
			    "    - {key: app, operator: Exists, values: [a]}\n",
			    "spec.podSelector.matchExpressions[0].values: must be empty "
			    "when operator is Exists");
	expect_policy_error("  podSelector:\n    matchExpressions:\n"
			    "    - {operator: Exists}\n",
			    "spec.podSelector.matchExpressions[0].key: required");
	expect_policy_error("  podSelector:\n    matchExpressions:\n"
			    "    - {key: app}\n",
			    "spec.podSelector.matchExpressions[0].operator: required");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n"
			    "    - namespaceSelector:\n        matchExpressions:\n"
			    "        - {key: \"bad key\", operator: Exists}\n",
			    "spec.ingress[0].from[0].namespaceSelector."
			    "matchExpressions[0].key: "
			    "invalid key \"bad key\": name part");
	expect_policy_error("  podSelector:\n    matchExpressions:\n"
			    "    - {key: app, operator: In, values: [\"a b\"]}\n",
			    "spec.podSelector.matchExpressions[0].values[0]: invalid value "
			    "\"a b\": ");
	expect_policy_error("  podSelector:\n    matchLabels: [app]\n",
			    "spec.podSelector.matchLabels: expected a mapping, found a list");
	expect_policy_error("  podSelector: {matchLabels: {app: 80}}\n",
			    "spec.podSelector.matchLabels[\"app\"]: expected a string, "
			    "found a number (quote it)");
}
END_TEST

START_TEST(test_bad_ports)
{
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n    - port: 0\n",
			    "spec.ingress[0].ports[0].port: must be between 1 and 65535, "
			    "not 0");
	expect_policy_error("  podSelector: {}\n  egress:\n  - ports:\n    - port: 80\n"
			    "    - port: 70000\n",
			    "spec.egress[0].ports[1].port: must be between 1 and 65535, "
			    "not 70000");
	/* Quoted digits stay a string to the API server: a name without a letter. */
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n    - port: \"80\"\n",
			    "spec.ingress[0].ports[0].port: invalid port name \"80\"");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n    - port: -5\n",
			    "spec.ingress[0].ports[0].port: must be between 1 and 65535, "
			    "not -5");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - port: 99999999999999999999999\n",
			    "spec.ingress[0].ports[0].port: must be between 1 and 65535");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - {port: 8080, endPort: 8000}\n",
			    "spec.ingress[0].ports[0].endPort: must be "
			    "greater than or equal to port 8080, not 8000");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - {port: http, endPort: 8000}\n",
			    "spec.ingress[0].ports[0].endPort: "
			    "may not be used with a named port");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - {endPort: 8000}\n",
			    "spec.ingress[0].ports[0].endPort: requires a numeric port");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - {port: 80, endPort: 65536}\n",
			    "spec.ingress[0].ports[0].endPort: must be between 1 and 65535");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - {port: 80, endPort: \"90\"}\n",
			    "spec.ingress[0].ports[0].endPort: expected an integer, "
			    "found a string");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - {port: 80, protocol: ICMP}\n",
			    "spec.ingress[0].ports[0].protocol: unknown protocol \"ICMP\"");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - {port: 80, protocol: tcp}\n",
			    "spec.ingress[0].ports[0].protocol: unknown protocol \"tcp\"");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - port: [80]\n",
			    "spec.ingress[0].ports[0].port: expected a port number or name, "
			    "found a list");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - port: Http_Port\n",
			    "spec.ingress[0].ports[0].port: "
			    "invalid port name \"Http_Port\": ");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - port: 80.5\n",
			    "spec.ingress[0].ports[0].port: expected a port number or name, "
			    "found a number");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - ports:\n"
			    "    - port: true\n",
			    "spec.ingress[0].ports[0].port: expected a port number or name, "
			    "found a boolean");
}
END_TEST

START_TEST(test_bad_peers)
{
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n"
			    "    - podSelector: {}\n"
			    "      ipBlock: {cidr: 10.0.0.0/8}\n",
			    "spec.ingress[0].from[0]: "
			    "ipBlock may not be combined with podSelector");
	expect_policy_error("  podSelector: {}\n  egress:\n  - to:\n"
			    "    - namespaceSelector: {}\n"
			    "      ipBlock: {cidr: 10.0.0.0/8}\n",
			    "spec.egress[0].to[0]: ipBlock may not be combined with "
			    "namespaceSelector");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n"
			    "    - podSelector: {}\n    - {}\n",
			    "spec.ingress[0].from[1]: must specify podSelector, "
			    "namespaceSelector or ipBlock");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n    -\n",
			    "spec.ingress[0].from[0]: expected a mapping, found null");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from:\n"
			    "    - ipBlock: 10.0.0.0/8\n",
			    "spec.ingress[0].from[0].ipBlock: "
			    "expected a mapping, found a string");
}
END_TEST

START_TEST(test_bad_types)
{
	expect_policy_error("  podSelector: {}\n  ingress: allow-all\n",
			    "spec.ingress: expected a list, found a string");
	expect_policy_error("  podSelector: {}\n  ingress:\n  - from: {podSelector: {}}\n",
			    "spec.ingress[0].from: expected a list, found a mapping");
	expect_policy_error("  podSelector: {}\n  ingress: [[]]\n",
			    "spec.ingress[0]: expected a mapping, found a list");
	expect_policy_error("  podSelector:\n  ingress: []\n  policyTypes: [Ingress]\n",
			    "spec.podSelector: required");
	expect_policy_error("  podSelector: \"\"\n",
			    "spec.podSelector: expected a mapping, found a string");
	expect_policy_error("  podSelector: app=web\n",
			    "spec.podSelector: expected a mapping, found a string");
	expect_policy_error("  podSelector: {}\n  policyTypes: Ingress\n",
			    "spec.policyTypes: expected a list, found a string");
	expect_policy_error("  podSelector: {}\n  policyTypes: [Ingress, Both]\n",
			    "spec.policyTypes[1]: unknown policy type \"Both\"");
	expect_policy_error("  ingress: []\n", "spec.podSelector: required");
	expect_policy_error("  podSelector: {}\n  ingress: []\n  ingress: [{}]\n",
			    "spec: duplicate key \"ingress\"");
	expect_policy_error("  podSelector: {matchLabels: {app: a, app: b}}\n",
			    "spec.podSelector.matchLabels: duplicate key \"app\"");
	expect_policy_error("  podSelector: {}\n  ? [a]\n  : b\n",
			    "spec: keys must be strings, found a list");
	expect_policy_error("  <<: {podSelector: {}}\n",
			    "spec: merge keys (<<) are not supported");
}
END_TEST

START_TEST(test_bad_metadata)
{
	char *long_ns = repeat('n', 64), *long_pod = repeat('p', 300);
	char *long_value = repeat('v', 64);
	char *text, *needle;

	/* The namespace of a namespace: a DNS label, 63 at most. */
	text = pw_xasprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n",
			    long_ns);
	needle = pw_xasprintf("ns.yaml: document 1: Namespace %s: metadata.name: invalid "
			      "name \"%s\": "
			      "must be no more than 63 characters", long_ns, long_ns);
	expect_error_in("ns.yaml", text, strlen(text), needle, NULL);
	free(text);
	free(needle);

	text = pw_xasprintf("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			    "metadata: {name: np, namespace: %s}\nspec: {podSelector: {}}\n",
			    long_ns);
	needle = pw_xasprintf("document 1: NetworkPolicy %s/np: metadata.namespace: invalid "
			      "name \"%s\": "
			      "must be no more than 63 characters", long_ns, long_ns);
	expect_error_in("np.yaml", text, strlen(text), needle, NULL);
	free(text);
	free(needle);

	text = pw_xasprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\n", long_pod);
	expect_error_in("pod.yaml", text, strlen(text), "document 1: Pod default/ppppp",
			"...: metadata.name: invalid name \"ppppp",
			"\": must be no more than 253 characters", NULL);
	free(text);

	text = pw_xasprintf("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			    "metadata:\n  name: np\n  namespace: x\n"
			    "  labels: {app: %s}\nspec: {podSelector: {}}\n", long_value);
	expect_error_in("label.yaml", text, strlen(text),
			"label.yaml: document 1: NetworkPolicy x/np: "
			"metadata.labels[\"app\"]: "
			"invalid value \"vvvv", "must be no more than 63 characters", NULL);
	free(text);
	free(long_ns);
	free(long_pod);
	free(long_value);
}
END_TEST

START_TEST(test_bad_labels)
{
	expect_policy_error("  podSelector: {matchLabels: {\"bad key\": a}}\n",
			    "spec.podSelector.matchLabels[\"bad key\"]: "
			    "invalid key: name part");
	expect_policy_error("  podSelector: {matchLabels: {app: \"-web\"}}\n",
			    "spec.podSelector.matchLabels[\"app\"]: "
			    "invalid value \"-web\": ");
	expect_policy_error("  podSelector: {matchLabels: {app: {a: b}}}\n",
			    "spec.podSelector.matchLabels[\"app\"]: expected a string, "
			    "found a mapping");
	expect_policy_error("  podSelector: {matchLabels: {app: yes}}\n",
			    "spec.podSelector.matchLabels[\"app\"]: expected a string, "
			    "found a boolean (quote it)");
	expect_policy_error("  podSelector: {matchLabels: {\"example.com/a/b\": x}}\n",
			    "spec.podSelector.matchLabels[\"example.com/a/b\"]: "
			    "invalid key: ");
	expect_error_in("key.yaml", LITERAL("apiVersion: v1\nkind: Namespace\nmetadata:\n"
			"  name: x\n  labels: {\"Bad.Prefix/app\": a}\n"),
			"key.yaml: document 1: Namespace x: "
			"metadata.labels[\"Bad.Prefix/app\"]: "
			"invalid key: prefix part", NULL);
	expect_error_in("nul.yaml", LITERAL("apiVersion: v1\nkind: Namespace\nmetadata:\n"
			"  name: \"x\\0y\"\n"),
			"nul.yaml: document 1: Namespace x: metadata.name: must not contain "
			"a NUL character", NULL);
}
END_TEST

START_TEST(test_bad_pods)
{
	static const char head[] = "apiVersion: v1\nkind: Pod\n"
				   "metadata: {name: p, namespace: x}\n";
	static const struct {
		const char *body;
		const char *message;
	} cases[] = {
		{ "spec: {hostNetwork: maybe}\n",
		  "spec.hostNetwork: expected a boolean (true or false), found a string" },
		{ "spec: {hostNetwork: [true]}\n",
		  "spec.hostNetwork: expected a boolean (true or false), found a list" },
		{ "spec: {containers: [{ports: [{containerPort: [80]}]}]}\n",
		  "spec.containers[0].ports[0].containerPort: "
		  "expected an integer, found a list" },
		{ "spec: {containers: [{}, {ports: [{containerPort: 0}]}]}\n",
		  "spec.containers[1].ports[0].containerPort: must be between 1 and 65535" },
		{ "spec: {initContainers: [{ports: [{name: http}]}]}\n",
		  "spec.initContainers[0].ports[0].containerPort: required" },
		{ "spec: {containers: [{ports: [{containerPort: 80, name: HTTP}]}]}\n",
		  "spec.containers[0].ports[0].name: invalid port name \"HTTP\": " },
		{ "spec: {containers: [{ports: [{containerPort: 80, protocol: ICMP}]}]}\n",
		  "spec.containers[0].ports[0].protocol: unknown protocol \"ICMP\"" },
		{ "spec: {containers: {ports: []}}\n",
		  "spec.containers: expected a list, found a mapping" },
		{ "spec: []\n", "spec: expected a mapping, found a list" },
		{ "status: {phase: Sleeping}\n", "status.phase: unknown phase \"Sleeping\"" },
		{ "status: {podIP: 10.0.0.256}\n",
		  "status.podIP: invalid IP address \"10.0.0.256\"" },
		{ "status: {podIPs: [{ip: 10.0.0.1}, {ip: 10.0.0.0/8}]}\n",
		  "status.podIPs[1].ip: invalid IP address \"10.0.0.0/8\"" },
		{ "status: {podIPs: [10.0.0.1]}\n",
		  "status.podIPs[0]: expected a mapping, found a string" },
		{ "status: {podIPs: [{}]}\n", "status.podIPs[0].ip: required" },
		{ "spec: {nodeName: 12}\n",
		  "spec.nodeName: expected a string, found a number (quote it)" },
	};
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases); i++) {
		char *text = pw_xasprintf("%s%s", head, cases[i].body);
		char *needle = pw_xasprintf("pod.yaml: document 1: Pod x/p: %s",
					    cases[i].message);

		expect_error_in("pod.yaml", text, strlen(text), needle, NULL);
		free(needle);
		free(text);
	}
}
END_TEST

START_TEST(test_bad_documents)
{
	static const struct {
		const char *text;
		const char *message;
	} cases[] = {
		{ "metadata: {name: np, namespace: x}\nspec: {podSelector: {}}\n",
		  "bad.yaml: document 1: object x/np: kind: required" },
		{ "apiVersion: v1\nmetadata: {name: nn}\n",
		  "bad.yaml: document 1: object default/nn: kind: required" },
		{ "apiVersion: v1\nkind: [Pod]\nmetadata: {name: nn}\n",
		  "bad.yaml: document 1: object default/nn: "
		  "kind: expected a string, found a list" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n",
		  "bad.yaml: document 1: Namespace <unnamed>: metadata.name: expected a "
		  "string, found a boolean (quote it)" },
		{ "apiVersion: extensions/v1beta1\nkind: NetworkPolicy\n"
		  "metadata: {name: np, namespace: x}\nspec: {podSelector: {}}\n",
		  "bad.yaml: document 1: NetworkPolicy x/np: apiVersion: "
		  "\"extensions/v1beta1\" is not an API version of NetworkPolicy "
		  "(expected \"networking.k8s.io/v1\")" },
		{ "kind: Namespace\nmetadata: {name: nn}\n",
		  "bad.yaml: document 1: Namespace nn: apiVersion: required" },
		{ "apiVersion: v1\nkind: Namespace\n",
		  "bad.yaml: document 1: Namespace <unnamed>: metadata.name: required" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata: {labels: {}}\n",
		  "bad.yaml: document 1: Namespace <unnamed>: metadata.name: required" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata: nn\n",
		  "bad.yaml: document 1: Namespace <unnamed>: metadata: expected a mapping, "
		  "found a string" },
		{ "apiVersion: v1\nkind: Pod\nmetadata: {name: 42}\n",
		  "bad.yaml: document 1: Pod default/<unnamed>: metadata.name: expected a "
		  "string, found a number (quote it)" },
		{ "apiVersion: v1\nkind: Pod\nkind: Pod\nmetadata: {name: p}\n",
		  "bad.yaml: document 1: Pod default/p: duplicate key \"kind\"" },
		{ "just a string\n",
		  "bad.yaml: document 1: object <unnamed>: "
		  "expected a mapping, found a string" },
		{ "- apiVersion: v1\n  kind: Namespace\n",
		  "bad.yaml: document 1: object <unnamed>: "
		  "expected a mapping, found a list" },
		{ "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		  "metadata: {name: np, namespace: x}\n",
		  "bad.yaml: document 1: NetworkPolicy x/np: spec: required" },
		{ "apiVersion: v1\nkind: List\nitems: {a: b}\n",
		  "bad.yaml: document 1: List: items: expected a list" },
		{ "apiVersion: v2\nkind: List\nitems: []\n",
		  "bad.yaml: document 1: List: apiVersion: must be \"v1\"" },
		{ "apiVersion: v1\nkind: Namespace\nmetadata: {name: \"a\\nb\"}\n",
		  "bad.yaml: document 1: Namespace a?b: metadata.name: invalid name "
		  "\"a\\x0ab\": " },
		{ "a: *nowhere\n", "bad.yaml: line 1 column 4: found undefined alias" },
		{ "a: b\n\tc: d\n", "bad.yaml: line 2 column 1: " },
		{ "a: 'unterminated\n", "bad.yaml: line 2 column 1: " },
	};
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases); i++)
		expect_error_in("bad.yaml", cases[i].text, strlen(cases[i].text),
				cases[i].message, NULL);
}
END_TEST

START_TEST(test_bad_missing_file)
{
	char *path = pw_xasprintf("%s/does-not-exist.yaml", workdir);
	char *line = pw_xasprintf("%s: No such file or directory\n", path);
	struct result r;

	load_path(&r, path);
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_str_eq(pw_buf_str(&r.errors), line);
	result_free(&r);
	free(line);
	free(path);
}
END_TEST

START_TEST(test_bad_unreadable_dir_entry)
{
	char *dir = pw_xasprintf("%s/d", workdir);
	char *dangling = pw_xasprintf("%s/d/dangling.yaml", workdir);
	struct result r;

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(symlink("/nonexistent/x.yaml", dangling), 0);
	load_path(&r, dir);
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_contains(pw_buf_str(&r.errors), "d/dangling.yaml: "
						  "No such file or directory\n");
	result_free(&r);
	unlink(dangling);
	rmdir(dir);
	free(dangling);
	free(dir);
}
END_TEST

START_TEST(test_bad_deep_nesting)
{
	size_t depth = 200000, i;
	char *text = pw_xmalloc(depth * 2 + 64);
	char *p = text;

	/* The first document loads; the second is refused, not overflowed. */
	p += sprintf(p, NS_X);
	for (i = 0; i < depth; i++)
		*p++ = '[';
	for (i = 0; i < depth; i++)
		*p++ = ']';
	*p++ = '\n';
	*p = '\0';
	{
		struct result r;

		load_named(&r, "deep.yaml", text);
		ck_assert_int_eq(r.nerrors, 1);
		ck_assert_int_eq(r.n, 1);
		ck_assert_contains(pw_buf_str(&r.errors),
				   "deep.yaml: line 6 column 1001: "
				   "nested deeper than 1000 levels");
		result_free(&r);
	}
	free(text);

	/* Deep where the schema wants a string: refused there, not walked. */
	text = pw_xmalloc(1200);
	p = text + sprintf(text, "  podSelector: {matchLabels: {app: ");
	for (i = 0; i < 500; i++)
		*p++ = '[';
	for (i = 0; i < 500; i++)
		*p++ = ']';
	strcpy(p, "}}\n");
	expect_policy_error(text, "spec.podSelector.matchLabels[\"app\"]: expected a string, "
			    "found a list");
	free(text);
}
END_TEST

START_TEST(test_bad_alias_bomb)
{
	struct pw_buf text = PW_BUF_INIT;
	struct result r;
	int level, i;

	/* Ten levels of ten aliases: 10^10 peers if expanded. */
	pw_buf_puts(&text, NP_HEAD "  podSelector: {}\n  x0: &l0 {podSelector: {}}\n");
	for (level = 1; level <= 10; level++) {
		pw_buf_printf(&text, "  x%d: &l%d [", level, level);
		for (i = 0; i < 10; i++)
			pw_buf_printf(&text, "%s*l%d", i ? ", " : "", level - 1);
		pw_buf_puts(&text, "]\n");
	}
	pw_buf_puts(&text, "  ingress:\n");
	for (i = 0; i < 10; i++)
		pw_buf_puts(&text, "  - from: *l9\n");
	load(&r, pw_buf_str(&text));
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_int_eq(r.n, 0);
	ck_assert_contains(pw_buf_str(&r.errors), "test.yaml: document 1: aliases expand to "
			   "more than ");
	result_free(&r);
	/* The decoder alone stops where the schema is not followed. */
	expect_decode_error(pw_buf_str(&text), "NetworkPolicy x/np: "
					       "spec.ingress[0].from[0]: ",
			    "expected a mapping, found a list");

	/* The same, now in a shape the schema follows: rules of peers of requirements. */
	pw_buf_reset(&text);
	pw_buf_puts(&text, NP_HEAD "  podSelector: {}\n"
		    "  r: &req {key: a, operator: In, values: [x, y, z]}\n"
		    "  e: &exprs [*req, *req, *req, *req, *req, *req, *req, *req]\n"
		    "  p: &peer {podSelector: {matchExpressions: *exprs}}\n");
	pw_buf_puts(&text, "  f: &peers [");
	for (i = 0; i < 1000; i++)
		pw_buf_puts(&text, i ? ", *peer" : "*peer");
	pw_buf_puts(&text, "]\n  rule: &rule {from: *peers}\n  ingress: [");
	for (i = 0; i < 1000; i++)
		pw_buf_puts(&text, i ? ", *rule" : "*rule");
	pw_buf_puts(&text, "]\n");
	load(&r, pw_buf_str(&text));
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_contains(pw_buf_str(&r.errors), "test.yaml: document 1: aliases expand to "
			   "more than ");
	result_free(&r);
	expect_decode_error(pw_buf_str(&text), "NetworkPolicy x/np: spec.ingress[",
			    "too many nodes to visit (aliases expand too far)");

	/* A List whose items are one aliased object: items are read one by
	 * one, so one may not name another's anchor at all. */
	pw_buf_reset(&text);
	pw_buf_puts(&text, "apiVersion: v1\nkind: List\nitems:\n- &pod {apiVersion: v1, "
		    "kind: Pod, metadata: {name: p, labels: &l {");
	for (i = 0; i < 100; i++)
		pw_buf_printf(&text, "%sk%d: v", i ? ", " : "", i);
	pw_buf_puts(&text, "}}}\n");
	for (i = 0; i < 2000; i++)
		pw_buf_puts(&text, "- *pod\n");
	load(&r, pw_buf_str(&text));
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_int_eq(r.n, 0);
	ck_assert_contains(pw_buf_str(&r.errors), "test.yaml: line 5 column 3: an item of a "
			   "list of items may only name anchors of its own: alias *pod");
	result_free(&r);

	/* An alias inside its own anchor. */
	load(&r, "apiVersion: v1\nkind: Namespace\nmetadata: &m {name: x, self: *m}\n");
	ck_assert_int_eq(r.nerrors, 1);
	ck_assert_int_eq(r.n, 0);
	result_free(&r);
	pw_buf_free(&text);
}
END_TEST

START_TEST(test_huge_document)
{
	struct pw_buf text = PW_BUF_INIT;
	const struct pw_policy *p;
	struct result r;
	int i;

	/* Large but honest input is not mistaken for an alias bomb. */
	pw_buf_puts(&text, "  ingress:\n");
	for (i = 0; i < 3000; i++)
		pw_buf_printf(&text, "  - from: [{podSelector: {matchLabels: {app: a%d}}}]\n"
			      "    ports: [{port: %d}]\n", i, i + 1);
	p = load_policy(&r, pw_buf_str(&text));
	ck_assert_int_eq(p->ningress, 3000);
	ck_assert_int_eq(p->ingress[2999].ports[0].port, 3000);
	result_free(&r);
	pw_buf_free(&text);
}
END_TEST

/* ------------------------------------------------ tests/bad fixtures */

static char *source_path(const char *rel)
{
	const char *top = getenv("top_srcdir");
	const char *file = __FILE__, *end = strstr(file, "tests/check_k8s.c");

	if (top && *top)
		return pw_xasprintf("%s/%s", top, rel);
	if (end)
		return pw_xasprintf("%.*s%s", (int)(end - file), file, rel);
	return pw_xstrdup(rel);
}

START_TEST(test_bad_fixtures)
{
	static const struct {
		const char *file;
		const char *message;
	} cases[] = {
		{ "cidr-33.yaml", "spec.ingress[0].from[0].ipBlock.cidr: invalid CIDR "
		  "\"10.0.0.0/33\"" },
		{ "unknown-operator.yaml", "spec.podSelector.matchExpressions[0].operator: "
		  "unknown operator \"Equals\"" },
		{ "port-zero.yaml", "spec.ingress[0].ports[0].port: must be between 1 and "
		  "65535, not 0" },
		{ "port-70000.yaml", "spec.ingress[0].ports[0].port: must be between 1 and "
		  "65535, not 70000" },
		{ "endport-below-port.yaml", "spec.ingress[0].ports[0].endPort: must be "
		  "greater than or equal to port 8080, not 8000" },
		{ "endport-named.yaml", "spec.ingress[0].ports[0].endPort: may not be used "
		  "with a named port (http)" },
		{ "except-outside.yaml", "spec.ingress[0].from[0].ipBlock.except[0]: "
		  "\"10.1.0.0/16\" is not inside cidr \"10.2.0.0/16\"" },
		{ "except-equal.yaml", "spec.egress[0].to[0].ipBlock.except[0]: "
		  "\"10.2.0.0/16\" is not strictly inside cidr \"10.2.0.0/16\"" },
		{ "malformed.yaml", "malformed.yaml: "
				    "line 15 column 1: did not find expected ',' or ']'" },
		{ "long-name.yaml", "metadata.name: invalid name \"aaaaaaaa" },
		{ "long-label.yaml", "spec.podSelector.matchLabels[\"app\"]: invalid value "
		  "\"aaaaaaaa" },
		{ "unknown-protocol.yaml", "spec.ingress[0].ports[0].protocol: unknown "
		  "protocol \"ICMP\"" },
		{ "ipblock-with-selector.yaml", "spec.ingress[0].from[0]: ipBlock may not be "
		  "combined with podSelector" },
		{ "empty-peer.yaml", "spec.ingress[0].from[0]: must specify podSelector, "
		  "namespaceSelector or ipBlock" },
		{ "in-without-values.yaml", "spec.podSelector.matchExpressions[0].values: "
		  "must be non-empty when operator is In" },
		{ "wrong-type.yaml", "spec.ingress: expected a list, found a string" },
		{ "duplicate-key.yaml", "spec.podSelector: duplicate key \"matchLabels\"" },
		{ "missing-kind.yaml", "object x/np: kind: required" },
	};
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases); i++) {
		char *rel = pw_xasprintf("tests/bad/%s", cases[i].file);
		char *path = source_path(rel);
		struct result r;

		load_path(&r, path);
		ck_assert_msg(r.nerrors == 1, "%s: %d errors:\n%s", cases[i].file, r.nerrors,
			      pw_buf_str(&r.errors));
		ck_assert_int_eq(count_lines(pw_buf_str(&r.errors)), 1);
		ck_assert_contains(pw_buf_str(&r.errors), path);
		ck_assert_contains(pw_buf_str(&r.errors), cases[i].message);
		if (strcmp(cases[i].file, "malformed.yaml") != 0) {
			ck_assert_contains(pw_buf_str(&r.errors), ": document 2: ");
			ck_assert_int_eq(r.n, 1);
			ck_assert_int_eq(r.objs[0].kind, PW_KIND_NAMESPACE);
		}
		if (strstr(cases[i].message, "kind:") == NULL &&
		    strcmp(cases[i].file, "malformed.yaml") != 0)
			ck_assert_contains(pw_buf_str(&r.errors), "NetworkPolicy x/");
		result_free(&r);
		free(path);
		free(rel);
	}
}
END_TEST

/* ------------------------------------------------------------- main */

static Suite *k8s_suite(void)
{
	Suite *s = suite_create("k8s");
	TCase *tc;

	tc = tcase_create("object");
	tcase_add_test(tc, test_protocol_names);
	tcase_add_test(tc, test_kind_names);
	tcase_add_test(tc, test_pod_addressable);
	suite_add_tcase(s, tc);

	tc = tcase_create("validate");
	tcase_add_test(tc, test_validate_dns);
	tcase_add_test(tc, test_validate_labels);
	tcase_add_test(tc, test_validate_port_name);
	suite_add_tcase(s, tc);

	tc = tcase_create("decode");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_namespace_label_default);
	tcase_add_test(tc, test_pod_fields);
	tcase_add_test(tc, test_pod_defaults);
	tcase_add_test(tc, test_pod_status_variants);
	tcase_add_test(tc, test_policy_types_default);
	tcase_add_test(tc, test_policy_default_namespace);
	tcase_add_test(tc, test_rules_missing_and_empty);
	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_peers);
	tcase_add_test(tc, test_ipblock);
	tcase_add_test(tc, test_aliases);
	tcase_add_test(tc, test_decode_untouched_on_error);
	tcase_add_test(tc, test_decode_default_namespace);
	suite_add_tcase(s, tc);

	tc = tcase_create("manifest");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_json_file);
	tcase_add_test(tc, test_json_stream_and_errors);
	tcase_add_test(tc, test_large_stream_in_pieces);
	tcase_add_test(tc, test_large_stream_too_deep_in_a_later_piece);
	tcase_add_test(tc, test_multi_document);
	tcase_add_test(tc, test_errors_do_not_stop_loading);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_list_items_streamed);
	tcase_add_test(tc, test_skipped_kinds);
	tcase_add_test(tc, test_directory);
	tcase_add_test(tc, test_callback_refusal);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad input");
	tcase_add_checked_fixture(tc, setup, teardown);
	/* Slow under valgrind: the deep and huge inputs. */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_bad_malformed);
	tcase_add_test(tc, test_bad_binary);
	tcase_add_test(tc, test_bad_nul_bytes);
	tcase_add_test(tc, test_bad_utf8);
	tcase_add_test(tc, test_bad_cidr);
	tcase_add_test(tc, test_bad_except);
	tcase_add_test(tc, test_bad_selectors);
	tcase_add_test(tc, test_bad_ports);
	tcase_add_test(tc, test_bad_peers);
	tcase_add_test(tc, test_bad_types);
	tcase_add_test(tc, test_bad_metadata);
	tcase_add_test(tc, test_bad_labels);
	tcase_add_test(tc, test_bad_pods);
	tcase_add_test(tc, test_bad_documents);
	tcase_add_test(tc, test_bad_missing_file);
	tcase_add_test(tc, test_bad_unreadable_dir_entry);
	tcase_add_test(tc, test_bad_deep_nesting);
	tcase_add_test(tc, test_bad_alias_bomb);
	tcase_add_test(tc, test_huge_document);
	tcase_add_test(tc, test_bad_fixtures);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(k8s_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
