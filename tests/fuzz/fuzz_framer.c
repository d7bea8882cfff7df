/*
 * The watch stream's line framer, fed the same bytes in fuzzer-chosen
 * chunks, must give what a one-pass reference gives: the same lines, the
 * same refusal of an over-long line, the same bytes held back, wherever the
 * network cuts the stream.
 *
 * Input: byte 0 sets max_line (byte * 3), byte 1 the line after which the
 * callback asks to stop (0: never), byte 2 the number of cuts (% 16), then
 * two bytes per cut (its offset modulo the stream's length); the rest is
 * the stream.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s/watch.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CUTS 16

struct collected {
	struct pw_buf lines;	/* each line as "<length>:<bytes>" */
	size_t count;
	size_t stop_after;	/* 0: never ask to stop */
};

static int collect(const char *line, size_t len, void *ctx)
{
	struct collected *c = ctx;

	FUZZ_ASSERT(len > 0);
	FUZZ_ASSERT(!memchr(line, '\n', len));
	pw_buf_printf(&c->lines, "%zu:", len);
	pw_buf_add(&c->lines, line, len);
	c->count++;
	return c->count == c->stop_after ? 1 : 0;
}

static bool is_blank(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

/*
 * The framer's contract in one pass over the whole stream. Returns what
 * the last feed returns; *pending gets the bytes of the unfinished line.
 */
static int reference(const char *s, size_t len, size_t max_line,
		     struct collected *c, size_t *pending)
{
	size_t start = 0, i, n;

	*pending = 0;
	for (i = 0; i < len; i++) {
		if (s[i] != '\n')
			continue;
		n = i - start;
		if (n > max_line)
			return -EMSGSIZE;
		if (n && s[start + n - 1] == '\r')
			n--;
		if (!is_blank(s + start, n) && collect(s + start, n, c))
			return 1;
		start = i + 1;
	}
	if (len - start > max_line)
		return -EMSGSIZE;
	*pending = len - start;
	return 0;
}

/* Bytes since the last newline in s[0..len). */
static size_t tail_length(const char *s, size_t len)
{
	size_t n = 0;

	while (n < len && s[len - 1 - n] != '\n')
		n++;
	return n;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static int chunked(struct pw_line_framer *f, const char *s, size_t len,
		   const size_t *cuts, size_t ncuts, struct collected *c)
{
	size_t from = 0, i;
	int ret = 0;

	for (i = 0; i <= ncuts && ret == 0; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		ret = pw_line_framer_feed(f, s + from, to - from, collect, c);
		if (ret == 0)
			FUZZ_ASSERT(pw_line_framer_pending(f) == tail_length(s, to));
		from = to;
	}
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct collected want = { PW_BUF_INIT, 0, 0 }, got = { PW_BUF_INIT, 0, 0 };
	size_t max_line, ncuts, cuts[MAX_CUTS], i, len, pending;
	struct pw_line_framer *f;
	const char *stream;
	int want_ret, got_ret;

	if (size < 3)
		return 0;
	max_line = (size_t)data[0] * 3;
	want.stop_after = got.stop_after = data[1];
	ncuts = data[2] % MAX_CUTS;
	if (size < 3 + 2 * ncuts)
		return 0;
	stream = (const char *)data + 3 + 2 * ncuts;
	len = size - 3 - 2 * ncuts;
	for (i = 0; i < ncuts; i++)
		cuts[i] = (size_t)(data[3 + 2 * i] | data[4 + 2 * i] << 8) % (len + 1);
	qsort(cuts, ncuts, sizeof(*cuts), cmp_size);

	want_ret = reference(stream, len, max_line, &want, &pending);
	f = pw_line_framer_new(max_line);
	got_ret = chunked(f, stream, len, cuts, ncuts, &got);
	FUZZ_ASSERT(got_ret == want_ret);
	FUZZ_ASSERT(got.count == want.count);
	FUZZ_ASSERT(got.lines.len == want.lines.len);
	FUZZ_ASSERT(memcmp(pw_buf_str(&got.lines), pw_buf_str(&want.lines),
			   want.lines.len) == 0);
	if (got_ret == 0)
		FUZZ_ASSERT(pw_line_framer_pending(f) == pending);
	if (got_ret == -EMSGSIZE)
		FUZZ_ASSERT(pw_line_framer_pending(f) == 0);

	/* After a reset the framer is as new: one feed of it all agrees. */
	pw_line_framer_reset(f);
	FUZZ_ASSERT(pw_line_framer_pending(f) == 0);
	pw_buf_reset(&got.lines);
	got.count = 0;
	got_ret = pw_line_framer_feed(f, stream, len, collect, &got);
	FUZZ_ASSERT(got_ret == want_ret);
	FUZZ_ASSERT(got.lines.len == want.lines.len);
	FUZZ_ASSERT(memcmp(pw_buf_str(&got.lines), pw_buf_str(&want.lines),
			   want.lines.len) == 0);

	pw_line_framer_free(f);
	pw_buf_free(&want.lines);
	pw_buf_free(&got.lines);
	return 0;
}
