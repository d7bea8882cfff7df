#include "config.h"

#include <errno.h>
#include <sched.h>		/* unshare, CLONE_NEWNET: _GNU_SOURCE from config.h */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "chains/ipset.h"
#include "chains/ipset_kernel.h"
#include "tests/testlib.h"
#include "lib/cidr.h"
#include "lib/util.h"

/*
 * Every test runs in a network namespace of its own, made by unshare() in
 * the process Check forks for it: the sets and rules it creates vanish with
 * that process, and the machine's own namespace is never touched. Only
 * 198.18.0.0/15 and fd00::/8 are used, except where the /0 split needs the
 * two halves of the address space.
 */

#define PFX "pwt-"

/* ---------------------------------------------------------------- helpers */

static bool enter_netns(void)
{
	return pw_test_enter_netns(NULL, NULL);
}

#define NEED_NETNS() do { if (!enter_netns()) return; } while (0)


static char *capture(const char *fmt, ...) PW_PRINTF(1, 2);

/* Runs a shell command and returns its standard output. */
static char *capture(const char *fmt, ...)
{
	struct pw_buf cmd = PW_BUF_INIT, out = PW_BUF_INIT;
	char chunk[4096];
	size_t n;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	pw_buf_vprintf(&cmd, fmt, ap);
	va_end(ap);
	f = popen(cmd.data, "r");
	ck_assert_msg(f != NULL, "popen %s", cmd.data);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		pw_buf_add(&out, chunk, n);
	pclose(f);
	pw_buf_free(&cmd);
	return pw_buf_steal(&out);
}

static struct pw_cidr cidr(const char *text)
{
	struct pw_cidr c;

	if (strchr(text, '/'))
		ck_assert_int_eq(pw_cidr_parse(text, &c), 0);
	else
		ck_assert_int_eq(pw_ip_parse(text, &c), 0);
	return c;
}

/*
 * Builds a model set from members written as ipset prints them:
 * "198.18.0.1", "198.18.0.0/16 nomatch", "198.18.0.1,tcp:80".
 */
static struct pw_set *mkset(const char *name, enum pw_set_type type, int family,
			    const char *const *members)
{
	struct pw_set *s = pw_set_new(name, type, family);

	ck_assert_ptr_ne(s, NULL);
	for (; members && *members; members++) {
		char *text = pw_xstrdup(*members), *space = strchr(text, ' ');
		char *comma = strchr(text, ',');
		bool nomatch = space && strcmp(space, " nomatch") == 0;
		struct pw_cidr c;

		if (space)
			*space = '\0';
		if (type == PW_SET_HASH_IP_PORT) {
			char *colon;

			ck_assert_ptr_ne(comma, NULL);
			*comma = '\0';
			colon = strchr(comma + 1, ':');
			ck_assert_ptr_ne(colon, NULL);
			*colon = '\0';
			c = cidr(text);
			pw_set_add_ip_port(s, &c, comma + 1, (uint16_t)atoi(colon + 1));
		} else if (type == PW_SET_HASH_NET) {
			c = cidr(text);
			pw_set_add_net(s, &c, nomatch);
		} else {
			c = cidr(text);
			pw_set_add_ip(s, &c);
		}
		free(text);
	}
	return s;
}

static void add_set(struct pw_setlist *l, struct pw_set *s)
{
	ck_assert_int_eq(pw_setlist_add(l, s), 0);
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The lines of text that start with prefix, sorted and joined again (text is
 * cut up). Filtering is done here rather than by grep and sort: under
 * valgrind --trace-children those report their own leaks and fail.
 */
static char *sorted_lines(char *text, const char *prefix)
{
	struct pw_buf out = PW_BUF_INIT;
	char **lines = NULL, *line, *save = NULL;
	size_t n = 0, cap = 0, i;

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, prefix, strlen(prefix)) != 0)
			continue;
		PW_GROW(lines, cap, n + 1);
		lines[n++] = line;
	}
	if (n)
		qsort(lines, n, sizeof(*lines), line_cmp);
	for (i = 0; i < n; i++)
		pw_buf_printf(&out, "%s\n", lines[i]);
	free(lines);
	return pw_buf_steal(&out);
}

/* The "add" lines of the real `ipset save NAME`, sorted. */
static char *kernel_add_lines(const char *name)
{
	char *raw = capture("ipset save %s 2>/dev/null", name);
	char *sorted = sorted_lines(raw, "add ");

	free(raw);
	return sorted;
}

/* The lines ipset save should print for the model's members, sorted. */
static char *model_add_lines(const struct pw_set *s)
{
	struct pw_buf b = PW_BUF_INIT;
	size_t i;
	char *raw, *sorted;

	for (i = 0; i < pw_set_member_count(s); i++)
		pw_buf_printf(&b, "add %s %s%s\n", pw_set_name(s), pw_set_member_at(s, i),
			      pw_set_member_nomatch(s, i) ? " nomatch" : "");
	raw = pw_buf_steal(&b);
	sorted = sorted_lines(raw, "");
	free(raw);
	return sorted;
}

/* The names of all sets in the namespace, sorted, one per line. */
static char *kernel_set_names(void)
{
	char *raw = capture("ipset list -n"), *sorted = sorted_lines(raw, "");

	free(raw);
	return sorted;
}

/* Asserts that `ipset save NAME` has a create line starting with expected. */
static void assert_create_line(const char *name, const char *expected)
{
	char *raw = capture("ipset save %s", name), *line = sorted_lines(raw, "create ");

	ck_assert_msg(strncmp(line, expected, strlen(expected)) == 0,
		      "create line \"%s\", expected \"%s...\"", line, expected);
	free(line);
	free(raw);
}

static void assert_kernel_matches(const struct pw_set *s)
{
	char *want = model_add_lines(s), *got = kernel_add_lines(pw_set_name(s));

	ck_assert_str_eq(got, want);
	free(want);
	free(got);
}

static struct pw_ipset_kernel *open_kernel(void)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_ipset_kernel *k = pw_ipset_kernel_open(&err);

	ck_assert_msg(k != NULL, "open: %s", pw_buf_str(&err));
	pw_buf_free(&err);
	return k;
}

static struct pw_setlist *list_sets(struct pw_ipset_kernel *k)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_setlist *l = NULL;
	int ret = pw_ipset_kernel_list(k, PFX, &l, &err);

	ck_assert_msg(ret == 0, "list: %d %s", ret, pw_buf_str(&err));
	ck_assert_ptr_ne(l, NULL);
	pw_buf_free(&err);
	return l;
}

/* Lists, then syncs to desired; the error text goes to err. */
static int sync_to(struct pw_ipset_kernel *k, const struct pw_setlist *desired,
		   struct pw_ipset_stats *stats, struct pw_buf *err)
{
	struct pw_setlist *cur = list_sets(k);
	int ret;

	memset(stats, 0, sizeof(*stats));
	ret = pw_ipset_kernel_sync(k, cur, desired, PFX, stats, err);
	pw_setlist_free(cur);
	return ret;
}

static void sync_ok(struct pw_ipset_kernel *k, const struct pw_setlist *desired,
		    struct pw_ipset_stats *stats)
{
	struct pw_buf err = PW_BUF_INIT;
	int ret = sync_to(k, desired, stats, &err);

