"""The gateway's limits, as frozen values with their defaults (the command line sets them).

Everything a request can make the gateway hold on to is bounded here: the request
itself (header size, the time its headers may take, body size), requests held while
an endpoint wakes, mirror copies and their bodies, log lines waiting for a sink,
traffic counts waiting for the control plane; and how much retrying a failed request
may cost (attempts, and the share of retries in a target's traffic). Per-target
settings (timeouts, concurrency caps) come with the route table instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = [
    "GatewayOptions",
    "HoldOptions",
    "MirrorOptions",
    "ReportOptions",
    "RequestOptions",
    "RetryOptions",
    "SinkOptions",
    "default_workers",
]

MIB = 1024 * 1024


def default_workers() -> int:
    """Gateway worker processes by default: one per CPU core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class RequestOptions:
    #: Largest request body, in bytes: a larger Content-Length is a 413 before any byte
    #: of the body is read; a chunked body is cut off (413, connection closed) at it.
    max_body: int = 64 * MIB
    #: Largest request line and largest header field (name, colon and value), in bytes;
    #: beyond this, 431.
    max_header_size: int = 8190
    #: Seconds a connection may take to send a complete request line and headers,
    #: counted from the connection or from the end of its previous response (so this is
    #: also the idle keep-alive timeout); then it is closed without an answer.
    header_timeout: float = 10.0
    #: Whether ``/-/metrics`` answers clients beyond loopback (it names every project, so
    #: by default only a scraper on the same machine or an allowed proxy reads it).
    metrics_public: bool = False

    def __post_init__(self) -> None:
        _check(self.max_body >= 0, f"max body cannot be negative, got {self.max_body}")
        _check(
            self.max_header_size >= 256,
            f"max header size must be at least 256 bytes, got {self.max_header_size}",
        )
        _check(
            self.header_timeout > 0,
            f"header timeout must be positive, got {self.header_timeout}",
        )


@dataclass(frozen=True)
class HoldOptions:
    #: Requests held per target while it wakes; beyond this, 503 with Retry-After.
    queue: int = 1000
    #: Seconds a held request waits for a ready replica before a 504.
    deadline: float = 60.0

    def __post_init__(self) -> None:
        _check(self.queue >= 0, f"hold queue cannot be negative, got {self.queue}")
        _check(self.deadline > 0, f"wake deadline must be positive, got {self.deadline}")


@dataclass(frozen=True)
class MirrorOptions:
    #: Copies in flight per mirror target (per worker).
    concurrency: int = 16
    #: Copies waiting per mirror target; beyond this, copies are dropped and counted.
    queue: int = 256
    #: Seconds a copy may take, answer read to the end; a hung mirror frees its slot then.
    timeout: float = 30.0
    #: Request bodies up to this many bytes are copied; larger ones are not mirrored.
    body_limit: int = 1 * MIB
    #: Body bytes all copies of a worker may hold at once (queued, in flight, being read).
    memory: int = 64 * MIB
    #: Mirror tasks a worker runs at once, over all targets.
    tasks: int = 4096
    #: Seconds of smoothed event-loop lag beyond which new copies are dropped (the
    #: worker is short of CPU: a copy would slow the primary requests).
    shed_lag: float = 0.005

    def __post_init__(self) -> None:
        _check(self.concurrency >= 1, f"mirror concurrency must be >= 1, got {self.concurrency}")
        _check(self.queue >= 0, f"mirror queue cannot be negative, got {self.queue}")
        _check(self.timeout > 0, f"mirror timeout must be positive, got {self.timeout}")
        _check(self.body_limit >= 0, f"mirror body limit cannot be negative, got {self.body_limit}")
        _check(self.memory >= 0, f"mirror memory cannot be negative, got {self.memory}")
        _check(self.tasks >= 1, f"mirror tasks must be >= 1, got {self.tasks}")
        _check(self.shed_lag > 0, f"mirror shed lag must be positive, got {self.shed_lag}")


@dataclass(frozen=True)
class SinkOptions:
    #: Lines buffered per sink; the oldest are dropped (and counted) beyond this.
    buffer: int = 10_000
    #: Lines per POST.
    batch: int = 500
    #: Seconds between POSTs of a batch that is not full.
    interval: float = 1.0
    #: Seconds one POST may take.
    timeout: float = 10.0
    #: Retry delays after failed POSTs: ``backoff_initial`` doubling up to ``backoff_cap``.
    backoff_initial: float = 0.5
    backoff_cap: float = 30.0

    def __post_init__(self) -> None:
        _check(self.buffer >= 1, f"sink buffer must be >= 1, got {self.buffer}")
        _check(self.batch >= 1, f"sink batch must be >= 1, got {self.batch}")
        _check(self.interval > 0 and self.timeout > 0, "sink interval and timeout must be > 0")


@dataclass(frozen=True)
class ReportOptions:
    #: Seconds between traffic reports.
    interval: float = 1.0
    #: Seconds one report POST may take.
    timeout: float = 5.0
    #: Keys (targets, route backends) whose unsent counts are kept for the next report.
    max_entries: int = 10_000

    def __post_init__(self) -> None:
        _check(self.interval > 0 and self.timeout > 0, "report interval and timeout must be > 0")
        _check(self.max_entries >= 1, f"report max entries must be >= 1, got {self.max_entries}")


@dataclass(frozen=True)
class RetryOptions:
    #: Attempts per request, the first included (1: never retry).
    attempts: int = 3
    #: Retries per target may be this share of its requests over the last 10 s ...
    budget_ratio: float = 0.2
    #: ... or this many per second, whichever is more.
    budget_min_per_second: float = 3.0

    def __post_init__(self) -> None:
        _check(self.attempts >= 1, f"retry attempts must be >= 1, got {self.attempts}")
        _check(
            0 <= self.budget_ratio <= 1,
            f"retry budget ratio must be in [0, 1], got {self.budget_ratio}",
        )
        _check(self.budget_min_per_second >= 0, "retry budget minimum cannot be negative")


@dataclass(frozen=True)
class GatewayOptions:
    request: RequestOptions = field(default_factory=RequestOptions)
    hold: HoldOptions = field(default_factory=HoldOptions)
    mirror: MirrorOptions = field(default_factory=MirrorOptions)
    sink: SinkOptions = field(default_factory=SinkOptions)
    report: ReportOptions = field(default_factory=ReportOptions)
    retry: RetryOptions = field(default_factory=RetryOptions)
