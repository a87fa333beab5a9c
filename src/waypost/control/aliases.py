"""Aliases and log sinks: the rules a policy must follow, and the use cases around them.

The rules are pure functions of an ``AliasSpec`` and ``ProjectFacts`` (the deployments,
versions and endpoints of the project), one ``Problem`` per broken rule, each naming
its field (``backends.control.version``). ``Aliases`` reads the facts, checks every
alias of a request against them and only then writes them all in one store transaction,
so nothing is half-applied. Live counts per backend come from ``alias_stats``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from waypost.config.modelbit import alias_name_problems
from waypost.control.alias_facts import AliasLive, ProjectFacts, alias_stats
from waypost.control.log_sinks import log_sink_problems
from waypost.control.traffic import TrafficBook
from waypost.control.watch import ChangeSignal
from waypost.errors import Conflict, InvalidSpec, NotFound, Problem
from waypost.model.names import endpoint_name_problems
from waypost.model.policy import AliasPolicy, AliasSpec, Backend, Mirror, Target
from waypost.store import AliasRecord, EventRecord, Store

__all__ = [
    "AliasView",
    "Aliases",
    "BackendInput",
    "MirrorInput",
    "alias_problems",
    "batch_problems",
    "build_policy",
    "default_member_name",
    "file_alias_clash",
]

_STICKY = re.compile(r"^(header|cookie):[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Backend and mirror names show up in request logs and headers: keep them plain tokens.
_MEMBER_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# -- building a policy from a request ----------------------------------------------------


@dataclass(frozen=True)
class BackendInput:
    name: str | None  # None: named after its target (``v3``, ``latest``, ``other-v3``)
    target: Target
    weight: int = 1


@dataclass(frozen=True)
class MirrorInput:
    name: str | None
    target: Target


def default_member_name(target: Target, alias_deployment: str | None) -> str:
    """``v3`` or ``latest``, after ``DEPLOYMENT-`` when the target is another deployment."""
    base = "latest" if target.version == "latest" else f"v{target.version}"
    other = target.deployment is not None and target.deployment != alias_deployment
    return f"{target.deployment}-{base}" if other else base


def build_policy(
    alias_deployment: str | None,
    backends: Sequence[BackendInput],
    mirrors: Sequence[MirrorInput] = (),
    sticky: str | None = None,
) -> AliasPolicy:
    """The policy a request asks for; names left out are made from the targets."""
    return AliasPolicy(
        backends=tuple(
            Backend(b.name or default_member_name(b.target, alias_deployment), b.target, b.weight)
            for b in backends
        ),
        mirrors=tuple(
            Mirror(m.name or default_member_name(m.target, alias_deployment), m.target)
            for m in mirrors
        ),
        sticky=sticky,
    )


# -- the rules ----------------------------------------------------------------------------


def alias_problems(spec: AliasSpec, facts: ProjectFacts) -> list[Problem]:
    """Every rule ``spec`` breaks, given what the project has."""
    problems = [Problem(m, field="name") for m in alias_name_problems(spec.name)]
    own = spec.deployment
    if own is not None and own not in facts.versions:
        problems.append(Problem(facts.no_deployment(own), field="deployment"))
    if own is None and spec.name in facts.versions:
        problems.append(
            Problem(
                f"{spec.name!r} is a name used both as a deployment and as an alias file; "
                "rename the alias file",
                field="name",
            )
        )
    policy = spec.policy
    problems += _member_problems(policy)
    if not policy.backends:
        problems.append(Problem("an alias needs at least one backend", field="backends"))
    for b in policy.backends:
        if b.weight < 0:
            problems.append(
                Problem(
                    f"weight must be 0 or more, not {b.weight}", field=f"backends.{b.name}.weight"
                )
            )
    if policy.backends and all(b.weight >= 0 for b in policy.backends) and not policy.total_weight:
        problems.append(
            Problem(
                "the backends' weights add up to 0, so no request could be sent anywhere; "
                "give at least one backend a weight above 0",
                field="backends",
            )
        )
    # The alias's own deployment being missing is said once above, not again per target.
    own_known = own is None or own in facts.versions
    for kind, name, target in _targets(policy):
        if target.deployment is None and not own_known:
            continue
        problems += _target_problems(f"{kind}.{name}", target, own, facts)
    if policy.sticky is not None and not _STICKY.match(policy.sticky):
        problems.append(
            Problem(f"must be header:NAME or cookie:NAME, not {policy.sticky!r}", field="sticky")
        )
    return problems


def batch_problems(specs: Sequence[AliasSpec], facts: ProjectFacts) -> list[Problem]:
    """The problems of every alias of one apply, each naming its alias (and its file)."""
    problems: list[Problem] = []
    seen: set[tuple[str | None, str]] = set()
    for spec in specs:
        label = f"{spec.deployment or '-'}/{spec.name}"
        if (spec.deployment, spec.name) in seen:
            problems.append(
                Problem(f"alias {label} is given more than once", file=spec.source, field=label)
            )
        seen.add((spec.deployment, spec.name))
        problems += [
            Problem(p.message, file=spec.source, field=f"{label}: {p.field}")
            for p in alias_problems(spec, facts)
        ]
    return problems


def _targets(policy: AliasPolicy) -> Iterable[tuple[str, str, Target]]:
    for b in policy.backends:
        yield "backends", b.name, b.target
    for m in policy.mirrors:
        yield "mirrors", m.name, m.target


def _member_problems(policy: AliasPolicy) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for kind, name, _ in _targets(policy):
        what = "backend" if kind == "backends" else "mirror"
        if not _MEMBER_NAME.match(name):
            problems.append(
                Problem(
                    f"{what} name {name!r} must be 1-64 letters, digits, '-', '_' or '.'",
                    field=f"{kind}.{name}",
                )
            )
        if name in seen:
            problems.append(
                Problem(
                    f"{name!r} names two backends or mirrors; give each a name of its own",
                    field=f"{kind}.{name}",
                )
            )
        seen.add(name)
    return problems


def _target_problems(
    where: str, target: Target, own: str | None, facts: ProjectFacts
) -> list[Problem]:
    deployment = target.deployment or own
    if deployment is None:
        message = "a backend or mirror of an alias file must name its deployment"
        return [Problem(message, field=f"{where}.deployment")]
    if not target.branch.strip():
        return [Problem("branch must not be empty", field=f"{where}.branch")]
    versions = facts.versions.get(deployment)
    if versions is None:
        return [Problem(facts.no_deployment(deployment), field=f"{where}.deployment")]
    if target.version == "latest":
        if not versions:
            message = f"deployment {deployment!r} has no versions yet, so latest points nowhere"
            return [Problem(message, field=f"{where}.version")]
        # ``latest`` moves to the newest version: that is the one whose endpoints count.
        number = max(versions)
    else:
        number = target.version
        if number not in versions:
            listed = ", ".join(str(v) for v in sorted(versions)) or "none"
            return [
                Problem(
                    f"deployment {deployment!r} has no version {number} (versions: {listed})",
                    field=f"{where}.version",
                )
            ]
    if target.endpoint is None:
        return []
    endpoint_problems = endpoint_name_problems(target.endpoint)
    if endpoint_problems:
        return [Problem(m, field=f"{where}.endpoint") for m in endpoint_problems]
    names = versions[number]
    if target.endpoint not in names:
        listed = ", ".join(sorted(names)) or "none"
        return [
            Problem(
                f"version {number} of {deployment!r} has no endpoint {target.endpoint!r} "
                f"(endpoints: {listed})",
                field=f"{where}.endpoint",
            )
        ]
    return []


def file_alias_clash(store: Store, org: str, project: str, deployment: str) -> None:
    """Refuse a new deployment named like an alias file of its project (Conflict).

    Synchronous (it reads the store): the service runs it in its thread pool.
    """
    try:
        store.get_alias(org, project, None, deployment)
    except NotFound:
        return
    if any(d.name == deployment for d in store.list_deployments(org, project)):
        return  # an existing deployment gets new versions whatever the aliases are
    raise Conflict(
        f"{deployment!r} is a name used both as a deployment and as an alias file: project "
        f"{org}/{project} has an alias file {deployment!r}; delete it or choose another "
        "deployment name"
    )


# -- use cases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AliasView:
    """An alias with its live counts, ready for ``views.alias_json``."""

    record: AliasRecord
    live: AliasLive
    changed: bool = False


class Aliases:
    """What the API does with aliases and log sinks. Store calls run in threads; the
    traffic book and the change signal are touched only on the event loop."""

    def __init__(self, store: Store, changes: ChangeSignal, traffic: TrafficBook) -> None:
        self._store = store
        self._changes = changes
        self._traffic = traffic

    async def list_aliases(self, org: str, project: str, now: float) -> list[AliasView]:
        records, facts = await asyncio.to_thread(self._read_all, org, project)
        return [self._view(r, facts, now) for r in records]

    async def get(
        self, org: str, project: str, deployment: str | None, name: str, now: float
    ) -> AliasView:
        record, facts = await asyncio.to_thread(self._read_one, org, project, deployment, name)
        return self._view(record, facts, now)

    async def set(
        self, org: str, project: str, spec: AliasSpec, *, actor: str, now: float
    ) -> AliasView:
        """Create or replace one alias after checking it against the project."""
        [view] = await self._apply(org, project, [spec], actor, now, labelled=False)
        return view

    async def apply(
        self, org: str, project: str, specs: Sequence[AliasSpec], *, actor: str, now: float
    ) -> list[AliasView]:
        """Check every alias, then write them all in one transaction (or none)."""
        return await self._apply(org, project, specs, actor, now, labelled=True)

    async def _apply(
        self,
        org: str,
        project: str,
        specs: Sequence[AliasSpec],
        actor: str,
        now: float,
        *,
        labelled: bool,
    ) -> list[AliasView]:
        written, facts = await asyncio.to_thread(self._write, org, project, specs, actor, labelled)
        if any(changed for _, changed in written):
            self._changes.notify()
        return [self._view(r, facts, now, changed) for r, changed in written]

    async def delete(
        self, org: str, project: str, deployment: str | None, name: str, *, actor: str
    ) -> None:
        await asyncio.to_thread(
            self._store.delete_alias, org, project, deployment, name, actor=actor
        )
        self._changes.notify()

    async def history(
        self, org: str, project: str, deployment: str | None, name: str
    ) -> list[EventRecord]:
        """Every change of one alias, oldest first (also after it was deleted)."""
        found = await asyncio.to_thread(self._store.alias_history, org, project, name)
        mine = [e for e in found if e.deployment == deployment]
        if not mine:
            where = f"deployment {deployment} of " if deployment else ""
            raise NotFound(f"there is no alias {name} on {where}project {org}/{project}")
        return mine

    async def log_sinks(self, org: str, project: str) -> list[str]:
        return await asyncio.to_thread(self._store.get_log_sinks, org, project)

    async def set_log_sinks(
        self, org: str, project: str, urls: Sequence[str], *, actor: str
    ) -> list[str]:
        problems = log_sink_problems(urls)
        if problems:
            raise InvalidSpec.of(problems)
        stored = await asyncio.to_thread(self._store.set_log_sinks, org, project, urls, actor=actor)
        # Gateways re-read the table only if the revision moved: a spare wake-up is harmless.
        self._changes.notify()
        return stored

    # -- in the thread pool ----------------------------------------------------------------

    def _facts(self, org: str, project: str) -> ProjectFacts:
        return ProjectFacts.of(
            f"{org}/{project}",
            self._store.list_deployments(org, project),
            self._store.list_endpoints(org=org, project=project),
        )

    def _read_all(self, org: str, project: str) -> tuple[list[AliasRecord], ProjectFacts]:
        return self._store.list_aliases(org, project), self._facts(org, project)

    def _read_one(
        self, org: str, project: str, deployment: str | None, name: str
    ) -> tuple[AliasRecord, ProjectFacts]:
        return self._store.get_alias(org, project, deployment, name), self._facts(org, project)

    def _write(
        self, org: str, project: str, specs: Sequence[AliasSpec], actor: str, labelled: bool
    ) -> tuple[list[tuple[AliasRecord, bool]], ProjectFacts]:
        facts = self._facts(org, project)
        problems = (
            batch_problems(specs, facts)
            if labelled
            else [p for spec in specs for p in alias_problems(spec, facts)]
        )
        if problems:
            raise InvalidSpec.of(problems)
        items = [(s.deployment, s.name, s.policy) for s in specs]
        return self._store.set_aliases(org, project, items, actor=actor), facts

    # -- on the loop -------------------------------------------------------------------------

    def _view(
        self, record: AliasRecord, facts: ProjectFacts, now: float, changed: bool = False
    ) -> AliasView:
        return AliasView(record, alias_stats(record, facts, self._traffic, now), changed)
