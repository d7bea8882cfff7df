/*
 * engine/links.c against a real kernel, and lib/sdnotify.c against sockets
 * of our own.
 *
 * Every links test first moves into a new network namespace: Check runs
 * each test in a forked child, so the namespace and the veths made in it
 * die with that child and the machine's own interfaces are never seen.
 * Without root those tests print SKIP and pass. The sd_notify tests need
 * nothing special.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>		/* unshare, CLONE_NEWNET: _GNU_SOURCE from config.h */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>

#include "engine/links.h"
#include "tests/testlib.h"
#include "lib/sdnotify.h"
#include "lib/strmap.h"
#include "lib/util.h"

/* ---------------------------------------------------------------- helpers */

static bool enter_netns(void)
{
	return pw_test_enter_netns("ip -V", "iproute2 (ip)");
}

#define NEED_NETNS() do { if (!enter_netns()) return; } while (0)


#define SH_OK(...) ck_assert_int_eq(pw_test_run(__VA_ARGS__), 0)

/* Feeds text to "ip -batch", which makes hundreds of links in one process. */
static void ip_batch(const char *text)
{
	char path[] = "/tmp/pw-links-batch.XXXXXX";
	int fd = mkstemp(path);
	size_t len = strlen(text);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	ck_assert_msg(pw_test_run("ip -batch %s", path) == 0, "ip -batch failed");
	unlink(path);
}

/*
 * What the callback saw. Each event is checked against a model of the
 * present names as it arrives: "up" only for an absent name, "down" only
 * for a present one, and pw_links_present() already agreeing.
 */
struct seen {
	struct pw_links *l;
	struct pw_strmap *model;	/* name -> (void *)1 */
	struct pw_buf log;		/* "+name -name ..." in order */
	unsigned ups, downs;
};

static void seen_init(struct seen *s, struct pw_links *l)
{
	s->l = l;
	s->model = pw_strmap_new();
	pw_buf_init(&s->log);
	s->ups = s->downs = 0;
}

static void seen_free(struct seen *s)
{
	pw_strmap_free(s->model);
	pw_buf_free(&s->log);
}

static void on_change(const char *name, bool up, void *ctx)
{
	struct seen *s = ctx;

	ck_assert_msg(pw_links_present(s->l, name) == up,
		      "%s reported %s but pw_links_present says otherwise",
		      name, up ? "up" : "down");
	if (up) {
		ck_assert_msg(pw_strmap_put(s->model, name, (void *)1) == NULL,
			      "%s reported up twice", name);
		s->ups++;
	} else {
		ck_assert_msg(pw_strmap_del(s->model, name) != NULL,
			      "%s reported down while absent", name);
		s->downs++;
	}
	pw_buf_printf(&s->log, "%s%c%s", s->log.len ? " " : "", up ? '+' : '-', name);
}

/*
 * Reads until the socket stays quiet. Notifications are queued before the
 * "ip" that caused them exits, so the first read normally gets them all;
 * the wait covers a slow resync.
 */
static int read_all(struct pw_links *l, struct seen *s)
{
	struct pollfd p = { pw_links_fd(l), POLLIN, 0 };
	int total = 0, r;

	for (;;) {
		r = pw_links_read(l, on_change, s);
		ck_assert_msg(r >= 0, "pw_links_read: %s", strerror(-r));
		total += r;
		r = poll(&p, 1, 100);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
	}
	return total;
}

/* Opens on "cali" with the model seeded from the initial dump. */
static struct pw_links *open_links(const char *prefix)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_links *l = pw_links_open(prefix, &err);

	ck_assert_msg(l != NULL, "pw_links_open: %s", pw_buf_str(&err));
	pw_buf_free(&err);
	return l;
}

static void check_log(struct seen *s, const char *want)
{
	ck_assert_str_eq(pw_buf_str(&s->log), want);
	pw_buf_reset(&s->log);
}

/* ---------------------------------------------------------------- links */

