/*
 * pwprobe: a tiny TCP/UDP server and a TCP/UDP/ICMP prober for podwall's
 * packet tests, run inside the network namespaces the tests create.
 *
 *   pwprobe serve [--background] [--bind IP]... [--tcp PORT]... [--udp PORT]...
 *	listens on 0.0.0.0 and, with IPV6_V6ONLY, on :: (or on each --bind IP
 *	of either family); TCP: accept, write one byte, close; UDP: echo each
 *	datagram. Runs until killed. --background returns once every socket is
 *	bound and listening, printing the server's pid. Without --bind, a
 *	kernel with no IPv6 leaves the server on IPv4 alone.
 *
 *   pwprobe probe [OPTION]... TARGET...
 *   pwprobe probe-file [OPTION]... FILE	(one TARGET per line, '#' comments)
 *	TARGET is tcp:IP:PORT, udp:IP:PORT or icmp:IP, IP of either family;
 *	an IPv6 address is written in brackets before a port
 *	(tcp:[fd00::1]:80, udp:[fd00::1]:53, icmp:fd00::1 or icmp:[fd00::1]),
 *	and icmp: to it is an ICMPv6 echo. Every probe runs at the same time;
 *	one line per target, in the order given: "TARGET ok", "TARGET blocked"
 *	(no answer before the timeout) or "TARGET refused" (a RST or an ICMP
 *	or ICMPv6 error came back).
 *	--timeout-ms N	 how long to wait for answers (default 300)
 *	--source IP	 send from this address, also one not the namespace's
 *			 own (a forged source, for the anti-spoofing tests);
 *			 once per family: each target is sent from the source
 *			 of its own family, if there is one
 *	--sport-base N	 UDP probe k binds source port N+k and ICMP probes use
 *			 echo id N+k (k counts the UDP and ICMP targets of
 *			 both families in order), so that successive runs never
 *			 reuse a conntrack entry of an earlier run (one that a
 *			 policy allowed then would still pass as ESTABLISHED)
 *
 *   pwprobe probe-loop [OPTION]... (--duration-ms N | --stop-file F) TARGET...
 *	probes the targets again and again (every --interval-ms, default 100,
 *	each round with the next source ports and echo ids after --sport-base,
 *	wrapping after 10000) and prints each result
 *	as "EPOCH-MS TARGET VERDICT", EPOCH-MS being when its round started.
 *
 *   pwprobe stream [--source IP]... [--interval-ms N] [--stall-ms N]
 *		    (--duration-ms N | --stop-file F) tcp:IP:PORT
 *	one TCP connection to a --tcp-echo server, exchanging 8 bytes every
 *	--interval-ms (default 50): prints "connected" once it is up, then at
 *	the end "exchanges N max-rtt-ms R"; exits 1 when the connection failed
 *	or an answer took longer than --stall-ms (default 5000).
 *
 * serve --tcp-echo PORT: each connection is echoed until the client closes.
 *
 *   pwprobe garp IFACE IP
 *	one gratuitous ARP request for IP out of IFACE, as the CNI bridge
 *	plugin sends for a new pod's address: neighbours that knew IP at
 *	another MAC (a deleted pod's) learn the new one.
 *
 *   pwprobe na IFACE IP6
 *	its IPv6 counterpart: one unsolicited neighbour advertisement for IP6
 *	(override set, IFACE's MAC as the target's link-layer address) to
 *	ff02::1 out of IFACE, from IP6 with hop limit 255: neighbours whose
 *	cache holds IP6 at another MAC take the new one.
 *
 * Exit status: 0 when every probe ran (whatever its verdict), 1 on a system
 * error, 2 on a usage error.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

#define MAX_TARGETS 4096
#define MAX_SERVE 128
#define MAX_BIND 8
#define SERVE_TCP_ECHO 2	/* is_tcp: a listener whose connections echo */

enum proto { P_TCP, P_UDP, P_ICMP };
enum state { S_RUNNING, S_OK, S_BLOCKED, S_REFUSED, S_ERROR };

/* An address of either family, with its port. */
union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

struct target {
	char text[80];
	enum proto proto;
	union sockaddr_any addr;
	int fd;
	int connected;		/* TCP: the handshake completed */
	uint16_t echo_id;
	uint16_t echo_seq;
	enum state state;
};

/* --source: at most one address per family. */
struct sources {
	int has4, has6;
	union sockaddr_any src4, src6;
};

static const char *progname = "pwprobe";
/* probe-loop: when the round began, printed before each result. */
static long long round_stamp_ms = -1;

static void usage(void)
{
	fprintf(stderr,
		"usage: %s serve [--background] [--bind IP]... [--tcp PORT]... [--tcp-echo PORT]...\n"
		"                [--udp PORT]...\n"
		"       %s probe [--timeout-ms N] [--source IP]... [--sport-base N] TARGET...\n"
		"       %s probe-file [--timeout-ms N] [--source IP]... [--sport-base N] FILE\n"
		"       %s probe-loop [--interval-ms N] [--timeout-ms N] [--source IP]...\n"
		"                 (--duration-ms N | --stop-file F) TARGET...\n"
		"       %s stream [--interval-ms N] [--stall-ms N] [--source IP]...\n"
		"                 (--duration-ms N | --stop-file F) tcp:IP:PORT\n"
		"       %s garp IFACE IP\n"
		"       %s na IFACE IP6\n"
		"TARGET: tcp:IP:PORT, udp:IP:PORT or icmp:IP (IPv6: tcp:[IP6]:PORT, icmp:IP6)\n",
		progname, progname, progname, progname, progname, progname, progname);
	exit(2);
}

