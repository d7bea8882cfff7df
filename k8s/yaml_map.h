/* Reading libyaml's document trees: shared by every decoder of k8s/. */
#ifndef PW_YAML_MAP_H
#define PW_YAML_MAP_H

#include <yaml.h>

/*
 * The value under key when map is a mapping with scalar keys, else NULL
 * (also for a NULL map). Keys compare by length and bytes, so a key with
 * an embedded NUL never passes for a shorter one.
 */
yaml_node_t *pw_yaml_lookup(yaml_document_t *doc, const yaml_node_t *map, const char *key);

/*
 * How much of text is plain JSON: one object or array, a quote only where
 * a key or a value starts, a colon only after a key, and outside strings
 * nothing else but brackets, commas, numbers, true, false, null and white
 * space. Past that point libyaml, which reads YAML, may see what JSON does
 * not: in [a"b, [[... a plain scalar, then lists nested as deep as the
 * brackets go. Returns len when all of text is plain JSON, else the offset
 * of the first byte that is not; *depth gets the deepest nesting before it.
 */
size_t pw_json_plain_length(const char *text, size_t len, size_t *depth);

#endif
