"""Opt-in: configure real Ollama trees with the tool and compile a few targets of each.

Set BUILD_TOOLS_OLLAMA_REPO to a clone of github.com/ollama/ollama. A full build takes 10-20
minutes on 2 cores, so this checks the parts that fixtures cannot reproduce - the real presets,
CMakeLists and ggml sources - on ggml-base, one CPU variant and two ggml-cuda objects.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.audit import read_library
from build_tools.toolkit.model import Toolkit

from boxes import SEED_BOX, write_json_inventory
from real_source import materialise_tag, ninja, ninja_targets, ollama_repo

pytestmark = [pytest.mark.real_source, pytest.mark.toolchain]


@pytest.mark.parametrize(("tag", "generation"), [("v0.6.8", "G3"), ("v0.24.0", "G4")])
def test_real_tree_compiles_exactly_the_planned_archs(
    tag: str,
    generation: str,
    tmp_path: Path,
    cuda12_toolkit: Toolkit,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = ollama_repo()
    del cuda12_toolkit
    source = materialise_tag(repo, tag, tmp_path / "src")
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    code = main(
        [
            "build",
            "--source",
            str(source),
            "--ref",
            tag,
            "--workdir",
            str(tmp_path / "work"),
            "--inventory",
            str(inventory),
            "--arch",
            "61,86",
            "--exclude-arch",
            "50",
            "--cuda",
            "12.4",
            "--stop-after",
            "configure",
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["generation"] == generation
    assert summary["plan"]["cuda_architectures"] == "61-real;86"
    build_dir = Path(summary["build_dir"])

    ninja(build_dir / "cpu", "ggml-base", "ggml-cpu-haswell")
    assert list((build_dir / "cpu").rglob("libggml-cpu-haswell.so"))

    objects = ninja_targets(build_dir / "cuda_v12", ("/acc.cu.o", "/arange.cu.o"))
    assert len(objects) == 2, objects
    ninja(build_dir / "cuda_v12", *objects)
    for obj in objects:
        audit = read_library(build_dir / "cuda_v12" / obj)
        assert audit.sass == ("61", "86"), obj
        assert audit.ptx == ("86",), obj


def _variants_ninja_would_build(build_dir: Path, target: str) -> set[str]:
    """The ggml-cpu-<variant> modules ``ninja -n target`` would link."""
    plan = subprocess.run(
        ["ninja", "-C", str(build_dir), "-n", target], capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"libggml-cpu-([a-z0-9_.]+)\.so", plan))


@pytest.mark.parametrize("tag", ["v0.6.8", "v0.24.0"])
def test_real_tree_builds_and_installs_only_the_chosen_cpu_variants(
    tag: str, tmp_path: Path, cuda12_toolkit: Toolkit, capsys: pytest.CaptureFixture[str]
) -> None:
    del cuda12_toolkit
    source = materialise_tag(ollama_repo(), tag, tmp_path / "src")
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    common = [
        "build", "--source", str(source), "--ref", tag, "--workdir", str(tmp_path / "work"),
        "--inventory", str(inventory), "--arch", "86", "--cuda", "12.4",
        "--stop-after", "configure", "--json",
    ]  # fmt: skip
    assert main([*common, "--cpu-variants", "haswell"]) == 0, capsys.readouterr().err
    cpu_dir = Path(json.loads(capsys.readouterr().out)["build_dir"]) / "cpu"
    assert _variants_ninja_would_build(cpu_dir, "ggml-cpu") == {"x64", "haswell"}
    install = (cpu_dir / "cmake_install.cmake").read_text()
    assert set(re.findall(r"libggml-cpu-([a-z0-9_.]+)\.so", install)) == {"x64", "haswell"}

    # Configured again for all variants in the same build directory: all of them come back.
    assert main([*common, "--cpu-variants", "all"]) == 0, capsys.readouterr().err
    every = {"x64", "sse42", "sandybridge", "haswell", "skylakex", "icelake", "alderlake"}
    assert _variants_ninja_would_build(cpu_dir, "ggml-cpu") == every
