/*
 * The kernel's index of an ipset, which is what an iptables set match
 * stores instead of the name. It is asked from the kernel directly with
 * getsockopt(SOL_IP, SO_IP_SET), as iptables' libxt_set does, so that the
 * rule writer needs no libipset session.
 */
#ifndef PW_SETINDEX_H
#define PW_SETINDEX_H

#include <stdint.h>

#include "lib/util.h"

struct pw_setindex;

/*
 * Opens a raw socket and asks the kernel which ipset protocol it speaks.
 * Returns 0 and the lookup context in *out, or -errno with the reason in
 * err (-ENOPROTOOPT: the kernel has no ip_set support).
 */
int pw_setindex_open(struct pw_setindex **out, struct pw_buf *err);
void pw_setindex_close(struct pw_setindex *si);

/*
 * The index of the set called name in *index and, when family is not
 * NULL, its family in *family: AF_INET, AF_INET6, or AF_UNSPEC when the
 * set has none (list:set) or the kernel cannot say (before 3.13). A rule
 * of one family never matches a set of the other, so the writer checks
 * it as ip6tables does. Answers are remembered for the life of si, so one
 * context must not outlive a change of the sets. Returns 0, -ENOENT when
 * there is no such set, or another -errno; the set's name and the reason
 * go to err.
 */
int pw_setindex_lookup(struct pw_setindex *si, const char *name, uint16_t *index,
		       int *family, struct pw_buf *err);

#endif
