#!/bin/sh
# The upstream e2e suite's model (kubernetes test/e2e/network/netpol) on a
# node made of network namespaces: namespaces x, y, z, pods a, b, c in each,
# every pod serving TCP and UDP on 80 and 81. Each case writes its policies,
# runs podwall, probes every pod from every other pod on tcp:80 tcp:81 udp:80
# udp:81 and compares with the case's truth table (cells the upstream case
# does not probe follow the same rules). Multi-step cases apply each step
# over the previous state. SCTP cases are checked on the rules podwall
# renders, never with SCTP packets. Then: the node reaches isolated pods, and
# ICMP follows isolation and port-less rules.
#
# With PW_FAMILY=dual (tests/netns.sh) every pod is dual-stack, each cell is
# probed over both families and every truth table holds for IPv6 as it
# does for IPv4: the ipBlock cases (#34-#36) name each pod's IPv6 block
# beside its IPv4 one (upstream's makeLargeCIDRForIP: /4, and /64 for
# IPv6), so that each policy says the same of both families.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$srcdir/tests/netns.sh"
e2e_requirements "e2e-upstream.sh"

M="$PW_TMP/manifests"
mkdir "$M"
SPECS="tcp:80 tcp:81 udp:80 udp:81"

pod_ip() {
	case $1 in x) n=1 ;; y) n=2 ;; z) n=3 ;; esac
	case $2 in a) m=1 ;; b) m=2 ;; c) m=3 ;; esac
	echo "198.18.$n.$m"
}

pod_ip6() {
	ip6_of "$(pod_ip "$1" "$2")"
}

# The pod's addresses in its status: with PW_FAMILY=dual both, in podIPs.
pod_status() {
	if [ "$PW_FAMILY" = dual ]; then
		echo "{phase: Running, podIP: $(pod_ip "$1" "$2"), podIPs: [{ip: $(pod_ip "$1" "$2")}, {ip: '$(pod_ip6 "$1" "$2")'}]}"
	else
		echo "{phase: Running, podIP: $(pod_ip "$1" "$2")}"
	fi
}

# v6_block CIDR [EXCEPT]: with PW_FAMILY=dual, a newline and the IPv6
# ipBlock peer that goes beside an IPv4 one (indented as a "to:" entry);
# nothing otherwise.
v6_block() {
	[ "$PW_FAMILY" = dual ] || return 0
	if [ -n "${2:-}" ]; then
		printf "\n    - ipBlock: {cidr: '%s', except: ['%s']}" "$1" "$2"
	else
		printf "\n    - ipBlock: {cidr: '%s'}" "$1"
	fi
}

# Extra labels, as ", key: value" YAML flow entries: NSL_<ns>, PODL_<ns>_<pod>.
cluster_yaml() {
	for ns in x y z; do
		eval "extra=\${NSL_$ns:-}"
		cat <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: '$ns'
  labels: {ns: '$ns'$extra}
---
EOF
	done
	for ns in x y z; do
		for pod in a b c; do
			eval "extra=\${PODL_${ns}_$pod:-}"
			cat <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: $pod
  namespace: '$ns'
  labels: {pod: $pod$extra}
spec:
  nodeName: edge-1
  containers:
  - name: cont-80-tcp
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    ports: [{name: serve-80-tcp, containerPort: 80, protocol: TCP}]
  - name: cont-81-tcp
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    ports: [{name: serve-81-tcp, containerPort: 81, protocol: TCP}]
  - name: cont-80-udp
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    ports: [{name: serve-80-udp, containerPort: 80, protocol: UDP}]
  - name: cont-81-udp
    image: registry.k8s.io/e2e-test-images/agnhost:2.53
    ports: [{name: serve-81-udp, containerPort: 81, protocol: UDP}]
status: $(pod_status $ns $pod)
---
EOF
		done
	done
}

write_cluster() {
	cluster_yaml >"$M/00-cluster.yaml"
}

# np NS NAME: a NetworkPolicy whose spec (indented by two) is on stdin.
# Writing the same NS and NAME again updates it.
np() {
	{
		printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n'
		printf "metadata:\n  name: %s\n  namespace: '%s'\nspec:\n" "$2" "$1"
		cat
	} >"$M/p-$1-$2.yaml"
}

np_delete() {
	rm -f "$M/p-$1-$2.yaml"
}

# A new case: no policy, default labels, everything expected reachable.
case_begin() {
	rm -f "$M"/p-*.yaml
	NSL_y="" PODL_x_a="" PODL_x_b=""
	expect_reset
}

