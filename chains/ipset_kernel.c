#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <libipset/data.h>
#include <libipset/parse.h>
#include <libipset/session.h>
#include <libipset/types.h>

#include "chains/compat.h"
#include "chains/ipset.h"
#include "chains/ipset_kernel.h"
#include "lib/cidr.h"
#include "lib/util.h"

/* Initial size only: the kernel grows a hash as members arrive. */
#define CREATE_HASHSIZE 1024u

/*
 * Errors that come from libipset or the kernel (a refused create, a full
 * set) carry no errno that libipset exposes; they are -EIO, with the
 * library's text in err. -EBUSY, -EINVAL, -EAFNOSUPPORT and -ENAMETOOLONG
 * are decided here.
 */
#define KERNEL_REFUSED (-EIO)

struct pw_ipset_kernel {
	struct ipset_session *session;
	struct pw_buf out;	/* what libipset prints: the save text of a list */
	/* Prefix of the last list or sync: the only sets destroy_stale may touch. */
	char *prefix;
};

struct member_op {
	const char *elem;	/* as ipset save prints it */
	bool nomatch;
};

struct op_list {
	struct member_op *items;
	size_t count;
	size_t cap;
};

/* ---------------------------------------------------------------- helpers */

static void op_push(struct op_list *l, const char *elem, bool nomatch)
{
	PW_GROW(l->items, l->cap, l->count + 1);
	l->items[l->count].elem = elem;
	l->items[l->count].nomatch = nomatch;
	l->count++;
}

