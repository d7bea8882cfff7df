#!/usr/bin/env python3
"""A fake kube-apiserver for podwall's tests (Python 3.6+, standard library only).

It serves Pods, Namespaces and NetworkPolicies the way a real API server does
(list shapes, paging with continue tokens, 410 Expired, chunked NDJSON watches,
bookmarks, ERROR events, resourceVersion rules; see
/work/shared/research/informer.md), and has a second, plain-HTTP control port
through which a test changes objects, injects faults and reads counters.

Usage:
  fake-apiserver.py [--port 0] [--control-port 0] [--tls-dir DIR]
                    [--require-client-cert] [--token TOKEN] [--seed N]
                    [--bookmark-interval S] [--split-chunks] [--max-lifetime S]
                    [--parent-pid PID] [--history N] [--short-page-rate P]
                    [--ignore-limit-rate P] [--too-large-wait S]
                    [--watch-list on|off|ignore] [--no-watch-list]
                    [--address ADDR] [--managed-fields] [--verbose]
  fake-apiserver.py make-certs DIR

It listens on 127.0.0.1 only (--address: another one, say in a network
namespace of its own) and prints exactly one line to stdout,
"READY <api-port> <control-port>", then never writes to stdout again.  It
exits on SIGTERM/SIGINT/SIGHUP, when its parent process goes away (or
--parent-pid dies), and after --max-lifetime seconds (default 1800, 0 = never).
A parent that is gone before the server starts, as in "( fake & )", cannot be
watched: pass --parent-pid then.

make-certs DIR writes, signed by a fresh CA (ca.crt, ca.key): server.crt/key
(SAN IP:127.0.0.1, DNS:localhost) and client.crt/key; and, for negative tests,
an unrelated CA (other-ca.crt/key) with a client certificate it signed
(other-client.crt/key).

API port (HTTPS with --tls-dir; every request needs "Authorization: Bearer
TOKEN" with --token, except /healthz /livez /readyz /version):
  GET /api/v1/pods, /api/v1/namespaces, /apis/networking.k8s.io/v1/networkpolicies
  and the namespaced forms /api/v1/namespaces/NS/pods[/NAME],
  /apis/networking.k8s.io/v1/namespaces/NS/networkpolicies[/NAME],
  /api/v1/namespaces/NAME, plus the deprecated /api/v1/watch/... paths;
  /api/v1/services likewise (as stored, no defaults: for podwall doctor).
  List: limit, continue, resourceVersion, resourceVersionMatch, fieldSelector
  (metadata.name, metadata.namespace; pods: spec.nodeName, spec.restartPolicy,
  spec.schedulerName, spec.serviceAccountName, spec.hostNetwork, status.phase,
  status.podIP, status.nominatedNodeName; namespaces: status.phase; operators
  = == !=), labelSelector (= == != in notin, key, !key).
  - resourceVersion "" or "0" read the current state; "N" with a limit (or
    resourceVersionMatch=Exact) reads exactly at N (410 if compacted), without
    one it reads "not older than N"; N newer than the server's RV waits
    --too-large-wait seconds (default 3) and then answers 504 with cause
    ResourceVersionTooLarge, as the watch cache does.
  - Pages: a page may be short or empty and still carry a continue token
    (--short-page-rate, default 0.2, or the short-pages fault).  With
    resourceVersion=0 the limit is sometimes ignored (--ignore-limit-rate,
    default 0.25; never while short-pages is forced).  All pages of one list
    are the state at the list's RV, rebuilt from the event history, so a
    token expires (410 Expired with a fresh token in metadata.continue) once
    its RV is compacted, as in etcd.  continue with resourceVersion other than
    ""/"0" is 400.  The state at an RV and its sorted keys per selector are
    kept (the last 8) for the pages that follow and for other clients at
    that RV, and each object's JSON from when it was stored, so a page costs
    its own items alone (150,000 pods in 500s: well under a second).
  - Watch (watch=1|true): resourceVersion "" or "0" begins with ADDED for every
    object in random order; "N" sends changes after N (from the shared history;
    older than the history: 200 + one ERROR 410 Expired event + end);
    sendInitialEvents=true (with resourceVersionMatch=NotOlderThan and
    allowWatchBookmarks=true) ends the initial ADDEDs with a BOOKMARK annotated
    k8s.io/initial-events-end (a watch-list).  --watch-list=off (or
    --no-watch-list) refuses sendInitialEvents with 422 Invalid, as a server
    with the WatchList gate off; --watch-list=ignore drops it and
    resourceVersionMatch unread, as a server older than both: a plain watch,
    without the closing bookmark.  Initial events leave in chunks of up to
    64 KB (the API server flushes once its queue is empty), live ones one by
    one.  Objects that stop or start matching a selector
    are sent as DELETED / ADDED.  BOOKMARKs every --bookmark-interval seconds
    (default 60; 0 = none) and one 2 s before timeoutSeconds, when
    allowWatchBookmarks=true.  The stream ends cleanly at timeoutSeconds
    (default: random 30-60 min).  --split-chunks re-splits the byte stream into
    chunks of 1 byte to 4 KB, unrelated to event boundaries.
  RVs are decimal strings from 5000000000 up, +1 per change, global over kinds.
  Stored objects get the API server's defaults (namespace name label,
  container port protocol TCP, NetworkPolicy policyTypes, ...) unless POSTed
  with ?raw=1.

Control port (plain HTTP, JSON):
  POST   /objects[?raw=1]         an object, a JSON array or {"items": [...]}:
                                  create or replace (a different metadata.uid
                                  means delete + create); unchanged = no event
  DELETE /objects/KIND/NS/NAME[?grace=1]  (NS "-" for Namespaces); grace first
                                  sends MODIFIED with deletionTimestamp
  GET    /objects[?kind=Pod]      {"resourceVersion", "items"} with kind/apiVersion
  POST   /faults                  {"type": ..., "count": N, "path": "substring of
                                  the request target", ...}, see below
  GET    /faults, DELETE /faults  pending faults
  GET    /stats                   counters; "classes": per request class
                                  (list-consistent: RV "", exact, continue
                                  pages, all etcd's on a real server;
                                  list-cache: RV 0 or not older than N, the
                                  watch cache's; watch; watch-list; other)
                                  requests, bytes sent (headers included),
                                  wall_seconds (start to last byte so far)
                                  and cpu_seconds (the serving thread's, with
                                  time.thread_time; "thread_cpu" false: 0),
                                  open requests included; "user_agents":
                                  requests per User-Agent ("" for none; the
                                  first 64 seen), every one of them, where
                                  /requests keeps the last 2000
  GET    /requests                recent API requests (t, method, path,
                                  status, token, user_agent, class)
  GET    /watches                 open watches
  POST   /reset                   no objects, no history, no faults, zero
                                  counters, open watches ended (RVs keep rising)
  POST   /raw?kind=K&name=N[&namespace=NS][&type=T]
                                  the body, bytes as they are (invalid JSON,
                                  invalid UTF-8, duplicate keys...), becomes
                                  the object N (less a final newline, which
                                  would end the watch line): sent verbatim as
                                  the "object"
                                  of a watch event of type T (default ADDED or
                                  MODIFIED; DELETED removes it) and as its item
                                  in lists, GET /objects and GETs, until POST
                                  /objects or DELETE replaces it.  "@RV@" and
                                  "@UID@" in the body become its new
                                  resourceVersion and its uid (kept from the
                                  object it replaces).  Answers {"resourceVersion",
                                  "uid", "type"}.

Fault types (count defaults to 1; "path" restricts to request targets that
contain it, e.g. "pods" or "watch=1"):
  expire-continue  next list with a continue token: 410 Expired; "with_token":
                   false omits metadata.continue; "reason": "Gone" for old servers
  watch-error-410  "target": "open" | "next" | "both" | "auto" (default: open
                   watches if any, else the next watch): ERROR 410 then end;
                   "compact": true also compacts, so the RV really is too old
  compact          forget the history up to now
  close-watches    end open watches; "clean": false ends without the final chunk
  drop-mid-event   the next event ("now": true: at once) is cut in the middle and
                   the connection reset; "target" as for watch-error-410
  stall            next request ("on": "watch" (default) | "list" | "any") gets
                   headers and then nothing until the client goes away
  status           {"code": 429|500|503|..., "retry_after": S, "message": ...}
  delay            {"seconds": S}: next requests answer late
  rotate-token     {"token": "new", "grace": S}: old token refused after S s (0)
  short-pages      next list pages are short or empty
  split-chunks     {"enable": true|false} for open and later watches
  bookmark         a BOOKMARK now on open watches that allow them
  restart          {"down": S}: drop every API connection and refuse new ones
                   (connection refused) for S seconds
"""

import argparse
import base64
import bisect
import collections
import gzip
import itertools
import json
import os
import random
import re
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

RV_BASE = 5000000000
MAX_CONNECTIONS = 512
MAX_BODY = 64 << 20
MAX_TOKENS_SEEN = 64
GZIP_MIN = 128 * 1024
BATCH_BYTES = 64 * 1024
FOREVER = float("inf")

VERBOSE = False


def log(msg):
    try:
        sys.stderr.write("fake-apiserver: %s\n" % msg)
        sys.stderr.flush()
    except Exception:
        pass


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def go_json(obj):
    """JSON as Go's encoding/json writes it: compact, raw UTF-8, HTML-escaped."""
    s = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                 ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        if a in s:
            s = s.replace(a, b)
    return s.encode("utf-8", "surrogatepass")


