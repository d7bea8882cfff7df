/*
 * The libiptc writer, both of its tables (IPv4 through libip4tc, IPv6
 * through libip6tc), the set index lookup and the xtables lock against a
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
#include <stddef.h>
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
#include <libiptc/libip6tc.h>

#include <check.h>

#include "chains/iptc_writer.h"
#include "chains/render.h"
#include "chains/rule.h"
#include "chains/setindex.h"
#include "chains/table.h"
#include "chains/xt_layout.h"
#include "engine/drift.h"
#include "tests/testlib.h"
#include "lib/cidr.h"
#include "lib/util.h"
#include "lib/xtables_lock.h"

#define PREFIX "pw-"

static char lockfile[] = "/tmp/check_iptc-lock-XXXXXX";

/* ---------------------------------------------------------------- families */

/*
 * What a test needs of one family: its tools, addresses to write with them,
 * and libip4tc or libip6tc to read the kernel's entries back. Tests over
 * both tables are Check loop tests whose index picks one of fams[].
 */
struct fam {
	int family;
	const char *name;		/* "IPv4" */
	const char *iptables;		/* "iptables-legacy" */
	const char *save;		/* "iptables-legacy-save" */
	const char *setfamily;		/* ipset's "inet" */
	const char *host_base;		/* documentation addresses: base + number */
	const char *host_len;		/* how -S prints a host: "/32" */
	const char *writer_base;	/* the concurrent writer's addresses */
	const char *foreign_net;	/* a network kube-proxy's kind of rule names */
	int sockopt_level;		/* where libiptc's setsockopt()s go */
	int add_counters;		/* ..._SO_SET_ADD_COUNTERS */
	size_t entry_size, ip_size, target_offset_at, next_offset_at, counters_at;
	void *(*init)(const char *table);
	void (*free)(void *h);
	int (*commit)(void *h);
	const char *(*first_chain)(void *h);
	const char *(*next_chain)(void *h);
	const void *(*first_rule)(const char *chain, void *h);
	const void *(*next_rule)(const void *e, void *h);
	const char *(*get_target)(const void *e, void *h);
	int (*builtin)(const char *chain, void *h);
	int (*is_chain)(const char *chain, void *h);
	const char *(*get_policy)(const char *chain, struct xt_counters *c, void *h);
	int (*set_counter)(const char *chain, unsigned n, struct xt_counters *c, void *h);
	const char *(*strerror)(int err);
};

