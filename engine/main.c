/* podwall: Kubernetes NetworkPolicy for iptables-legacy nodes. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chains/ipset_kernel.h"
#include "chains/iptc_writer.h"
#include "chains/render.h"
#include "engine/apply.h"
#include "engine/bridge_nf.h"
#include "engine/cni_cache.h"
#include "engine/config_file.h"
#include "engine/daemon.h"
#include "engine/doctor.h"
#include "engine/cluster.h"
#include "engine/cmd_query.h"
#include "engine/compile.h"
#include "engine/endpoint.h"
#include "engine/nodenet.h"
#include "engine/options.h"
#include "lib/log.h"
#include "lib/xtables_lock.h"
#include "lib/util.h"

enum {
	OPT_KUBECONFIG = 256,
	OPT_NODE_NAME,
	OPT_DRY_RUN,
	OPT_ONCE,
	OPT_PREFIX,
	OPT_IFACE_PREFIX,
	OPT_ACCEPT_MARK,
	OPT_LOG_LEVEL,
	OPT_LOCK_WAIT,
	OPT_CLEANUP,
	OPT_CONFIG,
	OPT_RESYNC,
	OPT_DRIFT_CHECK,
	OPT_BATCH,
	OPT_STALL,
	OPT_INITIAL_LIST,
	OPT_PASS_MARK,
	OPT_DISCOVERY,
	OPT_CNI_CACHE,
	OPT_KEEP_SYSCTLS,
	OPT_DENY_LOG,
	OPT_DENY_LOG_GROUP,
	OPT_DENY_LOG_RATE,
	OPT_DENY_LOG_BURST,
	OPT_DENY_LOG_READER,
	OPT_METRICS_ADDRESS,
	OPT_METRICS_TEXTFILE,
	OPT_VERSION,
};

static const struct option long_options[] = {
	{ "filename", required_argument, NULL, 'f' },
	{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
	{ "node-name", required_argument, NULL, OPT_NODE_NAME },
	{ "dry-run", optional_argument, NULL, OPT_DRY_RUN },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "prefix", required_argument, NULL, OPT_PREFIX },
	{ "iface-prefix", required_argument, NULL, OPT_IFACE_PREFIX },
	{ "accept-mark", required_argument, NULL, OPT_ACCEPT_MARK },
	{ "pass-mark", required_argument, NULL, OPT_PASS_MARK },
	{ "endpoint-discovery", required_argument, NULL, OPT_DISCOVERY },
	{ "cni-cache-dir", required_argument, NULL, OPT_CNI_CACHE },
	{ "keep-sysctls", no_argument, NULL, OPT_KEEP_SYSCTLS },
	{ "deny-log", required_argument, NULL, OPT_DENY_LOG },
	{ "deny-log-group", required_argument, NULL, OPT_DENY_LOG_GROUP },
	{ "deny-log-rate", required_argument, NULL, OPT_DENY_LOG_RATE },
	{ "deny-log-burst", required_argument, NULL, OPT_DENY_LOG_BURST },
	{ "deny-log-reader", no_argument, NULL, OPT_DENY_LOG_READER },
	{ "metrics-address", required_argument, NULL, OPT_METRICS_ADDRESS },
	{ "metrics-textfile", required_argument, NULL, OPT_METRICS_TEXTFILE },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },
	{ "cleanup", no_argument, NULL, OPT_CLEANUP },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "resync-interval", required_argument, NULL, OPT_RESYNC },
	{ "drift-check-interval", required_argument, NULL, OPT_DRIFT_CHECK },
	{ "batch-window", required_argument, NULL, OPT_BATCH },
	{ "watch-stall-timeout", required_argument, NULL, OPT_STALL },
	{ "initial-list", required_argument, NULL, OPT_INITIAL_LIST },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fputs("Usage: podwall [OPTION]...\n"
	      "  or:  podwall explain|matrix [OPTION]... (see podwall explain --help)\n"
	      "  or:  podwall doctor [OPTION]... (check the node and the cluster: --help)\n"
	      "Enforce Kubernetes NetworkPolicy on this node with iptables and ipsets.\n"
	      "\n"
	      "Sources:\n"
	      "  -f, --filename=PATH     read manifests from PATH (a file, or a directory of\n"
	      "                          *.yaml, *.yml, *.json); may be repeated\n"
	      "      --kubeconfig=FILE   follow the API server (then $KUBECONFIG, then the\n"
	      "                          in-cluster service account)\n"
	      "      --node-name=NAME    this node's name (default: the hostname)\n"
	      "\n"
	      "Actions:\n"
	      "      --dry-run[=WHAT]    print what would be programmed and change nothing:\n"
	      "                          iptables (default: the IPv4 table) in iptables-save\n"
	      "                          form, ip6tables (the IPv6 table), or ipset (both\n"
	      "                          families' sets) in ipset save form\n"
	      "      --once              program the kernel once and exit\n"
	      "      --cleanup           remove every chain, rule and set podwall owns\n"
	      "\n"
	      "Finding the pods on this node:\n"
	      "      --endpoint-discovery=HOW  auto (default): host routes, then bridges, then\n"
	      "                          Calico's interface names; or only one of routes,\n"
	      "                          bridge, calico (names alone; the kernel is not read)\n"
	      "      --cni-cache-dir=DIRS  the runtime's CNI results, ':'-separated (default\n"
	      "                          /var/lib/cni/results:/var/lib/cni/cache/results)\n"
	      "      --keep-sysctls      never turn a bridge's bridge-nf switch on; a bridge\n"
	      "                          whose frames bypass iptables is then an error\n"
	      "\n"
	      "Naming:\n"
	      "      --prefix=P          prefix of podwall's chains and sets (default pw-)\n"
	      "      --iface-prefix=P    prefix of pod interfaces (default cali)\n"
	      "      --accept-mark=BIT   packet mark bit policy chains set (default 0x10000)\n"
	      "      --pass-mark=BIT     mark bit for traffic of no local pod (default 0x20000)\n"
	      "\n"
	      "Logging denied packets (NFLOG, before each isolated pod's final drop):\n"
	      "      --deny-log=WHICH    namespaces (default: pods of namespaces annotated\n"
	      "                          podwall.io/deny-log: \"true\"), all, or off\n"
	      "      --deny-log-group=N  the nfnetlink_log group, 0 to 65535 (default 42)\n"
	      "      --deny-log-rate=N/UNIT  at most this many per pod and direction, UNIT\n"
	      "                          sec, min, hour or day (default 1/sec)\n"
	      "      --deny-log-burst=N  and this many at once, 1 to 10000 (default 5)\n"
	      "      --deny-log-reader   podwall reads the group and logs a line per packet\n"
	      "                          (without it the group is left to ulogd or tcpdump)\n"
	      "\n"
	      "      --lock-wait=SECONDS wait at most this long for the xtables lock (10)\n"
	      "\n"
	      "Daemon (without -f):\n"
	      "      --config=FILE       options in YAML (default /etc/podwall/podwall.yaml;\n"
	      "                          flags win over the file; SIGHUP reads it again)\n"
	      "      --resync-interval=SECONDS  compare with the kernel and repair (60)\n"
	      "      --drift-check-interval=SECONDS  look this often for others' changes\n"
	      "                          to the filter table and repair at once (1; 0: never)\n"
	      "      --batch-window=SECONDS     coalesce changes this close together (0.005)\n"
	      "      --watch-stall-timeout=SECONDS  reopen a watch silent this long (180)\n"
	      "      --initial-list=HOW  read the state first by watch-list (default: a\n"
	      "                          stream from the API server's cache, lists where\n"
	      "                          not offered), cache (lists at resourceVersion 0)\n"
	      "                          or consistent (paged reads from etcd)\n"
	      "      --dry-run           print each new state instead of programming it\n"
	      "      --metrics-address=ADDR  serve /metrics and /healthz on HOST:PORT,\n"
	      "                          [V6]:PORT, or PORT alone for 127.0.0.1 (default off)\n"
	      "      --metrics-textfile=PATH  write the metrics there for node_exporter's\n"
	      "                          textfile collector (every 15 s, atomically)\n"
	      "      --log-level=LEVEL   err, warning, notice (default), info or debug\n"
	      "  -h, --help              show this help\n"
	      "      --version           show the version\n", out);
}

static int parse_mark(const char *text, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 0);
	if (errno || end == text || *end || v > 0xffffffffUL)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* A whole number up to max, for an option named in the message. */