START_TEST(test_initial_dump)
{
	struct pw_links *l;
	struct seen s;

	NEED_NETNS();
	SH_OK("ip link add cali0123456789a type veth peer name other0");
	SH_OK("ip link add califfffffffff1 type veth peer name eth9");
	SH_OK("ip link set cali0123456789a up");

	l = open_links("cali");
	ck_assert_uint_eq(pw_links_count(l), 2);
	ck_assert(pw_links_present(l, "cali0123456789a"));
	ck_assert(pw_links_present(l, "califfffffffff1"));
	ck_assert(!pw_links_present(l, "other0"));
	ck_assert(!pw_links_present(l, "eth9"));
	ck_assert(!pw_links_present(l, "lo"));
	ck_assert(!pw_links_present(l, "cali"));

	/* What the dump found is the starting state, not news. */
	seen_init(&s, l);
	ck_assert_int_eq(read_all(l, &s), 0);
	check_log(&s, "");
	seen_free(&s);
	pw_links_close(l);
}
END_TEST

START_TEST(test_socket_flags)
{
	struct pw_links *l;
	int fd;

	NEED_NETNS();
	l = open_links("cali");
	fd = pw_links_fd(l);
	ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
	/* Nothing pending: returns at once instead of blocking. */
	ck_assert_int_eq(pw_links_read(l, NULL, NULL), 0);
	pw_links_close(l);
	pw_links_close(NULL);
}
END_TEST

START_TEST(test_appear_disappear)
{
	struct pw_links *l;
	struct seen s;

	NEED_NETNS();
	l = open_links("cali");
	seen_init(&s, l);
	ck_assert_uint_eq(pw_links_count(l), 0);

	SH_OK("ip link add cali0123456789a type veth peer name cali0123456789b");
	ck_assert_int_eq(read_all(l, &s), 2);
	ck_assert_uint_eq(s.ups, 2);
	ck_assert_uint_eq(pw_links_count(l), 2);
	ck_assert(pw_links_present(l, "cali0123456789a"));
	ck_assert(pw_links_present(l, "cali0123456789b"));

	/* Deleting one end of a veth takes the other with it. */
	SH_OK("ip link del cali0123456789a");
	ck_assert_int_eq(read_all(l, &s), 2);
	ck_assert_uint_eq(s.downs, 2);
	ck_assert_uint_eq(pw_links_count(l), 0);
	ck_assert_uint_eq(pw_strmap_count(s.model), 0);
	seen_free(&s);
	pw_links_close(l);
}
END_TEST

START_TEST(test_prefix_filter)
{
	struct pw_links *l, *all;
	struct seen s;

	NEED_NETNS();
	l = open_links("cali");
	seen_init(&s, l);

	SH_OK("ip link add other1 type veth peer name eth1");
	SH_OK("ip link add xcali1 type veth peer name calix");
	SH_OK("ip link add Cali1 type veth peer name ca");
	ck_assert_int_eq(read_all(l, &s), 1);
	check_log(&s, "+calix");
	ck_assert_uint_eq(pw_links_count(l), 1);

	SH_OK("ip link del other1");
	SH_OK("ip link del Cali1");
	ck_assert_int_eq(read_all(l, &s), 0);
	SH_OK("ip link del xcali1");
	ck_assert_int_eq(read_all(l, &s), 1);
	check_log(&s, "-calix");
	seen_free(&s);
	pw_links_close(l);

	/* An empty prefix tracks everything, loopback included. */
	all = open_links("");
	ck_assert(pw_links_present(all, "lo"));
	ck_assert_uint_eq(pw_links_count(all), 1);
	pw_links_close(all);
}
END_TEST

START_TEST(test_update_is_not_a_change)
{
	struct pw_links *l;
	struct seen s;

	NEED_NETNS();
	l = open_links("cali");
	seen_init(&s, l);
	SH_OK("ip link add cali1 type veth peer name cali2");
	ck_assert_int_eq(read_all(l, &s), 2);

	/* Each of these sends an RTM_NEWLINK for a link we know. */
	SH_OK("ip link set cali1 up");
	SH_OK("ip link set cali2 up");
	SH_OK("ip link set cali1 mtu 1400");
	SH_OK("ip link set cali2 address 02:00:00:00:00:02");
	SH_OK("ip link set cali1 down");
	SH_OK("ip link set cali1 alias pod-a");
	ck_assert_int_eq(read_all(l, &s), 0);
	ck_assert_uint_eq(s.ups, 2);
	ck_assert_uint_eq(s.downs, 0);
	ck_assert_uint_eq(pw_links_count(l), 2);
	seen_free(&s);
	pw_links_close(l);
}
END_TEST

