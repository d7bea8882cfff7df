/* Names of local pod interfaces, as Calico's CNI plugin creates them. */
#ifndef PW_ENDPOINT_H
#define PW_ENDPOINT_H

/* IFNAMSIZ is 16 including the NUL. */
#define PW_IFACE_NAME_MAX 15

/*
 * prefix + the first 11 hex digits of sha1("<namespace>.<pod>"), e.g.
 * "cali92d634f8f03". The prefix must be at most 4 characters.
 */
void pw_endpoint_iface_name(const char *prefix, const char *namespace,
			    const char *pod, char out[PW_IFACE_NAME_MAX + 1]);

#endif
