#include "config.h"

#include <stdbool.h>
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

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The characters of numbers, true, false and null. */
static bool is_json_word(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		c == '+' || c == '-' || c == '.';
}

size_t pw_json_plain_length(const char *text, size_t len, size_t *depth)
{
	size_t i, open = 0;
	char prev = 0;		/* the last byte outside strings and space */

	*depth = 0;
	for (i = 0; i < len; i++) {
		char c = text[i];

		if (is_json_space(c))
			continue;
		/* One object or array, and nothing after it. */
		if (prev ? !open : c != '{' && c != '[')
			return i;
		if (c == '"') {
			if (prev != '{' && prev != '[' && prev != ',' && prev != ':')
				return i;
			for (i++; i < len && text[i] != '"'; i++)
				i += text[i] == '\\';
			if (i >= len)
				return len;	/* to libyaml too, a string to the end */
		} else if (c == '{' || c == '[') {
			if (++open > *depth)
				*depth = open;
		} else if (c == '}' || c == ']') {
			open--;
		} else if (c == ':' ? prev != '"' : c != ',' && !is_json_word(c)) {
			return i;
		}
		prev = c;
	}
	return len;
}