static long parse_num(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "%s: bad number \"%s\"\n", progname, s);
		usage();
	}
	return v;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- addresses of either family ---- */

/* An IPv4 or IPv6 address (no brackets), port 0. */
static int parse_addr(const char *s, union sockaddr_any *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->sin.sin_addr) == 1) {
		a->sin.sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a->sin6.sin6_addr) == 1) {
		a->sin6.sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

static socklen_t addr_len(const union sockaddr_any *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->sin6) : sizeof(a->sin);
}

static void set_port(union sockaddr_any *a, int port)
{
	if (a->sa.sa_family == AF_INET6)
		a->sin6.sin6_port = htons((uint16_t)port);
	else
		a->sin.sin_port = htons((uint16_t)port);
}

/* The wildcard address of a family. */
static void any_addr(union sockaddr_any *a, int family)
{
	memset(a, 0, sizeof(*a));
	a->sa.sa_family = (sa_family_t)family;
	if (family == AF_INET)
		a->sin.sin_addr.s_addr = htonl(INADDR_ANY);
	else
		a->sin6.sin6_addr = in6addr_any;
}

static int is_any(const union sockaddr_any *a)
{
	if (a->sa.sa_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&a->sin6.sin6_addr);
	return a->sin.sin_addr.s_addr == htonl(INADDR_ANY);
}

static int same_host(const union sockaddr_any *a, const union sockaddr_any *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return 0;
	if (a->sa.sa_family == AF_INET6)
		return !memcmp(&a->sin6.sin6_addr, &b->sin6.sin6_addr, sizeof(a->sin6.sin6_addr));
	return a->sin.sin_addr.s_addr == b->sin.sin_addr.s_addr;
}

/* --source ADDR: one per family. */
static int add_source(struct sources *s, const char *text)
{
	union sockaddr_any a;

	if (parse_addr(text, &a) < 0) {
		fprintf(stderr, "%s: bad address \"%s\"\n", progname, text);
		return -1;
	}
	if (a.sa.sa_family == AF_INET6) {
		if (s->has6)
			goto twice;
		s->src6 = a;
		s->has6 = 1;
	} else {
		if (s->has4)
			goto twice;
		s->src4 = a;
		s->has4 = 1;
	}
	return 0;
twice:
	fprintf(stderr, "%s: a second --source of the same family: \"%s\"\n", progname, text);
	return -1;
}

/* The source for a family: the --source of that family, else the wildcard. */
static union sockaddr_any source_for(const struct sources *s, int family)
{
	union sockaddr_any a;

	if (family == AF_INET6 && s->has6)
		return s->src6;
	if (family == AF_INET && s->has4)
		return s->src4;
	any_addr(&a, family);
	return a;
}

/* ---- serve ---- */

static union sockaddr_any serve_addr[MAX_BIND];
static int serve_naddr;
static int serve_implicit;	/* no --bind: 0.0.0.0 and, if IPv6 works, :: */

