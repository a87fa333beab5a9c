"""``waypost endpoints list|show|stop|start|restart|wake|update|delete`` and ``waypost events``.

An endpoint is named ``DEPLOYMENT/VERSION/ENDPOINT`` within the project (``--project``
or the ``project:`` of ./waypost.yaml). Refusals come back as the API words them
("cannot start: endpoint is Running; ...") with exit code 1.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from waypost.cli.client import ApiClient
from waypost.cli.common import (
    JsonFlag,
    ProjectOption,
    api_client,
    default_project,
    run_command,
    unit_key,
)
from waypost.cli.deploy import split_project
from waypost.cli.render import endpoints_table, out, print_json, state_text
from waypost.errors import InvalidSpec, Problem
from waypost.model.durations import format_duration

__all__ = ["endpoints_app", "events_command"]

endpoints_app = typer.Typer(
    help="List, show, stop, start, restart, wake, update and delete endpoints of versions.",
    no_args_is_help=True,
)

EndpointArg = Annotated[str, typer.Argument(help="DEPLOYMENT/VERSION/ENDPOINT")]


@endpoints_app.command("list")
def list_(
    project: ProjectOption = None,
    deployment: Annotated[str | None, typer.Option("--deployment", "-d")] = None,
    state: Annotated[str | None, typer.Option(help="Only this state, e.g. Running.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Endpoints of versions: state, replicas, URL, reason."""

    def action() -> None:
        chosen = default_project(project)
        if chosen is not None:
            split_project(chosen)
        with api_client() as client:
            found = client.get("/endpoints", project=chosen, deployment=deployment, state=state)
        if as_json:
            print_json(found)
        elif not found:
            out.print("no endpoints")
        else:
            out.print(endpoints_table(found))

    run_command(action)


@endpoints_app.command()
def show(
    endpoint: EndpointArg,
    project: ProjectOption = None,
    events: Annotated[int, typer.Option(help="How many of the last events to show.")] = 10,
    as_json: JsonFlag = False,
) -> None:
    """State, reason, settings, pending changes, replicas and the last events."""

    def action() -> None:
        key = unit_key(endpoint, project)
        with api_client() as client:
            found = client.get(f"/endpoints/{key.id}")
            history = client.get(f"/endpoints/{key.id}/events")
        last = history[-events:] if events > 0 else []
        if as_json:
            print_json({**found, "events": last})
            return
        _print_endpoint(found, last)

    run_command(action)


def _action_command(name: str, doc: str) -> None:
    def command(
        endpoint: EndpointArg, project: ProjectOption = None, as_json: JsonFlag = False
    ) -> None:
        def action() -> None:
            key = unit_key(endpoint, project)
            with api_client() as client:
                found = client.put(f"/endpoints/{key.id}/{name}")
            if as_json:
                print_json(found)
            else:
                _print_state_line(found)

        run_command(action)

    command.__doc__ = doc
    endpoints_app.command(name)(command)


_action_command("stop", "Stop every replica; the endpoint keeps its URL and settings.")
_action_command("start", "Start a Stopped endpoint (it takes its pending settings).")
_action_command(
    "restart", "Replace the replicas (with the pending settings); rebuild a failed one."
)
_action_command("wake", "Wake a Sleeping endpoint now, rather than at its next request.")


