"""``waypost apply PATH``: send the aliases declared in files to the platform, all or none.

PATH is a project folder (``waypost.yaml`` ``aliases:`` and ``endpoints/*.yaml``), an
``endpoints/`` folder of Modelbit alias files, or one YAML file. Files are parsed here
first, so a broken one is reported with its file, line and column before anything is
sent; the server then checks every alias against the project's deployments and writes
them in one transaction. ``waypost deploy`` never applies aliases: run this after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from waypost.cli.alias import policy_summary
from waypost.cli.common import JsonFlag, ProjectOption, api_client, default_project, run_command
from waypost.cli.deploy import split_project
from waypost.cli.render import out, print_json
from waypost.config import load_folder, parse_alias_file, parse_waypost_yaml
from waypost.errors import InvalidSpec, Problem, WaypostError
from waypost.model.policy import AliasSpec, Target

__all__ = ["aliases_from_path", "apply_body", "apply_command"]

_CONFIG_FILES = ("waypost.yaml", "valohai.yaml")
_ALIAS_SUFFIXES = (".yaml", ".yml")


def aliases_from_path(path: Path) -> tuple[str | None, tuple[AliasSpec, ...]]:
    """(the ``project:`` the files name, if any; the aliases they declare)."""
    try:
        is_file, is_folder = path.is_file(), path.is_dir()
    except OSError as exc:
        raise InvalidSpec.of([Problem(f"{path} cannot be read: {exc.strerror or exc}")]) from exc
    if is_file:
        return _from_file(path)
    if not is_folder:
        raise InvalidSpec.of([Problem(f"{path} is neither a folder nor a file", field="PATH")])
    if any((path / name).is_file() for name in _CONFIG_FILES) or (path / "endpoints").is_dir():
        config = load_folder(path)
        return config.project, config.aliases
    # A folder of alias files only: ``endpoints/`` itself.
    return _project_near(path.parent), _alias_folder(path)


def _from_file(path: Path) -> tuple[str | None, tuple[AliasSpec, ...]]:
    shown = f"{path.parent.name}/{path.name}" if path.parent.name == "endpoints" else path.name
    text = _read(path, shown)
    if path.name == "waypost.yaml":
        config = parse_waypost_yaml(text, file=shown, folder=path.parent)
        return config.project, config.aliases
    if path.name == "valohai.yaml":
        raise InvalidSpec.of(
            [Problem("valohai.yaml declares endpoints, not aliases: nothing to apply", file=shown)]
        )
    near = path.parent.parent if path.parent.name == "endpoints" else path.parent
    return _project_near(near), (parse_alias_file(text, file=shown),)


def _alias_folder(folder: Path) -> tuple[AliasSpec, ...]:
    files = sorted(p for p in folder.iterdir() if p.suffix in _ALIAS_SUFFIXES and p.is_file())
    if not files:
        raise InvalidSpec.of(
            [Problem(f"{folder} has no waypost.yaml, valohai.yaml, endpoints/ or *.yaml files")]
        )
    problems: list[Problem] = []
    specs: list[AliasSpec] = []
    seen: dict[str, str] = {}
    for file in files:
        shown = f"{folder.name}/{file.name}"
        if file.stem in seen:
            message = f"two alias files are named {file.stem!r} ({seen[file.stem]} and {shown})"
            problems.append(Problem(message, file=shown, line=1, column=1))
        seen[file.stem] = shown
        try:
            specs.append(parse_alias_file(_read(file, shown), file=shown))
        except InvalidSpec as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidSpec.of(problems)
    return tuple(specs)


def _read(path: Path, shown: str) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InvalidSpec.of(
            [Problem(f"cannot be read: {exc.strerror or exc}", file=shown)]
        ) from exc
    except UnicodeDecodeError as exc:
        raise InvalidSpec.of([Problem("the file is not UTF-8 text", file=shown)]) from exc


def _project_near(folder: Path) -> str | None:
    """The ``project:`` of the project folder next to an alias file, if it says one."""
    try:
        return load_folder(folder).project
    except WaypostError:
        return None


def _target_json(target: Target) -> dict[str, Any]:
    return {
        "deployment": target.deployment,
        "version": target.version,
        "endpoint": target.endpoint,
        "branch": target.branch,
    }


def apply_body(specs: tuple[AliasSpec, ...]) -> dict[str, Any]:
    """The body of ``POST /projects/{org}/{project}/apply``."""
    return {
        "aliases": [
            {
                "name": spec.name,
                "deployment": spec.deployment,
                "source": spec.source,
                "backends": [
                    {"name": b.name, "weight": b.weight, **_target_json(b.target)}
                    for b in spec.policy.backends
                ],
                "mirrors": [
                    {"name": m.name, **_target_json(m.target)} for m in spec.policy.mirrors
                ],
                "sticky": spec.policy.sticky,
            }
            for spec in specs
        ]
    }


def _applied_table(answer: dict[str, Any]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ALIAS", "", "POLICY", "URL"):
        table.add_column(column, overflow="fold")
    for alias in answer["aliases"]:
        mark = "changed" if alias["changed"] else "unchanged"
        table.add_row(alias["prefix"], mark, policy_summary(alias["policy"]), alias["url"])
    return table


def apply_command(
    path: Annotated[
        Path, typer.Argument(help="A project folder, an endpoints/ folder or one YAML file.")
    ] = Path("."),
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Apply the aliases of waypost.yaml and endpoints/*.yaml: all of them or none.

    `waypost deploy` does not apply aliases; run `waypost apply` after it.
    """

    def action() -> None:
        declared, specs = aliases_from_path(path)
        chosen = project or declared or default_project(None)
        if chosen is None:
            raise InvalidSpec.of(
                [
                    Problem(
                        "no project: pass --project ORG/PROJECT or set `project:` in waypost.yaml"
                    )
                ]
            )
        if not specs:
            raise InvalidSpec.of([Problem(f"{path} declares no aliases: nothing to apply")])
        org, name = split_project(chosen)
        with api_client() as client:
            answer = client.post(f"/projects/{org}/{name}/apply", apply_body(specs))
        if as_json:
            print_json(answer)
            return
        out.print(_applied_table(answer))
        changed = len(answer["changed"])
        out.print(f"{changed} of {len(answer['aliases'])} alias(es) changed", highlight=False)

    run_command(action)
