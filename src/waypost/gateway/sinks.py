"""Log sinks: each project's request-log lines, POSTed in batches to the URLs it configured.

``SinkSet`` follows the route table's ``log_sinks``: a sender per ``(project, url)``,
started when the sink appears and stopped (its buffer dropped) when it goes. The request
log hands every line of a project to that project's senders (``offer``: an append to a
bounded buffer, ``core.sinkbuffer.SinkBuffer``). Each sender is one named task that
POSTs ``application/x-ndjson`` batches of up to ``batch`` lines at least every
``interval`` seconds, and retries a batch that failed (no answer, or a 5xx/408/429)
after ``backoff_initial`` doubling to ``backoff_cap`` seconds; a batch refused with
another status is dropped and counted. Lines dropped by a full buffer are logged once
per change and reported to the sink as ``{"kind":"sink_dropped","count":N}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

import aiohttp

from waypost.gateway.core.backoff import Backoff
from waypost.gateway.core.sinkbuffer import SinkBuffer
from waypost.gateway.options import SinkOptions
from waypost.model.routes import LogSink

__all__ = ["NDJSON", "SinkSet"]

log = logging.getLogger("waypost.gateway.sinks")

NDJSON = "application/x-ndjson"
_RETRY_STATUSES = frozenset({408, 429})


class _Sender:
    def __init__(
        self,
        sink: LogSink,
        session: aiohttp.ClientSession,
        options: SinkOptions,
        clock: Callable[[], float],
    ) -> None:
        self.sink = sink
        self.buffer = SinkBuffer(options.buffer, options.batch, options.interval)
        self._session = session
        self._options = options
        self._backoff = Backoff(options.backoff_initial, options.backoff_cap)
        self._clock = clock
        self._wake = asyncio.Event()
        self._failing: str | None = None
        self._logged_dropped = 0
        self.task: asyncio.Task[None] | None = None

    def add(self, line: str) -> None:
        buffer = self.buffer
        buffer.append(line)
        if len(buffer) == 1 or buffer.full():
            self._wake.set()

    async def run(self) -> None:
        failures = 0
        while True:
            wait = self.buffer.wait_time(self._clock())
            if wait != 0.0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
                continue
            if await self.send_once():
                failures = 0
            else:
                failures += 1
                await asyncio.sleep(self._backoff.delay(failures))

    async def send_once(self) -> bool:
        """Send the pending batch once; False if it is to be retried."""
        batch = self.buffer.batch(self._clock())
        self._log_dropped()
        if not batch:
            return True
        body = ("\n".join(batch) + "\n").encode()
        try:
            async with self._session.post(
                self.sink.url,
                data=body,
                headers={"Content-Type": NDJSON},
                timeout=aiohttp.ClientTimeout(total=self._options.timeout),
                allow_redirects=False,
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._failed(f"the sink is unreachable ({type(exc).__name__})")
            return False
        if 200 <= status < 300:
            self.buffer.sent()
            self._recovered()
            return True
        if status >= 500 or status in _RETRY_STATUSES:
            self._failed(f"the sink answered {status}")
            return False
        lines = self.buffer.reject()
        log.warning(
            "log sink %s refused a batch with %s; %s lines dropped", self._name, status, lines
        )
        return True

    @property
    def _name(self) -> str:
        return f"{self.sink.project} -> {self.sink.url}"

    def _log_dropped(self) -> None:
        dropped = self.buffer.dropped_total
        if dropped != self._logged_dropped:
            self._logged_dropped = dropped
            log.warning("log sink %s: %s lines dropped so far (buffer full)", self._name, dropped)

    def _failed(self, reason: str) -> None:
        if reason != self._failing:
            log.warning("log sink %s: %s; retrying with backoff", self._name, reason)
            self._failing = reason

    def _recovered(self) -> None:
        if self._failing is not None:
            log.info("log sink %s: delivering again", self._name)
            self._failing = None


class SinkSet:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        options: SinkOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._options = options or SinkOptions()
        self._clock = clock
        self._senders: dict[LogSink, _Sender] = {}
        self._by_project: dict[str, tuple[_Sender, ...]] = {}

    def wants(self, project: str) -> bool:
        """Whether ``project`` has a sink (its lines are offered as they are written)."""
        return project in self._by_project

    def offer(self, project: str, line: str) -> None:
        senders = self._by_project.get(project)
        if senders:
            for sender in senders:
                sender.add(line)

    def update(self, sinks: Iterable[LogSink]) -> None:
        """Follow a new route table's sinks: start new senders, stop the ones gone."""
        wanted = set(sinks)
        if wanted == set(self._senders):
            return
        for sink in [s for s in self._senders if s not in wanted]:
            sender = self._senders.pop(sink)
            if sender.task is not None:
                sender.task.cancel()
            log.info("log sink removed: %s -> %s", sink.project, sink.url)
        for sink in sorted(wanted - set(self._senders), key=lambda s: (s.project, s.url)):
            sender = _Sender(sink, self._session, self._options, self._clock)
            sender.task = asyncio.get_running_loop().create_task(
                sender.run(), name=f"gateway-log-sink:{sink.project}:{sink.url}"
            )
            sender.task.add_done_callback(_sender_done)
            self._senders[sink] = sender
            log.info("log sink added: %s -> %s", sink.project, sink.url)
        by_project: dict[str, list[_Sender]] = {}
        for sender in self._senders.values():
            by_project.setdefault(sender.sink.project, []).append(sender)
        self._by_project = {p: tuple(s) for p, s in by_project.items()}

    def senders(self) -> dict[LogSink, SinkBuffer]:
        """Each sink's buffer (for the health page and tests)."""
        return {sink: sender.buffer for sink, sender in self._senders.items()}

    async def close(self, within: float = 2.0) -> None:
        """Stop the senders; try, for up to ``within`` seconds, to send what is left."""
        senders = list(self._senders.values())
        self._senders.clear()
        self._by_project = {}
        for sender in senders:
            if sender.task is not None:
                sender.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender.task

        async def flush(sender: _Sender) -> None:
            while (len(sender.buffer) or sender.buffer.in_flight) and await sender.send_once():
                pass

        if senders:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await asyncio.gather(*(flush(s) for s in senders))


def _sender_done(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed", task.get_name(), exc_info=task.exception())
