"""The access log writes one JSON object per line with every field."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

from waypost.gateway.accesslog import AccessEntry, AccessLog


def test_one_json_line_per_request() -> None:
    out = io.StringIO()
    log = AccessLog(out, now=lambda: datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC))
    entry = AccessEntry("rid", "POST", "/acme/shop/hello/1/web/predict", status=200)
    entry.prefix, entry.backend, entry.target, entry.replica, entry.bytes = (
        "acme/shop/hello/1/web",
        "v1",
        "acme/shop/hello/1/web",
        "r-1",
        42,
    )
    log.write(entry, 1.23456)
    log.write(AccessEntry("rid2", "GET", "/x", status=404), 0.5)
    assert out.getvalue() == ""  # buffered until flushed
    log.flush()
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == {
        "time": "2024-05-01T12:00:00.123+00:00",
        "request_id": "rid",
        "method": "POST",
        "path": "/acme/shop/hello/1/web/predict",
        "status": 200,
        "prefix": "acme/shop/hello/1/web",
        "backend": "v1",
        "target": "acme/shop/hello/1/web",
        "replica": "r-1",
        "latency_ms": 1.235,
        "bytes": 42,
    }
    assert second["status"] == 404
    assert second["backend"] is None


def test_lines_are_written_in_batches() -> None:
    out = io.StringIO()
    log = AccessLog(out, max_buffered=3)
    for i in range(7):
        log.write(AccessEntry(f"r{i}", "GET", "/"), 1.0)
    assert [json.loads(line)["request_id"] for line in out.getvalue().splitlines()] == [
        f"r{i}" for i in range(6)
    ]
    log.flush()
    log.flush()
    assert len(out.getvalue().splitlines()) == 7


def test_a_closed_stream_never_fails_a_request() -> None:
    out = io.StringIO()
    out.close()
    log = AccessLog(out, max_buffered=1)
    log.write(AccessEntry("rid", "GET", "/"), 1.0)
    log.flush()
