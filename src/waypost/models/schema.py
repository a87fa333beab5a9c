"""What a runtime framework is: its typed engine args, their validation and their JSON schema.

CSGHub's endpoint form shows a framework's engine args as select, switch or text
inputs (seed 004, §2.4); ``number`` is added so ranges can be checked here rather
than by the server after it has been started. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from waypost.errors import Problem

from .tasks import Task

__all__ = [
    "ArgType",
    "EngineArg",
    "Framework",
    "arg_problems",
    "arg_schema",
    "number",
    "resolved_args",
    "select",
    "switch",
]

ArgType = Literal["select", "switch", "text", "number"]
ArgValue = str | int | float | bool


@dataclass(frozen=True)
class EngineArg:
    """One engine argument.

    An external server gets it as the CLI flag ``flag`` (default ``--NAME``); a
    switch emits the flag when true and ``off_flag`` (if any) when false. Built-in
    servers get all args as JSON. ``integer`` makes a number accept whole numbers only.
    """

    name: str
    type: ArgType
    default: ArgValue | None
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    flag: str | None = None
    off_flag: str | None = None
    integer: bool = False


@dataclass(frozen=True)
class Framework:
    """A runtime framework.

    ``builtin``: served by waypost's own server, which imports the Python modules in
    ``requires``. Otherwise an external server: the binary ``executable``, or the
    Python module ``module`` run with ``python -m`` (sglang).
    """

    id: int
    name: str
    description: str
    tasks: tuple[Task, ...]
    engine_args: tuple[EngineArg, ...]
    quantizations: tuple[str, ...]
    builtin: bool
    executable: str | None
    module: str | None = None
    requires: tuple[str, ...] = ()
    #: Quantizations valid only for some tasks (the others are valid for every task).
    quantization_tasks: Mapping[str, tuple[Task, ...]] | None = None


def select(
    name: str, default: str, help: str, choices: tuple[str, ...], flag: str | None = None
) -> EngineArg:
    return EngineArg(name, "select", default, help, choices=choices, flag=flag)


def switch(name: str, default: bool, help: str, off_flag: str | None = None) -> EngineArg:
    return EngineArg(name, "switch", default, help, off_flag=off_flag)


def number(
    name: str,
    default: float | None,
    help: str,
    bounds: tuple[float, float],
    *,
    integer: bool = True,
) -> EngineArg:
    return EngineArg(
        name, "number", default, help, minimum=bounds[0], maximum=bounds[1], integer=integer
    )


def arg_problems(
    framework: str, schema: tuple[EngineArg, ...], args: Mapping[str, object]
) -> list[Problem]:
    """One Problem per unknown name, wrong type, value out of range or not in choices."""
    known = {a.name: a for a in schema}
    problems = []
    for name, value in args.items():
        field = f"engine-args.{name}"
        arg = known.get(name)
        message: str | None
        if arg is None:
            names = ", ".join(sorted(known)) or "none"
            message = f"{framework} has no engine arg {name!r}; known: {names}"
        else:
            message = _value_problem(arg, value)
        if message:
            problems.append(Problem(message, field=field))
    return problems


def _value_problem(arg: EngineArg, value: object) -> str | None:
    if arg.type == "switch":
        return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
    if arg.type == "number":
        return _number_problem(arg, value)
    if not isinstance(value, str):
        return f"must be a string, not {value!r}"
    if arg.type == "select" and value not in arg.choices:
        return f"must be one of {', '.join(arg.choices)}, not {value!r}"
    if arg.type == "text" and ("\n" in value or "\0" in value):
        return "must be a single line"
    return None


def _number_problem(arg: EngineArg, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, not {value!r}"
    if not math.isfinite(value):
        return f"must be a finite number, not {value!r}"
    if arg.integer and value != int(value):
        return f"must be a whole number, not {value!r}"
    if arg.minimum is not None and value < arg.minimum:
        return f"must be at least {_show(arg.minimum)}, not {value!r}"
    if arg.maximum is not None and value > arg.maximum:
        return f"must be at most {_show(arg.maximum)}, not {value!r}"
    return None


def resolved_args(schema: tuple[EngineArg, ...], args: Mapping[str, object]) -> dict[str, object]:
    """Defaults overlaid with ``args`` (already validated); integers made ``int``."""
    values: dict[str, object] = {a.name: a.default for a in schema}
    values.update(args)
    for arg in schema:
        value = values[arg.name]
        if arg.integer and isinstance(value, float):
            values[arg.name] = int(value)
    return values


def arg_schema(schema: tuple[EngineArg, ...]) -> list[dict[str, object]]:
    """The schema as JSON for the API and the console's form."""
    rows: list[dict[str, object]] = []
    for arg in schema:
        row: dict[str, object] = {
            "name": arg.name,
            "type": arg.type,
            "default": arg.default,
            "help": arg.help,
        }
        if arg.choices:
            row["choices"] = list(arg.choices)
        if arg.type == "number":
            row["minimum"] = arg.minimum
            row["maximum"] = arg.maximum
            row["integer"] = arg.integer
        rows.append(row)
    return rows


def _show(number: float) -> str:
    return str(int(number)) if number == int(number) else str(number)
