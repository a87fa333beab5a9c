"""Settings patches: what they change, what they refuse, how a change reads in an event."""

from __future__ import annotations

from typing import Any

import pytest

from waypost.control.endpoint_settings import SettingsPatch, patched, spec_changes
from waypost.errors import InvalidSpec
from waypost.model.spec import EndpointSpec, Replicas, Resources
from waypost.settings import Limits

LIMITS = Limits()
WEB = EndpointSpec(
    "web",
    "wsgi",
    "app:app",
    replicas=Replicas(1, 2),
    resources=Resources(cpu=1.0, memory=2**30),
    engine_args={"dtype": "float16", "block": 16},
)
MODEL = EndpointSpec("serve", "runtime", "vllm", model="acme/llm")


def patch(body: dict[str, Any]) -> SettingsPatch:
    return SettingsPatch.model_validate(body)


@pytest.mark.parametrize(
    ("body", "changes"),
    [
        pytest.param({"replicas": {"max": 4}}, ["replicas.max 2 → 4"], id="one-bound"),
        pytest.param(
            {"autoscaling": {"idle-timeout": "45s"}},
            ["autoscaling.idle_timeout 300 → 45"],
            id="kebab-case",
        ),
        pytest.param(
            {"autoscaling": {"target_concurrency": 2.5}},
            ["autoscaling.target_concurrency 5 → 2.5"],
            id="snake-case",
        ),
        pytest.param({"resources": {"cpu": None}}, ["resources.cpu 1 → none"], id="null-resets"),
        pytest.param(
            {"resources": None},
            ["resources.cpu 1 → none", "resources.memory 1073741824 → none"],
            id="null-section",
        ),
        pytest.param(
            {"engine_args": {"block": None, "swap": 4}},
            ["engine_args.block 16 → none", "engine_args.swap none → 4"],
            id="engine-args-merge",
        ),
        pytest.param({"quantization": "int4"}, ["quantization none → int4"], id="quantization"),
        pytest.param(
            {"traffic": {"timeout": "2s", "max-concurrency": 8}},
            ["traffic.max_concurrency none → 8", "traffic.timeout 60 → 2"],
            id="traffic",
        ),
        pytest.param({}, [], id="nothing"),
    ],
)
def test_patched(body: dict[str, Any], changes: list[str]) -> None:
    assert spec_changes(WEB, patched(WEB, patch(body), LIMITS)) == changes


def test_live_and_restart_groups_apply_separately() -> None:
    both = patch({"visibility": "private", "resources": {"cpu": 4}})
    assert both.live
    assert both.restart
    live_only = patched(WEB, both, LIMITS, restart=False)
    assert spec_changes(WEB, live_only) == ["visibility public → private"]
    restart_only = patched(WEB, both, LIMITS, live=False)
    assert spec_changes(WEB, restart_only) == ["resources.cpu 1 → 4"]


def test_runtime_framework_of_a_runtime_endpoint() -> None:
    changed = patched(MODEL, patch({"runtime-framework": "tgi"}), LIMITS)
    assert changed.target == "tgi"
    assert spec_changes(MODEL, changed) == ["target vllm → tgi"]


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        pytest.param(
            {"replicas": {"min": 7, "max": 6}},
            [
                "min replicas 7 is over this installation's limit 5",
                "max replicas 6 is over this installation's limit 5",
                "max replicas 6 is below min replicas 7",
            ],
            id="three-rules",
        ),
        pytest.param({"replicas": {"max": None}}, ["max replicas cannot be null"], id="null-max"),
        pytest.param(
            {"runtime_framework": "tgi"},
            ["only a runtime: endpoint has a runtime framework; this one is wsgi"],
            id="framework-of-wsgi",
        ),
    ],
)
def test_one_problem_per_broken_rule(body: dict[str, Any], messages: list[str]) -> None:
    with pytest.raises(InvalidSpec) as info:
        patched(WEB, patch(body), LIMITS)
    assert [p.message for p in info.value.problems] == messages


def test_installation_limits_are_settings() -> None:
    roomy = Limits(min_replicas_max=10, max_replicas_max=20)
    assert patched(WEB, patch({"replicas": {"min": 8, "max": 20}}), roomy).replicas == Replicas(
        8, 20
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"replicas": {"min": "2"}}, id="text-for-a-number"),
        pytest.param({"scale": 2}, id="unknown-key"),
        pytest.param({"resources": {"memory": "12 parsecs"}}, id="bad-memory"),
        pytest.param({"engine_args": {"x": [1, 2]}}, id="engine-arg-not-a-scalar"),
    ],
)
def test_bodies_that_are_not_settings(body: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        patch(body)


def test_traffic_is_live_and_a_null_cap_lifts_it() -> None:
    capped = patched(WEB, patch({"traffic": {"max-concurrency": 3}}), LIMITS)
    lifted = patched(capped, patch({"traffic": {"max_concurrency": None}}), LIMITS)

    assert patch({"traffic": {"queue": 5}}).live
    assert not patch({"traffic": {"queue": 5}}).restart
    assert capped.traffic.max_concurrency == 3
    assert lifted.traffic.max_concurrency is None
    with pytest.raises(InvalidSpec, match="timeout cannot be null"):
        patched(WEB, patch({"traffic": {"timeout": None}}), LIMITS)


def test_a_model_endpoints_engine_args_are_checked_against_its_framework() -> None:
    embedder = EndpointSpec("serve", "runtime", "sentence-transformers", model="acme/minilm")

    ok = patched(embedder, patch({"engine_args": {"max-batch-size": 8}}), LIMITS)
    assert ok.engine_args == {"max-batch-size": 8}
    with pytest.raises(InvalidSpec, match="no engine arg 'block-size'"):
        patched(embedder, patch({"engine_args": {"block-size": 16}}), LIMITS)
    with pytest.raises(InvalidSpec, match="cannot apply quantization 'gptq'"):
        patched(embedder, patch({"quantization": "gptq"}), LIMITS)
