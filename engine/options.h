/* What podwall was asked to do: command-line options and their defaults. */
#ifndef PW_OPTIONS_H
#define PW_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chains/rule.h"
#include "k8s/reflector.h"
#include "lib/log.h"

enum pw_dry_run {
	PW_DRY_RUN_OFF,
	PW_DRY_RUN_IPTABLES,	/* --dry-run, --dry-run=iptables: the IPv4 table */
	PW_DRY_RUN_IP6TABLES,	/* --dry-run=ip6tables: the IPv6 table */
	PW_DRY_RUN_IPSET,	/* --dry-run=ipset: both families' sets */
};

/* How local pods' host interfaces are found (engine/endpoint.c). */
enum pw_endpoint_discovery {
	PW_DISCOVER_AUTO,	/* routes, then bridges, then Calico's naming rule */
	PW_DISCOVER_CALICO,	/* Calico's naming rule alone; the kernel is not read */
	PW_DISCOVER_ROUTES,	/* host routes alone (ptp, Calico) */
	PW_DISCOVER_BRIDGE,	/* bridges alone (flannel, the bridge plugin) */
};

/* Which local pods' denied packets go to NFLOG (engine/compile.c). */
enum pw_deny_log {
	PW_DENY_LOG_NAMESPACES,	/* pods of namespaces annotated podwall.io/deny-log: "true" */
	PW_DENY_LOG_ALL,	/* every local pod */
	PW_DENY_LOG_OFF,	/* none; annotations are ignored */
};

struct pw_options {
	char **manifests;	/* -f, in order */
	size_t nmanifests;
	char *kubeconfig;
	char *node_name;	/* --node-name, else the hostname */
	char *iface_prefix;	/* workload interface prefix, "cali" */
	char *prefix;		/* podwall's chain and set prefix, "pw-" */
	uint32_t accept_mark;	/* the mark bit a policy chain sets to allow */
	uint32_t pass_mark;	/* the mark bit a dispatch sets on no local pod's traffic */
	enum pw_endpoint_discovery endpoint_discovery;
	char *cni_cache_dirs;	/* ':'-separated libcni result caches */
	bool keep_sysctls;	/* check bridge-nf switches, never turn them on */
	enum pw_deny_log deny_log;
	uint32_t deny_log_group;	/* the nfnetlink_log group, 0..65535 */
	unsigned deny_log_rate;		/* per pod and direction: rate per unit */
	enum pw_limit_unit deny_log_rate_unit;
	unsigned deny_log_burst;
	bool deny_log_reader;	/* podwall reads the group itself and logs lines */
	char *metrics_address;	/* the /metrics listener; NULL or "": none */
	char *metrics_textfile;	/* node_exporter's textfile; NULL or "": none */
	/*
	 * Not an option but what the node has: IPv6. The IPv6 table and sets
	 * are compiled and programmed only then. True until the kernel is
	 * read and says otherwise (never with --endpoint-discovery=calico,
	 * which reads nothing of it).
	 */
	bool ipv6;
	enum pw_dry_run dry_run;
	bool once;
	bool cleanup;		/* --cleanup: remove all podwall owns */
	unsigned lock_wait_ms;	/* how long to wait for the xtables lock */
	char *config_path;	/* --config: the YAML configuration file */
	enum pw_log_level log_level;
	unsigned resync_interval_s;	/* full comparison with the kernel */
	unsigned drift_check_ms;	/* cheap look for others' changes; 0: none */
	unsigned batch_window_ms;	/* events this close together: one apply */
	unsigned watch_stall_s;	/* a watch silent this long is reopened */
	enum pw_initial_list initial_list;	/* how the state is first read */
};

/* Fills in the defaults (node_name from the hostname). */
void pw_options_init(struct pw_options *cfg);
void pw_options_free(struct pw_options *cfg);
/* A deep copy, for keeping the options in force while new ones are read. */
void pw_options_copy(struct pw_options *dst, const struct pw_options *src);

/*
 * Checks the options against the names they produce: the prefix must leave
 * room for names within the kernel's limits, each mark must be one bit of
 * its own, clear of kube-proxy's 0x4000 and 0x8000. Returns 0, or -EINVAL
 * with a message in err.
 */
struct pw_buf;
int pw_options_validate(const struct pw_options *cfg, struct pw_buf *err);

/* A number of seconds, fractions allowed, at most 3600, into ms: 0 or -EINVAL. */
int pw_options_parse_seconds(const char *text, unsigned *ms);
/* Replaces a string option with a copy of value. */
void pw_options_set_string(char **field, const char *value);

/* Whether this kernel has IPv6 at all. */
bool pw_kernel_has_ipv6(void);

/* "auto", "calico", "routes", "bridge": 0, or -EINVAL. */
int pw_endpoint_discovery_parse(const char *text, enum pw_endpoint_discovery *out);
const char *pw_endpoint_discovery_name(enum pw_endpoint_discovery d);

/* "namespaces", "all", "off": 0, or -EINVAL. */
int pw_deny_log_parse(const char *text, enum pw_deny_log *out);
const char *pw_deny_log_name(enum pw_deny_log mode);

#define PW_DEFAULT_PREFIX "pw-"
#define PW_DEFAULT_IFACE_PREFIX "cali"
#define PW_DEFAULT_ACCEPT_MARK 0x10000u
#define PW_DEFAULT_PASS_MARK 0x20000u
#define PW_DEFAULT_LOCK_WAIT_MS 10000u
#define PW_DEFAULT_CONFIG_PATH "/etc/podwall/podwall.yaml"
#define PW_DEFAULT_RESYNC_S 60u
#define PW_DEFAULT_DRIFT_CHECK_MS 1000u
#define PW_DEFAULT_BATCH_MS 5u
/* Bookmarks come about every minute: three missed ones mean a dead stream. */
#define PW_DEFAULT_WATCH_STALL_S 180u
/* Calico takes groups 1-3 and kube-router 100: 42 is neither's. */
#define PW_DEFAULT_DENY_LOG_GROUP 42u
#define PW_DEFAULT_DENY_LOG_RATE 1u	/* per second */
#define PW_DEFAULT_DENY_LOG_BURST 5u
#define PW_DENY_LOG_GROUP_MAX 65535u
#define PW_DENY_LOG_BURST_MAX 10000u
/* The longest prefix that keeps "<prefix>to-wl-dispatch-f" within 28. */
#define PW_PREFIX_MAX 8
/* Calico's CNI adds 11 hex digits; an interface name holds 15 characters. */
#define PW_IFACE_PREFIX_MAX 4

#endif
