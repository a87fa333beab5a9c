"""YAML text to plain Python values, keeping where every key and value was written.

PyYAML's ``safe_load`` forgets positions and silently keeps the last of two equal
keys. Here the text is composed into nodes once; a value is built from the nodes
(duplicates, unsupported tags and recursive aliases become problems) and
``YamlDocument.mark`` walks a path such as pydantic's error ``loc`` back to the node,
so every problem can name a line and a column.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["KEY_MARKER", "Mark", "Path", "YamlDocument", "YamlProblem", "load_yaml", "path_text"]

#: A path into a document: mapping keys and list indexes, as in a pydantic ``loc``.
Path = tuple[Any, ...]
Mark = tuple[int, int]  # 1-based line and column

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
#: pydantic puts this after a dict key whose *key* (not value) is wrong.
KEY_MARKER = "[key]"


@dataclass(frozen=True)
class YamlProblem:
    message: str
    line: int
    column: int


def _mark(node: Node) -> Mark:
    return node.start_mark.line + 1, node.start_mark.column + 1


@dataclass
class YamlDocument:
    """A parsed document: its value and a way back from a path to a position."""

    data: Any
    root: Node | None
    #: for each mapping node (by id): constructed key -> (key node, value node)
    pairs: dict[int, dict[Hashable, tuple[Node, Node]]] = field(default_factory=dict)

    def _walk(self, path: Path) -> tuple[Node | None, Node | None, int]:
        """The deepest node on ``path``, the key node of the last step taken (if that
        step was a mapping key) and how many steps were taken."""
        node, key_node = self.root, None
        for depth, part in enumerate(path):
            if isinstance(node, MappingNode):
                entry = self.pairs.get(id(node), {}).get(part) if _hashable(part) else None
                if entry is None:
                    return node, key_node, depth
                key_node, node = entry
            elif isinstance(node, SequenceNode) and _is_index(part, len(node.value)):
                key_node, node = None, node.value[part]
            else:
                return node, key_node, depth
        return node, key_node, len(path)

    def mark(self, path: Path, *, key: bool = False) -> Mark:
        """Where ``path`` was written: its value, or its key when ``key`` (or the
        path ends in pydantic's ``[key]``). A path that goes further than the document
        (a missing key) stops at the deepest node that exists."""
        if path and path[-1] == KEY_MARKER:
            path, key = path[:-1], True
        node, key_node, depth = self._walk(path)
        if key and key_node is not None and depth == len(path):
            return _mark(key_node)
        return _mark(node) if node is not None else (1, 1)

    def scalar_text(self, path: Path) -> str | None:
        """The text of a scalar as written (``on`` stays ``on``, ``0o17`` stays ``0o17``)."""
        node, _, depth = self._walk(path)
        if isinstance(node, ScalarNode) and depth == len(path):
            return str(node.value)
        return None


def _is_index(part: object, length: int) -> bool:
    return isinstance(part, int) and not isinstance(part, bool) and 0 <= part < length


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def load_yaml(text: str) -> tuple[YamlDocument | None, list[YamlProblem]]:
    """Parse one YAML document. Broken syntax gives no document and one problem;
    other problems (duplicate keys, tags) come with a document built from the rest."""
    try:
        # The reader checks every character as soon as the loader is made.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(text, exc)]
    try:
        root = loader.get_single_node()
        builder = _Builder(loader)
        data = builder.build(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(exc)]
    except yaml.reader.ReaderError as exc:
        return None, [_reader_problem(text, exc)]
    except yaml.YAMLError as exc:
        return None, [YamlProblem(f"invalid YAML: {exc}", 1, 1)]
    except RecursionError:
        return None, [YamlProblem("invalid YAML: the document is nested too deeply", 1, 1)]
    finally:
        loader.dispose()
    return YamlDocument(data, root, builder.pairs), builder.problems


def _syntax_problem(exc: yaml.MarkedYAMLError) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    problem, context = exc.problem or "the text is not valid YAML", exc.context
    if context and problem.startswith("but "):
        message = f"{context} {problem}"  # "expected a single document ... but found another"
    elif context:
        started = exc.context_mark
        if started is not None and started is not mark:
            context += f" that starts on line {started.line + 1}"
        message = f"{problem} ({context})"
    else:
        message = problem
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return YamlProblem(f"invalid YAML: {message}", line, column)


def _reader_problem(text: str, exc: yaml.reader.ReaderError) -> YamlProblem:
    char = exc.character
    shown = f"#x{char:04x}" if isinstance(char, int) else repr(char)
    line, column = _position(text, exc.position)
    return YamlProblem(f"invalid YAML: the character {shown} is not allowed in YAML", line, column)


def _position(text: str, index: int) -> Mark:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


class _Builder:
    """Builds values from nodes once per node, so aliases cost nothing extra."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.pairs: dict[int, dict[Hashable, tuple[Node, Node]]] = {}
        self.problems: list[YamlProblem] = []
        self._built: dict[int, Any] = {}
        self._open: set[int] = set()

    def problem(self, node: Node, message: str) -> None:
        line, column = _mark(node)
        self.problems.append(YamlProblem(message, line, column))

    def build(self, node: Node) -> Any:
        key = id(node)
        if key in self._built:
            return self._built[key]
        if key in self._open:
            self.problem(node, "an alias (*name) refers to a node that contains it")
            return None
        self._open.add(key)
        try:
            if isinstance(node, ScalarNode):
                value = self._scalar(node)
            elif isinstance(node, SequenceNode):
                value = self._sequence(node)
            elif isinstance(node, MappingNode):
                value = self._mapping(node)
            else:  # pragma: no cover - the composer makes only these three
                value = None
        finally:
            self._open.discard(key)
        self._built[key] = value
        return value

    def _scalar(self, node: ScalarNode) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            self.problem(node, f"unsupported YAML tag {node.tag!r}")
        # An explicit tag on text it cannot read (``!!int abc``, ``!!timestamp x``)
        # fails inside PyYAML's constructors with assorted built-in errors.
        except Exception:
            self.problem(node, f"{node.value!r} cannot be read as {node.tag!r}")
        return None

    def _sequence(self, node: SequenceNode) -> list[Any] | None:
        if node.tag != _SEQ:
            self.problem(node, f"unsupported YAML tag {node.tag!r} on a list")
            return None
        return [self.build(item) for item in node.value]

    def _mapping(self, node: MappingNode) -> dict[Any, Any] | None:
        if node.tag != _MAP:
            self.problem(node, f"unsupported YAML tag {node.tag!r} on a mapping")
            return None
        self._check_duplicates(node)
        merged = [value for key, value in node.value if key.tag == _MERGE]
        if merged:
            for source in merged:
                self.build(source)  # so problems inside what is merged are reported too
            try:
                self.loader.flatten_mapping(node)
            except yaml.constructor.ConstructorError as exc:
                mark = exc.problem_mark
                line, column = (mark.line + 1, mark.column + 1) if mark else _mark(node)
                self.problems.append(
                    YamlProblem(f"invalid merge key (<<): {exc.problem}", line, column)
                )
                return None
        result: dict[Any, Any] = {}
        index: dict[Hashable, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, "a key must be a single value, not a list or a mapping")
                continue
            key = self.build(key_node)
            if not _hashable(key):  # pragma: no cover - scalars construct to hashables
                self.problem(key_node, f"{key_node.value!r} cannot be used as a key")
                continue
            result[key] = self.build(value_node)
            index[key] = (key_node, value_node)
        self.pairs[id(node)] = index
        return result

    def _check_duplicates(self, node: MappingNode) -> None:
        # Only the keys written in this mapping: keys merged in with ``<<`` may be
        # overridden on purpose.
        seen: dict[Hashable, Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE:
                continue
            key = self.build(key_node)
            if not _hashable(key):  # pragma: no cover
                continue
            first = seen.get(key)
            if first is None:
                seen[key] = key_node
                continue
            line = first.start_mark.line + 1
            self.problem(
                key_node,
                f"duplicate key {key_node.value!r} (first written on line {line}); "
                "YAML would silently keep only the last one",
            )


def path_text(path: Sequence[Any]) -> str:
    """``endpoints[0].replicas.min``: a path as a person reads it."""
    text = ""
    for part in path:
        if part == KEY_MARKER:
            continue
        if isinstance(part, int) and not isinstance(part, bool):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
