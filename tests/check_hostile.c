/*
 * Hostile input for the decoders: every field podwall reads, given each
 * wrong type, in a Pod, a Namespace and a NetworkPolicy, through the watch
 * event decoder, the list decoder and the manifest loader (JSON and block
 * YAML); invalid UTF-8, duplicate keys, deep nesting, huge objects and
 * 10,000 labels. Each must be refused with the object and the field named,
 * or decoded; never a crash, a hang or a neighbour lost.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <yaml.h>

#include "k8s/manifest.h"
#include "k8s/object.h"
#include "k8s/watch.h"
#include "lib/util.h"
#include "selectors/labels.h"
#include "selectors/selector.h"
#include "tests/testlib.h"

/* ------------------------------------------------------------ fixture */

static char workdir[64];

static void setup(void)
{
	pw_test_make_workdir(workdir, "check_hostile");
}

static void teardown(void)
{
	pw_test_remove_tree(workdir, 2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------- the three decoders */

/* What one decoder made of one object. */
struct outcome {
	int ret;			/* 0: decoded, else refused */
	struct pw_buf why;		/* the reason, when refused */
	char *key;			/* the refused object's key, when named */
	unsigned others;		/* objects decoded beside it */
	struct pw_object isolation;	/* a refused policy's */
};

static void outcome_reset(struct outcome *o)
{
	pw_buf_reset(&o->why);
	free(o->key);
	o->key = NULL;
	o->ret = 0;
	o->others = 0;
	pw_object_free(&o->isolation);
	memset(&o->isolation, 0, sizeof(o->isolation));
}

static void outcome_free(struct outcome *o)
{
	pw_buf_free(&o->why);
	free(o->key);
	pw_object_free(&o->isolation);
}

static void check_one_line(const char *text, const char *where)
{
	ck_assert_msg(!strchr(text, '\n'), "%s: a reason over several lines: %s", where, text);
}

/* The watch: the object as the MODIFIED event of a watch of kind. */
static void via_watch(const char *object, size_t len, enum pw_kind kind, struct outcome *o)
{
	struct pw_buf line = PW_BUF_INIT;
	struct pw_watch_event ev;

	outcome_reset(o);
	pw_buf_puts(&line, "{\"type\":\"MODIFIED\",\"object\":");
	pw_buf_add(&line, object, len);
	pw_buf_putc(&line, '}');
	o->ret = pw_watch_event_decode(line.data, line.len, kind, &ev, &o->why);
	if (o->ret == 0) {
		ck_assert_int_eq(ev.object.kind, kind);
		ck_assert_ptr_eq(ev.key, NULL);
	} else {
		ck_assert_ptr_eq(ev.object.u.pod, NULL);
		check_one_line(pw_buf_str(&o->why), "watch");
		if (ev.key)
			o->key = pw_xstrdup(ev.key);
		o->isolation = ev.isolation;
		memset(&ev.isolation, 0, sizeof(ev.isolation));
	}
	pw_watch_event_clear(&ev);
	pw_buf_free(&line);
}

static void list_fn(struct pw_object *obj, void *ctx)
{
	struct outcome *o = ctx;

	o->others++;
	pw_object_free(obj);
}

static void list_refused(const char *key, const char *why, struct pw_object *isolation,
			 void *ctx)
{
	struct outcome *o = ctx;

	ck_assert_msg(o->ret == 0, "two items refused: %s and %s", pw_buf_str(&o->why), why);
	o->ret = -EINVAL;
	pw_buf_puts(&o->why, why);
	check_one_line(why, "list");
	o->key = key ? pw_xstrdup(key) : NULL;
	if (isolation)
		o->isolation = *isolation;
}

static const char *const list_kinds[] = {
	[PW_KIND_NAMESPACE] = "NamespaceList",
	[PW_KIND_POD] = "PodList",
	[PW_KIND_POLICY] = "NetworkPolicyList",
};

/*
 * The list: the object between two valid ones (neighbour, given as JSON).
 * others counts the objects decoded; 2 means both neighbours survived.
 */
static void via_list(const char *object, size_t len, enum pw_kind kind,
		     const char *neighbour, struct outcome *o)
{
	struct pw_buf body = PW_BUF_INIT, err = PW_BUF_INIT;
	char *rv, *cont;

	outcome_reset(o);
	pw_buf_printf(&body, "{\"kind\":\"%s\",\"apiVersion\":\"v1\",\"metadata\":"
		      "{\"resourceVersion\":\"7\"},\"items\":[%s,", list_kinds[kind],
		      neighbour);
	pw_buf_add(&body, object, len);
	pw_buf_printf(&body, ",%s]}", neighbour);
	ck_assert_msg(pw_list_decode_keyed(body.data, body.len, kind, list_fn, list_refused,
					   o, &rv, &cont, &err) == 0,
		      "the list itself was refused: %s", pw_buf_str(&err));
	ck_assert_str_eq(rv, "7");
	free(rv);
	free(cont);
	pw_buf_free(&body);
	pw_buf_free(&err);
}

static int manifest_fn(struct pw_object *obj, const char *where, void *ctx)
{
	struct outcome *o = ctx;

	o->others++;
	pw_object_free(obj);
	return 0;
}

/* The manifest loader: text in a file called name. */
static void via_manifest(const char *name, const char *text, size_t len, struct outcome *o)
{
	struct pw_buf notices = PW_BUF_INIT;
	char *path = pw_xasprintf("%s/%s", workdir, name);
	FILE *f = fopen(path, "wb");

	outcome_reset(o);
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	o->ret = -pw_manifest_load(path, manifest_fn, o, &o->why, &notices);
	unlink(path);
	free(path);
	pw_buf_free(&notices);
}

/* ----------------------------------------------- JSON as block YAML */

static int put_buf(void *ctx, unsigned char *data, size_t size)
{
	pw_buf_add(ctx, data, size);
	return 1;
}

/*
 * The JSON text rewritten as block YAML by libyaml's emitter: the same
 * tree, read through the YAML half of the loader (indentation, plain
 * scalars resolved by the YAML rules).
 */
static char *json_to_block_yaml(const char *json)
{
	struct pw_buf out = PW_BUF_INIT;
	yaml_parser_t parser;
	yaml_emitter_t emitter;
	yaml_document_t doc;
	yaml_node_t *n;

	ck_assert(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (const unsigned char *)json, strlen(json));
	ck_assert_msg(yaml_parser_load(&parser, &doc), "libyaml cannot read %s", json);
	yaml_parser_delete(&parser);
	for (n = doc.nodes.start; n < doc.nodes.top; n++) {
		if (n->type == YAML_MAPPING_NODE)
			n->data.mapping.style = YAML_BLOCK_MAPPING_STYLE;
		else if (n->type == YAML_SEQUENCE_NODE)
			n->data.sequence.style = YAML_BLOCK_SEQUENCE_STYLE;
	}
	ck_assert(yaml_emitter_initialize(&emitter));
	yaml_emitter_set_output(&emitter, put_buf, &out);
	yaml_emitter_set_unicode(&emitter, 1);
	ck_assert(yaml_emitter_open(&emitter));
	ck_assert_msg(yaml_emitter_dump(&emitter, &doc), "libyaml cannot write %s", json);
	ck_assert(yaml_emitter_close(&emitter));
	yaml_emitter_delete(&emitter);
	return pw_buf_steal(&out);
}

/* ------------------------------------------------------ the objects */

enum cls {
	CLS_STRING,		/* a string */
	CLS_MAP,		/* a mapping */
	CLS_LIST,		/* a list */
	CLS_BOOL,		/* true or false */
	CLS_INT,		/* an integer port */
	CLS_PORT,		/* IntOrString: a port number or name */
	CLS_LABEL_VALUE,	/* a label value (null is "") */
};

/* What null (or an absent field) is for a slot. */
enum null_is {
	NULL_ERROR,		/* refused, at null_path or path */
	NULL_OK,		/* decoded */
	NULL_OK_IN_MANIFEST,	/* decoded from a manifest (defaulted), refused in a watch */
	NULL_ERROR_IN_MANIFEST,	/* refused in a manifest (required), decoded in a watch */
};

/*
 * A slot of an object's template: "$name" in a template stands for def,
 * itself a template. A test puts a hostile value in one slot.
 */
struct slot {
	const char *name;
	const char *def;
	const char *path;		/* the field, as errors name it */
	enum cls cls;
	enum null_is null_is;
	const char *null_path;		/* where null is refused, when not path */
	bool names;			/* the object's name or namespace (or above) */
};

static const struct slot slots[] = {
	/* Pod */
	{ "pod", "{\"apiVersion\":$papi,\"kind\":$pkind,\"metadata\":$pmeta,"
	  "\"spec\":$pspec,\"status\":$pstatus}", "", CLS_MAP, NULL_ERROR, NULL, true },
	{ "papi", "\"v1\"", "apiVersion", CLS_STRING, NULL_ERROR_IN_MANIFEST, NULL, false },
	{ "pkind", "\"Pod\"", "kind", CLS_STRING, NULL_ERROR_IN_MANIFEST, NULL, false },
	{ "pmeta", "{\"name\":$pname,\"namespace\":$pns,\"uid\":$puid,"
	  "\"resourceVersion\":$prv,\"labels\":$plabels,\"annotations\":{\"a\":\"b\"}}",
	  "metadata", CLS_MAP, NULL_ERROR, "metadata.name", true },
	{ "pname", "\"web-1\"", "metadata.name", CLS_STRING, NULL_ERROR, NULL, true },
	{ "pns", "\"shop\"", "metadata.namespace", CLS_STRING, NULL_OK_IN_MANIFEST, NULL, true },
	{ "puid", "\"0b7c-1\"", "metadata.uid", CLS_STRING, NULL_OK, NULL, false },
	{ "prv", "\"42\"", "metadata.resourceVersion", CLS_STRING, NULL_OK, NULL, false },
	{ "plabels", "{\"app\":$plabel,\"tier\":\"web\"}", "metadata.labels", CLS_MAP,
	  NULL_OK, NULL, false },
	{ "plabel", "\"web\"", "metadata.labels[\"app\"]", CLS_LABEL_VALUE, NULL_OK, NULL,
	  false },
	{ "pspec", "{\"nodeName\":$pnode,\"hostNetwork\":$phost,\"initContainers\":$pinit,"
	  "\"containers\":$pcontainers}", "spec", CLS_MAP, NULL_OK, NULL, false },
	{ "pnode", "\"edge-1\"", "spec.nodeName", CLS_STRING, NULL_OK, NULL, false },
	{ "phost", "false", "spec.hostNetwork", CLS_BOOL, NULL_OK, NULL, false },
	{ "pinit", "[]", "spec.initContainers", CLS_LIST, NULL_OK, NULL, false },
	{ "pcontainers", "[$pcontainer]", "spec.containers", CLS_LIST, NULL_OK, NULL, false },
	{ "pcontainer", "{\"name\":\"c\",\"image\":\"i\",\"ports\":$pports}",
	  "spec.containers[0]", CLS_MAP, NULL_OK, NULL, false },
	{ "pports", "[$pport]", "spec.containers[0].ports", CLS_LIST, NULL_OK, NULL, false },
	{ "pport", "{\"name\":$pportname,\"containerPort\":$pportnum,\"protocol\":$pproto}",
	  "spec.containers[0].ports[0]", CLS_MAP, NULL_ERROR, NULL, false },
	{ "pportname", "\"http\"", "spec.containers[0].ports[0].name", CLS_STRING, NULL_OK,
	  NULL, false },
	{ "pportnum", "8080", "spec.containers[0].ports[0].containerPort", CLS_INT,
	  NULL_ERROR, NULL, false },
	{ "pproto", "\"TCP\"", "spec.containers[0].ports[0].protocol", CLS_STRING, NULL_OK,
	  NULL, false },
	{ "pstatus", "{\"phase\":$pphase,\"podIP\":$pip,\"podIPs\":$pips}", "status",
	  CLS_MAP, NULL_OK, NULL, false },
	{ "pphase", "\"Running\"", "status.phase", CLS_STRING, NULL_OK, NULL, false },
	{ "pip", "\"198.18.0.1\"", "status.podIP", CLS_STRING, NULL_OK, NULL, false },
	{ "pips", "[$pipentry]", "status.podIPs", CLS_LIST, NULL_OK, NULL, false },
	{ "pipentry", "{\"ip\":$pipip}", "status.podIPs[0]", CLS_MAP, NULL_ERROR, NULL,
	  false },
	{ "pipip", "\"198.18.0.1\"", "status.podIPs[0].ip", CLS_STRING, NULL_ERROR, NULL,
	  false },

	/* Namespace */
	{ "ns", "{\"apiVersion\":$napi,\"kind\":$nkind,\"metadata\":$nmeta}", "", CLS_MAP,
	  NULL_ERROR, NULL, true },
	{ "napi", "\"v1\"", "apiVersion", CLS_STRING, NULL_ERROR_IN_MANIFEST, NULL, false },
	{ "nkind", "\"Namespace\"", "kind", CLS_STRING, NULL_ERROR_IN_MANIFEST, NULL, false },
	{ "nmeta", "{\"name\":$nname,\"uid\":$nuid,\"resourceVersion\":$nrv,"
	  "\"labels\":$nlabels}", "metadata", CLS_MAP, NULL_ERROR, "metadata.name", true },
	{ "nname", "\"shop\"", "metadata.name", CLS_STRING, NULL_ERROR, NULL, true },
	{ "nuid", "\"0b7c-2\"", "metadata.uid", CLS_STRING, NULL_OK, NULL, false },
	{ "nrv", "\"43\"", "metadata.resourceVersion", CLS_STRING, NULL_OK, NULL, false },
	{ "nlabels", "{\"team\":$nlabel}", "metadata.labels", CLS_MAP, NULL_OK, NULL, false },
	{ "nlabel", "\"red\"", "metadata.labels[\"team\"]", CLS_LABEL_VALUE, NULL_OK, NULL,
	  false },

	/* NetworkPolicy */
	{ "np", "{\"apiVersion\":$xapi,\"kind\":$xkind,\"metadata\":$xmeta,\"spec\":$xspec}",
	  "", CLS_MAP, NULL_ERROR, NULL, true },
	{ "xapi", "\"networking.k8s.io/v1\"", "apiVersion", CLS_STRING,
	  NULL_ERROR_IN_MANIFEST, NULL, false },
	{ "xkind", "\"NetworkPolicy\"", "kind", CLS_STRING, NULL_ERROR_IN_MANIFEST, NULL,
	  false },
	{ "xmeta", "{\"name\":$xname,\"namespace\":$xns,\"uid\":$xuid,\"labels\":$xlabels}",
	  "metadata", CLS_MAP, NULL_ERROR, "metadata.name", true },
	{ "xname", "\"allow-web\"", "metadata.name", CLS_STRING, NULL_ERROR, NULL, true },
	{ "xns", "\"shop\"", "metadata.namespace", CLS_STRING, NULL_OK_IN_MANIFEST, NULL, true },
	{ "xuid", "\"0b7c-3\"", "metadata.uid", CLS_STRING, NULL_OK, NULL, false },
	{ "xlabels", "{\"owner\":$xlabel}", "metadata.labels", CLS_MAP, NULL_OK, NULL, false },
	{ "xlabel", "\"ops\"", "metadata.labels[\"owner\"]", CLS_LABEL_VALUE, NULL_OK, NULL,
	  false },
	{ "xspec", "{\"podSelector\":$xpodsel,\"policyTypes\":$xtypes,\"ingress\":$xingress,"
	  "\"egress\":$xegress}", "spec", CLS_MAP, NULL_ERROR, NULL, false },
	{ "xpodsel", "{\"matchLabels\":$xml,\"matchExpressions\":$xme}", "spec.podSelector",
	  CLS_MAP, NULL_ERROR, NULL, false },
	{ "xml", "{\"app\":$xmlval}", "spec.podSelector.matchLabels", CLS_MAP, NULL_OK, NULL,
	  false },
	{ "xmlval", "\"web\"", "spec.podSelector.matchLabels[\"app\"]", CLS_LABEL_VALUE,
	  NULL_OK, NULL, false },
	{ "xme", "[$xexpr]", "spec.podSelector.matchExpressions", CLS_LIST, NULL_OK, NULL,
	  false },
	{ "xexpr", "{\"key\":$xexprkey,\"operator\":$xexprop,\"values\":$xexprvals}",
	  "spec.podSelector.matchExpressions[0]", CLS_MAP, NULL_ERROR, NULL, false },
	{ "xexprkey", "\"tier\"", "spec.podSelector.matchExpressions[0].key", CLS_STRING,
	  NULL_ERROR, NULL, false },
	{ "xexprop", "\"In\"", "spec.podSelector.matchExpressions[0].operator", CLS_STRING,
	  NULL_ERROR, NULL, false },
	{ "xexprvals", "[$xexprval]", "spec.podSelector.matchExpressions[0].values", CLS_LIST,
	  NULL_ERROR, NULL, false },
	{ "xexprval", "\"web\"", "spec.podSelector.matchExpressions[0].values[0]", CLS_STRING,
	  NULL_ERROR, NULL, false },
	{ "xtypes", "[$xtype,\"Egress\"]", "spec.policyTypes", CLS_LIST, NULL_OK, NULL, false },
	{ "xtype", "\"Ingress\"", "spec.policyTypes[0]", CLS_STRING, NULL_ERROR, NULL, false },
	{ "xingress", "[$xrule]", "spec.ingress", CLS_LIST, NULL_OK, NULL, false },
	{ "xrule", "{\"ports\":$xports,\"from\":$xfrom}", "spec.ingress[0]", CLS_MAP, NULL_OK,
	  NULL, false },
	{ "xports", "[$xport,$xrange]", "spec.ingress[0].ports", CLS_LIST, NULL_OK, NULL,
	  false },
	{ "xport", "{\"protocol\":$xproto,\"port\":$xportval}", "spec.ingress[0].ports[0]",
	  CLS_MAP, NULL_OK, NULL, false },
	{ "xproto", "\"TCP\"", "spec.ingress[0].ports[0].protocol", CLS_STRING, NULL_OK, NULL,
	  false },
	{ "xportval", "8080", "spec.ingress[0].ports[0].port", CLS_PORT, NULL_OK, NULL,
	  false },
	{ "xrange", "{\"port\":1000,\"endPort\":$xendport}", "spec.ingress[0].ports[1]",
	  CLS_MAP, NULL_OK, NULL, false },
	{ "xendport", "2000", "spec.ingress[0].ports[1].endPort", CLS_INT, NULL_OK, NULL,
	  false },
	{ "xfrom", "[$xpeer,$xpeer2]", "spec.ingress[0].from", CLS_LIST, NULL_OK, NULL,
	  false },
	{ "xpeer", "{\"podSelector\":$xpeersel,\"namespaceSelector\":$xnssel}",
	  "spec.ingress[0].from[0]", CLS_MAP, NULL_ERROR, NULL, false },
	{ "xpeersel", "{\"matchLabels\":{\"role\":\"client\"}}",
	  "spec.ingress[0].from[0].podSelector", CLS_MAP, NULL_OK, NULL, false },
	{ "xnssel", "{}", "spec.ingress[0].from[0].namespaceSelector", CLS_MAP, NULL_OK, NULL,
	  false },
	{ "xpeer2", "{\"ipBlock\":$xipblock}", "spec.ingress[0].from[1]", CLS_MAP, NULL_ERROR,
	  NULL, false },
	{ "xipblock", "{\"cidr\":$xcidr,\"except\":$xexcept}",
	  "spec.ingress[0].from[1].ipBlock", CLS_MAP, NULL_ERROR, "spec.ingress[0].from[1]",
	  false },
	{ "xcidr", "\"10.0.0.0/8\"", "spec.ingress[0].from[1].ipBlock.cidr", CLS_STRING,
	  NULL_ERROR, NULL, false },
	{ "xexcept", "[$xexceptval]", "spec.ingress[0].from[1].ipBlock.except", CLS_LIST,
	  NULL_OK, NULL, false },
	{ "xexceptval", "\"10.1.0.0/16\"", "spec.ingress[0].from[1].ipBlock.except[0]",
	  CLS_STRING, NULL_ERROR, NULL, false },
	{ "xegress", "[{\"to\":$xto,\"ports\":[{\"port\":53,\"protocol\":\"UDP\"}]}]",
	  "spec.egress", CLS_LIST, NULL_OK, NULL, false },
	{ "xto", "[{\"ipBlock\":{\"cidr\":\"0.0.0.0/0\"}}]", "spec.egress[0].to", CLS_LIST,
	  NULL_OK, NULL, false },
};

static const struct slot *find_slot(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(slots); i++)
		if (strlen(slots[i].name) == len && memcmp(slots[i].name, name, len) == 0)
			return &slots[i];
	ck_abort_msg("no slot %.*s", (int)len, name);
	return NULL;
}

static bool is_slot_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Expands template into out, with value in place of the slot target. */
static void expand(const char *template, const char *target, const char *value,
		   struct pw_buf *out)
{
	const char *p = template;

	while (*p) {
		const char *name, *end;
		const struct slot *s;

		if (*p != '$') {
			pw_buf_putc(out, *p++);
			continue;
		}
		name = ++p;
		for (end = name; is_slot_char(*end); end++)
			;
		s = find_slot(name, (size_t)(end - name));
		if (target && strcmp(s->name, target) == 0)
			pw_buf_puts(out, value);
		else
			expand(s->def, target, value, out);
		p = end;
	}
}

/* The object of root with value in slot target (NULL: the valid object). */
static char *object_with(const char *root, const char *target, const char *value)
{
	struct pw_buf out = PW_BUF_INIT;

	expand(find_slot(root, strlen(root))->def, target, value, &out);
	return pw_buf_steal(&out);
}

/* --------------------------------------------------- hostile values */

static const char *const wrong_for_string[] = {
	"{}", "{\"a\":\"b\"}", "[]", "[\"x\"]", "1", "-1.5e3", "true", "false",
	"\"a\\u0000b\"", NULL
};
static const char *const wrong_for_map[] = {
	"[]", "[{}]", "\"s\"", "1", "0.5", "true", "false", NULL
};
static const char *const wrong_for_list[] = {
	"{}", "{\"a\":[]}", "\"s\"", "1", "true", NULL
};
static const char *const wrong_for_bool[] = {
	"\"true\"", "\"false\"", "1", "0", "{}", "[]", NULL
};
static const char *const wrong_for_int[] = {
	"\"80\"", "80.5", "1e3", "0x50", "true", "{}", "[]", "99999999999999999999999",
	"-1", "0", "65536", NULL
};
static const char *const wrong_for_port[] = {
	"80.5", "true", "{}", "[]", "\"80\"", "\"-x\"", "0", "65536", "\"a-name-far-too-long\"",
	NULL
};
static const char *const wrong_for_label_value[] = {
	"{}", "[]", "[\"web\"]", "1", "true", "\"a b\"", "\"caf\\u00e9\"",
	"\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", NULL
};

static const char *const *wrong_values(enum cls cls)
{
	switch (cls) {
	case CLS_STRING:
		return wrong_for_string;
	case CLS_MAP:
		return wrong_for_map;
	case CLS_LIST:
		return wrong_for_list;
	case CLS_BOOL:
		return wrong_for_bool;
	case CLS_INT:
		return wrong_for_int;
	case CLS_PORT:
		return wrong_for_port;
	case CLS_LABEL_VALUE:
	default:
		return wrong_for_label_value;
	}
}

/* ------------------------------------------------------ checking */

struct kind_case {
	const char *root;		/* the template */
	enum pw_kind kind;
	const char *key;		/* of the valid object */
	const char *neighbour;		/* another valid object of the kind */
	const char *first, *last;	/* its slots, in slots[] */
};

static const struct kind_case kinds[] = {
	{ "pod", PW_KIND_POD, "shop/web-1",
	  "{\"metadata\":{\"name\":\"n\",\"namespace\":\"shop\"}}", "papi", "pipip" },
	{ "ns", PW_KIND_NAMESPACE, "shop", "{\"metadata\":{\"name\":\"n\"}}", "napi", "nlabel" },
	{ "np", PW_KIND_POLICY, "shop/allow-web",
	  "{\"metadata\":{\"name\":\"n\",\"namespace\":\"shop\"},\"spec\":{\"podSelector\":{}}}",
	  "xapi", "xto" },
};

/* Failures are gathered, so that one run tells them all. */
static struct pw_buf report = PW_BUF_INIT;
static unsigned cases;

static void complain(const char *via, const char *slot, const char *value,
		     const char *fmt, ...) PW_PRINTF(4, 5);

static void complain(const char *via, const char *slot, const char *value,
		     const char *fmt, ...)
{
	va_list ap;

	pw_buf_printf(&report, "%s: $%s = %s: ", via, slot, value);
	va_start(ap, fmt);
	pw_buf_vprintf(&report, fmt, ap);
	va_end(ap);
	pw_buf_putc(&report, '\n');
}

/*
 * Checks one outcome: refused naming the field (and the object, unless the
 * value broke its name), or decoded, as expected.
 */
static void judge(const char *via, const struct kind_case *k, const struct slot *s,
		  const char *value, bool refuse, const char *path, const struct outcome *o,
		  bool keyed)
{
	const char *why = pw_buf_str(&o->why);
	const char *name = strchr(k->key, '/') ? strchr(k->key, '/') + 1 : k->key;

	cases++;
	if (!refuse) {
		if (o->ret != 0)
			complain(via, s->name, value, "refused: %s", why);
		return;
	}
	if (o->ret == 0) {
		complain(via, s->name, value, "accepted");
		return;
	}
	if (*path && !strstr(why, path))
		complain(via, s->name, value, "the reason does not name %s: %s", path, why);
	if (!s->names && !strstr(why, name))
		complain(via, s->name, value, "the reason does not name %s: %s", name, why);
	if (keyed && !s->names && (!o->key || strcmp(o->key, k->key) != 0))
		complain(via, s->name, value, "refused as %s, not %s", o->key ? o->key : "NULL",
			 k->key);
	/* A refused policy comes with its isolation: selected pods, nothing allowed. */
	if (keyed && !s->names && k->kind == PW_KIND_POLICY &&
	    (!o->isolation.u.policy || o->isolation.u.policy->ningress ||
	     o->isolation.u.policy->negress || !o->isolation.u.policy->types))
		complain(via, s->name, value, "no isolation, or one that allows something");
}

/* True when the list around object (between two neighbours) is read at all. */
static bool list_parses(const char *object, size_t len, enum pw_kind kind,
			const char *neighbour)
{
	struct pw_buf body = PW_BUF_INIT, err = PW_BUF_INIT;
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	char *rv = NULL, *cont = NULL;
	int ret;

	outcome_reset(&o);
	pw_buf_printf(&body, "{\"kind\":\"%s\",\"apiVersion\":\"v1\",\"metadata\":"
		      "{\"resourceVersion\":\"7\"},\"items\":[%s,", list_kinds[kind],
		      neighbour);
	pw_buf_add(&body, object, len);
	pw_buf_printf(&body, ",%s]}", neighbour);
	ret = pw_list_decode_keyed(body.data, body.len, kind, list_fn, list_refused, &o,
				   &rv, &cont, &err);
	if (ret < 0 && !strstr(pw_buf_str(&err), "not valid JSON"))
		complain("list", "-", "0x50", "refused, but not as JSON: %s", pw_buf_str(&err));
	free(rv);
	free(cont);
	outcome_free(&o);
	pw_buf_free(&body);
	pw_buf_free(&err);
	return ret == 0;
}

static void try_value(const struct kind_case *k, const struct slot *s, const char *value,
		      bool null)
{
	char *json = object_with(k->root, s->name, value), *yaml, *name;
	bool refuse_watch = true, refuse_manifest = true;
	const char *path = s->path;
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };

	if (null) {
		refuse_watch = s->null_is == NULL_ERROR || s->null_is == NULL_OK_IN_MANIFEST;
		refuse_manifest = s->null_is == NULL_ERROR ||
			s->null_is == NULL_ERROR_IN_MANIFEST;
		if (s->null_path)
			path = s->null_path;
	}
	via_watch(json, strlen(json), k->kind, &o);
	if (strcmp(value, "0x50") == 0) {
		/* Not JSON at all (libyaml took it for YAML's hex): refused as
		 * Go refuses it; the reflector names it from the raw line. */
		cases++;
		if (o.ret == 0 || !strstr(pw_buf_str(&o.why), "not valid JSON"))
			complain("watch", s->name, value, "not refused as JSON: %s",
				 pw_buf_str(&o.why));
	} else {
		judge("watch", k, s, value, refuse_watch, path, &o, true);
	}

	if (strcmp(value, "0x50") == 0) {
		/* Not JSON: Go's decoder, and so podwall, refuse the whole list. */
		cases++;
		if (list_parses(json, strlen(json), k->kind, k->neighbour))
			complain("list", s->name, value, "a list that is not JSON was read");
	} else {
		via_list(json, strlen(json), k->kind, k->neighbour, &o);
		judge("list", k, s, value, refuse_watch, path, &o, true);
		if (o.others != 2u + !refuse_watch)
			complain("list", s->name, value, "%u objects decoded, not %d", o.others,
				 2 + !refuse_watch);
	}

	name = pw_xasprintf("%s-%s.json", k->root, s->name);
	via_manifest(name, json, strlen(json), &o);
	if (strcmp(value, "0x50") == 0) {
		/* YAML's, not JSON's: a .json file with it does not parse. */
		cases++;
		if (o.ret == 0 || !strstr(pw_buf_str(&o.why), "line 1 column"))
			complain("json file", s->name, value, "not a syntax error: %s",
				 pw_buf_str(&o.why));
	} else {
		judge("json file", k, s, value, refuse_manifest, path, &o, false);
	}
	free(name);

	yaml = json_to_block_yaml(json);
	name = pw_xasprintf("%s-%s.yaml", k->root, s->name);
	via_manifest(name, yaml, strlen(yaml), &o);
	judge("yaml file", k, s, value, refuse_manifest, path, &o, false);
	free(name);
	free(yaml);
	free(json);
	outcome_free(&o);
}

