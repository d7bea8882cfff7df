#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "k8s/kubeconfig.h"
#include "k8s/yaml_map.h"
#include "lib/file.h"

/* Inline certificates make kubeconfigs large, but never this large. */
#define KUBECONFIG_MAX_BYTES (16u << 20)

#define INCLUSTER_ROOT "/var/run/secrets/kubernetes.io/serviceaccount"

/* What one load needs at hand to name the file and field in an error. */
struct kc_loader {
	const char *path;
	char *dir;			/* absolute directory of path */
	yaml_document_t *doc;
	struct pw_buf *err;
};

static int kc_fail(struct kc_loader *l, int ret, const char *fmt, ...) PW_PRINTF(3, 4);

static int kc_fail(struct kc_loader *l, int ret, const char *fmt, ...)
{
	va_list ap;

	pw_buf_printf(l->err, "%s: ", l->path);
	va_start(ap, fmt);
	pw_buf_vprintf(l->err, fmt, ap);
	va_end(ap);
	return ret;
}

/* ------------------------------------------------------------- files */

/*
 * The directory of path, made absolute: the daemon may change directory
 * later, and libcurl's NSS backend reads a name without a slash as a
 * certificate nickname rather than a file.
 */
static char *absolute_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *cwd, *abs;

	if (slash == path)
		return pw_xstrdup("/");
	dir = slash ? pw_xstrndup(path, (size_t)(slash - path)) : pw_xstrdup(".");
	if (dir[0] == '/')
		return dir;
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return dir;
	abs = strcmp(dir, ".") == 0 ? pw_xstrdup(cwd) : pw_xasprintf("%s/%s", cwd, dir);
	free(cwd);
	free(dir);
	return abs;
}

/* ------------------------------------------------------------- nodes */

static const char *text_of(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool word_in(const char *s, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(s, *words) == 0)
			return true;
	return false;
}

static const char *const null_words[] = { "", "~", "null", "Null", "NULL", NULL };
static const char *const true_words[] = { "true", "True", "TRUE", NULL };
static const char *const false_words[] = { "false", "False", "FALSE", NULL };

static bool is_null(const yaml_node_t *n)
{
	return !n || (n->type == YAML_SCALAR_NODE &&
		      n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		      word_in(text_of(n), null_words));
}

/*
 * The text under key, or NULL (and 0) when absent, null or empty. where
 * names the mapping in errors, "" for the top level.
 */
static int get_text(struct kc_loader *l, const yaml_node_t *map, const char *where,
		    const char *key, const char **out)
{
	yaml_node_t *n = pw_yaml_lookup(l->doc, map, key);

	*out = NULL;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return kc_fail(l, -EINVAL, "%s%s: expected a string", where, key);
	if (strlen(text_of(n)) != n->data.scalar.length)
		return kc_fail(l, -EINVAL, "%s%s: must not contain a NUL character",
			       where, key);
	if (*text_of(n))
		*out = text_of(n);
	return 0;
}

static int get_bool(struct kc_loader *l, const yaml_node_t *map, const char *where,
		    const char *key, bool *out)
{
	yaml_node_t *n = pw_yaml_lookup(l->doc, map, key);

	*out = false;
	if (is_null(n))
		return 0;
	if (n->type == YAML_SCALAR_NODE &&
	    n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (word_in(text_of(n), true_words)) {
			*out = true;
			return 0;
		}
		if (word_in(text_of(n), false_words))
			return 0;
	}
	return kc_fail(l, -EINVAL, "%s%s: expected true or false", where, key);
}

/*
 * kubeconfig's named lists: list is [{name: N, <inner>: {...}}, ...]. Finds
 * N's <inner> mapping; the first of equal names wins.
 */
static int find_named(struct kc_loader *l, const char *list, const char *inner,
		      const char *name, yaml_node_t **out)
{
	yaml_node_t *root = yaml_document_get_root_node(l->doc);
	yaml_node_t *seq = pw_yaml_lookup(l->doc, root, list);
	yaml_node_item_t *item;

	*out = NULL;
	if (!is_null(seq) && seq->type != YAML_SEQUENCE_NODE)
		return kc_fail(l, -EINVAL, "%s: expected a list", list);
	if (is_null(seq))
		return kc_fail(l, -ENOENT, "%s: no %s named \"%s\"", list, inner, name);
	for (item = seq->data.sequence.items.start; item < seq->data.sequence.items.top;
	     item++) {
		yaml_node_t *entry = yaml_document_get_node(l->doc, *item);
		yaml_node_t *n = pw_yaml_lookup(l->doc, entry, "name");
		yaml_node_t *value;

		if (!n || n->type != YAML_SCALAR_NODE || strcmp(text_of(n), name) != 0)
			continue;
		value = pw_yaml_lookup(l->doc, entry, inner);
		if (is_null(value))
			return kc_fail(l, -EINVAL, "%s[\"%s\"].%s: missing", list, name,
				       inner);
		if (value->type != YAML_MAPPING_NODE)
			return kc_fail(l, -EINVAL, "%s[\"%s\"].%s: expected a mapping",
				       list, name, inner);
		*out = value;
		return 0;
	}
	return kc_fail(l, -ENOENT, "%s: no %s named \"%s\"", list, inner, name);
}