	ck_assert_msg(ret == 0, "sync: %d %s", ret, pw_buf_str(&err));
	ck_assert_str_eq(pw_buf_str(&err), "");
	pw_buf_free(&err);
}

static void assert_stats(const struct pw_ipset_stats *s, unsigned created,
			 unsigned swapped, unsigned destroyed, unsigned added,
			 unsigned deleted)
{
	ck_assert_msg(s->created == created && s->swapped == swapped &&
		      s->destroyed == destroyed && s->added == added &&
		      s->deleted == deleted,
		      "stats: created %u swapped %u destroyed %u added %u deleted %u, "
		      "expected %u %u %u %u %u", s->created, s->swapped, s->destroyed,
		      s->added, s->deleted, created, swapped, destroyed, added, deleted);
}

/* Every desired set reads back equal, and the real ipset agrees member by member. */
static void assert_roundtrip(struct pw_ipset_kernel *k, const struct pw_setlist *desired)
{
	struct pw_setlist *got = list_sets(k);
	size_t i;

	ck_assert_uint_eq(pw_setlist_count(got), pw_setlist_count(desired));
	for (i = 0; i < pw_setlist_count(desired); i++) {
		const struct pw_set *want = pw_setlist_at(desired, i);
		const struct pw_set *have = pw_setlist_find(got, pw_set_name(want));

		ck_assert_msg(have != NULL, "%s not listed", pw_set_name(want));
		ck_assert_msg(pw_set_equal(have, want), "%s differs after list",
			      pw_set_name(want));
		assert_kernel_matches(want);
	}
	pw_setlist_free(got);
}

static bool kernel_has_set(const char *name)
{
	return pw_test_run("ipset list -n %s", name) == 0;
}

static bool str_contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* ---------------------------------------------------------------- create */

START_TEST(test_create_hash_ip)
{
	static const char *const v4[] = {
		"198.18.0.1", "198.18.0.2", "198.19.255.254", NULL,
	};
	static const char *const v6[] = { "fd00::1", "fd00::a:2", "fd12:3456::ffff", NULL };
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "ip4", PW_SET_HASH_IP, AF_INET, v4));
	add_set(desired, mkset(PFX "ip6", PW_SET_HASH_IP, AF_INET6, v6));
	sync_ok(k, desired, &st);
	assert_stats(&st, 2, 0, 0, 6, 0);
	assert_roundtrip(k, desired);
	/* Type and family as the real tool sees them. */
	assert_create_line(PFX "ip6", "create " PFX "ip6 hash:ip family inet6 hashsize 1024 "
			   "maxelem 1048576");
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

START_TEST(test_create_hash_net)
{
	static const char *const v4[] = {
		"198.18.0.0/15", "198.18.1.0/24 nomatch", "198.18.1.7", "198.19.7.0/25",
		NULL,
	};
	static const char *const v4all[] = { "0.0.0.0/0", "198.18.0.0/16 nomatch", NULL };
	static const char *const v6[] = {
		"fd00::/8", "fd00:1::/32 nomatch", "fd00:2::1", "::/0", NULL,
	};
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	char *lines;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "net4", PW_SET_HASH_NET, AF_INET, v4));
	add_set(desired, mkset(PFX "all4", PW_SET_HASH_NET, AF_INET, v4all));
	add_set(desired, mkset(PFX "net6", PW_SET_HASH_NET, AF_INET6, v6));
	sync_ok(k, desired, &st);
	/* 4 + (2 halves + 1) + (3 + 2 halves) */
	assert_stats(&st, 3, 0, 0, 12, 0);
	assert_roundtrip(k, desired);

	lines = kernel_add_lines(PFX "all4");
	ck_assert_str_eq(lines, "add " PFX "all4 0.0.0.0/1\n"
			 "add " PFX "all4 128.0.0.0/1\n"
			 "add " PFX "all4 198.18.0.0/16 nomatch\n");
	free(lines);
	lines = kernel_add_lines(PFX "net6");
	ck_assert(str_contains(lines, "add " PFX "net6 fd00:1::/32 nomatch\n"));
	ck_assert(str_contains(lines, "add " PFX "net6 8000::/1\n"));
	free(lines);

	/* The nomatch hole is real: the kernel tests the except as outside. */
	ck_assert_int_eq(pw_test_run("ipset test " PFX "net4 198.18.2.1"), 0);
	ck_assert_int_ne(pw_test_run("ipset test " PFX "net4 198.18.1.1"), 0);
	ck_assert_int_eq(pw_test_run("ipset test " PFX "net4 198.18.1.7"), 0);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

START_TEST(test_create_hash_ip_port)
{
	static const char *const v4[] = {
		"198.18.0.1,tcp:80", "198.18.0.1,udp:53", "198.18.0.2,sctp:9999",
		"198.19.0.3,tcp:65535", NULL,
	};
	static const char *const v6[] = {
		"fd00::1,tcp:443", "fd00::2,udp:53", "fd00::3,sctp:5000", NULL,
	};
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "port4", PW_SET_HASH_IP_PORT, AF_INET, v4));
	add_set(desired, mkset(PFX "port6", PW_SET_HASH_IP_PORT, AF_INET6, v6));
	sync_ok(k, desired, &st);
	assert_stats(&st, 2, 0, 0, 7, 0);
	assert_roundtrip(k, desired);
	ck_assert_int_eq(pw_test_run("ipset test " PFX "port4 198.18.0.2,sctp:9999"), 0);
	ck_assert_int_ne(pw_test_run("ipset test " PFX "port4 198.18.0.2,tcp:9999"), 0);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

/* ---------------------------------------------------------------- update */

START_TEST(test_idempotent)
{
	static const char *const ips[] = { "198.18.0.1", "198.18.0.2", NULL };
	static const char *const nets[] = { "198.18.0.0/16", "198.18.3.0/24 nomatch", NULL };
	static const char *const ports[] = { "198.18.0.1,tcp:80", NULL };
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	char *before, *after, *header;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "a", PW_SET_HASH_IP, AF_INET, ips));
	add_set(desired, mkset(PFX "b", PW_SET_HASH_NET, AF_INET, nets));
	add_set(desired, mkset(PFX "c", PW_SET_HASH_IP_PORT, AF_INET, ports));
	sync_ok(k, desired, &st);
	assert_stats(&st, 3, 0, 0, 5, 0);
	ck_assert_int_eq(pw_test_run("iptables-legacy -A INPUT -m set --match-set " PFX "b src "
			    "-j ACCEPT"), 0);
	/* initval is random per create: the same text after means the same sets. */
	before = capture("ipset save");

	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 0, 0, 0, 0);
	after = capture("ipset save");
	ck_assert_str_eq(after, before);
	header = capture("ipset list " PFX "b");
	ck_assert_msg(str_contains(header, "References: 1\n"), "%s", header);
	ck_assert_msg(str_contains(header, "Number of entries: 2\n"), "%s", header);
	assert_roundtrip(k, desired);
	free(header);
	free(before);
	free(after);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

