"""``waypost models add|list|show|remove``: the model store.

``add OWNER/MODEL PATH`` sends a Hugging Face layout directory (config, weights,
tokenizer) to the control plane, which keeps it by content; endpoints then name it
with ``runtime: FRAMEWORK`` and ``model: OWNER/MODEL``. The task comes from the
model's own config where it says, else from ``--task``.
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from waypost.cli.common import JsonFlag, api_client, run_command
from waypost.cli.render import err, out, print_json
from waypost.errors import InvalidSpec, Problem

__all__ = ["models_app", "pack_model_dir"]

models_app = typer.Typer(help="The model store: models endpoints can serve.", no_args_is_help=True)

ModelArg = Annotated[str, typer.Argument(help="The model id, OWNER/MODEL.", metavar="OWNER/MODEL")]


def pack_model_dir(folder: Path, into: Path) -> int:
    """Write ``folder``'s files into the tar ``into`` (uncompressed: weights do not shrink).

    Entries are relative to the folder, regular files and directories only, in sorted
    order; symbolic links are followed (a Hugging Face cache links its blobs).
    Returns the number of files.
    """
    if not folder.is_dir():
        raise InvalidSpec.of([Problem(f"{folder} is not a directory", field="path")])
    count = 0
    with tarfile.open(into, "w", dereference=True) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if any(part.startswith(".") for part in relative.parts) or not path.is_file():
                continue  # hidden files (.git, .cache) are not part of a model
            archive.add(path, arcname=relative.as_posix(), recursive=False)
            count += 1
    if count == 0:
        raise InvalidSpec.of([Problem(f"{folder} has no files", field="path")])
    return count


@models_app.command("add")
def add(
    model: ModelArg,
    path: Annotated[Path, typer.Argument(help="The model's directory (Hugging Face layout).")],
    task: Annotated[
        str | None,
        typer.Option(help="The task, when the model's config does not say it."),
    ] = None,
) -> None:
    """Register the model in PATH as OWNER/MODEL (immutable once added)."""

    def action() -> None:
        with tempfile.TemporaryDirectory(prefix="waypost-model-") as tmp:
            archive = Path(tmp) / "model.tar"
            files = pack_model_dir(path, archive)
            err.print(
                f"sending {files} files ({archive.stat().st_size / 1e6:.1f} MB) ...",
                markup=False,
                highlight=False,
            )
            with archive.open("rb") as stream, api_client() as client:
                found = client.upload_stream(
                    f"/models/{model}", stream, "application/x-tar", task=task
                )
        digest = found["digest"][:12]
        out.print(
            f"{found['id']}: {found['task']}, {found['files']} files, sha256 {digest}",
            markup=False,
            highlight=False,
        )

    run_command(action)


@models_app.command("list")
def list_(
    task: Annotated[str | None, typer.Option(help="Only models of this task.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every model in the store."""

    def action() -> None:
        with api_client() as client:
            found = client.get("/models", task=task)
        if as_json:
            print_json(found)
            return
        if not found:
            out.print("no models: `waypost models add OWNER/MODEL PATH` adds one")
            return
        table = Table(box=None, header_style="bold")
        for column in ("MODEL", "TASK", "SIZE", "DIGEST", "ADDED"):
            table.add_column(column)
        for m in found:
            table.add_row(
                m["id"], m["task"], f"{m['size'] / 1e6:.1f} MB", m["digest"][:12], m["created_at"]
            )
        out.print(table)

    run_command(action)


@models_app.command("show")
def show(model: ModelArg) -> None:
    """One model, as JSON."""

    def action() -> None:
        with api_client() as client:
            print_json(client.get(f"/models/{model}"))

    run_command(action)


@models_app.command("remove")
def remove(model: ModelArg) -> None:
    """Remove a model no endpoint serves any more."""

    def action() -> None:
        with api_client() as client:
            client.delete(f"/models/{model}")
        err.print(f"model {model} removed", markup=False, highlight=False)

    run_command(action)
