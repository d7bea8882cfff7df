#!/bin/sh
# Self-test of tests/fake-apiserver.py: starts it with TLS, a client
# certificate and a bearer token, drives every fault with curl and checks the
# answers.  Not run by make; run it by hand: sh tests/fake-apiserver-selftest.sh
# Needs python3, curl and openssl.  Exit: 0 pass, 1 fail, 77 skip.

set -u
here=$(cd "$(dirname "$0")" && pwd)
FAKE="$here/fake-apiserver.py"
PY=${PYTHON:-python3}
for tool in "$PY" curl openssl; do
	command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is missing"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fake-apiserver-selftest.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

failures=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
check() {
	desc=$1
	shift
	if "$@"; then ok "$desc"; else fail "$desc"; fi
}

# jtest FILE EXPR: EXPR (Python) is true of the JSON document j in FILE.
jtest() {
	"$PY" -c 'import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$1" "$2"
}
# jget FILE EXPR: print EXPR of j.
jget() {
	"$PY" -c 'import json, sys
j = json.load(open(sys.argv[1]))
print(eval("(" + sys.argv[2] + ")"))' "$1" "$2"
}
# etest FILE EXPR: EXPR is true of ev, the complete NDJSON events in FILE, and
# tail, the bytes after the last newline.
etest() {
	"$PY" -c 'import json, sys
data = open(sys.argv[1], "rb").read()
lines, _, tail = data.rpartition(b"\n")
ev = [json.loads(l) for l in lines.split(b"\n") if l.strip()]
types = [e["type"] for e in ev]
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$1" "$2"
}

quiet() { "$@" >/dev/null 2>&1; }
# has FILE REGEX: grep -q (case-insensitive with -i first).
has() { grep -q "$@"; }
# exited PID: the process is gone.
exited() { ! kill -0 "$1" 2>/dev/null; }
# forget PID: no longer ours to kill on exit.
forget() {
	_keep=""
	for p in $pids; do
		[ "$p" = "$1" ] || _keep="$_keep $p"
	done
	pids=$_keep
}

