/*
 * engine/nodenet.c: the view built by hand, and the reader against a real
 * kernel.
 *
 * Every kernel test first moves into a new network namespace: Check runs
 * each test in a forked child, so the namespace and whatever is made in it
 * die with that child and the machine's own interfaces are never seen.
 * Pods are children unshared into namespaces of their own, never named
 * ones (ip netns add), so nothing outlives a test. Without root those
 * tests print SKIP and pass. Addresses come from 198.18.0.0/15 and
 * fd00::/8 only.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>		/* unshare, CLONE_NEWNET: _GNU_SOURCE from config.h */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include "engine/nodenet.h"
#include "lib/cidr.h"
#include "lib/strmap.h"
#include "lib/util.h"
#include "tests/testlib.h"

/* ---------------------------------------------------------------- helpers */

static struct pw_cidr ip_of(const char *text)
{
	struct pw_cidr c;

	ck_assert_msg(pw_ip_parse(text, &c) == 0, "bad address %s", text);
	return c;
}

static struct pw_cidr prefix_of(const char *text)
{
	struct pw_cidr c;

	ck_assert_msg(pw_cidr_parse(text, &c) == 0, "bad prefix %s", text);
	return c;
}

static void mac_of(const char *text, uint8_t mac[6])
{
	ck_assert_msg(sscanf(text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1],
			     &mac[2], &mac[3], &mac[4], &mac[5]) == 6, "bad MAC %s", text);
}

static struct pw_node_link link_of(int ifindex, const char *name, enum pw_link_kind kind,
				   int master, bool up)
{
	struct pw_node_link l;

	memset(&l, 0, sizeof(l));
	l.ifindex = ifindex;
	snprintf(l.name, sizeof(l.name), "%s", name);
	l.kind = kind;
	l.master = master;
	l.up = up;
	return l;
}

static int route_to(const struct pw_node_view *v, const char *host)
{
	struct pw_cidr h = ip_of(host);

	return pw_node_view_route(v, &h);
}

static int holding(const struct pw_node_view *v, const char *ip)
{
	struct pw_cidr a = ip_of(ip);

	return pw_node_view_bridge_holding(v, &a);
}

/* The neighbour's MAC as text, or "" when the view has none. */
static const char *neighbour(const struct pw_node_view *v, int ifindex, const char *ip)
{
	static char text[18];
	struct pw_cidr a = ip_of(ip);
	uint8_t mac[6];

	if (!pw_node_view_neighbour(v, ifindex, &a, mac))
		return "";
	snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return text;
}

static int fdb_port(const struct pw_node_view *v, int bridge, const char *mac)
{
	uint8_t m[6];

	mac_of(mac, m);
	return pw_node_view_fdb_port(v, bridge, m);
}

static bool set_addr(struct pw_node_view *v, int ifindex, const char *prefix, bool present)
{
	struct pw_cidr p = prefix_of(prefix);

	return pw_node_view_set_addr(v, ifindex, &p, present);
}

static bool set_route(struct pw_node_view *v, const char *host, int ifindex, uint32_t metric,
		      bool present)
{
	struct pw_cidr h = ip_of(host);

	return pw_node_view_set_route(v, &h, ifindex, metric, present);
}

static bool set_neighbour(struct pw_node_view *v, int ifindex, const char *ip, const char *mac)
{
	struct pw_cidr a = ip_of(ip);
	uint8_t m[6];

	if (!mac)
		return pw_node_view_set_neighbour(v, ifindex, &a, NULL);
	mac_of(mac, m);
	return pw_node_view_set_neighbour(v, ifindex, &a, m);
}

static bool set_fdb(struct pw_node_view *v, int port, const char *mac, bool present)
{
	uint8_t m[6];

	mac_of(mac, m);
	return pw_node_view_set_fdb(v, port, m, present);
}

/* -------------------------------------------------------- kernel helpers */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return;		/* no IPv6: the IPv6 steps fail where they are */
	fputs(text, f);
	fclose(f);
}

static bool enter_netns(void)
{
	if (!pw_test_enter_netns("ip -V >/dev/null && bridge -V", "iproute2 (ip, bridge)"))
		return false;
	/*
	 * No link-local addresses on the links made here, and no IGMP reports
	 * for 224.0.0.x (a bridge joins 224.0.0.106): a link that goes up or
	 * gets an address then sends no DAD, router solicitation, MLD or
	 * IGMP, whose addresses and multicast neighbours would come and go
	 * while a test counts changes. /proc/sys/net is this namespace's own.
	 */
	write_file("/proc/sys/net/ipv6/conf/default/addr_gen_mode", "1");
	write_file("/proc/sys/net/ipv4/igmp_link_local_mcast_reports", "0");
	return true;
}

#define NEED_NETNS() do { if (!enter_netns()) return; } while (0)

#define SH_OK(...) ck_assert_msg(pw_test_run(__VA_ARGS__) == 0, "failed: " __VA_ARGS__)

/* Feeds text to "ip -batch" or "bridge -batch": hundreds of changes in one process. */
static void batch(const char *tool, const char *text)
{
	char path[] = "/tmp/pw-nodenet-batch.XXXXXX";
	int fd = mkstemp(path);
	size_t len = strlen(text);
	int status;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	status = pw_test_run("%s -batch %s", tool, path);
	unlink(path);
	ck_assert_msg(status == 0, "%s -batch failed", tool);
}

static struct pw_nodenet *open_nodenet(bool follow)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_nodenet *n = pw_nodenet_open(follow, &err);

	ck_assert_msg(n != NULL, "pw_nodenet_open: %s", pw_buf_str(&err));
	pw_buf_free(&err);
	return n;
}

/*
 * Reads until the socket stays quiet; the number of changes. Notifications
 * are queued before the command that caused them exits, so the first read
 * normally gets them all; the wait covers a slow resync.
 */
static int read_all(struct pw_nodenet *n)
{
	struct pollfd p = { pw_nodenet_fd(n), POLLIN, 0 };
	int total = 0, r;

	for (;;) {
		r = pw_nodenet_read(n);
		ck_assert_msg(r >= 0, "pw_nodenet_read: %s", strerror(-r));
		total += r;
		r = poll(&p, 1, 100);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
	}
	return total;
}

#define VIEW(n) pw_nodenet_view(n)

/* The ifindex of a link of this namespace, as the kernel says. */
static int ifindex(const char *name)
{
	int i = (int)if_nametoindex(name);

	ck_assert_msg(i > 0, "no link %s", name);
	return i;
}

static const struct pw_node_link *named(struct pw_nodenet *n, const char *name)
{
	return pw_node_view_link_named(VIEW(n), name);
}

/* ------------------------------------------------ comparing two views */

static void put_route(const struct pw_cidr *host, int ifindex, void *ctx)
{
	char text[PW_CIDR_STRLEN];

	pw_cidr_format(host, false, text);
	ck_assert_msg(pw_strmap_put(ctx, text, (void *)(intptr_t)ifindex) == NULL,
		      "route to %s visited twice", text);
}

struct route_cmp {
	struct pw_strmap *other;
	const char *what;
};

static int route_in_other(const char *key, void *value, void *ctx)
{
	const struct route_cmp *c = ctx;

	ck_assert_msg(pw_strmap_get(c->other, key) == value,
		      "route to %s: %s has link %d, the other %d", key, c->what,
		      (int)(intptr_t)value, (int)(intptr_t)pw_strmap_get(c->other, key));
	return 0;
}

/* The links and routes of got and want are the same (for what they enumerate). */
static void assert_same_view(const struct pw_node_view *got, const struct pw_node_view *want)
{
	struct pw_strmap *g = pw_strmap_new(), *w = pw_strmap_new();
	struct route_cmp c;
	size_t i;

	ck_assert_uint_eq(pw_node_view_link_count(got), pw_node_view_link_count(want));
	for (i = 0; i < pw_node_view_link_count(want); i++) {
		const struct pw_node_link *a = pw_node_view_link_at(got, i);
		const struct pw_node_link *b = pw_node_view_link_at(want, i);

		ck_assert_int_eq(a->ifindex, b->ifindex);
		ck_assert_str_eq(a->name, b->name);
		ck_assert_int_eq(a->kind, b->kind);
		ck_assert_int_eq(a->master, b->master);
		ck_assert_msg(a->up == b->up, "%s up", a->name);
	}
	pw_node_view_foreach_route(got, put_route, g);
	pw_node_view_foreach_route(want, put_route, w);
	c.other = w;
	c.what = "the followed view";
	pw_strmap_foreach(g, route_in_other, &c);
	c.other = g;
	c.what = "a fresh dump";
	pw_strmap_foreach(w, route_in_other, &c);
	pw_strmap_free(g);
	pw_strmap_free(w);
}

/* What a fresh dump of the kernel says now: the truth to compare with. */
static void assert_matches_kernel(struct pw_nodenet *n)
{
	struct pw_nodenet *fresh = open_nodenet(false);

	assert_same_view(VIEW(n), VIEW(fresh));
	pw_nodenet_close(fresh);
}

/* ------------------------------------------------------- the view by hand */