/* A socket on ADDR:PORT; -1 on an error, -2 when an implicit :: failed. */
static int bind_any(int type, int port, const union sockaddr_any *addr)
{
	union sockaddr_any sa = *addr;
	int one = 1;
	int v6 = sa.sa.sa_family == AF_INET6;
	int fd = socket(sa.sa.sa_family, type, 0);
	char text[INET6_ADDRSTRLEN];

	if (fd < 0) {
		if (v6 && serve_implicit && errno == EAFNOSUPPORT)
			return -2;	/* no IPv6 here: IPv4 alone, as before */
		fprintf(stderr, "%s: socket: %s\n", progname, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	set_port(&sa, port);
	if (bind(fd, &sa.sa, addr_len(&sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 512) < 0) || set_nonblock(fd) < 0) {
		inet_ntop(sa.sa.sa_family, v6 ? (void *)&sa.sin6.sin6_addr : (void *)&sa.sin.sin_addr,
			  text, sizeof(text));
		fprintf(stderr, "%s: %s port %d on %s%s%s: %s%s\n", progname,
			type == SOCK_STREAM ? "tcp" : "udp", port, v6 ? "[" : "", text, v6 ? "]" : "",
			strerror(errno), v6 && serve_implicit ? " (serving IPv4 alone)" : "");
		close(fd);
		return v6 && serve_implicit ? -2 : -1;
	}
	return fd;
}

/* A child per connection, so that a stalled client never blocks the others. */
static void echo_in_child(int c)
{
	char buf[512];
	ssize_t r;

	if (fork() == 0) {
		int fl = fcntl(c, F_GETFL);

		if (fl >= 0)
			fcntl(c, F_SETFL, fl & ~O_NONBLOCK);
		while ((r = read(c, buf, sizeof(buf))) > 0)
			if (write(c, buf, (size_t)r) != r)
				break;
		_exit(0);
	}
	close(c);
}

static void serve_loop(struct pollfd *pfd, const int *is_tcp, int n)
{
	char buf[2048];

	for (;;) {
		int i;

		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			exit(1);
		}
		for (i = 0; i < n; i++) {
			int round;

			if (!(pfd[i].revents & POLLIN))
				continue;
			/* Bounded per wakeup so that no socket starves the others. */
			for (round = 0; round < 256; round++) {
				if (is_tcp[i]) {
					int c = accept(pfd[i].fd, NULL, NULL);

					if (c < 0)
						break;
					if (is_tcp[i] == SERVE_TCP_ECHO) {
						echo_in_child(c);
						continue;
					}
					if (write(c, "x", 1) < 0) {
						/* the client went away: nothing to do */
					}
					close(c);
				} else {
					struct sockaddr_storage from;
					socklen_t len = sizeof(from);
					ssize_t r = recvfrom(pfd[i].fd, buf, sizeof(buf), 0,
							     (struct sockaddr *)&from, &len);

					if (r < 0)
						break;
					sendto(pfd[i].fd, buf, (size_t)r, 0,
					       (struct sockaddr *)&from, len);
				}
			}
		}
	}
}

static int cmd_serve(int argc, char **argv)
{
	struct pollfd pfd[MAX_SERVE];
	int is_tcp[MAX_SERVE];
	int n = 0, background = 0, ports = 0, i, k;

	for (i = 0; i < argc; i++) {
		int tcp, port;

		if (!strcmp(argv[i], "--background")) {
			background = 1;
			continue;
		}
		if (!strcmp(argv[i], "--bind")) {
			if (ports > 0 || i + 1 >= argc || serve_naddr >= MAX_BIND ||
			    parse_addr(argv[i + 1], &serve_addr[serve_naddr]) < 0)
				usage();
			serve_naddr++;
			i++;
			continue;
		}
		if (!strcmp(argv[i], "--tcp"))
			tcp = 1;
		else if (!strcmp(argv[i], "--tcp-echo"))
			tcp = SERVE_TCP_ECHO;
		else if (!strcmp(argv[i], "--udp"))
			tcp = 0;
		else
			usage();
		if (i + 1 >= argc)
			usage();
		port = (int)parse_num(argv[++i], 1, 65535);
		if (ports++ == 0 && serve_naddr == 0) {
			serve_implicit = 1;
			any_addr(&serve_addr[0], AF_INET);
			any_addr(&serve_addr[1], AF_INET6);
			serve_naddr = 2;
		}
		for (k = 0; k < serve_naddr; k++) {
			if (n >= MAX_SERVE)
				usage();
			pfd[n].fd = bind_any(tcp ? SOCK_STREAM : SOCK_DGRAM, port, &serve_addr[k]);
			if (pfd[n].fd == -2)
				continue;
			if (pfd[n].fd < 0)
				return 1;
			pfd[n].events = POLLIN;
			is_tcp[n] = tcp;
			n++;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN);	/* echo children reap themselves */
	if (background) {
		pid_t pid;
		int null;

		fflush(stdout);
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid > 0) {
			printf("%ld\n", (long)pid);
			return 0;
		}
		setsid();
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
	}
	if (n == 0) {
		/* Nothing to serve: just stay, like a pod without ports. */
		for (;;)
			pause();
	}
	serve_loop(pfd, is_tcp, n);
	return 0;
}

/* ---- probe ---- */

static int parse_target(const char *text, struct target *t)
{
	char buf[80], *ip, *port = NULL;

	if (strlen(text) >= sizeof(buf))
		return -1;
	memset(t, 0, sizeof(*t));
	strcpy(t->text, text);
	strcpy(buf, text);
	t->fd = -1;
	if (!strncmp(buf, "tcp:", 4))
		t->proto = P_TCP;
	else if (!strncmp(buf, "udp:", 4))
		t->proto = P_UDP;
	else if (!strncmp(buf, "icmp:", 5))
		t->proto = P_ICMP;
	else
		return -1;
	ip = strchr(buf, ':') + 1;
	if (*ip == '[') {
		/* [IPv6], then :PORT for TCP and UDP. */
		char *rb = strchr(ip, ']');

		if (!rb)
			return -1;
		*rb = '\0';
		ip++;
		if (rb[1] == ':')
			port = rb + 2;
		else if (rb[1] != '\0')
			return -1;
		if (!strchr(ip, ':'))
			return -1;	/* brackets hold IPv6 only */
	} else if (t->proto != P_ICMP) {
		port = strrchr(ip, ':');
		if (port)
			*port++ = '\0';
		if (strchr(ip, ':'))
			return -1;	/* an IPv6 address before a port needs brackets */
	}
	if ((t->proto == P_ICMP) != (port == NULL))
		return -1;
	if (parse_addr(ip, &t->addr) < 0)
		return -1;
	if (port) {
		char *end;
		long p = strtol(port, &end, 10);

		if (end == port || *end || p < 1 || p > 65535)
			return -1;
		set_port(&t->addr, (int)p);
	}
	return 0;
}

static uint16_t icmp_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	while (len > 1) {
		sum += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static int bind_source(int fd, const union sockaddr_any *src, int port)
{
	union sockaddr_any sa = *src;
	int one = 1;

	/*
	 * An address the namespace does not own, too: the route lookup of a
	 * socket refuses such a source unless it is transparent (root only;
	 * without it, binding to an own address works as before).
	 */
	if (sa.sa.sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
	else
		(void)setsockopt(fd, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one));
	set_port(&sa, port);
	return bind(fd, &sa.sa, addr_len(&sa));
}

/* Starts one TCP or UDP probe; on failure the target is S_ERROR or S_REFUSED. */
static void start_probe(struct target *t, const struct sources *srcs, int sport)
{
	int family = t->addr.sa.sa_family;
	int fd = socket(family, t->proto == P_TCP ? SOCK_STREAM : SOCK_DGRAM, 0);
	union sockaddr_any src = source_for(srcs, family);
	int one = 1;

	if (fd < 0 || set_nonblock(fd) < 0) {
		fprintf(stderr, "%s: %s: socket: %s\n", progname, t->text, strerror(errno));
		t->state = S_ERROR;
		if (fd >= 0)
			close(fd);
		return;
	}
	t->fd = fd;
	if (sport > 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind_source(fd, &src, sport) < 0 && bind_source(fd, &src, 0) < 0)
			goto err;
	} else if (!is_any(&src) && bind_source(fd, &src, 0) < 0) {
		goto err;
	}
	if (connect(fd, &t->addr.sa, addr_len(&t->addr)) < 0) {
		if (errno == EINPROGRESS)
			return;
		t->state = S_REFUSED;
		return;
	}
	if (t->proto == P_TCP) {
		t->connected = 1;
		return;
	}
	if (send(fd, t->text, strlen(t->text), 0) < 0 && errno != EAGAIN)
		t->state = S_REFUSED;
	return;
err:
	fprintf(stderr, "%s: %s: bind: %s\n", progname, t->text, strerror(errno));
	t->state = S_ERROR;
}

static void resend_udp(struct target *t)
{
	if (send(t->fd, t->text, strlen(t->text), 0) < 0 && errno == ECONNREFUSED)
		t->state = S_REFUSED;
}

static void step_probe(struct target *t, short revents)
{
	char buf[128];
	ssize_t r;

	if (t->proto == P_TCP && !t->connected) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			t->state = S_REFUSED;
			return;
		}
		if (!(revents & POLLOUT))
			return;
		t->connected = 1;
		return;
	}
	r = recv(t->fd, buf, sizeof(buf), 0);
	if (r > 0) {
		t->state = S_OK;
	} else if (r == 0) {
		/* TCP: closed without the byte. */
		t->state = S_REFUSED;
	} else if (errno != EAGAIN && errno != EINTR) {
		t->state = S_REFUSED;
	}
}

