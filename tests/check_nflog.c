/*
 * engine/nflog.c: hand-built NFLOG messages through the parser, the lines
 * they become, the prefix, the rate limit, and the reader against a real
 * kernel.
 *
 * The kernel test first moves into a new network namespace of its own
 * (unshare in Check's forked child), so the namespace, its rules and its
 * NFLOG group die with that child whatever happens, and the machine's own
 * are never touched. Without root, iptables-legacy or nfnetlink_log it
 * prints SKIP and passes. Addresses come from 198.18.0.0/15 and fd00::/8.
 */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "engine/nflog.h"
#include "lib/cidr.h"
#include "lib/util.h"
#include "tests/testlib.h"

/* ---------------------------------------------------------------- helpers */

#define MSG_MAX 1024

/* A message buffer aligned for struct nlmsghdr. */
union msgbuf {
	struct nlmsghdr h;
	char bytes[MSG_MAX];
};

static struct pw_cidr ip_of(const char *text)
{
	struct pw_cidr c;

	ck_assert_msg(pw_ip_parse(text, &c) == 0, "bad address %s", text);
	return c;
}

static void addr_of(const char *text, uint8_t *out)
{
	struct pw_cidr c = ip_of(text);

	memcpy(out, c.addr, c.family == AF_INET ? 4 : 16);
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* An IPv4 header (20 bytes) and l4 after it; the total length. */
static size_t ipv4_packet(uint8_t *b, uint8_t proto, const char *src, const char *dst,
			  const uint8_t *l4, size_t l4len)
{
	memset(b, 0, 20);
	b[0] = 0x45;
	put16(b + 2, (uint16_t)(20 + l4len));
	b[8] = 64;
	b[9] = proto;
	addr_of(src, b + 12);
	addr_of(dst, b + 16);
	memcpy(b + 20, l4, l4len);
	return 20 + l4len;
}

/* An IPv6 header (40 bytes) and rest after it (extension headers included). */
static size_t ipv6_packet(uint8_t *b, uint8_t next, const char *src, const char *dst,
			  const uint8_t *rest, size_t restlen)
{
	memset(b, 0, 40);
	b[0] = 0x60;
	put16(b + 4, (uint16_t)restlen);
	b[6] = next;
	b[7] = 64;
	addr_of(src, b + 8);
	addr_of(dst, b + 24);
	memcpy(b + 40, rest, restlen);
	return 40 + restlen;
}

/* TCP (20 bytes) or UDP (8) with the two ports. */
static size_t ports_header(uint8_t *b, size_t len, uint16_t sport, uint16_t dport)
{
	memset(b, 0, len);
	put16(b, sport);
	put16(b + 2, dport);
	if (len == 20)
		b[12] = 0x50;	/* TCP data offset */
	else
		put16(b + 4, (uint16_t)len);
	return len;
}

static struct nlmsghdr *msg_start(union msgbuf *m, uint8_t family)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *g;

	memset(m, 0, sizeof(*m));
	nlh = mnl_nlmsg_put_header(m->bytes);
	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(4242);
	return nlh;
}

/* The message as the kernel builds one: header, devices, prefix, payload. */
static struct nlmsghdr *packet_msg(union msgbuf *m, uint8_t family, const char *prefix,
				   const uint8_t *payload, size_t len)
{
	struct nlmsghdr *nlh = msg_start(m, family);
	uint8_t hdr[4] = { 0x08, 0x00, 3, 0 };	/* hw_protocol, hook, pad */

	mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof(hdr), hdr);
	mnl_attr_put_u32(nlh, NFULA_IFINDEX_INDEV, htonl(3));
	mnl_attr_put_u32(nlh, NFULA_IFINDEX_OUTDEV, htonl(5));
	mnl_attr_put_u32(nlh, NFULA_IFINDEX_PHYSINDEV, htonl(7));
	mnl_attr_put_u32(nlh, NFULA_IFINDEX_PHYSOUTDEV, htonl(9));
	if (prefix)
		mnl_attr_put_strz(nlh, NFULA_PREFIX, prefix);
	if (payload)
		mnl_attr_put(nlh, NFULA_PAYLOAD, len, payload);
	return nlh;
}

/*
 * Parses a copy of nlh in a buffer of exactly its length, so that a read
 * past it is the sanitizers' and valgrind's to see.
 */
static int parse_exact(const struct nlmsghdr *nlh, size_t len, struct pw_nflog_packet *p)
{
	void *copy = pw_xmalloc(len);
	int ret;

	memcpy(copy, nlh, len);
	ret = pw_nflog_parse_msg(copy, p);
	free(copy);
	return ret;
}

static void parse_ip_exact(const uint8_t *data, size_t len, int family,
			   struct pw_nflog_packet *p)
{
	void *copy = pw_xmalloc(len ? len : 1);

	memcpy(copy, data, len);
	memset(p, 0, sizeof(*p));
	pw_nflog_parse_ip(copy, len, family, p);
	free(copy);
}

static void assert_addr(const struct pw_cidr *c, const char *text)
{
	struct pw_cidr want = ip_of(text);
	char got[PW_CIDR_STRLEN];

	pw_cidr_format(c, true, got);
	ck_assert_msg(pw_cidr_equal(c, &want), "address %s, expected %s", got, text);
}

