#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "chains/ipset_kernel.h"
#include "chains/iptc_read.h"
#include "engine/bridge_nf.h"
#include "engine/doctor.h"
#include "engine/nodenet.h"
#include "lib/file.h"
#include "lib/xtables_lock.h"

/* ------------------------------------------------------------ the report */

struct doctor_line {
	enum pw_doctor_status status;
	char *check;
	char *saw;
	char *fix;
};

struct pw_doctor_report {
	struct doctor_line *lines;
	size_t count, cap;
};

static const char *const status_names[] = { "OK", "WARN", "FAIL" };

struct pw_doctor_report *pw_doctor_report_new(void)
{
	return pw_xcalloc(1, sizeof(struct pw_doctor_report));
}

void pw_doctor_report_free(struct pw_doctor_report *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->count; i++) {
		free(r->lines[i].check);
		free(r->lines[i].saw);
		free(r->lines[i].fix);
	}
	free(r->lines);
	free(r);
}

void pw_doctor_add(struct pw_doctor_report *r, enum pw_doctor_status status, const char *check,
		   const char *fix, const char *fmt, ...)
{
	struct pw_buf saw = PW_BUF_INIT;
	struct doctor_line *l;
	va_list ap;

	va_start(ap, fmt);
	pw_buf_vprintf(&saw, fmt, ap);
	va_end(ap);
	PW_GROW(r->lines, r->cap, r->count + 1);
	l = &r->lines[r->count++];
	l->status = status;
	l->check = pw_xstrdup(check);
	l->saw = pw_buf_steal(&saw);
	l->fix = fix && status != PW_DOCTOR_OK ? pw_xstrdup(fix) : NULL;
}

enum pw_doctor_status pw_doctor_worst(const struct pw_doctor_report *r)
{
	enum pw_doctor_status worst = PW_DOCTOR_OK;
	size_t i;

	for (i = 0; i < r->count; i++)
		if (r->lines[i].status > worst)
			worst = r->lines[i].status;
	return worst;
}

void pw_doctor_format_text(const struct pw_doctor_report *r, struct pw_buf *out)
{
	size_t i;

	for (i = 0; i < r->count; i++) {
		const struct doctor_line *l = &r->lines[i];

		pw_buf_printf(out, "%-4s %s: %s", status_names[l->status], l->check, l->saw);
		if (l->fix)
			pw_buf_printf(out, "; fix: %s", l->fix);
		pw_buf_putc(out, '\n');
	}
}

static void json_string(struct pw_buf *out, const char *s)
{
	pw_buf_putc(out, '"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			pw_buf_printf(out, "\\%c", c);
		else if (c == '\n')
			pw_buf_puts(out, "\\n");
		else if (c < 0x20)
			pw_buf_printf(out, "\\u%04x", c);
		else
			pw_buf_putc(out, (char)c);
	}
	pw_buf_putc(out, '"');
}

void pw_doctor_format_json(const struct pw_doctor_report *r, struct pw_buf *out)
{
	size_t i;

	pw_buf_puts(out, "{\"checks\":[");
	for (i = 0; i < r->count; i++) {
		const struct doctor_line *l = &r->lines[i];

		pw_buf_puts(out, i ? ",\n {\"check\":" : "\n {\"check\":");
		json_string(out, l->check);
		pw_buf_printf(out, ",\"status\":\"%s\",\"saw\":", status_names[l->status]);
		json_string(out, l->saw);
		if (l->fix) {
			pw_buf_puts(out, ",\"fix\":");
			json_string(out, l->fix);
		}
		pw_buf_putc(out, '}');
	}
	pw_buf_printf(out, "],\n \"status\":\"%s\"}\n", status_names[pw_doctor_worst(r)]);
}

/* ---------------------------------------------------------- pure pieces */

/* The next word of *p (a quoted one without its quotes), or NULL at the end. */
static char *next_word(const char **p)
{
	const char *s = *p, *start;
	char *w;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s || *s == '\n')
		return NULL;
	if (*s == '"') {
		start = ++s;
		while (*s && *s != '"')
			s++;
		w = pw_xstrndup(start, (size_t)(s - start));
		if (*s)
			s++;
	} else {
		start = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n')
			s++;
		w = pw_xstrndup(start, (size_t)(s - start));
	}
	*p = s;
	return w;
}

static void copy_name(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

int pw_kp_rule_parse(const char *line, struct pw_kp_rule *out)
{
	const char *p = line;
	char *w = next_word(&p);
	bool negate = false;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!w || strcmp(w, "-A") != 0)
		goto out;
	free(w);
	w = next_word(&p);
	if (!w)
		goto out;
	copy_name(out->chain, sizeof(out->chain), w);
	ret = 0;
	for (free(w); (w = next_word(&p)); free(w)) {
		char *arg;

		if (strcmp(w, "!") == 0) {
			negate = true;
			continue;
		}
		if (strcmp(w, "-s") && strcmp(w, "-d") && strcmp(w, "-j") &&
		    strcmp(w, "--comment")) {
			negate = false;
			continue;
		}
		arg = next_word(&p);
		if (!arg)
			break;
		if (strcmp(w, "-s") == 0) {
			out->has_src = true;
			out->src_inverted = negate;
		} else if (strcmp(w, "-d") == 0) {
			out->has_dst = pw_cidr_parse(arg, &out->dst) == 0 ||
				       pw_ip_parse(arg, &out->dst) == 0;
		} else if (strcmp(w, "-j") == 0) {
			copy_name(out->target, sizeof(out->target), arg);
		} else {
			out->cluster_ip = pw_str_has_suffix(arg, "cluster IP");
		}
		negate = false;
		free(arg);
	}
out:
	free(w);
	return ret;
}

