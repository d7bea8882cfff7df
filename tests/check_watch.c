#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <curl/curl.h>
#include <yaml.h>

#include "k8s/client.h"
#include "k8s/object.h"
#include "k8s/reflector.h"
#include "k8s/watch.h"
#include "lib/strmap.h"
#include "lib/util.h"
#include "selectors/labels.h"
#include "tests/testlib.h"

/* A string literal and its length. */
#define LITERAL(s) (s), sizeof(s) - 1

/* ------------------------------------------------------------ framer */

/* The lines a framer gave, each followed by '|'. */
struct lines {
	struct pw_buf text;
	unsigned count;
	unsigned stop_after;		/* 0: never stop */
};

static int collect_line(const char *line, size_t len, void *ctx)
{
	struct lines *l = ctx;

	ck_assert_msg(memchr(line, '\n', len) == NULL, "a line with its newline");
	pw_buf_add(&l->text, line, len);
	pw_buf_putc(&l->text, '|');
	l->count++;
	return l->stop_after && l->count == l->stop_after ? 42 : 0;
}

/*
 * NDJSON as Go writes it, plus what other writers do: a CRLF line, blank
 * lines (LF and CRLF), multi-byte UTF-8 to cut in the middle, no newline
 * after the last event (held back as pending).
 */
static const char stream[] =
	"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n"
	"\n"
	"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"\xc3\xa9t\xc3\xa9\"}}}\r\n"
	"\r\n"
	"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}\n"
	"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"\xe2\x82\xac\"}}}\n"
	"{\"type\":\"ADDED\",\"object\":{";

static const char stream_lines[] =
	"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}|"
	"{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"\xc3\xa9t\xc3\xa9\"}}}|"
	"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}|"
	"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"\xe2\x82\xac\"}}}|";

#define STREAM_TAIL (sizeof("{\"type\":\"ADDED\",\"object\":{") - 1)

/* Feeds data cut at the given offsets (ascending) and checks the outcome. */
static void feed_cut(const char *data, size_t len, const size_t *cuts, size_t ncuts,
		     size_t max_line, const char *want, size_t want_pending)
{
	struct pw_line_framer *f = pw_line_framer_new(max_line);
	struct lines l = { PW_BUF_INIT, 0, 0 };
	size_t from = 0, i;

	for (i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		ck_assert_int_eq(pw_line_framer_feed(f, data + from, to - from,
						     collect_line, &l), 0);
		from = to;
	}
	ck_assert_msg(strcmp(pw_buf_str(&l.text), want) == 0,
		      "cut at %zu/%zu: got %s", ncuts ? cuts[0] : 0,
		      ncuts > 1 ? cuts[1] : 0, pw_buf_str(&l.text));
	ck_assert_uint_eq(pw_line_framer_pending(f), want_pending);
	pw_buf_free(&l.text);
	pw_line_framer_free(f);
}

START_TEST(test_framer_every_split)
{
	size_t len = sizeof(stream) - 1, i;

	feed_cut(stream, len, NULL, 0, 1024, stream_lines, STREAM_TAIL);
	for (i = 0; i <= len; i++)
		feed_cut(stream, len, &i, 1, 1024, stream_lines, STREAM_TAIL);
}
END_TEST

START_TEST(test_framer_every_pair)
{
	static const char s[] = "{\"a\":1}\n\n{\"b\":\"\xc3\xa9\"}\r\n{\"c\":3}\n{";
	size_t len = sizeof(s) - 1, cuts[2];

	for (cuts[0] = 0; cuts[0] <= len; cuts[0]++)
		for (cuts[1] = cuts[0]; cuts[1] <= len; cuts[1]++)
			feed_cut(s, len, cuts, 2, 64,
				 "{\"a\":1}|{\"b\":\"\xc3\xa9\"}|{\"c\":3}|", 1);
}
END_TEST

START_TEST(test_framer_byte_by_byte)
{
	size_t len = sizeof(stream) - 1, cuts[sizeof(stream)], i;

	for (i = 0; i < len; i++)
		cuts[i] = i;
	feed_cut(stream, len, cuts, len, 1024, stream_lines, STREAM_TAIL);
	/* Many events in one piece, then the rest of the last one. */
	feed_cut(stream, len, NULL, 0, 1024, stream_lines, STREAM_TAIL);
}
END_TEST

/* Feeds s in pieces of step bytes; returns the first non-zero result. */
static int feed_steps(struct pw_line_framer *f, const char *s, size_t len, size_t step,
		      struct lines *l)
{
	size_t i;
	int ret;

	for (i = 0; i < len; i += step) {
		ret = pw_line_framer_feed(f, s + i, len - i < step ? len - i : step,
					  collect_line, l);
		if (ret)
			return ret;
	}
	return 0;
}

START_TEST(test_framer_too_long)
{
	/* Lines of 8 bytes pass, 9 do not, whatever the pieces. */
	static const char ok[] = "12345678\n1234567\r\n";
	static const char too_long[] = "123456789\n";
	static const char too_long_crlf[] = "12345678\r\n";
	size_t step;

	for (step = 1; step <= sizeof(too_long); step++) {
		struct pw_line_framer *f = pw_line_framer_new(8);
		struct lines l = { PW_BUF_INIT, 0, 0 };

		ck_assert_int_eq(feed_steps(f, LITERAL(ok), step, &l), 0);
		ck_assert_str_eq(pw_buf_str(&l.text), "12345678|1234567|");
		ck_assert_int_eq(feed_steps(f, LITERAL(too_long), step, &l), -EMSGSIZE);
		/* Nothing of it is kept; reset, the framer takes new lines. */
		pw_line_framer_reset(f);
		ck_assert_uint_eq(pw_line_framer_pending(f), 0);
		ck_assert_int_eq(feed_steps(f, LITERAL(too_long_crlf), step, &l),
				 -EMSGSIZE);
		pw_line_framer_reset(f);
		ck_assert_int_eq(feed_steps(f, LITERAL("abc\n"), step, &l), 0);
		ck_assert_str_eq(pw_buf_str(&l.text), "12345678|1234567|abc|");
		pw_buf_free(&l.text);
		pw_line_framer_free(f);
	}
}
END_TEST

START_TEST(test_framer_no_newline_grows_past_limit)
{
	struct pw_line_framer *f = pw_line_framer_new(100);
	struct lines l = { PW_BUF_INIT, 0, 0 };
	char chunk[30];
	int i, ret = 0;

	/* A server that never sends a newline is refused, not buffered for ever. */
	memset(chunk, 'x', sizeof(chunk));
	for (i = 0; i < 10 && ret == 0; i++) {
		ret = pw_line_framer_feed(f, chunk, sizeof(chunk), collect_line, &l);
		ck_assert_uint_le(pw_line_framer_pending(f), 100);
	}
	ck_assert_int_eq(ret, -EMSGSIZE);
	ck_assert_int_eq(i, 4);
	ck_assert_uint_eq(l.count, 0);
	pw_line_framer_free(f);
}
END_TEST

START_TEST(test_framer_pending_and_stop)
{
	struct pw_line_framer *f = pw_line_framer_new(64);
	struct lines l = { PW_BUF_INIT, 0, 0 };

	ck_assert_int_eq(pw_line_framer_feed(f, LITERAL("{\"a\""), collect_line, &l), 0);
	ck_assert_uint_eq(pw_line_framer_pending(f), 4);
	ck_assert_int_eq(pw_line_framer_feed(f, LITERAL(":1}"), collect_line, &l), 0);
	ck_assert_uint_eq(pw_line_framer_pending(f), 7);
	ck_assert_int_eq(pw_line_framer_feed(f, LITERAL("\n\n  \n"), collect_line, &l), 0);
	ck_assert_uint_eq(pw_line_framer_pending(f), 0);
	ck_assert_str_eq(pw_buf_str(&l.text), "{\"a\":1}|");
	pw_line_framer_reset(f);

	/* The callback's verdict stops the feed and comes back. */
	l.stop_after = 2;
	ck_assert_int_eq(pw_line_framer_feed(f, LITERAL("b\nc\nd\n"), collect_line, &l), 42);
	ck_assert_str_eq(pw_buf_str(&l.text), "{\"a\":1}|b|");
	pw_line_framer_reset(f);
	ck_assert_uint_eq(pw_line_framer_pending(f), 0);
	ck_assert_int_eq(pw_line_framer_feed(f, "", 0, collect_line, &l), 0);
	pw_buf_free(&l.text);
	pw_line_framer_free(f);
	pw_line_framer_free(NULL);
}
END_TEST

/* ------------------------------------------------------------- events */

/* The pod event of the research notes, verbatim but for the type. */
#define POD_JSON \
	"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-7d4b9c6f5-x2x9k\"," \
	"\"generateName\":\"web-7d4b9c6f5-\",\"namespace\":\"shop\"," \
	"\"uid\":\"5f0c2a9e-3b1d-4d8e-9a51-2b7f4b8a1c11\",\"resourceVersion\":\"48213377\"," \
	"\"creationTimestamp\":\"2024-05-02T10:11:12Z\",\"labels\":{\"app\":\"web\"," \
	"\"pod-template-hash\":\"7d4b9c6f5\"}},\"spec\":{\"nodeName\":\"node-12\"," \
	"\"serviceAccountName\":\"default\",\"containers\":[{\"name\":\"web\"," \
	"\"image\":\"nginx:1.25\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080," \
	"\"protocol\":\"TCP\"}]}]},\"status\":{\"phase\":\"Running\"," \
	"\"hostIP\":\"192.168.10.12\",\"podIP\":\"10.244.3.17\",\"podIPs\":[{\"ip\":" \
	"\"10.244.3.17\"},{\"ip\":\"fd00:10:244:3::11\"}]}}"