static bool cidr_empty(const struct pw_cidr *c)
{
	static const struct pw_cidr zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

static void assert_line(const struct pw_nflog_packet *p, const struct pw_denial_context *c,
			const char *want)
{
	struct pw_buf out = PW_BUF_INIT;

	pw_nflog_format(p, c, &out);
	ck_assert_str_eq(pw_buf_str(&out), want);
	ck_assert_ptr_eq(strchr(pw_buf_str(&out), '\n'), NULL);
	pw_buf_free(&out);
}

static const char *const two_policies[] = { "x/deny-all", "x/allow-from-z" };
static const char *const one_policy[] = { "x/default-deny" };

/* ---------------------------------------------------------------- parser */

START_TEST(test_ipv4_tcp)
{
	union msgbuf m;
	uint8_t l4[20], pkt[64];
	size_t len = ipv4_packet(pkt, IPPROTO_TCP, "198.18.1.2", "198.18.2.3", l4,
				 ports_header(l4, 20, 43512, 80));
	struct nlmsghdr *nlh = packet_msg(&m, AF_INET, "pw-deny ingress x/a", pkt, len);
	struct pw_nflog_packet p;

	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_str_eq(p.prefix, "pw-deny ingress x/a");
	ck_assert_int_eq(p.family, AF_INET);
	ck_assert_int_eq(p.protocol, IPPROTO_TCP);
	assert_addr(&p.src, "198.18.1.2");
	assert_addr(&p.dst, "198.18.2.3");
	ck_assert(p.have_transport);
	ck_assert_int_eq(p.sport, 43512);
	ck_assert_int_eq(p.dport, 80);
	ck_assert_int_eq(p.indev, 3);
	ck_assert_int_eq(p.outdev, 5);
	ck_assert_int_eq(p.physindev, 7);
	ck_assert_int_eq(p.physoutdev, 9);
	ck_assert_int_eq(p.length, 40);
}
END_TEST

START_TEST(test_ipv4_udp_icmp)
{
	union msgbuf m;
	uint8_t l4[20], pkt[64], icmp[8] = { 8, 0, 0, 0, 0, 1, 0, 1 };
	size_t len = ipv4_packet(pkt, IPPROTO_UDP, "198.18.2.3", "198.18.9.9", l4,
				 ports_header(l4, 8, 5353, 53));
	struct nlmsghdr *nlh = packet_msg(&m, AF_INET, "pw-deny egress x/a", pkt, len);
	struct pw_nflog_packet p;

	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_int_eq(p.protocol, IPPROTO_UDP);
	ck_assert_int_eq(p.sport, 5353);
	ck_assert_int_eq(p.dport, 53);
	ck_assert_int_eq(p.length, 28);

	len = ipv4_packet(pkt, IPPROTO_ICMP, "198.18.1.2", "198.18.2.3", icmp, sizeof(icmp));
	nlh = packet_msg(&m, AF_INET, "pw-deny ingress x/a", pkt, len);
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_int_eq(p.protocol, IPPROTO_ICMP);
	ck_assert(p.have_transport);
	ck_assert_int_eq(p.icmp_type, 8);
	ck_assert_int_eq(p.icmp_code, 0);
	ck_assert_int_eq(p.sport, 0);
	ck_assert_int_eq(p.length, 28);
}
END_TEST

START_TEST(test_ipv4_options_and_fragments)
{
	uint8_t l4[20], pkt[96], opts[64];
	struct pw_nflog_packet p;
	size_t len;

	/* IHL 6: four bytes of options before the ports. */
	ports_header(l4, 8, 1000, 2000);
	memset(opts, 0, sizeof(opts));
	opts[0] = 1;	/* NOP */
	opts[1] = 1;
	opts[2] = 1;
	opts[3] = 0;	/* end of options */
	memcpy(opts + 4, l4, 8);
	len = ipv4_packet(pkt, IPPROTO_UDP, "198.18.1.2", "198.18.2.3", opts, 12);
	pkt[0] = 0x46;
	parse_ip_exact(pkt, len, AF_INET, &p);
	ck_assert_int_eq(p.sport, 1000);
	ck_assert_int_eq(p.dport, 2000);

	/* A later fragment: the protocol, no ports. */
	len = ipv4_packet(pkt, IPPROTO_UDP, "198.18.1.2", "198.18.2.3", l4, 8);
	put16(pkt + 6, 185);	/* offset 185 * 8 */
	parse_ip_exact(pkt, len, AF_INET, &p);
	ck_assert_int_eq(p.protocol, IPPROTO_UDP);
	ck_assert(!p.have_transport);
	ck_assert_int_eq(p.sport, 0);
	ck_assert_int_eq(p.dport, 0);
	assert_addr(&p.dst, "198.18.2.3");

	/* The first one (MF set, offset 0) has them. */
	put16(pkt + 6, 0x2000);
	parse_ip_exact(pkt, len, AF_INET, &p);
	ck_assert(p.have_transport);
	ck_assert_int_eq(p.dport, 2000);

	/* An IHL below 5 is garbage: addresses, but nothing past them. */
	len = ipv4_packet(pkt, IPPROTO_UDP, "198.18.1.2", "198.18.2.3", l4, 8);
	pkt[0] = 0x43;
	parse_ip_exact(pkt, len, AF_INET, &p);
	assert_addr(&p.src, "198.18.1.2");
	ck_assert(!p.have_transport);
	/* And one past the packet's end likewise. */
	pkt[0] = 0x4f;
	parse_ip_exact(pkt, len, AF_INET, &p);
	ck_assert(!p.have_transport);
}
END_TEST

START_TEST(test_ipv6_tcp_extension_headers)
{
	union msgbuf m;
	uint8_t rest[128], pkt[192];
	struct nlmsghdr *nlh;
	struct pw_nflog_packet p;
	size_t len;

	/* hop-by-hop (8 bytes) -> destination options (16 bytes) -> TCP */
	memset(rest, 0, sizeof(rest));
	rest[0] = IPPROTO_DSTOPTS;
	rest[1] = 0;
	rest[8] = IPPROTO_TCP;
	rest[9] = 1;
	ports_header(rest + 24, 20, 43512, 80);
	len = ipv6_packet(pkt, IPPROTO_HOPOPTS, "fd00::1:2", "fd00::2:3", rest, 44);
	nlh = packet_msg(&m, AF_INET6, "pw-deny ingress x/a", pkt, len);
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_int_eq(p.family, AF_INET6);
	ck_assert_int_eq(p.protocol, IPPROTO_TCP);
	assert_addr(&p.src, "fd00::1:2");
	assert_addr(&p.dst, "fd00::2:3");
	ck_assert(p.have_transport);
	ck_assert_int_eq(p.sport, 43512);
	ck_assert_int_eq(p.dport, 80);
	ck_assert_int_eq(p.length, 84);

	/* routing -> fragment (first) -> UDP */
	memset(rest, 0, sizeof(rest));
	rest[0] = IPPROTO_FRAGMENT;
	rest[1] = 0;
	rest[8] = IPPROTO_UDP;
	put16(rest + 10, 0x0001);	/* offset 0, more fragments */
	ports_header(rest + 16, 8, 5353, 53);
	len = ipv6_packet(pkt, IPPROTO_ROUTING, "fd00::1", "fd00::9", rest, 24);
	parse_ip_exact(pkt, len, 0, &p);
	ck_assert_int_eq(p.family, AF_INET6);
	ck_assert_int_eq(p.protocol, IPPROTO_UDP);
	ck_assert_int_eq(p.dport, 53);

	/* a later fragment: UDP, no ports */
	put16(rest + 10, 0x05a8);
	len = ipv6_packet(pkt, IPPROTO_ROUTING, "fd00::1", "fd00::9", rest, 24);
	parse_ip_exact(pkt, len, AF_INET6, &p);
	ck_assert_int_eq(p.protocol, IPPROTO_UDP);
	ck_assert(!p.have_transport);
	ck_assert_int_eq(p.dport, 0);

	/* AH (length in 4-byte units, minus 2) -> TCP */
	memset(rest, 0, sizeof(rest));
	rest[0] = IPPROTO_TCP;
	rest[1] = 4;		/* (4 + 2) * 4 = 24 bytes */
	ports_header(rest + 24, 20, 1, 443);
	len = ipv6_packet(pkt, IPPROTO_AH, "fd00::1", "fd00::9", rest, 44);
	parse_ip_exact(pkt, len, AF_INET6, &p);
	ck_assert_int_eq(p.protocol, IPPROTO_TCP);
	ck_assert_int_eq(p.dport, 443);
}
END_TEST

START_TEST(test_icmpv6)
{
	union msgbuf m;
	uint8_t rest[8] = { 128, 0, 0, 0, 0, 7, 0, 1 }, pkt[64];
	size_t len = ipv6_packet(pkt, IPPROTO_ICMPV6, "fd00::1", "fd00::2", rest, 8);
	struct nlmsghdr *nlh = packet_msg(&m, AF_INET6, "pw-deny ingress x/a", pkt, len);
	struct pw_nflog_packet p;

	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_int_eq(p.protocol, IPPROTO_ICMPV6);
	ck_assert(p.have_transport);
	ck_assert_int_eq(p.icmp_type, 128);
	ck_assert_int_eq(p.icmp_code, 0);
	ck_assert_int_eq(p.length, 48);
}
END_TEST

/* Every cut of a packet: what lies before the cut is read, nothing after it. */
START_TEST(test_truncated_ipv4)
{
	uint8_t l4[20], pkt[64];
	size_t full = ipv4_packet(pkt, IPPROTO_TCP, "198.18.1.2", "198.18.2.3", l4,
				  ports_header(l4, 20, 43512, 80));
	struct pw_nflog_packet p;
	size_t cut;

	for (cut = 0; cut <= full; cut++) {
		parse_ip_exact(pkt, cut, AF_INET, &p);
		ck_assert_int_eq(p.family, AF_INET);
		ck_assert_int_eq(p.length, cut >= 4 ? 40 : 0);
		ck_assert_int_eq(p.protocol, cut >= 10 ? IPPROTO_TCP : 0);
		if (cut >= 16)
			assert_addr(&p.src, "198.18.1.2");
		else
			ck_assert(cidr_empty(&p.src));
		if (cut >= 20)
			assert_addr(&p.dst, "198.18.2.3");
		else
			ck_assert(cidr_empty(&p.dst));
		ck_assert_int_eq(p.have_transport, cut >= 24);
		ck_assert_int_eq(p.dport, cut >= 24 ? 80 : 0);
	}
	/* With no family from the kernel, an empty payload says nothing. */
	parse_ip_exact(pkt, 0, 0, &p);
	ck_assert_int_eq(p.family, 0);
}
END_TEST

START_TEST(test_truncated_ipv6)
{
	uint8_t rest[64], pkt[128];
	struct pw_nflog_packet p;
	size_t full, cut;

	memset(rest, 0, sizeof(rest));
	rest[0] = IPPROTO_TCP;		/* hop-by-hop, 8 bytes */
	ports_header(rest + 8, 20, 43512, 80);
	full = ipv6_packet(pkt, IPPROTO_HOPOPTS, "fd00::1", "fd00::2", rest, 28);
	for (cut = 0; cut <= full; cut++) {
		parse_ip_exact(pkt, cut, AF_INET6, &p);
		ck_assert_int_eq(p.family, AF_INET6);
		ck_assert_int_eq(p.length, cut >= 6 ? 68 : 0);
		if (cut < 7)
			ck_assert_int_eq(p.protocol, 0);
		else if (cut < 42)
			ck_assert_int_eq(p.protocol, IPPROTO_HOPOPTS);
		else
			ck_assert_int_eq(p.protocol, IPPROTO_TCP);
		if (cut >= 24)
			assert_addr(&p.src, "fd00::1");
		else
			ck_assert(cidr_empty(&p.src));
		if (cut >= 40)
			assert_addr(&p.dst, "fd00::2");
		else
			ck_assert(cidr_empty(&p.dst));
		ck_assert_int_eq(p.have_transport, cut >= 52);
		ck_assert_int_eq(p.dport, cut >= 52 ? 80 : 0);
	}

	/* An extension header claiming more than is there. */
	rest[1] = 200;
	full = ipv6_packet(pkt, IPPROTO_HOPOPTS, "fd00::1", "fd00::2", rest, 28);
	parse_ip_exact(pkt, full, AF_INET6, &p);
	ck_assert_int_eq(p.protocol, IPPROTO_TCP);
	ck_assert(!p.have_transport);

	/* A chain of extension headers running to the end. */
	memset(rest, IPPROTO_DSTOPTS, sizeof(rest));
	for (cut = 1; cut < sizeof(rest); cut += 8)
		rest[cut] = 0;
	full = ipv6_packet(pkt, IPPROTO_DSTOPTS, "fd00::1", "fd00::2", rest, sizeof(rest));
	parse_ip_exact(pkt, full, AF_INET6, &p);
	ck_assert_int_eq(p.protocol, IPPROTO_DSTOPTS);
	ck_assert(!p.have_transport);
}
END_TEST

START_TEST(test_garbage_payloads)
{
	union msgbuf m;
	uint8_t l4[20], pkt[64];
	size_t len = ipv4_packet(pkt, IPPROTO_UDP, "198.18.1.2", "198.18.2.3", l4,
				 ports_header(l4, 8, 1, 2));
	struct nlmsghdr *nlh;
	struct pw_nflog_packet p;
	unsigned i;

	/* The kernel says IPv6, the packet says 4: the family, nothing else. */
	nlh = packet_msg(&m, AF_INET6, "pw-deny ingress x/a", pkt, len);
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_int_eq(p.family, AF_INET6);
	ck_assert(cidr_empty(&p.src));
	ck_assert_int_eq(p.protocol, 0);

	/* No family from the kernel (a bridge hook): the version nibble. */
	nlh = packet_msg(&m, AF_UNSPEC, "pw-deny ingress x/a", pkt, len);
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_int_eq(p.family, AF_INET);
	ck_assert_int_eq(p.dport, 2);

	pkt[0] = 0x55;
	nlh = packet_msg(&m, AF_UNSPEC, "pw-deny ingress x/a", pkt, len);
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_int_eq(p.family, 0);
	ck_assert(cidr_empty(&p.src));

	/* Bytes of every value: no crash, no read out of bounds. */
	srand(7);
	for (i = 0; i < 2000; i++) {
		uint8_t junk[80];
		size_t j, n = (size_t)rand() % sizeof(junk);

		for (j = 0; j < n; j++)
			junk[j] = (uint8_t)rand();
		if (n > 0)
			junk[0] = (uint8_t)((i & 1 ? 0x40 : 0x60) | (junk[0] & 0x0f));
		parse_ip_exact(junk, n, 0, &p);
	}
}
END_TEST

START_TEST(test_missing_prefix_and_payload)
{
	union msgbuf m;
	struct nlmsghdr *nlh = packet_msg(&m, AF_INET6, NULL, NULL, 0);
	struct pw_nflog_packet p;

	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_str_eq(p.prefix, "");
	ck_assert_int_eq(p.family, AF_INET6);
	ck_assert(cidr_empty(&p.src));
	ck_assert_int_eq(p.indev, 3);

	/* Only the nfgenmsg: still a packet, of nothing. */
	nlh = msg_start(&m, AF_INET);
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_int_eq(p.family, AF_INET);
	ck_assert_int_eq(p.outdev, 0);
}
END_TEST

START_TEST(test_bad_messages)
{
	union msgbuf m;
	struct nlmsghdr *nlh;
	struct nlattr *a;
	struct pw_nflog_packet p;
	char long_prefix[101];
	uint32_t wide[2] = { htonl(11), htonl(12) };
	uint8_t l4[20], pkt[64];
	size_t len;

	/* Another message type: not a packet. */
	nlh = msg_start(&m, AF_INET);
	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), -ENOMSG);
	nlh->nlmsg_type = NLMSG_DONE;
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), -ENOMSG);

	/* Too short for its nfgenmsg. */
	nlh = msg_start(&m, AF_INET);
	nlh->nlmsg_len = sizeof(*nlh) + 2;
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), -EBADMSG);

	/* A prefix longer than the target allows is no prefix; nor one without its NUL. */
	memset(long_prefix, 'a', sizeof(long_prefix) - 1);
	long_prefix[sizeof(long_prefix) - 1] = '\0';
	nlh = packet_msg(&m, AF_INET, long_prefix, NULL, 0);
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_str_eq(p.prefix, "");
	memset(long_prefix, 'b', 64);
	long_prefix[63] = '\0';		/* 63 bytes and the NUL: the most there can be */
	nlh = packet_msg(&m, AF_INET, long_prefix, NULL, 0);
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_int_eq(strlen(p.prefix), 63);
	nlh = msg_start(&m, AF_INET);
	mnl_attr_put(nlh, NFULA_PREFIX, 6, "pw-den");
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_str_eq(p.prefix, "");

	/* An interface index of the wrong size is left out. */
	nlh = msg_start(&m, AF_INET);
	mnl_attr_put(nlh, NFULA_IFINDEX_INDEV, sizeof(wide), wide);
	mnl_attr_put(nlh, NFULA_IFINDEX_OUTDEV, 2, wide);
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_int_eq(p.indev, 0);
	ck_assert_int_eq(p.outdev, 0);

	/* An attribute claiming more than the message holds ends the walk. */
	len = ipv4_packet(pkt, IPPROTO_UDP, "198.18.1.2", "198.18.2.3", l4,
			  ports_header(l4, 8, 1, 2));
	nlh = msg_start(&m, AF_INET);
	mnl_attr_put_strz(nlh, NFULA_PREFIX, "pw-deny ingress x/a");
	a = (struct nlattr *)mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put(nlh, NFULA_PAYLOAD, len, pkt);
	a->nla_len = (uint16_t)(a->nla_len + 64);
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert_str_eq(p.prefix, "pw-deny ingress x/a");
	ck_assert(cidr_empty(&p.src));

	/* A payload cut by the message's own length (not aligned). */
	nlh = packet_msg(&m, AF_INET, "pw-deny ingress x/a", pkt, len);
	nlh->nlmsg_len -= 7;
	ck_assert_int_eq(parse_exact(nlh, nlh->nlmsg_len, &p), 0);
	ck_assert(cidr_empty(&p.src));
	ck_assert_int_eq(p.indev, 3);
}
END_TEST

