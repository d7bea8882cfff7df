#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "chains/ipset.h"
#include "chains/render.h"
#include "chains/rule.h"
#include "chains/table.h"
#include "lib/cidr.h"
#include "lib/util.h"

/* ---------------------------------------------------------------- helpers */

static struct pw_cidr cidr(const char *text)
{
	struct pw_cidr c;

	if (strchr(text, '/'))
		ck_assert_int_eq(pw_cidr_parse(text, &c), 0);
	else
		ck_assert_int_eq(pw_ip_parse(text, &c), 0);
	return c;
}

/* Formats, compares and frees the rule, so each test reads as input -> text. */
static void assert_rule(struct pw_rule *r, const char *expected)
{
	struct pw_buf b = PW_BUF_INIT;

	pw_rule_format(r, &b);
	ck_assert_str_eq(pw_buf_str(&b), expected);
	pw_buf_free(&b);
	pw_rule_free(r);
}

static struct pw_rule *proto_rule(uint8_t ipproto)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_protocol(r, ipproto);
	return r;
}

static void assert_set_members(const struct pw_set *s, const char *const *expected,
			       size_t n)
{
	size_t i;

	ck_assert_int_eq(pw_set_member_count(s), n);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(pw_set_member_at(s, i), expected[i]);
	ck_assert(pw_set_member_at(s, n) == NULL);
}

static void add_ip(struct pw_set *s, const char *text)
{
	struct pw_cidr c = cidr(text);

	pw_set_add_ip(s, &c);
}

static void add_net(struct pw_set *s, const char *text, bool nomatch)
{
	struct pw_cidr c = cidr(text);

	pw_set_add_net(s, &c, nomatch);
}

static void add_ip_port(struct pw_set *s, const char *text, const char *proto,
			uint16_t port)
{
	struct pw_cidr c = cidr(text);

	pw_set_add_ip_port(s, &c, proto, port);
}

/* ---------------------------------------------------------------- IP header */

START_TEST(test_rule_empty)
{
	assert_rule(pw_rule_new(), "");
	pw_rule_free(NULL);
}
END_TEST

START_TEST(test_rule_addresses)
{
	struct pw_rule *r = pw_rule_new();
	struct pw_cidr src = cidr("198.18.0.7"), dst = cidr("198.18.5.9/16");

	pw_rule_set_src(r, &src, false);
	pw_rule_set_dst(r, &dst, false);
	/* A host prints /32; host bits are cleared, as the kernel stores them. */
	assert_rule(r, "-s 198.18.0.7/32 -d 198.18.0.0/16");

	r = pw_rule_new();
	pw_rule_set_src(r, &src, true);
	pw_rule_set_dst(r, &dst, true);
	assert_rule(r, "! -s 198.18.0.7/32 ! -d 198.18.0.0/16");
}
END_TEST

START_TEST(test_rule_address_any)
{
	struct pw_rule *r = pw_rule_new();
	struct pw_cidr any = cidr("0.0.0.0/0");

	pw_rule_set_src(r, &any, false);
	assert_rule(r, "");

	r = pw_rule_new();
	pw_rule_set_dst(r, &any, true);
	assert_rule(r, "! -d 0.0.0.0/0");

	r = pw_rule_new();
	pw_rule_set_src(r, &any, true);
	pw_rule_set_src(r, NULL, false);
	assert_rule(r, "");
}
END_TEST

START_TEST(test_rule_interfaces)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_in_iface(r, "cali+", false);
	pw_rule_set_out_iface(r, "eth0", true);
	assert_rule(r, "-i cali+ ! -o eth0");

	/* A lone "+" is every interface: iptables-save prints nothing. */
	r = pw_rule_new();
	pw_rule_set_in_iface(r, "+", true);
	pw_rule_set_out_iface(r, "", false);
	assert_rule(r, "");
}
END_TEST

START_TEST(test_rule_protocols)
{
	assert_rule(proto_rule(IPPROTO_TCP), "-p tcp");
	assert_rule(proto_rule(IPPROTO_UDP), "-p udp");
	assert_rule(proto_rule(IPPROTO_SCTP), "-p sctp");
	assert_rule(proto_rule(IPPROTO_ICMP), "-p icmp");
	assert_rule(proto_rule(253), "-p 253");
}
END_TEST

/* ---------------------------------------------------------------- matches */

static void assert_comment(const char *text, const char *expected)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_add_comment(r, text);
	assert_rule(r, expected);
}

START_TEST(test_match_comment)
{
	assert_comment("ns_a-b-0", "-m comment --comment ns_a-b-0");
	assert_comment("ns/a b", "-m comment --comment \"ns/a b\"");
	assert_comment("say \"hi\"", "-m comment --comment \"say \\\"hi\\\"\"");
	assert_comment("a\\b", "-m comment --comment \"a\\\\b\"");
	/* xtables_save_string() escapes the apostrophe as well. */
	assert_comment("it's", "-m comment --comment \"it\\'s\"");
	assert_comment("", "-m comment --comment \"\"");
}
END_TEST

START_TEST(test_match_comment_truncated)
{
	char text[PW_COMMENT_MAX + 11], expected[PW_COMMENT_MAX + 40];
	struct pw_rule *r = pw_rule_new();

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	snprintf(expected, sizeof(expected), "-m comment --comment %.*s", PW_COMMENT_MAX,
		 text);
	pw_rule_add_comment(r, text);
	assert_rule(r, expected);
}
END_TEST

START_TEST(test_match_conntrack)
{
	struct pw_rule *r = pw_rule_new();

	/* Printed in the kernel's fixed order, whatever order the bits are given in. */
	pw_rule_add_ctstate(r, PW_CT_ESTABLISHED | PW_CT_RELATED, false);
	assert_rule(r, "-m conntrack --ctstate RELATED,ESTABLISHED");

	r = pw_rule_new();
	pw_rule_add_ctstate(r, PW_CT_ESTABLISHED | PW_CT_NEW | PW_CT_INVALID |
			    PW_CT_RELATED, false);
	assert_rule(r, "-m conntrack --ctstate INVALID,NEW,RELATED,ESTABLISHED");

	r = pw_rule_new();
	pw_rule_add_ctstate(r, PW_CT_INVALID, true);
	assert_rule(r, "-m conntrack ! --ctstate INVALID");
}
END_TEST

START_TEST(test_match_set)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_add_set(r, "pw-src", PW_SET_SRC, false);
	pw_rule_add_set(r, "pw-dst", PW_SET_DST, false);
	pw_rule_add_set(r, "pw-ipp", PW_SET_DST_DST, false);
	pw_rule_add_set(r, "pw-ipp2", PW_SET_SRC_DST, false);
	assert_rule(r, "-m set --match-set pw-src src -m set --match-set pw-dst dst"
		    " -m set --match-set pw-ipp dst,dst"
		    " -m set --match-set pw-ipp2 src,dst");

	r = pw_rule_new();
	pw_rule_add_set(r, "pw-src", PW_SET_SRC, true);
	assert_rule(r, "-m set ! --match-set pw-src src");
}
END_TEST

START_TEST(test_match_dport)
{
	struct pw_rule *r = proto_rule(IPPROTO_TCP);

	pw_rule_add_dport(r, 80, 80);
	assert_rule(r, "-p tcp -m tcp --dport 80");

	r = proto_rule(IPPROTO_UDP);
	pw_rule_add_dport(r, 5000, 5010);
	assert_rule(r, "-p udp -m udp --dport 5000:5010");

	r = proto_rule(IPPROTO_SCTP);
	pw_rule_add_dport(r, 9000, 0);
	assert_rule(r, "-p sctp -m sctp --dport 9000");

	/* tcp's save() skips a range that covers every port. */
	r = proto_rule(IPPROTO_TCP);
	pw_rule_add_dport(r, 0, 65535);
	assert_rule(r, "-p tcp -m tcp");
}
END_TEST

