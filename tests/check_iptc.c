/*
 * The libiptc writer, the set index lookup and the xtables lock against a
 * real kernel. Every test that touches the kernel first moves into a new
 * network namespace; Check runs each test in a forked child, so the
 * namespace dies with it and the host's tables are never seen. Without
 * root those tests print SKIP and pass.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <libiptc/libiptc.h>

#include <check.h>

#include "chains/iptc_writer.h"
#include "chains/render.h"
#include "chains/rule.h"
#include "chains/setindex.h"
#include "chains/table.h"
#include "tests/testlib.h"
#include "lib/cidr.h"
#include "lib/util.h"
#include "lib/xtables_lock.h"

#define PREFIX "pw-"

static char lockfile[] = "/tmp/check_iptc-lock-XXXXXX";

/* ---------------------------------------------------------------- helpers */


static bool enter_netns(void)
{
	return pw_test_enter_netns("command -v iptables-legacy iptables-legacy-save ipset",
				   "iptables-legacy, iptables-legacy-save and ipset");
}

static char *vformat(const char *fmt, va_list ap)
{
	struct pw_buf b = PW_BUF_INIT;

	pw_buf_vprintf(&b, fmt, ap);
	return pw_buf_steal(&b);
}

static int sh_status(const char *fmt, ...) PW_PRINTF(1, 2);
static int sh_status(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int st;

	va_start(ap, fmt);
	cmd = vformat(fmt, ap);
	va_end(ap);
	st = system(cmd);
	free(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void sh(const char *fmt, ...) PW_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int st;

	va_start(ap, fmt);
	cmd = vformat(fmt, ap);
	va_end(ap);
	st = system(cmd);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "failed: %s", cmd);
	free(cmd);
}

static char *sh_output(const char *fmt, ...) PW_PRINTF(1, 2);
static char *sh_output(const char *fmt, ...)
{
	struct pw_buf out = PW_BUF_INIT;
	char chunk[4096];
	va_list ap;
	size_t n;
	char *cmd;
	FILE *f;

	va_start(ap, fmt);
	cmd = vformat(fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	ck_assert_msg(f != NULL, "popen %s", cmd);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		pw_buf_add(&out, chunk, n);
	ck_assert_msg(pclose(f) == 0, "failed: %s", cmd);
	free(cmd);
	pw_buf_puts(&out, "");
	return pw_buf_steal(&out);
}

/* The length of a "[digits:digits]" counter pair at p, or 0. */
static size_t counter_len(const char *p)
{
	const char *q = p + 1;

	if (*p != '[' || !isdigit((unsigned char)*q))
		return 0;
	while (isdigit((unsigned char)*q))
		q++;
	if (*q++ != ':' || !isdigit((unsigned char)*q))
		return 0;
	while (isdigit((unsigned char)*q))
		q++;
	return *q == ']' ? (size_t)(q + 1 - p) : 0;
}

/* iptables-save text without '#' lines and with every counter [0:0]. */
static char *normalize_save(const char *text)
{
	struct pw_buf out = PW_BUF_INIT;
	bool comment = false, line_start = true;
	const char *p;

	for (p = text; *p; p++) {
		size_t n;

		if (line_start)
			comment = *p == '#';
		line_start = *p == '\n';
		if (comment)
			continue;
		n = counter_len(p);
		if (n) {
			pw_buf_puts(&out, "[0:0]");
			p += n - 1;
			continue;
		}
		pw_buf_putc(&out, *p);
	}
	pw_buf_puts(&out, "");
	return pw_buf_steal(&out);
}

static void assert_kernel_is(const struct pw_table *t)
{
	struct pw_buf rendered = PW_BUF_INIT;
	char *saved = sh_output("iptables-legacy-save -t filter");
	char *got = normalize_save(saved);
	char *want;

	pw_render_table(t, &rendered);
	want = normalize_save(pw_buf_str(&rendered));
	ck_assert_str_eq(got, want);
	free(want);
	free(got);
	free(saved);
	pw_buf_free(&rendered);
}

static struct pw_cidr cidr(const char *text)
{
	struct pw_cidr c;

	ck_assert_int_eq(pw_cidr_parse(text, &c), 0);
	return c;
}

static int apply(const struct pw_table *t, struct pw_iptc_stats *st)
{
	struct pw_buf err = PW_BUF_INIT;
	int ret = pw_iptc_apply(t, PREFIX, st, &err);

	ck_assert_msg(ret == 0, "apply: %d %s", ret, pw_buf_str(&err));
	pw_buf_free(&err);
	return ret;
}

static struct pw_rule *jump(const char *chain)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_jump(r, chain);
	return r;
}

static struct pw_rule *verdict(enum pw_target_kind v)
{
	struct pw_rule *r = pw_rule_new();

	pw_rule_set_verdict(r, v);
	return r;
}

/* A table shaped like podwall's own: hooks, dispatch, sets, marks. */
static struct pw_table *sample_table(bool with_to_wl, uint16_t extra_port)
{
	static const struct pw_port_range web[] = { { 80, 80 }, { 443, 443 },
						    { 0, 0 } };
	struct pw_port_range ports[3];
	struct pw_table *t = pw_table_new("filter", AF_INET);
	struct pw_chain *c;
	struct pw_rule *r;

	pw_chain_append(pw_table_chain(t, "INPUT"), jump(PREFIX "INPUT"));
	pw_chain_append(pw_table_chain(t, "FORWARD"), jump(PREFIX "FORWARD"));
	pw_chain_append(pw_table_chain(t, "OUTPUT"), jump(PREFIX "OUTPUT"));
	pw_table_chain(t, PREFIX "OUTPUT");

	c = pw_table_chain(t, PREFIX "INPUT");
	r = pw_rule_new();
	pw_rule_set_in_iface(r, "cali+", false);
	pw_rule_set_goto(r, PREFIX "from-wl");
	pw_chain_append(c, r);

