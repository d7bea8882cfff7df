#include "config.h"

#include <stdio.h>
#include <string.h>

#include "engine/endpoint.h"
#include "lib/hash.h"
#include "lib/util.h"

/* Calico's CNI (VethNameForWorkload) always takes 11 hex digits. */
#define IFACE_HASH_DIGITS 11

void pw_endpoint_iface_name(const char *prefix, const char *namespace,
			    const char *pod, char out[PW_IFACE_NAME_MAX + 1])
{
	struct pw_buf key = PW_BUF_INIT;
	char hex[41];

	pw_buf_printf(&key, "%s.%s", namespace, pod);
	pw_sha1_hex(key.data, key.len, hex);
	pw_buf_free(&key);
	snprintf(out, PW_IFACE_NAME_MAX + 1, "%.*s%.*s",
		 PW_IFACE_NAME_MAX - IFACE_HASH_DIGITS, prefix, IFACE_HASH_DIGITS, hex);
}
