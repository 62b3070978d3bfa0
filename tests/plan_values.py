"""Values of the build's plan types for tests that check what a step would do with them.

Each builder takes only what the tests vary; everything else is a fixed, plausible value, so a
test reads as "this toolkit, this checkout" and not as a wall of constructor arguments.
"""

from __future__ import annotations

from pathlib import Path

from build_tools.build_plan import BuildOptions, BuildPlan
from build_tools.generations import Generation, registry
from build_tools.planning.arch_plan import ArchRequest, make_arch_plan
from build_tools.source.checkout import Checkout
from build_tools.source.llama_cpp import LlamaCppSource
from build_tools.source.ollama_tree import read_tree
from build_tools.toolkit.model import Provider, Toolkit

from boxes import SEED_BOX, inventory

__all__ = [
    "CUDA_12_4_ARCHS",
    "CUDA_13_0_ARCHS",
    "generation",
    "make_build_plan",
    "make_checkout",
    "make_options",
    "make_toolkit",
]

# What `nvcc --list-gpu-code` printed for the two toolkits this tool installs (docs/build-notes.md).
CUDA_12_4_ARCHS: tuple[str, ...] = ("50", "52", "53", "60", "61", "62", "70", "72", "75", "80")
CUDA_12_4_ARCHS += ("86", "87", "89", "90")


def generation(name: str) -> Generation:
    """A generation of the shipped registry by name ("G4")."""
    return registry().get(name)


CUDA_13_0_ARCHS = ("75", "80", "86", "87", "88", "89", "90", "100", "110", "103", "120", "121")


def make_toolkit(
    version: str = "12.4",
    *,
    archs: tuple[str, ...] = CUDA_12_4_ARCHS,
    root: Path | None = None,
    provider: Provider = "debian",
    full_version: str | None = None,
) -> Toolkit:
    root = root or Path(f"/cache/toolkits/{version}-{provider}")
    return Toolkit(
        version=version,
        full_version=full_version or {"12.4": "12.4.131", "13.0": "13.0.88"}.get(version, version),
        provider=provider,
        root=root,
        nvcc=root / "bin" / "nvcc",
        sass_archs=archs,
        ptx_archs=archs,
    )


def make_checkout(
    root: Path,
    ref: str,
    *,
    url: str | None = None,
    commit: str = "0" * 40,
    commit_time: int = 0,
    in_place: bool = True,
) -> Checkout:
    return Checkout(
        root=root,
        url=url or str(root),
        ref=ref,
        commit=commit,
        commit_time=commit_time,
        describe=ref,
        in_place=in_place,
    )


def make_options(
    workdir: Path = Path("/work"),
    *,
    jobs: int = 3,
    launcher: Path | None = None,
    with_vulkan: bool = False,
    host_compiler: Path | None = None,
    ninja: Path = Path("/bin/ninja"),
) -> BuildOptions:
    return BuildOptions(
        workdir=workdir,
        jobs=jobs,
        cmake=Path("/bin/cmake"),
        ninja=ninja,
        go=Path("/bin/go"),
        go_version="1.26.0",
        compiler_launcher=launcher,
        with_vulkan=with_vulkan,
        host_compiler=host_compiler,
    )


def make_build_plan(
    checkout: Checkout,
    generation: Generation,
    *,
    toolkit: Toolkit,
    options: BuildOptions,
    llama_cpp: LlamaCppSource | None = None,
) -> BuildPlan:
    """The seed box (3060s + M10s) with ``--exclude-arch 50``, built from ``checkout.root``."""
    request = ArchRequest(exclude_tokens=("50",), generation=generation)
    return BuildPlan(
        arch_plan=make_arch_plan(request, inventory(SEED_BOX), toolkit),
        toolkit=toolkit,
        checkout=checkout,
        tree=read_tree(checkout.root),
        options=options,
        llama_cpp=llama_cpp,
    )
