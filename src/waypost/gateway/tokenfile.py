"""The gateway's bearer token, read from its file before every call to the control plane.

Reading it each time means a rotated token is picked up without a restart.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TokenUnavailable", "read_token"]


class TokenUnavailable(Exception):
    """The token file cannot be read or is empty; the message names the file."""


def read_token(path: Path) -> str:
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise TokenUnavailable(f"cannot read the token file {path}") from exc
    if not token:
        raise TokenUnavailable(f"the token file {path} is empty")
    return token
