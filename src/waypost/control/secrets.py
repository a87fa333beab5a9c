"""Project secrets: names checked here, values encrypted with a key kept in the home.

A secret is an environment variable every replica of its project gets. The store
keeps only ciphertext (Fernet: AES-128-CBC with an HMAC-SHA256); the key is
``<home>/secrets.key``, made on first use with mode 0600. Nothing here logs, and no
error message carries a value.

Replicas read their environment when they start: a changed secret reaches replicas
started after the change, so restart the endpoint to apply it to running ones.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from waypost.errors import InvalidSpec, Problem, TooLarge, Unavailable
from waypost.store import SecretRecord, Store

__all__ = [
    "KEY_FILE",
    "MAX_NAME",
    "MAX_VALUE_BYTES",
    "RESERVED",
    "ProjectSecrets",
    "SecretBox",
    "check_secret_name",
    "check_secret_value",
    "project_environment",
]

#: The key's file name in the home.
KEY_FILE = "secrets.key"
MAX_NAME = 128
MAX_VALUE_BYTES = 64 * 1024
#: Variables waypost or the runtime sets itself: a secret may not shadow them.
RESERVED = frozenset({"PORT", "SCRIPT_NAME", "VH_DEFAULT_PREFIX", "PATH", "PYTHONPATH", "HOME"})
_RESERVED_PREFIX = "WAYPOST_"
_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def check_secret_name(name: str) -> None:
    """InvalidSpec unless ``name`` is an environment variable name a secret may take."""
    why = None
    if len(name) > MAX_NAME:
        why = f"is longer than {MAX_NAME} characters"
    elif not _NAME.fullmatch(name):
        why = "is not an environment variable name (A-Z, 0-9 and _, not starting with a digit)"
    elif name in RESERVED or name.startswith(_RESERVED_PREFIX):
        why = f"is set by waypost itself (reserved: {', '.join(sorted(RESERVED))}, WAYPOST_*)"
    if why:
        shown = name if len(name) <= MAX_NAME else name[:MAX_NAME] + "…"
        raise InvalidSpec.of([Problem(f"secret name {shown!r} {why}", field="name")])


def check_secret_value(value: str) -> None:
    """TooLarge over 64 KiB (UTF-8); the message never shows the value."""
    size = len(value.encode())
    if size > MAX_VALUE_BYTES:
        raise TooLarge(f"the secret value is {size} bytes; the limit is {MAX_VALUE_BYTES}")


class SecretBox:
    """Encrypts and decrypts secret values with the key in ``key_file``.

    The key is read (or created) on first use, so a box costs nothing until a
    secret is set or read.
    """

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._fernet: Fernet | None = None
        self._lock = threading.Lock()

    @classmethod
    def in_home(cls, home: Path) -> SecretBox:
        return cls(home / KEY_FILE)

    def encrypt(self, value: str) -> bytes:
        return self._box().encrypt(value.encode())

    def decrypt(self, token: bytes) -> str:
        """The value; Unavailable if it was encrypted with another key (or is damaged)."""
        try:
            return self._box().decrypt(token).decode()
        except InvalidToken as exc:
            raise Unavailable(
                f"cannot decrypt a stored secret with the key in {self.key_file}: it was "
                "encrypted with another key (restore that file, or set the secrets again)"
            ) from exc

    def _box(self) -> Fernet:
        with self._lock:
            if self._fernet is None:
                self._fernet = self._load()
            return self._fernet

    def _load(self) -> Fernet:
        key = _ensure_key_file(self.key_file)
        try:
            return Fernet(key)
        except ValueError as exc:
            raise Unavailable(
                f"the secrets key in {self.key_file} is not a valid key "
                "(32 url-safe base64-encoded bytes)"
            ) from exc


class ProjectSecrets:
    """The use cases behind the secrets routes: check, encrypt, store; never show a value."""

    def __init__(self, store: Store, box: SecretBox) -> None:
        self.store = store
        self.box = box

    async def set(self, org: str, project: str, name: str, value: str, *, actor: str) -> None:
        check_secret_name(name)
        check_secret_value(value)
        ciphertext = await asyncio.to_thread(self.box.encrypt, value)
        await asyncio.to_thread(self.store.set_secret, org, project, name, ciphertext, actor=actor)

    async def names(self, org: str, project: str) -> list[SecretRecord]:
        return await asyncio.to_thread(self.store.list_secrets, org, project)

    async def delete(self, org: str, project: str, name: str, *, actor: str) -> None:
        await asyncio.to_thread(self.store.delete_secret, org, project, name, actor=actor)


def project_environment(store: Store, box: SecretBox, org: str, project: str) -> dict[str, str]:
    """The decrypted secrets of a project, name to value (blocking: call it in a thread)."""
    return {name: box.decrypt(token) for name, token in store.secret_values(org, project).items()}


def _ensure_key_file(path: Path) -> bytes:
    """The key in ``path``, or a new one written there with mode 0600."""
    if path.exists():
        key = path.read_bytes().strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    os.chmod(path, 0o600)
    return key
