"""The first three stages of a build - source, plan, patch - ending in the frozen BuildPlan.

Each stage is a function of the settings and what the stages before it produced; only these
touch the network (the Ollama fetch, a toolkit install, llama.cpp) and only ``patch`` changes
the source tree. What comes out, :class:`~build_tools.build_plan.BuildPlan`, is all the later
stages read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from build_tools.build_plan import BuildOptions, BuildPlan
from build_tools.compiler_cache import resolve_compiler_cache
from build_tools.console import reporter
from build_tools.errors import (
    ConfigurationError,
    ToolkitError,
    UnsupportedGenerationError,
    ValidationHoleError,
)
from build_tools.generations import Generation, OllamaVersion, registry
from build_tools.gpus.inventory import Inventory
from build_tools.patching import AppliedPatch, apply_for_build, closes_validation_hole
from build_tools.pipeline.go_alias import GO_ALIAS_DIR
from build_tools.pipeline.inputs import (
    arch_request,
    checkout_of,
    cpu_variant_choice,
    driver_of,
    toolkit_request,
)
from build_tools.planning.arch_plan import ArchPlan, ArchRequest, TreeStock, make_arch_plan
from build_tools.planning.driver import choose_cuda
from build_tools.programs import (
    find_cmake,
    find_go,
    find_ninja,
    suggested_jobs,
)
from build_tools.recipes import recipe_for
from build_tools.runner import Runner
from build_tools.settings.commands import BuildSettings
from build_tools.source.checkout import Checkout, checkout_root
from build_tools.source.llama_cpp import LlamaCppSource, LlamaCppSpec, prepare_llama_cpp
from build_tools.source.ollama_tree import TreeFacts, read_tree
from build_tools.toolkit import ToolkitRequest, check_host_compiler, resolve_toolkit
from build_tools.toolkit.model import Toolkit
from build_tools.toolkit.pathmap import CANONICAL_DIR, NVCC_LAUNCHER_DIR, plan_nvcc_launcher

__all__ = [
    "Fetched",
    "Patched",
    "Planned",
    "Preview",
    "fetch_source",
    "make_build_plan",
    "patch_sources",
    "plan_build",
    "preview_build",
    "refuse_unbuildable",
    "source_is_fetched",
]


@dataclass(frozen=True, kw_only=True)
class Fetched:
    """After ``source``: the checkout and what its files say."""

    workdir: Path
    checkout: Checkout
    tree: TreeFacts
    release: OllamaVersion | None  # the release the checkout is at or after


@dataclass(frozen=True, kw_only=True)
class Planned:
    """After ``plan``: the toolkit that builds and the validated arch plan."""

    toolkit: Toolkit
    arch_plan: ArchPlan


@dataclass(frozen=True, kw_only=True)
class Patched:
    """After ``patch``: the tree as patched, our series in effect, the prepared llama.cpp."""

    tree: TreeFacts
    patches: tuple[AppliedPatch, ...]
    llama_cpp: LlamaCppSource | None


def refuse_unbuildable(settings: BuildSettings) -> None:
    """Options asking for what this version cannot build are refused before any work, never
    half-built."""
    if settings.compile.with_mlx:
        # Ollama's MLX CUDA backend clones MLX and MLX-C at build time (the tree's MLX_VERSION
        # and MLX_C_VERSION, cmake/local.cmake) and needs cuDNN 9; neither is provisioned here.
        raise UnsupportedGenerationError(
            "--with-mlx: this version cannot build Ollama's MLX CUDA backend yet (missing: "
            "offline MLX and MLX-C sources at the tree's MLX_VERSION/MLX_C_VERSION, and cuDNN 9 "
            "from NVIDIA's PyPI wheels)",
            hint="build without --with-mlx: the MLX backend then stays off "
            "(OLLAMA_MLX_BACKENDS empty) and the manifest says so",
        )


def workdir_of(settings: BuildSettings) -> Path:
    chosen = settings.workdir.workdir or settings.toolkit.cache.cache_dir / "work"
    return chosen.resolve()


def fetch_source(settings: BuildSettings, runner: Runner) -> Fetched:
    """``source``: the Ollama checkout (fetched into ``<workdir>/sources`` or in place)."""
    workdir = workdir_of(settings)
    checkout = checkout_of(settings.source, workdir, runner)
    tree = read_tree(checkout.root)
    recipe_for(tree.generation)  # fail early for generations without a recipe
    release = OllamaVersion.from_describe(checkout.describe)
    return Fetched(workdir=workdir, checkout=checkout, tree=tree, release=release)


def _choose_cuda(
    request: ToolkitRequest, arch_plan: ArchPlan, has_preset: Callable[[int], bool]
) -> ToolkitRequest:
    """Without --cuda/--cuda-home and no system nvcc: the newest installable CUDA whose major
    this tree has a preset for, which compiles every planned arch and which the box's driver
    runs (planning.driver.choose_cuda, as for plan and deploy)."""
    version = choose_cuda(
        arch_plan.archs,
        arch_plan.request.driver,
        has_preset=has_preset,
        target="this Ollama tree",
    )
    return replace(request, cuda_version=version)


def plan_build(
    settings: BuildSettings, fetched: Fetched, inventory: Inventory, runner: Runner
) -> Planned:
    """``plan``: the toolkit (installed on demand) and the arch plan validated against it."""
    tree = fetched.tree
    presets = ", ".join(sorted(tree.presets))
    return _plan(
        settings,
        tree.generation,
        fetched.release,
        inventory,
        runner,
        has_preset=lambda major: tree.preset_for(major) is not None,
        presets=presets,
        tree_stock=tree_stock_of(tree),
    )


def tree_stock_of(tree: TreeFacts) -> TreeStock | None:
    """The tree's own stock lists for ``--arch preset``; None when its generation keeps them
    outside CMake presets (make era: the built-in table stands in)."""
    if tree.presets_path is None or not tree.presets:
        return None
    return TreeStock(lists=tree.stock_lists(), presets_file=tree.presets_path)


def _plan(
    settings: BuildSettings,
    generation: Generation,
    release: OllamaVersion | None,
    inventory: Inventory,
    runner: Runner,
    *,
    has_preset: Callable[[int], bool],
    presets: str,
    tree_stock: TreeStock | None = None,
) -> Planned:
    requested = toolkit_request(settings.toolkit)
    driver = driver_of(settings.driver, inventory)

    def request_for(cuda_version: str | None) -> ArchRequest:
        return arch_request(
            settings.arch,
            cuda_version,
            generation=generation,
            ref=release,
            driver=driver,
            tree_stock=tree_stock,
        )

    if requested.cuda_version is not None:
        # Fail before any toolkit download when the table already says no.
        make_arch_plan(request_for(requested.cuda_version), inventory, None)
    toolkit = resolve_toolkit(requested, runner, install=True)
    if toolkit is None:
        draft = make_arch_plan(request_for(None), inventory, None)
        requested = _choose_cuda(requested, draft, has_preset)
        toolkit = resolve_toolkit(requested, runner, install=True)
    if toolkit is None:
        raise ToolkitError("no CUDA toolkit could be found or installed", hint="pass --cuda")
    if not has_preset(toolkit.major):
        raise ToolkitError(
            f"this Ollama tree has no configure preset for CUDA {toolkit.major}",
            hint=f"presets: {presets}; choose --cuda accordingly",
        )
    arch_plan = make_arch_plan(request_for(toolkit.version), inventory, toolkit)
    return Planned(toolkit=toolkit, arch_plan=arch_plan)


def source_is_fetched(settings: BuildSettings) -> bool:
    """Whether the build's source is on disk (``--source-dir``, or a cached checkout)."""
    if settings.source.source_dir is not None:
        return True
    return checkout_root(settings.source.source, workdir_of(settings)).joinpath(".git").exists()


