#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "k8s/validate.h"

static int invalid(struct pw_buf *why, const char *reason)
{
	if (why)
		pw_buf_puts(why, reason);
	return -EINVAL;
}

static int too_long(struct pw_buf *why, size_t max)
{
	if (why)
		pw_buf_printf(why, "must be no more than %zu characters", max);
	return -EINVAL;
}

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..len) */
static bool is_dns_label(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return false;
	for (i = 1; i + 1 < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] over s[0..len) */
static bool is_label_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
		return false;
	for (i = 1; i + 1 < len; i++)
		if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

static const char dns_label_rule[] =
	"must consist of lower case alphanumeric characters or '-', "
	"and must start and end with an alphanumeric character";
static const char dns_subdomain_rule[] =
	"must consist of lower case alphanumeric characters, '-' or '.', "
	"and must start and end with an alphanumeric character";
static const char label_rule[] =
	"must consist of alphanumeric characters, '-', '_' or '.', "
	"and must start and end with an alphanumeric character";

int pw_validate_dns_label(const char *s, struct pw_buf *why)
{
	size_t len = strlen(s);

	if (len == 0)
		return invalid(why, "must not be empty");
	if (len > PW_DNS_LABEL_MAX)
		return too_long(why, PW_DNS_LABEL_MAX);
	if (!is_dns_label(s, len))
		return invalid(why, dns_label_rule);
	return 0;
}

/* Kubernetes checks only the total length, not each label's. */
static bool is_dns_subdomain(const char *s, size_t len)
{
	const char *end = s + len;

	for (;;) {
		const char *dot = memchr(s, '.', (size_t)(end - s));
		size_t part = dot ? (size_t)(dot - s) : (size_t)(end - s);

		if (!is_dns_label(s, part))
			return false;
		if (!dot)
			return true;
		s = dot + 1;
	}
}

int pw_validate_dns_subdomain(const char *s, struct pw_buf *why)
{
	size_t len = strlen(s);

	if (len == 0)
		return invalid(why, "must not be empty");
	if (len > PW_DNS_SUBDOMAIN_MAX)
		return too_long(why, PW_DNS_SUBDOMAIN_MAX);
	if (!is_dns_subdomain(s, len))
		return invalid(why, dns_subdomain_rule);
	return 0;
}

static int validate_key_prefix(const char *s, size_t len, struct pw_buf *why)
{
	if (len == 0)
		return invalid(why, "prefix part must not be empty");
	if (len > PW_DNS_SUBDOMAIN_MAX) {
		if (why)
			pw_buf_printf(why, "prefix part must be no more than %d "
				      "characters", PW_DNS_SUBDOMAIN_MAX);
		return -EINVAL;
	}
	if (!is_dns_subdomain(s, len)) {
		if (why)
			pw_buf_printf(why, "prefix part %s", dns_subdomain_rule);
		return -EINVAL;
	}
	return 0;
}

int pw_validate_label_key(const char *s, struct pw_buf *why)
{
	const char *slash = strchr(s, '/');
	const char *name = s;
	size_t len;

	if (slash) {
		if (strchr(slash + 1, '/'))
			return invalid(why, "must be a name with an optional prefix "
				       "and one '/' (e.g. 'example.com/name')");
		if (validate_key_prefix(s, (size_t)(slash - s), why) < 0)
			return -EINVAL;
		name = slash + 1;
	}
	len = strlen(name);
	if (len == 0)
		return invalid(why, "name part must not be empty");
	if (len > PW_LABEL_NAME_MAX) {
		if (why)
			pw_buf_printf(why, "name part must be no more than %d characters",
				      PW_LABEL_NAME_MAX);
		return -EINVAL;
	}
	if (!is_label_name(name, len)) {
		if (why)
			pw_buf_printf(why, "name part %s", label_rule);
		return -EINVAL;
	}
	return 0;
}

int pw_validate_label_value(const char *s, struct pw_buf *why)
{
	size_t len = strlen(s);

	if (len > PW_LABEL_VALUE_MAX)
		return too_long(why, PW_LABEL_VALUE_MAX);
	if (len > 0 && !is_label_name(s, len))
		return invalid(why, label_rule);
	return 0;
}

int pw_validate_port_name(const char *s, struct pw_buf *why)
{
	size_t len = strlen(s), i;
	bool letter = false;

	if (len == 0)
		return invalid(why, "must not be empty");
	if (len > PW_PORT_NAME_MAX)
		return too_long(why, PW_PORT_NAME_MAX);
	for (i = 0; i < len; i++) {
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return invalid(why, "must contain only lower case alphanumeric "
				       "characters and '-'");
		if (s[i] >= 'a' && s[i] <= 'z')
			letter = true;
	}
	if (!letter)
		return invalid(why, "must contain at least one letter");
	if (s[0] == '-' || s[len - 1] == '-')
		return invalid(why, "must not begin or end with '-'");
	if (strstr(s, "--"))
		return invalid(why, "must not contain consecutive '-'");
	return 0;
}
