"""The recipe of an imagined next Ollama generation, "G6", for the registry test.

G6 trees build their CUDA backend with one plain nvcc call (no CMake) and the Go binary as
every generation does. Nothing outside this module, the registry row and the fixture in
``test_new_generation.py`` knows about G6: that is what the test proves.
"""

from __future__ import annotations

from pathlib import Path

from build_tools.build_plan import BuildPlan
from build_tools.recipes.base import GO_MODULE, Step, go_build_step
from build_tools.runner import prepend_path

__all__ = ["NvccRecipe"]


class NvccRecipe:
    def _gencode(self, plan: BuildPlan) -> list[str]:
        flags = []
        for arch in plan.arch_plan.archs:
            kinds = ((f"sm_{arch.name}", arch.sass), (f"compute_{arch.name}", arch.ptx))
            codes = [code for code, wanted in kinds if wanted]
            flags.append(f"--generate-code=arch=compute_{arch.name},code=[{','.join(codes)}]")
        return flags

    def steps(self, plan: BuildPlan) -> list[Step]:
        toolkit = plan.toolkit
        out_dir = plan.staging_dir / "lib" / "ollama" / plan.cuda_runner_dir
        host = ["-ccbin", str(plan.options.host_compiler)] if plan.options.host_compiler else []
        return [
            Step(
                phase="configure",
                name="configure",
                title="Create the backend directory",
                argv=("mkdir", "-p", str(out_dir)),
            ),
            Step(
                phase="cuda",
                name="build-cuda",
                title="Compile the CUDA backend with nvcc",
                argv=(
                    str(toolkit.nvcc),
                    *host,
                    "-shared",
                    "-Xcompiler=-fPIC",
                    *self._gencode(plan),
                    "-o",
                    str(out_dir / "libggml-cuda.so"),
                    str(plan.checkout.root / "native" / "kernel.cu"),
                ),
                env={"PATH": prepend_path(toolkit.root / "bin")},
            ),
            go_build_step(plan, self.ldflags(plan), {"CGO_ENABLED": "1", "GOTOOLCHAIN": "local"}),
        ]

    def go_variables(self, plan: BuildPlan) -> dict[str, str]:
        return {
            f"{GO_MODULE}/version.Version": plan.checkout.version,
            f"{GO_MODULE}/server.mode": "release",
        }

    def compile_dirs(self, plan: BuildPlan) -> tuple[Path, ...]:  # noqa: ARG002 (the protocol's)
        return ()  # nvcc runs in the tool's own directory, and no compiler cache wraps it

    def ldflags(self, plan: BuildPlan) -> tuple[str, ...]:
        return ("-w", *(f"-X={name}={value}" for name, value in self.go_variables(plan).items()))
