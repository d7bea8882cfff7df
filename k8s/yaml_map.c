#include "config.h"

#include <string.h>

#include "k8s/yaml_map.h"

yaml_node_t *pw_yaml_lookup(yaml_document_t *doc, const yaml_node_t *map, const char *key)
{
	size_t len = strlen(key);
	yaml_node_pair_t *pair;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
	     pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);

		if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == len &&
		    memcmp(k->data.scalar.value, key, len) == 0)
			return yaml_document_get_node(doc, pair->value);
	}
	return NULL;
}
