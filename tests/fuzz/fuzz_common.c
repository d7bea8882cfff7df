#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <yaml.h>

#include "k8s/validate.h"
#include "selectors/selector.h"
#include "tests/fuzz/fuzz_common.h"

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
	abort();
}

bool fuzz_is_one_line(const char *text)
{
	return !strchr(text, '\n');
}

/* ------------------------------------------------------------ libyaml */

/*
 * These two stand in for libyaml's own (the executable's symbols come
 * first, also for the loader's calls inside libyaml) and pass every call
 * on to the real ones.
 */
int yaml_parser_load(yaml_parser_t *parser, yaml_document_t *document);
int yaml_parser_parse(yaml_parser_t *parser, yaml_event_t *event);

static const yaml_parser_t *loading;	/* inside yaml_parser_load() */
static size_t load_depth;
static bool unwatched;

void fuzz_unwatched_loads(bool on)
{
	unwatched = on;
}

static void *real_function(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f) {
		fprintf(stderr, "fuzz: %s: %s\n", name, dlerror());
		abort();
	}
	return f;
}

int yaml_parser_load(yaml_parser_t *parser, yaml_document_t *document)
{
	static int (*real)(yaml_parser_t *, yaml_document_t *);
	int ret;

	if (!real)
		*(void **)&real = real_function("yaml_parser_load");
	loading = unwatched ? NULL : parser;
	load_depth = 0;
	ret = real(parser, document);
	loading = NULL;
	return ret;
}

int yaml_parser_parse(yaml_parser_t *parser, yaml_event_t *event)
{
	static int (*real)(yaml_parser_t *, yaml_event_t *);
	int ret;

	if (!real)
		*(void **)&real = real_function("yaml_parser_parse");
	ret = real(parser, event);
	if (!ret || parser != loading)
		return ret;
	switch (event->type) {
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (++load_depth > FUZZ_MAX_LOAD_DEPTH)
			fuzz_fail(__FILE__, __LINE__, "the loader nests deeper than "
				  "the guards allow (a stack overflow with libyaml < 0.2.5)");
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		load_depth--;
		break;
	default:
		break;
	}
	return ret;
}

/* ---------------------------------------------------------- selectors */

/* One requirement read back from a canonical text. */
struct parsed_req {
	char *key;
	enum pw_selector_op op;
	char **values;
	size_t nvalues;
};

struct parsed_sel {
	struct parsed_req *reqs;
	size_t count, cap;
};

static void parsed_free(struct parsed_sel *p)
{
	size_t i, j;

	for (i = 0; i < p->count; i++) {
		for (j = 0; j < p->reqs[i].nvalues; j++)
			free(p->reqs[i].values[j]);
		free(p->reqs[i].values);
		free(p->reqs[i].key);
	}
	free(p->reqs);
}

/* "(a,b,)" after the operator: the values, "" included. */
static void parse_values(const char *text, size_t len, struct parsed_req *r)
{
	size_t cap = 0, start = 0, i;

	FUZZ_ASSERT(len >= 2 && text[0] == '(' && text[len - 1] == ')');
	text++;
	len -= 2;
	for (i = 0; i <= len; i++) {
		if (i < len && text[i] != ',')
			continue;
		PW_GROW(r->values, cap, r->nvalues + 1);
		r->values[r->nvalues++] = pw_xstrndup(text + start, i - start);
		start = i + 1;
	}
}

static void parse_term(const char *text, size_t len, struct parsed_req *r)
{
	static const struct {
		const char *infix;
		enum pw_selector_op op;
	} ops[] = {
		{ " in ", PW_SELECTOR_IN },
		{ " notin ", PW_SELECTOR_NOT_IN },
	};
	char *term = pw_xstrndup(text, len);
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < PW_ARRAY_SIZE(ops); i++) {
		char *at = strstr(term, ops[i].infix);

		if (at) {
			const char *rest = at + strlen(ops[i].infix);

			r->key = pw_xstrndup(term, (size_t)(at - term));
			r->op = ops[i].op;
			parse_values(rest, strlen(rest), r);
			FUZZ_ASSERT(r->nvalues > 0);
			free(term);
			return;
		}
	}
	if (term[0] == '!') {
		r->key = pw_xstrdup(term + 1);
		r->op = PW_SELECTOR_DOES_NOT_EXIST;
	} else {
		r->key = pw_xstrdup(term);
		r->op = PW_SELECTOR_EXISTS;
	}
	free(term);
}

