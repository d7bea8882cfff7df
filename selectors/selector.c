#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "selectors/selector.h"

struct requirement {
	char *key;
	enum pw_selector_op op;
	char **values;		/* sorted, without duplicates */
	size_t nvalues;
};

struct pw_selector {
	struct requirement *reqs;	/* in the order they were added */
	size_t count;
	size_t cap;
	char *canonical;		/* built on demand, NULL when stale */
};

static const char *const op_names[] = {
	[PW_SELECTOR_IN] = "In",
	[PW_SELECTOR_NOT_IN] = "NotIn",
	[PW_SELECTOR_EXISTS] = "Exists",
	[PW_SELECTOR_DOES_NOT_EXIST] = "DoesNotExist",
};

static bool op_is_valid(enum pw_selector_op op)
{
	return (unsigned)op < PW_ARRAY_SIZE(op_names);
}

static bool op_takes_values(enum pw_selector_op op)
{
	return op == PW_SELECTOR_IN || op == PW_SELECTOR_NOT_IN;
}

struct pw_selector *pw_selector_new(void)
{
	return pw_xcalloc(1, sizeof(struct pw_selector));
}

static void requirement_clear(struct requirement *r)
{
	size_t i;

	for (i = 0; i < r->nvalues; i++)
		free(r->values[i]);
	free(r->values);
	free(r->key);
}

void pw_selector_free(struct pw_selector *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->count; i++)
		requirement_clear(&s->reqs[i]);
	free(s->reqs);
	free(s->canonical);
	free(s);
}

struct pw_selector *pw_selector_dup(const struct pw_selector *s)
{
	struct pw_selector *copy = pw_selector_new();
	size_t i, j;

	if (s->count)
		PW_GROW(copy->reqs, copy->cap, s->count);
	for (i = 0; i < s->count; i++) {
		const struct requirement *from = &s->reqs[i];
		struct requirement *to = &copy->reqs[i];

		to->key = pw_xstrdup(from->key);
		to->op = from->op;
		to->nvalues = from->nvalues;
		to->values = NULL;
		if (from->nvalues) {
			to->values = pw_xmalloc(from->nvalues * sizeof(*to->values));
			for (j = 0; j < from->nvalues; j++)
				to->values[j] = pw_xstrdup(from->values[j]);
		}
	}
	copy->count = s->count;
	if (s->canonical)
		copy->canonical = pw_xstrdup(s->canonical);
	return copy;
}

static void invalidate_canonical(struct pw_selector *s)
{
	free(s->canonical);
	s->canonical = NULL;
}

/* Sorting once here lets matching use binary search and canonical skip a copy. */
static void sort_unique(char **values, size_t *nvalues)
{
	size_t i, n = 0;

	if (*nvalues < 2)
		return;
	qsort(values, *nvalues, sizeof(*values), pw_strcmp_ptr);
	for (i = 1; i < *nvalues; i++) {
		if (strcmp(values[i], values[n]) == 0)
			free(values[i]);
		else
			values[++n] = values[i];
	}
	*nvalues = n + 1;
}

static void add(struct pw_selector *s, const char *key, enum pw_selector_op op,
		const char *const *values, size_t nvalues)
{
	struct requirement *r;
	size_t i;

	PW_GROW(s->reqs, s->cap, s->count + 1);
	r = &s->reqs[s->count++];
	r->key = pw_xstrdup(key);
	r->op = op;
	r->nvalues = nvalues;
	r->values = NULL;
	if (nvalues) {
		r->values = pw_xmalloc(nvalues * sizeof(*r->values));
		for (i = 0; i < nvalues; i++)
			r->values[i] = pw_xstrdup(values[i]);
		sort_unique(r->values, &r->nvalues);
	}
	invalidate_canonical(s);
}

void pw_selector_add_label(struct pw_selector *s, const char *key, const char *value)
{
	add(s, key, PW_SELECTOR_IN, &value, 1);
}

int pw_selector_add_requirement(struct pw_selector *s, const char *key,
				enum pw_selector_op op,
				const char *const *values, size_t nvalues)
{
	if (!op_is_valid(op) || op_takes_values(op) != (nvalues > 0))
		return -EINVAL;
	add(s, key, op, values, nvalues);
	return 0;
}

