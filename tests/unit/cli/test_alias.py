"""``waypost alias``: the target syntax of ``alias set``, alias references, and rendering."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from waypost.cli.alias import (
    TargetArg,
    alias_path,
    aliases_table,
    parse_alias_ref,
    parse_set,
    parse_target,
    policy_summary,
)
from waypost.cli.main import app
from waypost.errors import InvalidSpec


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        pytest.param("3", TargetArg(3), id="version"),
        pytest.param("latest", TargetArg("latest"), id="latest"),
        pytest.param("3=90", TargetArg(3, weight=90), id="weighted"),
        pytest.param("latest=0", TargetArg("latest", weight=0), id="weight-zero"),
        pytest.param("other-dep:3=10", TargetArg(3, "other-dep", weight=10), id="other-deployment"),
        pytest.param("3/web=10", TargetArg(3, endpoint="web", weight=10), id="endpoint"),
        pytest.param("d:latest/api", TargetArg("latest", "d", "api"), id="everything-no-weight"),
        pytest.param("d_1:12/web=007", TargetArg(12, "d_1", "web", 7), id="everything"),
    ],
)
def test_targets_parse(text: str, parsed: TargetArg) -> None:
    assert parse_target(text) == parsed


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("", "the version must be a number from 1 or latest, not ''", id="empty"),
        pytest.param("v3", "not 'v3'", id="v-prefix"),
        pytest.param("0", "not '0'", id="zero"),
        pytest.param("-1", "not '-1'", id="negative-version"),
        pytest.param("³", "not '³'", id="unicode-digit"),
        pytest.param("3=", "whole number of 0 or more, not ''", id="weight-missing"),
        pytest.param("3=x", "not 'x'", id="weight-not-a-number"),
        pytest.param("3=-1", "not '-1'", id="negative-weight"),
        pytest.param("3=1.5", "not '1.5'", id="fractional-weight"),
        pytest.param(":3", "the deployment before ':' is empty", id="empty-deployment"),
        pytest.param("3/", "give one endpoint name after '/'", id="empty-endpoint"),
        pytest.param("3/a/b", "give one endpoint name after '/'", id="two-endpoints"),
        pytest.param("latest=", "whole number", id="latest-weight-missing"),
    ],
)
def test_bad_targets_say_what_is_wrong_and_the_form(text: str, fragment: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_target(text)
    assert fragment in caught.value.message
    assert "[DEPLOYMENT:]VERSION[/ENDPOINT][=WEIGHT]" in caught.value.message
    assert caught.value.problems[0].field == "TARGET"


def test_plain_split_mirror_and_sticky_bodies() -> None:
    assert parse_set(["3"]) == {"backends": [{"version": 3}], "mirrors": [], "sticky": None}
    assert parse_set(["3=90", "latest=10"])["backends"] == [
        {"version": 3, "weight": 90},
        {"version": "latest", "weight": 10},
    ]
    assert parse_set(["3"], ["5", "cand:latest/web"]) == {
        "backends": [{"version": 3}],
        "mirrors": [{"version": 5}, {"version": "latest", "deployment": "cand", "endpoint": "web"}],
        "sticky": None,
    }
    assert parse_set(["3=50", "4=50"], sticky="header:X-User-ID")["sticky"] == "header:X-User-ID"
    assert parse_set(["3=90", "other-dep:3=10"])["backends"][1] == {
        "version": 3,
        "deployment": "other-dep",
        "weight": 10,
    }


@pytest.mark.parametrize(
    ("targets", "mirrors", "field", "fragment"),
    [
        pytest.param([], [], "TARGETS", "give at least one target", id="none"),
        pytest.param(["3", "4=50"], [], "TARGETS", "give every target a weight", id="mixed"),
        pytest.param(["3"], ["5=10"], "--mirror", "takes no weight", id="weighted-mirror"),
        pytest.param(["3"], ["x"], "--mirror", "not 'x'", id="bad-mirror"),
    ],
)
def test_bad_set_arguments(
    targets: list[str], mirrors: list[str], field: str, fragment: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_set(targets, mirrors)
    assert fragment in caught.value.message
    assert caught.value.problems[0].field == field


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        pytest.param("churn/production", ("churn", "production"), id="deployment-alias"),
        pytest.param("example_ab", (None, "example_ab"), id="alias-file"),
    ],
)
def test_alias_references(text: str, parsed: tuple[str | None, str]) -> None:
    assert parse_alias_ref(text) == parsed


@pytest.mark.parametrize("text", ["", "/x", "x/", "a/b/c"])
def test_bad_alias_references(text: str) -> None:
    with pytest.raises(InvalidSpec, match="DEPLOYMENT/NAME"):
        parse_alias_ref(text)


def test_alias_paths_put_a_dash_for_alias_files() -> None:
    assert alias_path("acme", "shop", "churn", "p") == "/projects/acme/shop/aliases/churn/p"
    assert alias_path("acme", "shop", None, "ab") == "/projects/acme/shop/aliases/-/ab"


def target(version: Any, deployment: str | None = None, endpoint: str | None = None) -> Any:
    return {"deployment": deployment, "version": version, "endpoint": endpoint, "branch": "main"}


POLICY = {
    "backends": [
        {"name": "v3", "weight": 90, "target": target(3)},
        {"name": "exp", "weight": 10, "target": target("latest", "other", "web")},
    ],
    "mirrors": [{"name": "m", "target": target(5)}],
    "sticky": "header:X-User-ID",
}


def test_policy_summary() -> None:
    assert policy_summary(None) == "none"
    assert policy_summary(POLICY) == (
        "v3(3)=90 exp(other:latest/web)=10; mirrors: m(5); sticky header:X-User-ID"
    )


def test_the_alias_table_has_a_row_per_backend_and_mirror() -> None:
    alias = {
        "prefix": "acme/shop/churn/production",
        "policy": POLICY,
        "stats": {
            "backends": [
                {"name": "v3", "weight": 90, "share": 0.9, "target": "acme/shop/churn/3/web",
                 "requests_1m": 40, "errors_1m": 4, "error_rate": 0.1},
                {"name": "exp", "weight": 10, "share": 0.1, "target": None,
                 "requests_1m": 0, "errors_1m": 0, "error_rate": 0.0},
            ],
            "mirrors": [
                {"name": "m", "target": "acme/shop/churn/5/web", "requests_1m": 44,
                 "errors_1m": 1, "dropped_1m": 3},
            ],
        },
    }  # fmt: skip
    console = Console(width=200, record=True)
    console.print(aliases_table([alias]))
    lines = [" ".join(line.split()) for line in console.export_text().splitlines()]
    assert lines == [
        "ALIAS KIND NAME WEIGHT TARGET REQ/1m ERR/1m ERR%",
        "acme/shop/churn/production backend v3 90 (90%) acme/shop/churn/3/web 40 4 10.0%",
        "(sticky header:X-User-ID)",
        "backend exp 10 (10%) routes nowhere yet 0 0 0.0%",
        "mirror m - acme/shop/churn/5/web 44 1 dropped 3",
    ]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["set", "churn/prod", "3=x"], "not 'x'", id="bad-weight"),
        pytest.param(["set", "prod", "3"], "alias files are set with `waypost apply`", id="file"),
        pytest.param(["show", "a/b/c"], "DEPLOYMENT/NAME", id="bad-reference"),
    ],
)
def test_the_commands_refuse_bad_arguments_before_calling_the_api(
    args: list[str], fragment: str
) -> None:
    env = {"WAYPOST_API_URL": "http://127.0.0.1:9", "WAYPOST_TOKEN": "t"}
    result = CliRunner().invoke(app, ["alias", *args, "--project", "acme/shop"], env=env)
    assert result.exit_code == 1, result.output
    assert fragment in result.stderr


def test_deploy_and_apply_help_say_deploy_does_not_apply_aliases() -> None:
    runner = CliRunner()
    deploy = runner.invoke(app, ["deploy", "--help"], env={"COLUMNS": "200"})
    apply = runner.invoke(app, ["apply", "--help"], env={"COLUMNS": "200"})
    assert "Aliases" in deploy.stdout
    assert "waypost apply" in deploy.stdout
    assert "does not apply aliases" in apply.stdout
