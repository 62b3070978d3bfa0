"""Read Go string variables (the ``-X`` ldflags values) back out of a built binary.

Go records ``-ldflags`` in its build info only without ``-trimpath`` - and release builds use
``-trimpath`` - so the values Ollama's runtime actually sees (``version.Version``,
``discover.CudaComputeMajorMin``) are read from the variables themselves: the symbol table gives
each string header's address in ``.data``, the header gives the bytes' address. This needs the
symbol table, which is why our builds link with ``-w`` but without ``-s``. In a PIE binary the
header's pointer is also a dynamic relocation; its addend is used when the in-place value is 0.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import Section, SymbolTableSection

__all__ = ["OLLAMA_GO_VARIABLES", "read_go_strings"]

OLLAMA_GO_VARIABLES = (
    "github.com/ollama/ollama/version.Version",
    "github.com/ollama/ollama/server.mode",
    "github.com/ollama/ollama/discover.CudaComputeMajorMin",
    "github.com/ollama/ollama/discover.CudaComputeMinorMin",
)


def _section_at(elf: ELFFile, address: int) -> Section | None:
    for section in elf.iter_sections():
        start = section["sh_addr"]
        if start and start <= address < start + section["sh_size"]:
            return None if section["sh_type"] == "SHT_NOBITS" else section
    return None


def _read(stream: BinaryIO, elf: ELFFile, address: int, size: int) -> bytes | None:
    section = _section_at(elf, address)
    if section is None:
        return None
    stream.seek(section["sh_offset"] + address - section["sh_addr"])
    return stream.read(size)


def _relocation_addends(elf: ELFFile, wanted: set[int]) -> dict[int, int]:
    addends: dict[int, int] = {}
    for section in elf.iter_sections():
        if isinstance(section, RelocationSection) and section.is_RELA():
            for relocation in section.iter_relocations():
                if relocation["r_offset"] in wanted:
                    addends[relocation["r_offset"]] = relocation["r_addend"]
    return addends


# What pyelftools raises on a damaged file besides ELFError (struct and construct errors).
_PARSE_ERRORS = (ELFError, ValueError, OverflowError, KeyError, IndexError, struct.error)


def read_go_strings(stream: BinaryIO, names: Sequence[str]) -> dict[str, str]:
    """Values of the named Go string variables; variables that cannot be read are left out
    (a stripped binary, a non-ELF or damaged file, or a 32-bit build give an empty dict)."""
    try:
        return _read_go_strings(stream, names)
    except _PARSE_ERRORS:
        return {}


def _read_go_strings(stream: BinaryIO, names: Sequence[str]) -> dict[str, str]:
    elf = ELFFile(stream)
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection) or elf.elfclass != 64:
        return {}
    headers: dict[str, int] = {}
    for name in names:
        symbols = symtab.get_symbol_by_name(name)
        if symbols:
            headers[name] = symbols[0]["st_value"]
    addends = _relocation_addends(elf, set(headers.values()))
    values: dict[str, str] = {}
    for name, address in headers.items():
        header = _read(stream, elf, address, 16)
        if header is None or len(header) != 16:
            continue
        pointer, length = struct.unpack("<QQ", header)
        pointer = pointer or addends.get(address, 0)
        data = _read(stream, elf, pointer, length) if pointer and length < 4096 else b""
        if data is not None and (length == 0 or data):
            values[name] = data.decode("utf-8", errors="replace")
    return values
