"""Use cases of the control plane. The API routes are thin wrappers around these.

The store is synchronous (SQLAlchemy); every call goes through ``_db`` so the
event loop never blocks on the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from waypost.control.aliases import Aliases, file_alias_clash
from waypost.control.blobs import BundleStore
from waypost.control.bundles import config_from_bundle
from waypost.control.gateways import GatewayRegistry
from waypost.control.history import History
from waypost.control.models import ModelLibrary
from waypost.control.routing import (
    AliasInput,
    EndpointInput,
    build_snapshot,
    ready_addresses,
    token_grants,
)
from waypost.control.secrets import ProjectSecrets, SecretBox
from waypost.control.traffic import TrafficBook
from waypost.control.watch import ChangeSignal
from waypost.errors import InvalidSpec, Problem, TooLarge
from waypost.model.lifecycle import EndpointState
from waypost.model.names import name_problems
from waypost.model.report import GatewayReport
from waypost.model.routes import LogSink, RouteSnapshot, TokenGrant
from waypost.model.spec import EndpointSpec
from waypost.settings import Settings
from waypost.store import Store, VersionRecord

__all__ = ["ControlService", "check_names", "parse_project"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class _SnapshotCache:
    revision: int = -1
    snapshot: RouteSnapshot | None = None


class ControlService:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        bundles: BundleStore,
        changes: ChangeSignal,
        *,
        traffic: TrafficBook | None = None,
        on_waiting: Callable[[], None] = lambda: None,
        secret_box: SecretBox | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.bundles = bundles
        self.changes = changes
        self._snapshot = _SnapshotCache()
        self._snapshot_lock = asyncio.Lock()
        self.gateways = GatewayRegistry()
        self.traffic = traffic if traffic is not None else TrafficBook()
        #: The last hour of traffic per endpoint, for the console's charts.
        self.history = History()
        #: Called when an endpoint needs waking (the reconciler's ``poke``, in ``waypost up``).
        self.on_waiting = on_waiting
        self.aliases = Aliases(store, changes, self.traffic)
        #: The key is made in the home on first use, so a default box costs nothing.
        box = secret_box if secret_box is not None else SecretBox.in_home(settings.home)
        self.secrets = ProjectSecrets(store, box)
        self.models = ModelLibrary(
            store, settings.models_dir, max_bytes=settings.limits.model_bytes
        )

    async def db(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- versions ---------------------------------------------------------------------------

    async def create_version(
        self,
        org: str,
        project: str,
        deployment: str,
        data: bytes,
        *,
        branch: str | None,
        actor: str,
    ) -> VersionRecord:
        check_names(org=org, project=project, deployment=deployment)
        await self.db(file_alias_clash, self.store, org, project, deployment)
        if len(data) > self.settings.limits.bundle_bytes:
            raise TooLarge(
                f"the bundle is {len(data)} bytes; the limit is {self.settings.limits.bundle_bytes}"
            )
        config = await asyncio.to_thread(config_from_bundle, data, deployment=deployment)
        spec = next((d for d in config.deployments if d.name == deployment), None)
        if spec is None:
            declared = ", ".join(d.name for d in config.deployments) or "none"
            raise InvalidSpec.of(
                [
                    Problem(
                        f"the bundle declares no deployment {deployment!r} (declared: {declared})"
                    )
                ]
            )
        if not spec.endpoints:
            raise InvalidSpec.of([Problem(f"deployment {deployment!r} declares no endpoints")])
        self._check_limits(spec.endpoints)
        digest, _ = await asyncio.to_thread(self.bundles.save, data)
        record = await self.db(
            self.store.create_version,
            org,
            project,
            deployment,
            branch=branch or spec.branch,
            bundle_digest=digest,
            bundle_size=len(data),
            endpoints=spec.endpoints,
            actor=actor,
        )
        self.changes.notify()
        return record

    def _check_limits(self, endpoints: tuple[EndpointSpec, ...]) -> None:
        limits = self.settings.limits
        problems = [
            problem
            for spec in endpoints
            for problem in limits.replica_problems(
                spec.replicas.min, spec.replicas.max, f"{spec.name}.replicas"
            )
        ]
        for spec in endpoints:
            if spec.resources.preset is not None:
                try:
                    self.settings.resource(spec.resources.preset)
                except InvalidSpec as exc:
                    problems.append(Problem(exc.message, field=f"{spec.name}.resources.preset"))
        if problems:
            raise InvalidSpec.of(problems)

    # -- traffic from gateways ---------------------------------------------------------------

    def record_traffic(self, report: GatewayReport, now: float) -> None:
        """Take a gateway's report; a newly waiting endpoint pokes the reconciler to wake it."""
        before = self.traffic.waiting(now)
        self.traffic.add(report, now)
        self.history.add(report, now, self._snapshot.snapshot)
        if any(key not in before for key in report.waiting):
            self.on_waiting()

    # -- routes for gateways ----------------------------------------------------------------

    async def snapshot(self) -> RouteSnapshot:
        async with self._snapshot_lock:
            revision = await self.db(self.store.route_revision)
            cached = self._snapshot
            if cached.snapshot is not None and cached.revision == revision:
                return cached.snapshot
            endpoints, aliases, sinks, grants, revision = await self.db(self._read_routing)
            snapshot = build_snapshot(revision, endpoints, aliases, sinks, grants)
            self._snapshot = _SnapshotCache(revision, snapshot)
            return snapshot

    def _read_routing(
        self,
    ) -> tuple[list[EndpointInput], list[AliasInput], list[LogSink], tuple[TokenGrant, ...], int]:
        revision = self.store.route_revision()
        endpoints = [
            EndpointInput(
                org=ep.key.org,
                project=ep.key.project,
                deployment=ep.key.deployment,
                version=ep.key.version,
                name=ep.key.endpoint,
                state=ep.state,
                ever_ready=ep.ever_ready,
                visibility=ep.spec.visibility,
                strip_prefix=ep.spec.strip_prefix,
                traffic=ep.spec.traffic,
                ready=ready_addresses((r.replica_id, r.phase, r.address) for r in ep.replicas)
                if ep.state is EndpointState.RUNNING
                else (),
            )
            for ep in self.store.list_endpoints()
        ]
        aliases: list[AliasInput] = []
        for project in self.store.list_projects():
            aliases.extend(
                AliasInput(a.org, a.project, a.deployment, a.name, a.policy)
                for a in self.store.list_aliases(project.org, project.name)
            )
        grants = token_grants(self.store.list_tokens())
        return endpoints, aliases, self.store.list_all_log_sinks(), grants, revision

    async def wait_for_routes(self, after: int, wait: float) -> RouteSnapshot | None:
        """The snapshot once its revision is past ``after``; None if ``wait`` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, min(wait, 60.0))
        while True:
            revision = await self.db(self.store.route_revision)
            if revision > after:
                return await self.snapshot()
            remaining = deadline - loop.time()
            if remaining <= 0 or self.changes.closed:
                return None
            # Writes in this process notify at once; the short timeout catches any other writer.
            await self.changes.wait(min(remaining, 0.5))


def parse_project(value: str) -> tuple[str, str]:
    """``ORG/PROJECT`` (as in ``?project=``) -> (org, project); InvalidSpec if it is not."""
    org, _, name = value.partition("/")
    if not org or not name or "/" in name:
        raise InvalidSpec.of([Problem(f"not ORG/PROJECT: {value!r}", field="project")])
    check_names(org=org, project=name)
    return org, name


def check_names(**names: str) -> None:
    problems = [
        Problem(message, field=what)
        for what, value in names.items()
        for message in name_problems(value, f"{what} name")
    ]
    if problems:
        raise InvalidSpec.of(problems)
