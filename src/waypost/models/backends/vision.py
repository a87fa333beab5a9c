"""Image-text-to-text with a transformers vision-language model (processor + model).

Chat messages carry images as content parts; the processor's chat template places
them. Each request is its own ``generate`` call (images of different sizes do not
pad into one batch); the batcher still serialises them on the model's thread.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from waypost.errors import InvalidSpec, Problem

from ..openai import FinishReason, Generation, GenerationRequest
from .base import Prepared
from .textgen import context_limit, settle_limits, trim_at_stop
from .torchsetup import load_pretrained

__all__ = ["VisionLM"]


class VisionLM:
    def __init__(self, model_dir: Path, args: dict[str, object], quantization: str | None) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.processor: Any = AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call]
            str(model_dir), local_files_only=True
        )
        model: Any = load_pretrained(AutoModelForImageTextToText, model_dir, args, quantization)
        self.model = model
        text_config = getattr(model.config, "text_config", model.config)
        self.limit = context_limit(text_config, int(str(args["max-model-len"])))
        self.default_max_tokens = int(str(args["default-max-tokens"]))

    def prepare(self, request: GenerationRequest) -> Prepared:
        if request.prompt is not None:
            message = "image-text-to-text models are served through /v1/chat/completions"
            raise InvalidSpec(message, [Problem(message, field="prompt")])
        inputs = self._inputs(request, [_image(b) for m in request.messages for b in m.images])
        ids = tuple(int(i) for i in inputs["input_ids"][0].tolist())
        images = tuple(b for m in request.messages for b in m.images)
        prepared = settle_limits(request, ids, self.limit, self.default_max_tokens)
        return Prepared(request, ids, prepared.max_new_tokens, images)

    def _inputs(self, request: GenerationRequest, images: list[Any]) -> Any:
        turns = []
        for message in request.messages:
            parts: list[dict[str, str]] = [{"type": "image"} for _ in message.images]
            parts.append({"type": "text", "text": message.text})
            turns.append({"role": message.role, "content": parts})
        prompt = self.processor.apply_chat_template(turns, add_generation_prompt=True)
        return self.processor(
            text=[prompt], images=images or None, return_tensors="pt", padding=True
        )

    def generate(self, batch: list[Prepared]) -> list[Generation]:
        return [self._one(item) for item in batch]

    def _one(self, item: Prepared, **extra: Any) -> Generation:
        request = item.request
        inputs = self._inputs(request, [_image(b) for b in item.images])
        options: dict[str, Any] = {"max_new_tokens": item.max_new_tokens, **extra}
        options["do_sample"] = request.temperature > 0
        if options["do_sample"]:
            options.update(temperature=request.temperature, top_p=request.top_p, top_k=0)
        output = self.model.generate(**inputs, **options)
        new_ids = output[0, inputs["input_ids"].shape[1] :].tolist()
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        finish: FinishReason = "length"
        for position, token in enumerate(new_ids):
            if token in eos_ids:
                new_ids, finish = new_ids[:position], "stop"
                break
        text = self.processor.tokenizer.decode(new_ids, skip_special_tokens=True)
        text, stopped = trim_at_stop(text, request.stop)
        return Generation(text, len(item.input_ids), len(new_ids), "stop" if stopped else finish)

    def stream(
        self, item: Prepared, emit: Callable[[str], None], cancelled: threading.Event
    ) -> Generation:
        """One piece of text at the end: vision models are streamed as a single chunk."""
        result = self._one(item)
        if result.text and not cancelled.is_set():
            emit(result.text)
        return result


def _image(data: bytes) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        message = f"an image_url part is not an image PIL can read: {exc}"
        raise InvalidSpec(message, [Problem(message, field="messages")]) from exc
