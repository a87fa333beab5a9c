"""Scoped tokens through the real CLI: created once, limited by scope and project, revocable."""

from __future__ import annotations

import json

import pytest

from tests.support.platform import EXAMPLES, Platform

pytestmark = pytest.mark.e2e


def test_read_and_deploy_tokens(platform: Platform) -> None:
    made = platform.cli("tokens", "create", "reader", "--scope", "read", "--json")
    assert made.returncode == 0, made.stderr
    reader = json.loads(made.stdout)
    deployer = json.loads(
        platform.cli(
            "tokens", "create", "shipper", "--scope", "deploy", "--project", "acme/hello", "--json"
        ).stdout
    )

    as_reader = platform.cli_as(reader["token"], "deploy", str(EXAMPLES / "server-command"))
    assert as_reader.returncode == 1
    assert "a read token cannot POST" in as_reader.stderr

    as_deployer = platform.cli_as(deployer["token"], "deploy", str(EXAMPLES / "server-command"))
    assert as_deployer.returncode == 0, as_deployer.stderr
    elsewhere = platform.cli_as(deployer["token"], "status", "--project", "other/place", "--json")
    assert elsewhere.returncode == 1
    assert "limited to project acme/hello" in elsewhere.stderr

    listed = json.loads(platform.cli("tokens", "list", "--json").stdout)
    assert {t["name"] for t in listed} >= {"admin", "gateway", "reader", "shipper"}
    assert all("token" not in t for t in listed)

    assert platform.cli("tokens", "revoke", str(reader["id"])).returncode == 0
    revoked = platform.cli_as(reader["token"], "status", "--json")
    assert revoked.returncode == 1
    assert "not valid" in revoked.stderr