#define TEST_TC_CALLS(tc, handle, entry)					\
static void *tc##_t_init(const char *t) { return tc##_init(t); }		\
static void tc##_t_free(void *h) { tc##_free((handle *)h); }			\
static int tc##_t_commit(void *h) { return tc##_commit((handle *)h); }	\
static const char *tc##_t_first_chain(void *h)					\
{ return tc##_first_chain((handle *)h); }					\
static const char *tc##_t_next_chain(void *h)					\
{ return tc##_next_chain((handle *)h); }					\
static const void *tc##_t_first_rule(const char *c, void *h)			\
{ return tc##_first_rule(c, (handle *)h); }					\
static const void *tc##_t_next_rule(const void *e, void *h)			\
{ return tc##_next_rule((const entry *)e, (handle *)h); }			\
static const char *tc##_t_get_target(const void *e, void *h)			\
{ return tc##_get_target((const entry *)e, (handle *)h); }			\
static int tc##_t_builtin(const char *c, void *h)				\
{ return tc##_builtin(c, (handle *)h); }					\
static int tc##_t_is_chain(const char *c, void *h)				\
{ return tc##_is_chain(c, (handle *)h); }					\
static const char *tc##_t_get_policy(const char *c, struct xt_counters *k, void *h) \
{ return tc##_get_policy(c, k, (handle *)h); }				\
static int tc##_t_set_counter(const char *c, unsigned n, struct xt_counters *k,	\
			      void *h)						\
{ return tc##_set_counter(c, n, k, (handle *)h); }				\
static const char *tc##_t_strerror(int err) { return tc##_strerror(err); }

TEST_TC_CALLS(iptc, struct iptc_handle, struct ipt_entry)
TEST_TC_CALLS(ip6tc, struct ip6tc_handle, struct ip6t_entry)

#define TEST_TC_OPS(tc)								\
	tc##_t_init, tc##_t_free, tc##_t_commit, tc##_t_first_chain,		\
	tc##_t_next_chain, tc##_t_first_rule, tc##_t_next_rule,		\
	tc##_t_get_target, tc##_t_builtin, tc##_t_is_chain, tc##_t_get_policy,	\
	tc##_t_set_counter, tc##_t_strerror

static const struct fam fams[] = {
	{
		AF_INET, "IPv4", "iptables-legacy", "iptables-legacy-save", "inet",
		"192.0.2.", "/32", "198.51.100.", "10.0.0.0/8",
		IPPROTO_IP, IPT_SO_SET_ADD_COUNTERS,
		sizeof(struct ipt_entry), sizeof(struct ipt_ip),
		offsetof(struct ipt_entry, target_offset),
		offsetof(struct ipt_entry, next_offset),
		offsetof(struct ipt_entry, counters),
		TEST_TC_OPS(iptc),
	},
	{
		AF_INET6, "IPv6", "ip6tables-legacy", "ip6tables-legacy-save", "inet6",
		"2001:db8::", "/128", "2001:db8:100::", "fd00::/8",
		IPPROTO_IPV6, IP6T_SO_SET_ADD_COUNTERS,
		sizeof(struct ip6t_entry), sizeof(struct ip6t_ip6),
		offsetof(struct ip6t_entry, target_offset),
		offsetof(struct ip6t_entry, next_offset),
		offsetof(struct ip6t_entry, counters),
		TEST_TC_OPS(ip6tc),
	},
};

#define NFAMS PW_ARRAY_SIZE(fams)

static uint16_t entry_offset(const void *e, size_t at)
{
	uint16_t v;

	memcpy(&v, (const char *)e + at, sizeof(v));
	return v;
}

static uint16_t target_offset(const struct fam *f, const void *e)
{
	return entry_offset(e, f->target_offset_at);
}

static uint16_t next_offset(const struct fam *f, const void *e)
{
	return entry_offset(e, f->next_offset_at);
}

static struct xt_counters entry_counters(const struct fam *f, const void *e)
{
	struct xt_counters c;

	memcpy(&c, (const char *)e + f->counters_at, sizeof(c));
	return c;
}

static const struct xt_entry_match *object_at(const void *e, size_t off)
{
	return (const void *)((const char *)e + off);
}

/* ---------------------------------------------------------------- helpers */

/*
 * A fresh namespace with the family's tools in it: for IPv6 also a kernel
 * that has IPv6 and ip6_tables (its save then works), else a SKIP.
 */
static bool enter_netns_for(const struct fam *f)
{
	char check[200], tools[160];

	/* In parentheses: the caller sends only the last command's output away. */
	snprintf(check, sizeof(check), "(command -v %s %s ipset && %s -t filter)",
		 f->iptables, f->save, f->save);
	snprintf(tools, sizeof(tools), "%s, %s and ipset%s", f->iptables, f->save,
		 f->family == AF_INET6 ? ", and IPv6 with ip6_tables in the kernel" : "");
	return pw_test_enter_netns(check, tools);
}

static bool enter_netns(void)
{
	return enter_netns_for(&fams[0]);
}

/* Both tables, for the tests that use both. */
static bool enter_netns_both(void)
{
	const struct fam *f = &fams[1];

	if (!enter_netns_for(&fams[0]))
		return false;
	if (pw_test_run("(command -v %s %s && %s -t filter)", f->iptables, f->save,
			f->save) == 0)
		return true;
	printf("SKIP: needs %s and %s, and IPv6 with ip6_tables in the kernel\n",
	       f->iptables, f->save);
	fflush(stdout);
	return false;
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

/* The family's save of the filter table is what podwall's printer prints for t. */
static void assert_kernel_is(const struct fam *f, const struct pw_table *t)
{
	struct pw_buf rendered = PW_BUF_INIT;
	char *saved = sh_output("%s -t filter", f->save);
	char *got = normalize_save(saved);
	char *want;

	ck_assert_int_eq(pw_table_family(t), f->family);
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
static struct pw_table *sample_table(const struct fam *f, bool with_to_wl,
				     uint16_t extra_port)
{
	static const struct pw_port_range web[] = { { 80, 80 }, { 443, 443 },
						    { 0, 0 } };
	struct pw_port_range ports[3];
	struct pw_table *t = pw_table_new("filter", f->family);
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
	if (f->family == AF_INET6) {
		/* What the IPv6 table has and the IPv4 one has not. */
		r = pw_rule_new();
		pw_rule_set_protocol(r, IPPROTO_ICMPV6);
		pw_rule_add_icmp6_type(r, 135);
		pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
		pw_chain_append(c, r);
	}
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

/* The sample's sets; each family's table uses sets of its own family. */
static void create_sample_sets(const struct fam *f)
{
	sh("ipset create " PREFIX "s1 hash:net family %s && "
	   "ipset create " PREFIX "s2 hash:ip,port family %s", f->setfamily, f->setfamily);
}

/* The counters of rule n (from 1) of chain, through libiptc. */
static struct xt_counters counters_of(const struct fam *f, const char *chain, unsigned n)
{
	void *h = f->init("filter");
	const void *e;
	struct xt_counters c = { 0, 0 };
	unsigned i = 1;

	ck_assert_msg(h != NULL, "init: %s", f->strerror(errno));
	for (e = f->first_rule(chain, h); e; e = f->next_rule(e, h), i++) {
		if (i == n) {
			c = entry_counters(f, e);
			break;
		}
	}
	ck_assert_msg(e != NULL, "%s has no rule %u", chain, n);
	f->free(h);
	return c;
}

/* Sets one rule's counters through libiptc, leaving every rule's bytes alone. */
static void set_counters(const struct fam *f, const char *chain, unsigned n,
			 uint64_t pkts, uint64_t bytes)
{
	void *h = f->init("filter");
	struct xt_counters c = { pkts, bytes };

	ck_assert_msg(h != NULL, "init: %s", f->strerror(errno));
	ck_assert_msg(f->set_counter(chain, n, &c, h), "set_counter: %s",
		      f->strerror(errno));
	ck_assert_msg(f->commit(h), "commit: %s", f->strerror(errno));
	f->free(h);
}

static void assert_counters(const struct fam *f, const char *chain, unsigned n,
			    uint64_t pkts, uint64_t bytes)
{
	struct xt_counters c = counters_of(f, chain, n);

	ck_assert_msg(c.pcnt == pkts && c.bcnt == bytes, "%s %s rule %u: [%llu:%llu]",
		      f->name, chain, n, (unsigned long long)c.pcnt,
		      (unsigned long long)c.bcnt);
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

static bool is_verdict(const char *target)
{
	return !*target || strcmp(target, "ACCEPT") == 0 || strcmp(target, "DROP") == 0 ||
	       strcmp(target, "RETURN") == 0;
}

/* One rule, byte for byte, its jump by name (offsets move with other chains). */
static void dump_entry(const struct fam *f, void *h, const void *e, struct pw_buf *out)
{
	const char *target = f->get_target(e, h);
	const unsigned char *ip = e;
	struct xt_counters c = entry_counters(f, e);
	size_t off, i;

	pw_buf_puts(out, "  ");
	for (i = 0; i < f->ip_size; i++)
		pw_buf_printf(out, "%02x", ip[i]);
	pw_buf_printf(out, " [%llu:%llu]", (unsigned long long)c.pcnt,
		      (unsigned long long)c.bcnt);
	for (off = f->entry_size; off < target_offset(f, e);) {
		const struct xt_entry_match *m = object_at(e, off);

		dump_object(out, m);
		off += m->u.match_size;
	}
	pw_buf_printf(out, " -> %s", target);
	if (!f->is_chain(target, h) && !is_verdict(target))
		dump_object(out, object_at(e, target_offset(f, e)));
	pw_buf_putc(out, '\n');
}

/*
 * Everything in the family's table, byte for byte: chain names and
 * policies, and every rule with its ip part, counters, matches and target.
 * With foreign_only, podwall's chains and jumps are left out.
 */
static char *dump_table(const struct fam *f, bool foreign_only)
{
	void *h = f->init("filter");
	struct pw_buf out = PW_BUF_INIT;
	const char *chain;

	ck_assert_msg(h != NULL, "init: %s", f->strerror(errno));
	for (chain = f->first_chain(h); chain; chain = f->next_chain(h)) {
		const void *e;
		struct xt_counters pc;

		if (foreign_only && strncmp(chain, PREFIX, strlen(PREFIX)) == 0)
			continue;
		pw_buf_printf(&out, "chain %s", chain);
		if (f->builtin(chain, h)) {
			const char *pol = f->get_policy(chain, &pc, h);

			pw_buf_printf(&out, " %s [%llu:%llu]", pol,
				      (unsigned long long)pc.pcnt,
				      (unsigned long long)pc.bcnt);
		}
		pw_buf_putc(&out, '\n');
		for (e = f->first_rule(chain, h); e; e = f->next_rule(e, h)) {
			if (foreign_only &&
			    strncmp(f->get_target(e, h), PREFIX, strlen(PREFIX)) == 0)
				continue;
			dump_entry(f, h, e, &out);
		}
	}
	f->free(h);
	pw_buf_puts(&out, "");
	return pw_buf_steal(&out);
}

static char *dump_foreign(const struct fam *f)
{
	return dump_table(f, true);
}

/* kube-proxy's kind of state, some of it with counters to keep. */
static void preload_foreign(const struct fam *f)
{
	const char *ipt = f->iptables;

	sh("%s -N KUBE-FORWARD && "
	   "%s -A FORWARD -m comment --comment 'kubernetes forwarding rules' "
	   "-j KUBE-FORWARD -c 9 900 && "
	   "%s -A KUBE-FORWARD -m mark --mark 0x4000/0x4000 "
	   "-m comment --comment 'kubernetes forwarding rules' -j ACCEPT -c 4 400 && "
	   "%s -A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT && "
	   "%s -N KUBE-FIREWALL && "
	   "%s -I INPUT -j KUBE-FIREWALL && "
	   "%s -I OUTPUT -j KUBE-FIREWALL && "
	   "%s -A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP && "
	   "%s -N KUBE-SERVICES && "
	   "%s -A OUTPUT -m conntrack --ctstate NEW -j KUBE-SERVICES && "
	   "%s -A INPUT -s %s -p tcp --dport 22 -j ACCEPT -c 3 300 && "
	   "%s -P FORWARD DROP", ipt, ipt, ipt, ipt, ipt, ipt, ipt, ipt, ipt, ipt, ipt,
	   f->foreign_net, ipt);
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

/* "-A INPUT -s <host n>/32 -j DROP\n", as -S prints a race's rule. */
static char *host_drop_line(const struct fam *f, unsigned n)
{
	return pw_xasprintf("-A INPUT -s %s%u%s -j DROP\n", f->host_base, n, f->host_len);
}

/* ---------------------------------------------------------------- oracle */

/*
 * Each kind of rule both ways: podwall's entry through pw_iptc_apply, and
 * the same rule added by the iptables-legacy (or ip6tables-legacy) binary;
 * both read back with libiptc must agree byte for byte (the kernel returns
 * our entry as we built it: a second apply that finds nothing to change
 * proves that).
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

static void addresses(struct pw_rule *r, const char *src, bool src_inv, const char *dst,
		      bool dst_inv, enum pw_target_kind v)
{
	struct pw_cidr s, d;

	if (src) {
		s = cidr(src);
		pw_rule_set_src(r, &s, src_inv);
	}
	if (dst) {
		d = cidr(dst);
		pw_rule_set_dst(r, &d, dst_inv);
	}
	pw_rule_set_verdict(r, v);
}

static void o_addresses(struct pw_rule *r)
{
	addresses(r, "10.1.0.0/16", false, "192.168.1.5/32", false, PW_TARGET_DROP);
}

static void o_inverted_addresses(struct pw_rule *r)
{
	addresses(r, "10.0.0.0/8", true, "172.16.0.0/12", true, PW_TARGET_RETURN);
}

static void o_host_bits(struct pw_rule *r)
{
	addresses(r, "10.1.2.3/16", false, NULL, false, PW_TARGET_ACCEPT);
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

static void podwall_rule(struct pw_rule *r, const char *src)
{
	static const struct pw_port_range p[] = { { 80, 80 }, { 443, 443 } };

	if (src) {
		struct pw_cidr s = cidr(src);

		pw_rule_set_src(r, &s, false);
	}
	pw_rule_set_in_iface(r, "cali+", false);
	pw_rule_set_protocol(r, IPPROTO_TCP);
	pw_rule_add_comment(r, "ns/pol ingress");
	pw_rule_add_set(r, "pw-a", PW_SET_SRC, false);
	ck_assert_int_eq(pw_rule_add_multiport(r, p, PW_ARRAY_SIZE(p)), 0);
	pw_rule_add_mark(r, 0, 0x10000, false);
	pw_rule_set_mark_target(r, 0x10000, 0x10000);
}

static void o_podwall_rule(struct pw_rule *r)
{
	podwall_rule(r, NULL);
}

static void limit_rule(struct pw_rule *r, unsigned count, enum pw_limit_unit unit,
		       unsigned burst)
{
	ck_assert_int_eq(pw_rule_add_limit(r, count, unit, burst), 0);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o_limit_sec(struct pw_rule *r)
{
	limit_rule(r, 1, PW_LIMIT_SEC, PW_LIMIT_DEFAULT_BURST);
}

static void o_limit_min_burst(struct pw_rule *r)
{
	limit_rule(r, 61, PW_LIMIT_MIN, 3);
}

static void o_limit_hour(struct pw_rule *r)
{
	limit_rule(r, 3, PW_LIMIT_HOUR, 300);
}

static void o_limit_day(struct pw_rule *r)
{
	limit_rule(r, 100, PW_LIMIT_DAY, 1);
}

/* 120/min is 2/sec to iptables: it prints the longer unit's whole count. */
static void o_limit_promoted(struct pw_rule *r)
{
	limit_rule(r, 120, PW_LIMIT_MIN, PW_LIMIT_DEFAULT_BURST);
}

static void o_nflog_bare(struct pw_rule *r)
{
	pw_rule_set_nflog(r, 0, NULL);
}

static void o_nflog_group(struct pw_rule *r)
{
	pw_rule_set_nflog(r, 42, "plain");
}

/* The deny-log rule as podwall writes it before an endpoint's final drop. */
static void o_deny_log(struct pw_rule *r)
{
	pw_rule_add_mark(r, 0, 0x10000, false);
	ck_assert_int_eq(pw_rule_add_limit(r, 1, PW_LIMIT_SEC, 5), 0);
	pw_rule_set_nflog(r, 65535, "pw-deny ingress x/a \"q\"");
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
	{ "limit", "-m limit --limit 1/sec -j ACCEPT", o_limit_sec },
	{ "limit min burst", "-m limit --limit 61/min --limit-burst 3 -j ACCEPT",
	  o_limit_min_burst },
	{ "limit hour", "-m limit --limit 3/hour --limit-burst 300 -j ACCEPT",
	  o_limit_hour },
	{ "limit day", "-m limit --limit 100/day --limit-burst 1 -j ACCEPT", o_limit_day },
	{ "limit promoted", "-m limit --limit 2/sec -j ACCEPT", o_limit_promoted },
	{ "NFLOG", "-j NFLOG", o_nflog_bare },
	{ "NFLOG group", "-j NFLOG --nflog-prefix plain --nflog-group 42", o_nflog_group },
	{ "deny log", "-m mark --mark 0x0/0x10000 -m limit --limit 1/sec "
	  "-j NFLOG --nflog-prefix 'pw-deny ingress x/a \"q\"' --nflog-group 65535",
	  o_deny_log },
};

/* The IPv6 table: v6 addresses and prefixes, icmp6, and the rest as in v4. */

static void o6_addresses(struct pw_rule *r)
{
	addresses(r, "2001:db8::/32", false, "fd00::5/128", false, PW_TARGET_DROP);
}

static void o6_inverted_addresses(struct pw_rule *r)
{
	addresses(r, "fd00::/8", true, "2001:db8:1::/48", true, PW_TARGET_RETURN);
}

static void o6_host_bits(struct pw_rule *r)
{
	addresses(r, "2001:db8:0:1:2:3:4:5/64", false, NULL, false, PW_TARGET_ACCEPT);
}

/* A prefix that ends inside a byte, and one inside a 16-bit group. */
static void o6_odd_prefixes(struct pw_rule *r)
{
	addresses(r, "2001:db8:abcd:1234::/61", false, "fd12:3456:7800::/37", true,
		  PW_TARGET_ACCEPT);
}

static void o6_all(struct pw_rule *r)
{
	addresses(r, "::/0", true, NULL, false, PW_TARGET_DROP);
}

static void o6_icmp6_proto(struct pw_rule *r)
{
	pw_rule_set_protocol(r, IPPROTO_ICMPV6);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void icmp6_rule(struct pw_rule *r, uint8_t type)
{
	pw_rule_set_protocol(r, IPPROTO_ICMPV6);
	pw_rule_add_icmp6_type(r, type);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
}

static void o6_icmp6_128(struct pw_rule *r)
{
	icmp6_rule(r, 128);
}

static void o6_icmp6_133(struct pw_rule *r)
{
	icmp6_rule(r, 133);
}

static void o6_icmp6_134(struct pw_rule *r)
{
	icmp6_rule(r, 134);
}

static void o6_icmp6_135(struct pw_rule *r)
{
	icmp6_rule(r, 135);
}

static void o6_icmp6_136(struct pw_rule *r)
{
	icmp6_rule(r, 136);
}

static void o6_icmp6_137(struct pw_rule *r)
{
	icmp6_rule(r, 137);
}

static void o6_icmp6_143(struct pw_rule *r)
{
	icmp6_rule(r, 143);
}

/* Neighbour discovery from a link-local source on a pod's interface. */
static void o6_icmp6_nd(struct pw_rule *r)
{
	struct pw_cidr s = cidr("fe80::/10");

	pw_rule_set_src(r, &s, false);
	pw_rule_set_in_iface(r, "cali+", false);
	pw_rule_add_comment(r, "neighbour discovery");
	icmp6_rule(r, 136);
}

static void o6_podwall_rule(struct pw_rule *r)
{
	podwall_rule(r, "fd00:10::/64");
}

static const struct oracle_case oracle6_cases[] = {
	{ "accept", "-j ACCEPT", o_accept },
	{ "addresses", "-s 2001:db8::/32 -d fd00::5/128 -j DROP", o6_addresses },
	{ "inverted addresses", "! -s fd00::/8 ! -d 2001:db8:1::/48 -j RETURN",
	  o6_inverted_addresses },
	{ "host bits", "-s 2001:db8:0:1:2:3:4:5/64 -j ACCEPT", o6_host_bits },
	{ "odd prefixes", "-s 2001:db8:abcd:1234::/61 ! -d fd12:3456:7800::/37 -j ACCEPT",
	  o6_odd_prefixes },
	{ "inverted ::/0", "! -s ::/0 -j DROP", o6_all },
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
	{ "ipv6-icmp", "-p ipv6-icmp -j ACCEPT", o6_icmp6_proto },
	{ "icmp6 echo-request", "-p ipv6-icmp -m icmp6 --icmpv6-type echo-request -j ACCEPT",
	  o6_icmp6_128 },
	{ "icmp6 router-solicitation",
	  "-p ipv6-icmp -m icmp6 --icmpv6-type router-solicitation -j ACCEPT", o6_icmp6_133 },
	{ "icmp6 134", "-p ipv6-icmp -m icmp6 --icmpv6-type 134 -j ACCEPT", o6_icmp6_134 },
	{ "icmp6 neighbour-solicitation",
	  "-p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation -j ACCEPT",
	  o6_icmp6_135 },
	{ "icmp6 136", "-p ipv6-icmp -m icmp6 --icmpv6-type 136 -j ACCEPT", o6_icmp6_136 },
	{ "icmp6 redirect", "-p ipv6-icmp -m icmp6 --icmpv6-type redirect -j ACCEPT",
	  o6_icmp6_137 },
	{ "icmp6 143", "-p ipv6-icmp -m icmp6 --icmpv6-type 143 -j ACCEPT", o6_icmp6_143 },
	{ "neighbour discovery", "-s fe80::/10 -i cali+ -p ipv6-icmp "
	  "-m comment --comment 'neighbour discovery' -m icmp6 --icmpv6-type 136 -j ACCEPT",
	  o6_icmp6_nd },
	{ "podwall rule", "-s fd00:10::/64 -i cali+ -p tcp "
	  "-m comment --comment 'ns/pol ingress' "
	  "-m set --match-set pw-a src -m multiport --dports 80,443 "
	  "-m mark --mark 0x0/0x10000 -j MARK --set-xmark 0x10000/0x10000",
	  o6_podwall_rule },
	{ "limit", "-m limit --limit 1/sec -j ACCEPT", o_limit_sec },
	{ "limit min burst", "-m limit --limit 61/min --limit-burst 3 -j ACCEPT",
	  o_limit_min_burst },
	{ "NFLOG group", "-j NFLOG --nflog-prefix plain --nflog-group 42", o_nflog_group },
	{ "deny log", "-m mark --mark 0x0/0x10000 -m limit --limit 1/sec "
	  "-j NFLOG --nflog-prefix 'pw-deny ingress x/a \"q\"' --nflog-group 65535",
	  o_deny_log },
};

static bool same_name(const struct xt_entry_match *a, const struct xt_entry_match *b)
{
	return strncmp(a->u.user.name, b->u.user.name, sizeof(a->u.user.name)) == 0;
}

static const char *compare_entries(const struct fam *f, void *h, const void *ours,
				   const void *theirs)
{
	size_t o = f->entry_size, t = f->entry_size;
	const struct xt_entry_match *om, *tm;

	if (memcmp(ours, theirs, f->ip_size) != 0)
		return "ip part differs";
	while (o < target_offset(f, ours) && t < target_offset(f, theirs)) {
		om = object_at(ours, o);
		tm = object_at(theirs, t);
		if (!same_name(om, tm))
			return "match names differ";
		if (om->u.user.revision != tm->u.user.revision)
			return "match revisions differ";
		if (om->u.match_size != tm->u.match_size)
			return "match sizes differ";
		/* Past the user's part is the kernel's own state (limit's bucket). */
		if (memcmp(om->data, tm->data, pw_xt_match_user_size(om)))
			return "match data differs";
		o += om->u.match_size;
		t += tm->u.match_size;
	}
	if (o != target_offset(f, ours) || t != target_offset(f, theirs))
		return "match counts differ";
	if (strcmp(f->get_target(ours, h), f->get_target(theirs, h)) != 0)
		return "targets differ";
	if (next_offset(f, ours) - target_offset(f, ours) !=
	    next_offset(f, theirs) - target_offset(f, theirs))
		return "target sizes differ";
	om = object_at(ours, target_offset(f, ours));
	tm = object_at(theirs, target_offset(f, theirs));
	if ((strcmp(f->get_target(ours, h), "MARK") == 0 ||
	     strcmp(f->get_target(ours, h), "NFLOG") == 0) &&
	    (om->u.user.revision != tm->u.user.revision ||
	     memcmp(om->data, tm->data, om->u.match_size - sizeof(*om)) != 0))
		return "target data differs";
	return NULL;
}

static void run_oracle(const struct fam *f, const struct oracle_case *oc)
{
	struct pw_table *t;
	struct pw_rule *r;
	struct pw_iptc_stats st;
	struct pw_buf line = PW_BUF_INIT;
	const char *why;
	char *saved;
	void *h;

	if (!enter_netns_for(f))
		return;
	sh("ipset create pw-a hash:net family %s && "
	   "ipset create pw-ipport hash:ip,port family %s", f->setfamily, f->setfamily);
	t = pw_table_new("filter", f->family);
	r = pw_rule_new();
	oc->build(r);
	pw_chain_append(pw_table_chain(t, "pw-t"), r);
	pw_table_chain(t, "pw-dest");
	apply(t, &st);
	ck_assert(st.committed);
	sh("%s -N ORACLE && %s -A ORACLE %s", f->iptables, f->iptables, oc->args);

	h = f->init("filter");
	ck_assert_msg(h != NULL, "init: %s", f->strerror(errno));
	ck_assert(f->first_rule("pw-t", h) != NULL);
	ck_assert(f->first_rule("ORACLE", h) != NULL);
	why = compare_entries(f, h, f->first_rule("pw-t", h), f->first_rule("ORACLE", h));
	ck_assert_msg(why == NULL, "%s %s: %s", f->name, oc->name, why);
	f->free(h);

	/* The printer agrees with iptables-save on both rules. */
	pw_buf_puts(&line, "-A pw-t ");
	pw_rule_format(r, &line);
	saved = sh_output("%s -t filter | grep -e '^-A pw-t ' -e '^-A ORACLE ' | "
			  "sed 's/^-A ORACLE /-A pw-t /' | uniq", f->save);
	pw_buf_putc(&line, '\n');
	ck_assert_str_eq(saved, pw_buf_str(&line));

	/* Nothing differs, so nothing is written: builder == kernel bytes. */
	apply(t, &st);
	ck_assert_msg(!st.committed, "%s %s: second apply committed", f->name, oc->name);
	ck_assert_int_eq(st.chains_rewritten, 0);

	free(saved);
	pw_buf_free(&line);
	pw_table_free(t);
}

START_TEST(test_oracle)
{
	run_oracle(&fams[0], &oracle_cases[_i]);
}
END_TEST

START_TEST(test_oracle6)
{
	run_oracle(&fams[1], &oracle6_cases[_i]);
}
END_TEST

/* ---------------------------------------------------------------- apply */

/*
 * The apply tests are loop tests over fams[]: _i 0 is the IPv4 table,
 * 1 the IPv6 one, with the same shapes, foreign rules and races.
 */
#define FAM_OR_SKIP(f) \
	const struct fam *f = &fams[_i]; \
	if (!enter_netns_for(f)) \
		return

START_TEST(test_apply_empty_table_matches_render)
{
	struct pw_table *t;
	struct pw_iptc_stats st;

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	t = sample_table(f, true, 0);
	apply(t, &st);
	ck_assert(st.committed);
	ck_assert_int_eq(st.attempts, 1);
	ck_assert_int_eq(st.chains_created, 5);
	ck_assert_int_eq(st.chains_rewritten, 0);
	ck_assert_int_eq(st.chains_deleted, 0);
	ck_assert_int_eq(st.jumps_fixed, 3);
	assert_kernel_is(f, t);
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
	char cmd[64];

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	t = sample_table(f, true, 0);
	apply(t, &st);
	saved = sh_output("%s -c -t filter", f->save);
	at = strstr(saved, ours);
	ck_assert(at != NULL);
	snprintf(cmd, sizeof(cmd), "%s-restore -c", f->iptables);
	restore = popen(cmd, "w");
	ck_assert(restore != NULL);
	fprintf(restore, "%.*s[5:500]%s", (int)(at - saved), saved, at + strlen("[0:0]"));
	ck_assert_int_eq(pclose(restore), 0);
	assert_counters(f, PREFIX "from-wl", 1, 5, 500);
	set_counters(f, "FORWARD", 1, 6, 600);

	apply(t, &st);
	ck_assert(!st.committed);
	ck_assert_int_eq(st.attempts, 1);
	ck_assert_int_eq(st.chains_created + st.chains_rewritten + st.chains_deleted +
			 st.jumps_fixed, 0);
	assert_counters(f, PREFIX "from-wl", 1, 5, 500);
	assert_counters(f, "FORWARD", 1, 6, 600);
	assert_kernel_is(f, t);
	free(saved);
	pw_table_free(t);
}
END_TEST

/*
 * An endpoint chain as podwall writes it: a policy call, then the final
 * drop; with_policy2 adds a second call between them, as a policy added
 * to the pod does.
 */
static struct pw_table *endpoint_table(const struct fam *f, bool with_policy2,
				       uint32_t drop_mark)
{
	struct pw_table *t = pw_table_new("filter", f->family);
	struct pw_chain *c = pw_table_chain(t, PREFIX "tw-x");
	struct pw_rule *r;

	pw_table_chain(t, PREFIX "pi-1");
	pw_table_chain(t, PREFIX "pi-2");
	r = jump(PREFIX "pi-1");
	pw_rule_add_comment(r, "x/one");
	pw_chain_append(c, r);
	if (with_policy2) {
		r = jump(PREFIX "pi-2");
		pw_rule_add_comment(r, "x/two");
		pw_chain_append(c, r);
	}
	r = verdict(PW_TARGET_DROP);
	pw_rule_add_comment(r, "no policy allowed the packet");
	pw_rule_add_mark(r, 0, drop_mark, false);
	pw_chain_append(c, r);
	pw_chain_append(pw_table_chain(t, "FORWARD"), jump(PREFIX "tw-x"));
	return t;
}

START_TEST(test_rewrite_carries_counters)
{
	struct pw_table *t, *t2, *t3;
	struct pw_iptc_stats st;

	FAM_OR_SKIP(f);
	t = endpoint_table(f, false, 0x10000);
	apply(t, &st);
	set_counters(f, PREFIX "tw-x", 1, 3, 300);
	set_counters(f, PREFIX "tw-x", 2, 9, 900);

	/* A policy added: both old rules keep theirs, the new one starts at 0. */
	t2 = endpoint_table(f, true, 0x10000);
	apply(t2, &st);
	ck_assert_int_eq(st.chains_rewritten, 1);
	assert_counters(f, PREFIX "tw-x", 1, 3, 300);
	assert_counters(f, PREFIX "tw-x", 2, 0, 0);
	assert_counters(f, PREFIX "tw-x", 3, 9, 900);
	assert_kernel_is(f, t2);

	/* And removed again. */
	set_counters(f, PREFIX "tw-x", 2, 4, 400);
	apply(t, &st);
	ck_assert_int_eq(st.chains_rewritten, 1);
	assert_counters(f, PREFIX "tw-x", 1, 3, 300);
	assert_counters(f, PREFIX "tw-x", 2, 9, 900);

	/* A changed drop is another rule: it starts at 0. */
	t3 = endpoint_table(f, false, 0x20000);
	apply(t3, &st);
	ck_assert_int_eq(st.chains_rewritten, 1);
	assert_counters(f, PREFIX "tw-x", 1, 3, 300);
	assert_counters(f, PREFIX "tw-x", 2, 0, 0);
	assert_kernel_is(f, t3);
	pw_table_free(t3);
	pw_table_free(t2);
	pw_table_free(t);
}
END_TEST

struct seen_counters {
	struct pw_buf lines;
};

static void note_counters(void *ctx, const char *chain, const char *comment,
			  uint64_t packets, uint64_t bytes)
{
	struct seen_counters *seen = ctx;

	pw_buf_printf(&seen->lines, "%s|%s|%llu|%llu\n", chain, comment,
		      (unsigned long long)packets, (unsigned long long)bytes);
}

START_TEST(test_read_counters)
{
	struct seen_counters seen = { PW_BUF_INIT };
	struct pw_buf err = PW_BUF_INIT;
	struct pw_iptc_stats st;
	struct pw_table *t;

	FAM_OR_SKIP(f);
	t = endpoint_table(f, true, 0x10000);
	apply(t, &st);
	set_counters(f, PREFIX "tw-x", 3, 7, 700);
	/* Not ours, and ours without a comment: neither is reported. */
	sh("%s -N KUBE-X && %s -A KUBE-X -m comment --comment kube -j DROP && "
	   "%s -A " PREFIX "pi-1 -j RETURN", f->iptables, f->iptables, f->iptables);
	ck_assert_int_eq(pw_iptc_read_counters("filter", f->family, PREFIX, note_counters,
					       &seen, &err), 0);
	ck_assert_str_eq(pw_buf_str(&seen.lines),
			 PREFIX "tw-x|x/one|0|0\n"
			 PREFIX "tw-x|x/two|0|0\n"
			 PREFIX "tw-x|no policy allowed the packet|7|700\n");

	/* Nothing was written: the counters go on. */
	assert_counters(f, PREFIX "tw-x", 3, 7, 700);
	ck_assert_int_eq(pw_iptc_read_counters("filter", f->family, "", note_counters,
					       &seen, &err), -EINVAL);
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_iptc_read_counters("pwnosuch", f->family, PREFIX,
					       note_counters, &seen, &err),
			 f->family == AF_INET6 ? -EAFNOSUPPORT : -ENOENT);
	ck_assert_str_ne(pw_buf_str(&err), "");
	pw_buf_free(&seen.lines);
	pw_buf_free(&err);
	pw_table_free(t);
}
END_TEST

START_TEST(test_apply_rewrites_only_changed_chain)
{
	struct pw_table *t, *t2;
	struct pw_iptc_stats st;

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	t = sample_table(f, true, 0);
	apply(t, &st);
	set_counters(f, PREFIX "from-wl", 1, 5, 500);
	set_counters(f, PREFIX "to-wl", 1, 8, 800);
	set_counters(f, PREFIX "to-wl", 2, 7, 700);
	t2 = sample_table(f, true, 8443);
	apply(t2, &st);
	ck_assert(st.committed);
	ck_assert_int_eq(st.chains_rewritten, 1);
	ck_assert_int_eq(st.chains_created + st.chains_deleted + st.jumps_fixed, 0);
	assert_counters(f, PREFIX "from-wl", 1, 5, 500);
	/* In the rewritten chain, the changed rule starts again, its drop goes on. */
	assert_counters(f, PREFIX "to-wl", 1, 0, 0);
	assert_counters(f, PREFIX "to-wl", 2, 7, 700);
	assert_kernel_is(f, t2);
	pw_table_free(t2);
	pw_table_free(t);
}
END_TEST

START_TEST(test_apply_deletes_vanished_chains)
{
	struct pw_table *t, *t2;
	struct pw_iptc_stats st;

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	t = sample_table(f, true, 0);
	apply(t, &st);
	/* Leftovers of ours from an older run, one jumping to the other. */
	sh("%s -N " PREFIX "old-a && %s -N " PREFIX "old-b && "
	   "%s -A " PREFIX "old-b -j " PREFIX "old-a && %s -A INPUT -j " PREFIX "old-b",
	   f->iptables, f->iptables, f->iptables, f->iptables);
	t2 = sample_table(f, false, 0);
	apply(t2, &st);
	ck_assert(st.committed);
	ck_assert_int_eq(st.chains_deleted, 3);
	/* pw-FORWARD lost its jump to pw-to-wl. */
	ck_assert_int_eq(st.chains_rewritten, 1);
	ck_assert_int_eq(st.jumps_fixed, 1);		/* INPUT lost the old jump */
	assert_kernel_is(f, t2);
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

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	preload_foreign(f);
	before = dump_foreign(f);
	t = sample_table(f, true, 0);
	apply(t, &st);
	ck_assert_int_eq(st.jumps_fixed, 3);
	after = dump_foreign(f);
	ck_assert_str_eq(after, before);
	free(after);

	t2 = sample_table(f, false, 0);
	apply(t2, &st);
	after = dump_foreign(f);
	ck_assert_str_eq(after, before);
	free(after);

	ck_assert_int_eq(pw_iptc_remove_all("filter", f->family, PREFIX, &st, &err), 0);
	after = dump_foreign(f);
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

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	t = sample_table(f, true, 0);
	apply(t, &st);
	sh("%s -N KUBE-FORWARD && %s -I FORWARD -j KUBE-FORWARD && "
	   "%s -A FORWARD -j " PREFIX "FORWARD", f->iptables, f->iptables, f->iptables);
	apply(t, &st);
	ck_assert(st.committed);
	ck_assert_int_eq(st.jumps_fixed, 1);
	ck_assert_int_eq(st.chains_created + st.chains_rewritten + st.chains_deleted, 0);
	rules = sh_output("%s -S FORWARD", f->iptables);
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

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	preload_foreign(f);
	before = dump_foreign(f);
	t = sample_table(f, true, 0);
	apply(t, &st);
	ck_assert_int_eq(pw_iptc_remove_all("filter", f->family, PREFIX, &st, &err), 0);
	ck_assert(st.committed);
	ck_assert_int_eq(st.chains_deleted, 5);
	ck_assert_int_eq(st.jumps_fixed, 3);
	saved = sh_output("%s -t filter", f->save);
	ck_assert_msg(strstr(saved, PREFIX) == NULL, "left behind:\n%s", saved);
	after = dump_foreign(f);
	ck_assert_str_eq(after, before);

	ck_assert_int_eq(pw_iptc_remove_all("filter", f->family, PREFIX, &st, &err), 0);
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

	FAM_OR_SKIP(f);
	/* A set that does not exist: nothing is written. */
	t = pw_table_new("filter", f->family);
	r = pw_rule_new();
	pw_rule_add_set(r, PREFIX "missing", PW_SET_SRC, false);
	pw_chain_append(pw_table_chain(t, PREFIX "a"), r);
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -ENOENT);
	ck_assert_msg(strstr(pw_buf_str(&err), PREFIX "missing") &&
		      strstr(pw_buf_str(&err), "chain " PREFIX "a"), "%s",
		      pw_buf_str(&err));
	/* Both tables are "filter": an error says which family's it is. */
	if (f->family == AF_INET6)
		ck_assert_msg(strncmp(pw_buf_str(&err), "IPv6 chain ", 11) == 0, "%s",
			      pw_buf_str(&err));
	else
		ck_assert_msg(strncmp(pw_buf_str(&err), "chain ", 6) == 0, "%s",
			      pw_buf_str(&err));
	ck_assert(!st.committed);
	saved = sh_output("%s -t filter", f->save);
	ck_assert(strstr(saved, PREFIX) == NULL);
	free(saved);
	pw_table_free(t);

	/* A chain that is not ours would be someone else's to manage. */
	pw_buf_reset(&err);
	t = pw_table_new("filter", f->family);
	pw_table_chain(t, "KUBE-SERVICES");
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EINVAL);
	ck_assert(strstr(pw_buf_str(&err), "KUBE-SERVICES") != NULL);
	pw_table_free(t);

	/* A built-in rule we could not recognise as ours later. */
	pw_buf_reset(&err);
	t = pw_table_new("filter", f->family);
	pw_chain_append(pw_table_chain(t, "INPUT"), verdict(PW_TARGET_ACCEPT));
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EINVAL);
	ck_assert(strstr(pw_buf_str(&err), "chain INPUT") != NULL);
	pw_table_free(t);

	/* A jump to a chain nobody has. */
	pw_buf_reset(&err);
	t = pw_table_new("filter", f->family);
	pw_chain_append(pw_table_chain(t, PREFIX "a"), jump("NOPE"));
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -ENOENT);
	ck_assert_msg(strstr(pw_buf_str(&err), "NOPE") != NULL, "%s", pw_buf_str(&err));
	pw_table_free(t);

	/* A foreign rule that jumps into a chain we want gone. */
	pw_buf_reset(&err);
	sh("%s -N " PREFIX "gone && %s -N KUBE-X && %s -A KUBE-X -j " PREFIX "gone",
	   f->iptables, f->iptables, f->iptables);
	t = pw_table_new("filter", f->family);
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EMLINK);
	ck_assert_msg(strstr(pw_buf_str(&err), "chain " PREFIX "gone: delete"), "%s",
		      pw_buf_str(&err));
	pw_table_free(t);

	/* The same for --cleanup. */
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_iptc_remove_all("filter", f->family, PREFIX, &st, &err),
			 -EMLINK);
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_iptc_remove_all("filter", AF_UNIX, PREFIX, &st, &err), -EINVAL);
	pw_buf_free(&err);
}
END_TEST

/* What does not fit a family is refused before the kernel is touched. */
START_TEST(test_family_mismatch)
{
	static const struct {
		int table_family;
		const char *what;
		const char *addr;	/* as the rule's source, or NULL */
		const char *set_family;	/* of the set the rule matches, or NULL */
		bool icmp6;
		const char *expect;
	} cases[] = {
		{ AF_INET6, "v4 address", "10.0.0.0/8", NULL, false,
		  "only IPv6 addresses fit an IPv6 table" },
		{ AF_INET, "v6 address", "fd00::/8", NULL, false,
		  "only IPv4 addresses fit an IPv4 table" },
		{ AF_INET6, "inet set", NULL, "inet", false, "of family inet," },
		{ AF_INET, "inet6 set", NULL, "inet6", false, "of family inet6," },
		{ AF_INET, "icmp6 match", NULL, NULL, true, "icmp6 match needs an IPv6" },
	};
	struct pw_buf err = PW_BUF_INIT;
	struct pw_iptc_stats st;
	char *saved;
	size_t i;

	if (!enter_netns_both())
		return;
	sh("ipset create pw-inet hash:ip family inet && "
	   "ipset create pw-inet6 hash:ip family inet6 && "
	   "ipset create pw-list list:set");
	for (i = 0; i < PW_ARRAY_SIZE(cases); i++) {
		struct pw_table *t = pw_table_new("filter", cases[i].table_family);
		struct pw_rule *r = pw_rule_new();
		char set[32];

		if (cases[i].addr) {
			struct pw_cidr c = cidr(cases[i].addr);

			pw_rule_set_src(r, &c, false);
		}
		if (cases[i].set_family) {
			snprintf(set, sizeof(set), "pw-%s", cases[i].set_family);
			pw_rule_add_set(r, set, PW_SET_SRC, false);
		}
		if (cases[i].icmp6) {
			pw_rule_set_protocol(r, IPPROTO_ICMPV6);
			pw_rule_add_icmp6_type(r, 128);
		}
		pw_chain_append(pw_table_chain(t, PREFIX "a"), r);
		pw_buf_reset(&err);
		ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EINVAL);
		ck_assert_msg(strstr(pw_buf_str(&err), cases[i].expect) &&
			      strstr(pw_buf_str(&err), "chain " PREFIX "a, rule 1"),
			      "%s: %s", cases[i].what, pw_buf_str(&err));
		ck_assert(!st.committed);
		pw_table_free(t);
	}
	saved = sh_output("iptables-legacy-save -t filter; ip6tables-legacy-save -t filter");
	ck_assert_msg(strstr(saved, PREFIX) == NULL, "%s", saved);
	free(saved);

	/* A set with no family of its own (list:set) fits either table. */
	for (i = 0; i < NFAMS; i++) {
		struct pw_table *t = pw_table_new("filter", fams[i].family);
		struct pw_rule *r = pw_rule_new();

		pw_rule_add_set(r, "pw-list", PW_SET_SRC, false);
		pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
		pw_chain_append(pw_table_chain(t, PREFIX "a"), r);
		apply(t, &st);
		ck_assert(st.committed);
		pw_table_free(t);
	}
	pw_buf_free(&err);
}
END_TEST

/* ---------------------------------------------------------------- two tables */

/* The one that is not f. */
static const struct fam *other_fam(const struct fam *f)
{
	return f == &fams[0] ? &fams[1] : &fams[0];
}

/*
 * Both tables, each written by its own apply: the IPv4 one never touches
 * the IPv6 table, nor the other way round, down to the counters.
 */
START_TEST(test_both_tables)
{
	struct pw_table *t[NFAMS], *t2;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_iptc_stats st;
	size_t i;

	if (!enter_netns_both())
		return;
	sh("ipset create " PREFIX "s1 hash:net family inet && "
	   "ipset create " PREFIX "s2 hash:ip,port family inet && "
	   "ipset create " PREFIX "s1-6 hash:net family inet6 && "
	   "ipset create " PREFIX "s2-6 hash:ip,port family inet6");
	/* The same chain names in both; the IPv6 sets under their own names. */
	t[0] = sample_table(&fams[0], true, 0);
	t[1] = pw_table_new("filter", AF_INET6);
	{
		struct pw_chain *c = pw_table_chain(t[1], PREFIX "FORWARD");
		struct pw_rule *r = pw_rule_new();
		struct pw_cidr net = cidr("fd00::/8");

		pw_chain_append(pw_table_chain(t[1], "FORWARD"), jump(PREFIX "FORWARD"));
		pw_rule_set_src(r, &net, false);
		pw_rule_add_set(r, PREFIX "s1-6", PW_SET_DST, false);
		pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
		pw_chain_append(c, r);
		r = pw_rule_new();
		pw_rule_set_protocol(r, IPPROTO_ICMPV6);
		pw_rule_add_icmp6_type(r, 135);
		pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
		pw_chain_append(c, r);
		pw_chain_append(c, verdict(PW_TARGET_DROP));
	}
	for (i = 0; i < NFAMS; i++) {
		apply(t[i], &st);
		ck_assert(st.committed);
	}
	for (i = 0; i < NFAMS; i++)
		assert_kernel_is(&fams[i], t[i]);
	set_counters(&fams[1], PREFIX "FORWARD", 1, 11, 1100);
	set_counters(&fams[0], PREFIX "FORWARD", 1, 12, 1200);

	for (i = 0; i < NFAMS; i++) {
		const struct fam *f = &fams[i], *o = other_fam(f);
		char *before = dump_table(o, false), *after;

		/* Each table as wanted: nothing to do in either. */
		apply(t[i], &st);
		ck_assert(!st.committed);

		/* A changed IPv4 table leaves IPv6 alone, and the other way round. */
		t2 = f->family == AF_INET ? sample_table(f, false, 0) : pw_table_new("filter",
										     AF_INET6);
		apply(t2, &st);
		ck_assert(st.committed);
		assert_kernel_is(f, t2);
		after = dump_table(o, false);
		ck_assert_str_eq(after, before);
		free(after);

		ck_assert_int_eq(pw_iptc_remove_all("filter", f->family, PREFIX, &st, &err),
				 0);
		ck_assert_msg(st.committed || f->family == AF_INET6, "%s", f->name);
		after = dump_table(o, false);
		ck_assert_str_eq(after, before);
		free(after);

		/* Back as it was, counters aside. */
		apply(t[i], &st);
		ck_assert(st.committed);
		free(before);
		pw_table_free(t2);
	}
	for (i = 0; i < NFAMS; i++) {
		assert_kernel_is(&fams[i], t[i]);
		pw_table_free(t[i]);
	}
	pw_buf_free(&err);
}
END_TEST

/* ---------------------------------------------------------------- no IPv6 */

/*
 * socket(AF_INET6) as a kernel without IPv6 answers it (ipv6.disable=1),
 * for the writer and libip6tc alike: the test binary's own socket() comes
 * before libc's. inet6_sockets_left IPv6 sockets still open (-1: all).
 */
static int inet6_sockets_left = -1;

int socket(int domain, int type, int protocol)
{
	if (domain == AF_INET6 && inet6_sockets_left >= 0 && inet6_sockets_left-- == 0) {
		inet6_sockets_left = 0;
		errno = EAFNOSUPPORT;
		return -1;
	}
	return (int)syscall(SYS_socket, domain, type, protocol);
}

static struct pw_table *small_table(int family)
{
	struct pw_table *t = pw_table_new("filter", family);

	pw_chain_append(pw_table_chain(t, "INPUT"), jump(PREFIX "INPUT"));
	pw_table_chain(t, PREFIX "INPUT");
	return t;
}

START_TEST(test_no_ipv6)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_iptc_stats st;
	struct pw_table *t, *t4;

	if (!enter_netns())
		return;
	t = small_table(AF_INET6);
	t4 = small_table(AF_INET);

	/* No IPv6 socket at all: told before anything else is tried. */
	inet6_sockets_left = 0;
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EAFNOSUPPORT);
	ck_assert_msg(strstr(pw_buf_str(&err), "IPv6 table filter: the kernel has no "
			     "IPv6 (socket: "), "%s", pw_buf_str(&err));
	ck_assert(!st.committed);
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_iptc_remove_all("filter", AF_INET6, PREFIX, &st, &err),
			 -EAFNOSUPPORT);
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_iptc_read_counters("filter", AF_INET6, PREFIX, NULL, NULL,
					       &err), -EAFNOSUPPORT);
	ck_assert_msg(strstr(pw_buf_str(&err), "IPv6 table filter: the kernel has no IPv6"),
		      "%s", pw_buf_str(&err));
	/* IPv4 goes on as before. */
	apply(t4, &st);
	ck_assert(st.committed);

	/* The same answer from libip6tc's own socket. */
	inet6_sockets_left = 1;
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EAFNOSUPPORT);
	ck_assert_msg(strstr(pw_buf_str(&err), "IPv6 table filter: the kernel has no "
			     "IPv6 (init: "), "%s", pw_buf_str(&err));
	inet6_sockets_left = -1;
	pw_table_free(t);

	/* An IPv6 table the kernel has no module for is "no IPv6" too... */
	pw_buf_reset(&err);
	t = pw_table_new("pwnosuch", AF_INET6);
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -EAFNOSUPPORT);
	ck_assert_msg(strstr(pw_buf_str(&err), "IPv6 table pwnosuch: the kernel has no "
			     "such ip6tables table (init: "), "%s", pw_buf_str(&err));
	ck_assert_int_eq(st.attempts, 5);
	pw_table_free(t);
	/* ...but a missing IPv4 table is a failure. */
	pw_buf_reset(&err);
	t = pw_table_new("pwnosuch", AF_INET);
	ck_assert_int_eq(pw_iptc_apply(t, PREFIX, &st, &err), -ENOENT);
	ck_assert_msg(strncmp(pw_buf_str(&err), "table pwnosuch: init: ", 22) == 0, "%s",
		      pw_buf_str(&err));
	pw_table_free(t);
	pw_table_free(t4);
	pw_buf_free(&err);
}
END_TEST

