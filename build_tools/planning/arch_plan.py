"""From GPU inventory and user requests to a validated CUDA architecture plan (pure functions).

``make_arch_plan`` takes only values - inventory, requests, the toolkit found (or None), the
target Ollama generation - and returns a frozen :class:`ArchPlan`. Nothing here reads argv, the
environment or the disk, so ``plan --json``, ``build --dry-run`` and the manifest all show the
same object.

Steps, in order: base set (inventory ccs, ``--arch`` tokens, or ``preset`` = the generation's
stock list) → ``--exclude-arch`` → ``--min-arch`` → PTX policy for plain entries → validation
against the toolkit (its own nvcc lists, else the built-in table) → per-GPU coverage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from build_tools.errors import ConfigurationError, PlanError
from build_tools.generations import Generation, OllamaVersion, registry
from build_tools.gpus.inventory import Inventory
from build_tools.planning.archs import (
    ArchKeyword,
    CudaArch,
    PtxPolicy,
    parse_arch_list,
    parse_arch_number,
    parse_arch_token,
    render_cmake,
    render_make,
    split_arch_list,
)
from build_tools.planning.coverage import GpuCoverage, OllamaRule, gpu_coverage
from build_tools.planning.cuda_support import (
    REACHABLE_CUDA_VERSIONS,
    describe_support,
    installable_versions_for,
    supported_by_table,
    supported_by_toolkit,
    table_archs,
    version_tuple,
)
from build_tools.planning.driver import (
    BoxDriver,
    check_runs,
    choose_cuda,
    driver_notices,
    minimum_driver,
)
from build_tools.toolkit.model import Toolkit

__all__ = [
    "ArchPlan",
    "ArchRequest",
    "PtxPolicy",
    "TreeStock",
    "make_arch_plan",
    "parse_excludes",
    "request_tokens",
]

PRESET = "preset"


@dataclass(frozen=True, kw_only=True)
class TreeStock:
    """The stock lists of the source tree being built (its own CMake presets)."""

    lists: Mapping[int, str]  # CUDA major -> CMAKE_CUDA_ARCHITECTURES of the stock preset
    presets_file: str  # where they were read, relative to the tree


@dataclass(frozen=True, kw_only=True)
class ArchRequest:
    """What the user asked for, already split into tokens but not yet interpreted."""

    arch_tokens: tuple[str, ...] = ()  # empty: take the inventory's compute capabilities
    exclude_tokens: tuple[str, ...] = ()
    min_arch: str | None = None
    ptx: PtxPolicy = PtxPolicy.HIGHEST
    # the target Ollama's generation (its runtime rule, stock lists); default: the newest
    generation: Generation = field(default_factory=lambda: registry().newest())
    ref: OllamaVersion | None = None  # release being built, when known
    cuda_version: str | None = None  # requested with --cuda, used when no toolkit is at hand
    # `--arch preset` reads these when a tree is at hand; without one, the built-in table
    tree_stock: TreeStock | None = None
    # the target box's driver (inventory or --target-driver); None: not known, not guessed
    driver: BoxDriver | None = None


@dataclass(frozen=True, kw_only=True)
class _Entry:
    arch: CudaArch
    explicit: bool  # code kinds fixed by the user or the stock preset; the PTX policy leaves it


@dataclass(frozen=True, kw_only=True)
class ArchPlan:
    archs: tuple[CudaArch, ...]
    request: ArchRequest
    base: str  # "inventory", "arch", "preset"
    inventory: Inventory
    toolkit: Toolkit | None
    cuda_version: str  # the CUDA version the archs were validated against
    rule: OllamaRule
    coverage: tuple[GpuCoverage, ...]
    warnings: tuple[str, ...] = field(default=())
    notices: tuple[str, ...] = field(default=())
    stock_source: str | None = None  # `--arch preset`: where the stock list was read

    @property
    def cuda_architectures(self) -> str:
        return render_cmake(self.archs)

    @property
    def make_architectures(self) -> str:
        return render_make(self.archs)

    @property
    def lowest(self) -> CudaArch:
        return self.archs[0]

    def to_json(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "cuda_architectures": self.cuda_architectures,
            "make_cuda_architectures": self.make_architectures,
            "archs": [{"arch": a.name, "sass": a.sass, "ptx": a.ptx} for a in self.archs],
            "ptx_policy": self.request.ptx.value,
            "base": self.base,
            "stock_source": self.stock_source,
            "excluded": list(self.request.exclude_tokens),
            "min_arch": self.request.min_arch,
            "toolkit": None
            if self.toolkit is None
            else {
                "version": self.toolkit.version,
                "full_version": self.toolkit.full_version,
                "provider": self.toolkit.provider,
                "nvcc": str(self.toolkit.nvcc),
            },
            "cuda_version": self.cuda_version,
            "ollama_generation": rule.generation.name,
            "ollama_ref": None if self.request.ref is None else str(self.request.ref),
            "ollama_rule": rule.generation.rule,
            "ollama_min_compute_capability": None
            if rule.minimum is None
            else f"{rule.minimum[0]}.{rule.minimum[1]}",
            "inventory": {
                "source": self.inventory.source,
                "origin": self.inventory.origin,
                "gpu_count": len(self.inventory.gpus),
            },
            "driver": self._driver_json(),
            "gpus": [c.to_json() for c in self.coverage],
            "warnings": list(self.warnings),
            "notices": list(self.notices),
        }

    def _driver_json(self) -> dict[str, Any]:
        """The box's driver and what it decided: the CUDA versions it ruled out."""
        driver = self.request.driver
        ruled_out = [
            {"cuda_version": v, "needs_driver": None if n is None else n.text}
            for v in installable_versions_for(self.archs)
            if driver is not None and not driver.runs(v)
            for n in [minimum_driver(v)]
        ]
        return {
            "known": driver is not None,
            **(driver.to_json() if driver is not None else {"version": None, "source": None}),
            "cuda_version_needs_driver": None
            if (needed := minimum_driver(self.cuda_version)) is None
            else needed.text,
            "ruled_out": ruled_out,
        }


