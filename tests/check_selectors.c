#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>

#include "lib/cidr.h"
#include "lib/hash.h"
#include "lib/intern.h"
#include "lib/strmap.h"
#include "lib/util.h"
#include "selectors/labels.h"
#include "selectors/selector.h"

/* Labels from "key", "value" pairs ending in NULL. */
static struct pw_labels *labels_of(const char *key, ...)
{
	struct pw_labels *l = pw_labels_new();
	va_list ap;

	va_start(ap, key);
	while (key) {
		const char *value = va_arg(ap, const char *);

		pw_labels_set(l, key, value);
		key = va_arg(ap, const char *);
	}
	va_end(ap);
	return l;
}

/* A matchExpressions entry with the values that follow, ending in NULL. */
static int add_req(struct pw_selector *s, const char *key, enum pw_selector_op op, ...)
{
	const char *values[16];
	size_t n = 0;
	va_list ap;

	va_start(ap, op);
	while ((values[n] = va_arg(ap, const char *)) != NULL) {
		n++;
		ck_assert(n < PW_ARRAY_SIZE(values));
	}
	va_end(ap);
	return pw_selector_add_requirement(s, key, op, values, n);
}

static bool selector_matches_pairs(const struct pw_selector *s, const char *key, ...)
{
	struct pw_labels *l = pw_labels_new();
	va_list ap;
	bool r;

	va_start(ap, key);
	while (key) {
		pw_labels_set(l, key, va_arg(ap, const char *));
		key = va_arg(ap, const char *);
	}
	va_end(ap);
	r = pw_selector_matches(s, l);
	pw_labels_free(l);
	return r;
}

#define MATCHES(s, ...) selector_matches_pairs((s), __VA_ARGS__, NULL)
#define MATCHES_NOTHING_SET(s) selector_matches_pairs((s), NULL)

/* ------------------------------------------------------------------ labels */

START_TEST(test_labels_set_get)
{
	struct pw_labels *l = pw_labels_new();

	ck_assert_int_eq(pw_labels_count(l), 0);
	ck_assert(pw_labels_get(l, "app") == NULL);
	pw_labels_set(l, "app", "web");
	pw_labels_set(l, "empty", "");
	ck_assert_int_eq(pw_labels_count(l), 2);
	ck_assert_str_eq(pw_labels_get(l, "app"), "web");
	ck_assert_str_eq(pw_labels_get(l, "empty"), "");
	ck_assert(pw_labels_get(l, "ap") == NULL);
	ck_assert(pw_labels_get(l, "appx") == NULL);
	ck_assert(pw_labels_get(l, "") == NULL);
	pw_labels_free(l);
	pw_labels_free(NULL);
}
END_TEST

START_TEST(test_labels_set_copies)
{
	struct pw_labels *l = pw_labels_new();
	char key[] = "tier", value[] = "db";

	pw_labels_set(l, key, value);
	key[0] = 'X';
	value[0] = 'X';
	ck_assert_str_eq(pw_labels_get(l, "tier"), "db");
	pw_labels_free(l);
}
END_TEST

START_TEST(test_labels_replace)
{
	struct pw_labels *l = labels_of("app", "web", "tier", "front", NULL);

	pw_labels_set(l, "app", "db");
	ck_assert_int_eq(pw_labels_count(l), 2);
	ck_assert_str_eq(pw_labels_get(l, "app"), "db");
	ck_assert_str_eq(pw_labels_get(l, "tier"), "front");
	/* Replacing a value with itself must not read freed memory. */
	pw_labels_set(l, "tier", pw_labels_get(l, "tier"));
	ck_assert_str_eq(pw_labels_get(l, "tier"), "front");
	pw_labels_set(l, "app", "");
	ck_assert_str_eq(pw_labels_get(l, "app"), "");
	ck_assert_int_eq(pw_labels_count(l), 2);
	pw_labels_free(l);
}
END_TEST

START_TEST(test_labels_unset)
{
	struct pw_labels *l = labels_of("a", "1", "b", "2", "c", "3", NULL);

	ck_assert_int_eq(pw_labels_unset(l, "x"), -ENOENT);
	ck_assert_int_eq(pw_labels_unset(l, "b"), 0);
	ck_assert_int_eq(pw_labels_unset(l, "b"), -ENOENT);
	ck_assert_int_eq(pw_labels_count(l), 2);
	ck_assert(pw_labels_get(l, "b") == NULL);
	ck_assert_str_eq(pw_labels_key(l, 0), "a");
	ck_assert_str_eq(pw_labels_key(l, 1), "c");
	ck_assert_str_eq(pw_labels_value(l, 1), "3");
	ck_assert_int_eq(pw_labels_unset(l, "c"), 0);
	ck_assert_int_eq(pw_labels_unset(l, "a"), 0);
	ck_assert_int_eq(pw_labels_count(l), 0);
	ck_assert_int_eq(pw_labels_unset(l, "a"), -ENOENT);
	pw_labels_set(l, "a", "again");
	ck_assert_str_eq(pw_labels_get(l, "a"), "again");
	pw_labels_free(l);
}
END_TEST

START_TEST(test_labels_order)
{
	static const char *const sorted[] = {
		"A", "app", "app.kubernetes.io/name", "apps", "b", "tier", "z",
	};
	struct pw_labels *l = labels_of("tier", "t", "z", "z", "app", "a",
					"app.kubernetes.io/name", "n", "b", "b",
					"apps", "s", "A", "upper", NULL);
	size_t i;

	ck_assert_int_eq(pw_labels_count(l), PW_ARRAY_SIZE(sorted));
	for (i = 0; i < PW_ARRAY_SIZE(sorted); i++) {
		ck_assert_str_eq(pw_labels_key(l, i), sorted[i]);
		ck_assert_str_eq(pw_labels_value(l, i), pw_labels_get(l, sorted[i]));
	}
	pw_labels_free(l);
}
END_TEST

START_TEST(test_labels_many)
{
	struct pw_labels *l = pw_labels_new();
	char key[32], value[32];
	unsigned i;

	/* 7919 is prime, so i * 7919 % 1000 visits every residue in a jumbled order. */
	for (i = 0; i < 1000; i++) {
		unsigned k = i * 7919 % 1000;

		snprintf(key, sizeof(key), "k%04u", k);
		snprintf(value, sizeof(value), "v%u", k);
		pw_labels_set(l, key, value);
	}
	ck_assert_int_eq(pw_labels_count(l), 1000);
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%04u", i);
		snprintf(value, sizeof(value), "v%u", i);
		ck_assert_str_eq(pw_labels_key(l, i), key);
		ck_assert_str_eq(pw_labels_get(l, key), value);
	}
	pw_labels_free(l);
}
END_TEST

