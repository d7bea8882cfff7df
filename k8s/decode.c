#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/decode.h"
#include "k8s/validate.h"
#include "lib/intern.h"

/* A bad value is quoted in an error up to this many bytes. */
#define QUOTE_MAX 100
#define QUOTE_BUF (QUOTE_MAX * 4 + 8)

#define UNNAMED "<unnamed>"

/*
 * Each node costs a few visits, so a plain document never runs out; an
 * alias repeated in a list of aliases does, long before it costs minutes.
 */
#define BUDGET_PER_NODE 4
#define BUDGET_EXTRA 1024

struct decoder {
	yaml_document_t *doc;
	struct pw_buf *err;
	struct pw_buf path;		/* of the node being decoded */
	const char *kind;		/* for messages */
	const char *ns;			/* for messages; NULL when cluster-scoped */
	const char *name;		/* for messages */
	size_t budget;			/* node visits left */
};

/* ----------------------------------------------------------- messages */

/* Names go into one-line messages, where control characters must not. */
static void put_clean(struct pw_buf *b, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < PW_DNS_SUBDOMAIN_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		pw_buf_putc(b, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
	if (s[i])
		pw_buf_puts(b, "...");
}

/* s in double quotes, escaped and shortened, in out. */
static const char *quote(const char *s, char out[QUOTE_BUF])
{
	size_t len = strlen(s), n = len < QUOTE_MAX ? len : QUOTE_MAX, i;
	char *p = out;

	/* Do not cut a UTF-8 sequence in two. */
	while (n < len && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	*p++ = '"';
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			p += sprintf(p, "\\x%02x", c);
		} else {
			*p++ = (char)c;
		}
	}
	if (n < len)
		p += sprintf(p, "...");
	*p++ = '"';
	*p = '\0';
	return out;
}

static void put_object(struct pw_buf *b, const struct decoder *d)
{
	put_clean(b, d->kind);
	pw_buf_putc(b, ' ');
	if (d->ns) {
		put_clean(b, d->ns);
		pw_buf_putc(b, '/');
	}
	put_clean(b, d->name ? d->name : UNNAMED);
}

static int fail(struct decoder *d, const char *fmt, ...) PW_PRINTF(2, 3);

/* Writes "<Kind> <ns>/<name>: <path>: <problem>" and returns -EINVAL. */
static int fail(struct decoder *d, const char *fmt, ...)
{
	va_list ap;

	pw_buf_reset(d->err);
	put_object(d->err, d);
	pw_buf_puts(d->err, ": ");
	if (d->path.len) {
		pw_buf_puts(d->err, pw_buf_str(&d->path));
		pw_buf_puts(d->err, ": ");
	}
	va_start(ap, fmt);
	pw_buf_vprintf(d->err, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "<what> \"<value>\": <reason>", the reason a validator's. */
static int fail_invalid(struct decoder *d, const char *what, const char *value,
			const struct pw_buf *why)
{
	char q[QUOTE_BUF];

	return fail(d, "%s %s: %s", what, quote(value, q), pw_buf_str(why));
}

/* --------------------------------------------------------------- path */

static size_t path_field(struct decoder *d, const char *name)
{
	size_t mark = d->path.len;

	if (mark)
		pw_buf_putc(&d->path, '.');
	pw_buf_puts(&d->path, name);
	return mark;
}

static size_t path_index(struct decoder *d, size_t i)
{
	size_t mark = d->path.len;

	char digits[24], *p = digits + sizeof(digits);

	/* Every list item passes here; printf would cost more than the item. */
	*--p = '\0';
	do
		*--p = (char)('0' + i % 10);
	while (i /= 10);
	pw_buf_putc(&d->path, '[');
	pw_buf_puts(&d->path, p);
	pw_buf_putc(&d->path, ']');
	return mark;
}

static size_t path_key(struct decoder *d, const char *key)
{
	size_t mark = d->path.len;
	char q[QUOTE_BUF];

	pw_buf_putc(&d->path, '[');
	pw_buf_puts(&d->path, quote(key, q));
	pw_buf_putc(&d->path, ']');
	return mark;
}

static void path_restore(struct decoder *d, size_t mark)
{
	d->path.len = mark;
	if (d->path.data)
		d->path.data[mark] = '\0';
}

/* ------------------------------------------------------------ scalars */

enum scalar_type {
	SCALAR_NULL,
	SCALAR_BOOL,
	SCALAR_NUMBER,
	SCALAR_STRING,
};

static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
/* YAML 1.1 as kubectl reads it (go-yaml v2): "yes" and "on" are booleans too. */
static const char *const true_words[] = {
	"true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", NULL
};
static const char *const false_words[] = {
	"false", "False", "FALSE", "n", "N", "no", "No", "NO", "off", "Off", "OFF", NULL
};
static const char *const float_words[] = {
	".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN", NULL
};

static bool is_word(const char *s, const char *const *words)
{
	for (; *words; words++)
		if ((*words)[0] == s[0] && strcmp(s, *words) == 0)
			return true;
	return false;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool all_in(const char *s, const char *set)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr(set, *s))
			return false;
	return true;
}

/* [0-9]+ with at least one digit; returns the first byte after them. */
static const char *skip_digits(const char *s)
{
	while (is_digit(*s))
		s++;
	return s;
}

/* (\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *s)
{
	const char *p;

	if (*s == '.') {
		p = skip_digits(s + 1);
		if (p == s + 1)
			return false;
	} else {
		p = skip_digits(s);
		if (p == s)
			return false;
		if (*p == '.')
			p = skip_digits(p + 1);
	}
	if (*p == 'e' || *p == 'E') {
		const char *e = p + 1;

		if (*e == '+' || *e == '-')
			e++;
		p = skip_digits(e);
		if (p == e)
			return false;
	}
	return *p == '\0';
}

/* What go-yaml v2 would read as an int or a float. */
static bool is_number(const char *s)
{
	if (*s == '+' || *s == '-')
		s++;
	if (s[0] == '0' && s[1] == 'x')
		return all_in(s + 2, "0123456789abcdefABCDEF_");
	if (s[0] == '0' && s[1] == 'o')
		return all_in(s + 2, "01234567_");
	if (s[0] == '0' && s[1] == 'b')
		return all_in(s + 2, "01_");
	if (is_digit(*s) && all_in(s, "0123456789_"))
		return true;
	return is_float(s) || is_word(s, float_words);
}

static const char *scalar_text(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* Only plain scalars are resolved; quoted ones are always strings. */
static enum scalar_type scalar_type(const yaml_node_t *n)
{
	const char *s = scalar_text(n);

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return SCALAR_STRING;
	/*
	 * Most scalars are names and label values: one look at the first byte
	 * and the length settles them, where the word lists cost a strcmp each.
	 * No resolved word is longer than 5 bytes, and every one, like every
	 * number, starts with one of these bytes.
	 */
	if (n->data.scalar.length > 5 && !strchr("+-.0123456789", s[0]))
		return SCALAR_STRING;
	if (s[0] && !strchr("~nNtTyYoOfF+-.0123456789", s[0]))
		return SCALAR_STRING;
	if (is_word(s, null_words))
		return SCALAR_NULL;
	if (is_word(s, true_words) || is_word(s, false_words))
		return SCALAR_BOOL;
	if (is_number(s))
		return SCALAR_NUMBER;
	return SCALAR_STRING;
}

static bool is_null(const yaml_node_t *n)
{
	return !n || (n->type == YAML_SCALAR_NODE && scalar_type(n) == SCALAR_NULL);
}

static const char *describe(const yaml_node_t *n)
{
	if (!n)
		return "nothing";
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		switch (scalar_type(n)) {
		case SCALAR_NULL:
			return "null";
		case SCALAR_BOOL:
			return "a boolean";
		case SCALAR_NUMBER:
			return "a number";
		case SCALAR_STRING:
			return "a string";
		}
		break;
	default:
		break;
	}
	return "nothing";
}

/*
 * Parses [-+]?[0-9]+ into *out, saturating far outside any range we accept.
 * Returns 0, or -EINVAL when text is not a decimal integer.
 */
static int parse_decimal(const char *text, long long *out)
{
	const char *p = text;
	bool negative = false;
	long long v = 0;

	if (*p == '+' || *p == '-')
		negative = *p++ == '-';
	if (!*p)
		return -EINVAL;
	for (; *p; p++) {
		if (!is_digit(*p))
			return -EINVAL;
		if (v < 1000000000LL)
			v = v * 10 + (*p - '0');
	}
	*out = negative ? -v : v;
	return 0;
}

/* ----------------------------------------------------------- nodes */

static int spend(struct decoder *d, size_t visits)
{
	if (visits > d->budget)
		return fail(d, "too many nodes to visit (aliases expand too far)");
	d->budget -= visits;
	return 0;
}

static yaml_node_t *node_at(struct decoder *d, int id)
{
	return yaml_document_get_node(d->doc, id);
}

struct key_ref {
	const char *text;
	size_t len;
};

static int key_ref_cmp(const void *a, const void *b)
{
	const struct key_ref *x = a, *y = b;
	int r = memcmp(x->text, y->text, x->len < y->len ? x->len : y->len);

	if (r)
		return r;
	return x->len < y->len ? -1 : x->len > y->len;
}

static int check_keys(struct decoder *d, const yaml_node_t *map, struct key_ref *keys)
{
	size_t n = 0, i;
	yaml_node_pair_t *pair;
	char q[QUOTE_BUF];

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = node_at(d, pair->key);

		if (!k || k->type != YAML_SCALAR_NODE)
			return fail(d, "keys must be strings, found %s", describe(k));
		/* kubectl would merge "<<: *base"; silently dropping it is worse. */
		if (k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    strcmp(scalar_text(k), "<<") == 0)
			return fail(d, "merge keys (<<) are not supported");
		keys[n].text = scalar_text(k);
		keys[n++].len = k->data.scalar.length;
	}
	qsort(keys, n, sizeof(*keys), key_ref_cmp);
	for (i = 1; i < n; i++)
		if (key_ref_cmp(&keys[i - 1], &keys[i]) == 0)
			return fail(d, "duplicate key %s", quote(keys[i].text, q));
	return 0;
}