@dataclass(frozen=True, kw_only=True)
class Preview:
    """A dry run before the source was ever fetched: the plan made from the tag."""

    checkout: Checkout
    generation: Generation
    planned: Planned
    deferred: tuple[str, ...]  # what only the fetched tree can decide

    def to_json(self) -> dict[str, Any]:
        return {
            "source": {"url": self.checkout.url, "ref": self.checkout.ref, "fetched": False},
            "generation": self.generation.name,
            "plan": self.planned.arch_plan.to_json(),
            "toolkit": {
                "version": self.planned.toolkit.version,
                "provider": self.planned.toolkit.provider,
                "root": str(self.planned.toolkit.root),
            },
            "deferred": list(self.deferred),
        }


DEFERRED = ("generation", "configure presets", "patch series", "build commands")


def preview_build(settings: BuildSettings, inventory: Inventory, runner: Runner) -> Preview:
    """``--dry-run build`` on a machine where the ref was never fetched: the fetch commands,
    then the plan for the generation the tag belongs to; the rest waits for the tree."""
    checkout = checkout_of(settings.source, workdir_of(settings), runner)
    try:
        release: OllamaVersion | None = OllamaVersion.parse(checkout.ref)
    except ConfigurationError:
        release = None  # a branch or a commit: only the tree will tell
    generation = registry().for_version(release) if release is not None else registry().newest()
    planned = _plan(
        settings,
        generation,
        release,
        inventory,
        runner,
        has_preset=lambda major: generation.tree.cuda_preset_name(major) is not None,
        presets="(not fetched yet)",
    )
    reporter.notice(
        f"dry run: {checkout.url} is not fetched yet, so this plan is for {generation.name}, "
        f"the generation of the tag {checkout.ref}; after the fetch its tree confirms the "
        + ", ".join(DEFERRED[:-1])
        + f" and {DEFERRED[-1]}"
    )
    return Preview(checkout=checkout, generation=generation, planned=planned, deferred=DEFERRED)


