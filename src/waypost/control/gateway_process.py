"""Runs the gateway as a child process of ``waypost up``, and never leaves one behind.

The gateway is its own program (``python -m waypost.gateway``) so it can be run
and restarted alone; ``waypost up`` merely supervises one. Its PID and start time
go to a pidfile so that, after a ``waypost up`` killed with SIGKILL, the next one
stops the old gateway (only if it is still that same process) before binding the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["GatewayProcess"]

log = logging.getLogger("waypost.gateway-process")


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime in clock ticks


class GatewayProcess:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        control_url: str,
        token_file: Path,
        pidfile: Path,
        log_file: Path,
        workers: int | None = None,
        stop_grace: float = 15.0,  # the gateway drains for 10 s; then it is stuck
    ) -> None:
        self.argv = [
            sys.executable, "-m", "waypost.gateway",
            "--host", host, "--port", str(port),
            "--control-url", control_url, "--token-file", str(token_file),
        ]  # fmt: skip
        if workers is not None:  # else the gateway's default: one per CPU core
            self.argv += ["--workers", str(workers)]
        self.pidfile = pidfile
        self.log_file = log_file
        self.stop_grace = stop_grace
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = False

    def clean_up_previous(self) -> None:
        try:
            record = json.loads(self.pidfile.read_text())
        except (OSError, ValueError):
            return
        pid, started = int(record["pid"]), str(record["start_time"])
        if _start_time(pid) == started:
            log.warning("stopping gateway pid %s left by a previous run", pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.pidfile.unlink(missing_ok=True)

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WAYPOST_")}
        with self.log_file.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.write_text(
            json.dumps({"pid": self.process.pid, "start_time": _start_time(self.process.pid)})
        )

    async def watch(self) -> None:
        """Restart the gateway if it dies (with backoff), until ``stop``."""
        backoff = 0.5
        while not self._stopping:
            process = self.process
            if process is None:
                return
            code = await asyncio.to_thread(process.wait)
            if self._stopping:
                return
            log.error("gateway exited with code %s; restarting in %.1fs", code, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
            if not self._stopping:
                self.start()

    def stop(self) -> None:
        self._stopping = True
        process = self.process
        if process is None or process.poll() is not None:
            self.pidfile.unlink(missing_ok=True)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(self.stop_grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self.pidfile.unlink(missing_ok=True)
