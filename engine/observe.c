/*
 * The daemon's metrics and denied-packet lines. Everything counted as it
 * happens (applies, commits, lines) lives in the registry; everything that
 * is a state (objects known, chains programmed, drop counters) is read
 * afresh at each render, so a scrape always sees the present and nothing
 * has to be kept in step with the daemon.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "chains/ipset.h"
#include "chains/iptc_writer.h"
#include "chains/table.h"
#include "engine/metrics.h"
#include "engine/observe.h"
#include "lib/log.h"
#include "lib/strmap.h"
#include "selectors/selector.h"

/* A local pod's chain in one direction, as its drop counters and NFLOG prefix name it. */
struct local_end {
	char *namespace;
	char *pod;
	bool ingress;
	bool counted;		/* a final drop of its was read this render */
	unsigned long long packets, bytes;
};

struct pw_observer {
	struct pw_metrics *m;
	struct pw_metric_family *build_info, *enforcing, *last_success;
	struct pw_metric_family *apply_seconds, *compile_seconds;
	struct pw_metric_family *applies, *commits, *member_changes, *drift_repairs;
	struct pw_metric_family *watch_restarts, *relists, *refused;
	struct pw_metric_family *objects, *endpoints, *chains, *rules, *set_members;
	struct pw_metric_family *denied_packets, *denied_bytes;
	struct pw_metric_family *log_lines, *log_suppressed, *nflog_overruns;

	/* By chain name and by NFLOG prefix, for endpoints_generation. */
	struct pw_strmap *by_chain;
	struct pw_strmap *by_prefix;
	struct local_end *ends;
	size_t nends;
	unsigned generation;
	bool mapped;

	struct pw_ratelimit lines;
};

static const char *const kind_names[] = { "namespace", "pod", "networkpolicy" };
static const char *const family_names[] = { "ipv4", "ipv6" };

struct pw_observer *pw_observer_new(void)
{
	static const double buckets[] = PW_METRICS_DURATION_BUCKETS;
	struct pw_observer *o = pw_xcalloc(1, sizeof(*o));
	struct pw_metrics *m = pw_metrics_new();

