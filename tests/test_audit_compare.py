"""Audit vs plan: what a build must refuse, and how it says so."""

from __future__ import annotations

import pytest

from build_tools.audit.compare import AuditError, check_archs, compare_archs
from build_tools.audit.fatbin import FatbinEntry, LibraryAudit
from build_tools.planning.archs import CudaArch, parse_arch_list


def plan(text: str) -> tuple[CudaArch, ...]:
    archs = parse_arch_list([text])
    assert all(isinstance(a, CudaArch) for a in archs)
    return tuple(a for a in archs if isinstance(a, CudaArch))


def library(*names: str) -> LibraryAudit:
    """A library holding the named code objects: "sm_86", "compute_90", "sm_90a"."""
    entries = []
    for name in names:
        kind, arch = name.split("_")
        suffix = arch[-1] if arch[-1] in "af" else ""
        entries.append(
            FatbinEntry(
                kind="sass" if kind == "sm" else "ptx",
                arch=int(arch.rstrip("af")),
                suffix=suffix,  # type: ignore[arg-type]
                compressed=kind == "compute",
                code_version=(8, 4),
                payload_size=8,
                uncompressed_size=None,
                fatbin=0,
                raw_kind=2 if kind == "sm" else 1,
            )
        )
    return LibraryAudit(path="lib/ollama/cuda_v12/libggml-cuda.so", size=1, fatbins=1,
                        entries=tuple(entries))  # fmt: skip


def test_matching_library_passes() -> None:
    lib = library("sm_61", "sm_86", "compute_86", "sm_86", "compute_86")
    result = check_archs(lib, plan("61-real;86"))
    assert result.ok
    assert "matches the plan (61-real;86)" in result.describe()


def test_missing_sass_fails_with_exit_7_and_names_the_arch() -> None:
    lib = library("sm_61", "compute_86")  # 86 SASS missing: an RTX 3060 would JIT from PTX
    with pytest.raises(AuditError) as caught:
        check_archs(lib, plan("61-real;86"))
    assert caught.value.exit_code == 7
    message = str(caught.value)
    assert "missing SASS sm_86" in message
    assert "planned 61-real;86, found 61-real;86-virtual" in message
    assert "cuda_v12/libggml-cuda.so" in message


def test_unplanned_code_is_reported_per_kind() -> None:
    lib = library("sm_50", "compute_50", "sm_86", "compute_86", "sm_90a")
    result = compare_archs(lib, plan("86"))
    assert not result.ok
    assert result.unexpected_sass == ("50", "90a")
    assert result.unexpected_ptx == ("50",)
    assert result.missing_sass == result.missing_ptx == ()
    assert result.to_json()["found"] == "50;86;90a-real"


def test_suffixes_are_distinct_archs() -> None:
    result = compare_archs(library("sm_90", "sm_100"), plan("90a-real;100f-real"))
    assert result.missing_sass == ("90a", "100f")
    assert result.unexpected_sass == ("90", "100")


def test_library_without_device_code_misses_everything() -> None:
    result = compare_archs(library(), plan("86"))
    assert result.missing_sass == result.missing_ptx == ("86",)
    assert "found nothing" in result.describe()
