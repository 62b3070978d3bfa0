"""``inspect``: what an Ollama install or release tarball contains and which GPUs it will use.

Works on stock releases and on our builds alike; nothing in PATH is executed or extracted.

Generation: the version recorded in ``bin/ollama`` (Go build info, ``-X ...version.Version=``)
decides when present; otherwise the layout (``llama-server`` -> G5, ``runners/`` -> G2, flat
``libggml_cuda_v12.so`` -> G1, ``cuda_v11/`` -> G3, ``vulkan/`` -> G4). ``cuda_vNN/libggml-cuda.so``
alone fits both G3 and G4: G4 (the newer) is assumed, and GPUs that G3's rule would treat
differently are named in a warning. ``--ollama-generation`` overrides all of this.

A GPU is used if at least one CUDA library directory would take it under the generation's rule
(``coverage.gpu_coverage`` per directory, with the archs found in that directory's libraries).

JSON (``--json``, on stdout)::

    {
      "path": str, "source_kind": "directory" | "tarball" | "library",
      "lib_dir": "lib/ollama" | "",
      "ollama_version": "0.6.8" | null,       # from bin/ollama's build info
      "generation": "G5" | null, "generation_source": str,
      "generation_candidates": ["G3", "G4"],  # what the layout alone allows
      "rule": str,                            # the runtime rule, in words
      "backends": [{"kind": "cpu" | "cuda" | "vulkan" | "rocm" | "mlx", "name": "cuda_v12",
                    "dir": "lib/ollama/cuda_v12", "variants": [...],        # cpu only
                    "archs": "61-real;86", "sass": ["61", "86"], "ptx": ["86"],  # cuda only
                    "libraries": [{"path", "size", "fatbins", "sass", "ptx",
                                   "cmake_architectures", "entry_counts", "compressed_entries"}]}],
      "inventory": {...} | null,              # as `detect --json` prints it
      "gpus": [{"index", "uuid", "name", "compute_capability", "ollama_uses": bool,
                "backend": "cuda_v12" | null, "cuda_coverage": "exact" | "compatible" | "ptx"
                | "none", "reason": str, "crash_risk": bool,
                "per_backend": [{"backend", "cuda_coverage", "ollama_uses", "reason"}]}],
      "skipped_entries": [{"name", "reason"}],  # tarball entries never read
      "notices": [str], "warnings": [str]
    }
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.audit.layout import Backend, Layout, read_layout
from build_tools.audit.scan import BuildInfo, ScannedTree, scan
from build_tools.cli.commands.common import add_inventory_argument, inventory_from_args, print_json
from build_tools.console import Row, reporter
from build_tools.generations import Generation, generation_info
from build_tools.gpus.inventory import Gpu, Inventory
from build_tools.planning.archs import CudaArch, render_cmake
from build_tools.planning.coverage import GpuCoverage, OllamaRule, gpu_coverage
from build_tools.runner import Runner

__all__ = ["GpuUse", "Inspection", "inspect_path", "register"]

EPILOG = """\
examples:
  python -m build_tools inspect /usr/local                  # the official install script's prefix
  python -m build_tools inspect ollama-linux-amd64.tgz --inventory box.json
  python -m build_tools inspect dist/lib/ollama/cuda_v12/libggml-cuda.so --json
  zstd -dc ollama-linux-amd64.tar.zst | python -m build_tools inspect -

