"""Read the device code embedded in a CUDA library: the ELF ``.nv_fatbin`` section, parsed.

Pure Python and read-only: nothing is executed, so this works without a CUDA toolkit, on a
machine without a GPU and on files from an untrusted tarball. The layout (measured on CUDA 12.4
and 13.0 output, see ``docs/build-notes.md#reading-compiled-architectures``):

* ``.nv_fatbin`` is a concatenation of 8-byte aligned fatbins, one per translation unit. Each
  starts with a 16-byte header: ``u32 magic 0xBA55ED50, u16 version, u16 header_size,
  u64 size`` (bytes of entries after the header).
* Entries follow back to back. Each has a header of ``header_size`` bytes (it varies between
  CUDA versions, so it is always read, never assumed) and ``payload_size`` bytes of payload.
  Fields used: kind at +0x00 (1 PTX, 2 ELF/SASS), header_size +0x04, payload_size +0x08,
  minor/major code version +0x18, arch number +0x1C, flags +0x28, uncompressed size +0x38.
* Flags: 0x2000 or 0x8000 = compressed, 0x100000 = ``a`` arch, 0x200000 = ``f`` family arch.

Only headers are read; payloads (compressed or not) are skipped, which is why a 1 GB library
parses in well under a second. Files come from anywhere (a downloaded tarball), so the ELF
section table is checked before it is believed: every section must lie inside the file, and a
code entry must name a plausible architecture (sm_10 .. sm_999); anything else is an
:class:`UnreadableArtifactError`, never "no device code".
"""

from __future__ import annotations

import io
import mmap
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from build_tools.audit.dynamic import DynamicInfo, dynamic_info
from build_tools.errors import UnreadableArtifactError
from build_tools.files import open_regular
from build_tools.planning.archs import CudaArch, Suffix

__all__ = [
    "FATBIN_SECTION",
    "FatbinEntry",
    "LibraryAudit",
    "UnreadableArtifactError",
    "audit_elf_bytes",
    "audit_elf_file",
    "parse_fatbin",
    "read_library",
]

FATBIN_SECTION = ".nv_fatbin"
FATBIN_MAGIC = 0xBA55ED50
_FATBIN_HEADER = struct.Struct("<IHHQ")  # magic, version, header_size, size
# kind, version, header_size, payload_size, compressed_size, extra_offset, minor, major, arch,
# name_offset, name_size, flags, reserved, uncompressed_size: the first 0x40 bytes of a header.
# payload_size (padded) locates the next entry; compressed_size is not needed for that.
_ENTRY_HEADER = struct.Struct("<HHIQIIHHIIIQQQ")
_KIND_PTX = 1
_KIND_ELF = 2
_FLAG_COMPRESSED = 0x2000 | 0x8000  # 0x2000 in CUDA 12 output, 0x8000 on CUDA 13 PTX
_FLAG_ARCH_SPECIFIC = 0x100000  # sm_90a
_FLAG_FAMILY = 0x200000  # sm_100f
# Architecture numbers a real code entry can carry (sm_10 .. sm_999).
_ARCHS = range(10, 1000)
# What pyelftools raises on a malformed file besides ELFError (struct and construct errors).
_PARSE_ERRORS = (ELFError, ValueError, OverflowError, KeyError, IndexError, struct.error)
# Section header sizes of ELF32 and ELF64.
_SHDR_SIZE = {32: 40, 64: 64}
_EHDR_SIZE = {32: 52, 64: 64}

EntryKind = Literal["sass", "ptx", "other"]


@dataclass(frozen=True, kw_only=True)
class FatbinEntry:
    """One code object: SASS for ``sm_<arch><suffix>`` or PTX for ``compute_<arch><suffix>``."""

    kind: EntryKind
    arch: int
    suffix: Suffix
    compressed: bool
    code_version: tuple[int, int]  # (major, minor): PTX ISA version, or the cubin ELF version
    payload_size: int
    uncompressed_size: int | None  # only known (and only meaningful) for compressed entries
    fatbin: int  # index of the fatbin (translation unit) in the section
    raw_kind: int  # the header's kind number; tells what an "other" entry is
    # Where the payload starts, in bytes from the start of the section (to compare payloads).
    payload_offset: int = field(default=0, compare=False)

    @property
    def arch_name(self) -> str:
        """``86``, ``90a``, ``100f``."""
        return f"{self.arch}{self.suffix}"

    @property
    def name(self) -> str:
        """``sm_86`` for SASS, ``compute_86`` for PTX: nvcc's spelling of what runs where."""
        if self.kind == "sass":
            return f"sm_{self.arch_name}"
        if self.kind == "ptx":
            return f"compute_{self.arch_name}"
        return f"kind{self.raw_kind}_{self.arch_name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "arch": self.arch_name,
            "compressed": self.compressed,
            "code_version": f"{self.code_version[0]}.{self.code_version[1]}",
            "payload_size": self.payload_size,
            "fatbin": self.fatbin,
        }


