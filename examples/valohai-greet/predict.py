"""A plain WSGI app declared only in valohai.yaml, as Valohai users already have it."""

import json
from urllib.parse import parse_qs


def app(environ, start_response):  # type: ignore[no-untyped-def]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    name = query.get("name", ["world"])[0]
    body = json.dumps({"greeting": f"hello, {name}", "path": environ["PATH_INFO"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
