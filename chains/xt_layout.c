#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <linux/netfilter/xt_limit.h>

#include "chains/xt_layout.h"

const struct pw_xt_layout pw_xt_ipv4 = {
	.family = AF_INET,
	.label = "",
	.level = IPPROTO_IP,
	.entry_size = sizeof(struct ipt_entry),
	.ip_size = sizeof(struct ipt_ip),
	.target_offset_at = offsetof(struct ipt_entry, target_offset),
	.next_offset_at = offsetof(struct ipt_entry, next_offset),
	.comefrom_at = offsetof(struct ipt_entry, comefrom),
	.counters_at = offsetof(struct ipt_entry, counters),
};

const struct pw_xt_layout pw_xt_ipv6 = {
	.family = AF_INET6,
	.label = "IPv6 ",
	.level = IPPROTO_IPV6,
	.entry_size = sizeof(struct ip6t_entry),
	.ip_size = sizeof(struct ip6t_ip6),
	.target_offset_at = offsetof(struct ip6t_entry, target_offset),
	.next_offset_at = offsetof(struct ip6t_entry, next_offset),
	.comefrom_at = offsetof(struct ip6t_entry, comefrom),
	.counters_at = offsetof(struct ip6t_entry, counters),
};

const struct pw_xt_layout *pw_xt_layout(int family)
{
	switch (family) {
	case AF_INET:
		return &pw_xt_ipv4;
	case AF_INET6:
		return &pw_xt_ipv6;
	}
	return NULL;
}

uint16_t pw_xt_u16_at(const void *entry, size_t at)
{
	uint16_t v;

	memcpy(&v, (const char *)entry + at, sizeof(v));
	return v;
}

size_t pw_xt_match_user_size(const struct xt_entry_match *m)
{
	size_t data = m->u.match_size >= sizeof(*m) ? m->u.match_size - sizeof(*m) : 0;
	size_t user = data;

	if (strncmp(m->u.user.name, "limit", sizeof(m->u.user.name)) == 0 &&
	    m->u.user.revision == 0)
		user = offsetof(struct xt_rateinfo, prev);
	return user < data ? user : data;
}