def _check_hole(plan: ArchPlan, tree: TreeFacts, accept: bool) -> None:
    if not tree.validation_hole or not any(not c.wanted for c in plan.coverage):
        return
    message = (
        "this Ollama version never validates CUDA GPUs against the compiled architectures "
        "(ml/device.go NeedsInitValidation checks ROCm only; fixed upstream in f8f107181), "
        "so the excluded GPUs would still get layers and crash the runner"
    )
    if not accept:
        raise ValidationHoleError(
            message,
            hint="build v0.13.1 or newer, or pass --accept-validation-hole and run Ollama with "
            "CUDA_VISIBLE_DEVICES set to the wanted GPUs' UUIDs",
        )
    reporter.warning(message + "; set CUDA_VISIBLE_DEVICES when you run it")


def patch_sources(
    settings: BuildSettings, fetched: Fetched, planned: Planned, runner: Runner
) -> Patched:
    """``patch``: our patch series into the Ollama tree (templates need the plan), the
    validation-hole check on the result, and - for trees that pin llama.cpp - the pinned tree,
    proven and compat-patched, so that nothing later needs the network."""
    tree = fetched.tree
    patches = apply_for_build(
        fetched.checkout,
        tree,
        planned.arch_plan,
        requested=settings.patches.patch,
        refused=settings.patches.no_patch,
        runner=runner,
    )
    if closes_validation_hole(patches):
        # A dry run wrote nothing, so its tree still reads as having the hole.
        tree = replace(tree, validation_hole=False) if runner.dry_run else read_tree(tree.root)
    _check_hole(planned.arch_plan, tree, settings.compile.accept_validation_hole)
    llama_cpp = None
    if tree.llama_cpp_version is not None:
        spec = LlamaCppSpec(
            source=settings.llama_cpp.llama_cpp_source,
            tag=tree.llama_cpp_version,
            workdir=fetched.workdir,
            accept_unverified=settings.llama_cpp.accept_unverified_llama_cpp,
            force=settings.source.force,
        )
        llama_cpp = prepare_llama_cpp(spec, tree.compat_patch, find_cmake(), runner)
    return Patched(tree=tree, patches=tuple(patches), llama_cpp=llama_cpp)


def make_build_plan(
    settings: BuildSettings, fetched: Fetched, planned: Planned, patched: Patched, runner: Runner
) -> BuildPlan:
    """The frozen plan of the build: what ``source``, ``plan`` and ``patch`` produced, the
    build options the settings ask for, and the programs that will run."""
    # nvcc rejects host compilers newer than it knows (CUDA 12.4: gcc <= 13); say so before a
    # configure step fails with a wall of CMake output.
    toolkit = planned.toolkit
    host_compiler = check_host_compiler(toolkit.root, toolkit.version, runner)
    go = find_go(runner, patched.tree.go_required)
    compile_settings = settings.compile
    cpu = cpu_variant_choice(
        compile_settings.cpu_variants,
        settings.inventory.inventory,
        patched.tree.generation,
        fetched.release,
        planned.arch_plan.inventory,
    )
    compiler_cache = resolve_compiler_cache(
        compile_settings.compiler_cache, settings.toolkit.cache.cache_dir, runner
    )
    options = BuildOptions(
        workdir=fetched.workdir,
        jobs=compile_settings.jobs or suggested_jobs(len(planned.arch_plan.archs)),
        cmake=find_cmake(),
        ninja=find_ninja(),
        go=go.path,
        go_version=go.version_text,
        compiler_launcher=None if compiler_cache is None else compiler_cache.path,
        compiler_cache=compiler_cache,
        with_vulkan=compile_settings.with_vulkan,
        accept_validation_hole=compile_settings.accept_validation_hole,
        host_compiler=host_compiler.path,
        cpu_variants=cpu.names,
        cpu_variants_reason=cpu.reason,
        go_alias_dir=settings.toolkit.cache.cache_dir / GO_ALIAS_DIR,
    )
    plan = BuildPlan(
        arch_plan=planned.arch_plan,
        toolkit=toolkit,
        checkout=fetched.checkout,
        tree=patched.tree,
        options=options,
        llama_cpp=patched.llama_cpp,
        patches=patched.patches,
    )
    plan = replace(plan, compile_dirs=recipe_for(plan.tree.generation).compile_dirs(plan))
    if runner.dry_run and not toolkit.nvcc.exists():
        # A dry run before the toolkit is installed: nvcc cannot be asked what it supports, so
        # the launcher is decided by the real run, once the toolkit is there.
        return plan
    launcher, record = plan_nvcc_launcher(
        toolkit,
        plan.build_dir / NVCC_LAUNCHER_DIR,
        plan.source_maps(),
        host_compiler.path,
        runner,
        flag_maps=plan.prefix_maps(),
        sccache=compiler_cache is not None and compiler_cache.kind == "sccache",
        canonical=(options.workdir, settings.toolkit.cache.cache_dir / CANONICAL_DIR),
    )
    if not record.path_independent:
        reporter.warning(
            f"this build is not path-independent: {record.reason}; its CUDA libraries may "
            "differ from a build of the same inputs in another work directory"
        )
    return replace(plan, nvcc_launcher=launcher, reproducibility=record)
