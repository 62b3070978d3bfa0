"""Adding a generation is a registry row, one recipe and one fixture - nothing else.

The imagined next Ollama generation "G6" (from v0.40.0) builds its CUDA backend with a plain
nvcc call. With only its row (below), its recipe (``new_generation_recipe.py``) and its fixture
tree (below), the unchanged tool recognises a G6 tree, plans for G6's runtime rule and stock
list, builds it, audits the device code against the plan and packages it.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.generations import registry, use_registry
from build_tools.toolkit.model import Toolkit

from boxes import SEED_BOX, write_json_inventory
from g5_fixture import git
from ollama_fixture import G4_GO, MAIN_GO, SOURCES

G6_ROW = """
[G6]
title = "plain nvcc backends"
first_tag = "v0.40.0-rc0"
recipe = "new_generation_recipe:NvccRecipe"

[G6.runtime]
rule = "exact"
vulkan_default_on = true
skip_log = [{ format = "arch_not_compiled", message = "skipping CUDA device" }]

[G6.tree]
files = ["native/backends.mk", "LLAMA_ENGINE"]
presets_file = "native/presets.json"
cuda_preset = "cuda_v{major}"
stock_preset = "cuda_v{major}"

[[G6.install]]
rank = 5
pattern = "engine/"
evidence = "engine/ in the library directory (G6 layout)"

[[G6.stock]]
since = "v0.40.0-rc0"
cuda12 = "61;75;86-virtual"
cuda13 = "75;86;120"
"""


def write_g6_tree(root: Path, tag: str = "v0.40.1") -> Path:
    """A G6 source tree: the files its row names, a kernel, and Ollama's Go module shape."""
    presets = {
        "configurePresets": [
            {"name": "cuda_v12", "cacheVariables": {"CMAKE_CUDA_ARCHITECTURES": "61;75;86"}},
            {"name": "cuda_v13", "cacheVariables": {"CMAKE_CUDA_ARCHITECTURES": "75;86;120"}},
        ]
    }
    files = {
        "native/backends.mk": "# built by the recipe with nvcc\n",
        "native/presets.json": json.dumps(presets),
        "native/kernel.cu": textwrap.dedent(
            """\
            namespace { __device__ float twice(float x) { return 2 * x; } }
            __global__ void scale(float *x, int n) {
                int i = blockIdx.x * blockDim.x + threadIdx.x;
                if (i < n) x[i] = twice(x[i]);
            }
            """
        ),
        "LLAMA_ENGINE": "engine-1\n",
        "go.mod": "module github.com/ollama/ollama\n\ngo 1.22\n",
        "main.go": MAIN_GO,
        **{k: v for k, v in SOURCES.items() if not k.startswith("ggml/")},
        **G4_GO,
    }
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(content)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "g6"]):
        git(root, *args)
    git(root, "tag", "-a", tag, "-m", tag)
    return root


@pytest.fixture
def with_g6() -> object:
    with use_registry(registry().with_rows(G6_ROW)) as extended:
        yield extended


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("with_g6")
def test_plan_for_a_g6_tag_uses_its_row(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "--arch", "preset", "--ref", "v0.40.2", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["ollama_generation"] == "G6"
    assert plan["ollama_rule"] == "exact"
    assert plan["cuda_architectures"] == "61;75;86-virtual"


def test_without_its_row_the_tree_is_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_g6_tree(tmp_path / "ollama-g6")
    code, _, err = run(
        capsys, "build", "--source-dir", str(source), "--workdir", str(tmp_path / "w"),
        "--arch", "86", "--cuda", "12.4",
    )  # fmt: skip
    assert code == 8
    assert "does not look like any known Ollama source layout" in err


@pytest.mark.toolchain
@pytest.mark.usefixtures("with_g6")
def test_a_g6_tree_builds_audits_and_packages(
    tmp_path: Path, cuda12_toolkit: Toolkit, capsys: pytest.CaptureFixture[str]
) -> None:
    del cuda12_toolkit  # installed into the cache, found by --cuda 12.4
    source = write_g6_tree(tmp_path / "ollama-g6")
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    dist = tmp_path / "dist"
    code, out, err = run(
        capsys, "build", "--source-dir", str(source), "--workdir", str(tmp_path / "w"),
        "--inventory", str(inventory), "--exclude-arch", "50", "--cuda", "12.4",
        "--dist-dir", str(dist), "--json",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["generation"] == "G6"
    assert summary["plan"]["cuda_architectures"] == "86"
    staging = Path(summary["staging_dir"])
    (audit,) = summary["audit"]
    assert Path(audit["library"]) == staging / "lib/ollama/cuda_v12/libggml-cuda.so"
    assert (audit["ok"], audit["found"]) == (True, "86")
    assert summary["go_variables"]["github.com/ollama/ollama/version.Version"] == "0.40.1"
    assert (staging / "bin" / "ollama").is_file()

    # `inspect` reads the version from the binary and judges the GPUs by G6's rule.
    code, out, err = run(capsys, "inspect", str(staging), "--inventory", str(inventory), "--json")
    assert code == 0, err
    inspection = json.loads(out)
    assert inspection["generation"] == "G6"
    uses = {g["name"]: g["ollama_uses"] for g in inspection["gpus"]}
    assert uses == {"NVIDIA GeForce RTX 3060": True, "Tesla M10": False}
