"""Collect the problems of one config file, each placed at the YAML node it is about.

pydantic's errors are turned into sentences a person can act on ("replicas.min must
be a whole number, not the text 'two'"), and their ``loc`` is walked back to a line
and a column through ``YamlDocument.mark``.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from waypost.config.yaml_nodes import KEY_MARKER, Path, YamlDocument, load_yaml, path_text
from waypost.errors import InvalidSpec, Problem

__all__ = ["FileProblems", "describe"]

ShapeT = TypeVar("ShapeT", bound=BaseModel)


class FileProblems:
    """The problems found in one file; ``file`` is the name shown to the user."""

    def __init__(self, file: str, doc: YamlDocument | None = None) -> None:
        self.file = file
        self.doc = doc
        self.items: list[Problem] = []

    def __len__(self) -> int:
        return len(self.items)

    def add(self, path: Path, message: str, *, key: bool = False) -> None:
        line, column = self.doc.mark(path, key=key) if self.doc is not None else (1, 1)
        field = path_text(path) or None
        self.items.append(Problem(message, file=self.file, line=line, column=column, field=field))

    def at(self, line: int, column: int, message: str, *, field: str | None = None) -> None:
        self.items.append(Problem(message, file=self.file, line=line, column=column, field=field))

    def load(self, text: str) -> YamlDocument | None:
        """Parse ``text``; the document (``None`` if the syntax is broken) becomes the one
        that later problems are placed in."""
        doc, found = load_yaml(text)
        for problem in found:
            self.at(problem.line, problem.column, problem.message)
        self.doc = doc
        return doc

    def top_level(self, doc: YamlDocument, kind: type, expected: str) -> bool:
        """Whether the document is a ``kind`` (dict or list); a problem if it is not."""
        if isinstance(doc.data, kind):
            return True
        if doc.data is None:
            self.at(1, 1, f"the file is empty; it should be {expected}")
        else:
            self.add((), f"the file should be {expected}, not {describe(doc.data)}")
        return False

    def validate(self, shape: type[ShapeT], data: Any, path: Path) -> ShapeT | None:
        """``shape`` built from ``data``, or ``None`` with every error recorded."""
        try:
            return shape.model_validate(data)
        except ValidationError as exc:
            keys = _known_keys(shape)
            for error in exc.errors(include_url=False):
                loc = (*path, *error["loc"])
                self.add(loc, _sentence(error, loc, keys), key=error["type"] == "extra_forbidden")
            return None

    def raise_if_any(self) -> None:
        if self.items:
            self.fail()

    def fail(self) -> NoReturn:
        """Raise what was found, in the order of the file; called only once something was."""
        raise InvalidSpec.of(sorted(self.items, key=lambda p: (p.line or 0, p.column or 0)))


def describe(value: object) -> str:
    """What a YAML value is, for "must be X, not Y" sentences."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} value"


def _subject(path: Path) -> str:
    """The last key or two of ``path``: ``replicas.min``, ``files[2]``, ``endpoints[0].name``."""
    parts = [p for p in path if p != KEY_MARKER]
    named = [i for i, p in enumerate(parts) if not isinstance(p, int) or isinstance(p, bool)]
    if not named:
        return path_text(parts) or "the file"
    last_is_key = named[-1] == len(parts) - 1
    start = named[-2] if last_is_key and len(named) > 1 else named[-1]
    return path_text(parts[start:])


_TYPES = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
    "list_type": "must be a list (lines starting with '- ')",
}


def _sentence(error: ErrorDetails, loc: Path, keys: frozenset[str]) -> str:
    kind, ctx, given = error["type"], error.get("ctx") or {}, error["input"]
    parts = [p for p in loc if p != KEY_MARKER]
    name = parts[-1] if parts else ""
    parent = path_text(parts[:-1])
    if kind == "missing":
        where = f" in {parent}" if parent else ""
        return f"the required key {name!r} is missing{where}"
    if kind == "extra_forbidden":
        where = f" in {parent}" if parent else ""
        hint = _suggest(str(name), keys)
        return f"unknown key {name!r}{where}" + (f"; did you mean {hint!r}?" if hint else "")
    subject = _subject(loc)
    if loc and loc[-1] == KEY_MARKER:
        subject = f"the key {name!r} in {parent or 'the file'}"
    if kind in _TYPES:
        return f"{subject} {_TYPES[kind]}, not {describe(given)}"
    if kind == "literal_error":
        return f"{subject} must be one of {ctx.get('expected')}, not {describe(given)}"
    if kind in ("value_error", "assertion_error"):
        return f"{subject} {ctx.get('error')}"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, limit = bounds[kind]
        return f"{subject} must be {words} {ctx.get(limit)}, not {given!r}"
    if kind == "finite_number":
        return f"{subject} must be a finite number, not {describe(given)}"
    if kind in ("too_short", "string_too_short"):
        return f"{subject} must not be empty"
    return f"{subject}: {error['msg']}"


def _suggest(word: str, keys: frozenset[str]) -> str | None:
    close = difflib.get_close_matches(word.replace("_", "-"), sorted(keys), n=1, cutoff=0.6)
    return close[0] if close else None


def _known_keys(shape: type[BaseModel]) -> frozenset[str]:
    """Every key (alias) of ``shape`` and of the shapes nested in it, for suggestions."""
    keys: set[str] = set()
    for model in _models(shape, set()):
        for name, info in model.model_fields.items():
            keys.add(info.alias or name)
    return frozenset(keys)


def _models(tp: Any, seen: set[type[BaseModel]]) -> Iterator[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp in seen:
            return
        seen.add(tp)
        yield tp
        for info in tp.model_fields.values():
            yield from _models(info.annotation, seen)
        return
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is not None:
        for arg in typing.get_args(tp):
            yield from _models(arg, seen)
