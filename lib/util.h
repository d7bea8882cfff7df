/*
 * Small infrastructure shared by every layer: allocation that aborts on
 * exhaustion (a node agent that cannot allocate a few bytes cannot enforce
 * anything either), and a growable text buffer.
 */
#ifndef PW_UTIL_H
#define PW_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define PW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define PW_NORETURN __attribute__((noreturn))
#else
#define PW_PRINTF(f, a)
#define PW_NORETURN
#endif

void *pw_xmalloc(size_t size);
void *pw_xcalloc(size_t nmemb, size_t size);
void *pw_xrealloc(void *ptr, size_t size);
char *pw_xstrdup(const char *s);
char *pw_xstrndup(const char *s, size_t n);
char *pw_xasprintf(const char *fmt, ...) PW_PRINTF(1, 2);

/* Grows *array (of *cap elements of elem_size) so that index need-1 fits. */
void pw_grow(void **array, size_t *cap, size_t need, size_t elem_size);
#define PW_GROW(array, cap, need) \
	pw_grow((void **)&(array), &(cap), (need), sizeof(*(array)))

/* A growable, always NUL-terminated byte buffer owned by its user. */
struct pw_buf {
	char *data;
	size_t len;
	size_t cap;
};

#define PW_BUF_INIT { NULL, 0, 0 }

void pw_buf_init(struct pw_buf *b);
void pw_buf_free(struct pw_buf *b);
void pw_buf_reset(struct pw_buf *b);
void pw_buf_add(struct pw_buf *b, const void *data, size_t len);
void pw_buf_puts(struct pw_buf *b, const char *s);
void pw_buf_putc(struct pw_buf *b, char c);
void pw_buf_printf(struct pw_buf *b, const char *fmt, ...) PW_PRINTF(2, 3);
void pw_buf_vprintf(struct pw_buf *b, const char *fmt, va_list ap);
/* The text so far; "" for an empty buffer, never NULL. */
const char *pw_buf_str(const struct pw_buf *b);
/* Hands the storage to the caller and leaves the buffer empty. */
char *pw_buf_steal(struct pw_buf *b);

int pw_strcmp_ptr(const void *a, const void *b);	/* qsort on char * arrays */
/* The index of text in names[0..n), or -1: an enum's value from its name. */
int pw_name_index(const char *const *names, size_t n, const char *text);
/* CLOCK_MONOTONIC in ms: for timeouts, which a clock step must not move. */
uint64_t pw_monotonic_ms(void);
bool pw_str_has_suffix(const char *s, const char *suffix);

#endif
