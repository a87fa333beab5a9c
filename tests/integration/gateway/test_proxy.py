"""A real gateway process in front of recording replicas: what goes up, what comes back."""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import os
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.gateway.conftest import Env
from tests.integration.gateway.support import build_snapshot, refusing_address

V1 = "acme/shop/hello/1/web"
V2 = "acme/shop/hello/2/web"


def standard_routes(env: Env) -> None:
    env.publish(
        build_snapshot(
            {
                V1: [("v1", 1, V1)],
                V2: [("v2", 1, V2)],
                "acme/shop/hello/latest/web": [("v2", 1, V2)],
                "acme/shop/hello/production/web": [("v1", 1, V1)],
            },
            {V1: [env.a.address], V2: [env.b.address]},
        )
    )


@pytest.fixture
def client(env: Env) -> Iterator[httpx.Client]:
    standard_routes(env)
    env.a.requests.clear()
    env.b.requests.clear()
    with httpx.Client(base_url=env.gateway.url, timeout=10) as c:
        yield c


def raw_request(env: Env, method: str, target: str) -> tuple[int, dict[str, str], bytes]:
    """Send ``target`` byte for byte (httpx would normalize it)."""
    conn = http.client.HTTPConnection("127.0.0.1", env.gateway.port, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_health_is_the_gateway_own(env: Env, client: httpx.Client) -> None:
    health = client.get("/-/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok"
    assert body["routes"] == 4
    assert body["revision"] == env.control.snapshot.revision
    assert not env.a.requests
    assert not env.b.requests


def test_method_path_query_headers_and_body_reach_the_replica(
    env: Env, client: httpx.Client
) -> None:
    body = os.urandom(1000)
    response = client.request(
        "PATCH",
        "/acme/shop/hello/1/web/items/x%20y//z?q=1&q=2&e=%2F",
        content=body,
        headers={"X-Custom": "yes", "Authorization": "Bearer app-token", "Cookie": "s=1"},
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["replica"] == "a"
    assert seen["method"] == "PATCH"
    assert seen["raw_path"] == "/acme/shop/hello/1/web/items/x%20y//z?q=1&q=2&e=%2F"
    assert seen["body_size"] == 1000
    assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()
    headers = {k.lower(): v for k, v in seen["headers"]}
    assert headers["x-custom"] == "yes"
    assert headers["authorization"] == "Bearer app-token"
    assert headers["cookie"] == "s=1"
    assert headers["host"] == env.a.address  # the replica's address, never the client's Host
    assert response.headers["X-Replica"] == "a"
    assert "X-Hop" not in response.headers  # named in the replica's Connection header


def test_gateway_headers_overwrite_spoofed_ones(env: Env, client: httpx.Client) -> None:
    response = client.get(
        "/acme/shop/hello/latest/web/",
        headers=[
            ("X-VH-Prefix", "evil/x/y/1/admin"),
            ("x-vh-prefix", "evil/x/y/1/admin2"),
            ("X_VH_Prefix", "evil/x/y/1/admin3"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "admin.internal"),
            ("Forwarded", "for=6.6.6.6"),
            ("X-Request-ID", "chosen-by-client"),
            ("X-Real-IP", "6.6.6.6"),
        ],
    )
    assert response.status_code == 200
    seen = response.json()["headers"]
    by_name: dict[str, list[str]] = {}
    for name, value in seen:
        by_name.setdefault(name.lower().replace("_", "-"), []).append(value)
    assert by_name["x-vh-prefix"] == ["acme/shop/hello/latest/web"]
    assert by_name["x-forwarded-for"] == ["127.0.0.1"]
    assert by_name["x-forwarded-proto"] == ["http"]
    assert by_name["x-forwarded-host"] == [f"127.0.0.1:{env.gateway.port}"]
    assert "forwarded" not in by_name
    assert "x-real-ip" not in by_name
    request_id = response.headers["X-Request-ID"]
    assert by_name["x-request-id"] == [request_id]
    assert len(request_id) == 32
    int(request_id, 16)


def test_alias_prefix_is_the_one_requested(client: httpx.Client) -> None:
    seen = client.get("/acme/shop/hello/production/web/predict").json()
    assert seen["replica"] == "a"
    assert ["X-VH-Prefix", "acme/shop/hello/production/web"] in seen["headers"]
    assert seen["raw_path"] == "/acme/shop/hello/production/web/predict"


def test_five_megabyte_upload_streams_through(env: Env, client: httpx.Client) -> None:
    chunk = os.urandom(1024 * 1024)
    sent_last = 0.0

    def body() -> Iterator[bytes]:
        nonlocal sent_last
        for _ in range(5):
            yield chunk
            time.sleep(0.15)
        sent_last = time.monotonic()

    response = client.post("/acme/shop/hello/1/web/upload", content=body())
    assert response.status_code == 200
    assert response.json()["body_size"] == 5 * 1024 * 1024
    assert response.json()["body_sha256"] == hashlib.sha256(chunk * 5).hexdigest()
    record = env.a.requests[-1]
    # The replica had the first bytes long before the client finished sending: no buffering.
    assert record.first_body_byte is not None
    assert record.first_body_byte < sent_last - 0.4


def test_upload_with_content_length(client: httpx.Client) -> None:
    data = os.urandom(5 * 1024 * 1024)
    response = client.put("/acme/shop/hello/1/web/blob", content=data)
    assert response.json()["body_size"] == len(data)
    assert response.json()["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert ["Content-Length", str(len(data))] in response.json()["headers"]


def test_chunked_response_arrives_chunk_by_chunk(client: httpx.Client) -> None:
    started = time.monotonic()
    arrivals: list[tuple[float, bytes]] = []
    with client.stream("GET", "/acme/shop/hello/1/web/events/stream") as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        assert response.headers["Transfer-Encoding"] == "chunked"
        for piece in response.iter_raw():
            arrivals.append((time.monotonic() - started, piece))
    assert b"".join(p for _, p in arrivals) == b"".join(
        f"data: chunk-{i}\n\n".encode() for i in range(5)
    )
    assert len(arrivals) >= 5
    # The replica spaces its 5 chunks 0.2 s apart: the first must not wait for the last.
    assert arrivals[0][0] < 0.5
    assert arrivals[-1][0] - arrivals[0][0] > 0.6


def test_multiple_set_cookie_headers_survive(client: httpx.Client) -> None:
    response = client.get("/acme/shop/hello/1/web/cookies")
    assert response.headers.get_list("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_non_ascii_header_values_pass_byte_for_byte(env: Env, client: httpx.Client) -> None:
    value = "café ☕ 😀".encode()
    with socket.create_connection(("127.0.0.1", env.gateway.port), timeout=10) as sock:
        sock.sendall(
            b"GET /acme/shop/hello/1/web/echo-header HTTP/1.1\r\nHost: gw\r\n"
            b"X-Echo: " + value + b"\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        for _ in range(100):  # until the gateway closes
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nX-Echoed: " + value + b"\r\n" in answer
    (seen,) = env.a.requests
    assert ("X-Echo", value.decode()) in seen.headers


def test_head_request(client: httpx.Client) -> None:
    response = client.head("/acme/shop/hello/1/web/")
    assert response.status_code == 200
    assert response.content == b""


def test_round_robin_across_two_replicas(env: Env, client: httpx.Client) -> None:
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address, env.b.address]}))
    replicas = [client.get("/acme/shop/hello/1/web/").json()["replica"] for _ in range(10)]
    assert replicas in (["a", "b"] * 5, ["b", "a"] * 5)


def test_unknown_route_is_a_json_404(client: httpx.Client) -> None:
    response = client.get("/acme/x/nothing/1/web/predict")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {
        "error": "not_found",
        "message": "no endpoint at /acme/x/nothing/1/web/predict",
    }
    assert response.headers["X-Request-ID"]


def test_route_without_ready_replica_is_a_json_503(env: Env, client: httpx.Client) -> None:
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: []}))
    response = client.post("/acme/shop/hello/1/web/predict", content=b"x")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"] == "unavailable"
    assert "acme/shop/hello/1/web" in response.json()["message"]


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/acme/shop/hello/1/web/../../2/web/x", id="dot-dot"),
        pytest.param("/acme/shop/hello/1/web/%2e%2e/%2e%2e/2/web", id="encoded-dot-dot"),
        pytest.param("/acme/shop/hello/1%2Fweb/x", id="encoded-slash-in-prefix"),
        pytest.param("/acme//shop/hello/1/web", id="double-slash-in-prefix"),
        pytest.param("/acme/shop/hello/1;x/web", id="path-param"),
        pytest.param("/acme/shop/hello/1/web/a\\b", id="backslash"),
    ],
)
def test_malformed_paths_are_a_json_400(env: Env, client: httpx.Client, target: str) -> None:
    status, headers, body = raw_request(env, "GET", target)
    assert status == 400, body
    assert headers["Content-Type"].startswith("application/json")
    assert body.startswith(b'{"error": "bad_request"')
    assert not env.a.requests
    assert not env.b.requests


