"""waypost.yaml: both forms, every endpoint key, aliases, and every mistake."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from textwrap import dedent

import pytest

from tests.unit.config._support import Token, find, problems_of, spot, where
from waypost.config import parse_waypost_yaml
from waypost.model.policy import AliasPolicy, AliasSpec, Backend, Mirror, Target
from waypost.model.spec import (
    Autoscaling,
    DeploymentSpec,
    EndpointSpec,
    FileBinding,
    Health,
    Replicas,
    Resources,
    Traffic,
)

FULL = """\
project: acme/shop
deployment: churn-model
branch: dev
description: Predicts churn
endpoints:
  - name: web
    wsgi: app.main:app
    port: 9000
    requirements: reqs/web.txt
    files:
      - {name: model, path: model.pkl, source: ../artifacts/model.pkl, description: weights}
    env: {DEBUG: on, MODE: 0o17, RATIO: 1.50, NAME: plain}
    replicas: {min: 0, max: 3}
    resources: {cpu: 1.5, memory: 512Mi, gpu: 1, gpu-type: a100, preset: small}
    health: {path: /ready, startup-timeout: 2m, interval: 250ms}
    autoscaling: {target-concurrency: 8, idle-timeout: 300}
    visibility: private
    image: python:3.11-slim
    description: The web app
    node-selector: {pool: cpu, spot: true}
    strip-prefix: true
    workers: 4
    cluster: k8s-east
  - name: embed
    runtime: sentence-transformers
    model: BAAI/bge-small-en-v1.5
    engine-args: {max-batch-size: 32, normalize-embeddings: true, dtype: bfloat16}
    quantization: int8
aliases:
  - name: production
    backends:
      control: {version: 3, weight: 9}
      candidate: {deployment: {name: churn-model, version: latest}, weight: 1}
    mirrors:
      shadow: {version: 4, endpoint: web}
    sticky: header:X-User
"""

FOLDER_FILES = ("reqs/web.txt",)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    for name in FOLDER_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("flask\n")
    return folder


def test_one_deployment_with_every_key(project: Path) -> None:
    config = parse_waypost_yaml(FULL, file="waypost.yaml", folder=project)
    assert config.project == "acme/shop"
    assert config.sources == ("waypost.yaml",)
    web = EndpointSpec(
        name="web",
        kind="wsgi",
        target="app.main:app",
        port=9000,
        requirements="reqs/web.txt",
        files=(FileBinding("model", "model.pkl", "../artifacts/model.pkl", "weights"),),
        env={"DEBUG": "on", "MODE": "0o17", "RATIO": "1.50", "NAME": "plain"},
        replicas=Replicas(0, 3),
        resources=Resources(cpu=1.5, memory=512 * 2**20, gpu=1, gpu_type="a100", preset="small"),
        health=Health("/ready", 120.0, 0.25),
        autoscaling=Autoscaling(8.0, 300.0),
        visibility="private",
        image="python:3.11-slim",
        description="The web app",
        node_selector={"pool": "cpu", "spot": "true"},
        strip_prefix=True,
        workers=4,
        cluster="k8s-east",
    )
    embed = EndpointSpec(
        name="embed",
        kind="runtime",
        target="sentence-transformers",
        model="BAAI/bge-small-en-v1.5",
        engine_args={"max-batch-size": 32, "normalize-embeddings": True, "dtype": "bfloat16"},
        quantization="int8",
    )
    assert config.deployments == (
        DeploymentSpec("churn-model", (web, embed), branch="dev", description="Predicts churn"),
    )
    assert config.deployment("churn-model") is config.deployments[0]
    assert config.deployment("nope") is None
    policy = AliasPolicy(
        backends=(
            Backend("control", Target(None, 3), 9),
            Backend("candidate", Target("churn-model", "latest"), 1),
        ),
        mirrors=(Mirror("shadow", Target(None, 4, "web")),),
        sticky="header:X-User",
    )
    assert config.aliases == (
        AliasSpec("production", "churn-model", policy, source="waypost.yaml"),
    )


def test_defaults(tmp_path: Path) -> None:
    folder = tmp_path / "greeter"
    folder.mkdir()
    (folder / "requirements.txt").write_text("flask\n")
    text = """\
        endpoints:
          - name: web
            asgi: main:app
            health: /health
            replicas: {min: 3}
            resources:
    """
    config = parse_waypost_yaml(dedent(text), folder=folder)
    assert config.project is None
    (deployment,) = config.deployments
    assert (deployment.name, deployment.branch, deployment.description) == ("greeter", "main", None)
    assert deployment.endpoints == (
        EndpointSpec(
            name="web",
            kind="asgi",
            target="main:app",
            requirements="requirements.txt",
            health=Health("/health"),
            replicas=Replicas(3, 3),
        ),
    )


def test_without_a_folder_there_is_no_default_requirements() -> None:
    text = "deployment: hello\nendpoints: [{name: web, server-command: python serve.py}]\n"
    (deployment,) = parse_waypost_yaml(text).deployments
    assert deployment.endpoints[0].requirements is None
    assert deployment.endpoints[0].kind == "server-command"


def test_deployment_name_renames_the_one_deployment_and_its_aliases() -> None:
    text = """\
        deployment: hello
        endpoints: [{name: web, wsgi: app:app}]
        aliases:
          - {name: prod, backends: {a: {version: 1}}}
          - {name: canary, deployment: hello, backends: {a: {version: 2}}}
    """
    config = parse_waypost_yaml(dedent(text), deployment_name="greeter")
    assert [d.name for d in config.deployments] == ["greeter"]
    assert [(a.name, a.deployment) for a in config.aliases] == [
        ("prod", "greeter"),
        ("canary", "greeter"),
    ]


SEVERAL = """\
project: acme/shop
deployments:
  - name: churn
    endpoints: [{name: web, wsgi: app:app}]
  - name: fraud
    branch: exp
    description: Fraud scores
    endpoints:
      - {name: api, asgi: api:app}
      - {name: cli, server-command: ./serve}
