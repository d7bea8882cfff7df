/*
 * "podwall doctor": the command around engine/doctor.c's checks. It reads
 * the same configuration file as the daemon (flags win), the cluster's
 * pods from -f or the API, asks the API whether podwall may list and watch
 * what it needs, and asks a running daemon whether it enforces.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/cluster.h"
#include "engine/cni_cache.h"
#include "engine/config_file.h"
#include "engine/doctor.h"
#include "engine/options.h"
#include "k8s/client.h"
#include "k8s/kubeconfig.h"
#include "k8s/watch.h"
#include "lib/strmap.h"
#include "lib/util.h"

enum {
	OPT_KUBECONFIG = 256,
	OPT_NODE_NAME,
	OPT_CNI_CACHE,
	OPT_FORMAT,
	OPT_CONFIG,
	OPT_LOCK_WAIT,
	OPT_SERVICE_CIDR,
	OPT_METRICS_ADDRESS,
	OPT_API_TIMEOUT,
};

static const struct option doctor_options[] = {
	{ "filename", required_argument, NULL, 'f' },
	{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
	{ "node-name", required_argument, NULL, OPT_NODE_NAME },
	{ "cni-cache-dir", required_argument, NULL, OPT_CNI_CACHE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "lock-wait", required_argument, NULL, OPT_LOCK_WAIT },
	{ "service-cidr", required_argument, NULL, OPT_SERVICE_CIDR },
	{ "metrics-address", required_argument, NULL, OPT_METRICS_ADDRESS },
	{ "api-timeout", required_argument, NULL, OPT_API_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void doctor_usage(FILE *out)
{
	fputs("Usage: podwall doctor [OPTION]...\n"
	      "Check this node (its network namespace) and the cluster for podwall: one line\n"
	      "per check, OK, WARN or FAIL, what was seen and the fix. Exit status 1 when a\n"
	      "check fails, 0 otherwise, 2 on a usage error.\n"
	      "\n"
	      "  -f, --filename=PATH     the cluster's pods from manifests (may be repeated)\n"
	      "      --kubeconfig=FILE   the API server (then $KUBECONFIG, then in-cluster);\n"
	      "                          without -f the API is checked and its pods read\n"
	      "      --node-name=NAME    this node's name (default: the hostname)\n"
	      "      --cni-cache-dir=DIRS  the runtime's CNI results (as the daemon's)\n"
	      "      --config=FILE       the daemon's options (default /etc/podwall/podwall.yaml)\n"
	      "      --lock-wait=SECONDS how long the xtables lock may take (default 10)\n"
	      "      --service-cidr=CIDR the service range, compared with the pods' addresses\n"
	      "      --metrics-address=ADDR  the daemon's listener, asked for /healthz\n"
	      "      --api-timeout=SECONDS   each API request's limit (default 10)\n"
	      "      --format=FORMAT     text (default) or json\n"
	      "  -h, --help              show this help\n", out);
}

struct doctor_args {
	struct pw_options opt;
	bool json;
	bool have_service_cidr;
	struct pw_cidr service_cidr;
	unsigned api_timeout_s;
};

/* 0 to go on, 1 for --help, -1 on a usage error. */
static int parse_doctor_args(int argc, char **argv, struct doctor_args *a)
{
	unsigned ms;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:h", doctor_options, NULL)) != -1) {
		switch (c) {
		case 'f':
			a->opt.manifests = pw_xrealloc(a->opt.manifests,
						       (a->opt.nmanifests + 1) * sizeof(char *));
			a->opt.manifests[a->opt.nmanifests++] = pw_xstrdup(optarg);
			break;
		case OPT_KUBECONFIG:
			pw_options_set_string(&a->opt.kubeconfig, optarg);
			break;
		case OPT_NODE_NAME:
			pw_options_set_string(&a->opt.node_name, optarg);
			break;
		case OPT_CNI_CACHE:
			pw_options_set_string(&a->opt.cni_cache_dirs, optarg);
			break;
		case OPT_METRICS_ADDRESS:
			pw_options_set_string(&a->opt.metrics_address, optarg);
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				fprintf(stderr, "podwall doctor: --format=%s: expected text or json\n",
					optarg);
				return -1;
			}
			a->json = strcmp(optarg, "json") == 0;
			break;
		case OPT_CONFIG:
			break;	/* read first, in load_doctor_config */
		case OPT_LOCK_WAIT:
		case OPT_API_TIMEOUT:
			if (pw_options_parse_seconds(optarg, &ms) < 0) {
				fprintf(stderr, "podwall doctor: --%s=%s: not a number of seconds\n",
					c == OPT_LOCK_WAIT ? "lock-wait" : "api-timeout", optarg);
				return -1;
			}
			if (c == OPT_LOCK_WAIT)
				a->opt.lock_wait_ms = ms;
			else
				a->api_timeout_s = ms / 1000 ? ms / 1000 : 1;
			break;
		case OPT_SERVICE_CIDR:
			if (pw_cidr_parse(optarg, &a->service_cidr) < 0) {
				fprintf(stderr, "podwall doctor: --service-cidr=%s: not a CIDR\n",
					optarg);
				return -1;
			}
			pw_cidr_mask(&a->service_cidr);
			a->have_service_cidr = true;
			break;
		case 'h':
			doctor_usage(stdout);
			return 1;
		default:
			doctor_usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "podwall doctor: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	if (a->opt.nmanifests && a->opt.kubeconfig) {
		fprintf(stderr, "podwall doctor: -f and --kubeconfig: the pods come from one or "
			"the other\n");
		return -1;
	}
	return 0;
}

