"""``waypost``: the command line. Thin: parse arguments, call the API over HTTP, render.

Exit codes: 0 done, 1 refused or failed (bad input, an endpoint that did not come
up), 2 the API could not be reached or the command line itself is wrong.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from waypost.cli.alias import alias_app, aliases_table, fetch_aliases
from waypost.cli.apply import apply_command
from waypost.cli.client import ApiClient
from waypost.cli.common import (
    JsonFlag,
    ProjectOption,
    api_client,
    default_project,
    run_command,
    unit_key,
)
from waypost.cli.deploy import deploy_folder, split_project
from waypost.cli.endpoints import endpoints_app, events_command
from waypost.cli.k8s import k8s_app
from waypost.cli.models import models_app
from waypost.cli.render import endpoints_table, err, out, print_json, state_text
from waypost.cli.render_command import render_endpoint
from waypost.cli.secrets import secrets_app
from waypost.cli.tokens import tokens_app
from waypost.config import load_folder
from waypost.errors import InvalidSpec, Problem, WaypostError

__all__ = ["app", "main"]

app = typer.Typer(
    name="waypost",
    help="Versioned, auto-scaling REST endpoints for models and small web apps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(tokens_app, name="tokens")
app.add_typer(endpoints_app, name="endpoints")
app.command("events")(events_command)
app.add_typer(alias_app, name="alias")
app.command("apply")(apply_command)
app.add_typer(secrets_app, name="secrets")
app.add_typer(models_app, name="models")
app.add_typer(k8s_app, name="k8s")
endpoints_app.command("render")(render_endpoint)


@app.command()
def up(
    home: Annotated[
        Path | None, typer.Option(help="State folder (default $WAYPOST_HOME or ~/.waypost).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address the API and gateway bind.")] = "127.0.0.1",
    gateway_port: Annotated[int, typer.Option(help="Port for traffic.")] = 8080,
    api_port: Annotated[int, typer.Option(help="Port for the API and console.")] = 8081,
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL (default: SQLite in the home; $WAYPOST_DATABASE_URL)."),
    ] = None,
    gateway_workers: Annotated[
        int | None, typer.Option(min=1, help="Gateway processes (default: one per CPU core).")
    ] = None,
    runtime: Annotated[
        str,
        typer.Option(help="Where replicas run: local (processes) or kubernetes (a cluster)."),
    ] = "local",
    no_gateway: Annotated[
        bool, typer.Option("--no-gateway", help="Run no gateway (they run elsewhere).")
    ] = False,
) -> None:
    """Run the control plane, the gateway and the runtime until Ctrl-C."""
    from waypost.control.platform import run_platform
    from waypost.settings import Settings

    settings = Settings.from_environ(
        os.environ,
        home=home,
        host=host,
        gateway_port=gateway_port,
        api_port=api_port,
        database_url=database_url,
        gateway_workers=gateway_workers,
        runtime=runtime,
        with_gateway=not no_gateway,
    )
    raise typer.Exit(run_platform(settings))


@app.command()
def deploy(
    path: Annotated[Path, typer.Argument(help="The project folder.")] = Path("."),
    deployment: Annotated[
        str | None, typer.Option("--deployment", "-d", help="Deployment name.")
    ] = None,
    project: ProjectOption = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once uploaded.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for Running.")] = 900.0,
    as_json: JsonFlag = False,
) -> None:
    """Bundle PATH, create the next version, and wait until its endpoints run.

    Aliases (waypost.yaml `aliases:`, endpoints/*.yaml) are not applied: run `waypost apply`.
    """

    def action() -> int:
        with api_client() as client:
            outcomes = deploy_folder(
                client,
                path,
                project=project or _project_from_folder(path),
                deployment=deployment,
                wait=not no_wait,
                timeout=timeout,
                show_progress=not as_json and sys.stderr.isatty(),
            )
            failed = [o for o in outcomes if not no_wait and not o.ok]
            if as_json:
                data = [o.to_json() for o in outcomes]
                print_json(data[0] if len(data) == 1 else data)
            else:
                for outcome in outcomes:
                    _print_outcome(outcome.to_json())
            for outcome in failed:
                _explain_failure(client, outcome.project, outcome.deployment, outcome.version)
            return 1 if failed else 0

    run_command(action)


def _project_from_folder(path: Path) -> str | None:
    try:
        return load_folder(path).project
    except WaypostError:
        return None  # deploy_folder reports the problems with their positions


def _print_outcome(outcome: dict[str, Any]) -> None:
    out.print(
        f"[bold]{outcome['project']}/{outcome['deployment']}[/] version {outcome['version']}",
        highlight=False,
    )
    for ep in outcome["endpoints"]:
        line = Text.assemble(f"  {ep['name']:<16} ", state_text(ep["state"]), f"  {ep['url']}")
        out.print(line, highlight=False)


def _explain_failure(client: ApiClient, project: str, deployment: str, version: int) -> None:
    found = client.get(f"/projects/{project}/deployments/{deployment}/versions/{version}")
    for ep in found["endpoints"]:
        if ep["state"] in ("Running", "Sleeping"):
            continue
        err.print(f"[bold red]{ep['key']} is {ep['state']}[/]: {ep['reason']}", highlight=False)
        logs = client.get(f"/endpoints/{ep['key']}/logs", tail=20)
        if logs["text"].strip():
            err.print("[dim]last lines of its log:[/]")
            err.print(logs["text"].rstrip(), markup=False, highlight=False)


@app.command()
def status(project: ProjectOption = None, as_json: JsonFlag = False) -> None:
    """Every endpoint of every version (state, replicas, URL), and every alias with its
    requests and errors per backend and mirror over the last minute."""

    def action() -> None:
        chosen = default_project(project)
        if chosen is not None:
            split_project(chosen)
        with api_client() as client:
            endpoints = client.get("/endpoints", project=chosen)
            aliases = fetch_aliases(client, chosen)
        if as_json:
            print_json({"endpoints": endpoints, "aliases": aliases})
            return
        if not endpoints:
            out.print("no endpoints yet: `waypost deploy PATH` creates one")
        else:
            out.print(endpoints_table(endpoints))
        if aliases:
            out.print()
            out.print(aliases_table(aliases))

    run_command(action)


@app.command()
def logs(
    endpoint: Annotated[str, typer.Argument(help="DEPLOYMENT/VERSION/ENDPOINT")],
    project: ProjectOption = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing.")] = False,
    tail: Annotated[int, typer.Option(help="Lines to start with.")] = 200,
    as_json: JsonFlag = False,
) -> None:
    """Print the output of an endpoint's replicas."""

    def action() -> None:
        key = unit_key(endpoint, project)
        with api_client() as client:
            chunk = client.get(f"/endpoints/{key.id}/logs", tail=tail)
            if as_json and not follow:
                print_json(chunk)
                return
            sys.stdout.write(chunk["text"])
            sys.stdout.flush()
            while follow:
                time.sleep(0.5)
                chunk = client.get(f"/endpoints/{key.id}/logs", offset=chunk["offset"])
                sys.stdout.write(chunk["text"])
                sys.stdout.flush()

    run_command(action)


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="The project folder.")] = Path("."),
    deployment: Annotated[str | None, typer.Option("--deployment", "-d")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check waypost.yaml, valohai.yaml and endpoints/*.yaml; print every problem."""
    try:
        config = load_folder(path, deployment_name=deployment)
    except InvalidSpec as exc:
        if as_json:
            print_json(exc.to_json())
        else:
            for problem in exc.problems or (Problem(exc.message),):
                err.print(str(problem), markup=False, highlight=False)
            err.print(f"[bold red]{len(exc.problems) or 1} problem(s)[/]")
        raise typer.Exit(1) from None
    summary = {
        "project": config.project,
        "files": list(config.sources),
        "deployments": [
            {"name": d.name, "endpoints": [e.name for e in d.endpoints]} for d in config.deployments
        ],
        "aliases": [a.name for a in config.aliases],
    }
    if as_json:
        print_json(summary)
        return
    out.print(f"[green]valid[/]: {', '.join(config.sources)}", highlight=False)
    for d in config.deployments:
        out.print(f"  deployment {d.name}: endpoints {', '.join(e.name for e in d.endpoints)}")
    for alias in config.aliases:
        out.print(f"  alias {alias.name}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