/* ---------------------------------------------------------------- lines */

START_TEST(test_format_lines)
{
	struct pw_nflog_packet p;
	struct pw_denial_context c;
	uint8_t l4[20], pkt[96], rest[64];
	uint8_t icmp[8] = { 8, 0, 0, 0, 0, 1, 0, 1 };
	size_t len;

	memset(&c, 0, sizeof(c));
	c.namespace = "x";
	c.pod = "a";
	c.ingress = true;
	c.policies = two_policies;
	c.policy_count = 2;
	c.remote_namespace = "y";
	c.remote_pod = "b";
	len = ipv4_packet(pkt, IPPROTO_TCP, "198.18.1.2", "198.18.2.3", l4,
			  ports_header(l4, 20, 43512, 80));
	parse_ip_exact(pkt, len, AF_INET, &p);
	assert_line(&p, &c, "denied ingress tcp 198.18.1.2:43512 -> 198.18.2.3:80 "
		    "to x/a from y/b (isolated by x/deny-all, x/allow-from-z)");

	/* Only the remote namespace known. */
	c.remote_pod = NULL;
	assert_line(&p, &c, "denied ingress tcp 198.18.1.2:43512 -> 198.18.2.3:80 "
		    "to x/a from namespace y (isolated by x/deny-all, x/allow-from-z)");

	/* Egress to an outside address. */
	c.ingress = false;
	c.remote_namespace = NULL;
	c.policies = one_policy;
	c.policy_count = 1;
	len = ipv4_packet(pkt, IPPROTO_UDP, "198.18.2.3", "198.18.9.9", l4,
			  ports_header(l4, 8, 5353, 53));
	parse_ip_exact(pkt, len, AF_INET, &p);
	assert_line(&p, &c, "denied egress udp 198.18.2.3:5353 -> 198.18.9.9:53 "
		    "from x/a to 198.18.9.9 (isolated by x/default-deny)");

	/* ICMP. */
	c.ingress = true;
	c.remote_namespace = "y";
	c.remote_pod = "b";
	len = ipv4_packet(pkt, IPPROTO_ICMP, "198.18.1.2", "198.18.2.3", icmp, sizeof(icmp));
	parse_ip_exact(pkt, len, AF_INET, &p);
	assert_line(&p, &c, "denied ingress icmp 198.18.1.2 -> 198.18.2.3 type 8 code 0 "
		    "to x/a from y/b (isolated by x/default-deny)");

	/* IPv6: brackets with ports, none without. */
	len = ipv6_packet(pkt, IPPROTO_TCP, "fd00::1", "fd00::2", l4,
			  ports_header(l4, 20, 40000, 80));
	parse_ip_exact(pkt, len, AF_INET6, &p);
	assert_line(&p, &c, "denied ingress tcp [fd00::1]:40000 -> [fd00::2]:80 "
		    "to x/a from y/b (isolated by x/default-deny)");
	c.ingress = false;
	c.remote_namespace = NULL;
	assert_line(&p, &c, "denied egress tcp [fd00::1]:40000 -> [fd00::2]:80 "
		    "from x/a to fd00::2 (isolated by x/default-deny)");

	/* ICMPv6. */
	icmp[0] = 128;
	len = ipv6_packet(pkt, IPPROTO_ICMPV6, "fd00::1", "fd00::2", icmp, sizeof(icmp));
	parse_ip_exact(pkt, len, AF_INET6, &p);
	assert_line(&p, &c, "denied egress icmpv6 fd00::1 -> fd00::2 type 128 code 0 "
		    "from x/a to fd00::2 (isolated by x/default-deny)");

	/* A later fragment: no ports to show. */
	memset(rest, 0, sizeof(rest));
	rest[0] = IPPROTO_UDP;
	put16(rest + 2, 0x0100);
	len = ipv6_packet(pkt, IPPROTO_FRAGMENT, "fd00::1", "fd00::2", rest, 16);
	parse_ip_exact(pkt, len, AF_INET6, &p);
	assert_line(&p, &c, "denied egress udp fd00::1 -> fd00::2 "
		    "from x/a to fd00::2 (isolated by x/default-deny)");

	/* Other protocols: by name, else by number. */
	len = ipv4_packet(pkt, IPPROTO_GRE, "198.18.2.3", "198.18.9.9", l4, 4);
	parse_ip_exact(pkt, len, AF_INET, &p);
	assert_line(&p, &c, "denied egress gre 198.18.2.3 -> 198.18.9.9 "
		    "from x/a to 198.18.9.9 (isolated by x/default-deny)");
	pkt[9] = 253;
	parse_ip_exact(pkt, len, AF_INET, &p);
	assert_line(&p, &c, "denied egress proto 253 198.18.2.3 -> 198.18.9.9 "
		    "from x/a to 198.18.9.9 (isolated by x/default-deny)");

	/* What cannot be read shows as "?"; no policy known says so. */
	parse_ip_exact(pkt, 12, AF_INET, &p);
	c.policy_count = 0;
	assert_line(&p, &c, "denied egress proto 253 ? -> ? "
		    "from x/a to ? (no isolating policy known)");
	memset(&p, 0, sizeof(p));
	c.ingress = true;
	c.remote_namespace = "y";
	c.remote_pod = NULL;
	assert_line(&p, &c, "denied ingress packet ? -> ? "
		    "to x/a from namespace y (no isolating policy known)");
}
END_TEST