START_TEST(test_labels_equal)
{
	struct pw_labels *a = labels_of("app", "web", "tier", "front", NULL);
	struct pw_labels *b = labels_of("tier", "front", "app", "web", NULL);
	struct pw_labels *e1 = pw_labels_new(), *e2 = pw_labels_new();

	ck_assert(pw_labels_equal(a, b));
	ck_assert(pw_labels_equal(b, a));
	ck_assert(pw_labels_equal(a, a));
	ck_assert(pw_labels_equal(e1, e2));
	ck_assert(!pw_labels_equal(a, e1));
	ck_assert(!pw_labels_equal(e1, a));

	pw_labels_set(b, "tier", "back");
	ck_assert(!pw_labels_equal(a, b));
	pw_labels_set(b, "tier", "front");
	ck_assert(pw_labels_equal(a, b));

	pw_labels_set(b, "extra", "");
	ck_assert(!pw_labels_equal(a, b));
	ck_assert(!pw_labels_equal(b, a));
	ck_assert_int_eq(pw_labels_unset(b, "extra"), 0);
	ck_assert(pw_labels_equal(a, b));

	/* Same count and values, different key. */
	ck_assert_int_eq(pw_labels_unset(b, "tier"), 0);
	pw_labels_set(b, "tie", "front");
	ck_assert(!pw_labels_equal(a, b));

	pw_labels_free(a);
	pw_labels_free(b);
	pw_labels_free(e1);
	pw_labels_free(e2);
}
END_TEST

START_TEST(test_labels_dup)
{
	struct pw_labels *a = labels_of("app", "web", "tier", "front", NULL);
	struct pw_labels *b = pw_labels_dup(a);
	struct pw_labels *e = pw_labels_new();
	struct pw_labels *e2 = pw_labels_dup(e);

	ck_assert(pw_labels_equal(a, b));
	pw_labels_set(b, "app", "db");
	ck_assert_str_eq(pw_labels_get(a, "app"), "web");
	ck_assert_str_eq(pw_labels_get(b, "app"), "db");
	pw_labels_free(a);
	ck_assert_str_eq(pw_labels_get(b, "tier"), "front");

	ck_assert_int_eq(pw_labels_count(e2), 0);
	pw_labels_set(e2, "x", "y");
	ck_assert_int_eq(pw_labels_count(e), 0);

	pw_labels_free(b);
	pw_labels_free(e);
	pw_labels_free(e2);
}
END_TEST

/* Equal values are one string, held while any set holds it. */
START_TEST(test_labels_interned)
{
	struct pw_labels *a = labels_of("app", "web", NULL);
	struct pw_labels *b = labels_of("app", "web", "tier", "front", NULL);

	ck_assert_ptr_eq(pw_labels_key(a, 0), pw_labels_key(b, 0));
	ck_assert_ptr_eq(pw_labels_value(a, 0), pw_labels_value(b, 0));
	ck_assert_uint_eq(pw_intern_count(), 4);
	pw_labels_set(b, "tier", "back");
	ck_assert_uint_eq(pw_intern_count(), 4);
	pw_labels_free(a);
	ck_assert_str_eq(pw_labels_get(b, "app"), "web");
	ck_assert_int_eq(pw_labels_unset(b, "app"), 0);
	ck_assert_uint_eq(pw_intern_count(), 2);
	pw_labels_free(b);
	ck_assert_uint_eq(pw_intern_count(), 0);
}
END_TEST

START_TEST(test_labels_room)
{
	struct pw_labels *l = pw_labels_new_with_room(2);

	pw_labels_set(l, "b", "2");
	pw_labels_set(l, "a", "1");
	/* Past the reserved room the set still grows. */
	pw_labels_set(l, "c", "3");
	ck_assert_int_eq(pw_labels_count(l), 3);
	ck_assert_str_eq(pw_labels_key(l, 0), "a");
	ck_assert_str_eq(pw_labels_value(l, 2), "3");
	pw_labels_free(l);
}
END_TEST

START_TEST(test_intern)
{
	char text[] = "kube-system";
	const char *a = pw_intern(text), *b;

	ck_assert_ptr_ne(a, text);
	text[0] = 'K';
	b = pw_intern("kube-system");
	ck_assert_ptr_eq(a, b);
	ck_assert_str_eq(a, "kube-system");
	ck_assert_uint_eq(pw_intern_count(), 1);
	pw_intern_release(a);
	ck_assert_str_eq(b, "kube-system");
	ck_assert_uint_eq(pw_intern_count(), 1);
	pw_intern_release(b);
	ck_assert_uint_eq(pw_intern_count(), 0);
	pw_intern_release(NULL);
}
END_TEST

/* ---------------------------------------------------------------- matching */

START_TEST(test_match_in)
{
	struct pw_selector *s = pw_selector_new();

	ck_assert_int_eq(add_req(s, "app", PW_SELECTOR_IN, "web", "api", NULL), 0);
	ck_assert(MATCHES(s, "app", "web"));
	ck_assert(MATCHES(s, "app", "api", "tier", "x"));
	ck_assert(!MATCHES(s, "app", "db"));
	ck_assert(!MATCHES(s, "app", ""));
	ck_assert(!MATCHES(s, "tier", "web"));
	ck_assert(!MATCHES_NOTHING_SET(s));
	pw_selector_free(s);
}
END_TEST

START_TEST(test_match_in_empty_value)
{
	struct pw_selector *s = pw_selector_new();

	ck_assert_int_eq(add_req(s, "app", PW_SELECTOR_IN, "", NULL), 0);
	ck_assert(MATCHES(s, "app", ""));
	ck_assert(!MATCHES(s, "app", "web"));
	ck_assert(!MATCHES_NOTHING_SET(s));
	pw_selector_free(s);
}
END_TEST

START_TEST(test_match_not_in)
{
	struct pw_selector *s = pw_selector_new();

	ck_assert_int_eq(add_req(s, "env", PW_SELECTOR_NOT_IN, "prod", "staging", NULL),
			 0);
	ck_assert(!MATCHES(s, "env", "prod"));
	ck_assert(!MATCHES(s, "env", "staging"));
	ck_assert(MATCHES(s, "env", "dev"));
	ck_assert(MATCHES(s, "env", ""));
	/* The API's rule: an object without the key satisfies NotIn. */
	ck_assert(MATCHES(s, "app", "prod"));
	ck_assert(MATCHES_NOTHING_SET(s));
	pw_selector_free(s);
}
END_TEST

