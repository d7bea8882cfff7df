#!/bin/sh
# The daemon's page (/ui) in headless Chromium, the daemon following the
# fake API server on a node made of network namespaces: the stars demo
# step by step (no policy, default-deny, allow-ui, backend-policy,
# frontend-policy), and after each the graph Chromium drew (its DOM after
# the page's script ran) holds exactly the arrows the demo's UI shows;
# the pods' table names the isolating policies; /ui/state.json is the same
# data. Then hostile objects (markup in every string field the fake server
# can send) inject nothing: no element of theirs, no script run.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-ui.sh"
. "$srcdir/tests/apiserver.sh"
apiserver_requirements "e2e-ui.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || command -v google-chrome)
[ -n "$CHROMIUM" ] || { echo "SKIP: e2e-ui.sh: chromium not installed (Debian: chromium)"; exit 77; }

node_up || { fail "node_up"; finish; }
pod_up stars backend 198.18.80.10 tcp:6379
pod_up stars frontend 198.18.80.11 tcp:80
pod_up client client 198.18.81.10 tcp:9000
pod_up management-ui management-ui 198.18.82.10 tcp:9001
apiserver_up || { fail "apiserver_up"; finish; }
URL="http://127.0.0.1:9474"

star_pod() {	# star_pod NS NAME IP ROLE PORT
	_sp_ips=$(pod_ips_json "$3") || { fail "star_pod $1/$2: address $3"; return 1; }
	cat >"$PW_TMP/Pod-$1-$2.json" <<EOT
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$2","namespace":"$1","labels":{"role":"$4"}},
 "spec":{"nodeName":"edge-1","containers":[{"name":"$2","image":"registry.example/star-probe:1",
  "ports":[{"containerPort":$5}]}]},
 "status":{"phase":"Running",$_sp_ips}}
EOT
	put "$PW_TMP/Pod-$1-$2.json"
}

# dump NAME: the page as Chromium has it once its script has drawn.
dump() {
	rm -rf "$PW_TMP/chrome"
	nx timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$PW_TMP/chrome" --virtual-time-budget=5000 \
		--dump-dom "$URL/ui" >"$PW_TMP/dom.$1" 2>"$PW_TMP/chrome.err"
}

# edges FILE: "from to" per arrow drawn, sorted.
edges() {
	grep -o 'class="edge" data-from="[^"]*" data-to="[^"]*"' "$1" |
		sed 's/.*data-from="\([^"]*\)" data-to="\([^"]*\)"/\1 \2/' | sort
}

# step NAME EDGE...: the page's arrows are exactly EDGE ("from>to") after
# the daemon converged; retried while the page still shows the last state.
step() {
	_st_name=$1
	shift
	printf '%s\n' "$@" | tr '>' ' ' | sed '/^$/d' | sort >"$PW_TMP/want.edges"
	converge "$_st_name" || return 1
	_st_i=0
	while [ $_st_i -lt 5 ]; do
		dump "$_st_name"
		edges "$PW_TMP/dom.$_st_name" >"$PW_TMP/have.edges"
		cmp -s "$PW_TMP/want.edges" "$PW_TMP/have.edges" && break
		sleep 0.5
		_st_i=$((_st_i + 1))
	done
	if cmp -s "$PW_TMP/want.edges" "$PW_TMP/have.edges"; then
		pass "$_st_name: the page draws the $(grep -c '' "$PW_TMP/want.edges") arrows it should"
	else
		fail "$_st_name: the page's arrows differ:"
		diff "$PW_TMP/want.edges" "$PW_TMP/have.edges" >&2
		tail -n 5 "$PW_TMP/chrome.err" >&2
	fi
}

namespace stars '{}'
namespace client '{"role":"client"}'
namespace management-ui '{"role":"management-ui"}'
star_pod stars backend 198.18.80.10 backend 6379
star_pod stars frontend 198.18.80.11 frontend 80
star_pod client client 198.18.81.10 client 9000
star_pod management-ui management-ui 198.18.82.10 management-ui 9001
start_daemon --metrics-address 127.0.0.1:9474

B=stars/backend F=stars/frontend C=client/client U=management-ui/management-ui
step "no policy: every pod reaches every other" \
	"$B>$F" "$B>$C" "$B>$U" "$F>$B" "$F>$C" "$F>$U" "$C>$B" "$C>$F" "$C>$U" "$U>$B" "$U>$F" "$U>$C"
grep -q '<td class="ingress">(open)</td>' "$PW_TMP/dom.no policy: every pod reaches every other" &&
	pass "the pods' table says who is open" || fail "the pods' table has no open pod"

policy stars default-deny '{"podSelector":{}}'
policy client default-deny '{"podSelector":{}}'
step "default-deny in stars and client: only the UI's namespace is reached" "$B>$U" "$F>$U" "$C>$U"
if grep -q "<tr data-pod=\"$B\">.*<td class=\"ingress\">stars/default-deny</td>" "$PW_TMP/dom.default-deny in stars and client: only the UI's namespace is reached"; then
	pass "the pods' table names stars/default-deny as backend's isolating policy"
else
	fail "the pods' table does not name backend's isolating policy"