START_TEST(test_members_by_difference)
{
	static const char *const first[] = {
		"198.18.0.1", "198.18.0.2", "198.18.0.3", "198.18.0.4", NULL,
	};
	static const char *const second[] = {
		"198.18.0.1", "198.18.0.3", "198.18.0.5", "198.18.0.6", "198.18.0.7", NULL,
	};
	static const char *const six[] = { "fd00::1", "fd00::2", NULL };
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	char *before, *after;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "m", PW_SET_HASH_IP, AF_INET, first));
	add_set(desired, mkset(PFX "m6", PW_SET_HASH_IP, AF_INET6, six));
	sync_ok(k, desired, &st);
	assert_stats(&st, 2, 0, 0, 6, 0);
	before = capture("ipset save " PFX "m6");
	pw_setlist_free(desired);

	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "m", PW_SET_HASH_IP, AF_INET, second));
	add_set(desired, mkset(PFX "m6", PW_SET_HASH_IP, AF_INET6, six));
	sync_ok(k, desired, &st);
	/* .2 and .4 go, .5 .6 .7 come; .1 and .3 and the other set are not written. */
	assert_stats(&st, 0, 0, 0, 3, 2);
	assert_roundtrip(k, desired);
	after = capture("ipset save " PFX "m6");
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

START_TEST(test_nomatch_flip)
{
	static const char *const except[] = {
		"198.18.0.0/15", "198.18.0.0/16 nomatch", NULL,
	};
	static const char *const plain[] = { "198.18.0.0/15", "198.18.0.0/16", NULL };
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	char *lines;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "flip", PW_SET_HASH_NET, AF_INET, except));
	sync_ok(k, desired, &st);
	assert_stats(&st, 1, 0, 0, 2, 0);
	ck_assert_int_ne(pw_test_run("ipset test " PFX "flip 198.18.0.9"), 0);
	pw_setlist_free(desired);

	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "flip", PW_SET_HASH_NET, AF_INET, plain));
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 0, 0, 1, 1);
	lines = kernel_add_lines(PFX "flip");
	ck_assert_str_eq(lines, "add " PFX "flip 198.18.0.0/15\n"
			 "add " PFX "flip 198.18.0.0/16\n");
	free(lines);
	ck_assert_int_eq(pw_test_run("ipset test " PFX "flip 198.18.0.9"), 0);
	assert_roundtrip(k, desired);
	pw_setlist_free(desired);

	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "flip", PW_SET_HASH_NET, AF_INET, except));
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 0, 0, 1, 1);
	assert_roundtrip(k, desired);
	ck_assert_int_ne(pw_test_run("ipset test " PFX "flip 198.18.0.9"), 0);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

/* ---------------------------------------------------------------- replace */

static bool rule_exists(const char *set)
{
	return pw_test_run("iptables-legacy -C INPUT -m set --match-set %s src -j ACCEPT", set) == 0;
}

START_TEST(test_swap_on_maxelem_change)
{
	static const char *const ips[] = { "198.18.0.1", "198.18.0.2", "198.18.9.9", NULL };
	static const char *const ips2[] = { "198.18.0.1", "198.18.0.3", NULL };
	struct pw_setlist *desired, *listed;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_set *s;
	char *text;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "sw", PW_SET_HASH_IP, AF_INET, ips));
	sync_ok(k, desired, &st);
	pw_setlist_free(desired);
	ck_assert_int_eq(pw_test_run("iptables-legacy -A INPUT -m set --match-set " PFX "sw src "
			    "-j ACCEPT"), 0);

	desired = pw_setlist_new();
	s = mkset(PFX "sw", PW_SET_HASH_IP, AF_INET, ips2);
	pw_set_set_maxelem(s, 4096);
	add_set(desired, s);
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 1, 0, 2, 0);
	assert_roundtrip(k, desired);
	text = capture("ipset save " PFX "sw");
	ck_assert_msg(str_contains(text, " maxelem 4096 ") || str_contains(text, " maxelem 4096\n"),
		      "%s", text);
	free(text);
	/* The rule still holds the set, now the new one. */
	ck_assert(rule_exists(PFX "sw"));
	text = capture("ipset list " PFX "sw");
	ck_assert_msg(str_contains(text, "References: 1\n"), "%s", text);
	free(text);
	/* No temporary set is left behind. */
	listed = list_sets(k);
	ck_assert_uint_eq(pw_setlist_count(listed), 1);
	pw_setlist_free(listed);
	ck_assert(!kernel_has_set(PFX "tmp-0"));
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

START_TEST(test_replace_type_and_family)
{
	static const char *const ips[] = { "198.18.0.1", "198.18.0.2", NULL };
	static const char *const nets[] = { "198.18.0.0/24", "198.18.0.1 nomatch", NULL };
	static const char *const six[] = { "fd00::1", NULL };
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_buf err = PW_BUF_INIT;
	char *before, *after;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "t", PW_SET_HASH_IP, AF_INET, ips));
	add_set(desired, mkset(PFX "u", PW_SET_HASH_IP, AF_INET, ips));
	sync_ok(k, desired, &st);
	pw_setlist_free(desired);

	/* Unused: hash:ip becomes hash:net, inet becomes inet6. */
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "t", PW_SET_HASH_NET, AF_INET, nets));
	add_set(desired, mkset(PFX "u", PW_SET_HASH_IP, AF_INET6, six));
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 2, 0, 3, 0);
	assert_roundtrip(k, desired);
	assert_create_line(PFX "t", "create " PFX "t hash:net family inet ");
	pw_setlist_free(desired);

	/* Used by a rule: the kernel can neither swap across types nor destroy. */
	ck_assert_int_eq(pw_test_run("iptables-legacy -A INPUT -m set --match-set " PFX "t src "
			    "-j ACCEPT"), 0);
	before = capture("ipset save " PFX "t");
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "t", PW_SET_HASH_IP, AF_INET, ips));
	add_set(desired, mkset(PFX "u", PW_SET_HASH_IP, AF_INET6, six));
	ck_assert_int_eq(sync_to(k, desired, &st, &err), -EBUSY);
	ck_assert_msg(str_contains(pw_buf_str(&err), PFX "t: "), "%s", pw_buf_str(&err));
	ck_assert_msg(str_contains(pw_buf_str(&err), "in use"), "%s", pw_buf_str(&err));
	after = capture("ipset save " PFX "t");
	ck_assert_str_eq(after, before);
	ck_assert(rule_exists(PFX "t"));
	free(before);
	free(after);
	pw_buf_free(&err);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

START_TEST(test_leftover_temp_set)
{
	static const char *const ips[] = { "198.18.0.1", NULL };
	struct pw_setlist *desired, *listed;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_set *s;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "live", PW_SET_HASH_IP, AF_INET, ips));
	sync_ok(k, desired, &st);
	pw_setlist_free(desired);

	/* What a crash between create-temp and destroy-temp leaves: wrong type, members. */
	ck_assert_int_eq(pw_test_run("ipset create " PFX "tmp-0 hash:net,port"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "tmp-0 198.18.0.0/24,tcp:80"), 0);
	ck_assert_int_eq(pw_test_run("ipset create " PFX "tmp-7 hash:ip"), 0);

	desired = pw_setlist_new();
	s = mkset(PFX "live", PW_SET_HASH_IP, AF_INET, ips);
	pw_set_set_maxelem(s, 1000);
	add_set(desired, s);
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 1, 0, 1, 0);
	ck_assert(!kernel_has_set(PFX "tmp-0"));
	assert_kernel_matches(s);

	/* Any other leftover is stale and goes with the rest. */
	listed = list_sets(k);
	ck_assert_ptr_ne(pw_setlist_find(listed, PFX "tmp-7"), NULL);
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(pw_ipset_kernel_destroy_stale(k, listed, desired, &st, &err), 0);
	ck_assert_str_eq(pw_buf_str(&err), "");
	ck_assert_uint_eq(st.destroyed, 1);
	ck_assert(!kernel_has_set(PFX "tmp-7"));
	ck_assert(kernel_has_set(PFX "live"));
	pw_setlist_free(listed);
	pw_buf_free(&err);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