/* ---------------------------------------------------------------- prefix */

START_TEST(test_parse_prefix)
{
	const char *ns_pod = NULL;
	bool ingress = false;

	ck_assert_int_eq(pw_nflog_parse_prefix("pw-deny ingress x/a", "pw-", &ingress, &ns_pod),
			 0);
	ck_assert(ingress);
	ck_assert_str_eq(ns_pod, "x/a");
	ck_assert_int_eq(pw_nflog_parse_prefix("pw-deny egress kube-system/coredns-12ab",
					       "pw-", &ingress, &ns_pod), 0);
	ck_assert(!ingress);
	ck_assert_str_eq(ns_pod, "kube-system/coredns-12ab");
	/* The hashed form of a long name comes back as it is. */
	ck_assert_int_eq(pw_nflog_parse_prefix("pw-deny egress a-very-long-namespace/a-very-lo~"
					       "0123abcd", "pw-", &ingress, &ns_pod), 0);
	ck_assert_str_eq(ns_pod, "a-very-long-namespace/a-very-lo~0123abcd");
	/* Another chain prefix. */
	ck_assert_int_eq(pw_nflog_parse_prefix("pw2-deny ingress x/a", "pw2-", &ingress,
					       &ns_pod), 0);

	/* Not ours. */
	ck_assert_int_eq(pw_nflog_parse_prefix("", "pw-", &ingress, &ns_pod), -ENOENT);
	ck_assert_int_eq(pw_nflog_parse_prefix("pw2-deny ingress x/a", "pw-", &ingress,
					       &ns_pod), -ENOENT);
	ck_assert_int_eq(pw_nflog_parse_prefix("calico-packet: ", "pw-", &ingress, &ns_pod),
			 -ENOENT);
	ck_assert_int_eq(pw_nflog_parse_prefix("pw-deny ingress ", "pw-", &ingress, &ns_pod),
			 -ENOENT);
	ck_assert_int_eq(pw_nflog_parse_prefix("pw-deny ingress", "pw-", &ingress, &ns_pod),
			 -ENOENT);
	ck_assert_int_eq(pw_nflog_parse_prefix("pw-deny sideways x/a", "pw-", &ingress,
					       &ns_pod), -ENOENT);
	ck_assert_int_eq(pw_nflog_parse_prefix("pw-allow ingress x/a", "pw-", &ingress,
					       &ns_pod), -ENOENT);
	ck_assert_int_eq(pw_nflog_parse_prefix("pw-deny ingress x/a extra", "pw-", &ingress,
					       &ns_pod), -ENOENT);
	ck_assert_int_eq(pw_nflog_parse_prefix("pw-deny ingress x/a\n", "pw-", &ingress,
					       &ns_pod), -ENOENT);
	ck_assert_int_eq(pw_nflog_parse_prefix("pw-deny  ingress x/a", "pw-", &ingress,
					       &ns_pod), -ENOENT);
}
END_TEST

