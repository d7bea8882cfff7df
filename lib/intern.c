#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/hash.h"
#include "lib/intern.h"
#include "lib/strmap.h"
#include "lib/util.h"

/*
 * The strings are the maps' keys and their holder counts the values. The
 * manifest readers intern from several threads at once, so the strings are
 * spread over stripes by their hash, each with its own lock, and a thread
 * seldom waits for another. A stripe's map exists only while it holds
 * something, so a program that frees all its objects ends with nothing
 * left for a leak checker to report.
 */
#define STRIPE_BITS 4
#define STRIPE { PTHREAD_MUTEX_INITIALIZER, NULL }

static struct stripe {
	pthread_mutex_t lock;
	struct pw_strmap *strings;
} stripes[1 << STRIPE_BITS] = {
	STRIPE, STRIPE, STRIPE, STRIPE, STRIPE, STRIPE, STRIPE, STRIPE,
	STRIPE, STRIPE, STRIPE, STRIPE, STRIPE, STRIPE, STRIPE, STRIPE,
};

/* The map's slots take the hash's low bits: the stripe takes its high ones. */
static struct stripe *stripe_of(uint32_t hash)
{
	return &stripes[hash >> (32 - STRIPE_BITS)];
}

const char *pw_intern(const char *s)
{
	uint32_t hash = pw_hash_str(s);
	struct stripe *st = stripe_of(hash);
	const char *shared;
	void **holders;

	pthread_mutex_lock(&st->lock);
	if (!st->strings)
		st->strings = pw_strmap_new();
	shared = pw_strmap_entry_hashed(st->strings, s, hash, &holders);
	*holders = (void *)((uintptr_t)*holders + 1);
	pthread_mutex_unlock(&st->lock);
	return shared;
}

void pw_intern_release(const char *s)
{
	uint32_t hash;
	struct stripe *st;
	void **holders;

	if (!s)
		return;
	hash = pw_hash_str(s);
	st = stripe_of(hash);
	pthread_mutex_lock(&st->lock);
	if (!st->strings)
		abort();
	pw_strmap_entry_hashed(st->strings, s, hash, &holders);
	/* Not held: a string pw_intern() did not return, a bug best met here. */
	if (!*holders)
		abort();
	*holders = (void *)((uintptr_t)*holders - 1);
	if (!*holders) {
		/* s is the map's key: nothing may read it after this. */
		pw_strmap_del(st->strings, s);
		if (!pw_strmap_count(st->strings)) {
			pw_strmap_free(st->strings);
			st->strings = NULL;
		}
	}
	pthread_mutex_unlock(&st->lock);
}

size_t pw_intern_count(void)
{
	size_t i, n = 0;

	for (i = 0; i < PW_ARRAY_SIZE(stripes); i++) {
		pthread_mutex_lock(&stripes[i].lock);
		n += stripes[i].strings ? pw_strmap_count(stripes[i].strings) : 0;
		pthread_mutex_unlock(&stripes[i].lock);
	}
	return n;
}
