"""The .nv_fatbin parser on bytes built here from the documented layout.

The layout: docs/build-notes.md#reading-compiled-architectures.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from build_tools.audit.fatbin import (
    LibraryAudit,
    UnreadableArtifactError,
    audit_elf_bytes,
    parse_fatbin,
    read_library,
)
from build_tools.planning.archs import CudaArch

MAGIC = 0xBA55ED50
PTX, ELF = 1, 2
LINUX_64 = 0x11  # 0x1 64-bit | 0x10 Linux host
COMPRESSED_12 = 0x2000  # what CUDA 12.4 sets on compressed PTX
COMPRESSED_13 = 0x8000  # what CUDA 13.0 sets on compressed PTX
ARCH_A, FAMILY_F = 0x100000, 0x200000


def entry(
    kind: int,
    arch: int,
    *,
    flags: int = LINUX_64,
    header_size: int = 72,
    payload: bytes = b"\x7fELF" + bytes(60),
    version: tuple[int, int] = (1, 7),
    uncompressed: int = 0,
    pad: bool = True,
) -> bytes:
    """One entry: header laid out field by field as docs/build-notes.md#entry-header says."""
    padded = payload + bytes(-len(payload) % 8) if pad else payload
    header = bytearray(header_size)
    struct.pack_into("<H", header, 0x00, kind)
    struct.pack_into("<H", header, 0x02, 0x0101)
    struct.pack_into("<I", header, 0x04, header_size)
    struct.pack_into("<Q", header, 0x08, len(padded))
    struct.pack_into("<I", header, 0x10, len(payload) if uncompressed else 0)
    struct.pack_into("<HH", header, 0x18, version[1], version[0])  # minor, then major
    struct.pack_into("<I", header, 0x1C, arch)
    struct.pack_into("<Q", header, 0x28, flags)
    struct.pack_into("<Q", header, 0x38, uncompressed)
    return bytes(header) + padded


def fatbin(*entries: bytes) -> bytes:
    body = b"".join(entries)
    return struct.pack("<IHHQ", MAGIC, 1, 16, len(body)) + body


def pad8(data: bytes) -> bytes:
    return data + bytes(-len(data) % 8)


def test_cuda12_style_entries_with_compressed_ptx() -> None:
    data = fatbin(
        entry(ELF, 86),
        entry(PTX, 86, flags=LINUX_64 | COMPRESSED_12, header_size=88, version=(8, 4),
              payload=b"z" * 13, uncompressed=4096),
    )  # fmt: skip
    sass, ptx = parse_fatbin(data)
    assert (sass.kind, sass.arch, sass.suffix, sass.compressed) == ("sass", 86, "", False)
    assert sass.name == "sm_86"
    assert (ptx.kind, ptx.arch, ptx.compressed) == ("ptx", 86, True)
    assert ptx.name == "compute_86"
    assert ptx.code_version == (8, 4)
    assert ptx.uncompressed_size == 4096
    assert ptx.payload_size == 16  # padded, which is what locates the next entry


def test_cuda13_header_sizes_and_a_f_suffixes() -> None:
    data = fatbin(
        entry(ELF, 75, header_size=64, version=(1, 8)),
        entry(ELF, 90, flags=LINUX_64 | ARCH_A, header_size=64, version=(1, 8)),
        entry(ELF, 100, flags=LINUX_64 | FAMILY_F | 0x1000000, header_size=112, version=(1, 8)),
        entry(PTX, 100, flags=LINUX_64 | FAMILY_F | COMPRESSED_13, header_size=80,
              version=(9, 0), payload=b"p" * 40, uncompressed=900),
        entry(PTX, 75, flags=LINUX_64, header_size=96, version=(9, 0), payload=b"ptx text"),
    )  # fmt: skip
    entries = parse_fatbin(data)
    assert [e.name for e in entries] == ["sm_75", "sm_90a", "sm_100f", "compute_100f", "compute_75"]
    assert [e.compressed for e in entries] == [False, False, False, True, False]
    assert entries[3].code_version == (9, 0)


