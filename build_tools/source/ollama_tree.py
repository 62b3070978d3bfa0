"""Facts read from an Ollama source tree: which generation it is and what its build files say.

The generation is decided from files, never from the tag name (detection order from
ollama-generations.md §0): a fork or a commit between tags is judged by what it contains.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.errors import UnknownLayoutError
from build_tools.generations import Generation
from build_tools.programs import go_directive

__all__ = ["CompatPatch", "TreeFacts", "UnknownLayoutError", "detect_generation", "read_tree"]


# (generation, files that must all exist), checked in this order.
DETECTION: tuple[tuple[Generation, tuple[str, ...]], ...] = (
    (Generation.G5, ("llama/server/CMakeLists.txt", "LLAMA_CPP_VERSION")),
    (Generation.G4, ("discover/runner.go", "CMakePresets.json")),
    (Generation.G3, ("CMakePresets.json", "discover/gpu_info_cudart.c")),
    (Generation.G2, ("make/Makefile.cuda_v12",)),
    (Generation.G1, ("llama/make/Makefile.cuda_v12",)),
)


def detect_generation(root: Path) -> Generation:
    for generation, files in DETECTION:
        if all((root / f).is_file() for f in files):
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
    go_min_cc_knobs: bool  # discover.CudaComputeMajorMin/MinorMin exist (G2/G3)
    validation_hole: bool  # ml/device.go validates only ROCm GPUs (G4 v0.12.10 .. v0.13.1-rc1)
    # G5 only: the pinned llama.cpp tag, Ollama's compat patch set, the superbuild Go ldflags.
    # For G5, ``presets`` holds llama/server/CMakePresets.json (the root has none).
    llama_cpp_version: str | None = None
    compat_patch: CompatPatch | None = None
    go_ldflags: str | None = None  # set(OLLAMA_GO_LDFLAGS ...) in cmake/local.cmake, unexpanded

    def preset_for(self, cuda_major: int) -> str | None:
        if self.generation is Generation.G5:
            # A list on the command line selects the *_user_arch preset (local.cmake).
            name = f"llama_cuda_v{cuda_major}_user_arch"
        else:
            name = f"CUDA {cuda_major}"
        return name if name in self.presets else None


def _resolve_presets(data: dict[str, Any]) -> dict[str, dict[str, str]]:
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


def _g5_facts(root: Path) -> dict[str, Any]:
    local = root / "cmake" / "local.cmake"
    ldflags = _GO_LDFLAGS.search(local.read_text(errors="replace")) if local.is_file() else None
    return {
        "llama_cpp_version": (root / "LLAMA_CPP_VERSION").read_text().strip(),
        "compat_patch": _compat_patch(root),
        "go_ldflags": None if ldflags is None else " ".join(ldflags[1].split()),
    }


def read_tree(root: Path) -> TreeFacts:
    generation = detect_generation(root)
    presets: dict[str, dict[str, str]] = {}
    presets_file = root / "CMakePresets.json"
    if generation is Generation.G5:
        presets_file = root / "llama" / "server" / "CMakePresets.json"
    if presets_file.is_file():
        presets = _resolve_presets(json.loads(presets_file.read_text()))
    cmake_lists = root / "CMakeLists.txt"
    cmake_text = cmake_lists.read_text(errors="replace") if cmake_lists.is_file() else ""
    gpu_go = root / "discover" / "gpu.go"
    gpu_text = gpu_go.read_text(errors="replace") if gpu_go.is_file() else ""
    go_mod = root / "go.mod"
    return TreeFacts(
        root=root,
        generation=generation,
        presets=presets,
        cmake_uses_runner_dir="${OLLAMA_RUNNER_DIR}" in cmake_text,
        go_required=go_directive(go_mod) if go_mod.is_file() else None,
        go_min_cc_knobs="CudaComputeMajorMin" in gpu_text and "CudaComputeMinorMin" in gpu_text,
        validation_hole=_has_validation_hole(root),
        **(_g5_facts(root) if generation is Generation.G5 else {}),
    )