/*
 * Splits "app in (a,b),has-key,!lacks-key" at the commas outside
 * parentheses. Unambiguous because validated keys and values never hold
 * ',', '(', ')', ' ' or a leading '!'.
 */
static void parse_canonical(const char *text, struct parsed_sel *out)
{
	size_t i, start = 0, len = strlen(text);
	int depth = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return;
	for (i = 0; i <= len; i++) {
		if (i < len) {
			if (text[i] == '(')
				depth++;
			else if (text[i] == ')')
				depth--;
			FUZZ_ASSERT(depth == 0 || depth == 1);
			if (text[i] != ',' || depth)
				continue;
		}
		FUZZ_ASSERT(i > start);
		PW_GROW(out->reqs, out->cap, out->count + 1);
		parse_term(text + start, i - start, &out->reqs[out->count++]);
		start = i + 1;
	}
}

static bool reference_matches(const struct parsed_sel *p, const struct pw_labels *labels)
{
	size_t i, j;

	for (i = 0; i < p->count; i++) {
		const struct parsed_req *r = &p->reqs[i];
		const char *value = pw_labels_get(labels, r->key);
		bool listed = false;

		for (j = 0; value && j < r->nvalues; j++)
			listed |= strcmp(value, r->values[j]) == 0;
		switch (r->op) {
		case PW_SELECTOR_IN:
			if (!listed)
				return false;
			break;
		case PW_SELECTOR_NOT_IN:
			if (listed)
				return false;
			break;
		case PW_SELECTOR_EXISTS:
			if (!value)
				return false;
			break;
		case PW_SELECTOR_DOES_NOT_EXIST:
			if (value)
				return false;
			break;
		}
	}
	return true;
}

/* The same requirements, added last first with values reversed, the first twice. */
static struct pw_selector *rebuild(const struct parsed_sel *p)
{
	struct pw_selector *s = pw_selector_new();
	const char **values;
	size_t i, j;

	for (i = p->count; i-- > 0;) {
		const struct parsed_req *r = &p->reqs[i];

		if (r->op == PW_SELECTOR_IN && r->nvalues == 1 && i % 2 == 0) {
			pw_selector_add_label(s, r->key, r->values[0]);
			continue;
		}
		values = pw_xcalloc(r->nvalues + 1, sizeof(*values));
		for (j = 0; j < r->nvalues; j++)
			values[j] = r->values[r->nvalues - 1 - j];
		FUZZ_ASSERT(pw_selector_add_requirement(s, r->key, r->op, values,
							r->nvalues) == 0);
		if (i == 0)
			FUZZ_ASSERT(pw_selector_add_requirement(s, r->key, r->op, values,
								r->nvalues) == 0);
		free(values);
	}
	return s;
}

/* Labels that meet the requirements in some places and miss them in others. */
static struct pw_labels *near_labels(const struct parsed_sel *p, size_t shift)
{
	struct pw_labels *l = pw_labels_new();
	size_t i;

	for (i = 0; i < p->count; i++) {
		const struct parsed_req *r = &p->reqs[i];

		switch ((i + shift) % 3) {
		case 0:
			pw_labels_set(l, r->key, r->nvalues ? r->values[0] : "");
			break;
		case 1:
			pw_labels_set(l, r->key, r->nvalues ? r->values[r->nvalues - 1] :
				      "other");
			break;
		default:
			pw_labels_unset(l, r->key);
			break;
		}
	}
	return l;
}

