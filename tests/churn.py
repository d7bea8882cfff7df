#!/usr/bin/env python3
"""Churn for podwall's soak tests, through the fake API server's control port.

One keep-alive HTTP connection carries every request: objects go in batches
(POST /objects takes a JSON array, one watch event per object that really
changes), deletions one by one.  Python 3.6+, standard library only.

  churn.py --control PORT setup
      the base cluster of the "rounds" churn: 10 namespaces, 100 pods (40 on
      the node), 20 policies.
  churn.py --control PORT rounds FIRST LAST
      rounds FIRST..LAST-1.  Each round is exactly 500 changes (500 watch
      events where the watches are open): namespace labels, pods added and deleted (on the node and
      elsewhere, some Pending, Succeeded or hostNetwork), pod labels and
      named ports changed, policies changed, added and deleted.  A round
      depends only on its number, and every round ends with the same number
      of objects, so that the daemon's memory can be compared between rounds.
  churn.py --control PORT policies SECONDS RATE
      NetworkPolicies in namespace x changed, added and deleted RATE times a
      second for SECONDS, every change rewriting a chain of podwall's; then
      none of them is left.  Prints "changes N".
  churn.py --control PORT dump FILE
      the server's objects as one kind: List, for podwall -f; prints their
      counts as podwall's STATUS= line does ("N pods, N policies, N namespaces").
  churn.py --control PORT events
      how many ADDED, MODIFIED and DELETED watch events the server has sent.
  churn.py --control PORT post FILE
      the objects in FILE (one, or a JSON array) to the server.
  churn.py --control PORT fault JSON
      a fault to inject (see fake-apiserver.py).
"""

import http.client
import json
import sys
import time

NODE = "edge-1"
OTHER_NODE = "edge-2"
ROUND_CHANGES = 500


class Control(object):
    def __init__(self, port):
        self.port = port
        self.conn = None

    def request(self, method, path, body=None, missing_ok=False):
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
            except (http.client.HTTPException, OSError):
                # The server closed an idle connection: one fresh try. A POST
                # again is harmless (the same object twice is no change).
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if resp.status == 404 and (missing_ok or attempt == 2):
                return None
            if resp.status >= 300:
                raise SystemExit("churn.py: %s %s: %d %s" % (method, path, resp.status,
                                                             payload[:300].decode("utf-8", "replace")))
            return json.loads(payload.decode("utf-8")) if payload else None

    def post(self, objs):
        for i in range(0, len(objs), 50):
            self.request("POST", "/objects", objs[i:i + 50])

    def delete(self, kind, ns, name):
        self.request("DELETE", "/objects/%s/%s/%s" % (kind, ns or "-", name))


# ------------------------------------------------------------------ objects

def namespace(name, labels):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels}}


def pod(ns, name, ip, labels, node=NODE, port_name="serve-80", phase="Running",
        host_network=False):
    spec = {"nodeName": node, "containers": [{
        "name": "c", "image": "registry.example/agnhost:1",
        "ports": [{"name": port_name, "containerPort": 80, "protocol": "TCP"},
                  {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]}
    if host_network:
        spec["hostNetwork"] = True
    status = {"phase": phase}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": spec, "status": status}


def policy(ns, name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


# ---------------------------------------------------- the "rounds" cluster

NAMESPACES = 10
BASE_PODS = 100
POLICIES = 20
APPS = ("web", "db", "cache", "batch")


def ns_name(i):
    return "ns-%d" % (i % NAMESPACES)


def ns_labels(i, r):
    return {"team": ("red", "blue")[i % 2], "zone": "z%d" % ((i + r) % 3), "round": str(r)}


def base_pod(i, r):
    # 40 of the 100 on this node; addresses 198.18.0.1-100.
    labels = {"app": APPS[(i + r) % 4], "tier": "t%d" % ((i * 7 + r) % 5), "round": str(r)}
    return pod(ns_name(i), "b-%d" % i, "198.18.0.%d" % (i + 1), labels,
               node=NODE if i % 5 < 2 else OTHER_NODE)


def base_pod_ports_toggled(i, r):
    p = base_pod(i, r)
    p["spec"]["containers"][0]["ports"][0]["name"] = "serve-alt"
    return p


def base_policy(k, r):
    """Five shapes, each one's rules changing with the round."""
    shape = k % 5
    app = APPS[(k + r) % 4]
    if shape == 0:
        spec = {"podSelector": {"matchLabels": {"app": app}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"tier": "t%d" % (r % 5)}}}],
                             "ports": [{"port": 80 + r % 3, "protocol": "TCP"}]}]}
    elif shape == 1:
        spec = {"podSelector": {},
                "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"zone": "z%d" % (r % 3)}},
                                       "podSelector": {"matchExpressions": [
                                           {"key": "app", "operator": "In", "values": [app, "db"]}]}}]}]}
    elif shape == 2:
        spec = {"podSelector": {"matchLabels": {"app": app}}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "198.18.0.0/16",
                                                "except": ["198.18.%d.0/24" % (r % 250)]}}],
                            "ports": [{"port": 53, "protocol": "UDP"},
                                      {"port": 8000, "endPort": 8000 + r % 100, "protocol": "TCP"}]}]}
    elif shape == 3:
        spec = {"podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn",
                                                      "values": ["t%d" % (r % 5)]}]},
                "ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [
                    {"key": "team", "operator": "Exists"}]}}],
                    "ports": [{"port": "serve-80"}, {"port": "serve-alt"}]}]}
    else:
        spec = {"podSelector": {"matchLabels": {"round": str(r)}}, "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"ipBlock": {"cidr": "198.19.%d.0/24" % (r % 250)}}]}],
                "egress": [{"to": [{"podSelector": {}}]}] if r % 2 else []}
    return policy(ns_name(k), "pol-%d" % k, spec)