START_TEST(test_view_setters_report_changes)
{
	struct pw_node_view *v = pw_node_view_new();
	struct pw_node_link l = link_of(5, "veth0", PW_LINK_VETH, 0, true);

	ck_assert(pw_node_view_set_link(v, &l));
	ck_assert(!pw_node_view_set_link(v, &l));
	l.up = false;
	ck_assert(pw_node_view_set_link(v, &l));
	ck_assert(!pw_node_view_set_link(v, &l));
	l.master = 3;
	ck_assert(pw_node_view_set_link(v, &l));
	l.kind = PW_LINK_OTHER;
	ck_assert(pw_node_view_set_link(v, &l));
	snprintf(l.name, sizeof(l.name), "veth1");
	ck_assert(pw_node_view_set_link(v, &l));
	ck_assert(!pw_node_view_set_link(v, &l));
	ck_assert_uint_eq(pw_node_view_link_count(v), 1);

	ck_assert(set_addr(v, 5, "198.18.0.1/24", true));
	ck_assert(!set_addr(v, 5, "198.18.0.1/24", true));
	/* The same address with another length is another address. */
	ck_assert(set_addr(v, 5, "198.18.0.1/16", true));
	ck_assert(set_addr(v, 5, "198.18.0.1/24", false));
	ck_assert(!set_addr(v, 5, "198.18.0.1/24", false));
	ck_assert(set_addr(v, 5, "fd00:18::1/64", true));
	ck_assert(!set_addr(v, 5, "fd00:18::1/64", true));
	ck_assert(set_addr(v, 5, "fd00:18::1/64", false));

	ck_assert(set_route(v, "198.18.0.5", 5, 0, true));
	ck_assert(!set_route(v, "198.18.0.5", 5, 0, true));
	ck_assert(set_route(v, "198.18.0.5", 5, 10, true));
	ck_assert(set_route(v, "198.18.0.5", 5, 10, false));
	ck_assert(!set_route(v, "198.18.0.5", 5, 10, false));
	ck_assert(set_route(v, "fd00::5", 5, 1024, true));
	ck_assert(!set_route(v, "fd00::5", 5, 1024, true));

	ck_assert(set_neighbour(v, 5, "198.18.0.7", "02:00:00:00:00:07"));
	ck_assert(!set_neighbour(v, 5, "198.18.0.7", "02:00:00:00:00:07"));
	ck_assert(set_neighbour(v, 5, "198.18.0.7", "02:00:00:00:00:08"));
	ck_assert(set_neighbour(v, 5, "198.18.0.7", NULL));
	ck_assert(!set_neighbour(v, 5, "198.18.0.7", NULL));
	ck_assert(set_neighbour(v, 5, "fd00::7", "02:00:00:00:00:07"));
	ck_assert(!set_neighbour(v, 5, "fd00::7", "02:00:00:00:00:07"));

	ck_assert(set_fdb(v, 5, "02:00:00:00:00:01", true));
	ck_assert(!set_fdb(v, 5, "02:00:00:00:00:01", true));
	ck_assert(set_fdb(v, 5, "02:00:00:00:00:01", false));
	ck_assert(!set_fdb(v, 5, "02:00:00:00:00:01", false));

	ck_assert(!pw_node_view_del_link(v, 99));
	ck_assert(pw_node_view_del_link(v, 5));
	ck_assert(!pw_node_view_del_link(v, 5));
	pw_node_view_free(v);
	pw_node_view_free(NULL);
}
END_TEST

START_TEST(test_view_del_link_cascades)
{
	struct pw_node_view *v = pw_node_view_new();
	struct pw_node_link br = link_of(2, "br0", PW_LINK_BRIDGE, 0, true);
	struct pw_node_link port = link_of(3, "veth3", PW_LINK_VETH, 2, true);
	struct pw_node_link other = link_of(4, "veth4", PW_LINK_VETH, 0, true);

	pw_node_view_set_link(v, &br);
	pw_node_view_set_link(v, &port);
	pw_node_view_set_link(v, &other);
	set_addr(v, 2, "198.18.0.1/24", true);
	set_addr(v, 3, "198.18.3.1/24", true);
	set_route(v, "198.18.0.5", 3, 0, true);
	set_route(v, "198.18.0.5", 4, 100, true);
	set_route(v, "198.18.0.6", 3, 0, true);
	set_route(v, "fd00::6", 3, 1024, true);
	set_neighbour(v, 3, "198.18.3.9", "02:00:00:00:00:09");
	set_neighbour(v, 2, "198.18.0.9", "02:00:00:00:00:0a");
	set_fdb(v, 3, "02:00:00:00:00:01", true);
	ck_assert_int_eq(route_to(v, "198.18.0.5"), 3);
	ck_assert_int_eq(fdb_port(v, 2, "02:00:00:00:00:01"), 3);

	ck_assert(pw_node_view_del_link(v, 3));
	ck_assert_ptr_eq(pw_node_view_link(v, 3), NULL);
	ck_assert_ptr_eq(pw_node_view_link_named(v, "veth3"), NULL);
	ck_assert_uint_eq(pw_node_view_link_count(v), 2);
	/* Its routes go; another link's route to the same host stays. */
	ck_assert_int_eq(route_to(v, "198.18.0.5"), 4);
	ck_assert_int_eq(route_to(v, "198.18.0.6"), 0);
	ck_assert_int_eq(route_to(v, "fd00::6"), 0);
	ck_assert_str_eq(neighbour(v, 3, "198.18.3.9"), "");
	ck_assert_str_eq(neighbour(v, 2, "198.18.0.9"), "02:00:00:00:00:0a");
	ck_assert_int_eq(fdb_port(v, 2, "02:00:00:00:00:01"), 0);
	/* The ifindex coming back brings none of it back. */
	pw_node_view_set_link(v, &port);
	ck_assert_int_eq(fdb_port(v, 2, "02:00:00:00:00:01"), 0);
	ck_assert_int_eq(route_to(v, "198.18.0.6"), 0);

	/* Entries of a link the view never heard of go as well. */
	set_route(v, "198.18.0.8", 9, 0, true);
	ck_assert(pw_node_view_del_link(v, 9));
	ck_assert_int_eq(route_to(v, "198.18.0.8"), 0);

	ck_assert_int_eq(holding(v, "198.18.0.7"), 2);
	ck_assert(pw_node_view_del_link(v, 2));
	ck_assert_int_eq(holding(v, "198.18.0.7"), 0);
	ck_assert_str_eq(neighbour(v, 2, "198.18.0.9"), "");
	pw_node_view_free(v);
}
END_TEST

START_TEST(test_view_link_at_sorted)
{
	struct pw_node_view *v = pw_node_view_new();
	static const int order[] = { 30, 5, 17, 1 };
	struct pw_node_link l;
	char name[16];
	size_t i;

	ck_assert_ptr_eq(pw_node_view_link_at(v, 0), NULL);
	for (i = 0; i < PW_ARRAY_SIZE(order); i++) {
		snprintf(name, sizeof(name), "l%d", order[i]);
		l = link_of(order[i], name, PW_LINK_OTHER, 0, false);
		pw_node_view_set_link(v, &l);
	}
	ck_assert_int_eq(pw_node_view_link_at(v, 0)->ifindex, 1);
	ck_assert_int_eq(pw_node_view_link_at(v, 1)->ifindex, 5);
	ck_assert_int_eq(pw_node_view_link_at(v, 2)->ifindex, 17);
	ck_assert_int_eq(pw_node_view_link_at(v, 3)->ifindex, 30);
	ck_assert_ptr_eq(pw_node_view_link_at(v, 4), NULL);

	/* The order follows changes made after it was first asked for. */
	pw_node_view_del_link(v, 17);
	l = link_of(10, "l10", PW_LINK_VETH, 0, true);
	pw_node_view_set_link(v, &l);
	l = link_of(5, "renamed", PW_LINK_VETH, 0, true);
	pw_node_view_set_link(v, &l);
	ck_assert_int_eq(pw_node_view_link_at(v, 0)->ifindex, 1);
	ck_assert_int_eq(pw_node_view_link_at(v, 1)->ifindex, 5);
	ck_assert_str_eq(pw_node_view_link_at(v, 1)->name, "renamed");
	ck_assert_int_eq(pw_node_view_link_at(v, 2)->ifindex, 10);
	ck_assert_int_eq(pw_node_view_link_at(v, 3)->ifindex, 30);
	ck_assert_ptr_eq(pw_node_view_link_at(v, 4), NULL);
	pw_node_view_free(v);
}
END_TEST

START_TEST(test_view_link_named_after_rename)
{
	struct pw_node_view *v = pw_node_view_new();
	struct pw_node_link a = link_of(5, "veth-a", PW_LINK_VETH, 0, false);
	struct pw_node_link b;

	pw_node_view_set_link(v, &a);
	ck_assert_int_eq(pw_node_view_link_named(v, "veth-a")->ifindex, 5);
	snprintf(a.name, sizeof(a.name), "pod-a");
	ck_assert(pw_node_view_set_link(v, &a));
	ck_assert_ptr_eq(pw_node_view_link_named(v, "veth-a"), NULL);
	ck_assert_int_eq(pw_node_view_link_named(v, "pod-a")->ifindex, 5);
	ck_assert_str_eq(pw_node_view_link(v, 5)->name, "pod-a");

	/* The old name on another link. */
	b = link_of(6, "veth-a", PW_LINK_VETH, 0, false);
	pw_node_view_set_link(v, &b);
	ck_assert_int_eq(pw_node_view_link_named(v, "veth-a")->ifindex, 6);

	/*
	 * A name the kernel gave a new link before the view heard that its
	 * old holder went: the end of the old one leaves the new one alone.
	 */
	b = link_of(7, "pod-a", PW_LINK_VETH, 0, false);
	pw_node_view_set_link(v, &b);
	ck_assert_int_eq(pw_node_view_link_named(v, "pod-a")->ifindex, 7);
	pw_node_view_del_link(v, 5);
	ck_assert_int_eq(pw_node_view_link_named(v, "pod-a")->ifindex, 7);
	ck_assert_ptr_eq(pw_node_view_link_named(v, "nothing"), NULL);

	/* The longest name a link can have. */
	a = link_of(8, "abcdefghijklmno", PW_LINK_OTHER, 0, false);
	pw_node_view_set_link(v, &a);
	ck_assert_int_eq(pw_node_view_link_named(v, "abcdefghijklmno")->ifindex, 8);
	pw_node_view_free(v);
}
END_TEST

