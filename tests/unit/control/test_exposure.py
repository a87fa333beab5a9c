"""exposure_warning(): loopback is quiet; anything else says what is exposed and what to do."""

from __future__ import annotations

import pytest

from waypost.control.platform import exposure_warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_is_quiet(host: str) -> None:
    assert exposure_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::", "my-host.example"])
def test_other_addresses_warn(host: str) -> None:
    warning = exposure_warning(host)
    assert warning is not None
    assert host in warning
    assert "TLS" in warning
