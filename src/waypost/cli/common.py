"""What every command shares: the API client, error handling, project defaults, flags."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from waypost.cli.client import ApiClient, ApiUnreachable, Connection
from waypost.cli.deploy import split_project
from waypost.cli.render import err, print_error
from waypost.config import load_folder
from waypost.errors import InvalidSpec, Problem, WaypostError
from waypost.model.prefix import UnitKey

__all__ = [
    "JsonFlag",
    "ProjectOption",
    "api_client",
    "default_project",
    "need_project",
    "run_command",
    "unit_key",
]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ProjectOption = Annotated[
    str | None,
    typer.Option("--project", "-p", help="ORG/PROJECT (default: `project:` of ./waypost.yaml)."),
]


@contextmanager
def api_client() -> Iterator[ApiClient]:
    client = ApiClient(Connection.from_environ(os.environ))
    try:
        yield client
    finally:
        client.close()


def run_command(action: Callable[[], int | None]) -> None:
    """Run a command body, turning waypost errors into a message and an exit code."""
    try:
        code = action() or 0
    except ApiUnreachable as exc:
        print_error(exc)
        raise typer.Exit(2) from None
    except WaypostError as exc:
        print_error(exc)
        raise typer.Exit(1) from None
    except TimeoutError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    raise typer.Exit(code)


def default_project(given: str | None) -> str | None:
    """``--project``, else the ``project:`` of ./waypost.yaml if it is readable."""
    if given:
        return given
    try:
        return load_folder(Path.cwd()).project
    except WaypostError:
        return None


def need_project(given: str | None) -> tuple[str, str]:
    project = default_project(given)
    if project is None:
        raise InvalidSpec.of(
            [Problem("no project: pass --project ORG/PROJECT or run where a waypost.yaml is")]
        )
    return split_project(project)


def unit_key(text: str, project: str | None) -> UnitKey:
    """``DEPLOYMENT/VERSION/ENDPOINT`` within the project -> the endpoint's key."""
    parts = text.strip("/").split("/")
    if len(parts) != 3 or not parts[1].isdigit():
        raise InvalidSpec.of(
            [Problem(f"not DEPLOYMENT/VERSION/ENDPOINT: {text!r}", field="ENDPOINT")]
        )
    org, name = need_project(project)
    return UnitKey(org, name, parts[0], int(parts[1]), parts[2])
