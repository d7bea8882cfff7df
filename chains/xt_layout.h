/*
 * Where the fields of an x_tables entry sit in each family: struct
 * ipt_entry and struct ip6t_entry differ in their address part, which
 * moves every field after it. The writer reads libiptc's entries through
 * it and the drift check the kernel's own getsockopt() answer.
 */
#ifndef PW_XT_LAYOUT_H
#define PW_XT_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

struct pw_xt_layout {
	int family;			/* AF_INET or AF_INET6 */
	const char *label;		/* put before every message: "" or "IPv6 " */
	int level;			/* socket option level: IPPROTO_IP or IPPROTO_IPV6 */
	size_t entry_size;		/* the fixed header, before the matches */
	size_t ip_size;			/* its address part, at offset 0 */
	size_t target_offset_at;	/* offsetof(entry, target_offset) */
	size_t next_offset_at;
	size_t comefrom_at;
	size_t counters_at;
};

extern const struct pw_xt_layout pw_xt_ipv4, pw_xt_ipv6;

/* NULL for a family that is neither. */
const struct pw_xt_layout *pw_xt_layout(int family);

struct xt_entry_match;

/*
 * How many bytes of a match's data are the user's, as iptables'
 * userspacesize says: the rest is state the kernel writes (limit's bucket
 * after prev) and some kernels copy back, so that a comparison or a
 * digest of the rest would see every packet as a change. A target's
 * header has the same layout; every target podwall writes is all user's.
 */
size_t pw_xt_match_user_size(const struct xt_entry_match *m);

/* The 16-bit field at byte at of an entry, however the entry is aligned. */
uint16_t pw_xt_u16_at(const void *entry, size_t at);

#endif
