"""make_bundle(): what goes into a version's archive, and that it is reproducible."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from waypost.cli.bundle import make_bundle
from waypost.errors import InvalidSpec, TooLarge
from waypost.model.spec import DeploymentSpec, EndpointSpec, FileBinding


def names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return archive.getnames()


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_gitignore_and_never_bundled_folders_are_left_out(tmp_path: Path) -> None:
    folder = tree(
        tmp_path,
        {
            "app.py": "x",
            "waypost.yaml": "y",
            "data/big.csv": "1,2",
            "data/keep.txt": "k",
            ".gitignore": "*.csv\nsecrets/\n",
            "secrets/token": "t",
            ".git/HEAD": "ref",
            ".venv/bin/python": "",
            "pkg/__pycache__/m.cpython-311.pyc": "",
            "pkg/m.py": "",
        },
    )
    assert names(make_bundle(folder).data) == [
        ".gitignore",
        "app.py",
        "data/keep.txt",
        "pkg/m.py",
        "waypost.yaml",
    ]


def test_same_folder_same_bytes(tmp_path: Path) -> None:
    folder = tree(tmp_path, {"a.py": "1", "b/c.py": "2"})
    first = make_bundle(folder).data
    (folder / "a.py").touch()  # a new mtime must not change the archive
    assert make_bundle(folder).data == first


def test_bound_file_with_source_is_added_at_its_path(tmp_path: Path) -> None:
    folder = tree(tmp_path / "proj", {"app.py": "x"})
    tree(tmp_path, {"models/m.bin": "weights"})
    spec = DeploymentSpec(
        "d",
        (
            EndpointSpec(
                "web",
                "wsgi",
                "app:app",
                files=(FileBinding("model", "model/m.bin", source="../models/m.bin"),),
            ),
        ),
    )
    bundle = make_bundle(folder, [spec])
    assert "model/m.bin" in names(bundle.data)


def test_missing_bound_source_is_a_problem(tmp_path: Path) -> None:
    folder = tree(tmp_path, {"app.py": "x"})
    spec = DeploymentSpec(
        "d",
        (
            EndpointSpec(
                "web", "wsgi", "app:app", files=(FileBinding("m", "m.bin", source="nope.bin"),)
            ),
        ),
    )
    with pytest.raises(InvalidSpec, match=r"nope\.bin"):
        make_bundle(folder, [spec])


def test_limit(tmp_path: Path) -> None:
    folder = tree(tmp_path, {"a.bin": "x" * 2000})
    with pytest.raises(TooLarge, match="limit of 1000 bytes"):
        make_bundle(folder, limit=1000)