# waitfor SECONDS COMMAND...: retry COMMAND every 0.1 s.
waitfor() {
	n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

certs="$tmp/certs"
"$PY" "$FAKE" make-certs "$certs" || { echo "FAIL: make-certs"; exit 1; }
for f in ca.crt ca.key server.crt server.key client.crt client.key other-ca.crt other-client.crt; do
	[ -s "$certs/$f" ] || fail "make-certs wrote no $f"
done
openssl x509 -in "$certs/server.crt" -noout -text >"$tmp/server.txt"
check "server certificate: signed by ca.crt" quiet openssl verify -CAfile "$certs/ca.crt" "$certs/server.crt"
check "server certificate: for IP 127.0.0.1 and localhost" has -e 'IP Address:127.0.0.1, DNS:localhost' "$tmp/server.txt"

"$PY" "$FAKE" --tls-dir "$certs" --require-client-cert --token secret --seed 42 \
	--bookmark-interval 1 --too-large-wait 1 --max-lifetime 600 \
	>"$tmp/ready" 2>"$tmp/server.log" &
server=$!
pids="$server"
waitfor 10 grep -q READY "$tmp/ready" || { cat "$tmp/server.log"; echo "FAIL: no READY"; exit 1; }
check "READY is the only line on stdout" test "$(wc -l <"$tmp/ready")" -eq 1
read -r _ API CTL <"$tmp/ready"
B="https://127.0.0.1:$API"
C="http://127.0.0.1:$CTL"
TOKEN=secret
TLS="--cacert $certs/ca.crt --cert $certs/client.crt --key $certs/client.key"

# api OUT PATH [curl args...]: GET on the API port; prints the HTTP status.
api() {
	out=$1
	path=$2
	shift 2
	# shellcheck disable=SC2086
	curl -sS --http1.1 $TLS -H "Authorization: Bearer $TOKEN" -o "$out" -w '%{http_code}' "$@" "$B$path"
}
# ctl METHOD PATH [JSON]: the control port; body to stdout.
ctl() {
	if [ $# -ge 3 ]; then
		curl -sS -X "$1" -H 'Content-Type: application/json' -d "$3" "$C$2"
	else
		curl -sS -X "$1" "$C$2"
	fi
}
fault() { ctl POST /faults "$1" >"$tmp/fault.out" || fail "POST /faults $1"; }
stat() { ctl GET /stats >"$tmp/stats.json" && jget "$tmp/stats.json" "$1"; }
current_rv() { stat 'j["resourceVersion"]'; }
watches_open() { [ "$(stat 'j["watches_open"]')" -ge "${1:-1}" ]; }

# ---- TLS and authentication
curl -sS --http1.1 --cacert "$certs/ca.crt" -H "Authorization: Bearer $TOKEN" -o /dev/null "$B/api/v1/pods" 2>/dev/null
check "no client certificate: refused" test $? -ne 0
curl -sS --http1.1 --cacert "$certs/other-ca.crt" --cert "$certs/client.crt" --key "$certs/client.key" \
	-o /dev/null "$B/api/v1/pods" 2>/dev/null
check "server certificate not trusted with another CA (curl 60)" test $? -eq 60
curl -sS --http1.1 --cacert "$certs/ca.crt" --cert "$certs/other-client.crt" --key "$certs/other-client.key" \
	-H "Authorization: Bearer $TOKEN" -o /dev/null "$B/api/v1/pods" 2>/dev/null
check "client certificate of another CA: refused" test $? -ne 0
# shellcheck disable=SC2086
code=$(curl -sS --http1.1 $TLS -o "$tmp/out" -w '%{http_code}' "$B/api/v1/pods")
check "no token: 401" test "$code" = 401
check "no token: a Status body, reason Unauthorized" jtest "$tmp/out" \
	'j["kind"] == "Status" and j["status"] == "Failure" and j["reason"] == "Unauthorized" and j["code"] == 401' 
code=$(TOKEN=wrong api "$tmp/out" /api/v1/namespaces)
check "wrong token: 401" test "$code" = 401
code=$(TOKEN='' api "$tmp/out" /version)
check "/version without a token: 200" test "$code" = 200

# ---- objects
ctl POST /objects '{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"shop","labels":{"team":"a"}}}' >"$tmp/ns.json"
check "namespace gets uid, RV above 2^32 and its name label" jtest "$tmp/ns.json" \
	'j["metadata"]["uid"] and int(j["metadata"]["resourceVersion"]) > 2**32 and j["metadata"]["labels"]["kubernetes.io/metadata.name"] == "shop"'
i=1
for node in node-a node-a node-b node-b node-b; do
	ctl POST /objects "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p$i\",\"namespace\":\"shop\",\"labels\":{\"app\":\"web\",\"i\":\"$i\"}},
		\"spec\":{\"nodeName\":\"$node\",\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]},
		\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.$i\"}}" >"$tmp/pod$i.json"
	i=$((i + 1))
done
check "pod defaults: port protocol TCP, podIPs" jtest "$tmp/pod1.json" \
	'j["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP" and j["status"]["podIPs"] == [{"ip": "10.0.0.1"}]'
ctl POST /objects '{"kind":"NetworkPolicy","apiVersion":"networking.k8s.io/v1","metadata":{"name":"np","namespace":"shop"},
	"spec":{"podSelector":{"matchLabels":{"app":"web"}},"egress":[{"ports":[{"port":53}]}]}}' >"$tmp/np.json"
check "policy defaults: policyTypes Ingress+Egress, protocol TCP" jtest "$tmp/np.json" \
	'j["spec"]["policyTypes"] == ["Ingress", "Egress"] and j["spec"]["egress"][0]["ports"][0]["protocol"] == "TCP"'
rv_before=$(current_rv)
ctl POST /objects "$(cat "$tmp/pod1.json")" >/dev/null
check "an unchanged object is no change" test "$(current_rv)" = "$rv_before"
ctl GET /objects >"$tmp/all.json"
check "GET /objects has all 7 objects" jtest "$tmp/all.json" 'len(j["items"]) == 7'

# ---- lists
code=$(api "$tmp/list.json" /api/v1/pods)
check "pod list: 200" test "$code" = 200
check "pod list: PodList v1 of 5 items without kind/apiVersion, no continue" jtest "$tmp/list.json" \
	'j["kind"] == "PodList" and j["apiVersion"] == "v1" and len(j["items"]) == 5
	 and all("kind" not in i and "apiVersion" not in i for i in j["items"]) and not j["metadata"].get("continue")'
check "pod list: resourceVersion a string above 2^32" jtest "$tmp/list.json" \
	'isinstance(j["metadata"]["resourceVersion"], str) and int(j["metadata"]["resourceVersion"]) > 2**32' 
code=$(api "$tmp/list.json" "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a")
check "fieldSelector spec.nodeName=node-a: p1 and p2" jtest "$tmp/list.json" \
	'sorted(i["metadata"]["name"] for i in j["items"]) == ["p1", "p2"]' 
code=$(api "$tmp/list.json" "/api/v1/pods?labelSelector=i%20in%20(1,3),app%3Dweb")
check "labelSelector i in (1,3),app=web: 2 pods" jtest "$tmp/list.json" 'len(j["items"]) == 2'
code=$(api "$tmp/out" "/api/v1/pods?fieldSelector=spec.bogus%3Dx")
check "unknown field selector: 400" test "$code" = 400
code=$(api "$tmp/list.json" /apis/networking.k8s.io/v1/networkpolicies)
check "policy list: NetworkPolicyList" jtest "$tmp/list.json" 'j["kind"] == "NetworkPolicyList" and len(j["items"]) == 1'
code=$(api "$tmp/out" /api/v1/namespaces/shop/pods/p3)
check "get one pod: 200" test "$code" = 200
code=$(api "$tmp/out" /api/v1/namespaces/shop/pods/nope)
check "get a missing pod: 404" test "$code" = 404
check "get a missing pod: Status NotFound" jtest "$tmp/out" 'j["reason"] == "NotFound"'

# Two requests on one connection: HTTP/1.1 keep-alive.
# shellcheck disable=SC2086
conns=$(curl -sS --http1.1 $TLS -H "Authorization: Bearer $TOKEN" -o /dev/null -o /dev/null \
	-w '%{num_connects} ' "$B/api/v1/pods" "$B/api/v1/namespaces")
check "keep-alive: the second request reuses the connection" test "$conns" = "1 0 "

# ---- paging: a consistent snapshot, short and empty pages
# page_walk LIMIT [FIRST_CONTINUE]: follows continue tokens; writes names to
# $tmp/names and page summaries "count rv has-continue" to $tmp/pages.
page_walk() {
	: >"$tmp/names"
	: >"$tmp/pages"
	cont=${2:-}
	n=0
	while [ $n -lt 60 ]; do
		q="limit=$1"
		[ -n "$cont" ] && q="$q&continue=$cont"
		code=$(api "$tmp/page.json" "/api/v1/pods?$q")
		[ "$code" = 200 ] || { echo "page: HTTP $code" >&2; return 1; }
		jget "$tmp/page.json" '"\n".join(i["metadata"]["name"] for i in j["items"])' | sed '/^$/d' >>"$tmp/names"
		jget "$tmp/page.json" '"%d %s %d" % (len(j["items"]), j["metadata"]["resourceVersion"], bool(j["metadata"].get("continue")))' >>"$tmp/pages"
		cont=$(jget "$tmp/page.json" 'j["metadata"].get("continue", "")')
		n=$((n + 1))
		[ -z "$cont" ] && return 0
		[ "$n" = 1 ] && [ -n "${PAGE_HOOK:-}" ] && $PAGE_HOOK
	done
	return 1
}
add_pod6() { ctl POST /objects '{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p6","namespace":"shop"},"spec":{"nodeName":"node-c"}}' >/dev/null; }
fault '{"type":"short-pages","count":3}'
PAGE_HOOK=add_pod6 page_walk 2
check "paging: all 5 pods once, p6 (made after page 1) absent" test "$(sort "$tmp/names" | tr '\n' ' ')" = "p1 p2 p3 p4 p5 "
check "paging: every page has the same RV" test "$(cut -d' ' -f2 "$tmp/pages" | sort -u | wc -l)" -eq 1
check "paging: a short or empty page still carried continue" grep -q '^[01] .* 1$' "$tmp/pages"
code=$(api "$tmp/page.json" "/api/v1/pods?limit=2")
cont=$(jget "$tmp/page.json" 'j["metadata"].get("continue", "")')
code=$(api "$tmp/out" "/api/v1/pods?limit=2&continue=$cont&resourceVersion=$(current_rv)")
check "continue together with resourceVersion: 400" test "$code" = 400

# expire-continue: 410 Expired whose Status carries a fresh token.
code=$(api "$tmp/page.json" "/api/v1/pods?limit=1")
cont=$(jget "$tmp/page.json" 'j["metadata"].get("continue", "")')
fault '{"type":"expire-continue"}'
code=$(api "$tmp/410.json" "/api/v1/pods?limit=1&continue=$cont")
check "expire-continue: HTTP 410" test "$code" = 410
check "expire-continue: Status Expired with a fresh metadata.continue" jtest "$tmp/410.json" \
	'j["kind"] == "Status" and j["code"] == 410 and j["reason"] == "Expired" and j["status"] == "Failure"
	 and j["metadata"]["continue"] and j["message"].startswith("The provided continue parameter is too old")' 
fresh=$(jget "$tmp/410.json" 'j["metadata"]["continue"]')
page_walk 100 "$fresh"
check "the fresh token continues with p6, made after the first page" has p6 "$tmp/names"
check "the fresh token continues at the latest RV" test "$(cut -d' ' -f2 "$tmp/pages" | head -n1)" = "$(current_rv)"

# A token whose RV was compacted: 410 as well.
code=$(api "$tmp/page.json" "/api/v1/pods?limit=1")
old_rv=$(jget "$tmp/page.json" 'j["metadata"]["resourceVersion"]')
cont=$(jget "$tmp/page.json" 'j["metadata"].get("continue", "")')
ctl POST /objects '{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p7","namespace":"shop"},"spec":{}}' >/dev/null
fault '{"type":"compact"}'
code=$(api "$tmp/410.json" "/api/v1/pods?limit=1&continue=$cont")
check "continue token older than the compaction: 410" test "$code" = 410
code=$(api "$tmp/out" "/api/v1/pods?limit=1&resourceVersion=$old_rv")
check "paged list at a compacted RV: 410" test "$code" = 410
check "paged list at a compacted RV: 'too old'" jtest "$tmp/out" '"too old" in j["message"]'
code=$(api "$tmp/out" "/api/v1/pods?resourceVersion=$old_rv")
check "unpaged list at an old RV (not older than): 200" test "$code" = 200
future=$(($(current_rv) + 1000))
code=$(api "$tmp/out" "/api/v1/pods?resourceVersion=$future" -D "$tmp/hdr")
check "list at a future RV: 504" test "$code" = 504
check "list at a future RV: Timeout, cause ResourceVersionTooLarge" jtest "$tmp/out" \
	'j["reason"] == "Timeout" and j["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"'
check "list at a future RV: Retry-After 1" has -i '^Retry-After: 1' "$tmp/hdr"

# ---- watches
# watch_bg NAME PATH [curl args]: start a watch in the background; its body
# goes to $tmp/NAME, headers to $tmp/NAME.h, curl's exit code to $tmp/NAME.rc.
watch_bg() {
	name=$1
	path=$2
	shift 2
	rm -f "$tmp/$name.rc"
	(
		api "$tmp/$name" "$path" -N -D "$tmp/$name.h" "$@" >"$tmp/$name.code" 2>"$tmp/$name.err"
		echo $? >"$tmp/$name.rc"
	) &
	bg=$!
}
rc_of() { cat "$tmp/$1.rc" 2>/dev/null; }
done_bg() { [ -s "$tmp/$1.rc" ]; }

rv=$(current_rv)
watch_bg w1 "/api/v1/pods?watch=1&resourceVersion=$rv&timeoutSeconds=2"
waitfor 5 watches_open
ctl POST /objects '{"kind":"Pod","apiVersion":"v1","metadata":{"name":"w","namespace":"shop","labels":{"a":"1"}},"spec":{"nodeName":"node-a"}}' >/dev/null
ctl POST /objects '{"kind":"Pod","apiVersion":"v1","metadata":{"name":"w","namespace":"shop","labels":{"a":"2"}},"spec":{"nodeName":"node-a"}}' >/dev/null
ctl DELETE /objects/Pod/shop/w >/dev/null
wait $bg
check "watch: 200" test "$(cat "$tmp/w1.code")" = 200
check "watch: Transfer-Encoding chunked" has -i '^Transfer-Encoding: chunked' "$tmp/w1.h"
check "watch: Content-Type application/json" has -i '^Content-Type: application/json' "$tmp/w1.h"
check "watch: ADDED, MODIFIED, DELETED with the last state, RVs +1 each" etest "$tmp/w1" \
	'types == ["ADDED", "MODIFIED", "DELETED"] and ev[2]["object"]["metadata"]["labels"] == {"a": "2"}
	 and [int(e["object"]["metadata"]["resourceVersion"]) for e in ev] == list(range(int(ev[0]["object"]["metadata"]["resourceVersion"]), int(ev[0]["object"]["metadata"]["resourceVersion"]) + 3))
	 and all(e["object"]["kind"] == "Pod" for e in ev) and tail == b""'
check "watch: clean end at timeoutSeconds (curl 0)" test "$(rc_of w1)" = 0

npods=$(stat 'j["objects"]["pods"]')
watch_bg w2 "/api/v1/pods?watch=1&resourceVersion=0&timeoutSeconds=1"
wait $bg
check "watch from RV 0: one ADDED per pod ($npods)" etest "$tmp/w2" "types == ['ADDED'] * $npods"
watch_bg w2b "/api/v1/pods?watch=true&timeoutSeconds=1"
wait $bg
check "watch without RV: one ADDED per pod" etest "$tmp/w2b" "types == ['ADDED'] * $npods"

watch_bg w3 "/api/v1/pods?watch=1&resourceVersion=$(current_rv)&allowWatchBookmarks=true&timeoutSeconds=3&fieldSelector=status.phase%21%3DSucceeded"
waitfor 5 watches_open
ctl POST /objects '{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p2","namespace":"shop","labels":{"app":"web","i":"2"}},
	"spec":{"nodeName":"node-a","containers":[{"name":"c","image":"x","ports":[{"name":"http","containerPort":8080}]}]},
	"status":{"phase":"Succeeded","podIP":"10.0.0.2"}}' >/dev/null
