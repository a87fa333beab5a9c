"""The alias rules, one per row: each broken rule is one Problem naming its field."""

from __future__ import annotations

import pytest

from waypost.control.alias_facts import ProjectFacts
from waypost.control.aliases import (
    BackendInput,
    MirrorInput,
    alias_problems,
    batch_problems,
    build_policy,
    default_member_name,
)
from waypost.model.policy import AliasPolicy, AliasSpec, Backend, Mirror, Target, VersionRef

FACTS = ProjectFacts(
    "acme/shop",
    versions={
        "churn": {1: frozenset({"web"}), 2: frozenset({"web", "api"}), 3: frozenset({"web"})},
        "other": {1: frozenset({"web"})},
        "empty": {},
    },
    latest={"churn": 2, "other": 1},
)


def backend(
    version: VersionRef,
    weight: int = 1,
    *,
    deployment: str | None = None,
    endpoint: str | None = None,
    name: str | None = None,
    branch: str = "main",
) -> Backend:
    target = Target(deployment, version, endpoint, branch)
    return Backend(name or default_member_name(target, "churn"), target, weight)


def spec(
    *backends: Backend,
    mirrors: tuple[Mirror, ...] = (),
    sticky: str | None = None,
    name: str = "production",
    deployment: str | None = "churn",
) -> AliasSpec:
    return AliasSpec(name, deployment, AliasPolicy(tuple(backends), mirrors, sticky))


def found(s: AliasSpec) -> list[tuple[str | None, str]]:
    return [(p.field, p.message) for p in alias_problems(s, FACTS)]


@pytest.mark.parametrize(
    "good",
    [
        pytest.param(spec(backend(3)), id="plain"),
        pytest.param(spec(backend("latest")), id="plain-latest"),
        pytest.param(spec(backend(3, 90), backend("latest", 10)), id="split"),
        pytest.param(spec(backend(3, 0), backend(2, 1)), id="a-zero-weight-is-fine"),
        pytest.param(
            spec(
                backend(3, 50),
                backend(1, 50, deployment="other"),
                mirrors=(Mirror("shadow", Target("other", "latest", "web")),),
                sticky="header:X-User-ID",
            ),
            id="split-other-deployment-mirror-sticky",
        ),
        pytest.param(spec(backend(2, endpoint="api")), id="endpoint-of-a-version"),
        pytest.param(spec(backend("latest", endpoint="web")), id="endpoint-of-latest"),
        pytest.param(spec(backend(2), sticky="cookie:uid"), id="sticky-cookie"),
        pytest.param(
            spec(backend(2, deployment="churn", name="split_1"), name="ab_file", deployment=None),
            id="alias-file",
        ),
    ],
)
def test_valid_aliases_have_no_problems(good: AliasSpec) -> None:
    assert found(good) == []


@pytest.mark.parametrize(
    ("bad", "field", "fragment"),
    [
        pytest.param(spec(backend(3), name="latest"), "name", "is reserved", id="name-latest"),
        pytest.param(spec(backend(3), name="p"), "name", "2-64 characters", id="name-short"),
        pytest.param(spec(backend(3), name="a b"), "name", "may contain only", id="name-chars"),
        pytest.param(
            spec(backend(3), deployment="ghost"),
            "deployment",
            "no deployment 'ghost' in project acme/shop (deployments: churn, empty, other)",
            id="no-such-deployment",
        ),
        pytest.param(
            spec(backend(3, deployment="churn"), name="churn", deployment=None),
            "name",
            "'churn' is a name used both as a deployment and as an alias file",
            id="file-alias-named-like-a-deployment",
        ),
        pytest.param(
            spec(backend(3), name="ab", deployment=None),
            "backends.v3.deployment",
            "an alias file must name its deployment",
            id="file-alias-target-without-deployment",
        ),
        pytest.param(
            spec(backend(1, deployment="ghost")),
            "backends.ghost-v1.deployment",
            "there is no deployment 'ghost'",
            id="target-deployment-missing",
        ),
        pytest.param(
            spec(backend(9)),
            "backends.v9.version",
            "deployment 'churn' has no version 9 (versions: 1, 2, 3)",
            id="no-such-version",
        ),
        pytest.param(
            spec(backend(0)), "backends.v0.version", "has no version 0", id="version-zero"
        ),
        pytest.param(
            spec(backend("latest", deployment="empty")),
            "backends.empty-latest.version",
            "has no versions yet, so latest points nowhere",
            id="latest-without-versions",
        ),
        pytest.param(
            spec(backend(1, endpoint="api")),
            "backends.v1.endpoint",
            "version 1 of 'churn' has no endpoint 'api' (endpoints: web)",
            id="no-such-endpoint",
        ),
        pytest.param(
            spec(backend("latest", endpoint="api")),
            "backends.latest.endpoint",
            "version 3 of 'churn' has no endpoint 'api'",
            id="latest-means-the-newest-version",
        ),
        pytest.param(
            spec(backend(1, endpoint="Web")),
            "backends.v1.endpoint",
            "only lowercase letters",
            id="bad-endpoint-name",
        ),
        pytest.param(
            spec(backend(1, branch=" ")),
            "backends.v1.branch",
            "branch must not be empty",
            id="empty-branch",
        ),
        pytest.param(spec(), "backends", "at least one backend", id="no-backends"),
        pytest.param(
            spec(backend(1, 0), backend(2, 0)), "backends", "add up to 0", id="weights-zero"
        ),
        pytest.param(
            spec(backend(1, -5), backend(2, 10)),
            "backends.v1.weight",
            "weight must be 0 or more, not -5",
            id="negative-weight",
        ),
        pytest.param(
            spec(backend(1, 50), backend(1, 50, endpoint="web")),
            "backends.v1",
            "'v1' names two backends or mirrors",
            id="duplicate-backend-names",
        ),
        pytest.param(
            spec(backend(1), mirrors=(Mirror("v1", Target(None, 2)),)),
            "mirrors.v1",
            "names two backends or mirrors",
            id="mirror-named-like-a-backend",
        ),
        pytest.param(
            spec(backend(1, name="a b")),
            "backends.a b",
            "backend name 'a b' must be 1-64 letters",
            id="bad-backend-name",
        ),
        pytest.param(
            spec(backend(1), mirrors=(Mirror("shadow", Target("other", 7)),)),
            "mirrors.shadow.version",
            "deployment 'other' has no version 7",
            id="mirror-version-missing",
        ),
        pytest.param(
            spec(backend(1), sticky="query:uid"),
            "sticky",
            "must be header:NAME or cookie:NAME, not 'query:uid'",
            id="bad-sticky",
        ),
        pytest.param(
            spec(backend(1), sticky="header:"), "sticky", "header:NAME", id="sticky-without-name"
        ),
    ],
)
def test_each_broken_rule_is_one_problem_naming_its_field(
    bad: AliasSpec, field: str, fragment: str
) -> None:
    problems = found(bad)
    assert len(problems) == 1, problems
    assert problems[0][0] == field
    assert fragment in problems[0][1]


