/*
 * The desired content of podwall's ipsets: name, type, family and members.
 * Members are kept as the text ipset save prints, sorted, so that sets can
 * be compared and diffed cheaply.
 */
#ifndef PW_IPSET_H
#define PW_IPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/cidr.h"
#include "lib/util.h"

/* The kernel's limit is IPSET_MAXNAMELEN (32) including the NUL. */
#define PW_SET_NAME_MAX 31

enum pw_set_type {
	PW_SET_HASH_IP,		/* pod addresses */
	PW_SET_HASH_NET,	/* ipBlocks: cidr, except entries flagged nomatch */
	PW_SET_HASH_IP_PORT,	/* named ports: address,proto:port */
};

struct pw_set;
struct pw_setlist;

/* NULL when name is empty or longer than PW_SET_NAME_MAX. */
struct pw_set *pw_set_new(const char *name, enum pw_set_type type, int family);
void pw_set_free(struct pw_set *s);

const char *pw_set_name(const struct pw_set *s);
enum pw_set_type pw_set_type(const struct pw_set *s);
const char *pw_set_type_name(enum pw_set_type type);	/* "hash:ip", ... */
int pw_set_family(const struct pw_set *s);		/* AF_INET or AF_INET6 */
/* Sizing given at create time; part of the set's identity (a change needs a swap). */
uint32_t pw_set_maxelem(const struct pw_set *s);
void pw_set_set_maxelem(struct pw_set *s, uint32_t maxelem);

/* Members; duplicates are ignored. /0 in a hash:net set is split in two /1
 * because the kernel refuses a zero-length prefix there. */
void pw_set_add_ip(struct pw_set *s, const struct pw_cidr *ip);
/* The same, with the address already as ipset prints it (for many sets). */
void pw_set_add_ip_text(struct pw_set *s, const char *text);
void pw_set_add_net(struct pw_set *s, const struct pw_cidr *net, bool nomatch);
void pw_set_add_ip_port(struct pw_set *s, const struct pw_cidr *ip,
			const char *proto /* "tcp" */, uint16_t port);

/* The element text of an address and port, as ipset save prints it:
 * "198.18.0.1,tcp:80"; free it. */
char *pw_set_ip_port_text(const struct pw_cidr *ip, const char *proto, uint16_t port);
/* Members in sorted order, as ipset save prints them: "198.18.0.1",
 * "10.0.0.0/8", "198.18.0.0/16 nomatch" is element "198.18.0.0/16" with
 * nomatch true, "198.18.0.1,tcp:80". */
size_t pw_set_member_count(const struct pw_set *s);
const char *pw_set_member_at(const struct pw_set *s, size_t i);
bool pw_set_member_nomatch(const struct pw_set *s, size_t i);

/* The index of the first member not sorting before text (the count if none). */
size_t pw_set_lower_bound(const struct pw_set *s, const char *text);
/* True when the set holds the element text (nomatch or not). */
bool pw_set_has_member(const struct pw_set *s, const char *text);
/* True when both have the same name, type, family and sizing. */
bool pw_set_same_header(const struct pw_set *a, const struct pw_set *b);
bool pw_set_equal(const struct pw_set *a, const struct pw_set *b);

/* A member to add to or delete from a set, as the kernel is told. */
struct pw_member_change {
	char *set;
	char *member;		/* as ipset save prints it; never nomatch */
	bool add;
};

struct pw_member_changes {
	struct pw_member_change *items;
	size_t count;
	size_t cap;
};

void pw_member_changes_push(struct pw_member_changes *c, const char *set,
			    const char *member, bool add);
void pw_member_changes_free(struct pw_member_changes *c);

/* A collection of sets with unique names. */
struct pw_setlist *pw_setlist_new(void);
void pw_setlist_free(struct pw_setlist *l);
/* Takes ownership; returns -EEXIST (and frees nothing) when the name is taken. */
int pw_setlist_add(struct pw_setlist *l, struct pw_set *s);
struct pw_set *pw_setlist_find(const struct pw_setlist *l, const char *name);
/* Makes the sets of l hold what changes says, keeping their order: a few
 * members changed cost a search and a move each, not a sort. A change to a
 * set l does not have is ignored. */
void pw_setlist_apply_changes(struct pw_setlist *l, const struct pw_member_changes *changes);
/* Sets in name order. */
size_t pw_setlist_count(const struct pw_setlist *l);
struct pw_set *pw_setlist_at(const struct pw_setlist *l, size_t i);

#endif