	o->m = m;
	o->build_info = pw_metrics_gauge(m, "podwall_build_info",
					 "podwall's version; always 1.", PW_LABELS("version"));
	o->enforcing = pw_metrics_gauge(m, "podwall_enforcing",
		"1 when every local pod's traffic of the family reaches podwall's rules "
		"and the last apply went through.", PW_LABELS("family"));
	o->last_success = pw_metrics_gauge(m, "podwall_last_apply_success_timestamp_seconds",
		"When an apply last went through (Unix time).", NULL);
	o->apply_seconds = pw_metrics_histogram(m, "podwall_apply_duration_seconds",
		"How long an apply took, from the cluster's change to the kernel's commit.",
		NULL, buckets, PW_ARRAY_SIZE(buckets));
	o->compile_seconds = pw_metrics_histogram(m, "podwall_compile_duration_seconds",
		"How long compiling the policies into chains and sets took.",
		NULL, buckets, PW_ARRAY_SIZE(buckets));
	o->applies = pw_metrics_counter(m, "podwall_applies_total",
		"Applies, by result (ok or error).", PW_LABELS("result"));
	o->commits = pw_metrics_counter(m, "podwall_iptables_commits_total",
		"Commits of the filter table, per family.", PW_LABELS("family"));
	o->member_changes = pw_metrics_counter(m, "podwall_ipset_member_changes_total",
		"ipset members added (op=add) and deleted (op=del).", PW_LABELS("op"));
	o->drift_repairs = pw_metrics_counter(m, "podwall_drift_repairs_total",
		"Comparisons with the kernel that found something else had changed "
		"podwall's chains or sets, and put them back.", NULL);
	o->watch_restarts = pw_metrics_counter(m, "podwall_watch_restarts_total",
		"Watches reopened from their resourceVersion, per resource.",
		PW_LABELS("resource"));
	o->relists = pw_metrics_counter(m, "podwall_relists_total",
		"States read again after the first, by list or watch-list (a watch expired: 410 Gone), per resource.",
		PW_LABELS("resource"));
	o->refused = pw_metrics_counter(m, "podwall_refused_objects_total",
		"Objects from the API server refused as invalid, per kind.", PW_LABELS("kind"));
	o->objects = pw_metrics_gauge(m, "podwall_objects",
		"Objects podwall knows, per kind.", PW_LABELS("kind"));
	o->endpoints = pw_metrics_gauge(m, "podwall_local_endpoints",
		"This node's pods that podwall enforces.", NULL);
	o->chains = pw_metrics_gauge(m, "podwall_chains",
		"podwall's chains programmed, per family.", PW_LABELS("family"));
	o->rules = pw_metrics_gauge(m, "podwall_rules",
		"Rules in podwall's chains and jumps, per family.", PW_LABELS("family"));
	o->set_members = pw_metrics_gauge(m, "podwall_set_members",
		"Members of podwall's ipsets, per family.", PW_LABELS("family"));
	o->denied_packets = pw_metrics_counter(m, "podwall_denied_packets_total",
		"Packets no policy allowed, per local pod and direction (its final drop's counter).",
		PW_LABELS("namespace", "pod", "direction"));
	o->denied_bytes = pw_metrics_counter(m, "podwall_denied_bytes_total",
		"Bytes of the packets no policy allowed, per local pod and direction.",
		PW_LABELS("namespace", "pod", "direction"));
	o->log_lines = pw_metrics_counter(m, "podwall_deny_log_lines_total",
		"Denied packets logged by podwall's NFLOG reader.", NULL);
	o->log_suppressed = pw_metrics_counter(m, "podwall_deny_log_suppressed_total",
		"Denied packets the reader did not log, over its rate limit.", NULL);
	o->nflog_overruns = pw_metrics_counter(m, "podwall_nflog_overruns_total",
		"Times the kernel dropped NFLOG messages for want of room in the reader's socket.",
		NULL);
	pw_metric_set(o->build_info, PW_LABELS(PACKAGE_VERSION), 1);
	pw_metric_add(o->applies, PW_LABELS("ok"), 0);
	pw_metric_add(o->applies, PW_LABELS("error"), 0);
	pw_metric_add(o->drift_repairs, NULL, 0);
	pw_metric_add(o->log_lines, NULL, 0);
	pw_metric_add(o->log_suppressed, NULL, 0);
	pw_metric_add(o->nflog_overruns, NULL, 0);
	pw_metric_add(o->member_changes, PW_LABELS("add"), 0);
	pw_metric_add(o->member_changes, PW_LABELS("del"), 0);
	pw_ratelimit_init(&o->lines, PW_NFLOG_LINES_PER_SECOND, PW_NFLOG_LINES_BURST);
	return o;
}

static void forget_ends(struct pw_observer *o)
{
	size_t i;

	for (i = 0; i < o->nends; i++) {
		free(o->ends[i].namespace);
		free(o->ends[i].pod);
	}
	free(o->ends);
	o->ends = NULL;
	o->nends = 0;
	pw_strmap_free(o->by_chain);
	pw_strmap_free(o->by_prefix);
	o->by_chain = o->by_prefix = NULL;
	o->mapped = false;
}

void pw_observer_free(struct pw_observer *o)
{
	if (!o)
		return;
	forget_ends(o);
	pw_metrics_free(o->m);
	free(o);
}

/* ------------------------------------------------------------- applies */

void pw_observer_applied(struct pw_observer *o, const struct pw_apply_outcome *a)
{
	pw_metric_add(o->applies, PW_LABELS(a->ok ? "ok" : "error"), 1);
	pw_metric_observe(o->apply_seconds, NULL, a->apply_seconds);
	if (!a->members_only)
		pw_metric_observe(o->compile_seconds, NULL, a->compile_seconds);
	if (!a->ok || !a->stats)
		return;
	pw_metric_set(o->last_success, NULL, (double)time(NULL));
	if (a->stats->rules.committed)
		pw_metric_add(o->commits, PW_LABELS("ipv4"), 1);
	if (a->stats->rules6.committed)
		pw_metric_add(o->commits, PW_LABELS("ipv6"), 1);
	pw_metric_add(o->member_changes, PW_LABELS("add"), a->stats->sets.added);
	pw_metric_add(o->member_changes, PW_LABELS("del"), a->stats->sets.deleted);
	if (a->drift_repair)
		pw_metric_add(o->drift_repairs, NULL, 1);
}

