"""A replica SIGKILLed under load (``bench.killload``, with fewer requests).

Issue #5: no GET fails, and a POST fails only if it was in flight on the killed
replica (at most one per POSTing client here).
"""

from __future__ import annotations

from pathlib import Path

from bench.killload import run


def test_a_replica_killed_under_load_fails_no_get(tmp_path: Path) -> None:
    outcome = run(requests=3000, concurrency=8, work=tmp_path)
    assert sum(outcome.sent.values()) == 3000
    assert outcome.killed_after == 1000
    assert outcome.failed["GET"] == 0, outcome.statuses
    assert outcome.failed["POST"] <= outcome.post_threads, outcome.statuses
