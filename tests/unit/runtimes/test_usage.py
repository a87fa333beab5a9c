"""Parsing /proc for CPU and memory readings, and the process tree walk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from waypost.runtimes.local.usage import (
    ProcStat,
    descendants,
    parse_stat,
    parse_status_rss,
    proc_tree_usage,
)

# pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
# cutime cstime ...
STAT = "42 (my (odd) app) S 7 42 42 0 -1 4194560 100 0 0 0 150 50 30 20 20 0 3 0 12345 0 0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(STAT, ProcStat(ppid=7, cpu_ticks=250), id="name-with-parens"),
        pytest.param(STAT.replace(") S ", ") Z "), None, id="zombie"),
        pytest.param("1 (x) S 0", None, id="short"),
        pytest.param(STAT.replace(" 150 ", " x "), None, id="not-a-number"),
    ],
)
def test_parse_stat(text: str, expected: ProcStat | None) -> None:
    assert parse_stat(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Name:\tpython\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\n", 1234 * 1024),
        ("Name:\tkthreadd\nState:\tS (sleeping)\n", 0),
    ],
)
def test_parse_status_rss(text: str, expected: int) -> None:
    assert parse_status_rss(text) == expected


def test_descendants_walks_the_tree_under_the_root_only() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 21: 20}
    assert sorted(descendants(parents, 10)) == [10, 11, 12, 13]
    assert descendants(parents, 13) == [13]
    assert descendants(parents, 99) == []  # gone


def test_proc_tree_usage_sums_a_fake_proc(tmp_path: Path) -> None:
    def proc(pid: int, ppid: int, ticks: int, rss_kb: int) -> None:
        folder = tmp_path / str(pid)
        folder.mkdir()
        (folder / "stat").write_text(
            f"{pid} (p) S {ppid} 1 1 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0 1 0 0"
        )
        (folder / "status").write_text(f"VmRSS:\t{rss_kb} kB\n")

    proc(5, 1, 100, 1000)
    proc(6, 5, 50, 500)
    proc(7, 1, 999, 9999)  # not below 5
    (tmp_path / "self").mkdir()  # not a pid: ignored
    usage = proc_tree_usage([5], proc=tmp_path, ticks=100)
    assert (usage.cpu_seconds, usage.memory_bytes, usage.source) == (1.5, 1500 * 1024, "/proc")


def test_proc_tree_usage_of_this_process() -> None:
    usage = proc_tree_usage([os.getpid()])
    assert usage.cpu_seconds > 0
    assert usage.memory_bytes > 10 * 2**20
