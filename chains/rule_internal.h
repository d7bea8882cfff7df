/*
 * The layout of struct pw_rule, private to chains/: the printer in rule.c
 * and the libiptc writer both read it, so that one model drives both.
 * Nothing outside chains/ may include this header.
 */
#ifndef PW_RULE_INTERNAL_H
#define PW_RULE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chains/rule.h"
#include "lib/cidr.h"

struct pw_rule_addr {
	bool present;
	bool invert;
	struct pw_cidr cidr;	/* host bits cleared, as the kernel stores it */
};

struct pw_rule_iface {
	char *name;		/* NULL: any; "eth+" matches the prefix "eth" */
	bool invert;
};

struct pw_match_set {
	char *name;
	enum pw_set_dir dir;
};

/* The protocol is recorded when the match is added: it names the match module. */
struct pw_match_port {
	uint8_t proto;
	struct pw_port_range range;	/* last >= first */
};

struct pw_match_multiport {
	uint8_t proto;
	size_t nranges;
	/* A range with last > first takes two kernel slots, a single port one. */
	struct pw_port_range ranges[PW_MULTIPORT_SLOTS];
};

struct pw_match_mark {
	uint32_t value;
	uint32_t mask;
};

struct pw_match_physdev {
	char *in;		/* NULL: no --physdev-in */
	char *out;		/* NULL: no --physdev-out (nor --physdev-is-bridged) */
};

/* avg as the kernel keeps it (pw_limit_avg()), so the printer sees what is written. */
struct pw_match_limit {
	uint32_t avg;
	uint32_t burst;
};

/* One -m match; invert applies to kinds that can be negated (conntrack, set, mark). */
struct pw_match {
	enum pw_match_kind kind;
	bool invert;
	union {
		char *comment;			/* at most PW_COMMENT_MAX bytes */
		unsigned ctstates;		/* PW_CT_* bits */
		struct pw_match_set set;
		struct pw_match_port port;
		struct pw_match_multiport multiport;
		struct pw_match_mark mark;
		struct pw_match_physdev physdev;
		uint8_t icmp6_type;
		struct pw_match_limit limit;
	} u;
};

struct pw_rule_target {
	enum pw_target_kind kind;
	char *chain;		/* JUMP and GOTO only, else NULL */
	uint32_t mark_value;	/* MARK only */
	uint32_t mark_mask;
	uint16_t nflog_group;	/* NFLOG only */
	char *nflog_prefix;	/* NFLOG only; NULL: none */
};

struct pw_rule {
	struct pw_rule_addr src;
	struct pw_rule_addr dst;
	struct pw_rule_iface in;
	struct pw_rule_iface out;
	uint8_t protocol;	/* 0: any */
	struct pw_match *matches;	/* in insertion order */
	size_t nmatches;
	size_t matches_cap;
	struct pw_rule_target target;
};

/* Kernel slots a multiport list takes (the x_tables limit is PW_MULTIPORT_SLOTS). */
size_t pw_multiport_slots(const struct pw_port_range *ranges, size_t nranges);

/* "tcp", "udp", ... as iptables-save names ipproto; NULL: it prints the number. */
const char *pw_proto_name(uint8_t ipproto);

#endif
