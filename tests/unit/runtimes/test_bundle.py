"""Unpacking bundles: malicious archives are refused before anything is written."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from waypost.errors import BuildFailed
from waypost.model.spec import FileBinding
from waypost.runtimes.local.bundle import check_files, file_inside, unpack_bundle


def member(name: str, data: bytes = b"x", **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for attr, value in attrs.items():
        setattr(info, attr, value)
    if info.type != tarfile.REGTYPE:
        info.size = 0
    return info, data


def archive(tmp_path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> tuple[Path, str]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    data = buf.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path / f"{digest}.tar.gz"
    path.write_bytes(data)
    return path, digest


def test_a_good_bundle_is_unpacked_once(tmp_path: Path) -> None:
    path, digest = archive(
        tmp_path,
        member("app.py", b"app = 1\n"),
        member("models", type=tarfile.DIRTYPE, mode=0o755),
        member("models/model.bin", b"\0\1"),
        member("latest.bin", type=tarfile.SYMTYPE, linkname="models/model.bin"),
    )
    bundles = tmp_path / "bundles"
    target = unpack_bundle(path, digest, bundles)
    assert target == bundles / digest
    assert (target / "app.py").read_text() == "app = 1\n"
    assert (target / "latest.bin").read_bytes() == b"\0\1"
    (target / "marker").write_text("kept")
    assert unpack_bundle(path, digest, bundles) == target
    assert (target / "marker").exists()  # not unpacked again
    assert [p.name for p in bundles.iterdir()] == [digest]  # no temp dir left


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        pytest.param(member("/etc/cron.d/evil"), "absolute path", id="absolute"),
        pytest.param(member("../x"), "'..'", id="dotdot"),
        pytest.param(member("a/../../x"), "'..'", id="dotdot-inside"),
        pytest.param(
            member("etc", type=tarfile.SYMTYPE, linkname="/etc"), "symlink", id="symlink-absolute"
        ),
        pytest.param(
            member("a/up", type=tarfile.SYMTYPE, linkname="../../etc"),
            "symlink",
            id="symlink-escaping",
        ),
        pytest.param(
            member("h", type=tarfile.LNKTYPE, linkname="../outside"), "hard link", id="hardlink"
        ),
        pytest.param(member("fifo", type=tarfile.FIFOTYPE), "device", id="fifo"),
        pytest.param(
            member("null", type=tarfile.CHRTYPE, devmajor=1, devminor=3), "device", id="chardev"
        ),
        pytest.param(member("blk", type=tarfile.BLKTYPE), "device", id="blockdev"),
        pytest.param(member("a\\..\\..\\x"), "backslash", id="backslash"),
    ],
)
def test_unsafe_members_are_refused(
    tmp_path: Path, bad: tuple[tarfile.TarInfo, bytes], says: str
) -> None:
    path, digest = archive(tmp_path, member("app.py"), bad)
    bundles = tmp_path / "bundles"
    with pytest.raises(BuildFailed, match="unsafe members") as caught:
        unpack_bundle(path, digest, bundles)
    assert says in caught.value.message
    assert repr(bad[0].name) in caught.value.message
    assert list(bundles.iterdir()) == []  # nothing half-unpacked
    assert not (tmp_path / "etc").exists()


def test_a_digest_mismatch_is_refused(tmp_path: Path) -> None:
    path, _ = archive(tmp_path, member("app.py"))
    other = "0" * 64
    (tmp_path / f"{other}.tar.gz").write_bytes(path.read_bytes())
    with pytest.raises(BuildFailed, match="does not match its digest"):
        unpack_bundle(tmp_path / f"{other}.tar.gz", other, tmp_path / "bundles")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(b"not a tarball", "could not unpack", id="garbage"),
        pytest.param(b"\x1f\x8b\x08\x00" + b"\0" * 20, "could not unpack", id="truncated-gzip"),
    ],
)
def test_unreadable_archives(tmp_path: Path, content: bytes, says: str) -> None:
    digest = hashlib.sha256(content).hexdigest()
    path = tmp_path / "b.tar.gz"
    path.write_bytes(content)
    with pytest.raises(BuildFailed, match=says):
        unpack_bundle(path, digest, tmp_path / "bundles")


def test_missing_archive_and_bad_digest(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed, match="missing"):
        unpack_bundle(tmp_path / "none.tar.gz", "a" * 64, tmp_path / "bundles")
    with pytest.raises(BuildFailed, match="not a sha256"):
        unpack_bundle(tmp_path / "none.tar.gz", "../../etc", tmp_path / "bundles")


def test_declared_files_must_be_in_the_bundle(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.bin").write_bytes(b"1")
    check_files(tmp_path, [FileBinding("a", "models/a.bin")])
    with pytest.raises(BuildFailed) as caught:
        check_files(tmp_path, [FileBinding("a", "models/a.bin"), FileBinding("b", "models/b.bin"),
                               FileBinding("c", "c.pkl")])  # fmt: skip
    assert caught.value.message == (
        "declared files missing from the bundle: b (models/b.bin), c (c.pkl)"
    )


@pytest.mark.parametrize(
    "relative", ["/etc/passwd", "../x", "a/../../x", "..\\x"], ids=["abs", "up", "up2", "bs"]
)
def test_paths_inside_the_bundle_only(tmp_path: Path, relative: str) -> None:
    with pytest.raises(BuildFailed, match=r"(inside|outside) the bundle"):
        file_inside(tmp_path, relative, "requirements file")


def test_a_symlink_out_of_the_bundle_is_not_inside(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "out").symlink_to(tmp_path)
    with pytest.raises(BuildFailed, match="points outside"):
        file_inside(root, "out/secret", "file")
    assert file_inside(root, "./a/b.txt", "file") == root / "a/b.txt"