def _merge(archs: Iterable[CudaArch]) -> list[CudaArch]:
    """Deduplicate by (number, suffix); a repeated arch keeps the union of its code kinds."""
    merged: dict[tuple[int, str], CudaArch] = {}
    for arch in archs:
        key = (arch.number, arch.suffix)
        old = merged.get(key)
        merged[key] = (
            arch
            if old is None
            else arch.with_code(sass=old.sass or arch.sass, ptx=old.ptx or arch.ptx)
        )
    return [merged[k] for k in sorted(merged)]


def _inventory_entries(inventory: Inventory, why: str) -> list[_Entry]:
    if not inventory.gpus:
        raise PlanError(
            f"{why}, but the inventory has no GPUs",
            hint="pass --arch LIST, --arch preset, or --inventory FILE captured on the target box",
        )
    return [_Entry(arch=CudaArch(gpu.arch_number), explicit=False) for gpu in inventory.gpus]


def _requested_version(request: ArchRequest, toolkit: Toolkit | None) -> str | None:
    if toolkit is not None:
        return toolkit.version
    return request.cuda_version


def _keyword_entries(keyword: ArchKeyword, inventory: Inventory, cuda: str) -> list[_Entry]:
    if keyword is ArchKeyword.NATIVE:
        # Resolved here from the inventory: CMake's own `native` asks the build machine's GPUs,
        # which in CI is none (nvcc then silently falls back to its default arch).
        return _inventory_entries(inventory, "--arch native asks for the inventory's GPUs")
    numbers = [n for n in table_archs() if supported_by_table(n, "", cuda)]
    if keyword is ArchKeyword.ALL_MAJOR:
        numbers = [n for n in numbers if n % 10 == 0]
    return [_Entry(arch=CudaArch(n), explicit=False) for n in numbers]


def _preset_entries(
    generation: Generation, request: ArchRequest, cuda_major: int
) -> tuple[str, list[_Entry]]:
    """The stock list for ``cuda_major`` and where it came from: the tree's own presets when a
    tree is at hand (a fork or a tag newer than the table says what it ships), else the
    built-in table of the generation at the requested tag."""
    tree = request.tree_stock
    if tree is not None:
        stock = tree.lists.get(cuda_major)
        source = f"the tree's {tree.presets_file}"
        majors = ", ".join(f"CUDA {m}" for m in sorted(tree.lists)) or "no CUDA major"
    else:
        stock = generation.stock_list(cuda_major, request.ref)
        row = generation.stock_lists(request.ref)
        since = "" if row is None else f", lists since {row.since}"
        source = f"the built-in table ({generation.name}{since}; no source tree at hand)"
        majors = ", ".join(f"CUDA {m}" for m in generation.cuda_majors())
    if stock is None:
        raise PlanError(
            f"Ollama {generation.name} has no stock list for CUDA {cuda_major} in {source}",
            hint=f"its presets exist for {majors}; pick one with --cuda",
        )
    parsed = parse_arch_list([stock])
    entries = [_Entry(arch=a, explicit=True) for a in parsed if isinstance(a, CudaArch)]
    return f"CUDA {cuda_major} stock list from {source}", entries


