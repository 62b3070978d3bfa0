"""Settings to the values the planner and the build take: inventory, arch request, toolkit.

Shared by ``plan`` and the build pipeline, so both read the same options the same way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from build_tools.console import reporter
from build_tools.errors import ConfigurationError, InventoryError
from build_tools.files import directory_problem
from build_tools.generations import Generation, OllamaVersion, registry
from build_tools.gpus.inventory import Inventory, load_inventory
from build_tools.planning.arch_plan import ArchRequest, TreeStock, request_tokens
from build_tools.planning.cpu_variants import CpuVariantRequest
from build_tools.planning.driver import BoxDriver, box_driver
from build_tools.runner import Runner
from build_tools.settings.groups import (
    ArchSettings,
    DriverSettings,
    InventorySettings,
    SourceSettings,
    TargetSettings,
    ToolkitSettings,
)
from build_tools.toolkit.request import ToolkitRequest

if TYPE_CHECKING:
    from build_tools.planning.cpu_variants import CpuVariantChoice
    from build_tools.source.checkout import Checkout

__all__ = [
    "WORKDIR_PARTS",
    "arch_request",
    "check_directory",
    "checkout_of",
    "cpu_variant_choice",
    "driver_of",
    "gather_inventory",
    "needs_local_gpus",
    "target_of",
    "toolkit_request",
    "using_workdir",
]

# What a build keeps under its work directory (see build_plan.BuildPlan).
WORKDIR_PARTS = ("sources", "build", "staging", "logs")


def check_directory(path: Path, option: str) -> None:
    """A directory option (``--workdir``, ``--dist-dir``) that cannot be used is exit 2 at
    once - also on a dry run, which creates nothing."""
    problem = directory_problem(path)
    if problem is not None:
        raise ConfigurationError(
            f"{option} {path} cannot be used: {problem}", hint=f"choose another {option}"
        )


@contextlib.contextmanager
def using_workdir(workdir: Path, runner: Runner) -> Iterator[None]:
    """Check the work directory, create it, and hold its lock while the body runs: a second
    run on the same directory waits (saying so) instead of fetching or building into it at
    the same time. A dry run only checks."""
    from build_tools.locks import exclusive  # build-only: plan never takes the lock

    check_directory(workdir, "--workdir")
    for part in WORKDIR_PARTS:
        check_directory(workdir / part, "--workdir")
    if runner.dry_run:
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            stack.enter_context(exclusive(workdir))
        except OSError as error:
            raise ConfigurationError(
                f"--workdir {workdir} cannot be used: {error.strerror}",
                hint="choose another --workdir",
            ) from None
        yield


def checkout_of(source: SourceSettings, workdir: Path, runner: Runner) -> Checkout:
    """--source/--ref/--source-dir/--force to a checkout (fetched into ``workdir`` if needed)."""
    # Imported here: `plan` reads this module's inventory and arch helpers, never a checkout.
    from build_tools.source.checkout import SourceSpec, prepare_source

    spec = SourceSpec(
        url=source.source,
        ref=source.ref,
        workdir=workdir,
        source_dir=source.source_dir,
        force=source.force,
    )
    return prepare_source(spec, runner)


NOT_DETECTED = (
    "GPUs not detected: --arch names every architecture; pass --inventory FILE (or add "
    "native to --arch) to see which GPUs the plan covers"
)


def needs_local_gpus(settings: ArchSettings) -> bool:
    """Whether a plan reads this machine's GPUs: when they are its base (no --arch, or
    ``native`` in it), or when --exclude-arch/--min-arch decide which GPUs are unwanted (the
    coverage report and the validation-hole check need them then). An explicit arch list
    alone plans without detection: nothing is run, nothing can hang."""
    tokens = request_tokens(settings.arch)
    if not tokens or any(token.lower() == "native" for token in tokens):
        return True
    return bool(request_tokens(settings.exclude_arch)) or settings.min_arch is not None


def gather_inventory(
    settings: InventorySettings, runner: Runner, arch: ArchSettings | None = None
) -> Inventory:
    """The saved inventory (``--inventory``), else the GPUs of this machine - detected only
    when ``arch`` (the plan's arch options, if there is a plan) needs them."""
    if settings.inventory is not None:
        return load_inventory(settings.inventory)
    if arch is not None and not needs_local_gpus(arch):
        return Inventory(gpus=(), source="none", notices=(NOT_DETECTED,))
    from build_tools.gpus.detect import detect_inventory  # not needed with --inventory

    return detect_inventory(runner)


def target_of(settings: TargetSettings) -> tuple[Generation, OllamaVersion | None]:
    """The generation and release ``plan`` is for: --ollama-generation, else --ref's tag
    range, else the newest generation."""
    ref = OllamaVersion.parse(settings.ref) if settings.ref else None
    of_ref = registry().for_version(ref) if ref is not None else None
    if settings.ollama_generation:
        chosen = registry().get(settings.ollama_generation)
        if of_ref is not None and chosen.name != of_ref.name:
            raise ConfigurationError(
                f"--ollama-generation {chosen.name} contradicts --ref {settings.ref}, which is "
                f"{of_ref.name}",
                hint="drop --ollama-generation (the tag decides), or plan for another tag",
            )
        return chosen, ref
    if of_ref is not None:
        return of_ref, ref
    return registry().newest(), ref


def arch_request(
    settings: ArchSettings,
    cuda_version: str | None,
    *,
    generation: Generation,
    ref: OllamaVersion | None,
    driver: BoxDriver | None,
    tree_stock: TreeStock | None = None,
) -> ArchRequest:
    return ArchRequest(
        arch_tokens=request_tokens(settings.arch),
        exclude_tokens=request_tokens(settings.exclude_arch),
        min_arch=settings.min_arch,
        ptx=settings.ptx,
        generation=generation,
        ref=ref,
        cuda_version=cuda_version,
        driver=driver,
        tree_stock=tree_stock,
    )


def driver_of(settings: DriverSettings, inventory: Inventory) -> BoxDriver | None:
    """The target box's driver: --target-driver, else the inventory's (None: unknown)."""
    return box_driver(inventory, settings.target_driver)


def toolkit_request(settings: ToolkitSettings) -> ToolkitRequest:
    """The toolkit options as a request.

    A toolkit from the environment (``$CUDA_HOME``/``$CUDA_PATH``) only counts when no version
    is requested: ``--cuda 12.4`` always means the pinned toolkit, so a stray CUDA_HOME cannot
    change what gets built.
    """
    version, provider = settings.cuda, settings.toolkit_provider
    cuda_home = settings.cuda_home
    if cuda_home is None and (version is None or provider == "system"):
        cuda_home = settings.environment_cuda_home
        for ignored in settings.unusable_cuda_env:
            reporter.warning(f"{ignored} has no bin/nvcc; ignoring it")
    if cuda_home is not None and provider not in (None, "system"):
        raise ConfigurationError(
            f"--cuda-home names a system toolkit, but --toolkit-provider is {provider}",
            hint="drop one of the two",
        )
    return ToolkitRequest(
        cuda_version=version,
        provider=provider,
        cuda_home=cuda_home,
        cache_dir=settings.cache.cache_dir,
    )


def cpu_variant_choice(
    request: CpuVariantRequest,
    inventory_file: Path | None,
    generation: Generation,
    release: OllamaVersion | None,
    inventory: Inventory,
) -> CpuVariantChoice:
    """``--cpu-variants`` for this tree: ``auto`` is native for a local build (no
    --inventory), all for a build planned from an inventory file; native reads the inventory's
    CPU flags, or this machine's when no inventory file was given (``--arch`` detects no GPU)."""
    from build_tools.gpus.cpuinfo import read_cpuinfo
    from build_tools.planning.cpu_variants import (
        VARIANT_ARCHS,
        CpuVariantChoice,
        choose_variants,
    )

    machine = os.uname().machine
    if machine not in VARIANT_ARCHS:
        return CpuVariantChoice(names=None, reason=f"all ({machine} build machine)")
    auto = request.mode == "auto"
    if auto:
        request = CpuVariantRequest("all" if inventory_file is not None else "native")
    cpu = inventory.cpu
    if cpu is None and inventory_file is None and request.mode == "native":
        try:
            cpu = read_cpuinfo()
        except InventoryError as error:
            if not auto:
                raise
            reporter.notice(f"building all CPU variants: {error.message}")
            request = CpuVariantRequest("all")
    variants = generation.cpu_variants_at(release)
    return choose_variants(request, variants, registry().cpu_features, cpu)
