/*
 * A string-keyed hash map (open addressing, linear probing). Keys are
 * copied; values are the caller's and are never freed by the map.
 */
#ifndef PW_STRMAP_H
#define PW_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct pw_strmap;

struct pw_strmap *pw_strmap_new(void);
void pw_strmap_free(struct pw_strmap *m);

void *pw_strmap_get(const struct pw_strmap *m, const char *key);
/* Stores value under key and returns the value it replaced, or NULL. */
void *pw_strmap_put(struct pw_strmap *m, const char *key, void *value);
/*
 * Finds key, adding it with a NULL value when absent, with one hash of it.
 * Returns the map's own copy of key, which keeps its address for as long as
 * the key is in the map; *value gets where its value is kept, valid until
 * the map next changes.
 */
const char *pw_strmap_entry(struct pw_strmap *m, const char *key, void ***value);
/* The same, for a caller that has key's pw_hash_str() already. */
const char *pw_strmap_entry_hashed(struct pw_strmap *m, const char *key, uint32_t hash,
				   void ***value);
/* Removes key and returns its value, or NULL when absent. */
void *pw_strmap_del(struct pw_strmap *m, const char *key);
size_t pw_strmap_count(const struct pw_strmap *m);

/*
 * Walks the entries in an unspecified order; the map must not change during
 * the walk. A non-zero return from fn stops it and is returned.
 */
int pw_strmap_foreach(const struct pw_strmap *m,
		      int (*fn)(const char *key, void *value, void *ctx), void *ctx);

#endif
