#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "engine/config_file.h"
#include "lib/log.h"

enum value_kind {
	VALUE_STRING,
	VALUE_UINT,		/* a whole number */
	VALUE_SECONDS,		/* a number of seconds, fractions allowed: kept in ms */
	VALUE_LEVEL,
	VALUE_BOOL,		/* true or false, as YAML 1.1 spells them */
	VALUE_DISCOVERY,	/* an enum pw_endpoint_discovery */
	VALUE_DENY_LOG,		/* an enum pw_deny_log */
	VALUE_RATE,		/* "N/sec|min|hour|day": the count, the unit beside it */
	VALUE_INITIAL_LIST,	/* an enum pw_initial_list */
};

struct key {
	const char *name;
	enum value_kind kind;
	size_t offset;
	unsigned long max;
};

#define OPT(field) offsetof(struct pw_options, field)

static const struct key keys[] = {
	{ "nodeName", VALUE_STRING, OPT(node_name), 0 },
	{ "kubeconfig", VALUE_STRING, OPT(kubeconfig), 0 },
	{ "prefix", VALUE_STRING, OPT(prefix), 0 },
	{ "ifacePrefix", VALUE_STRING, OPT(iface_prefix), 0 },
	{ "acceptMark", VALUE_UINT, OPT(accept_mark), 0xffffffffUL },
	{ "passMark", VALUE_UINT, OPT(pass_mark), 0xffffffffUL },
	{ "endpointDiscovery", VALUE_DISCOVERY, OPT(endpoint_discovery), 0 },
	{ "cniCacheDir", VALUE_STRING, OPT(cni_cache_dirs), 0 },
	{ "keepSysctls", VALUE_BOOL, OPT(keep_sysctls), 0 },
	{ "lockWait", VALUE_SECONDS, OPT(lock_wait_ms), 3600 },
	{ "logLevel", VALUE_LEVEL, OPT(log_level), 0 },
	{ "resyncInterval", VALUE_UINT, OPT(resync_interval_s), 86400 },
	{ "driftCheckInterval", VALUE_SECONDS, OPT(drift_check_ms), 3600 },
	{ "batchWindow", VALUE_SECONDS, OPT(batch_window_ms), 10 },
	{ "watchStallTimeout", VALUE_UINT, OPT(watch_stall_s), 86400 },
	{ "initialList", VALUE_INITIAL_LIST, OPT(initial_list), 0 },
	{ "denyLog", VALUE_DENY_LOG, OPT(deny_log), 0 },
	{ "denyLogGroup", VALUE_UINT, OPT(deny_log_group), PW_DENY_LOG_GROUP_MAX },
	{ "denyLogRate", VALUE_RATE, OPT(deny_log_rate), 0 },
	{ "denyLogBurst", VALUE_UINT, OPT(deny_log_burst), PW_DENY_LOG_BURST_MAX },
	{ "denyLogReader", VALUE_BOOL, OPT(deny_log_reader), 0 },
	{ "metricsAddress", VALUE_STRING, OPT(metrics_address), 0 },
	{ "metricsTextfile", VALUE_STRING, OPT(metrics_textfile), 0 },
};

static int bad(struct pw_buf *err, const char *path, const yaml_node_t *n, const char *what)
{
	pw_buf_printf(err, "%s: line %lu: %s", path, (unsigned long)n->start_mark.line + 1, what);
	return -EINVAL;
}

static int parse_number(const char *text, bool fraction, double *out)
{
	char *end;

	errno = 0;
	*out = fraction ? strtod(text, &end) : (double)strtoul(text, &end, 0);
	if (errno || end == text || *end || *out < 0 || (!fraction && text[0] == '-'))
		return -EINVAL;
	return 0;
}

