#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chains/rule.h"
#include "chains/table.h"
#include "lib/strmap.h"
#include "lib/util.h"

struct pw_chain {
	char *name;
	bool builtin;
	struct pw_rule **rules;
	size_t nrules;
	size_t rules_cap;
};

/*
 * User chains in iptables-save order, sorted only when someone asks for that
 * order: a compile adds ~2000 chains and sorting after each would be waste.
 * It lives behind a pointer so that const readers may sort it.
 */
struct chain_order {
	struct pw_chain **chains;
	size_t count;
	size_t cap;
	bool sorted;
};

struct pw_table {
	char *name;
	int family;
	struct pw_chain **builtins;	/* hook order */
	size_t nbuiltins;
	struct chain_order *user;
	struct pw_strmap *by_name;	/* every chain, built-in or not */
};

/* Built-in chains in hook order, as iptables-save lists them. */
static const char *const *builtin_names(const char *table)
{
	static const char *const filter[] = { "INPUT", "FORWARD", "OUTPUT", NULL };
	static const char *const nat[] = {
		"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING", NULL
	};
	static const char *const mangle[] = {
		"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING", NULL
	};
	static const char *const raw[] = { "PREROUTING", "OUTPUT", NULL };
	static const char *const none[] = { NULL };

	if (strcmp(table, "filter") == 0 || strcmp(table, "security") == 0)
		return filter;
	if (strcmp(table, "nat") == 0)
		return nat;
	if (strcmp(table, "mangle") == 0)
		return mangle;
	if (strcmp(table, "raw") == 0)
		return raw;
	return none;
}

static struct pw_chain *chain_new(const char *name, bool builtin)
{
	struct pw_chain *c = pw_xcalloc(1, sizeof(*c));

	c->name = pw_xstrdup(name);
	c->builtin = builtin;
	return c;
}

static void chain_free(struct pw_chain *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->nrules; i++)
		pw_rule_free(c->rules[i]);
	free(c->rules);
	free(c->name);
	free(c);
}

struct pw_table *pw_table_new(const char *name, int family)
{
	const char *const *names = builtin_names(name);
	struct pw_table *t = pw_xcalloc(1, sizeof(*t));
	size_t i;

	t->name = pw_xstrdup(name);
	t->family = family;
	t->user = pw_xcalloc(1, sizeof(*t->user));
	t->user->sorted = true;
	t->by_name = pw_strmap_new();
	while (names[t->nbuiltins])
		t->nbuiltins++;
	t->builtins = pw_xcalloc(t->nbuiltins, sizeof(*t->builtins));
	for (i = 0; i < t->nbuiltins; i++) {
		t->builtins[i] = chain_new(names[i], true);
		pw_strmap_put(t->by_name, names[i], t->builtins[i]);
	}
	return t;
}

void pw_table_free(struct pw_table *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nbuiltins; i++)
		chain_free(t->builtins[i]);
	for (i = 0; i < t->user->count; i++)
		chain_free(t->user->chains[i]);
	free(t->builtins);
	free(t->user->chains);
	free(t->user);
	pw_strmap_free(t->by_name);
	free(t->name);
	free(t);
}

const char *pw_table_name(const struct pw_table *t)
{
	return t->name;
}

int pw_table_family(const struct pw_table *t)
{
	return t->family;
}

struct pw_chain *pw_table_find_chain(const struct pw_table *t, const char *name)
{
	return pw_strmap_get(t->by_name, name);
}

struct pw_chain *pw_table_chain(struct pw_table *t, const char *name)
{
	struct chain_order *u = t->user;
	struct pw_chain *c;
	size_t len = strlen(name);

	if (len == 0 || len > PW_CHAIN_NAME_MAX)
		return NULL;
	c = pw_table_find_chain(t, name);
	if (c)
		return c;
	c = chain_new(name, false);
	pw_strmap_put(t->by_name, name, c);
	PW_GROW(u->chains, u->cap, u->count + 1);
	u->chains[u->count++] = c;
	u->sorted = false;
	return c;
}

int pw_table_remove_chain(struct pw_table *t, const char *name)
{
	struct chain_order *u = t->user;
	struct pw_chain *c = pw_table_find_chain(t, name);
	size_t i;

	if (!c || c->builtin)
		return -ENOENT;
	pw_strmap_del(t->by_name, name);
	for (i = 0; i < u->count; i++) {
		if (u->chains[i] == c) {
			/* The tail fills the hole; the order is rebuilt lazily. */
			u->chains[i] = u->chains[--u->count];
			u->sorted = false;
			break;
		}
	}
	chain_free(c);
	return 0;
}

size_t pw_table_chain_count(const struct pw_table *t)
{
	return t->nbuiltins + t->user->count;
}

static int chain_cmp(const void *a, const void *b)
{
	const struct pw_chain *const *ca = a, *const *cb = b;

	return strcmp((*ca)->name, (*cb)->name);
}

struct pw_chain *pw_table_chain_at(const struct pw_table *t, size_t i)
{
	struct chain_order *u = t->user;

	if (i < t->nbuiltins)
		return t->builtins[i];
	i -= t->nbuiltins;
	if (i >= u->count)
		return NULL;
	if (!u->sorted) {
		qsort(u->chains, u->count, sizeof(*u->chains), chain_cmp);
		u->sorted = true;
	}
	return u->chains[i];
}

const char *pw_chain_name(const struct pw_chain *c)
{
	return c->name;
}

bool pw_chain_is_builtin(const struct pw_chain *c)
{
	return c->builtin;
}

void pw_chain_append(struct pw_chain *c, struct pw_rule *r)
{
	PW_GROW(c->rules, c->rules_cap, c->nrules + 1);
	c->rules[c->nrules++] = r;
}

size_t pw_chain_rule_count(const struct pw_chain *c)
{
	return c->nrules;
}

const struct pw_rule *pw_chain_rule_at(const struct pw_chain *c, size_t i)
{
	return i < c->nrules ? c->rules[i] : NULL;
}

/* The rules only: chains of two tables (desired, current) are compared by content. */
bool pw_chain_equal(const struct pw_chain *a, const struct pw_chain *b)
{
	size_t i;

	if (a->nrules != b->nrules)
		return false;
	for (i = 0; i < a->nrules; i++)
		if (!pw_rule_equal(a->rules[i], b->rules[i]))
			return false;
	return true;
}
