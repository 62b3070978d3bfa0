"""CUDA toolkits without root: a versioned cache of toolkits assembled from public packages.

Providers: ``debian`` (CUDA 12.4.1 from Debian trixie non-free .debs), ``pypi`` (CUDA 13.0 from
NVIDIA's wheels) and ``system`` (a toolkit already on the machine). Every cached root has the
layout CMake's CUDA language and ``find_package(CUDAToolkit)`` expect; hand CMake both
``-DCMAKE_CUDA_COMPILER=<root>/bin/nvcc`` and ``-DCUDAToolkit_ROOT=<root>``.
"""

from __future__ import annotations

from build_tools.toolkit.cache import InstalledToolkit, ToolkitCache
from build_tools.toolkit.hostcc import HostCompiler, check_host_compiler
from build_tools.toolkit.install import install_toolkit, list_installed, remove_toolkits
from build_tools.toolkit.model import Provider, Toolkit
from build_tools.toolkit.request import (
    INSTALLABLE_VERSIONS,
    PROVIDERS,
    ToolkitRequest,
    add_toolkit_arguments,
    default_provider,
    normalize_cuda_version,
    resolve_toolkit,
    toolkit_request_from_args,
)
from build_tools.toolkit.selftest import elf_needed

__all__ = [
    "INSTALLABLE_VERSIONS",
    "PROVIDERS",
    "HostCompiler",
    "InstalledToolkit",
    "Provider",
    "Toolkit",
    "ToolkitCache",
    "ToolkitRequest",
    "add_toolkit_arguments",
    "check_host_compiler",
    "default_provider",
    "elf_needed",
    "install_toolkit",
    "list_installed",
    "normalize_cuda_version",
    "remove_toolkits",
    "resolve_toolkit",
    "toolkit_request_from_args",
]
