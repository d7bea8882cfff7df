#!/bin/sh
# The three bundled examples, played step by step as their demos go, on a
# node made of network namespaces (PW_TOPOLOGY, see tests/netns.sh): the
# pods of edge-1 on the node, the pods of edge-2 on another. Each step
# feeds podwall a growing subset of the example's own documents and probes
# every pod from every other pod on the destination's ports and with ICMP.
#
# With PW_FAMILY=dual every pod of the copies gets its IPv6 address
# (tests/netns.sh's ip6_of) in status.podIPs beside its podIP, each step is
# probed over both families with the same truth table, and the dual-stack
# example is played too: its IPv4-only pod, its ipBlocks of both families
# (the IPv6 one moved, in the copy, to where the topologies put pods), and
# clients in the office's blocks, one in each block's hole.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-examples.sh"

begin=$(date +%s)
M="$PW_TMP/manifests"
EX="$PW_TMP/examples"
cp -R "$srcdir/examples" "$EX" || { fail "cannot copy the examples"; finish; }

# The pods of edge-2 get addresses of edge-2's pod subnet (198.19.0.0/17),
# where every topology routes them; the copy is changed, the shipped
# examples (and the golden files made from them) keep their addresses.
remote_ip() {
	case $1 in
	198.18.10.12) echo 198.19.10.12 ;;
	198.18.10.22) echo 198.19.10.22 ;;
	198.18.20.53) echo 198.19.20.53 ;;
	esac
}
for f in "$EX/tenant-isolation/tenants.yaml" "$EX/egress-control/00-cluster.yaml"; do
	for old in 198.18.10.12 198.18.10.22 198.18.20.53; do
		re=$(echo "$old" | sed 's/\./\\./g')
		sed -e "s/podIP: $re\$/podIP: $(remote_ip $old)/" \
		    -e "s/podIP: $re\([^0-9]\)/podIP: $(remote_ip $old)\1/" "$f" >"$f.new" &&
			mv "$f.new" "$f"
	done
done
for old in 198.18.10.12 198.18.10.22 198.18.20.53; do
	grep -q "podIP: $(remote_ip $old)" "$EX/tenant-isolation/tenants.yaml" "$EX/egress-control/00-cluster.yaml" ||
		fail "the examples' pod $old on edge-2 was not given $(remote_ip $old)"
done

# dual_stack_copy FILE: each podIP of FILE (block or flow style) gets the
# podIPs of both families, the IPv6 one ip6_of's.
dual_stack_copy() {
	awk '
		function v6(a,   o) {
			split(a, o, ".")
			if (o[3] == 0 && o[4] == 0) return sprintf("fd00:%d::", o[2])
			if (o[3] == 0) return sprintf("fd00:%d::%d", o[2], o[4])
			return sprintf("fd00:%d::%d:%d", o[2], o[3], o[4])
		}
		/podIPs:/ { print; next }
		match($0, /podIP: 198\.[0-9]+\.[0-9]+\.[0-9]+/) {
			ip = substr($0, RSTART + 7, RLENGTH - 7)
			ips = "[{ip: " ip "}, {ip: \047" v6(ip) "\047}]"
			if (substr($0, RSTART + RLENGTH) == "") {
				print
				indent = $0; sub(/podIP:.*/, "", indent)
				print indent "podIPs: " ips
			} else {
				print substr($0, 1, RSTART + RLENGTH - 1) ", podIPs: " ips substr($0, RSTART + RLENGTH)
			}
			next
		}
		{ print }' "$1" >"$1.new" && mv "$1.new" "$1"
}
if [ "$PW_FAMILY" = dual ]; then
	for f in "$EX/stars/01-pods.yaml" "$EX/tenant-isolation/tenants.yaml" "$EX/egress-control/00-cluster.yaml"; do
		dual_stack_copy "$f"
	done
	for want in "podIP: 198.18.1.10" "podIPs: \[{ip: 198.18.1.10}, {ip: 'fd00:18::1:10'}\]" \
		    "podIPs: \[{ip: 198.19.10.12}, {ip: 'fd00:19::10:12'}\]" \
		    "podIPs: \[{ip: 198.19.20.53}, {ip: 'fd00:19::20:53'}\]"; do
		grep -q "$want" "$EX/stars/01-pods.yaml" "$EX/tenant-isolation/tenants.yaml" \
			"$EX/egress-control/00-cluster.yaml" || fail "the dual-stack copies lack '$want'"
	done