static void count_route(const struct pw_cidr *host, int ifindex, void *ctx)
{
	char text[PW_CIDR_STRLEN];

	pw_cidr_format(host, false, text);
	ck_assert_msg(strcmp(text, "198.18.0.5") == 0 || strcmp(text, "fd00::5") == 0,
		      "unexpected route to %s", text);
	ck_assert_int_eq(ifindex, strchr(text, ':') ? 3 : 4);
	(*(int *)ctx)++;
}

START_TEST(test_view_routes)
{
	struct pw_node_view *v = pw_node_view_new();
	struct pw_node_link a = link_of(3, "veth3", PW_LINK_VETH, 0, true);
	struct pw_node_link b = link_of(4, "veth4", PW_LINK_VETH, 0, true);
	int visits = 0;

	pw_node_view_set_link(v, &a);
	pw_node_view_set_link(v, &b);
	ck_assert_int_eq(route_to(v, "198.18.0.5"), 0);
	set_route(v, "198.18.0.5", 3, 100, true);
	set_route(v, "198.18.0.5", 4, 50, true);
	ck_assert_int_eq(route_to(v, "198.18.0.5"), 4);
	set_route(v, "198.18.0.5", 4, 200, true);
	ck_assert_int_eq(route_to(v, "198.18.0.5"), 3);
	set_route(v, "198.18.0.5", 4, 20, true);
	set_route(v, "fd00::5", 3, 1024, true);
	pw_node_view_foreach_route(v, count_route, &visits);
	ck_assert_int_eq(visits, 2);
	set_route(v, "198.18.0.5", 4, 0, false);
	ck_assert_int_eq(route_to(v, "198.18.0.5"), 3);

	/* A link taken down loses its routes, as it does in the kernel. */
	a.up = false;
	ck_assert(pw_node_view_set_link(v, &a));
	ck_assert_int_eq(route_to(v, "198.18.0.5"), 0);
	ck_assert_int_eq(route_to(v, "fd00::5"), 0);
	/* But a link coming up, or already down, takes nothing with it. */
	set_route(v, "198.18.0.6", 4, 0, true);
	b.master = 9;
	ck_assert(pw_node_view_set_link(v, &b));
	ck_assert_int_eq(route_to(v, "198.18.0.6"), 4);
	pw_node_view_free(v);
}
END_TEST

START_TEST(test_view_bridge_holding)
{
	struct pw_node_view *v = pw_node_view_new();
	struct pw_node_link wide = link_of(2, "cni0", PW_LINK_BRIDGE, 0, true);
	struct pw_node_link narrow = link_of(3, "br1", PW_LINK_BRIDGE, 0, true);
	struct pw_node_link veth = link_of(4, "veth4", PW_LINK_VETH, 0, true);

	pw_node_view_set_link(v, &wide);
	pw_node_view_set_link(v, &narrow);
	pw_node_view_set_link(v, &veth);
	set_addr(v, 2, "198.18.0.1/16", true);
	set_addr(v, 3, "198.18.5.1/24", true);
	/* More specific than either, but not a bridge's. */
	set_addr(v, 4, "198.18.5.129/25", true);
	set_addr(v, 4, "198.19.0.1/24", true);
	/* A link the view does not know. */
	set_addr(v, 9, "198.19.1.1/24", true);

	ck_assert_int_eq(holding(v, "198.18.5.200"), 3);
	ck_assert_int_eq(holding(v, "198.18.5.1"), 3);
	ck_assert_int_eq(holding(v, "198.18.9.9"), 2);
	ck_assert_int_eq(holding(v, "198.19.0.9"), 0);
	ck_assert_int_eq(holding(v, "198.19.1.9"), 0);

	set_addr(v, 2, "fd00:18::1/64", true);
	set_addr(v, 3, "fd00:18::101/120", true);
	set_addr(v, 4, "fd00:18::181/121", true);
	ck_assert_int_eq(holding(v, "fd00:18::190"), 3);
	ck_assert_int_eq(holding(v, "fd00:18::7"), 2);
	ck_assert_int_eq(holding(v, "fd00:19::7"), 0);
	/* An IPv4 prefix never holds an IPv6 address, nor the other way. */
	ck_assert_int_eq(holding(v, "::ffff:198.18.5.5"), 0);

	set_addr(v, 3, "198.18.5.1/24", false);
	ck_assert_int_eq(holding(v, "198.18.5.200"), 2);
	/* A bridge that stops being one. */
	wide.kind = PW_LINK_OTHER;
	pw_node_view_set_link(v, &wide);
	ck_assert_int_eq(holding(v, "198.18.5.200"), 0);
	ck_assert_int_eq(holding(v, "fd00:18::7"), 0);
	ck_assert_int_eq(holding(v, "fd00:18::190"), 3);
	pw_node_view_free(v);
}
END_TEST

START_TEST(test_view_fdb_port)
{
	struct pw_node_view *v = pw_node_view_new();
	struct pw_node_link links[] = {
		link_of(2, "br0", PW_LINK_BRIDGE, 0, true),
		link_of(3, "veth3", PW_LINK_VETH, 2, true),
		link_of(4, "veth4", PW_LINK_VETH, 2, true),
		link_of(6, "br1", PW_LINK_BRIDGE, 0, true),
		link_of(7, "veth7", PW_LINK_VETH, 6, true),
	};
	const char *m = "02:00:00:00:00:01";
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(links); i++)
		pw_node_view_set_link(v, &links[i]);
	ck_assert_int_eq(fdb_port(v, 2, m), 0);
	set_fdb(v, 3, m, true);
	ck_assert_int_eq(fdb_port(v, 2, m), 3);
	ck_assert_int_eq(fdb_port(v, 6, m), 0);
	/* Another bridge's port is no rival. */
	set_fdb(v, 7, m, true);
	ck_assert_int_eq(fdb_port(v, 2, m), 3);
	ck_assert_int_eq(fdb_port(v, 6, m), 7);
	/* Two ports of one bridge: nobody can tell which. */
	set_fdb(v, 4, m, true);
	ck_assert_int_eq(fdb_port(v, 2, m), -1);
	set_fdb(v, 3, m, false);
	ck_assert_int_eq(fdb_port(v, 2, m), 4);
	/* A port that leaves its bridge counts no more; an unknown one never. */
	links[2].master = 0;
	pw_node_view_set_link(v, &links[2]);
	ck_assert_int_eq(fdb_port(v, 2, m), 0);
	set_fdb(v, 12, "02:00:00:00:00:02", true);
	ck_assert_int_eq(fdb_port(v, 2, "02:00:00:00:00:02"), 0);
	ck_assert_int_eq(fdb_port(v, 0, "02:00:00:00:00:02"), 0);
	pw_node_view_free(v);
}
END_TEST

/* ---------------------------------------------------------------- links */

START_TEST(test_initial_dump)
{
	const struct pw_node_view *v;
	struct pw_nodenet *n;
	const struct pw_node_link *l;
	int br0, veth0, veth1;

	NEED_NETNS();
	SH_OK("ip link add br0 type bridge");
	SH_OK("ip link add veth0 type veth peer name eth9");
	SH_OK("ip link add veth1 type veth peer name eth8");
	SH_OK("ip link set veth0 master br0");
	SH_OK("ip link set br0 up && ip link set veth0 up && ip link set veth1 up");
	SH_OK("ip addr add 198.18.0.1/24 dev br0");
	SH_OK("ip -6 addr add fd00:18::1/64 dev br0 nodad");
	SH_OK("ip route add 198.18.1.5/32 dev veth1");
	SH_OK("ip -6 route add fd00:19::5/128 dev veth1");
	SH_OK("ip neigh replace 198.18.0.5 lladdr 02:00:00:00:00:05 dev br0 nud permanent");
	SH_OK("bridge fdb add 02:00:00:00:00:01 dev veth0 master static");
	br0 = ifindex("br0");
	veth0 = ifindex("veth0");
	veth1 = ifindex("veth1");

	n = open_nodenet(true);
	v = VIEW(n);
	/* lo, br0, the two pairs */
	ck_assert_uint_eq(pw_node_view_link_count(v), 6);
	l = named(n, "veth0");
	ck_assert_ptr_ne(l, NULL);
	ck_assert_int_eq(l->ifindex, veth0);
	ck_assert_int_eq(l->kind, PW_LINK_VETH);
	ck_assert_int_eq(l->master, br0);
	ck_assert(l->up);
	l = named(n, "eth9");
	ck_assert_int_eq(l->master, 0);
	ck_assert(!l->up);
	ck_assert_int_eq(named(n, "br0")->kind, PW_LINK_BRIDGE);
	ck_assert_int_eq(named(n, "lo")->kind, PW_LINK_OTHER);
	ck_assert_ptr_eq(pw_node_view_link(v, veth0), named(n, "veth0"));

	ck_assert_int_eq(route_to(v, "198.18.1.5"), veth1);
	ck_assert_int_eq(route_to(v, "fd00:19::5"), veth1);
	/* The bridge's own prefix route is no host route. */
	ck_assert_int_eq(route_to(v, "198.18.0.0"), 0);
	ck_assert_int_eq(holding(v, "198.18.0.77"), br0);
	ck_assert_int_eq(holding(v, "fd00:18::77"), br0);
	ck_assert_str_eq(neighbour(v, br0, "198.18.0.5"), "02:00:00:00:00:05");
	ck_assert_int_eq(fdb_port(v, br0, "02:00:00:00:00:01"), veth0);

	/* What the dump found is the starting state, not news. */
	ck_assert_int_eq(read_all(n), 0);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

START_TEST(test_socket_flags)
{
	struct pw_nodenet *n;
	int fd;

	NEED_NETNS();
	n = open_nodenet(true);
	fd = pw_nodenet_fd(n);
	ck_assert_int_ge(fd, 0);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	/* Nothing pending: returns at once instead of blocking. */
	ck_assert_int_eq(pw_nodenet_read(n), 0);
	ck_assert_int_eq(pw_nodenet_read(n), 0);
	pw_nodenet_close(n);
	pw_nodenet_close(NULL);
}
END_TEST

START_TEST(test_follow_false)
{
	struct pw_nodenet *n, *later;

	NEED_NETNS();
	SH_OK("ip link add veth0 type veth peer name eth0");
	n = open_nodenet(false);
	ck_assert_int_eq(pw_nodenet_fd(n), -1);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 3);
	ck_assert_ptr_ne(named(n, "veth0"), NULL);

	/* A snapshot: what happens afterwards is not its business. */
	SH_OK("ip link add veth1 type veth peer name eth1");
	SH_OK("ip link del veth0");
	ck_assert_int_eq(pw_nodenet_read(n), 0);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 3);
	ck_assert_ptr_ne(named(n, "veth0"), NULL);
	ck_assert_ptr_eq(named(n, "veth1"), NULL);

	later = open_nodenet(false);
	ck_assert_ptr_eq(named(later, "veth0"), NULL);
	ck_assert_ptr_ne(named(later, "veth1"), NULL);
	pw_nodenet_close(later);
	pw_nodenet_close(n);
}
END_TEST

