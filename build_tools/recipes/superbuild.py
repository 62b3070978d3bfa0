"""Recipe for G5 (v0.30.0 - v0.33.x): Ollama's CMake superbuild around upstream llama-server.

The root project only orchestrates: each backend is an ``ExternalProject`` that configures
``llama/server`` with a preset into ``<build>/llama-server-<backend>`` at *build* time and
installs it into ``OLLAMA_PAYLOAD_INSTALL_PREFIX`` (``docs/generations.md#g5``). What this recipe
adds to the stock ``cmake -B build -DOLLAMA_LLAMA_BACKENDS=...`` flow, each for a reason:

* ``CMAKE_CUDA_ARCHITECTURES=<plan>`` selects the ``llama_cuda_vNN_user_arch`` preset, which
  has no list of its own (the stock one keeps ``50-virtual``, i.e. the Tesla M10);
* the nested builds never receive ``CMAKE_CUDA_COMPILER``, so the toolkit reaches them through
  the environment they inherit: its ``bin`` first on PATH, ``CUDACXX``, ``CUDAToolkit_ROOT``,
  and the checked host compiler as ``CUDAHOSTCXX``/``NVCC_CCBIN``; ``CMAKE_GENERATOR=Ninja``
  because their configure command passes no ``-G``;
* ``FETCHCONTENT_SOURCE_DIR_LLAMA_CPP`` = the tree prepared (and compat-patched) by
  :mod:`build_tools.source.llama_cpp`; after the first step nothing may use the network: Go modules
  are downloaded first, then Go runs with ``GOPROXY=off`` and git with ``GIT_ALLOW_PROTOCOL=file``
  so that a stray clone fails instead of silently downloading;
* ``OLLAMA_PAYLOAD_INSTALL_PREFIX`` = the staging tree: the nested installs write
  ``lib/ollama/...`` straight into it (no stale payload of an earlier plan can be copied along,
  as it would from the default ``<build>/lib/ollama``); the install phase re-installs stripped,
  like the release Dockerfile;
* only the llama-server targets are built, never ``all``: the superbuild's ``ollama-go`` target
  would run ``go build`` with network access and without ``-buildmode=pie``; we build Go
  ourselves with the superbuild's own ``-X`` values (read from cmake/local.cmake), and point
  ``OLLAMA_GO_OUTPUT`` into the build tree so that even a manual ``cmake --build`` can neither
  overwrite our binary nor write into the source checkout;
* never a Vulkan backend unless asked: not in ``OLLAMA_LLAMA_BACKENDS``, and ``GGML_VULKAN=OFF``
  (forwarded to every nested build as a ``GGML_*`` cache variable). In G5, Ollama enables Vulkan
  by default, and Vulkan would hand the excluded GPUs back.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from build_tools.recipes.base import (
    GO_MODULE,
    Phase,
    Step,
    compiler_launchers,
    cpu_variant_defines,
    go_build_step,
)
from build_tools.runner import prepend_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    from build_tools.build_plan import BuildPlan

__all__ = ["SuperbuildRecipe"]

NESTED_TOOLCHAIN = Path(str(resources.files("build_tools") / "resources")) / (
    "g5-nested-toolchain.cmake"
)

# The programs the CPU build of llama/server installs in its ``llama-server`` component in
# every tag v0.30.0 .. v0.33.0-rc2 (``install(TARGETS llama-server llama-quantize ...
# OPTIONAL)``), used when the tree's own line (TreeFacts.server_programs, from the file the
# registry names) cannot be read. Building them builds what else that component installs: their
# libraries (ggml, ggml-base, llama, mtmd, llama-common are link dependencies) and the CPU
# backend modules (dependencies of ggml under GGML_BACKEND_DL). The other llama.cpp tools
# (LLAMA_BUILD_TOOLS is ON) are built by ``all`` only. The rule is OPTIONAL: a target that was
# not built is skipped without a word, which is why the programs are read from the tree, and
# why ``upstream check`` reports a tree whose line it cannot read.
LOCAL_TARGETS = ("llama-server", "llama-quantize")

# cmake/local.cmake v0.30.0 .. v0.33.0-rc2, used when the tree's line cannot be read.
DEFAULT_GO_LDFLAGS = (
    f"-s -w -X={GO_MODULE}/version.Version=${{OLLAMA_VERSION}} -X={GO_MODULE}/server.mode=release"
)


class SuperbuildRecipe:
    def _backends(self, plan: BuildPlan) -> list[str]:
        backends = [plan.cuda_runner_dir]
        if plan.options.with_vulkan:
            backends.append("vulkan")
        return backends

    def _env(self, plan: BuildPlan) -> dict[str, str | None]:
        """What every native step's environment changes; nested builds inherit it."""
        toolkit = plan.toolkit
        env: dict[str, str | None] = {
            "PATH": prepend_path(toolkit.root / "bin", plan.options.ninja.parent),
            "CUDACXX": str(toolkit.nvcc),
            "CUDAToolkit_ROOT": str(toolkit.root),
            "CMAKE_GENERATOR": "Ninja",
            "GIT_ALLOW_PROTOCOL": "file",
            # The upstream-only developer override would make llama/server skip our tree.
            "OLLAMA_LLAMA_CPP_SOURCE": None,
        }
        host = plan.options.host_compiler
        if host is not None:
            env["CUDAHOSTCXX"] = str(host)
            env["NVCC_CCBIN"] = str(host)
        # The nested builds compile through GGML_CCACHE's launcher and inherit this.
        env.update(plan.options.compiler_cache_env)
        # The nested builds get no -D from us, but CMake initialises each language's launcher
        # from the variable of the same name in the environment at their first configure.
        for lang, launcher in compiler_launchers(plan).items():
            env[f"CMAKE_{lang}_COMPILER_LAUNCHER"] = launcher
        # ... and likewise C/C++ flags from CFLAGS/CXXFLAGS (llama/server sets none on Linux)
        # and a toolchain file from CMAKE_TOOLCHAIN_FILE: no work-directory path in the output.
        env["CMAKE_TOOLCHAIN_FILE"] = str(NESTED_TOOLCHAIN)
        if plan.nvcc_launcher is not None:  # its maps are checked: no spaces, no separators
            flags = " ".join(plan.nvcc_launcher.host_flags())
            env["CFLAGS"] = env["CXXFLAGS"] = flags
        return env

    def _configure_defines(self, plan: BuildPlan) -> list[str]:
        options = plan.options
        llama_cpp = plan.llama_cpp
        assert llama_cpp is not None, "G5 plans carry a prepared llama.cpp source"
        defines = [
            "-G",
            "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={options.ninja}",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DOLLAMA_LLAMA_BACKENDS={';'.join(self._backends(plan))}",
            f"-DCMAKE_CUDA_ARCHITECTURES={plan.arch_plan.cuda_architectures}",
            f"-DCUDAToolkit_ROOT={plan.toolkit.root}",
            f"-DOLLAMA_VERSION={plan.checkout.version}",
            f"-DCMAKE_INSTALL_PREFIX={plan.staging_dir}",
            f"-DOLLAMA_PAYLOAD_INSTALL_PREFIX={plan.staging_dir}",
            f"-DOLLAMA_GO_OUTPUT={self._binary_dir(plan) / 'superbuild-ollama'}",
            f"-DOLLAMA_BUILD_PARALLEL={options.jobs}",
            # Forwarded to every nested build, where FetchContent then uses it without any
            # download (FETCHCONTENT_FULLY_DISCONNECTED would not be forwarded: only GGML_*
            # and LLAMA_* cache variables are).
            f"-DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP={llama_cpp.root}",
            # ggml's own launcher switch (GGML_* cache variables reach every nested build) stays
            # off: the launchers come from the environment, the nvcc launcher first.
            "-DGGML_CCACHE=OFF",
        ]
        if not options.with_vulkan:
            defines.append("-DGGML_VULKAN=OFF")
        # Backends that compile device code from their own arch list (MLX on CUDA reads
        # MLX_CUDA_ARCHITECTURES) stay off: they would not follow the plan.
        defines += [f"-D{b.switch}=" for b in plan.tree.generation.own_arch_backends]
        return defines

    def _binary_dir(self, plan: BuildPlan) -> Path:
        return plan.build_dir / "superbuild"

    def _nested(self, plan: BuildPlan) -> list[str]:
        """The nested llama-server builds, each in ``<superbuild>/llama-server-<name>``."""
        return ["local", plan.cuda_runner_dir, *(["vulkan"] if plan.options.with_vulkan else [])]

    def compile_dirs(self, plan: BuildPlan) -> tuple[Path, ...]:
        top = self._binary_dir(plan)
        return (top, *(top / f"llama-server-{name}" for name in self._nested(plan)))

    def steps(self, plan: BuildPlan) -> list[Step]:
        cmake = str(plan.options.cmake)
        root = plan.checkout.root
        top = self._binary_dir(plan)
        env = self._env(plan)
        cuda = plan.cuda_runner_dir
        steps = [
            Step(
                phase="configure",
                name="go-mod-download",
                title="Download Go modules (the build's last network access)",
                argv=(str(plan.options.go), "mod", "download"),
                cwd=root,
                env={"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=readonly"},
            ),
            Step(
                phase="configure",
                name="configure-superbuild",
                title=f"Configure the superbuild ({cuda}, {plan.arch_plan.cuda_architectures})",
                argv=(cmake, "-S", str(root), "-B", str(top), *self._configure_defines(plan)),
                env=env,
            ),
        ]
        nested = self._nested(plan)
        steps += [self._configure_nested(plan, name, env) for name in nested]
        steps.append(self._cpu_variants(plan, env))
        steps.append(
            self._build(
                plan,
                "cpu",
                "local",
                "Build llama-server and CPU backends",
                env,
                targets=plan.tree.server_programs or LOCAL_TARGETS,
            )
        )
        if plan.options.with_vulkan:
            title = "Build the Vulkan backend"
            steps.append(self._build(plan, "cpu", "vulkan", title, env, targets=("ggml-vulkan",)))
        title = f"Build CUDA backend {cuda}"
        steps.append(self._build(plan, "cuda", cuda, title, env, targets=("ggml-cuda",)))
        for name in nested:
            steps.append(
                Step(
                    phase="install",
                    name=f"install-{name}",
                    title=f"Install llama-server-{name} (stripped)",
                    argv=(
                        cmake,
                        "--install",
                        str(top / f"llama-server-{name}"),
                        "--component",
                        "llama-server",
                        "--strip",
                    ),
                    env=env,
                )
            )
        steps.append(self._go_step(plan))
        return steps

    def _configure_nested(self, plan: BuildPlan, name: str, env: Mapping[str, str | None]) -> Step:
        """Run only the configure step of one ExternalProject (its stamp file is a Ninja
        target), so that ``--stop-after configure`` leaves every nested build tree ready to
        inspect or drive by hand, as it does for G3/G4."""
        project = f"ollama-llama-server-{name}"
        stamp = f"{project}-prefix/src/{project}-stamp/{project}-configure"
        return Step(
            phase="configure",
            name=f"configure-{name}",
            title=f"Configure llama-server-{name}",
            argv=(
                str(plan.options.cmake),
                "--build",
                str(self._binary_dir(plan)),
                "--target",
                stamp,
            ),
            env=env,
        )

    def _cpu_variants(self, plan: BuildPlan, env: Mapping[str, str | None]) -> Step:
        """Configure the CPU build (``llama-server-local``) again with the project include
        that drops the CPU variants --cpu-variants leaves out: the superbuild forwards only
        GGML_*/LLAMA_* cache variables to its nested builds, and ggml has no variable that
        selects variants. Its install globs ``bin/libggml-cpu*``, so what is not built is not
        installed either. The CUDA build's targets need no CPU variant."""
        return Step(
            phase="configure",
            name="configure-local-cpu-variants",
            title=f"Select CPU variants ({plan.options.cpu_variants_reason})",
            argv=(
                str(plan.options.cmake),
                "-S",
                str(plan.checkout.root / "llama" / "server"),
                "-B",
                str(self._binary_dir(plan) / "llama-server-local"),
                *cpu_variant_defines(plan),
            ),
            env=env,
        )

    def _build(
        self,
        plan: BuildPlan,
        phase: Phase,
        name: str,
        title: str,
        env: Mapping[str, str | None],
        *,
        targets: tuple[str, ...],
    ) -> Step:
        """Build the targets one nested llama/server build installs, in its own tree (already
        configured). The ExternalProject's build step would build ``all``: in the CUDA build
        that is llama-server, libllama, the llama.cpp tools and a CPU backend besides
        ggml-cuda (v0.33.0-rc2: 497 compilations instead of 152); the install phase then
        installs the ``llama-server`` component, stripped."""
        return Step(
            phase=phase,
            name=f"build-{name}",
            title=title,
            argv=(
                str(plan.options.cmake),
                "--build",
                str(self._binary_dir(plan) / f"llama-server-{name}"),
                "--target",
                *targets,
                "--parallel",
                str(plan.options.jobs),
            ),
            env=env,
            ninja_progress=True,
        )

    def _go_step(self, plan: BuildPlan) -> Step:
        return go_build_step(
            plan,
            self.ldflags(plan),
            # Offline: modules come from the cache filled by `go mod download`; readonly keeps
            # go.mod/go.sum authoritative, a missing module fails instead of being fetched.
            {
                "CGO_ENABLED": "1",
                "GOTOOLCHAIN": "local",
                "GOPROXY": "off",
                "GOFLAGS": "-mod=readonly",
            },
        )

    def _superbuild_ldflags(self, plan: BuildPlan) -> list[str]:
        template = plan.tree.go_ldflags or DEFAULT_GO_LDFLAGS
        return template.replace("${OLLAMA_VERSION}", plan.checkout.version).split()

    def go_variables(self, plan: BuildPlan) -> dict[str, str]:
        """The superbuild's hard-coded ``-X`` values (cmake/local.cmake OLLAMA_GO_LDFLAGS), so
        version and release mode match an official build; G5 has no GPU knob in Go."""
        # "-X name=value" (two words) and "-X=name=value" mean the same to the Go linker.
        flags = " ".join(self._superbuild_ldflags(plan)).replace("-X ", "-X=").split()
        pairs = (f.removeprefix("-X=").partition("=") for f in flags if f.startswith("-X="))
        return {name: value for name, _, value in pairs}

    def ldflags(self, plan: BuildPlan) -> tuple[str, ...]:
        # The superbuild's other flags minus -s: as for G3/G4 the symbol table stays, because
        # with -trimpath it is the only place the audit and `inspect` can read the -X values.
        other = [f for f in self._superbuild_ldflags(plan) if not f.startswith("-X") and f != "-s"]
        variables = self.go_variables(plan)
        return (*other, *(f"-X={name}={value}" for name, value in variables.items()))