START_TEST(test_rename)
{
	struct pw_links *l;
	struct seen s;

	NEED_NETNS();
	SH_OK("ip link add caliA type veth peer name peer0");
	l = open_links("cali");
	seen_init(&s, l);
	pw_strmap_put(s.model, "caliA", (void *)1);

	/* A link must be down to be renamed; a new veth is. */
	SH_OK("ip link set caliA name caliB");
	ck_assert_int_eq(read_all(l, &s), 2);
	check_log(&s, "-caliA +caliB");

	SH_OK("ip link set caliB name foo0");
	ck_assert_int_eq(read_all(l, &s), 1);
	check_log(&s, "-caliB");

	SH_OK("ip link set foo0 name caliC");
	SH_OK("ip link set peer0 name caliD");
	ck_assert_int_eq(read_all(l, &s), 2);
	check_log(&s, "+caliC +caliD");
	ck_assert_uint_eq(pw_links_count(l), 2);
	ck_assert(!pw_links_present(l, "caliA"));
	ck_assert(!pw_links_present(l, "caliB"));

	/* The old name can come back on another link. */
	SH_OK("ip link add caliA type veth peer name peer1");
	ck_assert_int_eq(read_all(l, &s), 1);
	check_log(&s, "+caliA");
	seen_free(&s);
	pw_links_close(l);
}
END_TEST

/*
 * A child in a namespace of its own, as a pod would be: links moved there
 * leave ours with an RTM_DELLINK, and come back with an RTM_NEWLINK.
 */
