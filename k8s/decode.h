/*
 * Turns one API object, as a libyaml node tree (YAML manifest or JSON from
 * the API server: libyaml reads both), into a podwall object. It applies
 * what the API server would (defaulting) and refuses what it would refuse
 * (validation), naming the field at fault.
 */
#ifndef PW_DECODE_H
#define PW_DECODE_H

#include <yaml.h>

#include "k8s/object.h"
#include "lib/util.h"

enum pw_decode_result {
	PW_DECODE_OK = 0,	/* *out holds the object */
	PW_DECODE_SKIPPED = 1,	/* a kind podwall does not use; *err says which */
	PW_DECODE_ERROR = -1,	/* invalid; *err says where and why */
};

/*
 * Decodes the mapping at node. default_namespace fills a namespaced
 * object's missing metadata.namespace (kubectl's "default").
 *
 * On PW_DECODE_ERROR, err receives one line without trailing newline in the
 * form  "<Kind> <namespace>/<name>: <field path>: <problem>"  for example
 *   NetworkPolicy x/allow: spec.ingress[0].from[1].ipBlock.cidr: invalid CIDR "10.0.0.0/33"
 * (the caller prefixes the file and document). On PW_DECODE_SKIPPED it
 * receives e.g. "skipping Deployment stars/backend: kind not used by podwall".
 */
enum pw_decode_result pw_decode_object(yaml_document_t *doc, yaml_node_t *node,
				       const char *default_namespace,
				       struct pw_object *out, struct pw_buf *err);

/*
 * Decodes the mapping at node as an object of kind, the way the API server
 * sends them: list items carry no kind or apiVersion, so they are supplied
 * (when present they must match), and a namespaced object must name its
 * namespace. Returns 0 with *out filled, or -EINVAL with err as above.
 */
int pw_decode_typed_object(yaml_document_t *doc, yaml_node_t *node, enum pw_kind kind,
			   struct pw_object *out, struct pw_buf *err);

/*
 * What a NetworkPolicy at node still says for sure when it does not decode:
 * the pods it selects are isolated in its directions. Returns 0 with *out
 * a policy that selects them and allows nothing: its podSelector, or every
 * pod of its namespace when that does not decode either; its policyTypes
 * (defaulted as the API server does), or both when they do not decode.
 * -EINVAL when not even its name and namespace can be read.
 */
int pw_decode_policy_isolation(yaml_document_t *doc, yaml_node_t *node,
			       struct pw_object *out);

#endif
