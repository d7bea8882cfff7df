/*
 * Kubernetes label selectors (metav1.LabelSelector): matchLabels and
 * matchExpressions ANDed together, with the API's exact semantics. A
 * selector with no requirement matches everything.
 */
#ifndef PW_SELECTOR_H
#define PW_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "selectors/labels.h"

enum pw_selector_op {
	PW_SELECTOR_IN,
	PW_SELECTOR_NOT_IN,
	PW_SELECTOR_EXISTS,
	PW_SELECTOR_DOES_NOT_EXIST,
};

struct pw_selector;

struct pw_selector *pw_selector_new(void);
void pw_selector_free(struct pw_selector *s);
struct pw_selector *pw_selector_dup(const struct pw_selector *s);

/* A matchLabels entry: the same requirement as "key In [value]". */
void pw_selector_add_label(struct pw_selector *s, const char *key, const char *value);

/*
 * A matchExpressions entry. Returns 0, or -EINVAL when In/NotIn come with
 * no value or Exists/DoesNotExist come with some (the API rejects both).
 * The values are copied.
 */
int pw_selector_add_requirement(struct pw_selector *s, const char *key,
				enum pw_selector_op op,
				const char *const *values, size_t nvalues);

/* "In", "NotIn", "Exists", "DoesNotExist" (case-sensitive); 0 or -EINVAL. */
int pw_selector_op_parse(const char *text, enum pw_selector_op *out);
const char *pw_selector_op_name(enum pw_selector_op op);

/* NotIn and DoesNotExist match label sets that lack the key. */
bool pw_selector_matches(const struct pw_selector *s, const struct pw_labels *labels);

/* True when the selector has no requirement and so matches everything. */
bool pw_selector_is_empty(const struct pw_selector *s);

/*
 * A canonical text for the selector: requirements sorted, values sorted and
 * deduplicated, duplicate requirements dropped, so that selectors that
 * differ only in how they were written compare equal. "" for the empty
 * selector. Form: "app in (a,b),has-key,!lacks-key,tier notin (x)".
 * The string belongs to the selector and stays valid until it changes.
 */
const char *pw_selector_canonical(const struct pw_selector *s);

#endif
