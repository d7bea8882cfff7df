/*
 * A small Prometheus registry: families of counters, gauges and histograms
 * with fixed label names, their series keyed by label values, rendered in
 * the text exposition format 0.0.4 for the HTTP listener (engine/http.h)
 * or written whole for node_exporter's textfile collector.
 *
 * Rendering is a pure function of the registry: families in the order they
 * were registered, the series of each sorted by their labels, so two
 * renders of the same registry are the same bytes. Values print as
 * integers when they are integers, otherwise in the shortest form that
 * reads back as the same double; +Inf, -Inf and NaN as Prometheus spells
 * them. A family with no series yet still shows its HELP and TYPE.
 *
 * Names are the daemon's own, fixed in the source: an invalid metric or
 * label name, a family registered twice, or label values that do not match
 * the family's label names are bugs, not input, and abort with a message.
 * Label values are input (namespaces, pods) and are escaped as the format
 * says (\\, \" and \n). The registry is not thread-safe: the daemon is
 * single-threaded.
 *
 * Families the daemon registers, and their labels (README "Metrics"):
 *   podwall_build_info{version}                         gauge, 1
 *   podwall_enforcing{family}                           gauge, 0 or 1
 *   podwall_last_apply_success_timestamp_seconds        gauge
 *   podwall_apply_duration_seconds                      histogram, PW_METRICS_DURATION_BUCKETS
 *   podwall_compile_duration_seconds                    histogram, PW_METRICS_DURATION_BUCKETS
 *   podwall_iptables_commits_total{family}              counter
 *   podwall_ipset_member_changes_total{op}              counter
 *   podwall_drift_repairs_total                         counter
 *   podwall_watch_restarts_total{resource}              counter
 *   podwall_relists_total{resource}                     counter
 *   podwall_refused_objects_total{kind}                 counter
 *   podwall_objects{kind}                               gauge
 *   podwall_local_endpoints                             gauge
 *   podwall_chains{family}, podwall_rules{family},
 *   podwall_set_members{family}                         gauges
 *   podwall_denied_packets_total{namespace,pod,direction},
 *   podwall_denied_bytes_total{namespace,pod,direction} counters, set from
 *                                                       rule counters each scrape
 *   podwall_deny_log_lines_total, podwall_deny_log_suppressed_total,
 *   podwall_nflog_overruns_total                        counters
 */
#ifndef PW_METRICS_H
#define PW_METRICS_H

#include <stddef.h>

#include "lib/util.h"

enum pw_metric_type {
	PW_METRIC_COUNTER,
	PW_METRIC_GAUGE,
	PW_METRIC_HISTOGRAM,
};

struct pw_metrics;		/* the registry */
struct pw_metric_family;	/* one name, help, type and label names */
struct pw_metric_series;	/* one set of label values of a family */

/* The Content-Type of what pw_metrics_render() writes. */
#define PW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Buckets (upper bounds, seconds) for apply and compile durations: from a
 * millisecond (a set-members-only apply on a small node) to 30 s (a full
 * rebuild at 10k pods on a slow node), about two steps per decade so that
 * a quantile is never off by more than a factor of about 2.5.
 */
#define PW_METRICS_DURATION_BUCKETS \
	{ 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 }

/*
 * Label values, in the order of the family's label names, as a compound
 * literal ending in NULL: pw_metric_add(f, PW_LABELS("ipv4"), 1). A family
 * without labels takes NULL.
 */
#define PW_LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

struct pw_metrics *pw_metrics_new(void);
/* Frees the registry, its families and their series; NULL is a no-op. */
void pw_metrics_free(struct pw_metrics *m);

/*
 * Registers a family, rendered after those registered before it. name is a
 * metric name ([a-zA-Z_:][a-zA-Z0-9_:]*; a counter's ends in _total), help
 * any text, labels a NULL-terminated list of label names
 * ([a-zA-Z_][a-zA-Z0-9_]*, not "__..." nor, for a histogram, "le") or NULL
 * for none. Everything is copied. The family belongs to the registry.
 */
struct pw_metric_family *pw_metrics_counter(struct pw_metrics *m, const char *name,
					    const char *help, const char *const *labels);
struct pw_metric_family *pw_metrics_gauge(struct pw_metrics *m, const char *name,
					  const char *help, const char *const *labels);
/*
 * A histogram with n ascending, finite bucket upper bounds (the +Inf
 * bucket is implicit): for example
 *   static const double b[] = PW_METRICS_DURATION_BUCKETS;
 *   pw_metrics_histogram(m, "podwall_apply_duration_seconds", "...", NULL,
 *                        b, PW_ARRAY_SIZE(b));
 */
struct pw_metric_family *pw_metrics_histogram(struct pw_metrics *m, const char *name,
					      const char *help, const char *const *labels,
					      const double *buckets, size_t n);

/*
 * The series of family f with these label values (copied), made at zero
 * when new. The pointer stays valid until the series is dropped, so a hot
 * path can look it up once.
 */
struct pw_metric_series *pw_metric_series(struct pw_metric_family *f,
					  const char *const *values);

/*
 * Gauges and counters. set on a counter is for values counted elsewhere
 * (iptables rule counters) that only grow; add on a counter takes v >= 0.
 */
void pw_metric_series_set(struct pw_metric_series *s, double v);
void pw_metric_series_add(struct pw_metric_series *s, double v);
/* Histograms: counts v in the first bucket whose bound is >= v, and in the sum. */
void pw_metric_series_observe(struct pw_metric_series *s, double v);

/* The same, looking the series up (or making it) by its label values. */
void pw_metric_set(struct pw_metric_family *f, const char *const *values, double v);
void pw_metric_add(struct pw_metric_family *f, const char *const *values, double v);
void pw_metric_observe(struct pw_metric_family *f, const char *const *values, double v);

/* A series' value (0 for a histogram) and, for a histogram, its count. */
double pw_metric_series_value(const struct pw_metric_series *s);
unsigned long long pw_metric_series_count(const struct pw_metric_series *s);

/*
 * Forgets the series with these label values (none is a no-op), or all
 * series of f: per-pod series are dropped and set again each scrape, so
 * that a deleted pod's go away.
 */
void pw_metric_drop(struct pw_metric_family *f, const char *const *values);
void pw_metric_clear(struct pw_metric_family *f);
size_t pw_metric_family_size(const struct pw_metric_family *f);

/* Appends the whole registry, in the text format, to out. */
void pw_metrics_render(const struct pw_metrics *m, struct pw_buf *out);

/*
 * Writes the rendered registry to path for node_exporter's textfile
 * collector (a "*.prom" file in its directory): into "<path>.<pid>.tmp" in
 * the same directory, fsync'ed, mode 0644, then renamed over path, so the
 * collector never reads half a file. 0, or -errno with a message naming
 * the file in err; no temporary file is left behind then.
 */
int pw_metrics_write_textfile(const struct pw_metrics *m, const char *path, struct pw_buf *err);

#endif
