#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>		/* IFNAMSIZ */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "engine/cni_cache.h"
#include "k8s/validate.h"
#include "lib/cidr.h"
#include "lib/file.h"
#include "lib/util.h"

/*
 * Design notes.
 *
 * libcni writes each file in place (os.WriteFile: create, truncate, write;
 * every version from 0.7 to 1.3), not through a temporary file and a
 * rename, so a read that races a CNI ADD can see an empty or truncated
 * file. Such a file is skipped with a note like any other that is not
 * JSON; dotfiles and "*.tmp" are skipped too, for tools that do stage
 * files there.
 *
 * yajl_tree_parse() leaks the tree it has built so far when the text turns
 * out not to be JSON (upstream 2.0.4 and 2.1.0 alike, CVE-2023-33460;
 * distributions patched it at different times), and
 * yajl_tree_free() recurses once per level of nesting. So every text is
 * first run through a validating parse of our own, which also bounds the
 * nesting and the number of values; only text it accepts reaches
 * yajl_tree_parse(), which then fails on nothing but memory.
 *
 * A file libcni wrote has the fixed types of its Go structs. A field we
 * read holding another type means the file is not libcni's, so the whole
 * file is skipped with a note rather than half used. As in Go's
 * encoding/json, null reads as absent and a repeated key's last value wins.
 */

/* The header's promise; also what keeps a hostile path (a FIFO, /dev/zero) cheap. */
#define CNI_FILE_MAX		(1u << 20)
/* A result nests five levels (result.ips[0] and a value); capabilityArgs a few more. */
#define CNI_JSON_MAX_DEPTH	32
/*
 * A result holds tens of values. yajl_tree grows an array one element at a
 * time; glibc copes, but valgrind's realloc copies every time.
 */
#define CNI_JSON_MAX_VALUES	16384
/* containerd, CRI-O and dockershim name sandboxes by 64 hex digits. */
#define CNI_CONTAINER_ID_LEN	64
/* Longest value quoted back in a note. */
#define CNI_NOTE_QUOTE_MAX	64

#define CNI_STRINGIFY_(x)	#x
#define CNI_STRINGIFY(x)	CNI_STRINGIFY_(x)

/* The file being read: where notes go, and why it is being skipped. */
struct cni_file {
	const char *path;
	const char *name;	/* the last component: the container id's last resort */
	struct pw_buf *notes;	/* may be NULL */
	struct pw_buf why;
};

