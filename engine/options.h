/* What podwall was asked to do: command-line options and their defaults. */
#ifndef PW_OPTIONS_H
#define PW_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pw_dry_run {
	PW_DRY_RUN_OFF,
	PW_DRY_RUN_IPTABLES,	/* --dry-run, --dry-run=iptables */
	PW_DRY_RUN_IPSET,	/* --dry-run=ipset */
};

struct pw_options {
	char **manifests;	/* -f, in order */
	size_t nmanifests;
	char *kubeconfig;
	char *node_name;	/* --node-name, else the hostname */
	char *iface_prefix;	/* workload interface prefix, "cali" */
	char *prefix;		/* podwall's chain and set prefix, "pw-" */
	uint32_t accept_mark;	/* the mark bit a policy chain sets to allow */
	enum pw_dry_run dry_run;
	bool once;
	bool cleanup;		/* --cleanup: remove all podwall owns */
	unsigned lock_wait_ms;	/* how long to wait for the xtables lock */
};

/* Fills in the defaults (node_name from the hostname). */
void pw_options_init(struct pw_options *cfg);
void pw_options_free(struct pw_options *cfg);

/*
 * Checks the options against the names they produce: the prefix must leave
 * room for names within the kernel's limits, the mark must be one bit clear
 * of kube-proxy's 0x4000 and 0x8000. Returns 0, or -EINVAL with a
 * message in err.
 */
struct pw_buf;
int pw_options_validate(const struct pw_options *cfg, struct pw_buf *err);

#define PW_DEFAULT_PREFIX "pw-"
#define PW_DEFAULT_IFACE_PREFIX "cali"
#define PW_DEFAULT_ACCEPT_MARK 0x10000u
#define PW_DEFAULT_LOCK_WAIT_MS 10000u
/* The longest prefix that keeps "<prefix>to-wl-dispatch-f" within 28. */
#define PW_PREFIX_MAX 8
/* Calico's CNI adds 11 hex digits; an interface name holds 15 characters. */
#define PW_IFACE_PREFIX_MAX 4

#endif
