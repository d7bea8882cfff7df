#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>

#include "k8s/client.h"
#include "k8s/kubeconfig.h"
#include "lib/util.h"
#include "tests/testlib.h"

/* ------------------------------------------------------------ fixture */

/*
 * Everything a run writes goes under rundir, removed at its end: a test
 * that fails in a forked child never reaches its teardown.
 */
static char rundir[96];
static char workdir[128];

static void make_rundir(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(rundir, sizeof(rundir), "%s/check_client.XXXXXX",
		 tmp && *tmp && strlen(tmp) < 64 ? tmp : "/tmp");
	if (!mkdtemp(rundir)) {
		perror(rundir);
		exit(EXIT_FAILURE);
	}
}

static void make_workdir(void)
{
	snprintf(workdir, sizeof(workdir), "%s/test.XXXXXX", rundir);
	ck_assert_msg(mkdtemp(workdir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void setup(void)
{
	make_workdir();
	unsetenv("KUBECONFIG");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static void teardown(void)
{
	pw_test_remove_tree(workdir, 3);
}

static char *in_workdir(const char *name)
{
	return pw_xasprintf("%s/%s", workdir, name);
}

/* Writes text to name under the work directory and returns its path. */
static char *write_file(const char *name, const char *text)
{
	char *path = in_workdir(name);
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static void make_subdir(const char *name)
{
	char *path = in_workdir(name);

	ck_assert_msg(mkdir(path, 0700) == 0, "%s: %s", path, strerror(errno));
	free(path);
}

static char *read_text(const char *path)
{
	struct pw_buf b = PW_BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		pw_buf_add(&b, chunk, n);
	fclose(f);
	return pw_buf_steal(&b);
}

static char *base64(const char *text)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)text;
	size_t len = strlen(text), i;
	struct pw_buf b = PW_BUF_INIT;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

		pw_buf_putc(&b, digits[v >> 18]);
		pw_buf_putc(&b, digits[(v >> 12) & 63]);
		pw_buf_putc(&b, digits[(v >> 6) & 63]);
		pw_buf_putc(&b, digits[v & 63]);
	}
	if (len - i == 1) {
		unsigned v = (unsigned)p[i] << 16;

		pw_buf_putc(&b, digits[v >> 18]);
		pw_buf_putc(&b, digits[(v >> 12) & 63]);
		pw_buf_puts(&b, "==");
	} else if (len - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;

		pw_buf_putc(&b, digits[v >> 18]);
		pw_buf_putc(&b, digits[(v >> 12) & 63]);
		pw_buf_putc(&b, digits[(v >> 6) & 63]);
		pw_buf_putc(&b, '=');
	}
	return pw_buf_steal(&b);
}

/* ---------------------------------------------------------- kubeconfig */

#define CA_PEM "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklD" \
	"QVRFLS0tLS0K"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n"
#define CERT_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNMSUVOVAotLS0tLUVORCBDRVJUSUZJ" \
	"Q0FURS0tLS0tCg=="
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n"
#define KEY_B64 "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCktFWQotLS0tLUVORCBQUklWQVRFIEtF" \
	"WS0tLS0tCg=="

/* A kubeconfig with one context "c" of cluster "k" and user "u". */
static char *kubeconfig(const char *name, const char *cluster, const char *user)
{
	char *text = pw_xasprintf(
		"apiVersion: v1\n"
		"kind: Config\n"
		"current-context: c\n"
		"preferences: {}\n"
		"contexts:\n"
		"- name: other\n"
		"  context: {cluster: nowhere, user: nobody}\n"
		"- name: c\n"
		"  context:\n"
		"    cluster: k\n"
		"    user: u\n"
		"    namespace: default\n"
		"clusters:\n"
		"- name: k\n"
		"  cluster:\n%s"
		"users:\n"
		"- name: u\n"
		"  user:\n%s", cluster, user);
	char *path = write_file(name, text);

	free(text);
	return path;
}

/* Loads a kubeconfig expected to be refused; returns the error text. */
static char *load_error(const char *cluster, const char *user, int expect)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *path = kubeconfig("config", cluster, user);
	int ret;

	ret = pw_kubeconfig_load(path, &cfg, &err);
	ck_assert_msg(ret == expect, "expected %d, got %d (%s)", expect, ret,
		      pw_buf_str(&err));
	ck_assert_ptr_eq(cfg.server, NULL);
	ck_assert_contains(pw_buf_str(&err), path);
	free(path);
	return pw_buf_steal(&err);
}

START_TEST(test_kubeconfig_inline_data)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *path = kubeconfig("config",
		"    server: https://10.0.0.1:6443/\n"
		"    certificate-authority-data: " CA_B64 "\n",
		"    client-certificate-data: " CERT_B64 "\n"
		"    client-key-data: >-\n"
		"      " KEY_B64 "\n"
		"    token: abc.def\n");

	ck_assert_int_eq(pw_kubeconfig_load(path, &cfg, &err), 0);
	ck_assert_str_eq(pw_buf_str(&err), "");
	ck_assert_str_eq(cfg.server, "https://10.0.0.1:6443");
	ck_assert_str_eq(cfg.ca_data, CA_PEM);
	ck_assert_str_eq(cfg.cert_data, CERT_PEM);
	ck_assert_str_eq(cfg.key_data, KEY_PEM);
	ck_assert_str_eq(cfg.token, "abc.def");
	ck_assert_ptr_eq(cfg.ca_file, NULL);
	ck_assert_ptr_eq(cfg.cert_file, NULL);
	ck_assert_ptr_eq(cfg.key_file, NULL);
	ck_assert_ptr_eq(cfg.token_file, NULL);
	ck_assert(!cfg.insecure_skip_tls_verify);
	pw_k8s_config_free(&cfg);
	pw_k8s_config_free(&cfg);	/* freeing twice is harmless */
	pw_k8s_config_free(NULL);
	free(path);
}
END_TEST

START_TEST(test_kubeconfig_files)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *path, *expect;

	make_subdir("sub");
	make_subdir("sub/certs");
	path = kubeconfig("sub/config",
		"    server: http://127.0.0.1:8080\n"
		"    certificate-authority: certs/ca.crt\n",
		"    client-certificate: /etc/podwall/client.crt\n"
		"    client-key: ../client.key\n"
		"    tokenFile: token\n");
	ck_assert_int_eq(pw_kubeconfig_load(path, &cfg, &err), 0);
	ck_assert_str_eq(cfg.server, "http://127.0.0.1:8080");
	expect = pw_xasprintf("%s/sub/certs/ca.crt", workdir);
	ck_assert_str_eq(cfg.ca_file, expect);
	free(expect);
	ck_assert_str_eq(cfg.cert_file, "/etc/podwall/client.crt");
	expect = pw_xasprintf("%s/sub/../client.key", workdir);
	ck_assert_str_eq(cfg.key_file, expect);
	free(expect);
	expect = pw_xasprintf("%s/sub/token", workdir);
	ck_assert_str_eq(cfg.token_file, expect);
	free(expect);
	ck_assert_ptr_eq(cfg.token, NULL);
	ck_assert_ptr_eq(cfg.ca_data, NULL);
	pw_k8s_config_free(&cfg);
	free(path);
}
END_TEST

/* A kubeconfig named relative to the working directory gives absolute paths. */
START_TEST(test_kubeconfig_relative_to_cwd)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *cwd = getcwd(NULL, 0), *path, *expect;

	make_subdir("d");
	path = kubeconfig("d/kc", "    server: https://h\n"
			  "    certificate-authority: ca.crt\n", "    {}\n");
	free(path);
	ck_assert_int_eq(chdir(workdir), 0);
	ck_assert_int_eq(pw_kubeconfig_load("d/kc", &cfg, &err), 0);
	ck_assert_int_eq(chdir(cwd), 0);
	expect = pw_xasprintf("%s/d/ca.crt", workdir);
	ck_assert_str_eq(cfg.ca_file, expect);
	free(expect);
	ck_assert_ptr_eq(cfg.token, NULL);
	ck_assert_ptr_eq(cfg.cert_file, NULL);
	pw_k8s_config_free(&cfg);
	free(cwd);
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_kubeconfig_token_and_token_file)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *path = kubeconfig("config", "    server: https://h:1\n",
				"    token: \"static\"\n"
				"    tokenFile: /run/token\n");

	ck_assert_int_eq(pw_kubeconfig_load(path, &cfg, &err), 0);
	ck_assert_str_eq(cfg.token, "static");
	ck_assert_str_eq(cfg.token_file, "/run/token");
	pw_k8s_config_free(&cfg);
	free(path);
}
END_TEST

