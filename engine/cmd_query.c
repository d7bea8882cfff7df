/*
 * The two query commands. Both load the cluster once (manifests, or one
 * list of each resource from the API server), then ask engine/query.c,
 * which walks the rules pw_compile() gives each node: the model the
 * kernel writer programs, never a second reading of the policies.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "engine/cluster.h"
#include "engine/cmd_query.h"
#include "engine/options.h"
#include "engine/query.h"
#include "k8s/client.h"
#include "k8s/kubeconfig.h"
#include "k8s/reflector.h"
#include "lib/log.h"
#include "lib/util.h"
#include "selectors/selector.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

/* How long one list of the three resources may take before the API counts as unreachable. */
#define LIST_DEADLINE_MS 15000

enum {
	OPT_KUBECONFIG = 256,
	OPT_NODE_NAME,
	OPT_FROM,
	OPT_TO,
	OPT_PORT,
	OPT_NAMESPACES,
	OPT_FORMAT,
	OPT_FAMILY,
};

struct port_spec {
	uint8_t protocol;		/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, IPPROTO_ICMP */
	uint16_t port;			/* 0 for ICMP */
};

struct query_args {
	const char *command;
	char **manifests;
	size_t nmanifests;
	const char *kubeconfig;
	const char *node_name;		/* NULL: every pod's own node */
	const char *from, *to;
	struct port_spec *ports;
	size_t nports;
	bool namespaces;
	const char *format;
	int family;			/* matrix: the pods' addresses of AF_INET or AF_INET6 */
};

static void bad_input(const struct query_args *a, const char *fmt, ...) PW_PRINTF(2, 3);

static void bad_input(const struct query_args *a, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "podwall %s: ", a->command);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* "6379/TCP", "53/udp", "80" (TCP), "ICMP". */
static int parse_port(const char *text, struct port_spec *out)
{
	const char *slash = strchr(text, '/');
	char *end;
	unsigned long v;

	if (strcasecmp(text, "icmp") == 0) {
		out->protocol = IPPROTO_ICMP;
		out->port = 0;
		return 0;
	}
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end == text || text[0] == '-' || v < 1 || v > 65535 ||
	    (slash ? end != slash : *end != '\0'))
		return -EINVAL;
	out->port = (uint16_t)v;
	if (!slash || strcasecmp(slash + 1, "tcp") == 0)
		out->protocol = IPPROTO_TCP;
	else if (strcasecmp(slash + 1, "udp") == 0)
		out->protocol = IPPROTO_UDP;
	else if (strcasecmp(slash + 1, "sctp") == 0)
		out->protocol = IPPROTO_SCTP;
	else
		return -EINVAL;
	return 0;
}

static void format_port(const struct port_spec *p, char out[16])
{
	const char *name = p->protocol == IPPROTO_UDP ? "UDP" :
			   p->protocol == IPPROTO_SCTP ? "SCTP" : "TCP";

	if (p->protocol == IPPROTO_ICMP)
		snprintf(out, 16, "ICMP");
	else
		snprintf(out, 16, "%u/%s", p->port, name);
}

static void add_port(struct query_args *a, const struct port_spec *p)
{
	size_t i;

	for (i = 0; i < a->nports; i++)
		if (a->ports[i].protocol == p->protocol && a->ports[i].port == p->port)
			return;
	a->ports = pw_xrealloc(a->ports, (a->nports + 1) * sizeof(*a->ports));
	a->ports[a->nports++] = *p;
}

static void explain_usage(FILE *out)
{
	fputs("Usage: podwall explain [-f PATH]... [--kubeconfig FILE] [--node-name NODE]\n"
	      "                       --from FROM --to TO --port PORT[/PROTO]\n"
	      "   or: podwall explain [OPTION]... FROM TO PORT[/PROTO]\n"
	      "Say whether the rules podwall compiles let one connection through, and why.\n"
	      "\n"
	      "  FROM, TO                NAMESPACE/POD, or an IP address (an address no pod\n"
	      "                          has is outside the cluster, as for ipBlock)\n"
	      "  PORT[/PROTO]            6379/TCP, 53/UDP, 9000/SCTP (TCP when absent), or ICMP\n"
	      "  -f, --filename=PATH     read the cluster from manifests (may be repeated)\n"
	      "      --kubeconfig=FILE   list it once from the API server instead\n"
	      "      --node-name=NODE    only NODE runs podwall: the other nodes' pods are\n"
	      "                          guarded by nothing (default: every node does)\n"
	      "  -h, --help              show this help\n"
	      "\n"
	      "The source's egress is walked through the rules its node is given, the\n"
	      "destination's ingress through its node's, pod interfaces named as Calico's\n"
	      "CNI names them; nothing is read from the kernel. Exit status: 0 allowed,\n"
	      "1 denied, 2 bad input (unknown pod or namespace, bad port, unreadable\n"
	      "manifests, unreachable API server).\n", out);
}

