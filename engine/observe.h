/*
 * What the daemon tells about itself and about the packets it stops: the
 * Prometheus metrics behind /metrics, /healthz and the node_exporter
 * textfile, and, with denyLogReader, one log line per denied packet in
 * Kubernetes terms. It only reads the daemon's state, handed over as a
 * struct pw_observed each time, so that nothing here can change what is
 * enforced.
 */
#ifndef PW_OBSERVE_H
#define PW_OBSERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/apply.h"
#include "engine/cluster.h"
#include "engine/compile.h"
#include "engine/endpoint.h"
#include "engine/nflog.h"
#include "engine/options.h"
#include "k8s/reflector.h"
#include "lib/util.h"

struct pw_observer;

struct pw_observer *pw_observer_new(void);
void pw_observer_free(struct pw_observer *o);

/* The daemon as it is now; every pointer may be NULL (not yet known). */
struct pw_observed {
	const struct pw_options *opt;
	const struct pw_cluster *cluster;
	const struct pw_endpoints *endpoints;
	/* Bumped whenever endpoints is replaced: cached lookups start again. */
	unsigned endpoints_generation;
	const struct pw_dataplane *programmed;
	/* Each family is enforced: every local pod's traffic of it reaches
	 * the rules and the last apply went through. */
	bool enforcing[2];		/* [0] IPv4, [1] IPv6 */
	const char *not_enforcing;	/* why not, for /healthz; NULL when both are */
	struct pw_reflector_stats reflectors[3];	/* by enum pw_kind, since start */
};

/* One apply's outcome, as the daemon's loop saw it. */
struct pw_apply_outcome {
	bool ok;
	bool members_only;		/* set members alone, no compile */
	bool drift_repair;		/* a full comparison that had to change the kernel */
	double compile_seconds;
	double apply_seconds;		/* the whole apply, the compile included */
	const struct pw_apply_stats *stats;	/* when ok */
};
void pw_observer_applied(struct pw_observer *o, const struct pw_apply_outcome *a);

/*
 * The metrics text (the drop counters read from the kernel now). Returns
 * 0, or -errno when the counters could not be read (the rest is there).
 */
int pw_observer_render(struct pw_observer *o, const struct pw_observed *st, struct pw_buf *out);

/* node_exporter's textfile, written atomically. */
int pw_observer_write_textfile(struct pw_observer *o, const struct pw_observed *st,
			       const char *path, struct pw_buf *err);

/* One packet from the NFLOG group: a log line, within the rate limit. */
void pw_observer_denied(struct pw_observer *o, const struct pw_observed *st,
			const struct pw_nflog_packet *p, uint64_t now_ms);
/* Says how many lines the rate limit left out, once it is quiet again. */
void pw_observer_tick(struct pw_observer *o, uint64_t now_ms);
/*
 * The policies of pod's namespace that select it for that direction
 * ("ns/name", sorted as the cluster sorts them; pod NULL: none): *out and
 * each name are the caller's to free.
 */
size_t pw_isolating_policies(const struct pw_cluster *c, const struct pw_pod *pod,
			     bool ingress, const char ***out);

/* The NFLOG socket's own losses (ENOBUFS), for the metrics. */
void pw_observer_nflog_overruns(struct pw_observer *o, unsigned long overruns);

#endif