START_TEST(test_appear_disappear)
{
	struct pw_nodenet *n;

	NEED_NETNS();
	n = open_nodenet(true);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 1);

	SH_OK("ip link add veth0 type veth peer name eth0");
	ck_assert_int_eq(read_all(n), 2);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 3);
	ck_assert_int_eq(named(n, "veth0")->ifindex, ifindex("veth0"));
	ck_assert_int_eq(named(n, "eth0")->ifindex, ifindex("eth0"));
	ck_assert_int_eq(named(n, "veth0")->kind, PW_LINK_VETH);

	/* Deleting one end of a veth takes the other with it. */
	SH_OK("ip link del veth0");
	ck_assert_int_eq(read_all(n), 2);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 1);
	ck_assert_ptr_eq(named(n, "veth0"), NULL);
	ck_assert_ptr_eq(named(n, "eth0"), NULL);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

START_TEST(test_update_is_not_a_change)
{
	struct pw_nodenet *n;

	NEED_NETNS();
	SH_OK("ip link add veth1 type veth peer name veth2");
	n = open_nodenet(true);

	/* Each of these sends an RTM_NEWLINK for a link we know. */
	SH_OK("ip link set veth1 mtu 1400");
	SH_OK("ip link set veth2 address 02:00:00:00:00:02");
	SH_OK("ip link set veth1 alias pod-a");
	SH_OK("ip link set veth1 txqueuelen 500");
	ck_assert_int_eq(read_all(n), 0);

	/* Up is part of a link; the carrier that follows is not. */
	SH_OK("ip link set veth1 up");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert(named(n, "veth1")->up);
	SH_OK("ip link set veth2 up");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert(named(n, "veth2")->up);
	SH_OK("ip link set veth1 mtu 1300");
	ck_assert_int_eq(read_all(n), 0);
	SH_OK("ip link set veth1 down");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert(!named(n, "veth1")->up);
	ck_assert(named(n, "veth2")->up);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 3);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

START_TEST(test_rename)
{
	struct pw_nodenet *n;
	int first;

	NEED_NETNS();
	SH_OK("ip link add veth1 type veth peer name peer0");
	first = ifindex("veth1");
	n = open_nodenet(true);

	/* A link must be down to be renamed; a new veth is. */
	SH_OK("ip link set veth1 name pod-a");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_ptr_eq(named(n, "veth1"), NULL);
	ck_assert_int_eq(named(n, "pod-a")->ifindex, first);
	ck_assert_str_eq(pw_node_view_link(VIEW(n), first)->name, "pod-a");

	SH_OK("ip link set pod-a name pod-b && ip link set peer0 name veth1");
	ck_assert_int_eq(read_all(n), 2);
	ck_assert_ptr_eq(named(n, "pod-a"), NULL);
	ck_assert_int_eq(named(n, "pod-b")->ifindex, first);
	ck_assert_int_eq(named(n, "veth1")->ifindex, ifindex("veth1"));

	/* The old name can come back on another link. */
	SH_OK("ip link set veth1 name peer0");
	SH_OK("ip link add pod-a type veth peer name peer1");
	ck_assert_int_eq(read_all(n), 3);
	ck_assert_int_ne(named(n, "pod-a")->ifindex, first);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 5);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

START_TEST(test_kind_and_master)
{
	struct pw_nodenet *n;
	const char *other = NULL;
	int br0;

	NEED_NETNS();
	n = open_nodenet(true);
	SH_OK("ip link add br0 type bridge");
	SH_OK("ip link add veth0 type veth peer name eth0");
	/* Any other kind of link the kernel offers. */
	if (pw_test_run("ip link add other0 type dummy") == 0)
		other = "dummy";
	else if (pw_test_run("ip link add other0 type ifb") == 0)
		other = "ifb";
	else if (pw_test_run("ip link add other0 type vxlan id 7 dstport 4789") == 0)
		other = "vxlan";
	read_all(n);
	br0 = ifindex("br0");
	ck_assert_int_eq(named(n, "br0")->kind, PW_LINK_BRIDGE);
	ck_assert_int_eq(named(n, "veth0")->kind, PW_LINK_VETH);
	ck_assert_int_eq(named(n, "eth0")->kind, PW_LINK_VETH);
	ck_assert_int_eq(named(n, "lo")->kind, PW_LINK_OTHER);
	if (other)
		ck_assert_int_eq(named(n, "other0")->kind, PW_LINK_OTHER);
	else
		printf("SKIP: no dummy, ifb or vxlan link for kind OTHER (lo checked)\n");

	/* Enslaved and released: the master follows. */
	SH_OK("ip link set veth0 master br0");
	ck_assert_int_ge(read_all(n), 1);
	ck_assert_int_eq(named(n, "veth0")->master, br0);
	ck_assert_int_eq(named(n, "eth0")->master, 0);
	ck_assert_int_eq(named(n, "br0")->master, 0);
	SH_OK("ip link set veth0 nomaster");
	ck_assert_int_ge(read_all(n), 1);
	ck_assert_int_eq(named(n, "veth0")->master, 0);
	ck_assert_int_eq(named(n, "veth0")->kind, PW_LINK_VETH);

	/* A bridge going away releases its ports. */
	SH_OK("ip link set veth0 master br0");
	read_all(n);
	ck_assert_int_eq(named(n, "veth0")->master, br0);
	SH_OK("ip link del br0");
	read_all(n);
	ck_assert_ptr_eq(named(n, "br0"), NULL);
	ck_assert_int_eq(named(n, "veth0")->master, 0);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

/*
 * A child in a namespace of its own, as a pod would be. It waits until the
 * write end of go closes: the parent closing it, or the parent dying.
 */
static pid_t pod_start(int go[2])
{
	int ready[2];
	pid_t child;
	char c;

	ck_assert_int_eq(pipe(ready), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		close(go[1]);
		close(ready[0]);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		/* Quiet, as ours: no IPv6 chatter for the bridge to learn from early. */
		write_file("/proc/sys/net/ipv6/conf/default/addr_gen_mode", "1");
		c = 'r';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		close(ready[1]);
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return child;
}

static void pods_stop(int go[2], const pid_t *pods, size_t count)
{
	size_t i;

	close(go[1]);
	for (i = 0; i < count; i++)
		waitpid(pods[i], NULL, 0);
	close(go[0]);
}

/* Links moved to a pod leave ours with an RTM_DELLINK, and come back with an RTM_NEWLINK. */
START_TEST(test_namespace_move)
{
	struct pw_nodenet *n;
	int go[2], br0, vpod;
	pid_t pod;

	NEED_NETNS();
	ck_assert_int_eq(pipe(go), 0);
	pod = pod_start(go);

	SH_OK("ip link add br0 type bridge && ip link set br0 up");
	SH_OK("ip link add vpod type veth peer name eth0");
	SH_OK("ip link set vpod master br0 && ip link set vpod up");
	SH_OK("ip addr add 198.18.3.1/24 dev vpod");
	SH_OK("ip route add 198.18.0.9/32 dev vpod");
	SH_OK("ip neigh replace 198.18.3.9 lladdr 02:00:00:00:03:09 dev vpod nud permanent");
	SH_OK("bridge fdb add 02:00:00:00:00:01 dev vpod master static");
	br0 = ifindex("br0");
	vpod = ifindex("vpod");
	n = open_nodenet(true);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.9"), vpod);

	SH_OK("ip link set vpod netns %d", (int)pod);
	ck_assert_int_ge(read_all(n), 1);
	ck_assert_ptr_eq(named(n, "vpod"), NULL);
	ck_assert_ptr_eq(pw_node_view_link(VIEW(n), vpod), NULL);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.9"), 0);
	ck_assert_str_eq(neighbour(VIEW(n), vpod, "198.18.3.9"), "");
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:01"), 0);
	ck_assert_ptr_ne(named(n, "eth0"), NULL);
	assert_matches_kernel(n);

	/* CNI makes the pair in the pod and moves the host end out. */
	SH_OK("nsenter -t %d -n ip link set vpod netns %d", (int)pod, (int)getpid());
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_ptr_ne(named(n, "vpod"), NULL);
	ck_assert_int_eq(named(n, "vpod")->ifindex, ifindex("vpod"));
	ck_assert_int_eq(named(n, "vpod")->master, 0);
	assert_matches_kernel(n);

	pods_stop(go, &pod, 1);
	pw_nodenet_close(n);
}
END_TEST

#define MANY 300

static void batch_add(unsigned first, unsigned count)
{
	struct pw_buf b = PW_BUF_INIT;
	unsigned i;

	for (i = first; i < first + count; i++)
		pw_buf_printf(&b, "link add p%u type veth peer name q%u\n", i, i);
	batch("ip", b.data);
	pw_buf_free(&b);
}

static void batch_del(unsigned first, unsigned count)
{
	struct pw_buf b = PW_BUF_INIT;
	unsigned i;

	for (i = first; i < first + count; i++)
		pw_buf_printf(&b, "link del p%u\n", i);
	batch("ip", b.data);
	pw_buf_free(&b);
}

static void check_range(struct pw_nodenet *n, unsigned first, unsigned count, bool present)
{
	char name[16];
	unsigned i;

	for (i = first; i < first + count; i++) {
		snprintf(name, sizeof(name), "p%u", i);
		ck_assert_msg((named(n, name) != NULL) == present, "%s", name);
		snprintf(name, sizeof(name), "q%u", i);
		ck_assert_msg((named(n, name) != NULL) == present, "%s", name);
	}
}

START_TEST(test_many)
{
	struct pw_nodenet *n;

	NEED_NETNS();
	n = open_nodenet(true);
	batch_add(0, MANY);
	ck_assert_int_eq(read_all(n), 2 * MANY);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 1 + 2 * MANY);
	check_range(n, 0, MANY, true);
	assert_matches_kernel(n);

	batch_del(0, MANY);
	ck_assert_int_eq(read_all(n), 2 * MANY);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 1);
	check_range(n, 0, MANY, false);
	pw_nodenet_close(n);
}
END_TEST

