#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>

#include "engine/nflog.h"
#include "lib/util.h"

/*
 * Design notes.
 *
 * nfnetlink_log keeps one instance per group and network namespace, bound
 * to one netlink port: only that socket receives the group's packets, and
 * any other that tries to configure the group gets EPERM (EBUSY if it
 * asks to bind again). So podwall's group is its own while it runs, and
 * tcpdump -i nflog:G or ulogd cannot share it.
 *
 * The target's own copy length (--nflog-range, --nflog-size) is ignored by
 * 3.10-era kernels: how much of a packet comes is the instance's mode,
 * set here. The packet's start is all a line needs: the IPv6 header, a few
 * extension headers and the transport ports.
 *
 * Bind, mode and timeout go in one message, so that the group is never
 * bound with the kernel's defaults (the whole packet, a 1 s flush).
 */

#define NFLOG_BUF_SIZE		65536
/* More than a config message takes: header, nfgenmsg and three attributes. */
#define NFLOG_CONFIG_SIZE	128
#define NFLOG_RCVBUF		(4 << 20)
/* IPv6 (40) + hop-by-hop and a fragment header + TCP (20), with room to spare. */
#define NFLOG_COPY_RANGE	128
/* In 1/100 s: lines come within 100 ms of the drop. */
#define NFLOG_FLUSH_TIMEOUT	10
#define NFLOG_ACK_TIMEOUT_MS	5000
/* Datagrams per read, so that a flood cannot starve the event loop. */
#define NFLOG_READ_MAX		1024

#define NFLOG_PROC "/proc/net/netfilter/nfnetlink_log"

/* ------------------------------------------------------------ the parser */

static uint16_t be16_at(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static void set_host(struct pw_cidr *c, int family, const uint8_t *addr)
{
	memset(c, 0, sizeof(*c));
	c->family = family;
	c->prefix = family == AF_INET ? 32 : 128;
	memcpy(c->addr, addr, family == AF_INET ? 4 : 16);
}

static void parse_transport(const uint8_t *b, size_t len, struct pw_nflog_packet *p)
{
	switch (p->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		/* Every one of them starts with the two ports. */
		if (len < 4)
			return;
		p->sport = be16_at(b);
		p->dport = be16_at(b + 2);
		p->have_transport = true;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (len < 2)
			return;
		p->icmp_type = b[0];
		p->icmp_code = b[1];
		p->have_transport = true;
		break;
	}
}

static void parse_ipv4(const uint8_t *b, size_t len, struct pw_nflog_packet *p)
{
	size_t ihl;

	p->family = AF_INET;
	if (len >= 4)
		p->length = be16_at(b + 2);
	if (len >= 10)
		p->protocol = b[9];
	if (len >= 16)
		set_host(&p->src, AF_INET, b + 12);
	if (len < 20)
		return;
	set_host(&p->dst, AF_INET, b + 16);
	ihl = (size_t)(b[0] & 0x0f) * 4;
	/* Only the first fragment carries the transport header. */
	if (ihl < 20 || ihl > len || (be16_at(b + 6) & 0x1fff) != 0)
		return;
	parse_transport(b + ihl, len - ihl, p);
}

/*
 * Walks the extension headers to the transport header. Where the walk
 * stops short (a header cut off), protocol is the last header whose type
 * is known.
 */
static void parse_ipv6(const uint8_t *b, size_t len, struct pw_nflog_packet *p)
{
	size_t off = 40, hlen;
	uint8_t next;

	p->family = AF_INET6;
	if (len >= 6)
		p->length = 40 + (uint32_t)be16_at(b + 4);
	if (len >= 7)
		p->protocol = b[6];
	if (len >= 24)
		set_host(&p->src, AF_INET6, b + 8);
	if (len < 40)
		return;
	set_host(&p->dst, AF_INET6, b + 24);
	next = b[6];
	for (;;) {
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (len - off < 2)
				return;
			hlen = ((size_t)b[off + 1] + 1) * 8;
			break;
		case IPPROTO_AH:
			if (len - off < 2)
				return;
			hlen = ((size_t)b[off + 1] + 2) * 4;
			break;
		case IPPROTO_FRAGMENT:
			if (len - off < 8)
				return;
			if ((be16_at(b + off + 2) & 0xfff8) != 0) {
				/* A later fragment: its protocol, but no ports. */
				p->protocol = b[off];
				return;
			}
			hlen = 8;
			break;
		default:
			p->protocol = next;
			parse_transport(b + off, len - off, p);
			return;
		}
		/* Each of these headers starts with the type of the next. */
		next = b[off];
		p->protocol = next;
		if (hlen > len - off)
			return;
		off += hlen;
	}
}

