"""Name rules.

Seed 004 (CSGHub) for every user-chosen name: 2-64 characters, starts with a
letter, ends with a letter or digit, only letters, digits, ``-``, ``_`` and
``.``, and no two of those special characters next to each other.

Endpoint names also follow Valohai's endpoint rule (lowercase letters, digits
and ``-``), since they become URL segments and Kubernetes object names.
"""

from __future__ import annotations

import re

from waypost.errors import InvalidSpec, Problem

__all__ = ["RESERVED_SELECTORS", "check_endpoint_name", "check_name", "name_problems"]

_ALLOWED = re.compile(r"^[A-Za-z0-9._-]*$")
_SPECIALS_TOGETHER = re.compile(r"[._-]{2}")
_ENDPOINT = re.compile(r"^[a-z0-9-]*$")

#: Selectors with a meaning of their own in a URL; no alias may take them.
RESERVED_SELECTORS = frozenset({"latest"})


def name_problems(value: str, what: str = "name") -> list[str]:
    """Every rule of seed 004 that ``value`` breaks, one sentence each."""
    problems: list[str] = []
    if not 2 <= len(value) <= 64:
        problems.append(f"{what} must be 2-64 characters long (it has {len(value)})")
    if value and not (value[0].isascii() and value[0].isalpha()):
        problems.append(f"{what} must start with a letter")
    if value and not (value[-1].isascii() and value[-1].isalnum()):
        problems.append(f"{what} must end with a letter or a digit")
    if not _ALLOWED.match(value):
        bad = sorted({c for c in value if not (c.isascii() and (c.isalnum() or c in "._-"))})
        problems.append(
            f"{what} may contain only letters, digits, '-', '_' and '.' (found {''.join(bad)!r})"
        )
    if _SPECIALS_TOGETHER.search(value):
        problems.append(f"{what} must not have two special characters ('-', '_', '.') together")
    return problems


def endpoint_name_problems(value: str) -> list[str]:
    problems = name_problems(value, "endpoint name")
    if not _ENDPOINT.match(value):
        problems.append("endpoint name may contain only lowercase letters, digits and '-'")
    return problems


def check_name(value: str, what: str = "name") -> str:
    """Return ``value`` or raise InvalidSpec with one problem per broken rule."""
    problems = name_problems(value, what)
    if problems:
        raise InvalidSpec.of([Problem(p, field=what) for p in problems])
    return value


def check_endpoint_name(value: str) -> str:
    problems = endpoint_name_problems(value)
    if problems:
        raise InvalidSpec.of([Problem(p, field="endpoint name") for p in problems])
    return value
