"""Per-GPU coverage: can CUDA run this GPU with the planned code, and will Ollama use it?

CUDA's rule: SASS ``sm_XY`` runs on cc X.Z for Z >= Y (same major; ``a`` targets only on X.Y
itself), PTX ``compute_XY`` is JIT-compiled for any cc >= X.Y. Ollama adds its own rule per
generation (its registry row; ``docs/generations.md#runtime-rules``): a minimum cc (G1-G3) or
exact membership of cc*10 in the compiled ``__CUDA_ARCH_LIST__`` (G4/G5). The same function
serves ``plan``, ``inspect`` and ``verify``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from build_tools.generations import Generation, OllamaVersion
from build_tools.generations.model import DriverRule
from build_tools.gpus.inventory import Gpu
from build_tools.planning.archs import CudaArch

__all__ = ["CudaVerdict", "GpuCoverage", "OllamaRule", "cuda_verdict", "gpu_coverage"]

CudaVerdict = Literal["exact", "compatible", "ptx", "none"]


def _sass_runs(arch: CudaArch, gpu: Gpu) -> bool:
    if not arch.sass or arch.major != gpu.cc_major:
        return False
    if arch.suffix == "a":
        return arch.minor == gpu.cc_minor
    return arch.minor <= gpu.cc_minor


def _ptx_runs(arch: CudaArch, gpu: Gpu) -> bool:
    if not arch.ptx:
        return False
    if arch.suffix == "a":
        return arch.number == gpu.arch_number
    if arch.suffix == "f":
        return arch.major == gpu.cc_major and arch.minor <= gpu.cc_minor
    return arch.number <= gpu.arch_number


def cuda_verdict(gpu: Gpu, archs: Sequence[CudaArch]) -> CudaVerdict:
    if any(a.sass and a.number == gpu.arch_number for a in archs):
        return "exact"
    if any(_sass_runs(a, gpu) for a in archs):
        return "compatible"
    if any(_ptx_runs(a, gpu) for a in archs):
        return "ptx"
    return "none"


@dataclass(frozen=True, kw_only=True)
class OllamaRule:
    """The runtime rule of the Ollama being built, with the minimum the build will set."""

    generation: Generation
    minimum: tuple[int, int] | None  # for rule == "minimum": the cc below which GPUs are skipped
    validation_hole: bool = False  # refs whose discovery never validates CUDA GPUs
    # Ollama's driver rules for this ref, applied when the runtime and the driver are known.
    driver_rules: tuple[DriverRule, ...] = ()
    runtime: tuple[int, int] | None = None  # the CUDA runtime shipped with the build
    driver: tuple[int, str] | None = None  # the box's driver: (branch, as printed)

    @classmethod
    def of_build(
        cls,
        generation: Generation,
        lowest: tuple[int, int],
        ref: OllamaVersion | None,
        *,
        runtime: tuple[int, int] | None = None,
        driver: tuple[int, str] | None = None,
    ) -> OllamaRule:
        """The rule of a build of ``ref`` whose lowest planned arch is ``lowest``, built with
        the CUDA ``runtime`` for a box with ``driver``.

        Where the minimum is a Go variable the build sets it from the plan's lowest arch, so a
        GPU below it is skipped ("too old") instead of crashing the runner; elsewhere the
        minimum is the generation's fixed one.
        """
        rules = generation.driver_rules_at(ref)
        if generation.rule == "minimum":
            minimum = lowest if generation.min_cc_at_link_time else generation.default_min
            return cls(
                generation=generation,
                minimum=minimum,
                driver_rules=rules,
                runtime=runtime,
                driver=driver,
            )
        hole = ref is not None and generation.in_validation_hole(ref)
        return cls(
            generation=generation,
            minimum=None,
            validation_hole=hole,
            driver_rules=rules,
            runtime=runtime,
            driver=driver,
        )

    def driver_drop(self, gpu: Gpu) -> str | None:
        """Why Ollama drops ``gpu`` for the box's driver, or None."""
        if self.runtime is None or self.driver is None:
            return None
        branch, printed = self.driver
        for rule in self.driver_rules:
            if rule.drops((gpu.cc_major, gpu.cc_minor), self.runtime, branch):
                runtime = f"{self.runtime[0]}.{self.runtime[1]}"
                return (
                    f"Ollama drops it for the driver ({printed}) with the CUDA {runtime} "
                    f"runtime: {rule.describe()} (discover/cuda_compat.go)"
                )
        return None

    @classmethod
    def of_binary(
        cls,
        generation: Generation,
        recorded_minimum: tuple[int, int] | None,
        version: OllamaVersion | None,
    ) -> OllamaRule:
        """The rule of an installed binary: the minimum it records (``-X`` symbols), else the
        generation's default."""
        if generation.rule == "minimum":
            minimum = generation.default_min
            if generation.min_cc_at_link_time and recorded_minimum is not None:
                minimum = recorded_minimum
            return cls(generation=generation, minimum=minimum)
        hole = version is not None and generation.in_validation_hole(version)
        return cls(generation=generation, minimum=None, validation_hole=hole)

    def describe(self) -> str:
        if self.generation.rule == "minimum":
            assert self.minimum is not None
            return f"uses GPUs with cc >= {self.minimum[0]}.{self.minimum[1]}"
        if self.validation_hole:
            return "uses every CUDA GPU (this ref never validates CUDA GPUs)"
        return "uses a GPU only if its exact cc is in the compiled list"