/* ------------------------------------------------------------ base64 */

static int base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Standard base64 with or without padding; whitespace (a wrapped value) is
 * skipped. Returns the decoded text, or NULL when the input is not base64.
 */
static char *base64_decode(const char *in, size_t *out_len)
{
	size_t len = strlen(in), n = 0, group = 0, pad = 0;
	char *out = pw_xmalloc(len / 4 * 3 + 3);
	unsigned bits = 0;
	const char *p;

	for (p = in; *p; p++) {
		unsigned char c = (unsigned char)*p;
		int v;

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = base64_value(c);
		if (v < 0 || pad)	/* data after padding */
			goto bad;
		bits = (bits << 6) | (unsigned)v;
		if (++group == 4) {
			out[n++] = (char)(bits >> 16);
			out[n++] = (char)(bits >> 8);
			out[n++] = (char)bits;
			group = 0;
			bits = 0;
		}
	}
	/* A lone sixth of a byte, or padding that does not fill the group. */
	if (group == 1 || (pad && group + pad != 4) || (!group && pad))
		goto bad;
	if (group == 2) {
		out[n++] = (char)(bits >> 4);
	} else if (group == 3) {
		out[n++] = (char)(bits >> 10);
		out[n++] = (char)(bits >> 2);
	}
	out[n] = '\0';
	*out_len = n;
	return out;
bad:
	free(out);
	return NULL;
}

/* ---------------------------------------------------------- fields */

/* A path field: relative paths are taken from the kubeconfig's directory. */
static int get_path(struct kc_loader *l, const yaml_node_t *map, const char *where,
		    const char *key, char **out)
{
	const char *text;
	int ret;

	ret = get_text(l, map, where, key, &text);
	if (ret < 0 || !text)
		return ret;
	free(*out);
	*out = text[0] == '/' ? pw_xstrdup(text) : pw_xasprintf("%s/%s", l->dir, text);
	return 0;
}

/* A *-data field: base64 of PEM text. */
static int get_data(struct kc_loader *l, const yaml_node_t *map, const char *where,
		    const char *key, char **out)
{
	const char *text;
	char *data;
	size_t len;
	int ret;

	ret = get_text(l, map, where, key, &text);
	if (ret < 0 || !text)
		return ret;
	data = base64_decode(text, &len);
	if (!data)
		return kc_fail(l, -EINVAL, "%s%s: invalid base64", where, key);
	/* PEM is text; a NUL would silently cut the certificate short. */
	if (memchr(data, '\0', len)) {
		free(data);
		return kc_fail(l, -EINVAL, "%s%s: not PEM text (it contains a NUL byte)",
			       where, key);
	}
	if (!len) {
		free(data);
		return 0;
	}
	free(*out);
	*out = data;
	return 0;
}

/*
 * Where only a file or inline data is kept: client-go prefers the data
 * when both are given.
 */
static void prefer_data(char **file, char *data)
{
	if (data) {
		free(*file);
		*file = NULL;
	}
}

static int check_server(struct kc_loader *l, const char *where, const char *server,
			char **out)
{
	size_t scheme, len;

	if (!server)
		return kc_fail(l, -EINVAL, "%sserver: missing", where);
	if (strncmp(server, "https://", 8) == 0)
		scheme = 8;
	else if (strncmp(server, "http://", 7) == 0)
		scheme = 7;
	else
		return kc_fail(l, -EINVAL, "%sserver: must start with https:// or "
			       "http://, not \"%s\"", where, server);
	len = strlen(server);
	while (len > scheme && server[len - 1] == '/')
		len--;
	if (len == scheme)
		return kc_fail(l, -EINVAL, "%sserver: no host in \"%s\"", where, server);
	*out = pw_xstrndup(server, len);
	return 0;
}

