/*
 * podwall doctor: is this node (the network namespace it runs in) and its
 * cluster fit for podwall? Each check looks at one thing and says OK, WARN
 * or FAIL, what it saw and, when not OK, the fix.
 *
 * The checks that read the kernel take what they need from struct
 * pw_doctor_env; what they conclude is decided by the pure functions
 * below, which the unit tests feed text (iptables-save lines,
 * NetworkManager's configuration, /proc/locks).
 */
#ifndef PW_DOCTOR_H
#define PW_DOCTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "engine/cluster.h"
#include "lib/cidr.h"
#include "lib/strmap.h"
#include "lib/util.h"

enum pw_doctor_status {
	PW_DOCTOR_OK,
	PW_DOCTOR_WARN,
	PW_DOCTOR_FAIL,
};

struct pw_doctor_report;

struct pw_doctor_report *pw_doctor_report_new(void);
void pw_doctor_report_free(struct pw_doctor_report *r);
/* One check's line; fix is NULL for OK. */
void pw_doctor_add(struct pw_doctor_report *r, enum pw_doctor_status status, const char *check,
		   const char *fix, const char *fmt, ...) PW_PRINTF(5, 6);
/* The worst status so far. */
enum pw_doctor_status pw_doctor_worst(const struct pw_doctor_report *r);
/*
 * Text: "OK   check: what was seen" and, when not OK, "; fix: ..." on the
 * same line. JSON: {"checks":[{"check","status","saw","fix"}...],"status"}.
 */
void pw_doctor_format_text(const struct pw_doctor_report *r, struct pw_buf *out);
void pw_doctor_format_json(const struct pw_doctor_report *r, struct pw_buf *out);

/* ------------------------------------------------------- pure pieces */

/* One rule of kube-proxy's, as much of it as the checks need. */
struct pw_kp_rule {
	char chain[32];
	char target[32];
	bool has_src;		/* -s or ! -s */
	bool src_inverted;
	bool has_dst;
	struct pw_cidr dst;
	bool cluster_ip;	/* its comment ends in "cluster IP" */
};

/* An "-A CHAIN ..." line of iptables-save; -EINVAL for any other. */
int pw_kp_rule_parse(const char *line, struct pw_kp_rule *out);

/*
 * --masquerade-all: every service's rules mark for masquerade whoever
 * sends. kube-proxy writes "-d CLUSTERIP ... -j KUBE-MARK-MASQ" for each
 * service port, in its KUBE-SVC-* chain (1.21 and later) or in
 * KUBE-SERVICES (before), with "! -s CLUSTER-CIDR" when it only
 * masquerades what comes from outside the pods. True when there are such
 * rules and none of them has a source.
 */
bool pw_kp_masquerades_all(const struct pw_kp_rule *rules, size_t n);

/*
 * NetworkManager's keyfile.unmanaged-devices of one file's text, or NULL
 * when it sets none (the caller frees it).
 */
char *pw_nm_unmanaged_devices(const char *conf);
/* Whether a value of unmanaged-devices covers an interface called name. */
bool pw_nm_unmanages(const char *value, const char *name);

/*
 * The pid holding an flock on the file (device major:minor, inode), from
 * /proc/locks' text; 0 when none does.
 */
pid_t pw_proc_locks_holder(const char *locks, unsigned major, unsigned minor,
			   unsigned long inode);

/*
 * The smallest prefix holding both a and b (of one family), so that the
 * cover of a range's addresses lies inside the range: a pod in the cover
 * of the Services' cluster IPs is in the service range whatever it is.
 */
void pw_cidr_cover(const struct pw_cidr *a, const struct pw_cidr *b, struct pw_cidr *out);

/*
 * The "clusterIP" and "clusterIPs" values of a ServiceList's JSON, each to
 * fn; returns how many.
 */
size_t pw_service_list_cluster_ips(const char *json,
				   void (*fn)(const struct pw_cidr *ip, void *ctx), void *ctx);

/* rp_filter's effect on an interface: the higher of all's and its own. */
int pw_rp_filter_effective(int all, int iface);

/* --------------------------------------------------------- the checks */

struct pw_doctor_env {
	const char *lock_path;		/* $XTABLES_LOCKFILE or /run/xtables.lock */
	unsigned lock_wait_ms;
	bool deny_log;			/* NFLOG and limit are needed */
	const char *nm_run_dir;		/* /run/NetworkManager */
	const char *nm_conf;		/* /etc/NetworkManager/NetworkManager.conf */
	const char *nm_conf_dir;	/* /etc/NetworkManager/conf.d */
	const struct pw_cluster *cluster;	/* NULL: no pods known */
	const char *node_name;
	/* Interfaces the runtime's CNI results name on the host side, or NULL. */
	const struct pw_strmap *cni_ifaces;
	const struct pw_cidr *service_cidr;	/* --service-cidr, or NULL */
	/* The Services' cluster IPs from the API (full length); none when not listed. */
	const struct pw_cidr *service_ips;
	size_t nservice_ips;
};

void pw_doctor_check_kube_proxy(struct pw_doctor_report *r);
void pw_doctor_check_backends(struct pw_doctor_report *r);
void pw_doctor_check_bridges(struct pw_doctor_report *r, const struct pw_doctor_env *env);
void pw_doctor_check_sysctls(struct pw_doctor_report *r, const struct pw_doctor_env *env);
void pw_doctor_check_kernel_features(struct pw_doctor_report *r,
				     const struct pw_doctor_env *env);
void pw_doctor_check_xtables_lock(struct pw_doctor_report *r, const struct pw_doctor_env *env);
void pw_doctor_check_network_manager(struct pw_doctor_report *r,
				     const struct pw_doctor_env *env);
void pw_doctor_check_addresses(struct pw_doctor_report *r, const struct pw_doctor_env *env);

/* "podwall doctor ARGS": the exit status (0, 1 when a check failed, 2). */
int pw_doctor_main(int argc, char **argv);

#endif
