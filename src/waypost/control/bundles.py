"""Read the configuration inside an uploaded bundle, without unpacking the rest of it.

The server parses the bundle's own ``waypost.yaml`` / ``valohai.yaml`` /
``endpoints/*.yaml``: what runs is what was uploaded, whoever uploaded it. Only
the config files are written out (to a temp dir), next to empty stand-ins for the
other member names so that checks like "requirements.txt exists" see the bundle.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
import tempfile
import zlib
from pathlib import Path

from waypost.config import ProjectConfig, load_folder
from waypost.errors import InvalidSpec, Problem

__all__ = ["config_from_bundle"]

_CONFIG_NAMES = ("waypost.yaml", "valohai.yaml")
_MAX_CONFIG_BYTES = 1024 * 1024


def _is_config(name: str) -> bool:
    return name in _CONFIG_NAMES or (
        name.startswith("endpoints/") and name.count("/") == 1 and name.endswith((".yaml", ".yml"))
    )


def _safe_name(name: str) -> str | None:
    clean = posixpath.normpath(name.lstrip("./") or ".")
    if clean.startswith(("/", "..")) or "\\" in clean or "\x00" in clean or clean == ".":
        return None
    return clean


def config_from_bundle(data: bytes, *, deployment: str) -> ProjectConfig:
    try:
        with (
            tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive,
            tempfile.TemporaryDirectory(prefix="waypost-config-") as tmp,
        ):
            root = Path(tmp) / deployment
            root.mkdir()
            _write_config_view(archive, root)
            return load_folder(root, deployment_name=deployment)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise InvalidSpec.of(
            [Problem(f"the bundle is not a readable gzip tar archive ({exc})", field="bundle")]
        ) from exc


def _write_config_view(archive: tarfile.TarFile, root: Path) -> None:
    for member in archive:
        name = _safe_name(member.name)
        if name is None or not member.isfile():
            continue
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if _is_config(name):
            if member.size > _MAX_CONFIG_BYTES:
                raise InvalidSpec.of([Problem("config file over 1 MiB", file=name)])
            extracted = archive.extractfile(member)
            target.write_bytes(extracted.read() if extracted else b"")
        else:
            target.touch()
