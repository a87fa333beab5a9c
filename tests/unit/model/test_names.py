from __future__ import annotations

import pytest

from waypost.errors import InvalidSpec
from waypost.model.names import check_endpoint_name, check_name, name_problems


@pytest.mark.parametrize(
    "name",
    ["ab", "churn-model", "example_deployment", "v1.2", "A9", "a" * 64, "Model_x.y-z"],
)
def test_good_names(name: str) -> None:
    assert name_problems(name) == []


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        pytest.param("a", "2-64 characters", id="too-short"),
        pytest.param("a" * 65, "2-64 characters", id="too-long"),
        pytest.param("1abc", "start with a letter", id="starts-digit"),
        pytest.param("-abc", "start with a letter", id="starts-dash"),
        pytest.param("abc-", "end with a letter or a digit", id="ends-dash"),
        pytest.param("ab c", "only letters, digits", id="space"),
        pytest.param("ab/c", "only letters, digits", id="slash"),
        pytest.param("a--b", "two special characters", id="double-dash"),
        pytest.param("a_.b", "two special characters", id="underscore-dot"),
        pytest.param("émile", "start with a letter", id="non-ascii"),
    ],
)
def test_bad_names(name: str, fragment: str) -> None:
    assert any(fragment in p for p in name_problems(name))


def test_one_problem_per_broken_rule() -> None:
    problems = name_problems("-a--")
    assert len(problems) == 3  # start, end, specials together
    with pytest.raises(InvalidSpec) as info:
        check_name("-a--", "deployment name")
    assert len(info.value.problems) == 3


def test_endpoint_names_are_lowercase_dns_labels() -> None:
    assert check_endpoint_name("predict-v2") == "predict-v2"
    with pytest.raises(InvalidSpec, match="lowercase"):
        check_endpoint_name("Predict_v2")