START_TEST(test_match_exists)
{
	struct pw_selector *s = pw_selector_new();

	ck_assert_int_eq(add_req(s, "app", PW_SELECTOR_EXISTS, NULL), 0);
	ck_assert(MATCHES(s, "app", "web"));
	ck_assert(MATCHES(s, "app", ""));
	ck_assert(!MATCHES(s, "apps", "web"));
	ck_assert(!MATCHES_NOTHING_SET(s));
	pw_selector_free(s);
}
END_TEST

START_TEST(test_match_does_not_exist)
{
	struct pw_selector *s = pw_selector_new();

	ck_assert_int_eq(add_req(s, "canary", PW_SELECTOR_DOES_NOT_EXIST, NULL), 0);
	ck_assert(!MATCHES(s, "canary", "true"));
	ck_assert(!MATCHES(s, "canary", ""));
	ck_assert(MATCHES(s, "app", "web"));
	ck_assert(MATCHES_NOTHING_SET(s));
	pw_selector_free(s);
}
END_TEST

START_TEST(test_match_labels)
{
	struct pw_selector *s = pw_selector_new();

	pw_selector_add_label(s, "app", "web");
	pw_selector_add_label(s, "tier", "front");
	ck_assert(MATCHES(s, "app", "web", "tier", "front"));
	ck_assert(MATCHES(s, "app", "web", "tier", "front", "x", "y"));
	ck_assert(!MATCHES(s, "app", "web"));
	ck_assert(!MATCHES(s, "app", "web", "tier", "back"));
	ck_assert(!MATCHES_NOTHING_SET(s));
	pw_selector_free(s);
}
END_TEST

START_TEST(test_match_and)
{
	struct pw_selector *s = pw_selector_new();

	pw_selector_add_label(s, "app", "web");
	ck_assert_int_eq(add_req(s, "env", PW_SELECTOR_NOT_IN, "prod", NULL), 0);
	ck_assert_int_eq(add_req(s, "tier", PW_SELECTOR_EXISTS, NULL), 0);
	ck_assert_int_eq(add_req(s, "canary", PW_SELECTOR_DOES_NOT_EXIST, NULL), 0);

	ck_assert(MATCHES(s, "app", "web", "tier", "x"));
	ck_assert(MATCHES(s, "app", "web", "tier", "x", "env", "dev"));
	ck_assert(!MATCHES(s, "app", "web", "tier", "x", "env", "prod"));
	ck_assert(!MATCHES(s, "app", "web", "tier", "x", "canary", "1"));
	ck_assert(!MATCHES(s, "app", "web"));
	ck_assert(!MATCHES(s, "app", "db", "tier", "x"));
	ck_assert(!MATCHES(s, "tier", "x"));
	pw_selector_free(s);
}
END_TEST

START_TEST(test_match_contradiction)
{
	struct pw_selector *s = pw_selector_new();

	/* Requirements on one key are ANDed too, so these can never hold. */
	pw_selector_add_label(s, "app", "web");
	pw_selector_add_label(s, "app", "db");
	ck_assert(!MATCHES(s, "app", "web"));
	ck_assert(!MATCHES(s, "app", "db"));
	pw_selector_free(s);
}
END_TEST

START_TEST(test_match_empty_selector)
{
	struct pw_selector *s = pw_selector_new();
	struct pw_labels *none = pw_labels_new();

	ck_assert(pw_selector_is_empty(s));
	ck_assert(pw_selector_matches(s, none));
	ck_assert(MATCHES(s, "app", "web"));
	pw_selector_add_label(s, "app", "web");
	ck_assert(!pw_selector_is_empty(s));
	ck_assert(!pw_selector_matches(s, none));
	pw_labels_free(none);
	pw_selector_free(s);
	pw_selector_free(NULL);
}
END_TEST

START_TEST(test_match_many_values)
{
	struct pw_selector *s = pw_selector_new();
	const char *values[200];
	char buf[200][8];
	size_t i;

	/* Reverse order, so lookup cannot rely on the order they were given in. */
	for (i = 0; i < 200; i++) {
		snprintf(buf[i], sizeof(buf[i]), "v%zu", 199 - i);
		values[i] = buf[i];
	}
	ck_assert_int_eq(pw_selector_add_requirement(s, "k", PW_SELECTOR_IN, values, 200),
			 0);
	for (i = 0; i < 200; i++)
		ck_assert(MATCHES(s, "k", values[i]));
	ck_assert(!MATCHES(s, "k", "v200"));
	ck_assert(!MATCHES(s, "k", "v"));
	pw_selector_free(s);
}
END_TEST

START_TEST(test_requirement_einval)
{
	static const char *const one[] = { "x" };
	static const struct {
		enum pw_selector_op op;
		size_t nvalues;
		int want;
	} cases[] = {
		{ PW_SELECTOR_IN, 0, -EINVAL },
		{ PW_SELECTOR_NOT_IN, 0, -EINVAL },
		{ PW_SELECTOR_EXISTS, 1, -EINVAL },
		{ PW_SELECTOR_DOES_NOT_EXIST, 1, -EINVAL },
		{ (enum pw_selector_op)42, 1, -EINVAL },
		{ (enum pw_selector_op)42, 0, -EINVAL },
	};
	struct pw_selector *s = pw_selector_new();
	size_t i;

	ck_assert_int_eq(pw_selector_add_requirement(s, "k", PW_SELECTOR_IN, NULL, 0),
			 -EINVAL);
	for (i = 0; i < PW_ARRAY_SIZE(cases); i++)
		ck_assert_int_eq(pw_selector_add_requirement(s, "k", cases[i].op, one,
							     cases[i].nvalues),
				 cases[i].want);
	/* A rejected requirement leaves the selector as it was. */
	ck_assert(pw_selector_is_empty(s));
	ck_assert_str_eq(pw_selector_canonical(s), "");

	/* The same operators with the right arity are accepted. */
	ck_assert_int_eq(pw_selector_add_requirement(s, "k", PW_SELECTOR_EXISTS, NULL, 0),
			 0);
	ck_assert_int_eq(pw_selector_add_requirement(s, "k", PW_SELECTOR_DOES_NOT_EXIST,
						     one, 0), 0);
	ck_assert_int_eq(pw_selector_add_requirement(s, "k", PW_SELECTOR_IN, one, 1), 0);
	ck_assert_int_eq(pw_selector_add_requirement(s, "k", PW_SELECTOR_NOT_IN, one, 1),
			 0);
	ck_assert_str_eq(pw_selector_canonical(s), "k in (x),k notin (x),k,!k");
	pw_selector_free(s);
}
END_TEST

