"""Builds: bundles unpacked, envs made with uv (or pip), cached, and refused with reasons."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from waypost.errors import BuildFailed
from waypost.model.spec import FileBinding
from waypost.runtimes.base import ReplicaPhase
from waypost.runtimes.local import LocalRuntime

from .conftest import SERVE_PY, WSGI_ECHO, Deployer, all_in, check_nothing_left, wait_for

READY = ReplicaPhase.READY

FLASK_APP = """\
from flask import Flask, request, url_for

app = Flask(__name__)

@app.get("/")
def index():
    return {"predict": url_for("predict", name="Ada"), "root": request.script_root}

@app.get("/predict")
def predict():
    return {"name": request.args.get("name", "")}

@app.get("/health")
def health():
    return {"status": "ok"}
"""

SIX_APP = "import six\n" + SERVE_PY


def env_dirs(root: Path) -> set[str]:
    return {p.name for p in (root / "envs").iterdir() if p.is_dir()}


async def test_failing_requirements_name_the_requirement(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload(
        {
            "app.py": WSGI_ECHO,
            "requirements.txt": "six\nthis-package-does-not-exist-waypost==0.0.1\n",
        },
        "wsgi",
        "app:app",
        requirements="requirements.txt",
    )
    lines: list[str] = []
    before = env_dirs(runtime.root)
    with pytest.raises(BuildFailed) as caught:
        await runtime.build(workload, lines.append)
    message = caught.value.message
    assert message.startswith("installing requirements.txt failed (exit code 1)")
    assert "could not install this-package-does-not-exist-waypost==0.0.1" in message
    assert "six" not in message.splitlines()[0]
    assert "not found in the package registry" in message  # the installer's own words
    assert any("this-package-does-not-exist-waypost" in line for line in lines)
    assert env_dirs(runtime.root) == before  # nothing half-built counts as an env
    assert not [p for p in (runtime.root / "envs").iterdir() if p.name.startswith(".tmp-")]
    log = (await runtime.read_logs(workload.key)).text
    assert "build failed: installing requirements.txt failed" in log


async def test_requirements_are_installed_once_and_shared_between_versions(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    requirements = "six==1.17.0\n"
    first = deployer.workload(
        {"serve.py": SIX_APP, "requirements.txt": requirements},
        "server-command",
        "python serve.py",
        requirements="requirements.txt",
        version=1,
    )
    second = deployer.workload(
        {"serve.py": SIX_APP + "\n# version 2\n", "requirements.txt": requirements},
        "server-command",
        "python serve.py",
        requirements="requirements.txt",
        version=2,
    )
    assert first.bundle_digest != second.bundle_digest
    cold_lines: list[str] = []
    started = time.monotonic()
    await runtime.build(first, cold_lines.append)
    cold = time.monotonic() - started
    warm_lines: list[str] = []
    started = time.monotonic()
    await runtime.build(second, warm_lines.append)
    warm = time.monotonic() - started
    print(f"\nenv with six (uv): cold build {cold:.2f}s, warm build {warm:.3f}s")
    if not any("is cached" in line for line in cold_lines):  # a fresh root: it was made
        assert any("six" in line for line in cold_lines)
    assert any("is cached" in line for line in warm_lines)
    assert not any("making environment" in line for line in warm_lines)

    for workload in (first, second):
        await runtime.scale(workload, 1)
    replicas = [await wait_for(runtime, w.key, all_in(READY, 1)) for w in (first, second)]
    async with httpx.AsyncClient(timeout=5) as client:
        envs = {
            (await client.get(f"http://{r.address}/")).json()["virtual_env"] for [r] in replicas
        }
    assert len(envs) == 1  # the same env for both versions


async def test_concurrent_builds_of_one_env_make_it_once(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workloads = [
        deployer.workload(
            {"app.py": WSGI_ECHO + f"\n# {n}\n", "req.txt": "six\n# concurrent\n"},
            "wsgi",
            "app:app",
            requirements="req.txt",
            version=n,
        )
        for n in (1, 2, 3)
    ]
    lines: list[str] = []
    await asyncio.gather(*(runtime.build(w, lines.append) for w in workloads))
    assert sum("making environment" in line for line in lines) <= 1


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        pytest.param(
            {"files": (FileBinding("model", "models/model.pkl"), FileBinding("vocab", "v.txt"))},
            "declared files missing from the bundle: model (models/model.pkl), vocab (v.txt)",
            id="files",
        ),
        pytest.param(
            {"requirements": "requirements.txt"},
            "requirements file 'requirements.txt' is not in the bundle",
            id="requirements-missing",
        ),
        pytest.param(
            {"requirements": "../../etc/passwd"},
            "requirements file '../../etc/passwd' must be a relative path inside the bundle",
            id="requirements-outside",
        ),
        pytest.param(
            {"kind": "runtime", "target": "transformers", "model": "acme/gpt"},
            "model acme/gpt is not in the model store: add it with `waypost models add acme/gpt",
            id="runtime-model-missing",
        ),
        pytest.param(
            {"kind": "runtime", "target": "no-such-framework", "model": "acme/gpt"},
            "unknown runtime framework 'no-such-framework'",
            id="runtime-unknown-framework",
        ),
    ],
)
async def test_builds_refused_with_a_reason(
    runtime: LocalRuntime, deployer: Deployer, changes: dict[str, object], says: str
) -> None:
    changes = dict(changes)
    kind, target = changes.pop("kind", "wsgi"), changes.pop("target", "app:app")
    workload = deployer.workload({"app.py": WSGI_ECHO}, kind, target, **changes)  # type: ignore[arg-type]
    with pytest.raises(BuildFailed) as caught:
        await runtime.build(workload, lambda line: None)
    assert caught.value.message.startswith(says)


async def test_declared_files_present_pass(runtime: LocalRuntime, deployer: Deployer) -> None:
    workload = deployer.workload(
        {"app.py": WSGI_ECHO, "models/model.pkl": "weights"},
        "wsgi",
        "app:app",
        files=(FileBinding("model", "models/model.pkl"),),
    )
    await runtime.build(workload, lambda line: None)


async def test_a_real_flask_app_under_gunicorn_gets_url_for_right(
    runtime: LocalRuntime, deployer: Deployer
) -> None:
    workload = deployer.workload(
        {"app.py": FLASK_APP, "requirements.txt": "flask>=3.0\n"},
        "wsgi",
        "app:app",
        deployment="flask",
        requirements="requirements.txt",
        health_path="/health",
    )
    started = time.monotonic()
    await runtime.build(workload, lambda line: None)
    build = time.monotonic() - started
    started = time.monotonic()
    await runtime.scale(workload, 1)
    [replica] = await wait_for(runtime, workload.key, all_in(READY, 1))
    ready = time.monotonic() - started
    print(f"\nflask app: build {build:.2f}s, scale(1) -> READY {ready:.2f}s")
    prefixes = {
        "acme/tests/flask/production/web": "acme/tests/flask/production/web",
        "acme/tests/flask/latest/web": "acme/tests/flask/latest/web",
        "acme/tests/flask/1/web": None,
    }
    async with httpx.AsyncClient(timeout=5) as client:
        for prefix, header in prefixes.items():
            headers = {"X-VH-Prefix": header} if header else {}
            answer = await client.get(f"http://{replica.address}/{prefix}/", headers=headers)
            assert answer.json() == {"predict": f"/{prefix}/predict?name=Ada", "root": f"/{prefix}"}


async def test_without_uv_the_env_is_made_with_venv_and_pip(
    deployer: Deployer, tmp_path: Path
) -> None:
    root = tmp_path / "pip-root"
    runtime = LocalRuntime(root, installer="pip", stop_grace=2.0)
    await runtime.start()
    try:
        workload = deployer.workload({"serve.py": SERVE_PY}, "server-command", "python serve.py")
        lines: list[str] = []
        await runtime.build(workload, lines.append)
        assert any("with pip" in line for line in lines)
        [env] = [p for p in (root / "envs").iterdir() if p.is_dir()]
        # pip's scripts were written for the temp dir; they point at the final one now.
        pip = (env / "bin" / "pip").read_text()
        assert str(env) in pip
        assert ".tmp-" not in pip
        await runtime.scale(workload, 1)
        [replica] = await wait_for(runtime, workload.key, all_in(READY, 1))
        async with httpx.AsyncClient(timeout=5) as client:
            answer = (await client.get(f"http://{replica.address}/")).json()
        assert answer["virtual_env"] == str(env)
    finally:
        await runtime.close()
    check_nothing_left(root, tmp_path)


async def test_a_build_over_its_timeout_is_stopped_and_leaves_no_env(
    deployer: Deployer, tmp_path: Path
) -> None:
    root = tmp_path / "slow-root"
    runtime = LocalRuntime(root, installer="pip", build_timeout=0.3)
    await runtime.start()
    try:
        workload = deployer.workload({"serve.py": SERVE_PY}, "server-command", "python serve.py")
        with pytest.raises(BuildFailed, match="did not finish within"):
            await runtime.build(workload, lambda line: None)
    finally:
        await runtime.close()
    assert [p.name for p in (root / "envs").iterdir() if p.is_dir()] == []
    check_nothing_left(root, tmp_path)
