"""The framework catalogue, engine-arg validation and quantization checks (pure)."""

from __future__ import annotations

import pytest

from waypost.errors import InvalidSpec
from waypost.models.frameworks import (
    FRAMEWORKS,
    engine_arg_problems,
    engine_arg_schema,
    framework_problems,
    frameworks_for_task,
    get_framework,
    quantization_problems,
)
from waypost.models.tasks import TASKS, parse_task


def test_catalogue_names_ids_and_servers() -> None:
    assert [f.name for f in FRAMEWORKS] == [
        "sentence-transformers", "transformers", "vllm", "tgi", "llama.cpp", "sglang",
    ]  # fmt: skip
    assert len({f.id for f in FRAMEWORKS}) == len(FRAMEWORKS)
    for fw in FRAMEWORKS:
        assert fw.builtin == (fw.executable is None and fw.module is None), fw.name
        names = [a.name for a in fw.engine_args]
        assert len(names) == len(set(names)), fw.name
        assert set(fw.tasks) <= set(TASKS)


def test_every_task_has_a_builtin_framework() -> None:
    for task in TASKS:
        assert any(f.builtin for f in frameworks_for_task(task)), task


def test_frameworks_for_task() -> None:
    names = [f.name for f in frameworks_for_task("feature-extraction")]
    assert names == ["sentence-transformers", "llama.cpp", "sglang"]
    assert [f.name for f in frameworks_for_task("text-to-image")] == ["transformers"]


def test_unknown_framework_names_the_known_ones() -> None:
    with pytest.raises(InvalidSpec, match=r"unknown runtime framework 'ollama'; known: .*vllm"):
        get_framework("ollama")


def test_parse_task() -> None:
    assert parse_task("text-to-image") == "text-to-image"
    with pytest.raises(ValueError, match="known: text-generation"):
        parse_task("translation")


@pytest.mark.parametrize(
    ("framework", "args", "expected"),
    [
        pytest.param("vllm", {"block-size": "16", "dtype": "bfloat16"}, [], id="valid-selects"),
        pytest.param("vllm", {"enable-prefix-caching": False}, [], id="valid-switch"),
        pytest.param("vllm", {"gpu-memory-utilization": 0.85}, [], id="valid-float"),
        pytest.param("vllm", {"max-model-len": 4096.0}, [], id="whole-float-is-an-int"),
        pytest.param(
            "vllm",
            {"block-size": "17"},
            ["must be one of 1, 8, 16, 32, 64, 128, not '17'"],
            id="not-a-choice",
        ),
        pytest.param(
            "vllm",
            {"gpu-memory-utilization": 1.5},
            ["must be at most 1, not 1.5"],
            id="above-maximum",
        ),
        pytest.param(
            "sentence-transformers",
            {"max-batch-size": 0},
            ["must be at least 1, not 0"],
            id="below-minimum",
        ),
        pytest.param(
            "sentence-transformers",
            {"max-batch-size": 2.5},
            ["must be a whole number, not 2.5"],
            id="not-whole",
        ),
        pytest.param(
            "sentence-transformers",
            {"max-batch-size": True},
            ["must be a number, not True"],
            id="bool-is-not-a-number",
        ),
        pytest.param(
            "sentence-transformers",
            {"max-batch-size": "8"},
            ["must be a number, not '8'"],
            id="string-is-not-a-number",
        ),
        pytest.param(
            "vllm",
            {"enable-prefix-caching": "yes"},
            ["must be true or false, not 'yes'"],
            id="switch-needs-bool",
        ),
        pytest.param("vllm", {"dtype": 16}, ["must be a string, not 16"], id="select-needs-str"),
        pytest.param(
            "tgi",
            {"max-batch-size": float("nan")},
            ["must be a finite number, not nan"],
            id="nan",
        ),
    ],
)
def test_engine_arg_values(framework: str, args: dict[str, object], expected: list[str]) -> None:
    problems = engine_arg_problems(get_framework(framework), args)
    assert [p.message for p in problems] == expected
    for problem, name in zip(problems, args, strict=False):
        assert problem.field == f"engine-args.{name}"


def test_unknown_engine_arg_lists_known_ones() -> None:
    (problem,) = engine_arg_problems(get_framework("tgi"), {"block-size": "16"})
    assert problem.field == "engine-args.block-size"
    assert problem.message.startswith("tgi has no engine arg 'block-size'; known: cuda-memory")


def test_one_problem_per_bad_arg() -> None:
    args = {"nope": 1, "dtype": "int4", "block-size": "16"}
    problems = engine_arg_problems(get_framework("vllm"), args)
    assert [p.field for p in problems] == ["engine-args.nope", "engine-args.dtype"]


def test_schema_json() -> None:
    rows = {r["name"]: r for r in engine_arg_schema(get_framework("vllm"))}
    assert rows["block-size"] == {
        "name": "block-size",
        "type": "select",
        "default": "16",
        "help": "Token block size of the paged KV cache.",
        "choices": ["1", "8", "16", "32", "64", "128"],
    }
    assert rows["gpu-memory-utilization"]["minimum"] == 0.01
    assert rows["enable-prefix-caching"]["type"] == "switch"
    assert {r["type"] for fw in FRAMEWORKS for r in engine_arg_schema(fw)} <= {
        "select", "switch", "text", "number",
    }  # fmt: skip


def test_schema_defaults_are_valid_values() -> None:
    for fw in FRAMEWORKS:
        defaults = {a.name: a.default for a in fw.engine_args if a.default is not None}
        assert engine_arg_problems(fw, defaults) == [], fw.name


@pytest.mark.parametrize(
    ("framework", "task", "quantization", "fragment"),
    [
        pytest.param("sentence-transformers", "feature-extraction", "int8", None, id="st-int8"),
        pytest.param("transformers", "text-generation", "int8", None, id="tf-int8"),
        pytest.param("vllm", "text-generation", "awq", None, id="vllm-awq"),
        pytest.param("tgi", "text-generation", "bitsandbytes-nf4", None, id="tgi-nf4"),
        pytest.param("llama.cpp", "text-generation", "Q4_K_M", None, id="gguf-type"),
        pytest.param("sglang", "text-generation", "fp8", None, id="sglang-fp8"),
        pytest.param("vllm", None, None, None, id="none"),
        pytest.param(
            "sentence-transformers",
            "feature-extraction",
            "awq",
            "awq needs a GPU server: vllm, tgi, sglang",
            id="builtin-refuses-gpu-method",
        ),
        pytest.param(
            "transformers",
            "text-to-image",
            "int8",
            "cannot apply quantization 'int8' to a text-to-image model (supported: none)",
            id="int8-not-for-diffusion",
        ),
        pytest.param(
            "llama.cpp",
            "text-generation",
            "gptq",
            "(supported: F32, F16",
            id="llama-no-gptq",
        ),
        pytest.param("vllm", "text-generation", "int8", "supported: awq, gptq", id="vllm-no-int8"),
    ],
)
def test_quantization(
    framework: str, task: str | None, quantization: str | None, fragment: str | None
) -> None:
    problems = quantization_problems(get_framework(framework), task, quantization)  # type: ignore[arg-type]
    if fragment is None:
        assert problems == []
    else:
        (problem,) = problems
        assert problem.field == "quantization"
        assert fragment in problem.message


def test_framework_problems_checks_the_task() -> None:
    problems = framework_problems(get_framework("vllm"), "text-to-image", {}, None)
    (problem,) = problems
    assert problem.field == "runtime"
    assert problem.message == (
        "vllm does not serve text-to-image (it serves text-generation, image-text-to-text);"
        " frameworks for text-to-image: transformers"
    )
