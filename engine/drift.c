#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* Before the netfilter headers, which otherwise clash with linux/if.h on some kernels. */
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

#include "chains/xt_layout.h"
#include "engine/drift.h"

/*
 * What differs between the IPv4 and the IPv6 table as the kernel hands
 * them out, besides the entry's layout: the getsockopt() numbers.
 */
struct table_family {
	const struct pw_xt_layout *xt;
	int get_info, get_entries;
};

static const struct table_family families[] = {
	{ &pw_xt_ipv4, IPT_SO_GET_INFO, IPT_SO_GET_ENTRIES },
	{ &pw_xt_ipv6, IP6T_SO_GET_INFO, IP6T_SO_GET_ENTRIES },
};

/* The two families' info and entries requests share one layout. */
typedef char getinfo_layouts_agree[sizeof(struct ipt_getinfo) ==
				   sizeof(struct ip6t_getinfo) ? 1 : -1];
typedef char get_entries_layouts_agree[offsetof(struct ipt_get_entries, entrytable) ==
				       offsetof(struct ip6t_get_entries, entrytable) ?
				       1 : -1];

#define ENTRIES_HEADER offsetof(struct ipt_get_entries, entrytable)

struct pw_drift {
	const struct table_family *fam;
	int fd;
	char table[XT_TABLE_MAXNAMELEN];
	char *prefix;
	bool known;
	uint64_t remembered;
	struct ipt_get_entries *entries;	/* kept: a table is read every second */
	size_t capacity;			/* bytes of entries->entrytable */
};

struct pw_drift *pw_drift_open(const char *table, int family, const char *prefix,
			       struct pw_buf *err)
{
	const struct table_family *fam = NULL;
	struct pw_drift *d;
	size_t i;
	int saved;

	for (i = 0; i < PW_ARRAY_SIZE(families); i++)
		if (families[i].xt->family == family)
			fam = &families[i];
	if (!fam) {
		pw_buf_printf(err, "table %s: address family %d is neither IPv4 nor IPv6",
			      table, family);
		return NULL;
	}
	if (strlen(table) >= XT_TABLE_MAXNAMELEN) {
		pw_buf_printf(err, "%stable name \"%s\" too long", fam->xt->label, table);
		return NULL;
	}
	d = pw_xcalloc(1, sizeof(*d));
	d->fam = fam;
	strcpy(d->table, table);
	d->prefix = pw_xstrdup(prefix);
	d->fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (d->fd < 0) {
		saved = errno;
		pw_buf_printf(err, "raw socket for reading %stable %s: %s", fam->xt->label, table,
			      strerror(saved));
		free(d->prefix);
		free(d);
		errno = saved;
		return NULL;
	}
	return d;
}

void pw_drift_close(struct pw_drift *d)
{
	if (!d)
		return;
	close(d->fd);
	free(d->entries);
	free(d->prefix);
	free(d);
}

/* ------------------------------------------------------------ digest */

static uint64_t mix(uint64_t h, uint64_t word)
{
	h = (h ^ word) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 31);
}

static uint64_t mix_bytes(uint64_t h, const unsigned char *p, size_t len)
{
	uint64_t word;
	size_t i;

	for (i = 0; i + sizeof(word) <= len; i += sizeof(word)) {
		memcpy(&word, p + i, sizeof(word));
		h = mix(h, word);
	}
	if (i < len) {
		word = 0;
		memcpy(&word, p + i, len - i);
		h = mix(h, word);
	}
	return mix(h, len);
}

static uint64_t mix_name(uint64_t h, const char *name)
{
	return mix_bytes(h, (const unsigned char *)name, strlen(name));
}

/* Where a chain's first rule is, and its name. */
struct chain_start {
	unsigned offset;
	const char *name;
	bool builtin;
};

struct table_walk {
	const struct table_family *fam;
	unsigned char *base;
	unsigned size;
	struct chain_start *starts;	/* by offset */
	size_t nstarts;
	size_t cap;
};

/* An entry of either family: its bytes, and its two offsets read out. */
struct entry {
	unsigned char *p;
	uint16_t target_offset;
	uint16_t next_offset;
};