@endpoints_app.command()
def update(
    endpoint: EndpointArg,
    project: ProjectOption = None,
    min_replicas: Annotated[int | None, typer.Option(help="0 lets it sleep when idle.")] = None,
    max_replicas: Annotated[int | None, typer.Option()] = None,
    visibility: Annotated[str | None, typer.Option(help="public or private.")] = None,
    target_concurrency: Annotated[
        float | None, typer.Option(help="Requests in flight per replica the autoscaler aims at.")
    ] = None,
    idle_timeout: Annotated[
        str | None, typer.Option(help="Idle time before sleeping (min replicas 0), e.g. 30s, 5m.")
    ] = None,
    cpu: Annotated[float | None, typer.Option(help="CPUs per replica.")] = None,
    memory: Annotated[str | None, typer.Option(help="Memory per replica, e.g. 512Mi, 2Gi.")] = None,
    gpu: Annotated[int | None, typer.Option(help="GPUs per replica.")] = None,
    gpu_type: Annotated[str | None, typer.Option()] = None,
    preset: Annotated[str | None, typer.Option(help="A cloud resource preset.")] = None,
    engine_arg: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE (repeat it); KEY= removes one.", show_default=False),
    ] = None,
    quantization: Annotated[str | None, typer.Option()] = None,
    runtime_framework: Annotated[
        str | None, typer.Option(help="For runtime: endpoints, e.g. vllm.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Change settings (replicas, visibility, autoscaling, resources, engine args, ...).

    Replicas, visibility and autoscaling apply at once. Resources, engine args,
    quantization and the runtime framework need new replicas: while the endpoint
    runs they wait in its pending settings until the next restart.
    """

    def action() -> None:
        key = unit_key(endpoint, project)
        body = settings_body(
            replicas={"min": min_replicas, "max": max_replicas},
            autoscaling={"target_concurrency": target_concurrency, "idle_timeout": idle_timeout},
            resources={
                "cpu": cpu,
                "memory": memory,
                "gpu": gpu,
                "gpu_type": gpu_type,
                "preset": preset,
            },
            visibility=visibility,
            engine_args=parse_engine_args(engine_arg or []),
            quantization=quantization,
            runtime_framework=runtime_framework,
        )
        if not body:
            raise InvalidSpec.of([Problem("nothing to change: give at least one option")])
        with api_client() as client:
            found = client.patch(f"/endpoints/{key.id}", body)
        if as_json:
            print_json(found)
            return
        _print_state_line(found)
        for change in found["pending_changes"]:
            out.print(f"  after the next restart: {change}", highlight=False)

    run_command(action)


def settings_body(
    *,
    replicas: Mapping[str, Any],
    autoscaling: Mapping[str, Any],
    resources: Mapping[str, Any],
    **top: Any,
) -> dict[str, Any]:
    """The PATCH body of the options given (None: not given)."""
    body: dict[str, Any] = {name: value for name, value in top.items() if value}
    for name, section in (
        ("replicas", replicas),
        ("autoscaling", autoscaling),
        ("resources", resources),
    ):
        given = {k: v for k, v in section.items() if v is not None}
        if given:
            body[name] = given
    return body


def parse_engine_args(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` -> {KEY: VALUE} with numbers and true/false typed; ``KEY=`` -> None."""
    args: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise InvalidSpec.of(
                [Problem(f"--engine-arg takes KEY=VALUE, not {item!r}", field="engine-arg")]
            )
        args[name] = _typed(text)
    return args


def _typed(text: str) -> Any:
    if text == "":
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@endpoints_app.command()
def delete(
    endpoint: EndpointArg,
    confirm: Annotated[
        str, typer.Option(help="The endpoint's name, to confirm (e.g. web).", show_default=False)
    ],
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete an endpoint of a version: its replicas, logs and URL (its events stay)."""

    def action() -> None:
        key = unit_key(endpoint, project)
        with api_client() as client:
            deleted = client.delete(f"/endpoints/{key.id}", confirm=confirm)
        if as_json:
            print_json(deleted)
        else:
            out.print(f"deleted {deleted['deleted']}", highlight=False)

    run_command(action)


def events_command(
    project: ProjectOption = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new ones.")] = False,
    limit: Annotated[int, typer.Option(help="How many of the last events to start with.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Lifecycle transitions, settings changes, scaling, versions and alias changes.

    With --json: a JSON list; with --json --follow, one JSON object a line.
    """

    def action() -> None:
        chosen = default_project(project)
        if chosen is not None:
            split_project(chosen)
        with api_client() as client:
            found = _all_events(client, chosen)
            shown = found[-limit:] if limit > 0 else []
            if as_json and not follow:
                print_json(shown)
                return
            _print_events(shown, as_json)
            after = found[-1]["id"] if found else 0
            while follow:
                time.sleep(0.5)
                new = client.get("/events", project=chosen, after=after, limit=_PAGE)
                _print_events(new, as_json)
                after = new[-1]["id"] if new else after

    run_command(action)


_PAGE = 1000


def _all_events(client: ApiClient, project: str | None) -> list[dict[str, Any]]:
    """Every event, a page at a time (the API pages forwards by id)."""
    found: list[dict[str, Any]] = []
    while True:
        after = found[-1]["id"] if found else 0
        page = client.get("/events", project=project, after=after, limit=_PAGE)
        found.extend(page)
        if len(page) < _PAGE:
            return found


# Rendering ---------------------------------------------------------------------------------


def _print_events(events: Sequence[Mapping[str, Any]], json_lines: bool) -> None:
    if json_lines:
        for event in events:
            sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
    elif events:
        out.print(_events_table(events, with_endpoint=True))


def _events_table(events: Sequence[Mapping[str, Any]], *, with_endpoint: bool) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    columns = ["TIME", "ENDPOINT", "CHANGE", "ACTOR", "REASON"]
    if not with_endpoint:
        columns.remove("ENDPOINT")
    for column in columns:
        table.add_column(column, overflow="fold")
    for e in events:
        row: list[str | Text] = [e["at"][:19].replace("T", " ")]
        if with_endpoint:
            row.append(e["endpoint"] or e["project"])
        row += [_change(e), e["actor"], Text(e["reason"], style="dim")]
        table.add_row(*row)
    return table


def _change(event: Mapping[str, Any]) -> Text:
    kind, before, after = event["kind"], event["from_state"], event["to_state"]
    if kind == "transition":
        return Text.assemble(state_text(before or "-"), " → ", state_text(after or "-"))
    return Text(kind)


def _print_state_line(ep: Mapping[str, Any]) -> None:
    reason = (ep["reason"] or "").splitlines()[0] if ep["reason"] else ""
    out.print(Text.assemble(ep["key"], "  ", state_text(ep["state"]), f"  {reason}"))


def _print_endpoint(ep: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> None:
    spec, replicas = ep["spec"], ep["replicas"]
    out.print(Text.assemble((ep["key"], "bold"), "  ", state_text(ep["state"])))
    facts = Table(box=None, pad_edge=False, show_header=False)
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    facts.add_row("reason", Text(ep["reason"] or ""))
    facts.add_row("url", ep["url"])
    facts.add_row("runs", f"{spec['kind']}: {spec['target']}")
    facts.add_row(
        "replicas",
        f"{replicas['ready']} ready, {replicas['desired']} desired "
        f"(min {spec['replicas']['min']}, max {spec['replicas']['max']})",
    )
    facts.add_row("visibility", spec["visibility"])
    autoscaling = spec["autoscaling"]
    facts.add_row(
        "autoscaling",
        f"target {autoscaling['target_concurrency']:g} in flight per replica, "
        f"idle timeout {format_duration(autoscaling['idle_timeout'])}",
    )
    facts.add_row("resources", _resources(spec["resources"]))
    facts.add_row("engine args", _engine_args(spec["engine_args"]))
    facts.add_row("quantization", spec["quantization"] or "none")
    out.print(facts)
    if ep["pending_changes"]:
        out.print("[bold]pending[/] (applied by the next start or restart):")
        for change in ep["pending_changes"]:
            out.print(f"  {change}", highlight=False, markup=False)
    if replicas["items"]:
        out.print("[bold]replicas[/]")
        out.print(_replicas_table(replicas["items"]))
    if events:
        out.print("[bold]last events[/]")
        out.print(_events_table(events, with_endpoint=False))


def _replicas_table(items: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ID", "STATE", "ADDRESS", "PID", "RESTARTS", "UPTIME", "MESSAGE"):
        table.add_column(column, overflow="fold")
    for r in items:
        message = r["message"].splitlines()[0] if r["message"] else ""
        table.add_row(
            r["id"],
            r["phase"],
            r["address"] or "-",
            str(r["pid"] or "-"),
            str(r["restarts"]),
            format_duration(round(r["uptime"])) if r["uptime"] else "-",
            Text(message, style="dim"),
        )
    return table


def _resources(resources: Mapping[str, Any]) -> str:
    parts = []
    if resources["cpu"] is not None:
        parts.append(f"cpu {resources['cpu']:g}")
    if resources["memory"] is not None:
        parts.append(f"memory {_bytes(resources['memory'])}")
    if resources["gpu"]:
        parts.append(" ".join(filter(None, ("gpu", str(resources["gpu"]), resources["gpu_type"]))))
    if resources["preset"]:
        parts.append(f"preset {resources['preset']}")
    return ", ".join(parts) or "no limits"


def _engine_args(args: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(args.items())) or "none"


def _bytes(size: int) -> str:
    for unit, factor in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"
