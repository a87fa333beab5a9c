"""Model backends of the built-in server: load a model directory, run batches on it.

``base`` (the protocols and ``Served``) imports no model library; each backend
module imports torch and its library when its model is loaded, in the replica.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from waypost.errors import InvalidSpec

from .base import Served

if TYPE_CHECKING:
    from ..tasks import Task

__all__ = ["Served", "load"]


def load(
    framework: str,
    task: Task,
    model_dir: Path,
    args: dict[str, object],
    quantization: str | None,
    name: str,
) -> Served:
    """Load ``model_dir`` for ``task`` with ``framework``'s backend (args already resolved)."""
    from . import torchsetup

    torchsetup.configure(args)
    model: object
    if framework == "sentence-transformers" and task == "feature-extraction":
        from .embeddings import SentenceTransformerModel

        model = SentenceTransformerModel(model_dir, args, quantization)
    elif framework == "transformers" and task == "text-generation":
        from .textgen import CausalLM

        model = CausalLM(model_dir, args, quantization)
    elif framework == "transformers" and task == "image-text-to-text":
        from .vision import VisionLM

        model = VisionLM(model_dir, args, quantization)
    elif framework == "transformers" and task == "text-to-image":
        from .images import DiffusionModel

        model = DiffusionModel(model_dir, args)
    else:
        raise InvalidSpec(f"the built-in server cannot serve {task} with {framework}")
    return Served(
        name=name,
        framework=framework,
        task=task,
        model=model,
        max_batch_size=int(str(args["max-batch-size"])),
        max_wait=float(str(args["max-batch-wait-ms"])) / 1000.0,
        quantization=quantization,
    )