void pw_nflog_parse_ip(const void *data, size_t len, int family, struct pw_nflog_packet *p)
{
	const uint8_t *b = data;
	int version = len > 0 ? b[0] >> 4 : 0;

	if (family == 0)
		family = version == 4 ? AF_INET : version == 6 ? AF_INET6 : 0;
	p->family = family;
	if (family == AF_INET && version == 4)
		parse_ipv4(b, len, p);
	else if (family == AF_INET6 && version == 6)
		parse_ipv6(b, len, p);
}

static bool attr_u32(const struct nlattr *a, uint32_t *out)
{
	if (mnl_attr_validate(a, MNL_TYPE_U32) < 0 || mnl_attr_get_payload_len(a) != 4)
		return false;
	/* nfnetlink_log sends these big-endian. */
	*out = ntohl(mnl_attr_get_u32(a));
	return true;
}

int pw_nflog_parse_msg(const struct nlmsghdr *nlh, struct pw_nflog_packet *p)
{
	const struct nfgenmsg *g;
	const struct nlattr *a;
	const void *payload = NULL;
	size_t payload_len = 0;
	int left, family;

	memset(p, 0, sizeof(*p));
	if (nlh->nlmsg_len < sizeof(*nlh))
		return -EBADMSG;
	if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
		return -ENOMSG;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*g)))
		return -EBADMSG;
	g = mnl_nlmsg_get_payload(nlh);
	/*
	 * Not mnl_attr_for_each: it runs to the aligned end of the message,
	 * up to 3 bytes past nlmsg_len.
	 */
	a = mnl_nlmsg_get_payload_offset(nlh, sizeof(*g));
	left = (int)nlh->nlmsg_len - (int)((const char *)a - (const char *)nlh);
	for (; mnl_attr_ok(a, left); left -= (int)MNL_ALIGN(a->nla_len), a = mnl_attr_next(a)) {
		switch (mnl_attr_get_type(a)) {
		case NFULA_PREFIX:
			/* One longer than the target allows is not ours: no partial names. */
			if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0 &&
			    strnlen(mnl_attr_get_str(a), mnl_attr_get_payload_len(a)) <
			    sizeof(p->prefix))
				strcpy(p->prefix, mnl_attr_get_str(a));
			break;
		case NFULA_PAYLOAD:
			payload = mnl_attr_get_payload(a);
			payload_len = mnl_attr_get_payload_len(a);
			break;
		case NFULA_IFINDEX_INDEV:
			attr_u32(a, &p->indev);
			break;
		case NFULA_IFINDEX_OUTDEV:
			attr_u32(a, &p->outdev);
			break;
		case NFULA_IFINDEX_PHYSINDEV:
			attr_u32(a, &p->physindev);
			break;
		case NFULA_IFINDEX_PHYSOUTDEV:
			attr_u32(a, &p->physoutdev);
			break;
		}
	}
	family = g->nfgen_family == AF_INET || g->nfgen_family == AF_INET6 ?
		g->nfgen_family : 0;
	if (payload)
		pw_nflog_parse_ip(payload, payload_len, family, p);
	else
		p->family = family;
	return 0;
}