START_TEST(test_match_multiport)
{
	const struct pw_port_range ports[] = { { 80, 80 }, { 90, 100 }, { 443, 0 } };
	struct pw_rule *r = proto_rule(IPPROTO_TCP);

	ck_assert_int_eq(pw_rule_add_multiport(r, ports, 3), 0);
	assert_rule(r, "-p tcp -m multiport --dports 80,90:100,443");

	r = proto_rule(IPPROTO_UDP);
	ck_assert_int_eq(pw_rule_add_multiport(r, ports, 1), 0);
	assert_rule(r, "-p udp -m multiport --dports 80");
}
END_TEST

START_TEST(test_match_multiport_slots)
{
	struct pw_port_range ports[PW_MULTIPORT_SLOTS + 1];
	struct pw_rule *r = proto_rule(IPPROTO_TCP);
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(ports); i++) {
		ports[i].first = (uint16_t)(1000 + 10 * i);
		ports[i].last = ports[i].first;
	}
	ck_assert_int_eq(pw_rule_add_multiport(r, ports, PW_MULTIPORT_SLOTS), 0);
	ck_assert_int_eq(pw_rule_add_multiport(r, ports, PW_ARRAY_SIZE(ports)), -EINVAL);
	ck_assert_int_eq(pw_rule_add_multiport(r, ports, 0), -EINVAL);

	/* Seven ranges take 14 slots and a single port the 15th; one more range is 17. */
	for (i = 0; i < 7; i++)
		ports[i].last = (uint16_t)(ports[i].first + 5);
	ck_assert_int_eq(pw_rule_add_multiport(r, ports, 8), 0);
	ports[7].last = (uint16_t)(ports[7].first + 5);
	ck_assert_int_eq(pw_rule_add_multiport(r, ports, 8), -EINVAL);
	ck_assert_int_eq(pw_rule_add_multiport(r, ports, 7), 0);
	pw_rule_free(r);

	/* The kernel takes multiport only after a protocol with ports. */
	r = pw_rule_new();
	ck_assert_int_eq(pw_rule_add_multiport(r, ports, 1), -EINVAL);
	assert_rule(r, "");
}
END_TEST

START_TEST(test_match_mark)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_add_mark(r, 0x10000, 0x10000, false);
	assert_rule(r, "-m mark --mark 0x10000/0x10000");

	r = pw_rule_new();
	pw_rule_add_mark(r, 0x10000, 0xffffffff, true);
	assert_rule(r, "-m mark ! --mark 0x10000");

	r = pw_rule_new();
	pw_rule_add_mark(r, 0, 0xabcdef00, false);
	assert_rule(r, "-m mark --mark 0x0/0xabcdef00");
}
END_TEST

START_TEST(test_match_order_kept)
{
	struct pw_rule *r = proto_rule(IPPROTO_TCP);

	pw_rule_add_mark(r, 1, 1, false);
	pw_rule_add_comment(r, "first");
	pw_rule_add_dport(r, 22, 22);
	pw_rule_add_ctstate(r, PW_CT_NEW, false);
	assert_rule(r, "-p tcp -m mark --mark 0x1/0x1 -m comment --comment first"
		    " -m tcp --dport 22 -m conntrack --ctstate NEW");
}
END_TEST

/* ---------------------------------------------------------------- targets */

static void assert_verdict(enum pw_target_kind kind, const char *expected)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_verdict(r, kind);
	ck_assert_int_eq(pw_rule_target(r), kind);
	ck_assert(pw_rule_target_chain(r) == NULL);
	assert_rule(r, expected);
}

START_TEST(test_target_verdicts)
{
	assert_verdict(PW_TARGET_ACCEPT, "-j ACCEPT");
	assert_verdict(PW_TARGET_DROP, "-j DROP");
	assert_verdict(PW_TARGET_RETURN, "-j RETURN");
	assert_verdict(PW_TARGET_NONE, "");
}
END_TEST

START_TEST(test_target_jump_goto)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_jump(r, "PW-FWD");
	ck_assert_int_eq(pw_rule_target(r), PW_TARGET_JUMP);
	ck_assert_str_eq(pw_rule_target_chain(r), "PW-FWD");
	assert_rule(r, "-j PW-FWD");

	r = pw_rule_new();
	pw_rule_set_goto(r, "PW-POD-x");
	ck_assert_int_eq(pw_rule_target(r), PW_TARGET_GOTO);
	/* Setting the target from its own chain name must not read freed memory. */
	pw_rule_set_jump(r, pw_rule_target_chain(r));
	pw_rule_set_goto(r, pw_rule_target_chain(r));
	assert_rule(r, "-g PW-POD-x");
}
END_TEST

START_TEST(test_target_mark)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_mark_target(r, 0x10000, 0x10000);
	ck_assert_int_eq(pw_rule_target(r), PW_TARGET_MARK);
	assert_rule(r, "-j MARK --set-xmark 0x10000/0x10000");

	r = pw_rule_new();
	pw_rule_set_mark_target(r, 0, 0xffffffff);
	assert_rule(r, "-j MARK --set-xmark 0x0/0xffffffff");
}
END_TEST

static void assert_limit(unsigned count, enum pw_limit_unit unit, unsigned burst,
			 const char *expected)
{
	struct pw_rule *r = pw_rule_new();

	ck_assert_int_eq(pw_rule_add_limit(r, count, unit, burst), 0);
	assert_rule(r, expected);
}

/* Each expectation is what iptables-legacy-save 1.8.9 printed for the same --limit. */
START_TEST(test_match_limit)
{
	struct pw_rule *r;

	assert_limit(1, PW_LIMIT_SEC, 5, "-m limit --limit 1/sec");
	assert_limit(2500, PW_LIMIT_SEC, 5, "-m limit --limit 2500/sec");
	assert_limit(10000, PW_LIMIT_SEC, 5, "-m limit --limit 10000/sec");
	assert_limit(7, PW_LIMIT_MIN, 3, "-m limit --limit 7/min --limit-burst 3");
	assert_limit(61, PW_LIMIT_MIN, 5, "-m limit --limit 61/min");
	assert_limit(120, PW_LIMIT_MIN, 5, "-m limit --limit 2/sec");
	assert_limit(60, PW_LIMIT_HOUR, 5, "-m limit --limit 1/min");
	assert_limit(3, PW_LIMIT_HOUR, 5, "-m limit --limit 3/hour");
	assert_limit(100, PW_LIMIT_DAY, 1, "-m limit --limit 100/day --limit-burst 1");
	assert_limit(24, PW_LIMIT_DAY, 1, "-m limit --limit 1/hour --limit-burst 1");

	/* Too fast, none, no burst, a burst whose credits wrap in 32 bits. */
	r = pw_rule_new();
	ck_assert_int_eq(pw_rule_add_limit(r, 10001, PW_LIMIT_SEC, 5), -EINVAL);
	ck_assert_int_eq(pw_rule_add_limit(r, 0, PW_LIMIT_SEC, 5), -EINVAL);
	ck_assert_int_eq(pw_rule_add_limit(r, 1, PW_LIMIT_SEC, 0), -EINVAL);
	ck_assert_int_eq(pw_rule_add_limit(r, 1, PW_LIMIT_DAY, 5), -EINVAL);
	ck_assert_int_eq(pw_limit_check(1, PW_LIMIT_DAY, 5, NULL), -ERANGE);
	ck_assert_int_eq(pw_limit_check(1, PW_LIMIT_DAY, 4, NULL), 0);
	assert_rule(r, "");
}
END_TEST

