#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chains/render.h"
#include "engine/apply.h"
#include "engine/bridge_nf.h"
#include "engine/cluster.h"
#include "engine/cni_cache.h"
#include "engine/compile.h"
#include "engine/config_file.h"
#include "engine/daemon.h"
#include "engine/drift.h"
#include "engine/endpoint.h"
#include "engine/http.h"
#include "engine/metrics.h"
#include "engine/nflog.h"
#include "engine/nodenet.h"
#include "engine/observe.h"
#include "engine/query.h"
#include "engine/ui.h"
#include "k8s/client.h"
#include "k8s/kubeconfig.h"
#include "k8s/reflector.h"
#include "lib/log.h"
#include "lib/sdnotify.h"

/*
 * Member changes cost each address a look at every set that may hold it;
 * past this many addresses in one batch (a backlog), compiling everything
 * once is cheaper (measured at 10k pods and 1k policies: about 80 us an
 * address against 50 ms for a whole compile and set comparison).
 */
#define MEMBER_PATH_MAX_ADDRESSES 256

/* A dual-stack pod brings two addresses: the limit is per family. */
static size_t member_path_limit(const struct pw_options *opt)
{
	return MEMBER_PATH_MAX_ADDRESSES * (opt->ipv6 ? 2u : 1u);
}

/* A failed apply is tried again after this long, whatever else happens. */
#define RETRY_AFTER_ERROR_MS 2000

/* node_exporter reads the textfile at each scrape: every 15 s is as fresh as most scrapes. */
#define TEXTFILE_INTERVAL_MS 15000

struct daemon {
	struct pw_options *opt;
	struct pw_cluster *cluster;
	struct pw_k8s_client *client;
	struct pw_reflector *reflectors[3];	/* by enum pw_kind */
	struct pw_applier *applier;
	struct pw_nodenet *net;	/* NULL: pods by Calico's names alone */
	struct pw_cni_cache cni;
	struct pw_cni_watch *cni_watch;	/* NULL: results seen at node events and resyncs */
	long long cni_stamp;	/* of the CNI result directories when last read */
	struct pw_endpoints *endpoints;	/* what the chains were last compiled for */
	/* Every local pod's traffic reaches the rules; when not, why. */
	bool enforced;
	char *not_enforced;
	struct pw_drift *drift;	/* NULL: only the resync timer finds drift */
	struct pw_drift *drift6;	/* the IPv6 table's; NULL without one */
	/* The pods' IPv6 addresses are not guarded: the kernel gave no table. */
	bool ipv6_unguarded;
	/* Not asked for its IPv6 table again before the next resync. */
	bool ipv6_skipped;
	char ipv6_why[160];
	uint64_t drift_at;	/* next look for someone else's change to the table */
	int signal_fd;
	bool stopping;

	bool dirty;		/* the cluster changed since the last apply */
	/*
	 * Every change since the last apply was to pods that are not this
	 * node's endpoints, in these namespaces, at these addresses (before
	 * or after): only set members can differ.
	 */
	bool pods_only;
	struct pw_strmap *changed_namespaces;
	struct pw_strmap *changed_addresses;
	uint64_t apply_at;	/* when the pending batch is due */
	uint64_t applied_at;	/* when the last apply ended */
	uint64_t resync_at;	/* next full comparison with the kernel */
	uint64_t watchdog_at;
	uint64_t watchdog_ms;
	bool ready;		/* READY=1 sent */
	char *last_dry_run;	/* --dry-run: what was printed last */

	uint64_t api_retry_at;	/* no client: when to try building one again */
	unsigned applies;
	unsigned commits;
	unsigned failures;
	unsigned events;
	bool apply_failed;	/* the last apply did not go through */

	/* What podwall tells: metrics, /healthz, the textfile, denied packets. */
	struct pw_observer *obs;
	struct pw_http *http;	/* NULL: no metricsAddress */
	struct pw_nflog *nflog;	/* NULL: the deny-log group is left to others */
	unsigned endpoints_generation;
	/* The page's verdicts, for the cluster as it was at event ui_events. */
	struct pw_query *ui_query;
	unsigned ui_events;
	/* The reflectors' counts before the last restart of the API client. */
	struct pw_reflector_stats reflector_base[3];
	uint64_t textfile_at;
};


/* ------------------------------------------------------------ the cache */

static void schedule_apply(struct daemon *d)
{
	uint64_t now = pw_monotonic_ms();

	if (d->dirty)
		return;
	d->dirty = true;
	/*
	 * The first change after a quiet spell goes out at once; only what
	 * follows on its heels waits for the window, and is batched.
	 */
	d->apply_at = now;
	if (now - d->applied_at < d->opt->batch_window_ms)
		d->apply_at += d->opt->batch_window_ms;
}

static void mark_dirty(struct daemon *d)
{
	schedule_apply(d);
	d->pods_only = false;
}

static void note_address(struct daemon *d, const struct pw_pod *pod)
{
	char text[PW_CIDR_STRLEN];
	size_t i;

	for (i = 0; pod && i < pod->nips; i++) {
		pw_cidr_format(&pod->ips[i], false, text);
		pw_strmap_put(d->changed_addresses, text, d);
	}
}

static void mark_pod_changed(struct daemon *d, const struct pw_pod *old,
			     const struct pw_pod *pod)
{
	bool ours = (old && pw_endpoint_is_local(old, d->opt)) ||
		    (pod && pw_endpoint_is_local(pod, d->opt));

	if (ours) {
		mark_dirty(d);
		return;
	}
	if (!d->dirty)
		d->pods_only = true;
	schedule_apply(d);
	pw_strmap_put(d->changed_namespaces, old ? old->namespace : pod->namespace, d);
	note_address(d, old);
	note_address(d, pod);
}

