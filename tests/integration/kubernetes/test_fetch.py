"""The bundle-fetching init container against a local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from waypost.runtimes.kubernetes.fetch import main


def bundle() -> bytes:
    raw = io.BytesIO()
    data = b"def app(environ, start_response):\n    pass\n"
    info = tarfile.TarInfo("app.py")
    info.size = len(data)
    with (
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


BUNDLE = bundle()
DIGEST = hashlib.sha256(BUNDLE).hexdigest()


@pytest.fixture
def control() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            if self.headers.get("Authorization") != "Bearer good":
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(BUNDLE)))
            self.end_headers()
            self.wfile.write(BUNDLE)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def args(tmp_path: Path, url: str, digest: str = DIGEST) -> list[str]:
    return [
        "--shim", str(tmp_path / "shim"), "--home", str(tmp_path / "home"),
        "--url", f"{url}/api/v1/internal/bundles/{digest}", "--sha256", digest,
        "--token-file", str(tmp_path / "token"), "--bundles", str(tmp_path / "bundles"),
        "--attempts", "1",
    ]  # fmt: skip


def test_downloads_checks_and_unpacks(tmp_path: Path, control: tuple[str, list[str]]) -> None:
    url, seen = control
    (tmp_path / "token").write_text("good\n")
    assert main(args(tmp_path, url)) == 0
    assert (tmp_path / "bundles" / DIGEST / "app.py").read_bytes().startswith(b"def app")
    assert (tmp_path / "shim" / "waypost_launcher.py").is_file()
    assert (tmp_path / "shim" / "waypost" / "prefix" / "__init__.py").is_file()
    assert (tmp_path / "home" / "tmp").is_dir()
    assert seen == ["Bearer good"]


def test_a_refused_token_fails_at_once(
    tmp_path: Path, control: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, seen = control
    (tmp_path / "token").write_text("expired")
    assert main([*args(tmp_path, url)[:-2], "--attempts", "3"]) == 1
    assert "HTTP 401" in capsys.readouterr().err
    assert len(seen) == 1  # not retried


def test_a_wrong_digest_is_refused(
    tmp_path: Path, control: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = control
    (tmp_path / "token").write_text("good")
    assert main(args(tmp_path, url, digest="c" * 64)) == 1
    assert "does not match" in capsys.readouterr().err
    assert not (tmp_path / "bundles" / ("c" * 64)).exists()