static bool is_service_chain(const char *chain)
{
	return strcmp(chain, "KUBE-SERVICES") == 0 || strncmp(chain, "KUBE-SVC-", 9) == 0;
}

bool pw_kp_masquerades_all(const struct pw_kp_rule *rules, size_t n)
{
	size_t i, marks = 0;

	for (i = 0; i < n; i++) {
		const struct pw_kp_rule *r = &rules[i];

		if (!is_service_chain(r->chain) || strcmp(r->target, "KUBE-MARK-MASQ") != 0 ||
		    !r->has_dst)
			continue;
		if (r->has_src)
			return false;
		marks++;
	}
	return marks > 0;
}

/* The section a line opens ("[keyfile]" -> "keyfile"), or NULL. */
static bool section_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len == n + 2 && line[0] == '[' && strncmp(line + 1, name, n) == 0 &&
	       line[n + 1] == ']';
}

#define NM_KEY "unmanaged-devices"

char *pw_nm_unmanaged_devices(const char *conf)
{
	const char *p = conf;
	bool in_keyfile = false;
	char *value = NULL;

	while (*p) {
		const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p), *eq;
		const char *s = p;
		size_t len;

		while (s < end && isspace((unsigned char)*s))
			s++;
		len = (size_t)(end - s);
		while (len && isspace((unsigned char)s[len - 1]))
			len--;
		if (len && s[0] == '[') {
			in_keyfile = section_is(s, len, "keyfile");
		} else if (in_keyfile && len && s[0] != '#' && s[0] != ';' &&
			   (eq = memchr(s, '=', len))) {
			size_t klen = (size_t)(eq - s);

			while (klen && isspace((unsigned char)s[klen - 1]))
				klen--;
			if (klen == strlen(NM_KEY) && strncmp(s, NM_KEY, klen) == 0) {
				const char *v = eq + 1;

				while (v < s + len && isspace((unsigned char)*v))
					v++;
				free(value);
				value = pw_xstrndup(v, (size_t)(s + len - v));
			}
		}
		p = nl ? nl + 1 : end;
	}
	return value;
}

/*
 * unmanaged-devices is a ';'-separated list of device specs; those that
 * name interfaces are "interface-name:GLOB" ("interface-name:=NAME" for
 * the exact name, "interface-name:~GLOB" for one that may match).
 * "except:" specs and the other kinds (mac:, type:, driver:) are not
 * judged: the interface counts as managed unless a spec names it.
 */
bool pw_nm_unmanages(const char *value, const char *name)
{
	const char *p = value;

	while (*p) {
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *spec = pw_xstrndup(p, len), *s = spec;
		bool hit = false;

		while (isspace((unsigned char)*s))
			s++;
		if (strncmp(s, "interface-name:", 15) == 0) {
			s += 15;
			if (*s == '=')
				hit = strcmp(s + 1, name) == 0;
			else
				hit = fnmatch(*s == '~' ? s + 1 : s, name, 0) == 0;
		}
		free(spec);
		if (hit)
			return true;
		p += len + (end ? 1 : 0);
	}
	return false;
}

/*
 * /proc/locks: "1: FLOCK  ADVISORY  WRITE 1234 08:01:131 0 EOF", the
 * device's major and minor in hex, the inode in decimal; a waiter's
 * lines carry "->" after the number and hold nothing.
 */
pid_t pw_proc_locks_holder(const char *locks, unsigned major, unsigned minor,
			   unsigned long inode)
{
	const char *p = locks;

	while (*p) {
		const char *nl = strchr(p, '\n');
		char kind[16], mode[16], access[16];
		unsigned maj, min;
		unsigned long ino;
		int pid;

		if (!strstr(p, "->") || (nl && strstr(p, "->") > nl)) {
			if (sscanf(p, "%*d: %15s %15s %15s %d %x:%x:%lu", kind, mode, access,
				   &pid, &maj, &min, &ino) == 7 &&
			    strcmp(kind, "FLOCK") == 0 && maj == major && min == minor &&
			    ino == inode)
				return (pid_t)pid;
		}
		if (!nl)
			break;
		p = nl + 1;
	}
	return 0;
}

void pw_cidr_cover(const struct pw_cidr *a, const struct pw_cidr *b, struct pw_cidr *out)
{
	unsigned max = a->prefix < b->prefix ? a->prefix : b->prefix, bits = 0;

	while (bits < max &&
	       ((a->addr[bits / 8] ^ b->addr[bits / 8]) & (0x80 >> (bits % 8))) == 0)
		bits++;
	*out = *a;
	out->prefix = (uint8_t)bits;
	pw_cidr_mask(out);
}

/* Each string of the value after key: "x" or ["x","y"]. */
static size_t each_ip_of(const char *json, const char *key,
			 void (*fn)(const struct pw_cidr *ip, void *ctx), void *ctx)
{
	const char *p = json;
	size_t n = 0, klen = strlen(key);

	while ((p = strstr(p, key))) {
		bool list;

		p += klen;
		while (*p == ' ')
			p++;
		list = *p == '[';
		do {
			const char *q = strchr(p, '"'), *e;
			struct pw_cidr ip;
			char text[PW_CIDR_STRLEN];

			if (!q || (list && strchr(p, ']') && strchr(p, ']') < q))
				break;
			e = strchr(q + 1, '"');
			if (!e)
				break;
			if ((size_t)(e - q - 1) < sizeof(text)) {
				memcpy(text, q + 1, (size_t)(e - q - 1));
				text[e - q - 1] = '\0';
				if (pw_ip_parse(text, &ip) == 0) {
					fn(&ip, ctx);
					n++;
				}
			}
			p = e + 1;
		} while (list && *p == ',' && p++);
	}
	return n;
}

