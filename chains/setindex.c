#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter/ipset/ip_set.h>

#include "chains/setindex.h"
#include "lib/strmap.h"
#include "lib/util.h"

struct pw_setindex {
	int fd;
	unsigned version;	/* the kernel's ipset protocol */
	bool no_fname;		/* the kernel predates IP_SET_OP_GET_FNAME (3.13) */
	struct pw_strmap *known;	/* name -> known_value() */
};

/* Index and family in one map value, never 0 (which means unknown). */
static void *known_value(uint16_t index, int family)
{
	return (void *)(((uintptr_t)(unsigned)family << 16 | index) + 1);
}

/* getsockopt() reads the request from the buffer and writes the answer over it. */
static int set_sockopt(int fd, void *req, socklen_t size)
{
	socklen_t len = size;

	if (getsockopt(fd, SOL_IP, SO_IP_SET, req, &len) < 0)
		return -errno;
	return len == size ? 0 : -EPROTO;
}

int pw_setindex_open(struct pw_setindex **out, struct pw_buf *err)
{
	struct ip_set_req_version req;
	struct pw_setindex *si;
	int fd, ret;

	*out = NULL;
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0) {
		ret = -errno;
		pw_buf_printf(err, "ipset index lookup: socket: %s", strerror(-ret));
		return ret;
	}
	/*
	 * Every later request must carry the protocol the kernel speaks: 3.10
	 * insists on exactly its own, newer kernels on at least
	 * IPSET_PROTOCOL_MIN. Asking first satisfies both.
	 */
	memset(&req, 0, sizeof(req));
	req.op = IP_SET_OP_VERSION;
	ret = set_sockopt(fd, &req, sizeof(req));
	if (ret < 0) {
		pw_buf_printf(err, "ipset index lookup: protocol version: %s",
			      ret == -ENOPROTOOPT ? "the kernel has no ip_set support"
						  : strerror(-ret));
		close(fd);
		return ret;
	}
	si = pw_xcalloc(1, sizeof(*si));
	si->fd = fd;
	si->version = req.version;
	si->known = pw_strmap_new();
	*out = si;
	return 0;
}

void pw_setindex_close(struct pw_setindex *si)
{
	if (!si)
		return;
	close(si->fd);
	pw_strmap_free(si->known);
	free(si);
}

/* The kernel's NFPROTO_* numbers, as socket families. */
static int set_family(unsigned nfproto)
{
	switch (nfproto) {
	case NFPROTO_IPV4:
		return AF_INET;
	case NFPROTO_IPV6:
		return AF_INET6;
	}
	return AF_UNSPEC;
}

/*
 * GET_FNAME answers with the family too; a kernel before 3.13 does not
 * know it (EBADMSG), and is asked by name alone from then on.
 */
static int ask_kernel(struct pw_setindex *si, const char *name, uint16_t *index,
		      int *family)
{
	struct ip_set_req_get_set_family freq;
	struct ip_set_req_get_set req;
	int ret;

	if (!si->no_fname) {
		memset(&freq, 0, sizeof(freq));
		freq.op = IP_SET_OP_GET_FNAME;
		freq.version = si->version;
		strncpy(freq.set.name, name, sizeof(freq.set.name) - 1);
		ret = set_sockopt(si->fd, &freq, sizeof(freq));
		if (ret == 0) {
			*index = freq.set.index;
			*family = set_family(freq.family);
			return 0;
		}
		if (ret != -EBADMSG)
			return ret;
		si->no_fname = true;
	}
	memset(&req, 0, sizeof(req));
	req.op = IP_SET_OP_GET_BYNAME;
	req.version = si->version;
	strncpy(req.set.name, name, sizeof(req.set.name) - 1);
	ret = set_sockopt(si->fd, &req, sizeof(req));
	*index = req.set.index;
	*family = AF_UNSPEC;
	return ret;
}

int pw_setindex_lookup(struct pw_setindex *si, const char *name, uint16_t *index,
		       int *family, struct pw_buf *err)
{
	uintptr_t known = (uintptr_t)pw_strmap_get(si->known, name);
	uint16_t found = IPSET_INVALID_ID;
	int fam = AF_UNSPEC, ret;

	if (known) {
		*index = (uint16_t)((known - 1) & 0xffff);
		if (family)
			*family = (int)((known - 1) >> 16);
		return 0;
	}
	if (strlen(name) >= IPSET_MAXNAMELEN) {
		pw_buf_printf(err, "set %s: name longer than %d characters", name,
			      IPSET_MAXNAMELEN - 1);
		return -ENAMETOOLONG;
	}
	ret = ask_kernel(si, name, &found, &fam);
	if (ret < 0) {
		pw_buf_printf(err, "set %s: index lookup: %s", name, strerror(-ret));
		return ret;
	}
	if (found == IPSET_INVALID_ID) {
		pw_buf_printf(err, "set %s: no such set in the kernel", name);
		return -ENOENT;
	}
	*index = found;
	if (family)
		*family = fam;
	pw_strmap_put(si->known, name, known_value(found, fam));
	return 0;
}