START_TEST(test_limit_parse)
{
	enum pw_limit_unit unit;
	unsigned count;

	ck_assert_int_eq(pw_limit_parse("1/sec", &count, &unit), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(unit, PW_LIMIT_SEC);
	ck_assert_int_eq(pw_limit_parse("30/minute", &count, &unit), 0);
	ck_assert_uint_eq(count, 30);
	ck_assert_int_eq(unit, PW_LIMIT_MIN);
	ck_assert_int_eq(pw_limit_parse("2/hour", &count, &unit), 0);
	ck_assert_int_eq(unit, PW_LIMIT_HOUR);
	ck_assert_int_eq(pw_limit_parse("5/day", &count, &unit), 0);
	ck_assert_int_eq(unit, PW_LIMIT_DAY);
	ck_assert_int_eq(pw_limit_parse("0/sec", &count, &unit), -EINVAL);
	ck_assert_int_eq(pw_limit_parse("-1/sec", &count, &unit), -EINVAL);
	ck_assert_int_eq(pw_limit_parse("1/fortnight", &count, &unit), -EINVAL);
	ck_assert_int_eq(pw_limit_parse("1", &count, &unit), -EINVAL);
	ck_assert_int_eq(pw_limit_parse("x/sec", &count, &unit), -EINVAL);
	ck_assert_int_eq(pw_limit_parse("1x/sec", &count, &unit), -EINVAL);
	ck_assert_int_eq(pw_limit_parse("99999999999/sec", &count, &unit), -EINVAL);
	ck_assert_str_eq(pw_limit_unit_name(PW_LIMIT_MIN), "min");
}
END_TEST

START_TEST(test_target_nflog)
{
	char long_prefix[100];
	struct pw_rule *r = pw_rule_new(), *d;

	pw_rule_set_nflog(r, 0, NULL);
	ck_assert_int_eq(pw_rule_target(r), PW_TARGET_NFLOG);
	assert_rule(r, "-j NFLOG");

	r = pw_rule_new();
	pw_rule_set_nflog(r, 42, "plain");
	assert_rule(r, "-j NFLOG --nflog-prefix plain --nflog-group 42");

	r = pw_rule_new();
	pw_rule_add_mark(r, 0, 0x10000, false);
	ck_assert_int_eq(pw_rule_add_limit(r, 1, PW_LIMIT_SEC, 5), 0);
	pw_rule_set_nflog(r, 42, "pw-deny ingress x/a");
	d = pw_rule_dup(r);
	ck_assert(pw_rule_equal(r, d));
	pw_rule_set_nflog(d, 43, "pw-deny ingress x/a");
	ck_assert(!pw_rule_equal(r, d));
	pw_rule_set_nflog(d, 42, "pw-deny egress x/a");
	ck_assert(!pw_rule_equal(r, d));
	pw_rule_free(d);
	assert_rule(r, "-m mark --mark 0x0/0x10000 -m limit --limit 1/sec "
		    "-j NFLOG --nflog-prefix \"pw-deny ingress x/a\" --nflog-group 42");

	/* The kernel's prefix holds 63 bytes and a NUL. */
	memset(long_prefix, 'p', sizeof(long_prefix) - 1);
	long_prefix[sizeof(long_prefix) - 1] = '\0';
	r = pw_rule_new();
	pw_rule_set_nflog(r, 1, long_prefix);
	long_prefix[PW_NFLOG_PREFIX_MAX] = '\0';
	{
		struct pw_buf want = PW_BUF_INIT;

		pw_buf_printf(&want, "-j NFLOG --nflog-prefix %s --nflog-group 1", long_prefix);
		assert_rule(r, pw_buf_str(&want));
		pw_buf_free(&want);
	}
}
END_TEST

START_TEST(test_target_last_wins)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_jump(r, "PW-A");
	pw_rule_set_mark_target(r, 1, 1);
	pw_rule_set_verdict(r, PW_TARGET_DROP);
	ck_assert(pw_rule_target_chain(r) == NULL);
	/* Kinds that need an argument are not verdicts: the target stays. */
	pw_rule_set_verdict(r, PW_TARGET_JUMP);
	assert_rule(r, "-j DROP");
}
END_TEST

/* Every part, added out of order, prints in print_rule4() order. */
static struct pw_rule *full_rule(void)
{
	const struct pw_port_range ports[] = { { 8080, 8090 } };
	struct pw_cidr src = cidr("198.18.0.0/15"), dst = cidr("198.19.0.1");
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_jump(r, "PW-X");
	pw_rule_add_comment(r, "ns/policy rule 1");
	pw_rule_set_protocol(r, IPPROTO_TCP);
	pw_rule_set_out_iface(r, "cali+", false);
	pw_rule_set_in_iface(r, "eth0", true);
	pw_rule_set_dst(r, &dst, false);
	pw_rule_set_src(r, &src, true);
	pw_rule_add_set(r, "pw-s", PW_SET_SRC, false);
	pw_rule_add_multiport(r, ports, 1);
	return r;
}

START_TEST(test_rule_part_order)
{
	assert_rule(full_rule(), "! -s 198.18.0.0/15 -d 198.19.0.1/32 ! -i eth0 -o cali+"
		    " -p tcp -m comment --comment \"ns/policy rule 1\""
		    " -m set --match-set pw-s src -m multiport --dports 8080:8090"
		    " -j PW-X");
}
END_TEST

/* ---------------------------------------------------------------- equality */

START_TEST(test_rule_equal_dup)
{
	struct pw_rule *a = full_rule(), *b = pw_rule_dup(a), *c;
	struct pw_cidr other = cidr("198.18.0.0/16");

	ck_assert(pw_rule_equal(a, b));
	ck_assert(pw_rule_equal(a, a));
	ck_assert(!pw_rule_equal(a, NULL));
	ck_assert(pw_rule_equal(NULL, NULL));
	ck_assert(pw_rule_dup(NULL) == NULL);

	pw_rule_add_mark(b, 1, 1, false);
	ck_assert(!pw_rule_equal(a, b));
	pw_rule_free(b);

	b = pw_rule_dup(a);
	pw_rule_set_src(b, &other, true);
	ck_assert(!pw_rule_equal(a, b));
	pw_rule_free(b);

	b = pw_rule_dup(a);
	pw_rule_set_goto(b, "PW-X");
	ck_assert(!pw_rule_equal(a, b));
	pw_rule_free(b);

	b = pw_rule_dup(a);
	pw_rule_set_out_iface(b, "cali+", true);
	ck_assert(!pw_rule_equal(a, b));
	pw_rule_free(b);

	/* Same matches in a different order are a different rule to iptables. */
	b = pw_rule_new();
	c = pw_rule_new();
	pw_rule_add_comment(b, "x");
	pw_rule_add_ctstate(b, PW_CT_NEW, false);
	pw_rule_add_ctstate(c, PW_CT_NEW, false);
	pw_rule_add_comment(c, "x");
	ck_assert(!pw_rule_equal(b, c));
	pw_rule_free(c);
	c = pw_rule_dup(b);
	ck_assert(pw_rule_equal(b, c));
	pw_rule_add_ctstate(c, PW_CT_NEW, true);
	pw_rule_add_ctstate(b, PW_CT_NEW, false);
	ck_assert(!pw_rule_equal(b, c));

	pw_rule_free(a);
	pw_rule_free(b);
	pw_rule_free(c);
}
END_TEST

START_TEST(test_rule_equal_match_args)
{
	const struct pw_port_range p1[] = { { 80, 80 }, { 90, 95 } };
	const struct pw_port_range p2[] = { { 80, 80 }, { 90, 96 } };
	struct pw_rule *a = proto_rule(IPPROTO_TCP), *b = proto_rule(IPPROTO_TCP);

	pw_rule_add_multiport(a, p1, 2);
	pw_rule_add_multiport(b, p2, 2);
	ck_assert(!pw_rule_equal(a, b));
	pw_rule_free(b);

	b = proto_rule(IPPROTO_TCP);
	pw_rule_add_multiport(b, p1, 2);
	ck_assert(pw_rule_equal(a, b));
	pw_rule_add_set(a, "s", PW_SET_SRC, false);
	pw_rule_add_set(b, "s", PW_SET_DST, false);
	ck_assert(!pw_rule_equal(a, b));

	pw_rule_free(a);
	pw_rule_free(b);
}
END_TEST

/* ---------------------------------------------------------------- table */

static struct pw_rule *verdict_rule(enum pw_target_kind kind)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_verdict(r, kind);
	return r;
}