size_t pw_service_list_cluster_ips(const char *json,
				   void (*fn)(const struct pw_cidr *ip, void *ctx), void *ctx)
{
	/* clusterIPs repeats clusterIP where both are given (1.20 and later). */
	if (strstr(json, "\"clusterIPs\":"))
		return each_ip_of(json, "\"clusterIPs\":", fn, ctx);
	return each_ip_of(json, "\"clusterIP\":", fn, ctx);
}

int pw_rp_filter_effective(int all, int iface)
{
	return all > iface ? all : iface;
}

/* ----------------------------------------------------------- kube-proxy */

static bool nft_has_table(const char *name);

struct kp_rules {
	struct pw_kp_rule *items;
	size_t count, cap;
	bool services, nodeports;	/* the chains exist */
};

static void collect_kp_rule(const struct pw_iptc_rule_view *v, void *ctx)
{
	struct kp_rules *k = ctx;
	struct pw_kp_rule *r;

	if (strcmp(v->chain, "KUBE-SERVICES") == 0)
		k->services = true;
	if (strcmp(v->chain, "KUBE-NODEPORTS") == 0)
		k->nodeports = true;
	/* Empty chains have no rules to report: their jumps tell of them. */
	if (v->target && strcmp(v->target, "KUBE-SERVICES") == 0)
		k->services = true;
	if (v->target && strcmp(v->target, "KUBE-NODEPORTS") == 0)
		k->nodeports = true;
	if (strncmp(v->chain, "KUBE-", 5) != 0)
		return;
	PW_GROW(k->items, k->cap, k->count + 1);
	r = &k->items[k->count++];
	memset(r, 0, sizeof(*r));
	copy_name(r->chain, sizeof(r->chain), v->chain);
	copy_name(r->target, sizeof(r->target), v->target ? v->target : "");
	r->has_src = v->src.prefix > 0;
	r->src_inverted = v->src_inverted;
	r->has_dst = v->dst.prefix > 0;
	r->dst = v->dst;
	r->cluster_ip = v->comment && pw_str_has_suffix(v->comment, "cluster IP");
}

static bool link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

void pw_doctor_check_kube_proxy(struct pw_doctor_report *r)
{
	struct kp_rules nat = { NULL, 0, 0, false, false }, filter = { NULL, 0, 0, false, false };
	struct pw_buf err = PW_BUF_INIT;
	size_t i, cluster_ips = 0;

	if (pw_iptc_foreach_rule("nat", collect_kp_rule, &nat, &err) < 0) {
		pw_doctor_add(r, PW_DOCTOR_WARN, "kube-proxy",
			      "load iptable_nat (modprobe iptable_nat) or check the legacy tables",
			      "cannot read the legacy nat table: %s", pw_buf_str(&err));
		goto out;
	}
	pw_buf_reset(&err);
	(void)pw_iptc_foreach_rule("filter", collect_kp_rule, &filter, &err);
	for (i = 0; i < nat.count; i++)
		cluster_ips += nat.items[i].cluster_ip;
	if (link_exists("kube-ipvs0")) {
		pw_doctor_add(r, PW_DOCTOR_WARN, "kube-proxy",
			      "podwall is tested with kube-proxy --proxy-mode=iptables; in ipvs mode "
			      "service traffic is DNATed in INPUT/OUTPUT, so check policies by probing",
			      "ipvs mode (the link kube-ipvs0 exists)");
	} else if (!nat.services && nft_has_table("kube-proxy")) {
		pw_doctor_add(r, PW_DOCTOR_WARN, "kube-proxy",
			      "podwall is tested beside kube-proxy --proxy-mode=iptables; in nftables "
			      "mode Services are translated in nf_tables before podwall's filter rules "
			      "as in iptables mode, but untested: probe the policies",
			      "nftables mode (an nf_tables table \"kube-proxy\", no legacy "
			      "KUBE-SERVICES)");
	} else if (!nat.services) {
		pw_doctor_add(r, PW_DOCTOR_WARN, "kube-proxy",
			      "run kube-proxy with --proxy-mode=iptables (nft mode writes no legacy "
			      "rules: look at \"nft list ruleset\"); without it Services are not "
			      "translated before podwall sees them",
			      "no KUBE-SERVICES chain in the legacy nat table: kube-proxy is not in "
			      "iptables mode here (nft mode, or none)");
	} else if (pw_kp_masquerades_all(nat.items, nat.count)) {
		pw_doctor_add(r, PW_DOCTOR_FAIL, "kube-proxy",
			      "run kube-proxy without --masquerade-all (masqueradeAll: false) and "
			      "with --cluster-cidr: masqueraded service traffic reaches pods from the "
			      "node's address, not the client pod's, so podSelector rules see the node",
			      "iptables mode, --masquerade-all: every service rule jumps to "
			      "KUBE-MARK-MASQ whatever the source");
	} else {
		pw_doctor_add(r, PW_DOCTOR_OK, "kube-proxy", NULL,
			      "iptables mode (KUBE-SERVICES%s in nat%s), %zu cluster IP rules, "
			      "no --masquerade-all", nat.nodeports ? " and KUBE-NODEPORTS" : "",
			      filter.services ? ", KUBE-SERVICES in filter" : "", cluster_ips);
	}
out:
	free(nat.items);
	free(filter.items);
	pw_buf_free(&err);
}