/* Every mapping is checked here before field() looks into it. */
static int want_mapping(struct decoder *d, const yaml_node_t *n)
{
	struct key_ref *keys;
	size_t count;
	int ret;

	if (!n || n->type != YAML_MAPPING_NODE)
		return fail(d, "expected a mapping, found %s", describe(n));
	count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (spend(d, count + 1) < 0)
		return -EINVAL;
	keys = pw_xmalloc((count ? count : 1) * sizeof(*keys));
	ret = check_keys(d, n, keys);
	free(keys);
	return ret;
}

/* The value under key in a checked mapping; NULL when absent or null. */
static yaml_node_t *field(struct decoder *d, const yaml_node_t *map, const char *key)
{
	size_t len = strlen(key);
	yaml_node_pair_t *pair;

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = node_at(d, pair->key);

		if (k->data.scalar.length == len &&
		    memcmp(scalar_text(k), key, len) == 0) {
			yaml_node_t *v = node_at(d, pair->value);

			return is_null(v) ? NULL : v;
		}
	}
	return NULL;
}

/* A list, or none at all when n is NULL (absent or null). */
static int want_list(struct decoder *d, const yaml_node_t *n, yaml_node_item_t **items,
		     size_t *count)
{
	*items = NULL;
	*count = 0;
	if (!n)
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(d, "expected a list, found %s", describe(n));
	*items = n->data.sequence.items.start;
	*count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	return spend(d, *count + 1);
}

static int check_no_nul(struct decoder *d, const yaml_node_t *n)
{
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length))
		return fail(d, "must not contain a NUL character");
	return 0;
}

static int want_string(struct decoder *d, const yaml_node_t *n, const char **out)
{
	if (n->type != YAML_SCALAR_NODE || scalar_type(n) == SCALAR_NULL)
		return fail(d, "expected a string, found %s", describe(n));
	/* The API refuses a boolean or a number where it wants a string. */
	if (scalar_type(n) != SCALAR_STRING)
		return fail(d, "expected a string, found %s (quote it)", describe(n));
	if (check_no_nul(d, n) < 0)
		return -EINVAL;
	*out = scalar_text(n);
	return 0;
}

static int want_bool(struct decoder *d, const yaml_node_t *n, bool *out)
{
	if (n->type != YAML_SCALAR_NODE || scalar_type(n) != SCALAR_BOOL)
		return fail(d, "expected a boolean (true or false), found %s",
			    describe(n));
	*out = is_word(scalar_text(n), true_words);
	return 0;
}

static int port_range(struct decoder *d, const char *text, long long v, uint16_t *out)
{
	if (v < 1 || v > 65535)
		return fail(d, "must be between 1 and 65535, not %.20s%s", text,
			    strlen(text) > 20 ? "..." : "");
	*out = (uint16_t)v;
	return 0;
}

/* An int32 port field: a plain decimal number, never a quoted one. */
static int want_port_number(struct decoder *d, const yaml_node_t *n, uint16_t *out)
{
	long long v;

	if (n->type != YAML_SCALAR_NODE || scalar_type(n) != SCALAR_NUMBER ||
	    parse_decimal(scalar_text(n), &v) < 0)
		return fail(d, "expected an integer, found %s", describe(n));
	return port_range(d, scalar_text(n), v, out);
}

/* The string under key, NULL when absent; required turns absence into an error. */
static int get_string(struct decoder *d, const yaml_node_t *map, const char *key,
		      bool required, const char **out)
{
	size_t mark = path_field(d, key);
	yaml_node_t *n = field(d, map, key);

	*out = NULL;
	if (!n) {
		if (required)
			return fail(d, "required");
	} else if (want_string(d, n, out) < 0) {
		return -EINVAL;
	}
	path_restore(d, mark);
	return 0;
}

static int get_string_dup(struct decoder *d, const yaml_node_t *map, const char *key,
			  char **out)
{
	const char *s;

	if (get_string(d, map, key, false, &s) < 0)
		return -EINVAL;
	*out = s ? pw_xstrdup(s) : NULL;
	return 0;
}

/* As get_string_dup, for a string that many objects repeat. */
static int get_string_intern(struct decoder *d, const yaml_node_t *map, const char *key,
			     const char **out)
{
	const char *s;

	if (get_string(d, map, key, false, &s) < 0)
		return -EINVAL;
	*out = s ? pw_intern(s) : NULL;
	return 0;
}

