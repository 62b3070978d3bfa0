"""Opt-in: configure a real Ollama v0.32.2 superbuild with a real llama.cpp and compile a few
of its objects.

Needs BUILD_TOOLS_OLLAMA_REPO (a clone of github.com/ollama/ollama) and
BUILD_TOOLS_LLAMA_CPP_SOURCE: a llama.cpp clone with tag b10069, or a plain llama.cpp tree
such as ``thirdparty/llama.cpp`` from the ``xllamacpp==2026.7.10068`` sdist on PyPI (llama.cpp
b10068, to which both of v0.32.2's compat patches apply). A full build takes hours on 2 cores;
this checks what fixtures cannot: Ollama's real superbuild, presets and compat patches against
real llama.cpp sources - one CPU object, Ollama's compat source and two ggml-cuda objects.
"""

from __future__ import annotations

import json
import os
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

LLAMA_ENV = "BUILD_TOOLS_LLAMA_CPP_SOURCE"
TAG = "v0.32.2"


def llama_cpp_source() -> str:
    value = os.environ.get(LLAMA_ENV)
    if not value:
        pytest.skip(
            f"set {LLAMA_ENV} to a llama.cpp clone (tag b10069) or the llama.cpp tree of the "
            "xllamacpp==2026.7.10068 sdist to run the real G5 test"
        )
    return value


def test_real_v0_32_2_superbuild_with_patched_llama_cpp_compiles_planned_archs(
    tmp_path: Path,
    cuda12_toolkit: Toolkit,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo, llama = ollama_repo(), llama_cpp_source()
    source = materialise_tag(repo, TAG, tmp_path / "src")
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    args = [
        "build", "--source", str(source), "--ref", TAG, "--workdir", str(tmp_path / "work"),
        "--inventory", str(inventory), "--llama-cpp-source", llama,
        # harmless for a clone at the pinned tag (still recorded as verified)
        "--accept-unverified-llama-cpp",
        "--cuda", "12.4", "--arch", "61,86", "--exclude-arch", "50",
        "--stop-after", "configure", "--json",
    ]  # fmt: skip
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["generation"] == "G5"
    assert summary["plan"]["cuda_architectures"] == "61-real;86"
    used = summary["llama_cpp"]
    assert used["llama_cpp_version"] == "b10069"
    assert used["compat_patches"] == [
        "001-llama-cpp-hooks.patch",
        "models/003-llama-cpp-laguna.patch",
    ]
    # Every compat patch is in the tree the build uses (it reverses cleanly).
    llama_root = Path(used["root"])
    for patch in used["compat_patches"]:
        subprocess.run(
            ["git", "apply", "--reverse", "--check", str(source / "llama" / "compat" / patch)],
            cwd=llama_root,
            env={**os.environ, "GIT_CEILING_DIRECTORIES": str(llama_root.parent)},
            check=True,
            capture_output=True,
        )

    superbuild = Path(summary["build_dir"]) / "superbuild"
    cache = (superbuild / "llama-server-cuda_v12" / "CMakeCache.txt").read_text()
    assert f"CMAKE_CUDA_COMPILER:FILEPATH={cuda12_toolkit.nvcc}" in cache
    assert f"FETCHCONTENT_SOURCE_DIR_LLAMA_CPP:PATH={llama_root}" in cache

    # The CPU build compiles ggml and Ollama's compat source against the patched tree.
    local = superbuild / "llama-server-local"
    cpu_objects = ninja_targets(local, ("/ggml-base.dir/ggml.c.o", "llama-ollama-compat.cpp.o"))
    cpu_objects = [t for t in cpu_objects if "/mtmd.dir/" not in t]
    assert len(cpu_objects) == 2, cpu_objects
    ninja(local, *cpu_objects)

    cuda = superbuild / "llama-server-cuda_v12"
    objects = ninja_targets(cuda, ("/acc.cu.o", "/arange.cu.o"))
    assert len(objects) == 2, objects
    ninja(cuda, *objects)
    for obj in objects:
        audit = read_library(cuda / obj)
        assert audit.sass == ("61", "86"), obj
        assert audit.ptx == ("86",), obj


def _variants_ninja_would_build(build_dir: Path, target: str) -> set[str]:
    """The ggml-cpu-<variant> modules among ``target``'s inputs (transitive; ``ninja -n`` would
    stop at the CONFIGURE_DEPENDS re-check of llama/server's globs)."""
    plan = subprocess.run(
        ["ninja", "-C", str(build_dir), "-t", "inputs", target],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(re.findall(r"libggml-cpu-([a-z0-9_.]+)\.so", plan))


def test_real_v0_32_2_llama_server_builds_only_the_chosen_cpu_variants(
    tmp_path: Path, cuda12_toolkit: Toolkit, capsys: pytest.CaptureFixture[str]
) -> None:
    del cuda12_toolkit
    repo, llama = ollama_repo(), llama_cpp_source()
    source = materialise_tag(repo, TAG, tmp_path / "src")
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    common = [
        "build", "--source", str(source), "--ref", TAG, "--workdir", str(tmp_path / "work"),
        "--inventory", str(inventory), "--llama-cpp-source", llama,
        "--accept-unverified-llama-cpp", "--cuda", "12.4", "--arch", "86",
        "--stop-after", "configure", "--json",
    ]  # fmt: skip
    assert main([*common, "--cpu-variants", "haswell"]) == 0, capsys.readouterr().err
    local = Path(json.loads(capsys.readouterr().out)["build_dir"]) / "superbuild"
    local = local / "llama-server-local"
    # The superbuild's CPU build targets (llama-server, llama-quantize) pull in only these; its
    # install globs the modules that were built.
    assert _variants_ninja_would_build(local, "llama-server") == {"x64", "haswell"}
    assert _variants_ninja_would_build(local, "llama-quantize") <= {"x64", "haswell"}

    assert main([*common, "--cpu-variants", "all"]) == 0, capsys.readouterr().err
    assert len(_variants_ninja_would_build(local, "llama-server")) == 14
