"""Helpers for the config tests: run a parser, get its problems."""

from __future__ import annotations

from collections.abc import Callable
from textwrap import dedent

import pytest

from waypost.errors import InvalidSpec, Problem

# The three examples of seed 003, verbatim.
SEED_ALIAS = """\
backends:
  split_1:
    deployment:
      branch: main
      name: example_deployment
      version: 2
    weight: 1
schemaVersion: 1
"""

SEED_AB = """\
backends:
  split_1:
    deployment:
      branch: main
      name: deployment_control
      version: latest
    weight: 9
  split_2:
    deployment:
      branch: main
      name: deployment_experiment
      version: latest
    weight: 1
schemaVersion: 1
"""

SEED_MIRROR = """\
backends:
  split_1:
    deployment:
      branch: main
      name: example_deployment
      version: 2
    weight: 1
mirrors:
  mirror_1:
    deployment:
      branch: main
      name: candidate_deployment
      version: latest
schemaVersion: 1
"""


def problems_of(parse: Callable[[str], object], text: str) -> list[Problem]:
    """The problems ``parse`` raises for ``text`` (dedented); fails if it raises none."""
    with pytest.raises(InvalidSpec) as info:
        parse(dedent(text))
    problems = list(info.value.problems)
    assert problems, "InvalidSpec without problems"
    return problems


def find(problems: list[Problem], fragment: str) -> Problem:
    """The one problem whose message contains ``fragment``."""
    matching = [p for p in problems if fragment in p.message]
    assert len(matching) == 1, f"{fragment!r} in {[str(p) for p in problems]}"
    return matching[0]


def where(problem: Problem) -> tuple[str | None, int | None, int | None]:
    return problem.file, problem.line, problem.column


#: what a problem points at: a substring, (substring, which occurrence), or None (line 1, column 1)
Token = str | tuple[str, int] | None


def spot(text: str, token: Token) -> tuple[int, int]:
    """1-based line and column of ``token`` in dedented ``text``, so that a table of
    problems says *what* each one points at rather than bare numbers."""
    text = dedent(text)
    if token is None:
        return 1, 1
    token, nth = token if isinstance(token, tuple) else (token, 0)
    index = -1
    for _ in range(nth + 1):
        index = text.index(token, index + 1)
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1