static void check_verdicts(const struct pw_selector *s, const struct pw_selector *again,
			   const struct parsed_sel *p, const struct pw_labels *labels)
{
	bool expected = reference_matches(p, labels);

	FUZZ_ASSERT(pw_selector_matches(s, labels) == expected);
	FUZZ_ASSERT(pw_selector_matches(again, labels) == expected);
}

void fuzz_check_selector(const struct pw_selector *s, const struct pw_labels *labels)
{
	const char *canonical = pw_selector_canonical(s);
	struct pw_selector *copy = pw_selector_dup(s), *again;
	struct pw_labels *empty = pw_labels_new(), *near;
	struct parsed_sel p;
	size_t shift;

	FUZZ_ASSERT(strcmp(pw_selector_canonical(copy), canonical) == 0);
	FUZZ_ASSERT(pw_selector_is_empty(s) == (canonical[0] == '\0'));
	parse_canonical(canonical, &p);
	again = rebuild(&p);
	FUZZ_ASSERT(strcmp(pw_selector_canonical(again), canonical) == 0);

	check_verdicts(s, again, &p, empty);
	if (labels)
		check_verdicts(s, again, &p, labels);
	for (shift = 0; shift < 3; shift++) {
		near = near_labels(&p, shift);
		check_verdicts(s, again, &p, near);
		pw_labels_free(near);
	}
	parsed_free(&p);
	pw_selector_free(again);
	pw_selector_free(copy);
	pw_labels_free(empty);
}

/* ------------------------------------------------------------ objects */

static void check_labels(const struct pw_labels *labels)
{
	size_t i;

	FUZZ_ASSERT(labels != NULL);
	for (i = 0; i < pw_labels_count(labels); i++) {
		FUZZ_ASSERT(pw_validate_label_key(pw_labels_key(labels, i), NULL) == 0);
		FUZZ_ASSERT(pw_validate_label_value(pw_labels_value(labels, i), NULL) == 0);
		if (i)
			FUZZ_ASSERT(strcmp(pw_labels_key(labels, i - 1),
					   pw_labels_key(labels, i)) < 0);
	}
}

static void check_namespace(const struct pw_namespace *ns)
{
	FUZZ_ASSERT(ns && ns->name);
	FUZZ_ASSERT(pw_validate_dns_label(ns->name, NULL) == 0);
	check_labels(ns->labels);
	FUZZ_ASSERT(pw_labels_get(ns->labels, "kubernetes.io/metadata.name") != NULL);
	FUZZ_ASSERT(strcmp(pw_labels_get(ns->labels, "kubernetes.io/metadata.name"),
			   ns->name) == 0);
}

static bool is_full_length(const struct pw_cidr *c)
{
	return (c->family == AF_INET && c->prefix == 32) ||
		(c->family == AF_INET6 && c->prefix == 128);
}

static void check_pod(const struct pw_pod *pod)
{
	size_t i, j;

	FUZZ_ASSERT(pod && pod->name && pod->namespace);
	FUZZ_ASSERT(pw_validate_dns_subdomain(pod->name, NULL) == 0);
	FUZZ_ASSERT(pw_validate_dns_label(pod->namespace, NULL) == 0);
	check_labels(pod->labels);
	FUZZ_ASSERT(pod->phase <= PW_POD_PHASE_FAILED);
	FUZZ_ASSERT(pod->nips == 0 || pod->ips);
	for (i = 0; i < pod->nips; i++) {
		FUZZ_ASSERT(is_full_length(&pod->ips[i]));
		for (j = 0; j < i; j++)
			FUZZ_ASSERT(!pw_cidr_equal(&pod->ips[i], &pod->ips[j]));
	}
	FUZZ_ASSERT(pod->nports == 0 || pod->ports);
	for (i = 0; i < pod->nports; i++) {
		FUZZ_ASSERT(pod->ports[i].number >= 1);
		FUZZ_ASSERT((unsigned)pod->ports[i].protocol < PW_PROTO_COUNT);
		FUZZ_ASSERT(!pod->ports[i].name ||
			    pw_validate_port_name(pod->ports[i].name, NULL) == 0);
	}
	if (pw_pod_is_addressable(pod))
		FUZZ_ASSERT(pod->nips > 0 && !pod->host_network);
}

