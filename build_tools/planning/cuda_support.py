"""Which CUDA toolkit can compile which architecture.

Two sources, in order of trust: the arch lists of the actual nvcc (``Toolkit.sass_archs`` /
``ptx_archs``), and a built-in table (``resources/cuda_archs.toml``) for when no nvcc is at hand
or to tell the user which CUDA versions would accept an arch.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from build_tools.planning.archs import CudaArch, Suffix
from build_tools.toolkit import INSTALLABLE_VERSIONS
from build_tools.toolkit.model import Toolkit

__all__ = [
    "REACHABLE_CUDA_VERSIONS",
    "ArchSupport",
    "arch_support",
    "describe_support",
    "installable_versions_for",
    "supported_by_table",
    "supported_by_toolkit",
    "table_archs",
    "version_tuple",
]

# Toolkits this tool can install by itself (see `toolkit install`), newest first.
REACHABLE_CUDA_VERSIONS = INSTALLABLE_VERSIONS


def version_tuple(version: str) -> tuple[int, int]:
    major, _, rest = version.partition(".")
    minor = rest.split(".")[0] if rest else "0"
    return int(major), int(minor or 0)


@dataclass(frozen=True)
class ArchSupport:
    number: int
    since: tuple[int, int]
    until: tuple[int, int] | None
    a_since: tuple[int, int] | None
    f_since: tuple[int, int] | None

    def first_version(self, suffix: Suffix) -> tuple[int, int] | None:
        if suffix == "a":
            return self.a_since
        if suffix == "f":
            return self.f_since
        return self.since


@cache
def _table() -> dict[int, ArchSupport]:
    # Package data is read next to the module (the package is always installed unzipped):
    # importlib.resources would load zipfile and tempfile on every start-up.
    text = (Path(__file__).parent.parent / "resources" / "cuda_archs.toml").read_text()
    data = tomllib.loads(text)
    table: dict[int, ArchSupport] = {}
    for key, row in data["sass"].items():

        def opt(name: str, row: dict[str, str] = row) -> tuple[int, int] | None:
            return version_tuple(row[name]) if name in row else None

        table[int(key)] = ArchSupport(
            number=int(key),
            since=version_tuple(row["since"]),
            until=opt("until"),
            a_since=opt("a_since"),
            f_since=opt("f_since"),
        )
    return table


def arch_support(number: int) -> ArchSupport | None:
    return _table().get(number)


def table_archs() -> list[int]:
    return sorted(_table())


def supported_by_table(number: int, suffix: Suffix, cuda_version: str) -> bool:
    row = arch_support(number)
    if row is None:
        return False
    first = row.first_version(suffix)
    version = version_tuple(cuda_version)
    if first is None or version < first:
        return False
    return row.until is None or version < row.until


def supported_by_toolkit(arch: CudaArch, toolkit: Toolkit) -> bool:
    """Ask the toolkit's own lists; suffixed targets need the base arch listed plus the table.

    nvcc's ``--list-gpu-code`` omits ``a``/``f`` targets (12.4 accepts 90a but does not list it),
    so for those the base number must be listed and the table must allow the suffix.
    """
    name = str(arch.number)
    if arch.sass and name not in toolkit.sass_archs:
        return False
    if arch.ptx and name not in toolkit.ptx_archs:
        return False
    if arch.suffix:
        return supported_by_table(arch.number, arch.suffix, toolkit.version)
    return True


def installable_versions_for(archs: Iterable[CudaArch]) -> list[str]:
    """The CUDA versions this tool can install (newest first) that compile every arch."""
    wanted = list(archs)
    return [
        version
        for version in REACHABLE_CUDA_VERSIONS
        if all(supported_by_table(a.number, a.suffix, version) for a in wanted)
    ]


def describe_support(number: int, suffix: Suffix) -> str:
    """Human text naming the CUDA versions that compile an arch, e.g. 'CUDA 6.0 to 12.x'."""
    row = arch_support(number)
    first = row.first_version(suffix) if row is not None else None
    if row is None or first is None:
        return "no known CUDA version"
    start = f"{first[0]}.{first[1]}"
    if row.until is None:
        return f"CUDA {start} or newer"
    last_major = row.until[0] - 1 if row.until[1] == 0 else row.until[0]
    return f"CUDA {start} to {last_major}.x"
