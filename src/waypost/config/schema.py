"""The shapes of the YAML files as pydantic models: keys, types and single-value rules.

Keys are spelled as users write them (kebab-case through aliases); an unknown key
is an error. Rules that span several keys (exactly one of ``wsgi``/``asgi``/...,
``min <= max``) and name rules that give one problem per broken rule live with the
code that turns these shapes into ``waypost.model`` values, so they are reported
even when a sibling value has the wrong type.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from waypost.config.values import (
    AppTarget,
    Duration,
    EnvName,
    HealthPath,
    Memory,
    ModelId,
    RelativePath,
    RuntimeName,
    Scalar,
    Sticky,
    Text,
    ValohaiWsgi,
    Version,
)

__all__ = [
    "AliasFileShape",
    "AutoscalingShape",
    "DeploymentRefShape",
    "DeploymentShape",
    "EndpointShape",
    "FileShape",
    "HealthShape",
    "MirrorShape",
    "NativeAliasShape",
    "NativeBackendShape",
    "NativeMirrorShape",
    "ReplicasShape",
    "ResourcesShape",
    "SplitShape",
    "TrafficShape",
    "ValohaiEndpointShape",
    "ValohaiFileShape",
    "ValohaiResourcesShape",
    "WaypostFileShape",
]


class Shape(BaseModel):
    # strict: YAML already gives ints, bools and text; "2" must not quietly become 2.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


# -- endpoints ---------------------------------------------------------------------------


class FileShape(Shape):
    name: Text
    path: RelativePath  # where it is placed in the bundle, so it stays inside
    source: Text | None = None  # read by the CLI on the user's machine, from anywhere
    description: str | None = None


class ReplicasShape(Shape):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=1)


class ResourcesShape(Shape):
    cpu: float | None = Field(default=None, gt=0)
    memory: Memory | None = None
    gpu: int = Field(default=0, ge=0)
    gpu_type: Text | None = Field(default=None, alias="gpu-type")
    preset: Text | None = None


class HealthShape(Shape):
    path: HealthPath | None = None
    startup_timeout: Duration = Field(default=60.0, alias="startup-timeout")
    interval: Duration = 0.1


class AutoscalingShape(Shape):
    target_concurrency: float = Field(default=5.0, gt=0, alias="target-concurrency")
    idle_timeout: Duration = Field(default=300.0, alias="idle-timeout")


class TrafficShape(Shape):
    timeout: Duration = Field(default=60.0, gt=0)
    connect_timeout: Duration = Field(default=5.0, gt=0, alias="connect-timeout")
    max_concurrency: int | None = Field(default=None, ge=1, alias="max-concurrency")
    queue: int = Field(default=100, ge=0)
    queue_timeout: Duration = Field(default=10.0, gt=0, alias="queue-timeout")
    retry_non_idempotent: bool = Field(default=False, alias="retry-non-idempotent")


def _none_to_empty(value: object) -> object:
    # ``replicas:`` with nothing under it reads as null; treat it as "all defaults".
    return {} if value is None else value


class EndpointShape(Shape):
    name: Text
    wsgi: AppTarget | None = None
    asgi: AppTarget | None = None
    server_command: Text | None = Field(default=None, alias="server-command")
    runtime: RuntimeName | None = None
    model: ModelId | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    requirements: RelativePath | None = None
    files: list[FileShape] = Field(default_factory=list)
    env: dict[EnvName, Scalar] = Field(default_factory=dict)
    replicas: ReplicasShape = ReplicasShape()
    resources: ResourcesShape = ResourcesShape()
    health: HealthShape = HealthShape()
    autoscaling: AutoscalingShape = AutoscalingShape()
    traffic: TrafficShape = TrafficShape()
    visibility: Literal["public", "private"] = "public"
    engine_args: dict[Text, Scalar] = Field(default_factory=dict, alias="engine-args")
    quantization: Text | None = None
    image: Text | None = None
    description: str | None = None
    node_selector: dict[Text, Scalar] = Field(default_factory=dict, alias="node-selector")
    strip_prefix: bool = Field(default=False, alias="strip-prefix")
    workers: int = Field(default=1, ge=1)
    cluster: Text = "local"

    @field_validator("replicas", "resources", "autoscaling", "traffic", mode="before")
    @classmethod
    def _empty_sections(cls, value: object) -> object:
        return _none_to_empty(value)

    @field_validator("health", mode="before")
    @classmethod
    def _health_short_form(cls, value: object) -> object:
        # ``health: /ready`` is short for ``health: {path: /ready}``.
        if isinstance(value, str):
            return {"path": value}
        return _none_to_empty(value)


# -- aliases: the Modelbit endpoints/*.yaml shapes, and waypost.yaml's superset ------------


class DeploymentRefShape(Shape):
    branch: Text = "main"
    name: Text
    version: Version


class SplitShape(Shape):
    """A backend of a Modelbit file."""

    deployment: DeploymentRefShape
    weight: int = Field(default=1, ge=0)


class MirrorShape(Shape):
    deployment: DeploymentRefShape


class AliasFileShape(Shape):
    backends: dict[Text, SplitShape] = Field(min_length=1)
    mirrors: dict[Text, MirrorShape] | None = None
    schema_version: int = Field(alias="schemaVersion")

    @field_validator("schema_version")
    @classmethod
    def _only_version_one(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"must be 1 (the only version of this format), not {value}")
        return value


class NativeBackendShape(Shape):
    """Either Modelbit's ``deployment: {branch, name, version}`` or just ``version:``
    (a version of the alias's own deployment)."""

    deployment: DeploymentRefShape | None = None
    version: Version | None = None
    endpoint: Text | None = None
    weight: int = Field(default=1, ge=0)


class NativeMirrorShape(Shape):
    deployment: DeploymentRefShape | None = None
    version: Version | None = None
    endpoint: Text | None = None


class NativeAliasShape(Shape):
    name: Text
    deployment: Text | None = None
    backends: dict[Text, NativeBackendShape] = Field(min_length=1)
    mirrors: dict[Text, NativeMirrorShape] | None = None
    sticky: Sticky | None = None


# -- waypost.yaml --------------------------------------------------------------------------


class DeploymentShape(Shape):
    """One entry of ``deployments:``; its endpoints are checked one by one."""

    name: Text
    branch: Text = "main"
    description: str | None = None
    endpoints: list[Any]


class WaypostFileShape(Shape):
    """The top level; ``endpoints``, ``deployments`` and ``aliases`` items are checked
    one by one so that one bad item does not hide the problems of the others."""

    project: Text | None = None
    deployment: Text | None = None
    branch: Text | None = None
    description: str | None = None
    endpoints: list[Any] | None = None
    deployments: list[Any] | None = None
    aliases: list[Any] | None = None


# -- valohai.yaml ``- endpoint:`` entries, as Valohai's own schema has them ------------------


def _valohai_command(value: object) -> object:
    # Valohai runs a list of commands one after another, as a shell would with &&.
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return " && ".join(value)
    return value


def _valohai_node_selector(value: object) -> object:
    # Valohai writes the selector as one ``key=value`` string; several are comma-separated.
    if not isinstance(value, str):
        return value
    pairs: dict[str, str] = {}
    for item in value.split(","):
        key, sep, label = item.strip().partition("=")
        if not sep or not key.strip():
            raise ValueError(f"must be key=value (e.g. pool=gpu), not {value!r}")
        pairs[key.strip()] = label.strip()
    return pairs


class ValohaiFileShape(Shape):
    name: Text
    path: RelativePath
    description: str | None = None


class MinMaxShape(Shape):
    min: float | None = Field(default=None, ge=0)
    max: float | None = Field(default=None, ge=0)


class ValohaiResourcesShape(Shape):
    cpu: MinMaxShape | None = None
    memory: MinMaxShape | None = None  # MB
    devices: dict[Text, Annotated[int, Field(ge=1)]] | None = None


class ValohaiEndpointShape(Shape):
    name: Text
    image: Text | None = None
    description: str | None = None
    files: list[ValohaiFileShape] = Field(default_factory=list)
    port: int | None = Field(default=None, ge=1025, le=65535)
    server_command: Annotated[Text, BeforeValidator(_valohai_command)] | None = Field(
        None, alias="server-command"
    )
    wsgi: ValohaiWsgi | None = None
    node_selector: Annotated[dict[str, str], BeforeValidator(_valohai_node_selector)] | None = (
        Field(default=None, alias="node-selector")
    )
    resources: ValohaiResourcesShape | None = None