def test_refused_connection_goes_to_the_other_replica(env: Env, client: httpx.Client) -> None:
    closed, refusing = refusing_address()
    with closed:
        env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [refusing, env.a.address]}))
        for _ in range(4):
            response = client.post("/acme/shop/hello/1/web/predict", content=b"payload")
            assert response.status_code == 200
            assert response.json()["replica"] == "a"
            assert response.json()["body_size"] == len(b"payload")
    # After the first failure the refusing replica is set aside: one failed connect, not four.
    assert env.gateway.stderr().count(f"could not connect to {refusing}") == 1


def test_every_replica_refusing_is_a_json_502(env: Env, client: httpx.Client) -> None:
    one, first = refusing_address()
    two, second = refusing_address()
    with one, two:
        env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [first, second]}))
        response = client.get("/acme/shop/hello/1/web/")
    assert response.status_code == 502
    assert response.json()["error"] == "bad_gateway"
    assert "127.0.0.1" not in response.json()["message"]  # replica addresses stay inside


def test_sticky_header_keeps_a_user_on_one_backend(env: Env, client: httpx.Client) -> None:
    url = "acme/shop/hello/ab/web"
    env.publish(
        build_snapshot(
            {url: [("one", 1, V1), ("two", 1, V2)]},
            {V1: [env.a.address], V2: [env.b.address]},
            sticky={url: "header:X-User-ID"},
        )
    )
    seen: dict[str, set[str]] = {}
    for user in range(20):
        for _ in range(3):
            got = client.get(f"/{url}/", headers={"X-User-ID": f"user-{user}"})
            seen.setdefault(f"user-{user}", set()).add(got.json()["replica"])
    assert all(len(replicas) == 1 for replicas in seen.values())
    assert {r for replicas in seen.values() for r in replicas} == {"a", "b"}