def _kind(raw: int) -> EntryKind:
    if raw == _KIND_ELF:
        return "sass"
    if raw == _KIND_PTX:
        return "ptx"
    return "other"


def _suffix(flags: int) -> Suffix:
    if flags & _FLAG_ARCH_SPECIFIC:
        return "a"
    if flags & _FLAG_FAMILY:
        return "f"
    return ""


def _entries(view: memoryview, start: int, end: int, fatbin: int) -> list[FatbinEntry]:
    entries: list[FatbinEntry] = []
    offset = start
    while offset < end:
        if end - offset < _ENTRY_HEADER.size:
            raise ValueError(f"truncated entry header at offset {offset:#x}")
        (raw_kind, _, header_size, payload_size, _, _, minor, major, arch, _, _, flags, _,
         uncompressed) = _ENTRY_HEADER.unpack_from(view, offset)  # fmt: skip
        if header_size < _ENTRY_HEADER.size:
            raise ValueError(f"entry header size {header_size} at offset {offset:#x} is too small")
        if _kind(raw_kind) != "other" and arch not in _ARCHS:
            raise ValueError(f"entry at offset {offset:#x} names the impossible arch {arch}")
        compressed = bool(flags & _FLAG_COMPRESSED)
        entries.append(
            FatbinEntry(
                kind=_kind(raw_kind),
                arch=arch,
                suffix=_suffix(flags),
                compressed=compressed,
                code_version=(major, minor),
                payload_size=payload_size,
                uncompressed_size=uncompressed if compressed else None,
                fatbin=fatbin,
                raw_kind=raw_kind,
                payload_offset=offset + header_size,
            )
        )
        offset += header_size + payload_size
    if offset != end:
        raise ValueError(f"entries overrun their fatbin ending at offset {end:#x}")
    return entries


def parse_fatbin(data: bytes | bytearray | memoryview) -> list[FatbinEntry]:
    """Parse the bytes of a ``.nv_fatbin`` section; raise ValueError if they are malformed.

    Fatbins are 8-byte aligned: where the magic is not found, the 8 bytes are padding.
    """
    # Views are released explicitly: a live view of an mmap would keep it from closing.
    with memoryview(data) as base, base.cast("B") as view:
        return _parse(view)


def _parse(view: memoryview) -> list[FatbinEntry]:
    entries: list[FatbinEntry] = []
    offset = 0
    fatbin = 0
    while offset + _FATBIN_HEADER.size <= len(view):
        magic, _version, header_size, size = _FATBIN_HEADER.unpack_from(view, offset)
        if magic != FATBIN_MAGIC:
            offset += 8
            continue
        start = offset + header_size
        end = start + size
        if header_size < _FATBIN_HEADER.size or end > len(view):
            raise ValueError(f"fatbin at offset {offset:#x} claims {size} bytes past the section")
        entries.extend(_entries(view, start, end, fatbin))
        fatbin += 1
        offset = end + (-end % 8)
    if fatbin == 0 and any(view):
        raise ValueError("no fatbin header (magic 0xBA55ED50) found")
    return entries


@dataclass(frozen=True, kw_only=True)
class LibraryAudit:
    """The device code found in one ELF file (library, object or executable)."""

    path: str  # file path, or the member name inside a tarball
    size: int
    fatbins: int  # number of fatbins (roughly: CUDA translation units)
    entries: tuple[FatbinEntry, ...]
    # What it needs and where it searches (DT_NEEDED, DT_RPATH, DT_RUNPATH).
    dynamic: DynamicInfo = field(default_factory=DynamicInfo)

    @property
    def sass(self) -> tuple[str, ...]:
        """Distinct SASS archs, sorted: ``("61", "86", "90a")``."""
        return _names(e for e in self.entries if e.kind == "sass")

    @property
    def ptx(self) -> tuple[str, ...]:
        return _names(e for e in self.entries if e.kind == "ptx")

    def archs(self) -> tuple[CudaArch, ...]:
        """The arch list this code corresponds to, in ``CMAKE_CUDA_ARCHITECTURES`` terms."""
        kinds: dict[tuple[int, Suffix], set[str]] = {}
        for entry in self.entries:
            if entry.kind != "other":
                kinds.setdefault((entry.arch, entry.suffix), set()).add(entry.kind)
        return tuple(
            CudaArch(number, suffix, sass="sass" in found, ptx="ptx" in found)
            for (number, suffix), found in sorted(kinds.items())
        )

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.name] = counts.get(entry.name, 0) + 1
        return {
            "path": self.path,
            "size": self.size,
            "fatbins": self.fatbins,
            "sass": list(self.sass),
            "ptx": list(self.ptx),
            "cmake_architectures": ";".join(a.cmake() for a in self.archs()),
            "entry_counts": counts,
            "compressed_entries": sum(e.compressed for e in self.entries),
        }