static void on_upsert(void *ctx, struct pw_object *obj)
{
	struct daemon *d = ctx;

	if (obj->kind == PW_KIND_POD)
		mark_pod_changed(d, pw_cluster_pod(d->cluster, obj->u.pod->namespace,
						   obj->u.pod->name), obj->u.pod);
	else
		mark_dirty(d);
	pw_cluster_upsert(d->cluster, obj);
	d->events++;
}

static void on_remove(void *ctx, enum pw_kind kind, const char *namespace,
		      const char *name, const char *uid)
{
	struct daemon *d = ctx;
	const char *known = pw_cluster_uid(d->cluster, kind, namespace, name);
	const struct pw_pod *pod;

	/* A late delete of an object since recreated under the same name. */
	if (uid && known && strcmp(uid, known) != 0)
		return;
	pod = kind == PW_KIND_POD ? pw_cluster_pod(d->cluster, namespace, name) : NULL;
	if (pod)
		mark_pod_changed(d, pod, NULL);
	if (pw_cluster_delete(d->cluster, kind, namespace, name) == 0) {
		d->events++;
		if (!pod)
			mark_dirty(d);
	}
}

static void on_synced(void *ctx, enum pw_kind kind)
{
	struct daemon *d = ctx;

	pw_info("%s: in sync with the API server", pw_kind_name(kind));
	mark_dirty(d);
}

static void on_log(void *ctx, int level, const char *message)
{
	(void)ctx;
	pw_log((enum pw_log_level)level, "%s", message);
}

static const struct pw_reflector_ops reflector_ops = {
	on_upsert, on_remove, on_synced, on_log,
};

static bool all_synced(const struct daemon *d)
{
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(d->reflectors); i++)
		if (!d->reflectors[i] || !pw_reflector_synced(d->reflectors[i]))
			return false;
	return true;
}

/* ----------------------------------------------------- the API server */

/* What a reflector counted, onto the totals of those it replaced. */
static void add_reflector_stats(struct pw_reflector_stats *sum,
				const struct pw_reflector_stats *more)
{
	sum->lists += more->lists;
	sum->watches += more->watches;
	sum->snapshots += more->snapshots;
	sum->bad_objects += more->bad_objects;
	sum->relists_410 += more->relists_410;
}

static void stop_api(struct daemon *d)
{
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(d->reflectors); i++) {
		struct pw_reflector_stats st, *base = &d->reflector_base[i];

		if (d->reflectors[i]) {
			pw_reflector_get_stats(d->reflectors[i], &st);
			add_reflector_stats(base, &st);
		}
		pw_reflector_free(d->reflectors[i]);
		d->reflectors[i] = NULL;
	}
	pw_k8s_client_free(d->client);
	d->client = NULL;
}

static int start_api(struct daemon *d)
{
	struct pw_reflector_options ropt;
	struct pw_k8s_config kcfg;
	struct pw_buf err = PW_BUF_INIT;
	size_t i;

	memset(&kcfg, 0, sizeof(kcfg));
	if (pw_k8s_config_resolve(d->opt->kubeconfig, &kcfg, &err) < 0 ||
	    !(d->client = pw_k8s_client_new(&kcfg, &err))) {
		pw_err("API server: %s", pw_buf_str(&err));
		pw_k8s_config_free(&kcfg);
		pw_buf_free(&err);
		return -EINVAL;
	}
	pw_k8s_client_set_node(d->client, d->opt->node_name);
	pw_info("following the API server at %s", kcfg.server);
	pw_k8s_config_free(&kcfg);
	pw_buf_free(&err);

	pw_reflector_options_default(&ropt);
	ropt.stall_timeout_s = d->opt->watch_stall_s;
	ropt.initial_list = d->opt->initial_list;
	for (i = 0; i < PW_ARRAY_SIZE(d->reflectors); i++) {
		d->reflectors[i] = pw_reflector_new(d->client, (enum pw_kind)i, &ropt,
						    &reflector_ops, d);
		pw_reflector_start(d->reflectors[i]);
	}
	return 0;
}

/* ---------------------------------------------------------- the kernel */

static void notify_status(struct daemon *d, const char *state)
{
	bool enforced = d->enforced && !d->ipv6_unguarded;

	pw_sd_notifyf("STATUS=%s%s%s; %zu pods, %zu policies, %zu namespaces; "
		      "%u applies, %u commits, %u failures",
		      enforced ? "enforcing, " : "NOT ENFORCING (",
		      enforced ? state : d->enforced ? d->ipv6_why : d->not_enforced,
		      enforced ? "" : ")",
		      pw_cluster_pod_count(d->cluster),
		      pw_cluster_policy_count(d->cluster),
		      pw_cluster_namespace_count(d->cluster),
		      d->applies, d->commits, d->failures);
}

/* ------------------------------------------------------- the node's pods */

/*
 * The runtime's CNI results, read again only when their directories
 * changed, or while some bridged pod's port is still unknown (a result
 * written in place may have been read half-written).
 */
static void read_cni_cache(struct daemon *d)
{
	long long stamp = pw_cni_cache_stamp(d->opt->cni_cache_dirs);
	struct pw_buf notes = PW_BUF_INIT;
	bool unbound = false;
	size_t i;

	for (i = 0; d->endpoints && i < d->endpoints->count; i++)
		if (d->endpoints->items[i].kind == PW_ENDPOINT_BRIDGED &&
		    !d->endpoints->items[i].port[0])
			unbound = true;
	if (d->opt->endpoint_discovery == PW_DISCOVER_ROUTES ||
	    (stamp == d->cni_stamp && d->cni_stamp && !unbound))
		return;
	d->cni_stamp = stamp;
	if (pw_cni_cache_read(d->opt->cni_cache_dirs, &d->cni, &notes) < 0)
		pw_warn("%s", pw_buf_str(&notes));
	else if (notes.len)
		pw_debug("%s", notes.data);
	pw_buf_free(&notes);
}

