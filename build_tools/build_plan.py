"""The frozen plan of one build: everything the steps need, nothing read from argv or env.

``build --json``, ``build --dry-run`` and the package manifest are views of this object; the
stages after ``patch`` read nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.compiler_cache import CacheTool
from build_tools.generations import OllamaVersion
from build_tools.patching import AppliedPatch
from build_tools.planning.arch_plan import ArchPlan
from build_tools.source.checkout import Checkout
from build_tools.source.llama_cpp import LlamaCppSource
from build_tools.source.ollama_tree import TreeFacts
from build_tools.toolkit.model import Toolkit
from build_tools.toolkit.pathmap import NvccLauncher, Reproducibility, relative_forms

__all__ = ["Backend", "BuildOptions", "BuildPlan"]


@dataclass(frozen=True, kw_only=True)
class Backend:
    """One GPU backend of a build: on (with the arch list it compiles) or off (and why).

    Every backend that compiles device code from an arch list of its own can bring excluded
    GPUs back or drop wanted ones, so each one either follows the plan or stays off."""

    name: str  # "cuda_v12", "vulkan", "mlx-cuda"
    enabled: bool
    arch_variable: str | None  # the cache variable its device code follows
    archs: str | None  # the list it compiles when on (the plan's), None when off
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "enabled": self.enabled,
            "arch_variable": self.arch_variable,
            "archs": self.archs,
            "reason": self.reason,
        }


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    workdir: Path
    jobs: int
    cmake: Path
    ninja: Path
    go: Path
    go_version: str
    compiler_launcher: Path | None
    with_vulkan: bool = False
    accept_validation_hole: bool = False
    host_compiler: Path | None = None  # checked against the toolkit; nvcc's -ccbin (G5 env)
    # ggml CPU variants to build and install (--cpu-variants); None: all of the tree's
    cpu_variants: tuple[str, ...] | None = None
    cpu_variants_reason: str = "all variants"
    compiler_cache: CacheTool | None = None  # the launcher's kind and settings
    # Where `go build` runs from: <dir>/<slug>, a link to the checkout (pipeline.go_alias).
    go_alias_dir: Path | None = None

    @property
    def compiler_cache_env(self) -> dict[str, str]:
        """What compile steps add to their environment so the cache hits across work
        directories (compiler_cache.CacheTool.environment)."""
        cache = self.compiler_cache
        return {} if cache is None else cache.environment(self.workdir)


@dataclass(frozen=True, kw_only=True)
class BuildPlan:
    arch_plan: ArchPlan
    toolkit: Toolkit
    checkout: Checkout
    tree: TreeFacts
    options: BuildOptions
    llama_cpp: LlamaCppSource | None = None  # G5: the prepared, compat-patched llama.cpp
    patches: tuple[AppliedPatch, ...] = ()  # patch series in effect in the source tree
    # The first CUDA compiler launcher (PIDs and work-directory paths out of the objects) and
    # whether the build has one; None/None for plans made without make_build_plan.
    nvcc_launcher: NvccLauncher | None = None
    reproducibility: Reproducibility | None = None
    # The directories the recipe's compilers run in (Recipe.compile_dirs): where ccache hands
    # them relative paths, those are relative to these.
    compile_dirs: tuple[Path, ...] = ()

    @property
    def slug(self) -> str:
        # One build directory per source checkout (not per plan): changing only the arch list
        # then recompiles only the CUDA objects, and an unchanged re-run does nothing.
        return self.checkout.root.name

    @property
    def build_dir(self) -> Path:
        return self.options.workdir / "build" / self.slug

    @property
    def staging_dir(self) -> Path:
        return self.options.workdir / "staging" / self.slug

    @property
    def log_dir(self) -> Path:
        return self.options.workdir / "logs" / self.slug

    @property
    def go_source(self) -> Path:
        """The directory ``go build`` runs in: the checkout, seen through a link of the same
        path for every work directory when there is one (pipeline.go_alias)."""
        alias_dir = self.options.go_alias_dir
        return self.checkout.root if alias_dir is None else alias_dir / self.slug

    @property
    def go_source_is_link(self) -> bool:
        """Whether ``go build`` sees the checkout through that link (false when there is no
        link directory, e.g. --source-dir builds in place)."""
        return self.go_source != self.checkout.root

    def source_maps(self) -> list[tuple[Path, str]]:
        """Source roots and what the compilers see instead, so that nothing compiled depends
        on where the work directory is (``-ffile-prefix-map`` and the nvcc launcher)."""
        maps = [(self.checkout.root, "."), (self.build_dir, "build")]
        if self.llama_cpp is not None:
            maps.append((self.llama_cpp.root, "llama.cpp"))
        return maps

    def prefix_maps(
        self, roots: list[tuple[Path, str]] | None = None
    ) -> tuple[tuple[str, str], ...]:
        """What the compilers' ``-ffile-prefix-map`` flags carry for ``roots`` (default: every
        source root): each root as an absolute path and, where the compiler cache hands the
        compiler paths relative to the directory it compiles in (ccache's base dir), in that
        relative form from each compile directory too. Without the relative forms a ccache
        build embeds ``../../../sources/<slug>/…`` where one without a cache embeds ``./…``."""
        chosen = self.source_maps() if roots is None else roots
        maps = [(str(root), new) for root, new in chosen]
        cache = self.options.compiler_cache
        base = None if cache is None else cache.relative_base(self.options.workdir)
        if base is not None:
            for root, new in chosen:
                maps += [(form, new) for form in relative_forms(root, base, self.compile_dirs)]
        return tuple(maps)

    @property
    def cuda_runner_dir(self) -> str:
        return f"cuda_v{self.toolkit.major}"

    @property
    def cuda_preset(self) -> str:
        """The tree's configure preset for this toolkit's CUDA major (checked when planned)."""
        preset = self.tree.preset_for(self.toolkit.major)
        assert preset is not None, "make_build_plan refuses a toolkit without a preset"
        return preset

    @property
    def backends(self) -> tuple[Backend, ...]:
        """What the recipes build: the CUDA backend with the plan; Vulkan only when asked;
        every backend with its own arch variable off (the recipe empties its switch)."""
        plan = self.arch_plan.cuda_architectures
        vulkan_why = (
            "asked for with --with-vulkan; it compiles no CUDA code but lets Ollama use every "
            "Vulkan GPU, the ones the plan excluded included, unless OLLAMA_VULKAN=0"
            if self.options.with_vulkan
            else "not asked for (--with-vulkan): it would hand the GPUs the plan excluded back "
            "to Ollama"
        )
        backends = [
            Backend(
                name=self.cuda_runner_dir,
                enabled=True,
                arch_variable="CMAKE_CUDA_ARCHITECTURES",
                archs=plan,
                reason="the plan",
            ),
            Backend(
                name="vulkan",
                enabled=self.options.with_vulkan,
                arch_variable=None,
                archs=None,
                reason=vulkan_why,
            ),
        ]
        release = OllamaVersion.from_describe(self.checkout.describe)
        for own in self.tree.generation.own_arch_backends_at(release):
            backends.append(
                Backend(
                    name=own.name,
                    enabled=False,
                    arch_variable=own.arch_variable,
                    archs=None,
                    reason=f"off: {own.switch} is set empty, because it compiles device code "
                    f"from its own {own.arch_variable}, not from the plan",
                )
            )
        return tuple(backends)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": {
                "url": self.checkout.url,
                "ref": self.checkout.ref,
                "commit": self.checkout.commit,
                "version": self.checkout.version,
                "root": str(self.checkout.root),
            },
            "generation": self.tree.generation.name,
            "patches": [p.to_json() for p in self.patches],
            "plan": self.arch_plan.to_json(),
            "toolkit": {
                "version": self.toolkit.version,
                "provider": self.toolkit.provider,
                "root": str(self.toolkit.root),
            },
            "jobs": self.options.jobs,
            "compiler_launcher": None
            if self.options.compiler_launcher is None
            else str(self.options.compiler_launcher),
            "with_vulkan": self.options.with_vulkan,
            "backends": [b.to_json() for b in self.backends],
            "cpu_variants": None
            if self.options.cpu_variants is None
            else list(self.options.cpu_variants),
            "reproducibility": None
            if self.reproducibility is None
            else self.reproducibility.to_json(),
            "staging_dir": str(self.staging_dir),
            "build_dir": str(self.build_dir),
            "log_dir": str(self.log_dir),
            **({} if self.llama_cpp is None else {"llama_cpp": self.llama_cpp.to_json()}),
        }
