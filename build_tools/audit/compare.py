"""Compare the device code found in a library with the architecture plan it was built from.

The build fails when they disagree (``AuditError``, exit code 7): a missing SASS arch means a GPU
silently falls back to CPU or JIT; an unplanned one means the build did not use the plan (stale
objects from a compiler cache, an arch list overridden somewhere) and costs build time and size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from build_tools.audit.fatbin import LibraryAudit
from build_tools.errors import AuditError
from build_tools.planning.archs import CudaArch, render_cmake

__all__ = ["ArchComparison", "AuditError", "check_archs", "compare_archs"]


def _names(archs: Sequence[CudaArch], *, sass: bool) -> set[str]:
    return {a.name for a in archs if (a.sass if sass else a.ptx)}


def _sorted(names: set[str]) -> tuple[str, ...]:
    # Numeric order with the suffix as tie-break: 86 < 90 < 90a < 100f.
    return tuple(sorted(names, key=lambda n: (int(n.rstrip("af")), n)))


@dataclass(frozen=True, kw_only=True)
class ArchComparison:
    library: str
    planned: tuple[CudaArch, ...]
    found: tuple[CudaArch, ...]
    missing_sass: tuple[str, ...]
    missing_ptx: tuple[str, ...]
    unexpected_sass: tuple[str, ...]
    unexpected_ptx: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (
            self.missing_sass or self.missing_ptx or self.unexpected_sass or self.unexpected_ptx
        )

    def describe(self) -> str:
        """One line saying how the library and the plan disagree (or that they agree)."""
        planned, found = render_cmake(self.planned), render_cmake(self.found) or "nothing"
        if self.ok:
            return f"{self.library}: device code matches the plan ({planned})"
        parts = []
        for label, names, prefix in (
            ("missing SASS", self.missing_sass, "sm_"),
            ("missing PTX", self.missing_ptx, "compute_"),
            ("unplanned SASS", self.unexpected_sass, "sm_"),
            ("unplanned PTX", self.unexpected_ptx, "compute_"),
        ):
            if names:
                parts.append(f"{label} {', '.join(prefix + n for n in names)}")
        return (
            f"{self.library}: device code differs from the plan: {'; '.join(parts)} "
            f"(planned {planned}, found {found})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "library": self.library,
            "ok": self.ok,
            "planned": render_cmake(self.planned),
            "found": render_cmake(self.found),
            "missing_sass": list(self.missing_sass),
            "missing_ptx": list(self.missing_ptx),
            "unexpected_sass": list(self.unexpected_sass),
            "unexpected_ptx": list(self.unexpected_ptx),
        }


def compare_archs(audit: LibraryAudit, planned: Sequence[CudaArch]) -> ArchComparison:
    """Which planned SASS/PTX archs are absent from the library and which present were unplanned."""
    found = audit.archs()
    comparison: dict[str, tuple[str, ...]] = {}
    for kind, sass in (("sass", True), ("ptx", False)):
        want, have = _names(planned, sass=sass), _names(found, sass=sass)
        comparison[f"missing_{kind}"] = _sorted(want - have)
        comparison[f"unexpected_{kind}"] = _sorted(have - want)
    return ArchComparison(
        library=audit.path,
        planned=tuple(sorted(planned)),
        found=found,
        missing_sass=comparison["missing_sass"],
        missing_ptx=comparison["missing_ptx"],
        unexpected_sass=comparison["unexpected_sass"],
        unexpected_ptx=comparison["unexpected_ptx"],
    )


def check_archs(audit: LibraryAudit, planned: Sequence[CudaArch]) -> ArchComparison:
    """Like :func:`compare_archs`, but raise :class:`AuditError` when they disagree."""
    comparison = compare_archs(audit, planned)
    if not comparison.ok:
        raise AuditError(
            comparison.describe(),
            hint="rebuild from a clean build directory with the planned "
            "CMAKE_CUDA_ARCHITECTURES (stale objects or an arch list set elsewhere differ)",
        )
    return comparison
