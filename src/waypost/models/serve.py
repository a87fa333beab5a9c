"""``python -m waypost.models.serve``: one built-in model server process.

    python -m waypost.models.serve --framework NAME --model-dir DIR --task TASK \\
        --engine-args JSON [--quantization Q] [--model-name NAME] --host H --port P

Models come from the directory only: ``HF_HUB_OFFLINE=1`` is set before any model
library is imported, and the directory is inspected first, so a missing or
incomplete model exits at once (code 2 for bad input, 3 when the library cannot
load it) with the reason on stderr, instead of hanging on a download. The model
is loaded before the port is bound: a replica is ready exactly when it answers.
The app is served behind ``AsgiPrefixMiddleware``, as user apps are, so both
``/v1/embeddings`` and ``/{org}/{project}/{deployment}/{version}/{endpoint}/v1/embeddings``
work (the prefix comes from ``X-VH-Prefix`` or ``VH_DEFAULT_PREFIX``/``SCRIPT_NAME``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from waypost.errors import InvalidSpec, Problem, WaypostError

from .frameworks import framework_problems, get_framework
from .launch import REPLICA_ENV
from .modeldir import inspect_model
from .schema import resolved_args
from .tasks import Task, parse_task

__all__ = ["main", "parse_engine_args"]

EXIT_INVALID = 2
EXIT_LOAD_FAILED = 3
log = logging.getLogger("waypost.models.serve")


def parse_engine_args(text: str) -> dict[str, object]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise InvalidSpec(f"--engine-args is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidSpec("--engine-args must be a JSON object")
    return value


def _arguments(argv: list[str] | None, environ: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m waypost.models.serve")
    parser.add_argument("--framework", required=True)
    parser.add_argument("--model-dir", required=True, type=Path)
    parser.add_argument("--task", required=True)
    parser.add_argument("--engine-args", default="{}")
    parser.add_argument("--quantization", default=None)
    parser.add_argument("--model-name", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(environ.get("PORT", "8000")))
    return parser.parse_args(argv)


def _check(args: argparse.Namespace) -> tuple[Task, dict[str, object]]:
    fw = get_framework(args.framework)
    if not fw.builtin:
        raise InvalidSpec(f"{fw.name} is an external server; run its own command")
    try:
        task = parse_task(args.task)
    except ValueError as exc:
        raise InvalidSpec(str(exc), [Problem(str(exc), field="task")]) from None
    engine_args = parse_engine_args(args.engine_args)
    problems = framework_problems(fw, task, engine_args, args.quantization)
    if problems:
        raise InvalidSpec.of(problems)
    info = inspect_model(args.model_dir)
    if info.task is not None and info.task != task:
        message = f"{args.model_dir} holds a {info.task} model, not a {task} one"
        raise InvalidSpec(message, [Problem(message, field="task")])
    return task, resolved_args(fw.engine_args, engine_args)


def main(argv: list[str] | None = None, environ: MutableMapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    environ.update(REPLICA_ENV)  # before any Hugging Face library is imported
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args = _arguments(argv, environ)
    started = time.perf_counter()
    try:
        task, engine_args = _check(args)
        from .backends import load

        name = args.model_name or args.model_dir.name
        served = load(args.framework, task, args.model_dir, engine_args, args.quantization, name)
    except WaypostError as exc:
        print(f"waypost.models.serve: {exc.message}", file=sys.stderr, flush=True)
        return EXIT_INVALID
    except Exception as exc:
        print(
            f"waypost.models.serve: could not load {args.model_dir} with {args.framework}:"
            f" {type(exc).__name__}: {exc}",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_LOAD_FAILED
    log.info("loaded %s (%s, %s) in %.1f s", name, args.framework, task,
             time.perf_counter() - started)  # fmt: skip

    import uvicorn

    from waypost.prefix import AsgiPrefixMiddleware

    from .app import build_app

    app = AsgiPrefixMiddleware(build_app(served), environ=environ)
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, proxy_headers=False,
                timeout_graceful_shutdown=5, log_level="info")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
