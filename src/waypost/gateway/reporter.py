"""The traffic report: what this worker saw, POSTed to the control plane every second.

``Reporter.run`` sends a ``model.report.GatewayReport`` to
``{control}/api/v1/internal/report`` with the gateway's bearer token, every
``interval`` seconds, and at once when ``nudge`` is called (a target started waiting
for a wake: the control plane should not learn of it up to a second late). The counts
are deltas taken from the handler's ``TrafficCounter``; a report that did not land
gives them back, so the next one carries them (bounded by the counter). ``interval``
is the time since the last report that landed. Each target's load lists the requests
in flight per replica (``replicas``, the balancer's counts). Failures are logged once per kind and
the recovery once; the report is simply tried again at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import aiohttp

from waypost.gateway.core.traffic import TrafficCounter
from waypost.gateway.options import ReportOptions
from waypost.gateway.tokenfile import TokenUnavailable, read_token
from waypost.model.report import GatewayReport

__all__ = ["REPORT_PATH", "Reporter"]

log = logging.getLogger("waypost.gateway.report")

REPORT_PATH = "/api/v1/internal/report"


class Reporter:
    def __init__(
        self,
        control_url: str,
        token_file: Path,
        gateway_id: str,
        traffic: TrafficCounter,
        waiting: Callable[[], tuple[str, ...]],
        *,
        options: ReportOptions | None = None,
        wall_clock: Callable[[], float] = time.time,
        replicas: Callable[[], Mapping[str, Mapping[str, int]]] = dict,
    ) -> None:
        self._replicas = replicas
        self._url = control_url.rstrip("/") + REPORT_PATH
        self._token_file = token_file
        self.gateway_id = gateway_id
        self._traffic = traffic
        self._waiting = waiting
        self._options = options or ReportOptions()
        self._now = wall_clock
        self._nudged = asyncio.Event()
        self._last_sent = wall_clock()
        self._failing: str | None = None
        self._lost_logged = 0
        self.sent = 0

    def nudge(self) -> None:
        """Send a report now, not at the next tick."""
        self._nudged.set()

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Report until cancelled; never raises for a control plane problem."""
        interval = self._options.interval
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), max(0.0, next_tick - loop.time()))
            self._nudged.clear()
            if loop.time() >= next_tick:
                next_tick = loop.time() + interval
            await self.send_once(session)

    async def send_once(self, session: aiohttp.ClientSession) -> bool:
        """One report; True if it landed (its counts are given back if not)."""
        delta = self._traffic.take(self._replicas())
        now = self._now()
        report = GatewayReport(
            gateway=self.gateway_id,
            at=now,
            interval=round(max(0.0, now - self._last_sent), 3),
            targets=delta.targets,
            backends=delta.backends,
            waiting=self._waiting(),
        )
        reason = await self._post(session, report)
        if reason is not None:
            self._traffic.give_back(delta)
            self._failed(reason)
            return False
        self._last_sent = now
        self.sent += 1
        self._recovered()
        return True

    async def _post(self, session: aiohttp.ClientSession, report: GatewayReport) -> str | None:
        """None if the report landed, else why not (stable across retries, for the log)."""
        try:
            token = read_token(self._token_file)
        except TokenUnavailable as exc:
            return str(exc)
        try:
            async with session.post(
                self._url,
                json=report.to_json(),
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=self._options.timeout),
                allow_redirects=False,
            ) as response:
                await response.read()
                if not 200 <= response.status < 300:
                    return f"the control plane answered {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"the control plane is unreachable ({type(exc).__name__})"
        return None

    def _failed(self, reason: str) -> None:
        if reason != self._failing:
            log.warning("traffic report: %s; keeping the counts, retrying every tick", reason)
            self._failing = reason
        lost = self._traffic.lost
        if lost != self._lost_logged:
            log.warning("traffic report: %s counts dropped (too many keys kept)", lost)
            self._lost_logged = lost

    def _recovered(self) -> None:
        if self._failing is not None:
            log.info("traffic report: delivered again")
            self._failing = None