/* ------------------------------------------------------------ addresses */

START_TEST(test_addresses)
{
	struct pw_nodenet *n;
	int br0, br1;

	NEED_NETNS();
	SH_OK("ip link add br0 type bridge && ip link add br1 type bridge");
	SH_OK("ip link add veth0 type veth peer name eth0");
	SH_OK("ip link set br0 up && ip link set br1 up && ip link set veth0 up");
	br0 = ifindex("br0");
	br1 = ifindex("br1");
	n = open_nodenet(true);
	ck_assert_int_eq(holding(VIEW(n), "198.18.7.7"), 0);

	SH_OK("ip addr add 198.18.0.1/16 dev br0");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "198.18.7.7"), br0);
	ck_assert_int_eq(holding(VIEW(n), "198.19.7.7"), 0);
	/* The most specific prefix of a bridge wins. */
	SH_OK("ip addr add 198.18.7.1/24 dev br1");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "198.18.7.7"), br1);
	ck_assert_int_eq(holding(VIEW(n), "198.18.8.8"), br0);
	/* A veth's prefix never counts, however specific. */
	SH_OK("ip addr add 198.18.7.129/25 dev veth0");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "198.18.7.200"), br1);
	SH_OK("ip addr add 198.19.0.1/24 dev veth0");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "198.19.0.9"), 0);

	SH_OK("ip -6 addr add fd00:18::1/64 dev br0 nodad");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "fd00:18::7"), br0);
	SH_OK("ip -6 addr add fd00:18::101/120 dev br1 nodad");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "fd00:18::150"), br1);
	ck_assert_int_eq(holding(VIEW(n), "fd00:18::7"), br0);
	SH_OK("ip -6 addr add fd00:18::181/121 dev veth0 nodad");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "fd00:18::190"), br1);

	/* Removals. */
	SH_OK("ip addr del 198.18.7.1/24 dev br1");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "198.18.7.7"), br0);
	ck_assert_int_eq(holding(VIEW(n), "198.18.7.200"), br0);
	SH_OK("ip -6 addr del fd00:18::1/64 dev br0");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "fd00:18::7"), 0);
	ck_assert_int_eq(holding(VIEW(n), "fd00:18::150"), br1);
	SH_OK("ip -6 addr del fd00:18::101/120 dev br1");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "fd00:18::150"), 0);
	SH_OK("ip addr del 198.18.0.1/16 dev br0");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(holding(VIEW(n), "198.18.7.7"), 0);

	/* A bridge that goes away takes its prefixes along. */
	SH_OK("ip addr add 198.18.9.1/24 dev br1");
	read_all(n);
	ck_assert_int_eq(holding(VIEW(n), "198.18.9.9"), br1);
	SH_OK("ip link del br1");
	read_all(n);
	ck_assert_int_eq(holding(VIEW(n), "198.18.9.9"), 0);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

/* ---------------------------------------------------------------- routes */

START_TEST(test_host_routes)
{
	struct pw_nodenet *n;
	int va, vc;

	NEED_NETNS();
	SH_OK("ip link add va type veth peer name vb && ip link add vc type veth peer name vd");
	SH_OK("ip link set va up && ip link set vc up");
	SH_OK("ip addr add 198.18.1.1/24 dev va && ip addr add 198.18.2.1/24 dev vc");
	SH_OK("ip -6 addr add fd00:1::1/64 dev va nodad && ip -6 addr add fd00:2::1/64 dev vc nodad");
	va = ifindex("va");
	vc = ifindex("vc");
	n = open_nodenet(true);

	SH_OK("ip route add 198.18.0.5/32 dev va");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), va);
	SH_OK("ip -6 route add fd00::5/128 dev vc");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::5"), vc);
	assert_matches_kernel(n);

	/* None of these is how a CNI routes to a pod. */
	SH_OK("ip route add 198.18.0.6/32 via 198.18.1.2 dev va");
	SH_OK("ip route add 198.18.0.7/32 dev va table 100");
	SH_OK("ip route add 198.18.4.0/24 dev va");
	SH_OK("ip route add 198.18.0.8/32 nexthop dev va nexthop dev vc");
	SH_OK("ip route add blackhole 198.18.0.10/32");
	SH_OK("ip route add unreachable 198.18.0.11/32");
	SH_OK("ip -6 route add fd00::6/128 via fd00:1::2 dev va");
	SH_OK("ip -6 route add fd00::7/128 dev va table 100");
	SH_OK("ip -6 route add fd00:4::/64 dev va");
	SH_OK("ip -6 route add fd00::8/128 nexthop via fd00:1::2 dev va nexthop via fd00:2::2 dev vc");
	ck_assert_int_eq(read_all(n), 0);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.6"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.7"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.4.0"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.8"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.10"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::6"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::7"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::8"), 0);
	/* Nor are the kernel's own local routes. */
	ck_assert_int_eq(route_to(VIEW(n), "198.18.1.1"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "fd00:1::1"), 0);
	assert_matches_kernel(n);
	/* And their removal is no news either. */
	SH_OK("ip route del 198.18.0.6/32");
	SH_OK("ip route del 198.18.0.7/32 table 100");
	SH_OK("ip route del 198.18.0.8/32");
	SH_OK("ip -6 route del fd00::8/128");
	SH_OK("ip -6 route del fd00::6/128");
	ck_assert_int_eq(read_all(n), 0);

	SH_OK("ip route del 198.18.0.5/32 dev va");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), 0);
	SH_OK("ip -6 route del fd00::5/128 dev vc");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::5"), 0);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

START_TEST(test_route_lowest_metric)
{
	struct pw_nodenet *n;
	int va, vc;

	NEED_NETNS();
	SH_OK("ip link add va type veth peer name vb && ip link add vc type veth peer name vd");
	SH_OK("ip link set va up && ip link set vc up");
	va = ifindex("va");
	vc = ifindex("vc");
	n = open_nodenet(true);

	SH_OK("ip route add 198.18.0.5/32 dev va metric 20");
	SH_OK("ip route add 198.18.0.5/32 dev vc metric 10");
	SH_OK("ip -6 route add fd00::5/128 dev vc metric 1024");
	SH_OK("ip -6 route add fd00::5/128 dev va metric 512");
	ck_assert_int_eq(read_all(n), 4);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), vc);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::5"), va);
	assert_matches_kernel(n);

	SH_OK("ip route del 198.18.0.5/32 dev vc metric 10");
	SH_OK("ip -6 route del fd00::5/128 dev va metric 512");
	ck_assert_int_eq(read_all(n), 2);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), va);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::5"), vc);
	SH_OK("ip route del 198.18.0.5/32 dev va metric 20");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), 0);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

/*
 * "ip route replace", which is how many CNIs write a pod's route: the
 * kernel announces the new route and says nothing of the one it replaced.
 */
START_TEST(test_route_replace)
{
	struct pw_nodenet *n;
	int va, vc;

	NEED_NETNS();
	SH_OK("ip link add va type veth peer name vb && ip link add vc type veth peer name vd");
	SH_OK("ip link set va up && ip link set vc up");
	va = ifindex("va");
	vc = ifindex("vc");
	n = open_nodenet(true);

	SH_OK("ip route add 198.18.0.5/32 dev va");
	SH_OK("ip -6 route add fd00::5/128 dev va");
	ck_assert_int_eq(read_all(n), 2);
	/* The same route again changes nothing. */
	SH_OK("ip route replace 198.18.0.5/32 dev va");
	SH_OK("ip -6 route replace fd00::5/128 dev va");
	ck_assert_int_eq(read_all(n), 0);

	SH_OK("ip route replace 198.18.0.5/32 dev vc");
	SH_OK("ip -6 route replace fd00::5/128 dev vc");
	ck_assert_int_ge(read_all(n), 2);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), vc);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::5"), vc);
	assert_matches_kernel(n);
	/* A route of another metric replaces nothing: both stay. */
	SH_OK("ip route replace 198.18.0.5/32 dev va metric 5");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), vc);
	SH_OK("ip route del 198.18.0.5/32 dev vc");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), va);

	SH_OK("ip route del 198.18.0.5/32");
	SH_OK("ip -6 route del fd00::5/128");
	ck_assert_int_ge(read_all(n), 2);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::5"), 0);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

