"""Content-addressed bundle archives under ``<home>/bundles/<sha256>.tar.gz``."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["BundleStore"]


class BundleStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        return self.root / f"{digest}.tar.gz"

    def save(self, data: bytes) -> tuple[str, Path]:
        """Store ``data`` once; returns its sha256 and its path."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        return digest, target
