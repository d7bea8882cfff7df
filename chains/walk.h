/*
 * A packet walked through a compiled table, rule by rule, as the kernel
 * would: the one interpreter of podwall's rules, used by `podwall explain`
 * and `podwall matrix` and by the tests, so that what they say is what the
 * compiled model does, never what a second reading of the policies says.
 */
#ifndef PW_WALK_H
#define PW_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chains/ipset.h"
#include "chains/rule.h"
#include "chains/table.h"
#include "lib/cidr.h"

/* The fields of a packet podwall's rules look at. */
struct pw_packet {
	const char *in;			/* interfaces; NULL: none (INPUT has no out) */
	const char *out;
	const char *physin;		/* bridge ports, only for bridged frames */
	const char *physout;
	struct pw_cidr src;		/* full-length prefixes */
	struct pw_cidr dst;
	uint8_t protocol;		/* IPPROTO_TCP, ... */
	uint16_t dport;			/* tcp, udp and sctp */
	uint8_t icmp6_type;		/* ipv6-icmp */
	unsigned ctstate;		/* PW_CT_*; a first packet is PW_CT_NEW */
	uint32_t mark;
};

enum pw_verdict {
	PW_VERDICT_ACCEPT,
	PW_VERDICT_DROP,
	PW_VERDICT_NONE,	/* the hook chain ended: its policy decides, not podwall */
};

/* One rule that matched the packet, in the order they matched. */
struct pw_walk_step {
	const char *chain;		/* the table's, valid while the table lives */
	size_t rule;			/* its index in the chain, from 0 */
	const char *comment;		/* the rule's comment; NULL: none */
	enum pw_target_kind target;
	const char *target_chain;	/* JUMP and GOTO, else NULL */
};

struct pw_walk {
	enum pw_verdict verdict;
	struct pw_walk_step *steps;
	size_t nsteps;
	size_t steps_cap;
	unsigned evaluated;		/* rules looked at, matched or not */
	uint32_t mark;			/* the packet's mark when the walk ended */
};

/*
 * Walks p from the built-in chain hook ("FORWARD", "INPUT", "OUTPUT") of
 * t, with set matches answered from sets (hash:ip, hash:net with its
 * nomatch entries, hash:ip,port). Limits always pass: each packet is the
 * first of its kind. 0 with the verdict and the steps in w (free it with
 * pw_walk_free), -ENOENT when a rule names a chain that is not there,
 * -ELOOP when chains nest deeper than the kernel allows.
 */
int pw_walk_table(const struct pw_table *t, const struct pw_setlist *sets, const char *hook,
		  const struct pw_packet *p, struct pw_walk *w);
void pw_walk_free(struct pw_walk *w);

/* Whether the walk entered chain (the hook, or the target of a jump or goto). */
bool pw_walk_entered(const struct pw_walk *w, const char *chain);

/* Whether s holds the fields of p that a set match in direction dir reads. */
bool pw_set_matches_packet(const struct pw_set *s, enum pw_set_dir dir, const struct pw_packet *p);

#endif
