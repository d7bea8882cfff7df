#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/intern.h"
#include "lib/strmap.h"

/*
 * The strings are the map's keys and their holder counts its values; the
 * map exists only while something is held, so a program that frees all
 * its objects ends with nothing left for a leak checker to report.
 */
static struct pw_strmap *strings;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

const char *pw_intern(const char *s)
{
	const char *shared;
	void **holders;

	pthread_mutex_lock(&lock);
	if (!strings)
		strings = pw_strmap_new();
	shared = pw_strmap_entry(strings, s, &holders);
	*holders = (void *)((uintptr_t)*holders + 1);
	pthread_mutex_unlock(&lock);
	return shared;
}

void pw_intern_release(const char *s)
{
	void **holders;

	if (!s)
		return;
	pthread_mutex_lock(&lock);
	if (!strings)
		abort();
	pw_strmap_entry(strings, s, &holders);
	/* Not held: a string pw_intern() did not return, a bug best met here. */
	if (!*holders)
		abort();
	*holders = (void *)((uintptr_t)*holders - 1);
	if (!*holders) {
		/* s is the map's key: nothing may read it after this. */
		pw_strmap_del(strings, s);
		if (!pw_strmap_count(strings)) {
			pw_strmap_free(strings);
			strings = NULL;
		}
	}
	pthread_mutex_unlock(&lock);
}

size_t pw_intern_count(void)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = strings ? pw_strmap_count(strings) : 0;
	pthread_mutex_unlock(&lock);
	return n;
}
