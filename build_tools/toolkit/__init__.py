"""CUDA toolkits without root: a versioned cache of toolkits assembled from public packages.

Providers: ``debian`` (CUDA 12.4.1 from Debian trixie non-free .debs), ``pypi`` (CUDA 13.0 from
NVIDIA's wheels) and ``system`` (a toolkit already on the machine). Every cached root has the
layout CMake's CUDA language and ``find_package(CUDAToolkit)`` expect; hand CMake both
``-DCMAKE_CUDA_COMPILER=<root>/bin/nvcc`` and ``-DCUDAToolkit_ROOT=<root>``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from build_tools.toolkit.cache import InstalledToolkit, ToolkitCache
    from build_tools.toolkit.hostcc import HostCompiler, check_host_compiler
    from build_tools.toolkit.install import install_toolkit, list_installed, remove_toolkits
    from build_tools.toolkit.model import Provider, Toolkit
    from build_tools.toolkit.pins import INSTALLABLE_VERSIONS
    from build_tools.toolkit.request import (
        PROVIDERS,
        ToolkitRequest,
        default_provider,
        normalize_cuda_version,
        resolve_toolkit,
    )
    from build_tools.toolkit.selftest import elf_needed

# Where each name lives: a module is imported only when one of its names is used, so planning
# (which needs the pinned versions) does not load the installers.
_HOME = {
    "InstalledToolkit": "cache",
    "ToolkitCache": "cache",
    "HostCompiler": "hostcc",
    "check_host_compiler": "hostcc",
    "install_toolkit": "install",
    "list_installed": "install",
    "remove_toolkits": "install",
    "Provider": "model",
    "Toolkit": "model",
    "INSTALLABLE_VERSIONS": "pins",
    "PROVIDERS": "request",
    "ToolkitRequest": "request",
    "default_provider": "request",
    "normalize_cuda_version": "request",
    "resolve_toolkit": "request",
    "elf_needed": "selftest",
}

__all__ = [
    "INSTALLABLE_VERSIONS",
    "PROVIDERS",
    "HostCompiler",
    "InstalledToolkit",
    "Provider",
    "Toolkit",
    "ToolkitCache",
    "ToolkitRequest",
    "check_host_compiler",
    "default_provider",
    "elf_needed",
    "install_toolkit",
    "list_installed",
    "normalize_cuda_version",
    "remove_toolkits",
    "resolve_toolkit",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
