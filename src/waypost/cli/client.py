"""The CLI's only way to the platform: the management API over HTTP.

JSON errors from the API come back as the same ``WaypostError`` subclasses the
server raised (by status), so a refusal keeps its type and its sentence; a
connection failure becomes ``ApiUnreachable`` with a hint instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from waypost.errors import (
    Conflict,
    Forbidden,
    InvalidSpec,
    NotFound,
    Problem,
    TooLarge,
    Unauthorized,
    Unavailable,
    WaypostError,
)

__all__ = ["ApiClient", "ApiUnreachable", "Connection"]

DEFAULT_API_URL = "http://127.0.0.1:8081"

_BY_STATUS: dict[int, type[WaypostError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
    422: InvalidSpec,
    503: Unavailable,
}


class ApiUnreachable(WaypostError):
    """The API did not answer at all (not running, wrong URL, network)."""

    code = "unreachable"


@dataclass(frozen=True)
class Connection:
    """Where the API is and how to authenticate, from the environment of the CLI."""

    url: str
    token: str | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Connection:
        url = (environ.get("WAYPOST_API_URL") or DEFAULT_API_URL).rstrip("/")
        token = environ.get("WAYPOST_TOKEN") or _admin_token(environ)
        return cls(url, token)


def _admin_token(environ: Mapping[str, str]) -> str | None:
    home = Path(environ.get("WAYPOST_HOME") or Path(environ.get("HOME", ".")) / ".waypost")
    try:
        return (home / "admin-token").read_text().strip() or None
    except OSError:
        return None


class ApiClient:
    def __init__(self, connection: Connection, *, transport: httpx.BaseTransport | None = None):
        headers = {"Authorization": f"Bearer {connection.token}"} if connection.token else {}
        self.url = connection.url
        self._http = httpx.Client(
            base_url=connection.url, headers=headers, timeout=60.0, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self._request("GET", path, params=query)

    def put(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._request("PUT", path, json=body)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._request("POST", path, json=body)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._request("PATCH", path, json=body)

    def delete(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self._request("DELETE", path, params=query)

    def upload_stream(self, path: str, stream: BinaryIO, content_type: str, **params: Any) -> Any:
        """PUT a file's bytes as the body, streamed (a model directory can be gigabytes)."""
        query = {k: v for k, v in params.items() if v is not None}
        return self._request(
            "PUT",
            path,
            content=stream,
            params=query,
            headers={"Content-Type": content_type},
            timeout=httpx.Timeout(60.0, write=None, read=600.0),
        )

    def upload_bundle(self, path: str, bundle: bytes, fields: Mapping[str, str]) -> Any:
        files = {"bundle": ("bundle.tar.gz", bundle, "application/gzip")}
        return self._request("POST", path, files=files, data=dict(fields))

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, "/api/v1" + path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiUnreachable(
                f"cannot reach the waypost API at {self.url} ({type(exc).__name__}: {exc}); "
                "is `waypost up` running? (set WAYPOST_API_URL to point elsewhere)"
            ) from exc
        if response.status_code >= 400:
            raise _error_from(response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()


def _error_from(response: httpx.Response) -> WaypostError:
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:500] or response.reason_phrase}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    message = str(body.get("message") or body.get("detail") or response.reason_phrase)
    problems = [
        Problem(
            str(p.get("message", "")),
            file=p.get("file"),
            line=p.get("line"),
            column=p.get("column"),
            field=p.get("field"),
        )
        for p in body.get("problems") or []
        if isinstance(p, dict)
    ]
    kind = _BY_STATUS.get(response.status_code, WaypostError)
    error = kind(message, problems)
    error.status = response.status_code
    return error