START_TEST(test_kubeconfig_insecure)
{
	static const struct {
		const char *value;
		bool insecure;
	} cases[] = {
		{ "true", true }, { "True", true }, { "false", false }, { "null", false },
	};
	struct pw_k8s_config cfg;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases); i++) {
		struct pw_buf err = PW_BUF_INIT;
		char *cluster = pw_xasprintf("    server: https://h\n"
					     "    insecure-skip-tls-verify: %s\n",
					     cases[i].value);
		char *path = kubeconfig("config", cluster, "    token: t\n");

		ck_assert_int_eq(pw_kubeconfig_load(path, &cfg, &err), 0);
		ck_assert_msg(cfg.insecure_skip_tls_verify == cases[i].insecure, "%s",
			      cases[i].value);
		pw_k8s_config_free(&cfg);
		free(cluster);
		free(path);
	}
}
END_TEST

/* client-go prefers inline data to a file when both are given. */
START_TEST(test_kubeconfig_data_beats_file)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *path = kubeconfig("config",
		"    server: https://h\n"
		"    certificate-authority: ca.crt\n"
		"    certificate-authority-data: " CA_B64 "\n",
		"    client-certificate: c.crt\n"
		"    client-certificate-data: " CERT_B64 "\n"
		"    client-key: c.key\n"
		"    client-key-data: " KEY_B64 "\n");

	ck_assert_int_eq(pw_kubeconfig_load(path, &cfg, &err), 0);
	ck_assert_ptr_eq(cfg.ca_file, NULL);
	ck_assert_ptr_eq(cfg.cert_file, NULL);
	ck_assert_ptr_eq(cfg.key_file, NULL);
	ck_assert_str_eq(cfg.ca_data, CA_PEM);
	pw_k8s_config_free(&cfg);
	free(path);
}
END_TEST

/* A context without a user is anonymous. */
START_TEST(test_kubeconfig_no_user)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *path = write_file("config",
		"current-context: c\n"
		"contexts: [{name: c, context: {cluster: k}}]\n"
		"clusters: [{name: k, cluster: {server: 'https://[fd00::1]:6443'}}]\n");

	ck_assert_int_eq(pw_kubeconfig_load(path, &cfg, &err), 0);
	ck_assert_str_eq(cfg.server, "https://[fd00::1]:6443");
	ck_assert_ptr_eq(cfg.token, NULL);
	pw_k8s_config_free(&cfg);
	free(path);
}
END_TEST

START_TEST(test_kubeconfig_errors)
{
	static const struct {
		const char *cluster;
		const char *user;
		int ret;
		const char *message;
	} cases[] = {
		{ "    server: ftp://h\n", "    {}\n", -EINVAL,
		  "clusters[\"k\"].cluster.server: must start with https:// or http://, "
		  "not \"ftp://h\"" },
		{ "    server: 10.0.0.1:6443\n", "    {}\n", -EINVAL,
		  "clusters[\"k\"].cluster.server: must start with" },
		{ "    server: https://\n", "    {}\n", -EINVAL,
		  "clusters[\"k\"].cluster.server: no host" },
		{ "    certificate-authority: ca.crt\n", "    {}\n", -EINVAL,
		  "clusters[\"k\"].cluster.server: missing" },
		{ "    server: [a]\n", "    {}\n", -EINVAL,
		  "clusters[\"k\"].cluster.server: expected a string" },
		{ "    server: https://h\n    certificate-authority-data: not*base64\n",
		  "    {}\n", -EINVAL,
		  "clusters[\"k\"].cluster.certificate-authority-data: invalid base64" },
		{ "    server: https://h\n    certificate-authority-data: QUJD=\n",
		  "    {}\n", -EINVAL, "certificate-authority-data: invalid base64" },
		{ "    server: https://h\n    certificate-authority-data: Q\n",
		  "    {}\n", -EINVAL, "certificate-authority-data: invalid base64" },
		{ "    server: https://h\n    insecure-skip-tls-verify: maybe\n",
		  "    {}\n", -EINVAL,
		  "clusters[\"k\"].cluster.insecure-skip-tls-verify: expected true or "
		  "false" },
		{ "    server: https://h\n", "    client-key-data: x\n", -EINVAL,
		  "users[\"u\"].user.client-key-data: invalid base64" },
		{ "    server: https://h\n", "    client-certificate-data: x==\n",
		  -EINVAL,
		  "users[\"u\"].user.client-certificate-data: invalid base64" },
		{ "    server: https://h\n", "    client-certificate: c.crt\n", -EINVAL,
		  "users[\"u\"].user.client-key: missing" },
		{ "    server: https://h\n", "    client-key-data: " KEY_B64 "\n",
		  -EINVAL,
		  "users[\"u\"].user.client-certificate: missing" },
		{ "    server: https://h\n",
		  "    exec:\n      command: aws\n", -ENOTSUP,
		  "users[\"u\"].user.exec: not supported" },
		{ "    server: https://h\n", "    token: [1]\n", -EINVAL,
		  "users[\"u\"].user.token: expected a string" },
		/* AAAA decodes to NUL bytes: not PEM. */
		{ "    server: https://h\n    certificate-authority-data: AAAA\n",
		  "    {}\n", -EINVAL, "certificate-authority-data: not PEM text" },
	};
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases); i++) {
		char *msg = load_error(cases[i].cluster, cases[i].user, cases[i].ret);

		ck_assert_contains(msg, cases[i].message);
		free(msg);
	}
}
END_TEST

START_TEST(test_kubeconfig_bad_structure)
{
	static const struct {
		const char *text;
		int ret;
		const char *message;
	} cases[] = {
		{ "contexts: []\n", -EINVAL, "current-context: missing" },
		{ "current-context: \"\"\n", -EINVAL, "current-context: missing" },
		{ "current-context: c\n", -ENOENT, "contexts: no context named \"c\"" },
		{ "current-context: c\ncontexts: [{name: d, context: {cluster: k}}]\n",
		  -ENOENT, "contexts: no context named \"c\"" },
		{ "current-context: c\ncontexts: {c: 1}\n", -EINVAL,
		  "contexts: expected a list" },
		{ "current-context: c\ncontexts: [{name: c}]\n", -EINVAL,
		  "contexts[\"c\"].context: missing" },
		{ "current-context: c\ncontexts: [{name: c, context: {user: u}}]\n",
		  -EINVAL, "contexts[\"c\"].context.cluster: missing" },
		{ "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
		  "clusters: [{name: j, cluster: {server: https://h}}]\n",
		  -ENOENT, "clusters: no cluster named \"k\"" },
		{ "current-context: c\n"
		  "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
		  "clusters: [{name: k, cluster: {server: https://h}}]\n"
		  "users: [{name: v, user: {token: t}}]\n",
		  -ENOENT, "users: no user named \"u\"" },
		{ "current-context: c\n"
		  "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
		  "clusters: [{name: k, cluster: {server: https://h}}]\n"
		  "users: [{name: u, user: [1]}]\n",
		  -EINVAL, "users[\"u\"].user: expected a mapping" },
		{ "- a\n- b\n", -EINVAL, "expected a mapping at the top" },
		{ "", -EINVAL, "empty" },
		{ "current-context: [\n", -EINVAL, "line 2 column 1" },
	};
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases); i++) {
		struct pw_k8s_config cfg;
		struct pw_buf err = PW_BUF_INIT;
		char *path = write_file("config", cases[i].text);
		int ret = pw_kubeconfig_load(path, &cfg, &err);

		ck_assert_msg(ret == cases[i].ret, "case %zu: %d (%s)", i, ret,
			      pw_buf_str(&err));
		ck_assert_contains(pw_buf_str(&err), path);
		ck_assert_contains(pw_buf_str(&err), cases[i].message);
		ck_assert_ptr_eq(cfg.server, NULL);
		pw_buf_free(&err);
		free(path);
	}
}
END_TEST

START_TEST(test_kubeconfig_missing_file)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *path = in_workdir("absent");

	ck_assert_int_eq(pw_kubeconfig_load(path, &cfg, &err), -ENOENT);
	ck_assert_contains(pw_buf_str(&err), path);
	ck_assert_contains(pw_buf_str(&err), strerror(ENOENT));
	pw_k8s_config_free(&cfg);
	pw_buf_free(&err);
	free(path);
}
END_TEST

/* ---------------------------------------------------------- in-cluster */

static char *fake_serviceaccount(void)
{
	char *token, *ca;

	make_subdir("sa");
	token = write_file("sa/token", "tok\n");
	ca = write_file("sa/ca.crt", CA_PEM);
	free(token);
	free(ca);
	return in_workdir("sa");
}

START_TEST(test_incluster)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *root = fake_serviceaccount(), *expect;

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	ck_assert_int_eq(pw_k8s_incluster_config(root, &cfg, &err), 0);
	ck_assert_str_eq(cfg.server, "https://10.96.0.1:443");
	expect = pw_xasprintf("%s/token", root);
	ck_assert_str_eq(cfg.token_file, expect);
	free(expect);
	expect = pw_xasprintf("%s/ca.crt", root);
	ck_assert_str_eq(cfg.ca_file, expect);
	free(expect);
	ck_assert_ptr_eq(cfg.token, NULL);
	ck_assert(!cfg.insecure_skip_tls_verify);
	pw_k8s_config_free(&cfg);

	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	ck_assert_int_eq(pw_k8s_incluster_config(root, &cfg, &err), 0);
	ck_assert_str_eq(cfg.server, "https://[fd00:10:96::1]:443");
	pw_k8s_config_free(&cfg);
	free(root);
}
END_TEST

