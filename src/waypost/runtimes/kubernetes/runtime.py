"""``KubernetesRuntime``: the ``Runtime`` protocol over Deployments in one namespace.

The reconciler calls ``observe`` and ``scale`` every pass (5 times a second), so
neither may cost a request each time:

- **observe** reads a cache that three watches keep current (Deployments, Pods,
  EndpointSlices labelled ``app.kubernetes.io/managed-by=waypost``): list, then
  watch from the list's resource version; a watch that ends is resumed from the
  last version seen, one that expired (410 Gone) starts over with a list. Watch
  threads hand events to the event loop with ``call_soon_threadsafe``, so the
  cache is only touched on the loop.
- **scale** compares what it would write with what it wrote last (and with what the
  cache shows, once the cache had time to catch up) and writes only the
  difference: the unit's objects by server-side apply when the spec changed, a new
  bundle token when the last is getting old, the ``scale`` subresource when the
  count differs. Scaling to 0 only touches the count (no template change that
  would roll pods just to stop them).

**Leftovers: adopt, not kill.** Unlike processes, pods do not die with the control
plane, and a control plane restarting (a rolling update of its own Deployment)
must not take every endpoint down. ``start`` lists what runs, ``observe`` reports
it, and the reconciler keeps what the store wants and removes the rest. For the
same reason ``close`` stops the watches and leaves replicas running.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from waypost.errors import BuildFailed, InvalidSpec, Unavailable, WaypostError
from waypost.model.prefix import UnitKey
from waypost.runtimes.base import LogChunk, ReplicaStatus, Workload
from waypost.runtimes.kubernetes.apply import ClusterApi, Kind, WatchExpired
from waypost.runtimes.kubernetes.manifests import (
    UnitManifests,
    hpa_manifest,
    unit_manifests,
    with_owner,
)
from waypost.runtimes.kubernetes.naming import (
    ANNOTATION_SPEC,
    MANAGED_SELECTOR,
    object_name,
    secret_name,
)
from waypost.runtimes.kubernetes.observe import newly_ready, replica_statuses, unit_key
from waypost.runtimes.kubernetes.options import KubernetesOptions
from waypost.runtimes.kubernetes.podspec import APP_CONTAINER

__all__ = ["KubernetesRuntime", "cpu_target"]

log = logging.getLogger("waypost.runtime.kubernetes")

KINDS: tuple[Kind, ...] = ("deployments", "pods", "endpointslices")
Obj = dict[str, Any]
MintToken = Callable[[], str]


def cpu_target(workload: Workload) -> float | None:
    """The spec's CPU target for an HPA (``autoscaling.cpu_target``), when the spec has one."""
    value = getattr(workload.spec.autoscaling, "cpu_target", None)
    return float(value) if isinstance(value, int | float) and value > 0 else None


@dataclass
class _Written:
    """What this runtime last wrote for a unit, and when (monotonic seconds)."""

    spec_hash: str = ""
    env_hash: str = ""
    token_at: float = float("-inf")  # the clock's time the token was minted
    replicas: int | None = None
    written_at: float = float("-inf")


