"""The six runtime frameworks, as data.

Two are built in (waypost's own server, ``waypost.models.serve``); four are
templates of external servers. Their engine args are named after the servers'
real CLI flags (``--NAME``), as documented for ``vllm serve``,
``text-generation-launcher``, ``llama-server`` and ``python -m
sglang.launch_server``; a default of None leaves the value to the server.
"""

from __future__ import annotations

from .schema import EngineArg, Framework, number, select, switch

__all__ = ["FRAMEWORKS", "GGUF_TYPES", "GPU_QUANTIZATIONS"]

#: Quantization methods that need a GPU server; the built-in CPU servers refuse them.
GPU_QUANTIZATIONS = ("awq", "gptq", "fp8", "bitsandbytes")
_BIG = 10_000_000

# The tables below are laid out by hand, one engine arg per entry.
# fmt: off
_DTYPES = ("auto", "half", "float16", "bfloat16", "float", "float32")


def _builtin_args(batch: int, wait_ms: int) -> tuple[EngineArg, ...]:
    return (
        number("max-batch-size", batch,
               "Most requests run together in one model call (1 turns batching off).", (1, 1024)),
        number("max-batch-wait-ms", wait_ms,
               "How long the first request of a batch waits for others (milliseconds).",
               (0, 1000), integer=False),
        select("dtype", "float32", "Data type of the weights and activations.",
               ("float32", "bfloat16")),
        number("threads", 0, "CPU threads for torch (0: torch's default).", (0, 256)),
    )


SENTENCE_TRANSFORMERS = Framework(
    id=1,
    name="sentence-transformers",
    description="waypost's embedding server: OpenAI-compatible /v1/embeddings with adaptive"
    " batching and optional int8 quantization on CPU.",
    tasks=("feature-extraction",),
    engine_args=(
        *_builtin_args(32, 5),
        number("max-seq-length", 0, "Truncate inputs to this many tokens (0: the model's own).",
               (0, 65536)),
        switch("normalize-embeddings", False,
               "Scale every embedding to unit length (the model may already do so)."),
    ),
    quantizations=("int8",),
    builtin=True,
    executable=None,
    requires=("torch", "sentence_transformers"),
)

TRANSFORMERS = Framework(
    id=2,
    name="transformers",
    description="waypost's server for transformers and diffusers models: OpenAI-compatible"
    " completions, chat (with images) and image generation.",
    tasks=("text-generation", "image-text-to-text", "text-to-image"),
    engine_args=(
        *_builtin_args(8, 10),
        number("max-model-len", 2048,
               "Longest prompt plus completion, in tokens; longer requests are refused.",
               (1, _BIG)),
        number("default-max-tokens", 128, "Completion length when a request gives no max_tokens.",
               (1, _BIG)),
        number("num-inference-steps", 25, "Denoising steps per image (text-to-image).", (1, 500)),
        number("guidance-scale", 7.5, "Classifier-free guidance (text-to-image).", (0, 50),
               integer=False),
    ),
    quantizations=("int8",),
    builtin=True,
    executable=None,
    requires=("torch", "transformers"),
    quantization_tasks={"int8": ("text-generation", "image-text-to-text")},
)

VLLM = Framework(
    id=3,
    name="vllm",
    description="vLLM's OpenAI-compatible server (vllm serve): paged attention, continuous"
    " batching; needs a GPU.",
    tasks=("text-generation", "image-text-to-text"),
    engine_args=(
        select("block-size", "16", "Token block size of the paged KV cache.",
               ("1", "8", "16", "32", "64", "128")),
        select("dtype", "auto", "Data type of the weights and activations.", _DTYPES),
        select("scheduling-policy", "fcfs",
               "fcfs: first come first served; priority: by each request's priority.",
               ("fcfs", "priority")),
        number("gpu-memory-utilization", 0.9, "Share of GPU memory the engine may use.",
               (0.01, 1.0), integer=False),
        switch("enable-prefix-caching", True, "Reuse the KV cache of shared prompt prefixes.",
               off_flag="--no-enable-prefix-caching"),
        number("max-model-len", None, "Context length (default: the model's).", (1, _BIG)),
        number("max-num-seqs", None, "Most sequences in one iteration.", (1, 65536)),
        number("tensor-parallel-size", 1, "GPUs to shard the model over.", (1, 64)),
        select("kv-cache-dtype", "auto", "Data type of the KV cache.",
               ("auto", "fp8", "fp8_e4m3", "fp8_e5m2")),
        switch("enforce-eager", False, "Always run eagerly (no CUDA graphs)."),
    ),
    quantizations=("awq", "gptq", "fp8", "bitsandbytes", "awq_marlin", "gptq_marlin"),
    builtin=False,
    executable="vllm",
)