static void assert_listed_empty(const struct pw_setlist *l, const char *name,
				enum pw_set_type type, int family, uint32_t maxelem)
{
	const struct pw_set *s = pw_setlist_find(l, name);

	ck_assert_msg(s != NULL, "%s not listed", name);
	ck_assert_int_eq(pw_set_type(s), type);
	ck_assert_int_eq(pw_set_family(s), family);
	ck_assert_uint_eq(pw_set_maxelem(s), maxelem);
	ck_assert_uint_eq(pw_set_member_count(s), 0);
}

/*
 * Sets under our prefix that podwall would not have made are listed empty
 * and replaced: by destroy and create when type or family differ, by a swap
 * (rules keep working) when only options or members are odd.
 */
START_TEST(test_odd_sets_under_prefix)
{
	static const char *const ips[] = { "198.18.0.1", NULL };
	static const char *const ports[] = { "198.18.0.1,tcp:80", NULL };
	struct pw_setlist *desired, *listed;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_buf err = PW_BUF_INIT;
	char *text;
	const struct pw_set *s;

	NEED_NETNS();
	k = open_kernel();
	ck_assert_int_eq(pw_test_run("ipset create " PFX "odd hash:net,port"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "odd 198.18.0.0/24,tcp:80"), 0);
	ck_assert_int_eq(pw_test_run("ipset create " PFX "tmo hash:ip timeout 300"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "tmo 198.18.0.1"), 0);
	ck_assert_int_eq(pw_test_run("ipset create " PFX "icmp hash:ip,port maxelem 100"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "icmp 198.18.0.1,tcp:80"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "icmp 198.18.0.1,icmp:echo-request"), 0);
	ck_assert_int_eq(pw_test_run("ipset create " PFX "nm hash:ip netmask 24"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "nm 198.18.0.1"), 0);
	ck_assert_int_eq(pw_test_run("ipset create " PFX "cmt hash:ip comment"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "cmt 198.18.0.1 comment \"a nomatch b\""), 0);
	ck_assert_int_eq(pw_test_run("iptables-legacy -A INPUT -m set --match-set " PFX "tmo src "
			    "-j ACCEPT"), 0);

	listed = list_sets(k);
	ck_assert_uint_eq(pw_setlist_count(listed), 5);
	assert_listed_empty(listed, PFX "odd", PW_SET_HASH_NET, AF_UNSPEC, 65536);
	assert_listed_empty(listed, PFX "nm", PW_SET_HASH_IP, AF_INET, 0);
	assert_listed_empty(listed, PFX "tmo", PW_SET_HASH_IP, AF_INET, 0);
	assert_listed_empty(listed, PFX "icmp", PW_SET_HASH_IP_PORT, AF_INET, 0);
	/* A comment is ignored, even one that reads "nomatch". */
	s = pw_setlist_find(listed, PFX "cmt");
	ck_assert_ptr_ne(s, NULL);
	ck_assert_int_eq(pw_set_family(s), AF_INET);
	ck_assert_uint_eq(pw_set_member_count(s), 1);
	ck_assert_str_eq(pw_set_member_at(s, 0), "198.18.0.1");
	ck_assert(!pw_set_member_nomatch(s, 0));
	pw_setlist_free(listed);

	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "odd", PW_SET_HASH_IP, AF_INET, ips));
	add_set(desired, mkset(PFX "tmo", PW_SET_HASH_IP, AF_INET, ips));
	add_set(desired, mkset(PFX "icmp", PW_SET_HASH_IP_PORT, AF_INET, ports));
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 3, 0, 3, 0);
	assert_create_line(PFX "odd", "create " PFX "odd hash:ip family inet ");
	/* No "timeout" after maxelem (ipset 7.11 and later print "bucketsize"). */
	assert_create_line(PFX "tmo", "create " PFX "tmo hash:ip family inet hashsize 1024 "
			   "maxelem 1048576");
	text = capture("ipset save " PFX "tmo");
	ck_assert_msg(!str_contains(text, "timeout"), "%s", text);
	free(text);
	ck_assert(rule_exists(PFX "tmo"));
	assert_kernel_matches(pw_setlist_find(desired, PFX "icmp"));

	listed = list_sets(k);
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(pw_ipset_kernel_destroy_stale(k, listed, desired, &st, &err), 0);
	ck_assert_uint_eq(st.destroyed, 2);
	ck_assert(!kernel_has_set(PFX "cmt"));
	ck_assert(!kernel_has_set(PFX "nm"));
	pw_setlist_free(listed);

	/* Read back, the replaced sets are plain ones now. */
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 0, 0, 0, 0);
	pw_buf_free(&err);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

/* ---------------------------------------------------------------- destroy */

START_TEST(test_destroy_stale)
{
	static const char *const ips[] = { "198.18.0.1", NULL };
	struct pw_setlist *desired, *listed;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_buf err = PW_BUF_INIT;
	char *names;
	int ret;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "keep", PW_SET_HASH_IP, AF_INET, ips));
	add_set(desired, mkset(PFX "old", PW_SET_HASH_IP, AF_INET, ips));
	add_set(desired, mkset(PFX "used", PW_SET_HASH_IP, AF_INET, ips));
	add_set(desired, mkset(PFX "zold", PW_SET_HASH_IP, AF_INET, ips));
	sync_ok(k, desired, &st);
	pw_setlist_free(desired);
	ck_assert_int_eq(pw_test_run("ipset create KUBE-foo hash:ip"), 0);
	ck_assert_int_eq(pw_test_run("iptables-legacy -A INPUT -m set --match-set " PFX "used src "
			    "-j ACCEPT"), 0);

	listed = list_sets(k);
	ck_assert_uint_eq(pw_setlist_count(listed), 4);
	ck_assert_ptr_eq(pw_setlist_find(listed, "KUBE-foo"), NULL);

	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "keep", PW_SET_HASH_IP, AF_INET, ips));
	memset(&st, 0, sizeof(st));
	/* The busy set is reported, and the one after it is still destroyed. */
	ret = pw_ipset_kernel_destroy_stale(k, listed, desired, &st, &err);
	ck_assert_int_eq(ret, -EBUSY);
	ck_assert_uint_eq(st.destroyed, 2);
	ck_assert_msg(str_contains(pw_buf_str(&err), "ipset " PFX "used: destroy: "),
		      "%s", pw_buf_str(&err));
	ck_assert_msg(str_contains(pw_buf_str(&err), "in use"), "%s", pw_buf_str(&err));
	names = kernel_set_names();
	ck_assert_str_eq(names, "KUBE-foo\n" PFX "keep\n" PFX "used\n");
	free(names);

	/* Once the rule is gone, the set goes too. */
	ck_assert_int_eq(pw_test_run("iptables-legacy -D INPUT -m set --match-set " PFX "used src "
			    "-j ACCEPT"), 0);
	pw_setlist_free(listed);
	listed = list_sets(k);
	memset(&st, 0, sizeof(st));
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_ipset_kernel_destroy_stale(k, listed, desired, &st, &err), 0);
	ck_assert_uint_eq(st.destroyed, 1);
	ck_assert(!kernel_has_set(PFX "used"));
	ck_assert(kernel_has_set("KUBE-foo"));
	pw_setlist_free(listed);
	pw_buf_free(&err);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

