/*
 * engine/cni_cache.c: libcni's result cache as containerd, CRI-O and
 * dockershim leave it, in both of libcni's formats, and every way a file
 * in it can be wrong. Each test writes its files into a fresh directory.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/cni_cache.h"
#include "lib/cidr.h"
#include "lib/util.h"
#include "tests/testlib.h"

/* ---------------------------------------------------------------- fixtures */

#define HEX16 "0123456789abcdef"
#define CID_A "a1" HEX16 HEX16 HEX16 "2345678901234f"
#define CID_B "b2" HEX16 HEX16 HEX16 "fedcba98765432"
#define CID_C "c3" HEX16 HEX16 HEX16 "00000000000000"

/* containerd 1.6 with the bridge plugin (libcni 1.x, CNI 0.4.0 result). */
static const char bridge_v1[] =
	"{\"kind\":\"cniCacheV1\",\"containerId\":\"" CID_A "\","
	"\"config\":\"eyJjbmlWZXJzaW9uIjoiMC40LjAiLCJ0eXBlIjoiYnJpZGdlIn0=\","
	"\"ifName\":\"eth0\",\"networkName\":\"cbr0\","
	"\"netns\":\"/var/run/netns/cni-6f1d7c2e-0b5a-4a45-9f55-2c1b0d9e8a31\","
	"\"cniArgs\":[[\"IgnoreUnknown\",\"1\"],[\"K8S_POD_NAMESPACE\",\"x\"],"
	"[\"K8S_POD_NAME\",\"a\"],[\"K8S_POD_INFRA_CONTAINER_ID\",\"" CID_A "\"],"
	"[\"K8S_POD_UID\",\"0f4c1e2a-5b6d-4e7f-8a9b-0c1d2e3f4a5b\"]],"
	"\"capabilityArgs\":{\"dns\":{\"Servers\":[\"10.96.0.10\"],\"Searches\":[\"x.svc.cluster.local\"]},"
	"\"portMappings\":[{\"HostPort\":8080,\"ContainerPort\":80,\"Protocol\":\"tcp\",\"HostIP\":\"\"}]},"
	"\"result\":{\"cniVersion\":\"0.4.0\",\"interfaces\":["
	"{\"name\":\"cni0\",\"mac\":\"a6:3e:9f:1c:22:01\"},"
	"{\"name\":\"veth1a2b3c4d\",\"mac\":\"6e:2f:0a:41:5c:7d\"},"
	"{\"name\":\"eth0\",\"mac\":\"0a:58:0a:f4:01:05\","
	"\"sandbox\":\"/var/run/netns/cni-6f1d7c2e-0b5a-4a45-9f55-2c1b0d9e8a31\"}],"
	"\"ips\":[{\"version\":\"4\",\"interface\":2,\"address\":\"10.244.1.5/24\",\"gateway\":\"10.244.1.1\"}],"
	"\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.244.1.1\"}],\"dns\":{}}}";

/* The ptp plugin: the veth only, a CNI 0.3.1 result. */
static const char ptp_v1[] =
	"{\"kind\":\"cniCacheV1\",\"containerId\":\"" CID_B "\",\"config\":\"e30=\","
	"\"ifName\":\"eth0\",\"networkName\":\"ptp-net\",\"netns\":\"/var/run/netns/cni-1\","
	"\"cniArgs\":[[\"K8S_POD_NAMESPACE\",\"kube-system\"],[\"K8S_POD_NAME\",\"coredns-5d78c9869d-abcde\"]],"
	"\"result\":{\"cniVersion\":\"0.3.1\",\"interfaces\":["
	"{\"name\":\"veth5d1ea6b8\",\"mac\":\"d2:19:4c:0e:3a:11\"},"
	"{\"name\":\"eth0\",\"mac\":\"ba:e1:05:3c:77:02\",\"sandbox\":\"/var/run/netns/cni-1\"}],"
	"\"ips\":[{\"version\":\"4\",\"interface\":1,\"address\":\"10.1.1.9/24\",\"gateway\":\"10.1.1.1\"}],"
	"\"dns\":{}}}";

/* Calico before 3.x: one interface, the host's cali* name, with a sandbox. */
static const char calico_v1[] =
	"{\"kind\":\"cniCacheV1\",\"containerId\":\"" CID_C "\",\"config\":\"e30=\","
	"\"ifName\":\"eth0\",\"networkName\":\"k8s-pod-network\",\"netns\":\"/proc/4242/ns/net\","
	"\"cniArgs\":[[\"K8S_POD_NAMESPACE\",\"y\"],[\"K8S_POD_NAME\",\"b\"]],"
	"\"result\":{\"cniVersion\":\"0.3.1\",\"interfaces\":["
	"{\"name\":\"cali12d4a061371\",\"sandbox\":\"/proc/4242/ns/net\"}],"
	"\"ips\":[{\"version\":\"4\",\"address\":\"192.168.77.5/32\"}],\"dns\":{}}}";

