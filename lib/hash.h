/* Digests used for names that must be stable across runs and nodes. */
#ifndef PW_HASH_H
#define PW_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex SHA-1 of data: 40 characters and a NUL. */
void pw_sha1_hex(const void *data, size_t len, char out[41]);

/*
 * The first nchars characters of the base32 (RFC 4648 alphabet, lower
 * case) SHA-256 of text, NUL-terminated; nchars is at most 52. Five bits a
 * character keep names short while a 16-character digest still has 80 bits.
 */
void pw_digest_name(const char *text, char *out, size_t nchars);

/* FNV-1a, for in-memory hash tables only: never for names. */
uint32_t pw_hash_str(const char *s);

#endif
