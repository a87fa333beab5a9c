"""Calibrated int8 quantization on a small random torch model (no model files)."""

from __future__ import annotations

import logging

import pytest
import torch

from waypost.errors import InvalidSpec
from waypost.models.backends.torchsetup import Int8Linear, quantize_int8


def outlier_mlp() -> torch.nn.Module:
    """Three linears whose middle one gets inputs with a few huge channels, as in BERT."""
    torch.manual_seed(0)
    first = torch.nn.Linear(32, 64)
    with torch.no_grad():
        first.weight[:, :] *= 0.2
        first.weight[:3, :] *= 60.0  # channels 0-2 of the middle layer's input: outliers
    model = torch.nn.Sequential(
        first, torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.Linear(64, 16)
    )
    return model.eval()


def inputs() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(24, 32)


def test_int8_linear_is_close_to_float_with_and_without_smoothing() -> None:
    torch.manual_seed(2)
    linear = torch.nn.Linear(64, 32)
    x = torch.randn(50, 64)
    expected = linear(x)
    for smoothing in (None, torch.rand(64) + 0.5):
        int8 = Int8Linear(linear, smoothing)
        error = (int8(x) - expected).norm() / expected.norm()
        assert error < 0.02
    assert "smoothed" in repr(Int8Linear(linear, torch.ones(64)))
    assert "smoothed" not in repr(Int8Linear(linear))


def test_calibrated_quantization_reaches_the_target_and_logs_what_it_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = outlier_mlp()
    x = inputs()
    with torch.no_grad():
        reference = model(x)
        caplog.set_level(logging.INFO, logger="waypost.models.backends.torchsetup")
        quantized = quantize_int8(model, {}, calibrate=lambda m: m(x))
        output = quantized(x)
    assert any(isinstance(m, Int8Linear) for m in quantized.modules())
    cosine = torch.nn.functional.cosine_similarity(reference, output)
    assert float(cosine.min()) >= 0.99
    assert not torch.equal(reference, output)
    assert "kept in float32" in caplog.text
    assert "calibration similarity" in caplog.text
    assert "(0 smoothed)" not in caplog.text  # the outlier channels called for smoothing


def test_without_calibration_quantize_dynamic_is_used() -> None:
    model = outlier_mlp()
    quantized = quantize_int8(model, {})
    assert not any(isinstance(m, Int8Linear) for m in quantized.modules())
    assert not any(type(m) is torch.nn.Linear for m in quantized.modules())


def test_int8_needs_float32_and_a_linear_layer() -> None:
    with pytest.raises(InvalidSpec, match="float32"):
        quantize_int8(outlier_mlp(), {"dtype": "bfloat16"}, calibrate=lambda m: m(inputs()))
    with pytest.raises(InvalidSpec, match=r"no torch\.nn\.Linear"):
        quantize_int8(torch.nn.Sequential(torch.nn.ReLU()), {}, calibrate=lambda m: m)
