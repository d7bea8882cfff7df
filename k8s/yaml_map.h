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

#endif