static struct pw_endpoints *resolve_endpoints(struct daemon *d)
{
	if (d->net)
		read_cni_cache(d);
	return pw_endpoints_resolve(d->cluster, d->opt, d->net ? pw_nodenet_view(d->net) : NULL,
				    &d->cni, d->endpoints);
}

/* What changed for each pod whose binding is not what it was. */
static void log_endpoint_changes(const struct pw_endpoints *old, const struct pw_endpoints *now)
{
	struct pw_buf line = PW_BUF_INIT, before = PW_BUF_INIT;
	size_t i, j;

	for (i = 0; i < now->count; i++) {
		const struct pw_endpoint *ep = &now->items[i];

		pw_buf_reset(&line);
		pw_endpoint_describe(ep, &line);
		for (j = 0; old && j < old->count; j++) {
			if (strcmp(old->items[j].pod_key, ep->pod_key) != 0)
				continue;
			pw_buf_reset(&before);
			pw_endpoint_describe(&old->items[j], &before);
			break;
		}
		if (!old || j == old->count)
			pw_info("pod %s", line.data);
		else if (strcmp(before.data, line.data) != 0)
			pw_info("pod %s (was %s)", line.data, before.data + strlen(ep->pod_key) + 2);
	}
	pw_buf_free(&line);
	pw_buf_free(&before);
}

/*
 * Whether bridged pods' traffic reaches the rules, logged when that
 * changes: a node is reported enforced only when it is.
 */
static void check_enforcement(struct daemon *d, const struct pw_endpoints *eps)
{
	struct pw_buf changes = PW_BUF_INIT, problems = PW_BUF_INIT;
	bool may_change = !d->opt->keep_sysctls && d->opt->dry_run == PW_DRY_RUN_OFF;
	bool enforced;

	enforced = pw_bridge_nf_check_all(eps, d->opt->ipv6, may_change, &changes, &problems) == 0;
	if (changes.len)
		pw_notice("%.*s", (int)changes.len - 1, changes.data);
	if (!enforced && (d->enforced || !d->not_enforced ||
			  strcmp(d->not_enforced, problems.data) != 0)) {
		pw_err("NOT ENFORCING on node %s: %.*s", d->opt->node_name,
		       (int)problems.len - 1, problems.data);
	} else if (enforced && !d->enforced && d->not_enforced) {
		pw_notice("enforcing again: bridged frames reach iptables");
	}
	free(d->not_enforced);
	d->not_enforced = enforced ? NULL : pw_buf_steal(&problems);
	if (d->not_enforced && d->not_enforced[0])
		d->not_enforced[strlen(d->not_enforced) - 1] = '\0';
	d->enforced = enforced;
	pw_buf_free(&changes);
	pw_buf_free(&problems);
}

/*
 * The kernel gave no IPv6 table (no ip6_tables, say): not enforced when
 * this node's pods have IPv6 addresses, said once when that changes.
 */
static void note_ipv6(struct daemon *d, const struct pw_apply_stats *stats)
{
	bool unguarded;

	/* Each try costs libip6tc's retries: the next resync asks again. */
	if (stats->ipv6_missing) {
		snprintf(d->ipv6_why, sizeof(d->ipv6_why), "%s", stats->ipv6_why);
		d->ipv6_skipped = true;
		d->opt->ipv6 = false;
	}
	unguarded = d->ipv6_skipped && pw_endpoints_have_ipv6(d->endpoints);
	if (unguarded && !d->ipv6_unguarded)
		pw_err("NOT ENFORCING IPv6 on node %s: %s", d->opt->node_name, d->ipv6_why);
	else if (!unguarded && d->ipv6_unguarded)
		pw_notice("enforcing IPv6 again");
	d->ipv6_unguarded = unguarded;
}

/* Recompiles if the pods' bindings are no longer what was programmed. */
static void rebind(struct daemon *d)
{
	struct pw_endpoints *now;

	if (!d->endpoints)
		return;
	now = resolve_endpoints(d);
	if (!pw_endpoints_equal(now, d->endpoints)) {
		log_endpoint_changes(d->endpoints, now);
		mark_dirty(d);
	}
	pw_endpoints_free(now);
}

/* The kernel's view of the node changed. */
static void follow_node(struct daemon *d)
{
	int ret = pw_nodenet_read(d->net);

	if (ret < 0) {
		pw_warn("following the node's network: %s: comparing everything at once",
			strerror(-ret));
		mark_dirty(d);
		return;
	}
	if (ret > 0)
		rebind(d);
}

/* A result written in place leaves its directory's stamp as it was. */
static void follow_cni_results(struct daemon *d)
{
	if (!pw_cni_watch_read(d->cni_watch))
		return;
	d->cni_stamp = 0;
	rebind(d);
}

static void open_cni_watch(struct daemon *d)
{
	struct pw_buf err = PW_BUF_INIT;

	pw_cni_watch_free(d->cni_watch);
	d->cni_watch = NULL;
	if (!d->net || d->opt->endpoint_discovery == PW_DISCOVER_ROUTES)
		return;
	d->cni_watch = pw_cni_watch_open(d->opt->cni_cache_dirs, &err);
	if (!d->cni_watch)
		pw_warn("%s: a pod's CNI result is read at the node's next event or resync, "
			"not as it is written", pw_buf_str(&err));
	pw_buf_free(&err);
}

