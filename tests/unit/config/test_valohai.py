"""valohai.yaml: ``- endpoint:`` entries as Valohai writes them; the rest is skipped."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from tests.unit.config._support import Token, find, problems_of, spot, where
from waypost.config import parse_valohai_yaml
from waypost.model.spec import DeploymentSpec, EndpointSpec, FileBinding, Resources

# examples/valohai-greet/valohai.yaml
GREET = """\
# Valohai's own format, accepted as it is: deploy with
#   waypost deploy examples/valohai-greet --project acme/hello --deployment greeter
- step:
    name: train
    image: python:3.11
    command: python train.py

- endpoint:
    name: greet
    description: Says hello
    image: python:3.11
    wsgi: predict:app
    port: 8000
"""

FULL = """\
- step:
    name: train
    image: tensorflow/tensorflow:2.6.0
    command:
      - pip install -r requirements.txt
      - python train.py {parameters}
    parameters:
      - name: epochs
        type: integer
        default: 5
- pipeline:
    name: train-and-deploy
    nodes: []
    edges: []
- endpoint:
    name: digits
    description: Predict digits from image inputs
    image: tensorflow/tensorflow:2.6.0
    wsgi: predict_digit
    files:
      - name: model
        description: Model output file from TensorFlow
        path: model.h5
    resources:
      cpu: {min: 0.5, max: 2}
      memory: {min: 256, max: 1024}
      devices:
        nvidia.com/gpu: 1
    node-selector: pool=gpu
- endpoint:
    name: server
    image: python:3.11
    server-command:
      - pip install -r requirements.txt
      - python run_server.py
    port: 8080
    node-selector: "pool=cpu, zone=b"
