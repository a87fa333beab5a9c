"""The gateway's command line: the flags the control plane passes, and bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypost.gateway.__main__ import parse_args


def test_flags_the_control_plane_passes() -> None:
    args = parse_args(
        [
            "--host", "0.0.0.0", "--port", "8080",
            "--control-url", "http://127.0.0.1:8081", "--token-file", "/tmp/t",
            "--workers", "4",
        ]
    )  # fmt: skip
    assert (args.host, args.port, args.workers) == ("0.0.0.0", 8080, 4)
    assert args.control_url == "http://127.0.0.1:8081"
    assert args.token_file == Path("/tmp/t")
    assert args.grace == 10.0


def test_defaults() -> None:
    args = parse_args(["--control-url", "http://c", "--token-file", "t"])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8080, 1)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["--workers", "0"], id="no-workers"),
        pytest.param(["--port", "70000"], id="bad-port"),
        pytest.param(["--workers", "2", "--port", "0"], id="shared-random-port"),
        pytest.param(["--grace", "-1"], id="negative-grace"),
    ],
)
def test_bad_values_exit_with_usage(extra: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(["--control-url", "http://c", "--token-file", "t", *extra])
    assert caught.value.code == 2