START_TEST(test_table_builtins)
{
	struct pw_table *t = pw_table_new("filter", AF_INET);

	ck_assert_str_eq(pw_table_name(t), "filter");
	ck_assert_int_eq(pw_table_chain_count(t), 3);
	ck_assert_str_eq(pw_chain_name(pw_table_chain_at(t, 0)), "INPUT");
	ck_assert_str_eq(pw_chain_name(pw_table_chain_at(t, 1)), "FORWARD");
	ck_assert_str_eq(pw_chain_name(pw_table_chain_at(t, 2)), "OUTPUT");
	ck_assert(pw_table_chain_at(t, 3) == NULL);
	ck_assert(pw_chain_is_builtin(pw_table_chain_at(t, 0)));
	ck_assert(pw_table_chain(t, "FORWARD") == pw_table_chain_at(t, 1));
	ck_assert_int_eq(pw_table_remove_chain(t, "INPUT"), -ENOENT);
	ck_assert_int_eq(pw_table_remove_chain(t, "PW-NONE"), -ENOENT);
	ck_assert_int_eq(pw_table_chain_count(t), 3);
	pw_table_free(t);
	pw_table_free(NULL);
}
END_TEST

START_TEST(test_table_chain_names)
{
	struct pw_table *t = pw_table_new("filter", AF_INET);
	const char *max = "PW-0123456789abcdef012345678";	/* 28 */
	struct pw_chain *c;

	ck_assert_int_eq(strlen(max), PW_CHAIN_NAME_MAX);
	c = pw_table_chain(t, max);
	ck_assert(c != NULL);
	ck_assert(!pw_chain_is_builtin(c));
	ck_assert(pw_table_chain(t, max) == c);
	ck_assert(pw_table_find_chain(t, max) == c);
	ck_assert(pw_table_chain(t, "PW-0123456789abcdef0123456789") == NULL);
	ck_assert(pw_table_chain(t, "") == NULL);
	ck_assert(pw_table_find_chain(t, "PW-NONE") == NULL);
	ck_assert_int_eq(pw_table_chain_count(t), 4);
	pw_table_free(t);
}
END_TEST

static void assert_chain_order(const struct pw_table *t, const char *const *names,
			       size_t n)
{
	size_t i;

	ck_assert_int_eq(pw_table_chain_count(t), n);
	for (i = 0; i < n; i++)
		ck_assert_str_eq(pw_chain_name(pw_table_chain_at(t, i)), names[i]);
}

START_TEST(test_table_chain_order)
{
	static const char *const first[] = {
		"INPUT", "FORWARD", "OUTPUT", "PW-A", "PW-B", "PW-FWD", "PW-a", "ZZ",
	};
	static const char *const second[] = {
		"INPUT", "FORWARD", "OUTPUT", "PW-0", "PW-A", "PW-FWD", "PW-a", "ZZ",
	};
	struct pw_table *t = pw_table_new("filter", AF_INET);

	/* strcmp() order: upper case sorts before lower case. */
	pw_table_chain(t, "ZZ");
	pw_table_chain(t, "PW-a");
	pw_table_chain(t, "PW-FWD");
	pw_table_chain(t, "PW-B");
	pw_table_chain(t, "PW-A");
	assert_chain_order(t, first, PW_ARRAY_SIZE(first));

	/* The cached order follows later changes. */
	ck_assert_int_eq(pw_table_remove_chain(t, "PW-B"), 0);
	ck_assert(pw_table_find_chain(t, "PW-B") == NULL);
	pw_table_chain(t, "PW-0");
	assert_chain_order(t, second, PW_ARRAY_SIZE(second));
	pw_table_free(t);
}
END_TEST

START_TEST(test_table_other_tables)
{
	struct pw_table *t = pw_table_new("mangle", AF_INET);

	ck_assert_int_eq(pw_table_chain_count(t), 5);
	ck_assert_str_eq(pw_chain_name(pw_table_chain_at(t, 0)), "PREROUTING");
	ck_assert_str_eq(pw_chain_name(pw_table_chain_at(t, 4)), "POSTROUTING");
	pw_table_free(t);
	t = pw_table_new("raw", AF_INET);
	ck_assert_int_eq(pw_table_chain_count(t), 2);
	pw_table_free(t);
}
END_TEST

START_TEST(test_chain_rules_and_equal)
{
	struct pw_table *t = pw_table_new("filter", AF_INET);
	struct pw_chain *a = pw_table_chain(t, "PW-A"), *b = pw_table_chain(t, "PW-B");

	ck_assert(pw_chain_equal(a, b));
	pw_chain_append(a, verdict_rule(PW_TARGET_ACCEPT));
	pw_chain_append(a, verdict_rule(PW_TARGET_DROP));
	ck_assert_int_eq(pw_chain_rule_count(a), 2);
	ck_assert_int_eq(pw_rule_target(pw_chain_rule_at(a, 1)), PW_TARGET_DROP);
	ck_assert(pw_chain_rule_at(a, 2) == NULL);
	ck_assert(!pw_chain_equal(a, b));
	pw_chain_append(b, verdict_rule(PW_TARGET_DROP));
	pw_chain_append(b, verdict_rule(PW_TARGET_ACCEPT));
	ck_assert(!pw_chain_equal(a, b));

	ck_assert_int_eq(pw_table_remove_chain(t, "PW-B"), 0);
	b = pw_table_chain(t, "PW-B");
	ck_assert_int_eq(pw_chain_rule_count(b), 0);
	pw_chain_append(b, verdict_rule(PW_TARGET_ACCEPT));
	pw_chain_append(b, verdict_rule(PW_TARGET_DROP));
	ck_assert(pw_chain_equal(a, b));
	pw_table_free(t);
}
END_TEST