/* The valid objects are valid everywhere, or the cases prove nothing. */
START_TEST(test_templates_are_valid)
{
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(kinds); i++) {
		char *json = object_with(kinds[i].root, NULL, NULL), *yaml;

		via_watch(json, strlen(json), kinds[i].kind, &o);
		ck_assert_msg(o.ret == 0, "%s: %s", json, pw_buf_str(&o.why));
		via_list(json, strlen(json), kinds[i].kind, kinds[i].neighbour, &o);
		ck_assert_msg(o.ret == 0 && o.others == 3, "%s: %s", json, pw_buf_str(&o.why));
		via_manifest("valid.json", json, strlen(json), &o);
		ck_assert_msg(o.ret == 0 && o.others == 1, "%s: %s", json, pw_buf_str(&o.why));
		yaml = json_to_block_yaml(json);
		via_manifest("valid.yaml", yaml, strlen(yaml), &o);
		ck_assert_msg(o.ret == 0 && o.others == 1, "%s: %s", yaml, pw_buf_str(&o.why));
		free(yaml);
		free(json);
	}
	outcome_free(&o);
}
END_TEST

/*
 * Every field podwall reads, given every wrong type (and null), through the
 * watch, a list, a JSON file and a YAML file.
 */
START_TEST(test_wrong_types)
{
	size_t i, from, to;

	cases = 0;
	pw_buf_reset(&report);
	for (i = 0; i < PW_ARRAY_SIZE(kinds); i++) {
		const struct kind_case *k = &kinds[i];
		const char *const *v;

		from = (size_t)(find_slot(k->first, strlen(k->first)) - slots);
		to = (size_t)(find_slot(k->last, strlen(k->last)) - slots);
		for (; from <= to; from++) {
			const struct slot *s = &slots[from];

			for (v = wrong_values(s->cls); *v; v++)
				try_value(k, s, *v, false);
			try_value(k, s, "null", true);
		}
	}
	printf("wrong types: %u cases\n", cases);
	ck_assert_msg(report.len == 0, "%s", pw_buf_str(&report));
	ck_assert_uint_gt(cases, 1000);
	pw_buf_free(&report);
}
END_TEST