/* The cluster IPs kube-proxy translates, for the address check. */
static void collect_cluster_ip(const struct pw_iptc_rule_view *v, void *ctx)
{
	struct kp_rules *k = ctx;
	struct pw_kp_rule *r;

	if (strcmp(v->chain, "KUBE-SERVICES") != 0 || !v->comment ||
	    !pw_str_has_suffix(v->comment, "cluster IP") || v->dst.prefix != 32)
		return;
	PW_GROW(k->items, k->cap, k->count + 1);
	r = &k->items[k->count++];
	memset(r, 0, sizeof(*r));
	r->dst = v->dst;
	r->has_dst = true;
	r->cluster_ip = true;
}

/* ------------------------------------------------------------- backends */

/*
 * The uapi values of linux/netfilter/nfnetlink.h and nf_tables.h (stable
 * since 3.13), spelled out so that 3.10's headers build this too.
 */
#define DOCTOR_NFNL_SUBSYS_NFTABLES 10
#define DOCTOR_NFT_MSG_GETTABLE 1
#define DOCTOR_NFT_MSG_GETRULE 7
#define DOCTOR_NFTA_TABLE_NAME 1

/*
 * Dumps one kind of nf_tables object of this namespace, any family: cb for
 * each message. Returns how many, or -errno (nf_tables not there).
 */
static int nft_dump(int msg, void (*cb)(const struct nlmsghdr *h, void *ctx), void *ctx)
{
	struct {
		struct nlmsghdr nlh;
		struct nfgenmsg nfg;
	} req;
	char buf[16384];
	struct sockaddr_nl sa;
	int fd, count = 0, ret = 0;
	bool done = false;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = (DOCTOR_NFNL_SUBSYS_NFTABLES << 8) | msg;
	req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nlh.nlmsg_seq = 1;
	req.nfg.nfgen_family = AF_UNSPEC;
	req.nfg.version = NFNETLINK_V0;
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		goto out;
	}
	while (!done) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n < 0) {
			ret = -errno;
			break;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				ret = e->error;
				done = true;
				break;
			}
			if (cb)
				cb(h, ctx);
			count++;
		}
	}
out:
	close(fd);
	return ret < 0 ? ret : count;
}

/* Whether a table of this name is among those nf_tables holds. */
struct nft_table_find {
	const char *name;
	bool found;
};

static void match_table(const struct nlmsghdr *h, void *ctx)
{
	struct nft_table_find *f = ctx;
	const struct nlattr *a = (const void *)((const char *)NLMSG_DATA(h) +
						NLMSG_ALIGN(sizeof(struct nfgenmsg)));
	int left = (int)h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct nfgenmsg)));

	while (left >= (int)sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= left) {
		if ((a->nla_type & NLA_TYPE_MASK) == DOCTOR_NFTA_TABLE_NAME &&
		    strncmp((const char *)a + NLA_HDRLEN, f->name,
			    a->nla_len - NLA_HDRLEN) == 0 &&
		    strlen(f->name) + 1 == (size_t)(a->nla_len - NLA_HDRLEN))
			f->found = true;
		left -= NLA_ALIGN(a->nla_len);
		a = (const void *)((const char *)a + NLA_ALIGN(a->nla_len));
	}
}

static bool nft_has_table(const char *name)
{
	struct nft_table_find f = { name, false };

	return nft_dump(DOCTOR_NFT_MSG_GETTABLE, match_table, &f) > 0 && f.found;
}

static int nft_rule_count(void)
{
	return nft_dump(DOCTOR_NFT_MSG_GETRULE, NULL, NULL);
}

void pw_doctor_check_backends(struct pw_doctor_report *r)
{
	struct pw_buf err = PW_BUF_INIT;
	int legacy = 0, n, nft = nft_rule_count();

	n = pw_iptc_count_rules("filter", &err);
	legacy += n > 0 ? n : 0;
	n = pw_iptc_count_rules("nat", &err);
	legacy += n > 0 ? n : 0;
	if (nft > 0 && legacy > 0)
		pw_doctor_add(r, PW_DOCTOR_WARN, "iptables-backend",
			      "none needed for podwall, whose legacy rules still apply; but a drop in "
			      "either backend wins, so look at both: iptables-legacy-save and "
			      "iptables-nft-save (or nft list ruleset)",
			      "%d rules in the legacy filter and nat tables and %d in nf_tables: the "
			      "kernel evaluates both", legacy, nft);
	else if (nft > 0)
		pw_doctor_add(r, PW_DOCTOR_WARN, "iptables-backend",
			      "run kube-proxy and the CNI with iptables-legacy, as podwall; a drop in "
			      "nf_tables still wins over podwall's accepts",
			      "%d rules in nf_tables and none in the legacy filter and nat tables", nft);
	else
		pw_doctor_add(r, PW_DOCTOR_OK, "iptables-backend", NULL,
			      "%d rules in the legacy filter and nat tables, %s", legacy,
			      nft == 0 ? "none in nf_tables" : "nf_tables not available");
	pw_buf_free(&err);
}

/* -------------------------------------------------------------- bridges */

/* An interface the runtime's CNI results name as a pod's host side. */
static bool cni_named(const struct pw_doctor_env *env, const char *name)
{
	return env && env->cni_ifaces && pw_strmap_get(env->cni_ifaces, name);
}


struct ipv6_walk {
	const char *node_name;
	bool found;
};

/* A pod of this node's (of any node's when the name is not known) with IPv6. */
static int has_ipv6_pod(const struct pw_pod *pod, void *ctx)
{
	struct ipv6_walk *w = ctx;

	if (pw_pod_address(pod, AF_INET6) && !pod->host_network &&
	    (!w->node_name || (pod->node_name && strcmp(pod->node_name, w->node_name) == 0)))
		w->found = true;
	return 0;
}

static bool node_has_ipv6_pods(const struct pw_doctor_env *env)
{
	struct ipv6_walk w = { env->node_name, false };

	if (env->cluster)
		pw_cluster_foreach_pod(env->cluster, has_ipv6_pod, &w);
	return w.found;
}

