/* A set of Kubernetes labels: unique keys, each with one value. */
#ifndef PW_LABELS_H
#define PW_LABELS_H

#include <stdbool.h>
#include <stddef.h>

struct pw_labels;

struct pw_labels *pw_labels_new(void);
/*
 * A set with room for that many entries in its own allocation: for a
 * caller that knows how many it will set. More still fit.
 */
struct pw_labels *pw_labels_new_with_room(size_t room);
void pw_labels_free(struct pw_labels *l);
struct pw_labels *pw_labels_dup(const struct pw_labels *l);

/* Copies key and value; replaces the value of an existing key. */
void pw_labels_set(struct pw_labels *l, const char *key, const char *value);
/* Returns 0, or -ENOENT when the key was not there. */
int pw_labels_unset(struct pw_labels *l, const char *key);
/* The value, or NULL when the key is absent ("" is a valid value). */
const char *pw_labels_get(const struct pw_labels *l, const char *key);

/* Entries in key order, for rendering and comparison. */
size_t pw_labels_count(const struct pw_labels *l);
const char *pw_labels_key(const struct pw_labels *l, size_t i);
const char *pw_labels_value(const struct pw_labels *l, size_t i);

bool pw_labels_equal(const struct pw_labels *a, const struct pw_labels *b);

#endif