static bool entry_at(const struct table_walk *w, unsigned off, struct entry *e)
{
	size_t hdr = w->fam->xt->entry_size;

	if (off > w->size || w->size - off < hdr)
		return false;
	e->p = w->base + off;
	e->target_offset = pw_xt_u16_at(e->p, w->fam->xt->target_offset_at);
	e->next_offset = pw_xt_u16_at(e->p, w->fam->xt->next_offset_at);
	return e->next_offset >= hdr && e->next_offset <= w->size - off &&
	       e->target_offset >= hdr &&
	       e->target_offset + sizeof(struct xt_entry_target) <= e->next_offset;
}

static struct xt_entry_target *target_of(const struct entry *e)
{
	return (struct xt_entry_target *)(e->p + e->target_offset);
}

static bool is_target(const struct entry *e, const struct xt_entry_target *t,
		      const char *name, size_t size)
{
	return t->u.target_size >= size && e->target_offset + size <= e->next_offset &&
	       strncmp(t->u.user.name, name, sizeof(t->u.user.name)) == 0;
}

static void add_start(struct table_walk *w, unsigned offset, const char *name, bool builtin)
{
	PW_GROW(w->starts, w->cap, w->nstarts + 1);
	w->starts[w->nstarts].offset = offset;
	w->starts[w->nstarts].name = name;
	w->starts[w->nstarts].builtin = builtin;
	w->nstarts++;
}

static int cmp_start(const void *a, const void *b)
{
	unsigned x = ((const struct chain_start *)a)->offset;
	unsigned y = ((const struct chain_start *)b)->offset;

	return x < y ? -1 : x > y;
}

static const struct chain_start *chain_starting_at(const struct table_walk *w, unsigned off)
{
	struct chain_start key = { off, NULL, false };

	return bsearch(&key, w->starts, w->nstarts, sizeof(key), cmp_start);
}

static const char *const hook_names[NF_INET_NUMHOOKS] = {
	"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING",
};

/*
 * Built-in chains start at their hook offsets; a user chain's first rule
 * follows the ERROR entry that carries its name. Returns false for a table
 * that does not parse (never from a sane kernel).
 */
static bool find_chains(struct table_walk *w, const struct ipt_getinfo *info)
{
	unsigned off = 0, h;

	for (h = 0; h < NF_INET_NUMHOOKS; h++)
		if (info->valid_hooks & (1u << h))
			add_start(w, info->hook_entry[h], hook_names[h], true);
	while (off < w->size) {
		struct xt_error_target *err;
		struct entry e;

		if (!entry_at(w, off, &e))
			return false;
		err = (struct xt_error_target *)target_of(&e);
		if (is_target(&e, &err->target, XT_ERROR_TARGET, sizeof(*err))) {
			err->errorname[sizeof(err->errorname) - 1] = '\0';
			add_start(w, off + e.next_offset, err->errorname, false);
		}
		off += e.next_offset;
	}
	qsort(w->starts, w->nstarts, sizeof(*w->starts), cmp_start);
	return true;
}

/* What the kernel keeps in a match past its user part (limit's bucket), zeroed. */
static void clear_match_state(const struct table_walk *w, const struct entry *e)
{
	unsigned off = (unsigned)w->fam->xt->entry_size;

	while (off + sizeof(struct xt_entry_match) <= e->target_offset) {
		struct xt_entry_match *m = (struct xt_entry_match *)(e->p + off);
		size_t user = pw_xt_match_user_size(m);

		if (m->u.match_size < sizeof(*m) || off + m->u.match_size > e->target_offset)
			return;
		memset(m->data + user, 0, m->u.match_size - sizeof(*m) - user);
		off += m->u.match_size;
	}
}

/*
 * One rule, independent of where it sits: counters (they move with every
 * packet), comefrom and the matches' private state (the kernel's own)
 * zeroed, and a jump's absolute offset, which shifts whenever another
 * chain before it grows, replaced by the name of the chain it reaches (or
 * the distance, for a fall-through).
 */