/* ---------------------------------------------------------------- rate limit */

START_TEST(test_ratelimit)
{
	struct pw_ratelimit rl;
	uint64_t over = 99;
	unsigned i, allowed;

	ck_assert_int_eq(PW_NFLOG_LINES_PER_SECOND, 20);
	ck_assert_int_eq(PW_NFLOG_LINES_BURST, 100);
	pw_ratelimit_init(&rl, PW_NFLOG_LINES_PER_SECOND, PW_NFLOG_LINES_BURST);

	/* The burst at once, then nothing. */
	for (i = 0; i < 100; i++)
		ck_assert(pw_ratelimit_allow(&rl, 1000));
	ck_assert(!pw_ratelimit_allow(&rl, 1000));
	ck_assert(!pw_ratelimit_allow(&rl, 1049));
	/* One line per 50 ms. */
	ck_assert(pw_ratelimit_allow(&rl, 1050));
	ck_assert(!pw_ratelimit_allow(&rl, 1050));
	ck_assert_int_eq(pw_ratelimit_take_suppressed(&rl, 1500, &over), 3);
	ck_assert_int_eq(over, 500);
	ck_assert_int_eq(pw_ratelimit_take_suppressed(&rl, 1600, &over), 0);
	ck_assert_int_eq(over, 0);

	/* Over ten seconds of a steady flood: the rate, and the rest counted. */
	allowed = 0;
	for (i = 0; i < 10000; i++)
		if (pw_ratelimit_allow(&rl, 2000 + i))
			allowed++;
	/* 950 ms idle refilled 19 lines; then 20 a second for 9.999 s. */
	ck_assert_int_eq(allowed, 19 + 199);
	ck_assert_int_eq(pw_ratelimit_take_suppressed(&rl, 12000, NULL), 10000 - allowed);

	/* A long pause fills the bucket to its burst, no more, and overflows nothing. */
	allowed = 0;
	for (i = 0; i < 300; i++)
		if (pw_ratelimit_allow(&rl, UINT64_C(1) << 62))
			allowed++;
	ck_assert_int_eq(allowed, 100);

	/* A clock that goes back gives nothing. */
	pw_ratelimit_init(&rl, 1, 1);
	ck_assert(pw_ratelimit_allow(&rl, 5000));
	ck_assert(!pw_ratelimit_allow(&rl, 4000));
	ck_assert(!pw_ratelimit_allow(&rl, 5999));
	ck_assert(pw_ratelimit_allow(&rl, 6000));

	/* burst 0: one second's worth; rate 0: the burst only. */
	pw_ratelimit_init(&rl, 5, 0);
	for (i = 0; i < 5; i++)
		ck_assert(pw_ratelimit_allow(&rl, 0));
	ck_assert(!pw_ratelimit_allow(&rl, 0));
	pw_ratelimit_init(&rl, 0, 2);
	ck_assert(pw_ratelimit_allow(&rl, 0));
	ck_assert(pw_ratelimit_allow(&rl, 0));
	ck_assert(!pw_ratelimit_allow(&rl, 100000));
	pw_ratelimit_init(&rl, 0, 0);
	ck_assert(pw_ratelimit_allow(&rl, 0));
	ck_assert(!pw_ratelimit_allow(&rl, 100000));
}
END_TEST