static uint8_t to_nfproto(int family)
{
	/* NFPROTO_IPV4/6 equal AF_INET/6, but libipset wants its own width (u8). */
	return (uint8_t)(family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
}

static bool has_prefix(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

/* An empty prefix would claim every set on the node, kube-proxy's included. */
static bool prefix_ok(const char *prefix)
{
	size_t len = prefix ? strlen(prefix) : 0;

	return len > 0 && len < PW_SET_NAME_MAX;
}

/* Names end up as tokens of ipset save text, so no blanks or controls. */
static bool name_ok(const char *name, const char *prefix)
{
	size_t len = strlen(name);
	const char *p;

	if (len == 0 || len > PW_SET_NAME_MAX || !has_prefix(name, prefix))
		return false;
	for (p = name; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

static void remember_prefix(struct pw_ipset_kernel *k, const char *prefix)
{
	free(k->prefix);
	k->prefix = pw_xstrdup(prefix);
}

static void reset_data(struct pw_ipset_kernel *k)
{
	ipset_data_reset(ipset_session_data(k->session));
}

/*
 * libipset's text for the last failure, with the restore-mode prefix
 * "Error in line N: " taken off and N returned in *lineno (0 when absent),
 * so that the caller can name the member instead.
 */
static const char *take_error(struct pw_ipset_kernel *k, uint32_t *lineno)
{
	const char *msg = pw_compat_ipset_error(k->session);
	unsigned line = 0;
	int used = 0;

	*lineno = 0;
	if (sscanf(msg, "Error in line %u: %n", &line, &used) == 1 && used > 0) {
		*lineno = line;
		msg += used;
	}
	return *msg ? msg : "libipset gave no reason";
}

static int fail(struct pw_ipset_kernel *k, int ret, struct pw_buf *err,
		const char *fmt, ...) PW_PRINTF(4, 5);

static int fail(struct pw_ipset_kernel *k, int ret, struct pw_buf *err,
		const char *fmt, ...)
{
	uint32_t lineno;
	const char *msg = take_error(k, &lineno);
	va_list ap;

	va_start(ap, fmt);
	pw_buf_vprintf(err, fmt, ap);
	va_end(ap);
	pw_buf_printf(err, ": %s", msg);
	return ret;
}

/* A command on one set (and, for swap, a second), outside restore mode. */
static int set_cmd(struct pw_ipset_kernel *k, enum ipset_cmd cmd, const char *name,
		   const char *name2)
{
	struct ipset_session *s = k->session;

	reset_data(k);
	if (ipset_session_data_set(s, IPSET_SETNAME, name) < 0)
		return -1;
	if (name2 && ipset_session_data_set(s, IPSET_OPT_SETNAME2, name2) < 0)
		return -1;
	return ipset_cmd(s, cmd, 0);
}

static bool set_exists(struct pw_ipset_kernel *k, const char *name)
{
	bool found = set_cmd(k, IPSET_CMD_HEADER, name, NULL) == 0;

	/* HEADER leaves the set's type in the data blob; nothing may inherit it. */
	reset_data(k);
	pw_compat_ipset_clear_error(k->session);
	return found;
}

/*
 * With EXIST set, destroying a missing set succeeds. The kernel refuses to
 * destroy a set that exists only while something refers to it (an iptables
 * rule, a list:set), so a refusal of a set still there is -EBUSY.
 */
static int destroy_set(struct pw_ipset_kernel *k, const char *name, const char *why,
		       struct pw_buf *err)
{
	uint32_t lineno;
	char *msg;

	if (set_cmd(k, IPSET_CMD_DESTROY, name, NULL) == 0)
		return 0;
	msg = pw_xstrdup(take_error(k, &lineno));
	if (!set_exists(k, name)) {
		free(msg);
		return 0;
	}
	pw_buf_printf(err, "ipset %s: %s: %s", name, why, msg);
	free(msg);
	return -EBUSY;
}

static int create_set(struct pw_ipset_kernel *k, const char *name,
		      const struct pw_set *want, struct pw_buf *err)
{
	struct ipset_session *s = k->session;
	const char *type_name = pw_set_type_name(pw_set_type(want));
	uint8_t family = to_nfproto(pw_set_family(want));
	uint32_t hashsize = CREATE_HASHSIZE, maxelem = pw_set_maxelem(want);
	const struct ipset_type *type;

	reset_data(k);
	/* The family goes in before ipset_type_get(), which picks the revision by it. */
	if (ipset_session_data_set(s, IPSET_SETNAME, name) < 0 ||
	    ipset_session_data_set(s, IPSET_OPT_TYPENAME, type_name) < 0 ||
	    ipset_session_data_set(s, IPSET_OPT_FAMILY, &family) < 0)
		return fail(k, -EINVAL, err, "ipset %s: create %s", name, type_name);
	type = ipset_type_get(s, IPSET_CMD_CREATE);
	if (!type)
		return fail(k, KERNEL_REFUSED, err, "ipset %s: create %s", name,
			    type_name);
	if (ipset_session_data_set(s, IPSET_OPT_TYPE, type) < 0 ||
	    ipset_session_data_set(s, IPSET_OPT_HASHSIZE, &hashsize) < 0 ||
	    ipset_session_data_set(s, IPSET_OPT_MAXELEM, &maxelem) < 0)
		return fail(k, -EINVAL, err, "ipset %s: create %s", name, type_name);
	if (ipset_cmd(s, IPSET_CMD_CREATE, 0) < 0)
		return fail(k, KERNEL_REFUSED, err, "ipset %s: create %s", name,
			    type_name);
	return 0;
}

/*
 * Sends the members in restore mode: with a line number, libipset packs
 * consecutive adds (or dels) to one set into page-sized netlink messages
 * instead of one round trip each, and names the failing line. The type is
 * looked up once per batch; asking for each member would cost a HEADER
 * round trip apiece for a set that libipset's cache has not seen created.
 */
static int write_members(struct pw_ipset_kernel *k, const char *name, enum ipset_cmd cmd,
			 const struct op_list *ops, struct pw_buf *err)
{
	struct ipset_session *s = k->session;
	const char *verb = cmd == IPSET_CMD_ADD ? "add" : "del";
	const struct ipset_type *type = NULL;
	uint32_t nomatch = 1, lineno;
	uint8_t family = 0;
	const char *msg;
	size_t i;
	int ret;

	if (ops->count == 0)
		return 0;
	reset_data(k);
	for (i = 0; i < ops->count; i++) {
		const struct member_op *op = &ops->items[i];

		if (ipset_session_data_set(s, IPSET_SETNAME, name) < 0)
			goto bad_member;
		if (!type) {
			type = ipset_type_get(s, cmd);
			if (!type) {
				ret = fail(k, KERNEL_REFUSED, err, "ipset %s: %s",
					   name, verb);
				goto flush;
			}
			family = ipset_data_family(ipset_session_data(s));
		} else if (ipset_session_data_set(s, IPSET_OPT_FAMILY, &family) < 0 ||
			   ipset_session_data_set(s, IPSET_OPT_TYPE, type) < 0) {
			goto bad_member;
		}
		if (ipset_parse_elem(s, false, op->elem) < 0)
			goto bad_member;
		if (op->nomatch && cmd == IPSET_CMD_ADD &&
		    ipset_session_data_set(s, IPSET_OPT_NOMATCH, &nomatch) < 0)
			goto bad_member;
		if (ipset_cmd(s, cmd, (uint32_t)(i + 1)) < 0)
			goto refused;
	}
	if (ipset_commit(s) < 0)
		goto refused;
	return 0;

bad_member:
	msg = take_error(k, &lineno);
	pw_buf_printf(err, "ipset %s: %s %s: %s", name, verb, ops->items[i].elem, msg);
	ret = -EINVAL;
	goto flush;
refused:
	/* The failing member may sit in an earlier message of the batch. */
	msg = take_error(k, &lineno);
	if (lineno >= 1 && lineno <= ops->count)
		pw_buf_printf(err, "ipset %s: %s %s%s: %s", name, verb,
			      ops->items[lineno - 1].elem,
			      ops->items[lineno - 1].nomatch && cmd == IPSET_CMD_ADD ?
			      " nomatch" : "", msg);
	else
		pw_buf_printf(err, "ipset %s: %s: %s", name, verb, msg);
	ret = KERNEL_REFUSED;
flush:
	/*
	 * Members buffered before the failure would otherwise go out with
	 * whatever command comes next; send them now, while they still belong
	 * to this batch, and keep the first error only.
	 */
	ipset_commit(s);
	pw_compat_ipset_clear_error(s);
	reset_data(k);
	return ret;
}

static void all_members(const struct pw_set *set, struct op_list *ops)
{
	size_t i, n = pw_set_member_count(set);

	for (i = 0; i < n; i++)
		op_push(ops, pw_set_member_at(set, i), pw_set_member_nomatch(set, i));
}

/* Fills a set that was just created empty. */
static int fill_set(struct pw_ipset_kernel *k, const char *name,
		    const struct pw_set *want, struct pw_ipset_stats *stats,
		    struct pw_buf *err)
{
	struct op_list adds = { NULL, 0, 0 };
	int ret;

	all_members(want, &adds);
	ret = write_members(k, name, IPSET_CMD_ADD, &adds, err);
	if (ret == 0)
		stats->added += (unsigned)adds.count;
	free(adds.items);
	return ret;
}

/* ---------------------------------------------------------------- list */

static bool parse_type(const char *text, enum pw_set_type *type)
{
	static const enum pw_set_type types[] = {
		PW_SET_HASH_IP, PW_SET_HASH_NET, PW_SET_HASH_IP_PORT,
	};
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(types); i++) {
		if (strcmp(text, pw_set_type_name(types[i])) == 0) {
			*type = types[i];
			return true;
		}
	}
	return false;
}

struct list_state {
	const char *prefix;
	struct pw_setlist *sets;
	struct pw_set *cur;	/* the set whose add lines follow, if it is ours */
	bool cur_odd;		/* ... but its members are not read */
};

static void finish_set(struct list_state *st)
{
	if (st->cur && pw_setlist_add(st->sets, st->cur) < 0)
		pw_set_free(st->cur);
	st->cur = NULL;
	st->cur_odd = false;
}

/*
 * A set under our prefix that podwall would not have written is listed
 * empty, with a header no desired set has, so that sync replaces it when
 * its name is wanted and destroy_stale removes it otherwise. Its members
 * are not read: nothing could write them back.
 *
 * Of a type (list:set, hash:net,port...) or family podwall does not use, it
 * becomes family AF_UNSPEC (type hash:net when the real one has no
 * counterpart): sync then destroys and recreates it, since the kernel swaps
 * only sets of one type and family.
 *
 * Of our type and family but with options that change what membership
 * means (timeout expires members, netmask widens them) or with a member the
 * model cannot hold (icmp:echo-request), it keeps type and family and gets
 * maxelem 0, which sync refuses in a desired set: it is replaced by a swap,
 * which the kernel allows across such options, so rules keep working.
 */
static void mark_odd(struct list_state *st, bool same_kind)
{
	const char *name = pw_set_name(st->cur);
	enum pw_set_type type = pw_set_type(st->cur);
	int family = same_kind ? pw_set_family(st->cur) : AF_UNSPEC;
	struct pw_set *odd = pw_set_new(name, type, family);

	pw_set_set_maxelem(odd, same_kind ? 0 : pw_set_maxelem(st->cur));
	pw_set_free(st->cur);
	st->cur = odd;
	st->cur_odd = true;
}

/*
 * The list is read from the kernel's netlink dump directly: libipset would
 * print every member as text (calling getprotobynumber() for each port),
 * only for it to be parsed back here, which made most of the cost of an
 * apply that finds nothing to do.
 */
#define DUMP_BUFFER_SIZE 65536

/*
 * hash:ip's "bitmask" (kernel 6.2, ipset 7.17) widens members as netmask
 * does; older libipset headers lack the name, and the kernel's numbers
 * never change.
 */
#define ATTR_BITMASK 12

static uint32_t attr_u32(const struct nlattr *a)
{
	return ntohl(mnl_attr_get_u32(a));
}

#define ATTR_TABLE (IPSET_ATTR_ADT_MAX > IPSET_ATTR_CREATE_MAX ? \
		    IPSET_ATTR_ADT_MAX + 1 : IPSET_ATTR_CREATE_MAX + 1)

struct nested {
	const struct nlattr *tb[ATTR_TABLE];
	unsigned max;		/* below ATTR_TABLE */
};

static int collect_attr(const struct nlattr *a, void *data)
{
	struct nested *n = data;
	unsigned type = mnl_attr_get_type(a);

	if (type <= n->max)
		n->tb[type] = a;
	return MNL_CB_OK;
}

static void parse_nested(const struct nlattr *a, struct nested *n, unsigned max)
{
	memset(n, 0, sizeof(*n));
	n->max = max;
	mnl_attr_parse_nested(a, collect_attr, n);
}

/* The header of a set: type, family, sizing and what makes it odd. */
static void read_header(struct list_state *st, const char *name, const struct nested *cmd)
{
	enum pw_set_type type = PW_SET_HASH_NET;
	uint32_t maxelem = 65536;	/* the kernel's default */
	int family = AF_UNSPEC;
	bool known_type, odd_options = false;
	struct nested data;

	known_type = parse_type(mnl_attr_get_str(cmd->tb[IPSET_ATTR_TYPENAME]), &type);
	if (cmd->tb[IPSET_ATTR_FAMILY]) {
		uint8_t f = mnl_attr_get_u8(cmd->tb[IPSET_ATTR_FAMILY]);

		family = f == NFPROTO_IPV4 ? AF_INET : f == NFPROTO_IPV6 ? AF_INET6 : AF_UNSPEC;
	}
	if (cmd->tb[IPSET_ATTR_DATA]) {
		parse_nested(cmd->tb[IPSET_ATTR_DATA], &data, IPSET_ATTR_CREATE_MAX);
		if (data.tb[IPSET_ATTR_MAXELEM])
			maxelem = attr_u32(data.tb[IPSET_ATTR_MAXELEM]);
		/* Expiring members, or members widened to a mask, are not ours. */
		odd_options = data.tb[IPSET_ATTR_TIMEOUT] || data.tb[IPSET_ATTR_NETMASK] ||
			      data.tb[ATTR_BITMASK];
	}
	st->cur = pw_set_new(name, type, family);
	if (!st->cur)
		return;
	pw_set_set_maxelem(st->cur, maxelem);
	if (!known_type || family == AF_UNSPEC)
		mark_odd(st, false);
	else if (odd_options)
		mark_odd(st, true);
}

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case 132:
		return "sctp";
	default:
		return NULL;	/* icmp types and the like: not podwall's */
	}
}

