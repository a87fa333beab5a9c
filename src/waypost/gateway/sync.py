"""Route sync: keep the worker's route table up to date from the control plane.

``RouteSync.run`` long-polls ``GET {control}/api/v1/internal/routes?after=REV&wait=25``
with the gateway's bearer token (read from its file before every poll, so a rotated
token is picked up). A 200 carries a new snapshot: it is turned into a ``RouteTable``
and handed to ``on_table`` in one call (the swap is one attribute assignment, so a
request sees either the old table or the new one). A 204 means nothing changed: poll
again at once. Anything else (control plane down, 401, a malformed snapshot) leaves
the last table serving and retries after a capped backoff (0.2 s doubling to 5 s).
State changes are logged once: the first failure of a kind, and the recovery.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

import aiohttp

from waypost.gateway.core.backoff import Backoff
from waypost.gateway.core.table import RouteTable
from waypost.gateway.tokenfile import TokenUnavailable, read_token
from waypost.model.routes import RouteSnapshot

__all__ = ["ROUTES_PATH", "RouteSync", "SyncFailed"]

log = logging.getLogger("waypost.gateway.sync")

ROUTES_PATH = "/api/v1/internal/routes"


class SyncFailed(Exception):
    """One poll failed; the message says why, in a form stable across retries."""


class RouteSync:
    def __init__(
        self,
        control_url: str,
        token_file: Path,
        on_table: Callable[[RouteTable], None],
        *,
        wait: float = 25.0,
        backoff: Backoff | None = None,
        gateway_id: str | None = None,
    ) -> None:
        self._url = control_url.rstrip("/") + ROUTES_PATH
        self._token_file = token_file
        self._on_table = on_table
        self._wait = wait
        self._backoff = backoff or Backoff()
        # Each poll reports the revision this worker serves, under this name.
        self.gateway_id = gateway_id or f"{socket.gethostname()}/{os.getpid()}"
        self.revision = -1
        self._failures = 0
        self._failing_reason: str | None = None

    async def run(self) -> None:
        """Poll until cancelled; never raises for a control plane problem."""
        async with aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=self._wait + 10.0, sock_connect=5.0),
            trust_env=False,
        ) as session:
            while True:
                try:
                    await self.poll_once(session)
                except SyncFailed as exc:
                    self._failed(str(exc))
                    await asyncio.sleep(self._backoff.delay(self._failures))
                else:
                    self._recovered()

    async def poll_once(self, session: aiohttp.ClientSession) -> None:
        """One long-poll; installs a new table on 200. SyncFailed on anything wrong."""
        token = self._read_token()
        params = {
            "after": str(self.revision),
            "wait": f"{self._wait:g}",
            "gateway": self.gateway_id,
        }
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with session.get(self._url, params=params, headers=headers) as response:
                if response.status == 204:
                    return
                if response.status != 200:
                    raise SyncFailed(f"the control plane answered {response.status}")
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SyncFailed(f"the control plane is unreachable ({type(exc).__name__})") from exc
        try:
            snapshot = RouteSnapshot.from_json(json.loads(body))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SyncFailed(f"the route snapshot is malformed ({exc!r})") from exc
        table = RouteTable.from_snapshot(snapshot)
        self._on_table(table)
        if self._failing_reason is None:
            log.info(
                "routes: revision %s (%s routes, %s targets)",
                table.revision,
                len(table),
                len(table.targets),
            )
        self.revision = table.revision

    def _read_token(self) -> str:
        try:
            return read_token(self._token_file)
        except TokenUnavailable as exc:
            raise SyncFailed(str(exc)) from exc

    def _failed(self, reason: str) -> None:
        self._failures += 1
        if reason != self._failing_reason:
            log.warning(
                "route sync: %s; serving revision %s, retrying with backoff up to %gs",
                reason,
                self.revision,
                self._backoff.cap,
            )
            self._failing_reason = reason

    def _recovered(self) -> None:
        if self._failing_reason is not None:
            log.info(
                "route sync: back after %s failed polls; revision %s",
                self._failures,
                self.revision,
            )
        self._failures = 0
        self._failing_reason = None
