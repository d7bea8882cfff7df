/*
 * Logging at the daemon's edge only. Lines go to stderr; under systemd
 * (JOURNAL_STREAM set) each carries a "<N>" priority prefix the journal reads.
 */
#ifndef PW_LOG_H
#define PW_LOG_H

#include "lib/util.h"

enum pw_log_level {
	PW_LOG_ERR = 3,
	PW_LOG_WARNING = 4,
	PW_LOG_NOTICE = 5,
	PW_LOG_INFO = 6,
	PW_LOG_DEBUG = 7,
};

void pw_log_set_level(enum pw_log_level max_level);
/* Parses "err", "warning", "notice", "info", "debug"; 0 or -EINVAL. */
int pw_log_level_parse(const char *text, enum pw_log_level *out);
void pw_log(enum pw_log_level level, const char *fmt, ...) PW_PRINTF(2, 3);

#define pw_err(...) pw_log(PW_LOG_ERR, __VA_ARGS__)
#define pw_warn(...) pw_log(PW_LOG_WARNING, __VA_ARGS__)
#define pw_notice(...) pw_log(PW_LOG_NOTICE, __VA_ARGS__)
#define pw_info(...) pw_log(PW_LOG_INFO, __VA_ARGS__)
#define pw_debug(...) pw_log(PW_LOG_DEBUG, __VA_ARGS__)

#endif
