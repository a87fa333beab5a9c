"""Unpack a version's bundle once, safely, into ``bundles/<digest>/``.

A bundle is a user-supplied ``.tar.gz``, so every member is checked before
anything is written: no absolute names, no ``..``, no links that point outside
the bundle, no devices or fifos, and a cap on the unpacked size. Extraction then
still goes through ``tarfile``'s ``data`` filter as a second line of defence.
It unpacks into a temp dir that is renamed into place, so a half-unpacked bundle
is never seen. Blocking; the runtime calls these from a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from waypost.errors import BuildFailed
from waypost.model.spec import FileBinding

__all__ = [
    "MAX_MEMBERS",
    "MAX_UNPACKED_BYTES",
    "check_files",
    "check_members",
    "file_inside",
    "unpack_bundle",
]

MAX_UNPACKED_BYTES = 4 * 1024**3  # a gzip bomb stops here, not at a full disk
MAX_MEMBERS = 200_000
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def _member_problem(member: tarfile.TarInfo) -> str | None:
    name = member.name
    if "\x00" in name or "\\" in name:
        return "has a name with a NUL or backslash"
    if name.startswith("/"):
        return "has an absolute path"
    if ".." in name.split("/"):
        return "has '..' in its path"
    if member.isdev():
        return "is a device file or fifo"
    if member.issym():
        target = member.linkname
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if target.startswith("/") or joined == ".." or joined.startswith("../"):
            return f"is a symlink pointing outside the bundle ({target})"
    elif member.islnk():
        target = posixpath.normpath(member.linkname)
        if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
            return f"is a hard link pointing outside the bundle ({member.linkname})"
    elif not (member.isfile() or member.isdir()):
        return "is not a regular file, directory or link"
    return None


def check_members(members: Sequence[tarfile.TarInfo]) -> None:
    """Raise BuildFailed naming every unsafe member (or the size cap exceeded)."""
    if len(members) > MAX_MEMBERS:
        raise BuildFailed(f"the bundle has {len(members)} members (at most {MAX_MEMBERS})")
    problems = [
        f"{m.name!r} {problem}" for m in members if (problem := _member_problem(m)) is not None
    ]
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        raise BuildFailed(f"the bundle has unsafe members: {shown}")
    total = sum(m.size for m in members if m.isfile())
    if total > MAX_UNPACKED_BYTES:
        raise BuildFailed(f"the bundle unpacks to {total} bytes (at most {MAX_UNPACKED_BYTES})")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack_bundle(archive: Path, digest: str, bundles: Path) -> Path:
    """``bundles/<digest>/`` with the archive's contents, unpacking it if not there yet."""
    if not _DIGEST.match(digest):
        raise BuildFailed(f"not a sha256 bundle digest: {digest!r}")
    target = bundles / digest
    if target.is_dir():
        return target
    if not archive.is_file():
        raise BuildFailed(f"the bundle archive {archive} is missing")
    if _sha256(archive) != digest:
        raise BuildFailed(f"the bundle archive {archive} does not match its digest {digest}")
    bundles.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=bundles, prefix=f".unpack-{digest[:12]}-"))
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = tar.getmembers()
            check_members(members)
            tar.extractall(tmp, members=members, filter="data")
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not a lost race with another unpack of the same digest
                raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BuildFailed(f"could not unpack the bundle: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def file_inside(root: Path, relative: str, what: str) -> Path:
    """``root/relative``, refusing absolute paths and paths that leave ``root``."""
    clean = posixpath.normpath(relative.replace("\\", "/"))
    if relative.startswith("/") or clean == ".." or clean.startswith("../"):
        raise BuildFailed(f"{what} {relative!r} must be a relative path inside the bundle")
    path = root / clean
    resolved = path.resolve()
    if resolved != root.resolve() and root.resolve() not in resolved.parents:
        raise BuildFailed(f"{what} {relative!r} points outside the bundle")
    return path


def check_files(root: Path, files: Iterable[FileBinding]) -> None:
    """Raise BuildFailed naming every declared file that is not in the unpacked bundle."""
    missing = [
        f"{binding.name} ({binding.path})"
        for binding in files
        if not file_inside(root, binding.path, f"file {binding.name}").exists()
    ]
    if missing:
        raise BuildFailed("declared files missing from the bundle: " + ", ".join(missing))