/* A raw ICMP (or ICMPv6) socket, bound to the family's --source if any. */
static int open_icmp(int family, const struct sources *srcs)
{
	union sockaddr_any src = source_for(srcs, family);
	int v6 = family == AF_INET6;
	int fd = socket(family, SOCK_RAW, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);

	if (fd < 0) {
		fprintf(stderr, "%s: raw %s socket: %s\n", progname, v6 ? "ICMPv6" : "ICMP",
			strerror(errno));
		return -1;
	}
	set_nonblock(fd);
	if (v6) {
		/* Only what answers an echo: replies and unreachables. */
		struct icmp6_filter filter;

		ICMP6_FILTER_SETBLOCKALL(&filter);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
		ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &filter);
		(void)setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter));
	}
	if (!is_any(&src) && bind_source(fd, &src, 0) < 0) {
		fprintf(stderr, "%s: raw %s socket: bind: %s\n", progname, v6 ? "ICMPv6" : "ICMP",
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void send_echo(int fd, struct target *t)
{
	unsigned char pkt[64];

	memset(pkt, 0, sizeof(pkt));
	if (t->addr.sa.sa_family == AF_INET6) {
		/* The kernel computes an ICMPv6 raw socket's checksum. */
		struct icmp6_hdr *h = (struct icmp6_hdr *)pkt;

		h->icmp6_type = ICMP6_ECHO_REQUEST;
		h->icmp6_id = htons(t->echo_id);
		h->icmp6_seq = htons(t->echo_seq);
		memcpy(pkt + sizeof(*h), "pwprobe", 7);
	} else {
		struct icmphdr *h = (struct icmphdr *)pkt;

		h->type = ICMP_ECHO;
		h->un.echo.id = htons(t->echo_id);
		h->un.echo.sequence = htons(t->echo_seq);
		memcpy(pkt + sizeof(*h), "pwprobe", 7);
		h->checksum = icmp_checksum(pkt, sizeof(pkt));
	}
	if (sendto(fd, pkt, sizeof(pkt), 0, &t->addr.sa, addr_len(&t->addr)) < 0)
		t->state = S_REFUSED;
}

/* Settles the echo probe to FROM with ID and SEQ, if one is running. */
static void settle_echo(struct target *tg, int n, const union sockaddr_any *from, uint16_t id,
			uint16_t seq, int refused)
{
	int i;

	for (i = 0; i < n; i++) {
		struct target *t = &tg[i];

		if (t->proto == P_ICMP && t->state == S_RUNNING && t->echo_id == id &&
		    t->echo_seq == seq && same_host(&t->addr, from))
			t->state = refused ? S_REFUSED : S_OK;
	}
}

/* Reads every waiting ICMP packet and settles the echo probes it answers. */
static void read_icmp(int fd, struct target *tg, int n)
{
	unsigned char pkt[1500];
	int round;

	for (round = 0; round < 4096; round++) {
		union sockaddr_any from;
		socklen_t len = sizeof(from.sin);
		ssize_t r = recvfrom(fd, pkt, sizeof(pkt), 0, &from.sa, &len);
		const struct iphdr *ip = (const struct iphdr *)pkt;
		const struct icmphdr *h;
		uint16_t id, seq;
		size_t hl;
		int refused = 0;

		if (r < 0)
			return;
		from.sa.sa_family = AF_INET;
		hl = (size_t)ip->ihl * 4;
		if ((size_t)r < hl + sizeof(*h))
			continue;
		h = (const struct icmphdr *)(pkt + hl);
		if (h->type == ICMP_ECHOREPLY) {
			id = ntohs(h->un.echo.id);
			seq = ntohs(h->un.echo.sequence);
		} else if (h->type == ICMP_DEST_UNREACH) {
			/* The error quotes our echo: IP header, then its ICMP header. */
			const struct iphdr *inner = (const struct iphdr *)(pkt + hl + sizeof(*h));
			const struct icmphdr *ih;
			size_t ihl;

			if ((size_t)r < hl + sizeof(*h) + sizeof(*inner))
				continue;
			ihl = (size_t)inner->ihl * 4;
			if ((size_t)r < hl + sizeof(*h) + ihl + 8 || inner->protocol != IPPROTO_ICMP)
				continue;
			ih = (const struct icmphdr *)((const unsigned char *)inner + ihl);
			if (ih->type != ICMP_ECHO)
				continue;
			id = ntohs(ih->un.echo.id);
			seq = ntohs(ih->un.echo.sequence);
			from.sin.sin_addr.s_addr = inner->daddr;
			refused = 1;
		} else {
			continue;
		}
		settle_echo(tg, n, &from, id, seq, refused);
	}
}

/* The same for ICMPv6: a raw ICMPv6 socket reads no IPv6 header. */
static void read_icmp6(int fd, struct target *tg, int n)
{
	unsigned char pkt[1500];
	int round;

	for (round = 0; round < 4096; round++) {
		union sockaddr_any from;
		socklen_t len = sizeof(from.sin6);
		ssize_t r = recvfrom(fd, pkt, sizeof(pkt), 0, &from.sa, &len);
		const struct icmp6_hdr *h = (const struct icmp6_hdr *)pkt;
		uint16_t id, seq;
		int refused = 0;

		if (r < 0)
			return;
		if ((size_t)r < sizeof(*h) || from.sa.sa_family != AF_INET6)
			continue;
		if (h->icmp6_type == ICMP6_ECHO_REPLY) {
			id = ntohs(h->icmp6_id);
			seq = ntohs(h->icmp6_seq);
		} else if (h->icmp6_type == ICMP6_DST_UNREACH) {
			/* The error quotes our echo: IPv6 header, then its ICMPv6 header. */
			const struct ip6_hdr *inner = (const struct ip6_hdr *)(pkt + sizeof(*h));
			const struct icmp6_hdr *ih = (const struct icmp6_hdr *)(inner + 1);

			if ((size_t)r < sizeof(*h) + sizeof(*inner) + 8 ||
			    inner->ip6_nxt != IPPROTO_ICMPV6 || ih->icmp6_type != ICMP6_ECHO_REQUEST)
				continue;
			id = ntohs(ih->icmp6_id);
			seq = ntohs(ih->icmp6_seq);
			from.sin6.sin6_addr = inner->ip6_dst;
			refused = 1;
		} else {
			continue;
		}
		settle_echo(tg, n, &from, id, seq, refused);
	}
}

static int run_probes(struct target *tg, int n, int timeout_ms, const struct sources *srcs,
		      int sport_base)
{
	static struct pollfd pfd[MAX_TARGETS + 2];
	static int owner[MAX_TARGETS + 2];
	int64_t start = now_ms(), deadline = start + timeout_ms;
	int icmp_fd = -1, icmp6_fd = -1, i, k = 0, resent = 0, rc = 0;
	uint16_t pid_id = (uint16_t)(getpid() & 0xffff);

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < n; i++) {
		struct target *t = &tg[i];

		if (t->proto == P_ICMP) {
			int *fd = t->addr.sa.sa_family == AF_INET6 ? &icmp6_fd : &icmp_fd;

			if (*fd < 0 && (*fd = open_icmp(t->addr.sa.sa_family, srcs)) < 0) {
				t->state = S_ERROR;
				continue;
			}
			t->echo_id = sport_base > 0 ? (uint16_t)(sport_base + k++) : pid_id;
			t->echo_seq = (uint16_t)i;
			send_echo(*fd, t);
		} else {
			start_probe(t, srcs, (t->proto == P_UDP && sport_base > 0) ?
				    sport_base + k++ : 0);
		}
	}
	for (;;) {
		int64_t now = now_ms();
		int m = 0;

		if (icmp_fd >= 0) {
			pfd[m].fd = icmp_fd;
			pfd[m].events = POLLIN;
			owner[m++] = -1;
		}
		if (icmp6_fd >= 0) {
			pfd[m].fd = icmp6_fd;
			pfd[m].events = POLLIN;
			owner[m++] = -2;
		}
		for (i = 0; i < n; i++) {
			struct target *t = &tg[i];

			if (t->state != S_RUNNING || t->proto == P_ICMP)
				continue;
			pfd[m].fd = t->fd;
			pfd[m].events = (t->proto == P_TCP && !t->connected) ? POLLOUT : POLLIN;
			owner[m++] = i;
		}
		for (i = 0; i < n; i++)
			if (tg[i].state == S_RUNNING)
				break;
		if (i == n || now >= deadline)
			break;
		/* One resend of the UDP and ICMP probes halfway, against a lost packet. */
		if (!resent && now >= start + timeout_ms / 2) {
			resent = 1;
			for (i = 0; i < n; i++) {
				if (tg[i].state != S_RUNNING)
					continue;
				if (tg[i].proto == P_UDP)
					resend_udp(&tg[i]);
				else if (tg[i].proto == P_ICMP)
					send_echo(tg[i].addr.sa.sa_family == AF_INET6 ? icmp6_fd : icmp_fd,
						  &tg[i]);
			}
		}
		{
			int64_t wait = deadline - now;

			if (!resent && start + timeout_ms / 2 - now < wait)
				wait = start + timeout_ms / 2 - now;
			if (wait < 1)
				wait = 1;
			if (poll(pfd, (nfds_t)m, (int)wait) < 0) {
				if (errno == EINTR)
					continue;
				perror("poll");
				return 1;
			}
		}
		for (i = 0; i < m; i++) {
			if (!pfd[i].revents)
				continue;
			if (owner[i] == -1)
				read_icmp(icmp_fd, tg, n);
			else if (owner[i] == -2)
				read_icmp6(icmp6_fd, tg, n);
			else
				step_probe(&tg[owner[i]], pfd[i].revents);
		}
	}
	for (i = 0; i < n; i++) {
		static const char *const word[] = {
			[S_RUNNING] = "blocked", [S_OK] = "ok", [S_BLOCKED] = "blocked",
			[S_REFUSED] = "refused", [S_ERROR] = "error",
		};

		if (tg[i].state == S_ERROR)
			rc = 1;
		if (round_stamp_ms >= 0)
			printf("%lld ", round_stamp_ms);
		printf("%s %s\n", tg[i].text, word[tg[i].state]);
		if (tg[i].fd >= 0)
			close(tg[i].fd);
	}
	if (icmp_fd >= 0)
		close(icmp_fd);
	if (icmp6_fd >= 0)
		close(icmp6_fd);
	fflush(stdout);
	return rc;
}

static int cmd_probe(int argc, char **argv, int from_file)
{
	static struct target tg[MAX_TARGETS];
	struct sources srcs;
	int timeout_ms = 300, sport_base = 0, n = 0, i;

	memset(&srcs, 0, sizeof(srcs));
	for (i = 0; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (i + 1 >= argc)
			usage();
		if (!strcmp(argv[i], "--timeout-ms")) {
			timeout_ms = (int)parse_num(argv[++i], 1, 600000);
		} else if (!strcmp(argv[i], "--sport-base")) {
			sport_base = (int)parse_num(argv[++i], 1024, 65535 - MAX_TARGETS);
		} else if (!strcmp(argv[i], "--source")) {
			if (add_source(&srcs, argv[++i]) < 0)
				usage();
		} else {
			usage();
		}
	}
	if (from_file) {
		char line[256];
		FILE *f;

		if (i != argc - 1)
			usage();
		f = strcmp(argv[i], "-") ? fopen(argv[i], "r") : stdin;
		if (!f) {
			fprintf(stderr, "%s: %s: %s\n", progname, argv[i], strerror(errno));
			return 2;
		}
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, " \t\r\n")] = '\0';
			if (!line[0] || line[0] == '#')
				continue;
			if (n >= MAX_TARGETS || parse_target(line, &tg[n]) < 0) {
				fprintf(stderr, "%s: bad target \"%s\"\n", progname, line);
				usage();
			}
			n++;
		}
		if (f != stdin)
			fclose(f);
	} else {
		for (; i < argc; i++) {
			if (n >= MAX_TARGETS || parse_target(argv[i], &tg[n]) < 0) {
				fprintf(stderr, "%s: bad target \"%s\"\n", progname, argv[i]);
				usage();
			}
			n++;
		}
	}
	if (n == 0)
		usage();
	return run_probes(tg, n, timeout_ms, &srcs, sport_base);
}

