"""The API's JSON shapes (``control.views``) turned into what the templates show: pure.

The console renders the same dictionaries the REST API answers, so both always
agree; this module adds only what a page needs on top: a tone per state (the badge
colour), rates from the traffic history, and short human forms of numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from waypost.control.history import Rates
from waypost.model.lifecycle import EndpointState, Trigger, allowed_triggers

__all__ = [
    "STATES",
    "AliasRow",
    "EndpointRow",
    "action_table",
    "alias_row",
    "endpoint_row",
    "filter_rows",
    "human_bytes",
    "human_duration",
    "human_rate",
    "percent",
    "resource_text",
    "tone",
]

S = EndpointState
#: The nine states of seed 004 in lifecycle order, as the filter lists them.
STATES: tuple[str, ...] = tuple(
    s.value
    for s in (
        S.BUILDING,
        S.DEPLOYING,
        S.STARTUP,
        S.RUNNING,
        S.SLEEPING,
        S.STOPPED,
        S.BUILDING_FAILED,
        S.DEPLOY_FAILED,
        S.RUNTIME_ERROR,
    )
)
_TONES = {
    S.RUNNING.value: "ok",
    S.SLEEPING.value: "idle",
    S.STOPPED.value: "off",
    S.BUILDING.value: "busy",
    S.DEPLOYING.value: "busy",
    S.STARTUP.value: "busy",
    S.BUILDING_FAILED.value: "bad",
    S.DEPLOY_FAILED.value: "bad",
    S.RUNTIME_ERROR.value: "bad",
}


def action_table() -> dict[str, list[str]]:
    """State -> the buttons of the settings page that fit it (from the lifecycle table)."""
    buttons = (Trigger.STOP, Trigger.START, Trigger.RESTART, Trigger.WAKE)
    return {s.value: [t.value for t in buttons if t in allowed_triggers(s)] for s in EndpointState}


def tone(state: str) -> str:
    """The badge class of a state: ok, idle, off, busy or bad."""
    return _TONES.get(state, "off")


@dataclass(frozen=True)
class EndpointRow:
    key: str
    project: str
    deployment: str
    version: int
    name: str
    state: str
    tone: str
    url: str
    serves: str  # the model id, or the app (``wsgi app:app``)
    visibility: str
    ready: int
    desired: int
    requests_per_s: str
    error_rate: str
    failing: bool  # errors in the window


def endpoint_row(ep: Mapping[str, Any], rates: Rates) -> EndpointRow:
    spec = ep["spec"]
    serves = spec.get("model") or f"{ep['kind']} {ep['target']}"
    return EndpointRow(
        key=ep["key"],
        project=ep["project"],
        deployment=ep["deployment"],
        version=ep["version"],
        name=ep["name"],
        state=ep["state"],
        tone=tone(ep["state"]),
        url=ep["url"],
        serves=serves,
        visibility=spec.get("visibility", "public"),
        ready=ep["replicas"]["ready"],
        desired=ep["replicas"]["desired"],
        requests_per_s=human_rate(rates.requests_per_s),
        error_rate=percent(rates.error_rate),
        failing=rates.error_rate > 0,
    )


def filter_rows(
    rows: Iterable[EndpointRow],
    *,
    project: str | None = None,
    deployment: str | None = None,
    state: str | None = None,
) -> list[EndpointRow]:
    return [
        r
        for r in rows
        if (not project or r.project == project)
        and (not deployment or r.deployment == deployment)
        and (not state or r.state == state)
    ]


@dataclass(frozen=True)
class AliasRow:
    prefix: str
    project: str
    name: str
    deployment: str | None
    url: str
    backends: str  # "control 80% → v3, candidate 20% → v4"
    mirrors: str
    requests_per_s: str
    error_rate: str


def alias_row(alias: Mapping[str, Any]) -> AliasRow:
    stats = alias["stats"]
    total = sum(b["weight"] for b in alias["policy"]["backends"]) or 1
    backends = ", ".join(
        f"{b['name']} {percent(b['weight'] / total)} → {_target(b['target'])}"
        for b in alias["policy"]["backends"]
    )
    mirrors = ", ".join(f"{m['name']} → {_target(m['target'])}" for m in alias["policy"]["mirrors"])
    requests = sum(b["requests_1m"] for b in stats["backends"])
    errors = sum(b["errors_1m"] for b in stats["backends"])
    return AliasRow(
        prefix=alias["prefix"],
        project=alias["project"],
        name=alias["name"],
        deployment=alias["deployment"],
        url=alias["url"],
        backends=backends,
        mirrors=mirrors or "none",
        requests_per_s=human_rate(requests / 60),
        error_rate=percent(errors / requests if requests else 0.0),
    )


def _target(target: Mapping[str, Any]) -> str:
    version = target["version"]
    text = "latest" if version == "latest" else f"v{version}"
    if target.get("deployment"):
        text = f"{target['deployment']} {text}"
    if target.get("endpoint"):
        text += f" /{target['endpoint']}"
    return text


def human_rate(per_second: float) -> str:
    if per_second == 0:
        return "0"
    if per_second < 0.1:
        return f"{per_second * 60:.1f}/min"
    return f"{per_second:.1f}" if per_second < 100 else f"{per_second:.0f}"


def percent(fraction: float) -> str:
    value = fraction * 100
    if value == 0 or value >= 10:
        return f"{value:.0f}%"
    return f"{value:.1f}%"


def human_duration(seconds: float) -> str:
    """``45s``, ``3m 12s``, ``2h 5m``, ``3d 4h``."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def human_bytes(n: int | None) -> str:
    if n is None:
        return "no limit"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return (
                f"{size:.0f} {unit}" if unit == "B" or size.is_integer() else f"{size:.1f} {unit}"
            )
        size /= 1024
    return f"{size:.1f} TiB"


def resource_text(resources: Mapping[str, Any]) -> str:
    """``preset cpu-small: 2 CPU, 4 GiB, 1 GPU (T4)``; ``no limits`` when none is set."""
    parts: list[str] = []
    if resources.get("cpu") is not None:
        parts.append(f"{resources['cpu']:g} CPU")
    if resources.get("memory") is not None:
        parts.append(human_bytes(resources["memory"]))
    if resources.get("gpu"):
        gpu = f"{resources['gpu']} GPU"
        parts.append(f"{gpu} ({resources['gpu_type']})" if resources.get("gpu_type") else gpu)
    text = ", ".join(parts) or "no limits"
    return f"{resources['preset']}: {text}" if resources.get("preset") else text


def distinct(values: Sequence[str]) -> list[str]:
    return sorted(set(values))