#define POLICY_JSON(port) \
	"{\"kind\":\"NetworkPolicy\",\"apiVersion\":\"networking.k8s.io/v1\"," \
	"\"metadata\":{\"name\":\"test-network-policy\",\"namespace\":\"default\"," \
	"\"uid\":\"u-1\",\"resourceVersion\":\"48210001\"}," \
	"\"spec\":{\"podSelector\":{\"matchLabels\":{\"role\":\"db\"}}," \
	"\"policyTypes\":[\"Ingress\",\"Egress\"]," \
	"\"ingress\":[{\"from\":[{\"ipBlock\":{\"cidr\":\"172.17.0.0/16\"," \
	"\"except\":[\"172.17.1.0/24\"]}},{\"namespaceSelector\":{\"matchLabels\":" \
	"{\"project\":\"myproject\"}}},{\"namespaceSelector\":{\"matchLabels\":" \
	"{\"kubernetes.io/metadata.name\":\"frontend\"}},\"podSelector\":" \
	"{\"matchExpressions\":[{\"key\":\"role\",\"operator\":\"In\",\"values\":" \
	"[\"frontend\"]}]}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":" port "}," \
	"{\"protocol\":\"TCP\",\"port\":\"http\"}]}],\"egress\":[{\"to\":[{\"ipBlock\":" \
	"{\"cidr\":\"10.0.0.0/24\"}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":32000," \
	"\"endPort\":32768}]}]}}"

static int decode(const char *line, enum pw_kind kind, struct pw_watch_event *ev,
		  struct pw_buf *err)
{
	pw_buf_reset(err);
	return pw_watch_event_decode(line, strlen(line), kind, ev, err);
}

START_TEST(test_event_pod)
{
	static const char line[] = "{\"type\":\"ADDED\",\"object\":" POD_JSON "}";
	struct pw_buf err = PW_BUF_INIT;
	struct pw_watch_event ev;
	struct pw_pod *pod;

	ck_assert_int_eq(decode(line, PW_KIND_POD, &ev, &err), 0);
	ck_assert_int_eq(ev.type, PW_WATCH_ADDED);
	ck_assert_str_eq(ev.resource_version, "48213377");
	ck_assert_int_eq(ev.object.kind, PW_KIND_POD);
	pod = ev.object.u.pod;
	ck_assert_str_eq(pod->namespace, "shop");
	ck_assert_str_eq(pod->name, "web-7d4b9c6f5-x2x9k");
	ck_assert_str_eq(pod->uid, "5f0c2a9e-3b1d-4d8e-9a51-2b7f4b8a1c11");
	ck_assert_str_eq(pod->node_name, "node-12");
	ck_assert_int_eq(pod->phase, PW_POD_PHASE_RUNNING);
	ck_assert_uint_eq(pod->nips, 2);
	ck_assert_uint_eq(pod->nports, 1);
	ck_assert_str_eq(pod->ports[0].name, "http");
	ck_assert_uint_eq(pod->ports[0].number, 8080);
	ck_assert_str_eq(pw_labels_get(pod->labels, "app"), "web");
	ck_assert_ptr_eq(ev.reason, NULL);
	pw_watch_event_clear(&ev);
	ck_assert_ptr_eq(ev.resource_version, NULL);
	pw_watch_event_clear(&ev);	/* twice is harmless */

	/* The same with the fields in another order and a trailing CR. */
	ck_assert_int_eq(decode("{\"object\":" POD_JSON ",\"type\":\"MODIFIED\"}\r",
				PW_KIND_POD, &ev, &err), 0);
	ck_assert_int_eq(ev.type, PW_WATCH_MODIFIED);
	ck_assert_str_eq(ev.object.u.pod->name, "web-7d4b9c6f5-x2x9k");
	pw_watch_event_clear(&ev);

	ck_assert_int_eq(decode("{\"type\":\"DELETED\",\"object\":" POD_JSON "}",
				PW_KIND_POD, &ev, &err), 0);
	ck_assert_int_eq(ev.type, PW_WATCH_DELETED);
	ck_assert_str_eq(ev.object.u.pod->uid, "5f0c2a9e-3b1d-4d8e-9a51-2b7f4b8a1c11");
	pw_watch_event_clear(&ev);
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_event_kinds)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_watch_event ev;

	/* Without kind and apiVersion, the watch says what it is. */
	ck_assert_int_eq(decode("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":"
				"\"shop\",\"uid\":\"n1\",\"resourceVersion\":\"7\","
				"\"labels\":{\"team\":\"a\"}}}}",
				PW_KIND_NAMESPACE, &ev, &err), 0);
	ck_assert_int_eq(ev.object.kind, PW_KIND_NAMESPACE);
	ck_assert_str_eq(ev.object.u.ns->name, "shop");
	ck_assert_str_eq(pw_labels_get(ev.object.u.ns->labels,
				       "kubernetes.io/metadata.name"), "shop");
	pw_watch_event_clear(&ev);

	ck_assert_int_eq(decode("{\"type\":\"MODIFIED\",\"object\":" POLICY_JSON("6379") "}",
				PW_KIND_POLICY, &ev, &err), 0);
	ck_assert_int_eq(ev.object.kind, PW_KIND_POLICY);
	ck_assert_uint_eq(ev.object.u.policy->ningress, 1);
	ck_assert_uint_eq(ev.object.u.policy->ingress[0].npeers, 3);
	ck_assert_uint_eq(ev.object.u.policy->egress[0].ports[0].end_port, 32768);
	ck_assert_str_eq(ev.resource_version, "48210001");
	pw_watch_event_clear(&ev);

	/* A Pod is no NetworkPolicy, and a Namespace is not a Pod. */
	ck_assert_int_eq(decode("{\"type\":\"ADDED\",\"object\":" POD_JSON "}",
				PW_KIND_POLICY, &ev, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "NetworkPolicy shop/web-7d4b9c6f5-x2x9k");
	ck_assert_contains(pw_buf_str(&err), "kind");
	pw_watch_event_clear(&ev);
	ck_assert_int_eq(decode("{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"v2\","
				"\"metadata\":{\"name\":\"x\",\"namespace\":\"y\"}}}",
				PW_KIND_POD, &ev, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "apiVersion");
	pw_watch_event_clear(&ev);
	/* A namespaced object from the server names its namespace. */
	ck_assert_int_eq(decode("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}",
				PW_KIND_POD, &ev, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "metadata.namespace: required");
	pw_watch_event_clear(&ev);
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_event_bookmark)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_watch_event ev;

	/* Zero-valued spec and status, null timestamps and lists: only the RV counts. */
	ck_assert_int_eq(decode("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\","
				"\"apiVersion\":\"v1\",\"metadata\":{\"resourceVersion\":"
				"\"48213999\",\"creationTimestamp\":null},\"spec\":"
				"{\"containers\":null},\"status\":{}}}",
				PW_KIND_POD, &ev, &err), 0);
	ck_assert_int_eq(ev.type, PW_WATCH_BOOKMARK);
	ck_assert_str_eq(ev.resource_version, "48213999");
	ck_assert_ptr_eq(ev.object.u.pod, NULL);
	pw_watch_event_clear(&ev);

	/* The end of a watch-list, annotated. */
	ck_assert_int_eq(decode("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"NetworkPolicy\","
				"\"apiVersion\":\"networking.k8s.io/v1\",\"metadata\":{"
				"\"resourceVersion\":\"5\",\"annotations\":{"
				"\"k8s.io/initial-events-end\":\"true\"}},\"spec\":{}}}",
				PW_KIND_POLICY, &ev, &err), 0);
	ck_assert_str_eq(ev.resource_version, "5");
	pw_watch_event_clear(&ev);

	ck_assert_int_eq(decode("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}",
				PW_KIND_POD, &ev, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "resourceVersion");
	pw_watch_event_clear(&ev);
	ck_assert_int_eq(decode("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
				"{\"resourceVersion\":12}}}", PW_KIND_POD, &ev, &err), -EINVAL);
	pw_watch_event_clear(&ev);
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_event_error)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_watch_event ev;

	ck_assert_int_eq(decode("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
				"\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
				"\"message\":\"too old resource version: 12345 (48213000)\","
				"\"reason\":\"Expired\",\"code\":410}}",
				PW_KIND_POD, &ev, &err), 0);
	ck_assert_int_eq(ev.type, PW_WATCH_ERROR);
	ck_assert_int_eq(ev.code, 410);
	ck_assert_str_eq(ev.reason, "Expired");
	ck_assert_str_eq(ev.message, "too old resource version: 12345 (48213000)");
	ck_assert_ptr_eq(ev.resource_version, NULL);
	pw_watch_event_clear(&ev);

	/* Old servers: Gone. A Status may lack all but the code. */
	ck_assert_int_eq(decode("{\"type\":\"ERROR\",\"object\":{\"code\":410,"
				"\"reason\":\"Gone\"}}", PW_KIND_NAMESPACE, &ev, &err), 0);
	ck_assert_str_eq(ev.reason, "Gone");
	ck_assert_ptr_eq(ev.message, NULL);
	pw_watch_event_clear(&ev);
	ck_assert_int_eq(decode("{\"type\":\"ERROR\",\"object\":{\"code\":500}}",
				PW_KIND_NAMESPACE, &ev, &err), 0);
	ck_assert_int_eq(ev.code, 500);
	pw_watch_event_clear(&ev);

	/* A code must be a number, a reason a string. */
	ck_assert_int_eq(decode("{\"type\":\"ERROR\",\"object\":{\"code\":\"410\"}}",
				PW_KIND_POD, &ev, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "code");
	ck_assert_int_eq(ev.type, PW_WATCH_ERROR);
	ck_assert_ptr_eq(ev.reason, NULL);
	pw_watch_event_clear(&ev);
	ck_assert_int_eq(decode("{\"type\":\"ERROR\",\"object\":{\"code\":410.5}}",
				PW_KIND_POD, &ev, &err), -EINVAL);
	pw_watch_event_clear(&ev);
	ck_assert_int_eq(decode("{\"type\":\"ERROR\",\"object\":{\"reason\":[1]}}",
				PW_KIND_POD, &ev, &err), -EINVAL);
	pw_watch_event_clear(&ev);
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_event_garbage)
{
	static const char *const lines[] = {
		"garbage",
		"{\"type\":\"ADDED\",\"object\":{",
		"[1,2,3]",
		"\"ADDED\"",
		"{}",
		"{\"type\":\"ADDED\"}",
		"{\"type\":\"ADDED\",\"object\":\"pod\"}",
		"{\"type\":\"ADDED\",\"object\":[]}",
		"{\"type\":\"ADDED\",\"object\":null}",
		"{\"type\":\"SOMETHING\",\"object\":{}}",
		"{\"type\":5,\"object\":{}}",
		"{\"type\":[\"ADDED\"],\"object\":{}}",
		"{\"type\":\"added\",\"object\":{}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":\"x\"}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":5,\"namespace\":\"a\"}}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"a\","
		"\"resourceVersion\":7}}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"a\","
		"\"labels\":[]}}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"a\"},"
		"\"spec\":{\"hostNetwork\":\"yes\"}}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"a\"},"
		"\"status\":{\"podIPs\":[{\"ip\":\"10.0.0.300\"}]}}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"a\"},"
		"\"spec\":{\"containers\":[{\"ports\":[{\"containerPort\":\"80\"}]}]}}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"Not_A_Name\","
		"\"namespace\":\"a\"}}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\\u0000b\","
		"\"namespace\":\"a\"}}}",
		"{\"type\":\"ADDED\",\"type\":\"DELETED\",\"object\":{}}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"name\":\"b\","
		"\"namespace\":\"a\"}}}",
		"\xff\xfe{}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"\xc3\"}}}",
		"{\"type\":\"ADDED\",\"object\":{}} {\"type\":\"ADDED\",\"object\":{}}",
		"",
	};
	struct pw_buf err = PW_BUF_INIT;
	struct pw_watch_event ev;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(lines); i++) {
		ck_assert_msg(decode(lines[i], PW_KIND_POD, &ev, &err) == -EINVAL,
			      "accepted %s", lines[i]);
		ck_assert_msg(err.len > 0 && !strchr(pw_buf_str(&err), '\n'),
			      "%s: reason \"%s\"", lines[i], pw_buf_str(&err));
		ck_assert_ptr_eq(ev.object.u.pod, NULL);
		pw_watch_event_clear(&ev);
	}
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_event_invalid_object)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_watch_event ev;

	/* Port 70000: refused with the object and field named, the RV still read. */
	ck_assert_int_eq(decode("{\"type\":\"MODIFIED\",\"object\":" POLICY_JSON("70000") "}",
				PW_KIND_POLICY, &ev, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "NetworkPolicy default/test-network-policy: "
			   "spec.ingress[0].ports[0].port");
	ck_assert_contains(pw_buf_str(&err), "70000");
	ck_assert_int_eq(ev.type, PW_WATCH_MODIFIED);
	ck_assert_str_eq(ev.resource_version, "48210001");
	ck_assert_ptr_eq(ev.object.u.policy, NULL);
	pw_watch_event_clear(&ev);

	ck_assert_int_eq(decode("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\","
				"\"namespace\":\"ns\",\"resourceVersion\":\"77\"},\"spec\":"
				"{\"containers\":[{\"ports\":[{\"containerPort\":0}]}]}}}",
				PW_KIND_POD, &ev, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "Pod ns/p: spec.containers[0].ports[0]."
			   "containerPort");
	ck_assert_str_eq(ev.resource_version, "77");
	pw_watch_event_clear(&ev);
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_event_big_rv_and_json_forms)
{
	struct pw_buf err = PW_BUF_INIT, deep = PW_BUF_INIT;
	struct pw_watch_event ev;
	int i;

	/* Past 2^64 even: an opaque string, copied as it is. */
	ck_assert_int_eq(decode("{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
				"{\"resourceVersion\":\"184467440737095516170001\"}}}",
				PW_KIND_POD, &ev, &err), 0);
	ck_assert_str_eq(ev.resource_version, "184467440737095516170001");
	pw_watch_event_clear(&ev);
	ck_assert_int_eq(decode("{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"n\","
				"\"resourceVersion\":\"4294967297\"}}}",
				PW_KIND_NAMESPACE, &ev, &err), 0);
	ck_assert_str_eq(ev.resource_version, "4294967297");
	pw_watch_event_clear(&ev);

	/* What JSON allows and YAML 1.1 readers may not: tabs, "\/", escapes. */
	ck_assert_int_eq(decode("{\t\"type\" :\t\"ADDED\" , \"object\":{\"metadata\":{"
				"\"name\":\"a\\u0062c\",\"labels\":{\"a.io\\/x\":\"b\"}}}}\t",
				PW_KIND_NAMESPACE, &ev, &err), 0);
	ck_assert_str_eq(ev.object.u.ns->name, "abc");
	ck_assert_str_eq(pw_labels_get(ev.object.u.ns->labels, "a.io/x"), "b");
	pw_watch_event_clear(&ev);
	/* Inside a string, "\\/" is a backslash and a slash: refused as a value. */
	ck_assert_int_eq(decode("{\"type\":\"ADDED\",\"object\":{\"metadata\":{"
				"\"name\":\"a\",\"labels\":{\"a.io\\\\/x\":\"b\"}}}}",
				PW_KIND_NAMESPACE, &ev, &err), -EINVAL);
	pw_watch_event_clear(&ev);

	/* Nesting deep enough to hurt a recursive loader is refused first. */
	pw_buf_puts(&deep, "{\"type\":\"ADDED\",\"object\":{\"x\":");
	for (i = 0; i < 100000; i++)
		pw_buf_putc(&deep, '[');
	ck_assert_int_eq(pw_watch_event_decode(deep.data, deep.len, PW_KIND_POD, &ev, &err),
			 -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "nested deeper");
	pw_watch_event_clear(&ev);
	pw_buf_free(&deep);
	pw_buf_free(&err);
}
END_TEST

/* -------------------------------------------------------------- lists */

struct listed {
	struct pw_buf names;
	struct pw_buf bad;
	unsigned count;
};

static void list_item(struct pw_object *obj, void *ctx)
{
	struct listed *l = ctx;

	ck_assert_int_eq(obj->kind, PW_KIND_POD);
	pw_buf_printf(&l->names, "%s/%s@%s ", obj->u.pod->namespace, obj->u.pod->name,
		      obj->u.pod->uid ? obj->u.pod->uid : "-");
	l->count++;
	pw_object_free(obj);
}

static void list_bad(const char *why, void *ctx)
{
	struct listed *l = ctx;

	pw_buf_puts(&l->bad, why);
	pw_buf_putc(&l->bad, '\n');
}

static int list(const char *body, struct listed *l, char **rv, char **cont,
		struct pw_buf *err)
{
	pw_buf_reset(&l->names);
	pw_buf_reset(&l->bad);
	pw_buf_reset(err);
	l->count = 0;
	return pw_list_decode(body, strlen(body), PW_KIND_POD, list_item, list_bad, l,
			      rv, cont, err);
}

START_TEST(test_list_pods)
{
	static const char body[] =
		"{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":{"
		"\"resourceVersion\":\"10245000000001\",\"continue\":\"eyJ2IjoibWV0YS5rOHMuaW8vdjEi"
		"LCJydiI6MTAyNDUsInN0YXJ0IjoiYi9cdTAwMDAifQ==\",\"remainingItemCount\":3},"
		"\"items\":["
		"{\"metadata\":{\"name\":\"a\",\"namespace\":\"n1\",\"uid\":\"1\","
		"\"resourceVersion\":\"11\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]},"
		"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.1\"}},"
		"{\"metadata\":{\"name\":\"bad\",\"namespace\":\"n1\",\"uid\":\"2\"},"
		"\"status\":{\"podIP\":\"10.0.0.999\"}},"
		"{\"metadata\":{\"name\":\"b\",\"namespace\":\"n2\",\"uid\":\"3\","
		"\"resourceVersion\":\"12\"}},"
		"[],"
		"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"c\","
		"\"namespace\":\"n2\",\"uid\":\"4\",\"resourceVersion\":\"13\"}}"
		"]}";
	struct listed l = { PW_BUF_INIT, PW_BUF_INIT, 0 };
	struct pw_buf err = PW_BUF_INIT;
	char *rv, *cont;

	ck_assert_int_eq(list(body, &l, &rv, &cont, &err), 0);
	ck_assert_str_eq(pw_buf_str(&l.names), "n1/a@1 n2/b@3 n2/c@4 ");
	ck_assert_contains(pw_buf_str(&l.bad), "Pod n1/bad: status.podIP");
	ck_assert_contains(pw_buf_str(&l.bad), "expected a mapping, found a list");
	ck_assert_str_eq(rv, "10245000000001");
	ck_assert_str_eq(cont, "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAyNDUsInN0YXJ0Ijoi"
			 "Yi9cdTAwMDAifQ==");
	free(rv);
	free(cont);

	/* The last page: an empty token (or none); no items at all, or null. */
	ck_assert_int_eq(list("{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":"
			      "\"9\",\"continue\":\"\"},\"items\":[]}", &l, &rv, &cont, &err), 0);
	ck_assert_str_eq(rv, "9");
	ck_assert_ptr_eq(cont, NULL);
	ck_assert_uint_eq(l.count, 0);
	free(rv);
	ck_assert_int_eq(list("{\"metadata\":{},\"items\":null}", &l, &rv, &cont, &err), 0);
	ck_assert_ptr_eq(rv, NULL);
	ck_assert_ptr_eq(cont, NULL);
	/* A short page with a token: more to come. */
	ck_assert_int_eq(list("{\"metadata\":{\"resourceVersion\":\"9\",\"continue\":\"x\"},"
			      "\"items\":[]}", &l, &rv, &cont, &err), 0);
	ck_assert_str_eq(cont, "x");
	free(rv);
	free(cont);
	pw_buf_free(&l.names);
	pw_buf_free(&l.bad);
	pw_buf_free(&err);
}
END_TEST

START_TEST(test_list_not_a_list)
{
	static const char *const bodies[] = {
		"",
		"null",
		"[]",
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"code\":410}",
		"{\"kind\":\"NamespaceList\",\"items\":[]}",
		"{\"kind\":\"PodList\",\"items\":{}}",
		"{\"kind\":\"PodList\",\"metadata\":[],\"items\":[]}",
		"{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":5},\"items\":[]}",
		"{\"kind\":\"PodList\",\"metadata\":{\"continue\":true},\"items\":[]}",
		"{\"kind\":\"PodList\",\"items\":[",
		"<html>502 Bad Gateway</html>",
	};
	struct listed l = { PW_BUF_INIT, PW_BUF_INIT, 0 };
	struct pw_buf err = PW_BUF_INIT;
	char *rv, *cont;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(bodies); i++) {
		ck_assert_msg(list(bodies[i], &l, &rv, &cont, &err) == -EINVAL,
			      "accepted %s", bodies[i]);
		ck_assert_ptr_eq(rv, NULL);
		ck_assert_ptr_eq(cont, NULL);
		ck_assert_uint_eq(l.count, 0);
		ck_assert_msg(err.len > 0, "%s: no reason", bodies[i]);
	}
	pw_buf_free(&l.names);
	pw_buf_free(&l.bad);
	pw_buf_free(&err);
}
END_TEST

/* ------------------------------------------------- the fake API server */

/*
 * The reflector runs against tests/fake-apiserver.py on 127.0.0.1, started
 * for each test and killed after it (and by PR_SET_PDEATHSIG should the
 * test process die first: Check's forked tests exit without teardown when
 * an assertion fails).
 */
static pid_t fake_pid = -1;
static int api_port, ctl_port;
static unsigned fake_seed;

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char *fake_script(void)
{
	const char *srcdir = getenv("srcdir"), *file = __FILE__, *slash;

	if (srcdir && *srcdir)
		return pw_xasprintf("%s/tests/fake-apiserver.py", srcdir);
	slash = strrchr(file, '/');
	if (!slash)
		return pw_xstrdup("fake-apiserver.py");
	return pw_xasprintf("%.*s/fake-apiserver.py", (int)(slash - file), file);
}

/* Starts the fake with extra arguments (NULL-terminated) and reads its ports. */
static void fake_start(const char *const *extra)
{
	const char *argv[32];
	char *script = fake_script(), seed[16], line[128];
	pid_t parent = getpid();
	size_t n = 0, got = 0;
	int fds[2];

	ck_assert_msg(access(script, R_OK) == 0, "%s: %s", script, strerror(errno));
	fake_seed = getenv("PW_FAKE_SEED") ? (unsigned)atoi(getenv("PW_FAKE_SEED")) :
		(unsigned)(mono_ms() ^ (uint64_t)getpid()) % 1000000;
	snprintf(seed, sizeof(seed), "%u", fake_seed);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--control-port";
	argv[n++] = "0";
	argv[n++] = "--seed";
	argv[n++] = seed;
	argv[n++] = "--max-lifetime";
	argv[n++] = "300";
	while (extra && *extra && n < PW_ARRAY_SIZE(argv) - 1)
		argv[n++] = *extra++;
	argv[n] = NULL;
	ck_assert_int_eq(pipe(fds), 0);
	fake_pid = fork();
	ck_assert_int_ge(fake_pid, 0);
	if (fake_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		if (!getenv("PW_FAKE_VERBOSE")) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0)
				dup2(null, STDERR_FILENO);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	free(script);
	/* "READY <api-port> <control-port>\n" */
	while (got < sizeof(line) - 1 && !memchr(line, '\n', got)) {
		struct pollfd pfd = { fds[0], POLLIN, 0 };
		ssize_t r;

		ck_assert_msg(poll(&pfd, 1, 20000) == 1,
			      "the fake API server did not start");
		r = read(fds[0], line + got, sizeof(line) - 1 - got);
		ck_assert_msg(r > 0, "the fake API server exited");
		got += (size_t)r;
		line[got] = '\0';
	}
	close(fds[0]);
	ck_assert_msg(sscanf(line, "READY %d %d", &api_port, &ctl_port) == 2,
		      "fake API server said: %s", line);
}

static void fake_stop(void)
{
	uint64_t deadline = mono_ms() + 5000;
	int status;

	if (fake_pid <= 0)
		return;
	kill(fake_pid, SIGTERM);
	while (waitpid(fake_pid, &status, WNOHANG) == 0) {
		if (mono_ms() > deadline) {
			kill(fake_pid, SIGKILL);
			waitpid(fake_pid, &status, 0);
			break;
		}
		usleep(10000);
	}
	fake_pid = -1;
}

static size_t collect_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	pw_buf_add(ctx, data, size * nmemb);
	return size * nmemb;
}

/* One request to the control port; returns the HTTP status, body in out. */
static long ctl(const char *method, const char *path, const char *body, struct pw_buf *out)
{
	struct pw_buf ignored = PW_BUF_INIT, url = PW_BUF_INIT;
	struct curl_slist *headers = NULL;
	CURL *curl = curl_easy_init();
	long status = 0;
	CURLcode rc;

	ck_assert_ptr_ne(curl, NULL);
	if (!out)
		out = &ignored;
	pw_buf_reset(out);
	pw_buf_printf(&url, "http://127.0.0.1:%d%s", ctl_port, path);
	curl_easy_setopt(curl, CURLOPT_URL, pw_buf_str(&url));
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	if (body) {
		headers = curl_slist_append(headers, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	}
	rc = curl_easy_perform(curl);
	ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	pw_buf_free(&url);
	pw_buf_free(&ignored);
	return status;
}

static void ctl_ok(const char *method, const char *path, const char *body)
{
	struct pw_buf out = PW_BUF_INIT;
	long status = ctl(method, path, body, &out);

	ck_assert_msg(status >= 200 && status < 300, "%s %s %s: %ld %s", method, path,
		      body ? body : "", status, pw_buf_str(&out));
	pw_buf_free(&out);
}

static void fault(const char *json)
{
	ctl_ok("POST", "/faults", json);
}

/* ------------------------------------------------------- JSON in tests */

struct json {
	yaml_document_t doc;
	yaml_node_t *root;
};

static void json_parse(struct json *j, const struct pw_buf *text)
{
	yaml_parser_t parser;

	ck_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (const unsigned char *)pw_buf_str(text),
				     text->len);
	ck_assert_msg(yaml_parser_load(&parser, &j->doc), "not JSON: %s", pw_buf_str(text));
	yaml_parser_delete(&parser);
	j->root = yaml_document_get_root_node(&j->doc);
	ck_assert_ptr_ne(j->root, NULL);
}

static yaml_node_t *json_get(struct json *j, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&j->doc, p->key);

		if (strcmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(&j->doc, p->value);
	}
	return NULL;
}