def _base_entries(
    request: ArchRequest, inventory: Inventory, generation: Generation, cuda: str | None
) -> tuple[str, list[_Entry], str | None]:
    if not request.arch_tokens:
        return "inventory", _inventory_entries(inventory, "no --arch was given"), None
    entries: list[_Entry] = []
    base = "arch"
    stock_source = None
    for token in split_arch_list(request.arch_tokens):
        if token.lower() == PRESET:
            # Without a toolkit, the CUDA 12 list: the one every generation ships.
            major = version_tuple(cuda)[0] if cuda is not None else 12
            stock_source, stock = _preset_entries(generation, request, major)
            entries += stock
            base = PRESET
            continue
        parsed = parse_arch_token(token)
        if isinstance(parsed, ArchKeyword):
            entries += _keyword_entries(parsed, inventory, cuda or REACHABLE_CUDA_VERSIONS[-1])
        else:
            plain = parsed.sass and parsed.ptx and "real" not in token and "virtual" not in token
            entries.append(_Entry(arch=parsed, explicit=not plain))
    return base, entries, stock_source


def _excluded(entry: _Entry, excludes: Sequence[CudaArch]) -> bool:
    # `50` removes every form of 50 (50, 50-real, 50-virtual) and any suffixed variant;
    # `90a` removes only 90a.
    arch = entry.arch
    return any(ex.number == arch.number and ex.suffix in ("", arch.suffix) for ex in excludes)


def parse_excludes(tokens: Sequence[str]) -> list[CudaArch]:
    excludes: list[CudaArch] = []
    for parsed in parse_arch_list(tokens):
        if isinstance(parsed, ArchKeyword):
            raise ConfigurationError(
                f"--exclude-arch takes architectures, not '{parsed.value}'",
                hint="e.g. --exclude-arch 50,52",
            )
        excludes.append(parsed)
    return excludes


def _apply_ptx_policy(entries: list[_Entry], policy: PtxPolicy) -> list[CudaArch]:
    """Decide PTX for plain entries; explicit ones (86-real, compute_86, stock lists) stay."""
    highest = max(e.arch.number for e in entries)
    result = []
    for entry in entries:
        if entry.explicit:
            result.append(entry.arch)
            continue
        ptx = policy is PtxPolicy.ALL or (
            policy is PtxPolicy.HIGHEST and entry.arch.number == highest
        )
        result.append(entry.arch.with_code(sass=True, ptx=ptx))
    return result


def _validate(archs: Sequence[CudaArch], toolkit: Toolkit | None, cuda: str) -> None:
    rejected = []
    for arch in archs:
        ok = (
            supported_by_toolkit(arch, toolkit)
            if toolkit is not None
            else supported_by_table(arch.number, arch.suffix, cuda)
        )
        if not ok:
            rejected.append(arch)
    if not rejected:
        return
    where = f"CUDA {cuda}" + (f" ({toolkit.nvcc})" if toolkit is not None else "")
    details = "; ".join(f"{a.name} needs {describe_support(a.number, a.suffix)}" for a in rejected)
    names = ", ".join(a.name for a in rejected)
    alternatives = [v for v in installable_versions_for(rejected) if v != cuda]
    hint = f"{details}; use --cuda {alternatives[0]}" if alternatives else details
    raise PlanError(f"{where} cannot compile arch {names}", hint=hint + " or drop it")