Tarballs are read without extracting anything; entries with absolute paths or '..' are skipped.
"""

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

    def to_json(self) -> dict[str, Any]:
        info = self.tree.build_info
        return {
            "path": self.tree.source,
            "source_kind": self.tree.source_kind,
            "lib_dir": self.layout.lib_dir,
            "ollama_version": info.version_text if info else None,
            "generation": self.generation.value if self.generation else None,
            "generation_source": self.generation_source,
            "generation_candidates": [g.value for g in self.layout.generations],
            "rule": self.rule.describe() if self.rule else None,
            "backends": [_backend_json(b) for b in self.layout.backends],
            "inventory": self.inventory.to_json() if self.inventory else None,
            "gpus": [g.to_json() for g in self.gpus],
            "skipped_entries": [{"name": s.name, "reason": s.reason} for s in self.tree.skipped],
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
    if backend.kind == "cuda":
        archs = backend_archs(backend)
        data["archs"] = render_cmake(archs)
        data["sass"] = [a.name for a in archs if a.sass]
        data["ptx"] = [a.name for a in archs if a.ptx]
        data["libraries"] = [library.to_json() for library in backend.libraries]
    return data


def rule_for(generation: Generation, build_info: BuildInfo | None) -> OllamaRule:
    """The runtime rule, with the minimum or validation hole this particular binary has."""
    info = generation_info(generation)
    version = build_info.version if build_info else None
    if info.rule == "minimum":
        minimum = info.default_min
        if info.min_ldflags and build_info is not None and build_info.cuda_minimum is not None:
            minimum = build_info.cuda_minimum  # -X discover.CudaComputeMajorMin=... was set
        return OllamaRule(info=info, minimum=minimum)
    hole = version is not None and info.in_validation_hole(version)
    return OllamaRule(info=info, minimum=None, validation_hole=hole)


def _choose_generation(
    layout: Layout, override: str | None, tree: ScannedTree
) -> tuple[Generation | None, str]:
    if override:
        return Generation.parse(override), "--ollama-generation"
    if tree.source_kind == "library":
        return Generation.G5, "assumed for a single library (G4 and G5 share the exact rule)"
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
        when = "enabled by default" if generation is Generation.G5 else "used when enabled"
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
                f"the layout also fits {other.value}, under whose rule these GPUs would be "
                f"treated the other way: {'; '.join(differ)}; pass --ollama-generation "
                f"{other.value} if this is a {generation_info(other).title} build"
            )
    return messages


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
    if chosen is not None and generation is None:
        warnings += _ambiguity(layout, chosen, tree, uses)
    if inventory is not None:
        notices = [*inventory.notices, *notices]
    return Inspection(
        tree=tree,
        layout=layout,
        generation=chosen,
        generation_source=source,
        rule=rule,
        inventory=inventory,
        gpus=uses,
        notices=tuple(notices),
        warnings=tuple(warnings),
    )


def show(inspection: Inspection) -> None:
    tree, layout = inspection.tree, inspection.layout
    info = tree.build_info
    version = info.version_text if info and info.version_text else "unknown"
    gen = inspection.generation.value if inspection.generation else "unknown"
    reporter.info(f"{tree.source} ({tree.source_kind}): Ollama {version}, generation {gen}")
    reporter.info(f"  generation from: {inspection.generation_source}")
    rows = []
    for backend in layout.backends:
        detail = ", ".join(backend.variants)
        if backend.kind == "cuda":
            archs = backend_archs(backend)
            sass = " ".join(f"sm_{a.name}" for a in archs if a.sass) or "-"
            ptx = " ".join(f"compute_{a.name}" for a in archs if a.ptx) or "-"
            detail = f"SASS {sass}; PTX {ptx}"
        rows.append(Row([backend.kind, backend.name, backend.dir or ".", detail]))
    reporter.table("Backends", ["kind", "name", "directory", "code"], rows)
    if inspection.rule is not None and inspection.gpus:
        rows = [
            Row(
                [
                    str(use.gpu.index),
                    use.gpu.name,
                    use.gpu.compute_capability,
                    use.chosen[1].cuda if use.chosen else "none",
                    "uses" if use.used else "skips",
                    use.reason,
                ],
                style="red" if use.crash_risk else None if use.used else "yellow",
            )
            for use in inspection.gpus
        ]
        reporter.table(
            f"GPUs under Ollama {gen} ({inspection.rule.describe()})",
            ["#", "GPU", "cc", "CUDA", "Ollama", "why"],
            rows,
        )
    for notice in inspection.notices:
        reporter.notice(notice)
    for warning in inspection.warnings:
        reporter.warning(warning)


def run(args: argparse.Namespace, runner: Runner) -> int:
    inventory = inventory_from_args(args, runner)
    inspection = inspect_path(
        args.path, runner, inventory=inventory, generation=args.ollama_generation
    )
    if args.json:
        print_json(inspection.to_json())
    else:
        show(inspection)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="list the backends and compiled CUDA archs of an Ollama install or tarball, "
        "and which GPUs it will use",
        description="Read an Ollama install directory, release tarball (.tgz/.tar.gz/.tar.zst, "
        "'-' for stdin) or a single CUDA library without running or extracting anything: "
        "backends, SASS/PTX per CUDA library, Ollama version and generation, and which of the "
        "local (or --inventory) GPUs this Ollama will use or skip, and why.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="install directory, tarball or library")
    add_inventory_argument(parser)
    parser.add_argument(
        "--ollama-generation",
        metavar="GEN",
        help="the Ollama generation G1-G5 whose runtime rule applies (default: from the "
        "version in bin/ollama, else from the layout)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.set_defaults(func=run)