def _names(entries: Iterable[FatbinEntry]) -> tuple[str, ...]:
    return tuple(f"{a}{s}" for a, s in sorted({(e.arch, e.suffix) for e in entries}))


def _check_sections(elf: ELFFile, size: int, name: str) -> None:
    """The section table and every section with data lie inside the file; names resolve."""
    header = elf.header
    shoff, count, entsize = header["e_shoff"], elf.num_sections(), header["e_shentsize"]
    problem = None
    if header["e_ehsize"] != _EHDR_SIZE[elf.elfclass]:
        problem = f"an ELF header of {header['e_ehsize']} bytes in an ELF{elf.elfclass} file"
    elif count == 0:
        return
    elif entsize != _SHDR_SIZE[elf.elfclass]:
        problem = f"section headers of {entsize} bytes in an ELF{elf.elfclass} file"
    elif shoff < _EHDR_SIZE[elf.elfclass] or shoff + count * entsize > size:
        problem = f"the section table (at {shoff:#x}, {count} entries) is not inside the file"
    elif header["e_shstrndx"] >= count:
        problem = f"the section-name table index {header['e_shstrndx']} is out of range"
    else:
        names = elf.get_section(header["e_shstrndx"])
        names_size = names["sh_size"]
        for section in elf.iter_sections():
            if section["sh_type"] != "SHT_NOBITS" and (
                section["sh_offset"] + section["sh_size"] > size
            ):
                problem = f"section {section.name!r} runs past the end of the file"
                break
            if section["sh_name"] >= max(names_size, 1):
                problem = "a section name lies outside the section-name table"
                break
    if problem is not None:
        raise UnreadableArtifactError(
            f"{name}: not a readable ELF file ({problem})",
            hint="the file is damaged or truncated; compare its size and checksum with the release",
        )


def _audit(stream: BinaryIO, data: bytes | memoryview | mmap.mmap, name: str) -> LibraryAudit:
    try:
        elf = ELFFile(stream)
        _check_sections(elf, len(data), name)
        section = elf.get_section_by_name(FATBIN_SECTION)
        dynamic = dynamic_info(elf)
        start = size = 0
        if section is not None:
            start, size = int(section["sh_offset"]), int(section["sh_size"])
    except _PARSE_ERRORS as error:
        raise UnreadableArtifactError(
            f"{name}: not a readable ELF file ({error})",
            hint="pass a CUDA library such as lib/ollama/cuda_v12/libggml-cuda.so",
        ) from None
    if section is None:
        return LibraryAudit(path=name, size=len(data), fatbins=0, entries=(), dynamic=dynamic)
    if start + size > len(data):
        raise UnreadableArtifactError(f"{name}: {FATBIN_SECTION} runs past the end of the file")
    try:
        # A slice of the mapped file: the section (most of the library) is never copied.
        with memoryview(data) as whole, whole[start : start + size] as section_bytes:
            entries = parse_fatbin(section_bytes)
    except ValueError as error:
        raise UnreadableArtifactError(
            f"{name}: malformed {FATBIN_SECTION} section: {error}",
            hint="the file may be truncated; compare its size and checksum with the release",
        ) from None
    fatbins = len({e.fatbin for e in entries}) if entries else 0
    return LibraryAudit(
        path=name, size=len(data), fatbins=fatbins, entries=tuple(entries), dynamic=dynamic
    )


def audit_elf_bytes(data: bytes, name: str) -> LibraryAudit:
    """Audit an ELF file held in memory (a small tarball member)."""
    return _audit(io.BytesIO(data), data, name)


def audit_elf_file(stream: BinaryIO, name: str) -> LibraryAudit:
    """Audit an open ELF file (a large tarball member copied to an unnamed temporary file):
    memory-mapped, so its size costs no memory."""
    stream.seek(0, io.SEEK_END)
    if stream.tell() == 0:
        raise UnreadableArtifactError(f"{name}: empty file, not an ELF library")
    with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        stream.seek(0)
        return _audit(stream, mapped, name)


def read_library(path: Path) -> LibraryAudit:
    """Audit an ELF file on disk (a regular file: a FIFO or device is refused). Memory-maps
    it, so large libraries cost little memory."""
    try:
        with open_regular(path) as stream:
            return audit_elf_file(stream, str(path))
    except OSError as error:
        raise UnreadableArtifactError(f"cannot read {path}: {error.strerror}") from None
