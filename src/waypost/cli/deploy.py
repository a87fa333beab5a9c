"""``waypost deploy``: validate locally, bundle, upload, and wait until every endpoint settles.

Validation happens here first so that a broken file is reported with its line and
column before anything is sent; the server validates the uploaded bundle again,
since what runs is what was uploaded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from waypost.cli.bundle import make_bundle
from waypost.cli.client import ApiClient
from waypost.cli.render import STATE_STYLES, err
from waypost.config import ProjectConfig, load_folder
from waypost.errors import InvalidSpec, Problem

__all__ = ["DeployOutcome", "deploy_folder", "split_project"]

SETTLED_OK = frozenset({"Running", "Sleeping"})
#: How long a deploy waits, after Running, for the gateways to serve the new routes.
ROUTED_WITHIN = 10.0
SETTLED_BAD = frozenset({"BuildingFailed", "DeployFailed", "RuntimeError", "Stopped"})


@dataclass(frozen=True)
class DeployOutcome:
    project: str
    deployment: str
    version: int
    endpoints: tuple[Mapping[str, Any], ...]

    @property
    def ok(self) -> bool:
        return all(ep["state"] in SETTLED_OK for ep in self.endpoints)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "deployment": self.deployment,
            "version": self.version,
            "endpoints": [
                {"name": ep["name"], "state": ep["state"], "url": ep["url"], "reason": ep["reason"]}
                for ep in self.endpoints
            ],
        }


def split_project(value: str) -> tuple[str, str]:
    org, _, name = value.partition("/")
    if not org or not name or "/" in name:
        raise InvalidSpec.of([Problem(f"not ORG/PROJECT: {value!r}", field="--project")])
    return org, name


def deploy_folder(
    client: ApiClient,
    folder: Path,
    *,
    project: str | None,
    deployment: str | None,
    wait: bool,
    timeout: float,
    show_progress: bool,
) -> list[DeployOutcome]:
    if not folder.is_dir():
        raise InvalidSpec.of([Problem(f"{folder} is not a folder", field="PATH")])
    config = load_folder(folder, deployment_name=deployment)
    org, name = split_project(_project_of(config, project))
    targets = _deployments_to_deploy(config, deployment)
    bundle = make_bundle(folder, config.deployments)
    outcomes = []
    for target in targets:
        created = client.upload_bundle(
            f"/projects/{org}/{name}/deployments/{target}/versions", bundle.data, {}
        )
        version = int(created["version"])
        if wait:
            created = _wait(client, org, name, target, version, timeout, show_progress)
            if all(ep["state"] in SETTLED_OK for ep in created["endpoints"]):
                _wait_until_routed(client, deadline=time.monotonic() + ROUTED_WITHIN)
        outcomes.append(
            DeployOutcome(f"{org}/{name}", target, version, tuple(created["endpoints"]))
        )
    return outcomes


def _project_of(config: ProjectConfig, given: str | None) -> str:
    if given:
        return given
    if config.project:
        return config.project
    raise InvalidSpec.of(
        [Problem("no project: pass --project ORG/PROJECT or set `project:` in waypost.yaml")]
    )


def _deployments_to_deploy(config: ProjectConfig, deployment: str | None) -> Sequence[str]:
    names = [d.name for d in config.deployments]
    if deployment is None:
        return names
    if deployment not in names:
        declared = ", ".join(names) or "none"
        raise InvalidSpec.of(
            [Problem(f"no deployment {deployment!r} in the folder (declared: {declared})")]
        )
    return [deployment]


def _wait(
    client: ApiClient,
    org: str,
    project: str,
    deployment: str,
    version: int,
    timeout: float,
    show_progress: bool,
) -> Any:
    path = f"/projects/{org}/{project}/deployments/{deployment}/versions/{version}"
    deadline = time.monotonic() + timeout
    with _Progress(show_progress) as progress:
        while True:
            found = client.get(path)
            states = {ep["name"]: ep["state"] for ep in found["endpoints"]}
            progress.show(f"{org}/{project}/{deployment}/{version}", states)
            if all(s in SETTLED_OK | SETTLED_BAD for s in states.values()):
                return found
            if time.monotonic() > deadline:
                waiting = ", ".join(f"{n}: {s}" for n, s in states.items())
                raise TimeoutError(
                    f"version {version} did not settle within {timeout:.0f}s ({waiting})"
                )
            time.sleep(0.2)


def _wait_until_routed(client: ApiClient, *, deadline: float) -> None:
    """Return once every live gateway serves the routes as they are now (or at the deadline:
    a gateway that lags is the gateway's problem, not the deploy's)."""
    target = int(client.get("/internal/gateways")["revision"])
    while time.monotonic() < deadline:
        live = client.get("/internal/gateways")["gateways"]
        if live and all(int(g["revision"]) >= target for g in live):
            return
        time.sleep(0.05)
    err.print("[yellow]warning:[/] not every gateway serves the new version yet")


class _Progress:
    """One spinner line per endpoint, on stderr, so stdout stays for results."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        if enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=err,
                transient=False,
            )

    def __enter__(self) -> _Progress:
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._progress:
            self._progress.stop()

    def show(self, prefix: str, states: Mapping[str, str]) -> None:
        progress = self._progress
        if progress is None:
            return
        for name, state in states.items():
            style = STATE_STYLES.get(state, "")
            text = f"{prefix}/{name}  [{style}]{state}[/]"
            if name not in self._tasks:
                self._tasks[name] = progress.add_task(text, total=1)
            done = state in SETTLED_OK | SETTLED_BAD
            progress.update(self._tasks[name], description=text, completed=1 if done else 0)
