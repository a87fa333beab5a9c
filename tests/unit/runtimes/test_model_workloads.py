"""What the local runtime checks before it starts a model server (``runtimes.local.models``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from waypost.errors import BuildFailed
from waypost.model.prefix import UnitKey
from waypost.model.spec import EndpointSpec
from waypost.runtimes.base import Workload
from waypost.runtimes.local.models import check_model_workload, model_server_argv

KEY = UnitKey("acme", "minilm", "embed", 1, "serve")


def workload(
    tmp_path: Path,
    *,
    framework: str = "sentence-transformers",
    task: str | None = "feature-extraction",
    present: bool = True,
    quantization: str | None = None,
    engine_args: dict[str, str | int | float | bool] | None = None,
) -> Workload:
    model_dir = tmp_path / "model"
    if present:
        model_dir.mkdir(exist_ok=True)
    spec = EndpointSpec(
        "serve",
        "runtime",
        framework,
        model="acme/minilm",
        quantization=quantization,
        engine_args=engine_args or {},
    )
    return Workload(
        KEY,
        spec,
        tmp_path / "bundle.tar.gz",
        "0" * 64,
        model_dir=model_dir if task is not None else None,
        model_task=task,
    )


def test_a_builtin_framework_runs_on_the_platforms_interpreter(tmp_path: Path) -> None:
    argv = model_server_argv(
        workload(tmp_path, engine_args={"max-batch-size": 8}), host="127.0.0.1", port=4321
    )

    assert argv[:3] == [sys.executable, "-m", "waypost.models.serve"]
    assert str(tmp_path / "model") in argv
    assert "4321" in argv


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"task": None}, "model acme/minilm is not in the model store"),
        ({"present": False}, "files of model acme/minilm are missing"),
        ({"framework": "pytorch-magic"}, "unknown runtime framework 'pytorch-magic'"),
        ({"task": "text-to-image"}, "does not serve text-to-image"),
        ({"quantization": "awq"}, "cannot apply quantization 'awq'"),
    ],
)
def test_what_cannot_run_fails_the_build_with_a_sentence(
    tmp_path: Path, changes: dict[str, object], fragment: str
) -> None:
    with pytest.raises(BuildFailed, match=fragment):
        check_model_workload(workload(tmp_path, **changes))  # type: ignore[arg-type]