	c = pw_table_chain(t, PREFIX "FORWARD");
	r = pw_rule_new();
	pw_rule_add_ctstate(r, PW_CT_RELATED | PW_CT_ESTABLISHED, false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
	pw_chain_append(c, r);
	r = pw_rule_new();
	pw_rule_set_in_iface(r, "cali+", false);
	pw_rule_set_jump(r, PREFIX "from-wl");
	pw_chain_append(c, r);
	if (with_to_wl) {
		r = pw_rule_new();
		pw_rule_set_out_iface(r, "cali+", false);
		pw_rule_set_jump(r, PREFIX "to-wl");
		pw_chain_append(c, r);
	}

	c = pw_table_chain(t, PREFIX "from-wl");
	r = pw_rule_new();
	pw_rule_add_set(r, PREFIX "s1", PW_SET_SRC, false);
	pw_rule_add_comment(r, "ns/pod a");
	pw_rule_set_mark_target(r, 0x10000, 0x10000);
	pw_chain_append(c, r);
	r = pw_rule_new();
	pw_rule_add_mark(r, 0x10000, 0x10000, false);
	pw_rule_set_verdict(r, PW_TARGET_RETURN);
	pw_chain_append(c, r);
	pw_chain_append(c, verdict(PW_TARGET_DROP));

	if (with_to_wl) {
		c = pw_table_chain(t, PREFIX "to-wl");
		r = pw_rule_new();
		pw_rule_set_protocol(r, IPPROTO_TCP);
		memcpy(ports, web, sizeof(ports));
		ports[2].first = ports[2].last = extra_port;
		ck_assert_int_eq(pw_rule_add_multiport(r, ports, extra_port ? 3 : 2), 0);
		pw_rule_add_set(r, PREFIX "s2", PW_SET_DST_DST, false);
		pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
		pw_chain_append(c, r);
		pw_chain_append(c, verdict(PW_TARGET_DROP));
	}
	return t;
}

static void create_sample_sets(void)
{
	sh("ipset create " PREFIX "s1 hash:net && "
	   "ipset create " PREFIX "s2 hash:ip,port");
}

/* The counters of rule n (from 1) of chain, through libiptc. */
static struct xt_counters counters_of(const char *chain, unsigned n)
{
	struct iptc_handle *h = iptc_init("filter");
	const struct ipt_entry *e;
	struct xt_counters c = { 0, 0 };
	unsigned i = 1;

