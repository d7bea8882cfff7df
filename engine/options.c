#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/cni_cache.h"
#include "engine/options.h"
#include "lib/util.h"

static const char *const deny_log_names[] = {
	[PW_DENY_LOG_NAMESPACES] = "namespaces",
	[PW_DENY_LOG_ALL] = "all",
	[PW_DENY_LOG_OFF] = "off",
};

/* kube-proxy's masquerade and drop bits: never ours to touch. */
#define KUBE_PROXY_MARKS 0xc000u

void pw_options_init(struct pw_options *cfg)
{
	char host[256];

	memset(cfg, 0, sizeof(*cfg));
	if (gethostname(host, sizeof(host)) < 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	cfg->node_name = pw_xstrdup(host);
	cfg->iface_prefix = pw_xstrdup(PW_DEFAULT_IFACE_PREFIX);
	cfg->prefix = pw_xstrdup(PW_DEFAULT_PREFIX);
	cfg->accept_mark = PW_DEFAULT_ACCEPT_MARK;
	cfg->pass_mark = PW_DEFAULT_PASS_MARK;
	cfg->endpoint_discovery = PW_DISCOVER_AUTO;
	cfg->cni_cache_dirs = pw_xstrdup(PW_CNI_CACHE_DIRS);
	cfg->ipv6 = true;
	cfg->lock_wait_ms = PW_DEFAULT_LOCK_WAIT_MS;
	cfg->log_level = PW_LOG_NOTICE;
	cfg->resync_interval_s = PW_DEFAULT_RESYNC_S;
	cfg->drift_check_ms = PW_DEFAULT_DRIFT_CHECK_MS;
	cfg->batch_window_ms = PW_DEFAULT_BATCH_MS;
	cfg->watch_stall_s = PW_DEFAULT_WATCH_STALL_S;
	cfg->initial_list = PW_INITIAL_LIST_WATCH_LIST;
	cfg->deny_log = PW_DENY_LOG_NAMESPACES;
	cfg->deny_log_group = PW_DEFAULT_DENY_LOG_GROUP;
	cfg->deny_log_rate = PW_DEFAULT_DENY_LOG_RATE;
	cfg->deny_log_rate_unit = PW_LIMIT_SEC;
	cfg->deny_log_burst = PW_DEFAULT_DENY_LOG_BURST;
}

void pw_options_free(struct pw_options *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nmanifests; i++)
		free(cfg->manifests[i]);
	free(cfg->manifests);
	free(cfg->kubeconfig);
	free(cfg->node_name);
	free(cfg->iface_prefix);
	free(cfg->prefix);
	free(cfg->cni_cache_dirs);
	free(cfg->metrics_address);
	free(cfg->metrics_textfile);
	free(cfg->config_path);
	memset(cfg, 0, sizeof(*cfg));
}

static char *dup_or_null(const char *s)
{
	return s ? pw_xstrdup(s) : NULL;
}