/* A bridge with at least one veth port: one that holds pods. */
static bool bridge_holds_pods(const struct pw_node_view *v, const struct pw_node_link *br)
{
	size_t i;

	for (i = 0; i < pw_node_view_link_count(v); i++) {
		const struct pw_node_link *l = pw_node_view_link_at(v, i);

		if (l->master == br->ifindex && l->kind == PW_LINK_VETH)
			return true;
	}
	return false;
}

void pw_doctor_check_bridges(struct pw_doctor_report *r, const struct pw_doctor_env *env)
{
	struct pw_buf msg = PW_BUF_INIT;
	struct pw_nodenet *net = pw_nodenet_open(false, &msg);
	const struct pw_node_view *v;
	bool ipv6 = node_has_ipv6_pods(env) && pw_kernel_has_ipv6();
	size_t i;
	int bridges = 0;

	if (!net) {
		pw_doctor_add(r, PW_DOCTOR_WARN, "br-netfilter", "run doctor as root on the node",
			      "cannot read the links: %s", pw_buf_str(&msg));
		goto out;
	}
	v = pw_nodenet_view(net);
	for (i = 0; i < pw_node_view_link_count(v); i++) {
		const struct pw_node_link *l = pw_node_view_link_at(v, i);
		int family;

		if (l->kind != PW_LINK_BRIDGE ||
		    (!bridge_holds_pods(v, l) && !cni_named(env, l->name)))
			continue;
		bridges++;
		/* IPv6 only where this node's pods have it, as the daemon does. */
		for (family = AF_INET; family; family = family == AF_INET && ipv6 ? AF_INET6 : 0) {
			const char *ipt = family == AF_INET ? "iptables" : "ip6tables";
			char *fix;

			pw_buf_reset(&msg);
			if (pw_bridge_nf_ensure(l->name, family, false, &msg) == PW_BRIDGE_NF_ON) {
				pw_doctor_add(r, PW_DOCTOR_OK, "br-netfilter", NULL,
					      "%s: bridged %s traffic reaches %s", l->name,
					      family == AF_INET ? "IPv4" : "IPv6", ipt);
				continue;
			}
			fix = pw_xasprintf("modprobe br_netfilter; sysctl -w "
					   "net.bridge.bridge-nf-call-%s=1 (or echo 1 > "
					   "/sys/class/net/%s/bridge/nf_call_%s); podwall turns it on "
					   "unless --keep-sysctls", ipt, l->name, ipt);
			pw_doctor_add(r, PW_DOCTOR_FAIL, "br-netfilter", fix,
				      "%s: %s: policy between pods on this bridge is not enforced",
				      l->name, pw_buf_str(&msg));
			free(fix);
		}
	}
	if (!bridges)
		pw_doctor_add(r, PW_DOCTOR_OK, "br-netfilter", NULL,
			      "no bridge holds pods here (routed pods need no br_netfilter)");
out:
	pw_nodenet_close(net);
	pw_buf_free(&msg);
}

/* ------------------------------------------------------------- sysctls */

static int read_int_file(const char *path)
{
	char *data = NULL;
	size_t len;
	int v;

	if (pw_read_file(path, 64, &data, &len) < 0)
		return -1;
	v = atoi(data);
	free(data);
	return v;
}

/* The interfaces CNIs give pods and their own devices. */
static bool is_pod_facing(const struct pw_node_link *l)
{
	static const char *const globs[] = { "cali*", "veth*", "cni*", "flannel*", "tunl*",
					     "vxlan*" };
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(globs); i++)
		if (fnmatch(globs[i], l->name, 0) == 0)
			return true;
	return false;
}

static void check_rp_filter(struct pw_doctor_report *r, const struct pw_doctor_env *env)
{
	struct pw_buf msg = PW_BUF_INIT, strict = PW_BUF_INIT;
	struct pw_nodenet *net = pw_nodenet_open(false, &msg);
	int all = read_int_file("/proc/sys/net/ipv4/conf/all/rp_filter");
	int def = read_int_file("/proc/sys/net/ipv4/conf/default/rp_filter");
	size_t i, n = 0;

	if (net) {
		const struct pw_node_view *v = pw_nodenet_view(net);

		for (i = 0; i < pw_node_view_link_count(v); i++) {
			const struct pw_node_link *l = pw_node_view_link_at(v, i);
			char path[96];

			if (!is_pod_facing(l) && !cni_named(env, l->name))
				continue;
			n++;
			snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", l->name);
			if (pw_rp_filter_effective(all, read_int_file(path)) == 1)
				pw_buf_printf(&strict, "%s%s", strict.len ? " " : "", l->name);
		}
	}
	if (strict.len)
		pw_doctor_add(r, PW_DOCTOR_WARN, "rp-filter",
			      "sysctl -w net.ipv4.conf.all.rp_filter=2 (loose) and the same for each "
			      "interface named, unless every route to the pods is symmetric",
			      "strict rp_filter (1) on %s (all=%d, default=%d): packets of asymmetric "
			      "routes are dropped before podwall sees them", strict.data, all, def);
	else if (def == 1)
		pw_doctor_add(r, PW_DOCTOR_WARN, "rp-filter",
			      "sysctl -w net.ipv4.conf.default.rp_filter=2",
			      "default=1: pods' new interfaces will be strict (all=%d, %zu pod-facing "
			      "interfaces not strict)", all, n);
	else
		pw_doctor_add(r, PW_DOCTOR_OK, "rp-filter", NULL,
			      "all=%d, default=%d, %zu pod-facing interfaces, none strict", all, def, n);
	pw_nodenet_close(net);
	pw_buf_free(&msg);
	pw_buf_free(&strict);
}

