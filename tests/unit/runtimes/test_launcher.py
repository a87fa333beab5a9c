"""The launcher's pieces that run inside a replica: loading targets, hiding SCRIPT_NAME."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from waypost.runtimes.local.launcher import hide_from_server, load_target


@pytest.fixture
def app_module(tmp_path: Path) -> Iterator[str]:
    name = f"waypost_test_app_{os.getpid()}"
    (tmp_path / f"{name}.py").write_text(
        "class Holder:\n    def app(self, environ, start_response):\n        return []\n"
        "holder = Holder()\n"
        "def app(environ, start_response):\n    return []\n"
        "not_callable = 3\n"
    )
    sys.path.insert(0, str(tmp_path))
    yield name
    sys.path.remove(str(tmp_path))
    sys.modules.pop(name, None)


def test_load_target(app_module: str) -> None:
    assert load_target(f"{app_module}:app").__name__ == "app"
    assert load_target(f"{app_module}:holder.app").__name__ == "app"


@pytest.mark.parametrize(
    ("target", "error", "says"),
    [
        pytest.param("{m}", ImportError, "is not module:callable", id="no-colon"),
        pytest.param("{m}:", ImportError, "is not module:callable", id="no-attr"),
        pytest.param(":app", ImportError, "is not module:callable", id="no-module"),
        pytest.param("{m}:nope", AttributeError, "has no attribute 'nope'", id="missing"),
        pytest.param("{m}:not_callable", TypeError, "is not callable", id="not-callable"),
        pytest.param("no_such_module_waypost:app", ImportError, "no_such", id="no-module-found"),
    ],
)
def test_load_target_errors(
    app_module: str, target: str, error: type[Exception], says: str
) -> None:
    # Ordinary exceptions, not SystemExit: gunicorn then halts with "Worker failed to boot"
    # instead of restarting the worker forever.
    with pytest.raises(error, match=says):
        load_target(target.format(m=app_module))


def test_the_server_stops_seeing_script_name_but_the_app_still_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCRIPT_NAME", "/acme/hello/web/1/api")
    server_module = types.ModuleType("fake_server_module")
    server_module.os = os  # type: ignore[attr-defined]
    assert hide_from_server(server_module) is True
    seen = server_module.os  # type: ignore[attr-defined]
    assert seen.environ.get("SCRIPT_NAME", "") == ""
    assert "SCRIPT_NAME" not in seen.environ
    assert "SCRIPT_NAME" not in list(seen.environ)
    assert seen.environ["PATH"] == os.environ["PATH"]
    assert seen.path is os.path  # everything else is the real os
    assert os.environ["SCRIPT_NAME"] == "/acme/hello/web/1/api"


def test_a_module_without_os_is_left_alone() -> None:
    module = types.ModuleType("no_os")
    assert hide_from_server(module) is False
    assert not hasattr(module, "os")


def test_the_installed_gunicorn_reads_script_name_where_the_launcher_hides_it() -> None:
    # A canary: if gunicorn moves its os.environ lookup, the launcher falls back to
    # unsetting SCRIPT_NAME after import, and this test says the docstring needs a look.
    from gunicorn.http import wsgi

    assert wsgi.os is os
    assert 'os.environ.get("SCRIPT_NAME"' in Path(wsgi.__file__).read_text()