/* Control characters would split or forge note lines: shown as '?'. */
static void put_printable(struct pw_buf *b, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		pw_buf_putc(b, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
	if (s[i])
		pw_buf_puts(b, "...");
}

static void note(struct pw_buf *notes, const char *path, const char *fmt, ...) PW_PRINTF(3, 4);

static void note(struct pw_buf *notes, const char *path, const char *fmt, ...)
{
	va_list ap;

	if (!notes)
		return;
	put_printable(notes, path, PATH_MAX);
	pw_buf_puts(notes, ": ");
	va_start(ap, fmt);
	pw_buf_vprintf(notes, fmt, ap);
	va_end(ap);
	pw_buf_putc(notes, '\n');
}

/* ------------------------------------------------------- validating parse */

struct json_limits {
	size_t depth;
	size_t values;
	const char *exceeded;	/* set by the callback that stopped the parse */
};

static int count_value(struct json_limits *l)
{
	if (++l->values > CNI_JSON_MAX_VALUES) {
		l->exceeded = "more than " CNI_STRINGIFY(CNI_JSON_MAX_VALUES) " values";
		return 0;
	}
	return 1;
}

static int on_null(void *ctx)
{
	return count_value(ctx);
}

static int on_boolean(void *ctx, int value)
{
	(void)value;
	return count_value(ctx);
}

static int on_number(void *ctx, const char *text, size_t len)
{
	(void)text;
	(void)len;
	return count_value(ctx);
}

/* yajl_tree keeps strings NUL-terminated only: "\u0000" would cut a name short. */
static int on_string(void *ctx, const unsigned char *text, size_t len)
{
	struct json_limits *l = ctx;

	if (memchr(text, '\0', len)) {
		l->exceeded = "a string holds a NUL character";
		return 0;
	}
	return count_value(l);
}

static int on_open(void *ctx)
{
	struct json_limits *l = ctx;

	if (++l->depth > CNI_JSON_MAX_DEPTH) {
		l->exceeded = "nested deeper than " CNI_STRINGIFY(CNI_JSON_MAX_DEPTH) " levels";
		return 0;
	}
	return count_value(l);
}

static int on_close(void *ctx)
{
	struct json_limits *l = ctx;

	l->depth--;
	return 1;
}

static const yajl_callbacks limit_callbacks = {
	.yajl_null = on_null,
	.yajl_boolean = on_boolean,
	.yajl_number = on_number,	/* so yajl converts no number and refuses none */
	.yajl_string = on_string,
	.yajl_start_map = on_open,
	.yajl_map_key = on_string,
	.yajl_end_map = on_close,
	.yajl_start_array = on_open,
	.yajl_end_array = on_close,
};

/*
 * Accepts exactly what yajl_tree_parse() accepts (it, too, allows comments
 * and reads up to the first NUL), within the limits above.
 */
static int json_check(const char *text, struct pw_buf *why)
{
	struct json_limits limits = { 0, 0, NULL };
	size_t len = strlen(text), at;
	yajl_handle h;
	yajl_status st;
	unsigned char *msg;

	h = yajl_alloc(&limit_callbacks, NULL, &limits);
	if (!h)
		return -ENOMEM;
	yajl_config(h, yajl_allow_comments, 1);
	st = yajl_parse(h, (const unsigned char *)text, len);
	if (st == yajl_status_ok) {
		st = yajl_complete_parse(h);
		at = len;
	} else {
		at = yajl_get_bytes_consumed(h);
	}
	if (st == yajl_status_ok) {
		yajl_free(h);
		return 0;
	}
	pw_buf_printf(why, "not valid JSON at byte %zu of %zu: ", at, len);
	if (limits.exceeded) {
		pw_buf_puts(why, limits.exceeded);
	} else {
		msg = yajl_get_error(h, 0, (const unsigned char *)text, len);
		if (msg) {
			size_t n = strlen((const char *)msg);

			/* yajl ends its message with a period and a newline. */
			while (n && (msg[n - 1] == '\n' || msg[n - 1] == '.' || msg[n - 1] == ' '))
				n--;
			pw_buf_add(why, msg, n);
			yajl_free_error(h, msg);
		}
	}
	yajl_free(h);
	return -EINVAL;
}

/* ---------------------------------------------------------------- fields */

/* obj's value for key (the last when repeated); NULL when absent or null. */
static yajl_val member(yajl_val obj, const char *key)
{
	yajl_val found = NULL;
	size_t i;

	for (i = 0; i < obj->u.object.len; i++)
		if (strcmp(obj->u.object.keys[i], key) == 0)
			found = obj->u.object.values[i];
	return YAJL_IS_NULL(found) ? NULL : found;
}

/* *out is NULL when key is absent; -EINVAL when it holds no string. */
static int string_member(yajl_val obj, const char *key, const char *where,
			 const char **out, struct pw_buf *why)
{
	yajl_val v = member(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!YAJL_IS_STRING(v)) {
		pw_buf_printf(why, "%s%s is not a string", where, key);
		return -EINVAL;
	}
	*out = v->u.string;
	return 0;
}

/* What libcni's ValidateContainerID and ValidateNetworkName accept. */
static bool is_cni_name(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return false;
	}
	return i > 0;
}

/*
 * What the kernel's dev_valid_name() accepts, less control characters: the
 * name goes into rules and logs.
 */
static bool is_iface_name(const char *s)
{
	size_t len = strlen(s), i;

	if (len == 0 || len >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c == 0x7f || c == '/' || c == ':')
			return false;
	}
	return true;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * The file is "<network>-<containerID>-<ifName>", and network and ifName
 * may hold '-' too. An interface name is at most 15 characters, so no
 * '-'-separated field after the id can be 64 hex digits; the network's
 * can. Hence the last such field that is neither the first nor the last.
 */
static char *container_id_from_name(const char *name)
{
	const char *field = name, *end, *found = NULL;

	for (; *field; field = end + 1) {
		size_t i;

		end = strchr(field, '-');
		if (!end)
			break;	/* the last field: the interface */
		for (i = 0; field + i < end && is_hex(field[i]); i++)
			;
		if (field != name && field + i == end && i == CNI_CONTAINER_ID_LEN)
			found = field;
	}
	return found ? pw_xstrndup(found, CNI_CONTAINER_ID_LEN) : NULL;
}

/* ---------------------------------------------------------------- result */

