"""Pidfiles, /proc start times (of this very process, no children) and the root layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from waypost.errors import InvalidSpec
from waypost.model.prefix import UnitKey
from waypost.runtimes.local.layout import Layout
from waypost.runtimes.local.pidfiles import (
    PidRecord,
    read_pidfiles,
    remove_pidfile,
    write_pidfile,
)
from waypost.runtimes.local.supervisor import group_members, process_start_ticks


def test_round_trip_and_junk(tmp_path: Path) -> None:
    record = PidRecord("r-abc123", "acme/hello/web/1/api", 1234, 99887766)
    write_pidfile(tmp_path / "r-abc123.json", record)
    (tmp_path / "r-broken.json").write_text("{not json")
    (tmp_path / "r-partial.json").write_text('{"pid": 1}')
    found = dict(read_pidfiles(tmp_path))
    assert found == {
        tmp_path / "r-abc123.json": record,
        tmp_path / "r-broken.json": None,
        tmp_path / "r-partial.json": None,
    }
    remove_pidfile(tmp_path / "r-abc123.json")
    remove_pidfile(tmp_path / "r-abc123.json")  # twice is fine
    assert len(read_pidfiles(tmp_path)) == 2
    assert read_pidfiles(tmp_path / "missing") == []


def test_start_ticks_identify_a_process() -> None:
    mine = process_start_ticks(os.getpid())
    assert isinstance(mine, int)
    assert mine > 0
    assert process_start_ticks(os.getpid()) == mine
    assert process_start_ticks(2**22 + 1) is None  # above pid_max: never a process


def test_group_members_sees_this_processes_group() -> None:
    assert os.getpid() in group_members(os.getpgrp())


def test_layout_paths(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    key = UnitKey("acme", "hello", "web", 3, "api")
    assert layout.log_file(key) == tmp_path / "logs/acme/hello/web/3/api.log"
    assert layout.home(key) == tmp_path / "homes/acme/hello/web/3/api"
    assert layout.pidfile("r-abc123") == tmp_path / "run/r-abc123.json"


@pytest.mark.parametrize("bad", ["..", ".", "", "a/b", "x\x00"])
def test_layout_refuses_names_that_would_leave_the_root(tmp_path: Path, bad: str) -> None:
    layout = Layout(tmp_path)
    with pytest.raises(InvalidSpec):
        layout.log_file(UnitKey("acme", bad or "", "web", 3, "api"))
    with pytest.raises(InvalidSpec):
        layout.pidfile(bad)