static void matrix_usage(FILE *out)
{
	fputs("Usage: podwall matrix [-f PATH]... [--kubeconfig FILE] [--node-name NODE]\n"
	      "                      [--port PORT[/PROTO]]... [--namespaces]\n"
	      "                      [--format text|json|csv]\n"
	      "The truth table of the rules podwall compiles: may each pod reach each other\n"
	      "pod, port by port.\n"
	      "\n"
	      "  --port=PORT[/PROTO]     a port to ask about, as for explain (may be repeated;\n"
	      "                          default: every port some pod's containers declare)\n"
	      "  --namespaces            one cell per ordered pair of namespaces: all (every\n"
	      "                          pair of distinct pods of the two is allowed), some,\n"
	      "                          or none; in text '.', '~' and 'X'\n"
	      "  --format=FORMAT         text (default): a grid per port, rows the sources,\n"
	      "                          columns the destinations, '.' allowed, 'X' blocked,\n"
	      "                          '#' the pod itself; csv: from,to,port,verdict lines;\n"
	      "                          json: the same cells as objects\n"
	      "  --family=4|6            the pods' IPv4 (default) or IPv6 addresses\n"
	      "  -f, --kubeconfig, --node-name, -h: as for podwall explain\n"
	      "\n"
	      "Pods are those with an address of that family that do not share their node's\n"
	      "network, sorted by namespace and name. Exit status: 0, or 2 on bad input.\n", out);
}