static void add_host_iface(struct pw_cni_attachment *a, size_t *cap, const char *name)
{
	size_t i;

	for (i = 0; i < a->nhost_ifaces; i++)
		if (strcmp(a->host_ifaces[i], name) == 0)
			return;
	PW_GROW(a->host_ifaces, *cap, a->nhost_ifaces + 1);
	a->host_ifaces[a->nhost_ifaces++] = pw_xstrdup(name);
}

/*
 * The host side: entries without a sandbox (or with an empty one). at is
 * where the result is in the file ("result." or ""), for the notes.
 */
static int decode_interfaces(yajl_val list, const char *at, struct pw_cni_attachment *a,
			     struct pw_buf *why)
{
	size_t i, cap = 0;

	if (!list)
		return 0;
	if (!YAJL_IS_ARRAY(list)) {
		pw_buf_printf(why, "%sinterfaces is not an array", at);
		return -EINVAL;
	}
	for (i = 0; i < list->u.array.len; i++) {
		yajl_val iface = list->u.array.values[i];
		const char *name, *sandbox;
		char where[48];

		snprintf(where, sizeof(where), "%sinterfaces[%zu].", at, i);
		if (!YAJL_IS_OBJECT(iface)) {
			pw_buf_printf(why, "%sinterfaces[%zu] is not an object", at, i);
			return -EINVAL;
		}
		if (string_member(iface, "name", where, &name, why) < 0 ||
		    string_member(iface, "sandbox", where, &sandbox, why) < 0)
			return -EINVAL;
		if (sandbox && *sandbox)
			continue;
		if (!name || !is_iface_name(name)) {
			pw_buf_printf(why, "%sname is not an interface name", where);
			return -EINVAL;
		}
		add_host_iface(a, &cap, name);
	}
	return 0;
}

static void add_ip(struct pw_cni_attachment *a, size_t *cap, const struct pw_cidr *ip)
{
	size_t i;

	for (i = 0; i < a->nips; i++)
		if (pw_cidr_equal(&a->ips[i], ip))
			return;
	PW_GROW(a->ips, *cap, a->nips + 1);
	a->ips[a->nips++] = *ip;
}

/* An address that does not parse costs only its entry: the others are still the pod's. */
static int decode_ips(struct cni_file *f, yajl_val list, const char *at,
		      struct pw_cni_attachment *a)
{
	size_t i, cap = 0;

	if (!list)
		return 0;
	if (!YAJL_IS_ARRAY(list)) {
		pw_buf_printf(&f->why, "%sips is not an array", at);
		return -EINVAL;
	}
	for (i = 0; i < list->u.array.len; i++) {
		yajl_val entry = list->u.array.values[i];
		const char *address;
		struct pw_cidr ip;
		char where[48];

		snprintf(where, sizeof(where), "%sips[%zu].", at, i);
		if (!YAJL_IS_OBJECT(entry)) {
			pw_buf_printf(&f->why, "%sips[%zu] is not an object", at, i);
			return -EINVAL;
		}
		if (string_member(entry, "address", where, &address, &f->why) < 0)
			return -EINVAL;
		if (!address || pw_cidr_parse(address, &ip) < 0) {
			struct pw_buf quoted = PW_BUF_INIT;

			put_printable(&quoted, address ? address : "", CNI_NOTE_QUOTE_MAX);
			note(f->notes, f->path, "%saddress \"%s\" is not an address/prefix, entry skipped",
			     where, pw_buf_str(&quoted));
			pw_buf_free(&quoted);
			continue;
		}
		/* "10.244.1.5/24" is the pod's own address on a /24. */
		ip.prefix = (uint8_t)pw_cidr_max_prefix(&ip);
		add_ip(a, &cap, &ip);
	}
	return 0;
}

static int decode_result(struct cni_file *f, yajl_val result, const char *at,
			 struct pw_cni_attachment *a)
{
	if (!result)
		return 0;
	if (!YAJL_IS_OBJECT(result)) {
		pw_buf_puts(&f->why, "result is not an object");
		return -EINVAL;
	}
	if (decode_interfaces(member(result, "interfaces"), at, a, &f->why) < 0)
		return -EINVAL;
	return decode_ips(f, member(result, "ips"), at, a);
}

/* ------------------------------------------------------------- cniCacheV1 */