static const char *json_text(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : "";
}

/* A counter of GET /stats. */
static long fake_stat(const char *name)
{
	struct pw_buf out = PW_BUF_INIT;
	struct json j;
	long v;

	ck_assert_int_eq(ctl("GET", "/stats", NULL, &out), 200);
	json_parse(&j, &out);
	v = atol(json_text(json_get(&j, j.root, name)));
	yaml_document_delete(&j.doc);
	pw_buf_free(&out);
	return v;
}

/* The API requests the fake saw, oldest first, from index from. */
struct api_request {
	double t;
	long status;
	char *path;
	char *user_agent;
};

static size_t fake_requests(struct api_request **out)
{
	struct pw_buf body = PW_BUF_INIT;
	yaml_node_item_t *item;
	yaml_node_t *list;
	struct json j;
	size_t n = 0, cap = 0;

	*out = NULL;
	ck_assert_int_eq(ctl("GET", "/requests", NULL, &body), 200);
	json_parse(&j, &body);
	list = json_get(&j, j.root, "requests");
	ck_assert(list && list->type == YAML_SEQUENCE_NODE);
	for (item = list->data.sequence.items.start; item < list->data.sequence.items.top;
	     item++) {
		yaml_node_t *r = yaml_document_get_node(&j.doc, *item);

		PW_GROW(*out, cap, n + 1);
		(*out)[n].t = atof(json_text(json_get(&j, r, "t")));
		(*out)[n].status = atol(json_text(json_get(&j, r, "status")));
		(*out)[n].path = pw_xstrdup(json_text(json_get(&j, r, "path")));
		(*out)[n].user_agent = pw_xstrdup(json_text(json_get(&j, r, "user_agent")));
		n++;
	}
	yaml_document_delete(&j.doc);
	pw_buf_free(&body);
	return n;
}