	ck_assert_msg(h != NULL, "iptc_init: %s", iptc_strerror(errno));
	for (e = iptc_first_rule(chain, h); e; e = iptc_next_rule(e, h), i++) {
		if (i == n) {
			c = e->counters;
			break;
		}
	}
	ck_assert_msg(e != NULL, "%s has no rule %u", chain, n);
	iptc_free(h);
	return c;
}

/* Sets one rule's counters through libiptc, leaving every rule's bytes alone. */
static void set_counters(const char *chain, unsigned n, uint64_t pkts, uint64_t bytes)
{
	struct iptc_handle *h = iptc_init("filter");
	struct xt_counters c = { pkts, bytes };

	ck_assert_msg(h != NULL, "iptc_init: %s", iptc_strerror(errno));
	ck_assert_msg(iptc_set_counter(chain, n, &c, h), "set_counter: %s",
		      iptc_strerror(errno));
	ck_assert_msg(iptc_commit(h), "commit: %s", iptc_strerror(errno));
	iptc_free(h);
}

static void assert_counters(const char *chain, unsigned n, uint64_t pkts, uint64_t bytes)
{
	struct xt_counters c = counters_of(chain, n);

	ck_assert_msg(c.pcnt == pkts && c.bcnt == bytes, "%s rule %u: [%llu:%llu]",
		      chain, n, (unsigned long long)c.pcnt, (unsigned long long)c.bcnt);
}

/* A match or target, its name only up to the NUL (the kernel leaves noise after it). */
static void dump_object(struct pw_buf *out, const struct xt_entry_match *m)
{
	const unsigned char *d = m->data;
	size_t i;

	pw_buf_printf(out, " %.*s/%u/%u:", (int)sizeof(m->u.user.name), m->u.user.name,
		      m->u.user.revision, m->u.match_size);
	for (i = 0; i + sizeof(*m) < m->u.match_size; i++)
		pw_buf_printf(out, "%02x", d[i]);
}

/*
 * Everything that is not podwall's, byte for byte: chain names and
 * policies, and every other rule with its ip part, counters, matches and
 * target (jumps by name, since their offsets move with our chains).
 */
static char *dump_foreign(void)
{
	struct iptc_handle *h = iptc_init("filter");
	struct pw_buf out = PW_BUF_INIT;
	const char *chain;

	ck_assert_msg(h != NULL, "iptc_init: %s", iptc_strerror(errno));
	for (chain = iptc_first_chain(h); chain; chain = iptc_next_chain(h)) {
		const struct ipt_entry *e;
		struct xt_counters pc;

		if (strncmp(chain, PREFIX, strlen(PREFIX)) == 0)
			continue;
		pw_buf_printf(&out, "chain %s", chain);
		if (iptc_builtin(chain, h)) {
			const char *pol = iptc_get_policy(chain, &pc, h);

			pw_buf_printf(&out, " %s [%llu:%llu]", pol,
				      (unsigned long long)pc.pcnt,
				      (unsigned long long)pc.bcnt);
		}
		pw_buf_putc(&out, '\n');
		for (e = iptc_first_rule(chain, h); e; e = iptc_next_rule(e, h)) {
			const char *target = iptc_get_target(e, h);
			const unsigned char *ip = (const void *)&e->ip;
			size_t off, i;

			if (strncmp(target, PREFIX, strlen(PREFIX)) == 0)
				continue;
			pw_buf_puts(&out, "  ");
			for (i = 0; i < sizeof(e->ip); i++)
				pw_buf_printf(&out, "%02x", ip[i]);
			pw_buf_printf(&out, " [%llu:%llu]",
				      (unsigned long long)e->counters.pcnt,
				      (unsigned long long)e->counters.bcnt);
			for (off = sizeof(*e); off < e->target_offset;) {
				const struct xt_entry_match *m =
					(const void *)((const char *)e + off);

				dump_object(&out, m);
				off += m->u.match_size;
			}
			pw_buf_printf(&out, " -> %s", target);
			if (!iptc_is_chain(target, h) && strcmp(target, "ACCEPT") &&
			    strcmp(target, "DROP") && strcmp(target, "RETURN") && *target)
				dump_object(&out, (const void *)((const char *)e +
								 e->target_offset));
			pw_buf_putc(&out, '\n');
		}
	}
	iptc_free(h);
	pw_buf_puts(&out, "");
	return pw_buf_steal(&out);
}

/* kube-proxy's kind of state, some of it with counters to keep. */
static void preload_foreign(void)
{
	sh("iptables-legacy -N KUBE-FORWARD && "
	   "iptables-legacy -A FORWARD "
	   "-m comment --comment 'kubernetes forwarding rules' "
	   "-j KUBE-FORWARD -c 9 900 && "
	   "iptables-legacy -A KUBE-FORWARD -m mark --mark 0x4000/0x4000 "
	   "-m comment --comment 'kubernetes forwarding rules' -j ACCEPT -c 4 400 && "
	   "iptables-legacy -A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED "
	   "-j ACCEPT && "
	   "iptables-legacy -N KUBE-FIREWALL && "
	   "iptables-legacy -I INPUT -j KUBE-FIREWALL && "
	   "iptables-legacy -I OUTPUT -j KUBE-FIREWALL && "
	   "iptables-legacy -A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP && "
	   "iptables-legacy -N KUBE-SERVICES && "
	   "iptables-legacy -A OUTPUT -m conntrack --ctstate NEW -j KUBE-SERVICES && "
	   "iptables-legacy -A INPUT -s 10.0.0.0/8 -p tcp --dport 22 "
	   "-j ACCEPT -c 3 300 && "
	   "iptables-legacy -P FORWARD DROP");
}

static unsigned count_lines(const char *text, const char *prefix)
{
	unsigned n = 0;
	const char *line = text;

	while (line && *line) {
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			n++;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return n;
}

/* ---------------------------------------------------------------- oracle */

/*
 * Each kind of rule both ways: podwall's entry through pw_iptc_apply, and
 * the same rule added by the iptables-legacy binary; both read back with
 * libiptc must agree byte for byte (the kernel returns our entry as we
 * built it: a second apply that finds nothing to change proves that).
 */
struct oracle_case {
	const char *name;
	const char *args;
	void (*build)(struct pw_rule *r);
};

static void o_accept(struct pw_rule *r)
{
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_addresses(struct pw_rule *r)
{
	struct pw_cidr s = cidr("10.1.0.0/16"), d = cidr("192.168.1.5/32");

	pw_rule_set_src(r, &s, false);
	pw_rule_set_dst(r, &d, false);
	pw_rule_set_verdict(r, PW_TARGET_DROP);
}

static void o_inverted_addresses(struct pw_rule *r)
{
	struct pw_cidr s = cidr("10.0.0.0/8"), d = cidr("172.16.0.0/12");

	pw_rule_set_src(r, &s, true);
	pw_rule_set_dst(r, &d, true);
	pw_rule_set_verdict(r, PW_TARGET_RETURN);
}

static void o_host_bits(struct pw_rule *r)
{
	struct pw_cidr s = cidr("10.1.2.3/16");

	pw_rule_set_src(r, &s, false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_interfaces(struct pw_rule *r)
{
	pw_rule_set_in_iface(r, "eth0", false);
	pw_rule_set_out_iface(r, "veth1", false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_wildcard_interfaces(struct pw_rule *r)
{
	pw_rule_set_in_iface(r, "cali+", true);
	pw_rule_set_out_iface(r, "tap+", false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_comment(struct pw_rule *r)
{
	pw_rule_add_comment(r, "ns/a b");
}

static void o_ctstate(struct pw_rule *r)
{
	pw_rule_add_ctstate(r, PW_CT_RELATED | PW_CT_ESTABLISHED, false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_ctstate_inverted(struct pw_rule *r)
{
	pw_rule_add_ctstate(r, PW_CT_INVALID | PW_CT_NEW, true);
	pw_rule_set_verdict(r, PW_TARGET_DROP);
}

static void o_set_src(struct pw_rule *r)
{
	pw_rule_add_set(r, "pw-a", PW_SET_SRC, false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_set_dst_inverted(struct pw_rule *r)
{
	pw_rule_add_set(r, "pw-a", PW_SET_DST, true);
	pw_rule_set_verdict(r, PW_TARGET_DROP);
}

static void o_set_dst_dst(struct pw_rule *r)
{
	pw_rule_add_set(r, "pw-ipport", PW_SET_DST_DST, false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_set_src_dst(struct pw_rule *r)
{
	pw_rule_add_set(r, "pw-ipport", PW_SET_SRC_DST, false);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void port_rule(struct pw_rule *r, uint8_t proto, uint16_t first, uint16_t last)
{
	pw_rule_set_protocol(r, proto);
	pw_rule_add_dport(r, first, last);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_tcp(struct pw_rule *r)
{
	port_rule(r, IPPROTO_TCP, 80, 80);
}

static void o_tcp_range(struct pw_rule *r)
{
	port_rule(r, IPPROTO_TCP, 8000, 8080);
}

static void o_tcp_any(struct pw_rule *r)
{
	port_rule(r, IPPROTO_TCP, 0, 65535);
}

static void o_udp(struct pw_rule *r)
{
	port_rule(r, IPPROTO_UDP, 53, 53);
}

static void o_sctp(struct pw_rule *r)
{
	port_rule(r, IPPROTO_SCTP, 9000, 9000);
}

static void o_multiport(struct pw_rule *r)
{
	static const struct pw_port_range p[] = {
		{ 80, 90 }, { 443, 443 }, { 8080, 8080 }
	};

	pw_rule_set_protocol(r, IPPROTO_TCP);
	ck_assert_int_eq(pw_rule_add_multiport(r, p, PW_ARRAY_SIZE(p)), 0);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_multiport_udp(struct pw_rule *r)
{
	static const struct pw_port_range p[] = { { 53, 53 }, { 5353, 5353 } };

	pw_rule_set_protocol(r, IPPROTO_UDP);
	ck_assert_int_eq(pw_rule_add_multiport(r, p, PW_ARRAY_SIZE(p)), 0);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_mark(struct pw_rule *r)
{
	pw_rule_add_mark(r, 0x4000, 0x4000, false);
	pw_rule_set_verdict(r, PW_TARGET_RETURN);
}

static void o_mark_inverted(struct pw_rule *r)
{
	pw_rule_add_mark(r, 0x1, 0xffffffff, true);
	pw_rule_set_verdict(r, PW_TARGET_DROP);
}

static void o_mark_target(struct pw_rule *r)
{
	pw_rule_set_mark_target(r, 0x10000, 0x10000);
}

static void o_jump(struct pw_rule *r)
{
	pw_rule_set_jump(r, "pw-dest");
}

static void o_goto(struct pw_rule *r)
{
	pw_rule_set_goto(r, "pw-dest");
}

static void o_physdev_in(struct pw_rule *r)
{
	pw_rule_set_in_iface(r, "cni0", false);
	pw_rule_add_physdev(r, "veth1a2b3c4d", NULL);
	pw_rule_set_goto(r, "pw-dest");
}

static void o_physdev_out(struct pw_rule *r)
{
	pw_rule_set_out_iface(r, "cni0", false);
	pw_rule_add_physdev(r, NULL, "veth+");
	pw_rule_set_verdict(r, PW_TARGET_DROP);
}

static void o_physdev_both(struct pw_rule *r)
{
	pw_rule_add_physdev(r, "vethA", "vethB");
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_protocol_number(struct pw_rule *r)
{
	pw_rule_set_protocol(r, 47);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_podwall_rule(struct pw_rule *r)
{
	static const struct pw_port_range p[] = { { 80, 80 }, { 443, 443 } };

	pw_rule_set_in_iface(r, "cali+", false);
	pw_rule_set_protocol(r, IPPROTO_TCP);
	pw_rule_add_comment(r, "ns/pol ingress");
	pw_rule_add_set(r, "pw-a", PW_SET_SRC, false);
	ck_assert_int_eq(pw_rule_add_multiport(r, p, PW_ARRAY_SIZE(p)), 0);
	pw_rule_add_mark(r, 0, 0x10000, false);
	pw_rule_set_mark_target(r, 0x10000, 0x10000);
}

static const struct oracle_case oracle_cases[] = {
	{ "accept", "-j ACCEPT", o_accept },
	{ "addresses", "-s 10.1.0.0/16 -d 192.168.1.5/32 -j DROP", o_addresses },
	{ "inverted addresses", "! -s 10.0.0.0/8 ! -d 172.16.0.0/12 -j RETURN",
	  o_inverted_addresses },
	{ "host bits", "-s 10.1.2.3/16 -j ACCEPT", o_host_bits },
	{ "interfaces", "-i eth0 -o veth1 -j ACCEPT", o_interfaces },
	{ "wildcard interfaces", "! -i cali+ -o tap+ -j ACCEPT", o_wildcard_interfaces },
	{ "comment, no target", "-m comment --comment 'ns/a b'", o_comment },
	{ "ctstate", "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", o_ctstate },
	{ "ctstate inverted", "-m conntrack ! --ctstate INVALID,NEW -j DROP",
	  o_ctstate_inverted },
	{ "set src", "-m set --match-set pw-a src -j ACCEPT", o_set_src },
	{ "set dst inverted", "-m set ! --match-set pw-a dst -j DROP",
	  o_set_dst_inverted },
	{ "set dst,dst", "-m set --match-set pw-ipport dst,dst -j ACCEPT",
	  o_set_dst_dst },
	{ "set src,dst", "-m set --match-set pw-ipport src,dst -j ACCEPT",
	  o_set_src_dst },
	{ "tcp", "-p tcp -m tcp --dport 80 -j ACCEPT", o_tcp },
	{ "tcp range", "-p tcp -m tcp --dport 8000:8080 -j ACCEPT", o_tcp_range },
	{ "tcp any port", "-p tcp -m tcp -j ACCEPT", o_tcp_any },
	{ "udp", "-p udp -m udp --dport 53 -j ACCEPT", o_udp },
	{ "sctp", "-p sctp -m sctp --dport 9000 -j ACCEPT", o_sctp },
	{ "multiport", "-p tcp -m multiport --dports 80:90,443,8080 -j ACCEPT",
	  o_multiport },
	{ "multiport udp", "-p udp -m multiport --dports 53,5353 -j ACCEPT",
	  o_multiport_udp },
	{ "mark", "-m mark --mark 0x4000/0x4000 -j RETURN", o_mark },
	{ "mark inverted", "-m mark ! --mark 0x1 -j DROP", o_mark_inverted },
	{ "MARK", "-j MARK --set-xmark 0x10000/0x10000", o_mark_target },
	{ "jump", "-j pw-dest", o_jump },
	{ "goto", "-g pw-dest", o_goto },
	{ "physdev in", "-i cni0 -m physdev --physdev-in veth1a2b3c4d -g pw-dest",
	  o_physdev_in },
	{ "physdev out", "-o cni0 -m physdev --physdev-out veth+ --physdev-is-bridged -j DROP",
	  o_physdev_out },
	{ "physdev in and out", "-m physdev --physdev-in vethA --physdev-out vethB "
	  "--physdev-is-bridged -j ACCEPT", o_physdev_both },
	{ "protocol number", "-p 47 -j ACCEPT", o_protocol_number },
	{ "podwall rule", "-i cali+ -p tcp -m comment --comment 'ns/pol ingress' "
	  "-m set --match-set pw-a src -m multiport --dports 80,443 "
	  "-m mark --mark 0x0/0x10000 -j MARK --set-xmark 0x10000/0x10000",
	  o_podwall_rule },
};

static bool same_name(const struct xt_entry_match *a, const struct xt_entry_match *b)
{
	return strncmp(a->u.user.name, b->u.user.name, sizeof(a->u.user.name)) == 0;
}

static const char *compare_entries(struct iptc_handle *h, const struct ipt_entry *ours,
				   const struct ipt_entry *theirs)
{
	size_t o = sizeof(*ours), t = sizeof(*theirs);
	const struct xt_entry_match *om, *tm;

	if (memcmp(&ours->ip, &theirs->ip, sizeof(ours->ip)) != 0)
		return "ip part differs";
	while (o < ours->target_offset && t < theirs->target_offset) {
		om = (const void *)((const char *)ours + o);
		tm = (const void *)((const char *)theirs + t);
		if (!same_name(om, tm))
			return "match names differ";
		if (om->u.user.revision != tm->u.user.revision)
			return "match revisions differ";
		if (om->u.match_size != tm->u.match_size)
			return "match sizes differ";
		if (memcmp(om->data, tm->data, om->u.match_size - sizeof(*om)))
			return "match data differs";
		o += om->u.match_size;
		t += tm->u.match_size;
	}
	if (o != ours->target_offset || t != theirs->target_offset)
		return "match counts differ";
	if (strcmp(iptc_get_target(ours, h), iptc_get_target(theirs, h)) != 0)
		return "targets differ";
	if (ours->next_offset - ours->target_offset !=
	    theirs->next_offset - theirs->target_offset)
		return "target sizes differ";
	om = (const void *)((const char *)ours + ours->target_offset);
	tm = (const void *)((const char *)theirs + theirs->target_offset);
	if (strcmp(iptc_get_target(ours, h), "MARK") == 0 &&
	    (om->u.user.revision != tm->u.user.revision ||
	     memcmp(om->data, tm->data, om->u.match_size - sizeof(*om)) != 0))
		return "target data differs";
	return NULL;
}

START_TEST(test_oracle)
{
	const struct oracle_case *oc = &oracle_cases[_i];
	struct pw_table *t;
	struct pw_rule *r;
	struct pw_iptc_stats st;
	struct pw_buf line = PW_BUF_INIT;
	struct iptc_handle *h;
	const char *why;
	char *saved;

	if (!enter_netns())
		return;
	sh("ipset create pw-a hash:net && ipset create pw-ipport hash:ip,port");
	t = pw_table_new("filter", AF_INET);
	r = pw_rule_new();
	oc->build(r);
	pw_chain_append(pw_table_chain(t, "pw-t"), r);
	pw_table_chain(t, "pw-dest");
	apply(t, &st);
	ck_assert(st.committed);
	sh("iptables-legacy -N ORACLE && iptables-legacy -A ORACLE %s", oc->args);

	h = iptc_init("filter");
	ck_assert_msg(h != NULL, "iptc_init: %s", iptc_strerror(errno));
	ck_assert(iptc_first_rule("pw-t", h) != NULL);
	ck_assert(iptc_first_rule("ORACLE", h) != NULL);
	why = compare_entries(h, iptc_first_rule("pw-t", h),
			      iptc_first_rule("ORACLE", h));
	ck_assert_msg(why == NULL, "%s: %s", oc->name, why);
	iptc_free(h);

	/* The printer agrees with iptables-save on both rules. */
	pw_buf_puts(&line, "-A pw-t ");
	pw_rule_format(r, &line);
	saved = sh_output("iptables-legacy-save -t filter | grep -e '^-A pw-t ' "
			  "-e '^-A ORACLE ' | sed 's/^-A ORACLE /-A pw-t /' | uniq");
	pw_buf_putc(&line, '\n');
	ck_assert_str_eq(saved, pw_buf_str(&line));

	/* Nothing differs, so nothing is written: builder == kernel bytes. */
	apply(t, &st);
	ck_assert_msg(!st.committed, "%s: second apply committed", oc->name);
	ck_assert_int_eq(st.chains_rewritten, 0);

	free(saved);
	pw_buf_free(&line);
	pw_table_free(t);
}
END_TEST

/* ---------------------------------------------------------------- apply */

START_TEST(test_apply_empty_table_matches_render)
{
	struct pw_table *t;
	struct pw_iptc_stats st;

	if (!enter_netns())
		return;
	create_sample_sets();
	t = sample_table(true, 0);
	apply(t, &st);
	ck_assert(st.committed);
	ck_assert_int_eq(st.attempts, 1);
	ck_assert_int_eq(st.chains_created, 5);
	ck_assert_int_eq(st.chains_rewritten, 0);
	ck_assert_int_eq(st.chains_deleted, 0);
	ck_assert_int_eq(st.jumps_fixed, 3);
	assert_kernel_is(t);
	pw_table_free(t);
}
END_TEST

/*
 * iptables-legacy-restore re-encodes every rule with iptables' own choice
 * of revisions and layouts; the next apply still finds nothing to change,
 * and the counters the restore preloaded survive.
 */
START_TEST(test_apply_unchanged_keeps_counters)
{
	static const char ours[] = "[0:0] -A " PREFIX "from-wl ";
	struct pw_table *t;
	struct pw_iptc_stats st;
	char *saved, *at;
	FILE *restore;

	if (!enter_netns())
		return;
	create_sample_sets();
	t = sample_table(true, 0);
	apply(t, &st);
	saved = sh_output("iptables-legacy-save -c -t filter");
	at = strstr(saved, ours);
	ck_assert(at != NULL);
	restore = popen("iptables-legacy-restore -c", "w");
	ck_assert(restore != NULL);
	fprintf(restore, "%.*s[5:500]%s", (int)(at - saved), saved, at + strlen("[0:0]"));
	ck_assert_int_eq(pclose(restore), 0);
	assert_counters(PREFIX "from-wl", 1, 5, 500);
	set_counters("FORWARD", 1, 6, 600);

	apply(t, &st);
	ck_assert(!st.committed);
	ck_assert_int_eq(st.attempts, 1);
	ck_assert_int_eq(st.chains_created + st.chains_rewritten + st.chains_deleted +
			 st.jumps_fixed, 0);
	assert_counters(PREFIX "from-wl", 1, 5, 500);
	assert_counters("FORWARD", 1, 6, 600);
	assert_kernel_is(t);
	free(saved);
	pw_table_free(t);
}
END_TEST

START_TEST(test_apply_rewrites_only_changed_chain)
{
	struct pw_table *t, *t2;
	struct pw_iptc_stats st;

	if (!enter_netns())
		return;
	create_sample_sets();
	t = sample_table(true, 0);
	apply(t, &st);
	set_counters(PREFIX "from-wl", 1, 5, 500);
	set_counters(PREFIX "to-wl", 2, 7, 700);
	t2 = sample_table(true, 8443);
	apply(t2, &st);
	ck_assert(st.committed);
	ck_assert_int_eq(st.chains_rewritten, 1);
	ck_assert_int_eq(st.chains_created + st.chains_deleted + st.jumps_fixed, 0);
	assert_counters(PREFIX "from-wl", 1, 5, 500);
	assert_counters(PREFIX "to-wl", 2, 0, 0);
	assert_kernel_is(t2);
	pw_table_free(t2);
	pw_table_free(t);
}
END_TEST

START_TEST(test_apply_deletes_vanished_chains)
{
	struct pw_table *t, *t2;
	struct pw_iptc_stats st;

	if (!enter_netns())
		return;
	create_sample_sets();
	t = sample_table(true, 0);
	apply(t, &st);
	/* Leftovers of ours from an older run, one jumping to the other. */
	sh("iptables-legacy -N " PREFIX "old-a && iptables-legacy -N " PREFIX "old-b && "
	   "iptables-legacy -A " PREFIX "old-b -j " PREFIX "old-a && "
	   "iptables-legacy -A INPUT -j " PREFIX "old-b");
	t2 = sample_table(false, 0);
	apply(t2, &st);
	ck_assert(st.committed);
	ck_assert_int_eq(st.chains_deleted, 3);
	/* pw-FORWARD lost its jump to pw-to-wl. */
	ck_assert_int_eq(st.chains_rewritten, 1);
	ck_assert_int_eq(st.jumps_fixed, 1);		/* INPUT lost the old jump */
	assert_kernel_is(t2);
	pw_table_free(t2);
	pw_table_free(t);
}
END_TEST

START_TEST(test_foreign_rules_untouched)
{
	struct pw_table *t, *t2;
	struct pw_iptc_stats st;
	struct pw_buf err = PW_BUF_INIT;
	char *before, *after;

	if (!enter_netns())
		return;
	create_sample_sets();
	preload_foreign();
	before = dump_foreign();
	t = sample_table(true, 0);
	apply(t, &st);
	ck_assert_int_eq(st.jumps_fixed, 3);
	after = dump_foreign();
	ck_assert_str_eq(after, before);
	free(after);

	t2 = sample_table(false, 0);
	apply(t2, &st);
	after = dump_foreign();
	ck_assert_str_eq(after, before);
	free(after);

	ck_assert_int_eq(pw_iptc_remove_all("filter", PREFIX, &st, &err), 0);
	after = dump_foreign();
	ck_assert_str_eq(after, before);
	free(after);

	free(before);
	pw_buf_free(&err);
	pw_table_free(t2);
	pw_table_free(t);
}
END_TEST

START_TEST(test_jump_moved_back_to_top)
{
	struct pw_table *t;
	struct pw_iptc_stats st;
	char *rules;

	if (!enter_netns())
		return;
	create_sample_sets();
	t = sample_table(true, 0);
	apply(t, &st);
	sh("iptables-legacy -N KUBE-FORWARD && "
	   "iptables-legacy -I FORWARD -j KUBE-FORWARD && "
	   "iptables-legacy -A FORWARD -j " PREFIX "FORWARD");
	apply(t, &st);
	ck_assert(st.committed);
	ck_assert_int_eq(st.jumps_fixed, 1);
	ck_assert_int_eq(st.chains_created + st.chains_rewritten + st.chains_deleted, 0);
	rules = sh_output("iptables-legacy -S FORWARD");
	ck_assert_str_eq(rules, "-P FORWARD ACCEPT\n"
				"-A FORWARD -j " PREFIX "FORWARD\n"
				"-A FORWARD -j KUBE-FORWARD\n");
	free(rules);

	/* In place again: nothing to do. */
	apply(t, &st);
	ck_assert(!st.committed);
	pw_table_free(t);
}
END_TEST

START_TEST(test_remove_all)
{
	struct pw_table *t;
	struct pw_iptc_stats st;
	struct pw_buf err = PW_BUF_INIT;
	char *before, *after, *saved;

	if (!enter_netns())
		return;
	create_sample_sets();
	preload_foreign();
	before = dump_foreign();
	t = sample_table(true, 0);
	apply(t, &st);
	ck_assert_int_eq(pw_iptc_remove_all("filter", PREFIX, &st, &err), 0);
	ck_assert(st.committed);
	ck_assert_int_eq(st.chains_deleted, 5);
	ck_assert_int_eq(st.jumps_fixed, 3);
	saved = sh_output("iptables-legacy-save -t filter");
	ck_assert_msg(strstr(saved, PREFIX) == NULL, "left behind:\n%s", saved);
	after = dump_foreign();
	ck_assert_str_eq(after, before);

	ck_assert_int_eq(pw_iptc_remove_all("filter", PREFIX, &st, &err), 0);
	ck_assert(!st.committed);
	/* The sets are free to go: no rule refers to them any more. */
	sh("ipset destroy " PREFIX "s1 && ipset destroy " PREFIX "s2");
	free(saved);
	free(after);
	free(before);
	pw_buf_free(&err);
	pw_table_free(t);
}
END_TEST

START_TEST(test_errors)
{
	struct pw_table *t;
	struct pw_rule *r;
	struct pw_iptc_stats st;
	struct pw_buf err = PW_BUF_INIT;
	char *saved;

	if (!enter_netns())
		return;
	/* A set that does not exist: nothing is written. */
	t = pw_table_new("filter", AF_INET);
	r = pw_rule_new();
	pw_rule_add_set(r, PREFIX "missing", PW_SET_SRC, false);
	pw_chain_append(pw_table_chain(t, PREFIX "a"), r);
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -ENOENT);
	ck_assert_msg(strstr(pw_buf_str(&err), PREFIX "missing") &&
		      strstr(pw_buf_str(&err), "chain " PREFIX "a"), "%s",
		      pw_buf_str(&err));
	ck_assert(!st.committed);
	saved = sh_output("iptables-legacy-save -t filter");
	ck_assert(strstr(saved, PREFIX) == NULL);
	free(saved);
	pw_table_free(t);

	/* A chain that is not ours would be someone else's to manage. */
	pw_buf_reset(&err);
	t = pw_table_new("filter", AF_INET);
	pw_table_chain(t, "KUBE-SERVICES");
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EINVAL);
	ck_assert(strstr(pw_buf_str(&err), "KUBE-SERVICES") != NULL);
	pw_table_free(t);

	/* A built-in rule we could not recognise as ours later. */
	pw_buf_reset(&err);
	t = pw_table_new("filter", AF_INET);
	pw_chain_append(pw_table_chain(t, "INPUT"), verdict(PW_TARGET_ACCEPT));
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EINVAL);
	ck_assert(strstr(pw_buf_str(&err), "chain INPUT") != NULL);
	pw_table_free(t);

	/* A jump to a chain nobody has. */
	pw_buf_reset(&err);
	t = pw_table_new("filter", AF_INET);
	pw_chain_append(pw_table_chain(t, PREFIX "a"), jump("NOPE"));
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -ENOENT);
	ck_assert_msg(strstr(pw_buf_str(&err), "NOPE") != NULL, "%s", pw_buf_str(&err));
	pw_table_free(t);

	/* A foreign rule that jumps into a chain we want gone. */
	pw_buf_reset(&err);
	sh("iptables-legacy -N " PREFIX "gone && iptables-legacy -N KUBE-X && "
	   "iptables-legacy -A KUBE-X -j " PREFIX "gone");
	t = pw_table_new("filter", AF_INET);
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EMLINK);
	ck_assert_msg(strstr(pw_buf_str(&err), "chain " PREFIX "gone: delete"), "%s",
		      pw_buf_str(&err));
	pw_table_free(t);
	pw_buf_free(&err);
}
END_TEST

/* ---------------------------------------------------------------- races */

void pw_iptc_test_before_commit(unsigned attempt);

static enum { RACE_NONE, RACE_FIRST, RACE_ALWAYS } race_mode;

/* Another writer commits between our init and commit, changing the count. */
void pw_iptc_test_before_commit(unsigned attempt)
{
	if (race_mode == RACE_ALWAYS || (race_mode == RACE_FIRST && attempt == 1))
		sh("iptables-legacy -A INPUT -s 192.0.2.%u -j DROP", attempt);
}

START_TEST(test_eagain_retried)
{
	struct pw_table *t;
	struct pw_iptc_stats st;
	char *rules;

	if (!enter_netns())
		return;
	create_sample_sets();
	t = sample_table(true, 0);
	race_mode = RACE_FIRST;
	apply(t, &st);
	race_mode = RACE_NONE;
	ck_assert_int_eq(st.attempts, 2);
	ck_assert(st.committed);
	rules = sh_output("iptables-legacy -S INPUT");
	ck_assert_str_eq(rules, "-P INPUT ACCEPT\n"
				"-A INPUT -j " PREFIX "INPUT\n"
				"-A INPUT -s 192.0.2.1/32 -j DROP\n");
	free(rules);
	pw_table_free(t);
}
END_TEST

START_TEST(test_eagain_gives_up)
{
	struct pw_table *t;
	struct pw_iptc_stats st;
	struct pw_buf err = PW_BUF_INIT;

	if (!enter_netns())
		return;
	create_sample_sets();
	t = sample_table(true, 0);
	race_mode = RACE_ALWAYS;
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EAGAIN);
	race_mode = RACE_NONE;
	ck_assert_int_eq(st.attempts, 5);
	ck_assert(!st.committed);
	ck_assert_msg(strstr(pw_buf_str(&err), "table filter: commit: "), "%s",
		      pw_buf_str(&err));
	pw_buf_free(&err);
	pw_table_free(t);
}
END_TEST

/*
 * The writer that skips the lock, placed exactly: libiptc's commit is
 * SET_REPLACE then SET_ADD_COUNTERS, and a table replaced between the two
 * makes the kernel refuse the counters with EINVAL although ours is in.
 * The test binary's own setsockopt() comes before libc's, so libiptc's
 * calls pass through here; the real call is the raw system call.
 */
static unsigned counters_races;	/* how many ADD_COUNTERS calls to race */

int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	static unsigned n;

	if (counters_races && level == IPPROTO_IP && optname == IPT_SO_SET_ADD_COUNTERS) {
		counters_races--;
		sh("iptables-legacy -A INPUT -s 192.0.2.%u -j DROP", 100 + ++n);
	}
	return (int)syscall(SYS_setsockopt, fd, level, optname, optval, optlen);
}

START_TEST(test_counters_race_retried)
{
	struct pw_table *t;
	struct pw_iptc_stats st;
	char *rules;

	if (!enter_netns())
		return;
	create_sample_sets();
	t = sample_table(true, 0);
	counters_races = 1;
	apply(t, &st);
	ck_assert_int_eq(counters_races, 0);
	/*
	 * The second attempt found the table as wanted, so the first one's
	 * table went in: that is the commit reported.
	 */
	ck_assert_int_eq(st.attempts, 2);
	ck_assert(st.committed);
	ck_assert_int_gt(st.chains_created, 0);
	rules = sh_output("iptables-legacy -S INPUT");
	ck_assert_str_eq(rules, "-P INPUT ACCEPT\n"
				"-A INPUT -j " PREFIX "INPUT\n"
				"-A INPUT -s 192.0.2.101/32 -j DROP\n");
	free(rules);
	apply(t, &st);
	ck_assert(!st.committed);
	pw_table_free(t);
}
END_TEST

START_TEST(test_refused_table_gives_up)
{
	struct pw_table *t = pw_table_new("filter", AF_INET);
	struct pw_iptc_stats st;
	struct pw_buf err = PW_BUF_INIT;

	if (!enter_netns())
		return;
	/*
	 * A tcp match on a udp rule: the kernel's checkentry refuses it at
	 * SET_REPLACE with EINVAL, attempt after attempt.
	 */
	{
		struct pw_rule *r = pw_rule_new();

		pw_rule_set_protocol(r, IPPROTO_TCP);
		pw_rule_add_dport(r, 80, 80);
		pw_rule_set_protocol(r, IPPROTO_UDP);
		pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
		pw_chain_append(pw_table_chain(t, PREFIX "a"), r);
	}
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EINVAL);
	ck_assert_int_eq(st.attempts, 5);
	ck_assert(!st.committed);
	ck_assert_msg(strstr(pw_buf_str(&err), "table filter: commit: "), "%s",
		      pw_buf_str(&err));
	pw_buf_free(&err);
	pw_table_free(t);
}
END_TEST

#define WRITER_RULES 40

/*
 * A real second writer that does not take the lock: its -A and our commits
 * race, each side sees EAGAIN and retries, and neither loses the other's
 * rules. The two tables differ in entry count, as the kernel's EAGAIN
 * check needs (the lock covers the equal-count case).
 */
START_TEST(test_concurrent_writer)
{
	struct pw_table *t[2];
	struct pw_iptc_stats st;
	unsigned i, retried = 0;
	char *saved;
	pid_t pid;
	int status;

	if (!enter_netns())
		return;
	create_sample_sets();
	t[0] = sample_table(true, 0);
	t[1] = sample_table(false, 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		char cmd[256];
		unsigned n;

		for (n = 1; n <= WRITER_RULES; n++) {
			snprintf(cmd, sizeof(cmd), "until iptables-legacy -A INPUT "
				 "-s 198.51.100.%u -j DROP 2>/dev/null; do :; done", n);
			if (system(cmd) != 0)
				_exit(1);
		}
		_exit(0);
	}
	for (i = 0; i < 30; i++) {
		apply(t[i % 2], &st);
		if (st.attempts > 1)
			retried++;
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	saved = sh_output("iptables-legacy -S INPUT");
	ck_assert_int_eq(count_lines(saved, "-A INPUT -s 198.51.100."), WRITER_RULES);
	ck_assert_int_eq(count_lines(saved, "-A INPUT -j " PREFIX "INPUT"), 1);
	ck_assert(strncmp(saved, "-P INPUT ACCEPT\n-A INPUT -j " PREFIX "INPUT\n",
			  strlen("-P INPUT ACCEPT\n-A INPUT -j " PREFIX "INPUT\n")) == 0);
	printf("concurrent writer: %u of 30 applies retried\n", retried);
	apply(t[1], &st);
	ck_assert(!st.committed);
	free(saved);
	pw_table_free(t[1]);
	pw_table_free(t[0]);
}
END_TEST

/* ---------------------------------------------------------------- set index */

START_TEST(test_setindex)
{
	struct pw_setindex *si;
	struct pw_buf err = PW_BUF_INIT;
	uint16_t a = 99, b = 99, c = 99;
	int fa = -1, fb = -1, fc = -1;

	if (!enter_netns())
		return;
	sh("ipset create pw-first hash:net && ipset create pw-second hash:ip,port "
	   "family inet6 && ipset create pw-third list:set");
	ck_assert_int_eq(pw_setindex_open(&si, &err), 0);
	ck_assert_int_eq(pw_setindex_lookup(si, "pw-first", &a, &fa, &err), 0);
	ck_assert_int_eq(pw_setindex_lookup(si, "pw-second", &b, &fb, &err), 0);
	ck_assert_int_eq(pw_setindex_lookup(si, "pw-third", &c, &fc, &err), 0);
	/* A fresh namespace numbers its sets from 0 in creation order. */
	ck_assert_int_eq(a, 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(c, 2);
	ck_assert_int_eq(fa, AF_INET);
	ck_assert_int_eq(fb, AF_INET6);
	ck_assert_int_eq(fc, AF_UNSPEC);
	/* Remembered, family and all; the family may be left out. */
	fb = -1;
	ck_assert_int_eq(pw_setindex_lookup(si, "pw-second", &b, &fb, &err), 0);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(fb, AF_INET6);
	ck_assert_int_eq(pw_setindex_lookup(si, "pw-first", &a, NULL, &err), 0);
	ck_assert_int_eq(a, 0);
	ck_assert_int_eq(pw_setindex_lookup(si, "pw-none", &a, NULL, &err), -ENOENT);
	ck_assert(strstr(pw_buf_str(&err), "pw-none") != NULL);
	ck_assert_int_eq(pw_setindex_lookup(si, "a-set-name-longer-than-31-chars-x",
					    &a, NULL, &err), -ENAMETOOLONG);
	pw_setindex_close(si);
	pw_setindex_close(NULL);
	pw_buf_free(&err);
}
END_TEST

/* ---------------------------------------------------------------- lock */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Which of our descriptors has path open: the lock chose that file. */
static bool fd_open_on(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	bool found = false;

	ck_assert(d != NULL);
	while (!found && (de = readdir(d)) != NULL) {
		char link[300], target[4096];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		found = strcmp(target, path) == 0;
	}
	closedir(d);
	return found;
}

/* In a forked child: try the lock for wait_ms, exit 0 on -EWOULDBLOCK in time. */
static void child_expects_busy(const char *lockfile_env, unsigned wait_ms)
{
	pid_t pid = fork();
	int status;

	ck_assert(pid >= 0);
	if (pid == 0) {
		struct pw_xtables_lock *lock;
		struct pw_buf err = PW_BUF_INIT;
		double t0 = now_ms(), took;
		int ret;

		setenv("XTABLES_LOCKFILE", lockfile_env, 1);
		ret = pw_xtables_lock_acquire(wait_ms, &lock, &err);
		took = now_ms() - t0;
		pw_buf_free(&err);
		if (ret != -EWOULDBLOCK || lock != NULL)
			_exit(1);
		if (took < wait_ms * 0.9 || took > wait_ms + 500)
			_exit(2);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status %d", status);
}

START_TEST(test_lock_held_and_released)
{
	struct pw_xtables_lock *lock;
	struct pw_buf err = PW_BUF_INIT;

	if (!enter_netns())
		return;
	ck_assert_int_eq(pw_xtables_lock_acquire(100, &lock, &err), 0);
	ck_assert(lock != NULL);
	ck_assert(fd_open_on(lockfile));
	/* iptables >= 1.6 sees the file lock... */
	ck_assert_int_ne(sh_status("flock -n %s true", lockfile), 0);
	/* ...and iptables 1.4 the abstract socket, alone (another lock file). */
	child_expects_busy("/tmp/check_iptc-other.lock", 300);
	child_expects_busy(lockfile, 300);
	pw_xtables_lock_release(lock);
	ck_assert_int_eq(sh_status("flock -n %s true", lockfile), 0);
	ck_assert_int_eq(pw_xtables_lock_acquire(0, &lock, &err), 0);
	pw_xtables_lock_release(lock);
	pw_xtables_lock_release(NULL);
	unlink("/tmp/check_iptc-other.lock");
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_lock_waits_for_holder)
{
	struct pw_xtables_lock *lock;
	struct pw_buf err = PW_BUF_INIT;
	char *held;
	pid_t pid;
	double t0;
	int status, i;

	if (!enter_netns())
		return;
	held = pw_xasprintf("%s.held", lockfile);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		/* flock(1) holds the file for 300 ms, as iptables -w would. */
		execlp("flock", "flock", lockfile, "sh", "-c",
		       "touch \"$0\" && sleep 0.3", held, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 2000 && access(held, F_OK) != 0; i++)
		usleep(5 * 1000);
	ck_assert_msg(access(held, F_OK) == 0, "flock(1) never took the lock");
	t0 = now_ms();
	ck_assert_int_eq(pw_xtables_lock_acquire(5000, &lock, &err), 0);
	ck_assert_msg(now_ms() - t0 > 100, "took the lock after %.0f ms", now_ms() - t0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	pw_xtables_lock_release(lock);
	unlink(held);
	free(held);
	pw_buf_free(&err);
}
END_TEST

/*
 * The default path, in a private mount namespace with its own /run, so
 * that the host's /run/xtables.lock is never held by this test.
 */
START_TEST(test_lock_default_path)
{
	struct pw_xtables_lock *lock;
	struct pw_buf err = PW_BUF_INIT;
	struct stat sb;

	if (!enter_netns())
		return;
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") < 0) {
		printf("SKIP: needs a private mount namespace: %s\n", strerror(errno));
		return;
	}
	unsetenv("XTABLES_LOCKFILE");
	ck_assert_int_eq(pw_xtables_lock_acquire(100, &lock, &err), 0);
	ck_assert(fd_open_on("/run/xtables.lock"));
	ck_assert_int_eq(stat("/run/xtables.lock", &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);
	ck_assert_int_ne(sh_status("flock -n /run/xtables.lock true"), 0);
	pw_xtables_lock_release(lock);

	/* An empty variable counts as unset, as in iptables. */
	setenv("XTABLES_LOCKFILE", "", 1);
	ck_assert_int_eq(pw_xtables_lock_acquire(100, &lock, &err), 0);
	ck_assert(fd_open_on("/run/xtables.lock"));
	pw_xtables_lock_release(lock);

	setenv("XTABLES_LOCKFILE", lockfile, 1);
	ck_assert_int_eq(pw_xtables_lock_acquire(100, &lock, &err), 0);
	ck_assert(fd_open_on(lockfile));
	ck_assert(!fd_open_on("/run/xtables.lock"));
	pw_xtables_lock_release(lock);

	/* A /run we cannot write to: the error names the path. */
	ck_assert_int_eq(umount("/run"), 0);
	ck_assert_int_eq(mount("tmpfs", "/run", "tmpfs", MS_RDONLY, NULL), 0);
	unsetenv("XTABLES_LOCKFILE");
	ck_assert(pw_xtables_lock_acquire(100, &lock, &err) < 0);
	ck_assert(lock == NULL);
	ck_assert_msg(strstr(pw_buf_str(&err), "/run/xtables.lock") != NULL, "%s",
		      pw_buf_str(&err));
	pw_buf_free(&err);
}
END_TEST

/* ---------------------------------------------------------------- main */

static Suite *iptc_suite(void)
{
	Suite *s = suite_create("iptc");
	TCase *tc;

	tc = tcase_create("oracle");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_oracle, 0, PW_ARRAY_SIZE(oracle_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("apply");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_apply_empty_table_matches_render);
	tcase_add_test(tc, test_apply_unchanged_keeps_counters);
	tcase_add_test(tc, test_apply_rewrites_only_changed_chain);
	tcase_add_test(tc, test_apply_deletes_vanished_chains);
	tcase_add_test(tc, test_foreign_rules_untouched);
	tcase_add_test(tc, test_jump_moved_back_to_top);
	tcase_add_test(tc, test_remove_all);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_eagain_retried);
	tcase_add_test(tc, test_eagain_gives_up);
	tcase_add_test(tc, test_concurrent_writer);
	tcase_add_test(tc, test_counters_race_retried);
	tcase_add_test(tc, test_refused_table_gives_up);
	suite_add_tcase(s, tc);

	tc = tcase_create("setindex");
	tcase_add_test(tc, test_setindex);
	suite_add_tcase(s, tc);

	tc = tcase_create("lock");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_lock_held_and_released);
	tcase_add_test(tc, test_lock_waits_for_holder);
	tcase_add_test(tc, test_lock_default_path);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int fd, failed;

	/* Our own lock file: the host's iptables never waits for these tests. */
	fd = mkstemp(lockfile);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	close(fd);
	setenv("XTABLES_LOCKFILE", lockfile, 1);
	/* iptables-legacy and ipset live in sbin, which a user's PATH may lack. */
	{
		const char *path = getenv("PATH");
		char *p = pw_xasprintf("%s:/usr/sbin:/sbin",
				       path ? path : "/usr/bin:/bin");

		setenv("PATH", p, 1);
		free(p);
	}
	sr = srunner_create(iptc_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	unlink(lockfile);
	return failed ? 1 : 0;
}