static void print_dry_run(struct daemon *d, struct pw_dataplane *dp)
{
	struct pw_buf out = PW_BUF_INIT;

	pw_render_sets(dp->sets, &out);
	pw_render_table(dp->filter, &out);
	if (dp->filter6)
		pw_render_table(dp->filter6, &out);
	if (!d->last_dry_run || strcmp(d->last_dry_run, out.data) != 0) {
		fwrite(out.data, 1, out.len, stdout);
		fflush(stdout);
		free(d->last_dry_run);
		d->last_dry_run = pw_buf_steal(&out);
	}
	pw_buf_free(&out);
	pw_dataplane_free(dp);
}

static void batch_done(struct daemon *d)
{
	d->dirty = false;
	d->pods_only = false;
	if (pw_strmap_count(d->changed_namespaces)) {
		pw_strmap_free(d->changed_namespaces);
		d->changed_namespaces = pw_strmap_new();
	}
	if (pw_strmap_count(d->changed_addresses)) {
		pw_strmap_free(d->changed_addresses);
		d->changed_addresses = pw_strmap_new();
	}
	d->applies++;
}

/*
 * Only other nodes' pods changed: the members their addresses stand for
 * are worked out and changed, with no compile of the chains and no
 * iptables commit. On failure the caller compiles and compares everything.
 */
static int apply_member_changes(struct daemon *d)
{
	uint64_t start = pw_monotonic_ms(), compiled;
	struct pw_member_changes changes = { NULL, 0, 0 };
	struct pw_buf err = PW_BUF_INIT;
	struct pw_apply_stats stats;
	int ret;

	pw_compile_member_changes(d->cluster, pw_applier_current(d->applier),
				  d->changed_addresses, d->changed_namespaces, &changes);
	compiled = pw_monotonic_ms();
	ret = pw_applier_change_members(d->applier, &changes, &stats, &err);
	pw_member_changes_free(&changes);
	if (ret == 0) {
		struct pw_apply_outcome a = { true, true, false, 0, 0, &stats };

		a.compile_seconds = (double)(compiled - start) / 1000;
		a.apply_seconds = (double)(pw_monotonic_ms() - start) / 1000;
		pw_observer_applied(d->obs, &a);
		d->apply_failed = false;
	}
	if (ret < 0) {
		pw_warn("updating set members: %s: comparing everything with the kernel",
			pw_buf_str(&err));
	} else {
		batch_done(d);
		pw_buf_reset(&err);
		pw_apply_stats_format(&stats, &err);
		/* Said in words: under load the time alone cannot tell this path apart. */
		pw_info("apply in %llu ms (set members only, worked out in %llu ms): %s",
			(unsigned long long)(pw_monotonic_ms() - start),
			(unsigned long long)(compiled - start), err.data);
		d->applied_at = pw_monotonic_ms();
		notify_status(d, "in sync");
	}
	pw_buf_free(&err);
	return ret;
}

/*
 * What podwall committed or compared becomes the table's known state; a
 * change to it by anyone else is what table_drifted() looks for.
 */
static void remember_table(struct daemon *d)
{
	struct pw_buf err = PW_BUF_INIT;

	if (d->drift && pw_drift_remember(d->drift, &err) < 0)
		pw_info("drift check: %s: comparing again at the next check", pw_buf_str(&err));
	pw_buf_reset(&err);
	if (d->drift6 && pw_drift_remember(d->drift6, &err) < 0)
		pw_info("drift check: %s: comparing again at the next check", pw_buf_str(&err));
	pw_buf_free(&err);
}

/* Someone turned a bridge's switch off since the last apply: enforce again. */
static bool bridge_nf_turned_off(struct daemon *d)
{
	struct pw_buf msg = PW_BUF_INIT;
	bool off = false;
	size_t i;

	for (i = 0; d->enforced && d->endpoints && i < d->endpoints->nbridges && !off; i++)
		off = pw_bridge_nf_ensure(d->endpoints->bridges[i], AF_INET, false, &msg) ==
			      PW_BRIDGE_NF_OFF ||
		      (d->opt->ipv6 && pw_bridge_nf_ensure(d->endpoints->bridges[i], AF_INET6,
							    false, &msg) == PW_BRIDGE_NF_OFF);
	if (off)
		pw_warn("%s: applying at once", msg.data);
	pw_buf_free(&msg);
	return off;
}

/* A cheap look every drift interval; a change means a full comparison now. */
static bool table_drifted(struct daemon *d, uint64_t now)
{
	struct pw_buf err = PW_BUF_INIT;
	int ret;

	if (!d->drift || !d->ready || !d->opt->drift_check_ms || now < d->drift_at)
		return false;
	d->drift_at = now + d->opt->drift_check_ms;
	ret = pw_drift_check(d->drift, &err);
	if (ret == 0 && d->drift6)
		ret = pw_drift_check(d->drift6, &err);
	if (ret == 0 && bridge_nf_turned_off(d))
		return true;
	if (ret < 0) {
		pw_warn("drift check: %s: trying again after the next resync", pw_buf_str(&err));
		d->drift_at = d->resync_at + d->opt->drift_check_ms;
	} else if (ret > 0) {
		pw_info("a filter table changed since podwall's last look: comparing it now");
	}
	pw_buf_free(&err);
	return ret > 0;
}

