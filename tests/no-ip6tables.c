/*
 * Preloaded into podwall (LD_PRELOAD) to play a kernel without ip6_tables,
 * as a node built without it or with the module blacklisted has: every
 * ip6tables get and set answers ENOPROTOOPT, as the kernel does when no
 * module has registered the IPv6 x_tables socket options. The rest of IPv6
 * (addresses, routes, inet6 ipsets) stays, so that podwall sees pods with
 * IPv6 addresses it cannot enforce on.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

/* Below IP6T_BASE_CTL are IPv6's own socket options, which stay. */
static int is_ip6tables(int level, int optname)
{
	return level == IPPROTO_IPV6 && optname >= IP6T_BASE_CTL &&
	       optname <= (IP6T_SO_GET_MAX > IP6T_SO_SET_MAX ? IP6T_SO_GET_MAX : IP6T_SO_SET_MAX);
}

int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	static int (*real)(int, int, int, void *, socklen_t *);

	if (is_ip6tables(level, optname)) {
		errno = ENOPROTOOPT;
		return -1;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "getsockopt");
	return real(fd, level, optname, optval, optlen);
}

int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	static int (*real)(int, int, int, const void *, socklen_t);

	if (is_ip6tables(level, optname)) {
		errno = ENOPROTOOPT;
		return -1;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "setsockopt");
	return real(fd, level, optname, optval, optlen);
}
