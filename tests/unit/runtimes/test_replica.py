"""Backoff, exit descriptions and how a replica reports itself (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec
from waypost.runtimes.base import ReplicaPhase, Workload
from waypost.runtimes.local.replica import Replica, backoff_delay, describe_exit


def test_backoff_doubles_from_half_a_second_and_caps_at_thirty() -> None:
    assert [backoff_delay(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff_delay(0) == 0.0
    assert backoff_delay(10_000) == 30.0  # no overflow for a replica crashing for weeks


def test_backoff_is_configurable() -> None:
    assert [backoff_delay(n, base=0.1, cap=0.3) for n in (1, 2, 3)] == [0.1, 0.2, 0.3]


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "exited with code 0"),
        (3, "exited with code 3"),
        (-9, "was killed by signal SIGKILL"),
        (-15, "was killed by signal SIGTERM"),
        (-200, "was killed by signal 200"),
        (None, "is still running"),
    ],
)
def test_describe_exit(code: int | None, text: str) -> None:
    assert describe_exit(code) == text


def workload() -> Workload:
    spec = EndpointSpec(name="web", kind="wsgi", target="app:app")
    return Workload(UnitKey("a", "b", "c", 1, "web"), spec, Path("/b.tar.gz"), "0" * 64)


def test_a_replica_without_a_process_has_no_address_or_pid() -> None:
    replica = Replica("r-abc123", workload(), 0, note="cpu not enforced", port=4000)
    status = replica.status("127.0.0.1")
    assert status.replica_id == "r-abc123"
    assert status.phase is ReplicaPhase.STARTING
    assert (status.address, status.pid) == (None, None)
    assert status.message == "cpu not enforced"  # the note shows while healthy


def test_a_failure_message_replaces_the_note() -> None:
    replica = Replica("r-abc123", workload(), 0, note="cpu not enforced")
    replica.phase, replica.message, replica.exit_code = ReplicaPhase.FAILED, "exited", 3
    status = replica.status("127.0.0.1")
    assert (status.message, status.exit_code) == ("exited", 3)
    replica.phase, replica.message = ReplicaPhase.BACKOFF, ""
    assert replica.status("h").message == ""


def test_what_a_life_runs_under_shows_before_the_specs_notes() -> None:
    replica = Replica("r-abc123", workload(), 0, note="image is ignored locally")
    replica.enforcement = "cpu 0.5 via cgroup v1 cfs quota"
    assert (
        replica.status("h").message == "cpu 0.5 via cgroup v1 cfs quota; image is ignored locally"
    )
