"""Virtualenvs for replicas, cached by what goes into them and shared between versions.

An env is keyed by the sha256 of the requirements file's content, the server the
endpoint kind needs (gunicorn for ``wsgi:``, uvicorn for ``asgi:``, none for
``server-command:``) and the Python it is made from. Requirements that point at
other files of the bundle (``-r``, ``-e .``, ``./pkg``) make the bundle digest part
of the key too, since their content is not in the file.

An env is made in a temp dir and renamed into ``envs/<key>/`` only once complete,
so a half-built env never counts. An asyncio lock per key, and a file lock for
other processes on the same root, keep two builds of one key from racing. The
installer is uv when there is one (the ``uv`` package's binary, else ``uv`` on
PATH): ``uv venv --relocatable`` then ``uv pip install``; otherwise ``python -m
venv`` and pip, whose absolute script paths are then rewritten for the final dir.
Every step runs under the build deadline; the installer's output goes to the build
log and to ``envs/<key>.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import re
import shutil
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from waypost.errors import BuildFailed
from waypost.runtimes.local import supervisor

__all__ = [
    "EnvBuilder",
    "EnvPlan",
    "Installer",
    "InstallerChoice",
    "env_key",
    "failing_requirements",
    "find_installer",
    "install_argv",
    "installer_environ",
    "refers_to_bundle",
]

InstallerChoice = Literal["auto", "uv", "pip"]
_MARKER = "waypost-env.json"
_TAIL = 20
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
_LOCAL_REF = ("-e", "--editable", ".", "-r", "--requirement", "-c", "--constraint", "file:")


def env_key(
    requirements: bytes | None, packages: Sequence[str], *, python: str, salt: str = ""
) -> str:
    """The cache key of an env (32 hex digits: short enough for script shebangs)."""
    digest = hashlib.sha256(b"waypost-env/1\0")
    for part in (python, ",".join(sorted(packages)), salt):
        digest.update(part.encode() + b"\0")
    digest.update(hashlib.sha256(requirements or b"").digest() if requirements else b"-")
    return digest.hexdigest()[:32]


def _requirement_lines(content: bytes) -> list[str]:
    lines = []
    for raw in content.decode("utf-8", "replace").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def refers_to_bundle(content: bytes) -> bool:
    """Whether requirements name other files (of the bundle) whose content matters."""
    return any(line.startswith(_LOCAL_REF) for line in _requirement_lines(content))


def _normalized(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text.lower())


def failing_requirements(content: bytes, output: Sequence[str]) -> list[str]:
    """Requirement lines whose project the installer's last output mentions."""
    said = _normalized("\n".join(output))
    named = []
    for line in _requirement_lines(content):
        match = _NAME.match(line)
        if match and not line.startswith("-") and _normalized(match.group(0)) in said:
            named.append(line)
    return named


@dataclass(frozen=True)
class Installer:
    kind: Literal["uv", "pip"]
    uv: str | None = None


def _find_uv() -> str | None:
    try:
        found = str(importlib.import_module("uv").find_uv_bin())
    except (ImportError, FileNotFoundError, AttributeError):
        found = ""
    return found if found and os.access(found, os.X_OK) else shutil.which("uv")


def find_installer(choice: InstallerChoice = "auto") -> Installer:
    if choice != "pip":
        uv = _find_uv()
        if uv:
            return Installer("uv", uv)
        if choice == "uv":
            raise BuildFailed("uv was asked for as the installer but is not installed")
    return Installer("pip")


def install_argv(
    installer: Installer,
    *,
    python: str,
    env_dir: Path,
    requirements: Path | None,
    packages: Sequence[str],
) -> list[list[str]]:
    """The commands that make ``env_dir`` and install into it, in order."""
    env_python = str(env_dir / "bin" / "python")
    wanted = [*(["-r", str(requirements)] if requirements else []), *packages]
    if installer.kind == "uv" and installer.uv:
        steps = [[installer.uv, "venv", "--python", python, "--relocatable", str(env_dir)]]
        if wanted:
            steps.append([installer.uv, "pip", "install", "--python", env_python, *wanted])
        return steps
    steps = [[python, "-m", "venv", str(env_dir)]]
    if wanted:
        steps.append([env_python, "-m", "pip", "install", "--no-input", *wanted])
    return steps


