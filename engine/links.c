#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "engine/links.h"
#include "lib/strmap.h"
#include "lib/util.h"

/*
 * Design notes.
 *
 * Events come in on one non-blocking socket bound to RTNLGRP_LINK; dumps go
 * over a second, short-lived socket. Keeping them apart means a dump never
 * interleaves with notifications, and the event socket only ever holds
 * kernel notifications (it never sends, so no reply or ack lands on it).
 *
 * When the event queue overflows the kernel drops notifications and the
 * next recv() fails with ENOBUFS, before any data still queued (the socket
 * error is reported first). What is still queued then may predate the drop,
 * so it is drained and thrown away, a dump is taken, and the table built
 * from it is diffed against the one we had. Everything queued after the
 * drain is applied on top of the dump; every event is "this ifindex now has
 * this name" or "this ifindex is gone", so replaying an event the dump
 * already reflects changes nothing (at worst a link made and removed during
 * the dump shows up as a short appear/disappear pair).
 *
 * Presence is tracked by name, identity by ifindex: a rename arrives as an
 * RTM_NEWLINK carrying a known ifindex with another name.
 */

/*
 * Big enough for any datagram rtnetlink sends: dump skbs are capped near
 * 32 KiB, and a smaller buffer would truncate (MSG_TRUNC) and lose data.
 */
#define LINKS_BUF_SIZE		65536
/*
 * The event queue the daemon asks for. ~1-2 KiB of skb per notification, so
 * a few hundred pods starting together fit; beyond that the ENOBUFS path
 * still keeps the table right, only at the cost of a dump.
 */
#define LINKS_RCVBUF		(1 << 20)
/* A dump that takes longer than this means the kernel is not answering. */
#define LINKS_DUMP_TIMEOUT_S	5
/* NLM_F_DUMP_INTR: the link list changed under the dump; try again. */
#define LINKS_DUMP_ATTEMPTS	10
/* Datagrams per pw_links_read(), so a storm cannot starve the event loop. */
#define LINKS_READ_MAX		4096
/* Datagrams thrown away before a resync dump; beyond, retry next read. */
#define LINKS_DRAIN_MAX		65536

struct link_table {
	struct pw_strmap *by_name;	/* tracked name -> ifindex (as a pointer) */
	struct pw_strmap *by_index;	/* decimal ifindex -> name (owned) */
};

struct report {
	void (*fn)(const char *name, bool up, void *ctx);	/* NULL: silent */
	void *ctx;
	int changes;
};

struct pw_links {
	struct mnl_socket *nl;		/* RTNLGRP_LINK notifications */
	char *prefix;
	size_t prefix_len;
	struct link_table table;
	bool resync;			/* events were lost: dump before going on */
	unsigned int seq;
	char *buf;
};

/* ---------------------------------------------------------------- table */

static void table_init(struct link_table *t)
{
	t->by_name = pw_strmap_new();
	t->by_index = pw_strmap_new();
}

static int free_value(const char *key, void *value, void *ctx)
{
	free(value);
	return 0;
}

static void table_fini(struct link_table *t)
{
	if (t->by_index)
		pw_strmap_foreach(t->by_index, free_value, NULL);
	pw_strmap_free(t->by_index);
	pw_strmap_free(t->by_name);
	t->by_index = t->by_name = NULL;
}

static void index_key(char *key, size_t size, int ifindex)
{
	snprintf(key, size, "%d", ifindex);
}

static const char *table_name_of(const struct link_table *t, int ifindex)
{
	char key[16];

	index_key(key, sizeof(key), ifindex);
	return pw_strmap_get(t->by_index, key);
}

/* Both maps must be free of ifindex and name. */
static void table_insert(struct link_table *t, int ifindex, const char *name)
{
	char key[16];

	index_key(key, sizeof(key), ifindex);
	/* ifindex is never 0, so the value is never the map's "absent" NULL. */
	pw_strmap_put(t->by_name, name, (void *)(uintptr_t)ifindex);
	pw_strmap_put(t->by_index, key, pw_xstrdup(name));
}

