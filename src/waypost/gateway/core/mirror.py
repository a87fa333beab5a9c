"""Mirror copies: where a copy goes, whether its body can be kept, and its queue.

A copy goes to the mirror target under the target's own prefix: ``/`` + target key +
the rest of the request path (``rest`` as matched), with the query as sent, and the
gateway sets ``X-VH-Prefix`` to the target key. A target that strips its prefix gets
the rest only, as a primary request would.

A copy needs the whole request body. Bodies are kept while the primary streams, up
to a limit: ``body_plan`` says from the request's framing whether a copy can be made
(``none``: no body; ``tee``: keep it, the limit still applies while it streams;
``skip``: its declared length is already over the limit).

``Lane`` bounds the copies in flight towards one mirror target: up to ``concurrency``
run, up to ``queue`` wait, the rest are dropped. It holds items of any type and runs
nothing: the shell starts what ``offer`` says to run and asks ``next_or_idle`` for
more when one ends.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Generic, Literal, TypeVar

__all__ = ["Admit", "BodyPlan", "Lane", "body_plan", "mirror_path"]

T = TypeVar("T")

BodyPlan = Literal["none", "tee", "skip"]


def mirror_path(target_key: str, rest: str, *, strip_prefix: bool = False) -> str:
    """The path a mirror copy is sent with (no query): ``/`` + target key + rest."""
    if strip_prefix:
        return rest or "/"
    return f"/{target_key}{rest}"


def body_plan(has_body: bool, content_length: int | None, limit: int) -> BodyPlan:
    """Whether a copy's body can be kept: ``content_length`` None means chunked."""
    if not has_body:
        return "none"
    if content_length is not None and content_length > limit:
        return "skip"
    return "tee"


class Admit(enum.Enum):
    RUN = "run"
    QUEUED = "queued"
    DROPPED = "dropped"


class Lane(Generic[T]):
    """Copies in flight and waiting for one mirror target."""

    __slots__ = ("_queue", "concurrency", "queue_limit", "running")

    def __init__(self, concurrency: int, queue: int) -> None:
        if concurrency < 1 or queue < 0:
            raise ValueError(f"need concurrency >= 1 and queue >= 0, got {concurrency}, {queue}")
        self.concurrency = concurrency
        self.queue_limit = queue
        self.running = 0
        self._queue: deque[T] = deque()

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def idle(self) -> bool:
        return self.running == 0 and not self._queue

    def offer(self, item: T) -> Admit:
        """RUN: start ``item`` now (it counts as running); QUEUED: kept; DROPPED: no room."""
        if self.running < self.concurrency:
            self.running += 1
            return Admit.RUN
        if len(self._queue) < self.queue_limit:
            self._queue.append(item)
            return Admit.QUEUED
        return Admit.DROPPED

    def next_or_idle(self) -> T | None:
        """A running copy ended: the next one to run in its place, or None (one runs less)."""
        if self._queue:
            return self._queue.popleft()
        self.running -= 1
        return None