/* ---------------------------------------------------------------- kernel */

#define GROUP 4242
#define GROUP_TEXT "4242"
#define SPORT 40001

struct collected {
	struct pw_nflog_packet v4, v6;
	bool have_v4, have_v6;
	unsigned count;
};

static void collect(void *ctx, const struct pw_nflog_packet *p)
{
	struct collected *c = ctx;

	c->count++;
	if (p->family == AF_INET && !c->have_v4) {
		c->v4 = *p;
		c->have_v4 = true;
	} else if (p->family == AF_INET6 && !c->have_v6) {
		c->v6 = *p;
		c->have_v6 = true;
	}
}

static void send_udp(int family, const char *addr, uint16_t sport, uint16_t dport)
{
	struct sockaddr_storage from, to;
	struct pw_cidr ip = ip_of(addr);
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&from, 0, sizeof(from));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&from;

		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, ip.addr, 4);
		len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&from;

		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, ip.addr, 16);
		len = sizeof(*s);
	}
	to = from;
	((struct sockaddr_in *)&from)->sin_port = htons(sport);	/* same offset in both */
	((struct sockaddr_in *)&to)->sin_port = htons(dport);
	ck_assert_msg(bind(fd, (struct sockaddr *)&from, len) == 0, "bind %s: %s", addr,
		      strerror(errno));
	ck_assert_msg(sendto(fd, "hello", 5, 0, (struct sockaddr *)&to, len) == 5,
		      "sendto %s: %s", addr, strerror(errno));
	close(fd);
}

