#include "config.h"

#include <string.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "lib/hash.h"

static void digest(const EVP_MD *md, const void *data, size_t len,
		   unsigned char *out, unsigned int *outlen)
{
	/* EVP_Digest exists from OpenSSL 0.9.7 to 3.x without deprecation. */
	if (!EVP_Digest(data, len, out, outlen, md, NULL))
		abort();
}

void pw_sha1_hex(const void *data, size_t len, char out[41])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	digest(EVP_sha1(), data, len, md, &n);
	for (i = 0; i < n && i < 20; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[40] = '\0';
}

void pw_digest_name(const char *text, char *out, size_t nchars)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t i;

	digest(EVP_sha256(), text, strlen(text), md, &n);
	if (nchars > 52)
		nchars = 52;
	for (i = 0; i < nchars; i++) {
		size_t bit = i * 5, byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)md[byte] << 8;

		if (byte + 1 < n)
			v |= md[byte + 1];
		out[i] = alphabet[(v >> (11 - shift)) & 0x1f];
	}
	out[nchars] = '\0';
}

uint32_t pw_hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}
