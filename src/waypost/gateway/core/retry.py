"""When a failed upstream request may be sent again, and how many retries a target affords.

``may_retry`` is the rule, from what is known when an attempt fails:

- ``connect``: no connection to the replica (refused, reset or timed out while
  connecting): nothing was sent, so any method may go to another replica;
- ``sent``: the request went out (fully or in part) and the replica failed before
  its response headers (reset, hang-up). Only idempotent methods (RFC 9110
  section 9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE) are sent again, or any method
  of a target that opted in (``retry_non_idempotent``) — and only if the body can be
  replayed (the gateway kept it, see ``REPLAY_LIMIT``).

A timeout is never retried (the gateway answers 504: waiting as long again elsewhere
would double the latency the target's owner set as the limit).

``RetryBudget`` keeps retries from amplifying an outage: per target, over a sliding
window of ``window`` seconds (one-second buckets), retries may be at most ``ratio`` of
the requests, or ``min_per_second`` per second when there is little traffic (the same
idea as Envoy's and Finagle's retry budgets). Time is an argument.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

__all__ = ["IDEMPOTENT", "REPLAY_LIMIT", "Failure", "RetryBudget", "may_retry"]

#: Methods that may be repeated without changing the outcome (RFC 9110 section 9.2.2).
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Request bodies up to this many bytes are kept so a failed attempt can be replayed.
REPLAY_LIMIT = 64 * 1024

Failure = Literal["connect", "sent"]


def may_retry(
    method: str,
    failure: Failure,
    *,
    attempt: int,
    max_attempts: int,
    opt_in: bool = False,
    body_replayable: bool = True,
) -> bool:
    """May attempt number ``attempt`` (1-based), which failed with ``failure``, be retried?"""
    if attempt >= max_attempts:
        return False
    if failure == "connect":
        return True
    return body_replayable and (opt_in or method in IDEMPOTENT)


@dataclass(slots=True)
class _Bucket:
    second: int
    requests: int = 0
    retries: int = 0


class RetryBudget:
    """Per target: retries allowed so far in the sliding window."""

    __slots__ = ("_buckets", "min_per_second", "ratio", "window")

    def __init__(
        self, *, ratio: float = 0.2, min_per_second: float = 3.0, window: int = 10
    ) -> None:
        if not 0 <= ratio <= 1 or min_per_second < 0 or window < 1:
            raise ValueError(f"bad retry budget: {ratio=}, {min_per_second=}, {window=}")
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.window = window
        self._buckets: dict[str, deque[_Bucket]] = {}

    def request(self, key: str, now: float) -> None:
        """A request (first attempt) for target ``key`` started."""
        self._bucket(key, now).requests += 1

    def try_spend(self, key: str, now: float) -> bool:
        """Take one retry from ``key``'s budget; False if it is spent."""
        current = self._bucket(key, now)
        buckets = self._buckets[key]
        requests = sum(b.requests for b in buckets)
        retries = sum(b.retries for b in buckets)
        allowed = max(self.ratio * requests, self.min_per_second * self.window)
        if retries + 1 > allowed:
            return False
        current.retries += 1
        return True

    def retain(self, keys: set[str] | frozenset[str]) -> None:
        """Forget targets that left the route table."""
        for key in [k for k in self._buckets if k not in keys]:
            del self._buckets[key]

    def _bucket(self, key: str, now: float) -> _Bucket:
        second = int(now)
        buckets = self._buckets.get(key)
        if buckets is None:
            buckets = self._buckets[key] = deque()
        while buckets and buckets[0].second <= second - self.window:
            buckets.popleft()
        if buckets and buckets[-1].second == second:
            return buckets[-1]
        bucket = _Bucket(second)
        buckets.append(bucket)
        return bucket
