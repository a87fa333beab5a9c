"""The shim directory on every replica's PYTHONPATH: waypost's prefix middleware and launcher.

It holds only ``waypost/__init__.py`` (empty), a copy of ``waypost/prefix/`` and
the launcher as ``waypost_launcher.py``, so the user's env needs no waypost
install, and ``server-command`` apps can ``from waypost.prefix import ...`` too.
It is named by the hash of its contents: a waypost upgrade makes a new one next
to the old, which replicas still running keep using. Made atomically (temp dir,
rename). Blocking; called from a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from waypost.runtimes.local.commands import LAUNCHER_MODULE

__all__ = ["ensure_shim", "shim_files"]


def shim_files() -> dict[str, bytes]:
    """Relative path -> content of every file in the shim."""
    files = {"waypost/__init__.py": b""}
    prefix = resources.files("waypost.prefix")
    for entry in sorted(prefix.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".py") and entry.is_file():
            files[f"waypost/prefix/{entry.name}"] = entry.read_bytes()
    launcher = resources.files("waypost.runtimes.local").joinpath("launcher.py")
    files[f"{LAUNCHER_MODULE}.py"] = launcher.read_bytes()
    return files


def ensure_shim(shim_root: Path) -> Path:
    files = shim_files()
    digest = hashlib.sha256()
    for name, content in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    target = shim_root / digest.hexdigest()[:16]
    if target.is_dir():
        return target
    shim_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=shim_root, prefix=".tmp-"))
    try:
        for name, content in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not a lost race with another runtime on this root
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
