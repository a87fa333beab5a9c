"""Metrics in this process (no multiprocess directory): families, labels, periodic gauges."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from waypost.gateway.metrics import Metrics

ROUTE = "acme/shop/churn/production/web"
TARGET = "acme/shop/churn/3/web"


def samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of ``name`` by their sorted labels, parsed from the scrape text."""
    return parse(metrics.render(), name)


def parse(text: bytes, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def histogram(metrics: Metrics, *, status_class: str | None = None) -> dict[str, float]:
    """The duration histogram of the one route in ``metrics``: ``le`` -> cumulative count,
    plus ``count`` and ``sum``; and the request counter of ``status_class`` as ``total``."""
    text = metrics.render()
    name = "waypost_gateway_request_duration_seconds"
    found = {dict(labels)["le"]: value for labels, value in parse(text, name + "_bucket").items()}
    [found["count"]] = parse(text, name + "_count").values()
    [found["sum"]] = parse(text, name + "_sum").values()
    if status_class is not None:
        counts = parse(text, "waypost_gateway_requests_total")
        [found["total"]] = [v for k, v in counts.items() if ("status_class", status_class) in k]
    return found


def test_requests_are_counted_by_selector_backend_version_and_status_class() -> None:
    metrics = Metrics()
    metrics.request("acme/shop", ROUTE, "control", TARGET, 200, 0.004)
    metrics.request("acme/shop", ROUTE, "control", TARGET, 204, 0.004)
    metrics.request("acme/shop", ROUTE, "control", TARGET, 503, 2.0)
    base = {"project": "acme/shop", "deployment": "churn", "alias": "production"}
    base["backend"] = "control"
    counts = samples(metrics, "waypost_gateway_requests_total")
    ok = tuple(sorted((base | {"version": "3", "status_class": "2xx"}).items()))
    failed = tuple(sorted((base | {"version": "3", "status_class": "5xx"}).items()))
    assert counts == {ok: 2.0, failed: 1.0}
    buckets = samples(metrics, "waypost_gateway_request_duration_seconds_bucket")
    assert buckets[tuple(sorted((base | {"le": "0.005"}).items()))] == 2.0
    assert buckets[tuple(sorted((base | {"le": "+Inf"}).items()))] == 3.0


def test_a_scrape_shows_requests_not_yet_flushed() -> None:
    metrics = Metrics()
    metrics.request("acme/shop", ROUTE, "control", TARGET, 200, 0.25)
    assert histogram(metrics, status_class="2xx")["total"] == 1.0
    metrics.request("acme/shop", ROUTE, "control", TARGET, 200, 0.25)
    assert histogram(metrics, status_class="2xx")["total"] == 2.0


def test_counts_buckets_and_sums_add_up_over_several_flushes() -> None:
    metrics = Metrics()
    rounds = [[0.125, 0.5, 100.0], [], [0.25, 0.25, 0.001], [60.0, 0.5]]
    for seconds in rounds:
        for value in seconds:
            metrics.request("acme/shop", ROUTE, "control", TARGET, 200, value)
        metrics.refresh({}, {}, 0.0)
        metrics.flush()  # nothing left: adds nothing
    metrics.request("acme/shop", ROUTE, "control", TARGET, 200, 0.0)  # flushed by render
    found = histogram(metrics, status_class="2xx")
    assert found["total"] == found["count"] == found["+Inf"] == 9.0
    assert found["sum"] == pytest.approx(sum(sum(seconds) for seconds in rounds))
    # Upper bounds are inclusive: 0.001 is in le="0.001", 60.0 in le="60.0".
    expected = {"0.001": 2, "0.1": 2, "0.25": 5, "0.5": 7, "1.0": 7, "30.0": 7, "60.0": 8}
    assert {le: found[le] for le in expected} == expected


def test_a_flush_adds_to_the_histogram_what_observe_would() -> None:
    """Pins the prometheus-client internals ``flush`` writes to (``_buckets``: one count
    per bucket, not cumulative; ``_sum``): a release that changes them fails here."""
    values = [0.0, 0.0004, 0.001, 0.0011, 0.004, 0.03, 0.1, 0.7, 0.7, 3.3, 45.0, 60.0, 61.0]
    metrics = Metrics()
    for value in values:
        metrics.request("acme/shop", ROUTE, "control", TARGET, 200, value)
    metrics.flush()
    ours = histogram(metrics)
    bounds = [float(le) for le in ours if le not in ("count", "sum")]
    registry = CollectorRegistry(auto_describe=False)
    reference = Histogram("reference", "observed one by one", buckets=bounds, registry=registry)
    for value in values:
        reference.observe(value)
    text = generate_latest(registry)
    theirs = {
        dict(labels)["le"]: value for labels, value in parse(text, "reference_bucket").items()
    }
    assert {le: ours[le] for le in theirs} == theirs
    assert ours["count"] == parse(text, "reference_count")[()]
    assert ours["sum"] == pytest.approx(parse(text, "reference_sum")[()])
    assert math.isclose(ours["sum"], sum(values))


def test_periodic_gauges_go_back_to_zero() -> None:
    metrics = Metrics()
    metrics.refresh({TARGET: 3}, {TARGET: 2}, 0.004)
    text = metrics.render().decode()
    assert f'waypost_gateway_in_flight{{target="{TARGET}"}} 3.0' in text
    assert f'waypost_gateway_queue_depth{{target="{TARGET}"}} 2.0' in text
    assert "waypost_gateway_loop_lag_seconds 0.004" in text
    metrics.refresh({}, {}, 0.0)
    text = metrics.render().decode()
    assert f'waypost_gateway_in_flight{{target="{TARGET}"}} 0.0' in text
    assert f'waypost_gateway_queue_depth{{target="{TARGET}"}} 0.0' in text


def test_retries_ejections_refusals_and_mirror_drops() -> None:
    metrics = Metrics()
    metrics.retry(TARGET, "connect")
    metrics.ejection(TARGET)
    metrics.refused(TARGET)
    metrics.mirror_dropped("acme/shop", TARGET)
    text = metrics.render().decode()
    assert f'waypost_gateway_retries_total{{failure="connect",target="{TARGET}"}} 1.0' in text
    assert f'waypost_gateway_ejections_total{{target="{TARGET}"}} 1.0' in text
    assert f'waypost_gateway_overload_refused_total{{target="{TARGET}"}} 1.0' in text
    assert (
        f'waypost_gateway_mirror_dropped_total{{mirror_target="{TARGET}",project="acme/shop"}} 1.0'
        in text
    )
