#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libipset/session.h>

#include "chains/compat.h"
#include "lib/util.h"

/*
 * libipset generations, as configure found them:
 *
 *   6.x       session_init(outfn) with outfn(fmt, ...) and no context;
 *             ipset_envopt_parse(); ipset_session_error()/_warning().
 *   7.0       session_init(outfn, ctx); ipset_envopt_set(); the report
 *             accessors are declared but not exported, so the text is lost.
 *   7.1+      as 7.0, plus ipset_session_report_msg().
 *
 * Every #ifdef on these symbols lives in this file.
 */

#ifdef HAVE_IPSET_SESSION_OUTFN_CONTEXT

static int capture_output(struct ipset_session *s, void *ctx, const char *fmt, ...)
	PW_PRINTF(3, 4);

static int capture_output(struct ipset_session *s, void *ctx, const char *fmt, ...)
{
	struct pw_buf *out = ctx;
	size_t before;
	va_list ap;

	if (!out)
		return 0;
	before = out->len;
	va_start(ap, fmt);
	pw_buf_vprintf(out, fmt, ap);
	va_end(ap);
	return (int)(out->len - before);
}

struct ipset_session *pw_compat_ipset_session_new(struct pw_buf *output)
{
	struct ipset_session *s = ipset_session_init(capture_output, output);

	if (!s)
		return NULL;
#ifdef HAVE_IPSET_ENVOPT_SET
	ipset_envopt_set(s, IPSET_ENV_EXIST);
#else
	ipset_envopt_parse(s, IPSET_ENV_EXIST, NULL);
#endif
	return s;
}

void pw_compat_ipset_session_free(struct ipset_session *s)
{
	if (s)
		ipset_session_fini(s);
}

#else /* libipset 6.x */

/*
 * The 6.x output callback gets no context, so the buffer of the session
 * being served is kept here. podwall holds one session at a time (libipset's
 * set cache is process-global anyway); a second session would take the
 * output over from the first.
 */
static struct ipset_session *v6_session;
static struct pw_buf *v6_output;

static int capture_output(const char *fmt, ...) PW_PRINTF(1, 2);

static int capture_output(const char *fmt, ...)
{
	size_t before;
	va_list ap;

	if (!v6_output)
		return 0;
	before = v6_output->len;
	va_start(ap, fmt);
	pw_buf_vprintf(v6_output, fmt, ap);
	va_end(ap);
	return (int)(v6_output->len - before);
}

struct ipset_session *pw_compat_ipset_session_new(struct pw_buf *output)
{
	struct ipset_session *s = ipset_session_init(capture_output);

	if (!s)
		return NULL;
	ipset_envopt_parse(s, IPSET_ENV_EXIST, NULL);
	v6_session = s;
	v6_output = output;
	return s;
}

void pw_compat_ipset_session_free(struct ipset_session *s)
{
	if (!s)
		return;
	if (s == v6_session) {
		v6_session = NULL;
		v6_output = NULL;
	}
	ipset_session_fini(s);
}

#endif /* HAVE_IPSET_SESSION_OUTFN_CONTEXT */

/* The report as libipset holds it, or NULL when there is none. */
static const char *session_report(struct ipset_session *s)
{
#if defined(HAVE_IPSET_SESSION_REPORT_MSG)
	return ipset_session_report_msg(s);
#elif defined(HAVE_IPSET_SESSION_OUTFN_CONTEXT)
	/* 7.0 keeps the text in the session but exports no way to read it. */
	(void)s;
	return "(libipset 7.0 does not export its error text)";
#else
	const char *msg = ipset_session_error(s);

	return msg ? msg : ipset_session_warning(s);
#endif
}

/*
 * The text is copied out before the session's report is reset, so that the
 * caller can read it after the clear; it stays valid until the next call.
 * libipset is not thread-safe, so neither is this.
 */
static char last_report[1024];

const char *pw_compat_ipset_error(struct ipset_session *s)
{
	const char *msg = session_report(s);
	size_t len;

	snprintf(last_report, sizeof(last_report), "%s", msg ? msg : "");
	/* libipset ends each report with a newline; callers embed the text. */
	len = strlen(last_report);
	while (len > 0 && (last_report[len - 1] == '\n' || last_report[len - 1] == ' '))
		last_report[--len] = '\0';
	ipset_session_report_reset(s);
	return last_report;
}

void pw_compat_ipset_clear_error(struct ipset_session *s)
{
	ipset_session_report_reset(s);
}