void pw_doctor_check_sysctls(struct pw_doctor_report *r, const struct pw_doctor_env *env)
{
	int v4 = read_int_file("/proc/sys/net/ipv4/ip_forward");

	if (v4 == 1)
		pw_doctor_add(r, PW_DOCTOR_OK, "ip-forward", NULL, "net.ipv4.ip_forward = 1");
	else
		pw_doctor_add(r, PW_DOCTOR_FAIL, "ip-forward", "sysctl -w net.ipv4.ip_forward=1 "
			      "(and net.ipv4.ip_forward = 1 in /etc/sysctl.d/)",
			      "net.ipv4.ip_forward = %d: the node does not route pods' traffic", v4);
	if (node_has_ipv6_pods(env)) {
		int v6 = read_int_file("/proc/sys/net/ipv6/conf/all/forwarding");

		if (v6 == 1)
			pw_doctor_add(r, PW_DOCTOR_OK, "ip-forward", NULL,
				      "net.ipv6.conf.all.forwarding = 1 (this node's pods have IPv6)");
		else
			pw_doctor_add(r, PW_DOCTOR_FAIL, "ip-forward",
				      "sysctl -w net.ipv6.conf.all.forwarding=1",
				      "net.ipv6.conf.all.forwarding = %d and this node's pods have "
				      "IPv6 addresses",
				      v6);
	}
	check_rp_filter(r, env);
}

/* ----------------------------------------------------- kernel features */

/* What one family needs; each missing one a word in missing. Returns how many were asked. */
static int probe_family(int family, bool deny_log, struct pw_ipset_kernel *k,
			struct pw_buf *missing)
{
	static const char *const matches[] = { "set", "conntrack", "mark", "comment", "multiport",
					       "physdev", "limit" };
	static const char *const set_types[] = { "hash:ip", "hash:net", "hash:ip,port" };
	const char *v = family == AF_INET6 ? "IPv6 " : "";
	size_t i;
	int n = 0;

	for (i = 0; i < PW_ARRAY_SIZE(matches); i++) {
		if (strcmp(matches[i], "limit") == 0 && !deny_log)
			continue;
		n++;
		if (pw_iptc_kernel_has(matches[i], false, family) != 1)
			pw_buf_printf(missing, " %smatch %s", v, matches[i]);
	}
	n++;
	if (pw_iptc_kernel_has("MARK", true, family) != 1)
		pw_buf_printf(missing, " %starget MARK", v);
	if (deny_log) {
		n++;
		if (pw_iptc_kernel_has("NFLOG", true, family) != 1)
			pw_buf_printf(missing, " %starget NFLOG", v);
	}
	for (i = 0; k && i < PW_ARRAY_SIZE(set_types); i++) {
		n++;
		if (pw_ipset_kernel_has_type(k, set_types[i], family) != 1)
			pw_buf_printf(missing, " %sset type %s", v, set_types[i]);
	}
	return n;
}

void pw_doctor_check_kernel_features(struct pw_doctor_report *r,
				     const struct pw_doctor_env *env)
{
	struct pw_buf missing = PW_BUF_INIT, err = PW_BUF_INIT;
	struct pw_ipset_kernel *k = pw_ipset_kernel_open(&err);
	bool ipv6 = node_has_ipv6_pods(env) && pw_kernel_has_ipv6();
	int n;

	if (!k)
		pw_buf_printf(&missing, " ip_set (%s)", pw_buf_str(&err));
	n = probe_family(AF_INET, env->deny_log, k, &missing);
	/* ip6_tables only where this node's pods have IPv6, as the daemon does. */
	if (ipv6)
		n += probe_family(AF_INET6, env->deny_log, k, &missing);
	pw_ipset_kernel_close(k);
	if (missing.len)
		pw_doctor_add(r, PW_DOCTOR_FAIL, "kernel-features",
			      "load the modules (modprobe xt_set ip_set_hash_ip ip_set_hash_net "
			      "ip_set_hash_ipport xt_conntrack xt_mark xt_comment xt_multiport "
			      "xt_physdev xt_limit xt_NFLOG, and ip6_tables for IPv6) or use a kernel "
			      "built with them",
			      "missing:%s", missing.data);
	else
		pw_doctor_add(r, PW_DOCTOR_OK, "kernel-features", NULL,
			      "%d matches, targets and set types podwall uses are there%s", n,
			      ipv6 ? " (IPv4 and IPv6)" : "");
	pw_buf_free(&missing);
	pw_buf_free(&err);
}

/* ------------------------------------------------------- the xtables lock */

static void describe_holder(const char *path, struct pw_buf *out)
{
	struct stat st;
	char *locks = NULL, *comm = NULL, proc[64];
	size_t len;
	pid_t pid = 0;

	if (stat(path, &st) == 0 && pw_read_file("/proc/locks", 1 << 20, &locks, &len) == 0)
		pid = pw_proc_locks_holder(locks, major(st.st_dev), minor(st.st_dev),
					   (unsigned long)st.st_ino);
	if (!pid) {
		pw_buf_puts(out, "held by a process not found in /proc/locks (another pid "
			    "namespace, or the @xtables socket of iptables 1.4)");
	} else {
		snprintf(proc, sizeof(proc), "/proc/%d/comm", (int)pid);
		if (pw_read_file(proc, 256, &comm, &len) == 0 && len && comm[len - 1] == '\n')
			comm[len - 1] = '\0';
		/* The lock is the open file's: a child that inherited it holds it on. */
		if (comm)
			pw_buf_printf(out, "held by pid %d (%s)", (int)pid, comm);
		else
			pw_buf_printf(out, "taken by pid %d, which has exited: a process that "
				      "inherited its descriptor holds it (fuser -v %s)", (int)pid,
				      path);
	}
	free(locks);
	free(comm);
}

