"""The model tasks waypost serves (CSGHub's playground tasks)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["TASKS", "Task", "parse_task"]

Task = Literal["text-generation", "text-to-image", "feature-extraction", "image-text-to-text"]
TASKS: tuple[Task, ...] = get_args(Task)


def parse_task(value: str) -> Task:
    """``value`` as a Task; ValueError naming the known tasks otherwise."""
    for task in TASKS:
        if task == value:
            return task
    raise ValueError(f"unknown task {value!r}; known: {', '.join(TASKS)}")
