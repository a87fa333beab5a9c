"""The settings a user may change on an endpoint of a version (seed 004 §3.3): pure.

``SettingsPatch`` is the body of ``PATCH /api/v1/endpoints/...``: every field
optional, unknown keys refused. It merges like a JSON merge patch: a section
given in part changes only what it names, and ``null`` resets a field that has
a default (``resources.cpu``, ``quantization``, one engine argument).

Two groups of fields, by when they take effect:

- **live**: ``replicas``, ``visibility``, ``autoscaling``, ``traffic`` — the
  autoscaler and the gateway read them from the spec on their next pass;
- **restart**: ``resources``, ``engine_args``, ``quantization``, ``runtime_framework``
  — they need new replicas, so while replicas run they wait in the pending spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from waypost.config.values import Duration, Memory, RuntimeName, Scalar, Text
from waypost.errors import InvalidSpec, Problem
from waypost.model.spec import (
    Autoscaling,
    EndpointSpec,
    EngineArgValue,
    Replicas,
    Resources,
    Traffic,
)
from waypost.models.frameworks import engine_arg_problems, get_framework, quantization_problems
from waypost.settings import Limits

__all__ = [
    "AutoscalingPatch",
    "ReplicasPatch",
    "ResourcesPatch",
    "SettingsPatch",
    "TrafficPatch",
    "patched",
    "spec_changes",
]


class _Patch(BaseModel):
    # Kebab-case as in waypost.yaml, snake_case as in the API's JSON: both are accepted.
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, populate_by_name=True, allow_inf_nan=False
    )


class ReplicasPatch(_Patch):
    min: int | None = None
    max: int | None = None


class AutoscalingPatch(_Patch):
    target_concurrency: float | None = Field(default=None, gt=0, alias="target-concurrency")
    idle_timeout: Duration | None = Field(default=None, alias="idle-timeout")


class TrafficPatch(_Patch):
    timeout: Duration | None = Field(default=None, gt=0)
    connect_timeout: Duration | None = Field(default=None, gt=0, alias="connect-timeout")
    max_concurrency: int | None = Field(default=None, ge=1, alias="max-concurrency")
    queue: int | None = Field(default=None, ge=0)
    queue_timeout: Duration | None = Field(default=None, gt=0, alias="queue-timeout")
    retry_non_idempotent: bool | None = Field(default=None, alias="retry-non-idempotent")


class ResourcesPatch(_Patch):
    cpu: float | None = Field(default=None, gt=0)
    memory: Memory | None = None
    gpu: int | None = Field(default=None, ge=0)
    gpu_type: Text | None = Field(default=None, alias="gpu-type")
    preset: Text | None = None


class SettingsPatch(_Patch):
    """What to change; what is left out stays as it is."""

    replicas: ReplicasPatch | None = None
    visibility: Literal["public", "private"] | None = None
    autoscaling: AutoscalingPatch | None = None
    traffic: TrafficPatch | None = None
    resources: ResourcesPatch | None = None
    engine_args: dict[Text, Scalar | None] | None = Field(default=None, alias="engine-args")
    quantization: Text | None = None
    runtime_framework: RuntimeName | None = Field(default=None, alias="runtime-framework")

    @property
    def live(self) -> bool:
        """Whether it changes a live field."""
        return bool({"replicas", "visibility", "autoscaling", "traffic"} & self.model_fields_set)

    @property
    def restart(self) -> bool:
        """Whether it changes a field that needs new replicas."""
        fields = {"resources", "engine_args", "quantization", "runtime_framework"}
        return bool(fields & self.model_fields_set)


def patched(
    spec: EndpointSpec,
    patch: SettingsPatch,
    limits: Limits,
    *,
    live: bool = True,
    restart: bool = True,
) -> EndpointSpec:
    """``spec`` with the ``live`` and/or ``restart`` fields of ``patch``; InvalidSpec with
    one problem per broken rule."""
    problems: list[Problem] = []
    changes: dict[str, Any] = {}
    given = patch.model_fields_set
    if live:
        if patch.replicas is not None:
            changes["replicas"] = _replicas(spec.replicas, patch.replicas, limits, problems)
        elif "replicas" in given:
            problems.append(Problem("replicas cannot be null", field="replicas"))
        if patch.visibility is not None:
            changes["visibility"] = patch.visibility
        elif "visibility" in given:
            problems.append(Problem("visibility must be public or private", field="visibility"))
        if patch.autoscaling is not None:
            changes["autoscaling"] = _autoscaling(spec.autoscaling, patch.autoscaling, problems)
        elif "autoscaling" in given:
            problems.append(Problem("autoscaling cannot be null", field="autoscaling"))
        if patch.traffic is not None:
            changes["traffic"] = _traffic(spec.traffic, patch.traffic, problems)
        elif "traffic" in given:
            problems.append(Problem("traffic cannot be null", field="traffic"))
    if restart:
        if "resources" in given:
            changes["resources"] = _resources(spec.resources, patch.resources)
        if "engine_args" in given:
            changes["engine_args"] = _engine_args(spec.engine_args, patch.engine_args)
        if "quantization" in given:
            changes["quantization"] = patch.quantization
        if "runtime_framework" in given:
            _framework(spec, patch.runtime_framework, problems, changes)
    result = spec.with_changes(**changes) if changes else spec
    if (
        restart
        and result.kind == "runtime"
        and given & {"engine_args", "runtime_framework", "quantization"}
    ):
        problems.extend(_framework_problems(result))
    if problems:
        raise InvalidSpec.of(problems)
    return result


def _framework_problems(spec: EndpointSpec) -> list[Problem]:
    """A model endpoint's engine args and quantization, checked against its framework."""
    try:
        framework = get_framework(spec.target)
    except InvalidSpec as exc:
        return [Problem(exc.message, field="runtime_framework")]
    return [
        *engine_arg_problems(framework, spec.engine_args),
        *quantization_problems(framework, None, spec.quantization),
    ]