/* An empty value is as good as none; anything else must be a valid name. */
static int set_pod_field(char **field, const char *key, const char *value,
			 int (*validate)(const char *, struct pw_buf *), struct pw_buf *why)
{
	struct pw_buf reason = PW_BUF_INIT;

	if (*value && validate(value, &reason) < 0) {
		pw_buf_printf(why, "cniArgs %s %s", key, pw_buf_str(&reason));
		pw_buf_free(&reason);
		return -EINVAL;
	}
	free(*field);
	*field = *value ? pw_xstrdup(value) : NULL;
	return 0;
}

/* [["K8S_POD_NAMESPACE","x"],["K8S_POD_NAME","a"],...]: libcni's [][2]string. */
static int decode_cni_args(yajl_val args, struct pw_cni_attachment *a, struct pw_buf *why)
{
	size_t i;

	if (!args)
		return 0;
	if (!YAJL_IS_ARRAY(args)) {
		pw_buf_puts(why, "cniArgs is not an array");
		return -EINVAL;
	}
	for (i = 0; i < args->u.array.len; i++) {
		yajl_val pair = args->u.array.values[i];
		const char *key, *value;

		if (!YAJL_IS_ARRAY(pair) || pair->u.array.len != 2 ||
		    !YAJL_IS_STRING(pair->u.array.values[0]) ||
		    !YAJL_IS_STRING(pair->u.array.values[1])) {
			pw_buf_printf(why, "cniArgs[%zu] is not a pair of strings", i);
			return -EINVAL;
		}
		key = pair->u.array.values[0]->u.string;
		value = pair->u.array.values[1]->u.string;
		if (strcmp(key, "K8S_POD_NAMESPACE") == 0 &&
		    set_pod_field(&a->pod_namespace, key, value, pw_validate_dns_label, why) < 0)
			return -EINVAL;
		if (strcmp(key, "K8S_POD_NAME") == 0 &&
		    set_pod_field(&a->pod_name, key, value, pw_validate_dns_subdomain, why) < 0)
			return -EINVAL;
	}
	return 0;
}

/* A CNI name field: NULL when absent or empty, else valid by libcni's rule. */
static int decode_cni_name(yajl_val record, const char *key, char **out, struct pw_buf *why)
{
	const char *value;

	if (string_member(record, key, "", &value, why) < 0)
		return -EINVAL;
	if (!value || !*value)
		return 0;
	if (!is_cni_name(value)) {
		pw_buf_printf(why, "%s is not a valid CNI name", key);
		return -EINVAL;
	}
	*out = pw_xstrdup(value);
	return 0;
}

static int decode_cache_v1(struct cni_file *f, yajl_val record, struct pw_cni_attachment *a)
{
	if (decode_cni_name(record, "containerId", &a->container_id, &f->why) < 0 ||
	    decode_cni_name(record, "networkName", &a->network, &f->why) < 0 ||
	    decode_cni_args(member(record, "cniArgs"), a, &f->why) < 0)
		return -EINVAL;
	return decode_result(f, member(record, "result"), "result.", a);
}

/* ------------------------------------------------------------------ files */

static void attachment_free(struct pw_cni_attachment *a)
{
	size_t i;

	free(a->path);
	free(a->container_id);
	free(a->network);
	free(a->pod_namespace);
	free(a->pod_name);
	for (i = 0; i < a->nhost_ifaces; i++)
		free(a->host_ifaces[i]);
	free(a->host_ifaces);
	free(a->ips);
	memset(a, 0, sizeof(*a));
}

/* Either format: {"kind":"cniCacheV1",...} or libcni 0.7's bare result. */
static int decode_file(struct cni_file *f, yajl_val root, struct pw_cni_attachment *a)
{
	const char *kind, *version;
	int ret;

	if (!YAJL_IS_OBJECT(root)) {
		pw_buf_puts(&f->why, "not a JSON object");
		return -EINVAL;
	}
	if (string_member(root, "kind", "", &kind, &f->why) < 0)
		return -EINVAL;
	if (kind) {
		if (strcmp(kind, "cniCacheV1") != 0) {
			pw_buf_puts(&f->why, "kind \"");
			put_printable(&f->why, kind, CNI_NOTE_QUOTE_MAX);
			pw_buf_puts(&f->why, "\" is not cniCacheV1");
			return -EINVAL;
		}
		ret = decode_cache_v1(f, root, a);
	} else {
		if (string_member(root, "cniVersion", "", &version, &f->why) < 0)
			return -EINVAL;
		if (!version) {
			pw_buf_puts(&f->why, "neither a cniCacheV1 record (no kind) "
				    "nor a CNI result (no cniVersion)");
			return -EINVAL;
		}
		ret = decode_result(f, root, "", a);
	}
	if (ret == 0 && !a->container_id)
		a->container_id = container_id_from_name(f->name);
	return ret;
}

