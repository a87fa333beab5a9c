"""Whatever the text, the parsers answer with a config or an InvalidSpec whose every
problem names its file, line and column; no other exception escapes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from waypost.config import parse_alias_file, parse_valohai_yaml, parse_waypost_yaml
from waypost.errors import InvalidSpec, Problem

PARSERS: list[tuple[str, Callable[[str], object]]] = [
    ("waypost.yaml", partial(parse_waypost_yaml, file="waypost.yaml", deployment_name="dep")),
    ("valohai.yaml", partial(parse_valohai_yaml, file="valohai.yaml", deployment_name="dep")),
    ("endpoints/ab.yaml", partial(parse_alias_file, file="endpoints/ab.yaml")),
]

KEYS = [
    "project", "deployment", "deployments", "branch", "description", "endpoints", "aliases",
    "name", "wsgi", "asgi", "server-command", "runtime", "model", "port", "requirements",
    "files", "path", "source", "env", "replicas", "min", "max", "resources", "cpu", "memory",
    "gpu", "gpu-type", "preset", "health", "startup-timeout", "interval", "autoscaling",
    "target-concurrency", "idle-timeout", "visibility", "engine-args", "quantization",
    "image", "node-selector", "strip-prefix", "workers", "cluster", "backends", "mirrors",
    "weight", "version", "endpoint", "sticky", "schemaVersion", "step", "devices",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.sampled_from(["latest", "app:app", "/health", "5m", "512Mi", "a/b", "header:X", "web"])
    | st.text(max_size=12)
)
keys = st.sampled_from(KEYS) | st.text(max_size=8) | st.integers(-3, 3)
structures = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=20,
)
small = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=6,
)
items = st.dictionaries(keys, small, max_size=6)
yamlish = st.text(
    alphabet=st.sampled_from(list("abc019 -:[]{},#&*!|>'\"%@`?<=\n\t\\/.~")) | st.characters(),
    max_size=300,
)


def check(text: str) -> None:
    for file, parse in PARSERS:
        problems: tuple[Problem, ...] = ()
        try:
            parse(text)
        except InvalidSpec as exc:
            problems = exc.problems or (Problem("InvalidSpec without problems"),)
        for problem in problems:
            assert problem.message
            assert problem.file == file
            assert isinstance(problem.line, int)
            assert isinstance(problem.column, int)
            assert problem.line >= 1
            assert problem.column >= 1


@settings(max_examples=200, deadline=None)
@given(yamlish)
def test_any_text(text: str) -> None:
    check(text)


def dump(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=None, allow_unicode=True)


@settings(max_examples=200, deadline=None)
@given(structures)
def test_any_structure(value: Any) -> None:
    check(dump(value))


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"deployment": st.just("shop"), "endpoints": st.lists(items, max_size=3)},
        optional={"aliases": st.lists(items, max_size=3), "project": scalars},
    ),
    st.lists(st.fixed_dictionaries({"endpoint": items}), max_size=3),
)
def test_shapes_close_to_the_real_ones(native: dict[str, Any], valohai: list[Any]) -> None:
    check(dump(native))
    check(dump(valohai))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: _replaced(v, rest, new) if k == head else v for k, v in value.items()}
    return [_replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


VALID = {
    "project": "acme/shop",
    "deployments": [
        {
            "name": "shop",
            "endpoints": [
                {
                    "name": "web",
                    "wsgi": "app:app",
                    "files": [{"name": "m", "path": "m.pkl", "source": "x"}],
                    "env": {"A": "1"},
                    "replicas": {"min": 0, "max": 2},
                    "resources": {"cpu": 1, "memory": "1Gi", "gpu": 0},
                    "health": {"path": "/h", "interval": "1s"},
                    "autoscaling": {"target-concurrency": 2, "idle-timeout": "5m"},
                    "engine-args": {"x": 1},
                    "node-selector": {"pool": "a"},
                },
                {"name": "llm", "runtime": "vllm", "model": "org/m"},
            ],
        }
    ],
    "aliases": [
        {
            "name": "prod",
            "deployment": "shop",
            "backends": {"a": {"version": 1}, "b": {"deployment": {"name": "x1", "version": 2}}},
            "mirrors": {"m": {"version": "latest"}},
            "sticky": "cookie:s",
        }
    ],
}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_paths(VALID)), structures)
def test_one_value_of_a_valid_file_replaced(path: tuple[Any, ...], new: Any) -> None:
    parse_waypost_yaml(dump(VALID))  # the starting point is valid
    check(dump(_replaced(VALID, path, new)))