static int load_cluster(struct kc_loader *l, const char *name, struct pw_k8s_config *out)
{
	struct pw_buf where = PW_BUF_INIT;
	const char *server;
	yaml_node_t *cluster;
	int ret;

	ret = find_named(l, "clusters", "cluster", name, &cluster);
	if (ret < 0)
		return ret;
	pw_buf_printf(&where, "clusters[\"%s\"].cluster.", name);
	ret = get_text(l, cluster, pw_buf_str(&where), "server", &server);
	if (!ret)
		ret = check_server(l, pw_buf_str(&where), server, &out->server);
	if (!ret)
		ret = get_path(l, cluster, pw_buf_str(&where), "certificate-authority",
			       &out->ca_file);
	if (!ret)
		ret = get_data(l, cluster, pw_buf_str(&where),
			       "certificate-authority-data", &out->ca_data);
	if (!ret)
		ret = get_bool(l, cluster, pw_buf_str(&where), "insecure-skip-tls-verify",
			       &out->insecure_skip_tls_verify);
	pw_buf_free(&where);
	prefer_data(&out->ca_file, out->ca_data);
	return ret;
}

/* Ways to log in that podwall does not implement: refuse rather than go anonymous. */
static int check_unsupported(struct kc_loader *l, const yaml_node_t *user,
			     const char *where)
{
	static const char *const keys[] = { "exec", "auth-provider", "username" };
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(keys); i++)
		if (!is_null(pw_yaml_lookup(l->doc, user, keys[i])))
			return kc_fail(l, -ENOTSUP,
				       "%s%s: not supported (use a client certificate, "
				       "token or tokenFile)", where, keys[i]);
	return 0;
}

static int load_user(struct kc_loader *l, const char *name, struct pw_k8s_config *out)
{
	struct pw_buf where = PW_BUF_INIT;
	const char *token = NULL, *w;
	yaml_node_t *user;
	int ret;

	ret = find_named(l, "users", "user", name, &user);
	if (ret < 0)
		return ret;
	pw_buf_printf(&where, "users[\"%s\"].user.", name);
	w = pw_buf_str(&where);
	ret = check_unsupported(l, user, w);
	if (!ret)
		ret = get_path(l, user, w, "client-certificate", &out->cert_file);
	if (!ret)
		ret = get_data(l, user, w, "client-certificate-data", &out->cert_data);
	if (!ret)
		ret = get_path(l, user, w, "client-key", &out->key_file);
	if (!ret)
		ret = get_data(l, user, w, "client-key-data", &out->key_data);
	if (!ret)
		ret = get_text(l, user, w, "token", &token);
	if (!ret && token)
		out->token = pw_xstrdup(token);
	if (!ret)
		ret = get_path(l, user, w, "tokenFile", &out->token_file);
	prefer_data(&out->cert_file, out->cert_data);
	prefer_data(&out->key_file, out->key_data);
	if (!ret &&
	    (out->cert_file || out->cert_data) != (out->key_file || out->key_data))
		ret = kc_fail(l, -EINVAL, "%s%s: missing (a client certificate needs its "
			      "key and the key its certificate)", w,
			      out->cert_file || out->cert_data ? "client-key" :
			      "client-certificate");
	pw_buf_free(&where);
	return ret;
}

static int load_document(struct kc_loader *l, struct pw_k8s_config *out)
{
	yaml_node_t *root = yaml_document_get_root_node(l->doc);
	const char *current, *cluster = NULL, *user = NULL;
	struct pw_buf where = PW_BUF_INIT;
	yaml_node_t *context;
	int ret;

	if (is_null(root))
		return kc_fail(l, -EINVAL, "empty");
	if (root->type != YAML_MAPPING_NODE)
		return kc_fail(l, -EINVAL, "expected a mapping at the top");
	ret = get_text(l, root, "", "current-context", &current);
	if (ret < 0)
		return ret;
	if (!current)
		return kc_fail(l, -EINVAL, "current-context: missing");
	ret = find_named(l, "contexts", "context", current, &context);
	if (ret < 0)
		return ret;
	pw_buf_printf(&where, "contexts[\"%s\"].context.", current);
	ret = get_text(l, context, pw_buf_str(&where), "cluster", &cluster);
	if (!ret && !cluster)
		ret = kc_fail(l, -EINVAL, "%scluster: missing", pw_buf_str(&where));
	if (!ret)
		ret = get_text(l, context, pw_buf_str(&where), "user", &user);
	pw_buf_free(&where);
	if (!ret)
		ret = load_cluster(l, cluster, out);
	/* A context without a user is anonymous, as with kubectl. */
	if (!ret && user)
		ret = load_user(l, user, out);
	return ret;
}

static int parse_error(struct kc_loader *l, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "cannot parse";

	if (p->error == YAML_MEMORY_ERROR)
		return kc_fail(l, -ENOMEM, "out of memory parsing YAML");
	if (p->error == YAML_READER_ERROR)
		return kc_fail(l, -EINVAL, "byte %zu: %s", p->problem_offset, problem);
	return kc_fail(l, -EINVAL, "line %zu column %zu: %s", p->problem_mark.line + 1,
		       p->problem_mark.column + 1, problem);
}

