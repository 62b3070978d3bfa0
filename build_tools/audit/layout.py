"""What a scanned Ollama install holds: its backends, and which Ollama generations it can be.

The generation comes from the version recorded in ``bin/ollama`` when the binary carries it,
else from the layout clues of the generation registry (``llama-server`` means G5, ``runners/``
means the make era, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from build_tools.audit.fatbin import LibraryAudit
from build_tools.audit.scan import ScannedTree, TreeFile
from build_tools.generations import Generation, generation_for_version, registry

__all__ = ["Backend", "BackendKind", "Layout", "read_layout"]

BackendKind = Literal["cpu", "cuda", "vulkan", "rocm", "mlx"]


@dataclass(frozen=True, kw_only=True)
class Backend:
    kind: BackendKind
    name: str  # "cuda_v12", "vulkan", "cpu"; the flat CUDA layout is named after its directory
    dir: str  # relative to the scanned root
    libraries: tuple[LibraryAudit, ...] = ()  # CUDA and MLX: what carries device code
    variants: tuple[str, ...] = ()  # CPU only: "haswell", "cpu_avx2" ...


@dataclass(frozen=True, kw_only=True)
class Layout:
    lib_dir: str  # "lib/ollama", or "" when the scanned root is that directory
    backends: tuple[Backend, ...]
    generations: tuple[Generation, ...]  # candidates, oldest first; empty if nothing tells
    evidence: tuple[str, ...]  # why those generations


def _lib_dir(files: tuple[TreeFile, ...]) -> str:
    dirs = {str(parent) for f in files for parent in PurePosixPath(f.path).parents}
    candidates = [d for d in dirs if d == "lib/ollama" or d.endswith("/lib/ollama")]
    return min(candidates, key=len) if candidates else ""


def _under(path: str, lib_dir: str) -> str | None:
    if not lib_dir:
        return path
    return path[len(lib_dir) + 1 :] if path.startswith(lib_dir + "/") else None


def _cuda_name(directory: str, lib_dir: str, library: str) -> str:
    if directory != lib_dir:
        return PurePosixPath(directory).name
    # Flat layouts: G1 names the library after the backend (libggml_cuda_v12.so).
    match = re.match(r"^libggml_(cuda\w*)\.so", PurePosixPath(library).name)
    return match[1] if match else "cuda"


def _backends(tree: ScannedTree, lib_dir: str, rel: list[str]) -> list[Backend]:
    backends: list[Backend] = []
    cpu = {m[1] for p in rel if (m := re.match(r"^libggml-cpu-([\w-]+?)\.so", p))}
    cpu |= {m[1] for p in rel if (m := re.match(r"^runners/(cpu\w*)/", p))}
    if cpu:
        backends.append(Backend(kind="cpu", name="cpu", dir=lib_dir, variants=tuple(sorted(cpu))))
    by_dir: dict[str, list[LibraryAudit]] = {}
    for audit in tree.libraries:
        parent = str(PurePosixPath(audit.path).parent)
        by_dir.setdefault("" if parent == "." else parent, []).append(audit)
    for directory, audits in sorted(by_dir.items()):
        name = _cuda_name(directory, lib_dir, audits[0].path)
        backends.append(Backend(kind="cuda", name=name, dir=directory, libraries=tuple(audits)))
    others: dict[str, BackendKind] = {}
    for path in rel:
        parts = path.split("/")
        top = parts[1] if parts[0] == "runners" and len(parts) > 2 else parts[0]
        if top.startswith("vulkan") or "libggml-vulkan" in path:
            others.setdefault(top if len(parts) > 1 else "vulkan", "vulkan")
        elif top.startswith("rocm") or "libggml-hip" in path:
            others.setdefault(top if len(parts) > 1 else "rocm", "rocm")
        elif top.startswith("mlx") and len(parts) > 1:
            others.setdefault(top, "mlx")
    for name, kind in sorted(others.items()):
        where = "/".join(p for p in (lib_dir, name) if p)
        code = tuple(a for a in tree.mlx_libraries if str(PurePosixPath(a.path).parent) == where)
        backends.append(Backend(kind=kind, name=name, dir=where, libraries=code))
    return backends


def _generations(tree: ScannedTree, rel: list[str]) -> tuple[tuple[Generation, ...], str]:
    """From the version ``bin/ollama`` records, else from the registry's layout clues: the
    lowest-ranked clue that matches, with every generation that shares it (oldest first)."""
    info = tree.build_info
    if info is not None and info.version is not None:
        evidence = f"{info.path} was built as version {info.version_text}"
        return (generation_for_version(info.version),), evidence
    clues = sorted(
        (
            (clue, generation)
            for generation in registry().generations
            for clue in generation.layout_clues
        ),
        key=lambda pair: pair[0].rank,
    )
    for rank in sorted({clue.rank for clue, _ in clues}):
        matched = [
            (clue, generation)
            for clue, generation in clues
            if clue.rank == rank and any(re.match(clue.pattern, path) for path in rel)
        ]
        if matched:
            return tuple(g for _, g in matched), matched[0][0].evidence
    return (), "no ggml library or llama-server found"


def read_layout(tree: ScannedTree) -> Layout:
    """Backends and candidate generations of a scanned tree."""
    lib_dir = "" if tree.source_kind == "library" else _lib_dir(tree.files)
    rel = [r for f in tree.files if f.kind != "dir" and (r := _under(f.path, lib_dir)) is not None]
    rel += [r + "/" for f in tree.files if f.kind == "dir" and (r := _under(f.path, lib_dir))]
    backends = _backends(tree, lib_dir, rel)
    if tree.source_kind == "library":
        return Layout(lib_dir="", backends=tuple(backends), generations=(), evidence=())
    generations, evidence = _generations(tree, rel)
    return Layout(
        lib_dir=lib_dir, backends=tuple(backends), generations=generations, evidence=(evidence,)
    )