ctl POST /objects '{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"other"}}' >/dev/null
wait $bg
final_rv=$(current_rv)
check "selector transition: a pod that stops matching arrives as DELETED" etest "$tmp/w3" \
	'ev[0]["type"] == "DELETED" and ev[0]["object"]["metadata"]["name"] == "p2" and ev[0]["object"]["status"]["phase"] == "Running"'
check "bookmarks: kind Pod, only an RV, the last one at the newest RV" etest "$tmp/w3" \
	"types.count('BOOKMARK') >= 2 and [e for e in ev if e['type'] == 'BOOKMARK'][-1]['object']['metadata']['resourceVersion'] == '$final_rv'
	 and all(e['object']['kind'] == 'Pod' and 'name' not in e['object']['metadata'] for e in ev if e['type'] == 'BOOKMARK')"
watch_bg w3b "/api/v1/pods?watch=1&resourceVersion=$final_rv&timeoutSeconds=2"
wait $bg
check "no bookmarks unless allowWatchBookmarks" etest "$tmp/w3b" 'types == []'

watch_bg w4 "/api/v1/namespaces?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1"
wait $bg
check "sendInitialEvents: ADDEDs then the initial-events-end BOOKMARK" etest "$tmp/w4" \
	'types[:3] == ["ADDED", "ADDED", "BOOKMARK"] and ev[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}'
