"""What the server's routes need from a loaded model (no model library imported here)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ..openai import Generation, GenerationRequest, ImageRequest
from ..tasks import Task

__all__ = ["EmbeddingModel", "ImageModel", "Prepared", "Served", "TextModel"]


class EmbeddingModel(Protocol):
    def embed(self, batch: list[tuple[str, ...]]) -> list[tuple[list[list[float]], int]]:
        """Per request: its vectors and its token count."""
        ...


@dataclass(frozen=True)
class Prepared:
    """A generation request with its prompt tokenised and its limits settled."""

    request: GenerationRequest
    input_ids: tuple[int, ...]
    max_new_tokens: int
    images: tuple[bytes, ...] = ()


class TextModel(Protocol):
    def prepare(self, request: GenerationRequest) -> Prepared:
        """Tokenise and check limits; InvalidSpec for a prompt the model cannot take."""
        ...

    def generate(self, batch: list[Prepared]) -> list[Generation]: ...

    def stream(
        self, item: Prepared, emit: Callable[[str], None], cancelled: threading.Event
    ) -> Generation:
        """Generate ``item``, calling ``emit`` with each new piece of text."""
        ...


class ImageModel(Protocol):
    def generate(self, batch: list[ImageRequest]) -> list[list[bytes]]:
        """Per request: its PNG images."""
        ...


@dataclass(frozen=True)
class Served:
    """A loaded model and how the server batches it."""

    name: str
    framework: str
    task: Task
    model: object  # an EmbeddingModel, TextModel or ImageModel, by task
    max_batch_size: int
    max_wait: float  # seconds
    quantization: str | None = None