static const struct option explain_options[] = {
	{ "filename", required_argument, NULL, 'f' },
	{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
	{ "node-name", required_argument, NULL, OPT_NODE_NAME },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct option matrix_options[] = {
	{ "filename", required_argument, NULL, 'f' },
	{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
	{ "node-name", required_argument, NULL, OPT_NODE_NAME },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "namespaces", no_argument, NULL, OPT_NAMESPACES },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "family", required_argument, NULL, OPT_FAMILY },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* 0 to go on, 1 when help was printed, -1 on a usage error (said). */
static int parse_query_args(int argc, char **argv, const struct option *options,
			    void (*usage)(FILE *), struct query_args *a)
{
	struct port_spec p;
	int c;

	a->command = argv[0];
	optind = 1;
	while ((c = getopt_long(argc, argv, "f:h", options, NULL)) != -1) {
		switch (c) {
		case 'f':
			a->manifests = pw_xrealloc(a->manifests,
						   (a->nmanifests + 1) * sizeof(char *));
			a->manifests[a->nmanifests++] = optarg;
			break;
		case OPT_KUBECONFIG:
			a->kubeconfig = optarg;
			break;
		case OPT_NODE_NAME:
			a->node_name = optarg;
			break;
		case OPT_FROM:
			a->from = optarg;
			break;
		case OPT_TO:
			a->to = optarg;
			break;
		case OPT_PORT:
			if (parse_port(optarg, &p) < 0) {
				bad_input(a, "--port=%s: expected PORT[/TCP|UDP|SCTP] with PORT "
					  "from 1 to 65535, or ICMP", optarg);
				return -1;
			}
			add_port(a, &p);
			break;
		case OPT_NAMESPACES:
			a->namespaces = true;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0 &&
			    strcmp(optarg, "csv") != 0) {
				bad_input(a, "--format=%s: expected text, json or csv", optarg);
				return -1;
			}
			a->format = optarg;
			break;
		case OPT_FAMILY:
			if (strcmp(optarg, "4") != 0 && strcmp(optarg, "6") != 0) {
				bad_input(a, "--family=%s: expected 4 or 6", optarg);
				return -1;
			}
			a->family = optarg[0] == '6' ? AF_INET6 : AF_INET;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	/* explain also reads FROM TO PORT as words, for short commands. */
	if (options == explain_options && argc - optind == 3 && !a->from && !a->to &&
	    !a->nports) {
		a->from = argv[optind++];
		a->to = argv[optind++];
		if (parse_port(argv[optind], &p) < 0) {
			bad_input(a, "%s: expected PORT[/TCP|UDP|SCTP] with PORT from 1 to "
				  "65535, or ICMP", argv[optind]);
			return -1;
		}
		add_port(a, &p);
		optind++;
	}
	if (optind < argc) {
		bad_input(a, "unexpected argument \"%s\"", argv[optind]);
		return -1;
	}
	if (!a->nmanifests == !a->kubeconfig) {
		bad_input(a, "give the cluster either as -f PATH or as --kubeconfig FILE");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- loading */

static struct pw_cluster *load_manifests(const struct query_args *a)
{
	struct pw_cluster *cluster;
	struct pw_buf errors = PW_BUF_INIT, notices = PW_BUF_INIT;
	int nerrors = pw_cluster_load_manifests(a->manifests, a->nmanifests, &cluster,
						&errors, &notices);

	if (nerrors) {
		fputs(pw_buf_str(&errors), stderr);
		bad_input(a, "%d error%s in the manifests", nerrors, nerrors == 1 ? "" : "s");
		pw_cluster_free(cluster);
		cluster = NULL;
	}
	pw_buf_free(&errors);
	pw_buf_free(&notices);
	return cluster;
}

struct list_ctx {
	struct pw_cluster *cluster;
	struct pw_buf last_problem;
};

static void on_upsert(void *ctx, struct pw_object *obj)
{
	struct list_ctx *l = ctx;

	pw_cluster_upsert(l->cluster, obj);
}

static void on_remove(void *ctx, enum pw_kind kind, const char *namespace, const char *name,
		      const char *uid)
{
	struct list_ctx *l = ctx;

	(void)uid;
	pw_cluster_delete(l->cluster, kind, namespace, name);
}

static void on_synced(void *ctx, enum pw_kind kind)
{
	(void)ctx;
	(void)kind;
}

static void on_log(void *ctx, int level, const char *message)
{
	struct list_ctx *l = ctx;

	(void)level;
	pw_buf_reset(&l->last_problem);
	pw_buf_puts(&l->last_problem, message);
}

static const struct pw_reflector_ops list_ops = { on_upsert, on_remove, on_synced, on_log };


static bool all_listed(struct pw_reflector *const *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!pw_reflector_synced(r[i]))
			return false;
	return true;
}

/*
 * One list of Namespaces, Pods and NetworkPolicies through the daemon's
 * reflectors, which are dropped as soon as all three are in: no watch is
 * waited for. A server that has not answered them all by the deadline
 * counts as unreachable.
 */
static struct pw_cluster *list_from_api(const struct query_args *a)
{
	struct pw_reflector *reflectors[PW_KIND_POLICY + 1];
	struct pw_reflector_options ropt;
	struct list_ctx l = { pw_cluster_new(), PW_BUF_INIT };
	struct pw_buf err = PW_BUF_INIT;
	struct pw_k8s_config kcfg;
	struct pw_k8s_client *client = NULL;
	uint64_t deadline;
	size_t i;
	bool listed = false;

	memset(&kcfg, 0, sizeof(kcfg));
	if (pw_k8s_config_resolve(a->kubeconfig, &kcfg, &err) < 0 ||
	    !(client = pw_k8s_client_new(&kcfg, &err))) {
		bad_input(a, "API server: %s", pw_buf_str(&err));
		goto out;
	}
	pw_reflector_options_default(&ropt);
	for (i = 0; i < PW_ARRAY_SIZE(reflectors); i++) {
		reflectors[i] = pw_reflector_new(client, (enum pw_kind)i, &ropt, &list_ops, &l);
		pw_reflector_start(reflectors[i]);
	}
	deadline = pw_monotonic_ms() + LIST_DEADLINE_MS;
	while (!(listed = all_listed(reflectors, PW_ARRAY_SIZE(reflectors))) &&
	       pw_monotonic_ms() < deadline) {
		uint64_t now = pw_monotonic_ms();
		int wait = (int)(deadline - now);

		for (i = 0; i < PW_ARRAY_SIZE(reflectors); i++) {
			int t = pw_reflector_tick(reflectors[i], now);

			if (t >= 0 && t < wait)
				wait = t;
		}
		if (pw_k8s_client_wait(client, NULL, 0, wait > 200 ? 200 : wait) < 0)
			break;
		pw_k8s_client_perform(client);
	}
	for (i = 0; i < PW_ARRAY_SIZE(reflectors); i++)
		pw_reflector_free(reflectors[i]);
	if (!listed)
		bad_input(a, "API server %s: no complete list in %d s%s%s", kcfg.server,
			  LIST_DEADLINE_MS / 1000, l.last_problem.len ? ": " : "",
			  pw_buf_str(&l.last_problem));
out:
	pw_k8s_client_free(client);
	pw_k8s_config_free(&kcfg);
	pw_buf_free(&err);
	pw_buf_free(&l.last_problem);
	if (!listed) {
		pw_cluster_free(l.cluster);
		return NULL;
	}
	return l.cluster;
}

static struct pw_cluster *load_cluster(const struct query_args *a)
{
	return a->nmanifests ? load_manifests(a) : list_from_api(a);
}

/* ------------------------------------------------------------- explain */

/* NAMESPACE/POD or an address; an address a pod holds stands for that pod. */
static int resolve_end(struct pw_cluster *c, const struct query_args *a, const char *text,
		       struct pw_flow_end *out)
{
	const struct pw_pod *const *pods;
	const char *slash = strchr(text, '/');
	char ip[PW_CIDR_STRLEN];
	char *ns;
	const struct pw_cidr *addr;

	memset(out, 0, sizeof(*out));
	if (pw_ip_parse(text, &out->addr) == 0) {
		pw_cluster_index_addresses(c);
		pw_cidr_format(&out->addr, false, ip);
		if (pw_cluster_pods_at(c, ip, &pods) > 0 && pw_pod_is_addressable(pods[0]))
			out->pod = pods[0];
		return 0;
	}
	if (!slash || slash == text || !slash[1] || strchr(slash + 1, '/')) {
		bad_input(a, "%s: expected NAMESPACE/POD or an IP address", text);
		return -EINVAL;
	}
	ns = pw_xasprintf("%.*s", (int)(slash - text), text);
	out->pod = pw_cluster_pod(c, ns, slash + 1);
	if (!out->pod) {
		if (!pw_cluster_namespace(c, ns))
			bad_input(a, "%s: no namespace %s", text, ns);
		else
			bad_input(a, "%s: no pod %s in namespace %s", text, slash + 1, ns);
		free(ns);
		return -ENOENT;
	}
	free(ns);
	addr = pw_pod_ipv4(out->pod);
	if (!addr)
		addr = pw_pod_address(out->pod, AF_INET6);
	if (!addr || !pw_pod_is_addressable(out->pod)) {
		bad_input(a, "%s: the pod has no address it can be reached at", text);
		return -EINVAL;
	}
	out->addr = *addr;
	return 0;
}

/*
 * The two ends in one family: an address given says which; two pods talk
 * over the source's first family (IPv4 when it has both).
 */
static int same_family(const struct query_args *a, struct pw_flow *f)
{
	struct pw_flow_end *ends[2] = { &f->from, &f->to };
	int family = f->from.pod ? f->to.addr.family : f->from.addr.family;
	size_t i;

	if (f->from.pod && f->to.pod)
		family = f->from.addr.family;
	for (i = 0; i < 2; i++) {
		const struct pw_cidr *addr;

		if (!ends[i]->pod || ends[i]->addr.family == family)
			continue;
		addr = pw_pod_address(ends[i]->pod, family);
		if (!addr) {
			bad_input(a, "%s/%s has no IPv%d address", ends[i]->pod->namespace,
				  ends[i]->pod->name, family == AF_INET6 ? 6 : 4);
			return -EINVAL;
		}
		ends[i]->addr = *addr;
	}
	if (f->from.addr.family != f->to.addr.family) {
		bad_input(a, "%s and %s are of different address families", a->from, a->to);
		return -EINVAL;
	}
	return 0;
}

static const struct pw_policy *find_policy(const struct pw_cluster *c, const char *key)
{
	size_t i;

	for (i = 0; i < pw_cluster_policy_count(c); i++) {
		const struct pw_policy *p = pw_cluster_policy_at(c, i);
		char *name = pw_xasprintf("%s/%s", p->namespace, p->name);
		bool same = strcmp(name, key) == 0;

		free(name);
		if (same)
			return p;
	}
	return NULL;
}

static void describe_selector(struct pw_buf *out, const char *what, const struct pw_selector *s)
{
	const char *text = pw_selector_canonical(s);

	pw_buf_printf(out, "%s {%s}", what, text);
}

/* "from[1] namespaceSelector {project=x} podSelector {}, port 80/TCP" */
static void describe_rule(struct pw_buf *out, const struct pw_policy *p,
			  const struct pw_query_side *s)
{
	const struct pw_policy_rule *rule = s->allowed_ingress ? &p->ingress[s->allowed_rule]
							       : &p->egress[s->allowed_rule];
	const char *list = s->allowed_ingress ? "from" : "to";
	size_t i;

	if (s->allowed_peer == PW_ORIGIN_ANY_PEER) {
		pw_buf_printf(out, "any %s", s->allowed_ingress ? "source" : "destination");
	} else {
		const struct pw_policy_peer *peer = &rule->peers[s->allowed_peer];

		pw_buf_printf(out, "%s[%zu] ", list, s->allowed_peer);
		if (peer->ipblock) {
			char cidr[PW_CIDR_STRLEN];

			pw_cidr_format(&peer->ipblock->cidr, true, cidr);
			pw_buf_printf(out, "ipBlock %s", cidr);
			for (i = 0; i < peer->ipblock->nexcept; i++) {
				pw_cidr_format(&peer->ipblock->except[i], true, cidr);
				pw_buf_printf(out, "%s%s", i ? "," : " except ", cidr);
			}
		} else {
			if (peer->namespace_selector)
				describe_selector(out, "namespaceSelector", peer->namespace_selector);
			if (peer->namespace_selector && peer->pod_selector)
				pw_buf_puts(out, " ");
			if (peer->pod_selector)
				describe_selector(out, "podSelector", peer->pod_selector);
		}
	}
	if (rule->nports == 0) {
		pw_buf_puts(out, ", every port");
		return;
	}
	pw_buf_puts(out, ", ports");
	for (i = 0; i < rule->nports; i++) {
		const struct pw_policy_port *pp = &rule->ports[i];
		const char *proto = pp->protocol == PW_PROTO_UDP ? "UDP" :
				    pp->protocol == PW_PROTO_SCTP ? "SCTP" : "TCP";

		if (pp->kind == PW_PORT_ALL)
			pw_buf_printf(out, " every %s port", proto);
		else if (pp->kind == PW_PORT_NAMED)
			pw_buf_printf(out, " %s/%s", pp->name, proto);
		else if (pp->end_port > pp->port)
			pw_buf_printf(out, " %u-%u/%s", pp->port, pp->end_port, proto);
		else
			pw_buf_printf(out, " %u/%s", pp->port, proto);
	}
}

static void end_name(const struct pw_flow_end *e, struct pw_buf *out)
{
	char ip[PW_CIDR_STRLEN];

	pw_cidr_format(&e->addr, false, ip);
	if (e->pod)
		pw_buf_printf(out, "%s/%s (%s, node %s)", e->pod->namespace, e->pod->name, ip,
			      e->pod->node_name ? e->pod->node_name : "none");
	else
		pw_buf_printf(out, "%s (outside the cluster)", ip);
}

static void print_side(const struct pw_cluster *c, const char *direction,
		       const struct pw_flow_end *e, const struct pw_query_side *s)
{
	struct pw_buf line = PW_BUF_INIT;
	size_t i;

	pw_buf_printf(&line, "  %s of ", direction);
	if (e->pod)
		pw_buf_printf(&line, "%s/%s: ", e->pod->namespace, e->pod->name);
	else
		pw_buf_puts(&line, "an address outside the cluster: ");
	if (!s->walked) {
		pw_buf_puts(&line, e->pod ? "no podwall node guards the pod: not enforced"
					  : "not enforced");
	} else if (!s->isolated) {
		pw_buf_puts(&line, "not isolated (no policy selects it): allowed");
	} else {
		pw_buf_puts(&line, "isolated by");
		for (i = 0; i < s->npolicies; i++)
			pw_buf_printf(&line, "%s %s", i ? "," : "", s->policies[i]);
		if (s->allowed_by) {
			const struct pw_policy *p = find_policy(c, s->allowed_by);

			pw_buf_printf(&line, "\n    allowed by %s %s[%zu]", s->allowed_by,
				      s->allowed_ingress ? "ingress" : "egress", s->allowed_rule);
			if (p) {
				pw_buf_puts(&line, ": ");
				describe_rule(&line, p, s);
			}
		} else if (s->allowed) {
			pw_buf_puts(&line, "\n    allowed");
		} else {
			pw_buf_printf(&line, "\n    denied: %s", s->denied_by ? s->denied_by
									: "dropped");
		}
	}
	puts(line.data);
	pw_buf_free(&line);
}

static int run_explain(struct pw_cluster *c, const struct query_args *a)
{
	struct pw_options cfg;
	struct pw_query_answer ans;
	struct pw_buf err = PW_BUF_INIT, from = PW_BUF_INIT, to = PW_BUF_INIT;
	struct pw_query *q;
	struct pw_flow f;
	char port[16];
	int ret = PW_QUERY_EXIT_BAD_INPUT;

	memset(&f, 0, sizeof(f));
	if (resolve_end(c, a, a->from, &f.from) < 0 || resolve_end(c, a, a->to, &f.to) < 0 ||
	    same_family(a, &f) < 0)
		return PW_QUERY_EXIT_BAD_INPUT;
	f.protocol = a->ports[0].protocol;
	f.port = a->ports[0].port;
	pw_options_init(&cfg);
	q = pw_query_new(c, &cfg, a->node_name);
	if (pw_query_flow(q, &f, &ans, &err) < 0) {
		bad_input(a, "%s", pw_buf_str(&err));
		goto out;
	}
	end_name(&f.from, &from);
	end_name(&f.to, &to);
	format_port(&a->ports[0], port);
	printf("%s -> %s %s: %s\n", from.data, to.data, port, ans.allowed ? "ALLOWED" : "DENIED");
	print_side(c, "egress", &f.from, &ans.egress);
	print_side(c, "ingress", &f.to, &ans.ingress);
	ret = ans.allowed ? 0 : PW_QUERY_EXIT_DENIED;
	pw_query_answer_free(&ans);
out:
	pw_query_free(q);
	pw_options_free(&cfg);
	pw_buf_free(&err);
	pw_buf_free(&from);
	pw_buf_free(&to);
	return ret;
}

int pw_cmd_explain(int argc, char **argv)
{
	struct query_args a;
	struct pw_cluster *c;
	int ret;

	memset(&a, 0, sizeof(a));
	pw_log_set_level(PW_LOG_WARNING);
	ret = parse_query_args(argc, argv, explain_options, explain_usage, &a);
	if (ret == 0 && (!a.from || !a.to || a.nports != 1)) {
		bad_input(&a, "needs --from, --to and one --port (see --help)");
		ret = -1;
	}
	if (ret != 0) {
		free(a.manifests);
		free(a.ports);
		return ret > 0 ? 0 : PW_QUERY_EXIT_BAD_INPUT;
	}
	c = load_cluster(&a);
	ret = c ? run_explain(c, &a) : PW_QUERY_EXIT_BAD_INPUT;
	pw_cluster_free(c);
	free(a.manifests);
	free(a.ports);
	return ret;
}

/* -------------------------------------------------------------- matrix */

/* A matrix cell, and the character the text grid shows it as. */
enum cell {
	CELL_SELF = '#',
	CELL_ALLOWED = '.',
	CELL_DENIED = 'X',
	CELL_SOME = '~',	/* --namespaces: some pairs of the two allowed, not all */
};

struct matrix {
	const struct pw_pod **pods;
	size_t npods;
	char **names;			/* rows and columns: "ns/pod", or "ns" */
	size_t nnames;
	struct port_spec *ports;
	size_t nports;
	char *cells;			/* [port][row][column] */
};

static char *cell_at(const struct matrix *m, size_t port, size_t row, size_t col)
{
	return &m->cells[(port * m->nnames + row) * m->nnames + col];
}

static int cmp_port(const void *a, const void *b)
{
	const struct port_spec *x = a, *y = b;

	if (x->protocol != y->protocol)
		return x->protocol < y->protocol ? -1 : 1;
	return (int)x->port - (int)y->port;
}

static void collect_pods(const struct pw_cluster *c, int family, struct matrix *m)
{
	size_t i, n = pw_cluster_pod_count(c);

	m->pods = pw_xcalloc(n ? n : 1, sizeof(*m->pods));
	for (i = 0; i < n; i++) {
		const struct pw_pod *pod = pw_cluster_pod_at(c, i);

		if (pw_pod_is_addressable(pod) && !pod->host_network &&
		    pw_pod_address(pod, family))
			m->pods[m->npods++] = pod;
	}
}

/* Every port some pod declares, TCP first, then by number. */
static void declared_ports(struct query_args *a, const struct matrix *m)
{
	size_t i, j;

	for (i = 0; i < m->npods; i++)
		for (j = 0; j < m->pods[i]->nports; j++) {
			const struct pw_container_port *cp = &m->pods[i]->ports[j];
			struct port_spec p;

			p.port = cp->number;
			p.protocol = cp->protocol == PW_PROTO_UDP ? IPPROTO_UDP :
				     cp->protocol == PW_PROTO_SCTP ? IPPROTO_SCTP : IPPROTO_TCP;
			add_port(a, &p);
		}
	if (a->nports)	/* qsort may not be given the NULL of an empty list */
		qsort(a->ports, a->nports, sizeof(*a->ports), cmp_port);
}

static size_t name_index(const struct matrix *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->nnames; i++)
		if (strcmp(m->names[i], name) == 0)
			return i;
	return m->nnames;
}

static void add_name(struct matrix *m, char *name)
{
	if (name_index(m, name) < m->nnames) {
		free(name);
		return;
	}
	m->names = pw_xrealloc(m->names, (m->nnames + 1) * sizeof(*m->names));
	m->names[m->nnames++] = name;
}

/*
 * A namespace cell aggregates the pairs of distinct pods from the one to
 * the other: all allowed, some, or none; with no such pair (one pod
 * talking to itself) it is the pod itself.
 */
static void aggregate(char *cell, bool allowed)
{
	if (*cell == CELL_SELF)
		*cell = allowed ? CELL_ALLOWED : CELL_DENIED;
	else if ((*cell == CELL_ALLOWED) != allowed)
		*cell = CELL_SOME;
}

static int fill_matrix(struct pw_cluster *c, const struct query_args *a, struct matrix *m)
{
	struct pw_options cfg;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_query *q;
	size_t p, i, j;
	int ret = 0;

	for (i = 0; i < m->npods; i++)
		add_name(m, a->namespaces ? pw_xstrdup(m->pods[i]->namespace) :
			    pw_xasprintf("%s/%s", m->pods[i]->namespace, m->pods[i]->name));
	m->cells = pw_xcalloc(m->nports * m->nnames * m->nnames + 1, 1);
	memset(m->cells, CELL_SELF, m->nports * m->nnames * m->nnames);
	pw_options_init(&cfg);
	q = pw_query_new(c, &cfg, a->node_name);
	for (p = 0; p < m->nports && ret == 0; p++)
		for (i = 0; i < m->npods && ret == 0; i++)
			for (j = 0; j < m->npods && ret == 0; j++) {
				struct pw_query_answer ans;
				struct pw_flow f;
				size_t row = a->namespaces ? name_index(m, m->pods[i]->namespace) : i;
				size_t col = a->namespaces ? name_index(m, m->pods[j]->namespace) : j;

				if (i == j)
					continue;
				memset(&f, 0, sizeof(f));
				f.from.pod = m->pods[i];
				f.from.addr = *pw_pod_address(m->pods[i], a->family);
				f.to.pod = m->pods[j];
				f.to.addr = *pw_pod_address(m->pods[j], a->family);
				f.protocol = m->ports[p].protocol;
				f.port = m->ports[p].port;
				ret = pw_query_flow(q, &f, &ans, &err);
				if (ret < 0) {
					bad_input(a, "%s", pw_buf_str(&err));
					break;
				}
				if (a->namespaces)
					aggregate(cell_at(m, p, row, col), ans.allowed);
				else
					*cell_at(m, p, row, col) = ans.allowed ? CELL_ALLOWED
									       : CELL_DENIED;
				pw_query_answer_free(&ans);
			}
	pw_query_free(q);
	pw_options_free(&cfg);
	pw_buf_free(&err);
	return ret;
}

static const char *cell_word(const struct query_args *a, char cell)
{
	if (a->namespaces)
		return cell == CELL_ALLOWED ? "all" : cell == CELL_SOME ? "some" : "none";
	return cell == CELL_ALLOWED ? "allowed" : "denied";
}

static void print_text(const struct matrix *m)
{
	size_t p, i, j, width = 0;
	char port[16];

	for (i = 0; i < m->nnames; i++)
		if (strlen(m->names[i]) > width)
			width = strlen(m->names[i]);
	for (p = 0; p < m->nports; p++) {
		format_port(&m->ports[p], port);
		printf("%s%s\n", p ? "\n" : "", port);
		printf("%-*s", (int)width, "");
		for (j = 0; j < m->nnames; j++)
			printf(" %s", m->names[j]);
		putchar('\n');
		for (i = 0; i < m->nnames; i++) {
			printf("%-*s", (int)width, m->names[i]);
			for (j = 0; j < m->nnames; j++)
				printf(" %-*c", j + 1 < m->nnames ? (int)strlen(m->names[j]) : 1,
				       *cell_at(m, p, i, j));
			putchar('\n');
		}
	}
}

/* The cells of distinct rows and columns (a pod with itself is no flow). */
static void print_csv(const struct query_args *a, const struct matrix *m)
{
	size_t p, i, j;
	char port[16];

	puts("from,to,port,verdict");
	for (p = 0; p < m->nports; p++) {
		format_port(&m->ports[p], port);
		for (i = 0; i < m->nnames; i++)
			for (j = 0; j < m->nnames; j++) {
				char cell = *cell_at(m, p, i, j);

				if (cell != CELL_SELF)
					printf("%s,%s,%s,%s\n", m->names[i], m->names[j], port,
					       cell_word(a, cell));
			}
	}
}

/* Names are Kubernetes names (DNS labels): nothing in them needs escaping. */
static void print_json(const struct query_args *a, const struct matrix *m)
{
	size_t p, i, j;
	char port[16];
	bool first = true;

	printf("{\"%s\": [", a->namespaces ? "namespaces" : "pods");
	for (i = 0; i < m->nnames; i++)
		printf("%s\"%s\"", i ? ", " : "", m->names[i]);
	printf("],\n \"ports\": [");
	for (p = 0; p < m->nports; p++) {
		format_port(&m->ports[p], port);
		printf("%s\"%s\"", p ? ", " : "", port);
	}
	printf("],\n \"cells\": [");
	for (p = 0; p < m->nports; p++) {
		format_port(&m->ports[p], port);
		for (i = 0; i < m->nnames; i++)
			for (j = 0; j < m->nnames; j++) {
				char cell = *cell_at(m, p, i, j);

				if (cell == CELL_SELF)
					continue;
				printf("%s\n  {\"from\": \"%s\", \"to\": \"%s\", \"port\": \"%s\", "
				       "\"verdict\": \"%s\"}", first ? "" : ",", m->names[i],
				       m->names[j], port, cell_word(a, cell));
				first = false;
			}
	}
	printf("\n ]}\n");
}

static void matrix_free(struct matrix *m)
{
	size_t i;

	for (i = 0; i < m->nnames; i++)
		free(m->names[i]);
	free(m->names);
	free(m->pods);
	free(m->cells);
}

int pw_cmd_matrix(int argc, char **argv)
{
	struct query_args a;
	struct matrix m;
	struct pw_cluster *c = NULL;
	int ret;

	memset(&a, 0, sizeof(a));
	memset(&m, 0, sizeof(m));
	a.family = AF_INET;
	pw_log_set_level(PW_LOG_WARNING);
	ret = parse_query_args(argc, argv, matrix_options, matrix_usage, &a);
	if (ret != 0) {
		ret = ret > 0 ? 0 : PW_QUERY_EXIT_BAD_INPUT;
		goto out;
	}
	c = load_cluster(&a);
	ret = PW_QUERY_EXIT_BAD_INPUT;
	if (!c)
		goto out;
	collect_pods(c, a.family, &m);
	if (a.nports == 0)
		declared_ports(&a, &m);
	if (a.nports == 0) {
		bad_input(&a, "no pod declares a container port: ask with --port");
		goto out;
	}
	m.ports = a.ports;
	m.nports = a.nports;
	if (fill_matrix(c, &a, &m) < 0)
		goto out;
	if (a.format && strcmp(a.format, "csv") == 0)
		print_csv(&a, &m);
	else if (a.format && strcmp(a.format, "json") == 0)
		print_json(&a, &m);
	else
		print_text(&m);
	ret = fflush(stdout) == 0 ? 0 : PW_QUERY_EXIT_BAD_INPUT;
out:
	matrix_free(&m);
	pw_cluster_free(c);
	free(a.manifests);
	free(a.ports);
	return ret;
}
