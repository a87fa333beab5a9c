"""load_folder(): which files are read, and every problem of every file at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.config._support import SEED_AB, SEED_ALIAS, SEED_MIRROR
from waypost.config import load_folder
from waypost.errors import InvalidSpec, Problem

WAYPOST = "project: acme/shop\ndeployment: churn\nendpoints: [{name: web, wsgi: app:app}]\n"
VALOHAI = "- endpoint: {name: greet, wsgi: predict:app}\n"


def make(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def problems(root: Path, **kwargs: str) -> list[Problem]:
    with pytest.raises(InvalidSpec) as info:
        load_folder(root, **kwargs)
    return list(info.value.problems)


def test_waypost_yaml_and_alias_files(tmp_path: Path) -> None:
    root = make(
        tmp_path / "shop",
        {
            "waypost.yaml": WAYPOST,
            "endpoints/example_mirror_endpoint.yaml": SEED_MIRROR,
            "endpoints/example_ab_endpoint.yml": SEED_AB,
            "endpoints/notes.txt": "not an alias",
            "valohai.yaml": "this is ignored: [",
        },
    )
    (root / "endpoints" / "folder.yaml").mkdir()
    config = load_folder(root)
    assert config.project == "acme/shop"
    assert [d.name for d in config.deployments] == ["churn"]
    assert config.sources == (
        "waypost.yaml",
        "endpoints/example_ab_endpoint.yml",
        "endpoints/example_mirror_endpoint.yaml",
    )
    assert [(a.name, a.deployment, a.source) for a in config.aliases] == [
        ("example_ab_endpoint", None, "endpoints/example_ab_endpoint.yml"),
        ("example_mirror_endpoint", None, "endpoints/example_mirror_endpoint.yaml"),
    ]


def test_valohai_yaml_is_read_without_waypost_yaml(tmp_path: Path) -> None:
    root = make(tmp_path / "greeter", {"valohai.yaml": VALOHAI})
    config = load_folder(root)
    assert config.sources == ("valohai.yaml",)
    assert [(d.name, [e.name for e in d.endpoints]) for d in config.deployments] == [
        ("greeter", ["greet"])
    ]
    renamed = load_folder(root, deployment_name="hello")
    assert [d.name for d in renamed.deployments] == ["hello"]


def test_alias_files_alone(tmp_path: Path) -> None:
    root = make(tmp_path / "p", {"endpoints/example_alias_endpoint.yaml": SEED_ALIAS})
    config = load_folder(root)
    assert config.deployments == ()
    assert config.project is None
    assert config.sources == ("endpoints/example_alias_endpoint.yaml",)


def test_a_folder_with_nothing_to_read(tmp_path: Path) -> None:
    root = make(tmp_path / "empty", {"README.md": "hi"})
    (problem,) = problems(root)
    assert "found none of waypost.yaml, valohai.yaml or endpoints/*.yaml" in problem.message
    assert problem.file is None


def test_not_a_folder(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path / "missing")
    assert "is not a folder" in problem.message


def test_alias_file_named_like_a_deployment(tmp_path: Path) -> None:
    root = make(tmp_path / "shop", {"waypost.yaml": WAYPOST, "endpoints/churn.yaml": SEED_ALIAS})
    (problem,) = problems(root)
    assert (problem.file, problem.line, problem.column) == ("endpoints/churn.yaml", 1, 1)
    assert "a name used both as a deployment and as an alias file" in problem.message


def test_two_alias_files_with_one_name(tmp_path: Path) -> None:
    root = make(
        tmp_path / "shop", {"endpoints/prod.yaml": SEED_ALIAS, "endpoints/prod.yml": SEED_AB}
    )
    (problem,) = problems(root)
    assert problem.file == "endpoints/prod.yml"
    assert "two alias files are named 'prod'" in problem.message


def test_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    root = make(
        tmp_path / "shop",
        {
            "waypost.yaml": WAYPOST.replace("app:app", "app.py"),
            "endpoints/ab.yaml": SEED_AB.replace("schemaVersion: 1", "schemaVersion: 2"),
            "endpoints/zero.yaml": SEED_ALIAS.replace("weight: 1", "weight: 0"),
            "endpoints/latest.yaml": SEED_ALIAS,
        },
    )
    found = [(p.file, p.line) for p in problems(root)]
    assert found == [
        ("waypost.yaml", 3),
        ("endpoints/ab.yaml", 14),
        ("endpoints/latest.yaml", 1),
        ("endpoints/zero.yaml", 1),
    ]


def test_bad_bytes_name_the_line(tmp_path: Path) -> None:
    root = make(tmp_path / "shop", {"waypost.yaml": b"project: acme/shop\nname: caf\xe9\n"})
    (problem,) = problems(root)
    assert (problem.file, problem.line, problem.column) == ("waypost.yaml", 2, 10)
    assert "not UTF-8" in problem.message


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    root = make(tmp_path / "shop", {"waypost.yaml": "\ufeff" + WAYPOST})
    assert load_folder(root).project == "acme/shop"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    root = make(tmp_path / "shop", {"waypost.yaml": WAYPOST})
    (root / "waypost.yaml").chmod(0)
    (problem,) = problems(root)
    assert problem.file == "waypost.yaml"
    assert "cannot be read" in problem.message


def test_missing_requirements_are_checked_in_the_folder(tmp_path: Path) -> None:
    text = WAYPOST.replace("wsgi: app:app", "wsgi: app:app, requirements: req/prod.txt")
    root = make(tmp_path / "shop", {"waypost.yaml": text})
    (problem,) = problems(root)
    assert (problem.file, problem.line) == ("waypost.yaml", 3)
    assert "'req/prod.txt' does not exist" in problem.message
    make(root, {"req/prod.txt": "flask\n"})
    (deployment,) = load_folder(root).deployments
    assert deployment.endpoints[0].requirements == "req/prod.txt"
