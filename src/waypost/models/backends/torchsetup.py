"""torch settings shared by the backends: threads, dtype and int8 dynamic quantization.

``torch.ao.quantization`` (``quantize_dynamic``, the dynamic ``Linear`` and its
fbgemm/x86 kernels) is deprecated in torch 2.13 in favour of torchao, which is not
installed here; it still works and is what the CPU int8 path uses (its
deprecation warnings are silenced here, and only here).

Calibrated int8 (what the embeddings backend uses, see ``quantize_int8``) differs
from plain ``quantize_dynamic`` in three measured ways, on all-MiniLM-L6-v2 over
113 varied sentences (min / mean cosine to float32):

* activations use the full 8-bit range (``reduce_range=False``): torch's dynamic
  ``Linear`` hard-codes 7 bits, which alone costs most of the accuracy
  (0.888 / 0.971 -> 0.965 / 0.992). The 7 bits guard against int16 saturation in
  AVX2 kernels without VNNI; the calibration below measures the end result on the
  machine that serves, so a saturating CPU shows up as a low score and more
  float32 layers (and a warning when the limit is hit), not silently;
* SmoothQuant-style scaling where it lowers a layer's error: input channel ``j`` is
  divided by ``s_j = amax(x_j)^0.75 / amax(W_j)^0.25`` and the weight's column
  multiplied by it, moving the outlier channels of (per-tensor quantized)
  activations into (per-channel quantized) weights (-> 0.984 / 0.993);
* the few most sensitive layers stay float32, chosen by ``waypost.models.quantize``
  until the calibration similarity reaches ``CALIBRATION_TARGET`` (about five
  layers of 37 on MiniLM, -> >= 0.99 min on sentences not calibrated on).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from waypost.errors import InvalidSpec

from ..quantize import choose_float_layers, float_layer_limit, rank_by_error

__all__ = [
    "CALIBRATION_TARGET",
    "Int8Linear",
    "configure",
    "dtype_of",
    "load_pretrained",
    "quantize_int8",
]

#: Minimum cosine similarity, over the calibration inputs, of the int8 model's output
#: to float32's. Well above the 0.99 aimed for on any input: calibration inputs are
#: few, and on MiniLM unseen short ones, or ones in a large padded batch, land up to
#: 0.005 lower (0.994 here left some at 0.978-0.988; 0.996 keeps them >= 0.991).
CALIBRATION_TARGET = 0.996
#: SmoothQuant's migration strength: 0.75 measured best on MiniLM among 0.5-0.9
#: (0.5 leaves too much in the activations, 0.85+ spoils the weights).
SMOOTHING_ALPHA = 0.75
#: A layer is smoothed only when that cuts its error by at least this factor: the
#: rescaling of its input costs an elementwise multiply on every call.
SMOOTHING_GAIN = 0.9

log = logging.getLogger(__name__)


def configure(args: dict[str, object]) -> None:
    threads = int(str(args.get("threads") or 0))
    if threads > 0:
        torch.set_num_threads(threads)
    torch.set_grad_enabled(False)


def dtype_of(args: dict[str, object]) -> torch.dtype:
    return torch.bfloat16 if args.get("dtype") == "bfloat16" else torch.float32


def load_pretrained(
    auto_class: Any, model_dir: Path, args: dict[str, object], quantization: str | None
) -> Any:
    """``auto_class.from_pretrained`` on the local files in ``model_dir``, in the args'
    dtype, int8 if asked, in eval mode: a transformers model ready to serve."""
    model = auto_class.from_pretrained(str(model_dir), local_files_only=True, dtype=dtype_of(args))
    if quantization == "int8":
        model = quantize_int8(model, args)
    model.eval()
    return model


def quantize_int8(
    model: Any,
    args: dict[str, object],
    calibrate: Callable[[Any], torch.Tensor] | None = None,
) -> Any:
    """``model`` with its ``nn.Linear`` layers replaced by dynamic int8 ones (CPU).

    With ``calibrate`` (a function running ``model`` on built-in inputs and returning
    its outputs, one row per input) the layers are replaced in place by calibrated
    ``Int8Linear`` ones, see the module docstring and ``_calibrated``. Without it,
    plain ``quantize_dynamic`` as follows.

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
    if calibrate is not None:
        return _calibrated(model, calibrate)
    with _quiet():
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        quantized = quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )
    log.info("int8: quantized %d linear layers", linears)
    return quantized


