"""Secret names and sizes, and the box: a key made once with mode 0600, a wrong key refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from waypost.control.secrets import (
    MAX_VALUE_BYTES,
    SecretBox,
    check_secret_name,
    check_secret_value,
)
from waypost.errors import InvalidSpec, TooLarge, Unavailable


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("API_KEY", id="plain"),
        pytest.param("_PRIVATE", id="underscore-first"),
        pytest.param("A1", id="digit-later"),
        pytest.param("X" * 128, id="longest"),
        pytest.param("HOME_DIR", id="reserved-as-a-prefix-only"),
        pytest.param("MY_WAYPOST_URL", id="waypost-inside"),
    ],
)
def test_names_a_secret_may_take(name: str) -> None:
    check_secret_name(name)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        pytest.param("api_key", "not an environment variable name", id="lower-case"),
        pytest.param("1ST", "not an environment variable name", id="digit-first"),
        pytest.param("A-B", "not an environment variable name", id="dash"),
        pytest.param("", "not an environment variable name", id="empty"),
        pytest.param("ÄPI", "not an environment variable name", id="non-ascii"),
        pytest.param("X" * 129, "longer than 128", id="too-long"),
        pytest.param("PORT", "set by waypost itself", id="port"),
        pytest.param("SCRIPT_NAME", "set by waypost itself", id="script-name"),
        pytest.param("VH_DEFAULT_PREFIX", "set by waypost itself", id="prefix"),
        pytest.param("PATH", "set by waypost itself", id="path"),
        pytest.param("PYTHONPATH", "set by waypost itself", id="pythonpath"),
        pytest.param("HOME", "set by waypost itself", id="home"),
        pytest.param("WAYPOST_TOKEN", "set by waypost itself", id="waypost-prefix"),
    ],
)
def test_names_a_secret_may_not_take(name: str, fragment: str) -> None:
    with pytest.raises(InvalidSpec, match=fragment) as raised:
        check_secret_name(name)
    assert raised.value.problems[0].field == "name"


def test_values_up_to_64_kib_of_utf8_are_accepted() -> None:
    check_secret_value("x" * MAX_VALUE_BYTES)
    check_secret_value("")
    with pytest.raises(TooLarge, match="65537 bytes") as raised:
        check_secret_value("x" * (MAX_VALUE_BYTES + 1))
    assert "xxx" not in raised.value.message
    with pytest.raises(TooLarge):
        check_secret_value("é" * (MAX_VALUE_BYTES // 2 + 1))  # two bytes each


def test_the_key_is_made_on_first_use_with_mode_0600_and_kept(tmp_path: Path) -> None:
    key_file = tmp_path / "home" / "secrets.key"
    box = SecretBox(key_file)
    assert not key_file.exists()  # nothing until a secret is used

    token = box.encrypt("s3cret value ✓")

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"s3cret" not in token
    assert box.decrypt(token) == "s3cret value ✓"
    again = SecretBox.in_home(tmp_path / "home")  # a restart reads the same key
    assert again.key_file == key_file
    assert again.decrypt(token) == "s3cret value ✓"


def test_a_value_sealed_with_another_key_is_refused_with_a_sentence(tmp_path: Path) -> None:
    token = SecretBox(tmp_path / "old.key").encrypt("value")
    (tmp_path / "new.key").write_bytes(Fernet.generate_key())

    with pytest.raises(Unavailable, match="encrypted with another key") as raised:
        SecretBox(tmp_path / "new.key").decrypt(token)
    assert str(tmp_path / "new.key") in raised.value.message


def test_a_damaged_key_file_is_refused_with_a_sentence(tmp_path: Path) -> None:
    (tmp_path / "secrets.key").write_text("not a key\n")
    with pytest.raises(Unavailable, match="is not a valid key"):
        SecretBox.in_home(tmp_path).encrypt("value")
