"""Modelbit ``endpoints/<name>.yaml`` files: every example of seed 003, and every mistake."""

from __future__ import annotations

from functools import partial
from textwrap import dedent

import pytest

from tests.unit.config._support import (
    SEED_AB,
    SEED_ALIAS,
    SEED_MIRROR,
    Token,
    find,
    problems_of,
    spot,
    where,
)
from waypost.config import parse_alias_file
from waypost.model.policy import AliasPolicy, AliasSpec, Backend, Mirror, Target


@pytest.mark.parametrize(
    ("file", "text", "policy"),
    [
        pytest.param(
            "endpoints/example_alias_endpoint.yaml",
            SEED_ALIAS,
            AliasPolicy(backends=(Backend("split_1", Target("example_deployment", 2), 1),)),
            id="aliased-deployment",
        ),
        pytest.param(
            "endpoints/example_ab_endpoint.yaml",
            SEED_AB,
            AliasPolicy(
                backends=(
                    Backend("split_1", Target("deployment_control", "latest"), 9),
                    Backend("split_2", Target("deployment_experiment", "latest"), 1),
                )
            ),
            id="ab-split",
        ),
        pytest.param(
            "endpoints/example_mirror_endpoint.yaml",
            SEED_MIRROR,
            AliasPolicy(
                backends=(Backend("split_1", Target("example_deployment", 2), 1),),
                mirrors=(Mirror("mirror_1", Target("candidate_deployment", "latest")),),
            ),
            id="shadow-mirror",
        ),
    ],
)
def test_seed_examples_parse_unchanged(file: str, text: str, policy: AliasPolicy) -> None:
    alias = parse_alias_file(text, file=file)
    name = file.removeprefix("endpoints/").removesuffix(".yaml")
    assert alias == AliasSpec(name=name, deployment=None, policy=policy, source=file)
    assert alias.policy.total_weight == sum(b.weight for b in policy.backends)


def test_name_can_be_given_and_weight_defaults_to_one() -> None:
    text = """\
        backends:
          only:
            deployment: {name: churn, version: 3}
        mirrors:
        schemaVersion: 1
    """
    alias = parse_alias_file(dedent(text), file="endpoints/x.yml", name="prod_classifier")
    assert alias.name == "prod_classifier"
    assert alias.policy == AliasPolicy(backends=(Backend("only", Target("churn", 3, None), 1),))


def test_yml_suffix_is_the_alias_name_too() -> None:
    assert parse_alias_file(SEED_ALIAS, file="endpoints/prod.yml").name == "prod"


FILE = "endpoints/ab.yaml"
parse = partial(parse_alias_file, file=FILE)


@pytest.mark.parametrize(
    ("text", "token", "fragment"),
    [
        pytest.param(
            """\
            backends:
              a:
                deployment: {name: x1, version: 1}
                weight: 0
            schemaVersion: 1
            """,
            "backends",
            "weights add up to 0",
            id="zero-total-weight",
        ),
        pytest.param(
            """\
            backends:
              a: {deployment: {name: x1, version: 1}}
            schemaVersion: 2
            """,
            "2\n",
            "schemaVersion must be 1",
            id="schema-version-2",
        ),
        pytest.param(
            """\
            backends:
              a: {deployment: {name: x1, version: 1}}
            """,
            "backends",
            "required key 'schemaVersion' is missing",
            id="schema-version-missing",
        ),
        pytest.param(
            """\
            backends:
              a: {deployment: {name: x1, version: newest}}
            schemaVersion: 1
            """,
            "newest",
            "must be latest or a version number",
            id="bad-version",
        ),
        pytest.param(
            """\
            backends:
              a: {deployment: {name: x1, version: 0}}
            schemaVersion: 1
            """,
            "0}",
            "must be latest or a version number",
            id="version-zero",
        ),
        pytest.param(
            """\
            backends:
              a: {deployment: {name: x1, version: 1}, weight: -1}
            schemaVersion: 1
            """,
            "-1",
            "weight must be at least 0",
            id="negative-weight",
        ),
        pytest.param(
            """\
            backends:
              a: {deployment: {name: x1, version: 1}, wieght: 2}
            schemaVersion: 1
            """,
            "wieght",
            "unknown key 'wieght' in backends.a; did you mean 'weight'?",
            id="unknown-key",
        ),
        pytest.param(
            """\
            backends: {}
            schemaVersion: 1
            """,
            "{}",
            "backends must not be empty",
            id="no-backends",
        ),
        pytest.param(
            """\
            backends:
              a: {deployment: {name: 9lives, version: 1}}
            schemaVersion: 1
            """,
            "9lives",
            "deployment name must start with a letter",
            id="bad-target-name",
        ),
        pytest.param(
            """\
            backends:
              a: {deployment: {name: x1, version: 1}}
            mirrors:
              a: {deployment: {name: x2, version: 1}}
            schemaVersion: 1
            """,
            "a: {deployment: {name: x2",
            "names both a backend and a mirror",
            id="mirror-named-like-backend",
        ),
        pytest.param(
            """\
            backends:
              a: {deployment: {name: x1, version: 1}}
            schemaVersion: 1
            schemaVersion: 1
            """,
            ("schemaVersion", 1),
            "duplicate key 'schemaVersion' (first written on line 3)",
            id="duplicate-key",
        ),
        pytest.param("- backends\n", None, "should be a mapping with backends:", id="a-list"),
        pytest.param("", None, "the file is empty", id="empty"),
        pytest.param(
            "backends: [a, b\nschemaVersion: 1\n",
            ": 1",
            "invalid YAML: expected ',' or ']', but got ':'",
            id="broken-yaml",
        ),
    ],
)
def test_problems(text: str, token: Token, fragment: str) -> None:
    problem = find(problems_of(parse, text), fragment)
    assert where(problem) == (FILE, *spot(text, token))


@pytest.mark.parametrize(
    ("file", "fragment"),
    [
        pytest.param("endpoints/latest.yaml", "reserved", id="latest"),
        pytest.param("endpoints/42.yaml", "all digits", id="digits"),
        pytest.param("endpoints/a.yaml", "2-64 characters", id="too-short"),
        pytest.param("endpoints/my alias.yaml", "only letters, digits", id="space"),
    ],
)
def test_alias_name_is_the_file_name(file: str, fragment: str) -> None:
    problem = find(problems_of(partial(parse_alias_file, file=file), SEED_ALIAS), fragment)
    assert where(problem) == (file, 1, 1)
    assert problem.field == "alias name"


def test_every_problem_at_once() -> None:
    text = """\
        backends:
          a: {deployment: {name: x1, version: nope}, weight: 0}
          b: {deployment: {name: x2, version: 1, brnch: main}, weight: 0}
        schemaVersion: 3
    """
    problems = problems_of(parse, text)
    fragments = [
        "weights add up to 0",
        "deployment.version must be latest or a version number",
        "unknown key 'brnch'",
        "schemaVersion must be 1",
    ]
    assert len(problems) == len(fragments)
    for problem, fragment, line in zip(problems, fragments, [1, 2, 3, 4], strict=True):
        assert fragment in problem.message
        assert (problem.file, problem.line) == (FILE, line)