def test_strip_prefix_sends_the_rest(env: Env, client: httpx.Client) -> None:
    env.publish(
        build_snapshot(
            {"acme/shop/hello/latest/web": [("v1", 1, V1)]},
            {V1: [env.a.address]},
            strip_prefix=[V1],
        )
    )
    assert client.get("/acme/shop/hello/latest/web/predict?x=1").json()["raw_path"] == (
        "/predict?x=1"
    )
    assert client.get("/acme/shop/hello/latest/web").json()["raw_path"] == "/"


def test_endpoint_less_alias_route(env: Env, client: httpx.Client) -> None:
    churn = "acme/shop/churn-model/1/predict"
    env.publish(
        build_snapshot({"acme/shop/churn/latest": [("main", 1, churn)]}, {churn: [env.b.address]})
    )
    seen = client.post("/acme/shop/churn/latest/score", json={"x": 1}).json()
    assert seen["replica"] == "b"
    assert ["X-VH-Prefix", "acme/shop/churn/latest"] in seen["headers"]


def test_access_log_has_one_json_line_per_request(env: Env, client: httpx.Client) -> None:
    response = client.get("/acme/shop/hello/production/web/logged?secret=1")
    request_id = response.headers["X-Request-ID"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [e for e in env.gateway.request_log() if e["request_id"] == request_id]
        if lines:
            break
        time.sleep(0.05)
    (line,) = lines
    assert line["kind"] == "request"
    assert line["method"] == "GET"
    assert line["path"] == "/acme/shop/hello/production/web/logged"
    assert line["status"] == 200
    assert line["project"] == "acme/shop"
    assert line["route"] == "acme/shop/hello/production/web"
    assert line["alias"] == "production"
    assert line["backend"] == "v1"
    assert line["target"] == V1
    assert (line["version"], line["endpoint"]) == (1, "web")
    assert line["replica"] == f"r0-{env.a.address}"
    assert line["bytes_in"] == 0
    assert line["bytes_out"] == len(response.content)
    assert line["latency_ms"] > 0


def wait_for_log(env: Env, request_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for line in env.gateway.request_log():
            if line["request_id"] == request_id:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no access log line for {request_id}")


def test_expect_100_continue_is_answered_once_the_route_is_known(
    env: Env, client: httpx.Client
) -> None:
    with socket.create_connection(("127.0.0.1", env.gateway.port), timeout=5) as sock:
        sock.sendall(
            b"POST /acme/shop/hello/1/web/expect HTTP/1.1\r\nHost: gw\r\n"
            b"Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        reply = b""
        while b"body_sha256" not in reply:
            data = sock.recv(65536)
            assert data, reply
            reply += data
    assert reply.startswith(b"HTTP/1.1 200 ")
    seen = env.a.requests[-1]
    assert seen.body_size == 5
    assert "expect" not in {name.lower() for name, _ in seen.headers}


def test_replica_hanging_up_mid_body_before_any_byte_went_out_is_a_502(
    client: httpx.Client,
) -> None:
    """A small answer is passed on whole, so when it breaks off nothing has reached the
    client yet: it gets a clean 502 (another replica would get the GET again)."""
    response = client.get("/acme/shop/hello/1/web/break")
    assert response.status_code == 502
    assert response.json()["error"] == "bad_gateway"
    assert client.get("/-/health").status_code == 200


def test_a_get_whose_answer_breaks_off_is_retried_on_another_replica(
    env: Env, client: httpx.Client
) -> None:
    env.publish(build_snapshot({V1: [("v1", 1, V1)]}, {V1: [env.a.address, env.b.address]}))
    env.a.requests.clear()
    env.b.requests.clear()
    for _ in range(4):  # whichever replica goes first, the answer is whole
        response = client.get("/acme/shop/hello/1/web/break")
        assert response.status_code == 502  # both break: tried on each, then a 502
    assert len(env.a.requests) + len(env.b.requests) == 8


def test_client_going_away_mid_stream_is_logged_as_499(env: Env, client: httpx.Client) -> None:
    with socket.create_connection(("127.0.0.1", env.gateway.port), timeout=5) as sock:
        sock.sendall(b"GET /acme/shop/hello/1/web/gone/stream HTTP/1.1\r\nHost: gw\r\n\r\n")
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 ")
    request_id = head.split(b"X-Request-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
    line = wait_for_log(env, request_id)
    assert line["status"] == 499
    assert client.get("/-/health").status_code == 200


def test_client_going_away_before_the_answer_is_logged_as_499(
    env: Env, client: httpx.Client
) -> None:
    path = "/acme/shop/hello/1/web/slow"
    assert client.get(path, params={"seconds": "0"}).status_code == 200  # a pooled connection
    with socket.create_connection(("127.0.0.1", env.gateway.port), timeout=5) as sock:
        sock.sendall(f"GET {path}?seconds=1 HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
        time.sleep(0.3)  # the replica has the request; the client hangs up first
    deadline = time.monotonic() + 5
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline and not lines:
        lines = [
            line
            for line in env.gateway.request_log()
            if line["path"] == path and line["status"] != 200
        ]
        time.sleep(0.05)
    assert [line["status"] for line in lines] == [499]
    # The replica's connection, whose answer nobody wants, is not handed to the next one.
    for _ in range(3):
        answer = client.get(path, params={"seconds": "0"})
        assert answer.status_code == 200
        assert answer.json()["raw_path"] == f"{path}?seconds=0"


def test_an_answer_without_a_date_gets_the_gateways(env: Env) -> None:
    """RFC 9110 section 6.6.1: a recipient with a clock adds Date to a response it
    forwards without one; one the replica sent passes as it was."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        key = "acme/shop/nodate/1/web"
        env.publish(build_snapshot({key: [("v1", 1, key)]}, {key: [_address(listener)]}))
        with httpx.Client(base_url=env.gateway.url, timeout=10) as client:
            for sent_date, expected in ((None, None), ("Tue, 01 Dec 2026 00:00:00 GMT", "same")):
                answer = _answer_once(listener, client, f"/{key}/", sent_date)
                date = answer.headers.get("date")
                assert answer.status_code == 200
                if expected is None:  # the gateway's, for now
                    assert date is not None
                    age = time.time() - email.utils.parsedate_to_datetime(date).timestamp()
                    assert -2 < age < 5
                else:
                    assert answer.headers.get_list("date") == [sent_date]


def _address(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"{host}:{port}"


def _answer_once(
    listener: socket.socket, client: httpx.Client, path: str, date: str | None
) -> httpx.Response:
    """``client`` GETs ``path`` while the one replica connection answers it, with
    ``Date: date`` or without any."""
    result: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: result.append(client.get(path)))
    thread.start()
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(4096) or b"\r\n\r\n"
        dated = f"Date: {date}\r\n".encode() if date else b""
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n" + dated + b"\r\nok"
        )
        thread.join(10)
    assert result, "the client got no answer"
    return result[0]
