"""A model that is missing, incomplete or refused makes the server exit at once, saying why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.platform import free_port

QUICK = 90.0  # seconds: loading imports torch; a hang would hit this


def run(model_dir: Path, task: str = "text-generation", framework: str = "transformers",
        engine_args: dict[str, object] | None = None,
        quantization: str | None = None) -> tuple[int, str, float]:  # fmt: skip
    argv = [sys.executable, "-m", "waypost.models.serve", "--framework", framework,
            "--model-dir", str(model_dir), "--task", task, "--host", "127.0.0.1",
            "--port", str(free_port()), "--engine-args", json.dumps(engine_args or {})]  # fmt: skip
    argv += ["--quantization", quantization] if quantization else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=QUICK, env=env)
    return done.returncode, done.stderr, time.monotonic() - started


def copy_without(source: Path, target: Path, *names: str) -> Path:
    shutil.copytree(source, target)
    for name in names:
        (target / name).unlink()
    return target


def test_missing_directory(tmp_path: Path) -> None:
    code, stderr, _ = run(tmp_path / "nowhere")
    assert code == 2
    assert f"waypost.models.serve: {tmp_path / 'nowhere'} is not a directory" in stderr


def test_weights_missing(tiny_dir: Path, tmp_path: Path) -> None:
    code, stderr, _ = run(copy_without(tiny_dir, tmp_path / "m", "model.safetensors"))
    assert code == 2
    assert "has no weights" in stderr
    assert "the model is incomplete" in stderr


def test_tokenizer_missing_fails_offline_instead_of_downloading(
    tiny_dir: Path, tmp_path: Path
) -> None:
    model = copy_without(tiny_dir, tmp_path / "m", "tokenizer.json", "tokenizer_config.json")
    code, stderr, _ = run(model)
    assert code == 3
    assert f"could not load {model} with transformers" in stderr


def test_corrupt_weights(tiny_dir: Path, tmp_path: Path) -> None:
    model = copy_without(tiny_dir, tmp_path / "m")
    (model / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    code, stderr, _ = run(model)
    assert code == 3
    assert "could not load" in stderr


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"task": "feature-extraction"},
                     "transformers does not serve feature-extraction", id="task-vs-framework"),
        pytest.param({"task": "text-to-image"},
                     "holds a text-generation model, not a text-to-image", id="task-vs-model"),
        pytest.param({"engine_args": {"max-batch-size": 0}},
                     "engine-args.max-batch-size: must be at least 1", id="engine-args"),
        pytest.param({"quantization": "awq"}, "awq needs a GPU server", id="gpu-quantization"),
        pytest.param({"framework": "vllm"}, "vllm is an external server", id="external"),
        pytest.param({"task": "summarization"}, "unknown task 'summarization'", id="unknown-task"),
    ],
)  # fmt: skip
def test_refused_before_loading(tiny_dir: Path, kwargs: dict[str, object], message: str) -> None:
    code, stderr, seconds = run(tiny_dir, **kwargs)  # type: ignore[arg-type]
    assert code == 2
    assert message in stderr
    assert seconds < QUICK
