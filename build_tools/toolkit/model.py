"""What the rest of the tool knows about a CUDA toolkit: the value providers return."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Provider", "Toolkit"]

Provider = Literal["pypi", "debian", "system"]


@dataclass(frozen=True, kw_only=True)
class Toolkit:
    """A usable CUDA toolkit.

    ``version`` is ``major.minor`` ("12.4"); ``full_version`` is what ``nvcc --version`` reports
    ("12.4.131"). ``sass_archs``/``ptx_archs`` are arch numbers as ``nvcc --list-gpu-code`` /
    ``--list-gpu-arch`` print them, without the ``sm_``/``compute_`` prefix ("50", "86", "90").
    """

    version: str
    full_version: str
    provider: Provider
    root: Path
    nvcc: Path
    sass_archs: tuple[str, ...]
    ptx_archs: tuple[str, ...]

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def version_tuple(self) -> tuple[int, int]:
        major, minor = self.version.split(".")[:2]
        return int(major), int(minor)
