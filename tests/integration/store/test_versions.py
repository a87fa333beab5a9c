"""Creating versions, and reading projects, deployments and versions back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from tests.integration.store.helpers import (
    START,
    StepClock,
    key,
    make_version,
    spec,
    spec_with_everything,
)
from waypost.errors import InvalidSpec, NotFound
from waypost.model.lifecycle import EndpointState
from waypost.model.spec import Replicas
from waypost.store import Store


def test_create_version_makes_project_deployment_and_building_endpoints(
    store: Store, clock: StepClock
) -> None:
    version = make_version(
        store, endpoints=[spec("web", replicas=Replicas(2, 4)), spec("api")], branch="dev"
    )

    assert (version.org, version.project, version.deployment, version.number) == (
        "acme",
        "shop",
        "hello",
        1,
    )
    assert (version.branch, version.created_by) == ("dev", "alice")
    assert (version.bundle_digest, version.bundle_size) == ("ab" * 32, 1234)
    assert version.created_at == clock.last
    assert [e.key.endpoint for e in version.endpoints] == ["api", "web"]
    web = version.endpoints[1]
    assert web.key == key()
    assert web.state is EndpointState.BUILDING
    assert (web.desired, web.replicas_desired, web.ever_ready) == ("running", 2, False)
    assert (web.reason, web.branch, web.bundle_digest) == ("version 1 created", "dev", "ab" * 32)
    assert web.state_changed_at == web.created_at == clock.last
    assert (web.replicas, web.pending_spec) == ((), None)
    assert web.spec == spec("web", replicas=Replicas(2, 4))

    [project] = store.list_projects()
    assert (project.org, project.name, project.deployments) == ("acme", "shop", 1)
    [deployment] = store.list_deployments("acme", "shop")
    assert (deployment.name, deployment.branch, deployment.versions) == ("hello", "dev", (1,))


def test_numbers_count_up_per_deployment(store: Store) -> None:
    numbers = [make_version(store, "hello").number for _ in range(3)]
    other = make_version(store, "other").number
    assert numbers == [1, 2, 3]
    assert other == 1
    assert [v.number for v in store.list_versions("acme", "shop", "hello")] == [1, 2, 3]


def test_created_version_reads_back_equal(store: Store) -> None:
    created = make_version(store, endpoints=[spec_with_everything("web"), spec("api")])
    assert store.get_version("acme", "shop", "hello", 1) == created
    assert store.list_versions("acme", "shop", "hello") == [created]
    assert created.endpoints[1].spec == spec_with_everything("web")


def test_create_version_writes_events_and_bumps_the_route_revision(store: Store) -> None:
    before = store.route_revision()
    make_version(store, endpoints=["web", "api"], actor="bob")

    assert store.route_revision() > before
    events = store.list_events()
    assert [(e.kind, e.endpoint, e.from_state, e.to_state) for e in events] == [
        ("version", None, None, None),
        ("transition", "web", None, "Building"),
        ("transition", "api", None, "Building"),
    ]
    assert all(e.actor == "bob" and e.version == 1 for e in events)
    assert events[1].reason == "version 1 created"
    assert "version 1 created" in events[0].reason


def test_duplicate_endpoint_names_are_refused_before_anything_is_written(store: Store) -> None:
    with pytest.raises(InvalidSpec, match="'web' is declared twice"):
        make_version(store, endpoints=["web", "api", "web"])
    assert store.list_projects() == []
    assert store.route_revision() == 0


def test_an_invalid_spec_midway_leaves_nothing_half_written(store: Store) -> None:
    make_version(store)
    revision = store.route_revision()
    events = store.list_events()
    # The second spec cannot be stored (a value that is not JSON): the version row, the
    # number, the first endpoint and the events are written by then, and must be undone.
    broken = replace(spec("api"), env={"KEY": object()})  # type: ignore[dict-item]

    with pytest.raises(InvalidSpec, match="endpoint 'api' cannot be stored as JSON"):
        make_version(store, endpoints=[spec("web"), broken, spec("zzz")])

    assert [v.number for v in store.list_versions("acme", "shop", "hello")] == [1]
    assert store.list_events() == events
    assert store.route_revision() == revision
    assert len(store.list_endpoints()) == 1
    assert make_version(store).number == 2  # the failed attempt's number was rolled back


def test_an_invalid_spec_in_a_new_project_leaves_no_project(store: Store) -> None:
    broken = replace(spec("api"), env={"KEY": float("nan")})  # type: ignore[dict-item]
    with pytest.raises(InvalidSpec):
        make_version(store, "fresh", endpoints=["web", broken], project="newproj")
    assert store.list_projects() == []


def test_deployments_list_their_versions_and_projects_count_deployments(store: Store) -> None:
    make_version(store, "b-second")
    make_version(store, "a-first")
    make_version(store, "a-first")
    make_version(store, "solo", org="zeta", project="proj")

    assert [(p.org, p.name, p.deployments) for p in store.list_projects()] == [
        ("acme", "shop", 2),
        ("zeta", "proj", 1),
    ]
    deployments = store.list_deployments("acme", "shop")
    assert [(d.name, d.versions) for d in deployments] == [("a-first", (1, 2)), ("b-second", (1,))]
    assert all(d.created_at > START for d in deployments)


def test_a_deployment_keeps_the_branch_it_was_created_with(store: Store) -> None:
    make_version(store, branch="main")
    second = make_version(store, branch="feature")
    assert second.branch == "feature"
    assert second.endpoints[0].branch == "feature"
    assert store.list_deployments("acme", "shop")[0].branch == "main"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda s: s.get_version("acme", "shop", "hello", 9),
            "no version 9 of acme/shop/hello",
            id="version",
        ),
        pytest.param(
            lambda s: s.get_version("acme", "shop", "nope", 1),
            "no deployment nope in project acme/shop",
            id="version-of-missing-deployment",
        ),
        pytest.param(
            lambda s: s.list_versions("acme", "shop", "nope"),
            "no deployment nope in project acme/shop",
            id="versions",
        ),
        pytest.param(
            lambda s: s.list_versions("acme", "nope", "hello"),
            "no project acme/nope",
            id="versions-of-missing-project",
        ),
        pytest.param(
            lambda s: s.list_deployments("nope", "shop"),
            "no project nope/shop",
            id="deployments",
        ),
    ],
)
def test_reads_under_a_missing_parent_say_what_is_missing(
    store: Store, call: Callable[[Store], object], message: str
) -> None:
    make_version(store)
    with pytest.raises(NotFound, match=message):
        call(store)


def test_empty_store_lists_nothing(store: Store) -> None:
    assert store.list_projects() == []
    assert store.list_endpoints() == []
    assert store.list_events() == []
    assert store.route_revision() == 0