START_TEST(test_requirement_copies_values)
{
	struct pw_selector *s = pw_selector_new();
	char key[] = "app", v0[] = "web";
	const char *values[] = { v0 };

	ck_assert_int_eq(pw_selector_add_requirement(s, key, PW_SELECTOR_IN, values, 1),
			 0);
	key[0] = 'X';
	v0[0] = 'X';
	ck_assert(MATCHES(s, "app", "web"));
	ck_assert_str_eq(pw_selector_canonical(s), "app in (web)");
	pw_selector_free(s);
}
END_TEST

START_TEST(test_op_parse)
{
	static const struct {
		const char *text;
		enum pw_selector_op op;
	} good[] = {
		{ "In", PW_SELECTOR_IN },
		{ "NotIn", PW_SELECTOR_NOT_IN },
		{ "Exists", PW_SELECTOR_EXISTS },
		{ "DoesNotExist", PW_SELECTOR_DOES_NOT_EXIST },
	};
	static const char *const bad[] = {
		"in", "IN", "notin", "Notin", "exists", "doesnotexist", "Equals",
		"=", "!=", "", " In", "In ", "Exist", "NotExists", "Gt",
	};
	enum pw_selector_op op;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(good); i++) {
		op = (enum pw_selector_op)99;
		ck_assert_int_eq(pw_selector_op_parse(good[i].text, &op), 0);
		ck_assert_int_eq(op, good[i].op);
		ck_assert_str_eq(pw_selector_op_name(good[i].op), good[i].text);
	}
	for (i = 0; i < PW_ARRAY_SIZE(bad); i++)
		ck_assert_msg(pw_selector_op_parse(bad[i], &op) == -EINVAL,
			      "\"%s\" parsed as an operator", bad[i]);
}
END_TEST

/* --------------------------------------------------------------- canonical */

START_TEST(test_canonical_empty)
{
	struct pw_selector *s = pw_selector_new();

	ck_assert_str_eq(pw_selector_canonical(s), "");
	pw_selector_free(s);
}
END_TEST

START_TEST(test_canonical_match_labels_vs_in)
{
	struct pw_selector *a = pw_selector_new(), *b = pw_selector_new();

	pw_selector_add_label(a, "app", "web");
	ck_assert_int_eq(add_req(b, "app", PW_SELECTOR_IN, "web", "web", NULL), 0);
	ck_assert_str_eq(pw_selector_canonical(a), "app in (web)");
	ck_assert_str_eq(pw_selector_canonical(b), "app in (web)");
	pw_selector_free(a);
	pw_selector_free(b);
}
END_TEST

START_TEST(test_canonical_form)
{
	struct pw_selector *s = pw_selector_new();

	ck_assert_int_eq(add_req(s, "tier", PW_SELECTOR_NOT_IN, "x", NULL), 0);
	ck_assert_int_eq(add_req(s, "lacks-key", PW_SELECTOR_DOES_NOT_EXIST, NULL), 0);
	ck_assert_int_eq(add_req(s, "has-key", PW_SELECTOR_EXISTS, NULL), 0);
	ck_assert_int_eq(add_req(s, "app", PW_SELECTOR_IN, "b", "a", "b", NULL), 0);
	ck_assert_str_eq(pw_selector_canonical(s),
			 "app in (a,b),has-key,!lacks-key,tier notin (x)");
	pw_selector_free(s);
}
END_TEST

START_TEST(test_canonical_same_key_order)
{
	struct pw_selector *s = pw_selector_new();

	/* Same key: operators in In, NotIn, Exists, DoesNotExist order, then values. */
	ck_assert_int_eq(add_req(s, "k", PW_SELECTOR_DOES_NOT_EXIST, NULL), 0);
	ck_assert_int_eq(add_req(s, "k", PW_SELECTOR_EXISTS, NULL), 0);
	ck_assert_int_eq(add_req(s, "k", PW_SELECTOR_NOT_IN, "x", NULL), 0);
	ck_assert_int_eq(add_req(s, "k", PW_SELECTOR_IN, "b", NULL), 0);
	ck_assert_int_eq(add_req(s, "k", PW_SELECTOR_IN, "a", "b", NULL), 0);
	ck_assert_int_eq(add_req(s, "k", PW_SELECTOR_IN, "a", NULL), 0);
	ck_assert_str_eq(pw_selector_canonical(s),
			 "k in (a),k in (a,b),k in (b),k notin (x),k,!k");
	pw_selector_free(s);
}
END_TEST

START_TEST(test_canonical_spellings_equal)
{
	struct pw_selector *a = pw_selector_new(), *b = pw_selector_new();

	/* {matchLabels: {app: web, tier: front}, env NotIn [prod, dev], Exists x} */
	pw_selector_add_label(a, "app", "web");
	pw_selector_add_label(a, "tier", "front");
	ck_assert_int_eq(add_req(a, "env", PW_SELECTOR_NOT_IN, "prod", "dev", NULL), 0);
	ck_assert_int_eq(add_req(a, "x", PW_SELECTOR_EXISTS, NULL), 0);

	/* The same, written in another order, with repeats and matchExpressions. */
	ck_assert_int_eq(add_req(b, "x", PW_SELECTOR_EXISTS, NULL), 0);
	ck_assert_int_eq(add_req(b, "env", PW_SELECTOR_NOT_IN, "dev", "prod", "dev",
				 NULL), 0);
	ck_assert_int_eq(add_req(b, "tier", PW_SELECTOR_IN, "front", NULL), 0);
	pw_selector_add_label(b, "app", "web");
	ck_assert_int_eq(add_req(b, "app", PW_SELECTOR_IN, "web", NULL), 0);
	ck_assert_int_eq(add_req(b, "x", PW_SELECTOR_EXISTS, NULL), 0);
	ck_assert_int_eq(add_req(b, "env", PW_SELECTOR_NOT_IN, "prod", "dev", NULL), 0);

	ck_assert_str_eq(pw_selector_canonical(a),
			 "app in (web),env notin (dev,prod),tier in (front),x");
	ck_assert_str_eq(pw_selector_canonical(a), pw_selector_canonical(b));
	pw_selector_free(a);
	pw_selector_free(b);
}
END_TEST

static void build_differing(struct pw_selector *s, int which)
{
	switch (which) {
	case 0:
		pw_selector_add_label(s, "app", "web");
		break;
	case 1:
		pw_selector_add_label(s, "app", "db");
		break;
	case 2:
		pw_selector_add_label(s, "ap", "pweb");
		break;
	case 3:
		add_req(s, "app", PW_SELECTOR_NOT_IN, "web", NULL);
		break;
	case 4:
		add_req(s, "app", PW_SELECTOR_IN, "web", "db", NULL);
		break;
	case 5:
		add_req(s, "app", PW_SELECTOR_EXISTS, NULL);
		break;
	case 6:
		add_req(s, "app", PW_SELECTOR_DOES_NOT_EXIST, NULL);
		break;
	case 7:
		pw_selector_add_label(s, "app", "web");
		pw_selector_add_label(s, "tier", "front");
		break;
	case 8:
		add_req(s, "app", PW_SELECTOR_IN, "web,db", NULL);
		break;
	case 9:
		break;
	}
}