/* ----------------------------------------------------- isolation */

/*
 * A policy that does not decode still isolates what it surely selects;
 * where that is unreadable too, it errs on the closed side.
 */
START_TEST(test_policy_isolation)
{
	static const struct {
		const char *slot, *value;
		const char *selector;	/* NULL: that of the valid policy */
		unsigned types;
	} cases_[] = {
		/* The rules are broken: the selector and types stand. */
		{ "xingress", "\"all\"", NULL, PW_POLICY_INGRESS | PW_POLICY_EGRESS },
		{ "xportval", "70000", NULL, PW_POLICY_INGRESS | PW_POLICY_EGRESS },
		/* The selector is broken: every pod of the namespace. */
		{ "xpodsel", "\"app=web\"", "", PW_POLICY_INGRESS | PW_POLICY_EGRESS },
		{ "xexprop", "\"Near\"", "", PW_POLICY_INGRESS | PW_POLICY_EGRESS },
		/* The types are broken: both. */
		{ "xtype", "\"Sideways\"", NULL, PW_POLICY_INGRESS | PW_POLICY_EGRESS },
		{ "xspec", "[]", "", PW_POLICY_INGRESS | PW_POLICY_EGRESS },
	};
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	char *valid_selector;
	size_t i;

	/* The valid policy's selector, from a twin refused for its ipBlock. */
	{
		char *json = object_with("np", "xcidr", "\"nonsense\"");

		via_watch(json, strlen(json), PW_KIND_POLICY, &o);
		ck_assert_ptr_ne(o.isolation.u.policy, NULL);
		valid_selector = pw_xstrdup(pw_selector_canonical(
			o.isolation.u.policy->pod_selector));
		ck_assert_str_ne(valid_selector, "");
		free(json);
	}
	for (i = 0; i < PW_ARRAY_SIZE(cases_); i++) {
		char *json = object_with("np", cases_[i].slot, cases_[i].value);
		const struct pw_policy *p;
		int via;

		for (via = 0; via < 2; via++) {
			if (via)
				via_list(json, strlen(json), PW_KIND_POLICY, kinds[2].neighbour, &o);
			else
				via_watch(json, strlen(json), PW_KIND_POLICY, &o);
			ck_assert_msg(o.ret != 0, "%s accepted", cases_[i].slot);
			p = o.isolation.u.policy;
			ck_assert_msg(p != NULL, "%s: no isolation", cases_[i].slot);
			ck_assert_str_eq(p->namespace, "shop");
			ck_assert_str_eq(p->name, "allow-web");
			ck_assert_str_eq(p->uid, "0b7c-3");
			ck_assert_uint_eq(p->ningress, 0);
			ck_assert_uint_eq(p->negress, 0);
			ck_assert_msg(p->types == cases_[i].types, "%s: types %u", cases_[i].slot,
				      p->types);
			ck_assert_str_eq(pw_selector_canonical(p->pod_selector),
					 cases_[i].selector ? cases_[i].selector : valid_selector);
		}
		free(json);
	}

	/* Without policyTypes: Ingress, and Egress if egress holds anything. */
	{
		char *json = pw_xasprintf("{\"metadata\":{\"name\":\"p\",\"namespace\":"
					  "\"n\"},\"spec\":{\"podSelector\":{},\"policyTypes\":"
					  "[\"Ingress\"],\"egress\":5}}");

		via_watch(json, strlen(json), PW_KIND_POLICY, &o);
		ck_assert_uint_eq(o.isolation.u.policy->types, PW_POLICY_INGRESS);
		free(json);
		json = pw_xasprintf("{\"metadata\":{\"name\":\"p\",\"namespace\":"
					  "\"n\"},\"spec\":{\"podSelector\":{},\"ingress\":5}}");

		via_watch(json, strlen(json), PW_KIND_POLICY, &o);
		ck_assert_uint_eq(o.isolation.u.policy->types, PW_POLICY_INGRESS);
		free(json);
		json = pw_xasprintf("{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},"
				    "\"spec\":{\"podSelector\":{},\"egress\":[{\"to\":5}]}}");
		via_watch(json, strlen(json), PW_KIND_POLICY, &o);
		ck_assert_uint_eq(o.isolation.u.policy->types,
				  PW_POLICY_INGRESS | PW_POLICY_EGRESS);
		free(json);
		/* No name, nothing to enforce it under. */
		json = pw_xasprintf("{\"metadata\":{\"namespace\":\"n\"},\"spec\":{}}");
		via_watch(json, strlen(json), PW_KIND_POLICY, &o);
		ck_assert_ptr_eq(o.isolation.u.policy, NULL);
		free(json);
		/* A deletion is believed: no isolation. */
		{
			struct pw_watch_event ev;
			struct pw_buf err = PW_BUF_INIT;
			static const char line[] = "{\"type\":\"DELETED\",\"object\":{\"metadata\":"
				"{\"name\":\"p\",\"namespace\":\"n\"}}}";

			ck_assert_int_eq(pw_watch_event_decode(line, strlen(line), PW_KIND_POLICY,
							       &ev, &err), -EINVAL);
			ck_assert_str_eq(ev.key, "n/p");
			ck_assert_ptr_eq(ev.isolation.u.policy, NULL);
			pw_watch_event_clear(&ev);
			pw_buf_free(&err);
		}
	}
	free(valid_selector);
	outcome_free(&o);
}
END_TEST