int pw_selector_op_parse(const char *text, enum pw_selector_op *out)
{
	int i = pw_name_index(op_names, PW_ARRAY_SIZE(op_names), text);

	if (i < 0)
		return -EINVAL;
	*out = (enum pw_selector_op)i;
	return 0;
}

const char *pw_selector_op_name(enum pw_selector_op op)
{
	return op_is_valid(op) ? op_names[op] : "?";
}

static bool values_contain(const struct requirement *r, const char *value)
{
	size_t lo = 0, hi = r->nvalues;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(value, r->values[mid]);

		if (c == 0)
			return true;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return false;
}

static bool requirement_matches(const struct requirement *r,
				const struct pw_labels *labels)
{
	const char *value = pw_labels_get(labels, r->key);

	switch (r->op) {
	case PW_SELECTOR_IN:
		return value && values_contain(r, value);
	case PW_SELECTOR_NOT_IN:
		return !value || !values_contain(r, value);
	case PW_SELECTOR_EXISTS:
		return value != NULL;
	case PW_SELECTOR_DOES_NOT_EXIST:
		return value == NULL;
	}
	return false;
}

bool pw_selector_matches(const struct pw_selector *s, const struct pw_labels *labels)
{
	size_t i;

	for (i = 0; i < s->count; i++) {
		if (!requirement_matches(&s->reqs[i], labels))
			return false;
	}
	return true;
}

bool pw_selector_is_empty(const struct pw_selector *s)
{
	return s->count == 0;
}

static int requirement_cmp(const struct requirement *a, const struct requirement *b)
{
	size_t i;
	int c = strcmp(a->key, b->key);

	if (c)
		return c;
	/* The enum is declared in canonical order: In, NotIn, Exists, DoesNotExist. */
	if (a->op != b->op)
		return a->op < b->op ? -1 : 1;
	for (i = 0; i < a->nvalues && i < b->nvalues; i++) {
		c = strcmp(a->values[i], b->values[i]);
		if (c)
			return c;
	}
	if (a->nvalues != b->nvalues)
		return a->nvalues < b->nvalues ? -1 : 1;
	return 0;
}

static int requirement_ptr_cmp(const void *a, const void *b)
{
	return requirement_cmp(*(const struct requirement *const *)a,
			       *(const struct requirement *const *)b);
}

static void format_requirement(struct pw_buf *buf, const struct requirement *r)
{
	size_t i;

	switch (r->op) {
	case PW_SELECTOR_IN:
	case PW_SELECTOR_NOT_IN:
		pw_buf_printf(buf, "%s %s (", r->key,
			      r->op == PW_SELECTOR_IN ? "in" : "notin");
		for (i = 0; i < r->nvalues; i++) {
			if (i)
				pw_buf_putc(buf, ',');
			pw_buf_puts(buf, r->values[i]);
		}
		pw_buf_putc(buf, ')');
		break;
	case PW_SELECTOR_EXISTS:
		pw_buf_puts(buf, r->key);
		break;
	case PW_SELECTOR_DOES_NOT_EXIST:
		pw_buf_printf(buf, "!%s", r->key);
		break;
	}
}

static char *build_canonical(const struct pw_selector *s)
{
	struct pw_buf buf = PW_BUF_INIT;
	const struct requirement **sorted;
	size_t i;

	if (s->count == 0)
		return pw_xstrdup("");
	sorted = pw_xmalloc(s->count * sizeof(*sorted));
	for (i = 0; i < s->count; i++)
		sorted[i] = &s->reqs[i];
	qsort(sorted, s->count, sizeof(*sorted), requirement_ptr_cmp);
	for (i = 0; i < s->count; i++) {
		if (i && requirement_cmp(sorted[i - 1], sorted[i]) == 0)
			continue;
		if (i)
			pw_buf_putc(&buf, ',');
		format_requirement(&buf, sorted[i]);
	}
	free(sorted);
	return pw_buf_steal(&buf);
}

const char *pw_selector_canonical(const struct pw_selector *s)
{
	/*
	 * The cache is not part of the selector's value, so filling it in
	 * through a const pointer is honest: callers see no change.
	 */
	struct pw_selector *cache = (struct pw_selector *)s;

	if (!cache->canonical)
		cache->canonical = build_canonical(s);
	return cache->canonical;
}