START_TEST(test_incluster_errors)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *root = fake_serviceaccount(), *token;

	ck_assert_int_eq(pw_k8s_incluster_config(root, &cfg, &err), -ENOENT);
	ck_assert_contains(pw_buf_str(&err), "KUBERNETES_SERVICE_HOST");
	ck_assert_ptr_eq(cfg.server, NULL);

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_k8s_incluster_config(root, &cfg, &err), -ENOENT);
	ck_assert_contains(pw_buf_str(&err), "KUBERNETES_SERVICE_PORT");

	setenv("KUBERNETES_SERVICE_PORT", "https", 1);
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_k8s_incluster_config(root, &cfg, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "KUBERNETES_SERVICE_PORT: not a port");

	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	token = pw_xasprintf("%s/token", root);
	ck_assert_int_eq(unlink(token), 0);
	pw_buf_reset(&err);
	ck_assert_int_eq(pw_k8s_incluster_config(root, &cfg, &err), -ENOENT);
	ck_assert_contains(pw_buf_str(&err), token);
	ck_assert_ptr_eq(cfg.server, NULL);
	pw_k8s_config_free(&cfg);
	pw_buf_free(&err);
	free(token);
	free(root);
}
END_TEST

/* ------------------------------------------------------------- resolve */

START_TEST(test_resolve_order)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char *flag = kubeconfig("flag", "    server: https://flag\n", "    {}\n");
	char *second = kubeconfig("second", "    server: https://second\n", "    {}\n");
	char *third = kubeconfig("third", "    server: https://third\n", "    {}\n");
	char *env = pw_xasprintf("%s/absent::%s:%s", workdir, second, third);

	setenv("KUBECONFIG", env, 1);
	ck_assert_int_eq(pw_k8s_config_resolve(flag, &cfg, &err), 0);
	ck_assert_str_eq(cfg.server, "https://flag");
	pw_k8s_config_free(&cfg);

	ck_assert_int_eq(pw_k8s_config_resolve(NULL, &cfg, &err), 0);
	ck_assert_str_eq(cfg.server, "https://second");
	pw_k8s_config_free(&cfg);
	ck_assert_int_eq(pw_k8s_config_resolve("", &cfg, &err), 0);
	ck_assert_str_eq(cfg.server, "https://second");
	pw_k8s_config_free(&cfg);

	/* A file that exists but is wrong is an error, not a reason to go on. */
	free(write_file("second", "current-context: x\n"));
	ck_assert_int_eq(pw_k8s_config_resolve(NULL, &cfg, &err), -ENOENT);
	ck_assert_contains(pw_buf_str(&err), second);
	ck_assert_ptr_eq(cfg.server, NULL);

	/* An explicit flag that does not exist is an error too. */
	pw_buf_reset(&err);
	free(env);
	env = pw_xasprintf("%s/absent", workdir);
	ck_assert_int_eq(pw_k8s_config_resolve(env, &cfg, &err), -ENOENT);
	ck_assert_contains(pw_buf_str(&err), env);

	/* No file exists: in-cluster, which is not there either. */
	setenv("KUBECONFIG", env, 1);
	pw_buf_reset(&err);
	ck_assert_int_lt(pw_k8s_config_resolve(NULL, &cfg, &err), 0);
	ck_assert_contains(pw_buf_str(&err), "KUBERNETES_SERVICE_HOST");
	ck_assert_contains(pw_buf_str(&err), env);
	ck_assert_ptr_eq(cfg.server, NULL);

	unsetenv("KUBECONFIG");
	pw_buf_reset(&err);
	ck_assert_int_lt(pw_k8s_config_resolve(NULL, &cfg, &err), 0);
	ck_assert_contains(pw_buf_str(&err), "in-cluster");
	pw_k8s_config_free(&cfg);
	pw_buf_free(&err);
	free(env);
	free(flag);
	free(second);
	free(third);
}
END_TEST

/* ---------------------------------------------------- the fake apiserver */

/*
 * tests/fake-apiserver.py, started by each test and killed by its
 * teardown; the certificates (ca.crt, server.*, client.*, and other-ca.crt
 * with other-client.* for the negative tests) are made once per run.
 */
static char certdir[128];
static char *server_script;
static pid_t server_pid;
static int api_port, control_port;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *source_path(const char *rel)
{
	const char *top = getenv("top_srcdir");
	const char *file = __FILE__, *end = strstr(file, "tests/check_client.c");

	if (top && *top)
		return pw_xasprintf("%s/%s", top, rel);
	if (end)
		return pw_xasprintf("%.*s%s", (int)(end - file), file, rel);
	return pw_xstrdup(rel);
}

static void server_kill(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
	}
	server_pid = 0;
}

/* Runs argv to its end; its output goes to log. */
static int run_command(char *const argv[], const char *log)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static void make_certs(char *dir)
{
	char *log, *argv[5];

	snprintf(dir, 128, "%s/certs.XXXXXX", rundir);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	log = pw_xasprintf("%s.log", dir);
	argv[0] = (char *)"python3";
	argv[1] = server_script;
	argv[2] = (char *)"make-certs";
	argv[3] = dir;
	argv[4] = NULL;
	if (run_command(argv, log) != 0) {
		char *text = read_text(log);

		ck_abort_msg("make-certs failed:\n%s", text ? text : "");
	}
	unlink(log);
	free(log);
}

static void certs_setup(void)
{
	server_script = source_path("tests/fake-apiserver.py");
	make_certs(certdir);
}

static void certs_teardown(void)
{
	pw_test_remove_tree(certdir, 1);
	free(server_script);
	server_script = NULL;
}

/*
 * Starts the server with TLS (unless flags begin with "--plain") and the
 * given flags, NULL-terminated; the teardown stops it.
 */
static void server_start(const char *flag, ...)
{
	char *out = in_workdir("server.out"), *errlog = in_workdir("server.err");
	const char *argv[16];
	int64_t deadline = mono_ms() + 30000;
	size_t n = 0;
	va_list ap;

	argv[n++] = "python3";
	argv[n++] = server_script;
	va_start(ap, flag);
	if (flag && strcmp(flag, "--plain") == 0) {
		flag = va_arg(ap, const char *);
	} else {
		argv[n++] = "--tls-dir";
		argv[n++] = certdir;
	}
	for (; flag && n < PW_ARRAY_SIZE(argv) - 1; flag = va_arg(ap, const char *))
		argv[n++] = flag;
	va_end(ap);
	argv[n] = NULL;

	server_pid = fork();
	ck_assert_int_ge(server_pid, 0);
	if (server_pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* Should the test die before its teardown, the server goes too. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(o, 1);
		dup2(e, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (;;) {
		char *text = read_text(out);
		const char *ready = text ? strstr(text, "READY ") : NULL;
		int status;

		if (ready && strchr(ready, '\n') &&
		    sscanf(ready, "READY %d %d", &api_port, &control_port) == 2) {
			free(text);
			break;
		}
		free(text);
		if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
			server_pid = 0;
			text = read_text(errlog);
			ck_abort_msg("the fake apiserver exited:\n%s", text ? text : "");
		}
		ck_assert_msg(mono_ms() < deadline, "the fake apiserver is not READY");
		usleep(20000);
	}
	free(out);
	free(errlog);
}

static void server_setup(void)
{
	setup();
}

static void server_teardown(void)
{
	server_kill();
	teardown();
}

static size_t collect_text(char *ptr, size_t size, size_t nmemb, void *data)
{
	pw_buf_add(data, ptr, size * nmemb);
	return size * nmemb;
}

/* A request to the control port; returns the HTTP status. */
static long control(const char *path, const char *json, struct pw_buf *out)
{
	char *url = pw_xasprintf("http://127.0.0.1:%d%s", control_port, path);
	struct pw_buf ignored = PW_BUF_INIT;
	struct curl_slist *headers = NULL;
	CURL *e = curl_easy_init();
	long status = 0;
	CURLcode rc;

	ck_assert_ptr_ne(e, NULL);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_text);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, out ? out : &ignored);
	if (json) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
	}
	rc = curl_easy_perform(e);
	ck_assert_msg(rc == CURLE_OK, "control %s: %s", path, curl_easy_strerror(rc));
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	curl_slist_free_all(headers);
	pw_buf_free(&ignored);
	free(url);
	ck_assert_msg(status >= 200 && status < 300, "control %s: HTTP %ld", path,
		      status);
	return status;
}

