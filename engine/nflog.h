/*
 * Denied packets as the kernel reports them on podwall's NFLOG group, and
 * the journal lines they become.
 *
 * Each pod chain ends, just before its final drop, in
 *   -j NFLOG --nflog-group G --nflog-prefix "pw-deny ingress <ns>/<pod>"
 * ("egress" for the other way; a name too long for the prefix's 63 bytes
 * ends in "~" and 8 digest characters). The reader below binds group G,
 * parses what the kernel copies of each packet, and hands it on; turning
 * it into a line is a pure function of the packet and of what the daemon
 * knows of the pod (its isolating policies, the remote end), and a token
 * bucket keeps a flood of denials from flooding the journal.
 *
 * Three parts, each usable alone: the parser and formatter (no I/O), the
 * rate limiter (the caller passes the time), and the socket.
 */
#ifndef PW_NFLOG_H
#define PW_NFLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "lib/util.h"

struct nlmsghdr;

/* What one NFLOG message says of one packet; 0 where it could not be read. */
struct pw_nflog_packet {
	char prefix[64];		/* the rule's --nflog-prefix; "" without one */
	int family;			/* AF_INET or AF_INET6; 0: neither */
	uint8_t protocol;		/* IPPROTO_*: the transport's, past IPv6 extensions */
	struct pw_cidr src, dst;	/* full-length prefixes */
	/* The transport header was there to read (not cut off, not a later fragment). */
	bool have_transport;
	uint16_t sport, dport;		/* TCP, UDP, UDP-Lite, SCTP, DCCP */
	uint8_t icmp_type, icmp_code;	/* ICMP, ICMPv6 */
	uint32_t indev, outdev;		/* ifindexes; 0: none */
	uint32_t physindev, physoutdev;	/* bridge ports (br_netfilter) */
	uint32_t length;		/* the IP packet's total length, from its header */
};

/*
 * Parses one netlink message. 0 when it is an NFULNL_MSG_PACKET (whatever
 * its payload holds: a cut-off or garbled payload fills what it can),
 * -ENOMSG when it is some other message, -EBADMSG when it is too short to
 * be one. Reads nothing outside nlh->nlmsg_len bytes.
 */
int pw_nflog_parse_msg(const struct nlmsghdr *nlh, struct pw_nflog_packet *p);

/*
 * Parses an IP packet (its first len bytes) into p's addresses, protocol,
 * ports or ICMP type and length. family is what the kernel said (AF_INET,
 * AF_INET6), or 0 to go by the version nibble.
 */
void pw_nflog_parse_ip(const void *data, size_t len, int family, struct pw_nflog_packet *p);

/*
 * Whether prefix is one of podwall's: "<chain_prefix>deny ingress <ns/pod>"
 * or "... egress ...". 0 and *ingress, *ns_pod (pointing into prefix: "ns/pod",
 * or the hashed form of a long one, for the daemon's own table to resolve);
 * -ENOENT when it is not.
 */
int pw_nflog_parse_prefix(const char *prefix, const char *chain_prefix, bool *ingress,
			  const char **ns_pod);

/* What the daemon knows of a denial, beyond the packet. */
struct pw_denial_context {
	const char *namespace;		/* the local pod's */
	const char *pod;
	bool ingress;			/* the local pod is the destination; else the source */
	/* "ns/name" of each policy that isolates the pod in that direction. */
	const char *const *policies;
	size_t policy_count;
	/*
	 * The remote end: a pod (both set), a namespace only (pod NULL), or
	 * NULL for an address outside the cluster or one not known.
	 */
	const char *remote_namespace;
	const char *remote_pod;
};

/*
 * Appends one line (no newline) to out: "denied <direction> <protocol>
 * <source> -> <destination> [type T code C] <the local pod> <the remote
 * end> (isolated by <policies>)", e.g.
 *   denied ingress tcp 198.18.1.2:43512 -> 198.18.2.3:80 to x/a from y/b
 *     (isolated by x/deny-all, x/allow-from-z)
 *   denied egress udp [fd00::3]:5353 -> [fd00::9]:53 from x/a to fd00::9
 *     (isolated by x/default-deny)
 *   denied ingress icmp 198.18.1.2 -> 198.18.2.3 type 8 code 0 to x/a
 *     from namespace y (isolated by x/default-deny)
 * (each one line). The remote end is "ns/pod", "namespace ns", or the bare
 * address; what the packet did not show is "?".
 */
void pw_nflog_format(const struct pw_nflog_packet *p, const struct pw_denial_context *c,
		     struct pw_buf *out);

/* ------------------------------------------------------------ the rate limit */

/* What a daemon writes to its journal at most: lines a second, and a burst. */
#define PW_NFLOG_LINES_PER_SECOND	20
#define PW_NFLOG_LINES_BURST		100

/* A token bucket; plain data, so that it lives inside its user. */
struct pw_ratelimit {
	unsigned per_second;
	unsigned burst;
	uint64_t millitokens;		/* a line costs 1000 */
	uint64_t last_ms;
	bool started;
	unsigned long suppressed;
	uint64_t suppressed_since_ms;	/* when the first of them came */
};

/* burst 0: as many as one second brings (at least 1). per_second 0: the burst only. */
void pw_ratelimit_init(struct pw_ratelimit *rl, unsigned per_second, unsigned burst);
/* now_ms from a monotonic clock. False: drop this line; it is counted. */
bool pw_ratelimit_allow(struct pw_ratelimit *rl, uint64_t now_ms);
/*
 * How many were refused since the last call, and resets the count; over_ms
 * (if not NULL) gets the time since the first of them, for a line such as
 * "N denied packets not logged in the last Ts (rate limit)".
 */
unsigned long pw_ratelimit_take_suppressed(struct pw_ratelimit *rl, uint64_t now_ms,
					   uint64_t *over_ms);

/* ------------------------------------------------------------ the reader */

struct pw_nflog;

/*
 * Binds NFLOG group in this network namespace and asks for the start of
 * each packet. NULL with errno set and the reason in err: EBUSY when
 * another process holds the group (tcpdump -i nflog:G, ulogd),
 * EPROTONOSUPPORT when the kernel has no nfnetlink_log, EPERM without
 * CAP_NET_ADMIN.
 */
struct pw_nflog *pw_nflog_open(uint16_t group, struct pw_buf *err);
/* Unbinds the group and closes the socket; NULL is a no-op. */
void pw_nflog_close(struct pw_nflog *n);

/* The socket to poll for input. */
int pw_nflog_fd(const struct pw_nflog *n);

/*
 * Calls cb for each packet that is readable now, without blocking.
 * Returns how many it delivered, or -errno. Messages the kernel had to
 * drop (the socket's queue was full) are counted, not an error.
 */
int pw_nflog_read(struct pw_nflog *n, void (*cb)(void *ctx, const struct pw_nflog_packet *p),
		  void *ctx);

/* How many times the kernel said it dropped messages (ENOBUFS). */
unsigned long pw_nflog_overruns(const struct pw_nflog *n);

#endif
