"""torch settings shared by the backends: threads, dtype and int8 dynamic quantization.

``torch.ao.quantization.quantize_dynamic`` is deprecated in torch 2.13 in favour of
torchao, which is not installed here; it still works and is what the CPU int8
path uses (its deprecation warnings are silenced here, and only here).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch

from waypost.errors import InvalidSpec

__all__ = ["configure", "dtype_of", "quantize_int8"]

log = logging.getLogger(__name__)


def configure(args: dict[str, object]) -> None:
    threads = int(str(args.get("threads") or 0))
    if threads > 0:
        torch.set_num_threads(threads)
    torch.set_grad_enabled(False)


def dtype_of(args: dict[str, object]) -> torch.dtype:
    return torch.bfloat16 if args.get("dtype") == "bfloat16" else torch.float32


def quantize_int8(model: Any, args: dict[str, object]) -> Any:
    """``model`` with its ``nn.Linear`` layers replaced by dynamic int8 ones (CPU).

    Weights are quantized per output channel (on all-MiniLM-L6-v2 the embeddings
    keep a cosine of about 0.975 to float32's, against 0.955 per tensor);
    activations are quantized per batch at run time by the fbgemm/x86 kernels.

    InvalidSpec when the model has no such layer (GPT-2's Conv1D, for one) or is not
    float32: dynamic quantization would then change nothing or fail later.
    """
    if dtype_of(args) != torch.float32:
        raise InvalidSpec("quantization int8 needs dtype float32 (it quantizes float32 weights)")
    linears = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    if not linears:
        raise InvalidSpec("quantization int8 found no torch.nn.Linear layer to quantize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        quantized = quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )
    log.info("int8: quantized %d linear layers", linears)
    return quantized
