"""What a recipe produces: an ordered list of commands, as data.

A recipe turns a frozen :class:`~build_tools.build_plan.BuildPlan` into :class:`Step` values;
the executor runs them (or prints them under ``--dry-run``). Nothing in a recipe runs anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from build_tools.settings.groups import PHASES, Phase

if TYPE_CHECKING:
    from build_tools.build_plan import BuildPlan

__all__ = [
    "GO_MODULE",
    "PHASES",
    "Phase",
    "Recipe",
    "Step",
    "compiler_launchers",
    "cpu_variant_defines",
    "go_build_step",
    "steps_until",
]

# Every generation's -X variables live under this module path.
GO_MODULE = "github.com/ollama/ollama"


@dataclass(frozen=True, kw_only=True)
class Step:
    phase: Phase
    name: str  # log file stem, e.g. "configure-cuda_v12"
    title: str  # shown to the user
    argv: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str | None] | None = None
    ninja_progress: bool = False  # the command prints Ninja's [N/M] lines


class Recipe(Protocol):
    def steps(self, plan: BuildPlan) -> list[Step]: ...

    def go_variables(self, plan: BuildPlan) -> dict[str, str]: ...

    def ldflags(self, plan: BuildPlan) -> tuple[str, ...]: ...

    # The directories its compilers run in (a compiler cache may hand them relative paths).
    def compile_dirs(self, plan: BuildPlan) -> tuple[Path, ...]: ...


def compiler_launchers(plan: BuildPlan) -> dict[str, str | None]:
    """CMake's compiler launcher per language (a CMake list), None where there is none.

    The nvcc launcher comes first and the compiler cache after it: the cache then sees nvcc's
    complete command line (``-objtemp`` and the prefix maps included) and the preloaded
    library reaches cudafe++ and cicc whether the object comes from the cache or not."""
    cache = None if plan.options.compiler_launcher is None else str(plan.options.compiler_launcher)
    cuda = [str(plan.nvcc_launcher.script)] if plan.nvcc_launcher is not None else []
    cuda += [cache] if cache is not None else []
    return {"C": cache, "CXX": cache, "CUDA": ";".join(cuda) or None}


def steps_until(steps: list[Step], last: Phase | None) -> list[Step]:
    """The steps up to and including phase ``last`` (all of them when None).

    A recipe lists its steps in phase order; the pipeline runs them stage by stage."""
    order = [PHASES.index(step.phase) for step in steps]
    assert order == sorted(order), "a recipe's steps must come in phase order"
    if last is None:
        return steps
    limit = PHASES.index(last)
    return [step for step in steps if PHASES.index(step.phase) <= limit]


def go_build_step(plan: BuildPlan, ldflags: tuple[str, ...], env: Mapping[str, str]) -> Step:
    """``go build`` of ``bin/ollama`` into the staging tree, as every generation's release does:
    ``-trimpath -buildmode=pie`` with the recipe's ldflags; ``env`` adds CGO/toolchain/proxy."""
    return Step(
        phase="go",
        name="go-build",
        title="Build the ollama Go binary",
        argv=(
            str(plan.options.go),
            "build",
            "-trimpath",
            "-buildmode=pie",
            f"-ldflags={' '.join(ldflags)}",
            "-o",
            str(plan.staging_dir / "bin" / "ollama"),
            ".",
        ),
        cwd=plan.go_source,
        # Go takes its working directory from PWD when PWD names it (os.Getwd), so the
        # packages' ${SRCDIR}, and with it the build cache's keys, are the stable path.
        env={**env, "PWD": str(plan.go_source)} if plan.go_source_is_link else env,
    )


def cpu_variant_defines(plan: BuildPlan) -> list[str]:
    """The CMake project include that drops the ggml CPU variants ``--cpu-variants`` left out
    (``resources/cmake/cpu_variants.cmake``). Always passed, the list empty for all of them,
    so that a build directory configured for fewer variants builds all again."""
    # A real file: CMake reads it (the package is installed unzipped).
    include = Path(__file__).parent.parent / "resources" / "cmake" / "cpu_variants.cmake"
    names = plan.options.cpu_variants
    return [
        f"-DCMAKE_PROJECT_INCLUDE={include}",
        f"-DBUILD_TOOLS_CPU_VARIANTS={'' if names is None else ';'.join(names)}",
    ]
