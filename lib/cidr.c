#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/cidr.h"

static int parse_addr(const char *text, size_t len, struct pw_cidr *out)
{
	char tmp[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, text, len);
	tmp[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, tmp, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
		return 0;
	}
	return -EINVAL;
}

int pw_ip_parse(const char *text, struct pw_cidr *out)
{
	return parse_addr(text, strlen(text), out);
}

int pw_cidr_parse(const char *text, struct pw_cidr *out)
{
	const char *slash = strchr(text, '/');
	const char *p;
	unsigned long len = 0;

	if (!slash || parse_addr(text, (size_t)(slash - text), out) < 0)
		return -EINVAL;
	p = slash + 1;
	if (*p == '\0' || strlen(p) > 3)
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		len = len * 10 + (unsigned long)(*p - '0');
	}
	if (len > pw_cidr_max_prefix(out))
		return -EINVAL;
	out->prefix = (uint8_t)len;
	return 0;
}

unsigned pw_cidr_max_prefix(const struct pw_cidr *c)
{
	return c->family == AF_INET ? 32 : 128;
}

static bool bit_in_prefix(unsigned bit, unsigned prefix)
{
	return bit < prefix;
}

void pw_cidr_mask(struct pw_cidr *c)
{
	unsigned bytes = pw_cidr_max_prefix(c) / 8, i, b;

	for (i = 0; i < bytes; i++)
		for (b = 0; b < 8; b++)
			if (!bit_in_prefix(i * 8 + b, c->prefix))
				c->addr[i] &= (uint8_t)~(0x80u >> b);
}

bool pw_cidr_has_host_bits(const struct pw_cidr *c)
{
	struct pw_cidr masked = *c;

	pw_cidr_mask(&masked);
	return memcmp(masked.addr, c->addr, sizeof(c->addr)) != 0;
}

bool pw_cidr_contains(const struct pw_cidr *outer, const struct pw_cidr *inner)
{
	struct pw_cidr a = *outer, b = *inner;

	if (a.family != b.family || b.prefix < a.prefix)
		return false;
	b.prefix = a.prefix;
	pw_cidr_mask(&a);
	pw_cidr_mask(&b);
	return memcmp(a.addr, b.addr, sizeof(a.addr)) == 0;
}

bool pw_cidr_equal(const struct pw_cidr *a, const struct pw_cidr *b)
{
	return pw_cidr_cmp(a, b) == 0;
}

int pw_cidr_cmp(const struct pw_cidr *a, const struct pw_cidr *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	r = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (r)
		return r;
	if (a->prefix != b->prefix)
		return a->prefix < b->prefix ? -1 : 1;
	return 0;
}

/* inet_ntop and snprintf cost more than the rest of a compile's set work. */
static size_t format_ipv4(const uint8_t *a, char *out)
{
	char *p = out;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned v = a[i];

		if (i)
			*p++ = '.';
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
	}
	*p = '\0';
	return (size_t)(p - out);
}

/*
 * inet_ntop's text (RFC 5952: lowercase, no leading zeros, the first of the
 * longest runs of two or more zero groups as "::"), for a dual-stack
 * cluster formats as many IPv6 addresses as IPv4 ones. Addresses that
 * inet_ntop writes with an IPv4 tail (::a.b.c.d, ::ffff:a.b.c.d) are left
 * to it.
 */
static size_t format_ipv6(const uint8_t *a, char *out)
{
	static const char hex[] = "0123456789abcdef";
	int best = -1, best_len = 0, run = -1, i, shift;
	unsigned words[8];
	char *p = out;

	for (i = 0; i < 8; i++) {
		words[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
		if (words[i] == 0 && run < 0)
			run = i;
		if (words[i] == 0 && i - run + 1 > best_len) {
			best = run;
			best_len = i - run + 1;
		}
		if (words[i] != 0)
			run = -1;
	}
	if (best_len < 2)
		best = -1;
	if (best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
		if (!inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN))
			strcpy(out, "?");
		return strlen(out);
	}
	for (i = 0; i < 8; i++) {
		if (i == best) {
			*p++ = ':';
			if (i + best_len == 8)
				*p++ = ':';
			i += best_len - 1;
			continue;
		}
		if (i)
			*p++ = ':';
		for (shift = 12; shift > 0 && !(words[i] >> shift); shift -= 4)
			;
		for (; shift >= 0; shift -= 4)
			*p++ = hex[(words[i] >> shift) & 0xf];
	}
	*p = '\0';
	return (size_t)(p - out);
}

static size_t format_prefix(unsigned prefix, char *out)
{
	char *p = out;

	*p++ = '/';
	if (prefix >= 100)
		*p++ = (char)('0' + prefix / 100);
	if (prefix >= 10)
		*p++ = (char)('0' + prefix / 10 % 10);
	*p++ = (char)('0' + prefix % 10);
	*p = '\0';
	return (size_t)(p - out);
}

void pw_cidr_format(const struct pw_cidr *c, bool with_full_prefix,
		    char out[PW_CIDR_STRLEN])
{
	size_t n = c->family == AF_INET ? format_ipv4(c->addr, out) : format_ipv6(c->addr, out);

	if (with_full_prefix || c->prefix != pw_cidr_max_prefix(c))
		format_prefix(c->prefix, out + n);
}
