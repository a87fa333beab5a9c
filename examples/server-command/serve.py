"""A stdlib-only server started with `server-command:`: it reads PORT and uses waypost.prefix."""

import json
import os
from wsgiref.simple_server import WSGIRequestHandler, make_server

from waypost.prefix import PrefixMiddleware


def app(environ, start_response):  # type: ignore[no-untyped-def]
    body = json.dumps(
        {
            "path": environ["PATH_INFO"],
            "script_name": environ["SCRIPT_NAME"],
            "prefix_header": environ.get("HTTP_X_VH_PREFIX"),
            "default_prefix": os.environ.get("VH_DEFAULT_PREFIX"),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = make_server(
        "127.0.0.1", int(os.environ["PORT"]), PrefixMiddleware(app), handler_class=QuietHandler
    )
    server.serve_forever()