static int parse_uint(const char *option, const char *text, unsigned long max,
		      unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end == text || *end || text[0] == '-' || v > max) {
		fprintf(stderr, "podwall: --%s=%s: expected a whole number from 0 to %lu\n",
			option, text, max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

/* Returns 0 to go on, 1 to exit successfully, -1 on a usage error. */
static int parse_args(int argc, char **argv, struct pw_options *cfg)
{
	unsigned ms;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:h", long_options, NULL)) != -1) {
		switch (c) {
		case 'f':
			cfg->manifests = pw_xrealloc(cfg->manifests,
						     (cfg->nmanifests + 1) * sizeof(char *));
			cfg->manifests[cfg->nmanifests++] = pw_xstrdup(optarg);
			break;
		case OPT_KUBECONFIG:
			pw_options_set_string(&cfg->kubeconfig, optarg);
			break;
		case OPT_NODE_NAME:
			pw_options_set_string(&cfg->node_name, optarg);
			break;
		case OPT_DRY_RUN:
			if (!optarg || strcmp(optarg, "iptables") == 0) {
				cfg->dry_run = PW_DRY_RUN_IPTABLES;
			} else if (strcmp(optarg, "ip6tables") == 0) {
				cfg->dry_run = PW_DRY_RUN_IP6TABLES;
			} else if (strcmp(optarg, "ipset") == 0) {
				cfg->dry_run = PW_DRY_RUN_IPSET;
			} else {
				fprintf(stderr, "podwall: --dry-run=%s: expected iptables, ip6tables "
					"or ipset\n", optarg);
				return -1;
			}
			break;
		case OPT_ONCE:
			cfg->once = true;
			break;
		case OPT_PREFIX:
			pw_options_set_string(&cfg->prefix, optarg);
			break;
		case OPT_IFACE_PREFIX:
			pw_options_set_string(&cfg->iface_prefix, optarg);
			break;
		case OPT_ACCEPT_MARK:
			if (parse_mark(optarg, &cfg->accept_mark) < 0) {
				fprintf(stderr, "podwall: --accept-mark=%s: not a number\n", optarg);
				return -1;
			}
			break;
		case OPT_PASS_MARK:
			if (parse_mark(optarg, &cfg->pass_mark) < 0) {
				fprintf(stderr, "podwall: --pass-mark=%s: not a number\n", optarg);
				return -1;
			}
			break;
		case OPT_DISCOVERY:
			if (pw_endpoint_discovery_parse(optarg, &cfg->endpoint_discovery) < 0) {
				fprintf(stderr, "podwall: --endpoint-discovery=%s: expected auto, "
					"routes, bridge or calico\n", optarg);
				return -1;
			}
			break;
		case OPT_CNI_CACHE:
			pw_options_set_string(&cfg->cni_cache_dirs, optarg);
			break;
		case OPT_KEEP_SYSCTLS:
			cfg->keep_sysctls = true;
			break;
		case OPT_INITIAL_LIST:
			if (pw_initial_list_parse(optarg, &cfg->initial_list) < 0) {
				fprintf(stderr, "podwall: --initial-list=%s: expected watch-list, "
					"cache or consistent\n", optarg);
				return -1;
			}
			break;
		case OPT_DENY_LOG:
			if (pw_deny_log_parse(optarg, &cfg->deny_log) < 0) {
				fprintf(stderr, "podwall: --deny-log=%s: expected namespaces, all "
					"or off\n", optarg);
				return -1;
			}
			break;
		case OPT_DENY_LOG_GROUP:
			if (parse_uint("deny-log-group", optarg, PW_DENY_LOG_GROUP_MAX,
				       &cfg->deny_log_group) < 0)
				return -1;
			break;
		case OPT_DENY_LOG_RATE:
			if (pw_limit_parse(optarg, &cfg->deny_log_rate,
					   &cfg->deny_log_rate_unit) < 0) {
				fprintf(stderr, "podwall: --deny-log-rate=%s: expected N/sec, "
					"N/min, N/hour or N/day with N from 1\n", optarg);
				return -1;
			}
			break;
		case OPT_DENY_LOG_BURST:
			if (parse_uint("deny-log-burst", optarg, PW_DENY_LOG_BURST_MAX,
				       &cfg->deny_log_burst) < 0)
				return -1;
			break;
		case OPT_DENY_LOG_READER:
			cfg->deny_log_reader = true;
			break;
		case OPT_METRICS_ADDRESS:
			pw_options_set_string(&cfg->metrics_address, optarg);
			break;
		case OPT_METRICS_TEXTFILE:
			pw_options_set_string(&cfg->metrics_textfile, optarg);
			break;
		case OPT_LOCK_WAIT:
			if (pw_options_parse_seconds(optarg, &cfg->lock_wait_ms) < 0) {
				fprintf(stderr, "podwall: --lock-wait=%s: not a number of seconds\n",
					optarg);
				return -1;
			}
			break;
		case OPT_CLEANUP:
			cfg->cleanup = true;
			break;
		case OPT_LOG_LEVEL:
			if (pw_log_level_parse(optarg, &cfg->log_level) < 0) {
				fprintf(stderr, "podwall: --log-level=%s: unknown level\n", optarg);
				return -1;
			}
			break;
		case OPT_CONFIG:
			break;	/* read before the other flags, in load_config_file */
		case OPT_RESYNC:
		case OPT_DRIFT_CHECK:
		case OPT_BATCH:
		case OPT_STALL:
			if (pw_options_parse_seconds(optarg, &ms) < 0) {
				fprintf(stderr, "podwall: %s: not a number of seconds\n", argv[optind - 1]);
				return -1;
			}
			if (c == OPT_BATCH)
				cfg->batch_window_ms = ms;
			else if (c == OPT_DRIFT_CHECK)
				cfg->drift_check_ms = ms;
			else if (c == OPT_RESYNC)
				cfg->resync_interval_s = ms / 1000 ? ms / 1000 : 1;
			else
				cfg->watch_stall_s = ms / 1000 ? ms / 1000 : 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case OPT_VERSION:
			puts(PACKAGE_STRING);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "podwall: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	return 0;
}

static int load_config_file(int argc, char **argv, struct pw_options *cfg)
{
	struct pw_buf err = PW_BUF_INIT;
	int ret = pw_config_file_load_for(argc, argv, cfg, &err);

	if (ret < 0)
		fprintf(stderr, "podwall: %s\n", pw_buf_str(&err));
	pw_buf_free(&err);
	return ret;
}

static void print_lines(enum pw_log_level level, const struct pw_buf *text)
{
	const char *p = pw_buf_str(text);

	while (*p) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);

		pw_log(level, "%.*s", len, p);
		p += len + (nl ? 1 : 0);
	}
}

/* All-or-nothing: one bad object and nothing is printed or programmed. */
static struct pw_cluster *load_manifests(const struct pw_options *cfg)
{
	struct pw_cluster *cluster;
	struct pw_buf errors = PW_BUF_INIT, notices = PW_BUF_INIT;
	int nerrors = pw_cluster_load_manifests(cfg->manifests, cfg->nmanifests, &cluster,
						&errors, &notices);

	print_lines(PW_LOG_NOTICE, &notices);
	print_lines(PW_LOG_ERR, &errors);
	pw_buf_free(&errors);
	pw_buf_free(&notices);
	if (nerrors) {
		pw_err("%d error%s in the manifests: nothing was changed",
		       nerrors, nerrors == 1 ? "" : "s");
		pw_cluster_free(cluster);
		return NULL;
	}
	return cluster;
}

/*
 * This node's pods as the kernel shows them. Away from the node (no such
 * routes or bridges here) the rules name interfaces as Calico's CNI would:
 * what can be known without the node, and said so.
 */
static struct pw_endpoints *observe_node(struct pw_options *cfg,
					 const struct pw_cluster *cluster)
{
	struct pw_cni_cache cni = { NULL, 0 };
	struct pw_buf msg = PW_BUF_INIT;
	struct pw_nodenet *net = NULL;
	struct pw_endpoints *eps;
	size_t i;

	if (cfg->endpoint_discovery != PW_DISCOVER_CALICO) {
		if (!pw_kernel_has_ipv6()) {
			pw_info("this kernel has no IPv6: the IPv4 table and sets alone");
			cfg->ipv6 = false;
		}
		net = pw_nodenet_open(false, &msg);
		if (!net)
			pw_warn("%s: rules name pod interfaces as Calico's CNI would",
				pw_buf_str(&msg));
		pw_buf_reset(&msg);
		if (net && cfg->endpoint_discovery != PW_DISCOVER_ROUTES &&
		    pw_cni_cache_read(cfg->cni_cache_dirs, &cni, &msg) < 0)
			pw_warn("%s", pw_buf_str(&msg));
		else if (msg.len)
			pw_debug("%s", msg.data);
	}
	eps = pw_endpoints_resolve(cluster, cfg, net ? pw_nodenet_view(net) : NULL, &cni, NULL);
	for (i = 0; i < eps->count; i++) {
		pw_buf_reset(&msg);
		pw_endpoint_describe(&eps->items[i], &msg);
		pw_info("%s", msg.data);
	}
	if (eps->looked && eps->by_name)
		pw_notice("%zu of %zu pods of node %s are in none of this host's routes or "
			  "bridges: their rules name the interfaces Calico's CNI would give them",
			  eps->by_name, eps->count, cfg->node_name);
	if (eps->conflicts)
		pw_warn("%zu interface or bridge port claims were ambiguous and left unbound "
			"(--log-level=info shows each pod)", eps->conflicts);
	pw_cni_cache_free(&cni);
	pw_nodenet_close(net);
	pw_buf_free(&msg);
	return eps;
}

/*
 * Bridged frames must reach iptables. Returns false when some bridge's
 * pods are not enforced, each reason logged.
 */
static bool check_bridges(const struct pw_options *cfg, const struct pw_endpoints *eps)
{
	struct pw_buf changes = PW_BUF_INIT, problems = PW_BUF_INIT;
	bool dry = cfg->dry_run != PW_DRY_RUN_OFF;
	int off;

	off = pw_bridge_nf_check_all(eps, cfg->ipv6, !dry && !cfg->keep_sysctls, &changes,
				     &problems);
	print_lines(PW_LOG_NOTICE, &changes);
	if (off && dry) {
		print_lines(PW_LOG_NOTICE, &problems);
		if (!cfg->keep_sysctls)
			pw_notice("--once would turn the switches on");
	} else if (off) {
		print_lines(PW_LOG_ERR, &problems);
	}
	pw_buf_free(&changes);
	pw_buf_free(&problems);
	return off == 0;
}

static int dry_run(const struct pw_options *cfg, const struct pw_dataplane *dp)
{
	struct pw_buf out = PW_BUF_INIT;
	int ret = 0;

	if (cfg->dry_run == PW_DRY_RUN_IPSET)
		pw_render_sets(dp->sets, &out);
	else if (cfg->dry_run == PW_DRY_RUN_IP6TABLES && dp->filter6)
		pw_render_table(dp->filter6, &out);
	else if (cfg->dry_run == PW_DRY_RUN_IPTABLES)
		pw_render_table(dp->filter, &out);
	else
		pw_notice("this host has no IPv6: nothing would be programmed in ip6tables");
	if (fwrite(pw_buf_str(&out), 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		pw_err("writing the dry-run output: %s", strerror(errno));
		ret = -EIO;
	}
	pw_buf_free(&out);
	return ret;
}

/*
 * Programs dp; *enforced turns false when this node's pods have IPv6
 * addresses that the kernel gave podwall no IPv6 table to guard.
 */
static int program(const struct pw_options *cfg, const struct pw_dataplane *dp,
		   const struct pw_endpoints *eps, bool *enforced)
{
	struct pw_buf msg = PW_BUF_INIT;
	struct pw_apply_stats stats;
	int ret = pw_apply(dp, cfg, &stats, &msg);

	if (ret < 0) {
		pw_err("programming the kernel: %s", pw_buf_str(&msg));
	} else {
		pw_buf_reset(&msg);
		pw_apply_stats_format(&stats, &msg);
		pw_info("%s", msg.data);
	}
	if (ret == 0 && stats.ipv6_missing && pw_endpoints_have_ipv6(eps)) {
		pw_err("%s: the IPv6 addresses of this node's pods are not enforced",
		       stats.ipv6_why);
		*enforced = false;
	} else if (ret == 0 && stats.ipv6_missing) {
		pw_notice("%s: no pod of this node has an IPv6 address; IPv6 left as it is",
			  stats.ipv6_why);
	}
	pw_buf_free(&msg);
	return ret;
}

/* Chains and jumps first: a set cannot go while a rule still names it. */
static int cleanup(const struct pw_options *cfg)
{
	struct pw_dataplane empty;
	struct pw_buf msg = PW_BUF_INIT;
	struct pw_xtables_lock *lock = NULL;
	struct pw_ipset_kernel *k = NULL;
	struct pw_setlist *current = NULL;
	struct pw_apply_stats stats;
	int ret;

	memset(&empty, 0, sizeof(empty));
	empty.sets = pw_setlist_new();
	memset(&stats, 0, sizeof(stats));
	ret = pw_xtables_lock_acquire(cfg->lock_wait_ms, &lock, &msg);
	if (ret == 0)
		ret = pw_iptc_remove_all("filter", AF_INET, cfg->prefix, &stats.rules, &msg);
	/* A kernel without an IPv6 table holds nothing of podwall's there. */
	if (ret == 0 && cfg->ipv6) {
		ret = pw_iptc_remove_all("filter", AF_INET6, cfg->prefix, &stats.rules6, &msg);
		if (ret == -EAFNOSUPPORT) {
			pw_buf_reset(&msg);
			ret = 0;
		}
	}
	if (ret == 0 && !(k = pw_ipset_kernel_open(&msg)))
		ret = -EPERM;
	if (ret == 0)
		ret = pw_ipset_kernel_list(k, cfg->prefix, &current, &msg);
	if (ret == 0)
		ret = pw_ipset_kernel_destroy_stale(k, current, empty.sets, &stats.sets, &msg);
	if (lock)
		pw_xtables_lock_release(lock);
	if (ret < 0)
		pw_err("cleanup: %s", pw_buf_str(&msg));
	else
		pw_info("cleanup: %u chains and %u sets removed",
			stats.rules.chains_deleted + stats.rules6.chains_deleted,
			stats.sets.destroyed);
	pw_ipset_kernel_close(k);
	pw_setlist_free(current);
	pw_setlist_free(empty.sets);
	pw_buf_free(&msg);
	return ret;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* volatile: a store nothing reads would be optimised away, and the pointer with it. */
static struct pw_cluster *volatile left_at_exit;

int main(int argc, char **argv)
{
	uint64_t t0, t1, t2;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_dataplane *dp = NULL;
	struct pw_cluster *cluster = NULL;
	struct pw_endpoints *endpoints = NULL;
	struct pw_options cfg;
	int ret = EXIT_FAILURE;
	bool enforced;

	/* The query commands read no configuration file and touch no kernel. */
	if (argc > 1 && strcmp(argv[1], "explain") == 0)
		return pw_cmd_explain(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "matrix") == 0)
		return pw_cmd_matrix(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "doctor") == 0)
		return pw_doctor_main(argc - 1, argv + 1);
	pw_options_init(&cfg);
	if (load_config_file(argc, argv, &cfg) < 0)
		goto out;
	switch (parse_args(argc, argv, &cfg)) {
	case 1:
		ret = EXIT_SUCCESS;
		goto out;
	case -1:
		goto out;
	}
	pw_log_set_level(cfg.log_level);
	if (pw_options_validate(&cfg, &err) < 0) {
		pw_err("%s", err.data);
		goto out;
	}
	if (cfg.cleanup) {
		ret = cleanup(&cfg) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
		goto out;
	}
	if (cfg.nmanifests == 0) {
		if (cfg.once) {
			pw_err("--once needs -f: the daemon follows the API server instead");
			goto out;
		}
		ret = pw_daemon_run(&cfg) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
		goto out;
	}
	if (cfg.dry_run == PW_DRY_RUN_OFF && !cfg.once) {
		pw_err("-f needs --once or --dry-run: the daemon follows the API server");
		goto out;
	}
	t0 = now_us();
	cluster = load_manifests(&cfg);
	if (!cluster)
		goto out;
	t1 = now_us();
	endpoints = observe_node(&cfg, cluster);
	enforced = check_bridges(&cfg, endpoints);
	dp = pw_compile(cluster, endpoints, &cfg);
	t2 = now_us();
	if (cfg.dry_run != PW_DRY_RUN_OFF) {
		ret = dry_run(&cfg, dp) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	} else {
		ret = program(&cfg, dp, endpoints, &enforced) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
		/* The rules are in, but some pods' traffic goes around them. */
		if (ret == EXIT_SUCCESS && !enforced) {
			pw_err("programmed, but not enforced on node %s: see above", cfg.node_name);
			ret = EXIT_FAILURE;
		}
	}
	pw_debug("timing: parse=%.1fms compile=%.1fms %s=%.1fms",
		 (t1 - t0) / 1000.0, (t2 - t1) / 1000.0,
		 cfg.dry_run != PW_DRY_RUN_OFF ? "render" : "program", (now_us() - t2) / 1000.0);
	/*
	 * A one-shot run leaves its cluster to the kernel: 150k pods are some
	 * three million allocations, and freeing them one by one took 0.6 s,
	 * a fifth of the run. It stays reachable from left_at_exit, so
	 * valgrind and LeakSanitizer count nothing lost; the daemon frees
	 * its objects as they go, and its tests hold it to that.
	 */
	left_at_exit = cluster;
	cluster = NULL;
out:
	pw_dataplane_free(dp);
	pw_endpoints_free(endpoints);
	pw_cluster_free(cluster);
	pw_options_free(&cfg);
	pw_buf_free(&err);
	return ret;
}
