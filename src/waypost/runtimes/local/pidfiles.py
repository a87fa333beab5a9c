"""Pidfiles under ``run/``: one per live replica, so a later run can find leftovers.

Each records the replica's pid, its start time (to tell it from a reused pid) and
its unit. Written atomically; a file that cannot be parsed is reported as None.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["PidRecord", "read_pidfiles", "remove_pidfile", "write_pidfile"]


@dataclass(frozen=True)
class PidRecord:
    replica_id: str
    unit: str
    pid: int
    start_ticks: int

    @classmethod
    def from_json(cls, data: object) -> PidRecord | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                replica_id=str(data["replica_id"]),
                unit=str(data["unit"]),
                pid=int(data["pid"]),
                start_ticks=int(data["start_ticks"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def write_pidfile(path: Path, record: PidRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pid-")
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(record), f)
    os.replace(tmp, path)


def remove_pidfile(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def read_pidfiles(run_dir: Path) -> list[tuple[Path, PidRecord | None]]:
    found: list[tuple[Path, PidRecord | None]] = []
    if not run_dir.is_dir():
        return found
    for path in sorted(run_dir.glob("*.json")):
        try:
            record = PidRecord.from_json(json.loads(path.read_text()))
        except (OSError, ValueError):
            record = None
        found.append((path, record))
    return found
