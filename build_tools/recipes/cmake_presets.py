"""Recipe for the CMake-preset generations G3 (v0.5.8 - v0.12.3) and G4 (v0.12.4 - v0.25.0-rc0).

Like Ollama's own release Dockerfile, the CPU and CUDA parts are configured in separate build
directories from the ``CPU`` and ``CUDA <major>`` presets and installed into one staging prefix
laid out as the official release (``bin/ollama``, ``lib/ollama/...``). Additions to the stock
flow, each for a measured reason (``docs/build-notes.md#pitfalls``):

* ``-DCMAKE_CUDA_ARCHITECTURES=<plan>``, never ``native`` (a CI machine has no GPU);
* both ``CMAKE_CUDA_COMPILER`` and ``CUDAToolkit_ROOT`` (Ollama calls find_package before
  enable_language, so otherwise headers and libraries can come from another toolkit:
  ``docs/build-notes.md#naming-the-toolkit-to-cmake``);
* ``CMAKE_INSTALL_PREFIX`` at configure time (install paths are baked then:
  ``docs/build-notes.md#install-prefix-is-baked-at-configure-time``);
* ``OLLAMA_RUNNER_DIR=cuda_v<major>`` where CMakeLists uses it but the preset does not set it;
* no Vulkan backend unless asked (it re-exposes GPUs that CUDA excluded);
* compiler launchers set explicitly (ggml's GGML_CCACHE switch is overridden by Ollama's root
  CMakeLists: ``docs/build-notes.md#compiler-launchers-instead-of-ggml_ccache``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from build_tools.recipes.base import (
    GO_MODULE,
    Step,
    compiler_launchers,
    cpu_variant_defines,
    go_build_step,
)
from build_tools.toolkit.pathmap import prefix_map_flags

if TYPE_CHECKING:
    from pathlib import Path

    from build_tools.build_plan import BuildPlan

__all__ = ["CMakePresetRecipe"]


class CMakePresetRecipe:
    def _common_defines(self, plan: BuildPlan) -> list[str]:
        options = plan.options
        defines = [
            "-G",
            "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={options.ninja}",
            f"-DCMAKE_INSTALL_PREFIX={plan.staging_dir}",
        ]
        if not options.with_vulkan:
            defines.append("-DCMAKE_DISABLE_FIND_PACKAGE_Vulkan=ON")
        # Setting a launcher, even the no-op `env`, also stops ggml from picking up whatever
        # ccache is on PATH by itself: "none" must mean none.
        for lang, launcher in compiler_launchers(plan).items():
            defines.append(f"-DCMAKE_{lang}_COMPILER_LAUNCHER={launcher or 'env'}")
        # Link with the install RPATH: otherwise the build-tree RPATH, a workdir path, is hashed
        # into the GNU build ID at link time and survives the RPATH rewrite at install, so two
        # clean builds in different work directories would differ.
        defines.append("-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON")
        return defines

    def _flag_defines(self, plan: BuildPlan, preset: str, langs: tuple[str, ...]) -> list[str]:
        """Append a source-path map to each language's flags, keeping the preset's own.

        ggml's GGML_ASSERT embeds __FILE__: without the map, the checkout path ends up in the
        libraries. The CUDA presets set CMAKE_CUDA_FLAGS, which a bare -D would replace, and
        CFLAGS/CUDAFLAGS from the environment are read only at the first configure.
        """
        flags = prefix_map_flags(plan.prefix_maps([(plan.checkout.root, ".")]))
        variables = plan.tree.presets.get(preset, {})
        defines = []
        for lang in langs:
            # Two tokens for nvcc, not "-Xcompiler=...": ccache rewrites a path under its base
            # dir only as a separate argument, so the one-token form keys every work directory
            # apart (docs/build-notes.md, compiler caches).
            words = [("-Xcompiler " if lang == "CUDA" else "") + flag for flag in flags]
            ours = " ".join(words)
            value = " ".join(v for v in (variables.get(f"CMAKE_{lang}_FLAGS", ""), ours) if v)
            defines.append(f"-DCMAKE_{lang}_FLAGS={value}")
        return defines

    def compile_dirs(self, plan: BuildPlan) -> tuple[Path, ...]:
        return (plan.build_dir / "cpu", plan.build_dir / plan.cuda_runner_dir)

    def _cmake(self, plan: BuildPlan) -> str:
        return str(plan.options.cmake)

    def steps(self, plan: BuildPlan) -> list[Step]:
        cmake = self._cmake(plan)
        root = plan.checkout.root
        jobs = str(plan.options.jobs)
        cpu_dir = plan.build_dir / "cpu"
        cuda_name = plan.cuda_runner_dir
        cuda_dir = plan.build_dir / cuda_name
        toolkit = plan.toolkit
        preset = plan.cuda_preset

        cuda_defines = [
            f"-DCMAKE_CUDA_ARCHITECTURES={plan.arch_plan.cuda_architectures}",
            f"-DCMAKE_CUDA_COMPILER={toolkit.nvcc}",
            f"-DCUDAToolkit_ROOT={toolkit.root}",
        ]
        if plan.tree.cmake_uses_runner_dir and "OLLAMA_RUNNER_DIR" not in plan.tree.presets.get(
            preset, {}
        ):
            cuda_defines.append(f"-DOLLAMA_RUNNER_DIR={cuda_name}")
        # Keep the CPU build from enabling CUDA with whatever nvcc it might find (it would
        # default to `native`, which fails on a machine without GPU): a defined, false value
        # makes check_language(CUDA) skip its search.
        cpu_defines = ["-DCMAKE_CUDA_COMPILER=OFF", *cpu_variant_defines(plan)]
        return [
            Step(
                phase="configure",
                name="configure-cpu",
                title=f"Configure CPU backends ({plan.options.cpu_variants_reason})",
                argv=(
                    cmake,
                    "--preset",
                    "CPU",
                    "-S",
                    str(root),
                    "-B",
                    str(cpu_dir),
                    *self._common_defines(plan),
                    *cpu_defines,
                    *self._flag_defines(plan, "CPU", ("C", "CXX")),
                ),
            ),
            Step(
                phase="configure",
                name=f"configure-{cuda_name}",
                title=f"Configure CUDA backend ({preset}, {plan.arch_plan.cuda_architectures})",
                argv=(
                    cmake,
                    "--preset",
                    preset,
                    "-S",
                    str(root),
                    "-B",
                    str(cuda_dir),
                    *self._common_defines(plan),
                    *cuda_defines,
                    *self._flag_defines(plan, preset, ("C", "CXX", "CUDA")),
                ),
            ),
            Step(
                phase="cpu",
                name="build-cpu",
                title="Build CPU backends",
                argv=(cmake, "--build", str(cpu_dir), "--target", "ggml-cpu", "--parallel", jobs),
                env=plan.options.compiler_cache_env or None,
                ninja_progress=True,
            ),
            Step(
                phase="cuda",
                name=f"build-{cuda_name}",
                title=f"Build CUDA backend {cuda_name}",
                argv=(cmake, "--build", str(cuda_dir), "--target", "ggml-cuda", "--parallel", jobs),
                env=plan.options.compiler_cache_env or None,
                ninja_progress=True,
            ),
            Step(
                phase="install",
                name="install-cpu",
                title="Install CPU component",
                argv=(cmake, "--install", str(cpu_dir), "--component", "CPU", "--strip"),
            ),
            Step(
                phase="install",
                name=f"install-{cuda_name}",
                title="Install CUDA component",
                argv=(cmake, "--install", str(cuda_dir), "--component", "CUDA", "--strip"),
            ),
            # Never let Go fetch a newer toolchain by itself: the version was checked.
            go_build_step(plan, self.ldflags(plan), {"CGO_ENABLED": "1", "GOTOOLCHAIN": "local"}),
        ]

    def go_variables(self, plan: BuildPlan) -> dict[str, str]:
        """The ``-X`` values, by fully qualified variable name (the audit reads them back)."""
        variables = {
            f"{GO_MODULE}/version.Version": plan.checkout.version,
            f"{GO_MODULE}/server.mode": "release",
        }
        minimum = plan.arch_plan.rule.minimum
        knobs = plan.tree.generation.min_cc_go_variables
        if plan.tree.go_min_cc_knobs and knobs is not None and minimum is not None:
            # Where Ollama's only runtime check is a minimum, set it from the plan's lowest
            # arch: a GPU below it is logged "too old" and skipped instead of crashing the
            # runner (docs/generations.md#runtime-rules).
            for variable, value in zip(knobs, minimum, strict=True):
                variables[f"{GO_MODULE}/{variable}"] = str(value)
        return variables

    def ldflags(self, plan: BuildPlan) -> tuple[str, ...]:
        # Official releases use `-w -s`. We keep the symbol table (no `-s`): with -trimpath Go
        # does not record -ldflags in the build info, so the symbols are the only way for the
        # audit and `inspect` to read the version and minimum back out of the binary.
        return ("-w", *(f"-X={name}={value}" for name, value in self.go_variables(plan).items()))
