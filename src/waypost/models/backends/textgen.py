"""Text generation with a transformers causal LM: batched ``generate`` and streaming.

Requests in one batch that share their sampling settings run as one left-padded
``generate`` call; streaming requests run alone, token by token, through a
streamer that hands text to the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Any

import torch

from waypost.errors import InvalidSpec, Problem

from ..openai import FinishReason, Generation, GenerationRequest, Message
from .base import Prepared
from .torchsetup import load_pretrained

__all__ = ["CausalLM", "context_limit", "trim_at_stop"]


def context_limit(config: Any, configured: int) -> int:
    """The longest prompt plus completion: the engine arg, capped by the model's positions."""
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return min(configured, value)
    return configured


def trim_at_stop(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` cut before the earliest stop string, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


class CausalLM:
    def __init__(self, model_dir: Path, args: dict[str, object], quantization: str | None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        model: Any = load_pretrained(AutoModelForCausalLM, model_dir, args, quantization)
        self.tokenizer = tokenizer
        self.model = model
        self.limit = context_limit(model.config, int(str(args["max-model-len"])))
        self.default_max_tokens = int(str(args["default-max-tokens"]))
        self.eos = {int(i) for i in _ids(model.generation_config.eos_token_id, tokenizer)}

    def prompt_text(self, request: GenerationRequest) -> str:
        if request.prompt is not None:
            return request.prompt
        return chat_prompt(self.tokenizer, request.messages)

    def prepare(self, request: GenerationRequest) -> Prepared:
        text = self.prompt_text(request)
        chat = request.prompt is None
        ids = tuple(self.tokenizer(text, add_special_tokens=not chat)["input_ids"])
        return settle_limits(request, ids, self.limit, self.default_max_tokens)

    def generate(self, batch: list[Prepared]) -> list[Generation]:
        results: dict[int, Generation] = {}
        order = sorted(range(len(batch)), key=lambda i: _sampling_key(batch[i]))
        for _, group in groupby(order, key=lambda i: _sampling_key(batch[i])):
            indices = list(group)
            for index, result in zip(indices, self._run([batch[i] for i in indices]), strict=True):
                results[index] = result
        return [results[i] for i in range(len(batch))]

    def _run(self, items: list[Prepared]) -> list[Generation]:
        encoded = self.tokenizer.pad(
            {"input_ids": [list(item.input_ids) for item in items]}, return_tensors="pt"
        )
        output = self.model.generate(**encoded, **self._options(items[0]))
        width = encoded["input_ids"].shape[1]
        return [self._result(item, output[row, width:].tolist()) for row, item in enumerate(items)]

    def _options(self, item: Prepared, **extra: Any) -> dict[str, Any]:
        request = item.request
        sample = request.temperature > 0
        if request.seed is not None:
            torch.manual_seed(request.seed)
        options: dict[str, Any] = {
            "max_new_tokens": item.max_new_tokens,
            "do_sample": sample,
            "pad_token_id": self.tokenizer.pad_token_id,
            **extra,
        }
        if sample:
            options.update(temperature=request.temperature, top_p=request.top_p, top_k=0)
        if request.stop:
            options.update(stop_strings=list(request.stop), tokenizer=self.tokenizer)
        return options

    def _result(self, item: Prepared, new_ids: list[int]) -> Generation:
        finish: FinishReason = "length"
        for position, token in enumerate(new_ids):
            if token in self.eos:
                new_ids, finish = new_ids[:position], "stop"
                break
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        text, stopped = trim_at_stop(text, item.request.stop)
        finish = "stop" if stopped else finish
        return Generation(text, len(item.input_ids), len(new_ids), finish)

    def stream(
        self, item: Prepared, emit: Callable[[str], None], cancelled: threading.Event
    ) -> Generation:
        from transformers import StoppingCriteria, StoppingCriteriaList

        streamer = _TextStreamer(self.tokenizer, self.eos, item.request.stop, emit)

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = cancelled.is_set() or streamer.stopped
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool)

        inputs = torch.tensor([list(item.input_ids)])
        criteria = StoppingCriteriaList([_Stop()])
        options = self._options(item, streamer=streamer, stopping_criteria=criteria)
        options.pop("stop_strings", None)  # the streamer cuts at stop strings itself
        options.pop("tokenizer", None)
        output = self.model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs),
                                     **options)  # fmt: skip
        result = self._result(item, output[0, inputs.shape[1] :].tolist())
        streamer.flush(result.text)
        finish: FinishReason = "stop" if streamer.stopped else result.finish_reason
        return Generation(streamer.sent, result.prompt_tokens, result.completion_tokens, finish)


class _TextStreamer:
    """A transformers streamer: decodes the new tokens so far, emits the new text.

    Whole-text decoding (not token by token) keeps multi-byte characters and
    tokenizer spacing right; text ending in U+FFFD waits for its next token.
    """

    def __init__(
        self, tokenizer: Any, eos: set[int], stops: tuple[str, ...], emit: Callable[[str], None]
    ) -> None:
        self.tokenizer = tokenizer
        self.eos = eos
        self.stops = stops
        self.emit = emit
        self.ids: list[int] = []
        self.sent = ""
        self.prompt_seen = False
        self.stopped = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        if self.stopped:
            return
        for token in value.reshape(-1).tolist():
            if token in self.eos:
                self.stopped = True
                break
            self.ids.append(int(token))
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        text, hit = trim_at_stop(text, self.stops)
        self.stopped = self.stopped or hit
        if text.endswith("\ufffd") and not self.stopped:
            return
        if text.startswith(self.sent) and len(text) > len(self.sent):
            self.emit(text[len(self.sent) :])
            self.sent = text

    def end(self) -> None:
        pass

    def flush(self, final: str) -> None:
        """Emit what the final decoding adds to the text already sent (held-back bytes)."""
        if final.startswith(self.sent) and len(final) > len(self.sent):
            self.emit(final[len(self.sent) :])
            self.sent = final


def chat_prompt(tokenizer: Any, messages: tuple[Message, ...]) -> str:
    """The chat template's prompt, or a plain ``role: text`` transcript without one."""
    turns = [{"role": m.role, "content": m.text} for m in messages]
    if getattr(tokenizer, "chat_template", None):
        text: str = tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
        return text
    return "".join(f"{t['role']}: {t['content']}\n" for t in turns) + "assistant:"


def settle_limits(
    request: GenerationRequest, ids: tuple[int, ...], limit: int, default_max: int
) -> Prepared:
    """The completion length: as asked, or the default capped by the room left."""
    room = limit - len(ids)
    if room < 1:
        message = f"the prompt has {len(ids)} tokens; this model takes at most {limit - 1}"
        raise InvalidSpec(message, [Problem(message, field="prompt")])
    if request.max_tokens is not None and request.max_tokens > room:
        message = (
            f"max_tokens {request.max_tokens} plus the prompt's {len(ids)} tokens is more"
            f" than this model's {limit}"
        )
        raise InvalidSpec(message, [Problem(message, field="max_tokens")])
    wanted = request.max_tokens or min(default_max, room)
    return Prepared(request, ids, wanted)


def _sampling_key(item: Prepared) -> tuple[object, ...]:
    r = item.request
    return (item.max_new_tokens, r.temperature, r.top_p, r.stop, r.seed is None, r.seed or 0)


def _ids(value: object, tokenizer: Any) -> list[int]:
    if isinstance(value, int):
        return [value]
    if isinstance(value, list):
        return [int(v) for v in value]
    return [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
