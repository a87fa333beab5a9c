"""``waypost endpoints render DEPLOYMENT/ENDPOINT``: the server command of a model endpoint.

Reads the project folder (no platform needed) and prints the command line a replica
of a ``runtime:`` endpoint runs: waypost's own server for sentence-transformers and
transformers, the real CLI of vLLM, TGI, llama.cpp or SGLang with the engine args and
quantization mapped to their flags. The model's files are where the runtime puts
them (``--model-dir``; a placeholder by default), its task is the model's (``--task``;
the framework's first task by default).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from waypost.cli.common import run_command
from waypost.cli.render import out
from waypost.config import load_folder
from waypost.errors import InvalidSpec, Problem
from waypost.models.frameworks import get_framework
from waypost.models.launch import ReplicaLaunch, render_command
from waypost.models.tasks import parse_task

__all__ = ["render_endpoint"]


def render_endpoint(
    endpoint: Annotated[str, typer.Argument(help="DEPLOYMENT/ENDPOINT in the project folder.")],
    path: Annotated[Path, typer.Option(help="The project folder.")] = Path("."),
    model_dir: Annotated[
        Path | None, typer.Option(help="Where the model's files are (default: a placeholder).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="The model's task.")] = None,
    port: Annotated[int, typer.Option(help="The port the server listens on.")] = 8000,
) -> None:
    """Print the command a replica of a runtime: endpoint runs."""

    def action() -> None:
        deployment, _, name = endpoint.partition("/")
        config = load_folder(path, deployment_name=None)
        spec = next(
            (
                e
                for d in config.deployments
                if d.name == deployment
                for e in d.endpoints
                if e.name == name
            ),
            None,
        )
        if spec is None:
            raise InvalidSpec.of(
                [Problem(f"{path / 'waypost.yaml'} declares no endpoint {endpoint!r}")]
            )
        if spec.kind != "runtime" or spec.model is None:
            raise InvalidSpec.of(
                [Problem(f"{endpoint} is a {spec.kind}: endpoint; only runtime: ones are rendered")]
            )
        framework = get_framework(spec.target)
        out.print(
            render_command(
                ReplicaLaunch(
                    framework,
                    model_dir=model_dir or Path("/models") / spec.model,
                    task=parse_task(task) if task else framework.tasks[0],
                    engine_args=dict(spec.engine_args),
                    quantization=spec.quantization,
                    host="0.0.0.0",
                    port=port,
                    python=Path(sys.executable if framework.builtin else "python"),
                    model_name=spec.model,
                )
            ),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    run_command(action)
