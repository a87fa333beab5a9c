"""The endpoint lifecycle on a real ``waypost up``, driven by the real CLI.

Apps are tiny stdlib servers written per test (``serve.py`` below), tuned through
their ``env:``: a start delay (to catch the control plane mid-deploy), a life span
(to crash in a loop), a distinctive line printed before crashing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.platform import Platform, processes_under

pytestmark = pytest.mark.e2e

PROJECT = ("--project", "acme/life")

SERVE = """\
import http.server, json, os, threading, time

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"pid": os.getpid(), "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True

time.sleep(float(os.environ.get("START_DELAY", "0")))
server = Server(("127.0.0.1", int(os.environ["PORT"])), Handler)
life = float(os.environ.get("EXIT_AFTER", "0"))
if life:
    def crash():
        print("about to crash on purpose", flush=True)
        os._exit(3)
    threading.Timer(life, crash).start()
print("serving", flush=True)
server.serve_forever()
"""


def write_app(folder: Path, name: str, extra: str = "", env: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "serve.py").write_text(SERVE)
    env_yaml = ""
    if env:
        env_yaml = "    env:\n" + "".join(f"      {k}: '{v}'\n" for k, v in env.items())
    (folder / "waypost.yaml").write_text(
        f"project: acme/life\ndeployment: {name}\nendpoints:\n"
        f"  - name: web\n    server-command: python serve.py\n"
        f"    health: {{startup-timeout: 20s}}\n{env_yaml}{extra}"
    )
    return folder


def cli(platform: Platform, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = platform.cli(*args)
    if ok:
        assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


def cli_json(platform: Platform, *args: str) -> Any:
    return json.loads(cli(platform, *args, "--json").stdout)


def endpoint(platform: Platform, name: str) -> dict[str, Any]:
    found: dict[str, Any] = platform.api_get(f"/api/v1/endpoints/acme/life/{name}/1/web")
    return found


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, platform: Platform | None = None
) -> float:
    """Seconds it took ``check`` to hold; fails with ``what`` after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    tail = platform.log.read_text()[-3000:] if platform else ""
    raise AssertionError(f"{what}: not within {timeout}s\n{tail}")


def state_is(platform: Platform, name: str, state: str) -> Callable[[], bool]:
    return lambda: endpoint(platform, name)["state"] == state


def status(url: str) -> int:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def replica_processes(platform: Platform, marker: str = "serve.py") -> set[int]:
    """Live (not zombie) processes of replicas under the platform's home."""
    found = set()
    for pid in processes_under(platform.home / "runtime"):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        except OSError:
            continue
        if marker in cmdline and "sh\0-c" not in cmdline and alive(pid):
            found.add(pid)
    return found


def test_stop_start_update_restart_delete(platform: Platform, tmp_path: Path) -> None:
    [ep] = platform.deploy(write_app(tmp_path / "app", "flow"))["endpoints"]
    name = "flow/1/web"
    url = ep["url"] + "x"
    first_pid = httpx.get(url, timeout=10).json()["pid"]

    stopped = cli_json(platform, "endpoints", "stop", name, *PROJECT)
    assert stopped["state"] == "Stopped"
    wait_for("the replica stops", lambda: not alive(first_pid), 15, platform)
    assert status(url) == 503
    refused = cli(platform, "endpoints", "stop", name, *PROJECT, ok=False)
    assert refused.returncode == 1
    assert "cannot stop: endpoint is Stopped" in refused.stderr

    # While stopped, settings that need new replicas apply at once.
    updated = cli_json(platform, "endpoints", "update", name, *PROJECT, "--cpu", "2")
    assert updated["spec"]["resources"]["cpu"] == 2.0
    assert updated["pending_spec"] is None

    assert cli_json(platform, "endpoints", "start", name, *PROJECT)["state"] == "Deploying"
    wait_for("Running after start", state_is(platform, "flow", "Running"), 20, platform)
    wait_for("traffic after start", lambda: status(url) == 200, 10, platform)
    second_pid = httpx.get(url, timeout=10).json()["pid"]

    # While running, they wait for the restart; live ones apply at once.
    pending = cli_json(
        platform, "endpoints", "update", name, *PROJECT, "--engine-arg", "dtype=float16",
        "--max-replicas", "2", "--idle-timeout", "90s",
    )  # fmt: skip
    assert pending["spec"]["replicas"]["max"] == 2
    assert pending["spec"]["autoscaling"]["idle_timeout"] == 90.0
    assert pending["spec"]["engine_args"] == {}
    assert pending["pending_changes"] == ["engine_args.dtype none → float16"]
    shown = cli(platform, "endpoints", "show", name, *PROJECT).stdout
    for fragment in ("Running", "engine_args.dtype none → float16", "idle timeout 1m30s", "ready"):
        assert fragment in shown, shown
    over = cli(platform, "endpoints", "update", name, *PROJECT, "--max-replicas", "9", ok=False)
    assert over.returncode == 1
    assert "max replicas 9 is over this installation's limit 5" in over.stderr

    assert cli_json(platform, "endpoints", "restart", name, *PROJECT)["state"] == "Deploying"
    wait_for("Running after restart", state_is(platform, "flow", "Running"), 20, platform)
    wait_for("traffic after restart", lambda: status(url) == 200, 10, platform)
    assert httpx.get(url, timeout=10).json()["pid"] != second_pid
    restarted = endpoint(platform, "flow")
    assert restarted["pending_spec"] is None
    assert restarted["spec"]["engine_args"] == {"dtype": "float16"}
    assert not alive(second_pid)

    wrong = cli(platform, "endpoints", "delete", name, *PROJECT, "--confirm", "wbe", ok=False)
    assert wrong.returncode == 1
    assert "confirm=web" in wrong.stderr
    log_file = platform.home / "runtime" / "logs" / "acme" / "life" / "flow" / "1" / "web.log"
    assert log_file.exists()
    cli(platform, "endpoints", "delete", name, *PROJECT, "--confirm", "web")
    wait_for("the route is gone", lambda: status(url) == 404, 10, platform)
    assert not log_file.exists()
    assert replica_processes(platform) == set()
    events = cli_json(platform, "events", *PROJECT)
    changes = [(e["kind"], e["from_state"], e["to_state"]) for e in events if e["endpoint"]]
    assert ("transition", "Running", "Stopped") in changes
    assert ("transition", "Stopped", "Deploying") in changes
    assert ("transition", "Running", "Deploying") in changes
    assert changes[-1] == ("deleted", "Running", None)
    assert any(e["reason"].startswith("pending settings applied") for e in events)


