/*
 * The node agent: follows Pods, Namespaces and NetworkPolicies through the
 * API server and keeps the kernel in step, one batch of changes at a time,
 * until SIGTERM. It leaves its rules in place when it stops, so the node
 * keeps enforcing while podwall restarts.
 */
#ifndef PW_DAEMON_H
#define PW_DAEMON_H

#include "engine/options.h"

/* Runs until SIGTERM or SIGINT (0) or a fatal error (-errno). */
int pw_daemon_run(struct pw_options *opt);

#endif