/* Reads until want says enough or 3 s pass. */
static void read_until(struct pw_nflog *n, struct collected *c, bool both)
{
	struct pollfd pfd;
	int i, ret;

	for (i = 0; i < 30 && !(c->have_v4 && (!both || c->have_v6)); i++) {
		pfd.fd = pw_nflog_fd(n);
		pfd.events = POLLIN;
		ret = poll(&pfd, 1, 100);
		ck_assert_int_ge(ret, 0);
		ret = pw_nflog_read(n, collect, c);
		ck_assert_msg(ret >= 0, "pw_nflog_read: %s", strerror(-ret));
	}
}

static void check_udp(const struct pw_nflog_packet *p, int family, const char *addr,
		      uint32_t lo)
{
	const char *ns_pod = NULL;
	bool ingress = true;

	ck_assert_str_eq(p->prefix, "pw-deny egress x/a");
	ck_assert_int_eq(p->family, family);
	ck_assert_int_eq(p->protocol, IPPROTO_UDP);
	assert_addr(&p->src, addr);
	assert_addr(&p->dst, addr);
	ck_assert(p->have_transport);
	ck_assert_int_eq(p->sport, SPORT);
	ck_assert_int_eq(p->dport, 9);
	ck_assert_int_eq(p->indev, 0);
	ck_assert_int_eq(p->outdev, lo);
	ck_assert_int_eq(p->length, (family == AF_INET ? 20 : 40) + 8 + 5);
	ck_assert_int_eq(pw_nflog_parse_prefix(p->prefix, "pw-", &ingress, &ns_pod), 0);
	ck_assert(!ingress);
	ck_assert_str_eq(ns_pod, "x/a");
}

#define SH_OK(...) ck_assert_msg(pw_test_run(__VA_ARGS__) == 0, "failed: " __VA_ARGS__)

/* In the test's own namespace: lo up with our addresses; false (SKIP) without NFLOG. */
static struct pw_nflog *kernel_setup(bool *ipv6)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_nflog *n;

	if (!pw_test_enter_netns("iptables-legacy -V >/dev/null && "
				 "ip6tables-legacy -V >/dev/null && ip -V",
				 "iptables-legacy, ip6tables-legacy and iproute2"))
		return NULL;
	*ipv6 = access("/proc/net/if_inet6", F_OK) == 0;
	SH_OK("ip link set lo up");
	SH_OK("ip addr add 198.18.0.1/32 dev lo");
	if (*ipv6)
		SH_OK("ip -6 addr add fd00::1/128 dev lo nodad");
	else
		printf("SKIP: IPv6 part (no IPv6 in this kernel)\n");
	n = pw_nflog_open(GROUP, &err);
	if (!n && errno == EPROTONOSUPPORT) {
		printf("SKIP: %s\n", pw_buf_str(&err));
		pw_buf_free(&err);
		return NULL;
	}
	ck_assert_msg(n != NULL, "pw_nflog_open: %s", pw_buf_str(&err));
	pw_buf_free(&err);
	if (pw_test_run("iptables-legacy -w -A OUTPUT -p udp --dport 9 -j NFLOG "
			"--nflog-group " GROUP_TEXT " --nflog-prefix 'pw-deny egress x/a'") != 0) {
		printf("SKIP: no NFLOG target (xt_NFLOG) for iptables-legacy\n");
		pw_nflog_close(n);
		return NULL;
	}
	if (*ipv6)
		SH_OK("ip6tables-legacy -w -A OUTPUT -p udp --dport 9 -j NFLOG "
		      "--nflog-group " GROUP_TEXT " --nflog-prefix 'pw-deny egress x/a'");
	return n;
}