/* One member into the model; false when the model cannot hold it as it is. */
static bool read_member(struct pw_set *set, const struct nlattr *elem)
{
	size_t before = pw_set_member_count(set);
	struct nested data, ip;
	struct pw_cidr addr;
	bool nomatch = false;
	const char *proto;

	parse_nested(elem, &data, IPSET_ATTR_ADT_MAX);
	if (!data.tb[IPSET_ATTR_IP])
		return false;
	parse_nested(data.tb[IPSET_ATTR_IP], &ip, IPSET_ATTR_IPADDR_MAX);
	memset(&addr, 0, sizeof(addr));
	if (ip.tb[IPSET_ATTR_IPADDR_IPV4] &&
	    mnl_attr_get_payload_len(ip.tb[IPSET_ATTR_IPADDR_IPV4]) == 4) {
		addr.family = AF_INET;
		addr.prefix = 32;
		memcpy(addr.addr, mnl_attr_get_payload(ip.tb[IPSET_ATTR_IPADDR_IPV4]), 4);
	} else if (ip.tb[IPSET_ATTR_IPADDR_IPV6] &&
		   mnl_attr_get_payload_len(ip.tb[IPSET_ATTR_IPADDR_IPV6]) == 16) {
		addr.family = AF_INET6;
		addr.prefix = 128;
		memcpy(addr.addr, mnl_attr_get_payload(ip.tb[IPSET_ATTR_IPADDR_IPV6]), 16);
	} else {
		return false;
	}
	if (data.tb[IPSET_ATTR_CADT_FLAGS])
		nomatch = attr_u32(data.tb[IPSET_ATTR_CADT_FLAGS]) & IPSET_FLAG_NOMATCH;
	switch (pw_set_type(set)) {
	case PW_SET_HASH_IP:
		if (nomatch || data.tb[IPSET_ATTR_CIDR])
			return false;
		pw_set_add_ip(set, &addr);
		break;
	case PW_SET_HASH_NET:
		if (data.tb[IPSET_ATTR_CIDR])
			addr.prefix = mnl_attr_get_u8(data.tb[IPSET_ATTR_CIDR]);
		if (addr.prefix > pw_cidr_max_prefix(&addr))
			return false;
		pw_set_add_net(set, &addr, nomatch);
		break;
	case PW_SET_HASH_IP_PORT:
		if (nomatch || !data.tb[IPSET_ATTR_PORT] || !data.tb[IPSET_ATTR_PROTO])
			return false;
		proto = proto_name(mnl_attr_get_u8(data.tb[IPSET_ATTR_PROTO]));
		if (!proto)
			return false;
		pw_set_add_ip_port(set, &addr, proto,
				   ntohs(mnl_attr_get_u16(data.tb[IPSET_ATTR_PORT])));
		break;
	}
	/* A member the model dropped or merged could not be written back. */
	return pw_set_member_count(set) == before + 1;
}

