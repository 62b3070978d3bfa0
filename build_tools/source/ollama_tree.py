"""Facts read from an Ollama source tree: which generation it is and what its build files say.

The generation is decided from files, never from the tag name: each registry row names the
files that mark its trees, checked newest generation first (``docs/generations.md
#recognising-a-tree``), so a fork or a commit between tags is judged by what it contains. What
else is read - presets, the llama.cpp pin, the release's Go ldflags - is what the row says its
trees have.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.errors import UnknownLayoutError
from build_tools.generations import Generation, registry
from build_tools.programs import go_directive
from build_tools.settings.parse import git_ref
from build_tools.source.server_install import server_libraries_of, server_programs_of

__all__ = [
    "CompatPatch",
    "TreeFacts",
    "UnknownLayoutError",
    "detect_generation",
    "read_tree",
    "resolve_presets",
    "stock_lists_of",
]


def detect_generation(root: Path) -> Generation:
    for generation in registry().newest_first():
        if all((root / f).is_file() for f in generation.tree.files):
            return generation
    raise UnknownLayoutError(
        f"{root} does not look like any known Ollama source layout",
        hint="expected an Ollama checkout (v0.4.0 or newer); check --source/--ref/--source-dir",
    )


@dataclass(frozen=True, kw_only=True)
class CompatPatch:
    """How Ollama's own ``llama/compat/apply-patch.cmake`` is invoked on a llama.cpp tree (G5).

    v0.30.1+ pass ``-DPATCH_DIR=llama/compat`` (every ``*.patch`` below it, sorted by file
    name); v0.30.0 passes ``-DPATCH_FILE=llama/compat/llama-cpp-hooks.patch``.
    """

    script: Path  # llama/compat/apply-patch.cmake
    define: str  # "PATCH_DIR" or "PATCH_FILE"
    target: Path  # the directory or the single patch file

    @property
    def patches(self) -> tuple[Path, ...]:
        """The patch files the script applies, in its order (by file name)."""
        if self.define == "PATCH_FILE":
            return (self.target,)
        return tuple(sorted(self.target.rglob("*.patch"), key=lambda p: (p.name, str(p))))


@dataclass(frozen=True, kw_only=True)
class TreeFacts:
    root: Path
    generation: Generation
    presets: dict[str, dict[str, str]]  # configure preset -> resolved cacheVariables
    cmake_uses_runner_dir: bool  # CMakeLists installs into lib/ollama/${OLLAMA_RUNNER_DIR}
    go_required: tuple[int, int, int] | None
    go_min_cc_knobs: bool  # the generation's minimum-cc Go variables exist in discover/gpu.go
    validation_hole: bool  # ml/device.go validates only ROCm GPUs (G4 v0.12.10 .. v0.13.1-rc1)
    # Trees that pin llama.cpp: the pinned tag and Ollama's compat patch set.
    llama_cpp_version: str | None = None
    compat_patch: CompatPatch | None = None
    go_ldflags: str | None = None  # the release's set(OLLAMA_GO_LDFLAGS ...), unexpanded
    # The programs the CPU build installs (G5: llama-server llama-quantize), and the libraries
    # installed beside them (source.server_install); () when unread.
    server_programs: tuple[str, ...] = ()
    server_libraries: tuple[str, ...] = ()

    @property
    def presets_path(self) -> str | None:
        return self.generation.tree.presets_file

    def stock_lists(self) -> dict[int, str]:
        """CUDA major -> the stock ``CMAKE_CUDA_ARCHITECTURES`` this tree's presets ship."""
        return stock_lists_of(self.generation, self.presets)

    def preset_for(self, cuda_major: int) -> str | None:
        """The configure preset a build for this CUDA major selects, if the tree has it."""
        name = self.generation.tree.cuda_preset_name(cuda_major)
        return name if name is not None and name in self.presets else None