/* A current list that names a set outside the prefix does not make it ours. */
START_TEST(test_destroy_refuses_foreign_names)
{
	struct pw_setlist *listed, *current, *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_buf err = PW_BUF_INIT;
	int ret;

	NEED_NETNS();
	k = open_kernel();
	ck_assert_int_eq(pw_test_run("ipset create KUBE-foo hash:ip"), 0);
	ck_assert_int_eq(pw_test_run("ipset create " PFX "gone hash:ip"), 0);
	current = pw_setlist_new();
	desired = pw_setlist_new();
	add_set(current, mkset("KUBE-foo", PW_SET_HASH_IP, AF_INET, NULL));
	add_set(current, mkset(PFX "gone", PW_SET_HASH_IP, AF_INET, NULL));
	memset(&st, 0, sizeof(st));

	/* Without a list or sync first, no prefix is known: nothing is touched. */
	ret = pw_ipset_kernel_destroy_stale(k, current, desired, &st, &err);
	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_uint_eq(st.destroyed, 0);
	ck_assert(kernel_has_set(PFX "gone"));

	listed = list_sets(k);
	pw_buf_reset(&err);
	ret = pw_ipset_kernel_destroy_stale(k, current, desired, &st, &err);
	ck_assert_int_eq(ret, -EINVAL);
	ck_assert_msg(str_contains(pw_buf_str(&err), "KUBE-foo"), "%s", pw_buf_str(&err));
	ck_assert_uint_eq(st.destroyed, 1);
	ck_assert(kernel_has_set("KUBE-foo"));
	ck_assert(!kernel_has_set(PFX "gone"));
	pw_setlist_free(listed);
	pw_setlist_free(current);
	pw_setlist_free(desired);
	pw_buf_free(&err);
	pw_ipset_kernel_close(k);
}
END_TEST

/* ---------------------------------------------------------------- scale */

START_TEST(test_large_set)
{
	enum { N = 50000 };
	struct pw_setlist *desired, *listed;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct timeval t0, t1;
	struct pw_set *s;
	struct pw_cidr ip;
	char *text;
	unsigned i;

	NEED_NETNS();
	k = open_kernel();
	s = pw_set_new(PFX "big", PW_SET_HASH_IP, AF_INET);
	for (i = 0; i < N; i++) {
		memset(&ip, 0, sizeof(ip));
		ip.family = AF_INET;
		ip.prefix = 32;
		ip.addr[0] = 198;
		ip.addr[1] = (uint8_t)(18 + (i >> 16));
		ip.addr[2] = (uint8_t)(i >> 8);
		ip.addr[3] = (uint8_t)i;
		pw_set_add_ip(s, &ip);
	}
	desired = pw_setlist_new();
	add_set(desired, s);
	ck_assert_uint_eq(pw_set_member_count(s), N);

	gettimeofday(&t0, NULL);
	sync_ok(k, desired, &st);
	gettimeofday(&t1, NULL);
	printf("check_ipset_kernel: %u members created in %.3f s\n", (unsigned)N,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6);
	fflush(stdout);
	assert_stats(&st, 1, 0, 0, N, 0);

	listed = list_sets(k);
	ck_assert(pw_set_equal(pw_setlist_find(listed, PFX "big"), s));
	pw_setlist_free(listed);
	text = capture("ipset list -t " PFX "big");
	ck_assert_msg(str_contains(text, "Number of entries: 50000\n"), "%s", text);
	free(text);

	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 0, 0, 0, 0);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

/* ---------------------------------------------------------------- errors */

START_TEST(test_error_names)
{
	static const char *const ips[] = { "198.18.0.1", NULL };
	/* 28 characters: sets fit, but "<prefix>tmp-0" would not. */
	static const char long_pfx[] = "pwt-abcdefghijklmnopqrstuvwx";
	struct pw_setlist *desired, *cur;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_set *s;
	char *names;

	NEED_NETNS();
	k = open_kernel();
	ck_assert_ptr_eq(pw_set_new(PFX "0123456789012345678901234567", PW_SET_HASH_IP,
				    AF_INET), NULL);

	/* Outside the prefix: refused before anything is created. */
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "fine", PW_SET_HASH_IP, AF_INET, ips));
	add_set(desired, mkset("KUBE-foo", PW_SET_HASH_IP, AF_INET, ips));
	ck_assert_int_eq(sync_to(k, desired, &st, &err), -EINVAL);
	ck_assert_msg(str_contains(pw_buf_str(&err), "KUBE-foo"), "%s", pw_buf_str(&err));
	ck_assert(!kernel_has_set("KUBE-foo"));
	ck_assert(!kernel_has_set(PFX "fine"));
	pw_setlist_free(desired);

	/* A name with a blank would break the save text it is read back from. */
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "a b", PW_SET_HASH_IP, AF_INET, ips));
	pw_buf_reset(&err);
	ck_assert_int_eq(sync_to(k, desired, &st, &err), -EINVAL);
	pw_setlist_free(desired);

	/* An empty prefix would claim every set of the node. */
	pw_buf_reset(&err);
	cur = NULL;
	ck_assert_int_eq(pw_ipset_kernel_list(k, "", &cur, &err), -EINVAL);
	ck_assert_ptr_eq(cur, NULL);
	ck_assert_str_ne(pw_buf_str(&err), "");
	desired = pw_setlist_new();
	cur = pw_setlist_new();
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_ipset_kernel_sync(k, cur, desired, "", &st, &err), -EINVAL);
	pw_setlist_free(desired);

	/* No room for the temporary name: the swap is refused, the set kept. */
	desired = pw_setlist_new();
	s = mkset("pwt-abcdefghijklmnopqrstuvwxab", PW_SET_HASH_IP, AF_INET, ips);
	add_set(desired, s);
	memset(&st, 0, sizeof(st));
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_ipset_kernel_sync(k, cur, desired, long_pfx, &st, &err), 0);
	pw_setlist_free(cur);
	ck_assert_int_eq(pw_ipset_kernel_list(k, long_pfx, &cur, &err), 0);
	pw_set_set_maxelem(s, 77);
	ck_assert_int_eq(pw_ipset_kernel_sync(k, cur, desired, long_pfx, &st, &err),
			 -ENAMETOOLONG);
	ck_assert_msg(str_contains(pw_buf_str(&err), "temporary"), "%s", pw_buf_str(&err));
	assert_create_line("pwt-abcdefghijklmnopqrstuvwxab",
			   "create pwt-abcdefghijklmnopqrstuvwxab hash:ip family inet "
			   "hashsize 1024 maxelem 1048576");
	names = kernel_set_names();
	ck_assert_str_eq(names, "pwt-abcdefghijklmnopqrstuvwxab\n");
	free(names);
	pw_setlist_free(cur);
	pw_setlist_free(desired);
	pw_buf_free(&err);
	pw_ipset_kernel_close(k);
}
END_TEST