/* ---------------------------------------------------------------- races */

void pw_iptc_test_before_commit(unsigned attempt);

static enum { RACE_NONE, RACE_FIRST, RACE_ALWAYS } race_mode;
static const struct fam *race_fam;	/* whose table the other writer writes */

/* Another writer commits between our init and commit, changing the count. */
void pw_iptc_test_before_commit(unsigned attempt)
{
	if (race_mode == RACE_ALWAYS || (race_mode == RACE_FIRST && attempt == 1))
		sh("%s -A INPUT -s %s%u -j DROP", race_fam->iptables, race_fam->host_base,
		   attempt);
}

START_TEST(test_eagain_retried)
{
	struct pw_table *t;
	struct pw_iptc_stats st;
	char *rules, *line, *want;

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	t = sample_table(f, true, 0);
	race_fam = f;
	race_mode = RACE_FIRST;
	apply(t, &st);
	race_mode = RACE_NONE;
	ck_assert_int_eq(st.attempts, 2);
	ck_assert(st.committed);
	rules = sh_output("%s -S INPUT", f->iptables);
	line = host_drop_line(f, 1);
	want = pw_xasprintf("-P INPUT ACCEPT\n-A INPUT -j " PREFIX "INPUT\n%s", line);
	ck_assert_str_eq(rules, want);
	free(want);
	free(line);
	free(rules);
	pw_table_free(t);
}
END_TEST