START_TEST(test_table_render)
{
	static const char expected[] =
		"# Generated by podwall\n"
		"*filter\n"
		":INPUT ACCEPT [0:0]\n"
		":FORWARD ACCEPT [0:0]\n"
		":OUTPUT ACCEPT [0:0]\n"
		":PW-FWD - [0:0]\n"
		":PW-POD-abc - [0:0]\n"
		"-A FORWARD -o cali+ -m comment --comment podwall -j PW-FWD\n"
		"-A PW-FWD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
		"-A PW-FWD -d 198.18.0.5/32 -g PW-POD-abc\n"
		"-A PW-POD-abc -p tcp -m set --match-set pw-allow src -m tcp --dport 80"
		" -j MARK --set-xmark 0x10000/0x10000\n"
		"-A PW-POD-abc -m mark ! --mark 0x10000/0x10000 -j DROP\n"
		"-A PW-POD-abc -j RETURN\n"
		"COMMIT\n";
	struct pw_table *t = pw_table_new("filter", AF_INET);
	struct pw_chain *pod = pw_table_chain(t, "PW-POD-abc");
	struct pw_chain *fwd = pw_table_chain(t, "PW-FWD");
	struct pw_cidr host = cidr("198.18.0.5");
	struct pw_buf a = PW_BUF_INIT, b = PW_BUF_INIT;
	struct pw_rule *r;

	r = pw_rule_new();
	pw_rule_set_out_iface(r, "cali+", false);
	pw_rule_add_comment(r, "podwall");
	pw_rule_set_jump(r, "PW-FWD");
	pw_chain_append(pw_table_chain(t, "FORWARD"), r);

	r = pw_rule_new();
	pw_rule_add_ctstate(r, PW_CT_RELATED | PW_CT_ESTABLISHED, false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
	pw_chain_append(fwd, r);
	r = pw_rule_new();
	pw_rule_set_dst(r, &host, false);
	pw_rule_set_goto(r, "PW-POD-abc");
	pw_chain_append(fwd, r);

	r = proto_rule(IPPROTO_TCP);
	pw_rule_add_set(r, "pw-allow", PW_SET_SRC, false);
	pw_rule_add_dport(r, 80, 80);
	pw_rule_set_mark_target(r, 0x10000, 0x10000);
	pw_chain_append(pod, r);
	r = pw_rule_new();
	pw_rule_add_mark(r, 0x10000, 0x10000, true);
	pw_rule_set_verdict(r, PW_TARGET_DROP);
	pw_chain_append(pod, r);
	pw_chain_append(pod, verdict_rule(PW_TARGET_RETURN));

	pw_render_table(t, &a);
	ck_assert_str_eq(pw_buf_str(&a), expected);
	pw_render_table(t, &b);
	ck_assert_str_eq(pw_buf_str(&a), pw_buf_str(&b));
	pw_buf_free(&a);
	pw_buf_free(&b);
	pw_table_free(t);
}
END_TEST

START_TEST(test_table_scale)
{
	struct pw_table *t = pw_table_new("filter", AF_INET);
	struct pw_buf out = PW_BUF_INIT;
	char name[PW_CHAIN_NAME_MAX + 1];
	size_t i;

	/* ~2000 chains and 50k rules, as a large cluster compiles. */
	for (i = 0; i < 50000; i++) {
		snprintf(name, sizeof(name), "PW-%05zu", (i * 7919) % 2000);
		pw_chain_append(pw_table_chain(t, name), verdict_rule(PW_TARGET_ACCEPT));
	}
	ck_assert_int_eq(pw_table_chain_count(t), 2003);
	ck_assert_str_eq(pw_chain_name(pw_table_chain_at(t, 3)), "PW-00000");
	ck_assert_str_eq(pw_chain_name(pw_table_chain_at(t, 2002)), "PW-01999");
	pw_render_table(t, &out);
	ck_assert(out.len > 50000 * strlen("-A PW-00000 -j ACCEPT\n"));
	pw_buf_free(&out);
	pw_table_free(t);
}
END_TEST

/* ---------------------------------------------------------------- ipsets */

START_TEST(test_set_names)
{
	struct pw_set *s = pw_set_new("pw-0123456789abcdef0123456789ab", PW_SET_HASH_IP,
				      AF_INET);

	ck_assert(s != NULL);
	ck_assert_str_eq(pw_set_name(s), "pw-0123456789abcdef0123456789ab");
	ck_assert_int_eq(pw_set_type(s), PW_SET_HASH_IP);
	ck_assert_int_eq(pw_set_family(s), AF_INET);
	ck_assert_int_eq(pw_set_maxelem(s), 1048576);
	pw_set_free(s);
	ck_assert(pw_set_new("pw-0123456789abcdef0123456789abc", PW_SET_HASH_IP,
			     AF_INET) == NULL);
	ck_assert(pw_set_new("", PW_SET_HASH_IP, AF_INET) == NULL);
	pw_set_free(NULL);
	ck_assert_str_eq(pw_set_type_name(PW_SET_HASH_IP), "hash:ip");
	ck_assert_str_eq(pw_set_type_name(PW_SET_HASH_NET), "hash:net");
	ck_assert_str_eq(pw_set_type_name(PW_SET_HASH_IP_PORT), "hash:ip,port");
}
END_TEST

START_TEST(test_set_hash_ip)
{
	static const char *const expected[] = {
		"198.18.0.1", "198.18.0.10", "198.18.0.9",
	};
	struct pw_set *s = pw_set_new("pw-ip", PW_SET_HASH_IP, AF_INET);
	struct pw_cidr subnet = cidr("198.18.0.10/24");

	add_ip(s, "198.18.0.9");
	add_ip(s, "198.18.0.1");
	pw_set_add_ip(s, &subnet);	/* a hash:ip element is the address alone */
	add_ip(s, "198.18.0.9");
	add_ip(s, "fd00::1");	/* other family: the kernel would refuse it */
	/* strcmp() order, not numeric: stable is all a diff needs. */
	assert_set_members(s, expected, PW_ARRAY_SIZE(expected));
	ck_assert(!pw_set_member_nomatch(s, 0));
	pw_set_free(s);
}
END_TEST

START_TEST(test_set_hash_ip_v6)
{
	static const char *const expected[] = { "fd00::1", "fd00::a:1" };
	struct pw_set *s = pw_set_new("pw-ip6", PW_SET_HASH_IP, AF_INET6);
	struct pw_cidr a = cidr("fd00:0:0:0:0:0:a:1"), b = cidr("fd00::1");

	pw_set_add_ip(s, &a);
	pw_set_add_ip(s, &b);
	assert_set_members(s, expected, PW_ARRAY_SIZE(expected));
	pw_set_free(s);
}
END_TEST

START_TEST(test_set_hash_net)
{
	static const char *const expected[] = {
		"10.0.0.0/8", "198.18.0.0/16", "198.18.0.1", "198.18.4.0/24",
	};
	struct pw_set *s = pw_set_new("pw-net", PW_SET_HASH_NET, AF_INET);
	struct pw_cidr wide = cidr("10.1.2.3/8"), host = cidr("198.18.0.1/32");
	struct pw_cidr except = cidr("198.18.4.0/24"), block = cidr("198.18.0.0/16");

	pw_set_add_net(s, &block, false);
	pw_set_add_net(s, &except, true);
	pw_set_add_net(s, &wide, false);
	pw_set_add_net(s, &host, false);
	pw_set_add_net(s, &wide, false);
	assert_set_members(s, expected, PW_ARRAY_SIZE(expected));
	ck_assert(!pw_set_member_nomatch(s, 0));
	ck_assert(!pw_set_member_nomatch(s, 1));
	ck_assert(!pw_set_member_nomatch(s, 2));
	ck_assert(pw_set_member_nomatch(s, 3));
	pw_set_free(s);
}
END_TEST

START_TEST(test_set_nomatch_merge)
{
	struct pw_set *s = pw_set_new("pw-net", PW_SET_HASH_NET, AF_INET);
	struct pw_cidr a = cidr("198.18.4.0/24"), b = cidr("198.18.5.0/24");

	/* Allowed by one ipBlock and excepted by another: the allow wins. */
	pw_set_add_net(s, &a, true);
	pw_set_add_net(s, &a, false);
	pw_set_add_net(s, &b, false);
	pw_set_add_net(s, &b, true);
	ck_assert_int_eq(pw_set_member_count(s), 2);
	ck_assert(!pw_set_member_nomatch(s, 0));
	ck_assert(!pw_set_member_nomatch(s, 1));
	pw_set_free(s);
}
END_TEST

START_TEST(test_set_net_zero_split)
{
	static const char *const v4[] = { "0.0.0.0/1", "128.0.0.0/1" };
	static const char *const v6[] = { "8000::/1", "::/1" };
	struct pw_set *s = pw_set_new("pw-any", PW_SET_HASH_NET, AF_INET);
	struct pw_cidr any4 = cidr("0.0.0.0/0"), any6 = cidr("::/0");

	pw_set_add_net(s, &any4, true);
	assert_set_members(s, v4, PW_ARRAY_SIZE(v4));
	ck_assert(pw_set_member_nomatch(s, 0) && pw_set_member_nomatch(s, 1));
	pw_set_free(s);

	s = pw_set_new("pw-any6", PW_SET_HASH_NET, AF_INET6);
	pw_set_add_net(s, &any6, false);
	assert_set_members(s, v6, PW_ARRAY_SIZE(v6));
	pw_set_free(s);
}
END_TEST

START_TEST(test_set_hash_net_v6)
{
	static const char *const expected[] = { "fd00:1::/32", "fd00::1" };
	struct pw_set *s = pw_set_new("pw-net6", PW_SET_HASH_NET, AF_INET6);
	struct pw_cidr host = cidr("fd00::1/128"), net = cidr("fd00:1:2::/32");

	pw_set_add_net(s, &net, false);
	pw_set_add_net(s, &host, false);
	assert_set_members(s, expected, PW_ARRAY_SIZE(expected));
	pw_set_free(s);
}
END_TEST

START_TEST(test_set_hash_ip_port)
{
	static const char *const v4[] = { "198.18.0.1,tcp:80", "198.18.0.1,udp:53" };
	static const char *const v6[] = { "fd00::1,tcp:80" };
	struct pw_set *s = pw_set_new("pw-ipp", PW_SET_HASH_IP_PORT, AF_INET);
	struct pw_cidr a = cidr("198.18.0.1"), b = cidr("fd00::1");

	pw_set_add_ip_port(s, &a, "udp", 53);
	pw_set_add_ip_port(s, &a, "tcp", 80);
	pw_set_add_ip_port(s, &a, "udp", 53);
	pw_set_add_ip(s, &a);	/* not an element of this type */
	assert_set_members(s, v4, PW_ARRAY_SIZE(v4));
	pw_set_free(s);

	s = pw_set_new("pw-ipp6", PW_SET_HASH_IP_PORT, AF_INET6);
	pw_set_add_ip_port(s, &b, "tcp", 80);
	assert_set_members(s, v6, PW_ARRAY_SIZE(v6));
	pw_set_free(s);
}
END_TEST

START_TEST(test_set_scale)
{
	struct pw_set *s = pw_set_new("pw-big", PW_SET_HASH_IP, AF_INET);
	struct pw_cidr ip = cidr("198.18.0.0");
	size_t i;

	/* Twice over, in a scattered order: dedupe must not be a linear scan. */
	for (i = 0; i < 100000; i++) {
		size_t n = (i * 40503) % 50000;

		ip.addr[2] = (uint8_t)(n >> 8);
		ip.addr[3] = (uint8_t)n;
		ip.addr[1] = (uint8_t)(18 + (n >> 16));
		pw_set_add_ip(s, &ip);
	}
	ck_assert_int_eq(pw_set_member_count(s), 50000);
	ck_assert_str_eq(pw_set_member_at(s, 0), "198.18.0.0");
	for (i = 1; i < 50000; i++)
		ck_assert(strcmp(pw_set_member_at(s, i - 1), pw_set_member_at(s, i)) < 0);
	pw_set_free(s);
}
END_TEST

START_TEST(test_set_equal)
{
	struct pw_set *a = pw_set_new("pw-a", PW_SET_HASH_NET, AF_INET);
	struct pw_set *b = pw_set_new("pw-a", PW_SET_HASH_NET, AF_INET);
	struct pw_set *c = pw_set_new("pw-a", PW_SET_HASH_IP, AF_INET);
	struct pw_cidr n1 = cidr("198.18.0.0/24"), n2 = cidr("198.18.1.0/24");

	ck_assert(pw_set_same_header(a, b) && pw_set_equal(a, b));
	ck_assert(!pw_set_same_header(a, c));
	pw_set_add_net(a, &n1, false);
	pw_set_add_net(a, &n2, false);
	pw_set_add_net(b, &n2, false);
	ck_assert(!pw_set_equal(a, b));
	pw_set_add_net(b, &n1, true);
	ck_assert(!pw_set_equal(a, b));
	pw_set_free(b);

	b = pw_set_new("pw-a", PW_SET_HASH_NET, AF_INET);
	pw_set_add_net(b, &n2, false);
	pw_set_add_net(b, &n1, false);
	ck_assert(pw_set_equal(a, b));
	pw_set_set_maxelem(b, 65536);
	ck_assert_int_eq(pw_set_maxelem(b), 65536);
	ck_assert(!pw_set_same_header(a, b) && !pw_set_equal(a, b));
	pw_set_free(a);
	pw_set_free(b);
	pw_set_free(c);
}
END_TEST

START_TEST(test_setlist)
{
	struct pw_setlist *l = pw_setlist_new();
	struct pw_set *b = pw_set_new("pw-b", PW_SET_HASH_IP, AF_INET);
	struct pw_set *a = pw_set_new("pw-a", PW_SET_HASH_IP, AF_INET);
	struct pw_set *dup = pw_set_new("pw-b", PW_SET_HASH_NET, AF_INET);

	ck_assert_int_eq(pw_setlist_add(l, b), 0);
	ck_assert_int_eq(pw_setlist_add(l, a), 0);
	ck_assert_int_eq(pw_setlist_add(l, dup), -EEXIST);
	pw_set_free(dup);
	ck_assert_int_eq(pw_setlist_count(l), 2);
	ck_assert(pw_setlist_at(l, 0) == a);
	ck_assert(pw_setlist_at(l, 1) == b);
	ck_assert(pw_setlist_at(l, 2) == NULL);
	ck_assert(pw_setlist_find(l, "pw-b") == b);
	ck_assert(pw_setlist_find(l, "pw-c") == NULL);
	pw_setlist_free(l);
	pw_setlist_free(NULL);
}
END_TEST

START_TEST(test_sets_render)
{
	static const char expected[] =
		"create pw-a hash:net family inet hashsize 1024 maxelem 1048576\n"
		"add pw-a 198.18.0.0/15\n"
		"add pw-a 198.18.4.0/24 nomatch\n"
		"create pw-b hash:ip family inet6 hashsize 1024 maxelem 65536\n"
		"add pw-b fd00::1\n"
		"create pw-c hash:ip,port family inet hashsize 1024 maxelem 1048576\n";
	struct pw_setlist *l = pw_setlist_new();
	struct pw_set *a = pw_set_new("pw-a", PW_SET_HASH_NET, AF_INET);
	struct pw_set *b = pw_set_new("pw-b", PW_SET_HASH_IP, AF_INET6);
	struct pw_cidr block = cidr("198.18.0.0/15"), except = cidr("198.18.4.0/24");
	struct pw_cidr ip6 = cidr("fd00::1");
	struct pw_buf out = PW_BUF_INIT;

	pw_set_add_net(a, &except, true);
	pw_set_add_net(a, &block, false);
	pw_set_add_ip(b, &ip6);
	pw_set_set_maxelem(b, 65536);
	pw_setlist_add(l, pw_set_new("pw-c", PW_SET_HASH_IP_PORT, AF_INET));
	pw_setlist_add(l, b);
	pw_setlist_add(l, a);
	pw_render_sets(l, &out);
	ck_assert_str_eq(pw_buf_str(&out), expected);
	pw_buf_free(&out);
	pw_setlist_free(l);
}
END_TEST

/* ---------------------------------------------------------------- round trip */

static struct pw_set *list_set(struct pw_setlist *l, const char *name,
			       enum pw_set_type type, int family)
{
	struct pw_set *s = pw_set_new(name, type, family);

	ck_assert_int_eq(pw_setlist_add(l, s), 0);
	return s;
}

/*
 * Everything the rule API can express, in one table, with the sets its rules
 * name. Addresses stay in 198.18.0.0/15 and fd00::/8 (RFC 2544, ULA).
 */
static struct pw_setlist *roundtrip_sets(void)
{
	struct pw_setlist *l = pw_setlist_new();
	struct pw_set *s;

	s = list_set(l, "pwt-ip", PW_SET_HASH_IP, AF_INET);
	add_ip(s, "198.18.0.1");
	add_ip(s, "198.18.0.20");
	s = list_set(l, "pwt-net", PW_SET_HASH_NET, AF_INET);
	add_net(s, "198.18.0.0/15", false);
	add_net(s, "198.18.7.0/24", true);
	add_net(s, "198.19.0.1/32", true);
	s = list_set(l, "pwt-ipp", PW_SET_HASH_IP_PORT, AF_INET);
	add_ip_port(s, "198.18.0.1", "tcp", 80);
	add_ip_port(s, "198.18.0.1", "udp", 53);
	add_ip_port(s, "198.18.0.1", "sctp", 9000);
	s = list_set(l, "pwt-any", PW_SET_HASH_NET, AF_INET);
	add_net(s, "0.0.0.0/0", false);
	s = list_set(l, "pwt-ip6", PW_SET_HASH_IP, AF_INET6);
	add_ip(s, "fd00::1");
	add_ip(s, "fd00:0:0:0:0:0:a:1");
	s = list_set(l, "pwt-net6", PW_SET_HASH_NET, AF_INET6);
	add_net(s, "fd00:1::/32", false);
	add_net(s, "fd00:1:2::/48", true);
	add_net(s, "fd00::2/128", false);
	add_net(s, "::/0", true);
	s = list_set(l, "pwt-ipp6", PW_SET_HASH_IP_PORT, AF_INET6);
	add_ip_port(s, "fd00::1", "tcp", 8080);
	return l;
}

static void rt_append(struct pw_table *t, const char *chain, struct pw_rule *r)
{
	pw_chain_append(pw_table_chain(t, chain), r);
}

static void roundtrip_header_rules(struct pw_table *t)
{
	struct pw_cidr host = cidr("198.18.0.1"), net = cidr("198.18.3.4/24");
	struct pw_cidr any = cidr("0.0.0.0/0");
	struct pw_rule *r;

	r = pw_rule_new();
	pw_rule_set_src(r, &host, false);
	pw_rule_set_dst(r, &net, true);
	pw_rule_set_in_iface(r, "cali+", false);
	pw_rule_set_out_iface(r, "eth0", true);
	pw_rule_set_jump(r, "PW-FWD");
	rt_append(t, "FORWARD", r);
	r = pw_rule_new();
	pw_rule_set_src(r, &net, true);
	pw_rule_set_dst(r, &any, true);
	pw_rule_set_in_iface(r, "veth0", true);
	pw_rule_set_out_iface(r, "pw+", false);
	rt_append(t, "FORWARD", r);
	rt_append(t, "INPUT", proto_rule(IPPROTO_ICMP));
	rt_append(t, "OUTPUT", proto_rule(253));
}

static void roundtrip_match_rules(struct pw_table *t)
{
	const struct pw_port_range ports[] = { { 80, 80 }, { 8000, 8100 }, { 443, 443 } };
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP };
	static const char *const comments[] = {
		"plain_comment-1", "ns/name with spaces", "quote \" and 'tick'",
		"back\\slash",
	};
	struct pw_rule *r;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(comments); i++) {
		r = pw_rule_new();
		pw_rule_add_comment(r, comments[i]);
		rt_append(t, "PW-FWD", r);
	}
	r = pw_rule_new();
	pw_rule_add_ctstate(r, PW_CT_RELATED | PW_CT_ESTABLISHED, false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
	rt_append(t, "PW-FWD", r);
	r = pw_rule_new();
	pw_rule_add_ctstate(r, PW_CT_INVALID | PW_CT_NEW | PW_CT_RELATED |
			    PW_CT_ESTABLISHED, true);
	pw_rule_set_verdict(r, PW_TARGET_DROP);
	rt_append(t, "PW-FWD", r);
	r = pw_rule_new();
	pw_rule_add_set(r, "pwt-ip", PW_SET_SRC, false);
	pw_rule_add_set(r, "pwt-net", PW_SET_DST, true);
	pw_rule_add_set(r, "pwt-ipp", PW_SET_DST_DST, false);
	pw_rule_add_set(r, "pwt-ipp", PW_SET_SRC_DST, true);
	pw_rule_add_set(r, "pwt-any", PW_SET_SRC, false);
	pw_rule_set_goto(r, "PW-POD-a");
	rt_append(t, "PW-FWD", r);

	r = proto_rule(IPPROTO_TCP);
	pw_rule_add_dport(r, 80, 80);
	pw_rule_set_mark_target(r, 0x10000, 0x10000);
	rt_append(t, "PW-POD-a", r);
	r = proto_rule(IPPROTO_UDP);
	pw_rule_add_dport(r, 5000, 5010);
	pw_rule_set_mark_target(r, 0, 0xffffffff);
	rt_append(t, "PW-POD-a", r);
	r = proto_rule(IPPROTO_SCTP);
	pw_rule_add_dport(r, 9000, 9000);
	rt_append(t, "PW-POD-a", r);
	r = proto_rule(IPPROTO_TCP);
	pw_rule_add_dport(r, 0, 65535);
	rt_append(t, "PW-POD-a", r);
	for (i = 0; i < PW_ARRAY_SIZE(protos); i++) {
		r = proto_rule(protos[i]);
		ck_assert_int_eq(pw_rule_add_multiport(r, ports, 3), 0);
		rt_append(t, "PW-POD-a", r);
	}
	r = pw_rule_new();
	pw_rule_add_mark(r, 0x10000, 0x10000, true);
	pw_rule_set_verdict(r, PW_TARGET_DROP);
	rt_append(t, "PW-POD-a", r);
	r = pw_rule_new();
	pw_rule_add_mark(r, 0x4000, 0xffffffff, false);
	pw_rule_add_mark(r, 0, 0x8000, false);
	pw_rule_set_verdict(r, PW_TARGET_RETURN);
	rt_append(t, "PW-POD-a", r);
}

