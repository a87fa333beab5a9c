"""The model store: model directories registered by ``owner/name``, kept by content.

``waypost models add OWNER/MODEL PATH`` sends the directory as a tar stream; this
module unpacks it with the standard library's ``data`` extraction filter (which
refuses ``..``, links leaving the folder and device files; absolute paths are
refused here too, where the filter would only strip their "/"), reads
its task and digest (``waypost.models.modeldir``), and keeps the files under
``<home>/models/<digest>``, so two names for the same files share them and a name
never points at files that change. Nothing is ever fetched from a hub.
"""

from __future__ import annotations

import asyncio
import shutil
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from waypost.errors import Conflict, InvalidSpec, Problem, TooLarge
from waypost.model.names import name_problems
from waypost.models.modeldir import ModelInfo, inspect_model
from waypost.models.tasks import TASKS
from waypost.store import ModelRecord, Store

__all__ = ["ModelLibrary", "check_model_id", "split_model_id"]


def split_model_id(model_id: str) -> tuple[str, str]:
    """``owner/name`` -> (owner, name), or InvalidSpec with one problem per broken rule."""
    owner, sep, name = model_id.partition("/")
    if not sep or "/" in name:
        raise InvalidSpec.of(
            [Problem(f"a model id is owner/name, not {model_id!r}", field="model")]
        )
    check_model_id(owner, name)
    return owner, name


def check_model_id(owner: str, name: str) -> None:
    problems = [
        Problem(p, field=field)
        for field, value in (("owner", owner), ("name", name))
        for p in name_problems(value, f"model {field}")
    ]
    if problems:
        raise InvalidSpec.of(problems)


class ModelLibrary:
    def __init__(self, store: Store, root: Path, *, max_bytes: int) -> None:
        self.store = store
        self.root = root
        self.max_bytes = max_bytes
        # Keeping files, registering them and forgetting unused ones take turns, so one
        # request never removes files another has just kept for the same digest.
        self._registering = asyncio.Lock()

    def path_of(self, record: ModelRecord) -> Path:
        """Where the files of a registered model are."""
        return self.root / record.digest

    async def add(
        self,
        owner: str,
        name: str,
        archive: AsyncIterator[bytes],
        *,
        task: str | None,
        actor: str,
    ) -> tuple[ModelRecord, bool]:
        """Register the model directory in the tar stream ``archive``; (record, created)."""
        check_model_id(owner, name)
        if task is not None and task not in TASKS:
            raise InvalidSpec.of(
                [Problem(f"unknown task {task!r}; known: {', '.join(TASKS)}", field="task")]
            )
        incoming = self.root / ".incoming" / uuid.uuid4().hex
        incoming.mkdir(parents=True)
        tar_path = incoming.with_suffix(".tar")
        try:
            await self._receive(archive, tar_path)
            info = await asyncio.to_thread(_unpack_and_inspect, tar_path, incoming / "files")
            chosen = _task_of(info, task, f"{owner}/{name}")
            async with self._registering:
                return await self._register(owner, name, chosen, info, incoming / "files", actor)
        finally:
            await asyncio.to_thread(_remove, incoming, tar_path)

    async def _register(
        self, owner: str, name: str, task: str, info: ModelInfo, files: Path, actor: str
    ) -> tuple[ModelRecord, bool]:
        await asyncio.to_thread(self._keep, files, info.digest)
        try:
            return await asyncio.to_thread(
                self.store.add_model,
                owner,
                name,
                task=task,
                digest=info.digest,
                size=info.size,
                files=len(info.files),
                actor=actor,
            )
        except BaseException:
            # Files kept for a name that was then refused belong to nobody, unless
            # another model has the same content.
            await asyncio.to_thread(self._forget_unused, info.digest)
            raise

    async def get(self, owner: str, name: str) -> ModelRecord:
        return await asyncio.to_thread(self.store.get_model, owner, name)

    async def listing(self) -> list[ModelRecord]:
        return await asyncio.to_thread(self.store.list_models)

    async def remove(self, owner: str, name: str, *, actor: str, used_by: list[str]) -> None:
        """Unregister a model; Conflict while endpoints (``used_by``) still serve it."""
        if used_by:
            raise Conflict(
                f"model {owner}/{name} is served by {', '.join(sorted(used_by))}; "
                "delete those endpoints first"
            )
        async with self._registering:
            record = await asyncio.to_thread(self.store.remove_model, owner, name, actor=actor)
            await asyncio.to_thread(self._forget_unused, record.digest)

    async def _receive(self, archive: AsyncIterator[bytes], target: Path) -> None:
        received = 0
        with target.open("wb") as out:
            async for chunk in archive:
                received += len(chunk)
                if received > self.max_bytes:
                    raise TooLarge(
                        f"the model archive is over this installation's limit of "
                        f"{self.max_bytes} bytes"
                    )
                await asyncio.to_thread(out.write, chunk)
        if received == 0:
            raise InvalidSpec.of(
                [Problem("the request has no body: send the model directory as a tar archive")]
            )

    def _keep(self, files: Path, digest: str) -> None:
        kept = self.root / digest
        if kept.exists():
            return  # the same files are already here under another name (or from before)
        files.rename(kept)

    def _forget_unused(self, digest: str | None) -> None:
        if digest and not self.store.model_digest_in_use(digest):
            shutil.rmtree(self.root / digest, ignore_errors=True)


def _unpack_and_inspect(tar_path: Path, into: Path) -> ModelInfo:
    into.mkdir()
    try:
        with tarfile.open(tar_path, mode="r:*") as archive:
            archive.extractall(into, filter=_strict_data_filter)
    except tarfile.FilterError as exc:
        raise InvalidSpec.of([Problem(f"the model archive has an unsafe entry: {exc}")]) from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InvalidSpec.of(
            [Problem(f"the model archive is not a readable tar file: {exc}")]
        ) from exc
    return inspect_model(into)


def _strict_data_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    # The ``data`` filter would quietly strip a leading "/"; an archive that names
    # absolute paths was not made by ``waypost models add``, so it is refused instead.
    if member.name.startswith("/") or PurePosixPath(member.name).is_absolute():
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, dest)


def _task_of(info: ModelInfo, given: str | None, model_id: str) -> str:
    if info.task is not None and given is not None and info.task != given:
        raise InvalidSpec.of(
            [
                Problem(
                    f"the model's own config says its task is {info.task}, not {given}",
                    field="task",
                )
            ]
        )
    chosen = info.task or given
    if chosen is None:
        raise InvalidSpec.of(
            [
                Problem(
                    f"cannot tell the task of {model_id} from its files; give it "
                    f"(one of {', '.join(TASKS)})",
                    field="task",
                )
            ]
        )
    return chosen


def _remove(folder: Path, file: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    file.unlink(missing_ok=True)