code=$(api "$tmp/out" "/api/v1/pods?watch=1&sendInitialEvents=true")
check "sendInitialEvents without resourceVersionMatch: 422" test "$code" = 422
check "sendInitialEvents without resourceVersionMatch: Invalid" jtest "$tmp/out" 'j["reason"] == "Invalid"'

fault '{"type":"compact"}'
watch_bg w5 "/api/v1/pods?watch=1&resourceVersion=$old_rv&timeoutSeconds=30"
wait $bg
check "watch from a compacted RV: HTTP 200 and a clean end" test "$(cat "$tmp/w5.code") $(rc_of w5)" = "200 0"
check "watch from a compacted RV: one ERROR event, Status 410 Expired" etest "$tmp/w5" \
	'types == ["ERROR"] and ev[0]["object"]["kind"] == "Status" and ev[0]["object"]["code"] == 410
	 and ev[0]["object"]["reason"] == "Expired" and ev[0]["object"]["message"].startswith("too old resource version: '"$old_rv"' (")' 

# ---- faults on open watches
start=$(date +%s)
watch_bg w6 "/api/v1/pods?watch=1&resourceVersion=$(current_rv)&timeoutSeconds=20"
waitfor 5 watches_open
fault '{"type":"watch-error-410"}'
check "watch-error-410 hit the open watch" jtest "$tmp/fault.out" 'j["applied_to_open"] == 1'
wait $bg
check "watch-error-410: a clean end" test "$(rc_of w6)" = 0
check "watch-error-410: well before the timeout" test $(($(date +%s) - start)) -lt 10
check "watch-error-410: the last event is ERROR 410" etest "$tmp/w6" 'ev[-1]["type"] == "ERROR" and ev[-1]["object"]["code"] == 410'
fault '{"type":"watch-error-410","target":"next","path":"namespaces"}'
watch_bg w6b "/api/v1/namespaces?watch=1&resourceVersion=$(current_rv)&timeoutSeconds=20"
wait $bg
check "watch-error-410 for the next watch" etest "$tmp/w6b" 'types == ["ERROR"]'