static void add_namespace(const char *name, const char *payload)
{
	char *json = pw_xasprintf("{\"kind\":\"Namespace\",\"apiVersion\":\"v1\","
				  "\"metadata\":{\"name\":\"%s\",\"labels\":"
				  "{\"kubernetes.io/metadata.name\":\"%s\"},"
				  "\"annotations\":{\"payload\":\"%s\"}}}",
				  name, name, payload ? payload : "");

	control("/objects", json, NULL);
	free(json);
}

/* ------------------------------------------------------------ requests */

#define LIST_PATH "/api/v1/namespaces"
#define WATCH_PATH "/api/v1/namespaces?watch=1&timeoutSeconds=60"

struct result {
	int done;		/* on_done calls */
	int error;
	long status;
	unsigned retry_after;
	struct pw_buf data;
	struct pw_buf body;
	struct pw_buf message;
	size_t pieces;
	size_t stop_at_piece;	/* on_data says stop at this piece (0: never) */
	bool cancel_self;	/* on_data cancels its own request */
	struct pw_k8s_request *req;
	struct pw_k8s_request *cancel_in_data;	/* on_data cancels this one */
	struct pw_k8s_client *client;	/* on_data starts a list into started */
	struct result *started;
	int64_t done_ms;
};

static void result_free(struct result *r)
{
	pw_buf_free(&r->data);
	pw_buf_free(&r->body);
	pw_buf_free(&r->message);
}

static const struct pw_k8s_request_ops result_ops;

static bool on_data(void *ctx, const char *data, size_t len)
{
	struct result *r = ctx;

	ck_assert_int_eq(r->done, 0);
	ck_assert_int_gt(len, 0);
	pw_buf_add(&r->data, data, len);
	r->pieces++;
	if (r->started && r->client) {
		memset(r->started, 0, sizeof(*r->started));
		r->started->req = pw_k8s_request_start(r->client, LIST_PATH, NULL,
						       &result_ops, r->started);
		r->client = NULL;
	}
	if (r->cancel_in_data) {
		pw_k8s_request_cancel(r->cancel_in_data);
		r->cancel_in_data = NULL;
	}
	if (r->cancel_self) {
		r->cancel_self = false;
		pw_k8s_request_cancel(r->req);
	}
	return !(r->stop_at_piece && r->pieces >= r->stop_at_piece);
}

static void on_done(void *ctx, const struct pw_k8s_response *resp)
{
	struct result *r = ctx;

	r->done++;
	r->error = resp->error;
	r->status = resp->status;
	r->retry_after = resp->retry_after;
	ck_assert_ptr_ne(resp->body, NULL);
	ck_assert_ptr_ne(resp->message, NULL);
	pw_buf_puts(&r->body, resp->body);
	pw_buf_puts(&r->message, resp->message);
	r->done_ms = mono_ms();
	/* A transport failure has no status; a response has no failure text. */
	if (resp->error)
		ck_assert_int_eq(resp->status, 0);
}

static const struct pw_k8s_request_ops result_ops = { on_data, on_done };

static void run_until(struct pw_k8s_client *c, const int *done, int want, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;

	while (*done < want) {
		ck_assert_msg(mono_ms() < deadline, "timed out waiting for on_done");
		ck_assert_int_eq(pw_k8s_client_wait(c, NULL, 0, 100), 0);
		ck_assert_int_eq(pw_k8s_client_perform(c), 0);
	}
}

/* Drives the loop for ms, whatever happens. */
static void run_for(struct pw_k8s_client *c, int ms)
{
	int64_t deadline = mono_ms() + ms;

	while (mono_ms() < deadline) {
		ck_assert_int_eq(pw_k8s_client_wait(c, NULL, 0, 50), 0);
		ck_assert_int_eq(pw_k8s_client_perform(c), 0);
	}
}

static void get(struct pw_k8s_client *c, const char *path,
		const struct pw_k8s_request_options *opt, struct result *res)
{
	memset(res, 0, sizeof(*res));
	res->req = pw_k8s_request_start(c, path, opt, &result_ops, res);
	ck_assert_ptr_ne(res->req, NULL);
	run_until(c, &res->done, 1, 30000);
	ck_assert_int_eq(res->done, 1);
}

static void tls_config(struct pw_k8s_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->server = pw_xasprintf("https://127.0.0.1:%d", api_port);
	cfg->ca_file = pw_xasprintf("%s/ca.crt", certdir);
}

static struct pw_k8s_client *new_client(const struct pw_k8s_config *cfg)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_k8s_client *c = pw_k8s_client_new(cfg, &err);

	ck_assert_msg(c != NULL, "pw_k8s_client_new: %s", pw_buf_str(&err));
	pw_buf_free(&err);
	return c;
}

/* Asserts a 200 of the namespace list, name in it. */
static void expect_list(struct pw_k8s_client *c, const char *name)
{
	struct result res;

	get(c, "/api/v1/namespaces", NULL, &res);
	ck_assert_msg(res.error == 0 && res.status == 200,
		      "error %d (%s), status %ld: %s", res.error,
		      pw_buf_str(&res.message), res.status, pw_buf_str(&res.body));
	ck_assert_str_eq(pw_buf_str(&res.body), "");
	ck_assert_str_eq(pw_buf_str(&res.message), "");
	ck_assert_contains(pw_buf_str(&res.data), "NamespaceList");
	if (name)
		ck_assert_contains(pw_buf_str(&res.data), name);
	result_free(&res);
}

/* Asserts a transport failure with one of three errors; returns its text. */
static char *expect_failure(struct pw_k8s_client *c, int e1, int e2, int e3)
{
	struct result res;

	get(c, "/api/v1/namespaces", NULL, &res);
	ck_assert_msg(res.error == e1 || res.error == e2 || res.error == e3,
		      "expected %d, %d or %d, got %d (%s), status %ld", e1, e2, e3,
		      res.error, pw_buf_str(&res.message), res.status);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_ne(pw_buf_str(&res.message), "");
	ck_assert_int_eq(res.data.len, 0);
	pw_buf_free(&res.data);
	pw_buf_free(&res.body);
	return pw_buf_steal(&res.message);
}

/* ----------------------------------------------------------------- TLS */

/* A counter of the server's /stats. */
static long stat_counter(const char *name)
{
	struct pw_buf stats = PW_BUF_INIT;
	char *key = pw_xasprintf("\"%s\":", name);
	const char *p;
	long v;

	control("/stats", NULL, &stats);
	p = strstr(pw_buf_str(&stats), key);
	ck_assert_msg(p != NULL, "no %s in /stats: %s", name, pw_buf_str(&stats));
	v = strtol(p + strlen(key), NULL, 10);
	pw_buf_free(&stats);
	free(key);
	return v;
}

/* The last bearer token the server saw, "" for none. */
static char *last_token(void)
{
	struct pw_buf stats = PW_BUF_INIT;
	const char *p, *end;
	char *tok;

	control("/stats", NULL, &stats);
	p = strstr(pw_buf_str(&stats), "\"last_token\":");
	ck_assert_ptr_ne(p, NULL);
	p += strlen("\"last_token\":");
	while (*p == ' ')
		p++;
	if (*p != '"') {
		pw_buf_free(&stats);
		return pw_xstrdup("");
	}
	end = strchr(p + 1, '"');
	ck_assert_ptr_ne(end, NULL);
	tok = pw_xstrndup(p + 1, (size_t)(end - p - 1));
	pw_buf_free(&stats);
	return tok;
}

START_TEST(test_get_with_ca)
{
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	struct result res;
	long before;

	server_start(NULL);
	add_namespace("ns-a", NULL);
	add_namespace("ns-b", NULL);
	tls_config(&cfg);
	c = new_client(&cfg);
	pw_k8s_config_free(&cfg);	/* the client keeps its own copy */
	ck_assert_int_eq(pw_k8s_client_active(c), 0);
	before = stat_counter("connections_opened");
	expect_list(c, "\"ns-b\"");
	expect_list(c, "\"ns-a\"");

	/* Other statuses come with their body, and no data. */
	get(c, "/api/v1/nothing-here", NULL, &res);
	ck_assert_int_eq(res.error, 0);
	ck_assert_int_eq(res.status, 404);
	ck_assert_int_eq(res.data.len, 0);
	ck_assert_contains(pw_buf_str(&res.body), "\"Status\"");
	result_free(&res);

	/* Kept alive: three requests, one connection (and one for /stats). */
	ck_assert_int_eq(stat_counter("connections_opened") - before, 2);
	ck_assert_int_eq(stat_counter("tls_failures"), 0);
	ck_assert_int_eq(pw_k8s_client_active(c), 0);
	pw_k8s_client_free(c);
}
END_TEST