static void apply(struct daemon *d, bool full)
{
	struct pw_endpoints *endpoints;
	uint64_t start;
	struct pw_dataplane *dp;
	uint64_t compiled;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_apply_stats stats;
	struct pw_apply_outcome outcome;
	/* A full comparison with nothing new to apply finds only others' changes. */
	bool repairing = full && d->ready && !d->dirty;

	if (!full && d->pods_only && d->opt->dry_run == PW_DRY_RUN_OFF &&
	    pw_strmap_count(d->changed_addresses) <= member_path_limit(d->opt) &&
	    pw_applier_current(d->applier) && apply_member_changes(d) == 0)
		return;
	if (full && d->ipv6_skipped && pw_kernel_has_ipv6()) {
		d->ipv6_skipped = false;
		d->opt->ipv6 = true;
	}
	start = pw_monotonic_ms();
	endpoints = resolve_endpoints(d);
	log_endpoint_changes(d->endpoints, endpoints);
	pw_endpoints_free(d->endpoints);
	d->endpoints = endpoints;
	d->endpoints_generation++;
	check_enforcement(d, endpoints);
	dp = pw_compile(d->cluster, endpoints, d->opt);
	compiled = pw_monotonic_ms();
	batch_done(d);
	if (d->opt->dry_run != PW_DRY_RUN_OFF) {
		print_dry_run(d, dp);
	} else if (pw_applier_apply(d->applier, dp, d->opt, full, &stats, &err) < 0) {
		d->failures++;
		d->apply_failed = true;
		memset(&outcome, 0, sizeof(outcome));
		outcome.compile_seconds = (double)(compiled - start) / 1000;
		outcome.apply_seconds = (double)(pw_monotonic_ms() - start) / 1000;
		pw_observer_applied(d->obs, &outcome);
		pw_err("programming the kernel: %s (trying again in %u ms)",
		       pw_buf_str(&err), RETRY_AFTER_ERROR_MS);
		/* Nothing changes in the cluster meanwhile: retry on a timer. */
		d->dirty = true;
		d->apply_at = pw_monotonic_ms() + RETRY_AFTER_ERROR_MS;
	} else {
		note_ipv6(d, &stats);
		if (stats.rules.committed || stats.rules6.committed)
			d->commits++;
		d->apply_failed = false;
		memset(&outcome, 0, sizeof(outcome));
		outcome.ok = true;
		outcome.drift_repair = repairing &&
			(stats.rules.committed || stats.rules6.committed || stats.sets.added ||
			 stats.sets.deleted || stats.sets.created || stats.sets.swapped ||
			 stats.sets.destroyed);
		outcome.compile_seconds = (double)(compiled - start) / 1000;
		outcome.apply_seconds = (double)(pw_monotonic_ms() - start) / 1000;
		outcome.stats = &stats;
		pw_observer_applied(d->obs, &outcome);
		if (full || stats.rules.committed || stats.rules6.committed)
			remember_table(d);
		pw_buf_reset(&err);
		pw_apply_stats_format(&stats, &err);
		pw_info("%s in %llu ms (compile %llu ms): %s", full ? "resync" : "apply",
			(unsigned long long)(pw_monotonic_ms() - start),
			(unsigned long long)(compiled - start), err.data);
	}
	pw_buf_free(&err);
	if (full)
		d->resync_at = pw_monotonic_ms() + (uint64_t)d->opt->resync_interval_s * 1000;
	if (!d->ready) {
		d->ready = true;
		d->textfile_at = 0;	/* the first state, at once */
		pw_sd_notify("READY=1");
		if (d->enforced && !d->ipv6_unguarded)
			pw_notice("enforcing: %zu pods, %zu policies, %zu endpoints on this node",
				  pw_cluster_pod_count(d->cluster),
				  pw_cluster_policy_count(d->cluster), endpoints->count);
	}
	d->applied_at = pw_monotonic_ms();
	notify_status(d, d->failures && d->dirty ? "retrying" : "in sync");
}

/* ------------------------------------------------------ what it tells */

static void observed(struct daemon *d, struct pw_observed *st)
{
	bool kernel_ok = d->ready && d->enforced && !d->apply_failed;
	size_t i;

	memset(st, 0, sizeof(*st));
	st->opt = d->opt;
	st->cluster = d->cluster;
	st->endpoints = d->endpoints;
	st->endpoints_generation = d->endpoints_generation;
	st->programmed = pw_applier_current(d->applier);
	st->enforcing[0] = kernel_ok;
	st->enforcing[1] = kernel_ok && !d->ipv6_unguarded;
	if (!d->ready)
		st->not_enforcing = "not programmed yet: listing the cluster";
	else if (!d->enforced)
		st->not_enforcing = d->not_enforced ? d->not_enforced : "bridged frames bypass iptables";
	else if (d->apply_failed)
		st->not_enforcing = "the last apply failed: retrying";
	else if (d->ipv6_unguarded)
		st->not_enforcing = d->ipv6_why;
	for (i = 0; i < PW_ARRAY_SIZE(d->reflectors); i++) {
		struct pw_reflector_stats now;

		st->reflectors[i] = d->reflector_base[i];
		if (!d->reflectors[i])
			continue;
		pw_reflector_get_stats(d->reflectors[i], &now);
		add_reflector_stats(&st->reflectors[i], &now);
	}
}

static uint8_t ipproto_of(enum pw_protocol p)
{
	return p == PW_PROTO_UDP ? IPPROTO_UDP : p == PW_PROTO_SCTP ? IPPROTO_SCTP : IPPROTO_TCP;
}