watch_bg w7 "/api/v1/pods?watch=1&resourceVersion=$(current_rv)&timeoutSeconds=20"
waitfor 5 watches_open
fault '{"type":"close-watches"}'
wait $bg
check "close-watches: a clean end without an event" test "$(rc_of w7) $(wc -c <"$tmp/w7")" = "0 0"
watch_bg w7b "/api/v1/pods?watch=1&resourceVersion=$(current_rv)&timeoutSeconds=20"
waitfor 5 watches_open
fault '{"type":"close-watches","clean":false}'
wait $bg
check "close-watches clean=false: no final chunk (curl 18)" test "$(rc_of w7b)" = 18

watch_bg w8 "/api/v1/pods?watch=1&resourceVersion=$(current_rv)&timeoutSeconds=20"
waitfor 5 watches_open
fault '{"type":"drop-mid-event"}'
ctl POST /objects '{"kind":"Pod","apiVersion":"v1","metadata":{"name":"cut","namespace":"shop"},"spec":{}}' >/dev/null
wait $bg
check "drop-mid-event: a transfer error (curl 18 or 56)" has -x -e 18 -e 56 "$tmp/w8.rc"
check "drop-mid-event: half an event, no whole one" etest "$tmp/w8" 'ev == [] and len(tail) > 0' 
watch_bg w8b "/api/v1/pods?watch=1&resourceVersion=$(current_rv)&timeoutSeconds=20"
waitfor 5 watches_open
fault '{"type":"drop-mid-event","now":true}'
wait $bg
check "drop-mid-event now: cut without waiting for a change" has -x -e 18 -e 56 "$tmp/w8b.rc"