void pw_doctor_check_xtables_lock(struct pw_doctor_report *r, const struct pw_doctor_env *env)
{
	struct pw_buf err = PW_BUF_INIT, who = PW_BUF_INIT;
	struct pw_xtables_lock *lock = NULL;
	int ret = pw_xtables_lock_acquire(env->lock_wait_ms, &lock, &err);

	if (ret == 0) {
		pw_xtables_lock_release(lock);
		pw_doctor_add(r, PW_DOCTOR_OK, "xtables-lock", NULL, "%s taken and released",
			      env->lock_path);
	} else if (ret == -EWOULDBLOCK) {
		describe_holder(env->lock_path, &who);
		pw_doctor_add(r, PW_DOCTOR_FAIL, "xtables-lock",
			      "find why that process keeps the lock (a hung iptables-restore, a "
			      "script without -w), or raise --lock-wait",
			      "%s not free within %.1f s: %s", env->lock_path,
			      env->lock_wait_ms / 1000.0, who.data);
	} else {
		pw_doctor_add(r, PW_DOCTOR_FAIL, "xtables-lock",
			      "run doctor as root; the lock's directory must be writable",
			      "%s", pw_buf_str(&err));
	}
	pw_buf_free(&err);
	pw_buf_free(&who);
}

/* ------------------------------------------------------- NetworkManager */

#define NM_SNIPPET "[keyfile]\\nunmanaged-devices=interface-name:cali*;interface-name:veth*;" \
	"interface-name:cni0;interface-name:flannel*"

/*
 * The value NetworkManager uses: NetworkManager.conf, then conf.d's files
 * in name order, the last one that sets it winning.
 */
static char *nm_effective_unmanaged(const struct pw_doctor_env *env)
{
	char *value = NULL, *text = NULL, *v;
	struct dirent **names = NULL;
	size_t len;
	int i, n;

	if (pw_read_file(env->nm_conf, 1 << 20, &text, &len) == 0 &&
	    (v = pw_nm_unmanaged_devices(text))) {
		free(value);
		value = v;
	}
	free(text);
	n = scandir(env->nm_conf_dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		char *path = pw_xasprintf("%s/%s", env->nm_conf_dir, names[i]->d_name);

		text = NULL;
		if (pw_str_has_suffix(path, ".conf") &&
		    pw_read_file(path, 1 << 20, &text, &len) == 0 &&
		    (v = pw_nm_unmanaged_devices(text))) {
			free(value);
			value = v;
		}
		free(text);
		free(path);
		free(names[i]);
	}
	free(names);
	return value;
}

void pw_doctor_check_network_manager(struct pw_doctor_report *r,
				     const struct pw_doctor_env *env)
{
	static const char *const examples[] = { "cali0123456789a", "veth01234567", "cni0",
						"flannel.1" };
	struct pw_buf managed = PW_BUF_INIT;
	struct stat st;
	char *value;
	size_t i;

	if (stat(env->nm_run_dir, &st) != 0) {
		pw_doctor_add(r, PW_DOCTOR_OK, "network-manager", NULL, "not running (no %s)",
			      env->nm_run_dir);
		return;
	}
	value = nm_effective_unmanaged(env);
	for (i = 0; i < PW_ARRAY_SIZE(examples); i++)
		if (!value || !pw_nm_unmanages(value, examples[i]))
			pw_buf_printf(&managed, "%s%s", managed.len ? ", " : "", examples[i]);
	if (managed.len)
		pw_doctor_add(r, PW_DOCTOR_WARN, "network-manager",
			      "add to /etc/NetworkManager/conf.d/podwall-cni.conf: " NM_SNIPPET
			      " and run: systemctl reload NetworkManager",
			      "running, and would manage interfaces like %s (unmanaged-devices=%s)",
			      managed.data, value ? value : "");
	else
		pw_doctor_add(r, PW_DOCTOR_OK, "network-manager", NULL,
			      "running; leaves the CNI's interfaces alone (unmanaged-devices=%s)",
			      value);
	free(value);
	pw_buf_free(&managed);
}

/* ------------------------------------------------------------ addresses */

struct node_addrs {
	const struct pw_node_view *view;
	struct pw_cidr *own;		/* the node's addresses, full length */
	struct pw_cidr *nets;		/* prefixes of its non-CNI interfaces */
	size_t nown, nnets, cap_own, cap_nets;
};

static void collect_addr(int ifindex, const struct pw_cidr *prefix, void *ctx)
{
	struct node_addrs *a = ctx;
	const struct pw_node_link *l = pw_node_view_link(a->view, ifindex);
	struct pw_cidr host = *prefix, net = *prefix;

	host.prefix = (uint8_t)pw_cidr_max_prefix(prefix);
	PW_GROW(a->own, a->cap_own, a->nown + 1);
	a->own[a->nown++] = host;
	if (!l || l->kind != PW_LINK_OTHER || is_pod_facing(l) || strcmp(l->name, "lo") == 0 ||
	    prefix->prefix == pw_cidr_max_prefix(prefix))
		return;
	pw_cidr_mask(&net);
	PW_GROW(a->nets, a->cap_nets, a->nnets + 1);
	a->nets[a->nnets++] = net;
}

struct overlap_walk {
	const struct node_addrs *node;
	const struct pw_cidr *service_cidr;
	const struct pw_kp_rule *cluster_ips;
	size_t ncluster_ips;
	const struct pw_cidr *service_ips;
	size_t nservice_ips;
	struct pw_buf *found;
	size_t pods;
};

