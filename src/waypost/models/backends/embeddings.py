"""Embeddings with sentence-transformers: a batch of requests is one ``encode`` call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .torchsetup import dtype_of, quantize_int8

__all__ = ["SentenceTransformerModel"]


class SentenceTransformerModel:
    def __init__(self, model_dir: Path, args: dict[str, object], quantization: str | None) -> None:
        from sentence_transformers import SentenceTransformer

        model: Any = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        model = model.to(dtype_of(args))
        max_length = int(str(args.get("max-seq-length") or 0))
        if max_length:
            model.max_seq_length = max_length
        if quantization == "int8":
            model = quantize_int8(model, args)
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
