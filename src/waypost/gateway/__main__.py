"""``python -m waypost.gateway``: parse the command line, then run one worker or supervise N.

    python -m waypost.gateway --host H --port P --control-url URL --token-file FILE --workers N

The access log (JSON lines) goes to stdout; the gateway's own log lines go to stderr.
With ``--workers 1`` the worker runs in this process; with more, this process forks
them and supervises (see ``workers``). Exit code 0 after a clean stop.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from waypost.gateway.serve import WorkerConfig, run_worker
from waypost.gateway.workers import Supervisor

__all__ = ["main", "parse_args"]


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
        "--workers", type=_positive, default=1, help="worker processes sharing the port"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds requests in flight get to finish on SIGTERM (default 10)",
    )
    args = parser.parse_args(argv)
    if args.workers > 1 and args.port == 0:
        parser.error("--port 0 cannot be shared by several workers; pick a port")
    if args.grace < 0:
        parser.error("--grace cannot be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s",
    )
    config = WorkerConfig(
        host=args.host,
        port=args.port,
        control_url=args.control_url,
        token_file=args.token_file,
        grace=args.grace,
    )
    if args.workers == 1:
        return run_worker(config)
    return Supervisor(config, args.workers).run()


if __name__ == "__main__":
    sys.exit(main())
