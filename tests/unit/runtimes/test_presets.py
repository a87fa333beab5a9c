"""Cloud resource presets: defaults, lookup, the resources file, and resolving a spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from waypost.errors import InvalidSpec
from waypost.model.spec import EndpointSpec, Resources
from waypost.settings import (
    DEFAULT_RESOURCES,
    ResourcePreset,
    Settings,
    apply_preset,
    parse_resources_file,
)

GiB = 2**30
SMALL = ResourcePreset(1, "cpu-small", cpu=0.5, memory=GiB)
GPU = ResourcePreset(4, "gpu-a10", cpu=8, memory=32 * GiB, gpu=1, gpu_type="nvidia-a10")

FILE = """\
# this installation's cloud resources
default: gpu-a10
resources:
  - {id: 1, name: cpu-small, cpu: 0.5, memory: 1Gi}
  - id: 4
    name: gpu-a10
    cpu: 8
    memory: 32Gi
    gpu: 1
    gpu-type: nvidia-a10
"""


def test_defaults_fit_one_machine() -> None:
    settings = Settings(home=Path("/h"))
    assert settings.resources == DEFAULT_RESOURCES
    assert [(p.id, p.name, p.cpu, p.memory) for p in settings.resources] == [
        (1, "cpu-small", 0.5, GiB),
        (2, "cpu-medium", 1.0, 2 * GiB),
        (3, "cpu-large", 2.0, 4 * GiB),
    ]
    assert settings.default_resource == settings.resource(1)


@pytest.mark.parametrize("wanted", [2, "2", " 2", "cpu-medium"])
def test_lookup_by_id_or_name(wanted: int | str) -> None:
    assert Settings(home=Path("/h")).resource(wanted).name == "cpu-medium"


def test_an_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(InvalidSpec) as caught:
        Settings(home=Path("/h")).resource("huge")
    assert caught.value.status == 422
    assert caught.value.message == (
        "unknown cloud resource 'huge'; this installation has: 1 cpu-small (0.5 CPU, 1 GiB); "
        "2 cpu-medium (1 CPU, 2 GiB); 3 cpu-large (2 CPU, 4 GiB)"
    )
    assert caught.value.problems[0].field == "resources.preset"


@pytest.mark.parametrize(
    ("resources", "preset", "expected"),
    [
        pytest.param(Resources(preset="cpu-small"), SMALL,
                     Resources(cpu=0.5, memory=GiB, preset="cpu-small"), id="all-from-preset"),
        pytest.param(Resources(cpu=2, preset="cpu-small"), SMALL,
                     Resources(cpu=2, memory=GiB, preset="cpu-small"), id="explicit-cpu-wins"),
        pytest.param(Resources(memory=3 * GiB, preset="x"), GPU,
                     Resources(cpu=8, memory=3 * GiB, gpu=1, gpu_type="nvidia-a10", preset="x"),
                     id="gpu-from-preset"),
        pytest.param(Resources(gpu=2, preset="x"), GPU,
                     Resources(cpu=8, memory=32 * GiB, gpu=2, preset="x"),
                     id="explicit-gpu-count-drops-the-presets-type"),
    ],
)  # fmt: skip
def test_apply_preset(resources: Resources, preset: ResourcePreset, expected: Resources) -> None:
    assert apply_preset(resources, preset) == expected


def test_effective_spec_resolves_the_named_preset_only() -> None:
    settings = Settings(home=Path("/h"))
    plain = EndpointSpec(name="web", kind="wsgi", target="app:app")
    assert settings.effective_spec(plain) is plain  # no preset: unlimited, unchanged
    picked = plain.with_changes(resources=Resources(preset="2"))
    assert settings.effective_spec(picked).resources == Resources(cpu=1, memory=2 * GiB, preset="2")
    with pytest.raises(InvalidSpec, match="unknown cloud resource 'nope'"):
        settings.effective_spec(plain.with_changes(resources=Resources(preset="nope")))


def test_the_resources_file_replaces_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "resources.yaml").write_text(FILE)
    settings = Settings.from_environ({"WAYPOST_HOME": str(tmp_path)})
    assert settings.resources == (SMALL, GPU)
    assert settings.default_resource_id == 4
    # A file named by the environment wins over the home's; an override wins over both.
    other = tmp_path / "other.yaml"
    other.write_text("resources:\n  - {id: 9, name: tiny, cpu: 0.1, memory: 128Mi}\n")
    named = Settings.from_environ(
        {"WAYPOST_HOME": str(tmp_path), "WAYPOST_RESOURCES_FILE": str(other)}
    )
    assert [p.name for p in named.resources] == ["tiny"]
    assert named.default_resource_id == 9  # the first, when default: is left out
    given = Settings.from_environ({"WAYPOST_HOME": str(tmp_path)}, resources=(SMALL,))
    assert given.resources == (SMALL,)


def test_without_a_file_the_defaults_stay_and_a_missing_named_file_is_an_error(
    tmp_path: Path,
) -> None:
    assert Settings.from_environ({"WAYPOST_HOME": str(tmp_path)}).resources == DEFAULT_RESOURCES
    with pytest.raises(InvalidSpec, match=r"WAYPOST_RESOURCES_FILE names .*nope\.yaml"):
        Settings.from_environ(
            {"WAYPOST_HOME": str(tmp_path), "WAYPOST_RESOURCES_FILE": str(tmp_path / "nope.yaml")}
        )


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        pytest.param("", ["r.yaml:1:1: the file is empty"], id="empty"),
        pytest.param("- 1\n", ["r.yaml:1:1: the file should be a mapping"], id="list"),
        pytest.param("resources: []\n", ["r.yaml:1:12 (resources): resources: must list presets"],
                     id="no-presets"),
        pytest.param(
            "resources:\n  - {id: 1, name: a, cpu: 0, memory: lots, extra: 1}\n",
            ["r.yaml:2:27 (resources[0].cpu): resources[0].cpu must be more than 0",
             "r.yaml:2:38 (resources[0].memory): resources[0].memory must be a memory size",
             "r.yaml:2:44 (resources[0].extra): unknown key 'extra' in resources[0]"],
            id="bad-values",
        ),
        pytest.param(
            "resources:\n  - {id: 1, name: a, cpu: 1, memory: 1Gi}\n"
            "  - {id: 1, name: a, cpu: 1, memory: 1Gi}\ndefault: b\nzone: x\n",
            ["r.yaml:3:10 (resources[1].id): id 1 is used twice",
             "r.yaml:3:19 (resources[1].name): name 'a' is used twice",
             "r.yaml:4:10 (default): default: 'b' is not one of the presets listed",
             "r.yaml:5:1 (zone): unknown key 'zone'"],
            id="clashes",
        ),
    ],
)  # fmt: skip
def test_a_bad_resources_file_names_file_line_and_column(text: str, problems: list[str]) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_resources_file(text, file="r.yaml")
    found = [str(p) for p in caught.value.problems]
    assert len(found) == len(problems), found
    for line, start in zip(found, problems, strict=True):
        assert line.startswith(start), (line, start)