/* The kernel drops a down link's IPv4 routes without a word. */
START_TEST(test_route_link_down)
{
	struct pw_nodenet *n;
	int va, vc;

	NEED_NETNS();
	SH_OK("ip link add va type veth peer name vb && ip link add vc type veth peer name vd");
	SH_OK("ip link set va up && ip link set vc up");
	SH_OK("ip route add 198.18.0.5/32 dev va && ip -6 route add fd00::5/128 dev va");
	SH_OK("ip route add 198.18.0.6/32 dev vc");
	va = ifindex("va");
	vc = ifindex("vc");
	n = open_nodenet(true);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), va);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::5"), va);

	SH_OK("ip link set va down");
	ck_assert_int_ge(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::5"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.6"), vc);
	assert_matches_kernel(n);
	/* Up again, they do not come back, in the kernel either. */
	SH_OK("ip link set va up");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), 0);
	assert_matches_kernel(n);
	/* A carrier lost is not a link down: the routes stay. */
	SH_OK("ip link set vd up && ip link set vd down");
	read_all(n);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.6"), vc);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

/* Nor does it say a word when a link's last IPv4 address goes and takes them. */
START_TEST(test_route_last_address)
{
	struct pw_nodenet *n;
	int va;

	NEED_NETNS();
	SH_OK("ip link add va type veth peer name vb && ip link set va up");
	SH_OK("ip addr add 198.18.1.1/24 dev va && ip addr add 198.18.2.1/24 dev va");
	SH_OK("ip -6 addr add fd00:1::1/64 dev va nodad");
	SH_OK("ip route add 198.18.0.6/32 dev va && ip -6 route add fd00::6/128 dev va");
	va = ifindex("va");
	n = open_nodenet(true);

	SH_OK("ip addr del 198.18.1.1/24 dev va");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.6"), va);
	assert_matches_kernel(n);
	SH_OK("ip addr del 198.18.2.1/24 dev va");
	ck_assert_int_ge(read_all(n), 1);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.6"), 0);
	/* IPv6 routes do not hang on IPv4 addresses. */
	ck_assert_int_eq(route_to(VIEW(n), "fd00::6"), va);
	assert_matches_kernel(n);

	/* A link that never had an address keeps its routes (Calico's). */
	SH_OK("ip route add 198.18.0.7/32 dev va");
	SH_OK("ip -6 addr del fd00:1::1/64 dev va");
	read_all(n);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.7"), va);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::6"), va);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

START_TEST(test_deleted_link_loses_everything)
{
	struct pw_nodenet *n;
	int br0, vd;

	NEED_NETNS();
	SH_OK("ip link add br0 type bridge && ip link set br0 up");
	SH_OK("ip link add vd type veth peer name eth0");
	SH_OK("ip link set vd master br0 && ip link set vd up");
	SH_OK("ip addr add 198.18.4.1/24 dev br0");
	SH_OK("ip route add 198.18.0.5/32 dev vd && ip -6 route add fd00::5/128 dev vd");
	SH_OK("ip neigh replace 198.18.4.9 lladdr 02:00:00:00:04:09 dev vd nud permanent");
	SH_OK("ip -6 neigh replace fd00::9 lladdr 02:00:00:00:04:0a dev vd nud permanent");
	SH_OK("bridge fdb add 02:00:00:00:00:01 dev vd master static");
	br0 = ifindex("br0");
	vd = ifindex("vd");
	n = open_nodenet(true);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), vd);
	ck_assert_str_eq(neighbour(VIEW(n), vd, "198.18.4.9"), "02:00:00:00:04:09");
	ck_assert_str_eq(neighbour(VIEW(n), vd, "fd00::9"), "02:00:00:00:04:0a");
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:01"), vd);

	SH_OK("ip link del vd");
	ck_assert_int_ge(read_all(n), 2);
	ck_assert_ptr_eq(pw_node_view_link(VIEW(n), vd), NULL);
	ck_assert_ptr_eq(named(n, "eth0"), NULL);
	ck_assert_int_eq(route_to(VIEW(n), "198.18.0.5"), 0);
	ck_assert_int_eq(route_to(VIEW(n), "fd00::5"), 0);
	ck_assert_str_eq(neighbour(VIEW(n), vd, "198.18.4.9"), "");
	ck_assert_str_eq(neighbour(VIEW(n), vd, "fd00::9"), "");
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:01"), 0);
	ck_assert_int_eq(holding(VIEW(n), "198.18.4.7"), br0);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

/* ------------------------------------------------------------ neighbours */

START_TEST(test_neighbours)
{
	struct pw_nodenet *n;
	int cni0;

	NEED_NETNS();
	SH_OK("ip link add cni0 type bridge && ip link set cni0 up");
	cni0 = ifindex("cni0");
	n = open_nodenet(true);

	SH_OK("ip neigh replace 198.18.0.5 lladdr 02:00:00:00:00:05 dev cni0 nud permanent");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.0.5"), "02:00:00:00:00:05");
	/* Another link's neighbour of the same address is another one. */
	ck_assert_str_eq(neighbour(VIEW(n), 1, "198.18.0.5"), "");

	SH_OK("ip neigh replace 198.18.0.5 lladdr 02:00:00:00:00:06 dev cni0 nud permanent");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.0.5"), "02:00:00:00:00:06");

	SH_OK("ip -6 neigh replace fd00::5 lladdr 02:00:00:00:00:15 dev cni0 nud permanent");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "fd00::5"), "02:00:00:00:00:15");

	SH_OK("ip neigh del 198.18.0.5 dev cni0");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.0.5"), "");
	SH_OK("ip -6 neigh del fd00::5 dev cni0");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "fd00::5"), "");

	/* A link going down forgets its neighbours, permanent ones too. */
	SH_OK("ip neigh replace 198.18.0.7 lladdr 02:00:00:00:00:07 dev cni0 nud permanent");
	read_all(n);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.0.7"), "02:00:00:00:00:07");
	SH_OK("ip link set cni0 down");
	read_all(n);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.0.7"), "");
	pw_nodenet_close(n);
}
END_TEST

/* REACHABLE to STALE and the like: the kernel repeating itself. */
START_TEST(test_neighbour_state_is_not_a_change)
{
	struct pw_nodenet *n;
	int cni0;

	NEED_NETNS();
	SH_OK("ip link add cni0 type bridge && ip link set cni0 up");
	cni0 = ifindex("cni0");
	n = open_nodenet(true);

	SH_OK("ip neigh replace 198.18.0.6 lladdr 02:00:00:00:00:06 dev cni0 nud reachable");
	ck_assert_int_eq(read_all(n), 1);
	SH_OK("ip neigh replace 198.18.0.6 lladdr 02:00:00:00:00:06 dev cni0 nud stale");
	SH_OK("ip neigh replace 198.18.0.6 lladdr 02:00:00:00:00:06 dev cni0 nud delay");
	SH_OK("ip neigh replace 198.18.0.6 lladdr 02:00:00:00:00:06 dev cni0 nud permanent");
	SH_OK("ip neigh replace 198.18.0.6 lladdr 02:00:00:00:00:06 dev cni0 nud noarp");
	SH_OK("ip neigh replace 198.18.0.6 lladdr 02:00:00:00:00:06 dev cni0 nud reachable");
	ck_assert_int_eq(read_all(n), 0);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.0.6"), "02:00:00:00:00:06");
	/* A new MAC in whatever state is news. */
	SH_OK("ip neigh replace 198.18.0.6 lladdr 02:00:00:00:00:07 dev cni0 nud stale");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.0.6"), "02:00:00:00:00:07");
	pw_nodenet_close(n);
}
END_TEST

/* ----------------------------------------------------- forwarding entries */

START_TEST(test_fdb)
{
	struct pw_nodenet *n;
	int br0, pa, pb;

	NEED_NETNS();
	SH_OK("ip link add br0 type bridge && ip link set br0 up");
	SH_OK("ip link add pa type veth peer name qa && ip link add pb type veth peer name qb");
	SH_OK("ip link set pa master br0 && ip link set pb master br0");
	SH_OK("ip link set pa up && ip link set pb up");
	br0 = ifindex("br0");
	pa = ifindex("pa");
	pb = ifindex("pb");
	n = open_nodenet(true);

	SH_OK("bridge fdb add 02:00:00:00:00:01 dev pa master static");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:01"), pa);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:02"), 0);
	/* The port, and only for its own bridge. */
	ck_assert_int_eq(fdb_port(VIEW(n), pa, "02:00:00:00:00:01"), 0);

	/*
	 * A bridge holds one port per MAC (and VLAN): the entry moves, the
	 * kernel says so for the new port only, and the view, having seen
	 * the MAC on both, cannot tell.
	 */
	SH_OK("bridge fdb replace 02:00:00:00:00:01 dev pb master static");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:01"), -1);
	/* Once the bridge forgets it, no port has it. */
	SH_OK("bridge fdb del 02:00:00:00:00:01 dev pb master");
	ck_assert_int_ge(read_all(n), 1);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:01"), 0);

	SH_OK("bridge fdb add 02:00:00:00:00:03 dev pb master static");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:03"), pb);
	SH_OK("bridge fdb del 02:00:00:00:00:03 dev pb master");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:03"), 0);

	/* Permanent entries are the bridge's own, not something it learned. */
	SH_OK("bridge fdb add 02:00:00:00:00:04 dev pa master permanent");
	ck_assert_int_eq(read_all(n), 0);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:04"), 0);
	SH_OK("bridge fdb add 02:00:00:00:00:05 dev pa master static");
	ck_assert_int_eq(read_all(n), 1);
	SH_OK("bridge fdb replace 02:00:00:00:00:05 dev pa master permanent");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:05"), 0);
	/* The ports' own addresses, and the bridge's, are permanent too. */
	SH_OK("ip link set pa address 02:00:00:00:00:aa");
	read_all(n);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:aa"), 0);

	/* A port leaving the bridge takes its entries along. */
	SH_OK("bridge fdb add 02:00:00:00:00:06 dev pa master static");
	read_all(n);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:06"), pa);
	SH_OK("ip link set pa nomaster");
	ck_assert_int_ge(read_all(n), 1);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:06"), 0);
	assert_matches_kernel(n);
	pw_nodenet_close(n);
}
END_TEST