class KubernetesRuntime:
    name = "kubernetes"

    def __init__(
        self,
        api: ClusterApi,
        options: KubernetesOptions,
        *,
        mint_token: MintToken | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sync_timeout: float = 30.0,
        retry_delay: float = 1.0,
        settle: float = 5.0,
    ) -> None:
        self.api = api
        self.options = options
        self._mint = mint_token
        self._clock = clock
        self._monotonic = monotonic
        self._sync_timeout = sync_timeout
        self._retry_delay = retry_delay
        #: How long the cache may disagree with a write before the write is repeated.
        self._settle = settle
        self._objects: dict[Kind, dict[str, Obj]] = {kind: {} for kind in KINDS}
        self._synced: dict[Kind, asyncio.Event] = {kind: asyncio.Event() for kind in KINDS}
        self._ever_ready: set[str] = set()
        self._written: dict[UnitKey, _Written] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._seen: dict[UnitKey, tuple[ReplicaStatus, ...]] | None = None
        #: How many times each kind was listed (1 at start, +1 per expired watch).
        self.lists: dict[Kind, int] = {kind: 0 for kind in KINDS}
        #: Set whenever the cache changes (tests and tools wait on it).
        self.changed = asyncio.Event()

    # Protocol ------------------------------------------------------------------------

    async def start(self) -> None:
        for kind in KINDS:
            self._tasks.append(asyncio.create_task(self._follow(kind), name=f"watch {kind}"))
        try:
            async with asyncio.timeout(self._sync_timeout):
                await asyncio.gather(*(event.wait() for event in self._synced.values()))
        except TimeoutError:
            raise Unavailable(
                f"could not list waypost's objects in namespace {self.options.namespace} "
                f"within {self._sync_timeout:g}s"
            ) from None

    async def build(self, workload: Workload, log: Callable[[str], None]) -> None:
        spec = workload.spec
        if spec.kind == "runtime" and not spec.model:
            raise BuildFailed("a runtime: endpoint needs model: owner/name")
        if self.options.bundle_source == "fetch" and self._mint is None:
            raise BuildFailed("fetching bundles needs the control plane to mint tokens")
        try:
            unit_manifests(workload, self.options, cpu_target=cpu_target(workload))
        except (InvalidSpec, ValueError) as exc:
            raise BuildFailed(f"cannot describe it to Kubernetes: {exc}") from exc
        try:
            exists = await asyncio.to_thread(self.api.namespace_exists)
        except WaypostError as exc:
            raise BuildFailed(f"the cluster cannot be reached: {exc.message}") from exc
        if not exists:
            raise BuildFailed(f"namespace {self.options.namespace} does not exist")
        image = spec.image or (
            self.options.waypost_image if spec.kind == "runtime" else self.options.default_image
        )
        log(f"image {image} in namespace {self.options.namespace}")
        if self.options.bundle_source == "fetch":
            log(f"pods fetch bundle {workload.bundle_digest[:12]} from {self.options.api_url}")
        else:
            log(f"the image holds the bundle in {self.options.image_workdir}")
        log("build ready")

    async def scale(self, workload: Workload, replicas: int) -> None:
        if replicas < 0:
            raise InvalidSpec(f"cannot scale to {replicas} replicas")
        if self._closed:
            raise Unavailable("the Kubernetes runtime is closed")
        key = workload.key
        if replicas == 0:
            await self._scale_to_zero(workload)
            return
        written = self._written.setdefault(key, _Written())
        target = cpu_target(workload)
        manifests = unit_manifests(workload, self.options, cpu_target=target)
        env_hash = _env_hash(workload.env)
        deployment = self._deployment(key)
        cached_hash = _annotation(deployment, ANNOTATION_SPEC)
        settled = self._monotonic() - written.written_at >= self._settle
        stale = deployment is None or cached_hash != manifests.spec_hash
        if written.spec_hash != manifests.spec_hash or (stale and settled):
            await self._apply_unit(workload, manifests, written, replicas)
        elif written.env_hash != env_hash or self._token_due(written):
            await self._apply_secret(workload, written)
        if manifests.hpa is not None:
            if written.replicas != replicas:
                hpa = hpa_manifest(
                    workload, self.options, cpu_target=target or 0.0, min_replicas=replicas
                )
                await self._call(self._apply_owned, key, hpa)
                written.replicas = replicas
            if _replicas(self._deployment(key)) == 0:
                await self._call(self.api.scale, object_name(key), replicas)
            return
        current = _replicas(self._deployment(key))
        if written.replicas != replicas or (current != replicas and settled):
            await self._call(self.api.scale, object_name(key), replicas)
            written.replicas = replicas
            written.written_at = self._monotonic()

    async def observe(self) -> Mapping[UnitKey, Sequence[ReplicaStatus]]:
        # Recomputed only after the watches changed something: the reconciler asks 5
        # times a second, and with 10,000 endpoints a pass costs about a quarter second.
        if self._seen is None:
            self._seen = replica_statuses(
                self._objects["deployments"].values(),
                self._objects["pods"].values(),
                self._objects["endpointslices"].values(),
                self._ever_ready,
            )
        return self._seen

    async def remove(self, key: UnitKey) -> None:
        self._written.pop(key, None)
        name = object_name(key)

        def delete_all() -> None:
            # Owner references let the garbage collector do this too; deleting by name
            # also covers objects made before their owner reference was set.
            self.api.delete("Deployment", name)
            for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "Service"):
                self.api.delete(kind, name)
            self.api.delete("Secret", secret_name(key))

        await self._call(delete_all)

    async def read_logs(self, key: UnitKey, offset: int = 0, tail: int | None = None) -> LogChunk:
        pods = sorted(
            (p for p in self._objects["pods"].values() if unit_key(p) == key),
            key=lambda p: str(p["metadata"].get("creationTimestamp", "")),
        )
        names = [str(p["metadata"]["name"]) for p in pods]

        def read() -> str:
            parts = []
            for name in names:
                text = self.api.pod_log(name, APP_CONTAINER, tail)
                parts.append(f"==> pod {name} <==\n{text}" if len(names) > 1 else text)
            return "".join(parts)

        text = await self._call(read)
        if tail is not None or offset > len(text):
            return LogChunk(text, len(text))
        return LogChunk(text[offset:], len(text))

    async def close(self) -> None:
        self._closed = True
        await asyncio.to_thread(self.api.stop_watches)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # Writing -------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    def _token_due(self, written: _Written) -> bool:
        if self.options.bundle_source != "fetch":
            return False
        return self._clock() - written.token_at >= self.options.token_refresh

    async def _token(self, written: _Written) -> str:
        if self.options.bundle_source != "fetch" or self._mint is None:
            return ""
        token = await asyncio.to_thread(self._mint)
        written.token_at = self._clock()
        return token

    async def _apply_unit(
        self, workload: Workload, plain: UnitManifests, written: _Written, replicas: int
    ) -> None:
        token = await self._token(written)
        target = cpu_target(workload)
        manifests = unit_manifests(
            workload,
            self.options,
            token=token,
            minted_at=written.token_at if token else None,
            cpu_target=target,
        )
        if manifests.hpa is not None:
            manifests = UnitManifests(
                manifests.deployment,
                manifests.service,
                manifests.secret,
                manifests.pdb,
                hpa_manifest(
                    workload, self.options, cpu_target=target or 0.0, min_replicas=replicas
                ),
                manifests.spec_hash,
            )

        def write() -> None:
            owner = self.api.apply(manifests.deployment)
            for obj in manifests.owned():
                self.api.apply(_owned_by(obj, owner))
            if manifests.hpa is None:
                self.api.delete("HorizontalPodAutoscaler", object_name(workload.key))

        await self._call(write)
        written.spec_hash = plain.spec_hash
        written.env_hash = _env_hash(workload.env)
        written.written_at = self._monotonic()
        if manifests.hpa is not None:
            written.replicas = replicas

    async def _apply_secret(self, workload: Workload, written: _Written) -> None:
        token = await self._token(written)
        manifests = unit_manifests(
            workload, self.options, token=token, minted_at=written.token_at if token else None
        )
        await self._call(self._apply_owned, workload.key, manifests.secret)
        written.env_hash = _env_hash(workload.env)

    def _apply_owned(self, key: UnitKey, obj: Obj) -> None:
        owner = self._deployment(key)
        self.api.apply(_owned_by(obj, owner) if owner is not None else obj)

    async def _scale_to_zero(self, workload: Workload) -> None:
        key = workload.key
        deployment = self._deployment(key)
        written = self._written.get(key)
        if deployment is None and written is None:
            return  # nothing was ever placed
        if written is None:
            written = self._written.setdefault(key, _Written())
        settled = self._monotonic() - written.written_at >= self._settle
        current = _replicas(deployment)
        if written.replicas == 0 and (current in (0, None) or not settled):
            return
        if cpu_target(workload) is not None:
            # An HPA keeps at least one replica: it goes while the endpoint sleeps or stops.
            await self._call(self.api.delete, "HorizontalPodAutoscaler", object_name(key))
        if deployment is not None or written.spec_hash:
            await self._call(self.api.scale, object_name(key), 0)
        written.replicas = 0
        written.written_at = self._monotonic()

    # The cache -----------------------------------------------------------------------

    def _deployment(self, key: UnitKey) -> Obj | None:
        name = object_name(key)
        for obj in self._objects["deployments"].values():
            if obj["metadata"].get("name") == name:
                return obj
        return None

    async def _follow(self, kind: Kind) -> None:
        loop = asyncio.get_running_loop()

        def handle(event: str, obj: Obj) -> None:
            loop.call_soon_threadsafe(self._on_event, kind, event, obj)

        while not self._closed:
            try:
                items, version = await asyncio.to_thread(self.api.list_kind, kind, MANAGED_SELECTOR)
                self._replace(kind, items)
                while not self._closed:
                    version = await _in_daemon_thread(
                        f"watch {kind}",
                        functools.partial(
                            self.api.watch_kind,
                            kind,
                            MANAGED_SELECTOR,
                            version,
                            handle,
                            timeout_seconds=self.options.watch_timeout,
                        ),
                    )
            except WatchExpired as exc:
                log.info("watch of %s expired (%s): listing again", kind, exc)
            except WaypostError as exc:
                if self._closed:
                    return
                log.warning("watching %s failed: %s; retrying", kind, exc.message)
                await asyncio.sleep(self._retry_delay)
            except Exception:  # urllib3 / socket errors when the connection breaks
                if self._closed:
                    return
                log.exception("watching %s broke; retrying", kind)
                await asyncio.sleep(self._retry_delay)

    def _replace(self, kind: Kind, items: list[Obj]) -> None:
        self.lists[kind] += 1
        self._objects[kind] = {_uid(obj): obj for obj in items}
        if kind == "pods":
            alive = set(self._objects["pods"])
            self._ever_ready &= alive
            self._ever_ready |= newly_ready(items)
        self._synced[kind].set()
        self._seen = None
        self.changed.set()

    def _on_event(self, kind: Kind, event: str, obj: Obj) -> None:
        uid = _uid(obj)
        if event == "DELETED":
            self._objects[kind].pop(uid, None)
            self._ever_ready.discard(uid)
        elif event in ("ADDED", "MODIFIED"):
            self._objects[kind][uid] = obj
            if kind == "pods":
                self._ever_ready |= newly_ready([obj])
        self._seen = None
        self.changed.set()


async def _in_daemon_thread(name: str, fn: Callable[[], str]) -> str:
    """``fn()`` in a daemon thread of its own. A watch blocks in a socket read until the
    server ends it; the event loop's default executor would make loop shutdown wait for
    that, while a daemon thread is simply left to finish (``close`` shuts its socket)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[str] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not done.done():
            outcome()

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:  # handed to the awaiting task
            error = exc
            call = lambda: settle(lambda: done.set_exception(error))  # noqa: E731
        else:
            call = lambda: settle(lambda: done.set_result(result))  # noqa: E731
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
            loop.call_soon_threadsafe(call)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await done


def _uid(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")


def _annotation(obj: Obj | None, name: str) -> str | None:
    if obj is None:
        return None
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(name)
    return None if value is None else str(value)


def _replicas(deployment: Obj | None) -> int | None:
    if deployment is None:
        return None
    return int((deployment.get("spec") or {}).get("replicas", 1) or 0)


def _env_hash(env: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(env.items())).encode()).hexdigest()


def _owned_by(obj: Obj, owner: Obj) -> Obj:
    if not (owner.get("metadata") or {}).get("uid"):
        return obj
    return with_owner(obj, {**owner, "apiVersion": "apps/v1", "kind": "Deployment"})
