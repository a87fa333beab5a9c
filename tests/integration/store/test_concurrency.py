"""Many writers at once: threads sharing one Store, and separate processes on one database."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Callable

from tests.integration.store.helpers import make_version
from waypost.model.policy import AliasPolicy, Backend, Target
from waypost.store import Store


def run_together(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(0..count-1)`` on threads released at once; the errors they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        barrier.wait()
        try:
            work(n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,), name=f"writer-{n}") for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return errors


def test_threads_creating_versions_get_distinct_consecutive_numbers(store: Store) -> None:
    numbers: list[int] = []

    def work(n: int) -> None:
        for _ in range(5):  # the project and deployment do not exist before the race
            numbers.append(make_version(store, actor=f"writer-{n}").number)

    assert run_together(8, work) == []
    assert sorted(numbers) == list(range(1, 41))
    assert [v.number for v in store.list_versions("acme", "shop", "hello")] == numbers_1_to(40)
    assert [(p.org, p.name, p.deployments) for p in store.list_projects()] == [("acme", "shop", 1)]
    assert len(store.list_events(limit=1000)) == 80  # a version and a transition event each
    assert store.route_revision() == 40


def numbers_1_to(n: int) -> list[int]:
    return list(range(1, n + 1))


WRITER = """
import json, sys
from waypost.model.spec import EndpointSpec
from waypost.store import Store

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Store.open(url) as store:
    print("ready", flush=True)
    sys.stdin.readline()
    numbers = [
        store.create_version(
            "acme", "shop", "hello", branch="main", bundle_digest="cd" * 32, bundle_size=1,
            endpoints=[EndpointSpec("web", "wsgi", "app:app")], actor=name,
        ).number
        for _ in range(count)
    ]
print(json.dumps(numbers), flush=True)
"""


def test_processes_creating_versions_get_distinct_consecutive_numbers(
    store: Store, database_url: str
) -> None:
    make_version(store)  # version 1; the schema exists before the writers open it
    writers = [
        subprocess.Popen(
            [sys.executable, "-W", "error", "-c", WRITER, database_url, f"p{n}", "10"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    try:
        for w in writers:  # both have opened the store: release them together
            assert w.stdout is not None
            assert w.stdout.readline() == "ready\n"
        for w in writers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        results = [w.communicate(timeout=60) for w in writers]
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
                w.wait()

    assert [w.returncode for w in writers] == [0, 0], [err for _, err in results]
    per_process = [json.loads(out) for out, _ in results]
    assert all(numbers == sorted(numbers) for numbers in per_process)
    assert sorted(per_process[0] + per_process[1]) == numbers_1_to(21)[1:]
    assert [v.number for v in store.list_versions("acme", "shop", "hello")] == numbers_1_to(21)


def test_threads_creating_one_alias_leave_one_row_and_a_full_history(store: Store) -> None:
    def work(n: int) -> None:
        policy = AliasPolicy(backends=(Backend(f"v{n + 1}", Target(None, n + 1)),))
        store.set_alias("acme", "shop", "hello", "production", policy, actor=f"writer-{n}")

    assert run_together(6, work) == []

    [alias] = store.list_aliases("acme", "shop")
    history = store.alias_history("acme", "shop", "production")
    assert len(history) == 6
    assert history[0].reason.startswith("alias production: none → ")
    # each change starts from the policy the previous one left
    for before, after in itertools.pairwise(history):
        assert after.reason.split(": ", 1)[1].split(" → ")[0] == before.reason.split(" → ")[1]
    assert json.dumps(alias.policy.to_json(), sort_keys=True) == history[-1].reason.split(" → ")[1]