def installer_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The control plane's environment for the installer (proxies, indexes, caches),
    without waypost's own variables or anything pointing at waypost's Python."""
    dropped = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "UV_PROJECT_ENVIRONMENT")
    env = {k: v for k, v in environ.items() if not k.startswith("WAYPOST_") and k not in dropped}
    env.update(NO_COLOR="1", PYTHONUNBUFFERED="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


@dataclass(frozen=True)
class EnvPlan:
    key: str
    requirements: Path | None  # the file in the unpacked bundle
    requirements_name: str | None  # as the spec names it, for messages
    packages: tuple[str, ...]


def _rewrite_paths(bin_dir: Path, old: str, new: str) -> None:
    """pip writes absolute paths into scripts; point them at the env's final place."""
    for path in bin_dir.iterdir():
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old.encode() in data and b"\0" not in data[:1024]:
            path.write_bytes(data.replace(old.encode(), new.encode()))


class EnvBuilder:
    def __init__(
        self,
        envs_dir: Path,
        *,
        python: str,
        installer: Installer,
        environ: Mapping[str, str],
    ) -> None:
        self.envs_dir = envs_dir
        self.python = python
        self.installer = installer
        self.environ = installer_environ(environ)
        self._locks: dict[str, asyncio.Lock] = {}

    def path(self, key: str) -> Path:
        return self.envs_dir / key

    def is_ready(self, key: str) -> bool:
        return (self.path(key) / _MARKER).is_file()

    async def ensure(
        self, plan: EnvPlan, *, cwd: Path, log: Callable[[str], None], deadline: float
    ) -> Path:
        """The env for ``plan``, made if it is not there yet (BuildFailed if it cannot be)."""
        final = self.path(plan.key)
        if self.is_ready(plan.key):
            log(f"environment {plan.key} is cached")
            return final
        lock = self._locks.setdefault(plan.key, asyncio.Lock())
        async with lock, self._file_lock(plan.key, deadline):
            if self.is_ready(plan.key):  # made meanwhile, by another build or process
                log(f"environment {plan.key} is cached")
                return final
            await self._create(plan, final, cwd=cwd, log=log, deadline=deadline)
        return final

    @contextlib.asynccontextmanager
    async def _file_lock(self, key: str, deadline: float) -> AsyncIterator[None]:
        self.envs_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.envs_dir / f"{key}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise BuildFailed(
                            f"environment {key} is being built by another process "
                            "and did not finish in time"
                        ) from None
                    await asyncio.sleep(0.1)
            yield
        finally:
            os.close(fd)  # releases the lock

    async def _create(
        self, plan: EnvPlan, final: Path, *, cwd: Path, log: Callable[[str], None], deadline: float
    ) -> None:
        scratch = Path(tempfile.mkdtemp(dir=self.envs_dir, prefix=f".tmp-{plan.key[:12]}-"))
        env_dir = scratch / "env"
        what = plan.requirements_name or "the server packages"
        log(f"making environment {plan.key} with {self.installer.kind}: {what}")
        try:
            with (self.envs_dir / f"{plan.key}.log").open("w", encoding="utf-8") as out:
                tail: deque[str] = deque(maxlen=_TAIL)

                def on_line(line: str) -> None:
                    tail.append(line)
                    out.write(line + "\n")
                    log(line)

                steps = install_argv(
                    self.installer,
                    python=self.python,
                    env_dir=env_dir,
                    requirements=plan.requirements,
                    packages=plan.packages,
                )
                for number, argv in enumerate(steps):
                    step = "making the virtualenv" if number == 0 else f"installing {what}"
                    out.write("$ " + " ".join(argv) + "\n")
                    code = await self._run(argv, step, cwd=cwd, on_line=on_line, deadline=deadline)
                    if code != 0:
                        raise BuildFailed(self._failure(plan, step, code, list(tail)))
            if self.installer.kind == "pip":
                _rewrite_paths(env_dir / "bin", str(env_dir), str(final))
            (env_dir / _MARKER).write_text(
                json.dumps(
                    {"key": plan.key, "python": self.python, "packages": list(plan.packages)}
                )
            )
            os.rename(env_dir, final)
            log(f"environment {plan.key} is ready")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def _run(
        self,
        argv: list[str],
        step: str,
        *,
        cwd: Path,
        on_line: Callable[[str], None],
        deadline: float,
    ) -> int:
        remaining = deadline - time.monotonic()
        try:
            async with asyncio.timeout(max(remaining, 0.0)):
                return await supervisor.run_command(
                    argv, env=self.environ, cwd=cwd, on_line=on_line
                )
        except TimeoutError:
            raise BuildFailed(f"{step} did not finish within the build timeout") from None
        except OSError as exc:
            raise BuildFailed(f"could not run {argv[0]}: {exc}") from exc

    def _failure(self, plan: EnvPlan, step: str, code: int, tail: list[str]) -> str:
        content = plan.requirements.read_bytes() if plan.requirements else b""
        named = failing_requirements(content, tail)
        head = f"{step} failed (exit code {code})"
        if named:
            head += ": could not install " + ", ".join(named)
        return head + "\n" + "\n".join(tail)
