#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <linux/netfilter/ipset/ip_set.h>

#include "chains/setindex.h"
#include "lib/strmap.h"
#include "lib/util.h"

struct pw_setindex {
	int fd;
	unsigned version;	/* the kernel's ipset protocol */
	struct pw_strmap *known;	/* name -> index + 1, so that 0 means unknown */
};

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

int pw_setindex_lookup(struct pw_setindex *si, const char *name, uint16_t *index,
		       struct pw_buf *err)
{
	struct ip_set_req_get_set req;
	uintptr_t known = (uintptr_t)pw_strmap_get(si->known, name);
	int ret;

	if (known) {
		*index = (uint16_t)(known - 1);
		return 0;
	}
	if (strlen(name) >= IPSET_MAXNAMELEN) {
		pw_buf_printf(err, "set %s: name longer than %d characters", name,
			      IPSET_MAXNAMELEN - 1);
		return -ENAMETOOLONG;
	}
	memset(&req, 0, sizeof(req));
	req.op = IP_SET_OP_GET_BYNAME;
	req.version = si->version;
	strncpy(req.set.name, name, sizeof(req.set.name) - 1);
	ret = set_sockopt(si->fd, &req, sizeof(req));
	if (ret < 0) {
		pw_buf_printf(err, "set %s: index lookup: %s", name, strerror(-ret));
		return ret;
	}
	if (req.set.index == IPSET_INVALID_ID) {
		pw_buf_printf(err, "set %s: no such set in the kernel", name);
		return -ENOENT;
	}
	*index = req.set.index;
	pw_strmap_put(si->known, name, (void *)(uintptr_t)(req.set.index + 1));
	return 0;
}