"""


def test_the_example_becomes_one_deployment_named_as_asked() -> None:
    config = parse_valohai_yaml(GREET, file="valohai.yaml", deployment_name="greeter")
    assert config.project is None
    assert config.aliases == ()
    assert config.sources == ("valohai.yaml",)
    assert config.deployments == (
        DeploymentSpec(
            "greeter",
            (
                EndpointSpec(
                    name="greet",
                    kind="wsgi",
                    target="predict:app",
                    port=8000,
                    image="python:3.11",
                    description="Says hello",
                ),
            ),
        ),
    )


def test_every_endpoint_key(tmp_path: Path) -> None:
    folder = tmp_path / "digits-project"
    folder.mkdir()
    (folder / "requirements.txt").write_text("flask\n")
    config = parse_valohai_yaml(FULL, folder=folder)
    (deployment,) = config.deployments
    assert deployment.name == "digits-project"
    digits, server = deployment.endpoints
    assert digits == EndpointSpec(
        name="digits",
        kind="wsgi",
        target="predict_digit:application",
        requirements="requirements.txt",
        files=(FileBinding("model", "model.h5", None, "Model output file from TensorFlow"),),
        resources=Resources(cpu=2.0, memory=1024 * 2**20, gpu=1),
        image="tensorflow/tensorflow:2.6.0",
        description="Predict digits from image inputs",
        node_selector={"pool": "gpu"},
    )
    assert server == EndpointSpec(
        name="server",
        kind="server-command",
        target="pip install -r requirements.txt && python run_server.py",
        port=8080,
        requirements="requirements.txt",
        image="python:3.11",
        node_selector={"pool": "cpu", "zone": "b"},
    )


def test_only_min_resources_are_the_limit() -> None:
    text = "- endpoint: {name: ep, wsgi: a:b, resources: {cpu: {min: 1}, memory: {min: 512}}}\n"
    (deployment,) = parse_valohai_yaml(text, deployment_name="d1").deployments
    assert deployment.endpoints[0].resources == Resources(cpu=1.0, memory=512 * 2**20)


FILE = "valohai.yaml"
parse = partial(parse_valohai_yaml, file=FILE, deployment_name="dep")


def entry(lines: str, *, first: str = "name: greet") -> str:
    return f"- step: {{name: train}}\n- endpoint:\n    {first}\n{lines}"


ERRORS = [
    pytest.param("a: 1\n", None, "the file should be a list of entries", id="a-mapping"),
    pytest.param("", None, "the file is empty", id="empty"),
    pytest.param("- [1]\n", "[1]", "each entry should be a mapping", id="entry-a-list"),
    pytest.param(
        "- step: {name: train}\n", "- step", "has no - endpoint: entries", id="no-endpoints"
    ),
    pytest.param(
        entry("    wsgi: a:b\n    server-command: run\n"),
        "server-command",
        "either wsgi: or server-command:, not both",
        id="wsgi-and-command",
    ),
    pytest.param(
        entry("    image: python\n"),
        "name: greet",
        "needs wsgi: module:app or server-command:",
        id="neither",
    ),
    pytest.param(
        entry("    wsgi: a:b\n    tolerations: []\n"),
        "tolerations",
        "unknown key 'tolerations' in [1].endpoint",
        id="unknown-key",
    ),
    pytest.param(
        entry("    wsgi: a:b\n    port: 80\n"),
        "80",
        "port must be at least 1025",
        id="low-port",
    ),
    pytest.param(
        entry("    wsgi: a:b\n    node-selector: gpu\n"),
        "gpu",
        "node-selector must be key=value",
        id="bad-node-selector",
    ),
    pytest.param(
        entry("    wsgi: a:b\n    resources: {devices: {example.com/fpga: 1}}\n"),
        "example.com/fpga",
        "waypost can place only GPUs",
        id="not-a-gpu",
    ),
    pytest.param(
        entry("    wsgi: a:b\n    resources: {cpu: {min: 4, max: 2}}\n"),
        "4,",
        "min (4) is more than max (2)",
        id="cpu-min-over-max",
    ),
    pytest.param(
        entry("    wsgi: a:b\n    resources: {memory: {max: 1GB}}\n"),
        "1GB",
        "memory.max must be a number, not the text '1GB'",
        id="memory-not-in-mb",
    ),
    pytest.param(
        entry("    wsgi: predict:create_app()\n"),
        "predict:",
        "wsgi must be module or module:callable",
        id="bad-wsgi",
    ),
    pytest.param(
        entry("    wsgi: a:b\n", first="name: Greet"),
        "Greet",
        "endpoint name may contain only lowercase letters",
        id="bad-name",
    ),
    pytest.param(
        entry("    wsgi: a:b\n") + "- endpoint: {name: greet, wsgi: c:d}\n",
        ("greet", 1),
        "two endpoints are named 'greet'",
        id="duplicate-endpoint",
    ),
    pytest.param(
        entry("    wsgi: a:b\n    wsgi: c:d\n"),
        "wsgi: c:d",
        "duplicate key 'wsgi'",
        id="duplicate-key",
    ),
    pytest.param(
        "- endpoint:\n    name: x\n   wsgi: a\n",
        "wsgi",
        "invalid YAML: expected <block end>, but found '<block mapping start>'",
        id="broken-yaml",
    ),
]


@pytest.mark.parametrize(("text", "token", "fragment"), ERRORS)
def test_problems(text: str, token: Token, fragment: str) -> None:
    problem = find(problems_of(parse, text), fragment)
    assert where(problem) == (FILE, *spot(text, token))


def test_without_a_name_or_folder() -> None:
    no_name = partial(parse_valohai_yaml, file=FILE)
    problem = find(problems_of(no_name, GREET), "no deployment name")
    assert where(problem) == (FILE, 1, 1)


def test_other_entries_are_not_validated() -> None:
    text = (
        "- step: {whatever: [1, 2], nested: {deep: true}}\n"
        "- task: 3\n"
        "- endpoint: {name: ep, wsgi: a:b}\n"
    )
    (deployment,) = parse(text).deployments
    assert [e.name for e in deployment.endpoints] == ["ep"]