/* ------------------------------------------------------ invalid UTF-8 */

/* The pod template with raw bytes in one slot. */
static char *pod_with(const char *slot, const char *value)
{
	return object_with("pod", slot, value);
}

START_TEST(test_invalid_utf8_refused_where_read)
{
	static const struct {
		const char *slot, *value, *path;
	} cases_[] = {
		{ "plabel", "\"web\xff\"", "metadata.labels[\"app\"]" },
		{ "plabel", "\"web\xc3\"", "metadata.labels[\"app\"]" },
		{ "plabel", "\"\xed\xa0\x80\"", "metadata.labels[\"app\"]" },	/* a surrogate */
		{ "plabel", "\"\xc0\xaf\"", "metadata.labels[\"app\"]" },	/* overlong '/' */
		{ "plabels", "{\"\xff\":\"x\"}", "metadata.labels[" },
		{ "pnode", "\"edge\x80\"", NULL },
		{ "pphase", "\"Run\xffning\"", "status.phase" },
		{ "pipip", "\"198.18.0.1\xff\"", "status.podIPs[0].ip" },
		{ "pproto", "\"TC\xf8P\"", "spec.containers[0].ports[0].protocol" },
		{ "pname", "\"web\xff\"", "metadata.name" },
		{ "pns", "\"sh\xc3op\"", "metadata.namespace" },
	};
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases_); i++) {
		char *json = pod_with(cases_[i].slot, cases_[i].value);
		const char *why;

		/* As Go reads them: each bad byte is U+FFFD, which no name allows. */
		via_watch(json, strlen(json), PW_KIND_POD, &o);
		why = pw_buf_str(&o.why);
		if (!cases_[i].path) {
			/* nodeName is compared, not validated: it just is not ours. */
			ck_assert_msg(o.ret == 0, "%s: %s", cases_[i].value, why);
			free(json);
			continue;
		}
		ck_assert_msg(o.ret != 0, "accepted %s", cases_[i].value);
		ck_assert_contains(why, cases_[i].path);
		ck_assert_contains(why, "Pod ");
		if (strcmp(cases_[i].slot, "pname") != 0 && strcmp(cases_[i].slot, "pns") != 0) {
			ck_assert_contains(why, "shop/web-1");
			ck_assert_str_eq(o.key, "shop/web-1");
		}
		/* The message itself is valid UTF-8 (U+FFFD), not the raw bytes. */
		ck_assert_msg(!strchr(why, '\xff') && !strstr(why, "\xc3o"), "raw bytes: %s", why);

		via_list(json, strlen(json), PW_KIND_POD, kinds[0].neighbour, &o);
		ck_assert_msg(o.ret != 0 && o.others == 2, "list: %s", pw_buf_str(&o.why));
		ck_assert_contains(pw_buf_str(&o.why), cases_[i].path);

		/* A manifest is refused as a file, with the line and column. */
		via_manifest("utf8.yaml", json, strlen(json), &o);
		ck_assert_msg(o.ret != 0 && o.others == 0, "manifest accepted %s", cases_[i].value);
		ck_assert_contains(pw_buf_str(&o.why), "utf8.yaml: line 1 column");
		free(json);
	}
	outcome_free(&o);
}
END_TEST

