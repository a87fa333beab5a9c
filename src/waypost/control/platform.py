"""``waypost up``: the control plane, a gateway and the local runtime, in the foreground.

Runs until SIGINT/SIGTERM, then stops the gateway and every replica it started.
State lives in the home directory; starting again on the same home brings every
endpoint back to its desired state (the reconciler places the replicas again).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import uvicorn

from waypost.control.api import ControlContext, create_app
from waypost.control.auth import TokenCheck, ensure_token_file, hash_token, new_token
from waypost.control.blobs import BundleStore
from waypost.control.gateway_process import GatewayProcess
from waypost.control.loop import Reconciler
from waypost.control.secrets import SecretBox
from waypost.control.service import ControlService
from waypost.control.traffic import TrafficBook
from waypost.control.watch import ChangeSignal
from waypost.errors import InvalidSpec
from waypost.runtimes.base import Runtime
from waypost.runtimes.local import LocalRuntime
from waypost.settings import Settings
from waypost.store import Store

__all__ = ["exposure_warning", "run_platform"]

log = logging.getLogger("waypost")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``waypost up`` owns shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def run_platform(settings: Settings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations are not news
    try:
        return asyncio.run(_run(settings))
    except KeyboardInterrupt:
        return 130


def _tokens(settings: Settings, store: Store) -> TokenCheck:
    """The admin and gateway tokens live in files in the home and, hashed, in the store."""
    for name, scope in (("admin", "admin"), ("gateway", "gateway")):
        token = ensure_token_file(settings.home / f"{name}-token")
        if store.find_token(hash_token(token)) is None:
            store.create_token(name=name, token_hash=hash_token(token), scope=scope)
    return TokenCheck(store.find_token)


#: How long a token for fetching a bundle (a Kubernetes pod's init container) stays valid.
BUNDLE_TOKEN_TTL = timedelta(minutes=30)


def _runtime(settings: Settings, store: Store) -> Runtime:
    if settings.runtime == "local":
        return LocalRuntime(settings.runtime_dir, host="127.0.0.1")
    if settings.runtime == "kubernetes":
        from waypost.runtimes.kubernetes.factory import create_runtime

        return create_runtime(
            settings, mint_token=lambda: mint_bundle_token(store), environ=os.environ
        )
    raise InvalidSpec(f"unknown runtime {settings.runtime!r}; use local or kubernetes")


def mint_bundle_token(store: Store, now: datetime | None = None) -> str:
    """A new short-lived gateway-scope token (internal routes only: bundles, routes)."""
    token = new_token()
    expires = (now or datetime.now(UTC)) + BUNDLE_TOKEN_TTL
    store.create_token(
        name="bundle-fetch", token_hash=hash_token(token), scope="gateway", expires_at=expires
    )
    return token


async def _run(settings: Settings) -> int:
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = await asyncio.to_thread(Store.open, settings.db_url)
    tokens = await asyncio.to_thread(_tokens, settings, store)
    runtime = _runtime(settings, store)
    await runtime.start()
    changes = ChangeSignal()
    bundles = BundleStore(settings.bundles_dir)
    traffic = TrafficBook()
    secret_box = SecretBox.in_home(settings.home)
    reconciler = Reconciler(
        store,
        runtime,
        bundles,
        changes,
        traffic,
        secret_box=secret_box,
        models_dir=settings.models_dir,
        resolve_spec=settings.effective_spec,
    )
    # A gateway holding a request for a Sleeping endpoint wakes it on the next pass, not in 0.2 s.
    service = ControlService(
        settings,
        store,
        bundles,
        changes,
        traffic=traffic,
        on_waiting=reconciler.poke,
        secret_box=secret_box,
    )
    app = create_app(ControlContext(service, runtime, tokens))
    server = _Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.api_port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )
    gateway = GatewayProcess(
        host=settings.host,
        port=settings.gateway_port,
        control_url=f"http://127.0.0.1:{settings.api_port}",
        token_file=settings.home / "gateway-token",
        pidfile=settings.home / "run" / "gateway.pid",
        log_file=settings.logs_dir / "gateway.log",
        workers=settings.gateway_workers,
    )
    loop = asyncio.get_running_loop()

    def shut_down() -> None:
        changes.close()  # long-polling gateways get their answer now, not in 25 s
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shut_down)
    gateway.clean_up_previous()
    reconciling = asyncio.create_task(reconciler.run(), name="reconciler")
    watching: asyncio.Task[None] | None = None
    try:
        serving = asyncio.create_task(server.serve(), name="api")
        # uvicorn offers a `started` flag, not an event, so poll it (bounded by the bind).
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if serving.done():
            with contextlib.suppress(SystemExit):
                await serving
            print(f"waypost: could not serve the API on {settings.api_url}", file=sys.stderr)
            return 1
        if settings.with_gateway:
            gateway.start()
            watching = asyncio.create_task(gateway.watch(), name="gateway-watch")
        _announce(settings)
        await serving
        return 0
    finally:
        print("waypost: stopping", file=sys.stderr, flush=True)
        gateway.stop()
        if watching:
            watching.cancel()
        reconciling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reconciling
        await reconciler.close()
        await runtime.close()
        await asyncio.to_thread(store.close)


def exposure_warning(host: str) -> str | None:
    """A sentence when ``host`` lets other machines in: waypost itself speaks plain HTTP."""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        if host == "localhost":
            return None
    return (
        f"warning: the API and gateway listen on {host}, reachable from other machines, "
        "over plain HTTP: tokens and traffic cross the network unencrypted. "
        "Put a TLS-terminating proxy in front, or bind 127.0.0.1."
    )


def _announce(settings: Settings) -> None:
    warning = exposure_warning(settings.host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(
        f"waypost is up\n"
        f"  API      {settings.api_url}/api/v1  (docs: {settings.api_url}/api/v1/docs)\n"
        f"  gateway  {settings.gateway_url}/ORG/PROJECT/DEPLOYMENT/VERSION/ENDPOINT/\n"
        f"  home     {settings.home}  (admin token: {settings.admin_token_file})\n"
        f"  stop     Ctrl-C",
        flush=True,
    )
