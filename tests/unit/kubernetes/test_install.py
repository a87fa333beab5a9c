"""``waypost k8s install``'s manifests validate and grant no more than the runtime uses."""

from __future__ import annotations

import base64

import kubernetes_validate

from waypost.runtimes.kubernetes.install import CREATE_ONLY, InstallOptions, install_manifests


def test_every_object_validates() -> None:
    opts = InstallOptions(managed_namespaces=("models", "apps"), database_url="postgresql://x/y")
    objects = install_manifests(opts, gateway_token="tok")
    for obj in objects:
        kubernetes_validate.validate(obj, "1.37.0", strict=True)
    kinds = [(o["kind"], o["metadata"].get("namespace")) for o in objects]
    assert ("Role", "models") in kinds
    assert ("Role", "apps") in kinds
    assert ("NetworkPolicy", "models") in kinds
    assert ("NetworkPolicy", "apps") in kinds
    assert not any(k.startswith("Cluster") for k, _ in kinds)  # RBAC limited to namespaces


def test_gateways_and_the_control_plane_share_the_token_and_url() -> None:
    objects = install_manifests(InstallOptions(gateway_replicas=3), gateway_token="tok")
    by = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    token = by[("Secret", "waypost-gateway-token")]
    assert base64.b64decode(token["data"]["token"]) == b"tok"
    assert token["metadata"]["annotations"][CREATE_ONLY] == "true"
    gateway = by[("Deployment", "waypost-gateway")]
    assert gateway["spec"]["replicas"] == 3
    command = gateway["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--control-url") + 1] == "http://waypost-control.waypost.svc:8081"
    assert ("PodDisruptionBudget", "waypost-gateway") in by
    control = by[("Deployment", "waypost-control")]
    assert control["spec"]["replicas"] == 1
    assert control["spec"]["strategy"]["type"] == "Recreate"
    env = {e["name"]: e for e in control["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WAYPOST_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "waypost-database",
        "key": "url",
    }
    assert ("Secret", "waypost-database") not in by  # no URL given: the Secret must exist


def test_only_gateways_reach_replicas() -> None:
    (policy,) = [
        o
        for o in install_manifests(InstallOptions(), gateway_token="t")
        if o["kind"] == "NetworkPolicy"
    ]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "replica"
    (source,) = policy["spec"]["ingress"][0]["from"]
    assert source["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "gateway"}}