static int parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF" };
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(yes); i++) {
		if (strcmp(text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int set_value(const struct key *k, const char *text, struct pw_options *opt)
{
	char *field = (char *)opt + k->offset;
	enum pw_endpoint_discovery discovery;
	enum pw_limit_unit unit;
	enum pw_deny_log deny_log;
	enum pw_initial_list initial_list;
	enum pw_log_level level;
	unsigned count;
	double v;

	switch (k->kind) {
	case VALUE_STRING:
		if (!*text)
			return -EINVAL;
		free(*(char **)field);
		*(char **)field = pw_xstrdup(text);
		return 0;
	case VALUE_UINT:
	case VALUE_SECONDS:
		if (parse_number(text, k->kind == VALUE_SECONDS, &v) < 0 || v > (double)k->max)
			return -EINVAL;
		*(unsigned *)field = k->kind == VALUE_SECONDS ? (unsigned)(v * 1000) : (unsigned)v;
		return 0;
	case VALUE_LEVEL:
		if (pw_log_level_parse(text, &level) < 0)
			return -EINVAL;
		*(enum pw_log_level *)field = level;
		return 0;
	case VALUE_BOOL:
		return parse_bool(text, (bool *)field);
	case VALUE_DISCOVERY:
		if (pw_endpoint_discovery_parse(text, &discovery) < 0)
			return -EINVAL;
		*(enum pw_endpoint_discovery *)field = discovery;
		return 0;
	case VALUE_DENY_LOG:
		if (pw_deny_log_parse(text, &deny_log) < 0)
			return -EINVAL;
		*(enum pw_deny_log *)field = deny_log;
		return 0;
	case VALUE_INITIAL_LIST:
		if (pw_initial_list_parse(text, &initial_list) < 0)
			return -EINVAL;
		*(enum pw_initial_list *)field = initial_list;
		return 0;
	case VALUE_RATE:
		/* The one rate there is; what the kernel cannot hold, validate says. */
		if (pw_limit_parse(text, &count, &unit) < 0)
			return -EINVAL;
		opt->deny_log_rate = count;
		opt->deny_log_rate_unit = unit;
		return 0;
	}
	return -EINVAL;
}

static const struct key *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static int load_mapping(yaml_document_t *doc, const char *path, struct pw_options *opt,
			struct pw_buf *err)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	yaml_node_pair_t *pair;
	char what[160];

	if (!root)
		return 0;	/* an empty file: all defaults */
	if (root->type != YAML_MAPPING_NODE)
		return bad(err, path, root, "expected a mapping of option: value");
	for (pair = root->data.mapping.pairs.start; pair < root->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(doc, pair->value);
		const char *name = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		const struct key *key = find_key(name);

		if (!key) {
			snprintf(what, sizeof(what), "unknown option \"%.60s\"", name);
			return bad(err, path, k, what);
		}
		if (!v || v->type != YAML_SCALAR_NODE ||
		    set_value(key, (const char *)v->data.scalar.value, opt) < 0) {
			snprintf(what, sizeof(what), "%s: invalid value \"%.60s\"", key->name,
				 v && v->type == YAML_SCALAR_NODE ?
				 (const char *)v->data.scalar.value : "");
			return bad(err, path, v ? v : k, what);
		}
	}
	return 0;
}

int pw_config_file_load(const char *path, struct pw_options *opt, struct pw_buf *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	FILE *f = fopen(path, "rb");
	int ret;

	if (!f) {
		ret = -errno;
		pw_buf_printf(err, "%s: %s", path, strerror(errno));
		return ret;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		pw_buf_printf(err, "%s: line %lu: %s", path,
			      (unsigned long)parser.problem_mark.line + 1,
			      parser.problem ? parser.problem : "invalid YAML");
		ret = -EINVAL;
	} else {
		ret = load_mapping(&doc, path, opt, err);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	fclose(f);
	return ret;
}

int pw_config_file_load_for(int argc, char **argv, struct pw_options *opt, struct pw_buf *err)
{
	const char *path = NULL;
	int i, ret;

	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--") == 0)
			break;
	}
	free(opt->config_path);
	opt->config_path = pw_xstrdup(path ? path : PW_DEFAULT_CONFIG_PATH);
	ret = pw_config_file_load(opt->config_path, opt, err);
	return ret == -ENOENT && !path ? 0 : ret;
}
