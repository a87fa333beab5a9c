"""Endpoint log files: append marker lines, read from an offset, take a tail.

Replicas write to the file directly (an ``O_APPEND`` descriptor each), so their
output survives the control plane stalling or dying; the runtime only adds
marker lines and reads. Reading is bounded: a chunk never exceeds ``max_bytes``
and a tail never reads more than the last ``_TAIL_WINDOW`` bytes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from waypost.runtimes.base import LogChunk

__all__ = ["append_line", "read_log", "tail_lines"]

_TAIL_WINDOW = 256 * 1024
MAX_CHUNK = 1024 * 1024


def append_line(path: Path, text: str) -> None:
    """Append one line (stamped with the time) with a single write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
    data = f"[{stamp}] {text.rstrip()}\n".encode("utf-8", "replace")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def tail_lines(path: Path, lines: int, since: int = 0) -> list[str]:
    """The last ``lines`` lines written at or after byte ``since``."""
    size = _size(path)
    start = max(since if since <= size else 0, size - _TAIL_WINDOW)
    if lines <= 0 or size <= start:
        return []
    with path.open("rb") as f:
        f.seek(start)
        data = f.read(size - start)
    if start > since and b"\n" in data:
        data = data.split(b"\n", 1)[1]  # drop the partial first line of the window
    text = data.decode("utf-8", "replace").splitlines()
    return text[-lines:]


def read_log(path: Path, offset: int = 0, tail: int | None = None) -> LogChunk:
    """Text from byte ``offset`` (at most ``MAX_CHUNK``), or the last ``tail`` lines.

    The returned offset is where the next read should start. An offset past the
    end (the file was removed and started again) reads from the beginning.
    """
    size = _size(path)
    if tail is not None:
        return LogChunk("".join(line + "\n" for line in tail_lines(path, tail)), size)
    if offset > size or offset < 0:
        offset = 0
    if offset == size:
        return LogChunk("", size)
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read(min(size - offset, MAX_CHUNK))
    if offset + len(data) < size and b"\n" in data:
        # More follows: end on a line boundary so no character is split across chunks.
        data = data[: data.rindex(b"\n") + 1]
    return LogChunk(data.decode("utf-8", "replace"), offset + len(data))
