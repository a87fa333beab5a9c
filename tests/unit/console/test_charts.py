"""SVG charts as strings: scales, gaps, labels, accessibility."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from waypost.console.charts import Line, endpoint_charts, line_chart, nice_ceiling
from waypost.control.history import Point


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [
        pytest.param(0, 1.0, id="zero"),
        pytest.param(0.3, 0.5, id="fraction"),
        pytest.param(1, 1.0, id="one"),
        pytest.param(7, 10.0, id="seven"),
        pytest.param(13, 20.0, id="thirteen"),
        pytest.param(21, 25.0, id="twenty-one"),
        pytest.param(240, 250.0, id="hundreds"),
        pytest.param(5000, 5000.0, id="exact"),
    ],
)
def test_nice_ceiling(value: float, ceiling: float) -> None:
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_a_chart_is_well_formed_svg_with_a_title_and_description() -> None:
    svg = line_chart("c", "Requests <all>", "req/s", [0, 60, 120], [Line("requests", [1, 2, 4])])
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag in ("svg", ns + "svg")
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c-t c-d"
    assert "Requests &lt;all&gt;" in svg
    assert "requests 4 req/s" in svg  # the latest value, for screen readers
    path = re.search(r'class="series series-0" d="([^"]+)"', svg)
    assert path is not None
    assert path.group(1).count("L") == 2


def test_gaps_lift_the_pen_and_steps_draw_corners() -> None:
    svg = line_chart("c", "t", "u", [0, 1, 2, 3], [Line("a", [1, None, 2, 3], step=True)])
    d = re.search(r' d="(M[^"]+)"', svg)
    assert d is not None
    assert d.group(1).count("M") == 2  # a new stroke after the gap
    assert "H" in d.group(1)
    assert "V" in d.group(1)


def test_no_data_says_so() -> None:
    svg = line_chart("c", "Latency", "ms", [0, 1], [Line("p50", [None, None])])
    assert "no data yet" in svg
    assert 'series-0" d=' not in svg


def test_endpoint_charts_draw_four_plots_from_history() -> None:
    points = [
        Point(0.0, 20, 1, 5.0, 9.0, 2, 1),
        Point(10.0, 40, 0, 6.0, 12.0, 3, 2),
    ]
    charts = endpoint_charts(points, 10.0)
    assert len(charts) == 4
    assert "requests 4 req/s" in charts[0]
    assert "p50 6 ms, p99 12 ms" in charts[1]
    assert "errors 0 per 10 s" in charts[2]
    assert "ready 2 replicas" in charts[3]
