"""``waypost apply``: which files PATH means, their problems with positions, the request body."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from waypost.cli.apply import aliases_from_path, apply_body
from waypost.errors import InvalidSpec

AB = """\
backends:
  control:
    deployment: {branch: main, name: churn, version: 2}
    weight: 9
  experiment:
    deployment: {branch: main, name: churn, version: latest}
    weight: 1
mirrors:
  shadow:
    deployment: {branch: dev, name: candidate, version: 1}
schemaVersion: 1
"""
WAYPOST = """\
project: acme/shop
deployment: churn
endpoints: [{name: web, wsgi: 'app:app'}]
aliases:
  - name: production
    backends: {v3: {version: 3, endpoint: web}}
    mirrors: {v4: {version: 4}}
    sticky: header:X-User-ID
"""


def project(tmp_path: Path, *, main: str | None = WAYPOST, ab: str | None = AB) -> Path:
    if main is not None:
        (tmp_path / "waypost.yaml").write_text(main)
    if ab is not None:
        (tmp_path / "endpoints").mkdir()
        (tmp_path / "endpoints" / "ab.yaml").write_text(ab)
    return tmp_path


def names(path: Path) -> tuple[str | None, list[tuple[str | None, str, str | None]]]:
    declared, specs = aliases_from_path(path)
    return declared, [(s.deployment, s.name, s.source) for s in specs]


def test_a_project_folder_gives_waypost_yaml_aliases_and_alias_files(tmp_path: Path) -> None:
    assert names(project(tmp_path)) == (
        "acme/shop",
        [("churn", "production", "waypost.yaml"), (None, "ab", "endpoints/ab.yaml")],
    )


def test_an_endpoints_folder_gives_its_files_and_the_project_next_to_it(tmp_path: Path) -> None:
    folder = project(tmp_path) / "endpoints"
    (folder / "second.yml").write_text(AB)
    (folder / "notes.txt").write_text("not an alias")
    assert names(folder) == (
        "acme/shop",
        [(None, "ab", "endpoints/ab.yaml"), (None, "second", "endpoints/second.yml")],
    )


def test_an_endpoints_folder_without_a_project_next_to_it(tmp_path: Path) -> None:
    assert names(project(tmp_path, main=None) / "endpoints") == (
        None,
        [(None, "ab", "endpoints/ab.yaml")],
    )


def test_single_files(tmp_path: Path) -> None:
    root = project(tmp_path)
    assert names(root / "endpoints" / "ab.yaml") == (
        "acme/shop",
        [(None, "ab", "endpoints/ab.yaml")],
    )
    assert names(root / "waypost.yaml") == (
        "acme/shop",
        [("churn", "production", "waypost.yaml")],
    )


def valohai_file(folder: Path) -> Path:
    (folder / "valohai.yaml").write_text("[]")
    return folder / "valohai.yaml"


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        pytest.param(
            lambda p: project(p, ab=AB.replace("weight: 9", "weight: -9")) / "endpoints",
            "endpoints/ab.yaml:4:13",
            id="bad-alias-file-has-its-position",
        ),
        pytest.param(
            lambda p: project(p, main=WAYPOST.replace("version: 3", "version: three")),
            "waypost.yaml:6:",
            id="bad-waypost-yaml-has-its-position",
        ),
        pytest.param(
            lambda p: project(p, main=WAYPOST.replace("deployment: churn", "deployment: ab")),
            "'ab' is a name used both as a deployment and as an alias file",
            id="deployment-and-alias-file-share-a-name",
        ),
        pytest.param(lambda p: p / "missing", "neither a folder nor a file", id="missing"),
        pytest.param(lambda p: p, "has no waypost.yaml, valohai.yaml", id="empty-folder"),
        pytest.param(valohai_file, "declares endpoints, not aliases", id="valohai-file"),
    ],
)
def test_problems_name_the_file_line_and_column(
    tmp_path: Path, make: Callable[[Path], Path], fragment: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        aliases_from_path(make(tmp_path))
    shown = "\n".join([caught.value.message, *(str(p) for p in caught.value.problems)])
    assert fragment in shown


def test_two_alias_files_with_one_name_are_refused(tmp_path: Path) -> None:
    folder = project(tmp_path, main=None) / "endpoints"
    (folder / "ab.yml").write_text(AB)
    with pytest.raises(InvalidSpec, match="two alias files are named 'ab'"):
        aliases_from_path(folder)


def test_the_body_carries_every_field_and_the_source(tmp_path: Path) -> None:
    _, specs = aliases_from_path(project(tmp_path))
    assert apply_body(specs) == {
        "aliases": [
            {
                "name": "production",
                "deployment": "churn",
                "source": "waypost.yaml",
                "backends": [
                    {"name": "v3", "weight": 1, "deployment": None, "version": 3,
                     "endpoint": "web", "branch": "main"},
                ],
                "mirrors": [
                    {"name": "v4", "deployment": None, "version": 4, "endpoint": None,
                     "branch": "main"},
                ],
                "sticky": "header:X-User-ID",
            },
            {
                "name": "ab",
                "deployment": None,
                "source": "endpoints/ab.yaml",
                "backends": [
                    {"name": "control", "weight": 9, "deployment": "churn", "version": 2,
                     "endpoint": None, "branch": "main"},
                    {"name": "experiment", "weight": 1, "deployment": "churn",
                     "version": "latest", "endpoint": None, "branch": "main"},
                ],
                "mirrors": [
                    {"name": "shadow", "deployment": "candidate", "version": 1,
                     "endpoint": None, "branch": "dev"},
                ],
                "sticky": None,
            },
        ]
    }  # fmt: skip