/* The mapping under key, checked; NULL when absent or null. */
static int get_mapping(struct decoder *d, const yaml_node_t *map, const char *key,
		       yaml_node_t **out)
{
	size_t mark = path_field(d, key);

	*out = field(d, map, key);
	if (*out && want_mapping(d, *out) < 0)
		return -EINVAL;
	path_restore(d, mark);
	return 0;
}

static int get_protocol(struct decoder *d, const yaml_node_t *map, enum pw_protocol *out)
{
	const char *text;
	char q[QUOTE_BUF];

	*out = PW_PROTO_TCP;
	if (get_string(d, map, "protocol", false, &text) < 0)
		return -EINVAL;
	if (text && pw_protocol_parse(text, out) < 0) {
		path_field(d, "protocol");
		return fail(d, "unknown protocol %s (must be TCP, UDP or SCTP)",
			    quote(text, q));
	}
	return 0;
}

/* ------------------------------------------------------------ labels */

/*
 * One entry of a map[string]string keyed by qualified names (labels,
 * annotations): its key and value (a null value is the empty string, as
 * in the API's map[string]string), the path left at the key for the
 * caller's own checks.
 */
static int decode_string_entry(struct decoder *d, const yaml_node_pair_t *pair,
			       const char **key, const char **value, size_t *mark)
{
	yaml_node_t *k = node_at(d, pair->key), *v = node_at(d, pair->value);
	struct pw_buf why = PW_BUF_INIT;
	int ret = 0;

	*mark = path_key(d, scalar_text(k));
	*key = scalar_text(k);
	*value = "";
	if (check_no_nul(d, k) < 0)
		return -EINVAL;
	if (pw_validate_label_key(*key, &why) < 0)
		ret = fail(d, "invalid key: %s", pw_buf_str(&why));
	else if (!is_null(v) && want_string(d, v, value) < 0)
		ret = -EINVAL;
	pw_buf_free(&why);
	return ret;
}

static int decode_label(struct decoder *d, const yaml_node_pair_t *pair,
			struct pw_labels *labels)
{
	struct pw_buf why = PW_BUF_INIT;
	const char *key, *value;
	size_t mark;
	int ret = decode_string_entry(d, pair, &key, &value, &mark);

	if (ret == 0 && pw_validate_label_value(value, &why) < 0) {
		fail_invalid(d, "invalid value", value, &why);
		ret = -EINVAL;
	}
	if (ret == 0) {
		pw_labels_set(labels, key, value);
		path_restore(d, mark);
	}
	pw_buf_free(&why);
	return ret;
}

/* Adds the entries of the mapping n (NULL: none) to labels. */
static int decode_labels(struct decoder *d, const yaml_node_t *n,
			 struct pw_labels *labels)
{
	yaml_node_pair_t *pair;

	if (!n)
		return 0;
	if (want_mapping(d, n) < 0)
		return -EINVAL;
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++)
		if (decode_label(d, pair, labels) < 0)
			return -EINVAL;
	return 0;
}

/*
 * Annotations are checked as the API server checks them: qualified names
 * for keys, strings for values (of any length and form). Only one is
 * kept: whether PW_DENY_LOG_ANNOTATION is "true".
 */
static int decode_annotation(struct decoder *d, const yaml_node_pair_t *pair,
			     bool *deny_log)
{
	const char *key, *value;
	size_t mark;

	if (decode_string_entry(d, pair, &key, &value, &mark) < 0)
		return -EINVAL;
	if (strcmp(key, PW_DENY_LOG_ANNOTATION) == 0)
		*deny_log = strcmp(value, "true") == 0;
	path_restore(d, mark);
	return 0;
}

static int decode_annotations(struct decoder *d, const yaml_node_t *n, bool *deny_log)
{
	yaml_node_pair_t *pair;

	*deny_log = false;
	if (!n)
		return 0;
	if (want_mapping(d, n) < 0)
		return -EINVAL;
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++)
		if (decode_annotation(d, pair, deny_log) < 0)
			return -EINVAL;
	return 0;
}

/* --------------------------------------------------------- selectors */

static int decode_match_labels(struct decoder *d, const yaml_node_t *sel,
			       struct pw_selector *s)
{
	struct pw_labels *labels = pw_labels_new();
	size_t mark = path_field(d, "matchLabels"), i;
	int ret;

	ret = decode_labels(d, field(d, sel, "matchLabels"), labels);
	for (i = 0; ret == 0 && i < pw_labels_count(labels); i++)
		pw_selector_add_label(s, pw_labels_key(labels, i),
				      pw_labels_value(labels, i));
	pw_labels_free(labels);
	if (ret == 0)
		path_restore(d, mark);
	return ret;
}

static int get_label_key(struct decoder *d, const yaml_node_t *map, const char **key)
{
	struct pw_buf why = PW_BUF_INIT;
	int ret = 0;

	if (get_string(d, map, "key", true, key) < 0)
		return -EINVAL;
	if (pw_validate_label_key(*key, &why) < 0) {
		path_field(d, "key");
		ret = fail_invalid(d, "invalid key", *key, &why);
	}
	pw_buf_free(&why);
	return ret;
}

static int get_operator(struct decoder *d, const yaml_node_t *map,
			enum pw_selector_op *op)
{
	const char *text;
	char q[QUOTE_BUF];

	if (get_string(d, map, "operator", true, &text) < 0)
		return -EINVAL;
	if (pw_selector_op_parse(text, op) < 0) {
		path_field(d, "operator");
		return fail(d, "unknown operator %s", quote(text, q));
	}
	return 0;
}

/* Fills values (pointers into the document) from the list under "values". */
static int get_values(struct decoder *d, const yaml_node_t *map, const char ***values,
		      size_t *count)
{
	size_t mark = path_field(d, "values"), inner = d->path.len, i;
	struct pw_buf why = PW_BUF_INIT;
	yaml_node_item_t *items;

	*values = NULL;
	if (want_list(d, field(d, map, "values"), &items, count) < 0)
		return -EINVAL;
	*values = pw_xcalloc(*count, sizeof(**values));
	for (i = 0; i < *count; i++) {
		path_index(d, i);
		if (want_string(d, node_at(d, items[i]), &(*values)[i]) < 0)
			break;
		if (pw_validate_label_value((*values)[i], &why) < 0) {
			fail_invalid(d, "invalid value", (*values)[i], &why);
			break;
		}
		path_restore(d, inner);
	}
	pw_buf_free(&why);
	if (i < *count)
		return -EINVAL;
	path_restore(d, mark);
	return 0;
}

static int check_value_count(struct decoder *d, enum pw_selector_op op, size_t count)
{
	bool needs_values = op == PW_SELECTOR_IN || op == PW_SELECTOR_NOT_IN;

	if (needs_values && count == 0) {
		path_field(d, "values");
		return fail(d, "must be non-empty when operator is %s",
			    pw_selector_op_name(op));
	}
	if (!needs_values && count > 0) {
		path_field(d, "values");
		return fail(d, "must be empty when operator is %s",
			    pw_selector_op_name(op));
	}
	return 0;
}