/*
 * Where podwall does not look, what Go's decoder accepts is accepted:
 * invalid UTF-8, and characters libyaml cannot take raw (DEL, C1 controls,
 * U+FFFE, line separators), a UTF-16 surrogate pair. Before, each made the
 * whole line (or the whole list) unreadable.
 */
START_TEST(test_odd_text_where_not_read)
{
	static const char *const values[] = {
		"\"\xff\xfe\"", "\"a\x7f" "b\"", "\"a\xc2\x80" "b\"", "\"a\xc2\x85" "b\"",
		"\"a\xe2\x80\xa8" "b\"", "\"\xef\xbf\xbe\"", "\"\xef\xbf\xbf\"",
		"\"\\ud83d\\ude00\"", "\"\\ud83d\"", "\"\\ude00x\"", "\"a\\/b\"",
		"\"a\rb\"", "\"a\tb\"", "\"a\x01" "b\"", "\"\xf4\x90\x80\x80\"",
	};
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(values); i++) {
		char *meta = pw_xasprintf("{\"name\":\"web-1\",\"namespace\":\"shop\","
					  "\"annotations\":{\"note\":%s}}", values[i]);
		char *json = object_with("pod", "pmeta", meta);

		via_watch(json, strlen(json), PW_KIND_POD, &o);
		ck_assert_msg(o.ret == 0, "watch: %s: %s", values[i], pw_buf_str(&o.why));
		via_list(json, strlen(json), PW_KIND_POD, kinds[0].neighbour, &o);
		ck_assert_msg(o.ret == 0 && o.others == 3, "list: %s: %s", values[i],
			      pw_buf_str(&o.why));
		free(json);
		free(meta);
	}
	outcome_free(&o);
}
END_TEST