class RawObject(dict):
    """An object POSTed to /raw: a stand-in for selectors and keys (kind,
    apiVersion, metadata name, namespace, uid, resourceVersion) that is
    serialised as the bytes it was given."""

    def __init__(self, shadow, raw):
        dict.__init__(self, shadow)
        self.raw = raw


class Stored(collections.OrderedDict):
    """A stored object (canonical()'s result), with its encodings kept: it is
    never changed in place, and a 150,000-pod list would otherwise encode
    every pod again for every page and every client."""
    enc = None
    item_enc = None


def item_json(obj):
    """An object's encoding as an item of a list: without kind and apiVersion."""
    if isinstance(obj, RawObject):
        return obj.raw
    if isinstance(obj, Stored):
        if obj.item_enc is None:
            obj.item_enc = go_json(strip_type(obj))
        return obj.item_enc
    return go_json(strip_type(obj))


def stored_json(obj):
    """go_json() of a Stored object, from its item encoding when kind and
    apiVersion come first, as canonical() puts them."""
    item = item_json(obj)
    if list(itertools.islice(obj, 2)) == ["kind", "apiVersion"] and item != b"{}":
        return (b'{"kind":' + go_json(obj["kind"]) + b',"apiVersion":' +
                go_json(obj["apiVersion"]) + b"," + item[1:])
    return go_json(obj)


def encode_json(obj):
    """go_json(), but a RawObject (the object itself, or an item of a list)
    is written as its raw bytes."""
    if isinstance(obj, RawObject):
        return obj.raw
    if isinstance(obj, Stored):
        if obj.enc is None:
            obj.enc = stored_json(obj)
        return obj.enc
    items = obj.get("items") if isinstance(obj, dict) else None
    if not isinstance(items, list) or not any(isinstance(o, RawObject) for o in items):
        return go_json(obj)
    out = collections.OrderedDict(obj)
    out["items"] = ["@@raw-item-%d@@" % i for i in range(len(items))]
    return re.sub(rb'"@@raw-item-([0-9]+)@@"',
                  lambda m: encode_json(items[int(m.group(1))]), go_json(out))


# ---------------------------------------------------------------- resources

class Resource(object):
    def __init__(self, name, kind, group, version, namespaced):
        self.name = name
        self.kind = kind
        self.group = group
        self.version = version
        self.api_version = group + "/" + version if group else version
        self.list_kind = kind + "List"
        self.namespaced = namespaced


RESOURCES = collections.OrderedDict((r.name, r) for r in (
    Resource("namespaces", "Namespace", "", "v1", False),
    Resource("pods", "Pod", "", "v1", True),
    Resource("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True),
    # Only for podwall doctor, which derives the service range from them.
    Resource("services", "Service", "", "v1", True),
))
BY_KIND = {}
for _r in RESOURCES.values():
    BY_KIND[_r.kind.lower()] = _r
    BY_KIND[_r.name] = _r
BY_KIND["pod"] = RESOURCES["pods"]
BY_KIND["namespace"] = RESOURCES["namespaces"]
BY_KIND["networkpolicy"] = RESOURCES["networkpolicies"]


def obj_key(res, obj):
    meta = obj.get("metadata") or {}
    if res.namespaced:
        return "%s/%s" % (meta.get("namespace", ""), meta.get("name", ""))
    return meta.get("name", "")


def strip_type(obj):
    if isinstance(obj, RawObject):
        return obj
    return dict((k, v) for k, v in obj.items() if k not in ("kind", "apiVersion"))


def with_rv(obj, rv):
    o = dict(obj)
    o["metadata"] = dict(obj.get("metadata") or {})
    o["metadata"]["resourceVersion"] = str(rv)
    return o


def bookmark_obj(res, rv, initial_end=False):
    meta = collections.OrderedDict()
    meta["resourceVersion"] = str(rv)
    meta["creationTimestamp"] = None
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    o = collections.OrderedDict()
    o["kind"] = res.kind
    o["apiVersion"] = res.api_version
    o["metadata"] = meta
    if res.name == "pods":
        o["spec"] = {"containers": None}
        o["status"] = {}
    elif res.name == "namespaces":
        o["spec"] = {}
        o["status"] = {}
    else:
        o["spec"] = {"podSelector": {}}
    return o


def managed_fields(obj):
    def fields(v):
        if isinstance(v, dict):
            return dict(("f:" + k, fields(x)) for k, x in v.items())
        return {}
    body = dict((k, v) for k, v in obj.items()
                if k in ("spec", "status"))
    body["metadata"] = dict((k, v) for k, v in (obj.get("metadata") or {}).items()
                            if k in ("labels", "annotations"))
    return [{"manager": "kubectl-client-side-apply", "operation": "Update",
             "apiVersion": obj.get("apiVersion"), "time": now_iso(),
             "fieldsType": "FieldsV1", "fieldsV1": fields(body)}]


META_ORDER = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
              "generation", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
              "finalizers", "managedFields")


def canonical(obj):
    """Fields in the order Go's structs put them: kind, apiVersion, metadata..."""
    meta = obj.get("metadata") or {}
    m = collections.OrderedDict((k, meta[k]) for k in META_ORDER if k in meta)
    m.update((k, v) for k, v in meta.items() if k not in m)
    out = Stored()
    for k in ("kind", "apiVersion"):
        if k in obj:
            out[k] = obj[k]
    out["metadata"] = m
    for k in ("spec", "status"):
        if k in obj:
            out[k] = obj[k]
    out.update((k, v) for k, v in obj.items() if k not in out)
    return out


def apply_defaults(res, obj):
    """What the real API server's defaulting adds to the objects we serve."""
    meta = obj["metadata"]
    if res.name == "namespaces":
        labels = meta.get("labels") or {}
        labels["kubernetes.io/metadata.name"] = meta["name"]
        meta["labels"] = labels
        spec = obj.get("spec") or {}
        spec.setdefault("finalizers", ["kubernetes"])
        obj["spec"] = spec
        status = obj.get("status") or {}
        status.setdefault("phase", "Active")
        obj["status"] = status
    elif res.name == "pods":
        spec = obj.get("spec") or {}
        obj["spec"] = spec
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            if isinstance(c, dict):
                for p in c.get("ports") or []:
                    if isinstance(p, dict):
                        p.setdefault("protocol", "TCP")
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("schedulerName", "default-scheduler")
        status = obj.get("status") or {}
        obj["status"] = status
        status.setdefault("phase", "Pending")
        if status.get("podIP") and not status.get("podIPs"):
            status["podIPs"] = [{"ip": status["podIP"]}]
        elif status.get("podIPs") and not status.get("podIP"):
            first = status["podIPs"][0]
            if isinstance(first, dict) and first.get("ip"):
                status["podIP"] = first["ip"]
    elif res.name == "networkpolicies":
        spec = obj.get("spec") or {}
        obj["spec"] = spec
        if spec.get("podSelector") is None:
            spec["podSelector"] = {}
        for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
            if isinstance(rule, dict):
                for p in rule.get("ports") or []:
                    if isinstance(p, dict):
                        p.setdefault("protocol", "TCP")
        if not spec.get("policyTypes"):
            types = ["Ingress"]
            if spec.get("egress"):
                types.append("Egress")
            spec["policyTypes"] = types


# ---------------------------------------------------------------- errors

REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden",
           404: "NotFound", 405: "MethodNotAllowed", 406: "NotAcceptable",
           409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType",
           422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}
MESSAGES = {401: "Unauthorized",
            429: "Too many requests, please try again later.",
            500: "Internal error occurred: injected by the fake apiserver",
            503: "The server is currently unable to handle the request",
            504: "Timeout: request did not complete within the allotted timeout"}

CONTINUE_EXPIRED = ("The provided continue parameter is too old to display a "
                    "consistent list result. You can start a new list without "
                    "the continue parameter.")
CONTINUE_INCONSISTENT = (
    "The provided continue parameter is too old to display a consistent list "
    "result. You can start a new list without the continue parameter, or use "
    "the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent "
    "list - objects that were created, modified, or deleted between the time "
    "the first chunk was returned and now may show up in the list.")


def status_obj(code, message, reason=None, details=None, cont=None):
    o = collections.OrderedDict()
    o["kind"] = "Status"
    o["apiVersion"] = "v1"
    o["metadata"] = {"continue": cont} if cont else {}
    o["status"] = "Failure"
    o["message"] = message
    o["reason"] = REASONS.get(code, "") if reason is None else reason
    if details:
        o["details"] = details
    o["code"] = code
    return o


class ApiError(Exception):
    def __init__(self, code, message, reason=None, details=None, cont=None):
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.reason = reason
        self.details = details
        self.cont = cont

    def status(self):
        return status_obj(self.code, self.message, self.reason, self.details, self.cont)


def invalid(field, message):
    return ApiError(422, "ListOptions.meta.k8s.io \"\" is invalid: %s: %s" % (field, message),
                    details={"group": "meta.k8s.io", "kind": "ListOptions",
                             "causes": [{"reason": "FieldValueForbidden",
                                         "message": message, "field": field}]})


def too_large(want, cur):
    return ApiError(504, "Timeout: Too large resource version: %d, current: %d" % (want, cur),
                    details={"causes": [{"reason": "ResourceVersionTooLarge",
                                         "message": "Too large resource version"}],
                             "retryAfterSeconds": 1})


# ---------------------------------------------------------------- continue tokens

