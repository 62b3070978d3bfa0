"""Which of ggml's x86-64 CPU backend variants a build compiles (``--cpu-variants``).

With GGML_CPU_ALL_VARIANTS a tree builds one ``libggml-cpu-<variant>.so`` per instruction-set
level (x64, sse42, sandybridge ... sapphirerapids, listed per tag in the generation registry).
At start-up ggml loads the variant with the highest score among those the CPU can run
(``ggml_backend_cpu_x86_score`` in cpu-feats-x86.cpp). A build for one known box therefore needs
that variant and the baseline it falls back to; a release build needs them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from build_tools.errors import ConfigurationError

if TYPE_CHECKING:  # settings import this module for the option's type: keep its imports light
    from collections.abc import Mapping

    from build_tools.generations import CpuFeature, CpuVariant, CpuVariantSet
    from build_tools.gpus.cpuinfo import CpuInfo

__all__ = [
    "VARIANT_ARCHS",
    "CpuVariantChoice",
    "CpuVariantRequest",
    "best_variant",
    "can_load",
    "choose_variants",
    "parse_cpu_variants",
]

CpuVariantMode = Literal["auto", "all", "native", "list"]
# The build machines whose ggml builds the variants (GGML_CPU_ALL_VARIANTS on x86 only in
# G3/G4; the registry holds the x86 lists).
VARIANT_ARCHS = frozenset({"x86_64"})
_NAME = re.compile(r"[a-z][a-z0-9_.]{0,31}")


@dataclass(frozen=True)
class CpuVariantRequest:
    mode: CpuVariantMode
    names: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ",".join(self.names) if self.mode == "list" else self.mode


def parse_cpu_variants(text: str) -> CpuVariantRequest:
    """``all``, ``native``, ``auto`` or a comma-separated list of variant names."""
    value = text.strip()
    if value in {"auto", "all", "native"}:
        return CpuVariantRequest(value)  # type: ignore[arg-type]
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    if not names or any(_NAME.fullmatch(n) is None for n in names):
        raise ValueError("expected all, native or a list of variant names such as x64,haswell")
    return CpuVariantRequest("list", names)


@dataclass(frozen=True, kw_only=True)
class CpuVariantChoice:
    """The variants a build compiles and installs; ``names`` None: all of the tree's."""

    names: tuple[str, ...] | None
    reason: str

    @property
    def cmake_list(self) -> str | None:
        return None if self.names is None else ";".join(self.names)


def can_load(
    variant: CpuVariant, features: Mapping[str, CpuFeature], flags: frozenset[str]
) -> bool:
    """Whether ggml's score function accepts ``variant`` on a CPU with ``flags``."""
    return all(set(features[f].flags) <= flags for f in variant.features)


def _score(variant: CpuVariant, features: Mapping[str, CpuFeature]) -> int:
    return 1 + sum(features[f].score for f in variant.features)


def best_variant(
    variants: CpuVariantSet, features: Mapping[str, CpuFeature], flags: frozenset[str]
) -> CpuVariant | None:
    """The variant ggml loads on this CPU: the highest score among those it can run."""
    loadable = [v for v in variants.variants if can_load(v, features, flags)]
    return max(loadable, key=lambda v: _score(v, features), default=None)


def choose_variants(
    request: CpuVariantRequest,
    variants: CpuVariantSet | None,
    features: Mapping[str, CpuFeature],
    cpu: CpuInfo | None,
) -> CpuVariantChoice:
    """The variants to build for ``request`` (``auto`` must be resolved by the caller)."""
    if request.mode == "all":
        return CpuVariantChoice(names=None, reason="all variants (--cpu-variants all)")
    if variants is None:
        if request.mode == "list":
            raise ConfigurationError(
                "--cpu-variants: this Ollama generation has no CPU variant list",
                hint="use --cpu-variants all",
            )
        return CpuVariantChoice(names=None, reason="all variants (none known for this tag)")
    if request.mode == "list":
        unknown = [n for n in request.names if n not in variants.names]
        if unknown:
            raise ConfigurationError(
                f"--cpu-variants: unknown variant '{unknown[0]}' for this tag",
                hint=f"choose from {', '.join(variants.names)}",
            )
        chosen = [
            *request.names,
            *([] if variants.baseline in request.names else [variants.baseline]),
        ]
        return CpuVariantChoice(
            names=tuple(n for n in variants.names if n in chosen),
            reason=f"as listed, with the baseline {variants.baseline}",
        )
    if cpu is None:
        raise ConfigurationError(
            "--cpu-variants native: the CPU's flags are unknown",
            hint="run `detect --output FILE` on the target box (it records them) or use "
            "--cpu-variants all",
        )
    if cpu.arch not in VARIANT_ARCHS:
        return CpuVariantChoice(names=None, reason=f"all variants ({cpu.arch} has no variants)")
    best = best_variant(variants, features, cpu.flags)
    names = {variants.baseline} | ({best.name} if best is not None else set())
    return CpuVariantChoice(
        names=tuple(n for n in variants.names if n in names),
        reason=f"native: {best.name if best else 'none'} (what ggml loads on this CPU) and the "
        f"baseline {variants.baseline}",
    )
