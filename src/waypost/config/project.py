"""``ProjectConfig``: everything a project folder declares, as ``waypost.model`` values."""

from __future__ import annotations

from dataclasses import dataclass

from waypost.model.policy import AliasSpec
from waypost.model.spec import DeploymentSpec

__all__ = ["ProjectConfig"]


@dataclass(frozen=True)
class ProjectConfig:
    #: ``organization/project`` from waypost.yaml's ``project:``; ``None`` when not given.
    project: str | None
    deployments: tuple[DeploymentSpec, ...]
    aliases: tuple[AliasSpec, ...]
    #: the config files read, relative to the folder: ``("waypost.yaml", "endpoints/ab.yaml")``
    sources: tuple[str, ...]

    def deployment(self, name: str) -> DeploymentSpec | None:
        return next((d for d in self.deployments if d.name == name), None)