static void free_requests(struct api_request *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(r[i].path);
		free(r[i].user_agent);
	}
	free(r);
}

static bool is_watch_request(const struct api_request *r)
{
	return strstr(r->path, "watch=1") != NULL;
}

/* ------------------------------------------------ the reflector's user */

/* What upsert() and remove() built: the user's view of the cluster. */
struct entry {
	char *uid;
	char *state;		/* object_state() */
};

static struct {
	enum pw_kind kind;
	struct pw_k8s_client *client;
	struct pw_reflector *r;
	struct pw_strmap *objs;		/* key -> struct entry */
	unsigned upserts, removes, synced;
	struct pw_buf log;		/* one message per line */
	struct pw_buf trail;		/* "+key#n " / "-key " in order */
	const char *hidden;		/* a key the field selector leaves out */
	const char *node_name;		/* for the User-Agent; NULL: none */
} h;

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->uid);
	free(e->state);
	free(e);
}

static void put_labels(struct pw_buf *b, const struct pw_labels *l)
{
	size_t i;

	for (i = 0; i < pw_labels_count(l); i++)
		pw_buf_printf(b, "%s=%s,", pw_labels_key(l, i), pw_labels_value(l, i));
}

/*
 * What podwall keeps of obj, as text: the objects do not keep their own
 * resourceVersion, so two sides agree when they hold the same uid and say
 * the same to podwall.
 */
static char *object_state(const struct pw_object *obj)
{
	struct pw_buf b = PW_BUF_INIT;
	char text[PW_CIDR_STRLEN];
	size_t i;

	switch (obj->kind) {
	case PW_KIND_NAMESPACE:
		put_labels(&b, obj->u.ns->labels);
		pw_buf_printf(&b, "deny_log=%d", obj->u.ns->deny_log);
		break;
	case PW_KIND_POD: {
		const struct pw_pod *pod = obj->u.pod;

		put_labels(&b, pod->labels);
		pw_buf_printf(&b, "node=%s,phase=%d,host=%d,ips=",
			      pod->node_name ? pod->node_name : "-", pod->phase,
			      pod->host_network);
		for (i = 0; i < pod->nips; i++) {
			pw_cidr_format(&pod->ips[i], false, text);
			pw_buf_printf(&b, "%s,", text);
		}
		pw_buf_puts(&b, "ports=");
		for (i = 0; i < pod->nports; i++)
			pw_buf_printf(&b, "%s:%u/%d,", pod->ports[i].name ? pod->ports[i].name : "",
				      pod->ports[i].number, pod->ports[i].protocol);
		break;
	}
	case PW_KIND_POLICY:
		pw_buf_printf(&b, "select=%s,types=%u,ingress=%zu,egress=%zu",
			      pw_selector_canonical(obj->u.policy->pod_selector),
			      obj->u.policy->types, obj->u.policy->ningress,
			      obj->u.policy->negress);
		break;
	}
	return b.data ? b.data : pw_xstrdup("");
}

static void user_upsert(void *ctx, struct pw_object *obj)
{
	const char *ns = NULL, *name = NULL, *uid = NULL, *n = NULL;
	struct entry *e = pw_xcalloc(1, sizeof(*e));
	char *key;

	ck_assert_int_eq(obj->kind, h.kind);
	switch (obj->kind) {
	case PW_KIND_NAMESPACE:
		name = obj->u.ns->name;
		uid = obj->u.ns->uid;
		break;
	case PW_KIND_POD:
		ns = obj->u.pod->namespace;
		name = obj->u.pod->name;
		uid = obj->u.pod->uid;
		n = pw_labels_get(obj->u.pod->labels, "n");
		break;
	case PW_KIND_POLICY:
		ns = obj->u.policy->namespace;
		name = obj->u.policy->name;
		uid = obj->u.policy->uid;
		break;
	}
	ck_assert_ptr_ne(uid, NULL);
	key = ns ? pw_xasprintf("%s/%s", ns, name) : pw_xstrdup(name);
	e->uid = pw_xstrdup(uid);
	e->state = object_state(obj);
	entry_free(pw_strmap_put(h.objs, key, e));
	pw_buf_printf(&h.trail, "+%s", key);
	if (n)
		pw_buf_printf(&h.trail, "#%s", n);
	pw_buf_putc(&h.trail, ' ');
	h.upserts++;
	free(key);
	pw_object_free(obj);
}

static void user_remove(void *ctx, enum pw_kind kind, const char *ns, const char *name,
			const char *uid)
{
	char *key = ns ? pw_xasprintf("%s/%s", ns, name) : pw_xstrdup(name);
	struct entry *e = pw_strmap_del(h.objs, key);

	ck_assert_int_eq(kind, h.kind);
	ck_assert_msg((ns == NULL) == (kind == PW_KIND_NAMESPACE), "namespace %s", ns);
	/* Only what was handed out is taken back, under its own uid. */
	ck_assert_msg(e != NULL, "remove() of %s, never upserted", key);
	ck_assert_msg(uid && strcmp(uid, e->uid) == 0, "remove(%s) uid %s, had %s", key,
		      uid ? uid : "(null)", e->uid);
	pw_buf_printf(&h.trail, "-%s ", key);
	h.removes++;
	entry_free(e);
	free(key);
}

static void user_synced(void *ctx, enum pw_kind kind)
{
	ck_assert_int_eq(kind, h.kind);
	h.synced++;
}

static void user_log(void *ctx, int level, const char *message)
{
	ck_assert_msg(!strchr(message, '\n'), "a log line with a newline: %s", message);
	pw_buf_puts(&h.log, message);
	pw_buf_putc(&h.log, '\n');
	if (getenv("PW_TEST_VERBOSE"))
		fprintf(stderr, "reflector log <%d> %s\n", level, message);
}

static const struct pw_reflector_ops user_ops = {
	.upsert = user_upsert,
	.remove = user_remove,
	.synced = user_synced,
	.log = user_log,
};

/* Options that keep the tests short; a test changes what it checks. */
static void test_options(struct pw_reflector_options *opt)
{
	pw_reflector_options_default(opt);
	/* Lists and watches; the watch-list tests ask for theirs. */
	opt->initial_list = PW_INITIAL_LIST_CACHE;
	opt->page_size = 2;
	opt->watch_min_s = 20;
	opt->watch_max_s = 30;
	opt->backoff_initial_ms = 200;
	opt->backoff_max_ms = 2000;
	opt->max_event_bytes = 1 << 20;
}

static void reflector_start(enum pw_kind kind, const struct pw_reflector_options *opt)
{
	struct pw_k8s_config cfg;
	struct pw_buf err = PW_BUF_INIT;
	char server[64];

	memset(&cfg, 0, sizeof(cfg));
	snprintf(server, sizeof(server), "http://127.0.0.1:%d", api_port);
	cfg.server = server;
	h.kind = kind;
	h.client = pw_k8s_client_new(&cfg, &err);
	ck_assert_msg(h.client != NULL, "client: %s", pw_buf_str(&err));
	pw_buf_free(&err);
	if (h.node_name)
		pw_k8s_client_set_node(h.client, h.node_name);
	h.r = pw_reflector_new(h.client, kind, opt, &user_ops, NULL);
	pw_reflector_start(h.r);
}

