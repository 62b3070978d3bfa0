"""Where a shipped library would load the CUDA runtime from: inside the package, or not.

A ``lib/ollama`` library that needs ``libcudart``/``libcublas``/``libcublasLt`` must find it in
the package: through a ``$ORIGIN``-relative ``DT_RUNPATH``/``DT_RPATH`` entry (upstream sets
``$ORIGIN`` from v0.32.15, ``v0.33.0-rc2:CMakeLists.txt``), or shipped beside it, in the
directory Ollama puts on the runner's library path. A search path outside the package (the
build machine's toolkit, ``/usr/local/cuda``) or a runtime that is not shipped at all means the
box's own CUDA runtime - another version, or none - would be loaded instead.

The search is emulated in the loader's order (``ld.so(8)``): ``DT_RUNPATH`` when present, else
``DT_RPATH``, entry by entry; an entry outside the package reached before the library is found
is a problem, as is a library found nowhere in the package.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.audit.dynamic import DynamicInfo, read_dynamic
from build_tools.errors import AuditError

__all__ = [
    "CUDA_RUNTIME",
    "RuntimeLink",
    "audit_runtime_links",
    "runtime_links",
]

# The CUDA runtime libraries Ollama ships next to its CUDA backend.
CUDA_RUNTIME = re.compile(r"^lib(cudart|cublas|cublasLt)\.so(\.\d+)*$")
_ORIGIN = re.compile(r"\$(ORIGIN\b|\{ORIGIN\})")
_ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True, kw_only=True)
class RuntimeLink:
    """One CUDA runtime library a shipped library needs, and where it resolves."""

    library: str  # path relative to the package root
    needed: str  # DT_NEEDED name, e.g. libcudart.so.12
    found: str | None  # path relative to the package root where it resolves
    via: str | None  # "RUNPATH $ORIGIN", "beside it"
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        if self.problem is not None:
            return f"{self.library}: {self.problem}"
        return f"{self.library}: {self.needed} -> {self.found} ({self.via})"

    def to_json(self) -> dict[str, Any]:
        return {
            "library": self.library,
            "needed": self.needed,
            "found": self.found,
            "via": self.via,
            "problem": self.problem,
        }


def _inside(entry: str, origin: str) -> str | None:
    """A search-path entry as a directory relative to the package root ("" = the root), or
    None when it lies outside: absolute, relative to the working directory, another token
    ($LIB, $PLATFORM), or climbing out of the root."""
    match = _ORIGIN.match(entry)
    if match is None:
        return None
    rest = entry[match.end() :]
    if "$" in rest or (rest and not rest.startswith("/")):
        return None
    normal = posixpath.normpath(posixpath.join(origin or ".", rest.lstrip("/")))
    if normal == "..":
        return None
    if normal.startswith("../"):
        return None
    return "" if normal == "." else normal


def runtime_links(
    library: str, info: DynamicInfo, present: Callable[[str], bool]
) -> list[RuntimeLink]:
    """Where each CUDA runtime library that ``library`` (relative to the package root) needs
    would be loaded from; ``present`` says whether a relative path is in the package."""
    origin = posixpath.dirname(library)
    kind, entries = ("RUNPATH", info.runpath) if info.runpath else ("RPATH", info.rpath)
    links = []
    for needed in info.needed:
        if CUDA_RUNTIME.match(needed) is None:
            continue
        found = via = problem = None
        for entry in entries:
            directory = _inside(entry, origin)
            if directory is None:
                problem = (
                    f"needs {needed} and its {kind} entry {entry!r} lies outside the package, "
                    "so the loader may take it from this machine's CUDA instead"
                )
                break
            candidate = posixpath.join(directory, needed) if directory else needed
            if present(candidate):
                found, via = candidate, f"{kind} {entry}"
                break
        if problem is None and found is None:
            beside = posixpath.join(origin, needed)
            if present(beside):
                found, via = beside, "beside it"
            else:
                problem = (
                    f"needs {needed}, which the package does not ship where it looks "
                    f"({kind.lower()} {':'.join(entries) or 'none'}, or beside it), so the "
                    "loader would take it from the system"
                )
        links.append(
            RuntimeLink(library=library, needed=needed, found=found, via=via, problem=problem)
        )
    return links


def _elf_files(lib_dir: Path) -> Iterable[Path]:
    for path in sorted(lib_dir.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        with path.open("rb") as stream:
            if stream.read(4) == _ELF_MAGIC:
                yield path


def audit_runtime_links(staging: Path) -> list[RuntimeLink]:
    """Check every ELF file under ``staging/lib/ollama``: each CUDA runtime it needs resolves
    inside the package. Raises AuditError naming every library that would not."""
    root = staging.resolve()

    def present(relative: str) -> bool:
        path = root / relative
        # A link that points out of the package does not count as shipped.
        return path.exists() and path.resolve().is_relative_to(root)

    links: list[RuntimeLink] = []
    for path in _elf_files(root / "lib" / "ollama"):
        links += runtime_links(path.relative_to(root).as_posix(), read_dynamic(path), present)
    _raise_problems(links)
    return links


def _raise_problems(links: Sequence[RuntimeLink]) -> None:
    bad = [link for link in links if not link.ok]
    if bad:
        raise AuditError(
            "a shipped library would load the CUDA runtime from outside the package: "
            + "; ".join(link.describe() for link in bad),
            hint="ship the runtime beside the library (install its RUNTIME_DEPENDENCIES) or "
            "link with an $ORIGIN-relative RUNPATH; check the install step's log",
        )