/* ------------------------------------------------ local pods' chains */

/* The chain and prefix tables for st's endpoints, built once per generation. */
static void map_ends(struct pw_observer *o, const struct pw_observed *st)
{
	struct pw_buf name = PW_BUF_INIT;
	size_t i, n = st->endpoints ? st->endpoints->count : 0;

	if (o->mapped && o->generation == st->endpoints_generation)
		return;
	forget_ends(o);
	o->by_chain = pw_strmap_new();
	o->by_prefix = pw_strmap_new();
	o->ends = pw_xcalloc(n * 2 + 1, sizeof(*o->ends));
	for (i = 0; i < n * 2; i++) {
		const struct pw_endpoint *ep = &st->endpoints->items[i / 2];
		struct local_end *e = &o->ends[o->nends];
		const char *slash = strchr(ep->pod_key, '/');
		char prefix[PW_DENY_LOG_PREFIX_SIZE];

		if (!slash)
			continue;
		e->namespace = pw_xstrndup(ep->pod_key, (size_t)(slash - ep->pod_key));
		e->pod = pw_xstrdup(slash + 1);
		e->ingress = i % 2 == 0;
		pw_buf_reset(&name);
		pw_endpoint_chain_name(st->opt->prefix, ep, e->ingress, &name);
		pw_strmap_put(o->by_chain, name.data, e);
		pw_deny_log_prefix(st->opt->prefix, e->namespace, e->pod, e->ingress, prefix);
		pw_strmap_put(o->by_prefix, prefix, e);
		o->nends++;
	}
	pw_buf_free(&name);
	o->generation = st->endpoints_generation;
	o->mapped = true;
}

static void count_drop(void *ctx, const char *chain, const char *comment,
		       uint64_t packets, uint64_t bytes)
{
	struct pw_observer *o = ctx;
	struct local_end *e;

	if (!comment || strcmp(comment, PW_FINAL_DROP_COMMENT) != 0)
		return;
	e = pw_strmap_get(o->by_chain, chain);
	if (!e)
		return;
	e->counted = true;
	e->packets += packets;
	e->bytes += bytes;
}

/*
 * Each family's final drops, summed per pod and direction. A pod no policy
 * isolates in a direction has no final drop there, and no series.
 */
static int read_drops(struct pw_observer *o, const struct pw_observed *st)
{
	struct pw_buf err = PW_BUF_INIT;
	int family, ret = 0, r;
	size_t i;

	map_ends(o, st);
	for (i = 0; i < o->nends; i++) {
		o->ends[i].counted = false;
		o->ends[i].packets = o->ends[i].bytes = 0;
	}
	for (family = 0; family < 2 && o->nends; family++) {
		if (family == 1 && !st->opt->ipv6)
			break;
		r = pw_iptc_read_counters("filter", family ? AF_INET6 : AF_INET, st->opt->prefix,
					  count_drop, o, &err);
		if (r < 0 && r != -EAFNOSUPPORT) {
			pw_debug("drop counters: %s", pw_buf_str(&err));
			ret = r;
		}
		pw_buf_reset(&err);
	}
	pw_buf_free(&err);
	pw_metric_clear(o->denied_packets);
	pw_metric_clear(o->denied_bytes);
	for (i = 0; i < o->nends; i++) {
		const struct local_end *e = &o->ends[i];
		const char *dir = e->ingress ? "ingress" : "egress";

		if (!e->counted)
			continue;
		pw_metric_set(o->denied_packets, PW_LABELS(e->namespace, e->pod, dir),
			      (double)e->packets);
		pw_metric_set(o->denied_bytes, PW_LABELS(e->namespace, e->pod, dir),
			      (double)e->bytes);
	}
	return ret;
}

/* ------------------------------------------------------------- render */