def test_an_all_digit_name_breaks_two_rules_and_gets_two_problems() -> None:
    assert [m for _, m in found(spec(backend(3), name="12"))] == [
        "alias name must start with a letter",
        "alias name '12' is all digits, which reads as a version number",
    ]


def test_every_broken_rule_is_reported_at_once() -> None:
    bad = spec(
        backend(9, -1),
        backend(1, endpoint="api", deployment="other"),
        mirrors=(Mirror("m", Target("ghost", 1)),),
        sticky="nope",
        name="latest",
    )
    assert [field for field, _ in found(bad)] == [
        "name",
        "backends.v9.weight",
        "backends.v9.version",
        "backends.other-v1.endpoint",
        "mirrors.m.deployment",
        "sticky",
    ]


def test_a_missing_own_deployment_is_said_once_not_per_target() -> None:
    bad = spec(backend(1), backend(1, deployment="other"), deployment="ghost")
    assert [field for field, _ in found(bad)] == ["deployment"]


def test_batch_problems_name_the_alias_and_its_file() -> None:
    good = spec(backend(1))
    broken = AliasSpec(
        "ab", None, AliasPolicy((backend(9, deployment="churn"),)), "endpoints/ab.yaml"
    )
    problems = batch_problems([good, broken, good], FACTS)
    assert [(p.file, p.field) for p in problems] == [
        ("endpoints/ab.yaml", "-/ab: backends.v9.version"),
        (None, "churn/production"),
    ]
    assert "given more than once" in problems[1].message
    assert str(problems[0]).startswith("endpoints/ab.yaml (-/ab: backends.v9.version): ")


@pytest.mark.parametrize(
    ("target", "own", "name"),
    [
        pytest.param(Target(None, 3), "churn", "v3", id="own-version"),
        pytest.param(Target(None, "latest"), "churn", "latest", id="own-latest"),
        pytest.param(Target("churn", 3), "churn", "v3", id="own-named"),
        pytest.param(Target(None, 3, "web"), "churn", "v3", id="endpoint-not-in-name"),
        pytest.param(Target("other", 3), "churn", "other-v3", id="other-deployment"),
        pytest.param(Target("other", "latest"), None, "other-latest", id="alias-file"),
    ],
)
def test_default_member_names(target: Target, own: str | None, name: str) -> None:
    assert default_member_name(target, own) == name


def test_build_policy_fills_in_names_and_keeps_the_given_ones() -> None:
    policy = build_policy(
        "churn",
        [BackendInput(None, Target(None, 3), 90), BackendInput("canary", Target(None, 4), 10)],
        [MirrorInput(None, Target("other", 1))],
        "header:X-User-ID",
    )
    assert policy == AliasPolicy(
        backends=(Backend("v3", Target(None, 3), 90), Backend("canary", Target(None, 4), 10)),
        mirrors=(Mirror("other-v1", Target("other", 1)),),
        sticky="header:X-User-ID",
    )
