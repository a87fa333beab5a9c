"""Env cache keys, installer commands and failure messages (no installer is run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypost.runtimes.local.envs import (
    Installer,
    env_key,
    failing_requirements,
    find_installer,
    install_argv,
    installer_environ,
    refers_to_bundle,
)

PY = "/usr/bin/python3.11"
REQS = b"flask>=3.0\nnumpy==2.1.0\n"


def test_same_requirements_and_server_share_an_env() -> None:
    assert env_key(REQS, ["gunicorn"], python=PY) == env_key(REQS, ["gunicorn"], python=PY)
    assert len(env_key(REQS, ["gunicorn"], python=PY)) == 32


@pytest.mark.parametrize(
    ("other", "why"),
    [
        pytest.param(dict(requirements=REQS + b"six\n"), "content", id="content"),
        pytest.param(dict(packages=["uvicorn"]), "server", id="server-kind"),
        pytest.param(dict(packages=[]), "no server", id="server-command"),
        pytest.param(dict(python="/opt/python3.12"), "python", id="python"),
        pytest.param(dict(salt="digest"), "bundle", id="bundle-salt"),
        pytest.param(dict(requirements=None), "none", id="no-requirements"),
    ],
)
def test_anything_that_changes_the_env_changes_the_key(other: dict[str, object], why: str) -> None:
    base: dict[str, object] = {"requirements": REQS, "packages": ["gunicorn"], "python": PY}
    changed = {**base, **other}
    assert env_key(**base) != env_key(**changed), why  # type: ignore[arg-type]


def test_package_order_does_not_matter() -> None:
    assert env_key(None, ["a", "b"], python=PY) == env_key(None, ["b", "a"], python=PY)


@pytest.mark.parametrize(
    ("content", "local"),
    [
        pytest.param(b"flask\nrequests==2.*\n", False, id="plain"),
        pytest.param(b"# -r nothing\nflask  # pinned\n", False, id="comments"),
        pytest.param(b"-r base.txt\n", True, id="include"),
        pytest.param(b"-c constraints.txt\nflask\n", True, id="constraints"),
        pytest.param(b"-e .\n", True, id="editable"),
        pytest.param(b"./vendor/pkg\n", True, id="local-path"),
        pytest.param(b"file:vendor/pkg.whl\n", True, id="file-url"),
    ],
)
def test_requirements_that_point_at_bundle_files(content: bytes, local: bool) -> None:
    assert refers_to_bundle(content) is local


def test_failing_requirement_is_named_from_the_installer_output() -> None:
    content = b"flask>=3.0\nthis-package-does-not-exist-waypost==0.0.1\n# comment\n"
    output = [
        "error: No solution found when resolving dependencies",
        "  cause: Because this-package-does-not-exist-waypost was not found in the package "
        "registry and you require this-package-does-not-exist-waypost==0.0.1, we can conclude "
        "that your requirements are unsatisfiable.",
    ]
    assert failing_requirements(content, output) == ["this-package-does-not-exist-waypost==0.0.1"]


def test_failing_requirement_matches_normalized_names() -> None:
    assert failing_requirements(b"Typing_Extensions\n", ["typing-extensions failed"]) == [
        "Typing_Extensions"
    ]
    assert failing_requirements(b"flask\n", ["something else broke"]) == []


def test_uv_commands(tmp_path: Path) -> None:
    env = tmp_path / "env"
    steps = install_argv(
        Installer("uv", "/bin/uv"),
        python=PY,
        env_dir=env,
        requirements=tmp_path / "requirements.txt",
        packages=["gunicorn"],
    )
    assert steps == [
        ["/bin/uv", "venv", "--python", PY, "--relocatable", str(env)],
        ["/bin/uv", "pip", "install", "--python", f"{env}/bin/python",
         "-r", f"{tmp_path}/requirements.txt", "gunicorn"],
    ]  # fmt: skip


def test_pip_commands_and_nothing_to_install(tmp_path: Path) -> None:
    env = tmp_path / "env"
    steps = install_argv(
        Installer("pip"), python=PY, env_dir=env, requirements=None, packages=["uvicorn"]
    )
    assert steps == [
        [PY, "-m", "venv", str(env)],
        [f"{env}/bin/python", "-m", "pip", "install", "--no-input", "uvicorn"],
    ]
    bare = install_argv(Installer("pip"), python=PY, env_dir=env, requirements=None, packages=[])
    assert bare == [[PY, "-m", "venv", str(env)]]


def test_installer_environment_drops_waypost_and_foreign_python_settings() -> None:
    env = installer_environ(
        {
            "PATH": "/usr/bin",
            "HTTPS_PROXY": "http://proxy:3128",
            "UV_INDEX_URL": "https://mirror/simple",
            "WAYPOST_ADMIN_TOKEN": "secret",
            "WAYPOST_DATABASE_URL": "sqlite:///x",
            "VIRTUAL_ENV": "/w/.venv",
            "PYTHONPATH": "/w/src",
        }
    )
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert env["UV_INDEX_URL"] == "https://mirror/simple"
    assert not [k for k in env if k.startswith("WAYPOST_")]
    assert "VIRTUAL_ENV" not in env
    assert "PYTHONPATH" not in env


def test_installer_choice() -> None:
    assert find_installer("pip") == Installer("pip")
    uv = find_installer("auto")
    assert uv.kind == "uv"  # the uv package is a dependency of waypost
    assert uv.uv is not None
    assert Path(uv.uv).is_file()
