"""`deploy build` end to end: the seed box's two groups built from a miniature G4 tree with real
cmake, nvcc and go, each for its own GPUs with its own toolkit, audited and installed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.deploy.unitfile import read_unit
from build_tools.toolkit.model import Toolkit

from boxes import SEED_BOX, write_json_inventory
from ollama_fixture import write_fixture

pytestmark = [pytest.mark.toolchain]


def device_code(toolkit: Toolkit, library: Path) -> list[str]:
    """`cuobjdump --list-elf --list-ptx` as ["ELF sm_86", "PTX sm_86", ...]."""
    result = subprocess.run(
        [str(toolkit.root / "bin" / "cuobjdump"), "--list-elf", "--list-ptx", str(library)],
        capture_output=True,
        text=True,
        check=True,
    )
    return sorted(
        f"{line.split()[0]} {line.rsplit('.', 2)[-2]}" for line in result.stdout.splitlines()
    )


def test_each_group_is_built_for_its_own_gpus_and_installed_into_its_prefix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    cuda12_toolkit: Toolkit,
    cuda13_toolkit: Toolkit,
    toolkit_cache: Path,
) -> None:
    source = write_fixture(tmp_path / "ollama", generation="G4", tag="v0.24.0")
    seed = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    prefix = tmp_path / "opt"
    argv = [
        "deploy", "build", "--inventory", str(seed), "--source", str(source),
        "--ref", "v0.24.0", "--workdir", str(tmp_path / "work"),
        "--dist-dir", str(tmp_path / "dist"), "--prefix", str(prefix),
        "--cache-dir", str(toolkit_cache), "--compiler-cache", "none", "--json",
    ]  # fmt: skip
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    groups = {g["name"]: g for g in json.loads(captured.out)["groups"]}
    assert list(groups) == ["86", "50"]
    for name, archs, major, toolkit in (
        ("86", "86", 13, cuda13_toolkit),
        ("50", "50", 12, cuda12_toolkit),
    ):  # the 3060s get the newest toolkit, the M10 the last one that compiles sm_50
        build = groups[name]["build"]
        assert build["plan"]["cuda_architectures"] == archs
        assert build["toolkit"]["version"] == toolkit.version
        assert [a["ok"] for a in build["audit"]] == [True]
        # Each group has its own work and dist directory, and its own install.
        assert Path(build["staging_dir"]).is_relative_to(tmp_path / "work" / "deploy" / name)
        assert Path(build["package"]["dist_dir"]) == tmp_path / "dist" / name
        install = prefix / name
        assert groups[name]["install"] == str(install)
        assert (install / "bin" / "ollama").is_file()
        library = install / "lib" / "ollama" / f"cuda_v{major}" / "libggml-cuda.so"
        assert library.is_file()
    # CUDA 13.0 from PyPI ships no cuobjdump: NVIDIA's own tool checks the M10 group's build
    # (12.4), the audit in the build summary the other.
    m10 = prefix / "50" / "lib" / "ollama" / "cuda_v12" / "libggml-cuda.so"
    assert device_code(cuda12_toolkit, m10) == ["ELF sm_50", "PTX sm_50"]
    (audit,) = groups["86"]["build"]["audit"]
    assert (audit["planned"], audit["found"]) == ("86", "86")
    # Only the group's GPUs were planned for.
    assert [g["index"] for g in groups["50"]["build"]["plan"]["gpus"]] == [3, 4, 5, 6]

    # render reads the installed release back: v0.24.0 (G4) has Vulkan off by default and
    # prunes safely, so neither variable is set.
    out = tmp_path / "deploy"
    code = main(
        ["deploy", "render", "--inventory", str(seed), "--prefix", str(prefix),
         "--output", str(out), "--format", "systemd", "--host-root", str(tmp_path)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    unit = out / "systemd" / "ollama-bt-86.service"
    assert f"Ollama facts from {prefix / '86' / 'bin' / 'ollama'}" in unit.read_text()
    env = read_unit(unit, home=None).environment
    assert "OLLAMA_VULKAN" not in env
    assert "OLLAMA_NOPRUNE" not in env


def test_dry_run_plans_both_builds_from_the_tree_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fixture(tmp_path / "ollama", generation="G4", tag="v0.24.0")
    seed = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    argv = [
        "--dry-run", "deploy", "build", "--inventory", str(seed), "--source-dir", str(source),
        "--workdir", str(tmp_path / "work"), "--dist-dir", str(tmp_path / "dist"),
        "--prefix", str(tmp_path / "opt"), "--cache-dir", str(tmp_path / "cache"),
    ]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    # The toolkits follow the tree's own CUDA presets (this one has CUDA 12 and 13).
    assert "group 86: GPUs 0,1,2, archs 86, CUDA 13.0" in err
    assert "group 50: GPUs 3,4,5,6, archs 50, CUDA 12.4" in err
    for group in ("86", "50"):
        staging = tmp_path / "work" / "deploy" / group / "staging" / "ollama"
        assert f"would install {staging} into {tmp_path / 'opt' / group}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ollama", "seed.json"]
