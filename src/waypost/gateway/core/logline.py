"""Request-log lines: what one proxied request, or one mirror copy, looks like as JSON.

Every line is one JSON object with a ``kind``:

- ``"request"``: ``time, request_id, project, route, alias, backend, target, version,
  endpoint, replica, method, path, status, latency_ms, bytes_in, bytes_out``. ``route`` is
  the prefix as requested (``acme/shop/churn/production/web``); ``alias`` is the selector
  when it names an alias (not a version number, not ``latest``); ``version`` and
  ``endpoint`` are those of the target that served it. ``path`` carries no query
  (queries may hold secrets). A request the client gave up on is logged with status 499.
- ``"mirror"``: one copy of a request sent to a mirror: ``time, request_id, project,
  route, alias, mirror, target, version, endpoint, replica, method, path, outcome,
  status, latency_ms`` and, for some outcomes, ``reason``. ``outcome`` is ``status``
  (the mirror answered; ``status`` is its code), ``timeout``, ``error``, ``dropped``
  (its queue was full) or ``skipped`` (the body was over the mirror limit or never read).
- ``"sink_dropped"``: ``count`` lines a log sink's buffer had to drop since the last
  such line (only sinks get it).

The records are filled in while a request is handled; the builders here only format.
The time comes in as text (the shell reads the clock). A line is written for every
request, so the builders are quick: the fields that depend only on the route and its
backend or mirror (project, route, alias, name, target, version, endpoint) are encoded
once per combination and cached; the rest is joined around them with the json module's
own string encoder. The output is exactly ``json.dumps(fields, separators=(",", ":"))``
(the unit tests hold the builders to that).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Literal

__all__ = [
    "CLIENT_CLOSED",
    "MirrorOutcome",
    "MirrorRecord",
    "RequestRecord",
    "alias_of",
    "mirror_line",
    "request_line",
    "sink_dropped_line",
    "version_and_endpoint",
]

#: The status logged when the client went away first (nginx's convention).
CLIENT_CLOSED = 499

MirrorOutcome = Literal["status", "timeout", "error", "dropped", "skipped"]

_SEPARATORS = (",", ":")


def alias_of(selector: str) -> str | None:
    """The alias a selector names: None for a version number or ``latest``."""
    if selector == "latest" or (selector.isascii() and selector.isdigit()):
        return None
    return selector


def version_and_endpoint(target_key: str | None) -> tuple[int | str | None, str | None]:
    """``acme/shop/hello/3/web`` -> (3, "web"); anything else -> (None, None)."""
    if not target_key:
        return None, None
    parts = target_key.split("/")
    if len(parts) != 5:
        return None, None
    version = parts[3]
    return (int(version) if version.isascii() and version.isdigit() else version), parts[4]


@dataclass(slots=True)
class RequestRecord:
    """Filled in while a request is handled, written once at its end."""

    request_id: str
    method: str
    path: str
    status: int = 0
    project: str | None = None  # org/project of the matched route
    route: str | None = None  # the prefix as requested
    alias: str | None = None
    backend: str | None = None
    target: str | None = None
    replica: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0


@dataclass(slots=True)
class MirrorRecord:
    """One mirror copy of a request, and what became of it."""

    request_id: str
    method: str
    path: str  # the primary's path as requested, as in its own line
    project: str
    route: str
    alias: str | None
    mirror: str
    target: str
    outcome: MirrorOutcome = "error"
    status: int | None = None
    replica: str | None = None
    latency_ms: float | None = None
    reason: str | None = None


def request_line(record: RequestRecord, time_text: str, latency_ms: float) -> str:
    fixed = _fixed(
        record.project, record.route, record.alias, "backend", record.backend, record.target
    )
    return (
        f'{{"kind":"request","time":{_text(time_text)},"request_id":{_text(record.request_id)},'
        f'{fixed},"replica":{_text(record.replica)},"method":{_text(record.method)},'
        f'"path":{_text(record.path)},"status":{int(record.status)},'
        f'"latency_ms":{float(round(latency_ms, 3))!r},'
        f'"bytes_in":{int(record.bytes_in)},"bytes_out":{int(record.bytes_out)}}}'
    )


def mirror_line(record: MirrorRecord, time_text: str) -> str:
    fixed = _fixed(
        record.project, record.route, record.alias, "mirror", record.mirror, record.target
    )
    status = "null" if record.status is None else str(int(record.status))
    latency = "null" if record.latency_ms is None else repr(float(round(record.latency_ms, 3)))
    reason = "" if record.reason is None else f',"reason":{_text(record.reason)}'
    return (
        f'{{"kind":"mirror","time":{_text(time_text)},"request_id":{_text(record.request_id)},'
        f'{fixed},"replica":{_text(record.replica)},"method":{_text(record.method)},'
        f'"path":{_text(record.path)},"outcome":{_text(record.outcome)},"status":{status},'
        f'"latency_ms":{latency}{reason}}}'
    )


def sink_dropped_line(count: int) -> str:
    return json.dumps({"kind": "sink_dropped", "count": count}, separators=_SEPARATORS)


def _text(value: str | None) -> str:
    return "null" if value is None else encode_basestring_ascii(value)


@lru_cache(maxsize=4096)
def _fixed(
    project: str | None,
    route: str | None,
    alias: str | None,
    name_field: str,
    name: str | None,
    target: str | None,
) -> str:
    """The fields that only depend on the route and its backend or mirror, encoded."""
    version, endpoint = version_and_endpoint(target)
    fields = {
        "project": project,
        "route": route,
        "alias": alias,
        name_field: name,
        "target": target,
        "version": version,
        "endpoint": endpoint,
    }
    return json.dumps(fields, separators=_SEPARATORS)[1:-1]