/* libcni 0.7 (containerd 1.2, dockershim): the bare result. */
static const char bare_result[] =
	"{\"cniVersion\":\"0.3.1\",\"interfaces\":["
	"{\"name\":\"cni0\",\"mac\":\"a6:3e:9f:1c:22:01\"},"
	"{\"name\":\"veth9f8e7d6c\",\"mac\":\"6e:2f:0a:41:5c:7e\"},"
	"{\"name\":\"eth0\",\"mac\":\"0a:58:0a:f4:01:06\",\"sandbox\":\"/proc/777/ns/net\"}],"
	"\"ips\":[{\"version\":\"4\",\"interface\":2,\"address\":\"10.244.1.6/24\",\"gateway\":\"10.244.1.1\"}],"
	"\"dns\":{}}";

/* CNI 1.0.0 (no "version"), dual-stack, an empty sandbox, a repeat, a bad address. */
static const char dual_stack_v1[] =
	"{\"kind\":\"cniCacheV1\",\"containerId\":\"" CID_A "\",\"ifName\":\"eth0\","
	"\"networkName\":\"cbr0\",\"cniArgs\":[[\"K8S_POD_NAMESPACE\",\"x\"],[\"K8S_POD_NAME\",\"c\"]],"
	"\"result\":{\"cniVersion\":\"1.0.0\",\"interfaces\":["
	"{\"name\":\"cni0\",\"mac\":\"a6:3e:9f:1c:22:01\",\"sandbox\":\"\"},"
	"{\"name\":\"veth00aa11bb\",\"mac\":\"6e:2f:0a:41:5c:7f\"},"
	"{\"name\":\"eth0\",\"sandbox\":\"/var/run/netns/cni-2\"}],"
	"\"ips\":[{\"interface\":2,\"address\":\"10.244.1.7/24\",\"gateway\":\"10.244.1.1\"},"
	"{\"interface\":2,\"address\":\"fd00:10:244:1::7/64\",\"gateway\":\"fd00:10:244:1::1\"},"
	"{\"interface\":2,\"address\":\"10.244.1.7/24\"},"
	"{\"interface\":2,\"address\":\"not-an-ip/24\"},"
	"{\"interface\":2,\"address\":\"10.244.1.8\"}]}}";

static char workdir[64];

static void make_workdir(void)
{
	pw_test_make_workdir(workdir, "check_cni");
}

static void remove_workdir(void)
{
	pw_test_remove_tree(workdir, 3);
}

/* workdir/name; the caller frees it. */
static char *in_workdir(const char *name)
{
	return pw_xasprintf("%s/%s", workdir, name);
}