def encode_continue(start, rv):
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_continue(tok):
    try:
        raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
        c = json.loads(raw.decode("utf-8"))
    except Exception as e:
        raise ApiError(400, "invalid continue token: %s" % e)
    if not isinstance(c, dict) or c.get("v") != "meta.k8s.io/v1":
        raise ApiError(400, "invalid continue token: continue key is not valid: "
                       "server does not recognize this encoded version")
    rv, start = c.get("rv"), c.get("start")
    if not isinstance(rv, int) or rv == 0:
        raise ApiError(400, "invalid continue token: continue key is not valid: "
                       "incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if not isinstance(start, str) or not start:
        raise ApiError(400, "invalid continue token: continue key is not valid: "
                       "encoded start key empty (version meta.k8s.io/v1)")
    return rv, start


# ---------------------------------------------------------------- selectors

def _get(obj, *path):
    for p in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(p)
    return obj


def _s(v):
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def _field(*path):
    return lambda o: _s(_get(o, *path))


COMMON_FIELDS = {"metadata.name": _field("metadata", "name"),
                 "metadata.namespace": _field("metadata", "namespace")}
RESOURCE_FIELDS = {
    "pods": {
        "spec.nodeName": _field("spec", "nodeName"),
        "spec.restartPolicy": _field("spec", "restartPolicy"),
        "spec.schedulerName": _field("spec", "schedulerName"),
        "spec.serviceAccountName": _field("spec", "serviceAccountName"),
        "spec.hostNetwork": lambda o: "true" if _get(o, "spec", "hostNetwork") else "false",
        "status.phase": _field("status", "phase"),
        "status.podIP": _field("status", "podIP"),
        "status.nominatedNodeName": _field("status", "nominatedNodeName"),
    },
    "namespaces": {"status.phase": _field("status", "phase")},
    "networkpolicies": {},
}


def _split_top(s, sep=","):
    """Split on sep outside parentheses and not after a backslash."""
    out, cur, depth, i = [], [], 0, 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s):
            cur.append(s[i:i + 2])
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth <= 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _unescape(v):
    return re.sub(r"\\(.)", r"\1", v)


def parse_field_selector(res, s):
    reqs = []
    if not s:
        return reqs
    known = dict(COMMON_FIELDS)
    known.update(RESOURCE_FIELDS[res.name])
    for term in _split_top(s):
        if not term.strip():
            continue
        for op in ("!=", "==", "="):
            i = term.find(op)
            if i >= 0:
                break
        else:
            raise ApiError(400, "invalid field selector: '%s'; can't understand '%s'" % (s, term))
        field, value = term[:i].strip(), _unescape(term[i + len(op):].strip())
        if field not in known:
            raise ApiError(400, "field label not supported: %s" % field)
        reqs.append((known[field], op == "!=", value))
    return reqs


LABEL_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
SET_RE = re.compile(r"^\s*(%s)\s+(in|notin)\s*\((.*)\)\s*$" % LABEL_KEY)
EQ_RE = re.compile(r"^\s*(%s)\s*(==|!=|=)\s*(.*?)\s*$" % LABEL_KEY)
EXISTS_RE = re.compile(r"^\s*(!?)\s*(%s)\s*$" % LABEL_KEY)


def parse_label_selector(s):
    reqs = []
    if not s or not s.strip():
        return reqs
    for term in _split_top(s):
        m = SET_RE.match(term)
        if m:
            vals = set(v.strip() for v in m.group(3).split(","))
            reqs.append((m.group(1), m.group(2), vals))
            continue
        m = EQ_RE.match(term)
        if m:
            reqs.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
            continue
        m = EXISTS_RE.match(term)
        if m:
            reqs.append((m.group(2), "!" if m.group(1) else "exists", None))
            continue
        raise ApiError(400, "unable to parse requirement: found '%s', expected: "
                       "identifier" % term.strip())
    return reqs


def labels_match(reqs, obj):
    labels = _get(obj, "metadata", "labels") or {}
    for key, op, val in reqs:
        have = key in labels
        if op == "=" and not (have and labels[key] == val):
            return False
        if op == "!=" and have and labels[key] == val:
            return False
        if op == "in" and not (have and labels[key] in val):
            return False
        if op == "notin" and have and labels[key] in val:
            return False
        if op == "exists" and not have:
            return False
        if op == "!" and have:
            return False
    return True


class Filter(object):
    def __init__(self, namespace, fields, labels):
        self.namespace = namespace
        self.fields = fields
        self.labels = labels

    def empty(self):
        return not self.fields and not self.labels

    def match(self, obj):
        if obj is None:
            return False
        if self.namespace is not None and _get(obj, "metadata", "namespace") != self.namespace:
            return False
        for get, negate, value in self.fields:
            if (get(obj) == value) == negate:
                return False
        return labels_match(self.labels, obj)


# ---------------------------------------------------------------- store

class Event(object):
    __slots__ = ("rv", "type", "res", "key", "obj", "prev", "enc")

    def __init__(self, rv, typ, res, key, obj, prev):
        self.rv = rv
        self.type = typ
        self.res = res
        self.key = key
        self.obj = obj
        self.prev = prev
        self.enc = None


def encode_event(typ, obj):
    return b'{"type":"' + typ.encode() + b'","object":' + encode_json(obj) + b"}\n"


class ListView(object):
    """One resource as it was at one RV: {key: obj}, and per filter the
    sorted keys that match.  A state at an RV never changes (every change
    takes a new RV, a reset a new generation), so the pages of one list, and
    the lists of many clients at the same RV, share one sort."""

    def __init__(self, objs):
        self.objs = objs
        self.keys = {}

    def matching(self, fkey, filt):
        keys = self.keys.get(fkey)
        if keys is None:
            if filt.empty() and filt.namespace is None:
                keys = sorted(self.objs)
            else:
                keys = sorted(k for k, o in self.objs.items() if filt.match(o))
            self.keys[fkey] = keys
        return keys


LIST_VIEWS = 8


class Store(object):
    """Objects plus the event history; history[i] has RV compacted+1+i.

    Stored objects are never changed in place, so they may be shared and
    serialised without the lock."""

    def __init__(self, history_max, rng, managed):
        self.cond = threading.Condition()
        self.rv = RV_BASE
        self.compacted = RV_BASE
        self.hist = []
        self.history_max = max(16, history_max)
        self.objects = dict((r, {}) for r in RESOURCES)
        self.generation = 0
        self.rng = rng
        self.managed = managed
        self.views = collections.OrderedDict()

    def _emit(self, typ, res, key, obj, prev):
        self.hist.append(Event(self.rv, typ, res, key, obj, prev))
        if len(self.hist) > self.history_max:
            drop = len(self.hist) - self.history_max + self.history_max // 8
            del self.hist[:drop]
            self.compacted += drop
        self.cond.notify_all()

    def since(self, pos, maxn=500):
        """Events after pos (lock held); None if pos is older than the history."""
        if pos < self.compacted:
            return None
        i = pos - self.compacted
        return self.hist[i:i + maxn]

    def state_at(self, res, rv):
        """{key: obj} of one resource at rv (lock held, compacted <= rv <= self.rv)."""
        objs = dict(self.objects[res])
        for ev in reversed(self.hist[rv - self.compacted:]):
            if ev.res == res:
                if ev.prev is None:
                    objs.pop(ev.key, None)
                else:
                    objs[ev.key] = ev.prev
        return objs

    def view(self, res, rv):
        """The ListView of res at rv (lock held, compacted <= rv <= self.rv)."""
        vkey = (res, rv, self.generation)
        v = self.views.get(vkey)
        if v is not None:
            self.views.move_to_end(vkey)
            return v
        v = ListView(self.state_at(res, rv))
        self.views[vkey] = v
        while len(self.views) > LIST_VIEWS:
            self.views.popitem(last=False)
        return v

    def put(self, body, raw=False):
        if not isinstance(body, dict):
            raise ValueError("an object must be a JSON object")
        res = BY_KIND.get(str(body.get("kind", "")).lower())
        if res is None:
            raise ValueError("unsupported kind %r" % body.get("kind"))
        obj = json.loads(json.dumps(body))
        obj["kind"] = res.kind
        obj["apiVersion"] = res.api_version
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise ValueError("metadata.name is required")
        if res.namespaced:
            meta["namespace"] = meta.get("namespace") or "default"
        else:
            meta.pop("namespace", None)
        meta.pop("resourceVersion", None)
        if not raw:
            apply_defaults(res, obj)
        key = obj_key(res, obj)
        with self.cond:
            old = self.objects[res.name].get(key)
            if old is not None and meta.get("uid") and meta["uid"] != old["metadata"].get("uid"):
                self._delete(res.name, key, False)
                old = None
            if old is None:
                if not meta.get("uid"):
                    meta["uid"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
                meta.setdefault("creationTimestamp", now_iso())
                typ = "ADDED"
            else:
                meta["uid"] = old["metadata"].get("uid")
                meta["creationTimestamp"] = old["metadata"].get("creationTimestamp")
                if self.managed and "managedFields" in old["metadata"]:
                    meta["managedFields"] = old["metadata"]["managedFields"]
                if with_rv(old, 0) == with_rv(obj, 0):
                    return old, False
                typ = "MODIFIED"
            if self.managed and "managedFields" not in meta:
                meta["managedFields"] = managed_fields(obj)
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            obj = canonical(obj)
            # Encoded now, while it is loaded, so that no list pays for it.
            encode_json(obj)
            self.objects[res.name][key] = obj
            self._emit(typ, res.name, key, obj, old)
            return obj, typ == "ADDED"

    def _delete(self, res, key, grace):
        old = self.objects[res].get(key)
        if old is None:
            return None
        if grace and not old["metadata"].get("deletionTimestamp"):
            self.rv += 1
            mod = with_rv(old, self.rv)
            mod["metadata"]["deletionTimestamp"] = now_iso()
            if res == "pods":
                mod["metadata"]["deletionGracePeriodSeconds"] = 30
            if res == "namespaces":
                mod["status"] = dict(mod.get("status") or {}, phase="Terminating")
            mod = canonical(mod)
            encode_json(mod)
            self.objects[res][key] = mod
            self._emit("MODIFIED", res, key, mod, old)
            old = mod
        self.rv += 1
        last = with_rv(old, self.rv)
        del self.objects[res][key]
        self._emit("DELETED", res, key, last, old)
        return last

    def delete(self, res, key, grace=False):
        with self.cond:
            return self._delete(res, key, grace)

    def put_raw(self, res, name, namespace, body, typ=None):
        """body (bytes) becomes the object's serialised form; see POST /raw."""
        meta = collections.OrderedDict(name=name)
        if res.namespaced:
            meta["namespace"] = namespace or "default"
        key = "%s/%s" % (meta["namespace"], name) if res.namespaced else name
        with self.cond:
            old = self.objects[res.name].get(key)
            if typ is None:
                typ = "MODIFIED" if old is not None else "ADDED"
            if typ not in ("ADDED", "MODIFIED", "DELETED"):
                raise ValueError("type must be ADDED, MODIFIED or DELETED")
            if typ == "DELETED" and old is None:
                raise ValueError("%s %s not found" % (res.kind, key))
            uid = (old["metadata"].get("uid") if old is not None else None) or \
                str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            self.rv += 1
            meta["uid"] = uid
            meta["resourceVersion"] = str(self.rv)
            shadow = collections.OrderedDict(kind=res.kind, apiVersion=res.api_version)
            shadow["metadata"] = meta
            if body.endswith(b"\r\n"):
                body = body[:-2]
            elif body.endswith(b"\n"):
                body = body[:-1]
            raw = body.replace(b"@RV@", str(self.rv).encode()).replace(b"@UID@", uid.encode())
            obj = RawObject(shadow, raw)
            if typ == "DELETED":
                del self.objects[res.name][key]
            else:
                self.objects[res.name][key] = obj
            self._emit(typ, res.name, key, obj, old)
            return {"resourceVersion": str(self.rv), "uid": uid, "type": typ}

    def compact(self):
        with self.cond:
            self.hist = []
            self.compacted = self.rv
            self.cond.notify_all()

    def reset(self):
        with self.cond:
            self.objects = dict((r, {}) for r in RESOURCES)
            self.hist = []
            self.compacted = self.rv
            self.generation += 1
            self.cond.notify_all()

    def dump(self, kind=None):
        with self.cond:
            items = []
            for r in RESOURCES:
                if kind is None or BY_KIND.get(kind.lower()) is RESOURCES[r]:
                    items.extend(self.objects[r][k] for k in sorted(self.objects[r]))
            return {"resourceVersion": str(self.rv), "compactedResourceVersion": str(self.compacted),
                    "items": items}


# ---------------------------------------------------------------- faults, stats

class Faults(object):
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, f):
        f = dict(f)
        f["remaining"] = int(f.get("count", 1))
        with self.lock:
            self.items.append(f)

    def take(self, typ, target, pred=None):
        with self.lock:
            for f in self.items:
                if f["type"] != typ:
                    continue
                if f.get("path") and f["path"] not in target:
                    continue
                if pred is not None and not pred(f):
                    continue
                f["remaining"] -= 1
                if f["remaining"] <= 0:
                    self.items.remove(f)
                return f
        return None

    def clear(self):
        with self.lock:
            self.items = []

    def snapshot(self):
        with self.lock:
            return [dict(f) for f in self.items]


