/* IPv4 and IPv6 prefixes as NetworkPolicy ipBlocks and pod IPs use them. */
#ifndef PW_CIDR_H
#define PW_CIDR_H

#include <stdbool.h>
#include <stdint.h>

/* "ffff:...:ffff/128" and a NUL, with room to spare. */
#define PW_CIDR_STRLEN 64

struct pw_cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t prefix;		/* 0..32 or 0..128 */
	uint8_t addr[16];	/* network byte order; IPv4 in the first 4 */
};

/*
 * Parses "a.b.c.d/len" or "x::y/len". Host bits are kept (pw_cidr_mask
 * clears them) because Kubernetes accepts them and masks later.
 * Returns 0, or -EINVAL for anything else (no prefix, /33, garbage).
 */
int pw_cidr_parse(const char *text, struct pw_cidr *out);

/* Parses a bare address into a full-length prefix; 0 or -EINVAL. */
int pw_ip_parse(const char *text, struct pw_cidr *out);

unsigned pw_cidr_max_prefix(const struct pw_cidr *c);
void pw_cidr_mask(struct pw_cidr *c);
bool pw_cidr_has_host_bits(const struct pw_cidr *c);

/* True when inner lies inside outer (same family, prefix not shorter). */
bool pw_cidr_contains(const struct pw_cidr *outer, const struct pw_cidr *inner);
bool pw_cidr_equal(const struct pw_cidr *a, const struct pw_cidr *b);
int pw_cidr_cmp(const struct pw_cidr *a, const struct pw_cidr *b);

/* "198.18.0.0/15"; with_full_prefix false prints a host as a bare address. */
void pw_cidr_format(const struct pw_cidr *c, bool with_full_prefix,
		    char out[PW_CIDR_STRLEN]);

#endif