static int decode_requirement(struct decoder *d, const yaml_node_t *n,
			      struct pw_selector *s)
{
	const char *key, **values = NULL;
	enum pw_selector_op op;
	size_t count = 0;
	int ret = -EINVAL;

	if (want_mapping(d, n) < 0 || get_label_key(d, n, &key) < 0 ||
	    get_operator(d, n, &op) < 0 || get_values(d, n, &values, &count) < 0 ||
	    check_value_count(d, op, count) < 0)
		goto out;
	if (pw_selector_add_requirement(s, key, op, values, count) < 0) {
		fail(d, "invalid requirement");
		goto out;
	}
	ret = 0;
out:
	free(values);
	return ret;
}

static int decode_match_expressions(struct decoder *d, const yaml_node_t *sel,
				    struct pw_selector *s)
{
	size_t mark = path_field(d, "matchExpressions"), inner = d->path.len, count, i;
	yaml_node_item_t *items;

	if (want_list(d, field(d, sel, "matchExpressions"), &items, &count) < 0)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		path_index(d, i);
		if (decode_requirement(d, node_at(d, items[i]), s) < 0)
			return -EINVAL;
		path_restore(d, inner);
	}
	path_restore(d, mark);
	return 0;
}

/*
 * Decodes the selector under key into *out, which the caller's object owns
 * from the start so that a failure half-way leaks nothing.
 */
static int get_selector(struct decoder *d, const yaml_node_t *map, const char *key,
			struct pw_selector **out)
{
	size_t mark = path_field(d, key);
	yaml_node_t *n = field(d, map, key);

	if (!n)
		return fail(d, "required");
	if (want_mapping(d, n) < 0)
		return -EINVAL;
	*out = pw_selector_new();
	if (decode_match_labels(d, n, *out) < 0 ||
	    decode_match_expressions(d, n, *out) < 0)
		return -EINVAL;
	path_restore(d, mark);
	return 0;
}

/* ------------------------------------------------------------ policy */

static int parse_cidr(struct decoder *d, const char *text, struct pw_cidr *out)
{
	char q[QUOTE_BUF];

	if (pw_cidr_parse(text, out) < 0)
		return fail(d, "invalid CIDR %s", quote(text, q));
	return 0;
}

static int check_except(struct decoder *d, const struct pw_cidr *cidr,
			const char *cidr_text, const struct pw_cidr *except,
			const char *except_text)
{
	char q1[QUOTE_BUF], q2[QUOTE_BUF];

	if (!pw_cidr_contains(cidr, except))
		return fail(d, "%s is not inside cidr %s", quote(except_text, q1),
			    quote(cidr_text, q2));
	if (except->prefix == cidr->prefix)
		return fail(d, "%s is not strictly inside cidr %s",
			    quote(except_text, q1), quote(cidr_text, q2));
	return 0;
}

static int decode_excepts(struct decoder *d, const yaml_node_t *n, struct pw_ipblock *b,
			  const char *cidr_text)
{
	size_t mark = path_field(d, "except"), inner = d->path.len, count, i;
	yaml_node_item_t *items;

	if (want_list(d, field(d, n, "except"), &items, &count) < 0)
		return -EINVAL;
	if (count)
		b->except = pw_xcalloc(count, sizeof(*b->except));
	for (i = 0; i < count; i++) {
		struct pw_cidr c;
		const char *text;

		path_index(d, i);
		if (want_string(d, node_at(d, items[i]), &text) < 0 ||
		    parse_cidr(d, text, &c) < 0 ||
		    check_except(d, &b->cidr, cidr_text, &c, text) < 0)
			return -EINVAL;
		pw_cidr_mask(&c);
		b->except[b->nexcept++] = c;
		path_restore(d, inner);
	}
	path_restore(d, mark);
	return 0;
}

static int decode_ipblock(struct decoder *d, const yaml_node_t *n,
			  struct pw_ipblock **out)
{
	size_t mark = path_field(d, "ipBlock"), inner = d->path.len;
	struct pw_ipblock *b;
	const char *text;

	if (want_mapping(d, n) < 0)
		return -EINVAL;
	b = *out = pw_xcalloc(1, sizeof(*b));
	if (get_string(d, n, "cidr", true, &text) < 0)
		return -EINVAL;
	path_field(d, "cidr");
	if (parse_cidr(d, text, &b->cidr) < 0)
		return -EINVAL;
	path_restore(d, inner);
	pw_cidr_mask(&b->cidr);
	if (decode_excepts(d, n, b, text) < 0)
		return -EINVAL;
	path_restore(d, mark);
	return 0;
}

static int decode_peer(struct decoder *d, const yaml_node_t *n,
		       struct pw_policy_peer *peer)
{
	yaml_node_t *pods, *namespaces, *ipblock;

	if (want_mapping(d, n) < 0)
		return -EINVAL;
	pods = field(d, n, "podSelector");
	namespaces = field(d, n, "namespaceSelector");
	ipblock = field(d, n, "ipBlock");
	if (!pods && !namespaces && !ipblock)
		return fail(d, "must specify podSelector, namespaceSelector or ipBlock");
	if (ipblock && (pods || namespaces))
		return fail(d, "ipBlock may not be combined with %s",
			    pods ? "podSelector" : "namespaceSelector");
	if (pods && get_selector(d, n, "podSelector", &peer->pod_selector) < 0)
		return -EINVAL;
	if (namespaces &&
	    get_selector(d, n, "namespaceSelector", &peer->namespace_selector) < 0)
		return -EINVAL;
	if (ipblock && decode_ipblock(d, ipblock, &peer->ipblock) < 0)
		return -EINVAL;
	return 0;
}

/*
 * IntOrString: a number, or a container port's name. Digits in quotes stay a
 * string, which the API server then refuses as a name without a letter.
 */
static int decode_port_value(struct decoder *d, const yaml_node_t *n,
			     struct pw_policy_port *p)
{
	struct pw_buf why = PW_BUF_INIT;
	enum scalar_type type;
	const char *text;
	long long v;
	int ret;

	if (n->type != YAML_SCALAR_NODE)
		return fail(d, "expected a port number or name, found %s", describe(n));
	type = scalar_type(n);
	text = scalar_text(n);
	if (type == SCALAR_NUMBER) {
		if (parse_decimal(text, &v) < 0)
			return fail(d, "expected a port number or name, found %s",
				    describe(n));
		p->kind = PW_PORT_NUMBER;
		ret = port_range(d, text, v, &p->port);
		p->end_port = p->port;
		return ret;
	}
	if (type != SCALAR_STRING)
		return fail(d, "expected a port number or name, found %s", describe(n));
	if (check_no_nul(d, n) < 0)
		return -EINVAL;
	ret = pw_validate_port_name(text, &why);
	if (ret < 0)
		fail_invalid(d, "invalid port name", text, &why);
	pw_buf_free(&why);
	if (ret < 0)
		return ret;
	p->kind = PW_PORT_NAMED;
	p->name = pw_xstrdup(text);
	return 0;
}

static int decode_end_port(struct decoder *d, const yaml_node_t *n,
			   struct pw_policy_port *p)
{
	uint16_t end;