START_TEST(test_namespace_move)
{
	struct pw_links *l;
	struct seen s;
	int go[2], ready[2];
	pid_t child;
	char c;

	NEED_NETNS();
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		close(go[1]);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		c = 'r';
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		/* Until the parent closes its end. */
		if (read(go[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	ck_assert_int_eq(read(ready[0], &c, 1), 1);

	SH_OK("ip link add caliM type veth peer name podeth0");
	l = open_links("cali");
	seen_init(&s, l);
	pw_strmap_put(s.model, "caliM", (void *)1);

	SH_OK("ip link set caliM netns %d", (int)child);
	ck_assert_int_eq(read_all(l, &s), 1);
	check_log(&s, "-caliM");

	/* CNI makes the pair in the pod and moves the host end out. */
	SH_OK("nsenter -t %d -n ip link set caliM netns %d", (int)child, (int)getpid());
	ck_assert_int_eq(read_all(l, &s), 1);
	check_log(&s, "+caliM");

	close(go[1]);
	waitpid(child, NULL, 0);
	seen_free(&s);
	pw_links_close(l);
}
END_TEST

#define MANY 300

static void batch_add(unsigned first, unsigned n)
{
	struct pw_buf b = PW_BUF_INIT;
	unsigned i;

	for (i = first; i < first + n; i++)
		pw_buf_printf(&b, "link add cali%011u type veth peer name p%u\n", i, i);
	ip_batch(b.data);
	pw_buf_free(&b);
}

static void batch_del(unsigned first, unsigned n)
{
	struct pw_buf b = PW_BUF_INIT;
	unsigned i;

	for (i = first; i < first + n; i++)
		pw_buf_printf(&b, "link del cali%011u\n", i);
	ip_batch(b.data);
	pw_buf_free(&b);
}

static void check_range(struct pw_links *l, struct seen *s, unsigned first,
			unsigned n, bool present)
{
	char name[32];
	unsigned i;

	for (i = first; i < first + n; i++) {
		snprintf(name, sizeof(name), "cali%011u", i);
		ck_assert_msg(pw_links_present(l, name) == present, "%s", name);
		ck_assert_msg((pw_strmap_get(s->model, name) != NULL) == present,
			      "%s in the reported model", name);
	}
}

START_TEST(test_many)
{
	struct pw_links *l;
	struct seen s;

	NEED_NETNS();
	l = open_links("cali");
	seen_init(&s, l);

	batch_add(0, MANY);
	ck_assert_int_eq(read_all(l, &s), MANY);
	ck_assert_uint_eq(s.ups, MANY);
	ck_assert_uint_eq(pw_links_count(l), MANY);
	check_range(l, &s, 0, MANY, true);

	batch_del(0, MANY);
	ck_assert_int_eq(read_all(l, &s), MANY);
	ck_assert_uint_eq(s.downs, MANY);
	ck_assert_uint_eq(pw_links_count(l), 0);
	seen_free(&s);
	pw_links_close(l);
}
END_TEST

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
	ck_assert_int_eq(mnl_socket_bind(nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID), 0);
	return nl;
}

static void witness_saw_enobufs(struct mnl_socket *nl)
{
	char buf[65536];
	int fd = mnl_socket_get_fd(nl);
	ssize_t n;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	ck_assert_msg(n < 0 && errno == ENOBUFS,
		      "the tiny queue did not overflow (n=%zd, %s)", n, strerror(errno));
	mnl_socket_close(nl);
}

START_TEST(test_enobufs_resync)
{
	struct mnl_socket *witness;
	struct pw_links *l;
	struct seen s;

	NEED_NETNS();
	SH_OK("ip link add caliKeep type veth peer name caliGone");
	l = open_links("cali");
	seen_init(&s, l);
	pw_strmap_put(s.model, "caliKeep", (void *)1);
	pw_strmap_put(s.model, "caliGone", (void *)1);
	shrink_rcvbuf(pw_links_fd(l));

	/* Overflow: 600 links appear while nobody reads. */
	witness = witness_open();
	SH_OK("ip link set caliGone name other0");
	batch_add(0, MANY);
	witness_saw_enobufs(witness);

	ck_assert_int_eq(read_all(l, &s), MANY + 1);
	ck_assert_uint_eq(s.ups, MANY);
	ck_assert_uint_eq(s.downs, 1);
	ck_assert_uint_eq(pw_links_count(l), MANY + 1);
	ck_assert(pw_links_present(l, "caliKeep"));
	ck_assert(!pw_links_present(l, "caliGone"));
	check_range(l, &s, 0, MANY, true);

	/* Again with removals, additions and renames mixed. */
	witness = witness_open();
	batch_del(0, 150);
	batch_add(1000, 40);
	SH_OK("ip link set cali00000000200 name x200");
	SH_OK("ip link set p201 name cali201peer");
	batch_add(2000, 100);
	witness_saw_enobufs(witness);

	pw_buf_reset(&s.log);
	read_all(l, &s);
	check_range(l, &s, 0, 150, false);
	check_range(l, &s, 150, 50, true);
	check_range(l, &s, 200, 1, false);
	check_range(l, &s, 201, 99, true);
	check_range(l, &s, 1000, 40, true);
	check_range(l, &s, 2000, 100, true);
	ck_assert(pw_links_present(l, "cali201peer"));
	ck_assert(pw_strmap_get(s.model, "cali201peer") != NULL);
	/* caliKeep + 149 left of the first batch + the peer + 140 new */
	ck_assert_uint_eq(pw_links_count(l), 1 + 149 + 1 + 140);
	ck_assert_uint_eq(pw_strmap_count(s.model), pw_links_count(l));
	seen_free(&s);
	pw_links_close(l);
}
END_TEST

/* ---------------------------------------------------------------- sd_notify */

/* A datagram socket bound to addr; the test is its systemd. */
static int listener(const struct sockaddr_un *sa, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_msg(bind(fd, (const struct sockaddr *)sa, len) == 0, "bind: %s",
		      strerror(errno));
	return fd;
}

static void expect_datagram(int fd, const char *want)
{
	char buf[256];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
	ck_assert_int_eq(n, (ssize_t)strlen(want));
	ck_assert(memcmp(buf, want, (size_t)n) == 0);
}

START_TEST(test_notify_unset)
{
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(pw_sd_notify("READY=1"), 0);
	ck_assert_int_eq(pw_sd_notifyf("STATUS=%d", 1), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	ck_assert_int_eq(pw_sd_notify("READY=1"), 0);
}
END_TEST

START_TEST(test_notify_path)
{
	char dir[] = "/tmp/pw-notify.XXXXXX";
	struct sockaddr_un sa;
	char *path;
	int fd;

	ck_assert_ptr_ne(mkdtemp(dir), NULL);
	path = pw_xasprintf("%s/notify", dir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	fd = listener(&sa, sizeof(sa));
	setenv("NOTIFY_SOCKET", path, 1);

	ck_assert_int_eq(pw_sd_notify("READY=1"), 0);
	expect_datagram(fd, "READY=1");
	ck_assert_int_eq(pw_sd_notifyf("STATUS=watching %u links", 3u), 0);
	expect_datagram(fd, "STATUS=watching 3 links");
	ck_assert_int_eq(pw_sd_notify("WATCHDOG=1"), 0);
	expect_datagram(fd, "WATCHDOG=1");

	close(fd);
	unlink(path);
	rmdir(dir);
	free(path);
}
END_TEST

START_TEST(test_notify_abstract)
{
	struct sockaddr_un sa;
	char name[64];
	size_t len;
	int fd;

	snprintf(name, sizeof(name), "@pw-check-links-%d", (int)getpid());
	len = strlen(name);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, name + 1, len - 1);
	/* The exact length: abstract names compare over all of it. */
	fd = listener(&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	setenv("NOTIFY_SOCKET", name, 1);

	ck_assert_int_eq(pw_sd_notify("READY=1"), 0);
	expect_datagram(fd, "READY=1");
	ck_assert_int_eq(pw_sd_notify("STOPPING=1"), 0);
	expect_datagram(fd, "STOPPING=1");
	close(fd);

	/* Nobody listening any more. */
	ck_assert_int_lt(pw_sd_notify("READY=1"), 0);
}
END_TEST

START_TEST(test_notify_errors)
{
	ck_assert_int_eq(pw_sd_notify(NULL), -EINVAL);
	ck_assert_int_eq(pw_sd_notify(""), -EINVAL);
	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	ck_assert_int_eq(pw_sd_notify("READY=1"), -EAFNOSUPPORT);
	setenv("NOTIFY_SOCKET", "/nonexistent/pw/notify", 1);
	ck_assert_int_eq(pw_sd_notify("READY=1"), -ENOENT);
	setenv("NOTIFY_SOCKET", "@", 1);
	ck_assert_int_eq(pw_sd_notify("READY=1"), -EINVAL);
}
END_TEST

START_TEST(test_watchdog)
{
	char pid[32];

	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	ck_assert_uint_eq(pw_sd_watchdog_interval_ms(), 0);

	setenv("WATCHDOG_USEC", "30000000", 1);
	ck_assert_uint_eq(pw_sd_watchdog_interval_ms(), 30000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_uint_eq(pw_sd_watchdog_interval_ms(), 30000);
	/* Meant for another process (we inherited it). */
	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	ck_assert_uint_eq(pw_sd_watchdog_interval_ms(), 0);
	setenv("WATCHDOG_PID", "garbage", 1);
	ck_assert_uint_eq(pw_sd_watchdog_interval_ms(), 0);
	unsetenv("WATCHDOG_PID");

	setenv("WATCHDOG_USEC", "500", 1);
	ck_assert_uint_eq(pw_sd_watchdog_interval_ms(), 1);
	setenv("WATCHDOG_USEC", "0", 1);
	ck_assert_uint_eq(pw_sd_watchdog_interval_ms(), 0);
	setenv("WATCHDOG_USEC", "12s", 1);
	ck_assert_uint_eq(pw_sd_watchdog_interval_ms(), 0);
	setenv("WATCHDOG_USEC", "-5", 1);
	ck_assert_uint_eq(pw_sd_watchdog_interval_ms(), 0);
}
END_TEST

/* ---------------------------------------------------------------- main */

static Suite *links_suite(void)
{
	Suite *s = suite_create("links");
	TCase *tc;

	tc = tcase_create("links");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_initial_dump);
	tcase_add_test(tc, test_socket_flags);
	tcase_add_test(tc, test_appear_disappear);
	tcase_add_test(tc, test_prefix_filter);
	tcase_add_test(tc, test_update_is_not_a_change);
	tcase_add_test(tc, test_rename);
	tcase_add_test(tc, test_namespace_move);
	tcase_add_test(tc, test_many);
	tcase_add_test(tc, test_enobufs_resync);
	suite_add_tcase(s, tc);

	tc = tcase_create("sdnotify");
	tcase_add_test(tc, test_notify_unset);
	tcase_add_test(tc, test_notify_path);
	tcase_add_test(tc, test_notify_abstract);
	tcase_add_test(tc, test_notify_errors);
	tcase_add_test(tc, test_watchdog);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *path = getenv("PATH");
	char *p;
	SRunner *sr;
	int failed;

	/* ip and nsenter live in sbin, which a user's PATH may lack. */
	p = pw_xasprintf("%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
	setenv("PATH", p, 1);
	free(p);
	/* Whatever systemd unit runs the tests, its socket is not ours. */
	unsetenv("NOTIFY_SOCKET");

	sr = srunner_create(links_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