fi

policy stars allow-ui '{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"role":"management-ui"}}}]}]}'
policy client allow-ui '{"podSelector":{},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"role":"management-ui"}}}]}]}'
step "allow-ui: the UI reaches every pod" "$B>$U" "$F>$U" "$C>$U" "$U>$B" "$U>$F" "$U>$C"

policy stars backend-policy '{"podSelector":{"matchLabels":{"role":"backend"}},"ingress":[{"from":[{"podSelector":{"matchLabels":{"role":"frontend"}}}],"ports":[{"protocol":"TCP","port":6379}]}]}'
step "backend-policy: frontend reaches backend on 6379" "$B>$U" "$F>$U" "$C>$U" "$U>$B" "$U>$F" "$U>$C" "$F>$B"
if grep -q "data-from=\"$F\" data-to=\"$B\" data-ports=\"6379/TCP\"" "$PW_TMP/dom.backend-policy: frontend reaches backend on 6379"; then
	pass "the arrow frontend -> backend says 6379/TCP"
else
	fail "the arrow frontend -> backend has no port 6379/TCP"
fi

policy stars frontend-policy '{"podSelector":{"matchLabels":{"role":"frontend"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"role":"client"}}}],"ports":[{"protocol":"TCP","port":80}]}]}'
step "frontend-policy: client reaches frontend, not backend" "$B>$U" "$F>$U" "$C>$U" "$U>$B" "$U>$F" "$U>$C" "$F>$B" "$C>$F"

# The same data as JSON, for scripts.
if nx curl -s --max-time 5 "$URL/ui/state.json" | python3 -c '
import json, sys
s = json.load(sys.stdin)
edges = sorted((e["from"], e["to"]) for e in s["edges"])
assert ("client/client", "stars/frontend") in edges and ("client/client", "stars/backend") not in edges, edges
assert len(s["pods"]) == 4 and s["enforcing"] is True, s
'; then
	pass "/ui/state.json holds the same graph"
else
	fail "/ui/state.json does not hold the graph"
fi

# ---------------------------------------------------------- hostile objects
# Markup in every string field an object has: names and namespaces (refused:
# not DNS names), labels and annotations, container and port names, the
# image, the node name, the phase, a policy's names. Whatever the decoder
# keeps reaches the page as text.
X='<img src=x onerror=\"document.title=1\"><script>document.title=2</script>'
cat >"$PW_TMP/Pod-stars-evil.json" <<EOT
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"evil","namespace":"stars",
 "labels":{"role":"$X"},"annotations":{"a":"$X"}},
 "spec":{"nodeName":"edge-1","containers":[{"name":"$X","image":"$X",
  "ports":[{"name":"$X","containerPort":81}]}]},
 "status":{"phase":"$X","podIP":"198.18.80.12"}}
EOT
cat >"$PW_TMP/Pod-stars-evil2.json" <<EOT
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"evil2","namespace":"stars",
 "labels":{"role":"frontend"},"annotations":{"a":"$X"}},
 "spec":{"nodeName":"edge-1","containers":[{"name":"c","image":"$X"}]},
 "status":{"phase":"Running","podIP":"198.18.80.13","message":"$X"}}
EOT
cat >"$PW_TMP/Namespace--evil.json" <<EOT
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"$X","labels":{"x":"$X"}}}
EOT
cat >"$PW_TMP/NetworkPolicy-stars-evil.json" <<EOT
{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"$X","namespace":"stars"},
 "spec":{"podSelector":{"matchLabels":{"role":"$X"}}}}
EOT
for f in Pod-stars-evil Pod-stars-evil2 Namespace--evil NetworkPolicy-stars-evil; do
	ctl POST /objects --data-binary @"$PW_TMP/$f.json" || fail "POST $f"
done
# evil2 is valid (only its free-text fields carry markup): it is on the page.
wait_for 100 sh -c "ip netns exec $PW_NODE curl -s $URL/ui/state.json | grep -q evil2" ||
	fail "the valid hostile pod never reached the page"
dump hostile
if grep -q 'data-pod="stars/evil2"' "$PW_TMP/dom.hostile" &&
   ! grep -qi '<img\|<script>document\|onerror=' "$PW_TMP/dom.hostile" &&
   grep -q '<title>podwall</title>' "$PW_TMP/dom.hostile"; then
	pass "hostile objects: the page shows the valid one and no markup of theirs became an element or ran"
else
	fail "hostile objects: $(grep -io '<img[^>]*>\|<script>[^<]*\|<title>[^<]*' "$PW_TMP/dom.hostile" | head -n 3)"
fi
if nx curl -s "$URL/ui/state.json" | grep -q '<'; then
	fail "/ui/state.json carries a raw '<'"
else
	pass "/ui/state.json carries no raw '<'"
fi
headers=$(nx curl -s -D - -o /dev/null "$URL/ui")
case $headers in
*"Content-Security-Policy: default-src 'none'; script-src 'self'"*) pass "the page is served with a Content-Security-Policy that allows its own script alone" ;;
*) fail "no Content-Security-Policy on /ui: $headers" ;;
esac

stop_daemon
finish