/* ---- probe-loop and stream: traffic across a change ---- */

static long long epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Until --duration-ms has passed or --stop-file exists. */
struct run_limit {
	int64_t deadline;	/* 0: none */
	const char *stop_file;
};

static int parse_limit(const char *opt, const char *val, struct run_limit *l)
{
	if (!strcmp(opt, "--duration-ms"))
		l->deadline = now_ms() + parse_num(val, 1, 3600000);
	else if (!strcmp(opt, "--stop-file"))
		l->stop_file = val;
	else
		return 0;
	return 1;
}

static int limit_reached(const struct run_limit *l)
{
	if (l->deadline && now_ms() >= l->deadline)
		return 1;
	return l->stop_file && access(l->stop_file, F_OK) == 0;
}

static int cmd_probe_loop(int argc, char **argv)
{
	static struct target tg[MAX_TARGETS];
	struct run_limit limit = { 0, NULL };
	struct sources srcs;
	int timeout_ms = 300, interval_ms = 100, sport_base = 20000, n = 0, round, i, k;

	memset(&srcs, 0, sizeof(srcs));
	for (i = 0; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (parse_limit(argv[i], argv[i + 1], &limit))
			continue;
		if (!strcmp(argv[i], "--timeout-ms"))
			timeout_ms = (int)parse_num(argv[i + 1], 1, 600000);
		else if (!strcmp(argv[i], "--interval-ms"))
			interval_ms = (int)parse_num(argv[i + 1], 0, 600000);
		else if (!strcmp(argv[i], "--sport-base"))
			sport_base = (int)parse_num(argv[i + 1], 1024, 55000);
		else if (!strcmp(argv[i], "--source") && add_source(&srcs, argv[i + 1]) == 0)
			;
		else
			usage();
	}
	n = argc - i;
	if (n <= 0 || n > 64 || (!limit.deadline && !limit.stop_file))
		usage();
	for (round = 0; !limit_reached(&limit); round++) {
		int64_t started = now_ms();

		for (k = 0; k < n; k++)
			if (parse_target(argv[i + k], &tg[k]) < 0)
				usage();
		round_stamp_ms = epoch_ms();
		/* A fresh source port every round: no conntrack entry carries over. */
		if (run_probes(tg, n, timeout_ms, &srcs, sport_base + (round * n) % 10000) != 0)
			return 1;
		if (now_ms() - started < interval_ms)
			sleep_ms((long)(interval_ms - (now_ms() - started)));
	}
	return 0;
}