START_TEST(test_canonical_differs)
{
	enum { N = 10 };
	struct pw_selector *s[N];
	int i, j;

	for (i = 0; i < N; i++) {
		s[i] = pw_selector_new();
		build_differing(s[i], i);
	}
	for (i = 0; i < N; i++)
		for (j = i + 1; j < N; j++)
			ck_assert_msg(strcmp(pw_selector_canonical(s[i]),
					     pw_selector_canonical(s[j])) != 0,
				      "selectors %d and %d share \"%s\"", i, j,
				      pw_selector_canonical(s[i]));
	for (i = 0; i < N; i++)
		pw_selector_free(s[i]);
}
END_TEST

START_TEST(test_canonical_invalidated)
{
	struct pw_selector *s = pw_selector_new();

	ck_assert_str_eq(pw_selector_canonical(s), "");
	pw_selector_add_label(s, "b", "1");
	ck_assert_str_eq(pw_selector_canonical(s), "b in (1)");
	ck_assert_str_eq(pw_selector_canonical(s), "b in (1)");
	ck_assert_int_eq(add_req(s, "a", PW_SELECTOR_EXISTS, NULL), 0);
	ck_assert_str_eq(pw_selector_canonical(s), "a,b in (1)");
	/* A rejected change keeps the cache valid. */
	ck_assert_int_eq(add_req(s, "c", PW_SELECTOR_IN, NULL), -EINVAL);
	ck_assert_str_eq(pw_selector_canonical(s), "a,b in (1)");
	pw_selector_free(s);
}
END_TEST

START_TEST(test_dup)
{
	struct pw_selector *s = pw_selector_new(), *d, *d2, *e;
	struct pw_selector *empty = pw_selector_new();

	pw_selector_add_label(s, "app", "web");
	ck_assert_int_eq(add_req(s, "env", PW_SELECTOR_NOT_IN, "prod", "dev", NULL), 0);
	ck_assert_int_eq(add_req(s, "canary", PW_SELECTOR_DOES_NOT_EXIST, NULL), 0);

	/* One copy before the canonical text is cached, one after. */
	d = pw_selector_dup(s);
	ck_assert_str_eq(pw_selector_canonical(s),
			 "app in (web),!canary,env notin (dev,prod)");
	d2 = pw_selector_dup(s);
	ck_assert_str_eq(pw_selector_canonical(d), pw_selector_canonical(s));
	ck_assert_str_eq(pw_selector_canonical(d2), pw_selector_canonical(s));
	ck_assert(pw_selector_canonical(d2) != pw_selector_canonical(s));
	ck_assert(MATCHES(d, "app", "web"));
	ck_assert(!MATCHES(d, "app", "web", "env", "prod"));
	ck_assert(!MATCHES(d, "app", "web", "canary", "x"));

	/* The copy is independent of the original. */
	ck_assert_int_eq(add_req(d2, "tier", PW_SELECTOR_EXISTS, NULL), 0);
	ck_assert_str_eq(pw_selector_canonical(s),
			 "app in (web),!canary,env notin (dev,prod)");
	ck_assert_str_eq(pw_selector_canonical(d2),
			 "app in (web),!canary,env notin (dev,prod),tier");
	pw_selector_free(s);
	ck_assert_str_eq(pw_selector_canonical(d),
			 "app in (web),!canary,env notin (dev,prod)");
	ck_assert(MATCHES(d, "app", "web", "env", "dev2"));

	e = pw_selector_dup(empty);
	ck_assert(pw_selector_is_empty(e));
	ck_assert_str_eq(pw_selector_canonical(e), "");
	ck_assert(MATCHES_NOTHING_SET(e));

	pw_selector_free(d);
	pw_selector_free(d2);
	pw_selector_free(e);
	pw_selector_free(empty);
}
END_TEST

/* -------------------------------------------------------------------- cidr */

static struct pw_cidr cidr(const char *text)
{
	struct pw_cidr c;

	ck_assert_msg(pw_cidr_parse(text, &c) == 0, "\"%s\" did not parse", text);
	return c;
}

static const char *fmt(const struct pw_cidr *c, bool full, char out[PW_CIDR_STRLEN])
{
	pw_cidr_format(c, full, out);
	return out;
}

START_TEST(test_cidr_parse_v4)
{
	static const uint8_t want[4] = { 10, 1, 2, 3 };
	struct pw_cidr c = cidr("10.1.2.3/8");

	ck_assert_int_eq(c.family, AF_INET);
	ck_assert_int_eq(c.prefix, 8);
	ck_assert(memcmp(c.addr, want, 4) == 0);
	ck_assert_int_eq(pw_cidr_max_prefix(&c), 32);
	ck_assert(pw_cidr_has_host_bits(&c));

	c = cidr("0.0.0.0/0");
	ck_assert_int_eq(c.prefix, 0);
	ck_assert(!pw_cidr_has_host_bits(&c));
	c = cidr("192.168.1.1/32");
	ck_assert_int_eq(c.prefix, 32);
	ck_assert(!pw_cidr_has_host_bits(&c));
}
END_TEST

START_TEST(test_cidr_parse_v6)
{
	static const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	struct pw_cidr c = cidr("2001:db8::1/64");

	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_int_eq(c.prefix, 64);
	ck_assert(memcmp(c.addr, want, 16) == 0);
	ck_assert_int_eq(pw_cidr_max_prefix(&c), 128);
	ck_assert(pw_cidr_has_host_bits(&c));

	c = cidr("::/0");
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_int_eq(c.prefix, 0);
	c = cidr("fd00::/128");
	ck_assert_int_eq(c.prefix, 128);
	c = cidr("::ffff:10.0.0.0/104");
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_int_eq(c.prefix, 104);
}
END_TEST

START_TEST(test_cidr_parse_bad)
{
	static const char *const bad[] = {
		"10.0.0.0/33", "1.2.3.4", "/8", "abc/8", "10.0.0.0/", "10.0.0.0/8x",
		"", "/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0/8 ",
		" 10.0.0.0/8", "10.0.0/8", "10.0.0.256/8", "10.0.0.0/8/8",
		"10.0.0.0/1000", "10.0.0.0/4294967304", "::/129", "::", "fd00::/",
		"fd00::g/64", "1.2.3.4/32\n",
	};
	struct pw_cidr c;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(bad); i++)
		ck_assert_msg(pw_cidr_parse(bad[i], &c) == -EINVAL,
			      "\"%s\" was accepted", bad[i]);
}
END_TEST

