"""The versions of the programs that built the tree, each asked once (read-only probes).

The C and C++ compilers are the ones CMake recorded in the build directories' CMakeCache.txt
(what actually compiled, whatever CC/CXX or PATH said), falling back to ``cc``/``c++``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from build_tools.errors import ToolNotFoundError
from build_tools.runner import Runner

if TYPE_CHECKING:
    from build_tools.build_plan import BuildPlan

__all__ = ["cached_compilers", "toolchain_versions", "version_line"]

_CACHE_ENTRY = re.compile(r"^(CMAKE_C_COMPILER|CMAKE_CXX_COMPILER):[A-Z]+=(.+)$", re.MULTILINE)


def version_line(output: str, *, prefer: str | None = None) -> str:
    """The line that names the version: the first containing ``prefer``, else the first one."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if prefer is not None:
        for line in lines:
            if prefer in line:
                return line
    return lines[0] if lines else ""


def cached_compilers(build_dirs: Sequence[Path]) -> dict[str, str]:
    """``{"cc": path, "cxx": path}`` from the first CMakeCache.txt that names them."""
    found: dict[str, str] = {}
    for build_dir in build_dirs:
        cache = build_dir / "CMakeCache.txt"
        if not cache.is_file():
            continue
        for variable, value in _CACHE_ENTRY.findall(cache.read_text(errors="replace")):
            key = "cc" if variable == "CMAKE_C_COMPILER" else "cxx"
            found.setdefault(key, value.strip())
    return found


def _query(runner: Runner, argv: Sequence[str], prefer: str | None = None) -> str | None:
    try:
        result = runner.run(argv, probe=True, quick=True, check=False, what=" ".join(argv))
    except ToolNotFoundError:
        return None
    if result.returncode != 0:
        return None
    return version_line(result.output, prefer=prefer) or None


def toolchain_versions(plan: BuildPlan, runner: Runner) -> dict[str, str | None]:
    """``{"nvcc": "Cuda compilation tools, release 12.4, V12.4.131", "cmake": ..., ...}``."""
    options = plan.options
    build_dirs = sorted(p for p in plan.build_dir.glob("*") if p.is_dir())
    compilers = cached_compilers(build_dirs)
    return {
        "nvcc": _query(runner, [str(plan.toolkit.nvcc), "--version"], prefer="release"),
        "cmake": _query(runner, [str(options.cmake), "--version"]),
        "ninja": _query(runner, [str(options.ninja), "--version"]),
        "go": _query(runner, [str(options.go), "version"]),
        "cc": _query(runner, [compilers.get("cc", "cc"), "--version"]),
        "cxx": _query(runner, [compilers.get("cxx", "c++"), "--version"]),
    }