int pw_nflog_parse_prefix(const char *prefix, const char *chain_prefix, bool *ingress,
			  const char **ns_pod)
{
	size_t n = strlen(chain_prefix);
	const char *s, *c;
	bool in;

	if (strncmp(prefix, chain_prefix, n) != 0 || strncmp(prefix + n, "deny ", 5) != 0)
		return -ENOENT;
	s = prefix + n + 5;
	if (strncmp(s, "ingress ", 8) == 0) {
		in = true;
		s += 8;
	} else if (strncmp(s, "egress ", 7) == 0) {
		in = false;
		s += 7;
	} else {
		return -ENOENT;
	}
	if (*s == '\0')
		return -ENOENT;
	for (c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return -ENOENT;
	*ingress = in;
	*ns_pod = s;
	return 0;
}

/* ------------------------------------------------------------ the line */

static const char *protocol_name(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_SCTP: return "sctp";
	case IPPROTO_UDPLITE: return "udplite";
	case IPPROTO_DCCP: return "dccp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	case IPPROTO_IGMP: return "igmp";
	case IPPROTO_GRE: return "gre";
	case IPPROTO_ESP: return "esp";
	case IPPROTO_AH: return "ah";
	case IPPROTO_IPIP: return "ipip";
	case IPPROTO_IPV6: return "ipv6";
	}
	return NULL;
}

static bool has_ports(const struct pw_nflog_packet *p)
{
	switch (p->protocol) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		return p->have_transport;
	}
	return false;
}

static bool is_icmp(const struct pw_nflog_packet *p)
{
	return p->have_transport &&
		(p->protocol == IPPROTO_ICMP || p->protocol == IPPROTO_ICMPV6);
}

static void put_address(struct pw_buf *out, const struct pw_cidr *a, bool with_port,
			uint16_t port)
{
	char text[PW_CIDR_STRLEN];

	if (a->family != AF_INET && a->family != AF_INET6) {
		pw_buf_puts(out, "?");
		return;
	}
	pw_cidr_format(a, false, text);
	if (!with_port)
		pw_buf_puts(out, text);
	else if (a->family == AF_INET6)
		pw_buf_printf(out, "[%s]:%u", text, port);
	else
		pw_buf_printf(out, "%s:%u", text, port);
}

static const char *or_unknown(const char *s)
{
	return s && *s ? s : "?";
}

static void put_remote(struct pw_buf *out, const struct pw_denial_context *c,
		       const struct pw_cidr *addr)
{
	if (c->remote_namespace && c->remote_pod)
		pw_buf_printf(out, "%s/%s", c->remote_namespace, c->remote_pod);
	else if (c->remote_namespace)
		pw_buf_printf(out, "namespace %s", c->remote_namespace);
	else
		put_address(out, addr, false, 0);
}

void pw_nflog_format(const struct pw_nflog_packet *p, const struct pw_denial_context *c,
		     struct pw_buf *out)
{
	const char *name = protocol_name(p->protocol);
	bool ports = has_ports(p);
	size_t i;

	pw_buf_printf(out, "denied %s ", c->ingress ? "ingress" : "egress");
	if (p->family == 0)
		pw_buf_puts(out, "packet");
	else if (name)
		pw_buf_puts(out, name);
	else
		pw_buf_printf(out, "proto %u", p->protocol);
	pw_buf_putc(out, ' ');
	put_address(out, &p->src, ports, p->sport);
	pw_buf_puts(out, " -> ");
	put_address(out, &p->dst, ports, p->dport);
	if (is_icmp(p))
		pw_buf_printf(out, " type %u code %u", p->icmp_type, p->icmp_code);
	pw_buf_printf(out, " %s %s/%s %s ", c->ingress ? "to" : "from",
		      or_unknown(c->namespace), or_unknown(c->pod), c->ingress ? "from" : "to");
	put_remote(out, c, c->ingress ? &p->src : &p->dst);
	if (c->policy_count == 0) {
		pw_buf_puts(out, " (no isolating policy known)");
		return;
	}
	pw_buf_puts(out, " (isolated by ");
	for (i = 0; i < c->policy_count; i++)
		pw_buf_printf(out, "%s%s", i ? ", " : "", or_unknown(c->policies[i]));
	pw_buf_putc(out, ')');
}

