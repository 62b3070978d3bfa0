"""The pinned toolkits each provider can assemble: exact packages and the nvcc they must give.

Data only, so planning can ask which CUDA versions are installable without loading the
installers.
"""

from __future__ import annotations

from build_tools.toolkit.spec import ToolkitSpec, arch_tuple

__all__ = [
    "DEBIAN_SPECS",
    "INSTALLABLE_VERSIONS",
    "MINIMUM_LINUX_DRIVERS",
    "PROVIDER_VERSIONS",
    "PYPI_SPECS",
]

# CUDA 12.4.1 from Debian trixie non-free .debs (plus CCCL from PyPI).
_V = "12.4.1-2"
DEBIAN_SPECS: dict[str, ToolkitSpec] = {
    "12.4": ToolkitSpec(
        version="12.4",
        provider="debian",
        nvcc_version="12.4.131",
        packages=(
            f"nvidia-cuda-toolkit=12.4.131~{_V}",
            f"nvidia-cuda-dev=12.4.127~{_V}",
            f"libcudart12=12.4.127~{_V}",
            f"libcublas12=12.4.5.8~{_V}",
            f"libcublaslt12=12.4.5.8~{_V}",
            f"libnvvm4=12.4.131~{_V}",
            "nvidia-cuda-cccl-cu12==12.4.127.post1",  # note .post1: plain ==12.4.127 matches none
        ),
        cccl_subdir=None,
        expected_sass_archs=arch_tuple("50 52 53 60 61 62 70 72 75 80 86 87 89 90"),
        expected_ptx_archs=arch_tuple("50 52 53 60 61 62 70 72 75 80 86 87 89 90"),
        has_cuobjdump=True,
    ),
}

# CUDA 13.0 Update 1 from NVIDIA's wheels (the cuda-toolkit==13.0.1 meta-package's pins).
PYPI_SPECS: dict[str, ToolkitSpec] = {
    "13.0": ToolkitSpec(
        version="13.0",
        provider="pypi",
        nvcc_version="13.0.88",
        packages=(
            "nvidia-cuda-nvcc==13.0.88",
            "nvidia-cuda-crt==13.0.88",
            "nvidia-nvvm==13.0.88",
            "nvidia-cuda-runtime==13.0.88",
            "nvidia-cuda-cccl==13.0.85",
            "nvidia-cublas==13.0.2.14",
        ),
        cccl_subdir="cccl",
        expected_sass_archs=arch_tuple("75 80 86 87 88 89 90 100 103 110 120 121"),
        expected_ptx_archs=arch_tuple("75 80 86 87 88 89 90 100 103 110 120 121"),
    ),
}


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# Every CUDA version some provider can install, newest first: the one list the planner and the
# build choose from.
INSTALLABLE_VERSIONS: tuple[str, ...] = tuple(
    sorted({*DEBIAN_SPECS, *PYPI_SPECS}, key=_version_key, reverse=True)
)
# What each installing provider can assemble (its source's versions()).
PROVIDER_VERSIONS: dict[str, tuple[str, ...]] = {
    "debian": tuple(DEBIAN_SPECS),
    "pypi": tuple(PYPI_SPECS),
}

# The oldest Linux x86_64 driver each CUDA release runs on: NVIDIA's CUDA Toolkit Release Notes,
# table 3 "CUDA Toolkit and Corresponding Driver Versions", the GA row of each release
# (https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html#id5). A version between
# two rows needs at least the lower row's driver (planning.driver.minimum_driver). Deliberately
# the toolkit's own driver rather than the lower floor of minor version compatibility: Ollama's
# cuda_v12 build uses compressed fatbins, which need 550+ (upstream #16895).
MINIMUM_LINUX_DRIVERS: dict[str, str] = {
    "12.0": "525.60.13",
    "12.1": "530.30.02",
    "12.2": "535.54.03",
    "12.3": "545.23.06",
    "12.4": "550.54.14",
    "12.5": "555.42.02",
    "12.6": "560.28.03",
    "12.8": "570.26",
    "12.9": "575.51.03",
    "13.0": "580.65.06",
}
