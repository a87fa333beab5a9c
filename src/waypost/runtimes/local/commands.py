"""What a replica runs and with which environment: pure functions of the spec.

- ``wsgi: module:callable`` -> the launcher serves it with gunicorn behind
  ``waypost.prefix.PrefixMiddleware``;
- ``asgi: module:app`` -> the launcher serves it with uvicorn behind
  ``AsgiPrefixMiddleware``;
- ``server-command: CMD`` -> ``/bin/sh -c CMD`` with the env's ``bin/`` first on PATH.

A replica's environment is built from nothing but its inputs, never from the
control plane's own environment (no WAYPOST_* variables, no tokens, no database
URL): a minimal base, then the spec's ``env``, then the workload's, then what
waypost itself sets (PORT, SCRIPT_NAME, VH_DEFAULT_PREFIX, HF_HUB_OFFLINE).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from waypost.errors import BuildFailed
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointKind, EndpointSpec

__all__ = [
    "DEFAULT_SYSTEM_PATH",
    "LAUNCHER_MODULE",
    "check_kind",
    "limitations",
    "replica_argv",
    "replica_environ",
    "server_packages",
    "system_path",
]

#: The launcher's module name inside the shim on a replica's PYTHONPATH.
LAUNCHER_MODULE = "waypost_launcher"
DEFAULT_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_SERVERS: Mapping[str, tuple[str, ...]] = {
    "wsgi": ("gunicorn",),
    "asgi": ("uvicorn",),
    "server-command": (),
    "runtime": (),  # model servers run on the platform's interpreter: see models.py
}


def check_kind(kind: EndpointKind) -> None:
    if kind not in _SERVERS:
        raise BuildFailed(
            f"the local runtime cannot run {kind!r} endpoints; use wsgi:, asgi:, "
            "server-command: or runtime: with model:"
        )


def server_packages(kind: EndpointKind) -> tuple[str, ...]:
    """The server the env needs for ``kind``, installed next to the user's requirements."""
    check_kind(kind)
    return _SERVERS[kind]


def replica_argv(
    spec: EndpointSpec, *, python: Path, host: str, port: int, graceful: float
) -> list[str]:
    check_kind(spec.kind)
    if spec.kind == "runtime":
        raise ValueError("runtime endpoints get their argv from runtimes.local.models")
    if spec.kind == "server-command":
        return ["/bin/sh", "-c", spec.target]
    return [
        str(python),
        "-m",
        LAUNCHER_MODULE,
        spec.kind,
        spec.target,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(max(1, spec.workers)),
        "--graceful-timeout",
        f"{graceful:g}",
    ]


def system_path(environ: Mapping[str, str], exclude: Sequence[Path] = ()) -> str:
    """The control plane's PATH without its own virtualenv (``exclude``), for replicas."""
    hidden = tuple(str(p).rstrip("/") for p in exclude)
    entries = [
        entry
        for entry in environ.get("PATH", "").split(":")
        if entry and not any(entry == h or entry.startswith(h + "/") for h in hidden)
    ]
    return ":".join(entries) or DEFAULT_SYSTEM_PATH


def _first_on(path_var: str, entry: str) -> str:
    entries = [e for e in path_var.split(":") if e and e != entry]
    return ":".join([entry, *entries])


def replica_environ(
    key: UnitKey,
    spec: EndpointSpec,
    workload_env: Mapping[str, str],
    *,
    port: int,
    env_dir: Path,
    home: Path,
    shim: Path,
    path: str = DEFAULT_SYSTEM_PATH,
) -> dict[str, str]:
    env_bin = str(env_dir / "bin")
    env: dict[str, str] = {
        "PATH": f"{env_bin}:{path}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": str(home / "tmp"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(shim),
        "VIRTUAL_ENV": str(env_dir),
    }
    env.update({str(k): str(v) for k, v in spec.env.items()})
    env.update({str(k): str(v) for k, v in workload_env.items()})
    # A user's PATH or PYTHONPATH extends ours: the env's bin/ and the shim stay first,
    # or `python` would not be the env's and the launcher could not be imported.
    env["PATH"] = _first_on(env["PATH"], env_bin)
    env["PYTHONPATH"] = _first_on(env["PYTHONPATH"], str(shim))
    env["PORT"] = str(port)
    env["SCRIPT_NAME"] = key.prefix.path
    env["VH_DEFAULT_PREFIX"] = key.prefix.header
    env["HF_HUB_OFFLINE"] = "1"
    return env


def limitations(spec: EndpointSpec) -> list[str]:
    """Parts of the spec the local runtime cannot honour, one sentence each."""
    notes: list[str] = []  # CPU and memory: see ``limits.resource_notes``
    if spec.resources.gpu:
        notes.append("resources.gpu is not reserved locally: the replica sees every GPU")
    if spec.image:
        notes.append(f"image {spec.image!r} is ignored locally: replicas run in a virtualenv")
    if spec.node_selector:
        notes.append("node-selector is ignored locally: there is one node")
    if spec.kind == "server-command" and spec.port is not None and spec.replicas.max > 1:
        notes.append(f"a fixed port ({spec.port}) allows one replica on this machine")
    return notes