START_TEST(test_error_family)
{
	static const char *const ips[] = { "198.18.0.1", NULL };
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_set *s;
	char *names;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "fam", PW_SET_HASH_IP, AF_INET, ips));
	add_set(desired, mkset(PFX "unix", PW_SET_HASH_IP, AF_UNIX, NULL));
	ck_assert_int_eq(sync_to(k, desired, &st, &err), -EAFNOSUPPORT);
	ck_assert_msg(str_contains(pw_buf_str(&err), PFX "unix"), "%s", pw_buf_str(&err));
	names = capture("ipset list -n");
	ck_assert_str_eq(names, "");
	free(names);
	pw_setlist_free(desired);

	/* maxelem 0 would make a set that holds nothing. */
	desired = pw_setlist_new();
	s = mkset(PFX "zero", PW_SET_HASH_IP, AF_INET, ips);
	pw_set_set_maxelem(s, 0);
	add_set(desired, s);
	pw_buf_reset(&err);
	ck_assert_int_eq(sync_to(k, desired, &st, &err), -EINVAL);
	ck_assert_msg(str_contains(pw_buf_str(&err), PFX "zero"), "%s", pw_buf_str(&err));
	ck_assert(!kernel_has_set(PFX "zero"));
	pw_setlist_free(desired);
	pw_buf_free(&err);
	pw_ipset_kernel_close(k);
}
END_TEST

/* What the kernel refuses comes back as -errno, libipset's words and the set's name. */
START_TEST(test_error_from_kernel)
{
	static const char *const ips[] = { "198.18.0.1", NULL };
	static const char *const ips2[] = { "198.18.0.1", "198.18.0.2", "198.18.0.3", NULL };
	struct pw_setlist *desired, *current;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_set *s;
	int ret;

	NEED_NETNS();
	k = open_kernel();
	/* Someone made the set behind our back, with another type. */
	ck_assert_int_eq(pw_test_run("ipset create " PFX "clash hash:net"), 0);
	current = pw_setlist_new();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "clash", PW_SET_HASH_IP, AF_INET, ips));
	memset(&st, 0, sizeof(st));
	ret = pw_ipset_kernel_sync(k, current, desired, PFX, &st, &err);
	ck_assert_int_lt(ret, 0);
	ck_assert_msg(str_contains(pw_buf_str(&err), "ipset " PFX "clash: create hash:ip: "),
		      "%s", pw_buf_str(&err));
	ck_assert_msg(strlen(pw_buf_str(&err)) >
		      strlen("ipset " PFX "clash: create hash:ip: "),
		      "no libipset text: %s", pw_buf_str(&err));
	ck_assert_uint_eq(st.created, 0);
	pw_setlist_free(desired);

	/* A full set: the member that did not fit is named. */
	desired = pw_setlist_new();
	s = mkset(PFX "full", PW_SET_HASH_IP, AF_INET, ips2);
	pw_set_set_maxelem(s, 2);
	add_set(desired, s);
	pw_buf_reset(&err);
	memset(&st, 0, sizeof(st));
	ret = pw_ipset_kernel_sync(k, current, desired, PFX, &st, &err);
	ck_assert_int_lt(ret, 0);
	ck_assert_msg(str_contains(pw_buf_str(&err), "ipset " PFX "full: add 198.18.0.3: "),
		      "%s", pw_buf_str(&err));
	ck_assert_uint_eq(st.added, 0);
	pw_setlist_free(current);
	pw_setlist_free(desired);
	pw_buf_free(&err);
	pw_ipset_kernel_close(k);
}
END_TEST

/* ---------------------------------------------------------------- dual stack */

/*
 * An IPv4 and an IPv6 set of each type in one desired list, as a
 * dual-stack node has them: one sync creates both families, a second
 * changes members of both by difference (a v6 nomatch flipped, a v6 /0
 * split into ::/1 and 8000::/1), swaps a v6 set whose sizing changed and
 * recreates one whose family changed, and a third finds nothing to do.
 */
START_TEST(test_dual_stack_sync)
{
	static const char *const ip4[] = { "198.18.0.1", "198.18.0.2", NULL };
	static const char *const ip6[] = { "fd00::1", "fd00::2", "fd00:0:0:1::ffff", NULL };
	static const char *const net4[] = { "198.18.0.0/15", "198.18.1.0/24 nomatch", NULL };
	static const char *const net6[] = {
		"fd00::/8", "fd00:1::/32 nomatch", "fd00:2::/127", "::/0", NULL,
	};
	static const char *const port4[] = { "198.18.0.1,tcp:80", NULL };
	static const char *const port6[] = { "fd00::1,tcp:80", "fd00::1,udp:53", NULL };
	/* Second round: the same names, other members. */
	static const char *const ip4b[] = { "198.18.0.2", "198.18.0.3", NULL };
	static const char *const ip6b[] = { "fd00::2", "fd00::3", "fd00:0:0:1::ffff", NULL };
	static const char *const net6b[] = {
		"fd00::/8", "fd00:1::/32", "fd00:2::/127 nomatch", "fd00:3::/48", NULL,
	};
	static const char *const port6b[] = { "fd00::1,tcp:80", "fd00::9,sctp:9", NULL };
	static const char *const fam6[] = { "fd00::7", NULL };
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_set *s;
	char *before, *after, *lines;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "ip4", PW_SET_HASH_IP, AF_INET, ip4));
	add_set(desired, mkset(PFX "ip6", PW_SET_HASH_IP, AF_INET6, ip6));
	add_set(desired, mkset(PFX "net4", PW_SET_HASH_NET, AF_INET, net4));
	add_set(desired, mkset(PFX "net6", PW_SET_HASH_NET, AF_INET6, net6));
	add_set(desired, mkset(PFX "port4", PW_SET_HASH_IP_PORT, AF_INET, port4));
	add_set(desired, mkset(PFX "port6", PW_SET_HASH_IP_PORT, AF_INET6, port6));
	add_set(desired, mkset(PFX "fam", PW_SET_HASH_IP, AF_INET, ip4));
	sync_ok(k, desired, &st);
	/* 2 + 3 + 2 + (3 + 2 halves) + 1 + 2 + 2 */
	assert_stats(&st, 7, 0, 0, 17, 0);
	assert_roundtrip(k, desired);
	lines = kernel_add_lines(PFX "net6");
	ck_assert_str_eq(lines, "add " PFX "net6 8000::/1\n"
			 "add " PFX "net6 ::/1\n"
			 "add " PFX "net6 fd00:1::/32 nomatch\n"
			 "add " PFX "net6 fd00:2::/127\n"
			 "add " PFX "net6 fd00::/8\n");
	free(lines);
	assert_create_line(PFX "port6", "create " PFX "port6 hash:ip,port family inet6 ");
	assert_create_line(PFX "net4", "create " PFX "net4 hash:net family inet ");
	/* The kernel tests v6 members as the model says. */
	ck_assert_int_eq(pw_test_run("ipset test " PFX "net6 fd00:3::1"), 0);
	ck_assert_int_ne(pw_test_run("ipset test " PFX "net6 fd00:1::1"), 0);
	ck_assert_int_eq(pw_test_run("ipset test " PFX "net6 2001:db8::1"), 0);
	ck_assert_int_eq(pw_test_run("ipset test " PFX "port6 fd00::1,udp:53"), 0);
	ck_assert_int_ne(pw_test_run("ipset test " PFX "port6 fd00::1,tcp:53"), 0);
	pw_setlist_free(desired);

	/* The untouched sets of both families keep their text (initval and all). */
	before = capture("ipset save " PFX "ip4; ipset save " PFX "net4; ipset save " PFX "port4");
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "ip4", PW_SET_HASH_IP, AF_INET, ip4));
	add_set(desired, mkset(PFX "ip6", PW_SET_HASH_IP, AF_INET6, ip6b));
	add_set(desired, mkset(PFX "net4", PW_SET_HASH_NET, AF_INET, net4));
	add_set(desired, mkset(PFX "net6", PW_SET_HASH_NET, AF_INET6, net6b));
	add_set(desired, mkset(PFX "port4", PW_SET_HASH_IP_PORT, AF_INET, port4));
	s = mkset(PFX "port6", PW_SET_HASH_IP_PORT, AF_INET6, port6b);
	pw_set_set_maxelem(s, 1000);
	add_set(desired, s);
	add_set(desired, mkset(PFX "fam", PW_SET_HASH_IP, AF_INET6, fam6));
	sync_ok(k, desired, &st);
	/*
	 * ip6: -fd00::1 +fd00::3; net6: -::/1 -8000::/1, fd00:1::/32 and
	 * fd00:2::/127 flipped (a delete and an add each), +fd00:3::/48;
	 * port6 swapped (2 added to the new set); fam recreated (1 added).
	 */
	assert_stats(&st, 0, 2, 0, 1 + 3 + 2 + 1, 1 + 4);
	assert_roundtrip(k, desired);
	after = capture("ipset save " PFX "ip4; ipset save " PFX "net4; ipset save " PFX "port4");
	ck_assert_str_eq(after, before);
	free(after);
	free(before);
	ck_assert_int_ne(pw_test_run("ipset test " PFX "net6 fd00:2::1"), 0);
	ck_assert_int_eq(pw_test_run("ipset test " PFX "net6 fd00:1::1"), 0);
	ck_assert_int_ne(pw_test_run("ipset test " PFX "net6 2001:db8::1"), 0);
	assert_create_line(PFX "fam", "create " PFX "fam hash:ip family inet6 ");
	ck_assert(!kernel_has_set(PFX "tmp-0"));
	pw_setlist_free(desired);

	/* Round three: the same once more, nothing to do. */
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "ip4", PW_SET_HASH_IP, AF_INET, ip4b));
	add_set(desired, mkset(PFX "ip6", PW_SET_HASH_IP, AF_INET6, ip6b));
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 0, 0, 1, 1);
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 0, 0, 0, 0);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

