"""``waypost alias set|list|show|delete|history``: named traffic policies of a deployment.

A target is ``[DEPLOYMENT:]VERSION[/ENDPOINT][=WEIGHT]``: ``3``, ``latest=10``,
``other-dep:3=10``, ``3/web=50``. One target is a plain alias; several split the
traffic by weight; ``--mirror TARGET`` (repeatable) sends a copy of every request.
Rolling back is ``alias set`` again with the old targets (``alias history`` shows them).
Alias files (Modelbit ``endpoints/*.yaml``) are set with ``waypost apply`` and named
here by their name alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from waypost.cli.client import ApiClient
from waypost.cli.common import JsonFlag, ProjectOption, api_client, need_project, run_command
from waypost.cli.render import out, print_json
from waypost.errors import InvalidSpec, NotFound, Problem

__all__ = [
    "TargetArg",
    "alias_app",
    "alias_path",
    "aliases_table",
    "fetch_aliases",
    "parse_alias_ref",
    "parse_set",
    "parse_target",
    "policy_summary",
]

alias_app = typer.Typer(
    help="Aliases, weighted A/B splits and shadow traffic of a deployment.",
    no_args_is_help=True,
)

TARGET_FORM = "[DEPLOYMENT:]VERSION[/ENDPOINT][=WEIGHT]"


@dataclass(frozen=True)
class TargetArg:
    """One target as typed on the command line."""

    version: int | str  # a number or "latest"
    deployment: str | None = None
    endpoint: str | None = None
    weight: int | None = None  # None: not given

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"version": self.version}
        if self.deployment is not None:
            body["deployment"] = self.deployment
        if self.endpoint is not None:
            body["endpoint"] = self.endpoint
        if self.weight is not None:
            body["weight"] = self.weight
        return body


def _bad(text: str, why: str, field: str) -> InvalidSpec:
    return InvalidSpec.of([Problem(f"{text!r}: {why} (the form is {TARGET_FORM})", field=field)])


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_target(text: str, *, field: str = "TARGET", weighted: bool = True) -> TargetArg:
    """``[DEPLOYMENT:]VERSION[/ENDPOINT][=WEIGHT]``; InvalidSpec saying what is wrong."""
    rest, has_weight, weight_text = text.partition("=")
    weight: int | None = None
    if has_weight:
        if not weighted:
            raise _bad(text, "a mirror gets a copy of every request and takes no weight", field)
        if not _digits(weight_text):
            raise _bad(
                text, f"the weight must be a whole number of 0 or more, not {weight_text!r}", field
            )
        weight = int(weight_text)
    deployment: str | None = None
    if ":" in rest:
        deployment, _, rest = rest.partition(":")
        if not deployment:
            raise _bad(text, "the deployment before ':' is empty", field)
    version_text, has_endpoint, endpoint = rest.partition("/")
    if has_endpoint and (not endpoint or "/" in endpoint):
        raise _bad(text, "give one endpoint name after '/'", field)
    version: int | str
    if version_text == "latest":
        version = "latest"
    elif _digits(version_text) and int(version_text) >= 1:
        version = int(version_text)
    else:
        raise _bad(
            text, f"the version must be a number from 1 or latest, not {version_text!r}", field
        )
    return TargetArg(version, deployment, endpoint or None, weight)


def parse_set(
    targets: Sequence[str], mirrors: Sequence[str] = (), sticky: str | None = None
) -> dict[str, Any]:
    """The body of ``PUT .../aliases/DEP/NAME`` for ``alias set``'s arguments."""
    if not targets:
        raise InvalidSpec.of(
            [Problem("give at least one target, e.g. 3 or 3=90 4=10", field="TARGETS")]
        )
    backends = [parse_target(t) for t in targets]
    weighted = [b.weight is not None for b in backends]
    if any(weighted) and not all(weighted):
        raise InvalidSpec.of(
            [
                Problem(
                    "give every target a weight (3=90 4=10) or none (one target: a plain alias)",
                    field="TARGETS",
                )
            ]
        )
    return {
        "backends": [b.to_json() for b in backends],
        "mirrors": [parse_target(m, field="--mirror", weighted=False).to_json() for m in mirrors],
        "sticky": sticky,
    }