START_TEST(test_kernel_read)
{
	struct pw_buf err = PW_BUF_INIT, line = PW_BUF_INIT;
	struct collected got;
	struct pw_denial_context c;
	struct pw_nflog *n, *again;
	uint32_t lo;
	bool ipv6 = false;

	n = kernel_setup(&ipv6);
	if (!n)
		return;
	lo = if_nametoindex("lo");
	ck_assert_int_gt(lo, 0);

	memset(&got, 0, sizeof(got));
	send_udp(AF_INET, "198.18.0.1", SPORT, 9);
	if (ipv6)
		send_udp(AF_INET6, "fd00::1", SPORT, 9);
	read_until(n, &got, ipv6);
	ck_assert_msg(got.have_v4, "no IPv4 packet came (%u others)", got.count);
	check_udp(&got.v4, AF_INET, "198.18.0.1", lo);
	if (ipv6) {
		ck_assert_msg(got.have_v6, "no IPv6 packet came (%u others)", got.count);
		check_udp(&got.v6, AF_INET6, "fd00::1", lo);
	}
	ck_assert_int_eq(pw_nflog_overruns(n), 0);
	/* Nothing left: a read that finds nothing returns 0 at once. */
	ck_assert_int_eq(pw_nflog_read(n, collect, &got), 0);

	memset(&c, 0, sizeof(c));
	c.namespace = "x";
	c.pod = "a";
	c.policies = one_policy;
	c.policy_count = 1;
	pw_nflog_format(&got.v4, &c, &line);
	ck_assert_str_eq(pw_buf_str(&line), "denied egress udp 198.18.0.1:40001 -> "
			 "198.18.0.1:9 from x/a to 198.18.0.1 (isolated by x/default-deny)");
	pw_buf_free(&line);

	/* The group is ours: a second reader is told who holds it. */
	again = pw_nflog_open(GROUP, &err);
	ck_assert_ptr_eq(again, NULL);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_contains(pw_buf_str(&err), "NFLOG group " GROUP_TEXT);
	ck_assert_contains(pw_buf_str(&err), "already bound");
	ck_assert_contains(pw_buf_str(&err), "/proc/net/netfilter/nfnetlink_log");
	printf("second bind: %s\n", pw_buf_str(&err));
	pw_buf_free(&err);

	/* Closing gives it back. */
	pw_nflog_close(n);
	n = pw_nflog_open(GROUP, &err);
	ck_assert_msg(n != NULL, "reopening: %s", pw_buf_str(&err));
	memset(&got, 0, sizeof(got));
	send_udp(AF_INET, "198.18.0.1", SPORT, 9);
	read_until(n, &got, false);
	ck_assert(got.have_v4);
	pw_nflog_close(n);
	pw_buf_free(&err);
}
END_TEST

/* A queue too small for what comes: the loss is counted and reading goes on. */
START_TEST(test_kernel_overrun)
{
	struct collected got;
	struct pw_nflog *n;
	int small = 1, i, ret, total = 0;
	bool ipv6 = false;

	n = kernel_setup(&ipv6);
	if (!n)
		return;
	ck_assert_int_eq(setsockopt(pw_nflog_fd(n), SOL_SOCKET, SO_RCVBUF, &small,
				    sizeof(small)), 0);
	memset(&got, 0, sizeof(got));
	for (i = 0; i < 300; i++) {
		send_udp(AF_INET, "198.18.0.1", (uint16_t)(SPORT + i), 9);
		if (i % 50 == 49)
			usleep(150 * 1000);	/* past the flush timeout: several batches */
	}
	usleep(300 * 1000);
	for (i = 0; i < 10; i++) {
		ret = pw_nflog_read(n, collect, &got);
		ck_assert_msg(ret >= 0, "pw_nflog_read: %s", strerror(-ret));
		total += ret;
	}
	ck_assert_msg(pw_nflog_overruns(n) > 0, "no overrun counted (%d packets read)", total);
	ck_assert_int_lt(total, 300);
	printf("overrun: %lu overruns, %d of 300 packets read\n", pw_nflog_overruns(n), total);
	/* And the reader still works. */
	memset(&got, 0, sizeof(got));
	send_udp(AF_INET, "198.18.0.1", SPORT, 9);
	read_until(n, &got, false);
	ck_assert(got.have_v4);
	pw_nflog_close(n);
}
END_TEST

static Suite *nflog_suite(void)
{
	Suite *s = suite_create("nflog");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, test_ipv4_tcp);
	tcase_add_test(tc, test_ipv4_udp_icmp);
	tcase_add_test(tc, test_ipv4_options_and_fragments);
	tcase_add_test(tc, test_ipv6_tcp_extension_headers);
	tcase_add_test(tc, test_icmpv6);
	tcase_add_test(tc, test_truncated_ipv4);
	tcase_add_test(tc, test_truncated_ipv6);
	tcase_add_test(tc, test_garbage_payloads);
	tcase_add_test(tc, test_missing_prefix_and_payload);
	tcase_add_test(tc, test_bad_messages);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, test_format_lines);
	tcase_add_test(tc, test_parse_prefix);
	suite_add_tcase(s, tc);

	tc = tcase_create("ratelimit");
	tcase_add_test(tc, test_ratelimit);
	suite_add_tcase(s, tc);

	tc = tcase_create("kernel");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_kernel_read);
	tcase_add_test(tc, test_kernel_overrun);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	pw_test_path_with_sbin();

	sr = srunner_create(nflog_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
