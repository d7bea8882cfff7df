#!/usr/bin/env python3
"""Writes a synthetic Kubernetes cluster as manifests podwall's -f reads.

Usage:
  gen-cluster.py --pods N --policies M --namespaces K --local L
                 [--node edge-1] [--seed S] --out DIR [--format yaml|json]
                 [--ipam blocks|node-subnet] [--subnet-len LEN]
                 [--family ipv4|dual] [--overflow none|ipv6]

DIR gets three files, one per kind: 00-namespaces, 01-pods, 02-policies
(.yaml: multi-document YAML; .json: {"kind": "List", "items": [...]}).
Python 3 standard library only; the same arguments always give the same bytes.

The cluster:
  - K namespaces: kube-system (CoreDNS), monitoring (Prometheus), ingress-nginx
    and tenant namespaces "<team>-<env>[-n]" labelled team, env and sometimes
    compliance / istio-injection (kubernetes.io/metadata.name is added by
    podwall and by the API server).
  - N pods over them (tenant namespaces of skewed sizes), grouped into
    Deployments: labels app, tier, version, pod-template-hash,
    app.kubernetes.io/name; named container ports (http 8080, grpc 50051,
    metrics 9090, dns 53/UDP, redis 6379, postgres 5432, sip 5060/UDP,
    diameter 3868/SCTP, ...).  Addresses are unique, in 198.18.0.0/15, taken
    from /26 blocks given to each node as Calico's IPAM does (--ipam blocks,
    the default), or (--ipam node-subnet) from one subnet per node as
    flannel leases them: a /LEN (--subnet-len, default 24) each, --node's
    the first (198.18.0.0/24 by default), then node-001, node-002, ... in
    order; the subnet's .0, .1 (the bridge's gateway address) and .255
    addresses are never a pod's.  L pods are on --node, the others on
    node-NNN (110 pods per node).
  - --family dual (default ipv4: IPv4 alone) makes every pod dual-stack:
    status.podIPs is [its IPv4 address, its IPv6 one], the IPv6 address
    derived from the IPv4 one: the 32 bits of the IPv4 address as the low
    32 bits of fd00:198:18::/96 (198.18.0.5 is fd00:198:18::c612:5), so
    the IPv6 plan mirrors the IPv4 one, a /LEN node subnet (or a /26 block)
    being the /(96+LEN) (/122) of the same pods, its .1 the IPv6 gateway.
    About half the policies' ipBlock peers (chosen by a random stream of
    their own, so the rest of the cluster is the IPv4 one's, byte for byte)
    become IPv6 blocks with except entries, all inside fd00::/8 (see
    V6_BLOCKS).  ipv4 writes exactly what this script wrote before
    --family.
  - --overflow ipv6 (default none: fail when 198.18.0.0/15 is full) lets a
    cluster be larger than the IPv4 test range: a node whose subnet (or
    /26 block) no longer fits in it gets the IPv6 one the same plan would
    give it next, in the low 32 bits of fd00:198:18::/96 past the mirror of
    198.18.0.0/15 (from fd00:198:18::c614:0), and its pods are IPv6-only
    (podIP and podIPs the IPv6 address alone).  A node's pod CIDR stays one
    family, as a real node's is, so the range's 131,072 addresses hold
    fewer pods than that: of 150,000 pods (110 a node), 118,440 are IPv4
    with /26 blocks, 112,600 with --ipam node-subnet --subnet-len 25, the
    rest IPv6-only.  --node's pods always keep IPv4 (its
    subnet is the first; with blocks its pods are given theirs first).
    Without it the output is what this script wrote before --overflow.
  - M NetworkPolicies, spread over the namespaces by their pods (with fewer
    than two a namespace, as at Kubernetes' 10k / 10k, by weight alone:
    large tenants get several, many small namespaces none; otherwise every
    namespace at least one): per namespace a default-deny, often a default-deny of
    egress with the usual allow-DNS, then a mix of app-to-app rules
    (podSelector peers), namespaceSelector peers, both together,
    matchExpressions (In / NotIn / Exists / DoesNotExist), ipBlocks with
    except, numeric, named and endPort ranges, UDP and SCTP, egress rules.
    Policies draw their selectors from a small vocabulary per namespace (and
    a few cluster-wide peers), so many of them share selectors.
"""

import argparse
import ipaddress
import json
import os
import random
import re
import sys

