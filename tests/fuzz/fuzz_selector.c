/*
 * Label selectors as the API gives them: the first YAML (or JSON) document
 * of the input is decoded as a NetworkPolicy's spec.podSelector (matchLabels,
 * matchExpressions, operators, values, their validation); the second, when
 * it is a mapping, is a set of labels to match against, unvalidated. The
 * selector's canonical form must parse back to itself, whatever the order
 * of its requirements, and matching must agree with a plain reference.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <yaml.h>

#include "k8s/decode.h"
#include "selectors/selector.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WHERE "NetworkPolicy f/f: spec.podSelector"

static int add_scalar(yaml_document_t *doc, const char *text)
{
	return yaml_document_add_scalar(doc, NULL, (yaml_char_t *)text, -1,
					YAML_PLAIN_SCALAR_STYLE);
}

static void add_pair(yaml_document_t *doc, int map, const char *key, int value)
{
	if (!yaml_document_append_mapping_pair(doc, map, add_scalar(doc, key), value))
		abort();
}

/* Wraps the node selector (the document's root) into a whole policy. */
static int wrap_in_policy(yaml_document_t *doc, int selector)
{
	int top = yaml_document_add_mapping(doc, NULL, YAML_ANY_MAPPING_STYLE);
	int md = yaml_document_add_mapping(doc, NULL, YAML_ANY_MAPPING_STYLE);
	int spec = yaml_document_add_mapping(doc, NULL, YAML_ANY_MAPPING_STYLE);

	if (!top || !md || !spec)
		abort();
	add_pair(doc, md, "name", add_scalar(doc, "f"));
	add_pair(doc, md, "namespace", add_scalar(doc, "f"));
	add_pair(doc, spec, "podSelector", selector);
	add_pair(doc, top, "apiVersion", add_scalar(doc, "networking.k8s.io/v1"));
	add_pair(doc, top, "kind", add_scalar(doc, "NetworkPolicy"));
	add_pair(doc, top, "metadata", md);
	add_pair(doc, top, "spec", spec);
	return top;
}

/* An operator's name parses to the operator, which takes values or not. */
static void check_operator(const char *text)
{
	static const char *const one[] = { "v" };
	struct pw_selector *s;
	enum pw_selector_op op;
	bool takes_values;

	if (pw_selector_op_parse(text, &op) < 0)
		return;
	FUZZ_ASSERT(strcmp(pw_selector_op_name(op), text) == 0);
	takes_values = op == PW_SELECTOR_IN || op == PW_SELECTOR_NOT_IN;
	s = pw_selector_new();
	FUZZ_ASSERT((pw_selector_add_requirement(s, "k", op, one, 1) == 0) == takes_values);
	FUZZ_ASSERT((pw_selector_add_requirement(s, "k", op, NULL, 0) == 0) != takes_values);
	FUZZ_ASSERT(!pw_selector_is_empty(s));
	pw_selector_free(s);
}

/* The second document's scalar pairs, as labels; NULL when there is none. */
static struct pw_labels *load_labels(yaml_parser_t *parser)
{
	struct pw_labels *labels = NULL;
	yaml_node_pair_t *pair;
	yaml_document_t doc;
	yaml_node_t *root;

	if (!yaml_parser_load(parser, &doc))
		return NULL;
	root = yaml_document_get_root_node(&doc);
	if (root && root->type == YAML_MAPPING_NODE) {
		labels = pw_labels_new();
		for (pair = root->data.mapping.pairs.start;
		     pair < root->data.mapping.pairs.top; pair++) {
			yaml_node_t *k = yaml_document_get_node(&doc, pair->key);
			yaml_node_t *v = yaml_document_get_node(&doc, pair->value);

			if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
				continue;
			pw_labels_set(labels, (const char *)k->data.scalar.value,
				      (const char *)v->data.scalar.value);
			check_operator((const char *)k->data.scalar.value);
		}
	}
	yaml_document_delete(&doc);
	return labels;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pw_buf err = PW_BUF_INIT;
	struct pw_labels *labels = NULL;
	enum pw_decode_result result;
	yaml_parser_t parser;
	yaml_document_t doc;
	struct pw_object obj;
	int top;

	/* Loading the input is the harness's doing, not podwall's. */
	fuzz_unwatched_loads(true);
	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, data, size);
	if (!yaml_parser_load(&parser, &doc))
		goto out;
	if (!yaml_document_get_root_node(&doc)) {
		yaml_document_delete(&doc);
		goto out;
	}
	labels = load_labels(&parser);
	top = wrap_in_policy(&doc, 1);
	result = pw_decode_object(&doc, yaml_document_get_node(&doc, top), "default",
				  &obj, &err);
	if (result == PW_DECODE_OK) {
		FUZZ_ASSERT(obj.kind == PW_KIND_POLICY);
		fuzz_check_selector(obj.u.policy->pod_selector, labels);
		pw_object_free(&obj);
	} else {
		/* Whatever is wrong, it is in the selector, and said in one line. */
		FUZZ_ASSERT(result == PW_DECODE_ERROR);
		FUZZ_ASSERT(strncmp(pw_buf_str(&err), WHERE, strlen(WHERE)) == 0);
		FUZZ_ASSERT(fuzz_is_one_line(pw_buf_str(&err)));
	}
	yaml_document_delete(&doc);
out:
	pw_labels_free(labels);
	yaml_parser_delete(&parser);
	pw_buf_free(&err);
	return 0;
}
