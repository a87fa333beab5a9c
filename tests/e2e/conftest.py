"""Fixtures for e2e tests: a real ``waypost up`` per test, checked for leftovers afterwards."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Platform, free_port, processes_under


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    home = tmp_path / "home"
    p = Platform(home, free_port(), free_port(), tmp_path / "waypost-up.log")
    p.start()
    try:
        yield p
    finally:
        p.stop()
        deadline = time.monotonic() + 10
        while processes_under(home) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = processes_under(home)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"processes left behind under {home}: {left}"