/* Fills a from the file; -errno when it is skipped, the reason in f->why. */
static int read_attachment(struct cni_file *f, struct pw_cni_attachment *a)
{
	char *text, errbuf[256];
	yajl_val root;
	size_t len;
	int ret;

	ret = pw_read_file(f->path, CNI_FILE_MAX, &text, &len);
	if (ret == -EFBIG) {
		pw_buf_puts(&f->why, "larger than 1 MiB");
		return ret;
	}
	if (ret < 0) {
		pw_buf_puts(&f->why, strerror(-ret));
		return ret;
	}
	if (len == 0) {
		pw_buf_puts(&f->why, "empty (libcni may be writing it)");
		ret = -EINVAL;
	} else if (strlen(text) != len) {
		pw_buf_puts(&f->why, "holds a NUL byte");
		ret = -EINVAL;
	} else {
		ret = json_check(text, &f->why);
	}
	if (ret < 0) {
		free(text);
		return ret;
	}
	root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
	free(text);
	if (!root) {
		pw_buf_printf(&f->why, "not read: %s", errbuf[0] ? errbuf : "out of memory");
		return -ENOMEM;
	}
	ret = decode_file(f, root, a);
	yajl_tree_free(root);
	return ret;
}

static void read_entry(const char *dir, const char *name, struct pw_cni_cache *c, size_t *cap,
		       struct pw_buf *notes)
{
	size_t dir_len = strlen(dir);
	struct cni_file f = { NULL, name, notes, PW_BUF_INIT };
	struct pw_cni_attachment a;
	struct stat st;
	char *path;

	path = pw_xasprintf("%s%s%s", dir, dir_len && dir[dir_len - 1] == '/' ? "" : "/", name);
	f.path = path;
	memset(&a, 0, sizeof(a));
	if (name[0] == '.') {
		note(notes, path, "a dotfile, skipped");
	} else if (pw_str_has_suffix(name, ".tmp")) {
		note(notes, path, "a temporary file, skipped");
	} else if (lstat(path, &st) < 0) {
		/* Removed since the listing: a pod went away, nothing to say. */
		if (errno != ENOENT)
			note(notes, path, "%s", strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		/* Not even symlinks: open() on a FIFO would block the daemon. */
		note(notes, path, "%s, skipped", S_ISDIR(st.st_mode) ? "a directory" :
		     S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file");
	} else if (read_attachment(&f, &a) < 0) {
		note(notes, path, "%s, skipped", pw_buf_str(&f.why));
		attachment_free(&a);
	} else {
		a.path = path;
		path = NULL;
		PW_GROW(c->items, *cap, c->count + 1);
		c->items[c->count++] = a;
	}
	pw_buf_free(&f.why);
	free(path);
}

/* Names in order, so that the notes come out the same each time too. */
static int read_dir(const char *dir, struct pw_cni_cache *c, size_t *cap, struct pw_buf *notes)
{
	size_t count = 0, names_cap = 0, i;
	char **names = NULL;
	struct dirent *e;
	DIR *d;
	int ret = 0;

	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		note(notes, dir, "%s", strerror(-ret));
		return ret;
	}
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno) {
				ret = -errno;
				note(notes, dir, "%s", strerror(-ret));
			}
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		PW_GROW(names, names_cap, count + 1);
		names[count++] = pw_xstrdup(e->d_name);
	}
	closedir(d);
	if (count)
		qsort(names, count, sizeof(*names), pw_strcmp_ptr);
	for (i = 0; i < count; i++) {
		if (ret == 0)
			read_entry(dir, names[i], c, cap, notes);
		free(names[i]);
	}
	free(names);
	return ret;
}

static int attachment_cmp(const void *a, const void *b)
{
	const struct pw_cni_attachment *x = a, *y = b;

	return strcmp(x->path, y->path);
}

/* A directory named twice in dirs yields every file twice. */
static void drop_repeated_paths(struct pw_cni_cache *c)
{
	size_t i, kept = 0;

	for (i = 0; i < c->count; i++) {
		if (kept && strcmp(c->items[kept - 1].path, c->items[i].path) == 0)
			attachment_free(&c->items[i]);
		else
			c->items[kept++] = c->items[i];
	}
	c->count = kept;
}

