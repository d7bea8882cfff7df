#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/intern.h"
#include "lib/util.h"
#include "selectors/labels.h"

/* Both interned: pods of one workload repeat the same few keys and values. */
struct label {
	const char *key;
	const char *value;
};

/*
 * A sorted array rather than a hash map: pods carry a handful of labels, so
 * binary search is as fast, iteration in key order is free, and equality is
 * a single linear walk.
 */
struct pw_labels {
	struct label *entries;		/* room, until more are set than it holds */
	uint32_t count;
	uint32_t cap;
	struct label room[];		/* one allocation for a decoded object's */
};

struct pw_labels *pw_labels_new_with_room(size_t room)
{
	struct pw_labels *l;

	if (room > UINT32_MAX)
		abort();
	l = pw_xmalloc(sizeof(*l) + room * sizeof(l->room[0]));
	l->entries = l->room;
	l->count = 0;
	l->cap = (uint32_t)room;
	return l;
}

struct pw_labels *pw_labels_new(void)
{
	return pw_labels_new_with_room(0);
}

void pw_labels_free(struct pw_labels *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->count; i++) {
		pw_intern_release(l->entries[i].key);
		pw_intern_release(l->entries[i].value);
	}
	if (l->entries != l->room)
		free(l->entries);
	free(l);
}

static void labels_grow(struct pw_labels *l)
{
	size_t cap = l->cap ? (size_t)l->cap * 2 : 2;
	struct label *entries;

	if (cap > UINT32_MAX)
		abort();
	entries = pw_xmalloc(cap * sizeof(entries[0]));
	memcpy(entries, l->entries, l->count * sizeof(entries[0]));
	if (l->entries != l->room)
		free(l->entries);
	l->entries = entries;
	l->cap = (uint32_t)cap;
}

struct pw_labels *pw_labels_dup(const struct pw_labels *l)
{
	struct pw_labels *copy = pw_labels_new_with_room(l->count);
	size_t i;

	for (i = 0; i < l->count; i++) {
		copy->entries[i].key = pw_intern(l->entries[i].key);
		copy->entries[i].value = pw_intern(l->entries[i].value);
	}
	copy->count = l->count;
	return copy;
}

/*
 * Binary search for key. Returns true when found, and in *pos the index of
 * the entry, or where it would be inserted to keep the array sorted.
 */
static bool labels_find(const struct pw_labels *l, const char *key, size_t *pos)
{
	size_t lo = 0, hi = l->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(key, l->entries[mid].key);

		if (r == 0) {
			*pos = mid;
			return true;
		}
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*pos = lo;
	return false;
}

void pw_labels_set(struct pw_labels *l, const char *key, const char *value)
{
	size_t pos;
	const char *copy;

	if (labels_find(l, key, &pos)) {
		/* Held first: value may be the string being let go. */
		copy = pw_intern(value);
		pw_intern_release(l->entries[pos].value);
		l->entries[pos].value = copy;
		return;
	}
	if (l->count == l->cap)
		labels_grow(l);
	memmove(&l->entries[pos + 1], &l->entries[pos],
		(l->count - pos) * sizeof(l->entries[0]));
	l->entries[pos].key = pw_intern(key);
	l->entries[pos].value = pw_intern(value);
	l->count++;
}

int pw_labels_unset(struct pw_labels *l, const char *key)
{
	size_t pos;

	if (!labels_find(l, key, &pos))
		return -ENOENT;
	pw_intern_release(l->entries[pos].key);
	pw_intern_release(l->entries[pos].value);
	memmove(&l->entries[pos], &l->entries[pos + 1],
		(l->count - pos - 1) * sizeof(l->entries[0]));
	l->count--;
	return 0;
}

const char *pw_labels_get(const struct pw_labels *l, const char *key)
{
	size_t pos;

	return labels_find(l, key, &pos) ? l->entries[pos].value : NULL;
}

size_t pw_labels_count(const struct pw_labels *l)
{
	return l->count;
}

const char *pw_labels_key(const struct pw_labels *l, size_t i)
{
	return i < l->count ? l->entries[i].key : NULL;
}

const char *pw_labels_value(const struct pw_labels *l, size_t i)
{
	return i < l->count ? l->entries[i].value : NULL;
}

bool pw_labels_equal(const struct pw_labels *a, const struct pw_labels *b)
{
	size_t i;

	if (a->count != b->count)
		return false;
	/*
	 * Both arrays are sorted by key, so equal sets line up entry by entry;
	 * interned, equal strings are one pointer.
	 */
	for (i = 0; i < a->count; i++) {
		if (a->entries[i].key != b->entries[i].key ||
		    a->entries[i].value != b->entries[i].value)
			return false;
	}
	return true;
}