static void put_bytes(const char *name, const void *data, size_t len)
{
	char *path = in_workdir(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	free(path);
}

static void put_file(const char *name, const char *text)
{
	put_bytes(name, text, strlen(text));
}

static void make_dir(const char *name)
{
	char *path = in_workdir(name);

	ck_assert_msg(mkdir(path, 0700) == 0, "%s: %s", path, strerror(errno));
	free(path);
}

/* Reads dirs and expects n attachments. */
static void read_expect(const char *dirs, struct pw_cni_cache *c, struct pw_buf *notes, int n)
{
	int got = pw_cni_cache_read(dirs, c, notes);

	ck_assert_msg(got == n, "read %s: %d attachments, expected %d; notes:\n%s",
		      dirs, got, n, pw_buf_str(notes));
	ck_assert_int_eq(c->count, (size_t)n);
}

static void read_workdir(struct pw_cni_cache *c, struct pw_buf *notes, int n)
{
	read_expect(workdir, c, notes, n);
}

static const struct pw_cni_attachment *item_named(const struct pw_cni_cache *c, const char *name)
{
	char *path = in_workdir(name);
	size_t i;

	for (i = 0; i < c->count; i++) {
		if (strcmp(c->items[i].path, path) == 0) {
			free(path);
			return &c->items[i];
		}
	}
	ck_abort_msg("no attachment read from %s", path);
	return NULL;
}

/* "10.244.1.5/32 fd00::5/128": the addresses with their prefixes. */
static void check_ips(const struct pw_cni_attachment *a, const char *want)
{
	struct pw_buf got = PW_BUF_INIT;
	char text[PW_CIDR_STRLEN];
	size_t i;

	for (i = 0; i < a->nips; i++) {
		pw_cidr_format(&a->ips[i], true, text);
		pw_buf_printf(&got, "%s%s", i ? " " : "", text);
	}
	ck_assert_str_eq(pw_buf_str(&got), want);
	pw_buf_free(&got);
}

static void check_ifaces(const struct pw_cni_attachment *a, const char *want)
{
	struct pw_buf got = PW_BUF_INIT;
	size_t i;

	for (i = 0; i < a->nhost_ifaces; i++)
		pw_buf_printf(&got, "%s%s", i ? " " : "", a->host_ifaces[i]);
	ck_assert_str_eq(pw_buf_str(&got), want);
	pw_buf_free(&got);
}

static void check_str(const char *got, const char *want)
{
	if (!want)
		ck_assert_msg(got == NULL, "expected NULL, got \"%s\"", got);
	else
		ck_assert_msg(got && strcmp(got, want) == 0, "expected \"%s\", got \"%s\"",
			      want, got ? got : "(null)");
}

/* The note line about workdir/name holds reason. */
static void check_note(const struct pw_buf *notes, const char *name, const char *reason)
{
	char *path = in_workdir(name), *start = pw_xasprintf("%s: ", path);
	const char *line = pw_buf_str(notes);

	for (; *line; line = strchr(line, '\n') + 1) {
		size_t len = strcspn(line, "\n");

		ck_assert_msg(line[len] == '\n', "an unterminated note line:\n%s", line);
		if (strncmp(line, start, strlen(start)) == 0) {
			char *text = pw_xstrndup(line, len);

			ck_assert_msg(strstr(text, reason), "note on %s:\n%s\nexpected \"%s\"",
				      name, text, reason);
			free(text);
			free(start);
			free(path);
			return;
		}
	}
	ck_abort_msg("no note on %s in:\n%s", path, pw_buf_str(notes));
}

/* The files the notes name, one after the other in path order. */
static void check_notes_sorted(const struct pw_buf *notes)
{
	const char *line = pw_buf_str(notes), *next;
	char *prev = NULL, *path;

	for (; *line; line = next) {
		next = strchr(line, '\n') + 1;
		path = pw_xstrndup(line, strstr(line, ": ") - line);
		ck_assert_msg(!prev || strcmp(prev, path) <= 0, "note on %s after %s", path, prev);
		free(prev);
		prev = path;
	}
	free(prev);
}

static size_t count_lines(const char *text)
{
	size_t n = 0;

	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* ---------------------------------------------------------------- formats */

START_TEST(test_v1_bridge)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	const struct pw_cni_attachment *a;

	put_file("cbr0-" CID_A "-eth0", bridge_v1);
	read_workdir(&c, &notes, 1);
	ck_assert_str_eq(pw_buf_str(&notes), "");
	a = &c.items[0];
	check_str(a->path, item_named(&c, "cbr0-" CID_A "-eth0")->path);
	check_str(a->container_id, CID_A);
	check_str(a->network, "cbr0");
	check_str(a->pod_namespace, "x");
	check_str(a->pod_name, "a");
	check_ifaces(a, "cni0 veth1a2b3c4d");
	check_ips(a, "10.244.1.5/32");
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
}
END_TEST

START_TEST(test_v1_ptp)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	const struct pw_cni_attachment *a;

	put_file("ptp-net-" CID_B "-eth0", ptp_v1);
	read_workdir(&c, &notes, 1);
	ck_assert_str_eq(pw_buf_str(&notes), "");
	a = &c.items[0];
	check_str(a->container_id, CID_B);
	check_str(a->network, "ptp-net");
	check_str(a->pod_namespace, "kube-system");
	check_str(a->pod_name, "coredns-5d78c9869d-abcde");
	check_ifaces(a, "veth5d1ea6b8");
	check_ips(a, "10.1.1.9/32");
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
}
END_TEST

START_TEST(test_calico_sandbox_only)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	const struct pw_cni_attachment *a;

	put_file("k8s-pod-network-" CID_C "-eth0", calico_v1);
	read_workdir(&c, &notes, 1);
	ck_assert_str_eq(pw_buf_str(&notes), "");
	a = &c.items[0];
	check_str(a->container_id, CID_C);
	check_str(a->network, "k8s-pod-network");
	check_str(a->pod_namespace, "y");
	check_str(a->pod_name, "b");
	ck_assert_int_eq(a->nhost_ifaces, 0);
	ck_assert_ptr_eq(a->host_ifaces, NULL);
	check_ips(a, "192.168.77.5/32");
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
}
END_TEST

/* Only the file name tells the container; '-' may be in the network and the interface. */
START_TEST(test_bare_result_container_from_name)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	const struct pw_cni_attachment *a;

	put_file("cbr0-" CID_A "-eth0", bare_result);
	put_file("k8s-pod-network-" CID_B "-net-1", bare_result);
	put_file(CID_C "-" CID_B "-eth0", bare_result);	/* a network named in hex */
	put_file(CID_A "-eth0", bare_result);		/* no network: no id either */
	put_file("cbr0-" CID_A "0-eth0", bare_result);	/* 65 digits */
	put_file("cbr0-deadbeef-eth0", bare_result);
	put_file("cbr0-" CID_A, bare_result);		/* no interface */
	read_workdir(&c, &notes, 7);
	ck_assert_str_eq(pw_buf_str(&notes), "");

	a = item_named(&c, "cbr0-" CID_A "-eth0");
	check_str(a->container_id, CID_A);
	check_str(a->network, NULL);
	check_str(a->pod_namespace, NULL);
	check_str(a->pod_name, NULL);
	check_ifaces(a, "cni0 veth9f8e7d6c");
	check_ips(a, "10.244.1.6/32");

	check_str(item_named(&c, "k8s-pod-network-" CID_B "-net-1")->container_id, CID_B);
	check_str(item_named(&c, CID_C "-" CID_B "-eth0")->container_id, CID_B);
	check_str(item_named(&c, CID_A "-eth0")->container_id, NULL);
	check_str(item_named(&c, "cbr0-" CID_A "0-eth0")->container_id, NULL);
	check_str(item_named(&c, "cbr0-deadbeef-eth0")->container_id, NULL);
	check_str(item_named(&c, "cbr0-" CID_A)->container_id, NULL);
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
}
END_TEST