	if (p->kind == PW_PORT_ALL)
		return fail(d, "requires a numeric port");
	if (p->kind == PW_PORT_NAMED)
		return fail(d, "may not be used with a named port (%s)", p->name);
	if (want_port_number(d, n, &end) < 0)
		return -EINVAL;
	if (end < p->port)
		return fail(d, "must be greater than or equal to port %u, not %u",
			    p->port, end);
	p->end_port = end;
	return 0;
}

/* A null port is the zero NetworkPolicyPort: every TCP port, as for the API. */
static int decode_policy_port(struct decoder *d, const yaml_node_t *n,
			      struct pw_policy_port *p)
{
	yaml_node_t *port, *end;
	size_t mark;

	p->protocol = PW_PROTO_TCP;
	p->kind = PW_PORT_ALL;
	if (is_null(n))
		return 0;
	if (want_mapping(d, n) < 0 || get_protocol(d, n, &p->protocol) < 0)
		return -EINVAL;
	port = field(d, n, "port");
	end = field(d, n, "endPort");
	if (port) {
		mark = path_field(d, "port");
		if (decode_port_value(d, port, p) < 0)
			return -EINVAL;
		path_restore(d, mark);
	}
	if (end) {
		mark = path_field(d, "endPort");
		if (decode_end_port(d, end, p) < 0)
			return -EINVAL;
		path_restore(d, mark);
	}
	return 0;
}

static int decode_rule_ports(struct decoder *d, const yaml_node_t *n,
			     struct pw_policy_rule *r)
{
	size_t mark = path_field(d, "ports"), inner = d->path.len, count, i;
	yaml_node_item_t *items;

	if (want_list(d, field(d, n, "ports"), &items, &count) < 0)
		return -EINVAL;
	if (count)
		r->ports = pw_xcalloc(count, sizeof(*r->ports));
	for (i = 0; i < count; i++) {
		path_index(d, i);
		r->nports++;
		if (decode_policy_port(d, node_at(d, items[i]), &r->ports[i]) < 0)
			return -EINVAL;
		path_restore(d, inner);
	}
	path_restore(d, mark);
	return 0;
}

static int decode_rule_peers(struct decoder *d, const yaml_node_t *n, const char *key,
			     struct pw_policy_rule *r)
{
	size_t mark = path_field(d, key), inner = d->path.len, count, i;
	yaml_node_item_t *items;

	if (want_list(d, field(d, n, key), &items, &count) < 0)
		return -EINVAL;
	if (count)
		r->peers = pw_xcalloc(count, sizeof(*r->peers));
	for (i = 0; i < count; i++) {
		path_index(d, i);
		r->npeers++;
		if (decode_peer(d, node_at(d, items[i]), &r->peers[i]) < 0)
			return -EINVAL;
		path_restore(d, inner);
	}
	path_restore(d, mark);
	return 0;
}

/* A null rule is the zero rule, which allows everything, as for the API. */
static int decode_rule(struct decoder *d, const yaml_node_t *n, const char *peers_key,
		       struct pw_policy_rule *r)
{
	if (is_null(n))
		return 0;
	if (want_mapping(d, n) < 0 || decode_rule_ports(d, n, r) < 0 ||
	    decode_rule_peers(d, n, peers_key, r) < 0)
		return -EINVAL;
	return 0;
}

static int decode_rules(struct decoder *d, const yaml_node_t *spec, const char *key,
			const char *peers_key, struct pw_policy_rule **rules,
			size_t *nrules)
{
	size_t mark = path_field(d, key), inner = d->path.len, count, i;
	yaml_node_item_t *items;

	if (want_list(d, field(d, spec, key), &items, &count) < 0)
		return -EINVAL;
	if (count)
		*rules = pw_xcalloc(count, sizeof(**rules));
	for (i = 0; i < count; i++) {
		path_index(d, i);
		(*nrules)++;
		if (decode_rule(d, node_at(d, items[i]), peers_key, &(*rules)[i]) < 0)
			return -EINVAL;
		path_restore(d, inner);
	}
	path_restore(d, mark);
	return 0;
}

static int decode_policy_types(struct decoder *d, const yaml_node_t *spec,
			       unsigned *types)
{
	size_t mark = path_field(d, "policyTypes"), inner = d->path.len, count, i;
	yaml_node_item_t *items;
	char q[QUOTE_BUF];

	*types = 0;
	if (want_list(d, field(d, spec, "policyTypes"), &items, &count) < 0)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		const char *text;

		path_index(d, i);
		if (want_string(d, node_at(d, items[i]), &text) < 0)
			return -EINVAL;
		if (strcmp(text, "Ingress") == 0)
			*types |= PW_POLICY_INGRESS;
		else if (strcmp(text, "Egress") == 0)
			*types |= PW_POLICY_EGRESS;
		else
			return fail(d, "unknown policy type %s "
				    "(must be Ingress or Egress)", quote(text, q));
		path_restore(d, inner);
	}
	path_restore(d, mark);
	return 0;
}

static int decode_policy_spec(struct decoder *d, const yaml_node_t *root,
			      struct pw_policy *p)
{
	yaml_node_t *spec;
	size_t mark = path_field(d, "spec");

	spec = field(d, root, "spec");
	if (!spec)
		return fail(d, "required");
	if (want_mapping(d, spec) < 0 ||
	    get_selector(d, spec, "podSelector", &p->pod_selector) < 0 ||
	    decode_policy_types(d, spec, &p->types) < 0 ||
	    decode_rules(d, spec, "ingress", "from", &p->ingress, &p->ningress) < 0 ||
	    decode_rules(d, spec, "egress", "to", &p->egress, &p->negress) < 0)
		return -EINVAL;
	/* As the API server defaults an absent or empty policyTypes. */
	if (!p->types)
		p->types = PW_POLICY_INGRESS | (p->negress ? PW_POLICY_EGRESS : 0);
	path_restore(d, mark);
	return 0;
}

/* ----------------------------------------------------------- metadata */

/*
 * The name and the uid are the document's, for as long as it is decoded:
 * each kind of object keeps them its own way.
 */
struct meta {
	const char *name;
	const char *ns;		/* interned */
	const char *uid;	/* NULL when absent */
	struct pw_labels *labels;
	bool deny_log;		/* from the annotations */
};

static void meta_release(struct meta *m)
{
	pw_intern_release(m->ns);
	pw_labels_free(m->labels);
	memset(m, 0, sizeof(*m));
}

static int validate_name(struct decoder *d, const char *key, const char *value,
			 int (*validate)(const char *, struct pw_buf *))
{
	struct pw_buf why = PW_BUF_INIT;
	int ret = validate(value, &why);

	if (ret < 0) {
		path_field(d, key);
		fail_invalid(d, "invalid name", value, &why);
	}
	pw_buf_free(&why);
	return ret;
}

static int decode_meta_names(struct decoder *d, const yaml_node_t *md, bool namespaced,
			     const char *default_namespace, struct meta *m)
{
	const char *name, *ns = NULL;

	if (get_string(d, md, "name", true, &name) < 0 ||
	    validate_name(d, "name", name, namespaced ? pw_validate_dns_subdomain :
			  pw_validate_dns_label) < 0)
		return -EINVAL;
	if (namespaced) {
		if (get_string(d, md, "namespace", false, &ns) < 0)
			return -EINVAL;
		if (!ns)
			ns = default_namespace;
		/* Objects from the API server have no default to fall back on. */
		if (!ns) {
			path_field(d, "namespace");
			return fail(d, "required");
		}
		if (validate_name(d, "namespace", ns, pw_validate_dns_label) < 0)
			return -EINVAL;
	}
	m->name = name;
	m->ns = ns ? pw_intern(ns) : NULL;
	return 0;
}

