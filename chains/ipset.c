#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chains/ipset.h"
#include "lib/strmap.h"
#include "lib/util.h"

#define PW_SET_DEFAULT_MAXELEM 1048576u

struct member {
	char *text;		/* as ipset save prints the element */
	bool nomatch;
};

/*
 * Members sorted by strcmp() on their text, not by address: the order only
 * has to be stable so that two sets compare and render the same. Sorting
 * waits until someone reads the order, so that bulk adds stay linear; the
 * list sits behind a pointer so that const readers may sort it.
 */
struct member_list {
	struct member **items;
	size_t count;
	size_t cap;
	bool sorted;
};

struct pw_set {
	char *name;
	enum pw_set_type type;
	int family;
	uint32_t maxelem;
	struct member_list *members;
	struct pw_strmap *index;	/* text -> struct member */
};

struct set_list {
	struct pw_set **items;
	size_t count;
	size_t cap;
	bool sorted;
};

struct pw_setlist {
	struct set_list *sets;
	struct pw_strmap *by_name;
};

static bool set_name_ok(const char *name)
{
	size_t len = strlen(name);

	return len > 0 && len <= PW_SET_NAME_MAX;
}

struct pw_set *pw_set_new(const char *name, enum pw_set_type type, int family)
{
	struct pw_set *s;

	if (!name || !set_name_ok(name))
		return NULL;
	s = pw_xcalloc(1, sizeof(*s));
	s->name = pw_xstrdup(name);
	s->type = type;
	s->family = family;
	s->maxelem = PW_SET_DEFAULT_MAXELEM;
	s->members = pw_xcalloc(1, sizeof(*s->members));
	s->members->sorted = true;
	s->index = pw_strmap_new();
	return s;
}

void pw_set_free(struct pw_set *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->members->count; i++) {
		free(s->members->items[i]->text);
		free(s->members->items[i]);
	}
	free(s->members->items);
	free(s->members);
	pw_strmap_free(s->index);
	free(s->name);
	free(s);
}

const char *pw_set_name(const struct pw_set *s)
{
	return s->name;
}

enum pw_set_type pw_set_type(const struct pw_set *s)
{
	return s->type;
}

const char *pw_set_type_name(enum pw_set_type type)
{
	switch (type) {
	case PW_SET_HASH_IP:
		return "hash:ip";
	case PW_SET_HASH_NET:
		return "hash:net";
	case PW_SET_HASH_IP_PORT:
		return "hash:ip,port";
	}
	return "?";
}

int pw_set_family(const struct pw_set *s)
{
	return s->family;
}

uint32_t pw_set_maxelem(const struct pw_set *s)
{
	return s->maxelem;
}

void pw_set_set_maxelem(struct pw_set *s, uint32_t maxelem)
{
	s->maxelem = maxelem;
}

/* ---------------------------------------------------------------- members */

/*
 * An element added twice keeps one entry. When only one of the adds was
 * nomatch, the plain entry wins: the kernel cannot hold both, and a union of
 * ipBlocks must let through what any of them allows.
 */
static void add_member(struct pw_set *s, const char *text, bool nomatch)
{
	struct member_list *l = s->members;
	struct member *m = pw_strmap_get(s->index, text);

	if (m) {
		m->nomatch = m->nomatch && nomatch;
		return;
	}
	m = pw_xmalloc(sizeof(*m));
	m->text = pw_xstrdup(text);
	m->nomatch = nomatch;
	pw_strmap_put(s->index, text, m);
	PW_GROW(l->items, l->cap, l->count + 1);
	l->items[l->count++] = m;
	l->sorted = false;
}

/* The kernel refuses elements of the other family; such adds are dropped. */
static bool fits_family(const struct pw_set *s, const struct pw_cidr *c)
{
	return c->family == s->family;
}

static void format_host(const struct pw_cidr *ip, char text[PW_CIDR_STRLEN])
{
	struct pw_cidr host = *ip;

	host.prefix = (uint8_t)pw_cidr_max_prefix(&host);
	pw_cidr_format(&host, false, text);
}

/*
 * A hash:ip element is one address; the prefix is ignored rather than
 * expanded, since pod addresses are hosts and a v6 /64 could not be listed.
 * A host also fits a hash:net set, where ipset prints it bare.
 */
