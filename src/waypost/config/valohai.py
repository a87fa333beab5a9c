"""valohai.yaml: its ``- endpoint:`` entries, accepted as Valohai writes them.

The file is a list of one-key entries (``- step:``, ``- pipeline:``, ``- endpoint:``,
``- task:`` ...); only endpoints are read, the rest only have to be mappings. All
endpoints become one deployment, named as asked or after the folder.

What Valohai's keys become (its schema, valohai-yaml ``schema/endpoint.yaml``):

- ``wsgi: module`` without ``:callable`` is ``module:application``, Gunicorn's default.
- ``server-command`` given as a list runs its commands one after another (``&&``).
- ``resources.cpu`` / ``resources.memory`` are ``{min, max}``; the limit taken is ``max``,
  else ``min``. Memory is in MB, read as MiB (2**20 bytes), the unit Kubernetes uses.
- ``resources.devices`` counts devices by name; ``<vendor>/gpu`` entries become the GPU
  count, any other device is a problem (waypost can place only GPUs).
- ``node-selector: key=value`` (several comma-separated) becomes a mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

from waypost.config.endpoints import default_requirements
from waypost.config.native import default_name
from waypost.config.problems import FileProblems, describe
from waypost.config.project import ProjectConfig
from waypost.config.schema import MinMaxShape, ValohaiEndpointShape, ValohaiResourcesShape
from waypost.config.yaml_nodes import Path
from waypost.model.names import endpoint_name_problems, name_problems
from waypost.model.spec import (
    DeploymentSpec,
    EndpointKind,
    EndpointSpec,
    FileBinding,
    Resources,
)

__all__ = ["parse_valohai_yaml"]

_EXPECTED = "a list of entries like - step: or - endpoint:"
_MIB = 2**20


def parse_valohai_yaml(
    text: str,
    *,
    file: str = "valohai.yaml",
    folder: FsPath | None = None,
    deployment_name: str | None = None,
) -> ProjectConfig:
    """One deployment of the file's endpoints, named ``deployment_name`` or after ``folder``.

    Raises ``InvalidSpec`` with every problem in the file.
    """
    problems = FileProblems(file)
    doc = problems.load(text)
    if doc is None or not problems.top_level(doc, list, _EXPECTED):
        problems.fail()
    if deployment_name is not None:
        name = deployment_name
        for message in name_problems(name, "deployment name"):
            problems.at(1, 1, f"{message} (the deployment name asked for)")
    else:
        name = default_name(folder, problems, "give the deployment a name when deploying")
    endpoints: list[EndpointSpec] = []
    seen: set[str] = set()
    found = 0
    for index, entry in enumerate(doc.data):
        if not isinstance(entry, Mapping):
            problems.add(
                (index,), f"each entry should be a mapping like - endpoint:, not {describe(entry)}"
            )
            continue
        if "endpoint" not in entry:
            continue
        found += 1
        path = (index, "endpoint")
        raw = entry["endpoint"]
        endpoint_name = raw.get("name") if isinstance(raw, Mapping) else None
        if isinstance(endpoint_name, str):
            if endpoint_name in seen:
                problems.add((*path, "name"), f"two endpoints are named {endpoint_name!r}")
            seen.add(endpoint_name)
        spec = _endpoint(raw, path, problems, folder)
        if spec is not None:
            endpoints.append(spec)
    if not found:
        problems.add((), "valohai.yaml has no - endpoint: entries, so there is nothing to serve")
    if problems:
        problems.fail()
    deployment = DeploymentSpec(name=name, endpoints=tuple(endpoints))
    return ProjectConfig(project=None, deployments=(deployment,), aliases=(), sources=(file,))


def _endpoint(
    raw: object, path: Path, problems: FileProblems, folder: FsPath | None
) -> EndpointSpec | None:
    before = len(problems)
    shape = problems.validate(ValohaiEndpointShape, raw, path)
    if isinstance(raw, Mapping):
        _check(raw, path, problems)
    if shape is None or len(problems) > before:
        return None
    resources = _resources(shape.resources, (*path, "resources"), problems)
    if resources is None:
        return None
    kind: EndpointKind = "server-command"
    target = shape.server_command or ""  # _check made sure one of the two is set
    if shape.wsgi is not None:
        kind, target = "wsgi", shape.wsgi if ":" in shape.wsgi else f"{shape.wsgi}:application"
    return EndpointSpec(
        name=shape.name,
        kind=kind,
        target=target,
        port=shape.port,
        requirements=default_requirements(folder),
        files=tuple(FileBinding(f.name, f.path, None, f.description) for f in shape.files),
        resources=resources,
        image=shape.image,
        description=shape.description,
        node_selector=dict(shape.node_selector or {}),
    )


def _check(raw: Mapping[Any, Any], path: Path, problems: FileProblems) -> None:
    name = raw.get("name")
    if isinstance(name, str):
        for message in endpoint_name_problems(name):
            problems.add((*path, "name"), message)
    has_wsgi, has_command = raw.get("wsgi") is not None, raw.get("server-command") is not None
    if has_wsgi and has_command:
        problems.add(
            (*path, "server-command"),
            "an endpoint has either wsgi: or server-command:, not both",
            key=True,
        )
    elif not has_wsgi and not has_command:
        problems.add(path, "an endpoint needs wsgi: module:app or server-command: '...'")
    files = raw.get("files")
    if isinstance(files, list):
        seen: set[str] = set()
        for index, item in enumerate(files):
            file_name = item.get("name") if isinstance(item, Mapping) else None
            if isinstance(file_name, str):
                if file_name in seen:
                    problems.add(
                        (*path, "files", index, "name"), f"two files are named {file_name!r}"
                    )
                seen.add(file_name)


def _resources(
    shape: ValohaiResourcesShape | None, path: Path, problems: FileProblems
) -> Resources | None:
    if shape is None:
        return Resources()
    before = len(problems)
    cpu = _limit(shape.cpu, (*path, "cpu"), problems)
    memory = _limit(shape.memory, (*path, "memory"), problems)
    gpu = 0
    for device, count in (shape.devices or {}).items():
        if device.rsplit("/", 1)[-1] == "gpu":
            gpu += count
        else:
            problems.add(
                (*path, "devices", device),
                f"waypost can place only GPUs (devices named like nvidia.com/gpu), not {device!r}",
                key=True,
            )
    if len(problems) > before:
        return None
    return Resources(
        cpu=cpu or None,
        memory=int(memory * _MIB) if memory else None,
        gpu=gpu,
    )


def _limit(shape: MinMaxShape | None, path: Path, problems: FileProblems) -> float | None:
    if shape is None:
        return None
    if shape.min is not None and shape.max is not None and shape.min > shape.max:
        problems.add((*path, "min"), f"min ({shape.min:g}) is more than max ({shape.max:g})")
    return shape.max if shape.max is not None else shape.min