fault '{"type":"stall"}'
watch_bg w9 "/api/v1/pods?watch=1&resourceVersion=$(current_rv)" --max-time 2
wait $bg
check "stall: 200 and headers, then nothing until curl's --max-time (28)" \
	test "$(cat "$tmp/w9.code") $(rc_of w9)" = "200 28"
check "stall: no body at all" test ! -s "$tmp/w9"
no_connections() { [ "$(stat 'j["connections_open"]')" = 0 ]; }
check "stall: the server lets go once the client has gone" waitfor 3 no_connections

# ---- status faults, token rotation
fault '{"type":"status","code":429,"retry_after":2,"count":2,"path":"pods"}'
c1=$(api "$tmp/429.json" /api/v1/pods -D "$tmp/429.h")
c2=$(api "$tmp/out" "/api/v1/pods?watch=1")
c3=$(api "$tmp/out" /api/v1/pods)
check "429 fault: count 2 refuses a list and a watch, then 200" test "$c1 $c2 $c3" = "429 429 200"
check "429 fault: Retry-After header" has -i '^Retry-After: 2' "$tmp/429.h"
check "429 fault: Status TooManyRequests, retryAfterSeconds" jtest "$tmp/429.json" \
	'j["reason"] == "TooManyRequests" and j["code"] == 429 and j["details"]["retryAfterSeconds"] == 2' 
