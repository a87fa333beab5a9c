"""A real ``waypost up`` on free loopback ports with a temp home, driven by the real CLI.

Shared by the e2e tests and the benchmarks.

Every process the platform starts runs with its working directory inside the temp
home, so after stopping the platform the fixture checks /proc: nothing may be
left whose cwd is under that home.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
WAYPOST = [sys.executable, "-m", "waypost.cli.main"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes_under(home: Path) -> list[int]:
    """PIDs whose working directory or command line is inside ``home``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cwd.startswith(str(home)) or str(home) in cmdline:
            found.append(int(entry.name))
    return found


@dataclass
class Platform:
    home: Path
    api_port: int
    gateway_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def start(self, timeout: float = 30.0) -> None:
        self.env = {
            **os.environ,
            "WAYPOST_HOME": str(self.home),
            "WAYPOST_API_URL": self.api,
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
        self.env.pop("WAYPOST_TOKEN", None)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*WAYPOST, "up", "--home", str(self.home), "--api-port", str(self.api_port),
                 "--gateway-port", str(self.gateway_port)],
                stdout=out, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"waypost up exited:\n{self.log.read_text()[-3000:]}")
            try:
                api_ok = httpx.get(self.api + "/api/v1/health", timeout=1).status_code == 200
                gw_ok = httpx.get(self.gateway + "/-/health", timeout=1).status_code == 200
                if api_ok and gw_ok:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"waypost up not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise AssertionError("waypost up did not stop on SIGTERM") from None
        return process.returncode

    def cli(
        self, *args: str, cwd: Path | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*WAYPOST, *args], capture_output=True, text=True, env=self.env,
            cwd=cwd or REPO, timeout=timeout,
        )  # fmt: skip

    def cli_as(self, token: str, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI with ``WAYPOST_TOKEN`` set: what a user holding that token sees."""
        return subprocess.run(
            [*WAYPOST, *args], capture_output=True, text=True,
            env={**self.env, "WAYPOST_TOKEN": token}, cwd=REPO, timeout=180,
        )  # fmt: skip

    def deploy(self, path: Path, *extra: str) -> dict[str, Any]:
        result = self.cli("deploy", str(path), "--json", *extra)
        assert result.returncode == 0, (
            f"deploy failed:\n{result.stdout}\n{result.stderr}\n{self.log.read_text()[-2000:]}"
        )
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    @property
    def token(self) -> str:
        return (self.home / "admin-token").read_text().strip()

    def api_get(self, path: str) -> Any:
        response = httpx.get(
            self.api + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()