void pw_options_copy(struct pw_options *dst, const struct pw_options *src)
{
	size_t i;

	*dst = *src;
	dst->manifests = pw_xcalloc(src->nmanifests, sizeof(char *));
	for (i = 0; i < src->nmanifests; i++)
		dst->manifests[i] = pw_xstrdup(src->manifests[i]);
	dst->kubeconfig = dup_or_null(src->kubeconfig);
	dst->node_name = dup_or_null(src->node_name);
	dst->iface_prefix = dup_or_null(src->iface_prefix);
	dst->prefix = dup_or_null(src->prefix);
	dst->cni_cache_dirs = dup_or_null(src->cni_cache_dirs);
	dst->metrics_address = dup_or_null(src->metrics_address);
	dst->metrics_textfile = dup_or_null(src->metrics_textfile);
	dst->config_path = dup_or_null(src->config_path);
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static bool all_name_chars(const char *s)
{
	for (; *s; s++)
		if (!is_name_char(*s))
			return false;
	return true;
}

static int check_mark(const char *option, uint32_t mark, struct pw_buf *err)
{
	if (mark == 0 || (mark & (mark - 1))) {
		pw_buf_printf(err, "%s 0x%x: must be a single bit", option, mark);
		return -EINVAL;
	}
	if (mark & KUBE_PROXY_MARKS) {
		pw_buf_printf(err, "%s 0x%x: kube-proxy owns 0x4000 and 0x8000", option, mark);
		return -EINVAL;
	}
	return 0;
}

/*
 * The rate and burst go into one limit match, whose checkentry refuses
 * what its 32-bit credits cannot hold: better said here, by option name,
 * than by the kernel as ERANGE on the first logged pod.
 */
static int check_deny_log(const struct pw_options *cfg, struct pw_buf *err)
{
	struct pw_buf why = PW_BUF_INIT;
	int ret;

	if ((size_t)cfg->deny_log >= PW_ARRAY_SIZE(deny_log_names)) {
		pw_buf_printf(err, "--deny-log %d: expected namespaces, all or off",
			      (int)cfg->deny_log);
		return -EINVAL;
	}
	if (cfg->deny_log_group > PW_DENY_LOG_GROUP_MAX) {
		pw_buf_printf(err, "--deny-log-group %u: must be 0 to %u", cfg->deny_log_group,
			      PW_DENY_LOG_GROUP_MAX);
		return -EINVAL;
	}
	if (cfg->deny_log_burst == 0 || cfg->deny_log_burst > PW_DENY_LOG_BURST_MAX) {
		pw_buf_printf(err, "--deny-log-burst %u: must be 1 to %u", cfg->deny_log_burst,
			      PW_DENY_LOG_BURST_MAX);
		return -EINVAL;
	}
	ret = pw_limit_check(cfg->deny_log_rate, cfg->deny_log_rate_unit,
			     cfg->deny_log_burst, &why);
	if (ret < 0) {
		/* why starts with the rate itself. */
		pw_buf_printf(err, "--deny-log-rate %s", pw_buf_str(&why));
		ret = -EINVAL;
	}
	pw_buf_free(&why);
	return ret;
}

int pw_options_validate(const struct pw_options *cfg, struct pw_buf *err)
{
	size_t len = strlen(cfg->prefix);
	int ret;

	if (len == 0 || len > PW_PREFIX_MAX || !all_name_chars(cfg->prefix)) {
		pw_buf_printf(err, "--prefix \"%s\": 1 to %d letters, digits, '-' or '_'",
			      cfg->prefix, PW_PREFIX_MAX);
		return -EINVAL;
	}
	/* Felix sweeps away chains and sets named cali-*: sharing it would be fatal. */
	if (strncmp(cfg->prefix, "cali", 4) == 0) {
		pw_buf_printf(err, "--prefix \"%s\": the cali prefix belongs to Calico",
			      cfg->prefix);
		return -EINVAL;
	}
	len = strlen(cfg->iface_prefix);
	if (len == 0 || len > PW_IFACE_PREFIX_MAX || !all_name_chars(cfg->iface_prefix)) {
		pw_buf_printf(err, "--iface-prefix \"%s\": 1 to %d letters or digits",
			      cfg->iface_prefix, PW_IFACE_PREFIX_MAX);
		return -EINVAL;
	}
	ret = check_mark("--accept-mark", cfg->accept_mark, err);
	if (ret == 0)
		ret = check_mark("--pass-mark", cfg->pass_mark, err);
	if (ret < 0)
		return ret;
	if (cfg->pass_mark == cfg->accept_mark) {
		pw_buf_printf(err, "--pass-mark 0x%x: must differ from --accept-mark",
			      cfg->pass_mark);
		return -EINVAL;
	}
	ret = check_deny_log(cfg, err);
	if (ret < 0)
		return ret;
	if (!cfg->node_name || !cfg->node_name[0]) {
		pw_buf_puts(err, "--node-name: empty, and the hostname is unknown");
		return -EINVAL;
	}
	return 0;
}

static const char *const discovery_names[] = {
	[PW_DISCOVER_AUTO] = "auto",
	[PW_DISCOVER_CALICO] = "calico",
	[PW_DISCOVER_ROUTES] = "routes",
	[PW_DISCOVER_BRIDGE] = "bridge",
};

int pw_endpoint_discovery_parse(const char *text, enum pw_endpoint_discovery *out)
{
	int i = pw_name_index(discovery_names, PW_ARRAY_SIZE(discovery_names), text);

	if (i < 0)
		return -EINVAL;
	*out = (enum pw_endpoint_discovery)i;
	return 0;
}

const char *pw_endpoint_discovery_name(enum pw_endpoint_discovery d)
{
	return (size_t)d < PW_ARRAY_SIZE(discovery_names) ? discovery_names[d] : "?";
}

int pw_deny_log_parse(const char *text, enum pw_deny_log *out)
{
	int i = pw_name_index(deny_log_names, PW_ARRAY_SIZE(deny_log_names), text);

	if (i < 0)
		return -EINVAL;
	*out = (enum pw_deny_log)i;
	return 0;
}

const char *pw_deny_log_name(enum pw_deny_log mode)
{
	return (size_t)mode < PW_ARRAY_SIZE(deny_log_names) ? deny_log_names[mode] : "?";
}

bool pw_kernel_has_ipv6(void)
{
	/* Booted with ipv6.disable=1, or built without it: no such directory. */
	return access("/proc/sys/net/ipv6", F_OK) == 0;
}

int pw_options_parse_seconds(const char *text, unsigned *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || *end || v < 0 || v > 3600)
		return -EINVAL;
	*ms = (unsigned)(v * 1000);
	return 0;
}

void pw_options_set_string(char **field, const char *value)
{
	free(*field);
	*field = pw_xstrdup(value);
}