fault '{"type":"status","code":503}'
c1=$(api "$tmp/503.json" /api/v1/namespaces)
check "503 fault: 503" test "$c1" = 503
check "503 fault: ServiceUnavailable" jtest "$tmp/503.json" 'j["reason"] == "ServiceUnavailable"'
fault '{"type":"status","code":500,"path":"networkpolicies"}'
c1=$(api "$tmp/out" /api/v1/namespaces)
c2=$(api "$tmp/out" /apis/networking.k8s.io/v1/networkpolicies)
check "500 fault with a path: only that path" test "$c1 $c2" = "200 500"

fault '{"type":"rotate-token","token":"fresh"}'
c1=$(api "$tmp/out" /api/v1/pods)
c2=$(TOKEN=fresh api "$tmp/out" /api/v1/pods)
check "rotate-token: old token 401, new token 200" test "$c1 $c2" = "401 200"
TOKEN=fresh
stat 'j["unauthorized"]' >/dev/null
check "stats: tokens seen, 401s, lists, pages, watches, events" jtest "$tmp/stats.json" \
	'set(j["tokens"]) >= {"secret", "fresh", "wrong"} and j["unauthorized"] >= 3 and j["lists"] > 5 and j["pages"] > 5
	 and j["watches_opened"] > 10 and j["events_sent"] > 10 and j["requests"]["list pods"]["200"] > 5 and j["watches_stalled"] == 1'

# ---- request classes: what each read would cost a real server
ctl GET /stats >"$tmp/before.json"
api "$tmp/out" "/api/v1/pods" -A "podwall/test (linux/x) node/n1" >/dev/null
api "$tmp/out" "/api/v1/pods?resourceVersion=0" >/dev/null
api "$tmp/out" "/api/v1/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1" >/dev/null
ctl GET /stats >"$tmp/after.json"
check "stats: classes list-consistent, list-cache, watch-list count requests, bytes, time" "$PY" -c '
import json, sys
a, b = (json.load(open(f))["classes"] for f in sys.argv[1:])
sys.exit(0 if all(b[c]["requests"] > a[c]["requests"] and b[c]["bytes"] > a[c]["bytes"]
                  and b[c]["wall_seconds"] > a[c]["wall_seconds"]
                  for c in ("list-consistent", "list-cache", "watch-list")) else 1)' \
	"$tmp/before.json" "$tmp/after.json"
ctl GET /requests >"$tmp/req.json"
check "requests: the User-Agent and the class of each" jtest "$tmp/req.json" \
	'j["requests"][-3]["user_agent"] == "podwall/test (linux/x) node/n1"
	 and [r["class"] for r in j["requests"][-3:]] == ["list-consistent", "list-cache", "watch-list"]'

# ---- split chunks
fault '{"type":"split-chunks"}'
api "$tmp/raw" "/api/v1/pods?watch=1&resourceVersion=0&timeoutSeconds=1" --raw >/dev/null
fault '{"type":"split-chunks","enable":false}'
check "split-chunks: chunk boundaries do not follow events" "$PY" -c '
import json, sys
raw = open(sys.argv[1], "rb").read()
chunks, body, i = [], b"", 0
while True:
    j = raw.index(b"\r\n", i)
    n = int(raw[i:j], 16)
    if n == 0:
        break
    chunks.append(raw[j + 2:j + 2 + n])
    assert raw[j + 2 + n:j + 4 + n] == b"\r\n"
    i = j + 4 + n
body = b"".join(chunks)
ev = [json.loads(l) for l in body.split(b"\n") if l]
assert len(ev) == int(sys.argv[2]) and all(e["type"] == "ADDED" for e in ev)
assert len(chunks) != len(ev) and not all(c.endswith(b"\n") for c in chunks)
assert len(set(len(c) for c in chunks)) > 3' "$tmp/raw" "$(stat 'j["objects"]["pods"]')"

