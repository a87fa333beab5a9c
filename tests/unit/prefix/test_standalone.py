"""waypost.prefix must import nothing but the stdlib and itself: user envs lack waypost."""

from __future__ import annotations

import ast
import sys
from importlib import resources

import pytest

FILES = sorted(
    entry for entry in resources.files("waypost.prefix").iterdir() if entry.name.endswith(".py")
)


@pytest.mark.parametrize("source", FILES, ids=[f.name for f in FILES])
def test_imports_only_stdlib_and_relative_modules(source: resources.abc.Traversable) -> None:
    tree = ast.parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 0:
                continue  # relative: inside waypost.prefix
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top == "__future__" or top in sys.stdlib_module_names, (source.name, name)
