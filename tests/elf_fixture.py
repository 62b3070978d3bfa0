"""Minimal ELF64 shared objects written here, byte by byte, for the runtime-link audit.

Just what a loader's dynamic table needs to say which libraries a file needs and where it
looks (DT_NEEDED, DT_RPATH, DT_RUNPATH; ``elf(5)``): an ELF header, a string table, a dynamic
section and the section-name table. Nothing here can be loaded; nothing needs a compiler.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

DT_NULL, DT_NEEDED, DT_RPATH, DT_RUNPATH = 0, 1, 15, 29
SHT_STRTAB, SHT_DYNAMIC = 3, 6
EHDR, SHDR = 64, 64


def _strings(values: Sequence[str]) -> tuple[bytes, dict[str, int]]:
    table, offsets = bytearray(b"\0"), {}
    for value in values:
        if value not in offsets:
            offsets[value] = len(table)
            table += value.encode() + b"\0"
    return bytes(table), offsets


def _shdr(*fields: int, entsize: int = 0) -> bytes:
    """One Elf64_Shdr from (name, type, flags, offset, size, link, align); no address, since
    nothing is mapped."""
    name, kind, flags, offset, size, link, align = fields
    return struct.pack("<IIQQQQIIQQ", name, kind, flags, 0, offset, size, link, 0, align, entsize)


def elf_bytes(
    needed: Sequence[str] = (), *, rpath: Sequence[str] = (), runpath: Sequence[str] = ()
) -> bytes:
    rpath_text, runpath_text = ":".join(rpath), ":".join(runpath)
    dynstr, at = _strings(
        [*needed, *([rpath_text] if rpath else []), *([runpath_text] if runpath else [])]
    )
    tags = [(DT_NEEDED, at[name]) for name in needed]
    if rpath:
        tags.append((DT_RPATH, at[rpath_text]))
    if runpath:
        tags.append((DT_RUNPATH, at[runpath_text]))
    tags.append((DT_NULL, 0))
    dynamic = b"".join(struct.pack("<qQ", tag, value) for tag, value in tags)
    shstr, names = _strings([".dynstr", ".dynamic", ".shstrtab"])
    # Layout: header, .dynstr, .dynamic (8-aligned), .shstrtab, section table (8-aligned).
    dynstr_at = EHDR
    dynamic_at = dynstr_at + len(dynstr) + (-(dynstr_at + len(dynstr)) % 8)
    shstr_at = dynamic_at + len(dynamic)
    table_at = shstr_at + len(shstr) + (-(shstr_at + len(shstr)) % 8)
    sections = [
        _shdr(0, 0, 0, 0, 0, 0, 0),
        _shdr(names[".dynstr"], SHT_STRTAB, 2, dynstr_at, len(dynstr), 0, 1),
        _shdr(names[".dynamic"], SHT_DYNAMIC, 3, dynamic_at, len(dynamic), 1, 8, entsize=16),
        _shdr(names[".shstrtab"], SHT_STRTAB, 0, shstr_at, len(shstr), 0, 1),
    ]
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, table_at, 0, EHDR, 56, 0, SHDR, len(sections), 3
    )
    body = bytearray(header)
    for offset, data in ((dynstr_at, dynstr), (dynamic_at, dynamic), (shstr_at, shstr)):
        body += bytes(offset - len(body)) + data
    body += bytes(table_at - len(body)) + b"".join(sections)
    return bytes(body)


def write_elf(path: Path, needed: Sequence[str] = (), **search: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(elf_bytes(needed, **search))
    return path