/* The entries of n when it is a mapping, else 0 (NULL too). */
static size_t pair_count(const yaml_node_t *n)
{
	if (!n || n->type != YAML_MAPPING_NODE)
		return 0;
	return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

static int decode_meta(struct decoder *d, const yaml_node_t *root, bool namespaced,
		       const char *default_namespace, struct meta *m)
{
	size_t mark = path_field(d, "metadata"), inner = d->path.len;
	yaml_node_t *md = field(d, root, "metadata"), *labels;
	/* Checked, not kept: the reflector reads the list's and the events' own. */
	const char *resource_version;

	memset(m, 0, sizeof(*m));
	if (!md) {
		path_field(d, "name");
		return fail(d, "required");
	}
	if (want_mapping(d, md) < 0 ||
	    decode_meta_names(d, md, namespaced, default_namespace, m) < 0 ||
	    get_string(d, md, "uid", false, &m->uid) < 0 ||
	    get_string(d, md, "resourceVersion", false, &resource_version) < 0)
		goto fail;
	path_field(d, "labels");
	labels = field(d, md, "labels");
	/* A Namespace gets one label more: kubernetes.io/metadata.name. */
	m->labels = pw_labels_new_with_room(pair_count(labels) + !namespaced);
	if (decode_labels(d, labels, m->labels) < 0)
		goto fail;
	path_restore(d, inner);
	/* Only a namespace's annotations mean anything to podwall. */
	path_field(d, "annotations");
	if (!namespaced &&
	    decode_annotations(d, field(d, md, "annotations"), &m->deny_log) < 0)
		goto fail;
	path_restore(d, inner);
	path_restore(d, mark);
	return 0;
fail:
	meta_release(m);
	return -EINVAL;
}

/* ---------------------------------------------------------------- pod */

static void add_pod_ip(struct pw_pod *pod, size_t *cap, const struct pw_cidr *ip)
{
	size_t i;

	for (i = 0; i < pod->nips; i++)
		if (pw_cidr_equal(&pod->ips[i], ip))
			return;
	/* nips is 32 bits: four billion items would not fit in memory as nodes. */
	PW_GROW(pod->ips, *cap, (size_t)pod->nips + 1);
	pod->ips[pod->nips++] = *ip;
}

static int parse_ip(struct decoder *d, const char *text, struct pw_cidr *out)
{
	char q[QUOTE_BUF];

	if (pw_ip_parse(text, out) < 0)
		return fail(d, "invalid IP address %s", quote(text, q));
	return 0;
}

static int decode_pod_ips(struct decoder *d, const yaml_node_t *status,
			  struct pw_pod *pod)
{
	size_t mark = path_field(d, "podIPs"), inner = d->path.len, count, i, cap = 0;
	yaml_node_item_t *items;
	struct pw_cidr ip, single;
	const char *text;

	if (want_list(d, field(d, status, "podIPs"), &items, &count) < 0)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		yaml_node_t *n = node_at(d, items[i]);

		path_index(d, i);
		if (want_mapping(d, n) < 0 || get_string(d, n, "ip", true, &text) < 0)
			return -EINVAL;
		path_field(d, "ip");
		if (parse_ip(d, text, &ip) < 0)
			return -EINVAL;
		add_pod_ip(pod, &cap, &ip);
		path_restore(d, inner);
	}
	path_restore(d, mark);
	/* podIP is podIPs[0] when both are there; alone, it is the only one. */
	if (get_string(d, status, "podIP", false, &text) < 0)
		return -EINVAL;
	if (text) {
		path_field(d, "podIP");
		if (parse_ip(d, text, &single) < 0)
			return -EINVAL;
		path_restore(d, mark);
		if (count == 0)
			add_pod_ip(pod, &cap, &single);
	}
	return 0;
}

static const char *const phase_names[] = {
	[PW_POD_PHASE_UNKNOWN] = "Unknown",
	[PW_POD_PHASE_PENDING] = "Pending",
	[PW_POD_PHASE_RUNNING] = "Running",
	[PW_POD_PHASE_SUCCEEDED] = "Succeeded",
	[PW_POD_PHASE_FAILED] = "Failed",
};

static int decode_phase(struct decoder *d, const yaml_node_t *status, struct pw_pod *pod)
{
	const char *text;
	char q[QUOTE_BUF];
	int i;

	pod->phase = PW_POD_PHASE_UNKNOWN;
	if (get_string(d, status, "phase", false, &text) < 0)
		return -EINVAL;
	if (!text)
		return 0;
	i = pw_name_index(phase_names, PW_ARRAY_SIZE(phase_names), text);
	if (i >= 0) {
		pod->phase = (enum pw_pod_phase)i;
		return 0;
	}
	path_field(d, "phase");
	return fail(d, "unknown phase %s", quote(text, q));
}

static int decode_pod_status(struct decoder *d, const yaml_node_t *root,
			     struct pw_pod *pod)
{
	size_t mark = d->path.len;
	yaml_node_t *status;

	if (get_mapping(d, root, "status", &status) < 0)
		return -EINVAL;
	if (!status)
		return 0;
	path_field(d, "status");
	if (decode_phase(d, status, pod) < 0 || decode_pod_ips(d, status, pod) < 0)
		return -EINVAL;
	path_restore(d, mark);
	return 0;
}

static int decode_container_port(struct decoder *d, const yaml_node_t *n,
				 struct pw_container_port *p)
{
	struct pw_buf why = PW_BUF_INIT;
	size_t mark = d->path.len;
	yaml_node_t *number;
	const char *name;

	p->protocol = PW_PROTO_TCP;
	if (want_mapping(d, n) < 0 || get_protocol(d, n, &p->protocol) < 0 ||
	    get_string(d, n, "name", false, &name) < 0)
		return -EINVAL;
	if (name && pw_validate_port_name(name, &why) < 0) {
		path_field(d, "name");
		fail_invalid(d, "invalid port name", name, &why);
		pw_buf_free(&why);
		return -EINVAL;
	}
	path_field(d, "containerPort");
	number = field(d, n, "containerPort");
	if (!number)
		return fail(d, "required");
	if (want_port_number(d, number, &p->number) < 0)
		return -EINVAL;
	path_restore(d, mark);
	p->name = name ? pw_intern(name) : NULL;
	return 0;
}

static int decode_container_ports(struct decoder *d, const yaml_node_t *container,
				  struct pw_pod *pod, size_t *cap)
{
	size_t mark = path_field(d, "ports"), inner = d->path.len, count, i;
	yaml_node_item_t *items;

	if (want_list(d, field(d, container, "ports"), &items, &count) < 0)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		struct pw_container_port p = { NULL, 0, PW_PROTO_TCP };

		path_index(d, i);
		if (decode_container_port(d, node_at(d, items[i]), &p) < 0)
			return -EINVAL;
		PW_GROW(pod->ports, *cap, (size_t)pod->nports + 1);
		pod->ports[pod->nports++] = p;
		path_restore(d, inner);
	}
	path_restore(d, mark);
	return 0;
}

