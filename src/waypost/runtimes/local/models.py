"""Model endpoints (``runtime: FRAMEWORK`` + ``model: OWNER/MODEL``) on this machine.

They need no environment of their own: the built-in servers run on the platform's
own interpreter, which has the ``waypost[models]`` extra (torch from the CPU build on
disk; an env per endpoint would download gigabytes). External servers (vLLM, TGI,
llama.cpp, SGLang) run where they are installed. Either way the build checks what
it can before any replica starts: the framework, its executable, the model's files
and its task, so a missing model is a BuildingFailed with a sentence, never a hang.
"""

from __future__ import annotations

import sys
from pathlib import Path

from waypost.errors import BuildFailed, InvalidSpec
from waypost.models.frameworks import Framework, framework_problems, get_framework
from waypost.models.launch import ReplicaLaunch, check_available, replica_argv
from waypost.models.tasks import parse_task
from waypost.runtimes.base import Workload

__all__ = ["PLATFORM_ENV", "check_model_workload", "model_server_argv"]

#: The platform's own virtualenv (or installation prefix): what model servers run in.
PLATFORM_ENV = Path(sys.prefix)


def check_model_workload(workload: Workload) -> Framework:
    """The workload's framework, once everything a replica needs is known to be here."""
    spec = workload.spec
    try:
        framework = get_framework(spec.target)
    except InvalidSpec as exc:
        raise BuildFailed(exc.message) from exc
    check_available(framework)
    if workload.model_dir is None or workload.model_task is None:
        raise BuildFailed(
            f"model {spec.model} is not in the model store: add it with "
            f"`waypost models add {spec.model} PATH`"
        )
    if not workload.model_dir.is_dir():
        raise BuildFailed(f"the files of model {spec.model} are missing from {workload.model_dir}")
    if workload.model_task not in framework.tasks:
        raise BuildFailed(
            f"runtime framework {framework.name} does not serve {workload.model_task} models "
            f"like {spec.model}; it serves {', '.join(framework.tasks)}"
        )
    problems = framework_problems(
        framework, parse_task(workload.model_task), dict(spec.engine_args), spec.quantization
    )
    if problems:
        raise BuildFailed("; ".join(p.message for p in problems))
    return framework


def model_server_argv(workload: Workload, *, host: str, port: int) -> list[str]:
    framework = check_model_workload(workload)
    if workload.model_dir is None or workload.model_task is None:  # checked above; for mypy
        raise BuildFailed(f"model {workload.spec.model} is not in the model store")
    return replica_argv(
        ReplicaLaunch(
            framework,
            model_dir=workload.model_dir,
            task=parse_task(workload.model_task),
            engine_args=dict(workload.spec.engine_args),
            quantization=workload.spec.quantization,
            host=host,
            port=port,
            python=Path(sys.executable),
            model_name=workload.spec.model,
        )
    )