/* The page's edges: this node's own rules walked, as explain walks them. */
static bool ui_allowed(void *ctx, const struct pw_pod *src, const struct pw_pod *dst,
		       uint16_t port, enum pw_protocol protocol)
{
	struct daemon *d = ctx;
	struct pw_query_answer answer;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_flow flow;
	bool allowed = false;
	int family;

	if (!d->ui_query || d->ui_events != d->events) {
		pw_query_free(d->ui_query);
		d->ui_query = pw_query_new(d->cluster, d->opt, d->opt->node_name);
		d->ui_events = d->events;
	}
	/* Open in one family is an edge: the page does not split them. */
	for (family = AF_INET; !allowed && family; family = family == AF_INET ? AF_INET6 : 0) {
		const struct pw_cidr *a = pw_pod_address(src, family), *b = pw_pod_address(dst, family);

		if (!a || !b)
			continue;
		memset(&flow, 0, sizeof(flow));
		flow.from.pod = src;
		flow.from.addr = *a;
		flow.to.pod = dst;
		flow.to.addr = *b;
		flow.protocol = ipproto_of(protocol);
		flow.port = port;
		if (pw_query_flow(d->ui_query, &flow, &answer, &err) == 0) {
			allowed = answer.allowed;
			pw_query_answer_free(&answer);
		}
		pw_buf_reset(&err);
	}
	pw_buf_free(&err);
	return allowed;
}

static unsigned serve(void *ctx, const char *path, struct pw_buf *body, const char **content_type)
{
	struct daemon *d = ctx;
	struct pw_observed st;

	observed(d, &st);
	if (strcmp(path, "/metrics") == 0) {
		pw_observer_render(d->obs, &st, body);
		*content_type = PW_METRICS_CONTENT_TYPE;
		return 200;
	}
	if (strcmp(path, "/healthz") == 0) {
		if (!st.not_enforcing) {
			pw_buf_printf(body, "enforcing\n");
			return 200;
		}
		pw_buf_printf(body, "not enforcing: %s\n", st.not_enforcing);
		return 503;
	}
	if (strcmp(path, "/ui") == 0 || strcmp(path, "/ui/") == 0) {
		pw_buf_puts(body, pw_ui_page);
		*content_type = PW_UI_PAGE_TYPE;
		return 200;
	}
	if (strcmp(path, "/ui/app.js") == 0) {
		pw_buf_puts(body, pw_ui_script);
		*content_type = PW_UI_SCRIPT_TYPE;
		return 200;
	}
	if (strcmp(path, "/ui/state.json") == 0) {
		pw_ui_state(&st, ui_allowed, d, body);
		*content_type = PW_UI_STATE_TYPE;
		return 200;
	}
	if (strcmp(path, "/") == 0) {
		pw_buf_printf(body, "podwall %s on node %s: /metrics, /healthz, /ui\n",
			      PACKAGE_VERSION, d->opt->node_name);
		return 200;
	}
	pw_buf_printf(body, "not found: /metrics, /healthz and /ui are\n");
	return 404;
}

/* The listener and the NFLOG reader as the options say; reopened on reload. */
static void open_listener(struct daemon *d)
{
	struct pw_buf err = PW_BUF_INIT;

	pw_http_close(d->http);
	d->http = NULL;
	if (d->opt->metrics_address && d->opt->metrics_address[0]) {
		d->http = pw_http_open(d->opt->metrics_address, NULL, serve, d, &err);
		if (d->http)
			pw_notice("serving /metrics and /healthz on %s (port %d)",
				  d->opt->metrics_address, pw_http_port(d->http));
		else
			pw_err("metrics: %s: no listener", pw_buf_str(&err));
	}
	pw_buf_free(&err);
}

static void open_nflog(struct daemon *d)
{
	struct pw_buf err = PW_BUF_INIT;

	pw_nflog_close(d->nflog);
	d->nflog = NULL;
	if (!d->opt->deny_log_reader || d->opt->dry_run != PW_DRY_RUN_OFF)
		return;
	d->nflog = pw_nflog_open((uint16_t)d->opt->deny_log_group, &err);
	if (d->nflog)
		pw_info("reading denied packets from NFLOG group %u", d->opt->deny_log_group);
	else
		pw_err("denied packets: %s: they are counted, not logged by podwall",
		       pw_buf_str(&err));
	pw_buf_free(&err);
}

static void on_denied(void *ctx, const struct pw_nflog_packet *p)
{
	struct daemon *d = ctx;
	struct pw_observed st;

	observed(d, &st);
	pw_observer_denied(d->obs, &st, p, pw_monotonic_ms());
}

static void read_denied(struct daemon *d)
{
	int ret = pw_nflog_read(d->nflog, on_denied, d);

	if (ret < 0)
		pw_warn("denied packets: reading NFLOG group %u: %s", d->opt->deny_log_group,
			strerror(-ret));
	pw_observer_nflog_overruns(d->obs, pw_nflog_overruns(d->nflog));
}

static void write_textfile(struct daemon *d, uint64_t now)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_observed st;

	if (!d->opt->metrics_textfile || !d->opt->metrics_textfile[0] || !d->ready ||
	    now < d->textfile_at)
		return;
	d->textfile_at = now + TEXTFILE_INTERVAL_MS;
	observed(d, &st);
	if (pw_observer_write_textfile(d->obs, &st, d->opt->metrics_textfile, &err) < 0)
		pw_warn("metrics textfile: %s", pw_buf_str(&err));
	pw_buf_free(&err);
}

/* -------------------------------------------------------------- events */

static bool same_text(const char *a, const char *b)
{
	return (!a || !*a) ? (!b || !*b) : (b && strcmp(a, b) == 0);
}