def test_several_fatbins_with_alignment_padding_between_and_after() -> None:
    # An unpadded 5-byte payload: the next fatbin starts at the next multiple of 8.
    first = fatbin(entry(ELF, 50, payload=b"x" * 5, pad=False))
    assert len(first) % 8 != 0
    second = fatbin(entry(ELF, 61), entry(PTX, 61, header_size=88, payload=b"abc"))
    section = pad8(first) + bytes(8) + pad8(second) + bytes(16)
    entries = parse_fatbin(section)
    assert [(e.name, e.fatbin) for e in entries] == [
        ("sm_50", 0),
        ("sm_61", 1),
        ("compute_61", 1),
    ]
    assert parse_fatbin(b"") == []
    assert parse_fatbin(bytes(64)) == []  # all padding
    with pytest.raises(ValueError, match="no fatbin header"):
        parse_fatbin(b"garbage!" * 4)


def test_malformed_sections_are_errors_not_silent_lists() -> None:
    good = fatbin(entry(ELF, 86))
    with pytest.raises(ValueError, match="past the section"):
        parse_fatbin(good[:-8])  # the fatbin header claims more bytes than there are
    lying_entry = bytearray(good)
    struct.pack_into("<Q", lying_entry, 16 + 0x08, 10_000)  # payload_size past the fatbin
    with pytest.raises(ValueError, match="overrun"):
        parse_fatbin(bytes(lying_entry))
    tiny_header = bytearray(good)
    struct.pack_into("<I", tiny_header, 16 + 0x04, 8)
    with pytest.raises(ValueError, match="too small"):
        parse_fatbin(bytes(tiny_header))


def test_library_audit_turns_entries_into_the_arch_list() -> None:
    data = fatbin(
        entry(ELF, 50),
        entry(PTX, 50, header_size=88),
        entry(ELF, 61),
        entry(ELF, 86),
        entry(PTX, 90, header_size=88),
        entry(ELF, 90, flags=LINUX_64 | ARCH_A),
        entry(8, 86),  # an unknown kind is kept but names no arch
    )
    entries = parse_fatbin(data)
    audit = LibraryAudit(path="x.so", size=0, fatbins=1, entries=tuple(entries))
    assert audit.archs() == (
        CudaArch(50),
        CudaArch(61, sass=True, ptx=False),
        CudaArch(86, sass=True, ptx=False),
        CudaArch(90, sass=False, ptx=True),
        CudaArch(90, "a", sass=True, ptx=False),
    )
    assert audit.sass == ("50", "61", "86", "90a")
    assert audit.ptx == ("50", "90")
    assert entries[-1].kind == "other"
    assert audit.to_json()["cmake_architectures"] == "50;61-real;86-real;90-virtual;90a-real"


@pytest.fixture
def elf_with_section(tmp_path: Path) -> Path:
    """A real ELF file (a copy of this Python) with our bytes added as .nv_fatbin by objcopy."""
    objcopy = shutil.which("objcopy")
    if objcopy is None:
        pytest.skip("objcopy (binutils) is needed to add a section to an ELF file")
    blob = tmp_path / "fatbin.bin"
    blob.write_bytes(pad8(fatbin(entry(ELF, 86))) + pad8(fatbin(entry(PTX, 86, header_size=88))))
    target = tmp_path / "libfake-cuda.so"
    subprocess.run(
        [objcopy, "--add-section", f".nv_fatbin={blob}", sys.executable, str(target)], check=True
    )
    return target


def test_read_library_finds_the_section_in_a_real_elf_file(elf_with_section: Path) -> None:
    audit = read_library(elf_with_section)
    assert [e.name for e in audit.entries] == ["sm_86", "compute_86"]
    assert audit.fatbins == 2
    assert audit.size == elf_with_section.stat().st_size
    # The in-memory route (tarball members) reads the same.
    assert audit_elf_bytes(elf_with_section.read_bytes(), "m").entries == audit.entries


def test_elf_without_device_code_and_non_elf_files(tmp_path: Path) -> None:
    plain = read_library(Path(sys.executable))
    assert plain.entries == ()
    assert plain.fatbins == 0
    text = tmp_path / "libggml-cuda.so"
    text.write_text("not an ELF file\n")
    with pytest.raises(UnreadableArtifactError, match="not a readable ELF") as caught:
        read_library(text)
    assert caught.value.exit_code == 8
    empty = tmp_path / "empty.so"
    empty.touch()
    with pytest.raises(UnreadableArtifactError, match="empty"):
        read_library(empty)