static uint64_t mix_entry(uint64_t h, const struct table_walk *w, unsigned off,
			  const struct entry *e)
{
	struct xt_standard_target *std = (struct xt_standard_target *)target_of(e);

	memset(e->p + w->fam->xt->counters_at, 0, sizeof(struct xt_counters));
	memset(e->p + w->fam->xt->comefrom_at, 0, sizeof(unsigned int));
	clear_match_state(w, e);
	if (is_target(e, &std->target, XT_STANDARD_TARGET, sizeof(*std)) && std->verdict >= 0) {
		const struct chain_start *to = chain_starting_at(w, (unsigned)std->verdict);

		h = to ? mix_name(h, to->name) : mix(h, (uint64_t)std->verdict - off);
		std->verdict = 0;
	}
	return mix_bytes(h, e->p, e->next_offset);
}

/*
 * What podwall owns in the table: every rule of its chains, and the first
 * rule of each built-in chain (its jump, or whatever someone put above
 * it). Nothing else: kube-proxy rewriting its own chains is not drift.
 */
static uint64_t digest_owned(struct pw_drift *d, const struct ipt_getinfo *info)
{
	struct table_walk w = { d->fam, (unsigned char *)d->entries + ENTRIES_HEADER,
				info->size, NULL, 0, 0 };
	size_t plen = strlen(d->prefix), i;
	uint64_t h = 0xcbf29ce484222325ull;

	if (!find_chains(&w, info)) {
		free(w.starts);
		return mix_bytes(h, w.base, w.size);
	}
	for (i = 0; i < w.nstarts; i++) {
		const struct chain_start *c = &w.starts[i];
		unsigned end = i + 1 < w.nstarts ? w.starts[i + 1].offset : w.size;
		unsigned off = c->offset;
		struct entry e;

		if (!c->builtin && strncmp(c->name, d->prefix, plen) != 0)
			continue;
		h = mix_name(h, c->name);
		while (off < end && entry_at(&w, off, &e)) {
			unsigned next = off + e.next_offset;

			/* The next chain's ERROR head is not a rule of this one. */
			if (!is_target(&e, target_of(&e), XT_ERROR_TARGET,
				       sizeof(struct xt_error_target)))
				h = mix_entry(h, &w, off, &e);
			if (c->builtin)
				break;
			off = next;
		}
	}
	free(w.starts);
	return h;
}

/* ------------------------------------------------------------ reading */

static int read_digest(struct pw_drift *d, uint64_t *digest, struct pw_buf *err)
{
	struct ipt_getinfo info;
	socklen_t len = sizeof(info);
	size_t size;
	int saved;

	memset(&info, 0, sizeof(info));
	strcpy(info.name, d->table);
	if (getsockopt(d->fd, d->fam->xt->level, d->fam->get_info, &info, &len) < 0) {
		saved = errno;
		pw_buf_printf(err, "%stable %s: reading its header: %s", d->fam->xt->label,
			      d->table, strerror(saved));
		return -saved;
	}
	size = info.size;
	if (!d->entries || d->capacity < size) {
		free(d->entries);
		d->entries = pw_xcalloc(1, ENTRIES_HEADER + size);
		d->capacity = size;
	}
	/* The kernel writes a name only up to its NUL: the rest must be zeros. */
	memset(d->entries, 0, ENTRIES_HEADER + size);
	strcpy(d->entries->name, d->table);
	d->entries->size = (unsigned)size;
	len = (socklen_t)(ENTRIES_HEADER + size);
	if (getsockopt(d->fd, d->fam->xt->level, d->fam->get_entries, d->entries, &len) < 0) {
		saved = errno;
		/* EAGAIN: the size changed between the two reads, someone is writing. */
		if (saved != EAGAIN)
			pw_buf_printf(err, "%stable %s: reading its rules: %s", d->fam->xt->label,
				      d->table, strerror(saved));
		return -saved;
	}
	*digest = digest_owned(d, &info);
	return 0;
}

int pw_drift_remember(struct pw_drift *d, struct pw_buf *err)
{
	int ret = read_digest(d, &d->remembered, err);

	d->known = ret == 0;
	if (ret == -EAGAIN)
		pw_buf_printf(err, "%stable %s: changing while it was read", d->fam->xt->label,
			      d->table);
	return ret;
}

int pw_drift_check(struct pw_drift *d, struct pw_buf *err)
{
	uint64_t now;
	int ret;

	if (!d->known)
		return 1;
	ret = read_digest(d, &now, err);
	if (ret == -EAGAIN)
		return 1;
	if (ret < 0)
		return ret;
	return now == d->remembered ? 0 : 1;
}