/* A cniCacheV1 record without a containerId falls back on the name too. */
START_TEST(test_v1_without_container_id)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	const struct pw_cni_attachment *a;

	put_file("cbr0-" CID_B "-eth0",
		 "{\"kind\":\"cniCacheV1\",\"containerId\":\"\",\"networkName\":null,"
		 "\"cniArgs\":[[\"K8S_POD_NAMESPACE\",\"\"]],\"result\":null}");
	put_file("cbr0-" CID_C "-eth0", "{\"kind\":\"cniCacheV1\"}");
	read_workdir(&c, &notes, 2);
	ck_assert_str_eq(pw_buf_str(&notes), "");
	a = item_named(&c, "cbr0-" CID_B "-eth0");
	check_str(a->container_id, CID_B);
	check_str(a->network, NULL);
	check_str(a->pod_namespace, NULL);
	ck_assert_int_eq(a->nhost_ifaces, 0);
	ck_assert_int_eq(a->nips, 0);
	check_str(item_named(&c, "cbr0-" CID_C "-eth0")->container_id, CID_C);
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
}
END_TEST

START_TEST(test_dual_stack)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	const struct pw_cni_attachment *a;

	put_file("cbr0-" CID_A "-eth0", dual_stack_v1);
	read_workdir(&c, &notes, 1);
	a = &c.items[0];
	check_ifaces(a, "cni0 veth00aa11bb");
	check_ips(a, "10.244.1.7/32 fd00:10:244:1::7/128");
	ck_assert_int_eq(a->ips[0].family, AF_INET);
	ck_assert_int_eq(a->ips[1].family, AF_INET6);
	/* The entries that do not parse are dropped, each with a note. */
	ck_assert_contains(pw_buf_str(&notes), "result.ips[3].address \"not-an-ip/24\"");
	ck_assert_contains(pw_buf_str(&notes), "result.ips[4].address \"10.244.1.8\"");
	ck_assert_int_eq(count_lines(pw_buf_str(&notes)), 2);
	check_note(&notes, "cbr0-" CID_A "-eth0", "entry skipped");
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
}
END_TEST

/* ---------------------------------------------------------------- hostile */

struct bad_file {
	const char *name;
	const char *text;
	const char *reason;	/* in the note */
};

#define V1 "{\"kind\":\"cniCacheV1\","
#define IN_RESULT(r) V1 "\"result\":{\"cniVersion\":\"0.4.0\"," r "}}"

