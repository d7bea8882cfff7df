/* Helpers shared by the Check suites. */
#ifndef PW_TESTLIB_H
#define PW_TESTLIB_H

#include <stdbool.h>

#include "lib/util.h"

/*
 * Moves this test (a forked Check child) into a fresh network namespace of
 * its own, which vanishes with it, so the machine's own is never touched.
 * When that is not allowed (not root), or tool_check (a shell command, or
 * NULL) fails, prints "SKIP: ..." and returns false.
 */
bool pw_test_enter_netns(const char *tool_check, const char *tools);

/* Runs a shell command, output discarded; its exit status, or -1. */
int pw_test_run(const char *fmt, ...) PW_PRINTF(1, 2);

/* Removes dir and what it holds, descending at most depth levels. */
void pw_test_remove_tree(const char *dir, int depth);

/* A fresh directory "<$TMPDIR or /tmp>/<suite>.XXXXXX" in dir (64 bytes). */
void pw_test_make_workdir(char dir[64], const char *suite);

/*
 * Loads manifests given as text into cluster (a struct pw_cluster), as
 * podwall -f would; the test fails on any error in them.
 */
struct pw_cluster;
void pw_test_load_manifest(struct pw_cluster *cluster, const char *text);

/* An address or a prefix for a test; the test fails if text is neither. */
#include "lib/cidr.h"
struct pw_cidr pw_test_ip(const char *text);
struct pw_cidr pw_test_prefix(const char *text);

/*
 * Puts /usr/sbin and /sbin at the end of PATH: ip, iptables-legacy, ipset
 * and nsenter live there, and a user's PATH may lack them.
 */
void pw_test_path_with_sbin(void);

/* For Check suites: hay holds needle, or the test fails showing both. */
#define ck_assert_contains(hay, needle) \
	ck_assert_msg(strstr((hay), (needle)) != NULL, \
		      "expected \"%s\" in:\n%s", (needle), (hay))

#endif
