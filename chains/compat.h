/*
 * Every difference between library and header generations, in one place:
 * libipset 6.x and 7.x sessions, and kernel headers too old to name what
 * podwall uses. Nothing outside chains/compat.c tests these configure
 * symbols.
 */
#ifndef PW_COMPAT_H
#define PW_COMPAT_H

#include "lib/util.h"

struct ipset_session;

/*
 * Opens a libipset session whose output (list and save text) is appended to
 * *output, with the EXIST option set so that create, add and del are
 * idempotent. NULL on failure.
 */
struct ipset_session *pw_compat_ipset_session_new(struct pw_buf *output);
void pw_compat_ipset_session_free(struct ipset_session *s);

/* The session's last error or warning text ("" when none), then cleared. */
const char *pw_compat_ipset_error(struct ipset_session *s);
void pw_compat_ipset_clear_error(struct ipset_session *s);

/* Old uapi headers only have XT_FUNCTION_MAXNAMELEN. */
#ifndef XT_EXTENSION_MAXNAMELEN
#define XT_EXTENSION_MAXNAMELEN 29
#endif

#endif