static void count_programmed(struct pw_observer *o, const struct pw_dataplane *dp)
{
	double members[2] = { 0, 0 };
	size_t i, f;

	for (f = 0; f < 2; f++) {
		const struct pw_table *t = f ? dp->filter6 : dp->filter;
		double rules = 0;
		size_t c;

		if (!t) {
			pw_metric_drop(o->chains, PW_LABELS(family_names[f]));
			pw_metric_drop(o->rules, PW_LABELS(family_names[f]));
			continue;
		}
		for (c = 0; c < pw_table_chain_count(t); c++)
			rules += (double)pw_chain_rule_count(pw_table_chain_at(t, c));
		/* The built-in chains hold only podwall's jumps here. */
		pw_metric_set(o->chains, PW_LABELS(family_names[f]),
			      (double)pw_table_chain_count(t));
		pw_metric_set(o->rules, PW_LABELS(family_names[f]), rules);
	}
	for (i = 0; i < pw_setlist_count(dp->sets); i++) {
		const struct pw_set *s = pw_setlist_at(dp->sets, i);

		members[pw_set_family(s) == AF_INET6] += (double)pw_set_member_count(s);
	}
	pw_metric_set(o->set_members, PW_LABELS("ipv4"), members[0]);
	pw_metric_set(o->set_members, PW_LABELS("ipv6"), members[1]);
}

static void refresh(struct pw_observer *o, const struct pw_observed *st)
{
	size_t k;

	pw_metric_set(o->enforcing, PW_LABELS("ipv4"), st->enforcing[0]);
	pw_metric_set(o->enforcing, PW_LABELS("ipv6"), st->enforcing[1]);
	for (k = 0; k < PW_ARRAY_SIZE(kind_names); k++) {
		const struct pw_reflector_stats *r = &st->reflectors[k];

		/*
		 * Every list opens a watch (a watch-list is its own); the other
		 * watches were reopened. A relist is any state read after the
		 * first, by list or watch-list, so that the default mode counts.
		 */
		pw_metric_set(o->watch_restarts, PW_LABELS(kind_names[k]),
			      r->watches > r->lists ? r->watches - r->lists : 0);
		pw_metric_set(o->relists, PW_LABELS(kind_names[k]),
			      r->snapshots ? r->snapshots - 1 : 0);
		pw_metric_set(o->refused, PW_LABELS(kind_names[k]), r->bad_objects);
	}
	if (st->cluster) {
		pw_metric_set(o->objects, PW_LABELS("namespace"),
			      (double)pw_cluster_namespace_count(st->cluster));
		pw_metric_set(o->objects, PW_LABELS("pod"), (double)pw_cluster_pod_count(st->cluster));
		pw_metric_set(o->objects, PW_LABELS("networkpolicy"),
			      (double)pw_cluster_policy_count(st->cluster));
	}
	pw_metric_set(o->endpoints, NULL, st->endpoints ? (double)st->endpoints->count : 0);
	if (st->programmed)
		count_programmed(o, st->programmed);
}

int pw_observer_render(struct pw_observer *o, const struct pw_observed *st, struct pw_buf *out)
{
	int ret;

	refresh(o, st);
	ret = read_drops(o, st);
	pw_metrics_render(o->m, out);
	return ret;
}

int pw_observer_write_textfile(struct pw_observer *o, const struct pw_observed *st,
			       const char *path, struct pw_buf *err)
{
	refresh(o, st);
	read_drops(o, st);
	return pw_metrics_write_textfile(o->m, path, err);
}

void pw_observer_nflog_overruns(struct pw_observer *o, unsigned long overruns)
{
	pw_metric_set(o->nflog_overruns, NULL, (double)overruns);
}

/* ------------------------------------------------------- denied packets */

static void say_suppressed(struct pw_observer *o, uint64_t now_ms)
{
	uint64_t over_ms;
	unsigned long n = pw_ratelimit_take_suppressed(&o->lines, now_ms, &over_ms);

	if (n)
		pw_notice("%lu denied packets not logged in the last %.1f s (rate limit)", n,
			  (double)over_ms / 1000);
}