/*
 * Everything the rule API can express, in one table, which names the sets
 * above. Addresses stay in 198.18.0.0/15 and fd00::/8 (RFC 2544, ULA).
 */
static struct pw_table *roundtrip_table(void)
{
	struct pw_table *t = pw_table_new("filter", AF_INET);

	pw_table_chain(t, "PW-Z-empty-chain-name-len-28");
	roundtrip_header_rules(t);
	roundtrip_match_rules(t);
	return t;
}

static int write_file(const char *dir, const char *name, const char *text, char **path)
{
	FILE *f;
	int ok;

	*path = pw_xasprintf("%s/%s", dir, name);
	f = fopen(*path, "w");
	if (!f)
		return -errno;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

/* Runs cmd and returns its standard output, or NULL when it fails. */
static char *run_capture(const char *cmd)
{
	struct pw_buf out = PW_BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *p = popen(cmd, "r");

	if (!p)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		pw_buf_add(&out, chunk, n);
	if (pclose(p) != 0) {
		pw_buf_free(&out);
		return NULL;
	}
	return pw_buf_steal(&out);
}

/* A ":CHAIN POLICY [N:N]" line with the counters zeroed, as we render them. */
static void put_chain_line(struct pw_buf *out, const char *line, size_t len)
{
	const char *lbr = memchr(line, '[', len);
	const char *rbr = lbr ? memchr(lbr, ']', len - (size_t)(lbr - line)) : NULL;

	if (!rbr) {
		pw_buf_add(out, line, len);
		return;
	}
	pw_buf_add(out, line, (size_t)(lbr - line));
	pw_buf_puts(out, "[0:0]");
	pw_buf_add(out, rbr + 1, len - (size_t)(rbr + 1 - line));
}

/* iptables-save output without "#" lines and with zero counters. */
static char *normalise_save(const char *text)
{
	struct pw_buf out = PW_BUF_INIT;
	const char *line = text;

	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line + 1) : strlen(line);

		if (line[0] == ':')
			put_chain_line(&out, line, len);
		else if (line[0] != '#')
			pw_buf_add(&out, line, len);
		line += len;
	}
	return pw_buf_steal(&out);
}

