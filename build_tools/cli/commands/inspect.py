"""``inspect``: what an Ollama install or release tarball contains and which GPUs it will use.

The reading and judging is :mod:`build_tools.audit.inspection`; this module shows it.

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
                    "archs": "61-real;86", "sass": ["61", "86"], "ptx": ["86"],  # cuda, and
                    # mlx where its libmlx.so is present (mlx: "runs_on": "CUDA device 0 only")
                    "libraries": [{"path", "size", "fatbins", "sass", "ptx",
                                   "cmake_architectures", "entry_counts", "compressed_entries"}]}],
      "inventory": {...} | null,              # as `detect --json` prints it
      "gpus": [{"index", "uuid", "name", "compute_capability", "ollama_uses": bool,
                "backend": "cuda_v12" | null, "cuda_coverage": "exact" | "compatible" | "ptx"
                | "none", "reason": str, "crash_risk": bool,
                "per_backend": [{"backend", "cuda_coverage", "ollama_uses", "reason"}]}],
      "skipped_entries": [{"name", "reason"}],  # tarball entries never read
      "runtime_links": [{"library", "needed", "found", "via", "problem"}],  # CUDA runtime
      "notices": [str], "warnings": [str]
    }
"""

from __future__ import annotations

from build_tools.audit.inspection import Inspection, backend_archs, inspect_path
from build_tools.cli.output import print_json
from build_tools.cli.spec import Context
from build_tools.console import Row, reporter
from build_tools.pipeline.inputs import gather_inventory
from build_tools.settings.commands import InspectSettings

__all__ = ["run", "show"]


def show(inspection: Inspection) -> None:
    tree, layout = inspection.tree, inspection.layout
    info = tree.build_info
    version = info.version_text if info and info.version_text else "unknown"
    gen = inspection.generation.name if inspection.generation else "unknown"
    reporter.info(f"{tree.source} ({tree.source_kind}): Ollama {version}, generation {gen}")
    reporter.info(f"  generation from: {inspection.generation_source}")
    rows = []
    for backend in layout.backends:
        detail = ", ".join(backend.variants)
        if backend.kind == "cuda" or (backend.kind == "mlx" and backend.libraries):
            archs = backend_archs(backend)
            sass = " ".join(f"sm_{a.name}" for a in archs if a.sass) or "-"
            ptx = " ".join(f"compute_{a.name}" for a in archs if a.ptx) or "-"
            detail = f"SASS {sass}; PTX {ptx}"
        rows.append(Row([backend.kind, backend.name, backend.dir or ".", detail]))
    reporter.table("Backends", ["kind", "name", "directory", "code"], rows)
    if inspection.cpu_loads is not None:
        loadable = ", ".join(inspection.cpu_loadable or ())
        reporter.info(f"CPU: loads libggml-cpu-{inspection.cpu_loads}.so (can run: {loadable})")
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
    if inspection.runtime_links:
        rows = [
            Row(
                [link.library, link.needed, link.found or "-", link.via or link.problem or ""],
                style=None if link.ok else "red",
            )
            for link in inspection.runtime_links
        ]
        reporter.table("CUDA runtime", ["library", "needs", "found", "how"], rows)
    for notice in inspection.notices:
        reporter.notice(notice)
    for warning in inspection.warnings:
        reporter.warning(warning)


def run(settings: InspectSettings, context: Context) -> int:
    inventory = gather_inventory(settings.inventory, context.runner)
    inspection = inspect_path(
        settings.path, context.runner, inventory=inventory, generation=settings.ollama_generation
    )
    if context.json:
        print_json(inspection.to_json())
    else:
        show(inspection)
    return 0