aliases:
  - name: prod
    deployment: fraud
    backends:
      a: {version: 2}
"""


def test_several_deployments() -> None:
    config = parse_waypost_yaml(SEVERAL, deployment_name="fraud")
    assert [(d.name, d.branch, d.description) for d in config.deployments] == [
        ("churn", "main", None),
        ("fraud", "exp", "Fraud scores"),
    ]
    assert [e.name for e in config.deployments[1].endpoints] == ["api", "cli"]
    assert config.aliases[0].deployment == "fraud"


def test_aliases_only() -> None:
    text = (
        "project: acme/shop\n"
        "aliases: [{name: prod, deployment: churn, backends: {a: {version: 1}}}]\n"
    )
    config = parse_waypost_yaml(text)
    assert config.deployments == ()
    assert config.aliases[0].deployment == "churn"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        pytest.param("300", 300.0, id="number-text"),
        pytest.param("300s", 300.0, id="seconds"),
        pytest.param("5m", 300.0, id="minutes"),
        pytest.param("1h", 3600.0, id="hours"),
        pytest.param("1500ms", 1.5, id="milliseconds"),
        pytest.param("2.5", 2.5, id="fraction"),
    ],
)
def test_durations(value: str, seconds: float) -> None:
    text = (
        "deployment: d1\n"
        "endpoints:\n"
        "  - name: web\n"
        "    wsgi: a:b\n"
        f"    autoscaling: {{idle-timeout: {value}}}\n"
    )
    (deployment,) = parse_waypost_yaml(text).deployments
    assert deployment.endpoints[0].autoscaling.idle_timeout == seconds


FILE = "waypost.yaml"


def parse_in(folder: Path | None, text: str) -> object:
    return parse_waypost_yaml(text, file=FILE, folder=folder)


def endpoint(lines: str, *, name: str = "web", kind: str = "wsgi: app:app") -> str:
    """A file with one endpoint: its name, its kind and ``lines`` (flow-style keys)."""
    return f"deployment: shop\nendpoints:\n  - name: {name}\n    {kind}\n{lines}"


ERRORS = [
    pytest.param(
        "endpoints: [a, b\nproject: acme/shop\n",
        ": acme",
        "invalid YAML: expected ',' or ']', but got ':'",
        id="broken-yaml",
    ),
    pytest.param("- a\n", None, "the file should be a mapping", id="not-a-mapping"),
    pytest.param("", None, "the file is empty", id="empty"),
    pytest.param(
        endpoint("    replicas: {min: 1, mxa: 2}\n"),
        "mxa",
        "unknown key 'mxa' in endpoints[0].replicas; did you mean 'max'?",
        id="unknown-key",
    ),
    pytest.param(
        endpoint("    server_command: x\n"),
        "server_command",
        "unknown key 'server_command' in endpoints[0]; did you mean 'server-command'?",
        id="snake-case-key",
    ),
    pytest.param(
        endpoint("    port: '8000'\n"),
        "'8000'",
        "port must be a whole number, not the text '8000'",
        id="wrong-type",
    ),
    pytest.param(
        endpoint("    workers: 0\n"),
        "0\n",
        "workers must be at least 1",
        id="zero-workers",
    ),
    pytest.param(
        endpoint("", name="Web_App"),
        "Web_App",
        "endpoint name may contain only lowercase letters, digits and '-'",
        id="bad-endpoint-name",
    ),
    pytest.param(
        "deployment: 9shop\nendpoints: [{name: web, wsgi: a:b}]\n",
        "9shop",
        "deployment name must start with a letter",
        id="bad-deployment-name",
    ),
    pytest.param(
        "project: acme\nendpoints: [{name: web, wsgi: a:b}]\ndeployment: shop\n",
        "acme",
        "project must be organization/project",
        id="project-without-org",
    ),
    pytest.param(
        "project: acme/-shop\nendpoints: [{name: web, wsgi: a:b}]\ndeployment: shop\n",
        "acme/-shop",
        "project name must start with a letter",
        id="bad-project-name",
    ),
    pytest.param(
        endpoint("    asgi: app:app\n"),
        "asgi",
        "has both wsgi: and asgi:",
        id="wsgi-and-asgi",
    ),
    pytest.param(
        endpoint("    port: 80\n", kind="description: nothing to run"),
        "name: web",
        "needs one of wsgi: module:app, asgi: module:app",
        id="no-kind",
    ),
    pytest.param(
        endpoint("", kind="runtime: vllm"),
        "runtime",
        "runtime: needs model: owner/name",
        id="runtime-without-model",
    ),
    pytest.param(
        endpoint("    model: org/m\n"),
        "model",
        "model: is used only together with runtime:",
        id="model-without-runtime",
    ),
    pytest.param(
        endpoint("", kind="wsgi: app.py"),
        "app.py",
        "wsgi must be module:callable",
        id="bad-wsgi-target",
    ),
    pytest.param(
        endpoint("    health: health\n"),
        "health\n",
        "health.path must be a URL path starting with '/'",
        id="health-without-slash",
    ),
    pytest.param(
        endpoint("    health: {startup-timeout: soon}\n"),
        "soon",
        "health.startup-timeout must be a duration like 500ms, 60s or 5m",
        id="bad-duration",
    ),
    pytest.param(
        endpoint("    autoscaling: {idle-timeout: 0}\n"),
        "0}",
        "autoscaling.idle-timeout must be a duration above zero",
        id="zero-duration",
    ),
    pytest.param(
        endpoint("    autoscaling: {target-concurrency: 0}\n"),
        "0}",
        "autoscaling.target-concurrency must be more than 0",
        id="zero-concurrency",
    ),
    pytest.param(
        endpoint("    resources: {memory: 2GB-ish}\n"),
        "2GB-ish",
        "resources.memory must be a memory size like 512Mi",
        id="bad-memory",
    ),
    pytest.param(
        endpoint("    resources: {memory: 512}\n"),
        "512",
        "resources.memory is only 512 bytes",
        id="memory-in-bytes-by-mistake",
    ),
    pytest.param(
        endpoint("    replicas: {min: 3, max: 2}\n"),
        "3,",
        "min replicas (3) is more than max replicas (2)",
        id="min-over-max",
    ),
    pytest.param(
        endpoint("    replicas: {max: 0}\n"),
        "0}",
        "replicas.max must be at least 1",
        id="max-zero",
    ),
    pytest.param(
        endpoint("    replicas: {min: -1}\n"),
        "-1",
        "replicas.min must be at least 0",
        id="negative-min",
    ),
    pytest.param(
        endpoint("    visibility: hidden\n"),
        "hidden",
        "visibility must be one of 'public' or 'private', not the text 'hidden'",
        id="bad-visibility",
    ),
    pytest.param(
        endpoint("    env: {1BAD: x}\n"),
        "1BAD",
        "the key '1BAD' in endpoints[0].env must be a valid environment variable name",
        id="bad-env-name",
    ),
    pytest.param(
        endpoint("    env: {A: [1, 2]}\n"),
        "[1, 2]",
        "env.A must be a single value",
        id="env-value-a-list",
    ),
    pytest.param(
        endpoint("    requirements: ../secrets.txt\n"),
        "../secrets.txt",
        "requirements must be a relative path inside the project folder",
        id="requirements-outside",
    ),
    pytest.param(
        endpoint("    replicas: {min: 1, min: 2}\n"),
        ("min", 1),
        "duplicate key 'min'",
        id="duplicate-key",
    ),
    pytest.param(
        "deployment: shop\nendpoints:\n  - {name: web, wsgi: a:b}\n  - {name: web, asgi: c:d}\n",
        ("web", 1),
        "two endpoints are named 'web'",
        id="duplicate-endpoint",
    ),
    pytest.param(
        "deployment: shop\nendpoints: []\n",
        "[]",
        "a deployment needs at least one endpoint",
        id="no-endpoints",
    ),
    pytest.param(
        "deployment: shop\n",
        "deployment",
        "deployment 'shop' declares no endpoints",
        id="deployment-without-endpoints",
    ),
    pytest.param(
        "endpoints: [{name: web, wsgi: a:b}]\n",
        None,
        "no deployment name",
        id="no-name-anywhere",
    ),
    pytest.param(
        "deployments:\n  - {name: a1, endpoints: [{name: web, wsgi: a:b}]}\n"
        "  - {name: a1, endpoints: [{name: web, wsgi: a:b}]}\n",
        ("a1", 1),
        "two deployments are named 'a1'",
        id="duplicate-deployment",
    ),
    pytest.param(
        "deployments:\n  - {name: a1, endpoints: [{name: web, wsgi: a:b}]}\n"
        "endpoints: [{name: api, wsgi: a:b}]\n",
        ("endpoints", 1),
        "endpoints: belongs inside one entry of deployments:",
        id="both-forms",
    ),
    pytest.param(
        "deployments:\n  - {name: a1, endpoints: [{name: web, wsgi: a:b}]}\n"
        "  - {name: a2, endpoints: [{name: web, wsgi: a:b}]}\n"
        "aliases: [{name: prod, backends: {x: {version: 1}}}]\n",
        "{name: prod",
        "say which deployment this alias is on",
        id="alias-needs-deployment",
    ),
    pytest.param(
        "deployments:\n  - {name: a1, endpoints: [{name: web, wsgi: a:b}]}\n"
        "aliases: [{name: prod, deployment: b1, backends: {x: {version: 1}}}]\n",
        "b1",
        "deployment 'b1' is not declared in this file (declared: a1)",
        id="alias-on-unknown-deployment",
    ),
    pytest.param(
        endpoint("aliases: [{name: latest, backends: {x: {version: 1}}}]\n"),
        "latest",
        "alias name 'latest' is reserved",
        id="alias-latest",
    ),
    pytest.param(
        endpoint("aliases: [{name: '123', backends: {x: {version: 1}}}]\n"),
        "'123'",
        "alias name '123' is all digits",
        id="alias-digits",
    ),
    pytest.param(
        endpoint("aliases: [{name: prod, backends: {x: {version: 1, weight: 0}}}]\n"),
        "backends",
        "weights add up to 0",
        id="alias-zero-weight",
    ),
    pytest.param(
        endpoint("aliases: [{name: prod, backends: {x: {weight: 2}}}]\n"),
        "{weight: 2}",
        "needs version: (a version of the alias's own deployment)",
        id="backend-without-version",
    ),
    pytest.param(
        endpoint("aliases: [{name: prod, backends: {x: {version: 1}}, sticky: ip}]\n"),
        "ip}",
        "sticky must be header:NAME or cookie:NAME",
        id="bad-sticky",
    ),
    pytest.param(
        endpoint(
            "aliases:\n  - {name: prod, backends: {x: {version: 1}}}\n"
            "  - {name: prod, backends: {x: {version: 2}}}\n"
        ),
        ("prod", 1),
        "deployment 'shop' has two aliases named 'prod'",
        id="duplicate-alias",
    ),
]


@pytest.mark.parametrize(("text", "token", "fragment"), ERRORS)
def test_problems(text: str, token: Token, fragment: str) -> None:
    problem = find(problems_of(partial(parse_in, None), text), fragment)
    assert where(problem) == (FILE, *spot(text, token))


def test_deployment_name_must_be_one_of_several() -> None:
    parse = partial(parse_waypost_yaml, file=FILE, deployment_name="billing")
    problem = find(problems_of(parse, SEVERAL), "no deployment here is named 'billing'")
    assert where(problem) == (FILE, *spot(SEVERAL, "deployments"))
    assert "declared: churn, fraud" in problem.message


def test_missing_requirements_file(tmp_path: Path) -> None:
    text = endpoint("    requirements: reqs.txt\n")
    problem = find(problems_of(partial(parse_in, tmp_path), text), "does not exist")
    assert where(problem) == (FILE, *spot(text, "reqs.txt"))
    assert (
        problem.message == "the requirements file 'reqs.txt' does not exist in the project folder"
    )


def test_missing_bound_file(tmp_path: Path) -> None:
    text = endpoint("    files: [{name: m, path: model.pkl}]\n")
    problem = find(problems_of(partial(parse_in, tmp_path), text), "add source:")
    assert where(problem) == (FILE, *spot(text, "model.pkl"))


def test_folder_name_that_cannot_be_a_deployment_name(tmp_path: Path) -> None:
    folder = tmp_path / "my project"
    folder.mkdir()
    text = "endpoints: [{name: web, wsgi: a:b}]\n"
    problem = find(problems_of(partial(parse_in, folder), text), "the folder name 'my project'")
    assert where(problem) == (FILE, 1, 1)


def test_three_mistakes_give_three_problems() -> None:
    text = """\
        deployment: shop
        endpoints:
          - name: web
            wsgi: app:app
            asgi: app:app
            replicas: {min: 2, max: lots}
            helth: /health
    """
    problems = problems_of(partial(parse_in, None), text)
    assert [(p.line, p.column) for p in problems] == [
        spot(text, "asgi"),
        spot(text, "lots"),
        spot(text, "helth"),
    ]
    assert [p.field for p in problems] == [
        "endpoints[0].asgi",
        "endpoints[0].replicas.max",
        "endpoints[0].helth",
    ]


def test_problems_of_every_endpoint_and_alias_at_once() -> None:
    text = """\
        deployments:
          - name: a1
            endpoints: [{name: Web, wsgi: a:b}]
          - name: a2
            endpoints: [{name: api, wsgi: a:b, port: 0}]
        aliases:
          - {name: prod, deployment: a1, backends: {x: {version: 0}}}
    """
    problems = problems_of(partial(parse_in, None), text)
    assert [p.field for p in problems] == [
        "deployments[0].endpoints[0].name",
        "deployments[1].endpoints[0].port",
        "aliases[0].backends.x.version",
    ]


def test_traffic_settings_become_the_endpoints_traffic() -> None:
    text = endpoint(
        "    traffic: {timeout: 30s, connect-timeout: 500ms, max-concurrency: 4, queue: 10,\n"
        "              queue-timeout: 2s, retry-non-idempotent: true}\n"
    )
    config = parse_in(None, text)
    [deployment] = config.deployments  # type: ignore[attr-defined]
    [spec] = deployment.endpoints

    assert spec.traffic == Traffic(30.0, 0.5, 4, 10, 2.0, True)
    assert (
        parse_in(None, endpoint("    traffic:\n")).deployments[0].endpoints[0].traffic == Traffic()
    )  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "token", "fragment"),
    [
        ("    traffic: {max-concurrency: 0}\n", "0}", "must be at least 1, not 0"),
        ("    traffic: {timeout: soon}\n", "soon", "duration"),
        ("    traffic: {retry: true}\n", "retry", "retry"),
    ],
)
def test_bad_traffic_settings_point_at_the_value(line: str, token: str, fragment: str) -> None:
    text = endpoint(line)
    problem = find(problems_of(partial(parse_in, None), text), fragment)
    assert where(problem) == (FILE, *spot(text, token))


@pytest.mark.parametrize(
    ("line", "token", "fragment"),
    [
        ("    engine-args: {no-such-arg: 1}\n", "no-such-arg", "no-such-arg"),
        ("    quantization: awq\n", "awq", "cannot apply quantization 'awq'"),
    ],
)
def test_a_runtime_endpoints_engine_args_and_quantization_are_checked(
    line: str, token: str, fragment: str
) -> None:
    text = endpoint(
        line, name="serve", kind="runtime: sentence-transformers\n    model: acme/minilm"
    )
    problem = find(problems_of(partial(parse_in, None), text), fragment)
    assert where(problem) == (FILE, *spot(text, token))


def test_an_unknown_runtime_framework_names_the_known_ones() -> None:
    text = endpoint("", name="serve", kind="runtime: magic\n    model: acme/minilm")
    problem = find(problems_of(partial(parse_in, None), text), "unknown runtime framework")
    assert "sentence-transformers" in problem.message
    assert where(problem) == (FILE, *spot(text, "magic"))