/* Drops ifindex and returns the name it had (the caller frees it), or NULL. */
static char *table_remove(struct link_table *t, int ifindex)
{
	char key[16];
	char *name;

	index_key(key, sizeof(key), ifindex);
	name = pw_strmap_del(t->by_index, key);
	if (name)
		pw_strmap_del(t->by_name, name);
	return name;
}

/* ---------------------------------------------------------------- events */

static bool tracked(const struct pw_links *l, const char *name)
{
	return strncmp(name, l->prefix, l->prefix_len) == 0;
}

static void report(struct report *rep, const char *name, bool up)
{
	rep->changes++;
	if (rep->fn)
		rep->fn(name, up, rep->ctx);
}

/* RTM_NEWLINK: ifindex is now called name. */
static void apply_new(struct pw_links *l, struct link_table *t, int ifindex,
		      const char *name, struct report *rep)
{
	const char *old = table_name_of(t, ifindex);
	uintptr_t other;

	/* Same link, same name: only its flags, MTU, carrier... changed. */
	if (old && strcmp(old, name) == 0)
		return;
	if (old) {
		/* A rename: the old name goes away whatever the new one is. */
		char *gone = table_remove(t, ifindex);

		report(rep, gone, false);
		free(gone);
	}
	if (!tracked(l, name))
		return;
	other = (uintptr_t)pw_strmap_get(t->by_name, name);
	if (other) {
		/*
		 * The name is ours already under another ifindex, whose
		 * removal we never saw. The name stays present: no change,
		 * only its ifindex moves.
		 */
		free(table_remove(t, (int)other));
		table_insert(t, ifindex, name);
		return;
	}
	table_insert(t, ifindex, name);
	report(rep, name, true);
}

/* RTM_DELLINK: ifindex is gone (deleted or moved to another namespace). */
static void apply_del(struct link_table *t, int ifindex, struct report *rep)
{
	char *gone = table_remove(t, ifindex);

	if (gone) {
		report(rep, gone, false);
		free(gone);
	}
}

/*
 * The ifindex and name of an RTM_NEWLINK/RTM_DELLINK, or false for what is
 * not about a whole link: AF_BRIDGE messages on the same group announce
 * bridge port changes (a DELLINK when a port leaves a bridge, yet the
 * device stays).
 */
static bool parse_link(const struct nlmsghdr *nlh, int *ifindex, const char **name)
{
	const struct ifinfomsg *ifi;
	const struct nlattr *attr;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return false;
	ifi = mnl_nlmsg_get_payload(nlh);
	if (ifi->ifi_family != AF_UNSPEC || ifi->ifi_index <= 0)
		return false;
	*name = NULL;
	mnl_attr_for_each(attr, nlh, sizeof(*ifi)) {
		if (mnl_attr_get_type(attr) != IFLA_IFNAME)
			continue;
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return false;
		*name = mnl_attr_get_str(attr);
	}
	*ifindex = ifi->ifi_index;
	return *name != NULL;
}

static void apply_msg(struct pw_links *l, struct link_table *t,
		      const struct nlmsghdr *nlh, struct report *rep)
{
	const char *name;
	int ifindex;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return;
	if (!parse_link(nlh, &ifindex, &name))
		return;
	if (nlh->nlmsg_type == RTM_NEWLINK)
		apply_new(l, t, ifindex, name, rep);
	else
		apply_del(t, ifindex, rep);
}

/* ---------------------------------------------------------------- dump */

static int set_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int nlmsg_error(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EBADMSG;
	/* Subsystems disagree on the sign; 0 is an ack. */
	return e->error < 0 ? e->error : -e->error;
}

/*
 * One RTM_GETLINK dump over its own socket into t. *again is set when the
 * kernel flags the dump as inconsistent (a link came or went while it ran,
 * which can make the walk skip a link that was there all along).
 */