/* The "add" lines of an ipset save, sorted: the kernel lists elements in hash order. */
static char *sorted_adds(const char *text)
{
	struct pw_buf out = PW_BUF_INIT;
	char *copy = pw_xstrdup(text), *save = NULL, *line;
	char **lines = NULL;
	size_t n = 0, cap = 0, i;

	for (line = strtok_r(copy, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "add ", 4) != 0)
			continue;
		PW_GROW(lines, cap, n + 1);
		lines[n++] = line;
	}
	qsort(lines, n, sizeof(*lines), pw_strcmp_ptr);
	for (i = 0; i < n; i++)
		pw_buf_printf(&out, "%s\n", lines[i]);
	free(lines);
	free(copy);
	return pw_buf_steal(&out);
}

/*
 * Named in the test runner's own process, so that the unchecked teardown there
 * can still remove the namespace when a forked test dies half way.
 */
static char roundtrip_ns[64];

static void roundtrip_name_ns(void)
{
	snprintf(roundtrip_ns, sizeof(roundtrip_ns), "pwtest-chains-%ld", (long)getpid());
}

static void roundtrip_remove_ns(void)
{
	char *cmd = pw_xasprintf("ip netns del %s 2>/dev/null", roundtrip_ns);

	if (geteuid() == 0 && system(cmd) == 0)
		fprintf(stderr, "removed namespace %s left by a failed test\n",
			roundtrip_ns);
	free(cmd);
}