static const struct bad_file bad_files[] = {
	{ "not-json", "hello, world", "not valid JSON at byte" },
	{ "two-values", "{}{}", "not valid JSON" },
	{ "comment-only", "/* nothing */", "not valid JSON" },
	{ "empty", "", "empty" },
	{ "spaces", "  \n", "not valid JSON" },
	{ "array", "[1,2]", "not a JSON object" },
	{ "string", "\"cniCacheV1\"", "not a JSON object" },
	{ "null", "null", "not a JSON object" },
	{ "bad-utf8", V1 "\"networkName\":\"\xff\xfe\"}", "not valid JSON" },
	{ "nul-escape", V1 "\"containerId\":\"ab\\u0000cd\"}", "a string holds a NUL character" },
	{ "nul-in-key", "{\"kind\\u0000x\":1}", "a string holds a NUL character" },
	{ "kind-number", "{\"kind\":1}", "kind is not a string" },
	{ "kind-other", "{\"kind\":\"cniCacheV2\"}", "kind \"cniCacheV2\" is not cniCacheV1" },
	{ "kind-control", "{\"kind\":\"a\\nb\"}", "kind \"a?b\" is not cniCacheV1" },
	{ "no-kind-no-version", "{\"containerId\":\"" CID_A "\"}", "neither a cniCacheV1" },
	{ "version-number", "{\"cniVersion\":4}", "cniVersion is not a string" },
	{ "cid-number", V1 "\"containerId\":5}", "containerId is not a string" },
	{ "cid-path", V1 "\"containerId\":\"../../etc\"}", "containerId is not a valid CNI name" },
	{ "net-object", V1 "\"networkName\":{}}", "networkName is not a string" },
	{ "net-space", V1 "\"networkName\":\"a b\"}", "networkName is not a valid CNI name" },
	{ "args-object", V1 "\"cniArgs\":{}}", "cniArgs is not an array" },
	{ "args-triple", V1 "\"cniArgs\":[[\"a\",\"b\",\"c\"]]}", "cniArgs[0] is not a pair" },
	{ "args-number", V1 "\"cniArgs\":[[\"K8S_POD_NAME\",1]]}", "cniArgs[0] is not a pair" },
	{ "args-flat", V1 "\"cniArgs\":[[\"a\",\"b\"],\"K8S_POD_NAME=a\"]}", "cniArgs[1] is not a pair" },
	{ "pod-name", V1 "\"cniArgs\":[[\"K8S_POD_NAME\",\"A_B\"]]}", "cniArgs K8S_POD_NAME must" },
	{ "pod-namespace", V1 "\"cniArgs\":[[\"K8S_POD_NAMESPACE\",\"x.y\"]]}",
	  "cniArgs K8S_POD_NAMESPACE must" },
	{ "result-array", V1 "\"result\":[]}", "result is not an object" },
	{ "result-string", V1 "\"result\":\"{}\"}", "result is not an object" },
	{ "ifaces-object", IN_RESULT("\"interfaces\":{}"), "result.interfaces is not an array" },
	{ "iface-string", IN_RESULT("\"interfaces\":[\"cni0\"]"),
	  "result.interfaces[0] is not an object" },
	{ "iface-name-number", IN_RESULT("\"interfaces\":[{\"name\":\"cni0\"},{\"name\":7}]"),
	  "result.interfaces[1].name is not a string" },
	{ "iface-no-name", IN_RESULT("\"interfaces\":[{\"mac\":\"x\"}]"),
	  "result.interfaces[0].name is not an interface name" },
	{ "iface-16", IN_RESULT("\"interfaces\":[{\"name\":\"abcdefghijklmnop\"}]"),
	  "result.interfaces[0].name is not an interface name" },
	{ "iface-slash", IN_RESULT("\"interfaces\":[{\"name\":\"../x\"}]"),
	  "result.interfaces[0].name is not an interface name" },
	{ "iface-newline", IN_RESULT("\"interfaces\":[{\"name\":\"veth\\n1\"}]"),
	  "result.interfaces[0].name is not an interface name" },
	{ "iface-dotdot", IN_RESULT("\"interfaces\":[{\"name\":\"..\"}]"),
	  "result.interfaces[0].name is not an interface name" },
	{ "sandbox-bool", IN_RESULT("\"interfaces\":[{\"name\":\"eth0\",\"sandbox\":true}]"),
	  "result.interfaces[0].sandbox is not a string" },
	{ "ips-string", IN_RESULT("\"ips\":\"10.0.0.1/32\""), "result.ips is not an array" },
	{ "ip-array", IN_RESULT("\"ips\":[[]]"), "result.ips[0] is not an object" },
	{ "address-number", IN_RESULT("\"ips\":[{\"address\":167772161}]"),
	  "result.ips[0].address is not a string" },
	{ "bare-ips-object", "{\"cniVersion\":\"0.3.1\",\"ips\":{}}", "ips is not an array" },
	{ "deep-valid",
	  "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	  "nested deeper than 32 levels" },
};

/* yajl_tree_free() recurses per level: far beyond what the stack would take. */
static void put_deep(const char *name)
{
	size_t n = 200000;
	char *text = pw_xmalloc(n);

	memset(text, '[', n);
	put_bytes(name, text, n);
	free(text);
}

static void put_many_values(const char *name)
{
	struct pw_buf b = PW_BUF_INIT;
	int i;

	pw_buf_puts(&b, "{\"kind\":\"cniCacheV1\",\"capabilityArgs\":{\"x\":[0");
	for (i = 0; i < 20000; i++)
		pw_buf_puts(&b, ",0");
	pw_buf_puts(&b, "]}}");
	put_file(name, pw_buf_str(&b));
	pw_buf_free(&b);
}

START_TEST(test_bad_files_skipped_with_a_note)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	char truncated[sizeof(bridge_v1)];
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(bad_files); i++)
		put_file(bad_files[i].name, bad_files[i].text);
	memcpy(truncated, bridge_v1, sizeof(bridge_v1) / 2);
	truncated[sizeof(bridge_v1) / 2] = '\0';
	put_file("truncated", truncated);
	put_bytes("nul-byte", "{}\0{\"kind\":1}", 13);
	put_deep("deep");
	put_many_values("many-values");
	put_file("zz-good-" CID_A "-eth0", bridge_v1);

	read_workdir(&c, &notes, 1);
	check_str(c.items[0].container_id, CID_A);
	for (i = 0; i < PW_ARRAY_SIZE(bad_files); i++)
		check_note(&notes, bad_files[i].name, bad_files[i].reason);
	check_note(&notes, "truncated", "not valid JSON");
	check_note(&notes, "nul-byte", "holds a NUL byte");
	check_note(&notes, "deep", "nested deeper than 32 levels");
	check_note(&notes, "many-values", "more than 16384 values");
	ck_assert_int_eq(count_lines(pw_buf_str(&notes)), PW_ARRAY_SIZE(bad_files) + 4);
	check_notes_sorted(&notes);

	/* Nobody has to listen. */
	read_workdir(&c, NULL, 1);
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
}
END_TEST