START_TEST(test_plain_http)
{
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;

	server_start("--plain", NULL);
	add_namespace("ns-plain", NULL);
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = pw_xasprintf("http://127.0.0.1:%d", api_port);
	c = new_client(&cfg);
	expect_list(c, "ns-plain");
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

static char *cert_text(const char *name)
{
	char *path = pw_xasprintf("%s/%s", certdir, name);
	char *text = read_text(path);

	ck_assert_msg(text != NULL, "%s: %s", path, strerror(errno));
	free(path);
	return text;
}

/* The client's private directory for inline credentials under TMPDIR, or NULL. */
static char *private_dir(void)
{
	struct dirent *e;
	char *found = NULL;
	DIR *d = opendir(workdir);

	ck_assert_ptr_ne(d, NULL);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "podwall-client.", 15) == 0)
			found = in_workdir(e->d_name);
	closedir(d);
	return found;
}

START_TEST(test_client_certificate)
{
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	char *dir, *key, *msg, *old_tmpdir = NULL;
	struct stat st;

	server_start("--require-client-cert", NULL);
	add_namespace("ns-cert", NULL);

	/* Files. */
	tls_config(&cfg);
	cfg.cert_file = pw_xasprintf("%s/client.crt", certdir);
	cfg.key_file = pw_xasprintf("%s/client.key", certdir);
	c = new_client(&cfg);
	expect_list(c, "ns-cert");
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);

	/* Inline data, as a kubeconfig's *-data gives them. */
	if (getenv("TMPDIR"))
		old_tmpdir = pw_xstrdup(getenv("TMPDIR"));
	setenv("TMPDIR", workdir, 1);
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = pw_xasprintf("https://127.0.0.1:%d", api_port);
	cfg.ca_data = cert_text("ca.crt");
	cfg.cert_data = cert_text("client.crt");
	cfg.key_data = cert_text("client.key");
	c = new_client(&cfg);
	if (old_tmpdir)
		setenv("TMPDIR", old_tmpdir, 1);
	else
		unsetenv("TMPDIR");
	free(old_tmpdir);
	dir = private_dir();
	ck_assert_ptr_ne(dir, NULL);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	key = pw_xasprintf("%s/client.key", dir);
	ck_assert_int_eq(stat(key, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	expect_list(c, "ns-cert");
	pw_k8s_client_free(c);
	/* Removed with the client. */
	ck_assert_int_eq(access(dir, F_OK), -1);
	free(key);
	free(dir);
	pw_k8s_config_free(&cfg);

	/*
	 * No certificate, or one of another CA: the server refuses us. With
	 * TLS 1.3 it does so after the handshake, and its alert may lose the
	 * race with its close: then all we see is a failed send (-EIO).
	 */
	tls_config(&cfg);
	c = new_client(&cfg);
	msg = expect_failure(c, -EPROTO, -EACCES, -EIO);
	free(msg);
	pw_k8s_client_free(c);
	cfg.cert_file = pw_xasprintf("%s/other-client.crt", certdir);
	cfg.key_file = pw_xasprintf("%s/other-client.key", certdir);
	c = new_client(&cfg);
	msg = expect_failure(c, -EPROTO, -EACCES, -EIO);
	free(msg);
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

START_TEST(test_wrong_ca)
{
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	char *msg;

	server_start(NULL);
	tls_config(&cfg);
	free(cfg.ca_file);
	cfg.ca_file = pw_xasprintf("%s/other-ca.crt", certdir);
	c = new_client(&cfg);
	msg = expect_failure(c, -EACCES, -EACCES, -EACCES);
	free(msg);
	pw_k8s_client_free(c);

	/* The system's roots do not know our CA either. */
	free(cfg.ca_file);
	cfg.ca_file = NULL;
	c = new_client(&cfg);
	msg = expect_failure(c, -EACCES, -EACCES, -EACCES);
	free(msg);
	pw_k8s_client_free(c);

	/* Unless verification is off. */
	cfg.insecure_skip_tls_verify = true;
	c = new_client(&cfg);
	expect_list(c, NULL);
	pw_k8s_client_free(c);

	/* The wrong CA does not matter then either. */
	cfg.ca_file = pw_xasprintf("%s/other-ca.crt", certdir);
	c = new_client(&cfg);
	expect_list(c, NULL);
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

/* ------------------------------------------------------- tokens, errors */

START_TEST(test_static_token)
{
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	struct result res;
	char *tok;

	server_start("--token", "s3cret", NULL);
	tls_config(&cfg);
	cfg.token = pw_xstrdup("s3cret");
	c = new_client(&cfg);
	expect_list(c, NULL);
	tok = last_token();
	ck_assert_str_eq(tok, "s3cret");
	free(tok);
	pw_k8s_client_free(c);

	free(cfg.token);
	cfg.token = pw_xstrdup("wrong");
	c = new_client(&cfg);
	get(c, "/api/v1/namespaces", NULL, &res);
	ck_assert_int_eq(res.error, 0);
	ck_assert_int_eq(res.status, 401);
	ck_assert_str_ne(pw_buf_str(&res.body), "");
	ck_assert_int_eq(res.data.len, 0);
	result_free(&res);
	pw_k8s_client_free(c);

	/* No token at all. */
	free(cfg.token);
	cfg.token = NULL;
	c = new_client(&cfg);
	get(c, "/api/v1/namespaces", NULL, &res);
	ck_assert_int_eq(res.status, 401);
	result_free(&res);
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

static void write_token(const char *text)
{
	free(write_file("token.new", text));
	{
		char *from = in_workdir("token.new"), *to = in_workdir("token");

		/* As kubelet does: the new file replaces the old in one step. */
		ck_assert_int_eq(rename(from, to), 0);
		free(from);
		free(to);
	}
}

START_TEST(test_token_file_rotation)
{
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	struct result res;
	char *tok;

	server_start("--token", "first", NULL);
	add_namespace("ns-token", NULL);
	write_token("first\n");
	tls_config(&cfg);
	cfg.token_file = in_workdir("token");
	c = new_client(&cfg);
	expect_list(c, "ns-token");

	/* The server moves on before the file does: one 401... */
	control("/faults", "{\"type\":\"rotate-token\",\"token\":\"second\"}", NULL);
	get(c, "/api/v1/namespaces", NULL, &res);
	ck_assert_int_eq(res.error, 0);
	ck_assert_int_eq(res.status, 401);
	result_free(&res);
	/* ...then kubelet writes the new token, and the next request has it. */
	write_token("second\n");
	expect_list(c, "ns-token");
	tok = last_token();
	ck_assert_str_eq(tok, "second");
	free(tok);

	/* A new file is read at the next request, 401 or not. */
	control("/faults", "{\"type\":\"rotate-token\",\"token\":\"third\"}", NULL);
	write_token("  third  \n");
	expect_list(c, "ns-token");
	tok = last_token();
	ck_assert_str_eq(tok, "third");
	free(tok);

	/* An unreadable file keeps the token we have. */
	{
		char *path = in_workdir("token");

		ck_assert_int_eq(unlink(path), 0);
		free(path);
	}
	expect_list(c, "ns-token");
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

START_TEST(test_retry_after)
{
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	struct result res;

	server_start(NULL);
	tls_config(&cfg);
	c = new_client(&cfg);
	control("/faults", "{\"type\":\"status\",\"code\":429,\"retry_after\":2,"
		"\"count\":1}", NULL);
	get(c, "/api/v1/namespaces", NULL, &res);
	ck_assert_int_eq(res.error, 0);
	ck_assert_int_eq(res.status, 429);
	ck_assert_uint_eq(res.retry_after, 2);
	ck_assert_str_ne(pw_buf_str(&res.body), "");
	ck_assert_int_eq(res.data.len, 0);
	result_free(&res);

	control("/faults", "{\"type\":\"status\",\"code\":503,\"count\":1}", NULL);
	get(c, "/api/v1/namespaces", NULL, &res);
	ck_assert_int_eq(res.status, 503);
	ck_assert_uint_eq(res.retry_after, 0);
	result_free(&res);

	/* The fault is spent. */
	expect_list(c, NULL);
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

START_TEST(test_connection_refused)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char *msg;

	/* A port that was free a moment ago. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = pw_xasprintf("https://127.0.0.1:%d", ntohs(sin.sin_port));
	c = new_client(&cfg);
	msg = expect_failure(c, -ECONNREFUSED, -ECONNREFUSED, -ECONNREFUSED);
	free(msg);
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

START_TEST(test_client_new_errors)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_k8s_client *c;

	memset(&cfg, 0, sizeof(cfg));
	ck_assert_ptr_eq(pw_k8s_client_new(&cfg, &err), NULL);
	ck_assert_str_ne(pw_buf_str(&err), "");

	cfg.server = pw_xstrdup("https://127.0.0.1:1");
	cfg.ca_file = in_workdir("no-ca.crt");
	pw_buf_reset(&err);
	ck_assert_ptr_eq(pw_k8s_client_new(&cfg, &err), NULL);
	ck_assert_contains(pw_buf_str(&err), cfg.ca_file);
	ck_assert_contains(pw_buf_str(&err), strerror(ENOENT));
	free(cfg.ca_file);
	cfg.ca_file = NULL;

	cfg.key_file = in_workdir("no.key");
	cfg.cert_file = pw_xasprintf("%s/client.crt", certdir);
	pw_buf_reset(&err);
	ck_assert_ptr_eq(pw_k8s_client_new(&cfg, &err), NULL);
	ck_assert_contains(pw_buf_str(&err), cfg.key_file);
	free(cfg.key_file);
	free(cfg.cert_file);
	cfg.key_file = cfg.cert_file = NULL;

	cfg.token_file = in_workdir("no-token");
	pw_buf_reset(&err);
	ck_assert_ptr_eq(pw_k8s_client_new(&cfg, &err), NULL);
	ck_assert_contains(pw_buf_str(&err), cfg.token_file);

	free(write_file("no-token", "\n\n"));
	pw_buf_reset(&err);
	ck_assert_ptr_eq(pw_k8s_client_new(&cfg, &err), NULL);
	ck_assert_contains(pw_buf_str(&err), "empty");

	free(write_file("no-token", "a\nb\n"));
	pw_buf_reset(&err);
	ck_assert_ptr_eq(pw_k8s_client_new(&cfg, &err), NULL);
	ck_assert_contains(pw_buf_str(&err), "control character");

	/* A static token goes into a header too. */
	cfg.token = pw_xstrdup("static\r\nX-Evil: 1");
	pw_buf_reset(&err);
	ck_assert_ptr_eq(pw_k8s_client_new(&cfg, &err), NULL);
	ck_assert_contains(pw_buf_str(&err), "control character");
	free(cfg.token);

	/* With a static token as well, the client starts on that one. */
	cfg.token = pw_xstrdup("static");
	pw_buf_reset(&err);
	c = pw_k8s_client_new(&cfg, &err);
	ck_assert_ptr_ne(c, NULL);
	pw_k8s_client_free(c);
	pw_k8s_client_free(NULL);
	pw_k8s_config_free(&cfg);
	pw_buf_free(&err);
}
END_TEST

/* --------------------------------------------------------------- watches */

#define WATCH_OBJECTS 40
#define PAYLOAD_LEN 3000

/* Text no byte of which can be lost or moved unnoticed. */
static char *payload(int i)
{
	char *p = pw_xmalloc(PAYLOAD_LEN + 1);
	int j;

	j = snprintf(p, PAYLOAD_LEN, "p%03d-", i);
	for (; j < PAYLOAD_LEN; j++)
		p[j] = (char)('a' + (i * 7 + j * 3) % 26);
	p[PAYLOAD_LEN] = '\0';
	return p;
}

START_TEST(test_watch_stream)
{
	struct pw_k8s_request_options opt = { 10, 60 };
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	struct result res;
	const char *line;
	size_t lines = 0;
	int i, seen[WATCH_OBJECTS] = { 0 };

	server_start(NULL);
	for (i = 0; i < WATCH_OBJECTS / 2; i++) {
		char *name = pw_xasprintf("ns-%03d", i), *p = payload(i);

		add_namespace(name, p);
		free(name);
		free(p);
	}
	tls_config(&cfg);
	c = new_client(&cfg);
	memset(&res, 0, sizeof(res));
	res.req = pw_k8s_request_start(c, "/api/v1/namespaces?watch=1&resourceVersion=0"
				       "&allowWatchBookmarks=false&timeoutSeconds=3",
				       &opt, &result_ops, &res);
	/* The rest arrive while the watch runs. */
	while (!res.pieces) {
		ck_assert_int_eq(pw_k8s_client_wait(c, NULL, 0, 100), 0);
		ck_assert_int_eq(pw_k8s_client_perform(c), 0);
		ck_assert_int_eq(res.done, 0);
	}
	ck_assert_int_eq(pw_k8s_client_active(c), 1);
	for (; i < WATCH_OBJECTS; i++) {
		char *name = pw_xasprintf("ns-%03d", i), *p = payload(i);

		add_namespace(name, p);
		free(name);
		free(p);
		run_for(c, 10);
	}
	run_until(c, &res.done, 1, 30000);
	ck_assert_msg(res.error == 0 && res.status == 200, "%d (%s) %ld", res.error,
		      pw_buf_str(&res.message), res.status);
	ck_assert_uint_gt(res.pieces, 1);

	/* One event per line, each payload whole, each object once. */
	for (line = pw_buf_str(&res.data); *line; lines++) {
		const char *end = strchr(line, '\n');
		char *text, *found;
		int n;

		ck_assert_msg(end != NULL, "a partial line at the end: %.80s", line);
		text = pw_xstrndup(line, (size_t)(end - line));
		ck_assert_msg(text[0] == '{' && text[strlen(text) - 1] == '}', "%.80s",
			      text);
		found = strstr(text, "\"p0");
		if (found && sscanf(found + 2, "%3d", &n) == 1 && n >= 0 &&
		    n < WATCH_OBJECTS) {
			char *p = payload(n);

			ck_assert_msg(strncmp(found + 1, p, PAYLOAD_LEN) == 0,
				      "payload %d damaged", n);
			ck_assert_int_eq(found[1 + PAYLOAD_LEN], '"');
			seen[n]++;
			free(p);
		}
		free(text);
		line = end + 1;
	}
	for (i = 0; i < WATCH_OBJECTS; i++)
		ck_assert_msg(seen[i] == 1, "object %d seen %d times", i, seen[i]);
	ck_assert_uint_ge(lines, WATCH_OBJECTS);
	result_free(&res);
	ck_assert_int_eq(pw_k8s_client_active(c), 0);
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

/*
 * Watches started together on a server that speaks HTTP/1.1 only: each
 * gets its own connection at once. Had a transfer waited to learn whether
 * the first connection multiplexes (CURLOPT_PIPEWAIT), it would have been
 * parked until some transfer ended, and a watch does not end for minutes.
 */
START_TEST(test_watches_in_parallel_over_http1)
{
	struct pw_k8s_request_options opt = { 10, 60 };
#define WATCH_LIST "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan" \
	"&allowWatchBookmarks=true&timeoutSeconds=30"
	static const char *const paths[] = {
		"/api/v1/namespaces" WATCH_LIST,
		"/api/v1/pods" WATCH_LIST,
		"/apis/networking.k8s.io/v1/networkpolicies" WATCH_LIST,
	};
	struct result res[3];
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	int64_t deadline;
	size_t i, answered;

	server_start("--plain", NULL);
	add_namespace("ns-h1", NULL);
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = pw_xasprintf("http://127.0.0.1:%d", api_port);
	c = new_client(&cfg);
	for (i = 0; i < 3; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		res[i].req = pw_k8s_request_start(c, paths[i], &opt, &result_ops, &res[i]);
		ck_assert_ptr_ne(res[i].req, NULL);
	}
	deadline = mono_ms() + 5000;
	do {
		ck_assert_msg(mono_ms() < deadline, "not every watch was answered within 5 s");
		ck_assert_int_eq(pw_k8s_client_wait(c, NULL, 0, 50), 0);
		ck_assert_int_eq(pw_k8s_client_perform(c), 0);
		for (answered = 0, i = 0; i < 3; i++)
			answered += res[i].pieces > 0 && !res[i].done;
	} while (answered < 3);
	ck_assert_int_eq(pw_k8s_client_active(c), 3);
	for (i = 0; i < 3; i++) {
		pw_k8s_request_cancel(res[i].req);
		result_free(&res[i]);
	}
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
#undef WATCH_LIST
}
END_TEST

START_TEST(test_stall_timeout)
{
	struct pw_k8s_request_options opt = { 2, 0 };
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	struct result res;
	int64_t start;

	server_start(NULL);
	tls_config(&cfg);
	c = new_client(&cfg);
	control("/faults", "{\"type\":\"stall\"}", NULL);
	start = mono_ms();
	get(c, WATCH_PATH, &opt, &res);
	ck_assert_msg(res.error == -ETIMEDOUT, "%d (%s)", res.error,
		      pw_buf_str(&res.message));
	ck_assert_int_eq(res.status, 0);
	ck_assert_msg(res.done_ms - start >= 1900 && res.done_ms - start <= 4500,
		      "stalled for %lld ms", (long long)(res.done_ms - start));
	result_free(&res);

	/* The client carries on. */
	expect_list(c, NULL);
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

START_TEST(test_total_timeout)
{
	struct pw_k8s_request_options opt = { 0, 1 };
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	struct result res;
	int64_t start;

	server_start(NULL);
	add_namespace("ns-t", NULL);
	tls_config(&cfg);
	c = new_client(&cfg);
	start = mono_ms();
	get(c, WATCH_PATH, &opt, &res);
	ck_assert_msg(res.error == -ETIMEDOUT, "%d (%s)", res.error,
		      pw_buf_str(&res.message));
	ck_assert_msg(res.done_ms - start >= 900 && res.done_ms - start <= 3500,
		      "took %lld ms", (long long)(res.done_ms - start));
	/* What came before the timeout was delivered. */
	ck_assert_contains(pw_buf_str(&res.data), "ns-t");
	result_free(&res);
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

/* ---------------------------------------------------------------- cancel */

struct chain {
	struct pw_k8s_client *client;
	struct pw_k8s_request *victim;
	struct result next;
	int done;
};

/* An on_done that cancels another request and starts a new one. */
static void chain_done(void *ctx, const struct pw_k8s_response *resp)
{
	struct chain *ch = ctx;

	ck_assert_int_eq(resp->status, 200);
	ch->done++;
	pw_k8s_request_cancel(ch->victim);
	ch->victim = NULL;
	ch->next.req = pw_k8s_request_start(ch->client, "/api/v1/namespaces", NULL,
					    &result_ops, &ch->next);
}

static const struct pw_k8s_request_ops chain_ops = { NULL, chain_done };

START_TEST(test_cancel)
{
	struct pw_k8s_request_options opt = { 0, 0 };
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	struct result watch, stop, self, other, victim, fresh, left;
	struct chain ch;

	server_start(NULL);
	add_namespace("ns-c", NULL);
	tls_config(&cfg);
	c = new_client(&cfg);

	/* Cancelled before it ever ran. */
	memset(&fresh, 0, sizeof(fresh));
	fresh.req = pw_k8s_request_start(c, LIST_PATH, NULL, &result_ops, &fresh);
	ck_assert_int_eq(pw_k8s_client_active(c), 1);
	pw_k8s_request_cancel(fresh.req);
	ck_assert_int_eq(pw_k8s_client_active(c), 0);
	pw_k8s_request_cancel(NULL);

	/* on_done cancels a running watch and starts another request. */
	memset(&watch, 0, sizeof(watch));
	memset(&ch, 0, sizeof(ch));
	watch.req = pw_k8s_request_start(c, WATCH_PATH,
					 &opt, &result_ops, &watch);
	while (!watch.pieces)
		run_for(c, 20);
	ch.client = c;
	ch.victim = watch.req;
	ck_assert_ptr_ne(pw_k8s_request_start(c, "/api/v1/namespaces", NULL, &chain_ops,
					      &ch), NULL);
	run_until(c, &ch.next.done, 1, 30000);
	ck_assert_int_eq(ch.done, 1);
	ck_assert_int_eq(ch.next.status, 200);
	ck_assert_int_eq(watch.done, 0);
	ck_assert_int_eq(pw_k8s_client_active(c), 0);
	result_free(&ch.next);
	result_free(&watch);

	/* on_data says stop: -ECANCELED. */
	memset(&stop, 0, sizeof(stop));
	stop.stop_at_piece = 1;
	stop.req = pw_k8s_request_start(c, WATCH_PATH,
					&opt, &result_ops, &stop);
	run_until(c, &stop.done, 1, 30000);
	ck_assert_int_eq(stop.error, -ECANCELED);
	ck_assert_int_eq(stop.status, 0);
	ck_assert_uint_eq(stop.pieces, 1);
	result_free(&stop);

	/*
	 * From on_data: a request cancels itself, and another one's on_data
	 * cancels a third; neither cancelled request hears of it again.
	 */
	memset(&self, 0, sizeof(self));
	memset(&other, 0, sizeof(other));
	memset(&victim, 0, sizeof(victim));
	victim.req = pw_k8s_request_start(c, WATCH_PATH,
					  &opt, &result_ops, &victim);
	while (!victim.pieces)
		run_for(c, 20);
	self.cancel_self = true;
	self.req = pw_k8s_request_start(c, WATCH_PATH,
					&opt, &result_ops, &self);
	other.cancel_in_data = victim.req;
	other.req = pw_k8s_request_start(c, LIST_PATH, NULL, &result_ops, &other);
	run_until(c, &other.done, 1, 30000);
	ck_assert_int_eq(other.status, 200);
	while (!self.pieces)
		run_for(c, 20);
	run_for(c, 300);
	ck_assert_int_eq(self.done, 0);
	ck_assert_int_eq(victim.done, 0);
	ck_assert_int_eq(pw_k8s_client_active(c), 0);
	result_free(&self);
	result_free(&other);
	result_free(&victim);

	/* on_data starts a request; it runs once libcurl has returned. */
	memset(&other, 0, sizeof(other));
	other.client = c;
	other.started = &fresh;
	other.stop_at_piece = 1;
	other.req = pw_k8s_request_start(c, WATCH_PATH, &opt, &result_ops, &other);
	run_until(c, &other.done, 1, 30000);
	ck_assert_int_eq(other.error, -ECANCELED);
	run_until(c, &fresh.done, 1, 30000);
	ck_assert_int_eq(fresh.status, 200);
	ck_assert_contains(pw_buf_str(&fresh.data), "ns-c");
	result_free(&other);
	result_free(&fresh);

	/* The client still works, and frees what is left running. */
	expect_list(c, "ns-c");
	memset(&left, 0, sizeof(left));
	left.req = pw_k8s_request_start(c, WATCH_PATH,
					&opt, &result_ops, &left);
	run_for(c, 200);
	ck_assert_int_eq(pw_k8s_client_active(c), 1);
	pw_k8s_client_free(c);
	ck_assert_int_eq(left.done, 0);
	result_free(&left);
	pw_k8s_config_free(&cfg);
}
END_TEST

/* The caller's own descriptors wake the wait, with or without transfers. */
START_TEST(test_wait_extra_fds)
{
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	struct curl_waitfd fd;
	int pipefd[2];
	int64_t start;

	memset(&cfg, 0, sizeof(cfg));
	cfg.server = pw_xstrdup("http://127.0.0.1:1");
	c = new_client(&cfg);
	ck_assert_int_eq(pipe(pipefd), 0);
	fd.fd = pipefd[0];
	fd.events = CURL_WAIT_POLLIN;
	fd.revents = 0;
	start = mono_ms();
	ck_assert_int_eq(pw_k8s_client_wait(c, &fd, 1, 300), 0);
	/* Nothing to do: it waited rather than spun. */
	ck_assert_int_ge(mono_ms() - start, 250);
	ck_assert_int_eq(fd.revents, 0);
	ck_assert_int_eq(write(pipefd[1], "x", 1), 1);
	start = mono_ms();
	ck_assert_int_eq(pw_k8s_client_wait(c, &fd, 1, 5000), 0);
	ck_assert_int_lt(mono_ms() - start, 1000);
	ck_assert(fd.revents & CURL_WAIT_POLLIN);
	ck_assert_int_eq(pw_k8s_client_perform(c), 0);
	close(pipefd[0]);
	close(pipefd[1]);
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
}
END_TEST

/* ------------------------------------------------- a raw HTTP/1.1 peer */

/*
 * One connection at a time, one response each, then close: enough to see
 * the request's exact headers and to answer what the fake server does not.
 */
struct raw_server {
	int lfd, cfd;
	int port;
	struct pw_buf in;
	struct pw_buf request;		/* the last request's head */
	const char *response;
	size_t response_len, sent;
	bool replied;
};

static void raw_start(struct raw_server *s)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->cfd = -1;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->lfd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(s->lfd, 4), 0);
	ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&sin, &len), 0);
	s->port = ntohs(sin.sin_port);
}

static void raw_stop(struct raw_server *s)
{
	if (s->cfd >= 0)
		close(s->cfd);
	close(s->lfd);
	pw_buf_free(&s->in);
	pw_buf_free(&s->request);
}

static void raw_pump(struct raw_server *s)
{
	char chunk[4096];
	ssize_t n;

	if (s->cfd < 0) {
		s->cfd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s->cfd < 0)
			return;
		pw_buf_reset(&s->in);
		s->replied = false;
		s->sent = 0;
	}
	while (!s->replied && (n = read(s->cfd, chunk, sizeof(chunk))) > 0) {
		const char *end;

		pw_buf_add(&s->in, chunk, (size_t)n);
		end = strstr(pw_buf_str(&s->in), "\r\n\r\n");
		if (end) {
			pw_buf_reset(&s->request);
			pw_buf_add(&s->request, s->in.data,
				   (size_t)(end - pw_buf_str(&s->in)) + 2);
			s->replied = true;
		}
	}
	while (s->replied && s->sent < s->response_len &&
	       (n = write(s->cfd, s->response + s->sent, s->response_len - s->sent)) > 0)
		s->sent += (size_t)n;
	if (s->replied && s->sent == s->response_len) {
		close(s->cfd);
		s->cfd = -1;
	}
}

/* One request answered with response; the request's head is left in s. */
static void raw_get(struct raw_server *s, struct pw_k8s_client *c, const char *response,
		    size_t len, struct result *res)
{
	int64_t deadline = mono_ms() + 20000;

	s->response = response;
	s->response_len = len;
	memset(res, 0, sizeof(*res));
	res->req = pw_k8s_request_start(c, "/api/v1/namespaces?limit=500", NULL,
					&result_ops, res);
	while (!res->done) {
		struct curl_waitfd fds[2];
		unsigned n = 0;

		fds[n].fd = s->lfd;
		fds[n].events = CURL_WAIT_POLLIN;
		n++;
		if (s->cfd >= 0) {
			fds[n].fd = s->cfd;
			fds[n].events = CURL_WAIT_POLLIN | CURL_WAIT_POLLOUT;
			n++;
		}
		ck_assert_msg(mono_ms() < deadline, "no answer");
		ck_assert_int_eq(pw_k8s_client_wait(c, fds, n, 50), 0);
		raw_pump(s);
		ck_assert_int_eq(pw_k8s_client_perform(c), 0);
	}
}

#define STATUS_BODY "{\"kind\":\"Status\",\"code\":429}"

START_TEST(test_request_headers)
{
	static const char too_many[] =
		"HTTP/1.1 429 Too Many Requests\r\n"
		"Content-Type: application/json\r\n"
		"retry-after:   7 \r\n"
		"Content-Length: 28\r\n"
		"Connection: close\r\n\r\n" STATUS_BODY;
	static const char dated[] =
		"HTTP/1.1 503 Service Unavailable\r\n"
		"Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
		"Content-Length: 0\r\n"
		"Connection: close\r\n\r\n";
	static const char chunked[] =
		"HTTP/1.1 200 OK\r\n"
		"Content-Type: application/json\r\n"
		"Transfer-Encoding: chunked\r\n"
		"Connection: close\r\n\r\n"
		"6\r\n{\"a\":1\r\n3\r\n}\n{\r\n6\r\n\"b\":2}\r\n0\r\n\r\n";
	struct raw_server s;
	struct pw_k8s_config cfg;
	struct pw_k8s_client *c;
	struct pw_buf big = PW_BUF_INIT;
	struct result res;
	size_t i;

	raw_start(&s);
	memset(&cfg, 0, sizeof(cfg));
	cfg.server = pw_xasprintf("http://127.0.0.1:%d/", s.port);
	cfg.token = pw_xstrdup("tok-1");
	c = new_client(&cfg);

	raw_get(&s, c, too_many, sizeof(too_many) - 1, &res);
	ck_assert_contains(pw_buf_str(&s.request),
			   "GET /api/v1/namespaces?limit=500 HTTP/1.1\r\n");
	/* client-go's form: product/version (os/arch); no node until one is set. */
	ck_assert_contains(pw_buf_str(&s.request), "\r\nUser-Agent: podwall/"
			   PACKAGE_VERSION " (linux/");
	ck_assert_ptr_eq(strstr(pw_buf_str(&s.request), "node/"), NULL);
	ck_assert_contains(pw_buf_str(&s.request), "\r\nAccept: application/json\r\n");
	ck_assert_contains(pw_buf_str(&s.request), "\r\nAuthorization: Bearer tok-1\r\n");
	ck_assert_int_eq(res.error, 0);
	ck_assert_int_eq(res.status, 429);
	ck_assert_uint_eq(res.retry_after, 7);
	ck_assert_str_eq(pw_buf_str(&res.body), STATUS_BODY);
	ck_assert_int_eq(res.data.len, 0);
	result_free(&res);

	/* The HTTP-date form counts as absent. */
	raw_get(&s, c, dated, sizeof(dated) - 1, &res);
	ck_assert_int_eq(res.status, 503);
	ck_assert_uint_eq(res.retry_after, 0);
	ck_assert_str_eq(pw_buf_str(&res.body), "");
	result_free(&res);

	/* 200: the body goes to on_data, chunk framing removed. */
	raw_get(&s, c, chunked, sizeof(chunked) - 1, &res);
	ck_assert_int_eq(res.error, 0);
	ck_assert_int_eq(res.status, 200);
	ck_assert_str_eq(pw_buf_str(&res.data), "{\"a\":1}\n{\"b\":2}");
	ck_assert_str_eq(pw_buf_str(&res.body), "");
	result_free(&res);

	/* An error body is kept up to 64 KiB. */
	pw_buf_printf(&big, "HTTP/1.1 500 Internal Server Error\r\n"
		      "Content-Length: 200000\r\nConnection: close\r\n\r\n");
	for (i = 0; i < 200000; i++)
		pw_buf_putc(&big, (char)('a' + i % 26));
	raw_get(&s, c, big.data, big.len, &res);
	ck_assert_int_eq(res.error, 0);
	ck_assert_int_eq(res.status, 500);
	ck_assert_uint_eq(res.body.len, 65536);
	ck_assert(strncmp(pw_buf_str(&res.body), "abcdefghij", 10) == 0);
	result_free(&res);

	/* Cut short: a transport failure, whatever the status said. */
	raw_get(&s, c, big.data, big.len - 1000, &res);
	ck_assert_int_eq(res.error, -EIO);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_ne(pw_buf_str(&res.message), "");
	result_free(&res);

	pw_buf_free(&big);
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
	raw_stop(&s);
}
END_TEST

/* A kubeconfig with inline credentials and a tokenFile, all the way to a list. */
START_TEST(test_kubeconfig_end_to_end)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	struct pw_k8s_client *c;
	char *ca = cert_text("ca.crt"), *crt = cert_text("client.crt");
	char *key = cert_text("client.key");
	char *ca64 = base64(ca), *crt64 = base64(crt), *key64 = base64(key);
	char *cluster, *user, *path, *tok;

	server_start("--require-client-cert", "--token", "from-file", NULL);
	add_namespace("ns-e2e", NULL);
	make_subdir("kube");
	free(write_file("kube/token", "from-file\n"));
	cluster = pw_xasprintf("    server: https://127.0.0.1:%d\n"
			       "    certificate-authority-data: %s\n", api_port, ca64);
	user = pw_xasprintf("    client-certificate-data: %s\n"
			    "    client-key-data: %s\n"
			    "    tokenFile: token\n", crt64, key64);
	path = kubeconfig("kube/config", cluster, user);
	setenv("KUBECONFIG", path, 1);
	ck_assert_int_eq(pw_k8s_config_resolve(NULL, &cfg, &err), 0);
	unsetenv("KUBECONFIG");
	ck_assert_str_eq(cfg.ca_data, ca);
	ck_assert_str_eq(cfg.key_data, key);
	c = new_client(&cfg);
	expect_list(c, "ns-e2e");
	tok = last_token();
	ck_assert_str_eq(tok, "from-file");
	pw_k8s_client_free(c);
	pw_k8s_config_free(&cfg);
	pw_buf_free(&err);
	free(tok);
	free(path);
	free(cluster);
	free(user);
	free(ca64);
	free(crt64);
	free(key64);
	free(ca);
	free(crt);
	free(key);
}
END_TEST

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc;

	tc = tcase_create("kubeconfig");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_kubeconfig_inline_data);
	tcase_add_test(tc, test_kubeconfig_files);
	tcase_add_test(tc, test_kubeconfig_relative_to_cwd);
	tcase_add_test(tc, test_kubeconfig_token_and_token_file);
	tcase_add_test(tc, test_kubeconfig_insecure);
	tcase_add_test(tc, test_kubeconfig_data_beats_file);
	tcase_add_test(tc, test_kubeconfig_no_user);
	tcase_add_test(tc, test_kubeconfig_errors);
	tcase_add_test(tc, test_kubeconfig_bad_structure);
	tcase_add_test(tc, test_kubeconfig_missing_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("in-cluster");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_incluster);
	tcase_add_test(tc, test_incluster_errors);
	tcase_add_test(tc, test_resolve_order);
	tcase_add_test(tc, test_wait_extra_fds);
	tcase_add_test(tc, test_request_headers);
	suite_add_tcase(s, tc);

	tc = tcase_create("client");
	tcase_add_unchecked_fixture(tc, certs_setup, certs_teardown);
	tcase_add_checked_fixture(tc, server_setup, server_teardown);
	/* Slow under valgrind; the stall and timeout tests wait seconds each. */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_get_with_ca);
	tcase_add_test(tc, test_plain_http);
	tcase_add_test(tc, test_client_certificate);
	tcase_add_test(tc, test_kubeconfig_end_to_end);
	tcase_add_test(tc, test_wrong_ca);
	tcase_add_test(tc, test_static_token);
	tcase_add_test(tc, test_token_file_rotation);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_connection_refused);
	tcase_add_test(tc, test_client_new_errors);
	tcase_add_test(tc, test_watch_stream);
	tcase_add_test(tc, test_watches_in_parallel_over_http1);
	tcase_add_test(tc, test_stall_timeout);
	tcase_add_test(tc, test_total_timeout);
	tcase_add_test(tc, test_cancel);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* Whatever happens to a test, no fake apiserver outlives us. */
	atexit(server_kill);
	make_rundir();
	sr = srunner_create(client_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	server_kill();
	pw_test_remove_tree(rundir, 5);
	curl_global_cleanup();
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