static int load_doctor_config(int argc, char **argv, struct pw_options *opt)
{
	struct pw_buf err = PW_BUF_INIT;
	int ret = pw_config_file_load_for(argc, argv, opt, &err);

	if (ret < 0)
		fprintf(stderr, "podwall doctor: %s\n", pw_buf_str(&err));
	pw_buf_free(&err);
	return ret;
}

/* ------------------------------------------------------------- the API */

struct api_call {
	bool done, keep_body;
	int error;
	long status;
	struct pw_buf body;
	char *message;
};

static bool api_data(void *ctx, const char *data, size_t len)
{
	struct api_call *call = ctx;

	if (call->keep_body)
		pw_buf_add(&call->body, data, len);
	return true;
}

static void api_done(void *ctx, const struct pw_k8s_response *resp)
{
	struct api_call *call = ctx;

	call->done = true;
	call->error = resp->error;
	call->status = resp->status;
	if (resp->error)
		call->message = pw_xstrdup(resp->message);
	else if (resp->status != 200)
		call->message = pw_xstrdup(resp->body);
}

static const struct pw_k8s_request_ops api_ops = { api_data, api_done };

/* One GET, waited for. */
static void api_get(struct pw_k8s_client *c, const char *path, unsigned timeout_s,
		    bool keep_body, struct api_call *call)
{
	struct pw_k8s_request_options ro = { timeout_s, timeout_s + 5 };

	memset(call, 0, sizeof(*call));
	call->keep_body = keep_body;
	pw_k8s_request_start(c, path, &ro, &api_ops, call);
	while (!call->done) {
		if (pw_k8s_client_wait(c, NULL, 0, 200) < 0 || pw_k8s_client_perform(c) < 0)
			break;
	}
	if (!call->done) {
		call->error = -EIO;
		call->message = pw_xstrdup("the client's loop failed");
	}
}

static void api_call_free(struct api_call *call)
{
	pw_buf_free(&call->body);
	free(call->message);
}

/* The Status body's "message" (its escapes undone), or the body itself, on one line. */
static char *status_message(const char *body)
{
	const char *m = strstr(body, "\"message\":\"");
	struct pw_buf out = PW_BUF_INIT;
	const char *p;

	if (!m) {
		pw_buf_puts(&out, body);
	} else {
		for (p = m + 11; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			pw_buf_putc(&out, *p);
		}
	}
	for (p = pw_buf_str(&out); *p; p++)
		if (*p == '\n')
			out.data[p - out.data] = ' ';
	return pw_buf_steal(&out);
}

static const struct {
	const char *name;
	const char *path;
	enum pw_kind kind;
} api_resources[] = {
	{ "pods", "/api/v1/pods", PW_KIND_POD },
	{ "namespaces", "/api/v1/namespaces", PW_KIND_NAMESPACE },
	{ "networkpolicies", "/apis/networking.k8s.io/v1/networkpolicies", PW_KIND_POLICY },
};

