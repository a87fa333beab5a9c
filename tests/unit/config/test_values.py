"""parse_memory and the single-value checks."""

from __future__ import annotations

import pytest

from waypost.config import parse_memory


@pytest.mark.parametrize(
    ("value", "size"),
    [
        pytest.param("512Mi", 512 * 2**20, id="mebibytes"),
        pytest.param("2Gi", 2 * 2**30, id="gibibytes"),
        pytest.param("1G", 10**9, id="gigabytes"),
        pytest.param("500M", 500 * 10**6, id="megabytes"),
        pytest.param("1.5Gi", 3 * 2**29, id="fraction"),
        pytest.param("64Ki", 64 * 1024, id="kibibytes"),
        pytest.param("128k", 128_000, id="kilobytes"),
        pytest.param("1Ti", 2**40, id="tebibytes"),
        pytest.param("256MiB", 256 * 2**20, id="trailing-b"),
        pytest.param(" 4 Gi ", 4 * 2**30, id="spaces"),
        pytest.param("1048576", 2**20, id="bytes-as-text"),
        pytest.param(1073741824, 2**30, id="int-bytes"),
        pytest.param(0, 0, id="zero"),
    ],
)
def test_memory(value: str | int, size: int) -> None:
    assert parse_memory(value) == size


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("Mi", id="no-number"),
        pytest.param("12X", id="unknown-unit"),
        pytest.param("-1Gi", id="negative-text"),
        pytest.param("1e9", id="exponent"),
        pytest.param("1 G i", id="split-unit"),
        pytest.param(-5, id="negative-int"),
        pytest.param(True, id="bool"),
        pytest.param(1.5, id="float"),
    ],
)
def test_not_memory(value: object) -> None:
    with pytest.raises(ValueError, match="memory size"):
        parse_memory(value)  # type: ignore[arg-type]
