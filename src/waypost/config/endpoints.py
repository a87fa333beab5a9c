"""One endpoint of waypost.yaml: its checks across keys, and the ``EndpointSpec`` it becomes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any, TypeGuard

from waypost.config.problems import FileProblems
from waypost.config.schema import EndpointShape, ReplicasShape
from waypost.config.yaml_nodes import Path
from waypost.errors import InvalidSpec
from waypost.model.names import endpoint_name_problems
from waypost.model.spec import (
    Autoscaling,
    EndpointKind,
    EndpointSpec,
    FileBinding,
    Health,
    Replicas,
    Resources,
    Traffic,
)
from waypost.models.frameworks import (
    Framework,
    engine_arg_problems,
    get_framework,
    quantization_problems,
)

__all__ = ["DEFAULT_REQUIREMENTS", "default_requirements", "file_state", "native_endpoint"]

DEFAULT_REQUIREMENTS = "requirements.txt"
KINDS: tuple[EndpointKind, ...] = ("wsgi", "asgi", "server-command", "runtime")


def native_endpoint(
    raw: object, path: Path, problems: FileProblems, folder: FsPath | None
) -> EndpointSpec | None:
    """The endpoint at ``path``, or ``None`` once its problems are recorded."""
    before = len(problems)
    shape = problems.validate(EndpointShape, raw, path)
    if isinstance(raw, Mapping):
        _check(raw, path, problems, folder)
    if shape is None or len(problems) > before:
        return None
    return _build(shape, path, problems, folder)


def _check(
    raw: Mapping[Any, Any], path: Path, problems: FileProblems, folder: FsPath | None
) -> None:
    name = raw.get("name")
    if isinstance(name, str):
        for message in endpoint_name_problems(name):
            problems.add((*path, "name"), message)
    label = f"endpoint {name!r}" if isinstance(name, str) else "an endpoint"
    kinds = [k for k in KINDS if raw.get(k) is not None]
    if not kinds:
        problems.add(
            path,
            f"{label} needs one of wsgi: module:app, asgi: module:app, "
            "server-command: '...' or runtime: + model:",
        )
    for extra in kinds[1:]:
        problems.add(
            (*path, extra),
            f"{label} has both {kinds[0]}: and {extra}:; an endpoint runs one server, keep one",
            key=True,
        )
    if raw.get("runtime") is not None and raw.get("model") is None:
        problems.add(
            (*path, "runtime"), "runtime: needs model: owner/name (what it serves)", key=True
        )
    if raw.get("model") is not None and raw.get("runtime") is None:
        problems.add((*path, "model"), "model: is used only together with runtime:", key=True)
    _check_runtime(raw, path, problems)
    _check_replicas(raw.get("replicas"), (*path, "replicas"), problems)
    requirements = raw.get("requirements")
    if isinstance(requirements, str) and folder is not None:
        state = file_state(folder, requirements)
        if state:
            problems.add((*path, "requirements"), f"the requirements file {requirements!r} {state}")
    _check_files(raw.get("files"), (*path, "files"), problems, folder)


def _check_runtime(raw: Mapping[Any, Any], path: Path, problems: FileProblems) -> None:
    """The framework exists, and its declared engine args and quantizations fit.

    The model's task is not known from the file (the model store knows it), so what
    depends on it is checked when the endpoint is built.
    """
    name = raw.get("runtime")
    if not isinstance(name, str):
        return
    try:
        framework = get_framework(name)
    except InvalidSpec as exc:
        problems.add((*path, "runtime"), exc.message)
        return
    args = raw.get("engine-args")
    if isinstance(args, Mapping):
        # An unknown name is pointed at by its key; a bad value by the value.
        for problem in engine_arg_problems(framework, args):
            arg = (problem.field or "").partition(".")[2]
            problems.add(
                (*path, "engine-args", arg) if arg in args else (*path, "engine-args"),
                problem.message,
                key=arg in args and arg not in framework_arg_names(framework),
            )
    quantization = raw.get("quantization")
    if isinstance(quantization, str):
        for problem in quantization_problems(framework, None, quantization):
            problems.add((*path, "quantization"), problem.message)


def framework_arg_names(framework: Framework) -> set[str]:
    return {arg.name for arg in framework.engine_args}


def _check_replicas(raw: object, path: Path, problems: FileProblems) -> None:
    if not isinstance(raw, Mapping):
        return
    low, high = raw.get("min"), raw.get("max")
    if _is_int(low) and _is_int(high) and low > high:
        problems.add((*path, "min"), f"min replicas ({low}) is more than max replicas ({high})")


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_files(raw: object, path: Path, problems: FileProblems, folder: FsPath | None) -> None:
    if not isinstance(raw, list):
        return
    seen: set[str] = set()
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping):
            continue
        name = item.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.add((*path, index, "name"), f"two files are named {name!r}")
            seen.add(name)
        # A file without ``source`` must already be in the folder (the bundle) at ``path``.
        where = item.get("path")
        if folder is not None and item.get("source") is None and isinstance(where, str):
            state = file_state(folder, where)
            if state:
                problems.add(
                    (*path, index, "path"),
                    f"the file {where!r} {state}; add source: to say where to read it from",
                )


def file_state(folder: FsPath, relative: str) -> str | None:
    """``None`` if ``relative`` is a readable file in ``folder``, else what is wrong with it."""
    parts = relative.replace("\\", "/").split("/")
    if relative.startswith(("/", "\\")) or ".." in parts:
        return None  # the shape already says the path leaves the folder
    try:
        if (folder / relative).is_file():
            return None
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return "does not exist in the project folder"


def default_requirements(folder: FsPath | None) -> str | None:
    if folder is None:
        return None
    try:
        return DEFAULT_REQUIREMENTS if (folder / DEFAULT_REQUIREMENTS).is_file() else None
    except OSError:
        return None


def replicas_of(shape: ReplicasShape) -> Replicas:
    # Only min given: max follows it, so ``replicas: {min: 2}`` is not an error.
    low = 1 if shape.min is None else shape.min
    high = max(low, 1) if shape.max is None else shape.max
    return Replicas(min=low, max=high)


def _build(
    shape: EndpointShape, path: Path, problems: FileProblems, folder: FsPath | None
) -> EndpointSpec:
    kind, target = _kind(shape)
    resources = shape.resources
    health = shape.health
    return EndpointSpec(
        name=shape.name,
        kind=kind,
        target=target,
        model=shape.model,
        port=shape.port,
        requirements=shape.requirements or default_requirements(folder),
        files=tuple(FileBinding(f.name, f.path, f.source, f.description) for f in shape.files),
        env=_as_written(shape.env, (*path, "env"), problems),
        replicas=replicas_of(shape.replicas),
        resources=Resources(
            cpu=resources.cpu,
            memory=resources.memory,
            gpu=resources.gpu,
            gpu_type=resources.gpu_type,
            preset=resources.preset,
        ),
        health=Health(health.path, health.startup_timeout, health.interval),
        autoscaling=Autoscaling(
            shape.autoscaling.target_concurrency, shape.autoscaling.idle_timeout
        ),
        traffic=Traffic(
            timeout=shape.traffic.timeout,
            connect_timeout=shape.traffic.connect_timeout,
            max_concurrency=shape.traffic.max_concurrency,
            queue=shape.traffic.queue,
            queue_timeout=shape.traffic.queue_timeout,
            retry_non_idempotent=shape.traffic.retry_non_idempotent,
        ),
        visibility=shape.visibility,
        engine_args=dict(shape.engine_args),
        quantization=shape.quantization,
        image=shape.image,
        description=shape.description,
        node_selector=_as_written(shape.node_selector, (*path, "node-selector"), problems),
        strip_prefix=shape.strip_prefix,
        workers=shape.workers,
        cluster=shape.cluster,
    )


def _kind(shape: EndpointShape) -> tuple[EndpointKind, str]:
    # _check made sure exactly one of these is set.
    if shape.wsgi is not None:
        return "wsgi", shape.wsgi
    if shape.asgi is not None:
        return "asgi", shape.asgi
    if shape.server_command is not None:
        return "server-command", shape.server_command
    return "runtime", shape.runtime or ""


def _as_written(
    values: Mapping[str, str | int | float | bool], path: Path, problems: FileProblems
) -> dict[str, str]:
    """Values as the user wrote them: ``DEBUG: on`` stays ``on``, not ``True``."""
    result: dict[str, str] = {}
    for key, value in values.items():
        text = problems.doc.scalar_text((*path, key)) if problems.doc is not None else None
        if text is None:
            text = str(value).lower() if isinstance(value, bool) else str(value)
        result[key] = text
    return result