static void store_pod(struct pw_object *obj, void *ctx)
{
	pw_cluster_upsert(ctx, obj);
}

static void skip_bad(const char *why, void *ctx)
{
}

#define RBAC_FIX "grant the node's identity list and watch on pods and namespaces (\"\") and " \
	"networkpolicies (networking.k8s.io): kubectl apply -f systemd/rbac.yaml"

/*
 * Lists each resource (limit=1) and opens a watch (closed by the server
 * after a second), then reads every pod for the address check. Returns
 * the pods, or NULL when the API cannot be asked.
 */
struct service_ips {
	struct pw_cidr *items;
	size_t count, cap;
};

static void add_service_ip(const struct pw_cidr *ip, void *ctx)
{
	struct service_ips *s = ctx;

	PW_GROW(s->items, s->cap, s->count + 1);
	s->items[s->count++] = *ip;
}

static struct pw_cluster *check_api(struct pw_doctor_report *r, const struct doctor_args *a,
				    struct service_ips *services)
{
	struct pw_k8s_config kcfg;
	struct pw_buf err = PW_BUF_INIT, denied = PW_BUF_INIT;
	struct pw_k8s_client *c = NULL;
	struct pw_cluster *cluster = NULL;
	struct api_call call;
	size_t i;

	memset(&kcfg, 0, sizeof(kcfg));
	if (pw_k8s_config_resolve(a->opt.kubeconfig, &kcfg, &err) < 0 ||
	    !(c = pw_k8s_client_new(&kcfg, &err))) {
		pw_doctor_add(r, PW_DOCTOR_FAIL, "api", "give --kubeconfig (or $KUBECONFIG), or "
			      "run in a pod with a service account", "no API configuration: %s",
			      pw_buf_str(&err));
		goto out;
	}
	for (i = 0; i < PW_ARRAY_SIZE(api_resources); i++) {
		const char *verbs[2] = { "list", "watch" };
		char *path[2];
		int v;

		path[0] = pw_xasprintf("%s?limit=1", api_resources[i].path);
		path[1] = pw_xasprintf("%s?watch=1&timeoutSeconds=1", api_resources[i].path);
		for (v = 0; v < 2; v++) {
			char *m;

			api_get(c, path[v], a->api_timeout_s, false, &call);
			if (call.error) {
				pw_doctor_add(r, PW_DOCTOR_FAIL, "api",
					      "check the server address, the network path and the "
					      "certificates of the kubeconfig",
					      "%s: %s", kcfg.server, call.message);
				api_call_free(&call);
				free(path[0]);
				free(path[1]);
				goto out;
			}
			if (call.status != 200) {
				m = status_message(call.message ? call.message : "");
				pw_buf_printf(&denied, "%s%s %s: %ld %s", denied.len ? "; " : "",
					      verbs[v], api_resources[i].name, call.status, m);
				free(m);
			}
			api_call_free(&call);
		}
		free(path[0]);
		free(path[1]);
	}
	if (denied.len)
		pw_doctor_add(r, PW_DOCTOR_FAIL, "api-rbac", RBAC_FIX, "%s", denied.data);
	else
		pw_doctor_add(r, PW_DOCTOR_OK, "api-rbac", NULL,
			      "%s: list and watch allowed on pods, namespaces, networkpolicies",
			      kcfg.server);
	api_get(c, "/api/v1/pods", a->api_timeout_s, true, &call);
	if (!call.error && call.status == 200) {
		char *rv = NULL, *cont = NULL;

		cluster = pw_cluster_new();
		pw_buf_reset(&err);
		if (pw_list_decode(call.body.data ? call.body.data : "", call.body.len, PW_KIND_POD,
				   store_pod, skip_bad, cluster, &rv, &cont, &err) < 0) {
			pw_cluster_free(cluster);
			cluster = NULL;
		}
		free(rv);
		free(cont);
	}
	api_call_free(&call);
	/* The service range, from what Services have (podwall itself never asks). */
	api_get(c, "/api/v1/services", a->api_timeout_s, true, &call);
	if (!call.error && call.status == 200) {
		pw_service_list_cluster_ips(pw_buf_str(&call.body), add_service_ip, services);
	}
	api_call_free(&call);
out:
	pw_k8s_client_free(c);
	pw_k8s_config_free(&kcfg);
	pw_buf_free(&err);
	pw_buf_free(&denied);
	return cluster;
}