static int read_members(const struct nlattr *elem, void *data)
{
	struct list_state *st = data;

	if (mnl_attr_get_type(elem) == IPSET_ATTR_DATA && !st->cur_odd &&
	    !read_member(st->cur, elem))
		mark_odd(st, true);
	return MNL_CB_OK;
}

/*
 * A set's first message carries its header; a big set goes on in more
 * messages that carry only its name and members.
 */
static int read_dump_message(const struct nlmsghdr *nlh, void *data)
{
	struct list_state *st = data;
	struct nested cmd;
	const char *name;

	memset(&cmd, 0, sizeof(cmd));
	cmd.max = IPSET_ATTR_CMD_MAX;
	mnl_attr_parse(nlh, sizeof(struct nfgenmsg), collect_attr, &cmd);
	if (!cmd.tb[IPSET_ATTR_SETNAME] ||
	    mnl_attr_validate(cmd.tb[IPSET_ATTR_SETNAME], MNL_TYPE_NUL_STRING) < 0)
		return MNL_CB_OK;
	name = mnl_attr_get_str(cmd.tb[IPSET_ATTR_SETNAME]);
	if (cmd.tb[IPSET_ATTR_TYPENAME] &&
	    mnl_attr_validate(cmd.tb[IPSET_ATTR_TYPENAME], MNL_TYPE_NUL_STRING) == 0) {
		finish_set(st);
		if (has_prefix(name, st->prefix))
			read_header(st, name, &cmd);
	}
	if (!st->cur || strcmp(name, pw_set_name(st->cur)) != 0)
		return MNL_CB_OK;
	if (cmd.tb[IPSET_ATTR_ADT])
		mnl_attr_parse_nested(cmd.tb[IPSET_ATTR_ADT], read_members, st);
	return MNL_CB_OK;
}

