"""What an Ollama install or release tarball contains and which GPUs it will use.

Works on stock releases and on our builds alike; nothing is executed or extracted.

Generation: the version recorded in ``bin/ollama`` (Go build info, ``-X ...version.Version=``)
decides when present; otherwise the registry's layout clues (``llama-server`` -> G5,
``runners/`` -> G2, flat ``libggml_cuda_v12.so`` -> G1, ``cuda_v11/`` -> G3, ``vulkan/`` -> G4).
``cuda_vNN/libggml-cuda.so`` alone fits both G3 and G4: the newer is assumed, and GPUs that the
other's rule would treat differently are named in a warning. An explicit generation overrides
all of this.

A GPU is used if at least one CUDA library directory would take it under the generation's rule
(``coverage.gpu_coverage`` per directory, with the archs found in that directory's libraries).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.audit.layout import Backend, Layout, read_layout
from build_tools.audit.runtime_links import RuntimeLink, runtime_links
from build_tools.audit.scan import BuildInfo, ScannedTree, scan
from build_tools.generations import CpuVariantSet, Generation, registry
from build_tools.gpus.cpuinfo import CpuInfo
from build_tools.gpus.inventory import Gpu, Inventory
from build_tools.planning.archs import CudaArch, render_cmake
from build_tools.planning.coverage import GpuCoverage, OllamaRule, cuda_verdict, gpu_coverage
from build_tools.planning.cpu_variants import VARIANT_ARCHS, best_variant, can_load
from build_tools.runner import Runner

__all__ = [
    "GpuUse",
    "Inspection",
    "backend_archs",
    "gpu_uses",
    "inspect_path",
    "mlx_messages",
    "rule_for",
    "tree_runtime_links",
]

_RANK = {"exact": 0, "compatible": 1, "ptx": 2, "none": 3}


@dataclass(frozen=True, kw_only=True)
class GpuUse:
    """One GPU against every CUDA library directory of the install."""

    gpu: Gpu
    per_backend: tuple[tuple[str, GpuCoverage], ...]

    @property
    def chosen(self) -> tuple[str, GpuCoverage] | None:
        """The directory that takes the GPU with the best code, else the closest miss."""
        if not self.per_backend:
            return None
        return min(self.per_backend, key=lambda bc: (not bc[1].ollama_uses, _RANK[bc[1].cuda]))

    @property
    def used(self) -> bool:
        return any(c.ollama_uses for _, c in self.per_backend)

    @property
    def crash_risk(self) -> bool:
        chosen = self.chosen
        return chosen is not None and chosen[1].ollama_uses and chosen[1].cuda == "none"

    @property
    def reason(self) -> str:
        chosen = self.chosen
        if chosen is None:
            return "no CUDA library in this install"
        name, coverage = chosen
        return f"{name}: {coverage.reason}"

    def to_json(self) -> dict[str, Any]:
        chosen = self.chosen
        return {
            "index": self.gpu.index,
            "uuid": self.gpu.uuid,
            "name": self.gpu.name,
            "compute_capability": self.gpu.compute_capability,
            "ollama_uses": self.used,
            "backend": chosen[0] if chosen and self.used else None,
            "cuda_coverage": chosen[1].cuda if chosen else "none",
            "reason": self.reason,
            "crash_risk": self.crash_risk,
            "per_backend": [
                {
                    "backend": name,
                    "cuda_coverage": c.cuda,
                    "ollama_uses": c.ollama_uses,
                    "reason": c.reason,
                }
                for name, c in self.per_backend
            ],
        }


@dataclass(frozen=True, kw_only=True)
class Inspection:
    tree: ScannedTree
    layout: Layout
    generation: Generation | None
    generation_source: str
    rule: OllamaRule | None
    inventory: Inventory | None
    gpus: tuple[GpuUse, ...]
    notices: tuple[str, ...]
    warnings: tuple[str, ...]
    runtime_links: tuple[RuntimeLink, ...] = ()
    # CPU variants of the install the inventory's CPU (this machine's) can load, and the one
    # ggml picks; None when unknown (no CPU flags, no variants, a generation without a list).
    cpu_loadable: tuple[str, ...] | None = None
    cpu_loads: str | None = None

    def to_json(self) -> dict[str, Any]:
        info = self.tree.build_info
        return {
            "path": self.tree.source,
            "source_kind": self.tree.source_kind,
            "lib_dir": self.layout.lib_dir,
            "ollama_version": info.version_text if info else None,
            "generation": self.generation.name if self.generation else None,
            "generation_source": self.generation_source,
            "generation_candidates": [g.name for g in self.layout.generations],
            "rule": self.rule.describe() if self.rule else None,
            "backends": [_backend_json(b) for b in self.layout.backends],
            "inventory": self.inventory.to_json() if self.inventory else None,
            "gpus": [g.to_json() for g in self.gpus],
            "cpu_variants": None
            if self.cpu_loadable is None
            else {"loadable": list(self.cpu_loadable), "loads": self.cpu_loads},
            "skipped_entries": [{"name": s.name, "reason": s.reason} for s in self.tree.skipped],
            "runtime_links": [link.to_json() for link in self.runtime_links],
            "notices": list(self.notices),
            "warnings": list(self.warnings),
        }


def backend_archs(backend: Backend) -> tuple[CudaArch, ...]:
    """The union of the archs of a directory's CUDA libraries (normally just one library)."""
    merged: dict[tuple[int, str], CudaArch] = {}
    for library in backend.libraries:
        for arch in library.archs():
            key = (arch.number, arch.suffix)
            old = merged.get(key, arch)
            merged[key] = arch.with_code(sass=old.sass or arch.sass, ptx=old.ptx or arch.ptx)
    return tuple(sorted(merged.values()))