REQUEST_CLASSES = ("list-consistent", "list-cache", "watch", "watch-list", "other")


def thread_cpu():
    """CPU seconds of the calling thread (time.thread_time, Python 3.7+), or None."""
    f = getattr(time, "thread_time", None)
    return f() if f else None


class Served(object):
    """What one API request cost so far: bytes written, wall time from its
    start to its last byte, CPU time of the thread serving it."""
    __slots__ = ("cls", "t0", "cpu0", "bytes", "wall", "cpu")

    def __init__(self):
        self.cls = "other"
        self.t0 = time.monotonic()
        self.cpu0 = thread_cpu()
        self.bytes = 0
        self.wall = 0.0
        self.cpu = 0.0

    def wrote(self, n):
        self.bytes += n
        self.wall = time.monotonic() - self.t0
        if self.cpu0 is not None:
            self.cpu = thread_cpu() - self.cpu0


def charge(totals, served):
    """Adds one request's cost to a class's totals."""
    totals["requests"] += 1
    totals["bytes"] += served.bytes
    totals["wall_seconds"] += served.wall
    totals["cpu_seconds"] += served.cpu


class CountingWriter(object):
    """The handler's wfile, charging every byte to the request in progress."""

    def __init__(self, raw, handler):
        self.raw = raw
        self.h = handler

    def write(self, data):
        n = self.raw.write(data)
        served = self.h.served
        if served is not None:
            served.wrote(len(data))
        return n

    def flush(self):
        return self.raw.flush()

    def __getattr__(self, name):
        return getattr(self.raw, name)


class Stats(object):
    COUNTERS = ("requests_total", "lists", "pages", "continues", "list_items",
                "watches_opened", "events_sent", "bookmarks_sent", "unauthorized",
                "connections_opened", "tls_failures", "connections_refused_busy",
                "watches_reset", "watches_stalled")

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.c = dict((k, 0) for k in self.COUNTERS)
            self.requests = {}
            self.events = {}
            self.watches_by = {}
            self.tokens = collections.OrderedDict()
            self.agents = {}
            self.last_token = None
            self.log = collections.deque(maxlen=2000)
            self.done = dict((c, {"requests": 0, "bytes": 0, "wall_seconds": 0.0,
                                  "cpu_seconds": 0.0}) for c in REQUEST_CLASSES)
            self.live = set()

    def started(self, served):
        with self.lock:
            self.live.add(served)

    def finished(self, served):
        with self.lock:
            if served in self.live:
                self.live.discard(served)
                charge(self.done[served.cls], served)

    def classes(self):
        """Per request class: requests, bytes, wall and CPU seconds, open ones included."""
        with self.lock:
            out = dict((c, dict(v)) for c, v in self.done.items())
            for served in self.live:
                charge(out[served.cls], served)
        for d in out.values():
            d["wall_seconds"] = round(d["wall_seconds"], 6)
            d["cpu_seconds"] = round(d["cpu_seconds"], 6)
        return out

    def inc(self, name, n=1):
        with self.lock:
            self.c[name] = self.c.get(name, 0) + n

    def event(self, typ):
        with self.lock:
            self.c["events_sent"] += 1
            self.events[typ] = self.events.get(typ, 0) + 1
            if typ == "BOOKMARK":
                self.c["bookmarks_sent"] += 1

    def watch_opened(self, res):
        with self.lock:
            self.c["watches_opened"] += 1
            self.watches_by[res] = self.watches_by.get(res, 0) + 1

    def token(self, tok):
        with self.lock:
            self.last_token = tok
            if tok in self.tokens or len(self.tokens) < MAX_TOKENS_SEEN:
                self.tokens[tok] = self.tokens.get(tok, 0) + 1

    def request(self, label, code, method, target, token, user_agent, cls):
        with self.lock:
            self.c["requests_total"] += 1
            per = self.requests.setdefault(label, {})
            per[str(code)] = per.get(str(code), 0) + 1
            agent = user_agent or ""
            if agent in self.agents or len(self.agents) < MAX_TOKENS_SEEN:
                self.agents[agent] = self.agents.get(agent, 0) + 1
            if code == 401:
                self.c["unauthorized"] += 1
            self.log.append({"t": round(time.time(), 3), "method": method, "path": target,
                             "kind": label, "status": code, "token": token,
                             "user_agent": user_agent, "class": cls})

    def snapshot(self):
        with self.lock:
            d = dict(self.c)
            d["requests"] = json.loads(json.dumps(self.requests))
            d["events"] = dict(self.events)
            d["watches_opened_by_resource"] = dict(self.watches_by)
            d["tokens"] = dict(self.tokens)
            d["user_agents"] = dict(self.agents)
            d["last_token"] = self.last_token
        d["classes"] = self.classes()
        d["thread_cpu"] = thread_cpu() is not None
        return d


class WatchState(object):
    def __init__(self, res, target, split, gen):
        self.res = res
        self.target = target
        self.split = split
        self.gen = gen
        self.started = time.time()
        self.events = 0
        self.error410 = None
        self.close = None
        self.drop = False
        self.drop_now = False
        self.bookmark = False


class App(object):
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.rng = random.Random(self.seed)
        self.rng_lock = threading.Lock()
        self.seq = 0
        self.store = Store(args.history, random.Random(self.seed ^ 0x5eed), args.managed_fields)
        self.faults = Faults()
        self.stats = Stats()
        self.watches = set()
        self.split_default = args.split_chunks
        self.tokens = {args.token: None} if args.token else {}
        self.token_lock = threading.Lock()
        self.stopping = threading.Event()
        self.api = None

    def request_rng(self):
        with self.rng_lock:
            self.seq += 1
            return random.Random(self.seed * 1000003 + self.seq)

    def token_ok(self, tok):
        with self.token_lock:
            if not self.tokens:
                return True
            if tok not in self.tokens:
                return False
            exp = self.tokens[tok]
            return exp is None or time.time() < exp

    def rotate_token(self, new, grace):
        with self.token_lock:
            now = time.time()
            if grace <= 0:
                self.tokens = {new: None}
                return
            deadline = now + grace
            self.tokens = dict((t, deadline if e is None or e > deadline else e)
                               for t, e in self.tokens.items() if e is None or e > now)
            self.tokens[new] = None

    def flag_watches(self, path, fn):
        n = 0
        with self.store.cond:
            for ws in self.watches:
                if not path or path in ws.target:
                    fn(ws)
                    n += 1
            self.store.cond.notify_all()
        return n


