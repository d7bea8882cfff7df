/*
 * One iptables rule of the filter table as podwall writes it: the IP header
 * part, an ordered list of matches, and a target. The same object feeds the
 * iptables-save printer (--dry-run) and the libiptc writer, so that what is
 * printed is what is programmed.
 */
#ifndef PW_RULE_H
#define PW_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "lib/util.h"

/* conntrack states, in the order iptables-save prints them. */
enum {
	PW_CT_INVALID = 1 << 0,
	PW_CT_NEW = 1 << 1,
	PW_CT_RELATED = 1 << 2,
	PW_CT_ESTABLISHED = 1 << 3,
};

/* Which packet field each dimension of a set match reads. */
enum pw_set_dir {
	PW_SET_SRC,		/* "src" */
	PW_SET_DST,		/* "dst" */
	PW_SET_DST_DST,		/* "dst,dst": hash:ip,port against destination ip and port */
	PW_SET_SRC_DST,		/* "src,dst": hash:ip,port against source ip, destination port */
};

enum pw_match_kind {
	PW_MATCH_COMMENT,
	PW_MATCH_CONNTRACK,
	PW_MATCH_SET,
	PW_MATCH_PORT,		/* -m tcp|udp|sctp --dport, after the rule's protocol */
	PW_MATCH_MULTIPORT,
	PW_MATCH_MARK,
	PW_MATCH_PHYSDEV,	/* -m physdev: the bridge ports of a bridged frame */
	PW_MATCH_ICMP6,		/* -m icmp6 --icmpv6-type, after -p ipv6-icmp */
	PW_MATCH_LIMIT,		/* -m limit: a token bucket, per rule */
};

enum pw_target_kind {
	PW_TARGET_NONE,		/* no -j: counts and falls through */
	PW_TARGET_ACCEPT,
	PW_TARGET_DROP,
	PW_TARGET_RETURN,
	PW_TARGET_JUMP,		/* -j <chain> */
	PW_TARGET_GOTO,		/* -g <chain> */
	PW_TARGET_MARK,		/* -j MARK --set-xmark value/mask */
	PW_TARGET_NFLOG,	/* -j NFLOG: a copy to a netlink group, then on */
};

/* The period a limit's count is per. */
enum pw_limit_unit {
	PW_LIMIT_SEC,
	PW_LIMIT_MIN,
	PW_LIMIT_HOUR,
	PW_LIMIT_DAY,
};

/* A multiport slot list holds at most 15 ports; a range takes two. */
#define PW_MULTIPORT_SLOTS 15
#define PW_COMMENT_MAX 255
/* xt_nflog_info's prefix holds 64 bytes with the NUL. */
#define PW_NFLOG_PREFIX_MAX 63
/* XT_LIMIT_SCALE: a limit's average is kept in 1/10000ths of a second. */
#define PW_LIMIT_SCALE 10000u
/* What iptables' limit match takes when --limit-burst is not given. */
#define PW_LIMIT_DEFAULT_BURST 5

struct pw_port_range {
	uint16_t first;
	uint16_t last;		/* == first for a single port */
};

struct pw_rule;

struct pw_rule *pw_rule_new(void);
void pw_rule_free(struct pw_rule *r);
struct pw_rule *pw_rule_dup(const struct pw_rule *r);

/* IP header part. An interface name ending in '+' matches the prefix. */
void pw_rule_set_src(struct pw_rule *r, const struct pw_cidr *cidr, bool invert);
void pw_rule_set_dst(struct pw_rule *r, const struct pw_cidr *cidr, bool invert);
void pw_rule_set_in_iface(struct pw_rule *r, const char *name, bool invert);
void pw_rule_set_out_iface(struct pw_rule *r, const char *name, bool invert);
/* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP, ... (0: any). */
void pw_rule_set_protocol(struct pw_rule *r, uint8_t ipproto);

/* Matches, kept in the order they are added. The text is copied. */
void pw_rule_add_comment(struct pw_rule *r, const char *text);
void pw_rule_add_ctstate(struct pw_rule *r, unsigned states, bool invert);
void pw_rule_add_set(struct pw_rule *r, const char *set_name, enum pw_set_dir dir,
		     bool invert);
