"""Self-check of a freshly assembled toolkit, run before it is recorded as installed.

A root can look complete and still be unusable (wrong profile, missing static runtime, a stub
that exports nothing), so the check does what a user's build does: ask nvcc for its version,
then compile one kernel and link it against the static cudart, cuBLAS and the driver stub, and
look at the DT_NEEDED entries of the result.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from build_tools.errors import ToolkitError
from build_tools.runner import Runner
from build_tools.toolkit.hostcc import HostCompiler
from build_tools.toolkit.layout import missing_layout_entries
from build_tools.toolkit.model import Toolkit
from build_tools.toolkit.spec import ToolkitSpec

__all__ = ["VERIFY_SOURCE", "elf_needed", "verify_toolkit"]

VERIFY_SOURCE = r"""
#include <cstdio>
#include <cuda.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <thrust/version.h>

__global__ void saxpy(int n, float a, const float *x, float *y) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}

int main() {
    int driver = 0;
    CUresult dr = cuDriverGetVersion(&driver);  /* driver API: keeps libcuda.so.1 needed */
    cublasHandle_t handle;
    cublasStatus_t st = cublasCreate(&handle);  /* cuBLAS: libcublas.so.N needed */
    if (st == CUBLAS_STATUS_SUCCESS) cublasDestroy(handle);
    float *y = nullptr;
    cudaError_t err = cudaMalloc(&y, 16);       /* runtime: static cudart by default */
    saxpy<<<1, 4>>>(4, 2.0f, y, y);
    std::printf("thrust %d driver %d/%d cublas %d cudart %d\n", THRUST_VERSION, (int)dr, driver,
                (int)st, (int)err);
    return 0;
}
"""


def elf_needed(path: Path) -> list[str]:
    """The DT_NEEDED entries of an ELF executable or shared object."""
    with path.open("rb") as handle:
        elf = ELFFile(handle)
        for section in elf.iter_sections():
            if not isinstance(section, DynamicSection):
                continue
            needed: list[str] = []
            for tag in section.iter_tags():
                if tag.entry.d_tag == "DT_NEEDED":
                    needed.append(str(tag.needed))  # type: ignore[attr-defined]
            return needed
    return []


def verify_toolkit(
    toolkit: Toolkit,
    spec: ToolkitSpec,
    runner: Runner,
    *,
    host: HostCompiler,
    work_dir: Path,
    log_path: Path,
) -> None:
    """Raise :class:`ToolkitError` unless ``toolkit`` is complete and compiles+links a kernel."""
    missing = missing_layout_entries(toolkit.root, cccl_subdir=spec.cccl_subdir)
    if spec.has_cuobjdump and not (toolkit.root / "bin" / "cuobjdump").is_file():
        missing.append("bin/cuobjdump")
    if missing:
        raise ToolkitError(
            f"the assembled CUDA {spec.version} root lacks: {', '.join(missing)}",
            hint="this is a bug in the provider; please report it with the output above",
        )
    if toolkit.full_version != spec.nvcc_version:
        raise ToolkitError(
            f"nvcc reports CUDA {toolkit.full_version}, expected {spec.nvcc_version}",
            hint="the downloaded packages are not the pinned ones; run 'toolkit remove' and retry",
        )
    arch = toolkit.sass_archs[0]
    with tempfile.TemporaryDirectory(prefix="verify-", dir=work_dir) as tmp:
        tmp_dir = Path(tmp)
        source = tmp_dir / "verify.cu"
        source.write_text(VERIFY_SOURCE, encoding="utf-8")
        exe = tmp_dir / "verify"
        runner.run(
            [
                toolkit.nvcc,
                "-ccbin",
                host.path,
                f"-arch=sm_{arch}",
                "-o",
                exe,
                source,
                "-lcublas",
                "-lcuda",
            ],
            cwd=tmp_dir,
            log_path=log_path,
            what=f"verification compile with CUDA {toolkit.full_version}",
            hint="the toolkit was not installed; the log above shows why",
        )
        needed = elf_needed(exe)
    major = toolkit.major
    wanted = {"libcuda.so.1", f"libcublas.so.{major}"}
    if not wanted <= set(needed):
        raise ToolkitError(
            f"the verification binary needs {needed}, expected {sorted(wanted)} among them",
            hint="the libcuda.so stub or cuBLAS link is broken; please report this",
        )
    if any(name.startswith("libcudart.so") for name in needed):
        raise ToolkitError(
            "the verification binary linked the shared cudart instead of libcudart_static.a",
            hint="nvcc's default '-cudart static' must work for CMake's compiler check",
        )