TGI = Framework(
    id=4,
    name="tgi",
    description="Hugging Face Text Generation Inference (text-generation-launcher); needs a GPU.",
    tasks=("text-generation", "image-text-to-text"),
    engine_args=(
        select("dtype", "float16", "Data type of the weights.", ("float16", "bfloat16")),
        number("max-input-tokens", None, "Longest prompt, in tokens.", (1, _BIG)),
        number("max-total-tokens", None, "Longest prompt plus completion.", (1, _BIG)),
        number("max-batch-prefill-tokens", None, "Token budget of a prefill batch.", (1, _BIG)),
        number("max-batch-size", None, "Most requests in one batch.", (1, 65536)),
        number("max-concurrent-requests", 128, "Requests beyond this are refused.", (1, 65536)),
        number("cuda-memory-fraction", 1.0, "Share of GPU memory to use.", (0.01, 1.0),
               integer=False),
        number("num-shard", None, "GPUs to shard the model over.", (1, 64)),
        number("waiting-served-ratio", 0.3,
               "Scheduling: the waiting/running ratio at which a prefill is forced.", (0, 100),
               integer=False),
    ),
    quantizations=(
        "awq", "gptq", "fp8", "bitsandbytes", "bitsandbytes-nf4", "bitsandbytes-fp4", "eetq",
        "marlin", "exl2",
    ),
    builtin=False,
    executable="text-generation-launcher",
)

#: GGUF quantization types: llama.cpp serves the model directory's file of that type.
GGUF_TYPES = (
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q4_K_M", "Q4_K_S",
    "Q4_0", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "IQ4_XS", "IQ4_NL",
)

LLAMA_CPP = Framework(
    id=5,
    name="llama.cpp",
    description="llama.cpp's llama-server for GGUF models, on CPU or GPU; the quantization"
    " picks the GGUF file.",
    tasks=("text-generation", "feature-extraction"),
    engine_args=(
        number("ctx-size", 4096, "Context size in tokens (0: the model's).", (0, _BIG)),
        number("n-gpu-layers", 0, "Layers to offload to the GPU.", (0, 10_000)),
        number("parallel", 1, "Slots: requests decoded at once.", (1, 1024)),
        number("batch-size", 2048, "Logical batch size of prompt processing.", (1, _BIG)),
        number("ubatch-size", 512, "Physical batch size.", (1, _BIG)),
        number("threads", None, "CPU threads for generation.", (1, 1024)),
        switch("cont-batching", True, "Continuous batching.", off_flag="--no-cont-batching"),
        select("flash-attn", "auto", "Flash attention.", ("on", "off", "auto")),
        select("cache-type-k", "f16", "Data type of the K cache.",
               ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")),
        switch("mlock", False, "Keep the model in RAM (never swapped out)."),
    ),
    quantizations=GGUF_TYPES,
    builtin=False,
    executable="llama-server",
)

SGLANG = Framework(
    id=6,
    name="sglang",
    description="SGLang's server (python -m sglang.launch_server): RadixAttention prefix"
    " caching; needs a GPU.",
    tasks=("text-generation", "image-text-to-text", "feature-extraction"),
    engine_args=(
        select("dtype", "auto", "Data type of the weights and activations.", _DTYPES),
        number("mem-fraction-static", None, "Share of GPU memory for weights and KV cache.",
               (0.01, 1.0), integer=False),
        number("context-length", None, "Context length (default: the model's).", (1, _BIG)),
        select("schedule-policy", "fcfs", "Order in which waiting requests run.",
               ("lpm", "random", "fcfs", "dfs-weight")),
        switch("disable-radix-cache", False, "Turn prefix caching off."),
        number("chunked-prefill-size", None, "Tokens per prefill chunk (-1: no chunking).",
               (-1, _BIG)),
        number("max-running-requests", None, "Most requests running at once.", (1, 65536)),
        number("tp-size", 1, "GPUs to shard the model over.", (1, 64)),
        number("page-size", 1, "Tokens per KV cache page.", (1, 1024)),
        select("kv-cache-dtype", "auto", "Data type of the KV cache.",
               ("auto", "fp8_e4m3", "fp8_e5m2")),
    ),
    quantizations=("awq", "gptq", "fp8", "bitsandbytes", "awq_marlin", "gptq_marlin", "gguf"),
    builtin=False,
    executable=None,
    module="sglang.launch_server",
)

FRAMEWORKS: tuple[Framework, ...] = (
    SENTENCE_TRANSFORMERS,
    TRANSFORMERS,
    VLLM,
    TGI,
    LLAMA_CPP,
    SGLANG,
)
# fmt: on