START_TEST(test_ip_parse)
{
	struct pw_cidr c;
	char out[PW_CIDR_STRLEN];

	ck_assert_int_eq(pw_ip_parse("10.1.2.3", &c), 0);
	ck_assert_int_eq(c.family, AF_INET);
	ck_assert_int_eq(c.prefix, 32);
	ck_assert_str_eq(fmt(&c, false, out), "10.1.2.3");
	ck_assert_int_eq(pw_ip_parse("fd00::5", &c), 0);
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_int_eq(c.prefix, 128);
	ck_assert_str_eq(fmt(&c, false, out), "fd00::5");
	ck_assert_int_eq(pw_ip_parse("10.1.2.3/32", &c), -EINVAL);
	ck_assert_int_eq(pw_ip_parse("", &c), -EINVAL);
	ck_assert_int_eq(pw_ip_parse("host", &c), -EINVAL);
}
END_TEST

START_TEST(test_cidr_mask)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "10.1.2.3/8", "10.0.0.0/8" },
		{ "10.255.255.255/13", "10.248.0.0/13" },
		{ "192.168.1.129/25", "192.168.1.128/25" },
		{ "192.168.1.129/32", "192.168.1.129/32" },
		{ "255.255.255.255/0", "0.0.0.0/0" },
		{ "255.255.255.255/1", "128.0.0.0/1" },
		{ "2001:db8:1:2::1/32", "2001:db8::/32" },
		{ "2001:db8:ffff::1/33", "2001:db8:8000::/33" },
		{ "fd00::1/128", "fd00::1/128" },
		{ "ffff::1/0", "::/0" },
	};
	char out[PW_CIDR_STRLEN];
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases); i++) {
		struct pw_cidr c = cidr(cases[i].in), want = cidr(cases[i].out);

		pw_cidr_mask(&c);
		ck_assert_str_eq(fmt(&c, true, out), cases[i].out);
		ck_assert(!pw_cidr_has_host_bits(&c));
		ck_assert(pw_cidr_equal(&c, &want));
	}
}
END_TEST

START_TEST(test_cidr_contains)
{
	static const struct {
		const char *outer, *inner;
		bool contains;
	} cases[] = {
		{ "10.0.0.0/8", "10.1.0.0/16", true },
		{ "10.0.0.0/8", "10.1.2.3/32", true },
		{ "10.0.0.0/8", "10.0.0.0/8", true },
		/* The outer prefix's host bits do not count. */
		{ "10.9.9.9/8", "10.1.0.0/16", true },
		{ "10.0.0.0/8", "11.0.0.0/16", false },
		{ "10.1.0.0/16", "10.0.0.0/8", false },
		{ "10.0.0.0/15", "10.2.0.0/16", false },
		{ "10.0.0.0/15", "10.1.0.0/16", true },
		{ "0.0.0.0/0", "203.0.113.9/32", true },
		{ "0.0.0.0/0", "::/0", false },
		{ "::/0", "10.0.0.0/8", false },
		{ "::/0", "2001:db8::/32", true },
		{ "2001:db8::/32", "2001:db8:1::/48", true },
		{ "2001:db8::/32", "2001:db9::/48", false },
		{ "2001:db8::/48", "2001:db8::/32", false },
		{ "fd00::1/128", "fd00::1/128", true },
		{ "fd00::1/128", "fd00::2/128", false },
	};
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases); i++) {
		struct pw_cidr outer = cidr(cases[i].outer), inner = cidr(cases[i].inner);

		ck_assert_msg(pw_cidr_contains(&outer, &inner) == cases[i].contains,
			      "%s contains %s: expected %d", cases[i].outer,
			      cases[i].inner, cases[i].contains);
	}
}
END_TEST

