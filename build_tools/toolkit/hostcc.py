"""Is the host C++ compiler one this toolkit accepts?

nvcc refuses host compilers outside the range that its ``crt/host_config.h`` hard-codes (CUDA
12.4: gcc <= 13, clang < 18; CUDA 13.0: gcc <= 15, clang < 21), with an ``#error`` deep inside
the first compile. Reading the same header up front turns that into one line that names the fix.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from build_tools.errors import ToolkitError, ToolNotFoundError
from build_tools.runner import Runner

__all__ = [
    "HostCompiler",
    "HostCompilerRange",
    "check_host_compiler",
    "detect_host_compiler",
    "parse_host_config",
]

_GCC_MAX_RE = re.compile(r"#if\s+__GNUC__\s*>\s*(\d+)")
_CLANG_RE = re.compile(r"\(__clang_major__\s*>=\s*(\d+)\)\s*\|\|\s*\(__clang_major__\s*<\s*(\d+)\)")


@dataclass(frozen=True)
class HostCompilerRange:
    """Supported host compiler majors; ``None`` where the header sets no limit."""

    gcc_max: int | None
    clang_min: int | None
    clang_max: int | None


@dataclass(frozen=True)
class HostCompiler:
    path: Path
    family: Literal["gcc", "clang"]
    major: int
    minor: int

    @property
    def label(self) -> str:
        return f"{self.family} {self.major}.{self.minor}"


def parse_host_config(text: str) -> HostCompilerRange:
    """Limits from ``crt/host_config.h`` (``#if __GNUC__ > 13`` -> gcc_max 13)."""
    gcc = _GCC_MAX_RE.search(text)
    clang = _CLANG_RE.search(text)
    return HostCompilerRange(
        gcc_max=int(gcc.group(1)) if gcc else None,
        clang_min=int(clang.group(2)) if clang else None,
        clang_max=int(clang.group(1)) - 1 if clang else None,
    )


def _macros(text: str) -> dict[str, str]:
    macros: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[0] == "#define":
            macros[parts[1]] = parts[2]
    return macros


def detect_host_compiler(runner: Runner, cxx: str) -> HostCompiler:
    """Identify ``cxx`` from its predefined macros (works for gcc and clang alike)."""
    found = shutil.which(cxx)
    if found is None:
        raise ToolNotFoundError(
            f"host C++ compiler '{cxx}' not found",
            hint="install g++ (Debian/Ubuntu: apt-get install g++) or set CUDAHOSTCXX",
        )
    out = runner.run(
        [found, "-dM", "-E", "-x", "c++", os.devnull], probe=True, quick=True, what=f"{cxx} -dM -E"
    ).output
    macros = _macros(out)
    if "__clang_major__" in macros:
        family: Literal["gcc", "clang"] = "clang"
        major, minor = macros["__clang_major__"], macros.get("__clang_minor__", "0")
    elif "__GNUC__" in macros:
        family = "gcc"
        major, minor = macros["__GNUC__"], macros.get("__GNUC_MINOR__", "0")
    else:
        raise ToolkitError(f"{found} is neither gcc nor clang; nvcc on Linux needs one of them")
    return HostCompiler(path=Path(found), family=family, major=int(major), minor=int(minor))


def host_compiler_name(environ: Mapping[str, str]) -> str:
    """The compiler nvcc/CMake will use: ``CUDAHOSTCXX`` (CMake honours it) or ``g++``."""
    return environ.get("CUDAHOSTCXX") or "g++"


def check_host_compiler(
    toolkit_root: Path,
    version: str,
    runner: Runner,
    *,
    cxx: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> HostCompiler:
    """Raise :class:`ToolkitError` naming the fix when the host compiler is out of range."""
    env = os.environ if environ is None else environ
    compiler = detect_host_compiler(runner, cxx or host_compiler_name(env))
    header = toolkit_root / "include" / "crt" / "host_config.h"
    if not header.is_file():
        return compiler
    limits = parse_host_config(header.read_text(encoding="utf-8", errors="replace"))
    if compiler.family == "gcc" and limits.gcc_max is not None and compiler.major > limits.gcc_max:
        raise ToolkitError(
            f"CUDA {version} supports gcc up to {limits.gcc_max}, but {compiler.path} is "
            f"{compiler.label}",
            hint=f"install g++-{limits.gcc_max} and set CUDAHOSTCXX=/usr/bin/g++-{limits.gcc_max}"
            " (CMake and this tool pass it to nvcc)",
        )
    if compiler.family == "clang" and (
        (limits.clang_max is not None and compiler.major > limits.clang_max)
        or (limits.clang_min is not None and compiler.major < limits.clang_min)
    ):
        raise ToolkitError(
            f"CUDA {version} supports clang {limits.clang_min}..{limits.clang_max}, but "
            f"{compiler.path} is {compiler.label}",
            hint="set CUDAHOSTCXX to a supported compiler, e.g. CUDAHOSTCXX=/usr/bin/g++",
        )
    return compiler