void pw_set_add_ip(struct pw_set *s, const struct pw_cidr *ip)
{
	char text[PW_CIDR_STRLEN];

	if (s->type == PW_SET_HASH_IP_PORT || !fits_family(s, ip))
		return;
	format_host(ip, text);
	add_member(s, text, false);
}

void pw_set_add_ip_text(struct pw_set *s, const char *text)
{
	if (s->type != PW_SET_HASH_IP_PORT)
		add_member(s, text, false);
}

static void add_masked_net(struct pw_set *s, const struct pw_cidr *net, bool nomatch)
{
	char text[PW_CIDR_STRLEN];
	struct pw_cidr masked = *net;

	pw_cidr_mask(&masked);
	/* ipset save omits /32 (and /128), so the canonical form does too. */
	pw_cidr_format(&masked, false, text);
	add_member(s, text, nomatch);
}

/* Only hash:net takes prefixes; a full-length one is a host, which hash:ip takes too. */
void pw_set_add_net(struct pw_set *s, const struct pw_cidr *net, bool nomatch)
{
	struct pw_cidr half;

	if (!fits_family(s, net))
		return;
	if (s->type != PW_SET_HASH_NET) {
		if (net->prefix == pw_cidr_max_prefix(net) && !nomatch)
			pw_set_add_ip(s, net);
		return;
	}
	if (net->prefix > 0) {
		add_masked_net(s, net, nomatch);
		return;
	}
	/* hash:net refuses a zero-length prefix; two halves cover the same space. */
	memset(&half, 0, sizeof(half));
	half.family = net->family;
	half.prefix = 1;
	add_masked_net(s, &half, nomatch);
	half.addr[0] = 0x80;
	add_masked_net(s, &half, nomatch);
}

void pw_set_add_ip_port(struct pw_set *s, const struct pw_cidr *ip, const char *proto,
			uint16_t port)
{
	char *text;

	if (s->type != PW_SET_HASH_IP_PORT || !fits_family(s, ip))
		return;
	text = pw_set_ip_port_text(ip, proto, port);
	add_member(s, text, false);
	free(text);
}

char *pw_set_ip_port_text(const struct pw_cidr *ip, const char *proto, uint16_t port)
{
	char host[PW_CIDR_STRLEN];

	format_host(ip, host);
	return pw_xasprintf("%s,%s:%u", host, proto, port);
}

static int member_cmp(const void *a, const void *b)
{
	const struct member *const *ma = a, *const *mb = b;

	return strcmp((*ma)->text, (*mb)->text);
}

static const struct member *member_at(const struct pw_set *s, size_t i)
{
	struct member_list *l = s->members;

	if (i >= l->count)
		return NULL;
	if (!l->sorted) {
		qsort(l->items, l->count, sizeof(*l->items), member_cmp);
		l->sorted = true;
	}
	return l->items[i];
}

size_t pw_set_member_count(const struct pw_set *s)
{
	return s->members->count;
}

const char *pw_set_member_at(const struct pw_set *s, size_t i)
{
	const struct member *m = member_at(s, i);

	return m ? m->text : NULL;
}

bool pw_set_member_nomatch(const struct pw_set *s, size_t i)
{
	const struct member *m = member_at(s, i);

	return m && m->nomatch;
}