static void setup_reflector(void)
{
	memset(&h, 0, sizeof(h));
	h.objs = pw_strmap_new();
	fake_pid = -1;
}

static int free_entry(const char *key, void *value, void *ctx)
{
	entry_free(value);
	return 0;
}

static void teardown_reflector(void)
{
	pw_reflector_free(h.r);
	pw_k8s_client_free(h.client);
	pw_strmap_foreach(h.objs, free_entry, NULL);
	pw_strmap_free(h.objs);
	pw_buf_free(&h.log);
	pw_buf_free(&h.trail);
	fake_stop();
}

/* Runs the loop until cond() or timeout_ms; returns cond's last verdict. */
static bool spin(bool (*cond)(void), unsigned timeout_ms)
{
	uint64_t deadline = mono_ms() + timeout_ms;

	for (;;) {
		int t = pw_reflector_tick(h.r, mono_ms());

		if (cond && cond())
			return true;
		if (mono_ms() >= deadline)
			return false;
		if (t < 0 || t > 20)
			t = 20;
		ck_assert_int_eq(pw_k8s_client_wait(h.client, NULL, 0, t), 0);
		ck_assert_int_eq(pw_k8s_client_perform(h.client), 0);
	}
}

static void spin_for(unsigned ms)
{
	spin(NULL, ms);
}

/* ------------------------------------------------------ convergence */

struct expected {
	struct pw_strmap *objs;
	unsigned bad;
};

static void expect_item(struct pw_object *obj, void *ctx)
{
	struct expected *x = ctx;
	const char *ns = NULL, *name = NULL, *uid = NULL;
	struct entry *e = pw_xcalloc(1, sizeof(*e));
	char *key;

	switch (obj->kind) {
	case PW_KIND_NAMESPACE:
		name = obj->u.ns->name;
		uid = obj->u.ns->uid;
		break;
	case PW_KIND_POD:
		ns = obj->u.pod->namespace;
		name = obj->u.pod->name;
		uid = obj->u.pod->uid;
		break;
	case PW_KIND_POLICY:
		ns = obj->u.policy->namespace;
		name = obj->u.policy->name;
		uid = obj->u.policy->uid;
		break;
	}
	key = ns ? pw_xasprintf("%s/%s", ns, name) : pw_xstrdup(name);
	e->uid = pw_xstrdup(uid);
	e->state = object_state(obj);
	if (!h.hidden || strcmp(key, h.hidden) != 0)
		entry_free(pw_strmap_put(x->objs, key, e));
	else
		entry_free(e);
	free(key);
	pw_object_free(obj);
}

/* A policy never valid is enforced as its isolation: expect that. */
static void expect_bad(const char *key, const char *why, struct pw_object *isolation,
		       void *ctx)
{
	struct expected *x = ctx;

	x->bad++;
	if (isolation)
		expect_item(isolation, ctx);
}

struct compare {
	struct pw_strmap *other;
	struct pw_buf *diff;
};

static int compare_entry(const char *key, void *value, void *ctx)
{
	struct compare *c = ctx;
	struct entry *a = value, *b = pw_strmap_get(c->other, key);

	if (!b)
		pw_buf_printf(c->diff, "only one side has %s; ", key);
	else if (strcmp(a->uid, b->uid) != 0 || strcmp(a->state, b->state) != 0)
		pw_buf_printf(c->diff, "%s: %s@%s vs %s@%s; ", key, a->uid, a->state,
			      b->uid, b->state);
	return 0;
}

static const char *const kind_query[] = {
	[PW_KIND_NAMESPACE] = "/objects?kind=Namespace",
	[PW_KIND_POD] = "/objects?kind=Pod",
	[PW_KIND_POLICY] = "/objects?kind=NetworkPolicy",
};

/*
 * Compares what the user was given with the fake's objects of the kind
 * (the valid ones, and the isolation of invalid policies); the differences
 * go to diff.
 */
static bool same_as_server(struct pw_buf *diff)
{
	struct expected x = { pw_strmap_new(), 0 };
	struct pw_buf body = PW_BUF_INIT, err = PW_BUF_INIT;
	struct compare c;
	char *rv, *cont;

	pw_buf_reset(diff);
	ck_assert_int_eq(ctl("GET", kind_query[h.kind], NULL, &body), 200);
	ck_assert_int_eq(pw_list_decode_keyed(body.data, body.len, h.kind, expect_item,
					      expect_bad, &x, &rv, &cont, &err), 0);
	free(rv);
	free(cont);
	c.other = h.objs;
	c.diff = diff;
	pw_strmap_foreach(x.objs, compare_entry, &c);
	c.other = x.objs;
	pw_strmap_foreach(h.objs, compare_entry, &c);
	pw_strmap_foreach(x.objs, free_entry, NULL);
	pw_strmap_free(x.objs);
	pw_buf_free(&body);
	pw_buf_free(&err);
	return diff->len == 0 && pw_reflector_synced(h.r);
}

static bool converged(void)
{
	struct pw_buf diff = PW_BUF_INIT;
	bool same = same_as_server(&diff);

	pw_buf_free(&diff);
	return same;
}

#define assert_converges(timeout_ms) do { \
	struct pw_buf diff_ = PW_BUF_INIT; \
	bool ok_ = spin(converged, (timeout_ms)); \
	same_as_server(&diff_); \
	ck_assert_msg(ok_, "not converged (seed %u): %s\nlog:\n%s", fake_seed, \
		      pw_buf_str(&diff_), pw_buf_str(&h.log)); \
	pw_buf_free(&diff_); \
} while (0)

static struct pw_reflector_stats stats(void)
{
	struct pw_reflector_stats st;

	pw_reflector_get_stats(h.r, &st);
	return st;
}

/* ------------------------------------------------------------ objects */

static void put_pod(const char *ns, const char *name, int n, const char *ip)
{
	char *json = pw_xasprintf(
		"{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"%s\","
		"\"namespace\":\"%s\",\"labels\":{\"app\":\"web\",\"n\":\"%d\"}},"
		"\"spec\":{\"nodeName\":\"node-1\",\"containers\":[{\"name\":\"c\","
		"\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]},"
		"\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\"}}", name, ns, n, ip);

	ctl_ok("POST", "/objects", json);
	free(json);
}

static void delete_object(const char *kind, const char *ns, const char *name)
{
	char *path = pw_xasprintf("/objects/%s/%s/%s", kind, ns, name);

	ctl_ok("DELETE", path, NULL);
	free(path);
}

static void put_pods(int count, const char *prefix)
{
	char name[64], ip[32];
	int i;

	for (i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "%s%d", prefix, i);
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 200, i % 200 + 1);
		put_pod(i % 2 ? "shop" : "default", name, 0, ip);
	}
}

static void put_policy(const char *name, const char *port, bool raw)
{
	char *json = pw_xasprintf(
		"{\"kind\":\"NetworkPolicy\",\"apiVersion\":\"networking.k8s.io/v1\","
		"\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\"},"
		"\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"db\"}},"
		"\"ingress\":[{\"ports\":[{\"protocol\":\"TCP\",\"port\":%s}]}]}}",
		name, port);

	ctl_ok("POST", raw ? "/objects?raw=1" : "/objects", json);
	free(json);
}

/* ------------------------------------------------------ reflector tests */

START_TEST(test_reflector_paged_list)
{
	static const char *const args[] = { "--short-page-rate", "0", NULL };
	struct pw_reflector_options opt;
	struct api_request *req;
	size_t n, i, lists = 0;

	fake_start(args);
	put_pods(7, "p");
	/* Short and empty pages, each with a token: only an empty token ends. */
	fault("{\"type\":\"short-pages\",\"count\":3}");
	test_options(&opt);
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	ck_assert_uint_eq(h.synced, 1);
	ck_assert_uint_eq(h.upserts, 7);
	ck_assert_uint_eq(h.removes, 0);
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_uint_ge(stats().pages, 5);
	ck_assert_uint_eq(stats().pages, (unsigned)fake_stat("pages"));
	ck_assert_int_ge(fake_stat("continues"), 4);
	ck_assert_uint_eq(stats().relists_410, 0);
	ck_assert_uint_eq(stats().bad_objects, 0);

	/*
	 * The watch cache's copy: limit and resourceVersion=0 on the first
	 * page, only the token on the others; then one watch from its RV.
	 */
	n = fake_requests(&req);
	for (i = 0; i < n; i++) {
		if (is_watch_request(&req[i])) {
			ck_assert_contains(req[i].path, "allowWatchBookmarks=true");
			ck_assert_contains(req[i].path, "resourceVersion=");
			ck_assert_contains(req[i].path, "timeoutSeconds=");
			continue;
		}
		ck_assert_contains(req[i].path, "/api/v1/pods?limit=2");
		if (lists++ == 0)
			ck_assert_str_eq(req[i].path, "/api/v1/pods?limit=2&resourceVersion=0");
		else
			ck_assert_msg(!strstr(req[i].path, "resourceVersion"), "%s", req[i].path);
		ck_assert_int_eq(req[i].status, 200);
	}
	ck_assert_uint_eq(lists, stats().pages);
	ck_assert_uint_eq(stats().consistent_lists, 0);
	free_requests(req, n);
	spin(NULL, 200);
	ck_assert_uint_eq(stats().watches, 1);
	ck_assert_int_eq(fake_stat("watches_open"), 1);
}
END_TEST

START_TEST(test_reflector_watch_in_order)
{
	static const char *const args[] = { "--split-chunks", "--bookmark-interval", "0.3",
					    NULL };
	struct pw_reflector_options opt;
	struct pw_buf want = PW_BUF_INIT, got = PW_BUF_INIT;
	const char *p;
	char *rv;
	int i;

	fake_start(args);
	put_pods(3, "p");
	test_options(&opt);
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);

	/* Every change of one pod arrives, in order, whatever the chunking. */
	for (i = 1; i <= 40; i++) {
		put_pod("default", "seq", i, "10.2.0.1");
		pw_buf_printf(&want, "+default/seq#%d ", i);
		if (i % 10 == 0)
			spin_for(10);
	}
	put_pods(5, "q");
	delete_object("Pod", "default", "p0");
	delete_object("Pod", "shop", "p1");
	delete_object("Pod", "default", "q2");
	assert_converges(10000);
	for (p = strstr(pw_buf_str(&h.trail), "+default/seq#"); p;
	     p = strstr(p + 1, "+default/seq#"))
		pw_buf_add(&got, p, (size_t)(strchr(p, ' ') + 1 - p));
	ck_assert_str_eq(pw_buf_str(&got), pw_buf_str(&want));
	ck_assert_contains(pw_buf_str(&h.trail), "-default/p0 -shop/p1 ");
	ck_assert_contains(pw_buf_str(&h.trail), "-default/q2 ");
	ck_assert_uint_eq(h.removes, 3);
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_uint_eq(stats().watches, 1);
	ck_assert_uint_eq(stats().bad_objects, 0);
	ck_assert_uint_ge(stats().events, 40 + 8);

	/* A change elsewhere moves the RV on through bookmarks alone. */
	ctl_ok("POST", "/objects", "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\","
	       "\"metadata\":{\"name\":\"elsewhere\"}}");
	rv = NULL;
	{
		struct pw_buf body = PW_BUF_INIT;
		struct json j;

		ck_assert_int_eq(ctl("GET", "/objects?kind=Pod", NULL, &body), 200);
		json_parse(&j, &body);
		rv = pw_xstrdup(json_text(json_get(&j, j.root, "resourceVersion")));
		yaml_document_delete(&j.doc);
		pw_buf_free(&body);
	}
	for (i = 0; i < 100 && strcmp(pw_reflector_resource_version(h.r), rv) != 0; i++)
		spin_for(20);
	ck_assert_str_eq(pw_reflector_resource_version(h.r), rv);
	ck_assert_int_ge(fake_stat("bookmarks_sent"), 1);
	free(rv);
	pw_buf_free(&want);
	pw_buf_free(&got);
}
END_TEST