static int read_full(int fd, char *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r > 0)
			got += (size_t)r;
		else if (r < 0 && errno == EINTR)
			continue;
		else
			return -1;	/* closed, reset, or SO_RCVTIMEO passed */
	}
	return 0;
}

static int cmd_stream(int argc, char **argv)
{
	struct run_limit limit = { 0, NULL };
	struct sources srcs;
	union sockaddr_any src;
	struct target t;
	struct timeval tv;
	int interval_ms = 50, stall_ms = 5000, fd, i;
	long long exchanges = 0, max_rtt = 0;

	memset(&srcs, 0, sizeof(srcs));
	for (i = 0; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (parse_limit(argv[i], argv[i + 1], &limit))
			continue;
		if (!strcmp(argv[i], "--interval-ms"))
			interval_ms = (int)parse_num(argv[i + 1], 0, 600000);
		else if (!strcmp(argv[i], "--stall-ms"))
			stall_ms = (int)parse_num(argv[i + 1], 1, 600000);
		else if (!strcmp(argv[i], "--source") && add_source(&srcs, argv[i + 1]) == 0)
			;
		else
			usage();
	}
	if (i != argc - 1 || parse_target(argv[i], &t) < 0 || t.proto != P_TCP ||
	    (!limit.deadline && !limit.stop_file))
		usage();
	signal(SIGPIPE, SIG_IGN);
	src = source_for(&srcs, t.addr.sa.sa_family);
	fd = socket(t.addr.sa.sa_family, SOCK_STREAM, 0);
	tv.tv_sec = stall_ms / 1000;
	tv.tv_usec = (stall_ms % 1000) * 1000;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    (!is_any(&src) && bind_source(fd, &src, 0) < 0) ||
	    connect(fd, &t.addr.sa, addr_len(&t.addr)) < 0) {
		fprintf(stderr, "%s: stream %s: %s\n", progname, t.text, strerror(errno));
		return 1;
	}
	printf("connected\n");
	fflush(stdout);
	while (!limit_reached(&limit)) {
		char out[9], in[9];
		int64_t sent = now_ms();

		snprintf(out, sizeof(out), "%08lld", exchanges % 100000000);
		errno = 0;
		if (write(fd, out, 8) != 8 || read_full(fd, in, 8) < 0 || memcmp(in, out, 8)) {
			fprintf(stderr, "%s: stream %s: exchange %lld failed after %lld ms: %s\n",
				progname, t.text, exchanges, (long long)(now_ms() - sent),
				errno ? strerror(errno) : "wrong data");
			printf("exchanges %lld max-rtt-ms %lld broken\n", exchanges, max_rtt);
			return 1;
		}
		exchanges++;
		if (now_ms() - sent > max_rtt)
			max_rtt = now_ms() - sent;
		sleep_ms(interval_ms);
	}
	close(fd);
	printf("exchanges %lld max-rtt-ms %lld\n", exchanges, max_rtt);
	return 0;
}