size_t pw_set_lower_bound(const struct pw_set *s, const char *text)
{
	const struct member_list *l = s->members;
	size_t lo = 0, hi = l->count;

	if (l->count)
		member_at(s, 0);	/* sorts */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(l->items[mid]->text, text) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool pw_set_has_member(const struct pw_set *s, const char *text)
{
	return pw_strmap_get(s->index, text) != NULL;
}

static void insert_member(struct pw_set *s, const char *text)
{
	struct member_list *l = s->members;
	struct member *m;
	size_t at;

	if (pw_strmap_get(s->index, text))
		return;
	at = pw_set_lower_bound(s, text);
	m = pw_xmalloc(sizeof(*m));
	m->text = pw_xstrdup(text);
	m->nomatch = false;
	pw_strmap_put(s->index, text, m);
	PW_GROW(l->items, l->cap, l->count + 1);
	memmove(&l->items[at + 1], &l->items[at], (l->count - at) * sizeof(*l->items));
	l->items[at] = m;
	l->count++;
}

static void remove_member(struct pw_set *s, const char *text)
{
	struct member_list *l = s->members;
	struct member *m = pw_strmap_get(s->index, text);
	size_t at;

	if (!m)
		return;
	at = pw_set_lower_bound(s, text);
	pw_strmap_del(s->index, text);
	memmove(&l->items[at], &l->items[at + 1], (l->count - at - 1) * sizeof(*l->items));
	l->count--;
	free(m->text);
	free(m);
}

void pw_member_changes_push(struct pw_member_changes *c, const char *set,
			    const char *member, bool add)
{
	PW_GROW(c->items, c->cap, c->count + 1);
	c->items[c->count].set = pw_xstrdup(set);
	c->items[c->count].member = pw_xstrdup(member);
	c->items[c->count].add = add;
	c->count++;
}

void pw_member_changes_free(struct pw_member_changes *c)
{
	size_t i;

	for (i = 0; i < c->count; i++) {
		free(c->items[i].set);
		free(c->items[i].member);
	}
	free(c->items);
	memset(c, 0, sizeof(*c));
}

bool pw_set_same_header(const struct pw_set *a, const struct pw_set *b)
{
	return strcmp(a->name, b->name) == 0 && a->type == b->type &&
	       a->family == b->family && a->maxelem == b->maxelem;
}

bool pw_set_equal(const struct pw_set *a, const struct pw_set *b)
{
	size_t i, n = pw_set_member_count(a);

	if (!pw_set_same_header(a, b) || n != pw_set_member_count(b))
		return false;
	for (i = 0; i < n; i++) {
		const struct member *ma = member_at(a, i), *mb = member_at(b, i);

		if (ma->nomatch != mb->nomatch || strcmp(ma->text, mb->text) != 0)
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- set list */

struct pw_setlist *pw_setlist_new(void)
{
	struct pw_setlist *l = pw_xcalloc(1, sizeof(*l));

	l->sets = pw_xcalloc(1, sizeof(*l->sets));
	l->sets->sorted = true;
	l->by_name = pw_strmap_new();
	return l;
}

void pw_setlist_free(struct pw_setlist *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->sets->count; i++)
		pw_set_free(l->sets->items[i]);
	free(l->sets->items);
	free(l->sets);
	pw_strmap_free(l->by_name);
	free(l);
}

int pw_setlist_add(struct pw_setlist *l, struct pw_set *s)
{
	struct set_list *sl = l->sets;

	if (pw_strmap_get(l->by_name, s->name))
		return -EEXIST;
	pw_strmap_put(l->by_name, s->name, s);
	PW_GROW(sl->items, sl->cap, sl->count + 1);
	sl->items[sl->count++] = s;
	sl->sorted = false;
	return 0;
}

struct pw_set *pw_setlist_find(const struct pw_setlist *l, const char *name)
{
	return pw_strmap_get(l->by_name, name);
}

void pw_setlist_apply_changes(struct pw_setlist *l, const struct pw_member_changes *changes)
{
	size_t i;

	for (i = 0; i < changes->count; i++) {
		const struct pw_member_change *c = &changes->items[i];
		struct pw_set *s = pw_setlist_find(l, c->set);

		if (!s)
			continue;
		if (c->add)
			insert_member(s, c->member);
		else
			remove_member(s, c->member);
	}
}

size_t pw_setlist_count(const struct pw_setlist *l)
{
	return l->sets->count;
}

static int set_cmp(const void *a, const void *b)
{
	const struct pw_set *const *sa = a, *const *sb = b;

	return strcmp((*sa)->name, (*sb)->name);
}

struct pw_set *pw_setlist_at(const struct pw_setlist *l, size_t i)
{
	struct set_list *sl = l->sets;

	if (i >= sl->count)
		return NULL;
	if (!sl->sorted) {
		qsort(sl->items, sl->count, sizeof(*sl->items), set_cmp);
		sl->sorted = true;
	}
	return sl->items[i];
}