static void reload(struct daemon *d)
{
	struct pw_options next;
	struct pw_buf err = PW_BUF_INIT;
	bool restart_api, reopen_listener, reopen_nflog;
	int ret;

	pw_sd_notify("RELOADING=1");
	pw_options_copy(&next, d->opt);
	ret = pw_config_file_load(next.config_path, &next, &err);
	if (ret < 0 && ret != -ENOENT) {
		pw_err("reload: %s: keeping the configuration in force", pw_buf_str(&err));
		goto out;
	}
	if (strcmp(next.prefix, d->opt->prefix) || strcmp(next.iface_prefix, d->opt->iface_prefix) ||
	    next.accept_mark != d->opt->accept_mark || next.pass_mark != d->opt->pass_mark ||
	    next.endpoint_discovery != d->opt->endpoint_discovery) {
		pw_err("reload: prefix, ifacePrefix, acceptMark, passMark and endpointDiscovery "
		       "change only with a restart (after --cleanup for the first four): "
		       "keeping the configuration in force");
		goto out;
	}
	pw_buf_reset(&err);
	if (pw_options_validate(&next, &err) < 0) {
		pw_err("reload: %s: keeping the configuration in force", err.data);
		goto out;
	}
	restart_api = (next.kubeconfig || d->opt->kubeconfig) &&
		      (!next.kubeconfig || !d->opt->kubeconfig ||
		       strcmp(next.kubeconfig, d->opt->kubeconfig) != 0);
	restart_api = restart_api || next.watch_stall_s != d->opt->watch_stall_s;
	reopen_listener = !same_text(next.metrics_address, d->opt->metrics_address);
	reopen_nflog = next.deny_log_reader != d->opt->deny_log_reader ||
		       next.deny_log_group != d->opt->deny_log_group;
	pw_options_free(d->opt);
	*d->opt = next;
	memset(&next, 0, sizeof(next));
	pw_log_set_level(d->opt->log_level);
	if (restart_api) {
		stop_api(d);
		if (start_api(d) < 0)
			d->api_retry_at = pw_monotonic_ms() + RETRY_AFTER_ERROR_MS;
	}
	d->resync_at = pw_monotonic_ms() + (uint64_t)d->opt->resync_interval_s * 1000;
	d->cni_stamp = 0;
	open_cni_watch(d);
	if (reopen_listener)
		open_listener(d);
	if (reopen_nflog)
		open_nflog(d);
	d->textfile_at = 0;
	mark_dirty(d);
	pw_notice("configuration reloaded");
out:
	pw_options_free(&next);
	pw_buf_free(&err);
	pw_sd_notify("READY=1");
}

static void read_signals(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			pw_notice("stopping on signal %u; the rules stay in place", si.ssi_signo);
			d->stopping = true;
			break;
		case SIGHUP:
			reload(d);
			break;
		}
	}
}

static int open_signals(struct daemon *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	sigdelset(&mask, SIGPIPE);
	d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return d->signal_fd < 0 ? -errno : 0;
}

static int timeout_until(uint64_t now, uint64_t at)
{
	return at <= now ? 0 : (int)(at - now);
}

/*
 * Reflectors start their next requests and hand over what arrived from
 * their tick, so it runs right after every perform, before anything looks
 * at whether the cluster changed. Returns the earliest tick they ask for.
 */
static int tick_reflectors(struct daemon *d, uint64_t now)
{
	int t = -1;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(d->reflectors); i++) {
		int r = d->reflectors[i] ? pw_reflector_tick(d->reflectors[i], now) : -1;

		if (r >= 0 && (t < 0 || r < t))
			t = r;
	}
	return t;
}

/* The next wake-up: the earliest of everything that is due some time. */
static int next_timeout(struct daemon *d, uint64_t now)
{
	int t = tick_reflectors(d, now);

	if (t < 0 || t > 1000)
		t = 1000;
	if (d->dirty && all_synced(d) && timeout_until(now, d->apply_at) < t)
		t = timeout_until(now, d->apply_at);
	if (d->ready && timeout_until(now, d->resync_at) < t)
		t = timeout_until(now, d->resync_at);
	if (d->drift && d->ready && d->opt->drift_check_ms &&
	    timeout_until(now, d->drift_at) < t)
		t = timeout_until(now, d->drift_at);
	if (!d->client && timeout_until(now, d->api_retry_at) < t)
		t = timeout_until(now, d->api_retry_at);
	if (d->watchdog_ms && timeout_until(now, d->watchdog_at) < t)
		t = timeout_until(now, d->watchdog_at);
	if (d->http) {
		int h = pw_http_timeout_ms(d->http);

		if (h >= 0 && h < t)
			t = h;
	}
	return t;
}

static void run_due(struct daemon *d, uint64_t now)
{
	write_textfile(d, now);
	pw_observer_tick(d->obs, now);
	if (!d->client && now >= d->api_retry_at && start_api(d) < 0)
		d->api_retry_at = now + RETRY_AFTER_ERROR_MS;
	if (d->watchdog_ms && now >= d->watchdog_at) {
		pw_sd_notify("WATCHDOG=1");
		d->watchdog_at = now + d->watchdog_ms / 2;
	}
	/* Never program a partial view: wait until every resource is listed. */
	if (!all_synced(d))
		return;
	if (d->ready && now >= d->resync_at)
		apply(d, true);
	else if (d->dirty && now >= d->apply_at)
		apply(d, !d->ready);
	else if (table_drifted(d, now))
		apply(d, true);
}

/* What the loop waits on besides libcurl's own. */
enum { FD_SIGNALS, FD_NODE, FD_CNI, FD_HTTP, FD_NFLOG, FD_COUNT };