struct roundtrip {
	const char *ns;
	char dir[64];
	char *sets_path;
	char *table_path;
	char *saved;		/* iptables-legacy-save, normalised */
	char *saved_sets;	/* ipset save, add lines sorted */
	bool dir_made;
	int status;		/* the first failing step, 0 when all ran */
};

static int run_in_ns(const struct roundtrip *rt, const char *tool, const char *input)
{
	char *cmd = pw_xasprintf("ip netns exec %s %s < %s", rt->ns, tool, input);
	int rc = system(cmd);

	free(cmd);
	return rc == 0 ? 0 : -1;
}

static char *capture_in_ns(const struct roundtrip *rt, const char *tool)
{
	char *cmd = pw_xasprintf("ip netns exec %s %s", rt->ns, tool);
	char *out = run_capture(cmd);

	free(cmd);
	return out;
}

/* Loads both renders into a fresh namespace and reads the tables back. */
static int roundtrip_run(struct roundtrip *rt, const char *sets, const char *table)
{
	char *cmd, *raw;
	int rc;

	if (!mkdtemp(rt->dir))
		return 1;
	rt->dir_made = true;
	if (write_file(rt->dir, "sets", sets, &rt->sets_path) < 0 ||
	    write_file(rt->dir, "table", table, &rt->table_path) < 0)
		return 2;
	cmd = pw_xasprintf("ip netns add %s", rt->ns);
	rc = system(cmd);
	free(cmd);
	if (rc != 0)
		return 3;
	if (run_in_ns(rt, "ipset restore", rt->sets_path) < 0)
		return 4;
	if (run_in_ns(rt, "iptables-legacy-restore", rt->table_path) < 0)
		return 5;
	raw = capture_in_ns(rt, "iptables-legacy-save -t filter");
	if (!raw)
		return 6;
	rt->saved = normalise_save(raw);
	free(raw);
	raw = capture_in_ns(rt, "ipset save");
	if (!raw)
		return 7;
	rt->saved_sets = sorted_adds(raw);
	free(raw);
	return 0;
}

/*
 * Deleting the namespace takes its tables and sets with it. It runs before
 * any assertion, so a failing comparison never leaves a namespace behind.
 */
static void roundtrip_cleanup(struct roundtrip *rt)
{
	char *cmd = pw_xasprintf("ip netns del %s 2>/dev/null", rt->ns);

	if (system(cmd) != 0 && rt->status == 0)
		rt->status = 8;
	free(cmd);
	if (rt->sets_path)
		unlink(rt->sets_path);
	if (rt->table_path)
		unlink(rt->table_path);
	if (rt->dir_made)
		rmdir(rt->dir);
	free(rt->sets_path);
	free(rt->table_path);
}

static bool have_tools(void)
{
	return system("{ command -v ip && command -v ipset && "
		      "command -v iptables-legacy-restore && "
		      "command -v iptables-legacy-save; } >/dev/null") == 0;
}

START_TEST(test_roundtrip_real_tools)
{
	struct pw_table *t;
	struct pw_setlist *sets;
	struct pw_buf table = PW_BUF_INIT, settext = PW_BUF_INIT;
	struct roundtrip rt;
	char *expected_adds;

	if (geteuid() != 0) {
		printf("SKIP: not root\n");
		return;
	}
	if (!have_tools()) {
		printf("SKIP: ip, ipset or iptables-legacy not installed\n");
		return;
	}
	memset(&rt, 0, sizeof(rt));
	rt.ns = roundtrip_ns;
	snprintf(rt.dir, sizeof(rt.dir), "/tmp/pwtest-chains-XXXXXX");
	t = roundtrip_table();
	sets = roundtrip_sets();
	pw_render_table(t, &table);
	pw_render_sets(sets, &settext);
	expected_adds = sorted_adds(pw_buf_str(&settext));

	rt.status = roundtrip_run(&rt, pw_buf_str(&settext), pw_buf_str(&table));
	roundtrip_cleanup(&rt);

	ck_assert_msg(rt.status == 0, "round trip failed at step %d", rt.status);
	/* Our render minus its "# Generated" line is what the kernel gives back. */
	ck_assert_str_eq(rt.saved, strchr(pw_buf_str(&table), '\n') + 1);
	ck_assert_str_eq(rt.saved_sets, expected_adds);

	free(rt.saved);
	free(rt.saved_sets);
	free(expected_adds);
	pw_buf_free(&table);
	pw_buf_free(&settext);
	pw_table_free(t);
	pw_setlist_free(sets);
}
END_TEST

/* ---------------------------------------------------------------- suite */

static Suite *chains_suite(void)
{
	Suite *s = suite_create("chains");
	TCase *rule = tcase_create("rule"), *table = tcase_create("table");
	TCase *ipset = tcase_create("ipset"), *real = tcase_create("roundtrip");

	tcase_add_test(rule, test_rule_empty);
	tcase_add_test(rule, test_rule_addresses);
	tcase_add_test(rule, test_rule_address_any);
	tcase_add_test(rule, test_rule_interfaces);
	tcase_add_test(rule, test_rule_protocols);
	tcase_add_test(rule, test_match_comment);
	tcase_add_test(rule, test_match_comment_truncated);
	tcase_add_test(rule, test_match_conntrack);
	tcase_add_test(rule, test_match_set);
	tcase_add_test(rule, test_match_dport);
	tcase_add_test(rule, test_match_multiport);
	tcase_add_test(rule, test_match_multiport_slots);
	tcase_add_test(rule, test_match_mark);
	tcase_add_test(rule, test_match_order_kept);
	tcase_add_test(rule, test_target_verdicts);
	tcase_add_test(rule, test_target_jump_goto);
	tcase_add_test(rule, test_target_mark);
	tcase_add_test(rule, test_match_limit);
	tcase_add_test(rule, test_limit_parse);
	tcase_add_test(rule, test_target_nflog);
	tcase_add_test(rule, test_target_last_wins);
	tcase_add_test(rule, test_rule_part_order);
	tcase_add_test(rule, test_rule_equal_dup);
	tcase_add_test(rule, test_rule_equal_match_args);
	suite_add_tcase(s, rule);

	tcase_add_test(table, test_table_builtins);
	tcase_add_test(table, test_table_chain_names);
	tcase_add_test(table, test_table_chain_order);
	tcase_add_test(table, test_table_other_tables);
	tcase_add_test(table, test_chain_rules_and_equal);
	tcase_add_test(table, test_table_render);
	tcase_add_test(table, test_table_scale);
	tcase_set_timeout(table, 60);
	suite_add_tcase(s, table);

	tcase_add_test(ipset, test_set_names);
	tcase_add_test(ipset, test_set_hash_ip);
	tcase_add_test(ipset, test_set_hash_ip_v6);
	tcase_add_test(ipset, test_set_hash_net);
	tcase_add_test(ipset, test_set_nomatch_merge);
	tcase_add_test(ipset, test_set_net_zero_split);
	tcase_add_test(ipset, test_set_hash_net_v6);
	tcase_add_test(ipset, test_set_hash_ip_port);
	tcase_add_test(ipset, test_set_scale);
	tcase_add_test(ipset, test_set_equal);
	tcase_add_test(ipset, test_setlist);
	tcase_add_test(ipset, test_sets_render);
	tcase_set_timeout(ipset, 60);
	suite_add_tcase(s, ipset);

	tcase_add_unchecked_fixture(real, roundtrip_name_ns, roundtrip_remove_ns);
	tcase_add_test(real, test_roundtrip_real_tools);
	tcase_set_timeout(real, 60);
	suite_add_tcase(s, real);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chains_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
