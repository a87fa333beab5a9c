"""How the CLI shows things: Rich tables for people, plain JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from waypost.errors import WaypostError

__all__ = ["STATE_STYLES", "err", "out", "print_error", "print_json", "state_text"]

# Piped output is read by people with wide terminals and by grep: never wrap it at 80.
out = Console(width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 240)

STATE_STYLES: Mapping[str, str] = {
    "Building": "cyan",
    "Deploying": "cyan",
    "Startup": "blue",
    "Running": "bold green",
    "Sleeping": "magenta",
    "Stopped": "dim",
    "BuildingFailed": "bold red",
    "DeployFailed": "bold red",
    "RuntimeError": "bold red",
}


def state_text(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def print_error(error: WaypostError) -> None:
    # The message is text, not markup: "[/ENDPOINT]" in it must not be read as a closing tag.
    err.print(f"[bold red]error:[/] {escape(error.message)}", highlight=False, markup=True)
    if len(error.problems) > 1 or (error.problems and str(error.problems[0]) != error.message):
        for problem in error.problems:
            err.print(f"  - {problem}", highlight=False, markup=False)


def endpoints_table(endpoints: Iterable[Mapping[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("ENDPOINT", "STATE", "REPLICAS", "URL", "REASON"):
        table.add_column(column, overflow="fold")
    for ep in endpoints:
        replicas = ep["replicas"]
        table.add_row(
            ep["key"],
            state_text(ep["state"]),
            f"{replicas['ready']}/{replicas['desired']}",
            ep["url"],
            # A reason may carry a log tail: the first line says what happened.
            Text((ep.get("reason") or "").partition("\n")[0], style="dim"),
        )
    return table