apply_step() {
	write_cluster
	if ! apply_manifests "$M" >"$PW_TMP/apply.out" 2>&1; then
		fail "$1: podwall failed: $(tail -n 5 "$PW_TMP/apply.out")"
		return 1
	fi
}

# step NAME [SPEC]...: apply the manifests as they are now, then probe.
step() {
	_s_name=$1
	shift
	apply_step "$_s_name" || return 1
	# shellcheck disable=SC2086
	verify "$_s_name" ${*:-$SPECS}
}

# The rules of the policy chains a policy's comment jumps to.
policy_rules() {
	"$PODWALL" --dry-run --node-name edge-1 -f "$M" >"$PW_TMP/dry" 2>&1 || return 1
	chains=$(grep -- "--comment \"$1\"" "$PW_TMP/dry" | sed -n 's/.* -j \(pw-p[io]-[^ ]*\).*/\1/p' | sort -u)
	[ -n "$chains" ] || { echo "no chain for $1"; return 1; }
	for c in $chains; do
		grep -- "^-A $c " "$PW_TMP/dry"
	done
	return 0
}

set_members() {
	"$PODWALL" --dry-run=ipset --node-name edge-1 -f "$M" |
		awk -v s="$1" '$1 == "add" && $2 == s { print $3 }' | sort | tr '\n' ' '
}

begin=$(date +%s)
node_up || { fail "cannot build the node"; finish; }
for ns in x y z; do
	for pod in a b c; do
		pod_up $ns $pod "$(pod_ip $ns $pod)" tcp:80,tcp:81,udp:80,udp:81 ||
			{ fail "cannot build pod $ns/$pod"; finish; }
	done
done

case_begin
expect_all ok
step "no policy: everything reachable"

# ---------------------------------------------------------------- #1 - #13
case_begin
np x deny-ingress <<'EOF'
  podSelector: {}
  policyTypes: [Ingress]
EOF
expect_ingress 'x/*' false
step "#1 should support a 'default-deny-ingress' policy"

case_begin
np x deny-all <<'EOF'
  podSelector: {}
  policyTypes: [Ingress, Egress]
EOF
expect_ingress 'x/*' false
expect_egress 'x/*' false
step "#2 should support a 'default-deny-all' policy"

case_begin
np x x-a-allows-x-b <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
EOF
expect_ingress x/a false
expect_peer x/b x/a true
step "#3 should enforce policy to allow traffic from pods within server namespace based on PodSelector"

case_begin
np x deny-all <<'EOF'
  podSelector: {}
  policyTypes: [Ingress]
EOF
np x allow-all-to-a <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {}
      namespaceSelector: {}
EOF
expect_ingress x/b false
expect_ingress x/c false
step "#4 should enforce policy to allow ingress traffic for a target"

case_begin
np x allow-from-another-ns <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {}}
EOF
step "#5 should enforce policy to allow ingress traffic from pods in all namespaces"

case_begin
np x allow-client-a-via-ns-selector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}
EOF
expect_peer 'x/*' x/a false
expect_peer 'z/*' x/a false
step "#6 should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector"

case_begin
np x x-a-allows-x-b <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector:
        matchExpressions: [{key: pod, operator: In, values: [b]}]
EOF
expect_ingress x/a false
expect_peer x/b x/a true
step "#7 should enforce policy based on PodSelector with MatchExpressions"

case_begin
np x allow-ns-y-match-selector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: ['y']}]
EOF
expect_peer 'x/*' x/a false
expect_peer 'z/*' x/a false
step "#8 should enforce policy based on NamespaceSelector with MatchExpressions"

case_begin
np x allow-ns-y-match-selector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: ['x']}]
    - podSelector: {matchLabels: {pod: b}}
EOF
expect_peer x/c x/a false
step "#9 should enforce policy based on PodSelector or NamespaceSelector"

case_begin
np x allow-ns-y-podselector-and-nsselector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: ['x']}]
      podSelector: {matchLabels: {pod: b}}
EOF
expect_ingress x/a false
expect_peer y/b x/a true
expect_peer z/b x/a true
step "#10 should enforce policy based on PodSelector and NamespaceSelector"

case_begin
np x allow-ns-y-z-pod-b-c <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: ['x']}]
      podSelector:
        matchExpressions: [{key: pod, operator: In, values: [b, c]}]
