#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/cluster.h"
#include "k8s/manifest.h"
#include "tests/testlib.h"

static int store_object(struct pw_object *obj, const char *where, void *ctx)
{
	(void)where;
	pw_cluster_upsert(ctx, obj);
	return 0;
}

void pw_test_load_manifest(struct pw_cluster *cluster, const char *text)
{
	char path[] = "/tmp/pw-test-manifest-XXXXXX.yaml";
	struct pw_buf errors = PW_BUF_INIT, notices = PW_BUF_INIT;
	int fd = mkstemps(path, 5);
	int n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	n = pw_manifest_load(path, store_object, cluster, &errors, &notices);
	unlink(path);
	ck_assert_msg(n == 0, "manifest errors: %s", pw_buf_str(&errors));
	pw_buf_free(&errors);
	pw_buf_free(&notices);
}

static bool skip(const char *why)
{
	printf("SKIP: %s\n", why);
	fflush(stdout);
	return false;
}

bool pw_test_enter_netns(const char *tool_check, const char *tools)
{
	char why[160];

	if (geteuid() != 0)
		return skip("needs root (network namespaces)");
	if (unshare(CLONE_NEWNET) < 0) {
		if (errno == EPERM)
			return skip("needs root (network namespaces)");
		ck_abort_msg("unshare(CLONE_NEWNET): %s", strerror(errno));
	}
	if (tool_check && pw_test_run("%s", tool_check) != 0) {
		snprintf(why, sizeof(why), "needs %s", tools);
		return skip(why);
	}
	return true;
}

int pw_test_run(const char *fmt, ...)
{
	struct pw_buf cmd = PW_BUF_INIT;
	va_list ap;
	int status;

	va_start(ap, fmt);
	pw_buf_vprintf(&cmd, fmt, ap);
	va_end(ap);
	pw_buf_puts(&cmd, " >/dev/null 2>&1");
	status = system(cmd.data);
	pw_buf_free(&cmd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void pw_test_remove_tree(const char *dir, int depth)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *path;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		path = pw_xasprintf("%s/%s", dir, e->d_name);
		if (unlink(path) < 0 && depth > 0)
			pw_test_remove_tree(path, depth - 1);
		free(path);
	}
	closedir(d);
	rmdir(dir);
}

void pw_test_make_workdir(char dir[64], const char *suite)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, 64, "%s/%s.XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp", suite);
	if (!mkdtemp(dir)) {
		perror(dir);
		exit(EXIT_FAILURE);
	}
}

struct pw_cidr pw_test_ip(const char *text)
{
	struct pw_cidr c;

	ck_assert_int_eq(pw_ip_parse(text, &c), 0);
	return c;
}

struct pw_cidr pw_test_prefix(const char *text)
{
	struct pw_cidr c;

	ck_assert_int_eq(pw_cidr_parse(text, &c), 0);
	return c;
}

void pw_test_path_with_sbin(void)
{
	const char *path = getenv("PATH");
	char *p = pw_xasprintf("%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");

	setenv("PATH", p, 1);
	free(p);
}
