#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

static enum pw_log_level max_level = PW_LOG_NOTICE;

static const char *const level_names[] = {
	[PW_LOG_ERR] = "err",
	[PW_LOG_WARNING] = "warning",
	[PW_LOG_NOTICE] = "notice",
	[PW_LOG_INFO] = "info",
	[PW_LOG_DEBUG] = "debug",
};

void pw_log_set_level(enum pw_log_level level)
{
	max_level = level;
}

int pw_log_level_parse(const char *text, enum pw_log_level *out)
{
	int i = pw_name_index(level_names, PW_ARRAY_SIZE(level_names), text);

	if (i < 0)
		return -EINVAL;
	*out = (enum pw_log_level)i;
	return 0;
}

void pw_log(enum pw_log_level level, const char *fmt, ...)
{
	struct pw_buf line = PW_BUF_INIT;
	va_list ap;

	if (level > max_level)
		return;
	if (getenv("JOURNAL_STREAM"))
		pw_buf_printf(&line, "<%d>", (int)level);
	else
		pw_buf_printf(&line, "podwall: %s: ", level_names[level]);
	va_start(ap, fmt);
	pw_buf_vprintf(&line, fmt, ap);
	va_end(ap);
	pw_buf_putc(&line, '\n');
	/* One write per line so that concurrent writers do not interleave. */
	fwrite(line.data, 1, line.len, stderr);
	fflush(stderr);
	pw_buf_free(&line);
}
