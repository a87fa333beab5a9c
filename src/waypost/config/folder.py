"""``load_folder``: read a project folder's config files into one ``ProjectConfig``.

The only I/O of the package. Every file is read and checked before anything is
returned, so one ``InvalidSpec`` lists every problem of every file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Protocol

from waypost.config.modelbit import parse_alias_file
from waypost.config.native import parse_waypost_yaml
from waypost.config.project import ProjectConfig
from waypost.config.valohai import parse_valohai_yaml
from waypost.errors import InvalidSpec, Problem
from waypost.model.policy import AliasSpec

__all__ = ["ALIAS_FOLDER", "VALOHAI_FILE", "WAYPOST_FILE", "load_folder"]

WAYPOST_FILE = "waypost.yaml"
VALOHAI_FILE = "valohai.yaml"
ALIAS_FOLDER = "endpoints"
_ALIAS_SUFFIXES = (".yaml", ".yml")


class _Parser(Protocol):
    def __call__(
        self, text: str, *, file: str, folder: Path | None, deployment_name: str | None
    ) -> ProjectConfig: ...


def load_folder(root: Path, *, deployment_name: str | None = None) -> ProjectConfig:
    """Read waypost.yaml (or, without it, valohai.yaml) and endpoints/*.yaml under ``root``.

    Raises ``InvalidSpec`` listing every problem found in every file at once, each
    with its file (relative to ``root``), line and column.
    """
    problems: list[Problem] = []
    try:
        is_folder = root.is_dir()
    except OSError as exc:
        raise InvalidSpec.of([Problem(f"{root} cannot be read: {exc.strerror or exc}")]) from exc
    if not is_folder:
        raise InvalidSpec.of([Problem(f"{root} is not a folder")])
    config = ProjectConfig(project=None, deployments=(), aliases=(), sources=())
    main = _main_file(root, problems)
    if main is not None:
        name, parse = main
        text = _read(root, name, problems)
        if text is not None:
            try:
                config = parse(text, file=name, folder=root, deployment_name=deployment_name)
            except InvalidSpec as exc:
                problems.extend(exc.problems)
    aliases: list[AliasSpec] = []
    alias_files = _alias_files(root, problems)
    for name in alias_files:
        text = _read(root, name, problems)
        if text is None:
            continue
        try:
            aliases.append(parse_alias_file(text, file=name, name=_stem(name)))
        except InvalidSpec as exc:
            problems.extend(exc.problems)
    problems.extend(_clashes(config, alias_files))
    if main is None and not alias_files and not problems:
        problems.append(
            Problem(
                f"found none of {WAYPOST_FILE}, {VALOHAI_FILE} or {ALIAS_FOLDER}/*.yaml "
                f"in the folder {root.name!r}; write one of them to declare what to serve"
            )
        )
    if problems:
        raise InvalidSpec.of(problems)
    return replace(
        config,
        aliases=config.aliases + tuple(aliases),
        sources=config.sources + tuple(alias_files),
    )


def _main_file(root: Path, problems: list[Problem]) -> tuple[str, _Parser] | None:
    # waypost.yaml wins: a folder may keep a valohai.yaml for Valohai itself.
    for name, parse in ((WAYPOST_FILE, parse_waypost_yaml), (VALOHAI_FILE, parse_valohai_yaml)):
        try:
            if (root / name).is_file():
                return name, parse
        except OSError as exc:
            problems.append(Problem(f"cannot be read: {exc.strerror or exc}", file=name))
            return None
    return None


def _alias_files(root: Path, problems: list[Problem]) -> list[str]:
    folder = root / ALIAS_FOLDER
    try:
        if not folder.is_dir():
            return []
        names = sorted(
            p.name for p in folder.iterdir() if p.suffix in _ALIAS_SUFFIXES and p.is_file()
        )
    except OSError as exc:
        problems.append(Problem(f"cannot be read: {exc.strerror or exc}", file=ALIAS_FOLDER))
        return []
    return [f"{ALIAS_FOLDER}/{name}" for name in names]


def _read(root: Path, name: str, problems: list[Problem]) -> str | None:
    try:
        data = (root / name).read_bytes()
    except OSError as exc:
        problems.append(Problem(f"cannot be read: {exc.strerror or exc}", file=name))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        problems.append(Problem("the file is not UTF-8 text", file=name, line=line, column=column))
        return None


def _stem(name: str) -> str:
    return name.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _clashes(config: ProjectConfig, alias_files: list[str]) -> list[Problem]:
    """Alias files named like a deployment, or like another alias file (``x.yaml``, ``x.yml``)."""
    problems: list[Problem] = []
    deployments = {d.name for d in config.deployments}
    seen: dict[str, str] = {}
    for file in alias_files:
        name = _stem(file)
        if name in deployments:
            message = (
                f"{name!r} is a name used both as a deployment and as an alias file; "
                "rename one of them"
            )
            problems.append(Problem(message, file=file, line=1, column=1))
        if name in seen:
            message = f"two alias files are named {name!r} ({seen[name]} and {file})"
            problems.append(Problem(message, file=file, line=1, column=1))
        seen[name] = file
    return problems