static int dump_sets(struct list_state *st, struct pw_buf *err)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	/* Zeroed: libmnl (1.0.4 at least) sends an attribute's padding as it finds it. */
	char *buf = pw_xcalloc(1, DUMP_BUFFER_SIZE);
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	unsigned portid, seq = (unsigned)time(NULL);
	ssize_t n;
	int ret = MNL_CB_OK;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		pw_buf_printf(err, "ipset list: netlink: %s", strerror(errno));
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_IPSET << 8) | IPSET_CMD_LIST;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = NFPROTO_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(0);
	/* The oldest protocol the kernel speaks lists the same way and is known to all. */
	mnl_attr_put_u8(nlh, IPSET_ATTR_PROTOCOL, IPSET_PROTOCOL_MIN);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		pw_buf_printf(err, "ipset list: netlink send: %s", strerror(errno));
		ret = -errno;
		goto out;
	}
	while ((n = mnl_socket_recvfrom(nl, buf, DUMP_BUFFER_SIZE)) > 0) {
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, read_dump_message, st);
		if (ret <= MNL_CB_STOP)
			break;
	}
	if (n < 0 || ret < 0) {
		pw_buf_printf(err, "ipset list: %s", strerror(errno));
		ret = errno ? -errno : -EIO;
	} else {
		ret = 0;
	}
out:
	finish_set(st);
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	return ret;
}

int pw_ipset_kernel_list(struct pw_ipset_kernel *k, const char *prefix,
			 struct pw_setlist **out, struct pw_buf *err)
{
	struct list_state st;
	int ret;

