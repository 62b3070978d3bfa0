"""Opt-in: the newest Ollama (v0.32.15, v0.33.0-rc2) configured for the seed box with a real
llama.cpp tree, a few of its objects compiled, and its MLX backend off.

Both tags pin llama.cpp b10488 (``LLAMA_CPP_VERSION``) and changed Ollama's compat patches
against v0.32.2 (``001-llama-cpp-hooks.patch`` rewritten, ``models/003-llama-cpp-laguna-metal
.patch`` instead of the Laguna model file). Needs BUILD_TOOLS_OLLAMA_REPO (a clone of
github.com/ollama/ollama) and BUILD_TOOLS_LLAMA_CPP_SOURCE_B10488: a llama.cpp clone with tag
b10488, or the nearest plain tree offline to which those patches apply, such as
``thirdparty/llama.cpp`` of the ``xllamacpp==2026.8.10566`` sdist on PyPI (llama.cpp b10566;
the b10068 tree of ``xllamacpp==2026.7.10068`` does not take b10488's hooks patch). The build
records the tree as unverified (``--accept-unverified-llama-cpp``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.audit import read_library
from build_tools.source.ollama_tree import read_tree
from build_tools.toolkit.model import Toolkit

from boxes import SEED_BOX, write_json_inventory
from real_source import materialise_tag, ninja, ninja_targets, ollama_repo

pytestmark = [pytest.mark.real_source, pytest.mark.toolchain]

LLAMA_ENV = "BUILD_TOOLS_LLAMA_CPP_SOURCE_B10488"
PIN = "b10488"


def llama_cpp_source() -> str:
    value = os.environ.get(LLAMA_ENV)
    if not value:
        pytest.skip(
            f"set {LLAMA_ENV} to a llama.cpp clone (tag {PIN}) or the llama.cpp tree of the "
            "xllamacpp==2026.8.10566 sdist to run the newest real G5 tests"
        )
    return value


@pytest.mark.parametrize("tag", ["v0.33.0-rc2", "v0.32.15"])
def test_newest_superbuild_configures_for_the_seed_box_compiles_and_keeps_mlx_off(
    tag: str,
    tmp_path: Path,
    cuda12_toolkit: Toolkit,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo, llama = ollama_repo(), llama_cpp_source()
    source = materialise_tag(repo, tag, tmp_path / "src")
    tree = read_tree(source)
    # Read from the tree, never assumed: the pin, the compat patches, the Go ldflags.
    assert tree.llama_cpp_version == PIN
    assert tree.go_ldflags is not None
    assert "-X=github.com/ollama/ollama/server.mode=release" in tree.go_ldflags
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    args = [
        "build", "--source", str(source), "--ref", tag, "--workdir", str(tmp_path / "work"),
        "--inventory", str(inventory), "--llama-cpp-source", llama,
        "--accept-unverified-llama-cpp", "--cuda", "12.4", "--exclude-arch", "50",
        "--stop-after", "configure", "--json",
    ]  # fmt: skip
    code = main(args)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["generation"] == "G5"
    assert summary["plan"]["cuda_architectures"] == "86"
    assert [g["ollama_uses"] for g in summary["plan"]["gpus"]] == [True] * 3 + [False] * 4
    used = summary["llama_cpp"]
    assert used["llama_cpp_version"] == PIN
    assert used["compat_patches"] == [
        "001-llama-cpp-hooks.patch",
        "models/003-llama-cpp-laguna-metal.patch",
    ]
    if used["kind"] == "directory":
        assert used["verified"] is False  # recorded, not hidden
    backends = {b["name"]: b for b in summary["backends"]}
    assert (backends["cuda_v12"]["enabled"], backends["cuda_v12"]["archs"]) == (True, "86")
    assert backends["vulkan"]["enabled"] is False
    assert backends["mlx-cuda"]["enabled"] is False
    assert "MLX_CUDA_ARCHITECTURES" in backends["mlx-cuda"]["reason"]

    superbuild = Path(summary["build_dir"]) / "superbuild"
    top_cache = (superbuild / "CMakeCache.txt").read_text()
    assert "OLLAMA_MLX_BACKENDS:STRING=\n" in top_cache  # MLX really is off in the superbuild
    assert not (superbuild / "mlx_cuda_v13").exists()
    cache = (superbuild / "llama-server-cuda_v12" / "CMakeCache.txt").read_text()
    assert f"CMAKE_CUDA_COMPILER:FILEPATH={cuda12_toolkit.nvcc}" in cache
    assert re.search(r"^CMAKE_CUDA_ARCHITECTURES:\w+=86$", cache, re.M), "the plan reached it"

    # Ollama's compat source against the patched tree, then two ggml-cuda objects.
    local = superbuild / "llama-server-local"
    compat = [t for t in ninja_targets(local, ("llama-ollama-compat.cpp.o",)) if "/mtmd" not in t]
    assert len(compat) == 1, compat
    ninja(local, *compat)
    cuda = superbuild / "llama-server-cuda_v12"
    objects = ninja_targets(cuda, ("/acc.cu.o", "/arange.cu.o"))
    assert len(objects) == 2, objects
    ninja(cuda, *objects)
    for obj in objects:
        audit = read_library(cuda / obj)
        assert audit.sass == ("86",), obj
        assert audit.ptx == ("86",), obj