def _replicas(
    now: Replicas, patch: ReplicasPatch, limits: Limits, problems: list[Problem]
) -> Replicas:
    given = patch.model_fields_set
    for name in ("min", "max"):
        if name in given and getattr(patch, name) is None:
            problems.append(Problem(f"{name} replicas cannot be null", field=f"replicas.{name}"))
    low = patch.min if patch.min is not None else now.min
    high = patch.max if patch.max is not None else now.max
    problems.extend(limits.replica_problems(low, high, "replicas"))
    return Replicas(min=low, max=high)


def _autoscaling(now: Autoscaling, patch: AutoscalingPatch, problems: list[Problem]) -> Autoscaling:
    given = patch.model_fields_set
    for name, key in (
        ("target_concurrency", "target-concurrency"),
        ("idle_timeout", "idle-timeout"),
    ):
        if name in given and getattr(patch, name) is None:
            problems.append(Problem(f"{key} cannot be null", field=f"autoscaling.{key}"))
    return Autoscaling(
        target_concurrency=patch.target_concurrency or now.target_concurrency,
        idle_timeout=patch.idle_timeout or now.idle_timeout,
    )


def _traffic(now: Traffic, patch: TrafficPatch, problems: list[Problem]) -> Traffic:
    """``max-concurrency: null`` lifts the cap; every other field must have a value."""
    values = {name: getattr(patch, name) for name in patch.model_fields_set}
    for name, value in values.items():
        if value is None and name != "max_concurrency":
            key = name.replace("_", "-")
            problems.append(Problem(f"{key} cannot be null", field=f"traffic.{key}"))
    return replace(
        now, **{k: v for k, v in values.items() if v is not None or k == "max_concurrency"}
    )


def _resources(now: Resources, patch: ResourcesPatch | None) -> Resources:
    if patch is None:  # ``resources: null``: back to no limits
        return Resources()
    values = {name: getattr(patch, name) for name in patch.model_fields_set}
    if "gpu" in values and values["gpu"] is None:
        values["gpu"] = 0
    return Resources(**{**_fields(now), **values})


def _engine_args(
    now: Mapping[str, EngineArgValue], patch: Mapping[str, EngineArgValue | None] | None
) -> dict[str, EngineArgValue]:
    if patch is None:  # ``engine_args: null``: none at all
        return {}
    merged: dict[str, EngineArgValue] = dict(now)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _framework(
    spec: EndpointSpec, name: str | None, problems: list[Problem], changes: dict[str, Any]
) -> None:
    if spec.kind != "runtime":
        problems.append(
            Problem(
                f"only a runtime: endpoint has a runtime framework; this one is {spec.kind}",
                field="runtime_framework",
            )
        )
    elif name is None:
        problems.append(Problem("runtime_framework cannot be null", field="runtime_framework"))
    else:
        changes["target"] = name


def _fields(resources: Resources) -> dict[str, Any]:
    return {
        "cpu": resources.cpu,
        "memory": resources.memory,
        "gpu": resources.gpu,
        "gpu_type": resources.gpu_type,
        "preset": resources.preset,
    }


def spec_changes(old: EndpointSpec, new: EndpointSpec) -> list[str]:
    """What differs, one ``field old → new`` per changed leaf, e.g. ``replicas.max 1 → 3``."""
    before, after = _flat(old.to_json()), _flat(new.to_json())
    return [
        f"{name} {_show(before.get(name))} → {_show(after.get(name))}"
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in data.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)
