"""A CMake + Ninja project with one .cu kernel builds against each cached toolkit.

This is the check a user does: CMake's CUDA language and find_package(CUDAToolkit) both accept
the root, CUDA::cudart and CUDA::cublas link, the requested archs are in the library, and a
driver API call keeps libcuda.so.1 in DT_NEEDED (the generated stub exports the symbols).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from build_tools.audit.fatbin import read_library
from build_tools.toolkit import Toolkit, elf_needed

pytestmark = pytest.mark.toolchain

CMAKELISTS = """\
cmake_minimum_required(VERSION 3.24)
project(tiny LANGUAGES CXX)
# Ollama calls find_package(CUDAToolkit) before enable_language(CUDA); so does this project, so
# the test fails if CUDAToolkit_ROOT is not honoured.
find_package(CUDAToolkit REQUIRED)
enable_language(CUDA)
add_library(tinycu SHARED kernel.cu)
target_link_libraries(tinycu PRIVATE CUDA::cudart CUDA::cublas CUDA::cuda_driver)
message(STATUS "tiny: CUDAToolkit_VERSION=${CUDAToolkit_VERSION}")
message(STATUS "tiny: CUDAToolkit_LIBRARY_ROOT=${CUDAToolkit_LIBRARY_ROOT}")
"""

KERNEL = """\
#include <cuda.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>

__global__ void saxpy(int n, float a, const float *x, float *y) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}

extern "C" int tiny_run(void) {
    CUdeviceptr reserved = 0;
    CUresult dr = cuMemAddressReserve(&reserved, 1 << 21, 0, 0, 0);  /* driver API (VMM) */
    cublasHandle_t handle;
    if (cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS) cublasDestroy(handle);
    float *y = nullptr;
    if (cudaMalloc(&y, 4 * sizeof(float)) != cudaSuccess) return -1;
    saxpy<<<1, 4>>>(4, 2.0f, y, y);
    cudaFree(y);
    return (int)dr;
}
"""


def _build(
    toolkit: Toolkit, archs: str, tmp_path: Path, cmake: Path, ninja: Path
) -> tuple[Path, str]:
    source = tmp_path / "src"
    source.mkdir()
    (source / "CMakeLists.txt").write_text(CMAKELISTS, encoding="utf-8")
    (source / "kernel.cu").write_text(KERNEL, encoding="utf-8")
    build = tmp_path / "build"
    env = {k: v for k, v in os.environ.items() if k not in {"CUDA_HOME", "CUDA_PATH", "CUDACXX"}}
    configure = subprocess.run(
        [
            str(cmake), "-S", str(source), "-B", str(build), "-G", "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={ninja}",
            f"-DCMAKE_CUDA_COMPILER={toolkit.nvcc}",
            f"-DCUDAToolkit_ROOT={toolkit.root}",
            f"-DCMAKE_CUDA_ARCHITECTURES={archs}",
        ],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert configure.returncode == 0, configure.stdout + configure.stderr
    built = subprocess.run(
        [str(ninja), "-C", str(build)], env=env, capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return build / "libtinycu.so", configure.stdout


@pytest.mark.parametrize(
    ("fixture", "archs", "cudart"),
    [
        ("cuda12_toolkit", "50;86", "libcudart.so.12"),
        ("cuda13_toolkit", "75;86", "libcudart.so.13"),
    ],
)
def test_cmake_project_builds_requested_archs(
    *,
    fixture: str,
    archs: str,
    cudart: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    cmake_program: Path,
    ninja_program: Path,
) -> None:
    toolkit: Toolkit = request.getfixturevalue(fixture)
    library, log = _build(toolkit, archs, tmp_path, cmake_program, ninja_program)
    # find_package(CUDAToolkit) found this toolkit, not another one on the machine.
    assert f"tiny: CUDAToolkit_VERSION={toolkit.full_version}" in log
    assert f"tiny: CUDAToolkit_LIBRARY_ROOT={toolkit.root}" in log
    needed = elf_needed(library)
    assert "libcuda.so.1" in needed  # the stub exported cuMemAddressReserve
    assert cudart in needed
    assert f"libcublas.so.{toolkit.major}" in needed
    audit = read_library(library)
    expected = tuple(archs.split(";"))
    assert audit.sass == expected  # a plain NN in CMake means SASS and PTX
    assert audit.ptx == expected


def test_cuobjdump_of_cuda12_lists_the_archs(
    cuda12_toolkit: Toolkit, tmp_path: Path, cmake_program: Path, ninja_program: Path
) -> None:
    library, _ = _build(cuda12_toolkit, "50;86-real", tmp_path, cmake_program, ninja_program)
    listing = subprocess.run(
        [str(cuda12_toolkit.root / "bin" / "cuobjdump"), "--list-elf", "--list-ptx", str(library)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "sm_50.cubin" in listing
    assert "sm_86.cubin" in listing
    assert "sm_50.ptx" in listing
    assert "sm_86.ptx" not in listing  # 86-real: SASS only