EOF
expect_ingress x/a false
expect_peer '*/b' x/a true
expect_peer '*/c' x/a true
expect_peer 'x/*' x/a false
step "#11 should enforce policy based on Multiple PodSelectors and NamespaceSelectors"

case_begin
np x allow-ns-x-pod-b-c <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
    - podSelector: {matchLabels: {pod: c}}
EOF
expect_ingress x/a false
expect_peer x/b x/a true
expect_peer x/c x/a true
step "#12 should enforce policy based on any PodSelectors"

np13() {
	np x allow-ns-y-pod-a-via-namespace-pod-selector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}
      podSelector: {matchLabels: {pod: a}}
EOF
}
case_begin
np13
expect_ingress x/a false
expect_peer y/a x/a true
step "#13 should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector"

# --------------------------------------------------------------- #14 - #19
np_port81() {
	np x allow-client-a-via-ns-selector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}
    ports:
    - {port: 81, protocol: TCP}
EOF
}
case_begin
np_port81
expect_ingress x/a false
expect_peer 'y/*' x/a true tcp:81
step "#14 should enforce policy based on Ports"

case_begin
np_port81
expect_ingress x/a false
expect_peer 'y/*' x/a true tcp:81
step "#15 should enforce multiple, stacked policies with overlapping podSelectors (step 1: port 81 only)"
np x allow-client-a-via-ns-selector-80 <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}
    ports:
    - {port: 80, protocol: TCP}
EOF
expect_peer 'y/*' x/a true tcp:80
step "#15 should enforce multiple, stacked policies with overlapping podSelectors (step 2: a second policy opens 80)"

case_begin
np x allow-all <<'EOF'
  podSelector: {matchLabels: {}}
  policyTypes: [Ingress]
  ingress:
  - {}
EOF
step "#16 should support allow-all policy"

case_begin
np x allow-all <<'EOF'
  podSelector: {matchLabels: {}}
  policyTypes: [Ingress]
  ingress:
  - ports:
    - port: serve-81-tcp
EOF
expect_ingress 'x/*' false
expect_ingress 'x/*' true tcp:81
step "#17 should allow ingress access on one named port"

case_begin
np x allow-client-a-via-ns-selector-80 <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}
    ports:
    - {port: serve-80-tcp, protocol: TCP}
EOF
expect_ingress x/a false
expect_peer 'y/*' x/a true tcp:80
step "#18 should allow ingress access from namespace on one named port"

case_begin
np x allow-egress <<'EOF'
  podSelector: {matchLabels: {}}
  policyTypes: [Egress]
  egress:
  - ports:
    - port: serve-80-tcp
EOF
expect_egress 'x/*' false
expect_egress 'x/*' true tcp:80
step "#19 should allow egress access on one named port"

# --------------------------------------------------------------- #20 - #24
case_begin
np x allow-all-mutate-to-deny-all <<'EOF'
  podSelector: {matchLabels: {}}
  policyTypes: [Ingress]
  ingress:
  - {}
EOF
step "#20 should enforce updated policy (step 1: allow all)"
np x allow-all-mutate-to-deny-all <<'EOF'
  podSelector: {matchLabels: {}}
  policyTypes: [Ingress]
  ingress: []
EOF
expect_ingress 'x/*' false
step "#20 should enforce updated policy (step 2: updated to deny all)"

case_begin
np x allow-client-a-via-ns-selector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns2: updated}}
EOF
expect_ingress x/a false
step "#21 should allow ingress access from updated namespace (step 1)"
NSL_y=", ns2: updated"
expect_peer 'y/*' x/a true
step "#21 should allow ingress access from updated namespace (step 2: namespace y labelled ns2=updated)"

case_begin
np x allow-client-a-via-pod-selector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b, pod2: updated}}
EOF
expect_ingress x/a false
step "#22 should allow ingress access from updated pod (step 1)"
PODL_x_b=", pod2: updated"
expect_peer x/b x/a true
step "#22 should allow ingress access from updated pod (step 2: x/b labelled pod2=updated)"

case_begin
np x deny-empty-policy <<'EOF'
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {}}
EOF
expect_peer 'y/*' 'x/*' false
expect_peer 'z/*' 'x/*' false
step "#23 should deny ingress from pods on other namespaces"

case_begin
np x deny-ingress-via-label-selector <<'EOF'
  podSelector: {matchLabels: {target: isolated}}
  policyTypes: [Ingress]
EOF
step "#24 should deny ingress access to updated pod (step 1)"
PODL_x_a=", target: isolated"
expect_ingress x/a false
step "#24 should deny ingress access to updated pod (step 2: x/a labelled target=isolated)"

