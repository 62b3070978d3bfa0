"""The one place where the hostile-input suite imports the tool's internals.

The property tests (test_parsers_properties.py) call the parsers through these wrappers, so a
reorganisation of the modules behind the CLI means updating only this file. Every wrapper takes
plain data (bytes, str) and returns the parser's result or raises what the parser raises.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from build_tools.audit.fatbin import audit_elf_bytes, parse_fatbin, read_library
from build_tools.audit.gobinary import OLLAMA_GO_VARIABLES, read_go_strings
from build_tools.audit.scan import scan
from build_tools.errors import (
    BuildToolsError,
    ConfigurationError,
    InventoryError,
    PlanError,
    UnreadableArtifactError,
)
from build_tools.generations import OllamaVersion, registry
from build_tools.gpus.inventory import load_inventory, parse_nvidia_smi_csv
from build_tools.planning.archs import parse_arch_list, parse_arch_number, parse_arch_token
from build_tools.runner import Runner
from build_tools.toolkit.request import normalize_cuda_version
from build_tools.verify.logparse import parse_log

__all__ = [
    "BuildToolsError",
    "ConfigurationError",
    "InventoryError",
    "PlanError",
    "UnreadableArtifactError",
    "arch_list",
    "arch_number",
    "arch_token",
    "cuda_version",
    "elf_audit",
    "fatbin",
    "generation",
    "go_strings",
    "inventory_bytes",
    "library_file",
    "ollama_version",
    "profiles_bytes",
    "scan_bytes",
    "server_log",
    "smi_csv",
]


def _scratch_file(name: str, data: bytes) -> tuple[tempfile.TemporaryDirectory[str], Path]:
    scratch = tempfile.TemporaryDirectory(prefix="hostile-prop-")
    path = Path(scratch.name) / name
    path.write_bytes(data)
    return scratch, path


def inventory_bytes(data: bytes, name: str = "box.json") -> Any:
    """An inventory file with these bytes, loaded (JSON or nvidia-smi CSV)."""
    scratch, path = _scratch_file(name, data)
    with scratch:
        return load_inventory(path)


def smi_csv(text: str) -> Any:
    """nvidia-smi --query-gpu output, as detect parses it."""
    return parse_nvidia_smi_csv(text)


def arch_token(text: str) -> Any:
    return parse_arch_token(text)


def arch_list(values: list[str]) -> Any:
    return parse_arch_list(values)


def arch_number(text: str) -> Any:
    return parse_arch_number(text)


def cuda_version(text: str) -> str:
    return normalize_cuda_version(text)


def generation(text: str) -> Any:
    return registry().get(text)


def ollama_version(text: str) -> Any:
    return OllamaVersion.parse(text)


def profiles_bytes(data: bytes, name: str = "ollama-build.toml") -> Any:
    """A profiles file with these bytes: loaded, then every profile's values read for every
    command that takes profiles (what `--profile NAME` and `render` do)."""
    from build_tools.settings.commands import PROFILE_COMMANDS, profile_options
    from build_tools.settings.declare import resolve
    from build_tools.settings.profiles import load_profiles

    scratch, path = _scratch_file(name, data)
    with scratch:
        profiles = load_profiles(path)
        return [
            resolve(
                settings,
                command=command,
                given={},
                environ={},
                profile=profile.values,
                profile_name=profile.name,
                profiles_file=path,
                profile_options=profile_options(),
            )
            for profile in profiles.profiles.values()
            for command, settings in PROFILE_COMMANDS.items()
        ]


def fatbin(data: bytes) -> Any:
    """The bytes of a .nv_fatbin section; documented to raise ValueError when malformed."""
    return parse_fatbin(data)


def elf_audit(data: bytes) -> Any:
    """An ELF file held in memory (a tarball member): its device code."""
    return audit_elf_bytes(data, "libggml-cuda.so")


def library_file(data: bytes) -> Any:
    """An ELF file on disk (memory-mapped)."""
    scratch, path = _scratch_file("libggml-cuda.so", data)
    with scratch:
        return read_library(path)


def go_strings(data: bytes) -> dict[str, str]:
    """The Go -X variables of a binary; documented to leave out what it cannot read."""
    return read_go_strings(io.BytesIO(data), OLLAMA_GO_VARIABLES)


def scan_bytes(data: bytes, name: str = "ollama.tgz") -> Any:
    """`inspect` of a file with these bytes (a tarball by its name, else a library)."""
    scratch, path = _scratch_file(name, data)
    with scratch:
        return scan(path, Runner(echo=False))


def server_log(lines: list[str]) -> Any:
    """An `ollama serve` log, as verify reads it."""
    return parse_log(lines)