START_TEST(test_reflector_rewatch_after_close)
{
	static const char *const args[] = { "--split-chunks", NULL };
	struct pw_reflector_options opt;
	struct api_request *req;
	char *rv, *want;
	size_t n;

	fake_start(args);
	put_pods(4, "p");
	test_options(&opt);
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	put_pod("default", "p0", 5, "10.1.0.1");
	assert_converges(5000);
	spin_for(1100);		/* past client-go's "very short watch" */

	/* The server ends the watch: watch again from where we were. */
	rv = pw_xstrdup(pw_reflector_resource_version(h.r));
	fault("{\"type\":\"close-watches\"}");
	spin_for(300);
	ck_assert_uint_eq(stats().watches, 2);
	put_pod("default", "new", 1, "10.3.0.1");
	assert_converges(5000);
	n = fake_requests(&req);
	ck_assert(is_watch_request(&req[n - 1]));
	want = pw_xasprintf("resourceVersion=%s&", rv);
	ck_assert_contains(req[n - 1].path, want);
	free(want);
	free_requests(req, n);
	free(rv);

	/* Cut without the last chunk: a failure, but still no list. */
	spin_for(1100);
	fault("{\"type\":\"close-watches\",\"clean\":false}");
	put_pod("shop", "newer", 1, "10.3.0.2");
	delete_object("Pod", "default", "p2");
	assert_converges(5000);
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_uint_eq(stats().relists_410, 0);
	ck_assert_uint_eq(stats().watches, 3);
	ck_assert_uint_eq(h.synced, 1);
	ck_assert_int_eq(fake_stat("lists"), (long)stats().pages);
}
END_TEST

START_TEST(test_reflector_relist_after_410)
{
	struct pw_reflector_options opt;

	fake_start(NULL);
	put_pods(5, "p");
	test_options(&opt);
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);

	/*
	 * While the loop is not running: the watch ends with ERROR 410, and
	 * meanwhile p0 is deleted, p1 changed, p9 created. Only a relist can
	 * learn of them; its diff must remove p0.
	 */
	fault("{\"type\":\"watch-error-410\",\"target\":\"open\"}");
	delete_object("Pod", "default", "p0");
	put_pod("shop", "p1", 7, "10.1.0.2");
	put_pod("default", "p9", 1, "10.1.0.9");
	fault("{\"type\":\"compact\"}");
	assert_converges(10000);
	ck_assert_contains(pw_buf_str(&h.trail), "-default/p0 ");
	ck_assert_uint_eq(h.removes, 1);
	ck_assert_uint_eq(stats().relists_410, 1);
	ck_assert_uint_eq(stats().lists, 2);
	ck_assert_uint_eq(h.synced, 2);

	/*
	 * Now through the other door: the watch closes, history is compacted
	 * past our RV, and the new watch gets "too old resource version".
	 * Recreating p2 under a new uid must show as remove + upsert.
	 */
	spin_for(1100);
	fault("{\"type\":\"close-watches\"}");
	delete_object("Pod", "default", "p4");
	delete_object("Pod", "default", "p2");
	put_pod("default", "p2", 3, "10.1.0.3");
	fault("{\"type\":\"compact\"}");
	assert_converges(10000);
	ck_assert_contains(pw_buf_str(&h.trail), "-default/p4 ");
	ck_assert_contains(pw_buf_str(&h.trail), "-default/p2 ");
	ck_assert_uint_eq(h.removes, 3);
	ck_assert_uint_eq(stats().relists_410, 2);
	ck_assert_uint_eq(stats().lists, 3);
	ck_assert_uint_eq(h.synced, 3);
	ck_assert_int_ge(fake_stat("events_sent"), 2);
}
END_TEST

START_TEST(test_reflector_expired_continue)
{
	/* At resourceVersion 0 the cache may ignore the limit: here it pages. */
	static const char *const args[] = { "--short-page-rate", "0", "--ignore-limit-rate",
					    "0", NULL };
	struct pw_reflector_options opt;
	struct api_request *req;
	size_t n, i, expired = 0;

	fake_start(args);
	put_pods(7, "p");
	fault("{\"type\":\"expire-continue\"}");
	test_options(&opt);
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	ck_assert_uint_eq(stats().lists, 2);
	ck_assert_uint_eq(stats().relists_410, 1);
	ck_assert_uint_eq(h.synced, 1);
	ck_assert_uint_eq(h.upserts, 7);

	/*
	 * Page 2 got 410 with a token to go on inconsistently; what follows is
	 * one list from the beginning, without the token and without limit:
	 * as client-go's pager, a consistent read.
	 */
	ck_assert_uint_eq(stats().consistent_lists, 1);
	spin_for(300);
	n = fake_requests(&req);
	for (i = 0; i < n && req[i].status != 410; i++)
		;
	ck_assert_uint_lt(i + 2, n);
	ck_assert_contains(req[i].path, "continue=");
	ck_assert_uint_eq(i, 1);
	ck_assert_str_eq(req[i + 1].path, "/api/v1/pods");
	ck_assert_int_eq(req[i + 1].status, 200);
	ck_assert(is_watch_request(&req[i + 2]));
	for (i = 0; i < n; i++)
		expired += req[i].status == 410;
	ck_assert_uint_eq(expired, 1);
	free_requests(req, n);
	ck_assert_contains(pw_buf_str(&h.log), "continue token expired");
}
END_TEST

START_TEST(test_reflector_retry_after)
{
	struct pw_reflector_options opt;
	struct api_request *req;
	size_t n, i;

	fake_start(NULL);
	put_pods(2, "p");
	test_options(&opt);
	opt.backoff_initial_ms = 800;
	opt.backoff_max_ms = 30000;
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	spin_for(1100);

	/* The next watch gets 429 and Retry-After: 2, more than the 0.8-1.6 s backoff. */
	fault("{\"type\":\"status\",\"code\":429,\"retry_after\":2,\"path\":\"watch=1\"}");
	fault("{\"type\":\"close-watches\"}");
	put_pod("default", "late", 1, "10.4.0.1");
	ck_assert(!spin(converged, 1500));
	assert_converges(5000);
	n = fake_requests(&req);
	for (i = 0; i < n && req[i].status != 429; i++)
		;
	ck_assert_uint_lt(i + 1, n);
	ck_assert(is_watch_request(&req[i]) && is_watch_request(&req[i + 1]));
	ck_assert_msg(req[i + 1].t - req[i].t >= 2.0, "retried after %.3f s",
		      req[i + 1].t - req[i].t);
	ck_assert_msg(req[i + 1].t - req[i].t < 3.0, "retried after %.3f s",
		      req[i + 1].t - req[i].t);
	free_requests(req, n);
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_uint_ge(stats().retries, 1);
	ck_assert_contains(pw_buf_str(&h.log), "HTTP 429");
}
END_TEST

START_TEST(test_reflector_backoff)
{
	static const char *const args[] = { "--short-page-rate", "0", "--bookmark-interval",
					    "0.2", NULL };
	struct pw_reflector_options opt;
	struct api_request *req;
	double gap[4];
	size_t n, i;

	fake_start(args);
	put_pods(3, "p");
	/* The first list page fails four times: 500, 503, 500, then 401. */
	fault("{\"type\":\"status\",\"code\":500,\"path\":\"limit=\"}");
	fault("{\"type\":\"status\",\"code\":503,\"path\":\"limit=\"}");
	fault("{\"type\":\"status\",\"code\":500,\"path\":\"limit=\"}");
	fault("{\"type\":\"status\",\"code\":401,\"path\":\"limit=\"}");
	test_options(&opt);
	opt.page_size = 10;
	opt.backoff_initial_ms = 100;
	opt.backoff_max_ms = 400;
	opt.healthy_reset_s = 1;
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	ck_assert_uint_eq(stats().retries, 4);

	/* Waits of [d, 2d) with d = 100, 200, 400, 400 ms (the cap). */
	n = fake_requests(&req);
	ck_assert_uint_ge(n, 5);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(req[i].status, i == 1 ? 503 : i == 3 ? 401 : 500);
		gap[i] = req[i + 1].t - req[i].t;
	}
	ck_assert_int_eq(req[4].status, 200);
	ck_assert_msg(gap[0] >= 0.099 && gap[0] < 0.38, "%.3f", gap[0]);
	ck_assert_msg(gap[1] >= 0.199 && gap[1] < 0.6, "%.3f", gap[1]);
	ck_assert_msg(gap[2] >= 0.399 && gap[2] < 1.0, "%.3f", gap[2]);
	ck_assert_msg(gap[3] >= 0.399 && gap[3] < 1.0, "%.3f", gap[3]);
	free_requests(req, n);
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_contains(pw_buf_str(&h.log), "HTTP 503");
	ck_assert_contains(pw_buf_str(&h.log), "HTTP 401");

	/*
	 * And on a watch: 503 twice, then it goes on from the same RV. A
	 * second of healthy watching (bookmarks flowing) has reset the backoff:
	 * the waits start again from 100 ms, not from the 400 ms cap.
	 */
	spin_for(1300);
	fault("{\"type\":\"status\",\"code\":503,\"count\":2,\"path\":\"watch=1\"}");
	fault("{\"type\":\"close-watches\"}");
	put_pod("default", "after", 1, "10.5.0.1");
	assert_converges(5000);
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_uint_eq(stats().watches, 4);
	n = fake_requests(&req);
	for (i = 0; i < n && !(req[i].status == 503 && is_watch_request(&req[i])); i++)
		;
	ck_assert_uint_lt(i + 2, n);
	ck_assert_int_eq(req[i + 1].status, 503);
	gap[0] = req[i + 1].t - req[i].t;
	gap[1] = req[i + 2].t - req[i + 1].t;
	ck_assert_msg(gap[0] >= 0.099 && gap[0] < 0.38, "%.3f", gap[0]);
	ck_assert_msg(gap[1] >= 0.199 && gap[1] < 0.6, "%.3f", gap[1]);
	free_requests(req, n);
}
END_TEST

