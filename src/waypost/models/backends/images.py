"""Text to image with a diffusers pipeline; requests sharing size and steps run together."""

from __future__ import annotations

import io
from itertools import groupby
from pathlib import Path
from typing import Any

import torch

from ..openai import ImageRequest
from .torchsetup import dtype_of

__all__ = ["DiffusionModel"]


class DiffusionModel:
    def __init__(self, model_dir: Path, args: dict[str, object]) -> None:
        from diffusers import DiffusionPipeline

        pipeline: Any = DiffusionPipeline.from_pretrained(  # type: ignore[no-untyped-call]
            str(model_dir), local_files_only=True, torch_dtype=dtype_of(args)
        )
        pipeline.set_progress_bar_config(disable=True)
        self.pipeline = pipeline
        self.steps = int(str(args["num-inference-steps"]))
        self.guidance = float(str(args["guidance-scale"]))

    def generate(self, batch: list[ImageRequest]) -> list[list[bytes]]:
        results: dict[int, list[bytes]] = {}
        order = sorted(range(len(batch)), key=lambda i: self._key(batch[i]))
        for _, group in groupby(order, key=lambda i: self._key(batch[i])):
            indices = list(group)
            images = self._run([batch[i] for i in indices])
            for index in indices:
                count = batch[index].n
                results[index], images = images[:count], images[count:]
        return [results[i] for i in range(len(batch))]

    def _key(self, request: ImageRequest) -> tuple[int, int, int, bool, int]:
        steps = request.steps or self.steps
        return (request.width, request.height, steps, request.seed is None, request.seed or 0)

    def _run(self, requests: list[ImageRequest]) -> list[bytes]:
        first = requests[0]
        generator = None
        if first.seed is not None:
            generator = torch.Generator().manual_seed(first.seed)
        output = self.pipeline(
            prompt=[r.prompt for r in requests for _ in range(r.n)],
            width=first.width,
            height=first.height,
            num_inference_steps=first.steps or self.steps,
            guidance_scale=self.guidance,
            generator=generator,
            output_type="pil",
        )
        return [_png(image) for image in output.images]


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
