"""Embeddings with sentence-transformers: a batch of requests is one ``encode`` call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .torchsetup import dtype_of, quantize_int8

__all__ = ["CALIBRATION", "SentenceTransformerModel"]

#: What int8 quantization calibrates on (see ``torchsetup.quantize_int8``): varied on
#: purpose, since the error concentrates in short inputs (where the special tokens'
#: outlier activations weigh most in the mean) and in unusual tokens: single words,
#: questions, numbers, code, other languages, and long sentences.
CALIBRATION = (
    "Hi",
    "ok",
    "What?",
    "the",
    "Thanks!",
    "Sure.",
    "no",
    "Hmm, why?",
    "Bye!",
    "cat",
    "Good night.",
    "1 2 3 4 5",
    "SELECT id FROM users;",
    "A man is eating food.",
    "Where is the nearest train station from here, please?",
    "The new movie is awesome and the theater was full.",
    "Das Wetter ist heute schön.",
    "C'est la vie, mon ami.",
    "def add(a, b): return a + b",
    "Error 404: page not found at https://example.com/index.html",
    "The cat sat on the mat and looked out of the window at the birds.",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons,"
    " mediated by eight gluon fields.",
    "The model server groups concurrent requests into one batch so the matrix"
    " multiplications run on many sentences at once while each caller still gets its own"
    " embedding back quickly.",
    "In 1969, Apollo 11 landed on the Moon; Neil Armstrong and Buzz Aldrin walked on its"
    " surface while Michael Collins orbited above in the command module.",
)


class SentenceTransformerModel:
    def __init__(self, model_dir: Path, args: dict[str, object], quantization: str | None) -> None:
        from sentence_transformers import SentenceTransformer

        model: Any = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        model = model.to(dtype_of(args))
        max_length = int(str(args.get("max-seq-length") or 0))
        if max_length:
            model.max_seq_length = max_length
        if quantization == "int8":
            model = quantize_int8(model, args, calibrate=_calibration_run)
        model.eval()
        self.model = model
        self.normalize = bool(args.get("normalize-embeddings"))
        self.dimensions = int(model.get_sentence_embedding_dimension() or 0)

    def embed(self, batch: list[tuple[str, ...]]) -> list[tuple[list[list[float]], int]]:
        texts = [text for inputs in batch for text in inputs]
        vectors = self.model.encode(
            texts,
            batch_size=len(texts),
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        ).tolist()
        counts = self._token_counts(texts)
        results: list[tuple[list[list[float]], int]] = []
        start = 0
        for inputs in batch:
            end = start + len(inputs)
            results.append((vectors[start:end], sum(counts[start:end])))
            start = end
        return results

    def _token_counts(self, texts: list[str]) -> list[int]:
        encoded = self.model.tokenizer(texts, truncation=True, max_length=self.model.max_seq_length)
        return [len(ids) for ids in encoded["input_ids"]]


def _calibration_run(model: Any) -> Any:
    """``model``'s embeddings of ``CALIBRATION``, in small batches as when serving."""
    return model.encode(
        list(CALIBRATION), batch_size=6, convert_to_tensor=True, show_progress_bar=False
    )