/* ------------------------------------------------------------ the rate limit */

void pw_ratelimit_init(struct pw_ratelimit *rl, unsigned per_second, unsigned burst)
{
	memset(rl, 0, sizeof(*rl));
	if (burst == 0)
		burst = per_second ? per_second : 1;
	rl->per_second = per_second;
	rl->burst = burst;
}

static void refill(struct pw_ratelimit *rl, uint64_t now_ms)
{
	uint64_t full = (uint64_t)rl->burst * 1000, elapsed;

	if (!rl->started) {
		rl->started = true;
		rl->millitokens = full;
		rl->last_ms = now_ms;
		return;
	}
	if (now_ms <= rl->last_ms)
		return;		/* no time passed (or a clock that went back) */
	/* Past burst seconds the bucket is full whatever the rate: no overflow. */
	elapsed = now_ms - rl->last_ms;
	if (elapsed > full)
		elapsed = full;
	rl->millitokens += elapsed * rl->per_second;
	if (rl->millitokens > full)
		rl->millitokens = full;
	rl->last_ms = now_ms;
}

bool pw_ratelimit_allow(struct pw_ratelimit *rl, uint64_t now_ms)
{
	refill(rl, now_ms);
	if (rl->millitokens >= 1000) {
		rl->millitokens -= 1000;
		return true;
	}
	if (rl->suppressed++ == 0)
		rl->suppressed_since_ms = now_ms;
	return false;
}

unsigned long pw_ratelimit_take_suppressed(struct pw_ratelimit *rl, uint64_t now_ms,
					   uint64_t *over_ms)
{
	unsigned long n = rl->suppressed;

	if (over_ms)
		*over_ms = n && now_ms > rl->suppressed_since_ms ?
			now_ms - rl->suppressed_since_ms : 0;
	rl->suppressed = 0;
	return n;
}

/* ------------------------------------------------------------ the reader */

struct pw_nflog {
	struct mnl_socket *nl;
	uint16_t group;
	bool bound;
	unsigned int seq;
	unsigned long overruns;
	char *buf;
};

static int set_fd_flags(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
		return -errno;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}


/*
 * A configuration message for the group. With setup, it also sets the
 * copy mode and the flush timeout, in the same message as the bind.
 *
 * No PF_UNBIND and no PF_BIND, which libmnl's example and Felix send:
 * they set which logger a family's nf_log_packet() calls (the LOG-style
 * default), not who receives NFLOG. PF_UNBIND would take the family from
 * whoever registered for it, and NFLOG does not need it: 3.10's xt_NFLOG
 * calls nfulnl_log_packet() itself, and later ones pass the ULOG logger
 * type explicitly.
 */
static int send_config(struct pw_nflog *n, uint8_t command, bool setup, bool ack)
{
	struct nfulnl_msg_config_cmd cmd;
	struct nfulnl_msg_config_mode mode;
	struct nlmsghdr *nlh;
	struct nfgenmsg *g;

	/* libmnl before 1.0.5 leaves an attribute's padding as it finds it. */
	memset(n->buf, 0, NFLOG_CONFIG_SIZE);
	nlh = mnl_nlmsg_put_header(n->buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | (ack ? NLM_F_ACK : 0);
	nlh->nlmsg_seq = ++n->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(n->group);
	memset(&cmd, 0, sizeof(cmd));
	cmd.command = command;
	mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
	if (setup) {
		memset(&mode, 0, sizeof(mode));
		mode.copy_range = htonl(NFLOG_COPY_RANGE);
		mode.copy_mode = NFULNL_COPY_PACKET;
		mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
		mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(NFLOG_FLUSH_TIMEOUT));
	}
	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return 0;
}

