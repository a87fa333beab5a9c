"""Cluster objects -> ``ReplicaStatus`` per unit: how pods map to waypost's replica phases. Pure.

The control plane judges lifecycle states from replica phases (``control/reconcile``)
and crash counts (``control/crashes``); this module says what each pod is:

==========================================================  ===============================
pod (main container ``app``)                                phase
==========================================================  ===============================
being deleted (``deletionTimestamp``)                       STOPPING
ready in its Service's EndpointSlice                        READY, address ``podIP:port``
running, ready per its Pod conditions, slice not caught up  STARTING
running, not ready, seen ready before                       UNHEALTHY
``ErrImagePull``/``ImagePullBackOff``/bad config            FAILED (-> DeployFailed)
``CrashLoopBackOff`` never seen ready                       FAILED (-> DeployFailed)
``CrashLoopBackOff`` after it was ready                     BACKOFF, ``restarts`` count
an init container failing again and again                   FAILED
pending, unschedulable                                      STARTING, with the reason
its Deployment ``ProgressDeadlineExceeded``                 FAILED unless READY
==========================================================  ===============================

A crash loop of a Running endpoint thus becomes RuntimeError the way the local
runtime's does: the restarts grow and the control plane counts them. Every
message starts with the Kubernetes reason (``CrashLoopBackOff: ...``), so events
say what Kubernetes said.

A Deployment that cannot create pods at all (``ReplicaFailure``, e.g. a quota)
or passed its progress deadline with no pod has no replica to carry the news, so
it is reported as one FAILED replica named after the Deployment — the protocol
has no unit-level status (yet).

Which pods were ever ready is memory the runtime keeps (``ever_ready``, pod uids);
without it (after a control-plane restart) a crash-looping pod counts as never
ready: FAILED, which a Running endpoint with other replicas up survives.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from waypost.model.prefix import UnitKey
from waypost.runtimes.base import ReplicaPhase, ReplicaStatus
from waypost.runtimes.kubernetes.naming import ANNOTATION_KEY
from waypost.runtimes.kubernetes.podspec import APP_CONTAINER

__all__ = [
    "deployment_failure",
    "parse_time",
    "pod_ready",
    "pod_status",
    "replica_statuses",
    "slice_addresses",
    "unit_key",
]

P = ReplicaPhase
Obj = Mapping[str, Any]

#: Waiting reasons of the main container that will not fix themselves.
FATAL_WAITING = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
#: Failures of an init container (the bundle download, the install) before we call it failed:
#: the first may be a control plane restarting.
INIT_FAILURE_LIMIT = 2


def parse_time(text: str | None) -> float | None:
    """RFC 3339 (``2024-05-01T10:00:00Z``) -> unix seconds."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def unit_key(obj: Obj) -> UnitKey | None:
    text = (obj.get("metadata") or {}).get("annotations", {}).get(ANNOTATION_KEY)
    if not text:
        return None
    try:
        return UnitKey.parse(text)
    except ValueError:
        return None


def _condition(obj: Obj, kind: str) -> Obj | None:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if condition.get("type") == kind:
            return dict(condition)
    return None