static int decode_containers(struct decoder *d, const yaml_node_t *spec, const char *key,
			     struct pw_pod *pod, size_t *cap)
{
	size_t mark = path_field(d, key), inner = d->path.len, count, i;
	yaml_node_item_t *items;

	if (want_list(d, field(d, spec, key), &items, &count) < 0)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		yaml_node_t *n = node_at(d, items[i]);

		path_index(d, i);
		if (is_null(n))
			continue;
		if (want_mapping(d, n) < 0 || decode_container_ports(d, n, pod, cap) < 0)
			return -EINVAL;
		path_restore(d, inner);
	}
	path_restore(d, mark);
	return 0;
}

static int decode_pod_spec(struct decoder *d, const yaml_node_t *root, struct pw_pod *pod)
{
	size_t mark = d->path.len, cap = 0;
	yaml_node_t *spec, *host;

	if (get_mapping(d, root, "spec", &spec) < 0)
		return -EINVAL;
	if (!spec)
		return 0;
	path_field(d, "spec");
	if (get_string_intern(d, spec, "nodeName", &pod->node_name) < 0)
		return -EINVAL;
	host = field(d, spec, "hostNetwork");
	if (host) {
		size_t inner = path_field(d, "hostNetwork");

		if (want_bool(d, host, &pod->host_network) < 0)
			return -EINVAL;
		path_restore(d, inner);
	}
	if (decode_containers(d, spec, "initContainers", pod, &cap) < 0 ||
	    decode_containers(d, spec, "containers", pod, &cap) < 0)
		return -EINVAL;
	path_restore(d, mark);
	return 0;
}

/* ---------------------------------------------------------- objects */

static int decode_namespace(struct decoder *d, const yaml_node_t *root,
			    struct pw_object *out)
{
	struct pw_namespace *ns;
	struct meta m;

	if (decode_meta(d, root, false, NULL, &m) < 0)
		return -EINVAL;
	ns = pw_xcalloc(1, sizeof(*ns));
	/* Interned: every pod and policy of the namespace names it too. */
	ns->name = pw_intern(m.name);
	ns->uid = m.uid ? pw_xstrdup(m.uid) : NULL;
	ns->labels = m.labels;
	ns->deny_log = m.deny_log;
	/* The API server sets it on every namespace, over any other value. */
	pw_labels_set(ns->labels, "kubernetes.io/metadata.name", ns->name);
	out->kind = PW_KIND_NAMESPACE;
	out->u.ns = ns;
	return 0;
}

/* The pod of parts in one allocation with its ports, addresses, name and uid. */
static struct pw_pod *pod_pack(struct pw_pod *parts, const char *name, const char *uid)
{
	size_t ports_size = parts->nports * sizeof(parts->ports[0]);
	size_t ips_size = parts->nips * sizeof(parts->ips[0]);
	size_t name_size = strlen(name) + 1, uid_size = uid ? strlen(uid) + 1 : 0;
	struct pw_pod *pod = pw_xmalloc(sizeof(*pod) + ports_size + ips_size + name_size +
					uid_size);
	char *tail = (char *)(pod + 1);

	*pod = *parts;
	/* sizeof(*pod) and ports_size keep the addresses aligned. */
	pod->ports = parts->nports ? memcpy(tail, parts->ports, ports_size) : NULL;
	tail += ports_size;
	pod->ips = parts->nips ? memcpy(tail, parts->ips, ips_size) : NULL;
	tail += ips_size;
	pod->name = memcpy(tail, name, name_size);
	tail += name_size;
	pod->uid = uid ? memcpy(tail, uid, uid_size) : NULL;
	free(parts->ports);
	free(parts->ips);
	return pod;
}

static int decode_pod(struct decoder *d, const yaml_node_t *root,
		      const char *default_namespace, struct pw_object *out)
{
	struct pw_pod parts, *pod;
	struct meta m;
	int ret = 0;

	if (decode_meta(d, root, true, default_namespace, &m) < 0)
		return -EINVAL;
	memset(&parts, 0, sizeof(parts));
	parts.namespace = m.ns;
	parts.labels = m.labels;
	if (decode_pod_spec(d, root, &parts) < 0 || decode_pod_status(d, root, &parts) < 0)
		ret = -EINVAL;
	pod = pod_pack(&parts, m.name, m.uid);
	if (ret < 0) {
		pw_pod_free(pod);
		return ret;
	}
	out->kind = PW_KIND_POD;
	out->u.pod = pod;
	return 0;
}

static int decode_policy(struct decoder *d, const yaml_node_t *root,
			 const char *default_namespace, struct pw_object *out)
{
	struct pw_policy *p;
	struct meta m;

	if (decode_meta(d, root, true, default_namespace, &m) < 0)
		return -EINVAL;
	p = pw_xcalloc(1, sizeof(*p));
	p->name = pw_xstrdup(m.name);
	p->namespace = m.ns;
	p->uid = m.uid ? pw_xstrdup(m.uid) : NULL;
	/* Policies have labels, but nothing selects policies by them. */
	pw_labels_free(m.labels);
	if (decode_policy_spec(d, root, p) < 0) {
		pw_policy_free(p);
		return -EINVAL;
	}
	out->kind = PW_KIND_POLICY;
	out->u.policy = p;
	return 0;
}

/* ----------------------------------------------------------- dispatch */

static const struct {
	const char *kind;
	const char *api_version;
	bool namespaced;
} known_kinds[] = {
	{ "Namespace", "v1", false },
	{ "Pod", "v1", true },
	{ "NetworkPolicy", "networking.k8s.io/v1", true },
};

/* A lenient look at a key, before the mapping is checked, for messages. */
static const char *peek_string(struct decoder *d, const yaml_node_t *map, const char *key)
{
	size_t len = strlen(key);
	yaml_node_pair_t *pair;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = node_at(d, pair->key), *v;

		if (!k || k->type != YAML_SCALAR_NODE || k->data.scalar.length != len ||
		    memcmp(scalar_text(k), key, len) != 0)
			continue;
		v = node_at(d, pair->value);
		if (!v || v->type != YAML_SCALAR_NODE || scalar_type(v) != SCALAR_STRING)
			return NULL;
		return scalar_text(v);
	}
	return NULL;
}

static yaml_node_t *peek_node(struct decoder *d, const yaml_node_t *map, const char *key)
{
	size_t len = strlen(key);
	yaml_node_pair_t *pair;

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = node_at(d, pair->key);

		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == len &&
		    memcmp(scalar_text(k), key, len) == 0)
			return node_at(d, pair->value);
	}
	return NULL;
}

/* Sets what messages call the object, from whatever looks usable. */
static int find_kind(struct decoder *d, const yaml_node_t *root, const char *default_ns)
{
	const char *kind = peek_string(d, root, "kind");
	yaml_node_t *md = peek_node(d, root, "metadata");
	const char *ns = peek_string(d, md, "namespace");
	size_t i;

	d->kind = kind ? kind : "object";
	d->name = peek_string(d, md, "name");
	d->ns = ns ? ns : default_ns;
	for (i = 0; i < PW_ARRAY_SIZE(known_kinds); i++) {
		if (kind && strcmp(kind, known_kinds[i].kind) == 0) {
			if (!known_kinds[i].namespaced)
				d->ns = NULL;
			return (int)i;
		}
	}
	return -1;
}

