"""A Kubernetes API server in miniature, for tests: the paths and shapes the official client uses.

It answers on 127.0.0.1 (a free port) with the API's documented JSON shapes:
list (``items`` + ``metadata.resourceVersion``), watch (newline-delimited
``{"type", "object"}`` events, chunked; an ``ERROR`` event with a 410 ``Status``
when the requested resourceVersion is older than the last compaction), server-side
apply (``PATCH`` with ``application/apply-patch+yaml`` and ``fieldManager``; a 409
``Status`` naming the other manager when a field it owns is applied without
``force``), merge patches of the ``scale`` subresource, deletes (with owner
references honoured, as the garbage collector would), and pod logs.

It is not a cluster: no controllers run. Tests play the Deployment controller and
the kubelet with ``run_pods``/``put``, which write objects through the same event
log the watches read.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Obj = dict[str, Any]

#: URL resource segment -> (group/version prefix, kind).
RESOURCES = {
    "deployments": ("/apis/apps/v1", "Deployment"),
    "pods": ("/api/v1", "Pod"),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "EndpointSlice"),
    "services": ("/api/v1", "Service"),
    "secrets": ("/api/v1", "Secret"),
    "poddisruptionbudgets": ("/apis/policy/v1", "PodDisruptionBudget"),
    "horizontalpodautoscalers": ("/apis/autoscaling/v2", "HorizontalPodAutoscaler"),
}
API_VERSIONS = {
    "deployments": "apps/v1",
    "pods": "v1",
    "endpointslices": "discovery.k8s.io/v1",
    "services": "v1",
    "secrets": "v1",
    "poddisruptionbudgets": "policy/v1",
    "horizontalpodautoscalers": "autoscaling/v2",
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any


@dataclass
class State:
    namespaces: set[str] = field(default_factory=lambda: {"waypost"})
    objects: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    events: list[tuple[int, str, str, Obj]] = field(default_factory=list)
    rv: int = 100
    compacted: int = 0
    #: (resource, name) -> the manager that owns fields waypost applies.
    conflicts: dict[tuple[str, str], str] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    watch_generation: int = 0


def _status(code: int, reason: str, message: str) -> Obj:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _matches(obj: Obj, selector: str | None) -> bool:
    if not selector:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in selector.split(","):
        name, _, value = term.partition("=")
        if labels.get(name) != value:
            return False
    return True


class FakeApiServer:
    def __init__(self) -> None:
        self.state = State()
        self.cond = threading.Condition()
        self.stopping = False
        handler = _make_handler(self)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="fake-apiserver")
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    # Store ---------------------------------------------------------------------------

    def _record(self, event: str, resource: str, obj: Obj) -> None:
        self.state.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.state.rv)
        self.state.events.append((self.state.rv, resource, event, copy.deepcopy(obj)))
        self.cond.notify_all()

    def put(self, resource: str, obj: Obj, namespace: str = "waypost") -> Obj:
        """Create or replace an object as a controller would (fires ADDED/MODIFIED)."""
        with self.cond:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            meta.setdefault("namespace", namespace)
            key = (resource, namespace, meta["name"])
            old = self.state.objects.get(key)
            meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now())
            obj.setdefault("apiVersion", API_VERSIONS[resource])
            obj.setdefault("kind", RESOURCES[resource][1])
            self.state.objects[key] = obj
            self._record("MODIFIED" if old else "ADDED", resource, obj)
            return copy.deepcopy(obj)

    def get(self, resource: str, name: str, namespace: str = "waypost") -> Obj | None:
        with self.cond:
            found = self.state.objects.get((resource, namespace, name))
            return copy.deepcopy(found) if found else None

    def all(self, resource: str) -> list[Obj]:
        with self.cond:
            return [
                copy.deepcopy(o) for (r, _, _), o in self.state.objects.items() if r == resource
            ]

    def remove(self, resource: str, name: str, namespace: str = "waypost") -> bool:
        with self.cond:
            return self._delete(resource, namespace, name)

    def _delete(self, resource: str, namespace: str, name: str) -> bool:
        obj = self.state.objects.pop((resource, namespace, name), None)
        if obj is None:
            return False
        self._record("DELETED", resource, obj)
        uid = obj["metadata"]["uid"]
        for (r, ns, n), other in list(self.state.objects.items()):
            owners = other["metadata"].get("ownerReferences") or ()
            if any(o.get("uid") == uid for o in owners):
                self._delete(r, ns, n)  # the garbage collector's cascade
        return True

    def compact(self) -> None:
        """Forget history (as etcd compaction does) and end every open watch."""
        with self.cond:
            self.state.compacted = self.state.rv + 1
            self.state.rv += 1
            self.state.watch_generation += 1
            self.cond.notify_all()

    def requests(self, method: str | None = None) -> list[Request]:
        with self.cond:
            return [r for r in self.state.requests if method is None or r.method == method]

    # Playing the controllers -----------------------------------------------------------

    def run_pods(
        self,
        deployment: str,
        *,
        ready: bool = True,
        status: Callable[[int], Obj] | None = None,
        namespace: str = "waypost",
    ) -> list[Obj]:
        """Pods for the Deployment's replicas from its template, and the Service's slice."""
        dep = self.get("deployments", deployment, namespace)
        if dep is None:
            raise KeyError(deployment)
        count = int(dep["spec"].get("replicas", 1))
        template = dep["spec"]["template"]
        pods = []
        endpoints = []
        for i in range(count):
            name = f"{deployment}-abc12-{i:05d}"
            container_ready = ready
            pod_status = (
                status(i)
                if status
                else {
                    "phase": "Running",
                    "podIP": f"10.0.0.{i + 10}",
                    "startTime": _now(),
                    "conditions": [
                        {"type": "PodScheduled", "status": "True"},
                        {"type": "Ready", "status": "True" if container_ready else "False"},
                    ],
                    "containerStatuses": [
                        {
                            "name": "app",
                            "ready": container_ready,
                            "restartCount": 0,
                            "image": "x",
                            "imageID": "",
                            "state": {"running": {"startedAt": _now()}},
                        }
                    ],
                }
            )
            pod = self.put(
                "pods",
                {
                    "metadata": {
                        "name": name,
                        "labels": template["metadata"]["labels"],
                        "annotations": template["metadata"]["annotations"],
                    },
                    "spec": template["spec"],
                    "status": pod_status,
                },
                namespace,
            )
            pods.append(pod)
            endpoints.append(
                {
                    "addresses": [pod_status.get("podIP", f"10.0.0.{i + 10}")],
                    "conditions": {"ready": bool(pod_status.get("phase") == "Running" and ready)},
                    "targetRef": {"kind": "Pod", "name": name, "namespace": namespace},
                }
            )
        service = self.get("services", deployment, namespace) or {"metadata": {"labels": {}}}
        port = dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        self.put(
            "endpointslices",
            {
                "metadata": {
                    "name": f"{deployment}-x1y2z",
                    "labels": {
                        **service["metadata"].get("labels", {}),
                        "kubernetes.io/service-name": deployment,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    },
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            },
            namespace,
        )
        return pods

    # HTTP ----------------------------------------------------------------------------

    def handle(self, req: Request) -> tuple[int, Any]:
        with self.cond:
            self.state.requests.append(req)
        parts = [p for p in req.path.split("/") if p]
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 4 and req.method == "GET":
            if parts[3] in self.state.namespaces:
                return 200, {
                    "kind": "Namespace",
                    "apiVersion": "v1",
                    "metadata": {"name": parts[3]},
                }
            return 404, _status(404, "NotFound", f'namespaces "{parts[3]}" not found')
        try:
            ns_index = parts.index("namespaces")
        except ValueError:
            return 404, _status(404, "NotFound", "the server could not find the requested resource")
        namespace = parts[ns_index + 1]
        resource = parts[ns_index + 2]
        name = parts[ns_index + 3] if len(parts) > ns_index + 3 else None
        sub = parts[ns_index + 4] if len(parts) > ns_index + 4 else None
        if resource not in RESOURCES:
            return 404, _status(404, "NotFound", f"no resource {resource}")
        if name is None and req.method == "GET":
            return self._list(resource, namespace, req)
        if name is None:
            return 405, _status(405, "MethodNotAllowed", "method not allowed")
        if sub == "log":
            with self.cond:
                return 200, self.state.logs.get(name, "")
        if sub == "scale":
            return self._scale(namespace, name, req)
        if req.method == "PATCH":
            return self._patch(resource, namespace, name, req)
        if req.method == "DELETE":
            with self.cond:
                if self._delete(resource, namespace, name):
                    return 200, _status(200, "", "deleted") | {"status": "Success"}
            return 404, _status(404, "NotFound", f'{resource} "{name}" not found')
        if req.method == "GET":
            found = self.get(resource, name, namespace)
            if found is None:
                return 404, _status(404, "NotFound", f'{resource} "{name}" not found')
            return 200, found
        return 405, _status(405, "MethodNotAllowed", "method not allowed")

    def _list(self, resource: str, namespace: str, req: Request) -> tuple[int, Any]:
        selector = req.query.get("labelSelector")
        with self.cond:
            items = [
                copy.deepcopy(o)
                for (r, ns, _), o in self.state.objects.items()
                if r == resource and ns == namespace and _matches(o, selector)
            ]
            return 200, {
                "kind": RESOURCES[resource][1] + "List",
                "apiVersion": API_VERSIONS[resource],
                "metadata": {"resourceVersion": str(self.state.rv)},
                "items": items,
            }

    def watch_events(self, resource: str, namespace: str, req: Request) -> Any:
        """Yield watch lines; the handler streams them."""
        selector = req.query.get("labelSelector")
        since = int(req.query.get("resourceVersion") or 0)
        deadline = time.monotonic() + float(req.query.get("timeoutSeconds") or 30)
        with self.cond:
            if since < self.state.compacted:
                expired = _status(
                    410, "Expired", f"too old resource version: {since} ({self.state.compacted})"
                )
                yield {"type": "ERROR", "object": expired}
                return
            generation = self.state.watch_generation
        sent = since
        while True:
            with self.cond:
                if generation != self.state.watch_generation:
                    return  # compacted: this watch ends, and resuming it gets 410
                batch = [
                    (rv, event, obj)
                    for rv, r, event, obj in self.state.events
                    if rv > sent
                    and r == resource
                    and obj["metadata"].get("namespace") == namespace
                    and _matches(obj, selector)
                ]
                if not batch:
                    left = deadline - time.monotonic()
                    if left <= 0 or self.stopping:
                        return
                    self.cond.wait(min(left, 0.5))
                    continue
            for rv, event, obj in batch:
                sent = rv
                yield {"type": event, "object": obj}

    def _patch(self, resource: str, namespace: str, name: str, req: Request) -> tuple[int, Any]:
        body = req.body if isinstance(req.body, dict) else {}
        with self.cond:
            old = self.state.objects.get((resource, namespace, name))
            if req.content_type.startswith("application/merge-patch+json"):
                if old is None:
                    return 404, _status(404, "NotFound", f'{resource} "{name}" not found')
                return 200, copy.deepcopy(old)
            if not req.content_type.startswith("application/apply-patch+yaml"):
                return 415, _status(415, "UnsupportedMediaType", req.content_type)
            if not req.query.get("fieldManager"):
                return 422, _status(422, "Invalid", "fieldManager is required for apply requests")
            other = self.state.conflicts.get((resource, name))
            if other and req.query.get("force") != "true":
                message = (
                    f'Apply failed with 1 conflict: conflict with "{other}" using '
                    f'{API_VERSIONS[resource]}: .spec.template.spec.containers[name="app"].image'
                )
                return 409, _status(409, "Conflict", message)
            self.state.conflicts.pop((resource, name), None)
            new = copy.deepcopy(body)
            new.setdefault("metadata", {})["namespace"] = namespace
            if old is not None:
                new["metadata"]["uid"] = old["metadata"]["uid"]
                new["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"]
                if resource == "deployments":
                    new["spec"]["replicas"] = old["spec"].get("replicas", 1)
                    new["status"] = old.get("status", {})
            else:
                new["metadata"]["uid"] = str(uuid.uuid4())
                new["metadata"]["creationTimestamp"] = _now()
                if resource == "deployments":
                    new["spec"].setdefault("replicas", 1)
            self.state.objects[(resource, namespace, name)] = new
            self._record("MODIFIED" if old else "ADDED", resource, new)
            return (200 if old else 201), copy.deepcopy(new)

    def _scale(self, namespace: str, name: str, req: Request) -> tuple[int, Any]:
        with self.cond:
            dep = self.state.objects.get(("deployments", namespace, name))
            if dep is None:
                return 404, _status(404, "NotFound", f'deployments.apps "{name}" not found')
            if req.method == "PATCH":
                if not req.content_type.startswith("application/merge-patch+json"):
                    return 415, _status(415, "UnsupportedMediaType", req.content_type)
                dep["spec"]["replicas"] = int(req.body["spec"]["replicas"])
                self._record("MODIFIED", "deployments", dep)
            return 200, {
                "kind": "Scale",
                "apiVersion": "autoscaling/v1",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"replicas": dep["spec"]["replicas"]},
                "status": {"replicas": 0},
            }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _make_handler(server: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    counter = itertools.count()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _request(self) -> Request:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            return Request(
                self.command, parts.path, query, self.headers.get("Content-Type", ""), body
            )

        def _send(self, code: int, payload: Any) -> None:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            data = text.encode()
            self.send_response(code)
            ctype = "text/plain" if isinstance(payload, str) else "application/json"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _dispatch(self) -> None:
            next(counter)
            req = self._request()
            if req.method == "GET" and req.query.get("watch") in ("true", "1", "True"):
                with server.cond:
                    server.state.requests.append(req)
                parts = [p for p in req.path.split("/") if p]
                namespace, resource = parts[parts.index("namespaces") + 1 :][:2]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for event in server.watch_events(resource, namespace, req):
                        line = (json.dumps(event) + "\n").encode()
                        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True
                return
            code, payload = server.handle(req)
            self._send(code, payload)

        do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _dispatch

    return Handler
