"""Pack a project folder into the gzip tar the API takes as a version's bundle.

What goes in: every file below the folder except what its ``.gitignore`` ignores
and what never belongs in a bundle (``.git``, virtualenvs, caches). Files an
endpoint binds with a ``source`` outside the bundle are added at their ``path``.
Entries are sorted and their times zeroed, so the same folder gives the same bytes
(and so the same content address) twice.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

from waypost.errors import InvalidSpec, Problem, TooLarge
from waypost.model.spec import DeploymentSpec

__all__ = ["Bundle", "make_bundle"]

#: Never bundled, whatever .gitignore says.
ALWAYS_EXCLUDED = (".git/", ".venv/", "venv/", "__pycache__/", "*.pyc", ".waypost/", ".DS_Store")


@dataclass(frozen=True)
class Bundle:
    data: bytes
    files: int


def make_bundle(
    folder: Path, deployments: Iterable[DeploymentSpec] = (), *, limit: int | None = None
) -> Bundle:
    folder = folder.resolve()
    members = dict(_walk(folder))
    members.update(_bound_files(folder, deployments))
    buffer = io.BytesIO()
    total = 0
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        for name in sorted(members):
            source = members[name]
            total += source.stat().st_size
            if limit is not None and total > limit:
                raise TooLarge(
                    f"{folder} holds more than the bundle limit of {limit} bytes; "
                    "list what should not be deployed in its .gitignore"
                )
            with source.open("rb") as content:
                archive.addfile(_info(name, source), content)
    return Bundle(buffer.getvalue(), len(members))


def _info(name: str, source: Path) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = source.stat().st_size
    info.mode = 0o755 if os.access(source, os.X_OK) else 0o644
    info.mtime = 0
    return info


def _walk(folder: Path) -> Iterator[tuple[str, Path]]:
    spec = _ignore_spec(folder)
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        rel_dir = here.relative_to(folder).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not spec.match_file(prefix + d + "/"))
        for filename in filenames:
            path = here / filename
            rel = prefix + filename
            if spec.match_file(rel) or path.is_symlink() or not path.is_file():
                continue
            yield rel, path


def _ignore_spec(folder: Path) -> pathspec.GitIgnoreSpec:
    lines = list(ALWAYS_EXCLUDED)
    gitignore = folder / ".gitignore"
    if gitignore.is_file():
        lines.extend(gitignore.read_text(errors="replace").splitlines())
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _bound_files(folder: Path, deployments: Iterable[DeploymentSpec]) -> Iterator[tuple[str, Path]]:
    problems: list[Problem] = []
    for deployment in deployments:
        for endpoint in deployment.endpoints:
            for binding in endpoint.files:
                if binding.source is None:
                    continue
                source = (folder / binding.source).expanduser()
                if not source.is_file():
                    problems.append(
                        Problem(
                            f"file {binding.name!r}: source {binding.source!r} is not a file",
                            field=f"{endpoint.name}.files",
                        )
                    )
                    continue
                yield binding.path.lstrip("/"), source
    if problems:
        raise InvalidSpec.of(problems)
