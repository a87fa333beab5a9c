"""The access log: one JSON line per request on stdout.

Fields: ``time`` (UTC, ISO 8601), ``request_id``, ``method``, ``path`` (no query: queries
may carry secrets), ``status``, ``prefix`` (as requested), ``backend`` (its name in the
route, as Modelbit names backends), ``target`` (the endpoint of a version that served it),
``replica``, ``latency_ms`` and ``bytes`` (response body bytes sent). A request the client
gave up on before its response ended is logged with status 499.

Lines are buffered and written in batches (``flush``: every ``max_buffered`` lines, and
by the worker every 0.2 s and at exit), so logging costs no system call per request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

__all__ = ["CLIENT_CLOSED", "AccessEntry", "AccessLog"]

#: The status logged when the client went away first (nginx's convention).
CLIENT_CLOSED = 499


@dataclass(slots=True)
class AccessEntry:
    """Filled in while a request is handled, written once at its end."""

    request_id: str
    method: str
    path: str
    status: int = 0
    prefix: str | None = None
    backend: str | None = None
    target: str | None = None
    replica: str | None = None
    bytes: int = 0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AccessLog:
    def __init__(
        self, stream: TextIO, now: Callable[[], datetime] = _utc_now, max_buffered: int = 256
    ) -> None:
        self._stream = stream
        self._now = now
        self._max_buffered = max_buffered
        self._lines: list[str] = []

    def write(self, entry: AccessEntry, latency_ms: float) -> None:
        self._lines.append(
            json.dumps(
                {
                    "time": self._now().isoformat(timespec="milliseconds"),
                    "request_id": entry.request_id,
                    "method": entry.method,
                    "path": entry.path,
                    "status": entry.status,
                    "prefix": entry.prefix,
                    "backend": entry.backend,
                    "target": entry.target,
                    "replica": entry.replica,
                    "latency_ms": round(latency_ms, 3),
                    "bytes": entry.bytes,
                },
                separators=(",", ":"),
            )
        )
        if len(self._lines) >= self._max_buffered:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        text = "\n".join(self._lines) + "\n"
        self._lines.clear()
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a closed or full stdout must never fail a request
