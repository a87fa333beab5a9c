"""``waypost tokens create|list|revoke``: scoped API tokens (an admin token is needed)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from waypost.cli.common import JsonFlag, api_client, run_command
from waypost.cli.render import err, out, print_json

__all__ = ["tokens_app"]

tokens_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)


@tokens_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name to recognise the token by.")],
    scope: Annotated[
        str, typer.Option(help="admin, deploy, read or invoke (invoke: calling endpoints).")
    ] = "read",
    project: Annotated[
        str | None,
        typer.Option(
            help="Limit to ORG/PROJECT (or, for invoke, ORG/PROJECT/DEPLOYMENT/VERSION/ENDPOINT)."
        ),
    ] = None,
    expires_in: Annotated[str | None, typer.Option(help="e.g. 720h; default: never.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a token and print it once: only its hash is kept."""

    def action() -> None:
        body = {"name": name, "scope": scope, "project": project, "expires_in": expires_in}
        with api_client() as client:
            created = client.post("/tokens", body)
        if as_json:
            print_json(created)
            return
        err.print(f"token {created['name']} (id {created['id']}, scope {created['scope']}):")
        out.print(created["token"], markup=False, highlight=False)
        err.print("[yellow]it is shown only now: store it somewhere safe[/]")

    run_command(action)


@tokens_app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """Every token, without its secret."""

    def action() -> None:
        with api_client() as client:
            tokens = client.get("/tokens")
        if as_json:
            print_json(tokens)
            return
        table = Table(box=None, header_style="bold")
        for column in ("ID", "NAME", "SCOPE", "PROJECT", "EXPIRES", "REVOKED"):
            table.add_column(column)
        for t in tokens:
            table.add_row(
                str(t["id"]),
                t["name"],
                t["scope"],
                t["project"] or "*",
                t["expires_at"] or "never",
                "yes" if t["revoked"] else "",
            )
        out.print(table)

    run_command(action)


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see `waypost tokens list`).")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke a token for good."""

    def action() -> None:
        with api_client() as client:
            revoked = client.delete(f"/tokens/{token_id}")
        if as_json:
            print_json(revoked)
        else:
            out.print(f"revoked token {revoked['id']} ({revoked['name']})")

    run_command(action)