# name, tier, weight, [(port name, number, protocol)]
APPS = [
    ("web", "frontend", 10, [("http", 8080, "TCP"), ("metrics", 9090, "TCP")]),
    ("ui", "frontend", 4, [("http", 8080, "TCP"), ("metrics", 9090, "TCP")]),
    ("gateway", "frontend", 3, [("http", 8080, "TCP"), ("https", 8443, "TCP"),
                                ("metrics", 9090, "TCP")]),
    ("api", "backend", 10, [("http", 8080, "TCP"), ("grpc", 50051, "TCP"),
                            ("metrics", 9090, "TCP")]),
    ("auth", "backend", 4, [("http", 8080, "TCP"), ("grpc", 50051, "TCP"),
                            ("metrics", 9090, "TCP")]),
    ("orders", "backend", 4, [("http", 8080, "TCP"), ("grpc", 50051, "TCP"),
                              ("metrics", 9090, "TCP")]),
    ("catalog", "backend", 4, [("http", 8080, "TCP"), ("metrics", 9090, "TCP")]),
    ("search", "backend", 3, [("http", 8080, "TCP"), ("metrics", 9090, "TCP")]),
    ("billing", "backend", 2, [("grpc", 50051, "TCP"), ("metrics", 9090, "TCP")]),
    ("worker", "worker", 6, [("metrics", 9090, "TCP")]),
    ("scheduler", "worker", 2, [("metrics", 9090, "TCP")]),
    ("redis", "cache", 4, [("redis", 6379, "TCP"), ("metrics", 9121, "TCP")]),
    ("memcached", "cache", 1, [("memcache", 11211, "TCP")]),
    ("postgres", "db", 3, [("postgres", 5432, "TCP"), ("metrics", 9187, "TCP")]),
    ("kafka", "queue", 2, [("kafka", 9092, "TCP"), ("metrics", 9090, "TCP")]),
    ("sip-proxy", "edge", 2, [("sip", 5060, "UDP"), ("sip-tcp", 5060, "TCP"),
                              ("diameter", 3868, "SCTP"), ("metrics", 9090, "TCP")]),
    ("upf", "edge", 1, [("gtpu", 2152, "UDP"), ("pfcp", 8805, "UDP"),
                        ("metrics", 9090, "TCP")]),
    ("dns-cache", "infra", 1, [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"),
                               ("metrics", 9153, "TCP")]),
]
APP = dict((a[0], a) for a in APPS)
TEAMS = ["payments", "search", "identity", "catalog", "checkout", "media",
         "ads", "data", "platform", "ml", "growth", "voice", "video", "iot",
         "edge", "ran", "core", "billing", "crm", "logistics", "fraud",
         "mail", "maps", "social"]
ENVS = [("prod", 5), ("staging", 3), ("dev", 2)]
HASH_CHARS = "bcdfghjklmnpqrstvwxz2456789"
PODS_PER_NODE = 110
POOL = ipaddress.ip_network("198.18.0.0/15")
BLOCK = 64                      # Calico's default IPAM block, a /26
# --family dual: a pod's IPv6 address is its IPv4 address in the low 32
# bits of this /96 (so a v4 /L is a v6 /(96+L): /26 blocks are Calico's /122).
POOL6 = ipaddress.ip_network("fd00:198:18::/96")
# --family dual: the IPv6 block an IPv4 ipBlock of the policies becomes,
# with its except entries (every one inside fd00::/8). Blocks with no
# except in IPv4 get one in IPv6, so that every IPv6 block has some.
V6_BLOCKS = {
    "203.0.113.0/24": ("fd00:db8:113::/48", ["fd00:db8:113:8000::/49"]),
    "198.51.100.0/24": ("fd00:db8:100::/48", ["fd00:db8:100:8000::/49"]),
    "192.0.2.0/24": ("fd00:db8:2::/48", ["fd00:db8:2:8000::/49"]),
    "100.64.0.0/10": ("fd00:64::/32", ["fd00:64:ffff::/48"]),
    "0.0.0.0/0": ("fd00::/8", ["fd00:a::/32", "fd00:ac10::/28", "fd00:c0a8::/32"]),
    "10.200.0.0/16": ("fd00:a:c8::/48", ["fd00:a:c8:ff00::/56"]),
}
V6_SHARE = 0.5                  # of the ipBlock peers, in dual clusters


def ipv6_of(ip):
    """The IPv6 address --family dual gives the pod with IPv4 address ip."""
    return str(POOL6.network_address + int(ipaddress.ip_address(ip)))


def wchoice(rng, items):
    """items: [(value, weight)]"""
    total = sum(w for _, w in items)
    r = rng.uniform(0, total)
    for v, w in items:
        r -= w
        if r <= 0:
            return v
    return items[-1][0]


def spread(rng, total, weights, minimum=0):
    """Splits total over len(weights) parts, proportionally, each >= minimum
    while total allows (largest remainder)."""
    n = len(weights)
    if n == 0:
        return []
    base = [0] * n
    if total >= minimum * n:
        base = [minimum] * n
        total -= minimum * n
    s = float(sum(weights)) or 1.0
    exact = [total * w / s for w in weights]
    parts = [int(x) for x in exact]
    rest = total - sum(parts)
    order = sorted(range(n), key=lambda i: (parts[i] - exact[i], i))
    for i in order[:rest]:
        parts[i] += 1
    return [a + b for a, b in zip(base, parts)]


