"""YAML to values with positions: marks, duplicates, merges, aliases, tags, broken text."""

from __future__ import annotations

import pytest

from tests.unit.config._support import spot
from waypost.config.yaml_nodes import load_yaml, path_text

TEXT = """\
top: 1
list:
  - {name: a, port: 80}
  - name: b
    env:
      DEBUG: on
"""


@pytest.mark.parametrize(
    ("path", "key", "token"),
    [
        pytest.param(("top",), False, "1", id="value"),
        pytest.param(("top",), True, "top", id="key"),
        pytest.param(("list", 0, "port"), False, "80", id="flow-value"),
        pytest.param(("list", 0, "port"), True, "port", id="flow-key"),
        pytest.param(("list", 1, "env", "DEBUG"), False, "on", id="nested"),
        pytest.param(("list", 1, "env", "DEBUG", "[key]"), False, "DEBUG", id="pydantic-key"),
        pytest.param(("list", 1, "missing"), False, "name: b", id="missing-key-is-its-mapping"),
        pytest.param(("list", 7), False, "\n  - {", id="index-past-the-end"),
        pytest.param(("nope", "deeper"), True, "top", id="missing-at-top"),
    ],
)
def test_marks(path: tuple[object, ...], key: bool, token: str) -> None:
    doc, problems = load_yaml(TEXT)
    assert doc is not None
    assert problems == []
    line, column = spot(TEXT, token)
    if token.startswith("\n"):
        line, column = line + 1, 3
    assert doc.mark(path, key=key) == (line, column)


def test_scalar_text_is_as_written() -> None:
    doc, _ = load_yaml(TEXT)
    assert doc is not None
    assert doc.data["list"][1]["env"]["DEBUG"] is True
    assert doc.scalar_text(("list", 1, "env", "DEBUG")) == "on"
    assert doc.scalar_text(("list", 1, "env")) is None
    assert doc.scalar_text(("list", 1, "nope")) is None


def test_duplicate_keys_point_at_the_second() -> None:
    text = "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n"
    doc, problems = load_yaml(text)
    assert doc is not None
    problems.sort(key=lambda p: (p.line, p.column))
    assert [(p.line, p.column) for p in problems] == [(4, 3), (5, 1)]
    assert "duplicate key 'c' (first written on line 3)" in problems[0].message
    assert "duplicate key 'a' (first written on line 1)" in problems[1].message
    assert doc.data == {"a": 3, "b": {"c": 2}}


def test_merge_keys_may_be_overridden() -> None:
    text = "base: &base {port: 80, workers: 2}\nweb:\n  <<: *base\n  port: 81\n"
    doc, problems = load_yaml(text)
    assert problems == []
    assert doc is not None
    assert doc.data["web"] == {"port": 81, "workers": 2}
    assert doc.mark(("web", "workers")) == spot(text, "2}")
    assert doc.mark(("web", "port")) == spot(text, "81")


def test_aliases_share_their_value() -> None:
    doc, problems = load_yaml("a: &x [1, 2]\nb: *x\n")
    assert problems == []
    assert doc is not None
    assert doc.data == {"a": [1, 2], "b": [1, 2]}


def test_a_billion_laughs_cost_nothing() -> None:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    doc, problems = load_yaml("\n".join(lines) + "\n")
    assert problems == []
    assert doc is not None
    assert len(doc.data["l9"]) == 9


@pytest.mark.parametrize(
    ("text", "token", "fragment"),
    [
        pytest.param("a: &x [1, *x]\n", "&x", "refers to a node that contains it", id="recursive"),
        pytest.param("a: !custom 1\n", "!custom", "unsupported YAML tag '!custom'", id="tag"),
        pytest.param("a: !!set {x, y}\n", "!!set", "unsupported YAML tag", id="set"),
        pytest.param("a: !!omap [x: 1]\n", "!!omap", "unsupported YAML tag", id="omap"),
        pytest.param(
            "a: !!python/object:os.system x\n", "!!python", "unsupported YAML tag", id="python"
        ),
        pytest.param("a: !!int abc\n", "!!int", "cannot be read as", id="bad-explicit-int"),
        pytest.param("a: !!timestamp x\n", "!!timestamp", "cannot be read as", id="bad-time"),
        pytest.param("? [a, b]\n: c\n", "[a", "a key must be a single value", id="list-key"),
        pytest.param("a:\n  <<: 3\n", "3", "invalid merge key", id="bad-merge"),
    ],
)
def test_node_problems(text: str, token: str, fragment: str) -> None:
    _, problems = load_yaml(text)
    assert len(problems) == 1
    assert fragment in problems[0].message
    assert (problems[0].line, problems[0].column) == spot(text, token)


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        pytest.param("a: [1, 2\nb: 3\n", 2, 2, "expected ',' or ']'", id="flow"),
        pytest.param("a: b: c\n", 1, 5, "mapping values are not allowed here", id="colon"),
        pytest.param("a: 1\n---\nb: 2\n", 2, 1, "expected a single document", id="two-docs"),
        pytest.param("a: *nope\n", 1, 4, "undefined alias", id="undefined-alias"),
        pytest.param("a: 1\nb: \x07\n", 2, 4, "#x0007 is not allowed", id="control-char"),
        pytest.param("[" * 3000 + "]" * 3000, 1, 1, "nested too deeply", id="deep"),
    ],
)
def test_broken_yaml_is_one_problem(text: str, line: int, column: int, fragment: str) -> None:
    doc, problems = load_yaml(text)
    assert doc is None
    assert len(problems) == 1
    assert fragment in problems[0].message
    assert (problems[0].line, problems[0].column) == (line, column)


def test_empty_text_is_no_value() -> None:
    doc, problems = load_yaml("# only a comment\n")
    assert problems == []
    assert doc is not None
    assert doc.data is None
    assert doc.mark(("a",)) == (1, 1)


def test_path_text() -> None:
    assert path_text(("deployments", 1, "endpoints", 0, "env", "A", "[key]")) == (
        "deployments[1].endpoints[0].env.A"
    )
    assert path_text((2, "endpoint")) == "[2].endpoint"
