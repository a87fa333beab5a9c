"""The gateway's command line: the flags the control plane passes, and bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypost.gateway.__main__ import parse_args
from waypost.gateway.options import (
    GatewayOptions,
    HoldOptions,
    MirrorOptions,
    RequestOptions,
    SinkOptions,
    default_workers,
)


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


def test_a_random_port_gets_one_worker_by_default() -> None:
    args = parse_args(["--control-url", "http://c", "--token-file", "t", "--port", "0"])
    assert args.workers == 1


def test_defaults() -> None:
    args = parse_args(["--control-url", "http://c", "--token-file", "t"])
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8080, default_workers())
    assert args.options == GatewayOptions()
    assert args.options.hold == HoldOptions(queue=1000, deadline=60.0)
    mirror = args.options.mirror
    assert (mirror.concurrency, mirror.queue, mirror.timeout, mirror.body_limit) == (
        16,
        256,
        30.0,
        1024 * 1024,
    )
    assert args.options.sink.buffer == 10_000
    assert args.options.request == RequestOptions(
        max_body=64 * 1024 * 1024, max_header_size=8190, header_timeout=10.0
    )


def test_request_limit_flags() -> None:
    args = parse_args(
        [
            "--control-url", "http://c", "--token-file", "t",
            "--max-body", "1000", "--max-header-size", "4096", "--header-timeout", "2.5",
        ]
    )  # fmt: skip
    assert args.options.request == RequestOptions(
        max_body=1000, max_header_size=4096, header_timeout=2.5
    )


def test_limit_flags() -> None:
    args = parse_args(
        [
            "--control-url", "http://c", "--token-file", "t",
            "--hold-queue", "5", "--wake-timeout", "0.5",
            "--mirror-concurrency", "2", "--mirror-queue", "0", "--mirror-timeout", "1.5",
            "--mirror-body-limit", "100", "--sink-buffer", "50",
        ]
    )  # fmt: skip
    assert args.options.hold == HoldOptions(queue=5, deadline=0.5)
    assert args.options.mirror == MirrorOptions(concurrency=2, queue=0, timeout=1.5, body_limit=100)
    assert args.options.sink == SinkOptions(buffer=50)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(["--workers", "0"], id="no-workers"),
        pytest.param(["--port", "70000"], id="bad-port"),
        pytest.param(["--workers", "2", "--port", "0"], id="shared-random-port"),
        pytest.param(["--grace", "-1"], id="negative-grace"),
        pytest.param(["--hold-queue", "-1"], id="negative-hold-queue"),
        pytest.param(["--wake-timeout", "0"], id="zero-wake-timeout"),
        pytest.param(["--mirror-concurrency", "0"], id="no-mirror-concurrency"),
        pytest.param(["--mirror-timeout", "-2"], id="negative-mirror-timeout"),
        pytest.param(["--sink-buffer", "0"], id="no-sink-buffer"),
        pytest.param(["--max-body", "-1"], id="negative-max-body"),
        pytest.param(["--max-header-size", "100"], id="tiny-max-header-size"),
        pytest.param(["--header-timeout", "0"], id="zero-header-timeout"),
    ],
)
def test_bad_values_exit_with_usage(extra: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(["--control-url", "http://c", "--token-file", "t", *extra])
    assert caught.value.code == 2