START_TEST(test_cidr_format)
{
	char out[PW_CIDR_STRLEN];
	struct pw_cidr c;

	c = cidr("10.1.2.3/32");
	ck_assert_str_eq(fmt(&c, false, out), "10.1.2.3");
	ck_assert_str_eq(fmt(&c, true, out), "10.1.2.3/32");
	c = cidr("198.18.0.0/15");
	ck_assert_str_eq(fmt(&c, false, out), "198.18.0.0/15");
	ck_assert_str_eq(fmt(&c, true, out), "198.18.0.0/15");
	c = cidr("10.1.2.3/8");
	ck_assert_str_eq(fmt(&c, true, out), "10.1.2.3/8");
	c = cidr("2001:db8::1/128");
	ck_assert_str_eq(fmt(&c, false, out), "2001:db8::1");
	ck_assert_str_eq(fmt(&c, true, out), "2001:db8::1/128");
	c = cidr("::/0");
	ck_assert_str_eq(fmt(&c, false, out), "::/0");
	c = cidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	ck_assert_str_eq(fmt(&c, true, out),
			 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
}
END_TEST

/* The formatter's own IPv6 text must be inet_ntop's, zero runs and all. */
START_TEST(test_cidr_format_is_inet_ntop)
{
	char out[PW_CIDR_STRLEN], want[INET6_ADDRSTRLEN];
	unsigned long seed = 1;
	struct pw_cidr c;
	int n, i;

	memset(&c, 0, sizeof(c));
	c.family = AF_INET6;
	c.prefix = 128;
	for (n = 0; n < 200000; n++) {
		/* Every pattern of zero groups, then random ones, small and large. */
		for (i = 0; i < 8; i++) {
			unsigned w;

			seed = seed * 6364136223846793005UL + 1442695040888963407UL;
			w = (unsigned)(seed >> 33);
			if (n < 256 ? (n >> i & 1) : (w & 3) == 0)
				w = 0;
			else if (w & 4)
				w &= 0xf;
			else if (n < 512 && i == 5)
				w = 0xffff;
			c.addr[2 * i] = (uint8_t)(w >> 8);
			c.addr[2 * i + 1] = (uint8_t)w;
		}
		ck_assert_ptr_ne(inet_ntop(AF_INET6, c.addr, want, sizeof(want)), NULL);
		pw_cidr_format(&c, false, out);
		ck_assert_msg(strcmp(out, want) == 0, "%s, not inet_ntop's %s", out, want);
	}
}
END_TEST

START_TEST(test_cidr_cmp)
{
	struct pw_cidr a = cidr("10.0.0.0/8"), b = cidr("10.0.0.0/16");
	struct pw_cidr c = cidr("11.0.0.0/8"), v6 = cidr("::/0");

	ck_assert(pw_cidr_cmp(&a, &a) == 0);
	ck_assert(pw_cidr_cmp(&a, &b) < 0);
	ck_assert(pw_cidr_cmp(&b, &a) > 0);
	ck_assert(pw_cidr_cmp(&a, &c) < 0);
	ck_assert(pw_cidr_cmp(&a, &v6) < 0);
	ck_assert(pw_cidr_cmp(&v6, &a) > 0);
	ck_assert(!pw_cidr_equal(&a, &b));
}
END_TEST

/* ------------------------------------------------------------------ strmap */

START_TEST(test_strmap_basic)
{
	struct pw_strmap *m = pw_strmap_new();
	int one = 1, two = 2;

	ck_assert_int_eq(pw_strmap_count(m), 0);
	ck_assert(pw_strmap_get(m, "a") == NULL);
	ck_assert(pw_strmap_del(m, "a") == NULL);
	ck_assert(pw_strmap_put(m, "a", &one) == NULL);
	ck_assert(pw_strmap_get(m, "a") == &one);
	ck_assert(pw_strmap_put(m, "a", &two) == &one);
	ck_assert(pw_strmap_get(m, "a") == &two);
	ck_assert_int_eq(pw_strmap_count(m), 1);
	ck_assert(pw_strmap_put(m, "", &one) == NULL);
	ck_assert(pw_strmap_get(m, "") == &one);
	ck_assert(pw_strmap_del(m, "a") == &two);
	ck_assert(pw_strmap_get(m, "a") == NULL);
	ck_assert_int_eq(pw_strmap_count(m), 1);
	pw_strmap_free(m);
	pw_strmap_free(NULL);
}
END_TEST

static void *num(unsigned i)
{
	return (void *)(uintptr_t)(i + 1);
}

static void strmap_key(char out[32], unsigned i)
{
	snprintf(out, 32, "key-%u", i);
}

START_TEST(test_strmap_many)
{
	enum { N = 5000 };
	struct pw_strmap *m = pw_strmap_new();
	char key[32];
	unsigned i;

	for (i = 0; i < N; i++) {
		strmap_key(key, i);
		ck_assert(pw_strmap_put(m, key, num(i)) == NULL);
	}
	ck_assert_int_eq(pw_strmap_count(m), N);
	for (i = 0; i < N; i += 3) {
		strmap_key(key, i);
		ck_assert(pw_strmap_del(m, key) == num(i));
	}
	ck_assert_int_eq(pw_strmap_count(m), N - (N + 2) / 3);
	for (i = 0; i < N; i++) {
		strmap_key(key, i);
		if (i % 3 == 0)
			ck_assert_msg(pw_strmap_get(m, key) == NULL, "%s is back", key);
		else
			ck_assert_msg(pw_strmap_get(m, key) == num(i), "%s lost", key);
	}
	/* Deleted keys can come back, and the others stay put. */
	for (i = 0; i < N; i += 3) {
		strmap_key(key, i);
		ck_assert(pw_strmap_del(m, key) == NULL);
		ck_assert(pw_strmap_put(m, key, num(i + N)) == NULL);
	}
	ck_assert_int_eq(pw_strmap_count(m), N);
	for (i = 0; i < N; i++) {
		strmap_key(key, i);
		ck_assert(pw_strmap_get(m, key) == num(i % 3 ? i : i + N));
	}
	/* Empty it entirely, in another order. */
	for (i = N; i-- > 0;) {
		strmap_key(key, i);
		ck_assert(pw_strmap_del(m, key) != NULL);
	}
	ck_assert_int_eq(pw_strmap_count(m), 0);
	for (i = 0; i < N; i++) {
		strmap_key(key, i);
		ck_assert(pw_strmap_get(m, key) == NULL);
	}
	pw_strmap_free(m);
}
END_TEST

/*
 * Never more than 11 keys at once, so the table stays at its first size and
 * probe chains often wrap around its end, where backward-shift deletion is
 * easiest to get wrong. The keys come from a larger pool so that many
 * collision patterns turn up.
 */
START_TEST(test_strmap_churn)
{
	enum { POOL = 256, MAX_LIVE = 11, ROUNDS = 200000 };
	static char keys[POOL][16];
	void *model[POOL] = { NULL };
	struct pw_strmap *m = pw_strmap_new();
	uint32_t seed = 12345;
	unsigned round, i;
	size_t count = 0;

	for (i = 0; i < POOL; i++)
		snprintf(keys[i], sizeof(keys[i]), "pool-%u", i);
	/* Plain ifs in the loop: every ck_assert is a message to the parent. */
	for (round = 0; round < ROUNDS; round++) {
		unsigned k;
		void *old;

		seed = seed * 1103515245u + 12345u;
		k = (seed >> 16) % POOL;
		if (model[k]) {
			old = pw_strmap_del(m, keys[k]);
			if (old != model[k])
				ck_abort_msg("round %u: del %s returned %p", round,
					     keys[k], old);
			model[k] = NULL;
			count--;
		} else if (count < MAX_LIVE) {
			model[k] = num(round);
			old = pw_strmap_put(m, keys[k], model[k]);
			if (old != NULL)
				ck_abort_msg("round %u: %s was there", round, keys[k]);
			count++;
		}
		if (pw_strmap_count(m) != count)
			ck_abort_msg("round %u: count %zu, want %zu", round,
				     pw_strmap_count(m), count);
		for (i = 0; i < POOL; i++) {
			if ((model[i] || i == k) && pw_strmap_get(m, keys[i]) != model[i])
				ck_abort_msg("round %u: %s is wrong", round, keys[i]);
		}
	}
	pw_strmap_free(m);
}
END_TEST

struct walk {
	unsigned seen;
	unsigned long sum;
	unsigned stop_after;
};

static int walk_fn(const char *key, void *value, void *ctx)
{
	struct walk *w = ctx;

	ck_assert(strncmp(key, "key-", 4) == 0);
	w->seen++;
	w->sum += (unsigned long)(uintptr_t)value;
	return w->seen == w->stop_after ? 7 : 0;
}

/* The map's copy of a key stays put while the table grows around it. */
START_TEST(test_strmap_entry)
{
	struct pw_strmap *m = pw_strmap_new();
	const char *first, *again;
	char key[16];
	void **value;
	unsigned i;

	first = pw_strmap_entry(m, "key-0", &value);
	ck_assert_ptr_eq(*value, NULL);
	*value = num(1);
	for (i = 1; i < 1000; i++) {
		snprintf(key, sizeof(key), "key-%u", i);
		pw_strmap_entry(m, key, &value);
		*value = num(i + 1);
	}
	ck_assert_uint_eq(pw_strmap_count(m), 1000);
	again = pw_strmap_entry(m, "key-0", &value);
	ck_assert_ptr_eq(again, first);
	ck_assert_ptr_eq(*value, num(1));
	ck_assert_ptr_eq(pw_strmap_get(m, "key-999"), num(1000));
	ck_assert_uint_eq(pw_strmap_count(m), 1000);
	pw_strmap_free(m);
}
END_TEST

START_TEST(test_strmap_foreach)
{
	struct pw_strmap *m = pw_strmap_new();
	struct walk w = { 0, 0, 0 };
	char key[32];
	unsigned i;

	for (i = 0; i < 100; i++) {
		strmap_key(key, i);
		pw_strmap_put(m, key, num(i));
	}
	ck_assert_int_eq(pw_strmap_foreach(m, walk_fn, &w), 0);
	ck_assert_int_eq(w.seen, 100);
	ck_assert_int_eq(w.sum, 100 * 101 / 2);

	w.seen = 0;
	w.stop_after = 10;
	ck_assert_int_eq(pw_strmap_foreach(m, walk_fn, &w), 7);
	ck_assert_int_eq(w.seen, 10);
	pw_strmap_free(m);
}
END_TEST

/* -------------------------------------------------------------------- hash */

START_TEST(test_sha1_hex)
{
	char out[41];

	pw_sha1_hex("abc", 3, out);
	ck_assert_str_eq(out, "a9993e364706816aba3e25717850c26c9cd0d89d");
	pw_sha1_hex("", 0, out);
	ck_assert_str_eq(out, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}
END_TEST

static bool is_base32_lower(const char *s)
{
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '2' && *s <= '7')))
			return false;
	}
	return true;
}

