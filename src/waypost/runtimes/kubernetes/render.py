"""Manifests as YAML text: one document per object, ``---`` between them. Pure.

PyYAML's safe dumper with block style and keys in the order they were built
(Kubernetes readers expect ``apiVersion``, ``kind``, ``metadata`` first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

__all__ = ["to_yaml"]


def to_yaml(objects: Iterable[Mapping[str, Any]], header: str = "") -> str:
    docs = [
        yaml.safe_dump(dict(obj), sort_keys=False, default_flow_style=False, width=100)
        for obj in objects
    ]
    text = "---\n".join(docs)
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    return text