int pw_cni_cache_read(const char *dirs, struct pw_cni_cache *out, struct pw_buf *notes)
{
	struct pw_cni_cache found = { NULL, 0 };
	const char *dir, *end;
	size_t cap = 0;
	int ret = 0;

	pw_cni_cache_free(out);
	for (dir = dirs ? dirs : ""; ret == 0 && *dir; dir = *end ? end + 1 : end) {
		char *one;

		end = strchrnul(dir, ':');
		if (end == dir)
			continue;
		one = pw_xstrndup(dir, (size_t)(end - dir));
		ret = read_dir(one, &found, &cap, notes);
		free(one);
	}
	if (ret == 0 && found.count > INT_MAX)
		ret = -EOVERFLOW;
	if (ret < 0) {
		pw_cni_cache_free(&found);
		return ret;
	}
	if (found.count)
		qsort(found.items, found.count, sizeof(*found.items), attachment_cmp);
	drop_repeated_paths(&found);
	*out = found;
	return (int)found.count;
}

void pw_cni_cache_free(struct pw_cni_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->count; i++)
		attachment_free(&c->items[i]);
	free(c->items);
	c->items = NULL;
	c->count = 0;
}

long long pw_cni_cache_stamp(const char *dirs)
{
	long long newest = 0;
	const char *dir, *end;

	for (dir = dirs ? dirs : ""; *dir; dir = *end ? end + 1 : end) {
		struct stat st;
		char *one;

		end = strchrnul(dir, ':');
		if (end == dir)
			continue;
		one = pw_xstrndup(dir, (size_t)(end - dir));
		if (stat(one, &st) == 0 && S_ISDIR(st.st_mode)) {
			long long t = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;

			if (t > newest)
				newest = t;
		}
		free(one);
	}
	return newest;
}

struct pw_cni_watch {
	int fd;
	char *dirs;
};

/* What a result's arrival, rewrite or removal shows as. */
#define CNI_WATCH_RESULTS (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | \
			   IN_CREATE | IN_DELETE_SELF | IN_MOVE_SELF)
/* What a missing directory's coming into being shows as, one level at a time. */
#define CNI_WATCH_PARENT (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

/*
 * Watching a directory already watched only sets its mask again, so every
 * read arms them all afresh at no cost and none is ever lost.
 */
static void watch_dir(int fd, const char *dir)
{
	char *path = pw_xstrdup(dir);
	uint32_t mask = CNI_WATCH_RESULTS;

	for (;;) {
		char *slash;

		if (inotify_add_watch(fd, path, mask | IN_ONLYDIR) >= 0 || errno != ENOENT)
			break;
		slash = strrchr(path, '/');
		if (!slash)
			break;
		if (slash == path)
			slash[1] = '\0';	/* "/" itself */
		else
			*slash = '\0';
		mask = CNI_WATCH_PARENT;
	}
	free(path);
}

static void watch_all(struct pw_cni_watch *w)
{
	const char *dir, *end;

	for (dir = w->dirs; *dir; dir = *end ? end + 1 : end) {
		char *one;

		end = strchrnul(dir, ':');
		if (end == dir)
			continue;
		one = pw_xstrndup(dir, (size_t)(end - dir));
		watch_dir(w->fd, one);
		free(one);
	}
}

struct pw_cni_watch *pw_cni_watch_open(const char *dirs, struct pw_buf *err)
{
	struct pw_cni_watch *w;
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0) {
		pw_buf_printf(err, "inotify: %s", strerror(errno));
		return NULL;
	}
	w = pw_xcalloc(1, sizeof(*w));
	w->fd = fd;
	w->dirs = pw_xstrdup(dirs ? dirs : "");
	watch_all(w);
	return w;
}

int pw_cni_watch_fd(const struct pw_cni_watch *w)
{
	return w->fd;
}

bool pw_cni_watch_read(struct pw_cni_watch *w)
{
	/* Aligned as struct inotify_event wants to be. */
	union {
		struct inotify_event ev;
		char bytes[4096];
	} buf;
	bool any = false;
	ssize_t n;

	while ((n = read(w->fd, buf.bytes, sizeof(buf.bytes))) > 0)
		any = true;
	if (any)
		watch_all(w);
	return any;
}

void pw_cni_watch_free(struct pw_cni_watch *w)
{
	if (!w)
		return;
	close(w->fd);
	free(w->dirs);
	free(w);
}