/* A VXLAN device's own entries (NTF_SELF) are where to tunnel, not what a bridge learned. */
START_TEST(test_fdb_vxlan_self)
{
	struct pw_nodenet *n;
	int br0, vx0;

	NEED_NETNS();
	if (pw_test_run("ip link add vx0 type vxlan id 42 dstport 4789 local 198.19.0.1 "
			"nolearning") != 0) {
		printf("SKIP: no vxlan links\n");
		return;
	}
	SH_OK("ip link add br0 type bridge && ip link set vx0 master br0");
	SH_OK("ip link set br0 up && ip link set vx0 up");
	br0 = ifindex("br0");
	vx0 = ifindex("vx0");
	n = open_nodenet(true);

	SH_OK("bridge fdb append 00:00:00:00:00:00 dev vx0 dst 198.19.0.2");
	SH_OK("bridge fdb append 00:00:00:00:00:00 dev vx0 dst 198.19.0.3");
	SH_OK("bridge fdb add 02:00:00:00:00:09 dev vx0 dst 198.19.0.2");
	ck_assert_int_eq(read_all(n), 0);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "00:00:00:00:00:00"), 0);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:09"), 0);

	/* What the bridge holds for the VXLAN port stands, whatever the device says. */
	SH_OK("bridge fdb add 02:00:00:00:00:0a dev vx0 master static");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:0a"), vx0);
	SH_OK("bridge fdb add 02:00:00:00:00:0a dev vx0 dst 198.19.0.4");
	ck_assert_int_eq(read_all(n), 0);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:0a"), vx0);
	SH_OK("bridge fdb del 02:00:00:00:00:0a dev vx0 dst 198.19.0.4");
	SH_OK("bridge fdb del 00:00:00:00:00:00 dev vx0 dst 198.19.0.2");
	ck_assert_int_eq(read_all(n), 0);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:0a"), vx0);
	SH_OK("bridge fdb del 02:00:00:00:00:0a dev vx0 master");
	ck_assert_int_eq(read_all(n), 1);
	ck_assert_int_eq(fdb_port(VIEW(n), br0, "02:00:00:00:00:0a"), 0);
	pw_nodenet_close(n);
}
END_TEST

/* tests/pwprobe, built by "make check" (or "make tests/pwprobe"). */
static char *pwprobe_path(void)
{
	const char *dir = getenv("top_builddir");
	char *path = pw_xasprintf("%s/tests/pwprobe", dir ? dir : ".");

	if (access(path, X_OK) == 0)
		return path;
	free(path);
	return NULL;
}

/*
 * Two pods behind a bridge, as the CNI bridge plugin makes them: what the
 * bridge learns from their frames, and what the node learns when one of
 * them talks to the bridge's address.
 */
START_TEST(test_learning)
{
	static const char *mac_a = "02:00:00:00:0a:02", *mac_b = "02:00:00:00:0a:03";
	struct pw_nodenet *n;
	char *probe;
	int go[2], cni0, vpa, vpb;
	pid_t pods[2];

	NEED_NETNS();
	probe = pwprobe_path();
	if (!probe) {
		printf("SKIP: no tests/pwprobe (make tests/pwprobe)\n");
		return;
	}
	ck_assert_int_eq(pipe(go), 0);
	pods[0] = pod_start(go);
	pods[1] = pod_start(go);
	/* Its own address, or it takes a port's and flushes its neighbours when that goes. */
	SH_OK("ip link add cni0 address 02:00:00:00:0a:01 type bridge && ip link set cni0 up");
	SH_OK("ip addr add 198.18.10.1/24 dev cni0");
	SH_OK("ip link add vpa type veth peer name eth0 address %s netns %d", mac_a, (int)pods[0]);
	SH_OK("ip link add vpb type veth peer name eth0 address %s netns %d", mac_b, (int)pods[1]);
	SH_OK("ip link set vpa master cni0 && ip link set vpb master cni0");
	SH_OK("ip link set vpa up && ip link set vpb up");
	SH_OK("nsenter -t %d -n sh -c 'ip addr add 198.18.10.2/24 dev eth0 && ip link set eth0 up'",
	      (int)pods[0]);
	SH_OK("nsenter -t %d -n sh -c 'ip addr add 198.18.10.3/24 dev eth0 && ip link set eth0 up'",
	      (int)pods[1]);
	cni0 = ifindex("cni0");
	vpa = ifindex("vpa");
	vpb = ifindex("vpb");
	n = open_nodenet(true);
	ck_assert_int_eq(fdb_port(VIEW(n), cni0, mac_a), 0);
	ck_assert_int_eq(fdb_port(VIEW(n), cni0, mac_b), 0);

	/* Pod to pod: the bridge learns both, each on its own port. */
	ck_assert_int_eq(pw_test_run("nsenter -t %d -n %s probe --timeout-ms 2000 icmp:198.18.10.3 "
				     "| grep -q ' ok$'", (int)pods[0], probe), 0);
	ck_assert_int_ge(read_all(n), 2);
	ck_assert_int_eq(fdb_port(VIEW(n), cni0, mac_a), vpa);
	ck_assert_int_eq(fdb_port(VIEW(n), cni0, mac_b), vpb);
	/* The node only overheard that: no neighbour yet. */
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.10.2"), "");

	/* Pod to node: the node learns the pod's address. */
	ck_assert_int_eq(pw_test_run("nsenter -t %d -n %s probe --timeout-ms 2000 icmp:198.18.10.1 "
				     "| grep -q ' ok$'", (int)pods[0], probe), 0);
	ck_assert_int_ge(read_all(n), 1);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.10.2"), mac_a);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.10.3"), "");
	ck_assert_int_eq(fdb_port(VIEW(n), cni0, mac_a), vpa);
	assert_matches_kernel(n);

	/*
	 * The pod goes, and its port's entries with it; the node's neighbour
	 * is the bridge's, and ages on its own.
	 */
	SH_OK("ip link del vpa");
	read_all(n);
	ck_assert_int_eq(fdb_port(VIEW(n), cni0, mac_a), 0);
	ck_assert_int_eq(fdb_port(VIEW(n), cni0, mac_b), vpb);
	ck_assert_str_eq(neighbour(VIEW(n), cni0, "198.18.10.2"), "02:00:00:00:0a:02");
	pods_stop(go, pods, 2);
	pw_nodenet_close(n);
	free(probe);
}
END_TEST

/* ---------------------------------------------------------------- ENOBUFS */

/* The smallest queue the kernel allows holds a couple of notifications. */
static void shrink_rcvbuf(int fd)
{
	int tiny = 1;

	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tiny, sizeof(tiny)), 0);
}

/* A bare subscriber with the same tiny queue: proof that events are lost. */
static struct mnl_socket *witness_open(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);

	ck_assert_ptr_ne(nl, NULL);
	shrink_rcvbuf(mnl_socket_get_fd(nl));
	ck_assert_int_eq(mnl_socket_bind(nl, RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE,
					 MNL_SOCKET_AUTOPID), 0);
	return nl;
}

static void witness_saw_enobufs(struct mnl_socket *nl)
{
	static char buf[65536];
	int fd = mnl_socket_get_fd(nl);
	ssize_t got;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	got = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	ck_assert_msg(got < 0 && errno == ENOBUFS,
		      "the tiny queue did not overflow (got %zd, %s)", got, strerror(errno));
	mnl_socket_close(nl);
}

/*
 * What pair i of the ENOBUFS test should look like: p<i> (a veth, q<i> its
 * peer), a host route to 198.18.x.y and fd00::<i>, a neighbour on br0, a
 * forwarding entry of br0 on p<i>.
 */
struct pair_model {
	int ifindex;
	bool present;
	char name[16];
	bool route, route6;
	const char *neigh_mac;	/* "" for none */
	bool fdb;
};

static char *host4(unsigned i)
{
	return pw_xasprintf("198.18.%u.%u", 1 + i / 250, 1 + i % 250);
}

static char *host6(unsigned i)
{
	return pw_xasprintf("fd00::%x", 0x100 + i);
}

static char *neigh_ip(unsigned i)
{
	return pw_xasprintf("198.19.%u.%u", 1 + i / 250, 1 + i % 250);
}

static char *neigh_mac(unsigned i, unsigned round)
{
	return pw_xasprintf("02:00:%02x:00:%02x:%02x", round, i >> 8, i & 0xff);
}

static char *fdb_mac(unsigned i)
{
	return pw_xasprintf("02:01:00:00:%02x:%02x", i >> 8, i & 0xff);
}

static void check_model(struct pw_nodenet *n, const struct pair_model *m, unsigned count, int br0)
{
	const struct pw_node_view *v = VIEW(n);
	unsigned i;

	for (i = 0; i < count; i++) {
		char *h4 = host4(i), *h6 = host6(i), *nip = neigh_ip(i), *fm = fdb_mac(i);
		const struct pw_node_link *l = pw_node_view_link(v, m[i].ifindex);

		ck_assert_msg((l != NULL) == m[i].present, "p%u present", i);
		if (l) {
			ck_assert_str_eq(l->name, m[i].name);
			ck_assert_ptr_eq(named(n, m[i].name), l);
		}
		ck_assert_msg(route_to(v, h4) == (m[i].route ? m[i].ifindex : 0),
			      "route to %s: %d", h4, route_to(v, h4));
		ck_assert_msg(route_to(v, h6) == (m[i].route6 ? m[i].ifindex : 0),
			      "route to %s: %d", h6, route_to(v, h6));
		ck_assert_msg(strcmp(neighbour(v, br0, nip), m[i].neigh_mac) == 0,
			      "neighbour %s: \"%s\", not \"%s\"", nip, neighbour(v, br0, nip),
			      m[i].neigh_mac);
		ck_assert_msg(fdb_port(v, br0, fm) == (m[i].fdb ? m[i].ifindex : 0),
			      "entry %s: %d", fm, fdb_port(v, br0, fm));
		free(h4);
		free(h6);
		free(nip);
		free(fm);
	}
}