# ---- restart: connection refused for a while
fault '{"type":"restart","down":1}'
api "$tmp/out" /api/v1/pods 2>"$tmp/restart.err" >"$tmp/code"
rc=$?
check "restart: connection refused while down (curl 7, got $rc: $(cat "$tmp/restart.err"))" test "$rc" -eq 7
sleep 1.5
check "restart: served again afterwards" test "$(api "$tmp/out" /api/v1/pods)" = 200

# ---- raw objects: bytes sent as they are
rv_before=$(current_rv)
# shellcheck disable=SC2086
curl -sS -m 3 --http1.1 $TLS -H "Authorization: Bearer $TOKEN" -o "$tmp/rawwatch.out" \
	"$B/api/v1/namespaces?watch=1&resourceVersion=$rv_before" 2>/dev/null &
rawwatch=$!
pids="$pids $rawwatch"
waitfor 3 watches_open 1
printf '{"metadata":{"name":"shop","uid":"@UID@","resourceVersion":"@RV@","labels":{"a":"\377","a":"b"}}}\n' |
	curl -sS -X POST --data-binary @- "$C/raw?kind=Namespace&name=shop" >"$tmp/raw.json"
check "raw: an event, the uid kept" jtest "$tmp/raw.json" \
	'j["type"] == "MODIFIED" and int(j["resourceVersion"]) == '"$rv_before"' + 1 and j["uid"]'
code=$(api "$tmp/rawlist.out" /api/v1/namespaces)
check "raw: listed verbatim, @RV@ and @UID@ filled in, the newline dropped" \
	grep -q "\"labels\":{\"a\":\"$(printf '\377')\",\"a\":\"b\"}}}]}" "$tmp/rawlist.out"
check "raw: list item has the resourceVersion" grep -q "\"resourceVersion\":\"$((rv_before + 1))\"" "$tmp/rawlist.out"
wait "$rawwatch" 2>/dev/null
forget "$rawwatch"
check "raw: watched verbatim as one line" grep -q "^{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"shop\",.*\"a\":\"$(printf '\377')\",\"a\":\"b\"}}}}\$" "$tmp/rawwatch.out"
pods() { ctl GET '/objects?kind=Pod' | "$PY" -c 'import json,sys; print(" ".join(sorted(i["metadata"]["name"] for i in json.load(sys.stdin)["items"])))'; }
pods_before=$(pods)
printf 'not json at all' | curl -sS -X POST --data-binary @- "$C/raw?kind=Pod&namespace=shop&name=p3&type=DELETED" >"$tmp/raw.json"
check "raw: DELETED removes it ($pods_before)" test "$(pods)" = "$(echo "$pods_before" | sed 's/ *p3//')"
check "raw: needs a kind" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary x "$C/raw?name=a")" = 400

# ---- reset
ctl POST /reset >/dev/null
ctl GET /objects >"$tmp/all.json"
ctl GET /faults >"$tmp/faults.json"
check "reset: no objects" jtest "$tmp/all.json" 'j["items"] == []'
check "reset: no faults" jtest "$tmp/faults.json" 'j["faults"] == []' 
check "reset: the original token works again" test "$(TOKEN=secret api "$tmp/out" /api/v1/pods)" = 200

# ---- lifetime
kill -TERM "$server"
check "SIGTERM: exits" waitfor 3 exited "$server"
wait "$server" 2>/dev/null && forget "$server"

# A parent shell that starts the server and leaves.
# shellcheck disable=SC2016
sh -c '"$1" "$2" >/dev/null 2>&1 & echo $! >"$3"; sleep 1' sh "$PY" "$FAKE" "$tmp/orphan.pid"
orphan=$(cat "$tmp/orphan.pid")
pids="$pids $orphan"
check "exits when its parent exits" waitfor 3 exited "$orphan"
exited "$orphan" && forget "$orphan"

"$PY" "$FAKE" --max-lifetime 1 >/dev/null 2>&1 &
short=$!
pids="$pids $short"
check "exits after --max-lifetime" waitfor 4 exited "$short"
wait "$short" 2>/dev/null && forget "$short"

if [ "$failures" -ne 0 ]; then
	echo "$failures failure(s); server log:" >&2
	sed 's/^/  /' "$tmp/server.log" >&2
	exit 1
fi
echo "all passed"
exit 0