int pw_kubeconfig_load(const char *path, struct pw_k8s_config *out, struct pw_buf *err)
{
	struct kc_loader l = { path, NULL, NULL, err };
	yaml_parser_t parser;
	yaml_document_t doc;
	char *data = NULL;
	size_t len = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = pw_read_file(path, KUBECONFIG_MAX_BYTES, &data, &len);
	if (ret == -EFBIG)
		return kc_fail(&l, ret, "larger than %u MiB", KUBECONFIG_MAX_BYTES >> 20);
	if (ret < 0)
		return kc_fail(&l, ret, "%s", strerror(-ret));
	if (!yaml_parser_initialize(&parser)) {
		free(data);
		return kc_fail(&l, -ENOMEM, "cannot initialise the YAML parser");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
	/* Only the first document: kubectl reads no more. */
	if (!yaml_parser_load(&parser, &doc)) {
		ret = parse_error(&l, &parser);
	} else {
		l.doc = &doc;
		l.dir = absolute_dir(path);
		ret = load_document(&l, out);
		free(l.dir);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	free(data);
	if (ret < 0)
		pw_k8s_config_free(out);
	return ret;
}

/* ---------------------------------------------------------- in-cluster */

static bool is_port(const char *s)
{
	unsigned long v = 0;
	const char *p;

	if (!*s || strlen(s) > 5)
		return false;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	return v >= 1 && v <= 65535;
}

int pw_k8s_incluster_config(const char *root, struct pw_k8s_config *out,
			    struct pw_buf *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *sep = pw_str_has_suffix(root, "/") ? "" : "/";
	char *token, *ca;

	memset(out, 0, sizeof(*out));
	if (!host || !*host || !port || !*port) {
		pw_buf_puts(err, "in-cluster: KUBERNETES_SERVICE_HOST and "
			    "KUBERNETES_SERVICE_PORT must both be set (not in a pod? "
			    "then give a kubeconfig)");
		return -ENOENT;
	}
	if (!is_port(port)) {
		pw_buf_printf(err, "in-cluster: KUBERNETES_SERVICE_PORT: not a port "
			      "number: \"%s\"", port);
		return -EINVAL;
	}
	token = pw_xasprintf("%s%stoken", root, sep);
	/* The client reads it on each refresh; checked now, a bad mount shows early. */
	if (access(token, R_OK) < 0) {
		int ret = -errno;

		pw_buf_printf(err, "in-cluster: %s: %s", token, strerror(errno));
		free(token);
		return ret;
	}
	ca = pw_xasprintf("%s%sca.crt", root, sep);
	if (access(ca, R_OK) < 0) {
		int ret = -errno;

		pw_buf_printf(err, "in-cluster: %s: %s", ca, strerror(errno));
		free(ca);
		free(token);
		return ret;
	}
	/* As Go's JoinHostPort: an IPv6 address goes in brackets. */
	if (strchr(host, ':') && host[0] != '[')
		out->server = pw_xasprintf("https://[%s]:%s", host, port);
	else
		out->server = pw_xasprintf("https://%s:%s", host, port);
	out->token_file = token;
	out->ca_file = ca;
	return 0;
}

/* ------------------------------------------------------------ resolve */

/* The first existing file of a colon-separated list, or NULL. */
static char *first_existing(const char *list)
{
	const char *p = list;

	while (*p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len) {
			char *path = pw_xstrndup(p, len);
			struct stat st;

			if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode))
				return path;
			free(path);
		}
		if (!end)
			break;
		p = end + 1;
	}
	return NULL;
}

int pw_k8s_config_resolve(const char *flag_path, struct pw_k8s_config *out,
			  struct pw_buf *err)
{
	const char *env = getenv("KUBECONFIG");
	char *path;
	int ret;

	memset(out, 0, sizeof(*out));
	if (flag_path && *flag_path)
		return pw_kubeconfig_load(flag_path, out, err);
	if (env && *env) {
		path = first_existing(env);
		if (path) {
			ret = pw_kubeconfig_load(path, out, err);
			free(path);
			return ret;
		}
	}
	ret = pw_k8s_incluster_config(INCLUSTER_ROOT, out, err);
	/* Name what was tried, or the in-cluster error alone would puzzle. */
	if (ret < 0 && env && *env)
		pw_buf_printf(err, " (no file of KUBECONFIG=%s exists)", env);
	return ret;
}

void pw_k8s_config_free(struct pw_k8s_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->server);
	free(cfg->ca_file);
	free(cfg->ca_data);
	free(cfg->cert_file);
	free(cfg->cert_data);
	free(cfg->key_file);
	free(cfg->key_data);
	free(cfg->token);
	free(cfg->token_file);
	memset(cfg, 0, sizeof(*cfg));
}