/* Padded with spaces to exactly len bytes. */
static void put_padded(const char *name, const char *text, size_t len)
{
	char *data = pw_xmalloc(len);
	size_t n = strlen(text);

	memcpy(data, text, n);
	memset(data + n, ' ', len - n);
	put_bytes(name, data, len);
	free(data);
}

START_TEST(test_size_limit)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;

	put_padded("cbr0-" CID_A "-eth0", bridge_v1, 1 << 20);
	put_padded("cbr0-" CID_B "-eth0", bridge_v1, (1 << 20) + 1);
	read_workdir(&c, &notes, 1);
	check_str(c.items[0].path, item_named(&c, "cbr0-" CID_A "-eth0")->path);
	check_note(&notes, "cbr0-" CID_B "-eth0", "larger than 1 MiB, skipped");
	ck_assert_int_eq(count_lines(pw_buf_str(&notes)), 1);
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
}
END_TEST

START_TEST(test_entries_that_are_not_results_skipped)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	char *target = in_workdir("cbr0-" CID_A "-eth0"), *link = in_workdir("link"),
	     *fifo = in_workdir("fifo");

	put_file("cbr0-" CID_A "-eth0", bridge_v1);
	make_dir("sub");
	put_file("sub/cbr0-" CID_B "-eth0", bridge_v1);
	put_file(".cbr0-" CID_B "-eth0", bridge_v1);
	put_file("cbr0-" CID_B "-eth0.tmp", bridge_v1);
	ck_assert_int_eq(symlink(target, link), 0);
	/* Opened, it would block the read for ever. */
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);

	read_workdir(&c, &notes, 1);
	check_str(c.items[0].path, target);
	check_note(&notes, "sub", "a directory, skipped");
	check_note(&notes, ".cbr0-" CID_B "-eth0", "a dotfile, skipped");
	check_note(&notes, "cbr0-" CID_B "-eth0.tmp", "a temporary file, skipped");
	check_note(&notes, "link", "a symbolic link, skipped");
	check_note(&notes, "fifo", "not a regular file, skipped");
	ck_assert_int_eq(count_lines(pw_buf_str(&notes)), 5);
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
	free(target);
	free(link);
	free(fifo);
}
END_TEST

/*
 * Every proper prefix of a record, and records with bytes changed at
 * random: each is read or skipped with a note, and nothing leaks (the
 * suite runs under valgrind too).
 */
START_TEST(test_truncated_and_mutated_records)
{
	static const char alphabet[] = "{}[]\":,0a\\ \x01\xff-/.";
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	size_t len = strlen(bridge_v1), i, files = 0, skipped = 0;
	unsigned long seed = 12345;
	char name[32], *text = pw_xmalloc(len + 1);
	const char *line;

	for (i = 0; i < len; i++) {
		snprintf(name, sizeof(name), "prefix-%04zu", i);
		put_bytes(name, bridge_v1, i);
		files++;
	}
	for (i = 0; i < 1000; i++) {
		unsigned k, changes;

		memcpy(text, bridge_v1, len + 1);
		seed = seed * 6364136223846793005ul + 1442695040888963407ul;
		changes = 1 + (unsigned)(seed >> 60) % 4;
		for (k = 0; k < changes; k++) {
			seed = seed * 6364136223846793005ul + 1442695040888963407ul;
			text[(seed >> 33) % len] = alphabet[(seed >> 20) % (sizeof(alphabet) - 1)];
		}
		snprintf(name, sizeof(name), "mutant-%04zu", i);
		put_file(name, text);
		files++;
	}
	ck_assert_int_ge(pw_cni_cache_read(workdir, &c, &notes), 0);
	for (i = 0; i < c.count; i++)
		ck_assert_ptr_ne(strstr(c.items[i].path, "mutant-"), NULL);
	for (line = pw_buf_str(&notes); *line; line = strchr(line, '\n') + 1) {
		size_t n = strcspn(line, "\n");

		ck_assert_msg(strncmp(line, workdir, strlen(workdir)) == 0, "note: %.*s", (int)n, line);
		skipped += n > 9 && memcmp(line + n - 9, ", skipped", 9) == 0;
	}
	ck_assert_int_eq(c.count + skipped, files);
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
	free(text);
}
END_TEST

/* ---------------------------------------------------------------- directories */