# ---------------------------------------------------------------- HTTP plumbing

def parse_bool(name, v):
    if v in ("", None):
        return False
    if v in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if v in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise ApiError(400, "%s: invalid boolean value %r" % (name, v))


def parse_int(name, v, default=0):
    if v in ("", None):
        return default
    try:
        n = int(v)
    except ValueError:
        raise ApiError(400, "%s: invalid integer %r" % (name, v))
    if n < 0:
        raise invalid(name, "must be greater than or equal to 0")
    return n


def parse_rv(v):
    try:
        n = int(v)
        if n < 0 or str(n) != v:
            raise ValueError()
        return n
    except ValueError:
        raise ApiError(400, "invalid resource version: %s" % v)


def readable(sock, timeout):
    """poll(), not select(): no FD_SETSIZE limit.  Raises OSError once closed."""
    fd = sock.fileno()
    if fd < 0:
        raise OSError("socket closed")
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLPRI)
    return bool(p.poll(int(timeout * 1000)))


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if VERBOSE:
            log("%s %s" % (self.address_string(), fmt % args))

    def send_response(self, code, message=None):
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())
        self.on_status(code)

    def on_status(self, code):
        pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise ValueError("request body too large")
        data = b""
        while len(data) < n:
            chunk = self.rfile.read(n - len(data))
            if not chunk:
                break
            data += chunk
        return data

    def send_bytes(self, code, body, ctype="application/json", headers=None):
        gz = False
        if len(body) >= GZIP_MIN and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body)
            gz = True
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", ctype)
        if gz:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, code, obj, headers=None):
        self.send_bytes(code, encode_json(obj) + b"\n", headers=headers)

    def client_alive(self):
        """False once the peer has closed; anything it sends is discarded."""
        sock = self.connection
        try:
            if not readable(sock, 0):
                return True
        except (OSError, ValueError):
            return False
        old = sock.gettimeout()
        try:
            sock.settimeout(0.05)
            return bool(sock.recv(4096))
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except (OSError, ValueError):
            return False
        finally:
            try:
                sock.settimeout(old)
            except OSError:
                pass

    def reset_connection(self):
        """Abort with a TCP RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass


class ChunkWriter(object):
    """Chunked transfer encoding; in split mode chunk sizes are random."""

    def __init__(self, handler, rng, ws):
        self.h = handler
        self.rng = rng
        self.ws = ws
        self.buf = bytearray()
        self.off = 0
        self.want = 0
        self.flush_at = FOREVER
        self.batch = False

    def chunk(self, data):
        if not data:
            return
        frame = b"%x\r\n" % len(data) + bytes(data) + b"\r\n"
        if self.ws and self.ws.split and self.rng.random() < 0.2:
            # Now and then the chunk framing itself is split across sends
            # (TCP segments, TLS records), even between its CR and LF.
            cuts = sorted(set(self.rng.randint(1, len(frame) - 1) for _ in range(2)))
            for a, b in zip([0] + cuts, cuts + [len(frame)]):
                self.h.wfile.write(frame[a:b])
            return
        self.h.wfile.write(frame)

    def size(self):
        r = self.rng.random()
        if r < 0.4:
            return self.rng.randint(1, 16)
        if r < 0.7:
            return self.rng.randint(17, 512)
        return self.rng.randint(513, 4096)

    def pending(self):
        return len(self.buf) > self.off

    def _take(self, n):
        data = bytes(self.buf[self.off:self.off + n])
        self.off += n
        if self.off >= len(self.buf):
            self.buf = bytearray()
            self.off = 0
        elif self.off > 65536:
            del self.buf[:self.off]
            self.off = 0
        self.chunk(data)
        if self.rng.random() < 0.03:
            time.sleep(0.001)

    def write(self, data):
        if not (self.ws and self.ws.split):
            if self.batch:
                self.buf += data
                if len(self.buf) >= BATCH_BYTES:
                    self.flush()
                return
            self.flush()
            self.chunk(data)
            return
        if not self.pending():
            self.flush_at = time.monotonic() + self.rng.uniform(0.002, 0.03)
        self.buf += data
        if not self.want:
            self.want = self.size()
        while len(self.buf) - self.off >= self.want:
            self._take(self.want)
            self.want = self.size()

    def flush(self):
        if not (self.ws and self.ws.split):
            if self.pending():
                self.chunk(self.buf[self.off:])
            self.buf = bytearray()
            self.off = 0
            return
        while self.pending():
            self._take(min(len(self.buf) - self.off, self.size()))
        self.flush_at = FOREVER

    def end(self):
        self.flush()
        self.h.wfile.write(b"0\r\n\r\n")


def route(path):
    """(resource, namespace, name, watch_path) or None."""
    segs = [unquote(s) for s in path.split("/") if s]
    if segs[:2] == ["api", "v1"]:
        group, rest = "", segs[2:]
    elif segs[:3] == ["apis", "networking.k8s.io", "v1"]:
        group, rest = "networking.k8s.io", segs[3:]
    else:
        return None
    watch = False
    if rest and rest[0] == "watch":
        watch, rest = True, rest[1:]
    ns = name = None
    if len(rest) == 1:
        resource = rest[0]
    elif len(rest) == 2 and rest[0] == "namespaces" and group == "":
        resource, name = "namespaces", rest[1]
    elif len(rest) in (3, 4) and rest[0] == "namespaces":
        ns, resource = rest[1], rest[2]
        name = rest[3] if len(rest) == 4 else None
    else:
        return None
    res = RESOURCES.get(resource)
    if res is None or res.group != group or (ns is not None and not res.namespaced):
        return None
    return res, ns, name, watch


DISCOVERY = {
    "/api": {"kind": "APIVersions", "versions": ["v1"],
             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "networking.k8s.io",
         "versions": [{"groupVersion": "networking.k8s.io/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "networking.k8s.io/v1", "version": "v1"}}]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
         "verbs": ["get", "list", "watch"], "shortNames": ["ns"]},
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
         "verbs": ["get", "list", "watch"], "shortNames": ["po"]}]},
    "/apis/networking.k8s.io/v1": {"kind": "APIResourceList", "apiVersion": "v1",
                                   "groupVersion": "networking.k8s.io/v1", "resources": [
        {"name": "networkpolicies", "singularName": "networkpolicy", "namespaced": True,
         "kind": "NetworkPolicy", "verbs": ["get", "list", "watch"], "shortNames": ["netpol"]}]},
    "/version": {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake",
                 "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                 "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.22.0", "compiler": "gc",
                 "platform": "linux/amd64"},
}
PUBLIC = ("/healthz", "/livez", "/readyz", "/version")


# ---------------------------------------------------------------- API handler

class ApiHandler(BaseHandler):
    label = "other"
    token = None
    served = None

    def setup(self):
        BaseHandler.setup(self)
        self.wfile = CountingWriter(self.wfile, self)

    def on_status(self, code):
        self.server.app.stats.request(self.label, code, self.command, self.path, self.token,
                                      getattr(self, "headers", None) and
                                      self.headers.get("User-Agent"),
                                      self.served.cls if self.served else "other")

    def classify(self, cls):
        if self.served is not None:
            self.served.cls = cls

    def do_GET(self):
        stats = self.server.app.stats
        self.served = Served()
        stats.started(self.served)
        try:
            self.api()
        finally:
            stats.finished(self.served)
            self.served = None

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    def send_status(self, e):
        headers = {}
        if e.details and e.details.get("retryAfterSeconds"):
            headers["Retry-After"] = str(e.details["retryAfterSeconds"])
        self.send_json(e.code, e.status(), headers)

    def api(self):
        app = self.server.app
        self.label, self.token = "other", None
        try:
            if self.command not in ("GET", "HEAD"):
                self.read_body()
            u = urlsplit(self.path)
            q = dict((k, v[0]) for k, v in parse_qs(u.query, keep_blank_values=True).items())
            r = route(u.path)
            if r:
                is_watch = r[3] or parse_bool("watch", q.get("watch"))
                verb = "watch" if is_watch else ("get" if r[2] else "list")
                self.label = "%s %s" % (verb, r[0].name)
            elif u.path in DISCOVERY or u.path in PUBLIC:
                self.label = "discovery"
            auth = self.headers.get("Authorization")
            bearer = None
            if auth is not None:
                scheme, _, rest = auth.strip().partition(" ")
                if scheme.lower() == "bearer":
                    bearer = rest.strip()
                self.token = auth if bearer is None else bearer
                app.stats.token(self.token)
            if u.path not in PUBLIC and not app.token_ok(bearer):
                raise ApiError(401, "Unauthorized")
            if r is None:
                if u.path in DISCOVERY:
                    return self.send_json(200, DISCOVERY[u.path])
                if u.path in PUBLIC:
                    return self.send_bytes(200, b"ok", "text/plain; charset=utf-8")
                raise ApiError(404, "the server could not find the requested resource",
                               details={})
            res, ns, name, _ = r
            f = app.faults.take("delay", self.path)
            if f:
                time.sleep(float(f.get("seconds", 1)))
            f = app.faults.take("status", self.path)
            if f:
                code = int(f.get("code", 500))
                details = None
                if f.get("retry_after") is not None:
                    details = {"retryAfterSeconds": int(f["retry_after"])}
                if code == 403:
                    msg = ('%s is forbidden: User "system:serviceaccount:kube-system:podwall" cannot '
                           '%s resource "%s" in API group "%s" at the cluster scope'
                           % (res.name, verb, res.name, res.group))
                    details = dict(details or {}, group=res.group, kind=res.name)
                else:
                    msg = MESSAGES.get(code, "injected failure")
                raise ApiError(code, f.get("message", msg), f.get("reason"), details)
            if self.command not in ("GET", "HEAD"):
                raise ApiError(405, "the server does not allow this method on the requested resource")
            stall = app.faults.take("stall", self.path,
                                    lambda f: f.get("on", "watch") in ("any", verb if verb == "watch" else "list"))
            if stall:
                return self.stall(res)
            if verb == "get" and not is_watch:
                return self.get_one(res, ns, name)
            extra = []
            if name is not None:
                extra.append((COMMON_FIELDS["metadata.name"], False, name))
            if is_watch:
                return self.watch(res, ns, q, extra)
            return self.list(res, ns, q)
        except ApiError as e:
            self.send_status(e)
        except ValueError as e:
            self.close_connection = True
            self.send_status(ApiError(400, "bad request: %s" % e))

    def get_one(self, res, ns, name):
        key = "%s/%s" % (ns, name) if res.namespaced else name
        with self.server.app.store.cond:
            obj = self.server.app.store.objects[res.name].get(key)
        if obj is None:
            raise ApiError(404, '%s "%s" not found' % (res.name, name),
                           details={"name": name, "group": res.group, "kind": res.name})
        self.send_json(200, obj)

    def make_filter(self, res, ns, q, extra=()):
        return Filter(ns, parse_field_selector(res, q.get("fieldSelector", "")) + list(extra),
                      parse_label_selector(q.get("labelSelector", "")))

    def wait_for_rv(self, want):
        store = self.server.app.store
        deadline = time.monotonic() + self.server.app.args.too_large_wait
        with store.cond:
            while store.rv < want and time.monotonic() < deadline:
                store.cond.wait(deadline - time.monotonic())
            if store.rv < want:
                raise too_large(want, store.rv)

    # ---- list

    def list(self, res, ns, q):
        app = self.server.app
        store = app.store
        app.stats.inc("lists")
        limit = parse_int("limit", q.get("limit"))
        cont = q.get("continue", "")
        rv = q.get("resourceVersion", "")
        match = q.get("resourceVersionMatch", "")
        filt = self.make_filter(res, ns, q)
        if match and match not in ("NotOlderThan", "Exact"):
            raise invalid("resourceVersionMatch", 'Unsupported value: "%s": supported values: '
                          '"Exact", "NotOlderThan"' % match)
        if match and rv == "":
            raise invalid("resourceVersionMatch", "resourceVersionMatch is forbidden unless "
                          "resourceVersion is provided")
        if match == "Exact" and rv == "0":
            raise invalid("resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden '
                          'for resourceVersion "0"')
        if cont and match:
            raise invalid("resourceVersionMatch", "resourceVersionMatch is forbidden when "
                          "continue is provided")
        start = None
        exact = None
        if cont:
            if rv not in ("", "0"):
                raise ApiError(400, "specifying resource version is not allowed when using continue")
            crv, start = decode_continue(cont)
            app.stats.inc("continues")
            f = app.faults.take("expire-continue", self.path)
            if f:
                self.expired_continue(start, f.get("with_token", True), f.get("reason", "Expired"))
            with store.cond:
                if crv > 0 and crv < store.compacted:
                    expired = True
                else:
                    expired = False
                    if crv > store.rv:
                        raise ApiError(400, "invalid continue token: resource version is in the future")
            if expired:
                self.expired_continue(start, True, "Expired")
            exact = crv if crv > 0 else None
        elif rv not in ("", "0"):
            n = parse_rv(rv)
            self.wait_for_rv(n)
            if match == "Exact" or (match == "" and limit > 0):
                exact = n
        # What it costs a real server: a consistent or exact read, and every
        # page after the first, is etcd's; "0" and "not older than N" are
        # the watch cache's.
        self.classify("list-consistent" if cont or rv == "" or exact is not None
                      else "list-cache")
        rng = app.request_rng()
        with store.cond:
            if exact is not None:
                if exact < store.compacted:
                    raise ApiError(410, "The resourceVersion for the provided list is too old.")
                snap = exact
            else:
                snap = store.rv
            view = store.view(res.name, snap)
        objs = view.objs
        keys = view.matching((ns, q.get("fieldSelector", ""), q.get("labelSelector", "")), filt)
        first = bisect.bisect_left(keys, start) if start is not None else 0
        page = len(keys) - first
        if limit > 0:
            forced = app.faults.take("short-pages", self.path) is not None
            ignore = (rv == "0" and not cont and not forced
                      and rng.random() < app.args.ignore_limit_rate)
            if not ignore:
                page = limit
                if forced or rng.random() < app.args.short_page_rate:
                    page = 0 if limit == 1 or rng.random() < 0.3 else rng.randint(1, limit - 1)
        taken = keys[first:first + page]
        rest = len(keys) - first - len(taken)
        meta = collections.OrderedDict()
        meta["resourceVersion"] = str(snap)
        if rest:
            # An empty page keeps the start it was asked for.
            meta["continue"] = encode_continue(taken[-1] + "\0" if taken else (start or "\0"), snap)
            if filt.empty():
                meta["remainingItemCount"] = rest
        out = collections.OrderedDict()
        out["kind"] = res.list_kind
        out["apiVersion"] = res.api_version
        out["metadata"] = meta
        out["items"] = []
        app.stats.inc("pages")
        app.stats.inc("list_items", len(taken))
        # go_json(out) with the items in it, from each item's kept encoding.
        head = go_json(out)
        self.send_bytes(200, head[:-2] + b",".join(item_json(objs[k]) for k in taken) + b"]}\n")

    def expired_continue(self, start, with_token, reason):
        if with_token:
            raise ApiError(410, CONTINUE_INCONSISTENT, reason, cont=encode_continue(start, -1))
        raise ApiError(410, CONTINUE_EXPIRED, reason)

    # ---- watch

    def stream_headers(self):
        self.send_response(200)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def stall(self, res):
        app = self.server.app
        app.stats.inc("watches_stalled")
        self.stream_headers()
        while not app.stopping.is_set():
            try:
                r = readable(self.connection, 0.5)
            except (OSError, ValueError):
                break
            if r and not self.client_alive():
                break
        self.close_connection = True

    def send_error_event(self, w, ws, rv, compacted, reason="Expired"):
        st = status_obj(410, "too old resource version: %d (%d)" % (rv, compacted), reason)
        w.write(encode_event("ERROR", st))
        self.server.app.stats.event("ERROR")

    def watch(self, res, ns, q, extra):
        app = self.server.app
        store = app.store
        rv = q.get("resourceVersion", "")
        allow_bm = parse_bool("allowWatchBookmarks", q.get("allowWatchBookmarks"))
        timeout = parse_int("timeoutSeconds", q.get("timeoutSeconds"))
        if app.args.watch_list == "ignore":
            # Older than resourceVersionMatch on watches: both unknown, unread.
            q.pop("sendInitialEvents", None)
            q.pop("resourceVersionMatch", None)
        match = q.get("resourceVersionMatch", "")
        send_initial = None
        if "sendInitialEvents" in q:
            send_initial = parse_bool("sendInitialEvents", q["sendInitialEvents"])
            if app.args.watch_list == "off":
                raise invalid("sendInitialEvents", "sendInitialEvents is forbidden for watch "
                              "unless the WatchList feature gate is enabled")
            if match != "NotOlderThan":
                raise invalid("resourceVersionMatch", "sendInitialEvents requires setting "
                              "resourceVersionMatch to NotOlderThan")
            if not allow_bm:
                raise invalid("allowWatchBookmarks", "sendInitialEvents requires setting "
                              "allowWatchBookmarks to true")
        elif match:
            raise invalid("resourceVersionMatch", "resourceVersionMatch is forbidden for watch")
        filt = self.make_filter(res, ns, q, extra)
        n = parse_rv(rv) if rv not in ("", "0") else None
        initial = send_initial if send_initial is not None else n is None
        self.classify("watch-list" if send_initial else "watch")
        if initial and n is not None:
            self.wait_for_rv(n)
        rng = app.request_rng()
        deadline = time.monotonic() + (timeout if timeout > 0 else rng.uniform(1800, 3600))
        ws = WatchState(res, self.path, app.split_default, store.generation)
        w = ChunkWriter(self, rng, ws)
        f410 = app.faults.take("watch-error-410", self.path)
        with store.cond:
            compacted = store.compacted
            too_old = n is not None and not initial and n < compacted
            if initial:
                pos = store.rv
                snapshot = [o for o in store.objects[res.name].values() if filt.match(o)]
            else:
                pos = n
                snapshot = []
            if not (f410 or too_old):
                app.watches.add(ws)
        app.stats.watch_opened(res.name)
        if f410 or too_old:
            self.stream_headers()
            self.send_error_event(w, ws, n if n is not None else pos, compacted,
                                  f410.get("reason", "Expired") if f410 else "Expired")
            w.end()
            return
        fdrop = app.faults.take("drop-mid-event", self.path)
        if fdrop:
            ws.drop = True
            ws.drop_now = bool(fdrop.get("now"))
        try:
            self.stream_headers()
            rng.shuffle(snapshot)
            # The API server flushes a watch only once its queue is empty:
            # initial events leave in large chunks, live ones one by one.
            w.batch = True
            for obj in snapshot:
                if not self.send_event(w, ws, "ADDED", obj):
                    return
            if send_initial:
                if not self.send_event(w, ws, "BOOKMARK", bookmark_obj(res, pos, True)):
                    return
            w.batch = False
            w.flush()
            self.watch_loop(w, ws, res, filt, pos, allow_bm, deadline)
        finally:
            with store.cond:
                app.watches.discard(ws)

    def send_event(self, w, ws, typ, obj, enc=None):
        """Write one event; False if the connection was cut on purpose."""
        data = enc if enc is not None else encode_event(typ, obj)
        if ws.drop:
            w.flush()
            cut = w.rng.randint(1, len(data) - 1)
            w.chunk(data[:cut])
            self.server.app.stats.inc("watches_reset")
            self.reset_connection()
            return False
        w.write(data)
        ws.events += 1
        self.server.app.stats.event(typ)
        return True

    def watch_loop(self, w, ws, res, filt, pos, allow_bm, deadline):
        app = self.server.app
        store = app.store
        interval = app.args.bookmark_interval
        bookmarks = allow_bm and interval > 0
        next_bm = time.monotonic() + interval if bookmarks else FOREVER
        pre_timeout = deadline - 2 if bookmarks and deadline - 2 > time.monotonic() else FOREVER
        epoch = self.server.epoch
        while True:
            now = time.monotonic()
            with store.cond:
                if not (store.rv > pos or ws.error410 or ws.close or ws.drop_now or ws.bookmark
                        or store.generation != ws.gen):
                    wake = min(deadline, next_bm, pre_timeout, w.flush_at, now + 0.25)
                    if wake > now:
                        store.cond.wait(wake - now)
                batch = store.since(pos)
                cur = store.rv
                compacted = store.compacted
                error410, close, bookmark = ws.error410, ws.close, ws.bookmark
                drop_now = ws.drop_now
                ws.error410 = ws.close = None
                ws.bookmark = ws.drop_now = False
                gen_changed = store.generation != ws.gen
            if gen_changed or self.server.epoch != epoch or app.stopping.is_set():
                w.end()
                return
            if error410:
                self.send_error_event(w, ws, pos, compacted, error410)
                w.end()
                return
            if close == "clean":
                w.end()
                return
            if close == "abort":
                w.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if drop_now:
                self.send_event(w, ws, "BOOKMARK", bookmark_obj(res, max(pos, cur)))
                return
            if batch is None:
                # Fell out of the history: the cacher ends such a watcher.
                w.end()
                return
            for ev in batch:
                if ev.res == res.name:
                    typ, obj = self.filter_event(ev, filt)
                    if typ:
                        enc = None
                        if typ == ev.type and obj is ev.obj:
                            if ev.enc is None:
                                ev.enc = encode_event(typ, obj)
                            enc = ev.enc
                        if not self.send_event(w, ws, typ, obj, enc):
                            return
                pos = ev.rv
            now = time.monotonic()
            if bookmarks and pos <= cur and (bookmark or now >= next_bm or now >= pre_timeout):
                if not self.send_event(w, ws, "BOOKMARK", bookmark_obj(res, pos)):
                    return
                next_bm = now + interval
                if now >= pre_timeout:
                    pre_timeout = FOREVER
            if now >= deadline:
                w.end()
                return
            if w.pending() and now >= w.flush_at:
                w.flush()
            if not self.client_alive():
                self.close_connection = True
                return

    @staticmethod
    def filter_event(ev, filt):
        if ev.type == "ADDED":
            return ("ADDED", ev.obj) if filt.match(ev.obj) else (None, None)
        if ev.type == "DELETED":
            return ("DELETED", ev.obj) if filt.match(ev.prev) else (None, None)
        cur, prev = filt.match(ev.obj), filt.match(ev.prev)
        if cur and prev:
            return "MODIFIED", ev.obj
        if cur:
            return "ADDED", ev.obj
        if prev:
            return "DELETED", with_rv(ev.prev, ev.rv)
        return None, None


# ---------------------------------------------------------------- control handler

class CtlError(Exception):
    def __init__(self, code, msg):
        Exception.__init__(self, msg)
        self.code = code
        self.msg = msg


FAULT_TYPES = ("expire-continue", "watch-error-410", "compact", "close-watches",
               "drop-mid-event", "stall", "status", "delay", "rotate-token",
               "short-pages", "split-chunks", "bookmark", "restart")


class ControlHandler(BaseHandler):
    def do_GET(self):
        self.ctl()

    do_POST = do_PUT = do_DELETE = do_GET

    def ctl(self):
        app = self.server.app
        try:
            body = self.read_body()
            u = urlsplit(self.path)
            q = dict((k, v[0]) for k, v in parse_qs(u.query, keep_blank_values=True).items())
            segs = [unquote(s) for s in u.path.split("/") if s]
            m = self.command
            data = None
            if body.strip() and segs != ["raw"]:
                data = json.loads(body.decode("utf-8"))
            if segs == ["objects"] and m == "GET":
                return self.send_json(200, app.store.dump(q.get("kind")))
            if segs == ["objects"] and m in ("POST", "PUT"):
                return self.post_objects(data, parse_bool("raw", q.get("raw")))
            if len(segs) == 4 and segs[0] == "objects" and m == "DELETE":
                return self.delete_object(segs[1], segs[2], segs[3],
                                          parse_bool("grace", q.get("grace")))
            if segs == ["faults"] and m == "POST":
                return self.post_fault(data)
            if segs == ["raw"] and m == "POST":
                return self.post_raw(q, body)
            if segs == ["faults"] and m == "GET":
                return self.send_json(200, {"faults": app.faults.snapshot()})
            if segs == ["faults"] and m == "DELETE":
                app.faults.clear()
                return self.send_json(200, {"ok": True})
            if segs == ["stats"] and m == "GET":
                return self.send_json(200, self.stats())
            if segs == ["requests"] and m == "GET":
                with app.stats.lock:
                    items = list(app.stats.log)
                return self.send_json(200, {"requests": items})
            if segs == ["watches"] and m == "GET":
                with app.store.cond:
                    ws = [{"path": w.target, "resource": w.res.name, "events": w.events,
                           "age": round(time.time() - w.started, 3), "split": w.split}
                          for w in app.watches]
                return self.send_json(200, {"watches": ws})
            if segs == ["reset"] and m == "POST":
                app.faults.clear()
                app.store.reset()
                app.stats.reset()
                app.split_default = app.args.split_chunks
                with app.token_lock:
                    app.tokens = {app.args.token: None} if app.args.token else {}
                return self.send_json(200, {"ok": True, "resourceVersion": str(app.store.rv)})
            if segs in (["healthz"], []) and m == "GET":
                return self.send_bytes(200, b"ok", "text/plain")
            raise CtlError(404, "no such control endpoint: %s %s" % (m, u.path))
        except CtlError as e:
            self.send_json(e.code, {"error": e.msg})
        except ApiError as e:
            self.send_json(400, {"error": e.message})
        except (ValueError, KeyError, TypeError) as e:
            self.send_json(400, {"error": "%s: %s" % (type(e).__name__, e)})

    def stats(self):
        app = self.server.app
        d = app.stats.snapshot()
        with app.store.cond:
            d["watches_open"] = len(app.watches)
            d["resourceVersion"] = str(app.store.rv)
            d["compactedResourceVersion"] = str(app.store.compacted)
            d["objects"] = dict((r, len(o)) for r, o in app.store.objects.items())
        d["connections_open"] = len(app.api.conns) if app.api else 0
        d["faults_pending"] = app.faults.snapshot()
        d["seed"] = app.seed
        return d

    def post_objects(self, data, raw):
        store = self.server.app.store
        if isinstance(data, dict) and "items" in data and "kind" not in data:
            data = data["items"]
        if isinstance(data, list):
            out = [store.put(o, raw)[0] for o in data]
            return self.send_json(200, {"resourceVersion": str(store.rv), "items": out})
        obj, created = store.put(data, raw)
        self.send_json(201 if created else 200, obj)

    def post_raw(self, q, body):
        res = BY_KIND.get(q.get("kind", "").lower())
        if res is None:
            raise CtlError(400, "raw needs kind=Pod|Namespace|NetworkPolicy")
        if not q.get("name"):
            raise CtlError(400, "raw needs name=")
        self.send_json(200, self.server.app.store.put_raw(res, q["name"], q.get("namespace"),
                                                          body, q.get("type")))

    def delete_object(self, kind, ns, name, grace):
        res = BY_KIND.get(kind.lower())
        if res is None:
            raise CtlError(400, "unsupported kind %r" % kind)
        key = "%s/%s" % (ns, name) if res.namespaced else name
        last = self.server.app.store.delete(res.name, key, grace)
        if last is None:
            raise CtlError(404, "%s %s not found" % (res.kind, key))
        self.send_json(200, last)

    def post_fault(self, f):
        app = self.server.app
        if not isinstance(f, dict) or f.get("type") not in FAULT_TYPES:
            raise CtlError(400, "fault needs a type, one of: %s" % ", ".join(FAULT_TYPES))
        t = f["type"]
        if int(f.get("count", 1)) < 1:
            raise CtlError(400, "count must be >= 1")
        path = f.get("path")
        result = {"ok": True, "fault": f}
        if t == "compact":
            app.store.compact()
        elif t == "close-watches":
            how = "clean" if f.get("clean", True) else "abort"
            result["applied_to_open"] = app.flag_watches(path, lambda ws: setattr(ws, "close", how))
        elif t in ("watch-error-410", "drop-mid-event"):
            target = f.get("target", "auto")
            if target not in ("auto", "open", "next", "both"):
                raise CtlError(400, "target must be auto, open, next or both")
            n = 0
            if t == "watch-error-410" and f.get("compact"):
                app.store.compact()
            if target != "next":
                if t == "watch-error-410":
                    reason = f.get("reason", "Expired")
                    n = app.flag_watches(path, lambda ws: setattr(ws, "error410", reason))
                else:
                    def arm(ws):
                        ws.drop = True
                        ws.drop_now = bool(f.get("now"))
                    n = app.flag_watches(path, arm)
            result["applied_to_open"] = n
            if target in ("next", "both") or (target == "auto" and n == 0):
                app.faults.add(f)
                result["pending"] = True
        elif t == "bookmark":
            result["applied_to_open"] = app.flag_watches(path, lambda ws: setattr(ws, "bookmark", True))
        elif t == "split-chunks":
            on = bool(f.get("enable", True))
            app.split_default = on
            result["applied_to_open"] = app.flag_watches(path, lambda ws: setattr(ws, "split", on))
        elif t == "rotate-token":
            if not f.get("token"):
                raise CtlError(400, "rotate-token needs a token")
            app.rotate_token(str(f["token"]), float(f.get("grace", 0)))
        elif t == "restart":
            app.api.restart(float(f.get("down", 1)))
        else:
            if t == "status":
                int(f.get("code", 500))
            app.faults.add(f)
            result["pending"] = True
        self.send_json(200, result)


# ---------------------------------------------------------------- listeners

class Listener(object):
    def __init__(self, app, handler_cls, port, ssl_ctx, idle_timeout):
        self.app = app
        self.handler_cls = handler_cls
        self.port = port
        self.ssl_ctx = ssl_ctx
        self.idle_timeout = idle_timeout
        self.sock = None
        self.conns = set()
        self.lock = threading.Lock()
        self.epoch = 0

    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.app.args.address, self.port))
        s.listen(128)
        self.port = s.getsockname()[1]
        self.sock = s

    def serve(self):
        t = threading.Thread(target=self.accept_loop, name="accept-%d" % self.port)
        t.daemon = True
        t.start()

    def accept_loop(self):
        while not self.app.stopping.is_set():
            s = self.sock
            if s is None:
                time.sleep(0.05)
                continue
            try:
                if not readable(s, 0.5):
                    continue
                conn, addr = s.accept()
            except (OSError, ValueError):
                time.sleep(0.01)
                continue
            with self.lock:
                busy = len(self.conns) >= MAX_CONNECTIONS
            if busy:
                self.app.stats.inc("connections_refused_busy")
                conn.close()
                continue
            t = threading.Thread(target=self.handle, args=(conn, addr))
            t.daemon = True
            t.start()

    def handle(self, conn, addr):
        with self.lock:
            self.conns.add(conn)
        self.app.stats.inc("connections_opened")
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_ctx is not None:
                conn.settimeout(10)
                try:
                    tconn = self.ssl_ctx.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    self.app.stats.inc("tls_failures")
                    if VERBOSE:
                        log("TLS handshake with %s failed: %s" % (addr[0], e))
                    return
                with self.lock:
                    self.conns.discard(conn)
                    self.conns.add(tconn)
                conn = tconn
            conn.settimeout(self.idle_timeout)
            self.handler_cls(conn, addr, self)
        except (OSError, ssl.SSLError):
            pass
        except Exception:
            log("unexpected error:\n" + traceback.format_exc())
        finally:
            with self.lock:
                self.conns.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def restart(self, down):
        """Like an apiserver restart: connections drop, then are refused for `down` s."""
        s, self.sock = self.sock, None
        self.epoch += 1
        if s is not None:
            # poll() in accept_loop holds the socket open after close();
            # shutdown() stops listening at once, so connects are refused.
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.app.store.cond:
            self.app.store.cond.notify_all()

        def again():
            deadline = time.monotonic() + 30
            while not self.app.stopping.is_set():
                try:
                    self.listen()
                    return
                except OSError:
                    if time.monotonic() > deadline:
                        log("cannot listen on port %d again" % self.port)
                        return
                    time.sleep(0.1)
        t = threading.Timer(down, again)
        t.daemon = True
        t.start()


# ---------------------------------------------------------------- certificates

CERT_CONF = """\
[ req ]
distinguished_name = dn
[ dn ]
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def make_certs(argv):
    if len(argv) != 1:
        sys.stderr.write("usage: fake-apiserver.py make-certs DIR\n")
        return 2
    d = argv[0]
    if not os.path.isdir(d):
        os.makedirs(d)
    tmp = tempfile.mkdtemp(prefix="fake-apiserver-certs.")
    conf = os.path.join(tmp, "openssl.cnf")
    with open(conf, "w") as fp:
        fp.write(CERT_CONF)

    def run(*cmd):
        p = subprocess.run(("openssl",) + cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (cmd[0], p.stderr.decode(errors="replace")))

    def path(name):
        return os.path.join(d, name)

    def ca(name, cn):
        run("req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256", "-days", "3650",
            "-keyout", path(name + ".key"), "-out", path(name + ".crt"), "-subj", "/CN=" + cn,
            "-config", conf, "-extensions", "v3_ca")

    def leaf(name, ca_name, subj, ext):
        csr = os.path.join(tmp, name + ".csr")
        run("req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", path(name + ".key"),
            "-out", csr, "-subj", subj, "-config", conf)
        run("x509", "-req", "-in", csr, "-CA", path(ca_name + ".crt"), "-CAkey", path(ca_name + ".key"),
            "-set_serial", "0x%x" % random.SystemRandom().getrandbits(64), "-days", "3650",
            "-sha256", "-out", path(name + ".crt"), "-extfile", conf, "-extensions", ext)

    try:
        ca("ca", "podwall-test-ca")
        leaf("server", "ca", "/CN=kube-apiserver", "server")
        leaf("client", "ca", "/O=podwall/CN=system:serviceaccount:kube-system:podwall", "client")
        ca("other-ca", "unrelated-test-ca")
        leaf("other-client", "other-ca", "/CN=intruder", "client")
        for name in os.listdir(d):
            if name.endswith(".key"):
                os.chmod(path(name), 0o600)
    except (RuntimeError, OSError) as e:
        sys.stderr.write("make-certs: %s\n" % e)
        return 1
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    return 0