/* The same characters in a label value are refused, the field named. */
START_TEST(test_odd_text_where_read)
{
	static const char *const values[] = {
		"\"a\x7f" "b\"", "\"a\xc2\x85" "b\"", "\"a\xe2\x80\xa8" "b\"", "\"a\rb\"",
		"\"a\\u0000b\"", "\"\\ud83d\\ude00\"", "\"a\tb\"",
	};
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(values); i++) {
		char *json = pod_with("plabel", values[i]);

		via_watch(json, strlen(json), PW_KIND_POD, &o);
		ck_assert_msg(o.ret != 0, "accepted %s", values[i]);
		ck_assert_contains(pw_buf_str(&o.why), "Pod shop/web-1: metadata.labels[\"app\"]");
		ck_assert_str_eq(o.key, "shop/web-1");
		free(json);
	}
	outcome_free(&o);
}
END_TEST

/* ------------------------------------------------------ duplicate keys */

START_TEST(test_duplicate_keys)
{
	static const struct {
		const char *slot, *value, *where;
	} cases_[] = {
		{ "pmeta", "{\"name\":\"web-1\",\"namespace\":\"shop\",\"name\":\"web-2\"}",
		  "metadata: duplicate key \"name\"" },
		{ "pmeta", "{\"name\":\"web-1\",\"namespace\":\"shop\",\"namespace\":\"x\"}",
		  "metadata: duplicate key \"namespace\"" },
		{ "plabels", "{\"app\":\"a\",\"app\":\"b\"}", "metadata.labels: duplicate key" },
		{ "pspec", "{\"nodeName\":\"a\",\"nodeName\":\"edge-1\"}", "spec: duplicate key" },
		{ "pstatus", "{\"podIP\":\"198.18.0.1\",\"podIP\":\"198.18.0.2\"}",
		  "status: duplicate key" },
		{ "pport", "{\"containerPort\":1,\"containerPort\":2}",
		  "spec.containers[0].ports[0]: duplicate key" },
	};
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases_); i++) {
		char *json = pod_with(cases_[i].slot, cases_[i].value), *yaml;

		via_watch(json, strlen(json), PW_KIND_POD, &o);
		ck_assert_msg(o.ret != 0, "accepted %s", cases_[i].value);
		ck_assert_contains(pw_buf_str(&o.why), cases_[i].where);
		ck_assert_contains(pw_buf_str(&o.why), "Pod shop/web-1: ");
		ck_assert_str_eq(o.key, "shop/web-1");
		via_list(json, strlen(json), PW_KIND_POD, kinds[0].neighbour, &o);
		ck_assert_msg(o.ret != 0 && o.others == 2, "list: %s", pw_buf_str(&o.why));
		via_manifest("dup.json", json, strlen(json), &o);
		ck_assert_contains(pw_buf_str(&o.why), cases_[i].where);
		yaml = json_to_block_yaml(json);
		via_manifest("dup.yaml", yaml, strlen(yaml), &o);
		ck_assert_contains(pw_buf_str(&o.why), cases_[i].where);
		free(yaml);
		free(json);
	}

	/* A policy's selector and rules. */
	{
		char *json = object_with("np", "xml", "{\"app\":\"a\",\"app\":\"b\"}");

		via_watch(json, strlen(json), PW_KIND_POLICY, &o);
		ck_assert_contains(pw_buf_str(&o.why), "NetworkPolicy shop/allow-web: "
				   "spec.podSelector.matchLabels: duplicate key \"app\"");
		free(json);
		json = object_with("np", "xrule", "{\"from\":[],\"from\":[{\"ipBlock\":"
				   "{\"cidr\":\"0.0.0.0/0\"}}]}");
		via_watch(json, strlen(json), PW_KIND_POLICY, &o);
		ck_assert_contains(pw_buf_str(&o.why), "spec.ingress[0]: duplicate key \"from\"");
		free(json);
	}
	outcome_free(&o);
}
END_TEST

/* Two "type" or "object" in an event: Go takes the last, libyaml the first. */
START_TEST(test_duplicate_keys_in_envelopes)
{
	static const char *const lines[] = {
		"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\"}},\"type\":\"ADDED\"}",
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}},"
		"\"object\":{\"metadata\":{\"name\":\"b\"}}}",
	};
	struct pw_buf err = PW_BUF_INIT, body = PW_BUF_INIT;
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	struct pw_watch_event ev;
	char *rv, *cont;
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(lines); i++) {
		ck_assert_int_eq(pw_watch_event_decode(lines[i], strlen(lines[i]),
						       PW_KIND_NAMESPACE, &ev, &err), -EINVAL);
		ck_assert_contains(pw_buf_str(&err), "watch event: duplicate key");
		ck_assert_ptr_eq(ev.key, NULL);
		pw_watch_event_clear(&ev);
	}
	pw_buf_puts(&body, "{\"kind\":\"NamespaceList\",\"metadata\":{},\"items\":[],"
		    "\"items\":[{\"metadata\":{\"name\":\"a\"}}]}");
	ck_assert_int_eq(pw_list_decode_keyed(body.data, body.len, PW_KIND_NAMESPACE, list_fn,
					      list_refused, &o, &rv, &cont, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "NamespaceList: duplicate key \"items\"");
	pw_buf_reset(&body);
	pw_buf_puts(&body, "{\"kind\":\"NamespaceList\",\"metadata\":{\"resourceVersion\":"
		    "\"1\",\"resourceVersion\":\"9\"},\"items\":[]}");
	ck_assert_int_eq(pw_list_decode_keyed(body.data, body.len, PW_KIND_NAMESPACE, list_fn,
					      list_refused, &o, &rv, &cont, &err), -EINVAL);
	ck_assert_contains(pw_buf_str(&err), "duplicate key \"resourceVersion\"");

	/* Where podwall does not look, duplicates are Go's to resolve: accepted. */
	{
		char *json = object_with("pod", "pmeta", "{\"name\":\"web-1\",\"namespace\":"
					 "\"shop\",\"annotations\":{\"a\":\"1\",\"a\":\"2\"}}");

		via_watch(json, strlen(json), PW_KIND_POD, &o);
		ck_assert_msg(o.ret == 0, "%s", pw_buf_str(&o.why));
		free(json);
	}
	outcome_free(&o);
	pw_buf_free(&body);
	pw_buf_free(&err);
}
END_TEST

/* ------------------------------------------------------ deep nesting */

/* An annotation value nested levels deep (never closed, when not closed). */
static char *deep_pod(size_t levels, bool closed)
{
	struct pw_buf meta = PW_BUF_INIT;
	char *json;
	size_t i;

	pw_buf_puts(&meta, "{\"name\":\"web-1\",\"namespace\":\"shop\",\"annotations\":"
		    "{\"deep\":");
	for (i = 0; i < levels; i++)
		pw_buf_puts(&meta, i % 2 ? "[" : "{\"k\":");
	if (closed) {
		pw_buf_putc(&meta, '1');
		for (i = levels; i > 0; i--)
			pw_buf_putc(&meta, (i - 1) % 2 ? ']' : '}');
		pw_buf_puts(&meta, "}}");
	}
	json = object_with("pod", "pmeta", pw_buf_str(&meta));
	pw_buf_free(&meta);
	return json;
}

START_TEST(test_deep_nesting)
{
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	size_t levels[] = { 900, 997, 998, 5000, 200000 };
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(levels); i++) {
		char *json = deep_pod(levels[i], true);
		/* The pod, its metadata and annotations are three levels more. */
		bool too_deep = levels[i] + 3 > 1000;
		double t0 = now_s();

		via_watch(json, strlen(json), PW_KIND_POD, &o);
		if (too_deep) {
			ck_assert_msg(o.ret != 0, "%zu levels accepted", levels[i]);
			ck_assert_str_eq(pw_buf_str(&o.why),
					 "Pod shop/web-1: nested deeper than 1000 levels");
			ck_assert_str_eq(o.key, "shop/web-1");
		} else {
			ck_assert_msg(o.ret == 0, "%zu levels: %s", levels[i], pw_buf_str(&o.why));
		}
		/* In a list, only that item goes: its neighbours stay. */
		via_list(json, strlen(json), PW_KIND_POD, kinds[0].neighbour, &o);
		ck_assert_uint_eq(o.others, (too_deep ? 2 : 3));
		if (too_deep) {
			ck_assert_str_eq(pw_buf_str(&o.why),
					 "Pod shop/web-1: nested deeper than 1000 levels");
			ck_assert_str_eq(o.key, "shop/web-1");
		}
		via_manifest("deep.json", json, strlen(json), &o);
		ck_assert_msg((o.ret != 0) == too_deep, "%zu levels: %s", levels[i],
			      pw_buf_str(&o.why));
		if (o.ret)
			ck_assert_contains(pw_buf_str(&o.why), "nested deeper than 1000 levels");
		ck_assert_msg(now_s() - t0 < 10, "%zu levels took %.1f s", levels[i],
			      now_s() - t0);
		free(json);
	}

	/* Never closed: nothing to name, but refused, and quickly. */
	{
		char *json = deep_pod(300000, false);

		via_watch(json, strlen(json), PW_KIND_POD, &o);
		ck_assert_contains(pw_buf_str(&o.why), "nested deeper than 1000 levels");
		free(json);
	}
	outcome_free(&o);
}
END_TEST

