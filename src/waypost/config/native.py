"""waypost.yaml, the native format: a project, one deployment or several, and aliases.

One deployment::

    project: acme/shop
    deployment: churn-model      # default: the deployment_name asked for, else the folder
    endpoints: [...]
    aliases: [...]

Several: ``deployments: [{name, branch, description, endpoints}]`` instead of the
top-level ``deployment``/``branch``/``description``/``endpoints``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from waypost.config.endpoints import native_endpoint
from waypost.config.modelbit import alias_name_problems, check_policy, target_of
from waypost.config.problems import FileProblems
from waypost.config.project import ProjectConfig
from waypost.config.schema import DeploymentShape, NativeAliasShape, WaypostFileShape
from waypost.config.yaml_nodes import Path
from waypost.model.names import name_problems
from waypost.model.policy import AliasPolicy, AliasSpec, Backend, Mirror
from waypost.model.spec import DeploymentSpec, EndpointSpec

__all__ = ["parse_waypost_yaml"]

_EXPECTED = "a mapping with project:, endpoints: (or deployments:) and aliases:"
_SINGLE_KEYS = ("deployment", "branch", "description", "endpoints")


@dataclass(frozen=True)
class _Declared:
    """A deployment as written: where its name is, and the name it ends up with."""

    written: str | None
    final: str
    spec: DeploymentSpec | None  # None when its endpoints have problems


def parse_waypost_yaml(
    text: str,
    *,
    file: str = "waypost.yaml",
    folder: FsPath | None = None,
    deployment_name: str | None = None,
) -> ProjectConfig:
    """The project in one waypost.yaml. ``folder`` (when known) is where relative paths
    are checked and whose name a nameless deployment takes; ``deployment_name`` renames
    the deployment of the one-deployment form, and must be one of the several otherwise.

    Raises ``InvalidSpec`` with every problem in the file.
    """
    problems = FileProblems(file)
    doc = problems.load(text)
    if doc is None or not problems.top_level(doc, dict, _EXPECTED):
        problems.fail()
    data: dict[Any, Any] = doc.data
    problems.validate(WaypostFileShape, data, ())
    project = _project(data.get("project"), problems)
    if data.get("deployments") is not None:
        declared = _several(data, problems, folder, deployment_name)
    elif data.get("endpoints") is not None or data.get("deployment") is not None:
        declared = [_single(data, problems, folder, deployment_name)]
    else:
        declared = []
    aliases = _aliases(data.get("aliases"), declared, problems)
    if problems:
        problems.fail()
    return ProjectConfig(
        project=project,
        deployments=tuple(d.spec for d in declared if d.spec is not None),
        aliases=tuple(aliases),
        sources=(file,),
    )


def _project(raw: object, problems: FileProblems) -> str | None:
    if not isinstance(raw, str):
        return None
    parts = raw.split("/")
    if len(parts) != 2:
        problems.add(("project",), f"project must be organization/project, not {raw!r}")
        return None
    for part, what in zip(parts, ("organization name", "project name"), strict=True):
        for message in name_problems(part, what):
            problems.add(("project",), message)
    return raw


def _single(
    data: Mapping[Any, Any],
    problems: FileProblems,
    folder: FsPath | None,
    deployment_name: str | None,
) -> _Declared:
    written = data.get("deployment") if isinstance(data.get("deployment"), str) else None
    if written is not None:
        for message in name_problems(written, "deployment name"):
            problems.add(("deployment",), message)
    final = deployment_name or written
    if final is None:
        final = default_name(folder, problems)
    elif deployment_name is not None:
        for message in name_problems(deployment_name, "deployment name"):
            problems.at(1, 1, f"{message} (the deployment name asked for)")
    raw_endpoints = data.get("endpoints")
    if raw_endpoints is None:
        problems.add(
            ("deployment",),
            f"deployment {final!r} declares no endpoints; add endpoints:",
            key=True,
        )
        return _Declared(written, final, None)
    endpoints = _endpoints(raw_endpoints, ("endpoints",), problems, folder)
    branch, description = data.get("branch"), data.get("description")
    spec = DeploymentSpec(
        name=final,
        endpoints=tuple(endpoints or ()),
        branch=branch if isinstance(branch, str) else "main",
        description=description if isinstance(description, str) else None,
    )
    return _Declared(written, final, spec if endpoints is not None else None)


def default_name(
    folder: FsPath | None, problems: FileProblems, how: str = "write deployment: NAME"
) -> str:
    """The folder's name as the deployment name (a problem when it cannot be one);
    ``how`` tells the user how to name the deployment instead."""
    if folder is None or not folder.name:
        problems.at(1, 1, f"no deployment name: {how}")
        return ""
    name = folder.name
    for message in name_problems(name, "deployment name"):
        problems.at(
            1, 1, f"the folder name {name!r} cannot be the deployment name: {message}; {how}"
        )
    return name


def _several(
    data: Mapping[Any, Any],
    problems: FileProblems,
    folder: FsPath | None,
    deployment_name: str | None,
) -> list[_Declared]:
    for key in _SINGLE_KEYS:
        if data.get(key) is not None:
            problems.add(
                (key,),
                f"{key}: belongs inside one entry of deployments:, not next to it",
                key=True,
            )
    raw = data["deployments"]
    if not isinstance(raw, list):
        return []  # the shape said what it should be
    if not raw:
        problems.add(("deployments",), "deployments: must list at least one deployment")
    declared: list[_Declared] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        path = ("deployments", index)
        shape = problems.validate(DeploymentShape, item, path)
        name = item.get("name") if isinstance(item, Mapping) else None
        if isinstance(name, str):
            for message in name_problems(name, "deployment name"):
                problems.add((*path, "name"), message)
            if name in seen:
                problems.add((*path, "name"), f"two deployments are named {name!r}")
            seen.add(name)
        raw_endpoints = item.get("endpoints") if isinstance(item, Mapping) else None
        endpoints = _endpoints(raw_endpoints, (*path, "endpoints"), problems, folder)
        if shape is None or endpoints is None:
            if isinstance(name, str):
                declared.append(_Declared(name, name, None))
            continue
        spec = DeploymentSpec(shape.name, tuple(endpoints), shape.branch, shape.description)
        declared.append(_Declared(shape.name, shape.name, spec))
    if deployment_name is not None and deployment_name not in seen:
        listed = ", ".join(sorted(seen)) or "none"
        problems.add(
            ("deployments",),
            f"no deployment here is named {deployment_name!r} (declared: {listed})",
            key=True,
        )
    return declared


def _endpoints(
    raw: object, path: Path, problems: FileProblems, folder: FsPath | None
) -> list[EndpointSpec] | None:
    """The endpoints at ``path``; ``None`` if any has a problem."""
    if not isinstance(raw, list):
        return None  # the shape said what it should be
    if not raw:
        problems.add(path, "a deployment needs at least one endpoint")
        return None
    specs: list[EndpointSpec] = []
    failed = False
    seen: set[str] = set()
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, Mapping) else None
        if isinstance(name, str):
            if name in seen:
                problems.add((*path, index, "name"), f"two endpoints are named {name!r}")
                failed = True
            seen.add(name)
        spec = native_endpoint(item, (*path, index), problems, folder)
        if spec is None:
            failed = True
        else:
            specs.append(spec)
    return None if failed else specs


def _aliases(raw: object, declared: list[_Declared], problems: FileProblems) -> list[AliasSpec]:
    if not isinstance(raw, list):
        return []
    aliases: list[AliasSpec] = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(raw):
        path = ("aliases", index)
        shape = problems.validate(NativeAliasShape, item, path)
        check_policy(item, path, problems, short_form=True)
        if not isinstance(item, Mapping):
            continue
        name = item.get("name")
        if isinstance(name, str):
            for message in alias_name_problems(name):
                problems.add((*path, "name"), message)
        deployment = _alias_deployment(item, path, declared, problems)
        if isinstance(name, str) and deployment is not None:
            if (deployment, name) in seen:
                problems.add(
                    (*path, "name"), f"deployment {deployment!r} has two aliases named {name!r}"
                )
            seen.add((deployment, name))
        if shape is None or deployment is None:
            continue
        policy = AliasPolicy(
            backends=tuple(
                Backend(key, target_of(b.deployment, b.version, b.endpoint), b.weight)
                for key, b in shape.backends.items()
            ),
            mirrors=tuple(
                Mirror(key, target_of(m.deployment, m.version, m.endpoint))
                for key, m in (shape.mirrors or {}).items()
            ),
            sticky=shape.sticky,
        )
        aliases.append(AliasSpec(shape.name, deployment, policy, source=problems.file))
    return aliases


def _alias_deployment(
    item: Mapping[Any, Any], path: Path, declared: list[_Declared], problems: FileProblems
) -> str | None:
    """The (final) name of the deployment the alias lives on."""
    given = item.get("deployment")
    if given is None:
        if len(declared) == 1:
            return declared[0].final
        problems.add(
            path,
            "say which deployment this alias is on with deployment: NAME"
            + (" (this file declares several)" if declared else ""),
        )
        return None
    if not isinstance(given, str):
        return None  # the shape said what it should be
    for entry in declared:
        if given in (entry.written, entry.final):
            return entry.final
    if declared:
        listed = ", ".join(sorted({d.final for d in declared}))
        problems.add(
            (*path, "deployment"),
            f"deployment {given!r} is not declared in this file (declared: {listed})",
        )
        return None
    for message in name_problems(given, "deployment name"):
        problems.add((*path, "deployment"), message)
    # A file of aliases only may put them on deployments declared elsewhere.
    return given
