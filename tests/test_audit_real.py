"""The audit on shared libraries compiled here by real nvcc (CUDA 12.4 and 13.0), cross-checked
with NVIDIA's cuobjdump. Helpers are imported by the inspect tests too."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from build_tools.audit.compare import AuditError, check_archs
from build_tools.audit.cuobjdump import list_code, listing_from_audit, render_listing
from build_tools.audit.fatbin import LibraryAudit, read_library
from build_tools.planning.archs import CudaArch, parse_arch_list
from build_tools.runner import Runner
from build_tools.toolkit.model import Toolkit

pytestmark = pytest.mark.toolchain

KERNEL = """\
__global__ void add(float *a, const float *b, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) a[i] += b[i];
}
extern "C" void launch(float *a, const float *b, int n) { add<<<(n + 255) / 256, 256>>>(a, b, n); }
"""

CUDA12_PLAN = "50;61-real;86-real;90-virtual"  # SASS+PTX, SASS, SASS, PTX only
CUDA13_PLAN = "75;86-real;90a-real;100f"


def archs(text: str) -> tuple[CudaArch, ...]:
    parsed = parse_arch_list([text])
    return tuple(sorted(a for a in parsed if isinstance(a, CudaArch)))


def generate_code(plan: tuple[CudaArch, ...]) -> list[str]:
    """nvcc flags for a plan, written out the way nvcc documents them."""
    flags = []
    for arch in plan:
        codes = ([f"sm_{arch.name}"] if arch.sass else []) + (
            [f"compute_{arch.name}"] if arch.ptx else []
        )
        flags.append(f"--generate-code=arch=compute_{arch.name},code=[{','.join(codes)}]")
    return flags


def compile_library(toolkit: Toolkit, plan: tuple[CudaArch, ...], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    source = out.parent / "tiny.cu"
    source.write_text(KERNEL)
    argv = [str(toolkit.nvcc), "-shared", "-Xcompiler", "-fPIC", "-o", str(out), str(source)]
    subprocess.run([*argv, *generate_code(plan)], check=True, capture_output=True)
    return out


def cuobjdump_of(toolkit: Toolkit) -> Path:
    program = toolkit.root / "bin" / "cuobjdump"
    if not program.is_file():
        pytest.skip(f"{toolkit.root} ships no cuobjdump to cross-check with")
    return program


@pytest.fixture(scope="module")
def cuda12_library(cuda12_toolkit: Toolkit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cu12") / "libtiny12.so"
    return compile_library(cuda12_toolkit, archs(CUDA12_PLAN), out)


@pytest.fixture(scope="module")
def cuda13_library(cuda13_toolkit: Toolkit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cu13") / "libtiny13.so"
    return compile_library(cuda13_toolkit, archs(CUDA13_PLAN), out)


def kinds(audit: LibraryAudit) -> set[tuple[str, bool]]:
    return {(e.kind, e.compressed) for e in audit.entries}


def test_cuda12_library_matches_plan_and_cuobjdump_byte_for_byte(
    cuda12_library: Path, cuda12_toolkit: Toolkit
) -> None:
    audit = read_library(cuda12_library)
    assert audit.archs() == archs(CUDA12_PLAN)
    assert check_archs(audit, archs(CUDA12_PLAN)).ok
    # CUDA 12.4 compresses PTX (ISA 8.4) and leaves cubins (ELF version 1.7) alone.
    assert kinds(audit) == {("sass", False), ("ptx", True)}
    assert {e.code_version for e in audit.entries if e.kind == "ptx"} == {(8, 4)}
    assert {e.code_version for e in audit.entries if e.kind == "sass"} == {(1, 7)}

    cuobjdump = cuobjdump_of(cuda12_toolkit)
    printed = subprocess.run(
        [str(cuobjdump), "--list-elf", "--list-ptx", str(cuda12_library)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert render_listing(audit) == printed
    assert list_code(cuobjdump, cuda12_library, Runner()) == listing_from_audit(audit)


def test_cuda12_wrong_plans_are_caught(cuda12_library: Path) -> None:
    audit = read_library(cuda12_library)
    with pytest.raises(AuditError, match=r"missing PTX compute_86") as caught:
        check_archs(audit, archs("50;61-real;86;90-virtual"))
    assert caught.value.exit_code == 7
    with pytest.raises(AuditError, match=r"unplanned SASS sm_61.*planned 50;86-real;90-virtual"):
        check_archs(audit, archs("50;86-real;90-virtual"))
    with pytest.raises(AuditError, match=r"missing SASS sm_90; unplanned PTX compute_50"):
        check_archs(audit, archs("50-real;61-real;86-real;90"))


def test_cuda13_library_with_a_and_f_targets(cuda13_library: Path, cuda12_toolkit: Toolkit) -> None:
    audit = read_library(cuda13_library)
    assert audit.archs() == archs(CUDA13_PLAN)
    assert audit.sass == ("75", "86", "90a", "100f")
    assert audit.ptx == ("75", "100f")
    assert {e.code_version for e in audit.entries if e.kind == "ptx"} == {(9, 0)}
    assert kinds(audit) == {("sass", False), ("ptx", True)}
    with pytest.raises(AuditError, match="missing SASS sm_90; unplanned SASS sm_90a"):
        check_archs(audit, archs("75;86-real;90-real;100f"))

    # cuobjdump 12.4 predates family targets and reads the `a` of a device-link cubin from
    # the cubin's own flags (see audit/cuobjdump.py), so compare entry by entry, suffixes aside.
    listed = list_code(cuobjdump_of(cuda12_toolkit), cuda13_library, Runner())
    ours = listing_from_audit(audit)
    assert [(e.kind, e.arch.rstrip("af")) for e in listed] == [
        (e.kind, e.arch.rstrip("af")) for e in ours
    ]


def test_parse_time_is_independent_of_payload_size(
    cuda12_library: Path, cuda12_toolkit: Toolkit
) -> None:
    """Only headers are read: a 440 MB cuBLASLt from the toolkit parses in well under a second."""
    big = max((cuda12_toolkit.root / "lib").glob("libcublasLt.so.*"), default=None)
    if big is None or big.is_symlink():
        big = max((cuda12_toolkit.root / "lib").glob("libcublas*.so.*.*"), default=None)
    if big is None:
        pytest.skip("the CUDA 12.4 toolkit has no cuBLAS library to time")
    start = time.perf_counter()
    audit = read_library(big.resolve())
    elapsed = time.perf_counter() - start
    assert len(audit.entries) > 100
    assert elapsed < 2.0
    assert read_library(cuda12_library).fatbins >= 1
