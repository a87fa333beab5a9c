"""The benchmark's trivial app: a WSGI hello, served by gunicorn (``bench.gateway``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

BODY = b'{"hello": "world"}'


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("CONTENT_LENGTH"):
        environ["wsgi.input"].read()  # a prediction's input, read as a model server would
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
    )
    return [BODY]
