"""Modelbit ``endpoints/<name>.yaml`` alias files (seed 003), and the alias rules
that waypost.yaml's ``aliases:`` share with them.

A file is an alias whose name takes the deployment's place in the URL: weighted
``backends`` (an A/B split when there are several) and ``mirrors`` (shadow traffic),
each pointing at ``deployment: {branch, name, version: latest|int}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from waypost.config.problems import FileProblems
from waypost.config.schema import AliasFileShape, DeploymentRefShape
from waypost.config.yaml_nodes import Path
from waypost.model.names import RESERVED_SELECTORS, endpoint_name_problems, name_problems
from waypost.model.policy import AliasPolicy, AliasSpec, Backend, Mirror, Target, VersionRef

__all__ = ["alias_name_problems", "check_policy", "parse_alias_file", "target_of"]

_EXPECTED = "a mapping with backends: and schemaVersion: 1"


def parse_alias_file(text: str, *, file: str, name: str | None = None) -> AliasSpec:
    """The alias in one ``endpoints/<name>.yaml``; ``name`` defaults to the file's stem.

    Raises ``InvalidSpec`` with every problem in the file.
    """
    alias = name if name is not None else _stem(file)
    problems = FileProblems(file)
    for message in alias_name_problems(alias):
        problems.at(1, 1, f"{message} (the alias name is the file's name)", field="alias name")
    doc = problems.load(text)
    if doc is None or not problems.top_level(doc, dict, _EXPECTED):
        problems.fail()
    shape = problems.validate(AliasFileShape, doc.data, ())
    check_policy(doc.data, (), problems, short_form=False)
    if shape is None or problems:
        problems.fail()
    policy = AliasPolicy(
        backends=tuple(
            Backend(key, target_of(b.deployment, None, None), b.weight)
            for key, b in shape.backends.items()
        ),
        mirrors=tuple(
            Mirror(key, target_of(m.deployment, None, None))
            for key, m in (shape.mirrors or {}).items()
        ),
    )
    return AliasSpec(name=alias, deployment=None, policy=policy, source=file)


def _stem(file: str) -> str:
    base = file.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".yaml", ".yml"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


def alias_name_problems(name: str) -> list[str]:
    """The name rules plus the two an alias adds: not ``latest``, not a version number."""
    problems = name_problems(name, "alias name")
    if name in RESERVED_SELECTORS:
        problems.append(f"alias name {name!r} is reserved: it already means the newest version")
    if name.isdigit():
        problems.append(f"alias name {name!r} is all digits, which reads as a version number")
    return problems


def target_of(
    deployment: DeploymentRefShape | None, version: VersionRef | None, endpoint: str | None
) -> Target:
    """A target from a validated backend: ``deployment: {...}`` or the short ``version:``."""
    if deployment is not None:
        return Target(deployment.name, deployment.version, endpoint, deployment.branch)
    # check_policy made sure one of the two is given.
    return Target(None, version if version is not None else "latest", endpoint)


def check_policy(raw: object, path: Path, problems: FileProblems, *, short_form: bool) -> None:
    """The rules across keys of ``backends``/``mirrors``, on the raw mapping so that they
    are checked even when a sibling value has the wrong type."""
    if not isinstance(raw, Mapping):
        return
    backends, mirrors = raw.get("backends"), raw.get("mirrors")
    if isinstance(backends, Mapping):
        _check_weights(backends, (*path, "backends"), problems)
        for key, backend in backends.items():
            _check_target(backend, (*path, "backends", key), problems, short_form=short_form)
    if isinstance(mirrors, Mapping):
        for key, mirror in mirrors.items():
            _check_target(mirror, (*path, "mirrors", key), problems, short_form=short_form)
            if isinstance(backends, Mapping) and key in backends:
                problems.add(
                    (*path, "mirrors", key),
                    f"{key!r} names both a backend and a mirror; give the mirror another name",
                    key=True,
                )


def _check_weights(backends: Mapping[Any, Any], path: Path, problems: FileProblems) -> None:
    weights = [b.get("weight", 1) if isinstance(b, Mapping) else None for b in backends.values()]
    valid = [w for w in weights if isinstance(w, int) and not isinstance(w, bool) and w >= 0]
    if backends and len(valid) == len(weights) and sum(valid) == 0:
        problems.add(
            path,
            "the backends' weights add up to 0, so no request could be sent anywhere; "
            "give at least one backend a weight above 0",
            key=True,
        )


def _check_target(raw: object, path: Path, problems: FileProblems, *, short_form: bool) -> None:
    if not isinstance(raw, Mapping):
        return
    deployment = raw.get("deployment")
    if isinstance(deployment, Mapping) and isinstance(deployment.get("name"), str):
        for message in name_problems(deployment["name"], "deployment name"):
            problems.add((*path, "deployment", "name"), message)
    if not short_form:
        return
    endpoint = raw.get("endpoint")
    if isinstance(endpoint, str):
        for message in endpoint_name_problems(endpoint):
            problems.add((*path, "endpoint"), message)
    has_version = raw.get("version") is not None
    if deployment is not None and has_version:
        problems.add(
            (*path, "version"),
            "give the version either here or inside deployment:, not both",
            key=True,
        )
    elif deployment is None and not has_version:
        problems.add(
            path,
            "needs version: (a version of the alias's own deployment) "
            "or deployment: {name, version}",
        )