START_TEST(test_digest_name)
{
	/* Base32 of SHA-256("abc"), from Python's hashlib and base64. */
	static const char abc[] = "xj4bnp4pahh6uqkbidpf3lrceoyagyndsylxvhfucd7wd4qacwwq";
	char a[53], b[53];
	size_t n;

	for (n = 0; n <= 52; n++) {
		memset(a, 'X', sizeof(a));
		memset(b, 'Y', sizeof(b));
		pw_digest_name("abc", a, n);
		pw_digest_name("abc", b, n);
		ck_assert_int_eq(strlen(a), n);
		ck_assert_str_eq(a, b);
		ck_assert(is_base32_lower(a));
		ck_assert(strncmp(a, abc, n) == 0);
	}
	pw_digest_name("", a, 52);
	ck_assert_str_eq(a, "4oymiquy7qobjgx36tejs35zeqt24qpemsnzgtfeswmrw6csxbkq");
	pw_digest_name("podwall", a, 16);
	ck_assert_str_eq(a, "o5miw5lsa55kixgu");
	pw_digest_name("podwalm", b, 16);
	ck_assert(strcmp(a, b) != 0);
	ck_assert(is_base32_lower(b));
}
END_TEST

START_TEST(test_hash_str)
{
	/* FNV-1a test vectors. */
	ck_assert(pw_hash_str("") == 0x811c9dc5u);
	ck_assert(pw_hash_str("a") == 0xe40c292cu);
	ck_assert(pw_hash_str("foobar") == 0xbf9cf968u);
}
END_TEST

/* -------------------------------------------------------------------- main */

static Suite *selectors_suite(void)
{
	Suite *s = suite_create("selectors");
	TCase *tc;

	tc = tcase_create("labels");
	tcase_add_test(tc, test_labels_set_get);
	tcase_add_test(tc, test_labels_set_copies);
	tcase_add_test(tc, test_labels_replace);
	tcase_add_test(tc, test_labels_unset);
	tcase_add_test(tc, test_labels_order);
	tcase_add_test(tc, test_labels_many);
	tcase_add_test(tc, test_labels_equal);
	tcase_add_test(tc, test_labels_dup);
	tcase_add_test(tc, test_labels_interned);
	tcase_add_test(tc, test_labels_room);
	tcase_add_test(tc, test_intern);
	suite_add_tcase(s, tc);

	tc = tcase_create("match");
	tcase_add_test(tc, test_match_in);
	tcase_add_test(tc, test_match_in_empty_value);
	tcase_add_test(tc, test_match_not_in);
	tcase_add_test(tc, test_match_exists);
	tcase_add_test(tc, test_match_does_not_exist);
	tcase_add_test(tc, test_match_labels);
	tcase_add_test(tc, test_match_and);
	tcase_add_test(tc, test_match_contradiction);
	tcase_add_test(tc, test_match_empty_selector);
	tcase_add_test(tc, test_match_many_values);
	tcase_add_test(tc, test_requirement_einval);
	tcase_add_test(tc, test_requirement_copies_values);
	tcase_add_test(tc, test_op_parse);
	suite_add_tcase(s, tc);

	tc = tcase_create("canonical");
	tcase_add_test(tc, test_canonical_empty);
	tcase_add_test(tc, test_canonical_match_labels_vs_in);
	tcase_add_test(tc, test_canonical_form);
	tcase_add_test(tc, test_canonical_same_key_order);
	tcase_add_test(tc, test_canonical_spellings_equal);
	tcase_add_test(tc, test_canonical_differs);
	tcase_add_test(tc, test_canonical_invalidated);
	tcase_add_test(tc, test_dup);
	suite_add_tcase(s, tc);

	tc = tcase_create("cidr");
	tcase_add_test(tc, test_cidr_parse_v4);
	tcase_add_test(tc, test_cidr_parse_v6);
	tcase_add_test(tc, test_cidr_parse_bad);
	tcase_add_test(tc, test_ip_parse);
	tcase_add_test(tc, test_cidr_mask);
	tcase_add_test(tc, test_cidr_contains);
	tcase_add_test(tc, test_cidr_format);
	tcase_add_test(tc, test_cidr_format_is_inet_ntop);
	tcase_add_test(tc, test_cidr_cmp);
	suite_add_tcase(s, tc);

	tc = tcase_create("strmap");
	tcase_add_test(tc, test_strmap_basic);
	tcase_add_test(tc, test_strmap_many);
	tcase_add_test(tc, test_strmap_churn);
	tcase_add_test(tc, test_strmap_entry);
	tcase_add_test(tc, test_strmap_foreach);
	suite_add_tcase(s, tc);

	tc = tcase_create("hash");
	tcase_add_test(tc, test_sha1_hex);
	tcase_add_test(tc, test_digest_name);
	tcase_add_test(tc, test_hash_str);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(selectors_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
