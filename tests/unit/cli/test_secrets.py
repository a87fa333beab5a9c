"""``waypost secrets set``: where the value comes from when ``--value`` is not given."""

from __future__ import annotations

import io

import pytest
from typer.testing import CliRunner

from waypost.cli.main import app
from waypost.cli.secrets import read_secret_value


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("piped", "value"),
    [
        pytest.param("s3cret\n", "s3cret", id="one-newline-stripped"),
        pytest.param("s3cret", "s3cret", id="no-newline"),
        pytest.param("s3cret\n\n", "s3cret\n", id="only-one-newline-stripped"),
        pytest.param("line 1\nline 2\n", "line 1\nline 2", id="multi-line"),
        pytest.param("  spaced  \n", "  spaced  ", id="spaces-kept"),
        pytest.param("", "", id="empty"),
    ],
)
def test_piped_stdin_is_the_whole_value_less_one_trailing_newline(piped: str, value: str) -> None:
    def no_prompt(text: str) -> str:
        raise AssertionError("piped input must not prompt")

    assert read_secret_value(io.StringIO(piped), no_prompt) == value


def test_a_terminal_gets_a_hidden_prompt_naming_the_secret() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "typed"

    assert read_secret_value(Terminal("unread"), prompt, name="API_KEY") == "typed"
    assert asked == ["value of API_KEY: "]


def test_set_reads_stdin_and_reports_an_unreachable_api_without_the_value() -> None:
    env = {"WAYPOST_API_URL": "http://127.0.0.1:9", "WAYPOST_TOKEN": "t"}
    result = CliRunner().invoke(
        app, ["secrets", "set", "API_KEY", "--project", "acme/shop"], input="s3cret\n", env=env
    )
    assert result.exit_code == 2, result.output
    assert "cannot reach the waypost API" in result.stderr
    assert "s3cret" not in result.output
