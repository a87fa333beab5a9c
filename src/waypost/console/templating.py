"""Jinja2 for the console's pages: one environment, autoescaped, strict about undefined names.

Every page answer carries a Content-Security-Policy that allows scripts, styles and
connections to this origin only (no inline script, no CDN): the pages' data travels
in ``data-`` attributes and ``<script type="application/json">`` blocks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.responses import HTMLResponse

from waypost import __version__
from waypost.console import present

__all__ = ["SECURITY_HEADERS", "STATIC_DIR", "fragment", "page", "render"]

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    duration=present.human_duration,
    bytes=present.human_bytes,
    resource=present.resource_text,
    tone=present.tone,
    percent=present.percent,
)
_env.globals.update(
    STATES=present.STATES,
    version=__version__,
    static=lambda name: f"/console/static/{name}?v={__version__}",
    svg=Markup,  # charts.py output: built from escaped parts
)


def render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, **context), status_code=status, headers=SECURITY_HEADERS)


def fragment(template: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, **context), headers=SECURITY_HEADERS)
