/*
 * The desired content of one iptables table: its built-in chains with the
 * rules podwall puts there, and podwall's own chains.
 */
#ifndef PW_TABLE_H
#define PW_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "chains/rule.h"
#include "lib/util.h"

struct pw_table;
struct pw_chain;

/*
 * A table named name ("filter") of family (AF_INET: iptables, AF_INET6:
 * ip6tables) with its built-in chains, all empty.
 */
struct pw_table *pw_table_new(const char *name, int family);
void pw_table_free(struct pw_table *t);
const char *pw_table_name(const struct pw_table *t);
int pw_table_family(const struct pw_table *t);

/* The chain called name, created empty if needed; NULL when the name is
 * longer than the kernel's 28 characters or empty. */
struct pw_chain *pw_table_chain(struct pw_table *t, const char *name);
struct pw_chain *pw_table_find_chain(const struct pw_table *t, const char *name);
/* 0, or -ENOENT when there is no such user chain (built-ins stay). */
int pw_table_remove_chain(struct pw_table *t, const char *name);

/*
 * Chains in iptables-save order: the built-ins in hook order, then user
 * chains by strcmp() on their names.
 */
size_t pw_table_chain_count(const struct pw_table *t);
struct pw_chain *pw_table_chain_at(const struct pw_table *t, size_t i);

const char *pw_chain_name(const struct pw_chain *c);
bool pw_chain_is_builtin(const struct pw_chain *c);
/* Takes ownership of the rule. */
void pw_chain_append(struct pw_chain *c, struct pw_rule *r);
size_t pw_chain_rule_count(const struct pw_chain *c);
const struct pw_rule *pw_chain_rule_at(const struct pw_chain *c, size_t i);
bool pw_chain_equal(const struct pw_chain *a, const struct pw_chain *b);

/* The longest chain name the kernel takes (XT_EXTENSION_MAXNAMELEN - 1). */
#define PW_CHAIN_NAME_MAX 28

#endif