def transient_pods(r):
    """120 pods of round r: most on this node, some elsewhere, some never members."""
    out = []
    for j in range(120):
        ns = ns_name(j) if j % 6 else "tn-%d-%d" % (r, j % 20)
        ip = "198.19.%d.%d" % (r % 250, j + 1)
        labels = {"app": APPS[j % 4], "round": str(r), "transient": "yes"}
        kind = j % 10
        if kind == 7:
            out.append(pod(ns, "t-%d-%d" % (r, j), None, labels, phase="Pending"))
        elif kind == 8:
            out.append(pod(ns, "t-%d-%d" % (r, j), ip, labels, phase="Succeeded"))
        elif kind == 9:
            out.append(pod(ns, "t-%d-%d" % (r, j), "198.19.253.1", labels, host_network=True))
        else:
            out.append(pod(ns, "t-%d-%d" % (r, j), ip, labels,
                           node=NODE if kind < 5 else OTHER_NODE))
    return out


def transient_policies(r):
    return [policy(ns_name(k), "tp-%d-%d" % (r, k), {
        "podSelector": {"matchLabels": {"app": APPS[k % 4]}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"transient": "yes"}}}],
                     "ports": [{"port": 1000 + r, "protocol": "TCP"}]}]})
        for k in range(20)]


def setup(ctl):
    ctl.post([namespace(ns_name(i), ns_labels(i, 0)) for i in range(NAMESPACES)])
    ctl.post([base_pod(i, 0) for i in range(BASE_PODS)])
    ctl.post([base_policy(k, 0) for k in range(POLICIES)])


def one_round(ctl, r):
    """Exactly ROUND_CHANGES changes; every object of the round is gone at its end."""
    before = int(ctl.request("GET", "/stats")["resourceVersion"])
    ctl.post([namespace(ns_name(i), ns_labels(i, r + 1)) for i in range(NAMESPACES)])   # 10
    ctl.post([namespace("tn-%d-%d" % (r, k), {"round": str(r)}) for k in range(20)])    # 20
    pods = transient_pods(r)
    ctl.post(pods)                                                                    # 120
    ctl.post([base_pod(i, r + 1) for i in range(BASE_PODS)])                          # 100
    ctl.post([base_policy(k, r + 1) for k in range(POLICIES)])                        # 20
    tps = transient_policies(r)
    ctl.post(tps)                                                                     # 20
    for p in tps:                                                                     # 20
        ctl.delete("NetworkPolicy", p["metadata"]["namespace"], p["metadata"]["name"])
    # Half the base pods rename a named port (the next round renames it back).
    ctl.post([base_pod_ports_toggled(i, r + 1) for i in range(BASE_PODS) if i % 2 == 0])  # 50
    for p in pods:                                                                    # 120
        ctl.delete("Pod", p["metadata"]["namespace"], p["metadata"]["name"])
    for k in range(20):                                                               # 20
        ctl.delete("Namespace", None, "tn-%d-%d" % (r, k))
    after = int(ctl.request("GET", "/stats")["resourceVersion"])
    if after - before != ROUND_CHANGES:
        raise SystemExit("churn.py: round %d made %d changes, not %d (another writer?)"
                         % (r, after - before, ROUND_CHANGES))


# --------------------------------------------------- the "policies" churn

def churn_policies(ctl, seconds, rate):
    """Four policies on x/a cycling through add, change, change, delete."""
    interval = 1.0 / rate
    start = time.time()
    n = 0
    live = set()
    while time.time() - start < seconds:
        k = n % 4
        step = (n // 4) % 4
        name = "churn-%d" % k
        if step == 3 and name in live:
            ctl.delete("NetworkPolicy", "x", name)
            live.discard(name)
        else:
            ctl.post([policy("x", name, {
                "podSelector": {"matchLabels": {"pod": "a"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"churn": str(n)}}}],
                             "ports": [{"port": 1000 + n % 30000, "protocol": "TCP"}]}]})])
            live.add(name)
        n += 1
        delay = start + n * interval - time.time()
        if delay > 0:
            time.sleep(delay)
    for name in sorted(live):
        ctl.delete("NetworkPolicy", "x", name)
        n += 1
    print("changes %d" % n)


def dump(ctl, path):
    objs = ctl.request("GET", "/objects")
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": objs["items"]}, f)
    kinds = [o["kind"] for o in objs["items"]]
    print("%d pods, %d policies, %d namespaces" % (kinds.count("Pod"), kinds.count("NetworkPolicy"),
                                                   kinds.count("Namespace")))


def events(ctl):
    sent = ctl.request("GET", "/stats")["events"]
    print(sum(sent.get(t, 0) for t in ("ADDED", "MODIFIED", "DELETED")))


def main(argv):
    if len(argv) < 4 or argv[1] != "--control":
        raise SystemExit(__doc__)
    ctl = Control(int(argv[2]))
    cmd, args = argv[3], argv[4:]
    if cmd == "setup":
        setup(ctl)
    elif cmd == "rounds":
        for r in range(int(args[0]), int(args[1])):
            one_round(ctl, r)
    elif cmd == "policies":
        churn_policies(ctl, float(args[0]), float(args[1]))
    elif cmd == "dump":
        dump(ctl, args[0])
    elif cmd == "events":
        events(ctl)
    elif cmd == "post":
        with open(args[0]) as f:
            data = json.load(f)
        ctl.post(data if isinstance(data, list) else [data])
    elif cmd == "fault":
        ctl.request("POST", "/faults", json.loads(args[0]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
