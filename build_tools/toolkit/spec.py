"""What a provider promises to assemble for one CUDA version, and the provider interface.

A spec is pinned data: the exact packages and the ``nvcc --version`` the result must report, so
an install is reproducible and its self-check has something precise to compare against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from build_tools.runner import Runner
from build_tools.toolkit.model import Provider

__all__ = ["ToolkitSource", "ToolkitSpec", "arch_tuple"]


def arch_tuple(text: str) -> tuple[str, ...]:
    """``"75 80 86"`` -> ``("75", "80", "86")``: arch lists read best as one line."""
    return tuple(text.split())


@dataclass(frozen=True, kw_only=True)
class ToolkitSpec:
    """One installable toolkit: ``version`` is ``major.minor``, ``packages`` the pinned pieces."""

    version: str
    provider: Provider
    nvcc_version: str
    packages: tuple[str, ...]
    # Where CCCL (thrust/cub/libcu++) lives below include/: CUDA 13 moved it to include/cccl.
    cccl_subdir: str | None = None
    # What nvcc of this exact version lists; only used to show a truthful plan under --dry-run.
    expected_sass_archs: tuple[str, ...] = ()
    expected_ptx_archs: tuple[str, ...] = ()
    # Has cuobjdump (Debian's toolkit package ships it; the CUDA 13.0 wheels do not).
    has_cuobjdump: bool = False


class ToolkitSource(Protocol):
    """A provider that can download and assemble toolkits (``pypi``, ``debian``)."""

    name: Provider

    def spec_for(self, version: str, *, downloads: Path, runner: Runner) -> ToolkitSpec:
        """The pinned spec for ``version``; raises ToolkitError with a fix when there is none."""
        ...

    def fetch(self, spec: ToolkitSpec, downloads: Path, runner: Runner) -> None:
        """Download every package of ``spec`` into ``downloads`` (skipping what is there)."""
        ...

    def assemble(self, spec: ToolkitSpec, downloads: Path, root: Path, runner: Runner) -> None:
        """Unpack the downloaded packages into ``root`` in the CUDA layout (bin, lib64 ...)."""
        ...