/* Without a client (a bad kubeconfig after a reload) only our fds count. */
static void wait_for_events(struct daemon *d, struct curl_waitfd *fds, unsigned nfds,
			    int timeout_ms)
{
	struct pollfd pfds[FD_COUNT];
	unsigned i;

	if (d->client) {
		if (pw_k8s_client_wait(d->client, fds, nfds, timeout_ms) < 0)
			usleep(10000);	/* never spin on a broken wait */
		pw_k8s_client_perform(d->client);
		return;
	}
	for (i = 0; i < nfds; i++) {
		pfds[i].fd = fds[i].fd;
		pfds[i].events = POLLIN;
		pfds[i].revents = 0;
	}
	if (poll(pfds, nfds, timeout_ms) > 0)
		for (i = 0; i < nfds; i++)
			fds[i].revents = pfds[i].revents ? CURL_WAIT_POLLIN : 0;
}

static int loop(struct daemon *d)
{
	while (!d->stopping) {
		struct curl_waitfd fds[FD_COUNT];
		int at[FD_COUNT];
		unsigned nfds = 0, i;

		/* A reload may have opened another CNI watch: asked afresh each time. */
		for (i = 0; i < FD_COUNT; i++) {
			int fd = i == FD_SIGNALS ? d->signal_fd :
				 i == FD_NODE ? (d->net ? pw_nodenet_fd(d->net) : -1) :
				 i == FD_CNI ? (d->cni_watch ? pw_cni_watch_fd(d->cni_watch) : -1) :
				 i == FD_HTTP ? (d->http ? pw_http_fd(d->http) : -1) :
				 (d->nflog ? pw_nflog_fd(d->nflog) : -1);

			at[i] = -1;
			if (fd < 0)
				continue;
			at[i] = (int)nfds;
			fds[nfds].fd = fd;
			fds[nfds].events = CURL_WAIT_POLLIN;
			fds[nfds].revents = 0;
			nfds++;
		}
		wait_for_events(d, fds, nfds, next_timeout(d, pw_monotonic_ms()));
		if (fds[at[FD_SIGNALS]].revents)
			read_signals(d);
		if (d->stopping)
			break;
		if (at[FD_NODE] >= 0 && fds[at[FD_NODE]].revents)
			follow_node(d);
		if (at[FD_CNI] >= 0 && fds[at[FD_CNI]].revents && d->cni_watch)
			follow_cni_results(d);
		if (at[FD_NFLOG] >= 0 && fds[at[FD_NFLOG]].revents && d->nflog)
			read_denied(d);
		/* Also without input: libmicrohttpd times slow clients out here. */
		if (d->http)
			pw_http_run(d->http);
		tick_reflectors(d, pw_monotonic_ms());
		run_due(d, pw_monotonic_ms());
	}
	return 0;
}

int pw_daemon_run(struct pw_options *opt)
{
	struct pw_buf err = PW_BUF_INIT;
	struct daemon d;
	int ret;

	memset(&d, 0, sizeof(d));
	d.opt = opt;
	d.signal_fd = -1;
	d.cluster = pw_cluster_new();
	d.applier = pw_applier_new();
	d.changed_namespaces = pw_strmap_new();
	d.changed_addresses = pw_strmap_new();
	d.obs = pw_observer_new();
	pw_cluster_index_addresses(d.cluster);
	d.watchdog_ms = pw_sd_watchdog_interval_ms();
	d.watchdog_at = pw_monotonic_ms();
	ret = open_signals(&d);
	if (ret < 0) {
		pw_err("signals: %s", strerror(-ret));
		goto out;
	}
	d.enforced = true;
	if (opt->endpoint_discovery != PW_DISCOVER_CALICO && !pw_kernel_has_ipv6()) {
		pw_notice("this kernel has no IPv6: programming the IPv4 table and sets alone");
		opt->ipv6 = false;
	}
	if (opt->dry_run == PW_DRY_RUN_OFF &&
	    !(d.drift = pw_drift_open("filter", AF_INET, opt->prefix, &err))) {
		pw_warn("drift checks off, the resync timer alone repairs: %s", pw_buf_str(&err));
		pw_buf_reset(&err);
	}
	/* Without an IPv6 table the resync finds out whether one came. */
	if (d.drift && opt->ipv6 &&
	    !(d.drift6 = pw_drift_open("filter", AF_INET6, opt->prefix, &err))) {
		pw_info("IPv6 drift checks off: %s", pw_buf_str(&err));
		pw_buf_reset(&err);
	}
	if (opt->endpoint_discovery != PW_DISCOVER_CALICO &&
	    !(d.net = pw_nodenet_open(true, &err))) {
		pw_warn("%s: pods are found by Calico's interface names alone", pw_buf_str(&err));
		pw_buf_reset(&err);
	}
	open_cni_watch(&d);
	open_listener(&d);
	open_nflog(&d);
	ret = start_api(&d);
	if (ret < 0)
		goto out;
	pw_sd_notify("STATUS=listing pods, namespaces and network policies");
	ret = loop(&d);
	pw_sd_notify("STOPPING=1");
out:
	stop_api(&d);
	pw_nodenet_close(d.net);
	pw_cni_watch_free(d.cni_watch);
	pw_http_close(d.http);
	pw_query_free(d.ui_query);
	pw_nflog_close(d.nflog);
	pw_observer_free(d.obs);
	pw_cni_cache_free(&d.cni);
	pw_endpoints_free(d.endpoints);
	free(d.not_enforced);
	pw_drift_close(d.drift);
	pw_drift_close(d.drift6);
	pw_applier_free(d.applier);
	pw_cluster_free(d.cluster);
	pw_strmap_free(d.changed_namespaces);
	pw_strmap_free(d.changed_addresses);
	free(d.last_dry_run);
	if (d.signal_fd >= 0)
		close(d.signal_fd);
	pw_buf_free(&err);
	return ret;
}