static int check_api_version(struct decoder *d, const yaml_node_t *root, int known)
{
	const char *want = known_kinds[known].api_version, *have;
	char q1[QUOTE_BUF], q2[QUOTE_BUF];

	if (get_string(d, root, "apiVersion", true, &have) < 0)
		return -EINVAL;
	if (strcmp(have, want) != 0) {
		path_field(d, "apiVersion");
		return fail(d, "%s is not an API version of %s (expected %s)",
			    quote(have, q1), known_kinds[known].kind, quote(want, q2));
	}
	return 0;
}

static int decode_as(struct decoder *d, const yaml_node_t *root, int known,
		     const char *default_ns, struct pw_object *out)
{
	switch (known) {
	case 0:
		return decode_namespace(d, root, out);
	case 1:
		return decode_pod(d, root, default_ns, out);
	default:
		return decode_policy(d, root, default_ns, out);
	}
}

static int decode_known(struct decoder *d, const yaml_node_t *root, int known,
			const char *default_ns, struct pw_object *out)
{
	if (check_api_version(d, root, known) < 0)
		return -EINVAL;
	return decode_as(d, root, known, default_ns, out);
}

static size_t document_size(const yaml_document_t *doc)
{
	return (size_t)(doc->nodes.top - doc->nodes.start);
}

enum pw_decode_result pw_decode_object(yaml_document_t *doc, yaml_node_t *node,
				       const char *default_namespace,
				       struct pw_object *out, struct pw_buf *err)
{
	struct decoder d = { doc, err, PW_BUF_INIT, "object", NULL, NULL, 0 };
	enum pw_decode_result result = PW_DECODE_ERROR;
	struct pw_object obj;
	const char *kind;
	int known;

	if (!default_namespace)
		default_namespace = "default";
	d.budget = BUDGET_PER_NODE * document_size(doc) + BUDGET_EXTRA;
	if (!node || node->type != YAML_MAPPING_NODE) {
		fail(&d, "expected a mapping, found %s", describe(node));
		goto out;
	}
	known = find_kind(&d, node, default_namespace);
	if (want_mapping(&d, node) < 0 || get_string(&d, node, "kind", true, &kind) < 0)
		goto out;
	if (known < 0) {
		pw_buf_reset(err);
		pw_buf_puts(err, "skipping ");
		put_object(err, &d);
		pw_buf_puts(err, ": kind not used by podwall");
		result = PW_DECODE_SKIPPED;
		goto out;
	}
	if (decode_known(&d, node, known, default_namespace, &obj) < 0)
		goto out;
	*out = obj;
	result = PW_DECODE_OK;
out:
	pw_buf_free(&d.path);
	return result;
}

/* kind and apiVersion, when there, must be those of the expected kind. */
static int check_optional(struct decoder *d, const yaml_node_t *root, const char *key,
			  const char *want)
{
	char q1[QUOTE_BUF], q2[QUOTE_BUF];
	const char *have;

	if (get_string(d, root, key, false, &have) < 0)
		return -EINVAL;
	if (have && strcmp(have, want) != 0) {
		path_field(d, key);
		return fail(d, "found %s where %s was expected", quote(have, q1),
			    quote(want, q2));
	}
	return 0;
}

int pw_decode_typed_object(yaml_document_t *doc, yaml_node_t *node, enum pw_kind kind,
			   struct pw_object *out, struct pw_buf *err)
{
	struct decoder d = { doc, err, PW_BUF_INIT, "object", NULL, NULL, 0 };
	int known = kind == PW_KIND_NAMESPACE ? 0 : kind == PW_KIND_POD ? 1 : 2;
	struct pw_object obj;
	int ret = -EINVAL;

	d.budget = BUDGET_PER_NODE * document_size(doc) + BUDGET_EXTRA;
	/* Messages name the kind we expect, whatever the object claims. */
	d.kind = known_kinds[known].kind;
	if (!node || node->type != YAML_MAPPING_NODE) {
		fail(&d, "expected a mapping, found %s", describe(node));
		goto out;
	}
	find_kind(&d, node, NULL);
	d.kind = known_kinds[known].kind;
	if (!known_kinds[known].namespaced)
		d.ns = NULL;
	if (want_mapping(&d, node) < 0 ||
	    check_optional(&d, node, "kind", known_kinds[known].kind) < 0 ||
	    check_optional(&d, node, "apiVersion", known_kinds[known].api_version) < 0 ||
	    decode_as(&d, node, known, NULL, &obj) < 0)
		goto out;
	*out = obj;
	ret = 0;
out:
	pw_buf_free(&d.path);
	return ret;
}

/*
 * The egress list decides Egress when policyTypes does not: a non-empty
 * one, or anything else that is there and not a list, counts.
 */
static bool has_egress(struct decoder *d, const yaml_node_t *spec)
{
	yaml_node_t *egress = field(d, spec, "egress");

	return egress && (egress->type != YAML_SEQUENCE_NODE ||
			  egress->data.sequence.items.top > egress->data.sequence.items.start);
}

int pw_decode_policy_isolation(yaml_document_t *doc, yaml_node_t *node,
			       struct pw_object *out)
{
	struct pw_buf err = PW_BUF_INIT;
	struct decoder d = { doc, &err, PW_BUF_INIT, "NetworkPolicy", NULL, NULL, 0 };
	yaml_node_t *md, *spec;
	struct pw_policy *p;
	struct meta m;
	int ret = -EINVAL;

	memset(&m, 0, sizeof(m));
	d.budget = BUDGET_PER_NODE * document_size(doc) + BUDGET_EXTRA;
	if (!node || node->type != YAML_MAPPING_NODE || want_mapping(&d, node) < 0)
		goto out;
	md = field(&d, node, "metadata");
	if (!md || want_mapping(&d, md) < 0 || decode_meta_names(&d, md, true, NULL, &m) < 0)
		goto out;
	p = pw_xcalloc(1, sizeof(*p));
	p->name = pw_xstrdup(m.name);
	p->namespace = m.ns;
	/* Opaque strings: a malformed one is only left out. */
	if (get_string_dup(&d, md, "uid", &p->uid) < 0)
		p->uid = NULL;
	spec = field(&d, node, "spec");
	if (spec && want_mapping(&d, spec) < 0)
		spec = NULL;
	/* Unreadable, it could select any pod of the namespace: it selects all. */
	if (!spec || get_selector(&d, spec, "podSelector", &p->pod_selector) < 0) {
		pw_selector_free(p->pod_selector);
		p->pod_selector = pw_selector_new();
	}
	/* Unreadable, the types are both: isolated both ways. */
	if (!spec || decode_policy_types(&d, spec, &p->types) < 0)
		p->types = PW_POLICY_INGRESS | PW_POLICY_EGRESS;
	else if (!p->types)
		p->types = PW_POLICY_INGRESS | (has_egress(&d, spec) ? PW_POLICY_EGRESS : 0);
	out->kind = PW_KIND_POLICY;
	out->u.policy = p;
	ret = 0;
out:
	pw_buf_free(&d.path);
	pw_buf_free(&err);
	return ret;
}
