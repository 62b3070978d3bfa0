"""Audit a freshly built install tree against its plan: the build's last gate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from build_tools.archs import CudaArch
from build_tools.errors import AuditError

from .compare import ArchComparison, check_archs
from .fatbin import read_library
from .tree import is_cuda_library

__all__ = ["audit_install"]


def audit_install(staging: Path, planned: Sequence[CudaArch]) -> list[ArchComparison]:
    """Check every CUDA library under ``staging/lib/ollama`` holds exactly the planned code.

    Raises AuditError on the first disagreement (or when there is no CUDA library at all: a
    build that silently produced a CPU-only Ollama is exactly what this gate is for).
    """
    lib_dir = staging / "lib" / "ollama"
    libraries = sorted(
        path
        for path in lib_dir.rglob("*")
        if path.is_file() and not path.is_symlink() and is_cuda_library(path.name)
    )
    if not libraries:
        raise AuditError(
            f"no CUDA backend library was installed under {lib_dir}",
            hint="the CUDA configure step did not find the toolkit; see the configure log",
        )
    return [check_archs(read_library(path), planned) for path in libraries]
