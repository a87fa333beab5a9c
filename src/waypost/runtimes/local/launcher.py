"""Serve a ``wsgi:`` or ``asgi:`` app inside a replica's env, behind the prefix middleware.

The local runtime copies this file into a shim directory as ``waypost_launcher``
(next to a copy of ``waypost.prefix``) and runs, with the env's python::

    python -m waypost_launcher wsgi|asgi module:attr --host H --port P --workers N

It imports only the stdlib, ``waypost.prefix`` and the server (gunicorn or
uvicorn), so waypost itself need not be installed in the user's env.

**Why gunicorn is started from here, and what it does about SCRIPT_NAME.**
gunicorn >= 22 reads ``SCRIPT_NAME`` from ``os.environ`` on every request and
answers "Request path does not start with SCRIPT_NAME" when the path does not
start with it. A replica's ``SCRIPT_NAME`` is its version's prefix
(``/org/project/deployment/3/web``), but requests also arrive under ``latest``
and alias prefixes, so plain ``gunicorn`` would refuse them. Unsetting
``SCRIPT_NAME`` for the whole process would fix gunicorn but take the variable
away from the app (Valohai documents it as the app's to read, at import or at
request time). So the server's view alone is changed: gunicorn's request module
gets an ``os`` whose ``environ`` hides ``SCRIPT_NAME``; the app, its libraries
and its subprocesses still see the real ``os.environ``. The prefix is then the
middleware's job, which uses the ``X-VH-Prefix`` header or the default prefix,
whichever the path really starts with. Should a future gunicorn stop reading
``os.environ`` there, the patch finds no ``os`` to replace and the launcher falls
back to removing ``SCRIPT_NAME`` from the worker's environment after the app has
been imported (so import-time readers still see it). ``SCRIPT_NAME`` and
``PATH_INFO`` request headers are no longer taken from the gateway either
(``forwarder_headers`` is emptied): the prefix comes from one place only.

gunicorn >= 25.1 also opens a control socket in ``$HOME/.gunicorn`` by default;
replicas disable it, or the second replica of a HOME would clash with the first.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

from waypost.prefix import AsgiPrefixMiddleware, PrefixMiddleware

__all__ = ["asgi_app", "hide_from_server", "load_target", "main"]

#: How uvicorn finds the factory below; the shim holds this file under that name.
_MODULE = "waypost_launcher"
#: The ASGI target, passed from the launcher to the factory (uvicorn needs an import
#: string to run several workers); the factory removes it before the app is imported.
_ASGI_TARGET_VAR = "_WAYPOST_LAUNCHER_ASGI_TARGET"
_HIDDEN_FROM_SERVER = frozenset({"SCRIPT_NAME"})
#: uvicorn's exit code for "failed before serving": its supervisor then stops, not respawns.
_STARTUP_FAILURE = 3


def load_target(target: str) -> Any:
    """``module:attr.path`` -> the object; ImportError/AttributeError with a sentence."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ImportError(f"{target!r} is not module:callable")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise TypeError(f"{target} is not callable (it is a {type(obj).__name__})")
    return obj


def user_traceback(exc: BaseException) -> str:
    """The traceback of a failed app import without the frames of importlib and this file.

    The control plane shows the last lines of a replica's log when it fails; the
    server's own frames would push the user's out of them.
    """
    info = traceback.TracebackException.from_exception(exc)
    importlib_dir = os.path.dirname(importlib.__file__) + os.sep
    frames = [
        frame
        for frame in info.stack
        if not frame.filename.startswith(("<frozen importlib", importlib_dir))
        and os.path.basename(frame.filename) not in ("launcher.py", f"{_MODULE}.py")
    ]
    info.stack = traceback.StackSummary.from_list(frames)
    return "".join(info.format())


def _load_or_report(target: str) -> Any:
    try:
        return load_target(target)
    except Exception as exc:
        print(f"waypost: could not load {target}:", file=sys.stderr)
        print(user_traceback(exc), end="", file=sys.stderr, flush=True)
        raise


