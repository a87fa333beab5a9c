"""Request-log lines: every field of a request line and a mirror line, and the writer."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waypost.gateway.core.logline import (
    MirrorOutcome,
    MirrorRecord,
    RequestRecord,
    alias_of,
    mirror_line,
    request_line,
    sink_dropped_line,
    version_and_endpoint,
)
from waypost.gateway.requestlog import MillisecondClock, RequestLog

TIME = "2024-05-01T12:00:00.123+00:00"


@pytest.mark.parametrize(
    ("selector", "alias"),
    [
        pytest.param("3", None, id="version"),
        pytest.param("latest", None, id="latest"),
        pytest.param("production", "production", id="alias"),
        pytest.param("v3", "v3", id="alias-with-digit"),
        pytest.param("٣", "٣", id="non-ascii-digit-is-a-name"),
    ],
)
def test_alias_of(selector: str, alias: str | None) -> None:
    assert alias_of(selector) == alias


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        pytest.param("acme/shop/hello/3/web", (3, "web"), id="version"),
        pytest.param("acme/shop/hello/x/web", ("x", "web"), id="non-numeric"),
        pytest.param("acme/shop/hello/3", (None, None), id="short"),
        pytest.param(None, (None, None), id="none"),
        pytest.param("", (None, None), id="empty"),
    ],
)
def test_version_and_endpoint(key: str | None, parts: tuple[object, object]) -> None:
    assert version_and_endpoint(key) == parts


def served() -> RequestRecord:
    record = RequestRecord("rid", "POST", "/acme/shop/churn/production/web/predict")
    record.status = 200
    record.project, record.route, record.alias = (
        "acme/shop",
        "acme/shop/churn/production/web",
        "production",
    )
    record.backend, record.target, record.replica = "control", "acme/shop/churn/3/web", "r-1"
    record.bytes_in, record.bytes_out = 17, 42
    return record


def test_request_line_has_every_field() -> None:
    assert json.loads(request_line(served(), TIME, 1.23456)) == {
        "kind": "request",
        "time": TIME,
        "request_id": "rid",
        "project": "acme/shop",
        "route": "acme/shop/churn/production/web",
        "alias": "production",
        "backend": "control",
        "target": "acme/shop/churn/3/web",
        "version": 3,
        "endpoint": "web",
        "replica": "r-1",
        "method": "POST",
        "path": "/acme/shop/churn/production/web/predict",
        "status": 200,
        "latency_ms": 1.235,
        "bytes_in": 17,
        "bytes_out": 42,
    }


def test_unmatched_request_line_has_nulls() -> None:
    line = json.loads(request_line(RequestRecord("rid", "GET", "/x", status=404), TIME, 0.5))
    assert line["status"] == 404
    assert line["project"] is line["route"] is line["backend"] is line["version"] is None


def mirror_record(**changes: object) -> MirrorRecord:
    record = MirrorRecord(
        "rid",
        "POST",
        "/acme/shop/churn/production/web/predict",
        "acme/shop",
        "acme/shop/churn/production/web",
        "production",
        "shadow",
        "acme/shop/churn/4/web",
    )
    for name, value in changes.items():
        setattr(record, name, value)
    return record


def test_mirror_line_answered() -> None:
    record = mirror_record(outcome="status", status=500, replica="r-9", latency_ms=2.0004)
    assert json.loads(mirror_line(record, TIME)) == {
        "kind": "mirror",
        "time": TIME,
        "request_id": "rid",
        "project": "acme/shop",
        "route": "acme/shop/churn/production/web",
        "alias": "production",
        "mirror": "shadow",
        "target": "acme/shop/churn/4/web",
        "version": 4,
        "endpoint": "web",
        "replica": "r-9",
        "method": "POST",
        "path": "/acme/shop/churn/production/web/predict",
        "outcome": "status",
        "status": 500,
        "latency_ms": 2.0,
    }


@pytest.mark.parametrize("outcome", ["timeout", "error", "dropped", "skipped"])
def test_mirror_line_other_outcomes_carry_a_reason(outcome: str) -> None:
    line = json.loads(mirror_line(mirror_record(outcome=outcome, reason="why"), TIME))
    assert (line["outcome"], line["status"], line["reason"]) == (outcome, None, "why")
    assert line["latency_ms"] is None


def test_sink_dropped_line() -> None:
    assert sink_dropped_line(7) == '{"kind":"sink_dropped","count":7}'


class Collect:
    def __init__(self, projects: frozenset[str] = frozenset({"acme/shop"})) -> None:
        self.projects = projects
        self.lines: list[tuple[str, str]] = []

    def wants(self, project: str) -> bool:
        return project in self.projects

    def offer(self, project: str, line: str) -> None:
        if project in self.projects:  # as SinkSet: a project without sinks is dropped
            self.lines.append((project, line))


def test_writer_batches_lines_and_offers_project_lines_to_sinks() -> None:
    out = io.StringIO()
    sinks = Collect()
    log = RequestLog(out, sinks=sinks, time_text=lambda: TIME, max_buffered=3)
    log.request(served(), 1.0)
    log.request(RequestRecord("no-route", "GET", "/x", status=404), 1.0)
    assert out.getvalue() == ""  # buffered until flushed
    log.mirror(mirror_record(outcome="dropped"))
    assert len(out.getvalue().splitlines()) == 3
    log.request(served(), 1.0)
    log.flush()
    log.flush()
    kinds = [json.loads(line)["kind"] for line in out.getvalue().splitlines()]
    assert kinds == ["request", "request", "mirror", "request"]
    # A line with no project (no route matched) goes to no sink.
    assert [project for project, _ in sinks.lines] == ["acme/shop"] * 3
    assert [json.loads(line)["kind"] for _, line in sinks.lines] == ["request", "mirror", "request"]


def test_lines_keep_their_order_whether_formatted_at_once_or_at_the_flush() -> None:
    """A project without a sink has its request lines formatted at the flush, from the
    records; one with a sink, at once: the output is the same lines, in order."""
    out = io.StringIO()
    sinks = Collect(frozenset({"acme/other"}))
    log = RequestLog(out, sinks=sinks, time_text=lambda: TIME, max_buffered=100)
    other = served()
    other.project = "acme/other"
    records = [served(), other, RequestRecord("no-route", "GET", "/x", status=404), served()]
    for latency, record in enumerate(records):
        log.request(record, float(latency))
    log.mirror(mirror_record(outcome="dropped"))
    log.flush()
    lines = out.getvalue().splitlines()
    expected = [request_line(r, TIME, float(n)) for n, r in enumerate(records)]
    assert lines[:4] == expected
    assert json.loads(lines[4])["kind"] == "mirror"
    assert sinks.lines == [("acme/other", expected[1])]


def test_a_closed_stream_never_fails_a_request() -> None:
    out = io.StringIO()
    out.close()
    log = RequestLog(out, max_buffered=1)
    log.request(served(), 1.0)
    log.flush()


def test_the_clock_formats_utc_milliseconds_once_per_millisecond() -> None:
    now = [1_714_564_800_123_456_789]  # 2024-05-01T12:00:00.123456789Z
    clock = MillisecondClock(lambda: now[0])
    assert clock() == "2024-05-01T12:00:00.123+00:00"
    now[0] += 500_000  # same millisecond
    assert clock() == "2024-05-01T12:00:00.123+00:00"
    now[0] += 600_000
    assert clock() == "2024-05-01T12:00:00.124+00:00"
    now[0] = 1_714_564_800_000_000_000
    assert clock() == "2024-05-01T12:00:00.000+00:00"


@given(st.integers(min_value=0, max_value=4_102_444_800_000_000_000))  # up to 2100
def test_the_clock_agrees_with_isoformat_at_any_time(ns: int) -> None:
    clock = MillisecondClock(lambda: ns)
    ms = ns // 1_000_000
    moment = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
    assert clock() == moment.isoformat(timespec="milliseconds")


def test_the_clock_moves_to_the_next_second() -> None:
    now = [1_714_564_800_999_000_000]
    clock = MillisecondClock(lambda: now[0])
    assert clock() == "2024-05-01T12:00:00.999+00:00"
    now[0] += 1_000_000
    assert clock() == "2024-05-01T12:00:01.000+00:00"


def reference_request_line(record: RequestRecord, time_text: str, latency_ms: float) -> str:
    version, endpoint = version_and_endpoint(record.target)
    fields = {
        "kind": "request",
        "time": time_text,
        "request_id": record.request_id,
        "project": record.project,
        "route": record.route,
        "alias": record.alias,
        "backend": record.backend,
        "target": record.target,
        "version": version,
        "endpoint": endpoint,
        "replica": record.replica,
        "method": record.method,
        "path": record.path,
        "status": record.status,
        "latency_ms": round(latency_ms, 3),
        "bytes_in": record.bytes_in,
        "bytes_out": record.bytes_out,
    }
    return json.dumps(fields, separators=(",", ":"))


texts = st.text(max_size=12)
maybe_texts = st.none() | texts
keys = st.none() | st.sampled_from(["a/b/c/3/web", "a/b/c/x/web", "a/b/c/3", 'é/"/\\\\/7/\\n'])
latencies = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)


@given(
    strings=st.tuples(texts, texts, texts, maybe_texts, maybe_texts, maybe_texts, maybe_texts),
    target=keys,
    numbers=st.tuples(st.integers(0, 999), st.integers(0, 2**40), st.integers(0, 2**40)),
    time_text=texts,
    latency=latencies,
)
def test_request_line_is_exactly_json_dumps(
    strings: tuple[str, str, str, str | None, str | None, str | None, str | None],
    target: str | None,
    numbers: tuple[int, int, int],
    time_text: str,
    latency: float,
) -> None:
    request_id, method, path, project, route, alias, replica = strings
    record = RequestRecord(request_id, method, path, numbers[0], project, route, alias)
    record.backend, record.target, record.replica = alias, target, replica
    record.bytes_in, record.bytes_out = numbers[1], numbers[2]
    assert request_line(record, time_text, latency) == reference_request_line(
        record, time_text, latency
    )


@given(
    strings=st.tuples(texts, texts, texts, texts, texts, maybe_texts, texts),
    target=st.sampled_from(["a/b/c/3/web", "a/\u2603/c/x/web", "\\"]),
    outcome=st.sampled_from(["status", "timeout", "error", "dropped", "skipped"]),
    status=st.none() | st.integers(100, 599),
    latency=st.none() | latencies,
    reason=maybe_texts,
    replica=maybe_texts,
)
def test_mirror_line_is_exactly_json_dumps(
    strings: tuple[str, str, str, str, str, str | None, str],
    target: str,
    outcome: MirrorOutcome,
    status: int | None,
    latency: float | None,
    reason: str | None,
    replica: str | None,
) -> None:
    request_id, method, path, project, route, alias, mirror = strings
    record = MirrorRecord(request_id, method, path, project, route, alias, mirror, target)
    record.outcome, record.status, record.latency_ms = outcome, status, latency
    record.reason, record.replica = reason, replica
    version, endpoint = version_and_endpoint(target)
    fields: dict[str, object] = {
        "kind": "mirror",
        "time": "t",
        "request_id": request_id,
        "project": project,
        "route": route,
        "alias": alias,
        "mirror": mirror,
        "target": target,
        "version": version,
        "endpoint": endpoint,
        "replica": replica,
        "method": method,
        "path": path,
        "outcome": outcome,
        "status": status,
        "latency_ms": None if latency is None else round(latency, 3),
    }
    if reason is not None:
        fields["reason"] = reason
    assert mirror_line(record, "t") == json.dumps(fields, separators=(",", ":"))