static void check_port(const struct pw_policy_port *p)
{
	FUZZ_ASSERT((unsigned)p->protocol < PW_PROTO_COUNT);
	switch (p->kind) {
	case PW_PORT_ALL:
		FUZZ_ASSERT(!p->name);
		break;
	case PW_PORT_NUMBER:
		FUZZ_ASSERT(p->port >= 1 && p->end_port >= p->port && !p->name);
		break;
	case PW_PORT_NAMED:
		FUZZ_ASSERT(p->name && pw_validate_port_name(p->name, NULL) == 0);
		break;
	default:
		FUZZ_ASSERT(!"a port kind");
	}
}

static void check_ipblock(const struct pw_ipblock *b)
{
	size_t i;

	FUZZ_ASSERT(b->cidr.family == AF_INET || b->cidr.family == AF_INET6);
	FUZZ_ASSERT(b->cidr.prefix <= pw_cidr_max_prefix(&b->cidr));
	FUZZ_ASSERT(!pw_cidr_has_host_bits(&b->cidr));
	FUZZ_ASSERT(b->nexcept == 0 || b->except);
	for (i = 0; i < b->nexcept; i++) {
		FUZZ_ASSERT(!pw_cidr_has_host_bits(&b->except[i]));
		FUZZ_ASSERT(pw_cidr_contains(&b->cidr, &b->except[i]));
		FUZZ_ASSERT(b->except[i].prefix > b->cidr.prefix);
	}
}

static void check_rules(const struct pw_policy_rule *rules, size_t n)
{
	size_t i, j;

	FUZZ_ASSERT(n == 0 || rules);
	for (i = 0; i < n; i++) {
		const struct pw_policy_rule *r = &rules[i];

		FUZZ_ASSERT(r->nports == 0 || r->ports);
		FUZZ_ASSERT(r->npeers == 0 || r->peers);
		for (j = 0; j < r->nports; j++)
			check_port(&r->ports[j]);
		for (j = 0; j < r->npeers; j++) {
			const struct pw_policy_peer *peer = &r->peers[j];
			bool selects = peer->pod_selector || peer->namespace_selector;

			FUZZ_ASSERT(selects != (peer->ipblock != NULL));
			if (peer->pod_selector)
				fuzz_check_selector(peer->pod_selector, NULL);
			if (peer->namespace_selector)
				fuzz_check_selector(peer->namespace_selector, NULL);
			if (peer->ipblock)
				check_ipblock(peer->ipblock);
		}
	}
}

static void check_policy(const struct pw_policy *p)
{
	FUZZ_ASSERT(p && p->name && p->namespace && p->pod_selector);
	FUZZ_ASSERT(pw_validate_dns_subdomain(p->name, NULL) == 0);
	FUZZ_ASSERT(pw_validate_dns_label(p->namespace, NULL) == 0);
	FUZZ_ASSERT(p->types != 0);
	FUZZ_ASSERT((p->types & ~(unsigned)(PW_POLICY_INGRESS | PW_POLICY_EGRESS)) == 0);
	fuzz_check_selector(p->pod_selector, NULL);
	check_rules(p->ingress, p->ningress);
	check_rules(p->egress, p->negress);
}

void fuzz_check_object(const struct pw_object *obj)
{
	switch (obj->kind) {
	case PW_KIND_NAMESPACE:
		check_namespace(obj->u.ns);
		break;
	case PW_KIND_POD:
		check_pod(obj->u.pod);
		break;
	case PW_KIND_POLICY:
		check_policy(obj->u.policy);
		break;
	default:
		FUZZ_ASSERT(!"a known kind");
	}
}
