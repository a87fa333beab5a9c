"""One frozen ``Settings`` for a waypost installation, built from an injectable environ.

Nothing reads ``os.environ`` at import time: ``Settings.from_environ(os.environ, ...)``
is called once at the edge (the CLI) and the value is passed down.

Cloud resources (CSGHub's ``resource_id``) are named CPU/memory/GPU presets of an
installation: a few defaults for one machine, or the list in ``<home>/resources.yaml``
(or the file ``WAYPOST_RESOURCES_FILE`` names)::

    default: 2                # the preset a new endpoint gets when it names none
    resources:
      - {id: 1, name: cpu-small, cpu: 0.5, memory: 1Gi}
      - {id: 4, name: gpu-a10, cpu: 8, memory: 32Gi, gpu: 1, gpu-type: nvidia-a10}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from waypost.config.problems import FileProblems
from waypost.config.values import Memory, Text
from waypost.errors import InvalidSpec, Problem
from waypost.gateway.options import default_workers
from waypost.model.spec import EndpointSpec, Resources

__all__ = [
    "DEFAULT_RESOURCES",
    "Limits",
    "ResourcePreset",
    "Settings",
    "apply_preset",
    "parse_resources_file",
]

DEFAULT_API_PORT = 8081
DEFAULT_GATEWAY_PORT = 8080


@dataclass(frozen=True)
class Limits:
    """Installation-wide limits (seed 004: min replicas 0-5, max replicas 1-5)."""

    min_replicas_max: int = 5
    max_replicas_max: int = 5
    bundle_bytes: int = 256 * 1024 * 1024
    model_bytes: int = 20 * 1024 * 1024 * 1024  # one model directory, as uploaded
    startup_timeout: float = 60.0
    build_timeout: float = 900.0

    def replica_problems(self, low: int, high: int, where: str = "replicas") -> list[Problem]:
        """One problem per broken rule of a replica range (``where`` prefixes the fields)."""
        problems: list[Problem] = []
        if low < 0:
            problems.append(
                Problem(f"min replicas cannot be negative: {low}", field=f"{where}.min")
            )
        elif low > self.min_replicas_max:
            problems.append(
                Problem(
                    f"min replicas {low} is over this installation's limit {self.min_replicas_max}",
                    field=f"{where}.min",
                )
            )
        if high < 1:
            problems.append(
                Problem(f"max replicas must be at least 1, not {high}", field=f"{where}.max")
            )
        elif high > self.max_replicas_max:
            problems.append(
                Problem(
                    f"max replicas {high} is over this installation's limit "
                    f"{self.max_replicas_max}",
                    field=f"{where}.max",
                )
            )
        if high < low:
            problems.append(
                Problem(f"max replicas {high} is below min replicas {low}", field=f"{where}.max")
            )
        return problems


@dataclass(frozen=True)
class ResourcePreset:
    """A cloud resource: what one replica of an endpoint that picks it may use."""

    id: int
    name: str
    cpu: float  # cores
    memory: int  # bytes
    gpu: int = 0
    gpu_type: str | None = None

    def describe(self) -> str:
        gpu = f", {self.gpu} GPU {self.gpu_type or ''}".rstrip() if self.gpu else ""
        return f"{self.id} {self.name} ({self.cpu:g} CPU, {self.memory / 2**30:g} GiB{gpu})"


DEFAULT_RESOURCES = (
    ResourcePreset(1, "cpu-small", cpu=0.5, memory=1 * 2**30),
    ResourcePreset(2, "cpu-medium", cpu=1.0, memory=2 * 2**30),
    ResourcePreset(3, "cpu-large", cpu=2.0, memory=4 * 2**30),
)


def apply_preset(resources: Resources, preset: ResourcePreset) -> Resources:
    """``resources`` with what it leaves unset taken from ``preset`` (explicit values win).

    A GPU count of 0 reads as "unset" (it is the spec's default), so a preset's GPUs
    cannot be taken away by writing ``gpu: 0``; pick a preset without GPUs instead.
    """
    return replace(
        resources,
        cpu=resources.cpu if resources.cpu is not None else preset.cpu,
        memory=resources.memory if resources.memory is not None else preset.memory,
        gpu=resources.gpu or preset.gpu,
        gpu_type=resources.gpu_type or (preset.gpu_type if not resources.gpu else None),
    )


@dataclass(frozen=True)
class Settings:
    home: Path
    host: str = "127.0.0.1"
    api_port: int = DEFAULT_API_PORT
    gateway_port: int = DEFAULT_GATEWAY_PORT
    database_url: str | None = None  # None: SQLite file in home
    runtime: str = "local"
    #: Gateway worker processes (default: one per CPU core).
    gateway_workers: int = field(default_factory=default_workers)
    #: False: run no gateway process (on Kubernetes gateways are a Deployment of their own).
    with_gateway: bool = True
    limits: Limits = field(default_factory=Limits)
    resources: tuple[ResourcePreset, ...] = DEFAULT_RESOURCES
    default_resource_id: int = 1

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from ``environ``, ``overrides`` winning; reads the resources file if any."""
        home = Path(environ.get("WAYPOST_HOME") or Path(environ.get("HOME", ".")) / ".waypost")
        base = cls(home=home, database_url=environ.get("WAYPOST_DATABASE_URL") or None)
        given = {k: v for k, v in overrides.items() if v is not None}
        if "home" in given:
            given["home"] = Path(given["home"])
        settings = replace(base, **given)
        if "resources" in given:
            return settings
        named = environ.get("WAYPOST_RESOURCES_FILE")
        file = Path(named) if named else settings.home / "resources.yaml"
        if not file.is_file():
            if named:
                raise InvalidSpec(f"WAYPOST_RESOURCES_FILE names {file}, which is not a file")
            return settings
        presets, default_id = parse_resources_file(file.read_text(), file=str(file))
        return replace(settings, resources=presets, default_resource_id=default_id)

    def resource(self, id_or_name: int | str) -> ResourcePreset:
        """The preset with this id (``2`` or ``"2"``) or name; InvalidSpec listing them if none."""
        wanted = str(id_or_name).strip()
        for preset in self.resources:
            if wanted in (str(preset.id), preset.name):
                return preset
        known = "; ".join(p.describe() for p in self.resources) or "none"
        raise InvalidSpec(
            f"unknown cloud resource {id_or_name!r}; this installation has: {known}",
            [Problem(f"unknown cloud resource {id_or_name!r}", field="resources.preset")],
        )

    @property
    def default_resource(self) -> ResourcePreset:
        return self.resource(self.default_resource_id)

    def effective_resources(self, resources: Resources) -> Resources:
        """What a replica gets: the named preset's values under the spec's explicit ones.

        Without ``preset`` the spec's values are used as they are (unset means unlimited):
        ``default_resource_id`` is what the API and console pre-select, not a silent cap.
        """
        if resources.preset is None:
            return resources
        return apply_preset(resources, self.resource(resources.preset))

    def effective_spec(self, spec: EndpointSpec) -> EndpointSpec:
        """``spec`` with its resources resolved: what the control plane puts in a Workload."""
        resolved = self.effective_resources(spec.resources)
        return spec if resolved == spec.resources else spec.with_changes(resources=resolved)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'waypost.db'}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    # Layout of the home directory; every part finds its files through these.
    @property
    def bundles_dir(self) -> Path:
        return self.home / "bundles"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def runtime_dir(self) -> Path:
        return self.home / "runtime"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def admin_token_file(self) -> Path:
        return self.home / "admin-token"


