"""The NVIDIA driver's two version numbers, parsed strictly.

A box reports its driver as ``570.86.15`` (``nvidia-smi --query-gpu=driver_version``, NVML's
``nvmlSystemGetDriverVersion``) and the newest CUDA version that driver runs as ``12.8`` (the
``CUDA Version`` of ``nvidia-smi``'s header, NVML's ``nvmlSystemGetCudaDriverVersion`` as
12080). Both come from outside: anything that is not such a number is refused, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "CudaDriverVersion",
    "DriverVersion",
    "parse_cuda_driver_version",
    "parse_driver_version",
]

# Linux driver versions: a branch number (390, 550, 1000 one day) and one or two more parts
# (570.26, 550.54.14, 580.65.06). The leading zero of "06" is kept in the text, not compared.
_DRIVER = re.compile(r"([1-9][0-9]{1,3})\.([0-9]{1,3})(?:\.([0-9]{1,3}))?")
# CUDA versions as the driver reports them: 12.8, 13.0.
_CUDA = re.compile(r"([1-9][0-9]?)\.([0-9]{1,2})")


@dataclass(frozen=True, order=True)
class DriverVersion:
    parts: tuple[int, ...]
    text: str = field(compare=False)

    @property
    def branch(self) -> int:
        """The first number (570 of 570.86.15): what Ollama's driver rules compare."""
        return self.parts[0]

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, order=True)
class CudaDriverVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def parse_driver_version(text: str) -> DriverVersion | None:
    """``"570.86.15"`` -> DriverVersion; None for anything else (surrounding blanks allowed)."""
    cleaned = text.strip()
    match = _DRIVER.fullmatch(cleaned)
    if match is None:
        return None
    parts = tuple(int(p) for p in match.groups() if p is not None)
    return DriverVersion(parts=parts, text=cleaned)


def parse_cuda_driver_version(text: str) -> CudaDriverVersion | None:
    """``"12.8"`` -> CudaDriverVersion(12, 8); None for anything else."""
    match = _CUDA.fullmatch(text.strip())
    if match is None:
        return None
    return CudaDriverVersion(int(match[1]), int(match[2]))