def parse_alias_ref(text: str) -> tuple[str | None, str]:
    """``DEPLOYMENT/NAME`` -> (deployment, name); a bare ``NAME`` is an alias file."""
    deployment, slash, name = text.partition("/")
    if not slash:
        if not text:
            raise InvalidSpec.of([Problem("give DEPLOYMENT/NAME", field="ALIAS")])
        return None, text
    if not deployment or not name or "/" in name:
        raise InvalidSpec.of(
            [Problem(f"not DEPLOYMENT/NAME (or an alias file's NAME): {text!r}", field="ALIAS")]
        )
    return deployment, name


def alias_path(org: str, project: str, deployment: str | None, name: str) -> str:
    # "-" stands for "no deployment" (an alias file) in the API's paths.
    return f"/projects/{org}/{project}/aliases/{deployment or '-'}/{name}"


def fetch_aliases(client: ApiClient, project: str | None) -> list[dict[str, Any]]:
    """The aliases of ``project`` (``org/project``), or of every project when None."""
    projects = (
        [project] if project else [f"{p['org']}/{p['project']}" for p in client.get("/projects")]
    )
    found: list[dict[str, Any]] = []
    for name in projects:
        try:
            found += client.get(f"/projects/{name}/aliases")
        except NotFound:
            continue  # a project with no deployments and no aliases yet
    return found


# -- rendering ------------------------------------------------------------------------------


def _target_text(target: Mapping[str, Any]) -> str:
    text = str(target["version"])
    if target.get("deployment"):
        text = f"{target['deployment']}:{text}"
    if target.get("endpoint"):
        text = f"{text}/{target['endpoint']}"
    return text


def policy_summary(policy: Mapping[str, Any] | None) -> str:
    """``v3=90 latest=10; mirrors: v5; sticky header:X`` (``none`` for no policy)."""
    if policy is None:
        return "none"
    parts = [
        " ".join(
            f"{b['name']}({_target_text(b['target'])})={b['weight']}" for b in policy["backends"]
        )
    ]
    if policy.get("mirrors"):
        shown = " ".join(f"{m['name']}({_target_text(m['target'])})" for m in policy["mirrors"])
        parts.append(f"mirrors: {shown}")
    if policy.get("sticky"):
        parts.append(f"sticky {policy['sticky']}")
    return "; ".join(parts)


