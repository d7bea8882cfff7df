/*
 * The container runtime's record of what each CNI ADD returned (libcni's
 * result cache): which host interfaces and addresses a pod's sandbox got.
 * The runtime writes it as root, so, unlike what the kernel learns from a
 * pod's own frames (neighbour and bridge forwarding entries), a pod cannot
 * forge it. Files may be stale (a crash or reboot leaves them behind): the
 * caller checks every attachment against the kernel and the API.
 */
#ifndef PW_CNI_CACHE_H
#define PW_CNI_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/cidr.h"
#include "lib/util.h"

/* Where runtimes keep it: containerd (libcni >= 0.8) and dockershim. */
#define PW_CNI_CACHE_DIRS "/var/lib/cni/results:/var/lib/cni/cache/results"

struct pw_cni_attachment {
	char *path;		/* the file it was read from */
	char *container_id;	/* containerId, else from the file name; NULL if neither */
	char *network;		/* networkName ("cbr0"); NULL in the bare-result format */
	char *pod_namespace;	/* cniArgs K8S_POD_NAMESPACE; NULL when absent */
	char *pod_name;		/* cniArgs K8S_POD_NAME; NULL when absent */
	/*
	 * The result's interfaces without a "sandbox": the host side. The
	 * bridge plugin lists the bridge and the veth, ptp the veth, Calico
	 * its cali* interface; which one is the pod's port the kernel tells.
	 */
	char **host_ifaces;
	size_t nhost_ifaces;
	struct pw_cidr *ips;	/* the pod's addresses, full-length prefixes */
	size_t nips;
};

struct pw_cni_cache {
	struct pw_cni_attachment *items;	/* sorted by path */
	size_t count;
};

/*
 * Reads every regular file in each directory of dirs (a ':'-separated
 * list; a missing directory is no error) into out, which it first empties
 * (so out must start as { NULL, 0 } or hold an earlier read).
 * Both formats are read: libcni >= 0.8's {"kind":"cniCacheV1",...,
 * "result":{...}} and libcni 0.7's bare result. A file that is not one of
 * them, or larger than 1 MiB, is skipped with a line in notes naming it;
 * so are dotfiles, "*.tmp" and entries that are not regular files
 * (directories, symbolic links, FIFOs). An address in the result that does
 * not parse costs only its own entry, also with a note. notes may be NULL.
 * Returns the number of attachments, or -errno when a directory exists but
 * cannot be read, or is not a directory (the reason in notes; out is then
 * left empty).
 */
int pw_cni_cache_read(const char *dirs, struct pw_cni_cache *out, struct pw_buf *notes);
void pw_cni_cache_free(struct pw_cni_cache *c);

/*
 * The newest modification time (ns since the epoch) of the directories,
 * 0 when none exists: a file added or removed changes it, so a caller can
 * skip reading again when it is the same. A file rewritten in place does
 * not: libcni writes in place, so one read while it was being written
 * (skipped as empty or not JSON) is not seen again through this alone.
 */
long long pw_cni_cache_stamp(const char *dirs);

/*
 * Tells when a result may have been written, rewritten or removed in one
 * of dirs, so that a pod's port is learned as soon as the runtime records
 * it: the runtime writes the result after the plugin has made the pod's
 * interface, so the kernel's own events may all be over by then. A
 * directory that does not exist yet (containerd makes it for the first
 * pod) is watched through its nearest existing parent until it appears.
 */
struct pw_cni_watch;

/* NULL with the reason in err when inotify cannot be had (limits, ENOSYS). */
struct pw_cni_watch *pw_cni_watch_open(const char *dirs, struct pw_buf *err);
/* Readable when pw_cni_watch_read() has something to say. */
int pw_cni_watch_fd(const struct pw_cni_watch *w);
/*
 * Drains what the kernel queued and watches any directory made since;
 * true when a result may have changed (also after an overflow).
 */
bool pw_cni_watch_read(struct pw_cni_watch *w);
void pw_cni_watch_free(struct pw_cni_watch *w);

#endif