def rand_hash(rng, n):
    return "".join(rng.choice(HASH_CHARS) for _ in range(n))


# ------------------------------------------------------------------ YAML

YAML_WORDS = set("y yes n no true false on off null ~".split())


def y_key(k):
    if re.match(r"^[A-Za-z][A-Za-z0-9._/-]*$", k) and k.lower() not in YAML_WORDS:
        return k
    return json.dumps(k)


def y_inline(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if v is None:
        return "null"
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    if re.match(r"^[A-Za-z][A-Za-z0-9._/-]*$", v) and v.lower() not in YAML_WORDS:
        return v
    return json.dumps(v)


def y_block(v, ind):
    pad = " " * ind
    lines = []
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, (dict, list)) and x:
                lines.append("%s%s:" % (pad, y_key(k)))
                lines.extend(y_block(x, ind + 2))
            else:
                lines.append("%s%s: %s" % (pad, y_key(k), y_inline(x)))
    else:
        for x in v:
            if isinstance(x, (dict, list)) and x:
                sub = y_block(x, ind + 2)
                sub[0] = pad + "- " + sub[0][ind + 2:]
                lines.extend(sub)
            else:
                lines.append("%s- %s" % (pad, y_inline(x)))
    return lines


def write_manifests(path, items, fmt):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        if fmt == "json":
            json.dump({"kind": "List", "apiVersion": "v1", "items": items}, f,
                      separators=(",", ":"))
            f.write("\n")
        else:
            for obj in items:
                f.write("---\n")
                f.write("\n".join(y_block(obj, 0)))
                f.write("\n")
    os.rename(tmp, path)


# ------------------------------------------------------------------ the cluster

class Namespace(object):
    def __init__(self, name, labels, kind):
        self.name = name
        self.labels = labels
        self.kind = kind            # "kube-system", "monitoring", "ingress", "tenant"
        self.apps = []              # app names of its Deployments
        self.npods = 0

    def obj(self):
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": self.name, "labels": dict(self.labels)}}


