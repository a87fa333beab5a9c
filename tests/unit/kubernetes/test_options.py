"""KubernetesOptions from the environment."""

from __future__ import annotations

import pytest

from waypost.errors import InvalidSpec
from waypost.runtimes.kubernetes.options import KubernetesOptions


def test_from_environ_reads_waypost_k8s_variables() -> None:
    options = KubernetesOptions.from_environ(
        {"WAYPOST_K8S_NAMESPACE": "models", "WAYPOST_K8S_DRAIN_SECONDS": "2.5", "KUBECONFIG": "/k"}
    )
    assert (options.namespace, options.drain_seconds, options.kubeconfig) == ("models", 2.5, "/k")
    assert KubernetesOptions.from_environ({}, namespace="x").namespace == "x"


@pytest.mark.parametrize(
    "environ",
    [
        {"WAYPOST_K8S_DRAIN_SECONDS": "soon"},
        {"WAYPOST_K8S_BUNDLE_SOURCE": "s3"},
        {"WAYPOST_K8S_API_URL": "control:8081"},
    ],
)
def test_bad_values_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(InvalidSpec):
        KubernetesOptions.from_environ(environ)