	*out = NULL;
	if (!prefix_ok(prefix)) {
		pw_buf_printf(err, "ipset list: prefix \"%s\" must have 1 to %d "
			      "characters", prefix ? prefix : "", PW_SET_NAME_MAX - 1);
		return -EINVAL;
	}
	remember_prefix(k, prefix);
	memset(&st, 0, sizeof(st));
	st.prefix = prefix;
	st.sets = pw_setlist_new();
	ret = dump_sets(&st, err);
	if (ret < 0) {
		pw_setlist_free(st.sets);
		return ret;
	}
	*out = st.sets;
	return 0;
}

/* ---------------------------------------------------------------- sync */

static void diff_members(const struct pw_set *cur, const struct pw_set *want,
			 struct op_list *dels, struct op_list *adds)
{
	size_t i = 0, j = 0;
	size_t nc = pw_set_member_count(cur), nw = pw_set_member_count(want);

	/* Both lists are sorted by strcmp() on the member text. */
	while (i < nc || j < nw) {
		const char *have = i < nc ? pw_set_member_at(cur, i) : NULL;
		const char *need = j < nw ? pw_set_member_at(want, j) : NULL;
		int c = !have ? 1 : !need ? -1 : strcmp(have, need);

		if (c < 0) {
			op_push(dels, have, false);
			i++;
		} else if (c > 0) {
			op_push(adds, need, pw_set_member_nomatch(want, j));
			j++;
		} else {
			bool nomatch = pw_set_member_nomatch(want, j);

			/* Whether adding again rewrites the flag depends on the kernel. */
			if (pw_set_member_nomatch(cur, i) != nomatch) {
				op_push(dels, have, false);
				op_push(adds, need, nomatch);
			}
			i++;
			j++;
		}
	}
}

static int update_members(struct pw_ipset_kernel *k, const struct pw_set *cur,
			  const struct pw_set *want, struct pw_ipset_stats *stats,
			  struct pw_buf *err)
{
	struct op_list dels = { NULL, 0, 0 }, adds = { NULL, 0, 0 };
	const char *name = pw_set_name(want);
	int ret;

	diff_members(cur, want, &dels, &adds);
	/* Deletes first, so that a member whose flag flips is added back last. */
	ret = write_members(k, name, IPSET_CMD_DEL, &dels, err);
	if (ret == 0) {
		stats->deleted += (unsigned)dels.count;
		ret = write_members(k, name, IPSET_CMD_ADD, &adds, err);
	}
	if (ret == 0)
		stats->added += (unsigned)adds.count;
	free(dels.items);
	free(adds.items);
	return ret;
}

/*
 * The smallest "<prefix>tmp-<n>" that no desired set uses. Being the same
 * from one run to the next, a temporary set left by a crash is found (and
 * destroyed) by the next replacement.
 */
static int temp_name(const char *prefix, const struct pw_setlist *desired,
		     char out[PW_SET_NAME_MAX + 1])
{
	unsigned n;

	for (n = 0; n < 1000; n++) {
		int len = snprintf(out, PW_SET_NAME_MAX + 1, "%stmp-%u", prefix, n);

		if (len < 0 || len > PW_SET_NAME_MAX)
			return -ENAMETOOLONG;
		if (!pw_setlist_find(desired, out))
			return 0;
	}
	return -EEXIST;
}

/*
 * Same type and family, other sizing: the new set is built aside and
 * swapped in. Rules refer to sets by index, and a swap exchanges the sets
 * behind two indexes, so the rules never see the name missing or empty.
 */
static int replace_by_swap(struct pw_ipset_kernel *k, const struct pw_set *want,
			   const struct pw_setlist *desired, const char *prefix,
			   struct pw_ipset_stats *stats, struct pw_buf *err)
{
	const char *name = pw_set_name(want);
	char tmp[PW_SET_NAME_MAX + 1];
	struct pw_buf ignored = PW_BUF_INIT;
	int ret;

	ret = temp_name(prefix, desired, tmp);
	if (ret < 0) {
		pw_buf_printf(err, "ipset %s: no free temporary name under prefix %s",
			      name, prefix);
		return ret;
	}
	ret = destroy_set(k, tmp, "destroy leftover temporary set", err);
	if (ret < 0)
		return ret;
	ret = create_set(k, tmp, want, err);
	if (ret < 0)
		return ret;
	ret = fill_set(k, tmp, want, stats, err);
	if (ret == 0 && set_cmd(k, IPSET_CMD_SWAP, tmp, name) < 0)
		ret = fail(k, KERNEL_REFUSED, err, "ipset %s: swap with %s", name, tmp);
	/* After a swap tmp holds the old set, which no rule refers to any more. */
	if (ret == 0)
		ret = destroy_set(k, tmp, "destroy the replaced set", err);
	else
		destroy_set(k, tmp, "", &ignored);
	pw_buf_free(&ignored);
	if (ret == 0)
		stats->swapped++;
	return ret;
}