static void overlap(struct overlap_walk *w, const struct pw_pod *pod, const char *ip,
		    const char *what)
{
	pw_buf_printf(w->found, "%s%s/%s %s %s", w->found->len ? "; " : "", pod->namespace,
		      pod->name, ip, what);
}

static bool is_cluster_ip(const struct overlap_walk *w, const struct pw_cidr *a)
{
	size_t j;

	for (j = 0; j < w->nservice_ips; j++)
		if (pw_cidr_equal(&w->service_ips[j], a))
			return true;
	for (j = 0; j < w->ncluster_ips; j++)
		if (pw_cidr_equal(&w->cluster_ips[j].dst, a))
			return true;
	return false;
}

static int check_pod_addresses(const struct pw_pod *pod, void *ctx)
{
	struct overlap_walk *w = ctx;
	char ip[PW_CIDR_STRLEN], net[PW_CIDR_STRLEN], *what;
	size_t i, j;

	if (pod->host_network)
		return 0;
	w->pods++;
	for (i = 0; i < pod->nips; i++) {
		const struct pw_cidr *a = &pod->ips[i];

		pw_cidr_format(a, false, ip);
		for (j = 0; j < w->node->nown; j++)
			if (pw_cidr_equal(&w->node->own[j], a))
				overlap(w, pod, ip, "is an address of the node's");
		for (j = 0; j < w->node->nnets; j++)
			if (pw_cidr_contains(&w->node->nets[j], a)) {
				pw_cidr_format(&w->node->nets[j], true, net);
				what = pw_xasprintf("is in the node's network %s", net);
				overlap(w, pod, ip, what);
				free(what);
			}
		/* The most telling of the two: a Service's very address, else its range. */
		if (is_cluster_ip(w, a)) {
			overlap(w, pod, ip, "is a Service's cluster IP");
		} else if (w->service_cidr && pw_cidr_contains(w->service_cidr, a)) {
			pw_cidr_format(w->service_cidr, true, net);
			what = pw_xasprintf("is in the service range %s", net);
			overlap(w, pod, ip, what);
			free(what);
		}
	}
	return 0;
}

/*
 * The cover of the IPv4 addresses among ips and rules' destinations (the
 * service range is checked for one family; IPv6 ones only by equality).
 */
static bool cover_of(const struct pw_cidr *ips, size_t n, const struct pw_kp_rule *rules,
		     size_t nrules, struct pw_cidr *out)
{
	bool any = false;
	size_t i;

	for (i = 0; i < n + nrules; i++) {
		const struct pw_cidr *a = i < n ? &ips[i] : &rules[i - n].dst;

		if (a->family != AF_INET)
			continue;
		if (any)
			pw_cidr_cover(out, a, out);
		else
			*out = *a;
		any = true;
	}
	return any;
}

void pw_doctor_check_addresses(struct pw_doctor_report *r, const struct pw_doctor_env *env)
{
	struct pw_buf msg = PW_BUF_INIT, found = PW_BUF_INIT;
	struct kp_rules ips = { NULL, 0, 0, false, false };
	struct node_addrs node;
	struct overlap_walk w;
	struct pw_nodenet *net;
	struct pw_cidr derived;
	const char *range_from = "--service-cidr";
	char cidr[PW_CIDR_STRLEN] = "";

	if (!env->cluster) {
		pw_doctor_add(r, PW_DOCTOR_OK, "pod-addresses", NULL,
			      "no pods to look at (the API gave none: see the api lines; or give -f)");
		return;
	}
	memset(&node, 0, sizeof(node));
	net = pw_nodenet_open(false, &msg);
	if (net) {
		node.view = pw_nodenet_view(net);
		pw_node_view_foreach_addr(node.view, collect_addr, &node);
	}
	(void)pw_iptc_foreach_rule("nat", collect_cluster_ip, &ips, &msg);
	memset(&w, 0, sizeof(w));
	w.node = &node;
	w.service_cidr = env->service_cidr;
	if (!w.service_cidr && env->nservice_ips &&
	    cover_of(env->service_ips, env->nservice_ips, NULL, 0, &derived)) {
		w.service_cidr = &derived;
		range_from = "the Services' cluster IPs";
	} else if (!w.service_cidr && ips.count &&
		   cover_of(NULL, 0, ips.items, ips.count, &derived)) {
		w.service_cidr = &derived;
		range_from = "kube-proxy's cluster IPs";
	}
	w.cluster_ips = ips.items;
	w.ncluster_ips = ips.count;
	w.service_ips = env->service_ips;
	w.nservice_ips = env->nservice_ips;
	w.found = &found;
	pw_cluster_foreach_pod(env->cluster, check_pod_addresses, &w);
	if (w.service_cidr)
		pw_cidr_format(w.service_cidr, true, cidr);
	if (found.len)
		pw_doctor_add(r, PW_DOCTOR_FAIL, "pod-addresses",
			      "give pods a range (the CNI's IPAM, --cluster-cidr) apart from the "
			      "node's networks and the service range (--service-cluster-ip-range)",
			      "%s", found.data);
	else
		pw_doctor_add(r, PW_DOCTOR_OK, "pod-addresses", NULL,
			      "%zu pods, none on the node's %zu addresses or %zu networks, in the "
			      "service range %s%s%s%s or on kube-proxy's %zu cluster IPs", w.pods,
			      node.nown, node.nnets, cidr[0] ? cidr : "(unknown)",
			      cidr[0] ? " (from " : "", cidr[0] ? range_from : "",
			      cidr[0] ? ")" : "", ips.count);
	free(node.own);
	free(node.nets);
	free(ips.items);
	pw_nodenet_close(net);
	pw_buf_free(&msg);
	pw_buf_free(&found);
}
