"""The command that runs one replica of a runtime endpoint, and whether it can run here.

Built-in frameworks run ``python -m waypost.models.serve``; external ones run their
server's real CLI with the engine args mapped to its flags. The runtime starts the
argv as it is (no shell); ``render_command`` shell-quotes it for ``waypost
endpoints render``. Light: stdlib only (it lists a GGUF model's files and looks
for executables), so the control plane imports it without torch.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from waypost.errors import BuildFailed, InvalidSpec, Problem

from .frameworks import Framework, framework_problems
from .tasks import Task

__all__ = [
    "HEALTH_PATH",
    "REPLICA_ENV",
    "ReplicaLaunch",
    "check_available",
    "choose_gguf",
    "external_flags",
    "render_command",
    "replica_argv",
]

#: Every framework's server answers readiness here (vLLM, TGI, llama-server, SGLang, ours).
HEALTH_PATH = "/health"
#: Environment every model replica gets: models come from the store, never from a hub.
REPLICA_ENV: Mapping[str, str] = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
_SERVE_MODULE = "waypost.models.serve"
_PROBE_TIMEOUT = 60.0


@dataclass(frozen=True)
class ReplicaLaunch:
    """What one replica's command is made of: a framework's server on a model, on host:port."""

    framework: Framework
    model_dir: Path
    task: Task
    engine_args: Mapping[str, object]
    quantization: str | None
    host: str
    port: int
    #: The interpreter built-in servers run on; an external server's executable next to
    #: it is preferred to the one on PATH.
    python: Path
    #: The model name clients send (default: the model directory's name).
    model_name: str | None = None


def replica_argv(launch: ReplicaLaunch) -> list[str]:
    """The argv of one replica; InvalidSpec listing every problem with the inputs."""
    fw, model_dir, task = launch.framework, launch.model_dir, launch.task
    quantization, python = launch.quantization, launch.python
    problems = framework_problems(fw, task, launch.engine_args, quantization)
    if problems:
        raise InvalidSpec.of(problems)
    name = launch.model_name or model_dir.name
    common = ["--host", launch.host, "--port", str(launch.port)]
    if fw.builtin:
        argv = [str(python), "-m", _SERVE_MODULE, "--framework", fw.name]
        argv += ["--model-dir", str(model_dir), "--task", task, "--model-name", name]
        argv += ["--engine-args", json.dumps(dict(launch.engine_args), sort_keys=True), *common]
        return argv + (["--quantization", quantization] if quantization else [])
    flags = external_flags(fw, launch.engine_args)
    if fw.name == "vllm":
        argv = [_binary(fw, python), "serve", str(model_dir), *common]
        argv += ["--served-model-name", name, *flags]
        return argv + (["--quantization", quantization] if quantization else [])
    if fw.name == "tgi":
        argv = [_binary(fw, python), "--model-id", str(model_dir), "--hostname", launch.host]
        argv += ["--port", str(launch.port), *flags]
        return argv + (["--quantize", quantization] if quantization else [])
    if fw.name == "llama.cpp":
        gguf = choose_gguf(model_dir, quantization)
        argv = [_binary(fw, python), "--model", str(gguf), *common, "--alias", name, "--metrics"]
        return argv + (["--embedding"] if task == "feature-extraction" else []) + flags
    if fw.module:
        argv = [str(python), "-m", fw.module, "--model-path", str(model_dir), *common]
        argv += ["--served-model-name", name, "--enable-metrics"]
        argv += ["--is-embedding"] if task == "feature-extraction" else []
        return argv + flags + (["--quantization", quantization] if quantization else [])
    raise InvalidSpec(f"{fw.name} has no command template")  # a catalogue bug, not input


def render_command(launch: ReplicaLaunch) -> str:
    """``replica_argv`` shell-quoted, for people to read and paste."""
    return shlex.join(replica_argv(launch))


def external_flags(fw: Framework, engine_args: Mapping[str, object]) -> list[str]:
    """The server flags for the given args, in schema order; defaults are left to the server."""
    flags: list[str] = []
    for arg in fw.engine_args:
        if arg.name not in engine_args:
            continue
        value = engine_args[arg.name]
        flag = arg.flag or f"--{arg.name}"
        if arg.type == "switch":
            chosen = flag if value else arg.off_flag
            flags += [chosen] if chosen else []
        elif arg.integer and isinstance(value, int | float):
            flags += [flag, str(int(value))]
        else:
            flags += [flag, str(value)]
    return flags


def choose_gguf(model_dir: Path, quantization: str | None) -> Path:
    """The GGUF file llama.cpp loads: the one of type ``quantization``, or the only one.

    A split model (``name-00001-of-00003.gguf``) is loaded from its first part.
    """
    files = sorted(model_dir.rglob("*.gguf")) if model_dir.is_dir() else []
    if quantization:
        matching = [f for f in files if quantization.upper() in f.name.upper()]
        if not matching:
            found = ", ".join(f.name for f in files) or "none"
            message = f"no {quantization} GGUF file in {model_dir} (found: {found})"
            raise InvalidSpec(message, [Problem(message, field="quantization")])
        return matching[0]
    if len(files) == 1 or (files and all("-of-" in f.name for f in files)):
        return files[0]
    if not files:
        message = f"{model_dir} has no .gguf file: llama.cpp serves GGUF models only"
    else:
        names = ", ".join(f.name for f in files)
        message = f"{model_dir} has several GGUF files ({names}): choose one with quantization"
    raise InvalidSpec(message, [Problem(message, field="quantization")])


def check_available(fw: Framework, python: Path | None = None) -> None:
    """BuildFailed with a sentence when ``fw``'s server is not installed for ``python``.

    ``python`` is the interpreter the replica runs with (default: this one).
    """
    if fw.executable:
        if _find_binary(fw.executable, python) is None:
            raise BuildFailed(
                f"{fw.name} is not installed on this machine: no {fw.executable} executable"
                f" on PATH{_next_to(python)}; install {fw.name} or choose another framework"
            )
        return
    modules = fw.requires if fw.builtin else (fw.module or "",)
    missing = _missing_modules([m for m in modules if m], python)
    if missing:
        extra = "install waypost[models]" if fw.builtin else f"install {fw.name}"
        raise BuildFailed(
            f"{fw.name} is not installed on this machine: Python cannot import"
            f" {', '.join(missing)}; {extra} or choose another framework"
        )


def _binary(fw: Framework, python: Path) -> str:
    executable = fw.executable or fw.name
    beside = python.parent / executable
    return str(beside) if beside.is_file() else executable


def _find_binary(name: str, python: Path | None) -> str | None:
    if python is not None and (python.parent / name).is_file():
        return str(python.parent / name)
    return shutil.which(name)


def _next_to(python: Path | None) -> str:
    return f" or next to {python}" if python is not None else ""


def _missing_modules(modules: list[str], python: Path | None) -> list[str]:
    if python is None or Path(python) == Path(sys.executable):
        return [m for m in modules if _find_spec(m) is None]
    probe = (
        "import importlib.util, json, sys\n"
        "print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]))"
    )
    try:
        done = subprocess.run(
            [str(python), "-c", probe, *modules],
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BuildFailed(f"cannot run {python} to look for {', '.join(modules)}: {exc}") from exc
    missing: list[str] = json.loads(done.stdout)
    return missing


def _find_spec(module: str) -> object | None:
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a parent package is missing or broken
        return None
