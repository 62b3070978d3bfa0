"""The build programs this tool drives: cmake and ninja from our own dependencies, Go, the
choices of compiler cache (resolved in ``compiler_cache``), and the default job count.
Resolution happens once, before the plan is frozen.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from build_tools.errors import ToolNotFoundError
from build_tools.runner import Runner

__all__ = [
    "CompilerCache",
    "GoTool",
    "find_cmake",
    "find_go",
    "find_ninja",
    "go_directive",
    "suggested_jobs",
]

CompilerCache = Literal["auto", "ccache", "sccache", "none"]


def _bundled(module: str, program: str) -> Path | None:
    """The binary shipped by the PyPI ``cmake``/``ninja`` package, if importable."""
    try:
        package = __import__(module)
    except ImportError:
        return None
    bin_dir = getattr(package, "BIN_DIR", None) or getattr(package, "CMAKE_BIN_DIR", None)
    if bin_dir is None:
        return None
    candidate = Path(bin_dir) / program
    return candidate if candidate.exists() else None


def find_cmake() -> Path:
    # Prefer the pinned PyPI cmake: Ollama's G5 superbuild needs >= 3.24, Debian 12 has 3.25,
    # and a known version keeps builds reproducible.
    found = _bundled("cmake", "cmake") or shutil.which("cmake")
    if found is None:
        raise ToolNotFoundError("cmake was not found", hint="pip install 'cmake>=3.28'")
    return Path(found)


def find_ninja() -> Path:
    found = _bundled("ninja", "ninja") or shutil.which("ninja")
    if found is None:
        raise ToolNotFoundError("ninja was not found", hint="pip install ninja")
    return Path(found)


@dataclass(frozen=True)
class GoTool:
    path: Path
    version: tuple[int, int, int]

    @property
    def version_text(self) -> str:
        return ".".join(str(n) for n in self.version)


_GO_VERSION = re.compile(r"go(\d+)\.(\d+)(?:\.(\d+))?")


def _parse_go_version(text: str) -> tuple[int, int, int] | None:
    match = _GO_VERSION.search(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def go_directive(go_mod: Path) -> tuple[int, int, int] | None:
    """The ``go`` line of a go.mod: the minimum Go that builds the module."""
    for line in go_mod.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "go":
            return _parse_go_version("go" + parts[1])
    return None


def find_go(runner: Runner, required: tuple[int, int, int] | None) -> GoTool:
    """Find ``go`` and check it against the tree's go.mod (we never let Go download itself)."""
    found = shutil.which("go")
    need = "" if required is None else ".".join(map(str, required))
    if found is None:
        raise ToolNotFoundError(
            "go was not found on PATH",
            hint=f"install Go {need or '1.22'} or newer and put it on PATH",
        )
    output = runner.run([found, "version"], probe=True, quick=True, what="go version").output
    version = _parse_go_version(output)
    if version is None:
        raise ToolNotFoundError(f"cannot read the Go version from '{output.strip()}'")
    if required is not None and version < required:
        have = ".".join(map(str, version))
        raise ToolNotFoundError(
            f"Go {have} is older than the {need} this Ollama's go.mod requires",
            hint=f"install Go {need} or newer and put it first on PATH",
        )
    return GoTool(Path(found), version)


def _available_memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        return None
    return None


def suggested_jobs(arch_count: int) -> int:
    """Parallel jobs from cores and free memory.

    nvcc compiles the archs one after another inside one process, so its peak memory grows
    with the list: about 0.45 GiB for one arch and 1.1 GiB for eleven
    (docs/build-notes.md#nvcc-memory).
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    per_job = 0.4 + 0.07 * max(1, arch_count)
    memory = _available_memory_gib()
    by_memory = int(memory / per_job) if memory is not None else cores or 1
    return max(1, min(cores or 1, by_memory))