/* A deep value inside the second of three items: only that one is lost. */
START_TEST(test_deep_nesting_in_the_middle_of_a_list)
{
	struct pw_buf body = PW_BUF_INIT, err = PW_BUF_INIT;
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	char *rv, *cont;
	size_t i;

	pw_buf_puts(&body, "{\"kind\":\"NamespaceList\",\"items\":[{\"metadata\":"
		    "{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\",\"annotations\":{\"x\":");
	for (i = 0; i < 3000; i++)
		pw_buf_putc(&body, '[');
	for (i = 0; i < 3000; i++)
		pw_buf_putc(&body, ']');
	pw_buf_puts(&body, "}}},{\"metadata\":{\"name\":\"c\"}}],\"metadata\":{"
		    "\"resourceVersion\":\"5\"}}");
	ck_assert_int_eq(pw_list_decode_keyed(body.data, body.len, PW_KIND_NAMESPACE, list_fn,
					      list_refused, &o, &rv, &cont, &err), 0);
	ck_assert_uint_eq(o.others, 2);
	ck_assert_str_eq(o.key, "b");
	ck_assert_str_eq(rv, "5");
	free(rv);
	free(cont);
	outcome_free(&o);
	pw_buf_free(&body);
	pw_buf_free(&err);
}
END_TEST

/* -------------------------------------------------------- long keys */

/*
 * libyaml drops a key longer than 1024 characters, which made the whole
 * line unreadable; now it is a key no field or label can have.
 */
START_TEST(test_long_keys)
{
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	struct pw_buf labels = PW_BUF_INIT;
	char *json;
	size_t i;

	pw_buf_puts(&labels, "{\"app\":\"web\",\"");
	for (i = 0; i < 5000; i++)
		pw_buf_putc(&labels, 'k');
	pw_buf_puts(&labels, "\":\"v\"}");
	json = pod_with("plabels", pw_buf_str(&labels));
	via_watch(json, strlen(json), PW_KIND_POD, &o);
	ck_assert_msg(o.ret != 0, "accepted a 5000-byte label key");
	ck_assert_contains(pw_buf_str(&o.why), "Pod shop/web-1: metadata.labels[");
	ck_assert_contains(pw_buf_str(&o.why), "invalid key");
	ck_assert_str_eq(o.key, "shop/web-1");
	via_list(json, strlen(json), PW_KIND_POD, kinds[0].neighbour, &o);
	ck_assert_uint_eq(o.others, 2);
	free(json);

	/* Where podwall does not look: accepted, as Go accepts it. */
	pw_buf_reset(&labels);
	pw_buf_puts(&labels, "{\"name\":\"web-1\",\"namespace\":\"shop\",\"annotations\":{\"");
	for (i = 0; i < 5000; i++)
		pw_buf_putc(&labels, 'k');
	pw_buf_puts(&labels, "\"  \t :\"v\",\"b\":\"c\"}}");
	json = pod_with("pmeta", pw_buf_str(&labels));
	via_watch(json, strlen(json), PW_KIND_POD, &o);
	ck_assert_msg(o.ret == 0, "%s", pw_buf_str(&o.why));
	free(json);

	/* A key of 900 bytes of DEL grows past the limit once escaped. */
	pw_buf_reset(&labels);
	pw_buf_puts(&labels, "{\"app\":\"web\",\"");
	for (i = 0; i < 900; i++)
		pw_buf_putc(&labels, 0x7f);
	pw_buf_puts(&labels, "\":\"v\"}");
	json = pod_with("plabels", pw_buf_str(&labels));
	via_watch(json, strlen(json), PW_KIND_POD, &o);
	ck_assert_contains(pw_buf_str(&o.why), "Pod shop/web-1: metadata.labels[");
	free(json);
	pw_buf_free(&labels);
	outcome_free(&o);
}
END_TEST

/* ------------------------------------------------ Kubernetes' limits */