START_TEST(test_reflector_drop_mid_event)
{
	static const char *const args[] = { "--split-chunks", NULL };
	struct pw_reflector_options opt;

	fake_start(args);
	put_pods(3, "p");
	test_options(&opt);
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);

	/* The next event is cut in the middle and the connection reset. */
	fault("{\"type\":\"drop-mid-event\"}");
	put_pod("default", "p0", 2, "10.1.0.1");
	put_pods(4, "r");
	assert_converges(10000);
	ck_assert_int_eq(fake_stat("watches_reset"), 1);
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_uint_eq(stats().watches, 2);
	ck_assert_uint_eq(stats().bad_objects, 0);
	ck_assert_contains(pw_buf_str(&h.log), "watch: ");

	/* At once, between events, on a watch not yet open. */
	fault("{\"type\":\"drop-mid-event\",\"target\":\"next\",\"now\":true}");
	spin_for(1100);
	fault("{\"type\":\"close-watches\"}");
	spin_for(300);
	put_pod("shop", "p1", 3, "10.1.0.2");
	assert_converges(10000);
	ck_assert_uint_eq(stats().lists, 1);
}
END_TEST

/*
 * A watch that delivered changes and then broke is reopened at once, not
 * after a backoff (2 s here): a flapping link must not hide changes.
 */
START_TEST(test_reflector_rewatch_after_changes)
{
	static const char *const args[] = { "--split-chunks", NULL };
	struct pw_reflector_options opt;

	fake_start(args);
	put_pods(2, "p");
	test_options(&opt);
	opt.backoff_initial_ms = 2000;
	opt.backoff_max_ms = 4000;
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	put_pod("default", "a", 1, "10.1.0.10");
	assert_converges(5000);

	fault("{\"type\":\"drop-mid-event\"}");
	put_pod("default", "b", 1, "10.1.0.11");
	assert_converges(1500);
	ck_assert_int_eq(fake_stat("watches_reset"), 1);
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_contains(pw_buf_str(&h.log), "watching again");
}
END_TEST

START_TEST(test_reflector_oversized_event)
{
	struct pw_reflector_options opt;
	struct pw_buf json = PW_BUF_INIT;
	int i;

	fake_start(NULL);
	put_pods(2, "p");
	test_options(&opt);
	opt.max_event_bytes = 4096;
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);

	/*
	 * An event longer than max_event_bytes drops the watch. Watching again
	 * from the same RV meets it again; then a list steps over it.
	 */
	pw_buf_puts(&json, "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{"
		    "\"name\":\"big\",\"namespace\":\"default\",\"labels\":{");
	for (i = 0; i < 60; i++)
		pw_buf_printf(&json, "%s\"k%02d\":\"%060d\"", i ? "," : "", i, i);
	pw_buf_puts(&json, "}},\"status\":{\"podIP\":\"10.6.0.1\"}}");
	ctl_ok("POST", "/objects", pw_buf_str(&json));
	put_pod("shop", "small", 1, "10.6.0.2");
	assert_converges(10000);
	ck_assert_contains(pw_buf_str(&h.log), "longer than 4096 bytes");
	ck_assert_uint_eq(stats().lists, 2);
	ck_assert_uint_eq(stats().watches, 3);
	ck_assert_uint_eq(h.synced, 2);
	pw_buf_free(&json);
}
END_TEST

START_TEST(test_reflector_stall)
{
	static const char *const args[] = { "--bookmark-interval", "0.5", NULL };
	struct pw_reflector_options opt;
	uint64_t start;

	fake_start(args);
	put_pods(3, "p");
	test_options(&opt);
	opt.stall_timeout_s = 2;
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);

	/* Bookmarks keep a quiet watch alive past the stall timeout. */
	spin_for(3000);
	ck_assert_uint_eq(stats().watches, 1);

	/* The next watch gets its headers and then nothing. */
	fault("{\"type\":\"stall\"}");
	fault("{\"type\":\"close-watches\"}");
	start = mono_ms();
	put_pod("default", "p0", 9, "10.1.0.1");
	spin_for(300);
	ck_assert_int_eq(fake_stat("watches_stalled"), 1);
	assert_converges(6000);
	ck_assert_uint_ge(mono_ms() - start, 1900);
	ck_assert_uint_eq(stats().watches, 3);
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_contains(pw_buf_str(&h.log), "watch: ");
}
END_TEST

static bool flip_kept(void)
{
	return strstr(pw_buf_str(&h.log), "keeping default/flip as it was") != NULL;
}

START_TEST(test_reflector_invalid_objects)
{
	struct pw_reflector_options opt;

	fake_start(NULL);
	put_policy("good", "5432", false);
	put_policy("bad-port", "70000", true);
	put_policy("flip", "80", false);
	test_options(&opt);
	reflector_start(PW_KIND_POLICY, &opt);
	assert_converges(10000);
	/* bad-port too, as its isolation: a policy never valid opens nothing. */
	ck_assert_uint_eq(h.upserts, 3);
	ck_assert_uint_eq(stats().bad_objects, 1);
	ck_assert_contains(pw_buf_str(&h.log), "NetworkPolicy default/bad-port: "
			   "spec.ingress[0].ports[0].port");
	ck_assert_contains(pw_buf_str(&h.log), "default/bad-port has no valid version");

	/* In the watch: skipped and logged, and the stream goes on. */
	put_policy("worse", "0", true);
	put_policy("later", "443", false);
	assert_converges(5000);
	ck_assert_uint_eq(stats().bad_objects, 2);
	ck_assert_contains(pw_buf_str(&h.log), "NetworkPolicy default/worse");

	/*
	 * A delivered policy turning invalid stays as it was (withdrawn, it
	 * would leave its pods open); fixed, it is updated.
	 */
	put_policy("flip", "99999", true);
	ck_assert_msg(spin(flip_kept, 5000), "log:\n%s", pw_buf_str(&h.log));
	ck_assert_ptr_eq(strstr(pw_buf_str(&h.trail), "-default/flip "), NULL);
	put_policy("flip", "81", false);
	assert_converges(5000);
	ck_assert_uint_eq(stats().bad_objects, 3);
	ck_assert_uint_eq(stats().lists, 1);
	delete_object("NetworkPolicy", "default", "bad-port");
	delete_object("NetworkPolicy", "default", "good");
	assert_converges(5000);
	/* bad-port's isolation and good; flip stayed. */
	ck_assert_uint_eq(h.removes, 2);
}
END_TEST

START_TEST(test_reflector_namespaces_field_selector)
{
	static const char *const names[] = { "default", "kube-system", "shop", "web" };
	struct pw_reflector_options opt;
	struct api_request *req;
	size_t n, i;
	char *json;

	fake_start(NULL);
	for (i = 0; i < PW_ARRAY_SIZE(names); i++) {
		json = pw_xasprintf("{\"kind\":\"Namespace\",\"apiVersion\":\"v1\","
				    "\"metadata\":{\"name\":\"%s\"}}", names[i]);
		ctl_ok("POST", "/objects", json);
		free(json);
	}
	test_options(&opt);
	opt.field_selector = "metadata.name!=kube-system";
	h.hidden = "kube-system";
	reflector_start(PW_KIND_NAMESPACE, &opt);
	assert_converges(10000);
	ck_assert_uint_eq(h.upserts, 3);
	delete_object("Namespace", "-", "shop");
	ctl_ok("POST", "/objects", "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\","
	       "\"metadata\":{\"name\":\"new\",\"labels\":{\"team\":\"a\"}}}");
	assert_converges(5000);
	ck_assert_contains(pw_buf_str(&h.trail), "-shop ");
	n = fake_requests(&req);
	for (i = 0; i < n; i++) {
		ck_assert_contains(req[i].path, "fieldSelector=metadata.name%21%3Dkube-system");
		ck_assert_contains(req[i].path, "/api/v1/namespaces?");
	}
	free_requests(req, n);
}
END_TEST

/* --------------------------------------------- resourceVersions and watch-list */

/* Synced is not watching yet: a fault for open watches needs one open. */
static void wait_watch_open(void)
{
	int i;

	for (i = 0; i < 250 && fake_stat("watches_open") < 1; i++)
		spin_for(20);
	ck_assert_int_ge(fake_stat("watches_open"), 1);
}

/* How many of the fake's requests contain text. */
static size_t count_requests(const char *text)
{
	struct api_request *req;
	size_t n = fake_requests(&req), i, found = 0;

	for (i = 0; i < n; i++)
		found += strstr(req[i].path, text) != NULL;
	free_requests(req, n);
	return found;
}

/* The index of the first request from 'from' on that contains text, or n. */
static size_t find_request(const struct api_request *req, size_t n, size_t from,
			   const char *text)
{
	for (; from < n && !strstr(req[from].path, text); from++)
		;
	return from;
}

/*
 * A watch that ends "410 Expired" is followed by a list at the last
 * resourceVersion without limit, which the watch cache serves, not etcd.
 */
START_TEST(test_reflector_relist_from_cache)
{
	struct pw_reflector_options opt;
	struct api_request *req;
	char *rv, *want;
	size_t n, i;

	fake_start(NULL);
	put_pods(5, "p");
	test_options(&opt);
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	rv = pw_xstrdup(pw_reflector_resource_version(h.r));
	wait_watch_open();
	fault("{\"type\":\"watch-error-410\",\"target\":\"open\"}");
	delete_object("Pod", "default", "p0");
	put_pod("default", "p9", 1, "10.1.0.9");
	assert_converges(10000);
	ck_assert_contains(pw_buf_str(&h.trail), "-default/p0 ");
	ck_assert_uint_eq(stats().lists, 2);
	ck_assert_uint_eq(stats().consistent_lists, 0);
	ck_assert_uint_eq(stats().relists_410, 1);

	want = pw_xasprintf("/api/v1/pods?resourceVersion=%s", rv);
	n = fake_requests(&req);
	i = find_request(req, n, 1, "pods?resourceVersion=");
	ck_assert_uint_lt(i, n);
	ck_assert_str_eq(req[i].path, want);
	ck_assert_int_eq(req[i].status, 200);
	free_requests(req, n);
	free(want);
	free(rv);
}
END_TEST

/*
 * etcd only after a list was refused its resourceVersion: 504 "too large"
 * (a server behind the one before), then 410; each time a paged list
 * without resourceVersion, at once, and the next relist from the cache.
 */
START_TEST(test_reflector_consistent_after_refused_list)
{
	struct pw_reflector_options opt;
	struct api_request *req;
	size_t n, i;

	fake_start(NULL);
	put_pods(5, "p");
	test_options(&opt);
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	ck_assert_uint_eq(stats().consistent_lists, 0);

	fault("{\"type\":\"status\",\"code\":504,\"reason\":\"Timeout\",\"message\":"
	      "\"Timeout: Too large resource version: 9, current: 1\",\"path\":"
	      "\"pods?resourceVersion=\"}");
	wait_watch_open();
	fault("{\"type\":\"watch-error-410\",\"target\":\"open\"}");
	put_pod("default", "a", 1, "10.1.1.1");
	assert_converges(10000);
	ck_assert_uint_eq(stats().consistent_lists, 1);
	ck_assert_uint_eq(stats().lists, 3);
	n = fake_requests(&req);
	i = find_request(req, n, 1, "pods?resourceVersion=");
	ck_assert_uint_lt(i + 1, n);
	ck_assert_int_eq(req[i].status, 504);
	ck_assert_str_eq(req[i + 1].path, "/api/v1/pods?limit=2");
	free_requests(req, n);
	ck_assert_contains(pw_buf_str(&h.log), "reading it from etcd");

	/* Read from etcd, the resourceVersion is good again: the cache's next. */
	spin_for(1100);
	fault("{\"type\":\"status\",\"code\":410,\"reason\":\"Expired\",\"message\":"
	      "\"The resourceVersion for the provided list is too old.\",\"path\":"
	      "\"pods?resourceVersion=\"}");
	wait_watch_open();
	fault("{\"type\":\"watch-error-410\",\"target\":\"open\"}");
	delete_object("Pod", "shop", "p1");
	assert_converges(10000);
	ck_assert_uint_eq(stats().consistent_lists, 2);
	ck_assert_uint_eq(stats().lists, 5);
	ck_assert_contains(pw_buf_str(&h.trail), "-shop/p1 ");
	ck_assert_uint_eq(count_requests("pods?resourceVersion="), 2);
}
END_TEST

