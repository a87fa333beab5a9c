"""Free loopback ports for replicas: bind port 0, read the port, let it go.

The port is free when it is handed out, not when the replica binds it a moment
later; the replica runner retries with a new port when a replica reports a bind
clash. Ports this runtime has handed out and still uses are never handed out again.
"""

from __future__ import annotations

import socket
from collections.abc import Container

__all__ = ["free_port"]


def free_port(host: str, avoid: Container[int] = ()) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in avoid:
            return port
    raise OSError(f"no free port on {host}")