def _stock_ptx_only_warnings(archs: Sequence[CudaArch], inventory: Inventory) -> list[str]:
    """``--arch preset`` under an exact-membership rule: GPUs that the stock list reaches only
    through a ``-virtual`` entry (G5's cuda_v12 ``50-virtual``: the Tesla M10). Ollama matches
    the exact cc, virtual entries included, so it *uses* them - through driver-JIT PTX - which
    is rarely what someone building for this box wants."""
    warnings = []
    for arch in archs:
        if arch.sass or not arch.ptx:
            continue
        gpus = [g for g in inventory.gpus if g.arch_number == arch.number]
        if gpus:
            names = ", ".join(sorted({g.name for g in gpus}))
            warnings.append(
                f"--arch preset keeps {render_cmake((arch,))} from Ollama's stock list, so "
                f"Ollama will use {len(gpus)} GPU(s) with cc {gpus[0].compute_capability} "
                f"({names}) through JIT-compiled PTX; add --exclude-arch {arch.number} "
                "to keep them out"
            )
    return warnings


def make_arch_plan(request: ArchRequest, inventory: Inventory, toolkit: Toolkit | None) -> ArchPlan:
    """Interpret the request against inventory, toolkit and generation; see module docstring."""
    generation = request.generation
    requested = _requested_version(request, toolkit)
    base, entries, stock_source = _base_entries(request, inventory, generation, requested)

    excludes = parse_excludes(request.exclude_tokens)
    entries = [e for e in entries if not _excluded(e, excludes)]
    minimum = None
    if request.min_arch is not None:
        minimum = parse_arch_number(request.min_arch)[0]
        entries = [e for e in entries if e.arch.number >= minimum]
    if not entries:
        raise PlanError(
            "the architecture plan is empty after --exclude-arch/--min-arch",
            hint="keep at least one architecture, or check the inventory",
        )
    archs = tuple(_merge(_apply_ptx_policy(entries, request.ptx)))
    driver = request.driver
    if requested is None:
        # Without a toolkit: the newest installable CUDA that compiles every arch and runs.
        cuda = choose_cuda(archs, driver)
    else:
        what = f"--cuda {requested}" if toolkit is None else f"the CUDA toolkit at {toolkit.root}"
        check_runs(requested, driver, what)
        cuda = requested
    _validate(archs, toolkit, cuda)

    rule = OllamaRule.of_build(
        generation,
        (archs[0].major, archs[0].minor),
        request.ref,
        runtime=version_tuple(cuda),
        driver=None
        if driver is None or driver.version is None
        else (driver.version.branch, driver.version.text),
    )
    notices: list[str] = [] if stock_source is None else [f"--arch preset: {stock_source}"]
    notices += driver_notices(cuda, archs, driver)
    warnings: list[str] = []
    coverage = []
    for gpu in inventory.gpus:
        unwanted = any(ex.number == gpu.arch_number for ex in excludes) or (
            minimum is not None and gpu.arch_number < minimum
        )
        item = gpu_coverage(gpu, archs, rule, wanted=not unwanted)
        coverage.append(item)
        if unwanted:
            notices.append(f"{gpu.label} is excluded by the plan")
        if item.problem is not None:
            warnings.append(item.problem)

    if toolkit is None:
        notices.append(
            f"no CUDA toolkit given or found; archs were checked against the built-in table "
            f"for CUDA {cuda} (install one with --cuda {cuda})"
        )
    if rule.validation_hole:
        warnings.append(
            f"Ollama {request.ref} never validates CUDA GPUs against the compiled list "
            "(fixed upstream in f8f107181): an excluded GPU would still get layers and crash "
            "the runner unless the build applies the validation-fix patch"
        )
    if base == PRESET and generation.rule == "exact":
        warnings += _stock_ptx_only_warnings(archs, inventory)
    if generation.tree.arch_syntax == "make" and any(not (a.sass and a.ptx) for a in archs):
        warnings.append(
            "make-era Ollama (G1/G2) embeds SASS and PTX for every listed arch; "
            "-real/-virtual distinctions are lost"
        )
    return ArchPlan(
        archs=archs,
        request=request,
        base=base,
        inventory=inventory,
        toolkit=toolkit,
        cuda_version=cuda,
        rule=rule,
        coverage=tuple(coverage),
        warnings=tuple(warnings),
        notices=tuple(notices),
        stock_source=stock_source,
    )


def request_tokens(values: Sequence[str] | None) -> tuple[str, ...]:
    """Option values (repeatable, comma/semicolon lists) to a token tuple."""
    return tuple(split_arch_list(values or ()))