static int dump_once(struct pw_links *l, struct link_table *t, bool *again,
		     struct pw_buf *err)
{
	struct timeval tv = { LINKS_DUMP_TIMEOUT_S, 0 };
	struct report silent = { NULL, NULL, 0 };
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	unsigned int seq, portid;
	int ret;

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl) {
		ret = -errno;
		pw_buf_printf(err, "links: netlink socket for the dump: %s",
			      strerror(-ret));
		return ret;
	}
	ret = set_cloexec(mnl_socket_get_fd(nl));
	if (ret == 0 && setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO,
				   &tv, sizeof(tv)) < 0)
		ret = -errno;
	if (ret == 0 && mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		ret = -errno;
	if (ret < 0) {
		pw_buf_printf(err, "links: netlink socket for the dump: %s",
			      strerror(-ret));
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	seq = ++l->seq;

	nlh = mnl_nlmsg_put_header(l->buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		pw_buf_printf(err, "links: RTM_GETLINK: %s", strerror(-ret));
		goto out;
	}

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, l->buf, LINKS_BUF_SIZE);
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				ret = -ETIMEDOUT;	/* SO_RCVTIMEO */
			pw_buf_printf(err, "links: reading the link dump: %s",
				      strerror(-ret));
			goto out;
		}
		len = (int)n;
		for (nlh = (struct nlmsghdr *)l->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != portid)
				continue;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				*again = true;
			if (nlh->nlmsg_type == NLMSG_DONE) {
				ret = 0;
				goto out;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				ret = nlmsg_error(nlh);
				if (ret < 0)
					pw_buf_printf(err, "links: RTM_GETLINK: %s",
						      strerror(-ret));
				goto out;
			}
			apply_msg(l, t, nlh, &silent);
		}
	}
out:
	mnl_socket_close(nl);
	return ret;
}

/*
 * Throws away what the event socket holds: it is older than the dump that
 * follows, and after a drop it may be missing the events that would undo it.
 */
static int drain(struct pw_links *l)
{
	unsigned i;

	for (i = 0; i < LINKS_DRAIN_MAX; i++) {
		if (mnl_socket_recvfrom(l->nl, l->buf, LINKS_BUF_SIZE) >= 0)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno != EINTR && errno != ENOBUFS && errno != ENOSPC)
			return -errno;
	}
	/* Events arrive faster than we read; the next read tries again. */
	return -EBUSY;
}

struct diff_ctx {
	const struct link_table *other;
	struct report *rep;
	bool up;
};

static int report_if_absent(const char *name, void *value, void *ctx)
{
	struct diff_ctx *d = ctx;

	if (!pw_strmap_get(d->other->by_name, name))
		report(d->rep, name, d->up);
	return 0;
}

/*
 * Replaces the table by a fresh dump and reports the differences, by name.
 * The new table is in place before the callbacks run, so that
 * pw_links_present() agrees with what they are told.
 */
static int resync(struct pw_links *l, struct report *rep, struct pw_buf *err)
{
	struct link_table fresh = { NULL, NULL }, old;
	struct diff_ctx d;
	unsigned attempt;
	bool again = true;
	int ret;

	ret = drain(l);
	if (ret < 0) {
		pw_buf_printf(err, "links: draining the event queue: %s",
			      strerror(-ret));
		return ret;
	}
	for (attempt = 0; again && attempt < LINKS_DUMP_ATTEMPTS; attempt++) {
		again = false;
		table_init(&fresh);
		ret = dump_once(l, &fresh, &again, err);
		if (ret == 0 && !again)
			break;
		table_fini(&fresh);
		if (ret < 0)
			return ret;
	}
	if (again) {
		pw_buf_printf(err, "links: the link list kept changing during %d dumps",
			      LINKS_DUMP_ATTEMPTS);
		return -EAGAIN;
	}

	old = l->table;
	l->table = fresh;
	l->resync = false;
	d.rep = rep;
	d.other = &l->table;
	d.up = false;
	pw_strmap_foreach(old.by_name, report_if_absent, &d);
	d.other = &old;
	d.up = true;
	pw_strmap_foreach(l->table.by_name, report_if_absent, &d);
	table_fini(&old);
	return 0;
}