def make_namespaces(rng, k):
    specials = [
        Namespace("kube-system", {"team": "platform", "env": "prod"}, "kube-system"),
        Namespace("monitoring", {"team": "platform", "env": "prod", "purpose": "monitoring"},
                  "monitoring"),
        Namespace("ingress-nginx", {"team": "platform", "env": "prod", "purpose": "ingress"},
                  "ingress"),
    ]
    out = specials[:max(0, min(3, k - 1))] if k > 1 else []
    ntenants = k - len(out)
    nteams = max(2, min(len(TEAMS) * 4, (ntenants + 3) // 4))
    teams = [TEAMS[i % len(TEAMS)] + ("" if i < len(TEAMS) else str(i // len(TEAMS) + 1))
             for i in range(nteams)]
    seen = set(n.name for n in out)
    for i in range(ntenants):
        team = teams[i % nteams] if i < nteams else rng.choice(teams)
        env = wchoice(rng, ENVS)
        name = "%s-%s" % (team, env)
        n = 2
        while name in seen:
            name = "%s-%s-%d" % (team, env, n)
            n += 1
        seen.add(name)
        labels = {"team": team, "env": env}
        if env == "prod" and rng.random() < 0.3:
            labels["compliance"] = "pci"
        if rng.random() < 0.4:
            labels["istio-injection"] = "enabled"
        out.append(Namespace(name, labels, "tenant"))
    return out


def tenant_apps(rng, count):
    pool = [(a[0], a[2]) for a in APPS if a[0] != "dns-cache"]
    chosen = []
    while len(chosen) < count:
        left = [p for p in pool if p[0] not in chosen]
        if not left:
            break
        chosen.append(wchoice(rng, left))
    # Bigger namespaces run more instances of the same kinds of service.
    i = 2
    while len(chosen) < count:
        for a, _ in pool:
            if len(chosen) >= count:
                break
            chosen.append("%s-%d" % (a, i))
        i += 1
    return chosen


def base_app(app):
    b = re.sub(r"-[0-9]+$", "", app)
    return b if b in APP else app


def node_subnets(node, names, subnet_len, overflow="none"):
    """{node name: its subnet}, as flannel leases them: --node first, then
    the others in name order.  With overflow "ipv6" the subnets past the
    pool's end are kept as IPv4 numbers beyond it (see set_address)."""
    size = 1 << (32 - subnet_len)
    order = [node] + sorted(x for x in set(names) if x != node)
    if len(order) * size > POOL.num_addresses and overflow != "ipv6":
        sys.exit("gen-cluster.py: %d nodes of /%d do not fit in %s" % (len(order), subnet_len, POOL))
    first = int(POOL.network_address)
    return dict((name, ipaddress.ip_network((first + k * size, subnet_len)))
                for k, name in enumerate(order))


def set_address(pod, a):
    """The pod's address, a as an integer: inside 198.18.0.0/15 its IPv4
    address; past its end (--overflow ipv6) the IPv6-only address with a's
    32 bits as the low bits of fd00:198:18::/96."""
    if a <= int(POOL.broadcast_address):
        ip = str(ipaddress.ip_address(a))
    else:
        ip = str(POOL6.network_address + a)
    pod["status"]["podIP"] = ip
    pod["status"]["podIPs"] = [{"ip": ip}]


def node_subnet_addresses(pods, node, subnet_len, overflow="none"):
    nets = node_subnets(node, [p["spec"]["nodeName"] for p in pods], subnet_len, overflow)
    cursor = {}
    for p in pods:
        name = p["spec"]["nodeName"]
        net = nets[name]
        a = cursor.get(name, int(net.network_address) + 2)
        while a & 0xff in (0, 255):
            a += 1
        if a >= int(net.broadcast_address):
            sys.exit("gen-cluster.py: %s's subnet %s is full: make --subnet-len smaller"
                     % (name, net))
        cursor[name] = a + 1
        set_address(p, a)


def add_ipv6(pods):
    """--family dual: each pod's IPv6 address after its IPv4 one (an
    --overflow pod has its IPv6 one already)."""
    for p in pods:
        st = p["status"]
        if ":" not in st["podIP"]:
            st["podIPs"] = [{"ip": st["podIP"]}, {"ip": ipv6_of(st["podIP"])}]


def make_pods(rng, namespaces, n, local, node, ipam="blocks", subnet_len=24, overflow="none"):
    # Pod counts: small fixed ones for the platform namespaces, the rest skewed.
    fixed = {"kube-system": max(2, n // 400), "monitoring": max(1, n // 1000),
             "ingress-nginx": max(2, n // 800)}
    special = [ns for ns in namespaces if ns.kind != "tenant"]
    tenants = [ns for ns in namespaces if ns.kind == "tenant"]
    left = n
    for ns in special:
        ns.npods = min(fixed[ns.name], left)
        left -= ns.npods
    weights = [min(rng.paretovariate(1.3), 40.0) for _ in tenants]
    for ns, c in zip(tenants, spread(rng, left, weights, minimum=1)):
        ns.npods = c

    pods = []
    for ns in namespaces:
        if ns.npods == 0:
            continue
        if ns.kind == "kube-system":
            groups = [("coredns", ns.npods)]
        elif ns.kind == "monitoring":
            groups = [("prometheus", ns.npods)]
        elif ns.kind == "ingress":
            groups = [("ingress-nginx", ns.npods)]
        else:
            napps = max(1, min(40, int(round(ns.npods / 7.0))))
            apps = tenant_apps(rng, napps)
            counts = spread(rng, ns.npods, [APP[base_app(a)][2] + rng.random() for a in apps],
                            minimum=1)
            groups = [(a, c) for a, c in zip(apps, counts) if c > 0]
        for app, count in groups:
            ns.apps.append(app)
            pods.extend(deployment_pods(rng, ns, app, count))
    assert len(pods) == n, (len(pods), n)

    # Nodes: L pods here, the others 110 to a node.
    idx = list(range(n))
    here = set(rng.sample(idx, min(local, n)))
    others = [i for i in idx if i not in here]
    rng.shuffle(others)
    nodes = {}
    for i in here:
        pods[i]["spec"]["nodeName"] = node
    for j, i in enumerate(others):
        pods[i]["spec"]["nodeName"] = "node-%03d" % (j // PODS_PER_NODE + 1)

    if ipam == "node-subnet":
        node_subnet_addresses(pods, node, subnet_len, overflow)
        return pods

    # Addresses: each node takes /26 blocks of 198.18.0.0/15 as it needs them.
    first = int(POOL.network_address)
    next_block = [0]
    cursor = {}

    def address(node_name):
        while True:
            blk, off = cursor.get(node_name, (None, BLOCK))
            if off >= BLOCK:
                blk = next_block[0]
                next_block[0] += 1
                off = 0
                if (blk + 1) * BLOCK > POOL.num_addresses and overflow != "ipv6":
                    sys.exit("gen-cluster.py: 198.18.0.0/15 is full: too many pods")
            cursor[node_name] = (blk, off + 1)
            a = first + blk * BLOCK + off
            if a & 0xff not in (0, 255):
                return a

    if overflow == "ipv6":
        # The local node's blocks first, so that its pods keep IPv4.
        order = ([p for p in pods if p["spec"]["nodeName"] == node] +
                 [p for p in pods if p["spec"]["nodeName"] != node])
        for p in order:
            set_address(p, address(p["spec"]["nodeName"]))
        return pods
    for p in pods:
        set_address(p, address(p["spec"]["nodeName"]))
    del nodes
    return pods


def deployment_pods(rng, ns, app, count):
    if ns.kind == "kube-system":
        labels = {"k8s-app": "kube-dns", "pod-template-hash": rand_hash(rng, 10)}
        ports = [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")]
        image = "registry.example/coredns:1.11.1"
    elif ns.kind == "monitoring":
        labels = {"app": "prometheus", "app.kubernetes.io/name": "prometheus",
                  "tier": "monitoring"}
        ports = [("web", 9090, "TCP")]
        image = "registry.example/prometheus:2.51.0"
    elif ns.kind == "ingress":
        labels = {"app": "ingress-nginx", "app.kubernetes.io/name": "ingress-nginx",
                  "app.kubernetes.io/component": "controller", "tier": "edge",
                  "pod-template-hash": rand_hash(rng, 10)}
        ports = [("http", 80, "TCP"), ("https", 443, "TCP"), ("metrics", 10254, "TCP")]
        image = "registry.example/ingress-nginx:1.10.0"
    else:
        b = APP[base_app(app)]
        labels = {"app": app, "app.kubernetes.io/name": app, "tier": b[1],
                  "version": "v1", "pod-template-hash": rand_hash(rng, 10)}
        ports = b[3]
        image = "registry.example/%s/%s:1.%d.%d" % (ns.labels.get("team", "x"), b[0],
                                                     rng.randint(0, 9), rng.randint(0, 20))
    rs = labels.get("pod-template-hash", rand_hash(rng, 10))
    canary = count >= 4 and ns.kind == "tenant" and rng.random() < 0.25
    out = []
    for i in range(count):
        lab = dict(labels)
        if canary and i < max(1, count // 5):
            lab["version"] = "v2"
        name = "%s-%s-%s" % (app, rs, rand_hash(rng, 5))
        out.append({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns.name, "labels": lab},
            "spec": {"nodeName": None, "containers": [{
                "name": base_app(app) if ns.kind == "tenant" else app,
                "image": image,
                "ports": [{"name": pn, "containerPort": pp, "protocol": pr}
                          for pn, pp, pr in ports]}]},
            "status": {"phase": "Running", "podIP": None, "podIPs": None}})
    return out


# ------------------------------------------------------------------ policies

DNS_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
MONITORING_PEER = {"namespaceSelector": {"matchLabels": {"purpose": "monitoring"}},
                   "podSelector": {"matchLabels": {"app": "prometheus"}}}
INGRESS_PEER = {"namespaceSelector": {"matchLabels": {"purpose": "ingress"}}}
PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]


def sel(**labels):
    return {"matchLabels": dict(labels)}


def app_sel(app):
    return sel(app=app)


def expr(key, op, values=None):
    e = {"key": key, "operator": op}
    if values is not None:
        e["values"] = list(values)
    return e


def named_or_number(rng, app, want):
    """A port of app's containers: by name (usually) or by number."""
    ports = APP[base_app(app)][3] if base_app(app) in APP else []
    cands = [p for p in ports if p[0] in want] or ports[:1]
    if not cands:
        return {"protocol": "TCP", "port": 8080}
    pn, pp, pr = rng.choice(cands)
    if rng.random() < 0.6:
        return {"protocol": pr, "port": pn}
    return {"protocol": pr, "port": pp}


class PolicyMaker(object):
    def __init__(self, rng, namespaces, rng6=None):
        self.rng = rng
        self.rng6 = rng6            # dual clusters: which ipBlocks become IPv6
        self.namespaces = namespaces
        self.tenants = [ns for ns in namespaces if ns.kind == "tenant"]
        self.teams = sorted(set(ns.labels["team"] for ns in self.tenants)) or ["platform"]
        self.count = {}

    def policy(self, ns, name, spec):
        base = name[:56].rstrip("-")
        name, n = base, 1
        while (ns.name, name) in self.count:
            n += 1
            name = "%s-r%d" % (base, n)
        self.count[(ns.name, name)] = 1
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": name, "namespace": ns.name},
                "spec": spec}

    def block(self, cidr, excepts=None):
        """An ipBlock peer; in a dual cluster about half of them (drawn from
        rng6, never from rng) become their IPv6 twin of V6_BLOCKS."""
        if self.rng6 is not None and self.rng6.random() < V6_SHARE:
            cidr, excepts = V6_BLOCKS[cidr]
        b = {"cidr": cidr}
        if excepts is not None:
            b["except"] = list(excepts)
        return {"ipBlock": b}

    def for_namespace(self, ns, count):
        rng = self.rng
        out = []
        if count <= 0:
            return out
        out.append(self.policy(ns, "default-deny-ingress",
                               {"podSelector": {}, "policyTypes": ["Ingress"]}))
        if ns.kind != "tenant":
            return out + self.platform(ns, count - 1)
        if count >= 3 and ns.labels["env"] == "prod" and rng.random() < 0.7:
            out.append(self.policy(ns, "default-deny-egress",
                                   {"podSelector": {}, "policyTypes": ["Egress"]}))
            out.append(self.policy(ns, "allow-dns", {
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{"to": [DNS_PEER], "ports": DNS_PORTS}]}))
        makers = [
            (self.app_to_app, 24), (self.from_ingress, 8), (self.from_monitoring, 10),
            (self.from_team, 10), (self.expressions, 10), (self.ip_block, 5),
            (self.egress_external, 5), (self.egress_to_app, 10), (self.port_range, 3),
            (self.telco, 5), (self.same_namespace, 5), (self.canary, 4),
        ]
        while len(out) < count:
            out.append(wchoice(rng, makers)(ns))
        return out[:count]

    def platform(self, ns, count):
        out = []
        while len(out) < count:
            if ns.kind == "kube-system":
                out.append(self.policy(ns, "allow-dns-from-cluster", {
                    "podSelector": sel(**{"k8s-app": "kube-dns"}),
                    "ingress": [{"from": [{"namespaceSelector": {}}],
                                 "ports": [{"protocol": "UDP", "port": "dns"},
                                           {"protocol": "TCP", "port": "dns-tcp"}]},
                                {"from": [MONITORING_PEER],
                                 "ports": [{"protocol": "TCP", "port": "metrics"}]}]}))
            elif ns.kind == "monitoring":
                out.append(self.policy(ns, "prometheus-scrape", {
                    "podSelector": app_sel("prometheus"),
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"namespaceSelector": sel(team="platform")}],
                                 "ports": [{"protocol": "TCP", "port": "web"}]}],
                    "egress": [{"ports": [{"protocol": "TCP", "port": "metrics"},
                                          {"protocol": "TCP", "port": 9100},
                                          {"protocol": "TCP", "port": 9000,
                                           "endPort": 9200}]}]}))
            else:
                out.append(self.policy(ns, "allow-http-https", {
                    "podSelector": sel(**{"app.kubernetes.io/name": "ingress-nginx"}),
                    "ingress": [{"ports": [{"protocol": "TCP", "port": "http"},
                                           {"protocol": "TCP", "port": "https"}]},
                                {"from": [MONITORING_PEER],
                                 "ports": [{"protocol": "TCP", "port": 10254}]}]}))
        return out

    # Each maker returns one policy for a tenant namespace.
    def pick_app(self, ns, tiers=None):
        apps = [a for a in ns.apps if tiers is None or APP[base_app(a)][1] in tiers]
        return self.rng.choice(apps or ns.apps)

    def app_to_app(self, ns):
        rng = self.rng
        dst = self.pick_app(ns, ("backend", "cache", "db", "queue"))
        srcs = sorted(set(self.pick_app(ns, ("frontend", "backend", "worker"))
                          for _ in range(rng.randint(1, 3))))
        return self.policy(ns, "allow-%s" % dst, {
            "podSelector": app_sel(dst),
            "ingress": [{"from": [{"podSelector": app_sel(s)} for s in srcs],
                         "ports": [named_or_number(rng, dst, ("http", "grpc", "redis", "postgres",
                                                              "kafka", "memcache"))]}]})

    def from_ingress(self, ns):
        dst = self.pick_app(ns, ("frontend",))
        return self.policy(ns, "allow-ingress-to-%s" % dst, {
            "podSelector": app_sel(dst),
            "ingress": [{"from": [INGRESS_PEER],
                         "ports": [named_or_number(self.rng, dst, ("http", "https"))]}]})

    def from_monitoring(self, ns):
        if self.rng.random() < 0.5:
            return self.policy(ns, "allow-prometheus", {
                "podSelector": {},
                "ingress": [{"from": [MONITORING_PEER],
                             "ports": [{"protocol": "TCP", "port": "metrics"}]}]})
        dst = self.pick_app(ns)
        return self.policy(ns, "allow-scrape-%s" % dst, {
            "podSelector": app_sel(dst),
            "ingress": [{"from": [MONITORING_PEER],
                         "ports": [{"protocol": "TCP", "port": 9090}]}]})

    def from_team(self, ns):
        rng = self.rng
        dst = self.pick_app(ns, ("frontend", "backend"))
        team = ns.labels["team"] if rng.random() < 0.6 else rng.choice(self.teams)
        if rng.random() < 0.5:
            nsel = sel(team=team)
        else:
            nsel = {"matchLabels": {"team": team},
                    "matchExpressions": [expr("env", "NotIn", ["dev"])]}
        peer = {"namespaceSelector": nsel}
        if rng.random() < 0.3:
            peer["podSelector"] = sel(tier="frontend")
        return self.policy(ns, "allow-team-%s-to-%s" % (team, dst), {
            "podSelector": app_sel(dst),
            "ingress": [{"from": [peer], "ports": [named_or_number(rng, dst, ("http", "grpc"))]}]})

    def expressions(self, ns):
        rng = self.rng
        r = rng.random()
        if r < 0.35:
            target = {"matchExpressions": [expr("tier", "In", ["backend", "db"])]}
            peers = [{"podSelector": {"matchExpressions": [
                expr("tier", "In", ["frontend", "backend"]), expr("version", "NotIn", ["v0"])]}}]
            ports = [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 5432}]
            name = "tiers"
        elif r < 0.7:
            target = {"matchLabels": {"tier": "frontend"}}
            peers = [{"namespaceSelector": {"matchExpressions": [
                expr("env", "In", ["prod", "staging"]), expr("team", "Exists")]}}]
            ports = [{"protocol": "TCP", "port": "http"}]
            name = "frontend-from-envs"
        else:
            target = {"matchExpressions": [expr("app", "Exists"), expr("canary", "DoesNotExist")]}
            peers = [{"namespaceSelector": {"matchExpressions": [
                          expr("istio-injection", "Exists")]},
                      "podSelector": {"matchExpressions": [expr("tier", "NotIn", ["db", "cache"])]}}]
            ports = [{"protocol": "TCP", "port": 15090}, {"protocol": "TCP", "port": "http"}]
            name = "mesh"
        return self.policy(ns, "allow-%s" % name, {
            "podSelector": target, "ingress": [{"from": peers, "ports": ports}]})

    def ip_block(self, ns):
        rng = self.rng
        dst = self.pick_app(ns, ("frontend", "edge"))
        net = rng.choice(["203.0.113.0/24", "198.51.100.0/24", "192.0.2.0/24"])
        sub = net.replace(".0/24", ".128/25")
        return self.policy(ns, "allow-partner-%s" % dst, {
            "podSelector": app_sel(dst),
            "ingress": [{"from": [self.block(net, [sub]), self.block("100.64.0.0/10")],
                         "ports": [named_or_number(rng, dst, ("http", "https", "sip"))]}]})

    def egress_external(self, ns):
        rng = self.rng
        dst = self.pick_app(ns, ("backend", "worker"))
        ports = [{"protocol": "TCP", "port": 443}]
        if rng.random() < 0.3:
            ports.append({"protocol": "TCP", "port": 8443})
        return self.policy(ns, "allow-internet-%s" % dst, {
            "podSelector": app_sel(dst), "policyTypes": ["Egress"],
            "egress": [{"to": [self.block("0.0.0.0/0", PRIVATE)],
                        "ports": ports}]})

    def egress_to_app(self, ns):
        rng = self.rng
        src = self.pick_app(ns, ("frontend", "backend", "worker"))
        if rng.random() < 0.6:
            dst = self.pick_app(ns, ("backend", "db", "cache", "queue"))
            peer = {"podSelector": app_sel(dst)}
            where = dst
        else:
            other = rng.choice(self.tenants)
            dst = rng.choice(other.apps) if other.apps else "api"
            peer = {"namespaceSelector": sel(**{"kubernetes.io/metadata.name": other.name}),
                    "podSelector": app_sel(dst)}
            where = "%s-%s" % (other.name, dst)
        return self.policy(ns, "egress-%s-to-%s" % (src, where), {
            "podSelector": app_sel(src), "policyTypes": ["Egress"],
            "egress": [{"to": [peer],
                        "ports": [named_or_number(rng, dst, ("grpc", "http", "postgres", "redis",
                                                             "kafka"))]}]})

    def port_range(self, ns):
        rng = self.rng
        dst = self.pick_app(ns)
        if rng.random() < 0.5:
            ports = [{"protocol": "TCP", "port": 30000, "endPort": 32767}]
            name = "nodeports"
        else:
            lo = rng.choice([8000, 9000, 10000])
            ports = [{"protocol": "TCP", "port": lo, "endPort": lo + 99},
                     {"protocol": "UDP", "port": lo, "endPort": lo + 99}]
            name = "range-%d" % lo
        return self.policy(ns, "allow-%s-%s" % (name, dst), {
            "podSelector": app_sel(dst),
            "ingress": [{"from": [{"namespaceSelector": sel(team=ns.labels["team"])}],
                         "ports": ports}]})

    def telco(self, ns):
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            ports = [{"protocol": "UDP", "port": 5060}, {"protocol": "TCP", "port": 5060},
                     {"protocol": "SCTP", "port": 3868}]
            name = "sip"
        elif r < 0.7:
            ports = [{"protocol": "UDP", "port": "gtpu"}, {"protocol": "UDP", "port": "pfcp"}]
            name = "user-plane"
        else:
            ports = [{"protocol": "SCTP", "port": "diameter"},
                     {"protocol": "SCTP", "port": 38412, "endPort": 38472}]
            name = "sctp"
        return self.policy(ns, "allow-%s" % name, {
            "podSelector": {"matchLabels": {"tier": "edge"}},
            "ingress": [{"from": [{"namespaceSelector": sel(env=ns.labels["env"])},
                                  self.block("10.200.0.0/16", ["10.200.255.0/24"])],
                         "ports": ports}],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"tier": "edge"}}}],
                        "ports": ports}],
            "policyTypes": ["Ingress", "Egress"]})

    def same_namespace(self, ns):
        return self.policy(ns, "allow-same-namespace", {
            "podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]})

    def canary(self, ns):
        dst = self.pick_app(ns, ("backend", "frontend"))
        return self.policy(ns, "canary-%s" % dst, {
            "podSelector": {"matchLabels": {"app": dst},
                            "matchExpressions": [expr("version", "In", ["v2", "v3"])]},
            "ingress": [{"from": [{"podSelector": {"matchExpressions": [
                expr("tier", "In", ["frontend"]), expr("qa", "Exists")]}},
                {"podSelector": app_sel(dst)}],
                "ports": [{"protocol": "TCP", "port": "http"}, {"protocol": "TCP", "port": 8081}]}]})


def make_policies(rng, namespaces, m, rng6=None):
    maker = PolicyMaker(rng, namespaces, rng6)
    weights = [(1.0 + ns.npods / 10.0) if ns.kind == "tenant" else 0.3 for ns in namespaces]
    # One each would leave a policy a namespace nothing but its default-deny.
    counts = spread(rng, m, weights, minimum=1 if m >= 2 * len(namespaces) else 0)
    out = []
    for ns, c in zip(namespaces, counts):
        if not ns.apps:
            ns.apps = ["api"]
        out.extend(maker.for_namespace(ns, c))
    return out


def generate(pods, policies, namespaces, local, node, seed, ipam="blocks", subnet_len=24,
             family="ipv4", overflow="none"):
    if namespaces < 1:
        sys.exit("gen-cluster.py: --namespaces must be at least 1")
    rng = random.Random(seed)
    nss = make_namespaces(rng, namespaces)
    pod_objs = make_pods(rng, nss, pods, local, node, ipam, subnet_len, overflow)
    rng6 = None
    if family == "dual":
        add_ipv6(pod_objs)
        rng6 = random.Random("ipv6 blocks %d" % seed)
    pol_objs = make_policies(rng, nss, policies, rng6)
    return [ns.obj() for ns in nss], pod_objs, pol_objs


def main(argv):
    p = argparse.ArgumentParser(description="Writes a synthetic cluster as podwall -f manifests.")
    p.add_argument("--pods", type=int, required=True)
    p.add_argument("--policies", type=int, required=True)
    p.add_argument("--namespaces", type=int, required=True)
    p.add_argument("--local", type=int, required=True, help="pods on --node")
    p.add_argument("--node", default="edge-1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--format", choices=("yaml", "json"), default="yaml")
    p.add_argument("--ipam", choices=("blocks", "node-subnet"), default="blocks",
                   help="/26 blocks as Calico's IPAM, or one subnet per node as flannel")
    p.add_argument("--subnet-len", type=int, default=24, help="with --ipam node-subnet")
    p.add_argument("--family", choices=("ipv4", "dual"), default="ipv4",
                   help="dual: every pod also has an IPv6 address, some ipBlocks are IPv6")
    p.add_argument("--overflow", choices=("none", "ipv6"), default="none",
                   help="ipv6: nodes past 198.18.0.0/15's end get IPv6-only pods in fd00::/8")
    a = p.parse_args(argv[1:])
    if not 16 <= a.subnet_len <= 30:
        p.error("--subnet-len must be 16 to 30")
    if a.pods < 0 or a.policies < 0 or a.local < 0 or a.local > a.pods:
        p.error("need 0 <= --local <= --pods and non-negative counts")
    nss, pods, pols = generate(a.pods, a.policies, a.namespaces, a.local, a.node, a.seed,
                               a.ipam, a.subnet_len, a.family, a.overflow)
    os.makedirs(a.out, exist_ok=True)
    ext = a.format
    for old in ("00-namespaces", "01-pods", "02-policies"):
        for e in ("yaml", "json"):
            path = os.path.join(a.out, "%s.%s" % (old, e))
            if e != ext and os.path.exists(path):
                os.unlink(path)
    write_manifests(os.path.join(a.out, "00-namespaces." + ext), nss, a.format)
    write_manifests(os.path.join(a.out, "01-pods." + ext), pods, a.format)
    write_manifests(os.path.join(a.out, "02-policies." + ext), pols, a.format)
    v6only = sum(1 for x in pods if ":" in x["status"]["podIP"])
    print("gen-cluster.py: %s: %d namespaces, %d pods (%d on %s), %d policies, seed %d%s%s"
          % (a.out, len(nss), len(pods), sum(1 for x in pods if x["spec"]["nodeName"] == a.node),
             a.node, len(pols), a.seed, ", dual-stack" if a.family == "dual" else "",
             ", %d IPv4, %d IPv6-only" % (len(pods) - v6only, v6only) if v6only else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