void pw_observer_tick(struct pw_observer *o, uint64_t now_ms)
{
	/* A summary a second while a flood lasts, and once after it. */
	if (o->lines.suppressed && now_ms - o->lines.suppressed_since_ms >= 1000)
		say_suppressed(o, now_ms);
}

size_t pw_isolating_policies(const struct pw_cluster *c, const struct pw_pod *pod,
			     bool ingress, const char ***out)
{
	unsigned type = ingress ? PW_POLICY_INGRESS : PW_POLICY_EGRESS;
	const char **names = NULL;
	size_t n = 0, cap = 0, i;

	for (i = 0; pod && i < pw_cluster_policy_count(c); i++) {
		const struct pw_policy *p = pw_cluster_policy_at(c, i);
		struct pw_buf name = PW_BUF_INIT;

		if (!(p->types & type) || strcmp(p->namespace, pod->namespace) != 0 ||
		    !pw_selector_matches(p->pod_selector, pod->labels))
			continue;
		pw_buf_printf(&name, "%s/%s", p->namespace, p->name);
		PW_GROW(names, cap, n + 1);
		names[n++] = pw_buf_steal(&name);
	}
	*out = names;
	return n;
}

/* Who holds the remote address: a pod podwall knows, or nobody it knows. */
static const struct pw_pod *remote_pod(const struct pw_cluster *c, const struct pw_cidr *ip)
{
	const struct pw_pod *const *pods;
	char text[PW_CIDR_STRLEN];
	size_t n, i;

	if (!ip->family)
		return NULL;
	pw_cidr_format(ip, false, text);
	n = pw_cluster_pods_at(c, text, &pods);
	for (i = 0; i < n; i++)
		if (pw_pod_is_addressable(pods[i]))
			return pods[i];
	return n ? pods[0] : NULL;
}

void pw_observer_denied(struct pw_observer *o, const struct pw_observed *st,
			const struct pw_nflog_packet *p, uint64_t now_ms)
{
	struct pw_denial_context ctx;
	const struct local_end *e;
	const struct pw_pod *pod, *remote;
	struct pw_buf line = PW_BUF_INIT;
	const char **policies = NULL;
	char gone_ns[PW_DENY_LOG_PREFIX_SIZE];
	const char *id, *slash;
	bool ingress;
	size_t i;

	if (pw_nflog_parse_prefix(p->prefix, st->opt->prefix, &ingress, &id) < 0)
		return;		/* someone else's rule in our group */
	if (!pw_ratelimit_allow(&o->lines, now_ms)) {
		pw_metric_add(o->log_suppressed, NULL, 1);
		return;
	}
	say_suppressed(o, now_ms);
	memset(&ctx, 0, sizeof(ctx));
	ctx.ingress = ingress;
	map_ends(o, st);
	e = pw_strmap_get(o->by_prefix, p->prefix);
	pod = e && st->cluster ? pw_cluster_pod(st->cluster, e->namespace, e->pod) : NULL;
	if (e) {
		ctx.namespace = e->namespace;
		ctx.pod = e->pod;
	} else if ((slash = strchr(id, '/')) && (size_t)(slash - id) < sizeof(gone_ns)) {
		/* A pod gone since the packet was logged: its name as the kernel had it. */
		memcpy(gone_ns, id, (size_t)(slash - id));
		gone_ns[slash - id] = '\0';
		ctx.namespace = gone_ns;
		ctx.pod = slash + 1;
	}
	if (st->cluster) {
		ctx.policy_count = pw_isolating_policies(st->cluster, pod, ingress, &policies);
		ctx.policies = policies;
		remote = remote_pod(st->cluster, ingress ? &p->src : &p->dst);
		if (remote) {
			ctx.remote_namespace = remote->namespace;
			ctx.remote_pod = remote->name;
		}
	}
	pw_nflog_format(p, &ctx, &line);
	pw_notice("%s", line.data);
	pw_metric_add(o->log_lines, NULL, 1);
	for (i = 0; i < ctx.policy_count; i++)
		free((char *)policies[i]);
	free(policies);
	pw_buf_free(&line);
}
