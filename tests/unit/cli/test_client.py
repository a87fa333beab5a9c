"""ApiClient: JSON errors keep their class and problems; no answer is ApiUnreachable."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from waypost.cli.client import ApiClient, ApiUnreachable, Connection
from waypost.errors import Conflict, InvalidSpec, NotFound, Unauthorized, WaypostError


def client_answering(status: int, body: object) -> ApiClient:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer tok"
        return httpx.Response(status, json=body)

    return ApiClient(Connection("http://api", "tok"), transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        pytest.param(401, Unauthorized, id="401"),
        pytest.param(404, NotFound, id="404"),
        pytest.param(409, Conflict, id="409"),
        pytest.param(422, InvalidSpec, id="422"),
        pytest.param(500, WaypostError, id="500"),
    ],
)
def test_errors_map_back_to_their_class(status: int, kind: type[WaypostError]) -> None:
    body = {
        "error": "x",
        "message": "cannot start: endpoint is Running",
        "problems": [{"message": "bad", "file": "waypost.yaml", "line": 3, "column": 5}],
    }
    with pytest.raises(kind) as caught:
        client_answering(status, body).get("/anything")
    assert caught.value.message == "cannot start: endpoint is Running"
    assert str(caught.value.problems[0]) == "waypost.yaml:3:5: bad"
    assert caught.value.status == status


def test_success_returns_json() -> None:
    assert client_answering(200, {"a": 1}).get("/x") == {"a": 1}


def test_unreachable_api_says_so() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = ApiClient(Connection("http://api", None), transport=httpx.MockTransport(refuse))
    with pytest.raises(ApiUnreachable, match="cannot reach the waypost API at http://api"):
        client.get("/x")


def test_connection_from_environ_prefers_token_then_admin_file(tmp_path: Path) -> None:
    (tmp_path / "admin-token").write_text("from-file\n")
    env = {"WAYPOST_HOME": str(tmp_path)}
    assert Connection.from_environ(env) == Connection("http://127.0.0.1:8081", "from-file")
    env |= {"WAYPOST_TOKEN": "given", "WAYPOST_API_URL": "http://h:1/"}
    assert Connection.from_environ(env) == Connection("http://h:1", "given")