/* The kernel's answer to request seq: 0 or -errno. */
static int wait_ack(struct pw_nflog *n, unsigned int seq)
{
	unsigned int portid = mnl_socket_get_portid(n->nl);
	int64_t deadline = (int64_t)pw_monotonic_ms() + NFLOG_ACK_TIMEOUT_MS;

	for (;;) {
		const struct nlmsghdr *nlh;
		struct pollfd pfd;
		int64_t left;
		ssize_t got;
		int len;

		got = mnl_socket_recvfrom(n->nl, n->buf, NFLOG_BUF_SIZE);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS || errno == ENOSPC) {
				n->overruns++;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			left = deadline - (int64_t)pw_monotonic_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			pfd.fd = mnl_socket_get_fd(n->nl);
			pfd.events = POLLIN;
			if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		len = (int)got;
		/* Packets that come before the answer are dropped: it is the first instant. */
		for (nlh = (const struct nlmsghdr *)n->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (nlh->nlmsg_type != NLMSG_ERROR || nlh->nlmsg_seq != seq ||
			    nlh->nlmsg_pid != portid)
				continue;
			if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
				return -EBADMSG;
			return e->error < 0 ? e->error : -e->error;
		}
	}
}

/* The netlink port that holds group, from /proc; 0 when none is listed. */
static unsigned int group_holder(uint16_t group, bool *listed)
{
	FILE *f = fopen(NFLOG_PROC, "r");
	unsigned int g, portid;
	char line[128];

	*listed = f != NULL;
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%u %u", &g, &portid) == 2 && g == group) {
			fclose(f);
			return portid;
		}
	fclose(f);
	return 0;
}

/* Says why the bind failed; returns the errno the caller is to see. */
static int explain_bind_error(const struct pw_nflog *n, int error, struct pw_buf *err)
{
	unsigned int holder;
	bool proc;

	holder = group_holder(n->group, &proc);
	if ((error == EBUSY || error == EPERM) && holder &&
	    holder != mnl_socket_get_portid(n->nl)) {
		pw_buf_printf(err, "NFLOG group %u: already bound in this network namespace by "
			      "netlink port %u (usually the holder's process id: tcpdump -i "
			      "nflog:%u or ulogd?); %s lists the groups and who holds them; "
			      "stop that reader or pick another group",
			      n->group, holder, n->group, NFLOG_PROC);
		return EBUSY;
	}
	if (error == EBUSY) {
		pw_buf_printf(err, "NFLOG group %u: already bound by another process "
			      "(tcpdump -i nflog:%u, ulogd?); see %s",
			      n->group, n->group, NFLOG_PROC);
		return EBUSY;
	}
	if (error == EPERM) {
		pw_buf_printf(err, "NFLOG group %u: %s: binding it needs CAP_NET_ADMIN, and "
			      "no other process may hold it (see %s)",
			      n->group, strerror(error), NFLOG_PROC);
		return EPERM;
	}
	/* nfnetlink answers EINVAL for a subsystem it has no module for. */
	if (!proc && (error == EINVAL || error == ENOENT || error == EOPNOTSUPP ||
		      error == EPROTONOSUPPORT)) {
		pw_buf_printf(err, "NFLOG group %u: the kernel has no nfnetlink_log "
			      "(modprobe nfnetlink_log; CONFIG_NETFILTER_NETLINK_LOG): %s",
			      n->group, strerror(error));
		return EPROTONOSUPPORT;
	}
	pw_buf_printf(err, "NFLOG group %u: binding it: %s", n->group, strerror(error));
	return error;
}