START_TEST(test_eagain_gives_up)
{
	struct pw_table *t;
	struct pw_iptc_stats st;
	struct pw_buf err = PW_BUF_INIT;

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	t = sample_table(f, true, 0);
	race_fam = f;
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

	if (counters_races && race_fam && level == race_fam->sockopt_level &&
	    optname == race_fam->add_counters) {
		counters_races--;
		sh("%s -A INPUT -s %s%u -j DROP", race_fam->iptables, race_fam->host_base,
		   100 + ++n);
	}
	return (int)syscall(SYS_setsockopt, fd, level, optname, optval, optlen);
}

START_TEST(test_counters_race_retried)
{
	struct pw_table *t;
	struct pw_iptc_stats st;
	char *rules, *line, *want;

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	t = sample_table(f, true, 0);
	race_fam = f;
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
	rules = sh_output("%s -S INPUT", f->iptables);
	line = host_drop_line(f, 101);
	want = pw_xasprintf("-P INPUT ACCEPT\n-A INPUT -j " PREFIX "INPUT\n%s", line);
	ck_assert_str_eq(rules, want);
	free(want);
	free(line);
	free(rules);
	apply(t, &st);
	ck_assert(!st.committed);
	pw_table_free(t);
}
END_TEST

START_TEST(test_refused_table_gives_up)
{
	struct pw_table *t;
	struct pw_iptc_stats st;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_rule *r;

	FAM_OR_SKIP(f);
	/*
	 * A tcp match on a udp rule: the kernel's checkentry refuses it at
	 * SET_REPLACE with EINVAL, attempt after attempt.
	 */
	t = pw_table_new("filter", f->family);
	r = pw_rule_new();
	pw_rule_set_protocol(r, IPPROTO_TCP);
	pw_rule_add_dport(r, 80, 80);
	pw_rule_set_protocol(r, IPPROTO_UDP);
	pw_rule_set_verdict(r, PW_TARGET_ACCEPT);
	pw_chain_append(pw_table_chain(t, PREFIX "a"), r);
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
	char *saved, *prefix;
	const char *head;
	pid_t pid;
	int status;

	FAM_OR_SKIP(f);
	create_sample_sets(f);
	t[0] = sample_table(f, true, 0);
	t[1] = sample_table(f, false, 0);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		char cmd[256];
		unsigned n;

		for (n = 1; n <= WRITER_RULES; n++) {
			snprintf(cmd, sizeof(cmd), "until %s -A INPUT -s %s%u -j DROP "
				 "2>/dev/null; do :; done", f->iptables, f->writer_base, n);
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
	saved = sh_output("%s -S INPUT", f->iptables);
	prefix = pw_xasprintf("-A INPUT -s %s", f->writer_base);
	ck_assert_int_eq(count_lines(saved, prefix), WRITER_RULES);
	ck_assert_int_eq(count_lines(saved, "-A INPUT -j " PREFIX "INPUT"), 1);
	head = "-P INPUT ACCEPT\n-A INPUT -j " PREFIX "INPUT\n";
	ck_assert(strncmp(saved, head, strlen(head)) == 0);
	printf("concurrent writer (%s): %u of 30 applies retried\n", f->name, retried);
	apply(t[1], &st);
	ck_assert(!st.committed);
	free(prefix);
	free(saved);
	pw_table_free(t[1]);
	pw_table_free(t[0]);
}
END_TEST

/* ---------------------------------------------------------------- drift */

static int drift_check(struct pw_drift *d)
{
	struct pw_buf err = PW_BUF_INIT;
	int ret = pw_drift_check(d, &err);

	ck_assert_msg(ret >= 0, "drift check: %d %s", ret, pw_buf_str(&err));
	pw_buf_free(&err);
	return ret;
}

static void drift_remember(struct pw_drift *d)
{
	struct pw_buf err = PW_BUF_INIT;

	ck_assert_msg(pw_drift_remember(d, &err) == 0, "remember: %s", pw_buf_str(&err));
	pw_buf_free(&err);
}

/*
 * One watcher per table: it sees what happens to podwall's part of its
 * own family's table, and nothing of the other family's, nor of anyone
 * else's chains, nor counters.
 */
START_TEST(test_drift)
{
	const struct fam *f = &fams[_i], *o = other_fam(f);
	struct pw_buf err = PW_BUF_INIT;
	struct pw_iptc_stats st;
	struct pw_drift *d;
	struct pw_table *t;

	if (!enter_netns_both())
		return;
	create_sample_sets(f);
	t = sample_table(f, true, 0);
	sh("%s -N KUBE-SERVICES", f->iptables);
	apply(t, &st);
	d = pw_drift_open("filter", f->family, PREFIX, &err);
	ck_assert_msg(d != NULL, "open: %s", pw_buf_str(&err));
	ck_assert_int_eq(drift_check(d), 1);		/* nothing remembered yet */
	drift_remember(d);
	ck_assert_int_eq(drift_check(d), 0);

	/* Not drift: someone else's chains, counters, the other table. */
	sh("%s -A KUBE-SERVICES -s %s -j DROP && %s -N X && %s -A FORWARD -j X",
	   f->iptables, f->foreign_net, f->iptables, f->iptables);
	set_counters(f, PREFIX "from-wl", 1, 3, 300);
	sh("%s -N " PREFIX "other && %s -I INPUT -j ACCEPT && %s -F " PREFIX "other",
	   o->iptables, o->iptables, o->iptables);
	ck_assert_int_eq(drift_check(d), 0);

	/* Drift: a rule above podwall's jump, then one of its chains flushed. */
	sh("%s -I INPUT -j ACCEPT", f->iptables);
	ck_assert_int_eq(drift_check(d), 1);
	apply(t, &st);
	ck_assert_int_eq(st.jumps_fixed, 1);
	drift_remember(d);
	ck_assert_int_eq(drift_check(d), 0);
	sh("%s -F " PREFIX "to-wl", f->iptables);
	ck_assert_int_eq(drift_check(d), 1);
	apply(t, &st);
	drift_remember(d);
	ck_assert_int_eq(drift_check(d), 0);
	pw_drift_close(d);
	pw_drift_close(NULL);

	/* No such family; no IPv6 in the kernel. */
	pw_buf_reset(&err);
	ck_assert(pw_drift_open("filter", AF_UNIX, PREFIX, &err) == NULL);
	ck_assert_str_ne(pw_buf_str(&err), "");
	if (f->family == AF_INET6) {
		inet6_sockets_left = 0;
		pw_buf_reset(&err);
		errno = 0;
		ck_assert(pw_drift_open("filter", AF_INET6, PREFIX, &err) == NULL);
		ck_assert_int_eq(errno, EAFNOSUPPORT);
		ck_assert_msg(strstr(pw_buf_str(&err), "IPv6 table filter"), "%s",
			      pw_buf_str(&err));
		inet6_sockets_left = -1;
	}
	pw_buf_free(&err);
	pw_table_free(t);
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
	tcase_add_loop_test(tc, test_oracle6, 0, PW_ARRAY_SIZE(oracle6_cases));
	suite_add_tcase(s, tc);

	/* Each of these once per family: _i indexes fams[]. */
	tc = tcase_create("apply");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_apply_empty_table_matches_render, 0, NFAMS);
	tcase_add_loop_test(tc, test_apply_unchanged_keeps_counters, 0, NFAMS);
	tcase_add_loop_test(tc, test_apply_rewrites_only_changed_chain, 0, NFAMS);
	tcase_add_loop_test(tc, test_rewrite_carries_counters, 0, NFAMS);
	tcase_add_loop_test(tc, test_read_counters, 0, NFAMS);
	tcase_add_loop_test(tc, test_apply_deletes_vanished_chains, 0, NFAMS);
	tcase_add_loop_test(tc, test_foreign_rules_untouched, 0, NFAMS);
	tcase_add_loop_test(tc, test_jump_moved_back_to_top, 0, NFAMS);
	tcase_add_loop_test(tc, test_remove_all, 0, NFAMS);
	tcase_add_loop_test(tc, test_errors, 0, NFAMS);
	tcase_add_loop_test(tc, test_eagain_retried, 0, NFAMS);
	tcase_add_loop_test(tc, test_eagain_gives_up, 0, NFAMS);
	tcase_add_loop_test(tc, test_concurrent_writer, 0, NFAMS);
	tcase_add_loop_test(tc, test_counters_race_retried, 0, NFAMS);
	tcase_add_loop_test(tc, test_refused_table_gives_up, 0, NFAMS);
	suite_add_tcase(s, tc);

	tc = tcase_create("families");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_family_mismatch);
	tcase_add_test(tc, test_both_tables);
	tcase_add_test(tc, test_no_ipv6);
	suite_add_tcase(s, tc);

	tc = tcase_create("drift");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_drift, 0, NFAMS);
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
	pw_test_path_with_sbin();
	sr = srunner_create(iptc_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	unlink(lockfile);
	return failed ? 1 : 0;
}