/* --initial-list=consistent: today's paged reads from etcd, every time. */
START_TEST(test_reflector_consistent_mode)
{
	struct pw_reflector_options opt;

	fake_start(NULL);
	put_pods(5, "p");
	test_options(&opt);
	opt.initial_list = PW_INITIAL_LIST_CONSISTENT;
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	wait_watch_open();
	fault("{\"type\":\"watch-error-410\",\"target\":\"open\"}");
	delete_object("Pod", "default", "p0");
	assert_converges(10000);
	ck_assert_uint_eq(stats().lists, 2);
	ck_assert_uint_eq(stats().consistent_lists, 2);
	ck_assert_uint_eq(count_requests("resourceVersion=0"), 0);
	ck_assert_uint_eq(count_requests("pods?resourceVersion="), 0);
	ck_assert_uint_eq(count_requests("sendInitialEvents"), 0);
}
END_TEST

static void watch_list_options(struct pw_reflector_options *opt)
{
	test_options(opt);
	opt->initial_list = PW_INITIAL_LIST_WATCH_LIST;
}

/*
 * Where the server offers it, one watch-list: the state streamed, delivered
 * at the closing bookmark, and live changes on the same connection. After
 * a 410 the state is streamed again from the last resourceVersion, what
 * vanished meanwhile deleted.
 */
START_TEST(test_reflector_watch_list)
{
	static const char *const args[] = { "--split-chunks", NULL };
	struct pw_reflector_options opt;
	struct api_request *req;
	char *rv, *want;
	size_t n;

	fake_start(args);
	put_pods(7, "p");
	watch_list_options(&opt);
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	ck_assert_uint_eq(h.synced, 1);
	ck_assert_uint_eq(h.upserts, 7);
	ck_assert_uint_eq(stats().lists, 0);
	ck_assert_uint_eq(stats().watch_lists, 1);
	ck_assert_uint_eq(stats().watches, 0);
	ck_assert(!pw_reflector_watch_list_refused(h.r));
	n = fake_requests(&req);
	ck_assert_uint_eq(n, 1);
	ck_assert_contains(req[0].path, "/api/v1/pods?watch=1&sendInitialEvents=true&"
			   "resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&"
			   "timeoutSeconds=");
	free_requests(req, n);

	put_pod("default", "p0", 3, "10.1.0.1");
	put_pod("shop", "new", 1, "10.1.2.1");
	assert_converges(5000);
	ck_assert_uint_eq(stats().watch_lists, 1);
	ck_assert_uint_eq(stats().watches, 0);
	ck_assert_int_eq(fake_stat("watches_open"), 1);

	rv = pw_xstrdup(pw_reflector_resource_version(h.r));
	fault("{\"type\":\"watch-error-410\",\"target\":\"open\"}");
	delete_object("Pod", "default", "p2");
	delete_object("Pod", "shop", "p3");
	assert_converges(10000);
	ck_assert_contains(pw_buf_str(&h.trail), "-default/p2 ");
	ck_assert_contains(pw_buf_str(&h.trail), "-shop/p3 ");
	ck_assert_uint_eq(h.synced, 2);
	ck_assert_uint_eq(stats().watch_lists, 2);
	ck_assert_uint_eq(stats().lists, 0);
	/* What podwall_relists_total counts: one state read after the first. */
	ck_assert_uint_eq(stats().snapshots, 2);
	want = pw_xasprintf("NotOlderThan&resourceVersion=%s&", rv);
	ck_assert_uint_eq(count_requests(want), 1);
	free(want);
	free(rv);
}
END_TEST

/* A server with the WatchList gate off refuses: lists, and it is remembered. */
START_TEST(test_reflector_watch_list_refused)
{
	static const char *const args[] = { "--watch-list", "off", NULL };
	struct pw_reflector_options opt;
	struct api_request *req;
	size_t n;

	fake_start(args);
	put_pods(5, "p");
	watch_list_options(&opt);
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	ck_assert(pw_reflector_watch_list_refused(h.r));
	ck_assert_uint_eq(stats().watch_lists, 1);
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_uint_eq(stats().consistent_lists, 0);
	n = fake_requests(&req);
	ck_assert_uint_ge(n, 2);
	ck_assert_int_eq(req[0].status, 422);
	ck_assert_contains(req[1].path, "/api/v1/pods?limit=2&resourceVersion=0");
	free_requests(req, n);
	ck_assert_contains(pw_buf_str(&h.log), "watch-list: HTTP 422");

	wait_watch_open();
	fault("{\"type\":\"watch-error-410\",\"target\":\"open\"}");
	delete_object("Pod", "default", "p0");
	assert_converges(10000);
	ck_assert_uint_eq(stats().watch_lists, 1);
	ck_assert_uint_eq(stats().lists, 2);
	ck_assert_uint_eq(count_requests("sendInitialEvents"), 1);
}
END_TEST

static bool upserted(void)
{
	return h.upserts > 0;
}

/*
 * A server that ignores sendInitialEvents sends what a plain watch does:
 * every object as ADDED, then nothing, never the closing bookmark. None of
 * it is delivered; after watch_list_quiet_ms podwall lists instead.
 */
START_TEST(test_reflector_watch_list_ignored)
{
	static const char *const args[] = { "--watch-list", "ignore", NULL };
	struct pw_reflector_options opt;
	uint64_t start;

	fake_start(args);
	put_pods(5, "p");
	watch_list_options(&opt);
	opt.watch_list_quiet_ms = 1000;
	start = mono_ms();
	reflector_start(PW_KIND_POD, &opt);
	ck_assert(!spin(upserted, 800));
	ck_assert_uint_ge(stats().events, 5);
	assert_converges(5000);
	ck_assert_uint_ge(mono_ms() - start, 1000);
	ck_assert(pw_reflector_watch_list_refused(h.r));
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_uint_eq(h.synced, 1);
	ck_assert_uint_eq(h.upserts, 5);
	ck_assert_contains(pw_buf_str(&h.log), "no initial-events-end bookmark");
}
END_TEST

/* There, a change before the closing bookmark tells at once. */
START_TEST(test_reflector_watch_list_ignored_live_event)
{
	static const char *const args[] = { "--watch-list", "ignore", NULL };
	struct pw_reflector_options opt;
	uint64_t start;

	fake_start(args);
	put_pods(5, "p");
	watch_list_options(&opt);
	opt.watch_list_quiet_ms = 20000;
	reflector_start(PW_KIND_POD, &opt);
	spin_for(300);
	ck_assert_uint_eq(h.upserts, 0);
	start = mono_ms();
	put_pod("default", "p0", 2, "10.1.0.1");
	assert_converges(5000);
	ck_assert_uint_lt(mono_ms() - start, 5000);
	ck_assert(pw_reflector_watch_list_refused(h.r));
	ck_assert_uint_eq(stats().lists, 1);
	ck_assert_contains(pw_buf_str(&h.log), "a live event came before");
}
END_TEST

/* Every request says it is podwall, its version, and the node. */
START_TEST(test_reflector_user_agent)
{
	struct pw_reflector_options opt;
	struct api_request *req;
	size_t n, i;

	fake_start(NULL);
	put_pods(3, "p");
	watch_list_options(&opt);
	h.node_name = "node-7";
	reflector_start(PW_KIND_POD, &opt);
	assert_converges(10000);
	ck_assert_str_eq(pw_k8s_client_user_agent(h.client),
			 strstr(pw_k8s_client_user_agent(h.client), "podwall/"));
	n = fake_requests(&req);
	ck_assert_uint_ge(n, 1);
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(req[i].user_agent, pw_k8s_client_user_agent(h.client));
		ck_assert_msg(strncmp(req[i].user_agent, "podwall/" PACKAGE_VERSION " (linux/",
				      strlen("podwall/" PACKAGE_VERSION " (linux/")) == 0,
			      "%s", req[i].user_agent);
		ck_assert_contains(req[i].user_agent, ") node/node-7");
	}
	free_requests(req, n);
}
END_TEST

/* --------------------------------------------------------------- main */

static Suite *watch_suite(void)
{
	Suite *s = suite_create("watch");
	TCase *tc;

	tc = tcase_create("framer");
	tcase_add_test(tc, test_framer_every_split);
	tcase_add_test(tc, test_framer_every_pair);
	tcase_add_test(tc, test_framer_byte_by_byte);
	tcase_add_test(tc, test_framer_too_long);
	tcase_add_test(tc, test_framer_no_newline_grows_past_limit);
	tcase_add_test(tc, test_framer_pending_and_stop);
	suite_add_tcase(s, tc);

	tc = tcase_create("events");
	tcase_add_test(tc, test_event_pod);
	tcase_add_test(tc, test_event_kinds);
	tcase_add_test(tc, test_event_bookmark);
	tcase_add_test(tc, test_event_error);
	tcase_add_test(tc, test_event_garbage);
	tcase_add_test(tc, test_event_invalid_object);
	tcase_add_test(tc, test_event_big_rv_and_json_forms);
	suite_add_tcase(s, tc);

	tc = tcase_create("lists");
	tcase_add_test(tc, test_list_pods);
	tcase_add_test(tc, test_list_not_a_list);
	suite_add_tcase(s, tc);

	tc = tcase_create("reflector");
	tcase_add_checked_fixture(tc, setup_reflector, teardown_reflector);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reflector_paged_list);
	tcase_add_test(tc, test_reflector_watch_in_order);
	tcase_add_test(tc, test_reflector_rewatch_after_close);
	tcase_add_test(tc, test_reflector_relist_after_410);
	tcase_add_test(tc, test_reflector_expired_continue);
	tcase_add_test(tc, test_reflector_retry_after);
	tcase_add_test(tc, test_reflector_backoff);
	tcase_add_test(tc, test_reflector_drop_mid_event);
	tcase_add_test(tc, test_reflector_rewatch_after_changes);
	tcase_add_test(tc, test_reflector_oversized_event);
	tcase_add_test(tc, test_reflector_stall);
	tcase_add_test(tc, test_reflector_invalid_objects);
	tcase_add_test(tc, test_reflector_namespaces_field_selector);
	tcase_add_test(tc, test_reflector_relist_from_cache);
	tcase_add_test(tc, test_reflector_consistent_after_refused_list);
	tcase_add_test(tc, test_reflector_consistent_mode);
	tcase_add_test(tc, test_reflector_watch_list);
	tcase_add_test(tc, test_reflector_watch_list_refused);
	tcase_add_test(tc, test_reflector_watch_list_ignored);
	tcase_add_test(tc, test_reflector_watch_list_ignored_live_event);
	tcase_add_test(tc, test_reflector_user_agent);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(watch_suite());
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	curl_global_cleanup();
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