# --------------------------------------------------------------- #25 - #30
case_begin
np x deny-egress-pod-a <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
EOF
expect_egress x/a false
step "#25 should deny egress from pods based on PodSelector"

case_begin
np x deny-egress-ns-x <<'EOF'
  podSelector: {}
  policyTypes: [Egress]
EOF
expect_egress 'x/*' false
step "#26 should deny egress from all pods in a namespace"

case_begin
np x allow-client-a-via-pod-selector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress, Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
  egress:
  - ports:
    - port: 80
EOF
expect_ingress x/a false
expect_peer x/b x/a true
expect_egress x/a false
expect_egress x/a true tcp:80
step "#27 should work with Ingress, Egress specified together"

case_begin
np x allow-to-ns-y-pod-a <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}
      podSelector: {matchLabels: {pod: a}}
EOF
np y allow-from-xa-on-ya-match-selector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'x'}}
      podSelector: {matchLabels: {pod: a}}
EOF
np y allow-from-xa-on-yb-match-selector <<'EOF'
  podSelector: {matchLabels: {pod: b}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'x'}}
      podSelector: {matchLabels: {pod: a}}
EOF
expect_egress x/a false
expect_ingress y/a false
expect_peer x/a y/a true
expect_ingress y/b false
step "#28 should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)"

case_begin
np x allow-to-ns-y-pod-a <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}
      podSelector: {matchLabels: {pod: a}}
EOF
expect_egress x/a false
expect_peer x/a y/a true
step "#29 should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector"

case_begin
np x allow-ingress-by-proto <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - ports:
    - protocol: TCP
EOF
expect_ingress x/a false
expect_ingress x/a true 'tcp:*'
step "#30 should enforce ingress policy allowing any port traffic to a server on a specific protocol"

# --------------------------------------------------------------- #31 - #37
case_begin
np x allow-ingress-port-80 <<'EOF'
  podSelector: {matchLabels: {}}
  policyTypes: [Ingress]
  ingress:
  - ports:
    - port: 80
EOF
expect_ingress 'x/*' false
expect_ingress 'x/*' true tcp:80
step "#31 should enforce multiple ingress policies with ingress allow-all policy taking precedence (step 1)"
np x allow-ingress <<'EOF'
  podSelector: {matchLabels: {}}
  policyTypes: [Ingress]
  ingress:
  - {}
EOF
expect_reset
step "#31 should enforce multiple ingress policies with ingress allow-all policy taking precedence (step 2: allow all added)"

case_begin
np x allow-egress-port-80 <<'EOF'
  podSelector: {matchLabels: {}}
  policyTypes: [Egress]
  egress:
  - ports:
    - port: 80
EOF
expect_egress 'x/*' false
expect_egress 'x/*' true tcp:80
step "#32 should enforce multiple egress policies with egress allow-all policy taking precedence (step 1)"
np x allow-egress <<'EOF'
  podSelector: {matchLabels: {}}
  policyTypes: [Egress]
  egress:
  - {}
EOF
expect_reset
step "#32 should enforce multiple egress policies with egress allow-all policy taking precedence (step 2: allow all added)"

case_begin
np x deny-all <<'EOF'
  podSelector: {}
  policyTypes: [Ingress, Egress]
EOF
expect_egress 'x/*' false
expect_ingress 'x/*' false
step "#33 should stop enforcing policies after they are deleted (step 1)"
np_delete x deny-all
expect_reset
step "#33 should stop enforcing policies after they are deleted (step 2: deleted)"

case_begin
np x allow-client-a-via-cidr-egress-rule <<EOF
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: $(pod_ip y b)/32}$(v6_block "$(pod_ip6 y b)/128")
EOF
expect_egress x/a false
expect_peer x/a y/b true
step "#34 should allow egress access to server in CIDR block"

np35() {
	# makeLargeCIDRForIP: the /4 around x/b's address (198.18.1.2 -> 192.0.0.0/4).
	np x allow-client-a-via-cidr-egress-rule <<EOF
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock:
        cidr: 192.0.0.0/4
        except: [$(pod_ip x b)/32]$(v6_block fd00:18::/64 "$(pod_ip6 x b)/128")
EOF
}
case_begin
np35
expect_peer x/a x/b false
step "#35 should enforce except clause while egress access to server in CIDR block"