/* An event's few changes, v4 and v6 members interleaved, set after set. */
START_TEST(test_dual_stack_changes)
{
	static const char *const ip4[] = { "198.18.0.1", NULL };
	static const char *const ip6[] = { "fd00::1", NULL };
	static const char *const port6[] = { "fd00::1,tcp:80", NULL };
	struct pw_member_changes changes = { NULL, 0, 0 };
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_buf err = PW_BUF_INIT;

	NEED_NETNS();
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "a4", PW_SET_HASH_IP, AF_INET, ip4));
	add_set(desired, mkset(PFX "a6", PW_SET_HASH_IP, AF_INET6, ip6));
	add_set(desired, mkset(PFX "p6", PW_SET_HASH_IP_PORT, AF_INET6, port6));
	sync_ok(k, desired, &st);

	pw_member_changes_push(&changes, PFX "a4", "198.18.0.2", true);
	pw_member_changes_push(&changes, PFX "a6", "fd00::2", true);
	pw_member_changes_push(&changes, PFX "a6", "fd00::3", true);
	pw_member_changes_push(&changes, PFX "a6", "fd00::1", false);
	pw_member_changes_push(&changes, PFX "p6", "fd00::2,udp:53", true);
	pw_member_changes_push(&changes, PFX "a4", "198.18.0.1", false);
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(pw_ipset_kernel_apply_changes(k, &changes, &st, &err), 0);
	ck_assert_str_eq(pw_buf_str(&err), "");
	ck_assert_uint_eq(st.added, 4);
	ck_assert_uint_eq(st.deleted, 2);
	pw_setlist_apply_changes(desired, &changes);
	assert_roundtrip(k, desired);
	pw_member_changes_free(&changes);

	/* A v4 member for a v6 set is refused, and named. */
	pw_member_changes_push(&changes, PFX "a6", "198.18.0.9", true);
	memset(&st, 0, sizeof(st));
	ck_assert_int_lt(pw_ipset_kernel_apply_changes(k, &changes, &st, &err), 0);
	ck_assert_msg(str_contains(pw_buf_str(&err), "ipset " PFX "a6: add 198.18.0.9"),
		      "%s", pw_buf_str(&err));
	ck_assert_uint_eq(st.added, 0);
	assert_roundtrip(k, desired);
	pw_member_changes_free(&changes);
	pw_buf_free(&err);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

static bool rule6_exists(const char *set)
{
	return pw_test_run("ip6tables-legacy -C INPUT -m set --match-set %s src -j ACCEPT",
			   set) == 0;
}

/*
 * A v6 set an ip6tables rule uses: a new sizing swaps it in under the
 * rule, a new family cannot (the kernel refuses both the swap and the
 * destroy), and the v4 set of the same shape beside it is not touched.
 */
START_TEST(test_v6_set_in_use)
{
	static const char *const ip6[] = { "fd00::1", "fd00::2", NULL };
	static const char *const ip6b[] = { "fd00::2", "fd00::3", NULL };
	static const char *const ip4[] = { "198.18.0.1", NULL };
	struct pw_setlist *desired;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_set *s;
	char *text, *before, *after;

	if (!pw_test_enter_netns("(command -v ip6tables-legacy && ip6tables-legacy-save)",
				 "ip6tables-legacy, and IPv6 with ip6_tables in the kernel"))
		return;
	k = open_kernel();
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "u6", PW_SET_HASH_IP, AF_INET6, ip6));
	add_set(desired, mkset(PFX "u4", PW_SET_HASH_IP, AF_INET, ip4));
	sync_ok(k, desired, &st);
	pw_setlist_free(desired);
	ck_assert_int_eq(pw_test_run("ip6tables-legacy -A INPUT -m set --match-set " PFX "u6 "
				     "src -j ACCEPT"), 0);
	ck_assert_int_eq(pw_test_run("iptables-legacy -A INPUT -m set --match-set " PFX "u4 "
				     "src -j ACCEPT"), 0);
	before = capture("ipset save " PFX "u4");

	desired = pw_setlist_new();
	s = mkset(PFX "u6", PW_SET_HASH_IP, AF_INET6, ip6b);
	pw_set_set_maxelem(s, 4096);
	add_set(desired, s);
	add_set(desired, mkset(PFX "u4", PW_SET_HASH_IP, AF_INET, ip4));
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 1, 0, 2, 0);
	assert_roundtrip(k, desired);
	ck_assert(rule6_exists(PFX "u6"));
	text = capture("ipset list -t " PFX "u6");
	ck_assert_msg(str_contains(text, "References: 1\n"), "%s", text);
	ck_assert_msg(str_contains(text, "family inet6 ") && str_contains(text, "maxelem 4096"),
		      "%s", text);
	free(text);
	after = capture("ipset save " PFX "u4");
	ck_assert_str_eq(after, before);
	free(after);
	free(before);
	pw_setlist_free(desired);

	/* inet6 to inet under the rule: refused, the set left as it was. */
	before = capture("ipset save " PFX "u6");
	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "u6", PW_SET_HASH_IP, AF_INET, ip4));
	ck_assert_int_eq(sync_to(k, desired, &st, &err), -EBUSY);
	ck_assert_msg(str_contains(pw_buf_str(&err), PFX "u6: "), "%s", pw_buf_str(&err));
	after = capture("ipset save " PFX "u6");
	ck_assert_str_eq(after, before);
	ck_assert(rule6_exists(PFX "u6"));
	free(before);
	free(after);
	pw_buf_free(&err);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