/* Needs the rule's protocol set first (tcp, udp or sctp); a range when last > first. */
void pw_rule_add_dport(struct pw_rule *r, uint16_t first, uint16_t last);
/*
 * Destination ports of the rule's protocol; returns -EINVAL when the ranges
 * need more than PW_MULTIPORT_SLOTS slots or none.
 */
int pw_rule_add_multiport(struct pw_rule *r, const struct pw_port_range *ranges,
			  size_t nranges);
void pw_rule_add_mark(struct pw_rule *r, uint32_t value, uint32_t mask, bool invert);
/*
 * The bridge port a frame came in by (in, NULL: any) and the one it leaves
 * by (out, NULL: any; the kernel takes an output port in FORWARD only for
 * bridged frames, so it always comes with --physdev-is-bridged). A name
 * ending in '+' matches the prefix, as interface names do.
 */
void pw_rule_add_physdev(struct pw_rule *r, const char *in, const char *out);
/* Needs the rule's protocol to be IPPROTO_ICMPV6; every code of that type. */
void pw_rule_add_icmp6_type(struct pw_rule *r, uint8_t type);

/*
 * count packets per unit on average, burst at once: 0, or -EINVAL for a
 * rate the kernel cannot hold (pw_limit_check()).
 */
int pw_rule_add_limit(struct pw_rule *r, unsigned count, enum pw_limit_unit unit,
		      unsigned burst);

/*
 * The kernel's form of a rate: XT_LIMIT_SCALE-ths of a second between
 * packets, as iptables' --limit stores it. 0 when count is 0 or the rate
 * is too fast for that (more than 10000 a second).
 */
uint32_t pw_limit_avg(unsigned count, enum pw_limit_unit unit);
/*
 * Whether the limit match's checkentry takes the rate: a nonzero average,
 * and a burst from 1 whose credits (avg * burst, 32 bits) do not overflow.
 * 0, or -EINVAL (-ERANGE for the overflow) with why in err (may be NULL).
 */
int pw_limit_check(unsigned count, enum pw_limit_unit unit, unsigned burst,
		   struct pw_buf *err);
/* "sec", "min", "hour", "day"; parses "N/unit" (also "second", "minute"). */
const char *pw_limit_unit_name(enum pw_limit_unit unit);
int pw_limit_parse(const char *text, unsigned *count, enum pw_limit_unit *unit);

/* The target; the last call wins. The chain name is copied. */
void pw_rule_set_verdict(struct pw_rule *r, enum pw_target_kind verdict); /* ACCEPT/DROP/RETURN */
void pw_rule_set_jump(struct pw_rule *r, const char *chain);
void pw_rule_set_goto(struct pw_rule *r, const char *chain);
void pw_rule_set_mark_target(struct pw_rule *r, uint32_t value, uint32_t mask);
/*
 * A copy of the packet to nfnetlink_log group (0..65535), tagged with
 * prefix (NULL or "": none; cut to PW_NFLOG_PREFIX_MAX bytes). Only the
 * fields a 3.10 kernel takes: no copy length, the default threshold.
 */
void pw_rule_set_nflog(struct pw_rule *r, uint16_t group, const char *prefix);

/* The target kind, and the chain of a JUMP or GOTO (NULL otherwise). */
enum pw_target_kind pw_rule_target(const struct pw_rule *r);
const char *pw_rule_target_chain(const struct pw_rule *r);
/* The text of the rule's first comment match, or NULL. */
const char *pw_rule_comment(const struct pw_rule *r);

/*
 * Appends the rule as iptables-save prints it, without "-A <chain>" and
 * without the newline: e.g. "-i cali+ -m comment --comment x -j ACCEPT".
 */
void pw_rule_format(const struct pw_rule *r, struct pw_buf *out);

bool pw_rule_equal(const struct pw_rule *a, const struct pw_rule *b);

#endif
