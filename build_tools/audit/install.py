"""Audit a freshly built install tree against its plan: the build's last gate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from build_tools.audit.compare import ArchComparison, check_archs
from build_tools.audit.fatbin import read_library
from build_tools.audit.gobinary import read_go_strings
from build_tools.audit.scan import is_cuda_library
from build_tools.errors import AuditError
from build_tools.planning.archs import CudaArch

__all__ = ["audit_go_binary", "audit_install"]


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


def audit_go_binary(binary: Path, expected: Mapping[str, str]) -> dict[str, str]:
    """Check the Go variables Ollama's runtime reads hold what the build injected.

    A wrong minimum here is as bad as a wrong fatbin: a G3 Ollama whose minimum is still 5.0
    schedules layers on the Tesla M10 and crashes its runner.
    """
    with binary.open("rb") as stream:
        found = read_go_strings(stream, list(expected))
    wrong = [
        f"{name.rsplit('/', 1)[-1]}={found.get(name, '<unreadable>')} (expected {value})"
        for name, value in expected.items()
        if found.get(name) != value
    ]
    if wrong:
        raise AuditError(
            f"{binary}: Go variables differ from the build's -X flags: {'; '.join(wrong)}",
            hint="check that the tree's Go module is github.com/ollama/ollama and that nothing "
            "overrides -ldflags (GOFLAGS)",
        )
    return found
