#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "engine/ui.h"
#include "lib/cidr.h"

/*
 * No inline script and no style attribute set from data: the listener
 * sends a Content-Security-Policy that allows only this page's own script,
 * so even markup that got into the page could not run.
 */
const char pw_ui_page[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<title>podwall</title>\n"
	"<style>\n"
	"body { font: 14px sans-serif; margin: 1em; color: #222; }\n"
	"#status.bad { color: #b00; font-weight: bold; }\n"
	"svg { border: 1px solid #ccc; background: #fafafa; }\n"
	".edge { stroke: #2a7; stroke-width: 2; marker-end: url(#arrow); }\n"
	".pod circle { stroke: #333; stroke-width: 1; }\n"
	".pod text { font-size: 12px; text-anchor: middle; }\n"
	"table { border-collapse: collapse; margin-top: 1em; }\n"
	"td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }\n"
	"</style>\n"
	"</head>\n"
	"<body>\n"
	"<h1>podwall on <span id=\"node\"></span></h1>\n"
	"<p id=\"status\">loading</p>\n"
	"<svg id=\"graph\" width=\"640\" height=\"480\" viewBox=\"0 0 640 480\">\n"
	"<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" "
	"markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\">"
	"<path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#2a7\"/></marker></defs>\n"
	"<g id=\"edges\"></g><g id=\"pods\"></g>\n"
	"</svg>\n"
	"<p>An arrow from a pod to another: the first may open a connection to a port the "
	"second declares (hover for the ports). Only this node's pods are drawn.</p>\n"
	"<table><thead><tr><th>namespace</th><th>pod</th><th>addresses</th>"
	"<th>ingress isolated by</th><th>egress isolated by</th></tr></thead>\n"
	"<tbody id=\"pods-table\"></tbody></table>\n"
	"<script src=\"/ui/app.js\"></script>\n"
	"</body>\n"
	"</html>\n";

const char pw_ui_script[] =
	"(function () {\n"
	"\"use strict\";\n"
	"var SVG = \"http://www.w3.org/2000/svg\";\n"
	"var colours = [\"#8cf\", \"#fc8\", \"#c9f\", \"#9e9\", \"#f99\", \"#ee8\", \"#ccc\"];\n"
	"\n"
	"/* Text and attributes only: nothing the cluster sends is parsed as markup. */\n"
	"function node(ns, tag, attrs, text) {\n"
	"  var e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);\n"
	"  var k;\n"
	"  for (k in attrs)\n"
	"    if (Object.prototype.hasOwnProperty.call(attrs, k))\n"
	"      e.setAttribute(k, String(attrs[k]));\n"
	"  if (text !== undefined)\n"
	"    e.textContent = String(text);\n"
	"  return e;\n"
	"}\n"
	"\n"
	"function clear(e) {\n"
	"  while (e.firstChild)\n"
	"    e.removeChild(e.firstChild);\n"
	"}\n"
	"\n"
	"function key(p) {\n"
	"  return p.namespace + \"/\" + p.name;\n"
	"}\n"
	"\n"
	"function draw(state) {\n"
	"  var pods = state.pods || [], edges = state.edges || [];\n"
	"  var at = {}, namespaces = {}, nns = 0, i, p, e, a, b, g;\n"
	"  var status = document.getElementById(\"status\");\n"
	"  var podsG = document.getElementById(\"pods\"), edgesG = document.getElementById(\"edges\");\n"
	"  var table = document.getElementById(\"pods-table\");\n"
	"\n"
	"  document.getElementById(\"node\").textContent = String(state.node);\n"
	"  status.textContent = state.enforcing ? \"enforcing\" : \"NOT ENFORCING: \" + state.why;\n"
	"  status.className = state.enforcing ? \"\" : \"bad\";\n"
	"  clear(podsG);\n"
	"  clear(edgesG);\n"
	"  clear(table);\n"
	"  for (i = 0; i < pods.length; i++) {\n"
	"    p = pods[i];\n"
	"    if (!(p.namespace in namespaces))\n"
	"      namespaces[p.namespace] = nns++;\n"
	"    a = 2 * Math.PI * i / Math.max(pods.length, 1) - Math.PI / 2;\n"
	"    at[key(p)] = { x: 320 + 190 * Math.cos(a), y: 240 + 190 * Math.sin(a) };\n"
	"  }\n"
	"  for (i = 0; i < edges.length; i++) {\n"
	"    e = edges[i];\n"
	"    a = at[e.from];\n"
	"    b = at[e.to];\n"
	"    if (!a || !b)\n"
	"      continue;\n"
	"    /* Stop the arrow at the destination's circle. */\n"
	"    var dx = b.x - a.x, dy = b.y - a.y, d = Math.sqrt(dx * dx + dy * dy) || 1;\n"
	"    var line = node(SVG, \"line\", { \"class\": \"edge\", \"data-from\": e.from,\n"
	"      \"data-to\": e.to, \"data-ports\": e.ports.join(\" \"),\n"
	"      x1: a.x + dx * 22 / d, y1: a.y + dy * 22 / d,\n"
	"      x2: b.x - dx * 24 / d, y2: b.y - dy * 24 / d });\n"
	"    line.appendChild(node(SVG, \"title\", {}, e.from + \" -> \" + e.to + \": \" +\n"
	"      e.ports.join(\", \")));\n"
	"    edgesG.appendChild(line);\n"
	"  }\n"
	"  for (i = 0; i < pods.length; i++) {\n"
	"    p = pods[i];\n"
	"    a = at[key(p)];\n"
	"    g = node(SVG, \"g\", { \"class\": \"pod\", \"data-pod\": key(p) });\n"
	"    g.appendChild(node(SVG, \"circle\", { cx: a.x, cy: a.y, r: 20,\n"
	"      fill: colours[namespaces[p.namespace] % colours.length] }));\n"
	"    g.appendChild(node(SVG, \"text\", { x: a.x, y: a.y + 34 }, key(p)));\n"
	"    g.appendChild(node(SVG, \"title\", {}, key(p) + \" \" + p.ips.join(\" \")));\n"
	"    podsG.appendChild(g);\n"
	"    var row = node(null, \"tr\", { \"data-pod\": key(p) });\n"
	"    row.appendChild(node(null, \"td\", {}, p.namespace));\n"
	"    row.appendChild(node(null, \"td\", {}, p.name));\n"
	"    row.appendChild(node(null, \"td\", {}, p.ips.join(\" \")));\n"
	"    row.appendChild(node(null, \"td\", { \"class\": \"ingress\" },\n"
	"      p.ingress.length ? p.ingress.join(\", \") : \"(open)\"));\n"
	"    row.appendChild(node(null, \"td\", { \"class\": \"egress\" },\n"
	"      p.egress.length ? p.egress.join(\", \") : \"(open)\"));\n"
	"    table.appendChild(row);\n"
	"  }\n"
	"  document.body.setAttribute(\"data-generation\", String(state.generation));\n"
	"}\n"
	"\n"
	"function refresh() {\n"
	"  var r = new XMLHttpRequest();\n"
	"  r.open(\"GET\", \"/ui/state.json\");\n"
	"  r.onload = function () {\n"
	"    if (r.status === 200)\n"
	"      draw(JSON.parse(r.responseText));\n"
	"  };\n"
	"  r.onerror = function () {\n"
	"    document.getElementById(\"status\").textContent = \"podwall does not answer\";\n"
	"  };\n"
	"  r.send();\n"
	"}\n"
	"\n"
	"refresh();\n"
	"setInterval(refresh, 2000);\n"
	"})();\n";

static void gen_string(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_key_string(yajl_gen g, const char *k, const char *v)
{
	gen_string(g, k);
	if (v)
		gen_string(g, v);
	else
		yajl_gen_null(g);
}

static int cmp_pod(const void *a, const void *b)
{
	const struct pw_pod *x = *(const struct pw_pod *const *)a;
	const struct pw_pod *y = *(const struct pw_pod *const *)b;
	int c = strcmp(x->namespace, y->namespace);

	return c ? c : strcmp(x->name, y->name);
}

static const char *protocol_name(enum pw_protocol p)
{
	return p == PW_PROTO_UDP ? "UDP" : p == PW_PROTO_SCTP ? "SCTP" : "TCP";
}

/* The node's pods, sorted; NULL entries for endpoints whose pod is gone. */
static size_t local_pods(const struct pw_observed *st, const struct pw_pod ***out)
{
	size_t i, n = 0, count = st->endpoints ? st->endpoints->count : 0;
	const struct pw_pod **pods = pw_xcalloc(count + 1, sizeof(*pods));

	for (i = 0; i < count && st->cluster; i++) {
		const char *k = st->endpoints->items[i].pod_key, *slash = strchr(k, '/');
		char ns[256];
		const struct pw_pod *pod;

		if (!slash || (size_t)(slash - k) >= sizeof(ns))
			continue;
		memcpy(ns, k, (size_t)(slash - k));
		ns[slash - k] = '\0';
		pod = pw_cluster_pod(st->cluster, ns, slash + 1);
		if (pod)
			pods[n++] = pod;
	}
	qsort(pods, n, sizeof(*pods), cmp_pod);
	*out = pods;
	return n;
}

static void gen_policies(yajl_gen g, const struct pw_observed *st, const struct pw_pod *pod,
			 bool ingress)
{
	const char **names;
	size_t n = pw_isolating_policies(st->cluster, pod, ingress, &names), i;

	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		gen_string(g, names[i]);
		free((char *)names[i]);
	}
	free(names);
	yajl_gen_array_close(g);
}

static void gen_pod(yajl_gen g, const struct pw_observed *st, const struct pw_pod *pod)
{
	char text[PW_CIDR_STRLEN + 16];
	size_t i;

	yajl_gen_map_open(g);
	gen_key_string(g, "namespace", pod->namespace);
	gen_key_string(g, "name", pod->name);
	gen_string(g, "ips");
	yajl_gen_array_open(g);
	for (i = 0; i < pod->nips; i++) {
		pw_cidr_format(&pod->ips[i], false, text);
		gen_string(g, text);
	}
	yajl_gen_array_close(g);
	gen_string(g, "ports");
	yajl_gen_array_open(g);
	for (i = 0; i < pod->nports; i++) {
		snprintf(text, sizeof(text), "%u/%s", pod->ports[i].number,
			 protocol_name(pod->ports[i].protocol));
		gen_string(g, text);
	}
	yajl_gen_array_close(g);
	gen_string(g, "ingress");
	gen_policies(g, st, pod, true);
	gen_string(g, "egress");
	gen_policies(g, st, pod, false);
	yajl_gen_map_close(g);
}

/* An edge for each ordered pair with at least one open declared port. */
static void gen_edges(yajl_gen g, const struct pw_pod **pods, size_t n, pw_ui_allowed allowed,
		      void *ctx)
{
	struct pw_buf k = PW_BUF_INIT;
	char port[32];
	size_t i, j, p;

	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		for (j = 0; j < n; j++) {
			bool open = false;

			if (i == j)
				continue;
			for (p = 0; p < pods[j]->nports; p++) {
				const struct pw_container_port *cp = &pods[j]->ports[p];

				if (!allowed(ctx, pods[i], pods[j], cp->number, cp->protocol))
					continue;
				if (!open) {
					yajl_gen_map_open(g);
					pw_buf_reset(&k);
					pw_buf_printf(&k, "%s/%s", pods[i]->namespace, pods[i]->name);
					gen_key_string(g, "from", k.data);
					pw_buf_reset(&k);
					pw_buf_printf(&k, "%s/%s", pods[j]->namespace, pods[j]->name);
					gen_key_string(g, "to", k.data);
					gen_string(g, "ports");
					yajl_gen_array_open(g);
					open = true;
				}
				snprintf(port, sizeof(port), "%u/%s", cp->number,
					 protocol_name(cp->protocol));
				gen_string(g, port);
			}
			if (open) {
				yajl_gen_array_close(g);
				yajl_gen_map_close(g);
			}
		}
	}
	yajl_gen_array_close(g);
	pw_buf_free(&k);
}

void pw_ui_state(const struct pw_observed *st, pw_ui_allowed allowed, void *ctx,
		 struct pw_buf *out)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const struct pw_pod **pods;
	size_t n = local_pods(st, &pods), i;
	const unsigned char *text;
	size_t len;

	/* "</" cannot end anything as "<\/": the JSON stays inert wherever it lands. */
	yajl_gen_config(g, yajl_gen_escape_solidus, 1);
	yajl_gen_map_open(g);
	gen_key_string(g, "node", st->opt->node_name);
	gen_string(g, "enforcing");
	yajl_gen_bool(g, !st->not_enforcing);
	gen_key_string(g, "why", st->not_enforcing);
	gen_string(g, "generation");
	yajl_gen_integer(g, st->endpoints_generation);
	gen_string(g, "pods");
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++)
		gen_pod(g, st, pods[i]);
	yajl_gen_array_close(g);
	gen_string(g, "edges");
	gen_edges(g, pods, n, allowed, ctx);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &text, &len) == yajl_gen_status_ok)
		pw_buf_add(out, text, len);
	yajl_gen_free(g);
	free(pods);
}
