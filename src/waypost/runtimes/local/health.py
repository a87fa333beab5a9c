"""Readiness and liveness probes: one HTTP GET over a raw asyncio connection.

No client library: a probe needs only the status line, and a replica that
accepts the connection but never answers must not hold a probe longer than its
timeout. With a health path, 2xx/3xx means healthy; without one, any HTTP answer
at all does (the app is up, whatever it thinks of ``GET /``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

__all__ = ["ProbeResult", "parse_status_line", "probe"]


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str  # "HTTP 200", "connection refused", ... for messages


def parse_status_line(line: bytes) -> int | None:
    """``HTTP/1.1 204 No Content`` -> 204; None if it is not an HTTP status line."""
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None
    status = int(parts[1])
    return status if 100 <= status <= 999 else None


def _is_healthy(status: int, path: str | None) -> bool:
    return path is None or 200 <= status < 400


async def probe(host: str, port: int, path: str | None, limit: float) -> ProbeResult:
    """GET ``path`` (or ``/``) from ``host:port`` within ``limit`` seconds.

    Never raises for an unhealthy replica: a refused connection or a slow answer
    is a failed probe with a reason.
    """
    target = path if path and path.startswith("/") else "/" + (path or "")
    host_header = f"[{host}]" if ":" in host else host
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {host_header}:{port}\r\n"
        "User-Agent: waypost-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    ).encode("latin-1", "replace")
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            await writer.drain()
            line = await reader.readline()
    except TimeoutError:
        return ProbeResult(False, f"no answer within {limit:g}s")
    except ConnectionRefusedError:
        return ProbeResult(False, "connection refused")
    except OSError as exc:
        return ProbeResult(False, os.strerror(exc.errno) if exc.errno else str(exc))
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    status = parse_status_line(line)
    if status is None:
        return ProbeResult(False, "not an HTTP answer" if line else "connection closed")
    return ProbeResult(_is_healthy(status, path), f"HTTP {status}")