static int open_socket(struct pw_nflog *n, struct pw_buf *err)
{
	int rcvbuf = NFLOG_RCVBUF;
	int fd, ret;

	/* libmnl 1.0.3 has no mnl_socket_open2(): flags go on afterwards. */
	n->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!n->nl) {
		ret = errno;
		if (ret == EPROTONOSUPPORT || ret == EAFNOSUPPORT) {
			pw_buf_printf(err, "NFLOG group %u: the kernel has no nfnetlink "
				      "(CONFIG_NETFILTER_NETLINK): %s", n->group, strerror(ret));
			return -EPROTONOSUPPORT;
		}
		pw_buf_printf(err, "NFLOG group %u: netlink socket: %s", n->group,
			      strerror(ret));
		return -ret;
	}
	fd = mnl_socket_get_fd(n->nl);
	ret = set_fd_flags(fd);
	if (ret < 0) {
		pw_buf_printf(err, "NFLOG group %u: fcntl: %s", n->group, strerror(-ret));
		return ret;
	}
	/*
	 * Past net.core.rmem_max only with CAP_NET_ADMIN (FORCE); a flood that
	 * fills even this is counted as overruns.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		pw_buf_printf(err, "NFLOG group %u: netlink bind: %s", n->group, strerror(-ret));
		return ret;
	}
	return 0;
}

struct pw_nflog *pw_nflog_open(uint16_t group, struct pw_buf *err)
{
	struct pw_nflog *n = pw_xcalloc(1, sizeof(*n));
	int ret;

	n->group = group;
	n->buf = pw_xmalloc(NFLOG_BUF_SIZE);
	ret = open_socket(n, err);
	if (ret == 0) {
		ret = send_config(n, NFULNL_CFG_CMD_BIND, true, true);
		if (ret < 0) {
			pw_buf_printf(err, "NFLOG group %u: sending the bind: %s", group,
				      strerror(-ret));
		} else {
			ret = wait_ack(n, n->seq);
			if (ret == -ETIMEDOUT)
				pw_buf_printf(err, "NFLOG group %u: no answer to the bind "
					      "in %d ms", group, NFLOG_ACK_TIMEOUT_MS);
			else if (ret < 0)
				ret = -explain_bind_error(n, -ret, err);
		}
	}
	if (ret < 0) {
		pw_nflog_close(n);
		errno = -ret;
		return NULL;
	}
	n->bound = true;
	return n;
}

void pw_nflog_close(struct pw_nflog *n)
{
	int saved = errno;

	if (!n)
		return;
	/* Closing would release the group too (NETLINK_URELEASE); this says so at once. */
	if (n->bound)
		(void)send_config(n, NFULNL_CFG_CMD_UNBIND, false, false);
	if (n->nl)
		mnl_socket_close(n->nl);
	free(n->buf);
	free(n);
	errno = saved;
}

int pw_nflog_fd(const struct pw_nflog *n)
{
	return mnl_socket_get_fd(n->nl);
}

unsigned long pw_nflog_overruns(const struct pw_nflog *n)
{
	return n->overruns;
}

int pw_nflog_read(struct pw_nflog *n, void (*cb)(void *ctx, const struct pw_nflog_packet *p),
		  void *ctx)
{
	struct pw_nflog_packet p;
	int delivered = 0;
	unsigned i;

	for (i = 0; i < NFLOG_READ_MAX; i++) {
		const struct nlmsghdr *nlh;
		ssize_t got;
		int len;

		got = mnl_socket_recvfrom(n->nl, n->buf, NFLOG_BUF_SIZE);
		if (got < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			/*
			 * ENOBUFS: the queue was full and the kernel dropped
			 * messages. ENOSPC: libmnl's word for a datagram cut
			 * short. Either way packets went unreported; go on.
			 */
			if (errno == ENOBUFS || errno == ENOSPC) {
				n->overruns++;
				continue;
			}
			return -errno;
		}
		len = (int)got;
		for (nlh = (const struct nlmsghdr *)n->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (pw_nflog_parse_msg(nlh, &p) < 0)
				continue;
			cb(ctx, &p);
			delivered++;
		}
	}
	return delivered;
}
