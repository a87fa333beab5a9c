"""CSGHub's inference-endpoint API in waypost's terms: pure translation, both ways.

A "run" of model ``{namespace}/{name}`` (CSGHub's ``POST /models/{ns}/{name}/run``) is,
in waypost, a deployment named ``deploy_name`` in the project ``{namespace}/{name}``
with one version whose one endpoint, ``serve``, runs the chosen runtime framework on
the model (design.md). Creating a run writes that deployment as a waypost.yaml in a
one-file bundle, so it goes through the same validation, version numbering and
lifecycle as any other deployment, and ``waypost status`` shows it like the rest.

Field names and types follow CSGHub's server (``types.ModelRunReq``,
``types.DeployUpdateReq``, ``types.DeployRepo``): ``engine_args`` and ``env`` are JSON
strings, ``secure_level`` is 1 (public) or 2 (private), ``resource_id`` an integer.
Its run id is the endpoint's id in the store, stable for the endpoint's life.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from waypost.errors import InvalidSpec, Problem
from waypost.model.names import name_problems
from waypost.model.spec import EndpointSpec, EngineArgValue
from waypost.models.frameworks import (
    FRAMEWORKS,
    Framework,
    engine_arg_problems,
    engine_arg_schema,
    frameworks_for_task,
    quantization_problems,
)
from waypost.models.tasks import parse_task
from waypost.runtimes.base import ReplicaPhase
from waypost.settings import ResourcePreset, Settings
from waypost.store import EndpointRecord, ModelRecord

__all__ = [
    "RUN_ENDPOINT",
    "RunRequest",
    "UpdateRequest",
    "cluster_json",
    "framework_by_id",
    "framework_json",
    "resource_json",
    "run_bundle",
    "run_json",
    "settings_patch",
]

#: The one endpoint of a run's deployment.
RUN_ENDPOINT = "serve"

SecureLevel = Literal[1, 2]


class _Request(BaseModel):
    # CSGHub clients send fields waypost has no use for (agent, order_detail_id):
    # accepted and ignored, as CSGHub's own server ignores what it does not know.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    cluster_id: str | None = Field(default=None, max_length=64)
    env: str | dict[str, str] | None = None
    resource_id: int | None = Field(default=None, ge=1)
    runtime_framework_id: int | None = Field(default=None, ge=1)
    min_replica: int | None = Field(default=None, ge=0)
    max_replica: int | None = Field(default=None, ge=0)
    revision: str | None = Field(default=None, max_length=128)
    secure_level: SecureLevel | None = None
    entrypoint: str | None = Field(default=None, max_length=255)
    engine_args: str | None = Field(default=None, max_length=65536)
    quantization: str | None = Field(default=None, max_length=64)


class RunRequest(_Request):
    """``types.ModelRunReq``: ``deploy_name`` and ``runtime_framework_id`` are required."""

    deploy_name: str = Field(max_length=128)
    runtime_framework_id: int = Field(ge=1)


class UpdateRequest(_Request):
    """``types.DeployUpdateReq``: every field optional."""

    deploy_name: str | None = Field(default=None, max_length=128)


# -- catalogues -----------------------------------------------------------------------


def framework_by_id(framework_id: int) -> Framework:
    for framework in FRAMEWORKS:
        if framework.id == framework_id:
            return framework
    known = ", ".join(f"{f.id} ({f.name})" for f in FRAMEWORKS)
    raise InvalidSpec.of(
        [
            Problem(
                f"unknown runtime_framework_id {framework_id}; known: {known}",
                field="runtime_framework_id",
            )
        ]
    )


def framework_json(framework: Framework) -> dict[str, Any]:
    return {
        "id": framework.id,
        "frame_name": framework.name,
        "name": framework.name,
        "description": framework.description,
        "tasks": list(framework.tasks),
        "builtin": framework.builtin,
        "enabled": 1,
        "quantizations": list(framework.quantizations),
        "engine_args": engine_arg_schema(framework),
    }


def frameworks_for_model(model: ModelRecord) -> list[Framework]:
    return list(frameworks_for_task(parse_task(model.task)))


def cluster_json(settings: Settings) -> dict[str, Any]:
    return {
        "cluster_id": settings.runtime if settings.runtime != "local" else "local",
        "region": "local" if settings.runtime == "local" else settings.runtime,
        "zone": "",
        "provider": "waypost",
        "runtime": settings.runtime,
        "enable": True,
    }


def resource_json(preset: ResourcePreset, cluster_id: str) -> dict[str, Any]:
    # CSGHub's SpaceResource carries its hardware as a JSON string; the numbers are given
    # as fields too, which is what a client wants to read.
    hardware = {
        "cpu": {"type": "", "num": f"{preset.cpu:g}"},
        "memory": f"{preset.memory // 2**20}Mi",
    }
    if preset.gpu:
        hardware["gpu"] = {"type": preset.gpu_type or "", "num": str(preset.gpu)}
    return {
        "id": preset.id,
        "name": preset.name,
        "cluster_id": cluster_id,
        "cpu": preset.cpu,
        "memory": preset.memory,
        "gpu": preset.gpu,
        "gpu_type": preset.gpu_type,
        "resources": json.dumps(hardware, separators=(",", ":")),
        "is_available": True,
        "type": "gpu" if preset.gpu else "cpu",
    }


# -- creating a run -------------------------------------------------------------------


def run_bundle(
    model: ModelRecord,
    request: RunRequest,
    settings: Settings,
) -> tuple[str, bytes]:
    """The deployment's name and a bundle with its waypost.yaml; InvalidSpec listing every
    problem with the request."""
    problems: list[Problem] = [
        Problem(p, field="deploy_name") for p in name_problems(request.deploy_name, "deploy_name")
    ]
    endpoint = _endpoint_doc(model, request, settings, problems)
    if problems:
        raise InvalidSpec.of(problems)
    doc = {
        "project": f"{model.owner}/{model.name}",
        "deployments": [{"name": request.deploy_name, "endpoints": [endpoint]}],
    }
    text = yaml.safe_dump(doc, sort_keys=False)
    return request.deploy_name, _one_file_bundle("waypost.yaml", text.encode())


def _endpoint_doc(
    model: ModelRecord, request: RunRequest, settings: Settings, problems: list[Problem]
) -> dict[str, Any]:
    framework = _framework(request.runtime_framework_id, model, problems)
    _check_cluster(request.cluster_id, settings, problems)
    _check_revision(request.revision, model, problems)
    preset = _preset(request.resource_id or settings.default_resource_id, settings, problems)
    low = request.min_replica if request.min_replica is not None else 1
    high = request.max_replica if request.max_replica is not None else max(1, low)
    problems.extend(settings.limits.replica_problems(low, high, "replica"))
    engine_args = _engine_args(request.engine_args, request.entrypoint, framework, problems)
    env = _env(request.env, problems)
    if framework is not None:
        problems.extend(
            quantization_problems(framework, parse_task(model.task), request.quantization)
        )
    endpoint: dict[str, Any] = {
        "name": RUN_ENDPOINT,
        "runtime": framework.name if framework else "",
        "model": model.model_id,
        "replicas": {"min": low, "max": high},
        "visibility": "private" if request.secure_level == 2 else "public",
        "resources": {"preset": preset.name if preset else ""},
    }
    if engine_args:
        endpoint["engine-args"] = engine_args
    if request.quantization:
        endpoint["quantization"] = request.quantization
    if env:
        endpoint["env"] = env
    return endpoint


def _framework(
    framework_id: int | None, model: ModelRecord, problems: list[Problem]
) -> Framework | None:
    if framework_id is None:
        return None
    try:
        framework = framework_by_id(framework_id)
    except InvalidSpec as exc:
        problems.extend(exc.problems)
        return None
    if model.task not in framework.tasks:
        fits = ", ".join(f"{f.id} ({f.name})" for f in frameworks_for_model(model)) or "none"
        problems.append(
            Problem(
                f"runtime framework {framework.name} does not serve {model.task} models like "
                f"{model.model_id}; frameworks that do: {fits}",
                field="runtime_framework_id",
            )
        )
    return framework


def _check_cluster(cluster_id: str | None, settings: Settings, problems: list[Problem]) -> None:
    known = cluster_json(settings)["cluster_id"]
    if cluster_id not in (None, "", known):
        problems.append(
            Problem(
                f"unknown cluster_id {cluster_id!r}; this installation has {known!r}",
                field="cluster_id",
            )
        )


def _check_revision(revision: str | None, model: ModelRecord, problems: list[Problem]) -> None:
    # A model in waypost's store has exactly one revision: its files, named by their digest.
    if revision in (None, "", "main") or model.digest.startswith(str(revision)):
        return
    problems.append(
        Problem(
            f"model {model.model_id} has one revision, sha256 {model.digest[:12]} "
            f"(or 'main'), not {revision!r}",
            field="revision",
        )
    )


def _preset(resource_id: int, settings: Settings, problems: list[Problem]) -> ResourcePreset | None:
    try:
        return settings.resource(resource_id)
    except InvalidSpec as exc:
        problems.append(Problem(exc.message, field="resource_id"))
        return None


def _engine_args(
    text: str | None,
    entrypoint: str | None,
    framework: Framework | None,
    problems: list[Problem],
) -> dict[str, EngineArgValue]:
    args = _json_object(text, "engine_args", problems)
    parsed: dict[str, EngineArgValue] = {}
    for name, value in args.items():
        if isinstance(value, str | int | float | bool):
            parsed[name] = value
        else:
            problems.append(
                Problem(
                    f"engine argument {name} must be a string, number or boolean",
                    field=f"engine_args.{name}",
                )
            )
    if entrypoint:
        parsed["entrypoint"] = entrypoint
    if framework is not None:
        problems.extend(engine_arg_problems(framework, parsed))
    return parsed


def _env(value: str | Mapping[str, str] | None, problems: list[Problem]) -> dict[str, str]:
    raw = value if isinstance(value, Mapping) else _json_object(value, "env", problems)
    env: dict[str, str] = {}
    for name, item in raw.items():
        if not isinstance(item, str):
            problems.append(Problem(f"env {name} must be a string", field=f"env.{name}"))
        else:
            env[str(name)] = item
    return env


def _json_object(text: str | None, field: str, problems: list[Problem]) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        problems.append(Problem(f"{field} is not valid JSON: {exc}", field=field))
        return {}
    if not isinstance(value, dict):
        problems.append(Problem(f"{field} must be a JSON object", field=field))
        return {}
    return value


def _one_file_bundle(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    # Fixed metadata, so the same request gives the same bundle digest.
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# -- updating a run -------------------------------------------------------------------


def settings_patch(
    request: UpdateRequest, record: EndpointRecord, model: ModelRecord | None, settings: Settings
) -> dict[str, Any]:
    """The native settings patch (``endpoint_settings.SettingsPatch`` JSON) for an update.

    InvalidSpec with every problem: an unknown framework or resource, a framework that
    does not serve the model's task, bad engine args, ``max_replica < min_replica``.
    """
    problems: list[Problem] = []
    spec = record.pending_spec or record.spec
    patch: dict[str, Any] = {}
    if request.deploy_name not in (None, record.key.deployment):
        problems.append(
            Problem(
                f"a run's deploy_name cannot change (it is {record.key.deployment!r}, "
                "part of its URL); create a new run instead",
                field="deploy_name",
            )
        )
    if model is not None:
        _check_revision(request.revision, model, problems)
    low = request.min_replica if request.min_replica is not None else spec.replicas.min
    high = request.max_replica if request.max_replica is not None else spec.replicas.max
    if request.min_replica is not None or request.max_replica is not None:
        if high < low:
            problems.append(
                Problem(
                    f"max_replica {high} must be at least min_replica {low}", field="max_replica"
                )
            )
        patch["replicas"] = {"min": low, "max": high}
    if request.secure_level is not None:
        patch["visibility"] = "private" if request.secure_level == 2 else "public"
    if request.resource_id is not None:
        preset = _preset(request.resource_id, settings, problems)
        if preset is not None:
            patch["resources"] = {"preset": preset.name}
    _check_cluster(request.cluster_id, settings, problems)
    framework = _updated_framework(request, spec, model, problems)
    if framework is not None and framework.name != spec.target:
        patch["runtime_framework"] = framework.name
    if request.engine_args is not None or request.entrypoint is not None:
        args = _engine_args(request.engine_args, request.entrypoint, framework, problems)
        # CSGHub sends the whole set: what it leaves out is reset.
        patch["engine_args"] = {
            **{name: None for name in spec.engine_args},
            **args,
        }
    if request.quantization is not None:
        patch["quantization"] = request.quantization or None
        if framework is not None and model is not None:
            problems.extend(
                quantization_problems(framework, parse_task(model.task), request.quantization)
            )
    if request.env is not None:
        problems.append(
            Problem(
                "env of a run cannot change after it is created; use project secrets "
                "(`waypost secrets set`) or create a new run",
                field="env",
            )
        )
    if problems:
        raise InvalidSpec.of(problems)
    return patch


def _updated_framework(
    request: UpdateRequest, spec: EndpointSpec, model: ModelRecord | None, problems: list[Problem]
) -> Framework | None:
    if request.runtime_framework_id is None:
        return next((f for f in FRAMEWORKS if f.name == spec.target), None)
    if model is None:
        return framework_by_id(request.runtime_framework_id)
    return _framework(request.runtime_framework_id, model, problems)


# -- reading a run --------------------------------------------------------------------

_READY = ReplicaPhase.READY.value


def run_json(
    ep: EndpointRecord, gateway_url: str, settings: Settings, *, task: str = ""
) -> dict[str, Any]:
    """``types.DeployRepo`` for one endpoint (the fields a CSGHub client reads)."""
    spec = ep.spec
    framework = next((f for f in FRAMEWORKS if f.name == spec.target), None)
    ready = sum(1 for r in ep.replicas if r.phase == _READY)
    preset_id = _preset_id(spec, settings)
    return {
        "deploy_id": ep.id,
        "id": ep.id,
        "deploy_name": ep.key.deployment,
        "model_id": spec.model or "",
        "namespace": ep.key.org,
        "name": ep.key.project,
        "repo_tag": "main",
        "status": ep.state.value,
        "reason": ep.reason,
        "message": ep.reason,
        "endpoint": f"{gateway_url}/{ep.key.id}",
        "proxy_endpoint": f"{gateway_url}/{ep.key.id}",
        "cluster_id": spec.cluster,
        "resource_id": preset_id,
        "sku": str(preset_id) if preset_id is not None else "",
        "runtime_framework": spec.target,
        "runtime_framework_id": framework.id if framework else None,
        "task": task,
        "engine_args": json.dumps(dict(spec.engine_args), separators=(",", ":")),
        "quantization": spec.quantization or "",
        "min_replica": spec.replicas.min,
        "max_replica": spec.replicas.max,
        "desired_replica": ep.replicas_desired,
        "actual_replica": ready,
        "secure_level": 2 if spec.visibility == "private" else 1,
        "private": spec.visibility == "private",
        "instances": [{"name": r.replica_id, "status": r.phase} for r in ep.replicas],
        "pending": ep.pending_spec.to_json() if ep.pending_spec else None,
        "created_at": ep.created_at.isoformat(),
        "updated_at": ep.state_changed_at.isoformat(),
    }


def _preset_id(spec: EndpointSpec, settings: Settings) -> int | None:
    if spec.resources.preset is None:
        return None
    try:
        return settings.resource(spec.resources.preset).id
    except InvalidSpec:
        return None
