"""``waypost models add``'s packing of a model folder, and ``waypost endpoints render``."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from waypost.cli.main import app
from waypost.cli.models import pack_model_dir
from waypost.errors import InvalidSpec


def test_a_model_folder_is_packed_flat_sorted_and_without_hidden_files(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "tokenizer").mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    (model / ".cache").mkdir()
    (model / ".cache" / "lock").write_text("x")
    blob = tmp_path / "blob.safetensors"
    blob.write_bytes(b"\x00" * 16)
    (model / "model.safetensors").symlink_to(blob)  # as in a Hugging Face cache

    archive = tmp_path / "model.tar"
    count = pack_model_dir(model, archive)

    with tarfile.open(archive) as packed:
        members = packed.getmembers()
    assert count == 3
    assert [m.name for m in members] == ["config.json", "model.safetensors", "tokenizer/vocab.txt"]
    assert all(m.isfile() for m in members)  # the link was followed
    assert members[1].size == 16


def test_an_empty_or_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSpec, match="is not a directory"):
        pack_model_dir(tmp_path / "nowhere", tmp_path / "a.tar")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidSpec, match="has no files"):
        pack_model_dir(tmp_path / "empty", tmp_path / "b.tar")


FOLDER = """\
project: acme/llm
deployments:
  - name: gen
    endpoints:
      - name: vl
        runtime: vllm
        model: meta/llama
        engine-args: {dtype: float16, enable-prefix-caching: true}
        quantization: awq
      - name: web
        wsgi: app:app
"""


def test_render_prints_the_servers_real_command_line(tmp_path: Path) -> None:
    (tmp_path / "waypost.yaml").write_text(FOLDER)
    (tmp_path / "app.py").write_text("app = None\n")

    result = CliRunner().invoke(app, ["endpoints", "render", "gen/vl", "--path", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("vllm serve /models/meta/llama ")
    for flag in ("--dtype float16", "--enable-prefix-caching", "--quantization awq"):
        assert flag in result.output


def test_render_explains_what_it_cannot_render(tmp_path: Path) -> None:
    (tmp_path / "waypost.yaml").write_text(FOLDER)
    (tmp_path / "app.py").write_text("app = None\n")

    app_endpoint = CliRunner().invoke(
        app, ["endpoints", "render", "gen/web", "--path", str(tmp_path)]
    )
    missing = CliRunner().invoke(app, ["endpoints", "render", "gen/nope", "--path", str(tmp_path)])

    assert app_endpoint.exit_code == 1
    assert "only runtime: ones are rendered" in app_endpoint.output
    assert missing.exit_code == 1
    assert "declares no endpoint 'gen/nope'" in missing.output
