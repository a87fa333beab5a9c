"""Log sink URLs: at most ten distinct absolute http(s) URLs, one problem per broken rule."""

from __future__ import annotations

import pytest

from waypost.control.log_sinks import MAX_LOG_SINKS, log_sink_problems


@pytest.mark.parametrize(
    "urls",
    [
        pytest.param([], id="none"),
        pytest.param(["http://127.0.0.1:9000/logs"], id="http-port-path"),
        pytest.param(["https://logs.example.com/in?key=1", "http://[::1]:80/"], id="https-ipv6"),
        pytest.param([f"http://h/{i}" for i in range(MAX_LOG_SINKS)], id="ten"),
    ],
)
def test_good_urls(urls: list[str]) -> None:
    assert log_sink_problems(urls) == []


@pytest.mark.parametrize(
    ("urls", "field", "fragment"),
    [
        pytest.param(["ftp://h/x"], "urls.0", "not an http:// or https:// URL", id="scheme"),
        pytest.param(["/logs"], "urls.0", "not an http:// or https:// URL", id="relative"),
        pytest.param(["http:///logs"], "urls.0", "with a host", id="no-host"),
        pytest.param(["http://h:99999/"], "urls.0", "is not a URL", id="bad-port"),
        pytest.param(["http://h:port/"], "urls.0", "is not a URL", id="port-not-a-number"),
        pytest.param(["http://h/a b"], "urls.0", "spaces or control characters", id="space"),
        pytest.param(["http://h/\x00"], "urls.0", "control characters", id="control"),
        pytest.param(["http://h/#x"], "urls.0", "#fragment", id="fragment"),
        pytest.param(["http://h/" + "x" * 2048], "urls.0", "at most 2048", id="too-long"),
        pytest.param(["http://h/", "http://h/"], "urls.1", "given twice", id="duplicate"),
        pytest.param(
            [f"http://h/{i}" for i in range(MAX_LOG_SINKS + 1)], "urls", "at most 10", id="eleven"
        ),
    ],
)
def test_bad_urls(urls: list[str], field: str, fragment: str) -> None:
    [problem] = log_sink_problems(urls)
    assert problem.field == field
    assert fragment in problem.message
