"""``waypost secrets set|list|delete``: environment variables a project's replicas get.

Values are encrypted at rest and never shown again once set: ``list`` shows names.
Without ``--value``, ``set`` reads the value from stdin (a hidden prompt on a terminal),
so it stays out of the shell's history. Replicas read their environment when they
start: restart an endpoint to apply a changed secret to replicas already running.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import Annotated, TextIO

import typer
from rich.table import Table

from waypost.cli.common import JsonFlag, ProjectOption, api_client, need_project, run_command
from waypost.cli.render import err, out, print_json

__all__ = ["read_secret_value", "secrets_app"]

secrets_app = typer.Typer(
    help="Secrets: encrypted environment variables of a project's replicas.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="The variable's name, e.g. API_KEY.")]


def read_secret_value(
    stream: TextIO, prompt: Callable[[str], str] = getpass.getpass, name: str = "the secret"
) -> str:
    """A hidden prompt on a terminal; otherwise all of ``stream``, less one trailing newline."""
    if stream.isatty():
        return prompt(f"value of {name}: ")
    value = stream.read()
    return value.removesuffix("\n")


@secrets_app.command("set")
def set_(
    name: NameArg,
    value: Annotated[
        str | None,
        typer.Option(help="The value (default: read from stdin, so it stays out of history)."),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Set secret NAME of the project (replaced if it exists)."""

    def action() -> None:
        org, proj = need_project(project)
        given = value if value is not None else read_secret_value(sys.stdin, name=name)
        with api_client() as client:
            client.put(f"/projects/{org}/{proj}/secrets/{name}", {"value": given})
        err.print(
            f"secret {name} set for {org}/{proj}: replicas started from now on get it "
            "(restart an endpoint to apply it to running replicas)",
            markup=False,
            highlight=False,
        )

    run_command(action)


@secrets_app.command("list")
def list_(project: ProjectOption = None, as_json: JsonFlag = False) -> None:
    """The project's secrets: names and when each was set, never values."""

    def action() -> None:
        org, proj = need_project(project)
        with api_client() as client:
            found = client.get(f"/projects/{org}/{proj}/secrets")
        if as_json:
            print_json(found)
            return
        if not found:
            out.print(f"no secrets in {org}/{proj}: `waypost secrets set NAME` adds one")
            return
        table = Table(box=None, header_style="bold")
        table.add_column("NAME")
        table.add_column("UPDATED")
        for secret in found:
            table.add_row(secret["name"], secret["updated_at"])
        out.print(table)

    run_command(action)


@secrets_app.command("delete")
def delete(name: NameArg, project: ProjectOption = None) -> None:
    """Delete secret NAME of the project (running replicas keep it until they restart)."""

    def action() -> None:
        org, proj = need_project(project)
        with api_client() as client:
            client.delete(f"/projects/{org}/{proj}/secrets/{name}")
        err.print(f"secret {name} deleted from {org}/{proj}", markup=False, highlight=False)

    run_command(action)