def aliases_table(aliases: Iterable[Mapping[str, Any]]) -> Table:
    """One row per backend and mirror, with its requests and errors over the last minute."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ALIAS", "KIND", "NAME", "WEIGHT", "TARGET", "REQ/1m", "ERR/1m", "ERR%"):
        table.add_column(column, overflow="fold")
    for alias in aliases:
        label = alias["prefix"]
        sticky = alias["policy"].get("sticky")
        if sticky:
            label += f"\n(sticky {sticky})"
        for b in alias["stats"]["backends"]:
            table.add_row(
                label,
                "backend",
                b["name"],
                f"{b['weight']} ({b['share']:.0%})",
                b["target"] or Text("routes nowhere yet", style="yellow"),
                str(b["requests_1m"]),
                str(b["errors_1m"]),
                f"{b['error_rate']:.1%}",
            )
            label = ""
        for m in alias["stats"]["mirrors"]:
            table.add_row(
                label,
                "mirror",
                m["name"],
                "-",
                m["target"] or Text("routes nowhere yet", style="yellow"),
                str(m["requests_1m"]),
                str(m["errors_1m"]),
                f"dropped {m['dropped_1m']}",
            )
            label = ""
    return table


def _print_alias(alias: Mapping[str, Any]) -> None:
    out.print(f"[bold]{alias['prefix']}[/]  {alias['url']}", highlight=False)
    out.print(aliases_table([alias]))


def _history_table(events: Iterable[Mapping[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("WHEN", "WHO", "OLD", "", "NEW"):
        table.add_column(column, overflow="fold")
    for e in events:
        table.add_row(e["at"], e["actor"], policy_summary(e["old"]), "→", policy_summary(e["new"]))
    return table


# -- commands -------------------------------------------------------------------------------

AliasRef = Annotated[
    str,
    typer.Argument(help="DEPLOYMENT/NAME, or NAME alone for an alias file.", show_default=False),
]


@alias_app.command("set")
def set_(
    alias: Annotated[str, typer.Argument(help="DEPLOYMENT/NAME, e.g. churn-model/production.")],
    targets: Annotated[
        list[str],
        typer.Argument(help=f"{TARGET_FORM}: 3, or 3=90 latest=10, or other-dep:3=10, 3/web=50."),
    ],
    mirror: Annotated[
        list[str] | None,
        typer.Option("--mirror", "-m", help="[DEPLOYMENT:]VERSION[/ENDPOINT] to copy traffic to."),
    ] = None,
    sticky: Annotated[
        str | None,
        typer.Option(help="header:NAME or cookie:NAME: one key always gets the same backend."),
    ] = None,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create or replace an alias: a version, a weighted split, mirrors. Also the rollback."""

    def action() -> None:
        deployment, name = parse_alias_ref(alias)
        if deployment is None:
            raise InvalidSpec.of(
                [
                    Problem(
                        "alias set needs DEPLOYMENT/NAME; alias files are set with `waypost apply`",
                        field="ALIAS",
                    )
                ]
            )
        body = parse_set(targets, mirror or (), sticky)
        org, proj = need_project(project)
        with api_client() as client:
            saved = client.put(alias_path(org, proj, deployment, name), body)
        if as_json:
            print_json(saved)
        else:
            _print_alias(saved)

    run_command(action)


@alias_app.command("list")
def list_(project: ProjectOption = None, as_json: JsonFlag = False) -> None:
    """Every alias of the project, with live requests and errors per backend."""

    def action() -> None:
        org, proj = need_project(project)
        with api_client() as client:
            found = client.get(f"/projects/{org}/{proj}/aliases")
        if as_json:
            print_json(found)
        elif not found:
            out.print("no aliases yet: `waypost alias set DEPLOYMENT/NAME VERSION` makes one")
        else:
            out.print(aliases_table(found))

    run_command(action)


@alias_app.command("show")
def show(alias: AliasRef, project: ProjectOption = None, as_json: JsonFlag = False) -> None:
    """One alias: its URL, policy and live counts."""

    def action() -> None:
        deployment, name = parse_alias_ref(alias)
        org, proj = need_project(project)
        with api_client() as client:
            found = client.get(alias_path(org, proj, deployment, name))
        if as_json:
            print_json(found)
        else:
            _print_alias(found)

    run_command(action)


@alias_app.command("delete")
def delete(alias: AliasRef, project: ProjectOption = None, as_json: JsonFlag = False) -> None:
    """Delete an alias: its URL stops answering (its history stays)."""

    def action() -> None:
        deployment, name = parse_alias_ref(alias)
        org, proj = need_project(project)
        with api_client() as client:
            client.delete(alias_path(org, proj, deployment, name))
        if as_json:
            print_json(
                {"deleted": {"project": f"{org}/{proj}", "deployment": deployment, "name": name}}
            )
        else:
            out.print(f"deleted alias {alias} of {org}/{proj}", highlight=False)

    run_command(action)


@alias_app.command("history")
def history(alias: AliasRef, project: ProjectOption = None, as_json: JsonFlag = False) -> None:
    """Every change of an alias: when, who, old → new (to roll back, `alias set` the old)."""

    def action() -> None:
        deployment, name = parse_alias_ref(alias)
        org, proj = need_project(project)
        with api_client() as client:
            events = client.get(alias_path(org, proj, deployment, name) + "/history")
        if as_json:
            print_json(events)
        else:
            out.print(_history_table(events))

    run_command(action)