START_TEST(test_missing_directory)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	char *missing = in_workdir("nope"), *deeper = in_workdir("nope/results");
	char *both = pw_xasprintf("%s:%s", missing, deeper);

	put_file("cbr0-" CID_A "-eth0", bridge_v1);
	read_workdir(&c, &notes, 1);
	/* What out held goes. */
	read_expect(missing, &c, &notes, 0);
	ck_assert_ptr_eq(c.items, NULL);
	read_expect(both, &c, &notes, 0);
	read_expect("", &c, &notes, 0);
	read_expect("::", &c, &notes, 0);
	ck_assert_int_eq(pw_cni_cache_read(NULL, &c, &notes), 0);
	ck_assert_str_eq(pw_buf_str(&notes), "");
	pw_cni_cache_free(&c);
	pw_cni_cache_free(&c);
	pw_cni_cache_free(NULL);
	pw_buf_free(&notes);
	free(missing);
	free(deeper);
	free(both);
}
END_TEST

START_TEST(test_unreadable_directory)
{
	struct pw_cni_cache c = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	char *file = in_workdir("a-file"), *locked = in_workdir("locked");
	char *dirs = pw_xasprintf("%s:%s", workdir, file);

	put_file("cbr0-" CID_A "-eth0", bridge_v1);
	put_file("a-file", "{}");
	/* What was read from the first directory is not half returned. */
	ck_assert_int_eq(pw_cni_cache_read(dirs, &c, &notes), -ENOTDIR);
	ck_assert_int_eq(c.count, 0);
	ck_assert_ptr_eq(c.items, NULL);
	ck_assert_contains(pw_buf_str(&notes), file);
	ck_assert_contains(pw_buf_str(&notes), strerror(ENOTDIR));

	/* root reads a directory whatever its mode. */
	make_dir("locked");
	ck_assert_int_eq(chmod(locked, 0), 0);
	pw_buf_reset(&notes);
	if (geteuid() != 0) {
		ck_assert_int_eq(pw_cni_cache_read(locked, &c, &notes), -EACCES);
		ck_assert_contains(pw_buf_str(&notes), locked);
	} else {
		ck_assert_int_eq(pw_cni_cache_read(locked, &c, &notes), 0);
	}
	ck_assert_int_eq(chmod(locked, 0700), 0);
	pw_cni_cache_free(&c);
	pw_buf_free(&notes);
	free(file);
	free(locked);
	free(dirs);
}
END_TEST

START_TEST(test_sorted_by_path)
{
	static const char *const names[] = { "z", "cbr0-m", "a", "k8s-pod-network-b" };
	struct pw_cni_cache c = { NULL, 0 }, again = { NULL, 0 };
	struct pw_buf notes = PW_BUF_INIT;
	char *dir_a = in_workdir("a"), *dir_b = in_workdir("b");
	char *dirs = pw_xasprintf("%s:%s:%s/", dir_b, dir_a, dir_b);
	struct pw_buf name = PW_BUF_INIT;
	size_t i;

	make_dir("a");
	make_dir("b");
	for (i = 0; i < PW_ARRAY_SIZE(names); i++) {
		pw_buf_reset(&name);
		pw_buf_printf(&name, "b/%s", names[i]);
		put_file(pw_buf_str(&name), bare_result);
	}
	put_file("a/q", bare_result);

	/* b is listed twice, once with a slash: its files are read once. */
	read_expect(dirs, &c, &notes, 5);
	ck_assert_str_eq(pw_buf_str(&notes), "");
	for (i = 1; i < c.count; i++)
		ck_assert_msg(strcmp(c.items[i - 1].path, c.items[i].path) < 0, "%s before %s",
			      c.items[i - 1].path, c.items[i].path);
	ck_assert_ptr_ne(strstr(c.items[0].path, "/a/q"), NULL);
	ck_assert_ptr_ne(strstr(c.items[1].path, "/b/a"), NULL);
	ck_assert_ptr_ne(strstr(c.items[4].path, "/b/z"), NULL);

	read_expect(dirs, &again, &notes, 5);
	for (i = 0; i < c.count; i++)
		ck_assert_str_eq(c.items[i].path, again.items[i].path);
	pw_cni_cache_free(&c);
	pw_cni_cache_free(&again);
	pw_buf_free(&notes);
	pw_buf_free(&name);
	free(dir_a);
	free(dir_b);
	free(dirs);
}
END_TEST