@dataclass(frozen=True, kw_only=True)
class GpuCoverage:
    gpu: Gpu
    cuda: CudaVerdict
    ollama_uses: bool
    reason: str
    wanted: bool  # False when the user excluded this GPU's arch (--exclude-arch/--min-arch)

    @property
    def problem(self) -> str | None:
        """What is wrong for this GPU, or None when the plan does what the user asked."""
        gpu = self.gpu.label
        if self.ollama_uses and self.cuda == "none":
            return (
                f"{gpu}: Ollama would use it but the build has no code for it, so the runner "
                "would crash ('no kernel image is available')"
            )
        if not self.wanted and self.ollama_uses:
            return f"{gpu}: excluded, but Ollama would still use it ({self.reason})"
        if self.wanted and not self.ollama_uses and self.cuda != "none":
            return f"{gpu}: CUDA could run it ({self.cuda}) but Ollama would skip it: {self.reason}"
        if self.wanted and self.cuda == "none":
            return f"{gpu}: not covered by the plan; Ollama will not use it"
        return None

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.gpu.to_json().items() if k in {"index", "uuid", "name"}}
        data["compute_capability"] = self.gpu.compute_capability
        data.update(
            cuda_coverage=self.cuda,
            ollama_uses=self.ollama_uses,
            wanted=self.wanted,
            reason=self.reason,
        )
        return data


def _ollama_decision(gpu: Gpu, archs: Sequence[CudaArch], rule: OllamaRule) -> tuple[bool, str]:
    if rule.generation.rule == "minimum":
        assert rule.minimum is not None
        if (gpu.cc_major, gpu.cc_minor) < rule.minimum:
            low = f"{rule.minimum[0]}.{rule.minimum[1]}"
            return False, f"cc {gpu.compute_capability} is below Ollama's minimum {low} ('too old')"
        return True, f"cc {gpu.compute_capability} >= Ollama's minimum"
    compiled = sorted({a.number * 10 for a in archs})
    if rule.validation_hole:
        return True, "this Ollama version does not validate CUDA GPUs against the compiled list"
    if gpu.arch_number * 10 in compiled:
        return True, f"{gpu.arch_number * 10} is in the compiled list"
    listed = ",".join(str(n) for n in compiled)
    return False, f"{gpu.arch_number * 10} is not in the compiled list [{listed}]"


def gpu_coverage(
    gpu: Gpu, archs: Sequence[CudaArch], rule: OllamaRule, *, wanted: bool
) -> GpuCoverage:
    uses, reason = _ollama_decision(gpu, archs, rule)
    dropped = rule.driver_drop(gpu) if uses else None
    if dropped is not None:
        uses, reason = False, dropped
    return GpuCoverage(
        gpu=gpu, cuda=cuda_verdict(gpu, archs), ollama_uses=uses, reason=reason, wanted=wanted
    )
