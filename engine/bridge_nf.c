#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/bridge_nf.h"
#include "lib/util.h"

/* "1", "0", or -errno (ENOENT: no such switch, br_netfilter not loaded). */
static int read_switch(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = read(fd, &c, 1) == 1 ? c == '1' : -EIO;
	close(fd);
	return ret;
}

static int write_switch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "1\n", 2) != 2)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	return ret;
}

/*
 * /sys shows the links of the namespace that mounted it, /proc/sys/net
 * those of the reader's: in a namespace entered without a sysfs of its
 * own, /sys/class/net/<bridge> may be another namespace's bridge of that
 * name. Its ifindex must be the one this namespace gives the name.
 */
static bool sysfs_is_ours(const char *bridge)
{
	char path[96], text[16] = "";
	unsigned ifindex = if_nametoindex(bridge);
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/ifindex", bridge);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	return ifindex && n > 0 && strtoul(text, NULL, 10) == ifindex;
}

enum pw_bridge_nf pw_bridge_nf_ensure(const char *bridge, int family, bool may_change,
				      struct pw_buf *msg)
{
	const char *what = family == AF_INET6 ? "ip6tables" : "iptables";
	char global[96], own[128];
	int g, b, ret;

	snprintf(global, sizeof(global), "/proc/sys/net/bridge/bridge-nf-call-%s", what);
	snprintf(own, sizeof(own), "/sys/class/net/%s/bridge/nf_call_%s", bridge, what);
	g = read_switch(global);
	b = sysfs_is_ours(bridge) ? read_switch(own) : -ENOENT;
	if (g == 1 || b == 1)
		return PW_BRIDGE_NF_ON;
	if (g == -ENOENT) {
		/* Without the module loaded neither switch exists, nor can podwall load it. */
		pw_buf_printf(msg, "bridge %s: frames between its ports bypass %s: %s is missing "
			      "(load br_netfilter)", bridge, what, global);
		return PW_BRIDGE_NF_OFF;
	}
	if (!may_change) {
		pw_buf_printf(msg, "bridge %s: frames between its ports bypass %s (%s and %s are "
			      "0) and podwall was told to change no sysctl", bridge, what,
			      global, own);
		return PW_BRIDGE_NF_OFF;
	}
	ret = b == -ENOENT ? -ENOENT : write_switch(own);
	if (ret == 0 && read_switch(own) == 1) {
		pw_buf_printf(msg, "bridge %s: turned %s on, so that frames between its ports "
			      "pass %s", bridge, own, what);
		return PW_BRIDGE_NF_TURNED_ON;
	}
	g = write_switch(global);
	if (g == 0 && read_switch(global) == 1) {
		pw_buf_printf(msg, "bridge %s: turned %s on, so that frames between its ports "
			      "pass %s (%s: %s)", bridge, global, what, own,
			      strerror(ret < 0 ? -ret : EIO));
		return PW_BRIDGE_NF_TURNED_ON;
	}
	pw_buf_printf(msg, "bridge %s: frames between its ports bypass %s, and neither %s (%s) "
		      "nor %s (%s) could be turned on", bridge, what, own,
		      strerror(ret < 0 ? -ret : EIO), global, strerror(g < 0 ? -g : EIO));
	return PW_BRIDGE_NF_OFF;
}

int pw_bridge_nf_check_all(const struct pw_endpoints *eps, bool ipv6, bool may_change,
			   struct pw_buf *changes, struct pw_buf *problems)
{
	static const int families[] = { AF_INET, AF_INET6 };
	struct pw_buf msg = PW_BUF_INIT;
	size_t i, f;
	int off = 0;

	for (i = 0; i < eps->nbridges; i++) {
		for (f = 0; f < (ipv6 ? 2u : 1u); f++) {
			pw_buf_reset(&msg);
			switch (pw_bridge_nf_ensure(eps->bridges[i], families[f], may_change, &msg)) {
			case PW_BRIDGE_NF_ON:
				break;
			case PW_BRIDGE_NF_TURNED_ON:
				pw_buf_printf(changes, "%s\n", msg.data);
				break;
			case PW_BRIDGE_NF_OFF:
				pw_buf_printf(problems, "%s\n", msg.data);
				off++;
				break;
			}
		}
	}
	pw_buf_free(&msg);
	return off;
}
