/*
 * Notices, cheaply and often, that an iptables table changed since podwall
 * last wrote or compared it: a rule someone inserted above podwall's jumps,
 * a chain of podwall's flushed, a table restored from an edited save. It
 * only says "changed"; the daemon's full comparison with the kernel finds
 * what and repairs it.
 *
 * Legacy x_tables keep no generation number, so the fingerprint is a
 * digest of what podwall owns: the rules of its chains (by their prefix)
 * and the first rule of each built-in chain, without counters and with
 * jumps named rather than at their offsets. So kube-proxy rewriting its own
 * chains, which moves podwall's in the table, is not taken for drift. At
 * 10k pods / 1k policies (2,800 entries, 800 KB) a look costs about 2 ms,
 * mostly the kernel copying the table out. ipsets are not covered: a
 * member added or removed by hand waits for the periodic resync.
 */
#ifndef PW_DRIFT_H
#define PW_DRIFT_H

#include <sys/socket.h>	/* AF_INET, AF_INET6 */

#include "lib/util.h"

struct pw_drift;

/*
 * For table ("filter") of family (AF_INET: the iptables table, AF_INET6:
 * the ip6tables one) and the chains named with prefix. One watches one
 * table: a dual-stack node opens one per family, remembers and checks
 * each after its own table's commit or comparison. NULL with the reason
 * in err (no CAP_NET_RAW...) and errno set; errno EAFNOSUPPORT for
 * AF_INET6 means the kernel has no IPv6 at all.
 */
struct pw_drift *pw_drift_open(const char *table, int family, const char *prefix,
			       struct pw_buf *err);
void pw_drift_close(struct pw_drift *d);

/*
 * Takes the table as it is now for podwall's own: call right after podwall
 * committed it or compared it with what it wants. The xtables lock is gone
 * by then, so a writer in that instant is taken for podwall and left to
 * the next resync. 0 or -errno.
 */
int pw_drift_remember(struct pw_drift *d, struct pw_buf *err);

/*
 * 1 when the table differs from what was remembered (or nothing was, or a
 * writer is busy with it right now), 0 when it is the same, -errno when it
 * cannot be read.
 */
int pw_drift_check(struct pw_drift *d, struct pw_buf *err);

#endif
