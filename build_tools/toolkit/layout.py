"""The CUDA directory layout every toolkit root gets, whatever the provider.

CMake's CUDA language runs ``bin/nvcc``; ``find_package(CUDAToolkit)`` looks for ``include/``,
``lib64/`` (via ``lib``), unversioned ``.so`` links, the static runtime and ``nvvm/``. Providers
unpack their packages; the functions here finish the root so both CMake paths agree on it.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

__all__ = [
    "REQUIRED_FILES",
    "finish_layout",
    "link_unversioned_libraries",
    "missing_layout_entries",
    "move_into",
    "nvcc_profile_text",
    "write_nvcc_profile",
]

# Everything nvcc and FindCUDAToolkit need, relative to the root. CCCL is checked separately
# because its place depends on the version (include/ or include/cccl/).
REQUIRED_FILES = (
    "bin/nvcc",
    "bin/nvcc.profile",
    "bin/ptxas",
    "bin/fatbinary",
    "bin/nvlink",
    "bin/cudafe++",
    "bin/bin2c",
    "bin/crt/link.stub",
    "nvvm/bin/cicc",
    "nvvm/libdevice/libdevice.10.bc",
    "nvvm/lib64/libnvvm.so",
    "include/cuda.h",
    "include/cuda_runtime.h",
    "include/crt/host_config.h",
    "include/cublas_v2.h",
    "lib64/libcudart.so",
    "lib64/libcudart_static.a",
    "lib64/libcudadevrt.a",
    "lib64/libcublas.so",
    "lib64/libcublasLt.so",
    "lib64/stubs/libcuda.so",
    "lib/libcudart.so",
)

_VERSIONED_SO = re.compile(r"^(?P<base>lib[^/]+?\.so)\.\d+(?:\.\d+)*$")


def nvcc_profile_text(*, cccl_subdir: str | None) -> str:
    """The ``nvcc.profile`` for a root in our layout.

    nvcc reads ``nvcc.profile`` next to its *resolved* binary and expands ``$(_HERE_)`` to that
    directory, so every path is relative to it: the root can be renamed from its staging
    directory and still work. (Debian's own profile points at /usr/lib/nvidia-cuda-toolkit and is
    a symlink to /etc/nvcc.profile, which does not exist when the package is only unpacked.)
    """
    lines = [
        "TOP              = $(_HERE_)/..",
        "CICC_PATH        = $(TOP)/nvvm/bin",
        "NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice",
        "LD_LIBRARY_PATH += $(TOP)/lib64:",
        "PATH            += $(CICC_PATH):$(_HERE_):",
        'INCLUDES        +=  "-I$(TOP)/include" $(_SPACE_)',
    ]
    if cccl_subdir is not None:
        lines.append(f'SYSTEM_INCLUDES +=  "-isystem" "$(TOP)/include/{cccl_subdir}" $(_SPACE_)')
    lines += [
        'LIBRARIES        =+ $(_SPACE_) "-L$(TOP)/lib64/stubs" "-L$(TOP)/lib64"',
        "CUDAFE_FLAGS    +=",
        "PTXAS_FLAGS     +=",
    ]
    return "\n".join(lines) + "\n"


def write_nvcc_profile(root: Path, *, cccl_subdir: str | None) -> Path:
    profile = root / "bin" / "nvcc.profile"
    if profile.is_symlink() or profile.exists():
        profile.unlink()
    profile.write_text(nvcc_profile_text(cccl_subdir=cccl_subdir), encoding="utf-8")
    return profile


def link_unversioned_libraries(lib_dir: Path) -> list[str]:
    """Add ``libX.so -> libX.so.N`` wherever only versioned names exist; returns names added.

    The linker's ``-lX`` and FindCUDAToolkit look for the unversioned name; wheels ship only
    ``libX.so.13``. The shortest versioned name is the target (``libfoo.so.12`` rather than
    ``libfoo.so.12.4.5``), matching how the CUDA installers link them.
    """
    candidates: dict[str, list[str]] = {}
    for entry in lib_dir.iterdir():
        match = _VERSIONED_SO.match(entry.name)
        if match is not None and (entry.is_file() or entry.is_symlink()):
            candidates.setdefault(match["base"], []).append(entry.name)
    added: list[str] = []
    for base, names in sorted(candidates.items()):
        link = lib_dir / base
        if link.exists() or link.is_symlink():
            continue
        link.symlink_to(min(names, key=len))
        added.append(base)
    return added


def move_into(source: Path, dest: Path) -> None:
    """Move a file, symlink or directory to ``dest`` (a rename: staging shares the filesystem)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.is_dir():
        shutil.rmtree(dest)
    source.replace(dest)


def finish_layout(root: Path, *, cccl_subdir: str | None) -> None:
    """Steps every provider shares: ``lib -> lib64``, unversioned links, nvvm bits, profile."""
    lib64 = root / "lib64"
    (lib64 / "stubs").mkdir(parents=True, exist_ok=True)
    link_unversioned_libraries(lib64)
    lib = root / "lib"
    if not lib.is_symlink():
        if lib.exists():
            shutil.rmtree(lib)
        # Relative, so the link survives renaming the root.
        lib.symlink_to("lib64")
    nvvm_lib = root / "nvvm" / "lib64"
    nvvm_lib.mkdir(parents=True, exist_ok=True)
    link_unversioned_libraries(nvvm_lib)
    nvvm_header = root / "include" / "nvvm.h"
    nvvm_include = root / "nvvm" / "include" / "nvvm.h"
    if nvvm_header.is_file() and not nvvm_include.exists():
        nvvm_include.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(nvvm_header, nvvm_include)
    write_nvcc_profile(root, cccl_subdir=cccl_subdir)


def missing_layout_entries(root: Path, *, cccl_subdir: str | None) -> list[str]:
    """Required paths that are absent (dangling links count as absent)."""
    missing = [rel for rel in REQUIRED_FILES if not (root / rel).exists()]
    if (root / "bin" / "nvcc").is_symlink():
        missing.append("bin/nvcc (must be a real file, not a symlink)")
    if (root / "lib").exists() and not (root / "lib").is_symlink():
        missing.append("lib (must be a symlink to lib64)")
    cccl = root / "include" / (cccl_subdir or "")
    if not (cccl / "thrust" / "version.h").is_file() or not (cccl / "cub" / "cub.cuh").is_file():
        missing.append(f"{cccl.relative_to(root)}/thrust, cub (CCCL)")
    return missing