# ---------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(prog="fake-apiserver.py",
                                description="Fake kube-apiserver for podwall's tests.")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--control-port", type=int, default=0)
    p.add_argument("--tls-dir")
    p.add_argument("--require-client-cert", action="store_true")
    p.add_argument("--token")
    p.add_argument("--seed", type=int)
    p.add_argument("--bookmark-interval", type=float, default=60.0)
    p.add_argument("--split-chunks", action="store_true")
    p.add_argument("--max-lifetime", type=float, default=1800.0)
    p.add_argument("--parent-pid", type=int)
    p.add_argument("--history", type=int, default=10000,
                   help="events kept for resuming watches (default 10000)")
    p.add_argument("--short-page-rate", type=float, default=0.2)
    p.add_argument("--ignore-limit-rate", type=float, default=0.25)
    p.add_argument("--too-large-wait", type=float, default=3.0)
    p.add_argument("--idle-timeout", type=float, default=300.0)
    p.add_argument("--watch-list", choices=("on", "off", "ignore"), default="on",
                   help="sendInitialEvents: on (WatchList), off (refused, 422 Invalid, as "
                   "with the gate off) or ignore (unread, as by a server older than "
                   "resourceVersionMatch on watches: a plain watch, never the "
                   "initial-events-end bookmark)")
    p.add_argument("--no-watch-list", dest="watch_list", action="store_const", const="off",
                   help="--watch-list=off")
    p.add_argument("--address", default="127.0.0.1",
                   help="the address both ports listen on (default 127.0.0.1)")
    p.add_argument("--managed-fields", action="store_true",
                   help="give objects a managedFields block like real ones")
    p.add_argument("--verbose", "-v", action="store_true")
    a = p.parse_args(argv)
    if a.require_client_cert and not a.tls_dir:
        p.error("--require-client-cert needs --tls-dir")
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    return a


