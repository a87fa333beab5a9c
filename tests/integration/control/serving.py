"""The control plane's app served for real: uvicorn on a free loopback port, in a thread.

For the tests that drive the API through the CLI, which speaks HTTP to a URL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from tests.support.platform import free_port

__all__ = ["serving"]

_START_WITHIN = 10.0


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` served until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", ws="none", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="live-api", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_WITHIN
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise AssertionError(f"the API did not start within {_START_WITHIN:g}s")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(_START_WITHIN)