@contextmanager
def _quiet() -> Iterator[None]:
    """torch.ao.quantization's deprecation warnings, silenced (see the module docstring)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


class Int8Linear(torch.nn.Module):
    """A dynamic int8 ``Linear``: weights per output channel, activations per call
    with the full 8-bit range, and an optional per-input-channel ``smoothing``
    (the input divided by it, the weight's columns multiplied by it)."""

    inverse: torch.Tensor | None

    def __init__(self, linear: torch.nn.Linear, smoothing: torch.Tensor | None = None) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        weight = linear.weight.detach().float()
        if smoothing is None:
            self.inverse = None
        else:
            weight = weight * smoothing
            self.register_buffer("inverse", smoothing.reciprocal())
        bias = None if linear.bias is None else linear.bias.detach().float()
        with _quiet():
            from torch.ao.quantization import PerChannelMinMaxObserver

            observer = PerChannelMinMaxObserver(
                dtype=torch.qint8, qscheme=torch.per_channel_symmetric
            )
            observer(weight)
            scales, zero_points = observer.calculate_qparams()
            qweight = torch.quantize_per_channel(
                weight, scales.double(), zero_points.long(), 0, torch.qint8
            )
            self.packed = torch.ops.quantized.linear_prepack(qweight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inverse is not None:
            x = x * self.inverse
        out: torch.Tensor = torch.ops.quantized.linear_dynamic(x, self.packed, reduce_range=False)
        return out

    def extra_repr(self) -> str:
        smoothed = ", smoothed" if self.inverse is not None else ""
        return f"in_features={self.in_features}, out_features={self.out_features}{smoothed}"


def _set(model: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def _similarity(reference: torch.Tensor, output: torch.Tensor) -> float:
    """The lowest cosine similarity of an output row to its float32 reference row."""
    a, b = reference.float().flatten(1), output.float().flatten(1)
    return float(torch.nn.functional.cosine_similarity(a, b).min())


def _calibrated(model: Any, calibrate: Callable[[Any], torch.Tensor]) -> Any:
    """Quantize every ``Linear`` of ``model`` in place, keeping the fewest in float32
    that the calibration similarity needs.

    One float32 run records each layer's inputs and the reference outputs. Each
    layer is then quantized with and without smoothing; the variant with the lower
    relative output error on its recorded inputs is kept, and that error ranks the
    layers. ``choose_float_layers`` then swaps the most sensitive ones back to
    float32 (at most a quarter of them) until the whole model's outputs reach
    ``CALIBRATION_TARGET``. A few seconds for MiniLM, once per load.
    """
    started = time.monotonic()
    linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    inputs: dict[str, list[torch.Tensor]] = {name: [] for name in linears}

    def recorder(name: str) -> Callable[..., None]:
        def record(module: torch.nn.Module, args: tuple[torch.Tensor, ...], output: Any) -> None:
            inputs[name].append(args[0].detach().reshape(-1, args[0].shape[-1]).float())

        return record

    hooks = [linear.register_forward_hook(recorder(n)) for n, linear in linears.items()]
    try:
        reference = calibrate(model)
    finally:
        for hook in hooks:
            hook.remove()
    quantized: dict[str, Int8Linear] = {}
    errors: dict[str, float] = {}
    for name, linear in linears.items():
        xs = [x for x in inputs.pop(name) if x.numel()]
        if not xs:  # never ran on the calibration inputs: quantized, ranked last
            quantized[name], errors[name] = Int8Linear(linear), 0.0
            continue
        expected = [linear(x) for x in xs]
        plain = Int8Linear(linear)
        plain_error = _error(plain, xs, expected)
        amax = torch.stack([x.abs().amax(0) for x in xs]).amax(0).clamp(min=1e-5)
        wmax = linear.weight.detach().float().abs().amax(0).clamp(min=1e-5)
        scale = (amax**SMOOTHING_ALPHA / wmax ** (1 - SMOOTHING_ALPHA)).clamp(1e-4, 1e4)
        smooth = Int8Linear(linear, scale)
        smooth_error = _error(smooth, xs, expected)
        if smooth_error < SMOOTHING_GAIN * plain_error:
            quantized[name], errors[name] = smooth, smooth_error
        else:
            quantized[name], errors[name] = plain, plain_error
    current: set[str] = set()

    def score(kept: frozenset[str]) -> float:
        for name in current - kept:
            _set(model, name, quantized[name])
        for name in kept - current:
            _set(model, name, linears[name])
        current.clear()
        current.update(kept)
        return _similarity(reference, calibrate(model))

    for name in linears:
        _set(model, name, quantized[name])
    limit = float_layer_limit(len(linears))
    selection = choose_float_layers(rank_by_error(errors), score, CALIBRATION_TARGET, limit)
    score(frozenset(selection.kept))
    kept = ", ".join(selection.kept) or "none"
    smoothed = sum(quantized[n].inverse is not None for n in linears if n not in selection.kept)
    log.info(
        "int8: quantized %d of %d linear layers (%d smoothed), kept in float32: %s; "
        "calibration similarity %.4f (target %.3f) after %d runs in %.1f s",
        len(linears) - len(selection.kept), len(linears), smoothed, kept, selection.score,
        CALIBRATION_TARGET, selection.evaluations, time.monotonic() - started,
    )  # fmt: skip
    if not selection.reached:
        log.warning(
            "int8: calibration similarity %.4f stays below %.3f with %d layers in float32 "
            "(the limit); int8 outputs may differ noticeably from float32 ones",
            selection.score, CALIBRATION_TARGET, limit,
        )  # fmt: skip
    return model


def _error(module: torch.nn.Module, xs: list[torch.Tensor], expected: list[torch.Tensor]) -> float:
    """The largest relative error (Frobenius norm) of ``module``'s outputs over ``xs``."""
    worst = 0.0
    for x, y in zip(xs, expected, strict=True):
        worst = max(worst, float((module(x) - y).norm() / y.norm().clamp(min=1e-12)))
    return worst