# -- the resources file ------------------------------------------------------------------


class _PresetShape(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    id: int = Field(ge=1)
    name: Text
    cpu: float = Field(gt=0)
    memory: Memory
    gpu: int = Field(default=0, ge=0)
    gpu_type: Text | None = Field(default=None, alias="gpu-type")


def parse_resources_file(text: str, *, file: str) -> tuple[tuple[ResourcePreset, ...], int]:
    """The presets and the default id of a resources file; InvalidSpec with file:line if bad.

    Parsed with the config package's helpers so that a broken file reads like a broken
    waypost.yaml: every problem, each with its line and column.
    """
    problems = FileProblems(file)
    doc = problems.load(text)
    if doc is None or not problems.top_level(doc, dict, "a mapping with resources: and default:"):
        problems.fail()
    data = doc.data
    for key in data:
        if key not in ("resources", "default"):
            problems.add((key,), f"unknown key {key!r}; expected resources: and default:", key=True)
    items = data.get("resources")
    if not isinstance(items, list) or not items:
        problems.add(("resources",) if "resources" in data else (), "resources: must list presets")
        problems.fail()
    presets: list[ResourcePreset] = []
    for index, item in enumerate(items):
        shape = problems.validate(_PresetShape, item, ("resources", index))
        if shape is None:
            continue
        if any(p.id == shape.id for p in presets):
            problems.add(("resources", index, "id"), f"id {shape.id} is used twice")
        if any(p.name == shape.name for p in presets):
            problems.add(("resources", index, "name"), f"name {shape.name!r} is used twice")
        presets.append(
            ResourcePreset(shape.id, shape.name, shape.cpu, shape.memory, shape.gpu, shape.gpu_type)
        )
    default = data.get("default", presets[0].id if presets else 1)
    if isinstance(default, bool) or not isinstance(default, int | str):
        problems.add(("default",), "default: must be a preset id or name")
    elif presets and not any(str(default) in (str(p.id), p.name) for p in presets):
        problems.add(("default",), f"default: {default!r} is not one of the presets listed")
    problems.raise_if_any()
    chosen = next(p.id for p in presets if str(default) in (str(p.id), p.name))
    return tuple(presets), chosen