/*
 * Another type or family: the kernel refuses to swap such sets, so the old
 * one is destroyed and the new one created under the same name. That
 * succeeds only when no rule uses the set; rules that do were written for
 * the old type and must go first.
 */
static int replace_by_recreate(struct pw_ipset_kernel *k, const struct pw_set *want,
			       struct pw_ipset_stats *stats, struct pw_buf *err)
{
	const char *name = pw_set_name(want);
	int ret;

	ret = destroy_set(k, name, "type or family changed and the kernel cannot swap "
			  "across them, but the set is still in use", err);
	if (ret == 0)
		ret = create_set(k, name, want, err);
	if (ret == 0)
		ret = fill_set(k, name, want, stats, err);
	if (ret == 0)
		stats->swapped++;
	return ret;
}

static int sync_one(struct pw_ipset_kernel *k, const struct pw_setlist *current,
		    const struct pw_set *want, const struct pw_setlist *desired,
		    const char *prefix, struct pw_ipset_stats *stats, struct pw_buf *err)
{
	const char *name = pw_set_name(want);
	const struct pw_set *cur = pw_setlist_find(current, name);
	int ret;

	if (!cur) {
		ret = create_set(k, name, want, err);
		if (ret == 0)
			ret = fill_set(k, name, want, stats, err);
		if (ret == 0)
			stats->created++;
		return ret;
	}
	if (pw_set_same_header(cur, want))
		return update_members(k, cur, want, stats, err);
	if (pw_set_type(cur) == pw_set_type(want) &&
	    pw_set_family(cur) == pw_set_family(want))
		return replace_by_swap(k, want, desired, prefix, stats, err);
	return replace_by_recreate(k, want, stats, err);
}

/* Everything that would be refused is refused before the kernel is touched. */
static int check_desired(const struct pw_setlist *desired, const char *prefix,
			 struct pw_buf *err)
{
	size_t i, n = pw_setlist_count(desired);

	for (i = 0; i < n; i++) {
		const struct pw_set *set = pw_setlist_at(desired, i);
		const char *name = pw_set_name(set);

		if (!name_ok(name, prefix)) {
			pw_buf_printf(err, "ipset %s: not a name podwall may create "
				      "(prefix %s, at most %d characters, no blanks)",
				      name, prefix, PW_SET_NAME_MAX);
			return -EINVAL;
		}
		if (pw_set_maxelem(set) == 0) {
			/* A set that can hold nothing; and list's mark for odd sets. */
			pw_buf_printf(err, "ipset %s: maxelem 0", name);
			return -EINVAL;
		}
		if (pw_set_family(set) != AF_INET && pw_set_family(set) != AF_INET6) {
			pw_buf_printf(err, "ipset %s: address family %d is neither inet "
				      "nor inet6", name, pw_set_family(set));
			return -EAFNOSUPPORT;
		}
	}
	return 0;
}

int pw_ipset_kernel_sync(struct pw_ipset_kernel *k, const struct pw_setlist *current,
			 const struct pw_setlist *desired, const char *prefix,
			 struct pw_ipset_stats *stats, struct pw_buf *err)
{
	size_t i, n = pw_setlist_count(desired);
	int ret;