case_begin
np35
expect_peer x/a x/b false
step "#36 should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed (step 1)"
np x allow-client-a-via-cidr-egress-rule <<EOF
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock: {cidr: $(pod_ip x b)/32}$(v6_block "$(pod_ip6 x b)/128")
EOF
expect_reset
expect_egress x/a false
expect_peer x/a x/b true
step "#36 should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed (step 2: the policy updated)"

case_begin
np x allow-egress-for-target <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - {}
EOF
step "#37 should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector (step 1)"
np x deny-ingress-via-label-selector <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
EOF
expect_ingress x/a false
step "#37 should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector (step 2)"

# ------------------------------------------------------ SCTP: #38 #39 C1-C3
# No SCTP packet is sent: the rules podwall renders must allow SCTP exactly
# as written and nothing else, and TCP and UDP are probed.

# sctp_only NAME POLICY PORT: every rule of the policy's chain is SCTP to PORT.
sctp_only() {
	if ! policy_rules "$2" >"$PW_TMP/rules"; then
		fail "$1: $(cat "$PW_TMP/rules")"
	elif [ ! -s "$PW_TMP/rules" ]; then
		fail "$1: the policy $2 renders no rule"
	elif grep -v -- "-p sctp .*-m sctp --dport $3 " "$PW_TMP/rules" >"$PW_TMP/other"; then
		fail "$1: rules of $2 that are not SCTP to $3:"
		cat "$PW_TMP/other" >&2
	else
		pass "$1: $2 renders only SCTP to port $3: $(head -n 1 "$PW_TMP/rules")"
	fi
}

case_begin
np x deny-ingress <<'EOF'
  podSelector: {}
  policyTypes: [Ingress]
EOF
np x allow-only-sctp-ingress-on-port-81 <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - ports:
    - {port: 81, protocol: SCTP}
EOF
expect_ingress 'x/*' false
step "#38 should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP' (TCP and UDP probes)" &&
sctp_only "#38 (rules)" x/allow-only-sctp-ingress-on-port-81 81

case_begin
np x allow-only-sctp-ingress-on-port-80 <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - ports:
    - {port: 80, protocol: SCTP}
EOF
expect_ingress x/a false
step "#39 should properly isolate pods that are selected by a policy allowing SCTP (TCP and UDP probes)" &&
sctp_only "#39 (rules)" x/allow-only-sctp-ingress-on-port-80 80

case_begin
np x deny-all <<'EOF'
  podSelector: {}
  policyTypes: [Ingress]
EOF
expect_ingress 'x/*' false
if step "C1 SCTP should support a 'default-deny-ingress' policy (TCP and UDP probes)"; then
	policy_rules x/deny-all >"$PW_TMP/rules"
	podwall_in "$PW_NODE" --dry-run --node-name edge-1 -f "$M" >"$PW_TMP/dry" 2>/dev/null
	bad=""
	for pod in a b c; do
		chain="pw-tw-$(pod_chain x $pod)"
		grep -q -- "^-A $chain .*--comment \"x/deny-all\"" "$PW_TMP/dry" &&
		grep -- "^-A $chain " "$PW_TMP/dry" | tail -n 1 | grep -q -- "-j DROP$" ||
			bad="$bad x/$pod"
	done
	if [ -s "$PW_TMP/rules" ]; then
		fail "C1 (rules): the deny-all policy allows something: $(cat "$PW_TMP/rules")"
	elif [ -n "$bad" ]; then
		fail "C1 (rules): the ingress chain of$bad does not call x/deny-all and end in DROP"
	else
		pass "C1 (rules): x/deny-all allows nothing, SCTP included, and x's ingress chains end in DROP"
	fi
fi

case_begin
np x allow-ingress-on-port-81-ns-x <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}
    ports:
    - {port: 81, protocol: SCTP}
EOF
expect_ingress x/a false
if step "C2 SCTP should enforce policy based on Ports (TCP and UDP probes)"; then
	sctp_only "C2 (rules)" x/allow-ingress-on-port-81-ns-x 81
	set=$(sed -n 's/.*--match-set \([^ ]*\) src.*/\1/p' "$PW_TMP/rules" | sort -u)
	members=$(set_members "$set")
	want="$(pod_ip y a) $(pod_ip y b) $(pod_ip y c) "
	if [ "$members" = "$want" ]; then
		pass "C2 (rules): the SCTP rule's source set $set holds namespace y's pods"
	else
		fail "C2 (rules): source set '$set' holds '$members', expected '$want'"
	fi
fi

