/*
 * br_netfilter's switches: a frame one bridge port hands to another never
 * reaches iptables unless net.bridge.bridge-nf-call-iptables (for IPv4;
 * -ip6tables for IPv6) or the bridge's own nf_call_iptables is on, and
 * then policy between two pods on that bridge is simply not enforced.
 */
#ifndef PW_BRIDGE_NF_H
#define PW_BRIDGE_NF_H

#include <stdbool.h>

#include "engine/endpoint.h"
#include "lib/util.h"

enum pw_bridge_nf {
	PW_BRIDGE_NF_ON,	/* bridged frames of that family reach iptables */
	PW_BRIDGE_NF_TURNED_ON,	/* they did not; podwall turned the bridge's switch on */
	PW_BRIDGE_NF_OFF,	/* they do not, and podwall may not or could not change it */
};

/*
 * Looks at the global switch and bridge's own for family (AF_INET or
 * AF_INET6); when both are off and may_change, turns the bridge's own on
 * (only that bridge is affected), else the global one. msg says what was
 * found or done, naming the files. Reads and writes /proc/sys and /sys of
 * the caller's network namespace.
 */
enum pw_bridge_nf pw_bridge_nf_ensure(const char *bridge, int family, bool may_change,
				      struct pw_buf *msg);

/*
 * Every bridge the endpoints use, for IPv4 and, with ipv6, for IPv6: a
 * line in changes for each switch turned on, in problems for each that is
 * off. Returns how many switches leave bridged traffic unenforced.
 */
int pw_bridge_nf_check_all(const struct pw_endpoints *eps, bool ipv6, bool may_change,
			   struct pw_buf *changes, struct pw_buf *problems);

#endif