#define PAIRS 300

START_TEST(test_enobufs_resync)
{
	struct pair_model *m = pw_xcalloc(PAIRS, sizeof(*m));
	struct pw_buf ip = PW_BUF_INIT, br = PW_BUF_INIT;
	char *macs[PAIRS][2];
	struct mnl_socket *witness;
	struct pw_nodenet *n, *fresh;
	unsigned i;
	int br0;

	NEED_NETNS();
	/*
	 * An address of its own: a bridge that takes its lowest port's
	 * changes it as ports come, and the kernel then flushes its
	 * neighbours (permanent ones too).
	 */
	SH_OK("ip link add br0 address 02:00:00:00:ff:01 type bridge && ip link set br0 up");
	SH_OK("ip addr add 198.19.0.1/16 dev br0");
	SH_OK("ip link add keep0 type veth peer name gone0");
	br0 = ifindex("br0");
	n = open_nodenet(true);
	shrink_rcvbuf(pw_nodenet_fd(n));
	for (i = 0; i < PAIRS; i++) {
		macs[i][0] = neigh_mac(i, 0);
		macs[i][1] = neigh_mac(i, 1);
	}

	/* Overflow: 600 links and their routes and neighbours while nobody reads. */
	witness = witness_open();
	SH_OK("ip link set gone0 name other0");
	for (i = 0; i < PAIRS; i++) {
		char *h4 = host4(i), *h6 = host6(i), *nip = neigh_ip(i), *fm = fdb_mac(i);

		pw_buf_printf(&ip, "link add p%u type veth peer name q%u\n", i, i);
		pw_buf_printf(&ip, "link set p%u up\n", i);
		if (i < 100)
			pw_buf_printf(&ip, "route add %s/32 dev p%u\n", h4, i);
		if (i < 50)
			pw_buf_printf(&ip, "route add %s/128 dev p%u\n", h6, i);
		if (i < 100)
			pw_buf_printf(&ip, "neigh replace %s lladdr %s dev br0 nud permanent\n",
				      nip, macs[i][0]);
		if (i >= 100 && i < 150) {
			pw_buf_printf(&ip, "link set p%u master br0\n", i);
			pw_buf_printf(&br, "fdb add %s dev p%u master static\n", fm, i);
		}
		free(h4);
		free(h6);
		free(nip);
		free(fm);
	}
	batch("ip", ip.data);
	batch("bridge", br.data);
	witness_saw_enobufs(witness);
	for (i = 0; i < PAIRS; i++) {
		snprintf(m[i].name, sizeof(m[i].name), "p%u", i);
		m[i].ifindex = ifindex(m[i].name);
		m[i].present = true;
		m[i].route = i < 100;
		m[i].route6 = i < 50;
		m[i].neigh_mac = i < 100 ? macs[i][0] : "";
		m[i].fdb = i >= 100 && i < 150;
	}

	ck_assert_int_ge(read_all(n), 1);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 1 + 1 + 2 + 2 * PAIRS);
	ck_assert_ptr_ne(named(n, "keep0"), NULL);
	ck_assert_ptr_ne(named(n, "other0"), NULL);
	ck_assert_ptr_eq(named(n, "gone0"), NULL);
	check_range(n, 0, PAIRS, true);
	check_model(n, m, PAIRS, br0);
	assert_matches_kernel(n);

	/*
	 * Again with removals, changes and what the kernel does silently
	 * (routes of links gone down) mixed.
	 */
	witness = witness_open();
	pw_buf_reset(&ip);
	pw_buf_reset(&br);
	for (i = 0; i < PAIRS; i++) {
		char *h4 = host4(i), *nip = neigh_ip(i);

		if (i < 40)
			pw_buf_printf(&ip, "link del p%u\n", i);
		else if (i < 70)
			pw_buf_printf(&ip, "link set p%u down\n", i);
		if (i >= 40 && i < 50)
			pw_buf_printf(&ip, "neigh replace %s lladdr %s dev br0 nud permanent\n",
				      nip, macs[i][1]);
		else if (i >= 50 && i < 60)
			pw_buf_printf(&ip, "neigh del %s dev br0\n", nip);
		if (i >= 150 && i < 200)
			pw_buf_printf(&ip, "route add %s/32 dev p%u\n", h4, i);
		if (i >= 100 && i < 110)
			pw_buf_printf(&ip, "link set p%u nomaster\n", i);
		free(h4);
		free(nip);
	}
	/* A link must be down to be renamed. */
	pw_buf_puts(&ip, "link set p200 down\nlink set p200 name r200\n");
	pw_buf_puts(&ip, "link set q201 name p201peer\n");
	pw_buf_puts(&ip, "addr add 198.19.0.2/24 dev br0\n");
	pw_buf_puts(&ip, "addr del 198.19.0.1/16 dev br0\n");
	batch("ip", ip.data);
	witness_saw_enobufs(witness);
	for (i = 0; i < PAIRS; i++) {
		if (i < 40) {
			m[i].present = false;
			m[i].route = m[i].route6 = false;
			/* The neighbours were br0's, not the deleted link's. */
		} else if (i < 70) {
			m[i].route = m[i].route6 = false;
		}
		if (i >= 40 && i < 50)
			m[i].neigh_mac = macs[i][1];
		else if (i >= 50 && i < 60)
			m[i].neigh_mac = "";
		if (i >= 150 && i < 200)
			m[i].route = true;
		if (i >= 100 && i < 110)
			m[i].fdb = false;
	}
	snprintf(m[200].name, sizeof(m[200].name), "r200");

	ck_assert_int_ge(read_all(n), 1);
	check_range(n, 0, 40, false);
	check_range(n, 40, 160, true);
	check_range(n, 202, PAIRS - 202, true);
	ck_assert_ptr_eq(named(n, "p200"), NULL);
	ck_assert_ptr_eq(named(n, "q201"), NULL);
	ck_assert_ptr_ne(named(n, "p201peer"), NULL);
	ck_assert_ptr_ne(named(n, "q200"), NULL);
	ck_assert_uint_eq(pw_node_view_link_count(VIEW(n)), 1 + 1 + 2 + 2 * (PAIRS - 40));
	check_model(n, m, PAIRS, br0);
	ck_assert_int_eq(holding(VIEW(n), "198.19.0.9"), br0);
	ck_assert_int_eq(holding(VIEW(n), "198.19.5.5"), 0);
	assert_matches_kernel(n);

	/* A fresh dump agrees on everything the model names, too. */
	fresh = open_nodenet(false);
	check_model(fresh, m, PAIRS, br0);
	pw_nodenet_close(fresh);

	/* Given room again, it follows one change at a time. */
	ck_assert_int_eq(setsockopt(pw_nodenet_fd(n), SOL_SOCKET, SO_RCVBUF, &(int){ 1 << 20 },
				    sizeof(int)), 0);
	ck_assert_int_eq(read_all(n), 0);
	/* p250 goes down (it was up), then it and its peer go. */
	SH_OK("ip link del p250");
	ck_assert_int_eq(read_all(n), 3);
	ck_assert_ptr_eq(named(n, "p250"), NULL);

	for (i = 0; i < PAIRS; i++) {
		free(macs[i][0]);
		free(macs[i][1]);
	}
	pw_buf_free(&ip);
	pw_buf_free(&br);
	free(m);
	pw_nodenet_close(n);
}
END_TEST

/* ---------------------------------------------------------------- main */

static Suite *nodenet_suite(void)
{
	Suite *s = suite_create("nodenet");
	TCase *tc;

	tc = tcase_create("view");
	tcase_add_test(tc, test_view_setters_report_changes);
	tcase_add_test(tc, test_view_del_link_cascades);
	tcase_add_test(tc, test_view_link_at_sorted);
	tcase_add_test(tc, test_view_link_named_after_rename);
	tcase_add_test(tc, test_view_routes);
	tcase_add_test(tc, test_view_bridge_holding);
	tcase_add_test(tc, test_view_fdb_port);
	suite_add_tcase(s, tc);

	tc = tcase_create("links");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_initial_dump);
	tcase_add_test(tc, test_socket_flags);
	tcase_add_test(tc, test_follow_false);
	tcase_add_test(tc, test_appear_disappear);
	tcase_add_test(tc, test_update_is_not_a_change);
	tcase_add_test(tc, test_rename);
	tcase_add_test(tc, test_kind_and_master);
	tcase_add_test(tc, test_namespace_move);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("addresses and routes");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_addresses);
	tcase_add_test(tc, test_host_routes);
	tcase_add_test(tc, test_route_lowest_metric);
	tcase_add_test(tc, test_route_replace);
	tcase_add_test(tc, test_route_link_down);
	tcase_add_test(tc, test_route_last_address);
	tcase_add_test(tc, test_deleted_link_loses_everything);
	suite_add_tcase(s, tc);

	tc = tcase_create("neighbours and bridges");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_neighbours);
	tcase_add_test(tc, test_neighbour_state_is_not_a_change);
	tcase_add_test(tc, test_fdb);
	tcase_add_test(tc, test_fdb_vxlan_self);
	tcase_add_test(tc, test_learning);
	suite_add_tcase(s, tc);

	tc = tcase_create("resync");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_enobufs_resync);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	pw_test_path_with_sbin();

	sr = srunner_create(nodenet_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