def _backend_json(backend: Backend) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": backend.kind, "name": backend.name, "dir": backend.dir}
    if backend.kind == "cpu":
        data["variants"] = list(backend.variants)
    if backend.kind == "mlx":
        # MLX picks its device itself: mlx_device_new_type(MLX_GPU, 0) in Ollama's runner.
        data["runs_on"] = MLX_DEVICE
    if backend.kind == "cuda" or (backend.kind == "mlx" and backend.libraries):
        archs = backend_archs(backend)
        data["archs"] = render_cmake(archs)
        data["sass"] = [a.name for a in archs if a.sass]
        data["ptx"] = [a.name for a in archs if a.ptx]
        data["libraries"] = [library.to_json() for library in backend.libraries]
    return data


MLX_DEVICE = "CUDA device 0 only"
_DEVICE_ZERO = (
    "CUDA device 0 is the fastest GPU by the CUDA runtime's default order, the first by PCI "
    "bus with CUDA_DEVICE_ORDER=PCI_BUS_ID"
)


def mlx_messages(layout: Layout, gpus: tuple[Gpu, ...]) -> tuple[list[str], list[str]]:
    """Notices and warnings for the MLX CUDA backend: it runs MLX-format models on CUDA device
    0 only and checks no compute capability, so a GPU without code fails at its first kernel
    instead of being skipped (docs/build-notes.md, "The MLX CUDA backend")."""
    notices: list[str] = []
    warnings: list[str] = []
    for backend in layout.backends:
        if backend.kind != "mlx" or not backend.libraries:
            continue
        archs = backend_archs(backend)
        code = render_cmake(archs) or "no architectures"
        notices.append(
            f"{backend.dir} (MLX, for MLX-format models) has code for {code} and runs on "
            f"{MLX_DEVICE}, without a compute-capability check; {_DEVICE_ZERO}"
        )
        uncovered = [gpu.label for gpu in gpus if cuda_verdict(gpu, archs) == "none"]
        if uncovered:
            warnings.append(
                f"{backend.dir}: no MLX code runs on {'; '.join(uncovered)}; if one of them is "
                "CUDA device 0, MLX models fail at their first kernel: set CUDA_VISIBLE_DEVICES "
                "for the Ollama process so that device 0 is a GPU the MLX code covers"
            )
    return notices, warnings


def rule_for(generation: Generation, build_info: BuildInfo | None) -> OllamaRule:
    """The runtime rule, with the minimum or validation hole this particular binary has."""
    return OllamaRule.of_binary(
        generation,
        build_info.cuda_minimum if build_info else None,
        build_info.version if build_info else None,
    )


def _choose_generation(
    layout: Layout, override: str | None, tree: ScannedTree
) -> tuple[Generation | None, str]:
    if override:
        return registry().get(override), "--ollama-generation"
    if tree.source_kind == "library":
        newest = registry().newest()
        return newest, f"assumed for a single library: the newest generation, {newest.name}"
    if not layout.generations:
        return None, layout.evidence[0] if layout.evidence else "unknown layout"
    return layout.generations[-1], layout.evidence[0]


def gpu_uses(gpus: tuple[Gpu, ...], cuda: list[Backend], rule: OllamaRule) -> tuple[GpuUse, ...]:
    return tuple(
        GpuUse(
            gpu=gpu,
            per_backend=tuple(
                (b.name, gpu_coverage(gpu, backend_archs(b), rule, wanted=True)) for b in cuda
            ),
        )
        for gpu in gpus
    )