def main(argv):
    global VERBOSE
    if len(argv) > 1 and argv[1] == "make-certs":
        return make_certs(argv[2:])
    args = parse_args(argv[1:])
    VERBOSE = args.verbose
    ctx = None
    if args.tls_dir:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(args.tls_dir, "server.crt"),
                            os.path.join(args.tls_dir, "server.key"))
        if args.require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(os.path.join(args.tls_dir, "ca.crt"))
        try:
            ctx.set_alpn_protocols(["http/1.1"])
        except (NotImplementedError, AttributeError):
            pass
    app = App(args)
    api = Listener(app, ApiHandler, args.port, ctx, args.idle_timeout)
    ctl = Listener(app, ControlHandler, args.control_port, None, args.idle_timeout)
    api.listen()
    ctl.listen()
    app.api = api
    for lst in (api, ctl):
        lst.serve()

    def stop(signum, frame):
        app.stopping.set()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)

    parent = os.getppid()
    started = time.monotonic()
    sys.stdout.write("READY %d %d\n" % (api.port, ctl.port))
    sys.stdout.flush()
    log("api %s://127.0.0.1:%d control http://127.0.0.1:%d seed %d"
        % ("https" if ctx else "http", api.port, ctl.port, args.seed))
    why = "signal"
    while not app.stopping.wait(0.5):
        if parent != 1 and os.getppid() != parent:
            why = "parent exited"
            break
        if args.parent_pid:
            try:
                os.kill(args.parent_pid, 0)
            except ProcessLookupError:
                why = "parent %d exited" % args.parent_pid
                break
            except PermissionError:
                pass
        if args.max_lifetime > 0 and time.monotonic() - started > args.max_lifetime:
            why = "max lifetime reached"
            break
    app.stopping.set()
    log("exiting: %s" % why)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
