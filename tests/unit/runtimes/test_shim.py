"""The shim: waypost.prefix and the launcher, importable without waypost installed."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from waypost.runtimes.local.commands import LAUNCHER_MODULE
from waypost.runtimes.local.shim import ensure_shim, shim_files


def test_the_shim_holds_only_the_prefix_package_and_the_launcher() -> None:
    names = set(shim_files())
    assert names == {
        "waypost/__init__.py",
        "waypost/prefix/__init__.py",
        "waypost/prefix/asgi.py",
        "waypost/prefix/match.py",
        "waypost/prefix/wsgi.py",
        f"{LAUNCHER_MODULE}.py",
    }
    assert shim_files()["waypost/__init__.py"] == b""


def test_the_launcher_imports_only_the_stdlib_the_prefix_and_servers() -> None:
    tree = ast.parse(shim_files()[f"{LAUNCHER_MODULE}.py"])
    allowed = {"waypost.prefix", "gunicorn.app.base", "gunicorn.errors", "gunicorn.http", "uvicorn"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name in allowed or name.split(".")[0] in sys.stdlib_module_names, name


def test_ensure_shim_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    first = ensure_shim(tmp_path)
    assert ensure_shim(tmp_path) == first
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temp dir left
    for name, content in shim_files().items():
        assert (first / name).read_bytes() == content