def _warnings(layout: Layout, uses: tuple[GpuUse, ...], generation: Generation | None) -> list[str]:
    warnings = [
        f"{library.path} contains no CUDA device code (.nv_fatbin missing or empty)"
        for backend in layout.backends
        for library in backend.libraries
        if not library.entries
    ]
    warnings += [
        f"{use.gpu.label}: Ollama would use it but no compiled code runs on it, so the runner "
        "would crash ('no kernel image is available'); exclude it with CUDA_VISIBLE_DEVICES"
        for use in uses
        if use.crash_risk
    ]
    vulkan = [b.dir for b in layout.backends if b.kind == "vulkan"]
    if vulkan:
        skipped = [use.gpu.label for use in uses if not use.used]
        whom = f" ({'; '.join(skipped)})" if skipped else ""
        on = generation is not None and generation.vulkan_default_on
        when = "enabled by default" if on else "used when enabled"
        warnings.append(
            f"a Vulkan backend is present ({', '.join(vulkan)}, {when}): it can expose GPUs "
            f"that the CUDA libraries skip{whom}; set OLLAMA_VULKAN=0 or remove that directory "
            "to keep them out"
        )
    return warnings


def _ambiguity(
    layout: Layout, chosen: Generation, tree: ScannedTree, gpus: tuple[GpuUse, ...]
) -> list[str]:
    """Warn when another generation the layout allows would decide a GPU differently."""
    messages = []
    cuda = [b for b in layout.backends if b.kind == "cuda"]
    for other in layout.generations:
        if other is chosen:
            continue
        alternative = gpu_uses(tuple(u.gpu for u in gpus), cuda, rule_for(other, tree.build_info))
        differ = [a.gpu.label for a, u in zip(alternative, gpus, strict=True) if a.used != u.used]
        if differ:
            messages.append(
                f"the layout also fits {other.name}, under whose rule these GPUs would be "
                f"treated the other way: {'; '.join(differ)}; pass --ollama-generation "
                f"{other.name} if this is a {other.title} build"
            )
    return messages


def tree_runtime_links(tree: ScannedTree) -> tuple[RuntimeLink, ...]:
    """Where each CUDA library of the tree would load the CUDA runtime from (links count as
    shipped: a tarball's are never followed)."""
    shipped = {f.path for f in tree.files if f.kind != "dir"}
    links: list[RuntimeLink] = []
    for library in tree.libraries:
        links += runtime_links(library.path, library.dynamic, shipped.__contains__)
    return tuple(links)


def cpu_variant_use(
    variants: tuple[str, ...], generation: Generation, cpu: CpuInfo
) -> tuple[tuple[str, ...], str | None] | None:
    """Which of an install's CPU variants ``cpu`` can load, and the one ggml picks (the
    highest score); None when the registry knows none of them."""
    known = {v.name: v for s in generation.cpu_variants for v in s.variants}
    present = tuple(known[name] for name in variants if name in known)
    if not present or cpu.arch not in VARIANT_ARCHS:
        return None
    features = registry().cpu_features
    best = best_variant(
        CpuVariantSet(since=generation.first_tag, baseline="", variants=present),
        features,
        cpu.flags,
    )
    loadable = tuple(v.name for v in present if can_load(v, features, cpu.flags))
    return loadable, None if best is None else best.name


def inspect_path(
    path: Path | str, runner: Runner, *, inventory: Inventory | None, generation: str | None
) -> Inspection:
    tree = scan(path, runner)
    layout = read_layout(tree)
    chosen, source = _choose_generation(layout, generation, tree)
    notices: list[str] = []
    if not any(b.kind == "cuda" for b in layout.backends):
        notices.append("no CUDA library (libggml-cuda.so / libggml_cuda_vNN.so) found")
    rule = rule_for(chosen, tree.build_info) if chosen else None
    cuda = [b for b in layout.backends if b.kind == "cuda"]
    uses = gpu_uses(inventory.gpus, cuda, rule) if inventory and rule else ()
    warnings = [f"tarball entry '{s.name}' skipped: {s.reason}" for s in tree.skipped]
    warnings += _warnings(layout, uses, chosen)
    mlx_notices, mlx_warnings = mlx_messages(layout, inventory.gpus if inventory else ())
    notices += mlx_notices
    warnings += mlx_warnings
    if chosen is not None and generation is None:
        warnings += _ambiguity(layout, chosen, tree, uses)
    if inventory is not None:
        notices = [*inventory.notices, *notices]
    links = tree_runtime_links(tree)
    warnings += [link.describe() for link in links if not link.ok]
    cpu_use = None
    cpu_variants = next((b.variants for b in layout.backends if b.kind == "cpu"), ())
    if inventory is not None and inventory.cpu is not None and chosen is not None:
        cpu_use = cpu_variant_use(cpu_variants, chosen, inventory.cpu)
        if cpu_use is not None and cpu_use[1] is None:
            warnings.append(
                "no CPU variant of this install runs on this CPU: Ollama has no CPU backend"
            )
    return Inspection(
        cpu_loadable=None if cpu_use is None else cpu_use[0],
        cpu_loads=None if cpu_use is None else cpu_use[1],
        tree=tree,
        layout=layout,
        generation=chosen,
        generation_source=source,
        rule=rule,
        inventory=inventory,
        gpus=uses,
        notices=tuple(notices),
        warnings=tuple(warnings),
        runtime_links=links,
    )
