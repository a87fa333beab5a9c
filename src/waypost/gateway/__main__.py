"""``python -m waypost.gateway``: parse the command line, then run one worker or supervise N.

    python -m waypost.gateway --host H --port P --control-url URL --token-file FILE --workers N

The limits (request size and header time, held requests, mirrors, log sink buffers)
have flags of their own, with the
defaults of ``waypost.gateway.options``. The request log (JSON lines) goes to stdout;
the gateway's own log lines go to stderr.
With ``--workers 1`` the worker runs in this process; with more, this process forks
them and supervises (see ``workers``). Exit code 0 after a clean stop.

``--reuse-port`` lets a new gateway bind the port of one still running (a rolling
restart: start the new one, SIGTERM the old, which drains); with several workers it
is always on. The metrics of all workers are kept in ``--metrics-dir`` (default: a
temporary directory, removed at exit), which must be set in the environment before
anything imports prometheus-client: that is why ``serve`` and ``workers`` are
imported inside ``main``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from waypost.gateway.options import (
    GatewayOptions,
    HoldOptions,
    MirrorOptions,
    RequestOptions,
    RetryOptions,
    SinkOptions,
    default_workers,
)

__all__ = ["MULTIPROC_ENV", "main", "options_from", "parse_args"]

#: Where prometheus-client's multiprocess mode keeps each process's values.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port: {value}")
    return value


_HOLD, _MIRROR, _SINK, _REQUEST, _RETRY = (
    HoldOptions(),
    MirrorOptions(),
    SinkOptions(),
    RequestOptions(),
    RetryOptions(),
)
#: The limit flags: (flag, type, default, what it sets); ``options_from`` reads them back.
_LIMIT_FLAGS: tuple[tuple[str, type[int] | type[float], float, str], ...] = (
    ("--retry-attempts", int, _RETRY.attempts, "attempts per request, on different replicas"),
    (
        "--mirror-shed-lag",
        float,
        _MIRROR.shed_lag * 1000,
        "event loop lag in ms beyond which mirror copies are dropped",
    ),
    ("--max-body", int, _REQUEST.max_body, "largest request body in bytes; larger is a 413"),
    (
        "--max-header-size",
        int,
        _REQUEST.max_header_size,
        "largest request line or header field in bytes; larger is a 431",
    ),
    (
        "--header-timeout",
        float,
        _REQUEST.header_timeout,
        "seconds a connection may take to send its request headers, also the idle "
        "keep-alive timeout",
    ),
    ("--hold-queue", int, _HOLD.queue, "requests held per endpoint while it wakes"),
    ("--wake-timeout", float, _HOLD.deadline, "seconds a held request waits before a 504"),
    (
        "--mirror-concurrency",
        int,
        _MIRROR.concurrency,
        "mirror copies in flight per mirror target",
    ),
    ("--mirror-queue", int, _MIRROR.queue, "mirror copies waiting per mirror target"),
    ("--mirror-timeout", float, _MIRROR.timeout, "seconds a mirror copy may take"),
    (
        "--mirror-body-limit",
        int,
        _MIRROR.body_limit,
        "largest request body mirrored, in bytes",
    ),
    ("--sink-buffer", int, _SINK.buffer, "request-log lines buffered per log sink"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m waypost.gateway",
        description="The waypost gateway: serves /ORG/PROJECT/DEPLOYMENT/SELECTOR/ENDPOINT/...",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8080, help="port to bind (default 8080)")
    parser.add_argument(
        "--control-url", required=True, help="the control plane, e.g. http://127.0.0.1:8081"
    )
    parser.add_argument(
        "--token-file", type=Path, required=True, help="file holding the gateway's bearer token"
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help=f"worker processes sharing the port (default: one per CPU core, here "
        f"{default_workers()}; one with --port 0)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds requests in flight get to finish on SIGTERM (default 10)",
    )
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="bind with SO_REUSEPORT, so a new gateway can take over the port (rolling restart)",
    )
    parser.add_argument(
        "--metrics-dir",
        type=Path,
        default=None,
        help="directory for the workers' metric files (default: a temporary one)",
    )
    limits = parser.add_argument_group("limits (per worker)")
    for flag, kind, default, text in _LIMIT_FLAGS:
        shown = f"{default:g}" if kind is float else default
        limits.add_argument(flag, type=kind, default=default, help=f"{text} (default {shown})")
    limits.add_argument(
        "--metrics-public",
        action="store_true",
        help="serve /-/metrics to any client, not only to loopback ones",
    )
    args = parser.parse_args(argv)
    if args.workers is None:  # a random port cannot be shared: one worker then
        args.workers = 1 if args.port == 0 else default_workers()
    if args.workers > 1 and args.port == 0:
        parser.error("--port 0 cannot be shared by several workers; pick a port")
    if args.grace < 0:
        parser.error("--grace cannot be negative")
    try:
        args.options = options_from(args)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def options_from(args: argparse.Namespace) -> GatewayOptions:
    """The limits the command line asked for; ValueError names a bad one."""
    return GatewayOptions(
        request=RequestOptions(
            max_body=args.max_body,
            max_header_size=args.max_header_size,
            header_timeout=args.header_timeout,
            metrics_public=args.metrics_public,
        ),
        hold=HoldOptions(queue=args.hold_queue, deadline=args.wake_timeout),
        mirror=MirrorOptions(
            concurrency=args.mirror_concurrency,
            queue=args.mirror_queue,
            timeout=args.mirror_timeout,
            body_limit=args.mirror_body_limit,
            shed_lag=args.mirror_shed_lag / 1000,
        ),
        sink=SinkOptions(buffer=args.sink_buffer),
        retry=RetryOptions(attempts=args.retry_attempts),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s",
    )
    created = args.metrics_dir is None
    metrics_dir = (
        Path(tempfile.mkdtemp(prefix="waypost-gateway-metrics-")) if created else args.metrics_dir
    )
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):  # a previous run's values
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(metrics_dir)
    # Imported now: prometheus-client reads MULTIPROC_ENV when it is first imported.
    from waypost.gateway.serve import WorkerConfig, run_worker
    from waypost.gateway.workers import Supervisor

    config = WorkerConfig(
        host=args.host,
        port=args.port,
        control_url=args.control_url,
        token_file=args.token_file,
        grace=args.grace,
        options=args.options,
        reuse_port=args.reuse_port,
        workers=args.workers,
    )
    try:
        if args.workers == 1:
            return run_worker(config)
        return Supervisor(config, args.workers).run()
    finally:
        if created:
            shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