/* ---------------------------------------------------------------- API */

struct pw_links *pw_links_open(const char *iface_prefix, struct pw_buf *err)
{
	struct report silent = { NULL, NULL, 0 };
	struct pw_links *l = pw_xcalloc(1, sizeof(*l));
	int rcvbuf = LINKS_RCVBUF;
	int fd, flags, ret;

	l->prefix = pw_xstrdup(iface_prefix ? iface_prefix : "");
	l->prefix_len = strlen(l->prefix);
	l->buf = pw_xmalloc(LINKS_BUF_SIZE);
	table_init(&l->table);

	/* libmnl 1.0.3 has no mnl_socket_open2(): flags go on afterwards. */
	l->nl = mnl_socket_open(NETLINK_ROUTE);
	if (!l->nl) {
		ret = -errno;
		pw_buf_printf(err, "links: netlink socket: %s", strerror(-ret));
		goto fail;
	}
	fd = mnl_socket_get_fd(l->nl);
	ret = set_cloexec(fd);
	if (ret == 0) {
		flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
			ret = -errno;
	}
	if (ret < 0) {
		pw_buf_printf(err, "links: fcntl: %s", strerror(-ret));
		goto fail;
	}
	/*
	 * Past net.core.rmem_max only with CAP_NET_ADMIN (FORCE); without
	 * it the default queue will do, ENOBUFS recovery covers the rest.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

	/* Subscribe before the dump, so that nothing between the two is lost. */
	if (mnl_socket_bind(l->nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		pw_buf_printf(err, "links: bind to RTNLGRP_LINK: %s", strerror(-ret));
		goto fail;
	}
	if (resync(l, &silent, err) < 0)
		goto fail;
	return l;
fail:
	pw_links_close(l);
	return NULL;
}

void pw_links_close(struct pw_links *l)
{
	if (!l)
		return;
	if (l->nl)
		mnl_socket_close(l->nl);
	table_fini(&l->table);
	free(l->prefix);
	free(l->buf);
	free(l);
}

int pw_links_fd(const struct pw_links *l)
{
	return mnl_socket_get_fd(l->nl);
}

int pw_links_read(struct pw_links *l, void (*fn)(const char *name, bool up, void *ctx),
		  void *ctx)
{
	struct report rep = { fn, ctx, 0 };
	struct pw_buf err = PW_BUF_INIT;
	unsigned i;
	int ret;

	for (i = 0; i < LINKS_READ_MAX; i++) {
		const struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		if (l->resync) {
			/* The contract has no room for text; errno says enough. */
			ret = resync(l, &rep, &err);
			pw_buf_free(&err);
			if (ret < 0)
				return ret;
			continue;
		}
		n = mnl_socket_recvfrom(l->nl, l->buf, LINKS_BUF_SIZE);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			/*
			 * ENOBUFS: the queue overflowed and notifications
			 * were dropped. ENOSPC: libmnl's word for a datagram
			 * cut short (MSG_TRUNC). The table can no longer be
			 * trusted either way.
			 */
			if (errno == ENOBUFS || errno == ENOSPC) {
				l->resync = true;
				continue;
			}
			return -errno;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)l->buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			apply_msg(l, &l->table, nlh, &rep);
	}
	return rep.changes;
}

bool pw_links_present(const struct pw_links *l, const char *name)
{
	return pw_strmap_get(l->table.by_name, name) != NULL;
}

unsigned pw_links_count(const struct pw_links *l)
{
	return (unsigned)pw_strmap_count(l->table.by_name);
}
