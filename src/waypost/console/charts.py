"""Line charts as SVG text, drawn from the traffic history: pure, no chart library.

Why hand-written: the console may reach nothing outside the machine (no CDN) and the
project commits no third-party code, and four time-series line charts need only
scales, grid lines, a path per series and labels — about a hundred lines. The SVG is
made on the server and swapped into the page like any other partial, so a chart is
tested as a string. Colours come from CSS classes (``series-0``...), so the page's
palette (and its contrast) is defined in one stylesheet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from waypost.control.history import Point

__all__ = ["Line", "endpoint_charts", "line_chart", "nice_ceiling"]

WIDTH, HEIGHT = 560, 190
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 28, 26


@dataclass(frozen=True)
class Line:
    name: str
    values: Sequence[float | None]  # one per x; None: not measured (a gap)
    step: bool = False  # draw as steps (counts), not slopes


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value`` (> 0)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return float(step * power)
    return float(10 * power)


def _label(value: float) -> str:
    """A tick or value label: at most two decimals, trailing zeros dropped (1.25, 0.5, 40)."""
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def line_chart(
    chart_id: str, title: str, unit: str, xs: Sequence[float], lines: Sequence[Line]
) -> str:
    """One chart: ``xs`` are Unix times, shown as minutes before the last one."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    known = [v for line in lines for v in line.values if v is not None]
    top = nice_ceiling(max(known, default=0.0))
    x0, x1 = (xs[0], xs[-1]) if xs else (0.0, 1.0)
    span = (x1 - x0) or 1.0

    def x(t: float) -> float:
        return LEFT + (t - x0) / span * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / top * plot_h

    latest = ", ".join(
        f"{line.name} {_label(_last(line.values))} {unit}" for line in lines if known
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" data-points="{len(xs)}">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(latest or "no traffic measured yet")}</desc>',
        f'<text class="chart-title" x="{LEFT}" y="16">{escape(title)} ({escape(unit)})</text>',
    ]
    for i in range(5):
        value = top * i / 4
        gy = y(value)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">'
            f"{_label(value)}</text>"
        )
    for minutes in range(0, int(span // 60) + 1, 15):
        tx = x(x1 - minutes * 60)
        text = "now" if minutes == 0 else f"-{minutes}m"
        parts.append(
            f'<text class="tick" x="{tx:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{text}</text>'
        )
    for n, line in enumerate(lines):
        d = _path(xs, line, x, y)
        if d:
            parts.append(f'<path class="series series-{n}" d="{d}"/>')
        parts.append(
            f'<text class="legend series-{n}" x="{WIDTH - RIGHT - 90 * (len(lines) - n)}" '
            f'y="16">{escape(line.name)}</text>'
        )
    if not known:
        parts.append(
            f'<text class="empty" x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" '
            'text-anchor="middle">no data yet</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _last(values: Sequence[float | None]) -> float:
    return next((v for v in reversed(values) if v is not None), 0.0)


def _path(
    xs: Sequence[float], line: Line, x: Callable[[float], float], y: Callable[[float], float]
) -> str:
    """SVG path data; a gap (None) lifts the pen."""
    out: list[str] = []
    pen_down = False
    for t, v in zip(xs, line.values, strict=True):
        if v is None:
            pen_down = False
            continue
        px, py = x(t), y(v)
        if not pen_down:
            out.append(f"M{px:.1f},{py:.1f}")
        elif line.step:
            out.append(f"H{px:.1f}V{py:.1f}")
        else:
            out.append(f"L{px:.1f},{py:.1f}")
        pen_down = True
    return "".join(out)


def endpoint_charts(points: Sequence[Point], bucket_seconds: float) -> list[str]:
    """The four charts of an endpoint's detail page, from its history."""
    xs = [p.at for p in points]
    return [
        line_chart(
            "chart-rps",
            "Requests",
            "req/s",
            xs,
            [Line("requests", [p.requests / bucket_seconds for p in points])],
        ),
        line_chart(
            "chart-latency",
            "Latency",
            "ms",
            xs,
            [Line("p50", [p.p50_ms for p in points]), Line("p99", [p.p99_ms for p in points])],
        ),
        line_chart(
            "chart-errors",
            "Errors",
            "per 10 s" if bucket_seconds == 10 else f"per {bucket_seconds:g} s",
            xs,
            [Line("errors", [float(p.errors) for p in points], step=True)],
        ),
        line_chart(
            "chart-replicas",
            "Replicas ready",
            "replicas",
            xs,
            [
                Line(
                    "ready",
                    [None if p.ready is None else float(p.ready) for p in points],
                    step=True,
                ),
                Line("in flight", [float(p.in_flight) for p in points], step=True),
            ],
        ),
    ]