def test_crash_loop_is_a_runtime_error_with_exit_code_and_log_tail(
    platform: Platform, tmp_path: Path
) -> None:
    folder = write_app(tmp_path / "crashy", "crashy", env={"EXIT_AFTER": "1"})
    [ep] = platform.deploy(folder)["endpoints"]
    assert ep["state"] == "Running"
    wait_for("RuntimeError", state_is(platform, "crashy", "RuntimeError"), 35, platform)
    found = endpoint(platform, "crashy")
    reason = found["reason"]
    assert "crashed 5 times within 10m" in reason
    assert "exited with code 3" in reason
    assert "about to crash on purpose" in reason  # the log tail
    wait_for("no replica left", lambda: not replica_processes(platform), 15, platform)
    listed = cli(platform, "endpoints", "list", *PROJECT).stdout
    assert "RuntimeError" in listed

    # Restart from RuntimeError works: a fresh build, fresh replicas.
    assert cli_json(platform, "endpoints", "restart", "crashy/1/web", *PROJECT)["state"] == (
        "Building"
    )
    wait_for("Running again", state_is(platform, "crashy", "Running"), 20, platform)
    cli(platform, "endpoints", "stop", "crashy/1/web", *PROJECT)


def test_a_sigkilled_replica_is_replaced(platform: Platform, tmp_path: Path) -> None:
    [ep] = platform.deploy(write_app(tmp_path / "app", "sturdy"))["endpoints"]
    url = ep["url"] + "x"
    pid = httpx.get(url, timeout=10).json()["pid"]
    os.kill(pid, signal.SIGKILL)

    def replaced() -> bool:
        [replica] = endpoint(platform, "sturdy")["replicas"]["items"]
        return replica["restarts"] == 1 and replica["phase"] == "ready"

    wait_for("a new replica", replaced, 15, platform)
    assert endpoint(platform, "sturdy")["state"] == "Running"
    wait_for("traffic again", lambda: status(url) == 200, 10, platform)
    assert httpx.get(url, timeout=10).json()["pid"] != pid
    assert len(replica_processes(platform)) == 1


def test_control_plane_killed_mid_deploy_and_when_running_converges(
    platform: Platform, tmp_path: Path
) -> None:
    folder = write_app(tmp_path / "slow", "slow", env={"START_DELAY": "3"})
    cli(platform, "deploy", str(folder), "--no-wait")
    wait_for("Startup", state_is(platform, "slow", "Startup"), 30, platform)
    before = set(processes_under(platform.home))
    platform.stop(signal.SIGKILL)
    platform.start()
    took = wait_for("Running after the kill", state_is(platform, "slow", "Running"), 10, platform)
    assert took < 10
    assert not set(processes_under(platform.home)) & before, "processes of the old run survived"
    assert len(replica_processes(platform)) == 1

    before = set(processes_under(platform.home))
    platform.stop(signal.SIGKILL)
    platform.start()
    url = endpoint(platform, "slow")["url"] + "x"
    wait_for("traffic after the second kill", lambda: status(url) == 200, 10, platform)
    assert endpoint(platform, "slow")["state"] == "Running"
    assert not set(processes_under(platform.home)) & before, "processes of the old run survived"
    assert len(replica_processes(platform)) == 1


def test_idle_endpoint_sleeps_and_wakes_for_held_requests(
    platform: Platform, tmp_path: Path
) -> None:
    folder = write_app(
        tmp_path / "sleepy",
        "sleepy",
        extra="    replicas: {min: 0, max: 1}\n    autoscaling: {idle-timeout: 2s}\n",
        env={"START_DELAY": "0.5"},
    )
    [ep] = platform.deploy(folder)["endpoints"]
    url = ep["url"] + "x"
    wait_for("Sleeping", state_is(platform, "sleepy", "Sleeping"), 15, platform)
    wait_for("replicas stopped", lambda: not replica_processes(platform), 15, platform)
    events = cli_json(platform, "events", *PROJECT)
    assert events[-1]["reason"] == "idle for 2s"

    with ThreadPoolExecutor(max_workers=100) as pool:
        statuses = list(pool.map(lambda _: status(url), range(100)))
    assert statuses == [200] * 100
    assert endpoint(platform, "sleepy")["state"] == "Running"
    reasons = [e["reason"] for e in cli_json(platform, "events", *PROJECT)]
    assert "woken by a waiting request" in reasons
    assert any(r.startswith("woken by a waiting request; replica") for r in reasons)

    # And again: idle, asleep; then woken by hand.
    wait_for("Sleeping again", state_is(platform, "sleepy", "Sleeping"), 15, platform)
    cli(platform, "endpoints", "wake", "sleepy/1/web", *PROJECT)
    wait_for("Running after wake", state_is(platform, "sleepy", "Running"), 15, platform)
    assert endpoint(platform, "sleepy")["reason"].startswith("woken by admin; replica")