static struct pw_cluster *load_pods(struct pw_doctor_report *r, const struct doctor_args *a)
{
	struct pw_cluster *cluster;
	struct pw_buf errors = PW_BUF_INIT, notices = PW_BUF_INIT;
	int n = pw_cluster_load_manifests(a->opt.manifests, a->opt.nmanifests, &cluster,
					  &errors, &notices);

	if (n)
		pw_doctor_add(r, PW_DOCTOR_FAIL, "manifests", "correct the manifests",
			      "%d error%s: %.*s", n, n == 1 ? "" : "s",
			      (int)strcspn(pw_buf_str(&errors), "\n"), pw_buf_str(&errors));
	pw_buf_free(&errors);
	pw_buf_free(&notices);
	return cluster;
}

/* ----------------------------------------------------------- the daemon */

/* HOST:PORT, [V6]:PORT or PORT, as the daemon takes it, to a URL of /healthz. */
static char *healthz_url(const char *address)
{
	const char *colon = strrchr(address, ':');

	if (!colon)
		return pw_xasprintf("http://127.0.0.1:%s/healthz", address);
	if (strncmp(address, "0.0.0.0:", 8) == 0)
		return pw_xasprintf("http://127.0.0.1%s/healthz", colon);
	if (strncmp(address, "[::]:", 5) == 0)
		return pw_xasprintf("http://[::1]%s/healthz", colon);
	return pw_xasprintf("http://%s/healthz", address);
}

static size_t collect_body(char *data, size_t size, size_t n, void *ctx)
{
	pw_buf_add(ctx, data, size * n);
	return size * n;
}

static void check_healthz(struct pw_doctor_report *r, const char *address)
{
	struct pw_buf body = PW_BUF_INIT;
	char *url = healthz_url(address);
	CURL *easy = curl_easy_init();
	long status = 0;
	CURLcode rc;

	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, 5L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &body);
	rc = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	while (body.len && body.data[body.len - 1] == '\n')
		body.data[--body.len] = '\0';
	if (rc != CURLE_OK)
		pw_doctor_add(r, PW_DOCTOR_FAIL, "daemon", "start podwall (systemctl start podwall) "
			      "or correct metrics-address", "%s: %s", url, curl_easy_strerror(rc));
	else if (status == 200)
		pw_doctor_add(r, PW_DOCTOR_OK, "daemon", NULL, "%s: %s", url, pw_buf_str(&body));
	else
		pw_doctor_add(r, PW_DOCTOR_FAIL, "daemon", "see the daemon's log (journalctl -u "
			      "podwall)", "%s: %ld %s", url, status, pw_buf_str(&body));
	curl_easy_cleanup(easy);
	free(url);
	pw_buf_free(&body);
}

/* systemd's STATUS= of the unit, which the daemon keeps saying what it does. */
static void check_unit_status(struct pw_doctor_report *r)
{
	static const char *const dirs[] = { "/usr/bin/systemctl", "/bin/systemctl" };
	char line[512] = "";
	const char *systemctl = NULL;
	size_t i, len;
	FILE *p;

	for (i = 0; i < PW_ARRAY_SIZE(dirs); i++)
		if (access(dirs[i], X_OK) == 0)
			systemctl = dirs[i];
	if (!systemctl || access("/run/systemd/system", F_OK) != 0) {
		pw_doctor_add(r, PW_DOCTOR_OK, "daemon", NULL,
			      "not running under systemd here, and no metrics-address to ask");
		return;
	}
	snprintf(line, sizeof(line), "%s show -p ActiveState -p StatusText podwall 2>/dev/null",
		 systemctl);
	p = popen(line, "r");
	if (!p) {
		pw_doctor_add(r, PW_DOCTOR_WARN, "daemon", NULL, "cannot run systemctl");
		return;
	}
	{
		char active[64] = "", status[512] = "";

		while (fgets(line, sizeof(line), p)) {
			len = strlen(line);
			if (len && line[len - 1] == '\n')
				line[--len] = '\0';
			if (strncmp(line, "ActiveState=", 12) == 0)
				snprintf(active, sizeof(active), "%.63s", line + 12);
			else if (strncmp(line, "StatusText=", 11) == 0)
				snprintf(status, sizeof(status), "%.500s", line + 11);
		}
		pclose(p);
		if (strcmp(active, "active") != 0)
			pw_doctor_add(r, PW_DOCTOR_WARN, "daemon",
				      "systemctl enable --now podwall",
				      "the podwall unit is %s: no policy is enforced",
				      active[0] ? active : "unknown");
		else if (strstr(status, "not enforcing"))
			pw_doctor_add(r, PW_DOCTOR_FAIL, "daemon", "see journalctl -u podwall",
				      "podwall.service: %s", status);
		else
			pw_doctor_add(r, PW_DOCTOR_OK, "daemon", NULL, "podwall.service: %s",
				      status[0] ? status : "active");
	}
}