static char *repeat(char c, size_t n)
{
	char *s = pw_xmalloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

START_TEST(test_kubernetes_limits)
{
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	char *a63 = repeat('a', 63), *a64 = repeat('a', 64), *a253 = repeat('a', 253);
	char *a254 = repeat('a', 254);
	struct {
		const char *slot;
		char *value;
		bool ok;
	} cases_[] = {
		{ "plabel", pw_xasprintf("\"%s\"", a63), true },
		{ "plabel", pw_xasprintf("\"%s\"", a64), false },
		{ "plabels", pw_xasprintf("{\"%s\":\"x\"}", a63), true },
		{ "plabels", pw_xasprintf("{\"%s\":\"x\"}", a64), false },
		{ "plabels", pw_xasprintf("{\"%s/%s\":\"x\"}", a253, a63), true },
		{ "plabels", pw_xasprintf("{\"%s/x\":\"x\"}", a254), false },
		{ "pname", pw_xasprintf("\"%s\"", a253), true },
		{ "pname", pw_xasprintf("\"%s\"", a254), false },
		{ "pns", pw_xasprintf("\"%s\"", a63), true },
		{ "pns", pw_xasprintf("\"%s\"", a64), false },
		{ "pportname", pw_xasprintf("\"%s\"", "abcdefghijklmno"), true },
		{ "pportname", pw_xasprintf("\"%s\"", "abcdefghijklmnop"), false },
	};
	size_t i;

	for (i = 0; i < PW_ARRAY_SIZE(cases_); i++) {
		char *json = pod_with(cases_[i].slot, cases_[i].value);

		via_watch(json, strlen(json), PW_KIND_POD, &o);
		ck_assert_msg((o.ret == 0) == cases_[i].ok, "%s = %.40s...: %s", cases_[i].slot,
			      cases_[i].value, pw_buf_str(&o.why));
		if (!cases_[i].ok)
			ck_assert_contains(pw_buf_str(&o.why), "must be no more than");
		via_manifest("limits.json", json, strlen(json), &o);
		ck_assert_msg((o.ret == 0) == cases_[i].ok, "file: %s", pw_buf_str(&o.why));
		free(json);
		free(cases_[i].value);
	}
	free(a63);
	free(a64);
	free(a253);
	free(a254);
	outcome_free(&o);
}
END_TEST

/* ------------------------------------------------------ huge objects */

/*
 * An object as large as the largest an API server keeps (1.5 MiB in etcd)
 * and more: decoded, within the 4 MiB the reflector takes from a watch.
 */
START_TEST(test_huge_object)
{
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	struct pw_buf meta = PW_BUF_INIT;
	char *json, *big = repeat('x', 3u << 20);
	double t0;

	pw_buf_printf(&meta, "{\"name\":\"web-1\",\"namespace\":\"shop\",\"annotations\":"
		      "{\"big\":\"%s\"},\"labels\":{\"app\":\"web\"}}", big);
	json = pod_with("pmeta", pw_buf_str(&meta));
	t0 = now_s();
	via_watch(json, strlen(json), PW_KIND_POD, &o);
	ck_assert_msg(o.ret == 0, "%s", pw_buf_str(&o.why));
	via_list(json, strlen(json), PW_KIND_POD, kinds[0].neighbour, &o);
	ck_assert_uint_eq(o.others, 3);
	printf("a 3 MiB pod: watch and list decoded in %.3f s\n", now_s() - t0);
	free(json);

	/* A 3 MiB label value is one too long: refused, named. */
	pw_buf_reset(&meta);
	pw_buf_printf(&meta, "{\"name\":\"web-1\",\"namespace\":\"shop\",\"labels\":"
		      "{\"app\":\"%s\"}}", big);
	json = pod_with("pmeta", pw_buf_str(&meta));
	via_watch(json, strlen(json), PW_KIND_POD, &o);
	ck_assert_contains(pw_buf_str(&o.why), "Pod shop/web-1: metadata.labels[\"app\"]: "
			   "invalid value \"xxx");
	ck_assert_msg(o.why.len < 1000, "a reason of %zu bytes", o.why.len);
	free(json);
	free(big);
	pw_buf_free(&meta);
	outcome_free(&o);
}
END_TEST

/* A line over the framer's limit is refused; its start still names it. */
static int no_line(const char *line, size_t len, void *ctx)
{
	ck_abort_msg("a line of %zu bytes passed", len);
	return 0;
}

START_TEST(test_too_long_line_is_named)
{
	static const char elsewhere[] = "{\"type\":\"ADDED\",\"x\":{\"object\":{"
		"\"metadata\":{\"name\":\"a\"}}}}";
	struct pw_line_framer *f = pw_line_framer_new(1 << 16);
	struct pw_buf line = PW_BUF_INIT;
	const char *head;
	char *key;
	size_t len, i;

	pw_buf_puts(&line, "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{"
		    "\"labels\":{\"a\":\"b\",\"name\":\"not-this\"},\"name\":\"web-1\","
		    "\"annotations\":{\"x\":\"");
	for (i = 0; i < 100000; i++)
		pw_buf_putc(&line, 'x');
	pw_buf_puts(&line, "\"},\"namespace\":\"shop\"}}}\n");
	/* Fed in small pieces: the head must not depend on the cuts. */
	for (i = 0; i < line.len; i += 1000) {
		int ret = pw_line_framer_feed(f, line.data + i,
					      line.len - i < 1000 ? line.len - i : 1000,
					      no_line, NULL);

		if (ret) {
			ck_assert_int_eq(ret, -EMSGSIZE);
			break;
		}
	}
	head = pw_line_framer_refused_head(f, &len);
	ck_assert_uint_eq(len, 4096);
	ck_assert_int_eq(memcmp(head, line.data, len), 0);
	/* The namespace comes after the cut: not named, rather than misnamed. */
	ck_assert_ptr_eq(pw_watch_event_peek_key(head, len, PW_KIND_POD), NULL);
	key = pw_watch_event_peek_key(head, len, PW_KIND_NAMESPACE);
	ck_assert_str_eq(key, "web-1");
	free(key);
	key = pw_watch_event_peek_key(line.data, line.len, PW_KIND_POD);
	ck_assert_str_eq(key, "shop/web-1");
	free(key);
	/* Names elsewhere are not the object's. */
	key = pw_watch_event_peek_key(elsewhere, strlen(elsewhere), PW_KIND_NAMESPACE);
	ck_assert_ptr_eq(key, NULL);
	pw_line_framer_free(f);
	pw_buf_free(&line);
}
END_TEST

/* -------------------------------------------------- 10,000 labels */

/* A pod with n labels, their keys in ascending or descending order. */
static char *labelled_pod(unsigned n, bool descending)
{
	struct pw_buf labels = PW_BUF_INIT;
	char *json;
	unsigned i;

	pw_buf_putc(&labels, '{');
	for (i = 0; i < n; i++)
		pw_buf_printf(&labels, "%s\"example.com/key-%05u\":\"value-%u\"", i ? "," : "",
			      descending ? n - i : i, i);
	pw_buf_putc(&labels, '}');
	json = pod_with("plabels", pw_buf_str(&labels));
	pw_buf_free(&labels);
	return json;
}

START_TEST(test_ten_thousand_labels)
{
	struct pw_buf line = PW_BUF_INIT, err = PW_BUF_INIT;
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	struct pw_watch_event ev;
	char *json, *yaml;
	double t0, watch_s, list_s, json_s, yaml_s;
	int order;

	for (order = 0; order < 2; order++) {
		json = labelled_pod(10000, order);
		pw_buf_reset(&line);
		pw_buf_printf(&line, "{\"type\":\"ADDED\",\"object\":%s}", json);
		t0 = now_s();
		ck_assert_int_eq(pw_watch_event_decode(line.data, line.len, PW_KIND_POD, &ev,
						       &err), 0);
		watch_s = now_s() - t0;
		ck_assert_uint_eq(pw_labels_count(ev.object.u.pod->labels), 10000);
		ck_assert_str_eq(pw_labels_get(ev.object.u.pod->labels, "example.com/key-00042"),
				 order ? "value-9958" : "value-42");
		pw_watch_event_clear(&ev);

		t0 = now_s();
		via_list(json, strlen(json), PW_KIND_POD, kinds[0].neighbour, &o);
		list_s = now_s() - t0;
		ck_assert_uint_eq(o.others, 3);

		t0 = now_s();
		via_manifest("labels.json", json, strlen(json), &o);
		json_s = now_s() - t0;
		ck_assert_msg(o.ret == 0 && o.others == 1, "%s", pw_buf_str(&o.why));

		yaml = json_to_block_yaml(json);
		t0 = now_s();
		via_manifest("labels.yaml", yaml, strlen(yaml), &o);
		yaml_s = now_s() - t0;
		ck_assert_msg(o.ret == 0 && o.others == 1, "%s", pw_buf_str(&o.why));
		printf("10,000 labels (%s keys, %zu bytes): watch %.3f s, list %.3f s, "
		       "JSON file %.3f s, YAML file %.3f s\n", order ? "descending" : "ascending",
		       strlen(json), watch_s, list_s, json_s, yaml_s);
		/* Generous for sanitizers and a busy machine: it is tens of ms. */
		ck_assert_msg(watch_s + list_s + json_s + yaml_s < 20, "too slow");
		free(yaml);
		free(json);
	}

	/* One more label, duplicated among 10,000: refused, the key named. */
	json = labelled_pod(10000, false);
	{
		char *dup = strstr(json, "\"example.com/key-09999\"");

		ck_assert_ptr_ne(dup, NULL);
		memcpy(dup, "\"example.com/key-00001\"", 23);
	}
	via_watch(json, strlen(json), PW_KIND_POD, &o);
	ck_assert_contains(pw_buf_str(&o.why), "Pod shop/web-1: metadata.labels: duplicate key "
			   "\"example.com/key-00001\"");
	free(json);
	outcome_free(&o);
	pw_buf_free(&line);
	pw_buf_free(&err);
}
END_TEST

/* 10,000 matchLabels and as many values in an expression. */
START_TEST(test_ten_thousand_selector_terms)
{
	struct pw_buf ml = PW_BUF_INIT, values = PW_BUF_INIT;
	struct outcome o = { 0, PW_BUF_INIT, NULL, 0, { PW_KIND_NAMESPACE, { NULL } } };
	char *json, *expr;
	double t0;
	unsigned i;

	pw_buf_putc(&ml, '{');
	pw_buf_putc(&values, '[');
	for (i = 0; i < 10000; i++) {
		pw_buf_printf(&ml, "%s\"k%u\":\"v%u\"", i ? "," : "", i, i);
		pw_buf_printf(&values, "%s\"v%u\"", i ? "," : "", i);
	}
	pw_buf_putc(&ml, '}');
	pw_buf_putc(&values, ']');
	expr = pw_xasprintf("{\"matchLabels\":%s,\"matchExpressions\":[{\"key\":\"k\","
			    "\"operator\":\"NotIn\",\"values\":%s}]}", pw_buf_str(&ml),
			    pw_buf_str(&values));
	json = object_with("np", "xpodsel", expr);
	t0 = now_s();
	via_watch(json, strlen(json), PW_KIND_POLICY, &o);
	ck_assert_msg(o.ret == 0, "%s", pw_buf_str(&o.why));
	via_list(json, strlen(json), PW_KIND_POLICY, kinds[2].neighbour, &o);
	ck_assert_uint_eq(o.others, 3);
	printf("10,000 matchLabels and 10,000 values: watch and list in %.3f s\n",
	       now_s() - t0);
	free(json);
	free(expr);
	pw_buf_free(&ml);
	pw_buf_free(&values);
	outcome_free(&o);
}
END_TEST

/* ------------------------------------------------------------ suite */

static Suite *hostile_suite(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("decoders");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_templates_are_valid);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_policy_isolation);
	tcase_add_test(tc, test_invalid_utf8_refused_where_read);
	tcase_add_test(tc, test_odd_text_where_not_read);
	tcase_add_test(tc, test_odd_text_where_read);
	tcase_add_test(tc, test_duplicate_keys);
	tcase_add_test(tc, test_duplicate_keys_in_envelopes);
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_deep_nesting_in_the_middle_of_a_list);
	tcase_add_test(tc, test_long_keys);
	tcase_add_test(tc, test_kubernetes_limits);
	tcase_add_test(tc, test_huge_object);
	tcase_add_test(tc, test_too_long_line_is_named);
	tcase_add_test(tc, test_ten_thousand_labels);
	tcase_add_test(tc, test_ten_thousand_selector_terms);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(hostile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