class _EnvironWithout(Mapping[str, str]):
    def __init__(self, environ: Mapping[str, str], hidden: frozenset[str]) -> None:
        self._environ = environ
        self._hidden = hidden

    def __getitem__(self, key: str) -> str:
        if key in self._hidden:
            raise KeyError(key)
        return self._environ[key]

    def __iter__(self) -> Iterator[str]:
        return (key for key in self._environ if key not in self._hidden)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _OsForServer:
    """``os`` as seen by a server module: the same, except ``environ`` hides some names."""

    def __init__(self, hidden: frozenset[str]) -> None:
        self.environ = _EnvironWithout(os.environ, hidden)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def hide_from_server(module: ModuleType, hidden: frozenset[str] = _HIDDEN_FROM_SERVER) -> bool:
    """Give ``module`` an ``os`` whose environ hides ``hidden``; False if it has no ``os``."""
    if getattr(module, "os", None) is not os:
        return False
    module.os = _OsForServer(hidden)  # type: ignore[attr-defined]
    return True


def serve_wsgi(target: str, *, bind: str, workers: int, graceful: float) -> None:
    from gunicorn.app.base import BaseApplication
    from gunicorn.http import wsgi as gunicorn_wsgi

    patched = hide_from_server(gunicorn_wsgi)
    options: dict[str, object] = {
        "bind": [bind],
        "workers": workers,
        "graceful_timeout": max(1, int(graceful)),  # gunicorn takes whole seconds
        "forwarder_headers": "",
        "control_socket_disable": True,
    }

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in options.items():
                if name in self.cfg.settings:  # older gunicorns lack newer settings
                    self.cfg.set(name, value)

        def load(self) -> Any:
            try:
                app = PrefixMiddleware(_load_or_report(target))
            except Exception as exc:
                # gunicorn halts on AppImportError ("App failed to load") without a
                # traceback of its own: ours, just printed, is the one the user needs.
                raise _app_import_error(f"{target}: {exc}") from None
            if not patched:
                os.environ.pop("SCRIPT_NAME", None)
            return app

    _Server().run()


def _app_import_error(message: str) -> Exception:
    try:
        from gunicorn.errors import AppImportError
    except ImportError:  # a gunicorn without it: any exception still fails the boot
        return RuntimeError(message)
    error: Exception = AppImportError(message)
    return error


def asgi_app() -> AsgiPrefixMiddleware:
    """uvicorn's app factory (in every worker): the target behind the prefix middleware."""
    target = os.environ.pop(_ASGI_TARGET_VAR, "")
    try:
        return AsgiPrefixMiddleware(_load_or_report(target))
    except Exception:
        sys.exit(_STARTUP_FAILURE)


def serve_asgi(target: str, *, host: str, port: int, workers: int, graceful: float) -> None:
    import uvicorn

    os.environ[_ASGI_TARGET_VAR] = target
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "factory": True,
        "workers": workers if workers > 1 else None,
        "proxy_headers": False,  # the gateway is the only client; the prefix is ours to set
        "access_log": False,  # the gateway logs requests
        "lifespan": "auto",
        "timeout_graceful_shutdown": max(1, int(graceful)),
    }
    accepted = inspect.signature(uvicorn.run).parameters
    uvicorn.run(f"{_MODULE}:asgi_app", **{k: v for k, v in options.items() if k in accepted})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=_MODULE, description="Serve an app for waypost.")
    parser.add_argument("kind", choices=("wsgi", "asgi"))
    parser.add_argument("target", help="module:callable")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--graceful-timeout", type=float, default=8.0)
    args = parser.parse_args(argv)
    workers = max(1, args.workers)
    if args.kind == "wsgi":
        host = f"[{args.host}]" if ":" in args.host else args.host
        serve_wsgi(
            args.target,
            bind=f"{host}:{args.port}",
            workers=workers,
            graceful=args.graceful_timeout,
        )
    else:
        serve_asgi(
            args.target,
            host=args.host,
            port=args.port,
            workers=workers,
            graceful=args.graceful_timeout,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
