"""Replica commands for each framework, and the check that a server is installed."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from waypost.errors import BuildFailed, InvalidSpec
from waypost.models.frameworks import get_framework
from waypost.models.launch import (
    ReplicaLaunch,
    check_available,
    choose_gguf,
    external_flags,
    render_command,
    replica_argv,
)
from waypost.models.tasks import Task

PY = Path("/envs/x/bin/python")
MODEL = Path("/models/acme/chat")


def argv(
    name: str,
    task: Task = "text-generation",
    args: dict[str, object] | None = None,
    quantization: str | None = None,
    model_dir: Path = MODEL,
) -> list[str]:
    return replica_argv(
        ReplicaLaunch(
            get_framework(name),
            model_dir=model_dir,
            task=task,
            engine_args=args or {},
            quantization=quantization,
            host="127.0.0.1",
            port=8123,
            python=PY,
            model_name="acme/chat",
        )
    )


def test_builtin_runs_waypost_serve_with_json_args() -> None:
    got = argv("transformers", args={"max-batch-size": 4, "dtype": "bfloat16"}, quantization="int8")
    assert got[:3] == [str(PY), "-m", "waypost.models.serve"]
    options = dict(zip(got[3::2], got[4::2], strict=True))
    assert options == {
        "--framework": "transformers",
        "--model-dir": str(MODEL),
        "--task": "text-generation",
        "--model-name": "acme/chat",
        "--engine-args": '{"dtype": "bfloat16", "max-batch-size": 4}',
        "--host": "127.0.0.1",
        "--port": "8123",
        "--quantization": "int8",
    }
    assert json.loads(options["--engine-args"]) == {"dtype": "bfloat16", "max-batch-size": 4}


def test_vllm_maps_engine_args_to_its_flags() -> None:
    args = {
        "block-size": "32",
        "dtype": "bfloat16",
        "scheduling-policy": "priority",
        "gpu-memory-utilization": 0.8,
        "enable-prefix-caching": False,
        "max-model-len": 8192.0,
    }
    assert argv("vllm", args=args, quantization="awq") == [
        "vllm", "serve", str(MODEL), "--host", "127.0.0.1", "--port", "8123",
        "--served-model-name", "acme/chat",
        "--block-size", "32", "--dtype", "bfloat16", "--scheduling-policy", "priority",
        "--gpu-memory-utilization", "0.8", "--no-enable-prefix-caching",
        "--max-model-len", "8192", "--quantization", "awq",
    ]  # fmt: skip


def test_tgi_command() -> None:
    got = argv("tgi", args={"max-total-tokens": 4096, "dtype": "bfloat16"}, quantization="gptq")
    assert got == [
        "text-generation-launcher", "--model-id", str(MODEL), "--hostname", "127.0.0.1",
        "--port", "8123", "--dtype", "bfloat16", "--max-total-tokens", "4096",
        "--quantize", "gptq",
    ]  # fmt: skip


def test_sglang_command_for_embeddings() -> None:
    got = argv(
        "sglang",
        task="feature-extraction",
        args={"mem-fraction-static": 0.7, "disable-radix-cache": True, "schedule-policy": "lpm"},
    )
    assert got == [
        str(PY), "-m", "sglang.launch_server", "--model-path", str(MODEL),
        "--host", "127.0.0.1", "--port", "8123", "--served-model-name", "acme/chat",
        "--enable-metrics", "--is-embedding",
        "--mem-fraction-static", "0.7", "--schedule-policy", "lpm", "--disable-radix-cache",
    ]  # fmt: skip


def test_llama_cpp_picks_the_gguf_of_the_quantization(tmp_path: Path) -> None:
    for name in ("chat.Q4_K_M.gguf", "chat.Q8_0.gguf", "README.md"):
        (tmp_path / name).write_text("x")
    got = argv(
        "llama.cpp",
        args={"ctx-size": 8192, "cont-batching": False, "parallel": 4},
        quantization="Q8_0",
        model_dir=tmp_path,
    )
    assert got == [
        "llama-server", "--model", str(tmp_path / "chat.Q8_0.gguf"),
        "--host", "127.0.0.1", "--port", "8123", "--alias", "acme/chat", "--metrics",
        "--ctx-size", "8192", "--parallel", "4", "--no-cont-batching",
    ]  # fmt: skip
    embed = argv("llama.cpp", task="feature-extraction", quantization="Q4_K_M", model_dir=tmp_path)
    assert "--embedding" in embed
    assert str(tmp_path / "chat.Q4_K_M.gguf") in embed


def test_choose_gguf(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match=r"has no \.gguf file"):
        choose_gguf(tmp_path, None)
    (tmp_path / "m-Q4_0.gguf").write_text("x")
    assert choose_gguf(tmp_path, None) == tmp_path / "m-Q4_0.gguf"
    (tmp_path / "m-F16.gguf").write_text("x")
    with pytest.raises(InvalidSpec, match=r"several GGUF files .* choose one with quantization"):
        choose_gguf(tmp_path, None)
    with pytest.raises(InvalidSpec, match=r"no Q8_0 GGUF file .* \(found: m-F16.gguf, m-Q4_0"):
        choose_gguf(tmp_path, "Q8_0")


def test_split_gguf_loads_from_its_first_part(tmp_path: Path) -> None:
    for part in (2, 1, 3):
        (tmp_path / f"big-Q4_K_M-0000{part}-of-00003.gguf").write_text("x")
    assert choose_gguf(tmp_path, None).name == "big-Q4_K_M-00001-of-00003.gguf"


def test_invalid_inputs_raise_every_problem() -> None:
    with pytest.raises(InvalidSpec) as caught:
        argv("vllm", task="text-to-image", args={"block-size": "7"}, quantization="int8")
    fields = [p.field for p in caught.value.problems]
    assert fields == ["runtime", "engine-args.block-size", "quantization"]
    assert caught.value.message.startswith("3 problems:")


def test_external_flags_leave_unset_args_to_the_server() -> None:
    assert external_flags(get_framework("vllm"), {}) == []
    assert external_flags(get_framework("vllm"), {"enforce-eager": False}) == []
    assert external_flags(get_framework("vllm"), {"enforce-eager": True}) == ["--enforce-eager"]


def test_render_command_is_shell_quoted() -> None:
    rendered = render_command(
        ReplicaLaunch(
            get_framework("sentence-transformers"),
            model_dir=Path("/models/my model"),
            task="feature-extraction",
            engine_args={"max-batch-wait-ms": 2},
            quantization=None,
            host="127.0.0.1",
            port=9000,
            python=PY,
        )
    )
    words = shlex.split(rendered)
    assert words[words.index("--model-dir") + 1] == "/models/my model"
    assert words[words.index("--model-name") + 1] == "my model"
    assert "'/models/my model'" in rendered


def test_binary_next_to_the_python_is_preferred(tmp_path: Path) -> None:
    (tmp_path / "vllm").write_text("#!/bin/sh\n")
    got = replica_argv(
        ReplicaLaunch(
            get_framework("vllm"),
            model_dir=MODEL,
            task="text-generation",
            engine_args={},
            quantization=None,
            host="h",
            port=1,
            python=tmp_path / "python",
        )
    )
    assert got[0] == str(tmp_path / "vllm")


def test_check_available() -> None:
    check_available(get_framework("sentence-transformers"))  # installed in this venv
    check_available(get_framework("transformers"), Path(sys.executable))
    with pytest.raises(BuildFailed, match=r"^vllm is not installed on this machine: no vllm"):
        check_available(get_framework("vllm"), Path("/nonexistent/bin/python"))
    with pytest.raises(BuildFailed, match=r"^sglang is not installed .* cannot import sglang"):
        check_available(get_framework("sglang"))


def test_check_available_asks_another_interpreter(tmp_path: Path) -> None:
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\nexec python3 -I -S "$@"\n')
    python.chmod(0o755)
    # A bare interpreter (-I -S: no site-packages) has no torch.
    with pytest.raises(BuildFailed, match="cannot import torch, sentence_transformers"):
        check_available(get_framework("sentence-transformers"), python)
