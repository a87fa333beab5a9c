"""choose_prefix / split_prefix: which prefix a path is served under, as plain strings."""

from __future__ import annotations

import pytest

from waypost.prefix import choose_prefix, normalize_prefix, split_prefix

VERSION = "acme/hello/web/1/api"
ALIAS = "acme/hello/web/production/api"
LATEST = "acme/hello/web/latest/api"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("a/b/c/d/e", "/a/b/c/d/e", id="bare"),
        pytest.param("/a/b/c/d/e", "/a/b/c/d/e", id="leading-slash"),
        pytest.param("/a/b/c/d/e/", "/a/b/c/d/e", id="trailing-slash"),
        pytest.param("  a/b  ", "/a/b", id="whitespace"),
        pytest.param("//evil.example/x", "/evil.example/x", id="no-protocol-relative"),
        pytest.param("", None, id="empty"),
        pytest.param("/", None, id="root-only"),
        pytest.param("///", None, id="slashes-only"),
    ],
)
def test_normalize_prefix(value: str, expected: str | None) -> None:
    assert normalize_prefix(value) == expected


@pytest.mark.parametrize(
    ("path", "header", "defaults", "expected"),
    [
        pytest.param(f"/{ALIAS}/predict", ALIAS, [VERSION], (f"/{ALIAS}", "/predict"), id="alias"),
        pytest.param(
            f"/{VERSION}/predict", VERSION, [VERSION], (f"/{VERSION}", "/predict"), id="version"
        ),
        pytest.param(
            f"/{LATEST}/predict", LATEST, [VERSION], (f"/{LATEST}", "/predict"), id="latest"
        ),
        pytest.param(
            f"/{VERSION}/predict", None, [VERSION], (f"/{VERSION}", "/predict"), id="no-header"
        ),
        pytest.param("/predict", None, [VERSION], None, id="no-prefix-at-all"),
        pytest.param("/predict", ALIAS, [VERSION], None, id="stripped-path-with-header"),
        pytest.param(
            f"/{VERSION}/predict",
            "evil.example/phish",
            [VERSION],
            (f"/{VERSION}", "/predict"),
            id="spoofed-header-falls-back-to-default",
        ),
        pytest.param(
            f"/{ALIAS}/predict", "evil.example/phish", [VERSION], None, id="spoofed-header-no-match"
        ),
        pytest.param(
            f"/{ALIAS}/predict",
            f"{ALIAS}/predict/../../x",
            [],
            None,
            id="header-longer-than-path",
        ),
        pytest.param("/a/b/c/d/e", "a/b/c/d/e", [], ("/a/b/c/d/e", ""), id="empty-rest"),
        pytest.param("/a/b/c/d/e/", "a/b/c/d/e", [], ("/a/b/c/d/e", "/"), id="slash-rest"),
        pytest.param("/a/b/c/d/ef", "a/b/c/d/e", [], None, id="segment-boundary"),
        pytest.param("/a/b/c/d/ef/x", "a/b/c/d/e", ["a/b/c/d/e"], None, id="boundary-default"),
        pytest.param("/a/b/c/d/e/f", "/a/b/c/d/e/", [], ("/a/b/c/d/e", "/f"), id="header-slashes"),
        pytest.param(
            "/a/b/c/d/e/hello world", "a/b/c/d/e", [], ("/a/b/c/d/e", "/hello world"), id="space"
        ),
        pytest.param(
            "/a/b/c/d/e/x/y", "a/b/c/d/e", [], ("/a/b/c/d/e", "/x/y"), id="decoded-slash-in-rest"
        ),
        pytest.param(
            "/acme/hello/web-app/1/api/x",
            "acme/hello/web%2Dapp/1/api",
            [],
            ("/acme/hello/web-app/1/api", "/x"),
            id="percent-encoded-header",
        ),
        pytest.param("/a/b/x", "", ["", "a/b"], ("/a/b", "/x"), id="empty-candidates-skipped"),
        pytest.param("/a/b/x", "/", ["a/b"], ("/a/b", "/x"), id="root-header-ignored"),
        pytest.param("/x/a/b/c/d/e", "a/b/c/d/e", [], None, id="prefix-not-at-start"),
        pytest.param("/A/b/c/d/e/x", "a/b/c/d/e", [], None, id="case-sensitive"),
    ],
)
def test_split_prefix(
    path: str, header: str | None, defaults: list[str], expected: tuple[str, str] | None
) -> None:
    assert split_prefix(path, [header, *defaults]) == expected


def test_the_header_wins_over_the_default_when_both_match() -> None:
    # The default is a prefix of the path too, but the header names a longer prefix.
    assert choose_prefix("/a/b/c/d", ["a/b/c", "a/b"]) == "/a/b/c"
    assert choose_prefix("/a/b/c/d", ["a/b", "a/b/c"]) == "/a/b"


def test_latin1_encoded_wsgi_strings_match_percent_encoded_utf8() -> None:
    path = "/caf\xc3\xa9/x"  # "/café/x" as WSGI carries it (UTF-8 bytes in latin-1)
    assert choose_prefix(path, ["caf%C3%A9"], encoding="latin-1") == "/caf\xc3\xa9"
    assert choose_prefix("/café/x", ["caf%C3%A9"]) == "/café"