def deployment_failure(deployment: Obj) -> str | None:
    """``Reason: message`` when the Deployment will not progress by itself, else None."""
    progressing = _condition(deployment, "Progressing")
    if (
        progressing is not None
        and progressing.get("status") == "False"
        and progressing.get("reason") == "ProgressDeadlineExceeded"
    ):
        return f"ProgressDeadlineExceeded: {progressing.get('message', '')}".rstrip(": ")
    failure = _condition(deployment, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        reason = failure.get("reason") or "ReplicaFailure"
        return f"{reason}: {failure.get('message', '')}".rstrip(": ")
    return None


def slice_addresses(slices: Iterable[Obj]) -> dict[str, str]:
    """Pod name -> ``ip:port`` for every endpoint a slice marks ready (IPv4 first)."""
    found: dict[str, str] = {}
    ordered = sorted(slices, key=lambda s: s.get("addressType") != "IPv4")
    for slice_ in ordered:
        ports = [p for p in slice_.get("ports") or () if p.get("port")]
        if not ports:
            continue
        port = next((p for p in ports if p.get("name") == "http"), ports[0])["port"]
        six = slice_.get("addressType") == "IPv6"
        for endpoint in slice_.get("endpoints") or ():
            ref = endpoint.get("targetRef") or {}
            conditions = endpoint.get("conditions") or {}
            addresses = endpoint.get("addresses") or ()
            # ready is "serving and not terminating"; unset means ready (the API's rule).
            if ref.get("kind") != "Pod" or not addresses or conditions.get("ready") is False:
                continue
            ip = addresses[0]
            found.setdefault(ref["name"], f"[{ip}]:{port}" if six else f"{ip}:{port}")
    return found


def _app_status(pod: Obj) -> Obj:
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == APP_CONTAINER:
            return dict(status)
    return {}


def pod_ready(pod: Obj) -> bool:
    ready = _condition(pod, "Ready")
    return ready is not None and ready.get("status") == "True"


def _init_failure(pod: Obj) -> str | None:
    for status in (pod.get("status") or {}).get("initContainerStatuses") or ():
        state = status.get("state") or {}
        last = (status.get("lastState") or {}).get("terminated") or {}
        waiting = state.get("waiting") or {}
        terminated = state.get("terminated") or {}
        failed_now = terminated.get("exitCode") not in (None, 0)
        if waiting.get("reason") in FATAL_WAITING:
            return _say(waiting.get("reason"), waiting.get("message"), status.get("name"))
        if (failed_now or waiting.get("reason") == "CrashLoopBackOff") and status.get(
            "restartCount", 0
        ) + int(failed_now) >= INIT_FAILURE_LIMIT:
            end = terminated or last
            detail = end.get("message") or end.get("reason") or ""
            code = end.get("exitCode")
            return _say(
                f"init container {status.get('name')} failed",
                f"exit code {code}" + (f": {detail.strip()}" if detail else ""),
                None,
            )
    return None


def _say(reason: str | None, message: str | None, container: str | None) -> str:
    text = reason or "Failed"
    if container and container != APP_CONTAINER:
        text += f" ({container})"
    if message:
        text += f": {message.strip()}"
    return text


def pod_status(
    pod: Obj,
    addresses: Mapping[str, str],
    ever_ready: Collection[str],
    deployment_problem: str | None = None,
) -> ReplicaStatus | None:
    """One pod as a replica; None for pods that are over (Succeeded/Failed: replaced)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    name = str(meta.get("name", ""))
    if status.get("phase") in ("Succeeded", "Failed"):
        return None
    app = _app_status(pod)
    state = app.get("state") or {}
    last = (app.get("lastState") or {}).get("terminated") or {}
    restarts = int(app.get("restartCount") or 0)
    exit_code = last.get("exitCode")
    started = (
        parse_time((state.get("running") or {}).get("startedAt"))
        or parse_time(status.get("startTime"))
        or parse_time(meta.get("creationTimestamp"))
        or 0.0
    )

    def replica(
        phase: ReplicaPhase, message: str = "", address: str | None = None
    ) -> ReplicaStatus:
        return ReplicaStatus(
            replica_id=name,
            phase=phase,
            address=address,
            pid=None,
            started_at=started,
            restarts=restarts,
            exit_code=exit_code,
            message=message,
        )

    if meta.get("deletionTimestamp"):
        return replica(P.STOPPING)
    address = addresses.get(name)
    if address is not None:
        return replica(P.READY, address=address)
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason")
    if reason in FATAL_WAITING:
        return replica(P.FAILED, _say(reason, waiting.get("message"), None))
    init_failure = _init_failure(pod)
    if init_failure is not None:
        return replica(P.FAILED, init_failure)
    was_ready = meta.get("uid") in ever_ready
    if reason == "CrashLoopBackOff":
        how = _say(reason, waiting.get("message"), None)
        if last.get("reason") and last.get("reason") != "Error":
            how += f" (last exit: {last['reason']})"
        return replica(P.BACKOFF if was_ready else P.FAILED, how)
    if deployment_problem is not None:
        return replica(P.FAILED, deployment_problem)
    if pod_ready(pod):
        return replica(P.STARTING, "ready; waiting for its EndpointSlice")
    if state.get("running") and was_ready:
        return replica(P.UNHEALTHY, "not ready: its readiness probe fails")
    scheduled = _condition(pod, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        return replica(P.STARTING, _say(scheduled.get("reason"), scheduled.get("message"), None))
    return replica(P.STARTING, _say(reason, waiting.get("message"), None) if reason else "")


def _desired(deployment: Obj) -> int:
    return int((deployment.get("spec") or {}).get("replicas", 1) or 0)


def replica_statuses(
    deployments: Iterable[Obj],
    pods: Iterable[Obj],
    slices: Iterable[Obj],
    ever_ready: Collection[str] = frozenset(),
) -> dict[UnitKey, tuple[ReplicaStatus, ...]]:
    """Every unit with a replica (or a unit-level failure), its replicas oldest first."""
    by_name: dict[str, UnitKey] = {}
    problems: dict[UnitKey, str] = {}
    wanted: dict[UnitKey, int] = {}
    for deployment in deployments:
        key = unit_key(deployment)
        if key is None:
            continue
        by_name[str(deployment["metadata"]["name"])] = key
        wanted[key] = _desired(deployment)
        problem = deployment_failure(deployment)
        if problem is not None:
            problems[key] = problem
    slices_by_unit: dict[UnitKey, list[Obj]] = {}
    for slice_ in slices:
        service = (slice_.get("metadata") or {}).get("labels", {}).get("kubernetes.io/service-name")
        owner = by_name.get(str(service))
        if owner is not None:
            slices_by_unit.setdefault(owner, []).append(slice_)
    addresses = {key: slice_addresses(found) for key, found in slices_by_unit.items()}
    out: dict[UnitKey, list[ReplicaStatus]] = {}
    for pod in pods:
        key = unit_key(pod)
        if key is None:
            continue
        seen = pod_status(pod, addresses.get(key, {}), ever_ready, problems.get(key))
        if seen is not None:
            out.setdefault(key, []).append(seen)
    for key, problem in problems.items():
        if not out.get(key) and wanted.get(key, 0) > 0:
            name = next(n for n, k in by_name.items() if k == key)
            out[key] = [
                ReplicaStatus(
                    replica_id=name,
                    phase=P.FAILED,
                    address=None,
                    pid=None,
                    started_at=0.0,
                    message=problem,
                )
            ]
    return {
        key: tuple(sorted(replicas, key=lambda r: (r.started_at, r.replica_id)))
        for key, replicas in out.items()
    }


def newly_ready(pods: Sequence[Obj]) -> set[str]:
    """Uids of pods whose main container is ready now (the runtime remembers them)."""
    return {
        str(p["metadata"]["uid"])
        for p in pods
        if _app_status(p).get("ready") and (p.get("metadata") or {}).get("uid")
    }