/* What podwall would not have written, in v6 sets: listed empty, replaced. */
START_TEST(test_v6_odd_sets)
{
	static const char *const ip6[] = { "fd00::1", NULL };
	static const char *const port6[] = { "fd00::1,tcp:80", NULL };
	struct pw_setlist *desired, *listed;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;

	NEED_NETNS();
	k = open_kernel();
	ck_assert_int_eq(pw_test_run("ipset create " PFX "tmo6 hash:ip family inet6 "
				     "timeout 300"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "tmo6 fd00::1"), 0);
	ck_assert_int_eq(pw_test_run("ipset create " PFX "nm6 hash:ip family inet6 "
				     "netmask 64"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "nm6 fd00::1"), 0);
	ck_assert_int_eq(pw_test_run("ipset create " PFX "icmp6 hash:ip,port family inet6"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "icmp6 fd00::1,tcp:80"), 0);
	ck_assert_int_eq(pw_test_run("ipset add " PFX "icmp6 fd00::1,icmpv6:echo-request"), 0);
	ck_assert_int_eq(pw_test_run("ipset create " PFX "np6 hash:net,port family inet6"), 0);

	listed = list_sets(k);
	ck_assert_uint_eq(pw_setlist_count(listed), 4);
	assert_listed_empty(listed, PFX "tmo6", PW_SET_HASH_IP, AF_INET6, 0);
	assert_listed_empty(listed, PFX "nm6", PW_SET_HASH_IP, AF_INET6, 0);
	assert_listed_empty(listed, PFX "icmp6", PW_SET_HASH_IP_PORT, AF_INET6, 0);
	assert_listed_empty(listed, PFX "np6", PW_SET_HASH_NET, AF_UNSPEC, 65536);
	pw_setlist_free(listed);

	desired = pw_setlist_new();
	add_set(desired, mkset(PFX "tmo6", PW_SET_HASH_IP, AF_INET6, ip6));
	add_set(desired, mkset(PFX "nm6", PW_SET_HASH_IP, AF_INET6, ip6));
	add_set(desired, mkset(PFX "icmp6", PW_SET_HASH_IP_PORT, AF_INET6, port6));
	add_set(desired, mkset(PFX "np6", PW_SET_HASH_NET, AF_INET6, ip6));
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 4, 0, 4, 0);
	assert_roundtrip(k, desired);
	assert_create_line(PFX "nm6", "create " PFX "nm6 hash:ip family inet6 hashsize 1024 "
			   "maxelem 1048576");
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 0, 0, 0, 0);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

/* Many v6 members go in batched, and read back equal. */
START_TEST(test_large_v6_set)
{
	enum { N = 20000 };
	struct pw_setlist *desired, *listed;
	struct pw_ipset_kernel *k;
	struct pw_ipset_stats st;
	struct timeval t0, t1;
	struct pw_set *s;
	struct pw_cidr ip;
	unsigned i;

	NEED_NETNS();
	k = open_kernel();
	s = pw_set_new(PFX "big6", PW_SET_HASH_IP, AF_INET6);
	for (i = 0; i < N; i++) {
		memset(&ip, 0, sizeof(ip));
		ip.family = AF_INET6;
		ip.prefix = 128;
		ip.addr[0] = 0xfd;
		ip.addr[13] = (uint8_t)(i >> 16);
		ip.addr[14] = (uint8_t)(i >> 8);
		ip.addr[15] = (uint8_t)i;
		pw_set_add_ip(s, &ip);
	}
	desired = pw_setlist_new();
	add_set(desired, s);
	gettimeofday(&t0, NULL);
	sync_ok(k, desired, &st);
	gettimeofday(&t1, NULL);
	printf("check_ipset_kernel: %u IPv6 members created in %.3f s\n", (unsigned)N,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6);
	fflush(stdout);
	assert_stats(&st, 1, 0, 0, N, 0);
	listed = list_sets(k);
	ck_assert(pw_set_equal(pw_setlist_find(listed, PFX "big6"), s));
	pw_setlist_free(listed);
	sync_ok(k, desired, &st);
	assert_stats(&st, 0, 0, 0, 0, 0);
	pw_setlist_free(desired);
	pw_ipset_kernel_close(k);
}
END_TEST

/* ---------------------------------------------------------------- suite */

static Suite *ipset_kernel_suite(void)
{
	Suite *s = suite_create("ipset_kernel");
	TCase *create = tcase_create("create"), *update = tcase_create("update");
	TCase *replace = tcase_create("replace"), *destroy = tcase_create("destroy");
	TCase *scale = tcase_create("scale"), *errors = tcase_create("errors");
	TCase *dual = tcase_create("dual stack");

	tcase_add_test(create, test_create_hash_ip);
	tcase_add_test(create, test_create_hash_net);
	tcase_add_test(create, test_create_hash_ip_port);
	tcase_set_timeout(create, 60);
	suite_add_tcase(s, create);

	tcase_add_test(update, test_idempotent);
	tcase_add_test(update, test_members_by_difference);
	tcase_add_test(update, test_nomatch_flip);
	tcase_set_timeout(update, 60);
	suite_add_tcase(s, update);

	tcase_add_test(replace, test_swap_on_maxelem_change);
	tcase_add_test(replace, test_replace_type_and_family);
	tcase_add_test(replace, test_leftover_temp_set);
	tcase_add_test(replace, test_odd_sets_under_prefix);
	tcase_set_timeout(replace, 60);
	suite_add_tcase(s, replace);

	tcase_add_test(destroy, test_destroy_stale);
	tcase_add_test(destroy, test_destroy_refuses_foreign_names);
	tcase_set_timeout(destroy, 60);
	suite_add_tcase(s, destroy);

	tcase_add_test(scale, test_large_set);
	tcase_set_timeout(scale, 600);
	suite_add_tcase(s, scale);

	tcase_add_test(dual, test_dual_stack_sync);
	tcase_add_test(dual, test_dual_stack_changes);
	tcase_add_test(dual, test_v6_set_in_use);
	tcase_add_test(dual, test_v6_odd_sets);
	tcase_add_test(dual, test_large_v6_set);
	tcase_set_timeout(dual, 120);
	suite_add_tcase(s, dual);

	tcase_add_test(errors, test_error_names);
	tcase_add_test(errors, test_error_family);
	tcase_add_test(errors, test_error_from_kernel);
	tcase_set_timeout(errors, 60);
	suite_add_tcase(s, errors);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ipset_kernel_suite());
	int failed;

	/* unshare() in a test that is not forked would move the runner itself. */
	if (srunner_fork_status(sr) == CK_NOFORK) {
		printf("SKIP: check_ipset_kernel needs forked tests (unset CK_FORK=no)\n");
		srunner_free(sr);
		return EXIT_SUCCESS;
	}
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