/* ------------------------------------------------------------- the run */

/* The host-side interfaces of the runtime's CNI results (values unused). */
static struct pw_strmap *cni_ifaces(const char *dirs)
{
	struct pw_cni_cache cni = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	struct pw_strmap *names = pw_strmap_new();
	size_t i, j;

	if (pw_cni_cache_read(dirs, &cni, &notes) > 0)
		for (i = 0; i < cni.count; i++)
			for (j = 0; j < cni.items[i].nhost_ifaces; j++)
				pw_strmap_put(names, cni.items[i].host_ifaces[j], names);
	pw_cni_cache_free(&cni);
	pw_buf_free(&notes);
	return names;
}

static const char *lock_path(void)
{
	const char *p = getenv("XTABLES_LOCKFILE");

	return p && *p ? p : "/run/xtables.lock";
}

int pw_doctor_main(int argc, char **argv)
{
	struct pw_doctor_report *r = NULL;
	struct pw_cluster *cluster = NULL;
	struct pw_doctor_env env;
	struct pw_buf out = PW_BUF_INIT;
	struct service_ips services = { NULL, 0, 0 };
	struct pw_strmap *cni = NULL;
	struct doctor_args a;
	int ret = 2;

	memset(&a, 0, sizeof(a));
	pw_options_init(&a.opt);
	a.api_timeout_s = 10;
	if (load_doctor_config(argc, argv, &a.opt) < 0)
		goto out;
	switch (parse_doctor_args(argc, argv, &a)) {
	case 1:
		ret = 0;
		goto out;
	case -1:
		goto out;
	}
	r = pw_doctor_report_new();
	if (a.opt.nmanifests)
		cluster = load_pods(r, &a);
	else
		cluster = check_api(r, &a, &services);

	memset(&env, 0, sizeof(env));
	env.lock_path = lock_path();
	env.lock_wait_ms = a.opt.lock_wait_ms;
	env.deny_log = a.opt.deny_log != PW_DENY_LOG_OFF;
	env.nm_run_dir = "/run/NetworkManager";
	env.nm_conf = "/etc/NetworkManager/NetworkManager.conf";
	env.nm_conf_dir = "/etc/NetworkManager/conf.d";
	env.cluster = cluster;
	env.node_name = a.opt.node_name;
	cni = cni_ifaces(a.opt.cni_cache_dirs);
	env.cni_ifaces = cni;
	env.service_cidr = a.have_service_cidr ? &a.service_cidr : NULL;
	env.service_ips = services.items;
	env.nservice_ips = services.count;

	pw_doctor_check_kube_proxy(r);
	pw_doctor_check_backends(r);
	pw_doctor_check_bridges(r, &env);
	pw_doctor_check_sysctls(r, &env);
	pw_doctor_check_kernel_features(r, &env);
	pw_doctor_check_xtables_lock(r, &env);
	pw_doctor_check_network_manager(r, &env);
	pw_doctor_check_addresses(r, &env);
	if (a.opt.metrics_address && *a.opt.metrics_address)
		check_healthz(r, a.opt.metrics_address);
	else
		check_unit_status(r);

	if (a.json)
		pw_doctor_format_json(r, &out);
	else
		pw_doctor_format_text(r, &out);
	fwrite(pw_buf_str(&out), 1, out.len, stdout);
	ret = fflush(stdout) != 0 || pw_doctor_worst(r) == PW_DOCTOR_FAIL ? 1 : 0;
out:
	pw_doctor_report_free(r);
	pw_cluster_free(cluster);
	free(services.items);
	pw_strmap_free(cni);
	pw_options_free(&a.opt);
	pw_buf_free(&out);
	return ret;
}
