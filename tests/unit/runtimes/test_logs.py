"""Reading endpoint logs: from an offset, the last lines, bounded chunks."""

from __future__ import annotations

from pathlib import Path

from waypost.runtimes.local import logs
from waypost.runtimes.local.logs import append_line, read_log, tail_lines


def test_read_from_offsets(tmp_path: Path) -> None:
    path = tmp_path / "web.log"
    path.write_bytes(b"one\ntwo\n")
    first = read_log(path)
    assert (first.text, first.offset) == ("one\ntwo\n", 8)
    assert read_log(path, first.offset).text == ""
    with path.open("ab") as f:
        f.write("thr\u00e9e\n".encode())
    more = read_log(path, first.offset)
    assert (more.text, more.offset) == ("thr\u00e9e\n", 15)


def test_missing_file_and_offsets_past_the_end(tmp_path: Path) -> None:
    path = tmp_path / "none.log"
    assert read_log(path, 0) == read_log(path, 99)
    assert read_log(path).text == ""
    path.write_bytes(b"new file\n")
    assert read_log(path, 500).text == "new file\n"  # the file started again: from the top


def test_tail(tmp_path: Path) -> None:
    path = tmp_path / "web.log"
    path.write_text("".join(f"line {n}\n" for n in range(100)))
    chunk = read_log(path, tail=3)
    assert chunk.text == "line 97\nline 98\nline 99\n"
    assert chunk.offset == path.stat().st_size
    assert read_log(path, tail=0).text == ""
    assert tail_lines(path, 2) == ["line 98", "line 99"]


def test_tail_since_an_offset_only_sees_what_came_after(tmp_path: Path) -> None:
    path = tmp_path / "web.log"
    path.write_text("old 1\nold 2\n")
    since = path.stat().st_size
    with path.open("a") as f:
        f.write("new 1\nnew 2\n")
    assert tail_lines(path, 20, since=since) == ["new 1", "new 2"]


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "web.log"
    path.write_bytes(b"ok \xff\xfe\n")
    assert read_log(path).text == "ok \ufffd\ufffd\n"


def test_big_logs_come_in_chunks_that_end_on_a_line(tmp_path: Path) -> None:
    path = tmp_path / "web.log"
    line = "\u00e9" * 99 + "\n"  # 199 bytes, multi-byte characters
    path.write_text(line * (logs.MAX_CHUNK // 150))
    total, offset, chunks = "", 0, 0
    while True:
        chunk = read_log(path, offset)
        if not chunk.text:
            break
        assert chunk.text.endswith("\n")
        total, offset, chunks = total + chunk.text, chunk.offset, chunks + 1
    assert chunks == 2
    assert total == path.read_text()


def test_append_line_stamps_and_creates(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "web.log"
    append_line(path, "r-abc123: ready\n")
    text = path.read_text()
    assert text.startswith("[")
    assert text.endswith("] r-abc123: ready\n")
