#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/util.h"

static PW_NORETURN void out_of_memory(size_t size)
{
	fprintf(stderr, "<2>podwall: out of memory allocating %zu bytes\n", size);
	abort();
}

void *pw_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		out_of_memory(size);
	return p;
}

void *pw_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		out_of_memory(nmemb * size);
	return p;
}

void *pw_xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (!p)
		out_of_memory(size);
	return p;
}

char *pw_xstrdup(const char *s)
{
	return pw_xstrndup(s, strlen(s));
}

char *pw_xstrndup(const char *s, size_t n)
{
	char *p = pw_xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *pw_xasprintf(const char *fmt, ...)
{
	struct pw_buf b = PW_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	pw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return pw_buf_steal(&b);
}

void pw_grow(void **array, size_t *cap, size_t need, size_t elem_size)
{
	size_t n = *cap ? *cap : 4;

	if (need <= *cap)
		return;
	while (n < need)
		n *= 2;
	*array = pw_xrealloc(*array, n * elem_size);
	*cap = n;
}

void pw_buf_init(struct pw_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void pw_buf_free(struct pw_buf *b)
{
	free(b->data);
	pw_buf_init(b);
}

void pw_buf_reset(struct pw_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

static void buf_reserve(struct pw_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	size_t n = b->cap ? b->cap : 64;

	if (need <= b->cap)
		return;
	while (n < need)
		n *= 2;
	b->data = pw_xrealloc(b->data, n);
	b->cap = n;
}

void pw_buf_add(struct pw_buf *b, const void *data, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void pw_buf_puts(struct pw_buf *b, const char *s)
{
	pw_buf_add(b, s, strlen(s));
}

void pw_buf_putc(struct pw_buf *b, char c)
{
	pw_buf_add(b, &c, 1);
}

void pw_buf_vprintf(struct pw_buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	int n;

	buf_reserve(b, 64);
	va_copy(copy, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, copy);
	va_end(copy);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		buf_reserve(b, (size_t)n);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	}
	b->len += (size_t)n;
}

void pw_buf_printf(struct pw_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pw_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

const char *pw_buf_str(const struct pw_buf *b)
{
	return b->data ? b->data : "";
}

char *pw_buf_steal(struct pw_buf *b)
{
	char *s = b->data ? b->data : pw_xstrdup("");

	pw_buf_init(b);
	return s;
}

int pw_strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool pw_str_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int pw_name_index(const char *const *names, size_t n, const char *text)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] && strcmp(text, names[i]) == 0)
			return (int)i;
	return -1;
}

uint64_t pw_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
