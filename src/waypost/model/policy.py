"""Alias policies: named weighted ``backends`` and ``mirrors`` (Modelbit ``endpoints/*.yaml``).

A one-backend policy is a plain alias. A target is a version (a number or
``latest``) of a deployment of the same project, optionally one endpoint of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["AliasPolicy", "AliasSpec", "Backend", "Mirror", "Target", "VersionRef"]

VersionRef = int | Literal["latest"]


@dataclass(frozen=True)
class Target:
    #: ``None``: the deployment the alias belongs to.
    deployment: str | None
    version: VersionRef
    endpoint: str | None = None
    branch: str = "main"


@dataclass(frozen=True)
class Backend:
    name: str
    target: Target
    weight: int = 1


@dataclass(frozen=True)
class Mirror:
    name: str
    target: Target


@dataclass(frozen=True)
class AliasPolicy:
    backends: tuple[Backend, ...]
    mirrors: tuple[Mirror, ...] = ()
    #: ``header:NAME`` or ``cookie:NAME``: the same key always gets the same backend.
    sticky: str | None = None

    @property
    def total_weight(self) -> int:
        return sum(b.weight for b in self.backends)

    def to_json(self) -> dict[str, Any]:
        def target(t: Target) -> dict[str, Any]:
            return {
                "deployment": t.deployment,
                "version": t.version,
                "endpoint": t.endpoint,
                "branch": t.branch,
            }

        return {
            "backends": [
                {"name": b.name, "weight": b.weight, "target": target(b.target)}
                for b in self.backends
            ],
            "mirrors": [{"name": m.name, "target": target(m.target)} for m in self.mirrors],
            "sticky": self.sticky,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AliasPolicy:
        return cls(
            backends=tuple(
                Backend(b["name"], Target(**b["target"]), b["weight"]) for b in data["backends"]
            ),
            mirrors=tuple(Mirror(m["name"], Target(**m["target"])) for m in data["mirrors"]),
            sticky=data.get("sticky"),
        )


@dataclass(frozen=True)
class AliasSpec:
    """An alias as declared. ``deployment`` is ``None`` for a Modelbit endpoint file,
    whose name takes the deployment's place in the URL (``/{org}/{project}/{name}/latest/...``)."""

    name: str
    deployment: str | None
    policy: AliasPolicy
    source: str | None = None  # the file it came from, for error messages
