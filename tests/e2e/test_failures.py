"""Bad input and broken apps: a clear state, reason and log tail; nothing half-applied."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support.platform import EXAMPLES, Platform, free_port, processes_under

pytestmark = pytest.mark.e2e


def write_app(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def yaml_for(kind: str, target: str, extra: str = "") -> str:
    return (
        "project: acme/broken\ndeployment: app\nendpoints:\n"
        f"  - name: web\n    {kind}: {target}\n    health: {{startup-timeout: 20s}}\n{extra}"
    )


def deploy_expecting_failure(platform: Platform, folder: Path) -> str:
    result = platform.cli("deploy", str(folder))
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_app_raising_at_import_is_deploy_failed_with_traceback(
    platform: Platform, tmp_path: Path
) -> None:
    folder = write_app(
        tmp_path / "raises",
        {
            "app.py": "raise RuntimeError('model file is corrupt')\n",
            "waypost.yaml": yaml_for("wsgi", "app:app"),
        },
    )
    output = deploy_expecting_failure(platform, folder)
    assert "DeployFailed" in output
    assert "model file is corrupt" in output
    endpoint = platform.api_get("/api/v1/endpoints/acme/broken/app/1/web")
    assert endpoint["state"] == "DeployFailed"
    events = platform.api_get("/api/v1/endpoints/acme/broken/app/1/web/events")
    assert [e["to_state"] for e in events] == ["Building", "Deploying", "Startup", "DeployFailed"]


def test_server_command_that_exits_at_once(platform: Platform, tmp_path: Path) -> None:
    folder = write_app(tmp_path / "exits", {"waypost.yaml": yaml_for("server-command", "'exit 3'")})
    output = deploy_expecting_failure(platform, folder)
    assert "DeployFailed" in output
    assert "3" in output


def test_failing_requirements_is_building_failed(platform: Platform, tmp_path: Path) -> None:
    folder = write_app(
        tmp_path / "badreq",
        {
            "app.py": "def app(e, s):\n    s('200 OK', [])\n    return [b'']\n",
            "requirements.txt": "this-package-does-not-exist-waypost==0.0.1\n",
            "waypost.yaml": yaml_for("wsgi", "app:app"),
        },
    )
    output = deploy_expecting_failure(platform, folder)
    assert "BuildingFailed" in output
    assert "this-package-does-not-exist-waypost" in output


def test_broken_yaml_is_refused_before_upload(platform: Platform, tmp_path: Path) -> None:
    folder = write_app(tmp_path / "badyaml", {"waypost.yaml": "project: acme/xy\nendpoints: [\n"})
    result = platform.cli("deploy", str(folder))
    assert result.returncode == 1
    assert "waypost.yaml:" in result.stdout + result.stderr
    validate = platform.cli("validate", str(folder))
    assert validate.returncode == 1
    assert platform.api_get("/api/v1/projects") == []


def test_api_refuses_a_bundle_that_is_not_an_archive(platform: Platform) -> None:
    response = httpx.post(
        platform.api + "/api/v1/projects/acme/xy/deployments/app/versions",
        headers={"Authorization": f"Bearer {platform.token}"},
        files={"bundle": ("bundle.tar.gz", b"not a tarball", "application/gzip")},
        timeout=10,
    )
    assert response.status_code == 422
    assert "gzip tar" in response.json()["message"]
    assert platform.api_get("/api/v1/projects") == []


def test_api_needs_a_token(platform: Platform) -> None:
    response = httpx.get(platform.api + "/api/v1/projects", timeout=10)
    assert response.status_code == 401
    assert "token" in response.json()["message"]


def test_deploy_while_control_plane_is_down(tmp_path: Path) -> None:
    import subprocess

    from tests.support.platform import WAYPOST

    env = {
        **os.environ,
        "WAYPOST_API_URL": f"http://127.0.0.1:{free_port()}",
        "WAYPOST_HOME": str(tmp_path),
    }
    result = subprocess.run(
        [*WAYPOST, "deploy", str(EXAMPLES / "server-command")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot reach the waypost API" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_restart_brings_endpoints_back(platform: Platform) -> None:
    [endpoint] = platform.deploy(EXAMPLES / "server-command")["endpoints"]
    platform.stop()
    assert processes_under(platform.home / "runtime") == []
    platform.start()
    deadline = time.monotonic() + 30
    status = 0
    while time.monotonic() < deadline:
        try:
            status = httpx.get(endpoint["url"] + "x", timeout=5).status_code
        except httpx.HTTPError:
            status = 0
        if status == 200:
            break
        time.sleep(0.2)
    assert status == 200


def test_sigkilled_platform_leaves_nothing_after_next_start(platform: Platform) -> None:
    [endpoint] = platform.deploy(EXAMPLES / "server-command")["endpoints"]
    before = set(processes_under(platform.home))
    assert before
    platform.stop(signal.SIGKILL)
    platform.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and set(processes_under(platform.home)) & before:
        time.sleep(0.2)
    assert not set(processes_under(platform.home)) & before, "old processes survived"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(endpoint["url"] + "x", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    answer = httpx.get(endpoint["url"] + "x", timeout=5)
    assert json.loads(answer.text)["path"] == "/x"