fi

# pick_docs FILE WORD...: the documents of FILE whose kind or metadata.name
# is one of the WORDs.
pick_docs() {
	_f=$1
	shift
	awk -v words=" $* " '
		function flush() { if (keep) printf "%s---\n", doc; doc = ""; keep = 0 }
		/^---/ { flush(); next }
		{
			doc = doc $0 "\n"
			w = ""
			if ($0 ~ /^kind: /) { w = $0; sub(/^kind: */, "", w) }
			if ($0 ~ /^  name: /) { w = $0; sub(/^  name: */, "", w) }
			if (w != "" && index(words, " " w " ")) keep = 1
		}
		END { flush() }' "$_f"
}

# step NAME: apply what is in $M, then probe every pod on its ports and ICMP.
step() {
	if ! apply_manifests "$M" >"$PW_TMP/apply.out" 2>&1; then
		fail "$1: podwall failed: $(tail -n 5 "$PW_TMP/apply.out")"
		return 1
	fi
	verify "$1" own icmp
}

# A fresh node for each example.
new_node() {
	e2e_cleanup_node
	node_up || { fail "cannot build the node"; return 1; }
}

e2e_cleanup_node() {
	node_down
	rm -rf "$M"
	mkdir "$M"
}

# ------------------------------------------------------------------ stars
# Calico's stars demo: everything open; default-deny in stars and client;
# the management UI let in; then client -> frontend:80 and
# frontend -> backend:6379 only.
if new_node; then
	S="$EX/stars"
	pod_up stars backend 198.18.1.10 tcp:6379 &&
	pod_up stars frontend 198.18.1.11 tcp:80 &&
	pod_up client client 198.18.2.10 tcp:9000 &&
	pod_up management-ui management-ui 198.18.3.10 tcp:9001 ||
		fail "stars: cannot build the pods"
	cp "$S/00-namespaces.yaml" "$S/01-pods.yaml" "$M/"

	expect_reset
	step "stars 1: namespaces and pods only, everything reachable"

	pick_docs "$S/02-policies.yaml" default-deny >"$M/10-default-deny.yaml"
	expect_ingress 'stars/*' false
	expect_ingress 'client/*' false
	step "stars 2: default-deny in stars and client: nothing reaches them"

	pick_docs "$S/02-policies.yaml" allow-ui >"$M/20-allow-ui.yaml"
	expect_peer management-ui/management-ui 'stars/*' true
	expect_peer management-ui/management-ui 'client/*' true
	step "stars 3: allow-ui: the management UI reaches every pod, the others still nothing"

	pick_docs "$S/02-policies.yaml" backend-policy frontend-policy >"$M/30-tiers.yaml"
	expect_peer client/client stars/frontend true tcp:80
	expect_peer stars/frontend stars/backend true tcp:6379
	step "stars 4: tiers: client -> frontend:80 and frontend -> backend:6379 only"

	# The whole example as it is, at once, gives the same verdicts.
	rm -f "$M"/*.yaml
	cp "$S"/*.yaml "$M/"
	step "stars: the whole example directory at once"
fi

# ------------------------------------------------------- tenant-isolation
# Two tenants in one namespace, half of each on another node; the web port
# is named, and means 80 on three pods but 8080 on nginx-hello1-b.
if new_node; then
	T="$EX/tenant-isolation/tenants.yaml"
	pod_up demo nginx-hello1-a 198.18.10.11 tcp:80 &&
	remote_pod_up demo nginx-hello1-b 198.19.10.12 tcp:8080 &&
	pod_up demo nginx-hello2-a 198.18.10.21 tcp:80 &&
	remote_pod_up demo nginx-hello2-b 198.19.10.22 tcp:80 ||
		fail "tenant-isolation: cannot build the pods"
	pick_docs "$T" Namespace List >"$M/00-cluster.yaml"

	expect_reset
	step "tenant-isolation 1: no policy, everything reachable"

	pick_docs "$T" NetworkPolicy >"$M/10-policies.yaml"
	expect_all false
	expect_peer demo/nginx-hello1-a demo/nginx-hello1-b true tcp:8080
	expect_peer demo/nginx-hello1-b demo/nginx-hello1-a true tcp:80
	expect_peer demo/nginx-hello2-a demo/nginx-hello2-b true tcp:80
	expect_peer demo/nginx-hello2-b demo/nginx-hello2-a true tcp:80
	step "tenant-isolation 2: each tenant reaches only its own pods, on the named port"

	# The named port is resolved on each destination pod: hello1-b's http
	# is 8080, so 80 to it is not allowed, and 8080 to hello1-a is not
	# either. A wrong allow would show as "refused" (nothing listens there).
	expect_reset
	expect_all false
	PW_SOURCES=demo/nginx-hello1-a PW_DESTS=demo/nginx-hello1-b
	verify "tenant-isolation: hello1-a -> hello1-b:80 blocked (its http is 8080)" tcp:80
	PW_SOURCES=demo/nginx-hello1-b PW_DESTS=demo/nginx-hello1-a
	verify "tenant-isolation: hello1-b -> hello1-a:8080 blocked (its http is 80)" tcp:8080
	PW_SOURCES="" PW_DESTS=""

	rm -f "$M"/*.yaml
	cp "$T" "$M/"
	expect_reset
	expect_all false
	expect_peer demo/nginx-hello1-a demo/nginx-hello1-b true tcp:8080
	expect_peer demo/nginx-hello1-b demo/nginx-hello1-a true tcp:80
	expect_peer demo/nginx-hello2-a demo/nginx-hello2-b true tcp:80
	expect_peer demo/nginx-hello2-b demo/nginx-hello2-a true tcp:80
	step "tenant-isolation: the whole example file at once"
fi

# --------------------------------------------------------- egress-control
# policy-demo: default-deny ingress, nginx opened to its namespace, then
# default-deny egress, DNS to kube-system on UDP 53, egress to nginx.
if new_node; then
	E="$EX/egress-control"
	pod_up policy-demo nginx 198.18.21.10 tcp:80 &&
	pod_up policy-demo access 198.18.21.20 &&
	remote_pod_up kube-system coredns 198.19.20.53 udp:53,tcp:53 &&
	# migrate-1 has Succeeded; its interface is left over as if the CNI
	# had not cleaned it up yet. It is kept out of the matrices below.
	pod_up policy-demo migrate-1 198.18.21.30 tcp:80 ||
		fail "egress-control: cannot build the pods"
	PODS="policy-demo/nginx policy-demo/access kube-system/coredns"
	PW_SOURCES=$PODS PW_DESTS=$PODS
	cp "$E/00-cluster.yaml" "$M/"

	expect_reset
	step "egress-control 1: no policy, everything reachable"

	pick_docs "$E/01-policies.yaml" default-deny-ingress >"$M/10.yaml"
	expect_ingress 'policy-demo/*' false
	step "egress-control 2: default-deny-ingress: nothing reaches policy-demo"

	pick_docs "$E/01-policies.yaml" access-nginx >"$M/20.yaml"
	expect_peer 'policy-demo/*' policy-demo/nginx true
	step "egress-control 3: access-nginx: policy-demo reaches nginx, kube-system does not"

	pick_docs "$E/01-policies.yaml" default-deny-egress >"$M/30.yaml"
	expect_egress 'policy-demo/*' false
	step "egress-control 4: default-deny-egress: nothing leaves policy-demo"

	pick_docs "$E/01-policies.yaml" allow-dns >"$M/40.yaml"
	expect_peer 'policy-demo/*' kube-system/coredns true udp:53
	step "egress-control 5: allow-dns: UDP 53 to kube-system only (not TCP 53)"

	pick_docs "$E/01-policies.yaml" allow-egress-to-nginx >"$M/50.yaml"
	expect_peer 'policy-demo/*' policy-demo/nginx true
	step "egress-control 6: allow-egress-to-nginx: access reaches nginx again"

	# The finished pod has no chain: its leftover interface is unknown to
	# podwall and cut off both ways, even where a policy would allow it.
	expect_reset
	expect_all false
	PW_SOURCES="policy-demo/migrate-1" PW_DESTS="$PODS"
	verify "egress-control: a Succeeded pod's leftover interface reaches nothing" own icmp
	PW_SOURCES="$PODS" PW_DESTS="policy-demo/migrate-1"
	verify "egress-control: nothing reaches a Succeeded pod's leftover interface" own icmp
	PW_SOURCES="" PW_DESTS=""
fi

# ------------------------------------------------------------ dual-stack
# The shop: default-deny both ways, HTTPS to web from the office's blocks
# (one per family, each with a hole), cart -> db:5432, DNS out; legacy is
# IPv4-only. The copy moves the IPv6 office block into edge-1's IPv6
# subnet, where the office's pods are: in (198.18.200.1, fd00:18::200:1)
# and out (198.18.200.129, fd00:18::200:129, in both holes).
if [ "$PW_FAMILY" = dual ] && new_node; then
	D="$EX/dual-stack/shop.yaml"
	sed -e "s|cidr: 'fd00:200::/48', except: \['fd00:200:0:1::/64'\]|cidr: 'fd00:18::200:0/112', except: ['fd00:18::200:100/120']|" \
		"$D" >"$D.new" && mv "$D.new" "$D"
	grep -q "fd00:18::200:0/112" "$D" || fail "dual-stack: the office's IPv6 block was not moved"
	cat >"$EX/dual-stack/office.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: office}
---
apiVersion: v1
kind: Pod
metadata: {name: in, namespace: office, labels: {app: client}}
spec:
  nodeName: edge-1
  containers: [{name: c, image: registry.example/client:1, ports: [{containerPort: 80}]}]
status: {phase: Running, podIP: 198.18.200.1, podIPs: [{ip: 198.18.200.1}, {ip: 'fd00:18::200:1'}]}
---
apiVersion: v1
kind: Pod
metadata: {name: out, namespace: office, labels: {app: client}}
spec:
  nodeName: edge-1
  containers: [{name: c, image: registry.example/client:1, ports: [{containerPort: 80}]}]
status: {phase: Running, podIP: 198.18.200.129, podIPs: [{ip: 198.18.200.129}, {ip: 'fd00:18::200:129'}]}
EOF
	remote_pod_up kube-system coredns 198.19.30.53 udp:53 &&
	pod_up shop web 198.18.30.10 tcp:8443 &&
	pod_up shop cart 198.18.30.20 &&
	pod_up shop db 198.18.30.30 tcp:5432 &&
	PW_POD_FAMILY=ipv4 pod_up shop legacy 198.18.30.40 &&
	pod_up office in 198.18.200.1 tcp:80 &&
	pod_up office out 198.18.200.129 tcp:80 ||
		fail "dual-stack: cannot build the pods"
	pick_docs "$D" Namespace Pod >"$M/00-cluster.yaml"
	cp "$EX/dual-stack/office.yaml" "$M/"

	expect_reset
	step "dual-stack 1: pods of both families and IPv4-only legacy, no policy: everything reachable"

	rm -f "$M"/*.yaml
	cp "$D" "$EX/dual-stack/office.yaml" "$M/"
	expect_ingress 'shop/*' false
	expect_egress 'shop/*' false
	expect_peer office/in shop/web true tcp:8443
	expect_peer shop/cart shop/db true tcp:5432
	expect_peer 'shop/*' kube-system/coredns true udp:53
	step "dual-stack 2: the whole example: HTTPS from the office's blocks but their holes, cart -> db, DNS out, over both families"
fi

echo "note: e2e-examples.sh took $(($(date +%s) - begin)) s (PW_APPLY=$PW_APPLY)"
e2e_cleanup
check_no_leftovers
finish
