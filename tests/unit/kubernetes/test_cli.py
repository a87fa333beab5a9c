"""``waypost k8s render`` and ``install`` print valid manifests (no cluster, no API)."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import jsonschema
import kubernetes_validate
import yaml
from typer.testing import CliRunner

from waypost.cli.k8s import k8s_app

SCHEMA = json.loads(
    (Path(__file__).parents[2] / "data" / "gateway-api" / "httproute-v1.schema.json").read_text()
)

WAYPOST_YAML = """\
project: acme/shop
deployment: churn
endpoints:
  - name: web
    wsgi: app:app
    health: /health
    replicas: {min: 1, max: 3}
    resources: {cpu: 1, memory: 1Gi}
  - name: raw
    server-command: python serve.py
    strip-prefix: true
aliases:
  - name: production
    backends:
      a: {version: 1, endpoint: web, weight: 9}
      b: {version: 1, endpoint: web, weight: 1}
    mirrors:
      shadow: {version: 1, endpoint: raw}
"""


def test_render_a_folder_with_gateway_api_routes(tmp_path: Path) -> None:
    (tmp_path / "waypost.yaml").write_text(dedent(WAYPOST_YAML))
    (tmp_path / "app.py").write_text("app = None\n")
    result = CliRunner().invoke(
        k8s_app, ["render", str(tmp_path), "--gateway-api", "--namespace", "apps"]
    )
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds.count("Deployment") == 2
    assert kinds.count("Service") == 2
    assert kinds.count("PodDisruptionBudget") == 1  # only web may have several replicas
    routes = [d for d in docs if d["kind"] == "HTTPRoute"]
    prefixes = {r["metadata"]["annotations"]["waypost.io/prefix"] for r in routes}
    assert "acme/shop/churn/production/web" in prefixes
    assert "acme/shop/churn/1/raw" in prefixes
    for doc in docs:
        if doc["kind"] == "HTTPRoute":
            jsonschema.validate(doc, SCHEMA)
        else:
            kubernetes_validate.validate(doc, "1.37.0", strict=True)
    (deployment,) = [
        d for d in docs if d["kind"] == "Deployment" and "-web-" in d["metadata"]["name"]
    ]
    fetch = deployment["spec"]["template"]["spec"]["initContainers"][0]["command"]
    digest = fetch[fetch.index("--sha256") + 1]
    assert len(digest) == 64
    assert fetch[fetch.index("--url") + 1].endswith(f"/api/v1/internal/bundles/{digest}")


def test_install_prints_valid_manifests() -> None:
    result = CliRunner().invoke(k8s_app, ["install", "--gateways", "3", "--manage", "models"])
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] == "Role"} == {"models"}
