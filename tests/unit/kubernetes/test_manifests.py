"""A unit's manifests: valid against Kubernetes 1.37's schema, and what the local runtime runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec, Health, Replicas, Resources
from waypost.runtimes.base import Workload
from waypost.runtimes.kubernetes.manifests import unit_manifests, with_owner
from waypost.runtimes.kubernetes.options import KubernetesOptions
from waypost.runtimes.kubernetes.podspec import cpu_quantity, memory_quantity
from waypost.runtimes.local.commands import replica_argv

KEY = UnitKey("acme", "shop", "churn-model", 3, "predict")
DIGEST = "b" * 64
OPTIONS = KubernetesOptions(api_url="http://control.test:8081")


def wl(spec: EndpointSpec, env: dict[str, str] | None = None) -> Workload:
    return Workload(KEY, spec, Path("/x.tar.gz"), DIGEST, env=env or {})


SPECS = [
    pytest.param(EndpointSpec("predict", "wsgi", "app:app"), id="wsgi"),
    pytest.param(EndpointSpec("predict", "asgi", "main:app", workers=2), id="asgi"),
    pytest.param(
        EndpointSpec("predict", "server-command", "python serve.py", port=9000), id="server-command"
    ),
    pytest.param(
        EndpointSpec(
            "predict",
            "runtime",
            "sentence-transformers",
            model="acme/minilm",
            engine_args={"max-batch-size": 8},
        ),
        id="runtime",
    ),
    pytest.param(
        EndpointSpec(
            "predict",
            "wsgi",
            "app:app",
            image="registry.test/team/app:1",
            requirements="requirements.txt",
            replicas=Replicas(2, 4),
            resources=Resources(cpu=1.5, memory=2 * 1024**3, gpu=1, gpu_type="NVIDIA-A10G"),
            node_selector={"pool": "gpu"},
            health=Health(path="/healthz", startup_timeout=120),
        ),
        id="gpu-everything",
    ),
]


def _validate(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, "1.37.0", strict=True)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("source", ["fetch", "image"])
def test_every_object_validates(spec: EndpointSpec, source: str) -> None:
    options = KubernetesOptions(bundle_source=source)  # type: ignore[arg-type]
    manifests = unit_manifests(wl(spec, {"TOKEN": "s3cret"}), options, token="t", cpu_target=0.7)
    for obj in manifests.all():
        _validate(obj)
    owned = with_owner(
        manifests.service,
        {**manifests.deployment, "metadata": {**manifests.deployment["metadata"], "uid": "1234"}},
    )
    _validate(owned)


def _app(manifests: Any) -> dict[str, Any]:
    (app,) = manifests.deployment["spec"]["template"]["spec"]["containers"]
    return dict(app)


def test_the_command_is_the_local_runtimes_on_the_pod_ip() -> None:
    spec = EndpointSpec("predict", "wsgi", "app:app", workers=3)
    app = _app(unit_manifests(wl(spec), OPTIONS))
    expected = replica_argv(
        spec, python=Path("/workspace/env/bin/python"), host="0.0.0.0", port=8000, graceful=8.0
    )
    assert app["command"] == expected
    assert app["workingDir"] == f"/workspace/bundles/{DIGEST}"
    env = {e["name"]: e.get("value") for e in app["env"]}
    assert env["PORT"] == "8000"
    assert env["SCRIPT_NAME"] == "/acme/shop/churn-model/3/predict"
    assert env["VH_DEFAULT_PREFIX"] == "acme/shop/churn-model/3/predict"
    assert env["PYTHONPATH"] == "/workspace/shim"


def test_project_secrets_are_referenced_not_copied() -> None:
    spec = EndpointSpec("predict", "wsgi", "app:app", env={"MODE": "prod", "API_KEY": "spec"})
    manifests = unit_manifests(wl(spec, {"API_KEY": "s3cret"}), OPTIONS, token="tok")
    env = {e["name"]: e for e in _app(manifests)["env"]}
    assert env["MODE"] == {"name": "MODE", "value": "prod"}
    assert env["API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "env.API_KEY"
    assert "s3cret" not in str(manifests.deployment)
    assert set(manifests.secret["data"]) == {"token", "env.API_KEY"}


def test_resources_gpu_and_node_selector() -> None:
    spec = EndpointSpec(
        "predict",
        "wsgi",
        "app:app",
        resources=Resources(cpu=0.5, memory=512 * 1024**2, gpu=2, gpu_type="A100"),
        node_selector={"pool": "gpu"},
    )
    manifests = unit_manifests(wl(spec), OPTIONS)
    pod = manifests.deployment["spec"]["template"]["spec"]
    assert _app(manifests)["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi", "nvidia.com/gpu": "2"},
        "limits": {"cpu": "500m", "memory": "512Mi", "nvidia.com/gpu": "2"},
    }
    assert pod["nodeSelector"] == {"pool": "gpu", "nvidia.com/gpu.product": "A100"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_probes_follow_health_and_drain_precedes_sigterm() -> None:
    with_path = _app(
        unit_manifests(
            wl(
                EndpointSpec("p1", "wsgi", "a:b", health=Health(path="healthz", startup_timeout=90))
            ),
            OPTIONS,
        )
    )
    assert with_path["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert with_path["startupProbe"]["failureThreshold"] == 90
    without = _app(unit_manifests(wl(EndpointSpec("p1", "wsgi", "a:b")), OPTIONS))
    assert without["readinessProbe"]["tcpSocket"] == {"port": "http"}
    assert without["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
    manifests = unit_manifests(wl(EndpointSpec("p1", "wsgi", "a:b")), OPTIONS)
    assert manifests.deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 15


def test_replicas_belong_to_the_scale_subresource_and_pdb_to_multi_replica_units() -> None:
    one = unit_manifests(wl(EndpointSpec("p1", "wsgi", "a:b")), OPTIONS)
    assert "replicas" not in one.deployment["spec"]
    assert one.pdb is None
    assert one.hpa is None
    many = unit_manifests(wl(EndpointSpec("p1", "wsgi", "a:b", replicas=Replicas(1, 3))), OPTIONS)
    assert many.pdb is not None
    assert many.pdb["spec"]["maxUnavailable"] == 1


def test_hpa_only_when_asked_and_with_a_cpu_request() -> None:
    spec = EndpointSpec("p1", "wsgi", "a:b", replicas=Replicas(1, 6), resources=Resources(cpu=1))
    hpa = unit_manifests(wl(spec), OPTIONS, cpu_target=0.7).hpa
    assert hpa is not None
    assert hpa["spec"]["maxReplicas"] == 6
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    no_cpu = spec.with_changes(resources=Resources())
    assert unit_manifests(wl(no_cpu), OPTIONS, cpu_target=0.7).hpa is None


def test_the_spec_hash_moves_with_the_spec_not_the_token() -> None:
    spec = EndpointSpec("p1", "wsgi", "a:b")
    first = unit_manifests(wl(spec), OPTIONS, token="one").spec_hash
    assert unit_manifests(wl(spec), OPTIONS, token="two").spec_hash == first
    assert unit_manifests(wl(spec.with_changes(image="x:2")), OPTIONS).spec_hash != first


def test_image_mode_runs_what_the_image_holds() -> None:
    options = KubernetesOptions(bundle_source="image", image_workdir="/srv/app")
    manifests = unit_manifests(wl(EndpointSpec("p1", "wsgi", "a:b", image="me/app:1")), options)
    pod = manifests.deployment["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["fetch"]  # the shim only
    assert "--url" not in pod["initContainers"][0]["command"]
    assert _app(manifests)["command"][0] == "python"
    assert _app(manifests)["workingDir"] == "/srv/app"


@pytest.mark.parametrize(
    ("cpu", "text"), [(2, "2"), (0.5, "500m"), (1.25, "1250m"), (0.0001, "1m")]
)
def test_cpu_quantities(cpu: float, text: str) -> None:
    assert cpu_quantity(cpu) == text


def test_memory_quantities() -> None:
    assert memory_quantity(256 * 1024**2) == "256Mi"
    assert memory_quantity(1000) == "1000"
