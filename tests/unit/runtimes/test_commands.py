"""What a replica runs and with which environment (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypost.errors import BuildFailed
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointKind, EndpointSpec, Replicas, Resources
from waypost.runtimes.local.commands import (
    DEFAULT_SYSTEM_PATH,
    LAUNCHER_MODULE,
    check_kind,
    limitations,
    replica_argv,
    replica_environ,
    server_packages,
    system_path,
)

KEY = UnitKey("acme", "hello", "flask-hello", 3, "web")
PY = Path("/r/envs/abc/bin/python")
ENV_DIR = Path("/r/envs/abc")
HOME = Path("/r/homes/acme/hello/flask-hello/3/web")
SHIM = Path("/r/shim/123")


def spec(kind: EndpointKind = "wsgi", target: str = "app:app", **changes: object) -> EndpointSpec:
    return EndpointSpec(name="web", kind=kind, target=target).with_changes(**changes)


def environ(s: EndpointSpec, workload_env: dict[str, str] | None = None) -> dict[str, str]:
    return replica_environ(
        KEY,
        s,
        workload_env or {},
        port=4321,
        env_dir=ENV_DIR,
        home=HOME,
        shim=SHIM,
        path="/usr/bin",
    )


@pytest.mark.parametrize(
    ("kind", "target", "workers", "expected"),
    [
        pytest.param(
            "wsgi",
            "app:app",
            2,
            [str(PY), "-m", LAUNCHER_MODULE, "wsgi", "app:app", "--host", "127.0.0.1",
             "--port", "4321", "--workers", "2", "--graceful-timeout", "8"],
            id="wsgi",
        ),
        pytest.param(
            "asgi",
            "main:app",
            1,
            [str(PY), "-m", LAUNCHER_MODULE, "asgi", "main:app", "--host", "127.0.0.1",
             "--port", "4321", "--workers", "1", "--graceful-timeout", "8"],
            id="asgi",
        ),
        pytest.param(
            "wsgi",
            "pkg.mod:factory.app",
            0,
            [str(PY), "-m", LAUNCHER_MODULE, "wsgi", "pkg.mod:factory.app", "--host",
             "127.0.0.1", "--port", "4321", "--workers", "1", "--graceful-timeout", "8"],
            id="at-least-one-worker",
        ),
        pytest.param(
            "server-command",
            "python serve.py --port $PORT",
            1,
            ["/bin/sh", "-c", "python serve.py --port $PORT"],
            id="server-command",
        ),
    ],
)  # fmt: skip
def test_argv(kind: EndpointKind, target: str, workers: int, expected: list[str]) -> None:
    argv = replica_argv(
        spec(kind, target, workers=workers), python=PY, host="127.0.0.1", port=4321, graceful=8.0
    )
    assert argv == expected


def test_runtime_endpoints_get_their_argv_from_the_model_launcher() -> None:
    check_kind("runtime")  # accepted: model servers run on the platform's interpreter
    with pytest.raises(ValueError, match=r"runtimes\.local\.models"):
        replica_argv(spec("runtime", "transformers"), python=PY, host="h", port=1, graceful=1)
    with pytest.raises(BuildFailed, match="cannot run 'ray' endpoints"):
        check_kind("ray")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "packages"),
    [("wsgi", ("gunicorn",)), ("asgi", ("uvicorn",)), ("server-command", ())],
)
def test_server_packages(kind: EndpointKind, packages: tuple[str, ...]) -> None:
    assert server_packages(kind) == packages


def test_environment_is_minimal_and_waypost_sets_the_prefix() -> None:
    env = environ(spec())
    assert env == {
        "PATH": "/r/envs/abc/bin:/usr/bin",
        "HOME": str(HOME),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": f"{HOME}/tmp",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(SHIM),
        "VIRTUAL_ENV": str(ENV_DIR),
        "PORT": "4321",
        "SCRIPT_NAME": "/acme/hello/flask-hello/3/web",
        "VH_DEFAULT_PREFIX": "acme/hello/flask-hello/3/web",
        "HF_HUB_OFFLINE": "1",
    }


def test_nothing_of_the_control_planes_environment_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYPOST_ADMIN_TOKEN", "secret")
    monkeypatch.setenv("WAYPOST_DATABASE_URL", "postgresql://u:p@db/waypost")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "also-secret")
    env = environ(spec())
    assert not [k for k in env if k.startswith("WAYPOST_")]
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "secret" not in "".join(env.values())


def test_precedence_spec_then_workload_then_waypost() -> None:
    s = spec(env={"MODEL": "spec", "LANG": "de_DE.UTF-8", "PORT": "1", "SCRIPT_NAME": "/x"})
    env = environ(s, {"MODEL": "workload", "SECRET": "from-control-plane", "HF_HUB_OFFLINE": "0"})
    assert env["MODEL"] == "workload"
    assert env["SECRET"] == "from-control-plane"
    assert env["LANG"] == "de_DE.UTF-8"  # the spec may override the base
    assert env["PORT"] == "4321"  # but not what waypost itself sets
    assert env["SCRIPT_NAME"] == "/acme/hello/flask-hello/3/web"
    assert env["HF_HUB_OFFLINE"] == "1"


def test_a_users_path_and_pythonpath_keep_the_env_and_shim_first() -> None:
    env = environ(spec(env={"PATH": "/opt/tool/bin:/r/envs/abc/bin", "PYTHONPATH": "/srv/lib"}))
    assert env["PATH"] == "/r/envs/abc/bin:/opt/tool/bin"
    assert env["PYTHONPATH"] == f"{SHIM}:/srv/lib"


@pytest.mark.parametrize(
    ("path", "exclude", "expected"),
    [
        pytest.param("/a/bin:/usr/bin", [], "/a/bin:/usr/bin", id="kept"),
        pytest.param("/w/.venv/bin:/usr/bin", [Path("/w/.venv")], "/usr/bin", id="own-venv-out"),
        pytest.param("/w/.venvx/bin:/usr/bin", [Path("/w/.venv")], "/w/.venvx/bin:/usr/bin",
                     id="boundary"),
        pytest.param("::/usr/bin:", [], "/usr/bin", id="empty-entries"),
        pytest.param("", [], DEFAULT_SYSTEM_PATH, id="default"),
    ],
)  # fmt: skip
def test_system_path(path: str, exclude: list[Path], expected: str) -> None:
    assert system_path({"PATH": path}, exclude) == expected


def test_limitations_name_what_is_not_enforced() -> None:
    assert limitations(spec()) == []
    notes = limitations(
        spec(
            "server-command",
            "x",
            port=8000,
            replicas=Replicas(1, 2),
            resources=Resources(cpu=1.5, memory=2**30, gpu=1),
            image="python:3.11",
        )
    )
    # CPU and memory depend on the machine: ``limits.resource_notes`` speaks for them.
    assert len(notes) == 3
    assert "gpu" in notes[0]
    assert "image" in notes[1]
    assert "fixed port (8000)" in notes[2]
