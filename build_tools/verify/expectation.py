"""What ``verify`` expects of an install when no build plan is at hand: the audit of the install
(generation from ``bin/ollama``'s build info, compiled archs from its CUDA libraries) applied to
the GPUs of the inventory, with the user's exclusions marking GPUs that must stay unused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from build_tools.audit.inspection import Inspection, gpu_uses, rule_for
from build_tools.generations import Generation, OllamaVersion, registry
from build_tools.gpus.inventory import Gpu
from build_tools.planning.arch_plan import parse_excludes, request_tokens
from build_tools.planning.archs import parse_arch_number
from build_tools.planning.coverage import GpuCoverage
from build_tools.verify.session import Expectation

__all__ = ["exclusions", "expectation_from_inspection", "refiner", "unwanted_reason"]


def exclusions(exclude_arch: Sequence[str], min_arch: str | None) -> tuple[set[int], int | None]:
    """``--exclude-arch``/``--min-arch`` as the arch numbers that must stay unused."""
    excluded = {arch.number for arch in parse_excludes(request_tokens(exclude_arch))}
    minimum = parse_arch_number(min_arch)[0] if min_arch else None
    return excluded, minimum


def unwanted_reason(gpu: Gpu, excluded: set[int], min_arch: int | None) -> str | None:
    if gpu.arch_number in excluded:
        return f"--exclude-arch {gpu.arch_number}"
    if min_arch is not None and gpu.arch_number < min_arch:
        return f"--min-arch {min_arch}"
    return None


def _intent(coverage: GpuCoverage) -> GpuCoverage:
    """Without a recorded minimum, expect what the user wants where the code can run it."""
    uses = coverage.wanted and coverage.cuda != "none"
    return replace(
        coverage,
        ollama_uses=uses,
        reason="this G1-G3 binary does not record its minimum compute capability (Go omits "
        "-ldflags from the build info of -trimpath builds): expecting "
        + ("use, as the GPU is wanted and compiled for" if uses else "it to be left unused"),
    )


def expectation_from_inspection(
    inspection: Inspection,
    excluded: set[int],
    min_arch: int | None,
    generation: Generation | None = None,
) -> Expectation:
    """Per-GPU coverage from the audited install under ``generation`` (default: the audit's),
    with the user's exclusions as ``wanted``."""
    generation = generation or inspection.generation
    info = inspection.tree.build_info
    cuda = [b for b in inspection.layout.backends if b.kind == "cuda"]
    gpus = tuple(use.gpu for use in inspection.gpus)
    uses = gpu_uses(gpus, cuda, rule_for(generation, info)) if generation else inspection.gpus
    minimum_unknown = (
        generation is not None
        and generation.rule == "minimum"
        and (info is None or info.cuda_minimum is None)
    )
    coverage: list[GpuCoverage] = []
    for use in uses:
        chosen = use.chosen
        base = (
            chosen[1]
            if chosen is not None
            else GpuCoverage(
                gpu=use.gpu, cuda="none", ollama_uses=False, reason=use.reason, wanted=True
            )
        )
        # The best directory's verdict, but "uses" if any CUDA directory takes the GPU.
        item = replace(
            base,
            ollama_uses=use.used,
            wanted=unwanted_reason(use.gpu, excluded, min_arch) is None,
        )
        coverage.append(_intent(item) if minimum_unknown else item)
    return Expectation(
        coverage=tuple(coverage),
        generation=generation,
        source=f"the audit of {inspection.tree.source}",
    )


def refiner(
    inspection: Inspection, excluded: set[int], min_arch: int | None, override: str | None
) -> Callable[[str], Expectation | None] | None:
    """When only the layout told the generation (G3 and G4 look alike), the version the server
    reports decides it."""
    info = inspection.tree.build_info
    if override or (info is not None and info.version is not None):
        return None

    def refine(version: str) -> Expectation | None:
        parsed = OllamaVersion.from_describe(version)
        if parsed is None or (parsed.major, parsed.minor, parsed.patch) == (0, 0, 0):
            return None
        generation = registry().for_version(parsed)
        return expectation_from_inspection(inspection, excluded, min_arch, generation)

    return refine
