/*
 * One shared copy of each string that many cached objects repeat: namespace
 * and node names, label keys and values, container port names. At 150,000
 * pods a private copy of each costs tens of megabytes. Every copy counts
 * its holders and goes when the last lets go, so a daemon that sees labels
 * come and go for months does not keep them all.
 */
#ifndef PW_INTERN_H
#define PW_INTERN_H

#include <stddef.h>

/*
 * The shared copy of s, with one more holder; the caller lets go with
 * pw_intern_release() and never frees or writes it. Safe to call from
 * several threads (the manifest reader decodes on every processor).
 */
const char *pw_intern(const char *s);
/* One holder less for a string pw_intern() returned; NULL does nothing. */
void pw_intern_release(const char *s);
/* How many distinct strings are held. */
size_t pw_intern_count(void);

#endif
