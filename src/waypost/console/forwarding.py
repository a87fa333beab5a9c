"""The playground's request, checked and turned into what is sent to the gateway: pure.

The browser cannot call the gateway's port (another origin), so the console forwards
a playground request server-side. Only to the endpoint's own URL: the path is a
relative path under ``{gateway}/{key}/`` with no ``.``/``..`` segment (raw or
percent-encoded), so no input reaches another endpoint or another host. The user's
token is added for a private endpoint only, and never when the user set their own
``Authorization``; hop-by-hop headers, ``Host``, ``Cookie`` and ``Content-Length``
are the HTTP client's business and are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field

from waypost.errors import InvalidSpec, Problem
from waypost.gateway.core.headers import HOP_BY_HOP, canonical

__all__ = [
    "MAX_BODY",
    "PlaygroundCall",
    "response_body",
    "shown_headers",
    "upstream_headers",
    "upstream_url",
]

#: The largest request body the playground forwards (an uploaded image, base64).
MAX_BODY = 16 * 1024 * 1024
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
_DROPPED = HOP_BY_HOP | {"host", "cookie", "content-length", "expect"}

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class PlaygroundCall(BaseModel):
    """What the playground asks the console to send: the body of ``POST /console/playground``."""

    model_config = ConfigDict(extra="forbid")

    method: Method = "POST"
    #: Relative to the endpoint's URL, query string included: ``v1/embeddings?x=1``.
    path: str = Field(default="", max_length=4000)
    headers: dict[str, str] = Field(default_factory=dict, max_length=100)
    body: str | None = Field(default=None, max_length=MAX_BODY)


def upstream_url(gateway_url: str, key: str, path: str) -> str:
    """``{gateway}/{key}/{path}``; InvalidSpec if ``path`` could leave the endpoint."""
    rest = path.lstrip("/")
    route, _, query = rest.partition("?")
    problems = []
    if any(c in rest for c in "\\#") or any(ord(c) < 0x21 or ord(c) == 0x7F for c in rest):
        problems.append("the path may not hold spaces, control characters, '\\' or '#'")
    if any(unquote(segment) in (".", "..") for segment in route.split("/")):
        problems.append("the path may not hold '.' or '..' segments")
    if problems:
        raise InvalidSpec.of([Problem(p, field="path") for p in problems])
    url = f"{gateway_url.rstrip('/')}/{key}/{route}"
    return f"{url}?{query}" if query else url


def upstream_headers(
    given: Mapping[str, str], *, token: str | None, private: bool
) -> list[tuple[str, str]]:
    """The headers to send; InvalidSpec for a name or value HTTP does not allow."""
    problems = []
    headers: list[tuple[str, str]] = []
    for name, value in given.items():
        if not _TOKEN.match(name):
            problems.append(Problem(f"{name!r} is not a valid header name", field="headers"))
        elif any(c in value for c in "\r\n\0"):
            problems.append(Problem(f"the value of {name} holds a line break", field="headers"))
        elif canonical(name) not in _DROPPED:
            headers.append((name, value))
    if problems:
        raise InvalidSpec.of(problems)
    has_own = any(canonical(name) == "authorization" for name, _ in headers)
    if private and token and not has_own:
        headers.append(("Authorization", f"Bearer {token}"))
    return headers


def shown_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The response's headers as the playground shows them (hop-by-hop left out)."""
    return [(name, value) for name, value in headers if canonical(name) not in HOP_BY_HOP]


def response_body(data: bytes) -> tuple[str | None, bool]:
    """(text, is_text): the body as text when it is UTF-8, else (None, False)."""
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        return None, False