static void set_mtime(const char *path, time_t sec, long nsec)
{
	struct timespec times[2] = { { sec, nsec }, { sec, nsec } };

	ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

START_TEST(test_stamp)
{
	char *dir_a = in_workdir("a"), *dir_b = in_workdir("b"), *file = in_workdir("a/f");
	char *dirs = pw_xasprintf("%s:%s", dir_a, dir_b);
	long long before;

	ck_assert_int_eq(pw_cni_cache_stamp(dirs), 0);
	ck_assert_int_eq(pw_cni_cache_stamp(""), 0);
	ck_assert_int_eq(pw_cni_cache_stamp(NULL), 0);

	/* A file is not a directory. */
	put_file("b", "{}");
	ck_assert_int_eq(pw_cni_cache_stamp(dir_b), 0);
	ck_assert_int_eq(unlink(dir_b), 0);

	make_dir("a");
	set_mtime(dir_a, 1000000000, 5);
	ck_assert_int_eq(pw_cni_cache_stamp(dirs), 1000000000000000005LL);

	/* The newest of the directories. */
	make_dir("b");
	set_mtime(dir_b, 1500000000, 0);
	ck_assert_int_eq(pw_cni_cache_stamp(dirs), 1500000000000000000LL);
	set_mtime(dir_b, 900000000, 0);
	ck_assert_int_eq(pw_cni_cache_stamp(dirs), 1000000000000000005LL);

	before = pw_cni_cache_stamp(dirs);
	put_file("a/f", bare_result);
	ck_assert_int_gt(pw_cni_cache_stamp(dirs), before);

	set_mtime(dir_a, 1000000000, 5);
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_gt(pw_cni_cache_stamp(dirs), before);
	free(dir_a);
	free(dir_b);
	free(file);
	free(dirs);
}
END_TEST

/*
 * inotify queues an event before the call that caused it returns, so the
 * descriptor is readable at once or not at all.
 */
static bool watch_says(struct pw_cni_watch *w)
{
	struct pollfd p = { pw_cni_watch_fd(w), POLLIN, 0 };

	return poll(&p, 1, 0) == 1 && pw_cni_watch_read(w);
}

START_TEST(test_watch)
{
	char *results = in_workdir("cni/results"), *other = in_workdir("other");
	char *file = in_workdir("cni/results/cbr0-" CID_A "-eth0"), *renamed = in_workdir("cni/staged");
	char *dirs = pw_xasprintf("%s:%s", results, other);
	struct pw_buf err = PW_BUF_INIT;
	struct pw_cni_watch *w = pw_cni_watch_open(dirs, &err);

	ck_assert_msg(w != NULL, "%s", pw_buf_str(&err));
	ck_assert(!watch_says(w));

	/* containerd makes the directories with the first pod, a level at a time. */
	make_dir("cni");
	ck_assert(watch_says(w));
	make_dir("cni/results");
	ck_assert(watch_says(w));
	put_file("cni/results/cbr0-" CID_A "-eth0", bridge_v1);
	ck_assert(watch_says(w));
	ck_assert(!watch_says(w));

	/* libcni rewrites in place: the directory's stamp stays, the watch does not. */
	put_file("cni/results/cbr0-" CID_A "-eth0", bridge_v1);
	ck_assert(watch_says(w));
	ck_assert_int_eq(unlink(file), 0);
	ck_assert(watch_says(w));
	put_file("cni/staged", bare_result);
	(void)watch_says(w);	/* cni/ is watched while results/ was missing */
	ck_assert_int_eq(rename(renamed, file), 0);
	ck_assert(watch_says(w));

	/* Each directory of the list. */
	make_dir("other");
	ck_assert(watch_says(w));
	put_file("other/r", bare_result);
	ck_assert(watch_says(w));

	/* Removed and made again, it is watched again. */
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(rmdir(results), 0);
	ck_assert(watch_says(w));
	make_dir("cni/results");
	ck_assert(watch_says(w));
	put_file("cni/results/cbr0-" CID_A "-eth0", bridge_v1);
	ck_assert(watch_says(w));

	pw_cni_watch_free(w);
	pw_buf_free(&err);
	free(results);
	free(other);
	free(file);
	free(renamed);
	free(dirs);
}
END_TEST

static Suite *cni_suite(void)
{
	Suite *s = suite_create("cni_cache");
	TCase *formats = tcase_create("formats");
	TCase *hostile = tcase_create("hostile");
	TCase *dirs = tcase_create("directories");

	tcase_add_checked_fixture(formats, make_workdir, remove_workdir);
	tcase_add_test(formats, test_v1_bridge);
	tcase_add_test(formats, test_v1_ptp);
	tcase_add_test(formats, test_calico_sandbox_only);
	tcase_add_test(formats, test_bare_result_container_from_name);
	tcase_add_test(formats, test_v1_without_container_id);
	tcase_add_test(formats, test_dual_stack);
	suite_add_tcase(s, formats);

	tcase_add_checked_fixture(hostile, make_workdir, remove_workdir);
	/* Thousands of files, under valgrind. */
	tcase_set_timeout(hostile, 300);
	tcase_add_test(hostile, test_bad_files_skipped_with_a_note);
	tcase_add_test(hostile, test_size_limit);
	tcase_add_test(hostile, test_entries_that_are_not_results_skipped);
	tcase_add_test(hostile, test_truncated_and_mutated_records);
	suite_add_tcase(s, hostile);

	tcase_add_checked_fixture(dirs, make_workdir, remove_workdir);
	tcase_add_test(dirs, test_missing_directory);
	tcase_add_test(dirs, test_unreadable_directory);
	tcase_add_test(dirs, test_sorted_by_path);
	tcase_add_test(dirs, test_stamp);
	tcase_add_test(dirs, test_watch);
	suite_add_tcase(s, dirs);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cni_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
