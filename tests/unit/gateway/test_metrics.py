"""Metrics in this process (no multiprocess directory): families, labels, periodic gauges."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from waypost.gateway.metrics import Metrics

ROUTE = "acme/shop/churn/production/web"
TARGET = "acme/shop/churn/3/web"


def samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of ``name`` by their sorted labels, parsed from the scrape text."""
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
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