/* IFACE's index and MAC; prints why not for COMMAND. */
static int iface_mac(int fd, const char *command, const char *iface, unsigned int *index,
		     unsigned char mac[ETH_ALEN])
{
	struct ifreq ifr;

	*index = if_nametoindex(iface);
	if (!*index) {
		fprintf(stderr, "%s: %s: %s: %s\n", progname, command, iface, strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, iface, strlen(iface));
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		fprintf(stderr, "%s: %s: %s: %s\n", progname, command, iface, strerror(errno));
		return -1;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	return 0;
}

static int cmd_garp(int argc, char **argv)
{
	struct ether_arp arp;
	struct sockaddr_ll to;
	struct in_addr ip;
	unsigned char mac[ETH_ALEN];
	unsigned int index;
	int fd;

	if (argc != 2 || strlen(argv[0]) >= IFNAMSIZ || inet_pton(AF_INET, argv[1], &ip) != 1)
		usage();
	if (!if_nametoindex(argv[0])) {
		fprintf(stderr, "%s: garp: %s: %s\n", progname, argv[0], strerror(errno));
		return 1;
	}
	fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ARP));
	if (fd < 0) {
		fprintf(stderr, "%s: garp: socket: %s\n", progname, strerror(errno));
		return 1;
	}
	if (iface_mac(fd, "garp", argv[0], &index, mac) < 0) {
		close(fd);
		return 1;
	}
	/* A request whose sender and target address are both IP. */
	memset(&arp, 0, sizeof(arp));
	arp.arp_hrd = htons(ARPHRD_ETHER);
	arp.arp_pro = htons(ETHERTYPE_IP);
	arp.arp_hln = ETH_ALEN;
	arp.arp_pln = 4;
	arp.arp_op = htons(ARPOP_REQUEST);
	memcpy(arp.arp_sha, mac, ETH_ALEN);
	memcpy(arp.arp_spa, &ip, 4);
	memset(arp.arp_tha, 0xff, ETH_ALEN);
	memcpy(arp.arp_tpa, &ip, 4);
	memset(&to, 0, sizeof(to));
	to.sll_family = AF_PACKET;
	to.sll_protocol = htons(ETH_P_ARP);
	to.sll_ifindex = (int)index;
	to.sll_halen = ETH_ALEN;
	memset(to.sll_addr, 0xff, ETH_ALEN);
	if (sendto(fd, &arp, sizeof(arp), 0, (struct sockaddr *)&to, sizeof(to)) != (ssize_t)sizeof(arp)) {
		fprintf(stderr, "%s: garp: sendto: %s\n", progname, strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

static int cmd_na(int argc, char **argv)
{
	struct {
		struct nd_neighbor_advert na;
		struct nd_opt_hdr opt;
		unsigned char mac[ETH_ALEN];
	} __attribute__((packed)) pkt;
	union sockaddr_any src, to;
	unsigned char mac[ETH_ALEN];
	unsigned int index;
	int fd, hops = 255, one = 1;

	if (argc != 2 || strlen(argv[0]) >= IFNAMSIZ || parse_addr(argv[1], &src) < 0 ||
	    src.sa.sa_family != AF_INET6)
		usage();
	fd = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	if (fd < 0) {
		fprintf(stderr, "%s: na: socket: %s\n", progname, strerror(errno));
		return 1;
	}
	if (iface_mac(fd, "na", argv[0], &index, mac) < 0) {
		close(fd);
		return 1;
	}
	/* Receivers take a neighbour advertisement only with hop limit 255. */
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof(index)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, argv[0], (socklen_t)strlen(argv[0])) < 0) {
		fprintf(stderr, "%s: na: %s: %s\n", progname, argv[0], strerror(errno));
		close(fd);
		return 1;
	}
	(void)setsockopt(fd, IPPROTO_IPV6, IPV6_TRANSPARENT, &one, sizeof(one));
	if (bind(fd, &src.sa, sizeof(src.sin6)) < 0) {
		fprintf(stderr, "%s: na: bind %s: %s\n", progname, argv[1], strerror(errno));
		close(fd);
		return 1;
	}
	memset(&pkt, 0, sizeof(pkt));
	pkt.na.nd_na_type = ND_NEIGHBOR_ADVERT;
	pkt.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
	pkt.na.nd_na_target = src.sin6.sin6_addr;
	pkt.opt.nd_opt_type = ND_OPT_TARGET_LINKADDR;
	pkt.opt.nd_opt_len = 1;		/* in units of 8 bytes */
	memcpy(pkt.mac, mac, ETH_ALEN);
	memset(&to, 0, sizeof(to));
	to.sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "ff02::1", &to.sin6.sin6_addr);
	to.sin6.sin6_scope_id = index;
	if (sendto(fd, &pkt, sizeof(pkt), 0, &to.sa, sizeof(to.sin6)) != (ssize_t)sizeof(pkt)) {
		fprintf(stderr, "%s: na: sendto: %s\n", progname, strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "serve"))
		return cmd_serve(argc - 2, argv + 2);
	if (!strcmp(argv[1], "probe"))
		return cmd_probe(argc - 2, argv + 2, 0);
	if (!strcmp(argv[1], "probe-file"))
		return cmd_probe(argc - 2, argv + 2, 1);
	if (!strcmp(argv[1], "probe-loop"))
		return cmd_probe_loop(argc - 2, argv + 2);
	if (!strcmp(argv[1], "stream"))
		return cmd_stream(argc - 2, argv + 2);
	if (!strcmp(argv[1], "garp"))
		return cmd_garp(argc - 2, argv + 2);
	if (!strcmp(argv[1], "na"))
		return cmd_na(argc - 2, argv + 2);
	usage();
	return 2;
}
