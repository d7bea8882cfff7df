#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "lib/hash.h"
#include "lib/strmap.h"
#include "lib/util.h"

struct slot {
	char *key;		/* NULL: empty */
	void *value;
	uint32_t hash;
};

struct pw_strmap {
	struct slot *slots;
	size_t cap;		/* a power of two */
	size_t count;
};

struct pw_strmap *pw_strmap_new(void)
{
	struct pw_strmap *m = pw_xcalloc(1, sizeof(*m));

	m->cap = 16;
	m->slots = pw_xcalloc(m->cap, sizeof(*m->slots));
	return m;
}

void pw_strmap_free(struct pw_strmap *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	free(m);
}

static struct slot *find(const struct pw_strmap *m, const char *key, uint32_t h)
{
	size_t i = h & (m->cap - 1);

	for (;;) {
		struct slot *s = &m->slots[i];

		if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
			return s;
		i = (i + 1) & (m->cap - 1);
	}
}

static void rehash(struct pw_strmap *m, size_t cap)
{
	struct slot *old = m->slots;
	size_t oldcap = m->cap, i;

	m->slots = pw_xcalloc(cap, sizeof(*m->slots));
	m->cap = cap;
	for (i = 0; i < oldcap; i++) {
		if (old[i].key)
			*find(m, old[i].key, old[i].hash) = old[i];
	}
	free(old);
}

void *pw_strmap_get(const struct pw_strmap *m, const char *key)
{
	struct slot *s = find(m, key, pw_hash_str(key));

	return s->key ? s->value : NULL;
}

void *pw_strmap_put(struct pw_strmap *m, const char *key, void *value)
{
	void **slot, *old;

	pw_strmap_entry(m, key, &slot);
	old = *slot;
	*slot = value;
	return old;
}

const char *pw_strmap_entry(struct pw_strmap *m, const char *key, void ***value)
{
	return pw_strmap_entry_hashed(m, key, pw_hash_str(key), value);
}

const char *pw_strmap_entry_hashed(struct pw_strmap *m, const char *key, uint32_t h,
				   void ***value)
{
	struct slot *s = find(m, key, h);

	if (!s->key) {
		/* Grown first, so that the slot found is the one that stays. */
		if ((m->count + 1) * 4 >= m->cap * 3) {
			rehash(m, m->cap * 2);
			s = find(m, key, h);
		}
		s->key = pw_xstrdup(key);
		s->hash = h;
		s->value = NULL;
		m->count++;
	}
	*value = &s->value;
	return s->key;
}

void *pw_strmap_del(struct pw_strmap *m, const char *key)
{
	struct slot *s = find(m, key, pw_hash_str(key));
	size_t i, j;
	void *value;

	if (!s->key)
		return NULL;
	value = s->value;
	free(s->key);
	s->key = NULL;
	m->count--;
	/* Backward-shift deletion keeps probe chains intact without tombstones. */
	i = (size_t)(s - m->slots);
	j = i;
	for (;;) {
		size_t home;

		j = (j + 1) & (m->cap - 1);
		if (!m->slots[j].key)
			break;
		home = m->slots[j].hash & (m->cap - 1);
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			m->slots[j].key = NULL;
			i = j;
		}
	}
	return value;
}

size_t pw_strmap_count(const struct pw_strmap *m)
{
	return m->count;
}

int pw_strmap_foreach(const struct pw_strmap *m,
		      int (*fn)(const char *key, void *value, void *ctx), void *ctx)
{
	size_t i;
	int r;

	for (i = 0; i < m->cap; i++) {
		if (m->slots[i].key && (r = fn(m->slots[i].key, m->slots[i].value, ctx)))
			return r;
	}
	return 0;
}