case_begin
np13
expect_ingress x/a false
expect_peer y/a x/a true
if step "C3 SCTP should enforce policy to allow traffic only from a pod in a different namespace (TCP and UDP probes)"; then
	policy_rules x/allow-ns-y-pod-a-via-namespace-pod-selector >"$PW_TMP/rules"
	set=$(sed -n 's/.*--match-set \([^ ]*\) src.*/\1/p' "$PW_TMP/rules" | sort -u)
	if [ "$(wc -l <"$PW_TMP/rules")" != 1 ] || grep -q -- ' -p ' "$PW_TMP/rules"; then
		fail "C3 (rules): expected one rule for every protocol (no -p), got: $(cat "$PW_TMP/rules")"
	elif [ "$(set_members "$set")" != "$(pod_ip y a) " ]; then
		fail "C3 (rules): source set '$set' holds '$(set_members "$set")', expected y/a only"
	else
		pass "C3 (rules): one rule for every protocol, SCTP included, from y/a only"
	fi
fi

# --------------------------------------------------------------- #40 - #42
case_begin
np x allow-only-udp-ingress-on-port-81 <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - ports:
    - {port: 81, protocol: UDP}
EOF
expect_ingress x/a false
expect_ingress x/a true udp:81
step "#40 should not allow access by TCP when a policy specifies only UDP"

case_begin
np x allow-client-a-via-ns-selector-for-immutable-ns-label <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}
EOF
expect_peer 'x/*' x/a false
expect_peer 'z/*' x/a false
step "#41 should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label"

case_begin
np x allow-ns-y-match-selector-for-immutable-ns-label <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: ['y']}]
EOF
expect_peer x/a 'y/*' false
step "#42 should enforce policy based on NamespaceSelector with MatchExpressions using default ns label"

# ------------------------------------------------------------------ UDP
case_begin
np x deny-all <<'EOF'
  podSelector: {}
  policyTypes: [Ingress]
EOF
expect_ingress 'x/*' false
step "U1 UDP should support a 'default-deny-ingress' policy"

case_begin
np x allow-ingress-on-port-81-ns-x <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: 'y'}}
    ports:
    - {port: 81, protocol: UDP}
EOF
expect_ingress x/a false
expect_peer 'y/*' x/a true udp:81
step "U2 UDP should enforce policy based on Ports"

case_begin
np13
expect_ingress x/a false
expect_peer y/a x/a true
step "U3 UDP should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector"

# ---------------------------------------------------------- node and ICMP
# Every pod isolated for ingress: the node still reaches each of them
# (kubelet probes), and with egress isolated too, the replies get back.
case_begin
for ns in x y z; do
	np $ns deny-ingress <<'EOF'
  podSelector: {}
  policyTypes: [Ingress]
EOF
done
expect_all false
step "every pod isolated for ingress: pods reach no pod" $SPECS icmp
expect_reset
PW_SOURCES=node
verify "every pod isolated for ingress: the node reaches every pod" $SPECS icmp
PW_SOURCES=""
for ns in x y z; do
	np $ns deny-ingress <<'EOF'
  podSelector: {}
  policyTypes: [Ingress, Egress]
EOF
done
PW_SOURCES=node
apply_step "deny-all ingress and egress" &&
	verify "every pod isolated both ways: the node reaches every pod" $SPECS icmp
PW_SOURCES=""

case_begin
step "ICMP: no policy, every pod answers pings" icmp

case_begin
np x deny-ingress <<'EOF'
  podSelector: {}
  policyTypes: [Ingress]
EOF
expect_ingress 'x/*' false
step "ICMP: blocked under default-deny ingress" icmp

case_begin
np x deny-egress <<'EOF'
  podSelector: {}
  policyTypes: [Egress]
EOF
expect_egress 'x/*' false
step "ICMP: blocked under default-deny egress" icmp

case_begin
np x x-a-allows-x-b <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {pod: b}}
EOF
expect_ingress x/a false
expect_peer x/b x/a true
step "ICMP: allowed by a rule with no ports, from its peers only" icmp

case_begin
np_port81
expect_ingress x/a false
step "ICMP: not allowed by a rule with ports" icmp

case_begin
np x allow-ingress-by-proto <<'EOF'
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Ingress]
  ingress:
  - ports:
    - protocol: TCP
EOF
expect_ingress x/a false
step "ICMP: not allowed by a TCP-only rule without a port number" icmp

echo "note: e2e-upstream.sh took $(($(date +%s) - begin)) s (PW_APPLY=$PW_APPLY)"
e2e_cleanup
check_no_leftovers
finish