	if (!prefix_ok(prefix)) {
		pw_buf_printf(err, "ipset sync: prefix \"%s\" must have 1 to %d "
			      "characters", prefix ? prefix : "", PW_SET_NAME_MAX - 1);
		return -EINVAL;
	}
	ret = check_desired(desired, prefix, err);
	if (ret < 0)
		return ret;
	remember_prefix(k, prefix);
	for (i = 0; i < n; i++) {
		ret = sync_one(k, current, pw_setlist_at(desired, i), desired, prefix,
			       stats, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int pw_ipset_kernel_apply_changes(struct pw_ipset_kernel *k,
				  const struct pw_member_changes *changes,
				  struct pw_ipset_stats *stats, struct pw_buf *err)
{
	struct op_list ops = { NULL, 0, 0 };
	size_t i, run;
	int ret = 0;

	/* One libipset batch per run of the same set and direction. */
	for (i = 0; i < changes->count && ret == 0; i = run) {
		const struct pw_member_change *first = &changes->items[i];

		ops.count = 0;
		for (run = i; run < changes->count; run++) {
			const struct pw_member_change *c = &changes->items[run];

			if (c->add != first->add || strcmp(c->set, first->set) != 0)
				break;
			op_push(&ops, c->member, false);
		}
		ret = write_members(k, first->set, first->add ? IPSET_CMD_ADD : IPSET_CMD_DEL,
				    &ops, err);
		if (ret == 0 && first->add)
			stats->added += (unsigned)ops.count;
		else if (ret == 0)
			stats->deleted += (unsigned)ops.count;
	}
	free(ops.items);
	return ret;
}

/* ---------------------------------------------------------------- destroy */

int pw_ipset_kernel_destroy_stale(struct pw_ipset_kernel *k,
				  const struct pw_setlist *current,
				  const struct pw_setlist *desired,
				  struct pw_ipset_stats *stats, struct pw_buf *err)
{
	struct pw_buf why = PW_BUF_INIT;
	size_t i, n = pw_setlist_count(current);
	int first = 0, ret;

	/* A set in use does not stop the others: each one gone is memory back. */
	for (i = 0; i < n; i++) {
		const char *name = pw_set_name(pw_setlist_at(current, i));

		if (pw_setlist_find(desired, name))
			continue;
		pw_buf_reset(&why);
		if (!k->prefix || !name_ok(name, k->prefix)) {
			pw_buf_printf(&why, "ipset %s: not destroyed: not under "
				      "prefix %s", name,
				      k->prefix ? k->prefix : "(none: no list yet)");
			ret = -EINVAL;
		} else {
			ret = destroy_set(k, name, "destroy", &why);
		}
		if (ret == 0) {
			stats->destroyed++;
			continue;
		}
		if (first < 0)
			pw_buf_puts(err, "; ");
		else
			first = ret;
		pw_buf_puts(err, pw_buf_str(&why));
	}
	pw_buf_free(&why);
	return first;
}

/* ---------------------------------------------------------------- handle */

/* Registers the set types libipset knows; once per process, not per session. */
static void load_types_once(void)
{
	static bool loaded;

	if (!loaded) {
		ipset_load_types();
		loaded = true;
	}
}

/*
 * Asking the kernel about hash:ip proves that ip_set is there (or loadable),
 * that we may talk to it, and that its protocol is one libipset speaks. A
 * protocol-only command would do on 7.x but is a no-op on 6.x, and
 * ipset_type_get() stops asking once a process has had an answer.
 */
static int probe_kernel(struct pw_ipset_kernel *k)
{
	struct ipset_session *s = k->session;
	uint8_t family = to_nfproto(AF_INET);
	int ret = 0;

	reset_data(k);
	if (ipset_session_data_set(s, IPSET_OPT_TYPENAME, "hash:ip") < 0 ||
	    ipset_session_data_set(s, IPSET_OPT_FAMILY, &family) < 0 ||
	    ipset_cmd(s, IPSET_CMD_TYPE, 0) < 0)
		ret = -1;
	reset_data(k);
	return ret;
}

int pw_ipset_kernel_has_type(struct pw_ipset_kernel *k, const char *type, int family)
{
	struct ipset_session *s = k->session;
	uint8_t nfproto = to_nfproto(family);
	int ret = 1;

	reset_data(k);
	if (ipset_session_data_set(s, IPSET_OPT_TYPENAME, type) < 0 ||
	    ipset_session_data_set(s, IPSET_OPT_FAMILY, &nfproto) < 0 ||
	    ipset_cmd(s, IPSET_CMD_TYPE, 0) < 0) {
		pw_compat_ipset_clear_error(s);
		ret = 0;
	}
	reset_data(k);
	pw_buf_reset(&k->out);
	return ret;
}

struct pw_ipset_kernel *pw_ipset_kernel_open(struct pw_buf *err)
{
	struct pw_ipset_kernel *k;

	load_types_once();
	k = pw_xcalloc(1, sizeof(*k));
	pw_buf_init(&k->out);
	k->session = pw_compat_ipset_session_new(&k->out);
	if (!k->session) {
		pw_buf_puts(err, "ipset: cannot start a libipset session");
		free(k);
		return NULL;
	}
	if (probe_kernel(k) < 0) {
		fail(k, -EIO, err, "ipset: cannot talk to the kernel's ip_set");
		pw_ipset_kernel_close(k);
		return NULL;
	}
	return k;
}

void pw_ipset_kernel_close(struct pw_ipset_kernel *k)
{
	if (!k)
		return;
	pw_compat_ipset_session_free(k->session);
	pw_buf_free(&k->out);
	free(k->prefix);
	free(k);
}
