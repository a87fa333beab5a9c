"""The runtime frameworks (CSGHub's term): lookup by name or task, and checks of a choice.

The catalogue itself is data in ``catalogue.py``; the types and engine-arg checks
are in ``schema.py``. This module is the surface the control plane and the model
store use. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from waypost.errors import InvalidSpec, Problem

from .catalogue import FRAMEWORKS, GPU_QUANTIZATIONS
from .schema import EngineArg, Framework, arg_problems, arg_schema
from .tasks import Task

__all__ = [
    "FRAMEWORKS",
    "GPU_QUANTIZATIONS",
    "EngineArg",
    "Framework",
    "engine_arg_problems",
    "engine_arg_schema",
    "framework_problems",
    "frameworks_for_task",
    "get_framework",
    "quantization_problems",
    "task_problems",
]

_BY_NAME = {f.name: f for f in FRAMEWORKS}


def get_framework(name: str) -> Framework:
    framework = _BY_NAME.get(name)
    if framework is None:
        message = f"unknown runtime framework {name!r}; known: {', '.join(_BY_NAME)}"
        raise InvalidSpec(message, [Problem(message, field="runtime")])
    return framework


def frameworks_for_task(task: Task) -> tuple[Framework, ...]:
    return tuple(f for f in FRAMEWORKS if task in f.tasks)


def engine_arg_problems(fw: Framework, args: Mapping[str, object]) -> list[Problem]:
    """One Problem per unknown name / wrong type / out of range / not in choices."""
    return arg_problems(fw.name, fw.engine_args, args)


def engine_arg_schema(fw: Framework) -> list[dict[str, object]]:
    """The engine args as JSON rows (name, type, default, help, choices, bounds)."""
    return arg_schema(fw.engine_args)


def task_problems(fw: Framework, task: Task | None) -> list[Problem]:
    """A Problem when ``fw`` does not serve ``task`` (None: the task is unknown, no check)."""
    if task is None or task in fw.tasks:
        return []
    others = ", ".join(f.name for f in frameworks_for_task(task)) or "none"
    message = (
        f"{fw.name} does not serve {task} (it serves {', '.join(fw.tasks)});"
        f" frameworks for {task}: {others}"
    )
    return [Problem(message, field="runtime")]


def quantization_problems(
    fw: Framework, task: Task | None, quantization: str | None
) -> list[Problem]:
    """A Problem when ``fw`` (for ``task``) cannot apply ``quantization``; none for None."""
    if not quantization:
        return []
    by_task = fw.quantization_tasks or {}
    supported = [q for q in fw.quantizations if task is None or task in by_task.get(q, fw.tasks)]
    if quantization in supported:
        return []
    message = f"{fw.name} cannot apply quantization {quantization!r}"
    if task is not None and quantization in fw.quantizations:
        message += f" to a {task} model"
    message += f" (supported: {', '.join(supported) or 'none'})"
    if quantization in GPU_QUANTIZATIONS and fw.builtin:
        gpu = ", ".join(f.name for f in FRAMEWORKS if quantization in f.quantizations)
        message += f"; {quantization} needs a GPU server: {gpu}"
    return [Problem(message, field="quantization")]


def framework_problems(
    fw: Framework, task: Task | None, engine_args: Mapping[str, object], quantization: str | None
) -> list[Problem]:
    """Every problem with running ``fw`` for ``task`` with these args and quantization."""
    return [
        *task_problems(fw, task),
        *engine_arg_problems(fw, engine_args),
        *quantization_problems(fw, task, quantization),
    ]
