/*
 * The lock every iptables user takes around a table change, as
 * "iptables -w" and kube-proxy do: flock() on /run/xtables.lock (or
 * $XTABLES_LOCKFILE) for iptables >= 1.6, and the abstract unix socket
 * "@xtables" that 1.4.x binds. Holding both keeps every generation of
 * iptables-restore out while podwall's init..commit runs.
 */
#ifndef PW_XTABLES_LOCK_H
#define PW_XTABLES_LOCK_H

#include "lib/util.h"

struct pw_xtables_lock;

/*
 * Takes both locks, polling until wait_ms have passed. Returns 0 and the
 * lock in *out, or -EWOULDBLOCK (still held by someone after wait_ms) or
 * another -errno with the reason in err.
 */
int pw_xtables_lock_acquire(unsigned wait_ms, struct pw_xtables_lock **out,
			    struct pw_buf *err);
void pw_xtables_lock_release(struct pw_xtables_lock *lock);

#endif