def resolve_presets(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """A parsed CMakePresets.json to configure preset -> cacheVariables, inheritance applied."""
    raw = {p["name"]: p for p in data.get("configurePresets", [])}

    def resolve(name: str, seen: tuple[str, ...] = ()) -> dict[str, str]:
        preset = raw.get(name, {})
        inherits = preset.get("inherits", [])
        parents = [inherits] if isinstance(inherits, str) else list(inherits)
        merged: dict[str, str] = {}
        # Earlier parents win over later ones, the preset itself over all (CMake semantics).
        for parent in reversed(parents):
            if parent not in seen:
                merged.update(resolve(parent, (*seen, name)))
        for key, value in preset.get("cacheVariables", {}).items():
            merged[key] = value["value"] if isinstance(value, dict) else str(value)
        return merged

    return {name: resolve(name) for name in raw}


# CUDA majors a stock preset may exist for; a tree's own list decides which it has.
_CUDA_MAJORS = range(11, 14)


def stock_lists_of(generation: Generation, presets: dict[str, dict[str, str]]) -> dict[int, str]:
    """The stock arch lists in ``presets`` (from :func:`resolve_presets`) of a tree of
    ``generation``: for each CUDA major, the first of the generation's stock preset names
    that the tree has."""
    lists: dict[int, str] = {}
    for major in _CUDA_MAJORS:
        for name in generation.tree.stock_preset_names(major):
            value = presets.get(name, {}).get("CMAKE_CUDA_ARCHITECTURES")
            if value is not None:
                lists[major] = value
                break
    return lists


_NEEDS_INIT = re.compile(
    r"func \(d DeviceInfo\) NeedsInitValidation\(\) bool \{(?P<body>.*?)\n\}", re.S
)


def _has_validation_hole(root: Path) -> bool:
    device_go = root / "ml" / "device.go"
    if not device_go.is_file():
        return False
    match = _NEEDS_INIT.search(device_go.read_text(errors="replace"))
    if match is None:
        return False
    body = "\n".join(
        line for line in match["body"].splitlines() if not line.strip().startswith("//")
    )
    return '"ROCm"' in body and '"CUDA"' not in body


_PATCH_DEFINE = re.compile(r"-D(PATCH_DIR|PATCH_FILE)=\$\{_compat_dir\}(/[^\s)]+)?")
_GO_LDFLAGS = re.compile(r'set\(OLLAMA_GO_LDFLAGS\s+"([^"]*)"')


def _compat_patch(root: Path) -> CompatPatch | None:
    compat = root / "llama" / "compat"
    script = compat / "apply-patch.cmake"
    if not script.is_file():
        return None
    cmake_file = compat / "compat.cmake"
    text = cmake_file.read_text(errors="replace") if cmake_file.is_file() else ""
    match = _PATCH_DEFINE.search(text)
    if match is not None:
        define = match[1]
        target = compat / match[2].lstrip("/") if match[2] else compat
    else:
        # No recognisable compat.cmake: ask the applier which variable it insists on.
        script_text = script.read_text(errors="replace")
        define = "PATCH_DIR" if "PATCH_DIR" in script_text else "PATCH_FILE"
        target = compat if define == "PATCH_DIR" else compat / "llama-cpp-hooks.patch"
    return CompatPatch(script=script, define=define, target=target)


def _llama_cpp_facts(root: Path, pin: str) -> dict[str, Any]:
    version = (root / pin).read_text(errors="replace").strip()
    try:
        git_ref(version)  # it goes to git as a tag name: never an option, never a path trick
    except ValueError:
        raise UnknownLayoutError(
            f"{root / pin} names the llama.cpp version {version[:60]!r}, which is not a tag name",
            hint="check the tree: LLAMA_CPP_VERSION holds a llama.cpp tag such as b7209",
        ) from None
    return {"llama_cpp_version": version, "compat_patch": _compat_patch(root)}


def _go_ldflags(root: Path, cmake_file: str) -> str | None:
    match = _GO_LDFLAGS.search(_read_if_named(root, cmake_file))
    return None if match is None else " ".join(match[1].split())


def _read_if_named(root: Path, name: str | None) -> str:
    path = None if name is None else root / name
    return path.read_text(errors="replace") if path is not None and path.is_file() else ""


def read_tree(root: Path) -> TreeFacts:
    generation = detect_generation(root)
    signature = generation.tree
    presets: dict[str, dict[str, str]] = {}
    if signature.presets_file is not None and (root / signature.presets_file).is_file():
        presets = resolve_presets(json.loads((root / signature.presets_file).read_text()))
    cmake_text = _read_if_named(root, "CMakeLists.txt")
    gpu_text = _read_if_named(root, "discover/gpu.go")
    knobs = generation.min_cc_go_variables
    go_mod = root / "go.mod"
    server_install = _read_if_named(root, signature.server_install)
    return TreeFacts(
        root=root,
        generation=generation,
        presets=presets,
        cmake_uses_runner_dir="${OLLAMA_RUNNER_DIR}" in cmake_text,
        go_required=go_directive(go_mod) if go_mod.is_file() else None,
        go_min_cc_knobs=knobs is not None
        and all(name.rsplit(".", 1)[-1] in gpu_text for name in knobs),
        validation_hole=generation.validation_hole is not None and _has_validation_hole(root),
        go_ldflags=_go_ldflags(root, signature.go_ldflags) if signature.go_ldflags else None,
        server_programs=server_programs_of(server_install),
        server_libraries=server_libraries_of(server_install),
        **(
            {}
            if signature.llama_cpp_pin is None
            else _llama_cpp_facts(root, signature.llama_cpp_pin)
        ),
    )
