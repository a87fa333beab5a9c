"""``ClusterApi``: the only module that imports the ``kubernetes`` client (blocking; call it
from worker threads).

- **Server-side apply** with a field manager (``waypost``): objects are sent whole as
  ``application/apply-patch+yaml`` (JSON is YAML), first without ``force``; when
  another manager owns a field (someone ran ``kubectl edit``) the API answers 409,
  which is logged with the server's sentence and the apply repeated with
  ``force=true``, as Kubernetes advises for controllers that own their objects.
- **Scale** through the Deployment's ``scale`` subresource (a merge patch of
  ``spec.replicas``), never through apply.
- **List then watch** with resource versions (``watch_kind``): a watch resumes from
  the last version it saw (bookmarks included); an expired version (HTTP 410 Gone,
  as a status or as an ERROR event) raises ``WatchExpired`` and the caller lists
  again. The client's ``SharedInformer`` does the same, but deserializes every
  object into generated models and retries on a fixed timer; the runtime keeps
  plain dicts (what ``observe`` reads) and feeds an asyncio loop.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from waypost.errors import Conflict, InvalidSpec, NotFound, Problem, Unavailable, WaypostError

__all__ = [
    "APPLY_CONTENT_TYPE",
    "ClusterApi",
    "Kind",
    "WatchExpired",
    "load_configuration",
]

log = logging.getLogger("waypost.runtime.kubernetes")

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_CONTENT_TYPE = "application/merge-patch+json"

Kind = Literal["deployments", "pods", "endpointslices"]
Obj = dict[str, Any]
Handler = Callable[[str, Obj], None]


class WatchExpired(Exception):
    """The resource version a watch resumed from is gone (410): list again."""


def load_configuration(
    kubeconfig: str | None = None, context: str | None = None
) -> client.Configuration:
    """In-cluster config (a service account) when there is one, else a kubeconfig."""
    configuration = client.Configuration()
    if kubeconfig is None:
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return configuration
        except config.ConfigException:
            pass
    try:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except (config.ConfigException, OSError) as exc:
        raise Unavailable(
            f"no Kubernetes cluster to talk to: not in a pod, and no usable kubeconfig ({exc})"
        ) from exc
    return configuration


def _status_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return str(exc.reason or exc.status)
    return str(body.get("message") or exc.reason or exc.status)


def _error(exc: ApiException, what: str) -> WaypostError:
    message = f"{what}: {_status_message(exc)}"
    if exc.status == 404:
        return NotFound(message)
    if exc.status == 409:
        return Conflict(message)
    if exc.status in (400, 422):
        return InvalidSpec.of([Problem(message)])
    return Unavailable(message)


@dataclass
class _Watching:
    stream: watch.Watch | None = None
    stopped: threading.Event = field(default_factory=threading.Event)


class ClusterApi:
    """One namespace of one cluster, through the official client."""

    def __init__(
        self,
        configuration: client.Configuration,
        *,
        namespace: str,
        field_manager: str = "waypost",
        request_timeout: float = 30.0,
    ) -> None:
        self.namespace = namespace
        self.field_manager = field_manager
        self.request_timeout = request_timeout
        self.api_client = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.discovery = client.DiscoveryV1Api(self.api_client)
        self.policy = client.PolicyV1Api(self.api_client)
        self.autoscaling = client.AutoscalingV2Api(self.api_client)
        self.rbac = client.RbacAuthorizationV1Api(self.api_client)
        self.networking = client.NetworkingV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)
        self._watches: list[_Watching] = []
        self._watching_stopped = False
        self._lock = threading.Lock()
        #: Sentences of the last apply conflicts (another manager owned a field).
        self.conflicts: list[str] = []

    def close(self) -> None:
        self.stop_watches()
        self.api_client.close()  # type: ignore[no-untyped-call]

    # Apply -----------------------------------------------------------------------------

    def _patcher(self, obj: Mapping[str, Any]) -> Callable[..., Any]:
        """The typed client method that patches ``obj`` (name and namespace bound)."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        name = obj["metadata"]["name"]
        ns = obj["metadata"].get("namespace") or self.namespace
        rbac, networking = "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1"
        namespaced: Mapping[tuple[str, str], Callable[..., Any]] = {
            ("v1", "Secret"): self.core.patch_namespaced_secret,
            ("v1", "Service"): self.core.patch_namespaced_service,
            ("v1", "ServiceAccount"): self.core.patch_namespaced_service_account,
            ("v1", "PersistentVolumeClaim"): self.core.patch_namespaced_persistent_volume_claim,
            ("apps/v1", "Deployment"): self.apps.patch_namespaced_deployment,
            ("policy/v1", "PodDisruptionBudget"): (
                self.policy.patch_namespaced_pod_disruption_budget
            ),
            ("autoscaling/v2", "HorizontalPodAutoscaler"): (
                self.autoscaling.patch_namespaced_horizontal_pod_autoscaler
            ),
            (rbac, "Role"): self.rbac.patch_namespaced_role,
            (rbac, "RoleBinding"): self.rbac.patch_namespaced_role_binding,
            (networking, "NetworkPolicy"): self.networking.patch_namespaced_network_policy,
        }
        method = namespaced.get((api_version, kind))
        if method is not None:
            return lambda **kw: method(name, ns, **kw)
        if (api_version, kind) == ("v1", "Namespace"):
            return lambda **kw: self.core.patch_namespace(name, **kw)
        if "/" in api_version and kind == "HTTPRoute":
            group, version = api_version.split("/", 1)
            return lambda **kw: self.custom.patch_namespaced_custom_object(
                group, version, ns, "httproutes", name, **kw
            )
        raise InvalidSpec.of([Problem(f"waypost does not apply {kind} ({api_version}) objects")])

    def apply(self, obj: Mapping[str, Any]) -> Obj:
        """Server-side apply ``obj``; the object as the API server has it afterwards."""
        patch = self._patcher(obj)
        what = f"applying {obj['kind']} {obj['metadata']['name']}"
        body = dict(obj)
        try:
            try:
                response = patch(
                    body=body,
                    field_manager=self.field_manager,
                    _content_type=APPLY_CONTENT_TYPE,
                    _preload_content=False,
                    _request_timeout=self.request_timeout,
                )
            except ApiException as exc:
                if exc.status != 409:
                    raise
                sentence = f"{what}: {_status_message(exc)}; taking the fields back (force)"
                log.warning("%s", sentence)
                with self._lock:
                    self.conflicts.append(sentence)
                response = patch(
                    body=body,
                    field_manager=self.field_manager,
                    force=True,
                    _content_type=APPLY_CONTENT_TYPE,
                    _preload_content=False,
                    _request_timeout=self.request_timeout,
                )
        except ApiException as exc:
            raise _error(exc, what) from exc
        return _json(response)

    def create_if_absent(self, obj: Mapping[str, Any]) -> bool:
        """Apply ``obj`` only if no object of that name exists (tokens made once); True if made."""
        patch = self._patcher(obj)
        try:
            patch(
                body={"metadata": {}},
                _content_type=MERGE_CONTENT_TYPE,
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
            return False
        except ApiException as exc:
            if exc.status != 404:
                raise _error(exc, f"reading {obj['kind']} {obj['metadata']['name']}") from exc
        self.apply(obj)
        return True

    def scale(self, name: str, replicas: int) -> Obj:
        """Set ``spec.replicas`` of Deployment ``name`` through its scale subresource."""
        try:
            response = self.apps.patch_namespaced_deployment_scale(
                name,
                self.namespace,
                body={"spec": {"replicas": replicas}},
                field_manager=self.field_manager,
                _content_type=MERGE_CONTENT_TYPE,
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            raise _error(exc, f"scaling Deployment {name} to {replicas}") from exc
        return _json(response)

    def delete(self, kind: str, name: str) -> bool:
        """Delete one object of the unit's kinds; False if it was not there."""
        methods: Mapping[str, Callable[..., Any]] = {
            "Deployment": self.apps.delete_namespaced_deployment,
            "Service": self.core.delete_namespaced_service,
            "Secret": self.core.delete_namespaced_secret,
            "PodDisruptionBudget": self.policy.delete_namespaced_pod_disruption_budget,
            "HorizontalPodAutoscaler": self.autoscaling.delete_namespaced_horizontal_pod_autoscaler,
        }
        try:
            methods[kind](
                name,
                self.namespace,
                propagation_policy="Background",
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise _error(exc, f"deleting {kind} {name}") from exc
        return True

    # Reading ---------------------------------------------------------------------------

    def _lister(self, kind: Kind) -> Callable[..., Any]:
        listers: Mapping[str, Callable[..., Any]] = {
            "deployments": self.apps.list_namespaced_deployment,
            "pods": self.core.list_namespaced_pod,
            "endpointslices": self.discovery.list_namespaced_endpoint_slice,
        }
        return listers[kind]

    def list_kind(self, kind: Kind, label_selector: str) -> tuple[list[Obj], str]:
        """Every object of ``kind`` matching the selector, and the list's resource version."""
        try:
            response = self._lister(kind)(
                self.namespace,
                label_selector=label_selector,
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            raise _error(exc, f"listing {kind}") from exc
        body = _json(response)
        items = [dict(item) for item in body.get("items") or ()]
        return items, str((body.get("metadata") or {}).get("resourceVersion", ""))

    def watch_kind(
        self,
        kind: Kind,
        label_selector: str,
        resource_version: str,
        handle: Handler,
        *,
        timeout_seconds: int,
    ) -> str:
        """Watch from ``resource_version`` until the server ends the request or ``stop_watches``;
        ``handle(type, object)`` for each change. Returns the last resource version seen;
        raises ``WatchExpired`` on 410 Gone."""
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        watching = _Watching(stream=stream)
        with self._lock:
            if self._watching_stopped:  # stop_watches ran first: this one never starts
                return resource_version
            self._watches.append(watching)
        version = resource_version
        try:
            for event in stream.stream(  # type: ignore[no-untyped-call]
                self._lister(kind),
                self.namespace,
                label_selector=label_selector,
                resource_version=resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=timeout_seconds,
                _request_timeout=(self.request_timeout, timeout_seconds + self.request_timeout),
            ):
                raw = event.get("raw_object") or {}
                found = str((raw.get("metadata") or {}).get("resourceVersion") or "")
                if found:
                    version = found
                if event.get("type") != "BOOKMARK":
                    handle(str(event.get("type")), dict(raw))
                if watching.stopped.is_set():
                    break
        except ApiException as exc:
            if exc.status == 410:
                raise WatchExpired(f"{kind} at {resource_version}: {exc.reason}") from exc
            raise _error(exc, f"watching {kind}") from exc
        finally:
            with self._lock:
                self._watches.remove(watching)
        return version

    def stop_watches(self) -> None:
        """End every watch, now and for good: a watch asked for afterwards returns at once."""
        with self._lock:
            self._watching_stopped = True
            watching = list(self._watches)
        for w in watching:
            w.stopped.set()
            if w.stream is not None:
                w.stream.stop()  # type: ignore[no-untyped-call]

    def pod_log(self, name: str, container: str, tail: int | None) -> str:
        try:
            response: Any = self.core.read_namespaced_pod_log(
                name,
                self.namespace,
                container=container,
                tail_lines=tail,
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
        except ApiException as exc:
            if exc.status in (400, 404):  # not started yet, or gone
                return ""
            raise _error(exc, f"reading the log of pod {name}") from exc
        data: bytes = response.data
        return data.decode("utf-8", "replace")

    def namespace_exists(self) -> bool:
        try:
            self.core.read_namespace(
                self.namespace, _preload_content=False, _request_timeout=self.request_timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            if exc.status == 403:  # a Role limited to the namespace may not read it: assume so
                return True
            raise _error(exc, f"reading namespace {self.namespace}") from exc
        return True


def _json(response: Any) -> Obj:
    data = response.data if hasattr(response, "data") else response
    if isinstance(data, bytes | str):
        parsed = json.loads(data or "{}")
        return dict(parsed) if isinstance(parsed, dict) else {}
    return dict(data) if isinstance(data, dict) else {}
